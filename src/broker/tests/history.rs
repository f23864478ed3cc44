//! The code rules that switch on the release the brokers run (`[cluster] kafka_version`),
//! each shown on both sides of the release that changed it.
use super::*;
use crate::config::KafkaVersion;

/// Brokers running `release` at its own protocol version.
fn release_config(release: &str) -> BrokerConfig {
    let kafka_version = KafkaVersion::parse(release).expect("a modelled release");
    BrokerConfig {
        kafka_version,
        inter_broker_protocol_version: kafka_version.protocol_version(),
        ..config()
    }
}

/// Delivers a fetch from `follower` at `fetch_offset` straight to `leader` and returns every
/// message the leader sends in answer (the fetch response, an AlterIsr, ...).
fn fetch_directly(
    c: &mut Cluster,
    leader: BrokerId,
    follower: BrokerId,
    fetch_offset: u64,
) -> Vec<(NodeId, Message)> {
    let mut out = Output::default();
    let request = FetchRequest {
        correlation_id: 99,
        replica_id: Some(follower),
        max_wait_ms: 0,
        session: FetchMetadata::SESSIONLESS,
        partitions: vec![FetchPartition {
            tp: tp(),
            fetch_offset,
            last_fetched_epoch: None,
            current_leader_epoch: None,
            log_start_offset: None,
        }],
        forgotten: Vec::new(),
        isolation_level: IsolationLevel::ReadUncommitted,
    };
    let now = c.now_ms;
    c.brokers.get_mut(&leader).unwrap().on_message(
        now,
        NodeId::Broker(follower),
        Message::Fetch(request),
        &mut out,
    );
    out.messages
}

/// Broker 0 becomes leader in epoch 1 with three records that broker 2 (the old leader)
/// had committed, but with its own HW still below them: it learns HWs one fetch late, and
/// broker 2, still in the ISR but gone, holds it there. Broker 1 is out of the ISR.
fn new_leader_with_a_lagging_high_watermark(release: &str) -> Cluster {
    let mut c = Cluster::new(3, release_config(release));
    c.down.insert(1);
    c.leader_and_isr(2, 0, vec![0, 2], 0);
    c.run(10);
    c.produce(2, Acks::All, 0..3);
    c.run(2);
    assert_eq!(c.leo(0), 3);
    c.down = BTreeSet::from([1, 2]);
    c.leader_and_isr(0, 1, vec![0, 2], 1);
    c.run(1);
    assert!(c.hw(0) < 3, "the new leader's HW lags its log");
    c
}

/// KAFKA-7128 (2.0.1, `Partition.maybeExpandIsr`'s `leaderEpochStartOffsetOpt`): a follower
/// joins the ISR only once it reached the new leader's epoch start offset. Before, reaching
/// the leader's (stale) HW was enough, and a joiner lacking committed records could be
/// elected.
#[test]
fn a_joiner_must_reach_the_epoch_start_only_from_2_0_1() {
    for (release, joins) in [("2.0.0", true), ("2.0.1", false), ("3.7.1", false)] {
        let mut c = new_leader_with_a_lagging_high_watermark(release);
        let hw = c.hw(0);
        let sent = fetch_directly(&mut c, 0, 1, hw);
        let proposes_joining = sent
            .iter()
            .filter_map(|(to, m)| proposed_isr(to, m))
            .any(|isr| isr.contains(&1));
        assert_eq!(
            proposes_joining, joins,
            "{release}: broker 1 at the HW {hw}, below the epoch start 3"
        );
    }
}

