//! Partition leadership and ISRs in the active controller (Kafka's
//! `ReplicationControlManager`): topic creation, what fencing, unfencing, controlled
//! shutdown, an unclean restart and unregistration do to partitions, AlterPartition,
//! ElectLeaders and the periodic preferred-leader and unclean elections.
//!
//! Every function reads a [`MetadataImage`] (the controller's speculative one) and returns
//! the records to write; none changes the image. Kafka derives its indexes (`BrokersToIsrs`,
//! `BrokersToElrs`, `imbalancedPartitions`) from the same state; the model scans the image
//! in topic-name and partition order instead, which keeps the output deterministic.

use super::image::MetadataImage;
use super::partition_change::{
    Election, LeaderChange, LeaderRecoveryState, PartitionChangeBuilder, PartitionRegistration,
};
use super::records::{ApiError, ConfigResource, MetadataRecord, TopicId};
use crate::types::{BrokerId, LeaderEpoch, TopicPartition};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The topic config naming the minimum ISR size.
pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";
/// The topic config allowing leaders from outside the ISR.
pub const UNCLEAN_LEADER_ELECTION_ENABLE: &str = "unclean.leader.election.enable";

/// The static (broker-file) defaults of the topic configs the rules read, and the batch
/// limit of the periodic elections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplicationDefaults {
    pub min_insync_replicas: usize,
    pub unclean_leader_election_enable: bool,
    /// `QuorumController`'s `maxElectionsPerImbalance` (1000).
    pub max_elections_per_imbalance: usize,
}

impl Default for ReplicationDefaults {
    fn default() -> Self {
        ReplicationDefaults {
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            max_elections_per_imbalance: 1000,
        }
    }
}

/// `ReplicationControlManager.getTopicEffectiveMinIsr`: the topic's `min.insync.replicas`
/// (topic, then cluster default, then static default), at most its replication factor.
pub fn effective_min_isr(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    topic: &str,
) -> usize {
    let configured = image
        .topic_config(topic, MIN_INSYNC_REPLICAS)
        .and_then(|v| v.parse().ok())
        .unwrap_or(defaults.min_insync_replicas);
    let replication_factor = image
        .topics
        .get(topic)
        .and_then(|t| t.partitions.get(&0))
        .map_or(configured, |p| p.replicas.len());
    configured.min(replication_factor)
}

/// `ConfigurationControlManager.uncleanLeaderElectionEnabledForTopic` (the full lookup of
/// 3.9+, KAFKA-12670: topic, cluster default, static default).
pub fn unclean_leader_election_enabled(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    topic: &str,
) -> bool {
    image
        .topic_config(topic, UNCLEAN_LEADER_ELECTION_ENABLE)
        .and_then(|v| v.parse().ok())
        .unwrap_or(defaults.unclean_leader_election_enable)
}

/// What one partition change asks of `PartitionChangeBuilder`.
#[derive(Clone, Debug, Default)]
struct ChangeRequest {
    election: Option<Election>,
    target_isr: Option<Vec<BrokerId>>,
    unclean_shutdown_replicas: Vec<BrokerId>,
    target_leader_recovery_state: Option<LeaderRecoveryState>,
}

/// Runs `PartitionChangeBuilder` over one partition with the image's `metadata.version`,
/// ELR switch and the topic's effective min ISR (the setup every caller in Kafka's
/// `ReplicationControlManager` repeats).
fn build_change(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    tp: &TopicPartition,
    partition: &PartitionRegistration,
    is_acceptable_leader: impl Fn(BrokerId) -> bool,
    request: ChangeRequest,
) -> Option<MetadataRecord> {
    let mut builder = PartitionChangeBuilder::new(
        partition,
        is_acceptable_leader,
        image.metadata_version(),
        effective_min_isr(image, defaults, &tp.topic),
    )
    .set_eligible_leader_replicas_enabled(image.elr_enabled());
    if let Some(election) = request.election {
        builder = builder.set_election(election);
    }
    if !request.unclean_shutdown_replicas.is_empty() {
        builder = builder.set_unclean_shutdown_replicas(request.unclean_shutdown_replicas);
    }
    if let Some(isr) = request.target_isr {
        builder = builder.set_target_isr(isr);
    }
    if let Some(state) = request.target_leader_recovery_state {
        builder = builder.set_target_leader_recovery_state(state);
    }
    builder
        .build()
        .map(|change| MetadataRecord::PartitionChange {
            topic_partition: tp.clone(),
            change,
        })
}

