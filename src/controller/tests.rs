//! The controller in a running cluster: brokers, ZooKeeper and the admin client on the
//! in-memory harness ([`crate::testing`]), with brokers crashed and restarted by hand. Each
//! test asserts what ZooKeeper holds after the controller acted (leader, leader epoch, ISR,
//! controller epoch) and what the brokers believe.

use crate::config::{BrokerConfig, KafkaVersion, ProtocolVersion, TopicConfig};
use crate::event::{ElectionReason, Event};
use crate::protocol::{
    ElectLeadersRequest, ElectionType, Message, ProducePartition, ProduceRequest,
};
use crate::testing::{Cluster, ClusterSpec, ZkPartitionState};
use crate::types::{Acks, BrokerId, ErrorCode, NodeId, ProducerRecord, RecordId, TopicPartition};

/// ZooKeeper's smallest session timeout, so a crashed broker is declared dead quickly.
const SESSION_TIMEOUT_MS: u64 = 6_000;

/// Long enough for a crashed broker's session to expire and the controller to act on it.
const FAILURE_DETECTED_MS: u64 = 3 * SESSION_TIMEOUT_MS;

fn config() -> BrokerConfig {
    BrokerConfig {
        zookeeper_session_timeout_ms: SESSION_TIMEOUT_MS,
        ..BrokerConfig::default()
    }
}

/// Three partitions, one per pair of brokers, so whichever broker becomes controller, one
/// partition has neither of its replicas on it; and three partitions led by each broker.
fn spec() -> ClusterSpec {
    ClusterSpec::new(&[0, 1, 2])
        .config(config())
        .topic("pairs", &[&[0, 1], &[1, 2], &[2, 0]])
        .topic("triples", &[&[0, 1, 2], &[1, 2, 0], &[2, 0, 1]])
}

fn pairs(p: u32) -> TopicPartition {
    TopicPartition::new("pairs", p)
}

fn triples(p: u32) -> TopicPartition {
    TopicPartition::new("triples", p)
}

/// A started cluster once every partition has its first leader.
fn settled(spec: ClusterSpec) -> Cluster {
    let mut c = Cluster::start(spec);
    c.run_for(10_000);
    assert!(c.topics_created());
    for tp in (0..3).flat_map(|p| [pairs(p), triples(p)]) {
        let state = c.zk_partition_state(&tp).expect("a state znode");
        assert_eq!(state.leader_epoch, 0, "{tp}");
        assert!(state.leader.is_some(), "{tp}");
    }
    c
}

fn state(c: &Cluster, tp: &TopicPartition) -> ZkPartitionState {
    c.zk_partition_state(tp).expect("a state znode")
}

/// The controller ZooKeeper names, checked against the one broker acting as controller.
fn controller(c: &Cluster) -> BrokerId {
    let controller = c.controller().expect("a controller");
    assert_eq!(c.brokers_acting_as_controller(), vec![controller]);
    controller
}

/// The partition of `triples` whose preferred leader is `b`.
fn triple_led_by(c: &Cluster, b: BrokerId) -> TopicPartition {
    let tp = triples(b as u32);
    assert_eq!(c.leader(&tp), Some(b));
    tp
}

/// The partition of `pairs` with no replica on `b`.
fn pair_without(b: BrokerId) -> (TopicPartition, BrokerId, BrokerId) {
    match b {
        0 => (pairs(1), 1, 2),
        1 => (pairs(2), 2, 0),
        _ => (pairs(0), 0, 1),
    }
}

fn elections(c: &Cluster, tp: &TopicPartition) -> Vec<Event> {
    c.events()
        .iter()
        .map(|(_, _, e)| e)
        .filter(|e| matches!(e, Event::LeaderElected { tp: t, .. } if t == tp))
        .cloned()
        .collect()
}

/// Every running broker holding the partition agrees with ZooKeeper: the leader (and only
/// it) leads, at the leader epoch ZooKeeper holds, with ZooKeeper's ISR.
fn brokers_agree_with_zookeeper(c: &Cluster, tp: &TopicPartition) {
    let zk = state(c, tp);
    match zk.leader {
        Some(leader) => {
            assert_eq!(
                c.brokers_leading(tp),
                vec![(leader, zk.leader_epoch)],
                "{tp}"
            );
            assert_eq!(c.broker_isr(leader, tp), Some(zk.isr.clone()), "{tp}");
        }
        None => assert_eq!(c.brokers_leading(tp), vec![], "{tp}"),
    }
    for b in &zk.isr {
        if let Some((epoch, _)) = c.broker_role(*b, tp) {
            assert_eq!(epoch, zk.leader_epoch, "{tp} on broker {b}");
        }
    }
}

