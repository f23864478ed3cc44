//! `TransactionMetadata` against cases ported from Kafka's `TransactionMetadataTest` (named
//! after them).

use super::metadata::*;
use crate::types::{ErrorCode, TopicPartition};
use std::collections::BTreeSet;

const PRODUCER_ID: i64 = 23423;
const TIMEOUT_MS: u64 = 30_000;

fn metadata(state: TransactionState, epoch: i16, last_epoch: i16) -> TransactionMetadata {
    TransactionMetadata {
        producer_epoch: epoch,
        last_producer_epoch: last_epoch,
        state,
        ..TransactionMetadata::new("txn-1", PRODUCER_ID, TIMEOUT_MS, 0)
    }
}

fn partitions(names: &[(&str, u32)]) -> BTreeSet<TopicPartition> {
    names
        .iter()
        .map(|(t, p)| TopicPartition::new(*t, *p))
        .collect()
}

/// Prepares with `prepare` and completes what it prepared.
fn transition(
    m: &mut TransactionMetadata,
    prepare: impl FnOnce(&mut TransactionMetadata) -> Result<TxnTransitMetadata, IllegalTransition>,
) -> TxnTransitMetadata {
    let transit = prepare(m).expect("a legal transition");
    m.complete_transition_to(&transit).expect("it completes");
    transit
}

fn bump(m: &mut TransactionMetadata, expected: Option<i16>, now_ms: u64) -> TxnTransitMetadata {
    let transit = m
        .prepare_increment_producer_epoch(TIMEOUT_MS, expected, now_ms)
        .expect("a legal transition")
        .expect("not fenced");
    m.complete_transition_to(&transit).expect("it completes");
    transit
}

#[test]
fn test_initialize_epoch() {
    let mut m = TransactionMetadata::new("txn-1", PRODUCER_ID, TIMEOUT_MS, 0);
    assert_eq!(m.producer_epoch, NO_PRODUCER_EPOCH);
    let transit = bump(&mut m, None, 1);
    assert_eq!(
        (transit.producer_epoch, transit.last_producer_epoch),
        (0, -1)
    );
    assert_eq!(
        (m.producer_id, m.producer_epoch, m.last_producer_epoch),
        (PRODUCER_ID, 0, -1)
    );
    assert_eq!(m.state, TransactionState::Empty);
    assert_eq!(m.txn_last_update_timestamp_ms, 1);
}

#[test]
fn test_normal_epoch_bump() {
    let mut m = metadata(TransactionState::Empty, 735, NO_PRODUCER_EPOCH);
    bump(&mut m, None, 1);
    assert_eq!((m.producer_epoch, m.last_producer_epoch), (736, -1));
}

#[test]
fn test_bump_epoch_not_allowed_if_epochs_exhausted() {
    let mut m = metadata(TransactionState::Empty, i16::MAX - 1, NO_PRODUCER_EPOCH);
    assert!(m.is_producer_epoch_exhausted());
    assert!(m
        .prepare_increment_producer_epoch(TIMEOUT_MS, None, 1)
        .is_err());
}

#[test]
fn test_tolerate_time_shift_during_add_partitions() {
    // The clock may go back between two updates: the transaction keeps its start time.
    let mut m = metadata(TransactionState::Empty, 0, NO_PRODUCER_EPOCH);
    m.txn_last_update_timestamp_ms = 1_000;
    transition(&mut m, |m| {
        m.prepare_add_partitions(&partitions(&[("topic1", 0)]), 500, TransactionVersion::V1)
    });
    assert_eq!(m.state, TransactionState::Ongoing);
    assert_eq!(m.txn_start_timestamp_ms, Some(500));
    assert_eq!(m.txn_last_update_timestamp_ms, 500);
    transition(&mut m, |m| {
        m.prepare_add_partitions(&partitions(&[("topic2", 0)]), 400, TransactionVersion::V1)
    });
    assert_eq!(
        m.txn_start_timestamp_ms,
        Some(500),
        "an open transaction keeps its start"
    );
    assert_eq!(
        m.topic_partitions,
        partitions(&[("topic1", 0), ("topic2", 0)])
    );
}

