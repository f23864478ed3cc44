//! Identifiers and values every Kafka process shares: broker ids, partitions, records.
//!
//! Offsets, high watermarks and log end offsets are exclusive ends, exactly as in Kafka:
//! `high_watermark = 3` means offsets 0, 1 and 2 are committed.

use serde::Serialize;
use std::fmt;

/// A broker's `broker.id`.
pub type BrokerId = i32;

/// A partition leader epoch. Kafka starts a new partition at epoch 0 and bumps it on every
/// leader election.
pub type LeaderEpoch = i32;

/// Every process in a simulated cluster. The order (ZooKeeper first, then brokers, then
/// clients) is used wherever processes are listed, so it is part of the deterministic output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum NodeId {
    ZooKeeper,
    Broker(BrokerId),
    /// A producer client, by its index in the scenario.
    Producer(u32),
    /// A consumer client, by its index in the scenario.
    Consumer(u32),
    /// The admin client that creates the topics.
    Admin,
    /// A KRaft controller node (`process.roles=controller`), by its `node.id`: a voter of
    /// the metadata quorum. Node ids are one space shared with the brokers, as in Kafka.
    Controller(BrokerId),
    /// A consume-transform-produce application (a consumer and a producer in one process),
    /// by its index in the scenario.
    Processor(u32),
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeId::ZooKeeper => write!(f, "zookeeper"),
            NodeId::Broker(id) => write!(f, "broker {id}"),
            NodeId::Producer(i) => write!(f, "producer #{i}"),
            NodeId::Consumer(i) => write!(f, "consumer #{i}"),
            NodeId::Processor(i) => write!(f, "processor #{i}"),
            NodeId::Admin => write!(f, "admin"),
            NodeId::Controller(id) => write!(f, "controller {id}"),
        }
    }
}

/// A topic partition, written `topic-N` as Kafka's tools print it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: u32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Parses `topic-N`. Topic names may contain `-`, so the number follows the last one;
    /// it is plain digits (no sign) that fit a partition number.
    pub fn parse(text: &str) -> Option<TopicPartition> {
        let (topic, number) = text.rsplit_once('-')?;
        if topic.is_empty() || number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(TopicPartition::new(topic, number.parse().ok()?))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// The identity of one produced record: which producer sent it and its sequence number in
/// that producer's workload. The simulator never compares record payloads to decide what
/// was lost; it compares these ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RecordId {
    pub producer: u32,
    pub seq: u64,
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}#{}", self.producer, self.seq)
    }
}

/// A record as the producer hands it over, before the leader gives it an offset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProducerRecord {
    pub id: RecordId,
    pub timestamp_ms: u64,
    pub key: Option<String>,
    /// A short label that names the record in output; the payload it stands for is
    /// `value_bytes` long (the simulator does not carry payload bytes). `None` is Kafka's
    /// null value: a tombstone, which deletes its key from a compacted topic.
    pub value: Option<String>,
    /// The size of the value Kafka would store, for every rule measured in bytes (see
    /// [`crate::record_size`]); 0 for a tombstone.
    pub value_bytes: u32,
    pub headers: Vec<(String, String)>,
}

/// What an idempotent producer writes in a batch's header (record batch v2's producer id,
/// producer epoch and base sequence; the last sequence follows from the record count): the
/// leader's duplicate and order checks read it (`ProducerAppendInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BatchStamp {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub last_sequence: i32,
    /// The batch attribute a transactional producer sets (`RecordBatch.isTransactional`):
    /// its records count only once a commit marker follows them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_transactional: bool,
}

/// Which transaction of which transactional producer instance: the producer id and epoch
/// the instance got from InitProducerId, and the transaction's number, counted by the
/// instance from 1. A new instance of the same transactional id gets a higher epoch, and an
/// instance that bumps its epoch (KIP-360) keeps counting, so the three name one
/// transaction of a producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TransactionRef {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub number: u64,
}

