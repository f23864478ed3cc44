//! # Consumer partition assignors
//!
//! A consumer group's leader decides which member reads which partition. It runs the
//! group's partition assignor on every rebalance, given each member's subscription (and,
//! for the sticky assignors, what each member owned before). This module reproduces the
//! results of Apache Kafka's client-side assignors (3.x, without rack awareness) for the
//! same input:
//!
//! - `range` (`RangeAssignor`, Kafka's default before 3.0 alongside cooperative-sticky):
//!   topic by topic, the members subscribed to the topic get consecutive ranges of its
//!   partitions. Partition `N` of topics with the same partition count lands on the same
//!   member, which is what joins of co-partitioned topics need; the first members get more
//!   partitions when the counts do not divide evenly, and that adds up over many topics.
//! - `roundrobin` (`RoundRobinAssignor`): every partition of every subscribed topic, sorted,
//!   dealt one at a time to the members in order, skipping members not subscribed to the
//!   partition's topic. Balanced when all members subscribe to the same topics.
//! - `sticky` (`StickyAssignor`): balanced first, and within a balanced result it keeps as
//!   many partitions as it can with the member that owned them, so a rebalance moves few
//!   partitions. Still an eager protocol: every member revokes everything before it
//!   rejoins.
//! - `cooperative-sticky` (`CooperativeStickyAssignor`): the sticky algorithm under the
//!   cooperative (incremental) protocol. Members keep consuming the partitions they keep;
//!   a partition that moves is first only revoked from its owner, and assigned to its new
//!   member in a second rebalance once the owner has given it up. [`assign`] returns that
//!   first round: the sticky result with every partition that changes owner withheld.
//!
//! Eager versus cooperative: under the eager protocol a member gives up all its partitions
//! when a rebalance starts, so any assignment is safe to hand out at once. Under the
//! cooperative protocol nobody gives anything up in advance, so handing a partition to a
//! new member while its owner still reads it would let two members consume it at once.
//!
//! ## Member order
//!
//! Range and roundrobin order members as Kafka's `AbstractPartitionAssignor.MemberInfo`
//! does: members with a `group.instance.id` (static members) come first, sorted by it; then
//! the members without one, sorted by member id. A static member therefore keeps its place
//! (and its partitions) when it rejoins under a new member id.
//!
//! ## Where Kafka depends on hash order, and what this module does instead
//!
//! Kafka keeps subscriptions in a `java.util.HashMap` keyed by member id, and some steps of
//! the sticky assignors iterate it, so their result can depend on Java's hash order. Every
//! such iteration here goes in ascending member id order instead:
//!
//! - which member keeps a partition claimed by several members, when the claims come from
//!   a mix of generations (`allSubscriptionsEqual`);
//! - in the constrained (all members subscribe to the same topics) algorithm, which members
//!   keep `maxQuota` owned partitions rather than `minQuota` when more members own enough
//!   partitions than may have `maxQuota` (`assignOwnedPartitions`);
//! - in the general algorithm, which earlier owner is remembered for a partition when two
//!   members of the same older generation claimed it (`prepopulateCurrentAssignments`), and
//!   which of several partitions that moved between the same two members is moved back
//!   (`getTheActualPartitionToBeMoved` takes the first of a `HashSet`; here the smallest
//!   partition).
//!
//! Kafka also compares member ids as UTF-16 strings; this module compares bytes of UTF-8,
//! which orders them the same unless ids contain characters outside the Basic Multilingual
//! Plane.
//!
//! ## Where this module differs from Kafka on input Kafka never sees
//!
//! - Topics with no partitions and topics no member subscribes to are dropped from
//!   `partitions_per_topic`, as Kafka's `AbstractPartitionAssignor` builds that map only
//!   from subscribed topics with metadata.
//! - A member's topic list and owned partitions are treated as sets, and owned partitions
//!   that do not exist (partition number beyond the topic's count) are ignored.
//! - Kafka decides whether all subscriptions are equal by comparing each one with a set
//!   that it starts again from the next member when a member subscribes to nothing, so a
//!   member with no topics can be missed depending on hash order, and the constrained
//!   algorithm then gives it partitions it did not subscribe to. Here every member is
//!   compared with the first, and such a group takes the general algorithm.
//! - The general sticky algorithm moves a partition back to the member of an older
//!   generation that owned it when that member has far fewer partitions, even if that
//!   member no longer subscribes to the topic. Here that step only considers members still
//!   subscribed to the partition's topic, so a partition never goes to a member that did
//!   not ask for it.
//!
//! Every result is checked before it is returned: each partition of a subscribed topic is
//! assigned at most once and only to a member subscribed to its topic, and the eager
//! assignors assign every one of them.

