//! The group member: Kafka's `AbstractCoordinator` and the membership half of
//! `ConsumerCoordinator`. It finds the coordinator, joins (`onJoinPrepare`, JoinGroup), runs
//! the assignor when it leads, syncs, heartbeats from its own "thread", and leaves.
//!
//! Why its own file: the group protocol is a state machine of its own ([`MemberState`]),
//! driven by answers and timeouts; the fetcher only asks it which partitions are assigned.

use super::application::AppState;
use super::commit::CommitPurpose;
use super::{CommitMode, Consumer, ConsumerTimer, GroupSettings};
use crate::actor::Output;
use crate::assignor::{self, MemberSubscription, Strategy};
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Where a member stands in the group protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MemberState {
    /// Not in a generation: must (re)join.
    Unjoined,
    /// A JoinGroup is out.
    Joining,
    /// A SyncGroup is out.
    Syncing,
    /// Holds an assignment for `generation`.
    Stable,
}

/// What a group request in flight was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum GroupRequest {
    FindCoordinator,
    JoinGroup,
    SyncGroup,
    Heartbeat,
    OffsetFetch(Vec<TopicPartition>),
    /// `Some(purpose)` for a synchronous commit, `None` for an asynchronous auto-commit.
    OffsetCommit(Option<CommitPurpose>, Vec<(TopicPartition, u64)>),
    LeaveGroup,
}

#[derive(Clone, Debug)]
pub(super) struct Member {
    pub(super) settings: GroupSettings,
    pub(super) coordinator: Option<BrokerId>,
    pub(super) member_id: String,
    pub(super) generation: i32,
    pub(super) protocol: Option<Strategy>,
    pub(super) state: MemberState,
    pub(super) rejoin_needed: bool,
    pub(super) assigned: BTreeSet<TopicPartition>,
    /// Fetched records not yet returned by `poll()`: (offset, record).
    pub(super) buffered: BTreeMap<TopicPartition, VecDeque<(u64, RecordId)>>,
    /// The application's position: the offset after the last record `poll()` returned.
    pub(super) consumed: BTreeMap<TopicPartition, u64>,
    /// Newly assigned partitions whose start waits for the committed offset.
    pub(super) awaiting_committed: BTreeSet<TopicPartition>,
    /// Group requests in flight: where each went and what it was.
    pub(super) in_flight: BTreeMap<u64, (BrokerId, GroupRequest)>,
    pub(super) find_retry_pending: bool,
    pub(super) app: AppState,
    /// The records of the current poll still to process.
    pub(super) batch: VecDeque<(TopicPartition, u64, RecordId)>,
    pub(super) batch_number: u64,
    /// The generation the current batch was polled in (a member thrown out of the group
    /// still finishes the batch it holds, as a Kafka application does).
    pub(super) batch_generation: i32,
    pub(super) batch_member: String,
    /// A `PollTimeout` is pending.
    pub(super) poll_timeout_armed: bool,
    pub(super) last_poll_ms: u64,
    pub(super) next_auto_commit_ms: u64,
    pub(super) last_heartbeat_ok_ms: u64,
}

impl Member {
    pub(super) fn new(settings: GroupSettings) -> Member {
        Member {
            settings,
            coordinator: None,
            member_id: String::new(),
            generation: -1,
            protocol: None,
            state: MemberState::Unjoined,
            rejoin_needed: true,
            assigned: BTreeSet::new(),
            buffered: BTreeMap::new(),
            consumed: BTreeMap::new(),
            awaiting_committed: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            find_retry_pending: false,
            app: AppState::Polling,
            batch: VecDeque::new(),
            batch_number: 0,
            batch_generation: -1,
            batch_member: String::new(),
            poll_timeout_armed: false,
            last_poll_ms: 0,
            next_auto_commit_ms: 0,
            last_heartbeat_ok_ms: 0,
        }
    }

    pub(super) fn forget_position(&mut self, tp: &TopicPartition) {
        self.consumed.remove(tp);
        self.buffered.remove(tp);
    }

