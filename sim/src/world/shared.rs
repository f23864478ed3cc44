//! What the orchestrator and every node of one run share: the scenario, the record, the
//! network faults in force, the brokers' processes and disks, the mailboxes, and the stop
//! signal; and the reads of ZooKeeper's state that faults and the final state both need.
//!
//! Every field sits behind its own `Mutex`: madsim runs the whole run on one thread, so the
//! locks never wait, they only let the node tasks and the orchestrator share one value.

use super::net::{Hosts, Mailbox, NetFaults};
use crate::record::{FaultRecord, RecordedEvent};
use crate::scenario::Scenario;
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use kafka_model::broker::{Broker, Disk};
use kafka_model::controller::kraft::node::ControllerNode;
use kafka_model::controller::kraft::raft::RaftDisk;
use kafka_model::controller::kraft::MetadataRecord;
use kafka_model::controller::state_path;
use kafka_model::protocol::ZkData;
use kafka_model::zookeeper::ZooKeeper;
use kafka_model::{offsets_partition_for, BrokerId, Event, NodeId, TopicPartition, OFFSETS_TOPIC};
use madsim::time::TimeHandle;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// State shared by the orchestrator and every node of one run.
pub(super) struct Shared {
    pub(super) scenario: Arc<Scenario>,
    pub(super) seed: u64,
    pub(super) record: Mutex<Vec<RecordedEvent>>,
    pub(super) faults: Mutex<Vec<FaultRecord>>,
    pub(super) net: Mutex<NetFaults>,
    /// Which processes share a host: both roles of each combined node.
    pub(super) hosts: Hosts,
    /// Each broker's process (None while it is down) and disk.
    pub(super) brokers: BTreeMap<BrokerId, Mutex<Option<Broker>>>,
    pub(super) disks: BTreeMap<BrokerId, Mutex<Disk>>,
    /// Per node: its incarnation (so a restarted node's random draws differ from the last
    /// life) and its mailbox while it runs.
    pub(super) mailboxes: Mutex<BTreeMap<NodeId, Mailbox>>,
    /// ZooKeeper mode: the ensemble (one node). `None` in KRaft mode.
    pub(super) zookeeper: Mutex<Option<ZooKeeper>>,
    /// KRaft mode: each controller node's process (None while it is down) and its disk,
    /// the metadata log and `quorum-state`. Empty in ZooKeeper mode.
    pub(super) controllers: BTreeMap<BrokerId, Mutex<Option<ControllerNode>>>,
    pub(super) controller_disks: BTreeMap<BrokerId, Mutex<RaftDisk<MetadataRecord>>>,
    pub(super) messages_sent: Mutex<u64>,
    /// Per pair of nodes (the lesser first): how many times one of them closed the
    /// connection between them. A connection carries both directions, so a client that
    /// closes it gets its broker's later answers on the new one too.
    pub(super) connections: Mutex<BTreeMap<(NodeId, NodeId), u64>>,
    /// Brokers whose process crashed while their host stayed up: a client's connection to
    /// one is refused. (A power loss takes the host down too: connections time out.)
    pub(super) refusing: Mutex<BTreeSet<NodeId>>,
    /// Connections to close: (the crashed broker, each client to tell), sent by the
    /// orchestrator right after the fault.
    pub(super) closing: Mutex<Vec<NodeId>>,
    /// Brokers whose process exited after a shutdown, for the orchestrator to mark down.
    pub(super) exited: Mutex<BTreeSet<BrokerId>>,
    /// Set once the final settle has begun: a broker that exits after it (a controlled
    /// shutdown still under way) wakes the orchestrator, which starts it again.
    pub(super) exit_after_settle: Mutex<Option<UnboundedSender<()>>>,
    /// Why the run stopped early, and the orchestrator's wake-up for it.
    pub(super) stop: Mutex<Option<Stop>>,
    pub(super) stop_signal: UnboundedSender<()>,
    /// Set by the wall-clock watchdog; every node looks at it once a turn.
    pub(super) watchdog_fired: Arc<AtomicBool>,
}

