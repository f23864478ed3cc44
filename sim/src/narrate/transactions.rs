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
        Event::TxnRequestTimedOut {
            producer,
            transactional_id,
            broker,
            api,
            transaction,
        } => Some((
            format!("txn-request-timed-out {producer} {api}"),
            format!(
                "{} hears nothing from broker {broker} within request.timeout.ms on its {api} for transactional id {transactional_id}{}: it closes the connection and sends the request again on a new one; the first may still arrive",
                names.node(NodeId::Producer(*producer)),
                transaction.map_or(String::new(), |n| format!(" (transaction {n})"))
            ),
        )),
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

/// Per transactional id, the transaction its application has open, so a coordinator's
/// decision on a late EndTxn can be told for what it is: on transaction version 1 an EndTxn
/// names no transaction, and one that arrives after its own retry ends whatever transaction
/// is open under the same producer id and epoch (KAFKA-17754).
///
/// Transaction numbers count one producer instance's transactions, so the comparison is
/// made only for an id one producer uses: with a fork, a request's number and the open one
/// may belong to different instances.
#[derive(Default)]
pub(super) struct OpenTransactions {
    open: std::collections::BTreeMap<String, u64>,
    producers: std::collections::BTreeMap<String, std::collections::BTreeSet<u32>>,
}

impl OpenTransactions {
    /// Follows the event, and returns the line of a decision taken on an EndTxn the
    /// application sent for an earlier transaction, or of an EndTxn refused for its epoch.
    /// Such a line is told even where routine commits are gathered.
    pub(super) fn apply(&mut self, event: &Event) -> Option<Line> {
        match event {
            Event::TransactionBegun {
                producer,
                transactional_id,
                transaction,
            } => {
                self.open
                    .insert(transactional_id.clone(), transaction.number);
                self.producers
                    .entry(transactional_id.clone())
                    .or_default()
                    .insert(*producer);
                None
            }
            Event::TxnStateWritten {
                broker,
                transactional_id: id,
                producer_id,
                producer_epoch,
                to,
                partitions,
                end_txn_for: Some(sent_for),
                ..
            } => {
                let open = self.open_alone(id)?;
                if open == *sent_for {
                    return None;
                }
                let (verb, fate, marker) = match to.as_str() {
                    "PrepareCommit" => ("COMMIT", "committed", "COMMIT"),
                    _ => ("ABORT", "aborted", "ABORT"),
                };
                Some((
                    format!("late-end-txn {id} {sent_for}"),
                    format!(
                        "coordinator {broker}: {id} (producer id {producer_id}, epoch {producer_epoch}) decides to {verb} on an EndTxn the producer sent for transaction {sent_for}, which has ended; transaction {open} is open under the same producer id and epoch, and the request does not say which transaction it ends, so what transaction {open} wrote so far is {fate} now, without its application asking; {marker} markers go to {}",
                        partition_list(&partitions.iter().collect::<Vec<_>>())
                    ),
                ))
            }
            Event::EndTxnRefused {
                broker,
                transactional_id: id,
                producer_epoch,
                current_epoch,
                error,
                end_txn_for,
                ..
            } => {
                let sent = match (end_txn_for, self.open_alone(id)) {
                    (Some(n), Some(open)) if *n != open => format!(
                        " It was sent for transaction {n}, which has ended: it cannot end transaction {open}."
                    ),
                    (Some(n), _) => format!(" It was sent for transaction {n}."),
                    _ => String::new(),
                };
                Some((
                    format!("end-txn-refused {id} {producer_epoch}"),
                    format!(
                        "coordinator {broker} refuses an EndTxn of {id} at epoch {producer_epoch} with {}: the id is at epoch {current_epoch} now.{sent}",
                        error.name()
                    ),
                ))
            }
            _ => None,
        }
    }

    /// The transaction open under `id`, when one producer alone has used the id.
    fn open_alone(&self, id: &str) -> Option<u64> {
        let one = self.producers.get(id).is_some_and(|p| p.len() == 1);
        one.then(|| self.open.get(id).copied()).flatten()
    }
}
