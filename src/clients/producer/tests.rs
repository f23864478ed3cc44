use super::*;
use crate::coordinator::transaction::TransactionVersion;
use crate::event::AbortReason;
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

/// A producer without idempotence: most tests here are of the sender's rules, which an
/// idempotent producer follows too once it has its producer id (see `idempotent` below).
fn producer(config: ProducerConfig, keys: Option<u32>) -> Producer {
    Producer::new(ProducerSettings {
        keys,
        ..settings(config)
    })
}

/// Ten records at 1000/s from t=0 to topic `orders`, without keys or idempotence.
fn settings(config: ProducerConfig) -> ProducerSettings {
    let config = ProducerConfig {
        enable_idempotence: false,
        ..config
    };
    ProducerSettings {
        index: 0,
        name: "p".into(),
        topic: "orders".into(),
        records: 10,
        rate_per_sec: 1000.0,
        keys: None,
        value_bytes: ValueBytes::Label,
        start_ms: 0,
        config,
        transactions: TransactionWorkload::default(),
        bootstrap: vec![0, 1, 2],
        seed: 7,
    }
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

/// Kafka's `NetworkClient.handleTimedOutRequests`: a request past `request.timeout.ms`
/// closes its connection, and every request in flight on it fails with REQUEST_TIMED_OUT,
/// not only the late one; a metadata update is requested.
#[test]
fn a_request_timeout_fails_every_request_in_flight_to_that_broker() {
    let mut p = producer(ProducerConfig::default(), None);
    let mut out = Output::default();
    p.start(0, &mut out);
    answer_metadata(&mut p, 0, metadata(&[(0, Some(1), 0)]));
    let mut out = Output::default();
    p.on_timer(0, ProducerTimer::Generate, &mut out);
    let first = produces(&out)[0].1;
    let mut out = Output::default();
    p.on_timer(1, ProducerTimer::Generate, &mut out);
    assert_eq!(produces(&out).len(), 1, "a second request to broker 1");
    assert_eq!(p.in_flight.len(), 2);
    let mut out = Output::default();
    p.on_timer(
        30_000,
        ProducerTimer::RequestTimeout {
            correlation_id: first,
        },
        &mut out,
    );
    let timed_out = out
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::ProduceRetried {
                    error: ErrorCode::RequestTimedOut,
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        timed_out, 2,
        "both requests on the connection: {:?}",
        out.events
    );
    assert!(p.metadata.update_requested() || p.metadata.in_flight().is_some());
}

/// A Metadata request that times out closes its connection too: the produce requests on it
/// fail with it.
#[test]
fn a_metadata_timeout_fails_the_produce_requests_on_its_connection() {
    let mut p = producer(ProducerConfig::default(), None);
    let mut out = Output::default();
    p.start(0, &mut out);
    answer_metadata(&mut p, 0, metadata(&[(0, Some(0), 0)]));
    let mut out = Output::default();
    p.on_timer(0, ProducerTimer::Generate, &mut out);
    assert_eq!(produces(&out)[0].0, NodeId::Broker(0));
    // The next Metadata request goes to bootstrap broker 0, the leader.
    p.metadata.request_update();
    let mut out = Output::default();
    p.request_metadata(1_000, &mut out);
    let correlation_id = p.metadata.in_flight().expect("a metadata request");
    assert_eq!(p.metadata.in_flight_to(correlation_id), Some(0));
    let mut out = Output::default();
    p.on_timer(
        31_000,
        ProducerTimer::MetadataTimeout { correlation_id },
        &mut out,
    );
    assert!(
        out.events.iter().any(|e| matches!(
            e,
            Event::ProduceRetried {
                error: ErrorCode::RequestTimedOut,
                ..
            }
        )),
        "{:?}",
        out.events
    );
}

/// The partition of every record sent in `out`, in order.
fn sent_partitions(out: &Output<ProducerTimer>) -> Vec<u32> {
    out.events
        .iter()
        .filter_map(|e| match e {
            Event::RecordSent { tp, .. } => Some(tp.partition),
            _ => None,
        })
        .collect()
}

/// KIP-480 (`DefaultPartitioner`, `StickyPartitionCache`): records without a key fill one
/// partition's batch, not one record per partition in turn; once that batch is sent, the
/// next record opens a batch on another partition.
#[test]
fn null_key_records_stick_to_one_partition_until_its_batch_is_sent() {
    let config = ProducerConfig {
        linger_ms: 5,
        ..ProducerConfig::default()
    };
    let mut p = producer(config, None);
    let mut out = Output::default();
    p.start(0, &mut out);
    answer_metadata(
        &mut p,
        0,
        metadata(&[(0, Some(0), 0), (1, Some(1), 0), (2, Some(2), 0)]),
    );
    let mut out = Output::default();
    p.on_timer(3, ProducerTimer::Generate, &mut out);
    let first = sent_partitions(&out);
    assert_eq!(first.len(), 4, "records 0..=3 are due");
    assert!(
        first.iter().all(|p| *p == first[0]),
        "one partition's batch: {first:?}"
    );
    let mut out = Output::default();
    p.on_timer(8, ProducerTimer::Wake, &mut out);
    let sent = produces(&out);
    assert_eq!(sent.len(), 1, "one batch, sent once it lingered");
    assert_eq!(sent[0].2, first[0]);
    let mut out = Output::default();
    p.on_timer(9, ProducerTimer::Generate, &mut out);
    let next = sent_partitions(&out);
    assert!(!next.is_empty());
    assert!(
        next.iter().all(|p| *p != first[0]),
        "the new batch goes to another partition: {next:?}"
    );
}

/// The stamps on the produce requests sent: (correlation id, base sequence, last sequence,
/// epoch).
fn stamps(out: &Output<ProducerTimer>) -> Vec<(u64, i32, i32, i16)> {
    out.messages
        .iter()
        .flat_map(|(_, m)| match m {
            Message::Produce(r) => r
                .partitions
                .iter()
                .map(|p| {
                    let s = p
                        .producer
                        .expect("an idempotent producer stamps every batch");
                    (
                        r.correlation_id,
                        s.base_sequence,
                        s.last_sequence,
                        s.producer_epoch,
                    )
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// `enable.idempotence`: no batch goes out before InitProducerId is answered; batches are
/// numbered per partition; a retried batch keeps its sequences; and an OUT_OF_ORDER_SEQUENCE
/// _NUMBER for the batch right after the last acknowledged one bumps the epoch and numbers
/// the partition from 0 again (`TransactionManager`, KIP-360).
#[test]
fn an_idempotent_producer_numbers_its_batches_and_bumps_its_epoch_on_a_gap() {
    let config = ProducerConfig {
        enable_idempotence: true,
        linger_ms: 0,
        ..ProducerConfig::default()
    };
    let mut p = Producer::new(ProducerSettings {
        index: 0,
        name: "p".into(),
        topic: "orders".into(),
        records: 10,
        rate_per_sec: 1000.0,
        keys: None,
        value_bytes: ValueBytes::Label,
        start_ms: 0,
        config,
        transactions: TransactionWorkload::default(),
        bootstrap: vec![0, 1, 2],
        seed: 7,
    });
    let mut out = Output::default();
    p.start(0, &mut out);
    let init = out
        .messages
        .iter()
        .find_map(|(to, m)| match m {
            Message::InitProducerId(r) => Some((*to, r.correlation_id)),
            _ => None,
        })
        .expect("an InitProducerId at start");
    answer_metadata(&mut p, 0, metadata(&[(0, Some(1), 0)]));
    let mut out = Output::default();
    p.on_timer(0, ProducerTimer::Generate, &mut out);
    assert!(produces(&out).is_empty(), "no producer id yet");

    let mut out = Output::default();
    p.on_message(
        1,
        init.0,
        Message::InitProducerIdResponse(InitProducerIdResponse {
            correlation_id: init.1,
            error: ErrorCode::None,
            producer_id: 4000,
            producer_epoch: 0,
        }),
        &mut out,
    );
    let first = stamps(&out);
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].1, first[0].3), (0, 0), "sequence 0, epoch 0");
    let mut out = Output::default();
    p.on_timer(2, ProducerTimer::Generate, &mut out);
    let second = stamps(&out);
    assert_eq!((second[0].1, second[0].3), (first[0].2 + 1, 0));

    // The first is acknowledged; the second hears of a gap: the leader lost what it had.
    let mut out = Output::default();
    p.on_message(
        3,
        NodeId::Broker(1),
        answer(first[0].0, ErrorCode::None, Some(0)),
        &mut out,
    );
    let mut out = Output::default();
    p.on_message(
        4,
        NodeId::Broker(1),
        answer(second[0].0, ErrorCode::OutOfOrderSequenceNumber, None),
        &mut out,
    );
    let mut out = Output::default();
    p.on_timer(200, ProducerTimer::Wake, &mut out);
    let retried = stamps(&out);
    assert_eq!(
        (retried[0].1, retried[0].3),
        (0, 1),
        "renumbered from 0 in epoch 1: {retried:?}"
    );
}

/// A scripted workload (a scenario's `sequence`): the producer sends exactly its records, in
/// order and at its rate, each keyed record to the partition murmur2 gives its key, a
/// tombstone with a null value and no value bytes, an explicit timestamp as the record's
/// CreateTime and the others stamped with the producer's clock.
#[test]
fn a_scripted_producer_sends_exactly_its_records() {
    let config = ProducerConfig {
        linger_ms: 0,
        ..ProducerConfig::default()
    };
    let scripted = |key: &str, value: Option<&str>, timestamp_ms: Option<u64>| ScriptedRecord {
        key: Some(key.to_string()),
        value: value.map(str::to_string),
        timestamp_ms,
    };
    let script = vec![
        scripted("K1", Some("v1"), None),
        scripted("K2", None, Some(5)),
        scripted("K1", Some("v2"), None),
    ];
    let mut p = Producer::new(ProducerSettings {
        records: 3,
        ..settings(config)
    })
    .with_script(script);
    let mut out = Output::default();
    p.start(0, &mut out);
    answer_metadata(
        &mut p,
        0,
        metadata(&[(0, Some(0), 0), (1, Some(1), 0), (2, Some(2), 0)]),
    );
    let mut records: Vec<(u32, ProducerRecord)> = Vec::new();
    for now in [0, 1, 2, 3] {
        let mut out = Output::default();
        p.on_timer(now, ProducerTimer::Generate, &mut out);
        p.on_timer(now, ProducerTimer::Wake, &mut out);
        for (_, message) in &out.messages {
            if let Message::Produce(request) = message {
                for part in &request.partitions {
                    for r in &part.records {
                        records.push((part.tp.partition, r.clone()));
                    }
                }
            }
        }
    }
    records.sort_by_key(|(_, r)| r.id.seq);
    /// (partition, key, value, timestamp, value bytes)
    type Seen<'a> = (u32, Option<&'a str>, Option<&'a str>, u64, u32);
    let seen: Vec<Seen> = records
        .iter()
        .map(|(partition, r)| {
            (
                *partition,
                r.key.as_deref(),
                r.value.as_deref(),
                r.timestamp_ms,
                r.value_bytes,
            )
        })
        .collect();
    let k1 = partition_for_key(b"K1", 3);
    let k2 = partition_for_key(b"K2", 3);
    assert_eq!(
        seen,
        [
            (k1, Some("K1"), Some("v1"), 0, 2),
            (k2, Some("K2"), None, 5, 0),
            (k1, Some("K1"), Some("v2"), 2, 2),
        ],
        "records 0..=2 are due at t=0, 1, 2 (rate 1000/s)"
    );
    assert_eq!(p.counts().0, 3, "no record beyond the script");
}

#[test]
#[should_panic(expected = "a scripted producer sends its script's records")]
fn a_script_must_have_the_workloads_record_count() {
    let _ = Producer::new(settings(ProducerConfig::default())).with_script(Vec::new());
}

// ---- the transactional producer ----

/// A transactional producer `p` (transactional id `tx`) of `records` records at `rate` per
/// second, `per_transaction` to a transaction, aborting every `abort_every`-th, to the one
/// partition `orders-0`.
fn transactional(
    records: u64,
    rate_per_sec: f64,
    per_transaction: u32,
    abort_every: u32,
    linger_ms: u64,
) -> Producer {
    let config = ProducerConfig {
        enable_idempotence: true,
        transactional_id: Some("tx".into()),
        linger_ms,
        ..ProducerConfig::default()
    };
    Producer::new(ProducerSettings {
        records,
        rate_per_sec,
        config: config.clone(),
        transactions: TransactionWorkload {
            records_per_transaction: per_transaction,
            abort_every,
        },
        ..settings(config)
    })
}

/// The one message of `out` that `pick` takes, with where it went.
fn sent_one<T>(out: &Output<ProducerTimer>, pick: impl Fn(&Message) -> Option<T>) -> (NodeId, T) {
    let mut found: Vec<(NodeId, T)> = out
        .messages
        .iter()
        .filter_map(|(to, m)| pick(m).map(|t| (*to, t)))
        .collect();
    assert_eq!(found.len(), 1, "one such message in {:?}", out.messages);
    found.pop().expect("one")
}

fn none_sent(out: &Output<ProducerTimer>, pick: impl Fn(&Message) -> bool) -> bool {
    !out.messages.iter().any(|(_, m)| pick(m))
}

fn is_produce(m: &Message) -> bool {
    matches!(m, Message::Produce(_))
}

fn end_txn(m: &Message) -> Option<EndTxnRequest> {
    match m {
        Message::EndTxn(r) => Some(r.clone()),
        _ => None,
    }
}

fn add_partitions(m: &Message) -> Option<AddPartitionsToTxnRequest> {
    match m {
        Message::AddPartitionsToTxn(r) => Some(r.clone()),
        _ => None,
    }
}

fn init_producer_id(m: &Message) -> Option<InitProducerIdRequest> {
    match m {
        Message::InitProducerId(r) => Some(r.clone()),
        _ => None,
    }
}

const COORDINATOR: NodeId = NodeId::Broker(2);

/// Starts `p` at t=0 and takes it through `initTransactions()`: FindCoordinator (key type
/// Transaction) to a bootstrap broker, then, after the backoff of a request that first had
/// to find its coordinator, InitProducerId with the transactional id to the coordinator,
/// answered with producer id 4000, epoch 0. Returns the time reached.
fn init_transactions(p: &mut Producer) -> u64 {
    let mut out = Output::default();
    p.start(0, &mut out);
    let (_, find) = sent_one(&out, |m| match m {
        Message::FindCoordinator(r) => Some(r.clone()),
        _ => None,
    });
    assert_eq!(
        (find.key_type, find.key.as_str()),
        (CoordinatorType::Transaction, "tx")
    );
    assert!(none_sent(&out, |m| init_producer_id(m).is_some()));
    answer_metadata(p, 0, metadata(&[(0, Some(1), 0)]));
    let mut out = Output::default();
    p.on_message(
        1,
        NodeId::Broker(0),
        Message::FindCoordinatorResponse(FindCoordinatorResponse {
            correlation_id: find.correlation_id,
            error: ErrorCode::None,
            coordinator: Some(2),
        }),
        &mut out,
    );
    assert!(
        none_sent(&out, |m| init_producer_id(m).is_some()),
        "backoff"
    );
    let mut out = Output::default();
    p.on_timer(101, ProducerTimer::TxnRetry, &mut out);
    let (to, init) = sent_one(&out, init_producer_id);
    assert_eq!(to, COORDINATOR);
    assert_eq!(init.transactional_id.as_deref(), Some("tx"));
    assert_eq!((init.producer_id, init.producer_epoch), (-1, -1));
    assert_eq!(init.transaction_timeout_ms, 60_000);
    let mut out = Output::default();
    p.on_message(
        102,
        COORDINATOR,
        init_answer(init.correlation_id, ErrorCode::None),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionsInitialized {
            producer_id: 4000,
            producer_epoch: 0,
            epoch_bump: false,
            ..
        }
    )));
    102
}

fn init_answer(correlation_id: u64, error: ErrorCode) -> Message {
    Message::InitProducerIdResponse(InitProducerIdResponse {
        correlation_id,
        error,
        producer_id: 4000,
        producer_epoch: 0,
    })
}

fn add_partitions_answer(request: &AddPartitionsToTxnRequest, error: ErrorCode) -> Message {
    Message::AddPartitionsToTxnResponse(AddPartitionsToTxnResponse {
        correlation_id: request.correlation_id,
        results: request
            .partitions
            .iter()
            .map(|tp| (tp.clone(), error))
            .collect(),
    })
}

fn end_txn_answer(request: &EndTxnRequest, error: ErrorCode) -> Message {
    Message::EndTxnResponse(EndTxnResponse {
        correlation_id: request.correlation_id,
        error,
        producer_id: -1,
        producer_epoch: -1,
    })
}

/// The transaction of the events of `out` of this kind, in order.
fn transactions_of(out: &Output<ProducerTimer>, kind: &str) -> Vec<Option<TransactionRef>> {
    out.events
        .iter()
        .filter(|e| e.kind() == kind)
        .map(|e| match e {
            Event::RecordSent { transaction, .. }
            | Event::Acknowledged { transaction, .. }
            | Event::ProduceFailed { transaction, .. } => *transaction,
            _ => None,
        })
        .collect()
}

/// `KafkaProducer` with a `transactional.id`: initTransactions, beginTransaction, the
/// partition added (AddPartitionsToTxn) before its first batch goes, the batch transactional,
/// and EndTxn(COMMIT) only once every batch is acknowledged (`TransactionManager.nextRequest`).
#[test]
fn a_transactional_producer_adds_its_partition_first_and_commits_after_every_ack() {
    let mut p = transactional(3, 1000.0, 3, 0, 0);
    let now = init_transactions(&mut p);
    let mut out = Output::default();
    p.on_timer(now, ProducerTimer::Generate, &mut out);
    let txn1 = TransactionRef {
        producer_id: 4000,
        producer_epoch: 0,
        number: 1,
    };
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionBegun { transaction, .. } if *transaction == txn1
    )));
    assert_eq!(transactions_of(&out, "record-sent"), vec![Some(txn1); 3]);
    let (to, add) = sent_one(&out, add_partitions);
    assert_eq!(to, COORDINATOR);
    assert_eq!(add.partitions, vec![TopicPartition::new("orders", 0)]);
    assert_eq!((add.producer_id, add.producer_epoch), (4000, 0));
    assert_eq!(add.transaction_version, TransactionVersion::V0);
    assert!(
        none_sent(&out, is_produce),
        "no batch before its partition is added"
    );
    assert!(none_sent(&out, |m| end_txn(m).is_some()));

    let mut out = Output::default();
    p.on_message(
        now + 1,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    let (_, produce) = sent_one(&out, |m| match m {
        Message::Produce(r) => Some(r.clone()),
        _ => None,
    });
    let stamp = produce.partitions[0].producer.expect("stamped");
    assert!(stamp.is_transactional);
    assert!(
        none_sent(&out, |m| end_txn(m).is_some()),
        "the batch is not acknowledged yet"
    );

    let mut out = Output::default();
    p.on_message(
        now + 2,
        NodeId::Broker(1),
        answer(produce.correlation_id, ErrorCode::None, Some(0)),
        &mut out,
    );
    assert_eq!(transactions_of(&out, "acknowledged"), vec![Some(txn1)]);
    let (to, end) = sent_one(&out, end_txn);
    assert_eq!(to, COORDINATOR);
    assert!(end.committed);
    assert_eq!((end.producer_id, end.producer_epoch), (4000, 0));
    assert_eq!(end.transaction_version, TransactionVersion::V0);

    let mut out = Output::default();
    p.on_message(
        now + 3,
        COORDINATOR,
        end_txn_answer(&end, ErrorCode::None),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionCommitted { transaction, records: 3, partitions, .. }
            if *transaction == txn1 && partitions == &vec![TopicPartition::new("orders", 0)]
    )));
    assert!(p.is_done());
}

