//! JoinGroup and the join phase of a rebalance: Kafka's `GroupCoordinator.handleJoinGroup`,
//! `DelayedJoin` and `InitialDelayedJoin`.
//!
//! A join round ends when every known member has joined again, or at the rebalance timeout;
//! then a new generation starts and every member that joined gets its JoinGroup response.

use super::group_metadata::InitialDelay;
use super::*;
use crate::assignor::Strategy;
use crate::event::Event;

/// How long a new member may wait in a join round before it is given up (Kafka's
/// `GroupCoordinator.NewMemberJoinTimeoutMs`, 5 minutes).
const NEW_MEMBER_JOIN_TIMEOUT_MS: u64 = 5 * 60 * 1000;

/// What a JoinGroup says about the member that sends it.
struct Joining {
    client_id: String,
    group_instance_id: Option<String>,
    session_timeout_ms: u64,
    rebalance_timeout_ms: u64,
    protocols: Vec<Strategy>,
    subscription: Subscription,
}

impl GroupCoordinator {
    pub fn on_join_group(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: JoinGroupRequest,
        out: &mut CoordinatorOutput,
    ) {
        let JoinGroupRequest {
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
        } = request;
        let epoch = match self.check_join(&group_id, &member_id, session_timeout_ms) {
            Ok(epoch) => epoch,
            Err(e) => return out.send(from, join_error(correlation_id, e)),
        };
        let partition = self.partition_for(&group_id);
        // Kafka creates the group for a new member before it looks at the request's protocols
        // (`GroupCoordinator.handleJoinGroup`'s `getOrMaybeCreateGroup`), so a refused first
        // JoinGroup still leaves an Empty group behind.
        let group = self
            .groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(group_id.clone(), partition));
        // `GroupMetadata.supportsProtocols`, asked for new and known members alike.
        if !group.supports_protocols(&protocols) {
            return out.send(
                from,
                join_error(correlation_id, ErrorCode::InconsistentGroupProtocol),
            );
        }
        let joining = Joining {
            client_id,
            group_instance_id,
            session_timeout_ms,
            rebalance_timeout_ms,
            protocols,
            subscription,
        };
        if member_id.is_empty() {
            self.next_member_number += 1;
            let new_id = format!("{}-{epoch}.{}", joining.client_id, self.next_member_number);
            if require_known_member_id && joining.group_instance_id.is_none() {
                // KIP-394 (`doNewMemberJoinGroup`): hand out the id and wait for the member
                // to join with it, for at most a session.
                group.pending_members.insert(new_id.clone());
                out.timer(
                    session_timeout_ms,
                    GroupTimer::PendingMemberCheck {
                        group: group_id.clone(),
                        member: new_id.clone(),
                    },
                );
                return out.send(
                    from,
                    Message::JoinGroupResponse(JoinGroupResponse {
                        member_id: new_id,
                        ..join_error_response(correlation_id, ErrorCode::MemberIdRequired)
                    }),
                );
            }
            return self.add_member_and_rebalance(
                now_ms,
                from,
                correlation_id,
                &group_id,
                new_id,
                joining,
                out,
            );
        }
        if group.pending_members.remove(&member_id) {
            // `doCurrentMemberJoinGroup`: a pending member joins for real.
            return self.add_member_and_rebalance(
                now_ms,
                from,
                correlation_id,
                &group_id,
                member_id,
                joining,
                out,
            );
        }
        let Joining {
            session_timeout_ms,
            rebalance_timeout_ms,
            protocols,
            subscription,
            ..
        } = joining;
        let Some(member) = group.members.get_mut(&member_id) else {
            return out.send(from, join_error(correlation_id, ErrorCode::UnknownMemberId));
        };
        let unchanged = member.protocols == protocols && member.subscription == subscription;
        member.client = Some(from);
        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
        // `GroupCoordinator.doCurrentMemberJoinGroup`: a member that joins again with what it
        // joined with before (it lost the JoinGroup answer, say) is told the current
        // generation, unless the group is Stable and the member leads: a leader's JoinGroup
        // in a Stable group always starts a rebalance (it may have seen topic metadata
        // change, which the members' subscriptions do not show).
        let answer_current = unchanged
            && match group.state {
                GroupState::CompletingRebalance => true,
                GroupState::Stable => !is_leader,
                GroupState::Empty | GroupState::PreparingRebalance => false,
            };
        if answer_current {
            let response = group.join_response(correlation_id, &member_id);
            return out.send(from, response);
        }
        let member = group.members.get_mut(&member_id).expect("checked above");
        member.session_timeout_ms = session_timeout_ms;
        member.rebalance_timeout_ms = rebalance_timeout_ms;
        member.protocols = protocols;
        member.subscription = subscription;
        member.awaiting_join = Some(correlation_id);
        let reason = format!("{member_id} joined again");
        self.prepare_or_complete(now_ms, &group_id, &reason, out);
    }

    /// Kafka's `addMemberAndRebalance`: `member_id` becomes a member of the group, waiting
    /// for the join round to end, and the round starts or may end.
    #[allow(clippy::too_many_arguments)]
    fn add_member_and_rebalance(
        &mut self,
        now_ms: u64,
        from: NodeId,
        correlation_id: u64,
        group_id: &str,
        member_id: String,
        joining: Joining,
        out: &mut CoordinatorOutput,
    ) {
        let new_group_coordinator = self.config.new_group_coordinator;
        let new_member_join_timeout = self.config.new_member_join_timeout;
        let group = self.groups.get_mut(group_id).expect("group exists");
        // Whether a new member lets an initial rebalance wait longer: the Scala coordinator
        // asks this only of a group's very first rebalance (`addMemberAndRebalance`:
        // generation 0), the Java one of any round that started from Empty
        // (`addMemberThenRebalanceOrCompleteJoin`: previous state Empty).
        let extends_delay = if new_group_coordinator {
            group.from_empty
        } else {
            group.generation == 0
        };
        if group.state == GroupState::PreparingRebalance && extends_delay {
            group.new_member_added = true;
        }
        let join_seq = group.next_join_seq;
        group.next_join_seq += 1;
        group.members.insert(
            member_id.clone(),
            Member {
                member_id: member_id.clone(),
                group_instance_id: joining.group_instance_id,
                client: Some(from),
                session_timeout_ms: joining.session_timeout_ms,
                rebalance_timeout_ms: joining.rebalance_timeout_ms,
                protocols: joining.protocols,
                subscription: joining.subscription,
                assignment: Vec::new(),
                awaiting_join: Some(correlation_id),
                awaiting_sync: None,
                heartbeat_deadline_ms: 0,
                is_new: new_member_join_timeout,
                join_seq,
            },
        );
        if new_member_join_timeout {
            // A new member cannot heartbeat before its first JoinGroup answer, and a client
            // that gave up and retried would leave it behind: it has `NewMemberJoinTimeoutMs`
            // to be through a join round (`addMemberAndRebalance`).
            let member = group.members.get_mut(&member_id).expect("just added");
            super::heartbeat::schedule_session_check(
                now_ms,
                group_id,
                member,
                NEW_MEMBER_JOIN_TIMEOUT_MS,
                out,
            );
        }
        // `GroupMetadata.add`: the first member to arrive leads.
        if group.leader.is_none() {
            group.leader = Some(member_id.clone());
        }
        let reason = format!("{member_id} joined");
        self.prepare_or_complete(now_ms, group_id, &reason, out);
    }

    /// A member id handed out with MEMBER_ID_REQUIRED went unused for a session: it is
    /// dropped, and a join round that waited for it may end
    /// (`GroupCoordinator.removePendingMemberAndUpdateGroup`).
    pub(super) fn on_pending_member_check(
        &mut self,
        now_ms: u64,
        group_id: &str,
        member_id: &str,
        out: &mut CoordinatorOutput,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.pending_members.remove(member_id) {
            self.try_complete_join_after_removal(now_ms, group_id, out);
        }
    }

    /// The checks a JoinGroup passes before it may create its group, in Kafka's order
    /// (`GroupCoordinator.handleJoinGroup`): the coordinator, the session timeout, and that a
    /// known member id names an existing group. Returns the partition's leader epoch, which
    /// new member ids include.
    fn check_join(
        &self,
        group_id: &str,
        member_id: &str,
        session_timeout_ms: u64,
    ) -> Result<LeaderEpoch, ErrorCode> {
        let epoch = self.check_coordinator(group_id)?;
        if session_timeout_ms < self.config.group_min_session_timeout_ms
            || session_timeout_ms > self.config.group_max_session_timeout_ms
        {
            return Err(ErrorCode::InvalidSessionTimeout);
        }
        if !member_id.is_empty() && !self.groups.contains_key(group_id) {
            // Only a new member (no member id yet) may create a group.
            return Err(ErrorCode::UnknownMemberId);
        }
        Ok(epoch)
    }

    /// After a join: start a rebalance, or finish the join round if everyone is in.
    fn prepare_or_complete(
        &mut self,
        now_ms: u64,
        group_id: &str,
        reason: &str,
        out: &mut CoordinatorOutput,
    ) {
        let state = self.groups[group_id].state;
        match state {
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, group_id, out),
            _ => self.prepare_rebalance(now_ms, group_id, reason, out),
        }
    }

    pub(super) fn prepare_rebalance(
        &mut self,
        now_ms: u64,
        group_id: &str,
        reason: &str,
        out: &mut CoordinatorOutput,
    ) {
        let initial_delay_ms = self.config.group_initial_rebalance_delay_ms;
        let broker = self.broker;
        let group = self.groups.get_mut(group_id).expect("group exists");
        if group.state == GroupState::CompletingRebalance {
            // The assignment of this generation will never come: members waiting for it
            // must join again.
            for m in group.members.values_mut() {
                m.assignment.clear();
                super::sync::answer_sync(now_ms, group_id, m, ErrorCode::RebalanceInProgress, out);
            }
        }
        // `removeSyncExpiration`: a new round, nobody owes a SyncGroup.
        group.pending_sync.clear();
        let was_empty = group.state == GroupState::Empty;
        group.state = GroupState::PreparingRebalance;
        group.round += 1;
        let rebalance_timeout_ms = group.rebalance_timeout_ms();
        group.from_empty = was_empty;
        // A round from Empty always waits in Kafka's `InitialDelayedJoin`, even for a delay of
        // 0: it ends when its timer fires, not when everyone has joined.
        let delay_ms = if was_empty {
            // Kafka's `InitialDelayedJoin`: wait `group.initial.rebalance.delay.ms`, and again
            // while new members keep arriving, up to the rebalance timeout in all.
            group.initial_delay = Some(InitialDelay {
                delay_ms: initial_delay_ms,
                remaining_ms: rebalance_timeout_ms.saturating_sub(initial_delay_ms),
            });
            initial_delay_ms
        } else {
            group.initial_delay = None;
            rebalance_timeout_ms
        };
        out.event(Event::RebalanceStarted {
            broker,
            group: group_id.to_string(),
            generation: group.generation,
            reason: reason.to_string(),
        });
        out.timer(
            delay_ms,
            GroupTimer::JoinDeadline {
                group: group_id.to_string(),
                round: group.round,
            },
        );
        self.try_complete_join(now_ms, group_id, out);
    }

    /// Kafka's `DelayedJoin.tryComplete`: the round ends early once every known member has
    /// sent its JoinGroup (and no initial delay is running: `InitialDelayedJoin` never ends
    /// early).
    pub(super) fn try_complete_join(
        &mut self,
        now_ms: u64,
        group_id: &str,
        out: &mut CoordinatorOutput,
    ) {
        let group = &self.groups[group_id];
        if group.state != GroupState::PreparingRebalance || group.initial_delay.is_some() {
            return;
        }
        self.complete_join_if_all_joined(now_ms, group_id, out);
    }

    /// After a member is removed while the group prepares a rebalance. The Scala coordinator
    /// tries the delayed join as always (`removeMemberAndUpdateGroup`); the Java one ends the
    /// round once everyone left has joined, initial delay or not
    /// (`GroupMetadataManager.removeMemberAndUpdateClassicGroup`).
    pub(super) fn try_complete_join_after_removal(
        &mut self,
        now_ms: u64,
        group_id: &str,
        out: &mut CoordinatorOutput,
    ) {
        if !self.config.new_group_coordinator {
            return self.try_complete_join(now_ms, group_id, out);
        }
        if self.groups[group_id].state != GroupState::PreparingRebalance {
            return;
        }
        self.complete_join_if_all_joined(now_ms, group_id, out);
    }

    fn complete_join_if_all_joined(
        &mut self,
        now_ms: u64,
        group_id: &str,
        out: &mut CoordinatorOutput,
    ) {
        // `GroupMetadata.hasAllMembersJoined`: every member has joined again and no member
        // id handed out with MEMBER_ID_REQUIRED is still unused.
        let group = &self.groups[group_id];
        if group.pending_members.is_empty()
            && group.members.values().all(|m| m.awaiting_join.is_some())
        {
            self.complete_join(now_ms, group_id, out);
        }
    }

    pub(super) fn on_join_deadline(
        &mut self,
        now_ms: u64,
        group_id: &str,
        round: u64,
        out: &mut CoordinatorOutput,
    ) {
        let initial_delay_ms = self.config.group_initial_rebalance_delay_ms;
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.round != round || group.state != GroupState::PreparingRebalance {
            return;
        }
        if let Some(delay) = group.initial_delay {
            if group.new_member_added && delay.remaining_ms > 0 {
                // `InitialDelayedJoin.onComplete`: a new member arrived, wait a little longer.
                // The flag is the group's and is cleared only here, so one left set when a
                // round ended with no time remaining extends the next initial round.
                group.new_member_added = false;
                let next = initial_delay_ms.min(delay.remaining_ms);
                group.initial_delay = Some(InitialDelay {
                    delay_ms: next,
                    remaining_ms: delay.remaining_ms.saturating_sub(delay.delay_ms),
                });
                out.timer(
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
        self.complete_join(now_ms, group_id, out);
    }

    /// The join round ends: members that did not join are removed, and a new generation
    /// starts with a leader and the assignor every member supports.
    fn complete_join(&mut self, now_ms: u64, group_id: &str, out: &mut CoordinatorOutput) {
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
            group.remove_member_quietly(&member);
            out.event(Event::MemberRemoved {
                broker,
                group: group_id.to_string(),
                member,
                reason: "did not join again within the rebalance timeout".into(),
            });
        }
        group.generation += 1;
        group.protocol = group.select_protocol();
        // Whoever led and did not join again has been removed, and the leader moved on with
        // the removal (`GroupMetadata.remove`): the leader is one of the joined members.
        assert_eq!(
            group.leader.is_some(),
            !group.members.is_empty(),
            "a group has a leader exactly when it has members"
        );
        assert!(group
            .leader
            .as_ref()
            .is_none_or(|l| group.members.contains_key(l)));
        group.state = if group.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::CompletingRebalance
        };
        out.event(Event::GenerationStarted {
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
            let client = m.client;
            let response = group.join_response(correlation_id, &id);
            if let Some(client) = client {
                out.send(client, response);
            }
            let m = group.members.get_mut(&id).expect("member");
            m.is_new = false;
            super::heartbeat::restart_session(now_ms, group_id, m, out);
        }
        if group.state == GroupState::CompletingRebalance && self.config.pending_sync_deadline {
            // Kafka's `schedulePendingSync`: every member owes a SyncGroup within the
            // rebalance timeout.
            group.pending_sync = group.members.keys().cloned().collect();
            out.timer(
                group.rebalance_timeout_ms(),
                GroupTimer::SyncDeadline {
                    group: group_id.to_string(),
                    generation: group.generation,
                },
            );
        }
        if group.state == GroupState::Empty {
            // Kafka writes the empty group's new generation too.
            self.store_group(group_id, BTreeMap::new(), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_harness::*;
    use super::*;

    #[test]
    fn a_member_that_does_not_join_again_is_dropped_at_the_rebalance_timeout() {
        let (mut h, a, b) = stable_pair();
        let leave = LeaveGroupRequest {
            correlation_id: 6,
            group_id: "g".into(),
            member_id: b,
        };
        h.run(|c, out| c.on_leave_group(0, B, leave, out));
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

    /// Two new members join an Empty group, the second while the first wait runs.
    fn two_new_members(h: &mut Harness) {
        h.join(A, "", 1);
        h.advance(1_000);
        h.join(B, "", 2);
    }

    fn leave(h: &mut Harness, members: [(NodeId, String); 2]) {
        for (from, member_id) in members {
            h.leave(from, member_id);
        }
    }

    fn completed_after_ms(h: &mut Harness) -> u64 {
        let start = h.now_ms;
        while !h
            .sent
            .iter()
            .any(|(_, m)| matches!(m, Message::JoinGroupResponse(_)))
        {
            h.advance(500);
            assert!(h.now_ms - start < 60_000, "the round never ends");
        }
        h.now_ms - start
    }

    #[test]
    fn a_new_member_extends_only_the_groups_first_initial_rebalance_in_zookeeper_mode() {
        // The Scala coordinator (GroupCoordinator.addMemberAndRebalance) sets newMemberAdded
        // only in generation 0.
        let mut h = Harness::with(3_000, false);
        two_new_members(&mut h);
        assert_eq!(
            completed_after_ms(&mut h),
            5_000,
            "3 s, then 3 s more for B"
        );
        let (generation, a, _) = h.joined(A);
        let (_, b, _) = h.joined(B);
        assert_eq!(generation, 1);
        leave(&mut h, [(A, a), (B, b)]);
        assert_eq!(h.group().state, GroupState::Empty);
        h.sent.clear();
        two_new_members(&mut h);
        assert_eq!(
            completed_after_ms(&mut h),
            2_000,
            "generation 2: one wait of 3 s from A's join, B's arrival extends nothing"
        );
    }

    #[test]
    fn a_new_member_extends_every_initial_rebalance_with_the_java_coordinator() {
        // GroupMetadataManager.addMemberThenRebalanceOrCompleteJoin: previous state Empty.
        let mut h = Harness::with(3_000, true);
        two_new_members(&mut h);
        assert_eq!(completed_after_ms(&mut h), 5_000);
        let (_, a, _) = h.joined(A);
        let (_, b, _) = h.joined(B);
        leave(&mut h, [(A, a), (B, b)]);
        h.sent.clear();
        two_new_members(&mut h);
        assert_eq!(completed_after_ms(&mut h), 5_000);
    }

    #[test]
    fn the_leader_joining_again_unchanged_while_the_group_syncs_gets_the_current_generation() {
        let mut h = Harness::new();
        h.join(A, "", 1);
        let (generation, a, _) = h.joined(A);
        assert_eq!(h.group().state, GroupState::CompletingRebalance);
        // A lost its JoinGroup answer and asks again: no new round, the same generation.
        h.join(A, &a, 2);
        let (again, member, leader) = h.joined(A);
        assert_eq!(
            (again, member.as_str(), leader.as_str()),
            (generation, a.as_str(), a.as_str())
        );
        assert_eq!(h.group().state, GroupState::CompletingRebalance);
    }

    #[test]
    fn a_refused_first_join_leaves_an_empty_group() {
        let mut h = Harness::new();
        let request = JoinGroupRequest {
            correlation_id: 1,
            group_id: "fresh".into(),
            member_id: String::new(),
            client_id: "c".into(),
            group_instance_id: None,
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 20_000,
            protocols: Vec::new(),
            subscription: Subscription {
                topics: vec!["orders".into()],
                owned_partitions: vec![],
                generation: -1,
            },
            require_known_member_id: false,
        };
        h.run(|c, out| c.on_join_group(0, A, request, out));
        assert!(matches!(
            h.sent.pop(),
            Some((
                _,
                Message::JoinGroupResponse(JoinGroupResponse {
                    error: ErrorCode::InconsistentGroupProtocol,
                    ..
                })
            ))
        ));
        assert_eq!(h.c.groups()["fresh"].state, GroupState::Empty);
    }

    fn join_v4(h: &mut Harness, from: NodeId, member_id: &str, correlation_id: u64) {
        h.join_with(from, member_id, correlation_id, true);
    }

    fn member_id_required(h: &mut Harness, to: NodeId) -> String {
        match h.sent.pop() {
            Some((
                node,
                Message::JoinGroupResponse(JoinGroupResponse {
                    error: ErrorCode::MemberIdRequired,
                    member_id,
                    ..
                }),
            )) if node == to => member_id,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn from_join_group_v4_a_new_member_first_gets_its_id_then_joins_with_it() {
        let mut h = Harness::new();
        join_v4(&mut h, A, "", 1);
        let a = member_id_required(&mut h, A);
        assert!(
            h.group().members.is_empty(),
            "an id handed out is not a member"
        );
        assert_eq!(h.group().state, GroupState::Empty);
        join_v4(&mut h, A, &a, 2);
        let (generation, member, leader) = h.joined(A);
        assert_eq!(
            (generation, member.as_str(), leader.as_str()),
            (1, a.as_str(), a.as_str())
        );
    }

    #[test]
    fn an_unused_member_id_holds_a_join_round_until_its_session_runs_out() {
        let (mut h, a, b) = stable_pair();
        join_v4(&mut h, NodeId::Consumer(2), "", 7);
        let c = member_id_required(&mut h, NodeId::Consumer(2));
        // A rebalance starts; A and B join again, but the round waits for C's id to be used.
        h.leave(B, b);
        h.join(A, &a, 9);
        assert_eq!(h.group().state, GroupState::PreparingRebalance);
        h.advance(9_000);
        assert_eq!(
            h.group().state,
            GroupState::PreparingRebalance,
            "C's id is pending"
        );
        h.advance(1_000);
        assert_eq!(
            h.group().state,
            GroupState::CompletingRebalance,
            "C's id expired"
        );
        let (generation, _, _) = h.joined(A);
        assert_eq!(generation, 3);
        assert!(!h.group().members.contains_key(&c));
    }

    #[test]
    fn an_unused_member_id_that_leaves_rebalances_only_with_the_java_coordinator() {
        for (new_group_coordinator, state) in [
            (false, GroupState::Stable),
            (true, GroupState::PreparingRebalance),
        ] {
            let (mut h, _, _) = stable_pair_with(Harness::with(0, new_group_coordinator));
            join_v4(&mut h, NodeId::Consumer(2), "", 7);
            let c = member_id_required(&mut h, NodeId::Consumer(2));
            h.leave(NodeId::Consumer(2), c);
            assert_eq!(
                h.group().state,
                state,
                "new_group_coordinator: {new_group_coordinator}"
            );
        }
    }
}
