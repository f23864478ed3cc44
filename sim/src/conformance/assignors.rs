//! The consumer's partition assignors: range, roundrobin, sticky and cooperative-sticky, as
//! the group leader runs them on its members' subscriptions.
//!
//! Cases: one to four topics of zero to eight partitions, one to seven members with
//! consumer-like member ids (their hash order is part of Kafka's answer), some static, each
//! subscribed to some topics (now and then one without metadata, as after a deletion), and
//! what they owned: nothing in a new group, else a previous assignment with generations (a
//! member may own partitions of a topic it no longer subscribes to), now and then a member of
//! an older generation claiming a partition someone else owns. Never a partition that does
//! not exist, nor two claims from one generation: no Kafka client sends those, and Kafka's
//! sticky assignors answer them with duplicates or an exception.

use super::Rule;
use kafka_model::assignor::{assign, MemberSubscription, Strategy};
use kafka_model::TopicPartition;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(super) struct Assignors;

// The kinds of difference `Assignors::explain` recognises:

/// Kafka's answer gives a member a partition of a topic it does not subscribe to.
pub(super) const STICKY_UNSUBSCRIBED_PARTITION: &str = "sticky-returns-unsubscribed-partition";

/// Kafka may judge a group whose only odd member subscribes to nothing as one where all
/// subscriptions are equal.
pub(super) const STICKY_EMPTY_SUBSCRIPTION: &str = "sticky-empty-subscription-missed";

/// Kafka throws a NullPointerException where a member of an older generation takes no part
/// in balancing.
pub(super) const STICKY_IDLE_PREVIOUS_OWNER: &str = "sticky-idle-previous-owner-fails";

#[derive(Serialize)]
pub(super) struct Case {
    strategy: &'static str,
    partitions_per_topic: BTreeMap<String, u32>,
    members: Vec<Member>,
}

#[derive(Serialize)]
struct Member {
    member_id: String,
    group_instance_id: Option<String>,
    topics: Vec<String>,
    owned: Vec<(String, u32)>,
    generation: Option<i32>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    assignment: BTreeMap<String, Vec<(String, u32)>>,
}

impl Rule for Assignors {
    type Case = Case;
    type Answer = Answer;

    fn generate(rng: &mut ChaCha8Rng) -> Case {
        let strategy = *Strategy::ALL.choose(rng).expect("strategies");
        let topics: Vec<String> = (0..rng.gen_range(1..=4))
            .map(|t| format!("topic-{t}"))
            .collect();
        let partitions_per_topic: BTreeMap<String, u32> = topics
            .iter()
            .map(|t| (t.clone(), rng.gen_range(0..=8)))
            .collect();
        let member_count = rng.gen_range(1..=7);
        let generation = rng.gen_range(1..=6);
        let fresh_group = rng.gen_bool(0.3);
        let mut members: Vec<Member> = (0..member_count)
            .map(|n| {
                let mut subscribed: Vec<String> = topics
                    .iter()
                    .filter(|_| rng.gen_bool(0.7))
                    .cloned()
                    .collect();
                if subscribed.is_empty() && rng.gen_bool(0.8) {
                    subscribed.push(topics.choose(rng).expect("a topic").clone());
                }
                if rng.gen_bool(0.05) {
                    subscribed.push("deleted-topic".into());
                }
                Member {
                    member_id: member_id(rng, n),
                    group_instance_id: rng.gen_bool(0.3).then(|| format!("instance-{n}")),
                    topics: subscribed,
                    owned: Vec::new(),
                    generation: None,
                }
            })
            .collect();
        if !fresh_group {
            previous_assignment(rng, &mut members, &partitions_per_topic, generation);
        }
        Case {
            strategy: strategy.name(),
            partitions_per_topic,
            members,
        }
    }

