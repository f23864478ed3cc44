use super::*;
use crate::config::AutoOffsetReset;
use crate::event::Event;

fn tp() -> TopicPartition {
    TopicPartition::new("orders", 0)
}

fn record(offset: u64) -> Record {
    Record {
        offset,
        leader_epoch: 0,
        id: RecordId {
            producer: 0,
            seq: offset,
        },
        timestamp_ms: 0,
        key: None,
        value: Some(String::new()),
        headers: vec![],
        value_bytes: 0,
        size_bytes: 0,
        producer: None,
    }
}

fn started() -> Consumer {
    started_with(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    })
}

/// A consumer of `orders-0` with `config`, started, its position at 0.
fn started_with(config: ConsumerConfig) -> Consumer {
    let mut c = Consumer::new(0, "c".into(), vec!["orders".into()], 0, config, vec![0]);
    let mut out = Output::default();
    c.start(0, &mut out);
    c.on_timer(0, ConsumerTimer::Start, &mut out);
    let mut out = Output::default();
    c.on_message(
        1,
        NodeId::Broker(0),
        Message::MetadataResponse(MetadataResponse {
            correlation_id: 1,
            brokers: vec![0, 1],
            controller_id: Some(0),
            partitions: vec![PartitionMetadata {
                tp: tp(),
                error: ErrorCode::None,
                leader: Some(1),
                leader_epoch: 3,
                replicas: vec![0, 1],
                isr: vec![0, 1],
            }],
        }),
        &mut out,
    );
    let (to, corr) = match &out.messages[0] {
        (
            to,
            Message::ListOffsets(ListOffsetsRequest {
                correlation_id,
                spec: OffsetSpec::Earliest,
                ..
            }),
        ) => (*to, *correlation_id),
        other => panic!("{other:?}"),
    };
    assert_eq!(to, NodeId::Broker(1), "ListOffsets goes to the leader");
    let mut out = Output::default();
    c.on_message(
        2,
        NodeId::Broker(1),
        Message::ListOffsetsResponse(ListOffsetsResponse {
            correlation_id: corr,
            tp: tp(),
            error: ErrorCode::None,
            offset: 0,
            leader_epoch: Some(3),
        }),
        &mut out,
    );
    assert!(matches!(
        out.events[0],
        Event::OffsetReset {
            to: 0,
            from: None,
            ..
        }
    ));
    c
}

#[test]
fn fetches_from_the_leader_with_its_epoch_and_hands_over_records() {
    let mut c = started();
    let mut out = Output::default();
    c.poll(&mut out);
    assert!(out.messages.is_empty(), "one fetch per broker at a time");
    let corr = c.fetch_in_flight[&1];
    let mut out = Output::default();
    c.on_message(
        3,
        NodeId::Broker(1),
        Message::FetchResponse(FetchResponse {
            correlation_id: corr,
            error: ErrorCode::None,
            session_id: 0,
            partitions: vec![FetchPartitionResponse {
                tp: tp(),
                error: ErrorCode::None,
                high_watermark: 2,
                log_start_offset: 0,
                log_end_offset: 5,
                last_stable_offset: 2,
                aborted_transactions: Vec::new(),
                leader_epoch: 3,
                records: vec![RecordBatch::of_records(vec![record(0), record(1)])],
                diverging_epoch: None,
            }],
        }),
        &mut out,
    );
    assert!(
        matches!(&out.events[0], Event::Consumed { records, high_watermark: 2, served_by: 1, .. } if records.len() == 2)
    );
    assert_eq!(c.positions()[&tp()], 2);
    match &out.messages[0].1 {
        Message::Fetch(request) => {
            assert_eq!(request.replica_id, None);
            assert_eq!(request.partitions[0].fetch_offset, 2);
            assert_eq!(request.partitions[0].current_leader_epoch, Some(3));
        }
        other => panic!("{other:?}"),
    }
}

