//! The active controller as a pure state machine (Kafka's `QuorumController` with its
//! `ClusterControlManager`, `BrokerHeartbeatManager`, `ReplicationControlManager` and
//! `FeatureControlManager`).
//!
//! How Kafka runs it, and how the model follows:
//! - Every operation runs on one event queue and turns an input (a registration, a
//!   heartbeat, an AlterPartition, a timer) into records and an answer
//!   (`ControllerWriteEvent`). The records are appended to the metadata log as one batch at
//!   the next offsets and replayed at once into the controller's in-memory state, so the
//!   next operation already sees them; the answer goes out only once the batch is committed.
//!   Here each operation returns a [`ControllerWrite`]: the offset its batch starts at, the
//!   records, and the answer to send once the quorum's high watermark passes
//!   [`ControllerWrite::commit_offset`]. The host appends the records to the Raft log.
//! - The controller keeps two images: the committed one (every record the quorum has
//!   committed, fed by the host through [`QuorumController::replay_committed`]) and the
//!   speculative one (committed plus its own uncommitted writes). Losing leadership
//!   ([`QuorumController::renounce`]) drops the uncommitted writes and the session state
//!   (`QuorumController.renounce`, which reverts to the last committed snapshot).
//! - A standby controller only replays committed records.

use super::cluster_control::{
    BrokerHeartbeatReply, BrokerHeartbeatRequest, BrokerRegistrationReply,
    BrokerRegistrationRequest, ClusterControl, DEFAULT_SESSION_TIMEOUT_MS,
};
use super::image::MetadataImage;
use super::records::{ApiError, ConfigResource, MetadataRecord, TopicId};
use super::replication_control::{
    self as rc, AlterPartitionRequest, AlterPartitionResult, CreateTopic, ElectionType,
    ReplicationDefaults,
};
use crate::types::{BrokerId, TopicPartition};
use serde::Serialize;
use std::collections::VecDeque;

/// The controller's configs the rules read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControllerConfig {
    /// `broker.session.timeout.ms` (9000).
    pub session_timeout_ms: u64,
    pub replication: ReplicationDefaults,
    /// `leader.imbalance.check.interval.seconds` in ms (300 s), or `None` when
    /// `auto.leader.rebalance.enable` is false.
    pub leader_imbalance_check_interval_ms: Option<u64>,
    /// The periodic unclean election of leaderless partitions (3.9+, KAFKA-12670: every
    /// 5 min); `None` before 3.9.
    pub unclean_leader_election_interval_ms: Option<u64>,
    /// `metadata.max.idle.interval.ms` (KIP-835, 500): the active controller appends a
    /// `NoOpRecord` this often, so the quorum's high watermark keeps moving and every
    /// broker can tell its metadata is current. `None` is 0: never.
    pub max_idle_interval_ms: Option<u64>,
}

/// `metadata.max.idle.interval.ms`'s default.
pub const DEFAULT_MAX_IDLE_INTERVAL_MS: u64 = 500;

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
            replication: ReplicationDefaults::default(),
            leader_imbalance_check_interval_ms: Some(300_000),
            unclean_leader_election_interval_ms: Some(300_000),
            max_idle_interval_ms: Some(DEFAULT_MAX_IDLE_INTERVAL_MS),
        }
    }
}

/// One batch the active controller wants appended, and the answer for its caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControllerWrite<R> {
    /// The offset of the first record (and the next write offset when there is none).
    pub base_offset: u64,
    pub records: Vec<MetadataRecord>,
    pub response: R,
}

impl<R> ControllerWrite<R> {
    /// The high watermark (exclusive) at which the answer may be sent: past the batch's
    /// last record, or, for an empty batch, past everything written before it.
    pub fn commit_offset(&self) -> u64 {
        self.base_offset + self.records.len() as u64
    }

    /// The records with their offsets.
    pub fn records_with_offsets(&self) -> impl Iterator<Item = (u64, &MetadataRecord)> {
        (self.base_offset..).zip(self.records.iter())
    }
}

/// What a timer-driven write did (`QuorumController`'s deferred events).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum TickAction {
    /// `maybeFenceReplicas`: a broker's session expired and it was fenced.
    Fenced(BrokerId),
    /// `maybeBalancePartitionLeaders`: preferred leaders elected.
    BalancedLeaders,
    /// `maybeElectUncleanLeaders`: unclean leaders elected for leaderless partitions.
    UncleanLeadersElected,
    /// `writeNoOpRecord`: the log had been idle for `metadata.max.idle.interval.ms`.
    NoOp,
}

