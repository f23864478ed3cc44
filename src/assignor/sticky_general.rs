//! Kafka's `AbstractStickyAssignor.GeneralAssignmentBuilder`: the sticky algorithm when members
//! subscribe to different topics, with `PartitionMovements` to keep it sticky.

use super::java_hash::JavaHashSet;
use super::sticky_core::{partitions_of, Assignment, StickyMember, DEFAULT_GENERATION};
use crate::types::TopicPartition;
use std::collections::{BTreeMap, BTreeSet};

/// `PartitionMovements`: where each partition moved during this rebalance, so a partition
/// moved back and forth between two members counts as not moved.
#[derive(Default)]
struct Movements {
    /// Topic -> (from, to) -> partitions of the topic that moved so.
    by_topic: BTreeMap<String, BTreeMap<(String, String), JavaHashSet>>,
    /// Partition -> (first owner this rebalance, current owner).
    by_partition: BTreeMap<TopicPartition, (String, String)>,
}

impl Movements {
    fn remove_record(&mut self, tp: &TopicPartition) -> (String, String) {
        let pair = self.by_partition.remove(tp).expect("moved partition");
        let topic = self.by_topic.get_mut(&tp.topic).expect("topic");
        let set = topic.get_mut(&pair).expect("pair");
        set.remove(tp);
        if set.is_empty() {
            topic.remove(&pair);
        }
        if topic.is_empty() {
            self.by_topic.remove(&tp.topic);
        }
        pair
    }

    fn add_record(&mut self, tp: &TopicPartition, pair: (String, String)) {
        self.by_partition.insert(tp.clone(), pair.clone());
        self.by_topic
            .entry(tp.topic.clone())
            .or_default()
            .entry(pair)
            .or_default()
            .insert(tp.clone());
    }

    fn move_partition(&mut self, tp: &TopicPartition, old: &str, new: &str) {
        if self.by_partition.contains_key(tp) {
            let (src, dst) = self.remove_record(tp);
            assert_eq!(dst, old);
            if src != new {
                self.add_record(tp, (src, new.to_string()));
            }
        } else {
            self.add_record(tp, (old.to_string(), new.to_string()));
        }
    }

    /// `getTheActualPartitionToBeMoved`: rather than move `tp` from `old` to `new`, move back
    /// a partition of the same topic that went from `new` to `old` earlier: the first one
    /// Java's `HashSet` iterates.
    fn actual_partition_to_move(
        &self,
        tp: &TopicPartition,
        old: &str,
        new: &str,
    ) -> TopicPartition {
        let Some(topic) = self.by_topic.get(&tp.topic) else {
            return tp.clone();
        };
        let mut old = old.to_string();
        if let Some((src, dst)) = self.by_partition.get(tp) {
            assert_eq!(*dst, old);
            old = src.clone();
        }
        match topic.get(&(new.to_string(), old)) {
            Some(set) => set.first().expect("non-empty").clone(),
            None => tp.clone(),
        }
    }
}

/// `GeneralAssignmentBuilder`, for groups whose members subscribe to different topics.
pub(super) struct General<'a> {
    counts: &'a BTreeMap<String, u32>,
    /// Topic -> the members subscribed to it.
    topic_consumers: BTreeMap<String, Vec<String>>,
    /// Member -> the existing topics it subscribes to.
    consumer_topics: BTreeMap<String, BTreeSet<String>>,
    current: Assignment,
    owner: BTreeMap<TopicPartition, String>,
    /// Members by (number of partitions, member id): Kafka's `sortedCurrentSubscriptions`.
    by_load: BTreeSet<(usize, String)>,
    /// All partitions, topics with fewer potential consumers first.
    sorted_partitions: Vec<TopicPartition>,
    movements: Movements,
    revocation_required: bool,
}

