//! Domain events: what the Kafka processes report about themselves as they run.
//!
//! The simulator records every event with its simulated time. The checkers, the narration,
//! the JSON outcome and the trace hash are all computed from that one record, so an event
//! must carry everything needed to judge it on its own: which replica, which leader epoch,
//! which offsets and which record ids.

use crate::log::retention::RetentionRule;
use crate::log::segment::RollReason;
use crate::types::*;
use serde::Serialize;

/// Why a replica cut the end off its log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum TruncateReason {
    /// Pre-KIP-101: a replica that becomes a follower truncates to its own high watermark.
    HighWatermark { high_watermark: u64 },
    /// KIP-101 and later: the leader said where the follower's last epoch ends.
    LeaderEpoch {
        epoch: LeaderEpoch,
        leader_end_offset: u64,
    },
    /// The leader's log is shorter than the follower's fetch offset (out of range).
    OffsetOutOfRange { leader_log_end_offset: u64 },
    /// A power loss took everything past the last flush and past what the OS had written
    /// back on its own; the log ends at the larger of the two.
    PowerLoss {
        flushed_offset: u64,
        written_back_offset: u64,
    },
}

/// What a consumer's `poll()` threw to an application that does not catch it
/// (`auto.offset.reset = none`: Kafka raises instead of resetting).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ConsumerException {
    /// Kafka's `LogTruncationException`: the leader's log diverged below the position
    /// (`SubscriptionState.maybeCompleteValidation`). `divergent_offset` is where the epoch
    /// of the last record read ends on the leader; `None` when the leader did not know that
    /// epoch (an UNDEFINED answer).
    LogTruncation {
        tp: TopicPartition,
        position: u64,
        divergent_offset: Option<u64>,
    },
    /// Kafka's `OffsetOutOfRangeException`: the leader answered OFFSET_OUT_OF_RANGE for the
    /// position (`FetchCollector.handleInitializeErrors` / `handleOffsetOutOfRange`).
    OffsetOutOfRange { tp: TopicPartition, position: u64 },
    /// Kafka's `NoOffsetForPartitionException`: the partition has no position and no
    /// committed offset (`SubscriptionState.resetInitializingPositions`).
    NoOffsetForPartition { tp: TopicPartition },
}

impl ConsumerException {
    /// The partition the exception is about.
    pub fn tp(&self) -> &TopicPartition {
        match self {
            ConsumerException::LogTruncation { tp, .. }
            | ConsumerException::OffsetOutOfRange { tp, .. }
            | ConsumerException::NoOffsetForPartition { tp } => tp,
        }
    }

    /// The first offset known to diverge, for a `LogTruncationException` that has one.
    pub fn divergent_offset(&self) -> Option<u64> {
        match self {
            ConsumerException::LogTruncation {
                divergent_offset, ..
            } => *divergent_offset,
            _ => None,
        }
    }
}

