//! `sticky`: Kafka's `StickyAssignor`, the sticky algorithm under the eager protocol.
//!
//! Every member gives up all its partitions when a rebalance starts, so the balanced, sticky
//! assignment of `sticky_core.rs` is handed out as it is.

use super::sticky_core::{assign_partitions, Assignment};
use super::MemberSubscription;
use std::collections::BTreeMap;

/// `StickyAssignor.assign`: the shared sticky algorithm's result, all of it.
pub(super) fn assign(topics: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
    let (assignment, _transferring) = assign_partitions(topics, members);
    assignment
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

    #[test]
    fn sticky_assignment_with_multiple_generations() {
        // StickyAssignorTest.testAssignmentWithMultipleGenerations1, for both algorithms
        for equal in [true, false] {
            let all = ["topic", "topic2"];
            let c2_topics: &[&str] = if equal { &all } else { &["topic"] };
            let t = [("topic", 6), ("topic2", 6)];
            let members = [
                member("consumer1", &all),
                member("consumer2", c2_topics),
                member("consumer3", &all),
            ];
            let r1 = run(Strategy::Sticky, &t, &members);
            assert!(r1.values().all(|l| l.len() == 4));
            verify_validity_and_balance(&members, &r1);

            let members = [
                sub("consumer1", &all, &r1["consumer1"], GENERATION),
                sub("consumer2", c2_topics, &r1["consumer2"], GENERATION),
            ];
            let r2 = run(Strategy::Sticky, &t, &members);
            assert!(r2.values().all(|l| l.len() == 6));
            if equal {
                assert!(r1["consumer1"]
                    .iter()
                    .all(|tp| r2["consumer1"].contains(tp)));
            }
            assert!(r1["consumer2"]
                .iter()
                .all(|tp| r2["consumer2"].contains(tp)));
            verify_validity_and_balance(&members, &r2);
            assert!(r1["consumer3"]
                .iter()
                .any(|tp| r2["consumer2"].contains(tp)));

            let members = [
                sub("consumer2", c2_topics, &r2["consumer2"], Some(2)),
                sub("consumer3", &all, &r1["consumer3"], Some(1)),
            ];
            let r3 = run(Strategy::Sticky, &t, &members);
            assert!(r3.values().all(|l| l.len() == 6));
            verify_validity_and_balance(&members, &r3);
        }

        // testAssignmentWithMultipleGenerations2
        for equal in [true, false] {
            let all = ["topic", "topic2", "topic3"];
            let c1_topics: &[&str] = if equal { &all } else { &["topic"] };
            let c3_topics: &[&str] = if equal { &all } else { &["topic", "topic2"] };
            let t = [("topic", 4), ("topic2", 4), ("topic3", 4)];
            let members = [
                member("consumer1", c1_topics),
                member("consumer2", &all),
                member("consumer3", c3_topics),
            ];
            let r1 = run(Strategy::Sticky, &t, &members);
            assert!(r1.values().all(|l| l.len() == 4));
            let members = [sub("consumer2", &all, &r1["consumer2"], Some(1))];
            let r2 = run(Strategy::Sticky, &t, &members);
            assert_eq!(r2["consumer2"].len(), 12);
            let members = [
                sub("consumer1", c1_topics, &r1["consumer1"], Some(1)),
                sub("consumer2", &all, &r2["consumer2"], Some(2)),
                sub("consumer3", c3_topics, &r1["consumer3"], Some(1)),
            ];
            let r3 = run(Strategy::Sticky, &t, &members);
            assert!(r3.values().all(|l| l.len() == 4), "{r3:?}");
            verify_validity_and_balance(&members, &r3);
        }
    }

    #[test]
    fn sticky_assignment_with_conflicting_previous_generations() {
        // StickyAssignorTest.testAssignmentWithConflictingPreviousGenerations
        for equal in [true, false] {
            let all = ["topic", "topic2", "topic3"];
            let c1_topics: &[&str] = if equal { &all } else { &["topic"] };
            let c2_topics: &[&str] = if equal { &all } else { &["topic", "topic2"] };
            let t = [("topic", 4), ("topic2", 4), ("topic3", 4)];
            let c1: Vec<TopicPartition> = if equal {
                vec![
                    tp("topic", 0),
                    tp("topic", 1),
                    tp("topic", 2),
                    tp("topic2", 2),
                    tp("topic2", 3),
                    tp("topic3", 0),
                ]
            } else {
                vec![
                    tp("topic", 0),
                    tp("topic", 1),
                    tp("topic", 2),
                    tp("topic", 3),
                ]
            };
            let c2 = [
                tp("topic", 0),
                tp("topic", 1),
                tp("topic2", 0),
                tp("topic2", 1),
                tp("topic2", 2),
                tp("topic2", 3),
            ];
            let c3 = [
                tp("topic", 2),
                tp("topic", 3),
                tp("topic3", 0),
                tp("topic3", 1),
                tp("topic3", 2),
                tp("topic3", 3),
            ];
            let members = [
                sub("consumer1", c1_topics, &c1, Some(1)),
                sub("consumer2", c2_topics, &c2, Some(2)),
                sub("consumer3", &all, &c3, Some(2)),
            ];
            let got = run(Strategy::Sticky, &t, &members);
            assert!(got.values().all(|l| l.len() == 4), "{got:?}");
            assert!(got["consumer2"].iter().all(|tp| c2.contains(tp)));
            assert!(got["consumer3"].iter().all(|tp| c3.contains(tp)));
            verify_validity_and_balance(&members, &got);
        }
    }
}
