//! A Kafka broker: the replica manager, the replica fetchers, the produce purgatory, the
//! ZooKeeper client, and (when it wins the election) the controller.
//!
//! The broker is where Kafka's replication rules live:
//! - a leader appends produced records, tracks each follower's log end offset (LEO) from the
//!   fetch offsets they send, and moves the high watermark (HW) to the smallest LEO of its ISR;
//! - a follower fetches from the leader, appends what it gets, and learns the HW from the
//!   fetch response (so it lags the leader's HW by one round trip);
//! - a follower that has not caught up for `replica.lag.time.max.ms` leaves the ISR, and one
//!   that reaches the HW (and the start of the leader's epoch) joins again; both changes go
//!   through the controller (AlterIsr) with a version check, or before 2.7 straight to
//!   ZooKeeper with the same check;
//! - a replica that starts following a new leader first finds where its log and the leader's
//!   diverge and cuts its log there. How it finds that point is what changed across Kafka
//!   versions: the wire protocol's part is selected by `inter.broker.protocol.version` (see
//!   [`ProtocolVersion`]), the code's part by the release the broker runs (see
//!   [`KafkaVersion`]).
//!
//! What the broker keeps on disk is [`Disk`]: the logs and the high-watermark checkpoint.
//! Everything else is rebuilt after a restart from what the controller sends.
//!
//! # Layout
//!
//! The broker is one state machine, [`Broker`], whose methods are spread over files along
//! Kafka's own component boundaries, so a rule can be found where Kafka keeps it:
//! - this file: the [`Broker`] struct, its [`Actor`] impl and the dispatch of every message
//!   and timer to its handler (Kafka's `KafkaApis`), plus the metadata requests;
//! - `partition`: one partition's leader/follower state, the high-watermark rule and ISR
//!   shrink/expand (Kafka's `Partition`);
//! - `isr_write`: before 2.7, the leader's own ZooKeeper write of its ISR and the
//!   `/isr_change_notification` that tells the controller (Kafka's `Partition.updateIsr`,
//!   `ReplicaManager.maybePropagateIsrChanges`);
//! - `replica_manager`: LeaderAndIsr, produce and fetch handling and their purgatories
//!   (Kafka's `ReplicaManager`, `DelayedProduce`, `DelayedFetch`);
//! - `fetcher`: the follower's replica fetchers and truncation (Kafka's
//!   `AbstractFetcherThread`, `ReplicaFetcherThread`);
//! - `zk_client`: the ZooKeeper session, registration and the controller election;
//! - `controller_glue`, `coordinator_glue`: where the controller and the group coordinator
//!   meet the broker that hosts them;
//! - `disk`: [`Disk`], flushes and the HW checkpoint;
//! - `log_manager`: log configs, the retention and cleaner threads, the follower's log start
//!   offset and DeleteRecords (Kafka's `LogManager`, `LogCleaner`, `DelayedDeleteRecords`).
//!
//! All of them are `impl Broker` blocks on the one struct: the split is by responsibility,
//! not by ownership, because Kafka's components share the same partition and log state.

use coordinator_glue::{AppendCompletion, TxnCompletion};
use fetcher::Fetcher;
use isr_write::{IsrChangeNotifier, ISR_CHANGE_CHECK_INTERVAL_MS};
use partition::{PartitionState, Role};
use replica_manager::{DelayedFetch, DelayedProduce, ProduceReplyTo};
use zk_client::ZkClient;
mod controller_glue;
mod coordinator_glue;
mod disk;
mod fetcher;
mod internal_topics;
mod isr_write;
mod kraft_client;
mod log_manager;
mod partition;
mod producer_ids;
mod replica_manager;
mod shutdown;
#[cfg(test)]
mod tests;
mod txn_coordinator_glue;
mod txn_markers;
mod txn_verification;
mod zk_client;

pub use disk::Disk;
pub use kraft_client::{KraftSettings, KraftTimer};

