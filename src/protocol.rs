//! The messages Kafka processes exchange, as Rust values.
//!
//! These follow Kafka's wire protocol by name and by the fields that matter for replication
//! (fetch offsets, leader epochs, controller epochs, the high watermark in fetch responses),
//! and leave out what does not (sizes, compression, throttling). ZooKeeper's client protocol
//! is here too, reduced to what Kafka's ZooKeeper mode uses: sessions, ephemeral znodes,
//! conditional updates and one-shot watches.

use crate::assignor::Strategy;
use crate::controller::kraft::raft::RaftMessage;
use crate::controller::kraft::replication_control::{
    AlterPartitionRequest, AlterPartitionResult, CreateTopic,
};
use crate::controller::kraft::{
    ApiError, BrokerHeartbeatReply, BrokerHeartbeatRequest, BrokerRegistrationReply,
    BrokerRegistrationRequest, MetadataRecord, TopicId,
};
use crate::coordinator::transaction::TransactionVersion;
use crate::types::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything one process can send another.
#[derive(Clone, Debug, Serialize)]
pub enum Message {
    // ---- ZooKeeper client protocol ----
    ZkConnect(ZkConnect),
    ZkConnected(ZkConnected),
    ZkPing(ZkPing),
    ZkPong(ZkPong),
    ZkRequest(ZkRequest),
    ZkResponse(ZkResponse),
    /// A one-shot watch fired.
    ZkWatch(ZkWatch),
    /// The session is gone: ZooKeeper deleted its ephemeral znodes.
    ZkSessionExpired(ZkSessionExpired),

    // ---- controller to brokers ----
    LeaderAndIsr(LeaderAndIsrRequest),
    UpdateMetadata(UpdateMetadataRequest),

    // ---- brokers to controller ----
    /// KIP-497's AlterIsr (AlterPartition): a leader asks the controller to change its ISR.
    AlterIsr(AlterIsrRequest),
    AlterIsrResponse(AlterIsrResponse),
    /// A broker on its way down asks the controller to move its leaderships away and take
    /// it out of the ISRs it follows (Kafka's `ControlledShutdownRequest`).
    ControlledShutdown(ControlledShutdownRequest),
    ControlledShutdownResponse(ControlledShutdownResponse),
    /// The controller tells a broker to stop its replicas of `partitions` (Kafka's
    /// `StopReplicaRequest`, here only ever with `deletePartitions = false`).
    StopReplica(StopReplicaRequest),

    // ---- admin tools to the controller ----
    /// KIP-460's ElectLeaders, as `kafka-leader-election.sh` sends it.
    ElectLeaders(ElectLeadersRequest),
    ElectLeadersResponse(ElectLeadersResponse),
    /// KIP-107's DeleteRecords, as `kafka-delete-records.sh` sends it to a partition's leader.
    DeleteRecords(DeleteRecordsRequest),
    DeleteRecordsResponse(DeleteRecordsResponse),

