//! One transactional id as its coordinator keeps it (Kafka's `TransactionMetadata`,
//! `TransactionState` and `TxnTransitMetadata`).
//!
//! Why every change is two steps: the coordinator may change a transactional id's state only
//! once the new state is in `__transaction_state`, replicated with `acks=all`. So a change is
//! first *prepared* ([`TransactionMetadata::prepare_add_partitions`] and its siblings): the
//! target state becomes the *pending* state and the caller gets a [`TxnTransitMetadata`] to
//! write; only when the write succeeds is it *completed*
//! ([`TransactionMetadata::complete_transition_to`]). While a change is pending, no other may
//! start: the coordinator answers `CONCURRENT_TRANSACTIONS` instead. A failed write drops the
//! pending state and leaves the metadata as it was.
//!
//! The transitions are Kafka 4.0's, the first release with transaction version 2 (the
//! `txn-coordinator` conformance oracle compares them with `TransactionMetadata` of
//! kafka_2.13 4.0.2): every transition keeps the id's transaction version, version 2 may
//! abort with no transaction open, and a completion keeps the last epoch the client saw.
//!
//! A transition Kafka's code never makes (a target state whose valid previous states do not
//! include the current one, a second prepare while one is pending, a completion that does
//! not match what was prepared) is a bug in the coordinator: Kafka throws
//! `IllegalStateException`, and so does this, as an `Err` the coordinator turns into a
//! panic and the tests can observe.

use crate::types::{ErrorCode, TopicPartition};
use std::collections::BTreeSet;
use std::fmt;

/// `RecordBatch.NO_PRODUCER_ID`.
pub const NO_PRODUCER_ID: i64 = -1;
/// `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// `TransactionMetadata.isEpochExhausted`: the coordinator never hands out `i16::MAX`, so it
/// can always fence the current epoch by one more.
pub fn is_epoch_exhausted(producer_epoch: i16) -> bool {
    producer_epoch >= i16::MAX - 1
}

/// The states of a transactional id, with Kafka's ids and names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransactionState {
    /// No transaction open; the producer id and epoch are set.
    Empty,
    /// Partitions were added: a transaction is open.
    Ongoing,
    /// The commit is decided and written; markers are being written.
    PrepareCommit,
    /// The abort is decided and written; markers are being written.
    PrepareAbort,
    /// Every commit marker is written.
    CompleteCommit,
    /// Every abort marker is written.
    CompleteAbort,
    /// The id expired (`transactional.id.expiration.ms`) and is being removed.
    Dead,
    /// The epoch is being bumped to fence an old instance before its transaction is
    /// aborted; a pending state only, never a settled one.
    PrepareEpochFence,
}

impl TransactionState {
    /// Every state, in id order.
    pub const ALL: [TransactionState; 8] = [
        TransactionState::Empty,
        TransactionState::Ongoing,
        TransactionState::PrepareCommit,
        TransactionState::PrepareAbort,
        TransactionState::CompleteCommit,
        TransactionState::CompleteAbort,
        TransactionState::Dead,
        TransactionState::PrepareEpochFence,
    ];

    /// `TransactionState.fromId`; `None` for an id Kafka does not know.
    pub fn from_id(id: u8) -> Option<TransactionState> {
        TransactionState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// `TransactionState.id`, as written in `__transaction_state`.
    pub fn id(self) -> u8 {
        match self {
            TransactionState::Empty => 0,
            TransactionState::Ongoing => 1,
            TransactionState::PrepareCommit => 2,
            TransactionState::PrepareAbort => 3,
            TransactionState::CompleteCommit => 4,
            TransactionState::CompleteAbort => 5,
            TransactionState::Dead => 6,
            TransactionState::PrepareEpochFence => 7,
        }
    }

    /// `TransactionState.name`, as `kafka-transactions.sh describe` prints it.
    pub fn name(self) -> &'static str {
        match self {
            TransactionState::Empty => "Empty",
            TransactionState::Ongoing => "Ongoing",
            TransactionState::PrepareCommit => "PrepareCommit",
            TransactionState::PrepareAbort => "PrepareAbort",
            TransactionState::CompleteCommit => "CompleteCommit",
            TransactionState::CompleteAbort => "CompleteAbort",
            TransactionState::Dead => "Dead",
            TransactionState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// `TransactionState.validPreviousStates`: the states this one may be entered from.
    pub fn valid_previous_states(self) -> &'static [TransactionState] {
        use TransactionState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            // Kafka 4.0: with transaction version 2 a client that is unsure whether a
            // transaction is open may abort anyway, from Empty or a completed one.
            PrepareAbort => &[
                Ongoing,
                PrepareEpochFence,
                Empty,
                CompleteCommit,
                CompleteAbort,
            ],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// `TransactionState.isExpirationAllowed`: only an id with no transaction in flight may
    /// expire.
    pub fn is_expiration_allowed(self) -> bool {
        matches!(
            self,
            TransactionState::Empty
                | TransactionState::CompleteCommit
                | TransactionState::CompleteAbort
        )
    }
}

impl fmt::Display for TransactionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `transaction.version` feature (KIP-890): 0 and 1 are the classic protocol, 2 bumps
/// the producer epoch at every transaction end (`TransactionVersion.supportsEpochBump`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum TransactionVersion {
    V0,
    V1,
    V2,
}

impl TransactionVersion {
    pub fn supports_epoch_bump(self) -> bool {
        self >= TransactionVersion::V2
    }

