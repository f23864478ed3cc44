//! The final state a run reports: every partition as the controller (in ZooKeeper, or in
//! KRaft mode the committed metadata image) and each replica left it, and every consumer group as its coordinator describes it.
//!
//! It is read after the settle, straight from the processes and the disks of brokers that
//! are down, before the nodes are stopped; the checkers judge the run against it.

use super::orchestrate::{BrokerStatus, Nodes};
use super::shared::{offsets_topic_assignment, offsets_tp_for, partition_state, Shared};
use crate::record::{FinalGroup, FinalPartition, FinalReplica, FinalState};
use crate::scenario::Scenario;
use kafka_model::{BrokerId, TopicPartition, OFFSETS_TOPIC};
use std::collections::BTreeSet;

/// Every partition of the scenario's topics and of `__consumer_offsets`, and every group.
pub(super) fn final_state(shared: &Shared, scenario: &Scenario, nodes: &Nodes) -> FinalState {
    let mut partitions = Vec::new();
    let mut topics: Vec<(String, Vec<Vec<BrokerId>>)> = scenario
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.replicas.clone()))
        .collect();
    let offsets = offsets_topic_assignment(shared);
    if !offsets.is_empty() {
        topics.push((OFFSETS_TOPIC.to_string(), offsets));
    }
    for (topic, assignment) in &topics {
        for (p, replicas) in assignment.iter().enumerate() {
            let tp = TopicPartition::new(topic.clone(), p as u32);
            let (leader, leader_epoch, isr) =
                partition_state(shared, &tp).unwrap_or((None, -1, Vec::new()));
            let replica_states = replicas
                .iter()
                .map(|&b| final_replica(shared, nodes, b, &tp))
                .collect();
            partitions.push(FinalPartition {
                tp,
                leader,
                leader_epoch,
                isr,
                replicas: replicas.clone(),
                replica_states,
            });
        }
    }
    let groups = final_groups(shared, scenario, nodes);
    FinalState { partitions, groups }
}

/// Every consumer group of the scenario, as `kafka-consumer-groups.sh --describe` would
/// see it from the group's coordinator.
fn final_groups(shared: &Shared, scenario: &Scenario, nodes: &Nodes) -> Vec<FinalGroup> {
    let ids: BTreeSet<&str> = scenario
        .consumers
        .iter()
        .filter_map(|c| c.group.as_ref().map(|g| g.group_id.as_str()))
        .collect();
    let mut groups = Vec::new();
    for id in ids {
        let tp = offsets_tp_for(scenario, id);
        let coordinator = partition_state(shared, &tp).and_then(|(leader, _, _)| leader);
        let mut group = FinalGroup {
            group: id.to_string(),
            coordinator,
            state: None,
            generation: -1,
            protocol: None,
            members: Vec::new(),
            offsets: Vec::new(),
        };
        let online =
            coordinator.is_some_and(|b| nodes.status.get(&b) == Some(&BrokerStatus::Running));
        if let (Some(b), true) = (coordinator, online) {
            let guard = shared.brokers[&b].lock().expect("broker");
            if let Some(g) = guard
                .as_ref()
                .and_then(|broker| broker.coordinator().groups().get(id))
            {
                group.state = Some(g.state.name().to_string());
                group.generation = g.generation;
                group.protocol = g.protocol.map(|p| p.name().to_string());
                group.members = g
                    .members
                    .values()
                    .map(|m| (m.member_id.clone(), m.assignment.clone()))
                    .collect();
                group.offsets = g.offsets.iter().map(|(tp, o)| (tp.clone(), *o)).collect();
            }
        }
        groups.push(group);
    }
    groups
}

/// One replica's log and offsets: from the running broker, or from the disk of one that is
/// down.
fn final_replica(shared: &Shared, nodes: &Nodes, b: BrokerId, tp: &TopicPartition) -> FinalReplica {
    let online = nodes.status.get(&b) == Some(&BrokerStatus::Running);
    let guard = shared.brokers[&b].lock().expect("broker");
    let disk_guard;
    let (disk, hw, role) = match guard.as_ref() {
        Some(broker) => (
            broker.disk(),
            broker.high_watermark(tp),
            broker.partition_role(tp),
        ),
        None => {
            disk_guard = shared.disks[&b].lock().expect("disk");
            let hw = disk_guard.hw_checkpoint.get(tp).copied().unwrap_or(0);
            (&*disk_guard, hw, None)
        }
    };
    let (log, log_start_offset, log_end_offset) = match disk.logs.get(tp) {
        Some(log) => (
            // What a reader can get: records below the log start offset (a DeleteRecords
            // inside a segment) are still in the file but never served.
            log.records()
                .filter(|r| r.offset >= log.log_start_offset())
                .map(|r| (r.offset, r.id, r.leader_epoch))
                .collect(),
            log.log_start_offset(),
            log.log_end_offset(),
        ),
        None => (Vec::new(), 0, 0),
    };
    let (leader_epoch, is_leader) = role.unwrap_or((-1, false));
    FinalReplica {
        broker: b,
        log,
        log_start_offset,
        log_end_offset,
        high_watermark: hw,
        leader_epoch,
        is_leader,
        online: online && guard.is_some(),
    }
}