/// `abort_every = 2`: the first transaction commits, the second is aborted by the
/// application; its batch, held back by linger.ms, is dropped unsent
/// (`abortUndrainedBatches`) and EndTxn(ABORT) follows. A commit does not wait for
/// linger.ms (`transactionCompleting` makes batches ready).
#[test]
fn every_abort_every_th_transaction_is_aborted_and_its_unsent_batches_dropped() {
    let mut p = transactional(4, 1.0, 2, 2, 10_000);
    init_transactions(&mut p);
    // Records are due at t=0, 1000, 2000 and 3000.
    let mut out = Output::default();
    p.on_timer(200, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        201,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    assert!(none_sent(&out, is_produce), "linger.ms holds the batch");
    let mut out = Output::default();
    p.on_timer(1000, ProducerTimer::Generate, &mut out);
    let produced = produces(&out);
    assert_eq!(produced.len(), 1, "the commit flushes: {:?}", out.messages);
    assert_eq!(produced[0].3, 2);
    let mut out = Output::default();
    p.on_message(
        1001,
        NodeId::Broker(1),
        answer(produced[0].1, ErrorCode::None, Some(0)),
        &mut out,
    );
    let (_, commit) = sent_one(&out, end_txn);
    assert!(commit.committed);
    let mut out = Output::default();
    p.on_message(
        1002,
        COORDINATOR,
        end_txn_answer(&commit, ErrorCode::None),
        &mut out,
    );
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, Event::TransactionCommitted { .. })));

    let mut out = Output::default();
    p.on_timer(2000, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        2001,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    let mut out = Output::default();
    p.on_timer(3000, ProducerTimer::Generate, &mut out);
    let txn2 = TransactionRef {
        producer_id: 4000,
        producer_epoch: 0,
        number: 2,
    };
    assert!(
        out.events.iter().any(|e| matches!(
            e,
            Event::ProduceFailed { error: ErrorCode::TransactionAborted, ids, transaction: Some(t), .. }
                if ids.len() == 2 && *t == txn2
        )),
        "{:?}",
        out.events
    );
    assert!(none_sent(&out, is_produce));
    let (_, abort) = sent_one(&out, end_txn);
    assert!(!abort.committed);
    let mut out = Output::default();
    p.on_message(
        3001,
        COORDINATOR,
        end_txn_answer(&abort, ErrorCode::None),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionAborted { transaction, records: 2, reason: AbortReason::Application, .. }
            if *transaction == txn2
    )));
    assert!(p.is_done());
}

