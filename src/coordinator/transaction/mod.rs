//! The transaction coordinator (Kafka's `kafka.coordinator.transaction`): the broker that
//! leads a transactional id's `__transaction_state` partition keeps that id's state and
//! drives its transactions to commit or abort.
//!
//! Built as the rest of the model is, a state machine without I/O. This module holds the
//! per-id state and its transitions ([`TransactionMetadata`]) and what the coordinator
//! decides for InitProducerId, AddPartitionsToTxn, EndTxn and timed-out transactions before
//! it writes ([`prepare_init_producer_id`] and its siblings). The hosting in a broker, the
//! `__transaction_state` topic, the markers and the clients build on these.

mod decisions;
#[cfg(test)]
mod decisions_tests;
mod metadata;
#[cfg(test)]
mod metadata_tests;

pub use decisions::{
    is_timed_out, prepare_add_partitions, prepare_end_transaction, prepare_init_producer_id,
    Decision, EndTxnAnswer, EndTxnDecision, ProducerIdAndEpoch, TransactionResult,
};
pub use metadata::{
    is_epoch_exhausted, IllegalTransition, TransactionMetadata, TransactionState,
    TransactionVersion, TxnTransitMetadata, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};
