//! A KRaft broker's side of the metadata: it follows the `__cluster_metadata` log as a
//! quorum observer, registers and heartbeats with the active controller, and turns each
//! committed change into what a LeaderAndIsr would have said in ZooKeeper mode.
//!
//! The parts, each named after Kafka's:
//! - the observer (`KafkaRaftClient` with the broker's `node.id`, not a voter): it fetches
//!   the metadata log from the quorum's leader. The broker role of a combined node
//!   (`process.roles=broker,controller`) shares its node.id with a voter; it follows the log
//!   under an observer id of its own (`combined_broker_observer_id`) where Kafka reads the
//!   shared `KafkaRaftClient` of the process. The broker keeps no metadata log on disk
//!   here: a restarted broker fetches it again from offset 0, which changes when it catches
//!   up, not what it learns;
//! - `BrokerLifecycleManager`: the registration of this process's incarnation, then a
//!   heartbeat every `broker.heartbeat.interval.ms`. The broker asks to stay fenced until a
//!   heartbeat answer says it has caught up with the metadata log, then to be unfenced; in a
//!   controlled shutdown it asks to shut down and goes once the controller says so;
//! - `BrokerMetadataPublisher` and `ReplicaManager.applyDelta`: each committed batch is
//!   replayed into the broker's [`MetadataImage`]; for every partition it changed,
//!   [`local_change`] says whether this broker now leads it, follows it, or neither, and
//!   `makeLeader` / `makeFollower` run as for a LeaderAndIsr. A change that keeps the leader
//!   epoch (an ISR change, which from metadata version 3.6 no longer bumps it) is applied in
//!   place, as Kafka's `Partition.makeLeader` / `makeFollower` do when the epoch did not move;
//! - the metadata cache clients read: partitions and the live (unfenced) brokers.
//!
//! There is no lease: a broker cut off from the quorum keeps serving what it last learned
//! until the metadata log tells it otherwise.

use super::internal_topics::InternalTopic;
use super::partition::Role;
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::controller::kraft::local_changes::{local_change, LocalChange};
use crate::controller::kraft::raft::{
    combined_broker_observer_id, Committed, EntryBody, QuorumConfig, RaftDisk, RaftEvent,
    RaftOutput, RaftReplica, RaftTimer,
};
use crate::controller::kraft::replication_control::{
    AlterPartitionData, AlterPartitionRequest, AlterPartitionResult, CreateTopic,
};
use crate::controller::kraft::{
    ApiError, BrokerHeartbeatRequest, BrokerRegistrationRequest, IncarnationId,
    LeaderRecoveryState, MetadataImage, MetadataRecord, PartitionRegistration,
};
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

/// AlterPartition v3 (KIP-903), what brokers send from metadata version 3.5.
const ALTER_PARTITION_VERSION: u16 = 3;

/// How a KRaft broker reaches the quorum.
#[derive(Clone, Debug, PartialEq)]
pub struct KraftSettings {
    /// `controller.quorum.voters`: the controllers' node ids.
    pub controller_ids: Vec<BrokerId>,
    pub quorum: QuorumConfig,
    /// `broker.heartbeat.interval.ms` (2000).
    pub heartbeat_interval_ms: u64,
    /// This process's incarnation id (a new random UUID at every start).
    pub incarnation: IncarnationId,
    /// Seeds the observer's randomness.
    pub seed: u64,
}

/// Timers of the KRaft broker parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KraftTimer {
    /// A timer of the metadata log observer.
    Raft(RaftTimer),
    /// The lifecycle manager's next registration attempt or heartbeat.
    Lifecycle,
}

/// What is in flight to the active controller, by correlation id.
#[derive(Clone, Debug, PartialEq, Eq)]
enum InFlight {
    Registration,
    Heartbeat,
    AlterPartition,
    CreateInternalTopic(InternalTopic),
}

/// A KRaft broker's metadata and lifecycle state.
#[derive(Clone, Debug)]
pub(super) struct KraftClient {
    settings: KraftSettings,
    observer: RaftReplica<MetadataRecord>,
    image: MetadataImage,
    /// Log recovery is over and the broker takes part (registration sent).
    started: bool,
    broker_epoch: Option<u64>,
    /// A heartbeat answer said this broker caught up with the metadata log.
    caught_up: bool,
    /// The first image was published: committed changes now reach the replicas.
    published: bool,
    fenced: bool,
    /// A controlled shutdown asked for (after a SIGTERM).
    want_shut_down: bool,
    /// Requests awaiting an answer: correlation id → (kind, sent at).
    in_flight: BTreeMap<u64, (InFlight, u64)>,
    /// When each internal topic's creation was last asked for.
    internal_topics_asked_ms: BTreeMap<InternalTopic, u64>,
}

