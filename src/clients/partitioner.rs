//! Kafka's default partitioner.
//!
//! A keyed record goes to `toPositive(murmur2(key)) % partitions`, exactly as Kafka's
//! `BuiltInPartitioner.partitionForKey`, so a scenario's keys land where a real producer would
//! put them. Records without a key are spread round-robin over the partitions that have a
//! leader, as the learner's notes describe. (Kafka 2.4 to 3.2 used a "sticky" partitioner and
//! 3.3+ an adaptive one for null keys; both fill one batch at a time rather than alternate.)

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
