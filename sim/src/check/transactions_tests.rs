use super::*;
use crate::check::partitions::tests::{at, id};
use crate::record::FinalPartition;
use kafka_model::event::AbortReason;

const PID: i64 = 7;

fn tp(partition: u32) -> TopicPartition {
    TopicPartition::new("orders", partition)
}

fn txn(epoch: i16, number: u64) -> TransactionRef {
    TransactionRef {
        producer_id: PID,
        producer_epoch: epoch,
        number,
    }
}

fn sent(seq: u64, partition: u32, t: TransactionRef) -> Event {
    Event::RecordSent {
        producer: 0,
        id: id(seq),
        tp: tp(partition),
        transaction: Some(t),
        input: None,
    }
}

/// Broker 0, leader, appends the records `seqs` from offset `from` of `orders-partition`.
fn append(partition: u32, from: u64, seqs: &[u64]) -> Event {
    Event::Appended {
        broker: 0,
        tp: tp(partition),
        as_leader: true,
        records: seqs
            .iter()
            .enumerate()
            .map(|(i, s)| (from + i as u64, id(*s), 0))
            .collect(),
        log_end_offset: from + seqs.len() as u64,
        markers: Vec::new(),
    }
}

/// Broker 0 appends a marker of producer id [`PID`] at `offset`.
fn marker(partition: u32, offset: u64, control_type: ControlRecordType) -> Event {
    Event::Appended {
        broker: 0,
        tp: tp(partition),
        as_leader: true,
        records: Vec::new(),
        log_end_offset: offset + 1,
        markers: vec![AppendedMarker {
            offset,
            producer_id: PID,
            producer_epoch: 0,
            control_type,
        }],
    }
}

fn leader(partition: u32) -> Event {
    Event::BecameLeader {
        broker: 0,
        tp: tp(partition),
        leader_epoch: 0,
        log_end_offset: 0,
        high_watermark: 0,
        isr: vec![0],
    }
}

fn consumed(partition: u32, records: &[(u64, u64)]) -> Event {
    Event::Consumed {
        consumer: 0,
        tp: tp(partition),
        served_by: 0,
        high_watermark: 0,
        records: records.iter().map(|(o, s)| (*o, id(*s))).collect(),
    }
}

fn committed(t: TransactionRef) -> Event {
    Event::TransactionCommitted {
        producer: 0,
        transactional_id: "tx".into(),
        transaction: t,
        records: 1,
        partitions: vec![tp(0)],
    }
}

fn initialized(producer: u32, epoch: i16) -> Event {
    Event::TransactionsInitialized {
        producer,
        transactional_id: "tx".into(),
        producer_id: PID,
        producer_epoch: epoch,
        epoch_bump: false,
    }
}

fn begun(t: TransactionRef) -> Event {
    Event::TransactionBegun {
        producer: 0,
        transactional_id: "tx".into(),
        transaction: t,
    }
}

/// Broker 0 leads `orders-0` and `orders-1` at the end.
fn led_by_0() -> FinalState {
    FinalState {
        partitions: (0..2)
            .map(|p| FinalPartition {
                tp: tp(p),
                leader: Some(0),
                leader_epoch: 0,
                isr: vec![0],
                replicas: vec![0],
                replica_states: Vec::new(),
            })
            .collect(),
        groups: Vec::new(),
    }
}

fn timed(events: Vec<Event>) -> Vec<RecordedEvent> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| at(i as u64 * 10, e))
        .collect()
}

fn reader() -> BTreeSet<u32> {
    BTreeSet::from([0])
}

#[test]
fn a_read_committed_read_of_an_aborted_record_is_caught() {
    let t = txn(0, 1);
    let events = timed(vec![
        sent(0, 0, t),
        sent(1, 0, t),
        append(0, 0, &[0, 1]),
        // Read before any marker, aborted later: caught once the ABORT is in the log.
        consumed(0, &[(0, 0)]),
        marker(0, 2, ControlRecordType::Abort),
        consumed(0, &[(1, 1)]),
    ]);
    let v = txn_aborted_read(&events, &reader());
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v.iter().all(|v| v.invariant == Invariant::TxnAbortedRead));
    assert_eq!((v[0].at_ms, v[1].at_ms), (50, 30));
    assert!(
        v[0].detail.contains("ABORT marker at offset 2"),
        "{}",
        v[0].detail
    );
    // A read_uncommitted consumer may read aborted records.
    assert!(txn_aborted_read(&events, &BTreeSet::new()).is_empty());
}