#[test]
fn a_dead_leader_is_replaced_from_the_isr_at_a_new_leader_epoch() {
    let mut c = settled(spec());
    let controller = controller(&c);
    // A leader that is not the controller, so only the leader fails.
    let dead = (controller + 1) % 3;
    let tp = triple_led_by(&c, dead);
    let before = state(&c, &tp);
    assert_eq!(before.isr.len(), 3);

    c.crash(dead);
    c.run_for(FAILURE_DETECTED_MS);

    let after = state(&c, &tp);
    let expected_leader = (dead + 1) % 3; // the next replica of the assignment
    assert_eq!(after.leader, Some(expected_leader));
    assert_eq!(after.leader_epoch, before.leader_epoch + 1);
    assert!(!after.isr.contains(&dead), "the dead leader left the ISR");
    let survivors: Vec<BrokerId> = before.isr.iter().copied().filter(|r| *r != dead).collect();
    assert_eq!(
        after.isr, survivors,
        "the ISR keeps its live members in order"
    );
    assert_eq!(after.controller_epoch, 1);
    assert_eq!(
        self::controller(&c),
        controller,
        "the controller did not change"
    );
    brokers_agree_with_zookeeper(&c, &tp);
    let last = elections(&c, &tp).pop().expect("an election");
    assert!(matches!(
        last,
        Event::LeaderElected {
            previous_leader: Some(p),
            unclean: false,
            reason: ElectionReason::LeaderFailed,
            ..
        } if p == dead
    ));
}

#[test]
fn a_dead_follower_leaves_the_isr() {
    let mut c = settled(spec());
    let controller = controller(&c);
    let leader = (controller + 1) % 3;
    let follower = (controller + 2) % 3;
    let tp = triple_led_by(&c, leader);
    let before = state(&c, &tp);

    c.crash(follower);
    c.run_for(FAILURE_DETECTED_MS);

    let after = state(&c, &tp);
    assert_eq!(after.leader, Some(leader), "the leader stays");
    assert_eq!(after.leader_epoch, before.leader_epoch + 1);
    let expected: Vec<BrokerId> = before
        .isr
        .iter()
        .copied()
        .filter(|r| *r != follower)
        .collect();
    assert_eq!(after.isr, expected);
    brokers_agree_with_zookeeper(&c, &tp);
    let shrunk = c.events().iter().any(|(_, _, e)| {
        matches!(e, Event::ControllerShrunkIsr { tp: t, removed, .. }
            if t == &tp && removed == &vec![follower])
    });
    assert!(shrunk, "the controller took the follower out");
}

/// Leaves `tp` (replicas `first`, `second`, neither the controller) offline with ISR
/// `[first]`: `second` dies and leaves the ISR, then `first` dies, then `second` comes back,
/// out of sync.
fn out_of_sync_replica_returns(
    c: &mut Cluster,
    tp: &TopicPartition,
    first: BrokerId,
    second: BrokerId,
) {
    assert_eq!(c.leader(tp), Some(first));
    c.crash(second);
    c.run_for(FAILURE_DETECTED_MS);
    assert_eq!(state(c, tp).isr, vec![first]);
    c.crash(first);
    c.run_for(FAILURE_DETECTED_MS);
    let offline = state(c, tp);
    assert_eq!(offline.leader, None, "no replica left to lead");
    assert_eq!(offline.isr, vec![first], "the ISR keeps its last member");
    c.restart(second);
    c.run_for(FAILURE_DETECTED_MS);
    assert!(c.registered_brokers().contains(&second));
}