/// KAFKA-7415 (2.0.1, `Partition.makeLeader`'s `epochCache.assign`): a new leader caches its
/// epoch at once. Before, the epoch appeared with the first append, so until then the leader
/// answered OffsetsForLeaderEpoch for its own epoch with UNDEFINED_EPOCH_OFFSET (and the
/// follower fell back to its HW).
#[test]
fn a_new_leader_caches_its_epoch_at_once_only_from_2_0_1() {
    for (release, answer) in [("2.0.0", (-1, 0)), ("2.0.1", (1, 3))] {
        let mut c = new_leader_with_a_lagging_high_watermark(release);
        let latest = c.brokers[&0].disk().logs[&tp()].latest_epoch();
        assert_eq!(latest == Some(1), answer.0 == 1, "{release}: {latest:?}");
        let reply = ask(
            &mut c,
            0,
            Message::OffsetsForLeaderEpoch(OffsetsForLeaderEpochRequest {
                correlation_id: 7,
                replica_id: None,
                partitions: vec![OffsetForLeaderEpochPartition {
                    tp: tp(),
                    current_leader_epoch: None,
                    leader_epoch: 1,
                }],
            }),
        );
        let Message::OffsetsForLeaderEpochResponse(r) = reply else {
            panic!("not an epoch answer: {reply:?}");
        };
        let p = &r.partitions[0];
        assert_eq!((p.leader_epoch, p.end_offset), answer, "{release}");
    }
}

/// 0.11 and 1.x's `LeaderEpochFileCache.endOffsetFor`: an epoch older than the first one the
/// leader caches is answered UNDEFINED_EPOCH_OFFSET; 2.0 answers the first epoch's start.
#[test]
fn an_epoch_below_the_leaders_cache_is_undefined_before_2_0() {
    for (release, answer) in [("0.11.0", (-1, 0)), ("1.1.1", (-1, 0)), ("2.0.0", (1, 0))] {
        let mut c = Cluster::new(3, release_config(release));
        c.leader_and_isr(0, 3, vec![0, 1, 2], 3);
        c.run(10);
        c.produce(0, Acks::Leader, 0..2);
        c.run(10);
        let reply = ask(
            &mut c,
            0,
            Message::OffsetsForLeaderEpoch(OffsetsForLeaderEpochRequest {
                correlation_id: 7,
                replica_id: None,
                partitions: vec![OffsetForLeaderEpochPartition {
                    tp: tp(),
                    current_leader_epoch: None,
                    leader_epoch: 1,
                }],
            }),
        );
        let Message::OffsetsForLeaderEpochResponse(r) = reply else {
            panic!("not an epoch answer: {reply:?}");
        };
        let p = &r.partitions[0];
        assert_eq!((p.leader_epoch, p.end_offset), answer, "{release}");
    }
}

/// KAFKA-7164's trace: broker 2 follows broker 0 in epoch 0 and holds an uncommitted record,
/// misses epoch 1 (broker 1 leads, broker 0 follows and truncates), and hears of epoch 2,
/// where broker 0 leads again with different records. Before 2.0.1 `Partition.makeFollower`
/// sees the same leader and skips the become-follower steps: no truncation, and broker 2
/// keeps its record where the leader has another. From 2.0.1 the missed epoch restarts the
/// fetcher and the epoch lookup cuts the stale record.
#[test]
fn a_follower_that_missed_an_epoch_of_the_same_leader_truncates_only_from_2_0_1() {
    for (release, diverges) in [
        ("1.1.1", true),
        ("2.0.0", true),
        ("2.0.1", false),
        ("2.1", false),
    ] {
        let mut c = Cluster::new(3, release_config(release));
        c.down.insert(1);
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.run(10);
        c.produce(0, Acks::Leader, 0..1);
        c.run(50);
        assert_eq!(
            c.ids(2),
            vec![0],
            "{release}: broker 2 has the uncommitted record"
        );
        // Epoch 1 without broker 2: broker 1 leads, broker 0 follows and cuts the record.
        c.down = BTreeSet::from([2]);
        c.leader_and_isr(1, 1, vec![0, 1], 1);
        c.run(100);
        assert_eq!(c.leo(0), 0, "{release}");
        // Epoch 2: broker 0 leads again and takes two new records.
        c.down = BTreeSet::from([1, 2]);
        c.leader_and_isr(0, 2, vec![0, 2], 2);
        c.run(10);
        // Two batches, so that offset 1 starts a batch on the leader as it does on broker 2.
        c.produce(0, Acks::Leader, 100..101);
        c.produce(0, Acks::Leader, 101..102);
        c.run(10);
        // Broker 2 returns and hears of epoch 2.
        c.down = BTreeSet::from([1]);
        c.leader_and_isr(0, 2, vec![0, 2], 2);
        c.run(5_000);
        assert_eq!(c.ids(0), vec![100, 101], "{release}");
        if diverges {
            assert_eq!(c.ids(2), vec![0, 101], "{release}: offset 0 differs");
        } else {
            assert_eq!(c.ids(2), c.ids(0), "{release}");
        }
    }
}

