//! Kafka's `AbstractStickyAssignor.ConstrainedAssignmentBuilder`: the sticky algorithm when
//! every member subscribes to the same topics.

use super::sticky_core::{partitions_of, Assignment, Claims, StickyMember};
use crate::types::TopicPartition;
use std::collections::{BTreeMap, BTreeSet};

/// `ConstrainedAssignmentBuilder`, for groups whose members all subscribe to the same topics:
/// every member keeps up to its quota of what it owned, then the rest is dealt round-robin to
/// the members below quota.
pub(super) fn constrained(
    topics: &BTreeMap<String, u32>,
    members: &[StickyMember],
    claims: Claims,
) -> (Assignment, BTreeMap<TopicPartition, String>) {
    let Claims { owned, multiple } = claims;
    let mut builder = Constrained::new(topics, members, multiple);
    let assigned = builder.assign_owned_partitions(members, &owned);
    let unassigned: Vec<TopicPartition> = partitions_of(topics.keys().map(String::as_str), topics)
        .into_iter()
        .filter(|tp| !assigned.contains(tp))
        .collect();
    builder.under_min.sort();
    builder.exactly_min.sort();
    let transferring = builder.assign_round_robin(unassigned);
    builder.verify_unfilled_members();
    (builder.assignment, transferring)
}

/// What `ConstrainedAssignmentBuilder` carries from one step to the next.
struct Constrained {
    min_quota: usize,
    max_quota: usize,
    /// How many members get `max_quota` (the partitions left over by `min_quota`).
    expected_over_min: usize,
    /// How many members have `max_quota` so far.
    over_min: usize,
    assignment: Assignment,
    /// Owned partitions a member gave up to stay within its quota: partition -> that member.
    maybe_revoked: BTreeMap<TopicPartition, String>,
    /// Partitions claimed by two members of the same generation: nobody keeps them.
    multiple: BTreeSet<TopicPartition>,
    /// Members below `min_quota`.
    under_min: Vec<String>,
    /// Members at `min_quota` that may still take one more.
    exactly_min: Vec<String>,
}

impl Constrained {
    fn new(
        topics: &BTreeMap<String, u32>,
        members: &[StickyMember],
        multiple: BTreeSet<TopicPartition>,
    ) -> Constrained {
        let total: usize = topics.values().map(|&n| n as usize).sum();
        let n = members.len();
        Constrained {
            min_quota: total / n,
            max_quota: total.div_ceil(n),
            expected_over_min: total % n,
            over_min: 0,
            assignment: members
                .iter()
                .map(|m| (m.id.to_string(), Vec::new()))
                .collect(),
            maybe_revoked: BTreeMap::new(),
            multiple,
            under_min: Vec::new(),
            exactly_min: Vec::new(),
        }
    }

    /// assignOwnedPartitions, in Java hash order of the members. Returns the partitions kept.
    fn assign_owned_partitions(
        &mut self,
        members: &[StickyMember],
        owned: &Assignment,
    ) -> BTreeSet<TopicPartition> {
        let mut assigned: BTreeSet<TopicPartition> = BTreeSet::new();
        for member in members {
            let consumer = &member.id.to_string();
            let claimed = &owned[consumer];
            let mut keep: Vec<TopicPartition> = claimed.clone();
            keep.sort_by(|a, b| {
                a.partition
                    .cmp(&b.partition)
                    .then_with(|| a.topic.cmp(&b.topic))
            });
            keep.retain(|tp| !self.multiple.contains(tp));
            let kept = self.quota_kept(consumer, keep.len());
            for tp in keep.drain(kept..) {
                self.maybe_revoked.insert(tp, consumer.clone());
            }
            assigned.extend(keep.iter().cloned());
            let list = self.assignment.get_mut(consumer).expect("member");
            list.extend(keep);
        }
        assigned
    }

