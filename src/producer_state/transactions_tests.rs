//! The partition's transactions against cases ported from Kafka's `ProducerStateManagerTest`
//! and `TransactionIndexTest` (named after them).

use super::transactions::*;
use crate::types::ErrorCode;

const PID: i64 = 1;
const OTHER: i64 = 2;

#[test]
fn test_non_transactional_append_with_ongoing_transaction() {
    let mut txns = PartitionTransactions::default();
    txns.append_data_batch(PID, 0, 0, true).unwrap();
    assert_eq!(
        txns.append_data_batch(PID, 0, 1, false),
        Err(ErrorCode::InvalidTxnState)
    );
}

#[test]
fn test_first_unstable_offset_and_last_stable_offset() {
    let mut txns = PartitionTransactions::default();
    assert_eq!(txns.last_stable_offset(10), 10, "no transaction: the HW");
    txns.append_data_batch(PID, 0, 99, true).unwrap();
    txns.append_data_batch(OTHER, 0, 105, true).unwrap();
    assert_eq!(txns.first_unstable_offset(), Some(99));
    assert_eq!(txns.last_stable_offset(120), 99);
    assert_eq!(txns.last_stable_offset(50), 50, "capped by the HW");
    // PID commits at 110: decided, but unstable until the HW passes the marker.
    let done = txns
        .append_end_txn_marker(PID, 0, 0, 110, false, AppendOrigin::Coordinator)
        .unwrap()
        .expect("a completed transaction");
    assert_eq!(
        (done.first_offset, done.last_offset, done.is_aborted),
        (99, 110, false)
    );
    assert_eq!(txns.first_unstable_offset(), Some(99));
    txns.on_high_watermark_updated(110);
    assert_eq!(
        txns.first_unstable_offset(),
        Some(99),
        "the marker itself is not below 110"
    );
    txns.on_high_watermark_updated(111);
    assert_eq!(
        txns.first_unstable_offset(),
        Some(105),
        "now the other transaction holds it"
    );
    txns.append_end_txn_marker(OTHER, 0, 0, 115, true, AppendOrigin::Coordinator)
        .unwrap();
    txns.on_high_watermark_updated(116);
    assert_eq!(txns.first_unstable_offset(), None);
    assert_eq!(txns.last_stable_offset(116), 116);
}

#[test]
fn test_last_stable_offset_completed_txn() {
    // The index entry of an abort records the LSO once it is done: the next open
    // transaction of another producer, else just past the marker.
    let mut txns = PartitionTransactions::default();
    txns.append_data_batch(PID, 0, 10, true).unwrap();
    txns.append_data_batch(OTHER, 0, 15, true).unwrap();
    txns.append_end_txn_marker(PID, 0, 0, 20, true, AppendOrigin::Coordinator)
        .unwrap();
    txns.append_end_txn_marker(OTHER, 0, 0, 25, true, AppendOrigin::Coordinator)
        .unwrap();
    let lso: Vec<u64> = txns
        .aborted()
        .iter()
        .map(|t| t.last_stable_offset)
        .collect();
    assert_eq!(lso, vec![15, 26]);
}

#[test]
fn test_append_txn_marker_with_no_producer_state() {
    let mut txns = PartitionTransactions::default();
    let done = txns
        .append_end_txn_marker(PID, 2, 1, 27, false, AppendOrigin::Coordinator)
        .unwrap();
    assert_eq!(done, None, "no transaction open here: nothing completes");
    let entry = txns.producer(PID).copied().unwrap();
    assert_eq!((entry.producer_epoch, entry.coordinator_epoch), (2, 1));
    assert_eq!(entry.current_txn_first_offset, None);
}

#[test]
fn test_old_epoch_for_control_record() {
    let mut txns = PartitionTransactions::default();
    txns.append_data_batch(PID, 5, 0, true).unwrap();
    assert_eq!(
        txns.append_end_txn_marker(PID, 3, 0, 10, false, AppendOrigin::Coordinator),
        Err(ErrorCode::InvalidProducerEpoch)
    );
}

#[test]
fn test_coordinator_fencing() {
    let mut txns = PartitionTransactions::default();
    txns.append_data_batch(PID, 0, 0, true).unwrap();
    txns.append_end_txn_marker(PID, 0, 5, 1, false, AppendOrigin::Coordinator)
        .unwrap();
    txns.append_data_batch(PID, 0, 2, true).unwrap();
    assert_eq!(
        txns.append_end_txn_marker(PID, 0, 4, 3, true, AppendOrigin::Coordinator),
        Err(ErrorCode::TransactionCoordinatorFenced)
    );
    // A replica takes what the leader wrote, whatever the epochs say.
    assert!(txns
        .append_end_txn_marker(PID, 0, 4, 3, true, AppendOrigin::Replication)
        .unwrap()
        .is_some());
}

#[test]
fn test_producer_state_after_fencing_abort_marker() {
    // The coordinator fences a producer with an abort marker at a bumped epoch: the open
    // transaction is aborted, and the fenced epoch is what the partition now knows.
    let mut txns = PartitionTransactions::default();
    txns.append_data_batch(PID, 0, 0, true).unwrap();
    let done = txns
        .append_end_txn_marker(PID, 1, 0, 1, true, AppendOrigin::Coordinator)
        .unwrap()
        .unwrap();
    assert!(done.is_aborted);
    assert_eq!(txns.producer(PID).unwrap().producer_epoch, 1);
    assert_eq!(
        txns.first_unstable_offset(),
        Some(0),
        "until the HW passes the marker"
    );
}

/// `TransactionIndexTest.testCollectAbortedTransactions`: the aborted transactions that
/// overlap a fetched range.
#[test]
fn test_collect_aborted_transactions() {
    let mut txns = PartitionTransactions::default();
    for (pid, first, last) in [(0, 0, 10), (1, 11, 14), (2, 13, 30), (3, 31, 40)] {
        txns.append_data_batch(pid, 0, first, true).unwrap();
        txns.append_end_txn_marker(pid, 0, 0, last, true, AppendOrigin::Coordinator)
            .unwrap();
    }
    let ids = |from, to| -> Vec<i64> {
        txns.aborted_transactions(from, to)
            .iter()
            .map(|t| t.producer_id)
            .collect()
    };
    assert_eq!(ids(0, 0), Vec::<i64>::new());
    assert_eq!(ids(0, 32), vec![0, 1, 2, 3]);
    assert_eq!(ids(0, 31), vec![0, 1, 2]);
    assert_eq!(ids(11, 13), vec![1]);
    assert_eq!(ids(15, 31), vec![2]);
    assert_eq!(ids(41, 50), Vec::<i64>::new());
}
