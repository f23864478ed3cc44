//! Helpers the assignors' tests share: Kafka's test fixtures (`topic1`, `consumer1`, ...) and
//! the checks its sticky assignor tests make after every rebalance.

use super::*;
use std::collections::BTreeSet;

pub(super) const GENERATION: Option<i32> = Some(1);

pub(super) fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

pub(super) fn member(id: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription {
        member_id: id.to_string(),
        group_instance_id: None,
        topics: topics.iter().map(|t| t.to_string()).collect(),
        owned_partitions: Vec::new(),
        generation: None,
    }
}

pub(super) fn static_member(id: &str, instance: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription {
        group_instance_id: Some(instance.to_string()),
        ..member(id, topics)
    }
}

pub(super) fn topics(counts: &[(&str, u32)]) -> BTreeMap<String, u32> {
    counts.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

pub(super) fn expect(
    entries: &[(&str, &[TopicPartition])],
) -> BTreeMap<String, Vec<TopicPartition>> {
    entries
        .iter()
        .map(|(m, ps)| (m.to_string(), ps.to_vec()))
        .collect()
}

pub(super) fn run(
    s: Strategy,
    t: &[(&str, u32)],
    members: &[MemberSubscription],
) -> BTreeMap<String, Vec<TopicPartition>> {
    assign(s, &topics(t), members)
}

/// Kafka's tests put two topics `topic1` and `topic2` in the metadata.
pub(super) fn two_topics(n1: u32, n2: u32) -> Vec<(&'static str, u32)> {
    vec![("topic1", n1), ("topic2", n2)]
}

/// The assignment keyed by group instance id, for members that all have one.
pub(super) fn by_instance(
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
pub(super) fn check_persistent_after_member_id_changes(
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

pub(super) fn sub(
    id: &str,
    topics: &[&str],
    owned: &[TopicPartition],
    generation: Option<i32>,
) -> MemberSubscription {
    MemberSubscription {
        owned_partitions: owned.to_vec(),
        generation,
        ..member(id, topics)
    }
}

pub(super) fn sorted(mut v: Vec<TopicPartition>) -> Vec<TopicPartition> {
    v.sort();
    v
}

/// Kafka's `getCanonicalName`: `t01`..`t19` for `maxNum` 20.
pub(super) fn canonical(prefix: &str, i: usize, max: usize) -> String {
    format!("{prefix}{i:0width$}", width = max.to_string().len())
}

/// The members again, each now owning what `assignment` gave it, in `generation`.
pub(super) fn owning(
    members: &[MemberSubscription],
    assignment: &BTreeMap<String, Vec<TopicPartition>>,
    generation: Option<i32>,
) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|m| MemberSubscription {
            owned_partitions: assignment[&m.member_id].clone(),
            generation,
            ..m.clone()
        })
        .collect()
}

pub(super) fn is_fully_balanced(assignment: &BTreeMap<String, Vec<TopicPartition>>) -> bool {
    let sizes = assignment.values().map(Vec::len);
    sizes.clone().max().unwrap_or(0) - sizes.min().unwrap_or(0) <= 1
}

/// `verifyValidityAndBalance`: members get only partitions of topics they subscribe to, no
/// partition twice, and two members whose loads differ by two or more share no topic.
pub(super) fn verify_validity_and_balance(
    members: &[MemberSubscription],
    assignment: &BTreeMap<String, Vec<TopicPartition>>,
) {
    assert_eq!(members.len(), assignment.len());
    let by_id: BTreeMap<&str, &MemberSubscription> =
        members.iter().map(|m| (m.member_id.as_str(), m)).collect();
    let consumers: Vec<&String> = assignment.keys().collect();
    for (i, c) in consumers.iter().enumerate() {
        let mine = &assignment[*c];
        for tp in mine {
            assert!(
                by_id[c.as_str()].subscribes(&tp.topic),
                "{tp} assigned to {c}: {assignment:?}"
            );
        }
        for other in &consumers[i + 1..] {
            let theirs = &assignment[*other];
            assert!(
                mine.iter().all(|tp| !theirs.contains(tp)),
                "{c} and {other} share: {assignment:?}"
            );
            if mine.len().abs_diff(theirs.len()) <= 1 {
                continue;
            }
            let my_topics: BTreeSet<&str> = mine.iter().map(|tp| tp.topic.as_str()).collect();
            assert!(
                theirs
                    .iter()
                    .all(|tp| !my_topics.contains(tp.topic.as_str())),
                "{c} and {other} could balance better: {assignment:?}"
            );
        }
    }
}

/// `PartitionMovements.isSticky`: no two members swapped partitions of the same topic.
pub(super) fn assert_sticky(
    before: &[MemberSubscription],
    after: &BTreeMap<String, Vec<TopicPartition>>,
) {
    let mut moves: BTreeSet<(String, String, String)> = BTreeSet::new();
    for m in before {
        for tp in &m.owned_partitions {
            for (to, list) in after {
                if *to != m.member_id && list.contains(tp) {
                    moves.insert((tp.topic.clone(), m.member_id.clone(), to.clone()));
                }
            }
        }
    }
    for (topic, from, to) in &moves {
        assert!(
            !moves.contains(&(topic.clone(), to.clone(), from.clone())),
            "{topic} moved both ways between {from} and {to}"
        );
    }
}

/// The cooperative side of Kafka's checks (CooperativeStickyAssignorTest's
/// `verifyValidityAndBalance`): no partition is revoked from one member and given to another
/// in the same rebalance; rebalance again, each member owning what it was given, until
/// nothing is revoked (at most four more rounds); the final assignment is valid and balanced.
pub(super) fn cooperative_rounds(
    t: &[(&str, u32)],
    members: &[MemberSubscription],
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut members = members.to_vec();
    for _ in 0..5 {
        let got = run(Strategy::CooperativeSticky, t, &members);
        let mut added = BTreeSet::new();
        let mut revoked = BTreeSet::new();
        for m in &members {
            let assigned = &got[&m.member_id];
            added.extend(
                assigned
                    .iter()
                    .filter(|tp| !m.owned_partitions.contains(tp))
                    .cloned(),
            );
            revoked.extend(
                m.owned_partitions
                    .iter()
                    .filter(|tp| !assigned.contains(tp))
                    .cloned(),
            );
        }
        assert!(
            added.is_disjoint(&revoked),
            "revoked and reassigned at once: {:?}",
            added.intersection(&revoked).collect::<Vec<_>>()
        );
        if revoked.is_empty() {
            verify_validity_and_balance(&members, &got);
            return got;
        }
        members = owning(&members, &got, GENERATION);
    }
    panic!("cooperative rebalances did not settle");
}

/// Runs the eager sticky assignor and checks Kafka's exact result; then the cooperative one,
/// which must give the same minus the partitions Kafka reports as transferring ownership.
pub(super) fn check_sticky(
    t: &[(&str, u32)],
    members: &[MemberSubscription],
    expected: &[(&str, &[TopicPartition])],
    transferring: &[(TopicPartition, &str)],
) -> BTreeMap<String, Vec<TopicPartition>> {
    let expected: BTreeMap<String, Vec<TopicPartition>> = expected
        .iter()
        .map(|(m, ps)| (m.to_string(), sorted(ps.to_vec())))
        .collect();
    let got = run(Strategy::Sticky, t, members);
    assert_eq!(got, expected, "sticky");
    verify_validity_and_balance(members, &got);
    let mut withheld = expected.clone();
    for (tp, consumer) in transferring {
        withheld.get_mut(*consumer).unwrap().retain(|p| p != tp);
    }
    assert_eq!(
        run(Strategy::CooperativeSticky, t, members),
        withheld,
        "cooperative-sticky"
    );
    cooperative_rounds(t, members);
    got
}

/// Both sticky assignors: valid and balanced; the cooperative one settles.
pub(super) fn check_valid(
    t: &[(&str, u32)],
    members: &[MemberSubscription],
) -> BTreeMap<String, Vec<TopicPartition>> {
    let got = run(Strategy::Sticky, t, members);
    verify_validity_and_balance(members, &got);
    cooperative_rounds(t, members);
    got
}