    /// How many of the `claimed` partitions `consumer` keeps: all of them below `min_quota`,
    /// `max_quota` while more members may have it, else `min_quota`.
    fn quota_kept(&mut self, consumer: &str, claimed: usize) -> usize {
        if claimed < self.min_quota {
            self.under_min.push(consumer.to_string());
            claimed
        } else if claimed >= self.max_quota && self.over_min < self.expected_over_min {
            self.over_min += 1;
            if self.over_min == self.expected_over_min {
                self.exactly_min.clear();
            }
            self.max_quota
        } else {
            if self.over_min < self.expected_over_min {
                self.exactly_min.push(consumer.to_string());
            }
            self.min_quota
        }
    }

    /// assignRoundRobin: deal to the members under minQuota in turn; once they all have
    /// minQuota, to the members at minQuota that may still take one more. Returns the
    /// partitions that change owner (partition -> new member).
    fn assign_round_robin(
        &mut self,
        unassigned: Vec<TopicPartition>,
    ) -> BTreeMap<TopicPartition, String> {
        let mut transferring = BTreeMap::new();
        let mut cursor = 0;
        for tp in unassigned {
            let consumer = if cursor < self.under_min.len() {
                cursor += 1;
                self.under_min[cursor - 1].clone()
            } else if self.under_min.is_empty() {
                assert!(
                    !self.exactly_min.is_empty(),
                    "no more unfilled consumers to be assigned"
                );
                self.exactly_min.remove(0)
            } else {
                cursor = 1;
                self.under_min[0].clone()
            };
            let list = self.assignment.get_mut(&consumer).expect("member");
            list.push(tp.clone());
            let count = list.len();
            if self
                .maybe_revoked
                .get(&tp)
                .is_some_and(|owner| *owner != consumer)
                || self.multiple.contains(&tp)
            {
                transferring.insert(tp, consumer.clone());
            }
            if count == self.min_quota {
                // The consumer came from `under_min` at `cursor - 1`.
                cursor -= 1;
                self.under_min.remove(cursor);
                self.exactly_min.push(consumer);
            } else if count == self.max_quota {
                self.over_min += 1;
            }
        }
        transferring
    }

