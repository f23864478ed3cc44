//! A partition as the KRaft controller registers it, and the records that change it
//! (Kafka's `PartitionRegistration`, `PartitionRecord`, `PartitionChangeRecord`).

use crate::types::{BrokerId, LeaderEpoch};
use serde::Serialize;

/// The `metadata.version` feature levels whose rules differ in the partition and broker
/// rules the model follows (Kafka's `MetadataVersion`), oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum MetadataVersion {
    /// 3.3-IV3: the first production KRaft level; fencing through
    /// `BrokerRegistrationChangeRecord`, in-controlled-shutdown persisted (KIP-841).
    V3_3,
    /// 3.5-IV2: AlterPartition carries broker epochs (KIP-903).
    V3_5,
    /// 3.6-IV0 and later: an ISR shrink no longer bumps the leader epoch (KAFKA-15021).
    V3_6,
    /// 3.7-IV4.
    V3_7,
    /// 3.8-IV0.
    V3_8,
    /// 3.9-IV0.
    V3_9,
    /// 4.0-IV3: eligible leader replicas can be enabled (KIP-966).
    V4_0,
}

/// Whether the partition's leader may have data it cannot vouch for (KIP-704).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LeaderRecoveryState {
    Recovered,
    /// Elected uncleanly; no follower may join the ISR until the leader reports RECOVERED.
    Recovering,
}

/// A partition's registration in the metadata image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionRegistration {
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    /// Eligible leader replicas (KIP-966): out of the ISR, yet known to hold every committed
    /// record.
    pub elr: Vec<BrokerId>,
    pub last_known_elr: Vec<BrokerId>,
    /// `None`: no leader (Kafka's -1).
    pub leader: Option<BrokerId>,
    pub leader_recovery_state: LeaderRecoveryState,
    pub leader_epoch: LeaderEpoch,
    pub partition_epoch: i32,
}

/// The leader field of a `PartitionChangeRecord`: Kafka's -2 ("no change"), -1 ("no
/// leader"), or a broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LeaderChange {
    NoChange,
    NoLeader,
    To(BrokerId),
}

/// The fields a `PartitionChangeRecord` changes; `None` leaves a field as it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionChangeRecord {
    pub isr: Option<Vec<BrokerId>>,
    pub leader: LeaderChange,
    pub replicas: Option<Vec<BrokerId>>,
    pub elr: Option<Vec<BrokerId>>,
    pub last_known_elr: Option<Vec<BrokerId>>,
    pub leader_recovery_state: Option<LeaderRecoveryState>,
}

/// Which leader election a change asks for (Kafka's `PartitionChangeBuilder.Election`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Election {
    Preferred,
    Online,
    Unclean,
}
