//! The coordinator's decisions against cases ported from Kafka's `TransactionCoordinatorTest`
//! (named after them; the appends are completed by hand, as its mocked state manager does).

use super::decisions::*;
use super::metadata::*;
use crate::types::{ErrorCode, TopicPartition};
use std::collections::BTreeSet;

const TXN_ID: &str = "some-txn-id";
const PRODUCER_ID: i64 = 10;
const TIMEOUT_MS: u64 = 1_000;

fn metadata(state: TransactionState, epoch: i16) -> TransactionMetadata {
    let mut m = TransactionMetadata::new(TXN_ID, PRODUCER_ID, TIMEOUT_MS, 0);
    m.state = state;
    m.producer_epoch = epoch;
    if matches!(
        state,
        TransactionState::Ongoing
            | TransactionState::PrepareCommit
            | TransactionState::PrepareAbort
    ) {
        m.topic_partitions = partitions();
        m.txn_start_timestamp_ms = Some(0);
    }
    m
}

fn partitions() -> BTreeSet<TopicPartition> {
    [
        TopicPartition::new("topic1", 0),
        TopicPartition::new("topic1", 1),
    ]
    .into_iter()
    .collect()
}

fn no_new_id() -> i64 {
    panic!("no new producer id expected")
}

fn write(decision: Decision) -> TxnTransitMetadata {
    match decision {
        Decision::Write(transit) => transit,
        other => panic!("expected a write, got {other:?}"),
    }
}

fn end_txn(
    m: &mut TransactionMetadata,
    epoch: i16,
    result: TransactionResult,
    tv: TransactionVersion,
) -> EndTxnDecision {
    prepare_end_transaction(m, PRODUCER_ID, epoch, result, true, tv, 5, no_new_id).unwrap()
}

fn answered(decision: &EndTxnDecision) -> ErrorCode {
    match decision {
        EndTxnDecision::Respond(answer) => answer.error,
        EndTxnDecision::Write(transit) => panic!("expected an answer, got a write of {transit:?}"),
    }
}

#[test]
fn should_init_pid_with_epoch_zero_for_new_transactional_id() {
    let mut m = TransactionMetadata::new(TXN_ID, PRODUCER_ID, TIMEOUT_MS, 0);
    let transit = write(prepare_init_producer_id(&mut m, TIMEOUT_MS, None, 1, no_new_id).unwrap());
    assert_eq!(
        (transit.producer_id, transit.producer_epoch),
        (PRODUCER_ID, 0)
    );
    m.complete_transition_to(&transit).unwrap();
    assert_eq!(m.state, TransactionState::Empty);
}

#[test]
fn should_respond_with_concurrent_transactions_on_init_pid_when_in_prepare_commit_or_abort() {
    for state in [
        TransactionState::PrepareCommit,
        TransactionState::PrepareAbort,
    ] {
        let mut m = metadata(state, 5);
        assert_eq!(
            prepare_init_producer_id(&mut m, TIMEOUT_MS, None, 1, no_new_id).unwrap(),
            Decision::Respond(ErrorCode::ConcurrentTransactions)
        );
    }
}

#[test]
fn should_increment_epoch_and_update_metadata_on_handle_init_pid_when_existing_complete_transaction(
) {
    let mut m = metadata(TransactionState::CompleteAbort, 10);
    let transit = write(prepare_init_producer_id(&mut m, TIMEOUT_MS, None, 1, no_new_id).unwrap());
    assert_eq!(
        (transit.producer_id, transit.producer_epoch),
        (PRODUCER_ID, 11)
    );
    assert_eq!(transit.state, TransactionState::Empty);
}

#[test]
fn should_generate_new_producer_id_if_epochs_exhausted() {
    let mut m = metadata(TransactionState::CompleteCommit, i16::MAX - 1);
    let transit = write(prepare_init_producer_id(&mut m, TIMEOUT_MS, None, 1, || 11).unwrap());
    assert_eq!((transit.producer_id, transit.producer_epoch), (11, 0));
}

