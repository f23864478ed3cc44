//! A partition leader's side of transactions: markers written on the coordinator's
//! request and replicated like `acks=all` data, and fetches by isolation level (after
//! Kafka's `ReplicaManagerTest.testReadCommittedFetchLimitedAtLSO` and
//! `KafkaApisTest.testWriteTxnMarkersShouldAllBeIncludedInTheResponse`).
use super::*;

const PID: i64 = 4000;

/// A transactional producer's batch of the records `seqs`, at sequence `base`.
fn produce_txn(c: &mut Cluster, seqs: std::ops::Range<u64>, base: i32) {
    let stamp = BatchStamp {
        producer_id: PID,
        producer_epoch: 0,
        base_sequence: base,
        last_sequence: base + (seqs.end - seqs.start) as i32 - 1,
        is_transactional: true,
    };
    let records = seqs.map(|seq| (None, seq)).collect();
    c.produce_batch(0, Acks::All, records, Some(stamp));
}

fn write_marker(c: &mut Cluster, result: ControlRecordType, epoch: i16) {
    c.wire.push_back((
        NodeId::Broker(0),
        // The coordinator's host; a client id here so the answer reaches the test.
        NodeId::Producer(9),
        Message::WriteTxnMarkers(WriteTxnMarkersRequest {
            correlation_id: 77,
            markers: vec![WritableTxnMarker {
                producer_id: PID,
                producer_epoch: epoch,
                transaction_result: result,
                partitions: vec![tp(), TopicPartition::new("elsewhere", 0)],
                coordinator_epoch: 0,
            }],
        }),
    ));
}

/// What a consumer fetch from offset 0 at `level` gets from broker 0: the record offsets
/// handed over, the LSO, and the aborted transactions named.
fn consumer_fetch(c: &mut Cluster, level: IsolationLevel) -> (Vec<u64>, u64, usize) {
    let mut out = Output::default();
    let request = FetchRequest {
        correlation_id: 5,
        replica_id: None,
        max_wait_ms: 0,
        session: FetchMetadata::SESSIONLESS,
        partitions: vec![FetchPartition {
            tp: tp(),
            fetch_offset: 0,
            last_fetched_epoch: None,
            current_leader_epoch: None,
            log_start_offset: None,
        }],
        forgotten: Vec::new(),
        isolation_level: level,
    };
    let now = c.now_ms;
    c.brokers.get_mut(&0).unwrap().on_message(
        now,
        NodeId::Consumer(0),
        Message::Fetch(request),
        &mut out,
    );
    let p = out
        .messages
        .iter()
        .find_map(|(_, m)| match m {
            Message::FetchResponse(r) => Some(r.partitions[0].clone()),
            _ => None,
        })
        .expect("a fetch answer");
    let offsets = p
        .records
        .iter()
        .flat_map(|b| b.records.iter().map(|r| r.offset))
        .collect();
    (offsets, p.last_stable_offset, p.aborted_transactions.len())
}

/// The WriteTxnMarkers answers the test received: per partition, its error.
fn marker_answers(c: &Cluster) -> Vec<Vec<(TopicPartition, ErrorCode)>> {
    c.to_clients
        .iter()
        .filter_map(|m| match m {
            Message::WriteTxnMarkersResponse(r) => {
                assert_eq!(r.correlation_id, 77);
                assert_eq!(r.markers.len(), 1);
                assert_eq!(r.markers[0].producer_id, PID);
                Some(r.markers[0].partitions.clone())
            }
            _ => None,
        })
        .collect()
}

/// These tests have no transaction coordinator: the leader does not verify (KIP-890).
fn unverified_config() -> BrokerConfig {
    BrokerConfig {
        transaction_partition_verification_enable: Some(false),
        ..config()
    }
}

