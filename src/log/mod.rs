//! A replica's log: segments of record batches from the log start offset to the log end
//! offset (LEO), the leader-epoch cache, the flush point and the cleaner's checkpoint.
//!
//! The log is the part of a broker that lives on disk. What survives a failure depends on the
//! failure: a process crash keeps everything the OS page cache had (the whole log); a power
//! loss keeps what was flushed (fsync'ed) or what the OS had written back on its own,
//! whichever reaches further (see [`crate::page_cache`]). Kafka never fsyncs per write by
//! default (`flush.messages` and `flush.ms` are "never"); the only fsync besides a clean
//! shutdown is the one a segment roll schedules for everything below the new segment. So a
//! power loss normally takes the tail of the last half minute or so: Kafka relies on
//! replication, not fsync, for durability.
//!
//! The leader-epoch cache maps each leader epoch to the first offset written in it. It is what
//! KIP-101 added so that a follower can ask the leader "where did my last epoch end on your
//! side?" instead of trusting its own, possibly stale, high watermark.
//!
//! Around the records, three mechanisms reshape the log without ever changing an offset
//! (Kafka's `UnifiedLog`, `LocalLog`, `LogCleaner`):
//! - segments ([`segment`]): the log is a run of segments, and only the newest, the active
//!   one, takes appends;
//! - retention ([`retention`]): whole old segments are deleted from the front, by time, by
//!   size, or because DeleteRecords moved the log start offset past them;
//! - compaction ([`cleaner`]): the cleaner rewrites closed segments keeping only the latest
//!   record of each key, so offsets get gaps.
//!
//! Each replica does all three on its own log, with its own segment boundaries, its own
//! clock and its own high watermark: nothing makes two replicas' logs identical byte for
//! byte, only the record at an offset is the same wherever it still exists.

pub mod cleaner;
#[cfg(test)]
mod compaction_properties;
pub mod config;
#[cfg(test)]
mod kafka_cases;
pub mod retention;
pub mod segment;
#[cfg(test)]
pub(crate) mod testing;
mod transactions;
#[cfg(test)]
mod transactions_tests;

use crate::page_cache::{PageCache, WriteBack};
use crate::producer_state::{
    Check, PartitionTransactions, ProducerRules, ProducerStateManager, VerificationStates,
};
use crate::types::{BatchStamp, LeaderEpoch, ProducerRecord, Record, RecordBatch, RecordId};
use config::{LogConfig, TimestampType};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use segment::{LogSegment, RollParams, RollReason};
use serde::Serialize;

pub use config::{CleanerConfig, CleanupPolicy};

/// What a power loss left of a log: its end before, and the two marks it kept the larger of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerLoss {
    pub log_end_offset_before: u64,
    /// What the broker had fsynced (Kafka's recovery point).
    pub flushed_offset: u64,
    /// What the OS had written back on its own.
    pub written_back_offset: u64,
}

impl PowerLoss {
    /// The new log end offset.
    pub fn kept_offset(&self) -> u64 {
        self.flushed_offset
            .max(self.written_back_offset)
            .min(self.log_end_offset_before)
    }
}

/// An epoch and the first offset the leader of that epoch wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EpochEntry {
    pub epoch: LeaderEpoch,
    pub start_offset: u64,
}

/// Which era's `LeaderEpochFileCache.endOffsetFor` answers an OffsetsForLeaderEpoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndOffsetRules {
    /// KIP-279 (protocol 2.0): the answer names the largest epoch at or below the requested
    /// one. Before, it names the requested epoch itself (with the start offset of the next
    /// higher epoch), and the follower cannot tell the two apart.
    pub kip_279: bool,
    /// Kafka 2.0.0's cache answers an epoch older than its first one with that first epoch's
    /// start offset; 0.11 and 1.x answer `UNDEFINED_EPOCH_OFFSET`, and the follower falls
    /// back to its own high watermark.
    pub answers_below_cache: bool,
}

impl EndOffsetRules {
    /// Kafka 2.0 and later, at protocol 2.0 or later.
    pub const LATEST: EndOffsetRules = EndOffsetRules {
        kip_279: true,
        answers_below_cache: true,
    };
}

/// Why a leader refuses a producer's batch before appending it (`UnifiedLog.append`,
/// `LogValidator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AppendError {
    /// A keyless record on a compacted topic: the whole batch is refused
    /// (`LogValidator.validateKey`, INVALID_RECORD from 2.4, CORRUPT_MESSAGE before).
    KeylessRecordOnCompactedTopic,
    /// The batch is larger than `segment.bytes` (RECORD_LIST_TOO_LARGE).
    LargerThanSegment {
        batch_bytes: u64,
        segment_bytes: u64,
    },
}

/// A segment roll, for the story.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Roll {
    pub new_base_offset: u64,
    pub reason: RollReason,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Log {
    config: LogConfig,
    log_start_offset: u64,
    /// The offset the next batch gets. Not always the last record's offset + 1: an empty
    /// active segment can start past it, and a follower can start at a leader's log start.
    log_end_offset: u64,
    /// Never empty; the last one is the active segment.
    segments: Vec<LogSegment>,
    epochs: Vec<EpochEntry>,
    /// Everything below this offset is on stable storage (Kafka's recovery point).
    flushed_offset: u64,
    /// When the oldest unflushed record was appended, for `flush.ms`.
    oldest_unflushed_ms: Option<u64>,
    /// What the OS wrote back of the unflushed part on its own.
    page_cache: PageCache,
    /// What the idempotent producers last wrote here: a function of the batches, kept up to
    /// date on every append and rebuilt after a truncation.
    #[serde(skip)]
    producer_state: ProducerStateManager,
    /// The transactional half of the producer state: open and decided transactions, the
    /// aborted-transaction index, and from them the last stable offset (see
    /// `transactions.rs`). Also a function of the batches.
    #[serde(skip)]
    transactions: PartitionTransactions,
    /// KIP-890: the leader's pending verifications of transactional batches, in memory
    /// only (see `producer_state/verification.rs`).
    #[serde(skip)]
    verification: VerificationStates,
    /// The cleaner's `cleaner-offset-checkpoint` entry: where the dirty part begins.
    cleaner_checkpoint: Option<u64>,
    /// Draws each new segment's share of `segment.jitter.ms`.
    #[serde(skip)]
    jitter_rng: ChaCha8Rng,
}

