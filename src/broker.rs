//! A Kafka broker: the replica manager, the replica fetchers, the produce purgatory, the
//! ZooKeeper client, and (when it wins the election) the controller.
//!
//! The broker is where Kafka's replication rules live:
//! - a leader appends produced records, tracks each follower's log end offset (LEO) from the
//!   fetch offsets they send, and moves the high watermark (HW) to the smallest LEO of its ISR;
//! - a follower fetches from the leader, appends what it gets, and learns the HW from the
//!   fetch response (so it lags the leader's HW by one round trip);
//! - a follower that has not caught up for `replica.lag.time.max.ms` leaves the ISR, and one
//!   that reaches the HW (and the start of the leader's epoch) joins again; both changes go
//!   through the controller (AlterIsr) with a version check;
//! - a replica that starts following a new leader first finds where its log and the leader's
//!   diverge and cuts its log there. How it finds that point is what changed across Kafka
//!   versions, selected by `inter.broker.protocol.version` (see [`ProtocolVersion`]).
//!
//! What the broker keeps on disk is [`Disk`]: the logs and the high-watermark checkpoint.
//! Everything else is rebuilt after a restart from what the controller sends.

use crate::actor::{Actor, Output};
use crate::config::{BrokerConfig, ProtocolVersion, TopicConfig};
use crate::controller::{Controller, ControllerIo, ControllerZk};
use crate::event::{Event, TruncateReason};
use crate::fetch_session::{
    FetchContext, FetchMetadata, FetchSession, FetchSessionCache, FetchSessionHandler,
};
use crate::group::{CoordinatorConfig, CoordinatorIo, GroupCoordinator, GroupTimer, PendingAppend};
use crate::log::Log;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

/// The most records one fetch response carries (Kafka bounds it by bytes:
/// `replica.fetch.max.bytes`, `fetch.max.bytes`).
pub const FETCH_MAX_RECORDS: usize = 1000;

/// How long a leader waits for the controller to answer an AlterIsr before it may try again.
pub const ALTER_ISR_TIMEOUT_MS: u64 = 5_000;

/// How often a broker retries registering under `/brokers/ids` while its previous session's
/// znode is still there.
pub const REGISTER_RETRY_MS: u64 = 1_000;

/// What a broker keeps on disk across a crash.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Disk {
    pub logs: BTreeMap<TopicPartition, Log>,
    /// `replication-offset-checkpoint`: each partition's HW as of the last checkpoint.
    /// Kafka writes it with an fsync, so a power loss keeps it.
    pub hw_checkpoint: BTreeMap<TopicPartition, u64>,
    /// How many records this broker's group coordinator has written, so the ids of its
    /// `__consumer_offsets` records stay unique across restarts.
    pub coordinator_records_written: u64,
}

impl Disk {
    /// A power loss: every log keeps only what was flushed. Returns
    /// `(partition, log end offset before, after)` for the logs that lost records.
    pub fn lose_unflushed(&mut self) -> Vec<(TopicPartition, u64, u64)> {
        let mut lost = Vec::new();
        for (tp, log) in self.logs.iter_mut() {
            let before = log.lose_unflushed();
            if before != log.log_end_offset() {
                lost.push((tp.clone(), before, log.log_end_offset()));
            }
        }
        lost
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerTimer {
    ZkConnectTimeout {
        attempt: u64,
    },
    ZkPing {
        session_id: u64,
    },
    ZkRegisterRetry {
        session_id: u64,
    },
    IsrExpiration,
    HwCheckpoint,
    FlushCheck,
    FetchTimeout {
        leader: BrokerId,
        correlation_id: u64,
    },
    FetchBackoff {
        leader: BrokerId,
    },
    DelayedProduceExpire {
        id: u64,
    },
    DelayedFetchExpire {
        id: u64,
    },
    AlterIsrTimeout {
        tp: TopicPartition,
        attempt: u64,
    },
    /// A timer of the group coordinator.
    Group(GroupTimer),
}

/// What a ZooKeeper request of this broker was for.
#[derive(Clone, Debug)]
enum ZkPurpose {
    Register,
    CreateController,
    ReadController,
    ReadControllerEpoch,
    WriteControllerEpoch(i32),
    Controller(ControllerZk),
    /// Auto-creation of `__consumer_offsets` on the first FindCoordinator.
    CreateOffsetsTopic,
}

#[derive(Default)]
struct ZkClient {
    session_id: Option<u64>,
    /// The session timeout the server granted, which ZooKeeper's `ClientCnxn.onConnected`
    /// turns into the read timeout and the ping interval.
    negotiated_timeout_ms: u64,
    connect_attempt: u64,
    next_xid: u64,
    pending: BTreeMap<u64, ZkPurpose>,
}

impl ZkClient {
    /// The connect timeout, from the timeout the client asked for (nothing is negotiated
    /// yet). ZooKeeper's `ClientCnxn` gives an attempt `sessionTimeout / hostProvider.size()`;
    /// the simulator has always given a third of it, and keeps that so existing runs keep
    /// their timing. Never 0: a requested timeout of 1 ms retries every millisecond until
    /// the first answer arrives.
    fn connect_timeout_ms(requested_ms: u64) -> u64 {
        (requested_ms / 3).max(1)
    }

    /// The ping interval once connected: `ClientCnxn` sets `readTimeout` to 2/3 of the
    /// *negotiated* timeout and pings after `readTimeout / 2` without sending, so a broker
    /// that asked for 1 ms pings every 2 s of ZooKeeper's 6 s minimum, not every millisecond.
    fn ping_interval_ms(&self) -> u64 {
        (self.negotiated_timeout_ms * 2 / 3 / 2).max(1)
    }

    fn request(&mut self, op: ZkOp, purpose: ZkPurpose, out: &mut Output<BrokerTimer>) {
        let Some(session_id) = self.session_id else {
            return;
        };
        self.next_xid += 1;
        let xid = self.next_xid;
        self.pending.insert(xid, purpose);
        out.send(
            NodeId::ZooKeeper,
            Message::ZkRequest {
                session_id,
                xid,
                op,
            },
        );
    }
}

/// The controller's I/O, carried out by its host broker.
struct HostIo<'a> {
    zk: &'a mut ZkClient,
    out: &'a mut Output<BrokerTimer>,
}

impl ControllerIo for HostIo<'_> {
    fn zk(&mut self, op: ZkOp, purpose: ControllerZk) {
        self.zk
            .request(op, ZkPurpose::Controller(purpose), self.out);
    }
    fn send(&mut self, to: BrokerId, message: Message) {
        self.out.send(NodeId::Broker(to), message);
    }
    fn event(&mut self, event: Event) {
        self.out.event(event);
    }
}

/// A leader's view of one follower (Kafka's `Replica` state on the leader).
#[derive(Clone, Debug)]
struct FollowerState {
    /// The follower's LEO, known from its last fetch offset; unknown after a leader change.
    log_end_offset: Option<u64>,
    last_caught_up_ms: u64,
    last_fetch_ms: u64,
    last_fetch_leader_log_end_offset: u64,
    /// Set while the follower is caught up and in the ISR, the leader's LEO has not moved
    /// since, and the follower fetches through this fetch session: Kafka would set both fetch
    /// times to the time of every fetch of the session, so they are read from the session's
    /// last fetch instead of being written for every idle partition on every fetch. Any
    /// change to the partition writes them out first (`materialize_followers`).
    session: Option<u32>,
}

#[derive(Clone, Debug)]
struct LeaderState {
    /// The leader's LEO when it took over this epoch (KAFKA-7128: a joiner must reach it).
    epoch_start_offset: u64,
    followers: BTreeMap<BrokerId, FollowerState>,
    /// An ISR change sent to the controller and not answered yet.
    pending_isr: Option<Vec<BrokerId>>,
    alter_isr_attempt: u64,
}

#[derive(Clone, Debug)]
enum Role {
    Leader(LeaderState),
    /// Following `leader` (or waiting for one, when the partition is offline).
    Follower {
        leader: Option<BrokerId>,
        /// 0.11 to 2.6: an OffsetsForLeaderEpoch round trip is due before fetching.
        needs_epoch_lookup: bool,
    },
}

#[derive(Clone, Debug)]
struct PartitionState {
    replicas: Vec<BrokerId>,
    leader_epoch: LeaderEpoch,
    isr: Vec<BrokerId>,
    partition_epoch: i32,
    role: Role,
}

/// One partition of a produce request: appended and waiting for the ISR (`result` unset),
/// or answered (Kafka's `ProducePartitionStatus`).
#[derive(Clone, Debug)]
struct ProduceStatus {
    tp: TopicPartition,
    leader_epoch: LeaderEpoch,
    required_offset: u64,
    base_offset: u64,
    records: u32,
    result: Option<(ErrorCode, Option<u64>)>,
}

/// An acks=all produce request in the purgatory (Kafka's `DelayedProduce`): answered once
/// every partition is.
#[derive(Clone, Debug)]
struct DelayedProduce {
    from: NodeId,
    correlation_id: u64,
    partitions: Vec<ProduceStatus>,
}

#[derive(Clone, Debug)]
struct DelayedFetch {
    from: NodeId,
    correlation_id: u64,
    replica_id: Option<BrokerId>,
    context: FetchContext,
    /// The partitions to read: the request's, or for an incremental session fetch those
    /// of the session with news when it arrived (the answer looks at the session's news
    /// as they are by then).
    partitions: Vec<FetchPartition>,
}

/// A fetch response's fields, as the follower handles them.
struct FetchResponseData {
    correlation_id: u64,
    error: ErrorCode,
    session_id: u32,
    partitions: Vec<FetchPartitionResponse>,
}

#[derive(Clone, Debug, Default)]
struct Fetcher {
    in_flight: Option<u64>,
    backing_off: bool,
    /// The fetch session with this leader (from 1.1, KIP-227).
    session: FetchSessionHandler,
    /// What the request in flight said about its session.
    in_flight_session: Option<FetchMetadata>,
}

/// Sends the one response of a produce request, a result for each of its partitions.
fn answer_produce(
    out: &mut Output<BrokerTimer>,
    to: NodeId,
    correlation_id: u64,
    statuses: &[ProduceStatus],
) {
    out.send(
        to,
        Message::ProduceResponse {
            correlation_id,
            partitions: statuses
                .iter()
                .map(|s| {
                    let (error, base_offset) = s.result.expect("every partition is answered");
                    ProducePartitionResponse {
                        tp: s.tp.clone(),
                        error,
                        base_offset,
                    }
                })
                .collect(),
        },
    );
}

pub struct Broker {
    id: BrokerId,
    config: BrokerConfig,
    topic_configs: BTreeMap<String, TopicConfig>,
    disk: Disk,
    high_watermarks: BTreeMap<TopicPartition, u64>,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    zk: ZkClient,
    controller: Option<Controller>,
    /// The controller this broker last heard of, and the highest controller epoch it saw.
    controller_id: Option<BrokerId>,
    controller_epoch: i32,
    live_brokers: Vec<BrokerId>,
    metadata: BTreeMap<TopicPartition, PartitionMetadata>,
    fetchers: BTreeMap<BrokerId, Fetcher>,
    next_correlation_id: u64,
    next_delayed_id: u64,
    delayed_produces: BTreeMap<u64, DelayedProduce>,
    /// The purgatory's watch keys: per partition, the delayed produces waiting on it.
    produce_watchers: BTreeMap<TopicPartition, BTreeSet<u64>>,
    /// The fetch sessions of the followers (and consumers) fetching from this broker.
    fetch_sessions: FetchSessionCache,
    /// Per fetch session, its fetch waiting in the purgatory.
    parked_fetches: BTreeMap<u32, u64>,
    delayed_fetches: BTreeMap<u64, DelayedFetch>,
    coordinator: GroupCoordinator,
    /// `/brokers/topics/__consumer_offsets` was written (or is being written) by this broker.
    offsets_topic_requested: bool,
}

impl Broker {
    pub fn new(
        id: BrokerId,
        config: BrokerConfig,
        topic_configs: BTreeMap<String, TopicConfig>,
        disk: Disk,
    ) -> Broker {
        Broker {
            id,
            topic_configs,
            disk,
            high_watermarks: BTreeMap::new(),
            partitions: BTreeMap::new(),
            zk: ZkClient::default(),
            controller: None,
            controller_id: None,
            controller_epoch: 0,
            live_brokers: Vec::new(),
            metadata: BTreeMap::new(),
            fetchers: BTreeMap::new(),
            next_correlation_id: 0,
            next_delayed_id: 0,
            delayed_produces: BTreeMap::new(),
            produce_watchers: BTreeMap::new(),
            fetch_sessions: FetchSessionCache::default(),
            parked_fetches: BTreeMap::new(),
            delayed_fetches: BTreeMap::new(),
            coordinator: GroupCoordinator::new(
                id,
                CoordinatorConfig {
                    offsets_topic_num_partitions: config.offsets_topic_num_partitions,
                    group_initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
                    group_min_session_timeout_ms: config.group_min_session_timeout_ms,
                    group_max_session_timeout_ms: config.group_max_session_timeout_ms,
                },
            ),
            offsets_topic_requested: false,
            config,
        }
    }

    /// The group coordinator this broker hosts, for inspection.
    pub fn coordinator(&self) -> &GroupCoordinator {
        &self.coordinator
    }

    pub fn id(&self) -> BrokerId {
        self.id
    }

    pub fn disk(&self) -> &Disk {
        &self.disk
    }

    pub fn into_disk(self) -> Disk {
        self.disk
    }

    pub fn high_watermark(&self, tp: &TopicPartition) -> u64 {
        self.high_watermarks.get(tp).copied().unwrap_or(0)
    }

    pub fn is_controller(&self) -> bool {
        self.controller.is_some()
    }

    /// The leader epoch this broker last learned for a partition, and whether it leads it.
    pub fn partition_role(&self, tp: &TopicPartition) -> Option<(LeaderEpoch, bool)> {
        self.partitions
            .get(tp)
            .map(|p| (p.leader_epoch, matches!(p.role, Role::Leader(_))))
    }

    /// The ISR as this broker (when leader) believes it.
    pub fn isr(&self, tp: &TopicPartition) -> Option<Vec<BrokerId>> {
        self.partitions.get(tp).map(|p| p.isr.clone())
    }

    fn protocol(&self) -> ProtocolVersion {
        self.config.inter_broker_protocol_version
    }

    fn topic_config(&self, topic: &str) -> &TopicConfig {
        self.topic_configs
            .get(topic)
            .unwrap_or(&self.config.topic_defaults)
    }