/// How long the broker waits for the controller's answer to its CreateTopics before asking
/// again (`request.timeout.ms`'s 30 s in `AutoTopicCreationManager`'s channel).
const CREATE_TOPIC_RETRY_MS: u64 = 30_000;

/// How soon an unregistered broker tries again when it knows no active controller or its
/// registration failed (`BrokerLifecycleManager`'s first backoff).
const REGISTRATION_RETRY_MS: u64 = 100;

impl KraftClient {
    /// A broker process following the metadata log it finds in `metadata_log` (empty on a
    /// new or replaced disk).
    pub(super) fn new(
        broker: BrokerId,
        settings: KraftSettings,
        metadata_log: RaftDisk<MetadataRecord>,
    ) -> KraftClient {
        // The broker role of a combined node follows the log under an observer id of its
        // own (see `combined_broker_observer_id`); a dedicated broker under its node.id.
        let observer_id = match settings.controller_ids.contains(&broker) {
            true => combined_broker_observer_id(broker),
            false => broker,
        };
        let observer = RaftReplica::new(
            observer_id,
            settings.controller_ids.iter().copied(),
            settings.quorum.clone(),
            metadata_log,
            settings.seed,
        );
        KraftClient {
            settings,
            observer,
            image: MetadataImage::default(),
            started: false,
            broker_epoch: None,
            caught_up: false,
            published: false,
            fenced: true,
            want_shut_down: false,
            in_flight: BTreeMap::new(),
            internal_topics_asked_ms: BTreeMap::new(),
        }
    }

    /// The metadata log and snapshots the process leaves on disk.
    pub(super) fn into_metadata_log(self) -> RaftDisk<MetadataRecord> {
        self.observer.into_disk()
    }

    /// The controller this broker believes active: the metadata quorum's leader.
    fn active_controller(&self) -> Option<BrokerId> {
        self.observer.leader().map(|(leader, _)| leader)
    }
}

impl Broker {
    /// Runs in KRaft mode: it follows the metadata log instead of ZooKeeper.
    pub fn with_kraft(mut self, settings: KraftSettings) -> Broker {
        let metadata_log = std::mem::take(&mut self.disk.metadata_log);
        self.kraft = Some(KraftClient::new(self.id, settings, metadata_log));
        self
    }

    pub fn is_kraft(&self) -> bool {
        self.kraft.is_some()
    }

    /// The metadata image this KRaft broker replayed, for inspection.
    pub fn metadata_image(&self) -> Option<&MetadataImage> {
        self.kraft.as_ref().map(|k| &k.image)
    }

    /// KRaft: the broker epoch of this process's registration, once registered.
    pub(super) fn kraft_broker_epoch(&self) -> Option<u64> {
        self.kraft.as_ref().and_then(|k| k.broker_epoch)
    }

    fn kraft(&mut self) -> &mut KraftClient {
        self.kraft.as_mut().expect("a KRaft broker")
    }

    /// After log recovery: start following the metadata log and register
    /// (`BrokerServer.startup`: the Raft client, then `BrokerLifecycleManager.start`).
    pub(super) fn kraft_start(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        let mut raft_out = RaftOutput::default();
        let k = self.kraft();
        k.started = true;
        k.observer.start(now_ms, &mut raft_out);
        self.absorb_observer(now_ms, raft_out, out);
        self.lifecycle_tick(now_ms, out);
    }

    /// Carries out the observer's output, then applies what it committed.
    fn absorb_observer(
        &mut self,
        now_ms: u64,
        raft_out: RaftOutput<MetadataRecord>,
        out: &mut Output<BrokerTimer>,
    ) {
        let RaftOutput {
            messages,
            timers,
            events,
        } = raft_out;
        for event in events {
            // The observer's elections and high watermarks are the controllers' story; a
            // snapshot download is this broker's.
            if let RaftEvent::SnapshotFetched {
                id,
                from,
                log_end_offset_before,
            } = event
            {
                out.event(Event::QuorumSnapshotFetched {
                    node_id: self.id,
                    broker: true,
                    from,
                    end_offset: id.end_offset,
                    epoch: id.epoch,
                    log_end_offset_before,
                });
            }
        }
        for (to, message) in messages {
            out.send(NodeId::Controller(to), Message::Raft(message));
        }
        for (delay_ms, timer) in timers {
            out.timer(delay_ms, BrokerTimer::Kraft(KraftTimer::Raft(timer)));
        }
        let committed = self.kraft().observer.take_committed();
        if !committed.is_empty() {
            self.apply_committed(now_ms, committed, out);
        }
    }

