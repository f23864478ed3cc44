//! The Kafka controller in ZooKeeper mode: the role one broker holds at a time.
//!
//! Whoever creates the ephemeral `/controller` znode first is controller; it bumps
//! `/controller_epoch` so every request it sends can be told apart from a dead predecessor's.
//! It watches `/brokers/ids` (brokers come and go with their ZooKeeper sessions) and
//! `/brokers/topics` (new topics), keeps the partition states
//! (`/brokers/topics/T/partitions/P/state`: leader, leader epoch, ISR), elects leaders, and
//! tells brokers with LeaderAndIsr and UpdateMetadata requests. Who leads and what the ISR
//! becomes is decided by the rules in [`super::election`]; this module applies them.
//!
//! This module decides; it does no I/O. It fills a [`ControllerOutput`]: events for the
//! record, and [`ControllerRequest`]s for the broker that hosts it, which sends its messages
//! and its ZooKeeper operations; the answers come back through [`Controller::on_zk_result`].
//! Every partition-state write is conditional on the znode version, so a zombie
//! controller's write fails instead of overwriting its successor's.
//! The controller keeps an optimistic cache: it applies a write to the cache when it issues
//! it, and tells the brokers only once ZooKeeper confirmed it. ZooKeeper answers one
//! session's requests in order, so pipelined writes to one partition see the versions the
//! cache predicts.

mod rebalance;
mod shutdown;

use super::election::{
    decide_partition_change, CurrentLeaderAndIsr, DecisionOrder, PartitionChange,
};
use crate::actor::Output;
use crate::config::TopicConfig;
use crate::event::{ElectionReason, Event};
use crate::kafka_version::KafkaVersion;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

/// What a ZooKeeper request was for, so its answer can be routed.
#[derive(Clone, Debug, PartialEq)]
pub enum ControllerZk {
    ReadBrokers,
    ReadTopics,
    ReadAssignment(String),
    ReadState(TopicPartition),
    /// Creating the parent paths of a partition-state znode; the answer does not matter.
    CreateParent,
    WriteState {
        tp: TopicPartition,
        state: PartitionZkState,
        why: WriteWhy,
    },
    /// Before 2.7: the children of `/isr_change_notification`. At failover they are only
    /// deleted (the load reads every state anyway), later each is read.
    ReadIsrChanges {
        at_failover: bool,
    },
    /// Before 2.7: one ISR change notification (its znode name).
    ReadIsrChange(String),
    /// Before 2.7: a partition's state after its leader wrote a new ISR.
    RefreshState(TopicPartition),
    /// Before 2.7: a partition's state after this controller's write of it was refused.
    RereadState(TopicPartition),
    /// Before 2.7: deleting a notification that was handled; the answer does not matter.
    DeleteIsrChange,
    /// A partition's state, read before the preferred election an admin asked for decides
    /// on it (`PartitionStateMachine.doElectLeaderForPartitions` reads every state first).
    ReadForElection {
        request: u64,
        tp: TopicPartition,
    },
    /// Read after a controlled shutdown's writes: when it returns they have all landed.
    ControlledShutdownDone {
        broker: BrokerId,
        correlation_id: u64,
        moved: Vec<(TopicPartition, BrokerId)>,
        left_isr: Vec<TopicPartition>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum WriteWhy {
    Election {
        previous_leader: Option<BrokerId>,
        unclean: bool,
        reason: ElectionReason,
    },
    /// A dead replica left the ISR (`removed` is empty when it was the last member and
    /// stayed); if it led, the partition has no leader now.
    RemoveDeadReplicas {
        removed: Vec<BrokerId>,
        /// The dead replica led and no replica may lead now: the partition is offline.
        goes_offline: bool,
    },
    AlterIsr {
        leader: BrokerId,
    },
    /// A controlled shutdown moved `replica` to `OfflineReplica`: out of the ISR.
    ShuttingDownReplica {
        replica: BrokerId,
    },
}

/// The controller's view of one partition-state znode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionZkState {
    pub leader: Option<BrokerId>,
    pub leader_epoch: LeaderEpoch,
    pub isr: Vec<BrokerId>,
    /// The znode version; `-1` while the znode does not exist yet.
    pub version: i32,
}

/// The controller's one timer: otherwise it acts on ZooKeeper's answers and watches and on
/// AlterIsr requests, never on time passing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControllerTimer {
    /// `auto.leader.rebalance.enable`'s leader-imbalance check, set by the controller of
    /// this epoch (a later controller on the same broker ignores it).
    LeaderImbalanceCheck { controller_epoch: i32 },
}

/// `auto.leader.rebalance.enable` and its two settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoLeaderRebalance {
    /// `leader.imbalance.check.interval.seconds`, in ms.
    pub check_interval_ms: u64,
    /// `leader.imbalance.per.broker.percentage`.
    pub imbalance_percentage: u32,
}

/// `KafkaController.onControllerFailover`: the first leader-imbalance check runs this long
/// after a controller takes office (`scheduleAutoLeaderRebalanceTask(delay = 5, SECONDS)`).
const FIRST_IMBALANCE_CHECK_DELAY_MS: u64 = 5_000;

/// What the controller asks of the broker that hosts it, in the order it asks.
///
/// Kafka's `KafkaController` reaches ZooKeeper through the broker's `KafkaZkClient` and the
/// other brokers through its `ControllerChannelManager`; here both go through the host broker.
/// Sends are requests too, not `Output::messages`, so the host issues them interleaved with
/// the ZooKeeper requests exactly as the controller made them: the broker's outbox keeps
/// the order it always had.
#[derive(Clone, Debug)]
pub enum ControllerRequest {
    /// A ZooKeeper operation over the host's session; the answer comes back through
    /// [`Controller::on_zk_result`] with `purpose`.
    Zk { op: ZkOp, purpose: ControllerZk },
    /// A request (LeaderAndIsr, UpdateMetadata) or an AlterIsr answer to a broker.
    Send { to: BrokerId, message: Message },
    /// An answer to a client of the controller (an admin tool), sent from the host.
    Answer { to: NodeId, message: Message },
}