    /// The two places where the model's sticky assignors leave Kafka on purpose
    /// (`kafka_model::assignor`'s "Where this module differs from Kafka").
    fn explain(case: &Case, kafka: &str) -> Option<&'static str> {
        if !matches!(case.strategy, "sticky" | "cooperative-sticky") {
            return None;
        }
        let answer: serde_json::Value = serde_json::from_str(kafka).ok()?;
        if let Some(error) = answer.get("error").and_then(|e| e.as_str()) {
            let npe = error.starts_with("NullPointerException");
            return (npe && has_idle_previous_owner(case)).then_some(STICKY_IDLE_PREVIOUS_OWNER);
        }
        if empty_subscription_may_be_missed(case) {
            return Some(STICKY_EMPTY_SUBSCRIPTION);
        }
        let assignment = answer.get("assignment")?.as_object()?;
        let unsubscribed = assignment.iter().any(|(member_id, partitions)| {
            let Some(member) = case.members.iter().find(|m| m.member_id == *member_id) else {
                return false;
            };
            partitions.as_array().into_iter().flatten().any(|tp| {
                let topic = tp.get(0).and_then(|t| t.as_str()).unwrap_or_default();
                !member.topics.iter().any(|t| t == topic)
            })
        });
        unsubscribed.then_some(STICKY_UNSUBSCRIBED_PARTITION)
    }

    fn model(case: &Case) -> Answer {
        let strategy = Strategy::from_name(case.strategy).expect("a strategy");
        let members: Vec<MemberSubscription> = case
            .members
            .iter()
            .map(|m| MemberSubscription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                topics: m.topics.clone(),
                owned_partitions: m
                    .owned
                    .iter()
                    .map(|(t, p)| TopicPartition::new(t.clone(), *p))
                    .collect(),
                generation: m.generation,
            })
            .collect();
        let assignment = assign(strategy, &case.partitions_per_topic, &members)
            .into_iter()
            .map(|(member, partitions)| {
                let shown = partitions
                    .into_iter()
                    .map(|tp| (tp.topic.to_string(), tp.partition))
                    .collect();
                (member, shown)
            })
            .collect();
        Answer { assignment }
    }
}

/// Whether a member of an older generation owned partitions and takes no part in Kafka's
/// balancing (`GeneralAssignmentBuilder.canParticipateInReassignment`): each topic it
/// subscribes to has no partitions or no other subscriber, so it ends with all its potential
/// partitions and none of them can move. Kafka
/// takes such a member out of its current assignment before `performReassignments` looks
/// up the previous owners of the partitions it moves.
fn has_idle_previous_owner(case: &Case) -> bool {
    let newest = case.members.iter().filter_map(|m| m.generation).max();
    let subscribers = |topic: &str| {
        case.members
            .iter()
            .filter(|m| m.topics.iter().any(|t| t == topic))
            .count()
    };
    case.members.iter().any(|m| {
        let older = match (m.generation, newest) {
            (Some(g), Some(newest)) => g < newest,
            (None, Some(_)) => true,
            _ => false,
        };
        let idle = m.topics.iter().all(|t| {
            let partitions = case.partitions_per_topic.get(t).copied().unwrap_or(0);
            partitions == 0 || subscribers(t) == 1
        });
        !m.owned.is_empty() && older && idle
    })
}

/// Whether Kafka's `allSubscriptionsEqual` may miss a member that subscribes to nothing:
/// some member subscribes to nothing and all the others subscribe to the same topics. Kafka
/// starts its comparison set again from the next member after an empty one, so in some hash
/// orders it sees only equal subscriptions and takes the constrained algorithm.
fn empty_subscription_may_be_missed(case: &Case) -> bool {
    let mut subscribed = case.members.iter().filter(|m| !m.topics.is_empty());
    let first = subscribed.next().map(|m| sorted(&m.topics));
    let others_equal = subscribed.all(|m| Some(sorted(&m.topics)) == first);
    let some_empty = case.members.iter().any(|m| m.topics.is_empty());
    some_empty && others_equal
}

fn sorted(topics: &[String]) -> Vec<&str> {
    let mut topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    topics.sort_unstable();
    topics.dedup();
    topics
}

/// A member id as Kafka's group coordinator makes them (`client.id` + "-" + a UUID), or now
/// and then a short one.
fn member_id(rng: &mut ChaCha8Rng, n: usize) -> String {
    if rng.gen_bool(0.2) {
        return format!("m{n}");
    }
    format!(
        "consumer-app-{}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        n + 1,
        rng.gen::<u32>(),
        rng.gen::<u16>(),
        rng.gen::<u16>(),
        rng.gen::<u16>(),
        rng.gen::<u64>() & 0xffff_ffff_ffff
    )
}

