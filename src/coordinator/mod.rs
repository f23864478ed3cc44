//! The group coordinator: Kafka's classic consumer-group protocol, hosted by a broker.
//!
//! Every group lives in one partition of `__consumer_offsets`, chosen by
//! [`offsets_partition_for`]. The broker that leads that partition coordinates the group. That
//! one rule is why consumer groups survive broker failures the same way records do: the
//! group's committed offsets and its last assignment are records in a replicated partition,
//! written with `acks=all`, and when leadership of the partition moves, the new leader reads
//! the partition back ("loads" it) before it answers for the group. Until the read finishes it
//! answers `COORDINATOR_LOAD_IN_PROGRESS`; a broker that does not lead the partition answers
//! `NOT_COORDINATOR`.
//!
//! A group moves through Kafka's states:
//!
//! ```text
//! Empty --join--> PreparingRebalance --all joined / rebalance timeout--> CompletingRebalance
//!   ^                    ^                                                  | leader's SyncGroup
//!   |                    +-- join, leave, session expiry -------- Stable <--+ (written to the log)
//!   +-- last member gone
//! ```
//!
//! Each completed join round starts a new generation. Members name their generation in every
//! SyncGroup, Heartbeat and OffsetCommit, and a request from an older generation is refused with
//! `ILLEGAL_GENERATION`: that is what stops a member that was thrown out (a long GC pause, a
//! network partition) from committing over the partitions' new owners.
//!
//! The coordinator is a plain state machine like the rest of the model. It does not append to
//! the log itself: it asks its broker to, with a [`CoordinatorRequest::Append`] in its
//! [`Output`], and the broker appends as leader through the same replication path a
//! producer's `acks=all` request takes, and reports back with
//! [`GroupCoordinator::on_append_done`].
//!
//! ## Layout
//!
//! The files follow the split of Kafka's own coordinator, so a rule can be looked up next to
//! the Kafka class it follows:
//!
//! - `mod.rs`: the coordinator's types, its inputs from the broker and its timers;
//! - `group_metadata.rs`: one group and its members (`GroupMetadata`, `MemberMetadata`);
//! - `join.rs`: JoinGroup and the join phase of a rebalance (`GroupCoordinator.handleJoinGroup`,
//!   `DelayedJoin`, `InitialDelayedJoin`);
//! - `sync.rs`: SyncGroup and storing the leader's assignment (`handleSyncGroup`);
//! - `heartbeat.rs`: heartbeats, LeaveGroup and session expiry (`handleHeartbeat`,
//!   `handleLeaveGroup`, `DelayedHeartbeat`);
//! - `offsets.rs`: OffsetCommit and OffsetFetch (`handleCommitOffsets`, `handleFetchOffsets`);
//! - `txn_offsets.rs`: offsets committed inside transactions, pending until the
//!   transaction's marker (`handleTxnCommitOffsets`, `onTransactionCompleted`, the
//!   transactional half of `GroupMetadata`'s offsets);
//! - `group_metadata_manager.rs`: loading and unloading `__consumer_offsets` partitions and
//!   appending to them (`GroupMetadataManager`);
//! - `offsets_replay.rs`: reading a partition back on loading, transactions included
//!   (`GroupMetadataManager.doLoadGroupsAndOffsets`);
//! - `records.rs`: the records of `__consumer_offsets` (`GroupMetadataManager`'s key and value
//!   schemas).
//!
//! The request files each add methods to the one [`GroupCoordinator`]: the protocol is a
//! single state machine, and the files only sort its methods by the request they answer.

mod group_metadata;
mod group_metadata_manager;
mod heartbeat;
mod join;
mod offsets;
mod offsets_replay;
#[cfg(test)]
mod offsets_replay_tests;
mod records;
mod sync;
#[cfg(test)]
mod test_harness;
pub mod transaction;
mod txn_offsets;
#[cfg(test)]
mod txn_offsets_tests;

pub use group_metadata::{Group, GroupState, Member};
pub use records::{GroupMetadataRecord, GroupRecord, StoredMember};
pub use txn_offsets::PendingTxnOffset;

use crate::actor::Output;
use crate::protocol::*;
use crate::types::*;
use group_metadata_manager::{AppendPurpose, PartitionLoad};
use std::collections::BTreeMap;

/// How long reading a `__consumer_offsets` partition takes. Kafka reads it on a background
/// thread; here it is a fixed delay, long enough that clients can see the
/// `COORDINATOR_LOAD_IN_PROGRESS` window.
pub const LOAD_DELAY_MS: u64 = 50;