    fn next_correlation(&mut self) -> u64 {
        self.next_correlation_id += 1;
        self.next_correlation_id
    }

    // ------------------------------------------------------------------------------------
    // ZooKeeper session, registration and controller election
    // ------------------------------------------------------------------------------------

    fn zk_connect(&mut self, out: &mut Output<BrokerTimer>) {
        self.zk.session_id = None;
        self.zk.pending.clear();
        self.zk.connect_attempt += 1;
        out.send(
            NodeId::ZooKeeper,
            Message::ZkConnect {
                session_timeout_ms: self.config.zookeeper_session_timeout_ms,
            },
        );
        out.timer(
            ZkClient::connect_timeout_ms(self.config.zookeeper_session_timeout_ms),
            BrokerTimer::ZkConnectTimeout {
                attempt: self.zk.connect_attempt,
            },
        );
    }

    /// A session is granted. (An answer to an attempt that already timed out is taken too:
    /// messages here carry no connection of their own for the client to have closed.)
    fn on_zk_connected(
        &mut self,
        session_id: u64,
        negotiated_timeout_ms: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        if self.zk.session_id.is_some() {
            return;
        }
        self.zk.session_id = Some(session_id);
        self.zk.negotiated_timeout_ms = negotiated_timeout_ms;
        out.timer(
            self.zk.ping_interval_ms(),
            BrokerTimer::ZkPing { session_id },
        );
        self.register(out);
        self.try_become_controller(out);
    }

    fn register(&mut self, out: &mut Output<BrokerTimer>) {
        self.zk.request(
            ZkOp::Create {
                path: format!("/brokers/ids/{}", self.id),
                data: ZkData::Broker { broker_id: self.id },
                ephemeral: true,
            },
            ZkPurpose::Register,
            out,
        );
    }

    fn try_become_controller(&mut self, out: &mut Output<BrokerTimer>) {
        self.zk.request(
            ZkOp::Create {
                path: "/controller".into(),
                data: ZkData::Controller { broker_id: self.id },
                ephemeral: true,
            },
            ZkPurpose::CreateController,
            out,
        );
    }

    fn watch_controller(&mut self, out: &mut Output<BrokerTimer>) {
        self.zk.request(
            ZkOp::GetData {
                path: "/controller".into(),
                watch: true,
            },
            ZkPurpose::ReadController,
            out,
        );
    }

    /// The session is gone: stop being controller, start a new session.
    fn on_zk_session_lost(&mut self, out: &mut Output<BrokerTimer>) {
        self.offsets_topic_requested = false;
        self.resign_controller();
        self.zk_connect(out);
    }

    fn resign_controller(&mut self) {
        if self.controller.take().is_some() && self.controller_id == Some(self.id) {
            self.controller_id = None;
        }
    }

    fn on_zk_response(&mut self, xid: u64, result: ZkResult, out: &mut Output<BrokerTimer>) {
        let Some(purpose) = self.zk.pending.remove(&xid) else {
            return;
        };
        if result == ZkResult::SessionExpired {
            self.on_zk_session_lost(out);
            return;
        }
        match purpose {
            ZkPurpose::Register => match result {
                ZkResult::Created => out.event(Event::BrokerRegistered {
                    broker: self.id,
                    session_id: self.zk.session_id.unwrap_or(0),
                }),
                _ => {
                    // The previous session's znode is still there; wait until it expires.
                    if let Some(session_id) = self.zk.session_id {
                        out.timer(
                            REGISTER_RETRY_MS,
                            BrokerTimer::ZkRegisterRetry { session_id },
                        );
                    }
                }
            },
            ZkPurpose::CreateController => match result {
                ZkResult::Created => self.zk.request(
                    ZkOp::GetData {
                        path: "/controller_epoch".into(),
                        watch: false,
                    },
                    ZkPurpose::ReadControllerEpoch,
                    out,
                ),
                _ => self.watch_controller(out),
            },
            ZkPurpose::ReadController => match result {
                ZkResult::Data {
                    data: ZkData::Controller { broker_id },
                    ..
                } => {
                    if broker_id != self.id {
                        self.resign_controller();
                    }
                    self.controller_id = Some(broker_id);
                }
                _ => self.try_become_controller(out),
            },
            ZkPurpose::ReadControllerEpoch => {
                let (op, epoch) = match result {
                    ZkResult::Data {
                        data: ZkData::ControllerEpoch(epoch),
                        version,
                    } => (
                        ZkOp::SetData {
                            path: "/controller_epoch".into(),
                            data: ZkData::ControllerEpoch(epoch + 1),
                            version: Some(version),
                        },
                        epoch + 1,
                    ),
                    _ => (
                        ZkOp::Create {
                            path: "/controller_epoch".into(),
                            data: ZkData::ControllerEpoch(1),
                            ephemeral: false,
                        },
                        1,
                    ),
                };
                self.zk
                    .request(op, ZkPurpose::WriteControllerEpoch(epoch), out);
            }
            ZkPurpose::WriteControllerEpoch(epoch) => match result {
                ZkResult::Created | ZkResult::Ok { .. } => self.become_controller(epoch, out),
                _ => self.watch_controller(out),
            },
            ZkPurpose::CreateOffsetsTopic => {
                if !matches!(result, ZkResult::Created | ZkResult::NodeExists) {
                    self.offsets_topic_requested = false;
                }
            }
            ZkPurpose::Controller(purpose) => {
                let Some(mut controller) = self.controller.take() else {
                    return;
                };
                let mut io = HostIo {
                    zk: &mut self.zk,
                    out,
                };
                controller.on_zk_result(purpose, result, &mut io);
                if controller.resigned() {
                    self.controller_id = None;
                    self.watch_controller(out);
                } else {
                    self.controller = Some(controller);
                }
            }
        }
    }

    fn become_controller(&mut self, epoch: i32, out: &mut Output<BrokerTimer>) {
        let mut controller = Controller::new(
            self.id,
            epoch,
            self.config.topic_defaults.clone(),
            self.topic_configs.clone(),
        );
        self.controller_id = Some(self.id);
        self.controller_epoch = self.controller_epoch.max(epoch);
        out.event(Event::ControllerElected {
            broker: self.id,
            controller_epoch: epoch,
        });
        let mut io = HostIo {
            zk: &mut self.zk,
            out,
        };
        controller.start(&mut io);
        self.controller = Some(controller);
        // Watch /controller so this broker learns if it ever loses the role.
        self.watch_controller(out);
    }

    fn on_zk_watch(
        &mut self,
        session_id: u64,
        path: &str,
        kind: ZkWatchKind,
        out: &mut Output<BrokerTimer>,
    ) {
        if self.zk.session_id != Some(session_id) {
            return;
        }
        if path == "/controller" {
            match kind {
                ZkWatchKind::NodeDeleted => {
                    self.resign_controller();
                    self.controller_id = None;
                    self.try_become_controller(out);
                }
                _ => self.watch_controller(out),
            }
            return;
        }
        if let Some(mut controller) = self.controller.take() {
            let mut io = HostIo {
                zk: &mut self.zk,
                out,
            };
            controller.on_watch(path, &mut io);
            self.controller = Some(controller);
        }
    }

    // ------------------------------------------------------------------------------------
    // Controller requests: LeaderAndIsr, UpdateMetadata, AlterIsr responses
    // ------------------------------------------------------------------------------------

    fn accept_controller_epoch(
        &mut self,
        controller_epoch: i32,
        out: &mut Output<BrokerTimer>,
    ) -> bool {
        if controller_epoch < self.controller_epoch {
            out.event(Event::StaleControllerRequestRejected {
                broker: self.id,
                request_controller_epoch: controller_epoch,
                current_controller_epoch: self.controller_epoch,
            });
            return false;
        }
        self.controller_epoch = controller_epoch;
        true
    }

    fn on_leader_and_isr(
        &mut self,
        now_ms: u64,
        controller_id: BrokerId,
        controller_epoch: i32,
        partitions: Vec<LeaderAndIsrPartition>,
        out: &mut Output<BrokerTimer>,
    ) {
        if !self.accept_controller_epoch(controller_epoch, out) {
            return;
        }
        self.controller_id = Some(controller_id);
        let mut touched_leaders = BTreeSet::new();
        for p in partitions {
            if !p.replicas.contains(&self.id) {
                continue;
            }
            if let Some(current) = self.partitions.get(&p.tp) {
                if p.leader_epoch <= current.leader_epoch {
                    continue; // Kafka skips a LeaderAndIsr that is not newer.
                }
            }
            self.disk.logs.entry(p.tp.clone()).or_default();
            if p.leader == Some(self.id) {
                self.make_leader(now_ms, p, out);
            } else {
                if let Some(l) = p.leader {
                    touched_leaders.insert(l);
                }
                self.make_follower(now_ms, p, out);
            }
        }
        for leader in touched_leaders {
            self.maybe_fetch(leader, out);
        }
    }

    fn make_leader(
        &mut self,
        now_ms: u64,
        p: LeaderAndIsrPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        let tp = p.tp.clone();
        let log = self.disk.logs.get_mut(&tp).expect("log exists");
        let leo = log.log_end_offset();
        log.assign_epoch_start(p.leader_epoch, leo);
        let followers = p
            .replicas
            .iter()
            .filter(|r| **r != self.id)
            .map(|r| {
                let in_sync = p.isr.contains(r);
                (
                    *r,
                    FollowerState {
                        log_end_offset: None,
                        last_caught_up_ms: if in_sync { now_ms } else { 0 },
                        last_fetch_ms: 0,
                        last_fetch_leader_log_end_offset: 0,
                        session: None,
                    },
                )
            })
            .collect();
        self.partitions.insert(
            tp.clone(),
            PartitionState {
                replicas: p.replicas.clone(),
                leader_epoch: p.leader_epoch,
                isr: p.isr.clone(),
                partition_epoch: p.partition_epoch,
                role: Role::Leader(LeaderState {
                    epoch_start_offset: leo,
                    followers,
                    pending_isr: None,
                    alter_isr_attempt: 0,
                }),
            },
        );
        let hw = self.high_watermark(&tp).min(leo);
        self.high_watermarks.insert(tp.clone(), hw);
        self.fetch_sessions.mark_dirty(&tp);
        self.stop_fetching(&tp);
        out.event(Event::BecameLeader {
            broker: self.id,
            tp: tp.clone(),
            leader_epoch: p.leader_epoch,
            log_end_offset: leo,
            high_watermark: hw,
            isr: p.isr.clone(),
        });
        self.fail_delayed_produces(&tp, p.leader_epoch, out);
        self.maybe_increment_hw(&tp, out);
        self.complete_delayed_fetches(&tp, out);
        if tp.topic == OFFSETS_TOPIC {
            self.with_coordinator(now_ms, out, |c, io| {
                c.on_election(tp.partition, p.leader_epoch, io)
            });
        }
    }

    fn make_follower(
        &mut self,
        now_ms: u64,
        p: LeaderAndIsrPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        let tp = p.tp.clone();
        let protocol = self.protocol();
        self.partitions.insert(
            tp.clone(),
            PartitionState {
                replicas: p.replicas.clone(),
                leader_epoch: p.leader_epoch,
                isr: p.isr.clone(),
                partition_epoch: p.partition_epoch,
                role: Role::Follower {
                    leader: p.leader,
                    needs_epoch_lookup: protocol.uses_leader_epochs()
                        && !protocol.uses_truncation_on_fetch(),
                },
            },
        );
        self.fetch_sessions.mark_dirty(&tp);
        self.stop_fetching(&tp);
        if let Some(leader) = p.leader {
            self.fetch_state_changed(&tp, leader);
        }
        let leo = self.disk.logs[&tp].log_end_offset();
        out.event(Event::BecameFollower {
            broker: self.id,
            tp: tp.clone(),
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            log_end_offset: leo,
        });
        if !protocol.uses_leader_epochs() && p.leader.is_some() {
            // Before KIP-101 a new follower cut its log to its own high watermark, trusting
            // that everything above it was uncommitted. The HW can be stale (it lags the
            // leader's, and a restart reads it from a checkpoint), so committed records go too.
            let hw = self.high_watermark(&tp);
            self.truncate(
                &tp,
                hw,
                TruncateReason::HighWatermark { high_watermark: hw },
                out,
            );
        }
        self.fail_delayed_produces(&tp, p.leader_epoch, out);
        self.complete_delayed_fetches(&tp, out);
        if tp.topic == OFFSETS_TOPIC {
            self.with_coordinator(now_ms, out, |c, io| c.on_resignation(tp.partition, io));
        }
    }

    fn on_update_metadata(
        &mut self,
        controller_id: BrokerId,
        controller_epoch: i32,
        live_brokers: Vec<BrokerId>,
        partitions: Vec<PartitionMetadata>,
        out: &mut Output<BrokerTimer>,
    ) {
        if !self.accept_controller_epoch(controller_epoch, out) {
            return;
        }
        self.controller_id = Some(controller_id);
        self.live_brokers = live_brokers;
        for p in partitions {
            let newer = self
                .metadata
                .get(&p.tp)
                .is_none_or(|m| p.leader_epoch >= m.leader_epoch);
            if newer {
                self.metadata.insert(p.tp.clone(), p);
            }
        }
    }

    fn on_alter_isr_response(
        &mut self,
        tp: TopicPartition,
        error: ErrorCode,
        state: Option<LeaderAndIsrPartition>,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        let lag_time_max_ms = self.config.replica_lag_time_max_ms;
        let id = self.id;
        // The ISR may change: followers' lazily kept fetch times are written out first.
        self.materialize_followers(&tp, None);
        let Some(p) = self.partitions.get_mut(&tp) else {
            return;
        };
        let Role::Leader(leader) = &mut p.role else {
            return;
        };
        let Some(proposed) = leader.pending_isr.take() else {
            return;
        };
        let Some(state) = state else {
            out.event(Event::IsrChangeRejected {
                tp,
                leader: id,
                error,
            });
            return;
        };
        if state.leader_epoch != p.leader_epoch {
            // The controller moved on; a LeaderAndIsr with the new epoch is on its way.
            out.event(Event::IsrChangeRejected {
                tp,
                leader: id,
                error,
            });
            return;
        }
        let old_isr = std::mem::replace(&mut p.isr, state.isr.clone());
        p.partition_epoch = state.partition_epoch;
        if error != ErrorCode::None {
            out.event(Event::IsrChangeRejected {
                tp: tp.clone(),
                leader: id,
                error,
            });
        } else {
            debug_assert_eq!(proposed, state.isr);
            let removed: Vec<BrokerId> = old_isr
                .iter()
                .copied()
                .filter(|r| !state.isr.contains(r))
                .collect();
            let added: Vec<BrokerId> = state
                .isr
                .iter()
                .copied()
                .filter(|r| !old_isr.contains(r))
                .collect();
            if !removed.is_empty() {
                let lag_ms = removed
                    .iter()
                    .filter_map(|r| leader.followers.get(r))
                    .map(|f| now_ms.saturating_sub(f.last_caught_up_ms))
                    .max()
                    .unwrap_or(0);
                out.event(Event::IsrShrunk {
                    tp: tp.clone(),
                    leader: id,
                    leader_epoch: p.leader_epoch,
                    removed,
                    isr: state.isr.clone(),
                    lag_ms,
                    lag_time_max_ms,
                });
            }
            if !added.is_empty() {
                out.event(Event::IsrExpanded {
                    tp: tp.clone(),
                    leader: id,
                    leader_epoch: p.leader_epoch,
                    added,
                    isr: state.isr.clone(),
                });
            }
        }
        self.maybe_increment_hw(&tp, out);
    }

