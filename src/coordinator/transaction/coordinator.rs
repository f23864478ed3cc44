//! The transaction coordinator as a broker hosts it (Kafka's `TransactionCoordinator` with
//! its `TransactionStateManager`): which `__transaction_state` partitions this broker
//! answers for, each transactional id's [`TransactionMetadata`], and the requests that move
//! them: InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
//! and the periodic abort of transactions that ran past their timeout.
//!
//! Why a change is only taken once it is written: a coordinator that answers before its
//! decision is replicated could fail over to a broker that never heard of it, and a client
//! told "committed" would see its transaction aborted. So every decision
//! ([`super::decisions`]) is first a *pending* transition, written to the id's partition of
//! `__transaction_state` with `acks=all`, and becomes the id's state when the write is
//! acknowledged (`TransactionStateManager.appendTransactionToLog`). Until then the id
//! answers CONCURRENT_TRANSACTIONS.
//!
//! Like the group coordinator this is a state machine without I/O: writes are requests to
//! the host ([`TxnCoordinatorRequest::Append`]), their answers come back through
//! [`TransactionCoordinator::on_append_done`], and the markers of a decided transaction go
//! out through the marker channel ([`super::markers`]).

use super::decisions::{
    is_timed_out, prepare_add_partitions, prepare_end_transaction, prepare_init_producer_id,
    Decision, EndTxnAnswer, EndTxnDecision, ProducerIdAndEpoch, TransactionResult,
};
use super::loading::load_partition;
use super::log::{key, partition_for, value};
use super::markers::{MarkerChannel, PartitionLeader};
use super::metadata::{
    TransactionMetadata, TransactionState, TransactionVersion, TxnTransitMetadata,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};
use crate::actor::Output;
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

/// How long reading a partition takes before the coordinator answers for it (as the group
/// coordinator's load, a fixed short delay: the simulator reads no real disk).
pub const LOAD_DELAY_MS: u64 = 10;

/// The broker configs the coordinator follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnCoordinatorConfig {
    /// `transaction.state.log.num.partitions`.
    pub partition_count: u32,
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask.
    pub transaction_max_timeout_ms: u64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_timed_out_interval_ms: u64,
    /// `request.timeout.ms`: how long a WriteTxnMarkers may go unanswered.
    pub request_timeout_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnTimer {
    /// Reading a partition this broker began to lead at `coordinator_epoch` is done.
    LoadDone {
        partition: u32,
        coordinator_epoch: i32,
    },
    /// `abortTimedOutTransactions`, every `abort_timed_out_interval_ms`.
    AbortTimedOut,
    /// Look again for the leaders of markers that had none (`markersQueueForUnknownBroker`)
    /// and write completions that failed.
    MarkerRetry,
    /// A WriteTxnMarkers got no answer within `request.timeout.ms`.
    MarkerTimeout { correlation_id: u64 },
}

/// One write to `__transaction_state`: the id's newest state as a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnAppend {
    pub append_id: u64,
    pub partition: u32,
    pub key: String,
    pub value: String,
}

/// What only the broker can do for the coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnCoordinatorRequest {
    /// Append as leader with `acks=all`; the answer comes back through
    /// [`TransactionCoordinator::on_append_done`].
    Append(TxnAppend),
}

pub type TxnCoordinatorOutput = Output<TxnTimer, TxnCoordinatorRequest>;

/// Where the coordinator finds partition leaders and new producer ids: the host's metadata
/// cache and `ProducerIdManager`.
pub trait TxnHost {
    fn leader(&self, tp: &TopicPartition) -> PartitionLeader;
    /// `ProducerIdManager.generateProducerId`; `None` while none can be handed out.
    fn new_producer_id(&mut self) -> Option<i64>;
}

/// Whether this broker answers for a partition yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartitionLoad {
    Loading(i32),
    Loaded(i32),
}

