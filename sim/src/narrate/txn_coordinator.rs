//! The transaction coordinator in plain words: which broker answers for which transactional
//! ids, each state it writes to `__transaction_state` and what that state means for the
//! transaction's records, and a transaction aborted because it ran past its timeout.
//! A partition loaded or dropped with no ids on it is routine and not told.

use super::{plain, Line};
use kafka_model::{Event, TopicPartition};

fn partitions(tps: &[TopicPartition]) -> String {
    let names: Vec<String> = tps.iter().map(|tp| tp.to_string()).collect();
    format!("[{}]", names.join(", "))
}

pub(super) fn txn_coordinator_line(event: &Event) -> Option<Line> {
    let text = match event {
        Event::TxnCoordinatorLoaded { broker, partition, coordinator_epoch, transactions } => {
            if transactions.is_empty() {
                return None;
            }
            let ids: Vec<String> = transactions
                .iter()
                .map(|(id, state)| format!("{id} ({state})"))
                .collect();
            let unfinished = transactions
                .iter()
                .any(|(_, s)| s == "PrepareCommit" || s == "PrepareAbort");
            format!(
                "broker {broker} read __transaction_state-{partition} (coordinator epoch {coordinator_epoch}) and now coordinates {}{}",
                ids.join(", "),
                if unfinished {
                    "; a decision the previous coordinator wrote but did not complete is finished here: its markers are sent again"
                } else {
                    ""
                }
            )
        }
        Event::TxnCoordinatorUnloaded { broker, partition, transactional_ids } => {
            if transactional_ids.is_empty() {
                return None;
            }
            format!(
                "broker {broker} no longer leads __transaction_state-{partition}: it stops coordinating {} (NOT_COORDINATOR from now on)",
                transactional_ids.join(", ")
            )
        }
        Event::TxnStateWritten { broker, transactional_id: id, producer_id, producer_epoch, from, to, partitions: tps, .. } => {
            let who = format!("coordinator {broker}: {id} (producer id {producer_id}, epoch {producer_epoch})");
            match to.as_str() {
                "Empty" => format!(
                    "{who} is ready for transactions (InitProducerId); a producer with an older epoch of this id is fenced"
                ),
                "Ongoing" if from == "Ongoing" => format!(
                    "{who} adds partitions: its open transaction now spans {}",
                    partitions(tps)
                ),
                "Ongoing" => format!(
                    "{who} opens a transaction on {}; until it ends, the last stable offset of those partitions stays at its first record",
                    partitions(tps)
                ),
                "PrepareCommit" => format!(
                    "{who} decides to COMMIT and writes the decision to __transaction_state: the commit can no longer be undone; COMMIT markers go to {}",
                    partitions(tps)
                ),
                "PrepareAbort" => format!(
                    "{who} decides to ABORT and writes the decision to __transaction_state; ABORT markers go to {}",
                    partitions(tps)
                ),
                "CompleteCommit" => format!(
                    "{who}: every COMMIT marker is written; read_committed consumers read the transaction's records"
                ),
                "CompleteAbort" => format!(
                    "{who}: every ABORT marker is written; read_committed consumers skip the transaction's records"
                ),
                other => format!("{who} goes from {from} to {other}"),
            }
        }
        Event::TxnTimedOut { broker, transactional_id, producer_id, producer_epoch } => format!(
            "coordinator {broker}: {transactional_id}'s transaction ran past its transaction.timeout.ms; the coordinator fences producer id {producer_id} at epoch {producer_epoch} and aborts it"
        ),
        _ => unreachable!("{} is not narrated here", event.kind()),
    };
    plain(text)
}
