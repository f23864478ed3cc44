//! A Kafka producer client and the workload that drives it.
//!
//! The workload creates records at a fixed rate; the client does what Kafka's producer does
//! with them: it learns partition leaders from Metadata, partitions records (murmur2 for
//! keys), collects them into per-partition batches that are sent when full (`batch.size`) or
//! old enough (`linger.ms`), keeps at most `max.in.flight.requests.per.connection` requests
//! per broker, and retries retriable errors after `retry.backoff.ms` until
//! `delivery.timeout.ms` runs out. Every outcome is an event: a record sent, acknowledged,
//! retried or failed. What counts as "acknowledged" is exactly what a real application would
//! have been told.
//!
//! The code follows Kafka's classes: this file is `KafkaProducer` (the workload, the
//! partitioner call, metadata), `accumulator` the `RecordAccumulator` (batches per partition)
//! and `sender` the `Sender` (produce requests, their answers, retries and failures).

use crate::actor::{Actor, Output};
use crate::clients::metadata::{MetadataClient, MetadataOptions, MetadataTimer};
use crate::clients::partitioner::partition_for_key;
use crate::clients::CorrelationIds;
use crate::config::ProducerConfig;
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, VecDeque};

mod accumulator;
mod sender;

use accumulator::RecordAccumulator;
use sender::InFlight;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerTimer {
    /// Create the records that are due.
    Generate,
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
    pub start_ms: u64,
    pub config: ProducerConfig,
    pub bootstrap: Vec<BrokerId>,
}

