//! The `__consumer_offsets` side of the coordinator: Kafka's `GroupMetadataManager`.
//!
//! A broker coordinates the groups of the offsets partitions it leads. Becoming leader starts
//! a load (the partition is read back before the broker answers for its groups), losing
//! leadership drops the groups, and every change the coordinator makes durable goes through
//! `GroupCoordinator::append` and comes back through [`GroupCoordinator::on_append_done`].

use super::offsets_replay::OffsetsReplay;
use super::records::GroupRecord;
use super::txn_offsets::TxnCommitAppend;
use super::*;
use crate::event::Event;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum AppendPurpose {
    Commit {
        group: String,
        member: String,
        generation: i32,
        offsets: Vec<(TopicPartition, u64)>,
        reply_to: NodeId,
        correlation_id: u64,
    },
    /// The group's metadata for `generation` with the leader's `assignment` (empty for a
    /// group that became Empty). The assignment is the members' only once it is written.
    Assignment {
        group: String,
        generation: i32,
        assignment: BTreeMap<String, Vec<TopicPartition>>,
    },
    /// Offsets committed inside a transaction (see `txn_offsets.rs`).
    TxnCommit(TxnCommitAppend),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PartitionLoad {
    Loading(LeaderEpoch),
    Loaded(LeaderEpoch),
}

impl GroupCoordinator {
    // ---- leadership of `__consumer_offsets` partitions ----

    /// The broker became leader of an offsets partition: read it before answering.
    pub fn on_election(
        &mut self,
        partition: u32,
        leader_epoch: LeaderEpoch,
        out: &mut CoordinatorOutput,
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
        out.event(Event::GroupLoadStarted {
            broker: self.broker,
            partition,
            leader_epoch,
        });
        out.timer(
            LOAD_DELAY_MS,
            GroupTimer::LoadDone {
                partition,
                leader_epoch,
            },
        );
    }

    /// The broker no longer leads an offsets partition: drop its groups. Members find the new
    /// coordinator when their next request is answered with `NOT_COORDINATOR`.
    pub fn on_resignation(&mut self, partition: u32, out: &mut CoordinatorOutput) {
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
                    out.send(
                        client,
                        join_error(correlation_id, ErrorCode::NotCoordinator),
                    );
                }
                if let Some(correlation_id) = m.awaiting_sync {
                    out.send(
                        client,
                        sync_error(correlation_id, ErrorCode::NotCoordinator),
                    );
                }
            }
        }
        out.event(Event::GroupsUnloaded {
            broker: self.broker,
            partition,
            groups: dropped,
        });
    }

    /// The read of a partition finished: rebuild its groups from its batches, in log order
    /// (see `offsets_replay.rs`).
    pub fn finish_load(
        &mut self,
        now_ms: u64,
        partition: u32,
        leader_epoch: LeaderEpoch,
        batches: &[RecordBatch],
        out: &mut CoordinatorOutput,
    ) {
        if self.partitions.get(&partition) != Some(&PartitionLoad::Loading(leader_epoch)) {
            return; // Leadership moved on while reading.
        }
        let replay = OffsetsReplay::read(batches);
        let offsets = replay.offset_records;
        let loaded = replay.into_groups(partition);
        let mut summary = Vec::new();
        for (id, mut group) in loaded {
            // Members carried over keep their generation; they must heartbeat to this broker
            // within their session timeout or be removed.
            for m in group.members.values_mut() {
                super::heartbeat::restart_session(now_ms, &id, m, out);
            }
            summary.push((id.clone(), group.generation));
            self.groups.insert(id, group);
        }
        self.partitions
            .insert(partition, PartitionLoad::Loaded(leader_epoch));
        out.event(Event::GroupsLoaded {
            broker: self.broker,
            partition,
            groups: summary,
            offsets,
        });
    }

    // ---- the log ----

    pub(super) fn append(
        &mut self,
        group_id: &str,
        records: Vec<GroupRecord>,
        purpose: AppendPurpose,
        out: &mut CoordinatorOutput,
    ) {
        self.append_with(group_id, records, None, purpose, out)
    }

    /// An append, transactional when `transactional` names the producer.
    pub(super) fn append_with(
        &mut self,
        group_id: &str,
        records: Vec<GroupRecord>,
        transactional: Option<TxnAppend>,
        purpose: AppendPurpose,
        out: &mut CoordinatorOutput,
    ) {
        self.next_append_id += 1;
        let append_id = self.next_append_id;
        self.pending.insert(append_id, purpose);
        out.request(CoordinatorRequest::Append(PendingAppend {
            append_id,
            partition: self.partition_for(group_id),
            records: records.iter().map(GroupRecord::encode).collect(),
            transactional,
        }));
    }

    /// The broker finished an append: `error` is the produce error (`NONE` once the records
    /// are below the HW, as `acks=all` requires).
    pub fn on_append_done(
        &mut self,
        now_ms: u64,
        append_id: u64,
        error: ErrorCode,
        base_offset: Option<u64>,
        out: &mut CoordinatorOutput,
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
                        let position = base_offset.expect("a written batch has an offset");
                        for (tp, offset) in &offsets {
                            g.on_offset_commit_append(tp, *offset, position);
                        }
                    }
                    out.event(Event::OffsetsCommitted {
                        broker: self.broker,
                        group,
                        generation,
                        member,
                        offsets,
                        log_offset: base_offset,
                    });
                }
                out.send(
                    reply_to,
                    Message::OffsetCommitResponse(OffsetCommitResponse {
                        correlation_id,
                        error: group_error,
                    }),
                );
            }
            AppendPurpose::Assignment {
                group,
                generation,
                assignment,
            } => {
                self.on_assignment_stored(now_ms, &group, generation, assignment, group_error, out)
            }
            AppendPurpose::TxnCommit(commit) => {
                self.on_txn_commit_appended(commit, error, base_offset, out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_harness::*;
    use super::*;

    #[test]
    fn a_loaded_group_keeps_its_generation_members_and_offsets() {
        let (mut h, a, b) = stable_pair();
        let tp = TopicPartition::new("orders", 1);
        h.commit(B, 4, 2, &b, vec![(tp.clone(), 11)]);
        // The metadata record first, then what was written, as the partition's log holds it.
        let metadata = GroupRecord::Metadata(h.group().metadata_record()).encode();
        let mut log = vec![batch_at(0, None, &[metadata])];
        for a in &h.appends {
            log.push(batch_at(log_end(&log), None, &a.records));
        }
        let mut other = Harness::new();
        other.run(|c, out| c.on_resignation(0, out));
        other.run(|c, out| c.on_election(0, 1, out));
        assert_eq!(
            other.heartbeat(A, 2, &a),
            ErrorCode::CoordinatorLoadInProgress
        );
        other.run(|c, out| c.finish_load(0, 0, 1, &log, out));
        let g = other.group();
        assert_eq!((g.state, g.generation), (GroupState::Stable, 2));
        assert_eq!(
            g.members.keys().cloned().collect::<Vec<_>>(),
            vec![a.clone(), b]
        );
        assert_eq!(g.offsets[&tp], 11);
        assert_eq!(other.heartbeat(A, 2, &a), ErrorCode::None);
    }
}
