//! The log cleaner: compaction of logs whose `cleanup.policy` contains `compact` (Kafka's
//! `LogCleaner`, `LogCleanerManager`, `MemoryRecords.filterTo`).
//!
//! A compacted log has three parts. Below the cleaner's checkpoint is the clean part, where
//! each key already appears once. From the checkpoint to the first uncleanable offset is the
//! dirty part the next round may clean. From there on nothing is touched: the active
//! segment, anything at or past the last stable offset (the high watermark when no
//! transaction is undecided; from 3.1, KAFKA-13194), and segments younger than
//! `min.compaction.lag.ms`. The first uncleanable offset is rounded down to its
//! segment's base, since the cleaner works on whole segments.
//!
//! A round maps each key of the dirty part to its last offset, then copies every segment
//! from the log's start up to where the map ends, keeping a record only if no later record
//! of its key was mapped. A tombstone (a null value) is kept by the first round that copies
//! it, which stamps its batch with a delete horizon (`delete.retention.ms` from that round's
//! clock, KIP-534); a round at or after the horizon drops it. So a tombstone needs two rounds
//! to vanish, whatever its own timestamp. Offsets never change: gaps appear, the log end and
//! the log start stay where they are.
//!
//! Which log a cleaner thread takes is the one with the highest share of dirty bytes among
//! those whose share is above `min.cleanable.dirty.ratio` (bytes, strictly greater), or
//! whose oldest dirty segment waited longer than `max.compaction.lag.ms`. The simulator
//! decides per log: [`Log::log_to_clean`] says whether this log would be taken.
//!
//! Not modelled yet for transactions: Kafka's cleaner also removes an aborted
//! transaction's records whatever their keys, and later the markers whose transactions
//! are gone. Here transactional records are compacted by key like any other, and every
//! marker stays.

use super::segment::LogSegment;
use super::Log;
use crate::record_size::{record_fields_size_bytes, RecordFields};
use crate::types::{LeaderEpoch, RecordBatch, RecordId};
use serde::Serialize;
use std::collections::BTreeMap;

/// `LogCleanerManager.cleanableOffsets`: the dirty range, before rounding to segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OffsetsToClean {
    pub first_dirty_offset: u64,
    pub first_uncleanable_dirty_offset: u64,
    /// The checkpoint was outside the log and was reset to the log start offset.
    pub force_update_checkpoint: bool,
}

/// Kafka's `LogToClean`: one log's dirty range and byte counts, as the cleaner thread
/// weighs it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LogToClean {
    pub first_dirty_offset: u64,
    /// The first uncleanable offset rounded down to its segment's base.
    pub first_uncleanable_offset: u64,
    pub clean_bytes: u64,
    pub cleanable_bytes: u64,
    /// `max.compaction.lag.ms` has passed for the oldest dirty segment.
    pub needs_compaction_now: bool,
}

impl LogToClean {
    pub fn total_bytes(&self) -> u64 {
        self.clean_bytes + self.cleanable_bytes
    }

    /// `cleanableBytes / totalBytes`.
    pub fn cleanable_ratio(&self) -> f64 {
        if self.total_bytes() == 0 {
            return 0.0;
        }
        self.cleanable_bytes as f64 / self.total_bytes() as f64
    }
}

/// What one cleaning round did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CleanOutcome {
    pub first_dirty_offset: u64,
    /// Where the round's map ended: the new checkpoint.
    pub end_offset: u64,
    /// The offset map filled before the dirty part's end (`log.cleaner.dedupe.buffer.size`).
    pub map_full: bool,
    /// Records a later record of the same key replaced.
    pub superseded: Vec<(u64, RecordId)>,
    /// Tombstones removed because their horizon had passed.
    pub tombstones_removed: Vec<(u64, RecordId)>,
    /// Keyless records dropped (Kafka counts them as invalid).
    pub keyless_removed: Vec<(u64, RecordId)>,
    /// Offsets of tombstones this round stamped with a delete horizon, and the horizon.
    pub tombstones_stamped: Vec<u64>,
    pub delete_horizon_ms: u64,
    /// Segments before and after (grouping merges small cleaned segments).
    pub segments_before: usize,
    pub segments_after: usize,
}

impl CleanOutcome {
    /// Records the round removed.
    pub fn removed(&self) -> usize {
        self.superseded.len() + self.tombstones_removed.len() + self.keyless_removed.len()
    }
}