/// Which way a transaction ended: the type of a control record (`ControlRecordType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlRecordType {
    Abort,
    Commit,
}

/// The one record of a control batch: a transaction marker (Kafka's `EndTransactionMarker`),
/// which the partition leader appends when the transaction coordinator asks
/// (`WriteTxnMarkers`). It takes an offset like any record, but no reader is ever handed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EndTxnMarker {
    pub control_type: ControlRecordType,
    /// The coordinator's epoch (its `__transaction_state` partition's leader epoch): a
    /// marker from a deposed coordinator is refused.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    pub fn is_abort(self) -> bool {
        self.control_type == ControlRecordType::Abort
    }
}

/// A record in a replica's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    pub offset: u64,
    /// The leader epoch of the batch: the epoch of the leader that appended it.
    pub leader_epoch: LeaderEpoch,
    pub id: RecordId,
    pub timestamp_ms: u64,
    pub key: Option<String>,
    /// `None` for a tombstone (Kafka's null value).
    pub value: Option<String>,
    /// The size of the payload `value` stands for.
    #[serde(skip)]
    pub value_bytes: u32,
    pub headers: Vec<(String, String)>,
    /// The bytes this record takes in its batch: its `DefaultRecord.sizeInBytes`, with its
    /// offset and timestamp deltas from the batch's base. The batch header is the batch's
    /// (see [`RecordBatch::size_bytes`]).
    pub size_bytes: u64,
    /// The header of the batch it came in, when an idempotent producer wrote it: every
    /// record of the batch carries the same stamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer: Option<BatchStamp>,
}

impl Record {
    pub fn from_producer(
        offset: u64,
        leader_epoch: LeaderEpoch,
        r: ProducerRecord,
        size_bytes: u64,
        producer: Option<BatchStamp>,
    ) -> Self {
        Record {
            offset,
            leader_epoch,
            id: r.id,
            timestamp_ms: r.timestamp_ms,
            key: r.key,
            value: r.value,
            value_bytes: r.value_bytes,
            headers: r.headers,
            size_bytes,
            producer,
        }
    }

    /// A record written by hand (a tool's input, a test): epoch 0, its offset as its id,
    /// no headers, the value's length as its payload, and its size as the only record of a
    /// batch based at it.
    pub fn by_hand(
        offset: u64,
        key: Option<String>,
        value: Option<String>,
        timestamp_ms: u64,
        producer: Option<BatchStamp>,
    ) -> Record {
        let mut record = Record {
            offset,
            leader_epoch: 0,
            id: RecordId {
                producer: 0,
                seq: offset,
            },
            timestamp_ms,
            value_bytes: value.as_ref().map_or(0, |v| v.len() as u32),
            key,
            value,
            headers: Vec::new(),
            size_bytes: 0,
            producer,
        };
        record.size_bytes = crate::record_size::record_fields_size_bytes(
            0,
            0,
            crate::record_size::RecordFields::of_record(&record),
        );
        record
    }

    /// Whether this record deletes its key (a null value).
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
}

/// A record batch as a log keeps it and a fetch carries it (record batch format v2, no
/// compression): the unit Kafka appends, replicates, cleans and reads.
///
/// The batch keeps its base and last offset even when the cleaner has removed records
/// from it, and a batch can be empty (Kafka's cleaner keeps an idempotent producer's last
/// batch, header only, so the producer's sequence survives a reload): a reader's next
/// offset is the last batch's `last_offset + 1`, whatever records it held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordBatch {
    pub base_offset: u64,
    pub last_offset: u64,
    /// The partition leader epoch in the header: the epoch of the leader that appended it.
    pub leader_epoch: LeaderEpoch,
    /// The idempotent producer's header fields, if one wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer: Option<BatchStamp>,
    /// KIP-534's delete horizon: set by the first cleaning round that kept a tombstone of
    /// this batch; a later round at or after it removes the batch's tombstones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_horizon_ms: Option<u64>,
    /// Set on a control batch (the `isControl` attribute): its one record is this marker,
    /// and `records` is empty, since no reader is handed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<EndTxnMarker>,
    /// The header's base timestamp: the records' timestamp deltas are from it. The first
    /// record's timestamp, or the delete horizon once one is set.
    pub base_timestamp_ms: u64,
    /// The header's max timestamp: the largest record timestamp the batch was written
    /// with. Cleaning keeps it.
    pub max_timestamp_ms: u64,
    pub records: Vec<Record>,
}