#[test]
fn read_committed_reads_up_to_the_last_stable_offset_and_a_commit_marker_moves_it() {
    let mut c = Cluster::new(3, unverified_config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    produce_txn(&mut c, 0..3, 0);
    c.run(1_000);
    assert_eq!(c.hw(0), 3, "the transaction's records are replicated");
    assert_eq!(
        consumer_fetch(&mut c, IsolationLevel::ReadUncommitted),
        (vec![0, 1, 2], 0, 0),
        "read_uncommitted reads to the HW, the open transaction included"
    );
    assert_eq!(
        consumer_fetch(&mut c, IsolationLevel::ReadCommitted),
        (vec![], 0, 0),
        "read_committed stops at the LSO, the open transaction's first offset"
    );
    c.down.insert(1);
    c.down.insert(2);
    write_marker(&mut c, ControlRecordType::Commit, 0);
    c.run(10);
    assert_eq!(c.leo(0), 4, "the marker takes offset 3");
    assert!(marker_answers(&c).is_empty(), "a marker waits for the ISR");
    assert_eq!(
        consumer_fetch(&mut c, IsolationLevel::ReadCommitted).1,
        0,
        "decided, but the marker is not replicated yet"
    );
    c.down.clear();
    c.run(4_000);
    assert_eq!(c.hw(0), 4);
    assert_eq!(
        consumer_fetch(&mut c, IsolationLevel::ReadCommitted),
        (vec![0, 1, 2], 4, 0)
    );
    let elsewhere = TopicPartition::new("elsewhere", 0);
    assert_eq!(
        marker_answers(&c),
        vec![vec![
            (tp(), ErrorCode::None),
            (elsewhere, ErrorCode::UnknownTopicOrPartition)
        ]],
        "one answer, once the marker is replicated, with every partition's error"
    );
}

#[test]
fn an_aborted_transaction_is_named_to_read_committed_fetchers() {
    let mut c = Cluster::new(3, unverified_config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    produce_txn(&mut c, 0..2, 0);
    c.run(1_000);
    write_marker(&mut c, ControlRecordType::Abort, 0);
    c.run(1_000);
    assert_eq!(marker_answers(&c).len(), 1);
    assert_eq!(
        consumer_fetch(&mut c, IsolationLevel::ReadCommitted),
        (vec![0, 1], 3, 1),
        "the aborted records are returned, named as aborted, for the consumer to skip"
    );
    // A zombie of the fenced epoch is refused: the abort was written at epoch 1.
    write_marker(&mut c, ControlRecordType::Abort, 1);
    c.run(1_000);
    c.to_clients.clear();
    produce_txn(&mut c, 2..3, 2);
    c.run(1_000);
    assert_eq!(
        produce_answer(&c.to_clients[0]),
        (ErrorCode::InvalidProducerEpoch, None)
    );
    // And a marker of the old epoch too.
    write_marker(&mut c, ControlRecordType::Commit, 0);
    c.run(1_000);
    assert_eq!(
        marker_answers(&c)[0][0],
        (tp(), ErrorCode::InvalidProducerEpoch)
    );
}

// ---- transactional offset commits on the group coordinator ----

/// The group's committed offset of `tp()` as broker `to` answers an OffsetFetch.
fn fetch_committed(c: &mut Cluster, to: BrokerId, require_stable: bool) -> OffsetFetchPartition {
    let Message::OffsetFetchResponse(OffsetFetchResponse { error, offsets, .. }) = ask(
        c,
        to,
        Message::OffsetFetch(OffsetFetchRequest {
            correlation_id: 8,
            group_id: "g".into(),
            partitions: vec![tp()],
            require_stable,
        }),
    ) else {
        panic!()
    };
    assert_eq!(error, ErrorCode::None);
    offsets.into_iter().next().expect("one partition")
}

fn committed(offset: Option<u64>, error: ErrorCode) -> OffsetFetchPartition {
    OffsetFetchPartition {
        tp: tp(),
        offset,
        error,
    }
}

/// Kafka's `KafkaApis.handleTxnOffsetCommitRequest` to `GroupCoordinator
/// .handleTxnCommitOffsets`, then `handleWriteTxnMarkersRequest`'s call of
/// `onTransactionCompleted`: the offset is written at once as the producer's transactional
/// batch, unstable until the COMMIT marker on the offsets partition is replicated, and a new
/// coordinator reads it back as committed.
#[test]
fn a_transactional_offset_commit_becomes_visible_with_its_commit_marker() {
    let mut c = Cluster::new(3, group_config());
    lead_offsets(&mut c, 0, 0);
    c.run(100);
    let Message::TxnOffsetCommitResponse(TxnOffsetCommitResponse { results, .. }) = ask(
        &mut c,
        0,
        Message::TxnOffsetCommit(TxnOffsetCommitRequest {
            correlation_id: 7,
            transactional_id: "txn".into(),
            group_id: "g".into(),
            producer_id: PID,
            producer_epoch: 0,
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: vec![(tp(), 42)],
        }),
    ) else {
        panic!()
    };
    assert_eq!(results, vec![(tp(), ErrorCode::None)]);
    let broker = &c.brokers[&0];
    let log = &broker.disk().logs[&offsets_tp()];
    let batch = log.batches().last().expect("the commit's batch");
    let stamp = batch.producer.expect("stamped with the producer");
    assert_eq!(
        (
            stamp.producer_id,
            stamp.producer_epoch,
            stamp.is_transactional
        ),
        (PID, 0, true)
    );
    assert_eq!(
        log.last_stable_offset(broker.high_watermark(&offsets_tp())),
        batch.base_offset,
        "the transaction holds the offsets partition's LSO"
    );

    assert_eq!(
        fetch_committed(&mut c, 0, true),
        committed(None, ErrorCode::UnstableOffsetCommit)
    );
    assert_eq!(
        fetch_committed(&mut c, 0, false),
        committed(None, ErrorCode::None),
        "without require_stable: the offset committed before, none"
    );

    c.to_clients.clear();
    c.wire.push_back((
        NodeId::Broker(0),
        NodeId::Producer(9),
        Message::WriteTxnMarkers(WriteTxnMarkersRequest {
            correlation_id: 77,
            markers: vec![WritableTxnMarker {
                producer_id: PID,
                producer_epoch: 0,
                transaction_result: ControlRecordType::Commit,
                partitions: vec![offsets_tp()],
                coordinator_epoch: 0,
            }],
        }),
    ));
    c.run(10);
    assert_eq!(
        marker_answers(&c),
        vec![vec![(offsets_tp(), ErrorCode::None)]]
    );
    assert_eq!(
        fetch_committed(&mut c, 0, true),
        committed(Some(42), ErrorCode::None)
    );

    // Broker 1 takes the partition over and reads the transaction back as committed.
    lead_offsets(&mut c, 1, 1);
    c.run(100);
    assert_eq!(
        fetch_committed(&mut c, 1, true),
        committed(Some(42), ErrorCode::None)
    );
}

fn txn_offset_commit(c: &mut Cluster, epoch: i16, offset: u64) -> Vec<(TopicPartition, ErrorCode)> {
    let Message::TxnOffsetCommitResponse(TxnOffsetCommitResponse { results, .. }) = ask(
        c,
        0,
        Message::TxnOffsetCommit(TxnOffsetCommitRequest {
            correlation_id: 7,
            transactional_id: "txn".into(),
            group_id: "g".into(),
            producer_id: PID,
            producer_epoch: epoch,
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: vec![(tp(), offset)],
        }),
    ) else {
        panic!()
    };
    results
}

/// The coordinator's batches are appended with `AppendOrigin.COORDINATOR`: a second commit
/// of the transaction, with the same sequences as the first, is neither a duplicate nor out
/// of order; only the producer epoch is checked, so a fenced producer's commit is refused.
#[test]
fn a_transactions_offset_commits_are_checked_for_the_epoch_only() {
    let mut c = Cluster::new(3, group_config());
    lead_offsets(&mut c, 0, 0);
    c.run(100);
    assert_eq!(
        txn_offset_commit(&mut c, 0, 10),
        vec![(tp(), ErrorCode::None)]
    );
    assert_eq!(
        txn_offset_commit(&mut c, 0, 20),
        vec![(tp(), ErrorCode::None)]
    );
    let log = &c.brokers[&0].disk().logs[&offsets_tp()];
    let transactional = log
        .batches()
        .filter(|b| b.producer.is_some_and(|s| s.is_transactional))
        .count();
    assert_eq!(transactional, 2, "both commits were written");

    // The transaction coordinator fences epoch 0 with an abort at epoch 1.
    c.wire.push_back((
        NodeId::Broker(0),
        NodeId::Producer(9),
        Message::WriteTxnMarkers(WriteTxnMarkersRequest {
            correlation_id: 77,
            markers: vec![WritableTxnMarker {
                producer_id: PID,
                producer_epoch: 1,
                transaction_result: ControlRecordType::Abort,
                partitions: vec![offsets_tp()],
                coordinator_epoch: 0,
            }],
        }),
    ));
    c.run(10);
    assert_eq!(
        fetch_committed(&mut c, 0, true),
        committed(None, ErrorCode::None),
        "the aborted offsets are dropped"
    );
    assert_eq!(
        txn_offset_commit(&mut c, 0, 30),
        vec![(tp(), ErrorCode::InvalidProducerEpoch)]
    );
    assert_eq!(
        fetch_committed(&mut c, 0, true),
        committed(None, ErrorCode::None),
        "nothing is left pending by the refused commit"
    );
}

/// Before 2.5 there is no `require_stable` (OffsetFetch v7, KIP-447): the client sends v6
/// without it, and a pending offset is answered with the offset committed before.
#[test]
fn a_broker_before_2_5_answers_a_pending_offset_with_the_committed_one() {
    let config = BrokerConfig {
        kafka_version: KafkaVersion::parse("2.4.1").unwrap(),
        ..group_config()
    };
    let mut c = Cluster::new(3, config);
    lead_offsets(&mut c, 0, 0);
    c.run(100);
    assert_eq!(
        txn_offset_commit(&mut c, 0, 10),
        vec![(tp(), ErrorCode::None)]
    );
    assert_eq!(
        fetch_committed(&mut c, 0, true),
        committed(None, ErrorCode::None)
    );
}

// ---- KIP-890 part 1: the leader verifies with the coordinator ----

const TXN_ID: &str = "txn-a";

/// The transaction coordinator of `TXN_ID` is the test (as the controller's id), alive in
/// broker 0's metadata.
fn coordinator_is_the_test(c: &mut Cluster) {
    let partition = crate::coordinator::transaction::log::partition_for(
        TXN_ID,
        config().transaction_state_log_num_partitions,
    );
    c.wire.push_back((
        NodeId::Broker(0),
        NodeId::Broker(CONTROLLER),
        Message::UpdateMetadata(UpdateMetadataRequest {
            controller_id: CONTROLLER,
            controller_epoch: 1,
            live_brokers: vec![0, 1, 2, CONTROLLER],
            partitions: vec![PartitionMetadata {
                tp: TopicPartition::new(TRANSACTION_STATE_TOPIC, partition),
                error: ErrorCode::None,
                leader: Some(CONTROLLER),
                leader_epoch: 0,
                replicas: vec![CONTROLLER],
                isr: vec![CONTROLLER],
            }],
        }),
    ));
}

/// A transactional producer's batch of `seqs` at sequence `base`, in a request that names
/// its transactional id, as a 3.x client sends it.
fn produce_txn_named(c: &mut Cluster, seqs: std::ops::Range<u64>, base: i32) {
    produce_txn(c, seqs, base);
    c.name_last_produce(TXN_ID);
}

/// The verifications broker 0 asked the coordinator for: correlation id and partitions.
fn verifications_asked(c: &mut Cluster) -> Vec<(u64, Vec<TopicPartition>)> {
    std::mem::take(&mut c.to_controller)
        .into_iter()
        .filter_map(|m| match m {
            Message::AddPartitionsToTxn(r) => {
                assert!(r.verify_only, "a leader only verifies");
                assert_eq!(
                    (r.transactional_id.as_str(), r.producer_id, r.producer_epoch),
                    (TXN_ID, PID, 0)
                );
                Some((r.correlation_id, r.partitions))
            }
            _ => None,
        })
        .collect()
}

fn coordinator_answers(c: &mut Cluster, correlation_id: u64, error: ErrorCode) {
    c.wire.push_back((
        NodeId::Broker(0),
        NodeId::Broker(CONTROLLER),
        Message::AddPartitionsToTxnResponse(AddPartitionsToTxnResponse {
            correlation_id,
            results: vec![(tp(), error)],
        }),
    ));
}

fn verifying_leader() -> Cluster {
    let mut c = Cluster::new(3, config());
    assert!(config().transaction_partition_verification(), "on in 3.7");
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    coordinator_is_the_test(&mut c);
    c.run(10);
    c
}

/// Kafka's `ReplicaManagerTest.testTransactionVerificationFlow`: the first transactional
/// batch waits for the coordinator, goes in once it confirms, and the next batch of the
/// now open transaction is not verified again.
#[test]
fn a_verified_transactional_batch_is_appended_and_the_next_one_needs_no_verification() {
    let mut c = verifying_leader();
    produce_txn_named(&mut c, 0..2, 0);
    c.run(10);
    let asked = verifications_asked(&mut c);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].1, vec![tp()]);
    assert_eq!(
        c.leo(0),
        0,
        "nothing is appended before the coordinator answers"
    );
    coordinator_answers(&mut c, asked[0].0, ErrorCode::None);
    c.run(1_000);
    assert_eq!(c.leo(0), 2);
    assert_eq!(produce_answer(&c.to_clients[0]), (ErrorCode::None, Some(0)));
    c.to_clients.clear();
    produce_txn_named(&mut c, 2..3, 2);
    c.run(1_000);
    assert!(
        verifications_asked(&mut c).is_empty(),
        "the transaction is open here"
    );
    assert_eq!(produce_answer(&c.to_clients[0]), (ErrorCode::None, Some(2)));
}

