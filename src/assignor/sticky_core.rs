//! The part of Kafka's `AbstractStickyAssignor` both sticky assignors share: reading the
//! members' claims, settling partitions that several members claim, and choosing the
//! algorithm.
//!
//! When all members subscribe to the same topics Kafka takes the constrained algorithm
//! (`sticky_constrained.rs`), otherwise the general one (`sticky_general.rs`). Both return the
//! balanced, sticky assignment and the partitions that change owner; `sticky.rs` hands out
//! the assignment as it is, `cooperative_sticky.rs` withholds the partitions that move.

use super::java_hash::java_hash_map_order;
use super::sticky_constrained::constrained;
use super::sticky_general::General;
use super::MemberSubscription;
use crate::types::TopicPartition;
use std::collections::{BTreeMap, BTreeSet};

/// A member as the sticky assignors read it: topics and owned partitions as sets, owned
/// partitions limited to ones that exist.
pub(super) struct StickyMember<'a> {
    pub(super) id: &'a str,
    /// Every subscribed topic, existing or not (Kafka compares these for "all equal").
    pub(super) subscribed: BTreeSet<&'a str>,
    pub(super) owned: Vec<TopicPartition>,
    pub(super) generation: i32,
    pub(super) generation_known: bool,
}

impl<'a> StickyMember<'a> {
    fn new(m: &'a MemberSubscription, topics: &BTreeMap<String, u32>) -> StickyMember<'a> {
        let mut owned: Vec<TopicPartition> = Vec::new();
        for tp in &m.owned_partitions {
            let exists = topics.get(&tp.topic).is_some_and(|&n| tp.partition < n);
            if exists && !owned.contains(tp) {
                owned.push(tp.clone());
            }
        }
        StickyMember {
            id: &m.member_id,
            subscribed: m.topics.iter().map(String::as_str).collect(),
            owned,
            // Kafka's `Subscription` holds a negative generation as none.
            generation: m
                .generation
                .filter(|g| *g >= 0)
                .unwrap_or(DEFAULT_GENERATION),
            generation_known: m.generation.is_some_and(|g| g >= 0),
        }
    }
}

/// Kafka's `DEFAULT_GENERATION`, for members that report none.
pub(super) const DEFAULT_GENERATION: i32 = -1;

pub(super) type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// `AbstractStickyAssignor.assignPartitions`. Returns the assignment and the partitions that
/// change owner (partition -> new member), which the cooperative assignor withholds.
pub(super) fn assign_partitions(
    topics: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
) -> (Assignment, BTreeMap<TopicPartition, String>) {
    let members: Vec<StickyMember> = java_hash_map_order(members)
        .into_iter()
        .map(|m| StickyMember::new(m, topics))
        .collect();

    let all_equal = members
        .iter()
        .all(|m| m.subscribed == members[0].subscribed);
    let claims = resolve_claims(&members);
    if all_equal {
        constrained(topics, &members, claims)
    } else {
        let assignment = General::new(topics, &members, claims.owned).build(&members);
        let transferring = transferring_ownership(&members, &assignment);
        (assignment, transferring)
    }
}

/// Each member's still valid claims, after `allSubscriptionsEqual` settled partitions that
/// several members claim.
pub(super) struct Claims {
    /// Member id -> the partitions it keeps claiming, in the order it listed them.
    pub(super) owned: Assignment,
    /// Partitions claimed by two members of the same generation: nobody keeps them.
    pub(super) multiple: BTreeSet<TopicPartition>,
}

/// The claim resolution in `allSubscriptionsEqual`: of two members claiming a partition, the
/// one with the higher generation keeps it; with equal generations the partition is taken
/// from both. Members are visited in the order Kafka visits them (Java hash order).
fn resolve_claims(members: &[StickyMember]) -> Claims {
    let mut owned: Assignment = BTreeMap::new();
    let mut multiple = BTreeSet::new();
    let mut claimed_by: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    for (i, member) in members.iter().enumerate() {
        owned.insert(member.id.to_string(), Vec::new());
        for tp in &member.owned {
            match claimed_by.get(tp).copied() {
                None => {
                    owned.get_mut(member.id).expect("member").push(tp.clone());
                    claimed_by.insert(tp.clone(), i);
                }
                Some(other) => {
                    let other_generation = members[other].generation;
                    if member.generation >= other_generation {
                        if member.generation == other_generation {
                            multiple.insert(tp.clone());
                        } else {
                            owned.get_mut(member.id).expect("member").push(tp.clone());
                        }
                        owned
                            .get_mut(members[other].id)
                            .expect("member")
                            .retain(|p| p != tp);
                        claimed_by.insert(tp.clone(), i);
                    }
                }
            }
        }
    }
    Claims { owned, multiple }
}

/// All partitions of the given topics, each topic's in partition order.
pub(super) fn partitions_of<'a>(
    topics: impl IntoIterator<Item = &'a str>,
    counts: &BTreeMap<String, u32>,
) -> Vec<TopicPartition> {
    topics
        .into_iter()
        .flat_map(|t| (0..counts[t]).map(move |p| TopicPartition::new(t, p)))
        .collect()
}

