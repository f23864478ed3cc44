//! The metadata image: the cluster's metadata as replaying the log up to some offset leaves
//! it (Kafka's `MetadataImage` with its `ClusterImage`, `TopicsImage`, `FeaturesImage` and
//! `ConfigurationsImage`, and the controller's own `ClusterControlManager.replay`,
//! `ReplicationControlManager.replay`, `FeatureControlManager.replay`).
//!
//! Both sides use it: the active controller replays its own records as it writes them (a
//! speculative image) and keeps the committed one to fall back on; a broker replays
//! committed records as it fetches them.

use super::partition_change::{MetadataVersion, PartitionRegistration};
use super::records::{
    metadata_version_of_level, ConfigResource, IncarnationId, MetadataRecord, RegisterBrokerRecord,
    TopicId, ELR_FEATURE, METADATA_VERSION_FEATURE,
};
use crate::types::{BrokerId, TopicPartition};
use serde::Serialize;
use std::collections::BTreeMap;

/// A broker's registration (Kafka's `BrokerRegistration`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokerRegistration {
    pub id: BrokerId,
    pub epoch: u64,
    pub incarnation: IncarnationId,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    /// The offset of the `RegisterBrokerRecord` last replayed for it (Kafka keeps it beside
    /// the image, in `ClusterControlManager.registerBrokerRecordOffsets`): a fenced broker
    /// is unfenced once its metadata offset reaches it.
    pub register_record_offset: u64,
}

/// A topic and its partitions (Kafka's `TopicImage`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TopicImage {
    pub id: TopicId,
    pub partitions: BTreeMap<u32, PartitionRegistration>,
}

/// The metadata as of one offset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MetadataImage {
    /// The offset of the last record replayed.
    pub offset: Option<u64>,
    pub brokers: BTreeMap<BrokerId, BrokerRegistration>,
    pub topics: BTreeMap<String, TopicImage>,
    /// Finalised feature levels by name (`metadata.version`,
    /// `eligible.leader.replicas.version`, ...).
    pub features: BTreeMap<String, i16>,
    pub configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
}

