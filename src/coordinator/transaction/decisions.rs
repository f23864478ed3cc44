//! What the transaction coordinator decides for a request before anything is written
//! (Kafka's `TransactionCoordinator.prepareInitProducerIdTransit`, the checks of
//! `handleAddPartitionsToTransaction`, the pre-append part of `endTransaction` and
//! `endTransactionWithTV1`, and `abortTimedOutTransactions` with
//! `TransactionStateManager.timedOutTransactions`).
//!
//! AddPartitionsToTxn and EndTxn follow Kafka 4.0.2, the first release line with
//! transaction version 2: EndTxn under version 2 checks a pending transition before the
//! producer id, tells a retry from the next request by the epoch, and lets a client abort
//! from Empty or a completed transaction; under version 0 or 1 it keeps the classic rules
//! (`endTransactionWithTV1`).
//!
//! Each function looks at one transactional id's [`TransactionMetadata`] and either answers
//! at once ([`Decision::Respond`]) or prepares a transition ([`Decision::Write`]) that the
//! host writes to `__transaction_state` and completes when the write is acknowledged. The
//! host hands out new producer ids (`ProducerIdManager.generateProducerId`) through a
//! closure, so these functions stay free of I/O and are tested alone.

use super::metadata::{
    is_epoch_exhausted, IllegalTransition, TransactionMetadata, TransactionState,
    TransactionVersion, TxnTransitMetadata, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};
use crate::types::{ErrorCode, TopicPartition};
use std::collections::BTreeSet;

/// The coordinator's decision on a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Answer now with this error (NONE for a request that needs no write).
    Respond(ErrorCode),
    /// Write this transition; answer once it is written.
    Write(TxnTransitMetadata),
}

/// Commit or abort (`TransactionResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionResult {
    Commit,
    Abort,
}

/// A producer id and epoch the request names (`ProducerIdAndEpoch`, KIP-360).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub epoch: i16,
}

/// `prepareInitProducerIdTransit`: InitProducerId for an existing transactional id. A
/// [`Decision::Write`] in state PrepareEpochFence means an old instance left a transaction
/// open: the host aborts it ([`prepare_end_transaction`] with `is_from_client` false) and
/// answers CONCURRENT_TRANSACTIONS, so the client retries and gets the next epoch.
pub fn prepare_init_producer_id(
    m: &mut TransactionMetadata,
    txn_timeout_ms: u64,
    expected: Option<ProducerIdAndEpoch>,
    now_ms: u64,
    new_producer_id: impl FnOnce() -> i64,
) -> Result<Decision, IllegalTransition> {
    // A producer recovering from UNKNOWN_PRODUCER_ID on new metadata, the current producer
    // id (its epoch is checked when bumped), or the previous one with an exhausted epoch (a
    // retry of a rotation whose answer was lost).
    let valid_producer_id = |p: &ProducerIdAndEpoch| {
        m.producer_epoch == NO_PRODUCER_EPOCH
            || p.producer_id == m.producer_id
            || (p.producer_id == m.previous_producer_id && is_epoch_exhausted(p.epoch))
    };
    if m.pending_transition_in_progress() {
        return Ok(Decision::Respond(ErrorCode::ConcurrentTransactions));
    }
    if !expected.iter().all(valid_producer_id) {
        return Ok(Decision::Respond(ErrorCode::ProducerFenced));
    }
    match m.state {
        TransactionState::PrepareAbort | TransactionState::PrepareCommit => {
            Ok(Decision::Respond(ErrorCode::ConcurrentTransactions))
        }
        TransactionState::CompleteAbort
        | TransactionState::CompleteCommit
        | TransactionState::Empty => {
            let rotate = m.is_producer_epoch_exhausted()
                && expected.iter().all(|p| p.epoch == m.producer_epoch);
            if rotate {
                let transit = m.prepare_producer_id_rotation(
                    new_producer_id(),
                    txn_timeout_ms,
                    now_ms,
                    expected.is_some(),
                )?;
                return Ok(Decision::Write(transit));
            }
            let epoch = expected.map(|p| p.epoch);
            Ok(
                match m.prepare_increment_producer_epoch(txn_timeout_ms, epoch, now_ms)? {
                    Ok(transit) => Decision::Write(transit),
                    Err(error) => Decision::Respond(error),
                },
            )
        }
        // The epoch this fence gives is never returned: the abort follows, and the client's
        // retry bumps it once more.
        TransactionState::Ongoing => Ok(Decision::Write(m.prepare_fence_producer_epoch()?)),
        TransactionState::Dead | TransactionState::PrepareEpochFence => {
            Err(IllegalTransition(format!(
                "{}: InitProducerId found the settled state {}",
                m.transactional_id, m.state
            )))
        }
    }
}