use crate::actor::{Actor, Output};
use crate::config::{BrokerConfig, KafkaVersion, ProtocolVersion, TopicConfig};
use crate::controller::Controller;
use crate::coordinator::transaction::log::TRANSACTION_STATE_TOPIC;
use crate::coordinator::transaction::{TransactionCoordinator, TxnCoordinatorConfig, TxnTimer};
use crate::coordinator::{CoordinatorConfig, GroupCoordinator, GroupTimer};
use crate::event::Event;
use crate::fetch_session::FetchSessionCache;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

/// The most records one fetch response carries (Kafka bounds it by bytes:
/// `replica.fetch.max.bytes`, `fetch.max.bytes`).
pub const FETCH_MAX_RECORDS: usize = 1000;

/// How long a leader waits for the controller to answer an AlterIsr before it may try again.
pub const ALTER_ISR_TIMEOUT_MS: u64 = 5_000;

/// How often a broker retries registering under `/brokers/ids` while its previous session's
/// znode is still there.
///
/// Kafka does not retry: `KafkaZkClient.registerBroker` (`checkedEphemeralCreate`) finds the
/// znode owned by another session, throws `NodeExistsException`, and `KafkaServer.startup`
/// fails, so the process exits; a supervisor (systemd, Kubernetes) starts it again, and it
/// registers once ZooKeeper has expired the old session. The simulator keeps the process and
/// retries every second instead: the broker registers within a second of the expiry, as a
/// supervisor restarting at once would make it, without a second recovery from disk.
pub const REGISTER_RETRY_MS: u64 = 1_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerTimer {
    /// A timer of the controller this broker hosts.
    Controller(crate::controller::ControllerTimer),
    /// A timer of the KRaft metadata observer or lifecycle manager.
    Kraft(KraftTimer),
    ZkConnectTimeout {
        attempt: u64,
    },
    ZkPing {
        session_id: u64,
    },
    ZkRegisterRetry {
        session_id: u64,
    },
    IsrExpiration,
    HwCheckpoint,
    FlushCheck,
    FetchTimeout {
        leader: BrokerId,
        correlation_id: u64,
    },
    FetchBackoff {
        leader: BrokerId,
    },
    /// One partition's `replica.fetch.backoff.ms` after its fetch failed; `leader_epoch` is
    /// the epoch its fetching last started in (stale after a restart).
    PartitionFetchBackoff {
        tp: TopicPartition,
        leader_epoch: LeaderEpoch,
    },
    DelayedProduceExpire {
        id: u64,
    },
    DelayedFetchExpire {
        id: u64,
    },
    AlterIsrTimeout {
        tp: TopicPartition,
        attempt: u64,
    },
    /// Before 2.7: look for ISR changes to tell the controller about.
    IsrChangePropagation,
    /// Log recovery after an unclean shutdown is over: connect to ZooKeeper and register.
    LogRecoveryDone,
    /// A timer of the group coordinator.
    Group(GroupTimer),
    /// A timer of the transaction coordinator.
    Txn(TxnTimer),
    /// A controlled-shutdown request got no answer in time.
    ControlledShutdownTimeout {
        attempt: u32,
    },
    /// The backoff after a failed controlled-shutdown attempt.
    ControlledShutdownRetry {
        attempt: u32,
    },
    /// `LogManager`'s `kafka-log-retention` task.
    LogRetention,
    /// The log cleaner thread's next look (`CleanerThread.doWork`).
    LogCleaner,
    /// A DeleteRecords waited `timeout_ms` in the purgatory.
    DelayedDeleteRecordsExpire {
        id: u64,
    },
    /// A transaction verification (KIP-890) got no answer from the coordinator in time.
    TxnVerificationTimeout {
        correlation_id: u64,
    },
}

