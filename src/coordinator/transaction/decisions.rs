//! What the transaction coordinator decides for a request before anything is written
//! (Kafka's `TransactionCoordinator.prepareInitProducerIdTransit`, the checks of
//! `handleAddPartitionsToTransaction`, the pre-append part of `endTransaction`, and
//! `abortTimedOutTransactions` with `TransactionStateManager.timedOutTransactions`).
//!
//! AddPartitionsToTxn follows Kafka 4.0. EndTxn under transaction version 2 follows the
//! line before 4.0's release: 4.0's `endTransaction` also aborts from Empty or a completed
//! transaction (which [`TransactionMetadata`] already allows), accepts the stored epoch
//! against a completed one, and checks a pending transition before the producer id; only
//! its fence of an open transaction is 4.0's here.
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
/// the client continues with (Kafka answers those only with NONE).
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

/// The pre-append part of `endTransaction`: EndTxn from the client (`is_from_client`), or
/// the coordinator's own abort after a fence (InitProducerId over an open transaction, or
/// a timed-out transaction) at the fenced epoch.
///
/// Transaction version 1 wants the client's epoch to equal the stored one. Version 2 bumps
/// the epoch at every PrepareCommit/PrepareAbort, so a retry is recognised by its epoch
/// being one below the stored one, and a request at the stored epoch against a prepared or
/// completed transaction is a zombie's: PRODUCER_FENCED.
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
    let fencing = m.pending_state == Some(TransactionState::PrepareEpochFence);
    let tv2 = !fencing && m.client_transaction_version.supports_epoch_bump();
    let retry_on_overflow = tv2
        && m.previous_producer_id == producer_id
        && producer_epoch == i16::MAX - 1
        && m.producer_epoch == 0;
    // `endTxnEpochBumped`.
    let retry_on_epoch_bump = tv2 && i32::from(m.producer_epoch) == i32::from(producer_epoch) + 1;
    let valid_epoch = if tv2 {
        match m.state {
            TransactionState::Ongoing
            | TransactionState::Empty
            | TransactionState::Dead
            | TransactionState::PrepareEpochFence => producer_epoch == m.producer_epoch,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => retry_on_epoch_bump,
            TransactionState::CompleteCommit | TransactionState::CompleteAbort => {
                retry_on_epoch_bump || retry_on_overflow
            }
        }
    } else {
        (!is_from_client || producer_epoch == m.producer_epoch)
            && producer_epoch >= m.producer_epoch
    };
    let respond = |error: ErrorCode| {
        EndTxnDecision::Respond(EndTxnAnswer {
            error,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
        })
    };
    if m.producer_id != producer_id && !retry_on_overflow {
        return Ok(respond(ErrorCode::InvalidProducerIdMapping));
    }
    if !valid_epoch {
        return Ok(respond(ErrorCode::ProducerFenced));
    }
    if m.pending_transition_in_progress() && !fencing {
        return Ok(respond(ErrorCode::ConcurrentTransactions));
    }
    let done = EndTxnDecision::Respond(EndTxnAnswer {
        error: ErrorCode::None,
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
    });
    let invalid = respond(ErrorCode::InvalidTxnState);
    use TransactionResult::*;
    use TransactionState::*;
    match (m.state, result) {
        (Ongoing, _) => {
            let next_state = match result {
                Commit => PrepareCommit,
                Abort => PrepareAbort,
            };
            let next_producer_id = if client_transaction_version.supports_epoch_bump()
                && !fencing
                && m.is_producer_epoch_exhausted()
            {
                new_producer_id()
            } else {
                NO_PRODUCER_ID
            };
            if next_state == PrepareAbort && fencing {
                // The abort takes the fence's place. Version 0 or 1 (`endTransactionWithTV1`):
                // it is written at the fenced epoch. Version 2 (Kafka 4.0's
                // `endTransaction`): `prepareAbortOrCommit` bumps the epoch itself, once,
                // from the epoch before the fence.
                m.pending_state = None;
                if !client_transaction_version.supports_epoch_bump() {
                    m.producer_epoch = producer_epoch;
                    m.last_producer_epoch = NO_PRODUCER_EPOCH;
                }
            }
            // `endTransactionWithTV1` writes version 0 whatever the request's version.
            let written_version = if client_transaction_version.supports_epoch_bump() {
                client_transaction_version
            } else {
                TransactionVersion::V0
            };
            let transit = m.prepare_abort_or_commit(
                next_state,
                written_version,
                next_producer_id,
                now_ms,
                false,
            )?;
            Ok(EndTxnDecision::Write(transit))
        }
        (CompleteCommit, Commit) | (CompleteAbort, Abort) => Ok(done),
        (PrepareCommit, Commit) | (PrepareAbort, Abort) => {
            Ok(respond(ErrorCode::ConcurrentTransactions))
        }
        (CompleteCommit, Abort)
        | (CompleteAbort, Commit)
        | (PrepareCommit, Abort)
        | (PrepareAbort, Commit)
        | (Empty, _) => Ok(invalid),
        (Dead | PrepareEpochFence, _) => Err(IllegalTransition(format!(
            "{}: EndTxn found the settled state {}",
            m.transactional_id, m.state
        ))),
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
