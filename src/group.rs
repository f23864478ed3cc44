//! The group coordinator: Kafka's classic consumer-group protocol, hosted by a broker.
//!
//! Every group lives in one partition of `__consumer_offsets`, chosen by
//! [`offsets_partition_for`]. The broker that leads that partition coordinates the group. That
//! one rule is why consumer groups survive broker failures the same way records do: the
//! group's committed offsets and its last assignment are records in a replicated partition,
//! written with `acks=all`, and when leadership of the partition moves, the new leader reads
//! the partition back ("loads" it) before it answers for the group. Until the read finishes it
//! answers `COORDINATOR_LOAD_IN_PROGRESS`; a broker that does not lead the partition answers
//! `NOT_COORDINATOR`.
//!
//! A group moves through Kafka's states:
//!
//! ```text
//! Empty --join--> PreparingRebalance --all joined / rebalance timeout--> CompletingRebalance
//!   ^                    ^                                                  | leader's SyncGroup
//!   |                    +-- join, leave, session expiry -------- Stable <--+ (written to the log)
//!   +-- last member gone
//! ```
//!
//! Each completed join round starts a new generation. Members name their generation in every
//! SyncGroup, Heartbeat and OffsetCommit, and a request from an older generation is refused with
//! `ILLEGAL_GENERATION`: that is what stops a member that was thrown out (a long GC pause, a
//! network partition) from committing over the partitions' new owners.
//!
//! The coordinator is a plain state machine like the rest of the model. It does not append to
//! the log itself: it hands the broker [`PendingAppend`]s, and the broker appends them as leader
//! through the same replication path a producer's `acks=all` request takes, and reports back
//! with [`GroupCoordinator::on_append_done`].

use crate::actor::Output;
use crate::assignor::Strategy;
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;
use std::collections::BTreeMap;

/// How long reading a `__consumer_offsets` partition takes. Kafka reads it on a background
/// thread; here it is a fixed delay, long enough that clients can see the
/// `COORDINATOR_LOAD_IN_PROGRESS` window.
pub const LOAD_DELAY_MS: u64 = 50;

/// The separator of the fields of a `__consumer_offsets` record key or value. Kafka encodes
/// these records with a versioned binary schema; the simulator keeps them readable.
const FIELD_SEPARATOR: char = '\u{1f}';

/// The coordinator's broker-level settings.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    pub offsets_topic_num_partitions: u32,
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: u64,
    pub group_max_session_timeout_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupTimer {
    /// Reading a partition that this broker began to lead in `leader_epoch` is done.
    LoadDone {
        partition: u32,
        leader_epoch: LeaderEpoch,
    },
    /// The join phase of rebalance `round` of a group ends (initial delay or rebalance
    /// timeout).
    JoinDeadline { group: String, round: u64 },
    /// A member's session may have expired.
    SessionCheck { group: String, member: String },
}

/// A record the coordinator needs appended to its partition of `__consumer_offsets`.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingAppend {
    pub append_id: u64,
    pub partition: u32,
    pub records: Vec<(String, String)>,
}

