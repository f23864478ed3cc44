//! The Kafka controller: the one broker that decides partition leaders and ISRs and tells the
//! other brokers.
//!
//! Kafka has had two controllers. In ZooKeeper mode (every version this model follows) one
//! broker wins the ephemeral `/controller` znode and keeps the cluster's state in ZooKeeper;
//! that controller is [`zk`]. In KRaft mode (KIP-500) a quorum of controllers keeps the state
//! in a replicated metadata log; it would sit beside it as a module of its own, sharing the
//! election rules.
//!
//! The split follows what changes together:
//! - [`election`]: the rules, as pure functions (Kafka's `PartitionLeaderElectionAlgorithms`
//!   and the partition and replica state transitions): who may lead, what the ISR becomes.
//!   They hold for both modes, and are tested on their own.
//! - [`zk`]: the ZooKeeper-mode controller (Kafka's `KafkaController` with its
//!   `PartitionStateMachine` and `ReplicaStateMachine`): loading the cluster from ZooKeeper,
//!   reacting to watches, writing partition states conditionally, and sending LeaderAndIsr
//!   and UpdateMetadata requests.
//!
//! The ZooKeeper-mode types are re-exported here, so `kafka_model::controller::Controller`
//! names the controller a broker hosts.

pub mod election;
pub mod kraft;
pub mod zk;

#[cfg(test)]
mod tests;

pub use zk::{
    state_path, topic_path, AutoLeaderRebalance, Controller, ControllerOutput, ControllerRequest,
    ControllerTimer, ControllerZk, PartitionZkState, WriteWhy,
};
