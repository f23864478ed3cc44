//! A KRaft controller node (`process.roles=controller`): a voter of the metadata quorum
//! hosting the [`QuorumController`] it runs when it leads.
//!
//! Kafka's `ControllerServer` wires `KafkaRaftClient` to `QuorumController` through the
//! `RaftClient.Listener` interface, and so does this node:
//! - every committed entry goes to the controller (`handleCommit`), active or standby;
//! - a new leader does not act at once: `KafkaRaftClient` fires `handleLeaderChange` only
//!   once the listener has read up to the start of the leader's epoch, so the controller
//!   claims leadership (`QuorumController.claim`) with every earlier record replayed. Here
//!   that is the moment the epoch's `LeaderChange` entry is committed and handed over;
//! - the active controller's writes are appended to the Raft log at the offsets it chose,
//!   and each answer waits until the quorum's high watermark passes its batch
//!   (`ControllerWriteEvent` completes on commit);
//! - losing leadership renounces (`QuorumController.renounce`): the uncommitted writes and
//!   their pending answers are dropped, and callers get NOT_CONTROLLER.
//!
//! The node also emits what a learner should see of the metadata log: quorum elections and
//! high watermarks, and, from the active controller as its records commit, brokers
//! registered, fenced and unfenced, and partition leaders elected.

use super::controller::{ControllerConfig, ControllerWrite, QuorumController, TickAction};
use super::image::MetadataImage;
use super::partition_change::LeaderRecoveryState;
use super::raft::{
    broker_of_observer, combined_broker_observer_id, EntryBody, QuorumConfig, RaftDisk, RaftEvent,
    RaftNodeId, RaftOutput, RaftReplica, RaftRole, RaftTimer, ResignReason,
};
use super::records::{ApiError, MetadataRecord, METADATA_VERSION_FEATURE};
use super::replication_control::ElectionType;
use crate::actor::{Actor, Output};
use crate::event::{ElectionReason, Event, QuorumResignReason};
use crate::protocol::{
    ControllerRequest, ControllerResponse, ElectLeadersRequest, ElectLeadersResponse, Message,
};
use crate::types::{BrokerId, ErrorCode, NodeId};
use std::collections::{BTreeSet, VecDeque};

/// How a controller node is set up: the quorum, the controller's rules and the features a
/// freshly formatted cluster starts with (`kafka-storage.sh format`'s bootstrap records).
#[derive(Clone, Debug)]
pub struct ControllerNodeConfig {
    /// `controller.quorum.voters`: every controller's node id.
    pub voters: Vec<BrokerId>,
    pub quorum: QuorumConfig,
    pub controller: ControllerConfig,
    /// Feature levels the first active controller writes into an empty log.
    pub bootstrap_features: Vec<(String, i16)>,
    /// `metadata.log.max.snapshot.interval.ms` (1 hour): a snapshot is written once this
    /// long has passed since the last one and new records commit. `None` is 0: no
    /// time-based snapshots.
    pub snapshot_interval_ms: Option<u64>,
}

/// `metadata.log.max.snapshot.interval.ms`'s default: one hour.
pub const DEFAULT_SNAPSHOT_INTERVAL_MS: u64 = 3_600_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControllerNodeTimer {
    Raft(RaftTimer),
    /// The controller's deferred work is due (`QuorumController`'s periodic tasks).
    Tick {
        at_ms: u64,
    },
}

/// Why the active controller wrote a batch: what a leader it elects is told as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteCause {
    Election(ElectionReason),
    /// A leader's AlterPartition: the ISR change is the leader's own, and it tells it.
    AlterPartition,
    /// A broker missed its heartbeats for the session timeout.
    Fence {
        timeout_ms: u64,
    },
    /// A `NoOpRecord` of an idle log: it changes nothing.
    Idle,
}

/// A batch written and not yet committed, with the answer waiting for it.
#[derive(Clone, Debug)]
struct PendingWrite {
    /// The high watermark at which the answer may go.
    commit_offset: u64,
    reply: Option<(NodeId, Message)>,
}

/// One controller node: a quorum voter and, while it leads, the active controller.
pub struct ControllerNode {
    id: BrokerId,
    config: ControllerNodeConfig,
    raft: RaftReplica<MetadataRecord>,
    controller: QuorumController,
    /// The epoch this node won and has not claimed yet (waiting for its epoch to commit).
    claim: Option<i32>,
    pending: VecDeque<PendingWrite>,
    /// The causes of writes, by the offset range they cover, until they commit.
    causes: VecDeque<(u64, u64, WriteCause)>,
    /// The earliest tick timer set and not fired yet.
    tick_at_ms: Option<u64>,
    /// When the `SnapshotGenerator` last wrote or loaded a snapshot, or started.
    last_snapshot_ms: u64,
}