/// What the coordinator asks of its broker after one input.
#[derive(Debug, Default)]
pub struct CoordinatorIo {
    pub out: Output<GroupTimer>,
    pub appends: Vec<PendingAppend>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client: Option<NodeId>,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub protocols: Vec<Strategy>,
    pub subscription: Subscription,
    pub assignment: Vec<TopicPartition>,
    /// A JoinGroup waiting for the round to complete: its correlation id.
    awaiting_join: Option<u64>,
    /// A SyncGroup waiting for the leader's assignment: its correlation id.
    awaiting_sync: Option<u64>,
    last_heartbeat_ms: u64,
    /// Join order: the first member to join leads the group.
    join_seq: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub group_id: String,
    pub partition: u32,
    pub state: GroupState,
    pub generation: i32,
    pub protocol: Option<Strategy>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    pub offsets: BTreeMap<TopicPartition, u64>,
    round: u64,
    /// `group.initial.rebalance.delay.ms` is running: an empty group waits for more members.
    initial_delay: Option<InitialDelay>,
    next_join_seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct InitialDelay {
    /// Time left of the rebalance timeout for further delays.
    remaining_ms: u64,
    new_member_joined: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum AppendPurpose {
    Commit {
        group: String,
        member: String,
        generation: i32,
        offsets: Vec<(TopicPartition, u64)>,
        reply_to: NodeId,
        correlation_id: u64,
    },
    Assignment {
        group: String,
        generation: i32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartitionLoad {
    Loading(LeaderEpoch),
    Loaded(LeaderEpoch),
}

pub struct GroupCoordinator {
    broker: BrokerId,
    config: CoordinatorConfig,
    partitions: BTreeMap<u32, PartitionLoad>,
    groups: BTreeMap<String, Group>,
    pending: BTreeMap<u64, AppendPurpose>,
    next_append_id: u64,
    /// Member ids handed out in each (partition, leader epoch): unique across coordinators.
    next_member_number: u64,
}

impl GroupCoordinator {
    pub fn new(broker: BrokerId, config: CoordinatorConfig) -> GroupCoordinator {
        assert!(config.offsets_topic_num_partitions > 0);
        GroupCoordinator {
            broker,
            config,
            partitions: BTreeMap::new(),
            groups: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_append_id: 0,
            next_member_number: 0,
        }
    }

    pub fn partition_for(&self, group_id: &str) -> u32 {
        offsets_partition_for(group_id, self.config.offsets_topic_num_partitions)
    }

    pub fn groups(&self) -> &BTreeMap<String, Group> {
        &self.groups
    }

    /// Whether this broker answers for the group now.
    fn check_coordinator(&self, group_id: &str) -> Result<LeaderEpoch, ErrorCode> {
        match self.partitions.get(&self.partition_for(group_id)) {
            Some(PartitionLoad::Loaded(epoch)) => Ok(*epoch),
            Some(PartitionLoad::Loading(_)) => Err(ErrorCode::CoordinatorLoadInProgress),
            None => Err(ErrorCode::NotCoordinator),
        }
    }

    // ---- leadership of `__consumer_offsets` partitions ----

    /// The broker became leader of an offsets partition: read it before answering.
    pub fn on_election(
        &mut self,
        partition: u32,
        leader_epoch: LeaderEpoch,
        io: &mut CoordinatorIo,
    ) {
        match self.partitions.get(&partition) {
            // Still the leader in a newer epoch: the groups in memory are current.
            Some(PartitionLoad::Loaded(_)) => {
                self.partitions
                    .insert(partition, PartitionLoad::Loaded(leader_epoch));
                return;
            }
            Some(PartitionLoad::Loading(_)) => return,
            None => {}
        }
        self.partitions
            .insert(partition, PartitionLoad::Loading(leader_epoch));
        io.out.event(Event::GroupLoadStarted {
            broker: self.broker,
            partition,
            leader_epoch,
        });
        io.out.timer(
            LOAD_DELAY_MS,
            GroupTimer::LoadDone {
                partition,
                leader_epoch,
            },
        );
    }

    /// The broker no longer leads an offsets partition: drop its groups. Members find the new
    /// coordinator when their next request is answered with `NOT_COORDINATOR`.
    pub fn on_resignation(&mut self, partition: u32, io: &mut CoordinatorIo) {
        if self.partitions.remove(&partition).is_none() {
            return;
        }
        let dropped: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.partition == partition)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &dropped {
            let group = self.groups.remove(id).expect("listed");
            for m in group.members.values() {
                let Some(client) = m.client else { continue };
                if let Some(correlation_id) = m.awaiting_join {
                    io.out.send(
                        client,
                        join_error(correlation_id, ErrorCode::NotCoordinator),
                    );
                }
                if let Some(correlation_id) = m.awaiting_sync {
                    io.out.send(
                        client,
                        sync_error(correlation_id, ErrorCode::NotCoordinator),
                    );
                }
            }
        }
        io.out.event(Event::GroupsUnloaded {
            broker: self.broker,
            partition,
            groups: dropped,
        });
    }

    /// The read of a partition finished: rebuild its groups from the records, in log order.
    pub fn finish_load(
        &mut self,
        now_ms: u64,
        partition: u32,
        leader_epoch: LeaderEpoch,
        records: &[Record],
        io: &mut CoordinatorIo,
    ) {
        if self.partitions.get(&partition) != Some(&PartitionLoad::Loading(leader_epoch)) {
            return; // Leadership moved on while reading.
        }
        let mut loaded: BTreeMap<String, Group> = BTreeMap::new();
        let mut offsets = 0u32;
        for r in records {
            let Some(key) = &r.key else { continue };
            match GroupRecord::decode(key, &r.value) {
                Some(GroupRecord::Offset { group, tp, offset }) => {
                    offsets += 1;
                    loaded
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(group, partition))
                        .offsets
                        .insert(tp, offset);
                }
                Some(GroupRecord::Metadata(meta)) => {
                    let group = loaded
                        .entry(meta.group.clone())
                        .or_insert_with(|| Group::new(meta.group.clone(), partition));
                    group.apply_metadata(meta);
                }
                None => {
                    debug_assert!(false, "an undecodable record in __consumer_offsets: {key}");
                }
            }
        }
        let mut summary = Vec::new();
        for (id, mut group) in loaded {
            // Members carried over keep their generation; they must heartbeat to this broker
            // within their session timeout or be removed.
            for m in group.members.values_mut() {
                m.last_heartbeat_ms = now_ms;
                io.out.timer(
                    m.session_timeout_ms,
                    GroupTimer::SessionCheck {
                        group: id.clone(),
                        member: m.member_id.clone(),
                    },
                );
            }
            summary.push((id.clone(), group.generation));
            self.groups.insert(id, group);
        }
        self.partitions
            .insert(partition, PartitionLoad::Loaded(leader_epoch));
        io.out.event(Event::GroupsLoaded {
            broker: self.broker,
            partition,
            groups: summary,
            offsets,
        });
    }

    // ---- requests ----

    #[allow(clippy::too_many_arguments)]
    pub fn on_join_group(
        &mut self,
        now_ms: u64,
        from: NodeId,
        correlation_id: u64,
        group_id: String,
        member_id: String,
        group_instance_id: Option<String>,
        session_timeout_ms: u64,
        rebalance_timeout_ms: u64,
        protocols: Vec<Strategy>,
        subscription: Subscription,
        client_id: &str,
        io: &mut CoordinatorIo,
    ) {
        let epoch = match self.check_coordinator(&group_id) {
            Ok(epoch) => epoch,
            Err(e) => return io.out.send(from, join_error(correlation_id, e)),
        };
        if session_timeout_ms < self.config.group_min_session_timeout_ms
            || session_timeout_ms > self.config.group_max_session_timeout_ms
        {
            return io.out.send(
                from,
                join_error(correlation_id, ErrorCode::InvalidSessionTimeout),
            );
        }
        if protocols.is_empty() {
            return io.out.send(
                from,
                join_error(correlation_id, ErrorCode::InconsistentGroupProtocol),
            );
        }
        let partition = self.partition_for(&group_id);
        if !member_id.is_empty() && !self.groups.contains_key(&group_id) {
            return io
                .out
                .send(from, join_error(correlation_id, ErrorCode::UnknownMemberId));
        }
        let group = self
            .groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(group_id.clone(), partition));
        if !group.members.is_empty()
            && !group.members.contains_key(&member_id)
            && !protocols.iter().any(|p| group.supports(*p))
        {
            return io.out.send(
                from,
                join_error(correlation_id, ErrorCode::InconsistentGroupProtocol),
            );
        }
        if member_id.is_empty() {
            self.next_member_number += 1;
            let new_id = format!("{client_id}-{epoch}.{}", self.next_member_number);
            let join_seq = group.next_join_seq;
            group.next_join_seq += 1;
            group.members.insert(
                new_id.clone(),
                Member {
                    member_id: new_id.clone(),
                    group_instance_id,
                    client: Some(from),
                    session_timeout_ms,
                    rebalance_timeout_ms,
                    protocols,
                    subscription,
                    assignment: Vec::new(),
                    awaiting_join: Some(correlation_id),
                    awaiting_sync: None,
                    last_heartbeat_ms: now_ms,
                    join_seq,
                },
            );
            if let Some(delay) = group.initial_delay.as_mut() {
                delay.new_member_joined = true;
            }
            let reason = format!("{new_id} joined");
            self.prepare_or_complete(now_ms, &group_id, &reason, io);
            return;
        }
        let Some(member) = group.members.get_mut(&member_id) else {
            return io
                .out
                .send(from, join_error(correlation_id, ErrorCode::UnknownMemberId));
        };
        let unchanged = member.protocols == protocols && member.subscription == subscription;
        member.client = Some(from);
        member.session_timeout_ms = session_timeout_ms;
        member.rebalance_timeout_ms = rebalance_timeout_ms;
        member.protocols = protocols;
        member.subscription = subscription;
        member.awaiting_join = Some(correlation_id);
        member.last_heartbeat_ms = now_ms;
        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
        match group.state {
            GroupState::CompletingRebalance | GroupState::Stable if unchanged && !is_leader => {
                // Nothing changed: answer with the current generation (a lost JoinGroup
                // response, a retry), without a rebalance.
                member.awaiting_join = None;
                let response = group.join_response(correlation_id, &member_id);
                io.out.send(from, response);
            }
            _ => {
                let reason = format!("{member_id} joined again");
                self.prepare_or_complete(now_ms, &group_id, &reason, io);
            }
        }
    }

    /// After a join: start a rebalance, or finish the join round if everyone is in.
    fn prepare_or_complete(
        &mut self,
        now_ms: u64,
        group_id: &str,
        reason: &str,
        io: &mut CoordinatorIo,
    ) {
        let state = self.groups[group_id].state;
        match state {
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, group_id, io),
            _ => self.prepare_rebalance(now_ms, group_id, reason, io),
        }
    }

