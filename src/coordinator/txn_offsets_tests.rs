//! Transactional offset commits in the coordinator, ported from Kafka 3.7's
//! `GroupCoordinatorTest` (the `*TxnOffsets*` and `testTxnCommitOffsetWith*` cases),
//! `GroupMetadataManagerTest` (`testTransactionalCommitOffset*`) and `GroupMetadataTest`
//! (the cases where a consumer's and a transaction's commit race).

use super::test_harness::*;
use super::*;

const PID: i64 = 1000;
const EPOCH: i16 = 2;

fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// Who a TxnOffsetCommit says it comes from (KIP-447's group metadata); the default is an
/// older producer that names none.
#[derive(Clone, Default)]
struct From {
    member_id: String,
    group_instance_id: Option<String>,
    generation_id: i32,
}

fn anyone() -> From {
    From {
        generation_id: -1,
        ..From::default()
    }
}

fn member(member_id: &str, generation_id: i32) -> From {
    From {
        member_id: member_id.into(),
        group_instance_id: None,
        generation_id,
    }
}

impl Harness {
    /// Sends a TxnOffsetCommit to group `group_id`, lets its append (if any) succeed, and
    /// returns the answer's errors.
    fn txn_commit_to(
        &mut self,
        group_id: &str,
        producer: (i64, i16),
        from: From,
        offsets: Vec<(TopicPartition, u64)>,
    ) -> Vec<(TopicPartition, ErrorCode)> {
        self.send_txn_commit(group_id, producer, from, offsets);
        self.complete_appends(ErrorCode::None);
        self.txn_commit_answer()
    }

    fn txn_commit(
        &mut self,
        producer: (i64, i16),
        from: From,
        offsets: Vec<(TopicPartition, u64)>,
    ) -> Vec<(TopicPartition, ErrorCode)> {
        self.txn_commit_to("g", producer, from, offsets)
    }

    fn send_txn_commit(
        &mut self,
        group_id: &str,
        (producer_id, producer_epoch): (i64, i16),
        from: From,
        offsets: Vec<(TopicPartition, u64)>,
    ) {
        let request = TxnOffsetCommitRequest {
            correlation_id: 30,
            transactional_id: "txn".into(),
            group_id: group_id.into(),
            producer_id,
            producer_epoch,
            generation_id: from.generation_id,
            member_id: from.member_id,
            group_instance_id: from.group_instance_id,
            offsets,
        };
        self.run(|c, out| c.on_txn_offset_commit(A, request, out));
    }

    fn txn_commit_answer(&mut self) -> Vec<(TopicPartition, ErrorCode)> {
        match self.sent.pop() {
            Some((_, Message::TxnOffsetCommitResponse(r))) => r.results,
            other => panic!("{other:?}"),
        }
    }

    /// OffsetFetch of `partitions` of group `group_id`.
    fn fetch_from(
        &mut self,
        group_id: &str,
        partitions: Vec<TopicPartition>,
        require_stable: bool,
    ) -> Vec<(TopicPartition, Option<u64>, ErrorCode)> {
        let request = OffsetFetchRequest {
            correlation_id: 40,
            group_id: group_id.into(),
            partitions,
            require_stable,
        };
        self.run(|c, out| c.on_offset_fetch(B, request, out));
        match self.sent.pop() {
            Some((_, Message::OffsetFetchResponse(r))) => {
                assert_eq!(r.error, ErrorCode::None);
                r.offsets
                    .into_iter()
                    .map(|p| (p.tp, p.offset, p.error))
                    .collect()
            }
            other => panic!("{other:?}"),
        }
    }

    fn fetch(
        &mut self,
        partitions: Vec<TopicPartition>,
    ) -> Vec<(TopicPartition, Option<u64>, ErrorCode)> {
        self.fetch_from("g", partitions, true)
    }

    /// The committed offset of `tp` of group "g" as a fetch without `require_stable` sees it.
    fn committed(&mut self, tp: &TopicPartition) -> Option<u64> {
        let answer = self.fetch_from("g", vec![tp.clone()], false);
        assert_eq!(answer[0].2, ErrorCode::None);
        answer[0].1
    }
}

