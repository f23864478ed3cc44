//! Kafka's `RecordAccumulator`: the producer's batches, per partition, waiting to be sent.
//!
//! Kept apart from the producer because it is the part with the rules a reader checks against
//! Kafka: when a batch is full (`batch.size`) or old enough (`linger.ms`), which broker is
//! ready, which batches one produce request takes (`max.request.size`, the drain index that
//! keeps a cut-short request from always favouring the same partitions), and when a batch has
//! waited past `delivery.timeout.ms`. It knows nothing of requests in flight or of metadata:
//! the sender passes the leaders in and sends what it gets back.

use crate::config::ProducerConfig;
use crate::record_size::{
    batch_size_upper_bound_bytes, record_size_bytes, RECORD_BATCH_OVERHEAD_BYTES,
};
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Clone, Debug)]
pub(super) struct Batch {
    pub(super) records: Vec<ProducerRecord>,
    /// The batch as Kafka's `MemoryRecordsBuilder` estimates it: the v2 batch header and
    /// each record's `DefaultRecord.sizeInBytes`.
    pub(super) bytes: u64,
    pub(super) created_ms: u64,
    pub(super) attempts: u32,
    /// A retried batch waits until then.
    pub(super) retry_after_ms: u64,
    /// An idempotent producer's producer id, epoch and sequences, given the first time the
    /// batch is drained and kept for its retries.
    pub(super) stamp: Option<BatchStamp>,
    /// A transactional producer's transaction the batch's records were sent in.
    pub(super) transaction: Option<TransactionRef>,
}

/// A new batch holding `record`: the v2 batch header and the record at offset delta 0
/// (Kafka's `MemoryRecordsBuilder.estimatedBytesWritten` after its first append).
fn new_batch_bytes(record: &ProducerRecord) -> u64 {
    RECORD_BATCH_OVERHEAD_BYTES + record_size_bytes(0, 0, record)
}

/// The bytes `record` adds to `batch`: Kafka's `MemoryRecordsBuilder.hasRoomFor` counts its
/// `DefaultRecord.sizeInBytes` with the next offset delta and its timestamp delta from the
/// batch's first record.
fn record_bytes_in(batch: &Batch, record: &ProducerRecord) -> u64 {
    let first_ms = batch
        .records
        .first()
        .map_or(record.timestamp_ms, |r| r.timestamp_ms);
    let delta_ms = record.timestamp_ms as i64 - first_ms as i64;
    record_size_bytes(batch.records.len() as u32, delta_ms, record)
}

/// A batch's `writeLimit`: `RecordAccumulator.append` sizes its buffer at `batch.size`, or at
/// `AbstractRecords.estimateSizeInBytesUpperBound` of its first record when that is larger.
fn write_limit_bytes(batch_size: u64, batch: &Batch) -> u64 {
    let first = batch.records.first().expect("a batch holds a record");
    batch_size.max(batch_size_upper_bound_bytes(first))
}

/// What `RecordAccumulator.ready` found (Kafka's `ReadyCheckResult`).
#[derive(Clone, Debug, Default)]
pub(super) struct ReadyCheck {
    /// The brokers leading a partition whose first batch may be sent now.
    pub(super) ready: BTreeSet<BrokerId>,
    /// The earliest time another batch becomes sendable or expires.
    pub(super) next_wake_ms: Option<u64>,
    /// A sendable batch's partition has no known leader: metadata is wanted.
    pub(super) unknown_leader: bool,
}

impl ReadyCheck {
    fn wake_at(&mut self, t: u64) {
        self.next_wake_ms = Some(self.next_wake_ms.map_or(t, |w| w.min(t)));
    }
}

pub(super) struct RecordAccumulator {
    batch_size: u64,
    linger_ms: u64,
    delivery_timeout_ms: u64,
    max_request_size: u64,
    /// Batches waiting to be sent, per partition; a partition with none has no entry, so
    /// the sender's work follows the partitions with records, not the partition count.
    queues: BTreeMap<u32, VecDeque<Batch>>,
    /// Per broker, the partition the next drain starts at (Kafka's `nodesDrainIndex`), so
    /// a request cut short by `max.request.size` does not always favour the same ones.
    drain_index: BTreeMap<BrokerId, u32>,
}

impl RecordAccumulator {
    pub(super) fn new(config: &ProducerConfig) -> RecordAccumulator {
        RecordAccumulator {
            batch_size: config.batch_size,
            linger_ms: config.linger_ms,
            delivery_timeout_ms: config.delivery_timeout_ms,
            max_request_size: config.max_request_size,
            queues: BTreeMap::new(),
            drain_index: BTreeMap::new(),
        }
    }