/// The controller's effects: events for the record, and requests for its host broker.
pub type ControllerOutput = Output<ControllerTimer, ControllerRequest>;

/// Asks the host for a ZooKeeper operation.
fn zk(out: &mut ControllerOutput, op: ZkOp, purpose: ControllerZk) {
    out.request(ControllerRequest::Zk { op, purpose });
}

/// Asks the host to send `message` to broker `to`.
fn send(out: &mut ControllerOutput, to: BrokerId, message: Message) {
    out.request(ControllerRequest::Send { to, message });
}

/// Where leaders leave ISR change notifications for the controller before 2.7
/// (`IsrChangeNotificationZNode`).
pub const ISR_CHANGE_NOTIFICATION_PATH: &str = "/isr_change_notification";

/// A partition-state znode as read: the state, its version and who wrote it.
struct StateRead {
    state: PartitionZkState,
    controller_epoch: i32,
}

/// The partition state in a read's answer, if it holds one.
fn state_of(result: ZkResult) -> Option<StateRead> {
    let ZkResult::Data {
        data:
            ZkData::PartitionState {
                leader,
                leader_epoch,
                isr,
                controller_epoch,
            },
        version,
    } = result
    else {
        return None;
    };
    Some(StateRead {
        state: PartitionZkState {
            leader,
            leader_epoch,
            isr,
            version,
        },
        controller_epoch,
    })
}

pub fn topic_path(topic: &str) -> String {
    format!("/brokers/topics/{topic}")
}

pub fn state_path(tp: &TopicPartition) -> String {
    format!(
        "/brokers/topics/{}/partitions/{}/state",
        tp.topic, tp.partition
    )
}

pub struct Controller {
    broker_id: BrokerId,
    epoch: i32,
    topic_defaults: TopicConfig,
    topic_configs: BTreeMap<String, TopicConfig>,
    live_brokers: BTreeSet<BrokerId>,
    assignments: BTreeMap<TopicPartition, Vec<BrokerId>>,
    /// Optimistic: includes writes ZooKeeper has not confirmed yet.
    states: BTreeMap<TopicPartition, PartitionZkState>,
    /// Partitions with a write in flight; nothing more is decided for them until it lands.
    writes_in_flight: BTreeMap<TopicPartition, u32>,
    reads_in_flight: u32,
    /// True once the first full load finished and every broker got the full state.
    active: bool,
    /// Brokers that came up since the last time they were sent the full state.
    brokers_to_inform: BTreeSet<BrokerId>,
    /// A ZooKeeper write was refused: another controller took over.
    resigned: bool,
    /// First leaders of a new topic's partitions, held until every partition of the topic
    /// has one, then sent in one batch (Kafka's `onNewPartitionCreation`), so no broker ever
    /// describes half a topic to a client.
    new_partitions: BTreeMap<String, Vec<LeaderAndIsrPartition>>,
    /// Every partition must be looked at again (the brokers or the partitions read changed).
    reconcile_all: bool,
    /// Partitions to look at again: their write landed.
    reconcile_some: BTreeSet<TopicPartition>,
    /// The Kafka release this controller runs (`[cluster] kafka_version`): which
    /// AlterPartition checks apply.
    release: KafkaVersion,
    /// Before 2.7 (KIP-497) leaders write their ISR changes to the state znodes themselves,
    /// so a refused write is not necessarily another controller's doing.
    leaders_write_isr: bool,
    /// Partitions whose state is being read again after a refused write: nothing is decided
    /// for them until it lands.
    rereads: BTreeSet<TopicPartition>,
    /// `auto.leader.rebalance.enable` (true by default in every modelled release).
    auto_leader_rebalance: Option<AutoLeaderRebalance>,
    /// Admin elections waiting for their partition-state reads, by request number.
    elections_asked: BTreeMap<u64, rebalance::ElectionAsked>,
    next_election_request: u64,
    /// Brokers in a controlled shutdown (`controllerContext.shuttingDownBrokerIds`): still
    /// registered, but no election picks them and no ISR may take them in.
    shutting_down: BTreeSet<BrokerId>,
}

/// What the controller does with an AlterIsr (see [`Controller::alter_isr_decision`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AlterIsrDecision {
    Write,
    /// The ISR already is what the leader asks for: answer with it.
    AlreadyApplied,
    Reject(ErrorCode),
}

impl Controller {
    /// A broker just won `/controller` and wrote `epoch` to `/controller_epoch`.
    pub fn new(
        broker_id: BrokerId,
        epoch: i32,
        topic_defaults: TopicConfig,
        topic_configs: BTreeMap<String, TopicConfig>,
    ) -> Controller {
        Controller {
            broker_id,
            epoch,
            topic_defaults,
            topic_configs,
            live_brokers: BTreeSet::new(),
            assignments: BTreeMap::new(),
            states: BTreeMap::new(),
            writes_in_flight: BTreeMap::new(),
            reads_in_flight: 0,
            active: false,
            brokers_to_inform: BTreeSet::new(),
            resigned: false,
            new_partitions: BTreeMap::new(),
            reconcile_all: true,
            reconcile_some: BTreeSet::new(),
            release: KafkaVersion::LATEST,
            leaders_write_isr: false,
            rereads: BTreeSet::new(),
            elections_asked: BTreeMap::new(),
            next_election_request: 0,
            auto_leader_rebalance: None,
            shutting_down: BTreeSet::new(),
        }
    }

