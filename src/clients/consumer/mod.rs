//! A Kafka consumer, alone or in a consumer group.
//!
//! Alone, it is assigned every partition of its topics. It finds each partition's leader from
//! Metadata, sets its starting position with ListOffsets (`auto.offset.reset`), and fetches from
//! the leaders, one outstanding fetch per broker, handing the application every record the
//! leader returns. A leader returns records only below its high watermark, so a consumer never
//! sees a record that a leader change could still take back; the `uncommitted-read` invariant
//! checks exactly that.
//!
//! In a group (see [`GroupSettings`]) it fetches only the partitions the group assigned it,
//! starts each at the group's committed offset, hands the application at most
//! `max.poll.records` per poll, lets it process them one by one, and commits where the
//! scenario says: before processing (at most once), after it (at least once), or on the
//! `auto.commit.interval.ms` clock.
//!
//! One `Consumer` holds it all, as one `KafkaConsumer` does, but its code is split the way
//! Kafka splits it, so each rule sits next to the Java class it follows:
//!
//! - this file: the consumer's state, its inputs (messages and timers) and where each goes;
//! - `fetcher`: `Fetcher` and the fetch positions of `SubscriptionState`;
//! - `validation`: setting and checking positions, `ListOffsets` for `auto.offset.reset` and
//!   KIP-320's `OffsetsForLeaderEpoch` after a leader change;
//! - `coordinator`: the group member of `AbstractCoordinator` / `ConsumerCoordinator`
//!   (find the coordinator, join, sync, heartbeat, leave);
//! - `commit`: `ConsumerCoordinator`'s offsets (commit, fetch the committed ones);
//! - `application`: the application thread, `poll()` and the processing of its records.

use crate::actor::{Actor, Output};
use crate::clients::metadata::{MetadataClient, MetadataOptions, MetadataTimer};
use crate::clients::CorrelationIds;
use crate::config::ConsumerConfig;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

mod application;
mod commit;
mod coordinator;
mod fetcher;
mod validation;