impl RecordBatch {
    /// The batch's bytes: Kafka's `DefaultRecordBatch.sizeInBytes`, the header and its records.
    pub fn size_bytes(&self) -> u64 {
        let control_bytes = match self.control {
            Some(_) => crate::record_size::CONTROL_RECORD_BYTES,
            None => 0,
        };
        crate::record_size::RECORD_BATCH_OVERHEAD_BYTES
            + control_bytes
            + self.records.iter().map(|r| r.size_bytes).sum::<u64>()
    }

    /// Whether a transactional producer wrote this batch (data or marker).
    pub fn is_transactional(&self) -> bool {
        self.producer.is_some_and(|p| p.is_transactional)
    }

    pub fn is_control(&self) -> bool {
        self.control.is_some()
    }

    /// The offset after this batch: where a reader that took it goes on.
    pub fn next_offset(&self) -> u64 {
        self.last_offset + 1
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records of this batch at or after `offset`, as a batch of their own; `None` if
    /// none is. What a read from `offset` gets under message format v0/v1 (before 0.11),
    /// where an uncompressed message set's entries are single messages, each with its own
    /// offset: Kafka 0.10.2's `FileMessageSet.searchForOffsetWithSize` starts a read at the
    /// first shallow entry whose offset is at or after the target, not at a batch.
    pub fn from_offset(&self, offset: u64) -> Option<RecordBatch> {
        if self.base_offset >= offset {
            return Some(self.clone());
        }
        let kept: Vec<Record> = self
            .records
            .iter()
            .filter(|r| r.offset >= offset)
            .cloned()
            .collect();
        let first = kept.first()?;
        Some(RecordBatch {
            base_offset: first.offset,
            base_timestamp_ms: first.timestamp_ms,
            max_timestamp_ms: kept.iter().map(|r| r.timestamp_ms).max().unwrap_or(0),
            records: kept,
            ..self.clone()
        })
    }

    /// One batch holding `records` (at least one, in offset order), with their first
    /// record's epoch and timestamp: for tests and tools that build a log by hand.
    pub fn of_records(records: Vec<Record>) -> RecordBatch {
        let first = records
            .first()
            .expect("a batch built from records holds one");
        let last = records
            .last()
            .expect("a batch built from records holds one");
        RecordBatch {
            base_offset: first.offset,
            last_offset: last.offset,
            leader_epoch: first.leader_epoch,
            producer: first.producer,
            delete_horizon_ms: None,
            control: None,
            base_timestamp_ms: first.timestamp_ms,
            max_timestamp_ms: records.iter().map(|r| r.timestamp_ms).max().unwrap_or(0),
            records,
        }
    }
}

/// The producer's `acks` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Acks {
    /// `acks=0`: fire and forget, no response.
    None,
    /// `acks=1`: the leader's local append is enough.
    Leader,
    /// `acks=all` (`-1`): every replica in the ISR, and at least `min.insync.replicas`.
    All,
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        })
    }
}

