//! A log segment: one file of a partition's log, from its base offset up to the next
//! segment's (Kafka's `LogSegment`).
//!
//! Only the newest segment, the active one, takes appends. A segment rolls (a new active
//! one starts) only inside an append, before the batch is written, when the batch would not
//! fit in `segment.bytes`, when the segment's records span more than `segment.ms` by their
//! own timestamps, or when an index is full (`LogSegment.shouldRoll`). So a partition nobody
//! writes to never rolls, however old its active segment. Retention deletes whole segments
//! and the cleaner works on whole segments, so where the boundaries fall decides what they
//! can do; each replica rolls on its own appends and has its own boundaries.
//!
//! The simulator keeps no bytes: a segment holds its batches and counts their sizes, its
//! index entries and its timestamps, which is everything Kafka's rules read.

use crate::types::RecordBatch;
use serde::Serialize;

/// Bytes of one offset-index entry (`OffsetIndex`: relative offset and position).
pub const OFFSET_INDEX_ENTRY_BYTES: u64 = 8;
/// Bytes of one time-index entry (`TimeIndex`: timestamp and relative offset).
pub const TIME_INDEX_ENTRY_BYTES: u64 = 12;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogSegment {
    pub base_offset: u64,
    pub(crate) batches: Vec<RecordBatch>,
    size_bytes: u64,
    /// When the segment was created (its file's creation), for a time roll when its first
    /// batch had no timestamp.
    created_ms: u64,
    /// The file's last modification: the last append, or what the cleaner gave it.
    pub(crate) last_modified_ms: u64,
    /// This segment's share of `segment.jitter.ms`, drawn when it was created.
    roll_jitter_ms: u64,
    /// The largest timestamp of the first append into the segment (Kafka's
    /// `rollingBasedTimestamp`): a time roll measures from it.
    rolling_based_timestamp_ms: Option<u64>,
    /// The largest record timestamp in the segment (`maxTimestampSoFar`).
    max_timestamp_ms: Option<u64>,
    offset_index_entries: u64,
    time_index_entries: u64,
    /// The timestamp of the newest time-index entry: a new entry is written only for a
    /// larger one (`TimeIndex.maybeAppend`).
    last_time_index_timestamp_ms: Option<u64>,
    bytes_since_last_index_entry: u64,
    /// The most entries each index file holds (`segment.index.bytes` over the entry size).
    max_offset_index_entries: u64,
    max_time_index_entries: u64,
}

/// What `LogSegment.shouldRoll` is asked about the next append (`RollParams`).
#[derive(Clone, Copy, Debug)]
pub struct RollParams {
    /// `LogConfig.maxSegmentMs`.
    pub max_segment_ms: u64,
    /// `segment.bytes`.
    pub max_segment_bytes: u64,
    /// The largest timestamp in the incoming batches.
    pub max_timestamp_in_messages_ms: u64,
    /// The last offset of the incoming batches.
    pub max_offset_in_messages: u64,
    /// The bytes of the incoming batches.
    pub messages_size_bytes: u64,
    pub now_ms: u64,
}

/// Why a segment rolls, for the story.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RollReason {
    /// The append would push the segment past `segment.bytes`.
    Size,
    /// The records span more than `segment.ms` (less its jitter).
    Time,
    /// An index file is full (`segment.index.bytes`).
    IndexFull,
    /// The offsets would not fit in the segment's 32-bit relative offsets.
    OffsetOverflow,
    /// Asked for: an operator's roll, or retention making room before it deletes every
    /// segment.
    Forced,
}

impl LogSegment {
    pub fn new(
        base_offset: u64,
        now_ms: u64,
        roll_jitter_ms: u64,
        segment_index_bytes: u64,
    ) -> LogSegment {
        LogSegment {
            base_offset,
            batches: Vec::new(),
            size_bytes: 0,
            created_ms: now_ms,
            last_modified_ms: now_ms,
            roll_jitter_ms,
            rolling_based_timestamp_ms: None,
            max_timestamp_ms: None,
            offset_index_entries: 0,
            time_index_entries: 0,
            last_time_index_timestamp_ms: None,
            bytes_since_last_index_entry: 0,
            max_offset_index_entries: segment_index_bytes / OFFSET_INDEX_ENTRY_BYTES,
            max_time_index_entries: segment_index_bytes / TIME_INDEX_ENTRY_BYTES,
        }
    }

    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// `LogSegment.largestTimestamp`: the largest record timestamp, or the file's mtime when
    /// the segment has none. Time retention reads it.
    pub fn largest_timestamp_ms(&self) -> u64 {
        self.max_timestamp_ms.unwrap_or(self.last_modified_ms)
    }