/// Why the controller ran a leader election.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ElectionReason {
    /// A new partition gets its first leader.
    NewPartition,
    /// The leader's broker went away (its ZooKeeper session expired).
    LeaderFailed,
    /// A new controller found a partition with no live leader.
    ControllerFailover,
    /// A replica of an offline partition came back.
    BrokerReturned,
    /// The controller moved leadership back to the preferred replica, the first of the
    /// assignment (`auto.leader.rebalance.enable`'s leader-imbalance check).
    PreferredReplica,
    /// An operator asked for the preferred replica (`kafka-leader-election.sh
    /// --election-type PREFERRED`, an ElectLeaders request).
    AdminPreferred,
    /// The leader is shutting down cleanly and asked the controller to move its leaderships
    /// (`ControlledShutdownPartitionLeaderElectionStrategy`).
    ControlledShutdown,
    /// KRaft with ELR: the ISR and the ELR are both empty, and the controller elects the
    /// last known leader (KIP-966's balanced recovery, `PartitionChangeBuilder`'s
    /// `canElectLastKnownLeader`), marking the partition RECOVERING. Until KAFKA-19522 it did
    /// so even when that broker was fenced or back from an unclean shutdown.
    LastKnownLeader,
    /// KRaft: the leader registered a new incarnation without a clean shutdown, and the
    /// controller took it out of the ISR in the same batch (`ReplicationControlManager
    /// .handleBrokerUncleanShutdown`): it may have lost unflushed records.
    UncleanRestart,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Event {
    // ---- ZooKeeper and controller ----
    /// A broker's ZooKeeper session began and it registered under `/brokers/ids`.
    BrokerRegistered { broker: BrokerId, session_id: u64 },
    /// ZooKeeper expired a session: nothing was heard from its owner for the session timeout.
    ZkSessionExpired {
        node: NodeId,
        session_id: u64,
        timeout_ms: u64,
    },
    /// The controller answered an admin tool's ElectLeaders request: per partition, NONE
    /// (it elected), ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE or
    /// UNKNOWN_TOPIC_OR_PARTITION.
    LeaderElectionRequested {
        controller: BrokerId,
        election_type: crate::protocol::ElectionType,
        results: Vec<(TopicPartition, ErrorCode)>,
    },
    /// A broker won the race for `/controller`.
    ControllerElected {
        broker: BrokerId,
        controller_epoch: i32,
    },
    /// A broker rejected a request from an old controller.
    StaleControllerRequestRejected {
        broker: BrokerId,
        request_controller_epoch: i32,
        current_controller_epoch: i32,
    },
    /// The controller wrote a new leader for a partition (or found none: `leader == None`).
    LeaderElected {
        tp: TopicPartition,
        leader: Option<BrokerId>,
        previous_leader: Option<BrokerId>,
        leader_epoch: LeaderEpoch,
        isr: Vec<BrokerId>,
        /// The leader came from outside the ISR: `unclean.leader.election.enable` at work.
        unclean: bool,
        reason: ElectionReason,
        controller_epoch: i32,
    },
    /// No replica could be elected: the partition is offline.
    PartitionOffline {
        tp: TopicPartition,
        isr: Vec<BrokerId>,
        live_replicas: Vec<BrokerId>,
    },

    // ---- replicas ----
    /// A broker started acting as leader of a partition in an epoch.
    BecameLeader {
        broker: BrokerId,
        tp: TopicPartition,
        leader_epoch: LeaderEpoch,
        log_end_offset: u64,
        high_watermark: u64,
        isr: Vec<BrokerId>,
    },
    /// A broker started following a leader.
    BecameFollower {
        broker: BrokerId,
        tp: TopicPartition,
        leader: Option<BrokerId>,
        leader_epoch: LeaderEpoch,
        log_end_offset: u64,
    },
    /// Records were appended to a replica's log (by the leader from a producer, or by a
    /// follower from a fetch).
    Appended {
        broker: BrokerId,
        tp: TopicPartition,
        as_leader: bool,
        /// `(offset, record id, record leader epoch)`, in offset order.
        records: Vec<(u64, RecordId, LeaderEpoch)>,
        log_end_offset: u64,
        /// The transaction markers (control batches) of the append, in offset order: they
        /// take offsets but hold no record, so `records` does not show them.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        markers: Vec<AppendedMarker>,
    },
    /// A replica cut its log back to `to_offset` (its new log end offset).
    Truncated {
        broker: BrokerId,
        tp: TopicPartition,
        from_log_end_offset: u64,
        to_offset: u64,
        reason: TruncateReason,
    },
    /// A replica's high watermark changed.
    HighWatermarkChanged {
        broker: BrokerId,
        tp: TopicPartition,
        is_leader: bool,
        leader_epoch: LeaderEpoch,
        old: u64,
        new: u64,
        log_end_offset: u64,
    },
    /// The controller accepted a leader's ISR shrink.
    IsrShrunk {
        tp: TopicPartition,
        leader: BrokerId,
        leader_epoch: LeaderEpoch,
        removed: Vec<BrokerId>,
        isr: Vec<BrokerId>,
        /// How long the slowest removed follower had not been caught up.
        lag_ms: u64,
        lag_time_max_ms: u64,
    },
    /// The controller accepted a leader's ISR expansion.
    IsrExpanded {
        tp: TopicPartition,
        leader: BrokerId,
        leader_epoch: LeaderEpoch,
        added: Vec<BrokerId>,
        isr: Vec<BrokerId>,
    },
    /// The controller took a replica whose broker died out of a partition's ISR (a new
    /// leader epoch; the same leader, or none if the dead replica led). `removed` is empty
    /// when the dead replica was the ISR's last member, which Kafka keeps.
    ControllerShrunkIsr {
        tp: TopicPartition,
        /// `None` when the removed replica led: the partition has no leader now.
        leader: Option<BrokerId>,
        leader_epoch: LeaderEpoch,
        removed: Vec<BrokerId>,
        isr: Vec<BrokerId>,
        /// The removed replica's broker is in a controlled shutdown, not dead.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        shutting_down: bool,
    },
    /// The controller (or the partition state's version) refused an ISR change.
    IsrChangeRejected {
        tp: TopicPartition,
        leader: BrokerId,
        error: ErrorCode,
    },
    /// Before KIP-497: a leader's conditional write of its ISR to the partition's state znode
    /// failed, because the znode moved past the version the leader holds (Kafka logs "Cached
    /// zkVersion not equal to that in zookeeper, skip updating ISR").
    IsrWriteConflict {
        tp: TopicPartition,
        leader: BrokerId,
        /// The state znode version the leader wrote against.
        cached_zk_version: i32,
        /// 2.7 and later: the change stays pending until a LeaderAndIsr brings the new state.
        /// Before: the ISR stays as it was and the next check tries again.
        awaits_leader_and_isr: bool,
    },
    /// Before KIP-497: a leader told the controller which partitions' ISRs it changed, with a
    /// sequential `/isr_change_notification` znode (Kafka's `maybePropagateIsrChanges`).
    IsrChangesPropagated {
        broker: BrokerId,
        partitions: Vec<TopicPartition>,
    },
    /// A broker wrote its logs to disk up to these offsets (an fsync).
    Flushed {
        broker: BrokerId,
        tp: TopicPartition,
        offset: u64,
    },
    /// After an unclean shutdown, a starting broker reads its logs again from their recovery
    /// points (Kafka's `LogLoader.recoverLog`) before it registers.
    LogRecovery {
        broker: BrokerId,
        /// The bytes past the recovery points, summed over the broker's logs.
        bytes: u64,
        /// How long that takes, in simulated time (see `LOG_RECOVERY_BYTES_PER_SEC`).
        recovery_ms: u64,
    },
    /// A broker started from what its disk kept.
    BrokerRecovered {
        broker: BrokerId,
        /// `(partition, log end offset, high-watermark checkpoint)` per replica.
        replicas: Vec<(TopicPartition, u64, u64)>,
    },

    // ---- produce ----
    /// A producer handed a record to its client library.
    RecordSent {
        producer: u32,
        id: RecordId,
        tp: TopicPartition,
        /// A transactional producer's transaction the record was sent in.
        #[serde(skip_serializing_if = "Option::is_none")]
        transaction: Option<TransactionRef>,
        /// A processor's output record: the input record it was made from.
        #[serde(skip_serializing_if = "Option::is_none")]
        input: Option<RecordId>,
    },
    /// The leader rejected or failed a produce request.
    ProduceRejected {
        broker: BrokerId,
        tp: TopicPartition,
        error: ErrorCode,
        records: u32,
        /// Refused before the append by the leader's KIP-890 verification: `error` is what
        /// the transaction coordinator's answer became for the producer (a busy or
        /// unreachable coordinator is NOT_ENOUGH_REPLICAS, which every client retries).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        verification: bool,
    },
    /// The leader recognised a retried batch of an idempotent producer it had already
    /// written, and answered with its original offset instead of writing it again.
    DuplicateBatch {
        broker: BrokerId,
        tp: TopicPartition,
        producer_id: i64,
        first_sequence: i32,
        base_offset: u64,
        records: u32,
    },
    /// The producer got a positive acknowledgement for these records. A transactional
    /// producer's records are written, not yet committed: they count once their transaction's
    /// commit is acknowledged (`TransactionCommitted`).
    Acknowledged {
        producer: u32,
        tp: TopicPartition,
        acks: Acks,
        base_offset: u64,
        ids: Vec<RecordId>,
        /// A transactional producer's transaction the records were sent in.
        #[serde(skip_serializing_if = "Option::is_none")]
        transaction: Option<TransactionRef>,
    },
    /// The producer gave up on these records (non-retriable error or `delivery.timeout.ms`),
    /// or a transactional producer dropped them unsent because their transaction is aborted
    /// (TRANSACTION_ABORTED).
    ProduceFailed {
        producer: u32,
        tp: TopicPartition,
        error: ErrorCode,
        ids: Vec<RecordId>,
        /// A transactional producer's transaction the records were sent in.
        #[serde(skip_serializing_if = "Option::is_none")]
        transaction: Option<TransactionRef>,
    },
    /// The producer will send these records again.
    ProduceRetried {
        producer: u32,
        tp: TopicPartition,
        error: ErrorCode,
        attempt: u32,
    },

    // ---- the transactional producer (KIP-98) ----
    /// A transactional producer's InitProducerId was answered: `initTransactions()` returned
    /// with this producer id and epoch (earlier instances of the transactional id are fenced),
    /// or, `epoch_bump`, the producer bumped its own epoch after an aborted transaction whose
    /// sequences it could no longer trust (KIP-360).
    TransactionsInitialized {
        producer: u32,
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        epoch_bump: bool,
    },
    /// The application called `beginTransaction()`.
    TransactionBegun {
        producer: u32,
        transactional_id: String,
        transaction: TransactionRef,
    },
    /// The application's `commitTransaction()` returned: the coordinator answered EndTxn
    /// (commit) with NONE, so every record sent in the transaction is to become visible to
    /// read_committed consumers. `records` were sent in it, to `partitions`.
    TransactionCommitted {
        producer: u32,
        transactional_id: String,
        transaction: TransactionRef,
        records: u64,
        partitions: Vec<TopicPartition>,
    },
    /// The application's `abortTransaction()` was acknowledged: the coordinator answered
    /// EndTxn (abort) with NONE, or no partition had been added so there was nothing to end
    /// there (`TransactionManager.nextRequest`). No record of it may be read committed.
    TransactionAborted {
        producer: u32,
        transactional_id: String,
        transaction: TransactionRef,
        records: u64,
        partitions: Vec<TopicPartition>,
        reason: AbortReason,
    },
    /// A transactional producer hit a fatal error (PRODUCER_FENCED: a newer instance of its
    /// transactional id took over, or the coordinator fenced it; INVALID_TXN_STATE, ...): the
    /// application closes it and it does nothing more. `transaction` is the one it was in.
    TransactionalProducerFailed {
        producer: u32,
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        transaction: Option<TransactionRef>,
        error: ErrorCode,
    },

    // ---- consume ----
    /// A consumer was handed records from a fetch response.
    Consumed {
        consumer: u32,
        tp: TopicPartition,
        /// The broker that served the fetch.
        served_by: BrokerId,
        /// The serving replica's high watermark in that response.
        high_watermark: u64,
        /// `(offset, record id)`, in offset order.
        records: Vec<(u64, RecordId)>,
    },
    /// A consumer found that the log it read from was truncated below its position (KIP-320:
    /// after a leader change it asks the new leader where its last fetched epoch ends).
    ConsumerTruncationDetected {
        consumer: u32,
        tp: TopicPartition,
        position: u64,
        leader_end_offset: u64,
        epoch: LeaderEpoch,
    },
    /// A consumer's `poll()` threw `exception` and the application, which does not catch it,
    /// died: the consumer does nothing more (no fetch, no heartbeat, no commit, no
    /// LeaveGroup), as a process whose main thread ended.
    ConsumerStopped {
        consumer: u32,
        exception: ConsumerException,
    },
    /// A consumer's position was reset by `auto.offset.reset`.
    OffsetReset {
        consumer: u32,
        tp: TopicPartition,
        from: Option<u64>,
        to: u64,
    },

    // ---- consumer groups: the coordinator's side ----
    /// A coordinator began reading a `__consumer_offsets` partition it now leads.
    GroupLoadStarted {
        broker: BrokerId,
        partition: u32,
        leader_epoch: LeaderEpoch,
    },
    /// The read finished: these groups, with their generations and committed offsets, are
    /// served from this broker now.
    GroupsLoaded {
        broker: BrokerId,
        partition: u32,
        groups: Vec<(String, i32)>,
        offsets: u32,
    },
    /// The broker stopped leading the partition and dropped its groups.
    GroupsUnloaded {
        broker: BrokerId,
        partition: u32,
        groups: Vec<String>,
    },

    // ---- transactions: the coordinator's side ----
    /// A transaction coordinator read a `__transaction_state` partition it now leads and
    /// answers for its ids: each id with its state (a Prepare state's markers are sent
    /// again).
    TxnCoordinatorLoaded {
        broker: BrokerId,
        partition: u32,
        coordinator_epoch: i32,
        transactions: Vec<(String, String)>,
    },
    /// The broker stopped leading the partition and dropped its ids.
    TxnCoordinatorUnloaded {
        broker: BrokerId,
        partition: u32,
        transactional_ids: Vec<String>,
    },
    /// A transactional id's new state is written to `__transaction_state` and taken: the
    /// state names of Kafka's `TransactionState` (Empty, Ongoing, PrepareCommit, ...).
    TxnStateWritten {
        broker: BrokerId,
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        from: String,
        to: String,
        partitions: Vec<TopicPartition>,
        /// A decision taken on a client's EndTxn: the number of the transaction the client
        /// sent that request for (`EndTxnRequest.for_transaction`, for the record only).
        #[serde(skip_serializing_if = "Option::is_none")]
        end_txn_for: Option<u64>,
    },
    /// A transactional producer's request to a coordinator got no answer within
    /// `request.timeout.ms`: it closes the connection and sends the request again on a new
    /// one, while the first may still be on its way (`TxnRequestHandler.onComplete`).
    TxnRequestTimedOut {
        producer: u32,
        transactional_id: String,
        broker: BrokerId,
        /// The request, as Kafka's `ApiKeys` names it ("EndTxn (commit)", ...).
        api: String,
        /// The transaction the application had open.
        #[serde(skip_serializing_if = "Option::is_none")]
        transaction: Option<u64>,
    },
    /// The coordinator refused a client's EndTxn because its epoch is not the id's current
    /// one (PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH): a fenced instance, or on
    /// transaction version 2 an EndTxn from before the last epoch bump.
    EndTxnRefused {
        broker: BrokerId,
        transactional_id: String,
        producer_id: i64,
        /// The epoch the request carried, and the id's current one.
        producer_epoch: i16,
        current_epoch: i16,
        error: ErrorCode,
        /// The transaction the client sent the request for (for the record only).
        #[serde(skip_serializing_if = "Option::is_none")]
        end_txn_for: Option<u64>,
    },
    /// An open transaction ran past its `transaction.timeout.ms`: the coordinator fences
    /// its producer at this epoch and aborts it.
    TxnTimedOut {
        broker: BrokerId,
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
    },
    /// The group entered PreparingRebalance: every member must join again.
    RebalanceStarted {
        broker: BrokerId,
        group: String,
        generation: i32,
        reason: String,
    },
    /// Every member joined (or timed out): a new generation with a leader and an assignor.
    GenerationStarted {
        broker: BrokerId,
        group: String,
        generation: i32,
        protocol: Option<String>,
        leader: Option<String>,
        members: Vec<String>,
    },
    /// The leader's assignment was written to `__consumer_offsets`; the group is Stable.
    GroupStable {
        broker: BrokerId,
        group: String,
        generation: i32,
        assignment: Vec<(String, Vec<TopicPartition>)>,
    },
    /// A member left the group: it asked to, or its session expired.
    MemberRemoved {
        broker: BrokerId,
        group: String,
        member: String,
        reason: String,
    },
    /// Committed offsets are durable in `__consumer_offsets` (the append met `acks=all`).
    OffsetsCommitted {
        broker: BrokerId,
        group: String,
        generation: i32,
        member: String,
        offsets: Vec<(TopicPartition, u64)>,
        /// Where the first of these records sits in the group's `__consumer_offsets`
        /// partition (the others follow it in order). A commit is what the log says, and
        /// the log's order, not the order coordinators report in, decides which is newest.
        log_offset: Option<u64>,
    },

    // ---- consumer groups: the member's side ----
    /// A member got its partitions for a generation (SyncGroup answered).
    PartitionsAssigned {
        consumer: u32,
        group: String,
        member: String,
        generation: i32,
        partitions: Vec<TopicPartition>,
    },
    /// A member gave partitions up before a rebalance (`onPartitionsRevoked`) or lost them
    /// (`onPartitionsLost`, when it was already out of the group).
    PartitionsRevoked {
        consumer: u32,
        group: String,
        member: String,
        partitions: Vec<TopicPartition>,
        lost: bool,
    },
    /// The application finished processing one record.
    RecordProcessed {
        consumer: u32,
        group: String,
        member: String,
        generation: i32,
        tp: TopicPartition,
        offset: u64,
        record: RecordId,
    },
    /// A member's position was set from the group's committed offset.
    PositionFromCommit {
        consumer: u32,
        group: String,
        tp: TopicPartition,
        offset: u64,
    },
    /// The world killed a client process (a broker's crash shows in what it stops doing).
    ClientCrashed { node: NodeId },

    // ---- controlled shutdown ----
    /// A client closed its ZooKeeper session: its ephemeral znodes went at once.
    ZkSessionClosed { node: NodeId, session_id: u64 },
    /// A broker got a SIGTERM and asks the controller for a controlled shutdown
    /// (`KafkaServer.controlledShutdown`); `attempt` counts from 1, `attempts_max` is
    /// `controlled.shutdown.max.retries`. `controller` is `None` when it knows of none.
    ControlledShutdownRequested {
        broker: BrokerId,
        controller: Option<BrokerId>,
        attempt: u32,
        attempts_max: u32,
    },
    /// The controller handled a controlled shutdown (`KafkaController.doControlledShutdown`):
    /// the leaderships it moved (partition, new leader), the partitions it took the broker out
    /// of the ISR of, and the partitions the broker still leads.
    ControlledShutdownHandled {
        controller: BrokerId,
        broker: BrokerId,
        moved: Vec<(TopicPartition, BrokerId)>,
        left_isr: Vec<TopicPartition>,
        remaining: Vec<TopicPartition>,
    },
    /// One attempt of a controlled shutdown did not succeed: `why` says how (an error, a
    /// timeout, no controller, partitions still led).
    ControlledShutdownAttemptFailed {
        broker: BrokerId,
        attempt: u32,
        attempts_max: u32,
        why: String,
        remaining: Vec<TopicPartition>,
    },
    /// A broker finished `KafkaServer.shutdown`: it flushed every log, checkpointed its high
    /// watermarks, wrote the clean-shutdown marker and closed its ZooKeeper session.
    /// `controlled`: the controlled shutdown succeeded (false: it was off, or every attempt
    /// failed and the broker went down anyway).
    BrokerShutDown {
        broker: BrokerId,
        controlled: bool,
        flushed_logs: usize,
    },
    /// A broker started and found the clean-shutdown marker: its logs need no recovery
    /// (`LogLoader`: `hadCleanShutdown`).
    BrokerStartedClean { broker: BrokerId },
    /// A member's commit failed; the records since the last commit will be delivered again.
    CommitFailed {
        consumer: u32,
        group: String,
        error: ErrorCode,
    },
    /// A replica's log started a new active segment (`UnifiedLog.roll`), inside an append.
    SegmentRolled {
        broker: BrokerId,
        tp: TopicPartition,
        new_base_offset: u64,
        reason: RollReason,
    },
    /// Retention deleted old segments from the front of a replica's log
    /// (`UnifiedLog.deleteOldSegments`). `removed` are the records that were still readable
    /// (at or above the log start offset before): retention's, not lost.
    SegmentsDeleted {
        broker: BrokerId,
        tp: TopicPartition,
        rule: RetentionRule,
        segments: Vec<u64>,
        log_start_offset: u64,
        removed: Vec<(u64, RecordId)>,
    },
    /// A replica's log start offset moved inside its log (`maybeIncrementLogStartOffset`):
    /// by DeleteRecords on a leader, or a follower taking its leader's. The records below
    /// it (`removed`) are no longer served; retention deletes their segments later.
    LogStartOffsetIncremented {
        broker: BrokerId,
        tp: TopicPartition,
        log_start_offset: u64,
        cause: LogStartOffsetCause,
        removed: Vec<(u64, RecordId)>,
    },
    /// A follower whose log ended below its leader's log start emptied its log and started
    /// it again at that offset (`UnifiedLog.truncateFullyAndStartAt`).
    LogRestartedAt {
        broker: BrokerId,
        tp: TopicPartition,
        offset: u64,
        removed: Vec<(u64, RecordId)>,
    },
    /// The log cleaner compacted a replica's log (`Cleaner.doClean`): records a later record
    /// of the same key replaced, tombstones past their delete horizon, and keyless records
    /// are gone; the offsets of what is left do not change.
    LogCleaned {
        broker: BrokerId,
        tp: TopicPartition,
        first_dirty_offset: u64,
        /// The new cleaner checkpoint: where this round's offset map ended.
        end_offset: u64,
        superseded: Vec<(u64, RecordId)>,
        tombstones_removed: Vec<(u64, RecordId)>,
        keyless_removed: Vec<(u64, RecordId)>,
        /// Tombstones this round kept and stamped with a delete horizon (KIP-534).
        tombstones_stamped: Vec<u64>,
        delete_horizon_ms: u64,
    },
    /// A leader answered a DeleteRecords (KIP-107): per partition the error (NONE,
    /// NOT_LEADER_OR_FOLLOWER, POLICY_VIOLATION, OFFSET_OUT_OF_RANGE, REQUEST_TIMED_OUT) and
    /// the low watermark it reached.
    DeleteRecordsAnswered {
        broker: BrokerId,
        results: Vec<(TopicPartition, ErrorCode, Option<u64>)>,
    },

    // ---- the KRaft metadata quorum (KIP-595) ----
    /// A controller node started an election for the metadata log (`KafkaRaftClient`'s
    /// transition to Candidate), or a pre-vote (KIP-996, Prospective) at its current epoch.
    QuorumElectionStarted {
        node_id: i32,
        epoch: i32,
        pre_vote: bool,
    },
    /// A controller won the vote: it leads `__cluster_metadata` in `epoch` and is the active
    /// controller. `votes` are the voters that granted it, itself included.
    QuorumLeaderElected {
        node_id: i32,
        epoch: i32,
        votes: Vec<i32>,
    },
    /// The quorum's leader gave up its epoch.
    QuorumLeaderResigned {
        node_id: i32,
        epoch: i32,
        reason: QuorumResignReason,
    },
    /// A node's high watermark of the metadata log moved. `epochs` is its log's epoch cache
    /// up to the high watermark, as `(epoch, start offset)`: in Raft an entry is named by its
    /// offset and epoch, so this names every entry the node holds committed.
    QuorumHighWatermark {
        node_id: i32,
        is_leader: bool,
        high_watermark: u64,
        epochs: Vec<(i32, u64)>,
        /// Where the node's log starts: the entries below it are in a snapshot, and the
        /// epoch cache names only the entries from here on.
        #[serde(skip_serializing_if = "is_zero")]
        log_start_offset: u64,
    },
    /// KIP-630: a controller wrote a snapshot of the metadata it built from the log below
    /// `end_offset` (its `SnapshotGenerator`: `metadata.log.max.snapshot.interval.ms` had
    /// passed since the last one).
    QuorumSnapshotCreated {
        node_id: i32,
        end_offset: u64,
        epoch: i32,
    },
    /// KIP-630: a node fetched below the leader's log start, downloaded the leader's
    /// snapshot with FetchSnapshot, and its log starts over at `end_offset`.
    QuorumSnapshotFetched {
        node_id: i32,
        /// A broker (a metadata observer) rather than a controller.
        broker: bool,
        from: i32,
        end_offset: u64,
        epoch: i32,
        /// Where its own metadata log ended before (0: it was empty).
        log_end_offset_before: u64,
    },
    /// A node deleted its metadata log below `log_start_offset`, where its next snapshot
    /// is: the older snapshot had outlived `metadata.max.retention.ms`.
    QuorumLogStartMoved { node_id: i32, log_start_offset: u64 },
    /// A node cut its metadata log back to `to_offset`: a follower told by the leader where
    /// their logs diverge, or a power loss.
    QuorumTruncated {
        node_id: i32,
        from_log_end_offset: u64,
        to_offset: u64,
        high_watermark: u64,
        /// A power loss took the unflushed tail (the process is down, its HW unknown: 0).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        power_loss: bool,
    },
    /// KRaft: the active controller committed a broker's registration (KIP-631). A new
    /// incarnation's `broker_epoch` is the offset of its record; it starts fenced.
    KraftBrokerRegistered {
        broker: BrokerId,
        broker_epoch: u64,
        fenced: bool,
    },
    /// KRaft: the active controller fenced a broker: leaderships move away and it leaves the
    /// ISRs. `session_timeout_ms` when its heartbeats stopped for `broker.session.timeout.ms`.
    KraftBrokerFenced {
        broker: BrokerId,
        #[serde(skip_serializing_if = "Option::is_none")]
        session_timeout_ms: Option<u64>,
    },
    /// KRaft, KIP-966: a partition's eligible leader replicas changed. An ELR member left
    /// the ISR while it was below `min.insync.replicas`, so it holds every committed record
    /// and may still be elected, cleanly; an unclean shutdown takes a broker out of it.
    EligibleLeaderReplicasChanged {
        tp: TopicPartition,
        elr: Vec<BrokerId>,
        isr: Vec<BrokerId>,
    },
    /// KRaft: a leader took the ISR the controller wrote (a fenced follower taken out)
    /// under the same leader epoch, from the metadata log. Routine: the controller's own
    /// event tells the change.
    LeaderIsrFromMetadata {
        broker: BrokerId,
        tp: TopicPartition,
        leader_epoch: LeaderEpoch,
        isr: Vec<BrokerId>,
    },
    /// KRaft: a registered broker caught up with the metadata log and was unfenced.
    KraftBrokerUnfenced { broker: BrokerId },
}