/// A Fetch answer for `tp()` from broker 1 with `records`.
fn fetch_answer(correlation_id: u64, records: Vec<Record>) -> Message {
    Message::FetchResponse(FetchResponse {
        correlation_id,
        error: ErrorCode::None,
        session_id: 0,
        partitions: vec![FetchPartitionResponse {
            tp: tp(),
            error: ErrorCode::None,
            high_watermark: 10,
            log_start_offset: 0,
            log_end_offset: 10,
            last_stable_offset: 10,
            aborted_transactions: Vec::new(),
            leader_epoch: 3,
            records: records
                .into_iter()
                .map(|r| RecordBatch::of_records(vec![r]))
                .collect(),
            diverging_epoch: None,
        }],
    })
}

#[test]
fn an_answer_for_an_offset_the_position_has_left_is_discarded() {
    let mut c = started();
    let corr = c.fetch_in_flight[&1];
    // The fetch asked from 0; meanwhile the position moved to 5 (a reset).
    c.positions.insert(tp(), 5);
    let mut out = Output::default();
    let records = (0..8).map(record).collect();
    c.on_message(3, NodeId::Broker(1), fetch_answer(corr, records), &mut out);
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, Event::Consumed { .. })),
        "a stale answer hands nothing over: {:?}",
        out.events
    );
    assert_eq!(c.positions()[&tp()], 5, "the position stays");
    match &out.messages[..] {
        [(_, Message::Fetch(request))] => assert_eq!(request.partitions[0].fetch_offset, 5),
        other => panic!("the next fetch asks from the position: {other:?}"),
    }
}

#[test]
fn an_answer_for_a_position_awaiting_validation_is_ignored() {
    let mut c = started();
    let corr = c.fetch_in_flight[&1];
    c.last_epoch.insert(tp(), 3);
    c.awaiting_validation.insert(tp(), None);
    let mut out = Output::default();
    let records = vec![record(0), record(1)];
    c.on_message(3, NodeId::Broker(1), fetch_answer(corr, records), &mut out);
    assert!(!out
        .events
        .iter()
        .any(|e| matches!(e, Event::Consumed { .. })));
    assert_eq!(c.positions()[&tp()], 0);
}

#[test]
fn a_fenced_epoch_refreshes_metadata() {
    let mut c = started();
    let corr = c.fetch_in_flight[&1];
    let mut out = Output::default();
    c.on_message(
        3,
        NodeId::Broker(1),
        Message::FetchResponse(FetchResponse {
            correlation_id: corr,
            error: ErrorCode::None,
            session_id: 0,
            partitions: vec![FetchPartitionResponse {
                tp: tp(),
                error: ErrorCode::FencedLeaderEpoch,
                high_watermark: 0,
                log_start_offset: 0,
                log_end_offset: 0,
                last_stable_offset: 0,
                aborted_transactions: Vec::new(),
                leader_epoch: 4,
                records: vec![],
                diverging_epoch: None,
            }],
        }),
        &mut out,
    );
    assert!(out
        .messages
        .iter()
        .any(|(_, m)| matches!(m, Message::Metadata(_))));
    assert!(c.backing_off.contains(&1));
}

/// A group member that has found coordinator 1 and sent its JoinGroup.
fn joining() -> (Consumer, Output<ConsumerTimer>) {
    let config = ConsumerConfig {
        group_id: Some("g".into()),
        ..ConsumerConfig::default()
    };
    let mut c = Consumer::new(0, "c".into(), vec!["orders".into()], 0, config, vec![0]).with_group(
        GroupSettings {
            group_id: "g".into(),
            client_id: "c".into(),
            commit: CommitMode::AfterProcessing,
            processing_ms: 0,
        },
    );
    let mut out = Output::default();
    c.start(0, &mut out);
    let mut out = Output::default();
    c.on_timer(0, ConsumerTimer::Start, &mut out);
    let find = out
        .messages
        .iter()
        .find_map(|(_, m)| match m {
            Message::FindCoordinator(r) => Some(r.correlation_id),
            _ => None,
        })
        .expect("FindCoordinator");
    let mut out = Output::default();
    c.on_message(
        1,
        NodeId::Broker(0),
        Message::FindCoordinatorResponse(FindCoordinatorResponse {
            correlation_id: find,
            error: ErrorCode::None,
            coordinator: Some(1),
        }),
        &mut out,
    );
    assert!(
        out.messages.iter().any(|(to, m)| *to == NodeId::Broker(1)
            && matches!(m, Message::JoinGroup(r) if r.member_id.is_empty())),
        "{:?}",
        out.messages
    );
    (c, out)
}

