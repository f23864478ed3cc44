//! How a broker reacts when leadership, connections or the controller's answers change
//! under it, as Kafka 3.7 does: a leader that stays leader, a follower fenced or cut off, an
//! acks=0 error, a follower waiting to join the ISR, refused ISR changes, a stale
//! controller, a new leader's latest offset.
use super::*;

/// `Partition.makeLeader` with `isNewLeader = false`: when the controller takes a dead
/// follower out of the ISR it bumps the leader epoch, and the leader that stays keeps what it
/// knows of its followers (`Replica.resetReplicaState`) and its waiting acks=all requests
/// (`ReplicaManager.makeLeaders` completes no produce purgatory). The request waiting on the
/// dead follower is answered as soon as the smaller ISR has the records.
#[test]
fn a_leader_that_stays_leader_keeps_its_followers_and_its_waiting_produces() {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.down.insert(2);
    c.produce(0, Acks::All, 0..3);
    c.run(100);
    assert_eq!(c.leo(1), 3, "the live follower has the records");
    assert!(c.to_clients.is_empty(), "acks=all waits for broker 2");
    c.leader_and_isr(0, 1, vec![0, 1], 1);
    c.run(1);
    assert_eq!(c.hw(0), 3, "the leader still knows broker 1's LEO");
    assert_eq!(c.to_clients.len(), 1, "{:?}", c.to_clients);
    assert_eq!(produce_answer(&c.to_clients[0]), (ErrorCode::None, Some(0)));
}

/// `AbstractFetcherThread.onPartitionFenced`: a follower fenced at the epoch it still has
/// stops fetching that partition until its own LeaderAndIsr arrives, and then fetches at
/// once; nothing waits out `replica.fetch.backoff.ms`.
#[test]
fn a_follower_fenced_at_its_own_epoch_waits_for_its_leader_and_isr() {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    // Only the leader hears of epoch 1 for now.
    c.leader_and_isr_to(&[0], 0, 1, vec![0, 1, 2], 1);
    c.produce(0, Acks::Leader, 0..2);
    c.run(600);
    let readiness = |c: &Cluster, b: BrokerId| match &c.brokers[&b].partitions[&tp()].role {
        Role::Follower { fetch, .. } => *fetch,
        Role::Leader(_) => panic!("broker {b} leads"),
    };
    assert_eq!(readiness(&c, 1), FetchReadiness::Failed);
    assert_eq!(c.leo(1), 0, "fenced, so nothing fetched");
    c.leader_and_isr_to(&[1, 2], 0, 1, vec![0, 1, 2], 1);
    c.run(5);
    assert_eq!(readiness(&c, 1), FetchReadiness::Ready);
    assert_eq!(c.leo(1), 2, "fetching again at once");
}

/// A follower hears at once that its leader's connection was reset (the leader crashed), as
/// Kafka's `NetworkClient` does: the fetch fails, and the follower fetches again after
/// `replica.fetch.backoff.ms`, not after `replica.socket.timeout.ms`.
#[test]
fn a_follower_retries_a_reset_connection_after_the_fetch_backoff() {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.down.insert(0);
    c.run(600);
    c.wire.push_back((
        NodeId::Broker(1),
        NodeId::Broker(0),
        Message::Disconnected(Disconnected {
            peer: NodeId::Broker(0),
        }),
    ));
    c.down.remove(&0);
    c.produce(0, Acks::Leader, 0..2);
    let backoff_ms = config().replica_fetch_backoff_ms;
    assert!(backoff_ms + 100 < config().replica_socket_timeout_ms);
    c.run(backoff_ms + 100);
    assert_eq!(c.leo(1), 2, "fetching again after the backoff");
}

