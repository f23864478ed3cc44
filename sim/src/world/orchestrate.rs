//! The orchestrator, the run's main task: it starts a madsim node per process, applies the
//! scenario's faults at their times, then heals everything, restarts every broker, lets the
//! cluster settle, and collects what the run reports.
//!
//! Each step is a function of its own so the order of a run reads top to bottom in
//! [`orchestrate`]. The order the nodes are created in (ZooKeeper, the brokers, the admin
//! client, the producers, the consumers) is part of a seed's outcome: madsim numbers and
//! schedules nodes in creation order.

use super::faults::{apply_fault, restart_exited_after_settle, settle};
use super::final_state::final_state;
use super::net::{addr_of, open_first_mailboxes, send_resets};
use super::node::{run_node, BrokerSlot, ControllerSlot, Owned, ZkSlot};
use super::rolling::rolling_restart;
use super::shared::{new_shared, Shared, Stop};
use super::RunResult;
use crate::scenario::{ConsumerSpec, FaultAction, FaultSpec, ProducerSpec, Scenario};
use futures::channel::mpsc::{unbounded, UnboundedReceiver};
use futures::future::{select, Either};
use futures::StreamExt;
use kafka_model::broker::Broker;
use kafka_model::broker::KraftSettings;
use kafka_model::clients::admin::Admin;
use kafka_model::clients::consumer::{Consumer, GroupSettings};
use kafka_model::clients::kraft_admin::KraftAdmin;
use kafka_model::clients::processor::Processor;
use kafka_model::clients::producer::{Producer, ProducerSettings};
use kafka_model::config::KafkaVersion;
use kafka_model::controller::kraft::node::{ControllerNode, ControllerNodeConfig};
use kafka_model::controller::kraft::raft::QuorumConfig;
use kafka_model::controller::kraft::records::{ELR_FEATURE, METADATA_VERSION_FEATURE};
use kafka_model::controller::kraft::replication_control::{CreateTopic, ReplicationDefaults};
use kafka_model::controller::kraft::{ControllerConfig, IncarnationId};
use kafka_model::event::Event;
use kafka_model::zookeeper::ZooKeeper;
use kafka_model::{BrokerId, NodeId};
use madsim::runtime::{Handle, NodeHandle};
use madsim::time::{sleep, Duration, TimeHandle};
use std::collections::{BTreeMap, BTreeSet};
use std::pin::pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// How long the admin client waits for every broker before it creates the topics anyway.
const ADMIN_WAIT_MAX_MS: u64 = 5_000;

/// How a broker's process stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BrokerStatus {
    Running,
    Crashed,
    Paused,
}

fn topic_configs(scenario: &Scenario) -> BTreeMap<String, kafka_model::config::TopicConfig> {
    scenario
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.config.clone()))
        .collect()
}

/// The madsim node of every process, and how the faults left each.
pub(super) struct Nodes {
    /// ZooKeeper mode only.
    pub(super) zookeeper: Option<NodeHandle>,
    pub(super) brokers: BTreeMap<BrokerId, NodeHandle>,
    /// KRaft mode only: the controller nodes and how the faults left each.
    pub(super) controllers: BTreeMap<BrokerId, NodeHandle>,
    pub(super) controller_status: BTreeMap<BrokerId, BrokerStatus>,
    pub(super) others: BTreeMap<NodeId, NodeHandle>,
    pub(super) status: BTreeMap<BrokerId, BrokerStatus>,
    pub(super) zk_paused: bool,
    /// Clients paused by a fault, resumed by `resume` or the settle.
    pub(super) paused_clients: BTreeSet<NodeId>,
}

impl Nodes {
    pub(super) fn madsim_id(&self, node: NodeId) -> Option<madsim::task::NodeId> {
        match node {
            NodeId::ZooKeeper => self.zookeeper.as_ref().map(|h| h.id()),
            NodeId::Broker(b) => self.brokers.get(&b).map(|h| h.id()),
            NodeId::Controller(c) => self.controllers.get(&c).map(|h| h.id()),
            other => self.others.get(&other).map(|h| h.id()),
        }
    }

