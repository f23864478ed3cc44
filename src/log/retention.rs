//! Retention: deleting old segments from the front of a log (Kafka's
//! `UnifiedLog.deleteOldSegments`), and DeleteRecords' move of the log start offset.
//!
//! Retention deletes a prefix of the log, never a hole: it walks segments oldest first and
//! stops at the first it may not delete. It never deletes a segment that reaches the
//! replica's own high watermark, so the log start offset never passes it. The active
//! segment is not exempt (a common belief): when it is past retention and the high
//! watermark is at the log end, it goes too, and Kafka first rolls a new empty one at the
//! log end so that offsets carry on. Since 3.0 (KAFKA-12177) the three rules run in this
//! order: the log start offset (moved by DeleteRecords), then `retention.bytes`, then
//! `retention.ms`; only the first runs when `cleanup.policy` lacks `delete`.
//!
//! `retention.ms` measures each segment's largest record timestamp, which is the
//! producer's clock under `CreateTime`: a record stamped in the future holds its segment,
//! and every later one, until the clock passes it.

use super::segment::LogSegment;
use super::Log;
use crate::types::RecordId;
use serde::Serialize;

/// Which retention rule deleted segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionRule {
    /// The log start offset (DeleteRecords, or a leader's) passed the whole segment.
    LogStartOffset,
    /// `retention.bytes`.
    Size,
    /// `retention.ms`.
    Time,
}

/// Segments one rule deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deletion {
    pub rule: RetentionRule,
    /// The base offsets of the deleted segments.
    pub segments: Vec<u64>,
    /// The log start offset after the deletion.
    pub log_start_offset: u64,
    /// The records the deleted segments held at or above the log start offset before: the
    /// ones readers could still get.
    pub removed: Vec<(u64, RecordId)>,
}

impl Log {
    /// One retention pass at `now_ms` with the replica's `high_watermark`
    /// (`UnifiedLog.deleteOldSegments`, 3.0+ order). Returns what each rule deleted.
    pub fn delete_old_segments(&mut self, now_ms: u64, high_watermark: u64) -> Vec<Deletion> {
        let mut deletions = Vec::new();
        let rules: &[RetentionRule] = if self.config.cleanup_policy.delete {
            &[
                RetentionRule::LogStartOffset,
                RetentionRule::Size,
                RetentionRule::Time,
            ]
        } else {
            &[RetentionRule::LogStartOffset]
        };
        for &rule in rules {
            if let Some(d) = self.delete_by(rule, now_ms, high_watermark) {
                deletions.push(d);
            }
        }
        deletions
    }

    fn delete_by(
        &mut self,
        rule: RetentionRule,
        now_ms: u64,
        high_watermark: u64,
    ) -> Option<Deletion> {
        let count = match rule {
            RetentionRule::LogStartOffset => {
                let start = self.log_start_offset;
                // `deleteLogStartOffsetBreachedSegments`: the next segment starts at or below
                // the log start offset.
                self.deletable_segments(high_watermark, |_, next| {
                    next.is_some_and(|n| n.base_offset <= start)
                })
            }
            RetentionRule::Size => {
                // `deleteRetentionSizeBreachedSegments`: only when the log is at least
                // `retention.bytes`, and then oldest segments while what is over the limit
                // covers them whole.
                let limit = self.config.retention_bytes?;
                let size = self.size_bytes();
                if size < limit {
                    return None;
                }
                let mut excess = size - limit;
                self.deletable_segments(high_watermark, |s, _| {
                    if excess >= s.size_bytes() {
                        excess -= s.size_bytes();
                        true
                    } else {
                        false
                    }
                })
            }
            RetentionRule::Time => {
                // `deleteRetentionMsBreachedSegments`: strictly older than `retention.ms`.
                let retention_ms = self.config.retention_ms?;
                self.deletable_segments(high_watermark, |s, _| {
                    now_ms as i64 - s.largest_timestamp_ms() as i64 > retention_ms as i64
                })
            }
        };
        (count > 0).then(|| self.delete_segments(rule, count, now_ms))
    }

    /// `UnifiedLog.deletableSegments`: how many segments from the oldest on satisfy
    /// `predicate` (given the segment and the one after it) and lie wholly below the high
    /// watermark; the walk stops at the first that does not, and at an empty last segment.
    fn deletable_segments(
        &self,
        high_watermark: u64,
        mut predicate: impl FnMut(&LogSegment, Option<&LogSegment>) -> bool,
    ) -> usize {
        let mut count = 0;
        for (i, segment) in self.segments.iter().enumerate() {
            let next = self.segments.get(i + 1);
            let is_last_and_empty = next.is_none() && segment.size_bytes() == 0;
            let upper_bound = next.map_or(self.log_end_offset, |n| n.base_offset);
            if is_last_and_empty || high_watermark < upper_bound || !predicate(segment, next) {
                break;
            }
            count += 1;
        }
        count
    }

    /// `UnifiedLog.deleteSegments`: removes the `count` oldest segments (rolling a new empty
    /// one first if that is all of them) and moves the log start offset to the first
    /// segment left.
    fn delete_segments(&mut self, rule: RetentionRule, count: usize, now_ms: u64) -> Deletion {
        let mut count = count;
        if count == self.segments.len() {
            let roll = self.roll(now_ms);
            // Kafka: the last deletable segment was the empty one just replaced at the same
            // base offset; it stays as the new active segment.
            if self.segments.len() == count {
                debug_assert_eq!(roll.new_base_offset, self.log_end_offset);
                count -= 1;
            }
        }
        let deleted: Vec<LogSegment> = self.segments.drain(..count).collect();
        let start_before = self.log_start_offset;
        let removed = deleted
            .iter()
            .flat_map(|s| s.batches.iter())
            .flat_map(|b| b.records.iter())
            .filter(|r| r.offset >= start_before)
            .map(|r| (r.offset, r.id))
            .collect();
        let first_base = self.segments[0].base_offset;
        let hw = self.log_end_offset;
        if first_base > self.log_start_offset {
            self.maybe_increment_log_start_offset(first_base, hw);
        }
        Deletion {
            rule,
            segments: deleted.iter().map(|s| s.base_offset).collect(),
            log_start_offset: self.log_start_offset,
            removed,
        }
    }

    /// DeleteRecords on the leader's log (`Partition.deleteRecordsOnLeader`): the log start
    /// offset moves to `before_offset` at once, mid-segment if need be; the segments below
    /// it go at the next retention pass. A topic without `delete` in its policy refuses
    /// (POLICY_VIOLATION), and so does an offset past the high watermark
    /// (OFFSET_OUT_OF_RANGE). Returns the new log start offset.
    pub fn delete_records(
        &mut self,
        before_offset: u64,
        high_watermark: u64,
    ) -> Result<u64, DeleteRecordsError> {
        if !self.config.cleanup_policy.delete {
            return Err(DeleteRecordsError::PolicyViolation);
        }
        if before_offset > high_watermark {
            return Err(DeleteRecordsError::OffsetOutOfRange);
        }
        self.maybe_increment_log_start_offset(before_offset, high_watermark);
        Ok(self.log_start_offset)
    }
}

/// Why a DeleteRecords is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DeleteRecordsError {
    /// The topic's `cleanup.policy` does not contain `delete`.
    PolicyViolation,
    /// The offset is past the high watermark.
    OffsetOutOfRange,
}

impl DeleteRecordsError {
    pub fn kafka_name(self) -> &'static str {
        match self {
            DeleteRecordsError::PolicyViolation => "POLICY_VIOLATION",
            DeleteRecordsError::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
        }
    }
}