/// `handleAddPartitionsToTransaction`'s checks, in Kafka 4.0's order: a pending transition
/// first (with version 2 the producer may already use the new producer id of an epoch
/// overflow that is only pending), then the producer id and epoch. Partitions already in an
/// open transaction are answered NONE with no write. The transition records the request's
/// transaction version.
pub fn prepare_add_partitions(
    m: &mut TransactionMetadata,
    producer_id: i64,
    producer_epoch: i16,
    partitions: &BTreeSet<TopicPartition>,
    client_transaction_version: TransactionVersion,
    now_ms: u64,
) -> Result<Decision, IllegalTransition> {
    let error = if m.pending_transition_in_progress() {
        Some(ErrorCode::ConcurrentTransactions)
    } else if m.producer_id != producer_id {
        Some(ErrorCode::InvalidProducerIdMapping)
    } else if m.producer_epoch != producer_epoch {
        Some(ErrorCode::ProducerFenced)
    } else if matches!(
        m.state,
        TransactionState::PrepareCommit | TransactionState::PrepareAbort
    ) {
        Some(ErrorCode::ConcurrentTransactions)
    } else if m.state == TransactionState::Ongoing && partitions.is_subset(&m.topic_partitions) {
        Some(ErrorCode::None)
    } else {
        None
    };
    match error {
        Some(error) => Ok(Decision::Respond(error)),
        None => Ok(Decision::Write(m.prepare_add_partitions(
            partitions,
            now_ms,
            client_transaction_version,
        )?)),
    }
}

/// The answer to an EndTxn that needs no write: the error, and the producer id and epoch
/// the client continues with. Only version 2's NONE names them (the stored ones, so a
/// retried commit or abort learns the epoch its first attempt bumped to, or the producer id
/// it overflowed to); every other answer, and version 0/1's NONE, carries -1 and -1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndTxnAnswer {
    pub error: ErrorCode,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// What [`prepare_end_transaction`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndTxnDecision {
    Respond(EndTxnAnswer),
    /// Write PrepareCommit or PrepareAbort; then the markers, then the completion.
    Write(TxnTransitMetadata),
}

/// An answer that names no producer id or epoch (`RecordBatch.NO_PRODUCER_ID` and
/// `NO_PRODUCER_EPOCH`).
fn respond(error: ErrorCode) -> EndTxnDecision {
    EndTxnDecision::Respond(EndTxnAnswer {
        error,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
    })
}

/// Kafka throws `IllegalStateException` for these: no transition ever settles in them.
fn settled_state_error(m: &TransactionMetadata) -> IllegalTransition {
    IllegalTransition(format!(
        "{}: EndTxn found the settled state {}",
        m.transactional_id, m.state
    ))
}

