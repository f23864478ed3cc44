//! A transactional producer's requests to its transaction coordinator: Kafka 3.7's
//! `Sender.maybeSendAndPollTransactionalRequest` with `TransactionManager`'s request queue
//! (`nextRequest`, `enqueueRequest`, `lookupCoordinator`) and its `TxnRequestHandler`s.
//!
//! Why apart from the application loop and the produce path: Kafka's sender sends one
//! transactional request at a time, ahead of any produce request, and holds back produce
//! requests while one is out; a retried request waits `retry.backoff.ms` first; and whether an
//! answer means "again", "look for the coordinator again", "abort" or "close the producer" is
//! `TransactionManager`'s (see `transaction_manager.rs`). Those rules decide when batches may
//! go out and when an EndTxn may, so they read best on their own.

use super::application::Application;
use super::transaction_manager::{Next, TransactionManager, TxnState};
use super::{Producer, ProducerTimer, TransactionWorkload};
use crate::actor::Output;
use crate::coordinator::transaction::TransactionVersion;
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;

/// The classic transaction protocol: a client's AddPartitionsToTxn (v4) and EndTxn (v4)
/// below the versions that stand for transaction version 2 (KIP-890 part 2; a 4.0
/// coordinator reads `version > 4` as TV2, anything older as TV0, `KafkaApis`). A 3.x
/// client always speaks it; a 4.0 client when the cluster has not finalized
/// `transaction.version` 2.
const CLASSIC_TRANSACTION_VERSION: TransactionVersion = TransactionVersion::V0;

/// `TransactionManager.ADD_PARTITIONS_RETRY_BACKOFF_MS`: the first AddPartitionsToTxn of a
/// transaction that hears CONCURRENT_TRANSACTIONS (the last one is still completing) retries
/// after at most this (KAFKA-5482).
const ADD_PARTITIONS_RETRY_BACKOFF_MS: u64 = 20;

/// A transactional request (Kafka's `TxnRequestHandler`s), ordered as `enqueueRequest`'s
/// priority queue orders them (`TxnRequestHandler.priority`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TxnRequest {
    FindCoordinator,
    /// `bump`: the producer names its current id and epoch to have the epoch bumped (KIP-360).
    InitProducerId {
        bump: bool,
    },
    AddPartitions(Vec<TopicPartition>),
    EndTxn {
        committed: bool,
    },
    /// `lookupCoordinator(GROUP, groupId)`: the group's coordinator, which a TxnOffsetCommit
    /// goes to.
    FindGroupCoordinator(String),
    /// `sendOffsetsToTransaction`: the group's offsets partition joins the transaction.
    AddOffsets(OffsetsToCommit),
    /// The offsets themselves, to the group coordinator (sent once AddOffsetsToTxn is in).
    TxnOffsetCommit(OffsetsToCommit),
}

impl TxnRequest {
    /// The request's name on the wire (Kafka's `ApiKeys`).
    fn api_name(&self) -> &'static str {
        match self {
            TxnRequest::FindCoordinator | TxnRequest::FindGroupCoordinator(_) => "FindCoordinator",
            TxnRequest::InitProducerId { .. } => "InitProducerId",
            TxnRequest::AddPartitions(_) => "AddPartitionsToTxn",
            TxnRequest::EndTxn { committed: true } => "EndTxn (commit)",
            TxnRequest::EndTxn { committed: false } => "EndTxn (abort)",
            TxnRequest::AddOffsets(_) => "AddOffsetsToTxn",
            TxnRequest::TxnOffsetCommit(_) => "TxnOffsetCommit",
        }
    }
}

/// What `sendOffsetsToTransaction(offsets, groupMetadata)` commits: the consumer's positions
/// and its `ConsumerGroupMetadata`, which the group coordinator checks (KIP-447).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OffsetsToCommit {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub offsets: Vec<(TopicPartition, u64)>,
}

