//! An in-memory Kafka cluster for tests: brokers, ZooKeeper and the admin client that creates
//! the topics, driven by hand on a manual clock, in the manner of raft-rs's test harness.
//!
//! Why a harness in the model: the controller, the brokers' replication and ZooKeeper only
//! mean something together (a leader dies when its ZooKeeper session expires, the controller
//! learns it from a watch, the brokers learn the new leader from a LeaderAndIsr request).
//! The simulator runs them on madsim's network with latencies, loss and scheduling; a unit
//! test wants the same processes with nothing in between, so that what it asserts is the
//! protocol and not the network. This harness builds the processes the way the simulator's
//! world does (the same constructors, node ids, configs and topic creation through
//! [`Admin`](crate::clients::admin::Admin)), drives them through the [`Actor`] trait alone, and lets the test inspect both
//! what ZooKeeper holds and what each broker believes.
//!
//! The network is perfect and instantaneous: a message is delivered at the simulated instant
//! it was sent, messages of one link (one sender, one receiver) arrive in the order they were
//! sent, as over TCP, and messages are handled in the order they were sent across links. Every
//! message due now is handled before a timer fires, the simulator's rule for a message and a
//! timer due at once. Faults are the test's: a broker crashes (its disk survives, its
//! in-flight messages are lost) and restarts, and a node can be cut off from everyone (its
//! messages wait until the cut heals, as TCP retransmits through a partition).

use crate::actor::{Actor, Output};
use crate::broker::{Broker, BrokerTimer, Disk};
use crate::clients::admin::{Admin, AdminTimer};
use crate::config::{BrokerConfig, TopicConfig};
use crate::controller::state_path;
use crate::event::Event;
use crate::protocol::{Message, ZkData};
use crate::types::{BrokerId, LeaderEpoch, NodeId, TopicPartition};
use crate::zookeeper::{ZkTimer, ZooKeeper};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How long the admin client waits for every broker to register before it creates the
/// topics anyway: the simulator's world waits as long.
pub const ADMIN_WAIT_MAX_MS: u64 = 5_000;

/// How many messages and timers may be handled at one simulated instant before the harness
/// calls it a livelock and panics.
const TURNS_PER_INSTANT_MAX: u64 = 1_000_000;

/// What a cluster is made of: its brokers, their configs, and the topics the admin client
/// creates once they registered.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub broker_ids: Vec<BrokerId>,
    pub config: BrokerConfig,
    pub topic_configs: BTreeMap<String, TopicConfig>,
    /// Topic -> partition -> replicas (the first replica is the preferred leader).
    pub topics: BTreeMap<String, BTreeMap<u32, Vec<BrokerId>>>,
}

impl ClusterSpec {
    /// Brokers with Kafka's default configs and no topic.
    pub fn new(broker_ids: &[BrokerId]) -> ClusterSpec {
        ClusterSpec {
            broker_ids: broker_ids.to_vec(),
            config: BrokerConfig::default(),
            topic_configs: BTreeMap::new(),
            topics: BTreeMap::new(),
        }
    }

    pub fn config(mut self, config: BrokerConfig) -> ClusterSpec {
        self.config = config;
        self
    }

    /// A topic with one entry of `replicas` per partition, in partition order.
    pub fn topic(mut self, name: &str, replicas: &[&[BrokerId]]) -> ClusterSpec {
        let assignment = replicas
            .iter()
            .enumerate()
            .map(|(p, r)| (p as u32, r.to_vec()))
            .collect();
        self.topics.insert(name.to_string(), assignment);
        self
    }

    pub fn topic_config(mut self, name: &str, config: TopicConfig) -> ClusterSpec {
        self.topic_configs.insert(name.to_string(), config);
        self
    }
}

/// A timer of one of the cluster's processes.
#[derive(Clone, Debug)]
enum AnyTimer {
    Broker(BrokerTimer),
    ZooKeeper(ZkTimer),
    Admin(AdminTimer),
}

/// A timer waiting to fire, for one life of its node.
#[derive(Clone, Debug)]
struct PendingTimer {
    node: NodeId,
    incarnation: u64,
    timer: AnyTimer,
}

/// One broker's slot: the running process, or the disk it left when it crashed.
enum BrokerSlot {
    Running(Box<Broker>),
    Crashed(Disk),
}

/// A partition's state znode, `/brokers/topics/T/partitions/P/state`, as the controller
/// wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkPartitionState {
    pub leader: Option<BrokerId>,
    pub leader_epoch: LeaderEpoch,
    pub isr: Vec<BrokerId>,
    /// The epoch of the controller that wrote it.
    pub controller_epoch: i32,
    /// The znode version (Kafka's partition epoch).
    pub version: i32,
}

