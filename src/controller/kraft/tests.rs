//! The KRaft controller against cases ported from Kafka's `QuorumControllerTest` and
//! `ReplicationControlManagerTest` (named after them). The harness commits every write at
//! once, as a single-node quorum would.

use super::cluster_control::{
    BrokerHeartbeatReply, BrokerHeartbeatRequest, BrokerRegistrationRequest,
};
use super::controller::{ControllerConfig, ControllerWrite, QuorumController, TickAction};
use super::image::MetadataImage;
use super::records::{
    metadata_version_level, ApiError, ConfigResource, IncarnationId, MetadataRecord, ELR_FEATURE,
    METADATA_VERSION_FEATURE,
};
use super::replication_control::{
    AlterPartitionData, AlterPartitionRequest, CreateTopic, ElectionType, MIN_INSYNC_REPLICAS,
};
use super::{LeaderRecoveryState, MetadataVersion, PartitionRegistration};
use crate::types::{BrokerId, TopicPartition};
use std::collections::BTreeMap;

struct Harness {
    controller: QuorumController,
    /// Every committed record, in order.
    log: Vec<(u64, MetadataRecord)>,
    epochs: BTreeMap<BrokerId, u64>,
}

impl Harness {
    fn new(session_timeout_ms: u64, version: MetadataVersion, elr: bool) -> Harness {
        let config = ControllerConfig {
            session_timeout_ms,
            leader_imbalance_check_interval_ms: None,
            unclean_leader_election_interval_ms: None,
            max_idle_interval_ms: None,
            ..ControllerConfig::default()
        };
        let mut controller = QuorumController::new(config);
        controller.activate(0, 0);
        let mut h = Harness {
            controller,
            log: Vec::new(),
            epochs: BTreeMap::new(),
        };
        let mut features = vec![(METADATA_VERSION_FEATURE, metadata_version_level(version))];
        if elr {
            features.push((ELR_FEATURE, 1));
        }
        let w = h.controller.set_features(0, &features).unwrap();
        h.commit(&w);
        h
    }

    fn commit<R>(&mut self, write: &ControllerWrite<R>) {
        for (offset, record) in write.records_with_offsets() {
            self.controller.replay_committed(offset, record);
            self.log.push((offset, record.clone()));
        }
    }

    fn image(&self) -> &MetadataImage {
        self.controller.image()
    }

    fn offset(&self) -> Option<u64> {
        self.controller.committed_image().offset
    }

    fn register(&mut self, now_ms: u64, broker: BrokerId, incarnation: u64) -> u64 {
        let w = self
            .controller
            .register_broker(
                now_ms,
                &BrokerRegistrationRequest {
                    broker,
                    incarnation: IncarnationId(incarnation),
                    rack: None,
                },
            )
            .unwrap();
        self.commit(&w);
        self.epochs.insert(broker, w.response.broker_epoch);
        w.response.broker_epoch
    }

    fn heartbeat_full(
        &mut self,
        now_ms: u64,
        broker: BrokerId,
        want_fence: bool,
        want_shut_down: bool,
    ) -> (Vec<MetadataRecord>, BrokerHeartbeatReply) {
        let request = BrokerHeartbeatRequest {
            broker,
            broker_epoch: self.epochs[&broker],
            current_metadata_offset: self.offset(),
            want_fence,
            want_shut_down,
        };
        let w = self.controller.heartbeat(now_ms, &request).unwrap();
        self.commit(&w);
        (w.records, w.response)
    }

    fn heartbeat(&mut self, now_ms: u64, broker: BrokerId) -> BrokerHeartbeatReply {
        self.heartbeat_full(now_ms, broker, false, false).1
    }

    fn tick(&mut self, now_ms: u64) -> Vec<TickAction> {
        let writes = self.controller.on_tick(now_ms);
        for w in &writes {
            self.commit(w);
        }
        writes.into_iter().map(|w| w.response).collect()
    }