#[test]
fn an_out_of_sync_replica_is_not_elected_when_unclean_election_is_disabled() {
    let mut c = settled(spec());
    let (tp, first, second) = pair_without(controller(&c));
    let leader_epoch_before = state(&c, &tp).leader_epoch;

    out_of_sync_replica_returns(&mut c, &tp, first, second);

    let after = state(&c, &tp);
    assert_eq!(after.leader, None, "the partition stays offline");
    assert_eq!(after.isr, vec![first]);
    // One bump for the shrink, one for going offline; none for the return.
    assert_eq!(after.leader_epoch, leader_epoch_before + 2);
    assert_ne!(
        c.broker_role(second, &tp).map(|(_, leads)| leads),
        Some(true)
    );
    assert!(c.brokers_leading(&tp).is_empty());
    let offline = c.events().iter().any(|(_, _, e)| {
        matches!(e, Event::PartitionOffline { tp: t, live_replicas, .. }
            if t == &tp && live_replicas.is_empty())
    });
    assert!(offline);
    let unclean = elections(&c, &tp)
        .iter()
        .any(|e| matches!(e, Event::LeaderElected { unclean: true, .. }));
    assert!(!unclean);
}

#[test]
fn an_out_of_sync_replica_is_elected_when_unclean_election_is_enabled() {
    let unclean = TopicConfig {
        unclean_leader_election_enable: true,
        ..TopicConfig::default()
    };
    let mut c = settled(spec().topic_config("pairs", unclean));
    let (tp, first, second) = pair_without(controller(&c));
    let leader_epoch_before = state(&c, &tp).leader_epoch;

    out_of_sync_replica_returns(&mut c, &tp, first, second);

    let after = state(&c, &tp);
    assert_eq!(after.leader, Some(second), "the out-of-sync replica leads");
    assert_eq!(after.isr, vec![second], "alone in the ISR");
    assert_eq!(after.leader_epoch, leader_epoch_before + 3);
    brokers_agree_with_zookeeper(&c, &tp);
    let last = elections(&c, &tp).pop().expect("an election");
    assert!(matches!(
        last,
        Event::LeaderElected {
            leader: Some(l),
            unclean: true,
            reason: ElectionReason::BrokerReturned,
            ..
        } if l == second
    ));
}

#[test]
fn when_the_controller_dies_another_broker_takes_over_with_a_higher_epoch() {
    let mut c = settled(spec());
    let old = controller(&c);
    let epoch_before = c.controller_epoch().expect("an epoch");
    let tp = triple_led_by(&c, old);
    let before = state(&c, &tp);

    c.crash(old);
    c.run_for(FAILURE_DETECTED_MS);

    let new = controller(&c);
    assert_ne!(new, old);
    assert_eq!(c.controller_epoch(), Some(epoch_before + 1));
    let won = c.events().iter().any(|(_, _, e)| {
        matches!(e, Event::ControllerElected { broker, controller_epoch }
            if *broker == new && *controller_epoch == epoch_before + 1)
    });
    assert!(won);
    // The dead controller's partition moved on, written by the new controller: first its
    // dead replica went offline (no leader, out of the ISR), then the election, two writes
    // (`onControllerFailover` starts the replica state machine before the partition one).
    let after = state(&c, &tp);
    assert_eq!(after.leader, Some((old + 1) % 3));
    assert_eq!(after.leader_epoch, before.leader_epoch + 2);
    assert!(!after.isr.contains(&old));
    assert_eq!(after.controller_epoch, epoch_before + 1);
    // Every partition has a live leader from its ISR, and the brokers agree.
    for tp in (0..3).flat_map(|p| [pairs(p), triples(p)]) {
        let s = state(&c, &tp);
        let leader = s.leader.expect("a leader");
        assert_ne!(leader, old, "{tp}");
        assert!(s.isr.contains(&leader), "{tp}");
        brokers_agree_with_zookeeper(&c, &tp);
    }

    // The old controller comes back as a plain broker.
    c.restart(old);
    c.run_for(FAILURE_DETECTED_MS);
    assert_eq!(controller(&c), new);
    assert_eq!(c.controller_epoch(), Some(epoch_before + 1));
}

/// Kafka 2.6: leaders write their own ISR changes to ZooKeeper (before KIP-497).
fn kafka_2_6() -> BrokerConfig {
    BrokerConfig {
        kafka_version: KafkaVersion::parse("2.6.3").expect("a release"),
        inter_broker_protocol_version: ProtocolVersion::parse("2.6").expect("a protocol"),
        replica_lag_time_max_ms: 10_000,
        ..config()
    }
}

