//! The transaction coordinator hosted by a broker, end to end over the test cluster: the
//! state it writes to `__transaction_state`, the markers it sends, and the fence and the
//! timeout that abort a transaction for its producer (after Kafka's
//! `TransactionCoordinatorTest` and the `TransactionsTest` stories of a fenced producer and a
//! timed-out transaction).
use super::*;
use crate::coordinator::transaction::log::TRANSACTION_STATE_TOPIC;
use crate::coordinator::transaction::{TransactionState, TransactionVersion};

fn txn_tp() -> TopicPartition {
    TopicPartition::new(TRANSACTION_STATE_TOPIC, 0)
}

fn txn_config() -> BrokerConfig {
    BrokerConfig {
        transaction_state_log_num_partitions: 1,
        transaction_abort_timed_out_transaction_cleanup_interval_ms: 1_000,
        ..config()
    }
}

/// Broker 0 leads `orders-0` and `__transaction_state-0` (replicas 0, 1, 2), and every
/// broker's metadata says so; the coordinator has loaded its partition.
fn cluster() -> Cluster {
    let mut c = Cluster::new(3, txn_config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    let p = LeaderAndIsrPartition {
        tp: txn_tp(),
        leader: Some(0),
        leader_epoch: 0,
        isr: vec![0, 1, 2],
        partition_epoch: 0,
        replicas: vec![0, 1, 2],
        controller_epoch: 1,
    };
    let metadata = |tp: TopicPartition| PartitionMetadata {
        tp,
        error: ErrorCode::None,
        leader: Some(0),
        leader_epoch: 0,
        replicas: vec![0, 1, 2],
        isr: vec![0, 1, 2],
    };
    for b in 0..3 {
        c.wire.push_back((
            NodeId::Broker(b),
            NodeId::Broker(CONTROLLER),
            Message::LeaderAndIsr(LeaderAndIsrRequest {
                controller_id: CONTROLLER,
                controller_epoch: 1,
                partitions: vec![p.clone()],
            }),
        ));
        c.wire.push_back((
            NodeId::Broker(b),
            NodeId::Broker(CONTROLLER),
            Message::UpdateMetadata(UpdateMetadataRequest {
                controller_id: CONTROLLER,
                controller_epoch: 1,
                live_brokers: vec![0, 1, 2],
                partitions: vec![metadata(tp()), metadata(txn_tp())],
            }),
        ));
    }
    c.run(100);
    c
}

/// Sends `message` to broker 0 as a client and returns its one answer, after the writes
/// it waits for are replicated.
fn ask_txn(c: &mut Cluster, message: Message) -> Message {
    c.to_clients.clear();
    c.wire
        .push_back((NodeId::Broker(0), NodeId::Producer(0), message));
    c.run(500);
    assert_eq!(c.to_clients.len(), 1, "one answer: {:?}", c.to_clients);
    c.to_clients.pop().unwrap()
}

fn init(c: &mut Cluster, producer_id: i64, producer_epoch: i16) -> InitProducerIdResponse {
    let request = InitProducerIdRequest {
        correlation_id: 1,
        transactional_id: Some("tx-1".into()),
        transaction_timeout_ms: 5_000,
        producer_id,
        producer_epoch,
    };
    match ask_txn(c, Message::InitProducerId(request)) {
        Message::InitProducerIdResponse(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

fn add_orders(c: &mut Cluster, producer_id: i64, producer_epoch: i16) -> ErrorCode {
    let request = AddPartitionsToTxnRequest {
        correlation_id: 2,
        transactional_id: "tx-1".into(),
        producer_id,
        producer_epoch,
        partitions: vec![tp()],
        verify_only: false,
        transaction_version: TransactionVersion::V0,
    };
    match ask_txn(c, Message::AddPartitionsToTxn(request)) {
        Message::AddPartitionsToTxnResponse(r) => {
            assert_eq!(r.results.len(), 1);
            r.results[0].1
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn end(c: &mut Cluster, producer_id: i64, producer_epoch: i16, committed: bool) -> ErrorCode {
    let request = EndTxnRequest {
        correlation_id: 3,
        transactional_id: "tx-1".into(),
        producer_id,
        producer_epoch,
        committed,
        transaction_version: TransactionVersion::V0,
        for_transaction: None,
    };
    match ask_txn(c, Message::EndTxn(request)) {
        Message::EndTxnResponse(r) => r.error,
        other => panic!("unexpected {other:?}"),
    }
}

/// Three transactional records of `producer_id` at `producer_epoch` to `orders-0`.
fn produce_txn(c: &mut Cluster, producer_id: i64, producer_epoch: i16) {
    let stamp = BatchStamp {
        producer_id,
        producer_epoch,
        base_sequence: 0,
        last_sequence: 2,
        is_transactional: true,
    };
    c.produce_batch(
        0,
        Acks::All,
        vec![(None, 0), (None, 1), (None, 2)],
        Some(stamp),
    );
    c.name_last_produce("tx-1");
    c.run(100);
    c.to_clients.clear();
}

fn state(c: &Cluster) -> TransactionState {
    c.brokers[&0].txn_coordinator().transactions()["tx-1"].state
}

/// Broker 0's last stable offset of `orders-0`.
fn lso(c: &Cluster) -> u64 {
    c.brokers[&0].disk().logs[&tp()].last_stable_offset(c.hw(0))
}

#[test]
fn a_commit_is_written_then_marked_on_its_partitions_then_completed() {
    let mut c = cluster();
    let r = init(&mut c, -1, -1);
    assert_eq!((r.error, r.producer_epoch), (ErrorCode::None, 0));
    let pid = r.producer_id;
    assert_eq!(state(&c), TransactionState::Empty);
    assert_eq!(add_orders(&mut c, pid, 0), ErrorCode::None);
    assert_eq!(state(&c), TransactionState::Ongoing);
    produce_txn(&mut c, pid, 0);
    assert_eq!(
        (c.hw(0), lso(&c)),
        (3, 0),
        "the open transaction holds the LSO back"
    );
    assert_eq!(end(&mut c, pid, 0, true), ErrorCode::None);
    c.run(100);
    assert_eq!(state(&c), TransactionState::CompleteCommit);
    assert_eq!(c.leo(0), 4, "the COMMIT marker takes offset 3");
    assert_eq!(lso(&c), 4, "committed: the LSO passes the marker");
    let writes: Vec<(String, String)> = c
        .events
        .iter()
        .filter_map(|e| match e {
            Event::TxnStateWritten { from, to, .. } => Some((from.clone(), to.clone())),
            _ => None,
        })
        .collect();
    let expected = [
        ("Empty", "Empty"),
        ("Empty", "Ongoing"),
        ("Ongoing", "PrepareCommit"),
        ("PrepareCommit", "CompleteCommit"),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()));
    assert_eq!(writes, expected);
    // A retry of the commit is answered NONE; an abort now is INVALID_TXN_STATE.
    assert_eq!(end(&mut c, pid, 0, true), ErrorCode::None);
    assert_eq!(end(&mut c, pid, 0, false), ErrorCode::InvalidTxnState);
}

#[test]
fn a_new_instance_fences_the_old_one_and_its_open_transaction_is_aborted() {
    let mut c = cluster();
    let pid = init(&mut c, -1, -1).producer_id;
    assert_eq!(add_orders(&mut c, pid, 0), ErrorCode::None);
    produce_txn(&mut c, pid, 0);
    // A second instance with the same transactional id: the open transaction is aborted
    // first, and the new instance told to try again.
    let r = init(&mut c, -1, -1);
    assert_eq!(r.error, ErrorCode::ConcurrentTransactions);
    c.run(100);
    assert_eq!(state(&c), TransactionState::CompleteAbort);
    assert_eq!(c.leo(0), 4, "the ABORT marker takes offset 3");
    assert_eq!(lso(&c), 4);
    let r = init(&mut c, -1, -1);
    assert_eq!(
        (r.error, r.producer_id, r.producer_epoch),
        (ErrorCode::None, pid, 2),
        "the fence took epoch 1 for the abort, the new instance gets 2"
    );
    // The old instance is fenced everywhere.
    assert_eq!(end(&mut c, pid, 0, true), ErrorCode::ProducerFenced);
    assert_eq!(add_orders(&mut c, pid, 0), ErrorCode::ProducerFenced);
}

#[test]
fn a_transaction_left_open_past_its_timeout_is_aborted_by_the_coordinator() {
    let mut c = cluster();
    let pid = init(&mut c, -1, -1).producer_id;
    assert_eq!(add_orders(&mut c, pid, 0), ErrorCode::None);
    produce_txn(&mut c, pid, 0);
    c.run(4_000);
    assert_eq!(state(&c), TransactionState::Ongoing, "not yet past 5 s");
    assert_eq!(lso(&c), 0);
    c.run(3_000);
    assert_eq!(state(&c), TransactionState::CompleteAbort);
    assert!(c.events.iter().any(|e| matches!(
        e,
        Event::TxnTimedOut {
            producer_epoch: 1,
            ..
        }
    )));
    assert_eq!(lso(&c), 4, "aborted: the LSO passes the marker");
    assert_eq!(end(&mut c, pid, 0, true), ErrorCode::ProducerFenced);
}

#[test]
fn the_coordinator_answers_only_for_partitions_it_has_loaded() {
    let mut c = Cluster::new(3, txn_config());
    let r = init(&mut c, -1, -1);
    assert_eq!(r.error, ErrorCode::NotCoordinator);
    let mut c = cluster();
    let request = InitProducerIdRequest {
        correlation_id: 1,
        transactional_id: Some("tx-1".into()),
        transaction_timeout_ms: 900_001,
        producer_id: -1,
        producer_epoch: -1,
    };
    match ask_txn(&mut c, Message::InitProducerId(request)) {
        Message::InitProducerIdResponse(r) => {
            assert_eq!(r.error, ErrorCode::InvalidTransactionTimeout)
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// `tp` led by `leader` in `epoch` with `replicas` (all in the ISR): LeaderAndIsr to the
/// replicas, UpdateMetadata naming the leader to every broker.
fn lead(c: &mut Cluster, tp: TopicPartition, leader: BrokerId, epoch: i32, replicas: &[BrokerId]) {
    let p = LeaderAndIsrPartition {
        tp: tp.clone(),
        leader: Some(leader),
        leader_epoch: epoch,
        isr: replicas.to_vec(),
        partition_epoch: epoch,
        replicas: replicas.to_vec(),
        controller_epoch: 1,
    };
    for &b in replicas {
        c.wire.push_back((
            NodeId::Broker(b),
            NodeId::Broker(CONTROLLER),
            Message::LeaderAndIsr(LeaderAndIsrRequest {
                controller_id: CONTROLLER,
                controller_epoch: 1,
                partitions: vec![p.clone()],
            }),
        ));
    }
    for b in 0..3 {
        c.wire.push_back((
            NodeId::Broker(b),
            NodeId::Broker(CONTROLLER),
            Message::UpdateMetadata(UpdateMetadataRequest {
                controller_id: CONTROLLER,
                controller_epoch: 1,
                live_brokers: vec![0, 1, 2],
                partitions: vec![PartitionMetadata {
                    tp: tp.clone(),
                    error: ErrorCode::None,
                    leader: Some(leader),
                    leader_epoch: epoch,
                    replicas: replicas.to_vec(),
                    isr: replicas.to_vec(),
                }],
            }),
        ));
    }
}

#[test]
fn a_new_coordinator_finishes_a_commit_whose_markers_the_old_one_could_not_write() {
    // `__transaction_state-0` on brokers 0 and 1 (0 leads); `orders-0` only on broker 2.
    let mut c = Cluster::new(3, txn_config());
    lead(&mut c, txn_tp(), 0, 0, &[0, 1]);
    lead(&mut c, tp(), 2, 0, &[2]);
    c.run(100);
    let ask_2 = |c: &mut Cluster, message: Message| {
        c.to_clients.clear();
        c.wire
            .push_back((NodeId::Broker(0), NodeId::Producer(0), message));
        c.run(500);
        c.to_clients.pop().expect("an answer")
    };
    let pid = match ask_2(
        &mut c,
        Message::InitProducerId(InitProducerIdRequest {
            correlation_id: 1,
            transactional_id: Some("tx-1".into()),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
        }),
    ) {
        Message::InitProducerIdResponse(r) => r.producer_id,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(add_orders(&mut c, pid, 0), ErrorCode::None);
    let stamp = BatchStamp {
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: 0,
        last_sequence: 1,
        is_transactional: true,
    };
    c.produce_batch(2, Acks::All, vec![(None, 0), (None, 1)], Some(stamp));
    c.name_last_produce("tx-1");
    c.run(100);
    // Broker 2 stops answering: the decision is written, its marker cannot be.
    c.down.insert(2);
    assert_eq!(end(&mut c, pid, 0, true), ErrorCode::None);
    c.run(1_000);
    assert_eq!(state(&c), TransactionState::PrepareCommit);
    // Broker 1 takes `__transaction_state-0` over; broker 2 comes back.
    lead(&mut c, txn_tp(), 1, 1, &[0, 1]);
    c.down.remove(&2);
    c.run(1_000);
    assert!(
        c.brokers[&0].txn_coordinator().transactions().is_empty(),
        "0 resigned"
    );
    let m = &c.brokers[&1].txn_coordinator().transactions()["tx-1"];
    assert_eq!(
        m.state,
        TransactionState::CompleteCommit,
        "1 finished the commit"
    );
    let log = &c.brokers[&2].disk().logs[&tp()];
    assert_eq!(
        log.log_end_offset(),
        3,
        "the COMMIT marker follows the two records"
    );
    assert_eq!(
        log.last_stable_offset(c.brokers[&2].high_watermark(&tp())),
        3
    );
    let marker_epoch = log
        .batches()
        .find_map(|b| b.control.as_ref().map(|m| m.coordinator_epoch));
    assert_eq!(
        marker_epoch,
        Some(1),
        "written with the new coordinator's epoch"
    );
}

#[test]
fn a_coordinator_that_stays_leader_in_a_new_epoch_reloads_and_finishes_under_it() {
    // As `a_new_coordinator_finishes_...`, but broker 0 keeps the partition: the controller
    // only bumps its leader epoch (as when it takes a dead replica out of the ISR).
    let mut c = Cluster::new(3, txn_config());
    lead(&mut c, txn_tp(), 0, 0, &[0, 1]);
    lead(&mut c, tp(), 2, 0, &[2]);
    c.run(100);
    let pid = init(&mut c, -1, -1).producer_id;
    assert_eq!(add_orders(&mut c, pid, 0), ErrorCode::None);
    let stamp = BatchStamp {
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: 0,
        last_sequence: 0,
        is_transactional: true,
    };
    c.produce_batch(2, Acks::All, vec![(None, 0)], Some(stamp));
    c.run(100);
    c.down.insert(2);
    assert_eq!(end(&mut c, pid, 0, false), ErrorCode::None);
    c.run(1_000);
    assert_eq!(state(&c), TransactionState::PrepareAbort);
    lead(&mut c, txn_tp(), 0, 1, &[0, 1]);
    c.down.remove(&2);
    c.run(1_000);
    assert_eq!(state(&c), TransactionState::CompleteAbort);
    let log = &c.brokers[&2].disk().logs[&tp()];
    let marker_epochs: Vec<i32> = log
        .batches()
        .filter_map(|b| b.control.as_ref().map(|m| m.coordinator_epoch))
        .collect();
    assert_eq!(
        marker_epochs,
        vec![1],
        "one ABORT marker, from the reloaded coordinator"
    );
    // The id goes on: the next transaction is added and committed.
    assert_eq!(add_orders(&mut c, pid, 0), ErrorCode::None);
    assert_eq!(end(&mut c, pid, 0, true), ErrorCode::None);
    c.run(500);
    assert_eq!(state(&c), TransactionState::CompleteCommit);
}
