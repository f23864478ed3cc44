//! The application of a transactional producer: the loop a Kafka application writes around
//! `KafkaProducer`'s transactional calls.
//!
//! ```text
//! producer.initTransactions();
//! loop {
//!     producer.beginTransaction();
//!     for each of the next `transaction_records` records: producer.send(record);
//!     if this is an `abort_every`-th transaction: producer.abortTransaction();
//!     else producer.commitTransaction();          // flushes, then EndTxn(COMMIT)
//!     catch ProducerFencedException etc.:  producer.close(); stop
//!     catch KafkaException:                producer.abortTransaction(); go on
//! }
//! ```
//!
//! Why apart from the client: when the application learns of an error is part of what a
//! run shows. It learns of an abortable error when it next calls the producer (a `send` or
//! `commitTransaction` throws the stored error, `TransactionManager.maybeFailWithError`), or
//! at once when it is blocked in `commitTransaction`; a record whose `send` threw goes into
//! the next transaction. Every call it makes is an event, emitted where the application
//! learns its outcome.

use super::transaction_manager::TxnState;
use super::transactional::{OffsetsToCommit, TxnRequest};
use super::{Producer, ProducerTimer, TransactionWorkload};
use crate::actor::Output;
use crate::event::{AbortReason, Event};
use crate::types::*;
use std::collections::BTreeSet;

/// How the application ends its open transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Commit,
    Abort(AbortReason),
}

/// The transaction the application is in.
#[derive(Clone, Debug)]
struct OpenTransaction {
    reference: TransactionRef,
    /// Records handed to `send()` in it.
    records: u64,
    /// The partitions they went to.
    partitions: BTreeSet<TopicPartition>,
}

/// Where the application's loop stands.
#[derive(Clone, Debug)]
pub(super) struct Application {
    workload: TransactionWorkload,
    /// Transactions this instance began: the next one's number is one more.
    begun: u64,
    open: Option<OpenTransaction>,
    /// Set while the application waits in `commitTransaction()` or `abortTransaction()`.
    ending: Option<Ending>,
    /// A fatal error closed the producer.
    stopped: bool,
    /// Set for a processor's producer: its application, not the workload, ends transactions.
    host: Option<HostEnd>,
}

/// How far a processor's application is in ending its transaction: it has sent the records
/// it processed, and calls `sendOffsetsToTransaction` (which blocks until the offsets are
/// in), then `commitTransaction`.
#[derive(Clone, Debug, Default)]
pub(super) struct HostEnd {
    /// The consumer's offsets to commit with the transaction, once the batch is processed.
    offsets: Option<OffsetsToCommit>,
    /// `sendOffsetsToTransaction` was called (AddOffsetsToTxn queued).
    offsets_sent: bool,
    /// The TxnOffsetCommit answered: `sendOffsetsToTransaction` returned.
    offsets_done: bool,
}

impl Application {
    pub(super) fn new(workload: TransactionWorkload) -> Application {
        assert!(
            workload.records_per_transaction > 0,
            "a transaction holds records"
        );
        Application {
            workload,
            begun: 0,
            open: None,
            ending: None,
            stopped: false,
            host: None,
        }
    }

    /// A processor's application drives this producer (see [`HostEnd`]).
    pub(super) fn hosted(&mut self) {
        self.host = Some(HostEnd::default());
    }

    /// The processor's application has processed its batch: these offsets go in with the
    /// transaction, and then it commits.
    pub(super) fn end_batch(&mut self, offsets: OffsetsToCommit) {
        let host = self.host.as_mut().expect("a processor's producer");
        assert!(host.offsets.is_none(), "one batch at a time");
        host.offsets = Some(offsets);
    }

    /// `sendOffsetsToTransaction` returned.
    pub(super) fn offsets_sent(&mut self) {
        if let Some(host) = self.host.as_mut() {
            host.offsets_done = true;
        }
    }

    /// The number of the transaction the application has open, if one is.
    pub(super) fn open_number(&self) -> Option<u64> {
        self.open.as_ref().map(|o| o.reference.number)
    }

