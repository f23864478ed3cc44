//! The log's transactional side: which batches belong to transactions, the markers that end
//! them, and what a `read_committed` reader may see (Kafka's `UnifiedLog` with the
//! transactional half of `ProducerStateManager`).
//!
//! Why here and not in the broker: the last stable offset and the aborted-transaction index
//! are, like the rest of the producer state, a function of the batches in the log. Every
//! replica builds them from what it appends, so a new leader knows at once which
//! transactions its predecessor left open, and a truncation rebuilds them from what is left.

use super::{Log, Roll};
use crate::producer_state::{
    AbortedTxn, AppendOrigin, Check, PartitionTransactions, ProducerRules, ProducerStateManager,
    VerificationGuard, VerificationStates,
};
use crate::types::{BatchStamp, EndTxnMarker, ErrorCode, LeaderEpoch, RecordBatch};

/// Notes one batch in the producer state, as `ProducerAppendInfo.append` does for every
/// batch with a producer id: a marker ends its producer's open transaction, a data batch
/// extends its producer's sequence and may open one. A transactional batch or a marker
/// drops the producer's pending verification (`UnifiedLog.updateProducers`: either the
/// transaction now has a first offset here or it is over).
fn note_batch(
    state: &mut ProducerStateManager,
    transactions: &mut PartitionTransactions,
    verification: &mut VerificationStates,
    batch: &RecordBatch,
    origin: AppendOrigin,
) -> Result<(), ErrorCode> {
    let Some(stamp) = batch.producer else {
        return Ok(());
    };
    if stamp.is_transactional || batch.control.is_some() {
        verification.clear(stamp.producer_id);
    }
    if let Some(marker) = batch.control {
        transactions.append_end_txn_marker(
            stamp.producer_id,
            stamp.producer_epoch,
            marker.coordinator_epoch,
            batch.base_offset,
            marker.is_abort(),
            origin,
        )?;
        state.record_marker(stamp.producer_id, stamp.producer_epoch);
        return Ok(());
    }
    state.record(&stamp, batch.base_offset, batch.last_offset);
    transactions.append_data_batch(
        stamp.producer_id,
        stamp.producer_epoch,
        batch.base_offset,
        stamp.is_transactional,
    )
}

impl Log {
    /// The producer state read again from the log's batches (`UnifiedLog
    /// .rebuildProducerState`), after a truncation or when a log is built from its parts.
    pub(super) fn rebuild_producer_state(&mut self) {
        let mut state = ProducerStateManager::default();
        let mut transactions = PartitionTransactions::default();
        let mut verification = std::mem::take(&mut self.verification);
        for b in self.batches() {
            // Recovery reads with `AppendOrigin.REPLICATION`: nothing the leader let in is
            // refused on the way back.
            let noted = note_batch(
                &mut state,
                &mut transactions,
                &mut verification,
                b,
                AppendOrigin::Replication,
            );
            assert!(noted.is_ok(), "a log's own batches replay: {noted:?}");
        }
        self.producer_state = state;
        self.transactions = transactions;
        self.verification = verification;
    }

    /// The transactional part of the leader's check of a producer's batch, after the
    /// sequence and epoch checks passed (`ProducerAppendInfo.appendDataBatch`): a plain
    /// batch from a producer with a transaction open here is INVALID_TXN_STATE.
    pub(super) fn check_transactional_batch(&self, stamp: &BatchStamp) -> Check {
        let open = self
            .transactions
            .producer(stamp.producer_id)
            .is_some_and(|p| p.current_txn_first_offset.is_some());
        if open && !stamp.is_transactional {
            Check::Reject(ErrorCode::InvalidTxnState)
        } else {
            Check::Append
        }
    }

    /// Whether `producer_id` has a transaction open on this partition
    /// (`UnifiedLog.hasOngoingTransaction`).
    pub fn has_ongoing_transaction(&self, producer_id: i64) -> bool {
        self.transactions
            .producer(producer_id)
            .is_some_and(|p| p.current_txn_first_offset.is_some())
    }

    /// Whether the open transaction a batch at `epoch` would join is one it belongs to.
    /// From 4.0 (KIP-890 part 2, `UnifiedLog.hasOngoingTransaction(producerId,
    /// producerEpoch)`) only one at the same epoch counts: under transaction version 2 each
    /// transaction has its own epoch, and a batch of the next transaction must not slip into
    /// the previous one whose marker has not arrived yet; it is verified (and added) instead.
    /// Before, any open transaction of the producer id counts.
    fn has_ongoing_transaction_for(
        &self,
        producer_id: i64,
        epoch: i16,
        epoch_checked: bool,
    ) -> bool {
        self.transactions.producer(producer_id).is_some_and(|p| {
            p.current_txn_first_offset.is_some() && (!epoch_checked || p.producer_epoch == epoch)
        })
    }

    /// `UnifiedLog.maybeStartTransactionVerification`: no verification is needed while the
    /// producer has a transaction open here (the sentinel); otherwise its pending entry's
    /// guard, the entry created if need be.
    pub fn maybe_start_transaction_verification(
        &mut self,
        producer_id: i64,
        sequence: i32,
        epoch: i16,
        epoch_checked: bool,
    ) -> VerificationGuard {
        if self.has_ongoing_transaction_for(producer_id, epoch, epoch_checked) {
            VerificationGuard::SENTINEL
        } else {
            self.verification.start(producer_id, sequence, epoch)
        }
    }

    /// The pending verifications, for inspection.
    pub fn verification_states(&self) -> &VerificationStates {
        &self.verification
    }