    fn prepare_rebalance(
        &mut self,
        now_ms: u64,
        group_id: &str,
        reason: &str,
        io: &mut CoordinatorIo,
    ) {
        let initial_delay_ms = self.config.group_initial_rebalance_delay_ms;
        let broker = self.broker;
        let group = self.groups.get_mut(group_id).expect("group exists");
        if group.state == GroupState::CompletingRebalance {
            // The assignment of this generation will never come: members waiting for it
            // must join again.
            for m in group.members.values_mut() {
                if let (Some(correlation_id), Some(client)) = (m.awaiting_sync.take(), m.client) {
                    io.out.send(
                        client,
                        sync_error(correlation_id, ErrorCode::RebalanceInProgress),
                    );
                }
                m.assignment.clear();
            }
        }
        let was_empty = group.state == GroupState::Empty;
        group.state = GroupState::PreparingRebalance;
        group.round += 1;
        let rebalance_timeout_ms = group.rebalance_timeout_ms();
        let delay_ms = if was_empty && initial_delay_ms > 0 {
            let first = initial_delay_ms.min(rebalance_timeout_ms);
            group.initial_delay = Some(InitialDelay {
                remaining_ms: rebalance_timeout_ms.saturating_sub(first),
                new_member_joined: false,
            });
            first
        } else {
            group.initial_delay = None;
            rebalance_timeout_ms
        };
        io.out.event(Event::RebalanceStarted {
            broker,
            group: group_id.to_string(),
            generation: group.generation,
            reason: reason.to_string(),
        });
        io.out.timer(
            delay_ms,
            GroupTimer::JoinDeadline {
                group: group_id.to_string(),
                round: group.round,
            },
        );
        self.try_complete_join(now_ms, group_id, io);
    }

    /// Kafka's `DelayedJoin.tryComplete`: the round ends early once every known member has
    /// sent its JoinGroup (and no initial delay is running).
    fn try_complete_join(&mut self, now_ms: u64, group_id: &str, io: &mut CoordinatorIo) {
        let group = &self.groups[group_id];
        if group.state != GroupState::PreparingRebalance || group.initial_delay.is_some() {
            return;
        }
        if group.members.values().all(|m| m.awaiting_join.is_some()) {
            self.complete_join(now_ms, group_id, io);
        }
    }

    fn on_join_deadline(
        &mut self,
        now_ms: u64,
        group_id: &str,
        round: u64,
        io: &mut CoordinatorIo,
    ) {
        let initial_delay_ms = self.config.group_initial_rebalance_delay_ms;
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.round != round || group.state != GroupState::PreparingRebalance {
            return;
        }
        if let Some(delay) = group.initial_delay {
            if delay.new_member_joined && delay.remaining_ms > 0 {
                // Kafka's InitialDelayedJoin: more members arrived, wait a little longer.
                let next = initial_delay_ms.min(delay.remaining_ms);
                group.initial_delay = Some(InitialDelay {
                    remaining_ms: delay.remaining_ms - next,
                    new_member_joined: false,
                });
                io.out.timer(
                    next,
                    GroupTimer::JoinDeadline {
                        group: group_id.to_string(),
                        round,
                    },
                );
                return;
            }
            group.initial_delay = None;
        }
        self.complete_join(now_ms, group_id, io);
    }