    /// Checks the leader imbalance and moves leaders back to their preferred replicas
    /// (`auto.leader.rebalance.enable`).
    pub fn with_auto_leader_rebalance(mut self, rebalance: AutoLeaderRebalance) -> Controller {
        self.auto_leader_rebalance = Some(rebalance);
        self
    }

    /// The Kafka release this controller runs (the latest unless said).
    pub fn with_release(mut self, release: KafkaVersion) -> Controller {
        self.release = release;
        self
    }

    /// Whether partition leaders write their own ISR changes to ZooKeeper: before KIP-497
    /// (`inter.broker.protocol.version` below 2.7).
    pub fn with_leaders_writing_isr(mut self, leaders_write_isr: bool) -> Controller {
        self.leaders_write_isr = leaders_write_isr;
        self
    }

    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    pub fn resigned(&self) -> bool {
        self.resigned
    }

    pub fn live_brokers(&self) -> &BTreeSet<BrokerId> {
        &self.live_brokers
    }

    /// Starts the load of the cluster state from ZooKeeper.
    pub fn start(&mut self, out: &mut ControllerOutput) {
        self.read_children("/brokers/ids", ControllerZk::ReadBrokers, out);
        self.read_children("/brokers/topics", ControllerZk::ReadTopics, out);
        if self.leaders_write_isr {
            // Kafka's `onControllerFailover` watches the notifications and deletes those
            // left from before (its context load reads every partition state). Kafka does so
            // at every version; with AlterIsr no broker writes there, so the simulator
            // leaves the watch out.
            self.watch_isr_changes(true, out);
        }
    }

    fn watch_isr_changes(&mut self, at_failover: bool, out: &mut ControllerOutput) {
        zk(
            out,
            ZkOp::GetChildren {
                path: ISR_CHANGE_NOTIFICATION_PATH.into(),
                watch: true,
            },
            ControllerZk::ReadIsrChanges { at_failover },
        );
    }

    /// Reads a znode's children and watches it for changes (the watch is one-shot, so every
    /// read sets it again).
    fn read_children(&mut self, path: &str, purpose: ControllerZk, out: &mut ControllerOutput) {
        self.read(
            out,
            ZkOp::GetChildren {
                path: path.into(),
                watch: true,
            },
            purpose,
        );
    }

    fn read(&mut self, out: &mut ControllerOutput, op: ZkOp, purpose: ControllerZk) {
        self.reads_in_flight += 1;
        zk(out, op, purpose);
    }

    /// A watch set by the controller fired.
    pub fn on_watch(&mut self, path: &str, out: &mut ControllerOutput) {
        match path {
            "/brokers/ids" => self.read_children(path, ControllerZk::ReadBrokers, out),
            "/brokers/topics" => self.read_children(path, ControllerZk::ReadTopics, out),
            ISR_CHANGE_NOTIFICATION_PATH if self.leaders_write_isr => {
                self.watch_isr_changes(false, out)
            }
            _ => {}
        }
    }

    /// ZooKeeper answered a request the controller made for `purpose`.
    pub fn on_zk_result(
        &mut self,
        purpose: ControllerZk,
        result: ZkResult,
        out: &mut ControllerOutput,
    ) {
        if self.resigned {
            return;
        }
        match purpose {
            ControllerZk::CreateParent | ControllerZk::DeleteIsrChange => {}
            ControllerZk::WriteState { tp, state, why } => {
                self.on_write_result(tp, state, why, result, out);
            }
            ControllerZk::ReadIsrChanges { at_failover } => {
                self.on_isr_changes(at_failover, result, out)
            }
            ControllerZk::ReadIsrChange(name) => self.on_isr_change(&name, result, out),
            ControllerZk::RefreshState(tp) => self.on_state_refreshed(tp, result, out),
            ControllerZk::RereadState(tp) => self.on_state_reread(tp, result),
            ControllerZk::ReadForElection { request, tp } => {
                self.on_read_for_election(request, tp, result, out)
            }
            ControllerZk::ControlledShutdownDone {
                broker,
                correlation_id,
                moved,
                left_isr,
            } => self.on_controlled_shutdown_done(broker, correlation_id, moved, left_isr, out),
            read => {
                self.reads_in_flight -= 1;
                self.reconcile_all = true;
                self.on_read_result(read, result, out);
            }
        }
        // After a refused write the controller has resigned, and reconciles nothing.
        self.reconcile(out);
    }

    /// The answer to one of the reads of the cluster's state.
    fn on_read_result(
        &mut self,
        purpose: ControllerZk,
        result: ZkResult,
        out: &mut ControllerOutput,
    ) {
        match (purpose, result) {
            (ControllerZk::ReadBrokers, ZkResult::Children(children)) => self.on_brokers(children),
            (ControllerZk::ReadTopics, ZkResult::Children(topics)) => self.on_topics(topics, out),
            (
                ControllerZk::ReadAssignment(topic),
                ZkResult::Data {
                    data: ZkData::TopicAssignment(assignment),
                    ..
                },
            ) => self.on_assignment(topic, assignment, out),
            (ControllerZk::ReadState(tp), result) => self.on_state_read(tp, result),
            _ => {}
        }
    }

    /// The topics under `/brokers/topics`: reads the assignment of each one not known yet.
    fn on_topics(&mut self, topics: Vec<String>, out: &mut ControllerOutput) {
        for topic in topics {
            let known = self.assignments.keys().any(|tp| tp.topic == topic);
            if !known {
                self.read(
                    out,
                    ZkOp::GetData {
                        path: topic_path(&topic),
                        watch: false,
                    },
                    ControllerZk::ReadAssignment(topic),
                );
            }
        }
    }