/// Who waits for a write, and what it is told when the write is done.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Reply {
    InitProducerId {
        to: NodeId,
        correlation_id: u64,
    },
    AddPartitions {
        to: NodeId,
        correlation_id: u64,
        partitions: Vec<TopicPartition>,
    },
    AddOffsets {
        to: NodeId,
        correlation_id: u64,
    },
    EndTxn {
        to: NodeId,
        correlation_id: u64,
        version: TransactionVersion,
        /// The request's `for_transaction`, for the events only.
        for_transaction: Option<u64>,
    },
    /// InitProducerId found an open transaction: its abort is being written, and the client
    /// is told CONCURRENT_TRANSACTIONS to try again (`sendRetriableErrorCallback`).
    FencingInit {
        to: NodeId,
        correlation_id: u64,
    },
    /// The coordinator's own abort of a timed-out transaction: nobody waits.
    TimedOut,
    /// The Complete record after the markers: nobody waits.
    Completion,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingWrite {
    transactional_id: String,
    coordinator_epoch: i32,
    transit: TxnTransitMetadata,
    reply: Reply,
    /// The write is the abort of a fence under transaction version 0 or 1.
    fence_abort_tv1: bool,
}

pub struct TransactionCoordinator {
    broker: BrokerId,
    config: TxnCoordinatorConfig,
    partitions: BTreeMap<u32, PartitionLoad>,
    transactions: BTreeMap<String, TransactionMetadata>,
    pending: BTreeMap<u64, PendingWrite>,
    next_append_id: u64,
    markers: MarkerChannel,
    started_ms: u64,
    abort_timer_armed: bool,
}

impl TransactionCoordinator {
    pub fn new(broker: BrokerId, config: TxnCoordinatorConfig) -> TransactionCoordinator {
        assert!(config.partition_count > 0);
        assert!(config.abort_timed_out_interval_ms > 0);
        TransactionCoordinator {
            broker,
            config,
            partitions: BTreeMap::new(),
            transactions: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_append_id: 0,
            markers: MarkerChannel::default(),
            started_ms: 0,
            abort_timer_armed: false,
        }
    }

    pub fn partition_for(&self, transactional_id: &str) -> u32 {
        partition_for(transactional_id, self.config.partition_count)
    }

    /// The ids this broker coordinates now, with their state.
    pub fn transactions(&self) -> &BTreeMap<String, TransactionMetadata> {
        &self.transactions
    }