/// 2.0.1 restarts a follower of the same leader only when an epoch was missed; 2.1.0 on every
/// new epoch (`Partition.makeFollower`'s `isNewLeaderEpoch`), which is when the follower
/// looks up where its epoch ends.
#[test]
fn a_follower_restarts_on_every_new_epoch_of_the_same_leader_from_2_1() {
    for (release, restarts) in [("2.0.1", false), ("2.1", true), ("2.6.3", true)] {
        let mut c = Cluster::new(3, release_config(release));
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.run(10);
        c.produce(0, Acks::All, 0..2);
        c.run(1_000);
        let lookups = |c: &Cluster| {
            c.events
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        Event::Truncated {
                            broker: 1,
                            reason: TruncateReason::LeaderEpoch { .. },
                            ..
                        }
                    )
                })
                .count()
        };
        let before = lookups(&c);
        c.leader_and_isr(0, 1, vec![0, 1, 2], 1);
        c.run(1_000);
        assert_eq!(lookups(&c) > before, restarts, "{release}");
        assert_eq!(c.brokers[&1].partition_role(&tp()), Some((1, false)));
    }
}

/// KAFKA-15583 is code in 3.7.0, not a protocol feature: the HW stays put while the ISR is
/// below `min.insync.replicas` on a 3.7 broker whatever its protocol version, and moves on a
/// 3.6 broker.
#[test]
fn the_strict_min_isr_rule_follows_the_release_not_the_protocol() {
    for (release, protocol, hw_moves) in [
        ("3.6.2", "3.6", true),
        ("3.7.0", "3.6", false),
        ("3.7.1", "3.7", false),
    ] {
        let mut config = release_config(release);
        config.inter_broker_protocol_version = ProtocolVersion::parse(protocol).unwrap();
        config.topic_defaults.min_insync_replicas = 3;
        let mut c = Cluster::new(3, config);
        c.leader_and_isr(0, 0, vec![0, 1], 0);
        c.run(10);
        c.produce(0, Acks::Leader, 0..2);
        c.run(1_000);
        assert_eq!(c.leo(1), 2, "{release}");
        assert_eq!(c.hw(0) == 2, hw_moves, "{release} at protocol {protocol}");
    }
}

/// 3.7.0's `Partition.effectiveMinIsr` caps `min.insync.replicas` at the replica count.
/// Before, a value above the replication factor refuses every acks=all write
/// (`Partition.appendRecordsToLeader`: NOT_ENOUGH_REPLICAS).
#[test]
fn min_insync_replicas_above_the_replicas_refuses_acks_all_before_3_7() {
    for (release, expected) in [
        ("3.6.2", ErrorCode::NotEnoughReplicas),
        ("3.7.0", ErrorCode::None),
    ] {
        let mut config = release_config(release);
        config.topic_defaults.min_insync_replicas = 4;
        let mut c = Cluster::new(3, config);
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.run(10);
        c.produce(0, Acks::All, 0..1);
        c.run(1_000);
        let answer = produce_answer(c.to_clients.last().expect("an answer"));
        assert_eq!(answer.0, expected, "{release}");
    }
}

/// A LeaderAndIsr for `tp()` delivered to `broker` alone.
fn leader_and_isr_to(c: &mut Cluster, broker: BrokerId, leader: BrokerId, epoch: LeaderEpoch) {
    c.leader_and_isr_to(&[broker], leader, epoch, vec![0, 1, 2], epoch);
}

