//! Offsets committed inside a transaction (KIP-98): Kafka's `GroupCoordinator
//! .handleTxnCommitOffsets`, `GroupMetadataManager.storeOffsets` on its transactional path and
//! `handleTxnCompletion`, and the transactional half of `GroupMetadata`'s offsets.
//!
//! Why they wait: a consume-transform-produce application commits the offsets it consumed in
//! the same transaction as the records it produced, so that either both count or neither
//! does. The coordinator writes the offsets at once, as one transactional batch of the
//! transaction's producer, but holds them as *pending* for that producer id: they become the
//! group's committed offsets only when the transaction's COMMIT marker lands on the offsets
//! partition, and an ABORT marker drops them. Until then OffsetFetch answers with the offset
//! committed before, or, when the consumer asks for stable offsets (KIP-447), with
//! UNSTABLE_OFFSET_COMMIT so that the consumer waits instead of starting from an offset the
//! transaction is about to move.
//!
//! Each committed offset remembers where in the log it was written (its batch's base
//! offset): a transaction's offset replaces the committed one at the marker only if it was
//! written after it, so the offset the log would give a new coordinator on loading is the one
//! the cache holds (`CommitRecordMetadataAndOffset.olderThan`).

use super::group_metadata::{Group, GroupState};
use super::group_metadata_manager::AppendPurpose;
use super::records::GroupRecord;
use super::*;

/// One offset of a transaction whose marker has not come yet (Kafka's
/// `CommitRecordMetadataAndOffset` in `pendingTransactionalOffsetCommits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingTxnOffset {
    pub offset: u64,
    /// The base offset of the batch that wrote it; `None` while the append is under way.
    pub position: Option<u64>,
}

/// A transactional offset commit whose append is under way: what its answer needs.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TxnCommitAppend {
    pub(super) group: String,
    pub(super) producer_id: i64,
    pub(super) offsets: BTreeMap<TopicPartition, u64>,
    pub(super) reply_to: NodeId,
    pub(super) correlation_id: u64,
}

/// `GroupMetadataManager.maybeConvertOffsetCommitError`: the produce errors of an offset
/// commit's append, as the committer is told them. The rest (INVALID_PRODUCER_EPOCH, say)
/// pass through.
pub(super) fn maybe_convert_offset_commit_error(error: ErrorCode) -> ErrorCode {
    match error {
        ErrorCode::NetworkException => ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::UnknownTopicOrPartition
        | ErrorCode::NotEnoughReplicas
        | ErrorCode::NotEnoughReplicasAfterAppend => ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotLeaderOrFollower => ErrorCode::NotCoordinator,
        ErrorCode::RecordListTooLarge => ErrorCode::InvalidCommitOffsetSize,
        other => other,
    }
}

/// `GroupCoordinator.validateOffsetCommit` with `isTransactional = true`. A commit without a
/// generation may go to an Empty group; one that names a generation, a member or a group
/// instance (KIP-447's TxnOffsetCommit v3) must be from the current member of the current
/// generation; one that names none of them (an older producer) is let through even into a
/// group with members, unlike an OffsetCommit. No REBALANCE_IN_PROGRESS check and no
/// heartbeat: those are the plain commit's. (Kafka's Dead state, COORDINATOR_NOT_AVAILABLE,
/// does not occur here: an unloaded group is removed at once.)
fn validate_txn_offset_commit(
    group: &Group,
    generation_id: i32,
    member_id: &str,
    group_instance_id: Option<&str>,
) -> Option<ErrorCode> {
    if generation_id < 0 && group.state == GroupState::Empty {
        return None;
    }
    if generation_id < 0 && member_id.is_empty() && group_instance_id.is_none() {
        return None;
    }
    if let Some(error) = validate_current_member(group, member_id, group_instance_id) {
        return Some(error);
    }
    (generation_id != group.generation).then_some(ErrorCode::IllegalGeneration)
}

/// `GroupCoordinator.validateCurrentMember`: a group instance id must belong to the member
/// id (FENCED_INSTANCE_ID if it is another member's, UNKNOWN_MEMBER_ID if nobody's), and the
/// member id must be a member's.
fn validate_current_member(
    group: &Group,
    member_id: &str,
    group_instance_id: Option<&str>,
) -> Option<ErrorCode> {
    if let Some(instance) = group_instance_id {
        let current = group
            .members
            .values()
            .find(|m| m.group_instance_id.as_deref() == Some(instance));
        match current {
            Some(m) if m.member_id != member_id => return Some(ErrorCode::FencedInstanceId),
            Some(_) => {}
            None => return Some(ErrorCode::UnknownMemberId),
        }
    }
    (!group.members.contains_key(member_id)).then_some(ErrorCode::UnknownMemberId)
}