    /// How a server process (a broker or a KRaft controller) stands; `None` for ZooKeeper
    /// and the clients, whose state is kept apart.
    pub(super) fn server_status(&mut self, node: NodeId) -> Option<&mut BrokerStatus> {
        match node {
            NodeId::Broker(b) => self.status.get_mut(&b),
            NodeId::Controller(c) => self.controller_status.get_mut(&c),
            _ => None,
        }
    }

    pub(super) fn all(&self) -> Vec<NodeId> {
        let mut all = Vec::new();
        if self.zookeeper.is_some() {
            all.push(NodeId::ZooKeeper);
        }
        all.extend(self.controllers.keys().map(|c| NodeId::Controller(*c)));
        all.extend(self.brokers.keys().map(|b| NodeId::Broker(*b)));
        all.extend(self.others.keys().copied());
        all
    }
}

/// One run from start to end: the nodes, the faults, the settle, the result. `None` if the
/// watchdog stopped it.
pub(super) async fn orchestrate(
    scenario: Arc<Scenario>,
    seed: u64,
    watchdog_fired: Arc<AtomicBool>,
) -> Option<RunResult> {
    let handle = Handle::current();
    let broker_ids: Vec<BrokerId> = scenario.cluster.broker_ids().to_vec();
    let controller_ids = scenario.cluster.kraft_controller_ids();
    let (shared, mut stop_rx) = new_shared(
        scenario.clone(),
        seed,
        &broker_ids,
        &controller_ids,
        watchdog_fired,
    );
    open_first_mailboxes(
        &shared,
        &first_lives(&scenario, &broker_ids, &controller_ids),
    );
    let mut nodes = start_nodes(&shared, &handle, &scenario, &broker_ids);
    let faults = fault_schedule(&scenario, seed);
    if apply_faults(&shared, &handle, &mut nodes, &mut stop_rx, &faults).await
        && wait_until_ms(&shared, &mut stop_rx, scenario.duration_ms).await
    {
        let (exit_tx, mut exits) = unbounded();
        *shared.exit_after_settle.lock().expect("exit signal") = Some(exit_tx);
        settle(&shared, &handle, &mut nodes);
        let end_ms = scenario.duration_ms + scenario.settle_ms;
        while let Settling::BrokerExited =
            wait_settling(&shared, &mut stop_rx, &mut exits, end_ms).await
        {
            restart_exited_after_settle(&shared, &handle, &mut nodes);
        }
    }
    collect_result(&shared, &handle, &scenario, &nodes)
}

/// Every process of the scenario, each in its first life.
fn first_lives(
    scenario: &Scenario,
    broker_ids: &[BrokerId],
    controller_ids: &[BrokerId],
) -> Vec<NodeId> {
    let mut first_lives = match controller_ids.is_empty() {
        true => vec![NodeId::ZooKeeper, NodeId::Admin],
        false => vec![NodeId::Admin],
    };
    first_lives.extend(controller_ids.iter().map(|c| NodeId::Controller(*c)));
    first_lives.extend(broker_ids.iter().map(|b| NodeId::Broker(*b)));
    first_lives.extend(
        (0..scenario.producers.len())
            .filter(|&i| scenario.processor_of_producer(i).is_none())
            .map(|i| NodeId::Producer(i as u32)),
    );
    first_lives.extend(
        (0..scenario.consumers.len())
            .filter(|&i| scenario.processor_of_consumer(i).is_none())
            .map(|i| NodeId::Consumer(i as u32)),
    );
    first_lives.extend((0..scenario.processors.len()).map(|i| NodeId::Processor(i as u32)));
    first_lives
}

