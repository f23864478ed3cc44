//! Applying the scenario's faults to the running cluster: crashes and power losses, restarts,
//! pauses, and the network faults; and the final settle that undoes them all.
//!
//! A fault names its target as the scenario does (`leader:orders-0`, `controller`); the
//! target is resolved to a node at the moment the fault fires, from what ZooKeeper holds
//! then. Every fault applied is recorded with plain words for the narration.
//!
//! A fault strikes a process, and a combined node (`process.roles=broker,controller`) is one
//! process with two roles: Kafka's `KafkaRaftServer` runs its `BrokerServer` and
//! `ControllerServer` in one JVM on one machine. So a crash, power loss, restart, pause or
//! resume of either role ([`crash`], [`restart`], [`pause`], [`resume`]) does the same to
//! the other, a disk replacement empties both roles' data, and a network fault is kept by
//! host (`net::Hosts`). The fault's line names both roles.

use super::net::{deliver_signal, send_from_tool, send_resets};
use super::orchestrate::{BrokerStatus, Nodes};
use super::shared::{
    active_controller_node, assignment, current_controller, offsets_tp_for, partition_state, Shared,
};
use crate::scenario::{ElectionScope, FaultAction, SlowDirection, Target};
use kafka_model::broker::Disk;
use kafka_model::controller::kraft::raft::RaftDisk;
use kafka_model::event::TruncateReason;
use kafka_model::protocol::{DeleteRecordsRequest, ElectLeadersRequest, ElectionType, Terminate};
use kafka_model::Message;
use kafka_model::{BrokerId, Event, NodeId, TopicPartition};
use madsim::runtime::Handle;
use std::sync::Arc;

/// Resolves a fault target to a node at the moment the fault fires, described with every
/// role it holds then, however the target was written: `leader:orders-0` and `broker 1` read
/// alike when broker 1 leads orders-0.
fn resolve(shared: &Shared, target: &Target) -> Option<(NodeId, String)> {
    let broker = |b: BrokerId, follower_of: Option<&TopicPartition>| {
        (
            NodeId::Broker(b),
            broker_description(shared, b, follower_of),
        )
    };
    match target {
        Target::Broker(b) => Some(broker(*b, None)),
        Target::ZooKeeper => Some((NodeId::ZooKeeper, "zookeeper".into())),
        Target::Controller if shared.is_kraft() => active_controller_node(shared)
            .map(|c| (NodeId::Controller(c), controller_description(shared, c))),
        Target::Controller => current_controller(shared).map(|b| broker(b, None)),
        Target::ControllerNode(c) => shared
            .controllers
            .contains_key(c)
            .then(|| (NodeId::Controller(*c), controller_description(shared, *c))),
        Target::Leader(tp) => {
            let (leader, _, _) = partition_state(shared, tp)?;
            leader.map(|b| broker(b, None))
        }
        Target::Follower(tp) => {
            let (leader, _, _) = partition_state(shared, tp)?;
            assignment(&shared.scenario, tp)
                .into_iter()
                .find(|r| Some(*r) != leader)
                .map(|b| broker(b, Some(tp)))
        }
        Target::Producer(name) => {
            let i = shared
                .scenario
                .producers
                .iter()
                .position(|p| &p.name == name)?;
            Some((NodeId::Producer(i as u32), format!("producer {name}")))
        }
        Target::Consumer(name) => {
            let i = shared
                .scenario
                .consumers
                .iter()
                .position(|c| &c.name == name)?;
            Some((NodeId::Consumer(i as u32), format!("consumer {name}")))
        }
        Target::Processor(name) => {
            let i = shared
                .scenario
                .processors
                .iter()
                .position(|p| &p.name == name)?;
            Some((NodeId::Processor(i as u32), format!("processor {name}")))
        }
        Target::Coordinator(group) => {
            let tp = offsets_tp_for(&shared.scenario, group);
            let (leader, _, _) = partition_state(shared, &tp)?;
            leader.map(|b| broker(b, None))
        }
    }
}

/// How many partitions a fault line names a broker the leader of before it counts the rest.
const LEADERSHIPS_NAMED: usize = 4;