    /// A topic's replica assignment: reads the state of each of its partitions.
    fn on_assignment(
        &mut self,
        topic: String,
        assignment: BTreeMap<u32, Vec<BrokerId>>,
        out: &mut ControllerOutput,
    ) {
        for (partition, replicas) in assignment {
            let tp = TopicPartition::new(topic.clone(), partition);
            self.assignments.insert(tp.clone(), replicas);
            self.read(
                out,
                ZkOp::GetData {
                    path: state_path(&tp),
                    watch: false,
                },
                ControllerZk::ReadState(tp),
            );
        }
    }

    /// A partition's state znode, kept unless this controller already decided the partition.
    fn on_state_read(&mut self, tp: TopicPartition, result: ZkResult) {
        match result {
            ZkResult::Data {
                data:
                    ZkData::PartitionState {
                        leader,
                        leader_epoch,
                        isr,
                        ..
                    },
                version,
            } if !self.states.contains_key(&tp) && !self.writes_in_flight.contains_key(&tp) => {
                self.states.insert(
                    tp,
                    PartitionZkState {
                        leader,
                        leader_epoch,
                        isr,
                        version,
                    },
                );
            }
            _ => {
                // No state yet: a new partition, elected below.
            }
        }
    }

    /// The answer to a partition-state write.
    fn on_write_result(
        &mut self,
        tp: TopicPartition,
        state: PartitionZkState,
        why: WriteWhy,
        result: ZkResult,
        out: &mut ControllerOutput,
    ) {
        self.reconcile_some.insert(tp.clone());
        let left = self.writes_in_flight.get_mut(&tp).expect("write in flight");
        *left -= 1;
        if *left == 0 {
            self.writes_in_flight.remove(&tp);
        }
        match result {
            ZkResult::Created | ZkResult::Ok { .. } => {
                self.on_write_confirmed(tp, state, why, out);
            }
            _ if self.leaders_write_isr => {
                // Before 2.7 the partition's leader writes its ISR too, so a refused write
                // may only mean the leader's change landed first. Kafka's controller reads
                // the state before every write (`getTopicPartitionStatesRaw` in
                // `PartitionStateMachine.doElectLeaderForPartitions` and
                // `ReplicaStateMachine.doRemoveReplicasFromIsr`), retries on a version
                // conflict, and steps down only when the state names a later controller.
                if self.rereads.insert(tp.clone()) {
                    zk(
                        out,
                        ZkOp::GetData {
                            path: state_path(&tp),
                            watch: false,
                        },
                        ControllerZk::RereadState(tp),
                    );
                }
            }
            _ => {
                // A version conflict: with AlterIsr only controllers write partition states,
                // so another controller wrote this one. This one is a zombie and must step
                // down (Kafka's ControllerMovedException, from the `/controller_epoch`
                // version check its writes carry).
                self.resigned = true;
            }
        }
    }

    /// The children of `/isr_change_notification` (before 2.7). At failover they are
    /// deleted unread; later each is read and then deleted (Kafka's
    /// `processIsrChangeNotification`).
    fn on_isr_changes(&mut self, at_failover: bool, result: ZkResult, out: &mut ControllerOutput) {
        let ZkResult::Children(children) = result else {
            return;
        };
        for name in children {
            if at_failover {
                self.delete_isr_change(&name, out);
            } else {
                zk(
                    out,
                    ZkOp::GetData {
                        path: format!("{ISR_CHANGE_NOTIFICATION_PATH}/{name}"),
                        watch: false,
                    },
                    ControllerZk::ReadIsrChange(name),
                );
            }
        }
    }

    fn delete_isr_change(&mut self, name: &str, out: &mut ControllerOutput) {
        zk(
            out,
            ZkOp::Delete {
                path: format!("{ISR_CHANGE_NOTIFICATION_PATH}/{name}"),
                version: None,
            },
            ControllerZk::DeleteIsrChange,
        );
    }

    /// One notification: reads the state of each partition it names (Kafka's
    /// `updateLeaderAndIsrCache`), then deletes it.
    fn on_isr_change(&mut self, name: &str, result: ZkResult, out: &mut ControllerOutput) {
        if let ZkResult::Data {
            data: ZkData::IsrChangeNotification(partitions),
            ..
        } = result
        {
            for tp in partitions {
                if self.assignments.contains_key(&tp) {
                    zk(
                        out,
                        ZkOp::GetData {
                            path: state_path(&tp),
                            watch: false,
                        },
                        ControllerZk::RefreshState(tp),
                    );
                }
            }
        }
        self.delete_isr_change(name, out);
    }

    /// A partition's state after its leader changed the ISR: the cache takes it, unless the
    /// controller has a write of its own in flight (whose answer settles the state), and
    /// every live broker hears the partition's state (Kafka's `sendUpdateMetadataRequest`).
    fn on_state_refreshed(
        &mut self,
        tp: TopicPartition,
        result: ZkResult,
        out: &mut ControllerOutput,
    ) {
        let Some(read) = state_of(result) else {
            return;
        };
        if self.writes_in_flight.contains_key(&tp) || self.rereads.contains(&tp) {
            return;
        }
        if self
            .states
            .get(&tp)
            .is_none_or(|s| read.state.version > s.version)
        {
            self.states.insert(tp.clone(), read.state);
            self.reconcile_some.insert(tp.clone());
        }
        let partition = self.leader_and_isr(&tp, &self.states[&tp]);
        self.send_update_metadata(vec![partition], out);
    }