/// Metadata for `tp()`: led by broker 1 in `leader_epoch`.
fn metadata(correlation_id: u64, leader_epoch: LeaderEpoch) -> Message {
    Message::MetadataResponse(MetadataResponse {
        correlation_id,
        brokers: vec![0, 1],
        controller_id: Some(0),
        partitions: vec![PartitionMetadata {
            tp: tp(),
            error: ErrorCode::None,
            leader: Some(1),
            leader_epoch,
            replicas: vec![0, 1],
            isr: vec![0, 1],
        }],
    })
}

/// Answers the consumer's Metadata request (asking one first if none is out).
fn give_metadata(c: &mut Consumer, leader_epoch: LeaderEpoch, out: &mut Output<ConsumerTimer>) {
    if c.metadata.in_flight().is_none() {
        c.request_metadata(out);
    }
    let corr = c.metadata.in_flight().expect("a Metadata request out");
    c.on_message(
        c.now_ms,
        NodeId::Broker(0),
        metadata(corr, leader_epoch),
        out,
    );
}

/// `tp()`'s committed offset in an OffsetFetch answer.
fn committed(offset: Option<u64>) -> OffsetFetchPartition {
    OffsetFetchPartition {
        tp: tp(),
        offset,
        error: ErrorCode::None,
    }
}

fn record_in_epoch(offset: u64, leader_epoch: LeaderEpoch) -> Record {
    Record {
        leader_epoch,
        ..record(offset)
    }
}

/// Seed 14 of a group with range assignment and a crashing member under the broker
/// nemesis committed 445 after 457: the member read `tp()` in epoch 2, lost it, got it
/// back at the committed 457 (another member read on through epochs 3 and 4), and
/// validated 457 against the epoch 2 it still remembered, which ends at 445.
#[test]
fn a_partition_given_back_forgets_the_epoch_it_was_read_in_before() {
    let (mut c, _) = joining();
    let mut out = Output::default();
    give_metadata(&mut c, 2, &mut out);
    c.on_sync_response(ErrorCode::None, vec![tp()], &mut out);
    c.on_offset_fetch_response(ErrorCode::None, vec![committed(Some(440))], &mut out);
    let corr = c.fetch_in_flight[&1];
    let records = (440..445).map(|o| record_in_epoch(o, 2)).collect();
    c.on_message(3, NodeId::Broker(1), fetch_answer(corr, records), &mut out);
    assert_eq!(c.positions()[&tp()], 445);

    // Lost (a missed rebalance), then given back at the offset another member committed.
    c.lose_membership(false, &mut out);
    c.on_sync_response(ErrorCode::None, vec![tp()], &mut out);
    c.on_offset_fetch_response(ErrorCode::None, vec![committed(Some(457))], &mut out);
    assert_eq!(c.positions()[&tp()], 457);

    // A new leader: nothing this member remembers from before may move 457 back.
    let mut out = Output::default();
    give_metadata(&mut c, 5, &mut out);
    let stale_validation = out.messages.iter().any(|(_, m)| {
        matches!(m, Message::OffsetsForLeaderEpoch(r)
            if r.partitions.iter().any(|p| p.leader_epoch == 2))
    });
    assert!(
        !stale_validation,
        "validated against epoch 2: {:?}",
        out.messages
    );
    assert_eq!(c.positions()[&tp()], 457);
}

#[test]
fn a_reset_from_the_coordinator_sends_the_member_looking_for_another() {
    let (mut c, _) = joining();
    let mut out = Output::default();
    c.on_message(
        2,
        NodeId::Broker(1),
        Message::Disconnected(Disconnected {
            peer: NodeId::Broker(1),
        }),
        &mut out,
    );
    let m = c.member.as_ref().unwrap();
    assert_eq!(m.coordinator, None, "the coordinator is forgotten at once");
    assert_eq!(m.state, MemberState::Unjoined);
    assert!(out
        .timers
        .iter()
        .any(|(_, t)| *t == ConsumerTimer::FindCoordinatorRetry));
}

