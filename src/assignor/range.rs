//! `range`: Kafka's `RangeAssignor`, the default assignor.

use super::{empty_assignment, member_order, MemberSubscription};
use crate::types::TopicPartition;
use std::collections::BTreeMap;

/// `RangeAssignor`: for each topic, its subscribers in member order each take
/// `partitions / subscribers` consecutive partitions, the first `partitions % subscribers`
/// of them one more.
pub(super) fn assign(
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

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
}