/// Why a run stopped before its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    Livelock(Livelock),
    Watchdog,
}

/// A node that took [`LIVELOCK_TURNS_MAX`](super::LIVELOCK_TURNS_MAX) turns without the simulated clock moving.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Livelock {
    pub node: String,
    pub at_ms: u64,
    pub turns: u64,
}

impl Shared {
    pub(super) fn now_ms() -> u64 {
        TimeHandle::current().elapsed().as_millis() as u64
    }

    pub(super) fn now_ns() -> u64 {
        TimeHandle::current().elapsed().as_nanos() as u64
    }

    pub(super) fn record_events(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        for e in &events {
            tracing::debug!(kind = e.kind(), event = ?e);
        }
        let at_ms = Self::now_ms();
        let mut record = self.record.lock().expect("record lock");
        record.extend(
            events
                .into_iter()
                .map(|event| RecordedEvent { at_ms, event }),
        );
    }

    pub(super) fn record_fault(&self, action: &str, detail: String) {
        tracing::info!(action, %detail, "fault");
        self.faults.lock().expect("faults lock").push(FaultRecord {
            at_ms: Self::now_ms(),
            action: action.to_string(),
            detail,
        });
    }

    /// Asks the orchestrator to end the run now; the first reason given is kept.
    pub(super) fn stop_run(&self, reason: Stop) {
        let mut stop = self.stop.lock().expect("stop");
        if stop.is_none() {
            tracing::warn!(?reason, "the run stops early");
            *stop = Some(reason);
            let _ = self.stop_signal.unbounded_send(());
        }
    }

    pub(super) fn stopped(&self) -> bool {
        self.stop.lock().expect("stop").is_some()
    }
}

/// The state of one run that every node shares, and the orchestrator's end of the stop signal.
pub(super) fn new_shared(
    scenario: Arc<Scenario>,
    seed: u64,
    broker_ids: &[BrokerId],
    controller_ids: &[BrokerId],
    watchdog_fired: Arc<AtomicBool>,
) -> (Arc<Shared>, UnboundedReceiver<()>) {
    let kraft = !controller_ids.is_empty();
    let (stop_signal, stop_rx) = unbounded();
    let write_back = scenario.cluster.os.write_back;
    let hosts = Hosts::with_combined(scenario.cluster.combined_node_ids());
    let shared = Arc::new(Shared {
        scenario,
        seed,
        record: Mutex::new(Vec::new()),
        faults: Mutex::new(Vec::new()),
        net: Mutex::new(NetFaults::on(hosts.clone())),
        hosts,
        brokers: broker_ids.iter().map(|b| (*b, Mutex::new(None))).collect(),
        disks: broker_ids
            .iter()
            .map(|b| (*b, Mutex::new(Disk::new(write_back))))
            .collect(),
        mailboxes: Mutex::new(BTreeMap::new()),
        zookeeper: Mutex::new((!kraft).then(ZooKeeper::with_kafka_paths)),
        controllers: controller_ids
            .iter()
            .map(|c| (*c, Mutex::new(None)))
            .collect(),
        controller_disks: controller_ids
            .iter()
            .map(|c| (*c, Mutex::new(RaftDisk::new())))
            .collect(),
        messages_sent: Mutex::new(0),
        refusing: Mutex::new(BTreeSet::new()),
        connections: Mutex::new(BTreeMap::new()),
        closing: Mutex::new(Vec::new()),
        exited: Mutex::new(BTreeSet::new()),
        exit_after_settle: Mutex::new(None),
        stop: Mutex::new(None),
        stop_signal,
        watchdog_fired,
    });
    (shared, stop_rx)
}

impl Shared {
    pub(super) fn is_kraft(&self) -> bool {
        !self.controllers.is_empty()
    }
}