#[test]
fn should_abort_transaction_on_handle_init_pid_when_existing_transaction_in_ongoing_state() {
    // A new instance over an open transaction: fence (epoch + 1), abort at that epoch, and
    // CONCURRENT_TRANSACTIONS to the caller, who retries and gets epoch + 2.
    let mut m = metadata(TransactionState::Ongoing, 5);
    let fence = write(prepare_init_producer_id(&mut m, TIMEOUT_MS, None, 1, no_new_id).unwrap());
    assert_eq!(fence.state, TransactionState::PrepareEpochFence);
    assert_eq!(fence.producer_epoch, 6);
    let abort = prepare_end_transaction(
        &mut m,
        fence.producer_id,
        fence.producer_epoch,
        TransactionResult::Abort,
        false,
        TransactionVersion::V1,
        2,
        no_new_id,
    )
    .unwrap();
    let EndTxnDecision::Write(abort) = abort else {
        panic!("the fence is followed by an abort");
    };
    assert_eq!(
        (abort.state, abort.producer_epoch),
        (TransactionState::PrepareAbort, 6)
    );
    m.complete_transition_to(&abort).unwrap();
    assert_eq!(m.producer_epoch, 6);
    let complete = m.prepare_complete(3).unwrap();
    m.complete_transition_to(&complete).unwrap();
    let retry = write(prepare_init_producer_id(&mut m, TIMEOUT_MS, None, 4, no_new_id).unwrap());
    assert_eq!(
        retry.producer_epoch, 7,
        "the old instance at 5, the markers at 6, the new at 7"
    );
}

#[test]
fn should_fence_an_init_pid_naming_another_producer_id() {
    let mut m = metadata(TransactionState::Empty, 5);
    let other = ProducerIdAndEpoch {
        producer_id: PRODUCER_ID + 1,
        epoch: 5,
    };
    assert_eq!(
        prepare_init_producer_id(&mut m, TIMEOUT_MS, Some(other), 1, no_new_id).unwrap(),
        Decision::Respond(ErrorCode::ProducerFenced)
    );
}

#[test]
fn should_respond_with_invalid_pid_mapping_on_add_partitions_when_producer_id_differs() {
    let mut m = metadata(TransactionState::Empty, 0);
    assert_eq!(
        prepare_add_partitions(
            &mut m,
            PRODUCER_ID + 1,
            0,
            &partitions(),
            TransactionVersion::V1,
            1
        )
        .unwrap(),
        Decision::Respond(ErrorCode::InvalidProducerIdMapping)
    );
}

#[test]
fn should_respond_with_producer_fenced_on_add_partitions_when_epochs_are_different() {
    let mut m = metadata(TransactionState::Empty, 1);
    assert_eq!(
        prepare_add_partitions(
            &mut m,
            PRODUCER_ID,
            0,
            &partitions(),
            TransactionVersion::V1,
            1
        )
        .unwrap(),
        Decision::Respond(ErrorCode::ProducerFenced)
    );
}

#[test]
fn should_respond_with_concurrent_transactions_on_add_partitions_when_state_is_prepare() {
    for state in [
        TransactionState::PrepareCommit,
        TransactionState::PrepareAbort,
    ] {
        let mut m = metadata(state, 0);
        assert_eq!(
            prepare_add_partitions(
                &mut m,
                PRODUCER_ID,
                0,
                &partitions(),
                TransactionVersion::V1,
                1
            )
            .unwrap(),
            Decision::Respond(ErrorCode::ConcurrentTransactions)
        );
    }
}

#[test]
fn should_reply_with_none_on_add_partitions_when_ongoing_and_all_partitions_already_in() {
    let mut m = metadata(TransactionState::Ongoing, 0);
    assert_eq!(
        prepare_add_partitions(
            &mut m,
            PRODUCER_ID,
            0,
            &partitions(),
            TransactionVersion::V1,
            1
        )
        .unwrap(),
        Decision::Respond(ErrorCode::None)
    );
}

#[test]
fn should_write_add_partitions_to_log_when_state_is_empty_or_complete() {
    for state in [
        TransactionState::Empty,
        TransactionState::CompleteCommit,
        TransactionState::CompleteAbort,
    ] {
        let mut m = metadata(state, 0);
        let transit = write(
            prepare_add_partitions(
                &mut m,
                PRODUCER_ID,
                0,
                &partitions(),
                TransactionVersion::V1,
                7,
            )
            .unwrap(),
        );
        assert_eq!(transit.state, TransactionState::Ongoing);
        assert_eq!(transit.txn_start_timestamp_ms, Some(7));
    }
}

#[test]
fn should_return_ok_on_end_txn_when_complete_and_same_result() {
    let mut m = metadata(TransactionState::CompleteCommit, 1);
    let d = end_txn(&mut m, 1, TransactionResult::Commit, TransactionVersion::V1);
    assert_eq!(answered(&d), ErrorCode::None);
    let mut m = metadata(TransactionState::CompleteAbort, 1);
    let d = end_txn(&mut m, 1, TransactionResult::Abort, TransactionVersion::V1);
    assert_eq!(answered(&d), ErrorCode::None);
}