/// CONCURRENT_TRANSACTIONS (the coordinator is still completing an earlier transaction of
/// the id) is retried after retry.backoff.ms (InitProducerId), or after at most 20 ms for
/// the first AddPartitionsToTxn of a transaction (`ADD_PARTITIONS_RETRY_BACKOFF_MS`).
#[test]
fn concurrent_transactions_is_retried_after_the_backoff() {
    let mut p = transactional(1, 1000.0, 1, 0, 0);
    let mut out = Output::default();
    p.start(0, &mut out);
    answer_metadata(&mut p, 0, metadata(&[(0, Some(1), 0)]));
    let (_, find) = sent_one(&out, |m| match m {
        Message::FindCoordinator(r) => Some(r.correlation_id),
        _ => None,
    });
    let mut out = Output::default();
    p.on_message(
        1,
        NodeId::Broker(0),
        Message::FindCoordinatorResponse(FindCoordinatorResponse {
            correlation_id: find,
            error: ErrorCode::None,
            coordinator: Some(2),
        }),
        &mut out,
    );
    let mut out = Output::default();
    p.on_timer(101, ProducerTimer::TxnRetry, &mut out);
    let (_, init) = sent_one(&out, init_producer_id);
    let mut out = Output::default();
    p.on_message(
        102,
        COORDINATOR,
        init_answer(init.correlation_id, ErrorCode::ConcurrentTransactions),
        &mut out,
    );
    assert!(none_sent(&out, |m| init_producer_id(m).is_some()));
    assert!(out
        .events
        .iter()
        .all(|e| !matches!(e, Event::TransactionsInitialized { .. })));
    let mut out = Output::default();
    p.on_timer(150, ProducerTimer::TxnRetry, &mut out);
    assert!(
        none_sent(&out, |m| init_producer_id(m).is_some()),
        "not before t=202"
    );
    let mut out = Output::default();
    p.on_timer(202, ProducerTimer::TxnRetry, &mut out);
    let (to, init) = sent_one(&out, init_producer_id);
    assert_eq!(
        to, COORDINATOR,
        "the same coordinator: no need to look again"
    );
    let mut out = Output::default();
    p.on_message(
        203,
        COORDINATOR,
        init_answer(init.correlation_id, ErrorCode::None),
        &mut out,
    );

    let mut out = Output::default();
    p.on_timer(203, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        204,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::ConcurrentTransactions),
        &mut out,
    );
    assert!(none_sent(&out, |m| add_partitions(m).is_some()));
    let mut out = Output::default();
    p.on_timer(224, ProducerTimer::TxnRetry, &mut out);
    let (_, again) = sent_one(&out, add_partitions);
    assert_eq!(again.partitions, add.partitions);
    let mut out = Output::default();
    p.on_message(
        225,
        COORDINATOR,
        add_partitions_answer(&again, ErrorCode::None),
        &mut out,
    );
    assert_eq!(
        produces(&out).len(),
        1,
        "the batch goes once its partition is added"
    );
}