pub struct Broker {
    id: BrokerId,
    config: BrokerConfig,
    topic_configs: BTreeMap<String, TopicConfig>,
    disk: Disk,
    high_watermarks: BTreeMap<TopicPartition, u64>,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    zk: ZkClient,
    controller: Option<Controller>,
    /// The controller this broker last heard of, and the highest controller epoch it saw.
    controller_id: Option<BrokerId>,
    controller_epoch: i32,
    live_brokers: Vec<BrokerId>,
    metadata: BTreeMap<TopicPartition, PartitionMetadata>,
    fetchers: BTreeMap<BrokerId, Fetcher>,
    next_correlation_id: u64,
    next_delayed_id: u64,
    delayed_produces: BTreeMap<u64, DelayedProduce>,
    /// Per WriteTxnMarkers request being answered, the marker of each partition, in the
    /// order of its delayed produce's statuses.
    txn_marker_requests: BTreeMap<u64, Vec<txn_markers::MarkerSlot>>,
    /// The purgatory's watch keys: per partition, the delayed produces waiting on it.
    produce_watchers: BTreeMap<TopicPartition, BTreeSet<u64>>,
    /// The fetch sessions of the followers (and consumers) fetching from this broker.
    fetch_sessions: FetchSessionCache,
    /// Per fetch session, its fetch waiting in the purgatory.
    parked_fetches: BTreeMap<u32, u64>,
    delayed_fetches: BTreeMap<u64, DelayedFetch>,
    coordinator: GroupCoordinator,
    /// Answers to the coordinator's appends, handed to it after the current input.
    coordinator_completions: Vec<AppendCompletion>,
    txn_coordinator: TransactionCoordinator,
    /// Answers to the transaction coordinator's writes, handed to it after the input.
    txn_coordinator_completions: Vec<AppendCompletion>,
    /// The internal topics this broker asked to create (or is asking for).
    internal_topics_requested: BTreeSet<internal_topics::InternalTopic>,
    /// Transaction markers written on offsets partitions, handed to the coordinator after
    /// the current input.
    txn_completions: Vec<TxnCompletion>,
    /// Before 2.7: the ISR changes this broker wrote and has not told the controller about.
    isr_changes: IsrChangeNotifier,
    /// A controlled shutdown under way (after a SIGTERM).
    shutdown: Option<shutdown::ControlledShutdown>,
    /// The process finished its shutdown and has exited.
    exited: bool,
    /// The producer ids this broker hands to idempotent producers.
    producer_ids: Option<producer_ids::ProducerIdBlock>,
    /// DeleteRecords requests waiting for their low watermarks (Kafka's
    /// `delayedDeleteRecordsPurgatory`).
    delayed_delete_records: BTreeMap<u64, log_manager::DelayedDeleteRecords>,
    /// KRaft mode: the metadata log observer and the lifecycle manager (`None` in
    /// ZooKeeper mode).
    kraft: Option<kraft_client::KraftClient>,
    /// Produce requests waiting for their transaction verification (KIP-890), by the
    /// correlation id of the AddPartitionsToTxn sent for them.
    txn_verifications: BTreeMap<u64, txn_verification::PendingVerification>,
}