impl TxnRequest {
    fn priority(&self) -> u8 {
        match self {
            TxnRequest::FindCoordinator | TxnRequest::FindGroupCoordinator(_) => 0,
            TxnRequest::InitProducerId { .. } => 1,
            TxnRequest::AddPartitions(_)
            | TxnRequest::AddOffsets(_)
            | TxnRequest::TxnOffsetCommit(_) => 2,
            TxnRequest::EndTxn { .. } => 3,
        }
    }

    fn is_find_coordinator(&self) -> bool {
        matches!(
            self,
            TxnRequest::FindCoordinator | TxnRequest::FindGroupCoordinator(_)
        )
    }

    /// Everything but FindCoordinator goes to a coordinator.
    fn needs_coordinator(&self) -> bool {
        !self.is_find_coordinator()
    }

    /// The FindCoordinator that finds this request's coordinator (`coordinatorType`,
    /// `coordinatorKey`).
    fn find_request(&self) -> TxnRequest {
        match self {
            TxnRequest::TxnOffsetCommit(o) => TxnRequest::FindGroupCoordinator(o.group_id.clone()),
            _ => TxnRequest::FindCoordinator,
        }
    }
}

/// A queued request; `backoff_ms` for a retry, which waits that long once it is next
/// (`TxnRequestHandler.isRetry`: the sender sleeps before sending it).
#[derive(Clone, Debug)]
struct Queued {
    request: TxnRequest,
    backoff_ms: Option<u64>,
}

/// The transactional request out, at most one (`inFlightRequestCorrelationId`).
#[derive(Clone, Debug)]
struct TxnInFlight {
    correlation_id: u64,
    broker: BrokerId,
    request: TxnRequest,
}

/// A coordinator's answer to one of the transactional requests.
pub(super) enum TxnAnswer {
    FindCoordinator(FindCoordinatorResponse),
    InitProducerId(InitProducerIdResponse),
    AddPartitions(AddPartitionsToTxnResponse),
    EndTxn(EndTxnResponse),
    AddOffsets(AddOffsetsToTxnResponse),
    TxnOffsetCommit(TxnOffsetCommitResponse),
}

impl TxnAnswer {
    fn correlation_id(&self) -> u64 {
        match self {
            TxnAnswer::FindCoordinator(r) => r.correlation_id,
            TxnAnswer::InitProducerId(r) => r.correlation_id,
            TxnAnswer::AddPartitions(r) => r.correlation_id,
            TxnAnswer::EndTxn(r) => r.correlation_id,
            TxnAnswer::AddOffsets(r) => r.correlation_id,
            TxnAnswer::TxnOffsetCommit(r) => r.correlation_id,
        }
    }
}

/// A transactional producer's side of its transactions: `TransactionManager`'s state, the
/// coordinator and the request queue, and the application that drives them.
pub(super) struct Transactional {
    pub(super) transactional_id: String,
    pub(super) manager: TransactionManager,
    coordinator: Option<BrokerId>,
    /// The coordinator of the group whose offsets the transaction commits.
    group_coordinator: Option<BrokerId>,
    queue: Vec<Queued>,
    in_flight: Option<TxnInFlight>,
    /// A retry waits until then.
    retry_at_ms: Option<u64>,
    /// Which bootstrap broker the next FindCoordinator goes to (Kafka: the least loaded node).
    find_attempts: usize,
    pub(super) app: Application,
}

impl Transactional {
    pub(super) fn new(transactional_id: String, workload: TransactionWorkload) -> Transactional {
        Transactional {
            transactional_id,
            manager: TransactionManager::default(),
            coordinator: None,
            group_coordinator: None,
            queue: Vec::new(),
            in_flight: None,
            retry_at_ms: None,
            find_attempts: 0,
            app: Application::new(workload),
        }
    }

    /// The transaction version the current transaction's requests stand for.
    fn request_version(&self) -> TransactionVersion {
        match self.manager.is_transaction_v2() {
            true => TransactionVersion::V2,
            false => CLASSIC_TRANSACTION_VERSION,
        }
    }