    pub(super) fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The application closes the producer; the transaction it was in, if any.
    pub(super) fn stop(&mut self) -> Option<TransactionRef> {
        self.stopped = true;
        self.ending = None;
        self.open.take().map(|o| o.reference)
    }

    /// Whether the application aborts this transaction of its own accord (`abort_every`).
    fn aborts(&self, number: u64) -> bool {
        let every = u64::from(self.workload.abort_every);
        every > 0 && number.is_multiple_of(every)
    }
}

impl Producer {
    /// The application makes every call it can make now, one after the other.
    pub(super) fn application_step(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) {
        while self.application_acts(now_ms, out) {}
    }

    /// One call of the application into the producer, if it can make one now; false when it
    /// waits (for a record to come due, for metadata, or in a blocking call).
    fn application_acts(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) -> bool {
        let Some(t) = self.txn.as_ref() else {
            return false;
        };
        if t.app.is_stopped() {
            return false;
        }
        let record_ready =
            !self.unassigned.is_empty() && self.metadata.partition_count(&self.topic).is_some();
        if let Some(host) = t.app.host.as_ref() {
            return self.host_acts(now_ms, record_ready, host.clone(), out);
        }
        let full = self.transaction_full();
        match t.manager.state() {
            TxnState::Ready if record_ready => self.begin_transaction(out),
            TxnState::InTransaction if full => self.end_transaction(),
            TxnState::InTransaction if record_ready => self.send_in_transaction(now_ms, out),
            TxnState::AbortableError
                if record_ready || full || t.app.ending == Some(Ending::Commit) =>
            {
                self.abort_on_stored_error()
            }
            _ => return false,
        }
        true
    }

    /// One call of a processor's application: it begins a transaction for the first record
    /// it processed, sends each, and once the batch is done hands over the consumer's
    /// offsets and commits; the producer's stored error makes its next call throw, and it
    /// aborts (Kafka's `KafkaException` catch in a consume-transform-produce loop).
    fn host_acts(
        &mut self,
        now_ms: u64,
        record_ready: bool,
        host: HostEnd,
        out: &mut Output<ProducerTimer>,
    ) -> bool {
        let batch_done = host.offsets.is_some() && self.unassigned.is_empty();
        let t = self.txn();
        match t.manager.state() {
            TxnState::Ready if record_ready => self.begin_transaction(out),
            TxnState::InTransaction if record_ready => self.send_in_transaction(now_ms, out),
            TxnState::InTransaction if batch_done && !host.offsets_sent => {
                let offsets = host.offsets.expect("batch done");
                let t = self.txn_mut();
                t.manager
                    .send_offsets_to_transaction()
                    .expect("in a transaction without an error");
                t.enqueue(TxnRequest::AddOffsets(offsets), None);
                t.app.host.as_mut().expect("hosted").offsets_sent = true;
            }
            TxnState::InTransaction if batch_done && host.offsets_done => self.end_transaction(),
            TxnState::AbortableError
                if record_ready || host.offsets.is_some() || t.app.ending.is_some() =>
            {
                self.abort_on_stored_error()
            }
            _ => return false,
        }
        true
    }

    /// The application's next call throws the producer's stored abortable error, and it
    /// calls `abortTransaction()`.
    fn abort_on_stored_error(&mut self) {
        let error = self
            .txn()
            .manager
            .last_error()
            .expect("an error state keeps its error");
        self.abort_transaction(AbortReason::Error(error));
    }

    /// The open transaction has all its records: `transaction_records` of them, or the
    /// workload has no more.
    fn transaction_full(&self) -> bool {
        let Some(open) = self.txn.as_ref().and_then(|t| t.app.open.as_ref()) else {
            return false;
        };
        let per_transaction = u64::from(self.txn().app.workload.records_per_transaction);
        let workload_done = self.next_seq == self.records_total && self.unassigned.is_empty();
        open.records >= per_transaction || (open.records > 0 && workload_done)
    }