/// Partitions whose ISR holds `broker` (Kafka's `BrokersToIsrs.partitionsWithBrokerInIsr`).
pub fn partitions_with_broker_in_isr(
    image: &MetadataImage,
    broker: BrokerId,
) -> Vec<TopicPartition> {
    image
        .partitions()
        .filter(|(_, p)| p.isr.contains(&broker))
        .map(|(tp, _)| tp)
        .collect()
}

/// Partitions whose ELR holds `broker` (Kafka's `BrokersToElrs.partitionsWithBrokerInElr`).
pub fn partitions_with_broker_in_elr(
    image: &MetadataImage,
    broker: BrokerId,
) -> Vec<TopicPartition> {
    image
        .partitions()
        .filter(|(_, p)| p.elr.contains(&broker))
        .map(|(tp, _)| tp)
        .collect()
}

/// Partitions without a leader (Kafka's `BrokersToIsrs.partitionsWithNoLeader`).
pub fn partitions_with_no_leader(image: &MetadataImage) -> Vec<TopicPartition> {
    image
        .partitions()
        .filter(|(_, p)| p.leader.is_none())
        .map(|(tp, _)| tp)
        .collect()
}

/// Whether `broker` leads any partition (Kafka's `BrokersToIsrs.hasLeaderships`).
pub fn has_leaderships(image: &MetadataImage, broker: BrokerId) -> bool {
    image.partitions().any(|(_, p)| p.leader == Some(broker))
}

/// Kafka's `ReplicationControlManager.generateLeaderAndIsrUpdates`: for each partition,
/// the ISR without `broker_to_remove` and `broker_with_unclean_shutdown`, and a leader
/// elected (online, or unclean where the topic allows it) if the old one is no longer
/// acceptable. `broker_to_add` counts as an acceptable leader though the image still shows
/// it fenced (the unfencing being written); the other two never do.
pub fn generate_leader_and_isr_updates(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    broker_to_remove: Option<BrokerId>,
    broker_to_add: Option<BrokerId>,
    broker_with_unclean_shutdown: Option<BrokerId>,
    partitions: &[TopicPartition],
    records: &mut Vec<MetadataRecord>,
) {
    let is_acceptable_leader = |r: BrokerId| {
        Some(r) != broker_to_remove
            && Some(r) != broker_with_unclean_shutdown
            && (Some(r) == broker_to_add || image.is_active(r))
    };
    for tp in partitions {
        let partition = image
            .partition(tp)
            .unwrap_or_else(|| panic!("partition {tp} is indexed but not in the image"));
        let election = unclean_leader_election_enabled(image, defaults, &tp.topic)
            .then_some(Election::Unclean);
        let target_isr = partition
            .isr
            .iter()
            .copied()
            .filter(|r| Some(*r) != broker_to_remove && Some(*r) != broker_with_unclean_shutdown)
            .collect();
        let request = ChangeRequest {
            election,
            target_isr: Some(target_isr),
            unclean_shutdown_replicas: broker_with_unclean_shutdown.into_iter().collect(),
            target_leader_recovery_state: None,
        };
        records.extend(build_change(
            image,
            defaults,
            tp,
            partition,
            is_acceptable_leader,
            request,
        ));
    }
}

/// `ReplicationControlManager.handleBrokerFenced`: the broker leaves every ISR (leaders
/// move), then the fencing record.
pub fn handle_broker_fenced(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    broker: BrokerId,
    records: &mut Vec<MetadataRecord>,
) {
    let registration = image
        .brokers
        .get(&broker)
        .unwrap_or_else(|| panic!("no registration for broker {broker}"));
    let partitions = partitions_with_broker_in_isr(image, broker);
    generate_leader_and_isr_updates(
        image,
        defaults,
        Some(broker),
        None,
        None,
        &partitions,
        records,
    );
    records.push(MetadataRecord::BrokerRegistrationChange {
        broker,
        broker_epoch: registration.epoch,
        fenced: Some(true),
        in_controlled_shutdown: None,
    });
}

