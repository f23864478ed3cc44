//! The internal topics a broker creates on first use (Kafka's `AutoTopicCreationManager`
//! for `__consumer_offsets` and `__transaction_state`): the first FindCoordinator for a group
//! or a transactional id asks for its topic, placed round-robin over the live brokers.
//!
//! Both topics are compacted and created with the configs Kafka's coordinators give them
//! (`GroupMetadataManager.offsetsTopicConfigs`, `TransactionStateManager.transactionTopicConfigs`):
//! `__transaction_state` has `min.insync.replicas` = `transaction.state.log.min.isr` and
//! never elects an unclean leader, because a coordinator that lost decided transactions
//! would leave their markers half written.

use super::zk_client::ZkPurpose;
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::config::TopicConfig;
use crate::coordinator::transaction::log::TRANSACTION_STATE_TOPIC;
use crate::log::config::LogConfig;
use crate::protocol::*;
use crate::types::*;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum InternalTopic {
    ConsumerOffsets,
    TransactionState,
}

impl InternalTopic {
    pub(super) fn name(self) -> &'static str {
        match self {
            InternalTopic::ConsumerOffsets => OFFSETS_TOPIC,
            InternalTopic::TransactionState => TRANSACTION_STATE_TOPIC,
        }
    }
}

/// The topic configs of `__transaction_state` (`TransactionStateManager.transactionTopicConfigs`).
pub(super) fn transaction_state_topic_config(config: &crate::config::BrokerConfig) -> TopicConfig {
    TopicConfig {
        min_insync_replicas: config.transaction_state_log_min_isr,
        unclean_leader_election_enable: false,
        log: LogConfig::offsets_topic(config.transaction_state_log_segment_bytes),
        ..config.topic_defaults.clone()
    }
}

impl Broker {
    /// Partitions and replication factor of an internal topic.
    fn internal_topic_shape(&self, topic: InternalTopic) -> (u32, usize) {
        match topic {
            InternalTopic::ConsumerOffsets => (
                self.config.offsets_topic_num_partitions,
                self.config.offsets_topic_replication_factor as usize,
            ),
            InternalTopic::TransactionState => (
                self.config.transaction_state_log_num_partitions,
                self.config.transaction_state_log_replication_factor as usize,
            ),
        }
    }

    /// The topic-level configs an internal topic is created with in KRaft mode (ZooKeeper
    /// mode's brokers and controller know them from their own configs).
    fn internal_topic_configs(&self, topic: InternalTopic) -> BTreeMap<String, String> {
        match topic {
            InternalTopic::ConsumerOffsets => BTreeMap::new(),
            InternalTopic::TransactionState => BTreeMap::from([
                ("cleanup.policy".to_string(), "compact".to_string()),
                (
                    "min.insync.replicas".to_string(),
                    self.config.transaction_state_log_min_isr.to_string(),
                ),
                (
                    "segment.bytes".to_string(),
                    self.config.transaction_state_log_segment_bytes.to_string(),
                ),
                (
                    "unclean.leader.election.enable".to_string(),
                    "false".to_string(),
                ),
            ]),
        }
    }

    /// FindCoordinator's answer (`KafkaApis.getCoordinator`): the leader of `partition` of
    /// the coordinator's topic; while there is none, COORDINATOR_NOT_AVAILABLE, and the
    /// topic is created if it does not exist.
    pub(super) fn coordinator_of(
        &mut self,
        now_ms: u64,
        topic: InternalTopic,
        partition: u32,
        out: &mut Output<BrokerTimer>,
    ) -> (ErrorCode, Option<BrokerId>) {
        let tp = TopicPartition::new(topic.name(), partition);
        match self.metadata.get(&tp) {
            Some(PartitionMetadata {
                leader: Some(leader),
                ..
            }) => (ErrorCode::None, Some(*leader)),
            Some(_) => (ErrorCode::CoordinatorNotAvailable, None),
            None => {
                self.maybe_create_internal_topic(now_ms, topic, out);
                (ErrorCode::CoordinatorNotAvailable, None)
            }
        }
    }

    /// Creates an internal topic, in ZooKeeper or through the KRaft controller, as a broker
    /// does on the first FindCoordinator. From 0.11 the topic waits until its replication
    /// factor of brokers are alive (KAFKA-3959); before, it took as many replicas as were
    /// alive, and a cluster that started with one broker up kept a single copy of every
    /// group's offsets. Replicas are placed round-robin over the live brokers from the lowest
    /// id (Kafka starts at a random broker).
    pub(super) fn maybe_create_internal_topic(
        &mut self,
        now_ms: u64,
        topic: InternalTopic,
        out: &mut Output<BrokerTimer>,
    ) {
        if self.internal_topics_requested.contains(&topic) || self.live_brokers.is_empty() {
            return;
        }
        let mut live = self.live_brokers.clone();
        live.sort_unstable();
        let (partitions, wanted) = self.internal_topic_shape(topic);
        let replication_factor = if self.release().requires_full_offsets_replication() {
            if live.len() < wanted {
                return;
            }
            wanted
        } else {
            wanted.min(live.len())
        };
        let assignment: BTreeMap<u32, Vec<BrokerId>> = (0..partitions)
            .map(|p| {
                let replicas = (0..replication_factor)
                    .map(|i| live[(p as usize + i) % live.len()])
                    .collect();
                (p, replicas)
            })
            .collect();
        if self.kraft.is_some() {
            let assignment = assignment.into_values().collect();
            let configs = self.internal_topic_configs(topic);
            if self.kraft_create_internal_topic(now_ms, topic, assignment, configs, out) {
                self.internal_topics_requested.insert(topic);
            }
            return;
        }
        self.internal_topics_requested.insert(topic);
        self.zk.request(
            ZkOp::Create {
                path: format!("/brokers/topics/{}", topic.name()),
                data: ZkData::TopicAssignment(assignment),
                ephemeral: false,
            },
            ZkPurpose::CreateInternalTopic(topic),
            out,
        );
    }
}