#[test]
fn a_join_waits_up_to_the_rebalance_timeout_plus_five_seconds() {
    let (_, out) = joining();
    let waits: Vec<u64> = out
        .timers
        .iter()
        .filter(|(_, t)| matches!(t, ConsumerTimer::GroupRequestTimeout { .. }))
        .map(|(d, _)| *d)
        .collect();
    assert_eq!(waits, [300_000 + 5_000], "max.poll.interval.ms + 5 s");
}

// ---- auto.offset.reset = none: poll() throws and the application dies ----

/// A consumer with `auto.offset.reset = none` reading `tp()` from broker 1 (epoch 3) at
/// `position`, its last record read in epoch 2, with a fetch in flight.
fn reading_with_no_reset_policy(position: u64) -> Consumer {
    let config = ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::None,
        ..ConsumerConfig::default()
    };
    let mut c = Consumer::new(0, "c".into(), vec!["orders".into()], 0, config, vec![0]);
    c.positions.insert(tp(), position);
    c.last_epoch.insert(tp(), 2);
    let mut out = Output::default();
    c.start(0, &mut out);
    c.on_timer(0, ConsumerTimer::Start, &mut out);
    give_metadata(&mut c, 3, &mut out);
    assert!(c.fetch_in_flight.contains_key(&1), "{:?}", out.messages);
    c
}

fn stopped_with(out: &Output<ConsumerTimer>) -> Option<&ConsumerException> {
    out.events.iter().find_map(|e| match e {
        Event::ConsumerStopped { exception, .. } => Some(exception),
        _ => None,
    })
}

/// Kafka's `SubscriptionState.maybeCompleteValidation` with no reset policy returns the
/// divergent offset, and `poll()` throws `LogTruncationException`: no reset to it.
#[test]
fn a_truncation_with_no_reset_policy_stops_the_consumer_with_log_truncation_exception() {
    let mut c = reading_with_no_reset_policy(8);
    let mut out = Output::default();
    give_metadata(&mut c, 4, &mut out);
    let corr = out
        .messages
        .iter()
        .find_map(|(_, m)| match m {
            Message::OffsetsForLeaderEpoch(r) => Some(r.correlation_id),
            _ => None,
        })
        .expect("a validation");
    let mut out = Output::default();
    c.on_message(
        5,
        NodeId::Broker(1),
        Message::OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse {
            correlation_id: corr,
            partitions: vec![EpochEndOffset {
                tp: tp(),
                error: ErrorCode::None,
                leader_epoch: 2,
                end_offset: 6,
            }],
        }),
        &mut out,
    );
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, Event::ConsumerTruncationDetected { .. })));
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, Event::OffsetReset { .. })),
        "no reset without a reset policy: {:?}",
        out.events
    );
    assert_eq!(
        stopped_with(&out),
        Some(&ConsumerException::LogTruncation {
            tp: tp(),
            position: 8,
            divergent_offset: Some(6),
        })
    );
    assert_eq!(c.positions()[&tp()], 8, "the position stays");
    assert!(out.messages.is_empty(), "{:?}", out.messages);
    // The application died: nothing it is told makes it act again.
    let mut out = Output::default();
    c.on_timer(6_000, ConsumerTimer::Poll, &mut out);
    c.on_timer(6_000, ConsumerTimer::MetadataRefresh, &mut out);
    c.on_message(6_001, NodeId::Broker(0), metadata(99, 5), &mut out);
    assert!(out.messages.is_empty() && out.events.is_empty(), "{out:?}");
}