/// The pre-append part of Kafka 4.0.2's `TransactionCoordinator.endTransaction`: EndTxn from
/// the client (`is_from_client`, `handleEndTransaction`), or the coordinator's own abort
/// after a fence (InitProducerId over an open transaction, or a timed-out transaction) at the
/// fenced epoch, with the coordinator's transaction version.
///
/// The request's transaction version picks the rules, not the stored one: below 2 they are
/// [`end_transaction_with_tv1`]'s. Version 2 bumps the epoch at every PrepareCommit and
/// PrepareAbort, so the epoch tells a retry from the next request:
///
/// - a retry is one epoch below the stored one (`retryOnEpochBump`), or the last epoch of
///   the previous producer id once an overflow moved to a new one at epoch 0
///   (`retryOnOverflow`); a retry against the completed transaction it asked for is
///   answered NONE with the stored producer id and epoch, and one against the other outcome
///   is INVALID_TXN_STATE;
/// - against a prepared transaction only a retry is a valid epoch (CONCURRENT_TRANSACTIONS
///   for the same outcome, INVALID_TXN_STATE for the other), the stored epoch is fenced;
/// - against Empty or a completed transaction the stored epoch is the producer's next
///   request: an abort is written (a client unsure whether a transaction is open may always
///   abort, KIP-890), a commit is INVALID_TXN_STATE;
/// - against an open transaction or Empty only the stored epoch is valid (a retry's epoch
///   against Empty is fenced).
///
/// A pending transition is checked first (CONCURRENT_TRANSACTIONS), before the producer id:
/// the producer may already use the new producer id of an overflow whose completion is only
/// pending. Then the producer id (INVALID_PRODUCER_ID_MAPPING, unless a retry over an
/// overflow), then the epoch (PRODUCER_FENCED), then the state.
///
/// A write bumps the epoch (`prepareAbortOrCommit`) and, when the epoch is exhausted, takes a
/// new producer id from `new_producer_id` (`ProducerIdManager.generateProducerId`; Kafka
/// answers its failure as an error, the model's allocator cannot fail) that the completion
/// moves to at epoch 0. The coordinator's abort after a fence takes the fence's pending
/// place and is bumped once, from the epoch before the fence, with no new producer id.
#[allow(clippy::too_many_arguments)]
pub fn prepare_end_transaction(
    m: &mut TransactionMetadata,
    producer_id: i64,
    producer_epoch: i16,
    result: TransactionResult,
    is_from_client: bool,
    client_transaction_version: TransactionVersion,
    now_ms: u64,
    new_producer_id: impl FnOnce() -> i64,
) -> Result<EndTxnDecision, IllegalTransition> {
    if !client_transaction_version.supports_epoch_bump() {
        return end_transaction_with_tv1(
            m,
            producer_id,
            producer_epoch,
            result,
            is_from_client,
            now_ms,
        );
    }
    // PrepareEpochFence can only be pending over Ongoing; its abort is bumped its own way.
    let is_epoch_fence = m.pending_state == Some(TransactionState::PrepareEpochFence);
    let retry_on_overflow = !is_epoch_fence
        && m.previous_producer_id == producer_id
        && producer_epoch == i16::MAX - 1
        && m.producer_epoch == 0;
    // Scala widens `producerEpoch + 1` to an Int: no wrap at Short.MaxValue.
    let retry_on_epoch_bump =
        !is_epoch_fence && i32::from(m.producer_epoch) == i32::from(producer_epoch) + 1;
    let is_valid_epoch = if is_epoch_fence {
        (!is_from_client || producer_epoch == m.producer_epoch)
            && producer_epoch >= m.producer_epoch
    } else {
        match m.state {
            TransactionState::Ongoing
            | TransactionState::Empty
            | TransactionState::Dead
            | TransactionState::PrepareEpochFence => producer_epoch == m.producer_epoch,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => retry_on_epoch_bump,
            TransactionState::CompleteCommit | TransactionState::CompleteAbort => {
                retry_on_epoch_bump || retry_on_overflow || producer_epoch == m.producer_epoch
            }
        }
    };
    let is_retry = retry_on_epoch_bump || retry_on_overflow;

    if m.pending_transition_in_progress() && !is_epoch_fence {
        return Ok(respond(ErrorCode::ConcurrentTransactions));
    }
    if m.producer_id != producer_id && !retry_on_overflow {
        return Ok(respond(ErrorCode::InvalidProducerIdMapping));
    }
    if !is_valid_epoch {
        return Ok(respond(ErrorCode::ProducerFenced));
    }
    // `endTransaction`'s `generateTxnTransitMetadataForTxnCompletion`.
    let prepare = |m: &mut TransactionMetadata, next_state, no_partition_added| {
        let next_producer_id = if !is_epoch_fence && m.is_producer_epoch_exhausted() {
            new_producer_id()
        } else {
            NO_PRODUCER_ID
        };
        if next_state == TransactionState::PrepareAbort && is_epoch_fence {
            // The abort takes the fence's place; `prepareAbortOrCommit` bumps the epoch
            // once, from the epoch before the fence (the fenced epoch is never set).
            m.pending_state = None;
        }
        m.prepare_abort_or_commit(
            next_state,
            client_transaction_version,
            next_producer_id,
            now_ms,
            no_partition_added,
        )
        .map(EndTxnDecision::Write)
    };
    let done = EndTxnDecision::Respond(EndTxnAnswer {
        error: ErrorCode::None,
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
    });
    let invalid = || Ok(respond(ErrorCode::InvalidTxnState));
    use TransactionResult::*;
    use TransactionState::*;
    match (m.state, result) {
        (Ongoing, Commit) => prepare(m, PrepareCommit, false),
        (Ongoing, Abort) => prepare(m, PrepareAbort, false),
        (CompleteCommit, Commit) | (CompleteAbort, Abort) if is_retry => Ok(done),
        (CompleteCommit, Commit) => invalid(),
        (CompleteCommit, Abort) if is_retry => invalid(),
        (CompleteCommit | CompleteAbort | Empty, Abort) => prepare(m, PrepareAbort, true),
        (CompleteAbort | Empty, Commit) => invalid(),
        (PrepareCommit, Commit) | (PrepareAbort, Abort) => {
            Ok(respond(ErrorCode::ConcurrentTransactions))
        }
        (PrepareCommit, Abort) | (PrepareAbort, Commit) => invalid(),
        (Dead | PrepareEpochFence, _) => Err(settled_state_error(m)),
    }
}