/// `ReplicationControlManager.handleBrokerUnfenced`: the unfencing record, then leaders
/// for leaderless partitions that can now use the broker.
pub fn handle_broker_unfenced(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    broker: BrokerId,
    broker_epoch: u64,
    records: &mut Vec<MetadataRecord>,
) {
    records.push(MetadataRecord::BrokerRegistrationChange {
        broker,
        broker_epoch,
        fenced: Some(false),
        in_controlled_shutdown: None,
    });
    let partitions = partitions_with_no_leader(image);
    generate_leader_and_isr_updates(
        image,
        defaults,
        None,
        Some(broker),
        None,
        &partitions,
        records,
    );
}

/// `ReplicationControlManager.handleBrokerInControlledShutdown`: the in-controlled-shutdown
/// record (once), then the broker leaves every ISR and its leaderships move.
pub fn handle_broker_in_controlled_shutdown(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    broker: BrokerId,
    broker_epoch: u64,
    records: &mut Vec<MetadataRecord>,
) {
    if !image
        .brokers
        .get(&broker)
        .is_some_and(|r| r.in_controlled_shutdown)
    {
        records.push(MetadataRecord::BrokerRegistrationChange {
            broker,
            broker_epoch,
            fenced: None,
            in_controlled_shutdown: Some(true),
        });
    }
    let partitions = partitions_with_broker_in_isr(image, broker);
    generate_leader_and_isr_updates(
        image,
        defaults,
        Some(broker),
        None,
        None,
        &partitions,
        records,
    );
}

/// `ReplicationControlManager.handleBrokerUncleanShutdown` (KIP-966): with ELR on a
/// supporting `metadata.version`, a new incarnation of a broker leaves every ISR and ELR
/// (not the last-known ELR): it may have lost what it held.
pub fn handle_broker_unclean_shutdown(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    broker: BrokerId,
    records: &mut Vec<MetadataRecord>,
) {
    // Kafka checks MetadataVersion.isElrSupported here; the builder only writes an ELR when
    // the feature is on.
    if image.metadata_version() < super::MetadataVersion::V4_0 {
        return;
    }
    let in_isr = partitions_with_broker_in_isr(image, broker);
    generate_leader_and_isr_updates(image, defaults, None, None, Some(broker), &in_isr, records);
    let in_elr = partitions_with_broker_in_elr(image, broker);
    generate_leader_and_isr_updates(image, defaults, None, None, Some(broker), &in_elr, records);
}

/// `ReplicationControlManager.handleBrokerUnregistered`: the broker leaves every ISR and
/// ELR, then the unregistration record.
pub fn handle_broker_unregistered(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    broker: BrokerId,
    broker_epoch: u64,
    records: &mut Vec<MetadataRecord>,
) {
    let in_isr = partitions_with_broker_in_isr(image, broker);
    generate_leader_and_isr_updates(image, defaults, Some(broker), None, None, &in_isr, records);
    let in_elr = partitions_with_broker_in_elr(image, broker);
    generate_leader_and_isr_updates(image, defaults, Some(broker), None, None, &in_elr, records);
    records.push(MetadataRecord::UnregisterBroker {
        broker,
        broker_epoch,
    });
}

/// A CreateTopics request with a manual assignment: one replica list per partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreateTopic {
    pub name: String,
    pub assignment: Vec<Vec<BrokerId>>,
    pub configs: BTreeMap<String, String>,
}

/// `ReplicationControlManager.createTopic` with a manual assignment
/// (`validateManualPartitionAssignment`, `buildPartitionRegistration`): every replica
/// registered and distinct, one replication factor; the ISR is the active replicas in
/// assignment order, the leader the first of them, both epochs 0.
pub fn create_topic(
    image: &MetadataImage,
    request: &CreateTopic,
    topic_id: TopicId,
) -> Result<Vec<MetadataRecord>, ApiError> {
    if image.topics.contains_key(&request.name) {
        return Err(ApiError::TopicAlreadyExists);
    }
    let replication_factor = request.assignment.first().map_or(0, Vec::len);
    if replication_factor == 0 {
        return Err(ApiError::InvalidReplicaAssignment);
    }
    let mut partitions = Vec::new();
    for (index, replicas) in request.assignment.iter().enumerate() {
        let distinct: BTreeSet<_> = replicas.iter().collect();
        if replicas.len() != replication_factor
            || distinct.len() != replicas.len()
            || replicas.iter().any(|r| !image.brokers.contains_key(r))
        {
            return Err(ApiError::InvalidReplicaAssignment);
        }
        let isr: Vec<BrokerId> = replicas
            .iter()
            .copied()
            .filter(|r| image.is_active(*r))
            .collect();
        let Some(&leader) = isr.first() else {
            // "All brokers specified in the manual partition assignment are fenced or in
            // controlled shutdown."
            return Err(ApiError::InvalidReplicaAssignment);
        };
        partitions.push(MetadataRecord::Partition {
            topic_partition: TopicPartition::new(request.name.clone(), index as u32),
            topic_id,
            registration: PartitionRegistration {
                replicas: replicas.clone(),
                isr,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
                leader: Some(leader),
                leader_recovery_state: LeaderRecoveryState::Recovered,
                leader_epoch: 0,
                partition_epoch: 0,
            },
        });
    }
    let mut records = vec![MetadataRecord::Topic {
        name: request.name.clone(),
        topic_id,
    }];
    records.extend(
        request
            .configs
            .iter()
            .map(|(key, value)| MetadataRecord::Config {
                resource: ConfigResource::Topic(request.name.clone()),
                key: key.clone(),
                value: Some(value.clone()),
            }),
    );
    records.extend(partitions);
    Ok(records)
}

