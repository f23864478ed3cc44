//! Properties of compaction on random logs: it never changes an offset, never drops the
//! last record of a key in the range it cleaned, and a second round on an unchanged log at
//! the same time changes nothing.

use super::config::{CleanupPolicy, LogConfig};
use super::testing::record_batch;
use super::Log;
use crate::types::{Record, RecordBatch};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// One input record: a key from a small set (or none), a value or a tombstone, and how far
/// past the previous offset it lies (gaps, as a follower of a compacted leader has).
#[derive(Clone, Debug)]
struct Input {
    key: Option<u8>,
    tombstone: bool,
    gap: u8,
    new_segment: bool,
}

fn input() -> impl Strategy<Value = Input> {
    (
        prop_oneof![9 => (0u8..5).prop_map(Some), 1 => Just(None)],
        prop::bool::weighted(0.2),
        prop_oneof![8 => Just(0u8), 2 => 1u8..4],
        prop::bool::weighted(0.25),
    )
        .prop_map(|(key, tombstone, gap, new_segment)| Input {
            key,
            tombstone,
            gap,
            new_segment,
        })
}

/// A log of one-record batches, cut into segments where the inputs say, with an empty
/// active segment at the end.
fn build(inputs: &[Input]) -> Log {
    let mut segments: Vec<(u64, Vec<RecordBatch>)> = vec![(0, Vec::new())];
    let mut offset = 0u64;
    for i in inputs {
        offset += i.gap as u64;
        if i.new_segment && !segments.last().expect("a segment").1.is_empty() {
            segments.push((offset, Vec::new()));
        }
        let key = i.key.map(|k| format!("k{k}"));
        let value = (!i.tombstone).then(|| format!("v{offset}"));
        let batch = record_batch(offset, key.as_deref(), value.as_deref(), offset * 1000);
        segments.last_mut().expect("a segment").1.push(batch);
        offset += 1;
    }
    segments.push((offset, Vec::new()));
    let config = LogConfig {
        cleanup_policy: CleanupPolicy::COMPACT,
        delete_retention_ms: 60_000,
        ..LogConfig::KAFKA_DEFAULT
    };
    Log::from_parts(config, None, segments, 0).expect("a valid log")
}

/// The logical records by offset: what a reader gets (a rebuilt batch changes the bytes of
/// its records, not what they say).
fn by_offset(log: &Log) -> BTreeMap<u64, Record> {
    log.records()
        .map(|r| {
            let mut logical = r.clone();
            logical.size_bytes = 0;
            (r.offset, logical)
        })
        .collect()
}

proptest! {
    #![proptest_config(crate::proptest_config::fixed_seed())]

    #[test]
    fn compaction_keeps_offsets_and_each_keys_last_record(
        inputs in proptest::collection::vec(input(), 1..60),
        cap in prop_oneof![3 => Just(u64::MAX), 1 => 1u64..6],
        now_ms in 0u64..200_000,
    ) {
        let mut log = build(&inputs);
        let before = by_offset(&log);
        let (start, end) = (log.log_start_offset(), log.log_end_offset());
        let hw = end;
        let ltc = log.select_for_cleaning(now_ms, hw).unwrap_or_else(|| {
            log.log_to_clean(start, hw, now_ms)
        });
        let outcome = log.clean(&ltc, now_ms, cap);
        let after = by_offset(&log);

        // Offsets never change: every record left is the record that was at its offset.
        for (offset, r) in &after {
            prop_assert_eq!(Some(r), before.get(offset));
        }
        prop_assert_eq!(log.log_end_offset(), end);
        prop_assert_eq!(log.log_start_offset(), start);

        // The last record of each key below the round's end survives (a first round keeps
        // tombstones too: none had a horizon yet).
        let mut last: BTreeMap<&str, u64> = BTreeMap::new();
        for r in before.values().filter(|r| r.offset < outcome.end_offset) {
            if let Some(k) = &r.key {
                last.insert(k, r.offset);
            }
        }
        for (key, offset) in last {
            prop_assert!(after.contains_key(&offset), "{key} at {offset} is gone");
        }
        // Nothing at or past the round's end is touched.
        for (offset, r) in before.range(outcome.end_offset..) {
            prop_assert_eq!(after.get(offset), Some(r));
        }

        // The same round again, on the log it left, at the same time, changes nothing.
        let again = log.log_to_clean(ltc.first_dirty_offset, hw, now_ms);
        log.clean(&again, now_ms, cap);
        prop_assert_eq!(by_offset(&log), after);
    }
}