    // ------------------------------------------------------------------------------------
    // Leader side: produce, HW, ISR
    // ------------------------------------------------------------------------------------

    fn effective_min_isr(&self, tp: &TopicPartition, replicas: usize) -> usize {
        (self.topic_config(&tp.topic).min_insync_replicas as usize).min(replicas)
    }

    /// Kafka's `ReplicaManager.appendRecords`: every partition of the request is appended
    /// (or refused) on its own; with acks=all the request waits in the purgatory until each
    /// appended partition's HW passes its records, then one response answers them all.
    fn on_produce(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: ProduceRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        let ProduceRequest {
            correlation_id,
            acks,
            timeout_ms,
            partitions,
        } = request;
        assert!(
            !partitions.is_empty(),
            "a produce request carries partitions"
        );
        let statuses: Vec<ProduceStatus> = partitions
            .into_iter()
            .map(|part| self.append_produced(now_ms, acks, part, out))
            .collect();
        let appended: Vec<TopicPartition> = statuses
            .iter()
            .filter(|s| s.result.is_none_or(|(error, _)| error == ErrorCode::None))
            .map(|s| s.tp.clone())
            .collect();
        if acks == Acks::All && statuses.iter().any(|s| s.result.is_none()) {
            self.next_delayed_id += 1;
            let id = self.next_delayed_id;
            for status in statuses.iter().filter(|s| s.result.is_none()) {
                self.produce_watchers
                    .entry(status.tp.clone())
                    .or_default()
                    .insert(id);
            }
            self.delayed_produces.insert(
                id,
                DelayedProduce {
                    from,
                    correlation_id,
                    partitions: statuses,
                },
            );
            out.timer(timeout_ms, BrokerTimer::DelayedProduceExpire { id });
        } else if acks != Acks::None {
            answer_produce(out, from, correlation_id, &statuses);
        }
        for tp in &appended {
            self.maybe_increment_hw(tp, out);
            self.complete_delayed_fetches(tp, out);
        }
    }

    /// Appends one partition's batch as leader, or says why not. With acks=all the status
    /// waits for the ISR; otherwise it is answered at once.
    fn append_produced(
        &mut self,
        now_ms: u64,
        acks: Acks,
        part: ProducePartition,
        out: &mut Output<BrokerTimer>,
    ) -> ProduceStatus {
        let ProducePartition { tp, records } = part;
        let count = records.len() as u32;
        let mut status = ProduceStatus {
            tp: tp.clone(),
            leader_epoch: -1,
            required_offset: 0,
            base_offset: 0,
            records: count,
            result: None,
        };
        let (leader_epoch, isr_len, replicas_len) = match self.partitions.get(&tp) {
            Some(PartitionState {
                role: Role::Leader(_),
                leader_epoch,
                isr,
                replicas,
                ..
            }) => (*leader_epoch, isr.len(), replicas.len()),
            _ => {
                out.event(Event::ProduceRejected {
                    broker: self.id,
                    tp,
                    error: ErrorCode::NotLeaderOrFollower,
                    records: count,
                });
                status.result = Some((ErrorCode::NotLeaderOrFollower, None));
                return status;
            }
        };
        if acks == Acks::All && isr_len < self.effective_min_isr(&tp, replicas_len) {
            out.event(Event::ProduceRejected {
                broker: self.id,
                tp,
                error: ErrorCode::NotEnoughReplicas,
                records: count,
            });
            status.result = Some((ErrorCode::NotEnoughReplicas, None));
            return status;
        }
        let log = self.disk.logs.get_mut(&tp).expect("a leader has a log");
        let appended = log.append_as_leader(leader_epoch, records, now_ms);
        let base_offset = appended
            .first()
            .map(|a| a.0)
            .unwrap_or(log.log_end_offset());
        let leo = log.log_end_offset();
        out.event(Event::Appended {
            broker: self.id,
            tp: tp.clone(),
            as_leader: true,
            records: appended,
            log_end_offset: leo,
        });
        self.materialize_followers(&tp, None);
        self.maybe_flush(&tp, now_ms, out);
        status.leader_epoch = leader_epoch;
        status.required_offset = leo;
        status.base_offset = base_offset;
        if acks != Acks::All {
            status.result = Some((ErrorCode::None, Some(base_offset)));
        }
        status
    }

    /// Kafka's `checkEnoughReplicasReachOffset`: an acks=all produce completes once the HW
    /// passed its last record; if the ISR fell below `min.insync.replicas` meanwhile, the
    /// records are written but the producer hears NOT_ENOUGH_REPLICAS_AFTER_APPEND.
    fn complete_delayed_produces(&mut self, tp: &TopicPartition, out: &mut Output<BrokerTimer>) {
        let hw = self.high_watermark(tp);
        let Some(p) = self.partitions.get(tp) else {
            return;
        };
        let min_isr = self.effective_min_isr(tp, p.replicas.len());
        let maximal_isr_len = match &p.role {
            Role::Leader(l) => l.pending_isr.as_ref().map_or(p.isr.len(), |pending| {
                p.isr
                    .iter()
                    .chain(pending.iter())
                    .collect::<BTreeSet<_>>()
                    .len()
            }),
            Role::Follower { .. } => return,
        };
        let error = if maximal_isr_len >= min_isr {
            ErrorCode::None
        } else {
            ErrorCode::NotEnoughReplicasAfterAppend
        };
        self.settle_delayed_produces(tp, out, |status| {
            (status.required_offset <= hw).then(|| {
                (
                    error,
                    (error == ErrorCode::None).then_some(status.base_offset),
                )
            })
        });
    }

    /// Gives each waiting partition `tp` of a delayed produce the answer `decide` has for it
    /// (if any), and sends every request whose partitions are all answered.
    fn settle_delayed_produces(
        &mut self,
        tp: &TopicPartition,
        out: &mut Output<BrokerTimer>,
        decide: impl Fn(&ProduceStatus) -> Option<(ErrorCode, Option<u64>)>,
    ) {
        let Some(ids) = self.produce_watchers.get(tp).cloned() else {
            return;
        };
        for id in ids {
            let d = self
                .delayed_produces
                .get_mut(&id)
                .expect("a watched produce waits");
            let mut settled = false;
            for status in d.partitions.iter_mut() {
                if &status.tp != tp || status.result.is_some() {
                    continue;
                }
                let Some(result) = decide(status) else {
                    continue;
                };
                status.result = Some(result);
                settled = true;
                if result.0 != ErrorCode::None {
                    out.event(Event::ProduceRejected {
                        broker: self.id,
                        tp: tp.clone(),
                        error: result.0,
                        records: status.records,
                    });
                }
            }
            if !settled {
                continue;
            }
            self.unwatch_produce(tp, id);
            let d = &self.delayed_produces[&id];
            if d.partitions.iter().all(|s| s.result.is_some()) {
                let d = self.delayed_produces.remove(&id).expect("present");
                answer_produce(out, d.from, d.correlation_id, &d.partitions);
            }
        }
    }

    /// Leadership moved: every waiting acks=all produce of an older epoch fails.
    fn fail_delayed_produces(
        &mut self,
        tp: &TopicPartition,
        epoch: LeaderEpoch,
        out: &mut Output<BrokerTimer>,
    ) {
        self.settle_delayed_produces(tp, out, |status| {
            (status.leader_epoch < epoch).then_some((ErrorCode::NotLeaderOrFollower, None))
        });
    }

    /// `request.timeout.ms` passed: the partitions still waiting answer REQUEST_TIMED_OUT.
    fn expire_delayed_produce(&mut self, id: u64, out: &mut Output<BrokerTimer>) {
        let Some(mut d) = self.delayed_produces.remove(&id) else {
            return;
        };
        for status in d.partitions.iter_mut().filter(|s| s.result.is_none()) {
            out.event(Event::ProduceRejected {
                broker: self.id,
                tp: status.tp.clone(),
                error: ErrorCode::RequestTimedOut,
                records: status.records,
            });
            status.result = Some((ErrorCode::RequestTimedOut, None));
            self.unwatch_produce(&status.tp, id);
        }
        answer_produce(out, d.from, d.correlation_id, &d.partitions);
    }

    /// Delayed produce `id` no longer waits on `tp`.
    fn unwatch_produce(&mut self, tp: &TopicPartition, id: u64) {
        if let Some(watchers) = self.produce_watchers.get_mut(tp) {
            watchers.remove(&id);
            if watchers.is_empty() {
                self.produce_watchers.remove(tp);
            }
        }
    }

    fn set_high_watermark(&mut self, tp: &TopicPartition, new: u64, out: &mut Output<BrokerTimer>) {
        let old = self.high_watermark(tp);
        if old == new {
            return;
        }
        let leo = self.disk.logs.get(tp).map_or(0, |l| l.log_end_offset());
        assert!(
            new <= leo,
            "a replica's high watermark must not pass its log end offset"
        );
        self.high_watermarks.insert(tp.clone(), new);
        self.fetch_sessions.mark_dirty(tp);
        let (leader_epoch, is_leader) = self.partition_role(tp).unwrap_or((-1, false));
        out.event(Event::HighWatermarkChanged {
            broker: self.id,
            tp: tp.clone(),
            is_leader,
            leader_epoch,
            old,
            new,
            log_end_offset: leo,
        });
    }

    /// Kafka's `maybeIncrementLeaderHW`: the HW moves to the smallest LEO among the leader and
    /// the maximal ISR (the ISR plus a member whose joining is in flight). From 3.7 it does not
    /// move at all while the ISR is below `min.insync.replicas` (KAFKA-15583).
    fn maybe_increment_hw(&mut self, tp: &TopicPartition, out: &mut Output<BrokerTimer>) {
        let Some(p) = self.partitions.get(tp) else {
            return;
        };
        let Role::Leader(leader) = &p.role else {
            return;
        };
        if self.protocol().uses_strict_min_isr()
            && p.isr.len() < self.effective_min_isr(tp, p.replicas.len())
        {
            return;
        }
        let leo = self.disk.logs[tp].log_end_offset();
        let mut new_hw = leo;
        let maximal: BTreeSet<BrokerId> = p
            .isr
            .iter()
            .chain(leader.pending_isr.iter().flatten())
            .copied()
            .collect();
        for r in maximal {
            if r == self.id {
                continue;
            }
            match leader.followers.get(&r).and_then(|f| f.log_end_offset) {
                Some(follower_leo) => new_hw = new_hw.min(follower_leo),
                None => return,
            }
        }
        if new_hw > self.high_watermark(tp) {
            self.set_high_watermark(tp, new_hw, out);
            self.complete_delayed_produces(tp, out);
            self.complete_delayed_fetches(tp, out);
        }
    }

    /// Kafka's `maybeShrinkIsr`, run every `replica.lag.time.max.ms / 2`.
    fn maybe_shrink_isrs(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        let lag_max_ms = self.config.replica_lag_time_max_ms;
        let tps: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        for tp in tps {
            let leo = self.disk.logs.get(&tp).map_or(0, |l| l.log_end_offset());
            let Some(p) = self.partitions.get(&tp) else {
                continue;
            };
            let Role::Leader(leader) = &p.role else {
                continue;
            };
            if leader.pending_isr.is_some() {
                continue;
            }
            let out_of_sync: Vec<BrokerId> = p
                .isr
                .iter()
                .copied()
                .filter(|r| *r != self.id)
                .filter(|r| {
                    leader.followers.get(r).is_some_and(|f| {
                        f.log_end_offset != Some(leo)
                            && now_ms.saturating_sub(f.last_caught_up_ms) > lag_max_ms
                    })
                })
                .collect();
            if out_of_sync.is_empty() {
                continue;
            }
            let new_isr: Vec<BrokerId> = p
                .isr
                .iter()
                .copied()
                .filter(|r| !out_of_sync.contains(r))
                .collect();
            self.send_alter_isr(&tp, new_isr, out);
        }
    }

    fn send_alter_isr(
        &mut self,
        tp: &TopicPartition,
        new_isr: Vec<BrokerId>,
        out: &mut Output<BrokerTimer>,
    ) {
        let id = self.id;
        let controller = self.controller_id;
        let p = self.partitions.get_mut(tp).expect("partition");
        let Role::Leader(leader) = &mut p.role else {
            return;
        };
        let Some(controller) = controller else {
            return;
        };
        leader.pending_isr = Some(new_isr.clone());
        leader.alter_isr_attempt += 1;
        out.send(
            NodeId::Broker(controller),
            Message::AlterIsr {
                broker_id: id,
                tp: tp.clone(),
                leader_epoch: p.leader_epoch,
                new_isr,
                partition_epoch: p.partition_epoch,
            },
        );
        out.timer(
            ALTER_ISR_TIMEOUT_MS,
            BrokerTimer::AlterIsrTimeout {
                tp: tp.clone(),
                attempt: leader.alter_isr_attempt,
            },
        );
    }