impl Broker {
    pub fn new(
        id: BrokerId,
        config: BrokerConfig,
        mut topic_configs: BTreeMap<String, TopicConfig>,
        disk: Disk,
    ) -> Broker {
        topic_configs
            .entry(TRANSACTION_STATE_TOPIC.to_string())
            .or_insert_with(|| internal_topics::transaction_state_topic_config(&config));
        Broker {
            id,
            topic_configs,
            disk,
            high_watermarks: BTreeMap::new(),
            partitions: BTreeMap::new(),
            zk: ZkClient::default(),
            controller: None,
            controller_id: None,
            controller_epoch: 0,
            live_brokers: Vec::new(),
            metadata: BTreeMap::new(),
            fetchers: BTreeMap::new(),
            next_correlation_id: 0,
            next_delayed_id: 0,
            delayed_produces: BTreeMap::new(),
            txn_marker_requests: BTreeMap::new(),
            produce_watchers: BTreeMap::new(),
            fetch_sessions: FetchSessionCache::default(),
            parked_fetches: BTreeMap::new(),
            delayed_fetches: BTreeMap::new(),
            coordinator: GroupCoordinator::new(
                id,
                CoordinatorConfig {
                    offsets_topic_num_partitions: config.offsets_topic_num_partitions,
                    group_initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
                    group_min_session_timeout_ms: config.group_min_session_timeout_ms,
                    group_max_session_timeout_ms: config.group_max_session_timeout_ms,
                    // ZooKeeper-mode brokers run the Scala coordinator.
                    new_group_coordinator: false,
                    pending_sync_deadline: config.kafka_version.has_pending_sync_deadline(),
                    new_member_join_timeout: config.kafka_version.has_new_member_join_timeout(),
                },
            ),
            coordinator_completions: Vec::new(),
            txn_coordinator: TransactionCoordinator::new(
                id,
                TxnCoordinatorConfig {
                    partition_count: config.transaction_state_log_num_partitions,
                    transaction_max_timeout_ms: config.transaction_max_timeout_ms,
                    abort_timed_out_interval_ms: config
                        .transaction_abort_timed_out_transaction_cleanup_interval_ms,
                    request_timeout_ms: txn_coordinator_glue::TXN_APPEND_TIMEOUT_MS,
                },
            ),
            txn_coordinator_completions: Vec::new(),
            internal_topics_requested: BTreeSet::new(),
            txn_completions: Vec::new(),
            isr_changes: IsrChangeNotifier::default(),
            shutdown: None,
            exited: false,
            producer_ids: None,
            delayed_delete_records: BTreeMap::new(),
            kraft: None,
            txn_verifications: BTreeMap::new(),
            config,
        }
    }

    /// The group coordinator this broker hosts, for inspection.
    pub fn coordinator(&self) -> &GroupCoordinator {
        &self.coordinator
    }

    /// The transaction coordinator this broker hosts, for inspection.
    pub fn txn_coordinator(&self) -> &TransactionCoordinator {
        &self.txn_coordinator
    }

    pub fn id(&self) -> BrokerId {
        self.id
    }

    pub fn disk(&self) -> &Disk {
        &self.disk
    }

    /// What the disk holds when the process is gone: the logs, and in KRaft mode the
    /// metadata log the observer kept (flushed whole by a clean shutdown, as
    /// `KafkaRaftClient.shutdown` closes the log).
    pub fn into_disk(mut self) -> Disk {
        for log in self.disk.logs.values_mut() {
            log.forget_verifications();
        }
        if let Some(kraft) = self.kraft.take() {
            let mut metadata_log = kraft.into_metadata_log();
            if self.disk.clean_shutdown {
                metadata_log.log.flush();
            }
            self.disk.metadata_log = metadata_log;
        }
        self.disk
    }

    pub fn high_watermark(&self, tp: &TopicPartition) -> u64 {
        self.high_watermarks.get(tp).copied().unwrap_or(0)
    }

    pub fn is_controller(&self) -> bool {
        self.controller.is_some()
    }

    /// The leader epoch this broker last learned for a partition, and whether it leads it.
    pub fn partition_role(&self, tp: &TopicPartition) -> Option<(LeaderEpoch, bool)> {
        self.partitions
            .get(tp)
            .map(|p| (p.leader_epoch, matches!(p.role, Role::Leader(_))))
    }

    /// The ISR this broker's metadata cache holds for `tp`: what it tells clients, as the
    /// controller's last UpdateMetadata said.
    pub fn metadata_isr(&self, tp: &TopicPartition) -> Option<Vec<BrokerId>> {
        self.metadata.get(tp).map(|m| m.isr.clone())
    }

    /// The ISR as this broker (when leader) believes it.
    pub fn isr(&self, tp: &TopicPartition) -> Option<Vec<BrokerId>> {
        self.partitions.get(tp).map(|p| p.isr.clone())
    }

    /// The inter-broker protocol rules (`inter.broker.protocol.version`).
    fn protocol(&self) -> ProtocolVersion {
        self.config.inter_broker_protocol_version
    }

    /// The code rules of the release this broker runs (`[cluster] kafka_version`).
    fn release(&self) -> KafkaVersion {
        self.config.kafka_version
    }