impl Default for Log {
    fn default() -> Self {
        Log::new()
    }
}

/// Where in the log an offset falls, for the read rules (`UnifiedLog.read`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetRange {
    /// Below the log start offset: OFFSET_OUT_OF_RANGE.
    BelowLogStart,
    /// Past the log end offset: OFFSET_OUT_OF_RANGE.
    AboveLogEnd,
    InRange,
}

impl Log {
    /// An empty log with Kafka's default configs on a machine with Linux's default write-back.
    pub fn new() -> Log {
        Log::with_write_back(WriteBack::LINUX_DEFAULT)
    }

    /// An empty log on a machine whose OS writes dirty pages back as `write_back` says.
    pub fn with_write_back(write_back: WriteBack) -> Log {
        Log::with_config(LogConfig::KAFKA_DEFAULT, write_back, 0, 0)
    }

    /// An empty log with `config`, created at `now_ms`; `jitter_seed` seeds the draws of
    /// `segment.jitter.ms` (from the run's seed: the same run rolls at the same offsets).
    pub fn with_config(
        config: LogConfig,
        write_back: WriteBack,
        jitter_seed: u64,
        now_ms: u64,
    ) -> Log {
        let mut log = Log {
            segments: Vec::new(),
            config,
            log_start_offset: 0,
            log_end_offset: 0,
            epochs: Vec::new(),
            flushed_offset: 0,
            oldest_unflushed_ms: None,
            page_cache: PageCache::new(write_back),
            producer_state: ProducerStateManager::default(),
            transactions: PartitionTransactions::default(),
            verification: VerificationStates::default(),
            cleaner_checkpoint: None,
            jitter_rng: ChaCha8Rng::seed_from_u64(jitter_seed),
        };
        let segment = log.new_segment(0, now_ms);
        log.segments.push(segment);
        log
    }

    /// A log built from its parts, as `kafka-sim log` reads one: segments by base offset
    /// (the last is the active one), each with its batches (appended one by one at
    /// `now_ms`, each batch its own append), and the log start offset (default: the first
    /// segment's base). Offsets must increase through the log and lie in their segment.
    pub fn from_parts(
        config: LogConfig,
        log_start_offset: Option<u64>,
        segments: Vec<(u64, Vec<RecordBatch>)>,
        now_ms: u64,
    ) -> Result<Log, String> {
        if segments.is_empty() {
            return Err("a log has at least one segment".into());
        }
        let mut log = Log::with_config(config, WriteBack::Never, 0, now_ms);
        log.segments.clear();
        let mut next = 0u64;
        for (i, (base_offset, batches)) in segments.iter().enumerate() {
            if i > 0 && *base_offset <= segments[i - 1].0 {
                return Err(format!(
                    "segment base offsets must increase: {base_offset} after {}",
                    segments[i - 1].0
                ));
            }
            if *base_offset < next {
                return Err(format!(
                    "segment {base_offset} starts before the previous segment's last offset {}",
                    next - 1
                ));
            }
            let limit = segments.get(i + 1).map_or(u64::MAX, |s| s.0);
            let mut segment = log.new_segment(*base_offset, now_ms);
            for b in batches {
                if b.base_offset < next.max(*base_offset) || b.last_offset >= limit {
                    return Err(format!(
                        "offset {} is out of order or outside segment {base_offset}",
                        b.base_offset
                    ));
                }
                next = b.next_offset();
                segment.append(vec![b.clone()], now_ms, log.config.index_interval_bytes);
            }
            // The file's time: its largest record timestamp, as the conformance oracle sets
            // it (a real file has the wall clock of its last write).
            segment.last_modified_ms = segment
                .batches
                .iter()
                .map(|b| b.max_timestamp_ms)
                .max()
                .unwrap_or(0);
            if i + 1 < segments.len() {
                segment.on_become_inactive();
            }
            log.segments.push(segment);
        }
        log.log_end_offset = next.max(log.active_segment().base_offset);
        let first_base = log.segments[0].base_offset;
        let start = log_start_offset.unwrap_or(first_base);
        if start < first_base || start > log.log_end_offset {
            return Err(format!(
                "log_start_offset {start} must lie between the first segment's base {first_base} and the log end {}",
                log.log_end_offset
            ));
        }
        log.log_start_offset = start;
        log.flushed_offset = log.log_end_offset;
        let first = log
            .batches()
            .next()
            .map(|b| (b.leader_epoch, b.base_offset));
        if let Some((epoch, offset)) = first {
            log.epochs.push(EpochEntry {
                epoch,
                start_offset: offset,
            });
        }
        log.rebuild_producer_state();
        log.debug_assert_shape();
        Ok(log)
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// A topic's configs changed (or were first known): later appends, rolls, retention and
    /// cleaning follow them (Kafka's `UnifiedLog.updateConfig`).
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// A new segment at `base_offset`, with its share of the roll jitter drawn
    /// (`LogConfig.randomSegmentJitter`: uniform below `min(segment.jitter.ms, segment.ms)`).
    fn new_segment(&mut self, base_offset: u64, now_ms: u64) -> LogSegment {
        let jitter_ms = match self.config.segment_jitter_ms {
            0 => 0,
            j => self.jitter_rng.next_u64() % j.min(self.config.segment_ms),
        };
        LogSegment::new(
            base_offset,
            now_ms,
            jitter_ms,
            self.config.segment_index_bytes,
        )
    }

    /// What the idempotent producers last wrote to this log (Kafka's `ProducerStateManager`).
    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producer_state
    }

    /// The leader's check of a producer's batch before it appends it
    /// (`UnifiedLog.analyzeAndValidateProducerState` with `AppendOrigin.CLIENT`).
    pub fn check_producer_batch(&self, stamp: &BatchStamp, rules: ProducerRules) -> Check {
        match self.producer_state.check(stamp, rules) {
            Check::Append => self.check_transactional_batch(stamp),
            other => other,
        }
    }