/// A partition led by a broker that is not the controller, its follower that is not the
/// controller either (cut off from the leader, so it falls out of the ISR), and the state
/// before the cut.
fn follower_cut_off(c: &mut Cluster) -> (TopicPartition, BrokerId, BrokerId, ZkPartitionState) {
    let controller = controller(c);
    let leader = (controller + 1) % 3;
    let follower = (controller + 2) % 3;
    let tp = triple_led_by(c, leader);
    let before = state(c, &tp);
    assert_eq!(before.isr.len(), 3);
    c.cut(NodeId::Broker(leader), NodeId::Broker(follower));
    // One record the follower cannot fetch: a follower at the leader's end is never behind.
    let record = ProducerRecord {
        id: RecordId {
            producer: 0,
            seq: 0,
        },
        timestamp_ms: c.now_ms(),
        key: None,
        value: Some("v".into()),
        value_bytes: 1,
        headers: vec![],
    };
    let produce = ProduceRequest {
        correlation_id: 1,
        transactional_id: None,
        transaction_version: crate::coordinator::transaction::TransactionVersion::V0,
        acks: Acks::Leader,
        timeout_ms: 30_000,
        partitions: vec![ProducePartition {
            tp: tp.clone(),
            records: vec![record],
            producer: None,
        }],
    };
    c.send(
        NodeId::Producer(0),
        NodeId::Broker(leader),
        Message::Produce(produce),
    );
    let shrunk = c.run_until(30_000, |c| state(c, &tp).isr.len() == 2);
    assert!(
        shrunk,
        "the leader drops the follower it no longer hears from"
    );
    c.run_for(1);
    (tp, leader, follower, before)
}

/// Before 2.7 the leader writes the state znode itself (same leader epoch, next version,
/// the controller epoch it was told), and the controller hears of it only through the
/// `/isr_change_notification` znode the leader leaves once no change came for 5 s; then every
/// broker's metadata has the new ISR.
#[test]
fn before_2_7_a_leader_writes_its_isr_and_the_controller_hears_through_a_notification() {
    let mut c = settled(spec().config(kafka_2_6()));
    let (tp, leader, follower, before) = follower_cut_off(&mut c);
    let after = state(&c, &tp);
    let written_at_ms = c.now_ms() - 1;
    assert_eq!(after.leader, Some(leader));
    assert_eq!(
        after.leader_epoch, before.leader_epoch,
        "no new leader epoch"
    );
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.controller_epoch, before.controller_epoch);
    assert!(!after.isr.contains(&follower));
    assert_eq!(c.broker_isr(leader, &tp), Some(after.isr.clone()));
    assert_eq!(
        c.broker(follower).and_then(|b| b.metadata_isr(&tp)),
        Some(before.isr.clone()),
        "nobody else knows yet"
    );

    let told = c.run_until(10_000, |c| {
        c.events().iter().any(|(_, _, e)| {
            matches!(e, Event::IsrChangesPropagated { broker, partitions }
                if *broker == leader && partitions.contains(&tp))
        })
    });
    assert!(told);
    assert!(
        c.now_ms() > written_at_ms + 5_000,
        "the notification waits 5 s without changes"
    );
    c.run_for(100);
    assert!(
        c.zookeeper()
            .children("/isr_change_notification")
            .is_empty(),
        "the controller deleted the notification it handled"
    );
    for b in 0..3 {
        assert_eq!(
            c.broker(b).and_then(|b| b.metadata_isr(&tp)),
            Some(after.isr.clone()),
            "broker {b}'s metadata"
        );
    }
    let by_controller = c.events().iter().any(|(_, _, e)| {
        matches!(
            e,
            Event::ControllerShrunkIsr { .. } | Event::IsrChangeRejected { .. }
        )
    });
    assert!(!by_controller, "no AlterIsr, no controller write");
}

/// Before 2.7 the controller may hold an ISR its leader has already changed in ZooKeeper.
/// Its election then fails on the znode version; it reads the state again and elects from
/// the ISR ZooKeeper holds, instead of electing the follower that left it, or stepping down
/// as if another controller had written.
#[test]
fn before_2_7_a_controller_with_a_stale_isr_reads_the_state_again_and_elects_from_it() {
    let mut c = settled(spec().config(kafka_2_6()));
    let controller = controller(&c);
    let (tp, leader, follower, before) = follower_cut_off(&mut c);
    // The leader dies before it tells the controller: the controller's cache still has the
    // follower in the ISR, and the follower is next in the assignment.
    c.crash(leader);
    c.heal();
    c.run_for(FAILURE_DETECTED_MS);
    assert_eq!(
        self::controller(&c),
        controller,
        "the controller did not step down"
    );
    let after = state(&c, &tp);
    assert_eq!(
        after.leader,
        Some(controller),
        "elected from ZooKeeper's ISR"
    );
    let elected = elections(&c, &tp);
    assert_eq!(
        elected.len(),
        2,
        "the first leader and the one after the crash"
    );
    assert!(matches!(
        &elected[1],
        Event::LeaderElected { leader: Some(l), isr, leader_epoch, unclean: false, .. }
            if *l == controller && *isr == vec![controller] && *leader_epoch == before.leader_epoch + 1
    ));
    // Once the cut healed, the follower caught up with the new leader and joined again.
    assert!(after.isr.contains(&follower));
    brokers_agree_with_zookeeper(&c, &tp);
}