impl Log {
    /// `LogCleanerManager.cleanableOffsets` at `now_ms`, for a replica whose high watermark
    /// is `high_watermark`: the cleaner never passes the last stable offset, so an open
    /// transaction's records are never cleaned.
    pub fn cleanable_offsets(&self, now_ms: u64, high_watermark: u64) -> OffsetsToClean {
        let checkpoint = self.cleaner_checkpoint.unwrap_or(self.log_start_offset);
        let (first_dirty_offset, force_update_checkpoint) =
            if checkpoint < self.log_start_offset || checkpoint > self.log_end_offset {
                (self.log_start_offset, true)
            } else {
                (checkpoint, false)
            };
        let mut first_uncleanable = self
            .last_stable_offset(high_watermark)
            .min(self.active_segment().base_offset);
        let lag_ms = self.config.min_compaction_lag_ms;
        if lag_ms > 0 {
            // The first dirty closed segment whose newest record is younger than the lag.
            let young = self
                .non_active_segments_from(first_dirty_offset)
                .find(|s| s.largest_timestamp_ms() as i64 > now_ms as i64 - lag_ms as i64)
                .map(|s| s.base_offset);
            if let Some(base) = young {
                first_uncleanable = first_uncleanable.min(base);
            }
        }
        OffsetsToClean {
            first_dirty_offset,
            first_uncleanable_dirty_offset: first_uncleanable.max(first_dirty_offset),
            force_update_checkpoint,
        }
    }