/// "broker 1 (the controller; leader of orders-0, orders-2; coordinator of group billing)":
/// what ZooKeeper says broker `b` is now. A follower target names the partition it follows.
/// A combined node's broker names its controller first: "broker 1 (also controller 1, the
/// active controller, combined mode; leader of orders-0)".
fn broker_description(
    shared: &Shared,
    b: BrokerId,
    follower_of: Option<&TopicPartition>,
) -> String {
    let mut roles = Vec::new();
    if shared.hosts.other_role(NodeId::Broker(b)).is_some() {
        let active = match active_controller_node(shared) == Some(b) {
            true => ", the active controller",
            false => "",
        };
        roles.push(format!("also controller {b}{active}, combined mode"));
    }
    roles.extend(broker_roles(shared, b, follower_of));
    describe(NodeId::Broker(b), roles)
}

/// "controller 4 (the active controller)"; a combined node's controller names its broker
/// and what the broker leads: "controller 1 (the active controller; also broker 1, combined
/// mode; leader of orders-0)".
fn controller_description(shared: &Shared, c: BrokerId) -> String {
    let mut roles = Vec::new();
    if active_controller_node(shared) == Some(c) {
        roles.push("the active controller".to_string());
    }
    if shared.hosts.other_role(NodeId::Controller(c)).is_some() {
        roles.push(format!("also broker {c}, combined mode"));
        roles.extend(broker_roles(shared, c, None));
    }
    describe(NodeId::Controller(c), roles)
}

/// "broker 1" alone, or with its roles: "broker 1 (leader of orders-0; ...)".
fn describe(node: NodeId, roles: Vec<String>) -> String {
    match roles.is_empty() {
        true => node.to_string(),
        false => format!("{node} ({})", roles.join("; ")),
    }
}

/// What broker `b` is now besides a broker: the ZooKeeper-mode controller, the leader of
/// some partitions, the follower a target named, the coordinator of some groups.
fn broker_roles(shared: &Shared, b: BrokerId, follower_of: Option<&TopicPartition>) -> Vec<String> {
    let mut roles = Vec::new();
    if current_controller(shared) == Some(b) {
        roles.push("the controller".to_string());
    }
    let led: Vec<TopicPartition> = shared
        .scenario
        .topics
        .iter()
        .flat_map(|t| (0..t.replicas.len() as u32).map(|p| TopicPartition::new(t.name.clone(), p)))
        .filter(|tp| partition_state(shared, tp).is_some_and(|(leader, _, _)| leader == Some(b)))
        .collect();
    if !led.is_empty() {
        let mut named: Vec<String> = led
            .iter()
            .take(LEADERSHIPS_NAMED)
            .map(|tp| tp.to_string())
            .collect();
        if led.len() > LEADERSHIPS_NAMED {
            named.push(format!("{} more", led.len() - LEADERSHIPS_NAMED));
        }
        roles.push(format!("leader of {}", named.join(", ")));
    }
    if let Some(tp) = follower_of {
        roles.push(format!("follower of {tp}"));
    }
    let groups: std::collections::BTreeSet<&str> = shared
        .scenario
        .consumers
        .iter()
        .filter_map(|c| c.group.as_ref().map(|g| g.group_id.as_str()))
        .filter(|group| {
            let tp = offsets_tp_for(&shared.scenario, group);
            partition_state(shared, &tp).is_some_and(|(leader, _, _)| leader == Some(b))
        })
        .collect();
    for group in groups {
        roles.push(format!("coordinator of group {group}"));
    }
    roles
}

/// The action a fault is recorded under when it changes nothing (a restart of a running
/// broker, a resume of a process that is not paused, a heal with nothing to heal).
pub const NO_OP: &str = "no-op";

/// What a restart did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Restarted {
    Yes,
    /// The broker was paused: it was woken, not restarted.
    Resumed,
    /// The broker was running: nothing happened.
    AlreadyRunning,
}