impl ControllerNode {
    /// A node starting (or restarting) from `disk`.
    pub fn new(
        id: BrokerId,
        config: ControllerNodeConfig,
        disk: RaftDisk<MetadataRecord>,
        seed: u64,
    ) -> ControllerNode {
        assert!(
            config.voters.contains(&id),
            "controller {id} is one of the voters {:?}",
            config.voters
        );
        let raft = RaftReplica::new(
            id,
            config.voters.iter().copied(),
            config.quorum.clone(),
            disk,
            seed,
        );
        let controller = QuorumController::new(config.controller.clone());
        ControllerNode {
            id,
            config,
            raft,
            controller,
            claim: None,
            pending: VecDeque::new(),
            causes: VecDeque::new(),
            tick_at_ms: None,
            last_snapshot_ms: 0,
        }
    }

    pub fn id(&self) -> BrokerId {
        self.id
    }

    pub fn raft(&self) -> &RaftReplica<MetadataRecord> {
        &self.raft
    }

    pub fn into_disk(self) -> RaftDisk<MetadataRecord> {
        self.raft.into_disk()
    }

    /// Whether this node is the active controller.
    pub fn is_active(&self) -> bool {
        self.controller.is_active()
    }

    /// The metadata as of the last committed record this node replayed.
    pub fn committed_image(&self) -> &MetadataImage {
        self.controller.committed_image()
    }

    /// The process a quorum peer is: a voter is a controller node; any other id is a
    /// broker's observer, the broker role of a combined node under its own observer id.
    fn node_of(&self, raft_id: RaftNodeId) -> NodeId {
        match self.config.voters.contains(&raft_id) {
            true => NodeId::Controller(raft_id),
            false => NodeId::Broker(broker_of_observer(raft_id)),
        }
    }

    /// The quorum id a message from `from` speaks under: a controller's node id, or a
    /// broker's observer id, which for the broker role of a combined node (a broker whose
    /// id is a voter's, `process.roles=broker,controller`) is not the voter's own.
    fn raft_id_of(&self, from: NodeId) -> RaftNodeId {
        match from {
            NodeId::Controller(id) => id,
            NodeId::Broker(id) if self.config.voters.contains(&id) => {
                combined_broker_observer_id(id)
            }
            NodeId::Broker(id) => id,
            other => unreachable!("a quorum message from {other}"),
        }
    }

    /// Carries out the quorum's output: its messages, timers and events.
    fn absorb_raft(
        &mut self,
        raft_out: RaftOutput<MetadataRecord>,
        out: &mut Output<ControllerNodeTimer>,
    ) {
        let RaftOutput {
            messages,
            timers,
            events,
        } = raft_out;
        for (to, message) in messages {
            out.send(self.node_of(to), Message::Raft(message));
        }
        for (delay_ms, timer) in timers {
            out.timer(delay_ms, ControllerNodeTimer::Raft(timer));
        }
        for event in events {
            self.on_raft_event(event, out);
        }
    }

    fn on_raft_event(&mut self, event: RaftEvent, out: &mut Output<ControllerNodeTimer>) {
        let node_id = self.id;
        match event {
            RaftEvent::BecameProspective { epoch } => out.event(Event::QuorumElectionStarted {
                node_id,
                epoch,
                pre_vote: true,
            }),
            RaftEvent::BecameCandidate { epoch } => out.event(Event::QuorumElectionStarted {
                node_id,
                epoch,
                pre_vote: false,
            }),
            RaftEvent::ElectedLeader { epoch, votes } => {
                out.event(Event::QuorumLeaderElected {
                    node_id,
                    epoch,
                    votes,
                });
                self.claim = Some(epoch);
            }
            RaftEvent::Resigned { epoch, why } => out.event(Event::QuorumLeaderResigned {
                node_id,
                epoch,
                reason: match why {
                    ResignReason::CheckQuorum => QuorumResignReason::CheckQuorum,
                    ResignReason::Shutdown => QuorumResignReason::Shutdown,
                },
            }),
            RaftEvent::Truncated { from, to } => out.event(Event::QuorumTruncated {
                node_id,
                from_log_end_offset: from,
                to_offset: to,
                high_watermark: self.raft.high_watermark(),
                power_loss: false,
            }),
            RaftEvent::HighWatermark { hw } => out.event(Event::QuorumHighWatermark {
                node_id,
                is_leader: self.raft.role() == RaftRole::Leader,
                high_watermark: hw,
                epochs: self.raft.log().epoch_starts_below(hw),
                log_start_offset: self.raft.log().log_start_offset(),
            }),
            RaftEvent::SnapshotFetched {
                id,
                from,
                log_end_offset_before,
            } => out.event(Event::QuorumSnapshotFetched {
                node_id,
                broker: false,
                from,
                end_offset: id.end_offset,
                epoch: id.epoch,
                log_end_offset_before,
            }),
            RaftEvent::LogStartMoved { log_start_offset } => {
                out.event(Event::QuorumLogStartMoved {
                    node_id,
                    log_start_offset,
                })
            }
            RaftEvent::BecameUnattached { .. } | RaftEvent::BecameFollower { .. } => {}
        }
    }

