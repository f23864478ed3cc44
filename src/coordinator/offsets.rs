//! OffsetCommit and OffsetFetch: Kafka's `GroupCoordinator.handleCommitOffsets` and
//! `handleFetchOffsets`.
//!
//! A commit is checked against the group's generation, then written to `__consumer_offsets`;
//! it applies only when the append succeeds (see `group_metadata_manager.rs`).

use super::records::GroupRecord;
use super::*;

impl GroupCoordinator {
    pub fn on_offset_commit(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: OffsetCommitRequest,
        out: &mut CoordinatorOutput,
    ) {
        let OffsetCommitRequest {
            correlation_id,
            group_id,
            generation_id,
            member_id,
            offsets,
        } = request;
        let (group_id, member_id) = (group_id.as_str(), member_id.as_str());
        let reply = |out: &mut CoordinatorOutput, error| {
            out.send(
                from,
                Message::OffsetCommitResponse(OffsetCommitResponse {
                    correlation_id,
                    error,
                }),
            )
        };
        if let Err(e) = self.check_coordinator(group_id) {
            return reply(out, e);
        }
        let partition = self.partition_for(group_id);
        let group = match self.groups.get(group_id) {
            Some(g) => g,
            // A commit outside any generation (`assign()` consumers) creates the group.
            None if generation_id < 0 => self
                .groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id.to_string(), partition)),
            None => return reply(out, ErrorCode::IllegalGeneration),
        };
        // `GroupCoordinator.validateOffsetCommit`: a commit without a generation (an admin
        // client, a consumer that assigns its own partitions) may commit while the group is
        // Empty; otherwise one that names a member or a generation must be the member's, and
        // one that names neither is refused.
        let simple = generation_id < 0 && group.state == GroupState::Empty;
        if !simple {
            if generation_id < 0 && member_id.is_empty() {
                return reply(out, ErrorCode::UnknownMemberId);
            }
            if !group.members.contains_key(member_id) {
                return reply(out, ErrorCode::UnknownMemberId);
            }
            if generation_id != group.generation {
                return reply(out, ErrorCode::IllegalGeneration);
            }
            if group.state == GroupState::CompletingRebalance {
                return reply(out, ErrorCode::RebalanceInProgress);
            }
        }
        // A member's commit in a Stable or PreparingRebalance group keeps its session alive,
        // as a heartbeat does (`GroupCoordinator.doCommitOffsets`'s
        // `completeAndScheduleNextHeartbeatExpiration`).
        let group = self.groups.get_mut(group_id).expect("the group exists");
        if matches!(
            group.state,
            GroupState::Stable | GroupState::PreparingRebalance
        ) {
            if let Some(member) = group.members.get_mut(member_id) {
                super::heartbeat::restart_session(now_ms, group_id, member, out);
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
            out,
        );
    }

    /// OffsetFetch (`GroupCoordinator.handleFetchOffsets`, `GroupMetadataManager
    /// .getOffsets`): each partition's committed offset, whatever the group's state (a group
    /// may keep offsets without using the group protocol). With `require_stable`, a
    /// partition with an offset commit still pending (KIP-447) is answered
    /// UNSTABLE_OFFSET_COMMIT instead, and the consumer asks again.
    pub fn on_offset_fetch(
        &self,
        from: NodeId,
        request: OffsetFetchRequest,
        out: &mut CoordinatorOutput,
    ) {
        let OffsetFetchRequest {
            correlation_id,
            group_id,
            partitions,
            require_stable,
        } = request;
        let group_id = group_id.as_str();
        let (error, offsets) = match self.check_coordinator(group_id) {
            Err(e) => (e, Vec::new()),
            Ok(_) => {
                let group = self.groups.get(group_id);
                let offsets = partitions
                    .into_iter()
                    .map(|tp| fetch_partition(group, tp, require_stable))
                    .collect();
                (ErrorCode::None, offsets)
            }
        };
        out.send(
            from,
            Message::OffsetFetchResponse(OffsetFetchResponse {
                correlation_id,
                error,
                offsets,
            }),
        );
    }
}