    /// `beginTransaction()`.
    fn begin_transaction(&mut self, out: &mut Output<ProducerTimer>) {
        let (producer_id, producer_epoch) = self.producer_id_and_epoch();
        let t = self.txn_mut();
        t.manager
            .begin_transaction()
            .expect("the application begins only when the producer is ready");
        t.app.begun += 1;
        let reference = TransactionRef {
            producer_id,
            producer_epoch,
            number: t.app.begun,
        };
        t.app.open = Some(OpenTransaction {
            reference,
            records: 0,
            partitions: BTreeSet::new(),
        });
        out.event(Event::TransactionBegun {
            producer: self.index,
            transactional_id: self.txn().transactional_id.clone(),
            transaction: reference,
        });
    }

    /// `send()` of the next record inside the transaction; its partition joins the
    /// transaction (`TransactionManager.maybeAddPartition`), and its batch waits until the
    /// coordinator added it.
    fn send_in_transaction(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) {
        let record = self.unassigned.pop_front().expect("a record is ready");
        let reference = self.open_transaction().reference;
        let partition = self.send_record(record, Some(reference), now_ms, out);
        let tp = self.tp(partition);
        let t = self.txn_mut();
        t.manager
            .maybe_add_partition(&tp)
            .expect("sent inside a transaction");
        let open = t.app.open.as_mut().expect("open");
        open.records += 1;
        open.partitions.insert(tp);
    }

    fn open_transaction(&self) -> &OpenTransaction {
        self.txn().app.open.as_ref().expect("in a transaction")
    }

    /// The transaction has its records: the application commits it, or aborts every
    /// `abort_every`-th.
    fn end_transaction(&mut self) {
        let number = self.open_transaction().reference.number;
        if self.txn().app.aborts(number) {
            self.abort_transaction(AbortReason::Application);
            return;
        }
        let t = self.txn_mut();
        t.manager
            .begin_commit()
            .expect("a transaction without an error commits");
        t.app.ending = Some(Ending::Commit);
        t.begin_end(true);
    }

    /// `abortTransaction()`: the batches not sent yet are dropped, the ones out are waited
    /// for, then EndTxn(ABORT).
    fn abort_transaction(&mut self, reason: AbortReason) {
        let t = self.txn_mut();
        t.manager
            .begin_abort()
            .expect("an open or failed transaction can be aborted");
        t.app.ending = Some(Ending::Abort(reason));
        t.begin_end(false);
    }

    /// The application's `commitTransaction()` threw the abortable error that came while it
    /// waited: it aborts.
    pub(super) fn on_commit_failed(&mut self) {
        let t = self.txn();
        if t.app.ending != Some(Ending::Commit) {
            return;
        }
        let error = t
            .manager
            .last_error()
            .expect("a failed commit has its error");
        self.abort_transaction(AbortReason::Error(error));
    }

    /// The application's `commitTransaction()` or `abortTransaction()` returned.
    /// Whether the application waits in `commitTransaction()` or `abortTransaction()`.
    pub(super) fn is_ending(&self) -> bool {
        self.txn().app.ending.is_some()
    }

    pub(super) fn on_transaction_ended(&mut self, out: &mut Output<ProducerTimer>) {
        let t = self.txn_mut();
        let ending = t.app.ending.take().expect("the application was ending it");
        let open = t.app.open.take().expect("an open transaction");
        if let Some(host) = t.app.host.as_mut() {
            // A processor's batch ends with its transaction: after an abort the application
            // drops what it had not sent yet and reads the batch again.
            *host = HostEnd::default();
            if matches!(ending, Ending::Abort(_)) {
                for record in std::mem::take(&mut self.unassigned) {
                    self.hosted_inputs.remove(&record.id.seq);
                }
            }
        }
        let (producer, transactional_id) = (self.index, self.txn().transactional_id.clone());
        let partitions: Vec<TopicPartition> = open.partitions.into_iter().collect();
        out.event(match ending {
            Ending::Commit => Event::TransactionCommitted {
                producer,
                transactional_id,
                transaction: open.reference,
                records: open.records,
                partitions,
            },
            Ending::Abort(reason) => Event::TransactionAborted {
                producer,
                transactional_id,
                transaction: open.reference,
                records: open.records,
                partitions,
                reason,
            },
        });
    }
}