    /// `LogSegment.getFirstBatchTimestamp`: the first batch's max timestamp; `None` is
    /// Kafka's `Long.MAX_VALUE` for a segment without one. `max.compaction.lag.ms` reads it.
    pub fn first_batch_timestamp_ms(&self) -> Option<u64> {
        self.rolling_based_timestamp_ms
    }

    /// The offset after the segment's last batch, if it has one (`readNextOffset`).
    pub fn next_offset(&self) -> Option<u64> {
        self.batches.last().map(RecordBatch::next_offset)
    }

    /// The offset index's bytes (`OffsetIndex.sizeInBytes`), as the cleaner's grouping reads it.
    pub fn offset_index_bytes(&self) -> u64 {
        self.offset_index_entries * OFFSET_INDEX_ENTRY_BYTES
    }

    /// The time index's bytes (`TimeIndex.sizeInBytes`).
    pub fn time_index_bytes(&self) -> u64 {
        self.time_index_entries * TIME_INDEX_ENTRY_BYTES
    }

    /// `LogSegment.shouldRoll`: whether the next append must go to a new segment, and why.
    pub fn should_roll(&self, p: RollParams) -> Option<RollReason> {
        // `size > maxSegmentBytes - messagesSize`, in Kafka's int arithmetic (which a batch
        // larger than the segment makes negative: it always rolls).
        if self.size_bytes as i64 > p.max_segment_bytes as i64 - p.messages_size_bytes as i64 {
            return Some(RollReason::Size);
        }
        // `timeWaitedForRoll`: by record timestamps from the first batch's, and by the wall
        // clock only when the first batch had none. Strictly greater than the limit.
        let waited_ms = match self.rolling_based_timestamp_ms {
            Some(first_ms) => p.max_timestamp_in_messages_ms as i64 - first_ms as i64,
            None => p.now_ms as i64 - self.created_ms as i64,
        };
        let limit_ms = p.max_segment_ms as i64 - self.roll_jitter_ms as i64;
        if self.size_bytes > 0 && waited_ms > limit_ms {
            return Some(RollReason::Time);
        }
        if self.offset_index_entries >= self.max_offset_index_entries
            || self.time_index_entries >= self.max_time_index_entries
        {
            return Some(RollReason::IndexFull);
        }
        // `canConvertToRelativeOffset`: relative offsets are 32-bit.
        if p.max_offset_in_messages - self.base_offset > i32::MAX as u64 {
            return Some(RollReason::OffsetOverflow);
        }
        None
    }