    /// After every input: leadership lost or gained, committed records replayed, answers
    /// whose batch committed sent, the next tick set.
    fn sync(&mut self, now_ms: u64, out: &mut Output<ControllerNodeTimer>) {
        if self.controller.is_active() && !self.leads_epoch_claimed() {
            self.renounce(out);
        }
        if self.raft.role() != RaftRole::Leader {
            self.claim = None;
        }
        self.deliver_committed(now_ms, out);
        self.maybe_claim(now_ms, out);
        // The claim's own writes may have committed at once (a lone voter).
        self.deliver_committed(now_ms, out);
        let hw = self.raft.high_watermark();
        while self.pending.front().is_some_and(|p| p.commit_offset <= hw) {
            let done = self.pending.pop_front().expect("a pending write");
            if let Some((to, reply)) = done.reply {
                out.send(to, reply);
            }
        }
        self.schedule_tick(now_ms, out);
    }

    /// Hands the controller a snapshot to load, if the quorum has one for it
    /// (`handleLoadSnapshot`), then every newly committed record (`handleCommit`); then
    /// the `SnapshotGenerator` may write a snapshot.
    fn deliver_committed(&mut self, now_ms: u64, out: &mut Output<ControllerNodeTimer>) {
        let committed = self.raft.take_committed();
        if let Some(snapshot) = &committed.snapshot {
            self.controller
                .load_snapshot(snapshot.id.end_offset, &snapshot.records);
            // `SnapshotGenerator.publishSnapshot` resets its counters.
            self.last_snapshot_ms = now_ms;
        }
        let delta = !committed.entries.is_empty();
        for (offset, entry) in committed.entries {
            if let EntryBody::Data(record) = entry.body {
                self.replay_committed(offset, &record, out);
            }
        }
        if delta {
            self.maybe_snapshot(now_ms, out);
        }
    }

    /// `SnapshotGenerator.publishLogDelta`, its time rule: once
    /// `metadata.log.max.snapshot.interval.ms` has passed since the last snapshot, the
    /// committed image is written as a snapshot at the high watermark (the byte rule,
    /// `metadata.log.max.record.bytes.between.snapshots`, is not modelled).
    fn maybe_snapshot(&mut self, now_ms: u64, out: &mut Output<ControllerNodeTimer>) {
        let Some(interval_ms) = self.config.snapshot_interval_ms else {
            return;
        };
        if now_ms.saturating_sub(self.last_snapshot_ms) < interval_ms {
            return;
        }
        self.last_snapshot_ms = now_ms;
        let end_offset = self.raft.high_watermark();
        let records = self.controller.committed_image().to_records();
        if let Some(id) = self.raft.create_snapshot(end_offset, records) {
            out.event(Event::QuorumSnapshotCreated {
                node_id: self.id,
                end_offset: id.end_offset,
                epoch: id.epoch,
            });
        }
    }

    fn leads_epoch_claimed(&self) -> bool {
        self.raft.role() == RaftRole::Leader
    }

    /// `QuorumController.renounce`: pending answers become NOT_CONTROLLER.
    fn renounce(&mut self, out: &mut Output<ControllerNodeTimer>) {
        self.controller.renounce();
        self.causes.clear();
        for pending in std::mem::take(&mut self.pending) {
            if let Some((to, reply)) = pending.reply {
                out.send(to, not_controller(reply));
            }
        }
    }

    /// Claims leadership once the epoch's own entry is committed and every earlier record
    /// replayed.
    fn maybe_claim(&mut self, now_ms: u64, out: &mut Output<ControllerNodeTimer>) {
        let Some(epoch) = self.claim else {
            return;
        };
        if self.raft.epoch() != epoch || self.raft.leader_high_watermark().is_none() {
            return;
        }
        self.claim = None;
        self.controller
            .activate(now_ms, self.raft.log().end_offset());
        let bootstrapped = self
            .controller
            .image()
            .features
            .contains_key(METADATA_VERSION_FEATURE);
        if !bootstrapped {
            let features: Vec<(&str, i16)> = self
                .config
                .bootstrap_features
                .iter()
                .map(|(name, level)| (name.as_str(), *level))
                .collect();
            let write = self
                .controller
                .set_features(now_ms, &features)
                .expect("the controller just activated");
            self.append(
                now_ms,
                write,
                WriteCause::Election(ElectionReason::NewPartition),
                None,
                out,
            );
        }
    }