    /// `UnifiedLog.nonActiveLogSegmentsFrom`: the closed segments from the one holding
    /// `offset` on.
    fn non_active_segments_from(&self, offset: u64) -> impl Iterator<Item = &LogSegment> + '_ {
        let active = self.segments.len() - 1;
        let from = self.floor_segment(offset).unwrap_or(0);
        self.segments[from.min(active)..active].iter()
    }

    /// `UnifiedLog.logSegments(from, to)`: the segments that hold offsets in `[from, to)`:
    /// from the one holding `from` (or the first) to the last that starts below `to`.
    fn segment_range(&self, from: u64, to: u64) -> std::ops::Range<usize> {
        if from >= to {
            return 0..0;
        }
        let start = self.floor_segment(from).unwrap_or(0);
        let end = self.segments.partition_point(|s| s.base_offset < to);
        start..end.max(start)
    }

    /// `LogCleanerManager.maxCompactionDelay`: how long past `max.compaction.lag.ms` the
    /// oldest dirty closed segment is, by its first batch's timestamp; 0 when none is.
    fn max_compaction_delay_ms(&self, first_dirty_offset: u64, now_ms: u64) -> u64 {
        let earliest = self
            .non_active_segments_from(first_dirty_offset)
            .filter_map(LogSegment::first_batch_timestamp_ms)
            .filter(|&t| t > 0)
            .min();
        let clean_until_ms = now_ms as i128 - self.config.max_compaction_lag_ms as i128;
        match earliest {
            Some(t) if (t as i128) < clean_until_ms => (clean_until_ms - t as i128) as u64,
            _ => 0,
        }
    }

    /// Kafka's `LogToClean` for the range `[first_dirty, uncleanable)`: the first
    /// uncleanable offset rounded down to its segment (`calculateCleanableBytes`), the bytes
    /// of the clean part (segments starting below the first dirty offset) and of the
    /// cleanable part (from the segment holding the first dirty offset to that boundary).
    pub fn log_to_clean(
        &self,
        first_dirty_offset: u64,
        uncleanable_offset: u64,
        now_ms: u64,
    ) -> LogToClean {
        let active_base = self.active_segment().base_offset;
        let first_uncleanable_offset = if uncleanable_offset >= active_base {
            active_base
        } else {
            let i = self.floor_segment(uncleanable_offset).unwrap_or(0);
            self.segments[i].base_offset
        };
        let clean_bytes = self.segments[self.segment_range(0, first_dirty_offset)]
            .iter()
            .map(LogSegment::size_bytes)
            .sum();
        let cleanable_bytes = self.segments[self.segment_range(
            first_dirty_offset.min(first_uncleanable_offset),
            first_uncleanable_offset,
        )]
        .iter()
        .map(LogSegment::size_bytes)
        .sum();
        LogToClean {
            first_dirty_offset,
            first_uncleanable_offset,
            clean_bytes,
            cleanable_bytes,
            needs_compaction_now: self.max_compaction_delay_ms(first_dirty_offset, now_ms) > 0,
        }
    }

    /// What the cleaner thread decides for this log at `now_ms`
    /// (`LogCleanerManager.grabFilthiestCompactedLog`): `None` when the log is not compacted,
    /// is empty, or is neither dirty enough nor past its max lag. A checkpoint outside the
    /// log is reset on the way, as Kafka rewrites it.
    pub fn select_for_cleaning(&mut self, now_ms: u64, high_watermark: u64) -> Option<LogToClean> {
        if !self.config.cleanup_policy.compact {
            return None;
        }
        let offsets = self.cleanable_offsets(now_ms, high_watermark);
        if offsets.force_update_checkpoint {
            self.cleaner_checkpoint = Some(offsets.first_dirty_offset);
        }
        let ltc = self.log_to_clean(
            offsets.first_dirty_offset,
            offsets.first_uncleanable_dirty_offset,
            now_ms,
        );
        let eligible = ltc.total_bytes() > 0
            && ((ltc.needs_compaction_now && ltc.cleanable_bytes > 0)
                || ltc.cleanable_ratio() > self.config.min_cleanable_dirty_ratio);
        eligible.then_some(ltc)
    }

    /// One cleaning round (`Cleaner.doClean`) on `ltc` at the cleaner's clock `now_ms`, with
    /// an offset map that holds at most `max_map_keys` distinct keys; the checkpoint moves to
    /// the round's end offset (`LogCleanerManager.doneCleaning`).
    pub fn clean(&mut self, ltc: &LogToClean, now_ms: u64, max_map_keys: u64) -> CleanOutcome {
        let map = self.build_offset_map(
            ltc.first_dirty_offset,
            ltc.first_uncleanable_offset,
            max_map_keys,
        );
        let end_offset = (map.latest_offset + 1) as u64;
        let delete_horizon_ms = now_ms.saturating_add(self.config.delete_retention_ms);
        let mut outcome = CleanOutcome {
            first_dirty_offset: ltc.first_dirty_offset,
            end_offset,
            map_full: map.full,
            superseded: Vec::new(),
            tombstones_removed: Vec::new(),
            keyless_removed: Vec::new(),
            tombstones_stamped: Vec::new(),
            delete_horizon_ms,
            segments_before: self.segments.len(),
            segments_after: 0,
        };
        let to_clean = self.segment_range(0, end_offset);
        let groups = self.group_segments_by_size(to_clean.clone(), ltc.first_uncleanable_offset);
        let active_producers = self.last_batches_of_producers();
        let mut cleaned: Vec<LogSegment> = Vec::new();
        for group in groups {
            let mut out = self.segments[group.start].clone_empty(self.config.segment_index_bytes);
            for i in group.clone() {
                let kept = clean_segment_batches(
                    &self.segments[i],
                    &map,
                    now_ms,
                    delete_horizon_ms,
                    &active_producers,
                    &mut outcome,
                );
                out.append(kept, now_ms, self.config.index_interval_bytes);
            }
            // `cleanSegments`: the cleaned segment becomes inactive and takes the group's last
            // file's mtime.
            out.on_become_inactive();
            out.last_modified_ms = self.segments[group.end - 1].last_modified_ms;
            cleaned.push(out);
        }
        self.segments.splice(to_clean, cleaned);
        self.cleaner_checkpoint = Some(end_offset);
        outcome.segments_after = self.segments.len();
        self.debug_assert_shape();
        outcome
    }

    /// `Cleaner.buildOffsetMap`: each key of `[start, end)` to its last offset, segment by
    /// segment, until the map is full (`map.size < maxDesiredMapSize` is checked before each
    /// keyed record, so a full map stops even at a key it already holds). The map's latest
    /// offset steps over each finished segment's trailing gap to the next segment's base - 1
    /// (`updateLatestOffset(nextSegmentStartOffset - 1)`).
    fn build_offset_map(&self, start: u64, end: u64, max_map_keys: u64) -> OffsetMap {
        let mut map = OffsetMap {
            offsets: BTreeMap::new(),
            latest_offset: -1,
            full: false,
        };
        let range = self.segment_range(start, end);
        let dirty = &self.segments[range];
        for (i, segment) in dirty.iter().enumerate() {
            let next_start = dirty.get(i + 1).map_or(end, |s| s.base_offset);
            for batch in &segment.batches {
                for r in &batch.records {
                    let Some(key) = &r.key else { continue };
                    if r.offset < start {
                        continue;
                    }
                    if map.offsets.len() as u64 >= max_map_keys {
                        map.full = true;
                        return map;
                    }
                    map.offsets.insert(key.clone(), r.offset);
                    map.latest_offset = r.offset as i64;
                }
                if batch.last_offset >= start {
                    map.latest_offset = map.latest_offset.max(batch.last_offset as i64);
                }
            }
            map.latest_offset = map.latest_offset.max(next_start as i64 - 1);
        }
        map
    }

    /// `Cleaner.groupSegmentsBySize`: consecutive segments go into one cleaned segment while
    /// their bytes (before cleaning) fit in `segment.bytes`, their indexes in
    /// `segment.index.bytes`, and their offsets in 32-bit relative offsets.
    pub(super) fn group_segments_by_size(
        &self,
        range: std::ops::Range<usize>,
        first_uncleanable_offset: u64,
    ) -> Vec<std::ops::Range<usize>> {
        let max_size = self.config.segment_bytes;
        let max_index = self.config.segment_index_bytes;
        let mut groups = Vec::new();
        let mut i = range.start;
        while i < range.end {
            let start = i;
            let mut log_size = self.segments[i].size_bytes();
            let mut index_size = self.segments[i].offset_index_bytes();
            let mut time_index_size = self.segments[i].time_index_bytes();
            i += 1;
            while i < range.end {
                let s = &self.segments[i];
                let last_offset = self.last_offset_for_first_segment(i, first_uncleanable_offset);
                let fits = log_size + s.size_bytes() <= max_size
                    && index_size + s.offset_index_bytes() <= max_index
                    && time_index_size + s.time_index_bytes() <= max_index
                    && (s.size_bytes() == 0
                        || last_offset.saturating_sub(self.segments[i - 1].base_offset)
                            <= i32::MAX as u64);
                if !fits {
                    break;
                }
                log_size += s.size_bytes();
                index_size += s.offset_index_bytes();
                time_index_size += s.time_index_bytes();
                i += 1;
            }
            groups.push(start..i);
        }
        groups
    }

    /// `Cleaner.lastOffsetForFirstSegment`: the last offset segment `i` can hold (the next
    /// segment's base - 1, or the first uncleanable offset - 1).
    fn last_offset_for_first_segment(&self, i: usize, first_uncleanable_offset: u64) -> u64 {
        match self.segments.get(i + 1) {
            Some(next) => next.base_offset.saturating_sub(1),
            None => first_uncleanable_offset.saturating_sub(1),
        }
    }

    /// `UnifiedLog.lastRecordsOfActiveProducers`: each producer's last batch, which the
    /// cleaner keeps (empty if need be) so the producer's sequence survives a reload. The
    /// simulator does not expire producer ids (`producer.id.expiration.ms`, a day), so
    /// every producer the log knows is active.
    fn last_batches_of_producers(&self) -> BTreeMap<i64, u64> {
        let mut last = BTreeMap::new();
        for b in self.batches() {
            if let Some(stamp) = b.producer {
                last.insert(stamp.producer_id, b.last_offset);
            }
        }
        last
    }
}