    /// verifyUnfilledMembers
    fn verify_unfilled_members(&self) {
        for consumer in &self.under_min {
            assert_eq!(
                self.over_min, self.expected_over_min,
                "members left under minQuota"
            );
            assert_eq!(
                self.assignment[consumer].len(),
                self.min_quota,
                "{consumer} under minQuota"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::sticky_core::DEFAULT_GENERATION;
    use super::super::test_support::*;
    use super::super::*;

    #[test]
    fn sticky_consumer_owning_min_quota_expected_max_quota() {
        // testConsumerOwningMinQuotaExpectedMaxQuota
        let both = ["topic1", "topic2"];
        check_sticky(
            &two_topics(2, 3),
            &[
                sub(
                    "consumer1",
                    &both,
                    &[tp("topic1", 0), tp("topic2", 1)],
                    GENERATION,
                ),
                sub(
                    "consumer2",
                    &both,
                    &[tp("topic1", 1), tp("topic2", 2)],
                    GENERATION,
                ),
            ],
            &[
                (
                    "consumer1",
                    &[tp("topic1", 0), tp("topic2", 1), tp("topic2", 0)],
                ),
                ("consumer2", &[tp("topic1", 1), tp("topic2", 2)]),
            ],
            &[],
        );
    }

    #[test]
    fn sticky_max_quota_consumers_more_than_expected() {
        // testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers: consumer1 and consumer2
        // both own two partitions, but only one may keep two. Java's hash order visits
        // consumer2 first, so it keeps both.
        let both = ["topic1", "topic2"];
        check_sticky(
            &two_topics(2, 2),
            &[
                sub(
                    "consumer1",
                    &both,
                    &[tp("topic1", 0), tp("topic2", 0)],
                    GENERATION,
                ),
                sub(
                    "consumer2",
                    &both,
                    &[tp("topic1", 1), tp("topic2", 1)],
                    GENERATION,
                ),
                sub("consumer3", &both, &[], GENERATION),
            ],
            &[
                ("consumer1", &[tp("topic1", 0)]),
                ("consumer2", &[tp("topic1", 1), tp("topic2", 1)]),
                ("consumer3", &[tp("topic2", 0)]),
            ],
            &[(tp("topic2", 0), "consumer3")],
        );
    }

    #[test]
    fn sticky_all_consumers_under_min_quota() {
        // testAllConsumersAreUnderMinQuota
        let both = ["topic1", "topic2"];
        check_sticky(
            &two_topics(2, 3),
            &[
                sub("consumer1", &both, &[tp("topic1", 0)], GENERATION),
                sub("consumer2", &both, &[tp("topic1", 1)], GENERATION),
                sub("consumer3", &both, &[], GENERATION),
            ],
            &[
                ("consumer1", &[tp("topic1", 0), tp("topic2", 1)]),
                ("consumer2", &[tp("topic1", 1), tp("topic2", 2)]),
                ("consumer3", &[tp("topic2", 0)]),
            ],
            &[],
        );
    }

    #[test]
    fn sticky_all_consumers_reach_expected_quota() {
        // testAllConsumersReachExpectedQuotaAndAreConsideredFilled
        check_sticky(
            &[("topic", 4)],
            &[
                sub(
                    "consumer1",
                    &["topic"],
                    &[tp("topic", 0), tp("topic", 1)],
                    GENERATION,
                ),
                sub("consumer2", &["topic"], &[tp("topic", 2)], GENERATION),
                sub("consumer3", &["topic"], &[], GENERATION),
            ],
            &[
                ("consumer1", &[tp("topic", 0), tp("topic", 1)]),
                ("consumer2", &[tp("topic", 2)]),
                ("consumer3", &[tp("topic", 3)]),
            ],
            &[],
        );
    }

    #[test]
    fn sticky_no_reassignment_on_current_members() {
        // testNoReassignmentOnCurrentMembers: Kafka asserts consumer1's share exactly, the
        // others keep what they own.
        let all = ["topic", "topic2", "topic3", "topic1"];
        let t = [("topic", 3), ("topic1", 3), ("topic2", 3), ("topic3", 3)];
        let members = [
            sub("consumer1", &all, &[], Some(DEFAULT_GENERATION)),
            sub(
                "consumer2",
                &all,
                &[tp("topic", 0), tp("topic2", 0), tp("topic1", 0)],
                Some(9),
            ),
            sub(
                "consumer3",
                &all,
                &[tp("topic3", 2), tp("topic2", 2), tp("topic1", 1)],
                Some(8),
            ),
            sub(
                "consumer4",
                &all,
                &[tp("topic3", 1), tp("topic", 1), tp("topic", 2)],
                Some(7),
            ),
        ];
        let got = run(Strategy::Sticky, &t, &members);
        assert_eq!(
            got["consumer1"],
            vec![tp("topic1", 2), tp("topic2", 1), tp("topic3", 0)]
        );
        for m in &members[1..] {
            assert_eq!(got[&m.member_id], sorted(m.owned_partitions.clone()));
        }
        assert_eq!(run(Strategy::CooperativeSticky, &t, &members), got);
        verify_validity_and_balance(&members, &got);
        assert!(is_fully_balanced(&got));
    }

    #[test]
    fn sticky_add_remove_consumer_one_topic() {
        // testAddRemoveConsumerOneTopic
        let all = [tp("topic", 0), tp("topic", 1), tp("topic", 2)];
        let got = check_sticky(
            &[("topic", 3)],
            &[member("consumer1", &["topic"])],
            &[("consumer1", &all)],
            &[],
        );
        let members = [
            sub("consumer1", &["topic"], &got["consumer1"], GENERATION),
            sub("consumer2", &["topic"], &[], GENERATION),
        ];
        let got = check_sticky(
            &[("topic", 3)],
            &members,
            &[
                ("consumer1", &[tp("topic", 0), tp("topic", 1)]),
                ("consumer2", &[tp("topic", 2)]),
            ],
            &[(tp("topic", 2), "consumer2")],
        );
        let members = [sub("consumer2", &["topic"], &got["consumer2"], GENERATION)];
        check_sticky(&[("topic", 3)], &members, &[("consumer2", &all)], &[]);
    }

    #[test]
    fn sticky_add_remove_two_consumers_two_topics() {
        // testAddRemoveTwoConsumersTwoTopics
        let both = ["topic1", "topic2"];
        let t = two_topics(3, 4);
        let got = check_sticky(
            &t,
            &[member("consumer1", &both), member("consumer2", &both)],
            &[
                (
                    "consumer1",
                    &[
                        tp("topic1", 0),
                        tp("topic1", 2),
                        tp("topic2", 1),
                        tp("topic2", 3),
                    ],
                ),
                (
                    "consumer2",
                    &[tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)],
                ),
            ],
            &[],
        );
        let members = [
            sub("consumer1", &both, &got["consumer1"], GENERATION),
            sub("consumer2", &both, &got["consumer2"], GENERATION),
            sub("consumer3", &both, &[], GENERATION),
            sub("consumer4", &both, &[], GENERATION),
        ];
        let got = check_sticky(
            &t,
            &members,
            &[
                ("consumer1", &[tp("topic1", 0), tp("topic2", 1)]),
                ("consumer2", &[tp("topic2", 0), tp("topic1", 1)]),
                ("consumer3", &[tp("topic1", 2), tp("topic2", 3)]),
                ("consumer4", &[tp("topic2", 2)]),
            ],
            &[
                (tp("topic1", 2), "consumer3"),
                (tp("topic2", 3), "consumer3"),
                (tp("topic2", 2), "consumer4"),
            ],
        );
        let members = [
            sub("consumer3", &both, &got["consumer3"], GENERATION),
            sub("consumer4", &both, &got["consumer4"], GENERATION),
        ];
        check_sticky(
            &t,
            &members,
            &[
                (
                    "consumer3",
                    &[
                        tp("topic1", 2),
                        tp("topic2", 3),
                        tp("topic1", 0),
                        tp("topic2", 1),
                    ],
                ),
                (
                    "consumer4",
                    &[tp("topic2", 2), tp("topic1", 1), tp("topic2", 0)],
                ),
            ],
            &[],
        );
    }

    #[test]
    fn sticky_topic_balance_after_reassignment() {
        // testTopicBalanceAfterReassignment: every member gets the same share of each topic.
        let both = ["topic1", "topic2"];
        let t = two_topics(12, 12);
        let per_topic = |got: &BTreeMap<String, Vec<TopicPartition>>, n: usize| {
            for list in got.values() {
                for topic in both {
                    assert_eq!(
                        list.iter().filter(|tp| tp.topic == topic).count(),
                        n,
                        "{got:?}"
                    );
                }
            }
        };
        let mut members = vec![member("consumer1", &both)];
        let got = run(Strategy::Sticky, &t, &members);
        per_topic(&got, 12);
        members = owning(&members, &got, GENERATION);
        members.push(sub("consumer2", &both, &[], GENERATION));
        let got = run(Strategy::Sticky, &t, &members);
        verify_validity_and_balance(&members, &got);
        per_topic(&got, 6);
        members = owning(&members, &got, GENERATION);
        members.push(sub("consumer3", &both, &[], GENERATION));
        members.push(sub("consumer4", &both, &[], GENERATION));
        let got = run(Strategy::Sticky, &t, &members);
        verify_validity_and_balance(&members, &got);
        per_topic(&got, 3);
        members = owning(&members, &got, GENERATION).split_off(2);
        let got = run(Strategy::Sticky, &t, &members);
        verify_validity_and_balance(&members, &got);
        per_topic(&got, 6);
        assert_eq!(run(Strategy::CooperativeSticky, &t, &members), got);
    }

    #[test]
    fn sticky_add_remove_topic_two_consumers() {
        // testAddRemoveTopicTwoConsumers
        let t1 = [("topic", 3)];
        let members = [
            member("consumer1", &["topic"]),
            member("consumer2", &["topic"]),
        ];
        let first = run(Strategy::Sticky, &t1, &members);
        assert!(is_fully_balanced(&first));
        let t2 = [("topic", 3), ("topic2", 3)];
        let members: Vec<_> = owning(&members, &first, GENERATION)
            .into_iter()
            .map(|m| MemberSubscription {
                topics: vec!["topic".into(), "topic2".into()],
                ..m
            })
            .collect();
        let second = run(Strategy::Sticky, &t2, &members);
        assert_eq!(run(Strategy::CooperativeSticky, &t2, &members), second);
        verify_validity_and_balance(&members, &second);
        for (c, list) in &second {
            assert_eq!(list.len(), 3);
            assert!(first[c].iter().all(|tp| list.contains(tp)), "stickiness");
        }
        let t3 = [("topic2", 3)];
        let members: Vec<_> = owning(&members, &second, GENERATION)
            .into_iter()
            .map(|m| MemberSubscription {
                topics: vec!["topic2".into()],
                ..m
            })
            .collect();
        let third = run(Strategy::Sticky, &t3, &members);
        assert_eq!(run(Strategy::CooperativeSticky, &t3, &members), third);
        verify_validity_and_balance(&members, &third);
        assert!(is_fully_balanced(&third));
        for (c, list) in &third {
            assert!(list.iter().all(|tp| second[c].contains(tp)), "stickiness");
        }
    }

    #[test]
    fn sticky_reassignment_after_one_consumer_added() {
        // testReassignmentAfterOneConsumerAdded
        let t = [("topic", 20)];
        let mut members: Vec<MemberSubscription> = (1..10)
            .map(|i| member(&canonical("c", i, 10), &["topic"]))
            .collect();
        let got = check_valid(&t, &members);
        members = owning(&members, &got, GENERATION);
        members.push(member(&canonical("c", 10, 10), &["topic"]));
        check_valid(&t, &members);
    }

    #[test]
    fn sticky_same_subscriptions() {
        // testSameSubscriptions
        let names: Vec<String> = (1..15).map(|i| canonical("t", i, 15)).collect();
        let t: Vec<(&str, u32)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as u32 + 1))
            .collect();
        let topics: Vec<&str> = names.iter().map(String::as_str).collect();
        let members: Vec<MemberSubscription> = (1..9)
            .map(|i| member(&canonical("c", i, 9), &topics))
            .collect();
        let got = check_valid(&t, &members);
        let mut next = owning(&members, &got, GENERATION);
        next.retain(|m| m.member_id != "c5");
        let after = check_valid(&t, &next);
        assert_sticky(&next, &after);
    }

    #[test]
    fn sticky_stickiness() {
        // testStickiness: four members, three partitions; the leader leaves, and the two
        // members that had a partition keep it.
        let t = [("topic1", 3)];
        let members: Vec<MemberSubscription> = (1..=4)
            .map(|i| member(&format!("consumer{i}"), &["topic1"]))
            .collect();
        let got = check_valid(&t, &members);
        assert!(got.values().all(|l| l.len() <= 1));
        let next: Vec<MemberSubscription> = owning(&members, &got, GENERATION).split_off(1);
        let after = check_valid(&t, &next);
        assert_eq!(run(Strategy::CooperativeSticky, &t, &next), after);
        for (c, list) in &after {
            assert_eq!(list.len(), 1);
            assert!(
                got[c].iter().all(|tp| list.contains(tp)),
                "stickiness for {c}"
            );
        }
    }
}