    pub(super) fn on_kraft_timer(
        &mut self,
        now_ms: u64,
        timer: KraftTimer,
        out: &mut Output<BrokerTimer>,
    ) {
        match timer {
            KraftTimer::Raft(timer) => {
                let mut raft_out = RaftOutput::default();
                self.kraft().observer.on_timer(now_ms, timer, &mut raft_out);
                self.absorb_observer(now_ms, raft_out, out);
            }
            KraftTimer::Lifecycle => self.lifecycle_tick(now_ms, out),
        }
    }

    /// A quorum message for the observer.
    pub(super) fn on_raft_message(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: crate::controller::kraft::raft::RaftMessage<MetadataRecord>,
        out: &mut Output<BrokerTimer>,
    ) {
        let NodeId::Controller(from) = from else {
            return;
        };
        if self.kraft.as_ref().is_none_or(|k| !k.started) {
            return;
        }
        let mut raft_out = RaftOutput::default();
        self.kraft()
            .observer
            .on_message(now_ms, from, message, &mut raft_out);
        self.absorb_observer(now_ms, raft_out, out);
    }

    // ------------------------------------------------------------------------------------
    // BrokerLifecycleManager: registration and heartbeats
    // ------------------------------------------------------------------------------------

    /// Sends a request to the active controller; false when none is known.
    fn send_to_controller(
        &mut self,
        now_ms: u64,
        kind: InFlight,
        make: impl FnOnce(u64) -> Message,
        out: &mut Output<BrokerTimer>,
    ) -> bool {
        let correlation_id = self.next_correlation();
        let k = self.kraft();
        let Some(controller) = k.active_controller() else {
            return false;
        };
        k.in_flight.insert(correlation_id, (kind, now_ms));
        out.send(NodeId::Controller(controller), make(correlation_id));
        true
    }

    /// The lifecycle manager's loop: register while unregistered (retrying soon), else a
    /// heartbeat every `broker.heartbeat.interval.ms`. A request unanswered for an interval
    /// is given up on and sent again.
    fn lifecycle_tick(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        if self.exited {
            return;
        }
        let k = self.kraft();
        let interval_ms = k.settings.heartbeat_interval_ms;
        k.in_flight.retain(|_, (kind, sent_ms)| {
            let timeout_ms = match kind {
                InFlight::Registration | InFlight::Heartbeat => interval_ms,
                InFlight::AlterPartition | InFlight::CreateInternalTopic(_) => {
                    CREATE_TOPIC_RETRY_MS
                }
            };
            now_ms < *sent_ms + timeout_ms
        });
        let waiting = k
            .in_flight
            .values()
            .any(|(kind, _)| matches!(kind, InFlight::Registration | InFlight::Heartbeat));
        if !waiting {
            self.send_lifecycle_request(now_ms, out);
        }
        let next_ms = match self.kraft().broker_epoch {
            Some(_) => interval_ms,
            None => REGISTRATION_RETRY_MS,
        };
        out.timer(next_ms, BrokerTimer::Kraft(KraftTimer::Lifecycle));
        let k = self.kraft();
        let retry: Vec<InternalTopic> = k
            .internal_topics_asked_ms
            .iter()
            .filter(|(topic, at)| {
                now_ms >= *at + CREATE_TOPIC_RETRY_MS && !k.image.topics.contains_key(topic.name())
            })
            .map(|(topic, _)| *topic)
            .collect();
        for topic in retry {
            self.kraft().internal_topics_asked_ms.remove(&topic);
            self.internal_topics_requested.remove(&topic);
        }
    }

