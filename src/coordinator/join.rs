//! JoinGroup and the join phase of a rebalance: Kafka's `GroupCoordinator.handleJoinGroup`,
//! `DelayedJoin` and `InitialDelayedJoin`.
//!
//! A join round ends when every known member has joined again, or at the rebalance timeout;
//! then a new generation starts and every member that joined gets its JoinGroup response.

use super::group_metadata::InitialDelay;
use super::*;
use crate::assignor::Strategy;
use crate::event::Event;

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
        } = request;
        let epoch = match self.check_join(&group_id, &member_id, session_timeout_ms, &protocols) {
            Ok(epoch) => epoch,
            Err(e) => return out.send(from, join_error(correlation_id, e)),
        };
        let partition = self.partition_for(&group_id);
        let group = self
            .groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(group_id.clone(), partition));
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
            self.prepare_or_complete(now_ms, &group_id, &reason, out);
            return;
        }
        let Some(member) = group.members.get_mut(&member_id) else {
            return out.send(from, join_error(correlation_id, ErrorCode::UnknownMemberId));
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
                out.send(from, response);
            }
            _ => {
                let reason = format!("{member_id} joined again");
                self.prepare_or_complete(now_ms, &group_id, &reason, out);
            }
        }
    }

    /// The checks a JoinGroup passes before it changes the group, in Kafka's order: the
    /// coordinator, the session timeout, the protocols, the member id, the protocols against
    /// the group's. Returns the partition's leader epoch, which new member ids include.
    fn check_join(
        &self,
        group_id: &str,
        member_id: &str,
        session_timeout_ms: u64,
        protocols: &[Strategy],
    ) -> Result<LeaderEpoch, ErrorCode> {
        let epoch = self.check_coordinator(group_id)?;
        if session_timeout_ms < self.config.group_min_session_timeout_ms
            || session_timeout_ms > self.config.group_max_session_timeout_ms
        {
            return Err(ErrorCode::InvalidSessionTimeout);
        }
        if protocols.is_empty() {
            return Err(ErrorCode::InconsistentGroupProtocol);
        }
        let Some(group) = self.groups.get(group_id) else {
            // A new group: only a new member (no member id yet) may create it.
            if member_id.is_empty() {
                return Ok(epoch);
            }
            return Err(ErrorCode::UnknownMemberId);
        };
        if !group.members.is_empty()
            && !group.members.contains_key(member_id)
            && !protocols.iter().any(|p| group.supports(*p))
        {
            return Err(ErrorCode::InconsistentGroupProtocol);
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
                if let (Some(correlation_id), Some(client)) = (m.awaiting_sync.take(), m.client) {
                    out.send(
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
    /// sent its JoinGroup (and no initial delay is running).
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
        if group.members.values().all(|m| m.awaiting_join.is_some()) {
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
            if delay.new_member_joined && delay.remaining_ms > 0 {
                // Kafka's InitialDelayedJoin: more members arrived, wait a little longer.
                let next = initial_delay_ms.min(delay.remaining_ms);
                group.initial_delay = Some(InitialDelay {
                    remaining_ms: delay.remaining_ms - next,
                    new_member_joined: false,
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
            group.members.remove(&member);
            out.event(Event::MemberRemoved {
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
            m.last_heartbeat_ms = now_ms;
            let session_ms = m.session_timeout_ms;
            let client = m.client;
            let response = group.join_response(correlation_id, &id);
            if let Some(client) = client {
                out.send(client, response);
            }
            out.timer(
                session_ms,
                GroupTimer::SessionCheck {
                    group: group_id.to_string(),
                    member: id,
                },
            );
        }
        if group.state == GroupState::Empty {
            // Kafka writes the empty group's new generation too.
            self.store_group(group_id, out);
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
}
