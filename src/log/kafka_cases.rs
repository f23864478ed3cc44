//! Kafka's own test cases for segments, retention and the cleaner (`LogCleanerTest`,
//! `LogCleanerManagerTest`, `UnifiedLogTest`, `LogSegmentTest`), ported to the model's log:
//! the same inputs, the same expected outcomes. As in Kafka's tests, every case that
//! expects deletion or cleaning first puts the high watermark at the log end.

use super::config::{CleanupPolicy, LogConfig};
use super::{AppendError, Log, OffsetRange};
use crate::page_cache::WriteBack;
use crate::types::{ProducerRecord, RecordId};

fn log_with(config: LogConfig) -> Log {
    Log::with_config(config, WriteBack::Never, 0, 0)
}

fn compacted(segment_bytes: u64) -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::COMPACT,
        segment_bytes,
        ..LogConfig::KAFKA_DEFAULT
    }
}

fn record(key: Option<&str>, value: Option<&str>, ts_ms: u64) -> ProducerRecord {
    ProducerRecord {
        id: RecordId {
            producer: 0,
            seq: 0,
        },
        timestamp_ms: ts_ms,
        key: key.map(str::to_string),
        value: value.map(str::to_string),
        value_bytes: value.map_or(0, |v| v.len() as u32),
        headers: Vec::new(),
    }
}

/// Appends one record as its own batch, as Kafka's tests append, and returns its offset.
fn put(log: &mut Log, key: &str, value: Option<&str>, ts_ms: u64) -> u64 {
    let appended = log.append_as_leader(0, vec![record(Some(key), value, ts_ms)], None, ts_ms);
    appended[0].0
}

fn live_values(log: &Log) -> Vec<(String, Option<String>)> {
    log.records()
        .map(|r| (r.key.clone().unwrap_or_default(), r.value.clone()))
        .collect()
}

fn offsets(log: &Log) -> Vec<u64> {
    log.records().map(|r| r.offset).collect()
}

/// Cleans `[first_dirty, first_uncleanable)` once at `now_ms` with an unbounded map, as
/// `LogCleanerTest` calls `cleaner.clean(LogToClean(...))`.
fn clean_range(log: &mut Log, first_dirty: u64, first_uncleanable: u64, now_ms: u64) -> u64 {
    let ltc = log.log_to_clean(first_dirty, first_uncleanable, now_ms);
    log.clean(&ltc, now_ms, u64::MAX).end_offset
}

/// `LogCleanerTest.testCleanSegments`, with the fake map's "newer offsets" for keys
/// 1, 3, 5, 7 and 9 written as real newer records in the dirty part: cleaning up to the
/// active segment leaves every other key's only record, in order, and the newer ones.
#[test]
fn clean_segments_keeps_the_latest_of_each_key() {
    let mut log = log_with(compacted(1024));
    let mut k = 0;
    while log.segments().len() < 4 {
        let key = k.to_string();
        put(&mut log, &key, Some(&key), 0);
        k += 1;
    }
    for key in ["1", "3", "5", "7", "9"] {
        put(&mut log, key, Some("newer"), 0);
    }
    log.roll(0);
    let active = log.active_segment().base_offset;
    let end = clean_range(&mut log, 0, active, 0);
    assert_eq!(end, active);
    let values = live_values(&log);
    for key in ["1", "3", "5", "7", "9"] {
        let left: Vec<_> = values.iter().filter(|(k, _)| k == key).collect();
        assert_eq!(left, vec![&(key.to_string(), Some("newer".to_string()))]);
    }
    let kept_keys = values.iter().filter(|(_, v)| v.as_deref() != Some("newer"));
    assert!(kept_keys
        .clone()
        .all(|(k, v)| v.as_deref() == Some(k.as_str())));
    assert_eq!(kept_keys.count(), k - 5);
    // Offsets never change; they only get gaps.
    assert!(offsets(&log).windows(2).all(|w| w[0] < w[1]));
    assert_eq!(log.log_end_offset(), active);
}

