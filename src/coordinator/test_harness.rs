//! The coordinator alone, with the test playing the broker: appends succeed when the test
//! says so.

use super::*;
use crate::assignor::Strategy;
use crate::event::Event;

pub(super) const A: NodeId = NodeId::Consumer(0);
pub(super) const B: NodeId = NodeId::Consumer(1);

pub(super) struct Harness {
    pub(super) c: GroupCoordinator,
    pub(super) now_ms: u64,
    pub(super) sent: Vec<(NodeId, Message)>,
    pub(super) timers: Vec<(u64, GroupTimer)>,
    pub(super) appends: Vec<PendingAppend>,
    pub(super) events: Vec<Event>,
    /// What the successful appends wrote, as the offsets partition's log would hold it (one
    /// partition: every test group lives in partition 0 unless the test says otherwise).
    pub(super) log: Vec<RecordBatch>,
}

impl Harness {
    pub(super) fn new() -> Harness {
        Harness::from_config(Harness::config())
    }

    /// A coordinator with `group.initial.rebalance.delay.ms` and the rules of Kafka's Java
    /// coordinator (`new_group_coordinator`) or its Scala one.
    pub(super) fn with(initial_delay_ms: u64, new_group_coordinator: bool) -> Harness {
        Harness::from_config(CoordinatorConfig {
            group_initial_rebalance_delay_ms: initial_delay_ms,
            new_group_coordinator,
            ..Harness::config()
        })
    }

    /// Kafka 3.7's defaults, but no initial rebalance delay.
    pub(super) fn config() -> CoordinatorConfig {
        CoordinatorConfig {
            offsets_topic_num_partitions: 1,
            group_initial_rebalance_delay_ms: 0,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            new_group_coordinator: false,
            pending_sync_deadline: true,
            new_member_join_timeout: true,
        }
    }

    pub(super) fn from_config(config: CoordinatorConfig) -> Harness {
        let mut h = Harness {
            c: GroupCoordinator::new(0, config),
            now_ms: 0,
            sent: Vec::new(),
            timers: Vec::new(),
            appends: Vec::new(),
            events: Vec::new(),
            log: Vec::new(),
        };
        h.run(|c, out| c.on_election(0, 0, out));
        h.run(|c, out| c.finish_load(0, 0, 0, &[], out));
        // The test did the load itself: LoadDone is the broker's timer.
        h.timers.clear();
        h
    }

    /// Runs one input through the coordinator and keeps what it wants done.
    pub(super) fn run(&mut self, f: impl FnOnce(&mut GroupCoordinator, &mut CoordinatorOutput)) {
        let mut out = CoordinatorOutput::default();
        f(&mut self.c, &mut out);
        self.sent.extend(out.messages);
        let now = self.now_ms;
        self.timers
            .extend(out.timers.into_iter().map(|(d, t)| (now + d, t)));
        self.appends
            .extend(out.requests.into_iter().map(|request| match request {
                CoordinatorRequest::Append(append) => append,
            }));
        self.events.extend(out.events);
    }

    /// Advances the clock, firing due timers in order.
    pub(super) fn advance(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        loop {
            self.timers.sort_by_key(|(at, _)| *at);
            let Some(pos) = self.timers.iter().position(|(at, _)| *at <= end) else {
                break;
            };
            let (at, timer) = self.timers.remove(pos);
            self.now_ms = self.now_ms.max(at);
            let now = self.now_ms;
            self.run(|c, out| c.on_timer(now, timer, out));
        }
        self.now_ms = end;
    }

    /// Completes every pending append with `error`; a successful one is written to
    /// [`Harness::log`] at its end.
    pub(super) fn complete_appends(&mut self, error: ErrorCode) {
        let now = self.now_ms;
        for a in std::mem::take(&mut self.appends) {
            let base = (error == ErrorCode::None).then(|| self.write(&a));
            self.run(|c, out| c.on_append_done(now, a.append_id, error, base, out));
        }
    }