/// PRODUCER_FENCED (a newer instance of the transactional id bumped the epoch) is fatal:
/// the application closes the producer, its batches fail, and it sends nothing more.
#[test]
fn producer_fenced_is_fatal_and_nothing_more_is_sent() {
    let mut p = transactional(6, 1000.0, 3, 0, 0);
    let now = init_transactions(&mut p);
    let mut out = Output::default();
    p.on_timer(now, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        now + 1,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::ProducerFenced),
        &mut out,
    );
    assert!(
        out.events.iter().any(|e| matches!(
            e,
            Event::TransactionalProducerFailed {
                error: ErrorCode::ProducerFenced,
                producer_id: 4000,
                producer_epoch: 0,
                transaction: Some(TransactionRef { number: 1, .. }),
                ..
            }
        )),
        "{:?}",
        out.events
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::ProduceFailed { error: ErrorCode::ProducerFenced, ids, .. } if ids.len() == 3
    )));
    assert!(out.messages.is_empty(), "{:?}", out.messages);
    assert!(p.is_done());
    for (t, timer) in [
        (now + 10, ProducerTimer::Generate),
        (now + 20, ProducerTimer::Wake),
        (now + 200, ProducerTimer::TxnRetry),
        (now + 300, ProducerTimer::MetadataRetry),
    ] {
        let mut out = Output::default();
        p.on_timer(t, timer, &mut out);
        assert!(
            out.messages.is_empty() && out.events.is_empty(),
            "{:?}",
            out
        );
    }
}