/// Creates every process's node, in the order that is part of a seed's outcome.
fn start_nodes(
    shared: &Arc<Shared>,
    handle: &Handle,
    scenario: &Scenario,
    broker_ids: &[BrokerId],
) -> Nodes {
    let controller_ids: Vec<BrokerId> = shared.controllers.keys().copied().collect();
    let zookeeper = controller_ids
        .is_empty()
        .then(|| start_zookeeper(shared, handle));
    let controllers: BTreeMap<BrokerId, NodeHandle> = controller_ids
        .iter()
        .map(|&c| (c, start_controller(shared, handle, c)))
        .collect();
    let brokers = broker_ids
        .iter()
        .map(|&b| (b, start_broker(shared, handle, b)))
        .collect();
    let mut others = BTreeMap::new();
    let admin = match controller_ids.is_empty() {
        true => start_admin(shared, handle, scenario, broker_ids.len()),
        false => start_kraft_admin(shared, handle, scenario, broker_ids, &controller_ids),
    };
    others.insert(NodeId::Admin, admin);
    for i in 0..scenario.producers.len() {
        if scenario.processor_of_producer(i).is_none() {
            let (id, node) = start_producer(shared, handle, scenario, broker_ids, i);
            others.insert(id, node);
        }
    }
    for i in 0..scenario.consumers.len() {
        if scenario.processor_of_consumer(i).is_none() {
            let (id, node) = start_consumer(shared, handle, scenario, broker_ids, i);
            others.insert(id, node);
        }
    }
    for i in 0..scenario.processors.len() {
        let (id, node) = start_processor(shared, handle, scenario, broker_ids, i);
        others.insert(id, node);
    }
    Nodes {
        zookeeper,
        controller_status: controllers
            .keys()
            .map(|c| (*c, BrokerStatus::Running))
            .collect(),
        controllers,
        status: broker_ids
            .iter()
            .map(|b| (*b, BrokerStatus::Running))
            .collect(),
        brokers,
        others,
        zk_paused: false,
        paused_clients: BTreeSet::new(),
    }
}

fn start_zookeeper(shared: &Arc<Shared>, handle: &Handle) -> NodeHandle {
    let shared = shared.clone();
    handle
        .create_node()
        .name("zookeeper")
        .ip(addr_of(NodeId::ZooKeeper).ip())
        .init(move || {
            run_node::<ZooKeeper, _>(shared.clone(), NodeId::ZooKeeper, ZkSlot(shared.clone()))
        })
        .build()
}

fn start_broker(shared: &Arc<Shared>, handle: &Handle, b: BrokerId) -> NodeHandle {
    let shared = shared.clone();
    handle
        .create_node()
        .name(format!("broker-{b}"))
        .ip(addr_of(NodeId::Broker(b)).ip())
        .init(move || {
            let shared = shared.clone();
            async move {
                // A (re)started broker reads what its disk kept.
                let disk = shared.disks[&b].lock().expect("disk").clone();
                let mut broker = Broker::new(
                    b,
                    shared.scenario.cluster.config.clone(),
                    topic_configs(&shared.scenario),
                    disk,
                );
                if shared.is_kraft() {
                    broker = broker.with_kraft(kraft_settings(&shared, b));
                }
                *shared.brokers[&b].lock().expect("broker") = Some(broker);
                run_node::<Broker, _>(
                    shared.clone(),
                    NodeId::Broker(b),
                    BrokerSlot(shared.clone(), b),
                )
                .await
            }
        })
        .build()
}

/// What a KRaft broker's process is told of the quorum; a new incarnation id at each start.
fn kraft_settings(shared: &Shared, b: BrokerId) -> KraftSettings {
    let seed = process_seed(shared.seed, 0xB0B0_0000, b as u32 as u64, Shared::now_ms());
    let config = &shared.scenario.cluster.config;
    KraftSettings {
        controller_ids: shared.controllers.keys().copied().collect(),
        quorum: QuorumConfig {
            metadata_max_retention_ms: config.metadata_max_retention_ms,
            ..QuorumConfig::for_version(config.kafka_version)
        },
        heartbeat_interval_ms: config.broker_heartbeat_interval_ms,
        incarnation: IncarnationId(seed.rotate_left(17) ^ 0x1AC4_2A71_0000_0000),
        seed,
    }
}

