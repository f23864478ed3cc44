//! A replica's log: records from the log start offset to the log end offset (LEO), the
//! leader-epoch cache, and the flush point.
//!
//! The log is the part of a broker that lives on disk. What survives a failure depends on the
//! failure: a process crash keeps everything the OS page cache had (the whole log); a power
//! loss keeps what was flushed (fsync'ed) or what the OS had written back on its own,
//! whichever reaches further (see [`crate::page_cache`]). Kafka never fsyncs per write by
//! default (`flush.messages` and `flush.ms` are "never"), so a power loss normally takes the
//! tail of the last half minute or so: Kafka relies on replication, not fsync, for
//! durability.
//!
//! The leader-epoch cache maps each leader epoch to the first offset written in it. It is what
//! KIP-101 added so that a follower can ask the leader "where did my last epoch end on your
//! side?" instead of trusting its own, possibly stale, high watermark.

use crate::page_cache::{PageCache, WriteBack};
use crate::producer_state::{Check, ProducerRules, ProducerStateManager};
use crate::types::{BatchStamp, LeaderEpoch, ProducerRecord, Record};
use serde::Serialize;

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

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Log {
    log_start_offset: u64,
    records: Vec<Record>,
    epochs: Vec<EpochEntry>,
    /// Everything below this offset is on stable storage (Kafka's recovery point).
    flushed_offset: u64,
    /// When the oldest unflushed record was appended, for `flush.ms`.
    oldest_unflushed_ms: Option<u64>,
    /// What the OS wrote back of the unflushed part on its own.
    page_cache: PageCache,
    /// What the idempotent producers last wrote here: a function of `records`, kept up to
    /// date on every append and rebuilt after a truncation.
    #[serde(skip)]
    producer_state: ProducerStateManager,
}

impl Default for Log {
    fn default() -> Self {
        Log::new()
    }
}

impl Log {
    /// An empty log on a machine with Linux's default write-back.
    pub fn new() -> Log {
        Log::with_write_back(WriteBack::LINUX_DEFAULT)
    }

    /// An empty log on a machine whose OS writes dirty pages back as `write_back` says.
    pub fn with_write_back(write_back: WriteBack) -> Log {
        Log {
            log_start_offset: 0,
            records: Vec::new(),
            epochs: Vec::new(),
            flushed_offset: 0,
            oldest_unflushed_ms: None,
            page_cache: PageCache::new(write_back),
            producer_state: ProducerStateManager::default(),
        }
    }