impl MetadataImage {
    /// Applies one record written at `offset`.
    ///
    /// A record that does not fit the image (a change for a broker epoch or partition the
    /// image does not hold) is a bug in whoever wrote it: Kafka's replay throws and the
    /// process treats it as a fatal fault, and so does this (a panic).
    pub fn replay(&mut self, offset: u64, record: &MetadataRecord) {
        self.offset = Some(offset);
        match record {
            // ClusterControlManager.replay(RegisterBrokerRecord, offset)
            MetadataRecord::RegisterBroker(r) => {
                self.brokers.insert(
                    r.broker,
                    BrokerRegistration {
                        id: r.broker,
                        epoch: r.broker_epoch,
                        incarnation: r.incarnation,
                        rack: r.rack.clone(),
                        fenced: r.fenced,
                        in_controlled_shutdown: r.in_controlled_shutdown,
                        register_record_offset: offset,
                    },
                );
            }
            // ClusterControlManager.replay(UnregisterBrokerRecord)
            MetadataRecord::UnregisterBroker {
                broker,
                broker_epoch,
            } => {
                let registration = self.brokers.get(broker);
                assert!(
                    registration.is_some_and(|r| r.epoch == *broker_epoch),
                    "replaying an unregistration of broker {broker} epoch {broker_epoch}: no such registration"
                );
                self.brokers.remove(broker);
            }
            // ClusterControlManager.replayRegistrationChange
            MetadataRecord::BrokerRegistrationChange {
                broker,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                let registration = self
                    .brokers
                    .get_mut(broker)
                    .filter(|r| r.epoch == *broker_epoch)
                    .unwrap_or_else(|| {
                        panic!("replaying a registration change of broker {broker} epoch {broker_epoch}: no such registration")
                    });
                if let Some(fenced) = fenced {
                    registration.fenced = *fenced;
                }
                if let Some(in_controlled_shutdown) = in_controlled_shutdown {
                    registration.in_controlled_shutdown = *in_controlled_shutdown;
                }
            }
            // ReplicationControlManager.replay(TopicRecord)
            MetadataRecord::Topic { name, topic_id } => {
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        id: *topic_id,
                        partitions: BTreeMap::new(),
                    },
                );
            }
            // ReplicationControlManager.replay(PartitionRecord)
            MetadataRecord::Partition {
                topic_partition,
                registration,
                ..
            } => {
                let topic = self
                    .topics
                    .get_mut(&topic_partition.topic)
                    .unwrap_or_else(|| {
                        panic!("replaying partition {topic_partition}: no such topic")
                    });
                topic
                    .partitions
                    .insert(topic_partition.partition, registration.clone());
            }
            // ReplicationControlManager.replay(PartitionChangeRecord), through
            // PartitionRegistration.merge
            MetadataRecord::PartitionChange {
                topic_partition,
                change,
            } => {
                let partition = self
                    .topics
                    .get_mut(&topic_partition.topic)
                    .and_then(|t| t.partitions.get_mut(&topic_partition.partition))
                    .unwrap_or_else(|| {
                        panic!(
                            "replaying a change of partition {topic_partition}: no such partition"
                        )
                    });
                *partition = partition.merge(change);
            }
            // FeatureControlManager.replay(FeatureLevelRecord): level 0 removes the feature.
            MetadataRecord::FeatureLevel { name, level } => {
                if *level == 0 && name != METADATA_VERSION_FEATURE {
                    self.features.remove(name);
                } else {
                    self.features.insert(name.clone(), *level);
                }
            }
            // ConfigurationControlManager.replay(ConfigRecord)
            MetadataRecord::Config {
                resource,
                key,
                value,
            } => {
                let configs = self.configs.entry(resource.clone()).or_default();
                match value {
                    Some(v) => {
                        configs.insert(key.clone(), v.clone());
                    }
                    None => {
                        configs.remove(key);
                        if configs.is_empty() {
                            self.configs.remove(resource);
                        }
                    }
                }
            }
            MetadataRecord::NoOp => {}
        }
    }

    /// The records that rebuild this image from nothing, for a snapshot
    /// (`MetadataImage.write`: features first, then the cluster, the topics with their
    /// partitions, the configs). A registration is written whole, fenced and
    /// controlled-shutdown flags included (`BrokerRegistration.toRecord`).
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        // `FeaturesImage.write`: metadata.version first.
        let mut features: Vec<(&String, &i16)> = self.features.iter().collect();
        features.sort_by_key(|(name, _)| name.as_str() != METADATA_VERSION_FEATURE);
        records.extend(
            features
                .into_iter()
                .map(|(name, level)| MetadataRecord::FeatureLevel {
                    name: name.clone(),
                    level: *level,
                }),
        );
        records.extend(self.brokers.values().map(|b| {
            MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                broker: b.id,
                incarnation: b.incarnation,
                broker_epoch: b.epoch,
                rack: b.rack.clone(),
                fenced: b.fenced,
                in_controlled_shutdown: b.in_controlled_shutdown,
            })
        }));
        for (name, topic) in &self.topics {
            records.push(MetadataRecord::Topic {
                name: name.clone(),
                topic_id: topic.id,
            });
            records.extend(topic.partitions.iter().map(|(p, registration)| {
                MetadataRecord::Partition {
                    topic_partition: TopicPartition::new(name.clone(), *p),
                    topic_id: topic.id,
                    registration: registration.clone(),
                }
            }));
        }
        for (resource, configs) in &self.configs {
            records.extend(configs.iter().map(|(key, value)| MetadataRecord::Config {
                resource: resource.clone(),
                key: key.clone(),
                value: Some(value.clone()),
            }));
        }
        records
    }

    /// The image a snapshot's records build. Every record is replayed at the snapshot's
    /// last offset, as `QuorumController.handleLoadSnapshot` and `MetadataLoader` replay
    /// them, so a registration's record offset becomes that offset.
    pub fn from_snapshot(last_contained_offset: u64, records: &[MetadataRecord]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for record in records {
            image.replay(last_contained_offset, record);
        }
        image.offset = Some(last_contained_offset);
        image
    }

    /// The finalised `metadata.version`; 3.3-IV3 (the model's earliest) when none is.
    pub fn metadata_version(&self) -> MetadataVersion {
        self.features
            .get(METADATA_VERSION_FEATURE)
            .and_then(|level| metadata_version_of_level(*level))
            .unwrap_or(MetadataVersion::V3_3)
    }

    /// Kafka's `FeatureControlManager.isElrFeatureEnabled`: `eligible.leader.replicas.version`
    /// ≥ 1 on a `metadata.version` that supports ELR (4.0-IV1 and later).
    pub fn elr_enabled(&self) -> bool {
        self.metadata_version() >= MetadataVersion::V4_0
            && self.features.get(ELR_FEATURE).is_some_and(|l| *l >= 1)
    }

    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionRegistration> {
        self.topics.get(&tp.topic)?.partitions.get(&tp.partition)
    }

    /// Every partition, by topic name then partition number.
    pub fn partitions(&self) -> impl Iterator<Item = (TopicPartition, &PartitionRegistration)> {
        self.topics.iter().flat_map(|(name, topic)| {
            topic
                .partitions
                .iter()
                .map(move |(p, reg)| (TopicPartition::new(name.clone(), *p), reg))
        })
    }

    /// Kafka's `ClusterControlManager.isActive`: registered, unfenced and not in controlled
    /// shutdown.
    pub fn is_active(&self, broker: BrokerId) -> bool {
        self.brokers
            .get(&broker)
            .is_some_and(|r| !r.fenced && !r.in_controlled_shutdown)
    }

    /// A topic's config as set on the topic, else the cluster-wide default (the dynamic
    /// part of Kafka's `ConfigurationControlManager.getTopicConfig`; the static default is
    /// the caller's).
    pub fn topic_config(&self, topic: &str, key: &str) -> Option<&str> {
        self.configs
            .get(&ConfigResource::Topic(topic.to_string()))
            .and_then(|c| c.get(key))
            .or_else(|| {
                self.configs
                    .get(&ConfigResource::ClusterDefault)
                    .and_then(|c| c.get(key))
            })
            .map(String::as_str)
    }
}