/// Applies one fault and records it. A fault whose target is no node right now does nothing
/// (a crash records that it did nothing).
pub(super) fn apply_fault(
    shared: &Arc<Shared>,
    handle: &Handle,
    nodes: &mut Nodes,
    action: &FaultAction,
) {
    let name = action.name();
    sync_exits(handle, shared, nodes);
    match action {
        FaultAction::Shutdown(t) => apply_shutdown(shared, nodes, name, t),
        FaultAction::ReplaceDisk(t) => apply_replace_disk(shared, handle, nodes, name, t),
        // The orchestrator runs a rolling restart itself: it waits between its steps.
        FaultAction::RollingRestart { .. } => {}
        // The second instance was started asleep with the run and wakes now by its own
        // timer (see `start_producer`): the fault only tells it.
        FaultAction::Fork { target, fork } => {
            let scenario = &shared.scenario;
            let second = &scenario.producers[*fork];
            let id = second.config.transactional_id.as_deref().unwrap_or("");
            shared.record_fault(
                name,
                format!(
                    "{target}: a second instance, {}, starts with the same transactional.id {id} while the first runs on",
                    second.name
                ),
            );
        }
        FaultAction::Crash(t) | FaultAction::PowerLoss(t) => {
            let power_loss = matches!(action, FaultAction::PowerLoss(_));
            apply_crash(shared, handle, nodes, name, t, power_loss);
        }
        FaultAction::Restart(t) => {
            let Some((node, desc)) = resolve(shared, t) else {
                return;
            };
            match restart(shared, handle, nodes, node) {
                // A crashed broker holds no role, whatever ZooKeeper still says of it.
                Restarted::Yes => match node {
                    NodeId::Broker(_) | NodeId::Controller(_) => {
                        shared.record_fault(name, restarted_description(shared, node, desc))
                    }
                    _ => shared.record_fault(name, desc),
                },
                // A paused broker is not restarted but woken: say so.
                Restarted::Resumed => shared.record_fault("resume", desc),
                Restarted::AlreadyRunning => shared.record_fault(
                    NO_OP,
                    format!("restart {desc}: it is running, so nothing restarts"),
                ),
            }
        }
        FaultAction::Pause(t) => {
            let Some((node, desc)) = resolve(shared, t) else {
                return;
            };
            // A process that is down cannot freeze: pausing it would mark it paused, and a
            // resume would then mark it running without starting it.
            if nodes.server_status(node).map(|s| *s) == Some(BrokerStatus::Crashed) {
                shared.record_fault(
                    NO_OP,
                    format!("pause {desc}: it is not running, so nothing freezes"),
                );
                return;
            }
            pause(shared, handle, nodes, node);
            shared.record_fault(name, desc);
        }
        FaultAction::Resume(t) => {
            let Some((node, desc)) = resolve(shared, t) else {
                return;
            };
            if resume(shared, handle, nodes, node) {
                shared.record_fault(name, desc);
            } else {
                shared.record_fault(
                    NO_OP,
                    format!("resume {desc}: it is not paused, so nothing wakes up"),
                );
            }
        }
        FaultAction::Isolate(t) => {
            let Some((node, desc)) = resolve(shared, t) else {
                return;
            };
            let mut net = shared.net.lock().expect("net");
            let host = net.host_of(node);
            net.cuts.isolated.insert(host);
            drop(net);
            shared.record_fault(name, desc);
        }
        FaultAction::Partition(groups) => apply_partition(shared, name, groups),
        FaultAction::Heal(t) => apply_heal(shared, name, t.as_ref()),
        FaultAction::Slow {
            target,
            delay_ms,
            direction,
        } => apply_slow(shared, name, target, *delay_ms, *direction),
        FaultAction::Loss { target, rate } => apply_loss(shared, name, target, *rate),
        FaultAction::PreferredElection(scope) => apply_preferred_election(shared, name, scope),
        FaultAction::DeleteRecords { tp, before_offset } => {
            apply_delete_records(shared, name, tp, *before_offset)
        }
    }
}

/// A restarted server as its fault line names it: a broker without the roles it held before
/// its crash, a combined node with both its roles ("broker 1 (and controller 1, combined
/// mode)"), a dedicated controller as `desc` said.
pub(super) fn restarted_description(shared: &Shared, node: NodeId, desc: String) -> String {
    match (node, shared.hosts.other_role(node)) {
        (_, Some(other)) => format!("{node} (and {other}, combined mode)"),
        (NodeId::Broker(b), None) => format!("broker {b}"),
        _ => desc,
    }
}

/// How long the leader may hold a DeleteRecords for its followers: the Admin client's
/// `request.timeout.ms` default (30 s), which the request carries as its `timeout_ms`.
const DELETE_RECORDS_TIMEOUT_MS: u64 = 30_000;