#[test]
fn test_commit_and_complete_keep_the_epoch_before_transaction_version_2() {
    let mut m = metadata(TransactionState::Empty, 5, NO_PRODUCER_EPOCH);
    transition(&mut m, |m| {
        m.prepare_add_partitions(&partitions(&[("topic1", 0)]), 10, TransactionVersion::V1)
    });
    transition(&mut m, |m| {
        m.prepare_abort_or_commit(
            TransactionState::PrepareCommit,
            TransactionVersion::V1,
            NO_PRODUCER_ID,
            20,
            false,
        )
    });
    assert_eq!(
        (m.state, m.producer_epoch),
        (TransactionState::PrepareCommit, 5)
    );
    transition(&mut m, |m| m.prepare_complete(30));
    assert_eq!(m.state, TransactionState::CompleteCommit);
    assert_eq!(m.producer_epoch, 5);
    assert!(
        m.topic_partitions.is_empty(),
        "markers written: the set clears"
    );
}

#[test]
fn test_prepare_abort_bumps_the_epoch_with_transaction_version_2() {
    let mut m = metadata(TransactionState::Empty, 5, NO_PRODUCER_EPOCH);
    transition(&mut m, |m| {
        m.prepare_add_partitions(&partitions(&[("topic1", 0)]), 10, TransactionVersion::V1)
    });
    let transit = transition(&mut m, |m| {
        m.prepare_abort_or_commit(
            TransactionState::PrepareAbort,
            TransactionVersion::V2,
            NO_PRODUCER_ID,
            20,
            false,
        )
    });
    assert_eq!(
        (transit.producer_epoch, transit.last_producer_epoch),
        (6, 5)
    );
    assert_eq!((m.producer_epoch, m.last_producer_epoch), (6, 5));
    transition(&mut m, |m| m.prepare_complete(30));
    assert_eq!(m.state, TransactionState::CompleteAbort);
    assert_eq!((m.producer_id, m.producer_epoch), (PRODUCER_ID, 6));
}

#[test]
fn test_prepare_commit_with_epoch_overflow_rotates_the_producer_id_at_completion() {
    let mut m = metadata(TransactionState::Empty, i16::MAX - 1, NO_PRODUCER_EPOCH);
    transition(&mut m, |m| {
        m.prepare_add_partitions(&partitions(&[("topic1", 0)]), 10, TransactionVersion::V1)
    });
    let new_producer_id = PRODUCER_ID + 1;
    transition(&mut m, |m| {
        m.prepare_abort_or_commit(
            TransactionState::PrepareCommit,
            TransactionVersion::V2,
            new_producer_id,
            20,
            false,
        )
    });
    assert_eq!(m.producer_epoch, i16::MAX);
    assert_eq!(m.next_producer_id, new_producer_id);
    transition(&mut m, |m| m.prepare_complete(30));
    assert_eq!((m.producer_id, m.producer_epoch), (new_producer_id, 0));
    assert_eq!(m.previous_producer_id, PRODUCER_ID);
    assert_eq!(m.next_producer_id, NO_PRODUCER_ID);
}

#[test]
fn test_fence_producer_after_epochs_exhausted() {
    let mut m = metadata(TransactionState::Ongoing, i16::MAX - 1, NO_PRODUCER_EPOCH);
    m.txn_start_timestamp_ms = Some(1);
    m.topic_partitions = partitions(&[("topic1", 0)]);
    let fence = m.prepare_fence_producer_epoch().expect("a legal fence");
    assert_eq!(fence.producer_epoch, i16::MAX);
    assert_eq!(fence.last_producer_epoch, NO_PRODUCER_EPOCH);
    // A fence is never completed: the abort with the fenced epoch follows it.
    assert!(m.complete_transition_to(&fence).is_err());
}

#[test]
fn test_fence_producer_not_allowed_if_it_would_overflow() {
    let mut m = metadata(TransactionState::Ongoing, i16::MAX, NO_PRODUCER_EPOCH);
    assert!(m.prepare_fence_producer_epoch().is_err());
}

#[test]
fn test_a_failed_fence_does_not_bump_the_epoch_twice() {
    let mut m = metadata(TransactionState::Ongoing, 10, NO_PRODUCER_EPOCH);
    m.txn_start_timestamp_ms = Some(1);
    let fence = m.prepare_fence_producer_epoch().unwrap();
    assert_eq!(fence.producer_epoch, 11);
    // As `endTransactionWithTV1` follows a fence: the abort at the fenced epoch takes the
    // fence's place, and its write fails.
    m.pending_state = None;
    m.producer_epoch = fence.producer_epoch;
    m.last_producer_epoch = NO_PRODUCER_EPOCH;
    m.prepare_abort_or_commit(
        TransactionState::PrepareAbort,
        TransactionVersion::V0,
        NO_PRODUCER_ID,
        2,
        false,
    )
    .unwrap();
    m.abort_pending_transition(true);
    assert!(m.has_failed_epoch_fence);
    assert_eq!(m.pending_state, None);
    let again = m.prepare_fence_producer_epoch().unwrap();
    assert_eq!(
        again.producer_epoch, 11,
        "hasFailedEpochFence: the same epoch again"
    );
}