/// `CooperativeStickyAssignor.computePartitionsTransferringOwnership`, for the general
/// algorithm: partitions newly assigned to one member that another member owned.
fn transferring_ownership(
    members: &[StickyMember],
    assignment: &Assignment,
) -> BTreeMap<TopicPartition, String> {
    let mut added = BTreeMap::new();
    let mut revoked = BTreeSet::new();
    for member in members {
        let assigned = &assignment[member.id];
        for tp in assigned {
            if !member.owned.contains(tp) {
                added.insert(tp.clone(), member.id.to_string());
            }
        }
        for tp in &member.owned {
            if !assigned.contains(tp) {
                revoked.insert(tp.clone());
            }
        }
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

    #[test]
    fn sticky_no_topic_and_nonexistent_topic() {
        // testOneConsumerNoTopic, testOneConsumerNonexistentTopic
        check_sticky(&[], &[member("consumer", &[])], &[("consumer", &[])], &[]);
        check_sticky(
            &[],
            &[member("consumer", &["topic"])],
            &[("consumer", &[])],
            &[],
        );
    }

    #[test]
    fn sticky_simple_cases() {
        let all = [tp("topic", 0), tp("topic", 1), tp("topic", 2)];
        // testOneConsumerOneTopic
        check_sticky(
            &[("topic", 3)],
            &[member("consumer", &["topic"])],
            &[("consumer", &all)],
            &[],
        );
        // testOnlyAssignsPartitionsFromSubscribedTopics
        check_sticky(
            &[("topic", 3), ("other", 3)],
            &[member("consumer", &["topic"])],
            &[("consumer", &all)],
            &[],
        );
        // testOneConsumerMultipleTopics
        check_sticky(
            &two_topics(1, 2),
            &[member("consumer", &["topic1", "topic2"])],
            &[(
                "consumer",
                &[tp("topic1", 0), tp("topic2", 0), tp("topic2", 1)],
            )],
            &[],
        );
        // testTwoConsumersOneTopicOnePartition
        let got = check_sticky(
            &[("topic", 1)],
            &[
                member("consumer1", &["topic"]),
                member("consumer2", &["topic"]),
            ],
            &[("consumer1", &[tp("topic", 0)]), ("consumer2", &[])],
            &[],
        );
        assert!(is_fully_balanced(&got));
        // testTwoConsumersOneTopicTwoPartitions
        check_sticky(
            &[("topic", 2)],
            &[
                member("consumer1", &["topic"]),
                member("consumer2", &["topic"]),
            ],
            &[
                ("consumer1", &[tp("topic", 0)]),
                ("consumer2", &[tp("topic", 1)]),
            ],
            &[],
        );
    }

    #[test]
    fn sticky_two_consumers_two_topics_six_partitions() {
        // testTwoConsumersTwoTopicsSixPartitions
        let both = ["topic1", "topic2"];
        check_sticky(
            &two_topics(3, 3),
            &[member("consumer1", &both), member("consumer2", &both)],
            &[
                (
                    "consumer1",
                    &[tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)],
                ),
                (
                    "consumer2",
                    &[tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)],
                ),
            ],
            &[],
        );
    }

    #[test]
    fn sticky_partition_claimed_by_two_members_of_one_generation() {
        // StickyAssignorTest / CooperativeStickyAssignorTest
        // testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultipleConsumersInSameGeneration
        // WithEqualPartitionsPerConsumer, and AbstractStickyAssignorTest
        // testPartitionsTransferringOwnershipIncludeThePartitionClaimedByMultipleConsumersInSameGeneration:
        // nobody keeps topic-0; the cooperative assignor withholds it from consumer3.
        check_sticky(
            &[("topic", 3)],
            &[
                sub(
                    "consumer1",
                    &["topic"],
                    &[tp("topic", 0), tp("topic", 1)],
                    GENERATION,
                ),
                sub(
                    "consumer2",
                    &["topic"],
                    &[tp("topic", 0), tp("topic", 2)],
                    GENERATION,
                ),
                sub("consumer3", &["topic"], &[], GENERATION),
            ],
            &[
                ("consumer1", &[tp("topic", 1)]),
                ("consumer2", &[tp("topic", 2)]),
                ("consumer3", &[tp("topic", 0)]),
            ],
            &[(tp("topic", 0), "consumer3")],
        );
        // ...WithUnequalPartitionsPerConsumer
        check_sticky(
            &[("topic", 4)],
            &[
                sub(
                    "consumer1",
                    &["topic"],
                    &[tp("topic", 0), tp("topic", 1)],
                    GENERATION,
                ),
                sub(
                    "consumer2",
                    &["topic"],
                    &[tp("topic", 0), tp("topic", 2)],
                    GENERATION,
                ),
                sub("consumer3", &["topic"], &[], GENERATION),
            ],
            &[
                ("consumer1", &[tp("topic", 1), tp("topic", 3)]),
                ("consumer2", &[tp("topic", 2)]),
                ("consumer3", &[tp("topic", 0)]),
            ],
            &[(tp("topic", 0), "consumer3")],
        );
    }

    #[test]
    fn sticky_stale_and_missing_generations_lose_their_claims() {
        let both = ["topic", "topic2"];
        let claimed = [tp("topic", 0), tp("topic", 2), tp("topic2", 1)];
        let rest: &[TopicPartition] = &[tp("topic", 1), tp("topic2", 0), tp("topic2", 2)];
        // testOwnedPartitionsAreInvalidatedForConsumerWithStaleGeneration
        check_sticky(
            &[("topic", 3), ("topic2", 3)],
            &[
                sub("consumer1", &both, &claimed, Some(10)),
                sub("consumer2", &both, &claimed, Some(9)),
            ],
            &[("consumer1", &claimed), ("consumer2", rest)],
            &[],
        );
        // testOwnedPartitionsAreInvalidatedForConsumerWithNoGeneration
        check_sticky(
            &[("topic", 3), ("topic2", 3)],
            &[
                sub("consumer1", &both, &claimed, Some(10)),
                sub("consumer2", &both, &claimed, None),
            ],
            &[("consumer1", &claimed), ("consumer2", rest)],
            &[],
        );
        // testOwnedPartitionsAreInvalidatedForConsumerWithMultipleGeneration
        check_sticky(
            &[("topic", 3), ("topic2", 3)],
            &[
                sub(
                    "consumer1",
                    &both,
                    &[tp("topic", 0), tp("topic2", 1), tp("topic", 1)],
                    Some(10),
                ),
                sub(
                    "consumer2",
                    &both,
                    &[tp("topic", 0), tp("topic2", 1), tp("topic2", 2)],
                    Some(8),
                ),
            ],
            &[
                (
                    "consumer1",
                    &[tp("topic", 0), tp("topic2", 1), tp("topic", 1)],
                ),
                (
                    "consumer2",
                    &[tp("topic", 2), tp("topic2", 2), tp("topic2", 0)],
                ),
            ],
            &[],
        );
    }

    #[test]
    fn sticky_partitions_go_to_the_highest_generation() {
        // testEnsurePartitionsAssignedToHighestGeneration
        let all = ["topic", "topic2", "topic3"];
        check_sticky(
            &[("topic", 3), ("topic2", 3), ("topic3", 3)],
            &[
                sub(
                    "consumer1",
                    &all,
                    &[tp("topic", 0), tp("topic2", 0), tp("topic3", 0)],
                    Some(10),
                ),
                sub(
                    "consumer2",
                    &all,
                    &[tp("topic", 1), tp("topic2", 1), tp("topic3", 1)],
                    Some(9),
                ),
                sub(
                    "consumer3",
                    &all,
                    &[tp("topic2", 1), tp("topic3", 0), tp("topic3", 2)],
                    Some(8),
                ),
            ],
            &[
                (
                    "consumer1",
                    &[tp("topic", 0), tp("topic2", 0), tp("topic3", 0)],
                ),
                (
                    "consumer2",
                    &[tp("topic", 1), tp("topic2", 1), tp("topic3", 1)],
                ),
                (
                    "consumer3",
                    &[tp("topic", 2), tp("topic2", 2), tp("topic3", 2)],
                ),
            ],
            &[],
        );
    }

    #[test]
    fn sticky_negative_generation_is_no_generation() {
        // Kafka's Subscription stores a generation below zero as absent.
        let both = ["topic", "topic2"];
        let claimed = [tp("topic", 0), tp("topic", 2), tp("topic2", 1)];
        let t = [("topic", 3), ("topic2", 3)];
        for s in [Strategy::Sticky, Strategy::CooperativeSticky] {
            let with = |g| {
                [
                    sub("consumer1", &both, &claimed, Some(10)),
                    sub("consumer2", &["topic"], &claimed, g),
                ]
            };
            assert_eq!(run(s, &t, &with(Some(-1))), run(s, &t, &with(None)));
            assert_eq!(run(s, &t, &with(Some(-7))), run(s, &t, &with(None)));
        }
    }

    #[test]
    fn sticky_assignment_updated_for_deleted_topic() {
        // testAssignmentUpdatedForDeletedTopic, testNoExceptionThrownWhenOnlySubscribedTopicDeleted
        let got = run(
            Strategy::Sticky,
            &[("topic1", 1), ("topic3", 100)],
            &[member("consumer", &["topic1", "topic2", "topic3"])],
        );
        assert_eq!(got["consumer"].len(), 101);
        let members = [sub(
            "consumer",
            &["topic"],
            &[tp("topic", 0), tp("topic", 1), tp("topic", 2)],
            GENERATION,
        )];
        check_sticky(&[], &members, &[("consumer", &[])], &[]);
    }
}