/// One partition of an AlterPartition request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlterPartitionData {
    pub topic_partition: TopicPartition,
    pub leader_epoch: LeaderEpoch,
    pub partition_epoch: i32,
    /// The new ISR with, per member, the broker epoch the leader saw in its fetches
    /// (KIP-903, AlterPartition v3, sent from `metadata.version` 3.5); `None` is Kafka's -1
    /// (unknown, not checked).
    pub new_isr: Vec<(BrokerId, Option<u64>)>,
    pub leader_recovery_state: LeaderRecoveryState,
}

/// An AlterPartition request from a partition leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlterPartitionRequest {
    pub broker: BrokerId,
    pub broker_epoch: u64,
    /// The request version: below 2 an ineligible replica is OPERATION_NOT_ATTEMPTED and a
    /// leadership move FENCED_LEADER_EPOCH; below 3 the members' broker epochs are ignored.
    pub version: u16,
    pub partitions: Vec<AlterPartitionData>,
}

/// What the controller answers for one partition: its state after the change, or an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlterPartitionResult {
    pub topic_partition: TopicPartition,
    pub result: Result<PartitionState, ApiError>,
}

/// The partition state an AlterPartition answer carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionState {
    pub leader: Option<BrokerId>,
    pub isr: Vec<BrokerId>,
    pub leader_epoch: LeaderEpoch,
    pub partition_epoch: i32,
    pub leader_recovery_state: LeaderRecoveryState,
}

/// `ClusterControlManager.checkBrokerEpoch`: the broker is registered with that epoch.
pub fn check_broker_epoch(
    image: &MetadataImage,
    broker: BrokerId,
    epoch: u64,
) -> Result<(), ApiError> {
    match image.brokers.get(&broker) {
        Some(r) if r.epoch == epoch => Ok(()),
        _ => Err(ApiError::StaleBrokerEpoch),
    }
}

/// `ReplicationControlManager.alterPartition`.
pub fn alter_partition(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    request: &AlterPartitionRequest,
) -> Result<(Vec<MetadataRecord>, Vec<AlterPartitionResult>), ApiError> {
    check_broker_epoch(image, request.broker, request.broker_epoch)?;
    let mut records = Vec::new();
    let mut results = Vec::new();
    for data in &request.partitions {
        let tp = data.topic_partition.clone();
        let partition = match image.partition(&tp) {
            Some(p) => p,
            None => {
                // Kafka answers UNKNOWN_TOPIC_ID from v2 (topic ids) for a missing topic.
                let error = if image.topics.contains_key(&tp.topic) || request.version < 2 {
                    ApiError::UnknownTopicOrPartition
                } else {
                    ApiError::UnknownTopicId
                };
                results.push(AlterPartitionResult {
                    topic_partition: tp,
                    result: Err(error),
                });
                continue;
            }
        };
        if let Err(error) = validate_alter_partition_data(image, request, partition, data) {
            results.push(AlterPartitionResult {
                topic_partition: tp,
                result: Err(error),
            });
            continue;
        }
        let election = unclean_leader_election_enabled(image, defaults, &tp.topic)
            .then_some(Election::Unclean);
        let change = ChangeRequest {
            election,
            target_isr: Some(data.new_isr.iter().map(|(b, _)| *b).collect()),
            unclean_shutdown_replicas: Vec::new(),
            target_leader_recovery_state: Some(data.leader_recovery_state),
        };
        let mut after = partition.clone();
        if let Some(record) = build_change(
            image,
            defaults,
            &tp,
            partition,
            |b| image.is_active(b),
            change,
        ) {
            if let MetadataRecord::PartitionChange { change, .. } = &record {
                after = partition.merge(change);
                let moved = match change.leader {
                    LeaderChange::NoChange => false,
                    LeaderChange::NoLeader => true,
                    LeaderChange::To(b) => b != request.broker,
                };
                records.push(record);
                if moved {
                    // The change completed a reassignment and moved leadership away.
                    let error = if request.version > 1 {
                        ApiError::NewLeaderElected
                    } else {
                        ApiError::FencedLeaderEpoch
                    };
                    results.push(AlterPartitionResult {
                        topic_partition: tp,
                        result: Err(error),
                    });
                    continue;
                }
            }
        }
        results.push(AlterPartitionResult {
            topic_partition: tp,
            result: Ok(PartitionState {
                leader: after.leader,
                isr: after.isr.clone(),
                leader_epoch: after.leader_epoch,
                partition_epoch: after.partition_epoch,
                leader_recovery_state: after.leader_recovery_state,
            }),
        });
    }
    Ok((records, results))
}