use crate::types::TopicPartition;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// One of Kafka's consumer partition assignors (`partition.assignment.strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Strategy {
    Range,
    RoundRobin,
    Sticky,
    CooperativeSticky,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Strategy::Range,
        Strategy::RoundRobin,
        Strategy::Sticky,
        Strategy::CooperativeSticky,
    ];

    /// The name the assignor reports to the group coordinator (`ConsumerPartitionAssignor.name()`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Range => "range",
            Strategy::RoundRobin => "roundrobin",
            Strategy::Sticky => "sticky",
            Strategy::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The Java class that implements the assignor, as written in
    /// `partition.assignment.strategy`.
    pub fn class_name(self) -> &'static str {
        match self {
            Strategy::Range => "org.apache.kafka.clients.consumer.RangeAssignor",
            Strategy::RoundRobin => "org.apache.kafka.clients.consumer.RoundRobinAssignor",
            Strategy::Sticky => "org.apache.kafka.clients.consumer.StickyAssignor",
            Strategy::CooperativeSticky => {
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"
            }
        }
    }

    /// Accepts the assignor's name (`"range"`) or its class name
    /// (`"org.apache.kafka.clients.consumer.RangeAssignor"`).
    pub fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL
            .into_iter()
            .find(|s| s.name() == name || s.class_name() == name)
    }

    /// True for the assignor that supports the cooperative rebalance protocol.
    pub fn is_cooperative(self) -> bool {
        matches!(self, Strategy::CooperativeSticky)
    }
}

/// What one member sends in its JoinGroup request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSubscription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub topics: Vec<String>,
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation the owned partitions come from (sticky assignors use it to resolve
    /// two members claiming the same partition); None when unknown.
    pub generation: Option<i32>,
}

impl MemberSubscription {
    fn subscribes(&self, topic: &str) -> bool {
        self.topics.iter().any(|t| t == topic)
    }
}

/// Runs one assignor. `partitions_per_topic`: topic -> partition count (topics missing from it
/// are ignored, as Kafka ignores subscribed topics with no metadata). Returns an entry for every
/// member (possibly empty), each member's partitions sorted by (topic, partition).
/// For CooperativeSticky: the first-round assignment with every partition that must change
/// owner withheld (Kafka's cooperative adjustment), so a partition is never assigned to a new
/// member while its previous owner (in `members`) still owns it.
///
/// Panics if two members share a member id.
pub fn assign(
    strategy: Strategy,
    partitions_per_topic: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
) -> BTreeMap<String, Vec<TopicPartition>> {
    let ids: BTreeSet<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(ids.len(), members.len(), "duplicate member ids");

    // Kafka's assignors see only subscribed topics that have partitions.
    let subscribed: BTreeSet<&str> = members
        .iter()
        .flat_map(|m| m.topics.iter().map(String::as_str))
        .collect();
    let topics: BTreeMap<String, u32> = partitions_per_topic
        .iter()
        .filter(|(t, &n)| n > 0 && subscribed.contains(t.as_str()))
        .map(|(t, &n)| (t.clone(), n))
        .collect();

    let mut result = match strategy {
        Strategy::Range => range(&topics, members),
        Strategy::RoundRobin => round_robin(&topics, members),
        Strategy::Sticky | Strategy::CooperativeSticky => {
            unimplemented!("the sticky assignors are not written yet")
        }
    };
    for partitions in result.values_mut() {
        partitions.sort();
    }
    check(strategy, &topics, members, &result);
    result
}

