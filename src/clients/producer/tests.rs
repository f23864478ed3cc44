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

mod transactional;
