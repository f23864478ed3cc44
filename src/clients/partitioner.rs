//! Kafka's default partitioner.
//!
//! A keyed record goes to `toPositive(murmur2(key)) % partitions`, exactly as Kafka's
//! `BuiltInPartitioner.partitionForKey`, so a scenario's keys land where a real producer would
//! put them.
//!
//! A record without a key goes to its topic's sticky partition (KIP-480, Kafka 2.4 to 3.2:
//! `DefaultPartitioner` with a `StickyPartitionCache`): the producer fills one partition's
//! batch, and only when a record would need a new batch there (`RecordAccumulator.append`
//! aborts with `abortForNewBatch`, `KafkaProducer.doSend` calls `onNewBatch`) does it draw
//! another partition at random among those with a leader, different from the one it leaves.
//! Kafka 3.3+ (KIP-794, `BuiltInPartitioner`) switches instead after `batch.size` bytes went
//! to a partition, weighting partitions by their queue sizes; that needs the byte sizes of
//! real records, which the model does not have, so every version here uses the 2.4 rule.

use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha8Rng;

/// Kafka's `StickyPartitionCache` for one topic: the partition records without a key go to.
#[derive(Clone, Debug, Default)]
pub struct StickyPartitionCache {
    sticky: Option<u32>,
}

impl StickyPartitionCache {
    /// Kafka's `StickyPartitionCache.partition`: the sticky partition, drawn on first use.
    /// `available` are the partitions with a leader, `count` all of the topic's.
    pub fn partition(&mut self, available: &[u32], count: u32, rng: &mut ChaCha8Rng) -> u32 {
        match self.sticky {
            Some(p) => p,
            None => self.next_partition(None, available, count, rng),
        }
    }

    /// Kafka's `StickyPartitionCache.nextPartition`: a record for `prev` needed a new batch
    /// (`onNewBatch`). If `prev` is the sticky partition (or none is set) a new one is
    /// drawn: with no available partition, any of the topic's; with one, that one; with
    /// more, one of them other than the old sticky partition.
    pub fn next_partition(
        &mut self,
        prev: Option<u32>,
        available: &[u32],
        count: u32,
        rng: &mut ChaCha8Rng,
    ) -> u32 {
        assert!(count > 0, "a topic has at least one partition");
        let old = self.sticky;
        if let Some(sticky) = old.filter(|p| Some(*p) != prev) {
            return sticky;
        }
        let mut draw = || to_positive(rng.next_u32() as i32) as u32;
        let new = match available {
            [] => draw() % count,
            [only] => *only,
            _ => loop {
                let candidate = available[draw() as usize % available.len()];
                if Some(candidate) != old {
                    break candidate;
                }
            },
        };
        self.sticky = Some(new);
        new
    }
}

/// Kafka's `Utils.murmur2`: MurmurHash2, 32 bits, seed 0x9747b28c.
pub fn murmur2(data: &[u8]) -> i32 {
    let length = data.len();
    let seed: u32 = 0x9747_b28c;
    let m: u32 = 0x5bd1_e995;
    let r = 24;
    let mut h: u32 = seed ^ (length as u32);
    let chunks = length / 4;
    for i in 0..chunks {
        let i4 = i * 4;
        let mut k = u32::from_le_bytes([data[i4], data[i4 + 1], data[i4 + 2], data[i4 + 3]]);
        k = k.wrapping_mul(m);
        k ^= k >> r;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    let tail = &data[chunks * 4..];
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(m);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on MIN).
pub fn to_positive(x: i32) -> i32 {
    x & 0x7fff_ffff
}

/// The partition of a keyed record.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    to_positive(murmur2(key)) as u32 % partitions
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    /// KIP-480: null-key records stay on one partition until it needs a new batch; then the
    /// next is drawn among the available partitions, never the one just left.
    #[test]
    fn the_sticky_partition_changes_only_on_a_new_batch_and_never_to_itself() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut cache = StickyPartitionCache::default();
        let available = [0, 2, 3];
        let first = cache.partition(&available, 4, &mut rng);
        assert!(available.contains(&first));
        for _ in 0..10 {
            assert_eq!(cache.partition(&available, 4, &mut rng), first);
        }
        // A new batch for another partition (a keyed record) leaves the sticky one alone.
        let other = available.iter().copied().find(|p| *p != first).unwrap();
        assert_eq!(
            cache.next_partition(Some(other), &available, 4, &mut rng),
            first
        );
        let mut prev = first;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let next = cache.next_partition(Some(prev), &available, 4, &mut rng);
            assert_ne!(next, prev, "a new batch moves to another partition");
            assert!(available.contains(&next), "only partitions with a leader");
            seen.insert(next);
            prev = next;
        }
        assert_eq!(seen.len(), 3, "every available partition gets its turn");
        // One available partition: that one, again and again.
        assert_eq!(cache.next_partition(Some(prev), &[1], 4, &mut rng), 1);
        assert_eq!(cache.next_partition(Some(1), &[1], 4, &mut rng), 1);
    }

    #[test]
    fn murmur2_matches_kafka() {
        // The vectors of Kafka's own UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58897971
        );
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn keyed_partition_is_stable_and_in_range() {
        for k in 0..100 {
            let key = format!("k{k}");
            let p = partition_for_key(key.as_bytes(), 6);
            assert!(p < 6);
            assert_eq!(p, partition_for_key(key.as_bytes(), 6));
        }
        assert_eq!(to_positive(i32::MIN), 0);
    }
}
