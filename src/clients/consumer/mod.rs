//! A Kafka consumer, alone or in a consumer group.
//!
//! Alone, it is assigned every partition of its topics. It finds each partition's leader from
//! Metadata, sets its starting position with ListOffsets (`auto.offset.reset`), and fetches from
//! the leaders, one outstanding fetch per broker, handing the application every record the
//! leader returns. A leader returns records only below its high watermark, so a consumer never
//! sees a record that a leader change could still take back; the `uncommitted-read` invariant
//! checks exactly that.
//!
//! In a group (see [`GroupSettings`] and the member half of this file) it fetches only the
//! partitions the group assigned it, starts each at the group's committed offset, hands the
//! application at most `max.poll.records` per poll, lets it process them one by one, and
//! commits where the scenario says: before processing (at most once), after it (at least
//! once), or on the `auto.commit.interval.ms` clock.

use crate::actor::{Actor, Output};
use crate::assignor::{self, MemberSubscription, Strategy};
use crate::clients::metadata::{MetadataClient, MetadataOptions, MetadataTimer};
use crate::clients::CorrelationIds;
use crate::config::{AutoOffsetReset, ConsumerConfig};
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerTimer {
    Start,
    Poll,
    ValidationTimeout {
        tp: TopicPartition,
        correlation_id: u64,
    },
    MetadataTimeout {
        correlation_id: u64,
    },
    MetadataRefresh,
    /// `metadata.max.age.ms` after the answer of this generation.
    MetadataMaxAge {
        generation: u64,
    },
    FetchTimeout {
        broker: BrokerId,
        correlation_id: u64,
    },
    ListOffsetsTimeout {
        tp: TopicPartition,
        correlation_id: u64,
    },
    Backoff {
        broker: BrokerId,
    },
    // ---- group membership ----
    /// The heartbeat thread's tick.
    Heartbeat {
        generation: i32,
    },
    /// A group request got no answer: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
    /// OffsetCommit or OffsetFetch.
    GroupRequestTimeout {
        correlation_id: u64,
    },
    /// Look for the coordinator again after `retry.backoff.ms`.
    FindCoordinatorRetry,
    /// The application finished processing the record at the head of its batch.
    RecordDone {
        batch: u64,
    },
    /// The application calls `poll()` again.
    AppPoll,
    /// The application's `poll(timeout)` returns empty-handed, and it calls it again.
    PollTimeout,
}

impl MetadataTimer for ConsumerTimer {
    fn metadata_timeout(correlation_id: u64) -> Self {
        ConsumerTimer::MetadataTimeout { correlation_id }
    }

    fn metadata_retry() -> Self {
        ConsumerTimer::MetadataRefresh
    }

    fn metadata_max_age(generation: u64) -> Self {
        ConsumerTimer::MetadataMaxAge { generation }
    }
}

/// The timeout the application passes to `poll()`, as in `poll(Duration.ofMillis(100))`:
/// an application waiting for records calls `poll()` at least this often, and each call
/// drives the group (rejoin, auto-commit) even when no records come.
pub const APP_POLL_TIMEOUT_MS: u64 = 100;

/// When a group member commits, as a scenario's `commit` key says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitMode {
    /// `enable.auto.commit=true`: the positions of what earlier polls returned, every
    /// `auto.commit.interval.ms`, and before each rebalance.
    Auto,
    /// `commitSync()` after the application processed a poll's records: at least once.
    AfterProcessing,
    /// `commitSync()` as soon as a poll returns, before processing: at most once.
    BeforeProcessing,
}

impl CommitMode {
    pub fn name(self) -> &'static str {
        match self {
            CommitMode::Auto => "auto",
            CommitMode::AfterProcessing => "after-processing",
            CommitMode::BeforeProcessing => "before-processing",
        }
    }
}

/// What makes a consumer a group member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSettings {
    pub group_id: String,
    /// `client.id`: the coordinator builds the member id from it.
    pub client_id: String,
    pub commit: CommitMode,
    /// How long the application takes per record.
    pub processing_ms: u64,
}

pub struct Consumer {
    index: u32,
    #[allow(dead_code)]
    name: String,
    topics: Vec<String>,
    start_ms: u64,
    config: ConsumerConfig,
    started: bool,
    /// The partition leaders of `topics`, and the Metadata requests that learn them.
    metadata: MetadataClient,
    positions: BTreeMap<TopicPartition, u64>,
    list_offsets_in_flight: BTreeMap<TopicPartition, u64>,
    /// The position before an OFFSET_OUT_OF_RANGE reset, for the event.
    reset_from: BTreeMap<TopicPartition, u64>,
    fetch_in_flight: BTreeMap<BrokerId, u64>,
    backing_off: BTreeSet<BrokerId>,
    correlation_ids: CorrelationIds,
    /// KIP-320 (Kafka 2.3 clients, brokers from 2.1): validate the position after every
    /// leader change. Without it a consumer keeps fetching at its old position even when the
    /// new leader's log was truncated below it.
    validate_positions: bool,
    /// The time of the input being handled.
    now_ms: u64,
    /// The leader epoch of the last record handed to the application, per partition.
    last_epoch: BTreeMap<TopicPartition, LeaderEpoch>,
    /// Partitions whose position waits for validation, with the request in flight (if any).
    awaiting_validation: BTreeMap<TopicPartition, Option<u64>>,
    /// Group membership, for a consumer with a `group.id`.
    member: Option<Member>,
}

impl Consumer {
    pub fn new(
        index: u32,
        name: String,
        topics: Vec<String>,
        start_ms: u64,
        config: ConsumerConfig,
        bootstrap: Vec<BrokerId>,
    ) -> Consumer {
        assert!(!bootstrap.is_empty(), "a consumer needs bootstrap brokers");
        let metadata = MetadataClient::new(
            MetadataOptions {
                topics: topics.clone(),
                request_timeout_ms: config.request_timeout_ms,
                retry_backoff_ms: config.retry_backoff_ms,
                metadata_max_age_ms: config.metadata_max_age_ms,
                // Kafka's consumer also waits out `retry.backoff.ms` between refreshes; this
                // one asks at once, as it always has. Left for the client fidelity issue.
                refresh_backoff: false,
                leaderless_answer_restarts_max_age: false,
            },
            bootstrap,
        );
        Consumer {
            index,
            name,
            topics,
            start_ms,
            config,
            started: false,
            metadata,
            positions: BTreeMap::new(),
            list_offsets_in_flight: BTreeMap::new(),
            reset_from: BTreeMap::new(),
            fetch_in_flight: BTreeMap::new(),
            backing_off: BTreeSet::new(),
            correlation_ids: CorrelationIds::default(),
            validate_positions: true,
            now_ms: 0,
            last_epoch: BTreeMap::new(),
            awaiting_validation: BTreeMap::new(),
            member: None,
        }
    }

    /// Makes this consumer a member of a group.
    pub fn with_group(mut self, settings: GroupSettings) -> Consumer {
        self.member = Some(Member::new(settings));
        self
    }

    /// Turns KIP-320 position validation on or off (on by default).
    pub fn with_position_validation(mut self, on: bool) -> Consumer {
        self.validate_positions = on;
        self
    }

    pub fn positions(&self) -> BTreeMap<TopicPartition, u64> {
        self.positions.clone()
    }

    fn correlation(&mut self) -> u64 {
        self.correlation_ids.next()
    }

    fn request_metadata(&mut self, out: &mut Output<ConsumerTimer>) {
        self.metadata
            .request(self.now_ms, &mut self.correlation_ids, out);
    }