    /// `enqueueRequest`: into the queue by priority, behind those of the same priority. A
    /// FindCoordinator already queued is not queued twice.
    pub(super) fn enqueue(&mut self, request: TxnRequest, backoff_ms: Option<u64>) {
        if request.is_find_coordinator() && self.queue.iter().any(|q| q.request == request) {
            return;
        }
        let at = self
            .queue
            .partition_point(|q| q.request.priority() <= request.priority());
        self.queue.insert(
            at,
            Queued {
                request,
                backoff_ms,
            },
        );
    }

    /// `beginCompletingTransaction`: EndTxn is queued; an abort replaces a commit that was
    /// waiting (the commit threw to the application).
    pub(super) fn begin_end(&mut self, committed: bool) {
        if !committed {
            self.queue
                .retain(|q| q.request != TxnRequest::EndTxn { committed: true });
        }
        self.enqueue(TxnRequest::EndTxn { committed }, None);
    }

    /// `lookupCoordinator`: forget the coordinator `request` goes to and find it again first.
    fn lookup_coordinator(&mut self, request: &TxnRequest) {
        let find = request.find_request();
        match find {
            TxnRequest::FindGroupCoordinator(_) => self.group_coordinator = None,
            _ => self.coordinator = None,
        }
        self.enqueue(find, None);
    }

    /// `TxnRequestHandler.reenqueue` (and `maybeFindCoordinatorAndRetry`): the request goes
    /// back into the queue as a retry, after looking for its coordinator again if asked.
    fn retry(&mut self, request: TxnRequest, find_coordinator: bool, backoff_ms: u64) {
        if find_coordinator {
            self.lookup_coordinator(&request);
        }
        self.enqueue(request, Some(backoff_ms));
    }
}

/// What the transactional step left the sender to do (`maybeSendAndPollTransactionalRequest`'s
/// return value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TxnStep {
    /// No transactional request to send now: produce requests may go out.
    Idle,
    /// A transactional request is out or waits for its backoff: produce requests wait too.
    Busy,
}

impl Producer {
    pub(super) fn txn(&self) -> &Transactional {
        self.txn.as_ref().expect("a transactional producer")
    }

    /// The `transactionalId` a produce request carries (`ProduceRequest.Builder
    /// .forCurrentMagic` with the `TransactionManager`'s id): null without transactions.
    pub(super) fn produce_transactional_id(&self) -> Option<String> {
        self.txn.as_ref().map(|t| t.transactional_id.clone())
    }

    /// The transaction version of the requests of the current transaction: 2 when it runs
    /// on transaction version 2 (Kafka 4.0's `Sender` builds Produce at version 12 or later
    /// then, `ProduceRequest.builder(..., useTransactionV1Version)`), else the classic one.
    pub(super) fn produce_transaction_version(&self) -> TransactionVersion {
        self.txn
            .as_ref()
            .map_or(CLASSIC_TRANSACTION_VERSION, |t| t.request_version())
    }

    /// The `transaction.version` the cluster finalized, as the producer learns it.
    ///
    /// Kafka 4.0's client reads it from the finalized features of the brokers' ApiVersions
    /// answers (`ApiVersions.finalizedFeatures`, `TransactionManager
    /// .isTransactionV2Enabled`). The model has no ApiVersions exchange: the level comes
    /// from the scenario's cluster (`[cluster] features`, else its release's default) when
    /// the producer process starts, and a client of a release before 4.0 ignores it, as a
    /// 3.x client knows nothing of the feature. A level changed while the producer runs is
    /// not modelled (none can be: the model has no feature upgrade).
    pub fn with_transaction_version(mut self, level: i16) -> Producer {
        if let Some(t) = self.txn.as_mut() {
            t.manager
                .set_finalized_transaction_version(TransactionVersion::of_level(level));
        }
        self
    }

    pub(super) fn txn_mut(&mut self) -> &mut Transactional {
        self.txn.as_mut().expect("a transactional producer")
    }