    /// Whether `record` fits in the partition's last batch (Kafka's `tryAppend` succeeds):
    /// there is one, still open (not a retry, not drained), with room for it. When it does
    /// not, Kafka's `append` with `abortOnNewBatch` returns before opening a new batch, and
    /// a record without a key goes to a new sticky partition instead (KIP-480).
    pub(super) fn fits_last_batch(&self, partition: u32, record: &ProducerRecord) -> bool {
        let batch_size = self.batch_size;
        self.queues.get(&partition).is_some_and(|queue| {
            queue.back().is_some_and(|b| {
                b.attempts == 0
                    && b.bytes + record_bytes_in(b, record) <= write_limit_bytes(batch_size, b)
            })
        })
    }

    /// Kafka's `RecordAccumulator.append`: into the partition's last batch if it has room
    /// (and is not a retry), else into a new one. A batch holds the records of one
    /// transaction (Kafka's producer cannot begin the next before the last is flushed or its
    /// unsent batches aborted, so this only guards the rule).
    pub(super) fn append(
        &mut self,
        partition: u32,
        record: ProducerRecord,
        now_ms: u64,
        transaction: Option<TransactionRef>,
    ) {
        let fits = self.fits_last_batch(partition, &record)
            && self.queues[&partition].back().map(|b| b.transaction) == Some(transaction);
        let queue = self.queues.entry(partition).or_default();
        if fits {
            let b = queue.back_mut().expect("checked");
            b.bytes += record_bytes_in(b, &record);
            b.records.push(record);
        } else {
            queue.push_back(Batch {
                bytes: new_batch_bytes(&record),
                records: vec![record],
                created_ms: now_ms,
                attempts: 0,
                retry_after_ms: 0,
                stamp: None,
                transaction,
            });
        }
    }

    /// Kafka's `RecordAccumulator.ready`: the brokers leading a partition whose first batch
    /// may be sent now, and the earliest time another batch becomes sendable or expires.
    /// While a transaction is being committed or aborted (`transactionCompleting`) a batch
    /// does not wait for `linger.ms`.
    pub(super) fn ready(
        &self,
        now_ms: u64,
        transaction_completing: bool,
        leader_of: impl Fn(u32) -> Option<BrokerId>,
    ) -> ReadyCheck {
        let mut check = ReadyCheck::default();
        for (partition, queue) in &self.queues {
            let front = queue.front().expect("an empty queue has no entry");
            check.wake_at(front.created_ms + self.delivery_timeout_ms);
            let ready_at = match transaction_completing && front.attempts == 0 {
                true => now_ms,
                false => self.ready_at_ms(front, queue.len(), now_ms),
            };
            if ready_at > now_ms {
                check.wake_at(ready_at);
                continue;
            }
            match leader_of(*partition) {
                Some(broker) => {
                    check.ready.insert(broker);
                }
                None => check.unknown_leader = true,
            }
        }
        check
    }

    /// When a partition's first batch may be sent: a retry after its backoff, a full batch
    /// (or one with more behind it) now, else once it lingered `linger.ms`.
    fn ready_at_ms(&self, front: &Batch, queued: usize, now_ms: u64) -> u64 {
        if front.attempts > 0 {
            front.retry_after_ms
        } else if front.bytes >= self.batch_size || queued > 1 {
            now_ms
        } else {
            front.created_ms + self.linger_ms
        }
    }

    /// Kafka's `RecordAccumulator.drainBatchesForOneNode`: the first batch of each partition
    /// `broker` leads, starting where the last drain stopped, skipping retries still backing
    /// off and batches the idempotent producer holds back (`may_drain`,
    /// `shouldStopDrainBatchesForPartition`), until the next batch would pass
    /// `max.request.size` (the first always goes).
    pub(super) fn drain(
        &mut self,
        broker: BrokerId,
        now_ms: u64,
        leader_of: impl Fn(u32) -> Option<BrokerId>,
        may_drain: impl Fn(u32, Option<&BatchStamp>) -> bool,
    ) -> Vec<(u32, Batch)> {
        let led: Vec<u32> = self
            .queues
            .keys()
            .copied()
            .filter(|p| leader_of(*p) == Some(broker))
            .collect();
        assert!(
            !led.is_empty(),
            "a ready broker leads a partition with batches"
        );
        let start = self.drain_index.get(&broker).copied().unwrap_or(0);
        let first = led.iter().position(|p| *p >= start).unwrap_or(0);
        let mut batches = Vec::new();
        let mut bytes = 0;
        for i in 0..led.len() {
            let partition = led[(first + i) % led.len()];
            let queue = self.queues.get_mut(&partition).expect("listed");
            let front = queue.front().expect("an empty queue has no entry");
            if front.attempts > 0 && front.retry_after_ms > now_ms {
                continue;
            }
            if !may_drain(partition, front.stamp.as_ref()) {
                continue;
            }
            if !batches.is_empty() && bytes + front.bytes > self.max_request_size {
                break;
            }
            bytes += front.bytes;
            let batch = queue.pop_front().expect("front");
            if queue.is_empty() {
                self.queues.remove(&partition);
            }
            self.drain_index.insert(broker, partition + 1);
            batches.push((partition, batch));
        }
        batches
    }