/// `ReplicationControlManager.validateAlterPartitionData`, in Kafka's order.
fn validate_alter_partition_data(
    image: &MetadataImage,
    request: &AlterPartitionRequest,
    partition: &PartitionRegistration,
    data: &AlterPartitionData,
) -> Result<(), ApiError> {
    // The sender knows a newer epoch: this controller is behind, so maybe not the controller.
    if data.leader_epoch > partition.leader_epoch
        || data.partition_epoch > partition.partition_epoch
    {
        return Err(ApiError::NotController);
    }
    if data.leader_epoch < partition.leader_epoch {
        return Err(ApiError::FencedLeaderEpoch);
    }
    if Some(request.broker) != partition.leader {
        return Err(ApiError::InvalidRequest);
    }
    if data.partition_epoch < partition.partition_epoch {
        return Err(ApiError::InvalidUpdateVersion);
    }
    // Replicas.validateIsr: members are replicas, no duplicates.
    let new_isr: Vec<BrokerId> = data.new_isr.iter().map(|(b, _)| *b).collect();
    let distinct: BTreeSet<_> = new_isr.iter().collect();
    if distinct.len() != new_isr.len() || new_isr.iter().any(|b| !partition.replicas.contains(b)) {
        return Err(ApiError::InvalidRequest);
    }
    if !new_isr.contains(&request.broker) {
        return Err(ApiError::InvalidRequest);
    }
    // KIP-704: a recovering leader stays alone; RECOVERED never goes back to RECOVERING.
    if data.leader_recovery_state == LeaderRecoveryState::Recovering && new_isr.len() > 1 {
        return Err(ApiError::InvalidRequest);
    }
    if partition.leader_recovery_state == LeaderRecoveryState::Recovered
        && data.leader_recovery_state == LeaderRecoveryState::Recovering
    {
        return Err(ApiError::InvalidRequest);
    }
    // ineligibleReplicasForIsr: unregistered, in controlled shutdown (KAFKA-14140), fenced
    // (KIP-841), or another broker epoch than the leader saw (KIP-903).
    let ineligible = data
        .new_isr
        .iter()
        .any(|(b, epoch)| match image.brokers.get(b) {
            None => true,
            Some(r) => {
                r.in_controlled_shutdown
                    || r.fenced
                    || (request.version >= 3 && epoch.is_some_and(|e| e != r.epoch))
            }
        });
    if ineligible {
        return Err(if request.version > 1 {
            ApiError::IneligibleReplica
        } else {
            ApiError::OperationNotAttempted
        });
    }
    Ok(())
}

/// Which election an ElectLeaders request asks for (Kafka's `ElectionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