/// What a KRaft controller node runs with: the quorum, the controller's rules, and the
/// features `kafka-storage.sh format` bootstraps.
fn controller_node_config(shared: &Shared) -> ControllerNodeConfig {
    let cluster = &shared.scenario.cluster;
    let config = &cluster.config;
    let release = config.kafka_version;
    let features = [METADATA_VERSION_FEATURE, ELR_FEATURE]
        .into_iter()
        .map(|name| (name.to_string(), cluster.feature_level(name)))
        .filter(|(_, level)| *level > 0)
        .collect();
    let snapshot_interval_ms = config.metadata_log_max_snapshot_interval_ms;
    ControllerNodeConfig {
        voters: shared.controllers.keys().copied().collect(),
        quorum: QuorumConfig {
            metadata_max_retention_ms: config.metadata_max_retention_ms,
            ..QuorumConfig::for_version(release)
        },
        controller: ControllerConfig {
            session_timeout_ms: config.broker_session_timeout_ms,
            replication: ReplicationDefaults {
                min_insync_replicas: config.topic_defaults.min_insync_replicas as usize,
                unclean_leader_election_enable: config
                    .topic_defaults
                    .unclean_leader_election_enable,
                ..ReplicationDefaults::default()
            },
            leader_imbalance_check_interval_ms: config
                .auto_leader_rebalance_enable
                .then_some(config.leader_imbalance_check_interval_ms),
            // KAFKA-12670 (3.9.0): the controller elects unclean leaders for leaderless
            // partitions every 5 minutes, not only when a broker changes.
            unclean_leader_election_interval_ms: KafkaVersion::parse("3.9.0")
                .is_some_and(|since| release >= since)
                .then_some(300_000),
            max_idle_interval_ms: (config.metadata_max_idle_interval_ms > 0)
                .then_some(config.metadata_max_idle_interval_ms),
        },
        bootstrap_features: features,
        snapshot_interval_ms: (snapshot_interval_ms > 0).then_some(snapshot_interval_ms),
    }
}

fn start_controller(shared: &Arc<Shared>, handle: &Handle, c: BrokerId) -> NodeHandle {
    let shared = shared.clone();
    handle
        .create_node()
        .name(format!("controller-{c}"))
        .ip(addr_of(NodeId::Controller(c)).ip())
        .init(move || {
            let shared = shared.clone();
            async move {
                // A (re)started controller reads its metadata log and `quorum-state`.
                let disk = shared.controller_disks[&c].lock().expect("disk").clone();
                let seed =
                    process_seed(shared.seed, 0xC0C0_0000, c as u32 as u64, Shared::now_ms());
                let node = ControllerNode::new(c, controller_node_config(&shared), disk, seed);
                *shared.controllers[&c].lock().expect("controller") = Some(node);
                run_node::<ControllerNode, _>(
                    shared.clone(),
                    NodeId::Controller(c),
                    ControllerSlot(shared.clone(), c),
                )
                .await
            }
        })
        .build()
}

fn start_kraft_admin(
    shared: &Arc<Shared>,
    handle: &Handle,
    scenario: &Scenario,
    broker_ids: &[BrokerId],
    controller_ids: &[BrokerId],
) -> NodeHandle {
    // The topic's configs go with it, as `kafka-topics.sh --config` sends them: the
    // controller's elections read `min.insync.replicas` and
    // `unclean.leader.election.enable` per topic.
    let topics: Vec<CreateTopic> = scenario
        .topics
        .iter()
        .map(|t| CreateTopic {
            name: t.name.clone(),
            assignment: t.replicas.clone(),
            configs: BTreeMap::from([
                (
                    "min.insync.replicas".to_string(),
                    t.config.min_insync_replicas.to_string(),
                ),
                (
                    "unclean.leader.election.enable".to_string(),
                    t.config.unclean_leader_election_enable.to_string(),
                ),
            ]),
        })
        .collect();
    let (brokers, controllers) = (broker_ids.to_vec(), controller_ids.to_vec());
    let shared = shared.clone();
    handle
        .create_node()
        .name("admin")
        .ip(addr_of(NodeId::Admin).ip())
        .init(move || {
            let admin = KraftAdmin::new(
                brokers.clone(),
                controllers.clone(),
                topics.clone(),
                ADMIN_WAIT_MAX_MS,
            );
            run_node::<KraftAdmin, _>(shared.clone(), NodeId::Admin, Owned(Mutex::new(admin)))
        })
        .build()
}