/// Before 2.1 a follower told of a new epoch of the same leader keeps its fetch state, a
/// backoff included (`AbstractFetcherThread` keeps the partition's `PartitionFetchState`):
/// the backoff ends and it fetches again.
#[test]
fn a_follower_kept_across_an_epoch_ends_its_backoff() {
    let mut c = Cluster::new(3, release_config("1.1.1"));
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    // Broker 0 alone hears it no longer leads: broker 1's fetch fails and backs off.
    leader_and_isr_to(&mut c, 0, 2, 1);
    c.run(1);
    let readiness = |c: &Cluster| match &c.brokers[&1].partitions[&tp()].role {
        partition::Role::Follower { fetch, .. } => *fetch,
        other => panic!("broker 1 follows: {other:?}"),
    };
    assert_eq!(readiness(&c), FetchReadiness::Delayed);
    // Broker 0 leads again in epoch 2; for broker 1 the leader did not change.
    c.leader_and_isr(0, 2, vec![0, 1, 2], 2);
    c.run(1);
    assert_eq!(c.brokers[&1].partition_role(&tp()), Some((2, false)));
    assert_eq!(
        readiness(&c),
        FetchReadiness::Delayed,
        "its backoff goes on"
    );
    c.produce(0, Acks::Leader, 0..3);
    c.run(3_000);
    assert_eq!(c.leo(1), 3, "the backoff ended and broker 1 fetched again");
}

/// Brokers running `release` at protocol `protocol`.
fn release_at_protocol(release: &str, protocol: &str) -> BrokerConfig {
    BrokerConfig {
        inter_broker_protocol_version: ProtocolVersion::parse(protocol).expect("a protocol"),
        ..release_config(release)
    }
}

/// The ISR writes broker 0 sent ZooKeeper since the test last cleared them: (xid, the
/// version written against, the ISR).
fn isr_writes(c: &Cluster) -> Vec<(u64, Option<i32>, Vec<BrokerId>)> {
    c.to_zookeeper
        .iter()
        .filter_map(|(b, request)| match (&request.op, b) {
            (
                ZkOp::SetData {
                    path,
                    data: ZkData::PartitionState { isr, .. },
                    version,
                },
                0,
            ) if *path == crate::controller::state_path(&tp()) => {
                Some((request.xid, *version, isr.clone()))
            }
            _ => None,
        })
        .collect()
}

/// KIP-497 (protocol 2.7): a leader asks the controller to change its ISR. Before, it wrote
/// the partition's state znode itself, conditional on the version it holds
/// (`Partition.updateIsr`; from 2.7 with an older protocol `ZkIsrManager`), and 5 s after its
/// last change left a `/isr_change_notification` znode for the controller
/// (`maybePropagateIsrChanges`). The protocol decides, not the release.
#[test]
fn before_protocol_2_7_the_leader_writes_its_isr_to_zookeeper_itself() {
    for (release, protocol, writes_zookeeper) in [
        ("2.6.3", "2.6", true),
        ("3.7.1", "2.6", true),
        ("2.7.0", "2.7", false),
        ("3.7.1", "3.7", false),
    ] {
        let what = format!("{release} at protocol {protocol}");
        let mut c = leader_drops_broker_2(release_at_protocol(release, protocol));
        let alter_isr = c
            .to_controller
            .iter()
            .any(|m| matches!(m, Message::AlterIsr(_)));
        assert_eq!(alter_isr, !writes_zookeeper, "{what}");
        let writes = isr_writes(&c);
        if !writes_zookeeper {
            assert!(writes.is_empty(), "{what}");
            continue;
        }
        assert_eq!(writes.len(), 1, "one write in flight: {what}");
        let (xid, version, isr) = writes[0].clone();
        assert_eq!((version, isr), (Some(0), vec![0, 1]), "{what}");
        assert_eq!(
            c.brokers[&0].isr(&tp()),
            Some(vec![0, 1, 2]),
            "not before it lands"
        );
        c.answer_zookeeper(0, xid, ZkResult::Ok { version: 1 });
        c.run(1);
        assert_eq!(c.brokers[&0].isr(&tp()), Some(vec![0, 1]), "{what}");
        assert!(c
            .events
            .iter()
            .any(|e| matches!(e, Event::IsrShrunk { removed, .. } if *removed == vec![2])));
        // The notification waits until no change came for 5 s.
        c.to_zookeeper.clear();
        c.run(4_000);
        assert!(c.to_zookeeper.is_empty(), "{what}");
        c.run(4_000);
        let notified = c.to_zookeeper.iter().any(|(b, r)| {
            *b == 0
                && r.op
                    == ZkOp::CreateSequential {
                        path_prefix: "/isr_change_notification/isr_change_".into(),
                        data: ZkData::IsrChangeNotification(vec![tp()]),
                    }
        });
        assert!(notified, "{what}");
    }
}