/// Kafka's error codes, by their protocol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ErrorCode {
    None,
    NotLeaderOrFollower,
    LeaderNotAvailable,
    NotEnoughReplicas,
    NotEnoughReplicasAfterAppend,
    RequestTimedOut,
    /// The request's leader epoch is older than the replica's (KIP-320).
    FencedLeaderEpoch,
    /// The request's leader epoch is newer than the replica knows (KIP-320).
    UnknownLeaderEpoch,
    OffsetOutOfRange,
    UnknownTopicOrPartition,
    /// Not attempted because another part of the request failed (AddPartitionsToTxn).
    OperationNotAttempted,
    StaleControllerEpoch,
    /// A conditional update lost a race: the partition state's version moved.
    InvalidUpdateVersion,
    /// The producer gave up on the batch: `delivery.timeout.ms` passed.
    DeliveryTimeout,
    /// A transactional producer dropped the batch unsent because its transaction is being
    /// aborted (Kafka's client-side `TransactionAbortedException`, from
    /// `RecordAccumulator.abortUndrainedBatches`).
    TransactionAborted,
    /// No response came back (the connection dropped or the request was lost).
    NetworkException,
    /// The request is malformed (e.g. an empty transactional id).
    InvalidRequest,
    /// An error the broker did not expect (Kafka's `UNKNOWN_SERVER_ERROR`).
    UnknownServerError,
    // ---- consumer groups ----
    /// The offsets topic does not exist yet, or its partition has no leader.
    CoordinatorNotAvailable,
    /// This broker does not lead the group's `__consumer_offsets` partition.
    NotCoordinator,
    /// This broker leads the partition but is still reading it.
    CoordinatorLoadInProgress,
    /// The request names a generation the group has left behind.
    IllegalGeneration,
    UnknownMemberId,
    RebalanceInProgress,
    /// No assignor every member supports.
    InconsistentGroupProtocol,
    InvalidSessionTimeout,
    /// The JoinGroup came without a member id: the answer carries one, join again with it
    /// (KIP-394).
    MemberIdRequired,
    // ---- fetch sessions (KIP-227) ----
    /// The leader has no fetch session with the request's id.
    FetchSessionIdNotFound,
    /// The request's session epoch is not the one the leader expects.
    InvalidFetchSessionEpoch,
    // ---- ISR changes and offsets ----
    /// The AlterPartition names an epoch newer than the controller knows: it may no longer
    /// be the controller.
    NotController,
    /// The AlterPartition's new ISR holds a replica that may not join it (from 3.3, KIP-841:
    /// in ZooKeeper mode, one on a broker that is not alive).
    IneligibleReplica,
    /// A new leader's high watermark has not yet reached the start of its epoch, so it cannot
    /// tell the latest offset yet (KIP-207, from 2.2).
    OffsetNotAvailable,
    // ---- leader elections an admin asks for (KIP-460) ----
    /// The partition's leader already is the one the election would pick.
    ElectionNotNeeded,
    /// The preferred replica is not alive or not in the ISR, so it cannot lead.
    PreferredLeaderNotAvailable,
    /// A controlled shutdown from a broker the controller does not count as alive.
    BrokerNotAvailable,
    // ---- the idempotent producer (KIP-98) ----
    /// The batch's first sequence does not follow the last one the leader has for its
    /// producer id and epoch: a gap.
    OutOfOrderSequenceNumber,
    /// Before 2.5: the leader has no state for the batch's producer id and its first
    /// sequence is not 0.
    UnknownProducerId,
    /// The batch's producer epoch is older than the one the leader has for its producer id.
    InvalidProducerEpoch,
    // ---- the log layer ----
    /// The leader refused a record (from 2.4, KIP-467: a keyless record on a compacted
    /// topic). Kafka's `InvalidRecordException` is not retriable.
    InvalidRecord,
    /// Before 2.4 the same refusal: Kafka's `CorruptRecordException`, which IS a
    /// `RetriableException`, so a producer retries a keyless record on a compacted topic
    /// until `retries` or `delivery.timeout.ms` runs out.
    CorruptMessage,
    /// The batch is larger than the topic's `segment.bytes` (`RecordBatchTooLargeException`,
    /// not retriable).
    RecordListTooLarge,
    /// DeleteRecords on a topic whose `cleanup.policy` lacks `delete`
    /// (`PolicyViolationException`).
    PolicyViolation,
    // ---- transactions (KIP-98, KIP-588, KIP-890) ----
    /// The request's producer epoch is not the transactional id's current one: a newer
    /// instance took over, or the coordinator aborted the transaction on timeout.
    ProducerFenced,
    /// Another state change of the transactional id is still being written, or its last
    /// transaction is still completing: try again.
    ConcurrentTransactions,
    /// The request does not fit the transaction's state (e.g. a commit after an abort).
    InvalidTxnState,
    /// The producer id is not the one the coordinator has for the transactional id.
    InvalidProducerIdMapping,
    /// `transaction.timeout.ms` is not in (0, `transaction.max.timeout.ms`].
    InvalidTransactionTimeout,
    /// A marker from a coordinator with an older coordinator epoch.
    TransactionCoordinatorFenced,
    // ---- transactional offset commits (KIP-98, KIP-447) ----
    /// OffsetFetch with `require_stable`: the partition has an offset commit that is not yet
    /// final (a transaction's commit waiting for its marker, or a commit still being
    /// written). Kafka's `UnstableOffsetCommitException` is retriable.
    UnstableOffsetCommit,
    /// The request's group instance id belongs to another member id (KIP-345).
    FencedInstanceId,
    /// The offset commit's records are too large for the offsets topic.
    InvalidCommitOffsetSize,
}