    /// A committed record: replayed, and told by the active controller.
    fn replay_committed(
        &mut self,
        offset: u64,
        record: &MetadataRecord,
        out: &mut Output<ControllerNodeTimer>,
    ) {
        if !self.controller.is_active() {
            self.controller.replay_committed(offset, record);
            return;
        }
        let before = Before::of(self.controller.committed_image(), record);
        self.controller.replay_committed(offset, record);
        while self
            .causes
            .front()
            .is_some_and(|&(_, end, _)| end <= offset)
        {
            self.causes.pop_front();
        }
        let cause = self
            .causes
            .front()
            .filter(|&&(start, _, _)| start <= offset)
            .map(|&(_, _, cause)| cause)
            .unwrap_or(WriteCause::Election(ElectionReason::ControllerFailover));
        let after = self.controller.committed_image();
        for event in committed_events(before, after, record, cause, self.raft.epoch()) {
            out.event(event);
        }
    }

    /// Appends a write to the Raft log and queues its answer for when it commits.
    fn append(
        &mut self,
        now_ms: u64,
        write: ControllerWrite<()>,
        cause: WriteCause,
        reply: Option<(NodeId, Message)>,
        out: &mut Output<ControllerNodeTimer>,
    ) {
        let commit_offset = write.commit_offset();
        if !write.records.is_empty() {
            let mut raft_out = RaftOutput::default();
            match self.raft.append(now_ms, write.records, &mut raft_out) {
                Ok((first, last)) => {
                    assert_eq!(
                        (first, last + 1),
                        (write.base_offset, commit_offset),
                        "the controller's records land at the offsets it chose"
                    );
                    self.causes.push_back((first, last + 1, cause));
                }
                Err(_) => unreachable!("an active controller leads the quorum"),
            }
            self.absorb_raft(raft_out, out);
        }
        self.pending.push_back(PendingWrite {
            commit_offset,
            reply,
        });
    }

    /// A request for the active controller. A standby answers NOT_CONTROLLER: every
    /// `QuorumController` operation refuses so when it is not active.
    fn on_controller_request(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<ControllerNodeTimer>,
    ) {
        match message {
            Message::BrokerRegistration(ControllerRequest {
                correlation_id,
                body,
            }) => {
                let result = self.controller.register_broker(now_ms, &body);
                // A registration batch changes partitions only through the unclean-shutdown
                // handling of a new incarnation.
                let cause = WriteCause::Election(ElectionReason::UncleanRestart);
                let reply = (
                    from,
                    correlation_id,
                    Message::BrokerRegistrationResponse as fn(_) -> _,
                );
                self.answer(now_ms, result, cause, reply, out);
            }
            Message::BrokerHeartbeat(ControllerRequest {
                correlation_id,
                body,
            }) => {
                let result = self.controller.heartbeat(now_ms, &body);
                let reason = match body.want_shut_down {
                    true => ElectionReason::ControlledShutdown,
                    false => ElectionReason::BrokerReturned,
                };
                let reply = (
                    from,
                    correlation_id,
                    Message::BrokerHeartbeatResponse as fn(_) -> _,
                );
                self.answer(now_ms, result, WriteCause::Election(reason), reply, out);
            }
            Message::AlterPartition(ControllerRequest {
                correlation_id,
                body,
            }) => {
                let result = self.controller.alter_partition(now_ms, &body);
                let reply = (
                    from,
                    correlation_id,
                    Message::AlterPartitionResponse as fn(_) -> _,
                );
                self.answer(now_ms, result, WriteCause::AlterPartition, reply, out);
            }
            Message::CreateTopics(ControllerRequest {
                correlation_id,
                body,
            }) => {
                let result = self.controller.create_topic(now_ms, &body);
                let cause = WriteCause::Election(ElectionReason::NewPartition);
                let reply = (
                    from,
                    correlation_id,
                    Message::CreateTopicsResponse as fn(_) -> _,
                );
                self.answer(now_ms, result, cause, reply, out);
            }
            Message::ElectLeaders(request) => self.on_elect_leaders(now_ms, from, request, out),
            other => unreachable!("not a request for the controller: {other:?}"),
        }
    }