impl<'a> General<'a> {
    pub(super) fn new(
        counts: &'a BTreeMap<String, u32>,
        members: &[StickyMember],
        current: Assignment,
    ) -> Self {
        let mut topic_consumers: BTreeMap<String, Vec<String>> =
            counts.keys().map(|t| (t.clone(), Vec::new())).collect();
        let mut consumer_topics = BTreeMap::new();
        for member in members {
            let mut subscribed = BTreeSet::new();
            for &topic in &member.subscribed {
                if let Some(list) = topic_consumers.get_mut(topic) {
                    list.push(member.id.to_string());
                    subscribed.insert(topic.to_string());
                }
            }
            consumer_topics.insert(member.id.to_string(), subscribed);
        }
        let mut sorted_topics: Vec<&str> = counts.keys().map(String::as_str).collect();
        sorted_topics.sort_by_key(|t| (topic_consumers[*t].len(), *t));
        let sorted_partitions = partitions_of(sorted_topics, counts);
        General {
            counts,
            topic_consumers,
            consumer_topics,
            current,
            owner: BTreeMap::new(),
            by_load: BTreeSet::new(),
            sorted_partitions,
            movements: Movements::default(),
            revocation_required: false,
        }
    }

    pub(super) fn build(mut self, members: &[StickyMember]) -> Assignment {
        let previous = previous_owners(members);

        // assignOwnedPartitions: keep what each member owns of the topics it still subscribes to.
        let mut assigned = BTreeSet::new();
        for (consumer, list) in self.current.iter_mut() {
            let topics = &self.consumer_topics[consumer];
            let before = list.len();
            list.retain(|tp| topics.contains(&tp.topic));
            if list.len() != before {
                self.revocation_required = true;
            }
            for tp in list.iter() {
                self.owner.insert(tp.clone(), consumer.clone());
                assigned.insert(tp.clone());
            }
        }
        let mut unassigned: Vec<TopicPartition> = self
            .sorted_partitions
            .iter()
            .filter(|tp| !assigned.contains(*tp))
            .cloned()
            .collect();
        self.by_load = self
            .current
            .iter()
            .map(|(c, l)| (l.len(), c.clone()))
            .collect();

        // balance
        let initializing = self.by_load.last().is_none_or(|(n, _)| *n == 0);
        for tp in &unassigned {
            if !self.topic_consumers[&tp.topic].is_empty() {
                let consumer = self.least_loaded_subscriber(&tp.topic);
                self.by_load
                    .remove(&(self.current[&consumer].len(), consumer.clone()));
                self.current
                    .get_mut(&consumer)
                    .expect("member")
                    .push(tp.clone());
                self.owner.insert(tp.clone(), consumer.clone());
                self.by_load
                    .insert((self.current[&consumer].len(), consumer));
            }
        }

        // Only partitions of topics with two or more potential consumers can move.
        let movable =
            |tp: &TopicPartition, tc: &BTreeMap<String, Vec<String>>| tc[&tp.topic].len() >= 2;
        self.sorted_partitions
            .retain(|tp| movable(tp, &self.topic_consumers));
        unassigned.retain(|tp| movable(tp, &self.topic_consumers));

        // Only members that could take or give up a partition take part.
        let mut fixed = BTreeMap::new();
        let consumers: Vec<String> = self.consumer_topics.keys().cloned().collect();
        for consumer in consumers {
            if !self.can_participate(&consumer) {
                self.by_load
                    .remove(&(self.current[&consumer].len(), consumer.clone()));
                let list = self.current.remove(&consumer).expect("member");
                fixed.insert(consumer, list);
            }
        }

        let pre_balance = self.current.clone();
        let pre_balance_owner = self.owner.clone();
        if !self.revocation_required {
            self.perform_reassignments(&unassigned, &previous);
        }
        let sorted_partitions = std::mem::take(&mut self.sorted_partitions);
        let reassigned = self.perform_reassignments(&sorted_partitions, &previous);
        if !initializing
            && reassigned
            && balance_score(&self.current) >= balance_score(&pre_balance)
        {
            self.current = pre_balance;
            self.owner = pre_balance_owner;
        }
        self.current.extend(fixed);
        self.current
    }

    fn least_loaded_subscriber(&self, topic: &str) -> String {
        self.by_load
            .iter()
            .find(|(_, c)| self.consumer_topics[c].contains(topic))
            .map(|(_, c)| c.clone())
            .expect("a member subscribes to the topic")
    }

    fn max_assignment_size(&self, consumer: &str) -> usize {
        self.consumer_topics[consumer]
            .iter()
            .map(|t| self.counts[t] as usize)
            .sum()
    }

    fn can_participate(&self, consumer: &str) -> bool {
        let list = &self.current[consumer];
        list.len() < self.max_assignment_size(consumer)
            || list
                .iter()
                .any(|tp| self.topic_consumers[&tp.topic].len() >= 2)
    }