    // ---- replication and consumption ----
    Fetch(FetchRequest),
    FetchResponse(FetchResponse),
    OffsetsForLeaderEpoch(OffsetsForLeaderEpochRequest),
    OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse),

    // ---- producer ----
    /// An idempotent producer asks any broker for a producer id (KIP-98).
    InitProducerId(InitProducerIdRequest),
    InitProducerIdResponse(InitProducerIdResponse),
    Produce(ProduceRequest),
    ProduceResponse(ProduceResponse),

    // ---- transactions (KIP-98) ----
    /// A transactional producer asks its coordinator to add partitions to its transaction;
    /// a partition leader asks it whether a batch's transaction is open (KIP-890 part 1).
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    AddPartitionsToTxnResponse(AddPartitionsToTxnResponse),
    /// A transactional producer adds a group's offsets partition to its transaction.
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    AddOffsetsToTxnResponse(AddOffsetsToTxnResponse),
    /// A transactional producer commits a group's offsets inside its transaction (to the
    /// group coordinator; KIP-447 checks the group's generation and member).
    TxnOffsetCommit(TxnOffsetCommitRequest),
    TxnOffsetCommitResponse(TxnOffsetCommitResponse),
    /// A transactional producer ends its transaction: commit or abort.
    EndTxn(EndTxnRequest),
    EndTxnResponse(EndTxnResponse),
    /// The transaction coordinator asks a partition leader to end transactions there.
    WriteTxnMarkers(WriteTxnMarkersRequest),
    WriteTxnMarkersResponse(WriteTxnMarkersResponse),

    // ---- metadata and offsets for clients ----
    Metadata(MetadataRequest),
    MetadataResponse(MetadataResponse),
    ListOffsets(ListOffsetsRequest),
    ListOffsetsResponse(ListOffsetsResponse),

    // ---- connections ----
    /// Not a Kafka request: see [`Disconnected`].
    Disconnected(Disconnected),
    /// Not a Kafka request: the operator's SIGTERM to a broker, see [`Terminate`].
    Terminate(Terminate),

    // ---- consumer groups (the classic protocol) ----
    FindCoordinator(FindCoordinatorRequest),
    FindCoordinatorResponse(FindCoordinatorResponse),
    JoinGroup(JoinGroupRequest),
    JoinGroupResponse(JoinGroupResponse),
    SyncGroup(SyncGroupRequest),
    SyncGroupResponse(SyncGroupResponse),
    Heartbeat(HeartbeatRequest),
    HeartbeatResponse(HeartbeatResponse),
    LeaveGroup(LeaveGroupRequest),
    LeaveGroupResponse(LeaveGroupResponse),
    OffsetCommit(OffsetCommitRequest),
    OffsetCommitResponse(OffsetCommitResponse),
    OffsetFetch(OffsetFetchRequest),
    OffsetFetchResponse(OffsetFetchResponse),

    // ---- KRaft: the metadata quorum, and requests to the active controller ----
    /// KIP-595's quorum RPCs on `__cluster_metadata`: Vote, BeginQuorumEpoch, EndQuorumEpoch
    /// between the controllers, Fetch from controllers and brokers alike.
    Raft(RaftMessage<MetadataRecord>),
    /// KIP-631: a starting broker registers its incarnation with the active controller.
    BrokerRegistration(ControllerRequest<BrokerRegistrationRequest>),
    BrokerRegistrationResponse(ControllerResponse<BrokerRegistrationReply>),
    /// KIP-631: a broker's heartbeat, every `broker.heartbeat.interval.ms`.
    BrokerHeartbeat(ControllerRequest<BrokerHeartbeatRequest>),
    BrokerHeartbeatResponse(ControllerResponse<BrokerHeartbeatReply>),
    /// KIP-497's AlterPartition as a KRaft leader sends it: with its broker epoch.
    AlterPartition(ControllerRequest<AlterPartitionRequest>),
    AlterPartitionResponse(ControllerResponse<Vec<AlterPartitionResult>>),
    /// CreateTopics with a manual assignment, one topic a request: from the admin client
    /// (`--bootstrap-controller`, KIP-919) or a broker creating `__consumer_offsets`
    /// (`AutoTopicCreationManager`).
    CreateTopics(ControllerRequest<CreateTopic>),
    CreateTopicsResponse(ControllerResponse<TopicId>),
}

/// A request to the KRaft active controller. A controller that is not active answers
/// NOT_CONTROLLER and the sender tries the one it now believes active.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControllerRequest<T> {
    pub correlation_id: u64,
    pub body: T,
}

/// The active controller's answer, sent once the records it wrote are committed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControllerResponse<T> {
    pub correlation_id: u64,
    pub result: Result<T, ApiError>,
}

/// What a consumer tells the coordinator in JoinGroup (Kafka's `ConsumerProtocolSubscription`):
/// its topics and, for the sticky assignors, what it owns and from which generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub topics: Vec<String>,
    pub owned_partitions: Vec<TopicPartition>,
    pub generation: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupMemberSubscription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub subscription: Subscription,
}

/// Which kind of coordinator FindCoordinator looks for (`FindCoordinatorRequest.CoordinatorType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CoordinatorType {
    /// A consumer group's, on `__consumer_offsets`.
    Group,
    /// A transactional id's, on `__transaction_state`.
    Transaction,
}

/// Which broker coordinates `key` (a group id or a transactional id): any broker answers,
/// from its metadata.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FindCoordinatorRequest {
    pub correlation_id: u64,
    pub key_type: CoordinatorType,
    pub key: String,
}

/// The coordinator of the key, when the leader of its partition is known.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FindCoordinatorResponse {
    pub correlation_id: u64,
    pub error: ErrorCode,
    pub coordinator: Option<BrokerId>,
}

/// A member joins (or joins again) and names the assignors it supports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JoinGroupRequest {
    pub correlation_id: u64,
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    /// The member id the coordinator hands out starts with this (`client.id`).
    pub client_id: String,
    pub group_instance_id: Option<String>,
    pub session_timeout_ms: u64,
    /// The consumer's `max.poll.interval.ms`.
    pub rebalance_timeout_ms: u64,
    /// The assignors this member supports, in its order of preference.
    pub protocols: Vec<Strategy>,
    pub subscription: Subscription,
    /// JoinGroup version 4 or later (KIP-394, clients and brokers from 2.2.0): a new member
    /// without a `group.instance.id` is first handed its member id with MEMBER_ID_REQUIRED
    /// and joins for real with it.
    pub require_known_member_id: bool,
}