    /// A partition's state read again after this controller's write of it was refused: a
    /// later controller wrote it (this one steps down), or its leader did (the cache takes
    /// it and the partition is decided again).
    fn on_state_reread(&mut self, tp: TopicPartition, result: ZkResult) {
        assert!(
            !self.writes_in_flight.contains_key(&tp),
            "ZooKeeper answers in order: every write to {tp} before the read came back first"
        );
        self.rereads.remove(&tp);
        let Some(read) = state_of(result) else {
            return;
        };
        if read.controller_epoch > self.epoch {
            self.resigned = true;
            return;
        }
        self.states.insert(tp.clone(), read.state);
        self.reconcile_some.insert(tp);
    }

    fn on_brokers(&mut self, children: Vec<String>) {
        let now: BTreeSet<BrokerId> = children.iter().filter_map(|c| c.parse().ok()).collect();
        for b in now.difference(&self.live_brokers) {
            self.brokers_to_inform.insert(*b);
        }
        // Kafka: `onBrokerFailure` forgets a dead broker's shutdown, and a broker that comes
        // (back) up starts afresh.
        let returned: BTreeSet<BrokerId> = now.difference(&self.live_brokers).copied().collect();
        self.shutting_down
            .retain(|b| now.contains(b) && !returned.contains(b));
        self.live_brokers = now;
    }

    /// The brokers an election may pick: alive and not shutting down (Kafka's
    /// `isReplicaOnline` without `includeShuttingDownBrokers`).
    fn electable_brokers(&self) -> BTreeSet<BrokerId> {
        self.live_brokers
            .difference(&self.shutting_down)
            .copied()
            .collect()
    }

    /// Decides everything that can be decided now: elections for partitions without a live
    /// leader, dead replicas out of ISRs, the full state for brokers that came up.
    fn reconcile(&mut self, out: &mut ControllerOutput) {
        if self.reads_in_flight > 0 || self.resigned {
            return;
        }
        let reason_for_dead_leader = if self.active {
            ElectionReason::LeaderFailed
        } else {
            ElectionReason::ControllerFailover
        };
        // Only what may have changed is looked at again: every partition after the brokers or
        // the partitions read changed, else the partitions whose write just landed (a decision
        // depends on nothing else), so a write's answer costs one partition, not all of them.
        let tps: Vec<TopicPartition> = if std::mem::take(&mut self.reconcile_all) {
            self.reconcile_some.clear();
            self.assignments.keys().cloned().collect()
        } else {
            std::mem::take(&mut self.reconcile_some)
                .into_iter()
                .collect()
        };
        for tp in &tps {
            if self.writes_in_flight.contains_key(tp)
                || self.rereads.contains(tp)
                || !self.assignments.contains_key(tp)
            {
                continue;
            }
            self.decide(tp, reason_for_dead_leader, out);
        }
        if !self.active {
            self.active = true;
            let all: Vec<BrokerId> = self.live_brokers.iter().copied().collect();
            self.send_full_state(&all, out);
            self.brokers_to_inform.clear();
            if self.auto_leader_rebalance.is_some() {
                out.timer(
                    FIRST_IMBALANCE_CHECK_DELAY_MS,
                    ControllerTimer::LeaderImbalanceCheck {
                        controller_epoch: self.epoch,
                    },
                );
            }
        } else if !self.brokers_to_inform.is_empty() {
            let new: Vec<BrokerId> = std::mem::take(&mut self.brokers_to_inform)
                .into_iter()
                .filter(|b| self.live_brokers.contains(b))
                .collect();
            self.send_full_state(&new, out);
        }
    }

    fn unclean_enabled(&self, topic: &str) -> bool {
        self.topic_configs
            .get(topic)
            .unwrap_or(&self.topic_defaults)
            .unclean_leader_election_enable
    }

    /// Kafka's offline-partition leader election and replica-offline handling for one
    /// partition: the rules ([`decide_partition_change`]) decide, this writes each decision
    /// in turn (each write counts on the one before, as the znode's version says).
    fn decide(
        &mut self,
        tp: &TopicPartition,
        dead_leader_reason: ElectionReason,
        out: &mut ControllerOutput,
    ) {
        let state = self.states.get(tp).cloned();
        let current = state.as_ref().map(|s| CurrentLeaderAndIsr {
            leader: s.leader,
            isr: &s.isr,
        });
        let order = if dead_leader_reason == ElectionReason::ControllerFailover {
            DecisionOrder::RemoveThenElect
        } else {
            DecisionOrder::ElectThenRemove
        };
        // A broker shutting down is no candidate (Kafka's `leaderForOffline` counts only
        // `isReplicaOnline` replicas), unless it still leads: then it is alive and stays.
        let leads_while_leaving = state
            .as_ref()
            .and_then(|s| s.leader)
            .is_some_and(|l| self.shutting_down.contains(&l));
        let live = if self.shutting_down.is_empty() || leads_while_leaving {
            self.live_brokers.clone()
        } else {
            self.electable_brokers()
        };
        let changes = decide_partition_change(
            &self.assignments[tp],
            current,
            &live,
            self.unclean_enabled(&tp.topic),
            order,
        );
        // A partition leaderless before this decision gets a leader back because a replica
        // returned; one that loses its leader now says why it lost it.
        let reason = match &state {
            Some(s) if s.leader.is_none() => ElectionReason::BrokerReturned,
            _ => dead_leader_reason,
        };
        let elects = changes
            .iter()
            .any(|c| matches!(c, PartitionChange::Elect { .. }));
        for change in changes {
            self.write_change(tp, change, reason, !elects, out);
        }
    }