/// `kafka-delete-records.sh --offset-json-file`: the Admin client sends a DeleteRecords to
/// the partition's leader (`KafkaAdminClient.deleteRecords` finds it in its metadata; the
/// world reads it from ZooKeeper's partition state, which is where that metadata comes
/// from). The leader's answer is in the record. With no leader, or the leader down, the tool
/// fails and nothing changes.
fn apply_delete_records(
    shared: &Shared,
    name: &str,
    tp: &TopicPartition,
    before_offset: Option<u64>,
) {
    let offset_text =
        before_offset.map_or("-1 (the high watermark)".to_string(), |o| o.to_string());
    let request = Message::DeleteRecords(DeleteRecordsRequest {
        correlation_id: 1,
        timeout_ms: DELETE_RECORDS_TIMEOUT_MS,
        partitions: vec![(tp.clone(), before_offset)],
    });
    let leader = partition_state(shared, tp).and_then(|(leader, _, _)| leader);
    let sent_to =
        leader.filter(|l| send_from_tool(shared, NodeId::Admin, NodeId::Broker(*l), request));
    match sent_to {
        Some(leader) => shared.record_fault(
            name,
            format!("kafka-delete-records.sh for {tp} before offset {offset_text}; the tool sends it to the leader, broker {leader}"),
        ),
        None => shared.record_fault(
            NO_OP,
            format!("delete-records for {tp}: no leader is reachable, so the tool fails and nothing changes"),
        ),
    }
}

/// `kafka-leader-election.sh --election-type PREFERRED`: the tool sends an ElectLeaders
/// request to the broker ZooKeeper names controller now (as a Metadata answer would tell
/// it), from the admin host; the controller's answer is in the record. The tool does not
/// retry: with no controller, or the controller down, nothing happens and the fault says so.
fn apply_preferred_election(shared: &Shared, name: &str, scope: &ElectionScope) {
    let (partitions, flags) = match scope {
        ElectionScope::All => (None, "--all-topic-partitions".to_string()),
        ElectionScope::Partition(tp) => (
            Some(vec![tp.clone()]),
            format!("--topic {} --partition {}", tp.topic, tp.partition),
        ),
    };
    let request = Message::ElectLeaders(ElectLeadersRequest {
        election_type: ElectionType::Preferred,
        partitions,
    });
    // KRaft: the tool reaches the active controller (a broker would forward it there).
    let (controller, node) = match shared.is_kraft() {
        true => {
            let c = active_controller_node(shared);
            (c, c.map(NodeId::Controller))
        }
        false => {
            let c = current_controller(shared);
            (c, c.map(NodeId::Broker))
        }
    };
    let sent_to = controller
        .zip(node)
        .filter(|(_, node)| send_from_tool(shared, NodeId::Admin, *node, request));
    match sent_to {
        Some((_, node)) => shared.record_fault(
            name,
            format!("kafka-leader-election.sh --election-type PREFERRED {flags}; the tool sends it to the controller, {node}"),
        ),
        None => shared.record_fault(
            NO_OP,
            format!("preferred-election for {scope}: no controller is reachable, so the tool fails and nothing changes"),
        ),
    }
}

/// A crash or a power loss of the target; recorded even when the target is no node now.
fn apply_crash(
    shared: &Arc<Shared>,
    handle: &Handle,
    nodes: &mut Nodes,
    name: &str,
    target: &Target,
    power_loss: bool,
) {
    let Some((node, desc)) = resolve(shared, target) else {
        shared.record_fault(
            name,
            format!("{target}: no such node right now, nothing happened"),
        );
        return;
    };
    crash(shared, handle, nodes, node, power_loss);
    shared.record_fault(name, desc);
}

