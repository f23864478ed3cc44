//! `roundrobin`: Kafka's `RoundRobinAssignor`.

use super::{empty_assignment, member_order, MemberSubscription};
use crate::types::TopicPartition;
use std::collections::BTreeMap;

/// `RoundRobinAssignor`: all partitions of all subscribed topics sorted by topic then
/// partition, dealt in turn to the members in member order; a member not subscribed to a
/// partition's topic is skipped and the turn passes on (Kafka's `CircularIterator`).
pub(super) fn assign(
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

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