    fn send_lifecycle_request(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        let broker = self.id;
        let k = self.kraft();
        match k.broker_epoch {
            None => {
                let incarnation = k.settings.incarnation;
                self.send_to_controller(
                    now_ms,
                    InFlight::Registration,
                    |correlation_id| {
                        Message::BrokerRegistration(ControllerRequest {
                            correlation_id,
                            body: BrokerRegistrationRequest {
                                broker,
                                incarnation,
                                rack: None,
                            },
                        })
                    },
                    out,
                );
            }
            Some(broker_epoch) => {
                let body = BrokerHeartbeatRequest {
                    broker,
                    broker_epoch,
                    current_metadata_offset: k.image.offset,
                    want_fence: !k.caught_up,
                    want_shut_down: k.want_shut_down,
                };
                self.send_to_controller(
                    now_ms,
                    InFlight::Heartbeat,
                    |correlation_id| {
                        Message::BrokerHeartbeat(ControllerRequest {
                            correlation_id,
                            body,
                        })
                    },
                    out,
                );
            }
        }
    }

    /// Takes an answer of the active controller; `None` if it is not one awaited.
    fn take_in_flight(&mut self, correlation_id: u64, kind: InFlight) -> bool {
        let k = self.kraft();
        match k.in_flight.get(&correlation_id) {
            Some((awaited, _)) if *awaited == kind => {
                k.in_flight.remove(&correlation_id);
                true
            }
            _ => false,
        }
    }

    pub(super) fn on_registration_response(
        &mut self,
        now_ms: u64,
        response: ControllerResponse<crate::controller::kraft::BrokerRegistrationReply>,
        out: &mut Output<BrokerTimer>,
    ) {
        if !self.take_in_flight(response.correlation_id, InFlight::Registration) {
            return;
        }
        // An error (NOT_CONTROLLER, or DUPLICATE_BROKER_REGISTRATION while the previous
        // incarnation's session lives) is retried at the next tick.
        if let Ok(reply) = response.result {
            self.kraft().broker_epoch = Some(reply.broker_epoch);
            self.send_lifecycle_request(now_ms, out);
        }
    }

    pub(super) fn on_heartbeat_response(
        &mut self,
        now_ms: u64,
        response: ControllerResponse<crate::controller::kraft::BrokerHeartbeatReply>,
        out: &mut Output<BrokerTimer>,
    ) {
        if !self.take_in_flight(response.correlation_id, InFlight::Heartbeat) {
            return;
        }
        let reply = match response.result {
            Ok(reply) => reply,
            Err(ApiError::StaleBrokerEpoch) | Err(ApiError::BrokerIdNotRegistered) => {
                // The controller no longer knows this registration: register again.
                self.kraft().broker_epoch = None;
                return;
            }
            Err(_) => return,
        };
        let k = self.kraft();
        let newly_caught_up = reply.is_caught_up && !k.caught_up;
        k.caught_up |= reply.is_caught_up;
        k.fenced = reply.is_fenced;
        if newly_caught_up {
            self.publish_first_image(now_ms, out);
            // `setReadyToUnfence`: ask at once, not a heartbeat interval later.
            self.send_lifecycle_request(now_ms, out);
        }
        if reply.should_shut_down && self.kraft().want_shut_down {
            self.finish_shutdown(true, out);
        }
    }

    /// A SIGTERM in KRaft mode (`BrokerServer.shutdown`): heartbeats ask for a controlled
    /// shutdown; the controller moves this broker's leaderships and, once every broker has
    /// seen that, answers that it may go. A broker never registered goes at once.
    pub(super) fn kraft_begin_controlled_shutdown(
        &mut self,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        let registered = self.kraft().broker_epoch.is_some();
        if !self.config.controlled_shutdown_enable || !registered {
            self.finish_shutdown(false, out);
            return;
        }
        out.event(Event::ControlledShutdownRequested {
            broker: self.id,
            controller: self.kraft().active_controller(),
            attempt: 1,
            attempts_max: 1,
        });
        self.kraft().want_shut_down = true;
        self.send_lifecycle_request(now_ms, out);
    }

    // ------------------------------------------------------------------------------------
    // AlterPartition and CreateTopics
    // ------------------------------------------------------------------------------------

    /// Whether a KRaft leader can send an AlterPartition now.
    pub(super) fn kraft_can_alter_partition(&self) -> bool {
        self.kraft
            .as_ref()
            .is_some_and(|k| k.broker_epoch.is_some() && k.active_controller().is_some())
    }

