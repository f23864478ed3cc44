//! A Kafka producer client and the workload that drives it.
//!
//! The workload creates records at a fixed rate; the client does what Kafka's producer does
//! with them: it learns partition leaders from Metadata, partitions records (murmur2 for
//! keys, the sticky partition for records without one), collects them into per-partition
//! batches that are sent when full (`batch.size`) or old enough (`linger.ms`), keeps at most
//! `max.in.flight.requests.per.connection` requests per broker, and retries retriable errors after `retry.backoff.ms` until
//! `delivery.timeout.ms` runs out. Every outcome is an event: a record sent, acknowledged,
//! retried or failed. What counts as "acknowledged" is exactly what a real application would
//! have been told.
//!
//! The code follows Kafka's classes: this file is `KafkaProducer` (the workload, the
//! partitioner call, metadata), `accumulator` the `RecordAccumulator` (batches per partition)
//! and `sender` the `Sender` (produce requests, their answers, retries and failures). With a
//! `transactional.id`, `application` is the loop of a transactional application (begin, send,
//! commit or abort) and `transactional` the requests it makes its coordinator answer.

use crate::actor::{Actor, Output};
use crate::clients::metadata::{MetadataClient, MetadataOptions, MetadataTimer};
use crate::clients::partitioner::{partition_for_key, StickyPartitionCache};
use crate::clients::CorrelationIds;
use crate::config::ProducerConfig;
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};

mod accumulator;
mod application;
mod hosted;
mod idempotence;
mod sender;
pub mod transaction_manager;
mod transactional;

use accumulator::RecordAccumulator;
use idempotence::Idempotence;
use sender::InFlight;
pub use transactional::OffsetsToCommit;
use transactional::{Transactional, TxnAnswer};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerTimer {
    /// Create the records that are due.
    Generate,
    /// A sleeping second instance (see `Producer::asleep_until`) starts.
    Awake,
    /// Look again at batches, backoffs and deadlines.
    Wake,
    RequestTimeout {
        correlation_id: u64,
    },
    MetadataTimeout {
        correlation_id: u64,
    },
    MetadataRetry,
    /// `metadata.max.age.ms` after the answer of this generation.
    MetadataMaxAge {
        generation: u64,
    },
    /// An InitProducerId got no answer within `request.timeout.ms`.
    InitProducerIdTimeout {
        correlation_id: u64,
    },
    /// Ask for a producer id again, after `retry.backoff.ms`.
    InitProducerIdRetry,
    /// A transactional request (FindCoordinator, InitProducerId, AddPartitionsToTxn, EndTxn)
    /// got no answer within `request.timeout.ms`.
    TxnRequestTimeout {
        correlation_id: u64,
    },
    /// A transactional request's retry backoff is over.
    TxnRetry,
}

impl MetadataTimer for ProducerTimer {
    fn metadata_timeout(correlation_id: u64) -> Self {
        ProducerTimer::MetadataTimeout { correlation_id }
    }

    fn metadata_retry() -> Self {
        ProducerTimer::MetadataRetry
    }

    fn metadata_max_age(generation: u64) -> Self {
        ProducerTimer::MetadataMaxAge { generation }
    }
}

/// How large the workload's record values are (a scenario's `value_bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueBytes {
    /// The value is its label, `NAME-SEQ`, and nothing more: a dozen bytes or so (the
    /// default, so a scenario that sets no size runs as it did before sizes were counted).
    Label,
    /// Every value is this many bytes.
    Fixed(u32),
    /// Each value's size is drawn, evenly from `min` to `max` inclusive, from the producer's
    /// seeded generator.
    Range { min: u32, max: u32 },
}

/// One record of a scripted workload (a scenario's `sequence`): the producer sends exactly
/// these, in order, instead of generated records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptedRecord {
    /// `None`: a record without a key (the sticky partitioner places it).
    pub key: Option<String>,
    /// `None`: a tombstone (Kafka's null value).
    pub value: Option<String>,
    /// An explicit CreateTime (`ProducerRecord`'s timestamp); `None`: the producer's clock
    /// when it creates the record, as `KafkaProducer.doSend` stamps a record without one.
    pub timestamp_ms: Option<u64>,
}

