//! Kafka's `Sender`: turns the accumulator's ready batches into produce requests and their
//! answers into outcomes.
//!
//! Why its own file: this is where a record's fate is decided (acknowledged, retried after
//! `retry.backoff.ms`, failed for good), and where `max.in.flight.requests.per.connection`
//! and `delivery.timeout.ms` are enforced, so it reads best next to nothing else.

use super::accumulator::{Batch, ReadyCheck};
use super::idempotence::SequenceError;
use super::transactional::TxnStep;
use super::{Producer, ProducerTimer};
use crate::actor::Output;
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;

/// A produce request in flight: one broker, one batch for each of its partitions.
#[derive(Clone, Debug)]
pub(super) struct InFlight {
    pub(super) broker: BrokerId,
    pub(super) batches: Vec<(u32, Batch)>,
}

impl Producer {
    fn in_flight_to(&self, broker: BrokerId) -> u32 {
        self.in_flight
            .values()
            .filter(|f| f.broker == broker)
            .count() as u32
    }

    /// Sends every ready batch it may, fails expired ones, and sets the next wake-up.
    ///
    /// Kafka's `Sender.sendProducerData`: `RecordAccumulator.ready` finds the brokers that
    /// lead a partition whose first batch is sendable (full, lingered `linger.ms`, or a retry
    /// whose `retry.backoff.ms` passed); then, for each such broker that may take another
    /// request (`max.in.flight.requests.per.connection`), `RecordAccumulator.drain` takes the
    /// first batch of every partition that broker leads, lingered or not, up to
    /// `max.request.size`, and they go out as one produce request.
    ///
    /// Kafka's sender thread loops: as long as a broker is ready and may take another
    /// request, it drains again, so batches a request had no room for go out at once.
    ///
    /// A transactional producer first sends its transactional request, if it has one, and
    /// sends no produce request while one is out (`Sender.runOnce`, which returns after
    /// `maybeSendAndPollTransactionalRequest` sent or waits for one); a batch goes out only
    /// once its partition is in the transaction (`isSendToPartitionAllowed`).
    pub(super) fn drain(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) {
        if self.is_stopped() {
            return;
        }
        self.expire_batches(now_ms, out);
        self.maybe_bump_epoch();
        if self.is_stopped() || self.txn_step(now_ms, out) == TxnStep::Busy {
            return;
        }
        let next_wake = loop {
            let check = self.ready(now_ms);
            let mut sent = false;
            for broker in check.ready {
                if self.in_flight_to(broker) >= self.config.max_in_flight_requests_per_connection {
                    continue;
                }
                let (metadata, topic, idempotence, txn) =
                    (&self.metadata, &self.topic, &self.idempotence, &self.txn);
                let batches = self.accumulator.drain(
                    broker,
                    now_ms,
                    |p| metadata.leader_of(topic, p),
                    |p, stamp| {
                        idempotence.as_ref().is_none_or(|i| i.may_drain(p, stamp))
                            && txn.as_ref().is_none_or(|t| {
                                let tp = TopicPartition::new(topic.clone(), p);
                                t.manager.is_send_to_partition_allowed(&tp)
                            })
                    },
                );
                if !batches.is_empty() {
                    self.send_request(broker, batches, out);
                    sent = true;
                }
            }
            if !sent {
                break check.next_wake_ms;
            }
        };
        if self.metadata.update_requested() {
            self.request_metadata(now_ms, out);
        }
        if let Some(t) = next_wake {
            let t = t.max(now_ms + 1);
            if self.wake_at_ms.is_none_or(|w| w <= now_ms || t < w) {
                self.wake_at_ms = Some(t);
                out.timer(t - now_ms, ProducerTimer::Wake);
            }
        }
    }

    /// Kafka's `RecordAccumulator.ready` with this producer's leaders; a sendable batch
    /// without a leader asks for metadata.
    fn ready(&mut self, now_ms: u64) -> ReadyCheck {
        let (metadata, topic) = (&self.metadata, &self.topic);
        let completing = self.txn.as_ref().is_some_and(|t| t.manager.is_completing());
        let check = self
            .accumulator
            .ready(now_ms, completing, |p| metadata.leader_of(topic, p));
        if check.unknown_leader {
            self.metadata.request_update();
        }
        check
    }