#[test]
fn test_rotate_producer_id() {
    let mut m = metadata(
        TransactionState::CompleteCommit,
        i16::MAX - 1,
        NO_PRODUCER_EPOCH,
    );
    let new_producer_id = 9893;
    let transit = transition(&mut m, |m| {
        m.prepare_producer_id_rotation(new_producer_id, TIMEOUT_MS, 1, true)
    });
    assert_eq!(transit.prev_producer_id, PRODUCER_ID);
    assert_eq!((m.producer_id, m.producer_epoch), (new_producer_id, 0));
    assert_eq!(m.last_producer_epoch, i16::MAX - 1);
    assert_eq!(m.previous_producer_id, PRODUCER_ID);
    assert_eq!(m.state, TransactionState::Empty);
}

#[test]
fn test_rotate_producer_id_in_ongoing_state() {
    let mut m = metadata(TransactionState::Ongoing, i16::MAX - 1, NO_PRODUCER_EPOCH);
    assert!(m
        .prepare_producer_id_rotation(9893, TIMEOUT_MS, 1, true)
        .is_err());
}

#[test]
fn test_attempted_epoch_bump_with_newly_created_metadata() {
    let mut m = TransactionMetadata::new("txn-1", PRODUCER_ID, TIMEOUT_MS, 0);
    bump(&mut m, Some(735), 1);
    assert_eq!(
        (m.producer_epoch, m.last_producer_epoch),
        (0, NO_PRODUCER_EPOCH)
    );
}

#[test]
fn test_epoch_bump_with_current_epoch_provided() {
    let mut m = metadata(TransactionState::Empty, 735, NO_PRODUCER_EPOCH);
    bump(&mut m, Some(735), 1);
    assert_eq!((m.producer_epoch, m.last_producer_epoch), (736, 735));
}

#[test]
fn test_attempted_epoch_bump_with_last_epoch() {
    // A retry of an InitProducerId that succeeded: nothing moves.
    let mut m = metadata(TransactionState::Empty, 735, 734);
    bump(&mut m, Some(734), 1);
    assert_eq!((m.producer_epoch, m.last_producer_epoch), (735, 734));
}

#[test]
fn test_attempted_epoch_bump_with_fenced_epoch() {
    let mut m = metadata(TransactionState::Empty, 735, 734);
    let result = m
        .prepare_increment_producer_epoch(TIMEOUT_MS, Some(733), 1)
        .expect("no illegal transition");
    assert_eq!(result, Err(ErrorCode::ProducerFenced));
    assert!(!m.pending_transition_in_progress(), "nothing prepared");
}

#[test]
fn test_no_second_prepare_while_one_is_pending() {
    let mut m = metadata(TransactionState::Empty, 0, NO_PRODUCER_EPOCH);
    m.prepare_add_partitions(&partitions(&[("topic1", 0)]), 1, TransactionVersion::V1)
        .unwrap();
    assert!(m.pending_transition_in_progress());
    assert!(m
        .prepare_add_partitions(&partitions(&[("topic2", 0)]), 2, TransactionVersion::V1)
        .is_err());
}

#[test]
fn test_only_the_valid_previous_states_may_precede_a_state() {
    use TransactionState::*;
    let all = TransactionState::ALL;
    // Kafka 4.0's table, written out once more as (state, may follow).
    let table: [(TransactionState, &[TransactionState]); 8] = [
        (Empty, &[Empty, CompleteCommit, CompleteAbort]),
        (Ongoing, &[Ongoing, Empty, CompleteCommit, CompleteAbort]),
        (PrepareCommit, &[Ongoing]),
        (
            PrepareAbort,
            &[
                Ongoing,
                PrepareEpochFence,
                Empty,
                CompleteCommit,
                CompleteAbort,
            ],
        ),
        (CompleteCommit, &[PrepareCommit]),
        (CompleteAbort, &[PrepareAbort]),
        (Dead, &[Empty, CompleteAbort, CompleteCommit]),
        (PrepareEpochFence, &[Ongoing]),
    ];
    for (state, previous) in table {
        for from in all {
            assert_eq!(
                state.valid_previous_states().contains(&from),
                previous.contains(&from),
                "{state} after {from}"
            );
        }
    }
    let ids: BTreeSet<u8> = all.iter().map(|s| s.id()).collect();
    assert_eq!(ids, (0..8).collect());
    assert!(CompleteAbort.is_expiration_allowed() && !Ongoing.is_expiration_allowed());
}

