//! The log layer on running brokers: retention and the cleaner on each replica's own log,
//! a follower restarting its log at its leader's log start, DeleteRecords and the leader's
//! refusals of batches.
use super::*;
use crate::config::{KafkaVersion, TopicConfig};
use crate::event::LogStartOffsetCause;
use crate::log::config::{CleanupPolicy, LogConfig};
use log_manager::LOG_RETENTION_INITIAL_DELAY_MS;

/// `tp()`'s topic on every broker of `c` gets `log` (before any LeaderAndIsr creates a log).
fn set_topic_log_config(c: &mut Cluster, log: LogConfig) {
    for broker in c.brokers.values_mut() {
        let topic = TopicConfig {
            log: log.clone(),
            ..TopicConfig::default()
        };
        broker.topic_configs.insert(tp().topic.clone(), topic);
    }
}

/// A produce of one batch whose records carry `keys` (sequence numbers from `first_seq`).
fn produce_keyed(c: &mut Cluster, to: BrokerId, keys: &[Option<&str>], first_seq: u64) {
    let records = keys
        .iter()
        .enumerate()
        .map(|(i, key)| (*key, first_seq + i as u64))
        .collect();
    c.produce_batch(to, Acks::All, records, None);
}

fn log_of(c: &Cluster, b: BrokerId) -> &Log {
    &c.brokers[&b].disk().logs[&tp()]
}

/// Small segments, so that a few batches make several.
fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        ..LogConfig::KAFKA_DEFAULT
    }
}

#[test]
fn new_logs_get_their_topics_configs_and_the_offsets_topic_is_compacted() {
    let mut c = Cluster::new(3, config());
    set_topic_log_config(&mut c, small_segments());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    for b in 0..3 {
        assert_eq!(log_of(&c, b).config().segment_bytes, 300);
    }
    let offsets = c.brokers[&0].log_config(&TopicPartition::new(OFFSETS_TOPIC, 0));
    assert!(offsets.cleanup_policy.compact && !offsets.cleanup_policy.delete);
    assert_eq!(offsets.segment_bytes, config().offsets_topic_segment_bytes);
}

#[test]
fn appends_tell_their_segment_rolls_on_every_replica() {
    let mut c = Cluster::new(3, config());
    set_topic_log_config(&mut c, small_segments());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    for i in 0..6 {
        c.produce(0, Acks::All, i * 3..i * 3 + 3);
        c.run(50);
    }
    for b in 0..3 {
        let rolls = c
            .events
            .iter()
            .filter(|e| matches!(e, Event::SegmentRolled { broker, .. } if *broker == b))
            .count();
        assert!(rolls > 0, "broker {b} rolled no segment");
        assert_eq!(rolls, log_of(&c, b).segments().len() - 1);
    }
}

#[test]
fn a_retention_pass_deletes_on_leader_and_follower_each_by_its_own_timer() {
    let mut cfg = config();
    cfg.cleaner.retention_check_interval_ms = 1_000;
    let mut c = Cluster::new(3, cfg);
    set_topic_log_config(
        &mut c,
        LogConfig {
            retention_ms: Some(5_000),
            ..small_segments()
        },
    );
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    for i in 0..6 {
        c.produce(0, Acks::All, i * 3..i * 3 + 3);
        c.run(50);
    }
    assert_eq!(c.hw(0), 18);
    // Broker 2 is down when the retention threads first run (30 s after start).
    c.down.insert(2);
    c.run(LOG_RETENTION_INITIAL_DELAY_MS);
    let deleted_by = |c: &Cluster, b: BrokerId| {
        c.events
            .iter()
            .any(|e| matches!(e, Event::SegmentsDeleted { broker, .. } if *broker == b))
    };
    assert!(deleted_by(&c, 0), "the leader's retention deleted segments");
    assert!(
        deleted_by(&c, 1),
        "the follower's own retention deleted segments"
    );
    assert!(!deleted_by(&c, 2), "a broker that is down deletes nothing");
    assert_eq!(log_of(&c, 0).log_start_offset(), 18);
    assert_eq!(log_of(&c, 1).log_start_offset(), 18);
    assert_eq!(log_of(&c, 2).log_start_offset(), 0);
    // Nothing more to delete: the next passes are silent.
    let before = c.events.len();
    c.run(3_000);
    assert!(!c.events[before..]
        .iter()
        .any(|e| matches!(e, Event::SegmentsDeleted { .. })));
}

