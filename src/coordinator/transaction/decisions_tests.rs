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

/// KIP-890 part 2: the EndTxn that prepares bumps the epoch and a retry is recognised one
/// epoch below; a request at the new epoch is the next one, so a delayed EndTxn of an
/// earlier attempt can no longer end the next transaction (KAFKA-17754).
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
    // The stored epoch against a completed transaction is the producer's next request, not
    // a retry: a commit with no transaction open is INVALID_TXN_STATE (Kafka 4.0).
    let next = end_txn(&mut m, 2, TransactionResult::Commit, TransactionVersion::V2);
    assert_eq!(answered(&next), ErrorCode::InvalidTxnState);
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

// EndTxn as Kafka 4.0.2's `TransactionCoordinatorTest` checks it, under version 0/1
// (`endTransactionWithTV1`) and 2 (`endTransaction`). Its metadata is at epoch 1 (last epoch
// 0); its version 2 retries come one epoch below.

const EPOCH: i16 = 1;
const PRODUCER_ID_2: i64 = 11;

fn stored(state: TransactionState, tv: TransactionVersion) -> TransactionMetadata {
    let mut m = metadata(state, EPOCH);
    m.last_producer_epoch = EPOCH - 1;
    m.client_transaction_version = tv;
    m
}

/// `TransactionCoordinatorTest.requestEpoch`: the epoch a client names for the prepared or
/// completed transaction it ended, one below the stored one under version 2.
fn request_epoch(tv: TransactionVersion) -> i16 {
    if tv.supports_epoch_bump() {
        EPOCH - 1
    } else {
        EPOCH
    }
}

fn end_txn_as(
    m: &mut TransactionMetadata,
    producer_id: i64,
    epoch: i16,
    result: TransactionResult,
    tv: TransactionVersion,
) -> EndTxnDecision {
    prepare_end_transaction(m, producer_id, epoch, result, true, tv, 5, no_new_id).unwrap()
}

fn written(decision: EndTxnDecision) -> TxnTransitMetadata {
    match decision {
        EndTxnDecision::Write(transit) => transit,
        other => panic!("expected a write, got {other:?}"),
    }
}

const V0_AND_V2: [TransactionVersion; 2] = [TransactionVersion::V0, TransactionVersion::V2];

#[test]
fn should_reply_with_invalid_pid_mapping_on_end_txn_when_pid_dosent_match_mapped() {
    for tv in V0_AND_V2 {
        let mut m = stored(TransactionState::Ongoing, TransactionVersion::V0);
        let d = end_txn_as(&mut m, 0, 0, TransactionResult::Commit, tv);
        assert_eq!(answered(&d), ErrorCode::InvalidProducerIdMapping, "{tv:?}");
    }
}

#[test]
fn should_reply_with_producer_fenced_on_end_txn_when_epoch_is_not_same_as_transaction() {
    for tv in V0_AND_V2 {
        let mut m = stored(TransactionState::Ongoing, TransactionVersion::V0);
        let d = end_txn_as(&mut m, PRODUCER_ID, 0, TransactionResult::Commit, tv);
        assert_eq!(answered(&d), ErrorCode::ProducerFenced, "{tv:?}");
    }
}

/// Version 0/1: only the stored epoch is the producer's; its NONE names no producer id or
/// epoch.
#[test]
fn test_end_txn_when_status_is_complete_commit_and_result_is_commit_in_v1() {
    for is_retry in [false, true] {
        let mut m = stored(TransactionState::CompleteCommit, TransactionVersion::V0);
        let epoch = if is_retry { EPOCH - 1 } else { EPOCH };
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            epoch,
            TransactionResult::Commit,
            TransactionVersion::V0,
        );
        if is_retry {
            assert_eq!(answered(&d), ErrorCode::ProducerFenced);
        } else {
            assert_eq!(
                d,
                EndTxnDecision::Respond(EndTxnAnswer {
                    error: ErrorCode::None,
                    producer_id: NO_PRODUCER_ID,
                    producer_epoch: NO_PRODUCER_EPOCH,
                })
            );
        }
        assert_eq!(m.pending_state, None, "nothing is written");
    }
}