#[test]
fn should_return_invalid_txn_state_on_end_txn_with_the_other_result_or_when_empty() {
    let cases = [
        (TransactionState::CompleteAbort, TransactionResult::Commit),
        (TransactionState::CompleteCommit, TransactionResult::Abort),
        (TransactionState::PrepareCommit, TransactionResult::Abort),
        (TransactionState::PrepareAbort, TransactionResult::Commit),
        (TransactionState::Empty, TransactionResult::Abort),
    ];
    for (state, result) in cases {
        let mut m = metadata(state, 1);
        let d = end_txn(&mut m, 1, result, TransactionVersion::V1);
        assert_eq!(
            answered(&d),
            ErrorCode::InvalidTxnState,
            "{state} {result:?}"
        );
    }
}

#[test]
fn should_return_concurrent_transactions_on_end_txn_when_prepare_with_the_same_result() {
    let mut m = metadata(TransactionState::PrepareCommit, 1);
    let d = end_txn(&mut m, 1, TransactionResult::Commit, TransactionVersion::V1);
    assert_eq!(answered(&d), ErrorCode::ConcurrentTransactions);
}

#[test]
fn should_return_producer_fenced_on_end_txn_when_epoch_differs_in_v1() {
    for epoch in [0, 2] {
        let mut m = metadata(TransactionState::Ongoing, 1);
        let d = end_txn(
            &mut m,
            epoch,
            TransactionResult::Commit,
            TransactionVersion::V1,
        );
        assert_eq!(answered(&d), ErrorCode::ProducerFenced, "epoch {epoch}");
    }
}

#[test]
fn should_append_prepare_commit_to_log_on_end_txn_when_ongoing() {
    let mut m = metadata(TransactionState::Ongoing, 1);
    let EndTxnDecision::Write(transit) =
        end_txn(&mut m, 1, TransactionResult::Commit, TransactionVersion::V1)
    else {
        panic!("expected a write");
    };
    assert_eq!(
        (transit.state, transit.producer_epoch),
        (TransactionState::PrepareCommit, 1)
    );
    assert_eq!(transit.topic_partitions, partitions());
}

/// KIP-890 part 2: the EndTxn that prepares bumps the epoch, a retry is recognised one epoch
/// below, and a request at the new epoch against a completed transaction is fenced: a
/// delayed EndTxn of an earlier attempt can no longer end the next transaction
/// (KAFKA-17754).
#[test]
fn should_bump_the_epoch_at_end_txn_and_tell_a_retry_from_a_zombie_in_v2() {
    let mut m = metadata(TransactionState::Ongoing, 1);
    m.client_transaction_version = TransactionVersion::V2;
    let EndTxnDecision::Write(prepare) =
        end_txn(&mut m, 1, TransactionResult::Commit, TransactionVersion::V2)
    else {
        panic!("expected a write");
    };
    assert_eq!(prepare.producer_epoch, 2);
    m.complete_transition_to(&prepare).unwrap();
    let complete = m.prepare_complete(6).unwrap();
    m.complete_transition_to(&complete).unwrap();
    assert_eq!(
        (m.state, m.producer_epoch),
        (TransactionState::CompleteCommit, 2)
    );
    // The client's retry at its old epoch: the commit is done.
    let retry = end_txn(&mut m, 1, TransactionResult::Commit, TransactionVersion::V2);
    assert_eq!(
        retry,
        EndTxnDecision::Respond(EndTxnAnswer {
            error: ErrorCode::None,
            producer_id: PRODUCER_ID,
            producer_epoch: 2
        })
    );
    // The same epoch as stored against a completed transaction: fenced.
    let zombie = end_txn(&mut m, 2, TransactionResult::Commit, TransactionVersion::V2);
    assert_eq!(answered(&zombie), ErrorCode::ProducerFenced);
}

/// Under transaction version 1 the same late EndTxn, arriving once the next transaction is
/// open, ends that transaction: the anomaly of KAFKA-17754.
#[test]
fn a_delayed_end_txn_ends_the_next_transaction_in_v1() {
    let mut m = metadata(TransactionState::CompleteCommit, 3);
    // The producer's next transaction opens at the same epoch.
    let add = write(
        prepare_add_partitions(
            &mut m,
            PRODUCER_ID,
            3,
            &partitions(),
            TransactionVersion::V1,
            10,
        )
        .unwrap(),
    );
    m.complete_transition_to(&add).unwrap();
    // A delayed EndTxn(ABORT) of an earlier attempt arrives: same epoch, so it is taken.
    let late = end_txn(&mut m, 3, TransactionResult::Abort, TransactionVersion::V1);
    assert!(
        matches!(late, EndTxnDecision::Write(ref t) if t.state == TransactionState::PrepareAbort),
        "{late:?}"
    );
}