    /// Sends the leader's proposed ISR to the active controller.
    pub(super) fn send_alter_partition(
        &mut self,
        now_ms: u64,
        tp: &TopicPartition,
        leader_epoch: LeaderEpoch,
        partition_epoch: i32,
        new_isr: Vec<BrokerId>,
        out: &mut Output<BrokerTimer>,
    ) {
        let broker = self.id;
        let broker_epoch = self.kraft().broker_epoch.expect("a registered broker");
        // KIP-903 wants each member's broker epoch as seen in its fetches; the model's
        // fetches do not carry it, so the members go unchecked (Kafka's -1).
        let data = AlterPartitionData {
            topic_partition: tp.clone(),
            leader_epoch,
            partition_epoch,
            new_isr: new_isr.into_iter().map(|r| (r, None)).collect(),
            leader_recovery_state: LeaderRecoveryState::Recovered,
        };
        self.send_to_controller(
            now_ms,
            InFlight::AlterPartition,
            |correlation_id| {
                Message::AlterPartition(ControllerRequest {
                    correlation_id,
                    body: AlterPartitionRequest {
                        broker,
                        broker_epoch,
                        version: ALTER_PARTITION_VERSION,
                        partitions: vec![data],
                    },
                })
            },
            out,
        );
    }

    pub(super) fn on_alter_partition_response(
        &mut self,
        now_ms: u64,
        response: ControllerResponse<Vec<AlterPartitionResult>>,
        out: &mut Output<BrokerTimer>,
    ) {
        if !self.take_in_flight(response.correlation_id, InFlight::AlterPartition) {
            return;
        }
        // A whole-request error (NOT_CONTROLLER, STALE_BROKER_EPOCH): the proposal stays
        // pending until `AlterIsrTimeout` lets the leader propose again.
        let Ok(results) = response.result else {
            return;
        };
        for AlterPartitionResult {
            topic_partition,
            result,
        } in results
        {
            let (error, state) = match result {
                Ok(state) => (
                    ErrorCode::None,
                    Some(LeaderAndIsrPartition {
                        tp: topic_partition.clone(),
                        leader: state.leader,
                        leader_epoch: state.leader_epoch,
                        isr: state.isr,
                        partition_epoch: state.partition_epoch,
                        replicas: self
                            .partitions
                            .get(&topic_partition)
                            .map(|p| p.replicas.clone())
                            .unwrap_or_default(),
                        controller_epoch: 0,
                    }),
                ),
                Err(e) => (alter_partition_error(e), None),
            };
            self.on_alter_isr_response(
                now_ms,
                AlterIsrResponse {
                    tp: topic_partition,
                    error,
                    state,
                },
                out,
            );
        }
    }

    /// `AutoTopicCreationManager`: asks the active controller for an internal topic.
    pub(super) fn kraft_create_internal_topic(
        &mut self,
        now_ms: u64,
        topic: InternalTopic,
        assignment: Vec<Vec<BrokerId>>,
        configs: BTreeMap<String, String>,
        out: &mut Output<BrokerTimer>,
    ) -> bool {
        let body = CreateTopic {
            name: topic.name().to_string(),
            assignment,
            configs,
        };
        let sent = self.send_to_controller(
            now_ms,
            InFlight::CreateInternalTopic(topic),
            |correlation_id| {
                Message::CreateTopics(ControllerRequest {
                    correlation_id,
                    body,
                })
            },
            out,
        );
        if sent {
            self.kraft().internal_topics_asked_ms.insert(topic, now_ms);
        }
        sent
    }