#[test]
fn the_cleaner_compacts_a_followers_log_on_its_own() {
    let mut c = Cluster::new(3, config());
    // Only broker 1 runs a cleaner thread.
    for b in [0, 2] {
        c.brokers.get_mut(&b).unwrap().config.cleaner.enable = false;
    }
    c.brokers.get_mut(&1).unwrap().config.cleaner.backoff_ms = 1_000;
    set_topic_log_config(
        &mut c,
        LogConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            ..small_segments()
        },
    );
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    for i in 0..6 {
        produce_keyed(&mut c, 0, &[Some("k"), Some("k"), Some("j")], i * 3);
        c.run(50);
    }
    c.run(2_000);
    let cleaned: Vec<&Event> = c
        .events
        .iter()
        .filter(|e| matches!(e, Event::LogCleaned { .. }))
        .collect();
    assert!(!cleaned.is_empty(), "the follower's cleaner ran");
    assert!(cleaned
        .iter()
        .all(|e| matches!(e, Event::LogCleaned { broker: 1, .. })));
    let Event::LogCleaned { superseded, .. } = cleaned[0] else {
        unreachable!()
    };
    assert!(!superseded.is_empty(), "older records of a key went");
    let kept = |b: BrokerId| log_of(&c, b).records().count();
    assert_eq!(kept(0), 18, "the leader's log is untouched");
    assert!(kept(1) < 18, "the follower's log lost superseded records");
    assert_eq!(
        log_of(&c, 1).log_end_offset(),
        log_of(&c, 0).log_end_offset()
    );
}

#[test]
fn a_keyless_record_on_a_compacted_topic_is_refused_by_release() {
    for (release, expected) in [
        ("3.7.0", ErrorCode::InvalidRecord),
        ("2.3.1", ErrorCode::CorruptMessage),
    ] {
        let kafka_version = KafkaVersion::parse(release).expect("a modelled release");
        let mut c = Cluster::new(
            3,
            BrokerConfig {
                kafka_version,
                inter_broker_protocol_version: kafka_version.protocol_version(),
                ..config()
            },
        );
        set_topic_log_config(
            &mut c,
            LogConfig {
                cleanup_policy: CleanupPolicy::COMPACT,
                ..LogConfig::KAFKA_DEFAULT
            },
        );
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.run(10);
        produce_keyed(&mut c, 0, &[Some("k"), None], 0);
        c.run(10);
        let answer = c.to_clients.pop().expect("an answer");
        assert_eq!(produce_answer(&answer), (expected, None), "{release}");
        assert_eq!(c.leo(0), 0, "nothing of the batch is written");
    }
    assert!(!ErrorCode::InvalidRecord.is_retriable());
    assert!(ErrorCode::CorruptMessage.is_retriable());
    assert!(!ErrorCode::RecordListTooLarge.is_retriable());
}

#[test]
fn a_batch_larger_than_a_segment_is_refused() {
    let mut c = Cluster::new(3, config());
    set_topic_log_config(&mut c, small_segments());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.produce(0, Acks::All, 0..100);
    c.run(10);
    let answer = c.to_clients.pop().expect("an answer");
    assert_eq!(
        produce_answer(&answer),
        (ErrorCode::RecordListTooLarge, None)
    );
    assert_eq!(c.leo(0), 0);
}

fn delete_records(c: &mut Cluster, to: BrokerId, before_offset: Option<u64>, timeout_ms: u64) {
    c.wire.push_back((
        NodeId::Broker(to),
        NodeId::Admin,
        Message::DeleteRecords(DeleteRecordsRequest {
            correlation_id: 7,
            timeout_ms,
            partitions: vec![(tp(), before_offset)],
        }),
    ));
}

fn delete_records_answers(c: &Cluster) -> Vec<(ErrorCode, Option<u64>)> {
    c.events
        .iter()
        .filter_map(|e| match e {
            Event::DeleteRecordsAnswered { results, .. } => {
                assert_eq!(results.len(), 1);
                Some((results[0].1, results[0].2))
            }
            _ => None,
        })
        .collect()
}