/// Version 2: a retry of the commit is answered NONE with the epoch it bumped to; the stored
/// epoch is the next request, and a commit with nothing open is INVALID_TXN_STATE.
#[test]
fn test_end_txn_when_status_is_complete_commit_and_result_is_commit_in_v2() {
    for is_retry in [false, true] {
        let mut m = stored(TransactionState::CompleteCommit, TransactionVersion::V2);
        let epoch = if is_retry { EPOCH - 1 } else { EPOCH };
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            epoch,
            TransactionResult::Commit,
            TransactionVersion::V2,
        );
        if is_retry {
            assert_eq!(
                d,
                EndTxnDecision::Respond(EndTxnAnswer {
                    error: ErrorCode::None,
                    producer_id: PRODUCER_ID,
                    producer_epoch: EPOCH,
                })
            );
        } else {
            assert_eq!(answered(&d), ErrorCode::InvalidTxnState);
        }
    }
}

#[test]
fn test_end_txn_when_status_is_complete_abort_and_result_is_abort_in_v1() {
    for is_retry in [false, true] {
        let mut m = stored(TransactionState::CompleteAbort, TransactionVersion::V0);
        let epoch = if is_retry { EPOCH - 1 } else { EPOCH };
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            epoch,
            TransactionResult::Abort,
            TransactionVersion::V0,
        );
        let expected = if is_retry {
            ErrorCode::ProducerFenced
        } else {
            ErrorCode::None
        };
        assert_eq!(answered(&d), expected, "retry {is_retry}");
    }
}

/// Version 2: a retried abort is done; an abort at the stored epoch is a new one, written
/// with the epoch bumped and the transaction begun now.
#[test]
fn should_return_ok_on_end_txn_when_status_is_complete_abort_and_result_is_abort_in_v2() {
    for is_retry in [false, true] {
        let mut m = stored(TransactionState::CompleteAbort, TransactionVersion::V2);
        let epoch = if is_retry { EPOCH - 1 } else { EPOCH };
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            epoch,
            TransactionResult::Abort,
            TransactionVersion::V2,
        );
        if is_retry {
            assert_eq!(answered(&d), ErrorCode::None);
            assert_eq!(m.pending_state, None, "nothing is written");
        } else {
            let abort = written(d);
            assert_eq!(
                (
                    abort.state,
                    abort.producer_epoch,
                    abort.txn_start_timestamp_ms
                ),
                (TransactionState::PrepareAbort, EPOCH + 1, Some(5))
            );
        }
    }
}

#[test]
fn should_return_invalid_txn_request_on_end_txn_request_when_status_is_complete_abort_and_result_is_not_abort(
) {
    for tv in V0_AND_V2 {
        let mut m = stored(TransactionState::CompleteAbort, tv);
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            request_epoch(tv),
            TransactionResult::Commit,
            tv,
        );
        assert_eq!(answered(&d), ErrorCode::InvalidTxnState, "{tv:?}");
    }
}

#[test]
fn should_return_invalid_txn_request_on_end_txn_request_when_status_is_complete_commit_and_result_is_not_commit(
) {
    let mut m = stored(TransactionState::CompleteCommit, TransactionVersion::V0);
    let d = end_txn_as(
        &mut m,
        PRODUCER_ID,
        EPOCH,
        TransactionResult::Abort,
        TransactionVersion::V0,
    );
    assert_eq!(answered(&d), ErrorCode::InvalidTxnState);
}

#[test]
fn test_end_txn_request_when_status_is_complete_commit_and_result_is_abort_in_v1() {
    for is_retry in [false, true] {
        let mut m = stored(TransactionState::CompleteCommit, TransactionVersion::V0);
        let epoch = if is_retry { EPOCH - 1 } else { EPOCH };
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            epoch,
            TransactionResult::Abort,
            TransactionVersion::V0,
        );
        let expected = if is_retry {
            ErrorCode::ProducerFenced
        } else {
            ErrorCode::InvalidTxnState
        };
        assert_eq!(answered(&d), expected, "retry {is_retry}");
    }
}

/// Version 2: a retry naming the other outcome is INVALID_TXN_STATE; an abort at the stored
/// epoch after a commit is a new, empty transaction's abort.
#[test]
fn test_end_txn_request_when_status_is_complete_commit_and_result_is_abort_in_v2() {
    for is_retry in [false, true] {
        let mut m = stored(TransactionState::CompleteCommit, TransactionVersion::V2);
        let epoch = if is_retry { EPOCH - 1 } else { EPOCH };
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            epoch,
            TransactionResult::Abort,
            TransactionVersion::V2,
        );
        if is_retry {
            assert_eq!(answered(&d), ErrorCode::InvalidTxnState);
        } else {
            let abort = written(d);
            assert_eq!(
                (
                    abort.state,
                    abort.producer_epoch,
                    abort.txn_start_timestamp_ms
                ),
                (TransactionState::PrepareAbort, EPOCH + 1, Some(5))
            );
        }
    }
}