/// Each topic's replica assignment, by partition.
fn topic_assignments(scenario: &Scenario) -> BTreeMap<String, BTreeMap<u32, Vec<BrokerId>>> {
    scenario
        .topics
        .iter()
        .map(|t| {
            let a = t
                .replicas
                .iter()
                .enumerate()
                .map(|(p, r)| (p as u32, r.clone()))
                .collect();
            (t.name.clone(), a)
        })
        .collect()
}

fn start_admin(
    shared: &Arc<Shared>,
    handle: &Handle,
    scenario: &Scenario,
    broker_count: usize,
) -> NodeHandle {
    let assignments = topic_assignments(scenario);
    let shared = shared.clone();
    handle
        .create_node()
        .name("admin")
        .ip(addr_of(NodeId::Admin).ip())
        .init(move || {
            let admin = Admin::new(broker_count, assignments.clone(), ADMIN_WAIT_MAX_MS);
            run_node::<Admin, _>(shared.clone(), NodeId::Admin, Owned(Mutex::new(admin)))
        })
        .build()
}

fn start_producer(
    shared: &Arc<Shared>,
    handle: &Handle,
    scenario: &Scenario,
    broker_ids: &[BrokerId],
    i: usize,
) -> (NodeId, NodeHandle) {
    let p = &scenario.producers[i];
    let id = NodeId::Producer(i as u32);
    let shared = shared.clone();
    let spec = p.clone();
    let bootstrap = broker_ids.to_vec();
    // The `transaction.version` the producer finds finalized (Kafka: ApiVersions; see
    // `Producer::with_transaction_version`).
    let transaction_version = scenario
        .cluster
        .feature_level(crate::scenario::TRANSACTION_VERSION_FEATURE);
    let fork_at_ms = scenario
        .forks
        .iter()
        .find(|f| f.producer == i)
        .map(|f| f.at_ms);
    let node = handle
        .create_node()
        .name(format!("producer-{}", p.name))
        .ip(addr_of(id).ip())
        .init(move || {
            let generated = new_producer(&spec, i, bootstrap.clone(), &shared);
            // A `sequence` replaces the generated records with exact ones.
            let producer = match spec.sequence.is_empty() {
                true => generated,
                false => generated.with_script(spec.sequence.clone()),
            }
            .with_transaction_version(transaction_version)
            .resuming_at(Shared::now_ms());
            // A `fork` fault's second instance sleeps until the fault.
            let producer = match fork_at_ms {
                Some(at_ms) => producer.asleep_until(at_ms),
                None => producer,
            };
            run_node::<Producer, _>(shared.clone(), id, Owned(Mutex::new(producer)))
        })
        .build();
    (id, node)
}

/// Producer `i` of the scenario as a new process starts it now.
fn new_producer(
    spec: &ProducerSpec,
    i: usize,
    bootstrap: Vec<BrokerId>,
    shared: &Shared,
) -> Producer {
    Producer::new(ProducerSettings {
        index: i as u32,
        name: spec.name.clone(),
        topic: spec.topic.clone(),
        records: spec.records,
        rate_per_sec: spec.rate_per_sec,
        keys: spec.keys,
        value_bytes: spec.value_bytes,
        start_ms: spec.start_ms,
        config: spec.config.clone(),
        transactions: spec.transactions,
        bootstrap,
        seed: producer_seed(shared.seed, i as u32, Shared::now_ms()),
    })
}