/// Broker 2 has records 0 and 1, then is down while the leader (0) and broker 1 take records
/// 2 to 5 and DeleteRecords moves the log start offset to 5.
fn cluster_with_deleted_records() -> Cluster {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.produce(0, Acks::All, 0..2);
    c.run(100);
    assert_eq!(c.leo(2), 2);
    c.down.insert(2);
    c.announce_live_brokers(0, vec![0, 1]);
    c.leader_and_isr_to(&[0, 1], 0, 1, vec![0, 1], 1);
    c.run(10);
    c.produce(0, Acks::All, 2..6);
    // Broker 1's fetch in flight at epoch 0 is fenced and backs off first.
    c.run(2_000);
    assert_eq!(c.hw(0), 6);
    delete_records(&mut c, 0, Some(5), 10_000);
    c.run(1_000);
    c
}

#[test]
fn delete_records_answers_with_the_low_watermark_once_the_followers_followed() {
    let mut c = cluster_with_deleted_records();
    assert!(c.events.iter().any(|e| matches!(
        e,
        Event::LogStartOffsetIncremented {
            broker: 0,
            log_start_offset: 5,
            cause: LogStartOffsetCause::DeleteRecords,
            removed,
            ..
        } if removed.len() == 5
    )));
    // Broker 1 learned the leader's log start offset from a fetch, and the leader learned
    // broker 1's from the next one: the answer came then.
    assert!(c.events.iter().any(|e| matches!(
        e,
        Event::LogStartOffsetIncremented {
            broker: 1,
            log_start_offset: 5,
            cause: LogStartOffsetCause::LeaderLogStartOffset,
            ..
        }
    )));
    assert_eq!(delete_records_answers(&c), vec![(ErrorCode::None, Some(5))]);
    // Past the high watermark: OFFSET_OUT_OF_RANGE; a follower: NOT_LEADER_OR_FOLLOWER.
    delete_records(&mut c, 0, Some(7), 10_000);
    delete_records(&mut c, 1, Some(5), 10_000);
    c.run(10);
    assert_eq!(
        delete_records_answers(&c)[1..],
        [
            (ErrorCode::OffsetOutOfRange, None),
            (ErrorCode::NotLeaderOrFollower, None)
        ]
    );
}

#[test]
fn delete_records_times_out_while_a_live_replica_has_not_followed() {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.produce(0, Acks::All, 0..4);
    c.run(100);
    // Broker 2 stops fetching but is still alive in the leader's metadata.
    c.down.insert(2);
    delete_records(&mut c, 0, None, 2_000);
    c.run(1_000);
    assert!(delete_records_answers(&c).is_empty(), "still waiting");
    c.run(1_500);
    assert_eq!(
        delete_records_answers(&c),
        vec![(ErrorCode::RequestTimedOut, None)]
    );
}

#[test]
fn a_follower_behind_the_leaders_log_start_restarts_its_log_there() {
    let mut c = cluster_with_deleted_records();
    c.down.remove(&2);
    c.announce_live_brokers(0, vec![0, 1, 2]);
    // Its fetch was lost while it was down: the connection reset tells it so.
    c.wire.push_back((
        NodeId::Broker(2),
        NodeId::Broker(0),
        Message::Disconnected(Disconnected {
            peer: NodeId::Broker(0),
        }),
    ));
    c.leader_and_isr_to(&[2], 0, 1, vec![0, 1], 1);
    c.run(3_000);
    let restarted: Vec<&Event> = c
        .events
        .iter()
        .filter(|e| matches!(e, Event::LogRestartedAt { .. }))
        .collect();
    let told: Vec<(BrokerId, u64, Vec<u64>)> = restarted
        .iter()
        .map(|e| match e {
            Event::LogRestartedAt {
                broker,
                offset,
                removed,
                ..
            } => (*broker, *offset, removed.iter().map(|(o, _)| *o).collect()),
            _ => unreachable!(),
        })
        .collect();
    // First at the leader's log start offset, dropping records 0 and 1; then, since that
    // offset is inside the leader's batch 2..=5, at the batch's base offset (Kafka's
    // `UnexpectedAppendOffsetException` handling), before the fetch answer's log start
    // offset moves it up again.
    assert_eq!(told, vec![(2, 5, vec![0, 1]), (2, 2, vec![])]);
    assert_eq!(log_of(&c, 2).log_start_offset(), 5);
    assert_eq!(
        c.leo(2),
        6,
        "it fetched the rest from the leader's log start"
    );
}