/// The cleaner's offset map (`SkimpyOffsetMap`, with exact keys: Kafka keys it by the MD5
/// of the key, and a collision, which the simulator does not model, could drop a record).
struct OffsetMap {
    offsets: BTreeMap<String, u64>,
    /// `latestOffset`: the last offset the map covers; -1 before any.
    latest_offset: i64,
    full: bool,
}

impl LogSegment {
    /// A new empty segment at this one's base offset, as the cleaner's `.cleaned` file.
    fn clone_empty(&self, segment_index_bytes: u64) -> LogSegment {
        LogSegment::new(
            self.base_offset,
            self.last_modified_ms,
            0,
            segment_index_bytes,
        )
    }
}

/// `Cleaner.cleanInto` for one segment: the batches the round keeps, each rebuilt without
/// its removed records (`MemoryRecords.filterTo`).
fn clean_segment_batches(
    segment: &LogSegment,
    map: &OffsetMap,
    now_ms: u64,
    delete_horizon_ms: u64,
    active_producers: &BTreeMap<i64, u64>,
    outcome: &mut CleanOutcome,
) -> Vec<RecordBatch> {
    let mut kept = Vec::new();
    for batch in &segment.batches {
        if batch.is_control() {
            // A transaction marker stays: without it the transaction would read as open
            // again when the producer state is rebuilt. (Kafka drops a marker once its
            // transaction's records are gone and `delete.retention.ms` has passed; the
            // cleaner here keeps every one.)
            kept.push(batch.clone());
            continue;
        }
        let mut retained = Vec::new();
        let mut changed = false;
        let mut has_tombstone = false;
        for r in &batch.records {
            if should_retain_record(map, batch, r, now_ms, outcome) {
                has_tombstone |= r.is_tombstone();
                retained.push(r.clone());
            } else {
                changed = true;
            }
        }
        // `checkBatchRetention`: a producer's last batch stays, empty if need be
        // (RETAIN_EMPTY); any other emptied batch goes (DELETE_EMPTY).
        let producers_last = batch
            .producer
            .is_some_and(|s| active_producers.get(&s.producer_id) == Some(&batch.last_offset));
        if retained.is_empty() {
            if producers_last {
                kept.push(RecordBatch {
                    records: Vec::new(),
                    ..batch.clone()
                });
            }
            continue;
        }
        let stamp_horizon = has_tombstone && batch.delete_horizon_ms.is_none();
        if !changed && !stamp_horizon {
            kept.push(batch.clone());
            continue;
        }
        if stamp_horizon {
            outcome.tombstones_stamped.extend(
                retained
                    .iter()
                    .filter(|r| r.is_tombstone())
                    .map(|r| r.offset),
            );
        }
        let horizon = if stamp_horizon {
            Some(delete_horizon_ms)
        } else {
            batch.delete_horizon_ms
        };
        kept.push(rebuild_batch(batch, retained, horizon));
    }
    kept
}