#[test]
fn test_a_commit_cannot_follow_an_empty_state() {
    let mut m = metadata(TransactionState::Empty, 3, NO_PRODUCER_EPOCH);
    assert!(m
        .prepare_abort_or_commit(
            TransactionState::PrepareCommit,
            TransactionVersion::V1,
            NO_PRODUCER_ID,
            1,
            false
        )
        .is_err());
}

#[test]
fn test_a_completion_must_match_what_was_prepared() {
    let mut m = metadata(TransactionState::Empty, 3, NO_PRODUCER_EPOCH);
    let mut transit = m
        .prepare_add_partitions(&partitions(&[("topic1", 0)]), 1, TransactionVersion::V1)
        .unwrap();
    transit.producer_epoch = 4;
    assert!(m.complete_transition_to(&transit).is_err(), "a stale epoch");
}

/// Transaction version 2 bumps the epoch at PrepareCommit/PrepareAbort: at Short.MaxValue
/// Kafka's `(producerEpoch + 1).toShort` wraps to a negative epoch, which
/// `prepareTransitionTo` refuses (IllegalArgumentException): a refusal, not an overflow.
#[test]
fn test_an_epoch_bump_past_short_max_value_is_refused() {
    let mut m = metadata(TransactionState::Ongoing, i16::MAX, i16::MAX - 1);
    m.topic_partitions = partitions(&[("topic1", 0)]);
    m.txn_start_timestamp_ms = Some(0);
    assert!(m
        .prepare_abort_or_commit(
            TransactionState::PrepareCommit,
            TransactionVersion::V2,
            NO_PRODUCER_ID,
            1,
            false
        )
        .is_err());
    assert_eq!(m.pending_state, None);
}

/// `validProducerEpochBump` adds one to the epoch as an Int: at Short.MaxValue a completion
/// of Empty with another epoch of the same producer id is refused, not an overflow.
#[test]
fn test_completing_at_short_max_value_checks_the_bump_without_overflow() {
    let mut m = metadata(TransactionState::Empty, i16::MAX, NO_PRODUCER_EPOCH);
    m.pending_state = Some(TransactionState::Empty);
    let transit = TxnTransitMetadata {
        producer_epoch: 0,
        ..m.prepare_no_transit()
    };
    assert!(m.complete_transition_to(&transit).is_err());
}

/// Any other failed write leaves `hasFailedEpochFence` alone.
#[test]
fn test_a_failed_write_that_is_no_fence_leaves_the_flag() {
    let mut m = metadata(TransactionState::Empty, 3, NO_PRODUCER_EPOCH);
    m.prepare_add_partitions(&partitions(&[("topic1", 0)]), 1, TransactionVersion::V1)
        .unwrap();
    m.abort_pending_transition(false);
    assert!(!m.has_failed_epoch_fence);
    assert_eq!(m.pending_state, None);
}

/// Kafka 4.0's `prepareComplete` keeps the last epoch: after a version 2 commit it is the
/// epoch before PrepareCommit's bump, the one the client last used.
#[test]
fn test_complete_keeps_the_last_epoch_after_a_v2_bump() {
    let mut m = metadata(TransactionState::Ongoing, 5, NO_PRODUCER_EPOCH);
    m.topic_partitions = partitions(&[("topic1", 0)]);
    m.txn_start_timestamp_ms = Some(1);
    let prepare = transition(&mut m, |m| {
        m.prepare_abort_or_commit(
            TransactionState::PrepareCommit,
            TransactionVersion::V2,
            NO_PRODUCER_ID,
            2,
            false,
        )
    });
    assert_eq!(
        (prepare.producer_epoch, prepare.last_producer_epoch),
        (6, 5)
    );
    let complete = transition(&mut m, |m| m.prepare_complete(3));
    assert_eq!(
        (complete.producer_epoch, complete.last_producer_epoch),
        (6, 5)
    );
    assert_eq!((m.producer_epoch, m.last_producer_epoch), (6, 5));
}