    /// The leader's side of a follower fetch (Kafka's `updateFollowerFetchState`).
    /// Kafka's `Partition.updateFollowerFetchState` (`Replica.updateFetchStateOrThrow`).
    fn update_follower_fetch_state(
        &mut self,
        now_ms: u64,
        follower: BrokerId,
        tp: &TopicPartition,
        fetch_offset: u64,
        session: Option<u32>,
        out: &mut Output<BrokerTimer>,
    ) {
        let leo = self.disk.logs[tp].log_end_offset();
        let hw = self.high_watermark(tp);
        let p = self.partitions.get_mut(tp).expect("partition");
        let Role::Leader(leader) = &mut p.role else {
            return;
        };
        let Some(f) = leader.followers.get_mut(&follower) else {
            return;
        };
        if fetch_offset >= leo {
            f.last_caught_up_ms = now_ms;
        } else if fetch_offset >= f.last_fetch_leader_log_end_offset {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.log_end_offset = Some(fetch_offset);
        f.last_fetch_ms = now_ms;
        f.last_fetch_leader_log_end_offset = leo;
        // Caught up and in the ISR: until something changes, every fetch of the session
        // would only set the fetch times again.
        f.session = session.filter(|_| fetch_offset >= leo && p.isr.contains(&follower));
        // Kafka's `maybeExpandIsr`: a follower rejoins once it reached the HW and the start
        // of this leader's epoch (KAFKA-7128).
        let joins = !p.isr.contains(&follower)
            && leader.pending_isr.is_none()
            && fetch_offset >= hw
            && fetch_offset >= leader.epoch_start_offset;
        if joins {
            let mut new_isr = p.isr.clone();
            new_isr.push(follower);
            self.send_alter_isr(tp, new_isr, out);
        }
        self.maybe_increment_hw(tp, out);
    }

    // ------------------------------------------------------------------------------------
    // Fetch serving (leader side, for followers and consumers)
    // ------------------------------------------------------------------------------------

    /// Kafka's `KafkaApis.handleFetchRequest` and `ReplicaManager.fetchMessages`: the fetch
    /// session gives the partitions to read (KIP-227), the follower's fetch state is updated
    /// for each, and the fetch is answered now or waits up to `max_wait_ms` for news.
    fn on_fetch(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: FetchRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        let (context, closed) = self.fetch_sessions.new_context(
            request.session,
            request.replica_id,
            &request.partitions,
            &request.forgotten,
            now_ms,
        );
        if let Some(closed) = closed {
            self.close_fetch_session(&closed);
        }
        let partitions = match context {
            FetchContext::Error(error) => {
                out.send(
                    from,
                    Message::FetchResponse {
                        correlation_id: request.correlation_id,
                        error,
                        session_id: 0,
                        partitions: Vec::new(),
                    },
                );
                return;
            }
            FetchContext::Sessionless | FetchContext::Full { .. } => request.partitions,
            FetchContext::Incremental { session_id } => self.session_news(session_id),
        };
        // First the follower state updates, once, at the time the fetch arrives.
        if let Some(follower) = request.replica_id {
            for fp in &partitions {
                if self.fetch_error(fp, request.replica_id).is_none()
                    && self.diverging_epoch(fp).is_none()
                {
                    self.update_follower_fetch_state(
                        now_ms,
                        follower,
                        &fp.tp,
                        fp.fetch_offset,
                        context.session_id(),
                        out,
                    );
                }
            }
        }
        let delayed = DelayedFetch {
            from,
            correlation_id: request.correlation_id,
            replica_id: request.replica_id,
            context,
            partitions,
        };
        if request.max_wait_ms == 0 || self.fetch_has_something(&delayed) {
            self.answer_fetch(delayed, out);
        } else {
            self.next_delayed_id += 1;
            let id = self.next_delayed_id;
            if let Some(session_id) = context.session_id() {
                self.parked_fetches.insert(session_id, id);
            }
            self.delayed_fetches.insert(id, delayed);
            out.timer(request.max_wait_ms, BrokerTimer::DelayedFetchExpire { id });
        }
    }

    /// The partitions of an incremental session fetch to look at: those with news.
    fn session_news(&self, session_id: u32) -> Vec<FetchPartition> {
        let session = self.fetch_sessions.get(session_id).expect("a live session");
        session
            .dirty
            .iter()
            .map(|tp| session.partitions[tp].fetch.clone())
            .collect()
    }

    /// A closed session's followers stop following its fetch times.
    fn close_fetch_session(&mut self, closed: &FetchSession) {
        self.parked_fetches.remove(&closed.id);
        for tp in closed.partitions.keys() {
            self.materialize_followers(tp, Some(closed));
        }
    }

    /// Writes out the fetch times of every follower of `tp` whose state follows its fetch
    /// session (see `FollowerState::session`), as Kafka would have written them on each of
    /// the session's fetches, and tells every session holding `tp` to look at it again.
    /// Called before anything that changes what the followers' state means: an append, a
    /// leadership or ISR change.
    fn materialize_followers(&mut self, tp: &TopicPartition, closed: Option<&FetchSession>) {
        let Some(PartitionState {
            role: Role::Leader(leader),
            ..
        }) = self.partitions.get_mut(tp)
        else {
            self.fetch_sessions.mark_dirty(tp);
            return;
        };
        for f in leader.followers.values_mut() {
            let Some(session_id) = f.session.take() else {
                continue;
            };
            let last_fetch_ms = match closed {
                Some(c) if c.id == session_id => Some(c.last_fetch_ms),
                _ => self.fetch_sessions.get(session_id).map(|s| s.last_fetch_ms),
            };
            let t = last_fetch_ms.unwrap_or(f.last_fetch_ms);
            assert!(
                t >= f.last_fetch_ms,
                "a session's fetches do not go back in time"
            );
            f.last_caught_up_ms = f.last_caught_up_ms.max(t);
            f.last_fetch_ms = t;
        }
        self.fetch_sessions.mark_dirty(tp);
    }

    fn fetch_error(&self, fp: &FetchPartition, replica_id: Option<BrokerId>) -> Option<ErrorCode> {
        let Some(p) = self.partitions.get(&fp.tp) else {
            return Some(ErrorCode::NotLeaderOrFollower);
        };
        if !matches!(p.role, Role::Leader(_)) {
            return Some(ErrorCode::NotLeaderOrFollower);
        }
        // KIP-320: the fetcher's idea of the epoch must match.
        if let Some(epoch) = fp.current_leader_epoch {
            if self.protocol().uses_kip_320() || replica_id.is_none() {
                if epoch < p.leader_epoch {
                    return Some(ErrorCode::FencedLeaderEpoch);
                }
                if epoch > p.leader_epoch {
                    return Some(ErrorCode::UnknownLeaderEpoch);
                }
            }
        }
        None
    }

    /// Kafka checks a follower's divergence before it reads the log, so a longer follower
    /// log that diverged is truncated by epoch; only a fetch with nothing to say about
    /// epochs falls through to OFFSET_OUT_OF_RANGE.
    fn out_of_range(&self, fp: &FetchPartition) -> bool {
        fp.fetch_offset > self.disk.logs[&fp.tp].log_end_offset()
    }

    /// KIP-595's truncation on fetch (used by replica fetchers from 2.7): the follower's last
    /// fetched epoch must end at or after its fetch offset on the leader, else the leader
    /// names where that epoch ends.
    fn diverging_epoch(&self, fp: &FetchPartition) -> Option<EpochEndOffset> {
        let last_epoch = fp.last_fetched_epoch?;
        let log = self.disk.logs.get(&fp.tp)?;
        let kip_279 = self.protocol().uses_kip_279();
        let (epoch, end_offset) = log
            .end_offset_for_epoch(last_epoch, kip_279)
            .unwrap_or((-1, 0));
        if epoch < last_epoch || end_offset < fp.fetch_offset {
            Some(EpochEndOffset {
                tp: fp.tp.clone(),
                error: ErrorCode::None,
                leader_epoch: epoch,
                end_offset,
            })
        } else {
            None
        }
    }

    fn fetch_upper_bound(&self, tp: &TopicPartition, replica_id: Option<BrokerId>) -> u64 {
        match replica_id {
            Some(_) => self.disk.logs[tp].log_end_offset(),
            None => self.high_watermark(tp),
        }
    }

    /// Kafka's `DelayedFetch.tryComplete` for one partition: an error, a diverging epoch,
    /// an offset out of range, or something to read.
    fn partition_has_something(&self, fp: &FetchPartition, replica_id: Option<BrokerId>) -> bool {
        self.fetch_error(fp, replica_id).is_some()
            || self.diverging_epoch(fp).is_some()
            || self.out_of_range(fp)
            || fp.fetch_offset < self.fetch_upper_bound(&fp.tp, replica_id)
    }

    fn fetch_has_something(&self, request: &DelayedFetch) -> bool {
        request
            .partitions
            .iter()
            .any(|fp| self.partition_has_something(fp, request.replica_id))
    }

    /// One partition's part of a fetch answer.
    fn read_partition(
        &self,
        fp: &FetchPartition,
        replica_id: Option<BrokerId>,
    ) -> FetchPartitionResponse {
        let hw = self.high_watermark(&fp.tp);
        let (leo, log_start) = self
            .disk
            .logs
            .get(&fp.tp)
            .map_or((0, 0), |l| (l.log_end_offset(), l.log_start_offset()));
        let leader_epoch = self.partitions.get(&fp.tp).map_or(-1, |p| p.leader_epoch);
        let mut response = FetchPartitionResponse {
            tp: fp.tp.clone(),
            error: ErrorCode::None,
            high_watermark: hw,
            log_start_offset: log_start,
            log_end_offset: leo,
            leader_epoch,
            records: Vec::new(),
            diverging_epoch: None,
        };
        if let Some(error) = self.fetch_error(fp, replica_id) {
            response.error = error;
        } else if let Some(diverging) = self.diverging_epoch(fp) {
            response.diverging_epoch = Some(diverging);
        } else if self.out_of_range(fp) {
            response.error = ErrorCode::OffsetOutOfRange;
        } else {
            let upper = self.fetch_upper_bound(&fp.tp, replica_id);
            response.records =
                self.disk.logs[&fp.tp].read(fp.fetch_offset, upper, FETCH_MAX_RECORDS);
        }
        response
    }

    /// Answers a fetch. A full or sessionless answer carries every partition it read; an
    /// incremental one only those with news for the follower: records, an error, a diverging
    /// epoch, or a high watermark or log start offset it has not been told yet (Kafka's
    /// `CachedPartition.maybeUpdateResponseData`).
    fn answer_fetch(&mut self, request: DelayedFetch, out: &mut Output<BrokerTimer>) {
        let session_id = request.context.session_id();
        if let Some(id) = session_id {
            self.parked_fetches.remove(&id);
        }
        let (partitions, incremental) = match request.context {
            FetchContext::Incremental { session_id } => {
                let live = self.fetch_sessions.get(session_id).is_some();
                let news = if live {
                    self.session_news(session_id)
                } else {
                    Vec::new()
                };
                (news, true)
            }
            _ => (request.partitions, false),
        };
        let mut responses = Vec::new();
        for fp in &partitions {
            let response = self.read_partition(fp, request.replica_id);
            let quiet = response.error == ErrorCode::None
                && response.diverging_epoch.is_none()
                && response.records.is_empty();
            // Settled once quiet: nothing more to say until something changes (which marks
            // the partition again).
            let settled = quiet
                && request
                    .replica_id
                    .is_none_or(|r| self.follows_session(&fp.tp, r));
            let Some(session) = session_id.and_then(|id| self.fetch_sessions.get_mut(id)) else {
                responses.push(response);
                continue;
            };
            let Some(cached) = session.partitions.get_mut(&fp.tp) else {
                continue;
            };
            let news = !quiet
                || cached.high_watermark_sent != Some(response.high_watermark)
                || cached.log_start_offset_sent != Some(response.log_start_offset);
            cached.high_watermark_sent = Some(response.high_watermark);
            cached.log_start_offset_sent = Some(response.log_start_offset);
            if settled {
                session.dirty.remove(&fp.tp);
            }
            if !incremental || news {
                responses.push(response);
            }
        }
        out.send(
            request.from,
            Message::FetchResponse {
                correlation_id: request.correlation_id,
                error: ErrorCode::None,
                session_id: session_id.unwrap_or(0),
                partitions: responses,
            },
        );
    }

    /// Whether `follower`'s state for `tp` follows its fetch session's times.
    fn follows_session(&self, tp: &TopicPartition, follower: BrokerId) -> bool {
        matches!(
            self.partitions.get(tp).map(|p| &p.role),
            Some(Role::Leader(l)) if l.followers.get(&follower).is_some_and(|f| f.session.is_some())
        )
    }

    /// Kafka's `delayedFetchPurgatory.checkAndComplete(key)`: something changed on `tp`, so
    /// every waiting fetch that reads it looks again. A session fetch looks only at `tp`:
    /// nothing else of it had anything when it began to wait, and every change since has come
    /// through here with its own partition.
    fn complete_delayed_fetches(&mut self, tp: &TopicPartition, out: &mut Output<BrokerTimer>) {
        let mut ready: Vec<u64> = self
            .delayed_fetches
            .iter()
            .filter(|(_, d)| {
                d.context == FetchContext::Sessionless
                    && d.partitions.iter().any(|fp| &fp.tp == tp)
                    && self.fetch_has_something(d)
            })
            .map(|(id, _)| *id)
            .collect();
        for session_id in self.fetch_sessions.sessions_of(tp) {
            let Some(id) = self.parked_fetches.get(&session_id).copied() else {
                continue;
            };
            let session = self.fetch_sessions.get(session_id).expect("listed");
            let fp = &session.partitions[tp].fetch;
            let replica_id = self.delayed_fetches[&id].replica_id;
            if self.partition_has_something(fp, replica_id) {
                ready.push(id);
            }
        }
        ready.sort_unstable();
        for id in ready {
            let d = self.delayed_fetches.remove(&id).expect("present");
            self.answer_fetch(d, out);
        }
    }

    fn on_offsets_for_leader_epoch(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        partitions: Vec<OffsetForLeaderEpochPartition>,
        out: &mut Output<BrokerTimer>,
    ) {
        let kip_279 = self.protocol().uses_kip_279();
        let answers = partitions
            .into_iter()
            .map(|req| {
                let not_leader = !matches!(
                    self.partitions.get(&req.tp).map(|p| &p.role),
                    Some(Role::Leader(_))
                );
                if not_leader {
                    return EpochEndOffset {
                        tp: req.tp,
                        error: ErrorCode::NotLeaderOrFollower,
                        leader_epoch: -1,
                        end_offset: 0,
                    };
                }
                let (leader_epoch, end_offset) = self.disk.logs[&req.tp]
                    .end_offset_for_epoch(req.leader_epoch, kip_279)
                    .unwrap_or((-1, 0));
                EpochEndOffset {
                    tp: req.tp,
                    error: ErrorCode::None,
                    leader_epoch,
                    end_offset,
                }
            })
            .collect();
        out.send(
            from,
            Message::OffsetsForLeaderEpochResponse {
                correlation_id,
                partitions: answers,
            },
        );
    }

    // ------------------------------------------------------------------------------------
    // Follower side: the replica fetcher
    // ------------------------------------------------------------------------------------

    fn followed_partitions(&self, leader_id: BrokerId) -> Vec<(TopicPartition, bool)> {
        self.partitions
            .iter()
            .filter_map(|(tp, p)| match &p.role {
                Role::Follower {
                    leader: Some(l),
                    needs_epoch_lookup,
                } if *l == leader_id => Some((tp.clone(), *needs_epoch_lookup)),
                _ => None,
            })
            .collect()
    }

    /// The partitions followed from `leader_id` the next request must consider: every one
    /// for a full request (or without fetch sessions), else those whose state changed.
    fn fetch_candidates(&self, leader_id: BrokerId, full: bool) -> Vec<(TopicPartition, bool)> {
        if full {
            return self.followed_partitions(leader_id);
        }
        self.fetchers[&leader_id]
            .session
            .dirty()
            .iter()
            .filter_map(|tp| match &self.partitions.get(tp)?.role {
                Role::Follower {
                    leader: Some(l),
                    needs_epoch_lookup,
                } if *l == leader_id => Some((tp.clone(), *needs_epoch_lookup)),
                _ => None,
            })
            .collect()
    }

    /// A follower's fetch state for `tp`: where it fetches from, and what it knows of epochs.
    fn fetch_partition(&self, tp: &TopicPartition) -> FetchPartition {
        let protocol = self.protocol();
        let log = &self.disk.logs[tp];
        FetchPartition {
            tp: tp.clone(),
            fetch_offset: log.log_end_offset(),
            last_fetched_epoch: if protocol.uses_truncation_on_fetch() {
                log.latest_epoch()
            } else {
                None
            },
            current_leader_epoch: protocol
                .uses_kip_320()
                .then(|| self.partitions[tp].leader_epoch),
        }
    }

    /// Kafka's `AbstractFetcherThread.maybeFetch`: one request in flight per leader. From
    /// 1.1 it goes through the fetch session (KIP-227): full once, then incremental.
    fn maybe_fetch(&mut self, leader_id: BrokerId, out: &mut Output<BrokerTimer>) {
        let sessions = self.protocol().uses_fetch_sessions();
        let fetcher = self.fetchers.entry(leader_id).or_default();
        if fetcher.in_flight.is_some() || fetcher.backing_off {
            return;
        }
        let full = !sessions || fetcher.session.needs_full();
        if !full && fetcher.session.is_empty() {
            return;
        }
        let candidates = self.fetch_candidates(leader_id, full);
        if full && candidates.is_empty() {
            return;
        }
        let correlation_id = self.next_correlation();
        let protocol = self.protocol();
        let lookups: Vec<&(TopicPartition, bool)> = candidates.iter().filter(|(_, n)| *n).collect();
        let mut sent_session = None;
        let message = if !lookups.is_empty() {
            // KIP-101 (Kafka 0.11 to 2.6): ask where our latest epoch ends before fetching.
            Message::OffsetsForLeaderEpoch {
                correlation_id,
                replica_id: Some(self.id),
                partitions: lookups
                    .iter()
                    .map(|(tp, _)| OffsetForLeaderEpochPartition {
                        tp: tp.clone(),
                        current_leader_epoch: protocol
                            .uses_kip_320()
                            .then(|| self.partitions[tp].leader_epoch),
                        leader_epoch: self.disk.logs[tp].latest_epoch().unwrap_or(-1),
                    })
                    .collect(),
            }
        } else {
            let wanted: Vec<FetchPartition> = candidates
                .iter()
                .map(|(tp, _)| self.fetch_partition(tp))
                .collect();
            let (session, partitions, forgotten) = if sessions {
                let fetcher = self.fetchers.get_mut(&leader_id).expect("fetcher");
                let data = fetcher.session.build(wanted);
                sent_session = Some(data.metadata);
                (data.metadata, data.partitions, data.forgotten)
            } else {
                (FetchMetadata::SESSIONLESS, wanted, Vec::new())
            };
            Message::Fetch(FetchRequest {
                correlation_id,
                replica_id: Some(self.id),
                max_wait_ms: self.config.replica_fetch_wait_max_ms,
                session,
                partitions,
                forgotten,
            })
        };
        let fetcher = self.fetchers.get_mut(&leader_id).expect("fetcher");
        fetcher.in_flight = Some(correlation_id);
        fetcher.in_flight_session = sent_session;
        out.send(NodeId::Broker(leader_id), message);
        out.timer(
            self.config.replica_socket_timeout_ms,
            BrokerTimer::FetchTimeout {
                leader: leader_id,
                correlation_id,
            },
        );
    }

    /// `tp`'s fetch state changed (an append, a truncation, a new leader): the next request
    /// to `leader_id` says so.
    fn fetch_state_changed(&mut self, tp: &TopicPartition, leader_id: BrokerId) {
        self.fetchers
            .entry(leader_id)
            .or_default()
            .session
            .mark_dirty(tp);
    }

    /// `tp` may no longer be fetched from the leaders it was: their sessions forget it.
    fn stop_fetching(&mut self, tp: &TopicPartition) {
        for fetcher in self.fetchers.values_mut() {
            fetcher.session.mark_dirty(tp);
        }
    }

    /// Takes a fetcher's in-flight slot for a response; `None` if it is not the one awaited.
    fn take_fetch_slot(&mut self, from: NodeId, correlation_id: u64) -> Option<BrokerId> {
        let NodeId::Broker(leader_id) = from else {
            return None;
        };
        let fetcher = self.fetchers.get_mut(&leader_id)?;
        if fetcher.in_flight != Some(correlation_id) {
            return None;
        }
        fetcher.in_flight = None;
        Some(leader_id)
    }

    /// After a response: fetch again at once, or after `replica.fetch.backoff.ms` if the
    /// leader answered with an error.
    fn fetch_again(&mut self, leader_id: BrokerId, error: bool, out: &mut Output<BrokerTimer>) {
        if error {
            self.back_off(leader_id, out);
        } else {
            self.maybe_fetch(leader_id, out);
        }
    }

    fn back_off(&mut self, leader_id: BrokerId, out: &mut Output<BrokerTimer>) {
        let fetcher = self.fetchers.entry(leader_id).or_default();
        if !fetcher.backing_off {
            fetcher.backing_off = true;
            out.timer(
                self.config.replica_fetch_backoff_ms,
                BrokerTimer::FetchBackoff { leader: leader_id },
            );
        }
    }

    fn is_following(&self, tp: &TopicPartition, leader_id: BrokerId) -> bool {
        matches!(
            self.partitions.get(tp).map(|p| &p.role),
            Some(Role::Follower { leader: Some(l), .. }) if *l == leader_id
        )
    }

    fn on_fetch_response(
        &mut self,
        now_ms: u64,
        from: NodeId,
        response: FetchResponseData,
        out: &mut Output<BrokerTimer>,
    ) {
        let FetchResponseData {
            correlation_id,
            error,
            session_id,
            partitions,
        } = response;
        let Some(leader_id) = self.take_fetch_slot(from, correlation_id) else {
            return;
        };
        let fetcher = self.fetchers.get_mut(&leader_id).expect("fetcher");
        if let Some(sent) = fetcher.in_flight_session.take() {
            fetcher.session.handle_response(sent, error, session_id);
        }
        if error != ErrorCode::None {
            // The session is gone (the leader restarted) or out of step: Kafka's fetcher
            // starts a new one with its next request, at once.
            self.maybe_fetch(leader_id, out);
            return;
        }
        let mut error = false;
        for r in partitions {
            if !self.is_following(&r.tp, leader_id) {
                continue;
            }
            match r.error {
                ErrorCode::None => {}
                ErrorCode::OffsetOutOfRange => {
                    // Our log is longer than the leader's: cut it to the leader's end.
                    let leo = self.disk.logs[&r.tp].log_end_offset();
                    if leo > r.log_end_offset {
                        self.truncate(
                            &r.tp,
                            r.log_end_offset,
                            TruncateReason::OffsetOutOfRange {
                                leader_log_end_offset: r.log_end_offset,
                            },
                            out,
                        );
                    }
                    continue;
                }
                _ => {
                    error = true;
                    continue;
                }
            }
            if let Some(diverging) = r.diverging_epoch {
                let before = self.disk.logs[&r.tp].log_end_offset();
                self.truncate_to_epoch_end(&r.tp, &diverging, out);
                if self.disk.logs[&r.tp].log_end_offset() == before {
                    // No progress: do not spin on the same answer; try again after a pause.
                    error = true;
                }
                continue;
            }
            if !r.records.is_empty() {
                let log = self.disk.logs.get_mut(&r.tp).expect("log");
                if r.records[0].offset != log.log_end_offset() {
                    continue; // a stale response for an offset we no longer fetch from
                }
                let appended = log.append_as_follower(r.records, now_ms);
                let leo = log.log_end_offset();
                out.event(Event::Appended {
                    broker: self.id,
                    tp: r.tp.clone(),
                    as_leader: false,
                    records: appended,
                    log_end_offset: leo,
                });
                self.fetch_state_changed(&r.tp, leader_id);
                self.maybe_flush(&r.tp, now_ms, out);
            }
            let leo = self.disk.logs[&r.tp].log_end_offset();
            self.set_high_watermark(&r.tp, r.high_watermark.min(leo), out);
        }
        self.fetch_again(leader_id, error, out);
    }

    fn on_offsets_for_leader_epoch_response(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        partitions: Vec<EpochEndOffset>,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(leader_id) = self.take_fetch_slot(from, correlation_id) else {
            return;
        };
        let mut error = false;
        for r in partitions {
            if !self.is_following(&r.tp, leader_id) {
                continue;
            }
            if r.error != ErrorCode::None {
                error = true;
                continue;
            }
            let complete = self.truncate_to_epoch_end(&r.tp, &r, out);
            if complete {
                if let Some(p) = self.partitions.get_mut(&r.tp) {
                    if let Role::Follower {
                        needs_epoch_lookup, ..
                    } = &mut p.role
                    {
                        *needs_epoch_lookup = false;
                    }
                }
                self.fetch_state_changed(&r.tp, leader_id);
            }
        }
        self.fetch_again(leader_id, error, out);
    }

    /// Kafka's `getOffsetTruncationState`: where to cut, given where the leader says an epoch
    /// ends. Returns whether truncation is complete (false: ask again with an older epoch,
    /// the KIP-279 walk back).
    fn truncate_to_epoch_end(
        &mut self,
        tp: &TopicPartition,
        leader: &EpochEndOffset,
        out: &mut Output<BrokerTimer>,
    ) -> bool {
        let log = &self.disk.logs[tp];
        let leo = log.log_end_offset();
        let kip_279 = self.protocol().uses_kip_279();
        if leader.leader_epoch < 0 {
            // The leader knows no epoch at or below ours: fall back to our high watermark.
            let hw = self.high_watermark(tp);
            self.truncate(
                tp,
                hw,
                TruncateReason::HighWatermark { high_watermark: hw },
                out,
            );
            return true;
        }
        let (offset, complete) = if !kip_279 {
            // KIP-101 as first shipped: trust the leader's end offset for our epoch.
            (leader.end_offset.min(leo), true)
        } else {
            match log.end_offset_for_epoch(leader.leader_epoch, true) {
                Some((epoch, end)) if epoch == leader.leader_epoch => {
                    (leader.end_offset.min(end).min(leo), true)
                }
                Some((_, end)) => (end.min(leo), false),
                None => (0, true),
            }
        };
        self.truncate(
            tp,
            offset,
            TruncateReason::LeaderEpoch {
                epoch: leader.leader_epoch,
                leader_end_offset: leader.end_offset,
            },
            out,
        );
        complete
    }

    fn truncate(
        &mut self,
        tp: &TopicPartition,
        offset: u64,
        reason: TruncateReason,
        out: &mut Output<BrokerTimer>,
    ) {
        let log = self.disk.logs.get_mut(tp).expect("log");
        let from = log.log_end_offset();
        if !log.truncate_to(offset) {
            // Nothing to cut, but the decision is part of the story: record it.
            let decision = matches!(
                reason,
                TruncateReason::HighWatermark { .. } | TruncateReason::LeaderEpoch { .. }
            );
            if decision && from > 0 {
                out.event(Event::Truncated {
                    broker: self.id,
                    tp: tp.clone(),
                    from_log_end_offset: from,
                    to_offset: from,
                    reason,
                });
            }
            return;
        }
        let to = log.log_end_offset();
        out.event(Event::Truncated {
            broker: self.id,
            tp: tp.clone(),
            from_log_end_offset: from,
            to_offset: to,
            reason,
        });
        if let Some(Role::Follower {
            leader: Some(leader),
            ..
        }) = self.partitions.get(tp).map(|p| &p.role)
        {
            let leader = *leader;
            self.fetch_state_changed(tp, leader);
        }
        if self.high_watermark(tp) > to {
            self.set_high_watermark(tp, to, out);
        }
    }

    // ------------------------------------------------------------------------------------
    // Durability: flushes and the HW checkpoint
    // ------------------------------------------------------------------------------------

    fn maybe_flush(&mut self, tp: &TopicPartition, now_ms: u64, out: &mut Output<BrokerTimer>) {
        let config = self.topic_config(&tp.topic).clone();
        let log = self.disk.logs.get_mut(tp).expect("log");
        let by_count = log.unflushed_count() >= config.flush_messages;
        let by_age = log.oldest_unflushed_ms().is_some_and(|t| {
            config.flush_ms != u64::MAX && now_ms.saturating_sub(t) >= config.flush_ms
        });
        if by_count || by_age {
            if let Some(offset) = log.flush() {
                out.event(Event::Flushed {
                    broker: self.id,
                    tp: tp.clone(),
                    offset,
                });
            }
        }
    }

    fn flush_check_interval_ms(&self) -> Option<u64> {
        self.topic_configs
            .values()
            .chain(std::iter::once(&self.config.topic_defaults))
            .map(|c| c.flush_ms)
            .filter(|ms| *ms != u64::MAX)
            .min()
            // Kafka's flusher runs every log.flush.scheduler.interval.ms; the simulator looks
            // every flush.ms instead, and at most every millisecond (flush.ms may be 0).
            .map(|ms| ms.max(1))
    }

    /// ReplicaManager schedules "isr-expiration" every `replica.lag.time.max.ms / 2`.
    /// `KafkaScheduler.schedule` runs a task whose period is 0 once, at once: at startup,
    /// when the broker leads nothing, so a lag time of 0 or 1 ms never shrinks an ISR.
    fn isr_expiration_period_ms(&self) -> Option<u64> {
        Some(self.config.replica_lag_time_max_ms / 2).filter(|ms| *ms > 0)
    }

    /// "highwatermark-checkpoint" every `replica.high.watermark.checkpoint.interval.ms`;
    /// with 0, `KafkaScheduler` runs it once, before the broker holds any high watermark.
    fn hw_checkpoint_period_ms(&self) -> Option<u64> {
        Some(self.config.replica_high_watermark_checkpoint_interval_ms).filter(|ms| *ms > 0)
    }

    fn checkpoint_high_watermarks(&mut self) {
        for (tp, hw) in &self.high_watermarks {
            self.disk.hw_checkpoint.insert(tp.clone(), *hw);
        }
    }

    // ------------------------------------------------------------------------------------
    // Client requests: metadata and offsets
    // ------------------------------------------------------------------------------------

    fn on_metadata(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        topics: Vec<String>,
        out: &mut Output<BrokerTimer>,
    ) {
        let partitions = self
            .metadata
            .values()
            .filter(|m| topics.is_empty() || topics.contains(&m.tp.topic))
            .cloned()
            .collect();
        out.send(
            from,
            Message::MetadataResponse {
                correlation_id,
                brokers: self.live_brokers.clone(),
                controller_id: self.controller_id,
                partitions,
            },
        );
    }

    fn on_list_offsets(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        tp: TopicPartition,
        spec: OffsetSpec,
        current_leader_epoch: Option<LeaderEpoch>,
        out: &mut Output<BrokerTimer>,
    ) {
        let fp = FetchPartition {
            tp: tp.clone(),
            fetch_offset: 0,
            last_fetched_epoch: None,
            current_leader_epoch,
        };
        let (error, offset, leader_epoch) = match self.fetch_error(&fp, None) {
            Some(error) => (error, 0, None),
            None => {
                let log = &self.disk.logs[&tp];
                let offset = match spec {
                    OffsetSpec::Earliest => log.log_start_offset(),
                    OffsetSpec::Latest => self.high_watermark(&tp),
                };
                (
                    ErrorCode::None,
                    offset,
                    Some(self.partitions[&tp].leader_epoch),
                )
            }
        };
        out.send(
            from,
            Message::ListOffsetsResponse {
                correlation_id,
                tp,
                error,
                offset,
                leader_epoch,
            },
        );
    }
}

/// The group coordinator's glue: requests in, appends to `__consumer_offsets` out.
impl Broker {
    fn with_coordinator(
        &mut self,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
        f: impl FnOnce(&mut GroupCoordinator, &mut CoordinatorIo),
    ) {
        let mut io = CoordinatorIo::default();
        f(&mut self.coordinator, &mut io);
        let CoordinatorIo {
            out: coordinator_out,
            appends,
        } = io;
        out.messages.extend(coordinator_out.messages);
        out.events.extend(coordinator_out.events);
        out.timers.extend(
            coordinator_out
                .timers
                .into_iter()
                .map(|(delay_ms, t)| (delay_ms, BrokerTimer::Group(t))),
        );
        for append in appends {
            self.append_for_coordinator(now_ms, append, out);
        }
    }