impl Group {
    /// Puts `offset`, written at `position`, as the committed offset of `tp` unless the one
    /// there was written later (`CommitRecordMetadataAndOffset.olderThan`). Two batches never
    /// share a log offset; the equal case only lets a test that answers every append with
    /// offset 0 see its commits in order.
    fn commit_unless_newer_there(&mut self, tp: &TopicPartition, offset: u64, position: u64) {
        if self.offset_positions.get(tp).is_some_and(|p| *p > position) {
            return;
        }
        self.offsets.insert(tp.clone(), offset);
        self.offset_positions.insert(tp.clone(), position);
    }

    /// A plain commit's append succeeded (`GroupMetadata.onOffsetCommitAppend`).
    pub(super) fn on_offset_commit_append(
        &mut self,
        tp: &TopicPartition,
        offset: u64,
        position: u64,
    ) {
        self.commit_unless_newer_there(tp, offset, position);
    }

    /// A committed offset read back from the log at `position` (loading).
    pub(super) fn load_offset(&mut self, tp: TopicPartition, offset: u64, position: u64) {
        self.offsets.insert(tp.clone(), offset);
        self.offset_positions.insert(tp, position);
    }

    /// `GroupMetadata.prepareTxnOffsetCommit`: the offsets are pending for the producer from
    /// before their append, so OffsetFetch sees them as unstable at once.
    pub(super) fn prepare_txn_offset_commit(
        &mut self,
        producer_id: i64,
        offsets: &BTreeMap<TopicPartition, u64>,
    ) {
        let pending = self.pending_txn_offsets.entry(producer_id).or_default();
        for (tp, offset) in offsets {
            let entry = PendingTxnOffset {
                offset: *offset,
                position: None,
            };
            pending.insert(tp.clone(), entry);
        }
    }

    /// `GroupMetadata.onTxnOffsetCommitAppend`: the append succeeded; the pending offset, if
    /// it is still this one, learns where it was written.
    pub(super) fn on_txn_offset_commit_append(
        &mut self,
        producer_id: i64,
        tp: &TopicPartition,
        offset: u64,
        position: u64,
    ) {
        let Some(pending) = self.pending_txn_offsets.get_mut(&producer_id) else {
            return; // The marker came first, or the partition moved away and back.
        };
        if let Some(p) = pending.get_mut(tp).filter(|p| p.offset == offset) {
            p.position = Some(position);
        }
    }

    /// `GroupMetadata.failPendingTxnOffsetCommit`: the append failed, nothing is pending for
    /// the partition any more; the producer retries, perhaps with another coordinator.
    pub(super) fn fail_pending_txn_offset_commit(&mut self, producer_id: i64, tp: &TopicPartition) {
        let Some(pending) = self.pending_txn_offsets.get_mut(&producer_id) else {
            return;
        };
        pending.remove(tp);
        if pending.is_empty() {
            self.pending_txn_offsets.remove(&producer_id);
        }
    }

    /// `GroupMetadata.completePendingTxnOffsetCommit`: the producer's marker is written. On
    /// a commit each of its offsets becomes the committed one unless a later-written commit
    /// is there; on an abort they are dropped. Kafka throws `IllegalStateException` on a
    /// commit whose offset's append has not finished (the producer commits only after its
    /// TxnOffsetCommit was answered); such an offset is dropped here, as Kafka's cache
    /// ends up without it.
    pub(super) fn complete_pending_txn_offset_commit(&mut self, producer_id: i64, commit: bool) {
        let Some(pending) = self.pending_txn_offsets.remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for (tp, p) in pending {
            if let Some(position) = p.position {
                self.commit_unless_newer_there(&tp, p.offset, position);
            }
        }
    }

    /// `GroupMetadata.hasPendingOffsetCommitsFromProducer`.
    pub fn has_pending_offset_commits_from_producer(&self, producer_id: i64) -> bool {
        self.pending_txn_offsets.contains_key(&producer_id)
    }

    /// `GroupMetadata.hasPendingOffsetCommitsForTopicPartition`: what OffsetFetch with
    /// `require_stable` answers UNSTABLE_OFFSET_COMMIT for.
    pub fn has_pending_offset_commits_for(&self, tp: &TopicPartition) -> bool {
        self.pending_txn_offsets
            .values()
            .any(|offsets| offsets.contains_key(tp))
    }

    /// A producer's pending offset of `tp`, if any.
    pub fn pending_txn_offset(
        &self,
        producer_id: i64,
        tp: &TopicPartition,
    ) -> Option<PendingTxnOffset> {
        self.pending_txn_offsets.get(&producer_id)?.get(tp).copied()
    }
}

