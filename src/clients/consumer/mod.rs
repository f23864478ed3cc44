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
//! - `network`: `NetworkClient`'s connections: a reset connection or a request past
//!   `request.timeout.ms` fails every request in flight to that broker;
//! - `application`: the application thread, `poll()` and the processing of its records.

use crate::actor::{Actor, Output};
use crate::clients::metadata::{MetadataClient, MetadataOptions, MetadataTimer};
use crate::clients::CorrelationIds;
use crate::config::ConsumerConfig;
use crate::event::ConsumerException;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

mod application;
mod commit;
mod coordinator;
mod fetcher;
mod network;
mod validation;

use coordinator::{Member, MemberState};

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
    /// The consumer of a consume-transform-produce application (a processor): after a
    /// poll's records are processed, the application hands over to its producer, which
    /// flushes and then has the consumer commit (at least once), or commits the positions
    /// inside its transaction (`sendOffsetsToTransaction`, exactly once). See
    /// [`Consumer::handoff_commit`] and its siblings.
    Processor,
}

impl CommitMode {
    pub fn name(self) -> &'static str {
        match self {
            CommitMode::Auto => "auto",
            CommitMode::AfterProcessing => "after-processing",
            CommitMode::BeforeProcessing => "before-processing",
            CommitMode::Processor => "processor",
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
    /// The broker each ListOffsets and OffsetsForLeaderEpoch request went to, until it is
    /// answered or its timer fires (Kafka's `InFlightRequests`, per node): a closed
    /// connection fails exactly the requests sent on it.
    offset_requests_to: BTreeMap<u64, BrokerId>,
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
    /// KIP-394 (clients and brokers from 2.2): JoinGroup version 4 or later, so a new member
    /// first asks for its member id (MEMBER_ID_REQUIRED) and then joins with it.
    require_known_member_id: bool,
    /// The time of the input being handled.
    now_ms: u64,
    /// The leader epoch of the last record handed to the application, per partition.
    last_epoch: BTreeMap<TopicPartition, LeaderEpoch>,
    /// Partitions whose position waits for validation, with the request in flight (if any).
    awaiting_validation: BTreeMap<TopicPartition, Option<u64>>,
    /// Group membership, for a consumer with a `group.id`.
    member: Option<Member>,
    /// An exception the application's next `poll()` throws (`auto.offset.reset = none`).
    pending_exception: Option<ConsumerException>,
    /// `poll()` threw and the application died: every input is ignored from then on.
    stopped: bool,
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
            offset_requests_to: BTreeMap::new(),
            reset_from: BTreeMap::new(),
            fetch_in_flight: BTreeMap::new(),
            fetch_offsets: BTreeMap::new(),
            backing_off: BTreeSet::new(),
            correlation_ids: CorrelationIds::default(),
            validate_positions: true,
            require_known_member_id: true,
            now_ms: 0,
            last_epoch: BTreeMap::new(),
            awaiting_validation: BTreeMap::new(),
            member: None,
            pending_exception: None,
            stopped: false,
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

    /// Whether JoinGroup is version 4 or later (KIP-394; on by default).
    pub fn with_member_id_required(mut self, on: bool) -> Consumer {
        self.require_known_member_id = on;
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
        if self.stopped {
            return;
        }
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
        if self.stopped {
            return;
        }
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
                self.on_metadata_timeout(correlation_id, out)
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
            } => self.on_fetch_timeout(broker, correlation_id, out),
            ConsumerTimer::ListOffsetsTimeout { tp, correlation_id } => {
                self.on_list_offsets_timeout(tp, correlation_id, out)
            }
            ConsumerTimer::ValidationTimeout { tp, correlation_id } => {
                self.on_validation_timeout(tp, correlation_id, out)
            }
            ConsumerTimer::Backoff { broker } => {
                self.backing_off.remove(&broker);
                self.poll(out);
            }
            ConsumerTimer::Heartbeat { generation } => self.on_heartbeat_tick(generation, out),
            ConsumerTimer::GroupRequestTimeout { correlation_id } => {
                self.on_group_timer(correlation_id, out)
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
mod tests;