/// `FetchCollector.handleOffsetOutOfRange`: "raising error to the application since no reset
/// policy is configured".
#[test]
fn offset_out_of_range_with_no_reset_policy_stops_the_consumer() {
    let mut c = reading_with_no_reset_policy(8);
    let corr = c.fetch_in_flight[&1];
    let mut out = Output::default();
    c.on_message(
        5,
        NodeId::Broker(1),
        Message::FetchResponse(FetchResponse {
            correlation_id: corr,
            error: ErrorCode::None,
            session_id: 0,
            partitions: vec![FetchPartitionResponse {
                tp: tp(),
                error: ErrorCode::OffsetOutOfRange,
                high_watermark: 4,
                log_start_offset: 0,
                log_end_offset: 4,
                last_stable_offset: 4,
                aborted_transactions: Vec::new(),
                leader_epoch: 3,
                records: vec![],
                diverging_epoch: None,
            }],
        }),
        &mut out,
    );
    assert_eq!(
        stopped_with(&out),
        Some(&ConsumerException::OffsetOutOfRange {
            tp: tp(),
            position: 8
        })
    );
    assert!(out.messages.is_empty(), "{:?}", out.messages);
}

/// `SubscriptionState.resetInitializingPositions`: no position, no committed offset and no
/// reset policy is `NoOffsetForPartitionException`, not a consumer waiting forever.
#[test]
fn no_position_and_no_reset_policy_stops_the_consumer() {
    let config = ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::None,
        ..ConsumerConfig::default()
    };
    let mut c = Consumer::new(0, "c".into(), vec!["orders".into()], 0, config, vec![0]);
    let mut out = Output::default();
    c.start(0, &mut out);
    c.on_timer(0, ConsumerTimer::Start, &mut out);
    let mut out = Output::default();
    give_metadata(&mut c, 3, &mut out);
    assert_eq!(
        stopped_with(&out),
        Some(&ConsumerException::NoOffsetForPartition { tp: tp() })
    );
}

/// An epoch the leader does not know (UNDEFINED_EPOCH) resets by `auto.offset.reset`
/// (`maybeCompleteValidation`'s `requestOffsetReset`) instead of asking again forever.
#[test]
fn an_undefined_epoch_answer_resets_by_the_reset_policy() {
    let mut c = started();
    c.last_epoch.insert(tp(), 3);
    c.positions.insert(tp(), 5);
    let mut out = Output::default();
    give_metadata(&mut c, 4, &mut out);
    let corr = out
        .messages
        .iter()
        .find_map(|(_, m)| match m {
            Message::OffsetsForLeaderEpoch(r) => Some(r.correlation_id),
            _ => None,
        })
        .expect("a validation");
    let mut out = Output::default();
    c.on_message(
        5,
        NodeId::Broker(1),
        Message::OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse {
            correlation_id: corr,
            partitions: vec![EpochEndOffset {
                tp: tp(),
                error: ErrorCode::None,
                leader_epoch: -1,
                end_offset: 0,
            }],
        }),
        &mut out,
    );
    assert!(
        out.messages.iter().any(|(_, m)| matches!(
            m,
            Message::ListOffsets(ListOffsetsRequest {
                spec: OffsetSpec::Earliest,
                ..
            })
        )),
        "{:?}",
        out.messages
    );
}

/// Kafka throws from inside `poll()`: a member processing the records of the last poll
/// finishes them, and its next `poll()` throws.
#[test]
fn a_member_processing_records_dies_at_its_next_poll() {
    let (mut c, _) = joining();
    let mut out = Output::default();
    give_metadata(&mut c, 2, &mut out);
    c.on_sync_response(ErrorCode::None, vec![tp()], &mut out);
    c.member.as_mut().unwrap().app = application::AppState::Processing;
    let mut out = Output::default();
    c.raise(
        ConsumerException::NoOffsetForPartition { tp: tp() },
        &mut out,
    );
    assert_eq!(stopped_with(&out), None, "not inside poll()");
    c.member.as_mut().unwrap().app = application::AppState::Polling;
    c.application_poll(&mut out);
    assert_eq!(
        stopped_with(&out),
        Some(&ConsumerException::NoOffsetForPartition { tp: tp() })
    );
}