    fn on_metadata(
        &mut self,
        correlation_id: u64,
        partitions: Vec<PartitionMetadata>,
        out: &mut Output<ConsumerTimer>,
    ) {
        let Some(update) = self
            .metadata
            .on_response(self.now_ms, correlation_id, partitions, out)
        else {
            return;
        };
        for tp in update.leader_epoch_bumped {
            if self.validate_positions
                && self.positions.contains_key(&tp)
                && self.last_epoch.contains_key(&tp)
            {
                self.awaiting_validation.insert(tp, None);
            }
        }
        self.poll(out);
    }

    fn leader(&self, tp: &TopicPartition) -> Option<(BrokerId, LeaderEpoch)> {
        self.metadata.leader(tp)
    }

    /// Sends what can be sent: ListOffsets for partitions without a position, one Fetch per
    /// leader for the rest.
    fn poll(&mut self, out: &mut Output<ConsumerTimer>) {
        if !self.started {
            return;
        }
        let tps = self.fetchable_partitions();
        let mut by_leader: BTreeMap<BrokerId, Vec<FetchPartition>> = BTreeMap::new();
        for tp in tps {
            let Some((leader, epoch)) = self.leader(&tp) else {
                continue;
            };
            match self.positions.get(&tp) {
                None => {
                    if self.list_offsets_in_flight.contains_key(&tp)
                        || self.config.auto_offset_reset == AutoOffsetReset::None
                    {
                        continue;
                    }
                    let spec = if self.config.auto_offset_reset == AutoOffsetReset::Earliest {
                        OffsetSpec::Earliest
                    } else {
                        OffsetSpec::Latest
                    };
                    let correlation_id = self.correlation();
                    self.list_offsets_in_flight
                        .insert(tp.clone(), correlation_id);
                    out.send(
                        NodeId::Broker(leader),
                        Message::ListOffsets {
                            correlation_id,
                            tp: tp.clone(),
                            spec,
                            current_leader_epoch: Some(epoch),
                        },
                    );
                    out.timer(
                        self.config.request_timeout_ms,
                        ConsumerTimer::ListOffsetsTimeout { tp, correlation_id },
                    );
                }
                Some(_) if self.awaiting_validation.contains_key(&tp) => {
                    if self.awaiting_validation[&tp].is_none() {
                        let correlation_id = self.correlation();
                        self.awaiting_validation
                            .insert(tp.clone(), Some(correlation_id));
                        out.send(
                            NodeId::Broker(leader),
                            Message::OffsetsForLeaderEpoch {
                                correlation_id,
                                replica_id: None,
                                partitions: vec![OffsetForLeaderEpochPartition {
                                    tp: tp.clone(),
                                    current_leader_epoch: Some(epoch),
                                    leader_epoch: self.last_epoch[&tp],
                                }],
                            },
                        );
                        out.timer(
                            self.config.request_timeout_ms,
                            ConsumerTimer::ValidationTimeout { tp, correlation_id },
                        );
                    }
                }
                Some(&position) => {
                    by_leader.entry(leader).or_default().push(FetchPartition {
                        tp,
                        fetch_offset: position,
                        last_fetched_epoch: None,
                        current_leader_epoch: Some(epoch),
                    });
                }
            }
        }
        for (broker, partitions) in by_leader {
            if self.fetch_in_flight.contains_key(&broker) || self.backing_off.contains(&broker) {
                continue;
            }
            let correlation_id = self.correlation();
            self.fetch_in_flight.insert(broker, correlation_id);
            out.send(
                NodeId::Broker(broker),
                Message::Fetch(FetchRequest {
                    correlation_id,
                    replica_id: None,
                    max_wait_ms: self.config.fetch_max_wait_ms,
                    session: crate::fetch_session::FetchMetadata::SESSIONLESS,
                    partitions,
                    forgotten: Vec::new(),
                }),
            );
            out.timer(
                self.config.request_timeout_ms,
                ConsumerTimer::FetchTimeout {
                    broker,
                    correlation_id,
                },
            );
        }
    }

    fn back_off(&mut self, broker: BrokerId, out: &mut Output<ConsumerTimer>) {
        if self.backing_off.insert(broker) {
            out.timer(
                self.config.retry_backoff_ms,
                ConsumerTimer::Backoff { broker },
            );
        }
        self.request_metadata(out);
    }

    fn on_fetch_response(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        partitions: Vec<FetchPartitionResponse>,
        out: &mut Output<ConsumerTimer>,
    ) {
        let NodeId::Broker(broker) = from else {
            return;
        };
        if self.fetch_in_flight.get(&broker) != Some(&correlation_id) {
            return;
        }
        self.fetch_in_flight.remove(&broker);
        let mut trouble = false;
        for r in partitions {
            let Some(&position) = self.positions.get(&r.tp) else {
                continue;
            };
            match r.error {
                ErrorCode::None => {
                    let records: Vec<(u64, RecordId)> = r
                        .records
                        .iter()
                        .filter(|rec| rec.offset >= position)
                        .map(|rec| (rec.offset, rec.id))
                        .collect();
                    // A fetch sent from an offset the position has since moved back from (a
                    // reset to the committed offset after rejoining) answers with records
                    // past the position: Kafka's Fetcher discards such a stale fetch ("does
                    // not match the expected offset"); so does this one.
                    if records
                        .first()
                        .is_some_and(|(offset, _)| *offset != position)
                    {
                        continue;
                    }
                    if let Some(&(last, _)) = records.last() {
                        if let Some(rec) = r.records.last() {
                            self.last_epoch.insert(r.tp.clone(), rec.leader_epoch);
                        }
                        self.positions.insert(r.tp.clone(), last + 1);
                        if let Some(m) = self.member.as_mut() {
                            if m.assigned.contains(&r.tp) {
                                m.buffered
                                    .entry(r.tp.clone())
                                    .or_default()
                                    .extend(records.iter().copied());
                            }
                        }
                        out.event(Event::Consumed {
                            consumer: self.index,
                            tp: r.tp,
                            served_by: broker,
                            high_watermark: r.high_watermark,
                            records,
                        });
                    }
                }
                ErrorCode::OffsetOutOfRange => {
                    self.positions.remove(&r.tp);
                    if let Some(m) = self.member.as_mut() {
                        m.forget_position(&r.tp);
                    }
                    self.reset_from.insert(r.tp, position);
                }
                _ => trouble = true,
            }
        }
        if trouble {
            self.back_off(broker, out);
        }
        self.poll(out);
        self.wake_application(out);
    }

    /// The connection to `broker` closed: every request in flight to it is answered as if it
    /// had timed out, at once.
    fn on_disconnected(&mut self, broker: BrokerId, out: &mut Output<ConsumerTimer>) {
        let now_ms = self.now_ms;
        // Ask the next bootstrap broker, after `retry.backoff.ms`.
        self.metadata.on_disconnected(broker, out);
        if let Some(&correlation_id) = self.fetch_in_flight.get(&broker) {
            let timeout = ConsumerTimer::FetchTimeout {
                broker,
                correlation_id,
            };
            self.on_timer(now_ms, timeout, out);
        }
        let led_by_it =
            |c: &Consumer, tp: &TopicPartition| c.leader(tp).is_some_and(|(l, _)| l == broker);
        let listing: Vec<(TopicPartition, u64)> = self
            .list_offsets_in_flight
            .iter()
            .filter(|(tp, _)| led_by_it(self, tp))
            .map(|(tp, c)| (tp.clone(), *c))
            .collect();
        for (tp, correlation_id) in listing {
            self.on_timer(
                now_ms,
                ConsumerTimer::ListOffsetsTimeout { tp, correlation_id },
                out,
            );
        }
        let validating: Vec<(TopicPartition, u64)> = self
            .awaiting_validation
            .iter()
            .filter_map(|(tp, c)| c.map(|c| (tp.clone(), c)))
            .filter(|(tp, _)| led_by_it(self, tp))
            .collect();
        for (tp, correlation_id) in validating {
            self.on_timer(
                now_ms,
                ConsumerTimer::ValidationTimeout { tp, correlation_id },
                out,
            );
        }
        let group: Vec<u64> = self.member.as_ref().map_or_else(Vec::new, |m| {
            m.in_flight
                .iter()
                .filter(|(_, (to, _))| *to == broker)
                .map(|(c, _)| *c)
                .collect()
        });
        for correlation_id in group {
            let m = self.member.as_mut().expect("a group member");
            if m.in_flight.get(&correlation_id).map(|(_, r)| r)
                == Some(&GroupRequest::FindCoordinator)
            {
                m.in_flight.remove(&correlation_id);
                self.metadata.rotate_bootstrap();
                m.find_retry_pending = true;
                out.timer(
                    self.config.retry_backoff_ms,
                    ConsumerTimer::FindCoordinatorRetry,
                );
            } else {
                self.on_group_request_timeout(correlation_id, out);
            }
        }
    }