fn ok(tps: &[&TopicPartition]) -> Vec<(TopicPartition, ErrorCode)> {
    tps.iter()
        .map(|tp| ((*tp).clone(), ErrorCode::None))
        .collect()
}

/// `testBasicFetchTxnOffsets`: the offset is written at once but committed only by the
/// marker; the batch carries the producer's id and epoch.
#[test]
fn a_transactions_offsets_are_committed_by_its_commit_marker() {
    let mut h = Harness::new();
    let t = tp("topic", 0);
    h.send_txn_commit("g", (PID, EPOCH), anyone(), vec![(t.clone(), 0)]);
    let written = h.appends[0].transactional;
    assert_eq!(
        written,
        Some(TxnAppend {
            producer_id: PID,
            producer_epoch: EPOCH
        })
    );
    h.complete_appends(ErrorCode::None);
    assert_eq!(h.txn_commit_answer(), ok(&[&t]));
    assert_eq!(h.committed(&t), None, "not committed before the marker");
    assert_eq!(h.group().state, GroupState::Empty, "the group was created");

    h.marker(PID, EPOCH, true);
    assert_eq!(h.committed(&t), Some(0));
    assert!(!h.group().has_pending_offset_commits_from_producer(PID));
}

/// `testFetchTxnOffsetsWithAbort`.
#[test]
fn an_aborted_transactions_offsets_are_dropped() {
    let mut h = Harness::new();
    let t = tp("topic", 0);
    assert_eq!(
        h.txn_commit((PID, EPOCH), anyone(), vec![(t.clone(), 0)]),
        ok(&[&t])
    );
    assert_eq!(h.committed(&t), None);
    h.marker(PID, EPOCH, false);
    assert_eq!(h.committed(&t), None);
    assert!(!h.group().has_pending_offset_commits_from_producer(PID));
}

/// `testFetchPendingTxnOffsetsWithAbort`: with `require_stable` a pending partition is
/// UNSTABLE_OFFSET_COMMIT, another partition is answered as usual.
#[test]
fn a_pending_partition_is_unstable_until_the_abort() {
    let mut h = Harness::new();
    let t = tp("topic", 0);
    let absent = tp("non-exist-topic", 0);
    h.txn_commit((PID, EPOCH), anyone(), vec![(t.clone(), 0)]);
    assert_eq!(
        h.fetch(vec![t.clone(), absent.clone()]),
        vec![
            (t.clone(), None, ErrorCode::UnstableOffsetCommit),
            (absent, None, ErrorCode::None)
        ]
    );
    h.marker(PID, EPOCH, false);
    assert_eq!(h.fetch(vec![t.clone()]), vec![(t, None, ErrorCode::None)]);
}

/// `testFetchPendingTxnOffsetsWithCommit`.
#[test]
fn a_pending_partition_is_unstable_until_the_commit() {
    let mut h = Harness::new();
    let t = tp("topic", 0);
    h.txn_commit((PID, EPOCH), anyone(), vec![(t.clone(), 0)]);
    assert_eq!(
        h.fetch(vec![t.clone()]),
        vec![(t.clone(), None, ErrorCode::UnstableOffsetCommit)]
    );
    h.marker(PID, EPOCH, true);
    assert_eq!(
        h.fetch(vec![t.clone()]),
        vec![(t, Some(0), ErrorCode::None)]
    );
}

/// The offsets are pending from the moment the request is accepted, before the append is
/// done (`prepareTxnOffsetCommit` precedes `appendForGroup`).
#[test]
fn a_partition_is_unstable_while_its_transactional_commit_is_written() {
    let mut h = Harness::new();
    let t = tp("topic", 0);
    h.send_txn_commit("g", (PID, EPOCH), anyone(), vec![(t.clone(), 5)]);
    assert_eq!(
        h.fetch(vec![t.clone()]),
        vec![(t, None, ErrorCode::UnstableOffsetCommit)]
    );
}