    /// `TransactionCoordinator.startup` schedules the abort of timed-out transactions every
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` from the broker's
    /// start. The model arms that timer when the broker first leads a partition of
    /// `__transaction_state`, at the same phase, so a broker with no ids sets no timer.
    fn arm_abort_timer(&mut self, now_ms: u64, out: &mut TxnCoordinatorOutput) {
        if self.abort_timer_armed {
            return;
        }
        self.abort_timer_armed = true;
        let interval_ms = self.config.abort_timed_out_interval_ms;
        let since_start_ms = now_ms.saturating_sub(self.started_ms);
        out.timer(
            interval_ms - since_start_ms % interval_ms,
            TxnTimer::AbortTimedOut,
        );
    }

    /// The broker (re)started at `now_ms`.
    pub fn start(&mut self, now_ms: u64) {
        self.started_ms = now_ms;
    }

    /// `TransactionStateManager.getTransactionState`'s checks: this broker answers for the
    /// id's partition, and has read it.
    fn coordinator_epoch_for(&self, transactional_id: &str) -> Result<i32, ErrorCode> {
        match self.partitions.get(&self.partition_for(transactional_id)) {
            Some(PartitionLoad::Loaded(epoch)) => Ok(*epoch),
            Some(PartitionLoad::Loading(_)) => Err(ErrorCode::CoordinatorLoadInProgress),
            None => Err(ErrorCode::NotCoordinator),
        }
    }

    // ---- leadership of `__transaction_state` ------------------------------------------

    /// `TransactionCoordinator.onElection`: this broker leads `partition` at
    /// `coordinator_epoch` (the partition's leader epoch) and reads it before answering
    /// (`removeMarkersForTxnTopicPartition`, then `loadTransactionsForTxnTopicPartition`).
    pub fn on_election(
        &mut self,
        now_ms: u64,
        partition: u32,
        coordinator_epoch: i32,
        out: &mut TxnCoordinatorOutput,
    ) {
        self.arm_abort_timer(now_ms, out);
        if let Some(PartitionLoad::Loading(epoch) | PartitionLoad::Loaded(epoch)) =
            self.partitions.get(&partition)
        {
            if *epoch == coordinator_epoch {
                return;
            }
        }
        // Kafka reloads even when this broker stays the leader in a newer epoch (the
        // controller bumps it when it takes a dead replica out of the ISR): what is in
        // memory, and the markers under way, are dropped and read back from the log, so the
        // decisions go on under the new coordinator epoch. Writes still under way are
        // answered NOT_COORDINATOR when they finish, as their epoch is gone.
        self.drop_partition(partition);
        self.partitions
            .insert(partition, PartitionLoad::Loading(coordinator_epoch));
        out.timer(
            LOAD_DELAY_MS,
            TxnTimer::LoadDone {
                partition,
                coordinator_epoch,
            },
        );
    }

    /// `TransactionCoordinator.onResignation`: drop the partition's ids and their markers
    /// (`removeTransactionsForTxnTopicPartition`, `removeMarkersForTxnTopicPartition`).
    /// Writes still under way fail on their own, answered NOT_LEADER_OR_FOLLOWER.
    pub fn on_resignation(&mut self, partition: u32, out: &mut TxnCoordinatorOutput) {
        if self.partitions.remove(&partition).is_none() {
            return;
        }
        let dropped = self.drop_partition(partition);
        out.event(Event::TxnCoordinatorUnloaded {
            broker: self.broker,
            partition,
            transactional_ids: dropped,
        });
    }

    /// Forgets the ids of `partition` and their markers; returns the ids.
    fn drop_partition(&mut self, partition: u32) -> Vec<String> {
        let count = self.config.partition_count;
        let dropped: Vec<String> = self
            .transactions
            .keys()
            .filter(|id| partition_for(id, count) == partition)
            .cloned()
            .collect();
        for id in &dropped {
            self.transactions.remove(id);
            self.markers.remove(id);
        }
        dropped
    }

    /// `loadTransactionsForTxnTopicPartition`: the read is done. Ids whose decision was
    /// written but not completed have their markers sent again.
    pub fn finish_load(
        &mut self,
        now_ms: u64,
        partition: u32,
        coordinator_epoch: i32,
        records: &[Record],
        host: &mut dyn TxnHost,
        out: &mut TxnCoordinatorOutput,
    ) {
        if self.partitions.get(&partition) != Some(&PartitionLoad::Loading(coordinator_epoch)) {
            return; // Leadership moved on while reading.
        }
        let loaded = load_partition(records);
        self.partitions
            .insert(partition, PartitionLoad::Loaded(coordinator_epoch));
        out.event(Event::TxnCoordinatorLoaded {
            broker: self.broker,
            partition,
            coordinator_epoch,
            transactions: loaded
                .transactions
                .values()
                .map(|m| (m.transactional_id.clone(), m.state.name().to_string()))
                .collect(),
        });
        for (id, m) in loaded.transactions {
            assert_eq!(partition_for(&id, self.config.partition_count), partition);
            self.transactions.insert(id, m);
        }
        for (id, result) in loaded.pending_completion {
            let m = self.transactions.get_mut(&id).expect("loaded");
            // `loadTransactionsForTxnTopicPartition`: the completion is prepared at once, so
            // the id answers CONCURRENT_TRANSACTIONS until its markers are written.
            let complete = m
                .prepare_complete(now_ms)
                .expect("a loaded Prepare state may complete");
            self.markers
                .add(&id, coordinator_epoch, result, m, complete);
        }
        self.send_markers(host, out);
    }

    // ---- requests ----------------------------------------------------------------------

    /// `TransactionCoordinator.handleInitProducerId` with a transactional id.
    pub fn on_init_producer_id(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: InitProducerIdRequest,
        host: &mut dyn TxnHost,
        out: &mut TxnCoordinatorOutput,
    ) {
        let correlation_id = request.correlation_id;
        let id = request
            .transactional_id
            .expect("the host answers InitProducerId without a transactional id");
        let answer = |out: &mut TxnCoordinatorOutput, error: ErrorCode| {
            out.send(from, init_error(correlation_id, error));
        };
        if id.is_empty() {
            return answer(out, ErrorCode::InvalidRequest);
        }
        // `TransactionStateManager.validateTransactionTimeoutMs`.
        let timeout_ms = request.transaction_timeout_ms;
        if timeout_ms == 0 || timeout_ms > self.config.transaction_max_timeout_ms {
            return answer(out, ErrorCode::InvalidTransactionTimeout);
        }
        let coordinator_epoch = match self.coordinator_epoch_for(&id) {
            Ok(epoch) => epoch,
            Err(error) => return answer(out, error),
        };
        if !self.transactions.contains_key(&id) {
            // `putTransactionStateIfNotExists` with a new producer id, at no epoch yet.
            let Some(producer_id) = host.new_producer_id() else {
                return answer(out, ErrorCode::CoordinatorNotAvailable);
            };
            let m = TransactionMetadata::new(&id, producer_id, timeout_ms, now_ms);
            self.transactions.insert(id.clone(), m);
        }
        let expected = (request.producer_id != NO_PRODUCER_ID).then_some(ProducerIdAndEpoch {
            producer_id: request.producer_id,
            epoch: request.producer_epoch,
        });
        let m = self.transactions.get_mut(&id).expect("present");
        let mut no_id = false;
        let decision = prepare_init_producer_id(m, timeout_ms, expected, now_ms, || {
            host.new_producer_id().unwrap_or_else(|| {
                no_id = true;
                NO_PRODUCER_ID
            })
        })
        .unwrap_or_else(|e| panic!("{}", e.0));
        if no_id {
            m.pending_state = None;
            return answer(out, ErrorCode::CoordinatorNotAvailable);
        }
        match decision {
            Decision::Respond(error) => answer(out, error),
            Decision::Write(transit) if transit.state == TransactionState::PrepareEpochFence => {
                // An instance left a transaction open: abort it first.
                let reply = Reply::FencingInit {
                    to: from,
                    correlation_id,
                };
                self.abort_after_fence(now_ms, &id, &transit, reply, host, out);
            }
            Decision::Write(transit) => {
                let reply = Reply::InitProducerId {
                    to: from,
                    correlation_id,
                };
                self.write(&id, coordinator_epoch, transit, reply, false, out);
            }
        }
    }

    /// `handleAddPartitionsToTransaction` from a producer. A partition leader's
    /// verification (KIP-890 part 1) is answered by [`Self::on_verify_partitions`].
    pub fn on_add_partitions(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: AddPartitionsToTxnRequest,
        out: &mut TxnCoordinatorOutput,
    ) {
        let partitions: Vec<TopicPartition> = request.partitions.clone();
        let reply = Reply::AddPartitions {
            to: from,
            correlation_id: request.correlation_id,
            partitions: partitions.clone(),
        };
        let tps: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        self.add_to_transaction(
            now_ms,
            &request.transactional_id,
            (request.producer_id, request.producer_epoch),
            &tps,
            request.transaction_version,
            reply,
            out,
        );
    }

    /// `handleAddPartitionsToTransaction` for AddOffsetsToTxn: the group's partition of
    /// `__consumer_offsets` (`offsets_tp`, from the host) joins the transaction.
    pub fn on_add_offsets(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: AddOffsetsToTxnRequest,
        offsets_tp: TopicPartition,
        out: &mut TxnCoordinatorOutput,
    ) {
        let reply = Reply::AddOffsets {
            to: from,
            correlation_id: request.correlation_id,
        };
        self.add_to_transaction(
            now_ms,
            &request.transactional_id,
            (request.producer_id, request.producer_epoch),
            &BTreeSet::from([offsets_tp]),
            TransactionVersion::V0,
            reply,
            out,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn add_to_transaction(
        &mut self,
        now_ms: u64,
        transactional_id: &str,
        (producer_id, producer_epoch): (i64, i16),
        partitions: &BTreeSet<TopicPartition>,
        version: TransactionVersion,
        reply: Reply,
        out: &mut TxnCoordinatorOutput,
    ) {
        let decision = match self.coordinator_epoch_for(transactional_id) {
            Err(error) => Err(error),
            Ok(epoch) => match self.transactions.get_mut(transactional_id) {
                None => Err(ErrorCode::InvalidProducerIdMapping),
                Some(m) => Ok((
                    epoch,
                    prepare_add_partitions(
                        m,
                        producer_id,
                        producer_epoch,
                        partitions,
                        version,
                        now_ms,
                    )
                    .unwrap_or_else(|e| panic!("{}", e.0)),
                )),
            },
        };
        match decision {
            Err(error) | Ok((_, Decision::Respond(error))) => answer(out, &reply, error, None),
            Ok((epoch, Decision::Write(transit))) => {
                self.write(transactional_id, epoch, transit, reply, false, out)
            }
        }
    }

    /// KIP-890 part 1: a partition leader asks whether a transactional batch belongs to an
    /// open transaction that holds its partition (`handleVerifyPartitionsInTransaction`).
    /// Nothing is written.
    pub fn on_verify_partitions(
        &mut self,
        from: NodeId,
        request: AddPartitionsToTxnRequest,
        out: &mut TxnCoordinatorOutput,
    ) {
        let error_for_all = match self.coordinator_epoch_for(&request.transactional_id) {
            Err(error) => Some(error),
            Ok(_) => match self.transactions.get(&request.transactional_id) {
                None => Some(ErrorCode::InvalidProducerIdMapping),
                Some(m) if m.producer_id != request.producer_id => {
                    Some(ErrorCode::InvalidProducerIdMapping)
                }
                Some(m) if m.producer_epoch != request.producer_epoch => {
                    Some(ErrorCode::ProducerFenced)
                }
                Some(m) if m.pending_transition_in_progress() => {
                    Some(ErrorCode::ConcurrentTransactions)
                }
                Some(_) => None,
            },
        };
        let m = self.transactions.get(&request.transactional_id);
        let results = request
            .partitions
            .iter()
            .map(|tp| {
                let error = error_for_all.unwrap_or_else(|| {
                    let m = m.expect("checked");
                    if m.state == TransactionState::Ongoing && m.topic_partitions.contains(tp) {
                        ErrorCode::None
                    } else {
                        ErrorCode::InvalidTxnState
                    }
                });
                (tp.clone(), error)
            })
            .collect();
        out.send(
            from,
            Message::AddPartitionsToTxnResponse(AddPartitionsToTxnResponse {
                correlation_id: request.correlation_id,
                results,
            }),
        );
    }

    /// `TransactionCoordinator.handleEndTransaction`.
    pub fn on_end_txn(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: EndTxnRequest,
        host: &mut dyn TxnHost,
        out: &mut TxnCoordinatorOutput,
    ) {
        let reply = Reply::EndTxn {
            to: from,
            correlation_id: request.correlation_id,
            version: request.transaction_version,
            for_transaction: request.for_transaction,
        };
        let result = match request.committed {
            true => TransactionResult::Commit,
            false => TransactionResult::Abort,
        };
        self.end_transaction(
            now_ms,
            &request.transactional_id,
            (request.producer_id, request.producer_epoch),
            result,
            (true, request.transaction_version),
            reply,
            host,
            out,
        );
    }

    /// `TransactionCoordinator.endTransaction` up to the PrepareCommit or PrepareAbort
    /// write.
    #[allow(clippy::too_many_arguments)]
    fn end_transaction(
        &mut self,
        now_ms: u64,
        transactional_id: &str,
        (producer_id, producer_epoch): (i64, i16),
        result: TransactionResult,
        (is_from_client, version): (bool, TransactionVersion),
        reply: Reply,
        host: &mut dyn TxnHost,
        out: &mut TxnCoordinatorOutput,
    ) {
        let coordinator_epoch = match self.coordinator_epoch_for(transactional_id) {
            Ok(epoch) => epoch,
            Err(error) => return answer(out, &reply, error, None),
        };
        let Some(m) = self.transactions.get_mut(transactional_id) else {
            return answer(out, &reply, ErrorCode::InvalidProducerIdMapping, None);
        };
        let is_epoch_fence = m.pending_state == Some(TransactionState::PrepareEpochFence);
        let mut no_id = false;
        let decision = prepare_end_transaction(
            m,
            producer_id,
            producer_epoch,
            result,
            is_from_client,
            version,
            now_ms,
            || {
                host.new_producer_id().unwrap_or_else(|| {
                    no_id = true;
                    NO_PRODUCER_ID
                })
            },
        )
        .unwrap_or_else(|e| panic!("{}", e.0));
        if no_id {
            m.pending_state = None;
            return answer(out, &reply, ErrorCode::CoordinatorNotAvailable, None);
        }
        match decision {
            EndTxnDecision::Respond(end) => {
                if let Reply::EndTxn {
                    for_transaction, ..
                } = &reply
                {
                    if matches!(
                        end.error,
                        ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch
                    ) {
                        out.event(Event::EndTxnRefused {
                            broker: self.broker,
                            transactional_id: transactional_id.to_string(),
                            producer_id,
                            producer_epoch,
                            current_epoch: m.producer_epoch,
                            error: end.error,
                            end_txn_for: *for_transaction,
                        });
                    }
                }
                answer(out, &reply, end.error, Some(end))
            }
            EndTxnDecision::Write(transit) => {
                let fence_abort_tv1 = is_epoch_fence && !version.supports_epoch_bump();
                self.write(
                    transactional_id,
                    coordinator_epoch,
                    transit,
                    reply,
                    fence_abort_tv1,
                    out,
                )
            }
        }
    }

    /// The abort that follows a fence, from InitProducerId or a timeout: `endTransaction`
    /// with `isFromClient` false at the fenced epoch, in the id's own transaction version.
    fn abort_after_fence(
        &mut self,
        now_ms: u64,
        transactional_id: &str,
        fence: &TxnTransitMetadata,
        reply: Reply,
        host: &mut dyn TxnHost,
        out: &mut TxnCoordinatorOutput,
    ) {
        let version = self.transactions[transactional_id].client_transaction_version;
        self.end_transaction(
            now_ms,
            transactional_id,
            (fence.producer_id, fence.producer_epoch),
            TransactionResult::Abort,
            (false, version),
            reply,
            host,
            out,
        );
    }

    // ---- writes ------------------------------------------------------------------------

    fn write(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        transit: TxnTransitMetadata,
        reply: Reply,
        fence_abort_tv1: bool,
        out: &mut TxnCoordinatorOutput,
    ) {
        self.next_append_id += 1;
        let append_id = self.next_append_id;
        out.request(TxnCoordinatorRequest::Append(TxnAppend {
            append_id,
            partition: self.partition_for(transactional_id),
            key: key(transactional_id),
            value: value(&transit),
        }));
        self.pending.insert(
            append_id,
            PendingWrite {
                transactional_id: transactional_id.to_string(),
                coordinator_epoch,
                transit,
                reply,
                fence_abort_tv1,
            },
        );
    }

    /// The answer to a write (`appendTransactionToLog`'s callback): the id takes the
    /// change, or drops it and the waiting request learns why.
    pub fn on_append_done(
        &mut self,
        now_ms: u64,
        append_id: u64,
        append_error: ErrorCode,
        host: &mut dyn TxnHost,
        out: &mut TxnCoordinatorOutput,
    ) {
        let Some(w) = self.pending.remove(&append_id) else {
            return;
        };
        let still_coordinator = self
            .coordinator_epoch_for(&w.transactional_id)
            .is_ok_and(|epoch| epoch == w.coordinator_epoch);
        let Some(m) = self
            .transactions
            .get_mut(&w.transactional_id)
            .filter(|_| still_coordinator)
        else {
            // The partition moved (or was reloaded) while the write was under way.
            return answer(out, &w.reply, ErrorCode::NotCoordinator, None);
        };
        let error = append_error_to_coordinator_error(append_error);
        if error != ErrorCode::None {
            if w.reply == Reply::Completion && error == ErrorCode::CoordinatorNotAvailable {
                // `TransactionMarkerChannelManager.tryAppendToLog`: the completion keeps
                // its pending state and is written again.
                self.markers.retry_completion((
                    w.transactional_id.clone(),
                    w.coordinator_epoch,
                    w.transit,
                ));
                out.timer(RETRY_BACKOFF_MS, TxnTimer::MarkerRetry);
                return;
            }
            m.abort_pending_transition(w.fence_abort_tv1);
            return answer(out, &w.reply, error, None);
        }
        let from = m.state;
        m.complete_transition_to(&w.transit)
            .unwrap_or_else(|e| panic!("{}", e.0));
        out.event(Event::TxnStateWritten {
            broker: self.broker,
            transactional_id: w.transactional_id.clone(),
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            from: from.name().to_string(),
            to: m.state.name().to_string(),
            partitions: m.topic_partitions.iter().cloned().collect(),
            end_txn_for: match (&w.reply, m.state) {
                (
                    Reply::EndTxn {
                        for_transaction, ..
                    },
                    TransactionState::PrepareCommit | TransactionState::PrepareAbort,
                ) => *for_transaction,
                _ => None,
            },
        });
        match m.state {
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
                self.after_prepare(now_ms, &w, host, out)
            }
            _ => {
                let done = EndTxnAnswer {
                    error: ErrorCode::None,
                    producer_id: m.producer_id,
                    producer_epoch: m.producer_epoch,
                };
                answer(out, &w.reply, ErrorCode::None, Some(done));
            }
        }
    }

    /// The decision is written: the requester is answered and the markers go out
    /// (`endTransaction`'s `sendTxnMarkersCallback`, `addTxnMarkersToSend`).
    fn after_prepare(
        &mut self,
        now_ms: u64,
        w: &PendingWrite,
        host: &mut dyn TxnHost,
        out: &mut TxnCoordinatorOutput,
    ) {
        let m = self
            .transactions
            .get_mut(&w.transactional_id)
            .expect("present");
        let result = match m.state {
            TransactionState::PrepareCommit => TransactionResult::Commit,
            _ => TransactionResult::Abort,
        };
        let done = EndTxnAnswer {
            error: ErrorCode::None,
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
        };
        answer(out, &w.reply, ErrorCode::None, Some(done));
        let complete = m
            .prepare_complete(now_ms)
            .unwrap_or_else(|e| panic!("{}", e.0));
        self.markers.add(
            &w.transactional_id,
            w.coordinator_epoch,
            result,
            m,
            complete,
        );
        self.send_markers(host, out);
    }

    // ---- markers -----------------------------------------------------------------------

    /// Sends what the marker channel has queued, and writes the completions of
    /// transactions whose markers are all written.
    fn send_markers(&mut self, host: &mut dyn TxnHost, out: &mut TxnCoordinatorOutput) {
        let request_timeout_ms = self.config.request_timeout_ms;
        let unsent = self.markers.drain(&*host, request_timeout_ms, out);
        if unsent {
            out.timer(RETRY_BACKOFF_MS, TxnTimer::MarkerRetry);
        }
        for (id, coordinator_epoch, complete) in self.markers.take_completed() {
            self.write_completion(&id, coordinator_epoch, complete, out);
        }
    }

    fn write_completion(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        complete: TxnTransitMetadata,
        out: &mut TxnCoordinatorOutput,
    ) {
        let current = self
            .coordinator_epoch_for(transactional_id)
            .is_ok_and(|epoch| epoch == coordinator_epoch);
        if !current || !self.transactions.contains_key(transactional_id) {
            return; // Another coordinator finishes it.
        }
        self.write(
            transactional_id,
            coordinator_epoch,
            complete,
            Reply::Completion,
            false,
            out,
        );
    }

    /// A broker answered WriteTxnMarkers (`TransactionMarkerRequestCompletionHandler`).
    /// Takes the time as every handler does, though an answer sets no deadline.
    pub fn on_write_txn_markers_response(
        &mut self,
        _now_ms: u64,
        response: WriteTxnMarkersResponse,
        host: &mut dyn TxnHost,
        out: &mut TxnCoordinatorOutput,
    ) {
        // The coordinator epoch of an id this broker answers for now (loaded), looked up
        // for the ids the answer names only.
        let (partitions, partition_count) = (&self.partitions, self.config.partition_count);
        let current = |id: &str| match partitions.get(&partition_for(id, partition_count)) {
            Some(PartitionLoad::Loaded(epoch)) => Some(*epoch),
            _ => None,
        };
        self.markers.on_response(response, current);
        self.send_markers(host, out);
    }

    pub fn on_timer(
        &mut self,
        now_ms: u64,
        timer: TxnTimer,
        host: &mut dyn TxnHost,
        out: &mut TxnCoordinatorOutput,
    ) {
        match timer {
            TxnTimer::LoadDone { .. } => {
                unreachable!("the broker handles LoadDone: it holds the log")
            }
            TxnTimer::AbortTimedOut => {
                self.abort_timed_out_transactions(now_ms, host, out);
                out.timer(
                    self.config.abort_timed_out_interval_ms,
                    TxnTimer::AbortTimedOut,
                );
            }
            TxnTimer::MarkerRetry => {
                for (id, coordinator_epoch, complete) in self.markers.take_completion_retries() {
                    self.write_completion(&id, coordinator_epoch, complete, out);
                }
                self.send_markers(host, out);
            }
            TxnTimer::MarkerTimeout { correlation_id } => {
                if let Some(broker) = self.markers.on_timeout(correlation_id) {
                    // The channel's `NetworkClient` closes the connection of a request that
                    // timed out; the markers go again on a new one.
                    out.close_connection(NodeId::Broker(broker));
                    self.send_markers(host, out);
                }
            }
        }
    }

    /// The connection to `broker` closed: the markers in flight there go again.
    pub fn on_broker_disconnected(
        &mut self,
        broker: BrokerId,
        host: &mut dyn TxnHost,
        out: &mut TxnCoordinatorOutput,
    ) {
        if self.markers.on_disconnected(broker) {
            self.send_markers(host, out);
        }
    }

    /// `TransactionCoordinator.abortTimedOutTransactions`: every open transaction begun
    /// more than its timeout ago is fenced (`prepareFenceProducerEpoch`) and aborted.
    fn abort_timed_out_transactions(
        &mut self,
        now_ms: u64,
        host: &mut dyn TxnHost,
        out: &mut TxnCoordinatorOutput,
    ) {
        let timed_out: Vec<String> = self
            .transactions
            .iter()
            .filter(|(id, m)| self.coordinator_epoch_for(id).is_ok() && is_timed_out(m, now_ms))
            .map(|(id, _)| id.clone())
            .collect();
        for id in timed_out {
            let m = self.transactions.get_mut(&id).expect("listed");
            let fence = m
                .prepare_fence_producer_epoch()
                .unwrap_or_else(|e| panic!("{}", e.0));
            out.event(Event::TxnTimedOut {
                broker: self.broker,
                transactional_id: id.clone(),
                producer_id: fence.producer_id,
                producer_epoch: fence.producer_epoch,
            });
            self.abort_after_fence(now_ms, &id, &fence, Reply::TimedOut, host, out);
        }
    }
}

/// How long the marker channel waits before looking again for a partition without a
/// leader, or writing a completion again (the producer's `retry.backoff.ms` default; Kafka's
/// sender thread polls its queues in a loop).
pub const RETRY_BACKOFF_MS: u64 = 100;

/// `appendTransactionToLog`'s mapping of a failed append to what the client is told.
fn append_error_to_coordinator_error(error: ErrorCode) -> ErrorCode {
    match error {
        ErrorCode::None => ErrorCode::None,
        ErrorCode::UnknownTopicOrPartition
        | ErrorCode::NotEnoughReplicas
        | ErrorCode::NotEnoughReplicasAfterAppend
        | ErrorCode::RequestTimedOut => ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotLeaderOrFollower => ErrorCode::NotCoordinator,
        _ => ErrorCode::UnknownServerError,
    }
}

fn init_error(correlation_id: u64, error: ErrorCode) -> Message {
    Message::InitProducerIdResponse(InitProducerIdResponse {
        correlation_id,
        error,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
    })
}

/// Answers the request a write (or a decision) was for. `done` names the producer id and
/// epoch of a success.
fn answer(
    out: &mut TxnCoordinatorOutput,
    reply: &Reply,
    error: ErrorCode,
    done: Option<EndTxnAnswer>,
) {
    match reply {
        Reply::InitProducerId { to, correlation_id } => {
            let message = match (error, done) {
                (ErrorCode::None, Some(done)) => {
                    Message::InitProducerIdResponse(InitProducerIdResponse {
                        correlation_id: *correlation_id,
                        error,
                        producer_id: done.producer_id,
                        producer_epoch: done.producer_epoch,
                    })
                }
                _ => init_error(*correlation_id, error),
            };
            out.send(*to, message);
        }
        Reply::FencingInit { to, correlation_id } => {
            let error = match error {
                ErrorCode::None => ErrorCode::ConcurrentTransactions,
                other => other,
            };
            out.send(*to, init_error(*correlation_id, error));
        }
        Reply::AddPartitions {
            to,
            correlation_id,
            partitions,
        } => out.send(
            *to,
            Message::AddPartitionsToTxnResponse(AddPartitionsToTxnResponse {
                correlation_id: *correlation_id,
                results: partitions.iter().map(|tp| (tp.clone(), error)).collect(),
            }),
        ),
        Reply::AddOffsets { to, correlation_id } => out.send(
            *to,
            Message::AddOffsetsToTxnResponse(AddOffsetsToTxnResponse {
                correlation_id: *correlation_id,
                error,
            }),
        ),
        Reply::EndTxn {
            to,
            correlation_id,
            version,
            ..
        } => {
            // Only transaction version 2's success names the producer id and epoch.
            let (producer_id, producer_epoch) = match done {
                Some(d) if error == ErrorCode::None && version.supports_epoch_bump() => {
                    (d.producer_id, d.producer_epoch)
                }
                _ => (NO_PRODUCER_ID, NO_PRODUCER_EPOCH),
            };
            out.send(
                *to,
                Message::EndTxnResponse(EndTxnResponse {
                    correlation_id: *correlation_id,
                    error,
                    producer_id,
                    producer_epoch,
                }),
            );
        }
        Reply::TimedOut | Reply::Completion => {}
    }
}
