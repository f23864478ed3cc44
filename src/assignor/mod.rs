//! # Consumer partition assignors
//!
//! A consumer group's leader decides which member reads which partition. It runs the
//! group's partition assignor on every rebalance, given each member's subscription (and,
//! for the sticky assignors, what each member owned before). This module reproduces the
//! results of Apache Kafka's client-side assignors (3.x, without rack awareness) for the
//! same input:
//!
//! - `range` (`RangeAssignor`, the default; since Kafka 3.0 the default list is range then
//!   cooperative-sticky):
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
//! ## Hash order
//!
//! Kafka keeps subscriptions in a `java.util.HashMap` keyed by member id, and some steps of
//! the sticky assignors iterate it, so their result depends on Java's hash order:
//!
//! - which member keeps a partition claimed by several members, when the claims come from a
//!   mix of generations (`allSubscriptionsEqual`);
//! - in the constrained algorithm (all members subscribe to the same topics), which members
//!   keep `maxQuota` owned partitions rather than `minQuota` when more members own enough
//!   for `maxQuota` than may have it (`assignOwnedPartitions`); Kafka's own
//!   `testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers` asserts such a result;
//! - in the general algorithm, which earlier owner is remembered for a partition when two
//!   members of the same older generation claimed it (`prepopulateCurrentAssignments`), and
//!   which of several partitions that moved between the same two members is moved back
//!   (`getTheActualPartitionToBeMoved` takes the first element of a `HashSet`).
//!
//! That order is not random: it is a function of the keys' `hashCode` and of the order they
//! were inserted. This module reproduces it (`String.hashCode` over UTF-16, the bucket index
//! of a default-capacity table grown to fit, insertion order within a bucket), taking the
//! order of `members` as the order the consumer coordinator inserted them (the order of the
//! JoinGroup response). So it gives Kafka's result, not merely a deterministic one. The one
//! part not reproduced is Java's tree bins, used when eight or more keys share a bucket in a
//! table of 64 buckets or more; such a bucket is still iterated in insertion order here.
//! Every other choice Kafka makes is explicit: it sorts members by id where the order is
//! part of the algorithm. Kafka compares ids as UTF-16 strings; this module compares UTF-8
//! bytes, the same order unless ids hold characters beyond the Basic Multilingual Plane.
//!
//! ## Where this module differs from Kafka
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
//!   member no longer subscribes to the topic (and fails with a `NullPointerException` when
//!   that member takes no part in balancing). Here that step only considers members still
//!   taking part and subscribed to the partition's topic, so a partition never goes to a
//!   member that did not ask for it.
//!
//! Every result is checked before it is returned: each partition of a subscribed topic is
//! assigned at most once and only to a member subscribed to its topic, the eager assignors
//! assign every one of them, and the eager sticky result is balanced (loads differ by at
//! most one) when all members subscribe to the same topics.
//!
//! ## Layout
//!
//! One file per assignor (`range.rs`, `roundrobin.rs`, `sticky.rs`, `cooperative_sticky.rs`),
//! as Kafka has one class per assignor. The two sticky assignors share Kafka's
//! `AbstractStickyAssignor`, which is most of the code: `sticky_core.rs` reads the members'
//! claims and picks one of its two algorithms, `sticky_constrained.rs` and
//! `sticky_general.rs`; `java_hash.rs` reproduces the Java hash order they depend on. This
//! file holds what every assignor shares: [`Strategy`], [`MemberSubscription`], the entry
//! point [`assign`] and the checks on its result. Tests sit with the code they exercise; the
//! sticky tests, which run both sticky assignors, sit with the algorithm their groups take.

mod cooperative_sticky;
mod java_hash;
mod range;
mod roundrobin;
mod sticky;
mod sticky_constrained;
mod sticky_core;
mod sticky_general;
#[cfg(test)]
mod test_support;

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
    if members.is_empty() {
        return BTreeMap::new();
    }

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
        Strategy::Range => range::assign(&topics, members),
        Strategy::RoundRobin => roundrobin::assign(&topics, members),
        Strategy::Sticky => sticky::assign(&topics, members),
        Strategy::CooperativeSticky => cooperative_sticky::assign(&topics, members),
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
    if strategy == Strategy::Sticky && members.iter().all(|m| same_topics(m, &members[0])) {
        let loads = result.values().map(Vec::len);
        let (min, max) = (loads.clone().min(), loads.max());
        assert!(max <= min.map(|n| n + 1), "sticky result unbalanced");
    }
}