#[test]
fn should_return_concurrent_transactions_on_end_txn_request_when_status_is_prepare_commit() {
    for tv in V0_AND_V2 {
        let mut m = stored(TransactionState::PrepareCommit, tv);
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            request_epoch(tv),
            TransactionResult::Commit,
            tv,
        );
        assert_eq!(answered(&d), ErrorCode::ConcurrentTransactions, "{tv:?}");
    }
}

#[test]
fn should_return_invalid_txn_request_on_end_txn_request_when_status_is_prepare_abort() {
    for tv in V0_AND_V2 {
        let mut m = stored(TransactionState::PrepareAbort, tv);
        m.last_producer_epoch = NO_PRODUCER_EPOCH;
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            request_epoch(tv),
            TransactionResult::Commit,
            tv,
        );
        assert_eq!(answered(&d), ErrorCode::InvalidTxnState, "{tv:?}");
    }
}

#[test]
fn test_end_txn_request_when_empty_transaction_state_for_abort_in_v1() {
    let mut m = stored(TransactionState::Empty, TransactionVersion::V0);
    let d = end_txn_as(
        &mut m,
        PRODUCER_ID,
        EPOCH,
        TransactionResult::Abort,
        TransactionVersion::V0,
    );
    assert_eq!(answered(&d), ErrorCode::InvalidTxnState);
}

/// Version 2: a client unsure whether a transaction is open may abort from Empty.
#[test]
fn test_end_txn_request_when_empty_transaction_state_for_abort_in_v2() {
    for is_retry in [false, true] {
        let mut m = stored(TransactionState::Empty, TransactionVersion::V2);
        let epoch = if is_retry { EPOCH - 1 } else { EPOCH };
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            epoch,
            TransactionResult::Abort,
            TransactionVersion::V2,
        );
        if is_retry {
            assert_eq!(answered(&d), ErrorCode::ProducerFenced);
        } else {
            let abort = written(d);
            assert_eq!(
                (
                    abort.state,
                    abort.producer_epoch,
                    abort.txn_start_timestamp_ms
                ),
                (TransactionState::PrepareAbort, EPOCH + 1, Some(5))
            );
            assert!(abort.topic_partitions.is_empty());
        }
    }
}

#[test]
fn test_end_txn_request_when_empty_transaction_state_for_commit_in_v2() {
    for is_retry in [false, true] {
        let mut m = stored(TransactionState::Empty, TransactionVersion::V2);
        let epoch = if is_retry { EPOCH - 1 } else { EPOCH };
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            epoch,
            TransactionResult::Commit,
            TransactionVersion::V2,
        );
        let expected = if is_retry {
            ErrorCode::ProducerFenced
        } else {
            ErrorCode::InvalidTxnState
        };
        assert_eq!(answered(&d), expected, "retry {is_retry}");
    }
}

#[test]
fn should_return_invalid_txn_request_on_end_txn_v2_if_not_end_txn_v2_retry() {
    // The stored epoch against a prepared transaction is a later request: fenced.
    let mut m = stored(TransactionState::PrepareCommit, TransactionVersion::V2);
    let d = end_txn_as(
        &mut m,
        PRODUCER_ID,
        EPOCH,
        TransactionResult::Commit,
        TransactionVersion::V2,
    );
    assert_eq!(answered(&d), ErrorCode::ProducerFenced);
    // Against a completed one it is the next request: a commit with nothing open.
    let mut m = stored(TransactionState::CompleteCommit, TransactionVersion::V2);
    let d = end_txn_as(
        &mut m,
        PRODUCER_ID,
        EPOCH,
        TransactionResult::Commit,
        TransactionVersion::V2,
    );
    assert_eq!(answered(&d), ErrorCode::InvalidTxnState);
}

