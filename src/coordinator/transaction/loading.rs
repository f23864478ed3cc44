//! A new coordinator reads its `__transaction_state` partition before it answers
//! (`TransactionStateManager.loadTransactionsForTxnTopicPartition` and
//! `loadTransactionMetadata`).
//!
//! Why loading decides anything: the previous coordinator may have died between writing a
//! PrepareCommit or PrepareAbort and writing its Complete record, that is while its markers
//! were on their way. The decision is already durable, so the new coordinator finishes it:
//! every id it loads in a Prepare state has its markers sent again and is then completed.
//! An id in Ongoing is left alone: its producer carries on, or the timeout aborts it.

use super::decisions::TransactionResult;
use super::log::{read_key, read_value};
use super::metadata::{TransactionMetadata, TransactionState};
use crate::types::Record;
use std::collections::BTreeMap;

/// What a coordinator knows after loading one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadedPartition {
    /// Every transactional id of the partition with its newest state.
    pub transactions: BTreeMap<String, TransactionMetadata>,
    /// The ids whose markers must be written again, and which way
    /// (`transactionsPendingForCompletion`), in id order.
    pub pending_completion: Vec<(String, TransactionResult)>,
}

/// Reads a partition's records from its start to its log end, as Kafka does
/// (`FetchIsolation.LOG_END`: the new leader's whole log is the truth once it leads): the
/// newest value of each id wins, and a tombstone removes the id. A record that is not a
/// transaction record is a bug in the writer (Kafka throws on an unknown version).
pub fn load_partition<'a>(records: impl IntoIterator<Item = &'a Record>) -> LoadedPartition {
    let mut transactions: BTreeMap<String, TransactionMetadata> = BTreeMap::new();
    for r in records {
        let key = r.key.as_deref().expect("a transaction record has a key");
        let id = read_key(key).expect("a __transaction_state key names an id");
        match &r.value {
            None => {
                transactions.remove(id);
            }
            Some(value) => {
                let m = read_value(id, value).expect("a __transaction_state value is readable");
                transactions.insert(id.to_string(), m);
            }
        }
    }
    let pending_completion = transactions
        .iter()
        .filter_map(|(id, m)| match m.state {
            TransactionState::PrepareCommit => Some((id.clone(), TransactionResult::Commit)),
            TransactionState::PrepareAbort => Some((id.clone(), TransactionResult::Abort)),
            _ => None,
        })
        .collect();
    LoadedPartition {
        transactions,
        pending_completion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::transaction::log::{key, value};
    use crate::coordinator::transaction::{TransactionVersion, TxnTransitMetadata};

    fn record(offset: u64, id: &str, state: Option<TransactionState>) -> Record {
        let value = state.map(|state| {
            value(&TxnTransitMetadata {
                producer_id: 5,
                prev_producer_id: -1,
                next_producer_id: -1,
                producer_epoch: offset as i16,
                last_producer_epoch: -1,
                txn_timeout_ms: 60_000,
                state,
                topic_partitions: Default::default(),
                txn_start_timestamp_ms: None,
                txn_last_update_timestamp_ms: offset,
                client_transaction_version: TransactionVersion::V0,
            })
        });
        Record::by_hand(offset, Some(key(id)), value, offset, None)
    }

    /// After `TransactionStateManagerTest.testLoadAndRemoveTransactionsForPartition` and
    /// `testSuccessfulReimmigration`: the newest value wins, a tombstone removes, and a
    /// decided transaction is completed by the loader.
    #[test]
    fn the_newest_state_wins_and_decided_transactions_are_completed_again() {
        use TransactionState::*;
        let log = [
            record(0, "a", Some(Empty)),
            record(1, "b", Some(Empty)),
            record(2, "a", Some(CompleteCommit)),
            record(3, "c", Some(Empty)),
            record(4, "b", Some(PrepareAbort)),
            record(5, "c", None),
            record(6, "d", Some(PrepareCommit)),
        ];
        let loaded = load_partition(&log);
        let states: Vec<(&str, TransactionState, i16)> = loaded
            .transactions
            .iter()
            .map(|(id, m)| (id.as_str(), m.state, m.producer_epoch))
            .collect();
        assert_eq!(
            states,
            vec![
                ("a", CompleteCommit, 2),
                ("b", PrepareAbort, 4),
                ("d", PrepareCommit, 6)
            ]
        );
        assert_eq!(
            loaded.pending_completion,
            vec![
                ("b".to_string(), TransactionResult::Abort),
                ("d".to_string(), TransactionResult::Commit)
            ]
        );
    }
}