    /// Answers a request: a write's answer once its records commit, a refusal at once.
    /// `reply` is who asked, the request's correlation id and its response message.
    fn answer<R>(
        &mut self,
        now_ms: u64,
        result: Result<ControllerWrite<R>, ApiError>,
        cause: WriteCause,
        reply: (NodeId, u64, fn(ControllerResponse<R>) -> Message),
        out: &mut Output<ControllerNodeTimer>,
    ) {
        let (to, correlation_id, response) = reply;
        match result {
            Ok(write) => {
                let (write, answer) = split(write);
                let reply = response(ControllerResponse {
                    correlation_id,
                    result: Ok(answer),
                });
                self.append(now_ms, write, cause, Some((to, reply)), out);
            }
            Err(error) => out.send(
                to,
                response(ControllerResponse {
                    correlation_id,
                    result: Err(error),
                }),
            ),
        }
    }

    /// `kafka-leader-election.sh --election-type PREFERRED` (KIP-460), answered once the
    /// elections are committed.
    fn on_elect_leaders(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: ElectLeadersRequest,
        out: &mut Output<ControllerNodeTimer>,
    ) {
        let ElectLeadersRequest {
            election_type,
            partitions,
        } = request;
        let kind = match election_type {
            crate::protocol::ElectionType::Preferred => ElectionType::Preferred,
        };
        let write = match self
            .controller
            .elect_leaders(now_ms, kind, partitions.as_deref())
        {
            Ok(write) => write,
            Err(error) => {
                let refusal = ElectLeadersResponse {
                    error: error.error_code().expect("NOT_CONTROLLER has a code"),
                    results: Vec::new(),
                };
                out.send(from, Message::ElectLeadersResponse(refusal));
                return;
            }
        };
        let (write, elections) = split(write);
        let results: Vec<(crate::types::TopicPartition, ErrorCode)> = elections
            .into_iter()
            .map(|(tp, result)| {
                let error = match result {
                    Ok(()) => ErrorCode::None,
                    Err(e) => e.error_code().unwrap_or(ErrorCode::InvalidUpdateVersion),
                };
                (tp, error)
            })
            .collect();
        out.event(Event::LeaderElectionRequested {
            controller: self.id,
            election_type,
            results: results.clone(),
        });
        let reply = Message::ElectLeadersResponse(ElectLeadersResponse {
            error: ErrorCode::None,
            results,
        });
        let cause = WriteCause::Election(ElectionReason::AdminPreferred);
        self.append(now_ms, write, cause, Some((from, reply)), out);
    }

    /// The controller's periodic work, each write its own batch.
    fn on_tick(&mut self, now_ms: u64, out: &mut Output<ControllerNodeTimer>) {
        let timeout_ms = self.controller.config().session_timeout_ms;
        for write in self.controller.on_tick(now_ms) {
            let cause = match write.response {
                TickAction::Fenced(_) => WriteCause::Fence { timeout_ms },
                TickAction::BalancedLeaders => {
                    WriteCause::Election(ElectionReason::PreferredReplica)
                }
                TickAction::UncleanLeadersElected => {
                    WriteCause::Election(ElectionReason::BrokerReturned)
                }
                TickAction::NoOp => WriteCause::Idle,
            };
            let (write, _) = split(write);
            self.append(now_ms, write, cause, None, out);
        }
    }

    fn schedule_tick(&mut self, now_ms: u64, out: &mut Output<ControllerNodeTimer>) {
        let Some(at_ms) = self.controller.next_deadline_ms() else {
            return;
        };
        if self.tick_at_ms.is_some_and(|t| t <= at_ms && t >= now_ms) {
            return;
        }
        self.tick_at_ms = Some(at_ms);
        out.timer(
            at_ms.saturating_sub(now_ms),
            ControllerNodeTimer::Tick { at_ms },
        );
    }
}

/// A write and its typed answer, apart: the answer is built into a reply before the
/// records are appended.
fn split<R>(write: ControllerWrite<R>) -> (ControllerWrite<()>, R) {
    let ControllerWrite {
        base_offset,
        records,
        response,
    } = write;
    let write = ControllerWrite {
        base_offset,
        records,
        response: (),
    };
    (write, response)
}

/// A prepared answer turned into NOT_CONTROLLER (its write was never committed).
fn not_controller(reply: Message) -> Message {
    fn fail<T>(r: ControllerResponse<T>) -> ControllerResponse<T> {
        ControllerResponse {
            correlation_id: r.correlation_id,
            result: Err(ApiError::NotController),
        }
    }
    match reply {
        Message::BrokerRegistrationResponse(r) => Message::BrokerRegistrationResponse(fail(r)),
        Message::BrokerHeartbeatResponse(r) => Message::BrokerHeartbeatResponse(fail(r)),
        Message::AlterPartitionResponse(r) => Message::AlterPartitionResponse(fail(r)),
        Message::CreateTopicsResponse(r) => Message::CreateTopicsResponse(fail(r)),
        Message::ElectLeadersResponse(_) => Message::ElectLeadersResponse(ElectLeadersResponse {
            error: ErrorCode::NotController,
            results: Vec::new(),
        }),
        other => other,
    }
}