    /// The coordinator writes through the same path as a producer with `acks=all`: the
    /// request comes "from" this broker itself, and the answer is a ProduceResponse to itself.
    fn append_for_coordinator(
        &mut self,
        now_ms: u64,
        append: PendingAppend,
        out: &mut Output<BrokerTimer>,
    ) {
        assert!(!append.records.is_empty(), "an append carries records");
        let tp = TopicPartition::new(OFFSETS_TOPIC, append.partition);
        let producer = COORDINATOR_PRODUCER_BASE + self.id as u32;
        let mut records = Vec::with_capacity(append.records.len());
        for (key, value) in append.records {
            self.disk.coordinator_records_written += 1;
            records.push(ProducerRecord {
                id: RecordId {
                    producer,
                    seq: self.disk.coordinator_records_written,
                },
                timestamp_ms: now_ms,
                key: Some(key),
                value,
                headers: Vec::new(),
            });
        }
        let timeout_ms = self.config.offsets_commit_timeout_ms;
        let request = ProduceRequest {
            correlation_id: append.append_id,
            acks: Acks::All,
            timeout_ms,
            partitions: vec![ProducePartition { tp, records }],
        };
        self.on_produce(now_ms, NodeId::Broker(self.id), request, out);
    }

    /// Hands the coordinator the answers to its appends: the ProduceResponses this broker
    /// addressed to itself. Handling one can append again, so this loops until none is left.
    fn deliver_coordinator_completions(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        let me = NodeId::Broker(self.id);
        loop {
            let mut done = Vec::new();
            out.messages.retain(|(to, message)| match message {
                Message::ProduceResponse {
                    correlation_id,
                    partitions,
                } if *to == me => {
                    let answer = partitions
                        .first()
                        .expect("one partition per coordinator append");
                    done.push((*correlation_id, answer.error, answer.base_offset));
                    false
                }
                _ => true,
            });
            if done.is_empty() {
                return;
            }
            for (append_id, error, base_offset) in done {
                self.with_coordinator(now_ms, out, |c, io| {
                    c.on_append_done(now_ms, append_id, error, base_offset, io)
                });
            }
        }
    }