/// Splits the network into groups of nodes that hear only each other.
fn apply_partition(shared: &Shared, name: &str, groups: &[Vec<Target>]) {
    let resolved: Vec<Vec<NodeId>> = groups
        .iter()
        .map(|g| {
            g.iter()
                .filter_map(|t| resolve(shared, t).map(|(n, _)| n))
                .collect()
        })
        .collect();
    let desc = resolved
        .iter()
        .map(|g| {
            format!(
                "[{}]",
                g.iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(" | ");
    shared
        .net
        .lock()
        .expect("net")
        .cuts
        .partitions
        .push(resolved);
    shared.record_fault(name, desc);
}

/// Heals the network faults of one node, or every network fault.
fn apply_heal(shared: &Shared, name: &str, target: Option<&Target>) {
    let target = target.and_then(|t| resolve(shared, t));
    let healed = shared
        .net
        .lock()
        .expect("net")
        .heal(target.as_ref().map(|(n, _)| *n));
    let targeted = target.is_some();
    let desc = target.map_or("every network fault".to_string(), |(_, d)| d);
    match healed {
        None => shared.record_fault(NO_OP, format!("heal {desc}: nothing to heal")),
        Some(splits) if targeted && !splits.is_empty() => {
            // A node's heal ends the whole split it was part of: say which.
            let shown: Vec<String> = splits.iter().map(|s| show_split(s)).collect();
            shared.record_fault(
                name,
                format!("{desc}, and with it the whole split {}", shown.join(", ")),
            );
        }
        Some(_) => shared.record_fault(name, desc),
    }
}

/// A split as `[broker 0] | [broker 1, broker 2]`.
fn show_split(groups: &[Vec<NodeId>]) -> String {
    groups
        .iter()
        .map(|g| {
            let nodes: Vec<String> = g.iter().map(|n| n.to_string()).collect();
            format!("[{}]", nodes.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Adds `delay_ms` to every message to and from the target, or only to those it sends or
/// receives.
fn apply_slow(
    shared: &Shared,
    name: &str,
    target: &Target,
    delay_ms: u64,
    direction: SlowDirection,
) {
    let Some((node, desc)) = resolve(shared, target) else {
        return;
    };
    let mut net = shared.net.lock().expect("net");
    let host = net.host_of(node);
    net.slow_ms.insert(host, (delay_ms, direction));
    drop(net);
    let which = match direction {
        SlowDirection::Both => "to and from it",
        SlowDirection::Out => "it sends (what it receives is on time)",
        SlowDirection::In => "it receives (what it sends is on time)",
    };
    shared.record_fault(
        name,
        format!("{desc}: +{delay_ms} ms on every message {which}"),
    );
}

/// Loses a share of the target's messages (TCP retransmits them, later).
fn apply_loss(shared: &Shared, name: &str, target: &Target, rate: f64) {
    let Some((node, desc)) = resolve(shared, target) else {
        return;
    };
    let mut net = shared.net.lock().expect("net");
    let host = net.host_of(node);
    net.loss.insert(host, rate);
    drop(net);
    shared.record_fault(
        name,
        format!(
            "{desc}: {:.0}% of its packets are lost and TCP sends them again, so its messages arrive late (none is lost)",
            rate * 100.0
        ),
    );
}

/// A crash or power loss of a process: of both roles of a combined node, the controller's
/// first (the order the world started them in).
fn crash(shared: &Arc<Shared>, handle: &Handle, nodes: &mut Nodes, node: NodeId, power_loss: bool) {
    for role in roles_of_process(shared, node) {
        crash_role(shared, handle, nodes, role, power_loss);
    }
    assert_one_process(shared, nodes, node);
}

/// The invariant of a combined node: after a fault on its process both roles stand alike
/// (running, crashed or paused), as one JVM would.
fn assert_one_process(shared: &Shared, nodes: &mut Nodes, node: NodeId) {
    let Some(other) = shared.hosts.other_role(node) else {
        return;
    };
    let mine = nodes.server_status(node).copied();
    let theirs = nodes.server_status(other).copied();
    assert_eq!(mine, theirs, "{node} and {other} are one process");
}

/// The state machines one process runs: a combined node's controller then its broker (the
/// order the world starts them in), or the node alone.
fn roles_of_process(shared: &Shared, node: NodeId) -> Vec<NodeId> {
    match shared.hosts.other_role(node) {
        Some(other) => {
            let mut both = vec![node, other];
            both.sort_by_key(|n| !matches!(n, NodeId::Controller(_)));
            both
        }
        None => vec![node],
    }
}

fn crash_role(
    shared: &Arc<Shared>,
    handle: &Handle,
    nodes: &mut Nodes,
    node: NodeId,
    power_loss: bool,
) {
    let Some(id) = nodes.madsim_id(node) else {
        return;
    };
    handle.kill(id);
    if let NodeId::Controller(c) = node {
        crash_controller(shared, nodes, c, power_loss);
        return;
    }
    let NodeId::Broker(b) = node else {
        if node == NodeId::ZooKeeper {
            nodes.zk_paused = false;
        } else {
            nodes.paused_clients.remove(&node);
            shared.record_events(vec![Event::ClientCrashed { node }]);
        }
        return;
    };
    nodes.status.insert(b, BrokerStatus::Crashed);
    if power_loss {
        shared.refusing.lock().expect("refusing").remove(&node);
    } else {
        shared.refusing.lock().expect("refusing").insert(node);
        shared.closing.lock().expect("closing").push(node);
    }
    let taken = shared.brokers[&b].lock().expect("broker").take();
    let mut disk = shared.disks[&b].lock().expect("disk");
    if let Some(broker) = taken {
        *disk = broker.into_disk();
    }
    if power_loss {
        let lost = disk.lose_unflushed(Shared::now_ms());
        let events = lost
            .into_iter()
            .map(|(tp, loss)| Event::Truncated {
                broker: b,
                tp,
                from_log_end_offset: loss.log_end_offset_before,
                to_offset: loss.kept_offset(),
                reason: TruncateReason::PowerLoss {
                    flushed_offset: loss.flushed_offset,
                    written_back_offset: loss.written_back_offset,
                },
            })
            .collect();
        shared.record_events(events);
    }
}

/// A controller node goes down: its disk keeps the metadata log (without the unflushed tail
/// after a power loss) and `quorum-state`.
fn crash_controller(shared: &Shared, nodes: &mut Nodes, c: BrokerId, power_loss: bool) {
    nodes.controller_status.insert(c, BrokerStatus::Crashed);
    let taken = shared.controllers[&c].lock().expect("controller").take();
    let mut disk = shared.controller_disks[&c].lock().expect("controller disk");
    if let Some(node) = taken {
        *disk = node.into_disk();
    }
    if power_loss {
        let before = disk.log.end_offset();
        disk.crash();
        let after = disk.log.end_offset();
        if after < before {
            shared.record_events(vec![Event::QuorumTruncated {
                node_id: c,
                from_log_end_offset: before,
                to_offset: after,
                high_watermark: 0,
                power_loss: true,
            }]);
        }
    }
}

/// Restarts a process: both roles of a combined node. What happened to `node` itself is
/// returned (its other role was down, paused or running with it).
pub(super) fn restart(
    shared: &Shared,
    handle: &Handle,
    nodes: &mut Nodes,
    node: NodeId,
) -> Restarted {
    let mut restarted = Restarted::AlreadyRunning;
    for role in roles_of_process(shared, node) {
        let r = restart_role(shared, handle, nodes, role);
        if role == node {
            restarted = r;
        }
    }
    assert_one_process(shared, nodes, node);
    restarted
}

fn restart_role(shared: &Shared, handle: &Handle, nodes: &mut Nodes, node: NodeId) -> Restarted {
    let Some(id) = nodes.madsim_id(node) else {
        return Restarted::AlreadyRunning;
    };
    match nodes.server_status(node).map(|s| *s) {
        Some(BrokerStatus::Crashed) => {
            shared.refusing.lock().expect("refusing").remove(&node);
            handle.restart(id);
            *nodes.server_status(node).expect("a server") = BrokerStatus::Running;
            Restarted::Yes
        }
        Some(BrokerStatus::Paused) => {
            resume_role(handle, nodes, node);
            Restarted::Resumed
        }
        Some(BrokerStatus::Running) => Restarted::AlreadyRunning,
        None => {
            // A client or ZooKeeper restarts as a new process whatever it was doing.
            handle.restart(id);
            Restarted::Yes
        }
    }
}

/// Freezes a node's process (a long GC pause): its tasks stop until it is resumed. A
/// combined node's JVM pauses both roles.
fn pause(shared: &Shared, handle: &Handle, nodes: &mut Nodes, node: NodeId) {
    for role in roles_of_process(shared, node) {
        pause_role(handle, nodes, role);
    }
    assert_one_process(shared, nodes, node);
}

fn pause_role(handle: &Handle, nodes: &mut Nodes, node: NodeId) {
    if let Some(id) = nodes.madsim_id(node) {
        handle.pause(id);
    }
    if let Some(status) = nodes.server_status(node) {
        *status = BrokerStatus::Paused;
        return;
    }
    match node {
        NodeId::ZooKeeper => nodes.zk_paused = true,
        client => {
            nodes.paused_clients.insert(client);
        }
    }
}

/// Wakes a paused process, both roles of a combined node; false when `node` was not paused
/// (nothing happens).
fn resume(shared: &Shared, handle: &Handle, nodes: &mut Nodes, node: NodeId) -> bool {
    let mut resumed = false;
    for role in roles_of_process(shared, node) {
        let r = resume_role(handle, nodes, role);
        if role == node {
            resumed = r;
        }
    }
    assert_one_process(shared, nodes, node);
    resumed
}

fn resume_role(handle: &Handle, nodes: &mut Nodes, node: NodeId) -> bool {
    let Some(id) = nodes.madsim_id(node) else {
        return false;
    };
    if let Some(status) = nodes.server_status(node) {
        if *status != BrokerStatus::Paused {
            return false;
        }
        *status = BrokerStatus::Running;
        handle.resume(id);
        return true;
    }
    match node {
        NodeId::ZooKeeper if nodes.zk_paused => {
            handle.resume(id);
            nodes.zk_paused = false;
            true
        }
        client if nodes.paused_clients.remove(&client) => {
            handle.resume(id);
            true
        }
        _ => false,
    }
}

/// A broker's process ended its shutdown and exited (called from its own node loop): its
/// disk keeps what it wrote, and its connections close, as a crashed process's do.
pub(super) fn broker_exited(shared: &Shared, b: BrokerId) {
    let node = NodeId::Broker(b);
    let taken = shared.brokers[&b].lock().expect("broker").take();
    if let Some(broker) = taken {
        *shared.disks[&b].lock().expect("disk") = broker.into_disk();
    }
    shared.refusing.lock().expect("refusing").insert(node);
    shared.closing.lock().expect("closing").push(node);
    let all: Vec<NodeId> = shared
        .mailboxes
        .lock()
        .expect("mailboxes")
        .keys()
        .copied()
        .collect();
    send_resets(shared, all.into_iter());
    // KafkaRaftServer.shutdown: a combined node's broker shuts down first, then its
    // controller, and the process exits.
    if let Some(NodeId::Controller(c)) = shared.hosts.other_role(node) {
        stop_controller(shared, c);
    }
    shared.exited.lock().expect("exited").insert(b);
    if let Some(wake) = shared
        .exit_after_settle
        .lock()
        .expect("exit signal")
        .as_ref()
    {
        let _ = wake.unbounded_send(());
    }
}

/// A combined node's controller ends with its process: it handles nothing more (its node
/// loop finds no controller and ends), and its disk keeps what it wrote. Its shutdown is
/// not graceful here: a leader does not resign with EndQuorumEpoch first.
fn stop_controller(shared: &Shared, c: BrokerId) {
    let taken = shared.controllers[&c].lock().expect("controller").take();
    if let Some(node) = taken {
        *shared.controller_disks[&c].lock().expect("controller disk") = node.into_disk();
    }
}

/// Marks the brokers that exited since the last look as down, so a restart starts them.
pub(super) fn sync_exits(handle: &Handle, shared: &Shared, nodes: &mut Nodes) {
    let exited = std::mem::take(&mut *shared.exited.lock().expect("exited"));
    for b in exited {
        if let Some(id) = nodes.madsim_id(NodeId::Broker(b)) {
            handle.kill(id);
        }
        nodes.status.insert(b, BrokerStatus::Crashed);
        // A combined node's controller exited with the process.
        if let Some(other @ NodeId::Controller(c)) = shared.hosts.other_role(NodeId::Broker(b)) {
            if let Some(id) = nodes.madsim_id(other) {
                handle.kill(id);
            }
            nodes.controller_status.insert(c, BrokerStatus::Crashed);
        }
    }
}

/// The broker a broker-only fault names right now, with its description: a combined
/// node's controller names its process, and so its broker.
fn resolve_broker(shared: &Shared, target: &Target) -> Option<(BrokerId, String)> {
    match resolve(shared, target)? {
        (NodeId::Broker(b), desc) => Some((b, desc)),
        (node @ NodeId::Controller(c), desc) if shared.hosts.other_role(node).is_some() => {
            Some((c, desc))
        }
        _ => None,
    }
}

/// A SIGTERM to a running broker: it runs its controlled shutdown and exits on its own.
fn apply_shutdown(shared: &Shared, nodes: &Nodes, name: &str, target: &Target) {
    let Some((b, desc)) = resolve_broker(shared, target) else {
        shared.record_fault(
            NO_OP,
            format!("shutdown {target}: no such broker right now, nothing happened"),
        );
        return;
    };
    if nodes.status[&b] != BrokerStatus::Running {
        shared.record_fault(
            NO_OP,
            format!("shutdown {desc}: it is not running, so nothing shuts down"),
        );
        return;
    }
    deliver_signal(shared, NodeId::Broker(b), Message::Terminate(Terminate));
    shared.record_fault(name, desc);
}

/// A disk replacement: the broker stops at once if it runs (a kill, as an operator pulling a
/// failed disk gets), comes back with an empty disk under the same broker id, and starts.
fn apply_replace_disk(
    shared: &Arc<Shared>,
    handle: &Handle,
    nodes: &mut Nodes,
    name: &str,
    target: &Target,
) {
    let Some((b, desc)) = resolve_broker(shared, target) else {
        shared.record_fault(
            NO_OP,
            format!("replace-disk {target}: no such broker right now, nothing happened"),
        );
        return;
    };
    let node = NodeId::Broker(b);
    let combined = shared.hosts.other_role(node).is_some();
    if nodes.status[&b] != BrokerStatus::Crashed {
        crash(shared, handle, nodes, node, false);
    }
    *shared.disks[&b].lock().expect("disk") = Disk::default();
    if combined {
        // One machine, one disk: a combined node's metadata log (metadata.log.dir, by
        // default the first of log.dirs) and quorum-state go with the broker's logs.
        *shared.controller_disks[&b].lock().expect("controller disk") = RaftDisk::new();
    }
    restart(shared, handle, nodes, node);
    let detail = match shared.is_kraft() {
        true if combined => format!(
            "{desc}: stopped, its disk replaced by an empty one (the broker's logs and the \
             controller's metadata log and quorum-state), and started again {}",
            crate::narrate::KRAFT_INCARNATION
        ),
        true => format!(
            "{desc}: stopped, its disk replaced by an empty one, and started again {}",
            crate::narrate::KRAFT_INCARNATION
        ),
        false => format!("{desc}: stopped, its disk replaced by an empty one, and started again"),
    };
    shared.record_fault(name, detail);
}

/// During the settle: starts again every broker that exited since the settle began (its
/// controlled shutdown was still under way when the settle restarted the others), with its
/// controller if it is a combined node, so the final state has every broker up.
pub(super) fn restart_exited_after_settle(
    shared: &Arc<Shared>,
    handle: &Handle,
    nodes: &mut Nodes,
) {
    sync_exits(handle, shared, nodes);
    let down: Vec<BrokerId> = nodes
        .status
        .iter()
        .filter(|(_, s)| **s == BrokerStatus::Crashed)
        .map(|(b, _)| *b)
        .collect();
    for b in down {
        let node = NodeId::Broker(b);
        if restart(shared, handle, nodes, node) == Restarted::Yes {
            let desc = restarted_description(shared, node, format!("broker {b}"));
            shared.record_fault(
                "settle",
                format!("{desc} exited after the settle began (its shutdown was under way) and is started again"),
            );
        }
    }
}

/// The final settle: heal every network fault, resume every paused node, restart every
/// crashed broker.
pub(super) fn settle(shared: &Arc<Shared>, handle: &Handle, nodes: &mut Nodes) {
    sync_exits(handle, shared, nodes);
    shared.net.lock().expect("net").heal(None);
    if nodes.zk_paused {
        resume(shared, handle, nodes, NodeId::ZooKeeper);
    }
    // Paused clients resume; crashed clients stay down (a scenario restarts them itself).
    let paused: Vec<NodeId> = nodes.paused_clients.iter().copied().collect();
    for client in paused {
        resume(shared, handle, nodes, client);
    }
    // Who is down is read before any restart: a combined node's restart brings both roles.
    let down = |status: &std::collections::BTreeMap<BrokerId, BrokerStatus>| -> Vec<BrokerId> {
        status
            .iter()
            .filter(|(_, s)| **s != BrokerStatus::Running)
            .map(|(id, _)| *id)
            .collect()
    };
    let restarted_controllers = down(&nodes.controller_status);
    let restarted = down(&nodes.status);
    for c in &restarted_controllers {
        restart(shared, handle, nodes, NodeId::Controller(*c));
    }
    for b in &restarted {
        restart(shared, handle, nodes, NodeId::Broker(*b));
    }
    let list = |ids: &[BrokerId]| {
        ids.iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let detail = match (restarted.is_empty(), restarted_controllers.is_empty()) {
        (true, true) => "healed every fault; every broker was up".to_string(),
        (false, true) => format!(
            "healed every fault and restarted broker(s) {}",
            list(&restarted)
        ),
        (true, false) => format!(
            "healed every fault and restarted controller(s) {}",
            list(&restarted_controllers)
        ),
        (false, false) => format!(
            "healed every fault and restarted controller(s) {} and broker(s) {}",
            list(&restarted_controllers),
            list(&restarted)
        ),
    };
    shared.record_fault("settle", detail);
}