    fn on_validation_response(
        &mut self,
        correlation_id: u64,
        answers: Vec<EpochEndOffset>,
        out: &mut Output<ConsumerTimer>,
    ) {
        for a in answers {
            if self.awaiting_validation.get(&a.tp) != Some(&Some(correlation_id)) {
                continue;
            }
            if a.error != ErrorCode::None || a.leader_epoch < 0 {
                // Ask again once metadata is fresh.
                self.awaiting_validation.insert(a.tp.clone(), None);
                self.request_metadata(out);
                continue;
            }
            self.awaiting_validation.remove(&a.tp);
            let Some(&position) = self.positions.get(&a.tp) else {
                continue;
            };
            if a.end_offset < position {
                out.event(Event::ConsumerTruncationDetected {
                    consumer: self.index,
                    tp: a.tp.clone(),
                    position,
                    leader_end_offset: a.end_offset,
                    epoch: a.leader_epoch,
                });
                // With a reset policy, continue from the first divergent offset.
                self.positions.insert(a.tp.clone(), a.end_offset);
                if let Some(m) = self.member.as_mut() {
                    m.set_position(&a.tp, a.end_offset);
                }
                self.last_epoch.insert(a.tp.clone(), a.leader_epoch);
                out.event(Event::OffsetReset {
                    consumer: self.index,
                    tp: a.tp,
                    from: Some(position),
                    to: a.end_offset,
                });
            }
        }
        self.poll(out);
    }

    fn on_list_offsets_response(
        &mut self,
        correlation_id: u64,
        tp: TopicPartition,
        error: ErrorCode,
        offset: u64,
        out: &mut Output<ConsumerTimer>,
    ) {
        if self.list_offsets_in_flight.get(&tp) != Some(&correlation_id) {
            return;
        }
        self.list_offsets_in_flight.remove(&tp);
        if error != ErrorCode::None {
            self.request_metadata(out);
            out.timer(self.config.retry_backoff_ms, ConsumerTimer::Poll);
            return;
        }
        self.positions.insert(tp.clone(), offset);
        if let Some(m) = self.member.as_mut() {
            m.set_position(&tp, offset);
        }
        out.event(Event::OffsetReset {
            consumer: self.index,
            from: self.reset_from.remove(&tp),
            tp,
            to: offset,
        });
        self.poll(out);
    }
}

impl Actor for Consumer {
    type Timer = ConsumerTimer;

    fn start(&mut self, now_ms: u64, out: &mut Output<ConsumerTimer>) {
        self.now_ms = now_ms;
        let at = self.start_ms.max(now_ms);
        out.timer(at - now_ms, ConsumerTimer::Start);
    }

    fn on_message(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<ConsumerTimer>,
    ) {
        self.now_ms = now_ms;
        match message {
            Message::MetadataResponse {
                correlation_id,
                partitions,
                ..
            } => self.on_metadata(correlation_id, partitions, out),
            Message::FetchResponse {
                correlation_id,
                partitions,
                ..
            } => self.on_fetch_response(from, correlation_id, partitions, out),
            Message::ListOffsetsResponse {
                correlation_id,
                tp,
                error,
                offset,
                ..
            } => self.on_list_offsets_response(correlation_id, tp, error, offset, out),
            Message::OffsetsForLeaderEpochResponse {
                correlation_id,
                partitions,
            } => self.on_validation_response(correlation_id, partitions, out),
            Message::Disconnected {
                peer: NodeId::Broker(broker),
            } => self.on_disconnected(broker, out),
            other => self.on_group_response(from, other, out),
        }
    }

    fn on_timer(&mut self, now_ms: u64, timer: ConsumerTimer, out: &mut Output<ConsumerTimer>) {
        self.now_ms = now_ms;
        match timer {
            ConsumerTimer::Start => {
                self.started = true;
                self.request_metadata(out);
                if let Some(m) = self.member.as_mut() {
                    m.last_poll_ms = now_ms;
                    m.next_auto_commit_ms = now_ms + self.config.auto_commit_interval_ms;
                }
                self.application_poll(out);
            }
            ConsumerTimer::Poll => self.poll(out),
            ConsumerTimer::MetadataTimeout { correlation_id } => {
                self.metadata
                    .on_timeout(now_ms, correlation_id, &mut self.correlation_ids, out)
            }
            ConsumerTimer::MetadataRefresh => {
                self.metadata
                    .on_retry(now_ms, &mut self.correlation_ids, out)
            }
            ConsumerTimer::MetadataMaxAge { generation } => {
                self.metadata
                    .on_max_age(now_ms, generation, &mut self.correlation_ids, out)
            }
            ConsumerTimer::FetchTimeout {
                broker,
                correlation_id,
            } => {
                if self.fetch_in_flight.get(&broker) == Some(&correlation_id) {
                    self.fetch_in_flight.remove(&broker);
                    self.back_off(broker, out);
                }
            }
            ConsumerTimer::ListOffsetsTimeout { tp, correlation_id } => {
                if self.list_offsets_in_flight.get(&tp) == Some(&correlation_id) {
                    self.list_offsets_in_flight.remove(&tp);
                    self.request_metadata(out);
                    self.poll(out);
                }
            }
            ConsumerTimer::ValidationTimeout { tp, correlation_id } => {
                if self.awaiting_validation.get(&tp) == Some(&Some(correlation_id)) {
                    self.awaiting_validation.insert(tp, None);
                    self.request_metadata(out);
                    self.poll(out);
                }
            }
            ConsumerTimer::Backoff { broker } => {
                self.backing_off.remove(&broker);
                self.poll(out);
            }
            ConsumerTimer::Heartbeat { generation } => self.on_heartbeat_tick(generation, out),
            ConsumerTimer::GroupRequestTimeout { correlation_id } => {
                self.on_group_request_timeout(correlation_id, out)
            }
            ConsumerTimer::FindCoordinatorRetry => {
                if let Some(m) = self.member.as_mut() {
                    m.find_retry_pending = false;
                }
                self.ensure_coordinator(out);
                self.application_poll(out);
            }
            ConsumerTimer::RecordDone { batch } => self.on_record_done(batch, out),
            ConsumerTimer::AppPoll => self.application_poll(out),
            ConsumerTimer::PollTimeout => {
                if let Some(m) = self.member.as_mut() {
                    m.poll_timeout_armed = false;
                }
                self.application_poll(out);
            }
        }
    }
}

// ---- the group member ----