#[test]
fn should_abort_expired_transactions_in_ongoing_state_and_bump_epoch() {
    let mut m = metadata(TransactionState::Ongoing, 4);
    m.txn_start_timestamp_ms = Some(0);
    assert!(!is_timed_out(&m, TIMEOUT_MS), "strictly after the timeout");
    assert!(is_timed_out(&m, TIMEOUT_MS + 1));
    let fence = m.prepare_fence_producer_epoch().unwrap();
    let d = prepare_end_transaction(
        &mut m,
        fence.producer_id,
        fence.producer_epoch,
        TransactionResult::Abort,
        false,
        TransactionVersion::V1,
        TIMEOUT_MS + 1,
        no_new_id,
    )
    .unwrap();
    let EndTxnDecision::Write(abort) = d else {
        panic!("expected the abort");
    };
    assert_eq!(
        (abort.state, abort.producer_epoch),
        (TransactionState::PrepareAbort, 5)
    );
    m.complete_transition_to(&abort).unwrap();
    // The producer's own EndTxn at its old epoch is now fenced.
    let own = end_txn(&mut m, 4, TransactionResult::Commit, TransactionVersion::V1);
    assert_eq!(answered(&own), ErrorCode::ProducerFenced);
}

#[test]
fn should_not_time_out_a_transaction_with_a_pending_change_or_not_ongoing() {
    let mut m = metadata(TransactionState::Ongoing, 4);
    m.prepare_fence_producer_epoch().unwrap();
    assert!(!is_timed_out(&m, 10 * TIMEOUT_MS));
    let m = metadata(TransactionState::PrepareCommit, 4);
    assert!(!is_timed_out(&m, 10 * TIMEOUT_MS));
}

/// Kafka 4.0 checks a pending transition before the producer id: with version 2 the
/// producer may already use the new producer id of an overflow that is only pending.
#[test]
fn should_respond_with_concurrent_transactions_on_add_partitions_before_checking_the_producer_id() {
    let mut m = metadata(TransactionState::Empty, 0);
    m.pending_state = Some(TransactionState::Ongoing);
    assert_eq!(
        prepare_add_partitions(
            &mut m,
            PRODUCER_ID + 1,
            0,
            &partitions(),
            TransactionVersion::V2,
            1
        )
        .unwrap(),
        Decision::Respond(ErrorCode::ConcurrentTransactions)
    );
}

/// Kafka 4.0's `endTransaction` under version 2 aborts a fenced transaction with one epoch
/// bump, from the epoch before the fence (`prepareAbortOrCommit` makes it); setting the
/// fenced epoch first, as version 1 does, would bump it twice.
#[test]
fn should_bump_the_epoch_once_when_aborting_a_fenced_transaction_in_v2() {
    let mut m = metadata(TransactionState::Ongoing, 5);
    m.client_transaction_version = TransactionVersion::V2;
    let fence = m.prepare_fence_producer_epoch().unwrap();
    assert_eq!(fence.producer_epoch, 6);
    let d = prepare_end_transaction(
        &mut m,
        fence.producer_id,
        fence.producer_epoch,
        TransactionResult::Abort,
        false,
        TransactionVersion::V2,
        2,
        no_new_id,
    )
    .unwrap();
    let EndTxnDecision::Write(abort) = d else {
        panic!("expected the abort");
    };
    assert_eq!(
        (abort.state, abort.producer_epoch, abort.last_producer_epoch),
        (TransactionState::PrepareAbort, 6, 5)
    );
    m.complete_transition_to(&abort).unwrap();
    assert_eq!((m.producer_epoch, m.last_producer_epoch), (6, 5));
}

/// `endTransactionWithTV1` prepares the commit or abort with transaction version 0 whatever
/// version the request came with.
#[test]
fn should_write_version_0_when_ending_a_transaction_in_v1() {
    let mut m = metadata(TransactionState::Ongoing, 3);
    let d = end_txn(&mut m, 3, TransactionResult::Commit, TransactionVersion::V1);
    let EndTxnDecision::Write(commit) = d else {
        panic!("expected the commit");
    };
    assert_eq!(commit.client_transaction_version, TransactionVersion::V0);
}
