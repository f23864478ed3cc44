//! Heartbeats, LeaveGroup and session expiry: Kafka's `GroupCoordinator.handleHeartbeat`,
//! `handleLeaveGroup` and `DelayedHeartbeat`.
//!
//! A member stays in its group while it heartbeats within `session.timeout.ms`; a member that
//! leaves or goes silent is removed, and a Stable group rebalances without it.

use super::*;
use crate::event::Event;

impl GroupCoordinator {
    pub fn on_heartbeat(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: HeartbeatRequest,
        out: &mut CoordinatorOutput,
    ) {
        let HeartbeatRequest {
            correlation_id,
            group_id,
            generation_id,
            member_id,
        } = request;
        let error = self.heartbeat_error(now_ms, &group_id, generation_id, &member_id, out);
        out.send(
            from,
            Message::HeartbeatResponse(HeartbeatResponse {
                correlation_id,
                error,
            }),
        );
    }

    fn heartbeat_error(
        &mut self,
        now_ms: u64,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        out: &mut CoordinatorOutput,
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
        restart_session(now_ms, group_id, member, out);
        match state {
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            _ => ErrorCode::None,
        }
    }

    pub fn on_leave_group(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: LeaveGroupRequest,
        out: &mut CoordinatorOutput,
    ) {
        let LeaveGroupRequest {
            correlation_id,
            group_id,
            member_id,
        } = request;
        let (group_id, member_id) = (group_id.as_str(), member_id.as_str());
        let error = match self.check_coordinator(group_id) {
            Err(e) => e,
            Ok(_) => {
                let pending = self
                    .groups
                    .get_mut(group_id)
                    .is_some_and(|g| g.pending_members.remove(member_id));
                let known = self
                    .groups
                    .get(group_id)
                    .is_some_and(|g| g.members.contains_key(member_id));
                if pending {
                    self.pending_member_left(now_ms, group_id, member_id, out);
                    ErrorCode::None
                } else if known {
                    self.remove_member(now_ms, group_id, member_id, Removal::Left, out);
                    ErrorCode::None
                } else {
                    ErrorCode::UnknownMemberId
                }
            }
        };
        out.send(
            from,
            Message::LeaveGroupResponse(LeaveGroupResponse {
                correlation_id,
                error,
            }),
        );
    }

    fn remove_member(
        &mut self,
        now_ms: u64,
        group_id: &str,
        member_id: &str,
        removal: Removal,
        out: &mut CoordinatorOutput,
    ) {
        let reason = match &removal {
            Removal::Left => "left the group",
            Removal::Expired(reason) => reason.as_str(),
        };
        let broker = self.broker;
        let group = self.groups.get_mut(group_id).expect("group exists");
        let Some(member) = group.remove_member_quietly(member_id) else {
            return;
        };
        if let (Some(correlation_id), Some(client)) = (member.awaiting_join, member.client) {
            out.send(
                client,
                join_error(correlation_id, ErrorCode::UnknownMemberId),
            );
        }
        out.event(Event::MemberRemoved {
            broker,
            group: group_id.to_string(),
            member: member_id.to_string(),
            reason: reason.to_string(),
        });
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                let why = format!("{member_id} {reason}");
                self.prepare_rebalance(now_ms, group_id, &why, out);
            }
            // A leave may end the round like any JoinGroup (`maybeCompleteJoinPhase`); an
            // expiry may end even an initial round with the Java coordinator.
            GroupState::PreparingRebalance => match removal {
                Removal::Left => self.try_complete_join(now_ms, group_id, out),
                Removal::Expired(_) => self.try_complete_join_after_removal(now_ms, group_id, out),
            },
            GroupState::Empty => {}
        }
    }

    /// A member id handed out with MEMBER_ID_REQUIRED leaves before it joined. The Scala
    /// coordinator only lets a waiting join round end without it
    /// (`removePendingMemberAndUpdateGroup`); the Java one counts it as a member leaving
    /// and rebalances a Stable or CompletingRebalance group (`classicGroupLeave`).
    fn pending_member_left(
        &mut self,
        now_ms: u64,
        group_id: &str,
        member_id: &str,
        out: &mut CoordinatorOutput,
    ) {
        let state = self.groups[group_id].state;
        match state {
            GroupState::Stable | GroupState::CompletingRebalance
                if self.config.new_group_coordinator =>
            {
                let why = format!("{member_id} left the group");
                self.prepare_rebalance(now_ms, group_id, &why, out);
            }
            _ => self.try_complete_join(now_ms, group_id, out),
        }
    }

    pub(super) fn on_session_check(
        &mut self,
        now_ms: u64,
        group_id: &str,
        member_id: &str,
        out: &mut CoordinatorOutput,
    ) {
        let Some(member) = self
            .groups
            .get(group_id)
            .and_then(|g| g.members.get(member_id))
        else {
            return;
        };
        if member.heartbeat_deadline_ms > now_ms {
            return; // heard from since this check was set
        }
        // `MemberMetadata.hasSatisfiedHeartbeat`: a member whose JoinGroup or SyncGroup waits
        // at the coordinator is alive, unless it is new (it may be a client that gave up).
        if !member.is_new && (member.awaiting_join.is_some() || member.awaiting_sync.is_some()) {
            return;
        }
        let reason = format!(
            "sent no heartbeat or offset commit for session.timeout.ms ({} ms)",
            member.session_timeout_ms
        );
        self.remove_member(now_ms, group_id, member_id, Removal::Expired(reason), out);
    }
}

/// Why a member leaves its group.
enum Removal {
    /// It sent a LeaveGroup.
    Left,
    /// Its session ran out; the reason says so.
    Expired(String),
}

/// Kafka's `completeAndScheduleNextHeartbeatExpiration`: `member` was heard from, and its
/// session runs again from now. An older session check finds the newer heartbeat and lets
/// the member be.
pub(super) fn restart_session(
    now_ms: u64,
    group_id: &str,
    member: &mut Member,
    out: &mut CoordinatorOutput,
) {
    schedule_session_check(now_ms, group_id, member, member.session_timeout_ms, out);
}

/// Sets `member`'s heartbeat timer to `timeout_ms` from now, replacing the one before.
pub(super) fn schedule_session_check(
    now_ms: u64,
    group_id: &str,
    member: &mut Member,
    timeout_ms: u64,
    out: &mut CoordinatorOutput,
) {
    member.heartbeat_deadline_ms = now_ms + timeout_ms;
    out.timer(
        timeout_ms,
        GroupTimer::SessionCheck {
            group: group_id.to_string(),
            member: member.member_id.clone(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_harness::*;
    use super::*;

    #[test]
    fn old_generations_and_strangers_are_refused() {
        let (mut h, a, _) = stable_pair();
        assert_eq!(h.heartbeat(A, 2, &a), ErrorCode::None);
        assert_eq!(h.heartbeat(A, 1, &a), ErrorCode::IllegalGeneration);
        assert_eq!(h.heartbeat(A, 2, "nobody"), ErrorCode::UnknownMemberId);
        h.commit(A, 4, 1, &a, vec![(TopicPartition::new("orders", 0), 7)]);
        assert!(matches!(
            h.sent.pop(),
            Some((
                _,
                Message::OffsetCommitResponse(OffsetCommitResponse {
                    error: ErrorCode::IllegalGeneration,
                    ..
                })
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
}