    /// Whether a fatal error closed the transactional producer.
    pub(super) fn is_stopped(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.app.is_stopped())
    }

    /// The producer id and epoch of the transactional producer.
    pub(super) fn producer_id_and_epoch(&self) -> (i64, i16) {
        self.idempotence
            .as_ref()
            .and_then(|i| i.producer_id_and_epoch())
            .unwrap_or((-1, -1))
    }

    /// Kafka's `hasIncomplete`: a batch waits or is in flight.
    fn has_incomplete_batches(&self) -> bool {
        !self.accumulator.is_empty() || !self.in_flight.is_empty()
    }

    /// `KafkaProducer.initTransactions()`: InitProducerId with the transactional id, to the
    /// coordinator found first (`TransactionManager.initializeTransactions`).
    pub(super) fn init_transactions(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) {
        let t = self.txn_mut();
        t.manager
            .init_transactions()
            .expect("initTransactions is the first call");
        t.enqueue(TxnRequest::InitProducerId { bump: false }, None);
        self.drain(now_ms, out);
    }

    /// `Sender.maybeSendAndPollTransactionalRequest`, run before produce requests are sent.
    pub(super) fn txn_step(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) -> TxnStep {
        let Some(t) = self.txn.as_mut() else {
            return TxnStep::Idle;
        };
        if t.in_flight.is_some() {
            return TxnStep::Busy;
        }
        if let Some(at) = t.retry_at_ms {
            if at > now_ms {
                return TxnStep::Busy;
            }
            t.retry_at_ms = None;
        }
        if matches!(
            t.manager.state(),
            TxnState::AbortableError | TxnState::AbortingTransaction
        ) {
            self.abort_undrained_batches(out);
        }
        let was_ending = self.is_ending();
        let next = self.next_request(out);
        if was_ending && !self.is_ending() && !self.is_stopped() {
            // A transaction that never started ended without a request: the application's
            // commit or abort returned, and it goes on with its next transaction now, as it
            // does after an EndTxn answer.
            self.application_step(now_ms, out);
            if next.is_none() {
                return self.txn_step(now_ms, out);
            }
        }
        let Some(request) = next else {
            return TxnStep::Idle;
        };
        self.send_txn_request(now_ms, request, out)
    }

    /// `TransactionManager.nextRequest`: new partitions are asked for first; an EndTxn waits
    /// until every batch is resolved, and one for a transaction that never started completes
    /// at once; a request of an aborted-to-be transaction fails (`maybeTerminateRequestWithError`).
    fn next_request(&mut self, out: &mut Output<ProducerTimer>) -> Option<Queued> {
        loop {
            let incomplete = self.has_incomplete_batches();
            let t = self.txn_mut();
            let partitions = t.manager.take_partitions_to_add();
            if !partitions.is_empty() {
                t.enqueue(TxnRequest::AddPartitions(partitions), None);
            }
            let next = t.queue.first()?;
            if matches!(next.request, TxnRequest::EndTxn { .. }) && incomplete {
                return None;
            }
            let next = t.queue.remove(0);
            if t.manager.state() == TxnState::AbortableError && !next.request.is_find_coordinator()
            {
                // `maybeTerminateRequestWithError`: a commit waiting for it throws.
                if next.request == (TxnRequest::EndTxn { committed: true }) {
                    self.on_commit_failed();
                }
                continue;
            }
            if matches!(next.request, TxnRequest::EndTxn { .. }) && !t.manager.transaction_started()
            {
                t.manager.end_without_request();
                self.on_transaction_completed(out);
                continue;
            }
            return Some(next);
        }
    }

    /// Sends `queued` (or first waits out its backoff, or first finds the coordinator).
    fn send_txn_request(
        &mut self,
        now_ms: u64,
        mut queued: Queued,
        out: &mut Output<ProducerTimer>,
    ) -> TxnStep {
        if let Some(backoff_ms) = queued.backoff_ms.take() {
            let t = self.txn_mut();
            t.queue.insert(0, queued);
            t.retry_at_ms = Some(now_ms + backoff_ms.max(1));
            out.timer(backoff_ms.max(1), ProducerTimer::TxnRetry);
            return TxnStep::Busy;
        }
        let target = match &queued.request {
            TxnRequest::TxnOffsetCommit(_) => self.txn().group_coordinator,
            r if r.needs_coordinator() => self.txn().coordinator,
            _ => {
                let attempt = self.txn().find_attempts;
                self.txn_mut().find_attempts += 1;
                Some(self.bootstrap[attempt % self.bootstrap.len()])
            }
        };
        let Some(broker) = target else {
            // `maybeFindCoordinatorAndRetry`.
            let backoff_ms = self.config.retry_backoff_ms;
            self.txn_mut().retry(queued.request, true, backoff_ms);
            return self.txn_step(now_ms, out);
        };
        let correlation_id = self.correlation_ids.next_id();
        let message = self.txn_message(correlation_id, &queued.request);
        out.send(NodeId::Broker(broker), message);
        out.timer(
            self.config.request_timeout_ms,
            ProducerTimer::TxnRequestTimeout { correlation_id },
        );
        self.txn_mut().in_flight = Some(TxnInFlight {
            correlation_id,
            broker,
            request: queued.request,
        });
        TxnStep::Busy
    }

    /// The request as it goes on the wire, with the producer's current id and epoch.
    fn txn_message(&self, correlation_id: u64, request: &TxnRequest) -> Message {
        let t = self.txn();
        let transactional_id = t.transactional_id.clone();
        let (producer_id, producer_epoch) = self.producer_id_and_epoch();
        match request {
            TxnRequest::FindCoordinator => Message::FindCoordinator(FindCoordinatorRequest {
                correlation_id,
                key_type: CoordinatorType::Transaction,
                key: transactional_id,
            }),
            TxnRequest::InitProducerId { bump } => {
                let (producer_id, producer_epoch) = match bump {
                    true => (producer_id, producer_epoch),
                    false => (-1, -1),
                };
                Message::InitProducerId(InitProducerIdRequest {
                    correlation_id,
                    transactional_id: Some(transactional_id),
                    transaction_timeout_ms: self.config.transaction_timeout_ms,
                    producer_id,
                    producer_epoch,
                })
            }
            TxnRequest::AddPartitions(partitions) => {
                Message::AddPartitionsToTxn(AddPartitionsToTxnRequest {
                    correlation_id,
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions: partitions.clone(),
                    verify_only: false,
                    transaction_version: t.request_version(),
                })
            }
            TxnRequest::EndTxn { committed } => Message::EndTxn(EndTxnRequest {
                correlation_id,
                transactional_id,
                producer_id,
                producer_epoch,
                committed: *committed,
                transaction_version: t.request_version(),
                for_transaction: t.app.open_number(),
            }),
            TxnRequest::FindGroupCoordinator(group_id) => {
                Message::FindCoordinator(FindCoordinatorRequest {
                    correlation_id,
                    key_type: CoordinatorType::Group,
                    key: group_id.clone(),
                })
            }
            TxnRequest::AddOffsets(o) => Message::AddOffsetsToTxn(AddOffsetsToTxnRequest {
                correlation_id,
                transactional_id,
                producer_id,
                producer_epoch,
                group_id: o.group_id.clone(),
            }),
            TxnRequest::TxnOffsetCommit(o) => Message::TxnOffsetCommit(TxnOffsetCommitRequest {
                correlation_id,
                transactional_id,
                group_id: o.group_id.clone(),
                producer_id,
                producer_epoch,
                generation_id: o.generation_id,
                member_id: o.member_id.clone(),
                group_instance_id: None,
                offsets: o.offsets.clone(),
            }),
        }
    }

    /// An answer from the coordinator (or the broker a FindCoordinator went to).
    pub(super) fn on_txn_response(
        &mut self,
        now_ms: u64,
        answer: TxnAnswer,
        out: &mut Output<ProducerTimer>,
    ) {
        let t = self.txn_mut();
        if t.in_flight.as_ref().map(|f| f.correlation_id) != Some(answer.correlation_id()) {
            return; // a late answer to a request given up on
        }
        let request = t.in_flight.take().expect("checked").request;
        match answer {
            TxnAnswer::FindCoordinator(r) => self.on_find_coordinator(r, request, out),
            TxnAnswer::InitProducerId(r) => self.on_txn_init_producer_id(r, request, out),
            TxnAnswer::AddPartitions(r) => self.on_add_partitions(r, request, out),
            TxnAnswer::EndTxn(r) => self.on_end_txn(r, request, out),
            TxnAnswer::AddOffsets(r) => self.on_add_offsets(r, request, out),
            TxnAnswer::TxnOffsetCommit(r) => self.on_txn_offset_commit(r, request, out),
        }
        if !self.is_stopped() {
            self.application_step(now_ms, out);
            self.drain(now_ms, out);
        }
    }

    /// `FindCoordinatorHandler.handleResponse`: the coordinator, or a retriable error to
    /// try again after the backoff; any other error is fatal.
    fn on_find_coordinator(
        &mut self,
        response: FindCoordinatorResponse,
        request: TxnRequest,
        out: &mut Output<ProducerTimer>,
    ) {
        if let (ErrorCode::None, Some(coordinator)) = (response.error, response.coordinator) {
            let t = self.txn_mut();
            match request {
                TxnRequest::FindGroupCoordinator(_) => t.group_coordinator = Some(coordinator),
                _ => t.coordinator = Some(coordinator),
            }
            return;
        }
        // No coordinator without an error: none is known yet, as COORDINATOR_NOT_AVAILABLE.
        let error = match response.error {
            ErrorCode::None => ErrorCode::CoordinatorNotAvailable,
            error => error,
        };
        let next = self.txn_mut().manager.on_find_coordinator_error(error);
        self.follow(next, request, out);
    }

    /// `InitProducerIdHandler.handleResponse`: the producer id and epoch, a retry, or the end.
    fn on_txn_init_producer_id(
        &mut self,
        response: InitProducerIdResponse,
        request: TxnRequest,
        out: &mut Output<ProducerTimer>,
    ) {
        let next = self.txn_mut().manager.on_init_producer_id(response.error);
        if next != Next::Done {
            self.follow(next, request, out);
            return;
        }
        let TxnRequest::InitProducerId { bump } = request else {
            unreachable!("answered as sent");
        };
        let idempotence = self
            .idempotence
            .as_mut()
            .expect("transactional is idempotent");
        match bump {
            true => idempotence.reset_producer_id(response.producer_id, response.producer_epoch),
            false => idempotence.set_producer_id(response.producer_id, response.producer_epoch),
        }
        out.event(Event::TransactionsInitialized {
            producer: self.index,
            transactional_id: self.txn().transactional_id.clone(),
            producer_id: response.producer_id,
            producer_epoch: response.producer_epoch,
            epoch_bump: bump,
        });
    }

    /// `AddPartitionsToTxnHandler.handleResponse`: the partitions are added (their batches
    /// may go), or asked for again, or the transaction must be aborted.
    fn on_add_partitions(
        &mut self,
        response: AddPartitionsToTxnResponse,
        request: TxnRequest,
        out: &mut Output<ProducerTimer>,
    ) {
        let t = self.txn_mut();
        let first_of_transaction = !t.manager.transaction_started();
        let concurrent = response
            .results
            .iter()
            .any(|(_, e)| *e == ErrorCode::ConcurrentTransactions);
        let next = t.manager.on_add_partitions(&response.results);
        if concurrent && first_of_transaction {
            if let Next::Retry { find_coordinator } = next {
                let backoff_ms = self
                    .config
                    .retry_backoff_ms
                    .min(ADD_PARTITIONS_RETRY_BACKOFF_MS);
                self.txn_mut().retry(request, find_coordinator, backoff_ms);
                return;
            }
        }
        self.follow(next, request, out);
    }

    /// `EndTxnHandler.handleResponse`: the transaction is over, or the EndTxn is sent again.
    fn on_end_txn(
        &mut self,
        response: EndTxnResponse,
        request: TxnRequest,
        out: &mut Output<ProducerTimer>,
    ) {
        let t = self.txn_mut();
        let bumped = t.manager.is_transaction_v2() && response.error == ErrorCode::None;
        let next = t.manager.on_end_txn(response.error);
        if bumped && response.producer_id >= 0 && response.producer_epoch >= 0 {
            // Kafka 4.0's `EndTxnHandler.handleResponse` under transaction version 2: the
            // coordinator bumped the epoch at the end (or gave a new producer id when the
            // epoch ran out), and the next transaction runs with what it answered, its
            // sequences from 0 again (`resetSequenceNumbers` via `setProducerIdAndEpoch`).
            let idempotence = self
                .idempotence
                .as_mut()
                .expect("transactional is idempotent");
            idempotence.reset_producer_id(response.producer_id, response.producer_epoch);
        }
        match next {
            Next::Done => self.on_transaction_completed(out),
            // An abort that hears UNKNOWN_PRODUCER_ID or INVALID_PRODUCER_ID_MAPPING stays an
            // abort (`transitionToAbortableError` while aborting): it is tried again.
            Next::Abortable(_) if matches!(request, TxnRequest::EndTxn { committed: false }) => {
                let backoff_ms = self.config.retry_backoff_ms;
                self.txn_mut().retry(request, false, backoff_ms);
            }
            next => self.follow(next, request, out),
        }
    }

    /// `AddOffsetsToTxnHandler.handleResponse`: the TxnOffsetCommit follows, to the group
    /// coordinator.
    fn on_add_offsets(
        &mut self,
        response: AddOffsetsToTxnResponse,
        request: TxnRequest,
        out: &mut Output<ProducerTimer>,
    ) {
        let next = self.txn_mut().manager.on_add_offsets(response.error);
        let TxnRequest::AddOffsets(offsets) = &request else {
            unreachable!("answered as sent");
        };
        if next == Next::Done {
            let commit = TxnRequest::TxnOffsetCommit(offsets.clone());
            self.txn_mut().enqueue(commit, None);
            return;
        }
        self.follow(next, request, out);
    }

    /// `TxnOffsetCommitHandler.handleResponse`: done when every partition is in; the ones
    /// that failed retriably are sent again.
    fn on_txn_offset_commit(
        &mut self,
        response: TxnOffsetCommitResponse,
        request: TxnRequest,
        out: &mut Output<ProducerTimer>,
    ) {
        let TxnRequest::TxnOffsetCommit(mut offsets) = request else {
            unreachable!("answered as sent");
        };
        let (next, again) = self
            .txn_mut()
            .manager
            .on_txn_offset_commit(&response.results);
        match next {
            Next::Done => self.on_offsets_sent(),
            Next::Retry { .. } => {
                offsets.offsets.retain(|(tp, _)| again.contains(tp));
                self.follow(next, TxnRequest::TxnOffsetCommit(offsets), out);
            }
            next => self.follow(next, TxnRequest::TxnOffsetCommit(offsets), out),
        }
    }

    /// What a handler's verdict asks for: nothing more, a retry, an abort the application
    /// learns of when it next calls the producer, or the end.
    fn follow(&mut self, next: Next, request: TxnRequest, out: &mut Output<ProducerTimer>) {
        let backoff_ms = self.config.retry_backoff_ms;
        match next {
            Next::Done | Next::Abortable(_) => {}
            Next::Retry { find_coordinator } => {
                self.txn_mut().retry(request, find_coordinator, backoff_ms)
            }
            Next::Fatal(error) => self.on_fatal(error, out),
        }
    }

    /// The transaction ended (EndTxn answered NONE, or there was nothing to end): the
    /// application's commit or abort returns; a required epoch bump asks InitProducerId next.
    fn on_transaction_completed(&mut self, out: &mut Output<ProducerTimer>) {
        self.on_transaction_ended(out);
        let t = self.txn_mut();
        if t.manager.state() == TxnState::Initializing {
            t.enqueue(TxnRequest::InitProducerId { bump: true }, None);
        }
    }

    /// The transactional request in flight got no answer within `request.timeout.ms`: its
    /// connection closes (failing the produce requests on it too, as `NetworkClient` does)
    /// and the request is retried after looking for the coordinator again.
    pub(super) fn on_txn_request_timeout(
        &mut self,
        now_ms: u64,
        correlation_id: u64,
        out: &mut Output<ProducerTimer>,
    ) {
        let (broker, api) = match self.txn.as_ref().and_then(|t| t.in_flight.as_ref()) {
            Some(f) if f.correlation_id == correlation_id => (f.broker, f.request.api_name()),
            _ => return,
        };
        out.event(Event::TxnRequestTimedOut {
            producer: self.index,
            transactional_id: self.txn().transactional_id.clone(),
            broker,
            api: api.to_string(),
            transaction: self.txn().app.open_number(),
        });
        self.close_connection(now_ms, broker, ErrorCode::RequestTimedOut, out);
    }

    /// The connection to `broker` closed: a transactional request out on it is retried, after
    /// looking for the coordinator again (`TxnRequestHandler.onComplete`, `wasDisconnected`).
    pub(super) fn txn_connection_closed(&mut self, broker: BrokerId) {
        let backoff_ms = self.config.retry_backoff_ms;
        let Some(t) = self.txn.as_mut() else {
            return;
        };
        if t.in_flight.as_ref().is_none_or(|f| f.broker != broker) {
            return;
        }
        let request = t.in_flight.take().expect("checked").request;
        let find = request.needs_coordinator();
        t.retry(request, find, backoff_ms);
    }

    /// `RecordAccumulator.abortUndrainedBatches`: a transaction being aborted drops the
    /// batches it never sent; their records fail with the abortable error, or
    /// TRANSACTION_ABORTED when the application chose to abort.
    fn abort_undrained_batches(&mut self, out: &mut Output<ProducerTimer>) {
        let error = self
            .txn()
            .manager
            .last_error()
            .unwrap_or(ErrorCode::TransactionAborted);
        for (partition, batch) in self.accumulator.take_undrained() {
            self.report_failed(partition, batch, error, out);
        }
    }

    /// A fatal error: the application closes the producer. Every batch still waiting or in
    /// flight fails with the error (`Sender.maybeAbortBatches`), and nothing more is sent.
    fn on_fatal(&mut self, error: ErrorCode, out: &mut Output<ProducerTimer>) {
        let (producer_id, producer_epoch) = self.producer_id_and_epoch();
        let t = self.txn_mut();
        let transaction = t.app.stop();
        t.queue.clear();
        t.in_flight = None;
        out.event(Event::TransactionalProducerFailed {
            producer: self.index,
            transactional_id: self.txn().transactional_id.clone(),
            producer_id,
            producer_epoch,
            transaction,
            error,
        });
        let mut batches = self.accumulator.take_all();
        for (_, flight) in std::mem::take(&mut self.in_flight) {
            batches.extend(flight.batches);
        }
        for (partition, batch) in batches {
            self.report_failed(partition, batch, error, out);
        }
    }

    /// A batch of the transaction failed for good: the transaction must be aborted, or the
    /// producer is closed (`TransactionManager.handleFailedBatch`).
    pub(super) fn txn_batch_failed(&mut self, error: ErrorCode, out: &mut Output<ProducerTimer>) {
        let Some(t) = self.txn.as_mut() else {
            return;
        };
        if let Next::Fatal(error) = t.manager.on_batch_failed(error) {
            self.on_fatal(error, out);
        }
    }
}