/// `LogCleanerTest.testCleaningWithDeletes`: tombstones for every even key, then one round
/// up to the active segment: no even key has a value left.
#[test]
fn cleaning_with_deletes_leaves_no_value_for_a_deleted_key() {
    let mut log = log_with(compacted(1024));
    let mut k = 0;
    while log.segments().len() < 2 {
        put(&mut log, &k.to_string(), Some("v"), 0);
        k += 1;
    }
    for even in (0..k).step_by(2) {
        put(&mut log, &even.to_string(), None, 0);
    }
    let mut pad = k;
    while log.segments().len() < 4 {
        put(&mut log, &pad.to_string(), Some("v"), 0);
        pad += 1;
    }
    let active = log.active_segment().base_offset;
    clean_range(&mut log, 0, active, 0);
    for (key, value) in live_values(&log) {
        let n: u64 = key.parse().unwrap();
        if n < k && n.is_multiple_of(2) {
            assert_eq!(value, None, "key {key} keeps only its tombstone");
        }
    }
}

/// `LogCleanerTest.testCleaningWithUnkeyedMessages`: keyless records written while the
/// topic was `delete`, then keyed ones; once compacted, every keyless record is gone and
/// the log is the keyed part.
#[test]
fn cleaning_drops_keyless_records() {
    let mut log = log_with(LogConfig {
        segment_bytes: 1024,
        ..LogConfig::KAFKA_DEFAULT
    });
    let mut keyless = 0;
    while log.segments().len() < 2 {
        log.append_as_leader(0, vec![record(None, Some("v"), 0)], None, 0);
        keyless += 1;
    }
    for k in 0..20 {
        put(&mut log, &k.to_string(), Some("v"), 0);
    }
    log.set_config(compacted(1024));
    log.roll(0);
    let active = log.active_segment().base_offset;
    let ltc = log.log_to_clean(0, active, 0);
    let outcome = log.clean(&ltc, 0, u64::MAX);
    assert_eq!(outcome.keyless_removed.len(), keyless);
    assert!(log.records().all(|r| r.key.is_some()));
    assert_eq!(log.records().count(), 20);
}

/// `LogCleanerTest.testCleaningBeyondMissingOffsets`: offsets 0-9, a roll at 11 (offset 10
/// never exists) and a record at 11; a round on `[0, 11)` ends at 11, stepping over the gap.
#[test]
fn cleaning_steps_over_missing_offsets() {
    let batches: Vec<_> = (0..10)
        .map(|o| super::testing::batch_at(o, Some(&o.to_string()), 0))
        .collect();
    let mut log = Log::from_parts(
        compacted(1024 * 1024),
        None,
        vec![
            (0, batches),
            (11, vec![super::testing::batch_at(11, Some("11"), 0)]),
            (12, vec![]),
        ],
        0,
    )
    .unwrap();
    assert_eq!(clean_range(&mut log, 0, 11, 0), 11);
}

/// `LogCleanerTest.testSegmentGrouping`: ten small segments go into one group when the limits
/// allow, one each with a limit of 1, and threes with a limit of three segments' size + 1.
#[test]
fn segment_grouping_follows_the_size_limit() {
    let build = |segment_bytes: u64| {
        let mut segments = Vec::new();
        for s in 0..10u64 {
            let batches = (0..3)
                .map(|i| super::testing::batch_at(s * 3 + i, Some("k"), 0))
                .collect();
            segments.push((s * 3, batches));
        }
        segments.push((30, vec![]));
        Log::from_parts(compacted(segment_bytes), None, segments, 0).unwrap()
    };
    let one_segment = build(1 << 30).segments()[0].size_bytes();
    let groups = |limit: u64| {
        let log = build(limit);
        log.group_segments_by_size(0..10, 30)
            .iter()
            .map(|g| g.len())
            .collect::<Vec<_>>()
    };
    assert_eq!(groups(i32::MAX as u64), vec![10]);
    assert_eq!(groups(1), vec![1; 10]);
    assert_eq!(groups(3 * one_segment + 1), vec![3, 3, 3, 1]);
}