    fn topic_config(&self, topic: &str) -> &TopicConfig {
        self.topic_configs
            .get(topic)
            .unwrap_or(&self.config.topic_defaults)
    }

    fn next_correlation(&mut self) -> u64 {
        self.next_correlation_id += 1;
        self.next_correlation_id
    }
}

impl Broker {
    // ------------------------------------------------------------------------------------
    // Controller requests: the controller epoch check, UpdateMetadata (LeaderAndIsr is in
    // `replica_manager`, AlterIsr responses in `partition`)
    // ------------------------------------------------------------------------------------

    fn accept_controller_epoch(
        &mut self,
        controller_epoch: i32,
        out: &mut Output<BrokerTimer>,
    ) -> bool {
        if controller_epoch < self.controller_epoch {
            out.event(Event::StaleControllerRequestRejected {
                broker: self.id,
                request_controller_epoch: controller_epoch,
                current_controller_epoch: self.controller_epoch,
            });
            return false;
        }
        self.controller_epoch = controller_epoch;
        true
    }

    fn on_update_metadata(
        &mut self,
        request: UpdateMetadataRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        let UpdateMetadataRequest {
            controller_id,
            controller_epoch,
            live_brokers,
            partitions,
        } = request;
        if !self.accept_controller_epoch(controller_epoch, out) {
            return;
        }
        self.controller_id = Some(controller_id);
        self.live_brokers = live_brokers;
        for p in partitions {
            let newer = self
                .metadata
                .get(&p.tp)
                .is_none_or(|m| p.leader_epoch >= m.leader_epoch);
            if newer {
                self.metadata.insert(p.tp.clone(), p);
            }
        }
    }

    // Client requests: metadata and offsets
    // ------------------------------------------------------------------------------------

    fn on_metadata(
        &mut self,
        from: NodeId,
        request: MetadataRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        let MetadataRequest {
            correlation_id,
            topics,
        } = request;
        let partitions = self
            .metadata
            .values()
            .filter(|m| topics.is_empty() || topics.contains(&m.tp.topic))
            .cloned()
            .collect();
        out.send(
            from,
            Message::MetadataResponse(MetadataResponse {
                correlation_id,
                brokers: self.live_brokers.clone(),
                controller_id: self.controller_id,
                partitions,
            }),
        );
    }

    /// Kafka's `Partition.fetchOffsetForTimestamp` (KIP-207, from 2.2.0): while a new leader's
    /// HW is below the offset its epoch started at, the HW may still be an older leader's,
    /// lower than what a client already saw, so the latest offset is not given out.
    fn latest_offset_not_available(&self, tp: &TopicPartition) -> bool {
        let Some(Role::Leader(leader)) = self.partitions.get(tp).map(|p| &p.role) else {
            return false;
        };
        self.release().has_offset_not_available_for_new_leader()
            && leader.epoch_start_offset > self.high_watermark(tp)
    }

    fn on_list_offsets(
        &mut self,
        from: NodeId,
        request: ListOffsetsRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        let ListOffsetsRequest {
            correlation_id,
            tp,
            spec,
            current_leader_epoch,
            isolation_level,
        } = request;
        let fp = FetchPartition {
            tp: tp.clone(),
            fetch_offset: 0,
            last_fetched_epoch: None,
            current_leader_epoch,
            log_start_offset: None,
        };
        let (error, offset, leader_epoch) = match self.fetch_error(&fp) {
            Some(error) => (error, 0, None),
            None if spec == OffsetSpec::Latest && self.latest_offset_not_available(&tp) => {
                (ErrorCode::OffsetNotAvailable, 0, None)
            }
            None => {
                let log = &self.disk.logs[&tp];
                let offset = match spec {
                    OffsetSpec::Earliest => log.log_start_offset(),
                    // `Partition.fetchOffsetForTimestamp`: the latest offset by isolation level.
                    OffsetSpec::Latest => match isolation_level {
                        IsolationLevel::ReadUncommitted => self.high_watermark(&tp),
                        IsolationLevel::ReadCommitted => {
                            log.last_stable_offset(self.high_watermark(&tp))
                        }
                    },
                };
                (
                    ErrorCode::None,
                    offset,
                    Some(self.partitions[&tp].leader_epoch),
                )
            }
        };
        out.send(
            from,
            Message::ListOffsetsResponse(ListOffsetsResponse {
                correlation_id,
                tp,
                error,
                offset,
                leader_epoch,
            }),
        );
    }
}