/// Kafka's `NetworkClient.handleTimedOutRequests`: an OffsetsForLeaderEpoch past
/// `request.timeout.ms` closes the connection to broker 1, and the Fetch in flight on it
/// fails with it (the broker is backed off, metadata is asked for).
#[test]
fn a_request_timeout_fails_the_other_requests_on_its_connection() {
    let mut c = started();
    c.last_epoch.insert(tp(), 3);
    let fetch = c.fetch_in_flight[&1];
    let mut out = Output::default();
    give_metadata(&mut c, 4, &mut out);
    let validation = out
        .messages
        .iter()
        .find_map(|(to, m)| match m {
            Message::OffsetsForLeaderEpoch(r) => Some((*to, r.correlation_id)),
            _ => None,
        })
        .expect("a validation");
    assert_eq!(validation.0, NodeId::Broker(1));
    assert_eq!(
        c.fetch_in_flight.get(&1),
        Some(&fetch),
        "the fetch is still out"
    );
    let mut out = Output::default();
    c.on_timer(
        30_010,
        ConsumerTimer::ValidationTimeout {
            tp: tp(),
            correlation_id: validation.1,
        },
        &mut out,
    );
    assert_ne!(
        c.fetch_in_flight.get(&1),
        Some(&fetch),
        "the fetch failed with the connection"
    );
    assert!(c.backing_off.contains(&1));
    assert!(!c.offset_requests_to.contains_key(&validation.1));
}

/// A batch of `n` records at `base` from producer `pid`, transactional or not.
fn producer_batch(base: u64, n: u64, pid: i64, transactional: bool) -> RecordBatch {
    let stamp = BatchStamp {
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: 0,
        last_sequence: n as i32 - 1,
        is_transactional: transactional,
    };
    let mut b = RecordBatch::of_records((base..base + n).map(record).collect());
    b.producer = Some(stamp);
    for r in &mut b.records {
        r.producer = Some(stamp);
    }
    b
}

fn marker_batch(offset: u64, pid: i64, kind: ControlRecordType) -> RecordBatch {
    let mut b = producer_batch(offset, 1, pid, true);
    b.records.clear();
    b.control = Some(EndTxnMarker {
        control_type: kind,
        coordinator_epoch: 0,
    });
    b
}

/// Kafka's `FetcherTest.testReturnAbortedTransactionsInUncommittedMode`,
/// `testSkippingAbortedTransactions` and `testReturnCommittedTransactions`, on one answer.
#[test]
fn read_committed_skips_aborted_transactions_and_no_reader_sees_markers() {
    use super::fetcher::visible_batches;
    let batches = vec![
        producer_batch(0, 2, 1, true),                 // 0..=1, aborted below
        producer_batch(2, 1, 2, true),                 // 2, committed below
        producer_batch(3, 1, 3, false),                // 3, plain
        marker_batch(4, 1, ControlRecordType::Abort),  // 4
        marker_batch(5, 2, ControlRecordType::Commit), // 5
        producer_batch(6, 1, 1, true),                 // 6, producer 1's next one
    ];
    let aborted = [AbortedTransaction {
        producer_id: 1,
        first_offset: 0,
    }];
    let offsets = |level| -> Vec<u64> {
        visible_batches(&batches, &aborted, level)
            .into_iter()
            .flat_map(|b| b.records.iter().map(|r| r.offset))
            .collect()
    };
    assert_eq!(offsets(IsolationLevel::ReadCommitted), vec![2, 3, 6]);
    assert_eq!(
        offsets(IsolationLevel::ReadUncommitted),
        vec![0, 1, 2, 3, 6],
        "read_uncommitted gets aborted records too, but never a marker"
    );
}