/// A cluster of brokers, one ZooKeeper server and the admin client, on a manual clock.
pub struct Cluster {
    spec: ClusterSpec,
    now_ms: u64,
    zookeeper: ZooKeeper,
    admin: Admin,
    brokers: BTreeMap<BrokerId, BrokerSlot>,
    /// Each node's current life: starts at 1, one more at every restart.
    incarnations: BTreeMap<NodeId, u64>,
    /// Messages in flight, per link (from, to), each with its send order.
    links: BTreeMap<(NodeId, NodeId), VecDeque<(u64, Message)>>,
    next_send: u64,
    /// Timers by (due time, the order they were set).
    timers: BTreeMap<(u64, u64), PendingTimer>,
    next_timer: u64,
    /// Nodes cut off from every other node.
    isolated: BTreeSet<NodeId>,
    /// Links cut both ways, as (lower, higher) node pairs.
    cut_links: BTreeSet<(NodeId, NodeId)>,
    /// Every event, with when and where it happened.
    events: Vec<(u64, NodeId, Event)>,
    turns_at: (u64, u64),
}

impl Cluster {
    /// Starts ZooKeeper, the brokers and the admin client at time 0, as the simulator's world
    /// does, and hands every message sent at that instant on.
    pub fn start(spec: ClusterSpec) -> Cluster {
        let admin = Admin::new(
            spec.broker_ids.len(),
            spec.topics.clone(),
            ADMIN_WAIT_MAX_MS,
        );
        let mut cluster = Cluster {
            now_ms: 0,
            zookeeper: ZooKeeper::with_kafka_paths(),
            admin,
            brokers: BTreeMap::new(),
            incarnations: BTreeMap::new(),
            links: BTreeMap::new(),
            next_send: 0,
            timers: BTreeMap::new(),
            next_timer: 0,
            isolated: BTreeSet::new(),
            cut_links: BTreeSet::new(),
            events: Vec::new(),
            turns_at: (0, 0),
            spec,
        };
        cluster.start_node(NodeId::ZooKeeper);
        cluster.start_node(NodeId::Admin);
        for b in cluster.spec.broker_ids.clone() {
            cluster
                .brokers
                .insert(b, BrokerSlot::Crashed(Disk::default()));
            cluster.start_broker(b);
        }
        cluster.deliver_all();
        cluster
    }

    // ---------------------------------------------------------------------------------------
    // The clock

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Runs the cluster for `ms` of simulated time: every message is delivered as soon as it
    /// is sent, every timer fires when the clock reaches it.
    pub fn run_for(&mut self, ms: u64) {
        let end_ms = self.now_ms + ms;
        self.run_until_ms(end_ms, |_| false);
    }

    /// Runs until `done` holds (checked after every message and timer) or `max_ms` passed.
    /// True when `done` held.
    pub fn run_until(&mut self, max_ms: u64, done: impl Fn(&Cluster) -> bool) -> bool {
        let end_ms = self.now_ms + max_ms;
        self.run_until_ms(end_ms, done)
    }

    fn run_until_ms(&mut self, end_ms: u64, done: impl Fn(&Cluster) -> bool) -> bool {
        loop {
            while self.deliver_one() {
                if done(self) {
                    return true;
                }
            }
            if done(self) {
                return true;
            }
            if !self.fire_next_timer(end_ms) {
                self.now_ms = self.now_ms.max(end_ms);
                return done(self);
            }
        }
    }

    /// Fires the earliest timer due by `end_ms`, moving the clock to it. False when none is.
    fn fire_next_timer(&mut self, end_ms: u64) -> bool {
        let Some((&(at_ms, seq), _)) = self.timers.iter().next() else {
            return false;
        };
        if at_ms > end_ms {
            return false;
        }
        let pending = self.timers.remove(&(at_ms, seq)).expect("present");
        self.now_ms = self.now_ms.max(at_ms);
        if self.incarnation(pending.node) != pending.incarnation || !self.is_up(pending.node) {
            return true;
        }
        self.count_turn();
        let node = pending.node;
        match (node, pending.timer) {
            (NodeId::Broker(b), AnyTimer::Broker(t)) => {
                let now_ms = self.now_ms;
                let out = self.with_broker(b, |broker, out| broker.on_timer(now_ms, t, out));
                self.absorb(node, out, AnyTimer::Broker);
            }
            (NodeId::ZooKeeper, AnyTimer::ZooKeeper(t)) => {
                let mut out = Output::default();
                self.zookeeper.on_timer(self.now_ms, t, &mut out);
                self.absorb(node, out, AnyTimer::ZooKeeper);
            }
            (NodeId::Admin, AnyTimer::Admin(t)) => {
                let mut out = Output::default();
                self.admin.on_timer(self.now_ms, t, &mut out);
                self.absorb(node, out, AnyTimer::Admin);
            }
            (node, timer) => unreachable!("{timer:?} set for {node}"),
        }
        true
    }