/// A batch that fails for good makes the transaction abortable: the application, waiting
/// in commitTransaction(), gets the error and aborts (no EndTxn(COMMIT) is sent), then goes
/// on with the next transaction.
#[test]
fn a_failed_batch_makes_the_application_abort_and_go_on() {
    let mut p = transactional(4, 1000.0, 3, 0, 0);
    let now = init_transactions(&mut p);
    let mut out = Output::default();
    p.on_timer(now, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        now + 1,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    let produced = produces(&out);
    assert_eq!(produced.len(), 1);
    let mut out = Output::default();
    p.on_message(
        now + 2,
        NodeId::Broker(1),
        answer(produced[0].1, ErrorCode::InvalidRecord, None),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::ProduceFailed {
            error: ErrorCode::InvalidRecord,
            transaction: Some(TransactionRef { number: 1, .. }),
            ..
        }
    )));
    let (_, abort) = sent_one(&out, end_txn);
    assert!(!abort.committed, "the commit threw; the application aborts");
    let mut out = Output::default();
    p.on_message(
        now + 3,
        COORDINATOR,
        end_txn_answer(&abort, ErrorCode::None),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionAborted {
            transaction: TransactionRef { number: 1, .. },
            reason: AbortReason::Error(ErrorCode::InvalidRecord),
            records: 3,
            ..
        }
    )));
    assert!(
        out.events.iter().any(|e| matches!(
            e,
            Event::TransactionBegun {
                transaction: TransactionRef { number: 2, .. },
                ..
            }
        )),
        "the application goes on: {:?}",
        out.events
    );
    let (_, add) = sent_one(&out, add_partitions);
    assert_eq!(add.partitions, vec![TopicPartition::new("orders", 0)]);
}