/// Records per transaction when a scenario does not say (`transaction_records`).
pub const DEFAULT_TRANSACTION_RECORDS: u32 = 10;

/// How a transactional producer's application groups its records (a scenario's
/// `transaction_records` and `abort_every`); a producer without `transactional.id` ignores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionWorkload {
    /// Records per transaction: the application commits once it has sent this many (the last
    /// transaction of the workload may hold fewer).
    pub records_per_transaction: u32,
    /// The application aborts every K-th transaction of its instance (the K-th, 2K-th, ...)
    /// instead of committing it; 0: never.
    pub abort_every: u32,
}

impl Default for TransactionWorkload {
    fn default() -> Self {
        TransactionWorkload {
            records_per_transaction: DEFAULT_TRANSACTION_RECORDS,
            abort_every: 0,
        }
    }
}

/// What a producer process is: its workload (which records, how fast, from when) and its
/// client (`producer.*` settings, bootstrap brokers).
#[derive(Clone, Debug)]
pub struct ProducerSettings {
    /// The producer's number: the `producer` of its record ids.
    pub index: u32,
    pub name: String,
    pub topic: String,
    /// How many records the workload creates, `rate_per_sec` of them from `start_ms` on.
    pub records: u64,
    pub rate_per_sec: f64,
    /// Keys `k0` to `k{keys - 1}`, in turn; no keys when `None`.
    pub keys: Option<u32>,
    pub value_bytes: ValueBytes,
    pub start_ms: u64,
    pub config: ProducerConfig,
    /// With `transactional.id`: how the application groups records into transactions.
    pub transactions: TransactionWorkload,
    pub bootstrap: Vec<BrokerId>,
    /// Seeds the partitioner's random draws (Kafka's `ThreadLocalRandom`), so a run is a
    /// function of its seed.
    pub seed: u64,
}

pub struct Producer {
    index: u32,
    name: String,
    topic: String,
    records_total: u64,
    rate_per_sec: f64,
    keys: Option<u32>,
    value_bytes: ValueBytes,
    /// The scripted records, one per sequence number; empty for a generated workload.
    script: Vec<ScriptedRecord>,
    /// Draws the sizes of `ValueBytes::Range`: the same seed as `rng`, another stream, so
    /// sizes do not move the partitioner's draws.
    value_rng: ChaCha8Rng,
    start_ms: u64,
    config: ProducerConfig,
    next_seq: u64,
    /// The partition leaders of `topic`, and the Metadata requests that learn them.
    metadata: MetadataClient,
    correlation_ids: CorrelationIds,
    unassigned: VecDeque<ProducerRecord>,
    accumulator: RecordAccumulator,
    in_flight: BTreeMap<u64, InFlight>,
    /// Where records without a key go (KIP-480).
    sticky: StickyPartitionCache,
    rng: ChaCha8Rng,
    wake_at_ms: Option<u64>,
    acked: u64,
    failed: u64,
    sent_unacked: u64,
    /// Records due while the process was down (see `resuming_at`).
    never_produced: u64,
    /// With `enable.idempotence`: the producer id, epoch and sequence numbers.
    idempotence: Option<Idempotence>,
    /// The InitProducerId in flight: its correlation id and broker.
    init_producer_id: Option<(u64, BrokerId)>,
    /// Which bootstrap broker the next InitProducerId goes to.
    init_attempts: usize,
    bootstrap: Vec<BrokerId>,
    /// With `transactional.id`: the transactional application and its coordinator requests.
    txn: Option<Transactional>,
    /// A processor's producer: the input record each output record not yet sent was made
    /// from, by sequence number (see `hosted.rs`).
    hosted_inputs: BTreeMap<u64, RecordId>,
    /// A second instance started by a scenario's `fork`: the process does nothing until then.
    asleep_until_ms: Option<u64>,
}

