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
        Strategy::Range => range(&topics, members),
        Strategy::RoundRobin => round_robin(&topics, members),
        Strategy::Sticky | Strategy::CooperativeSticky => {
            let (mut assignment, transferring) = sticky(&topics, members);
            if strategy.is_cooperative() {
                // CooperativeStickyAssignor.adjustAssignment: a partition that changes owner is
                // only revoked in this round; its new member gets it in the next one.
                for (tp, consumer) in &transferring {
                    let list = assignment.get_mut(consumer).expect("member");
                    let at = list.iter().position(|p| p == tp).expect("assigned");
                    list.remove(at);
                }
            }
            assignment
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

/// A member as the sticky assignors read it: topics and owned partitions as sets, owned
/// partitions limited to ones that exist.
struct StickyMember<'a> {
    id: &'a str,
    /// Every subscribed topic, existing or not (Kafka compares these for "all equal").
    subscribed: BTreeSet<&'a str>,
    owned: Vec<TopicPartition>,
    generation: i32,
    generation_known: bool,
}

/// Kafka's `DEFAULT_GENERATION`, for members that report none.
const DEFAULT_GENERATION: i32 = -1;

type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// `AbstractStickyAssignor.assignPartitions`. Returns the assignment and the partitions that
/// change owner (partition -> new member), which the cooperative assignor withholds.
fn sticky(
    topics: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
) -> (Assignment, BTreeMap<TopicPartition, String>) {
    let members: Vec<StickyMember> = java_hash_map_order(members)
        .iter()
        .map(|m| {
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
        })
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

/// The order in which Java iterates a `HashMap<String, _>` keyed by the members' ids, built
/// with default capacity by inserting the members in the given order: by bucket of the
/// spread `String.hashCode` in the table size the map grew to, then by insertion order
/// within a bucket. (Java turns a bucket of eight or more entries into a tree when the table
/// has 64 buckets or more, which iterates differently; that needs eight member ids whose
/// hashes agree in their low bits and is not modelled.)
fn java_hash_map_order(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let capacity = java_hash_capacity(members.len());
    let mut order: Vec<&MemberSubscription> = members.iter().collect();
    order.sort_by_key(|m| java_bucket(java_string_hash(&m.member_id), capacity));
    order
}

/// The table size of a default `java.util.HashMap` (16 buckets, load factor 0.75) that has
/// held `entries` entries at most.
fn java_hash_capacity(entries: usize) -> usize {
    let mut capacity = 16;
    while entries > capacity / 4 * 3 {
        capacity *= 2;
    }
    capacity
}

/// Java's `String.hashCode`, over UTF-16 code units.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `TopicPartition.hashCode`.
fn java_partition_hash(tp: &TopicPartition) -> i32 {
    31i32
        .wrapping_mul(31i32.wrapping_add(tp.partition as i32))
        .wrapping_add(java_string_hash(&tp.topic))
}

/// The bucket `java.util.HashMap` puts a key with hash `h` in.
fn java_bucket(h: i32, capacity: usize) -> usize {
    let h = h as u32;
    ((h ^ (h >> 16)) as usize) & (capacity - 1)
}

/// A `java.util.HashSet<TopicPartition>` as far as its iteration order goes.
#[derive(Default)]
struct JavaHashSet {
    /// Members with the sequence number of their insertion.
    entries: Vec<(TopicPartition, u64)>,
    capacity: usize,
    inserted: u64,
}

impl JavaHashSet {
    fn insert(&mut self, tp: TopicPartition) {
        if self.entries.iter().any(|(p, _)| *p == tp) {
            return;
        }
        self.entries.push((tp, self.inserted));
        self.inserted += 1;
        self.capacity = self.capacity.max(java_hash_capacity(self.entries.len()));
    }

    fn remove(&mut self, tp: &TopicPartition) {
        self.entries.retain(|(p, _)| p != tp);
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What `iterator().next()` returns.
    fn first(&self) -> Option<&TopicPartition> {
        self.entries
            .iter()
            .min_by_key(|(tp, seq)| (java_bucket(java_partition_hash(tp), self.capacity), *seq))
            .map(|(tp, _)| tp)
    }
}

/// Each member's still valid claims, after `allSubscriptionsEqual` settled partitions that
/// several members claim.
struct Claims {
    /// Member id -> the partitions it keeps claiming, in the order it listed them.
    owned: Assignment,
    /// Partitions claimed by two members of the same generation: nobody keeps them.
    multiple: BTreeSet<TopicPartition>,
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
fn partitions_of<'a>(
    topics: impl IntoIterator<Item = &'a str>,
    counts: &BTreeMap<String, u32>,
) -> Vec<TopicPartition> {
    topics
        .into_iter()
        .flat_map(|t| (0..counts[t]).map(move |p| TopicPartition::new(t, p)))
        .collect()
}

/// `ConstrainedAssignmentBuilder`, for groups whose members all subscribe to the same topics:
/// every member keeps up to its quota of what it owned, then the rest is dealt round-robin to
/// the members below quota.
fn constrained(
    topics: &BTreeMap<String, u32>,
    members: &[StickyMember],
    claims: Claims,
) -> (Assignment, BTreeMap<TopicPartition, String>) {
    let Claims { owned, multiple } = claims;
    let total: usize = topics.values().map(|&n| n as usize).sum();
    let n = members.len();
    let min_quota = total / n;
    let max_quota = total.div_ceil(n);
    let expected_over_min = total % n;
    let mut over_min = 0;

    let mut assignment: Assignment = members
        .iter()
        .map(|m| (m.id.to_string(), Vec::new()))
        .collect();
    let mut assigned: BTreeSet<TopicPartition> = BTreeSet::new();
    let mut maybe_revoked: BTreeMap<TopicPartition, String> = BTreeMap::new();
    let mut under_min: Vec<String> = Vec::new();
    let mut exactly_min: Vec<String> = Vec::new();

    // assignOwnedPartitions, in Java hash order of the members.
    for member in members {
        let consumer = &member.id.to_string();
        let claimed = &owned[consumer];
        let mut keep: Vec<TopicPartition> = claimed.clone();
        keep.sort_by(|a, b| {
            a.partition
                .cmp(&b.partition)
                .then_with(|| a.topic.cmp(&b.topic))
        });
        keep.retain(|tp| !multiple.contains(tp));
        let list = assignment.get_mut(consumer).expect("member");
        let kept = if keep.len() < min_quota {
            under_min.push(consumer.clone());
            keep.len()
        } else if keep.len() >= max_quota && over_min < expected_over_min {
            over_min += 1;
            if over_min == expected_over_min {
                exactly_min.clear();
            }
            max_quota
        } else {
            if over_min < expected_over_min {
                exactly_min.push(consumer.clone());
            }
            min_quota
        };
        for tp in keep.drain(kept..) {
            maybe_revoked.insert(tp, consumer.clone());
        }
        assigned.extend(keep.iter().cloned());
        list.extend(keep);
    }

    let unassigned: Vec<TopicPartition> = partitions_of(topics.keys().map(String::as_str), topics)
        .into_iter()
        .filter(|tp| !assigned.contains(tp))
        .collect();
    under_min.sort();
    exactly_min.sort();

    // assignRoundRobin: deal to the members under minQuota in turn; once they all have
    // minQuota, to the members at minQuota that may still take one more.
    let mut transferring = BTreeMap::new();
    let mut cursor = 0;
    for tp in unassigned {
        let consumer = if cursor < under_min.len() {
            cursor += 1;
            under_min[cursor - 1].clone()
        } else if under_min.is_empty() {
            assert!(
                !exactly_min.is_empty(),
                "no more unfilled consumers to be assigned"
            );
            exactly_min.remove(0)
        } else {
            cursor = 1;
            under_min[0].clone()
        };
        let list = assignment.get_mut(&consumer).expect("member");
        list.push(tp.clone());
        let count = list.len();
        if maybe_revoked
            .get(&tp)
            .is_some_and(|owner| *owner != consumer)
            || multiple.contains(&tp)
        {
            transferring.insert(tp, consumer.clone());
        }
        if count == min_quota {
            // The consumer came from `under_min` at `cursor - 1`.
            cursor -= 1;
            under_min.remove(cursor);
            exactly_min.push(consumer);
        } else if count == max_quota {
            over_min += 1;
        }
    }

    // verifyUnfilledMembers
    for consumer in &under_min {
        assert_eq!(over_min, expected_over_min, "members left under minQuota");
        assert_eq!(
            assignment[consumer].len(),
            min_quota,
            "{consumer} under minQuota"
        );
    }
    (assignment, transferring)
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
struct General<'a> {
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
    fn new(
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

    fn build(mut self, members: &[StickyMember]) -> Assignment {
        // prepopulateCurrentAssignments: the latest owner from an older generation.
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
    // ---- Sticky and cooperative-sticky: AbstractStickyAssignorTest, StickyAssignorTest and
    // CooperativeStickyAssignorTest.

    const GENERATION: Option<i32> = Some(1);

    fn sub(
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

    fn sorted(mut v: Vec<TopicPartition>) -> Vec<TopicPartition> {
        v.sort();
        v
    }

    /// Kafka's `getCanonicalName`: `t01`..`t19` for `maxNum` 20.
    fn canonical(prefix: &str, i: usize, max: usize) -> String {
        format!("{prefix}{i:0width$}", width = max.to_string().len())
    }

    /// The members again, each now owning what `assignment` gave it, in `generation`.
    fn owning(
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

    fn is_fully_balanced(assignment: &BTreeMap<String, Vec<TopicPartition>>) -> bool {
        let sizes = assignment.values().map(Vec::len);
        sizes.clone().max().unwrap_or(0) - sizes.min().unwrap_or(0) <= 1
    }

    /// `verifyValidityAndBalance`: members get only partitions of topics they subscribe to, no
    /// partition twice, and two members whose loads differ by two or more share no topic.
    fn verify_validity_and_balance(
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
    fn assert_sticky(before: &[MemberSubscription], after: &BTreeMap<String, Vec<TopicPartition>>) {
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
    fn cooperative_rounds(
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
    fn check_sticky(
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

    /// Both sticky assignors: valid and balanced; the cooperative one settles.
    fn check_valid(
        t: &[(&str, u32)],
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let got = run(Strategy::Sticky, t, members);
        verify_validity_and_balance(members, &got);
        cooperative_rounds(t, members);
        got
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
    fn java_hash_order() {
        // "consumerN" land in buckets 12, 11 and 10 of a 16-bucket Java HashMap.
        assert_eq!(java_string_hash("consumer1"), -421_004_549);
        assert_eq!(java_bucket(java_string_hash("consumer1"), 16), 12);
        let members = [
            member("consumer1", &[]),
            member("consumer2", &[]),
            member("consumer3", &[]),
        ];
        let order: Vec<&str> = java_hash_map_order(&members)
            .iter()
            .map(|m| m.member_id.as_str())
            .collect();
        assert_eq!(order, ["consumer3", "consumer2", "consumer1"]);
        assert_eq!(java_hash_capacity(12), 16);
        assert_eq!(java_hash_capacity(13), 32);
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