/// A refused ISR write (the znode moved past the leader's version). Up to 2.6
/// (`Partition.updateIsr`) the ISR stays as it was and the next check writes again, against
/// the same stale version; from 2.7 (`ZkIsrManager`'s INVALID_UPDATE_VERSION) the change
/// stays pending until a LeaderAndIsr brings the new version.
#[test]
fn a_refused_isr_write_is_retried_before_2_7_and_waits_for_a_leader_and_isr_after() {
    for (release, retries) in [("2.6.3", true), ("2.7.0", false)] {
        let mut c = leader_drops_broker_2(release_at_protocol(release, "2.6"));
        let (xid, _, _) = isr_writes(&c)[0].clone();
        c.answer_zookeeper(0, xid, ZkResult::BadVersion);
        c.run(1);
        assert_eq!(c.brokers[&0].isr(&tp()), Some(vec![0, 1, 2]), "{release}");
        assert!(c.events.iter().any(|e| matches!(
            e,
            Event::IsrWriteConflict { cached_zk_version: 0, awaits_leader_and_isr, .. }
                if *awaits_leader_and_isr != retries
        )));
        c.to_zookeeper.clear();
        // Past ALTER_ISR_TIMEOUT_MS: a change left pending is not given up on either.
        c.run(6_000);
        let again = isr_writes(&c);
        assert_eq!(!again.is_empty(), retries, "{release}");
        if retries {
            assert_eq!(again[0].1, Some(0), "the same stale version");
            continue;
        }
        // The controller's LeaderAndIsr brings the version that won; the leader goes on.
        c.leader_and_isr_to(&[0], 0, 1, vec![0, 1, 2], 5);
        c.run(2_000);
        let writes = isr_writes(&c);
        assert_eq!(writes.len(), 1, "{release}");
        assert_eq!((writes[0].1, writes[0].2.clone()), (Some(5), vec![0, 1]));
    }
}

/// `AbstractFetcherThread.maybeTruncate` (0.11 to 2.6): a new follower asks the leader where
/// its latest epoch ends only when its log holds an epoch; one with an empty log has nothing
/// to ask about, is cut to its own high watermark (nothing) and fetches at once.
#[test]
fn only_a_follower_with_an_epoch_asks_the_leader_before_fetching() {
    let first_request = |c: &Cluster| {
        c.wire
            .iter()
            .find(|(to, from, _)| *to == NodeId::Broker(0) && *from == NodeId::Broker(1))
            .map(|(_, _, m)| m.kind())
    };
    let mut c = Cluster::new(3, release_config("2.6.3"));
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    // Deliver only the LeaderAndIsr requests: broker 1's first request to its leader waits.
    let mut pending = std::mem::take(&mut c.wire);
    while let Some((to, from, m)) = pending.pop_front() {
        c.deliver(to, from, m);
    }
    assert_eq!(
        first_request(&c),
        Some("Fetch"),
        "an empty log asks nothing"
    );
    c.run(100);
    c.produce(0, Acks::All, 0..3);
    c.run(100);
    assert_eq!(c.leo(1), 3);
    // A new epoch of another leader: broker 1's log holds epoch 0 now, so it asks first.
    c.down.insert(0);
    c.leader_and_isr(2, 1, vec![1, 2], 1);
    let mut pending = std::mem::take(&mut c.wire);
    while let Some((to, from, m)) = pending.pop_front() {
        c.deliver(to, from, m);
    }
    let asks = c.wire.iter().any(|(to, from, m)| {
        *to == NodeId::Broker(2)
            && *from == NodeId::Broker(1)
            && matches!(m, Message::OffsetsForLeaderEpoch(_))
    });
    assert!(
        asks,
        "a log with an epoch asks the new leader where it ends"
    );
}