    fn on_find_coordinator(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        group_id: &str,
        out: &mut Output<BrokerTimer>,
    ) {
        let partition = self.coordinator.partition_for(group_id);
        let tp = TopicPartition::new(OFFSETS_TOPIC, partition);
        let (error, coordinator) = match self.metadata.get(&tp) {
            Some(PartitionMetadata {
                leader: Some(leader),
                ..
            }) => (ErrorCode::None, Some(*leader)),
            Some(_) => (ErrorCode::CoordinatorNotAvailable, None),
            None => {
                self.maybe_create_offsets_topic(out);
                (ErrorCode::CoordinatorNotAvailable, None)
            }
        };
        out.send(
            from,
            Message::FindCoordinatorResponse {
                correlation_id,
                error,
                coordinator,
            },
        );
    }

    /// Creates `__consumer_offsets` in ZooKeeper, as a broker does on the first
    /// FindCoordinator. From 0.11 the topic waits until `offsets.topic.replication.factor`
    /// brokers are alive (KAFKA-3959); before, it took as many replicas as were alive, and a
    /// cluster that started with one broker up kept a single copy of every group's offsets.
    /// Replicas are placed round-robin over the live brokers from the lowest id (Kafka starts
    /// at a random broker).
    fn maybe_create_offsets_topic(&mut self, out: &mut Output<BrokerTimer>) {
        if self.offsets_topic_requested || self.live_brokers.is_empty() {
            return;
        }
        let mut live = self.live_brokers.clone();
        live.sort_unstable();
        let wanted = self.config.offsets_topic_replication_factor as usize;
        let replication_factor = if self.protocol().requires_full_offsets_replication() {
            if live.len() < wanted {
                return;
            }
            wanted
        } else {
            wanted.min(live.len())
        };
        let assignment = (0..self.config.offsets_topic_num_partitions)
            .map(|p| {
                let replicas = (0..replication_factor)
                    .map(|i| live[(p as usize + i) % live.len()])
                    .collect();
                (p, replicas)
            })
            .collect();
        self.offsets_topic_requested = true;
        self.zk.request(
            ZkOp::Create {
                path: format!("/brokers/topics/{OFFSETS_TOPIC}"),
                data: ZkData::TopicAssignment(assignment),
                ephemeral: false,
            },
            ZkPurpose::CreateOffsetsTopic,
            out,
        );
    }

    fn on_group_timer(&mut self, now_ms: u64, timer: GroupTimer, out: &mut Output<BrokerTimer>) {
        match timer {
            GroupTimer::LoadDone {
                partition,
                leader_epoch,
            } => {
                let tp = TopicPartition::new(OFFSETS_TOPIC, partition);
                let records = self
                    .disk
                    .logs
                    .get(&tp)
                    .map(|l| l.records().to_vec())
                    .unwrap_or_default();
                self.with_coordinator(now_ms, out, |c, io| {
                    c.finish_load(now_ms, partition, leader_epoch, &records, io)
                });
            }
            other => self.with_coordinator(now_ms, out, |c, io| c.on_timer(now_ms, other, io)),
        }
    }

    /// Routes a consumer-group request to the coordinator.
    fn on_group_request(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<BrokerTimer>,
    ) {
        match message {
            Message::FindCoordinator {
                correlation_id,
                group_id,
            } => self.on_find_coordinator(from, correlation_id, &group_id, out),
            Message::JoinGroup {
                correlation_id,
                group_id,
                member_id,
                client_id,
                group_instance_id,
                session_timeout_ms,
                rebalance_timeout_ms,
                protocols,
                subscription,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_join_group(
                    now_ms,
                    from,
                    correlation_id,
                    group_id,
                    member_id,
                    group_instance_id,
                    session_timeout_ms,
                    rebalance_timeout_ms,
                    protocols,
                    subscription,
                    &client_id,
                    io,
                )
            }),
            Message::SyncGroup {
                correlation_id,
                group_id,
                generation_id,
                member_id,
                assignments,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_sync_group(
                    from,
                    correlation_id,
                    &group_id,
                    generation_id,
                    &member_id,
                    assignments,
                    io,
                )
            }),
            Message::Heartbeat {
                correlation_id,
                group_id,
                generation_id,
                member_id,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_heartbeat(
                    now_ms,
                    from,
                    correlation_id,
                    &group_id,
                    generation_id,
                    &member_id,
                    io,
                )
            }),
            Message::LeaveGroup {
                correlation_id,
                group_id,
                member_id,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_leave_group(now_ms, from, correlation_id, &group_id, &member_id, io)
            }),
            Message::OffsetCommit {
                correlation_id,
                group_id,
                generation_id,
                member_id,
                offsets,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_offset_commit(
                    from,
                    correlation_id,
                    &group_id,
                    generation_id,
                    &member_id,
                    offsets,
                    io,
                )
            }),
            Message::OffsetFetch {
                correlation_id,
                group_id,
                partitions,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_offset_fetch(from, correlation_id, &group_id, partitions, io)
            }),
            other => unreachable!("not a group request: {}", other.kind()),
        }
    }
}

impl Actor for Broker {
    type Timer = BrokerTimer;

    fn start(&mut self, _now_ms: u64, out: &mut Output<BrokerTimer>) {
        // Recovery: the HW comes from the checkpoint, never above what the log holds.
        let mut recovered = Vec::new();
        for (tp, log) in &self.disk.logs {
            let leo = log.log_end_offset();
            let hw = self
                .disk
                .hw_checkpoint
                .get(tp)
                .copied()
                .unwrap_or(0)
                .min(leo);
            self.high_watermarks.insert(tp.clone(), hw);
            recovered.push((tp.clone(), leo, hw));
        }
        out.event(Event::BrokerRecovered {
            broker: self.id,
            replicas: recovered,
        });
        self.zk_connect(out);
        if let Some(ms) = self.isr_expiration_period_ms() {
            out.timer(ms, BrokerTimer::IsrExpiration);
        }
        if let Some(ms) = self.hw_checkpoint_period_ms() {
            out.timer(ms, BrokerTimer::HwCheckpoint);
        }
        if let Some(ms) = self.flush_check_interval_ms() {
            out.timer(ms, BrokerTimer::FlushCheck);
        }
    }

    fn on_message(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<BrokerTimer>,
    ) {
        self.handle_message(now_ms, from, message, out);
        self.deliver_coordinator_completions(now_ms, out);
    }

    fn on_timer(&mut self, now_ms: u64, timer: BrokerTimer, out: &mut Output<BrokerTimer>) {
        self.handle_timer(now_ms, timer, out);
        self.deliver_coordinator_completions(now_ms, out);
    }
}

impl Broker {
    fn handle_message(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<BrokerTimer>,
    ) {
        match message {
            Message::ZkConnected {
                session_id,
                session_timeout_ms,
            } => self.on_zk_connected(session_id, session_timeout_ms, out),
            Message::ZkPong { .. } => {}
            Message::ZkResponse { xid, result } => self.on_zk_response(xid, result, out),
            Message::ZkWatch {
                session_id,
                path,
                kind,
            } => self.on_zk_watch(session_id, &path, kind, out),
            Message::ZkSessionExpired { session_id } => {
                if self.zk.session_id == Some(session_id) {
                    self.on_zk_session_lost(out);
                }
            }
            Message::LeaderAndIsr {
                controller_id,
                controller_epoch,
                partitions,
            } => self.on_leader_and_isr(now_ms, controller_id, controller_epoch, partitions, out),
            Message::UpdateMetadata {
                controller_id,
                controller_epoch,
                live_brokers,
                partitions,
            } => self.on_update_metadata(
                controller_id,
                controller_epoch,
                live_brokers,
                partitions,
                out,
            ),
            Message::AlterIsr {
                broker_id,
                tp,
                leader_epoch,
                new_isr,
                partition_epoch,
            } => {
                if let Some(mut controller) = self.controller.take() {
                    let mut io = HostIo {
                        zk: &mut self.zk,
                        out,
                    };
                    controller.on_alter_isr(
                        broker_id,
                        tp,
                        leader_epoch,
                        new_isr,
                        partition_epoch,
                        &mut io,
                    );
                    self.controller = Some(controller);
                } else {
                    // Not the controller (any more): the leader will time out and retry.
                }
            }
            Message::AlterIsrResponse { tp, error, state } => {
                self.on_alter_isr_response(tp, error, state, now_ms, out)
            }
            Message::Fetch(request) => self.on_fetch(now_ms, from, request, out),
            Message::FetchResponse {
                correlation_id,
                error,
                session_id,
                partitions,
            } => {
                let response = FetchResponseData {
                    correlation_id,
                    error,
                    session_id,
                    partitions,
                };
                self.on_fetch_response(now_ms, from, response, out)
            }
            Message::OffsetsForLeaderEpoch {
                correlation_id,
                partitions,
                ..
            } => self.on_offsets_for_leader_epoch(from, correlation_id, partitions, out),
            Message::OffsetsForLeaderEpochResponse {
                correlation_id,
                partitions,
            } => self.on_offsets_for_leader_epoch_response(from, correlation_id, partitions, out),
            Message::Produce(request) => self.on_produce(now_ms, from, request, out),
            Message::Metadata {
                correlation_id,
                topics,
            } => self.on_metadata(from, correlation_id, topics, out),
            Message::ListOffsets {
                correlation_id,
                tp,
                spec,
                current_leader_epoch,
            } => self.on_list_offsets(from, correlation_id, tp, spec, current_leader_epoch, out),
            request @ (Message::FindCoordinator { .. }
            | Message::JoinGroup { .. }
            | Message::SyncGroup { .. }
            | Message::Heartbeat { .. }
            | Message::LeaveGroup { .. }
            | Message::OffsetCommit { .. }
            | Message::OffsetFetch { .. }) => self.on_group_request(now_ms, from, request, out),
            // Messages a broker never receives.
            Message::ZkConnect { .. }
            | Message::ZkPing { .. }
            | Message::ZkRequest { .. }
            | Message::ProduceResponse { .. }
            | Message::MetadataResponse { .. }
            | Message::ListOffsetsResponse { .. }
            | Message::Disconnected { .. }
            | Message::FindCoordinatorResponse { .. }
            | Message::JoinGroupResponse { .. }
            | Message::SyncGroupResponse { .. }
            | Message::HeartbeatResponse { .. }
            | Message::LeaveGroupResponse { .. }
            | Message::OffsetCommitResponse { .. }
            | Message::OffsetFetchResponse { .. } => {}
        }
    }