/// The coordinator does not hold the partition in the transaction: INVALID_TXN_STATE for
/// the producer (`ReplicaManager.handleProduceAppend`, an old client's error), nothing
/// appended, no transaction opened.
#[test]
fn a_transactional_batch_of_a_partition_not_in_the_transaction_is_refused() {
    let mut c = verifying_leader();
    produce_txn_named(&mut c, 0..2, 0);
    c.run(10);
    let asked = verifications_asked(&mut c);
    coordinator_answers(&mut c, asked[0].0, ErrorCode::InvalidTxnState);
    c.run(1_000);
    assert_eq!(
        produce_answer(&c.to_clients[0]),
        (ErrorCode::InvalidTxnState, None)
    );
    assert_eq!(c.leo(0), 0);
    assert!(!c.brokers[&0].disk().logs[&tp()].has_ongoing_transaction(PID));
}

/// KAFKA-14884: the coordinator confirms, but an ABORT marker reached the partition in
/// between (the transaction ended, and the next may not hold the partition): the guard the
/// batch carries is no longer the producer's, so the batch is refused.
#[test]
fn a_verification_overtaken_by_a_marker_lets_nothing_in() {
    let mut c = verifying_leader();
    produce_txn_named(&mut c, 0..2, 0);
    c.run(10);
    let asked = verifications_asked(&mut c);
    write_marker(&mut c, ControlRecordType::Abort, 1);
    c.run(1_000);
    assert_eq!(c.leo(0), 1, "the marker is in");
    coordinator_answers(&mut c, asked[0].0, ErrorCode::None);
    c.run(1_000);
    let answers: Vec<(ErrorCode, Option<u64>)> = c
        .to_clients
        .iter()
        .filter(|m| matches!(m, Message::ProduceResponse(_)))
        .map(produce_answer)
        .collect();
    assert_eq!(answers, vec![(ErrorCode::InvalidTxnState, None)]);
    assert_eq!(c.leo(0), 1, "no record after the marker");
    assert!(!c.brokers[&0].disk().logs[&tp()].has_ongoing_transaction(PID));
}