/// KIP-279 (protocol 2.0), `getOffsetTruncationState`: when the leader answers with an epoch
/// the follower does not hold, the follower cuts to the end of its own largest epoch below
/// that one and asks again; only an answer for an epoch it holds completes the truncation.
/// Here broker 1 holds epoch 0 at offsets 0 to 4 and epoch 2 at 5 to 9; the leader ended
/// epoch 0 at offset 3 and led epoch 1 from there. Taking the first answer (epoch 1 ends at
/// 8) as final would keep offsets 3 and 4 of an epoch 0 the leader does not have.
#[test]
fn kip_279_a_follower_without_the_answered_epoch_asks_again() {
    let record = |seq: u64| ProducerRecord {
        id: RecordId { producer: 0, seq },
        timestamp_ms: 0,
        key: None,
        value: Some(format!("v{seq}")),
        value_bytes: 2,
        headers: vec![],
    };
    let mut c = Cluster::new(3, release_config("2.0.0"));
    let follower = c.brokers.get_mut(&1).expect("broker 1");
    let mut log = Log::new();
    // One batch a record, so that every offset is a batch boundary to truncate at.
    for seq in 0..10 {
        let epoch = if seq < 5 { 0 } else { 2 };
        log.append_as_leader(epoch, vec![record(seq)], None, 0);
    }
    follower.disk.logs.insert(tp(), log);
    let answer = |leader_epoch, end_offset| EpochEndOffset {
        tp: tp(),
        error: ErrorCode::None,
        leader_epoch,
        end_offset,
    };
    let mut out = Output::default();
    let complete = follower.truncate_to_epoch_end(&tp(), &answer(1, 8), &mut out);
    assert!(!complete, "epoch 1 is not in broker 1's log: it asks again");
    assert_eq!(
        follower.disk.logs[&tp()].log_end_offset(),
        5,
        "the end of its epoch 0"
    );
    let complete = follower.truncate_to_epoch_end(&tp(), &answer(0, 3), &mut out);
    assert!(complete);
    assert_eq!(follower.disk.logs[&tp()].log_end_offset(), 3);
}

/// KIP-841 (3.3.0), `Partition.canAddReplicaToIsr`: a leader proposes a caught-up follower
/// for the ISR only if its metadata cache holds the follower's broker alive
/// (`isReplicaIsrEligible`, ZooKeeper mode: `hasAliveBroker`). Before, any caught-up follower.
#[test]
fn only_a_live_follower_may_join_the_isr_from_3_3() {
    for (release, joins) in [("3.2.3", true), ("3.3.0", false), ("3.7.1", false)] {
        let mut c = Cluster::new(3, release_config(release));
        // The followers' own fetches stay away: the one below is the only one.
        c.down.extend([1, 2]);
        c.leader_and_isr(0, 0, vec![0], 0);
        c.run(1);
        // Broker 0 hears that broker 1 is gone (its ZooKeeper session expired), though a
        // fetch of broker 1's still arrives.
        c.announce_live_brokers(0, vec![0, 2]);
        c.run(1);
        c.to_controller.clear();
        let sent = fetch_directly(&mut c, 0, 1, 0);
        let proposes_joining = sent
            .iter()
            .filter_map(|(to, m)| proposed_isr(to, m))
            .any(|isr| isr.contains(&1));
        assert_eq!(proposes_joining, joins, "{release}");
    }
}