/// A partition's leader, leader epoch and ISR as the cluster's metadata holds them now:
/// ZooKeeper's state znode, or in KRaft mode the committed metadata image.
pub(super) fn partition_state(
    shared: &Shared,
    tp: &TopicPartition,
) -> Option<(Option<BrokerId>, i32, Vec<BrokerId>)> {
    if shared.is_kraft() {
        return with_metadata_image(shared, |image| {
            image
                .partition(tp)
                .map(|p| (p.leader, p.leader_epoch, p.isr.clone()))
        })
        .flatten();
    }
    zk_partition_state(shared, tp)
}

/// Reads `/brokers/topics/T/partitions/P/state` from the ZooKeeper node.
fn zk_partition_state(
    shared: &Shared,
    tp: &TopicPartition,
) -> Option<(Option<BrokerId>, i32, Vec<BrokerId>)> {
    let zk = shared.zookeeper.lock().expect("zk");
    let zk = zk.as_ref()?;
    match zk.get(&state_path(tp)) {
        Some((
            ZkData::PartitionState {
                leader,
                leader_epoch,
                isr,
                ..
            },
            _,
        )) => Some((*leader, *leader_epoch, isr.clone())),
        _ => None,
    }
}

/// KRaft: reads the metadata as committed now, from the running controller that has
/// replayed the most of the log (the active one when there is one).
pub(super) fn with_metadata_image<R>(
    shared: &Shared,
    f: impl FnOnce(&kafka_model::controller::kraft::MetadataImage) -> R,
) -> Option<R> {
    let mut best: Option<(Option<u64>, BrokerId)> = None;
    for (&id, slot) in &shared.controllers {
        let slot = slot.lock().expect("controller");
        if let Some(node) = slot.as_ref() {
            let offset = node.committed_image().offset;
            if best.is_none_or(|(o, _)| offset > o) {
                best = Some((offset, id));
            }
        }
    }
    let (_, id) = best?;
    let slot = shared.controllers[&id].lock().expect("controller");
    slot.as_ref().map(|node| f(node.committed_image()))
}

/// KRaft: the controller node that is active now, if any.
pub(super) fn active_controller_node(shared: &Shared) -> Option<BrokerId> {
    shared.controllers.iter().find_map(|(&id, slot)| {
        let slot = slot.lock().expect("controller");
        slot.as_ref().filter(|n| n.is_active()).map(|_| id)
    })
}

/// ZooKeeper mode: the broker `/controller` names.
pub(super) fn current_controller(shared: &Shared) -> Option<BrokerId> {
    let zk = shared.zookeeper.lock().expect("zk");
    match zk.as_ref()?.get("/controller") {
        Some((ZkData::Controller { broker_id }, _)) => Some(*broker_id),
        _ => None,
    }
}

pub(super) fn assignment(scenario: &Scenario, tp: &TopicPartition) -> Vec<BrokerId> {
    scenario
        .topics
        .iter()
        .find(|t| t.name == tp.topic)
        .and_then(|t| t.replicas.get(tp.partition as usize))
        .cloned()
        .unwrap_or_default()
}

/// The `__consumer_offsets` partition of a group.
pub(super) fn offsets_tp_for(scenario: &Scenario, group: &str) -> TopicPartition {
    let n = scenario.cluster.config.offsets_topic_num_partitions;
    TopicPartition::new(OFFSETS_TOPIC, offsets_partition_for(group, n))
}

/// The replica assignment of `__consumer_offsets`, once a broker created it.
pub(super) fn offsets_topic_assignment(shared: &Shared) -> Vec<Vec<BrokerId>> {
    if shared.is_kraft() {
        return with_metadata_image(shared, |image| {
            image
                .topics
                .get(OFFSETS_TOPIC)
                .map(|t| t.partitions.values().map(|p| p.replicas.clone()).collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    }
    let zk = shared.zookeeper.lock().expect("zk");
    match zk
        .as_ref()
        .and_then(|zk| zk.get(&format!("/brokers/topics/{OFFSETS_TOPIC}")))
    {
        Some((ZkData::TopicAssignment(a), _)) => a.values().cloned().collect(),
        _ => Vec::new(),
    }
}