    /// `TransactionManager.bumpIdempotentEpochAndResetIdIfNeeded`, run before each drain:
    /// the epoch bump a gap asked for is made once none of the partitions it renumbers has a
    /// request in flight (their batches are all back in the queue, so they can be renumbered
    /// together).
    fn maybe_bump_epoch(&mut self) {
        let Some(idempotence) = &mut self.idempotence else {
            return;
        };
        if idempotence.is_transactional() || !idempotence.epoch_bump_wanted() {
            return;
        }
        let partitions: Vec<u32> = idempotence.partitions_to_rewrite().collect();
        let in_flight = self
            .in_flight
            .values()
            .flat_map(|f| f.batches.iter().map(|(p, _)| *p))
            .any(|p| partitions.contains(&p));
        if in_flight {
            return;
        }
        let waiting = partitions
            .iter()
            .map(|p| (*p, self.accumulator.stamped_batch_sizes(*p)))
            .collect();
        for (partition, stamps) in idempotence.bump_epoch(&waiting) {
            self.accumulator.restamp(partition, &stamps);
        }
    }

    fn send_request(
        &mut self,
        broker: BrokerId,
        mut batches: Vec<(u32, Batch)>,
        out: &mut Output<ProducerTimer>,
    ) {
        assert!(!batches.is_empty(), "a produce request carries batches");
        if let Some(idempotence) = &mut self.idempotence {
            for (partition, batch) in batches.iter_mut().filter(|(_, b)| b.stamp.is_none()) {
                batch.stamp =
                    Some(idempotence.stamp_new_batch(*partition, batch.records.len() as u32));
            }
        }
        let correlation_id = self.correlation_ids.next_id();
        out.send(
            NodeId::Broker(broker),
            Message::Produce(ProduceRequest {
                correlation_id,
                transactional_id: self.produce_transactional_id(),
                transaction_version: self.produce_transaction_version(),
                acks: self.config.acks,
                timeout_ms: self.config.request_timeout_ms,
                partitions: batches
                    .iter()
                    .map(|(partition, batch)| ProducePartition {
                        tp: self.tp(*partition),
                        records: batch.records.clone(),
                        producer: batch.stamp,
                    })
                    .collect(),
            }),
        );
        if self.config.acks == Acks::None {
            // Fire and forget: no response will come.
            self.sent_unacked += batches
                .iter()
                .map(|(_, b)| b.records.len() as u64)
                .sum::<u64>();
            return;
        }
        out.timer(
            self.config.request_timeout_ms,
            ProducerTimer::RequestTimeout { correlation_id },
        );
        self.in_flight
            .insert(correlation_id, InFlight { broker, batches });
    }

    fn expire_batches(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) {
        for (partition, batch) in self.accumulator.expire(now_ms) {
            self.fail(partition, batch, ErrorCode::DeliveryTimeout, out);
        }
    }

    /// The producer gives up on a batch (`Sender.failBatch`); a transactional producer's
    /// transaction must then be aborted (`TransactionManager.handleFailedBatch`).
    fn fail(
        &mut self,
        partition: u32,
        batch: Batch,
        error: ErrorCode,
        out: &mut Output<ProducerTimer>,
    ) {
        self.report_failed(partition, batch, error, out);
        self.txn_batch_failed(error, out);
    }

    /// A batch's records failed: counted, and its sequences resolved.
    pub(super) fn report_failed(
        &mut self,
        partition: u32,
        batch: Batch,
        error: ErrorCode,
        out: &mut Output<ProducerTimer>,
    ) {
        self.failed += batch.records.len() as u64;
        if let (Some(idempotence), Some(stamp)) = (&mut self.idempotence, &batch.stamp) {
            idempotence.on_failed(partition, stamp);
        }
        out.event(Event::ProduceFailed {
            producer: self.index,
            tp: self.tp(partition),
            error,
            ids: batch.records.iter().map(|r| r.id).collect(),
            transaction: batch.transaction,
        });
    }

    /// Every batch of a request that never came back (a timeout, a reset connection).
    pub(super) fn on_request_error(
        &mut self,
        now_ms: u64,
        flight: InFlight,
        error: ErrorCode,
        out: &mut Output<ProducerTimer>,
    ) {
        for (partition, batch) in flight.batches {
            self.on_error(now_ms, partition, batch, error, out);
        }
    }