    /// `LogSegment.append`: one append call's batches (a producer's batch on the leader, a
    /// whole fetched chunk on a follower). An index entry is written when more than
    /// `index.interval.bytes` went in since the last one, before this append's bytes count.
    pub fn append(&mut self, batches: Vec<RecordBatch>, now_ms: u64, index_interval_bytes: u64) {
        let Some(first) = batches.first() else {
            return;
        };
        debug_assert!(
            first.base_offset >= self.base_offset,
            "a segment holds offsets from its base on"
        );
        debug_assert!(
            self.next_offset()
                .is_none_or(|next| first.base_offset >= next),
            "appends continue the segment"
        );
        let bytes: u64 = batches.iter().map(RecordBatch::size_bytes).sum();
        let max_ts = batches.iter().map(|b| b.max_timestamp_ms).max();
        // `physicalPosition == 0`: the first append sets the roll's starting time to its
        // largest timestamp.
        if self.batches.is_empty() {
            self.rolling_based_timestamp_ms = max_ts;
        }
        if let Some(ts) = max_ts {
            self.max_timestamp_ms = Some(self.max_timestamp_ms.map_or(ts, |m| m.max(ts)));
        }
        if self.bytes_since_last_index_entry > index_interval_bytes {
            self.offset_index_entries += 1;
            let max_so_far = self.max_timestamp_ms.unwrap_or(0);
            if self
                .last_time_index_timestamp_ms
                .is_none_or(|last| max_so_far > last)
            {
                self.time_index_entries += 1;
                self.last_time_index_timestamp_ms = Some(max_so_far);
            }
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += bytes;
        self.size_bytes += bytes;
        self.last_modified_ms = now_ms;
        self.batches.extend(batches);
    }

    /// `LogSegment.onBecomeInactiveSegment`: when a segment stops being the active one (a roll,
    /// or the cleaner's output), its time index gets the segment's largest timestamp, full or
    /// not, if that is newer than its last entry. The cleaner's grouping counts that entry
    /// against `segment.index.bytes`.
    pub fn on_become_inactive(&mut self) {
        if let Some(ts) = self.max_timestamp_ms {
            if self
                .last_time_index_timestamp_ms
                .is_none_or(|last| ts > last)
            {
                self.time_index_entries += 1;
                self.last_time_index_timestamp_ms = Some(ts);
            }
        }
    }

    /// Cuts the segment back so that nothing at or after `offset` is left (`truncateTo`):
    /// a batch that reaches `offset` goes whole, as Kafka cuts at the batch's position.
    /// Returns the bytes removed.
    pub fn truncate_to(&mut self, offset: u64) -> u64 {
        let keep = self
            .batches
            .iter()
            .position(|b| b.last_offset >= offset)
            .unwrap_or(self.batches.len());
        if keep == self.batches.len() {
            return 0;
        }
        self.batches.truncate(keep);
        let before = self.size_bytes;
        self.size_bytes = self.batches.iter().map(RecordBatch::size_bytes).sum();
        self.max_timestamp_ms = self.batches.iter().map(|b| b.max_timestamp_ms).max();
        if self.batches.is_empty() {
            self.rolling_based_timestamp_ms = None;
        }
        // Kafka truncates the indexes to the entries below the cut; the model cannot place
        // entries by offset, so it keeps the share of entries the bytes left suggest.
        if let (Some(offsets), Some(times)) = (
            (self.offset_index_entries * self.size_bytes).checked_div(before),
            (self.time_index_entries * self.size_bytes).checked_div(before),
        ) {
            self.offset_index_entries = offsets;
            self.time_index_entries = times;
        }
        before - self.size_bytes
    }

    /// The first batch whose last offset is at or after `offset` (`LogSegment.translateOffset`):
    /// where a read from `offset` starts.
    pub fn first_batch_at_or_after(&self, offset: u64) -> Option<usize> {
        let i = self.batches.partition_point(|b| b.last_offset < offset);
        (i < self.batches.len()).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testing::batch_at;

    fn params(bytes: u64, ts: u64, last_offset: u64) -> RollParams {
        RollParams {
            max_segment_ms: 1000,
            max_segment_bytes: 500,
            max_timestamp_in_messages_ms: ts,
            max_offset_in_messages: last_offset,
            messages_size_bytes: bytes,
            now_ms: 0,
        }
    }

    #[test]
    fn an_empty_segment_rolls_neither_by_time_nor_for_a_fitting_batch() {
        let s = LogSegment::new(0, 0, 0, 10 * 1024 * 1024);
        assert_eq!(s.should_roll(params(100, 1_000_000, 0)), None);
        // A batch bigger than the whole segment makes Kafka's int arithmetic negative.
        assert_eq!(s.should_roll(params(501, 0, 0)), Some(RollReason::Size));
    }

    #[test]
    fn time_rolls_measure_record_timestamps_strictly() {
        let mut s = LogSegment::new(0, 0, 0, 10 * 1024 * 1024);
        s.append(vec![batch_at(0, Some("k"), 5_000)], 0, 4096);
        // Waited 1000 = segment.ms: not yet (strictly greater).
        assert_eq!(s.should_roll(params(10, 6_000, 1)), None);
        assert_eq!(s.should_roll(params(10, 6_001, 1)), Some(RollReason::Time));
    }

    #[test]
    fn size_rolls_when_the_append_would_not_fit() {
        let mut s = LogSegment::new(0, 0, 0, 10 * 1024 * 1024);
        s.append(vec![batch_at(0, Some("k"), 0)], 0, 4096);
        let size = s.size_bytes();
        assert_eq!(s.should_roll(params(500 - size, 0, 1)), None);
        assert_eq!(
            s.should_roll(params(500 - size + 1, 0, 1)),
            Some(RollReason::Size)
        );
    }

    #[test]
    fn a_full_offset_index_rolls() {
        // Room for one entry in each index; an entry is written once more than 1 byte went in.
        let mut s = LogSegment::new(0, 0, 0, 12);
        s.append(vec![batch_at(0, Some("k"), 0)], 0, 1);
        assert_eq!(s.should_roll(params(1, 0, 1)), None);
        s.append(vec![batch_at(1, Some("k"), 0)], 0, 1);
        assert_eq!(s.should_roll(params(1, 0, 2)), Some(RollReason::IndexFull));
    }
}