/// `testFetchTxnOffsetsIgnoreSpuriousCommit`.
#[test]
fn a_commit_marker_after_the_abort_commits_nothing() {
    let mut h = Harness::new();
    let t = tp("topic", 0);
    h.txn_commit((PID, EPOCH), anyone(), vec![(t.clone(), 0)]);
    h.marker(PID, EPOCH, false);
    assert_eq!(h.committed(&t), None);
    h.marker(PID, EPOCH, true);
    assert_eq!(h.committed(&t), None);
}

/// `testFetchTxnOffsetsOneProducerMultipleGroups`: one producer, two groups on different
/// offsets partitions; a marker on one partition completes only that partition's group.
#[test]
fn a_marker_completes_the_groups_of_its_offsets_partition_only() {
    let mut h = Harness::from_config(CoordinatorConfig {
        offsets_topic_num_partitions: 2,
        ..Harness::config()
    });
    h.run(|c, out| c.on_election(1, 0, out));
    h.run(|c, out| c.finish_load(0, 1, 0, &[], out));
    h.timers.clear();
    let (g, other) = ("h", "g");
    assert_eq!(
        (h.c.partition_for(g), h.c.partition_for(other)),
        (0, 1),
        "the groups live in different partitions"
    );
    let (t1, t2) = (tp("topic1", 0), tp("topic2", 0));
    let both = vec![t1.clone(), t2.clone()];
    let producer = (PID, 3);
    assert_eq!(
        h.txn_commit_to(g, producer, anyone(), vec![(t1.clone(), 10)]),
        ok(&[&t1])
    );
    assert_eq!(
        h.txn_commit_to(other, producer, anyone(), vec![(t2.clone(), 15)]),
        ok(&[&t2])
    );

    h.c.on_transaction_completed(PID, &[0], ControlRecordType::Commit);
    let offsets = |h: &mut Harness, group| -> Vec<Option<u64>> {
        let answer = h.fetch_from(group, both.clone(), false);
        answer.into_iter().map(|(_, o, _)| o).collect()
    };
    assert_eq!(offsets(&mut h, g), vec![Some(10), None]);
    assert_eq!(offsets(&mut h, other), vec![None, None]);

    h.c.on_transaction_completed(PID, &[1], ControlRecordType::Commit);
    assert_eq!(offsets(&mut h, g), vec![Some(10), None]);
    assert_eq!(offsets(&mut h, other), vec![None, Some(15)]);
}

/// `testFetchTxnOffsetsMultipleProducersOneGroup`: each producer's marker completes its
/// own offsets only.
#[test]
fn each_producers_marker_completes_its_own_offsets() {
    let mut h = Harness::new();
    let (t1, t2) = (tp("topic1", 0), tp("topic2", 0));
    h.txn_commit((1000, 3), anyone(), vec![(t1.clone(), 10)]);
    h.txn_commit((1005, 4), anyone(), vec![(t2.clone(), 15)]);
    h.marker(1000, 3, true);
    assert_eq!((h.committed(&t1), h.committed(&t2)), (Some(10), None));
    assert_eq!(
        h.fetch(vec![t2.clone()]),
        vec![(t2.clone(), None, ErrorCode::UnstableOffsetCommit)]
    );
    h.marker(1005, 4, true);
    assert_eq!((h.committed(&t1), h.committed(&t2)), (Some(10), Some(15)));
}

/// `testTxnCommitOffsetWithInvalidMemberId`, `testTxnCommitOffsetWithKnownMemberId`,
/// `testTxnCommitOffsetWithIllegalGeneration`, `testTxnCommitOffsetWithLegalGeneration`:
/// KIP-447's group metadata is checked as an OffsetCommit's is.
#[test]
fn a_txn_commit_naming_a_member_is_checked_against_the_generation() {
    let (mut h, a, _) = stable_pair();
    let t = tp("topic", 0);
    let offsets = vec![(t.clone(), 0)];
    let err = |e| vec![(t.clone(), e)];
    assert_eq!(
        h.txn_commit((PID, EPOCH), member("invalid-member", 2), offsets.clone()),
        err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        h.txn_commit((PID, EPOCH), member("invalid-member", -1), offsets.clone()),
        err(ErrorCode::UnknownMemberId),
        "a member id alone is checked too"
    );
    assert_eq!(
        h.txn_commit((PID, EPOCH), member(&a, 2 + 5), offsets.clone()),
        err(ErrorCode::IllegalGeneration)
    );
    assert!(
        h.appends.is_empty() && h.log.len() == 1,
        "nothing more was written"
    );
    assert_eq!(
        h.txn_commit((PID, EPOCH), member(&a, 2), offsets.clone()),
        err(ErrorCode::None)
    );
    // An older producer names no member: let through even into a group with members.
    assert_eq!(
        h.txn_commit((PID, EPOCH), anyone(), offsets),
        err(ErrorCode::None)
    );
}

