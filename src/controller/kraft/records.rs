//! The records of the `__cluster_metadata` log the model writes and replays (Kafka's
//! `metadata/src/main/resources/common/metadata/*Record.json`), and the errors the active
//! controller answers with.
//!
//! Only the fields a rule reads are kept. The model's earliest `metadata.version` is 3.3-IV3,
//! which already fences and unfences through `BrokerRegistrationChangeRecord`
//! (`MetadataVersion.isBrokerRegistrationChangeRecordSupported`, from 3.3-IV2), so the older
//! `FenceBrokerRecord` and `UnfenceBrokerRecord` are never written and are left out.

use super::partition_change::{MetadataVersion, PartitionChangeRecord, PartitionRegistration};
use crate::types::{BrokerId, ErrorCode, TopicPartition};
use serde::Serialize;
use std::fmt;

/// A broker process's incarnation id: Kafka draws a random UUID at every process start; the
/// model's host hands out distinct numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct IncarnationId(pub u64);

/// A topic id (Kafka's random `Uuid`; the model's controller uses the offset its
/// `TopicRecord` is written at, which is unique and deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TopicId(pub u64);

/// The name of the `metadata.version` feature.
pub const METADATA_VERSION_FEATURE: &str = "metadata.version";
/// The name of the feature that turns on eligible leader replicas (KIP-966).
pub const ELR_FEATURE: &str = "eligible.leader.replicas.version";

/// The feature level Kafka's `MetadataVersion` gives each of the model's versions
/// (`MetadataVersion.featureLevel`).
pub fn metadata_version_level(version: MetadataVersion) -> i16 {
    match version {
        MetadataVersion::V3_3 => 7,  // IBP_3_3_IV3
        MetadataVersion::V3_5 => 11, // IBP_3_5_IV2
        MetadataVersion::V3_6 => 12, // IBP_3_6_IV0
        MetadataVersion::V3_7 => 19, // IBP_3_7_IV4
        MetadataVersion::V3_8 => 20, // IBP_3_8_IV0
        MetadataVersion::V3_9 => 21, // IBP_3_9_IV0
        MetadataVersion::V4_0 => 25, // IBP_4_0_IV3
    }
}

/// The newest of the model's versions whose rules a feature level follows; `None` below
/// 3.3-IV3.
pub fn metadata_version_of_level(level: i16) -> Option<MetadataVersion> {
    use MetadataVersion::*;
    [V4_0, V3_9, V3_8, V3_7, V3_6, V3_5, V3_3]
        .into_iter()
        .find(|v| level >= metadata_version_level(*v))
}

/// What a `ConfigRecord` configures (Kafka's `ConfigResource`): a topic, or the cluster-wide
/// default (a broker resource with the empty name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ConfigResource {
    Topic(String),
    ClusterDefault,
}

/// `RegisterBrokerRecord`: a broker's (new or amended) registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegisterBrokerRecord {
    pub broker: BrokerId,
    pub incarnation: IncarnationId,
    /// For a new incarnation, the offset this record is written at (KIP-631).
    pub broker_epoch: u64,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

/// One record of the metadata log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum MetadataRecord {
    RegisterBroker(RegisterBrokerRecord),
    UnregisterBroker {
        broker: BrokerId,
        broker_epoch: u64,
    },
    Topic {
        name: String,
        topic_id: TopicId,
    },
    /// A new partition with its whole registration.
    Partition {
        topic_partition: TopicPartition,
        topic_id: TopicId,
        registration: PartitionRegistration,
    },
    PartitionChange {
        topic_partition: TopicPartition,
        change: PartitionChangeRecord,
    },
    /// KIP-841: fencing, unfencing and entering controlled shutdown. `None` leaves a field
    /// as it is (Kafka's `NONE` values).
    BrokerRegistrationChange {
        broker: BrokerId,
        broker_epoch: u64,
        fenced: Option<bool>,
        in_controlled_shutdown: Option<bool>,
    },
    FeatureLevel {
        name: String,
        level: i16,
    },
    /// `value: None` deletes the key (Kafka's null value).
    Config {
        resource: ConfigResource,
        key: String,
        value: Option<String>,
    },
    /// Written when the log is idle, so followers see the high watermark move.
    NoOp,
}

impl MetadataRecord {
    /// The partition a `PartitionRecord` or `PartitionChangeRecord` registers or changes.
    pub fn partition(&self) -> Option<&TopicPartition> {
        match self {
            MetadataRecord::Partition {
                topic_partition, ..
            }
            | MetadataRecord::PartitionChange {
                topic_partition, ..
            } => Some(topic_partition),
            _ => None,
        }
    }