/// One partition of `GroupMetadataManager.getOffsets`: no group, no offset.
fn fetch_partition(
    group: Option<&Group>,
    tp: TopicPartition,
    require_stable: bool,
) -> OffsetFetchPartition {
    let Some(group) = group else {
        return OffsetFetchPartition {
            tp,
            offset: None,
            error: ErrorCode::None,
        };
    };
    if require_stable && group.has_pending_offset_commits_for(&tp) {
        return OffsetFetchPartition {
            tp,
            offset: None,
            error: ErrorCode::UnstableOffsetCommit,
        };
    }
    OffsetFetchPartition {
        offset: group.offsets.get(&tp).copied(),
        tp,
        error: ErrorCode::None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_harness::*;
    use super::*;

    #[test]
    fn commits_apply_when_the_append_succeeds_and_not_before() {
        let (mut h, a, _) = stable_pair();
        let tp = TopicPartition::new("orders", 0);
        h.commit(A, 4, 2, &a, vec![(tp.clone(), 7)]);
        assert!(h.group().offsets.is_empty());
        h.complete_appends(ErrorCode::NotEnoughReplicas);
        assert!(matches!(
            h.sent.pop(),
            Some((
                _,
                Message::OffsetCommitResponse(OffsetCommitResponse {
                    error: ErrorCode::CoordinatorNotAvailable,
                    ..
                })
            ))
        ));
        assert!(
            h.group().offsets.is_empty(),
            "a failed append commits nothing"
        );
        h.commit(A, 5, 2, &a, vec![(tp.clone(), 7)]);
        h.complete_appends(ErrorCode::None);
        assert_eq!(h.group().offsets[&tp], 7);
        let fetch = OffsetFetchRequest {
            correlation_id: 6,
            group_id: "g".into(),
            partitions: vec![tp.clone()],
            require_stable: true,
        };
        h.run(|c, out| c.on_offset_fetch(B, fetch, out));
        let expected = OffsetFetchPartition {
            tp,
            offset: Some(7),
            error: ErrorCode::None,
        };
        assert!(matches!(
            h.sent.pop(),
            Some((_, Message::OffsetFetchResponse(OffsetFetchResponse { offsets, .. }))) if offsets == vec![expected]
        ));
    }

    /// A member's commit from a generation the group has left (it missed a rebalance) is
    /// refused before anything is written: Kafka's `GroupCoordinator.handleCommitOffsets`
    /// (`validateOffsetCommit`: a known member, then `generationId != group.generationId`).
    #[test]
    fn a_commit_from_an_old_generation_is_refused_with_illegal_generation() {
        let (mut h, a, _) = stable_pair();
        assert_eq!(h.group().generation, 2);
        let tp = TopicPartition::new("orders", 0);
        h.commit(A, 9, 1, &a, vec![(tp.clone(), 7)]);
        assert!(matches!(
            h.sent.pop(),
            Some((
                NodeId::Consumer(_),
                Message::OffsetCommitResponse(OffsetCommitResponse {
                    correlation_id: 9,
                    error: ErrorCode::IllegalGeneration,
                })
            ))
        ));
        h.complete_appends(ErrorCode::None);
        assert!(h.group().offsets.is_empty(), "nothing was written");
        assert!(h.sent.is_empty(), "{:?}", h.sent);
    }

    #[test]
    fn a_members_commit_keeps_its_session_alive() {
        let (mut h, a, b) = stable_pair();
        // B sends no heartbeat at all, only commits (a consumer busy in a long poll loop).
        for (i, correlation_id) in (20..24).enumerate() {
            h.advance(3_000);
            assert_eq!(h.heartbeat(A, 2, &a), ErrorCode::None);
            let offset = 10 * (i as u64 + 1);
            h.commit(
                B,
                correlation_id,
                2,
                &b,
                vec![(TopicPartition::new("orders", 1), offset)],
            );
        }
        assert!(
            h.group().members.contains_key(&b),
            "12 s, a commit every 3 s"
        );
        h.advance(9_000);
        assert_eq!(h.heartbeat(A, 2, &a), ErrorCode::RebalanceInProgress);
        assert!(
            !h.group().members.contains_key(&b),
            "10 s since its last commit"
        );
    }
}