/// Kafka's `QuorumController` on one controller node.
#[derive(Clone, Debug)]
pub struct QuorumController {
    config: ControllerConfig,
    committed: MetadataImage,
    image: MetadataImage,
    cluster: ClusterControl,
    active: bool,
    next_write_offset: u64,
    uncommitted: VecDeque<(u64, MetadataRecord)>,
    last_balance_check_ms: u64,
    last_unclean_check_ms: u64,
    /// When the next `NoOpRecord` is due (`maybeScheduleNextWriteNoOpRecord`).
    next_noop_ms: Option<u64>,
}

impl QuorumController {
    pub fn new(config: ControllerConfig) -> Self {
        let cluster = ClusterControl::new(config.session_timeout_ms);
        QuorumController {
            config,
            committed: MetadataImage::default(),
            image: MetadataImage::default(),
            cluster,
            active: false,
            next_write_offset: 0,
            uncommitted: VecDeque::new(),
            last_balance_check_ms: 0,
            last_unclean_check_ms: 0,
            next_noop_ms: None,
        }
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The image as of the last committed record.
    pub fn committed_image(&self) -> &MetadataImage {
        &self.committed
    }

    /// The image the controller decides on: committed records plus its own uncommitted
    /// ones (the same as the committed image on a standby).
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// The offset the next batch will be written at.
    pub fn next_write_offset(&self) -> u64 {
        self.next_write_offset
    }

    pub fn cluster_control(&self) -> &ClusterControl {
        &self.cluster
    }

    /// A record the quorum committed at `offset` (`QuorumMetaLogListener.handleCommit`).
    /// On the active controller it must be the oldest of its own uncommitted records; a
    /// standby replays it.
    pub fn replay_committed(&mut self, offset: u64, record: &MetadataRecord) {
        if self.active {
            let front = self.uncommitted.pop_front();
            assert!(
                front.as_ref().is_some_and(|(o, r)| *o == offset && r == record),
                "the active controller saw offset {offset} committed, but its next uncommitted write is {front:?}"
            );
        } else {
            self.image.replay(offset, record);
            self.next_write_offset = offset + 1;
        }
        self.committed.replay(offset, record);
    }

    /// A snapshot the quorum handed over (`QuorumController.handleLoadSnapshot`): the
    /// state is reset to what the snapshot's records build. Only a standby loads one (at
    /// start, or when it fetched below the leader's log start); the active controller's
    /// own log holds everything it replayed.
    pub fn load_snapshot(&mut self, end_offset: u64, records: &[MetadataRecord]) {
        assert!(!self.active, "the active controller loads no snapshot");
        assert!(end_offset > 0, "a snapshot covers at least one offset");
        self.committed = MetadataImage::from_snapshot(end_offset - 1, records);
        self.image = self.committed.clone();
        self.next_write_offset = end_offset;
    }

    /// This node becomes the active controller (`QuorumController.claim`, then
    /// `ClusterControlManager.activate`): every registered broker gets a fresh session from
    /// `now_ms`. `next_write_offset` is the offset its first batch will be written at (after
    /// the epoch's leader-change record).
    pub fn activate(&mut self, now_ms: u64, next_write_offset: u64) {
        self.image = self.committed.clone();
        self.uncommitted.clear();
        self.cluster.activate(&self.image, now_ms);
        self.active = true;
        self.next_write_offset = next_write_offset;
        self.last_balance_check_ms = now_ms;
        self.last_unclean_check_ms = now_ms;
        // `QuorumController.claim` → `maybeScheduleNextWriteNoOpRecord` (every model
        // metadata.version, 3.3-IV3 and later, supports NoOpRecord: `IBP_3_3_IV1`).
        self.next_noop_ms = self.config.max_idle_interval_ms.map(|i| now_ms + i);
    }

    /// This node stops being the active controller (`QuorumController.renounce`): its
    /// uncommitted writes are forgotten and the image goes back to the committed one.
    pub fn renounce(&mut self) {
        self.active = false;
        self.image = self.committed.clone();
        self.uncommitted.clear();
        self.cluster.deactivate();
        self.next_noop_ms = None;
    }

    fn check_active(&self) -> Result<(), ApiError> {
        if self.active {
            Ok(())
        } else {
            Err(ApiError::NotController)
        }
    }

    /// Appends a batch: offsets, speculative replay, session hooks.
    fn write<R>(
        &mut self,
        records: Vec<MetadataRecord>,
        response: R,
        now_ms: u64,
    ) -> ControllerWrite<R> {
        let base_offset = self.next_write_offset;
        for (i, record) in records.iter().enumerate() {
            let offset = base_offset + i as u64;
            self.image.replay(offset, record);
            self.cluster.on_replay(&self.image, record, now_ms);
            self.uncommitted.push_back((offset, record.clone()));
        }
        self.next_write_offset += records.len() as u64;
        ControllerWrite {
            base_offset,
            records,
            response,
        }
    }

    /// Writes feature levels (the bootstrap records of `kafka-storage.sh format`, or
    /// `kafka-features.sh upgrade`): `metadata.version`, `eligible.leader.replicas.version`.
    pub fn set_features(
        &mut self,
        now_ms: u64,
        features: &[(&str, i16)],
    ) -> Result<ControllerWrite<()>, ApiError> {
        self.check_active()?;
        let records = features
            .iter()
            .map(|(name, level)| MetadataRecord::FeatureLevel {
                name: name.to_string(),
                level: *level,
            })
            .collect();
        Ok(self.write(records, (), now_ms))
    }

    /// Sets (or with `None` deletes) a dynamic config (IncrementalAlterConfigs).
    pub fn set_config(
        &mut self,
        now_ms: u64,
        resource: ConfigResource,
        key: &str,
        value: Option<&str>,
    ) -> Result<ControllerWrite<()>, ApiError> {
        self.check_active()?;
        let record = MetadataRecord::Config {
            resource,
            key: key.to_string(),
            value: value.map(str::to_string),
        };
        Ok(self.write(vec![record], (), now_ms))
    }

    /// `QuorumController.registerBroker`: the epoch of a new incarnation is the offset its
    /// batch is written at.
    pub fn register_broker(
        &mut self,
        now_ms: u64,
        request: &BrokerRegistrationRequest,
    ) -> Result<ControllerWrite<BrokerRegistrationReply>, ApiError> {
        self.check_active()?;
        let (records, reply) = self.cluster.register_broker(
            &self.image,
            &self.config.replication,
            request,
            self.next_write_offset,
            now_ms,
        )?;
        Ok(self.write(records, reply, now_ms))
    }

    /// `QuorumController.processBrokerHeartbeat`.
    pub fn heartbeat(
        &mut self,
        now_ms: u64,
        request: &BrokerHeartbeatRequest,
    ) -> Result<ControllerWrite<BrokerHeartbeatReply>, ApiError> {
        self.check_active()?;
        let (records, reply) = self.cluster.process_broker_heartbeat(
            &self.image,
            &self.config.replication,
            request,
            now_ms,
        )?;
        let write = self.write(records, reply, now_ms);
        if reply.in_controlled_shutdown {
            // processBatchEndOffset: the last offset of this batch.
            let end = write.commit_offset().saturating_sub(1);
            self.cluster
                .record_controlled_shutdown_offset(request.broker, end);
        }
        Ok(write)
    }

    /// A heartbeat that timed out in the queue (`processExpiredBrokerHeartbeat`).
    pub fn expired_heartbeat(
        &mut self,
        now_ms: u64,
        request: &BrokerHeartbeatRequest,
    ) -> Result<(), ApiError> {
        self.check_active()?;
        self.cluster
            .process_expired_broker_heartbeat(&self.image, request, now_ms)
    }

    /// `QuorumController.unregisterBroker`.
    pub fn unregister_broker(
        &mut self,
        now_ms: u64,
        broker: BrokerId,
    ) -> Result<ControllerWrite<()>, ApiError> {
        self.check_active()?;
        let records =
            self.cluster
                .unregister_broker(&self.image, &self.config.replication, broker)?;
        Ok(self.write(records, (), now_ms))
    }

    /// `QuorumController.createTopics`, one topic with a manual assignment; its id is the
    /// offset of its `TopicRecord`.
    pub fn create_topic(
        &mut self,
        now_ms: u64,
        request: &CreateTopic,
    ) -> Result<ControllerWrite<TopicId>, ApiError> {
        self.check_active()?;
        let topic_id = TopicId(self.next_write_offset);
        let records = rc::create_topic(&self.image, request, topic_id)?;
        Ok(self.write(records, topic_id, now_ms))
    }

    /// `QuorumController.alterPartition`.
    pub fn alter_partition(
        &mut self,
        now_ms: u64,
        request: &AlterPartitionRequest,
    ) -> Result<ControllerWrite<Vec<AlterPartitionResult>>, ApiError> {
        self.check_active()?;
        let (records, results) =
            rc::alter_partition(&self.image, &self.config.replication, request)?;
        Ok(self.write(records, results, now_ms))
    }

    /// `QuorumController.electLeaders`: the named partitions, or every one (`None`).
    pub fn elect_leaders(
        &mut self,
        now_ms: u64,
        election_type: ElectionType,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<ControllerWrite<rc::ElectionResults>, ApiError> {
        self.check_active()?;
        let (records, results) = rc::elect_leaders(
            &self.image,
            &self.config.replication,
            election_type,
            partitions,
        );
        Ok(self.write(records, results, now_ms))
    }

    /// `ReplicationControlManager.arePartitionLeadersImbalanced`.
    pub fn are_partition_leaders_imbalanced(&self) -> bool {
        rc::are_partition_leaders_imbalanced(&self.image)
    }

    /// The timer-driven writes due at `now_ms`, each its own batch: fencing of brokers
    /// whose session expired, one per batch (`maybeFenceReplicas`, rescheduled at once
    /// while one is stale), then preferred-leader balancing and the unclean-election scan
    /// when their intervals have passed. Nothing on a standby.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<ControllerWrite<TickAction>> {
        let mut writes = Vec::new();
        if !self.active {
            return writes;
        }
        while let Some((broker, records)) =
            self.cluster
                .maybe_fence_one_stale_broker(&self.image, &self.config.replication, now_ms)
        {
            writes.push(self.write(records, TickAction::Fenced(broker), now_ms));
        }
        if let Some(interval) = self.config.leader_imbalance_check_interval_ms {
            if now_ms >= self.last_balance_check_ms + interval {
                self.last_balance_check_ms = now_ms;
                let (records, more) =
                    rc::maybe_balance_partition_leaders(&self.image, &self.config.replication);
                if more {
                    // Kafka reschedules at once when the batch limit cut it short.
                    self.last_balance_check_ms = now_ms - interval.min(now_ms);
                }
                if !records.is_empty() {
                    writes.push(self.write(records, TickAction::BalancedLeaders, now_ms));
                }
            }
        }
        if let Some(interval) = self.config.unclean_leader_election_interval_ms {
            if now_ms >= self.last_unclean_check_ms + interval {
                self.last_unclean_check_ms = now_ms;
                let (records, more) =
                    rc::maybe_elect_unclean_leaders(&self.image, &self.config.replication);
                if more {
                    self.last_unclean_check_ms = now_ms - interval.min(now_ms);
                }
                if !records.is_empty() {
                    writes.push(self.write(records, TickAction::UncleanLeadersElected, now_ms));
                }
            }
        }
        if let (Some(due_ms), Some(interval)) =
            (self.next_noop_ms, self.config.max_idle_interval_ms)
        {
            if now_ms >= due_ms {
                // `writeNoOpRecord` schedules the next one from when it runs.
                self.next_noop_ms = Some(now_ms + interval);
                writes.push(self.write(vec![MetadataRecord::NoOp], TickAction::NoOp, now_ms));
            }
        }
        writes
    }

    /// When [`QuorumController::on_tick`] next has something to do: just after the oldest
    /// session expires, or when a periodic check is due.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        if !self.active {
            return None;
        }
        let fence = self.cluster.next_check_time_ms().map(|t| t + 1);
        let balance = self
            .config
            .leader_imbalance_check_interval_ms
            .map(|i| self.last_balance_check_ms + i);
        let unclean = self
            .config
            .unclean_leader_election_interval_ms
            .map(|i| self.last_unclean_check_ms + i);
        [fence, balance, unclean, self.next_noop_ms]
            .into_iter()
            .flatten()
            .min()
    }
}
