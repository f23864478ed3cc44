//! The log's transactions end to end: batches in, last stable offset and aborted index out,
//! on a leader, a follower and after a truncation (after Kafka's `UnifiedLogTest` cases
//! `testLastStableOffsetWithMixedProducerData`, `testFirstUnstableOffsetWithTruncation`,
//! `testAbortedTransactionSpanningMultipleSegments` and `ProducerStateManagerTest`'s
//! `testProducerEpochAfterMarker`).

use super::Log;
use crate::producer_state::{Check, ProducerRules};
use crate::types::{
    BatchStamp, ControlRecordType, EndTxnMarker, ErrorCode, ProducerRecord, RecordBatch, RecordId,
};

const RULES: ProducerRules = ProducerRules {
    unknown_producer_accepts_any_sequence: true,
};

fn records(n: u64) -> Vec<ProducerRecord> {
    (0..n)
        .map(|seq| ProducerRecord {
            id: RecordId { producer: 0, seq },
            timestamp_ms: 0,
            key: None,
            value: Some("v".into()),
            value_bytes: 1,
            headers: Vec::new(),
        })
        .collect()
}

fn stamp(producer_id: i64, epoch: i16, base: i32, n: i32, transactional: bool) -> BatchStamp {
    BatchStamp {
        producer_id,
        producer_epoch: epoch,
        base_sequence: base,
        last_sequence: base + n - 1,
        is_transactional: transactional,
    }
}

/// Checks and appends a client's batch as the leader would; returns its first offset.
fn produce(log: &mut Log, stamp: BatchStamp) -> Result<u64, ErrorCode> {
    match log.check_producer_batch(&stamp, RULES) {
        Check::Append => {}
        Check::Reject(e) => return Err(e),
        Check::Duplicate { .. } => panic!("no retries here"),
    }
    let n = (stamp.last_sequence - stamp.base_sequence + 1) as u64;
    Ok(log.append_as_leader(0, records(n), Some(stamp), 0)[0].0)
}

fn marker(kind: ControlRecordType, coordinator_epoch: i32) -> EndTxnMarker {
    EndTxnMarker {
        control_type: kind,
        coordinator_epoch,
    }
}

fn end(log: &mut Log, pid: i64, epoch: i16, kind: ControlRecordType) -> Result<u64, ErrorCode> {
    log.append_end_txn_marker_as_leader(0, pid, epoch, marker(kind, 0), 0)
        .map(|(offset, _)| offset)
}

#[test]
fn an_open_transaction_holds_the_last_stable_offset_until_its_marker_is_replicated() {
    let mut log = Log::new();
    produce(&mut log, stamp(1, 0, 0, 2, false)).unwrap(); // 0..=1, plain
    let first = produce(&mut log, stamp(2, 0, 0, 3, true)).unwrap(); // 2..=4
    produce(&mut log, stamp(1, 0, 2, 1, false)).unwrap(); // 5
    assert_eq!(first, 2);
    assert_eq!(log.last_stable_offset(6), 2, "the open transaction at 2");
    assert_eq!(
        log.last_stable_offset(1),
        1,
        "never above the high watermark"
    );
    let at = end(&mut log, 2, 0, ControlRecordType::Commit).unwrap();
    assert_eq!(at, 6);
    assert_eq!(log.log_end_offset(), 7, "a marker takes an offset");
    assert_eq!(
        log.last_stable_offset(6),
        2,
        "decided, but the marker is not replicated"
    );
    log.on_high_watermark_updated(7);
    assert_eq!(log.last_stable_offset(7), 7);
    assert!(
        log.aborted_transactions(0, 7).is_empty(),
        "a commit is not indexed"
    );
}

#[test]
fn an_abort_goes_into_the_index_with_the_stable_offset_of_its_time() {
    let mut log = Log::new();
    produce(&mut log, stamp(1, 0, 0, 2, true)).unwrap(); // 0..=1
    produce(&mut log, stamp(2, 0, 0, 1, true)).unwrap(); // 2
    end(&mut log, 1, 0, ControlRecordType::Abort).unwrap(); // 3
    let aborted = log.aborted_transactions(0, 4);
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].producer_id, aborted[0].first_offset), (1, 0));
    assert_eq!(aborted[0].last_offset, 3);
    assert_eq!(
        aborted[0].last_stable_offset, 2,
        "producer 2's transaction is open"
    );
    assert!(
        log.aborted_transactions(4, 10).is_empty(),
        "a read past it is not told"
    );
    assert_eq!(
        log.aborted_transactions(3, 10).len(),
        1,
        "a read of its marker is"
    );
}

