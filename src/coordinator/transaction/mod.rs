//! The transaction coordinator (Kafka's `kafka.coordinator.transaction`): the broker that
//! leads a transactional id's `__transaction_state` partition keeps that id's state and
//! drives its transactions to commit or abort.
//!
//! Built as the rest of the model is, a state machine without I/O. This module holds the
//! per-id state and its transitions ([`TransactionMetadata`]) and what the coordinator
//! decides for InitProducerId, AddPartitionsToTxn, EndTxn and timed-out transactions before
//! it writes ([`prepare_init_producer_id`] and its siblings), the records of
//! `__transaction_state` and which partition holds an id ([`log`]), and what a new
//! coordinator reads back from its partition ([`load_partition`]). The hosting in a broker
//! and the clients build on these.

mod coordinator;
mod decisions;
#[cfg(test)]
mod decisions_tests;
mod loading;
pub mod log;
mod markers;
mod metadata;
#[cfg(test)]
mod metadata_tests;

pub use coordinator::{
    TransactionCoordinator, TxnAppend, TxnCoordinatorConfig, TxnCoordinatorOutput,
    TxnCoordinatorRequest, TxnHost, TxnTimer,
};
pub use decisions::{
    is_timed_out, prepare_add_partitions, prepare_end_transaction, prepare_init_producer_id,
    Decision, EndTxnAnswer, EndTxnDecision, ProducerIdAndEpoch, TransactionResult,
};
pub use loading::{load_partition, LoadedPartition};
pub use markers::PartitionLeader;
pub use metadata::{
    is_epoch_exhausted, IllegalTransition, TransactionMetadata, TransactionState,
    TransactionVersion, TxnTransitMetadata, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};