impl ErrorCode {
    /// Kafka's name for the error, as its logs and tools print it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::None => "NONE",
            ErrorCode::NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            ErrorCode::LeaderNotAvailable => "LEADER_NOT_AVAILABLE",
            ErrorCode::NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            ErrorCode::NotEnoughReplicasAfterAppend => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            ErrorCode::RequestTimedOut => "REQUEST_TIMED_OUT",
            ErrorCode::FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            ErrorCode::UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            ErrorCode::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            ErrorCode::UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            ErrorCode::OperationNotAttempted => "OPERATION_NOT_ATTEMPTED",
            ErrorCode::StaleControllerEpoch => "STALE_CONTROLLER_EPOCH",
            ErrorCode::InvalidUpdateVersion => "INVALID_UPDATE_VERSION",
            ErrorCode::DeliveryTimeout => "DELIVERY_TIMEOUT",
            ErrorCode::TransactionAborted => "TRANSACTION_ABORTED",
            ErrorCode::NetworkException => "NETWORK_EXCEPTION",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::UnknownServerError => "UNKNOWN_SERVER_ERROR",
            ErrorCode::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            ErrorCode::NotCoordinator => "NOT_COORDINATOR",
            ErrorCode::CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
            ErrorCode::IllegalGeneration => "ILLEGAL_GENERATION",
            ErrorCode::UnknownMemberId => "UNKNOWN_MEMBER_ID",
            ErrorCode::RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            ErrorCode::InconsistentGroupProtocol => "INCONSISTENT_GROUP_PROTOCOL",
            ErrorCode::InvalidSessionTimeout => "INVALID_SESSION_TIMEOUT",
            ErrorCode::MemberIdRequired => "MEMBER_ID_REQUIRED",
            ErrorCode::FetchSessionIdNotFound => "FETCH_SESSION_ID_NOT_FOUND",
            ErrorCode::InvalidFetchSessionEpoch => "INVALID_FETCH_SESSION_EPOCH",
            ErrorCode::NotController => "NOT_CONTROLLER",
            ErrorCode::IneligibleReplica => "INELIGIBLE_REPLICA",
            ErrorCode::OffsetNotAvailable => "OFFSET_NOT_AVAILABLE",
            ErrorCode::ElectionNotNeeded => "ELECTION_NOT_NEEDED",
            ErrorCode::PreferredLeaderNotAvailable => "PREFERRED_LEADER_NOT_AVAILABLE",
            ErrorCode::BrokerNotAvailable => "BROKER_NOT_AVAILABLE",
            ErrorCode::OutOfOrderSequenceNumber => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            ErrorCode::UnknownProducerId => "UNKNOWN_PRODUCER_ID",
            ErrorCode::InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            ErrorCode::InvalidRecord => "INVALID_RECORD",
            ErrorCode::CorruptMessage => "CORRUPT_MESSAGE",
            ErrorCode::RecordListTooLarge => "RECORD_LIST_TOO_LARGE",
            ErrorCode::PolicyViolation => "POLICY_VIOLATION",
            ErrorCode::ProducerFenced => "PRODUCER_FENCED",
            ErrorCode::ConcurrentTransactions => "CONCURRENT_TRANSACTIONS",
            ErrorCode::InvalidTxnState => "INVALID_TXN_STATE",
            ErrorCode::InvalidProducerIdMapping => "INVALID_PRODUCER_ID_MAPPING",
            ErrorCode::InvalidTransactionTimeout => "INVALID_TRANSACTION_TIMEOUT",
            ErrorCode::TransactionCoordinatorFenced => "TRANSACTION_COORDINATOR_FENCED",
            ErrorCode::UnstableOffsetCommit => "UNSTABLE_OFFSET_COMMIT",
            ErrorCode::FencedInstanceId => "FENCED_INSTANCE_ID",
            ErrorCode::InvalidCommitOffsetSize => "INVALID_COMMIT_OFFSET_SIZE",
        }
    }

    /// Whether a producer may retry the request (Kafka's `RetriableException`s).
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::NotLeaderOrFollower
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::NotEnoughReplicas
                | ErrorCode::NotEnoughReplicasAfterAppend
                | ErrorCode::RequestTimedOut
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::NetworkException
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::NotCoordinator
                | ErrorCode::CoordinatorLoadInProgress
                | ErrorCode::CorruptMessage
                | ErrorCode::UnstableOffsetCommit
        )
    }

    /// Errors after which a group member looks for its coordinator again.
    pub fn means_coordinator_moved(self) -> bool {
        matches!(
            self,
            ErrorCode::CoordinatorNotAvailable
                | ErrorCode::NotCoordinator
                | ErrorCode::NetworkException
                | ErrorCode::RequestTimedOut
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Kafka's internal topic for committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The record ids of what group coordinators write to `__consumer_offsets` use producer
/// numbers from here on (plus the broker id), so they never collide with a client's.
pub const COORDINATOR_PRODUCER_BASE: u32 = 1 << 30;

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(unit as i32))
}