    /// Writes one decided change on top of the partition's latest state. `stays_offline`:
    /// no election follows in this decision, so a partition that loses its leader is offline.
    fn write_change(
        &mut self,
        tp: &TopicPartition,
        change: PartitionChange,
        reason: ElectionReason,
        stays_offline: bool,
        out: &mut ControllerOutput,
    ) {
        let Some(state) = self.states.get(tp).cloned() else {
            let PartitionChange::NewPartition { leader, isr } = change else {
                unreachable!("a partition without state is only created: {change:?}");
            };
            self.create_parents(tp, out);
            let new = PartitionZkState {
                leader: Some(leader),
                leader_epoch: 0,
                isr,
                version: -1,
            };
            let why = WriteWhy::Election {
                previous_leader: None,
                unclean: false,
                reason: ElectionReason::NewPartition,
            };
            self.write(tp, new, why, out);
            return;
        };
        let (leader, isr, why) = match change {
            PartitionChange::NewPartition { .. } => {
                unreachable!("{tp} already has a state")
            }
            PartitionChange::RemoveDeadReplica {
                replica,
                leader,
                isr,
            } => {
                let removed = if isr.len() < state.isr.len() {
                    vec![replica]
                } else {
                    Vec::new()
                };
                let why = WriteWhy::RemoveDeadReplicas {
                    removed,
                    goes_offline: stays_offline && state.leader.is_some() && leader.is_none(),
                };
                (leader, isr, why)
            }
            PartitionChange::Elect {
                leader,
                isr,
                unclean,
            } => {
                let why = WriteWhy::Election {
                    previous_leader: state.leader,
                    unclean,
                    reason,
                };
                (Some(leader), isr, why)
            }
        };
        let new = PartitionZkState {
            leader,
            leader_epoch: state.leader_epoch + 1,
            isr,
            version: state.version,
        };
        self.write(tp, new, why, out);
    }

    fn create_parents(&mut self, tp: &TopicPartition, out: &mut ControllerOutput) {
        for path in [
            format!("/brokers/topics/{}/partitions", tp.topic),
            format!("/brokers/topics/{}/partitions/{}", tp.topic, tp.partition),
        ] {
            zk(
                out,
                ZkOp::Create {
                    path,
                    data: ZkData::Empty,
                    ephemeral: false,
                },
                ControllerZk::CreateParent,
            );
        }
    }

    fn write(
        &mut self,
        tp: &TopicPartition,
        mut new: PartitionZkState,
        why: WriteWhy,
        out: &mut ControllerOutput,
    ) {
        assert!(
            new.leader.is_none() || new.isr.contains(&new.leader.unwrap()),
            "the leader must be in the ISR"
        );
        let data = ZkData::PartitionState {
            leader: new.leader,
            leader_epoch: new.leader_epoch,
            isr: new.isr.clone(),
            controller_epoch: self.epoch,
        };
        let op = if new.version < 0 {
            ZkOp::Create {
                path: state_path(tp),
                data,
                ephemeral: false,
            }
        } else {
            ZkOp::SetData {
                path: state_path(tp),
                data,
                version: Some(new.version),
            }
        };
        new.version += 1;
        self.states.insert(tp.clone(), new.clone());
        *self.writes_in_flight.entry(tp.clone()).or_insert(0) += 1;
        zk(
            out,
            op,
            ControllerZk::WriteState {
                tp: tp.clone(),
                state: new,
                why,
            },
        );
    }

    fn on_write_confirmed(
        &mut self,
        tp: TopicPartition,
        state: PartitionZkState,
        why: WriteWhy,
        out: &mut ControllerOutput,
    ) {
        let replicas = self.assignments[&tp].clone();
        let partition = self.leader_and_isr(&tp, &state);
        match why {
            WriteWhy::Election {
                previous_leader,
                unclean,
                reason,
            } => {
                if state.leader.is_some() {
                    out.event(Event::LeaderElected {
                        tp: tp.clone(),
                        leader: state.leader,
                        previous_leader,
                        leader_epoch: state.leader_epoch,
                        isr: state.isr.clone(),
                        unclean,
                        reason,
                        controller_epoch: self.epoch,
                    });
                } else {
                    out.event(self.partition_offline(&tp, &state, &replicas));
                }
                if reason == ElectionReason::NewPartition {
                    self.new_partitions
                        .entry(tp.topic.clone())
                        .or_default()
                        .push(partition);
                    self.maybe_send_new_topic(&tp.topic, out);
                    return;
                }
                self.send_leader_and_isr(&replicas, vec![partition.clone()], out);
            }
            WriteWhy::RemoveDeadReplicas {
                removed,
                goes_offline,
            } => {
                out.event(Event::ControllerShrunkIsr {
                    tp: tp.clone(),
                    leader: state.leader,
                    leader_epoch: state.leader_epoch,
                    removed,
                    isr: state.isr.clone(),
                    shutting_down: false,
                });
                if goes_offline {
                    out.event(self.partition_offline(&tp, &state, &replicas));
                }
                self.send_leader_and_isr(&replicas, vec![partition.clone()], out);
            }
            WriteWhy::ShuttingDownReplica { replica } => {
                out.event(Event::ControllerShrunkIsr {
                    tp: tp.clone(),
                    leader: state.leader,
                    leader_epoch: state.leader_epoch,
                    removed: vec![replica],
                    isr: state.isr.clone(),
                    shutting_down: true,
                });
                // `ZkReplicaStateMachine`: the other replicas hear of it, not the one leaving.
                let others: Vec<BrokerId> =
                    replicas.iter().copied().filter(|r| *r != replica).collect();
                self.send_leader_and_isr(&others, vec![partition.clone()], out);
            }
            WriteWhy::AlterIsr { leader } => {
                send(
                    out,
                    leader,
                    Message::AlterIsrResponse(AlterIsrResponse {
                        tp: tp.clone(),
                        error: ErrorCode::None,
                        state: Some(partition.clone()),
                    }),
                );
            }
        }
        self.send_update_metadata(vec![partition], out);
    }