impl Producer {
    pub fn new(settings: ProducerSettings) -> Producer {
        let ProducerSettings {
            index,
            name,
            topic,
            records,
            rate_per_sec,
            keys,
            value_bytes,
            start_ms,
            config,
            transactions,
            bootstrap,
            seed,
        } = settings;
        if let ValueBytes::Range { min, max } = value_bytes {
            assert!(min <= max, "a value size range runs upwards");
        }
        let mut value_rng = ChaCha8Rng::seed_from_u64(seed);
        value_rng.set_stream(1);
        assert!(rate_per_sec > 0.0, "a producer's rate must be positive");
        assert!(!bootstrap.is_empty(), "a producer needs bootstrap brokers");
        let metadata = MetadataClient::new(
            MetadataOptions {
                topics: vec![topic.clone()],
                request_timeout_ms: config.request_timeout_ms,
                retry_backoff_ms: config.retry_backoff_ms,
                metadata_max_age_ms: config.metadata_max_age_ms,
                refresh_backoff: true,
                leaderless_answer_restarts_max_age: true,
            },
            bootstrap.clone(),
        );
        let accumulator = RecordAccumulator::new(&config);
        let txn = config
            .transactional_id
            .clone()
            .map(|id| Transactional::new(id, transactions));
        assert!(
            txn.is_none() || config.enable_idempotence,
            "a transactional producer is idempotent"
        );
        let idempotence = config
            .enable_idempotence
            .then(|| Idempotence::new(txn.is_some()));
        Producer {
            index,
            name,
            topic,
            records_total: records,
            rate_per_sec,
            keys,
            value_bytes,
            script: Vec::new(),
            value_rng,
            start_ms,
            config,
            next_seq: 0,
            metadata,
            correlation_ids: CorrelationIds::default(),
            unassigned: VecDeque::new(),
            accumulator,
            in_flight: BTreeMap::new(),
            sticky: StickyPartitionCache::default(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            wake_at_ms: None,
            acked: 0,
            failed: 0,
            sent_unacked: 0,
            never_produced: 0,
            idempotence,
            init_producer_id: None,
            init_attempts: 0,
            bootstrap,
            txn,
            hosted_inputs: BTreeMap::new(),
            asleep_until_ms: None,
        }
    }

    /// The process starts at `at_ms` (a scenario's `fork`: a second instance with the same
    /// `transactional.id` appears while the first runs): before, it sends nothing; then it
    /// starts with the records due from then on, as a process started then would.
    pub fn asleep_until(mut self, at_ms: u64) -> Producer {
        self.asleep_until_ms = Some(at_ms);
        self
    }

    /// Sends exactly `script`, in order, at the workload's rate, instead of generated records
    /// (a scenario's `sequence`). The workload's record count must be the script's length.
    pub fn with_script(mut self, script: Vec<ScriptedRecord>) -> Producer {
        assert_eq!(
            self.records_total,
            script.len() as u64,
            "a scripted producer sends its script's records and no others"
        );
        self.script = script;
        self
    }

    /// `(created, acknowledged, failed)`.
    pub fn counts(&self) -> (u64, u64, u64) {
        (self.next_seq, self.acked, self.failed)
    }

    /// Every record is created and acknowledged, failed, or sent with acks=0; or a fatal
    /// error stopped the transactional producer for good.
    pub fn is_done(&self) -> bool {
        self.is_stopped()
            || self.next_seq == self.records_total
                && self.never_produced + self.acked + self.failed + self.sent_unacked
                    == self.records_total
    }

    fn tp(&self, partition: u32) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), partition)
    }

    /// A producer process started again at `now_ms` after a crash: the application goes on
    /// with the records due from now on. The ones due while it was down were never produced
    /// (they are not `sent`), and the ones the old process had sent keep their ids.
    pub fn resuming_at(mut self, now_ms: u64) -> Producer {
        while self.next_seq < self.records_total && self.due_ms(self.next_seq) < now_ms {
            self.next_seq += 1;
            self.never_produced += 1;
        }
        self
    }

    fn due_ms(&self, seq: u64) -> u64 {
        self.start_ms + (seq as f64 * 1000.0 / self.rate_per_sec).floor() as u64
    }

    // ---- workload ----

    fn generate(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) {
        if self.is_stopped() {
            return;
        }
        while self.next_seq < self.records_total && self.due_ms(self.next_seq) <= now_ms {
            let seq = self.next_seq;
            self.next_seq += 1;
            let record = self.create(seq, now_ms);
            self.unassigned.push_back(record);
        }
        if self.next_seq < self.records_total {
            let next = self.due_ms(self.next_seq).max(now_ms + 1);
            out.timer(next - now_ms, ProducerTimer::Generate);
        }
        self.assign(now_ms, out);
    }

    /// The workload's record number `seq`: from the script when there is one, else generated
    /// (key `k{seq % keys}`, value its label).
    fn create(&mut self, seq: u64, now_ms: u64) -> ProducerRecord {
        let id = RecordId {
            producer: self.index,
            seq,
        };
        let Some(scripted) = self.script.get(seq as usize).cloned() else {
            let record = ProducerRecord {
                id,
                timestamp_ms: now_ms,
                key: self.keys.map(|k| format!("k{}", seq % k as u64)),
                value: Some(String::new()),
                value_bytes: 0,
                headers: Vec::new(),
            };
            return self.with_value(record);
        };
        let mut record = ProducerRecord {
            id,
            timestamp_ms: scripted.timestamp_ms.unwrap_or(now_ms),
            key: scripted.key,
            value: None,
            value_bytes: 0,
            headers: Vec::new(),
        };
        // A tombstone carries no value bytes (`record_size`); a value keeps its text.
        if let Some(text) = scripted.value {
            record.value_bytes = self.value_size(text.len() as u32);
            record.value = Some(text);
        }
        record
    }

    /// The record's value: its label `NAME-SEQ`, and the size of the payload it stands for.
    fn with_value(&mut self, mut record: ProducerRecord) -> ProducerRecord {
        let label = format!("{}-{}", self.name, record.id.seq);
        record.value_bytes = self.value_size(label.len() as u32);
        record.value = Some(label);
        record
    }

    /// The size of a value whose text is `text_bytes` long, by the workload's `value_bytes`.
    fn value_size(&mut self, text_bytes: u32) -> u32 {
        match self.value_bytes {
            ValueBytes::Label => text_bytes,
            ValueBytes::Fixed(n) => n,
            ValueBytes::Range { min, max } => {
                // Uniform over the range; the modulo's bias over a 64-bit draw is below 2^-32.
                let span = (max - min) as u64 + 1;
                min + (self.value_rng.next_u64() % span) as u32
            }
        }
    }

    /// Gives records a partition (needs the partition count from metadata). A transactional
    /// application hands them over itself, transaction by transaction.
    fn assign(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) {
        if self.txn.is_some() {
            self.application_step(now_ms, out);
            return;
        }
        if self.metadata.partition_count(&self.topic).is_none() {
            return;
        }
        while let Some(record) = self.unassigned.pop_front() {
            self.send_record(record, None, now_ms, out);
        }
    }

    /// `KafkaProducer.send` once the partition count is known: the partitioner picks the
    /// partition, the record goes into its batch, and its transaction (if any) learns of the
    /// partition. Returns the partition.
    fn send_record(
        &mut self,
        record: ProducerRecord,
        transaction: Option<TransactionRef>,
        now_ms: u64,
        out: &mut Output<ProducerTimer>,
    ) -> u32 {
        let count = self
            .metadata
            .partition_count(&self.topic)
            .expect("sent once the partition count is known");
        let partition = match &record.key {
            Some(k) => partition_for_key(k.as_bytes(), count),
            None => self.sticky_partition_for(&record, count),
        };
        out.event(Event::RecordSent {
            producer: self.index,
            id: record.id,
            tp: self.tp(partition),
            transaction,
            input: self.hosted_inputs.remove(&record.id.seq),
        });
        self.accumulator
            .append(partition, record, now_ms, transaction);
        partition
    }

    /// A record without a key goes to the sticky partition; if it would open a new batch
    /// there, Kafka's `KafkaProducer.doSend` calls `partitioner.onNewBatch` and partitions
    /// it again, into the new sticky partition (KIP-480; see [`StickyPartitionCache`]).
    fn sticky_partition_for(&mut self, record: &ProducerRecord, count: u32) -> u32 {
        let available: Vec<u32> = self
            .metadata
            .partitions_of(&self.topic)
            .filter(|m| m.leader.is_some())
            .map(|m| m.tp.partition)
            .collect();
        let partition = self.sticky.partition(&available, count, &mut self.rng);
        if self.accumulator.fits_last_batch(partition, record) {
            return partition;
        }
        self.sticky
            .next_partition(Some(partition), &available, count, &mut self.rng)
    }

    // ---- producer id ----

    /// Asks a broker for a producer id (`TransactionManager.initializeTransactions` for an
    /// idempotent producer: InitProducerId to the least loaded node; here the bootstrap
    /// brokers in turn). Batches wait until it is answered.
    fn request_producer_id(&mut self, out: &mut Output<ProducerTimer>) {
        let broker = self.bootstrap[self.init_attempts % self.bootstrap.len()];
        self.init_attempts += 1;
        let correlation_id = self.correlation_ids.next_id();
        self.init_producer_id = Some((correlation_id, broker));
        out.send(
            NodeId::Broker(broker),
            Message::InitProducerId(InitProducerIdRequest {
                correlation_id,
                transactional_id: None,
                transaction_timeout_ms: 0,
                producer_id: -1,
                producer_epoch: -1,
            }),
        );
        out.timer(
            self.config.request_timeout_ms,
            ProducerTimer::InitProducerIdTimeout { correlation_id },
        );
    }

    /// The InitProducerId failed (an error, no answer, a closed connection): ask the next
    /// broker after `retry.backoff.ms`.
    fn retry_producer_id(&mut self, out: &mut Output<ProducerTimer>) {
        self.init_producer_id = None;
        out.timer(
            self.config.retry_backoff_ms.max(1),
            ProducerTimer::InitProducerIdRetry,
        );
    }

    fn on_init_producer_id(
        &mut self,
        now_ms: u64,
        response: InitProducerIdResponse,
        out: &mut Output<ProducerTimer>,
    ) {
        if self.init_producer_id.map(|(c, _)| c) != Some(response.correlation_id) {
            return;
        }
        if response.error != ErrorCode::None {
            self.retry_producer_id(out);
            return;
        }
        self.init_producer_id = None;
        let idempotence = self
            .idempotence
            .as_mut()
            .expect("only an idempotent producer asks");
        idempotence.set_producer_id(response.producer_id, response.producer_epoch);
        self.drain(now_ms, out);
    }

    // ---- metadata ----

    /// Asks for metadata, at most once per `retry.backoff.ms` after the last answer (Kafka's
    /// `Metadata.timeToNextUpdate`: an update that is wanted waits out the refresh backoff).
    fn request_metadata(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) {
        self.metadata
            .request(now_ms, &mut self.correlation_ids, out);
    }

    fn on_metadata(
        &mut self,
        now_ms: u64,
        response: MetadataResponse,
        out: &mut Output<ProducerTimer>,
    ) {
        let update = self.metadata.on_response(now_ms, response, out);
        if !update.is_some_and(|u| u.knows_topics) {
            return;
        }
        self.assign(now_ms, out);
        self.drain(now_ms, out);
    }
}