    fn count_turn(&mut self) {
        let (at_ms, turns) = &mut self.turns_at;
        if *at_ms != self.now_ms {
            *at_ms = self.now_ms;
            *turns = 0;
        }
        *turns += 1;
        assert!(
            *turns <= TURNS_PER_INSTANT_MAX,
            "livelock: {TURNS_PER_INSTANT_MAX} turns at {} ms",
            self.now_ms
        );
    }

    // ---------------------------------------------------------------------------------------
    // The network

    /// Delivers every message that can be delivered now.
    fn deliver_all(&mut self) {
        while self.deliver_one() {}
    }

    /// Delivers the message sent first among the heads of the links that are not cut.
    /// False when there is none.
    fn deliver_one(&mut self) -> bool {
        let next = self
            .links
            .iter()
            .filter(|((from, to), queue)| !queue.is_empty() && !self.blocked(*from, *to))
            .min_by_key(|(_, queue)| queue.front().expect("not empty").0)
            .map(|(link, _)| *link);
        let Some((from, to)) = next else {
            return false;
        };
        let queue = self.links.get_mut(&(from, to)).expect("present");
        let (_, message) = queue.pop_front().expect("not empty");
        if queue.is_empty() {
            self.links.remove(&(from, to));
        }
        self.count_turn();
        self.deliver(from, to, message);
        true
    }

    fn blocked(&self, a: NodeId, b: NodeId) -> bool {
        self.isolated.contains(&a)
            || self.isolated.contains(&b)
            || self.cut_links.contains(&(a.min(b), a.max(b)))
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, message: Message) {
        let now_ms = self.now_ms;
        match to {
            NodeId::Broker(b) => {
                if !self.is_up(to) {
                    return;
                }
                let out = self.with_broker(b, |broker, out| {
                    broker.on_message(now_ms, from, message, out)
                });
                self.absorb(to, out, AnyTimer::Broker);
            }
            NodeId::ZooKeeper => {
                let mut out = Output::default();
                self.zookeeper.on_message(now_ms, from, message, &mut out);
                self.absorb(to, out, AnyTimer::ZooKeeper);
            }
            NodeId::Admin => {
                let mut out = Output::default();
                self.admin.on_message(now_ms, from, message, &mut out);
                self.absorb(to, out, AnyTimer::Admin);
            }
            // No clients or KRaft controllers run here: what is sent to them is lost.
            NodeId::Producer(_)
            | NodeId::Consumer(_)
            | NodeId::Processor(_)
            | NodeId::Controller(_) => {}
        }
    }

    /// Takes what a process asked for: its messages go on their links, its timers on the
    /// clock, its events on the record.
    fn absorb<T>(&mut self, node: NodeId, out: Output<T>, timer: impl Fn(T) -> AnyTimer) {
        for (to, message) in out.messages {
            self.next_send += 1;
            self.links
                .entry((node, to))
                .or_default()
                .push_back((self.next_send, message));
        }
        let incarnation = self.incarnation(node);
        for (delay_ms, t) in out.timers {
            self.next_timer += 1;
            let pending = PendingTimer {
                node,
                incarnation,
                timer: timer(t),
            };
            self.timers
                .insert((self.now_ms + delay_ms, self.next_timer), pending);
        }
        for event in out.events {
            self.events.push((self.now_ms, node, event));
        }
        // A broker that finished its shutdown has exited: what it sent last still goes out.
        if let NodeId::Broker(b) = node {
            if self.broker(b).is_some_and(|broker| broker.exited()) {
                let disk = self.take_disk(b);
                self.brokers.insert(b, BrokerSlot::Crashed(disk));
            }
        }
    }

    /// Puts a message on a link, as if `from` had sent it now.
    pub fn send(&mut self, from: NodeId, to: NodeId, message: Message) {
        let mut out: Output<()> = Output::default();
        out.send(to, message);
        self.absorb(from, out, |()| unreachable!("no timer"));
    }

    // ---------------------------------------------------------------------------------------
    // Faults

    /// Cuts a node off from every other node. What it sends, and what is sent to it, waits
    /// until [`Cluster::heal`].
    pub fn isolate(&mut self, node: NodeId) {
        self.isolated.insert(node);
    }

