//! The messages Kafka processes exchange, as Rust values.
//!
//! These follow Kafka's wire protocol by name and by the fields that matter for replication
//! (fetch offsets, leader epochs, controller epochs, the high watermark in fetch responses),
//! and leave out what does not (sizes, compression, throttling). ZooKeeper's client protocol
//! is here too, reduced to what Kafka's ZooKeeper mode uses: sessions, ephemeral znodes,
//! conditional updates and one-shot watches.

use crate::assignor::Strategy;
use crate::types::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything one process can send another.
#[derive(Clone, Debug, Serialize)]
pub enum Message {
    // ---- ZooKeeper client protocol ----
    ZkConnect {
        session_timeout_ms: u64,
    },
    ZkConnected {
        session_id: u64,
        session_timeout_ms: u64,
    },
    ZkPing {
        session_id: u64,
    },
    ZkPong {
        session_id: u64,
    },
    ZkRequest {
        session_id: u64,
        xid: u64,
        op: ZkOp,
    },
    ZkResponse {
        xid: u64,
        result: ZkResult,
    },
    /// A one-shot watch fired.
    ZkWatch {
        session_id: u64,
        path: String,
        kind: ZkWatchKind,
    },
    /// The session is gone: ZooKeeper deleted its ephemeral znodes.
    ZkSessionExpired {
        session_id: u64,
    },

    // ---- controller to brokers ----
    LeaderAndIsr {
        controller_id: BrokerId,
        controller_epoch: i32,
        partitions: Vec<LeaderAndIsrPartition>,
    },
    UpdateMetadata {
        controller_id: BrokerId,
        controller_epoch: i32,
        live_brokers: Vec<BrokerId>,
        partitions: Vec<PartitionMetadata>,
    },

    // ---- brokers to controller ----
    /// KIP-497's AlterIsr (AlterPartition): a leader asks the controller to change its ISR.
    AlterIsr {
        broker_id: BrokerId,
        tp: TopicPartition,
        leader_epoch: LeaderEpoch,
        new_isr: Vec<BrokerId>,
        /// The version of the partition state the leader last saw (the znode version).
        partition_epoch: i32,
    },
    AlterIsrResponse {
        tp: TopicPartition,
        error: ErrorCode,
        /// The state the controller wrote (or holds), when it accepted or fenced the request.
        state: Option<LeaderAndIsrPartition>,
    },

    // ---- replication and consumption ----
    Fetch(FetchRequest),
    FetchResponse(FetchResponse),
    OffsetsForLeaderEpoch(OffsetsForLeaderEpochRequest),
    OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse),

    // ---- producer ----
    Produce(ProduceRequest),
    ProduceResponse(ProduceResponse),

    // ---- metadata and offsets for clients ----
    Metadata(MetadataRequest),
    MetadataResponse(MetadataResponse),
    ListOffsets(ListOffsetsRequest),
    ListOffsetsResponse(ListOffsetsResponse),

    // ---- connections ----
    /// Not a Kafka request: see [`Disconnected`].
    Disconnected(Disconnected),

    // ---- consumer groups (the classic protocol) ----
    FindCoordinator {
        correlation_id: u64,
        group_id: String,
    },
    FindCoordinatorResponse {
        correlation_id: u64,
        error: ErrorCode,
        coordinator: Option<BrokerId>,
    },
    JoinGroup {
        correlation_id: u64,
        group_id: String,
        /// Empty for a member joining for the first time.
        member_id: String,
        /// The member id the coordinator hands out starts with this (`client.id`).
        client_id: String,
        group_instance_id: Option<String>,
        session_timeout_ms: u64,
        /// The consumer's `max.poll.interval.ms`.
        rebalance_timeout_ms: u64,
        /// The assignors this member supports, in its order of preference.
        protocols: Vec<Strategy>,
        subscription: Subscription,
    },
    JoinGroupResponse {
        correlation_id: u64,
        error: ErrorCode,
        generation_id: i32,
        protocol: Option<Strategy>,
        leader: String,
        member_id: String,
        /// Every member's subscription, for the leader only; empty for the others.
        members: Vec<GroupMemberSubscription>,
    },
    SyncGroup {
        correlation_id: u64,
        group_id: String,
        generation_id: i32,
        member_id: String,
        /// The leader's assignment for every member; empty from the others.
        assignments: Vec<(String, Vec<TopicPartition>)>,
    },
    SyncGroupResponse {
        correlation_id: u64,
        error: ErrorCode,
        assignment: Vec<TopicPartition>,
    },
    Heartbeat {
        correlation_id: u64,
        group_id: String,
        generation_id: i32,
        member_id: String,
    },
    HeartbeatResponse {
        correlation_id: u64,
        error: ErrorCode,
    },
    LeaveGroup {
        correlation_id: u64,
        group_id: String,
        member_id: String,
    },
    LeaveGroupResponse {
        correlation_id: u64,
        error: ErrorCode,
    },
    OffsetCommit {
        correlation_id: u64,
        group_id: String,
        generation_id: i32,
        member_id: String,
        offsets: Vec<(TopicPartition, u64)>,
    },
    OffsetCommitResponse {
        correlation_id: u64,
        error: ErrorCode,
    },
    OffsetFetch {
        correlation_id: u64,
        group_id: String,
        partitions: Vec<TopicPartition>,
    },
    OffsetFetchResponse {
        correlation_id: u64,
        error: ErrorCode,
        /// `None`: the group never committed an offset for the partition.
        offsets: Vec<(TopicPartition, Option<u64>)>,
    },
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