/// `AbstractPartitionAssignor.MemberInfo.compareTo`: static members first, by instance id,
/// then dynamic members by member id.
fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

fn empty_assignment(members: &[MemberSubscription]) -> BTreeMap<String, Vec<TopicPartition>> {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect()
}

/// `RangeAssignor`: for each topic, its subscribers in member order each take
/// `partitions / subscribers` consecutive partitions, the first `partitions % subscribers`
/// of them one more.
fn range(
    topics: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut assignment = empty_assignment(members);
    for (topic, &count) in topics {
        let mut consumers: Vec<&MemberSubscription> =
            members.iter().filter(|m| m.subscribes(topic)).collect();
        if consumers.is_empty() {
            continue;
        }
        consumers.sort_by(|a, b| member_order(a, b));
        let n = consumers.len() as u32;
        let (per_consumer, with_extra) = (count / n, count % n);
        let mut next = 0;
        for (i, consumer) in consumers.iter().enumerate() {
            let take = per_consumer + u32::from((i as u32) < with_extra);
            let list = assignment.get_mut(&consumer.member_id).expect("member");
            list.extend((next..next + take).map(|p| TopicPartition::new(topic.clone(), p)));
            next += take;
        }
        assert_eq!(next, count);
    }
    assignment
}

/// `RoundRobinAssignor`: all partitions of all subscribed topics sorted by topic then
/// partition, dealt in turn to the members in member order; a member not subscribed to a
/// partition's topic is skipped and the turn passes on (Kafka's `CircularIterator`).
fn round_robin(
    topics: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut assignment = empty_assignment(members);
    let mut order: Vec<&MemberSubscription> = members.iter().collect();
    order.sort_by(|a, b| member_order(a, b));
    let mut next = 0;
    for (topic, &count) in topics {
        for partition in 0..count {
            // `topics` holds only subscribed topics, so some member takes the partition.
            let mut skipped = 0;
            while !order[next].subscribes(topic) {
                next = (next + 1) % order.len();
                skipped += 1;
                assert!(skipped < order.len(), "no member subscribes to {topic}");
            }
            let list = assignment.get_mut(&order[next].member_id).expect("member");
            list.push(TopicPartition::new(topic.clone(), partition));
            next = (next + 1) % order.len();
        }
    }
    assignment
}

