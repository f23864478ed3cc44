//! Java's hash order, which some steps of Kafka's sticky assignors depend on (see "Hash order"
//! in the module docs of `assignor`).

use super::MemberSubscription;
use crate::types::TopicPartition;

/// The order in which Java iterates a `HashMap<String, _>` keyed by the members' ids, built
/// with default capacity by inserting the members in the given order: by bucket of the
/// spread `String.hashCode` in the table size the map grew to, then by insertion order
/// within a bucket. (Java turns a bucket of eight or more entries into a tree when the table
/// has 64 buckets or more, which iterates differently; that needs eight member ids whose
/// hashes agree in their low bits and is not modelled.)
pub(super) fn java_hash_map_order(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let capacity = java_hash_capacity(members.len());
    let mut order: Vec<&MemberSubscription> = members.iter().collect();
    order.sort_by_key(|m| java_bucket(java_string_hash(&m.member_id), capacity));
    order
}

/// The table size of a default `java.util.HashMap` (16 buckets, load factor 0.75) that has
/// held `entries` entries at most.
pub(super) fn java_hash_capacity(entries: usize) -> usize {
    let mut capacity = 16;
    while entries > capacity / 4 * 3 {
        capacity *= 2;
    }
    capacity
}

/// Java's `String.hashCode`, over UTF-16 code units.
pub(super) fn java_string_hash(s: &str) -> i32 {
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
pub(super) fn java_bucket(h: i32, capacity: usize) -> usize {
    let h = h as u32;
    ((h ^ (h >> 16)) as usize) & (capacity - 1)
}

/// A `java.util.HashSet<TopicPartition>` as far as its iteration order goes.
#[derive(Default)]
pub(super) struct JavaHashSet {
    /// Members with the sequence number of their insertion.
    entries: Vec<(TopicPartition, u64)>,
    capacity: usize,
    inserted: u64,
}

impl JavaHashSet {
    pub(super) fn insert(&mut self, tp: TopicPartition) {
        if self.entries.iter().any(|(p, _)| *p == tp) {
            return;
        }
        self.entries.push((tp, self.inserted));
        self.inserted += 1;
        self.capacity = self.capacity.max(java_hash_capacity(self.entries.len()));
    }

    pub(super) fn remove(&mut self, tp: &TopicPartition) {
        self.entries.retain(|(p, _)| p != tp);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What `iterator().next()` returns.
    pub(super) fn first(&self) -> Option<&TopicPartition> {
        self.entries
            .iter()
            .min_by_key(|(tp, seq)| (java_bucket(java_partition_hash(tp), self.capacity), *seq))
            .map(|(tp, _)| tp)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

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
}