/// A transaction marker a replica appended (Kafka's `EndTransactionMarker` in a control
/// batch): which producer's open transaction on the partition it ends, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AppendedMarker {
    pub offset: u64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub control_type: ControlRecordType,
}

/// Why a transactional producer's application aborted a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortReason {
    /// The application chose to (a scenario's `abort_every`).
    Application,
    /// A send or the commit failed with an abortable error, which the application caught.
    Error(ErrorCode),
}

/// Why the metadata quorum's leader resigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuorumResignReason {
    /// No Fetch from a majority of voters for 1.5 × `controller.quorum.fetch.timeout.ms`
    /// (KAFKA-15489, 3.7.0: `LeaderState`'s check-quorum timer).
    CheckQuorum,
    /// An orderly shutdown: `KafkaRaftClient.shutdown` sends EndQuorumEpoch.
    Shutdown,
}

/// Why a log start offset moved without a segment deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStartOffsetCause {
    /// An operator's DeleteRecords (KIP-107) on the leader.
    DeleteRecords,
    /// A follower learned its leader's log start offset from a fetch answer.
    LeaderLogStartOffset,
}

impl Event {
    /// A short stable name of the event kind, used in traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::BrokerRegistered { .. } => "broker-registered",
            Event::QuorumElectionStarted { .. } => "quorum-election-started",
            Event::QuorumLeaderElected { .. } => "quorum-leader-elected",
            Event::QuorumLeaderResigned { .. } => "quorum-leader-resigned",
            Event::QuorumHighWatermark { .. } => "quorum-high-watermark",
            Event::QuorumTruncated { .. } => "quorum-truncated",
            Event::QuorumSnapshotCreated { .. } => "quorum-snapshot-created",
            Event::QuorumSnapshotFetched { .. } => "quorum-snapshot-fetched",
            Event::QuorumLogStartMoved { .. } => "quorum-log-start-moved",
            Event::KraftBrokerRegistered { .. } => "kraft-broker-registered",
            Event::KraftBrokerFenced { .. } => "kraft-broker-fenced",
            Event::KraftBrokerUnfenced { .. } => "kraft-broker-unfenced",
            Event::LeaderIsrFromMetadata { .. } => "leader-isr-from-metadata",
            Event::EligibleLeaderReplicasChanged { .. } => "elr-changed",
            Event::ZkSessionExpired { .. } => "zk-session-expired",
            Event::ZkSessionClosed { .. } => "zk-session-closed",
            Event::ControlledShutdownRequested { .. } => "controlled-shutdown-requested",
            Event::ControlledShutdownHandled { .. } => "controlled-shutdown-handled",
            Event::ControlledShutdownAttemptFailed { .. } => "controlled-shutdown-attempt-failed",
            Event::BrokerShutDown { .. } => "broker-shut-down",
            Event::BrokerStartedClean { .. } => "broker-started-clean",
            Event::ControllerElected { .. } => "controller-elected",
            Event::LeaderElectionRequested { .. } => "leader-election-requested",
            Event::StaleControllerRequestRejected { .. } => "stale-controller-rejected",
            Event::LeaderElected { .. } => "leader-elected",
            Event::PartitionOffline { .. } => "partition-offline",
            Event::BecameLeader { .. } => "became-leader",
            Event::BecameFollower { .. } => "became-follower",
            Event::Appended { .. } => "appended",
            Event::Truncated { .. } => "truncated",
            Event::HighWatermarkChanged { .. } => "hw-changed",
            Event::IsrShrunk { .. } => "isr-shrunk",
            Event::IsrExpanded { .. } => "isr-expanded",
            Event::ControllerShrunkIsr { .. } => "controller-shrunk-isr",
            Event::IsrChangeRejected { .. } => "isr-change-rejected",
            Event::IsrWriteConflict { .. } => "isr-write-conflict",
            Event::IsrChangesPropagated { .. } => "isr-changes-propagated",
            Event::Flushed { .. } => "flushed",
            Event::BrokerRecovered { .. } => "broker-recovered",
            Event::LogRecovery { .. } => "log-recovery",
            Event::RecordSent { .. } => "record-sent",
            Event::ProduceRejected { .. } => "produce-rejected",
            Event::Acknowledged { .. } => "acknowledged",
            Event::DuplicateBatch { .. } => "duplicate-batch",
            Event::ProduceFailed { .. } => "produce-failed",
            Event::ProduceRetried { .. } => "produce-retried",
            Event::TransactionsInitialized { .. } => "transactions-initialized",
            Event::TransactionBegun { .. } => "transaction-begun",
            Event::TransactionCommitted { .. } => "transaction-committed",
            Event::TransactionAborted { .. } => "transaction-aborted",
            Event::TransactionalProducerFailed { .. } => "transactional-producer-failed",
            Event::Consumed { .. } => "consumed",
            Event::ConsumerTruncationDetected { .. } => "consumer-truncation-detected",
            Event::ConsumerStopped { .. } => "consumer-stopped",
            Event::OffsetReset { .. } => "offset-reset",
            Event::GroupLoadStarted { .. } => "group-load-started",
            Event::GroupsLoaded { .. } => "groups-loaded",
            Event::GroupsUnloaded { .. } => "groups-unloaded",
            Event::TxnCoordinatorLoaded { .. } => "txn-coordinator-loaded",
            Event::TxnCoordinatorUnloaded { .. } => "txn-coordinator-unloaded",
            Event::TxnStateWritten { .. } => "txn-state-written",
            Event::TxnTimedOut { .. } => "txn-timed-out",
            Event::EndTxnRefused { .. } => "end-txn-refused",
            Event::TxnRequestTimedOut { .. } => "txn-request-timed-out",
            Event::RebalanceStarted { .. } => "rebalance-started",
            Event::GenerationStarted { .. } => "generation-started",
            Event::GroupStable { .. } => "group-stable",
            Event::MemberRemoved { .. } => "member-removed",
            Event::OffsetsCommitted { .. } => "offsets-committed",
            Event::PartitionsAssigned { .. } => "partitions-assigned",
            Event::PartitionsRevoked { .. } => "partitions-revoked",
            Event::RecordProcessed { .. } => "record-processed",
            Event::PositionFromCommit { .. } => "position-from-commit",
            Event::CommitFailed { .. } => "commit-failed",
            Event::SegmentRolled { .. } => "segment-rolled",
            Event::SegmentsDeleted { .. } => "segments-deleted",
            Event::LogStartOffsetIncremented { .. } => "log-start-offset-incremented",
            Event::LogRestartedAt { .. } => "log-restarted-at",
            Event::LogCleaned { .. } => "log-cleaned",
            Event::DeleteRecordsAnswered { .. } => "delete-records-answered",
            Event::ClientCrashed { .. } => "client-crashed",
        }
    }
}

/// For `skip_serializing_if`: a field that is 0 in every run that does not use it is left out
/// of the JSON, so older traces keep their hash.
fn is_zero(value: &u64) -> bool {
    *value == 0
}