impl Message {
    /// Kafka's (or ZooKeeper's) name for the message kind, for traces and narration.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::ZkConnect { .. } => "ZkConnect",
            Message::ZkConnected { .. } => "ZkConnected",
            Message::ZkPing { .. } => "ZkPing",
            Message::ZkPong { .. } => "ZkPong",
            Message::ZkRequest { .. } => "ZkRequest",
            Message::ZkResponse { .. } => "ZkResponse",
            Message::ZkWatch { .. } => "ZkWatch",
            Message::ZkSessionExpired { .. } => "ZkSessionExpired",
            Message::LeaderAndIsr { .. } => "LeaderAndIsr",
            Message::UpdateMetadata { .. } => "UpdateMetadata",
            Message::AlterIsr { .. } => "AlterIsr",
            Message::AlterIsrResponse { .. } => "AlterIsrResponse",
            Message::Fetch(_) => "Fetch",
            Message::FetchResponse(_) => "FetchResponse",
            Message::OffsetsForLeaderEpoch(_) => "OffsetsForLeaderEpoch",
            Message::OffsetsForLeaderEpochResponse(_) => "OffsetsForLeaderEpochResponse",
            Message::Produce(_) => "Produce",
            Message::ProduceResponse(_) => "ProduceResponse",
            Message::Metadata(_) => "Metadata",
            Message::MetadataResponse(_) => "MetadataResponse",
            Message::ListOffsets(_) => "ListOffsets",
            Message::ListOffsetsResponse(_) => "ListOffsetsResponse",
            Message::Disconnected(_) => "Disconnected",
            Message::FindCoordinator { .. } => "FindCoordinator",
            Message::FindCoordinatorResponse { .. } => "FindCoordinatorResponse",
            Message::JoinGroup { .. } => "JoinGroup",
            Message::JoinGroupResponse { .. } => "JoinGroupResponse",
            Message::SyncGroup { .. } => "SyncGroup",
            Message::SyncGroupResponse { .. } => "SyncGroupResponse",
            Message::Heartbeat { .. } => "Heartbeat",
            Message::HeartbeatResponse { .. } => "HeartbeatResponse",
            Message::LeaveGroup { .. } => "LeaveGroup",
            Message::LeaveGroupResponse { .. } => "LeaveGroupResponse",
            Message::OffsetCommit { .. } => "OffsetCommit",
            Message::OffsetCommitResponse { .. } => "OffsetCommitResponse",
            Message::OffsetFetch { .. } => "OffsetFetch",
            Message::OffsetFetchResponse { .. } => "OffsetFetchResponse",
        }
    }
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
    pub acks: Acks,
    pub timeout_ms: u64,
    pub partitions: Vec<ProducePartition>,
}

/// One partition's batch in a produce request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProducePartition {
    pub tp: TopicPartition,
    pub records: Vec<ProducerRecord>,
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FetchPartition {
    pub tp: TopicPartition,
    pub fetch_offset: u64,
    /// The epoch of the last record the fetcher has (KIP-595 style divergence check).
    pub last_fetched_epoch: Option<LeaderEpoch>,
    /// The leader epoch the fetcher believes is current (KIP-320); `None` skips the check.
    pub current_leader_epoch: Option<LeaderEpoch>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FetchPartitionResponse {
    pub tp: TopicPartition,
    pub error: ErrorCode,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    /// The leader's log end offset when it answered.
    pub log_end_offset: u64,
    /// The leader epoch of the replica that answered.
    pub leader_epoch: LeaderEpoch,
    pub records: Vec<Record>,
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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ZkOp {
    Create {
        path: String,
        data: ZkData,
        ephemeral: bool,
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