/// What the image held, before a record, of what the record changes (cheaper than a copy
/// of the whole image).
enum Before {
    Broker { fenced: Option<bool> },
    Partition(Option<super::PartitionRegistration>),
    Other,
}

impl Before {
    fn of(image: &MetadataImage, record: &MetadataRecord) -> Before {
        if let Some(tp) = record.partition() {
            return Before::Partition(image.partition(tp).cloned());
        }
        match record {
            MetadataRecord::BrokerRegistrationChange { broker, .. } => Before::Broker {
                fenced: image.brokers.get(broker).map(|b| b.fenced),
            },
            _ => Before::Other,
        }
    }
}

/// The change put the partition into RECOVERING: an unclean election just happened.
fn newly_recovering(
    prev: Option<&super::PartitionRegistration>,
    next: &super::PartitionRegistration,
) -> bool {
    next.leader_recovery_state == LeaderRecoveryState::Recovering
        && prev.is_none_or(|p| p.leader_recovery_state != LeaderRecoveryState::Recovering)
}

/// What a committed record changed, in events: registrations, fencing, leaders.
fn committed_events(
    before: Before,
    after: &MetadataImage,
    record: &MetadataRecord,
    cause: WriteCause,
    quorum_epoch: i32,
) -> Vec<Event> {
    let mut events = Vec::new();
    match record {
        MetadataRecord::RegisterBroker(r) => events.push(Event::KraftBrokerRegistered {
            broker: r.broker,
            broker_epoch: r.broker_epoch,
            fenced: r.fenced,
        }),
        MetadataRecord::BrokerRegistrationChange { broker, fenced, .. } => {
            let Before::Broker { fenced: was } = before else {
                unreachable!("a broker change's before")
            };
            match (was, fenced) {
                (Some(false), Some(true)) => events.push(Event::KraftBrokerFenced {
                    broker: *broker,
                    session_timeout_ms: match cause {
                        WriteCause::Fence { timeout_ms } => Some(timeout_ms),
                        WriteCause::Election(_) | WriteCause::AlterPartition => None,
                        WriteCause::Idle => unreachable!("a NoOpRecord batch fences no broker"),
                    },
                }),
                (Some(true), Some(false)) => {
                    events.push(Event::KraftBrokerUnfenced { broker: *broker })
                }
                _ => {}
            }
        }
        MetadataRecord::Partition {
            topic_partition, ..
        }
        | MetadataRecord::PartitionChange {
            topic_partition, ..
        } => {
            let Before::Partition(prev) = before else {
                unreachable!("a partition record's before")
            };
            let prev = prev.as_ref();
            let next = after
                .partition(topic_partition)
                .expect("a replayed partition is in the image");
            let leader_moved = prev.is_none_or(|p| p.leader_epoch != next.leader_epoch);
            let removed: Vec<BrokerId> = prev
                .map(|p| {
                    p.isr
                        .iter()
                        .copied()
                        .filter(|r| !next.isr.contains(r))
                        .collect()
                })
                .unwrap_or_default();
            let controller_shrank = !leader_moved
                && !removed.is_empty()
                && !matches!(cause, WriteCause::AlterPartition);
            if controller_shrank {
                // The controller took replicas of fenced (or shutting-down) brokers out of
                // the ISR without a new leader epoch (from metadata version 3.6).
                events.push(Event::ControllerShrunkIsr {
                    tp: topic_partition.clone(),
                    leader: next.leader,
                    leader_epoch: next.leader_epoch,
                    removed,
                    isr: next.isr.clone(),
                    shutting_down: cause
                        == WriteCause::Election(ElectionReason::ControlledShutdown),
                });
            }
            let elr_moved = prev.is_some_and(|p| p.elr != next.elr);
            if elr_moved {
                events.push(Event::EligibleLeaderReplicasChanged {
                    tp: topic_partition.clone(),
                    elr: next.elr.clone(),
                    isr: next.isr.clone(),
                });
            }
            if leader_moved {
                // KIP-966: a leader from the ELR is a clean election (an ELR member holds
                // every committed record); only one from neither set is unclean.
                let prev_isr: BTreeSet<BrokerId> = prev
                    .map(|p| p.isr.iter().chain(&p.elr).copied().collect())
                    .unwrap_or_default();
                let reason = match cause {
                    WriteCause::Election(reason) => reason,
                    WriteCause::Fence { .. } | WriteCause::AlterPartition => {
                        ElectionReason::LeaderFailed
                    }
                    WriteCause::Idle => unreachable!("a NoOpRecord batch elects no leader"),
                };
                let last_known_leader = prev.is_some_and(|p| {
                    newly_recovering(Some(p), next)
                        && p.last_known_elr.len() == 1
                        && next.leader == Some(p.last_known_elr[0])
                });
                let reason = if prev.is_none() {
                    ElectionReason::NewPartition
                } else if last_known_leader {
                    ElectionReason::LastKnownLeader
                } else {
                    reason
                };
                events.push(Event::LeaderElected {
                    tp: topic_partition.clone(),
                    leader: next.leader,
                    previous_leader: prev.and_then(|p| p.leader),
                    leader_epoch: next.leader_epoch,
                    isr: next.isr.clone(),
                    // RECOVERING is the builder's own mark of an unclean election (KIP-704),
                    // the last known leader of KIP-966's balanced recovery included.
                    unclean: prev.is_some()
                        && (newly_recovering(prev, next)
                            || next.leader.is_some_and(|l| !prev_isr.contains(&l))),
                    reason,
                    controller_epoch: quorum_epoch,
                });
            }
        }
        _ => {}
    }
    events
}