    /// A batch came back with an error (or never came back): retry or give up.
    fn on_error(
        &mut self,
        now_ms: u64,
        partition: u32,
        mut batch: Batch,
        error: ErrorCode,
        out: &mut Output<ProducerTimer>,
    ) {
        let expired = batch.created_ms + self.config.delivery_timeout_ms <= now_ms;
        // `TransactionManager.canRetry`: the idempotent producer retries a sequence error,
        // after an epoch bump when it is a real gap; a transactional producer retries only a
        // batch behind an earlier failed one, and lets a real gap fail the batch (its
        // transaction is aborted and the epoch bumped through the coordinator).
        let sequence_error = matches!(
            error,
            ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId
        );
        let retriable = match (&mut self.idempotence, &batch.stamp) {
            (Some(idempotence), Some(stamp)) if sequence_error => {
                let verdict = idempotence.on_sequence_error(partition, stamp, error);
                !idempotence.is_transactional() || verdict == SequenceError::Retry
            }
            _ => error.is_retriable(),
        };
        if !retriable || batch.attempts as u64 >= self.config.retries || expired {
            let error = if expired {
                ErrorCode::DeliveryTimeout
            } else {
                error
            };
            self.fail(partition, batch, error, out);
            return;
        }
        batch.attempts += 1;
        batch.retry_after_ms = now_ms + self.config.retry_backoff_ms;
        out.event(Event::ProduceRetried {
            producer: self.index,
            tp: self.tp(partition),
            error,
            attempt: batch.attempts,
        });
        if matches!(
            error,
            ErrorCode::NotLeaderOrFollower
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::RequestTimedOut
                | ErrorCode::NetworkException
        ) {
            self.metadata.request_update();
        }
        // Back into its partition's queue in record order, ahead of newer records.
        self.accumulator.reenqueue(partition, batch);
    }

    /// The connection to `broker` closed under the producer (the broker reset it): its
    /// requests in flight fail with NETWORK_EXCEPTION and are retried (`Sender
    /// .handleProduceResponse`, `response.wasDisconnected()`).
    pub(super) fn on_disconnected(
        &mut self,
        now_ms: u64,
        broker: BrokerId,
        out: &mut Output<ProducerTimer>,
    ) {
        self.close_connection(now_ms, broker, ErrorCode::NetworkException, out);
    }

    /// A request to `broker` got no answer within `request.timeout.ms`: Kafka's
    /// `NetworkClient.handleTimedOutRequests` closes the connection to that node and
    /// `processTimeoutDisconnection` fails every request in flight on it, not only the late
    /// one, each with REQUEST_TIMED_OUT (`Sender.handleProduceResponse`,
    /// `response.wasTimedOut()`: "Disconnected from node ... due to timeout").
    pub(super) fn on_request_timeout(
        &mut self,
        now_ms: u64,
        broker: BrokerId,
        out: &mut Output<ProducerTimer>,
    ) {
        self.close_connection(now_ms, broker, ErrorCode::RequestTimedOut, out);
    }

    /// Kafka's `NetworkClient.processDisconnection`: every request in flight to `broker`
    /// fails with `error` (and is retried), a metadata update is requested and a Metadata
    /// request to it goes to the next bootstrap broker after `retry.backoff.ms`.
    pub(super) fn close_connection(
        &mut self,
        now_ms: u64,
        broker: BrokerId,
        error: ErrorCode,
        out: &mut Output<ProducerTimer>,
    ) {
        out.close_connection(NodeId::Broker(broker));
        self.txn_connection_closed(broker);
        self.fail_in_flight_to(now_ms, broker, error, out);
        self.metadata.on_disconnected(broker, out);
        self.drain(now_ms, out);
    }

    /// Every produce request in flight to `broker` fails with `error`.
    pub(super) fn fail_in_flight_to(
        &mut self,
        now_ms: u64,
        broker: BrokerId,
        error: ErrorCode,
        out: &mut Output<ProducerTimer>,
    ) {
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.broker == broker)
            .map(|(c, _)| *c)
            .collect();
        for correlation_id in lost {
            let flight = self.in_flight.remove(&correlation_id).expect("listed");
            self.on_request_error(now_ms, flight, error, out);
        }
    }

    pub(super) fn on_produce_response(
        &mut self,
        now_ms: u64,
        response: ProduceResponse,
        out: &mut Output<ProducerTimer>,
    ) {
        let ProduceResponse {
            correlation_id,
            partitions: answers,
        } = response;
        let Some(flight) = self.in_flight.remove(&correlation_id) else {
            return; // a late answer to a request that already timed out
        };
        // The broker answers each partition of the request, in the request's order.
        assert_eq!(answers.len(), flight.batches.len(), "one answer per batch");
        for ((partition, batch), answer) in flight.batches.into_iter().zip(answers) {
            assert_eq!(answer.tp.partition, partition, "answers in request order");
            let (error, base_offset) = (answer.error, answer.base_offset);
            match (error, base_offset) {
                (ErrorCode::None, Some(base_offset)) => {
                    if let (Some(idempotence), Some(stamp)) = (&mut self.idempotence, &batch.stamp)
                    {
                        idempotence.on_acknowledged(partition, stamp);
                    }
                    self.acked += batch.records.len() as u64;
                    out.event(Event::Acknowledged {
                        producer: self.index,
                        tp: self.tp(partition),
                        acks: self.config.acks,
                        base_offset,
                        ids: batch.records.iter().map(|r| r.id).collect(),
                        transaction: batch.transaction,
                    });
                }
                _ => self.on_error(now_ms, partition, batch, error, out),
            }
        }
        self.drain(now_ms, out);
    }
}