/// Unlike an OffsetCommit, a transactional commit of the current generation goes through
/// while the group completes a rebalance, and it does not keep the member's session alive.
#[test]
fn a_txn_commit_is_not_refused_while_the_group_completes_a_rebalance() {
    let mut h = Harness::new();
    h.join(A, "", 1);
    let (generation, a, _) = h.joined(A);
    assert_eq!(h.group().state, GroupState::CompletingRebalance);
    h.advance(1_000);
    let deadline = |h: &Harness| h.group().members[&a].heartbeat_deadline_ms;
    let before = deadline(&h);
    let t = tp("topic", 0);
    assert_eq!(
        h.txn_commit((PID, EPOCH), member(&a, generation), vec![(t.clone(), 3)]),
        ok(&[&t])
    );
    assert_eq!(
        deadline(&h),
        before,
        "no heartbeat for a transactional commit"
    );
}

/// `testTxnCommitOffsetWithFencedInstanceId`: a group instance id must be the member's.
#[test]
fn a_txn_commit_with_another_members_instance_id_is_fenced() {
    let (mut h, a, b) = stable_pair();
    for (id, instance) in [(&a, "leader-instance"), (&b, "follower-instance")] {
        let g = h.c.groups.get_mut("g").expect("the group");
        g.members
            .get_mut(id.as_str())
            .expect("a member")
            .group_instance_id = Some(instance.into());
    }
    let t = tp("topic", 0);
    let offsets = vec![(t.clone(), 0)];
    let static_member = |member_id: &str, generation_id| From {
        member_id: member_id.into(),
        group_instance_id: Some("leader-instance".into()),
        generation_id,
    };
    let err = |e| vec![(t.clone(), e)];
    assert_eq!(
        h.txn_commit((PID, EPOCH), static_member("", -1), offsets.clone()),
        err(ErrorCode::FencedInstanceId)
    );
    assert_eq!(
        h.txn_commit(
            (PID, EPOCH),
            static_member("invalid-member", -1),
            offsets.clone()
        ),
        err(ErrorCode::FencedInstanceId)
    );
    let unknown_instance = From {
        group_instance_id: Some("nobody".into()),
        ..static_member(&a, 2)
    };
    assert_eq!(
        h.txn_commit((PID, EPOCH), unknown_instance, offsets.clone()),
        err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        h.txn_commit((PID, EPOCH), static_member(&a, 2), offsets),
        err(ErrorCode::None)
    );
}

/// A generation for a group that does not exist: the group is created Empty, and the
/// commit refused as from an unknown member (`handleTxnCommitOffsets` adds the group before
/// `validateOffsetCommit`).
#[test]
fn a_txn_commit_with_a_generation_for_an_unknown_group_is_from_an_unknown_member() {
    let mut h = Harness::new();
    let t = tp("topic", 0);
    assert_eq!(
        h.txn_commit((PID, EPOCH), member("m", 1), vec![(t.clone(), 0)]),
        vec![(t, ErrorCode::UnknownMemberId)]
    );
    assert_eq!(h.group().state, GroupState::Empty);
}