    /// The join round ends: members that did not join are removed, and a new generation
    /// starts with a leader and the assignor every member supports.
    fn complete_join(&mut self, now_ms: u64, group_id: &str, io: &mut CoordinatorIo) {
        let broker = self.broker;
        let group = self.groups.get_mut(group_id).expect("group exists");
        assert_eq!(group.state, GroupState::PreparingRebalance);
        let missing: Vec<String> = group
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for member in missing {
            group.members.remove(&member);
            io.out.event(Event::MemberRemoved {
                broker,
                group: group_id.to_string(),
                member,
                reason: "did not join again within the rebalance timeout".into(),
            });
        }
        group.generation += 1;
        group.protocol = group.select_protocol();
        let keeps_leader = group
            .leader
            .as_ref()
            .is_some_and(|l| group.members.contains_key(l));
        if !keeps_leader {
            group.leader = group
                .members
                .values()
                .min_by_key(|m| m.join_seq)
                .map(|m| m.member_id.clone());
        }
        group.state = if group.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::CompletingRebalance
        };
        io.out.event(Event::GenerationStarted {
            broker,
            group: group_id.to_string(),
            generation: group.generation,
            protocol: group.protocol.map(|p| p.name().to_string()),
            leader: group.leader.clone(),
            members: group.members.keys().cloned().collect(),
        });
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for id in ids {
            let m = group.members.get_mut(&id).expect("member");
            let correlation_id = m.awaiting_join.take().expect("every member joined");
            m.last_heartbeat_ms = now_ms;
            let session_ms = m.session_timeout_ms;
            let client = m.client;
            let response = group.join_response(correlation_id, &id);
            if let Some(client) = client {
                io.out.send(client, response);
            }
            io.out.timer(
                session_ms,
                GroupTimer::SessionCheck {
                    group: group_id.to_string(),
                    member: id,
                },
            );
        }
        if group.state == GroupState::Empty {
            // Kafka writes the empty group's new generation too.
            self.store_group(group_id, io);
        }
    }

    /// Appends the group's metadata (generation, leader, members and their assignment).
    fn store_group(&mut self, group_id: &str, io: &mut CoordinatorIo) {
        let group = &self.groups[group_id];
        let purpose = AppendPurpose::Assignment {
            group: group_id.to_string(),
            generation: group.generation,
        };
        let record = GroupRecord::Metadata(group.metadata_record());
        self.append(group_id, vec![record], purpose, io);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn on_sync_group(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        assignments: Vec<(String, Vec<TopicPartition>)>,
        io: &mut CoordinatorIo,
    ) {
        if let Err(e) = self.check_coordinator(group_id) {
            return io.out.send(from, sync_error(correlation_id, e));
        }
        let Some(group) = self.groups.get_mut(group_id) else {
            return io
                .out
                .send(from, sync_error(correlation_id, ErrorCode::UnknownMemberId));
        };
        let Some(member) = group.members.get_mut(member_id) else {
            return io
                .out
                .send(from, sync_error(correlation_id, ErrorCode::UnknownMemberId));
        };
        if generation_id != group.generation {
            return io.out.send(
                from,
                sync_error(correlation_id, ErrorCode::IllegalGeneration),
            );
        }
        member.client = Some(from);
        match group.state {
            GroupState::Empty => io
                .out
                .send(from, sync_error(correlation_id, ErrorCode::UnknownMemberId)),
            GroupState::PreparingRebalance => io.out.send(
                from,
                sync_error(correlation_id, ErrorCode::RebalanceInProgress),
            ),
            GroupState::Stable => {
                let assignment = member.assignment.clone();
                io.out.send(
                    from,
                    Message::SyncGroupResponse {
                        correlation_id,
                        error: ErrorCode::None,
                        assignment,
                    },
                );
            }
            GroupState::CompletingRebalance => {
                member.awaiting_sync = Some(correlation_id);
                if group.leader.as_deref() != Some(member_id) {
                    return;
                }
                let mut given: BTreeMap<String, Vec<TopicPartition>> =
                    assignments.into_iter().collect();
                for m in group.members.values_mut() {
                    m.assignment = given.remove(&m.member_id).unwrap_or_default();
                }
                self.store_group(group_id, io);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn on_heartbeat(
        &mut self,
        now_ms: u64,
        from: NodeId,
        correlation_id: u64,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        io: &mut CoordinatorIo,
    ) {
        let error = self.heartbeat_error(now_ms, group_id, generation_id, member_id, io);
        io.out.send(
            from,
            Message::HeartbeatResponse {
                correlation_id,
                error,
            },
        );
    }

    fn heartbeat_error(
        &mut self,
        now_ms: u64,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        io: &mut CoordinatorIo,
    ) -> ErrorCode {
        if let Err(e) = self.check_coordinator(group_id) {
            return e;
        }
        let Some(group) = self.groups.get_mut(group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        let state = group.state;
        let generation = group.generation;
        let Some(member) = group.members.get_mut(member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if state == GroupState::Empty {
            return ErrorCode::UnknownMemberId;
        }
        if generation_id != generation {
            return ErrorCode::IllegalGeneration;
        }
        member.last_heartbeat_ms = now_ms;
        io.out.timer(
            member.session_timeout_ms,
            GroupTimer::SessionCheck {
                group: group_id.to_string(),
                member: member_id.to_string(),
            },
        );
        match state {
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            _ => ErrorCode::None,
        }
    }

    pub fn on_leave_group(
        &mut self,
        now_ms: u64,
        from: NodeId,
        correlation_id: u64,
        group_id: &str,
        member_id: &str,
        io: &mut CoordinatorIo,
    ) {
        let error = match self.check_coordinator(group_id) {
            Err(e) => e,
            Ok(_) => {
                let known = self
                    .groups
                    .get(group_id)
                    .is_some_and(|g| g.members.contains_key(member_id));
                if known {
                    self.remove_member(now_ms, group_id, member_id, "left the group", io);
                    ErrorCode::None
                } else {
                    ErrorCode::UnknownMemberId
                }
            }
        };
        io.out.send(
            from,
            Message::LeaveGroupResponse {
                correlation_id,
                error,
            },
        );
    }

    fn remove_member(
        &mut self,
        now_ms: u64,
        group_id: &str,
        member_id: &str,
        reason: &str,
        io: &mut CoordinatorIo,
    ) {
        let broker = self.broker;
        let group = self.groups.get_mut(group_id).expect("group exists");
        let Some(member) = group.members.remove(member_id) else {
            return;
        };
        if group.leader.as_deref() == Some(member_id) {
            group.leader = None;
        }
        if let (Some(correlation_id), Some(client)) = (member.awaiting_join, member.client) {
            io.out.send(
                client,
                join_error(correlation_id, ErrorCode::UnknownMemberId),
            );
        }
        io.out.event(Event::MemberRemoved {
            broker,
            group: group_id.to_string(),
            member: member_id.to_string(),
            reason: reason.to_string(),
        });
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                let why = format!("{member_id} {reason}");
                self.prepare_rebalance(now_ms, group_id, &why, io);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, group_id, io),
            GroupState::Empty => {}
        }
    }

    fn on_session_check(
        &mut self,
        now_ms: u64,
        group_id: &str,
        member_id: &str,
        io: &mut CoordinatorIo,
    ) {
        let Some(member) = self
            .groups
            .get(group_id)
            .and_then(|g| g.members.get(member_id))
        else {
            return;
        };
        // Kafka keeps a member alive while its JoinGroup or SyncGroup waits at the coordinator.
        if member.awaiting_join.is_some() || member.awaiting_sync.is_some() {
            return;
        }
        if member.last_heartbeat_ms + member.session_timeout_ms > now_ms {
            return;
        }
        let reason = format!(
            "sent no heartbeat for session.timeout.ms ({} ms)",
            member.session_timeout_ms
        );
        self.remove_member(now_ms, group_id, member_id, &reason, io);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn on_offset_commit(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        offsets: Vec<(TopicPartition, u64)>,
        io: &mut CoordinatorIo,
    ) {
        let reply = |io: &mut CoordinatorIo, error| {
            io.out.send(
                from,
                Message::OffsetCommitResponse {
                    correlation_id,
                    error,
                },
            )
        };
        if let Err(e) = self.check_coordinator(group_id) {
            return reply(io, e);
        }
        let partition = self.partition_for(group_id);
        let group = match self.groups.get(group_id) {
            Some(g) => g,
            // A commit outside any generation (`assign()` consumers) creates the group.
            None if generation_id < 0 => self
                .groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id.to_string(), partition)),
            None => return reply(io, ErrorCode::IllegalGeneration),
        };
        if generation_id >= 0 || !group.members.is_empty() {
            if !group.members.contains_key(member_id) {
                return reply(io, ErrorCode::UnknownMemberId);
            }
            if generation_id != group.generation {
                return reply(io, ErrorCode::IllegalGeneration);
            }
            if group.state == GroupState::CompletingRebalance {
                return reply(io, ErrorCode::RebalanceInProgress);
            }
        }
        let records = offsets
            .iter()
            .map(|(tp, offset)| GroupRecord::Offset {
                group: group_id.to_string(),
                tp: tp.clone(),
                offset: *offset,
            })
            .collect();
        self.append(
            group_id,
            records,
            AppendPurpose::Commit {
                group: group_id.to_string(),
                member: member_id.to_string(),
                generation: generation_id,
                offsets,
                reply_to: from,
                correlation_id,
            },
            io,
        );
    }

    pub fn on_offset_fetch(
        &self,
        from: NodeId,
        correlation_id: u64,
        group_id: &str,
        partitions: Vec<TopicPartition>,
        io: &mut CoordinatorIo,
    ) {
        let (error, offsets) = match self.check_coordinator(group_id) {
            Err(e) => (e, Vec::new()),
            Ok(_) => {
                let committed = self.groups.get(group_id).map(|g| &g.offsets);
                let offsets = partitions
                    .into_iter()
                    .map(|tp| {
                        let o = committed.and_then(|c| c.get(&tp).copied());
                        (tp, o)
                    })
                    .collect();
                (ErrorCode::None, offsets)
            }
        };
        io.out.send(
            from,
            Message::OffsetFetchResponse {
                correlation_id,
                error,
                offsets,
            },
        );
    }

    pub fn on_timer(&mut self, now_ms: u64, timer: GroupTimer, io: &mut CoordinatorIo) {
        match timer {
            GroupTimer::LoadDone { .. } => {
                unreachable!("the broker handles LoadDone: it holds the log")
            }
            GroupTimer::JoinDeadline { group, round } => {
                self.on_join_deadline(now_ms, &group, round, io)
            }
            GroupTimer::SessionCheck { group, member } => {
                self.on_session_check(now_ms, &group, &member, io)
            }
        }
    }

    // ---- the log ----

    fn append(
        &mut self,
        group_id: &str,
        records: Vec<GroupRecord>,
        purpose: AppendPurpose,
        io: &mut CoordinatorIo,
    ) {
        self.next_append_id += 1;
        let append_id = self.next_append_id;
        self.pending.insert(append_id, purpose);
        io.appends.push(PendingAppend {
            append_id,
            partition: self.partition_for(group_id),
            records: records.iter().map(GroupRecord::encode).collect(),
        });
    }

    /// The broker finished an append: `error` is the produce error (`NONE` once the records
    /// are below the HW, as `acks=all` requires).
    pub fn on_append_done(
        &mut self,
        now_ms: u64,
        append_id: u64,
        error: ErrorCode,
        base_offset: Option<u64>,
        io: &mut CoordinatorIo,
    ) {
        let Some(purpose) = self.pending.remove(&append_id) else {
            return;
        };
        // GroupMetadataManager's mapping of produce errors to group errors.
        let group_error = match error {
            ErrorCode::None => ErrorCode::None,
            ErrorCode::NotLeaderOrFollower => ErrorCode::NotCoordinator,
            _ => ErrorCode::CoordinatorNotAvailable,
        };
        match purpose {
            AppendPurpose::Commit {
                group,
                member,
                generation,
                offsets,
                reply_to,
                correlation_id,
            } => {
                if group_error == ErrorCode::None {
                    if let Some(g) = self.groups.get_mut(&group) {
                        for (tp, offset) in &offsets {
                            g.offsets.insert(tp.clone(), *offset);
                        }
                    }
                    io.out.event(Event::OffsetsCommitted {
                        broker: self.broker,
                        group,
                        generation,
                        member,
                        offsets,
                        log_offset: base_offset,
                    });
                }
                io.out.send(
                    reply_to,
                    Message::OffsetCommitResponse {
                        correlation_id,
                        error: group_error,
                    },
                );
            }
            AppendPurpose::Assignment { group, generation } => {
                self.on_assignment_stored(now_ms, &group, generation, group_error, io)
            }
        }
    }

    fn on_assignment_stored(
        &mut self,
        now_ms: u64,
        group_id: &str,
        generation: i32,
        error: ErrorCode,
        io: &mut CoordinatorIo,
    ) {
        let broker = self.broker;
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.generation != generation || group.state != GroupState::CompletingRebalance {
            return;
        }
        if error != ErrorCode::None {
            // Kafka answers the waiting members with the error and rebalances again.
            for m in group.members.values_mut() {
                m.assignment.clear();
                if let (Some(correlation_id), Some(client)) = (m.awaiting_sync.take(), m.client) {
                    io.out.send(client, sync_error(correlation_id, error));
                }
            }
            let reason = format!("storing the assignment failed with {error}");
            // The group may be gone from this broker when the failure was a lost leadership.
            if self.check_coordinator(group_id).is_ok() {
                self.prepare_rebalance(now_ms, group_id, &reason, io);
            }
            return;
        }
        group.state = GroupState::Stable;
        for m in group.members.values_mut() {
            if let (Some(correlation_id), Some(client)) = (m.awaiting_sync.take(), m.client) {
                io.out.send(
                    client,
                    Message::SyncGroupResponse {
                        correlation_id,
                        error: ErrorCode::None,
                        assignment: m.assignment.clone(),
                    },
                );
            }
        }
        io.out.event(Event::GroupStable {
            broker,
            group: group_id.to_string(),
            generation,
            assignment: group
                .members
                .values()
                .map(|m| (m.member_id.clone(), m.assignment.clone()))
                .collect(),
        });
    }
}

impl Group {
    fn new(group_id: String, partition: u32) -> Group {
        Group {
            group_id,
            partition,
            state: GroupState::Empty,
            generation: 0,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            offsets: BTreeMap::new(),
            round: 0,
            initial_delay: None,
            next_join_seq: 0,
        }
    }

    fn supports(&self, protocol: Strategy) -> bool {
        self.members
            .values()
            .all(|m| m.protocols.contains(&protocol))
    }

    fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// Kafka's `selectProtocol`: among the assignors every member supports, each member votes
    /// for the first one in its own order, and the most votes win. Ties go to the assignor
    /// the leader (the earliest member) prefers.
    fn select_protocol(&self) -> Option<Strategy> {
        let first = self.members.values().min_by_key(|m| m.join_seq)?;
        let candidates: Vec<Strategy> = first
            .protocols
            .iter()
            .copied()
            .filter(|p| self.supports(*p))
            .collect();
        let mut votes: BTreeMap<Strategy, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(p) = m.protocols.iter().find(|p| candidates.contains(p)) {
                *votes.entry(*p).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        candidates.into_iter().find(|p| votes.get(p) == Some(&best))
    }

    fn join_response(&self, correlation_id: u64, member_id: &str) -> Message {
        let is_leader = self.leader.as_deref() == Some(member_id);
        let members = if is_leader {
            self.members
                .values()
                .map(|m| GroupMemberSubscription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    subscription: m.subscription.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        Message::JoinGroupResponse {
            correlation_id,
            error: ErrorCode::None,
            generation_id: self.generation,
            protocol: self.protocol,
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
        }
    }

    fn metadata_record(&self) -> GroupMetadataRecord {
        GroupMetadataRecord {
            group: self.group_id.clone(),
            generation: self.generation,
            protocol: self.protocol,
            leader: self.leader.clone(),
            members: self
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: m.protocols.clone(),
                    topics: m.subscription.topics.clone(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    fn apply_metadata(&mut self, meta: GroupMetadataRecord) {
        self.generation = meta.generation;
        self.protocol = meta.protocol;
        self.leader = meta.leader;
        self.members.clear();
        for (join_seq, m) in meta.members.into_iter().enumerate() {
            self.members.insert(
                m.member_id.clone(),
                Member {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    client: None,
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: m.protocols,
                    subscription: Subscription {
                        topics: m.topics,
                        owned_partitions: m.assignment.clone(),
                        generation: meta.generation,
                    },
                    assignment: m.assignment,
                    awaiting_join: None,
                    awaiting_sync: None,
                    last_heartbeat_ms: 0,
                    join_seq: join_seq as u64,
                },
            );
        }
        self.next_join_seq = self.members.len() as u64;
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
    }
}

fn join_error(correlation_id: u64, error: ErrorCode) -> Message {
    assert_ne!(error, ErrorCode::None);
    Message::JoinGroupResponse {
        correlation_id,
        error,
        generation_id: -1,
        protocol: None,
        leader: String::new(),
        member_id: String::new(),
        members: Vec::new(),
    }
}

fn sync_error(correlation_id: u64, error: ErrorCode) -> Message {
    assert_ne!(error, ErrorCode::None);
    Message::SyncGroupResponse {
        correlation_id,
        error,
        assignment: Vec::new(),
    }
}

// ---- records of `__consumer_offsets` ----

/// A member as the group's metadata record stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub protocols: Vec<Strategy>,
    pub topics: Vec<String>,
    pub assignment: Vec<TopicPartition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMetadataRecord {
    pub group: String,
    pub generation: i32,
    pub protocol: Option<Strategy>,
    pub leader: Option<String>,
    pub members: Vec<StoredMember>,
}

/// The two record kinds of `__consumer_offsets`, keyed so that compaction keeps the newest
/// value of each key: one key per (group, partition) for offsets, one per group for metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupRecord {
    Offset {
        group: String,
        tp: TopicPartition,
        offset: u64,
    },
    Metadata(GroupMetadataRecord),
}

fn join_fields(fields: &[&str]) -> String {
    fields.join(&FIELD_SEPARATOR.to_string())
}

fn partitions_text(tps: &[TopicPartition]) -> String {
    tps.iter()
        .map(|tp| tp.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_partitions(s: &str) -> Option<Vec<TopicPartition>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(',').map(TopicPartition::parse).collect()
}

impl GroupRecord {
    /// The record's key and value.
    pub fn encode(&self) -> (String, String) {
        match self {
            GroupRecord::Offset { group, tp, offset } => (
                join_fields(&["offset", group, &tp.topic, &tp.partition.to_string()]),
                offset.to_string(),
            ),
            GroupRecord::Metadata(m) => {
                let mut lines = vec![
                    format!("generation={}", m.generation),
                    format!("protocol={}", m.protocol.map_or("", |p| p.name())),
                    format!("leader={}", m.leader.as_deref().unwrap_or("")),
                ];
                for s in &m.members {
                    let protocols: Vec<&str> = s.protocols.iter().map(|p| p.name()).collect();
                    lines.push(format!(
                        "member={}",
                        join_fields(&[
                            &s.member_id,
                            s.group_instance_id.as_deref().unwrap_or(""),
                            &s.session_timeout_ms.to_string(),
                            &s.rebalance_timeout_ms.to_string(),
                            &protocols.join(","),
                            &s.topics.join(","),
                            &partitions_text(&s.assignment),
                        ])
                    ));
                }
                (join_fields(&["group", &m.group]), lines.join("\n"))
            }
        }
    }

    pub fn decode(key: &str, value: &str) -> Option<GroupRecord> {
        let fields: Vec<&str> = key.split(FIELD_SEPARATOR).collect();
        match fields.as_slice() {
            ["offset", group, topic, partition] => Some(GroupRecord::Offset {
                group: group.to_string(),
                tp: TopicPartition::new(*topic, partition.parse().ok()?),
                offset: value.parse().ok()?,
            }),
            ["group", group] => {
                let mut m = GroupMetadataRecord {
                    group: group.to_string(),
                    generation: 0,
                    protocol: None,
                    leader: None,
                    members: Vec::new(),
                };
                for line in value.lines() {
                    let (k, v) = line.split_once('=')?;
                    match k {
                        "generation" => m.generation = v.parse().ok()?,
                        "protocol" if v.is_empty() => m.protocol = None,
                        "protocol" => m.protocol = Some(Strategy::from_name(v)?),
                        "leader" => m.leader = (!v.is_empty()).then(|| v.to_string()),
                        "member" => m.members.push(decode_member(v)?),
                        _ => return None,
                    }
                }
                Some(GroupRecord::Metadata(m))
            }
            _ => None,
        }
    }
}

fn decode_member(v: &str) -> Option<StoredMember> {
    let f: Vec<&str> = v.split(FIELD_SEPARATOR).collect();
    let [member_id, instance, session, rebalance, protocols, topics, assignment] = f.as_slice()
    else {
        return None;
    };
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    Some(StoredMember {
        member_id: member_id.to_string(),
        group_instance_id: (!instance.is_empty()).then(|| instance.to_string()),
        session_timeout_ms: session.parse().ok()?,
        rebalance_timeout_ms: rebalance.parse().ok()?,
        protocols: split(protocols)
            .iter()
            .map(|p| Strategy::from_name(p))
            .collect::<Option<Vec<_>>>()?,
        topics: split(topics),
        assignment: parse_partitions(assignment)?,
    })
}

#[cfg(test)]
mod tests {
    //! The coordinator alone, with the test playing the broker: appends succeed when the test
    //! says so.
    use super::*;

    const A: NodeId = NodeId::Consumer(0);
    const B: NodeId = NodeId::Consumer(1);

    struct Harness {
        c: GroupCoordinator,
        now_ms: u64,
        sent: Vec<(NodeId, Message)>,
        timers: Vec<(u64, GroupTimer)>,
        appends: Vec<PendingAppend>,
        events: Vec<Event>,
    }

    impl Harness {
        fn new() -> Harness {
            let mut h = Harness {
                c: GroupCoordinator::new(
                    0,
                    CoordinatorConfig {
                        offsets_topic_num_partitions: 1,
                        group_initial_rebalance_delay_ms: 0,
                        group_min_session_timeout_ms: 6_000,
                        group_max_session_timeout_ms: 1_800_000,
                    },
                ),
                now_ms: 0,
                sent: Vec::new(),
                timers: Vec::new(),
                appends: Vec::new(),
                events: Vec::new(),
            };
            h.io(|c, io| c.on_election(0, 0, io));
            h.io(|c, io| c.finish_load(0, 0, 0, &[], io));
            // The test did the load itself: LoadDone is the broker's timer.
            h.timers.clear();
            h
        }

        fn io(&mut self, f: impl FnOnce(&mut GroupCoordinator, &mut CoordinatorIo)) {
            let mut io = CoordinatorIo::default();
            f(&mut self.c, &mut io);
            self.sent.extend(io.out.messages);
            let now = self.now_ms;
            self.timers
                .extend(io.out.timers.into_iter().map(|(d, t)| (now + d, t)));
            self.appends.extend(io.appends);
            self.events.extend(io.out.events);
        }

        /// Advances the clock, firing due timers in order.
        fn advance(&mut self, ms: u64) {
            let end = self.now_ms + ms;
            loop {
                self.timers.sort_by_key(|(at, _)| *at);
                let Some(pos) = self.timers.iter().position(|(at, _)| *at <= end) else {
                    break;
                };
                let (at, timer) = self.timers.remove(pos);
                self.now_ms = self.now_ms.max(at);
                let now = self.now_ms;
                self.io(|c, io| c.on_timer(now, timer, io));
            }
            self.now_ms = end;
        }

        /// Completes every pending append with `error`.
        fn complete_appends(&mut self, error: ErrorCode) {
            let now = self.now_ms;
            for a in std::mem::take(&mut self.appends) {
                let base = (error == ErrorCode::None).then_some(0);
                self.io(|c, io| c.on_append_done(now, a.append_id, error, base, io));
            }
        }

        fn join(&mut self, from: NodeId, member_id: &str, correlation_id: u64) {
            let now = self.now_ms;
            self.io(|c, io| {
                c.on_join_group(
                    now,
                    from,
                    correlation_id,
                    "g".into(),
                    member_id.into(),
                    None,
                    10_000,
                    20_000,
                    vec![Strategy::CooperativeSticky, Strategy::Range],
                    Subscription {
                        topics: vec!["orders".into()],
                        owned_partitions: vec![],
                        generation: -1,
                    },
                    "c",
                    io,
                )
            });
        }

        fn heartbeat(&mut self, from: NodeId, generation: i32, member: &str) -> ErrorCode {
            let now = self.now_ms;
            self.io(|c, io| c.on_heartbeat(now, from, 9, "g", generation, member, io));
            match self.sent.pop() {
                Some((_, Message::HeartbeatResponse { error, .. })) => error,
                other => panic!("{other:?}"),
            }
        }

        fn joined(&mut self, to: NodeId) -> (i32, String, String) {
            let i = self
                .sent
                .iter()
                .position(|(n, m)| *n == to && matches!(m, Message::JoinGroupResponse { .. }))
                .expect("a JoinGroup answer");
            match self.sent.remove(i).1 {
                Message::JoinGroupResponse {
                    error: ErrorCode::None,
                    generation_id,
                    member_id,
                    leader,
                    ..
                } => (generation_id, member_id, leader),
                other => panic!("{other:?}"),
            }
        }

        fn group(&self) -> &Group {
            &self.c.groups()["g"]
        }
    }

    /// Two members join and the leader's assignment is stored: generation 1, Stable.
    fn stable_pair() -> (Harness, String, String) {
        let mut h = Harness::new();
        h.join(A, "", 1);
        let (_, a, _) = h.joined(A);
        assert_eq!(h.group().state, GroupState::CompletingRebalance);
        // B's arrival starts a new round; A must join again.
        h.join(B, "", 1);
        assert_eq!(h.heartbeat(A, 1, &a), ErrorCode::RebalanceInProgress);
        h.join(A, &a, 2);
        let (generation, a2, leader) = h.joined(A);
        let (_, b, _) = h.joined(B);
        assert_eq!(
            (generation, a2.as_str(), leader.as_str()),
            (2, a.as_str(), a.as_str())
        );
        let assignments = vec![
            (a.clone(), vec![TopicPartition::new("orders", 0)]),
            (b.clone(), vec![TopicPartition::new("orders", 1)]),
        ];
        h.io(|c, io| c.on_sync_group(A, 3, "g", 2, &a, assignments, io));
        assert_eq!(
            h.group().state,
            GroupState::CompletingRebalance,
            "not yet durable"
        );
        h.complete_appends(ErrorCode::None);
        assert_eq!(h.group().state, GroupState::Stable);
        h.sent.clear();
        (h, a, b)
    }

    #[test]
    fn the_group_is_stable_only_once_the_assignment_is_durable() {
        let (h, a, b) = stable_pair();
        assert_eq!(h.group().generation, 2);
        assert_eq!(h.group().protocol, Some(Strategy::CooperativeSticky));
        assert_eq!(h.group().leader.as_deref(), Some(a.as_str()));
        assert_eq!(
            h.group().members[&b].assignment,
            vec![TopicPartition::new("orders", 1)]
        );
    }

    #[test]
    fn old_generations_and_strangers_are_refused() {
        let (mut h, a, _) = stable_pair();
        assert_eq!(h.heartbeat(A, 2, &a), ErrorCode::None);
        assert_eq!(h.heartbeat(A, 1, &a), ErrorCode::IllegalGeneration);
        assert_eq!(h.heartbeat(A, 2, "nobody"), ErrorCode::UnknownMemberId);
        h.io(|c, io| {
            c.on_offset_commit(
                A,
                4,
                "g",
                1,
                &a,
                vec![(TopicPartition::new("orders", 0), 7)],
                io,
            )
        });
        assert!(matches!(
            h.sent.pop(),
            Some((
                _,
                Message::OffsetCommitResponse {
                    error: ErrorCode::IllegalGeneration,
                    ..
                }
            ))
        ));
        assert!(h.appends.is_empty(), "a refused commit writes nothing");
    }

    #[test]
    fn a_silent_member_is_removed_after_its_session_timeout() {
        let (mut h, a, b) = stable_pair();
        // A keeps heartbeating; B goes quiet.
        for _ in 0..3 {
            h.advance(3_000);
            assert_eq!(h.heartbeat(A, 2, &a), ErrorCode::None);
        }
        assert!(
            h.group().members.contains_key(&b),
            "9 s is within the session"
        );
        h.advance(3_000);
        assert!(
            !h.group().members.contains_key(&b),
            "10 s without a heartbeat"
        );
        assert_eq!(h.group().state, GroupState::PreparingRebalance);
        assert!(h.events.iter().any(|e| matches!(
            e,
            Event::MemberRemoved { member, .. } if member == &b
        )));
        // A learns of the rebalance from its heartbeat and joins: a new generation of one.
        assert_eq!(h.heartbeat(A, 2, &a), ErrorCode::RebalanceInProgress);
        h.join(A, &a, 5);
        let (generation, _, leader) = h.joined(A);
        assert_eq!((generation, leader), (3, a));
    }

    #[test]
    fn a_member_that_does_not_join_again_is_dropped_at_the_rebalance_timeout() {
        let (mut h, a, b) = stable_pair();
        h.io(|c, io| c.on_leave_group(0, B, 6, "g", &b, io));
        h.join(NodeId::Consumer(2), "", 7);
        // A never comes back; the round ends at the rebalance timeout (20 s) without it.
        h.advance(20_000);
        assert!(!h.group().members.contains_key(&a));
        let (generation, newcomer, leader) = h.joined(NodeId::Consumer(2));
        assert_eq!(generation, 3);
        assert_eq!(
            leader, newcomer,
            "the leader left: the earliest joiner leads"
        );
    }

    #[test]
    fn commits_apply_when_the_append_succeeds_and_not_before() {
        let (mut h, a, _) = stable_pair();
        let tp = TopicPartition::new("orders", 0);
        h.io(|c, io| c.on_offset_commit(A, 4, "g", 2, &a, vec![(tp.clone(), 7)], io));
        assert!(h.group().offsets.is_empty());
        h.complete_appends(ErrorCode::NotEnoughReplicas);
        assert!(matches!(
            h.sent.pop(),
            Some((
                _,
                Message::OffsetCommitResponse {
                    error: ErrorCode::CoordinatorNotAvailable,
                    ..
                }
            ))
        ));
        assert!(
            h.group().offsets.is_empty(),
            "a failed append commits nothing"
        );
        h.io(|c, io| c.on_offset_commit(A, 5, "g", 2, &a, vec![(tp.clone(), 7)], io));
        h.complete_appends(ErrorCode::None);
        assert_eq!(h.group().offsets[&tp], 7);
        h.io(|c, io| c.on_offset_fetch(B, 6, "g", vec![tp.clone()], io));
        assert!(matches!(
            h.sent.pop(),
            Some((_, Message::OffsetFetchResponse { offsets, .. })) if offsets == vec![(tp, Some(7))]
        ));
    }

    #[test]
    fn a_loaded_group_keeps_its_generation_members_and_offsets() {
        let (mut h, a, b) = stable_pair();
        let tp = TopicPartition::new("orders", 1);
        h.io(|c, io| c.on_offset_commit(B, 4, "g", 2, &b, vec![(tp.clone(), 11)], io));
        // Keep what was written, as the partition's log would.
        let written: Vec<(String, String)> =
            h.appends.iter().flat_map(|a| a.records.clone()).collect();
        let mut log: Vec<Record> = Vec::new();
        let metadata = GroupRecord::Metadata(h.group().metadata_record()).encode();
        for (offset, (key, value)) in std::iter::once(metadata).chain(written).enumerate() {
            log.push(Record {
                offset: offset as u64,
                leader_epoch: 0,
                id: RecordId {
                    producer: COORDINATOR_PRODUCER_BASE,
                    seq: offset as u64,
                },
                timestamp_ms: 0,
                key: Some(key),
                value,
                headers: vec![],
            });
        }
        let mut other = Harness::new();
        other.io(|c, io| c.on_resignation(0, io));
        other.io(|c, io| c.on_election(0, 1, io));
        assert_eq!(
            other.heartbeat(A, 2, &a),
            ErrorCode::CoordinatorLoadInProgress
        );
        other.io(|c, io| c.finish_load(0, 0, 1, &log, io));
        let g = other.group();
        assert_eq!((g.state, g.generation), (GroupState::Stable, 2));
        assert_eq!(
            g.members.keys().cloned().collect::<Vec<_>>(),
            vec![a.clone(), b]
        );
        assert_eq!(g.offsets[&tp], 11);
        assert_eq!(other.heartbeat(A, 2, &a), ErrorCode::None);
    }

    #[test]
    fn records_round_trip() {
        let (h, _, _) = stable_pair();
        let meta = GroupRecord::Metadata(h.group().metadata_record());
        let (k, v) = meta.encode();
        assert_eq!(GroupRecord::decode(&k, &v), Some(meta));
        let offset = GroupRecord::Offset {
            group: "g-1".into(),
            tp: TopicPartition::new("orders-v2", 3),
            offset: 99,
        };
        let (k, v) = offset.encode();
        assert_eq!(GroupRecord::decode(&k, &v), Some(offset));
        assert_eq!(GroupRecord::decode("nonsense", ""), None);
        assert_eq!(
            TopicPartition::parse("orders-v2-3"),
            Some(TopicPartition::new("orders-v2", 3))
        );
        assert_eq!(TopicPartition::parse("-3"), None);
    }

    #[test]
    fn the_protocol_is_chosen_by_vote_among_those_all_support() {
        let mut g = Group::new("g".into(), 0);
        for (i, protocols) in [
            vec![Strategy::Range, Strategy::RoundRobin],
            vec![Strategy::RoundRobin, Strategy::Range],
            vec![Strategy::RoundRobin, Strategy::Sticky, Strategy::Range],
        ]
        .into_iter()
        .enumerate()
        {
            g.members.insert(
                format!("m{i}"),
                Member {
                    member_id: format!("m{i}"),
                    group_instance_id: None,
                    client: None,
                    session_timeout_ms: 10_000,
                    rebalance_timeout_ms: 10_000,
                    protocols,
                    subscription: Subscription {
                        topics: vec![],
                        owned_partitions: vec![],
                        generation: -1,
                    },
                    assignment: vec![],
                    awaiting_join: None,
                    awaiting_sync: None,
                    last_heartbeat_ms: 0,
                    join_seq: i as u64,
                },
            );
        }
        assert_eq!(
            g.select_protocol(),
            Some(Strategy::RoundRobin),
            "two votes to one"
        );
    }
}