#[test]
fn an_acknowledged_abort_alone_makes_a_read_aborted() {
    let t = txn(0, 1);
    let events = timed(vec![
        sent(0, 0, t),
        append(0, 0, &[0]),
        Event::TransactionAborted {
            producer: 0,
            transactional_id: "tx".into(),
            transaction: t,
            records: 1,
            partitions: vec![tp(0)],
            reason: AbortReason::Application,
        },
        // A later commit marker of the producer id takes the record in (KIP-890's hanging
        // transaction), but the application was told it was aborted.
        marker(0, 1, ControlRecordType::Commit),
        consumed(0, &[(0, 0)]),
    ]);
    let v = txn_aborted_read(&events, &reader());
    assert_eq!(v.len(), 1);
    assert!(
        v[0].detail.contains("abortTransaction()"),
        "{}",
        v[0].detail
    );
}

#[test]
fn reading_committed_records_is_clean() {
    let t = txn(0, 1);
    let events = timed(vec![
        leader(0),
        sent(0, 0, t),
        sent(1, 0, t),
        append(0, 0, &[0, 1]),
        marker(0, 2, ControlRecordType::Commit),
        consumed(0, &[(0, 0), (1, 1)]),
    ]);
    assert!(txn_aborted_read(&events, &reader()).is_empty());
    assert!(txn_uncommitted_read(&events, &reader()).is_empty());
}

#[test]
fn a_read_of_an_open_transaction_is_above_the_lso() {
    let t = txn(0, 1);
    let events = timed(vec![
        leader(0),
        // A plain record below the transaction, then the transaction's two.
        append(0, 0, &[5]),
        sent(0, 0, t),
        sent(1, 0, t),
        append(0, 1, &[0, 1]),
        // The HW (bound: the leader's LEO, its ISR is itself) is 3, the LSO 1.
        consumed(0, &[(0, 5), (1, 0)]),
    ]);
    let v = txn_uncommitted_read(&events, &reader());
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].invariant, Invariant::TxnUncommittedRead);
    assert!(
        v[0].detail.contains("at offset 1") && v[0].detail.contains("at most 1"),
        "{}",
        v[0].detail
    );
    // A read_uncommitted consumer reads up to the HW.
    assert!(txn_uncommitted_read(&events, &BTreeSet::new()).is_empty());
}

#[test]
fn a_marker_not_yet_below_the_hw_holds_the_lso() {
    let t = txn(0, 1);
    let tp0 = tp(0);
    let log_events = timed(vec![
        sent(0, 0, t),
        append(0, 0, &[0]),
        marker(0, 1, ControlRecordType::Commit),
    ]);
    let mut replay = LogReplay::default();
    for e in &log_events {
        replay.apply(&e.event);
    }
    let log = replay.replica(0, &tp0).expect("replayed");
    let of = transaction_of(&log_events);
    assert_eq!(last_stable_offset(log, 1, &of), (0, Some(PID)));
    assert_eq!(last_stable_offset(log, 2, &of), (2, None));
}

#[test]
fn an_acknowledged_commit_without_its_marker_is_lost() {
    let t = txn(0, 1);
    let mut events = timed(vec![
        sent(0, 0, t),
        sent(1, 0, t),
        append(0, 0, &[0]),
        committed(t),
    ]);
    // Right after the commit returned its markers may still be on the way: only the record
    // the leader lacks is lost then.
    let v = txn_lost_commit(&events, &led_by_0());
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].detail.contains("does not hold it"), "{}", v[0].detail);
    // Long after, a record with no marker is lost too.
    events.push(at(60_000, sent(2, 1, txn(0, 2))));
    let v = txn_lost_commit(&events, &led_by_0());
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v.iter().all(|v| v.invariant == Invariant::TxnLostCommit));
    assert!(
        v[0].detail.contains("no marker after it"),
        "{}",
        v[0].detail
    );
    assert!(v[1].detail.contains("does not hold it"), "{}", v[1].detail);
}

