//! A partition's transactions: which producers have one open here, where each began, which
//! are decided but not yet replicated, the aborted ones, and from that the last stable
//! offset (Kafka's transactional half of `ProducerStateManager` and `ProducerAppendInfo`,
//! with the segments' `TransactionIndex` kept as one list).
//!
//! Why the last stable offset (LSO) exists: a `read_committed` consumer may read a record
//! only once its transaction is decided, and every replica must agree on the decision. So
//! the LSO is the first offset of the oldest transaction that is still open, or decided by a
//! marker that is not yet below the high watermark; with no such transaction it is the high
//! watermark. An aborted transaction goes into the index with its first and last offsets, so
//! a reader can skip its records: the records stay in the log, only the marker says they
//! never happened.
//!
//! Like the rest of the producer state, this is a function of the log: the leader builds it
//! from the batches it appends (`AppendOrigin.CLIENT`, and `COORDINATOR` for markers),
//! followers from what they fetch (`REPLICATION`: a stale epoch is only logged).

use crate::types::ErrorCode;
use std::collections::BTreeMap;

/// Who appends (Kafka's `AppendOrigin`): what is checked depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer's batch on the leader.
    Client,
    /// A transaction marker the coordinator asked the leader to write.
    Coordinator,
    /// A follower's copy of the leader's batch, or log recovery: bookkeeping only.
    Replication,
}

/// One producer's transactional state on the partition (the transactional fields of
/// Kafka's `ProducerStateEntry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnProducer {
    pub producer_epoch: i16,
    /// The coordinator epoch of the last marker; -1 before any.
    pub coordinator_epoch: i32,
    /// Where its open transaction began on this partition.
    pub current_txn_first_offset: Option<u64>,
}

/// A transaction a marker decided (Kafka's `CompletedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: u64,
    /// The marker's offset.
    pub last_offset: u64,
    pub is_aborted: bool,
}

/// An aborted transaction in the index (Kafka's `AbortedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: u64,
    pub last_offset: u64,
    /// The last stable offset once this transaction was complete.
    pub last_stable_offset: u64,
}

/// The transactions of one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionTransactions {
    producers: BTreeMap<i64, TxnProducer>,
    /// Open transactions by first offset (`ongoingTxns`).
    ongoing: BTreeMap<u64, i64>,
    /// Decided transactions whose marker is not yet below the high watermark, by first
    /// offset, with the marker's offset (`unreplicatedTxns`).
    unreplicated: BTreeMap<u64, (i64, u64)>,
    /// The aborted transactions in offset order (`TransactionIndex`).
    aborted: Vec<AbortedTxn>,
}

impl PartitionTransactions {
    pub fn producer(&self, producer_id: i64) -> Option<&TxnProducer> {
        self.producers.get(&producer_id)
    }

    /// `ProducerAppendInfo.appendDataBatch`, its transactional part: a transactional batch
    /// of a producer with no open transaction opens one at `first_offset`; a plain batch of
    /// a producer with one open is refused (INVALID_TXN_STATE). The sequence and epoch
    /// checks of the batch are the idempotent producer's, made before.
    pub fn append_data_batch(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        first_offset: u64,
        is_transactional: bool,
    ) -> Result<(), ErrorCode> {
        let entry = self.producers.entry(producer_id).or_insert(TxnProducer {
            producer_epoch,
            coordinator_epoch: -1,
            current_txn_first_offset: None,
        });
        match (entry.current_txn_first_offset, is_transactional) {
            (Some(_), false) => return Err(ErrorCode::InvalidTxnState),
            (None, true) => {
                entry.current_txn_first_offset = Some(first_offset);
                self.ongoing.insert(first_offset, producer_id);
            }
            _ => {}
        }
        entry.producer_epoch = entry.producer_epoch.max(producer_epoch);
        Ok(())
    }

