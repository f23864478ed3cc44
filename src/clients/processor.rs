//! A consume-transform-produce application (a processor): one process with a group
//! consumer on its input topics and a producer to its output topic, as a Kafka Streams task
//! or a hand-written `poll`, `send`, commit loop is.
//!
//! ```text
//! producer.initTransactions();                       // with transactional.id only
//! loop {
//!     records = consumer.poll();
//!     producer.beginTransaction();                   // with transactional.id only
//!     for record in records: process it (`processing`), producer.send(output record);
//!     with transactional.id:
//!         producer.sendOffsetsToTransaction(consumer positions, consumer.groupMetadata());
//!         producer.commitTransaction();
//!         catch ProducerFencedException: close both, stop
//!         catch KafkaException: producer.abortTransaction(); seek back to the committed offsets
//!     without:
//!         producer.flush(); consumer.commitSync();
//! }
//! ```
//!
//! Why one process and not a consumer and a producer side by side: the guarantee lives in
//! the hand-over between the two. Without a transaction, a crash after the flush and before
//! the commit writes the batch's output twice (at least once). With one, the offsets commit
//! in the same transaction as the output, so a read_committed reader sees each input's
//! output once (exactly once). The two clients stay the model's own `Consumer` and
//! `Producer`; this file only routes their messages and timers and plays the application
//! between them.
//!
//! Simplified: the two clients share the process's links to the brokers. In Kafka each has
//! connections of its own; here, when one closes its connection to a broker (a request
//! timed out), the other's next message there goes on the new connection too, and may pass
//! what it sent on the old one.

use crate::actor::{Actor, Output};
use crate::clients::consumer::{Consumer, ConsumerTimer};
use crate::clients::producer::{OffsetsToCommit, Producer, ProducerTimer};
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;

/// The producer's correlation ids start above this, the consumer's below: an answer both
/// could be waiting for (Metadata, FindCoordinator) goes to the client that asked.
pub const PRODUCER_CORRELATION_BASE: u64 = 1 << 40;

/// A call of the application into its consumer or producer. Boxed: the calls nest (a
/// processed record is sent, a commit resumes the consumer), which generic closures cannot.
type ConsumerCall<'a> = Box<dyn FnOnce(&mut Consumer, &mut Output<ConsumerTimer>) + 'a>;
type ProducerCall<'a> = Box<dyn FnOnce(&mut Producer, &mut Output<ProducerTimer>) + 'a>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessorTimer {
    Consumer(ConsumerTimer),
    Producer(ProducerTimer),
}

/// Where the application stands with the batch its consumer handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BatchEnd {
    /// Polling or processing.
    Open,
    /// At least once: waiting for `flush()` to return before `commitSync()`.
    Flushing,
    /// Exactly once: in `sendOffsetsToTransaction` and `commitTransaction`.
    Committing,
}

pub struct Processor {
    consumer: Consumer,
    producer: Producer,
    /// The consumer's index in the record (its `RecordProcessed` events).
    consumer_index: u32,
    batch: BatchEnd,
    /// A fence closed the producer: the application closed both clients and exited.
    closed: bool,
}

impl Processor {
    /// `consumer` must be a group member with the `Processor` commit mode, and `producer` a
    /// hosted one whose correlation ids start above [`PRODUCER_CORRELATION_BASE`].
    pub fn new(consumer: Consumer, producer: Producer, consumer_index: u32) -> Processor {
        Processor {
            consumer,
            producer: producer
                .hosted()
                .correlation_ids_after(PRODUCER_CORRELATION_BASE),
            consumer_index,
            batch: BatchEnd::Open,
            closed: false,
        }
    }