    pub(super) fn set_position(&mut self, tp: &TopicPartition, offset: u64) {
        self.consumed.insert(tp.clone(), offset);
        self.buffered.remove(tp);
    }

    pub(super) fn has_in_flight(&self, matches: impl Fn(&GroupRequest) -> bool) -> bool {
        self.in_flight.values().any(|(_, r)| matches(r))
    }

    /// The positions to commit: every assigned partition with a known position.
    pub(super) fn commit_offsets(&self) -> Vec<(TopicPartition, u64)> {
        self.assigned
            .iter()
            .filter_map(|tp| self.consumed.get(tp).map(|o| (tp.clone(), *o)))
            .collect()
    }
}

impl Consumer {
    pub(super) fn group_request(
        &mut self,
        request: GroupRequest,
        message: impl FnOnce(u64) -> Message,
        out: &mut Output<ConsumerTimer>,
    ) -> bool {
        let timeout_ms = match request {
            // Kafka waits for a join round up to the rebalance timeout plus 5 s.
            GroupRequest::JoinGroup => self
                .config
                .request_timeout_ms
                .max(self.config.max_poll_interval_ms + 5_000),
            _ => self.config.request_timeout_ms,
        };
        let to = match request {
            GroupRequest::FindCoordinator => self.metadata.bootstrap_broker(),
            _ => match self.member.as_ref().and_then(|m| m.coordinator) {
                Some(c) => c,
                None => return false,
            },
        };
        let correlation_id = self.correlation();
        let m = self.member.as_mut().expect("a group member");
        m.in_flight.insert(correlation_id, (to, request));
        out.send(NodeId::Broker(to), message(correlation_id));
        out.timer(
            timeout_ms,
            ConsumerTimer::GroupRequestTimeout { correlation_id },
        );
        true
    }

    /// Sends FindCoordinator unless the coordinator is known or being looked up.
    pub(super) fn ensure_coordinator(&mut self, out: &mut Output<ConsumerTimer>) {
        let Some(m) = self.member.as_ref() else {
            return;
        };
        if m.coordinator.is_some()
            || m.find_retry_pending
            || m.has_in_flight(|r| *r == GroupRequest::FindCoordinator)
        {
            return;
        }
        let group_id = m.settings.group_id.clone();
        self.group_request(
            GroupRequest::FindCoordinator,
            |correlation_id| {
                Message::FindCoordinator(FindCoordinatorRequest {
                    correlation_id,
                    key_type: CoordinatorType::Group,
                    key: group_id,
                })
            },
            out,
        );
    }

    /// The coordinator stopped answering or moved: forget it and look again. Requests to it
    /// that are still out will be ignored when they answer.
    pub(super) fn coordinator_unknown(&mut self, out: &mut Output<ConsumerTimer>) {
        let Some(m) = self.member.as_mut() else {
            return;
        };
        m.coordinator = None;
        m.in_flight
            .retain(|_, (_, r)| *r == GroupRequest::FindCoordinator);
        if m.state == MemberState::Joining || m.state == MemberState::Syncing {
            m.state = MemberState::Unjoined;
            m.rejoin_needed = true;
        }
        if !m.find_retry_pending {
            m.find_retry_pending = true;
            out.timer(
                self.config.retry_backoff_ms,
                ConsumerTimer::FindCoordinatorRetry,
            );
        }
        // A synchronous commit that was out is sent again once the coordinator is back.
        if let AppState::Committing(_) = m.app {
            out.timer(self.config.retry_backoff_ms, ConsumerTimer::AppPoll);
        }
    }