/// `LogCleanerManagerTest.testCleanableOffsetsForTime`: with `min.compaction.lag.ms` an
/// hour, records at t0 fill four segments and records an hour and a bit later four more;
/// the first uncleanable offset is the base of the segment that holds the later records.
#[test]
fn cleanable_offsets_stop_at_the_first_segment_younger_than_the_lag() {
    let lag_ms = 60 * 60 * 1000;
    let mut log = log_with(LogConfig {
        min_compaction_lag_ms: lag_ms,
        ..compacted(1024)
    });
    let t0 = 1_000_000;
    let mut k = 0;
    while log.segments().len() < 4 {
        put(&mut log, &k.to_string(), Some("v"), t0);
        k += 1;
    }
    let active_at_t0 = log.active_segment().base_offset;
    let t1 = t0 + lag_ms + 1;
    while log.segments().len() < 8 {
        put(&mut log, &k.to_string(), Some("v"), t1);
        k += 1;
    }
    let hw = log.log_end_offset();
    let offsets = log.cleanable_offsets(t1, hw);
    assert_eq!(offsets.first_uncleanable_dirty_offset, active_at_t0);
    // `testCleanableOffsetsForShortTime`: everything at t0 and the clock past the lag: the
    // bound is the active segment.
    let mut short = log_with(LogConfig {
        min_compaction_lag_ms: lag_ms,
        ..compacted(1024)
    });
    while short.segments().len() < 4 {
        put(&mut short, "k", Some("v"), t0);
    }
    let hw = short.log_end_offset();
    let o = short.cleanable_offsets(t0 + lag_ms + 1, hw);
    assert_eq!(
        o.first_uncleanable_dirty_offset,
        short.active_segment().base_offset
    );
}

/// `LogCleanerManagerTest.testCleanableOffsetsForNone`: without a lag the bound is the high
/// watermark, and cleaning rounds it down to the segment that holds it.
#[test]
fn cleanable_offsets_stop_at_the_high_watermark() {
    let mut log = log_with(compacted(1024));
    while log.segments().len() < 8 {
        put(&mut log, "k", Some("v"), 0);
    }
    let o = log.cleanable_offsets(0, 50);
    assert_eq!(o.first_uncleanable_dirty_offset, 50);
    let ltc = log.log_to_clean(o.first_dirty_offset, 50, 0);
    let holding_50 = log
        .segments()
        .iter()
        .rev()
        .find(|s| s.base_offset <= 50)
        .unwrap()
        .base_offset;
    assert_eq!(ltc.first_uncleanable_offset, holding_50);
}

/// `LogCleanerIntegrationTest`-style two phases of a tombstone (KIP-534): the first round
/// keeps it and stamps its batch with a horizon; a round before the horizon keeps it; a
/// round at or after it removes it. Even with `delete.retention.ms = 0` it takes two rounds.
#[test]
fn a_tombstone_goes_in_the_second_round_after_its_horizon() {
    let mut log = log_with(LogConfig {
        delete_retention_ms: 1000,
        ..compacted(1024 * 1024)
    });
    put(&mut log, "K", Some("v"), 0);
    let tomb = put(&mut log, "K", None, 0);
    log.roll(0);
    let active = log.active_segment().base_offset;
    let first = clean_range(&mut log, 0, active, 5_000);
    assert_eq!(first, active);
    assert_eq!(
        offsets(&log),
        vec![tomb],
        "the value goes, the tombstone stays"
    );
    clean_range(&mut log, 0, active, 5_999);
    assert_eq!(offsets(&log), vec![tomb], "before the horizon it stays");
    clean_range(&mut log, 0, active, 6_000);
    assert!(offsets(&log).is_empty(), "at the horizon it goes");
    assert_eq!(log.log_end_offset(), active, "the log end never moves");

    let mut zero = log_with(LogConfig {
        delete_retention_ms: 0,
        ..compacted(1024 * 1024)
    });
    put(&mut zero, "K", None, 0);
    zero.roll(0);
    clean_range(&mut zero, 0, 1, 0);
    assert_eq!(offsets(&zero), vec![0], "the first round only stamps it");
    clean_range(&mut zero, 0, 1, 0);
    assert!(offsets(&zero).is_empty());
}

/// The offset map's capacity (`log.cleaner.dedupe.buffer.size`): a round maps keys until
/// the map is full and cleans only up to there; the next round goes on from its end.
#[test]
fn a_full_offset_map_cleans_part_of_the_dirty_range() {
    let mut log = log_with(compacted(1024 * 1024));
    for k in 0..6 {
        put(&mut log, &k.to_string(), Some("v1"), 0);
    }
    for k in 0..6 {
        put(&mut log, &k.to_string(), Some("v2"), 0);
    }
    log.roll(0);
    let ltc = log.log_to_clean(0, 12, 0);
    let outcome = log.clean(&ltc, 0, 3);
    assert!(outcome.map_full);
    // Keys 0, 1, 2 mapped at offsets 0-2: the map ends there, nothing is superseded yet.
    assert_eq!(outcome.end_offset, 3);
    assert_eq!(log.records().count(), 12);
    // Kafka checks `map.size < maxDesiredMapSize` before every keyed record, even one whose
    // key the map holds: six keys need room for seven to get through offset 11.
    let ltc = log.log_to_clean(3, 12, 0);
    let outcome = log.clean(&ltc, 0, 7);
    assert!(!outcome.map_full);
    assert_eq!(outcome.end_offset, 12);
    assert_eq!(offsets(&log), (6..12).collect::<Vec<_>>());
}