    /// One line in plain words, for narration.
    pub fn describe(&self) -> String {
        match self {
            MetadataRecord::RegisterBroker(r) => format!(
                "broker {} registers (incarnation {}, broker epoch {}{}{}{})",
                r.broker,
                r.incarnation.0,
                r.broker_epoch,
                r.rack
                    .as_ref()
                    .map_or(String::new(), |rack| format!(", rack {rack}")),
                if r.fenced { ", fenced" } else { ", unfenced" },
                if r.in_controlled_shutdown {
                    ", in controlled shutdown"
                } else {
                    ""
                }
            ),
            MetadataRecord::UnregisterBroker {
                broker,
                broker_epoch,
            } => format!("broker {broker} (epoch {broker_epoch}) is unregistered"),
            MetadataRecord::Topic { name, topic_id } => {
                format!("topic {name} is created (id {})", topic_id.0)
            }
            MetadataRecord::Partition {
                topic_partition,
                registration: r,
                ..
            } => format!(
                "partition {topic_partition} is created: replicas {:?}, ISR {:?}, leader {}",
                r.replicas,
                r.isr,
                leader_text(r.leader)
            ),
            MetadataRecord::PartitionChange {
                topic_partition,
                change,
            } => {
                let mut parts = Vec::new();
                match change.leader {
                    super::LeaderChange::NoChange => {}
                    super::LeaderChange::NoLeader => parts.push("no leader".to_string()),
                    super::LeaderChange::To(b) => parts.push(format!("leader {b}")),
                }
                if let Some(isr) = &change.isr {
                    parts.push(format!("ISR {isr:?}"));
                }
                if let Some(replicas) = &change.replicas {
                    parts.push(format!("replicas {replicas:?}"));
                }
                if let Some(elr) = &change.elr {
                    parts.push(format!("ELR {elr:?}"));
                }
                if let Some(lkelr) = &change.last_known_elr {
                    parts.push(format!("last known ELR {lkelr:?}"));
                }
                if let Some(state) = change.leader_recovery_state {
                    parts.push(format!("leader recovery {state:?}"));
                }
                if parts.is_empty() {
                    format!("partition {topic_partition}: epoch bump")
                } else {
                    format!("partition {topic_partition}: {}", parts.join(", "))
                }
            }
            MetadataRecord::BrokerRegistrationChange {
                broker,
                fenced,
                in_controlled_shutdown,
                ..
            } => {
                let mut parts = Vec::new();
                match fenced {
                    Some(true) => parts.push("fenced"),
                    Some(false) => parts.push("unfenced"),
                    None => {}
                }
                match in_controlled_shutdown {
                    Some(true) => parts.push("in controlled shutdown"),
                    Some(false) => parts.push("out of controlled shutdown"),
                    None => {}
                }
                if parts.is_empty() {
                    parts.push("unchanged");
                }
                format!("broker {broker} is {}", parts.join(" and "))
            }
            MetadataRecord::FeatureLevel { name, level } => format!("feature {name} = {level}"),
            MetadataRecord::Config {
                resource,
                key,
                value,
            } => {
                let target = match resource {
                    ConfigResource::Topic(t) => format!("topic {t}"),
                    ConfigResource::ClusterDefault => "the cluster default".to_string(),
                };
                match value {
                    Some(v) => format!("{target}: {key} = {v}"),
                    None => format!("{target}: {key} is deleted"),
                }
            }
            MetadataRecord::NoOp => "no-op".to_string(),
        }
    }
}

fn leader_text(leader: Option<BrokerId>) -> String {
    leader.map_or("none".to_string(), |b| b.to_string())
}

/// The errors the KRaft controller answers with (Kafka's `Errors` as its managers raise
/// them). Those the rest of the model already knows map to its [`ErrorCode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ApiError {
    NotController,
    FencedLeaderEpoch,
    InvalidRequest,
    InvalidUpdateVersion,
    IneligibleReplica,
    /// AlterPartition v0-1's answer instead of INELIGIBLE_REPLICA.
    OperationNotAttempted,
    NewLeaderElected,
    StaleBrokerEpoch,
    DuplicateBrokerRegistration,
    BrokerIdNotRegistered,
    UnknownTopicOrPartition,
    UnknownTopicId,
    TopicAlreadyExists,
    InvalidReplicaAssignment,
    ElectionNotNeeded,
    PreferredLeaderNotAvailable,
    EligibleLeadersNotAvailable,
}

impl ApiError {
    pub fn name(self) -> &'static str {
        match self {
            ApiError::NotController => "NOT_CONTROLLER",
            ApiError::FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            ApiError::InvalidRequest => "INVALID_REQUEST",
            ApiError::InvalidUpdateVersion => "INVALID_UPDATE_VERSION",
            ApiError::IneligibleReplica => "INELIGIBLE_REPLICA",
            ApiError::OperationNotAttempted => "OPERATION_NOT_ATTEMPTED",
            ApiError::NewLeaderElected => "NEW_LEADER_ELECTED",
            ApiError::StaleBrokerEpoch => "STALE_BROKER_EPOCH",
            ApiError::DuplicateBrokerRegistration => "DUPLICATE_BROKER_REGISTRATION",
            ApiError::BrokerIdNotRegistered => "BROKER_ID_NOT_REGISTERED",
            ApiError::UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            ApiError::UnknownTopicId => "UNKNOWN_TOPIC_ID",
            ApiError::TopicAlreadyExists => "TOPIC_ALREADY_EXISTS",
            ApiError::InvalidReplicaAssignment => "INVALID_REPLICA_ASSIGNMENT",
            ApiError::ElectionNotNeeded => "ELECTION_NOT_NEEDED",
            ApiError::PreferredLeaderNotAvailable => "PREFERRED_LEADER_NOT_AVAILABLE",
            ApiError::EligibleLeadersNotAvailable => "ELIGIBLE_LEADERS_NOT_AVAILABLE",
        }
    }

    /// The model-wide error code, where the rest of the model has one.
    pub fn error_code(self) -> Option<ErrorCode> {
        Some(match self {
            ApiError::NotController => ErrorCode::NotController,
            ApiError::FencedLeaderEpoch => ErrorCode::FencedLeaderEpoch,
            ApiError::InvalidUpdateVersion => ErrorCode::InvalidUpdateVersion,
            ApiError::IneligibleReplica => ErrorCode::IneligibleReplica,
            ApiError::UnknownTopicOrPartition => ErrorCode::UnknownTopicOrPartition,
            ApiError::ElectionNotNeeded => ErrorCode::ElectionNotNeeded,
            ApiError::PreferredLeaderNotAvailable => ErrorCode::PreferredLeaderNotAvailable,
            _ => return None,
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