    /// The member is out of the group (its generation is gone): it loses its partitions
    /// without committing (`onPartitionsLost`), and joins again.
    pub(super) fn lose_membership(
        &mut self,
        reset_member_id: bool,
        out: &mut Output<ConsumerTimer>,
    ) {
        let index = self.index;
        let m = self.member.as_mut().expect("a group member");
        let lost: Vec<TopicPartition> = m.assigned.iter().cloned().collect();
        if !lost.is_empty() {
            out.event(Event::PartitionsRevoked {
                consumer: index,
                group: m.settings.group_id.clone(),
                member: m.member_id.clone(),
                partitions: lost.clone(),
                lost: true,
            });
        }
        for tp in &lost {
            self.forget_partition_state(tp);
        }
        let m = self.member.as_mut().expect("a group member");
        m.assigned.clear();
        m.buffered.clear();
        m.consumed.clear();
        m.awaiting_committed.clear();
        m.generation = -1;
        if reset_member_id {
            m.member_id.clear();
        }
        m.state = MemberState::Unjoined;
        m.rejoin_needed = true;
    }

    /// Gives up partitions: drops their buffered records and everything known about reading
    /// them (`forget_partition_state`).
    pub(super) fn revoke(
        &mut self,
        partitions: &[TopicPartition],
        out: &mut Output<ConsumerTimer>,
    ) {
        if partitions.is_empty() {
            return;
        }
        let index = self.index;
        let m = self.member.as_mut().expect("a group member");
        out.event(Event::PartitionsRevoked {
            consumer: index,
            group: m.settings.group_id.clone(),
            member: m.member_id.clone(),
            partitions: partitions.to_vec(),
            lost: false,
        });
        for tp in partitions {
            m.assigned.remove(tp);
            m.buffered.remove(tp);
            m.consumed.remove(tp);
            m.awaiting_committed.remove(tp);
        }
        for tp in partitions {
            self.forget_partition_state(tp);
        }
    }

    // ---- joining ----

    /// Kafka's `onJoinPrepare`: auto-commit, then (eager protocols) revoke everything.
    pub(super) fn prepare_join(&mut self, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_mut().expect("a group member");
        m.rejoin_needed = false;
        if m.settings.commit == CommitMode::Auto
            && m.generation >= 0
            && !m.commit_offsets().is_empty()
        {
            m.app = AppState::Committing(CommitPurpose::BeforeRejoin);
            self.commit(Some(CommitPurpose::BeforeRejoin), out);
            return;
        }
        self.send_join(out);
    }

    pub(super) fn send_join(&mut self, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_mut().expect("a group member");
        let cooperative = m.protocol.is_some_and(|p| p.is_cooperative());
        if !cooperative {
            let all: Vec<TopicPartition> = m.assigned.iter().cloned().collect();
            self.revoke(&all, out);
        }
        let m = self.member.as_mut().expect("a group member");
        m.state = MemberState::Joining;
        let subscription = Subscription {
            topics: self.topics.clone(),
            owned_partitions: m.assigned.iter().cloned().collect(),
            generation: m.generation,
        };
        let group_id = m.settings.group_id.clone();
        let member_id = m.member_id.clone();
        let client_id = m.settings.client_id.clone();
        let group_instance_id = self.config.group_instance_id.clone();
        let session_timeout_ms = self.config.session_timeout_ms;
        let rebalance_timeout_ms = self.config.max_poll_interval_ms;
        let protocols = self.config.partition_assignment_strategy.clone();
        let require_known_member_id = self.require_known_member_id;
        let sent = self.group_request(
            GroupRequest::JoinGroup,
            |correlation_id| {
                Message::JoinGroup(JoinGroupRequest {
                    correlation_id,
                    group_id,
                    member_id,
                    client_id,
                    group_instance_id,
                    session_timeout_ms,
                    rebalance_timeout_ms,
                    protocols,
                    subscription,
                    require_known_member_id,
                })
            },
            out,
        );
        if !sent {
            let m = self.member.as_mut().expect("a group member");
            m.state = MemberState::Unjoined;
            m.rejoin_needed = true;
            self.ensure_coordinator(out);
        }
    }