#[test]
fn an_acknowledged_commit_with_its_markers_is_kept() {
    let t = txn(0, 1);
    let events = timed(vec![
        sent(0, 0, t),
        sent(1, 0, t),
        append(0, 0, &[0, 1]),
        committed(t),
        marker(0, 2, ControlRecordType::Commit),
        // Retention took record 0 on purpose: not lost.
        crate::check::removal::tests::retention(0, 1, &[(0, 0)]),
    ]);
    assert!(txn_lost_commit(&events, &led_by_0()).is_empty());
}

#[test]
fn a_transaction_committed_on_one_partition_and_aborted_on_another_is_torn() {
    let t = txn(0, 1);
    let mut events = vec![
        sent(0, 0, t),
        sent(1, 1, t),
        append(0, 0, &[0]),
        append(1, 0, &[1]),
        marker(0, 1, ControlRecordType::Commit),
    ];
    let torn = timed(
        events
            .iter()
            .cloned()
            .chain([marker(1, 1, ControlRecordType::Abort)])
            .collect(),
    );
    let v = txn_torn(&torn, &led_by_0());
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].invariant, Invariant::TxnTorn);
    assert_eq!(v[0].partition, Some(tp(1)));
    assert!(v[0]
        .detail
        .contains("committed on [orders-0] and aborted on [orders-1]"));
    events.push(marker(1, 1, ControlRecordType::Commit));
    assert!(txn_torn(&timed(events), &led_by_0()).is_empty());
}

#[test]
fn a_committed_write_of_a_fenced_instance_is_a_zombie_write() {
    let t = txn(0, 1);
    let events = timed(vec![
        initialized(0, 0),
        begun(t),
        sent(0, 0, t),
        // A new instance of "tx" fences epoch 0 before the commit of t was decided...
        initialized(1, 2),
        // ...and the old instance's write ends up under a COMMIT marker of the producer id.
        append(0, 0, &[0]),
        marker(0, 1, ControlRecordType::Commit),
    ]);
    let v = zombie_write(&events, &led_by_0());
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].invariant, Invariant::ZombieWrite);
    assert!(v[0].detail.contains("after the fence"), "{}", v[0].detail);
}

#[test]
fn a_transaction_committed_before_the_fence_is_no_zombie_write() {
    let t = txn(0, 1);
    let events = timed(vec![
        initialized(0, 0),
        begun(t),
        sent(0, 0, t),
        append(0, 0, &[0]),
        Event::TxnStateWritten {
            broker: 0,
            transactional_id: "tx".into(),
            producer_id: PID,
            producer_epoch: 0,
            from: "Ongoing".into(),
            to: "PrepareCommit".into(),
            partitions: vec![tp(0)],
            end_txn_for: None,
        },
        // The new instance comes after the decision; the markers complete the commit.
        initialized(1, 1),
        marker(0, 1, ControlRecordType::Commit),
    ]);
    assert!(zombie_write(&events, &led_by_0()).is_empty());
    assert!(txn_torn(&events, &led_by_0()).is_empty());
}

#[test]
fn a_commit_decision_a_new_coordinator_loaded_before_the_fence_is_no_zombie_write() {
    let t = txn(0, 1);
    let events = timed(vec![
        initialized(0, 0),
        begun(t),
        sent(0, 0, t),
        append(0, 0, &[0]),
        // The coordinator's PrepareCommit append never finished on its side; its successor
        // read the decision from __transaction_state and completes it.
        Event::TxnCoordinatorLoaded {
            broker: 1,
            partition: 0,
            coordinator_epoch: 1,
            transactions: vec![("tx".into(), "PrepareCommit".into())],
        },
        marker(0, 1, ControlRecordType::Commit),
        initialized(1, 1),
    ]);
    assert!(zombie_write(&events, &led_by_0()).is_empty());
    // Without the decision, the same commit is a fenced instance's.
    let mut undecided = events.clone();
    undecided.remove(4);
    let v = zombie_write(&undecided, &led_by_0());
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].detail
            .contains("in a transaction the fence was to abort"),
        "{}",
        v[0].detail
    );
}