/// A commit that overflowed the epoch: its retry names the old producer id at
/// `Short.MaxValue - 1`. While the commit completes it is CONCURRENT_TRANSACTIONS; once
/// complete it is answered with the new producer id at epoch 0.
#[test]
fn should_return_ok_on_end_txn_v2_if_end_txn_v2_retry_epoch_overflow() {
    let mut m = stored(TransactionState::PrepareCommit, TransactionVersion::V2);
    m.previous_producer_id = PRODUCER_ID;
    m.next_producer_id = PRODUCER_ID_2;
    m.producer_epoch = i16::MAX;
    m.last_producer_epoch = i16::MAX - 1;
    let d = end_txn_as(
        &mut m,
        PRODUCER_ID,
        i16::MAX - 1,
        TransactionResult::Commit,
        TransactionVersion::V2,
    );
    assert_eq!(answered(&d), ErrorCode::ConcurrentTransactions);

    let mut m = stored(TransactionState::CompleteCommit, TransactionVersion::V2);
    m.producer_id = PRODUCER_ID_2;
    m.previous_producer_id = PRODUCER_ID;
    m.producer_epoch = 0;
    m.last_producer_epoch = NO_PRODUCER_EPOCH;
    let d = end_txn_as(
        &mut m,
        PRODUCER_ID,
        i16::MAX - 1,
        TransactionResult::Commit,
        TransactionVersion::V2,
    );
    assert_eq!(
        d,
        EndTxnDecision::Respond(EndTxnAnswer {
            error: ErrorCode::None,
            producer_id: PRODUCER_ID_2,
            producer_epoch: 0,
        })
    );
}

/// The commit that exhausts the epoch takes a new producer id, which the completion moves to
/// at epoch 0.
#[test]
fn should_generate_new_producer_id_if_epochs_exhausted_v2() {
    let mut m = stored(TransactionState::Ongoing, TransactionVersion::V2);
    m.producer_epoch = i16::MAX - 1;
    m.last_producer_epoch = i16::MAX - 2;
    let commit = written(
        prepare_end_transaction(
            &mut m,
            PRODUCER_ID,
            i16::MAX - 1,
            TransactionResult::Commit,
            true,
            TransactionVersion::V2,
            5,
            || PRODUCER_ID_2,
        )
        .unwrap(),
    );
    assert_eq!(
        (
            commit.producer_id,
            commit.producer_epoch,
            commit.next_producer_id
        ),
        (PRODUCER_ID, i16::MAX, PRODUCER_ID_2)
    );
    m.complete_transition_to(&commit).unwrap();
    let complete = m.prepare_complete(6).unwrap();
    assert_eq!(
        (complete.producer_id, complete.producer_epoch),
        (PRODUCER_ID_2, 0)
    );
}

/// Kafka 4.0 checks a pending transition first under version 2: the producer may already
/// name the new producer id of an overflow whose completion is still pending. Version 0/1
/// checks the producer id first.
#[test]
fn should_respond_with_concurrent_transactions_on_end_txn_before_checking_the_producer_id_in_v2() {
    let mut m = stored(TransactionState::PrepareCommit, TransactionVersion::V2);
    m.pending_state = Some(TransactionState::CompleteCommit);
    let d = end_txn_as(
        &mut m,
        PRODUCER_ID_2,
        0,
        TransactionResult::Commit,
        TransactionVersion::V2,
    );
    assert_eq!(answered(&d), ErrorCode::ConcurrentTransactions);
    let d = end_txn_as(
        &mut m,
        PRODUCER_ID_2,
        0,
        TransactionResult::Commit,
        TransactionVersion::V0,
    );
    assert_eq!(answered(&d), ErrorCode::InvalidProducerIdMapping);
}

#[test]
fn should_append_prepare_commit_or_abort_to_log_on_end_txn_when_status_is_ongoing() {
    for tv in V0_AND_V2 {
        for (result, state) in [
            (TransactionResult::Commit, TransactionState::PrepareCommit),
            (TransactionResult::Abort, TransactionState::PrepareAbort),
        ] {
            let mut m = stored(TransactionState::Ongoing, TransactionVersion::V0);
            let transit = written(end_txn_as(&mut m, PRODUCER_ID, EPOCH, result, tv));
            let epoch = if tv.supports_epoch_bump() {
                EPOCH + 1
            } else {
                EPOCH
            };
            assert_eq!(
                (
                    transit.state,
                    transit.producer_epoch,
                    transit.client_transaction_version
                ),
                (state, epoch, tv),
                "{tv:?}"
            );
            assert_eq!(m.pending_state, Some(state));
        }
    }
}