    pub(super) fn on_join_response(
        &mut self,
        response: JoinGroupResponse,
        out: &mut Output<ConsumerTimer>,
    ) {
        let JoinGroupResponse {
            error,
            generation_id,
            protocol,
            leader,
            member_id,
            members,
            ..
        } = response;
        if error != ErrorCode::None {
            if error == ErrorCode::UnknownMemberId {
                self.member
                    .as_mut()
                    .expect("a group member")
                    .member_id
                    .clear();
            }
            if error == ErrorCode::MemberIdRequired {
                // KIP-394 (`JoinGroupResponseHandler`): the answer carries our member id.
                self.member.as_mut().expect("a group member").member_id = member_id;
            }
            // COORDINATOR_LOAD_IN_PROGRESS, REBALANCE_IN_PROGRESS, ...: join again.
            self.join_again(error, out);
            return;
        }
        let m = self.member.as_mut().expect("a group member");
        m.member_id = member_id.clone();
        m.generation = generation_id;
        m.protocol = protocol;
        m.state = MemberState::Syncing;
        let assignments = if leader == member_id {
            self.compute_assignment(protocol, &members)
        } else {
            Vec::new()
        };
        let m = self.member.as_ref().expect("a group member");
        let group_id = m.settings.group_id.clone();
        self.group_request(
            GroupRequest::SyncGroup,
            |correlation_id| {
                Message::SyncGroup(SyncGroupRequest {
                    correlation_id,
                    group_id,
                    generation_id,
                    member_id,
                    assignments,
                })
            },
            out,
        );
    }

    /// A JoinGroup or SyncGroup failed with `error`: join again, at once after the errors
    /// Kafka's join loop retries without a pause, after finding the coordinator if it moved,
    /// or after `retry.backoff.ms`.
    pub(super) fn join_again(&mut self, error: ErrorCode, out: &mut Output<ConsumerTimer>) {
        if rejoins_at_once(error) {
            return self.send_join(out);
        }
        let m = self.member.as_mut().expect("a group member");
        m.state = MemberState::Unjoined;
        m.rejoin_needed = true;
        if error.means_coordinator_moved() {
            self.coordinator_unknown(out);
        } else {
            out.timer(self.config.retry_backoff_ms, ConsumerTimer::AppPoll);
        }
    }