/// Where a member stands in the group protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MemberState {
    /// Not in a generation: must (re)join.
    Unjoined,
    /// A JoinGroup is out.
    Joining,
    /// A SyncGroup is out.
    Syncing,
    /// Holds an assignment for `generation`.
    Stable,
}

/// What the application thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AppState {
    /// Inside `poll()`: waiting for records or for the group.
    Polling,
    /// Processing the records one `poll()` returned.
    Processing,
    /// Blocked in `commitSync()`.
    Committing(CommitPurpose),
}

/// Why a synchronous commit is out, which says what happens when it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CommitPurpose {
    /// At most once: the batch is processed once the commit returns.
    BeforeProcessing,
    /// At least once: the next poll follows the commit.
    AfterProcessing,
    /// Auto-commit before the member joins again (`onJoinPrepare`).
    BeforeRejoin,
}

/// What a group request in flight was.
#[derive(Clone, Debug, PartialEq, Eq)]
enum GroupRequest {
    FindCoordinator,
    JoinGroup,
    SyncGroup,
    Heartbeat,
    OffsetFetch(Vec<TopicPartition>),
    /// `Some(purpose)` for a synchronous commit, `None` for an asynchronous auto-commit.
    OffsetCommit(Option<CommitPurpose>, Vec<(TopicPartition, u64)>),
    LeaveGroup,
}

#[derive(Clone, Debug)]
struct Member {
    settings: GroupSettings,
    coordinator: Option<BrokerId>,
    member_id: String,
    generation: i32,
    protocol: Option<Strategy>,
    state: MemberState,
    rejoin_needed: bool,
    assigned: BTreeSet<TopicPartition>,
    /// Fetched records not yet returned by `poll()`: (offset, record).
    buffered: BTreeMap<TopicPartition, VecDeque<(u64, RecordId)>>,
    /// The application's position: the offset after the last record `poll()` returned.
    consumed: BTreeMap<TopicPartition, u64>,
    /// Newly assigned partitions whose start waits for the committed offset.
    awaiting_committed: BTreeSet<TopicPartition>,
    /// Group requests in flight: where each went and what it was.
    in_flight: BTreeMap<u64, (BrokerId, GroupRequest)>,
    find_retry_pending: bool,
    app: AppState,
    /// The records of the current poll still to process.
    batch: VecDeque<(TopicPartition, u64, RecordId)>,
    batch_number: u64,
    /// The generation the current batch was polled in (a member thrown out of the group
    /// still finishes the batch it holds, as a Kafka application does).
    batch_generation: i32,
    batch_member: String,
    /// A `PollTimeout` is pending.
    poll_timeout_armed: bool,
    last_poll_ms: u64,
    next_auto_commit_ms: u64,
    last_heartbeat_ok_ms: u64,
}

impl Member {
    fn new(settings: GroupSettings) -> Member {
        Member {
            settings,
            coordinator: None,
            member_id: String::new(),
            generation: -1,
            protocol: None,
            state: MemberState::Unjoined,
            rejoin_needed: true,
            assigned: BTreeSet::new(),
            buffered: BTreeMap::new(),
            consumed: BTreeMap::new(),
            awaiting_committed: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            find_retry_pending: false,
            app: AppState::Polling,
            batch: VecDeque::new(),
            batch_number: 0,
            batch_generation: -1,
            batch_member: String::new(),
            poll_timeout_armed: false,
            last_poll_ms: 0,
            next_auto_commit_ms: 0,
            last_heartbeat_ok_ms: 0,
        }
    }

    fn forget_position(&mut self, tp: &TopicPartition) {
        self.consumed.remove(tp);
        self.buffered.remove(tp);
    }

    fn set_position(&mut self, tp: &TopicPartition, offset: u64) {
        self.consumed.insert(tp.clone(), offset);
        self.buffered.remove(tp);
    }

    fn has_in_flight(&self, matches: impl Fn(&GroupRequest) -> bool) -> bool {
        self.in_flight.values().any(|(_, r)| matches(r))
    }

    /// The positions to commit: every assigned partition with a known position.
    fn commit_offsets(&self) -> Vec<(TopicPartition, u64)> {
        self.assigned
            .iter()
            .filter_map(|tp| self.consumed.get(tp).map(|o| (tp.clone(), *o)))
            .collect()
    }
}

impl Consumer {
    fn fetchable_partitions(&self) -> Vec<TopicPartition> {
        match &self.member {
            None => self.metadata.known_partitions().cloned().collect(),
            Some(m) if m.state != MemberState::Stable => Vec::new(),
            Some(m) => m
                .assigned
                .iter()
                .filter(|tp| !m.awaiting_committed.contains(*tp))
                .filter(|tp| m.buffered.get(*tp).is_none_or(|b| b.is_empty()))
                .cloned()
                .collect(),
        }
    }

    fn group_request(
        &mut self,
        request: GroupRequest,
        message: impl FnOnce(u64) -> Message,
        out: &mut Output<ConsumerTimer>,
    ) -> bool {
        let timeout_ms = match request {
            // Kafka waits for a join round up to the rebalance timeout plus 5 s.
            GroupRequest::JoinGroup => self
                .config
                .request_timeout_ms
                .max(self.config.max_poll_interval_ms + 5_000),
            _ => self.config.request_timeout_ms,
        };
        let to = match request {
            GroupRequest::FindCoordinator => self.metadata.bootstrap_broker(),
            _ => match self.member.as_ref().and_then(|m| m.coordinator) {
                Some(c) => c,
                None => return false,
            },
        };
        let correlation_id = self.correlation();
        let m = self.member.as_mut().expect("a group member");
        m.in_flight.insert(correlation_id, (to, request));
        out.send(NodeId::Broker(to), message(correlation_id));
        out.timer(
            timeout_ms,
            ConsumerTimer::GroupRequestTimeout { correlation_id },
        );
        true
    }

    /// Sends FindCoordinator unless the coordinator is known or being looked up.
    fn ensure_coordinator(&mut self, out: &mut Output<ConsumerTimer>) {
        let Some(m) = self.member.as_ref() else {
            return;
        };
        if m.coordinator.is_some()
            || m.find_retry_pending
            || m.has_in_flight(|r| *r == GroupRequest::FindCoordinator)
        {
            return;
        }
        let group_id = m.settings.group_id.clone();
        self.group_request(
            GroupRequest::FindCoordinator,
            |correlation_id| Message::FindCoordinator {
                correlation_id,
                group_id,
            },
            out,
        );
    }

    /// The coordinator stopped answering or moved: forget it and look again. Requests to it
    /// that are still out will be ignored when they answer.
    fn coordinator_unknown(&mut self, out: &mut Output<ConsumerTimer>) {
        let Some(m) = self.member.as_mut() else {
            return;
        };
        m.coordinator = None;
        m.in_flight
            .retain(|_, (_, r)| *r == GroupRequest::FindCoordinator);
        if m.state == MemberState::Joining || m.state == MemberState::Syncing {
            m.state = MemberState::Unjoined;
            m.rejoin_needed = true;
        }
        if !m.find_retry_pending {
            m.find_retry_pending = true;
            out.timer(
                self.config.retry_backoff_ms,
                ConsumerTimer::FindCoordinatorRetry,
            );
        }
        // A synchronous commit that was out is sent again once the coordinator is back.
        if let AppState::Committing(_) = m.app {
            out.timer(self.config.retry_backoff_ms, ConsumerTimer::AppPoll);
        }
    }