/// Kafka 4.0.2's `TransactionCoordinator.endTransactionWithTV1`, EndTxn under transaction
/// version 0 or 1: the epoch never moves at a transaction's end, so a client's request must
/// carry the stored epoch (the coordinator's own abort after a fence carries the fenced one,
/// which is higher). The producer id is checked first, then the epoch, then a pending
/// transition other than the fence. Its NONE names no producer id or epoch, and what it
/// writes is version 0 whatever the request's version.
fn end_transaction_with_tv1(
    m: &mut TransactionMetadata,
    producer_id: i64,
    producer_epoch: i16,
    result: TransactionResult,
    is_from_client: bool,
    now_ms: u64,
) -> Result<EndTxnDecision, IllegalTransition> {
    let is_epoch_fence = m.pending_state == Some(TransactionState::PrepareEpochFence);
    if m.producer_id != producer_id {
        return Ok(respond(ErrorCode::InvalidProducerIdMapping));
    }
    if (is_from_client && producer_epoch != m.producer_epoch) || producer_epoch < m.producer_epoch {
        return Ok(respond(ErrorCode::ProducerFenced));
    }
    if m.pending_transition_in_progress() && !is_epoch_fence {
        return Ok(respond(ErrorCode::ConcurrentTransactions));
    }
    use TransactionResult::*;
    use TransactionState::*;
    match (m.state, result) {
        (Ongoing, _) => {
            let next_state = match result {
                Commit => PrepareCommit,
                Abort => PrepareAbort,
            };
            if next_state == PrepareAbort && is_epoch_fence {
                // The abort takes the fence's place and is written at the fenced epoch, which
                // no client has seen yet.
                m.pending_state = None;
                m.producer_epoch = producer_epoch;
                m.last_producer_epoch = NO_PRODUCER_EPOCH;
            }
            let transit = m.prepare_abort_or_commit(
                next_state,
                TransactionVersion::V0,
                NO_PRODUCER_ID,
                now_ms,
                false,
            )?;
            Ok(EndTxnDecision::Write(transit))
        }
        (CompleteCommit, Commit) | (CompleteAbort, Abort) => Ok(respond(ErrorCode::None)),
        (PrepareCommit, Commit) | (PrepareAbort, Abort) => {
            Ok(respond(ErrorCode::ConcurrentTransactions))
        }
        (CompleteCommit, Abort)
        | (CompleteAbort, Commit)
        | (PrepareCommit, Abort)
        | (PrepareAbort, Commit)
        | (Empty, _) => Ok(respond(ErrorCode::InvalidTxnState)),
        (Dead | PrepareEpochFence, _) => Err(settled_state_error(m)),
    }
}

/// `TransactionStateManager.timedOutTransactions`: an open transaction, with no change
/// pending, begun more than its `transaction.timeout.ms` ago (strictly).
pub fn is_timed_out(m: &TransactionMetadata, now_ms: u64) -> bool {
    m.state == TransactionState::Ongoing
        && !m.pending_transition_in_progress()
        && m.txn_start_timestamp_ms
            .is_some_and(|start| start + m.txn_timeout_ms < now_ms)
}
