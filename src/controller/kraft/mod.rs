//! The KRaft-mode controller (KIP-500): a quorum of controller nodes that keeps the cluster's
//! metadata in a replicated log, `__cluster_metadata`, instead of in ZooKeeper.
//!
//! Why it is split this way: Kafka itself keeps three layers apart, and each can be tested
//! without the others.
//! - The quorum ([`raft`], Kafka's `KafkaRaftClient` with `QuorumState`, `LeaderState`): who
//!   leads the metadata log in which epoch, and which entries are committed. It knows nothing
//!   of brokers or partitions; its entries are opaque to it.
//! - The partition rules ([`partition_change`], Kafka's `PartitionChangeBuilder` and
//!   `PartitionRegistration`): given a partition's registration and what should change (an
//!   election, a new ISR), the `PartitionChangeRecord` to write, if any, and how replaying
//!   that record changes the registration. Pure functions, checked against Kafka's class.
//! - The active controller (Kafka's `QuorumController` with `ClusterControlManager`,
//!   `BrokerHeartbeatManager` and `ReplicationControlManager`): turns broker registrations,
//!   heartbeats and AlterPartition requests into metadata records, and applies committed ones.
//!
//! Versions: KRaft's behaviour switches on the `metadata.version` feature level
//! ([`MetadataVersion`]), not on the release alone; a scenario's `kafka_version` gives its
//! default, as `kafka-storage.sh format` does.

pub mod cluster_control;
pub mod controller;
pub mod heartbeat;
pub mod image;
pub mod local_changes;
pub mod node;
pub mod partition_change;
pub mod raft;
pub mod records;
pub mod replication_control;

#[cfg(test)]
mod tests;

pub use partition_change::{
    Election, ElectionResult, LeaderChange, LeaderRecoveryState, MetadataVersion,
    PartitionChangeBuilder, PartitionChangeRecord, PartitionRegistration, NO_LEADER,
};

pub use cluster_control::{
    BrokerHeartbeatReply, BrokerHeartbeatRequest, BrokerRegistrationReply,
    BrokerRegistrationRequest,
};
pub use controller::{ControllerConfig, ControllerWrite, QuorumController, TickAction};
pub use image::{BrokerRegistration, MetadataImage};
pub use records::{ApiError, ConfigResource, IncarnationId, MetadataRecord, TopicId};