/// The zombie controller steps down at every version: before 2.7 its refused write is read
/// again and names the later controller.
#[test]
fn an_isolated_controller_is_replaced_and_steps_down_when_the_cut_heals() {
    for config in [config(), kafka_2_6()] {
        an_isolated_controller_steps_down(config);
    }
}

fn an_isolated_controller_steps_down(config: BrokerConfig) {
    let mut c = settled(spec().config(config));
    let old = controller(&c);
    let epoch_before = c.controller_epoch().expect("an epoch");

    c.isolate(NodeId::Broker(old));
    c.run_for(FAILURE_DETECTED_MS);
    let new = c.controller().expect("a controller");
    assert_ne!(new, old);
    assert_eq!(c.controller_epoch(), Some(epoch_before + 1));
    // Cut off, the old controller has not heard that its session expired: a zombie.
    let mut acting = vec![old, new];
    acting.sort();
    assert_eq!(c.brokers_acting_as_controller(), acting);

    c.heal();
    c.run_for(FAILURE_DETECTED_MS);
    assert_eq!(controller(&c), new, "the old controller stepped down");
    assert_eq!(c.controller_epoch(), Some(epoch_before + 1));
    for tp in (0..3).flat_map(|p| [pairs(p), triples(p)]) {
        let s = state(&c, &tp);
        let leader = s.leader.expect("a leader");
        assert!(s.isr.contains(&leader), "{tp}");
        brokers_agree_with_zookeeper(&c, &tp);
    }
}

/// `auto.leader.rebalance.enable`: once a restarted preferred replica is back in the ISR,
/// the controller's next leader-imbalance check gives it its leadership back
/// (`KafkaController.checkAndTriggerAutoLeaderRebalance`); with the setting off it stays a
/// follower.
#[test]
fn the_imbalance_check_gives_leadership_back_to_the_preferred_replica() {
    for enabled in [true, false] {
        let config = BrokerConfig {
            auto_leader_rebalance_enable: enabled,
            leader_imbalance_check_interval_ms: 10_000,
            ..config()
        };
        let mut c = settled(spec().config(config));
        let controller = controller(&c);
        let preferred = (controller + 1) % 3;
        let tp = triple_led_by(&c, preferred);
        c.crash(preferred);
        c.run_for(FAILURE_DETECTED_MS);
        assert_ne!(c.leader(&tp), Some(preferred));
        c.restart(preferred);
        // Back in the ISR within seconds; the check runs every 10 s.
        c.run_for(25_000);
        let after = state(&c, &tp);
        assert!(after.isr.contains(&preferred), "{after:?}");
        let moved_back = c.events().iter().any(|(_, _, e)| {
            matches!(e, Event::LeaderElected { tp: t, leader: Some(l), reason: ElectionReason::PreferredReplica, .. }
                if *t == tp && *l == preferred)
        });
        if enabled {
            assert_eq!(
                after.leader,
                Some(preferred),
                "the preferred replica leads again"
            );
            assert!(moved_back);
        } else {
            assert_ne!(after.leader, Some(preferred), "nothing moves it back");
            assert!(!moved_back);
        }
    }
}

/// The controller's answers to `kafka-leader-election.sh --election-type PREFERRED`
/// (`KafkaController.processReplicaLeaderElection`).
fn elect_leaders_results(c: &Cluster) -> Vec<(TopicPartition, ErrorCode)> {
    c.events()
        .iter()
        .rev()
        .find_map(|(_, _, e)| match e {
            Event::LeaderElectionRequested { results, .. } => Some(results.clone()),
            _ => None,
        })
        .expect("the controller answered")
}