/// A batch that fails while the transaction is still open (not committing) leaves sequences
/// that cannot be trusted: after the abort, InitProducerId names the current producer id and
/// epoch and the coordinator bumps the epoch (KIP-360); the next transaction's batches are
/// numbered from 0 under it.
#[test]
fn a_batch_failed_in_an_open_transaction_bumps_the_epoch_after_the_abort() {
    // Records are due at t=0, 1000 and 2000: transaction 1 is open with record 0 only.
    let mut p = transactional(3, 1.0, 2, 0, 0);
    let now = init_transactions(&mut p);
    let mut out = Output::default();
    p.on_timer(now, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        now + 1,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    let produced = produces(&out);
    let mut out = Output::default();
    p.on_message(
        now + 2,
        NodeId::Broker(1),
        answer(produced[0].1, ErrorCode::InvalidProducerEpoch, None),
        &mut out,
    );
    assert!(
        none_sent(&out, |m| end_txn(m).is_some()),
        "learnt at the next call"
    );
    // The application's next send() throws: it aborts.
    let mut out = Output::default();
    p.on_timer(1000, ProducerTimer::Generate, &mut out);
    assert!(out.events.iter().all(|e| e.kind() != "record-sent"));
    let (_, abort) = sent_one(&out, end_txn);
    assert!(!abort.committed);
    let mut out = Output::default();
    p.on_message(
        now + 3,
        COORDINATOR,
        end_txn_answer(&abort, ErrorCode::None),
        &mut out,
    );
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, Event::TransactionAborted { .. })));
    let (_, bump) = sent_one(&out, init_producer_id);
    assert_eq!(
        (bump.producer_id, bump.producer_epoch),
        (4000, 0),
        "KIP-360"
    );
    let mut out = Output::default();
    p.on_message(
        1002,
        COORDINATOR,
        Message::InitProducerIdResponse(InitProducerIdResponse {
            correlation_id: bump.correlation_id,
            error: ErrorCode::None,
            producer_id: 4000,
            producer_epoch: 1,
        }),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionsInitialized {
            producer_epoch: 1,
            epoch_bump: true,
            ..
        }
    )));
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionBegun {
            transaction: TransactionRef {
                producer_epoch: 1,
                number: 2,
                ..
            },
            ..
        }
    )));
    let (_, add) = sent_one(&out, add_partitions);
    assert_eq!(add.producer_epoch, 1);
    let mut out = Output::default();
    p.on_message(
        1003,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    let (_, produce) = sent_one(&out, |m| match m {
        Message::Produce(r) => Some(r.clone()),
        _ => None,
    });
    let stamp = produce.partitions[0].producer.expect("stamped");
    assert_eq!((stamp.producer_epoch, stamp.base_sequence), (1, 0));
    assert_eq!(
        produce.partitions[0].records[0].id.seq, 1,
        "the record whose send threw opens the next transaction"
    );
}