/// The end of a join round: the new generation, its leader and assignor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JoinGroupResponse {
    pub correlation_id: u64,
    pub error: ErrorCode,
    pub generation_id: i32,
    pub protocol: Option<Strategy>,
    pub leader: String,
    pub member_id: String,
    /// Every member's subscription, for the leader only; empty for the others.
    pub members: Vec<GroupMemberSubscription>,
}

/// A member asks for its assignment; the leader brings everyone's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SyncGroupRequest {
    pub correlation_id: u64,
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    /// The leader's assignment for every member; empty from the others.
    pub assignments: Vec<(String, Vec<TopicPartition>)>,
}

/// The member's assignment in the generation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SyncGroupResponse {
    pub correlation_id: u64,
    pub error: ErrorCode,
    pub assignment: Vec<TopicPartition>,
}

/// A member says it is alive in `generation_id`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeartbeatRequest {
    pub correlation_id: u64,
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
}

/// `REBALANCE_IN_PROGRESS` tells the member to join again.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeartbeatResponse {
    pub correlation_id: u64,
    pub error: ErrorCode,
}

/// A member leaves the group, so it need not wait for its session to expire.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeaveGroupRequest {
    pub correlation_id: u64,
    pub group_id: String,
    pub member_id: String,
}

/// The answer to a LeaveGroup.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeaveGroupResponse {
    pub correlation_id: u64,
    pub error: ErrorCode,
}

/// A member commits the offsets it consumed up to, in its generation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OffsetCommitRequest {
    pub correlation_id: u64,
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub offsets: Vec<(TopicPartition, u64)>,
}

/// The commit's outcome, once it is written to `__consumer_offsets` (or refused).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OffsetCommitResponse {
    pub correlation_id: u64,
    pub error: ErrorCode,
}

/// The group's committed offsets for `partitions`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OffsetFetchRequest {
    pub correlation_id: u64,
    pub group_id: String,
    pub partitions: Vec<TopicPartition>,
    /// KIP-447 (OffsetFetch v7, Kafka 2.5): a partition whose offset commit is not final
    /// yet (a transaction's, waiting for its marker) is answered UNSTABLE_OFFSET_COMMIT
    /// instead of with the older offset. Kafka's consumer sets it from 2.5 on.
    pub require_stable: bool,
}

/// The committed offsets the coordinator holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OffsetFetchResponse {
    pub correlation_id: u64,
    pub error: ErrorCode,
    pub offsets: Vec<OffsetFetchPartition>,
}

/// One partition of an OffsetFetch answer (`OffsetFetchResponsePartition`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OffsetFetchPartition {
    pub tp: TopicPartition,
    /// `None`: no committed offset (Kafka's `INVALID_OFFSET`, -1), also with an error.
    pub offset: Option<u64>,
    pub error: ErrorCode,
}