    /// The member is out of the group (its generation is gone): it loses its partitions
    /// without committing (`onPartitionsLost`), and joins again.
    fn lose_membership(&mut self, reset_member_id: bool, out: &mut Output<ConsumerTimer>) {
        let index = self.index;
        let m = self.member.as_mut().expect("a group member");
        let lost: Vec<TopicPartition> = m.assigned.iter().cloned().collect();
        if !lost.is_empty() {
            out.event(Event::PartitionsRevoked {
                consumer: index,
                group: m.settings.group_id.clone(),
                member: m.member_id.clone(),
                partitions: lost.clone(),
                lost: true,
            });
        }
        for tp in &lost {
            self.positions.remove(tp);
        }
        let m = self.member.as_mut().expect("a group member");
        m.assigned.clear();
        m.buffered.clear();
        m.consumed.clear();
        m.awaiting_committed.clear();
        m.generation = -1;
        if reset_member_id {
            m.member_id.clear();
        }
        m.state = MemberState::Unjoined;
        m.rejoin_needed = true;
    }

    /// Gives up partitions: drops their positions and buffered records.
    fn revoke(&mut self, partitions: &[TopicPartition], out: &mut Output<ConsumerTimer>) {
        if partitions.is_empty() {
            return;
        }
        let index = self.index;
        let m = self.member.as_mut().expect("a group member");
        out.event(Event::PartitionsRevoked {
            consumer: index,
            group: m.settings.group_id.clone(),
            member: m.member_id.clone(),
            partitions: partitions.to_vec(),
            lost: false,
        });
        for tp in partitions {
            m.assigned.remove(tp);
            m.buffered.remove(tp);
            m.consumed.remove(tp);
            m.awaiting_committed.remove(tp);
            self.positions.remove(tp);
        }
    }

    // ---- the application thread ----

    /// The application calls `poll()`: the group comes first (coordinator, rejoin), then
    /// auto-commit, then records.
    fn application_poll(&mut self, out: &mut Output<ConsumerTimer>) {
        let now_ms = self.now_ms;
        let auto_commit_interval_ms = self.config.auto_commit_interval_ms;
        let max_poll_records = self.config.max_poll_records as usize;
        let Some(m) = self.member.as_mut() else {
            return;
        };
        if !self.started {
            return;
        }
        match m.app {
            AppState::Processing => return,
            AppState::Committing(purpose) => {
                // Retry a synchronous commit whose coordinator went away.
                if m.coordinator.is_some()
                    && !m.has_in_flight(|r| matches!(r, GroupRequest::OffsetCommit(Some(_), _)))
                {
                    self.commit(Some(purpose), out);
                } else {
                    self.ensure_coordinator(out);
                }
                return;
            }
            AppState::Polling => {}
        }
        m.last_poll_ms = now_ms;
        if !m.poll_timeout_armed {
            m.poll_timeout_armed = true;
            out.timer(APP_POLL_TIMEOUT_MS, ConsumerTimer::PollTimeout);
        }
        if m.coordinator.is_none() {
            self.ensure_coordinator(out);
            return;
        }
        if m.rejoin_needed && m.state != MemberState::Joining && m.state != MemberState::Syncing {
            self.prepare_join(out);
            return;
        }
        if m.state != MemberState::Stable {
            return;
        }
        if !m.awaiting_committed.is_empty()
            && !m.has_in_flight(|r| matches!(r, GroupRequest::OffsetFetch(_)))
        {
            self.fetch_committed(out);
        }
        let m = self.member.as_mut().expect("a group member");
        if m.settings.commit == CommitMode::Auto && now_ms >= m.next_auto_commit_ms {
            m.next_auto_commit_ms = now_ms + auto_commit_interval_ms;
            self.commit(None, out);
        }
        let m = self.member.as_mut().expect("a group member");
        let mut batch = VecDeque::new();
        for tp in m.assigned.iter() {
            let Some(buffer) = m.buffered.get_mut(tp) else {
                continue;
            };
            while batch.len() < max_poll_records {
                let Some((offset, record)) = buffer.pop_front() else {
                    break;
                };
                m.consumed.insert(tp.clone(), offset + 1);
                batch.push_back((tp.clone(), offset, record));
            }
        }
        if batch.is_empty() {
            // Nothing buffered: `poll()` waits for fetches (the fetch responses wake it).
            self.poll(out);
            return;
        }
        m.batch = batch;
        m.batch_number += 1;
        m.batch_generation = m.generation;
        m.batch_member = m.member_id.clone();
        if m.settings.commit == CommitMode::BeforeProcessing {
            m.app = AppState::Committing(CommitPurpose::BeforeProcessing);
            self.commit(Some(CommitPurpose::BeforeProcessing), out);
        } else {
            self.start_processing(out);
        }
        self.poll(out);
    }

    /// Wakes an application waiting in `poll()` (records arrived, the group moved on).
    fn wake_application(&mut self, out: &mut Output<ConsumerTimer>) {
        if self
            .member
            .as_ref()
            .is_some_and(|m| m.app == AppState::Polling)
        {
            self.application_poll(out);
        }
    }

    fn start_processing(&mut self, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_mut().expect("a group member");
        assert!(!m.batch.is_empty(), "processing needs records");
        m.app = AppState::Processing;
        let batch = m.batch_number;
        if m.settings.processing_ms == 0 {
            while self
                .member
                .as_ref()
                .is_some_and(|m| m.app == AppState::Processing)
            {
                self.on_record_done(batch, out);
            }
        } else {
            out.timer(
                m.settings.processing_ms,
                ConsumerTimer::RecordDone { batch },
            );
        }
    }

    fn on_record_done(&mut self, batch: u64, out: &mut Output<ConsumerTimer>) {
        let index = self.index;
        let Some(m) = self.member.as_mut() else {
            return;
        };
        if m.app != AppState::Processing || m.batch_number != batch {
            return;
        }
        let (tp, offset, record) = m.batch.pop_front().expect("a record in process");
        out.event(Event::RecordProcessed {
            consumer: index,
            group: m.settings.group_id.clone(),
            member: m.batch_member.clone(),
            generation: m.batch_generation,
            tp,
            offset,
            record,
        });
        if !m.batch.is_empty() {
            if m.settings.processing_ms > 0 {
                out.timer(
                    m.settings.processing_ms,
                    ConsumerTimer::RecordDone { batch },
                );
            }
            return;
        }
        if m.settings.commit == CommitMode::AfterProcessing {
            m.app = AppState::Committing(CommitPurpose::AfterProcessing);
            self.commit(Some(CommitPurpose::AfterProcessing), out);
        } else {
            m.app = AppState::Polling;
            self.application_poll(out);
        }
    }

    /// Sends OffsetCommit with the application's positions. `purpose` is `None` for an
    /// asynchronous auto-commit.
    fn commit(&mut self, purpose: Option<CommitPurpose>, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_ref().expect("a group member");
        let offsets = m.commit_offsets();
        if offsets.is_empty() || m.coordinator.is_none() {
            if let Some(purpose) = purpose {
                if m.coordinator.is_none() {
                    self.ensure_coordinator(out);
                } else {
                    self.on_sync_commit_done(purpose, out);
                }
            }
            return;
        }
        let group_id = m.settings.group_id.clone();
        let generation_id = m.generation;
        let member_id = m.member_id.clone();
        let sent = offsets.clone();
        self.group_request(
            GroupRequest::OffsetCommit(purpose, sent),
            |correlation_id| Message::OffsetCommit {
                correlation_id,
                group_id,
                generation_id,
                member_id,
                offsets,
            },
            out,
        );
    }