/// `UnifiedLogTest.shouldNotDeleteSegmentsWhenPolicyDoesNotIncludeDelete` and
/// `shouldDeleteStartOffsetBreachedSegmentsWhenPolicyDoesNotIncludeDelete`.
#[test]
fn a_compact_only_log_deletes_only_below_its_log_start_offset() {
    let build = || {
        let mut log = log_with(LogConfig {
            retention_ms: Some(10_000),
            ..compacted(1024 * 1024)
        });
        for o in 0..9u64 {
            put(&mut log, &o.to_string(), Some("v"), 0);
            if o % 3 == 2 {
                log.roll(0);
            }
        }
        log
    };
    let mut log = build();
    let segments = log.segments().len();
    let hw = log.log_end_offset();
    assert!(log.delete_old_segments(1_000_000, hw).is_empty());
    assert_eq!(log.segments().len(), segments);

    let mut log = build();
    log.maybe_increment_log_start_offset(5, hw);
    log.delete_old_segments(1_000_000, hw);
    assert_eq!(
        log.segments()[0].base_offset,
        3,
        "the first still holds offset 5"
    );
    assert!(log.segments()[1..].iter().all(|s| s.base_offset > 5));
}

/// `UnifiedLogTest.testThatGarbageCollectingSegmentsDoesntChangeOffset`: `retention.ms` 0,
/// N old records, HW at the log end: retention deletes everything (rolling a new active
/// segment first), the log end stays N, a second pass deletes nothing, and the next append
/// gets offset N.
#[test]
fn garbage_collecting_segments_does_not_change_offsets() {
    for n in [0u64, 1, 25] {
        let mut log = log_with(LogConfig {
            retention_ms: Some(0),
            ..LogConfig::KAFKA_DEFAULT
        });
        for _ in 0..n {
            log.append_as_leader(0, vec![record(None, Some("v"), 0)], None, 0);
        }
        let hw = log.log_end_offset();
        log.delete_old_segments(10, hw);
        assert_eq!(log.log_end_offset(), n);
        assert_eq!(log.segments().len(), 1);
        assert!(log.delete_old_segments(10, hw).is_empty());
        let next = log.append_as_leader(0, vec![record(None, Some("v"), 20)], None, 20);
        assert_eq!(next[0].0, n);
    }
}

/// Retention stops at the high watermark: nothing at or above it is deleted, so the log
/// start offset never passes it (Kafka's tests must move the HW first).
#[test]
fn retention_never_deletes_past_the_high_watermark() {
    let mut log = log_with(LogConfig {
        retention_ms: Some(0),
        segment_bytes: 200,
        ..LogConfig::KAFKA_DEFAULT
    });
    for _ in 0..10 {
        log.append_as_leader(0, vec![record(None, Some("v"), 0)], None, 0);
    }
    assert!(log.delete_old_segments(10, 0).is_empty());
    let second_base = log.segments()[1].base_offset;
    log.delete_old_segments(10, second_base);
    assert_eq!(log.log_start_offset(), second_base);
}

/// `retention.bytes`: oldest segments go while the excess covers them whole, so the log
/// may stay over the limit by less than a segment.
#[test]
fn size_retention_deletes_whole_segments_while_the_excess_covers_them() {
    let mut log = log_with(LogConfig {
        segment_bytes: 300,
        retention_bytes: Some(700),
        retention_ms: None,
        ..LogConfig::KAFKA_DEFAULT
    });
    for _ in 0..40 {
        log.append_as_leader(0, vec![record(None, Some("v"), 0)], None, 0);
    }
    let hw = log.log_end_offset();
    let before = log.size_bytes();
    log.delete_old_segments(0, hw);
    let after = log.size_bytes();
    assert!(after < before);
    assert!((700..700 + 300).contains(&after), "{after}");
}

/// `UnifiedLogTest.testCompactedTopicConstraints`: a batch with a keyless record is refused
/// whole on a compacted topic; keyed batches append.
#[test]
fn a_compacted_topic_refuses_keyless_batches() {
    let log = log_with(compacted(1024 * 1024));
    assert_eq!(
        log.validate_leader_batch(&[record(Some("k"), Some("v"), 0), record(None, Some("v"), 0)]),
        Err(AppendError::KeylessRecordOnCompactedTopic)
    );
    assert_eq!(
        log.validate_leader_batch(&[record(Some("k"), Some("v"), 0)]),
        Ok(())
    );
}