/// The coordinator's own checks come first: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS.
#[test]
fn a_txn_commit_to_a_broker_that_does_not_answer_for_the_group_is_refused() {
    let mut h = Harness::new();
    let t = tp("topic", 0);
    h.run(|c, out| c.on_resignation(0, out));
    assert_eq!(
        h.txn_commit((PID, EPOCH), anyone(), vec![(t.clone(), 0)]),
        vec![(t.clone(), ErrorCode::NotCoordinator)]
    );
    h.run(|c, out| c.on_election(0, 1, out));
    assert_eq!(
        h.txn_commit((PID, EPOCH), anyone(), vec![(t.clone(), 0)]),
        vec![(t, ErrorCode::CoordinatorLoadInProgress)]
    );
    assert!(h.log.is_empty());
}

/// `testTransactionalCommitOffsetAppendFailure` and `testFailedTxnOffsetCommitLeavesNoPendingState`:
/// a failed append leaves nothing pending, and a later marker commits nothing.
#[test]
fn a_failed_append_leaves_nothing_pending() {
    let mut h = Harness::new();
    let t = tp("topic", 0);
    h.send_txn_commit("g", (PID, EPOCH), anyone(), vec![(t.clone(), 37)]);
    h.complete_appends(ErrorCode::NotEnoughReplicas);
    assert_eq!(
        h.txn_commit_answer(),
        vec![(t.clone(), ErrorCode::CoordinatorNotAvailable)]
    );
    assert!(!h.group().has_pending_offset_commits_from_producer(PID));
    assert_eq!(
        h.fetch(vec![t.clone()]),
        vec![(t.clone(), None, ErrorCode::None)]
    );
    h.marker(PID, EPOCH, true);
    assert_eq!(h.committed(&t), None);
}

/// Errors of the append that are not the coordinator's pass through: an older producer
/// epoch is INVALID_PRODUCER_EPOCH (`maybeConvertOffsetCommitError`).
#[test]
fn a_fenced_producers_append_error_passes_through() {
    let mut h = Harness::new();
    let t = tp("topic", 0);
    h.send_txn_commit("g", (PID, EPOCH), anyone(), vec![(t.clone(), 37)]);
    h.complete_appends(ErrorCode::InvalidProducerEpoch);
    assert_eq!(
        h.txn_commit_answer(),
        vec![(t, ErrorCode::InvalidProducerEpoch)]
    );
}

/// `testConsumerBeatsTransactionalOffsetCommit`: the consumer's commit was written after the
/// transaction's, so it stays the committed offset when the transaction commits.
#[test]
fn a_plain_commit_written_after_the_transactions_wins() {
    let mut h = Harness::new();
    let t = tp("foo", 0);
    h.send_txn_commit("g", (PID, EPOCH), anyone(), vec![(t.clone(), 37)]);
    h.commit(B, 9, -1, "", vec![(t.clone(), 57)]);
    h.complete_appends(ErrorCode::None); // the transaction's batch first, then the consumer's
    assert_eq!(h.committed(&t), Some(57));
    h.marker(PID, EPOCH, true);
    assert_eq!(
        h.committed(&t),
        Some(57),
        "materialized in log order, not marker order"
    );
}

/// `testTransactionBeatsConsumerOffsetCommit`: written after the consumer's, the
/// transaction's offset replaces it at the commit.
#[test]
fn a_transactions_commit_written_after_a_plain_commit_wins() {
    let mut h = Harness::new();
    let t = tp("foo", 0);
    h.commit(B, 9, -1, "", vec![(t.clone(), 57)]);
    h.complete_appends(ErrorCode::None);
    h.txn_commit((PID, EPOCH), anyone(), vec![(t.clone(), 37)]);
    assert_eq!(h.committed(&t), Some(57));
    h.marker(PID, EPOCH, true);
    assert_eq!(h.committed(&t), Some(37));
}

/// `testTransactionalCommitIsAbortedAndConsumerCommitWins`.
#[test]
fn an_aborted_transaction_leaves_the_plain_commit() {
    let mut h = Harness::new();
    let t = tp("foo", 0);
    h.commit(B, 9, -1, "", vec![(t.clone(), 57)]);
    h.complete_appends(ErrorCode::None);
    h.txn_commit((PID, EPOCH), anyone(), vec![(t.clone(), 37)]);
    h.marker(PID, EPOCH, false);
    assert_eq!(h.committed(&t), Some(57));
    assert!(!h.group().has_pending_offset_commits_from_producer(PID));
}
