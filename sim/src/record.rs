//! The event record of one run, and the final state of every replica after the settle.
//!
//! Everything the simulator reports (checkers, narration, JSON outcome, trace hash) is
//! computed from these two values, and from the little configuration no event carries
//! (`check::CheckConfig`: each topic's `min.insync.replicas` and each producer's `acks`).

use kafka_model::{BrokerId, Event, LeaderEpoch, RecordId, TopicPartition};
use serde::Serialize;

/// One event with the simulated time it happened at.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedEvent {
    /// Simulated milliseconds since the start of the run.
    pub at_ms: u64,
    pub event: Event,
}

/// A fault the world injected, recorded next to the domain events for narration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultRecord {
    pub at_ms: u64,
    /// `crash`, `restart`, `power-loss`, `pause`, `resume`, `isolate`, `partition`, `heal`,
    /// `slow`, `loss`, or `settle` (the final heal-all and restart-all).
    pub action: String,
    /// Plain words: "broker 1 (leader of orders-0)".
    pub detail: String,
}

/// One replica's log and offsets as the run left it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FinalReplica {
    pub broker: BrokerId,
    /// `(offset, record id, record leader epoch)` from the log start offset to the LEO.
    pub log: Vec<(u64, RecordId, LeaderEpoch)>,
    pub log_start_offset: u64,
    pub log_end_offset: u64,
    pub high_watermark: u64,
    /// The leader epoch this replica last learned.
    pub leader_epoch: LeaderEpoch,
    pub is_leader: bool,
    /// False if the broker was down at the end.
    pub online: bool,
}

/// One partition as the controller and the replicas left it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FinalPartition {
    pub tp: TopicPartition,
    /// The leader in the controller's partition state (ZooKeeper).
    pub leader: Option<BrokerId>,
    pub leader_epoch: LeaderEpoch,
    pub isr: Vec<BrokerId>,
    /// The assignment; the first is the preferred leader.
    pub replicas: Vec<BrokerId>,
    /// One entry per assigned replica, in assignment order.
    pub replica_states: Vec<FinalReplica>,
}

/// The final state of the whole cluster, partitions in (topic, partition) order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FinalState {
    pub partitions: Vec<FinalPartition>,
    /// Every consumer group of the scenario, as its coordinator describes it at the end.
    pub groups: Vec<FinalGroup>,
}

/// A consumer group as `kafka-consumer-groups.sh --describe` would see it after the settle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FinalGroup {
    pub group: String,
    /// The broker leading the group's `__consumer_offsets` partition, if any.
    pub coordinator: Option<BrokerId>,
    /// `None` when the coordinator is down or still loading: the tool would fail.
    pub state: Option<String>,
    pub generation: i32,
    pub protocol: Option<String>,
    /// Member id and its assigned partitions.
    pub members: Vec<(String, Vec<TopicPartition>)>,
    /// The committed offset of every partition the group committed.
    pub offsets: Vec<(TopicPartition, u64)>,
}