/// An operator's preferred election moves leadership back to a preferred replica that is
/// alive and in the ISR, answers ELECTION_NOT_NEEDED where it already leads and
/// PREFERRED_LEADER_NOT_AVAILABLE where it is down; a broker that is not the controller
/// answers NOT_CONTROLLER and changes nothing.
#[test]
fn a_preferred_election_moves_leadership_back_where_it_can() {
    let config = BrokerConfig {
        auto_leader_rebalance_enable: false,
        ..config()
    };
    let mut c = settled(spec().config(config));
    let controller = controller(&c);
    let preferred = (controller + 1) % 3;
    let down = (controller + 2) % 3;
    let moved = triple_led_by(&c, preferred);
    let stays = triple_led_by(&c, controller);
    let unavailable = triple_led_by(&c, down);
    c.crash(down);
    c.run_for(FAILURE_DETECTED_MS);
    c.crash(preferred);
    c.run_for(FAILURE_DETECTED_MS);
    c.restart(preferred);
    c.run_for(10_000);
    assert!(state(&c, &moved).isr.contains(&preferred));
    assert_eq!(
        c.leader(&moved),
        Some(controller),
        "no rebalance moved it back"
    );
    let epoch_before = state(&c, &moved).leader_epoch;

    // Sent to a broker that is not the controller: refused, nothing moves.
    c.send(
        NodeId::Admin,
        NodeId::Broker(preferred),
        Message::ElectLeaders(ElectLeadersRequest {
            election_type: ElectionType::Preferred,
            partitions: None,
        }),
    );
    c.run_for(1_000);
    assert_ne!(c.leader(&moved), Some(preferred));
    assert!(!c
        .events()
        .iter()
        .any(|(_, _, e)| matches!(e, Event::LeaderElectionRequested { .. })));

    let asked = vec![moved.clone(), stays.clone(), unavailable.clone()];
    c.send(
        NodeId::Admin,
        NodeId::Broker(controller),
        Message::ElectLeaders(ElectLeadersRequest {
            election_type: ElectionType::Preferred,
            partitions: Some(asked),
        }),
    );
    c.run_for(1_000);
    assert_eq!(
        elect_leaders_results(&c),
        vec![
            (moved.clone(), ErrorCode::None),
            (stays.clone(), ErrorCode::ElectionNotNeeded),
            (unavailable.clone(), ErrorCode::PreferredLeaderNotAvailable),
        ]
    );
    let after = state(&c, &moved);
    assert_eq!(after.leader, Some(preferred));
    assert_eq!(after.leader_epoch, epoch_before + 1);
    assert!(elections(&c, &moved).iter().any(|e| matches!(
        e,
        Event::LeaderElected { reason: ElectionReason::AdminPreferred, leader: Some(l), .. } if *l == preferred
    )));
    assert_ne!(c.leader(&unavailable), Some(down));
    brokers_agree_with_zookeeper(&c, &moved);
}

// ---- controlled shutdown (`KafkaServer.controlledShutdown`, `doControlledShutdown`) ----

/// Runs until broker `b` has exited (at most `max_ms`); the time it took.
fn run_until_exited(c: &mut Cluster, b: BrokerId, max_ms: u64) -> u64 {
    let start_ms = c.now_ms();
    assert!(
        c.run_until(max_ms, |c| c.broker(b).is_none()),
        "broker {b} did not exit within {max_ms} ms"
    );
    c.now_ms() - start_ms
}

fn shut_down_events(c: &Cluster, b: BrokerId) -> Vec<(u64, bool)> {
    c.events()
        .iter()
        .filter_map(|(at, _, e)| match e {
            Event::BrokerShutDown {
                broker, controlled, ..
            } if *broker == b => Some((*at, *controlled)),
            _ => None,
        })
        .collect()
}