/// The invariants every assignor's result holds.
fn check(
    strategy: Strategy,
    topics: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
    result: &BTreeMap<String, Vec<TopicPartition>>,
) {
    assert_eq!(result.len(), members.len(), "one entry per member");
    let mut seen = BTreeSet::new();
    for member in members {
        let partitions = &result[&member.member_id];
        for tp in partitions {
            let count = topics.get(&tp.topic).copied().unwrap_or(0);
            assert!(tp.partition < count, "{tp} does not exist");
            assert!(
                member.subscribes(&tp.topic),
                "{tp} assigned to {} which does not subscribe to it",
                member.member_id
            );
            assert!(seen.insert(tp.clone()), "{tp} assigned twice");
        }
    }
    if !strategy.is_cooperative() {
        let total: u32 = topics.values().sum();
        assert_eq!(seen.len(), total as usize, "every partition assigned");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: u32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.to_string(),
            group_instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            owned_partitions: Vec::new(),
            generation: None,
        }
    }

    fn static_member(id: &str, instance: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            group_instance_id: Some(instance.to_string()),
            ..member(id, topics)
        }
    }

    fn topics(counts: &[(&str, u32)]) -> BTreeMap<String, u32> {
        counts.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn expect(entries: &[(&str, &[TopicPartition])]) -> BTreeMap<String, Vec<TopicPartition>> {
        entries
            .iter()
            .map(|(m, ps)| (m.to_string(), ps.to_vec()))
            .collect()
    }

    #[test]
    fn strategy_names() {
        for s in Strategy::ALL {
            assert_eq!(Strategy::from_name(s.name()), Some(s));
            assert_eq!(Strategy::from_name(s.class_name()), Some(s));
        }
        assert_eq!(
            Strategy::from_name("org.apache.kafka.clients.consumer.RangeAssignor"),
            Some(Strategy::Range)
        );
        assert_eq!(Strategy::from_name("Range"), None);
        assert!(Strategy::CooperativeSticky.is_cooperative());
        assert!(!Strategy::Sticky.is_cooperative());
    }

    // The cases every assignor's test class in Kafka shares.
    #[test]
    fn one_consumer_no_topic_and_nonexistent_topic() {
        for s in Strategy::ALL
            .into_iter()
            .filter(|s| matches!(s, Strategy::Range | Strategy::RoundRobin))
        {
            let got = assign(s, &topics(&[]), &[member("consumer", &[])]);
            assert_eq!(got, expect(&[("consumer", &[])]), "{s:?}");
            let got = assign(s, &topics(&[]), &[member("consumer", &["topic"])]);
            assert_eq!(got, expect(&[("consumer", &[])]), "{s:?}");
        }
    }
    fn run(
        s: Strategy,
        t: &[(&str, u32)],
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        assign(s, &topics(t), members)
    }

    /// Kafka's tests put two topics `topic1` and `topic2` in the metadata.
    fn two_topics(n1: u32, n2: u32) -> Vec<(&'static str, u32)> {
        vec![("topic1", n1), ("topic2", n2)]
    }

    /// Runs both eager non-sticky assignors on the cases that Range and RoundRobin's tests share
    /// with the same expected result.
    #[test]
    fn range_and_roundrobin_shared_cases() {
        for s in [Strategy::Range, Strategy::RoundRobin] {
            // testOneConsumerOneTopic
            let got = run(s, &[("topic", 3)], &[member("consumer", &["topic"])]);
            assert_eq!(
                got,
                expect(&[(
                    "consumer",
                    &[tp("topic", 0), tp("topic", 1), tp("topic", 2)]
                )])
            );
            // testOnlyAssignsPartitionsFromSubscribedTopics
            let got = run(
                s,
                &[("topic", 3), ("other", 3)],
                &[member("consumer", &["topic"])],
            );
            assert_eq!(
                got,
                expect(&[(
                    "consumer",
                    &[tp("topic", 0), tp("topic", 1), tp("topic", 2)]
                )])
            );
            // testOneConsumerMultipleTopics
            let got = run(
                s,
                &two_topics(1, 2),
                &[member("consumer", &["topic1", "topic2"])],
            );
            assert_eq!(
                got,
                expect(&[(
                    "consumer",
                    &[tp("topic1", 0), tp("topic2", 0), tp("topic2", 1)]
                )])
            );
            // testTwoConsumersOneTopicOnePartition
            let got = run(
                s,
                &[("topic", 1)],
                &[
                    member("consumer1", &["topic"]),
                    member("consumer2", &["topic"]),
                ],
            );
            assert_eq!(
                got,
                expect(&[("consumer1", &[tp("topic", 0)]), ("consumer2", &[])])
            );
            // testTwoConsumersOneTopicTwoPartitions
            let got = run(
                s,
                &[("topic", 2)],
                &[
                    member("consumer1", &["topic"]),
                    member("consumer2", &["topic"]),
                ],
            );
            assert_eq!(
                got,
                expect(&[
                    ("consumer1", &[tp("topic", 0)]),
                    ("consumer2", &[tp("topic", 1)])
                ])
            );
            // testMultipleConsumersMixedTopics
            let got = run(
                s,
                &two_topics(3, 2),
                &[
                    member("consumer1", &["topic1"]),
                    member("consumer2", &["topic1", "topic2"]),
                    member("consumer3", &["topic1"]),
                ],
            );
            assert_eq!(
                got,
                expect(&[
                    ("consumer1", &[tp("topic1", 0)]),
                    (
                        "consumer2",
                        &[tp("topic1", 1), tp("topic2", 0), tp("topic2", 1)]
                    ),
                    ("consumer3", &[tp("topic1", 2)]),
                ]),
                "{s:?}"
            );
        }
    }

    #[test]
    fn range_two_consumers_two_topics_six_partitions() {
        // testTwoConsumersTwoTopicsSixPartitions
        let both = ["topic1", "topic2"];
        let got = run(
            Strategy::Range,
            &two_topics(3, 3),
            &[member("consumer1", &both), member("consumer2", &both)],
        );
        assert_eq!(
            got,
            expect(&[
                (
                    "consumer1",
                    &[
                        tp("topic1", 0),
                        tp("topic1", 1),
                        tp("topic2", 0),
                        tp("topic2", 1)
                    ]
                ),
                ("consumer2", &[tp("topic1", 2), tp("topic2", 2)]),
            ])
        );
    }

    #[test]
    fn range_static_members_sort_by_instance_id() {
        let both = ["topic1", "topic2"];
        let low = &[
            tp("topic1", 0),
            tp("topic1", 1),
            tp("topic2", 0),
            tp("topic2", 1),
        ];
        let high = &[tp("topic1", 2), tp("topic2", 2)];
        // testTwoStaticConsumersTwoTopicsSixPartitions: instance ids decide, not member ids.
        let got = run(
            Strategy::Range,
            &two_topics(3, 3),
            &[
                static_member("consumer-b", "instance1", &both),
                static_member("consumer-a", "instance2", &both),
            ],
        );
        assert_eq!(got, expect(&[("consumer-b", low), ("consumer-a", high)]));
        // testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions: static first.
        let got = run(
            Strategy::Range,
            &two_topics(3, 3),
            &[
                static_member("consumer-b", "instance1", &both),
                member("consumer-a", &both),
            ],
        );
        assert_eq!(got, expect(&[("consumer-b", low), ("consumer-a", high)]));
    }

    #[test]
    fn range_static_member_assignment_persistent() {
        // testStaticMemberRangeAssignmentPersistent
        let both = ["topic1", "topic2"];
        let statics = [
            static_member("consumer1", "instance1", &both),
            static_member("consumer2", "instance2", &both),
            static_member("consumer3", "instance3", &both),
        ];
        let mut members = statics.to_vec();
        members.push(member("consumer4", &both));
        let got = run(Strategy::Range, &two_topics(5, 4), &members);
        let expected = |dynamic: &str| {
            expect(&[
                (
                    "consumer1",
                    &[tp("topic1", 0), tp("topic1", 1), tp("topic2", 0)],
                ),
                ("consumer2", &[tp("topic1", 2), tp("topic2", 1)]),
                ("consumer3", &[tp("topic1", 3), tp("topic2", 2)]),
                (dynamic, &[tp("topic1", 4), tp("topic2", 3)]),
            ])
        };
        assert_eq!(got, expected("consumer4"));
        members[3] = member("consumer5", &both);
        assert_eq!(
            run(Strategy::Range, &two_topics(5, 4), &members),
            expected("consumer5")
        );
    }

    /// The assignment keyed by group instance id, for members that all have one.
    fn by_instance(
        members: &[MemberSubscription],
        got: &BTreeMap<String, Vec<TopicPartition>>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        members
            .iter()
            .map(|m| {
                (
                    m.group_instance_id.clone().unwrap(),
                    got[&m.member_id].clone(),
                )
            })
            .collect()
    }

    /// testStaticMember*AssignmentPersistentAfterMemberIdChanges: new member ids, same
    /// instance ids, same assignment per instance.
    fn check_persistent_after_member_id_changes(
        s: Strategy,
        expected: BTreeMap<String, Vec<TopicPartition>>,
    ) {
        let both = ["topic1", "topic2"];
        let mut members = vec![
            static_member("consumer1", "instance1", &both),
            static_member("consumer2", "instance2", &both),
            static_member("consumer3", "instance3", &both),
        ];
        let got = run(s, &two_topics(5, 5), &members);
        assert_eq!(by_instance(&members, &got), expected);
        members[2].member_id = "consumer4".into();
        members[1].member_id = "consumer5".into();
        let got = run(s, &two_topics(5, 5), &members);
        assert_eq!(by_instance(&members, &got), expected);
    }

    #[test]
    fn range_static_member_assignment_persistent_after_member_id_changes() {
        check_persistent_after_member_id_changes(
            Strategy::Range,
            expect(&[
                (
                    "instance1",
                    &[
                        tp("topic1", 0),
                        tp("topic1", 1),
                        tp("topic2", 0),
                        tp("topic2", 1),
                    ],
                ),
                (
                    "instance2",
                    &[
                        tp("topic1", 2),
                        tp("topic1", 3),
                        tp("topic2", 2),
                        tp("topic2", 3),
                    ],
                ),
                ("instance3", &[tp("topic1", 4), tp("topic2", 4)]),
            ]),
        );
    }

    #[test]
    fn roundrobin_two_consumers_two_topics_six_partitions() {
        let both = ["topic1", "topic2"];
        let first = &[tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)];
        let second = &[tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)];
        // testTwoDynamicConsumersTwoTopicsSixPartitions
        let got = run(
            Strategy::RoundRobin,
            &two_topics(3, 3),
            &[member("consumer1", &both), member("consumer2", &both)],
        );
        assert_eq!(got, expect(&[("consumer1", first), ("consumer2", second)]));
        // testTwoStaticConsumersTwoTopicsSixPartitions
        let got = run(
            Strategy::RoundRobin,
            &two_topics(3, 3),
            &[
                static_member("consumer-b", "instance1", &both),
                static_member("consumer-a", "instance2", &both),
            ],
        );
        assert_eq!(
            got,
            expect(&[("consumer-b", first), ("consumer-a", second)])
        );
        // testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions
        let got = run(
            Strategy::RoundRobin,
            &two_topics(3, 3),
            &[
                static_member("consumer-b", "instance1", &both),
                member("consumer-a", &both),
            ],
        );
        assert_eq!(
            got,
            expect(&[("consumer-b", first), ("consumer-a", second)])
        );
    }

    #[test]
    fn roundrobin_static_member_assignment_persistent() {
        // testStaticMemberRoundRobinAssignmentPersistent
        let both = ["topic1", "topic2"];
        let mut members = vec![
            static_member("consumer1", "instance1", &both),
            static_member("consumer2", "instance2", &both),
            static_member("consumer3", "instance3", &both),
            member("consumer4", &both),
        ];
        let expected = |dynamic: &str| {
            expect(&[
                ("consumer1", &[tp("topic1", 0), tp("topic2", 1)]),
                ("consumer2", &[tp("topic1", 1), tp("topic2", 2)]),
                ("consumer3", &[tp("topic1", 2)]),
                (dynamic, &[tp("topic2", 0)]),
            ])
        };
        assert_eq!(
            run(Strategy::RoundRobin, &two_topics(3, 3), &members),
            expected("consumer4")
        );
        members[3] = member("consumer5", &both);
        assert_eq!(
            run(Strategy::RoundRobin, &two_topics(3, 3), &members),
            expected("consumer5")
        );
    }

    #[test]
    fn roundrobin_static_member_assignment_persistent_after_member_id_changes() {
        check_persistent_after_member_id_changes(
            Strategy::RoundRobin,
            expect(&[
                (
                    "instance1",
                    &[
                        tp("topic1", 0),
                        tp("topic1", 3),
                        tp("topic2", 1),
                        tp("topic2", 4),
                    ],
                ),
                (
                    "instance2",
                    &[tp("topic1", 1), tp("topic1", 4), tp("topic2", 2)],
                ),
                (
                    "instance3",
                    &[tp("topic1", 2), tp("topic2", 0), tp("topic2", 3)],
                ),
            ]),
        );
    }

    #[test]
    fn roundrobin_class_doc_example() {
        // The example in RoundRobinAssignor's class comment: C0 takes t0, C1 t0 and t1,
        // C2 all three.
        let got = run(
            Strategy::RoundRobin,
            &[("t0", 1), ("t1", 2), ("t2", 3)],
            &[
                member("C0", &["t0"]),
                member("C1", &["t0", "t1"]),
                member("C2", &["t0", "t1", "t2"]),
            ],
        );
        assert_eq!(
            got,
            expect(&[
                ("C0", &[tp("t0", 0)]),
                ("C1", &[tp("t1", 0)]),
                ("C2", &[tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]),
            ])
        );
    }
}