/// `ReplicationControlManager.electLeader`: one partition.
pub fn elect_leader(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    tp: &TopicPartition,
    election_type: ElectionType,
    records: &mut Vec<MetadataRecord>,
) -> Result<(), ApiError> {
    let partition = image
        .partition(tp)
        .ok_or(ApiError::UnknownTopicOrPartition)?;
    let not_needed = match election_type {
        // PartitionRegistration.hasPreferredLeader
        ElectionType::Preferred => partition.leader == partition.replicas.first().copied(),
        ElectionType::Unclean => partition.leader.is_some(),
    };
    if not_needed {
        return Err(ApiError::ElectionNotNeeded);
    }
    let election = match election_type {
        ElectionType::Preferred => Election::Preferred,
        ElectionType::Unclean => Election::Unclean,
    };
    let request = ChangeRequest {
        election: Some(election),
        ..ChangeRequest::default()
    };
    match build_change(
        image,
        defaults,
        tp,
        partition,
        |b| image.is_active(b),
        request,
    ) {
        Some(record) => {
            records.push(record);
            Ok(())
        }
        None => Err(match election_type {
            ElectionType::Preferred => ApiError::PreferredLeaderNotAvailable,
            ElectionType::Unclean => ApiError::EligibleLeadersNotAvailable,
        }),
    }
}

/// Per partition, whether an election was written or why not.
pub type ElectionResults = Vec<(TopicPartition, Result<(), ApiError>)>;

/// `ReplicationControlManager.electLeaders`: the named partitions, or (`None`) every
/// partition, leaving out those that need no election.
pub fn elect_leaders(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
    election_type: ElectionType,
    partitions: Option<&[TopicPartition]>,
) -> (Vec<MetadataRecord>, ElectionResults) {
    let mut records = Vec::new();
    let mut results = Vec::new();
    match partitions {
        Some(partitions) => {
            for tp in partitions {
                let result = elect_leader(image, defaults, tp, election_type, &mut records);
                results.push((tp.clone(), result));
            }
        }
        None => {
            let all: Vec<TopicPartition> = image.partitions().map(|(tp, _)| tp).collect();
            for tp in all {
                let result = elect_leader(image, defaults, &tp, election_type, &mut records);
                if result != Err(ApiError::ElectionNotNeeded) {
                    results.push((tp, result));
                }
            }
        }
    }
    (records, results)
}

/// Partitions led by another than their preferred replica (Kafka's `imbalancedPartitions`).
pub fn imbalanced_partitions(image: &MetadataImage) -> Vec<TopicPartition> {
    image
        .partitions()
        .filter(|(_, p)| p.leader.is_some() && p.leader != p.replicas.first().copied())
        .map(|(tp, _)| tp)
        .collect()
}

/// `ReplicationControlManager.arePartitionLeadersImbalanced`.
pub fn are_partition_leaders_imbalanced(image: &MetadataImage) -> bool {
    !imbalanced_partitions(image).is_empty()
}

/// `ReplicationControlManager.maybeBalancePartitionLeaders`
/// (`maybeTriggerLeaderChangeForPartitionsWithoutPreferredLeader`): a preferred election
/// for any imbalanced partition where the preferred replica can lead, up to the batch
/// limit. KRaft has no per-broker imbalance threshold. Returns the records and whether the
/// limit cut the batch short (Kafka reschedules at once).
pub fn maybe_balance_partition_leaders(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
) -> (Vec<MetadataRecord>, bool) {
    let mut records = Vec::new();
    for tp in imbalanced_partitions(image) {
        if records.len() >= defaults.max_elections_per_imbalance {
            break;
        }
        let partition = image.partition(&tp).expect("listed from the image");
        let request = ChangeRequest {
            election: Some(Election::Preferred),
            ..ChangeRequest::default()
        };
        records.extend(build_change(
            image,
            defaults,
            &tp,
            partition,
            |b| image.is_active(b),
            request,
        ));
    }
    let more = records.len() >= defaults.max_elections_per_imbalance;
    (records, more)
}

/// `ReplicationControlManager.maybeElectUncleanLeaders`
/// (`maybeTriggerUncleanLeaderElectionForLeaderlessPartitions`, 3.9+): an unclean election
/// for each leaderless partition whose topic allows it, up to the batch limit.
pub fn maybe_elect_unclean_leaders(
    image: &MetadataImage,
    defaults: &ReplicationDefaults,
) -> (Vec<MetadataRecord>, bool) {
    let mut records = Vec::new();
    for tp in partitions_with_no_leader(image) {
        if records.len() >= defaults.max_elections_per_imbalance {
            break;
        }
        if unclean_leader_election_enabled(image, defaults, &tp.topic) {
            let _ = elect_leader(image, defaults, &tp, ElectionType::Unclean, &mut records);
        }
    }
    let more = records.len() >= defaults.max_elections_per_imbalance;
    (records, more)
}