    /// Takes out every batch older than `delivery.timeout.ms` (Kafka's
    /// `RecordAccumulator.expiredBatches`), in partition order.
    pub(super) fn expire(&mut self, now_ms: u64) -> Vec<(u32, Batch)> {
        let timeout = self.delivery_timeout_ms;
        let mut expired_batches = Vec::new();
        let partitions: Vec<u32> = self.queues.keys().copied().collect();
        for partition in partitions {
            let queue = self.queues.get_mut(&partition).expect("present");
            if queue.iter().all(|b| b.created_ms + timeout > now_ms) {
                continue;
            }
            let (expired, kept): (VecDeque<Batch>, VecDeque<Batch>) = queue
                .drain(..)
                .partition(|b| b.created_ms + timeout <= now_ms);
            if kept.is_empty() {
                self.queues.remove(&partition);
            } else {
                *queue = kept;
            }
            expired_batches.extend(expired.into_iter().map(|b| (partition, b)));
        }
        expired_batches
    }

    /// Kafka's `RecordAccumulator.reenqueue`: a batch to retry goes back into its
    /// partition's queue in record order, ahead of newer records (Kafka's idempotent producer
    /// re-enqueues in sequence order, so retries keep the order).
    pub(super) fn reenqueue(&mut self, partition: u32, batch: Batch) {
        let queue = self.queues.entry(partition).or_default();
        let first = batch.records.first().map(|r| r.id.seq);
        let at = queue
            .iter()
            .position(|b| b.records.first().map(|r| r.id.seq) > first)
            .unwrap_or(queue.len());
        queue.insert(at, batch);
    }

    /// The record counts of a partition's queued batches that carry sequences, in queue
    /// (and so sequence) order: what an epoch bump renumbers.
    pub(super) fn stamped_batch_sizes(&self, partition: u32) -> Vec<u32> {
        self.queues.get(&partition).map_or_else(Vec::new, |queue| {
            queue
                .iter()
                .filter(|b| b.stamp.is_some())
                .map(|b| b.records.len() as u32)
                .collect()
        })
    }

    /// Writes new sequences into a partition's queued stamped batches, in order (Kafka's
    /// `ProducerBatch.resetProducerState` after an epoch bump).
    pub(super) fn restamp(&mut self, partition: u32, stamps: &[BatchStamp]) {
        let Some(queue) = self.queues.get_mut(&partition) else {
            assert!(
                stamps.is_empty(),
                "new sequences for batches that are queued"
            );
            return;
        };
        let mut stamps = stamps.iter();
        for batch in queue.iter_mut().filter(|b| b.stamp.is_some()) {
            batch.stamp = Some(*stamps.next().expect("a new stamp for every stamped batch"));
        }
        assert!(stamps.next().is_none(), "one new stamp per stamped batch");
    }

    /// Whether no batch waits (Kafka's `hasIncomplete` counts the batches in flight too; the
    /// sender adds those).
    pub(super) fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Kafka's `RecordAccumulator.abortUndrainedBatches` for a transactional producer: takes
    /// out every batch that was never drained (it has no sequences yet), in partition order.
    /// A batch waiting for a retry keeps its sequences and stays, to be resolved.
    pub(super) fn take_undrained(&mut self) -> Vec<(u32, Batch)> {
        self.take_where(|b| b.stamp.is_none())
    }

    /// Every waiting batch, in partition order (`abortIncompleteBatches` after a fatal error).
    pub(super) fn take_all(&mut self) -> Vec<(u32, Batch)> {
        self.take_where(|_| true)
    }

    fn take_where(&mut self, taken: impl Fn(&Batch) -> bool) -> Vec<(u32, Batch)> {
        let mut out = Vec::new();
        for (partition, queue) in &mut self.queues {
            let (take, keep): (VecDeque<Batch>, VecDeque<Batch>) =
                queue.drain(..).partition(|b| taken(b));
            *queue = keep;
            out.extend(take.into_iter().map(|b| (*partition, b)));
        }
        self.queues.retain(|_, q| !q.is_empty());
        out
    }

    /// No partition keeps an empty queue (tests only).
    #[cfg(test)]
    pub(super) fn keeps_no_empty_queue(&self) -> bool {
        self.queues.values().all(|q| !q.is_empty())
    }
}