impl Message {
    /// Kafka's (or ZooKeeper's) name for the message kind, for traces and narration.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::ZkConnect(_) => "ZkConnect",
            Message::ZkConnected(_) => "ZkConnected",
            Message::ZkPing(_) => "ZkPing",
            Message::ZkPong(_) => "ZkPong",
            Message::ZkRequest(_) => "ZkRequest",
            Message::ZkResponse(_) => "ZkResponse",
            Message::ZkWatch(_) => "ZkWatch",
            Message::ZkSessionExpired(_) => "ZkSessionExpired",
            Message::LeaderAndIsr(_) => "LeaderAndIsr",
            Message::UpdateMetadata(_) => "UpdateMetadata",
            Message::AlterIsr(_) => "AlterIsr",
            Message::AlterIsrResponse(_) => "AlterIsrResponse",
            Message::ElectLeaders(_) => "ElectLeaders",
            Message::ElectLeadersResponse(_) => "ElectLeadersResponse",
            Message::DeleteRecords(_) => "DeleteRecords",
            Message::DeleteRecordsResponse(_) => "DeleteRecordsResponse",
            Message::ControlledShutdown(_) => "ControlledShutdown",
            Message::ControlledShutdownResponse(_) => "ControlledShutdownResponse",
            Message::StopReplica(_) => "StopReplica",
            Message::Terminate(_) => "Terminate",
            Message::Fetch(_) => "Fetch",
            Message::FetchResponse(_) => "FetchResponse",
            Message::OffsetsForLeaderEpoch(_) => "OffsetsForLeaderEpoch",
            Message::OffsetsForLeaderEpochResponse(_) => "OffsetsForLeaderEpochResponse",
            Message::InitProducerId(_) => "InitProducerId",
            Message::InitProducerIdResponse(_) => "InitProducerIdResponse",
            Message::Produce(_) => "Produce",
            Message::ProduceResponse(_) => "ProduceResponse",
            Message::AddPartitionsToTxn(_) => "AddPartitionsToTxn",
            Message::AddPartitionsToTxnResponse(_) => "AddPartitionsToTxnResponse",
            Message::AddOffsetsToTxn(_) => "AddOffsetsToTxn",
            Message::AddOffsetsToTxnResponse(_) => "AddOffsetsToTxnResponse",
            Message::TxnOffsetCommit(_) => "TxnOffsetCommit",
            Message::TxnOffsetCommitResponse(_) => "TxnOffsetCommitResponse",
            Message::EndTxn(_) => "EndTxn",
            Message::EndTxnResponse(_) => "EndTxnResponse",
            Message::WriteTxnMarkers(_) => "WriteTxnMarkers",
            Message::WriteTxnMarkersResponse(_) => "WriteTxnMarkersResponse",
            Message::Metadata(_) => "Metadata",
            Message::MetadataResponse(_) => "MetadataResponse",
            Message::ListOffsets(_) => "ListOffsets",
            Message::ListOffsetsResponse(_) => "ListOffsetsResponse",
            Message::Disconnected(_) => "Disconnected",
            Message::FindCoordinator(_) => "FindCoordinator",
            Message::FindCoordinatorResponse(_) => "FindCoordinatorResponse",
            Message::JoinGroup(_) => "JoinGroup",
            Message::JoinGroupResponse(_) => "JoinGroupResponse",
            Message::SyncGroup(_) => "SyncGroup",
            Message::SyncGroupResponse(_) => "SyncGroupResponse",
            Message::Heartbeat(_) => "Heartbeat",
            Message::Raft(m) => m.kind(),
            Message::BrokerRegistration(_) => "BrokerRegistration",
            Message::BrokerRegistrationResponse(_) => "BrokerRegistrationResponse",
            Message::BrokerHeartbeat(_) => "BrokerHeartbeat",
            Message::BrokerHeartbeatResponse(_) => "BrokerHeartbeatResponse",
            Message::AlterPartition(_) => "AlterPartition",
            Message::AlterPartitionResponse(_) => "AlterPartitionResponse",
            Message::CreateTopics(_) => "CreateTopics",
            Message::CreateTopicsResponse(_) => "CreateTopicsResponse",
            Message::HeartbeatResponse(_) => "HeartbeatResponse",
            Message::LeaveGroup(_) => "LeaveGroup",
            Message::LeaveGroupResponse(_) => "LeaveGroupResponse",
            Message::OffsetCommit(_) => "OffsetCommit",
            Message::OffsetCommitResponse(_) => "OffsetCommitResponse",
            Message::OffsetFetch(_) => "OffsetFetch",
            Message::OffsetFetchResponse(_) => "OffsetFetchResponse",
        }
    }
}

// ---- controller to brokers, brokers to controller ----

/// The controller tells a broker the leader and ISR of partitions it hosts (Kafka's
/// `LeaderAndIsrRequest`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaderAndIsrRequest {
    pub controller_id: BrokerId,
    pub controller_epoch: i32,
    pub partitions: Vec<LeaderAndIsrPartition>,
}

/// The controller tells every live broker the cluster's metadata (Kafka's
/// `UpdateMetadataRequest`), which brokers serve to clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpdateMetadataRequest {
    pub controller_id: BrokerId,
    pub controller_epoch: i32,
    pub live_brokers: Vec<BrokerId>,
    pub partitions: Vec<PartitionMetadata>,
}

/// KIP-497's AlterIsr (AlterPartition): a leader asks the controller to change its ISR.
/// Kafka 3.x renamed the request `AlterPartition` (KIP-841 and later); the model keeps the
/// KIP-497 name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlterIsrRequest {
    pub broker_id: BrokerId,
    pub tp: TopicPartition,
    pub leader_epoch: LeaderEpoch,
    pub new_isr: Vec<BrokerId>,
    /// The version of the partition state the leader last saw (the znode version).
    pub partition_epoch: i32,
}

/// Which leader an [`ElectLeadersRequest`] asks for (Kafka's `ElectionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ElectionType {
    /// Back to the preferred replica, the first of the assignment, if it is alive and in
    /// the ISR (`--election-type PREFERRED`).
    Preferred,
}

/// An admin tool asks the controller for leader elections (Kafka's `ElectLeadersRequest`,
/// KIP-460, sent by `kafka-leader-election.sh`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElectLeadersRequest {
    pub election_type: ElectionType,
    /// The partitions to elect for; `None` is every partition (`--all-topic-partitions`).
    pub partitions: Option<Vec<TopicPartition>>,
}