/// A read_committed consumer asks for committed data only, steps over an aborted
/// transaction and both markers, and hands over only the committed record.
#[test]
fn a_read_committed_consumer_skips_aborted_records_and_steps_over_markers() {
    let mut c = started_with(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        isolation_level: IsolationLevel::ReadCommitted,
        ..ConsumerConfig::default()
    });
    let mut out = Output::default();
    c.poll(&mut out);
    let corr = c.fetch_in_flight[&1];
    let answer = |correlation_id, batches: Vec<RecordBatch>, aborted| {
        Message::FetchResponse(FetchResponse {
            correlation_id,
            error: ErrorCode::None,
            session_id: 0,
            partitions: vec![FetchPartitionResponse {
                tp: tp(),
                error: ErrorCode::None,
                high_watermark: 5,
                log_start_offset: 0,
                log_end_offset: 5,
                last_stable_offset: 5,
                aborted_transactions: aborted,
                leader_epoch: 3,
                records: batches,
                diverging_epoch: None,
            }],
        })
    };
    let mut out = Output::default();
    c.on_message(
        3,
        NodeId::Broker(1),
        answer(
            corr,
            vec![
                producer_batch(0, 2, 1, true),
                marker_batch(2, 1, ControlRecordType::Abort),
            ],
            vec![AbortedTransaction {
                producer_id: 1,
                first_offset: 0,
            }],
        ),
        &mut out,
    );
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, Event::Consumed { .. })),
        "nothing of an aborted transaction is handed over"
    );
    assert_eq!(c.positions()[&tp()], 3, "but the position moves past it");
    let (next, level) = match &out.messages[0].1 {
        Message::Fetch(r) => (r.correlation_id, r.isolation_level),
        other => panic!("{other:?}"),
    };
    assert_eq!(level, IsolationLevel::ReadCommitted);
    let mut out = Output::default();
    c.on_message(
        4,
        NodeId::Broker(1),
        answer(
            next,
            vec![
                producer_batch(3, 1, 2, true),
                marker_batch(4, 2, ControlRecordType::Commit),
            ],
            Vec::new(),
        ),
        &mut out,
    );
    let consumed: Vec<u64> = out
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Consumed { records, .. } => Some(records.iter().map(|r| r.0)),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(consumed, vec![3]);
    assert_eq!(c.positions()[&tp()], 5);
}

/// The consumer's OffsetFetch in `out`, if it sent one: its correlation id and flag.
fn offset_fetch_sent(out: &Output<ConsumerTimer>) -> Option<(u64, bool)> {
    out.messages.iter().find_map(|(_, m)| match m {
        Message::OffsetFetch(r) => Some((r.correlation_id, r.require_stable)),
        _ => None,
    })
}

/// Kafka 3.7's `ConsumerCoordinator`: OffsetFetch asks for stable offsets, and an
/// UNSTABLE_OFFSET_COMMIT partition (a transaction's commit not yet decided) fails the whole
/// answer with a retriable error: no position is taken from it, and the fetch goes again
/// after `retry.backoff.ms`.
#[test]
fn an_unstable_committed_offset_is_fetched_again_after_the_backoff() {
    let (mut c, _) = joining();
    let mut out = Output::default();
    give_metadata(&mut c, 2, &mut out);
    let mut out = Output::default();
    c.on_sync_response(ErrorCode::None, vec![tp()], &mut out);
    let (corr, require_stable) = offset_fetch_sent(&out).expect("an OffsetFetch");
    assert!(require_stable);
    let unstable = OffsetFetchPartition {
        error: ErrorCode::UnstableOffsetCommit,
        ..committed(None)
    };
    let answer = |corr, offsets| {
        Message::OffsetFetchResponse(OffsetFetchResponse {
            correlation_id: corr,
            error: ErrorCode::None,
            offsets,
        })
    };
    let mut out = Output::default();
    c.on_message(5, NodeId::Broker(1), answer(corr, vec![unstable]), &mut out);
    assert!(
        !c.positions().contains_key(&tp()),
        "nothing taken from the answer"
    );
    assert!(offset_fetch_sent(&out).is_none(), "not at once");
    assert!(out
        .timers
        .contains(&(c.config.retry_backoff_ms, ConsumerTimer::AppPoll)));

    let mut out = Output::default();
    c.on_timer(
        5 + c.config.retry_backoff_ms,
        ConsumerTimer::AppPoll,
        &mut out,
    );
    let (corr, _) = offset_fetch_sent(&out).expect("asked again");
    let mut out = Output::default();
    c.on_message(
        6,
        NodeId::Broker(1),
        answer(corr, vec![committed(Some(42))]),
        &mut out,
    );
    assert_eq!(c.positions()[&tp()], 42);
}