impl Actor for Broker {
    type Timer = BrokerTimer;

    fn start(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        self.announce_clean_start(out);
        self.txn_coordinator.start(now_ms);
        // Recovery: the HW comes from the checkpoint, never above what the log holds.
        let mut recovered = Vec::new();
        for (tp, log) in &self.disk.logs {
            let leo = log.log_end_offset();
            let hw = self
                .disk
                .hw_checkpoint
                .get(tp)
                .copied()
                .unwrap_or(0)
                .min(leo);
            self.high_watermarks.insert(tp.clone(), hw);
            recovered.push((tp.clone(), leo, hw));
        }
        out.event(Event::BrokerRecovered {
            broker: self.id,
            replicas: recovered,
        });
        self.recover_logs_then_connect(now_ms, out);
        if let Some(ms) = self.isr_expiration_period_ms() {
            out.timer(ms, BrokerTimer::IsrExpiration);
        }
        if !self.protocol().uses_alter_isr() {
            self.isr_changes = IsrChangeNotifier::starting(now_ms);
            out.timer(
                ISR_CHANGE_CHECK_INTERVAL_MS,
                BrokerTimer::IsrChangePropagation,
            );
        }
        if let Some(ms) = self.hw_checkpoint_period_ms() {
            out.timer(ms, BrokerTimer::HwCheckpoint);
        }
        if let Some(ms) = self.flush_check_interval_ms() {
            out.timer(ms, BrokerTimer::FlushCheck);
        }
        self.start_log_manager(out);
    }

    fn on_message(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<BrokerTimer>,
    ) {
        self.handle_message(now_ms, from, message, out);
        self.deliver_coordinator_completions(now_ms, out);
        self.deliver_txn_coordinator_completions(now_ms, out);
    }

    fn on_timer(&mut self, now_ms: u64, timer: BrokerTimer, out: &mut Output<BrokerTimer>) {
        self.handle_timer(now_ms, timer, out);
        self.deliver_coordinator_completions(now_ms, out);
        self.deliver_txn_coordinator_completions(now_ms, out);
    }

    fn exited(&self) -> bool {
        self.exited
    }
}