/// The controller's answer: one error per partition (NONE for a partition it elected for),
/// or a whole-request error such as NOT_CONTROLLER with no rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElectLeadersResponse {
    pub error: ErrorCode,
    pub results: Vec<(TopicPartition, ErrorCode)>,
}

/// An admin asks a partition's leader to move its log start offset up to `offset` (Kafka's
/// `DeleteRecordsRequest`, KIP-107, sent by `kafka-delete-records.sh` through
/// `Admin.deleteRecords`). An offset of `-1` (here `None`) means the high watermark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeleteRecordsRequest {
    pub correlation_id: u64,
    /// How long the leader waits for its followers' log start offsets to follow.
    pub timeout_ms: u64,
    pub partitions: Vec<(TopicPartition, Option<u64>)>,
}

/// One partition's answer to a [`DeleteRecordsRequest`]: the low watermark (the smallest
/// log start offset over the leader and its live replicas) once it reached the offset asked
/// for, or why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeleteRecordsPartitionResponse {
    pub tp: TopicPartition,
    pub error: ErrorCode,
    pub low_watermark: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeleteRecordsResponse {
    pub correlation_id: u64,
    pub partitions: Vec<DeleteRecordsPartitionResponse>,
}

/// The controller's answer to an [`AlterIsrRequest`] (Kafka's `AlterPartitionResponse`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlterIsrResponse {
    pub tp: TopicPartition,
    pub error: ErrorCode,
    /// The state the controller wrote (or holds), when it accepted or fenced the request.
    pub state: Option<LeaderAndIsrPartition>,
}

/// A broker asks the controller for a controlled shutdown (Kafka's
/// `ControlledShutdownRequest`, sent by `KafkaServer.controlledShutdown`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControlledShutdownRequest {
    pub broker_id: BrokerId,
    pub correlation_id: u64,
}

/// The controller's answer: the partitions the broker still leads
/// (`ControlledShutdownResponse.remainingPartitions`); the broker tries again while it is not
/// empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControlledShutdownResponse {
    pub correlation_id: u64,
    pub error: ErrorCode,
    pub partitions_remaining: Vec<TopicPartition>,
}

/// Kafka's `StopReplicaRequest` with `deletePartitions = false`: the broker stops fetching
/// for these partitions and keeps their logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StopReplicaRequest {
    pub controller_id: BrokerId,
    pub controller_epoch: i32,
    pub partitions: Vec<TopicPartition>,
}

/// The leader and ISR of one partition as the controller decided it, with the version of the
/// partition-state znode (`partition_epoch`) so a leader's AlterIsr can be checked against it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaderAndIsrPartition {
    pub tp: TopicPartition,
    pub leader: Option<BrokerId>,
    pub leader_epoch: LeaderEpoch,
    pub isr: Vec<BrokerId>,
    pub partition_epoch: i32,
    pub replicas: Vec<BrokerId>,
    pub controller_epoch: i32,
}

/// What clients learn about a partition from a Metadata response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionMetadata {
    pub tp: TopicPartition,
    pub error: ErrorCode,
    pub leader: Option<BrokerId>,
    pub leader_epoch: LeaderEpoch,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
}

/// A fetch, from a follower (`replica_id` set) or a consumer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FetchRequest {
    pub correlation_id: u64,
    /// `Some(id)` for a follower's fetch, `None` for a consumer's.
    pub replica_id: Option<BrokerId>,
    pub max_wait_ms: u64,
    /// The fetch session (KIP-227); `FetchMetadata::SESSIONLESS` for none.
    pub session: crate::fetch_session::FetchMetadata,
    /// Every partition of a full request; in an incremental one, those whose fetch state
    /// changed.
    pub partitions: Vec<FetchPartition>,
    /// Partitions an incremental request drops from its session.
    pub forgotten: Vec<TopicPartition>,
    /// How far a consumer may read (`FetchRequest.isolationLevel`, KIP-98); followers
    /// always read uncommitted.
    pub isolation_level: IsolationLevel,
}

/// A consumer's `isolation.level`: whether it reads only what transactions committed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationLevel {
    /// `read_uncommitted` (the default): everything up to the high watermark, the records
    /// of open and aborted transactions included.
    #[default]
    ReadUncommitted,
    /// `read_committed`: only up to the last stable offset, told which transactions in
    /// that range were aborted so their records can be skipped.
    ReadCommitted,
}