    fn load(&self, consumer: &str) -> Option<usize> {
        self.current.get(consumer).map(Vec::len)
    }

    /// `isBalanced`: loads differ by at most one, or no member could take a partition from a
    /// member with two or more partitions more than it has.
    fn is_balanced(&self) -> bool {
        let (Some((min, _)), Some((max, _))) = (self.by_load.first(), self.by_load.last()) else {
            return true;
        };
        if min + 1 >= *max {
            return true;
        }
        for (count, consumer) in &self.by_load {
            if *count == self.max_assignment_size(consumer) {
                continue;
            }
            for topic in &self.consumer_topics[consumer] {
                for p in 0..self.counts[topic] {
                    let tp = TopicPartition::new(topic.clone(), p);
                    let owner = self.owner.get(&tp);
                    if owner == Some(consumer) {
                        continue;
                    }
                    let other = owner.and_then(|o| self.load(o));
                    if other.is_some_and(|other| count + 1 < other) {
                        return false;
                    }
                }
            }
        }
        true
    }

    fn perform_reassignments(
        &mut self,
        partitions: &[TopicPartition],
        previous: &BTreeMap<TopicPartition, (String, i32)>,
    ) -> bool {
        let mut performed = false;
        // `is_balanced` is a function of the assignment, so its answer holds until the next
        // move (Kafka asks again before every partition).
        let mut balanced = None;
        loop {
            let mut modified = false;
            for tp in partitions {
                if *balanced.get_or_insert_with(|| self.is_balanced()) {
                    break;
                }
                let consumer = self.owner[tp].clone();
                let load = self.current[&consumer].len();
                if let Some((previous_owner, _)) = previous.get(tp) {
                    let subscribed = self.consumer_topics[previous_owner].contains(&tp.topic);
                    let previous_load = self.load(previous_owner);
                    if subscribed && previous_load.is_some_and(|p| load > p + 1) {
                        let previous_owner = previous_owner.clone();
                        self.reassign(tp, &previous_owner);
                        balanced = None;
                        performed = true;
                        modified = true;
                        continue;
                    }
                }
                let better = self.topic_consumers[&tp.topic]
                    .iter()
                    .any(|other| self.load(other).is_some_and(|o| load > o + 1));
                if better {
                    let new = self.least_loaded_subscriber(&tp.topic);
                    self.reassign(tp, &new);
                    balanced = None;
                    performed = true;
                    modified = true;
                }
            }
            if !modified {
                return performed;
            }
        }
    }

    fn reassign(&mut self, tp: &TopicPartition, new: &str) {
        let consumer = self.owner[tp].clone();
        let tp = self.movements.actual_partition_to_move(tp, &consumer, new);
        // processPartitionMovement
        let old = self.owner[&tp].clone();
        self.by_load
            .remove(&(self.current[&old].len(), old.clone()));
        self.by_load
            .remove(&(self.current[new].len(), new.to_string()));
        self.movements.move_partition(&tp, &old, new);
        self.current
            .get_mut(&old)
            .expect("member")
            .retain(|p| *p != tp);
        self.current.get_mut(new).expect("member").push(tp.clone());
        self.owner.insert(tp, new.to_string());
        self.by_load
            .insert((self.current[new].len(), new.to_string()));
        self.by_load.insert((self.current[&old].len(), old));
    }
}

/// prepopulateCurrentAssignments: for each partition that members of an older generation
/// claim, the latest of them (member id, generation).
fn previous_owners(members: &[StickyMember]) -> BTreeMap<TopicPartition, (String, i32)> {
    let max_generation = members
        .iter()
        .map(|m| m.generation)
        .fold(DEFAULT_GENERATION, i32::max);
    let mut previous: BTreeMap<TopicPartition, (String, i32)> = BTreeMap::new();
    for member in members {
        let older = if member.generation_known {
            member.generation < max_generation
        } else {
            max_generation > DEFAULT_GENERATION
        };
        if older {
            for tp in &member.owned {
                let newer = previous.get(tp).is_none_or(|(_, g)| member.generation > *g);
                if newer {
                    previous.insert(tp.clone(), (member.id.to_string(), member.generation));
                }
            }
        }
    }
    previous
}