impl Broker {
    fn handle_message(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<BrokerTimer>,
    ) {
        match message {
            zk @ (Message::ZkConnected(_)
            | Message::ZkPong(_)
            | Message::ZkResponse(_)
            | Message::ZkWatch(_)
            | Message::ZkSessionExpired(_)) => self.on_zk_message(now_ms, zk, out),
            Message::LeaderAndIsr(request) => self.on_leader_and_isr(now_ms, request, out),
            Message::UpdateMetadata(request) => self.on_update_metadata(request, out),
            Message::AlterIsr(request) => self.on_alter_isr(request, out),
            Message::ElectLeaders(request) => self.on_elect_leaders(from, request, out),
            Message::DeleteRecords(request) => self.on_delete_records(from, request, out),
            Message::InitProducerId(request) => {
                self.on_init_producer_id(now_ms, from, request, out)
            }
            Message::AlterIsrResponse(response) => {
                self.on_alter_isr_response(now_ms, response, out)
            }
            Message::Fetch(request) => self.on_fetch(now_ms, from, request, out),
            Message::FetchResponse(response) => self.on_fetch_response(now_ms, from, response, out),
            Message::OffsetsForLeaderEpoch(request) => {
                self.on_offsets_for_leader_epoch(from, request, out)
            }
            Message::OffsetsForLeaderEpochResponse(response) => {
                self.on_offsets_for_leader_epoch_response(from, response, out)
            }
            Message::Produce(request) => {
                self.on_produce(now_ms, ProduceReplyTo::Client(from), request, out)
            }
            Message::WriteTxnMarkers(request) => {
                self.on_write_txn_markers(now_ms, from, request, out)
            }
            Message::Metadata(request) => self.on_metadata(from, request, out),
            Message::Disconnected(_) => {
                if let NodeId::Broker(peer) = from {
                    self.with_txn_coordinator(now_ms, out, |c, host, out| {
                        c.on_broker_disconnected(peer, host, out)
                    });
                }
                self.fail_verifications_to(now_ms, from, out);
                self.on_disconnected(from, out);
                self.on_controlled_shutdown_disconnect(from, out);
            }
            Message::Terminate(_) => self.on_terminate(now_ms, out),
            Message::ControlledShutdown(request) => {
                self.on_controlled_shutdown_request(request, out)
            }
            Message::ControlledShutdownResponse(response) => {
                self.on_controlled_shutdown_response(response, out)
            }
            Message::StopReplica(request) => self.on_stop_replica(request, out),
            Message::Raft(message) => self.on_raft_message(now_ms, from, message, out),
            Message::BrokerRegistrationResponse(response) => {
                self.on_registration_response(now_ms, response, out)
            }
            Message::BrokerHeartbeatResponse(response) => {
                self.on_heartbeat_response(now_ms, response, out)
            }
            Message::AlterPartitionResponse(response) => {
                self.on_alter_partition_response(now_ms, response, out)
            }
            Message::CreateTopicsResponse(response) => self.on_create_topics_response(response),
            Message::AddPartitionsToTxnResponse(response) => {
                self.on_verification_response(now_ms, from, response, out)
            }
            Message::ListOffsets(request) => self.on_list_offsets(from, request, out),
            request @ (Message::FindCoordinator(_)
            | Message::JoinGroup(_)
            | Message::SyncGroup(_)
            | Message::Heartbeat(_)
            | Message::LeaveGroup(_)
            | Message::OffsetCommit(_)
            | Message::OffsetFetch(_)
            | Message::TxnOffsetCommit(_)) => self.on_group_request(now_ms, from, request, out),
            request @ (Message::AddPartitionsToTxn(_)
            | Message::AddOffsetsToTxn(_)
            | Message::EndTxn(_)
            | Message::WriteTxnMarkersResponse(_)) => {
                self.on_txn_request(now_ms, from, request, out)
            }
            // Messages a broker never receives.
            Message::ZkConnect(_)
            | Message::ZkPing(_)
            | Message::ZkRequest(_)
            | Message::ProduceResponse(_)
            | Message::MetadataResponse(_)
            | Message::ListOffsetsResponse(_)
            | Message::FindCoordinatorResponse(_)
            | Message::JoinGroupResponse(_)
            | Message::SyncGroupResponse(_)
            | Message::HeartbeatResponse(_)
            | Message::LeaveGroupResponse(_)
            | Message::OffsetCommitResponse(_)
            | Message::OffsetFetchResponse(_)
            | Message::ElectLeadersResponse(_)
            | Message::DeleteRecordsResponse(_)
            | Message::InitProducerIdResponse(_)
            | Message::TxnOffsetCommitResponse(_)
            | Message::AddOffsetsToTxnResponse(_)
            | Message::EndTxnResponse(_)
            | Message::BrokerRegistration(_)
            | Message::BrokerHeartbeat(_)
            | Message::AlterPartition(_)
            | Message::CreateTopics(_) => {}
        }
    }