/// Kafka's `Utils.abs`: `abs`, except `i32::MIN` maps to 0 instead of overflowing.
pub fn kafka_abs(n: i32) -> i32 {
    if n == i32::MIN {
        0
    } else {
        n.abs()
    }
}

/// The `__consumer_offsets` partition that holds a group, as `GroupMetadataManager.partitionFor`
/// computes it: `Utils.abs(groupId.hashCode) % offsets.topic.num.partitions`.
pub fn offsets_partition_for(group_id: &str, num_partitions: u32) -> u32 {
    assert!(
        num_partitions > 0,
        "the offsets topic has at least one partition"
    );
    kafka_abs(java_string_hash(group_id)) as u32 % num_partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_under_message_format_v1_starts_at_the_offset() {
        let records: Vec<Record> = (97..=100)
            .map(|o| Record::by_hand(o, None, Some("v".into()), 1_000 + o, None))
            .collect();
        let batch = RecordBatch::of_records(records);
        let from = batch.from_offset(99).expect("records at or after 99");
        assert_eq!((from.base_offset, from.last_offset), (99, 100));
        assert_eq!(from.records.len(), 2);
        assert_eq!(from.base_timestamp_ms, 1_099);
        assert_eq!(batch.from_offset(90), Some(batch.clone()));
        assert_eq!(batch.from_offset(101), None);
    }

    #[test]
    fn java_hash_matches_java() {
        // Values from Java's "...".hashCode().
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(kafka_abs(i32::MIN), 0);
        assert_eq!(offsets_partition_for("polygenelubricants", 50), 0);
        assert_eq!(offsets_partition_for("hello", 50), 99_162_322 % 50);
    }
}