    /// Below version 2: the classic protocol, where the producer adds partitions itself.
    pub fn is_classic(&self) -> bool {
        *self < TransactionVersion::V2
    }

    /// The version of a finalized `transaction.version` feature level (0 to 2).
    pub fn of_level(level: i16) -> TransactionVersion {
        match level {
            l if l >= 2 => TransactionVersion::V2,
            1 => TransactionVersion::V1,
            _ => TransactionVersion::V0,
        }
    }
}

/// What one change writes to `__transaction_state` (Kafka's `TxnTransitMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnTransitMetadata {
    pub producer_id: i64,
    pub prev_producer_id: i64,
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub last_producer_epoch: i16,
    pub txn_timeout_ms: u64,
    pub state: TransactionState,
    pub topic_partitions: BTreeSet<TopicPartition>,
    /// When the open transaction began; `None` is Kafka's -1 (no transaction).
    pub txn_start_timestamp_ms: Option<u64>,
    pub txn_last_update_timestamp_ms: u64,
    pub client_transaction_version: TransactionVersion,
}

/// A transition Kafka's coordinator never makes (its `IllegalStateException`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IllegalTransition(pub String);

/// One transactional id at its coordinator (Kafka's `TransactionMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last rotation (epoch exhaustion), or -1.
    pub previous_producer_id: i64,
    /// TV2: the producer id the next completion hands out, when this epoch bump overflowed.
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump the producer asked for, so a retry of a successful
    /// InitProducerId is recognised (KIP-360); -1 after a fence.
    pub last_producer_epoch: i16,
    pub txn_timeout_ms: u64,
    pub state: TransactionState,
    pub pending_state: Option<TransactionState>,
    pub topic_partitions: BTreeSet<TopicPartition>,
    pub txn_start_timestamp_ms: Option<u64>,
    pub txn_last_update_timestamp_ms: u64,
    pub client_transaction_version: TransactionVersion,
    /// The abort that follows a fence failed to be written: the next fence reuses the
    /// bumped epoch (`hasFailedEpochFence`).
    pub has_failed_epoch_fence: bool,
}