    /// The partition has no leader and no replica the rules let lead.
    fn partition_offline(
        &self,
        tp: &TopicPartition,
        state: &PartitionZkState,
        replicas: &[BrokerId],
    ) -> Event {
        Event::PartitionOffline {
            tp: tp.clone(),
            isr: state.isr.clone(),
            live_replicas: replicas
                .iter()
                .copied()
                .filter(|r| self.live_brokers.contains(r))
                .collect(),
        }
    }

    /// Sends a new topic's first leaders once no partition of it waits for ZooKeeper.
    fn maybe_send_new_topic(&mut self, topic: &str, out: &mut ControllerOutput) {
        let pending = self.writes_in_flight.keys().any(|tp| tp.topic == topic);
        if pending {
            return;
        }
        let Some(partitions) = self.new_partitions.remove(topic) else {
            return;
        };
        let brokers: BTreeSet<BrokerId> = partitions
            .iter()
            .flat_map(|p| p.replicas.iter().copied())
            .collect();
        for b in brokers {
            let mine: Vec<LeaderAndIsrPartition> = partitions
                .iter()
                .filter(|p| p.replicas.contains(&b))
                .cloned()
                .collect();
            self.send_leader_and_isr(&[b], mine, out);
        }
        self.send_update_metadata(partitions, out);
    }

    fn leader_and_isr(&self, tp: &TopicPartition, s: &PartitionZkState) -> LeaderAndIsrPartition {
        LeaderAndIsrPartition {
            tp: tp.clone(),
            leader: s.leader,
            leader_epoch: s.leader_epoch,
            isr: s.isr.clone(),
            partition_epoch: s.version,
            replicas: self.assignments[tp].clone(),
            controller_epoch: self.epoch,
        }
    }

    fn send_leader_and_isr(
        &self,
        replicas: &[BrokerId],
        partitions: Vec<LeaderAndIsrPartition>,
        out: &mut ControllerOutput,
    ) {
        for r in replicas {
            if self.live_brokers.contains(r) {
                send(
                    out,
                    *r,
                    Message::LeaderAndIsr(LeaderAndIsrRequest {
                        controller_id: self.broker_id,
                        controller_epoch: self.epoch,
                        partitions: partitions.clone(),
                    }),
                );
            }
        }
    }

    fn send_update_metadata(
        &self,
        partitions: Vec<LeaderAndIsrPartition>,
        out: &mut ControllerOutput,
    ) {
        let metadata: Vec<PartitionMetadata> = partitions
            .into_iter()
            .map(|p| PartitionMetadata {
                error: if p.leader.is_some() {
                    ErrorCode::None
                } else {
                    ErrorCode::LeaderNotAvailable
                },
                tp: p.tp,
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                replicas: p.replicas,
                isr: p.isr,
            })
            .collect();
        for b in &self.live_brokers {
            send(
                out,
                *b,
                Message::UpdateMetadata(UpdateMetadataRequest {
                    controller_id: self.broker_id,
                    controller_epoch: self.epoch,
                    live_brokers: self.live_brokers.iter().copied().collect(),
                    partitions: metadata.clone(),
                }),
            );
        }
    }

    /// Sends the confirmed state of every partition: LeaderAndIsr to `brokers` for the
    /// partitions they host, UpdateMetadata to every live broker.
    fn send_full_state(&self, brokers: &[BrokerId], out: &mut ControllerOutput) {
        let mut all = Vec::new();
        for (tp, state) in &self.states {
            if self.writes_in_flight.contains_key(tp) {
                continue;
            }
            all.push(self.leader_and_isr(tp, state));
        }
        for b in brokers {
            let mine: Vec<LeaderAndIsrPartition> = all
                .iter()
                .filter(|p| p.replicas.contains(b))
                .cloned()
                .collect();
            if !mine.is_empty() {
                send(
                    out,
                    *b,
                    Message::LeaderAndIsr(LeaderAndIsrRequest {
                        controller_id: self.broker_id,
                        controller_epoch: self.epoch,
                        partitions: mine,
                    }),
                );
            }
        }
        self.send_update_metadata(all, out);
    }

    /// A leader asks to change its ISR (KIP-497 AlterIsr, validated as Kafka's controller does).
    pub fn on_alter_isr(&mut self, request: AlterIsrRequest, out: &mut ControllerOutput) {
        if self.resigned {
            return;
        }
        let AlterIsrRequest {
            broker_id,
            tp,
            leader_epoch,
            new_isr,
            partition_epoch,
        } = request;
        let reject =
            |out: &mut ControllerOutput, error: ErrorCode, state: Option<LeaderAndIsrPartition>| {
                send(
                    out,
                    broker_id,
                    Message::AlterIsrResponse(AlterIsrResponse {
                        tp: tp.clone(),
                        error,
                        state,
                    }),
                );
            };
        let Some(state) = self.states.get(&tp).cloned() else {
            reject(out, ErrorCode::UnknownTopicOrPartition, None);
            return;
        };
        let current = self.leader_and_isr(&tp, &state);
        if self.writes_in_flight.contains_key(&tp) {
            // Kafka's controller handles its events one at a time, so a request never meets a
            // write half done; here one waits on ZooKeeper. The LeaderAndIsr that write sends
            // resolves the leader's pending change, as INVALID_UPDATE_VERSION's would.
            reject(out, ErrorCode::InvalidUpdateVersion, None);
            return;
        }
        debug_assert!(
            new_isr.contains(&broker_id),
            "a leader never proposes an ISR without itself"
        );
        match self.alter_isr_decision(broker_id, &state, leader_epoch, partition_epoch, &new_isr) {
            AlterIsrDecision::Write => {}
            AlterIsrDecision::AlreadyApplied => {
                reject(out, ErrorCode::None, Some(current));
                return;
            }
            AlterIsrDecision::Reject(error) => {
                reject(out, error, Some(current));
                return;
            }
        }
        let new = PartitionZkState {
            leader: state.leader,
            leader_epoch: state.leader_epoch,
            isr: new_isr,
            version: state.version,
        };
        self.write(&tp, new, WriteWhy::AlterIsr { leader: broker_id }, out);
    }