    fn create_topic(
        &mut self,
        name: &str,
        assignment: Vec<Vec<BrokerId>>,
        configs: &[(&str, &str)],
    ) {
        let request = CreateTopic {
            name: name.to_string(),
            assignment,
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let w = self.controller.create_topic(0, &request).unwrap();
        self.commit(&w);
    }

    fn partition(&self, topic: &str, partition: u32) -> PartitionRegistration {
        self.image()
            .partition(&TopicPartition::new(topic, partition))
            .unwrap()
            .clone()
    }

    /// Registers and unfences brokers (heartbeating until caught up).
    fn start_brokers(&mut self, now_ms: u64, brokers: &[BrokerId]) {
        for &b in brokers {
            self.register(now_ms, b, b as u64 * 100);
        }
        for &b in brokers {
            let reply = self.heartbeat(now_ms, b);
            assert!(!reply.is_fenced, "broker {b} should unfence");
        }
    }

    /// The committed log replayed into a fresh image equals the controller's (Kafka's
    /// `testToImages` step).
    fn assert_log_replays_to_image(&self) {
        let mut image = MetadataImage::default();
        for (offset, record) in &self.log {
            image.replay(*offset, record);
        }
        assert_eq!(&image, self.controller.committed_image());
        assert_eq!(&image, self.controller.image());
        self.assert_snapshot_rebuilds(&image);
    }

    /// A snapshot of the image (`MetadataImage.write`) replays to the same image, except
    /// that every record of a snapshot is replayed at its last offset.
    fn assert_snapshot_rebuilds(&self, image: &MetadataImage) {
        let Some(last) = image.offset else {
            return;
        };
        let mut expected = image.clone();
        for broker in expected.brokers.values_mut() {
            broker.register_record_offset = last;
        }
        let rebuilt = MetadataImage::from_snapshot(last, &image.to_records());
        assert_eq!(rebuilt, expected);
        let mut standby = QuorumController::new(self.controller.config().clone());
        standby.load_snapshot(last + 1, &image.to_records());
        assert_eq!(standby.committed_image(), &expected);
        assert_eq!(standby.next_write_offset(), last + 1);
    }
}

fn alter(
    broker: BrokerId,
    broker_epoch: u64,
    version: u16,
    partition: &PartitionRegistration,
    tp: TopicPartition,
    new_isr: Vec<(BrokerId, Option<u64>)>,
) -> AlterPartitionRequest {
    AlterPartitionRequest {
        broker,
        broker_epoch,
        version,
        partitions: vec![AlterPartitionData {
            topic_partition: tp,
            leader_epoch: partition.leader_epoch,
            partition_epoch: partition.partition_epoch,
            new_isr,
            leader_recovery_state: LeaderRecoveryState::Recovered,
        }],
    }
}

/// QuorumControllerTest.testFenceMultipleBrokers: with a 1000 ms session, only broker 1
/// keeps heartbeating; within 3 s brokers 2-5 are fenced one by one, partition 0 is left
/// with ISR [1] and leader 1, and leaders are imbalanced.
#[test]
fn test_fence_multiple_brokers() {
    let mut h = Harness::new(1000, MetadataVersion::V3_9, false);
    let all = [1, 2, 3, 4, 5];
    h.start_brokers(0, &all);
    let assignment = (0..5)
        .map(|p| (0..5).map(|i| all[(p + i) % 5]).collect())
        .collect();
    h.create_topic("foo", assignment, &[]);
    assert!(!h.controller.are_partition_leaders_imbalanced());

    let mut fenced = Vec::new();
    let mut now = 0;
    while now < 3000 {
        now += 100;
        h.heartbeat(now, 1);
        for action in h.tick(now) {
            if let TickAction::Fenced(b) = action {
                fenced.push(b);
            }
        }
    }
    assert_eq!(fenced.len(), 4, "fenced {fenced:?}");
    fenced.sort();
    assert_eq!(fenced, vec![2, 3, 4, 5]);
    for b in 2..=5 {
        assert!(h.image().brokers[&b].fenced);
    }
    let p0 = h.partition("foo", 0);
    assert_eq!(p0.isr, vec![1]);
    assert_eq!(p0.leader, Some(1));
    for p in 0..5 {
        assert_eq!(h.partition("foo", p).leader, Some(1));
    }
    assert!(h.controller.are_partition_leaders_imbalanced());
    h.assert_log_replays_to_image();
}

/// ReplicationControlManagerTest.testAlterPartitionShouldRejectFencedBrokers: a fenced
/// broker may not rejoin the ISR (INELIGIBLE_REPLICA from v2, OPERATION_NOT_ATTEMPTED
/// before); once unfenced it may.
#[test]
fn test_alter_partition_should_reject_fenced_brokers() {
    let mut h = Harness::new(9000, MetadataVersion::V3_9, false);
    h.start_brokers(0, &[1, 2, 3, 4]);
    h.create_topic("foo", vec![vec![1, 2, 3, 4]], &[]);
    h.heartbeat_full(0, 4, true, false);
    let tp = TopicPartition::new("foo", 0);
    let p = h.partition("foo", 0);
    assert_eq!(p.isr, vec![1, 2, 3]);
    let isr = vec![(1, None), (2, None), (3, None), (4, None)];
    for (version, error) in [
        (2, ApiError::IneligibleReplica),
        (1, ApiError::OperationNotAttempted),
    ] {
        let request = alter(1, h.epochs[&1], version, &p, tp.clone(), isr.clone());
        let w = h.controller.alter_partition(0, &request).unwrap();
        assert!(w.records.is_empty());
        assert_eq!(w.response[0].result, Err(error));
    }
    h.heartbeat(0, 4);
    assert!(!h.image().brokers[&4].fenced);
    let request = alter(1, h.epochs[&1], 2, &p, tp, isr);
    let w = h.controller.alter_partition(0, &request).unwrap();
    h.commit(&w);
    let state = w.response[0].result.clone().unwrap();
    assert_eq!(state.isr, vec![1, 2, 3, 4]);
    assert_eq!(state.partition_epoch, p.partition_epoch + 1);
    assert_eq!(
        state.leader_epoch, p.leader_epoch,
        "an ISR expansion keeps the leader epoch"
    );
}

/// ReplicationControlManagerTest.testAlterPartitionShouldRejectBrokersWithStaleEpoch
/// (KIP-903): a member whose broker epoch is not the one the leader saw is refused from
/// AlterPartition v3; older versions carry no epochs.
#[test]
fn test_alter_partition_should_reject_brokers_with_stale_epoch() {
    let mut h = Harness::new(9000, MetadataVersion::V3_9, false);
    h.start_brokers(0, &[1, 2, 3, 4]);
    h.create_topic("foo", vec![vec![1, 2, 3, 4]], &[]);
    let old_epoch = h.epochs[&4];
    h.heartbeat_full(0, 4, true, false);
    // Broker 4 restarts: a new incarnation, a new epoch.
    let new_epoch = h.register(0, 4, 401);
    assert!(new_epoch > old_epoch);
    h.heartbeat(0, 4);
    assert!(!h.image().brokers[&4].fenced);
    let tp = TopicPartition::new("foo", 0);
    let p = h.partition("foo", 0);
    let stale = vec![(1, None), (2, None), (3, None), (4, Some(old_epoch))];
    let request = alter(1, h.epochs[&1], 3, &p, tp.clone(), stale.clone());
    let w = h.controller.alter_partition(0, &request).unwrap();
    assert_eq!(w.response[0].result, Err(ApiError::IneligibleReplica));
    // v2 carries no epochs: nothing to compare.
    let request = alter(1, h.epochs[&1], 2, &p, tp.clone(), stale);
    let w = h.controller.alter_partition(0, &request).unwrap();
    assert!(w.response[0].result.is_ok());
    h.commit(&w);
    // And the current epoch is accepted on v3.
    let p = h.partition("foo", 0);
    let current = vec![(1, Some(h.epochs[&1])), (4, Some(new_epoch))];
    let request = alter(1, h.epochs[&1], 3, &p, tp, current);
    let w = h.controller.alter_partition(0, &request).unwrap();
    assert_eq!(w.response[0].result.clone().unwrap().isr, vec![1, 4]);
    // A request from a stale sender epoch is refused whole.
    let request = alter(
        1,
        old_epoch,
        3,
        &p,
        TopicPartition::new("foo", 0),
        vec![(1, None)],
    );
    assert_eq!(
        h.controller.alter_partition(0, &request).unwrap_err(),
        ApiError::StaleBrokerEpoch
    );
}

/// ReplicationControlManagerTest.testAlterPartitionShouldRejectShuttingDownBrokers: a
/// broker in controlled shutdown may not join an ISR (KAFKA-14140).
#[test]
fn test_alter_partition_should_reject_shutting_down_brokers() {
    let mut h = Harness::new(9000, MetadataVersion::V3_9, false);
    h.start_brokers(0, &[1, 2, 3, 4]);
    h.create_topic("foo", vec![vec![1, 2, 3]], &[]);
    h.create_topic("bar", vec![vec![4, 1]], &[]);
    let (_, reply) = h.heartbeat_full(0, 4, false, true);
    assert!(reply.in_controlled_shutdown && !reply.should_shut_down);
    assert!(h.image().brokers[&4].in_controlled_shutdown);
    let p = h.partition("foo", 0);
    let request = alter(
        1,
        h.epochs[&1],
        2,
        &p,
        TopicPartition::new("foo", 0),
        vec![(1, None), (2, None), (3, None), (4, None)],
    );
    let w = h.controller.alter_partition(0, &request).unwrap();
    // 4 is not a replica of foo-0 at all: INVALID_REQUEST comes first.
    assert_eq!(w.response[0].result, Err(ApiError::InvalidRequest));
    // bar-0 moved to 1; 1 asks to take 4 back into the ISR.
    let p = h.partition("bar", 0);
    assert_eq!(p.leader, Some(1));
    assert_eq!(p.isr, vec![1]);
    let request = alter(
        1,
        h.epochs[&1],
        2,
        &p,
        TopicPartition::new("bar", 0),
        vec![(1, None), (4, None)],
    );
    let w = h.controller.alter_partition(0, &request).unwrap();
    assert_eq!(w.response[0].result, Err(ApiError::IneligibleReplica));
}

/// ReplicationControlManagerTest.testInvalidAlterPartitionRequests: Kafka's validation
/// order (§5.2).
#[test]
fn test_invalid_alter_partition_requests() {
    let mut h = Harness::new(9000, MetadataVersion::V3_9, false);
    h.start_brokers(0, &[1, 2, 3]);
    h.create_topic("foo", vec![vec![1, 2, 3]], &[]);
    let tp = TopicPartition::new("foo", 0);
    let p = h.partition("foo", 0);
    let run = |h: &mut Harness, broker: BrokerId, le: i32, pe: i32, isr: Vec<BrokerId>, lrs| {
        let mut request = alter(broker, h.epochs[&broker], 2, &p, tp.clone(), Vec::new());
        request.partitions[0].leader_epoch = le;
        request.partitions[0].partition_epoch = pe;
        request.partitions[0].new_isr = isr.into_iter().map(|b| (b, None)).collect();
        request.partitions[0].leader_recovery_state = lrs;
        h.controller.alter_partition(0, &request).unwrap().response[0]
            .result
            .clone()
            .err()
    };
    use LeaderRecoveryState::*;
    let (le, pe) = (p.leader_epoch, p.partition_epoch);
    assert_eq!(
        run(&mut h, 1, le + 1, pe, vec![1, 2], Recovered),
        Some(ApiError::NotController)
    );
    assert_eq!(
        run(&mut h, 1, le, pe + 1, vec![1, 2], Recovered),
        Some(ApiError::NotController)
    );
    assert_eq!(
        run(&mut h, 2, le, pe, vec![1, 2], Recovered),
        Some(ApiError::InvalidRequest)
    );
    assert_eq!(
        run(&mut h, 1, le, pe, vec![1, 5], Recovered),
        Some(ApiError::InvalidRequest)
    );
    assert_eq!(
        run(&mut h, 1, le, pe, vec![2, 3], Recovered),
        Some(ApiError::InvalidRequest)
    );
    assert_eq!(
        run(&mut h, 1, le, pe, vec![1, 2], Recovering),
        Some(ApiError::InvalidRequest)
    );
    assert_eq!(
        run(&mut h, 1, le, pe, vec![1], Recovering),
        Some(ApiError::InvalidRequest)
    );
    // A valid shrink is written (and replayed at once); then the old epochs are stale.
    let mut request = alter(
        1,
        h.epochs[&1],
        2,
        &p,
        tp.clone(),
        vec![(1, None), (2, None)],
    );
    let w = h.controller.alter_partition(0, &request).unwrap();
    h.commit(&w);
    assert_eq!(
        w.response[0].result,
        Ok(super::replication_control::PartitionState {
            leader: Some(1),
            isr: vec![1, 2],
            leader_epoch: le,
            partition_epoch: pe + 1,
            leader_recovery_state: Recovered,
        })
    );
    let w = h.controller.alter_partition(0, &request).unwrap();
    assert_eq!(w.response[0].result, Err(ApiError::InvalidUpdateVersion));
    request.partitions[0].leader_epoch = le - 1;
    let w = h.controller.alter_partition(0, &request).unwrap();
    assert_eq!(w.response[0].result, Err(ApiError::FencedLeaderEpoch));
}

/// ReplicationControlManagerTest.testElectUncleanLeaders: with every ISR member fenced,
/// a preferred election finds no leader, an unclean one takes the first acceptable replica
/// in assignment order as the sole ISR member, RECOVERING.
#[test]
fn test_elect_unclean_leaders() {
    let mut h = Harness::new(9000, MetadataVersion::V3_9, false);
    h.start_brokers(0, &[1, 2, 3, 4]);
    h.create_topic("foo", vec![vec![1, 2, 3], vec![2, 3, 4]], &[]);
    for b in [1, 2, 3, 4] {
        h.heartbeat_full(0, b, true, false);
    }
    let p0 = h.partition("foo", 0);
    assert_eq!((p0.leader, p0.isr.clone()), (None, vec![3]));
    let p1 = h.partition("foo", 1);
    assert_eq!((p1.leader, p1.isr.clone()), (None, vec![4]));
    // Broker 2 comes back; it is in no ISR, so no clean election can use it.
    h.heartbeat(0, 2);
    assert_eq!(h.partition("foo", 0).leader, None);
    assert_eq!(h.partition("foo", 1).leader, None);
    let tps = [TopicPartition::new("foo", 0), TopicPartition::new("foo", 1)];
    let w = h
        .controller
        .elect_leaders(0, ElectionType::Preferred, Some(&tps))
        .unwrap();
    assert!(w.records.is_empty());
    assert!(w
        .response
        .iter()
        .all(|(_, r)| *r == Err(ApiError::PreferredLeaderNotAvailable)));
    let w = h
        .controller
        .elect_leaders(0, ElectionType::Unclean, Some(&tps))
        .unwrap();
    h.commit(&w);
    assert!(w.response.iter().all(|(_, r)| r.is_ok()));
    for p in [0, 1] {
        let part = h.partition("foo", p);
        assert_eq!(part.leader, Some(2));
        assert_eq!(part.isr, vec![2]);
        assert_eq!(part.leader_recovery_state, LeaderRecoveryState::Recovering);
    }
    // Now that they have leaders, another unclean election is not needed.
    let w = h
        .controller
        .elect_leaders(0, ElectionType::Unclean, Some(&tps))
        .unwrap();
    assert!(w
        .response
        .iter()
        .all(|(_, r)| *r == Err(ApiError::ElectionNotNeeded)));
    h.assert_log_replays_to_image();
}

/// ReplicationControlManagerTest.testEligibleLeaderReplicas_*: with ELR on (MV 4.0,
/// `eligible.leader.replicas.version` 1) and min ISR 2, fencing the ISR away leaves it
/// empty with the fenced members in the ELR; the first of them to come back leads; a new
/// incarnation of a broker leaves the ELR.
#[test]
fn test_eligible_leader_replicas() {
    let mut h = Harness::new(9000, MetadataVersion::V4_0, true);
    assert!(h.image().elr_enabled());
    h.start_brokers(0, &[1, 2, 3]);
    h.create_topic("foo", vec![vec![1, 2, 3]], &[(MIN_INSYNC_REPLICAS, "2")]);
    h.heartbeat_full(0, 3, true, false);
    let p = h.partition("foo", 0);
    assert_eq!(p.isr, vec![1, 2]);
    assert!(p.elr.is_empty());
    h.heartbeat_full(0, 2, true, false);
    let p = h.partition("foo", 0);
    assert_eq!(p.isr, vec![1]);
    assert_eq!(p.leader, Some(1));
    assert_eq!(p.elr, vec![2]);
    h.heartbeat_full(0, 1, true, false);
    let p = h.partition("foo", 0);
    assert!(p.isr.is_empty(), "with ELR the ISR may become empty: {p:?}");
    assert_eq!(p.leader, None);
    let mut elr = p.elr.clone();
    elr.sort();
    assert_eq!(elr, vec![1, 2]);
    // Broker 3 was never in the ELR: it cannot lead.
    h.heartbeat(0, 3);
    assert_eq!(h.partition("foo", 0).leader, None);
    // Broker 2 comes back (same incarnation): it is elected from the ELR.
    h.heartbeat(0, 2);
    let p = h.partition("foo", 0);
    assert_eq!(p.leader, Some(2));
    assert_eq!(p.isr, vec![2]);
    assert!(!p.elr.contains(&2));
    assert!(p.elr.contains(&1));
    // Broker 1 restarts uncleanly: a new incarnation leaves the ISR and the ELR.
    h.register(0, 1, 101);
    let p = h.partition("foo", 0);
    assert!(!p.isr.contains(&1) && !p.elr.contains(&1), "{p:?}");
    h.assert_log_replays_to_image();
}

/// QuorumControllerTest.testUncleanShutdownBroker: a new incarnation of a broker in the
/// ISR is removed from it at registration (KIP-966), while a broker registering again with
/// the same incarnation keeps its epoch and state.
#[test]
fn test_unclean_shutdown_broker() {
    let mut h = Harness::new(9000, MetadataVersion::V4_0, true);
    h.start_brokers(0, &[1, 2, 3]);
    h.create_topic("foo", vec![vec![1, 2, 3]], &[(MIN_INSYNC_REPLICAS, "2")]);
    let epoch = h.epochs[&3];
    assert_eq!(
        h.register(0, 3, 300),
        epoch,
        "same incarnation: registration amended"
    );
    assert!(!h.image().brokers[&3].fenced);
    // A different process with id 3 while 3's session lives is refused.
    let err = h
        .controller
        .register_broker(
            0,
            &BrokerRegistrationRequest {
                broker: 3,
                incarnation: IncarnationId(301),
                rack: None,
            },
        )
        .unwrap_err();
    assert_eq!(err, ApiError::DuplicateBrokerRegistration);
    // Once the session expires it may register; it leaves the ISR.
    h.heartbeat(9_500, 1);
    h.heartbeat(9_500, 2);
    let new_epoch = h.register(9_500, 3, 301);
    assert!(new_epoch > epoch);
    let p = h.partition("foo", 0);
    assert_eq!(p.isr, vec![1, 2]);
    assert!(h.image().brokers[&3].fenced);
    let (_, reply) = h.heartbeat_full(9_600, 3, false, false);
    assert!(reply.is_caught_up && !reply.is_fenced);
}

/// QuorumControllerTest's controlled-shutdown case (KIP-841, §4.3): the broker is marked
/// in controlled shutdown and loses its leaderships in one batch, and is told to shut down
/// only once it leads nothing and every active broker has caught up with that batch.
#[test]
fn test_controlled_shutdown() {
    let mut h = Harness::new(9000, MetadataVersion::V3_9, false);
    h.start_brokers(0, &[1, 2, 3]);
    h.create_topic("foo", vec![vec![1, 2, 3], vec![2, 3, 1]], &[]);
    // Let every broker report the current offset.
    for b in [1, 2, 3] {
        h.heartbeat(10, b);
    }
    let (records, reply) = h.heartbeat_full(20, 1, false, true);
    assert!(reply.in_controlled_shutdown && !reply.should_shut_down && !reply.is_fenced);
    assert!(matches!(
        records[0],
        MetadataRecord::BrokerRegistrationChange {
            broker: 1,
            in_controlled_shutdown: Some(true),
            fenced: None,
            ..
        }
    ));
    assert_eq!(records.len(), 3, "{records:?}");
    let cs_offset = h.offset().unwrap();
    let p0 = h.partition("foo", 0);
    assert_eq!((p0.leader, p0.isr.clone()), (Some(2), vec![2, 3]));
    assert_eq!(h.partition("foo", 1).isr, vec![2, 3]);
    // Brokers 2 and 3 have not yet seen the new leaders.
    let (records, reply) = h.heartbeat_full(30, 1, false, true);
    assert!(records.is_empty());
    assert!(reply.in_controlled_shutdown && !reply.should_shut_down);
    h.heartbeat(40, 2);
    let (_, reply) = h.heartbeat_full(50, 1, false, true);
    assert!(!reply.should_shut_down, "broker 3 is still behind");
    assert!(h.heartbeat(60, 3).is_caught_up);
    assert!(h.offset().unwrap() >= cs_offset);
    let (records, reply) = h.heartbeat_full(70, 1, false, true);
    assert!(reply.should_shut_down && reply.is_fenced);
    assert!(matches!(
        records.last(),
        Some(MetadataRecord::BrokerRegistrationChange {
            broker: 1,
            fenced: Some(true),
            ..
        })
    ));
    h.assert_log_replays_to_image();
}

/// `ClusterControlManager.activate` (§3): a newly active controller gives every broker a
/// fresh session, so a broker that died before the failover is fenced a full session after
/// the failover, not after its last heartbeat; and a renounced controller forgets its
/// uncommitted writes.
#[test]
fn test_failover_resets_broker_sessions() {
    let mut h = Harness::new(9000, MetadataVersion::V3_9, false);
    h.start_brokers(0, &[1, 2]);
    h.create_topic("foo", vec![vec![2, 1]], &[]);
    // A standby that has replayed the same committed log.
    let mut standby = QuorumController::new(h.controller.config().clone());
    for (offset, record) in &h.log {
        standby.replay_committed(*offset, record);
    }
    assert_eq!(standby.committed_image(), h.controller.committed_image());
    // Broker 2 dies at 0; broker 1 keeps heartbeating. At 5000 the active controller
    // loses leadership with a write still uncommitted.
    let uncommitted = h
        .controller
        .set_config(
            5000,
            ConfigResource::ClusterDefault,
            MIN_INSYNC_REPLICAS,
            Some("2"),
        )
        .unwrap();
    assert!(h
        .controller
        .image()
        .configs
        .contains_key(&ConfigResource::ClusterDefault));
    h.controller.renounce();
    assert!(!h.controller.is_active());
    assert!(!h
        .controller
        .image()
        .configs
        .contains_key(&ConfigResource::ClusterDefault));
    assert_eq!(
        h.controller
            .register_broker(
                5000,
                &BrokerRegistrationRequest {
                    broker: 9,
                    incarnation: IncarnationId(9),
                    rack: None,
                }
            )
            .unwrap_err(),
        ApiError::NotController
    );
    drop(uncommitted);

    let next = h.controller.next_write_offset();
    standby.activate(5000, next);
    let mut fenced_at = None;
    let mut now = 5000;
    while now <= 20_000 && fenced_at.is_none() {
        now += 500;
        let request = BrokerHeartbeatRequest {
            broker: 1,
            broker_epoch: h.epochs[&1],
            current_metadata_offset: standby.committed_image().offset,
            want_fence: false,
            want_shut_down: false,
        };
        let w = standby.heartbeat(now, &request).unwrap();
        for (o, r) in w.records_with_offsets() {
            standby.replay_committed(o, r);
        }
        for w in standby.on_tick(now) {
            for (o, r) in w.records_with_offsets() {
                standby.replay_committed(o, r);
            }
            if w.response == TickAction::Fenced(2) {
                fenced_at = Some(now);
            }
        }
    }
    // Not at 9000 (the old session's end) but a session after the failover.
    assert_eq!(fenced_at, Some(14_500));
    let p = standby
        .image()
        .partition(&TopicPartition::new("foo", 0))
        .unwrap();
    assert_eq!((p.leader, p.isr.clone()), (Some(1), vec![1]));
}

/// The auto leader rebalance (`maybeBalancePartitionLeaders`): when the preferred replica
/// is back, the periodic check moves leadership to it, with no imbalance threshold.
#[test]
fn test_balance_partition_leaders() {
    let config = ControllerConfig {
        session_timeout_ms: 9000,
        leader_imbalance_check_interval_ms: Some(300_000),
        unclean_leader_election_interval_ms: None,
        max_idle_interval_ms: None,
        ..ControllerConfig::default()
    };
    let mut h = Harness::new(9000, MetadataVersion::V3_9, false);
    h.controller = QuorumController::new(config);
    for (o, r) in &h.log {
        h.controller.replay_committed(*o, r);
    }
    h.controller.activate(0, h.log.len() as u64);
    h.start_brokers(0, &[1, 2]);
    h.create_topic("foo", vec![vec![1, 2], vec![2, 1]], &[]);
    h.heartbeat_full(0, 1, true, false);
    assert_eq!(h.partition("foo", 0).leader, Some(2));
    h.heartbeat(0, 1);
    // Unfencing does not move a partition that has a leader.
    assert_eq!(h.partition("foo", 0).leader, Some(2));
    assert!(h.controller.are_partition_leaders_imbalanced());
    // AlterPartition brings 1 back into the ISR.
    let p = h.partition("foo", 0);
    let request = alter(
        2,
        h.epochs[&2],
        2,
        &p,
        TopicPartition::new("foo", 0),
        vec![(2, None), (1, None)],
    );
    let w = h.controller.alter_partition(0, &request).unwrap();
    h.commit(&w);
    assert_eq!(h.controller.next_deadline_ms(), Some(9001));
    h.heartbeat(299_000, 1);
    h.heartbeat(299_000, 2);
    assert!(h.tick(299_999).is_empty());
    assert_eq!(h.tick(300_000), vec![TickAction::BalancedLeaders]);
    assert_eq!(h.partition("foo", 0).leader, Some(1));
    assert!(!h.controller.are_partition_leaders_imbalanced());
}

/// KIP-835 (`QuorumController.maybeScheduleNextWriteNoOpRecord`): the active controller
/// appends a `NoOpRecord` every `metadata.max.idle.interval.ms` from its claim, and stops
/// when it renounces.
#[test]
fn test_no_op_record_every_max_idle_interval() {
    let mut controller = QuorumController::new(ControllerConfig {
        leader_imbalance_check_interval_ms: None,
        unclean_leader_election_interval_ms: None,
        ..ControllerConfig::default()
    });
    assert_eq!(
        controller.next_deadline_ms(),
        None,
        "a standby writes nothing"
    );
    controller.activate(1_000, 7);
    assert_eq!(controller.next_deadline_ms(), Some(1_500));
    assert!(controller.on_tick(1_499).is_empty());
    let writes = controller.on_tick(1_500);
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].records, vec![MetadataRecord::NoOp]);
    assert_eq!(writes[0].base_offset, 7);
    assert_eq!(writes[0].response, TickAction::NoOp);
    assert_eq!(controller.next_deadline_ms(), Some(2_000));
    controller.renounce();
    assert_eq!(controller.next_deadline_ms(), None);
    assert!(controller.on_tick(5_000).is_empty());
}