    /// `ProducerAppendInfo.appendEndTxnMarker`: a COMMIT or ABORT marker at `offset`. From a
    /// coordinator, an epoch older than the producer's is INVALID_PRODUCER_EPOCH and an
    /// older coordinator epoch TRANSACTION_COORDINATOR_FENCED; a replica only notes them.
    /// Returns the transaction it completes, if the producer had one open here (a marker
    /// for a producer without one changes only its epochs).
    pub fn append_end_txn_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        offset: u64,
        is_abort: bool,
        origin: AppendOrigin,
    ) -> Result<Option<CompletedTxn>, ErrorCode> {
        let entry = self.producers.entry(producer_id).or_insert(TxnProducer {
            producer_epoch,
            coordinator_epoch: -1,
            current_txn_first_offset: None,
        });
        if origin != AppendOrigin::Replication {
            if producer_epoch < entry.producer_epoch {
                return Err(ErrorCode::InvalidProducerEpoch);
            }
            if entry.coordinator_epoch > coordinator_epoch {
                return Err(ErrorCode::TransactionCoordinatorFenced);
            }
        }
        let completed = entry
            .current_txn_first_offset
            .map(|first_offset| CompletedTxn {
                producer_id,
                first_offset,
                last_offset: offset,
                is_aborted: is_abort,
            });
        // `ProducerStateEntry.update`: the marker's epochs, and no open transaction.
        entry.producer_epoch = producer_epoch;
        entry.coordinator_epoch = coordinator_epoch;
        entry.current_txn_first_offset = None;
        if let Some(completed) = completed {
            self.complete_txn(completed);
        }
        Ok(completed)
    }

    /// `lastStableOffset(completedTxn)`: the LSO once `completed` is done, for its index
    /// entry: the first offset of the oldest transaction of another producer still open,
    /// else just past the marker.
    fn last_stable_offset_after(&self, completed: &CompletedTxn) -> u64 {
        self.ongoing
            .iter()
            .find(|(_, pid)| **pid != completed.producer_id)
            .map_or(completed.last_offset + 1, |(first, _)| *first)
    }

    /// `UnifiedLog.updateProducers` → `completeTxn`: an aborted transaction goes into the
    /// index; the transaction waits as unreplicated until the high watermark passes its
    /// marker.
    fn complete_txn(&mut self, completed: CompletedTxn) {
        if completed.is_aborted {
            let last_stable_offset = self.last_stable_offset_after(&completed);
            self.aborted.push(AbortedTxn {
                producer_id: completed.producer_id,
                first_offset: completed.first_offset,
                last_offset: completed.last_offset,
                last_stable_offset,
            });
        }
        let pid = self.ongoing.remove(&completed.first_offset);
        assert_eq!(
            pid,
            Some(completed.producer_id),
            "completing a transaction at {} that was not started",
            completed.first_offset
        );
        self.unreplicated.insert(
            completed.first_offset,
            (completed.producer_id, completed.last_offset),
        );
    }

    /// `onHighWatermarkUpdated`: decided transactions whose marker is below the high
    /// watermark stop holding the LSO back.
    pub fn on_high_watermark_updated(&mut self, high_watermark: u64) {
        self.unreplicated
            .retain(|_, (_, last_offset)| *last_offset >= high_watermark);
    }

    /// `firstUnstableOffset`: the oldest open or unreplicated transaction's first offset.
    pub fn first_unstable_offset(&self) -> Option<u64> {
        let ongoing = self.ongoing.keys().next().copied();
        let unreplicated = self.unreplicated.keys().next().copied();
        match (ongoing, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// `UnifiedLog.lastStableOffset`: the first unstable offset, capped by the high
    /// watermark.
    pub fn last_stable_offset(&self, high_watermark: u64) -> u64 {
        self.first_unstable_offset()
            .map_or(high_watermark, |first| first.min(high_watermark))
    }

    /// [`PartitionTransactions::last_stable_offset`] as it is once the high watermark is
    /// `high_watermark`, whether or not [`PartitionTransactions::on_high_watermark_updated`]
    /// was told yet: after a rebuild, decided transactions wait as unreplicated until the
    /// next high watermark update, and the answer must not depend on when that comes.
    pub fn last_stable_offset_at(&self, high_watermark: u64) -> u64 {
        let ongoing = self.ongoing.keys().next().copied();
        let unreplicated = self
            .unreplicated
            .iter()
            .find(|(_, (_, last_offset))| *last_offset >= high_watermark)
            .map(|(first, _)| *first);
        [ongoing, unreplicated]
            .into_iter()
            .flatten()
            .fold(high_watermark, u64::min)
    }

    /// `collectAbortedTxns(fetchOffset, upperBoundOffset)`: the aborted transactions a
    /// read_committed fetch of `[fetch_offset, upper_bound_offset)` must be told of.
    pub fn aborted_transactions(
        &self,
        fetch_offset: u64,
        upper_bound_offset: u64,
    ) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|t| t.last_offset >= fetch_offset && t.first_offset < upper_bound_offset)
            .copied()
            .collect()
    }

    /// Every aborted transaction, oldest first.
    pub fn aborted(&self) -> &[AbortedTxn] {
        &self.aborted
    }
}