    /// The producer half: its counts and the ids its records took.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    fn call_consumer(
        &mut self,
        now_ms: u64,
        out: &mut Output<ProcessorTimer>,
        call: ConsumerCall<'_>,
    ) {
        let mut c = Output::default();
        call(&mut self.consumer, &mut c);
        let from = out.events.len();
        out.absorb(c, ProcessorTimer::Consumer);
        let processed: Vec<RecordId> = out.events[from..]
            .iter()
            .filter_map(|e| match e {
                Event::RecordProcessed {
                    consumer, record, ..
                } if *consumer == self.consumer_index => Some(*record),
                _ => None,
            })
            .collect();
        for input in processed {
            if self.closed {
                break;
            }
            // `producer.send(transform(record))`.
            self.call_producer(
                now_ms,
                out,
                Box::new(move |p, o| {
                    p.send_processed(now_ms, input, o);
                }),
            );
        }
        self.maybe_end_batch(now_ms, out);
    }

    fn call_producer(
        &mut self,
        now_ms: u64,
        out: &mut Output<ProcessorTimer>,
        call: ProducerCall<'_>,
    ) {
        let mut p = Output::default();
        call(&mut self.producer, &mut p);
        let from = out.events.len();
        out.absorb(p, ProcessorTimer::Producer);
        let producer = self.producer.index();
        let endings: Vec<Event> = out.events[from..]
            .iter()
            .filter(|e| match e {
                Event::TransactionCommitted { producer: p, .. }
                | Event::TransactionAborted { producer: p, .. }
                | Event::TransactionalProducerFailed { producer: p, .. } => *p == producer,
                _ => false,
            })
            .cloned()
            .collect();
        for ending in endings {
            self.on_transaction_end(now_ms, &ending, out);
        }
        if self.batch == BatchEnd::Flushing && self.producer.is_flushed() {
            // `flush()` returned: `commitSync()`.
            self.batch = BatchEnd::Open;
            self.call_consumer(
                now_ms,
                out,
                Box::new(move |c, o| c.handoff_commit(now_ms, o)),
            );
        }
    }

    /// The consumer handed over a processed batch: flush, or send the offsets and commit.
    fn maybe_end_batch(&mut self, now_ms: u64, out: &mut Output<ProcessorTimer>) {
        if self.closed || self.batch != BatchEnd::Open || !self.consumer.is_handed_off() {
            return;
        }
        if !self.producer.is_transactional() {
            self.batch = BatchEnd::Flushing;
            self.call_producer(now_ms, out, Box::new(move |_, _| {}));
            return;
        }
        let (group_id, generation_id, member_id) = self
            .consumer
            .group_metadata()
            .expect("a processor's consumer is a group member");
        let offsets = OffsetsToCommit {
            group_id,
            generation_id,
            member_id,
            offsets: self.consumer.handoff_offsets(),
        };
        self.batch = BatchEnd::Committing;
        self.call_producer(
            now_ms,
            out,
            Box::new(move |p, o| p.end_processed_batch(now_ms, offsets, o)),
        );
    }

    /// The producer's transaction ended: the consumer polls on after a commit, reads the
    /// batch again after an abort, and both close after a fence.
    fn on_transaction_end(
        &mut self,
        now_ms: u64,
        ending: &Event,
        out: &mut Output<ProcessorTimer>,
    ) {
        match ending {
            Event::TransactionCommitted { .. } => {
                assert_eq!(
                    self.batch,
                    BatchEnd::Committing,
                    "a batch commits at its end"
                );
                self.batch = BatchEnd::Open;
                self.call_consumer(
                    now_ms,
                    out,
                    Box::new(move |c, o| c.handoff_resume(now_ms, o)),
                );
            }
            Event::TransactionAborted { .. } => {
                self.batch = BatchEnd::Open;
                self.call_consumer(
                    now_ms,
                    out,
                    Box::new(move |c, o| {
                        c.abandon_batch();
                        c.handoff_rewind(now_ms, o)
                    }),
                );
            }
            _ => {
                // `ProducerFencedException`: the application closes its clients and exits.
                self.closed = true;
                self.call_consumer(now_ms, out, Box::new(move |c, o| c.close(o)));
            }
        }
    }

    /// Whose answer `message` is.
    fn is_for_producer(message: &Message) -> bool {
        match message {
            Message::MetadataResponse(r) => r.correlation_id > PRODUCER_CORRELATION_BASE,
            Message::FindCoordinatorResponse(r) => r.correlation_id > PRODUCER_CORRELATION_BASE,
            Message::ProduceResponse(_)
            | Message::InitProducerIdResponse(_)
            | Message::AddPartitionsToTxnResponse(_)
            | Message::AddOffsetsToTxnResponse(_)
            | Message::TxnOffsetCommitResponse(_)
            | Message::EndTxnResponse(_) => true,
            _ => false,
        }
    }
}

impl Actor for Processor {
    type Timer = ProcessorTimer;

    fn start(&mut self, now_ms: u64, out: &mut Output<ProcessorTimer>) {
        self.call_producer(now_ms, out, Box::new(move |p, o| p.start(now_ms, o)));
        self.call_consumer(now_ms, out, Box::new(move |c, o| c.start(now_ms, o)));
    }

    fn on_message(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<ProcessorTimer>,
    ) {
        if self.closed {
            return;
        }
        if let Message::Disconnected(_) = message {
            let copy = message.clone();
            self.call_producer(
                now_ms,
                out,
                Box::new(move |p, o| p.on_message(now_ms, from, copy, o)),
            );
            self.call_consumer(
                now_ms,
                out,
                Box::new(move |c, o| c.on_message(now_ms, from, message, o)),
            );
            return;
        }
        match Processor::is_for_producer(&message) {
            true => self.call_producer(
                now_ms,
                out,
                Box::new(move |p, o| p.on_message(now_ms, from, message, o)),
            ),
            false => self.call_consumer(
                now_ms,
                out,
                Box::new(move |c, o| c.on_message(now_ms, from, message, o)),
            ),
        }
    }

    fn on_timer(&mut self, now_ms: u64, timer: ProcessorTimer, out: &mut Output<ProcessorTimer>) {
        if self.closed {
            return;
        }
        match timer {
            ProcessorTimer::Consumer(t) => {
                self.call_consumer(now_ms, out, Box::new(move |c, o| c.on_timer(now_ms, t, o)))
            }
            ProcessorTimer::Producer(t) => {
                self.call_producer(now_ms, out, Box::new(move |p, o| p.on_timer(now_ms, t, o)))
            }
        }
    }
}
