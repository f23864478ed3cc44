//! SyncGroup and storing the leader's assignment: Kafka's `GroupCoordinator.handleSyncGroup`.
//!
//! The leader's SyncGroup carries the assignment. The group becomes Stable only once the
//! assignment is written to `__consumer_offsets`; until then every member's SyncGroup waits.

use super::records::GroupRecord;
use super::*;
use crate::event::Event;

impl GroupCoordinator {
    /// Appends the group's metadata (generation, leader, members and their assignment).
    pub(super) fn store_group(&mut self, group_id: &str, out: &mut CoordinatorOutput) {
        let group = &self.groups[group_id];
        let purpose = AppendPurpose::Assignment {
            group: group_id.to_string(),
            generation: group.generation,
        };
        let record = GroupRecord::Metadata(group.metadata_record());
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
                let mut given: BTreeMap<String, Vec<TopicPartition>> =
                    assignments.into_iter().collect();
                for m in group.members.values_mut() {
                    m.assignment = given.remove(&m.member_id).unwrap_or_default();
                }
                self.store_group(group_id, out);
            }
        }
    }

    pub(super) fn on_assignment_stored(
        &mut self,
        now_ms: u64,
        group_id: &str,
        generation: i32,
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
                if let (Some(correlation_id), Some(client)) = (m.awaiting_sync.take(), m.client) {
                    out.send(client, sync_error(correlation_id, error));
                }
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
            if let (Some(correlation_id), Some(client)) = (m.awaiting_sync.take(), m.client) {
                out.send(
                    client,
                    Message::SyncGroupResponse(SyncGroupResponse {
                        correlation_id,
                        error: ErrorCode::None,
                        assignment: m.assignment.clone(),
                    }),
                );
            }
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
}