impl Actor for Producer {
    type Timer = ProducerTimer;

    fn start(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) {
        if let Some(at_ms) = self.asleep_until_ms {
            if at_ms > now_ms {
                out.timer(at_ms - now_ms, ProducerTimer::Awake);
                return;
            }
            self.asleep_until_ms = None;
            while self.next_seq < self.records_total && self.due_ms(self.next_seq) < now_ms {
                self.next_seq += 1;
                self.never_produced += 1;
            }
        }
        self.request_metadata(now_ms, out);
        if self.txn.is_some() {
            self.init_transactions(now_ms, out);
        } else if self.idempotence.is_some() {
            self.request_producer_id(out);
        }
        let first = self.start_ms.max(now_ms);
        out.timer(first - now_ms, ProducerTimer::Generate);
    }

    fn on_message(
        &mut self,
        now_ms: u64,
        _from: NodeId,
        message: Message,
        out: &mut Output<ProducerTimer>,
    ) {
        if self.is_stopped() {
            return; // closed after a fatal error
        }
        match message {
            Message::MetadataResponse(response) => self.on_metadata(now_ms, response, out),
            Message::ProduceResponse(response) => self.on_produce_response(now_ms, response, out),
            Message::InitProducerIdResponse(response) if self.txn.is_some() => {
                self.on_txn_response(now_ms, TxnAnswer::InitProducerId(response), out)
            }
            Message::InitProducerIdResponse(response) => {
                self.on_init_producer_id(now_ms, response, out)
            }
            Message::FindCoordinatorResponse(response) if self.txn.is_some() => {
                self.on_txn_response(now_ms, TxnAnswer::FindCoordinator(response), out)
            }
            Message::AddPartitionsToTxnResponse(response) if self.txn.is_some() => {
                self.on_txn_response(now_ms, TxnAnswer::AddPartitions(response), out)
            }
            Message::EndTxnResponse(response) if self.txn.is_some() => {
                self.on_txn_response(now_ms, TxnAnswer::EndTxn(response), out)
            }
            Message::AddOffsetsToTxnResponse(response) if self.txn.is_some() => {
                self.on_txn_response(now_ms, TxnAnswer::AddOffsets(response), out)
            }
            Message::TxnOffsetCommitResponse(response) if self.txn.is_some() => {
                self.on_txn_response(now_ms, TxnAnswer::TxnOffsetCommit(response), out)
            }
            Message::Disconnected(Disconnected {
                peer: NodeId::Broker(broker),
            }) => {
                if self.init_producer_id.is_some_and(|(_, b)| b == broker) {
                    self.retry_producer_id(out);
                }
                self.on_disconnected(now_ms, broker, out)
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, now_ms: u64, timer: ProducerTimer, out: &mut Output<ProducerTimer>) {
        if self.is_stopped() {
            return; // closed after a fatal error
        }
        match timer {
            ProducerTimer::Generate => {
                self.generate(now_ms, out);
                self.drain(now_ms, out);
            }
            ProducerTimer::Wake => {
                if self.wake_at_ms.is_some_and(|w| w <= now_ms) {
                    self.wake_at_ms = None;
                }
                self.drain(now_ms, out);
            }
            ProducerTimer::RequestTimeout { correlation_id } => {
                if let Some(flight) = self.in_flight.get(&correlation_id) {
                    self.on_request_timeout(now_ms, flight.broker, out);
                }
            }
            ProducerTimer::MetadataTimeout { correlation_id } => {
                // A Metadata request's timeout closes its connection too, failing the
                // produce requests on it (`NetworkClient.handleTimedOutRequests`); the
                // Metadata request goes to the next bootstrap broker.
                let broker = self.metadata.in_flight_to(correlation_id);
                self.metadata
                    .on_timeout(now_ms, correlation_id, &mut self.correlation_ids, out);
                if let Some(broker) = broker {
                    out.close_connection(NodeId::Broker(broker));
                    self.fail_in_flight_to(now_ms, broker, ErrorCode::RequestTimedOut, out);
                    self.drain(now_ms, out);
                }
            }
            ProducerTimer::MetadataRetry => {
                self.metadata
                    .on_retry(now_ms, &mut self.correlation_ids, out)
            }
            ProducerTimer::InitProducerIdTimeout { correlation_id } => {
                if self
                    .init_producer_id
                    .is_some_and(|(c, _)| c == correlation_id)
                {
                    self.retry_producer_id(out);
                }
            }
            ProducerTimer::InitProducerIdRetry => {
                if self.init_producer_id.is_none()
                    && self
                        .idempotence
                        .as_ref()
                        .is_some_and(|i| !i.has_producer_id())
                {
                    self.request_producer_id(out);
                }
            }
            ProducerTimer::MetadataMaxAge { generation } => {
                self.metadata
                    .on_max_age(now_ms, generation, &mut self.correlation_ids, out)
            }
            ProducerTimer::TxnRequestTimeout { correlation_id } => {
                self.on_txn_request_timeout(now_ms, correlation_id, out)
            }
            ProducerTimer::TxnRetry => self.drain(now_ms, out),
            ProducerTimer::Awake => self.start(now_ms, out),
        }
    }
}

#[cfg(test)]
mod tests;