    fn on_sync_commit_done(&mut self, purpose: CommitPurpose, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_mut().expect("a group member");
        match purpose {
            CommitPurpose::BeforeProcessing => {
                if m.batch.is_empty() {
                    m.app = AppState::Polling;
                    self.application_poll(out);
                } else {
                    self.start_processing(out);
                }
            }
            CommitPurpose::AfterProcessing => {
                m.app = AppState::Polling;
                self.application_poll(out);
            }
            CommitPurpose::BeforeRejoin => {
                m.app = AppState::Polling;
                self.send_join(out);
            }
        }
    }

    // ---- joining ----

    /// Kafka's `onJoinPrepare`: auto-commit, then (eager protocols) revoke everything.
    fn prepare_join(&mut self, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_mut().expect("a group member");
        m.rejoin_needed = false;
        if m.settings.commit == CommitMode::Auto
            && m.generation >= 0
            && !m.commit_offsets().is_empty()
        {
            m.app = AppState::Committing(CommitPurpose::BeforeRejoin);
            self.commit(Some(CommitPurpose::BeforeRejoin), out);
            return;
        }
        self.send_join(out);
    }

    fn send_join(&mut self, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_mut().expect("a group member");
        let cooperative = m.protocol.is_some_and(|p| p.is_cooperative());
        if !cooperative {
            let all: Vec<TopicPartition> = m.assigned.iter().cloned().collect();
            self.revoke(&all, out);
        }
        let m = self.member.as_mut().expect("a group member");
        m.state = MemberState::Joining;
        let subscription = Subscription {
            topics: self.topics.clone(),
            owned_partitions: m.assigned.iter().cloned().collect(),
            generation: m.generation,
        };
        let group_id = m.settings.group_id.clone();
        let member_id = m.member_id.clone();
        let client_id = m.settings.client_id.clone();
        let group_instance_id = self.config.group_instance_id.clone();
        let session_timeout_ms = self.config.session_timeout_ms;
        let rebalance_timeout_ms = self.config.max_poll_interval_ms;
        let protocols = self.config.partition_assignment_strategy.clone();
        let sent = self.group_request(
            GroupRequest::JoinGroup,
            |correlation_id| Message::JoinGroup {
                correlation_id,
                group_id,
                member_id,
                client_id,
                group_instance_id,
                session_timeout_ms,
                rebalance_timeout_ms,
                protocols,
                subscription,
            },
            out,
        );
        if !sent {
            let m = self.member.as_mut().expect("a group member");
            m.state = MemberState::Unjoined;
            m.rejoin_needed = true;
            self.ensure_coordinator(out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_join_response(
        &mut self,
        error: ErrorCode,
        generation_id: i32,
        protocol: Option<Strategy>,
        leader: String,
        member_id: String,
        members: Vec<GroupMemberSubscription>,
        out: &mut Output<ConsumerTimer>,
    ) {
        if error != ErrorCode::None {
            if error == ErrorCode::UnknownMemberId {
                self.member
                    .as_mut()
                    .expect("a group member")
                    .member_id
                    .clear();
            }
            // COORDINATOR_LOAD_IN_PROGRESS, REBALANCE_IN_PROGRESS, ...: join again.
            self.join_again(error, out);
            return;
        }
        let m = self.member.as_mut().expect("a group member");
        m.member_id = member_id.clone();
        m.generation = generation_id;
        m.protocol = protocol;
        m.state = MemberState::Syncing;
        let assignments = if leader == member_id {
            self.compute_assignment(protocol, &members)
        } else {
            Vec::new()
        };
        let m = self.member.as_ref().expect("a group member");
        let group_id = m.settings.group_id.clone();
        self.group_request(
            GroupRequest::SyncGroup,
            |correlation_id| Message::SyncGroup {
                correlation_id,
                group_id,
                generation_id,
                member_id,
                assignments,
            },
            out,
        );
    }

    /// A JoinGroup or SyncGroup failed with `error`: join again, after finding the
    /// coordinator if it moved, or after `retry.backoff.ms`.
    fn join_again(&mut self, error: ErrorCode, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_mut().expect("a group member");
        m.state = MemberState::Unjoined;
        m.rejoin_needed = true;
        if error.means_coordinator_moved() {
            self.coordinator_unknown(out);
        } else {
            out.timer(self.config.retry_backoff_ms, ConsumerTimer::AppPoll);
        }
    }

    /// The group leader runs the assignor the group chose over every member's subscription,
    /// with the partition counts it knows from Metadata.
    fn compute_assignment(
        &self,
        protocol: Option<Strategy>,
        members: &[GroupMemberSubscription],
    ) -> Vec<(String, Vec<TopicPartition>)> {
        let strategy = protocol.unwrap_or(Strategy::Range);
        let mut partitions_per_topic: BTreeMap<String, u32> = BTreeMap::new();
        for tp in self.metadata.known_partitions() {
            let n = partitions_per_topic.entry(tp.topic.clone()).or_default();
            *n = (*n).max(tp.partition + 1);
        }
        let subscriptions: Vec<MemberSubscription> = members
            .iter()
            .map(|m| MemberSubscription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                topics: m.subscription.topics.clone(),
                owned_partitions: m.subscription.owned_partitions.clone(),
                generation: (m.subscription.generation >= 0).then_some(m.subscription.generation),
            })
            .collect();
        assignor::assign(strategy, &partitions_per_topic, &subscriptions)
            .into_iter()
            .collect()
    }

    fn on_sync_response(
        &mut self,
        error: ErrorCode,
        assignment: Vec<TopicPartition>,
        out: &mut Output<ConsumerTimer>,
    ) {
        let index = self.index;
        let now_ms = self.now_ms;
        let heartbeat_ms = self.config.heartbeat_interval_ms;
        match error {
            ErrorCode::None => {}
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                self.lose_membership(error == ErrorCode::UnknownMemberId, out);
                out.timer(self.config.retry_backoff_ms, ConsumerTimer::AppPoll);
                return;
            }
            _ => return self.join_again(error, out),
        }
        let m = self.member.as_mut().expect("a group member");
        let new: BTreeSet<TopicPartition> = assignment.iter().cloned().collect();
        let revoked: Vec<TopicPartition> = m.assigned.difference(&new).cloned().collect();
        let added: Vec<TopicPartition> = new.difference(&m.assigned).cloned().collect();
        m.state = MemberState::Stable;
        m.last_heartbeat_ok_ms = now_ms;
        let generation = m.generation;
        if !revoked.is_empty() {
            // Cooperative: give up what moves elsewhere, then join again so the new owners
            // get it in the next round.
            self.revoke(&revoked, out);
            let m = self.member.as_mut().expect("a group member");
            m.rejoin_needed = true;
        }
        let m = self.member.as_mut().expect("a group member");
        for tp in &added {
            m.assigned.insert(tp.clone());
            m.awaiting_committed.insert(tp.clone());
        }
        out.event(Event::PartitionsAssigned {
            consumer: index,
            group: m.settings.group_id.clone(),
            member: m.member_id.clone(),
            generation,
            partitions: m.assigned.iter().cloned().collect(),
        });
        out.timer(heartbeat_ms, ConsumerTimer::Heartbeat { generation });
        self.wake_application(out);
    }

    fn fetch_committed(&mut self, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_ref().expect("a group member");
        let partitions: Vec<TopicPartition> = m.awaiting_committed.iter().cloned().collect();
        let group_id = m.settings.group_id.clone();
        let asked = partitions.clone();
        self.group_request(
            GroupRequest::OffsetFetch(asked),
            |correlation_id| Message::OffsetFetch {
                correlation_id,
                group_id,
                partitions,
            },
            out,
        );
    }

    fn on_offset_fetch_response(
        &mut self,
        error: ErrorCode,
        offsets: Vec<(TopicPartition, Option<u64>)>,
        out: &mut Output<ConsumerTimer>,
    ) {
        let index = self.index;
        if error != ErrorCode::None {
            if error.means_coordinator_moved() {
                self.coordinator_unknown(out);
            } else {
                out.timer(self.config.retry_backoff_ms, ConsumerTimer::AppPoll);
            }
            return;
        }
        let m = self.member.as_mut().expect("a group member");
        for (tp, committed) in offsets {
            if !m.awaiting_committed.remove(&tp) || !m.assigned.contains(&tp) {
                continue;
            }
            match committed {
                Some(offset) => {
                    m.consumed.insert(tp.clone(), offset);
                    m.buffered.remove(&tp);
                    self.positions.insert(tp.clone(), offset);
                    out.event(Event::PositionFromCommit {
                        consumer: index,
                        group: m.settings.group_id.clone(),
                        tp,
                        offset,
                    });
                }
                // No commit yet: `auto.offset.reset` decides (ListOffsets, in `poll`).
                None => {
                    self.positions.remove(&tp);
                }
            }
        }
        self.poll(out);
        self.wake_application(out);
    }

    fn on_commit_response(
        &mut self,
        error: ErrorCode,
        purpose: Option<CommitPurpose>,
        out: &mut Output<ConsumerTimer>,
    ) {
        let index = self.index;
        let m = self.member.as_mut().expect("a group member");
        if error == ErrorCode::None {
            if let Some(purpose) = purpose {
                self.on_sync_commit_done(purpose, out);
            }
            return;
        }
        out.event(Event::CommitFailed {
            consumer: index,
            group: m.settings.group_id.clone(),
            error,
        });
        if error.means_coordinator_moved() || error == ErrorCode::CoordinatorLoadInProgress {
            // commitSync retries on retriable errors once the coordinator is found again.
            self.coordinator_unknown(out);
            return;
        }
        // The generation is gone (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION,
        // UNKNOWN_MEMBER_ID): Kafka's CommitFailedException. The records processed since the
        // last commit will be delivered again, to whoever owns the partition next.
        match error {
            ErrorCode::RebalanceInProgress => m.rejoin_needed = true,
            ErrorCode::UnknownMemberId => self.lose_membership(true, out),
            _ => self.lose_membership(false, out),
        }
        if let Some(purpose) = purpose {
            let m = self.member.as_mut().expect("a group member");
            if purpose == CommitPurpose::BeforeProcessing {
                // The batch was never processed: drop it (the positions are gone too).
                m.batch.clear();
            }
            self.on_sync_commit_done(purpose, out);
        }
    }

    // ---- the heartbeat thread ----

    fn on_heartbeat_tick(&mut self, generation: i32, out: &mut Output<ConsumerTimer>) {
        let now_ms = self.now_ms;
        let max_poll_interval_ms = self.config.max_poll_interval_ms;
        let session_timeout_ms = self.config.session_timeout_ms;
        let heartbeat_ms = self.config.heartbeat_interval_ms;
        let Some(m) = self.member.as_mut() else {
            return;
        };
        if m.state != MemberState::Stable || m.generation != generation {
            return;
        }
        out.timer(heartbeat_ms, ConsumerTimer::Heartbeat { generation });
        if m.app == AppState::Polling {
            m.last_poll_ms = now_ms;
        }
        if now_ms.saturating_sub(m.last_poll_ms) > max_poll_interval_ms {
            // The application spent longer than `max.poll.interval.ms` between polls: leave,
            // so the group can give the partitions to someone who polls.
            self.leave_group(out);
            return;
        }
        if m.coordinator.is_none() {
            self.ensure_coordinator(out);
            return;
        }
        if now_ms.saturating_sub(m.last_heartbeat_ok_ms) > session_timeout_ms {
            self.coordinator_unknown(out);
            return;
        }
        if m.has_in_flight(|r| *r == GroupRequest::Heartbeat) {
            return;
        }
        let group_id = m.settings.group_id.clone();
        let member_id = m.member_id.clone();
        self.group_request(
            GroupRequest::Heartbeat,
            |correlation_id| Message::Heartbeat {
                correlation_id,
                group_id,
                generation_id: generation,
                member_id,
            },
            out,
        );
    }

    fn on_heartbeat_response(&mut self, error: ErrorCode, out: &mut Output<ConsumerTimer>) {
        let now_ms = self.now_ms;
        let m = self.member.as_mut().expect("a group member");
        match error {
            ErrorCode::None => m.last_heartbeat_ok_ms = now_ms,
            ErrorCode::RebalanceInProgress => {
                m.last_heartbeat_ok_ms = now_ms;
                m.rejoin_needed = true;
                self.wake_application(out);
            }
            ErrorCode::IllegalGeneration => {
                self.lose_membership(false, out);
                self.wake_application(out);
            }
            ErrorCode::UnknownMemberId => {
                self.lose_membership(true, out);
                self.wake_application(out);
            }
            _ => self.coordinator_unknown(out),
        }
    }

    fn leave_group(&mut self, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_ref().expect("a group member");
        let group_id = m.settings.group_id.clone();
        let member_id = m.member_id.clone();
        if !member_id.is_empty() {
            self.group_request(
                GroupRequest::LeaveGroup,
                |correlation_id| Message::LeaveGroup {
                    correlation_id,
                    group_id,
                    member_id,
                },
                out,
            );
        }
        self.lose_membership(true, out);
    }

    fn on_group_request_timeout(&mut self, correlation_id: u64, out: &mut Output<ConsumerTimer>) {
        let Some(m) = self.member.as_mut() else {
            return;
        };
        let Some((_, request)) = m.in_flight.remove(&correlation_id) else {
            return;
        };
        match request {
            GroupRequest::FindCoordinator => {
                self.metadata.rotate_bootstrap();
                self.ensure_coordinator(out);
            }
            GroupRequest::LeaveGroup => {}
            GroupRequest::OffsetCommit(None, _) => {}
            _ => self.coordinator_unknown(out),
        }
    }

    fn on_group_response(
        &mut self,
        from: NodeId,
        message: Message,
        out: &mut Output<ConsumerTimer>,
    ) {
        let correlation_id = match &message {
            Message::FindCoordinatorResponse { correlation_id, .. }
            | Message::JoinGroupResponse { correlation_id, .. }
            | Message::SyncGroupResponse { correlation_id, .. }
            | Message::HeartbeatResponse { correlation_id, .. }
            | Message::LeaveGroupResponse { correlation_id, .. }
            | Message::OffsetCommitResponse { correlation_id, .. }
            | Message::OffsetFetchResponse { correlation_id, .. } => *correlation_id,
            _ => return,
        };
        let Some(m) = self.member.as_mut() else {
            return;
        };
        let Some((_, request)) = m.in_flight.remove(&correlation_id) else {
            return; // Timed out, or sent to a coordinator this member has forgotten.
        };
        if request != GroupRequest::FindCoordinator
            && Some(from) != m.coordinator.map(NodeId::Broker)
        {
            return;
        }
        match (request, message) {
            (
                GroupRequest::FindCoordinator,
                Message::FindCoordinatorResponse {
                    error, coordinator, ..
                },
            ) => match (error, coordinator) {
                (ErrorCode::None, Some(c)) => {
                    m.coordinator = Some(c);
                    m.last_heartbeat_ok_ms = self.now_ms;
                    self.application_poll(out);
                }
                _ => {
                    m.find_retry_pending = true;
                    out.timer(
                        self.config.retry_backoff_ms,
                        ConsumerTimer::FindCoordinatorRetry,
                    );
                }
            },
            (
                GroupRequest::JoinGroup,
                Message::JoinGroupResponse {
                    error,
                    generation_id,
                    protocol,
                    leader,
                    member_id,
                    members,
                    ..
                },
            ) => self.on_join_response(
                error,
                generation_id,
                protocol,
                leader,
                member_id,
                members,
                out,
            ),
            (
                GroupRequest::SyncGroup,
                Message::SyncGroupResponse {
                    error, assignment, ..
                },
            ) => self.on_sync_response(error, assignment, out),
            (GroupRequest::Heartbeat, Message::HeartbeatResponse { error, .. }) => {
                self.on_heartbeat_response(error, out)
            }
            (GroupRequest::OffsetFetch(_), Message::OffsetFetchResponse { error, offsets, .. }) => {
                self.on_offset_fetch_response(error, offsets, out)
            }
            (
                GroupRequest::OffsetCommit(purpose, _),
                Message::OffsetCommitResponse { error, .. },
            ) => self.on_commit_response(error, purpose, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("orders", 0)
    }

    fn record(offset: u64) -> Record {
        Record {
            offset,
            leader_epoch: 0,
            id: RecordId {
                producer: 0,
                seq: offset,
            },
            timestamp_ms: 0,
            key: None,
            value: String::new(),
            headers: vec![],
        }
    }

    fn started() -> Consumer {
        let config = ConsumerConfig {
            auto_offset_reset: AutoOffsetReset::Earliest,
            ..ConsumerConfig::default()
        };
        let mut c = Consumer::new(0, "c".into(), vec!["orders".into()], 0, config, vec![0]);
        let mut out = Output::default();
        c.start(0, &mut out);
        c.on_timer(0, ConsumerTimer::Start, &mut out);
        let mut out = Output::default();
        c.on_message(
            1,
            NodeId::Broker(0),
            Message::MetadataResponse {
                correlation_id: 1,
                brokers: vec![0, 1],
                controller_id: Some(0),
                partitions: vec![PartitionMetadata {
                    tp: tp(),
                    error: ErrorCode::None,
                    leader: Some(1),
                    leader_epoch: 3,
                    replicas: vec![0, 1],
                    isr: vec![0, 1],
                }],
            },
            &mut out,
        );
        let (to, corr) = match &out.messages[0] {
            (
                to,
                Message::ListOffsets {
                    correlation_id,
                    spec: OffsetSpec::Earliest,
                    ..
                },
            ) => (*to, *correlation_id),
            other => panic!("{other:?}"),
        };
        assert_eq!(to, NodeId::Broker(1), "ListOffsets goes to the leader");
        let mut out = Output::default();
        c.on_message(
            2,
            NodeId::Broker(1),
            Message::ListOffsetsResponse {
                correlation_id: corr,
                tp: tp(),
                error: ErrorCode::None,
                offset: 0,
                leader_epoch: Some(3),
            },
            &mut out,
        );
        assert!(matches!(
            out.events[0],
            Event::OffsetReset {
                to: 0,
                from: None,
                ..
            }
        ));
        c
    }

    #[test]
    fn fetches_from_the_leader_with_its_epoch_and_hands_over_records() {
        let mut c = started();
        let mut out = Output::default();
        c.poll(&mut out);
        assert!(out.messages.is_empty(), "one fetch per broker at a time");
        let corr = c.fetch_in_flight[&1];
        let mut out = Output::default();
        c.on_message(
            3,
            NodeId::Broker(1),
            Message::FetchResponse {
                correlation_id: corr,
                error: ErrorCode::None,
                session_id: 0,
                partitions: vec![FetchPartitionResponse {
                    tp: tp(),
                    error: ErrorCode::None,
                    high_watermark: 2,
                    log_start_offset: 0,
                    log_end_offset: 5,
                    leader_epoch: 3,
                    records: vec![record(0), record(1)],
                    diverging_epoch: None,
                }],
            },
            &mut out,
        );
        assert!(
            matches!(&out.events[0], Event::Consumed { records, high_watermark: 2, served_by: 1, .. } if records.len() == 2)
        );
        assert_eq!(c.positions()[&tp()], 2);
        match &out.messages[0].1 {
            Message::Fetch(request) => {
                assert_eq!(request.replica_id, None);
                assert_eq!(request.partitions[0].fetch_offset, 2);
                assert_eq!(request.partitions[0].current_leader_epoch, Some(3));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fenced_epoch_refreshes_metadata() {
        let mut c = started();
        let corr = c.fetch_in_flight[&1];
        let mut out = Output::default();
        c.on_message(
            3,
            NodeId::Broker(1),
            Message::FetchResponse {
                correlation_id: corr,
                error: ErrorCode::None,
                session_id: 0,
                partitions: vec![FetchPartitionResponse {
                    tp: tp(),
                    error: ErrorCode::FencedLeaderEpoch,
                    high_watermark: 0,
                    log_start_offset: 0,
                    log_end_offset: 0,
                    leader_epoch: 4,
                    records: vec![],
                    diverging_epoch: None,
                }],
            },
            &mut out,
        );
        assert!(out
            .messages
            .iter()
            .any(|(_, m)| matches!(m, Message::Metadata { .. })));
        assert!(c.backing_off.contains(&1));
    }

    /// A group member that has found coordinator 1 and sent its JoinGroup.
    fn joining() -> (Consumer, Output<ConsumerTimer>) {
        let config = ConsumerConfig {
            group_id: Some("g".into()),
            ..ConsumerConfig::default()
        };
        let mut c = Consumer::new(0, "c".into(), vec!["orders".into()], 0, config, vec![0])
            .with_group(GroupSettings {
                group_id: "g".into(),
                client_id: "c".into(),
                commit: CommitMode::AfterProcessing,
                processing_ms: 0,
            });
        let mut out = Output::default();
        c.start(0, &mut out);
        let mut out = Output::default();
        c.on_timer(0, ConsumerTimer::Start, &mut out);
        let find = out
            .messages
            .iter()
            .find_map(|(_, m)| match m {
                Message::FindCoordinator { correlation_id, .. } => Some(*correlation_id),
                _ => None,
            })
            .expect("FindCoordinator");
        let mut out = Output::default();
        c.on_message(
            1,
            NodeId::Broker(0),
            Message::FindCoordinatorResponse {
                correlation_id: find,
                error: ErrorCode::None,
                coordinator: Some(1),
            },
            &mut out,
        );
        assert!(
            out.messages.iter().any(|(to, m)| *to == NodeId::Broker(1)
                && matches!(m, Message::JoinGroup { member_id, .. } if member_id.is_empty())),
            "{:?}",
            out.messages
        );
        (c, out)
    }

    #[test]
    fn a_reset_from_the_coordinator_sends_the_member_looking_for_another() {
        let (mut c, _) = joining();
        let mut out = Output::default();
        c.on_message(
            2,
            NodeId::Broker(1),
            Message::Disconnected {
                peer: NodeId::Broker(1),
            },
            &mut out,
        );
        let m = c.member.as_ref().unwrap();
        assert_eq!(m.coordinator, None, "the coordinator is forgotten at once");
        assert_eq!(m.state, MemberState::Unjoined);
        assert!(out
            .timers
            .iter()
            .any(|(_, t)| *t == ConsumerTimer::FindCoordinatorRetry));
    }

    #[test]
    fn a_join_waits_up_to_the_rebalance_timeout_plus_five_seconds() {
        let (_, out) = joining();
        let waits: Vec<u64> = out
            .timers
            .iter()
            .filter(|(_, t)| matches!(t, ConsumerTimer::GroupRequestTimeout { .. }))
            .map(|(d, _)| *d)
            .collect();
        assert_eq!(waits, [300_000 + 5_000], "max.poll.interval.ms + 5 s");
    }
}