    fn handle_timer(&mut self, now_ms: u64, timer: BrokerTimer, out: &mut Output<BrokerTimer>) {
        match timer {
            BrokerTimer::ZkConnectTimeout { attempt } => {
                if self.zk.session_id.is_none() && attempt == self.zk.connect_attempt {
                    self.zk_connect(out);
                }
            }
            BrokerTimer::ZkPing { session_id } => {
                if self.zk.session_id == Some(session_id) {
                    out.send(NodeId::ZooKeeper, Message::ZkPing(ZkPing { session_id }));
                    out.timer(
                        self.zk.ping_interval_ms(),
                        BrokerTimer::ZkPing { session_id },
                    );
                }
            }
            BrokerTimer::ZkRegisterRetry { session_id } => {
                if self.zk.session_id == Some(session_id) {
                    self.register(out);
                }
            }
            BrokerTimer::Controller(timer) => self.on_controller_timer(timer, out),
            BrokerTimer::Kraft(timer) => self.on_kraft_timer(now_ms, timer, out),
            BrokerTimer::IsrExpiration => {
                self.maybe_shrink_isrs(now_ms, out);
                if let Some(ms) = self.isr_expiration_period_ms() {
                    out.timer(ms, BrokerTimer::IsrExpiration);
                }
            }
            BrokerTimer::HwCheckpoint => {
                self.checkpoint_high_watermarks();
                if let Some(ms) = self.hw_checkpoint_period_ms() {
                    out.timer(ms, BrokerTimer::HwCheckpoint);
                }
            }
            BrokerTimer::FlushCheck => {
                let tps: Vec<TopicPartition> = self.disk.logs.keys().cloned().collect();
                for tp in tps {
                    self.maybe_flush(&tp, now_ms, out);
                }
                if let Some(ms) = self.flush_check_interval_ms() {
                    out.timer(ms, BrokerTimer::FlushCheck);
                }
            }
            BrokerTimer::FetchTimeout {
                leader,
                correlation_id,
            } => {
                if self
                    .take_fetch_slot(NodeId::Broker(leader), correlation_id)
                    .is_some()
                {
                    // `ReplicaFetcherBlockingSend.sendRequest` closes the connection of a
                    // request that failed: the next fetch goes on a new one.
                    out.close_connection(NodeId::Broker(leader));
                    self.fetch_failed(leader, out);
                }
            }
            BrokerTimer::FetchBackoff { leader } => {
                if let Some(f) = self.fetchers.get_mut(&leader) {
                    f.backing_off = false;
                }
                self.maybe_fetch(leader, out);
            }
            BrokerTimer::PartitionFetchBackoff { tp, leader_epoch } => {
                self.end_partition_delay(&tp, leader_epoch, out)
            }
            BrokerTimer::DelayedProduceExpire { id } => self.expire_delayed_produce(id, out),
            BrokerTimer::DelayedFetchExpire { id } => {
                if let Some(d) = self.delayed_fetches.remove(&id) {
                    self.answer_fetch(d, out);
                }
            }
            BrokerTimer::AlterIsrTimeout { tp, attempt } => {
                if let Some(PartitionState {
                    role: Role::Leader(l),
                    ..
                }) = self.partitions.get_mut(&tp)
                {
                    if l.alter_isr_attempt == attempt {
                        l.pending_isr = None;
                    }
                }
            }
            BrokerTimer::IsrChangePropagation => self.maybe_propagate_isr_changes(now_ms, out),
            BrokerTimer::LogRecoveryDone => self.connect_to_metadata(now_ms, out),
            BrokerTimer::Group(t) => self.on_group_timer(now_ms, t, out),
            BrokerTimer::Txn(t) => self.on_txn_timer(now_ms, t, out),
            BrokerTimer::ControlledShutdownTimeout { attempt } => {
                self.on_controlled_shutdown_timeout(attempt, out)
            }
            BrokerTimer::ControlledShutdownRetry { attempt } => {
                self.on_controlled_shutdown_retry(attempt, out)
            }
            BrokerTimer::LogRetention => self.on_log_retention_timer(now_ms, out),
            BrokerTimer::LogCleaner => self.on_log_cleaner_timer(now_ms, out),
            BrokerTimer::DelayedDeleteRecordsExpire { id } => {
                self.expire_delayed_delete_records(id, out)
            }
            BrokerTimer::TxnVerificationTimeout { correlation_id } => {
                self.fail_verification(now_ms, correlation_id, out)
            }
        }
    }
}