/// `getBalanceScore`: the sum over all pairs of members of the difference of their loads.
fn balance_score(assignment: &Assignment) -> usize {
    let loads: Vec<usize> = assignment.values().map(Vec::len).collect();
    let mut score = 0;
    for (i, a) in loads.iter().enumerate() {
        for b in &loads[i + 1..] {
            score += a.abs_diff(*b);
        }
    }
    score
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

    #[test]
    fn sticky_multiple_consumers_mixed_topic_subscriptions() {
        // testMultipleConsumersMixedTopicSubscriptions (the general algorithm)
        check_sticky(
            &two_topics(3, 2),
            &[
                member("consumer1", &["topic1"]),
                member("consumer2", &["topic1", "topic2"]),
                member("consumer3", &["topic1"]),
            ],
            &[
                ("consumer1", &[tp("topic1", 0), tp("topic1", 2)]),
                ("consumer2", &[tp("topic2", 0), tp("topic2", 1)]),
                ("consumer3", &[tp("topic1", 1)]),
            ],
            &[],
        );
    }

    #[test]
    fn sticky_poor_round_robin_scenario() {
        // testPoorRoundRobinAssignmentScenario
        let t: Vec<(String, u32)> = (1..=5)
            .map(|i| (format!("topic{i}"), (i % 2) + 1))
            .collect();
        let t: Vec<(&str, u32)> = t.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        let all = ["topic1", "topic2", "topic3", "topic4", "topic5"];
        let odd = ["topic1", "topic3", "topic5"];
        let members = [
            member("consumer1", &all),
            member("consumer2", &odd),
            member("consumer3", &odd),
            member("consumer4", &all),
        ];
        let got = run(Strategy::Sticky, &t, &members);
        verify_validity_and_balance(&members, &got);
        assert!(is_fully_balanced(&got));
    }

    #[test]
    fn sticky_reassignment_after_one_consumer_leaves() {
        // testReassignmentAfterOneConsumerLeaves: member i subscribes to topics 1..=i, topic i
        // has i partitions; then c10 leaves. The general algorithm must stay valid, balanced
        // and sticky.
        let names: Vec<String> = (1..20).map(|i| canonical("t", i, 20)).collect();
        let t: Vec<(&str, u32)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as u32 + 1))
            .collect();
        let members: Vec<MemberSubscription> = (1..20)
            .map(|i| {
                let topics: Vec<&str> = names[..i].iter().map(String::as_str).collect();
                member(&canonical("c", i, 20), &topics)
            })
            .collect();
        for s in [Strategy::Sticky, Strategy::CooperativeSticky] {
            let got = run(s, &t, &members);
            verify_validity_and_balance(&members, &got);
            let mut next = owning(&members, &got, GENERATION);
            next.retain(|m| m.member_id != "c10");
            let got = run(Strategy::Sticky, &t, &next);
            verify_validity_and_balance(&next, &got);
            assert_sticky(&next, &got);
            cooperative_rounds(&t, &next);
        }
    }

    #[test]
    fn sticky_same_partition_claimed_in_three_generations() {
        // testSubscriptionNotEqualAndAssignSamePartitionWith3Generation
        let t = [("topic", 6), ("topic1", 1)];
        for g in [
            [1, 2, 3],
            [1, 3, 2],
            [2, 1, 3],
            [2, 3, 1],
            [3, 1, 2],
            [3, 2, 1],
        ] {
            let members = [
                sub(
                    "consumer1",
                    &["topic"],
                    &[tp("topic", 0), tp("topic", 2)],
                    Some(g[0]),
                ),
                sub(
                    "consumer2",
                    &["topic"],
                    &[tp("topic", 1), tp("topic", 2), tp("topic", 3)],
                    Some(g[1]),
                ),
                sub(
                    "consumer3",
                    &["topic"],
                    &[tp("topic", 2), tp("topic", 4), tp("topic", 5)],
                    Some(g[2]),
                ),
                sub("consumer4", &["topic1"], &[tp("topic1", 0)], Some(2)),
            ];
            for s in [Strategy::Sticky, Strategy::CooperativeSticky] {
                let got = run(s, &t, &members);
                if s == Strategy::Sticky {
                    assert!(
                        got.values().all(|l| (1..=2).contains(&l.len())),
                        "{g:?}: {got:?}"
                    );
                }
            }
        }
    }
}