    /// The leader's check of a batch the group coordinator writes with a producer's stamp
    /// (a transactional offset commit, `AppendOrigin.COORDINATOR`): the producer epoch, then
    /// the transactional check.
    pub fn check_coordinator_batch(&self, stamp: &BatchStamp) -> Check {
        match self.producer_state.check_coordinator(stamp) {
            Check::Append => self.check_transactional_batch(stamp),
            other => other,
        }
    }

    pub fn log_start_offset(&self) -> u64 {
        self.log_start_offset
    }

    /// The offset the next record will get.
    pub fn log_end_offset(&self) -> u64 {
        self.log_end_offset
    }

    pub fn flushed_offset(&self) -> u64 {
        self.flushed_offset
    }

    /// What the OS had written back on its own when the log was last touched.
    pub fn written_back_offset(&self) -> u64 {
        self.page_cache.written_back_offset()
    }

    pub fn segments(&self) -> &[LogSegment] {
        &self.segments
    }

    pub fn active_segment(&self) -> &LogSegment {
        self.segments.last().expect("a log always has a segment")
    }

    pub fn cleaner_checkpoint(&self) -> Option<u64> {
        self.cleaner_checkpoint
    }

    /// Sets the cleaner's checkpoint, as `kafka-sim log` does from its input.
    pub fn set_cleaner_checkpoint(&mut self, offset: Option<u64>) {
        self.cleaner_checkpoint = offset;
    }

