//! The cluster as it stood at one simulated moment, rebuilt from the event record: what
//! `kafka-topics.sh --describe` and `kafka-consumer-groups.sh --describe` would have
//! printed then (`run --describe-at 15s`).
//!
//! The tables after the run show the cluster after the settle, when every fault is healed,
//! every ISR is full again and every lag is 0; the interesting moments are in the middle.
//! Nothing here asks a process: each column comes from the events up to that moment, as
//! the checkers read them.
//! - Leader, epoch: the controller's last election (`LeaderElected`, `ControllerShrunkIsr`),
//!   none while the partition is offline.
//! - ISR: every change, whoever made it ([`crate::check::isr::IsrTracker`]).
//! - Each replica's LEO and HW: its last append, truncation, restart or HW move; down while
//!   its broker is crashed (the fault record).
//! - A group: its coordinator (who loaded it last), state and generation (the last
//!   rebalance step), the assignment of its last Stable generation, and the latest commit
//!   per partition; the lag is against the leader's HW then.

use crate::check::groups::{check_groups, describe_table, freezes_of, GroupOut};
use crate::check::isr::IsrTracker;
use crate::record::{FinalGroup, FinalPartition, FinalReplica, FinalState};
use crate::report::{partition_out, partitions_table, seconds, PartitionOut};
use crate::scenario::Scenario;
use crate::world::RunResult;
use kafka_model::{BrokerId, Event, NodeId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// The two tables' contents at `at_ms`: the partitions, and the groups with their counts
/// up to then.
pub struct Moment {
    pub at_ms: u64,
    pub state: FinalState,
    pub groups: BTreeMap<String, GroupOut>,
}

/// The cluster at `at_ms` (events at that very millisecond included) of a run of
/// `scenario`.
pub fn at(result: &RunResult, scenario: &Scenario, at_ms: u64) -> Moment {
    let upto = result.events.partition_point(|e| e.at_ms <= at_ms);
    let events = &result.events[..upto];
    let down = brokers_down(result, at_ms);
    let state = FinalState {
        partitions: partitions_at(result, events, &down),
        groups: groups_at(result, events, &down),
    };
    let consumer_names = scenario.consumer_names();
    let freezes = freezes_of(&result.faults, &consumer_names);
    let groups = check_groups(events, &state, at_ms, &freezes).groups;
    Moment {
        at_ms,
        state,
        groups,
    }
}

impl Moment {
    /// The partitions as the JSON outcome's `partitions` has them, `offline_ms` counted up
    /// to this moment.
    pub fn partitions(&self, result: &RunResult) -> Vec<PartitionOut> {
        let upto = result.events.partition_point(|e| e.at_ms <= self.at_ms);
        let offline = crate::availability::offline_ms(
            result.events[..upto].iter().map(|e| (e.at_ms, &e.event)),
            self.at_ms,
        );
        self.state
            .partitions
            .iter()
            .map(|p| partition_out(p, offline.get(&p.tp).copied().unwrap_or(0)))
            .collect()
    }

    /// Both tables as `run --describe-at` prints them.
    pub fn text(&self, result: &RunResult, show_internal: bool) -> String {
        let mut text = format!("at t={}:\n", seconds(self.at_ms));
        text.push_str(&partitions_table(&self.partitions(result), show_internal));
        if !self.groups.is_empty() {
            text.push('\n');
            text.push_str(&describe_table(&self.groups));
        }
        text
    }

    /// Both tables as `run --describe-at --format json` gives them.
    pub fn json(&self, result: &RunResult) -> serde_json::Value {
        serde_json::json!({
            "at_ms": self.at_ms,
            "partitions": self.partitions(result),
            "groups": self.groups,
        })
    }
}

/// One replica's offsets as its last event left them.
#[derive(Clone, Copy, Default)]
struct Offsets {
    log_end_offset: u64,
    high_watermark: u64,
}

fn partitions_at(
    result: &RunResult,
    events: &[crate::record::RecordedEvent],
    down: &BTreeSet<BrokerId>,
) -> Vec<FinalPartition> {
    let mut isr = IsrTracker::default();
    let mut leaders: BTreeMap<&TopicPartition, (Option<BrokerId>, i32)> = BTreeMap::new();
    let mut offsets: BTreeMap<(&TopicPartition, BrokerId), Offsets> = BTreeMap::new();
    for e in events {
        isr.apply(&e.event);
        match &e.event {
            Event::LeaderElected {
                tp,
                leader,
                leader_epoch,
                ..
            }
            | Event::ControllerShrunkIsr {
                tp,
                leader,
                leader_epoch,
                ..
            } => {
                leaders.insert(tp, (*leader, *leader_epoch));
            }
            Event::PartitionOffline { tp, .. } => {
                let epoch = leaders.get(tp).map_or(0, |(_, e)| *e);
                leaders.insert(tp, (None, epoch));
            }
            Event::Appended {
                broker,
                tp,
                log_end_offset,
                ..
            }
            | Event::BecameFollower {
                broker,
                tp,
                log_end_offset,
                ..
            } => {
                offsets.entry((tp, *broker)).or_default().log_end_offset = *log_end_offset;
            }
            Event::Truncated {
                broker,
                tp,
                to_offset,
                ..
            } => {
                let o = offsets.entry((tp, *broker)).or_default();
                o.log_end_offset = *to_offset;
                o.high_watermark = o.high_watermark.min(*to_offset);
            }
            Event::HighWatermarkChanged {
                broker,
                tp,
                new,
                log_end_offset,
                ..
            }
            | Event::BecameLeader {
                broker,
                tp,
                high_watermark: new,
                log_end_offset,
                ..
            } => {
                let o = offsets.entry((tp, *broker)).or_default();
                o.log_end_offset = *log_end_offset;
                o.high_watermark = *new;
            }
            Event::BrokerRecovered { broker, replicas } => {
                for (tp, leo, hw) in replicas {
                    let o = offsets.entry((tp, *broker)).or_default();
                    o.log_end_offset = *leo;
                    o.high_watermark = *hw;
                }
            }
            _ => {}
        }
    }
    result
        .final_state
        .partitions
        .iter()
        .map(|p| {
            let (leader, leader_epoch) = leaders.get(&p.tp).copied().unwrap_or((None, 0));
            FinalPartition {
                tp: p.tp.clone(),
                leader,
                leader_epoch,
                isr: isr.isr(&p.tp).to_vec(),
                replicas: p.replicas.clone(),
                replica_states: p
                    .replicas
                    .iter()
                    .map(|&broker| {
                        let o = offsets.get(&(&p.tp, broker)).copied().unwrap_or_default();
                        FinalReplica {
                            broker,
                            log: Vec::new(),
                            log_start_offset: 0,
                            log_end_offset: o.log_end_offset,
                            high_watermark: o.high_watermark,
                            leader_epoch,
                            is_leader: leader == Some(broker),
                            online: !down.contains(&broker),
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The brokers down at `at_ms`: a crash or power loss takes a broker down until its
/// restart, and so does the exit of a controlled shutdown (`BrokerShutDown`); the settle
/// restarts every broker still down. The HTML report's table reads them alike.
fn brokers_down(result: &RunResult, at_ms: u64) -> BTreeSet<BrokerId> {
    enum Step {
        Down(BrokerId),
        Up(BrokerId),
        AllUp,
    }
    let mut steps: Vec<(u64, Step)> = Vec::new();
    for f in result.faults.iter().filter(|f| f.at_ms <= at_ms) {
        if f.action == "settle" {
            steps.push((f.at_ms, Step::AllUp));
            continue;
        }
        let Some(NodeId::Broker(b)) = crate::check::calm::parse_node(&f.detail) else {
            continue;
        };
        match f.action.as_str() {
            "crash" | "power-loss" => steps.push((f.at_ms, Step::Down(b))),
            "restart" => steps.push((f.at_ms, Step::Up(b))),
            _ => {}
        }
    }
    let upto = result.events.partition_point(|e| e.at_ms <= at_ms);
    for e in &result.events[..upto] {
        if let Event::BrokerShutDown { broker, .. } = &e.event {
            steps.push((e.at_ms, Step::Down(*broker)));
        }
    }
    // In time order; at one millisecond the faults first, as they were listed first.
    steps.sort_by_key(|(at, _)| *at);
    let mut down = BTreeSet::new();
    for (_, step) in steps {
        match step {
            Step::Down(b) => {
                down.insert(b);
            }
            Step::Up(b) => {
                down.remove(&b);
            }
            Step::AllUp => down.clear(),
        }
    }
    down
}

/// Every group of the scenario as its coordinator would have described it then.
fn groups_at(
    result: &RunResult,
    events: &[crate::record::RecordedEvent],
    down: &BTreeSet<BrokerId>,
) -> Vec<FinalGroup> {
    let mut groups: BTreeMap<String, GroupAt> = result
        .final_state
        .groups
        .iter()
        .map(|g| (g.group.clone(), GroupAt::default()))
        .collect();
    // Per `__consumer_offsets` partition: its leader, and whether it finished loading.
    let mut coordinators: BTreeMap<u32, (BrokerId, bool)> = BTreeMap::new();
    for e in events {
        match &e.event {
            Event::GroupLoadStarted {
                broker, partition, ..
            } => {
                coordinators.insert(*partition, (*broker, false));
            }
            Event::GroupsLoaded {
                broker, partition, ..
            } => {
                coordinators.insert(*partition, (*broker, true));
            }
            Event::GroupsUnloaded {
                broker, partition, ..
            } if coordinators
                .get(partition)
                .is_some_and(|(b, _)| b == broker) =>
            {
                coordinators.remove(partition);
            }
            Event::RebalanceStarted { group, .. } => {
                if let Some(g) = groups.get_mut(group) {
                    g.state = "PreparingRebalance";
                    g.members.clear();
                }
            }
            Event::GenerationStarted {
                group,
                generation,
                protocol,
                members,
                ..
            } => {
                if let Some(g) = groups.get_mut(group) {
                    g.generation = *generation;
                    g.protocol = protocol.clone();
                    g.members.clear();
                    g.state = if members.is_empty() {
                        "Empty"
                    } else {
                        "CompletingRebalance"
                    };
                }
            }
            Event::GroupStable {
                group, assignment, ..
            } => {
                if let Some(g) = groups.get_mut(group) {
                    g.members = assignment.clone();
                    g.state = "Stable";
                }
            }
            Event::OffsetsCommitted { group, offsets, .. } => {
                if let Some(g) = groups.get_mut(group) {
                    for (tp, offset) in offsets {
                        g.offsets.insert(tp.clone(), *offset);
                    }
                }
            }
            _ => {}
        }
    }
    let offsets_partitions = result
        .final_state
        .partitions
        .iter()
        .filter(|p| p.tp.topic == kafka_model::OFFSETS_TOPIC)
        .count() as u32;
    groups
        .into_iter()
        .map(|(group, g)| {
            let partition = kafka_model::offsets_partition_for(&group, offsets_partitions.max(1));
            let coordinator = coordinators.get(&partition).copied();
            let live = coordinator.filter(|(b, _)| !down.contains(b));
            FinalGroup {
                group,
                coordinator: coordinator.map(|(b, _)| b),
                // With no live coordinator, or one still loading, the tool fails: there is no
                // state to show.
                state: live
                    .filter(|(_, loaded)| *loaded)
                    .map(|_| g.state.to_string()),
                generation: g.generation,
                protocol: g.protocol,
                members: g.members,
                offsets: g.offsets.into_iter().collect(),
            }
        })
        .collect()
}

/// A group as the events so far describe it.
struct GroupAt {
    state: &'static str,
    generation: i32,
    protocol: Option<String>,
    members: Vec<(String, Vec<TopicPartition>)>,
    offsets: BTreeMap<TopicPartition, u64>,
}

impl Default for GroupAt {
    fn default() -> Self {
        GroupAt {
            state: "Empty",
            generation: 0,
            protocol: None,
            members: Vec::new(),
            offsets: BTreeMap::new(),
        }
    }
}