    /// Writes an append's records to the log as one batch; returns its base offset.
    fn write(&mut self, append: &PendingAppend) -> u64 {
        let stamp = append
            .transactional
            .map(|t| (t.producer_id, t.producer_epoch));
        let batch = batch_at(log_end(&self.log), stamp, &append.records);
        let base = batch.base_offset;
        self.log.push(batch);
        base
    }

    /// The transaction coordinator's marker for `producer_id` is written on partition 0:
    /// the log gets it and the coordinator hears of it, as the broker's WriteTxnMarkers
    /// handling does.
    pub(super) fn marker(&mut self, producer_id: i64, producer_epoch: i16, commit: bool) {
        let result = if commit {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        self.log.push(marker_at(
            log_end(&self.log),
            producer_id,
            producer_epoch,
            result,
        ));
        self.c.on_transaction_completed(producer_id, &[0], result);
    }

    /// A JoinGroup of version 3: a new member is admitted at once.
    pub(super) fn join(&mut self, from: NodeId, member_id: &str, correlation_id: u64) {
        self.join_with(from, member_id, correlation_id, false);
    }

    /// A JoinGroup, of version 4 or later when `require_known_member_id` (KIP-394).
    pub(super) fn join_with(
        &mut self,
        from: NodeId,
        member_id: &str,
        correlation_id: u64,
        require_known_member_id: bool,
    ) {
        let now = self.now_ms;
        self.run(|c, out| {
            let request = JoinGroupRequest {
                correlation_id,
                group_id: "g".into(),
                member_id: member_id.into(),
                client_id: "c".into(),
                group_instance_id: None,
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 20_000,
                protocols: vec![Strategy::CooperativeSticky, Strategy::Range],
                subscription: Subscription {
                    topics: vec!["orders".into()],
                    owned_partitions: vec![],
                    generation: -1,
                },
                require_known_member_id,
            };
            c.on_join_group(now, from, request, out)
        });
        // Timers due now fire before anything else happens (a round from Empty ends on its
        // `group.initial.rebalance.delay.ms` timer, even a delay of 0).
        self.advance(0);
    }

    pub(super) fn leave(&mut self, from: NodeId, member_id: String) {
        let leave = LeaveGroupRequest {
            correlation_id: 8,
            group_id: "g".into(),
            member_id,
        };
        let now = self.now_ms;
        self.run(|c, out| c.on_leave_group(now, from, leave, out));
    }

    pub(super) fn heartbeat(&mut self, from: NodeId, generation: i32, member: &str) -> ErrorCode {
        let now = self.now_ms;
        let request = HeartbeatRequest {
            correlation_id: 9,
            group_id: "g".into(),
            generation_id: generation,
            member_id: member.into(),
        };
        self.run(|c, out| c.on_heartbeat(now, from, request, out));
        match self.sent.pop() {
            Some((_, Message::HeartbeatResponse(HeartbeatResponse { error, .. }))) => error,
            other => panic!("{other:?}"),
        }
    }

    pub(super) fn joined(&mut self, to: NodeId) -> (i32, String, String) {
        let i = self
            .sent
            .iter()
            .position(|(n, m)| *n == to && matches!(m, Message::JoinGroupResponse(_)))
            .expect("a JoinGroup answer");
        match self.sent.remove(i).1 {
            Message::JoinGroupResponse(JoinGroupResponse {
                error: ErrorCode::None,
                generation_id,
                member_id,
                leader,
                ..
            }) => (generation_id, member_id, leader),
            other => panic!("{other:?}"),
        }
    }

    /// Commits `offsets` for `member` in `generation`.
    pub(super) fn commit(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        generation: i32,
        member: &str,
        offsets: Vec<(TopicPartition, u64)>,
    ) {
        let request = OffsetCommitRequest {
            correlation_id,
            group_id: "g".into(),
            generation_id: generation,
            member_id: member.into(),
            offsets,
        };
        let now = self.now_ms;
        self.run(|c, out| c.on_offset_commit(now, from, request, out));
    }

    pub(super) fn group(&self) -> &Group {
        &self.c.groups()["g"]
    }
}

/// Two members join and the leader's assignment is stored: generation 1, Stable.
pub(super) fn stable_pair() -> (Harness, String, String) {
    stable_pair_with(Harness::new())
}

/// [`stable_pair`] on the coordinator `h`.
pub(super) fn stable_pair_with(mut h: Harness) -> (Harness, String, String) {
    h.join(A, "", 1);
    let (_, a, _) = h.joined(A);
    assert_eq!(h.group().state, GroupState::CompletingRebalance);
    // B's arrival starts a new round; A must join again.
    h.join(B, "", 1);
    assert_eq!(h.heartbeat(A, 1, &a), ErrorCode::RebalanceInProgress);
    h.join(A, &a, 2);
    let (generation, a2, leader) = h.joined(A);
    let (_, b, _) = h.joined(B);
    assert_eq!(
        (generation, a2.as_str(), leader.as_str()),
        (2, a.as_str(), a.as_str())
    );
    let assignments = vec![
        (a.clone(), vec![TopicPartition::new("orders", 0)]),
        (b.clone(), vec![TopicPartition::new("orders", 1)]),
    ];
    let request = SyncGroupRequest {
        correlation_id: 3,
        group_id: "g".into(),
        generation_id: 2,
        member_id: a.clone(),
        assignments,
    };
    h.run(|c, out| c.on_sync_group(A, request, out));
    assert_eq!(
        h.group().state,
        GroupState::CompletingRebalance,
        "not yet durable"
    );
    h.complete_appends(ErrorCode::None);
    assert_eq!(h.group().state, GroupState::Stable);
    h.sent.clear();
    (h, a, b)
}

/// The offset after the last batch of `log`.
pub(super) fn log_end(log: &[RecordBatch]) -> u64 {
    log.last().map_or(0, |b| b.last_offset + 1)
}

/// A batch of `__consumer_offsets` records at `base`, transactional when `stamp` names the
/// producer id and epoch.
pub(super) fn batch_at(
    base: u64,
    stamp: Option<(i64, i16)>,
    records: &[(String, String)],
) -> RecordBatch {
    assert!(!records.is_empty());
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            offset: base + i as u64,
            leader_epoch: 0,
            id: RecordId {
                producer: COORDINATOR_PRODUCER_BASE,
                seq: base + i as u64,
            },
            timestamp_ms: 0,
            key: Some(key.clone()),
            value: Some(value.clone()),
            headers: vec![],
            value_bytes: 0,
            size_bytes: 0,
            producer: None,
        })
        .collect();
    RecordBatch {
        base_offset: base,
        last_offset: base + records.len() as u64 - 1,
        leader_epoch: 0,
        producer: stamp.map(|(producer_id, producer_epoch)| BatchStamp {
            producer_id,
            producer_epoch,
            base_sequence: 0,
            last_sequence: records.len() as i32 - 1,
            is_transactional: true,
        }),
        delete_horizon_ms: None,
        control: None,
        base_timestamp_ms: 0,
        max_timestamp_ms: 0,
        records,
    }
}

/// A transaction marker of `producer_id` at `offset`.
pub(super) fn marker_at(
    offset: u64,
    producer_id: i64,
    producer_epoch: i16,
    control_type: ControlRecordType,
) -> RecordBatch {
    RecordBatch {
        base_offset: offset,
        last_offset: offset,
        leader_epoch: 0,
        producer: Some(BatchStamp {
            producer_id,
            producer_epoch,
            base_sequence: -1,
            last_sequence: -1,
            is_transactional: true,
        }),
        delete_horizon_ms: None,
        control: Some(EndTxnMarker {
            control_type,
            coordinator_epoch: 0,
        }),
        base_timestamp_ms: 0,
        max_timestamp_ms: 0,
        records: Vec::new(),
    }
}