    /// Every batch from the oldest segment on.
    pub fn batches(&self) -> impl Iterator<Item = &RecordBatch> + '_ {
        self.segments.iter().flat_map(|s| s.batches.iter())
    }

    /// The bytes from the recovery point (the flush point) to the log end: what Kafka's
    /// `LogLoader.recoverLog` reads and checks again after an unclean shutdown.
    pub fn bytes_past_recovery_point(&self) -> u64 {
        self.batches()
            .filter(|b| b.last_offset >= self.flushed_offset)
            .map(RecordBatch::size_bytes)
            .sum()
    }

    /// The bytes of the whole log (`UnifiedLog.size`).
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(LogSegment::size_bytes).sum()
    }

    pub fn unflushed_count(&self) -> u64 {
        self.log_end_offset() - self.flushed_offset
    }

    pub fn oldest_unflushed_ms(&self) -> Option<u64> {
        self.oldest_unflushed_ms
    }

    /// Every record the log holds, oldest first, with the gaps compaction left.
    pub fn records(&self) -> impl Iterator<Item = &Record> + '_ {
        self.batches().flat_map(|b| b.records.iter())
    }

    pub fn epochs(&self) -> &[EpochEntry] {
        &self.epochs
    }

    /// The index of the segment that holds `offset`: the last one whose base is at or below
    /// it (`segments.floorSegment`).
    fn floor_segment(&self, offset: u64) -> Option<usize> {
        let i = self.segments.partition_point(|s| s.base_offset <= offset);
        i.checked_sub(1)
    }

    /// The record at `offset`, if the log holds one there (not below the log start offset,
    /// not in a gap).
    pub fn record_at(&self, offset: u64) -> Option<&Record> {
        if offset < self.log_start_offset || offset >= self.log_end_offset {
            return None;
        }
        let segment = &self.segments[self.floor_segment(offset)?];
        let batch = &segment.batches[segment.first_batch_at_or_after(offset)?];
        let i = batch
            .records
            .binary_search_by_key(&offset, |r| r.offset)
            .ok()?;
        Some(&batch.records[i])
    }

    /// Where `offset` falls for a reader (`UnifiedLog.read`'s checks): below the log start
    /// offset or past the log end is OFFSET_OUT_OF_RANGE.
    pub fn offset_range(&self, offset: u64) -> OffsetRange {
        if offset < self.log_start_offset {
            OffsetRange::BelowLogStart
        } else if offset > self.log_end_offset {
            OffsetRange::AboveLogEnd
        } else {
            OffsetRange::InRange
        }
    }

    /// Whole batches from the first one that holds an offset at or after `offset`, up to
    /// `upper` (the high watermark for a consumer, the LEO for a follower), from one segment
    /// only, and at most `max_records` records (but always a first batch that fits under
    /// `upper`, as KIP-74's "at least one batch"). Kafka's `LocalLog.read`: a read is served
    /// from the segment holding the offset, or the next one that has data after it; a batch
    /// that starts before `offset` comes whole and the reader skips what it did not ask for.
    pub fn read(&self, offset: u64, upper: u64, max_records: usize) -> Vec<RecordBatch> {
        let upper = upper.min(self.log_end_offset);
        if offset >= upper || offset < self.log_start_offset {
            return Vec::new();
        }
        let Some(mut si) = self.floor_segment(offset) else {
            return Vec::new();
        };
        while si < self.segments.len() {
            let segment = &self.segments[si];
            if let Some(first) = segment.first_batch_at_or_after(offset) {
                let mut out = Vec::new();
                let mut records = 0usize;
                for b in &segment.batches[first..] {
                    if b.last_offset >= upper || (!out.is_empty() && records >= max_records) {
                        break;
                    }
                    records += b.records.len();
                    out.push(b.clone());
                }
                return out;
            }
            si += 1;
        }
        Vec::new()
    }

    /// The records in `[from, to)` the log holds: what a move of the log start offset from
    /// `from` to `to` takes from readers.
    pub fn records_between(&self, from: u64, to: u64) -> Vec<(u64, RecordId)> {
        self.records()
            .filter(|r| r.offset >= from && r.offset < to)
            .map(|r| (r.offset, r.id))
            .collect()
    }

    /// The epoch of the newest entry in the leader-epoch cache.
    pub fn latest_epoch(&self) -> Option<LeaderEpoch> {
        self.epochs.last().map(|e| e.epoch)
    }

    /// Records that a new epoch starts at `start_offset`, as a new leader does when it takes
    /// over (Kafka's `assign`). Entries at or after `start_offset` with smaller epochs are
    /// dropped; an epoch older than the newest one is ignored.
    pub fn assign_epoch_start(&mut self, epoch: LeaderEpoch, start_offset: u64) {
        if let Some(last) = self.epochs.last() {
            if epoch <= last.epoch {
                return;
            }
        }
        self.epochs.retain(|e| e.start_offset < start_offset);
        self.epochs.push(EpochEntry {
            epoch,
            start_offset,
        });
        self.assert_epochs();
    }

    /// The leader's checks of a producer's batch before it is appended: a compacted topic
    /// refuses keyless records (`LogValidator.validateKey`), and no batch may be larger
    /// than a segment (`UnifiedLog.append`: RecordBatchTooLargeException).
    pub fn validate_leader_batch(&self, records: &[ProducerRecord]) -> Result<(), AppendError> {
        if self.config.cleanup_policy.compact && records.iter().any(|r| r.key.is_none()) {
            return Err(AppendError::KeylessRecordOnCompactedTopic);
        }
        let batch_bytes = crate::record_size::RECORD_BATCH_OVERHEAD_BYTES
            + crate::record_size::batch_record_sizes_bytes(records)
                .iter()
                .sum::<u64>();
        if batch_bytes > self.config.segment_bytes {
            return Err(AppendError::LargerThanSegment {
                batch_bytes,
                segment_bytes: self.config.segment_bytes,
            });
        }
        Ok(())
    }

    /// Appends records as the leader: they form one batch, each record gets the next offset
    /// and the leader's epoch, and the batch the producer's stamp if an idempotent producer
    /// sent it (checked before, with [`Log::check_producer_batch`] and
    /// [`Log::validate_leader_batch`]). The active segment rolls first if it must.
    pub fn append_as_leader(
        &mut self,
        epoch: LeaderEpoch,
        records: Vec<ProducerRecord>,
        producer: Option<BatchStamp>,
        now_ms: u64,
    ) -> Vec<(u64, RecordId, LeaderEpoch)> {
        self.append_as_leader_rolling(epoch, records, producer, now_ms)
            .0
    }

    /// [`Log::append_as_leader`], and the roll it made, if any.
    pub fn append_as_leader_rolling(
        &mut self,
        epoch: LeaderEpoch,
        mut records: Vec<ProducerRecord>,
        producer: Option<BatchStamp>,
        now_ms: u64,
    ) -> (Vec<(u64, RecordId, LeaderEpoch)>, Option<Roll>) {
        if records.is_empty() {
            return (Vec::new(), None);
        }
        self.page_cache.catch_up(now_ms, self.log_end_offset());
        self.assign_epoch_start(epoch, self.log_end_offset());
        // The records arrive as one batch, and the log keeps it as one (Kafka's
        // `UnifiedLog.appendAsLeader` assigns offsets inside the producer's batch).
        let sizes = crate::record_size::batch_record_sizes_bytes(&records);
        if self.config.timestamp_type == TimestampType::LogAppendTime {
            // `LogValidator.assignOffsetsNonCompressed`: the leader stamps the batch with its
            // own clock (`setMaxTimestamp(LOG_APPEND_TIME, now)`), and every record reads
            // as that time; the records' bytes, with the producer's deltas, stay as sent.
            for r in &mut records {
                r.timestamp_ms = now_ms;
            }
        }
        let base_offset = self.log_end_offset();
        let base_timestamp_ms = records[0].timestamp_ms;
        let max_timestamp_ms = records.iter().map(|r| r.timestamp_ms).max().unwrap_or(0);
        let mut appended = Vec::with_capacity(records.len());
        let mut batch_records = Vec::with_capacity(records.len());
        for (i, (r, size_bytes)) in records.into_iter().zip(sizes).enumerate() {
            let offset = base_offset + i as u64;
            appended.push((offset, r.id, epoch));
            batch_records.push(Record::from_producer(
                offset, epoch, r, size_bytes, producer,
            ));
        }
        let batch = RecordBatch {
            base_offset,
            last_offset: base_offset + batch_records.len() as u64 - 1,
            leader_epoch: epoch,
            producer,
            delete_horizon_ms: None,
            control: None,
            base_timestamp_ms,
            max_timestamp_ms,
            records: batch_records,
        };
        self.note_client_batch(&batch);
        let roll = self.append_batches(vec![batch], now_ms);
        (appended, roll)
    }

    /// Appends the batches a follower fetched, as one append (Kafka's `appendAsFollower`):
    /// they keep the leader's offsets, so they may start past this log's end (the leader's
    /// log has gaps where its cleaner removed records). Returns the records appended.
    pub fn append_as_follower(
        &mut self,
        batches: Vec<RecordBatch>,
        now_ms: u64,
    ) -> Vec<(u64, RecordId, LeaderEpoch)> {
        self.append_as_follower_rolling(batches, now_ms).0
    }

    /// [`Log::append_as_follower`], and the roll it made, if any.
    pub fn append_as_follower_rolling(
        &mut self,
        batches: Vec<RecordBatch>,
        now_ms: u64,
    ) -> (Vec<(u64, RecordId, LeaderEpoch)>, Option<Roll>) {
        if batches.is_empty() {
            return (Vec::new(), None);
        }
        self.page_cache.catch_up(now_ms, self.log_end_offset());
        let mut appended = Vec::new();
        let mut next = self.log_end_offset();
        let mut epoch_starts = Vec::new();
        for b in &batches {
            assert!(
                b.base_offset >= next && b.last_offset >= b.base_offset,
                "a follower append continues the log: batch {}..={} after {next}",
                b.base_offset,
                b.last_offset
            );
            next = b.next_offset();
            // `UnifiedLog.append`: the epoch cache learns the epoch stamped on each batch
            // (noted here, assigned once the batches are in, so that no entry starts past
            // the log end even for a moment).
            let newest = epoch_starts.last().map(|&(e, _)| e).or(self.latest_epoch());
            if newest.is_none_or(|e| b.leader_epoch > e) {
                epoch_starts.push((b.leader_epoch, b.base_offset));
            }
            for r in &b.records {
                appended.push((r.offset, r.id, r.leader_epoch));
            }
            // `AppendOrigin.REPLICATION`: noted, never checked.
            self.note_replicated_batch(b);
        }
        let roll = self.append_batches(batches, now_ms);
        for (epoch, start_offset) in epoch_starts {
            self.assign_epoch_start(epoch, start_offset);
        }
        (appended, roll)
    }

    /// Rolls if the append must go to a new segment (`UnifiedLog.maybeRoll`), then appends
    /// the batches to the active segment and moves the log end.
    fn append_batches(&mut self, batches: Vec<RecordBatch>, now_ms: u64) -> Option<Roll> {
        let first_offset = batches[0].base_offset;
        let last = batches.last().expect("batches to append");
        let params = RollParams {
            max_segment_ms: self.config.max_segment_ms(),
            max_segment_bytes: self.config.segment_bytes,
            max_timestamp_in_messages_ms: batches
                .iter()
                .map(|b| b.max_timestamp_ms)
                .max()
                .unwrap_or(0),
            max_offset_in_messages: last.last_offset,
            messages_size_bytes: batches.iter().map(RecordBatch::size_bytes).sum(),
            now_ms,
        };
        let next_offset = last.next_offset();
        let roll = self
            .active_segment()
            .should_roll(params)
            .map(|reason| self.roll_at(first_offset, reason, now_ms));
        let index_interval_bytes = self.config.index_interval_bytes;
        self.segments
            .last_mut()
            .expect("a log always has a segment")
            .append(batches, now_ms, index_interval_bytes);
        self.log_end_offset = next_offset;
        self.note_unflushed(now_ms);
        self.debug_assert_shape();
        roll
    }

    /// `UnifiedLog.roll`: a new active segment at `max(expected_next_offset, LEO)`, and the
    /// scheduled flush of everything below it (Kafka runs `flushUptoOffsetExclusive` on
    /// the scheduler at once; the model flushes on the spot). An empty active segment at
    /// that offset is replaced rather than duplicated.
    fn roll_at(&mut self, expected_next_offset: u64, reason: RollReason, now_ms: u64) -> Roll {
        let new_base_offset = expected_next_offset.max(self.log_end_offset);
        let active = self.active_segment();
        if active.base_offset == new_base_offset && active.is_empty() {
            self.segments.pop();
        }
        if let Some(old) = self.segments.last_mut() {
            old.on_become_inactive();
        }
        let segment = self.new_segment(new_base_offset, now_ms);
        self.segments.push(segment);
        self.flush_below(new_base_offset);
        Roll {
            new_base_offset,
            reason,
        }
    }

    /// An operator's or the retention's roll: a new empty active segment at the log end.
    pub fn roll(&mut self, now_ms: u64) -> Roll {
        self.roll_at(self.log_end_offset, RollReason::Forced, now_ms)
    }

    /// The flush a roll schedules: everything below `offset` reaches the disk.
    fn flush_below(&mut self, offset: u64) {
        let offset = offset.min(self.log_end_offset);
        if offset > self.flushed_offset {
            self.flushed_offset = offset;
            if self.flushed_offset == self.log_end_offset {
                self.oldest_unflushed_ms = None;
                self.page_cache.note_fsync();
            }
        }
    }

    fn note_unflushed(&mut self, now_ms: u64) {
        if self.log_end_offset() > self.flushed_offset {
            self.page_cache.note_write(now_ms);
            if self.oldest_unflushed_ms.is_none() {
                self.oldest_unflushed_ms = Some(now_ms);
            }
        }
    }

    /// Cuts the log back so that `offset` is the new log end offset (`LocalLog.truncateTo`):
    /// segments after it go, and in the segment that holds it every batch that reaches it.
    /// Kafka cuts whole batches; a cut inside a batch (which replication never asks for:
    /// high watermarks and epoch starts are batch boundaries) ends the log at that batch's
    /// start. Epoch entries that start at or after the new end go too. Returns whether
    /// anything was removed.
    pub fn truncate_to(&mut self, offset: u64) -> bool {
        let offset = offset.max(self.log_start_offset);
        let leo = self.log_end_offset();
        if offset >= leo {
            // Kafka's UnifiedLog.truncateTo: the epoch cache is cut even when the log is not.
            // A broker that became leader and appended nothing left an entry at its log end;
            // kept, it would be sent as the last fetched epoch and diverge on every fetch.
            self.epochs.retain(|e| e.start_offset < leo);
            return false;
        }
        while self.segments.len() > 1 && self.active_segment().base_offset > offset {
            self.segments.pop();
        }
        let active = self
            .segments
            .last_mut()
            .expect("a log always has a segment");
        // A batch the cut falls inside goes whole, and the log ends at its start.
        let straddling = active
            .batches
            .iter()
            .find(|b| b.base_offset < offset && b.last_offset >= offset)
            .map(|b| b.base_offset);
        active.truncate_to(offset);
        let end = straddling.unwrap_or(offset);
        self.log_end_offset = end;
        // `UnifiedLog.truncateTo`: the producer state is loaded again from what is left.
        self.rebuild_producer_state();
        self.epochs.retain(|e| e.start_offset < end);
        self.flushed_offset = self.flushed_offset.min(end);
        if self.flushed_offset == self.log_end_offset() {
            self.oldest_unflushed_ms = None;
        }
        // `LogManager.truncateTo`: a cleaner checkpoint past the new end goes back to it.
        if let Some(c) = self.cleaner_checkpoint {
            if c > end {
                self.cleaner_checkpoint = Some(self.active_segment().base_offset.min(end));
            }
        }
        let durable = self
            .flushed_offset
            .max(self.page_cache.written_back_offset());
        self.page_cache.note_truncate(end, durable);
        self.assert_epochs();
        self.debug_assert_shape();
        true
    }

    /// Empties the log and starts it again at `offset` (`UnifiedLog.truncateFullyAndStartAt`):
    /// what a follower does when the leader's log now starts past this log's end.
    pub fn truncate_fully_and_start_at(&mut self, offset: u64, now_ms: u64) {
        self.segments.clear();
        let segment = self.new_segment(offset, now_ms);
        self.segments.push(segment);
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.epochs.clear();
        self.producer_state = ProducerStateManager::default();
        self.transactions = PartitionTransactions::default();
        self.verification.clear_all();
        self.flushed_offset = offset;
        self.oldest_unflushed_ms = None;
        self.cleaner_checkpoint = None;
        self.page_cache.note_truncate(offset, offset);
        self.debug_assert_shape();
    }

    /// Writes everything to stable storage (an fsync). Returns the new flushed offset if it moved.
    pub fn flush(&mut self) -> Option<u64> {
        let leo = self.log_end_offset();
        self.oldest_unflushed_ms = None;
        self.page_cache.note_fsync();
        if leo == self.flushed_offset {
            return None;
        }
        self.flushed_offset = leo;
        Some(leo)
    }

    /// A power loss at `now_ms`: the device keeps the log up to the flush point or up to what
    /// the OS wrote back on its own, whichever is further; the page cache's tail is gone.
    /// The recovery point stays the flush point: what the OS wrote was never checked by Kafka,
    /// so recovery reads it again.
    pub fn lose_unflushed(&mut self, now_ms: u64) -> PowerLoss {
        self.page_cache.catch_up(now_ms, self.log_end_offset());
        let loss = PowerLoss {
            log_end_offset_before: self.log_end_offset(),
            flushed_offset: self.flushed_offset,
            written_back_offset: self.page_cache.written_back_offset(),
        };
        let kept = loss.kept_offset();
        self.truncate_to(kept);
        self.page_cache.note_power_loss(self.log_end_offset());
        self.oldest_unflushed_ms = (self.log_end_offset() > self.flushed_offset).then_some(now_ms);
        loss
    }

    /// Kafka's `LeaderEpochFileCache.endOffsetFor`: for a requested epoch, the largest epoch at
    /// or below it and the offset where that epoch ended (the start of the next epoch, or the
    /// LEO for the newest epoch). `None` (Kafka's `UNDEFINED_EPOCH_OFFSET`) when the log knows
    /// no epoch, or only older ones.
    ///
    /// `rules` picks the era's answer (see [`EndOffsetRules`]).
    pub fn end_offset_for_epoch(
        &self,
        requested: LeaderEpoch,
        rules: EndOffsetRules,
    ) -> Option<(LeaderEpoch, u64)> {
        let leo = self.log_end_offset();
        let latest = self.latest_epoch()?;
        if requested == latest {
            return Some((latest, leo));
        }
        if requested > latest {
            return None;
        }
        let higher = self.epochs.iter().find(|e| e.epoch > requested)?;
        let floor = self.epochs.iter().rev().find(|e| e.epoch <= requested);
        match floor {
            // Older than anything this log knows: from 2.0 the start of the first later epoch
            // (the records before it are gone from this log anyway); 0.11 and 1.x's
            // `endOffsetFor` (`requestedEpoch < epochs.head.epoch`) knows no answer.
            None if rules.answers_below_cache => Some((requested, higher.start_offset)),
            None => None,
            Some(f) if rules.kip_279 => Some((f.epoch, higher.start_offset)),
            Some(_) => Some((requested, higher.start_offset)),
        }
    }

    /// Raises the log start offset (`UnifiedLog.maybeIncrementLogStartOffset`): by
    /// DeleteRecords on a leader, by the leader's value in a fetch answer on a follower, and
    /// by retention after it deleted segments. It never goes back, never past the high
    /// watermark (Kafka throws), and takes the epoch cache's head with it
    /// (`LeaderEpochFileCache.truncateFromStart`: the entry that covered the new start now
    /// starts there). Returns whether it moved.
    pub fn maybe_increment_log_start_offset(&mut self, offset: u64, high_watermark: u64) -> bool {
        assert!(
            offset <= high_watermark.max(self.log_start_offset),
            "the log start offset never passes the high watermark: {offset} > {high_watermark}"
        );
        if offset <= self.log_start_offset {
            return false;
        }
        self.log_start_offset = offset;
        self.truncate_epochs_from_start(offset);
        // `updateLogStartOffset`: the recovery point is never below the log start.
        self.flushed_offset = self.flushed_offset.max(offset.min(self.log_end_offset));
        self.debug_assert_shape();
        true
    }

    /// `LeaderEpochFileCache.truncateFromStart`: entries that start below `offset` go, but
    /// the newest of them moves up to start at `offset`.
    fn truncate_epochs_from_start(&mut self, offset: u64) {
        let below: Vec<EpochEntry> = self
            .epochs
            .iter()
            .copied()
            .filter(|e| e.start_offset < offset)
            .collect();
        if let Some(last_below) = below.last() {
            self.epochs.retain(|e| e.start_offset >= offset);
            self.epochs.insert(
                0,
                EpochEntry {
                    epoch: last_below.epoch,
                    start_offset: offset,
                },
            );
        }
        self.assert_epochs();
    }

    /// The log's shape: segments in base-offset order, each batch inside its segment and
    /// after the one before, the log start and end around them.
    fn debug_assert_shape(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        assert!(!self.segments.is_empty(), "a log always has a segment");
        assert!(self.log_start_offset <= self.log_end_offset);
        let mut next = 0u64;
        for (i, s) in self.segments.iter().enumerate() {
            if let Some(n) = self.segments.get(i + 1) {
                assert!(s.base_offset < n.base_offset, "segments are in order");
            }
            for b in &s.batches {
                assert!(
                    b.base_offset >= s.base_offset,
                    "a batch lies in its segment"
                );
                assert!(b.base_offset >= next, "batches are in order");
                assert!(b.last_offset >= b.base_offset);
                for r in &b.records {
                    assert!(r.offset >= b.base_offset && r.offset <= b.last_offset);
                }
                next = b.next_offset();
            }
        }
        assert!(next <= self.log_end_offset, "the LEO is past every batch");
        assert!(self.active_segment().base_offset <= self.log_end_offset);
    }

    fn assert_epochs(&self) {
        for w in self.epochs.windows(2) {
            assert!(w[0].epoch < w[1].epoch, "epochs must strictly increase");
            assert!(
                w[0].start_offset <= w[1].start_offset,
                "epoch start offsets must not decrease"
            );
        }
        if let Some(last) = self.epochs.last() {
            assert!(last.start_offset <= self.log_end_offset());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RecordId;

    fn rec(seq: u64) -> ProducerRecord {
        ProducerRecord {
            id: RecordId { producer: 0, seq },
            timestamp_ms: 0,
            key: None,
            value: Some(format!("v{seq}")),
            value_bytes: 100,
            headers: vec![],
        }
    }

    /// The producer state follows the log: a leader's append notes the batch, a retry of it
    /// is a duplicate at its first offsets, and a truncation that removes it forgets it
    /// (`UnifiedLog.truncateTo` reloads the state), so the retry is appended again.
    #[test]
    fn the_producer_state_follows_appends_and_truncations() {
        use crate::producer_state::{Check, ProducerRules};
        let rules = ProducerRules {
            unknown_producer_accepts_any_sequence: true,
        };
        let stamp = |base, last| BatchStamp {
            producer_id: 9,
            producer_epoch: 0,
            base_sequence: base,
            last_sequence: last,
            is_transactional: false,
        };
        let mut log = Log::default();
        log.append_as_leader(0, vec![rec(0), rec(1)], Some(stamp(0, 1)), 0);
        log.append_as_leader(0, vec![rec(2)], Some(stamp(2, 2)), 0);
        assert_eq!(
            log.check_producer_batch(&stamp(2, 2), rules),
            Check::Duplicate {
                first_offset: 2,
                last_offset: 2
            }
        );
        assert_eq!(log.records().nth(1).unwrap().producer, Some(stamp(0, 1)));
        log.truncate_to(2);
        assert_eq!(log.check_producer_batch(&stamp(2, 2), rules), Check::Append);
        assert_eq!(
            log.check_producer_batch(&stamp(0, 1), rules),
            Check::Duplicate {
                first_offset: 0,
                last_offset: 1
            }
        );
    }

    #[test]
    fn leader_append_assigns_offsets_and_epochs() {
        let mut log = Log::new();
        log.append_as_leader(0, vec![rec(0), rec(1)], None, 0);
        log.append_as_leader(2, vec![rec(2)], None, 0);
        assert_eq!(log.log_end_offset(), 3);
        assert_eq!(
            log.epochs(),
            &[
                EpochEntry {
                    epoch: 0,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 2,
                    start_offset: 2
                }
            ]
        );
        let latest = EndOffsetRules::LATEST;
        let kip_101 = EndOffsetRules {
            kip_279: false,
            ..latest
        };
        assert_eq!(log.end_offset_for_epoch(0, latest), Some((0, 2)));
        assert_eq!(log.end_offset_for_epoch(1, latest), Some((0, 2)));
        assert_eq!(log.end_offset_for_epoch(1, kip_101), Some((1, 2)));
        assert_eq!(log.end_offset_for_epoch(2, latest), Some((2, 3)));
        assert_eq!(log.end_offset_for_epoch(3, latest), None);
    }

    /// 0.11 and 1.x (`LeaderEpochFileCache.endOffsetFor`, `requestedEpoch < epochs.head.epoch`):
    /// an epoch older than the first cached one has no end offset; 2.0 answers with the start
    /// of the first cached epoch.
    #[test]
    fn an_epoch_below_the_cache_is_undefined_before_2_0() {
        let mut log = Log::new();
        log.append_as_leader(3, vec![rec(0), rec(1)], None, 0);
        log.append_as_leader(5, vec![rec(2)], None, 0);
        let old = EndOffsetRules {
            kip_279: false,
            answers_below_cache: false,
        };
        assert_eq!(log.end_offset_for_epoch(1, old), None);
        assert_eq!(log.end_offset_for_epoch(4, old), Some((4, 2)));
        assert_eq!(
            log.end_offset_for_epoch(1, EndOffsetRules::LATEST),
            Some((1, 0))
        );
    }

    #[test]
    fn truncation_drops_epochs_and_flush_point() {
        let mut log = Log::new();
        log.append_as_leader(0, vec![rec(0)], None, 0);
        log.append_as_leader(0, vec![rec(1)], None, 0);
        log.flush();
        log.append_as_leader(1, vec![rec(2), rec(3)], None, 5);
        assert_eq!(log.flushed_offset(), 2);
        assert!(log.truncate_to(1));
        assert_eq!(log.log_end_offset(), 1);
        assert_eq!(log.flushed_offset(), 1);
        assert_eq!(log.latest_epoch(), Some(0));
    }

    /// Kafka cuts whole batches (`LogSegment.truncateTo` cuts at the position of the batch
    /// that reaches the offset): a cut inside a batch ends the log at that batch's start.
    #[test]
    fn a_truncation_inside_a_batch_removes_the_whole_batch() {
        let mut log = Log::new();
        log.append_as_leader(0, vec![rec(0)], None, 0);
        log.append_as_leader(0, vec![rec(1), rec(2), rec(3)], None, 0);
        assert!(log.truncate_to(2));
        assert_eq!(log.log_end_offset(), 1);
        assert_eq!(log.records().count(), 1);
    }

    #[test]
    fn power_loss_keeps_only_flushed() {
        let mut log = Log::new();
        log.append_as_leader(0, vec![rec(0), rec(1)], None, 0);
        log.flush();
        log.append_as_leader(0, vec![rec(2)], None, 0);
        assert_eq!(log.lose_unflushed(0).log_end_offset_before, 3);
        assert_eq!(log.log_end_offset(), 2);
    }
    /// The three marks: what the broker fsynced, what the OS wrote back on its own (Linux's
    /// default: a file dirty for 30 s is written whole at the next 5 s flusher run), and what
    /// only the page cache held. A power loss keeps the further of the first two.
    #[test]
    fn a_power_loss_keeps_the_further_of_the_flush_and_the_os_write_back() {
        let mut log = Log::with_write_back(WriteBack::LINUX_DEFAULT);
        log.append_as_leader(0, vec![rec(0), rec(1)], None, 1_000);
        assert_eq!(
            log.flush(),
            Some(2),
            "fsynced at offset 2: the file is clean"
        );
        // Dirty again from t=2 s, so the flusher writes it at t=35 s (2 s + 30 s, rounded up
        // to its 5 s period), with everything the file holds then.
        log.append_as_leader(0, vec![rec(2)], None, 2_000);
        log.append_as_leader(0, vec![rec(3)], None, 34_000);
        log.append_as_leader(0, vec![rec(4)], None, 36_000);
        assert_eq!(
            log.written_back_offset(),
            4,
            "offsets 2 and 3 written at t=35 s"
        );
        // Offset 4 dirtied the file at t=36 s: due at t=70 s, after the power loss.
        let mut never = log.clone();
        let loss = log.lose_unflushed(50_000);
        assert_eq!(
            loss,
            PowerLoss {
                log_end_offset_before: 5,
                flushed_offset: 2,
                written_back_offset: 4,
            }
        );
        assert_eq!(log.log_end_offset(), 4);
        assert_eq!(
            log.flushed_offset(),
            2,
            "the recovery point stays the fsync's"
        );
        let sizes: u64 = log.batches().skip(1).map(RecordBatch::size_bytes).sum();
        assert_eq!(log.bytes_past_recovery_point(), sizes);
        assert!(sizes > 0);

        // With write-back off ("never"), the same history keeps only what was fsynced.
        never.page_cache = PageCache::new(WriteBack::Never);
        assert_eq!(never.lose_unflushed(50_000).kept_offset(), 2);
        assert_eq!(never.log_end_offset(), 2);
        assert_eq!(never.bytes_past_recovery_point(), 0);
    }

    /// Records appended as one batch carry Kafka's sizes: the first one also the batch
    /// header, so the log's bytes are the batch's.
    #[test]
    fn a_leader_append_sizes_records_as_one_batch() {
        let mut log = Log::new();
        log.append_as_leader(0, vec![rec(0), rec(1)], None, 0);
        let sizes: Vec<u64> = log.records().map(|r| r.size_bytes).collect();
        assert_eq!(sizes, vec![109, 109]);
        assert_eq!(log.size_bytes(), 61 + 2 * 109);
        assert_eq!(log.bytes_past_recovery_point(), log.size_bytes());
    }

    #[test]
    fn a_truncation_that_cuts_nothing_still_drops_an_empty_epoch_at_the_log_end() {
        let mut log = Log::default();
        log.assign_epoch_start(1, 0);
        log.append_as_leader(
            1,
            vec![ProducerRecord {
                id: RecordId {
                    producer: 0,
                    seq: 0,
                },
                timestamp_ms: 0,
                key: None,
                value: Some(String::new()),
                value_bytes: 0,
                headers: vec![],
            }],
            None,
            0,
        );
        // Led in epoch 2 and appended nothing, then became a follower again.
        log.assign_epoch_start(2, 1);
        assert_eq!(log.latest_epoch(), Some(2));
        assert!(!log.truncate_to(1), "no record goes");
        assert_eq!(log.latest_epoch(), Some(1), "the empty epoch-2 entry does");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::types::RecordId;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Append { epoch_step: u8, count: u8 },
        Truncate { back: u8 },
        Flush,
        PowerLoss,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..3, 1u8..5).prop_map(|(epoch_step, count)| Op::Append { epoch_step, count }),
            (0u8..6).prop_map(|back| Op::Truncate { back }),
            Just(Op::Flush),
            Just(Op::PowerLoss),
        ]
    }

    proptest! {
        #![proptest_config(crate::proptest_config::fixed_seed())]

        /// Whatever appends, truncations, flushes and power losses happen, the log stays a
        /// contiguous run of offsets, the epoch cache stays sorted and inside the log, and the
        /// end of the newest epoch is the log end offset.
        #[test]
        fn log_invariants_hold(ops in proptest::collection::vec(op(), 1..60)) {
            let mut log = Log::new();
            let mut epoch = 0;
            let mut seq = 0;
            // Each step 7 s later, so Linux's 30 s write-back comes due now and then.
            let mut now_ms = 0;
            for op in ops {
                now_ms += 7_000;
                match op {
                    Op::Append { epoch_step, count } => {
                        epoch += epoch_step as LeaderEpoch;
                        let records = (0..count).map(|_| {
                            seq += 1;
                            ProducerRecord {
                                id: RecordId { producer: 0, seq },
                                timestamp_ms: 0,
                                key: None,
                                value: Some(String::new()),
                                value_bytes: 0,
                                headers: vec![],
                            }
                        }).collect();
                        log.append_as_leader(epoch, records, None, now_ms);
                    }
                    Op::Truncate { back } => {
                        let to = log.log_end_offset().saturating_sub(back as u64);
                        log.truncate_to(to);
                    }
                    Op::Flush => { log.flush(); }
                    Op::PowerLoss => {
                        let loss = log.lose_unflushed(now_ms);
                        prop_assert_eq!(log.log_end_offset(), loss.kept_offset());
                        prop_assert!(loss.kept_offset() >= loss.flushed_offset.min(loss.log_end_offset_before));
                    }
                }
                for (i, r) in log.records().enumerate() {
                    prop_assert_eq!(r.offset, log.log_start_offset() + i as u64);
                }
                prop_assert!(log.flushed_offset() <= log.log_end_offset());
                prop_assert!(log.written_back_offset() <= log.log_end_offset());
                for w in log.epochs().windows(2) {
                    prop_assert!(w[0].epoch < w[1].epoch);
                    prop_assert!(w[0].start_offset <= w[1].start_offset);
                }
                if let Some(latest) = log.latest_epoch() {
                    prop_assert_eq!(
                        log.end_offset_for_epoch(latest, EndOffsetRules::LATEST),
                        Some((latest, log.log_end_offset()))
                    );
                }
                for r in log.records() {
                    // Every record's epoch is known to the cache at or before its offset.
                    let (e, end) = log
                        .end_offset_for_epoch(r.leader_epoch, EndOffsetRules::LATEST)
                        .expect("known epoch");
                    prop_assert!(e <= r.leader_epoch);
                    prop_assert!(end > r.offset);
                }
            }
        }
    }
}