/// `KafkaApis.handleProduceRequest`: an acks=0 request the broker cannot take gets no
/// answer, so the broker closes the producer's connection instead.
#[test]
fn an_acks_0_produce_to_a_follower_closes_the_connection() {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.to_clients.clear();
    c.produce(1, Acks::None, 0..2);
    c.run(1);
    assert!(
        matches!(
            c.to_clients.as_slice(),
            [Message::Disconnected(Disconnected {
                peer: NodeId::Broker(1)
            })]
        ),
        "{:?}",
        c.to_clients
    );
    c.to_clients.clear();
    c.produce(0, Acks::None, 0..2);
    c.run(1);
    assert!(c.to_clients.is_empty(), "the leader takes it silently");
}

/// Kafka's `Partition.maybeIncrementLeaderHW` (`shouldWaitForReplicaToJoinIsr`): a follower
/// that caught up but cannot join the ISR yet (another ISR change is in flight) holds the HW
/// while it stays caught up within `replica.lag.time.max.ms`.
#[test]
fn a_caught_up_follower_waiting_to_join_the_isr_holds_the_high_watermark() {
    let mut c = Cluster::new(3, config());
    // From 3.6 (KAFKA-15021) only a replica on a live broker counts: the leader's metadata says
    // which are, and `Cluster::new` told every broker that all three are.
    c.leader_and_isr(0, 0, vec![0], 0);
    c.run(10);
    c.produce(0, Acks::Leader, 0..3);
    c.run(100);
    assert_eq!((c.leo(1), c.leo(2)), (3, 3), "both followers caught up");
    // One of them asked to join; the test (the controller) does not answer yet.
    let joining: Vec<Vec<BrokerId>> = c
        .to_controller
        .iter()
        .filter_map(|m| match m {
            Message::AlterIsr(r) => Some(r.new_isr.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(joining.len(), 1, "one change at a time: {joining:?}");
    let waiting = if joining[0].contains(&1) { 2 } else { 1 };
    c.down.insert(waiting);
    c.produce(0, Acks::Leader, 3..5);
    c.run(100);
    assert_eq!(c.hw(0), 3, "broker {waiting} is caught up and holds the HW");
    c.run(config().replica_lag_time_max_ms + 100);
    assert_eq!(c.hw(0), 5, "no longer caught up: it holds nothing");
}

/// A LeaderAndIsr from a controller older than one the broker has heard from (a zombie
/// controller that has not yet learnt it was replaced) changes nothing: Kafka's
/// `ReplicaManager.becomeLeaderOrFollower` answers it STALE_CONTROLLER_EPOCH before looking
/// at a single partition.
#[test]
fn leader_and_isr_from_an_older_controller_is_rejected() {
    let from_controller = |controller_epoch: i32, leader: BrokerId, leader_epoch: LeaderEpoch| {
        Message::LeaderAndIsr(LeaderAndIsrRequest {
            controller_id: CONTROLLER,
            controller_epoch,
            partitions: vec![LeaderAndIsrPartition {
                tp: tp(),
                leader: Some(leader),
                leader_epoch,
                isr: vec![0, 1, 2],
                partition_epoch: leader_epoch,
                replicas: vec![0, 1, 2],
                controller_epoch,
            }],
        })
    };
    let mut c = Cluster::new(3, config());
    for b in 0..3 {
        c.wire.push_back((
            NodeId::Broker(b),
            NodeId::Broker(CONTROLLER),
            from_controller(2, 0, 1),
        ));
    }
    c.run(10);
    assert_eq!(c.brokers[&1].partition_role(&tp()), Some((1, false)));
    c.events.clear();

    // Controller epoch 1 would make broker 1 the leader in a newer leader epoch.
    c.wire.push_back((
        NodeId::Broker(1),
        NodeId::Broker(CONTROLLER),
        from_controller(1, 1, 2),
    ));
    c.run(10);
    assert_eq!(
        c.brokers[&1].partition_role(&tp()),
        Some((1, false)),
        "still a follower in leader epoch 1"
    );
    assert_eq!(c.brokers[&0].partition_role(&tp()), Some((1, true)));
    assert!(
        c.events.contains(&Event::StaleControllerRequestRejected {
            broker: 1,
            request_controller_epoch: 1,
            current_controller_epoch: 2,
        }),
        "{:?}",
        c.events
    );
    assert!(
        !c.events
            .iter()
            .any(|e| matches!(e, Event::BecameLeader { .. } | Event::BecameFollower { .. })),
        "no role change: {:?}",
        c.events
    );
}

/// `Partition.handleAlterPartitionError` (3.7): NOT_CONTROLLER is retried at once,
/// INELIGIBLE_REPLICA reverts to the committed ISR, INVALID_UPDATE_VERSION leaves the change
/// pending (no retry, no timeout) until a LeaderAndIsr brings the controller's state.
#[test]
fn a_refused_isr_change_is_retried_reverted_or_left_pending_as_kafka_does() {
    let alter_isrs = |c: &mut Cluster| -> usize {
        let n = c
            .to_controller
            .iter()
            .filter(|m| matches!(m, Message::AlterIsr(_)))
            .count();
        c.to_controller.clear();
        n
    };
    let answer = |c: &mut Cluster, error: ErrorCode| {
        c.wire.push_back((
            NodeId::Broker(0),
            NodeId::Broker(CONTROLLER),
            Message::AlterIsrResponse(AlterIsrResponse {
                tp: tp(),
                error,
                state: None,
            }),
        ));
        c.run(1);
    };
    let pending = |c: &Cluster| match &c.brokers[&0].partitions[&tp()].role {
        Role::Leader(l) => l.pending_isr.clone(),
        Role::Follower { .. } => panic!("broker 0 leads"),
    };
    let mut c = Cluster::new(3, config());
    c.down.insert(2);
    c.leader_and_isr(0, 0, vec![0], 0);
    c.run(50);
    assert_eq!(alter_isrs(&mut c), 1, "broker 1 caught up and asks to join");
    answer(&mut c, ErrorCode::NotController);
    assert_eq!(alter_isrs(&mut c), 1, "retried at once");
    answer(&mut c, ErrorCode::IneligibleReplica);
    assert_eq!(pending(&c), None, "back to the committed ISR");
    c.run(600);
    assert_eq!(
        alter_isrs(&mut c),
        1,
        "broker 1 is proposed again on its next fetch"
    );
    answer(&mut c, ErrorCode::InvalidUpdateVersion);
    c.run(ALTER_ISR_TIMEOUT_MS + 1_000);
    assert_eq!(pending(&c), Some(vec![0, 1]), "still pending");
    assert_eq!(alter_isrs(&mut c), 0, "and not retried");
}

/// KIP-207 (`Partition.fetchOffsetForTimestamp`, from 2.2): a new leader whose HW has not
/// reached the start of its epoch answers ListOffsets LATEST with OFFSET_NOT_AVAILABLE;
/// before 2.2 it answered with that lower HW.
#[test]
fn a_new_leader_gives_no_latest_offset_until_its_hw_reaches_its_epoch_start() {
    let latest = Message::ListOffsets(ListOffsetsRequest {
        correlation_id: 3,
        tp: tp(),
        spec: OffsetSpec::Latest,
        current_leader_epoch: None,
        isolation_level: IsolationLevel::ReadUncommitted,
    });
    for (version, expected) in [
        ("2.1.1", ErrorCode::None),
        ("3.7.1", ErrorCode::OffsetNotAvailable),
    ] {
        let release = crate::config::KafkaVersion::parse(version).unwrap();
        let cfg = BrokerConfig {
            kafka_version: release,
            inter_broker_protocol_version: release.protocol_version(),
            ..config()
        };
        let mut c = Cluster::new(3, cfg);
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.run(10);
        c.produce(0, Acks::All, 0..3);
        c.run(5);
        // Broker 1 has the records but has not yet heard the HW that covers them; it leads
        // epoch 1 while broker 2 is away, so its HW stays below where its epoch starts.
        c.down.insert(2);
        c.down.insert(0);
        c.leader_and_isr(1, 1, vec![1, 2], 1);
        c.run(1);
        assert_eq!(c.leo(1), 3);
        assert!(c.hw(1) < 3, "version {version}: HW {}", c.hw(1));
        match ask(&mut c, 1, latest.clone()) {
            Message::ListOffsetsResponse(r) => assert_eq!(r.error, expected, "version {version}"),
            other => panic!("not a ListOffsets answer: {other:?}"),
        }
    }
}

/// `AbstractFetcherThread.processFetchRequest` keeps a partition's data only while the
/// fetcher still fetches that partition from that leader: a fetch answer that arrives after
/// the broker became leader itself (or moved to another leader) is dropped, records and all.
#[test]
fn a_fetch_answer_for_a_partition_no_longer_followed_is_dropped() {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    // The followers' fetches wait at the leader; a write answers them.
    c.produce(0, Acks::Leader, 0..3);
    let (to, from, produce) = c.wire.pop_front().expect("the produce request");
    c.deliver(to, from, produce);
    let answers_to_1 = c
        .wire
        .iter()
        .filter(|(to, _, m)| *to == NodeId::Broker(1) && matches!(m, Message::FetchResponse(_)))
        .count();
    assert_eq!(
        answers_to_1, 1,
        "broker 1's fetch is answered with the records"
    );
    // Before the answer arrives, broker 1 is made leader of a new epoch.
    c.leader_and_isr_to(&[1], 1, 1, vec![1], 1);
    let (to, from, leader_and_isr) = c.wire.pop_back().expect("the LeaderAndIsr");
    c.deliver(to, from, leader_and_isr);
    assert_eq!(c.brokers[&1].partition_role(&tp()), Some((1, true)));
    c.run(1);
    assert_eq!(c.leo(1), 0, "the old leader's records are not appended");
    assert_eq!(c.hw(1), 0);
}

/// `Partition.handleAlterPartitionUpdate`: a successful AlterIsr answer is taken only for the
/// leader epoch the leader holds and a partition epoch not older than its own. An answer with
/// the same partition epoch ("already applied") commits the ISR too.
#[test]
fn an_alter_isr_answer_for_other_epochs_is_dropped() {
    let answer = |c: &mut Cluster, leader_epoch: LeaderEpoch, partition_epoch: i32| {
        c.alter_isr_accepted(leader_epoch, vec![0, 1], partition_epoch);
        c.run(1);
    };
    let pending = |c: &Cluster| match &c.brokers[&0].partitions[&tp()].role {
        Role::Leader(l) => l.pending_isr.clone(),
        Role::Follower { .. } => panic!("broker 0 leads"),
    };
    // Broker 0 leads at leader epoch 1, partition epoch 3, and proposes dropping broker 2.
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 1, vec![0, 1, 2], 3);
    c.run(10);
    c.down.insert(2);
    c.produce(0, Acks::Leader, 0..1);
    c.run(2_000);
    assert_eq!(pending(&c), Some(vec![0, 1]));
    answer(&mut c, 1, 2);
    assert_eq!(
        c.brokers[&0].isr(&tp()),
        Some(vec![0, 1, 2]),
        "an older partition epoch"
    );
    answer(&mut c, 0, 4);
    assert_eq!(
        c.brokers[&0].isr(&tp()),
        Some(vec![0, 1, 2]),
        "another leader epoch"
    );
    assert_eq!(
        pending(&c),
        Some(vec![0, 1]),
        "both dropped, the change still pending"
    );
    answer(&mut c, 1, 3);
    assert_eq!(
        c.brokers[&0].isr(&tp()),
        Some(vec![0, 1]),
        "already applied: committed"
    );
    assert_eq!(pending(&c), None);
}