pub struct Producer {
    index: u32,
    name: String,
    topic: String,
    records_total: u64,
    rate_per_sec: f64,
    keys: Option<u32>,
    start_ms: u64,
    config: ProducerConfig,
    next_seq: u64,
    /// The partition leaders of `topic`, and the Metadata requests that learn them.
    metadata: MetadataClient,
    correlation_ids: CorrelationIds,
    unassigned: VecDeque<ProducerRecord>,
    accumulator: RecordAccumulator,
    in_flight: BTreeMap<u64, InFlight>,
    round_robin: u32,
    wake_at_ms: Option<u64>,
    acked: u64,
    failed: u64,
    sent_unacked: u64,
    /// Records due while the process was down (see `resuming_at`).
    never_produced: u64,
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
            start_ms,
            config,
            bootstrap,
        } = settings;
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
            bootstrap,
        );
        let accumulator = RecordAccumulator::new(&config);
        Producer {
            index,
            name,
            topic,
            records_total: records,
            rate_per_sec,
            keys,
            start_ms,
            config,
            next_seq: 0,
            metadata,
            correlation_ids: CorrelationIds::default(),
            unassigned: VecDeque::new(),
            accumulator,
            in_flight: BTreeMap::new(),
            round_robin: 0,
            wake_at_ms: None,
            acked: 0,
            failed: 0,
            sent_unacked: 0,
            never_produced: 0,
        }
    }

    /// `(created, acknowledged, failed)`.
    pub fn counts(&self) -> (u64, u64, u64) {
        (self.next_seq, self.acked, self.failed)
    }

    /// Every record is created and acknowledged, failed, or sent with acks=0.
    pub fn is_done(&self) -> bool {
        self.next_seq == self.records_total
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
        while self.next_seq < self.records_total && self.due_ms(self.next_seq) <= now_ms {
            let seq = self.next_seq;
            self.next_seq += 1;
            let record = ProducerRecord {
                id: RecordId {
                    producer: self.index,
                    seq,
                },
                timestamp_ms: now_ms,
                key: self.keys.map(|k| format!("k{}", seq % k as u64)),
                value: format!("{}-{}", self.name, seq),
                headers: Vec::new(),
            };
            self.unassigned.push_back(record);
        }
        if self.next_seq < self.records_total {
            let next = self.due_ms(self.next_seq).max(now_ms + 1);
            out.timer(next - now_ms, ProducerTimer::Generate);
        }
        self.assign(now_ms, out);
    }

    /// Gives records a partition (needs the partition count from metadata).
    fn assign(&mut self, now_ms: u64, out: &mut Output<ProducerTimer>) {
        let Some(count) = self.metadata.partition_count(&self.topic) else {
            return;
        };
        while let Some(record) = self.unassigned.pop_front() {
            let partition = match &record.key {
                Some(k) => partition_for_key(k.as_bytes(), count),
                None => self.next_round_robin(count),
            };
            out.event(Event::RecordSent {
                producer: self.index,
                id: record.id,
                tp: self.tp(partition),
            });
            self.accumulator.append(partition, record, now_ms);
        }
    }

    fn next_round_robin(&mut self, count: u32) -> u32 {
        let available: Vec<u32> = self
            .metadata
            .partitions_of(&self.topic)
            .filter(|m| m.leader.is_some())
            .map(|m| m.tp.partition)
            .collect();
        self.round_robin = self.round_robin.wrapping_add(1);
        if available.is_empty() {
            self.round_robin % count
        } else {
            available[self.round_robin as usize % available.len()]
        }
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
        self.request_metadata(now_ms, out);
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
        match message {
            Message::MetadataResponse(response) => self.on_metadata(now_ms, response, out),
            Message::ProduceResponse(response) => self.on_produce_response(now_ms, response, out),
            Message::Disconnected(Disconnected {
                peer: NodeId::Broker(broker),
            }) => self.on_disconnected(now_ms, broker, out),
            _ => {}
        }
    }

    fn on_timer(&mut self, now_ms: u64, timer: ProducerTimer, out: &mut Output<ProducerTimer>) {
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
                if let Some(flight) = self.in_flight.remove(&correlation_id) {
                    self.on_request_error(now_ms, flight, ErrorCode::RequestTimedOut, out);
                    self.drain(now_ms, out);
                }
            }
            ProducerTimer::MetadataTimeout { correlation_id } => {
                self.metadata
                    .on_timeout(now_ms, correlation_id, &mut self.correlation_ids, out)
            }
            ProducerTimer::MetadataRetry => {
                self.metadata
                    .on_retry(now_ms, &mut self.correlation_ids, out)
            }
            ProducerTimer::MetadataMaxAge { generation } => {
                self.metadata
                    .on_max_age(now_ms, generation, &mut self.correlation_ids, out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn metadata(leaders: &[(u32, Option<BrokerId>, LeaderEpoch)]) -> Vec<PartitionMetadata> {
        leaders
            .iter()
            .map(|(p, leader, epoch)| PartitionMetadata {
                tp: TopicPartition::new("orders", *p),
                error: ErrorCode::None,
                leader: *leader,
                leader_epoch: *epoch,
                replicas: vec![0, 1, 2],
                isr: vec![0, 1, 2],
            })
            .collect()
    }

    fn producer(config: ProducerConfig, keys: Option<u32>) -> Producer {
        Producer::new(ProducerSettings {
            index: 0,
            name: "p".into(),
            topic: "orders".into(),
            records: 10,
            rate_per_sec: 1000.0,
            keys,
            start_ms: 0,
            config,
            bootstrap: vec![0, 1, 2],
        })
    }

    /// Every partition's batch in the produce requests sent: (broker, correlation id,
    /// partition, records).
    fn produces(out: &Output<ProducerTimer>) -> Vec<(NodeId, u64, u32, usize)> {
        out.messages
            .iter()
            .flat_map(|(to, m)| match m {
                Message::Produce(request) => request
                    .partitions
                    .iter()
                    .map(|p| (*to, request.correlation_id, p.tp.partition, p.records.len()))
                    .collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn answer(correlation_id: u64, error: ErrorCode, base_offset: Option<u64>) -> Message {
        Message::ProduceResponse(ProduceResponse {
            correlation_id,
            partitions: vec![ProducePartitionResponse {
                tp: TopicPartition::new("orders", 0),
                error,
                base_offset,
            }],
        })
    }

    fn answer_metadata(
        p: &mut Producer,
        now: u64,
        parts: Vec<PartitionMetadata>,
    ) -> Output<ProducerTimer> {
        let mut out = Output::default();
        let correlation_id = p.metadata.in_flight().expect("a metadata request");
        p.on_message(
            now,
            NodeId::Broker(0),
            Message::MetadataResponse(MetadataResponse {
                correlation_id,
                brokers: vec![0, 1, 2],
                controller_id: Some(0),
                partitions: parts,
            }),
            &mut out,
        );
        out
    }

    #[test]
    fn batches_by_linger_then_acknowledges() {
        let config = ProducerConfig {
            linger_ms: 5,
            ..ProducerConfig::default()
        };
        let mut p = producer(config, None);
        let mut out = Output::default();
        p.start(0, &mut out);
        answer_metadata(&mut p, 0, metadata(&[(0, Some(1), 0)]));
        let mut out = Output::default();
        p.on_timer(3, ProducerTimer::Generate, &mut out);
        assert!(produces(&out).is_empty(), "linger.ms holds the batch");
        let mut out = Output::default();
        p.on_timer(5, ProducerTimer::Generate, &mut out);
        assert!(
            produces(&out).is_empty(),
            "the batch began at t=3, so it lingers until t=8"
        );
        let mut out = Output::default();
        p.on_timer(8, ProducerTimer::Wake, &mut out);
        let sent = produces(&out);
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].0, sent[0].3),
            (NodeId::Broker(1), 6),
            "records 0..=5 in one batch"
        );
        let mut out = Output::default();
        p.on_message(
            9,
            NodeId::Broker(1),
            answer(sent[0].1, ErrorCode::None, Some(0)),
            &mut out,
        );
        assert!(matches!(&out.events[0], Event::Acknowledged { ids, .. } if ids.len() == 6));
        assert_eq!(p.counts(), (6, 6, 0), "records 6.. are not due before t=6");
    }

    #[test]
    fn a_restarted_producer_goes_on_with_the_records_due_from_then() {
        // 10 records at 1000/s from t=0: record n is due at t=n. Restarted at t=4.
        let mut p = producer(ProducerConfig::default(), None).resuming_at(4);
        let mut out = Output::default();
        p.start(4, &mut out);
        answer_metadata(&mut p, 4, metadata(&[(0, Some(1), 0)]));
        let mut out = Output::default();
        p.on_timer(4, ProducerTimer::Generate, &mut out);
        let sent: Vec<u64> = out
            .events
            .iter()
            .filter_map(|e| match e {
                Event::RecordSent { id, .. } => Some(id.seq),
                _ => None,
            })
            .collect();
        assert_eq!(
            sent,
            [4],
            "records 0..=3 were the old process's; 4 is due now"
        );
        assert!(!p.is_done());
    }

    #[test]
    fn not_leader_refreshes_metadata_and_resends_to_the_new_leader() {
        let mut p = producer(ProducerConfig::default(), None);
        let mut out = Output::default();
        p.start(0, &mut out);
        answer_metadata(&mut p, 0, metadata(&[(0, Some(1), 0)]));
        let mut out = Output::default();
        p.on_timer(0, ProducerTimer::Generate, &mut out);
        let sent = produces(&out);
        assert_eq!(sent[0].0, NodeId::Broker(1));
        let mut out = Output::default();
        p.on_message(
            1,
            NodeId::Broker(1),
            answer(sent[0].1, ErrorCode::NotLeaderOrFollower, None),
            &mut out,
        );
        assert!(out
            .events
            .iter()
            .any(|e| matches!(e, Event::ProduceRetried { .. })));
        assert!(
            !out.messages
                .iter()
                .any(|(_, m)| matches!(m, Message::Metadata(_))),
            "the last answer came at t=0: the refresh waits for retry.backoff.ms"
        );
        let mut out = Output::default();
        p.on_timer(100, ProducerTimer::MetadataRetry, &mut out);
        assert!(out
            .messages
            .iter()
            .any(|(_, m)| matches!(m, Message::Metadata(_))));
        let out = answer_metadata(&mut p, 102, metadata(&[(0, Some(2), 1)]));
        let resent = produces(&out);
        assert_eq!(resent[0].0, NodeId::Broker(2));
        assert_eq!(resent[0].3, 1);
    }

    #[test]
    fn a_reset_connection_fails_its_requests_at_once() {
        let mut p = producer(ProducerConfig::default(), None);
        let mut out = Output::default();
        p.start(0, &mut out);
        answer_metadata(&mut p, 0, metadata(&[(0, Some(1), 0)]));
        let mut out = Output::default();
        p.on_timer(0, ProducerTimer::Generate, &mut out);
        assert_eq!(produces(&out)[0].0, NodeId::Broker(1));
        let mut out = Output::default();
        p.on_message(
            1,
            NodeId::Broker(1),
            Message::Disconnected(Disconnected {
                peer: NodeId::Broker(1),
            }),
            &mut out,
        );
        assert!(
            out.events.iter().any(|e| matches!(
                e,
                Event::ProduceRetried {
                    error: ErrorCode::NetworkException,
                    ..
                }
            )),
            "no waiting for request.timeout.ms: {:?}",
            out.events
        );
        assert!(p.in_flight.is_empty());
        // A reset from another broker changes nothing.
        let mut out = Output::default();
        p.on_message(
            2,
            NodeId::Broker(2),
            Message::Disconnected(Disconnected {
                peer: NodeId::Broker(2),
            }),
            &mut out,
        );
        assert!(out.events.is_empty());
    }

    /// An acks=0 producer hears of an error only as a closed connection (the broker closes
    /// it, `KafkaApis.handleProduceRequest`); `NetworkClient` then asks for fresh metadata,
    /// so the producer finds the new leader instead of writing into the void until
    /// `metadata.max.age.ms`.
    #[test]
    fn an_acks_0_producer_refreshes_its_metadata_when_the_broker_closes_the_connection() {
        let config = ProducerConfig {
            acks: Acks::None,
            ..ProducerConfig::default()
        };
        let mut p = producer(config, None);
        let mut out = Output::default();
        p.start(0, &mut out);
        answer_metadata(&mut p, 0, metadata(&[(0, Some(1), 0)]));
        let mut out = Output::default();
        p.on_timer(0, ProducerTimer::Generate, &mut out);
        assert_eq!(produces(&out)[0].0, NodeId::Broker(1));
        // Later than `retry.backoff.ms` after the last answer, so it asks at once.
        let mut out = Output::default();
        p.on_message(
            1_000,
            NodeId::Broker(1),
            Message::Disconnected(Disconnected {
                peer: NodeId::Broker(1),
            }),
            &mut out,
        );
        assert!(
            out.messages
                .iter()
                .any(|(_, m)| matches!(m, Message::Metadata(_))),
            "a metadata request: {:?}",
            out.messages
        );
    }

    #[test]
    fn request_timeout_retries_and_a_late_answer_is_ignored() {
        let config = ProducerConfig {
            request_timeout_ms: 100,
            delivery_timeout_ms: 250,
            ..ProducerConfig::default()
        };
        let mut p = producer(config, None);
        let mut out = Output::default();
        p.start(0, &mut out);
        answer_metadata(&mut p, 0, metadata(&[(0, Some(1), 0)]));
        let mut out = Output::default();
        p.on_timer(0, ProducerTimer::Generate, &mut out);
        let first = produces(&out)[0].1;
        let mut out = Output::default();
        p.on_timer(
            100,
            ProducerTimer::RequestTimeout {
                correlation_id: first,
            },
            &mut out,
        );
        assert!(out.events.iter().any(|e| matches!(
            e,
            Event::ProduceRetried {
                error: ErrorCode::RequestTimedOut,
                ..
            }
        )));
        let mut out = Output::default();
        p.on_message(
            101,
            NodeId::Broker(1),
            answer(first, ErrorCode::None, Some(0)),
            &mut out,
        );
        assert!(
            out.events.is_empty(),
            "the timed-out request's answer is ignored"
        );
        // The delivery timeout passes while the retry waits for a leader.
        answer_metadata(&mut p, 102, metadata(&[(0, None, 1)]));
        let mut out = Output::default();
        p.on_timer(300, ProducerTimer::Wake, &mut out);
        assert!(out.events.iter().any(|e| matches!(
            e,
            Event::ProduceFailed {
                error: ErrorCode::DeliveryTimeout,
                ..
            }
        )));
        assert_eq!(p.counts().2, 1);
    }

    #[test]
    fn one_request_per_broker_carries_the_first_batch_of_every_partition_it_leads() {
        // Keys spread records over 4 partitions: 0 and 2 led by broker 1, 1 and 3 by 2.
        let config = ProducerConfig {
            linger_ms: 5,
            ..ProducerConfig::default()
        };
        let mut p = producer(config, Some(16));
        let mut out = Output::default();
        p.start(0, &mut out);
        answer_metadata(
            &mut p,
            0,
            metadata(&[
                (0, Some(1), 0),
                (1, Some(2), 0),
                (2, Some(1), 0),
                (3, Some(2), 0),
            ]),
        );
        let mut out = Output::default();
        p.on_timer(3, ProducerTimer::Generate, &mut out);
        assert!(produces(&out).is_empty(), "linger.ms holds every batch");
        // At t=5 the oldest batch has lingered; its broker takes every partition it leads,
        // lingered or not (RecordAccumulator.drain), in one request per broker.
        let mut out = Output::default();
        p.on_timer(5, ProducerTimer::Wake, &mut out);
        let sent = produces(&out);
        let requests: BTreeSet<(NodeId, u64)> = sent.iter().map(|s| (s.0, s.1)).collect();
        let brokers: BTreeSet<NodeId> = requests.iter().map(|r| r.0).collect();
        assert_eq!(requests.len(), brokers.len(), "one request per broker");
        for (to, _, partition, _) in &sent {
            let leader = if partition % 2 == 0 { 1 } else { 2 };
            assert_eq!(*to, NodeId::Broker(leader));
        }
        let partitions: BTreeSet<u32> = sent.iter().map(|s| s.2).collect();
        assert_eq!(partitions.len(), sent.len(), "one batch per partition");
        assert!(
            p.accumulator.keeps_no_empty_queue(),
            "no empty queues are kept"
        );
    }

    #[test]
    fn max_request_size_cuts_a_request_and_the_next_drain_goes_on_from_there() {
        let config = ProducerConfig {
            max_request_size: 1,
            ..ProducerConfig::default()
        };
        let mut p = producer(config, Some(16));
        let mut out = Output::default();
        p.start(0, &mut out);
        answer_metadata(&mut p, 0, metadata(&[(0, Some(1), 0), (1, Some(1), 0)]));
        let mut out = Output::default();
        p.on_timer(3, ProducerTimer::Generate, &mut out);
        let sent = produces(&out);
        assert!(!sent.is_empty());
        let per_request: BTreeMap<u64, usize> = sent.iter().fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s.1).or_insert(0) += 1;
            m
        });
        assert!(
            per_request.values().all(|n| *n == 1),
            "a request over max.request.size carries its first batch only"
        );
        let partitions: BTreeSet<u32> = sent.iter().map(|s| s.2).collect();
        assert_eq!(
            partitions.len(),
            2,
            "the drain index moves on to the other partition"
        );
    }

    #[test]
    fn metadata_is_asked_for_at_most_once_per_retry_backoff() {
        let mut p = producer(ProducerConfig::default(), None);
        let mut out = Output::default();
        p.start(0, &mut out);
        answer_metadata(&mut p, 10, metadata(&[(0, None, 0)]));
        // A leaderless partition wants a refresh, but not before t=10+retry.backoff.ms.
        let mut out = Output::default();
        p.request_metadata(20, &mut out);
        assert!(p.metadata.in_flight().is_none());
        assert_eq!(p.metadata.retry_at_ms(), Some(110));
        let mut out = Output::default();
        p.on_timer(110, ProducerTimer::MetadataRetry, &mut out);
        assert!(p.metadata.in_flight().is_some());
    }

    #[test]
    fn keyed_records_follow_murmur2() {
        let mut p = producer(ProducerConfig::default(), Some(4));
        let mut out = Output::default();
        p.start(0, &mut out);
        answer_metadata(
            &mut p,
            0,
            metadata(&[(0, Some(0), 0), (1, Some(1), 0), (2, Some(2), 0)]),
        );
        let mut out = Output::default();
        p.on_timer(3, ProducerTimer::Generate, &mut out);
        for e in &out.events {
            if let Event::RecordSent { id, tp, .. } = e {
                let key = format!("k{}", id.seq % 4);
                assert_eq!(tp.partition, partition_for_key(key.as_bytes(), 3));
            }
        }
    }

    #[test]
    fn only_the_newest_metadata_answer_schedules_a_max_age_refresh() {
        let mut p = producer(ProducerConfig::default(), None);
        let mut out = Output::default();
        p.start(0, &mut out);
        let mut max_age_timers = Vec::new();
        for t in 0..5 {
            let out = answer_metadata(&mut p, t * 1_000, metadata(&[(0, Some(1), 0)]));
            max_age_timers.extend(out.timers.into_iter().filter_map(|(_, timer)| match timer {
                ProducerTimer::MetadataMaxAge { generation } => Some(generation),
                _ => None,
            }));
            p.request_metadata(t * 1_000 + 500, &mut Output::default());
        }
        // Five answers, five timers, but only the last one may refresh.
        let mut refreshes = 0;
        for generation in max_age_timers {
            p.metadata.forget_in_flight();
            let mut out = Output::default();
            p.on_timer(
                300_000,
                ProducerTimer::MetadataMaxAge { generation },
                &mut out,
            );
            refreshes += out
                .messages
                .iter()
                .filter(|(_, m)| matches!(m, Message::Metadata(_)))
                .count();
        }
        assert_eq!(refreshes, 1);
    }
}
