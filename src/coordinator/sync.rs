//! SyncGroup and storing the leader's assignment: Kafka's `GroupCoordinator.handleSyncGroup`.
//!
//! The leader's SyncGroup carries the assignment. The group becomes Stable only once the
//! assignment is written to `__consumer_offsets`; until then every member's SyncGroup waits.

use super::records::GroupRecord;
use super::*;
use crate::event::Event;

impl GroupCoordinator {
    /// Appends the group's metadata (generation, leader, members and their assignment).
    /// Writes the group's metadata for its generation with `assignment`
    /// (`GroupMetadataManager.storeGroup`).
    pub(super) fn store_group(
        &mut self,
        group_id: &str,
        assignment: BTreeMap<String, Vec<TopicPartition>>,
        out: &mut CoordinatorOutput,
    ) {
        let group = &self.groups[group_id];
        let record = GroupRecord::Metadata(group.metadata_record_with(&assignment));
        let purpose = AppendPurpose::Assignment {
            group: group_id.to_string(),
            generation: group.generation,
            assignment,
        };
        self.append(group_id, vec![record], purpose, out);
    }

    pub fn on_sync_group(
        &mut self,
        from: NodeId,
        request: SyncGroupRequest,
        out: &mut CoordinatorOutput,
    ) {
        let SyncGroupRequest {
            correlation_id,
            group_id,
            generation_id,
            member_id,
            assignments,
        } = request;
        let (group_id, member_id) = (group_id.as_str(), member_id.as_str());
        if let Err(e) = self.check_coordinator(group_id) {
            return out.send(from, sync_error(correlation_id, e));
        }
        let Some(group) = self.groups.get_mut(group_id) else {
            return out.send(from, sync_error(correlation_id, ErrorCode::UnknownMemberId));
        };
        let Some(member) = group.members.get_mut(member_id) else {
            return out.send(from, sync_error(correlation_id, ErrorCode::UnknownMemberId));
        };
        if generation_id != group.generation {
            return out.send(
                from,
                sync_error(correlation_id, ErrorCode::IllegalGeneration),
            );
        }
        member.client = Some(from);
        if matches!(
            group.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) {
            // `removePendingSyncMember`: this member is not one the sync deadline removes.
            group.pending_sync.remove(member_id);
        }
        let member = group.members.get_mut(member_id).expect("checked above");
        match group.state {
            GroupState::Empty => {
                out.send(from, sync_error(correlation_id, ErrorCode::UnknownMemberId))
            }
            GroupState::PreparingRebalance => out.send(
                from,
                sync_error(correlation_id, ErrorCode::RebalanceInProgress),
            ),
            GroupState::Stable => {
                let assignment = member.assignment.clone();
                out.send(
                    from,
                    Message::SyncGroupResponse(SyncGroupResponse {
                        correlation_id,
                        error: ErrorCode::None,
                        assignment,
                    }),
                );
            }
            GroupState::CompletingRebalance => {
                member.awaiting_sync = Some(correlation_id);
                if group.leader.as_deref() != Some(member_id) {
                    return;
                }
                // The assignment becomes the members' when it is written: a second SyncGroup
                // from the leader before then writes again, and the first write to succeed
                // decides (`GroupCoordinator.doSyncGroup`'s `storeGroup` callback).
                let mut given: BTreeMap<String, Vec<TopicPartition>> =
                    assignments.into_iter().collect();
                given.retain(|member, _| group.members.contains_key(member));
                for member in group.members.keys() {
                    given.entry(member.clone()).or_default();
                }
                self.store_group(group_id, given, out);
            }
        }
    }

    /// Kafka's `DelayedSync` (`GroupCoordinator.onExpirePendingSync`): a rebalance timeout
    /// after a join round ends, the members that have not sent their SyncGroup are removed and
    /// the group rebalances without them. A member that died between its JoinGroup and its
    /// SyncGroup would otherwise hold up the whole generation.
    pub(super) fn on_sync_deadline(
        &mut self,
        now_ms: u64,
        group_id: &str,
        generation: i32,
        out: &mut CoordinatorOutput,
    ) {
        let broker = self.broker;
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let waiting = matches!(
            group.state,
            GroupState::CompletingRebalance | GroupState::Stable
        );
        if group.generation != generation || !waiting || group.pending_sync.is_empty() {
            return;
        }
        let late: Vec<String> = std::mem::take(&mut group.pending_sync)
            .into_iter()
            .collect();
        for member in &late {
            group.remove_member_quietly(member);
            out.event(Event::MemberRemoved {
                broker,
                group: group_id.to_string(),
                member: member.clone(),
                reason: "sent no SyncGroup within the rebalance timeout".into(),
            });
        }
        let reason = format!("{} sent no SyncGroup in time", late.join(", "));
        self.prepare_rebalance(now_ms, group_id, &reason, out);
    }