impl Actor for ControllerNode {
    type Timer = ControllerNodeTimer;

    fn start(&mut self, now_ms: u64, out: &mut Output<ControllerNodeTimer>) {
        // `SnapshotGenerator`'s counters start with the process.
        self.last_snapshot_ms = now_ms;
        let mut raft_out = RaftOutput::default();
        self.raft.start(now_ms, &mut raft_out);
        self.absorb_raft(raft_out, out);
        self.sync(now_ms, out);
    }

    fn on_message(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<ControllerNodeTimer>,
    ) {
        match message {
            Message::Raft(message) => {
                let raft_from = self.raft_id_of(from);
                let mut raft_out = RaftOutput::default();
                self.raft
                    .on_message(now_ms, raft_from, message, &mut raft_out);
                self.absorb_raft(raft_out, out);
            }
            request @ (Message::BrokerRegistration(_)
            | Message::BrokerHeartbeat(_)
            | Message::AlterPartition(_)
            | Message::CreateTopics(_)
            | Message::ElectLeaders(_)) => self.on_controller_request(now_ms, from, request, out),
            // Connections closing, and anything else a controller is never sent.
            _ => {}
        }
        self.sync(now_ms, out);
    }

    fn on_timer(
        &mut self,
        now_ms: u64,
        timer: ControllerNodeTimer,
        out: &mut Output<ControllerNodeTimer>,
    ) {
        match timer {
            ControllerNodeTimer::Raft(timer) => {
                let mut raft_out = RaftOutput::default();
                self.raft.on_timer(now_ms, timer, &mut raft_out);
                self.absorb_raft(raft_out, out);
            }
            ControllerNodeTimer::Tick { at_ms } => {
                if self.tick_at_ms == Some(at_ms) {
                    self.tick_at_ms = None;
                }
                if self.controller.is_active() {
                    self.on_tick(now_ms, out);
                }
            }
        }
        self.sync(now_ms, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::kraft::records::metadata_version_level;
    use crate::controller::kraft::{BrokerRegistrationRequest, IncarnationId, MetadataVersion};
    use std::collections::BTreeMap;

    /// A lone controller (node 3) and the timers it set, fired in time order.
    struct Lone {
        node: ControllerNode,
        now_ms: u64,
        timers: BTreeMap<(u64, u64), ControllerNodeTimer>,
        seq: u64,
        sent: Vec<(NodeId, Message)>,
        events: Vec<Event>,
    }

    impl Lone {
        fn new() -> Lone {
            let config = ControllerNodeConfig {
                voters: vec![3],
                quorum: QuorumConfig::kafka_3_7(),
                controller: ControllerConfig::default(),
                bootstrap_features: vec![(
                    METADATA_VERSION_FEATURE.to_string(),
                    metadata_version_level(MetadataVersion::V3_7),
                )],
                snapshot_interval_ms: Some(DEFAULT_SNAPSHOT_INTERVAL_MS),
            };
            let mut lone = Lone {
                node: ControllerNode::new(3, config, RaftDisk::new(), 7),
                now_ms: 0,
                timers: BTreeMap::new(),
                seq: 0,
                sent: Vec::new(),
                events: Vec::new(),
            };
            let mut out = Output::default();
            lone.node.start(0, &mut out);
            lone.take(out);
            lone
        }

        fn take(&mut self, out: Output<ControllerNodeTimer>) {
            for (delay_ms, timer) in out.timers {
                self.seq += 1;
                self.timers
                    .insert((self.now_ms + delay_ms, self.seq), timer);
            }
            self.sent.extend(out.messages);
            self.events.extend(out.events);
        }

        /// Fires timers until `done` holds, within ten simulated seconds.
        fn run_until(&mut self, done: impl Fn(&Lone) -> bool) {
            while !done(self) {
                let ((at_ms, seq), timer) = self.timers.pop_first().expect("a timer is set");
                assert!(at_ms < 10_000, "nothing happened within 10 s");
                let _ = seq;
                self.now_ms = at_ms;
                let mut out = Output::default();
                self.node.on_timer(at_ms, timer, &mut out);
                self.take(out);
            }
        }

        fn send(&mut self, from: NodeId, message: Message) {
            let mut out = Output::default();
            self.node.on_message(self.now_ms, from, message, &mut out);
            self.take(out);
        }
    }

    #[test]
    fn a_lone_controller_wins_claims_once_its_epoch_commits_and_bootstraps_the_features() {
        let mut lone = Lone::new();
        lone.run_until(|l| l.node.is_active());
        assert!(lone
            .events
            .iter()
            .any(|e| matches!(e, Event::QuorumLeaderElected { node_id: 3, .. })));
        let image = lone.node.committed_image();
        assert_eq!(
            image.features.get(METADATA_VERSION_FEATURE),
            Some(&metadata_version_level(MetadataVersion::V3_7)),
            "the first active controller writes the bootstrap features"
        );
    }

    #[test]
    fn a_registration_is_answered_with_the_offset_of_its_committed_record() {
        let mut lone = Lone::new();
        lone.run_until(|l| l.node.is_active());
        let expected_epoch = lone.node.raft().log().end_offset();
        lone.send(
            NodeId::Broker(0),
            Message::BrokerRegistration(ControllerRequest {
                correlation_id: 9,
                body: BrokerRegistrationRequest {
                    broker: 0,
                    incarnation: IncarnationId(42),
                    rack: None,
                },
            }),
        );
        let answer = lone.sent.iter().find_map(|(to, m)| match (to, m) {
            (NodeId::Broker(0), Message::BrokerRegistrationResponse(r)) => Some(r.clone()),
            _ => None,
        });
        let answer = answer.expect("a lone voter commits at once and answers");
        assert_eq!(answer.correlation_id, 9);
        assert_eq!(answer.result.map(|r| r.broker_epoch), Ok(expected_epoch));
        assert!(lone.events.iter().any(|e| matches!(
            e,
            Event::KraftBrokerRegistered {
                broker: 0,
                fenced: true,
                ..
            }
        )));
    }

    #[test]
    fn the_broker_role_of_a_combined_node_fetches_as_an_observer_of_its_own() {
        use crate::controller::kraft::raft::RaftMessage;
        let mut lone = Lone::new();
        lone.run_until(|l| l.node.is_active());
        let epoch = lone.node.raft().epoch();
        lone.sent.clear();
        // Broker 3 shares node.id 3 with this controller (process.roles=broker,controller).
        lone.send(
            NodeId::Broker(3),
            Message::Raft(RaftMessage::Fetch {
                epoch,
                fetch_offset: 0,
                last_fetched_epoch: 0,
                replica_id: combined_broker_observer_id(3),
                correlation_id: 5,
            }),
        );
        let answered: Vec<NodeId> = lone
            .sent
            .iter()
            .filter(|(_, m)| matches!(m, Message::Raft(RaftMessage::FetchResponse(_))))
            .map(|(to, _)| *to)
            .collect();
        assert_eq!(
            answered,
            vec![NodeId::Broker(3)],
            "the answer goes to the broker role, not back to the voter"
        );
        assert_eq!(broker_of_observer(combined_broker_observer_id(3)), 3);
        assert_eq!(
            broker_of_observer(7),
            7,
            "a dedicated broker's id is its own"
        );
    }

    #[test]
    fn a_controller_that_does_not_lead_answers_not_controller() {
        let mut lone = Lone::new();
        assert!(!lone.node.is_active());
        lone.send(
            NodeId::Broker(0),
            Message::BrokerRegistration(ControllerRequest {
                correlation_id: 1,
                body: BrokerRegistrationRequest {
                    broker: 0,
                    incarnation: IncarnationId(1),
                    rack: None,
                },
            }),
        );
        assert!(lone.sent.iter().any(|(_, m)| matches!(
            m,
            Message::BrokerRegistrationResponse(ControllerResponse {
                result: Err(ApiError::NotController),
                ..
            })
        )));
    }
}