/// The coordinator's broker-level settings.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    pub offsets_topic_num_partitions: u32,
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: u64,
    pub group_max_session_timeout_ms: u64,
    /// Which of Kafka's two classic-group coordinators to follow where they differ: the
    /// Scala `kafka.coordinator.group.GroupCoordinator` that every ZooKeeper-mode broker
    /// runs (`false`), or the Java `GroupMetadataManager` of the new coordinator runtime
    /// (`true`: KRaft brokers with `group.coordinator.new.enable` in 3.7, every broker from
    /// 4.0). The simulated brokers are ZooKeeper-mode and use the Scala rules; the
    /// differential tests against Kafka's Java classes use the Java ones.
    pub new_group_coordinator: bool,
    /// Whether members that send no SyncGroup within the rebalance timeout after a join round
    /// are removed (Kafka's `DelayedSync`, see [`KafkaVersion::has_pending_sync_deadline`]).
    ///
    /// [`KafkaVersion::has_pending_sync_deadline`]: crate::kafka_version::KafkaVersion::has_pending_sync_deadline
    pub pending_sync_deadline: bool,
    /// Whether a new member's session can run out while its JoinGroup waits (Kafka's
    /// `isNew`, see [`KafkaVersion::has_new_member_join_timeout`]).
    ///
    /// [`KafkaVersion::has_new_member_join_timeout`]: crate::kafka_version::KafkaVersion::has_new_member_join_timeout
    pub new_member_join_timeout: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupTimer {
    /// Reading a partition that this broker began to lead in `leader_epoch` is done.
    LoadDone {
        partition: u32,
        leader_epoch: LeaderEpoch,
    },
    /// The join phase of rebalance `round` of a group ends (initial delay or rebalance
    /// timeout).
    JoinDeadline { group: String, round: u64 },
    /// The members of `generation` that have not sent their SyncGroup by now are removed
    /// (Kafka's `DelayedSync`).
    SyncDeadline { group: String, generation: i32 },
    /// A member id handed out with MEMBER_ID_REQUIRED may have gone unused for a session.
    PendingMemberCheck { group: String, member: String },
    /// A member's session may have expired.
    SessionCheck { group: String, member: String },
}

/// A record the coordinator needs appended to its partition of `__consumer_offsets`.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingAppend {
    pub append_id: u64,
    pub partition: u32,
    pub records: Vec<(String, String)>,
    /// Set for a transactional offset commit: the records go in one transactional batch
    /// stamped with the transaction's producer id and epoch; `None` for every other write.
    pub transactional: Option<TxnAppend>,
}

/// The producer a transactional offset commit is written for (`GroupMetadataManager
/// .storeOffsets` builds its batch with the request's producer id and epoch and the
/// transactional attribute), so the transaction's marker on the partition ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnAppend {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// What only the broker can do for the coordinator: it holds the log.
#[derive(Clone, Debug, PartialEq)]
pub enum CoordinatorRequest {
    /// Append records to the coordinator's partition of `__consumer_offsets` as leader, with
    /// `acks=all` (Kafka's `GroupMetadataManager` through `ReplicaManager.appendRecords`);
    /// the answer comes back through [`GroupCoordinator::on_append_done`].
    Append(PendingAppend),
}

/// What the coordinator wants done after one input: the model's effects, with appends as
/// requests to its broker.
pub type CoordinatorOutput = Output<GroupTimer, CoordinatorRequest>;

pub struct GroupCoordinator {
    broker: BrokerId,
    config: CoordinatorConfig,
    partitions: BTreeMap<u32, PartitionLoad>,
    groups: BTreeMap<String, Group>,
    pending: BTreeMap<u64, AppendPurpose>,
    next_append_id: u64,
    /// Member ids handed out in each (partition, leader epoch): unique across coordinators.
    next_member_number: u64,
}

impl GroupCoordinator {
    pub fn new(broker: BrokerId, config: CoordinatorConfig) -> GroupCoordinator {
        assert!(config.offsets_topic_num_partitions > 0);
        GroupCoordinator {
            broker,
            config,
            partitions: BTreeMap::new(),
            groups: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_append_id: 0,
            next_member_number: 0,
        }
    }

    pub fn partition_for(&self, group_id: &str) -> u32 {
        offsets_partition_for(group_id, self.config.offsets_topic_num_partitions)
    }

    pub fn groups(&self) -> &BTreeMap<String, Group> {
        &self.groups
    }

    /// Whether this broker answers for the group now.
    fn check_coordinator(&self, group_id: &str) -> Result<LeaderEpoch, ErrorCode> {
        match self.partitions.get(&self.partition_for(group_id)) {
            Some(PartitionLoad::Loaded(epoch)) => Ok(*epoch),
            Some(PartitionLoad::Loading(_)) => Err(ErrorCode::CoordinatorLoadInProgress),
            None => Err(ErrorCode::NotCoordinator),
        }
    }

    pub fn on_timer(&mut self, now_ms: u64, timer: GroupTimer, out: &mut CoordinatorOutput) {
        match timer {
            GroupTimer::LoadDone { .. } => {
                unreachable!("the broker handles LoadDone: it holds the log")
            }
            GroupTimer::JoinDeadline { group, round } => {
                self.on_join_deadline(now_ms, &group, round, out)
            }
            GroupTimer::SyncDeadline { group, generation } => {
                self.on_sync_deadline(now_ms, &group, generation, out)
            }
            GroupTimer::PendingMemberCheck { group, member } => {
                self.on_pending_member_check(now_ms, &group, &member, out)
            }
            GroupTimer::SessionCheck { group, member } => {
                self.on_session_check(now_ms, &group, &member, out)
            }
        }
    }
}

fn join_error(correlation_id: u64, error: ErrorCode) -> Message {
    Message::JoinGroupResponse(join_error_response(correlation_id, error))
}

fn join_error_response(correlation_id: u64, error: ErrorCode) -> JoinGroupResponse {
    assert_ne!(error, ErrorCode::None);
    JoinGroupResponse {
        correlation_id,
        error,
        generation_id: -1,
        protocol: None,
        leader: String::new(),
        member_id: String::new(),
        members: Vec::new(),
    }
}

fn sync_error(correlation_id: u64, error: ErrorCode) -> Message {
    assert_ne!(error, ErrorCode::None);
    Message::SyncGroupResponse(SyncGroupResponse {
        correlation_id,
        error,
        assignment: Vec::new(),
    })
}