    pub(super) fn on_create_topics_response(
        &mut self,
        response: ControllerResponse<crate::controller::kraft::TopicId>,
    ) {
        let topic = match self.kraft().in_flight.get(&response.correlation_id) {
            Some((InFlight::CreateInternalTopic(topic), _)) => *topic,
            _ => return,
        };
        self.kraft().in_flight.remove(&response.correlation_id);
        match response.result {
            Ok(_) | Err(ApiError::TopicAlreadyExists) => {}
            Err(_) => {
                // Asked again by the next FindCoordinator.
                self.kraft().internal_topics_asked_ms.remove(&topic);
                self.internal_topics_requested.remove(&topic);
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // BrokerMetadataPublisher and ReplicaManager.applyDelta
    // ------------------------------------------------------------------------------------

    /// Loads a snapshot if the observer has one for it, replays the committed entries and
    /// applies what changed for this broker.
    fn apply_committed(
        &mut self,
        now_ms: u64,
        committed: Committed<MetadataRecord>,
        out: &mut Output<BrokerTimer>,
    ) {
        let mut touched: BTreeMap<TopicPartition, Option<PartitionRegistration>> = BTreeMap::new();
        let k = self.kraft();
        if let Some(snapshot) = committed.snapshot {
            // `MetadataLoader` on a snapshot: the new image is what the snapshot holds, and
            // the delta from the old image is what the publishers apply.
            let image = MetadataImage::from_snapshot(snapshot.id.end_offset - 1, &snapshot.records);
            for (tp, registration) in image.partitions() {
                let prev = k.image.partition(&tp);
                if prev != Some(registration) {
                    touched.insert(tp, prev.cloned());
                }
            }
            k.image = image;
        }
        for (offset, entry) in committed.entries {
            let EntryBody::Data(record) = entry.body else {
                continue;
            };
            if let Some(tp) = record.partition() {
                if !touched.contains_key(tp) {
                    touched.insert(tp.clone(), k.image.partition(tp).cloned());
                }
            }
            k.image.replay(offset, &record);
        }
        if self.kraft().published {
            self.publish(now_ms, touched, out);
        }
    }

    /// The initial catch-up is over (`BrokerLifecycleManager.initialCatchUpFuture`: the
    /// broker registered and a heartbeat answer said its metadata caught up): the broker
    /// applies the image as one delta from the empty image (`MetadataLoader` initialises
    /// its publishers so), never the states the log passed through on the way. Until then
    /// a restarted broker serves nothing from metadata it replays, which may be stale.
    fn publish_first_image(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        let k = self.kraft();
        k.published = true;
        let everything = k.image.partitions().map(|(tp, _)| (tp, None)).collect();
        self.publish(now_ms, everything, out);
    }

    /// `BrokerMetadataPublisher.onMetadataUpdate`: the metadata cache, then
    /// `ReplicaManager.applyDelta` for every partition the delta touched (`prev`: the
    /// registration before it).
    fn publish(
        &mut self,
        now_ms: u64,
        touched: BTreeMap<TopicPartition, Option<PartitionRegistration>>,
        out: &mut Output<BrokerTimer>,
    ) {
        self.refresh_metadata_cache(&touched);
        let mut touched_leaders = BTreeSet::new();
        for (tp, prev) in touched {
            let next = self
                .kraft()
                .image
                .partition(&tp)
                .cloned()
                .expect("a replayed partition is in the image");
            match local_change(self.id, prev.as_ref(), &next) {
                LocalChange::None => {}
                // No operation of the model moves a replica off a broker yet (reassignment,
                // topic deletion); the replica would stop and its log go.
                LocalChange::Delete => {}
                LocalChange::Leader { .. } => self.kraft_make_leader(now_ms, &tp, &next, out),
                LocalChange::Follower => {
                    if let Some(leader) = self.kraft_make_follower(now_ms, &tp, &next, out) {
                        touched_leaders.insert(leader);
                    }
                }
            }
        }
        for leader in touched_leaders {
            self.maybe_fetch(leader, out);
        }
    }

    /// The metadata cache: the live brokers (registered and unfenced) and the partitions.
    fn refresh_metadata_cache(
        &mut self,
        touched: &BTreeMap<TopicPartition, Option<PartitionRegistration>>,
    ) {
        let k = self.kraft.as_ref().expect("a KRaft broker");
        let live: Vec<BrokerId> = k
            .image
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| b.id)
            .collect();
        let updates: Vec<PartitionMetadata> = touched
            .keys()
            .filter_map(|tp| {
                let reg = k.image.partition(tp)?;
                Some(PartitionMetadata {
                    tp: tp.clone(),
                    error: ErrorCode::None,
                    leader: reg.leader,
                    leader_epoch: reg.leader_epoch,
                    replicas: reg.replicas.clone(),
                    isr: reg.isr.clone(),
                })
            })
            .collect();
        self.live_brokers = live;
        for p in updates {
            self.metadata.insert(p.tp.clone(), p);
        }
    }

    fn leader_and_isr_of(
        tp: &TopicPartition,
        reg: &PartitionRegistration,
    ) -> LeaderAndIsrPartition {
        LeaderAndIsrPartition {
            tp: tp.clone(),
            leader: reg.leader,
            leader_epoch: reg.leader_epoch,
            isr: reg.isr.clone(),
            partition_epoch: reg.partition_epoch,
            replicas: reg.replicas.clone(),
            controller_epoch: 0,
        }
    }

    /// `Partition.makeLeader` for a committed change: a new leader epoch makes this broker
    /// leader afresh; the same epoch (a new ISR or assignment) updates it in place and
    /// supersedes an AlterPartition still in flight.
    fn kraft_make_leader(
        &mut self,
        now_ms: u64,
        tp: &TopicPartition,
        reg: &PartitionRegistration,
        out: &mut Output<BrokerTimer>,
    ) {
        let current = self
            .partitions
            .get(tp)
            .map(|p| (p.leader_epoch, p.partition_epoch));
        match current {
            Some((epoch, partition_epoch)) if epoch == reg.leader_epoch => {
                if reg.partition_epoch <= partition_epoch {
                    return;
                }
                self.materialize_followers(tp, None);
                let p = self.partitions.get_mut(tp).expect("partition");
                p.replicas = reg.replicas.clone();
                let Role::Leader(leader) = &mut p.role else {
                    return;
                };
                // The leader's own proposal, committed: it tells its ISR change as when the
                // answer comes. Anything else is the controller's (a fenced follower taken
                // out), which the controller told: the leader takes it quietly.
                let own = leader
                    .pending_isr
                    .take()
                    .is_some_and(|proposed| proposed == reg.isr);
                match own {
                    true => self.apply_isr(now_ms, tp, reg.isr.clone(), reg.partition_epoch, out),
                    false => self.take_isr_from_metadata(now_ms, tp, reg, out),
                }
            }
            Some((epoch, _)) if epoch > reg.leader_epoch => {}
            _ => {
                self.create_log_if_missing(tp, now_ms);
                self.make_leader(now_ms, Self::leader_and_isr_of(tp, reg), out);
            }
        }
    }

    /// A leader takes the ISR the controller wrote (`Partition.makeLeader` with the same
    /// leader epoch: `updateAssignmentAndIsr`), and moves the HW if it may now.
    fn take_isr_from_metadata(
        &mut self,
        now_ms: u64,
        tp: &TopicPartition,
        reg: &PartitionRegistration,
        out: &mut Output<BrokerTimer>,
    ) {
        let p = self.partitions.get_mut(tp).expect("partition");
        p.isr = reg.isr.clone();
        p.partition_epoch = reg.partition_epoch;
        out.event(Event::LeaderIsrFromMetadata {
            broker: self.id,
            tp: tp.clone(),
            leader_epoch: p.leader_epoch,
            isr: reg.isr.clone(),
        });
        self.partitions[tp].assert_leader_rules(self.id);
        self.maybe_increment_hw(now_ms, tp, out);
    }

    /// `Partition.makeFollower` for a committed change; the leader to fetch from when the
    /// leader epoch moved.
    fn kraft_make_follower(
        &mut self,
        now_ms: u64,
        tp: &TopicPartition,
        reg: &PartitionRegistration,
        out: &mut Output<BrokerTimer>,
    ) -> Option<BrokerId> {
        match self.partitions.get_mut(tp) {
            Some(p) if p.leader_epoch == reg.leader_epoch => {
                p.replicas = reg.replicas.clone();
                p.isr = reg.isr.clone();
                p.partition_epoch = reg.partition_epoch;
                None
            }
            Some(p) if p.leader_epoch > reg.leader_epoch => None,
            _ => {
                self.create_log_if_missing(tp, now_ms);
                self.make_follower(now_ms, Self::leader_and_isr_of(tp, reg), out);
                reg.leader
            }
        }
    }
}

/// An AlterPartition error as the leader acts on it (`Partition.handleAlterPartitionError`):
/// OPERATION_NOT_ATTEMPTED is the older versions' INELIGIBLE_REPLICA (the proposal is
/// dropped); NEW_LEADER_ELECTED, like FENCED_LEADER_EPOCH, means the leader waits for the
/// metadata that moved on; anything else it cannot act on waits the same way.
fn alter_partition_error(error: ApiError) -> ErrorCode {
    match error {
        ApiError::OperationNotAttempted => ErrorCode::IneligibleReplica,
        ApiError::NewLeaderElected => ErrorCode::FencedLeaderEpoch,
        other => other
            .error_code()
            .unwrap_or(ErrorCode::InvalidUpdateVersion),
    }
}