#[test]
fn controlled_shutdown_moves_every_leadership_before_exit() {
    let mut c = settled(spec());
    let b = (0..3).find(|b| *b != controller(&c)).expect("a broker");
    let hosted: Vec<TopicPartition> = (0..3)
        .flat_map(|p| [pairs(p), triples(p)])
        .filter(|tp| state(&c, tp).isr.contains(&b))
        .collect();
    assert!(hosted.iter().any(|tp| c.leader(tp) == Some(b)));
    c.shutdown(b);
    let took_ms = run_until_exited(&mut c, b, 1_000);
    // Milliseconds, not a session timeout: it asked, the controller moved, it left.
    assert!(took_ms < SESSION_TIMEOUT_MS, "took {took_ms} ms");
    assert_eq!(shut_down_events(&c, b).len(), 1);
    assert!(
        shut_down_events(&c, b)[0].1,
        "the controlled shutdown succeeded"
    );
    for tp in &hosted {
        let s = state(&c, tp);
        assert_ne!(s.leader, Some(b), "{tp}: broker {b} still leads at exit");
        assert!(s.leader.is_some(), "{tp}: leaderless at exit");
        assert!(
            !s.isr.contains(&b),
            "{tp}: broker {b} still in the ISR {:?}",
            s.isr
        );
    }
    // Every new leader was elected by the controlled-shutdown strategy, before the exit.
    let exit_ms = shut_down_events(&c, b)[0].0;
    let moved: Vec<&TopicPartition> = c
        .events()
        .iter()
        .filter_map(|(at, _, e)| match e {
            Event::LeaderElected {
                tp,
                reason: ElectionReason::ControlledShutdown,
                previous_leader,
                ..
            } => {
                assert!(*at <= exit_ms);
                assert_eq!(*previous_leader, Some(b));
                Some(tp)
            }
            _ => None,
        })
        .collect();
    assert_eq!(moved.len(), 2, "broker {b} led one pair and one triple");
    // Its session closed: /brokers/ids/b goes as soon as ZooKeeper reads the close.
    c.run_for(10);
    assert!(!c.registered_brokers().contains(&b));
}

#[test]
fn a_broker_that_cannot_hand_over_retries_then_goes_down_anyway() {
    // A partition with one replica on broker 2: nobody can take it over.
    let mut c = settled(spec().topic("single", &[&[2]]));
    let single = TopicPartition::new("single", 0);
    c.run_until(5_000, |c| c.leader(&single) == Some(2));
    let start_ms = c.now_ms();
    c.shutdown(2);
    // controlled.shutdown.max.retries = 3, retry.backoff.ms = 5000: two waits.
    let took_ms = run_until_exited(&mut c, 2, 30_000);
    assert!(took_ms >= 10_000, "took {took_ms} ms");
    let attempts: Vec<u64> = c
        .events()
        .iter()
        .filter_map(|(at, _, e)| match e {
            Event::ControlledShutdownRequested { broker: 2, .. } => Some(*at),
            _ => None,
        })
        .filter(|at| *at >= start_ms)
        .collect();
    assert_eq!(attempts.len(), 3);
    assert!(attempts.windows(2).all(|w| w[1] - w[0] >= 5_000));
    assert_eq!(shut_down_events(&c, 2), vec![(c.now_ms(), false)]);
    // The partitions that could move did, the single one stayed with broker 2.
    assert_ne!(c.leader(&triples(2)), Some(2));
    assert_eq!(c.leader(&single), Some(2));
}

#[test]
fn a_clean_shutdown_flushes_and_the_next_start_needs_no_recovery() {
    let mut c = settled(spec());
    let b = 1;
    c.shutdown(b);
    run_until_exited(&mut c, b, 1_000);
    c.restart(b);
    c.run_for(100);
    let started_clean = c
        .events()
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::BrokerStartedClean { broker } if *broker == b))
        .count();
    assert_eq!(started_clean, 1);
    let disk = c.broker(b).expect("running").disk();
    assert!(!disk.clean_shutdown, "the marker is removed at start");
    for log in disk.logs.values() {
        assert_eq!(log.flushed_offset(), log.log_end_offset());
    }
    // A crash now is not clean: the next start finds no marker.
    c.crash(b);
    c.restart(b);
    c.run_for(100);
    let started_clean = c
        .events()
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::BrokerStartedClean { .. }))
        .count();
    assert_eq!(started_clean, 1);
}

#[test]
fn the_controller_shutting_down_hands_over_its_leaderships_and_its_role() {
    let mut c = settled(spec());
    let old = controller(&c);
    c.shutdown(old);
    let took_ms = run_until_exited(&mut c, old, 1_000);
    assert!(took_ms < SESSION_TIMEOUT_MS);
    for tp in (0..3).flat_map(|p| [pairs(p), triples(p)]) {
        assert_ne!(c.leader(&tp), Some(old), "{tp}");
    }
    // /controller went with its session: another broker takes over at once.
    assert!(c.run_until(1_000, |c| c.controller().is_some_and(|n| n != old)));
}