    /// Kafka's `KafkaController.processAlterPartition` (ZooKeeper mode, 3.7), in its order:
    /// an epoch newer than the controller's says this may not be the controller any more
    /// (NOT_CONTROLLER); an older leader epoch is fenced; an ISR already as requested is
    /// answered with success whatever its partition epoch (`equalsAllowStalePartitionEpoch`:
    /// a retry of a change that was applied must not fail); an older partition epoch lost a
    /// race (INVALID_UPDATE_VERSION); from 3.3 an ISR holding a replica on a broker that is
    /// not alive is refused (INELIGIBLE_REPLICA, KIP-841).
    fn alter_isr_decision(
        &self,
        broker_id: BrokerId,
        state: &PartitionZkState,
        leader_epoch: LeaderEpoch,
        partition_epoch: i32,
        new_isr: &[BrokerId],
    ) -> AlterIsrDecision {
        use AlterIsrDecision::{AlreadyApplied, Reject, Write};
        if leader_epoch > state.leader_epoch || partition_epoch > state.version {
            return Reject(ErrorCode::NotController);
        }
        if leader_epoch < state.leader_epoch || state.leader != Some(broker_id) {
            return Reject(ErrorCode::FencedLeaderEpoch);
        }
        if state.isr == new_isr {
            return AlreadyApplied;
        }
        if partition_epoch < state.version {
            return Reject(ErrorCode::InvalidUpdateVersion);
        }
        let eligibility = self.release.has_ineligible_replica_check();
        // `controllerContext.liveBrokerIds` leaves out the brokers shutting down.
        let ineligible =
            |r: &BrokerId| !self.live_brokers.contains(r) || self.shutting_down.contains(r);
        if eligibility && new_isr.iter().any(ineligible) {
            return Reject(ErrorCode::IneligibleReplica);
        }
        Write
    }

    /// The partition states as this controller believes them (for tests and final reports).
    pub fn states(&self) -> &BTreeMap<TopicPartition, PartitionZkState> {
        &self.states
    }
}

#[cfg(test)]
mod alter_isr_tests {
    use super::*;

    /// Kafka's `KafkaController.processAlterPartition` by table: (leader epoch, partition
    /// epoch, proposed ISR, live brokers, protocol) against a state at leader epoch 3,
    /// version 7, ISR [0,1], led by broker 0.
    #[test]
    fn alter_isr_follows_kafka_3_7() {
        use AlterIsrDecision::{AlreadyApplied, Reject, Write};
        let state = PartitionZkState {
            leader: Some(0),
            leader_epoch: 3,
            isr: vec![0, 1],
            version: 7,
        };
        let v = |s| KafkaVersion::parse(s).unwrap();
        /// (leader epoch, partition epoch, proposed ISR, live brokers, protocol, decision)
        type Case = (
            LeaderEpoch,
            i32,
            &'static [BrokerId],
            &'static [BrokerId],
            &'static str,
            AlterIsrDecision,
        );
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (3, 7, &[0, 1, 2], &[0, 1, 2], "3.7", Write),
            (3, 7, &[0],       &[0, 1, 2], "3.7", Write),
            // Newer than the controller knows: it may no longer be the controller.
            (4, 7, &[0, 1, 2], &[0, 1, 2], "3.7", Reject(ErrorCode::NotController)),
            (3, 8, &[0, 1, 2], &[0, 1, 2], "3.7", Reject(ErrorCode::NotController)),
            (2, 7, &[0, 1, 2], &[0, 1, 2], "3.7", Reject(ErrorCode::FencedLeaderEpoch)),
            // A retry of a change already written is answered with success...
            (3, 6, &[0, 1],    &[0, 1, 2], "3.7", AlreadyApplied),
            // ...anything else from a stale partition epoch lost a race.
            (3, 6, &[0, 1, 2], &[0, 1, 2], "3.7", Reject(ErrorCode::InvalidUpdateVersion)),
            // KIP-841 (3.3): every ISR member must be on a live broker.
            (3, 7, &[0, 1, 2], &[0, 1],    "3.7", Reject(ErrorCode::IneligibleReplica)),
            (3, 7, &[0, 1, 2], &[0, 2],    "3.7", Reject(ErrorCode::IneligibleReplica)),
            (3, 7, &[0, 1, 2], &[0, 1],    "3.2.3", Write),
        ];
        for (i, &(leader_epoch, partition_epoch, isr, live, version, want)) in
            cases.iter().enumerate()
        {
            let mut c = Controller::new(9, 1, TopicConfig::default(), BTreeMap::new())
                .with_release(v(version));
            c.live_brokers = live.iter().copied().collect();
            let got = c.alter_isr_decision(0, &state, leader_epoch, partition_epoch, isr);
            assert_eq!(got, want, "case {i}");
        }
    }
}