impl IsolationLevel {
    /// The config value, as Kafka spells it.
    pub fn name(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "read_uncommitted",
            IsolationLevel::ReadCommitted => "read_committed",
        }
    }

    pub fn parse(text: &str) -> Option<IsolationLevel> {
        match text {
            "read_uncommitted" => Some(IsolationLevel::ReadUncommitted),
            "read_committed" => Some(IsolationLevel::ReadCommitted),
            _ => None,
        }
    }
}

/// An aborted transaction a `read_committed` fetch answer names
/// (`FetchResponseData.AbortedTransaction`): the reader skips the producer's transactional
/// records from `first_offset` until that producer's abort marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: u64,
}

/// A leader's answer to a fetch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FetchResponse {
    pub correlation_id: u64,
    /// A session error (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH) comes
    /// alone, with no partitions.
    pub error: ErrorCode,
    /// The session the request opened or used (0: none).
    pub session_id: u32,
    pub partitions: Vec<FetchPartitionResponse>,
}

/// Where each asked epoch ends on the leader (KIP-101), from a follower (`replica_id` set)
/// or a consumer validating its position (KIP-320).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OffsetsForLeaderEpochRequest {
    pub correlation_id: u64,
    pub replica_id: Option<BrokerId>,
    pub partitions: Vec<OffsetForLeaderEpochPartition>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OffsetsForLeaderEpochResponse {
    pub correlation_id: u64,
    pub partitions: Vec<EpochEndOffset>,
}

/// One request per broker carrying a batch for each of the partitions it leads that the
/// producer has ready, as Kafka's `Sender` sends them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProduceRequest {
    pub correlation_id: u64,
    /// A transactional producer's `transactional.id` (`ProduceRequest.transactionalId`,
    /// null otherwise): a leader checking a transactional batch (KIP-890) asks this id's
    /// coordinator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactional_id: Option<String>,
    /// The transaction version the request's version stands for: a client on transaction
    /// version 2 sends Produce version 12 or later, which lets the leader add the partition
    /// to the transaction itself (KIP-890 part 2, `TransactionSupportedOperation
    /// .addPartition`); anything older is version 0.
    #[serde(skip_serializing_if = "TransactionVersion::is_classic")]
    pub transaction_version: TransactionVersion,
    pub acks: Acks,
    pub timeout_ms: u64,
    pub partitions: Vec<ProducePartition>,
}

/// One partition's batch in a produce request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProducePartition {
    pub tp: TopicPartition,
    pub records: Vec<ProducerRecord>,
    /// The batch header an idempotent producer writes; `None` without idempotence.
    pub producer: Option<BatchStamp>,
}

/// A producer asks for a producer id (`InitProducerIdRequest`). Without a transactional id
/// any broker answers with a fresh id at epoch 0; with one, the id's transaction
/// coordinator answers, fencing the id's earlier instances by bumping the epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InitProducerIdRequest {
    pub correlation_id: u64,
    pub transactional_id: Option<String>,
    /// The producer's `transaction.timeout.ms` (ignored without a transactional id).
    pub transaction_timeout_ms: u64,
    /// The producer id and epoch the producer has, -1 and -1 for none: a producer that
    /// must bump its epoch after an error names them (KIP-360, version 3 and later).
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// A producer id and epoch (`TransactionCoordinator.handleInitProducerId`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InitProducerIdResponse {
    pub correlation_id: u64,
    pub error: ErrorCode,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// Adds partitions to a transaction (`AddPartitionsToTxnRequest`). From a producer
/// (`verify_only` false) the coordinator writes them to the transaction's state; from a
/// partition leader checking a transactional batch (KIP-890 part 1, `verify_only` true) it
/// only answers whether the transaction is open and holds them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddPartitionsToTxnRequest {
    pub correlation_id: u64,
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<TopicPartition>,
    pub verify_only: bool,
    /// The transaction version the request's version stands for (a client's request at
    /// version 5 or later is version 2).
    pub transaction_version: TransactionVersion,
}

/// Each partition's error (`AddPartitionsToTxnResponse`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddPartitionsToTxnResponse {
    pub correlation_id: u64,
    pub results: Vec<(TopicPartition, ErrorCode)>,
}

/// Adds the offsets partition of `group_id` to a transaction (`AddOffsetsToTxnRequest`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddOffsetsToTxnRequest {
    pub correlation_id: u64,
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub group_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddOffsetsToTxnResponse {
    pub correlation_id: u64,
    pub error: ErrorCode,
}

/// Offsets committed inside a transaction, to the group coordinator
/// (`TxnOffsetCommitRequest`): they become visible when the transaction commits and are
/// dropped when it aborts. From version 3 (KIP-447) the request carries the consumer's group
/// metadata, which the coordinator checks as it checks an OffsetCommit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TxnOffsetCommitRequest {
    pub correlation_id: u64,
    pub transactional_id: String,
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub offsets: Vec<(TopicPartition, u64)>,
}