    pub(super) fn on_assignment_stored(
        &mut self,
        now_ms: u64,
        group_id: &str,
        generation: i32,
        assignment: BTreeMap<String, Vec<TopicPartition>>,
        error: ErrorCode,
        out: &mut CoordinatorOutput,
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
                answer_sync(now_ms, group_id, m, error, out);
            }
            let reason = format!("storing the assignment failed with {error}");
            // The group may be gone from this broker when the failure was a lost leadership.
            if self.check_coordinator(group_id).is_ok() {
                self.prepare_rebalance(now_ms, group_id, &reason, out);
            }
            return;
        }
        group.state = GroupState::Stable;
        for m in group.members.values_mut() {
            m.assignment = assignment.get(&m.member_id).cloned().unwrap_or_default();
            answer_sync(now_ms, group_id, m, ErrorCode::None, out);
        }
        out.event(Event::GroupStable {
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

/// Answers `member`'s waiting SyncGroup, if it has one, with `error` or (without one) its
/// assignment, and restarts its session: while the SyncGroup waited, an expiring session was
/// let go, so a new one starts now (`GroupMetadataManager.propagateAssignment`).
pub(super) fn answer_sync(
    now_ms: u64,
    group_id: &str,
    member: &mut Member,
    error: ErrorCode,
    out: &mut CoordinatorOutput,
) {
    let (Some(correlation_id), Some(client)) = (member.awaiting_sync.take(), member.client) else {
        return;
    };
    let assignment = if error == ErrorCode::None {
        member.assignment.clone()
    } else {
        Vec::new()
    };
    out.send(
        client,
        Message::SyncGroupResponse(SyncGroupResponse {
            correlation_id,
            error,
            assignment,
        }),
    );
    super::heartbeat::restart_session(now_ms, group_id, member, out);
}

#[cfg(test)]
mod tests {
    use super::super::test_harness::*;
    use super::*;
    use crate::assignor::Strategy;

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

    /// A and B join; A, the leader, syncs and its assignment is stored; B never syncs but
    /// heartbeats every 3 s with A for 18 s.
    fn b_never_syncs(h: &mut Harness) -> (i32, String, String) {
        h.join(A, "", 1);
        let (_, a, _) = h.joined(A);
        h.join(B, "", 1);
        h.join(A, &a, 2);
        let (generation, _, _) = h.joined(A);
        let (_, b, _) = h.joined(B);
        let sync = SyncGroupRequest {
            correlation_id: 3,
            group_id: "g".into(),
            generation_id: generation,
            member_id: a.clone(),
            assignments: vec![(a.clone(), vec![TopicPartition::new("orders", 0)])],
        };
        h.run(|c, out| c.on_sync_group(A, sync, out));
        h.complete_appends(ErrorCode::None);
        assert_eq!(h.group().state, GroupState::Stable);
        // B heartbeats, so its session holds, but never asks for its assignment.
        for _ in 0..6 {
            h.advance(3_000);
            assert_eq!(h.heartbeat(B, generation, &b), ErrorCode::None);
            assert_eq!(h.heartbeat(A, generation, &a), ErrorCode::None);
        }
        assert!(
            h.group().members.contains_key(&b),
            "18 s: within the rebalance timeout"
        );
        (generation, a, b)
    }

    #[test]
    fn a_member_that_sends_no_sync_group_is_removed_at_the_rebalance_timeout() {
        let mut h = Harness::new();
        let (_, a, b) = b_never_syncs(&mut h);
        h.advance(3_000);
        assert!(
            !h.group().members.contains_key(&b),
            "20 s after the round ended"
        );
        assert!(h.group().members.contains_key(&a), "A sent its SyncGroup");
        assert_eq!(h.group().state, GroupState::PreparingRebalance);
        assert!(h.events.iter().any(|e| matches!(
            e,
            Event::MemberRemoved { member, reason, .. }
                if member == &b && reason.contains("SyncGroup")
        )));
    }

    #[test]
    fn before_kafka_2_8_1_a_member_that_never_syncs_but_heartbeats_stays() {
        // KAFKA-12890: the group keeps B for as long as B heartbeats.
        let mut h = Harness::from_config(CoordinatorConfig {
            pending_sync_deadline: false,
            ..Harness::config()
        });
        let (generation, a, b) = b_never_syncs(&mut h);
        for _ in 0..10 {
            h.advance(3_000);
            assert_eq!(h.heartbeat(B, generation, &b), ErrorCode::None);
            assert_eq!(h.heartbeat(A, generation, &a), ErrorCode::None);
        }
        assert!(h.group().members.contains_key(&b));
        assert_eq!(h.group().state, GroupState::Stable);
    }

    #[test]
    fn the_first_stored_assignment_of_a_generation_is_the_one_members_get() {
        let mut h = Harness::new();
        h.join(A, "", 1);
        let (generation, a, _) = h.joined(A);
        for (correlation_id, partition) in [(2, 0), (3, 7)] {
            let sync = SyncGroupRequest {
                correlation_id,
                group_id: "g".into(),
                generation_id: generation,
                member_id: a.clone(),
                assignments: vec![(a.clone(), vec![TopicPartition::new("orders", partition)])],
            };
            h.run(|c, out| c.on_sync_group(A, sync, out));
        }
        assert_eq!(h.appends.len(), 2, "each SyncGroup from the leader writes");
        assert!(
            h.group().members[&a].assignment.is_empty(),
            "nothing is written yet"
        );
        h.complete_appends(ErrorCode::None);
        assert_eq!(
            h.group().members[&a].assignment,
            vec![TopicPartition::new("orders", 0)],
            "the second write finds the group Stable already and changes nothing"
        );
    }

    #[test]
    fn a_sync_answer_restarts_the_members_session() {
        let mut h = Harness::new();
        h.join(A, "", 1);
        let (generation, a, _) = h.joined(A);
        // A waits for its assignment for 9 s: its session (10 s) must not run out under it.
        h.advance(9_000);
        let sync = SyncGroupRequest {
            correlation_id: 2,
            group_id: "g".into(),
            generation_id: generation,
            member_id: a.clone(),
            assignments: Vec::new(),
        };
        h.run(|c, out| c.on_sync_group(A, sync, out));
        h.advance(2_000);
        h.complete_appends(ErrorCode::None);
        h.advance(9_000);
        assert!(
            h.group().members.contains_key(&a),
            "9 s since its SyncGroup was answered"
        );
        h.advance(1_000);
        assert!(
            !h.group().members.contains_key(&a),
            "10 s without a heartbeat"
        );
    }
}