use coordinator::{GroupRequest, Member, MemberState};

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
    /// The fetch offset of each partition in the fetch in flight to a broker: an answer for a
    /// partition whose position has moved since is stale (Kafka's `CompletedFetch` keeps the
    /// request's fetch offset as `nextFetchOffset` for that check).
    fetch_offsets: BTreeMap<BrokerId, BTreeMap<TopicPartition, u64>>,
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
                // A leaderless answer keeps the max-age refresh of the last complete one.
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
            fetch_offsets: BTreeMap::new(),
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

    /// Everything this consumer knows about reading `tp`: its position, the leader epoch of
    /// the last record handed over, a validation or a ListOffsets waiting for an answer.
    /// A partition revoked or lost forgets it all, so that one given back starts afresh from
    /// its committed offset, as Kafka's `SubscriptionState.assignFromSubscribed` gives a newly
    /// assigned partition a new `TopicPartitionState` (no position, no epoch): an epoch
    /// remembered from an earlier ownership would validate the committed offset against a
    /// log the partition has long left, see a truncation that never happened, and move the
    /// position (and the next commit) back.
    pub(super) fn forget_partition_state(&mut self, tp: &TopicPartition) {
        self.positions.remove(tp);
        self.last_epoch.remove(tp);
        self.awaiting_validation.remove(tp);
        self.list_offsets_in_flight.remove(tp);
        self.reset_from.remove(tp);
    }

    fn correlation(&mut self) -> u64 {
        self.correlation_ids.next_id()
    }

    fn request_metadata(&mut self, out: &mut Output<ConsumerTimer>) {
        self.metadata
            .request(self.now_ms, &mut self.correlation_ids, out);
    }

    fn on_metadata(&mut self, response: MetadataResponse, out: &mut Output<ConsumerTimer>) {
        let Some(update) = self.metadata.on_response(self.now_ms, response, out) else {
            return;
        };
        // A new leader: check the position before fetching on (KIP-320, Kafka's
        // `SubscriptionState.maybeValidatePositionForCurrentLeader`).
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
            Message::MetadataResponse(response) => self.on_metadata(response, out),
            Message::FetchResponse(response) => self.on_fetch_response(from, response, out),
            Message::ListOffsetsResponse(response) => self.on_list_offsets_response(response, out),
            Message::OffsetsForLeaderEpochResponse(response) => {
                self.on_validation_response(response, out)
            }
            Message::Disconnected(Disconnected {
                peer: NodeId::Broker(broker),
            }) => self.on_disconnected(broker, out),
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
                    self.fetch_offsets.remove(&broker);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AutoOffsetReset;
    use crate::event::Event;

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
            Message::MetadataResponse(MetadataResponse {
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
            }),
            &mut out,
        );
        let (to, corr) = match &out.messages[0] {
            (
                to,
                Message::ListOffsets(ListOffsetsRequest {
                    correlation_id,
                    spec: OffsetSpec::Earliest,
                    ..
                }),
            ) => (*to, *correlation_id),
            other => panic!("{other:?}"),
        };
        assert_eq!(to, NodeId::Broker(1), "ListOffsets goes to the leader");
        let mut out = Output::default();
        c.on_message(
            2,
            NodeId::Broker(1),
            Message::ListOffsetsResponse(ListOffsetsResponse {
                correlation_id: corr,
                tp: tp(),
                error: ErrorCode::None,
                offset: 0,
                leader_epoch: Some(3),
            }),
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
            Message::FetchResponse(FetchResponse {
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
            }),
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

    /// A Fetch answer for `tp()` from broker 1 with `records`.
    fn fetch_answer(correlation_id: u64, records: Vec<Record>) -> Message {
        Message::FetchResponse(FetchResponse {
            correlation_id,
            error: ErrorCode::None,
            session_id: 0,
            partitions: vec![FetchPartitionResponse {
                tp: tp(),
                error: ErrorCode::None,
                high_watermark: 10,
                log_start_offset: 0,
                log_end_offset: 10,
                leader_epoch: 3,
                records,
                diverging_epoch: None,
            }],
        })
    }

    #[test]
    fn an_answer_for_an_offset_the_position_has_left_is_discarded() {
        let mut c = started();
        let corr = c.fetch_in_flight[&1];
        // The fetch asked from 0; meanwhile the position moved to 5 (a reset).
        c.positions.insert(tp(), 5);
        let mut out = Output::default();
        let records = (0..8).map(record).collect();
        c.on_message(3, NodeId::Broker(1), fetch_answer(corr, records), &mut out);
        assert!(
            !out.events
                .iter()
                .any(|e| matches!(e, Event::Consumed { .. })),
            "a stale answer hands nothing over: {:?}",
            out.events
        );
        assert_eq!(c.positions()[&tp()], 5, "the position stays");
        match &out.messages[..] {
            [(_, Message::Fetch(request))] => assert_eq!(request.partitions[0].fetch_offset, 5),
            other => panic!("the next fetch asks from the position: {other:?}"),
        }
    }

    #[test]
    fn an_answer_for_a_position_awaiting_validation_is_ignored() {
        let mut c = started();
        let corr = c.fetch_in_flight[&1];
        c.last_epoch.insert(tp(), 3);
        c.awaiting_validation.insert(tp(), None);
        let mut out = Output::default();
        let records = vec![record(0), record(1)];
        c.on_message(3, NodeId::Broker(1), fetch_answer(corr, records), &mut out);
        assert!(!out
            .events
            .iter()
            .any(|e| matches!(e, Event::Consumed { .. })));
        assert_eq!(c.positions()[&tp()], 0);
    }

    #[test]
    fn a_fenced_epoch_refreshes_metadata() {
        let mut c = started();
        let corr = c.fetch_in_flight[&1];
        let mut out = Output::default();
        c.on_message(
            3,
            NodeId::Broker(1),
            Message::FetchResponse(FetchResponse {
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
            }),
            &mut out,
        );
        assert!(out
            .messages
            .iter()
            .any(|(_, m)| matches!(m, Message::Metadata(_))));
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
                Message::FindCoordinator(r) => Some(r.correlation_id),
                _ => None,
            })
            .expect("FindCoordinator");
        let mut out = Output::default();
        c.on_message(
            1,
            NodeId::Broker(0),
            Message::FindCoordinatorResponse(FindCoordinatorResponse {
                correlation_id: find,
                error: ErrorCode::None,
                coordinator: Some(1),
            }),
            &mut out,
        );
        assert!(
            out.messages.iter().any(|(to, m)| *to == NodeId::Broker(1)
                && matches!(m, Message::JoinGroup(r) if r.member_id.is_empty())),
            "{:?}",
            out.messages
        );
        (c, out)
    }

    /// Metadata for `tp()`: led by broker 1 in `leader_epoch`.
    fn metadata(correlation_id: u64, leader_epoch: LeaderEpoch) -> Message {
        Message::MetadataResponse(MetadataResponse {
            correlation_id,
            brokers: vec![0, 1],
            controller_id: Some(0),
            partitions: vec![PartitionMetadata {
                tp: tp(),
                error: ErrorCode::None,
                leader: Some(1),
                leader_epoch,
                replicas: vec![0, 1],
                isr: vec![0, 1],
            }],
        })
    }

    /// Answers the consumer's Metadata request (asking one first if none is out).
    fn give_metadata(c: &mut Consumer, leader_epoch: LeaderEpoch, out: &mut Output<ConsumerTimer>) {
        if c.metadata.in_flight().is_none() {
            c.request_metadata(out);
        }
        let corr = c.metadata.in_flight().expect("a Metadata request out");
        c.on_message(
            c.now_ms,
            NodeId::Broker(0),
            metadata(corr, leader_epoch),
            out,
        );
    }

    fn record_in_epoch(offset: u64, leader_epoch: LeaderEpoch) -> Record {
        Record {
            leader_epoch,
            ..record(offset)
        }
    }

    /// Seed 14 of a group with range assignment and a crashing member under the broker
    /// nemesis committed 445 after 457: the member read `tp()` in epoch 2, lost it, got it
    /// back at the committed 457 (another member read on through epochs 3 and 4), and
    /// validated 457 against the epoch 2 it still remembered, which ends at 445.
    #[test]
    fn a_partition_given_back_forgets_the_epoch_it_was_read_in_before() {
        let (mut c, _) = joining();
        let mut out = Output::default();
        give_metadata(&mut c, 2, &mut out);
        c.on_sync_response(ErrorCode::None, vec![tp()], &mut out);
        c.on_offset_fetch_response(ErrorCode::None, vec![(tp(), Some(440))], &mut out);
        let corr = c.fetch_in_flight[&1];
        let records = (440..445).map(|o| record_in_epoch(o, 2)).collect();
        c.on_message(3, NodeId::Broker(1), fetch_answer(corr, records), &mut out);
        assert_eq!(c.positions()[&tp()], 445);

        // Lost (a missed rebalance), then given back at the offset another member committed.
        c.lose_membership(false, &mut out);
        c.on_sync_response(ErrorCode::None, vec![tp()], &mut out);
        c.on_offset_fetch_response(ErrorCode::None, vec![(tp(), Some(457))], &mut out);
        assert_eq!(c.positions()[&tp()], 457);

        // A new leader: nothing this member remembers from before may move 457 back.
        let mut out = Output::default();
        give_metadata(&mut c, 5, &mut out);
        let stale_validation = out.messages.iter().any(|(_, m)| {
            matches!(m, Message::OffsetsForLeaderEpoch(r)
                if r.partitions.iter().any(|p| p.leader_epoch == 2))
        });
        assert!(
            !stale_validation,
            "validated against epoch 2: {:?}",
            out.messages
        );
        assert_eq!(c.positions()[&tp()], 457);
    }

    #[test]
    fn a_reset_from_the_coordinator_sends_the_member_looking_for_another() {
        let (mut c, _) = joining();
        let mut out = Output::default();
        c.on_message(
            2,
            NodeId::Broker(1),
            Message::Disconnected(Disconnected {
                peer: NodeId::Broker(1),
            }),
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