    /// A restart loses the pending verifications (they live in the broker's memory).
    pub fn forget_verifications(&mut self) {
        self.verification.clear_all();
    }

    /// The leader's check of a client's batch with verification on (KIP-890 part 1;
    /// `epoch_checked` from 4.0, see `has_ongoing_transaction_for`), in
    /// Kafka's order (`UnifiedLog.analyzeAndValidateProducerState`, `ProducerAppendInfo`):
    /// a duplicate is answered as such; a transactional batch that would open a transaction
    /// here must carry the guard of the producer's pending verification, else
    /// INVALID_TXN_STATE (`batchMissingRequiredVerification`); then the epoch; then, before
    /// the sequence, a pending verification's lowest sequence bounds the first sequence
    /// (`ProducerAppendInfo.checkSequence`, KAFKA-14920: OUT_OF_ORDER_SEQUENCE_NUMBER).
    pub fn check_verified_producer_batch(
        &self,
        stamp: &BatchStamp,
        rules: ProducerRules,
        carried: VerificationGuard,
        epoch_checked: bool,
    ) -> Check {
        let check = self.check_producer_batch(stamp, rules);
        if let Check::Duplicate { .. } = check {
            return check;
        }
        if stamp.is_transactional
            && !self.has_ongoing_transaction_for(
                stamp.producer_id,
                stamp.producer_epoch,
                epoch_checked,
            )
            && !self.verification.guard(stamp.producer_id).verify(carried)
        {
            return Check::Reject(ErrorCode::InvalidTxnState);
        }
        if check == Check::Reject(ErrorCode::InvalidProducerEpoch) {
            return check;
        }
        match self.verification.entry(stamp.producer_id) {
            Some(entry) if stamp.base_sequence > entry.lowest_sequence => {
                Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
            }
            _ => check,
        }
    }

    /// A client's batch the leader checked and is about to append.
    pub(super) fn note_client_batch(&mut self, batch: &RecordBatch) {
        let noted = note_batch(
            &mut self.producer_state,
            &mut self.transactions,
            &mut self.verification,
            batch,
            AppendOrigin::Client,
        );
        assert!(noted.is_ok(), "a checked batch is noted: {noted:?}");
    }

    /// A batch a follower fetched (`AppendOrigin.REPLICATION`). Kafka would throw if a plain
    /// batch followed an open transaction, but the leader refused such a batch, so a
    /// follower never sees one.
    pub(super) fn note_replicated_batch(&mut self, batch: &RecordBatch) {
        let noted = note_batch(
            &mut self.producer_state,
            &mut self.transactions,
            &mut self.verification,
            batch,
            AppendOrigin::Replication,
        );
        assert!(noted.is_ok(), "a replicated batch is noted: {noted:?}");
    }

    /// Appends a transaction marker as the leader, as the coordinator's `WriteTxnMarkers`
    /// asks (`UnifiedLog.appendAsLeader` with `AppendOrigin.COORDINATOR` and the batch
    /// `MemoryRecords.withEndTransactionMarker` builds: the producer id and epoch, no
    /// sequence, the transactional and control attributes). A marker from an older producer
    /// epoch is INVALID_PRODUCER_EPOCH, one from an older coordinator epoch
    /// TRANSACTION_COORDINATOR_FENCED, and nothing is appended. Returns the marker's offset
    /// and the roll it made, if any.
    pub fn append_end_txn_marker_as_leader(
        &mut self,
        leader_epoch: LeaderEpoch,
        producer_id: i64,
        producer_epoch: i16,
        marker: EndTxnMarker,
        now_ms: u64,
    ) -> Result<(u64, Option<Roll>), ErrorCode> {
        self.page_cache.catch_up(now_ms, self.log_end_offset());
        let offset = self.log_end_offset();
        let batch = RecordBatch {
            base_offset: offset,
            last_offset: offset,
            leader_epoch,
            producer: Some(BatchStamp {
                producer_id,
                producer_epoch,
                base_sequence: -1,
                last_sequence: -1,
                is_transactional: true,
            }),
            delete_horizon_ms: None,
            control: Some(marker),
            base_timestamp_ms: now_ms,
            max_timestamp_ms: now_ms,
            records: Vec::new(),
        };
        note_batch(
            &mut self.producer_state,
            &mut self.transactions,
            &mut self.verification,
            &batch,
            AppendOrigin::Coordinator,
        )?;
        self.assign_epoch_start(leader_epoch, offset);
        let roll = self.append_batches(vec![batch], now_ms);
        Ok((offset, roll))
    }

    /// The high watermark moved: decided transactions whose marker it passed stop holding
    /// the last stable offset back (`ProducerStateManager.onHighWatermarkUpdated`).
    pub fn on_high_watermark_updated(&mut self, high_watermark: u64) {
        self.transactions.on_high_watermark_updated(high_watermark);
    }

    /// The last stable offset at `high_watermark` (`UnifiedLog.lastStableOffset`): how far
    /// a `read_committed` reader may read.
    pub fn last_stable_offset(&self, high_watermark: u64) -> u64 {
        self.transactions.last_stable_offset_at(high_watermark)
    }

    /// The aborted transactions a `read_committed` fetch of `[fetch_offset, upper)` is told
    /// of (`UnifiedLog.collectAbortedTransactions`).
    pub fn aborted_transactions(&self, fetch_offset: u64, upper: u64) -> Vec<AbortedTxn> {
        self.transactions.aborted_transactions(fetch_offset, upper)
    }

    /// The log's transactions.
    pub fn transactions(&self) -> &PartitionTransactions {
        &self.transactions
    }
}