    /// Cuts the link between two nodes, both ways, until [`Cluster::heal`].
    pub fn cut(&mut self, a: NodeId, b: NodeId) {
        self.cut_links.insert((a.min(b), a.max(b)));
    }

    /// Ends every cut; the messages that waited are delivered in the order they were sent.
    pub fn heal(&mut self) {
        self.isolated.clear();
        self.cut_links.clear();
    }

    /// The broker's process dies: its disk is kept, everything it had in memory is gone, and
    /// the messages on its links are lost (its connections are reset). ZooKeeper only notices
    /// when the broker's session expires.
    pub fn crash(&mut self, b: BrokerId) {
        let disk = self.take_disk(b);
        self.brokers.insert(b, BrokerSlot::Crashed(disk));
        let node = NodeId::Broker(b);
        self.links
            .retain(|(from, to), _| *from != node && *to != node);
    }

    /// The operator's SIGTERM to a running broker: it runs its controlled shutdown and
    /// exits on its own (see `Broker` and [`Actor::exited`]).
    pub fn shutdown(&mut self, b: BrokerId) {
        let node = NodeId::Broker(b);
        self.send(node, node, Message::Terminate(crate::protocol::Terminate));
    }

    /// A crashed broker starts again from its disk, as a new life of its node.
    pub fn restart(&mut self, b: BrokerId) {
        if matches!(self.brokers.get(&b), Some(BrokerSlot::Crashed(_))) {
            self.start_broker(b);
        }
    }

    fn start_broker(&mut self, b: BrokerId) {
        let disk = self.take_disk(b);
        let broker = Broker::new(
            b,
            self.spec.config.clone(),
            self.spec.topic_configs.clone(),
            disk,
        );
        self.brokers
            .insert(b, BrokerSlot::Running(Box::new(broker)));
        self.start_node(NodeId::Broker(b));
    }

    /// Takes a broker's disk out of its slot: the running broker's, or the one it left.
    fn take_disk(&mut self, b: BrokerId) -> Disk {
        match self.brokers.remove(&b).expect("a broker of the cluster") {
            BrokerSlot::Running(broker) => broker.into_disk(),
            BrokerSlot::Crashed(disk) => disk,
        }
    }

    /// Starts a new life of a node: its timers from an earlier life will not fire.
    fn start_node(&mut self, node: NodeId) {
        *self.incarnations.entry(node).or_insert(0) += 1;
        let now_ms = self.now_ms;
        match node {
            NodeId::Broker(b) => {
                let out = self.with_broker(b, |broker, out| broker.start(now_ms, out));
                self.absorb(node, out, AnyTimer::Broker);
            }
            NodeId::ZooKeeper => {
                let mut out = Output::default();
                self.zookeeper.start(now_ms, &mut out);
                self.absorb(node, out, AnyTimer::ZooKeeper);
            }
            NodeId::Admin => {
                let mut out = Output::default();
                self.admin.start(now_ms, &mut out);
                self.absorb(node, out, AnyTimer::Admin);
            }
            NodeId::Producer(_) | NodeId::Consumer(_) | NodeId::Processor(_) => {
                unreachable!("no clients here")
            }
            NodeId::Controller(_) => {
                unreachable!("a ZooKeeper-mode cluster has no KRaft controllers")
            }
        }
    }

    fn with_broker(
        &mut self,
        b: BrokerId,
        f: impl FnOnce(&mut Broker, &mut Output<BrokerTimer>),
    ) -> Output<BrokerTimer> {
        let mut out = Output::default();
        match self.brokers.get_mut(&b) {
            Some(BrokerSlot::Running(broker)) => f(broker, &mut out),
            _ => panic!("broker {b} is not running"),
        }
        out
    }

    fn incarnation(&self, node: NodeId) -> u64 {
        self.incarnations.get(&node).copied().unwrap_or(0)
    }