fn same_topics(a: &MemberSubscription, b: &MemberSubscription) -> bool {
    let a: BTreeSet<&String> = a.topics.iter().collect();
    let b: BTreeSet<&String> = b.topics.iter().collect();
    a == b
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

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

    mod properties {
        use super::super::{assign, MemberSubscription, Strategy, TopicPartition};
        use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest};
        use proptest::strategy::Strategy as _;
        use std::collections::BTreeMap;

        fn group() -> impl proptest::strategy::Strategy<
            Value = (BTreeMap<String, u32>, Vec<MemberSubscription>, bool),
        > {
            let topics = proptest::collection::vec(0u32..5, 1..4);
            (topics, 1usize..6, any::<bool>()).prop_flat_map(|(counts, n, same)| {
                let names: Vec<String> = (0..counts.len()).map(|i| format!("t{i}")).collect();
                let all: Vec<TopicPartition> = names
                    .iter()
                    .zip(&counts)
                    .flat_map(|(t, &c)| (0..c).map(move |p| TopicPartition::new(t.clone(), p)))
                    .collect();
                let k = names.len();
                let member = (
                    proptest::collection::vec(any::<bool>(), k),
                    proptest::collection::vec(any::<bool>(), all.len().max(1)),
                    proptest::option::of(0i32..3),
                    proptest::option::of(0u8..3),
                );
                let names2 = names.clone();
                let counts2 = counts.clone();
                proptest::collection::vec(member, n).prop_map(move |ms| {
                    let topics: BTreeMap<String, u32> = names2
                        .iter()
                        .cloned()
                        .zip(counts2.iter().copied())
                        .collect();
                    let members = ms
                        .into_iter()
                        .enumerate()
                        .map(
                            |(i, (subs, owns, generation, instance))| MemberSubscription {
                                member_id: format!("m{i}"),
                                group_instance_id: instance.map(|x| format!("i{x}{i}")),
                                topics: if same {
                                    names2.clone()
                                } else {
                                    names2
                                        .iter()
                                        .zip(&subs)
                                        .filter(|(_, s)| **s)
                                        .map(|(t, _)| t.clone())
                                        .collect()
                                },
                                owned_partitions: all
                                    .iter()
                                    .zip(&owns)
                                    .filter(|(_, o)| **o)
                                    .map(|(tp, _)| tp.clone())
                                    .collect(),
                                generation,
                            },
                        )
                        .collect();
                    (topics, members, same)
                })
            })
        }

        proptest! {
            #![proptest_config(crate::proptest_config::fixed_seed())]

            #[test]
            fn assignors_hold_their_invariants((topics, members, same) in group()) {
                for s in Strategy::ALL {
                    // `assign` itself asserts: each partition at most once, only to subscribers,
                    // all of them for the eager assignors.
                    let got = assign(s, &topics, &members);
                    prop_assert_eq!(got.len(), members.len());
                    let subscribed: u32 = topics
                        .iter()
                        .filter(|(t, _)| members.iter().any(|m| m.topics.contains(t)))
                        .map(|(_, n)| n)
                        .sum();
                    let assigned: usize = got.values().map(Vec::len).sum();
                    if !s.is_cooperative() {
                        prop_assert_eq!(assigned, subscribed as usize);
                    }
                    if s == Strategy::Sticky && same {
                        let max = got.values().map(Vec::len).max().unwrap();
                        let min = got.values().map(Vec::len).min().unwrap();
                        prop_assert!(max - min <= 1, "unbalanced: {:?}", got);
                    }
                }
                // Cooperative: the sticky result minus partitions that change owner; nothing
                // goes to a member while another member that claims it is told to give it up.
                let eager = assign(Strategy::Sticky, &topics, &members);
                let coop = assign(Strategy::CooperativeSticky, &topics, &members);
                for m in &members {
                    let mine = &coop[&m.member_id];
                    for tp in &eager[&m.member_id] {
                        let owned_elsewhere = members
                            .iter()
                            .any(|o| o.member_id != m.member_id && o.owned_partitions.contains(tp));
                        if mine.contains(tp) {
                            prop_assert!(!owned_elsewhere || m.owned_partitions.contains(tp), "{} given to {} while owned elsewhere", tp, m.member_id);
                        } else {
                            prop_assert!(owned_elsewhere, "{} withheld from {} for no reason", tp, m.member_id);
                        }
                    }
                    prop_assert!(mine.iter().all(|tp| eager[&m.member_id].contains(tp)));
                }
            }
        }
    }
}
