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

#[test]
fn read_committed_reads_up_to_the_last_stable_offset_and_a_commit_marker_moves_it() {
    let mut c = Cluster::new(3, config());
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
    let mut c = Cluster::new(3, config());
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