/// Each partition's error (`TxnOffsetCommitResponse`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TxnOffsetCommitResponse {
    pub correlation_id: u64,
    pub results: Vec<(TopicPartition, ErrorCode)>,
}

/// Ends a transaction (`EndTxnRequest`): commit (`committed`) or abort.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndTxnRequest {
    pub correlation_id: u64,
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub committed: bool,
    /// The transaction version the request's version stands for (version 5 or later is 2).
    pub transaction_version: TransactionVersion,
    /// The number of the transaction the client sent this request for, for the record
    /// only: Kafka's request has no such field (which is why a late EndTxn can end the next
    /// transaction, KAFKA-17754), and the coordinator never decides on it; it only names it
    /// in the events of what the request did.
    pub for_transaction: Option<u64>,
}

/// `EndTxnResponse`: under transaction version 2 a NONE names the producer id and epoch the
/// producer continues with; otherwise -1 and -1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndTxnResponse {
    pub correlation_id: u64,
    pub error: ErrorCode,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// The transaction coordinator's request to one broker: for each transaction, a COMMIT or
/// ABORT marker on each of its partitions that broker leads (`WriteTxnMarkersRequest`, sent
/// by `TransactionMarkerChannelManager`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WriteTxnMarkersRequest {
    pub correlation_id: u64,
    pub markers: Vec<WritableTxnMarker>,
}

/// One transaction's markers in a [`WriteTxnMarkersRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WritableTxnMarker {
    pub producer_id: i64,
    /// The epoch the marker is written with: the transaction's, or the bumped one after a
    /// fence or (transaction version 2) at every end.
    pub producer_epoch: i16,
    pub transaction_result: ControlRecordType,
    pub partitions: Vec<TopicPartition>,
    pub coordinator_epoch: i32,
}

/// Per transaction of the request, each partition's error (NONE once its marker is
/// replicated to the ISR).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WriteTxnMarkersResponse {
    pub correlation_id: u64,
    pub markers: Vec<WritableTxnMarkerResult>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WritableTxnMarkerResult {
    pub producer_id: i64,
    pub partitions: Vec<(TopicPartition, ErrorCode)>,
}

/// One partition's answer in a produce response.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProducePartitionResponse {
    pub tp: TopicPartition,
    pub error: ErrorCode,
    pub base_offset: Option<u64>,
}

/// One answer per partition of the request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProduceResponse {
    pub correlation_id: u64,
    pub partitions: Vec<ProducePartitionResponse>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetadataRequest {
    pub correlation_id: u64,
    pub topics: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetadataResponse {
    pub correlation_id: u64,
    pub brokers: Vec<BrokerId>,
    pub controller_id: Option<BrokerId>,
    pub partitions: Vec<PartitionMetadata>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListOffsetsRequest {
    pub correlation_id: u64,
    pub tp: TopicPartition,
    pub spec: OffsetSpec,
    pub current_leader_epoch: Option<LeaderEpoch>,
    /// The asker's `isolation.level`: the latest offset of a `read_committed` consumer is
    /// the last stable offset.
    pub isolation_level: IsolationLevel,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListOffsetsResponse {
    pub correlation_id: u64,
    pub tp: TopicPartition,
    pub error: ErrorCode,
    pub offset: u64,
    pub leader_epoch: Option<LeaderEpoch>,
}

/// Not a Kafka request: the client's TCP connection to `peer` was closed or refused.
/// A crashed process's operating system resets its connections, and a connection to a
/// host whose broker is down is refused, so a client learns at once that its requests
/// to that broker will never be answered. (A broker that is paused, partitioned away or
/// without power sends nothing; clients find out from their request timeouts.)
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Disconnected {
    pub peer: NodeId,
}

/// Not a Kafka request: the operator sends the broker's JVM a SIGTERM (`kafka-server-stop.sh`),
/// which runs `KafkaServer.shutdown`: a controlled shutdown first when
/// `controlled.shutdown.enable` is true, then the logs are flushed and closed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Terminate;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FetchPartition {
    pub tp: TopicPartition,
    pub fetch_offset: u64,
    /// The epoch of the last record the fetcher has (KIP-595 style divergence check).
    pub last_fetched_epoch: Option<LeaderEpoch>,
    /// The leader epoch the fetcher believes is current (KIP-320); `None` skips the check.
    pub current_leader_epoch: Option<LeaderEpoch>,
    /// A follower's own log start offset (`FetchRequest` v5, KIP-107): the leader keeps it
    /// per replica for the low watermark DeleteRecords waits on. `None` from a consumer
    /// (Kafka sends -1).
    pub log_start_offset: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FetchPartitionResponse {
    pub tp: TopicPartition,
    pub error: ErrorCode,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    /// The leader's log end offset when it answered.
    pub log_end_offset: u64,
    /// The leader's last stable offset when it answered (the high watermark when no
    /// transaction is undecided).
    pub last_stable_offset: u64,
    /// For a `read_committed` fetch, the aborted transactions among the records returned.
    pub aborted_transactions: Vec<AbortedTransaction>,
    /// The leader epoch of the replica that answered.
    pub leader_epoch: LeaderEpoch,
    /// Whole record batches, as the log holds them (one segment's worth at most).
    pub records: Vec<RecordBatch>,
    /// Set when the fetch offset and last fetched epoch do not match the leader's log.
    pub diverging_epoch: Option<EpochEndOffset>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OffsetForLeaderEpochPartition {
    pub tp: TopicPartition,
    pub current_leader_epoch: Option<LeaderEpoch>,
    pub leader_epoch: LeaderEpoch,
}

/// The largest epoch at or below the asked one, and the offset where it ended on the leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EpochEndOffset {
    pub tp: TopicPartition,
    pub error: ErrorCode,
    pub leader_epoch: LeaderEpoch,
    pub end_offset: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum OffsetSpec {
    Earliest,
    Latest,
}

// ---- ZooKeeper ----

/// A client asks for a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZkConnect {
    pub session_timeout_ms: u64,
}

/// ZooKeeper granted a session, with the timeout it negotiated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZkConnected {
    pub session_id: u64,
    pub session_timeout_ms: u64,
}

/// A client keeps its session alive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZkPing {
    pub session_id: u64,
}

/// ZooKeeper's answer to a ping of a live session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZkPong {
    pub session_id: u64,
}