/// What the members owned from the last rebalance: each existing partition went to one
/// member of `generation` (or to nobody); some members rejoin from an older generation and
/// still claim what they had then, and now and then a claim names a partition that is gone.
fn previous_assignment(
    rng: &mut ChaCha8Rng,
    members: &mut [Member],
    partitions_per_topic: &BTreeMap<String, u32>,
    generation: i32,
) {
    for m in members.iter_mut() {
        m.generation = match rng.gen_range(0..10) {
            0 => None,
            1 | 2 => Some(generation - 1),
            _ => Some(generation),
        };
    }
    for (topic, &count) in partitions_per_topic {
        for partition in 0..count {
            if rng.gen_bool(0.2) {
                continue;
            }
            let owner = rng.gen_range(0..members.len());
            if members[owner].generation.is_some() {
                members[owner].owned.push((topic.clone(), partition));
            }
            // A member of the older generation may still claim it (a zombie that missed the
            // last rebalance); two claims from one generation never happen.
            let older = rng.gen_range(0..members.len());
            if older != owner
                && members[owner].generation == Some(generation)
                && members[older].generation == Some(generation - 1)
                && rng.gen_bool(0.3)
            {
                members[older].owned.push((topic.clone(), partition));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str], owned: &[(&str, u32)], generation: Option<i32>) -> Member {
        Member {
            member_id: id.into(),
            group_instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            owned: owned.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
            generation,
        }
    }

    fn case(strategy: &'static str, topics: &[(&str, u32)], members: Vec<Member>) -> Case {
        Case {
            strategy,
            partitions_per_topic: topics.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
            members,
        }
    }

    const NPE: &str = r#"{"error":"NullPointerException: Cannot invoke"}"#;

    #[test]
    fn a_partition_given_to_a_member_not_subscribed_is_recognised_for_sticky_only() {
        let members = || {
            vec![
                member("m0", &["a"], &[], Some(2)),
                member("m1", &["b"], &[("a", 0)], Some(1)),
            ]
        };
        let kafka = r#"{"assignment":{"m0":[],"m1":[["a",0]]}}"#;
        let sticky = case("sticky", &[("a", 1), ("b", 1)], members());
        assert_eq!(
            Assignors::explain(&sticky, kafka),
            Some(STICKY_UNSUBSCRIBED_PARTITION)
        );
        let range = case("range", &[("a", 1), ("b", 1)], members());
        assert_eq!(Assignors::explain(&range, kafka), None);
        let fine = r#"{"assignment":{"m0":[["a",0]],"m1":[["b",0]]}}"#;
        assert_eq!(Assignors::explain(&sticky, fine), None);
    }

    #[test]
    fn a_null_pointer_is_recognised_only_with_an_idle_older_owner() {
        // m1 owned a partition of "a" in an older generation and subscribes only to "b",
        // which nobody else reads: it takes no part in balancing.
        let idle = case(
            "cooperative-sticky",
            &[("a", 2), ("b", 1)],
            vec![
                member("m0", &["a"], &[("a", 1)], Some(3)),
                member("m1", &["b"], &[("a", 0)], Some(2)),
                member("m2", &["a"], &[], Some(3)),
            ],
        );
        assert_eq!(
            Assignors::explain(&idle, NPE),
            Some(STICKY_IDLE_PREVIOUS_OWNER)
        );
        // The same member in the newest generation is no previous owner.
        let current = case(
            "cooperative-sticky",
            &[("a", 2), ("b", 1)],
            vec![
                member("m0", &["a"], &[("a", 1)], Some(3)),
                member("m1", &["b"], &[("a", 0)], Some(3)),
            ],
        );
        assert_eq!(Assignors::explain(&current, NPE), None);
    }

    #[test]
    fn an_empty_subscription_is_recognised_when_the_others_are_equal() {
        let equal = case(
            "sticky",
            &[("a", 2)],
            vec![
                member("m0", &[], &[], Some(1)),
                member("m1", &["a"], &[], Some(1)),
            ],
        );
        let kafka = r#"{"assignment":{"m0":[],"m1":[["a",0]]}}"#;
        assert_eq!(
            Assignors::explain(&equal, kafka),
            Some(STICKY_EMPTY_SUBSCRIPTION)
        );
        let unequal = case(
            "sticky",
            &[("a", 2), ("b", 1)],
            vec![
                member("m0", &[], &[], Some(1)),
                member("m1", &["a"], &[], Some(1)),
                member("m2", &["b"], &[], Some(1)),
            ],
        );
        assert_eq!(Assignors::explain(&unequal, kafka), None);
    }
}