impl GroupCoordinator {
    /// TxnOffsetCommit (`GroupCoordinator.handleTxnCommitOffsets` and `doTxnCommitOffsets`,
    /// then `GroupMetadataManager.storeOffsets`): checked as the broker's coordinator for
    /// the group and against the group's generation, then written as one transactional batch
    /// of the producer, pending until the transaction's marker. Kafka first checks the
    /// transaction with its coordinator (KIP-890 verification) when that is on; that check is
    /// not modelled, as on the produce path.
    pub fn on_txn_offset_commit(
        &mut self,
        from: NodeId,
        request: TxnOffsetCommitRequest,
        out: &mut CoordinatorOutput,
    ) {
        let TxnOffsetCommitRequest {
            correlation_id,
            transactional_id: _,
            group_id,
            producer_id,
            producer_epoch,
            generation_id,
            member_id,
            group_instance_id,
            offsets,
        } = request;
        // Kafka's request holds a map per topic: a partition named twice is committed once.
        let offsets: BTreeMap<TopicPartition, u64> = offsets.into_iter().collect();
        let reply = |out: &mut CoordinatorOutput, error| {
            out.send(from, txn_commit_response(correlation_id, &offsets, error))
        };
        if let Err(error) = self.check_coordinator(&group_id) {
            return reply(out, error);
        }
        let partition = self.partition_for(&group_id);
        // An unknown group is created Empty whatever the request says.
        let group = self
            .groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(group_id.clone(), partition));
        let instance = group_instance_id.as_deref();
        if let Some(error) = validate_txn_offset_commit(group, generation_id, &member_id, instance)
        {
            return reply(out, error);
        }
        group.prepare_txn_offset_commit(producer_id, &offsets);
        let records = offsets
            .iter()
            .map(|(tp, offset)| GroupRecord::Offset {
                group: group_id.clone(),
                tp: tp.clone(),
                offset: *offset,
            })
            .collect();
        let transactional = TxnAppend {
            producer_id,
            producer_epoch,
        };
        let purpose = AppendPurpose::TxnCommit(TxnCommitAppend {
            group: group_id.clone(),
            producer_id,
            offsets,
            reply_to: from,
            correlation_id,
        });
        self.append_with(&group_id, records, Some(transactional), purpose, out);
    }

    /// The append of a transactional offset commit finished (`GroupMetadataManager
    /// .createPutCacheCallback` with `isTxnOffsetCommit`): the pending offsets learn where
    /// they were written, or stop being pending if the append failed.
    pub(super) fn on_txn_commit_appended(
        &mut self,
        commit: TxnCommitAppend,
        error: ErrorCode,
        base_offset: Option<u64>,
        out: &mut CoordinatorOutput,
    ) {
        let TxnCommitAppend {
            group,
            producer_id,
            offsets,
            reply_to,
            correlation_id,
        } = commit;
        if let Some(g) = self.groups.get_mut(&group) {
            for (tp, offset) in &offsets {
                match (error, base_offset) {
                    (ErrorCode::None, Some(position)) => {
                        g.on_txn_offset_commit_append(producer_id, tp, *offset, position)
                    }
                    _ => g.fail_pending_txn_offset_commit(producer_id, tp),
                }
            }
        }
        let error = maybe_convert_offset_commit_error(error);
        out.send(
            reply_to,
            txn_commit_response(correlation_id, &offsets, error),
        );
    }

    /// A transaction marker of `producer_id` was written on the offsets partitions
    /// `partitions` this broker leads (Kafka's `GroupCoordinator.onTransactionCompleted`,
    /// called from `KafkaApis.handleWriteTxnMarkersRequest` once the marker's append
    /// succeeded, then `GroupMetadataManager.handleTxnCompletion`): the producer's pending
    /// offsets of the groups on those partitions are committed or dropped. Kafka finds the
    /// groups through its `openGroupsForProducer` index; the groups with offsets pending for
    /// the producer are the same ones.
    pub fn on_transaction_completed(
        &mut self,
        producer_id: i64,
        partitions: &[u32],
        result: ControlRecordType,
    ) {
        let commit = result == ControlRecordType::Commit;
        for group in self.groups.values_mut() {
            if partitions.contains(&group.partition)
                && group.has_pending_offset_commits_from_producer(producer_id)
            {
                group.complete_pending_txn_offset_commit(producer_id, commit);
            }
        }
    }
}

/// Every partition of the commit answered with `error`.
fn txn_commit_response(
    correlation_id: u64,
    offsets: &BTreeMap<TopicPartition, u64>,
    error: ErrorCode,
) -> Message {
    Message::TxnOffsetCommitResponse(TxnOffsetCommitResponse {
        correlation_id,
        results: offsets.keys().map(|tp| (tp.clone(), error)).collect(),
    })
}