#[test]
fn a_plain_batch_inside_an_open_transaction_is_refused() {
    let mut log = Log::new();
    produce(&mut log, stamp(1, 0, 0, 1, true)).unwrap();
    assert_eq!(
        produce(&mut log, stamp(1, 0, 1, 1, false)),
        Err(ErrorCode::InvalidTxnState)
    );
    assert_eq!(log.log_end_offset(), 1, "nothing appended");
}

#[test]
fn a_marker_from_an_older_epoch_is_refused_and_a_newer_one_fences_the_old_epoch() {
    let mut log = Log::new();
    produce(&mut log, stamp(1, 3, 0, 1, true)).unwrap();
    assert_eq!(
        end(&mut log, 1, 2, ControlRecordType::Abort),
        Err(ErrorCode::InvalidProducerEpoch)
    );
    assert_eq!(log.log_end_offset(), 1, "nothing appended");
    // A fenced instance's transaction is aborted at the bumped epoch: the zombie's next
    // batch is refused, and the new epoch starts its sequence at 0.
    end(&mut log, 1, 4, ControlRecordType::Abort).unwrap();
    assert_eq!(
        produce(&mut log, stamp(1, 3, 1, 1, true)),
        Err(ErrorCode::InvalidProducerEpoch)
    );
    assert_eq!(
        produce(&mut log, stamp(1, 4, 5, 1, true)),
        Err(ErrorCode::OutOfOrderSequenceNumber)
    );
    assert_eq!(produce(&mut log, stamp(1, 4, 0, 1, true)), Ok(2));
}

#[test]
fn a_marker_from_an_older_coordinator_epoch_is_refused() {
    let mut log = Log::new();
    produce(&mut log, stamp(1, 0, 0, 1, true)).unwrap();
    log.append_end_txn_marker_as_leader(0, 1, 0, marker(ControlRecordType::Commit, 5), 0)
        .unwrap();
    produce(&mut log, stamp(1, 0, 1, 1, true)).unwrap();
    assert_eq!(
        log.append_end_txn_marker_as_leader(0, 1, 0, marker(ControlRecordType::Abort, 4), 0),
        Err(ErrorCode::TransactionCoordinatorFenced)
    );
}

#[test]
fn a_truncation_below_a_marker_reopens_its_transaction() {
    let mut log = Log::new();
    produce(&mut log, stamp(1, 0, 0, 2, true)).unwrap(); // 0..=1
    end(&mut log, 1, 0, ControlRecordType::Abort).unwrap(); // 2
    log.on_high_watermark_updated(3);
    assert_eq!(log.last_stable_offset(3), 3);
    log.truncate_to(2);
    assert_eq!(
        log.last_stable_offset(2),
        0,
        "open again: the marker is gone"
    );
    assert!(
        log.aborted_transactions(0, 2).is_empty(),
        "and so is its index entry"
    );
}

#[test]
fn a_follower_builds_the_same_transactions_from_the_leaders_batches() {
    let mut leader = Log::new();
    produce(&mut leader, stamp(1, 0, 0, 2, true)).unwrap();
    produce(&mut leader, stamp(2, 0, 0, 1, true)).unwrap();
    end(&mut leader, 1, 0, ControlRecordType::Abort).unwrap();
    produce(&mut leader, stamp(3, 0, 0, 1, false)).unwrap();
    let batches: Vec<RecordBatch> = leader.batches().cloned().collect();
    let mut follower = Log::new();
    follower.append_as_follower(batches, 0);
    assert_eq!(follower.transactions(), leader.transactions());
    assert_eq!(follower.last_stable_offset(5), leader.last_stable_offset(5));
    assert!(follower.batches().any(RecordBatch::is_control));
}