/// On an overflow (version 2 at epoch Short.MaxValue - 1) the new producer id takes over at
/// epoch 0, and the last epoch stays Short.MaxValue - 1, the last the client saw.
#[test]
fn test_complete_after_an_overflow_keeps_the_last_epoch_the_client_saw() {
    let mut m = metadata(TransactionState::Ongoing, i16::MAX - 1, NO_PRODUCER_EPOCH);
    m.topic_partitions = partitions(&[("topic1", 0)]);
    m.txn_start_timestamp_ms = Some(1);
    transition(&mut m, |m| {
        m.prepare_abort_or_commit(
            TransactionState::PrepareAbort,
            TransactionVersion::V2,
            PRODUCER_ID + 1,
            2,
            false,
        )
    });
    assert_eq!(m.producer_epoch, i16::MAX);
    transition(&mut m, |m| m.prepare_complete(3));
    assert_eq!(m.state, TransactionState::CompleteAbort);
    assert_eq!(
        (m.producer_id, m.previous_producer_id),
        (PRODUCER_ID + 1, PRODUCER_ID)
    );
    assert_eq!((m.producer_epoch, m.last_producer_epoch), (0, i16::MAX - 1));
}

/// Kafka 4.0 keeps the transaction version in every transition: the one of the request
/// that adds partitions, and the id's own for InitProducerId, fences and expiration.
#[test]
fn test_transitions_keep_the_transaction_version() {
    let mut m = metadata(TransactionState::Empty, 3, NO_PRODUCER_EPOCH);
    let add = transition(&mut m, |m| {
        m.prepare_add_partitions(&partitions(&[("topic1", 0)]), 1, TransactionVersion::V2)
    });
    assert_eq!(add.client_transaction_version, TransactionVersion::V2);
    assert_eq!(m.client_transaction_version, TransactionVersion::V2);
    let fence = m.prepare_fence_producer_epoch().unwrap();
    assert_eq!(fence.client_transaction_version, TransactionVersion::V2);
    m.abort_pending_transition(false);
    m.state = TransactionState::CompleteAbort;
    let init = transition(&mut m, |m| {
        m.prepare_increment_producer_epoch(TIMEOUT_MS, None, 2)
            .map(|r| r.expect("bumped"))
    });
    assert_eq!(init.client_transaction_version, TransactionVersion::V2);
    assert_eq!(
        m.prepare_dead().unwrap().client_transaction_version,
        TransactionVersion::V2
    );
}

/// Kafka 4.0: with transaction version 2 an abort may come with no transaction open (the
/// client is unsure whether one is): PrepareAbort from Empty or a completed transaction,
/// with no partitions, its start time the time of the abort, and the epoch bumped.
#[test]
fn test_a_v2_abort_with_no_transaction_open() {
    for state in [
        TransactionState::Empty,
        TransactionState::CompleteCommit,
        TransactionState::CompleteAbort,
    ] {
        let mut m = metadata(state, 4, 3);
        m.txn_start_timestamp_ms = Some(1);
        let abort = transition(&mut m, |m| {
            m.prepare_abort_or_commit(
                TransactionState::PrepareAbort,
                TransactionVersion::V2,
                NO_PRODUCER_ID,
                9,
                true,
            )
        });
        assert_eq!(abort.txn_start_timestamp_ms, Some(9), "{state}");
        assert_eq!(m.state, TransactionState::PrepareAbort);
        assert_eq!((m.producer_epoch, m.last_producer_epoch), (5, 4));
        assert_eq!(m.txn_start_timestamp_ms, Some(9));
        assert!(m.topic_partitions.is_empty());
        transition(&mut m, |m| m.prepare_complete(10));
        assert_eq!(m.state, TransactionState::CompleteAbort);
    }
}

/// The same transition without version 2 may be prepared (the state table allows it), but
/// its new start time fails the check at completion: the classic coordinator never asks.
#[test]
fn test_an_abort_with_no_transaction_open_needs_version_2() {
    let mut m = metadata(TransactionState::CompleteCommit, 4, 3);
    m.txn_start_timestamp_ms = Some(1);
    let abort = m
        .prepare_abort_or_commit(
            TransactionState::PrepareAbort,
            TransactionVersion::V1,
            NO_PRODUCER_ID,
            9,
            true,
        )
        .expect("a legal prepare");
    assert!(m.complete_transition_to(&abort).is_err());
}