/// A coordinator that does not answer: the produce is answered NOT_ENOUGH_REPLICAS, an error
/// older clients retry (KAFKA-15459); and with the key off nothing is asked.
#[test]
fn an_unanswered_verification_is_retriable_and_the_key_turns_it_off() {
    let mut c = verifying_leader();
    produce_txn_named(&mut c, 0..2, 0);
    c.run(31_000);
    assert_eq!(
        produce_answer(&c.to_clients[0]),
        (ErrorCode::NotEnoughReplicas, None)
    );
    assert_eq!(c.leo(0), 0);

    let mut c = Cluster::new(3, unverified_config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    coordinator_is_the_test(&mut c);
    c.run(10);
    produce_txn_named(&mut c, 0..2, 0);
    c.run(1_000);
    assert!(verifications_asked(&mut c).is_empty());
    assert_eq!(produce_answer(&c.to_clients[0]), (ErrorCode::None, Some(0)));
}

/// KIP-890 part 2: a client on transaction version 2 (Produce version 12) never adds the
/// partition itself; the leader's request adds it (`verify_only` false, at version 2), and
/// the batch goes in once the coordinator answers.
#[test]
fn under_transaction_version_2_the_leader_adds_the_partition() {
    let mut c = verifying_leader();
    produce_txn_named(&mut c, 0..2, 0);
    let Some((_, _, Message::Produce(request))) = c.wire.back_mut() else {
        panic!()
    };
    request.transaction_version = crate::coordinator::transaction::TransactionVersion::V2;
    c.run(10);
    let asked: Vec<AddPartitionsToTxnRequest> = std::mem::take(&mut c.to_controller)
        .into_iter()
        .filter_map(|m| match m {
            Message::AddPartitionsToTxn(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 1);
    assert!(!asked[0].verify_only, "the leader adds the partition");
    assert!(asked[0].transaction_version.supports_epoch_bump());
    assert_eq!(asked[0].partitions, vec![tp()]);
    coordinator_answers(&mut c, asked[0].correlation_id, ErrorCode::None);
    c.run(1_000);
    assert_eq!(produce_answer(&c.to_clients[0]), (ErrorCode::None, Some(0)));
    assert!(c.brokers[&0].disk().logs[&tp()].has_ongoing_transaction(PID));
}

/// From 4.0 the open transaction a batch joins must be at the batch's epoch: under
/// transaction version 2 the next transaction (bumped epoch) may send before the previous
/// one's marker reaches the partition, and its batch is then verified (added) instead of
/// slipping into the previous transaction.
#[test]
fn from_4_0_a_batch_of_a_newer_epoch_does_not_join_the_open_transaction() {
    let config = BrokerConfig {
        kafka_version: crate::config::KafkaVersion::parse("4.0.0").expect("a release"),
        ..config()
    };
    let mut c = Cluster::new(3, config);
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    coordinator_is_the_test(&mut c);
    c.run(10);
    produce_txn_named(&mut c, 0..2, 0);
    c.run(10);
    let asked = verifications_asked(&mut c);
    coordinator_answers(&mut c, asked[0].0, ErrorCode::None);
    c.run(1_000);
    assert!(c.brokers[&0].disk().logs[&tp()].has_ongoing_transaction(PID));
    c.to_clients.clear();
    // The next transaction, at epoch 1, before the previous one's marker.
    let stamp = BatchStamp {
        producer_id: PID,
        producer_epoch: 1,
        base_sequence: 0,
        last_sequence: 0,
        is_transactional: true,
    };
    c.produce_batch(0, Acks::All, vec![(None, 9)], Some(stamp));
    c.name_last_produce(TXN_ID);
    c.run(10);
    let asked: Vec<(u64, i16)> = std::mem::take(&mut c.to_controller)
        .into_iter()
        .filter_map(|m| match m {
            Message::AddPartitionsToTxn(r) => Some((r.correlation_id, r.producer_epoch)),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 1, "verified, not joined");
    assert_eq!(asked[0].1, 1);
    assert_eq!(c.leo(0), 2, "not appended while the coordinator is asked");
    coordinator_answers(&mut c, asked[0].0, ErrorCode::ConcurrentTransactions);
    c.run(1_000);
    assert_eq!(
        produce_answer(&c.to_clients[0]),
        (ErrorCode::NotEnoughReplicas, None),
        "retriable until the previous transaction is complete"
    );
}