    fn handle_timer(&mut self, now_ms: u64, timer: BrokerTimer, out: &mut Output<BrokerTimer>) {
        match timer {
            BrokerTimer::ZkConnectTimeout { attempt } => {
                if self.zk.session_id.is_none() && attempt == self.zk.connect_attempt {
                    self.zk_connect(out);
                }
            }
            BrokerTimer::ZkPing { session_id } => {
                if self.zk.session_id == Some(session_id) {
                    out.send(NodeId::ZooKeeper, Message::ZkPing { session_id });
                    out.timer(
                        self.zk.ping_interval_ms(),
                        BrokerTimer::ZkPing { session_id },
                    );
                }
            }
            BrokerTimer::ZkRegisterRetry { session_id } => {
                if self.zk.session_id == Some(session_id) {
                    self.register(out);
                }
            }
            BrokerTimer::IsrExpiration => {
                self.maybe_shrink_isrs(now_ms, out);
                if let Some(ms) = self.isr_expiration_period_ms() {
                    out.timer(ms, BrokerTimer::IsrExpiration);
                }
            }
            BrokerTimer::HwCheckpoint => {
                self.checkpoint_high_watermarks();
                if let Some(ms) = self.hw_checkpoint_period_ms() {
                    out.timer(ms, BrokerTimer::HwCheckpoint);
                }
            }
            BrokerTimer::FlushCheck => {
                let tps: Vec<TopicPartition> = self.disk.logs.keys().cloned().collect();
                for tp in tps {
                    self.maybe_flush(&tp, now_ms, out);
                }
                if let Some(ms) = self.flush_check_interval_ms() {
                    out.timer(ms, BrokerTimer::FlushCheck);
                }
            }
            BrokerTimer::FetchTimeout {
                leader,
                correlation_id,
            } => {
                if self
                    .take_fetch_slot(NodeId::Broker(leader), correlation_id)
                    .is_some()
                {
                    let fetcher = self.fetchers.get_mut(&leader).expect("fetcher");
                    if fetcher.in_flight_session.take().is_some() {
                        fetcher.session.handle_error();
                    }
                    self.back_off(leader, out);
                }
            }
            BrokerTimer::FetchBackoff { leader } => {
                if let Some(f) = self.fetchers.get_mut(&leader) {
                    f.backing_off = false;
                }
                self.maybe_fetch(leader, out);
            }
            BrokerTimer::DelayedProduceExpire { id } => self.expire_delayed_produce(id, out),
            BrokerTimer::DelayedFetchExpire { id } => {
                if let Some(d) = self.delayed_fetches.remove(&id) {
                    self.answer_fetch(d, out);
                }
            }
            BrokerTimer::AlterIsrTimeout { tp, attempt } => {
                if let Some(PartitionState {
                    role: Role::Leader(l),
                    ..
                }) = self.partitions.get_mut(&tp)
                {
                    if l.alter_isr_attempt == attempt {
                        l.pending_isr = None;
                    }
                }
            }
            BrokerTimer::Group(t) => self.on_group_timer(now_ms, t, out),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Brokers driven by hand, with the test playing the controller: LeaderAndIsr requests
    //! are built here, AlterIsr requests land in `to_controller` for the test to answer.
    use super::*;
    use crate::fetch_session::FetchMetadata;

    const CONTROLLER: BrokerId = 99;

    fn tp() -> TopicPartition {
        TopicPartition::new("orders", 0)
    }

    struct Cluster {
        now_ms: u64,
        brokers: BTreeMap<BrokerId, Broker>,
        timers: Vec<(u64, BrokerId, BrokerTimer)>,
        /// Messages in flight: (to, from, message), delivered in order.
        wire: std::collections::VecDeque<(NodeId, NodeId, Message)>,
        down: BTreeSet<BrokerId>,
        to_controller: Vec<Message>,
        to_clients: Vec<Message>,
        events: Vec<Event>,
    }

    impl Cluster {
        fn new(n: BrokerId, config: BrokerConfig) -> Cluster {
            let brokers = (0..n)
                .map(|b| {
                    (
                        b,
                        Broker::new(b, config.clone(), BTreeMap::new(), Disk::default()),
                    )
                })
                .collect();
            let mut c = Cluster {
                now_ms: 0,
                brokers,
                timers: Vec::new(),
                wire: Default::default(),
                down: BTreeSet::new(),
                to_controller: Vec::new(),
                to_clients: Vec::new(),
                events: Vec::new(),
            };
            for b in 0..n {
                let mut out = Output::default();
                c.brokers.get_mut(&b).unwrap().start(0, &mut out);
                c.absorb(b, out);
            }
            c
        }

        fn absorb(&mut self, from: BrokerId, out: Output<BrokerTimer>) {
            for (to, m) in out.messages {
                self.wire.push_back((to, NodeId::Broker(from), m));
            }
            for (delay, t) in out.timers {
                self.timers.push((self.now_ms + delay, from, t));
            }
            self.events.extend(out.events);
        }

        fn deliver(&mut self, to: NodeId, from: NodeId, m: Message) {
            match to {
                NodeId::Broker(CONTROLLER) => self.to_controller.push(m),
                NodeId::Broker(b) if !self.down.contains(&b) => {
                    if let NodeId::Broker(f) = from {
                        if self.down.contains(&f) {
                            return;
                        }
                    }
                    let mut out = Output::default();
                    self.brokers
                        .get_mut(&b)
                        .unwrap()
                        .on_message(self.now_ms, from, m, &mut out);
                    self.absorb(b, out);
                }
                NodeId::Producer(_) | NodeId::Consumer(_) => self.to_clients.push(m),
                _ => {}
            }
        }

        /// Delivers everything in flight, then advances time by `ms` in 1 ms steps firing timers.
        fn run(&mut self, ms: u64) {
            let end = self.now_ms + ms;
            loop {
                while let Some((to, from, m)) = self.wire.pop_front() {
                    self.deliver(to, from, m);
                }
                if self.now_ms >= end {
                    break;
                }
                self.now_ms += 1;
                let due: Vec<(u64, BrokerId, BrokerTimer)> = {
                    let (due, rest) = self
                        .timers
                        .drain(..)
                        .partition(|(t, _, _)| *t <= self.now_ms);
                    self.timers = rest;
                    due
                };
                for (_, b, t) in due {
                    if self.down.contains(&b) {
                        continue;
                    }
                    let mut out = Output::default();
                    self.brokers
                        .get_mut(&b)
                        .unwrap()
                        .on_timer(self.now_ms, t, &mut out);
                    self.absorb(b, out);
                }
            }
        }

        fn leader_and_isr(
            &mut self,
            leader: BrokerId,
            epoch: LeaderEpoch,
            isr: Vec<BrokerId>,
            version: i32,
        ) {
            let p = LeaderAndIsrPartition {
                tp: tp(),
                leader: Some(leader),
                leader_epoch: epoch,
                isr,
                partition_epoch: version,
                replicas: vec![0, 1, 2],
                controller_epoch: 1,
            };
            for b in 0..3 {
                self.wire.push_back((
                    NodeId::Broker(b),
                    NodeId::Broker(CONTROLLER),
                    Message::LeaderAndIsr {
                        controller_id: CONTROLLER,
                        controller_epoch: 1,
                        partitions: vec![p.clone()],
                    },
                ));
            }
        }

        fn produce(&mut self, to: BrokerId, acks: Acks, seqs: std::ops::Range<u64>) {
            let records = seqs
                .map(|seq| ProducerRecord {
                    id: RecordId { producer: 0, seq },
                    timestamp_ms: self.now_ms,
                    key: None,
                    value: format!("v{seq}"),
                    headers: vec![],
                })
                .collect();
            self.wire.push_back((
                NodeId::Broker(to),
                NodeId::Producer(0),
                Message::Produce(ProduceRequest {
                    correlation_id: 1,
                    acks,
                    timeout_ms: 30_000,
                    partitions: vec![ProducePartition { tp: tp(), records }],
                }),
            ));
        }

        fn leo(&self, b: BrokerId) -> u64 {
            self.brokers[&b].disk().logs[&tp()].log_end_offset()
        }

        fn hw(&self, b: BrokerId) -> u64 {
            self.brokers[&b].high_watermark(&tp())
        }

        fn ids(&self, b: BrokerId) -> Vec<u64> {
            self.brokers[&b].disk().logs[&tp()]
                .records()
                .iter()
                .map(|r| r.id.seq)
                .collect()
        }
    }

    /// The answer for the one partition of a produce response.
    fn produce_answer(m: &Message) -> (ErrorCode, Option<u64>) {
        match m {
            Message::ProduceResponse { partitions, .. } => {
                assert_eq!(partitions.len(), 1);
                (partitions[0].error, partitions[0].base_offset)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn config() -> BrokerConfig {
        BrokerConfig {
            replica_lag_time_max_ms: 1_000,
            replica_socket_timeout_ms: 2_000,
            ..BrokerConfig::default()
        }
    }

    // ---- the group coordinator on top of replication ----

    fn offsets_tp() -> TopicPartition {
        TopicPartition::new(OFFSETS_TOPIC, 0)
    }

    fn lead_offsets(c: &mut Cluster, leader: BrokerId, epoch: LeaderEpoch) {
        let p = LeaderAndIsrPartition {
            tp: offsets_tp(),
            leader: Some(leader),
            leader_epoch: epoch,
            isr: vec![0, 1, 2],
            partition_epoch: epoch,
            replicas: vec![0, 1, 2],
            controller_epoch: 1,
        };
        for b in 0..3 {
            c.wire.push_back((
                NodeId::Broker(b),
                NodeId::Broker(CONTROLLER),
                Message::LeaderAndIsr {
                    controller_id: CONTROLLER,
                    controller_epoch: 1,
                    partitions: vec![p.clone()],
                },
            ));
        }
    }

    fn group_config() -> BrokerConfig {
        BrokerConfig {
            offsets_topic_num_partitions: 1,
            group_initial_rebalance_delay_ms: 0,
            ..config()
        }
    }

    fn ask(c: &mut Cluster, to: BrokerId, message: Message) -> Message {
        c.to_clients.clear();
        c.wire
            .push_back((NodeId::Broker(to), NodeId::Consumer(0), message));
        c.run(50);
        assert_eq!(c.to_clients.len(), 1, "one answer: {:?}", c.to_clients);
        c.to_clients.pop().unwrap()
    }

    fn join(c: &mut Cluster, to: BrokerId, member_id: &str) -> Message {
        ask(
            c,
            to,
            Message::JoinGroup {
                correlation_id: 1,
                group_id: "g".into(),
                member_id: member_id.into(),
                client_id: "c".into(),
                group_instance_id: None,
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 10_000,
                protocols: vec![crate::assignor::Strategy::Range],
                subscription: Subscription {
                    topics: vec!["orders".into()],
                    owned_partitions: vec![],
                    generation: -1,
                },
            },
        )
    }

    #[test]
    fn a_coordinator_answers_only_after_loading_and_only_while_leading() {
        let mut c = Cluster::new(3, group_config());
        let Message::JoinGroupResponse { error, .. } = join(&mut c, 0, "") else {
            panic!()
        };
        assert_eq!(
            error,
            ErrorCode::NotCoordinator,
            "nobody leads the partition yet"
        );
        lead_offsets(&mut c, 0, 0);
        // Delivered at once; the load takes LOAD_DELAY_MS.
        c.wire.push_back((
            NodeId::Broker(0),
            NodeId::Consumer(0),
            Message::Heartbeat {
                correlation_id: 1,
                group_id: "g".into(),
                generation_id: 1,
                member_id: "x".into(),
            },
        ));
        c.to_clients.clear();
        c.run(0);
        assert!(matches!(
            c.to_clients.pop(),
            Some(Message::HeartbeatResponse {
                error: ErrorCode::CoordinatorLoadInProgress,
                ..
            })
        ));
        c.run(crate::group::LOAD_DELAY_MS);
        let Message::JoinGroupResponse { error, .. } = join(&mut c, 1, "") else {
            panic!()
        };
        assert_eq!(error, ErrorCode::NotCoordinator, "broker 1 only follows");
    }

    #[test]
    fn commits_wait_for_the_isr_and_a_new_coordinator_reads_them_back() {
        let mut c = Cluster::new(3, group_config());
        lead_offsets(&mut c, 0, 0);
        c.run(100);
        let Message::JoinGroupResponse {
            error,
            generation_id,
            member_id,
            leader,
            members,
            ..
        } = join(&mut c, 0, "")
        else {
            panic!()
        };
        assert_eq!(error, ErrorCode::None);
        assert_eq!(generation_id, 1);
        assert_eq!(leader, member_id, "the only member leads");
        assert_eq!(members.len(), 1, "the leader sees every subscription");
        let assigned = vec![tp()];
        let Message::SyncGroupResponse {
            error, assignment, ..
        } = ask(
            &mut c,
            0,
            Message::SyncGroup {
                correlation_id: 2,
                group_id: "g".into(),
                generation_id: 1,
                member_id: member_id.clone(),
                assignments: vec![(member_id.clone(), assigned.clone())],
            },
        )
        else {
            panic!()
        };
        assert_eq!((error, assignment), (ErrorCode::None, assigned));
        // The commit is answered only once both followers have the record (acks=all).
        c.down.insert(1);
        c.down.insert(2);
        c.to_clients.clear();
        c.wire.push_back((
            NodeId::Broker(0),
            NodeId::Consumer(0),
            Message::OffsetCommit {
                correlation_id: 3,
                group_id: "g".into(),
                generation_id: 1,
                member_id: member_id.clone(),
                offsets: vec![(tp(), 42)],
            },
        ));
        c.run(200);
        assert!(c.to_clients.is_empty(), "no answer while the ISR lags");
        c.down.clear();
        // The followers' lost fetches time out (replica.socket.timeout.ms) and they fetch again.
        c.run(5_000);
        assert!(matches!(
            c.to_clients.pop(),
            Some(Message::OffsetCommitResponse {
                error: ErrorCode::None,
                ..
            })
        ));
        // Broker 1 takes over the partition and loads the group from its copy of the log.
        lead_offsets(&mut c, 1, 1);
        c.run(100);
        let Message::OffsetFetchResponse { error, offsets, .. } = ask(
            &mut c,
            1,
            Message::OffsetFetch {
                correlation_id: 4,
                group_id: "g".into(),
                partitions: vec![tp()],
            },
        ) else {
            panic!()
        };
        assert_eq!(error, ErrorCode::None);
        assert_eq!(offsets, vec![(tp(), Some(42))]);
        // The member keeps its generation: no rebalance for a coordinator move.
        let Message::HeartbeatResponse { error, .. } = ask(
            &mut c,
            1,
            Message::Heartbeat {
                correlation_id: 5,
                group_id: "g".into(),
                generation_id: 1,
                member_id,
            },
        ) else {
            panic!()
        };
        assert_eq!(error, ErrorCode::None);
        // The old coordinator gave the group up.
        let Message::JoinGroupResponse { error, .. } = join(&mut c, 0, "") else {
            panic!()
        };
        assert_eq!(error, ErrorCode::NotCoordinator);
    }

    #[test]
    fn the_first_find_coordinator_creates_the_offsets_topic_with_its_full_replication() {
        let mut c = Cluster::new(3, group_config());
        c.wire.push_back((
            NodeId::Broker(0),
            NodeId::Broker(CONTROLLER),
            Message::UpdateMetadata {
                controller_id: CONTROLLER,
                controller_epoch: 1,
                live_brokers: vec![0, 1],
                partitions: vec![],
            },
        ));
        let find = Message::FindCoordinator {
            correlation_id: 1,
            group_id: "g".into(),
        };
        let Message::FindCoordinatorResponse { error, .. } = ask(&mut c, 0, find.clone()) else {
            panic!()
        };
        assert_eq!(error, ErrorCode::CoordinatorNotAvailable);
        assert!(
            !c.brokers[&0].offsets_topic_requested,
            "two live brokers are fewer than offsets.topic.replication.factor=3"
        );
        c.wire.push_back((
            NodeId::Broker(0),
            NodeId::Broker(CONTROLLER),
            Message::UpdateMetadata {
                controller_id: CONTROLLER,
                controller_epoch: 1,
                live_brokers: vec![0, 1, 2],
                partitions: vec![],
            },
        ));
        c.brokers.get_mut(&0).unwrap().zk.session_id = Some(7);
        ask(&mut c, 0, find);
        assert!(c.brokers[&0].offsets_topic_requested);
    }

    #[test]
    fn acks_all_completes_when_the_isr_has_the_records() {
        let mut c = Cluster::new(3, config());
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.run(10);
        // With broker 2 unreachable (but still in the ISR), acks=all cannot complete.
        c.down.insert(2);
        c.produce(0, Acks::All, 0..3);
        c.run(100);
        assert!(
            c.to_clients.is_empty(),
            "acks=all must wait for every ISR member"
        );
        assert_eq!(c.hw(0), 0, "the HW waits for the slowest ISR member");
        c.down.clear();
        // Broker 2's fetch was lost; its fetcher retries after replica.socket.timeout.ms.
        c.run(4_000);
        assert_eq!((c.leo(0), c.leo(1), c.leo(2)), (3, 3, 3));
        assert_eq!(c.hw(0), 3);
        assert_eq!(
            (c.hw(1), c.hw(2)),
            (3, 3),
            "followers learn the HW from fetch responses"
        );
        assert_eq!(produce_answer(&c.to_clients[0]), (ErrorCode::None, Some(0)));
    }

    #[test]
    fn one_produce_request_answers_all_its_partitions_once_each_is_done() {
        let mut c = Cluster::new(3, config());
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        let other = TopicPartition::new("orders", 1);
        let led_by_1 = LeaderAndIsrPartition {
            tp: other.clone(),
            leader: Some(1),
            leader_epoch: 0,
            isr: vec![1, 0, 2],
            partition_epoch: 0,
            replicas: vec![1, 0, 2],
            controller_epoch: 1,
        };
        for b in 0..3 {
            c.wire.push_back((
                NodeId::Broker(b),
                NodeId::Broker(CONTROLLER),
                Message::LeaderAndIsr {
                    controller_id: CONTROLLER,
                    controller_epoch: 1,
                    partitions: vec![led_by_1.clone()],
                },
            ));
        }
        c.run(10);
        let record = |seq| ProducerRecord {
            id: RecordId { producer: 0, seq },
            timestamp_ms: 0,
            key: None,
            value: format!("v{seq}"),
            headers: vec![],
        };
        // Broker 0 leads orders-0 but not orders-1.
        c.wire.push_back((
            NodeId::Broker(0),
            NodeId::Producer(0),
            Message::Produce(ProduceRequest {
                correlation_id: 7,
                acks: Acks::All,
                timeout_ms: 30_000,
                partitions: vec![
                    ProducePartition {
                        tp: tp(),
                        records: vec![record(0), record(1)],
                    },
                    ProducePartition {
                        tp: other.clone(),
                        records: vec![record(2)],
                    },
                ],
            }),
        ));
        c.run(2_000);
        assert_eq!(c.to_clients.len(), 1, "one response for the whole request");
        match &c.to_clients[0] {
            Message::ProduceResponse {
                correlation_id,
                partitions,
            } => {
                assert_eq!(*correlation_id, 7);
                let answers: Vec<_> = partitions
                    .iter()
                    .map(|p| (p.tp.clone(), p.error, p.base_offset))
                    .collect();
                assert_eq!(
                    answers,
                    vec![
                        (tp(), ErrorCode::None, Some(0)),
                        (other, ErrorCode::NotLeaderOrFollower, None)
                    ]
                );
            }
            m => panic!("unexpected {m:?}"),
        }
        assert!(c.brokers[&0].produce_watchers.is_empty());
    }

    /// Sends a fetch from follower 1 straight to broker 0 and returns its answer's session
    /// id, error, and the partitions it carried with their record counts.
    fn fetch_from_0(
        c: &mut Cluster,
        session: FetchMetadata,
        partitions: Vec<FetchPartition>,
    ) -> (u32, ErrorCode, Vec<(TopicPartition, usize)>) {
        let mut out = Output::default();
        let request = FetchRequest {
            correlation_id: 99,
            replica_id: Some(1),
            max_wait_ms: 0,
            session,
            partitions,
            forgotten: Vec::new(),
        };
        let now = c.now_ms;
        c.brokers.get_mut(&0).unwrap().on_message(
            now,
            NodeId::Broker(1),
            Message::Fetch(request),
            &mut out,
        );
        let answer = out
            .messages
            .iter()
            .find_map(|(to, m)| match m {
                Message::FetchResponse {
                    correlation_id: 99,
                    error,
                    session_id,
                    partitions,
                } if *to == NodeId::Broker(1) => Some((
                    *session_id,
                    *error,
                    partitions
                        .iter()
                        .map(|p| (p.tp.clone(), p.records.len()))
                        .collect(),
                )),
                _ => None,
            })
            .expect("an answer");
        answer
    }

    #[test]
    fn a_fetch_session_answers_only_the_partitions_with_news() {
        let mut c = Cluster::new(3, config());
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.produce(0, Acks::All, 0..3);
        c.run(1_000);
        assert_eq!(c.hw(0), 3);
        let state = FetchPartition {
            tp: tp(),
            fetch_offset: 3,
            last_fetched_epoch: Some(0),
            current_leader_epoch: Some(0),
        };
        let initial = FetchMetadata {
            session_id: 0,
            epoch: crate::fetch_session::INITIAL_EPOCH,
        };
        let (id, error, parts) = fetch_from_0(&mut c, initial, vec![state.clone()]);
        assert_eq!(error, ErrorCode::None);
        assert_ne!(id, 0, "a full request opens a session");
        assert_eq!(
            parts,
            vec![(tp(), 0)],
            "a full answer carries every partition"
        );
        let mut epoch = 1;
        let mut next = |c: &mut Cluster, partitions| {
            let meta = FetchMetadata {
                session_id: id,
                epoch,
            };
            epoch += 1;
            fetch_from_0(c, meta, partitions)
        };
        assert_eq!(
            next(&mut c, Vec::new()).2,
            vec![],
            "nothing new: the incremental answer is empty"
        );
        c.produce(0, Acks::Leader, 3..5);
        c.run(0);
        assert_eq!(next(&mut c, Vec::new()).2, vec![(tp(), 2)], "new records");
        // A restarted leader knows no sessions.
        let restarted = Broker::new(0, config(), BTreeMap::new(), c.brokers[&0].disk().clone());
        c.brokers.insert(0, restarted);
        let (_, error, parts) = next(&mut c, Vec::new());
        assert_eq!(error, ErrorCode::FetchSessionIdNotFound);
        assert!(parts.is_empty());
    }

    #[test]
    fn produce_to_a_follower_is_rejected() {
        let mut c = Cluster::new(3, config());
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.run(10);
        c.produce(1, Acks::Leader, 0..1);
        c.run(1);
        assert_eq!(
            produce_answer(&c.to_clients[0]),
            (ErrorCode::NotLeaderOrFollower, None)
        );
    }

    #[test]
    fn a_dead_follower_leaves_the_isr_and_min_isr_rejects_writes() {
        let mut config = config();
        config.topic_defaults.min_insync_replicas = 3;
        let mut c = Cluster::new(3, config);
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.run(10);
        c.down.insert(2);
        // An idle partition never shrinks its ISR: a follower whose LEO equals the leader's
        // is caught up however long ago it fetched. A write makes broker 2 fall behind.
        c.produce(0, Acks::Leader, 0..1);
        c.run(2_000);
        let alter = c
            .to_controller
            .iter()
            .find_map(|m| match m {
                Message::AlterIsr {
                    new_isr,
                    partition_epoch,
                    ..
                } => Some((new_isr.clone(), *partition_epoch)),
                _ => None,
            })
            .expect("the leader asks to shrink the ISR");
        assert_eq!(alter, (vec![0, 1], 0));
        // The controller accepts.
        c.wire.push_back((
            NodeId::Broker(0),
            NodeId::Broker(CONTROLLER),
            Message::AlterIsrResponse {
                tp: tp(),
                error: ErrorCode::None,
                state: Some(LeaderAndIsrPartition {
                    tp: tp(),
                    leader: Some(0),
                    leader_epoch: 0,
                    isr: vec![0, 1],
                    partition_epoch: 1,
                    replicas: vec![0, 1, 2],
                    controller_epoch: 1,
                }),
            },
        ));
        c.run(1);
        assert!(c
            .events
            .iter()
            .any(|e| matches!(e, Event::IsrShrunk { removed, .. } if removed == &vec![2])));
        c.produce(0, Acks::All, 1..2);
        c.run(1);
        assert_eq!(
            produce_answer(c.to_clients.last().unwrap()),
            (ErrorCode::NotEnoughReplicas, None)
        );
        assert_eq!(c.leo(0), 1, "a NOT_ENOUGH_REPLICAS produce appends nothing");
        assert_eq!(
            c.hw(0),
            0,
            "from Kafka 3.7 the HW stays put below min.insync.replicas"
        );
    }

    #[test]
    fn a_new_follower_truncates_its_divergent_tail_by_leader_epoch() {
        let mut c = Cluster::new(3, config());
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.run(10);
        c.produce(0, Acks::All, 0..2);
        c.run(1_000);
        assert_eq!(c.hw(0), 2);
        // Broker 0 is cut off, takes two more records that never replicate.
        c.down.insert(1);
        c.down.insert(2);
        c.produce(0, Acks::Leader, 2..4);
        c.run(1);
        assert_eq!(c.leo(0), 4);
        // Broker 1 becomes leader in epoch 1 and takes a different record at offset 2.
        c.down.clear();
        c.down.insert(0);
        c.leader_and_isr(1, 1, vec![1, 2], 1);
        c.run(5);
        c.produce(1, Acks::Leader, 100..101);
        c.run(1_000);
        // Broker 0 returns as a follower: it must cut offsets 2 and 3 (epoch 0) and take
        // offset 2 from epoch 1.
        c.down.clear();
        c.leader_and_isr(1, 2, vec![1, 2], 2);
        c.run(2_000);
        assert_eq!(c.ids(0), vec![0, 1, 100]);
        assert_eq!(c.ids(0), c.ids(1));
        assert!(c.events.iter().any(|e| matches!(
            e,
            Event::Truncated {
                broker: 0,
                to_offset: 2,
                reason: TruncateReason::LeaderEpoch { .. },
                ..
            }
        )));
    }

    #[test]
    fn pre_kip_101_follower_truncates_to_its_high_watermark() {
        let mut config = config();
        config.inter_broker_protocol_version = ProtocolVersion::parse("0.10.2").unwrap();
        let mut c = Cluster::new(3, config);
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.run(10);
        c.produce(0, Acks::All, 0..3);
        c.run(2);
        // Followers fetched the records but have not yet learned HW 3.
        assert_eq!(c.leo(1), 3);
        let hw1 = c.hw(1);
        assert!(hw1 < 3);
        c.leader_and_isr(0, 1, vec![0, 1, 2], 1);
        c.run(0);
        assert_eq!(c.leo(1), hw1, "the old rule cuts to the follower's own HW");
    }

    #[test]
    fn power_loss_keeps_only_flushed_records() {
        let mut disk = Disk::default();
        let mut log = Log::new();
        log.append_as_leader(
            0,
            (0..3)
                .map(|seq| ProducerRecord {
                    id: RecordId { producer: 0, seq },
                    timestamp_ms: 0,
                    key: None,
                    value: String::new(),
                    headers: vec![],
                })
                .collect(),
            0,
        );
        log.flush();
        disk.logs.insert(tp(), log);
        let mut crash_copy = disk.clone();
        disk.logs.get_mut(&tp()).unwrap().truncate_to(3);
        assert!(crash_copy.lose_unflushed().is_empty());
    }
}
