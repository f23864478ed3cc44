//! OffsetCommit and OffsetFetch: Kafka's `GroupCoordinator.handleCommitOffsets` and
//! `handleFetchOffsets`.
//!
//! A commit is checked against the group's generation, then written to `__consumer_offsets`;
//! it applies only when the append succeeds (see `group_metadata_manager.rs`).

use super::records::GroupRecord;
use super::*;

impl GroupCoordinator {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_harness::*;
    use super::*;

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
}
