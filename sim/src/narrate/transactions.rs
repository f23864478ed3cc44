//! A transactional producer in plain words: the producer id and epoch `initTransactions()`
//! got (or a bump after an abort), each commit and abort as the application learned it, and
//! a fatal error that closed the producer. `beginTransaction()` is routine: the commit or
//! abort line names the transaction. Commits (or aborts) of one producer in a row fold into
//! one line with a count.

use super::{partition_list, Line, Names};
use kafka_model::event::AbortReason;
use kafka_model::{ErrorCode, Event, NodeId, TopicPartition, TransactionRef};

/// The transactional producer's events; `None` for a transaction begun.
pub(super) fn transaction_line(event: &Event, names: &Names) -> Option<Line> {
    match event {
        Event::TransactionsInitialized { .. } => Some(initialized_line(event, names)),
        Event::TransactionBegun { .. } => None,
        Event::TransactionCommitted {
            producer,
            transactional_id,
            transaction,
            records,
            partitions,
        } => Some((
            format!("txn-committed {producer}"),
            format!(
                "{} commits transaction {} of transactional id {transactional_id}: the coordinator acknowledged the commit, so its {records} record(s){} are to be read by read_committed consumers ({})",
                names.node(NodeId::Producer(*producer)),
                transaction.number,
                to_partitions(partitions),
                id_and_epoch(transaction)
            ),
        )),
        Event::TransactionAborted {
            producer,
            transactional_id,
            transaction,
            records,
            partitions,
            reason,
        } => {
            let why = match reason {
                AbortReason::Application => "as the application chose (abort_every)".to_string(),
                AbortReason::Error(error) => format!("after {error}{}", abortable_why(*error)),
            };
            Some((
                format!("txn-aborted {producer} {reason:?}"),
                format!(
                    "{} has aborted transaction {} of transactional id {transactional_id} {why}: none of its {records} record(s){} may be read by read_committed consumers ({})",
                    names.node(NodeId::Producer(*producer)),
                    transaction.number,
                    to_partitions(partitions),
                    id_and_epoch(transaction)
                ),
            ))
        }
        Event::TransactionalProducerFailed {
            producer,
            transactional_id,
            producer_id,
            producer_epoch,
            transaction,
            error,
        } => {
            let text = format!(
                "{} (transactional id {transactional_id}, producer id {producer_id}, epoch {producer_epoch}) hits a fatal {error}{}{}: the application closes it, and it sends nothing more",
                names.node(NodeId::Producer(*producer)),
                fatal_why(*error),
                transaction.map_or(String::new(), |t| format!(
                    " in transaction {}",
                    t.number
                )),
            );
            Some((text.clone(), text))
        }
        _ => unreachable!("{} is not narrated here", event.kind()),
    }
}

fn initialized_line(event: &Event, names: &Names) -> Line {
    let Event::TransactionsInitialized {
        producer,
        transactional_id,
        producer_id,
        producer_epoch,
        epoch_bump,
    } = event
    else {
        unreachable!("{} is not narrated here", event.kind());
    };
    let who = names.node(NodeId::Producer(*producer));
    let text = if *epoch_bump {
        format!(
            "{who} has its epoch bumped to {producer_epoch} (producer id {producer_id}) by the coordinator of {transactional_id}, after a transaction whose sequence numbers it could no longer trust (KIP-360)"
        )
    } else if *producer_epoch > 0 {
        format!(
            "{who} initialises transactions for transactional id {transactional_id}: producer id {producer_id}, epoch {producer_epoch}; an older instance with this id and a lower epoch is fenced"
        )
    } else {
        format!(
            "{who} initialises transactions for transactional id {transactional_id}: producer id {producer_id}, epoch {producer_epoch}"
        )
    };
    (text.clone(), text)
}

/// " to orders-0, orders-1", or nothing when no record was sent.
fn to_partitions(partitions: &[TopicPartition]) -> String {
    if partitions.is_empty() {
        return String::new();
    }
    let refs: Vec<&TopicPartition> = partitions.iter().collect();
    format!(" to {}", partition_list(&refs))
}

fn id_and_epoch(t: &TransactionRef) -> String {
    format!("producer id {}, epoch {}", t.producer_id, t.producer_epoch)
}

/// Why an abortable error came, where it needs saying.
fn abortable_why(error: ErrorCode) -> &'static str {
    match error {
        ErrorCode::DeliveryTimeout => " (a batch ran out of delivery.timeout.ms)",
        ErrorCode::InvalidProducerEpoch => {
            " (a partition leader has a newer epoch for the producer id: it may be fenced)"
        }
        _ => "",
    }
}

/// Why a fatal error came, where it needs saying.
fn fatal_why(error: ErrorCode) -> &'static str {
    match error {
        ErrorCode::ProducerFenced => {
            " (a newer instance of the transactional id has a higher epoch, or the coordinator fenced this one)"
        }
        _ => "",
    }
}