    fn is_up(&self, node: NodeId) -> bool {
        match node {
            NodeId::Broker(b) => matches!(self.brokers.get(&b), Some(BrokerSlot::Running(_))),
            _ => true,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Inspection

    /// A running broker; `None` while it is crashed.
    pub fn broker(&self, b: BrokerId) -> Option<&Broker> {
        match self.brokers.get(&b) {
            Some(BrokerSlot::Running(broker)) => Some(broker),
            _ => None,
        }
    }

    pub fn zookeeper(&self) -> &ZooKeeper {
        &self.zookeeper
    }

    /// Every event so far: (time, node, event).
    pub fn events(&self) -> &[(u64, NodeId, Event)] {
        &self.events
    }

    /// Whether the admin client wrote the topics' assignments.
    pub fn topics_created(&self) -> bool {
        self.admin.topics_created()
    }

    /// The brokers registered in ZooKeeper (`/brokers/ids`): those whose session lives.
    pub fn registered_brokers(&self) -> Vec<BrokerId> {
        self.zookeeper
            .children("/brokers/ids")
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect()
    }

    /// The controller as ZooKeeper names it (`/controller`).
    pub fn controller(&self) -> Option<BrokerId> {
        match self.zookeeper.get("/controller") {
            Some((ZkData::Controller { broker_id }, _)) => Some(*broker_id),
            _ => None,
        }
    }

    /// The controller epoch in ZooKeeper (`/controller_epoch`).
    pub fn controller_epoch(&self) -> Option<i32> {
        match self.zookeeper.get("/controller_epoch") {
            Some((ZkData::ControllerEpoch(epoch), _)) => Some(*epoch),
            _ => None,
        }
    }

    /// The running brokers that host a controller (more than one only while a zombie has
    /// not noticed it lost the role).
    pub fn brokers_acting_as_controller(&self) -> Vec<BrokerId> {
        self.brokers
            .keys()
            .copied()
            .filter(|b| self.broker(*b).is_some_and(Broker::is_controller))
            .collect()
    }

    /// A partition's state znode as the controller wrote it.
    pub fn zk_partition_state(&self, tp: &TopicPartition) -> Option<ZkPartitionState> {
        match self.zookeeper.get(&state_path(tp)) {
            Some((
                ZkData::PartitionState {
                    leader,
                    leader_epoch,
                    isr,
                    controller_epoch,
                },
                version,
            )) => Some(ZkPartitionState {
                leader: *leader,
                leader_epoch: *leader_epoch,
                isr: isr.clone(),
                controller_epoch: *controller_epoch,
                version,
            }),
            _ => None,
        }
    }

    /// The leader ZooKeeper names for a partition.
    pub fn leader(&self, tp: &TopicPartition) -> Option<BrokerId> {
        self.zk_partition_state(tp).and_then(|s| s.leader)
    }

    /// The running brokers that act as leader of a partition, with their leader epoch.
    pub fn brokers_leading(&self, tp: &TopicPartition) -> Vec<(BrokerId, LeaderEpoch)> {
        self.brokers
            .keys()
            .filter_map(|b| {
                let (epoch, leads) = self.broker(*b)?.partition_role(tp)?;
                leads.then_some((*b, epoch))
            })
            .collect()
    }

    /// The leader epoch a running broker holds for a partition, and whether it leads it.
    pub fn broker_role(&self, b: BrokerId, tp: &TopicPartition) -> Option<(LeaderEpoch, bool)> {
        self.broker(b)?.partition_role(tp)
    }

    /// The ISR a running broker holds for a partition.
    pub fn broker_isr(&self, b: BrokerId, tp: &TopicPartition) -> Option<Vec<BrokerId>> {
        self.broker(b)?.isr(tp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_cluster_elects_a_controller_and_the_preferred_leaders() {
        let spec = ClusterSpec::new(&[0, 1, 2]).topic("t", &[&[1, 2, 0], &[2, 0, 1]]);
        let mut c = Cluster::start(spec);
        c.run_for(10_000);
        assert!(c.topics_created());
        assert_eq!(c.registered_brokers(), vec![0, 1, 2]);
        let controller = c.controller().expect("a controller");
        assert_eq!(c.brokers_acting_as_controller(), vec![controller]);
        assert_eq!(c.controller_epoch(), Some(1));
        for (p, leader) in [(0, 1), (1, 2)] {
            let tp = TopicPartition::new("t", p);
            let state = c.zk_partition_state(&tp).expect("a state znode");
            assert_eq!(state.leader, Some(leader));
            assert_eq!(state.leader_epoch, 0);
            assert_eq!(state.isr.len(), 3);
            assert_eq!(c.brokers_leading(&tp), vec![(leader, 0)]);
            assert_eq!(c.broker_isr(leader, &tp), Some(state.isr.clone()));
        }
    }

    #[test]
    fn a_crashed_broker_keeps_its_disk_and_its_old_timers_do_not_fire() {
        let spec = ClusterSpec::new(&[0, 1]).topic("t", &[&[0, 1]]);
        let mut c = Cluster::start(spec);
        c.run_for(10_000);
        c.crash(1);
        assert!(c.broker(1).is_none());
        c.run_for(1_000);
        c.restart(1);
        assert!(c.broker(1).is_some());
        assert_eq!(c.incarnation(NodeId::Broker(1)), 2);
        c.run_for(30_000);
        assert_eq!(c.registered_brokers(), vec![0, 1]);
    }
}