    /// What the idempotent producers last wrote to this log (Kafka's `ProducerStateManager`).
    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producer_state
    }

    /// The leader's check of a producer's batch before it appends it
    /// (`UnifiedLog.analyzeAndValidateProducerState` with `AppendOrigin.CLIENT`).
    pub fn check_producer_batch(&self, stamp: &BatchStamp, rules: ProducerRules) -> Check {
        self.producer_state.check(stamp, rules)
    }

    pub fn log_start_offset(&self) -> u64 {
        self.log_start_offset
    }

    /// The offset the next record will get.
    pub fn log_end_offset(&self) -> u64 {
        self.log_start_offset + self.records.len() as u64
    }

    pub fn flushed_offset(&self) -> u64 {
        self.flushed_offset
    }

    /// What the OS had written back on its own when the log was last touched.
    pub fn written_back_offset(&self) -> u64 {
        self.page_cache.written_back_offset()
    }

    /// The bytes from the recovery point (the flush point) to the log end: what Kafka's
    /// `LogLoader.recoverLog` reads and checks again after an unclean shutdown.
    pub fn bytes_past_recovery_point(&self) -> u64 {
        let from = self.flushed_offset.max(self.log_start_offset) - self.log_start_offset;
        self.records[from as usize..]
            .iter()
            .map(|r| r.size_bytes)
            .sum()
    }

    /// The bytes of the whole log.
    pub fn size_bytes(&self) -> u64 {
        self.records.iter().map(|r| r.size_bytes).sum()
    }

    pub fn unflushed_count(&self) -> u64 {
        self.log_end_offset() - self.flushed_offset
    }

    pub fn oldest_unflushed_ms(&self) -> Option<u64> {
        self.oldest_unflushed_ms
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn epochs(&self) -> &[EpochEntry] {
        &self.epochs
    }

    pub fn record_at(&self, offset: u64) -> Option<&Record> {
        if offset < self.log_start_offset {
            return None;
        }
        self.records.get((offset - self.log_start_offset) as usize)
    }

    /// Records from `offset` up to (not including) `end`, at most `max_records`.
    pub fn read(&self, offset: u64, end: u64, max_records: usize) -> Vec<Record> {
        let end = end.min(self.log_end_offset());
        if offset >= end || offset < self.log_start_offset {
            return Vec::new();
        }
        let from = (offset - self.log_start_offset) as usize;
        let to = ((end - self.log_start_offset) as usize).min(from + max_records);
        let read = &self.records[from..to];
        debug_assert!(
            read.first().is_none_or(|r| r.offset == offset)
                && read
                    .last()
                    .is_none_or(|r| r.offset + 1 == offset + read.len() as u64),
            "a log's offsets are increasing: a read from {offset} is one contiguous run"
        );
        read.to_vec()
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

    /// Appends records as the leader: each gets the next offset and the leader's epoch, and
    /// the batch's producer stamp if an idempotent producer sent it (checked before, with
    /// [`Log::check_producer_batch`]).
    pub fn append_as_leader(
        &mut self,
        epoch: LeaderEpoch,
        records: Vec<ProducerRecord>,
        producer: Option<BatchStamp>,
        now_ms: u64,
    ) -> Vec<(u64, crate::types::RecordId, LeaderEpoch)> {
        let mut appended = Vec::with_capacity(records.len());
        self.page_cache.catch_up(now_ms, self.log_end_offset());
        self.assign_epoch_start(epoch, self.log_end_offset());
        // The records arrive as one batch, and the log keeps it as one (Kafka's
        // `UnifiedLog.appendAsLeader` assigns offsets inside the producer's batch).
        let sizes = crate::record_size::batch_record_sizes_bytes(&records);
        let first_offset = self.log_end_offset();
        for (r, size_bytes) in records.into_iter().zip(sizes) {
            let offset = self.log_end_offset();
            appended.push((offset, r.id, epoch));
            self.records.push(Record::from_producer(
                offset, epoch, r, size_bytes, producer,
            ));
        }
        if let (Some(stamp), false) = (producer, appended.is_empty()) {
            let last_offset = self.log_end_offset() - 1;
            self.producer_state
                .record(&stamp, first_offset, last_offset);
        }
        self.note_unflushed(now_ms);
        self.debug_assert_tail(appended.len());
        appended
    }

    /// Appends records a follower fetched. Their offsets must continue the log exactly.
    pub fn append_as_follower(
        &mut self,
        records: Vec<Record>,
        now_ms: u64,
    ) -> Vec<(u64, crate::types::RecordId, LeaderEpoch)> {
        let mut appended = Vec::with_capacity(records.len());
        self.page_cache.catch_up(now_ms, self.log_end_offset());
        for r in records {
            assert_eq!(
                r.offset,
                self.log_end_offset(),
                "a follower append must continue the log"
            );
            if self.latest_epoch().is_none_or(|e| r.leader_epoch > e) {
                self.assign_epoch_start(r.leader_epoch, r.offset);
            }
            appended.push((r.offset, r.id, r.leader_epoch));
            if let Some(stamp) = r.producer {
                // `AppendOrigin.REPLICATION`: noted, never checked.
                self.producer_state.record(&stamp, r.offset, r.offset);
            }
            self.records.push(r);
        }
        self.note_unflushed(now_ms);
        self.debug_assert_tail(appended.len());
        appended
    }

    fn note_unflushed(&mut self, now_ms: u64) {
        if self.log_end_offset() > self.flushed_offset {
            self.page_cache.note_write(now_ms);
            if self.oldest_unflushed_ms.is_none() {
                self.oldest_unflushed_ms = Some(now_ms);
            }
        }
    }

    /// Cuts the log back so that `offset` is the new log end offset. Epoch entries that start
    /// at or after it go too. Returns whether anything was removed.
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
        self.records
            .truncate((offset - self.log_start_offset) as usize);
        // `UnifiedLog.truncateTo`: the producer state is loaded again from what is left.
        self.producer_state = ProducerStateManager::rebuild(&self.records);
        self.epochs.retain(|e| e.start_offset < offset);
        self.flushed_offset = self.flushed_offset.min(offset);
        if self.flushed_offset == self.log_end_offset() {
            self.oldest_unflushed_ms = None;
        }
        let durable = self
            .flushed_offset
            .max(self.page_cache.written_back_offset());
        self.page_cache.note_truncate(offset, durable);
        self.assert_epochs();
        self.debug_assert_tail(1);
        true
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
        self.page_cache.note_power_loss(kept);
        self.oldest_unflushed_ms = (kept > self.flushed_offset).then_some(now_ms);
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

    /// A log's offsets are increasing, one by one from the log start offset to the LEO.
    /// Checks the newest `n` records (and the one before them): the part an append or a
    /// truncation just touched, so the check costs what the change did.
    fn debug_assert_tail(&self, n: usize) {
        if !cfg!(debug_assertions) {
            return;
        }
        let from = self.records.len().saturating_sub(n + 1);
        for (i, r) in self.records.iter().enumerate().skip(from) {
            assert_eq!(
                r.offset,
                self.log_start_offset + i as u64,
                "a log's offsets are increasing, one by one from the log start offset"
            );
        }
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
            value: format!("v{seq}"),
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
        assert_eq!(log.records()[1].producer, Some(stamp(0, 1)));
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
        log.append_as_leader(0, vec![rec(0), rec(1)], None, 0);
        log.flush();
        log.append_as_leader(1, vec![rec(2), rec(3)], None, 5);
        assert_eq!(log.flushed_offset(), 2);
        assert!(log.truncate_to(1));
        assert_eq!(log.log_end_offset(), 1);
        assert_eq!(log.flushed_offset(), 1);
        assert_eq!(log.latest_epoch(), Some(0));
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
        let sizes: u64 = log.records()[2..].iter().map(|r| r.size_bytes).sum();
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
        let sizes: Vec<u64> = log.records().iter().map(|r| r.size_bytes).collect();
        assert_eq!(sizes, vec![61 + 109, 109]);
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
                value: String::new(),
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
                                value: String::new(),
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
                for (i, r) in log.records().iter().enumerate() {
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