/// One operation of a session, numbered by the client (`xid`) so it can match the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZkRequest {
    pub session_id: u64,
    pub xid: u64,
    pub op: ZkOp,
}

/// ZooKeeper's answer to the request numbered `xid`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZkResponse {
    pub xid: u64,
    pub result: ZkResult,
}

/// A one-shot watch fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZkWatch {
    pub session_id: u64,
    pub path: String,
    pub kind: ZkWatchKind,
}

/// The session is gone: ZooKeeper deleted its ephemeral znodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZkSessionExpired {
    pub session_id: u64,
}

/// Typed znode contents: the simulator keeps the structure Kafka stores in ZooKeeper without
/// its JSON encoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ZkData {
    Empty,
    /// `/controller`: which broker is controller.
    Controller {
        broker_id: BrokerId,
    },
    /// `/controller_epoch`.
    ControllerEpoch(i32),
    /// `/brokers/ids/N`.
    Broker {
        broker_id: BrokerId,
    },
    /// `/brokers/topics/T`: the replica assignment, partition -> replicas.
    TopicAssignment(BTreeMap<u32, Vec<BrokerId>>),
    /// `/brokers/topics/T/partitions/P/state`.
    PartitionState {
        leader: Option<BrokerId>,
        leader_epoch: LeaderEpoch,
        isr: Vec<BrokerId>,
        controller_epoch: i32,
    },
    /// `/isr_change_notification/isr_change_NNNNNNNNNN`: partitions whose ISR a leader wrote
    /// itself (before KIP-497's AlterIsr), for the controller to pass on.
    IsrChangeNotification(Vec<TopicPartition>),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ZkOp {
    Create {
        path: String,
        data: ZkData,
        ephemeral: bool,
    },
    /// A persistent sequential znode: ZooKeeper appends the parent's child version, ten
    /// digits wide, to `path_prefix` (`CreateMode.PERSISTENT_SEQUENTIAL`).
    CreateSequential {
        path_prefix: String,
        data: ZkData,
    },
    /// Conditional when `version` is `Some`: fails with `BadVersion` if the znode moved on.
    SetData {
        path: String,
        data: ZkData,
        version: Option<i32>,
    },
    GetData {
        path: String,
        watch: bool,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    /// The client closes its session (ZooKeeper's `OpCode.closeSession`, sent by
    /// `ZooKeeper.close`): its ephemeral znodes go at once, not after the session timeout.
    CloseSession,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ZkResult {
    Created,
    /// `SetData` or `Delete` succeeded; the new version.
    Ok {
        version: i32,
    },
    Data {
        data: ZkData,
        version: i32,
    },
    Children(Vec<String>),
    NoNode,
    NodeExists,
    BadVersion,
    SessionExpired,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ZkWatchKind {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}