impl TransactionMetadata {
    /// A new transactional id: no epoch yet (-1), state Empty.
    pub fn new(
        transactional_id: &str,
        producer_id: i64,
        txn_timeout_ms: u64,
        now_ms: u64,
    ) -> TransactionMetadata {
        TransactionMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms,
            state: TransactionState::Empty,
            pending_state: None,
            topic_partitions: BTreeSet::new(),
            txn_start_timestamp_ms: None,
            txn_last_update_timestamp_ms: now_ms,
            client_transaction_version: TransactionVersion::V0,
            has_failed_epoch_fence: false,
        }
    }

    pub fn pending_transition_in_progress(&self) -> bool {
        self.pending_state.is_some()
    }

    pub fn is_producer_epoch_exhausted(&self) -> bool {
        is_epoch_exhausted(self.producer_epoch)
    }

    /// Whether a transaction is open or completing (`hasPendingTransaction`).
    fn has_pending_transaction(&self) -> bool {
        matches!(
            self.state,
            TransactionState::Ongoing
                | TransactionState::PrepareAbort
                | TransactionState::PrepareCommit
        )
    }

    /// A write failed: the prepared change is dropped and the metadata stays as it was
    /// (`TransactionStateManager.appendTransactionToLog`). `epoch_fence` says the write was
    /// the abort of a fence under transaction version 0 or 1: the fenced epoch was never
    /// returned to a client, so the next fence reuses it (`endTransactionWithTV1`'s callback
    /// sets `hasFailedEpochFence`). The fence itself is never written: its pending state
    /// gives way to that abort at once.
    pub fn abort_pending_transition(&mut self, epoch_fence: bool) {
        if epoch_fence {
            self.has_failed_epoch_fence = true;
        }
        self.pending_state = None;
    }

    /// The metadata as it is, to write without a state change (`prepareNoTransit`).
    pub fn prepare_no_transit(&self) -> TxnTransitMetadata {
        TxnTransitMetadata {
            producer_id: self.producer_id,
            prev_producer_id: self.previous_producer_id,
            next_producer_id: self.next_producer_id,
            producer_epoch: self.producer_epoch,
            last_producer_epoch: self.last_producer_epoch,
            txn_timeout_ms: self.txn_timeout_ms,
            state: self.state,
            topic_partitions: self.topic_partitions.clone(),
            txn_start_timestamp_ms: self.txn_start_timestamp_ms,
            txn_last_update_timestamp_ms: self.txn_last_update_timestamp_ms,
            client_transaction_version: self.client_transaction_version,
        }
    }

    /// `prepareFenceProducerEpoch`: the epoch goes up by one (not again after a fence whose
    /// write failed), to fence the instance that left the transaction open; an abort follows.
    pub fn prepare_fence_producer_epoch(
        &mut self,
    ) -> Result<TxnTransitMetadata, IllegalTransition> {
        if self.producer_epoch == i16::MAX {
            return Err(IllegalTransition(
                "cannot fence a producer at epoch i16::MAX".into(),
            ));
        }
        let bumped = if self.has_failed_epoch_fence {
            self.producer_epoch
        } else {
            self.producer_epoch + 1
        };
        self.prepare_transition_to(
            TransactionState::PrepareEpochFence,
            (self.producer_id, NO_PRODUCER_ID),
            (bumped, NO_PRODUCER_EPOCH),
            self.topic_partitions.clone(),
            self.txn_start_timestamp_ms,
            self.txn_last_update_timestamp_ms,
            self.client_transaction_version,
        )
    }

    /// `prepareIncrementProducerEpoch` (InitProducerId on an id with no open transaction):
    /// without an expected epoch the epoch is bumped and the last epoch forgotten; with the
    /// current epoch (or none yet) it is bumped and the old one remembered; with the last
    /// epoch it is a retry of a bump that succeeded and nothing moves; anything else is
    /// `PRODUCER_FENCED`.
    pub fn prepare_increment_producer_epoch(
        &mut self,
        new_txn_timeout_ms: u64,
        expected_producer_epoch: Option<i16>,
        now_ms: u64,
    ) -> Result<Result<TxnTransitMetadata, ErrorCode>, IllegalTransition> {
        if self.is_producer_epoch_exhausted() {
            return Err(IllegalTransition(format!(
                "no more producer epochs for producer id {}",
                self.producer_id
            )));
        }
        let bumped = self.producer_epoch + 1;
        let (next_epoch, last_epoch) = match expected_producer_epoch {
            None => (bumped, NO_PRODUCER_EPOCH),
            Some(expected)
                if self.producer_epoch == NO_PRODUCER_EPOCH || expected == self.producer_epoch =>
            {
                (bumped, self.producer_epoch)
            }
            Some(expected) if expected == self.last_producer_epoch => {
                (self.producer_epoch, self.last_producer_epoch)
            }
            Some(_) => return Ok(Err(ErrorCode::ProducerFenced)),
        };
        let transit = self.prepare_transition_to(
            TransactionState::Empty,
            (self.producer_id, NO_PRODUCER_ID),
            (next_epoch, last_epoch),
            BTreeSet::new(),
            None,
            now_ms,
            self.client_transaction_version,
        )?;
        Ok(Ok(TxnTransitMetadata {
            txn_timeout_ms: new_txn_timeout_ms,
            ..transit
        }))
    }

    /// `prepareProducerIdRotation`: the epoch is exhausted, so a new producer id starts at
    /// epoch 0 (`record_last_epoch` keeps the old epoch for a KIP-360 retry).
    pub fn prepare_producer_id_rotation(
        &mut self,
        new_producer_id: i64,
        new_txn_timeout_ms: u64,
        now_ms: u64,
        record_last_epoch: bool,
    ) -> Result<TxnTransitMetadata, IllegalTransition> {
        if self.has_pending_transaction() {
            return Err(IllegalTransition(
                "cannot rotate producer ids while a transaction is still pending".into(),
            ));
        }
        let last_epoch = if record_last_epoch {
            self.producer_epoch
        } else {
            NO_PRODUCER_EPOCH
        };
        let transit = self.prepare_transition_to(
            TransactionState::Empty,
            (new_producer_id, NO_PRODUCER_ID),
            (0, last_epoch),
            BTreeSet::new(),
            None,
            now_ms,
            self.client_transaction_version,
        )?;
        Ok(TxnTransitMetadata {
            txn_timeout_ms: new_txn_timeout_ms,
            ..transit
        })
    }

    /// `prepareAddPartitions`: Ongoing with the union of the partitions; a transaction that
    /// starts now (from Empty or Complete*) starts its clock now. It records the transaction
    /// version of the request that adds them (Kafka 4.0).
    pub fn prepare_add_partitions(
        &mut self,
        added: &BTreeSet<TopicPartition>,
        now_ms: u64,
        client_transaction_version: TransactionVersion,
    ) -> Result<TxnTransitMetadata, IllegalTransition> {
        let start_ms = match self.state {
            TransactionState::Empty
            | TransactionState::CompleteAbort
            | TransactionState::CompleteCommit => Some(now_ms),
            _ => self.txn_start_timestamp_ms,
        };
        let partitions = self.topic_partitions.union(added).cloned().collect();
        self.prepare_transition_to(
            TransactionState::Ongoing,
            (self.producer_id, NO_PRODUCER_ID),
            (self.producer_epoch, self.last_producer_epoch),
            partitions,
            start_ms,
            now_ms,
            client_transaction_version,
        )
    }

    /// `prepareAbortOrCommit`: PrepareCommit or PrepareAbort; with transaction.version 2 the
    /// epoch is bumped here (`next_producer_id` is a new producer id when that bump would
    /// exhaust the epoch, else -1). `no_partition_added` is version 2's abort with no
    /// transaction open (from Empty or Complete*): its start time is now.
    pub fn prepare_abort_or_commit(
        &mut self,
        new_state: TransactionState,
        client_transaction_version: TransactionVersion,
        next_producer_id: i64,
        now_ms: u64,
        no_partition_added: bool,
    ) -> Result<TxnTransitMetadata, IllegalTransition> {
        // Kafka's `(producerEpoch + 1).toShort` wraps at Short.MaxValue, and the negative
        // epoch is then refused as illegal: the same here, not an overflow.
        let epochs = if client_transaction_version.supports_epoch_bump() {
            (self.producer_epoch.wrapping_add(1), self.producer_epoch)
        } else {
            (self.producer_epoch, self.last_producer_epoch)
        };
        self.prepare_transition_to(
            new_state,
            (self.producer_id, next_producer_id),
            epochs,
            self.topic_partitions.clone(),
            if no_partition_added {
                Some(now_ms)
            } else {
                self.txn_start_timestamp_ms
            },
            now_ms,
            client_transaction_version,
        )
    }

    /// `prepareComplete`: every marker is written. With transaction.version 2 and an
    /// overflowed epoch, the new producer id takes over here at epoch 0.
    pub fn prepare_complete(
        &mut self,
        now_ms: u64,
    ) -> Result<TxnTransitMetadata, IllegalTransition> {
        let new_state = if self.state == TransactionState::PrepareCommit {
            TransactionState::CompleteCommit
        } else {
            TransactionState::CompleteAbort
        };
        self.has_failed_epoch_fence = false;
        let (producer_id, epoch) = if self.client_transaction_version.supports_epoch_bump()
            && self.next_producer_id != NO_PRODUCER_ID
        {
            (self.next_producer_id, 0)
        } else {
            (self.producer_id, self.producer_epoch)
        };
        // The last epoch stays what it was (Kafka 4.0): after a version 2 bump it is the
        // epoch the client last saw, Short.MaxValue - 1 on an overflow to a new producer id.
        self.prepare_transition_to(
            new_state,
            (producer_id, NO_PRODUCER_ID),
            (epoch, self.last_producer_epoch),
            BTreeSet::new(),
            self.txn_start_timestamp_ms,
            now_ms,
            self.client_transaction_version,
        )
    }

    /// `prepareDead`: the id expired.
    pub fn prepare_dead(&mut self) -> Result<TxnTransitMetadata, IllegalTransition> {
        self.prepare_transition_to(
            TransactionState::Dead,
            (self.producer_id, NO_PRODUCER_ID),
            (self.producer_epoch, self.last_producer_epoch),
            BTreeSet::new(),
            self.txn_start_timestamp_ms,
            self.txn_last_update_timestamp_ms,
            self.client_transaction_version,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn transit(
        &self,
        state: TransactionState,
        (producer_id, next_producer_id): (i64, i64),
        (producer_epoch, last_producer_epoch): (i16, i16),
        topic_partitions: BTreeSet<TopicPartition>,
        txn_start_timestamp_ms: Option<u64>,
        txn_last_update_timestamp_ms: u64,
        client_transaction_version: TransactionVersion,
    ) -> TxnTransitMetadata {
        TxnTransitMetadata {
            producer_id,
            prev_producer_id: self.producer_id,
            next_producer_id,
            producer_epoch,
            last_producer_epoch,
            txn_timeout_ms: self.txn_timeout_ms,
            state,
            topic_partitions,
            txn_start_timestamp_ms,
            txn_last_update_timestamp_ms,
            client_transaction_version,
        }
    }

    /// `prepareTransitionTo`: checks the target against the current state and sets it
    /// pending.
    #[allow(clippy::too_many_arguments)]
    fn prepare_transition_to(
        &mut self,
        state: TransactionState,
        ids: (i64, i64),
        epochs: (i16, i16),
        topic_partitions: BTreeSet<TopicPartition>,
        txn_start_timestamp_ms: Option<u64>,
        now_ms: u64,
        client_transaction_version: TransactionVersion,
    ) -> Result<TxnTransitMetadata, IllegalTransition> {
        if let Some(pending) = self.pending_state {
            return Err(IllegalTransition(format!(
                "preparing a transition to {state} while {pending} is pending"
            )));
        }
        if ids.0 < 0 {
            return Err(IllegalTransition(format!("illegal producer id {}", ids.0)));
        }
        if state != TransactionState::Dead && epochs.0 < 0 {
            return Err(IllegalTransition(format!(
                "illegal producer epoch {}",
                epochs.0
            )));
        }
        if !state.valid_previous_states().contains(&self.state) {
            return Err(IllegalTransition(format!(
                "{state} may not follow {}",
                self.state
            )));
        }
        self.pending_state = Some(state);
        Ok(self.transit(
            state,
            ids,
            epochs,
            topic_partitions,
            txn_start_timestamp_ms,
            now_ms,
            client_transaction_version,
        ))
    }

    /// `completeTransitionTo`: the change is in the log; the metadata takes it. The checks
    /// are Kafka's: the target is the pending state, the epoch stays (or moves by the bump
    /// the change is for), the partitions only grow while Ongoing and stay while preparing.
    pub fn complete_transition_to(
        &mut self,
        transit: &TxnTransitMetadata,
    ) -> Result<(), IllegalTransition> {
        let Some(to_state) = self.pending_state else {
            return Err(IllegalTransition(format!(
                "{}: completing a transition with none pending",
                self.transactional_id
            )));
        };
        let fail = || {
            Err(IllegalTransition(format!(
                "{}: unexpected transition from {} to {transit:?}",
                self.transactional_id, self.state
            )))
        };
        if to_state != transit.state {
            return fail();
        }
        match to_state {
            TransactionState::Empty => {
                if (self.producer_epoch != transit.producer_epoch
                    && !self.valid_producer_epoch_bump(transit))
                    || !transit.topic_partitions.is_empty()
                    || transit.txn_start_timestamp_ms.is_some()
                {
                    return fail();
                }
                self.txn_timeout_ms = transit.txn_timeout_ms;
                self.producer_epoch = transit.producer_epoch;
                self.last_producer_epoch = transit.last_producer_epoch;
                self.producer_id = transit.producer_id;
                self.previous_producer_id = transit.prev_producer_id;
            }
            TransactionState::Ongoing => {
                if !self.valid_producer_epoch(transit)
                    || !self.topic_partitions.is_subset(&transit.topic_partitions)
                    || self.txn_timeout_ms != transit.txn_timeout_ms
                {
                    return fail();
                }
                self.txn_start_timestamp_ms = transit.txn_start_timestamp_ms;
                self.topic_partitions
                    .extend(transit.topic_partitions.iter().cloned());
            }
            TransactionState::PrepareAbort | TransactionState::PrepareCommit => {
                // Version 2's abort with no transaction open starts its clock now.
                let empty_abort = to_state == TransactionState::PrepareAbort
                    && transit.client_transaction_version.supports_epoch_bump()
                    && matches!(
                        self.state,
                        TransactionState::Empty
                            | TransactionState::CompleteCommit
                            | TransactionState::CompleteAbort
                    );
                if !self.valid_producer_epoch(transit)
                    || self.topic_partitions != transit.topic_partitions
                    || self.txn_timeout_ms != transit.txn_timeout_ms
                    || (self.txn_start_timestamp_ms != transit.txn_start_timestamp_ms
                        && !empty_abort)
                {
                    return fail();
                }
                if transit.client_transaction_version.supports_epoch_bump() {
                    self.producer_epoch = transit.producer_epoch;
                    self.last_producer_epoch = transit.last_producer_epoch;
                    self.next_producer_id = transit.next_producer_id;
                    self.txn_start_timestamp_ms = transit.txn_start_timestamp_ms;
                }
            }
            TransactionState::CompleteAbort | TransactionState::CompleteCommit => {
                if !self.valid_producer_epoch(transit)
                    || self.txn_timeout_ms != transit.txn_timeout_ms
                    || transit.txn_start_timestamp_ms.is_none()
                {
                    return fail();
                }
                self.txn_start_timestamp_ms = transit.txn_start_timestamp_ms;
                self.topic_partitions.clear();
                if transit.client_transaction_version.supports_epoch_bump() {
                    self.producer_epoch = transit.producer_epoch;
                    self.last_producer_epoch = transit.last_producer_epoch;
                    self.previous_producer_id = transit.prev_producer_id;
                    self.producer_id = transit.producer_id;
                    self.next_producer_id = transit.next_producer_id;
                }
            }
            // Never completed: a fence is followed at once by an abort, and a Dead id is
            // removed rather than written.
            TransactionState::PrepareEpochFence | TransactionState::Dead => return fail(),
        }
        self.client_transaction_version = transit.client_transaction_version;
        self.txn_last_update_timestamp_ms = transit.txn_last_update_timestamp_ms;
        self.pending_state = None;
        self.state = to_state;
        Ok(())
    }

    /// `validProducerEpoch`: the change is for this producer id and epoch (with TV2, the
    /// epoch before a Prepare's bump, and the old id after an overflow).
    fn valid_producer_epoch(&self, transit: &TxnTransitMetadata) -> bool {
        let tv2 = transit.client_transaction_version.supports_epoch_bump();
        let completing = matches!(
            transit.state,
            TransactionState::CompleteCommit | TransactionState::CompleteAbort
        );
        let preparing = matches!(
            transit.state,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort
        );
        if tv2 && completing && transit.producer_epoch == 0 {
            // An overflow to a new producer id: the last epoch does not move at completion,
            // and the old producer id is the previous one.
            transit.last_producer_epoch == self.last_producer_epoch
                && transit.prev_producer_id == self.producer_id
        } else if tv2 && preparing {
            transit.last_producer_epoch == self.producer_epoch
                && transit.producer_id == self.producer_id
        } else {
            transit.producer_epoch == self.producer_epoch && transit.producer_id == self.producer_id
        }
    }

    /// `validProducerEpochBump`: one more epoch, or epoch 0 of a new producer id.
    fn valid_producer_epoch_bump(&self, transit: &TxnTransitMetadata) -> bool {
        // In Kafka, `producerEpoch + 1` is an Int: no overflow at Short.MaxValue.
        i32::from(transit.producer_epoch) == i32::from(self.producer_epoch) + 1
            || (transit.producer_epoch == 0 && transit.producer_id != self.producer_id)
    }
}