/// `Cleaner.shouldRetainRecord`: a record past the map's reach stays; a keyless one goes;
/// a keyed one stays if it is its key's latest (or its key is not in the map) and it has
/// a value, or it is a tombstone whose batch has no horizon yet or one still ahead.
fn should_retain_record(
    map: &OffsetMap,
    batch: &RecordBatch,
    r: &crate::types::Record,
    now_ms: u64,
    outcome: &mut CleanOutcome,
) -> bool {
    if r.offset as i64 > map.latest_offset {
        return true;
    }
    let Some(key) = &r.key else {
        outcome.keyless_removed.push((r.offset, r.id));
        return false;
    };
    let latest_for_key = map.offsets.get(key).is_none_or(|&found| r.offset >= found);
    if !latest_for_key {
        outcome.superseded.push((r.offset, r.id));
        return false;
    }
    if r.is_tombstone() {
        let retain = batch.delete_horizon_ms.is_none_or(|h| now_ms < h);
        if !retain {
            outcome.tombstones_removed.push((r.offset, r.id));
        }
        return retain;
    }
    true
}

/// `MemoryRecords.buildRetainedRecordsInto`: a new batch with the original base offset, last
/// offset, epoch and producer fields, holding the retained records. Its base timestamp is
/// the delete horizon when one is set, else the first record's; the record sizes follow
/// from the new deltas, and its max timestamp from the records it holds.
fn rebuild_batch(
    batch: &RecordBatch,
    retained: Vec<crate::types::Record>,
    delete_horizon_ms: Option<u64>,
) -> RecordBatch {
    let base_timestamp_ms =
        delete_horizon_ms.unwrap_or_else(|| retained.first().map_or(0, |r| r.timestamp_ms));
    let max_timestamp_ms = retained.iter().map(|r| r.timestamp_ms).max().unwrap_or(0);
    let records = retained
        .into_iter()
        .map(|mut r| {
            r.size_bytes = record_fields_size_bytes(
                (r.offset - batch.base_offset) as u32,
                r.timestamp_ms as i64 - base_timestamp_ms as i64,
                RecordFields::of_record(&r),
            );
            r
        })
        .collect();
    let leader_epoch: LeaderEpoch = batch.leader_epoch;
    RecordBatch {
        base_offset: batch.base_offset,
        last_offset: batch.last_offset,
        leader_epoch,
        producer: batch.producer,
        delete_horizon_ms,
        control: batch.control,
        base_timestamp_ms,
        max_timestamp_ms,
        records,
    }
}