#[test]
fn should_return_invalid_epoch_on_end_txn_when_epoch_is_larger_or_smaller() {
    for tv in V0_AND_V2 {
        // Larger: the stored epoch is 1, the request's 2.
        let mut m = stored(TransactionState::CompleteCommit, tv);
        let d = end_txn_as(&mut m, PRODUCER_ID, 2, TransactionResult::Commit, tv);
        assert_eq!(answered(&d), ErrorCode::ProducerFenced, "larger {tv:?}");
        // Smaller: the stored epoch is 2, the request's that of epoch 1.
        let mut m = stored(TransactionState::CompleteCommit, tv);
        m.producer_epoch = 2;
        let d = end_txn_as(
            &mut m,
            PRODUCER_ID,
            request_epoch(tv),
            TransactionResult::Commit,
            tv,
        );
        assert_eq!(answered(&d), ErrorCode::ProducerFenced, "smaller {tv:?}");
    }
}

/// A transaction timing out at `Short.MaxValue - 1` under version 2: the fence's abort bumps
/// the epoch once, to `Short.MaxValue`, with no new producer id.
#[test]
fn should_handle_timeout_at_epoch_overflow_boundary_correctly_tv2() {
    let mut m = stored(TransactionState::Ongoing, TransactionVersion::V2);
    m.producer_epoch = i16::MAX - 1;
    m.last_producer_epoch = NO_PRODUCER_EPOCH;
    assert!(m.is_producer_epoch_exhausted());
    let fence = m.prepare_fence_producer_epoch().unwrap();
    let abort = written(
        prepare_end_transaction(
            &mut m,
            fence.producer_id,
            fence.producer_epoch,
            TransactionResult::Abort,
            false,
            TransactionVersion::V2,
            5,
            no_new_id,
        )
        .unwrap(),
    );
    assert_eq!(
        (
            abort.producer_id,
            abort.producer_epoch,
            abort.next_producer_id
        ),
        (PRODUCER_ID, i16::MAX, NO_PRODUCER_ID)
    );
    m.complete_transition_to(&abort).unwrap();
    let complete = m.prepare_complete(6).unwrap();
    m.complete_transition_to(&complete).unwrap();
    assert_eq!(
        (m.state, m.producer_id, m.producer_epoch),
        (TransactionState::CompleteAbort, PRODUCER_ID, i16::MAX)
    );
}

/// The request's transaction version picks the rules, not the stored one: a version 0
/// request against version 2 metadata is checked as `endTransactionWithTV1` checks it.
#[test]
fn the_requests_transaction_version_picks_the_rules() {
    let mut m = stored(TransactionState::CompleteCommit, TransactionVersion::V2);
    let d = end_txn_as(
        &mut m,
        PRODUCER_ID,
        EPOCH,
        TransactionResult::Commit,
        TransactionVersion::V0,
    );
    assert_eq!(answered(&d), ErrorCode::None);
    let mut m = stored(TransactionState::CompleteCommit, TransactionVersion::V0);
    let d = end_txn_as(
        &mut m,
        PRODUCER_ID,
        EPOCH,
        TransactionResult::Commit,
        TransactionVersion::V2,
    );
    assert_eq!(answered(&d), ErrorCode::InvalidTxnState);
}

/// Between the fence and its abort (`handleInitProducerId` takes the lock twice) the
/// client's own EndTxn may come in at the stored epoch: an abort takes the fence's place, a
/// commit meets the pending fence in `prepareTransitionTo`, Kafka's IllegalStateException.
#[test]
fn a_clients_end_txn_between_a_fence_and_its_abort() {
    for tv in V0_AND_V2 {
        let mut m = stored(TransactionState::Ongoing, tv);
        m.prepare_fence_producer_epoch().unwrap();
        let abort = written(end_txn_as(
            &mut m,
            PRODUCER_ID,
            EPOCH,
            TransactionResult::Abort,
            tv,
        ));
        // Version 0/1 writes the request's epoch in the fenced one's stead; version 2 bumps
        // from the stored epoch.
        let epoch = if tv.supports_epoch_bump() {
            EPOCH + 1
        } else {
            EPOCH
        };
        assert_eq!(
            (abort.state, abort.producer_epoch),
            (TransactionState::PrepareAbort, epoch),
            "{tv:?}"
        );

        let mut m = stored(TransactionState::Ongoing, tv);
        m.prepare_fence_producer_epoch().unwrap();
        let commit = prepare_end_transaction(
            &mut m,
            PRODUCER_ID,
            EPOCH,
            TransactionResult::Commit,
            true,
            tv,
            5,
            no_new_id,
        );
        assert!(commit.is_err(), "{tv:?}: {commit:?}");
    }
}