/// The seed of a process's own randomness: the run's seed, the kind of process (`salt`), its
/// id, and when this process started (a restarted process draws afresh, as a new JVM would).
fn process_seed(seed: u64, salt: u64, id: u64, started_ms: u64) -> u64 {
    seed ^ (salt + id).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ started_ms.wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// The seed of a producer process's partitioner.
fn producer_seed(seed: u64, producer: u32, started_ms: u64) -> u64 {
    process_seed(seed, 0x5EED_0000, producer as u64, started_ms)
}

fn start_consumer(
    shared: &Arc<Shared>,
    handle: &Handle,
    scenario: &Scenario,
    broker_ids: &[BrokerId],
    i: usize,
) -> (NodeId, NodeHandle) {
    let c = &scenario.consumers[i];
    let id = NodeId::Consumer(i as u32);
    let shared = shared.clone();
    let spec = c.clone();
    let bootstrap = broker_ids.to_vec();
    let protocol = ClientProtocol::of(scenario);
    let node = handle
        .create_node()
        .name(format!("consumer-{}", c.name))
        .ip(addr_of(id).ip())
        .init(move || {
            let consumer = new_consumer(&spec, i, bootstrap.clone(), protocol);
            run_node::<Consumer, _>(shared.clone(), id, Owned(Mutex::new(consumer)))
        })
        .build();
    (id, node)
}

/// What the cluster's release decides about its clients' protocol.
#[derive(Clone, Copy)]
struct ClientProtocol {
    /// Clients validate positions (KIP-320) when the brokers speak 2.1 or later.
    validate: bool,
    /// JoinGroup version 4 (KIP-394) when clients and brokers are 2.2 or later.
    member_id_required: bool,
}

impl ClientProtocol {
    fn of(scenario: &Scenario) -> ClientProtocol {
        let config = &scenario.cluster.config;
        ClientProtocol {
            validate: config.inter_broker_protocol_version.uses_kip_320(),
            member_id_required: config.kafka_version.has_member_id_required(),
        }
    }
}

/// Consumer `i` of the scenario as a new process starts it.
fn new_consumer(
    spec: &ConsumerSpec,
    i: usize,
    bootstrap: Vec<BrokerId>,
    protocol: ClientProtocol,
) -> Consumer {
    let mut consumer = Consumer::new(
        i as u32,
        spec.name.clone(),
        spec.topics.clone(),
        spec.start_ms,
        spec.config.clone(),
        bootstrap,
    )
    .with_position_validation(protocol.validate)
    .with_member_id_required(protocol.member_id_required);
    if let Some(g) = &spec.group {
        consumer = consumer.with_group(GroupSettings {
            group_id: g.group_id.clone(),
            client_id: spec.name.clone(),
            commit: g.commit,
            processing_ms: g.processing_ms,
        });
    }
    consumer
}

/// Processor `k`: its consumer and its producer in one process. A new life numbers its
/// output records on from the last one any earlier life sent, so record ids stay unique.
fn start_processor(
    shared: &Arc<Shared>,
    handle: &Handle,
    scenario: &Scenario,
    broker_ids: &[BrokerId],
    k: usize,
) -> (NodeId, NodeHandle) {
    let p = scenario.processors[k].clone();
    let id = NodeId::Processor(k as u32);
    let shared = shared.clone();
    let consumer_spec = scenario.consumers[p.consumer].clone();
    let producer_spec = scenario.producers[p.producer].clone();
    let bootstrap = broker_ids.to_vec();
    let protocol = ClientProtocol::of(scenario);
    let transaction_version = scenario
        .cluster
        .feature_level(crate::scenario::TRANSACTION_VERSION_FEATURE);
    let node = handle
        .create_node()
        .name(format!("processor-{}", p.name))
        .ip(addr_of(id).ip())
        .init(move || {
            let consumer = new_consumer(&consumer_spec, p.consumer, bootstrap.clone(), protocol);
            let first_seq = next_record_seq(&shared, p.producer as u32);
            let producer = new_producer(&producer_spec, p.producer, bootstrap.clone(), &shared)
                .numbering_from(first_seq)
                .with_transaction_version(transaction_version);
            let processor = Processor::new(consumer, producer, p.consumer as u32);
            run_node::<Processor, _>(shared.clone(), id, Owned(Mutex::new(processor)))
        })
        .build();
    (id, node)
}

/// One more than the highest sequence number producer `producer` sent a record with so far.
fn next_record_seq(shared: &Shared, producer: u32) -> u64 {
    let record = shared.record.lock().expect("record");
    record
        .iter()
        .filter_map(|e| match &e.event {
            Event::RecordSent {
                producer: p, id, ..
            } if *p == producer => Some(id.seq + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// The scenario's own faults and the nemesis's, in time order.
fn fault_schedule(scenario: &Scenario, seed: u64) -> Vec<FaultSpec> {
    let mut faults = scenario.faults.clone();
    faults.extend(crate::nemesis::schedule(scenario, seed));
    faults.sort_by_key(|f| f.at_ms);
    faults
}

/// Applies each fault at its time, and tells the clients of a crashed broker right after.
/// False if the run was stopped before the last one.
async fn apply_faults(
    shared: &Arc<Shared>,
    handle: &Handle,
    nodes: &mut Nodes,
    stop_rx: &mut UnboundedReceiver<()>,
    faults: &[FaultSpec],
) -> bool {
    for fault in faults {
        if !wait_until_ms(shared, stop_rx, fault.at_ms).await {
            return false;
        }
        if let FaultAction::RollingRestart { isr_wait_ms } = fault.action {
            // It takes time: faults due meanwhile strike when it is over.
            if !rolling_restart(shared, handle, nodes, stop_rx, isr_wait_ms).await {
                return false;
            }
            continue;
        }
        apply_fault(shared, handle, nodes, &fault.action);
        send_resets(shared, nodes.all().into_iter());
    }
    true
}

/// Reads the final state, stops every node and takes the record. `None` if the watchdog
/// stopped the run.
fn collect_result(
    shared: &Shared,
    handle: &Handle,
    scenario: &Scenario,
    nodes: &Nodes,
) -> Option<RunResult> {
    let sim_time_ms = Shared::now_ms();
    let final_state = final_state(shared, scenario, nodes);
    let kept_logs = match &scenario.keep_log {
        Some(tp) => {
            let assigned = final_state
                .partitions
                .iter()
                .find(|p| &p.tp == tp)
                .map(|p| p.replicas.clone())
                .unwrap_or_default();
            super::kept_log::keep_logs(shared, nodes, tp, &assigned)
        }
        None => Vec::new(),
    };
    // Stop every node before reading the record, so nothing is appended after this point.
    for node in nodes.all() {
        if let Some(id) = nodes.madsim_id(node) {
            handle.kill(id);
        }
    }
    let livelock = match shared.stop.lock().expect("stop").clone() {
        Some(Stop::Watchdog) => return None,
        Some(Stop::Livelock(l)) => Some(l),
        None => None,
    };
    let events = std::mem::take(&mut *shared.record.lock().expect("record"));
    let faults = std::mem::take(&mut *shared.faults.lock().expect("faults"));
    let messages_sent = *shared.messages_sent.lock().expect("counter");
    Some(RunResult {
        events,
        faults,
        final_state,
        sim_time_ms,
        messages_sent,
        livelock,
        kept_logs,
    })
}

/// How a wait of the settle ended.
enum Settling {
    /// The settle's time is up, or the run was stopped.
    Over,
    /// A broker exited (a shutdown that was under way when the settle began).
    BrokerExited,
}

/// Sleeps until `at_ms`, unless a broker exits first. Nothing wakes this wait but the end,
/// a stop, or an exit, so a run where no broker exits during the settle is scheduled as if
/// it only slept.
async fn wait_settling(
    shared: &Shared,
    stop: &mut UnboundedReceiver<()>,
    exits: &mut UnboundedReceiver<()>,
    at_ms: u64,
) -> Settling {
    if shared.stopped() {
        return Settling::Over;
    }
    let now = TimeHandle::current().elapsed();
    let at = Duration::from_millis(at_ms);
    if at <= now {
        return Settling::Over;
    }
    let sleeper = pin!(sleep(at - now));
    let stopped = stop.next();
    let exited = exits.next();
    match select(stopped, select(exited, sleeper)).await {
        Either::Right((Either::Left((Some(()), _)), _)) if !shared.stopped() => {
            Settling::BrokerExited
        }
        _ => Settling::Over,
    }
}

/// Sleeps until `at_ms` of simulated time; false if the run was stopped before.
pub(super) async fn wait_until_ms(
    shared: &Shared,
    stop: &mut UnboundedReceiver<()>,
    at_ms: u64,
) -> bool {
    if shared.stopped() {
        return false;
    }
    let now = TimeHandle::current().elapsed();
    let at = Duration::from_millis(at_ms);
    if at > now {
        let sleeper = pin!(sleep(at - now));
        if let Either::Left(_) = select(stop.next(), sleeper).await {
            return false;
        }
    }
    !shared.stopped()
}
