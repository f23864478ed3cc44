//! Loading an offsets partition with transactional offset commits, ported from Kafka 3.7's
//! `GroupMetadataManagerTest` (`testLoadTransactionalOffsetsWithoutGroup` and the cases after
//! it).

use super::records::GroupRecord;
use super::test_harness::*;
use super::*;

const PID: i64 = 1000;
const EPOCH: i16 = 2;

fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn offset_records(offsets: &[(TopicPartition, u64)]) -> Vec<(String, String)> {
    offsets
        .iter()
        .map(|(tp, offset)| {
            GroupRecord::Offset {
                group: "g".into(),
                tp: tp.clone(),
                offset: *offset,
            }
            .encode()
        })
        .collect()
}

/// A log written batch after batch, as Kafka's tests fill a buffer.
#[derive(Default)]
struct Log {
    batches: Vec<RecordBatch>,
}

impl Log {
    /// Appends a transactional offset commit of `producer`; returns its base offset.
    fn transactional(&mut self, producer: (i64, i16), offsets: &[(TopicPartition, u64)]) -> u64 {
        self.push(batch_at(
            self.end(),
            Some(producer),
            &offset_records(offsets),
        ))
    }

    /// Appends a consumer's (plain) offset commit; returns its base offset.
    fn consumer(&mut self, offsets: &[(TopicPartition, u64)]) -> u64 {
        self.push(batch_at(self.end(), None, &offset_records(offsets)))
    }

