//! Every transactional id after the run, as `kafka-transactions.sh describe` would show it,
//! with what happened to its transactions: `run --describe-transactions` and the JSON
//! outcome's `transactions`.
//!
//! Why from the event record and not a broker's memory: the coordinator's state is what it
//! wrote to `__transaction_state` (each `TxnStateWritten`) and what a new coordinator loaded
//! (`TxnCoordinatorLoaded`), so the last of those is what the tool would read from the
//! coordinator that leads the id's partition at the end. The counts are the coordinator's
//! decisions (PrepareCommit, PrepareAbort), which include the transactions a crashed or
//! fenced instance never learned the end of, and the instances fenced (a fatal
//! PRODUCER_FENCED or INVALID_PRODUCER_EPOCH that closed a producer).

use crate::record::RecordedEvent;
use kafka_model::{BrokerId, ErrorCode, Event, TopicPartition};
use serde::Serialize;
use std::collections::BTreeMap;

/// One transactional id.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TransactionalIdOut {
    pub transactional_id: String,
    /// The broker that last wrote or loaded the id's state.
    pub coordinator: Option<BrokerId>,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Kafka's `TransactionState` name: Empty, Ongoing, PrepareCommit, CompleteCommit, ...
    pub state: String,
    /// The partitions of the open transaction (empty unless one is open).
    pub partitions: Vec<TopicPartition>,
    /// Transactions the coordinator decided to commit.
    pub committed: u64,
    /// Transactions the coordinator decided to abort (the application's aborts, timeouts,
    /// and the open transactions of fenced instances).
    pub aborted: u64,
    /// Producer instances a newer one fenced, which closed with a fatal error.
    pub fenced_instances: u64,
}

/// The id's entry, made on first sight.
fn entry<'a>(
    ids: &'a mut BTreeMap<String, TransactionalIdOut>,
    id: &str,
) -> &'a mut TransactionalIdOut {
    ids.entry(id.to_string())
        .or_insert_with(|| TransactionalIdOut {
            transactional_id: id.to_string(),
            producer_id: -1,
            producer_epoch: -1,
            ..TransactionalIdOut::default()
        })
}

/// Every transactional id that the record names, by id.
pub fn summarize(events: &[RecordedEvent]) -> Vec<TransactionalIdOut> {
    let mut ids: BTreeMap<String, TransactionalIdOut> = BTreeMap::new();
    for e in events {
        match &e.event {
            Event::TxnStateWritten {
                broker,
                transactional_id,
                producer_id,
                producer_epoch,
                to,
                partitions,
                ..
            } => {
                let out = entry(&mut ids, transactional_id);
                out.coordinator = Some(*broker);
                out.producer_id = *producer_id;
                out.producer_epoch = *producer_epoch;
                out.state = to.clone();
                out.partitions = match to.as_str() {
                    "Ongoing" | "PrepareCommit" | "PrepareAbort" => partitions.clone(),
                    _ => Vec::new(),
                };
                out.committed += u64::from(to == "PrepareCommit");
                out.aborted += u64::from(to == "PrepareAbort");
            }
            Event::TxnCoordinatorLoaded {
                broker,
                transactions,
                ..
            } => {
                for (id, state) in transactions {
                    let out = entry(&mut ids, id);
                    out.coordinator = Some(*broker);
                    out.state = state.clone();
                }
            }
            Event::TransactionalProducerFailed {
                transactional_id,
                error: ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch,
                ..
            } => entry(&mut ids, transactional_id).fenced_instances += 1,
            _ => {}
        }
    }
    ids.into_values().collect()
}

/// The table `run --describe-transactions` prints.
pub fn describe_table(ids: &[TransactionalIdOut]) -> String {
    let mut rows = vec![[
        "TransactionalId".to_string(),
        "Coordinator".to_string(),
        "ProducerId".to_string(),
        "ProducerEpoch".to_string(),
        "TransactionState".to_string(),
        "TopicPartitions".to_string(),
        "Committed".to_string(),
        "Aborted".to_string(),
        "FencedInstances".to_string(),
    ]];
    for t in ids {
        let partitions: Vec<String> = t.partitions.iter().map(|tp| tp.to_string()).collect();
        rows.push([
            t.transactional_id.clone(),
            t.coordinator.map_or("-".to_string(), |b| b.to_string()),
            t.producer_id.to_string(),
            t.producer_epoch.to_string(),
            t.state.clone(),
            match partitions.is_empty() {
                true => "-".to_string(),
                false => partitions.join(","),
            },
            t.committed.to_string(),
            t.aborted.to_string(),
            t.fenced_instances.to_string(),
        ]);
    }
    crate::check::groups::aligned_columns(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at_ms: u64, event: Event) -> RecordedEvent {
        RecordedEvent { at_ms, event }
    }

    fn written(broker: BrokerId, epoch: i16, to: &str) -> RecordedEvent {
        at(
            1,
            Event::TxnStateWritten {
                broker,
                transactional_id: "tx-1".into(),
                producer_id: 7,
                producer_epoch: epoch,
                from: String::new(),
                to: to.into(),
                partitions: vec![TopicPartition::new("orders", 0)],
                end_txn_for: None,
            },
        )
    }

    #[test]
    fn the_last_state_and_the_decisions_are_summed() {
        let events = vec![
            written(0, 0, "Ongoing"),
            written(0, 0, "PrepareCommit"),
            written(0, 0, "CompleteCommit"),
            written(0, 0, "Ongoing"),
            written(0, 1, "PrepareAbort"),
            written(0, 1, "CompleteAbort"),
            at(
                2,
                Event::TransactionalProducerFailed {
                    producer: 0,
                    transactional_id: "tx-1".into(),
                    producer_id: 7,
                    producer_epoch: 0,
                    transaction: None,
                    error: ErrorCode::ProducerFenced,
                },
            ),
            at(
                3,
                Event::TxnCoordinatorLoaded {
                    broker: 2,
                    partition: 0,
                    coordinator_epoch: 1,
                    transactions: vec![("tx-1".into(), "CompleteAbort".into())],
                },
            ),
        ];
        let ids = summarize(&events);
        assert_eq!(ids.len(), 1);
        let t = &ids[0];
        assert_eq!(t.coordinator, Some(2), "the broker that loaded it last");
        assert_eq!((t.producer_id, t.producer_epoch), (7, 1));
        assert_eq!(t.state, "CompleteAbort");
        assert!(t.partitions.is_empty());
        assert_eq!((t.committed, t.aborted, t.fenced_instances), (1, 1, 1));
        let table = describe_table(&ids);
        assert!(table.starts_with("TransactionalId"), "{table}");
        assert!(table.contains("tx-1"), "{table}");
    }

    #[test]
    fn no_transactions_no_rows() {
        assert!(summarize(&[]).is_empty());
    }
}
