//! The producer of a consume-transform-produce application (a processor): the records it
//! sends are the ones its application made from the records its consumer polled, and the
//! application, not a workload, says when a batch is done.
//!
//! Why apart from the workload: a processor's guarantee is decided by what it does at the
//! end of a batch. Without `transactional.id` it flushes and only then lets the consumer
//! commit (`flush()`, then `commitSync()`: at least once, since a crash between the two
//! sends the batch again). With one, the consumer's positions go into the transaction
//! (`sendOffsetsToTransaction`, KIP-98 and KIP-447) and commit or abort with the output,
//! so a batch is either in the output with its offsets or in neither: exactly once.

use super::transactional::OffsetsToCommit;
use super::{Producer, ProducerTimer};
use crate::actor::Output;
use crate::clients::CorrelationIds;
use crate::types::*;

impl Producer {
    /// This producer's records come from its application (`send_processed`), not from a
    /// workload; a transactional one ends each transaction when its application says.
    pub fn hosted(mut self) -> Producer {
        self.records_total = self.next_seq;
        if let Some(t) = self.txn.as_mut() {
            t.app.hosted();
        }
        self
    }

    /// Numbers this instance's records from `seq` on: a processor started again keeps the
    /// record ids of its earlier lives distinct.
    pub fn numbering_from(mut self, seq: u64) -> Producer {
        assert_eq!(self.next_seq, self.records_total, "before any record");
        self.next_seq = seq;
        self.records_total = seq;
        self
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    /// Whether a fatal error (a fence) closed the transactional producer.
    pub fn is_closed(&self) -> bool {
        self.is_stopped()
    }

    /// Numbers its requests after `last`, so a processor can tell its producer's answers
    /// from its consumer's by correlation id alone.
    pub fn correlation_ids_after(mut self, last: u64) -> Producer {
        self.correlation_ids = CorrelationIds::after(last);
        self
    }

    /// Whether the producer has a `transactional.id`.
    pub fn is_transactional(&self) -> bool {
        self.txn.is_some()
    }

    /// `producer.send(record)` of the output record made from `input`; keyed by the input's
    /// id, so where it goes is a function of what it was made from. Returns its id.
    pub fn send_processed(
        &mut self,
        now_ms: u64,
        input: RecordId,
        out: &mut Output<ProducerTimer>,
    ) -> RecordId {
        assert!(!self.is_stopped(), "a closed producer sends nothing");
        let seq = self.next_seq;
        self.next_seq += 1;
        self.records_total += 1;
        let mut record = self.create(seq, now_ms);
        record.key = Some(input.to_string());
        let id = record.id;
        self.hosted_inputs.insert(seq, input);
        self.unassigned.push_back(record);
        self.assign(now_ms, out);
        self.drain(now_ms, out);
        id
    }

    /// The application processed its batch. A transactional producer sends `offsets` into
    /// the transaction (`sendOffsetsToTransaction`), then commits; its `TransactionCommitted`
    /// or `TransactionAborted` event says how the batch ended.
    pub fn end_processed_batch(
        &mut self,
        now_ms: u64,
        offsets: OffsetsToCommit,
        out: &mut Output<ProducerTimer>,
    ) {
        self.txn_mut().app.end_batch(offsets);
        self.application_step(now_ms, out);
        self.drain(now_ms, out);
    }

    /// `flush()` has returned: every record handed over is acknowledged or failed.
    pub fn is_flushed(&self) -> bool {
        self.unassigned.is_empty() && self.accumulator.is_empty() && self.in_flight.is_empty()
    }

    /// The TxnOffsetCommit answered NONE: `sendOffsetsToTransaction` returns.
    pub(super) fn on_offsets_sent(&mut self) {
        self.txn_mut().app.offsets_sent();
    }
}