    fn marker(&mut self, (producer_id, producer_epoch): (i64, i16), commit: bool) {
        let result = if commit {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        self.push(marker_at(self.end(), producer_id, producer_epoch, result));
    }

    fn end(&self) -> u64 {
        log_end(&self.batches)
    }

    fn push(&mut self, batch: RecordBatch) -> u64 {
        let base = batch.base_offset;
        self.batches.push(batch);
        base
    }
}

/// A coordinator that loads partition 0 from `log`.
fn loaded(log: &Log) -> Harness {
    let mut h = Harness::new();
    h.run(|c, out| c.on_resignation(0, out));
    h.run(|c, out| c.on_election(0, 1, out));
    h.run(|c, out| c.finish_load(0, 0, 1, &log.batches, out));
    h
}

fn foo_bar(offsets: [u64; 3]) -> Vec<(TopicPartition, u64)> {
    vec![
        (tp("foo", 0), offsets[0]),
        (tp("foo", 1), offsets[1]),
        (tp("bar", 0), offsets[2]),
    ]
}

fn assert_committed(g: &Group, offsets: &[(TopicPartition, u64)], position: Option<u64>) {
    for (tp, offset) in offsets {
        assert_eq!(g.offsets.get(tp), Some(offset), "{tp}");
        if let Some(position) = position {
            assert_eq!(g.offset_positions.get(tp), Some(&position), "{tp}");
        }
    }
}

/// `testLoadTransactionalOffsetsWithoutGroup`.
#[test]
fn committed_transactional_offsets_load_a_group_without_metadata() {
    let mut log = Log::default();
    let committed = foo_bar([23, 455, 8992]);
    log.transactional((PID, EPOCH), &committed);
    log.marker((PID, EPOCH), true);
    let h = loaded(&log);
    let g = h.group();
    assert_eq!(g.state, GroupState::Empty);
    assert_eq!(g.offsets.len(), committed.len());
    assert_committed(g, &committed, Some(0));
}

/// `testDoNotLoadAbortedTransactionalOffsetCommits`: nothing else names the group, so it is
/// not loaded at all.
#[test]
fn a_group_with_only_aborted_offsets_is_not_loaded() {
    let mut log = Log::default();
    log.transactional((PID, EPOCH), &foo_bar([23, 455, 8992]));
    log.marker((PID, EPOCH), false);
    let h = loaded(&log);
    assert!(h.c.groups().is_empty());
}

/// `testGroupLoadedWithPendingCommits`: a transaction still open at the end of the log
/// leaves its offsets pending.
#[test]
fn an_open_transactions_offsets_load_pending() {
    let mut log = Log::default();
    log.transactional((PID, EPOCH), &foo_bar([23, 455, 8992]));
    let h = loaded(&log);
    let g = h.group();
    assert_eq!(g.state, GroupState::Empty);
    assert!(g.offsets.is_empty());
    assert!(g.has_pending_offset_commits_from_producer(PID));
    for tp in [tp("foo", 0), tp("foo", 1), tp("bar", 0)] {
        assert!(g.has_pending_offset_commits_for(&tp));
    }
}

/// `testLoadWithCommittedAndAbortedTransactionalOffsetCommits`.
#[test]
fn only_the_committed_transactions_offsets_load() {
    let mut log = Log::default();
    let committed = foo_bar([23, 455, 8992]);
    log.transactional(
        (PID, EPOCH),
        &[
            (tp("foo", 2), 231),
            (tp("foo", 3), 4551),
            (tp("bar", 1), 89921),
        ],
    );
    log.marker((PID, EPOCH), false);
    log.transactional((PID, EPOCH), &committed);
    log.marker((PID, EPOCH), true);
    let h = loaded(&log);
    let g = h.group();
    assert_eq!(g.offsets.len(), committed.len());
    assert_committed(g, &committed, None);
    assert!(!g.has_pending_offset_commits_from_producer(PID));
}

/// `testLoadWithCommittedAndAbortedAndPendingTransactionalOffsetCommits`: the pending ones
/// are committed by the marker that comes after the load.
#[test]
fn committed_aborted_and_pending_transactions_load_each_their_way() {
    let mut log = Log::default();
    let committed = foo_bar([23, 455, 8992]);
    let foo3 = tp("foo", 3);
    let pending = vec![
        (foo3.clone(), 2312),
        (tp("foo", 4), 45512),
        (tp("bar", 2), 899212),
    ];
    let committed_at = log.transactional((PID, EPOCH), &committed);
    log.marker((PID, EPOCH), true);
    log.transactional(
        (PID, EPOCH),
        &[
            (tp("foo", 2), 231),
            (foo3.clone(), 4551),
            (tp("bar", 1), 89921),
        ],
    );
    log.marker((PID, EPOCH), false);
    log.transactional((PID, EPOCH), &pending);
    let mut h = loaded(&log);
    let g = h.group();
    assert_eq!(g.offsets.len(), committed.len());
    assert_committed(g, &committed, Some(committed_at));
    assert!(g.has_pending_offset_commits_from_producer(PID));
    assert!(g.has_pending_offset_commits_for(&foo3));

    h.c.on_transaction_completed(PID, &[0], ControlRecordType::Commit);
    let g = h.group();
    assert!(!g.has_pending_offset_commits_from_producer(PID));
    assert_committed(g, &pending, None);
}

/// `testLoadTransactionalOffsetCommitsFromMultipleProducers`.
#[test]
fn transactions_of_several_producers_load_each_at_its_marker() {
    let mut log = Log::default();
    let first = foo_bar([23, 455, 8992]);
    let second = vec![
        (tp("foo", 2), 231),
        (tp("foo", 3), 4551),
        (tp("bar", 1), 89921),
    ];
    let first_at = log.transactional((1000, 2), &first);
    log.marker((1000, 2), true);
    let second_at = log.transactional((1001, 3), &second);
    log.marker((1001, 3), true);
    let h = loaded(&log);
    let g = h.group();
    assert_eq!(g.offsets.len(), first.len() + second.len());
    assert_committed(g, &first, Some(first_at));
    assert_committed(g, &second, Some(second_at));
}

/// `testGroupLoadWithConsumerAndTransactionalOffsetCommitsConsumerWins`: the consumer's
/// commit is written after the transaction's and before its marker.
#[test]
fn a_consumer_commit_written_after_the_transactions_wins_on_loading() {
    let mut log = Log::default();
    log.transactional((PID, EPOCH), &[(tp("foo", 0), 23)]);
    let consumer_at = log.consumer(&[(tp("foo", 0), 24)]);
    log.marker((PID, EPOCH), true);
    let h = loaded(&log);
    let g = h.group();
    assert_eq!(g.offsets.len(), 1);
    assert!(!g.has_pending_offset_commits_from_producer(PID));
    assert_committed(g, &[(tp("foo", 0), 24)], Some(consumer_at));
}

/// `testGroupLoadWithConsumerAndTransactionalOffsetCommitsTransactionWins`.
#[test]
fn a_transactions_commit_written_after_the_consumers_wins_on_loading() {
    let mut log = Log::default();
    log.consumer(&[(tp("foo", 0), 24)]);
    log.transactional((PID, EPOCH), &[(tp("foo", 0), 23)]);
    log.marker((PID, EPOCH), true);
    let h = loaded(&log);
    let g = h.group();
    assert_eq!(g.offsets.len(), 1);
    assert_committed(g, &[(tp("foo", 0), 23)], None);
}

/// What the coordinator writes itself reads back the same: a transaction's offsets and
/// its marker, then an open one, through the harness's log.
#[test]
fn the_coordinators_own_log_loads_into_the_same_offsets() {
    let mut h = Harness::new();
    let (t0, t1) = (tp("foo", 0), tp("foo", 1));
    let request = |offsets| TxnOffsetCommitRequest {
        correlation_id: 1,
        transactional_id: "txn".into(),
        group_id: "g".into(),
        producer_id: PID,
        producer_epoch: EPOCH,
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        offsets,
    };
    h.run(|c, out| c.on_txn_offset_commit(A, request(vec![(t0.clone(), 5)]), out));
    h.complete_appends(ErrorCode::None);
    h.marker(PID, EPOCH, true);
    h.run(|c, out| c.on_txn_offset_commit(A, request(vec![(t1.clone(), 9)]), out));
    h.complete_appends(ErrorCode::None);
    let log = Log {
        batches: h.log.clone(),
    };
    let other = loaded(&log);
    assert_eq!(other.group().offsets, h.group().offsets);
    assert_eq!(other.group().offsets[&t0], 5);
    assert_eq!(
        other.group().pending_txn_offset(PID, &t1),
        h.group().pending_txn_offset(PID, &t1)
    );
    assert_eq!(
        other.group().pending_txn_offset(PID, &t1).map(|p| p.offset),
        Some(9)
    );
}