    /// The group leader runs the assignor the group chose over every member's subscription,
    /// with the partition counts it knows from Metadata.
    pub(super) fn compute_assignment(
        &self,
        protocol: Option<Strategy>,
        members: &[GroupMemberSubscription],
    ) -> Vec<(String, Vec<TopicPartition>)> {
        let strategy = protocol.unwrap_or(Strategy::Range);
        let mut partitions_per_topic: BTreeMap<String, u32> = BTreeMap::new();
        for tp in self.metadata.known_partitions() {
            let n = partitions_per_topic.entry(tp.topic.clone()).or_default();
            *n = (*n).max(tp.partition + 1);
        }
        let subscriptions: Vec<MemberSubscription> = members
            .iter()
            .map(|m| MemberSubscription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                topics: m.subscription.topics.clone(),
                owned_partitions: m.subscription.owned_partitions.clone(),
                generation: (m.subscription.generation >= 0).then_some(m.subscription.generation),
            })
            .collect();
        assignor::assign(strategy, &partitions_per_topic, &subscriptions)
            .into_iter()
            .collect()
    }

    pub(super) fn on_sync_response(
        &mut self,
        error: ErrorCode,
        assignment: Vec<TopicPartition>,
        out: &mut Output<ConsumerTimer>,
    ) {
        let index = self.index;
        let now_ms = self.now_ms;
        let heartbeat_ms = self.config.heartbeat_interval_ms;
        match error {
            ErrorCode::None => {}
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                self.lose_membership(error == ErrorCode::UnknownMemberId, out);
                assert!(rejoins_at_once(error));
                self.send_join(out);
                return;
            }
            _ => return self.join_again(error, out),
        }
        let m = self.member.as_mut().expect("a group member");
        let new: BTreeSet<TopicPartition> = assignment.iter().cloned().collect();
        let revoked: Vec<TopicPartition> = m.assigned.difference(&new).cloned().collect();
        let added: Vec<TopicPartition> = new.difference(&m.assigned).cloned().collect();
        m.state = MemberState::Stable;
        m.last_heartbeat_ok_ms = now_ms;
        let generation = m.generation;
        if !revoked.is_empty() {
            // Cooperative: give up what moves elsewhere, then join again so the new owners
            // get it in the next round.
            self.revoke(&revoked, out);
            let m = self.member.as_mut().expect("a group member");
            m.rejoin_needed = true;
        }
        let m = self.member.as_mut().expect("a group member");
        for tp in &added {
            m.assigned.insert(tp.clone());
            m.awaiting_committed.insert(tp.clone());
        }
        out.event(Event::PartitionsAssigned {
            consumer: index,
            group: m.settings.group_id.clone(),
            member: m.member_id.clone(),
            generation,
            partitions: m.assigned.iter().cloned().collect(),
        });
        out.timer(heartbeat_ms, ConsumerTimer::Heartbeat { generation });
        self.wake_application(out);
    }

    // ---- the heartbeat thread ----

    pub(super) fn on_heartbeat_tick(&mut self, generation: i32, out: &mut Output<ConsumerTimer>) {
        let now_ms = self.now_ms;
        let max_poll_interval_ms = self.config.max_poll_interval_ms;
        let session_timeout_ms = self.config.session_timeout_ms;
        let heartbeat_ms = self.config.heartbeat_interval_ms;
        let Some(m) = self.member.as_mut() else {
            return;
        };
        if m.state != MemberState::Stable || m.generation != generation {
            return;
        }
        out.timer(heartbeat_ms, ConsumerTimer::Heartbeat { generation });
        if m.app == AppState::Polling {
            m.last_poll_ms = now_ms;
        }
        if now_ms.saturating_sub(m.last_poll_ms) > max_poll_interval_ms {
            // The application spent longer than `max.poll.interval.ms` between polls: leave,
            // so the group can give the partitions to someone who polls.
            self.leave_group(out);
            return;
        }
        if m.coordinator.is_none() {
            self.ensure_coordinator(out);
            return;
        }
        if now_ms.saturating_sub(m.last_heartbeat_ok_ms) > session_timeout_ms {
            self.coordinator_unknown(out);
            return;
        }
        if m.has_in_flight(|r| *r == GroupRequest::Heartbeat) {
            return;
        }
        let group_id = m.settings.group_id.clone();
        let member_id = m.member_id.clone();
        self.group_request(
            GroupRequest::Heartbeat,
            |correlation_id| {
                Message::Heartbeat(HeartbeatRequest {
                    correlation_id,
                    group_id,
                    generation_id: generation,
                    member_id,
                })
            },
            out,
        );
    }

    pub(super) fn on_heartbeat_response(
        &mut self,
        error: ErrorCode,
        out: &mut Output<ConsumerTimer>,
    ) {
        let now_ms = self.now_ms;
        let m = self.member.as_mut().expect("a group member");
        match error {
            ErrorCode::None => m.last_heartbeat_ok_ms = now_ms,
            ErrorCode::RebalanceInProgress => {
                m.last_heartbeat_ok_ms = now_ms;
                m.rejoin_needed = true;
                self.wake_application(out);
            }
            ErrorCode::IllegalGeneration => {
                self.lose_membership(false, out);
                self.wake_application(out);
            }
            ErrorCode::UnknownMemberId => {
                self.lose_membership(true, out);
                self.wake_application(out);
            }
            _ => self.coordinator_unknown(out),
        }
    }

    pub(super) fn leave_group(&mut self, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_ref().expect("a group member");
        let group_id = m.settings.group_id.clone();
        let member_id = m.member_id.clone();
        if !member_id.is_empty() {
            self.group_request(
                GroupRequest::LeaveGroup,
                |correlation_id| {
                    Message::LeaveGroup(LeaveGroupRequest {
                        correlation_id,
                        group_id,
                        member_id,
                    })
                },
                out,
            );
        }
        self.lose_membership(true, out);
    }

    pub(super) fn on_group_request_timeout(
        &mut self,
        correlation_id: u64,
        out: &mut Output<ConsumerTimer>,
    ) {
        let Some(m) = self.member.as_mut() else {
            return;
        };
        let Some((_, request)) = m.in_flight.remove(&correlation_id) else {
            return;
        };
        match request {
            GroupRequest::FindCoordinator => {
                self.metadata.rotate_bootstrap();
                self.ensure_coordinator(out);
            }
            GroupRequest::LeaveGroup => {}
            GroupRequest::OffsetCommit(None, _) => {}
            _ => self.coordinator_unknown(out),
        }
    }

    /// Kafka's `AbstractCoordinator.FindCoordinatorResponseHandler`: a coordinator to talk
    /// to, or another look after `retry.backoff.ms`.
    fn on_find_coordinator_response(
        &mut self,
        error: ErrorCode,
        coordinator: Option<BrokerId>,
        out: &mut Output<ConsumerTimer>,
    ) {
        let now_ms = self.now_ms;
        let m = self.member.as_mut().expect("a group member");
        match (error, coordinator) {
            (ErrorCode::None, Some(c)) => {
                m.coordinator = Some(c);
                m.last_heartbeat_ok_ms = now_ms;
                self.application_poll(out);
            }
            _ => {
                m.find_retry_pending = true;
                out.timer(
                    self.config.retry_backoff_ms,
                    ConsumerTimer::FindCoordinatorRetry,
                );
            }
        }
    }

    pub(super) fn on_group_response(
        &mut self,
        from: NodeId,
        message: Message,
        out: &mut Output<ConsumerTimer>,
    ) {
        let correlation_id = match &message {
            Message::FindCoordinatorResponse(r) => r.correlation_id,
            Message::JoinGroupResponse(r) => r.correlation_id,
            Message::SyncGroupResponse(r) => r.correlation_id,
            Message::HeartbeatResponse(r) => r.correlation_id,
            Message::LeaveGroupResponse(r) => r.correlation_id,
            Message::OffsetCommitResponse(r) => r.correlation_id,
            Message::OffsetFetchResponse(r) => r.correlation_id,
            _ => return,
        };
        let Some(m) = self.member.as_mut() else {
            return;
        };
        let Some((_, request)) = m.in_flight.remove(&correlation_id) else {
            return; // Timed out, or sent to a coordinator this member has forgotten.
        };
        if request != GroupRequest::FindCoordinator
            && Some(from) != m.coordinator.map(NodeId::Broker)
        {
            return;
        }
        match (request, message) {
            (GroupRequest::FindCoordinator, Message::FindCoordinatorResponse(r)) => {
                self.on_find_coordinator_response(r.error, r.coordinator, out)
            }
            (GroupRequest::JoinGroup, Message::JoinGroupResponse(r)) => {
                self.on_join_response(r, out)
            }
            (GroupRequest::SyncGroup, Message::SyncGroupResponse(r)) => {
                self.on_sync_response(r.error, r.assignment, out)
            }
            (GroupRequest::Heartbeat, Message::HeartbeatResponse(r)) => {
                self.on_heartbeat_response(r.error, out)
            }
            (GroupRequest::OffsetFetch(_), Message::OffsetFetchResponse(r)) => {
                self.on_offset_fetch_response(r.error, r.offsets, out)
            }
            (GroupRequest::OffsetCommit(purpose, _), Message::OffsetCommitResponse(r)) => {
                self.on_commit_response(r.error, purpose, out)
            }
            _ => {}
        }
    }
}

/// `AbstractCoordinator.joinGroupIfNeeded`: after these errors of a JoinGroup or SyncGroup
/// the join loop goes round again at once, without `retry.backoff.ms`.
fn rejoins_at_once(error: ErrorCode) -> bool {
    matches!(
        error,
        ErrorCode::UnknownMemberId
            | ErrorCode::IllegalGeneration
            | ErrorCode::RebalanceInProgress
            | ErrorCode::MemberIdRequired
    )
}