/// `UnifiedLogTest.testReadOutOfRange` and `LogSegmentTest.testReadFromGap`: below the log
/// start or past the end is out of range; a read at the end is empty; a read inside a gap
/// returns the next batch.
#[test]
fn reads_follow_kafkas_range_rules() {
    let log = Log::from_parts(
        compacted(1024 * 1024),
        None,
        vec![
            (
                40,
                vec![
                    super::testing::batch_at(50, Some("a"), 0),
                    super::testing::batch_at(60, Some("b"), 0),
                ],
            ),
            (61, vec![]),
        ],
        0,
    )
    .unwrap();
    assert_eq!(log.offset_range(39), OffsetRange::BelowLogStart);
    assert_eq!(log.offset_range(62), OffsetRange::AboveLogEnd);
    assert_eq!(log.offset_range(61), OffsetRange::InRange);
    assert!(log.read(61, 61, 10).is_empty());
    let read = log.read(55, 61, 10);
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].base_offset, 60);
}

/// A roll happens only inside an append (`UnifiedLog.maybeRoll`): time alone rolls
/// nothing, and `segment.ms` is measured by record timestamps.
#[test]
fn time_rolls_happen_only_on_append() {
    let mut log = log_with(LogConfig {
        segment_ms: 1000,
        ..LogConfig::KAFKA_DEFAULT
    });
    log.append_as_leader(0, vec![record(None, Some("v"), 0)], None, 0);
    assert_eq!(log.segments().len(), 1);
    let (_, roll) =
        log.append_as_leader_rolling(0, vec![record(None, Some("v"), 1001)], None, 50_000);
    assert!(roll.is_some());
    assert_eq!(log.active_segment().base_offset, 1);
    assert_eq!(
        log.flushed_offset(),
        1,
        "a roll flushes everything below it"
    );
}

/// DeleteRecords (KIP-107): the log start offset moves at once, inside a segment; a topic
/// without `delete` refuses, and so does an offset past the high watermark.
#[test]
fn delete_records_moves_the_log_start_offset() {
    use super::retention::DeleteRecordsError;
    let mut log = log_with(LogConfig::KAFKA_DEFAULT);
    for _ in 0..10 {
        log.append_as_leader(0, vec![record(None, Some("v"), 0)], None, 0);
    }
    assert_eq!(
        log.delete_records(11, 10),
        Err(DeleteRecordsError::OffsetOutOfRange)
    );
    assert_eq!(log.delete_records(4, 10), Ok(4));
    assert_eq!(log.offset_range(3), OffsetRange::BelowLogStart);
    assert_eq!(log.segments().len(), 1, "the segment stays until retention");
    let mut compact = log_with(compacted(1024));
    put(&mut compact, "k", Some("v"), 0);
    assert_eq!(
        compact.delete_records(1, 1),
        Err(DeleteRecordsError::PolicyViolation)
    );
}

/// An idempotent producer's last batch stays, empty, when the cleaner removes its records
/// (`BatchRetention.RETAIN_EMPTY`), so its sequence survives a reload.
#[test]
fn a_producers_last_batch_is_kept_empty() {
    use crate::types::BatchStamp;
    let stamp = |seq| BatchStamp {
        producer_id: 7,
        producer_epoch: 0,
        base_sequence: seq,
        last_sequence: seq,
        is_transactional: false,
    };
    let mut log = log_with(compacted(1024 * 1024));
    log.append_as_leader(0, vec![record(Some("K"), Some("a"), 0)], Some(stamp(0)), 0);
    log.append_as_leader(0, vec![record(Some("K"), Some("b"), 0)], Some(stamp(1)), 0);
    // Another producer overwrites K.
    log.append_as_leader(0, vec![record(Some("K"), Some("c"), 0)], None, 0);
    log.roll(0);
    clean_range(&mut log, 0, 3, 0);
    assert_eq!(offsets(&log), vec![2]);
    let kept: Vec<(u64, usize)> = log
        .batches()
        .map(|b| (b.base_offset, b.records.len()))
        .collect();
    assert_eq!(
        kept,
        vec![(1, 0), (2, 1)],
        "producer 7's last batch stays, empty"
    );
}
