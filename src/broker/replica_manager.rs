//! The leader side of replication (Kafka's `ReplicaManager`): LeaderAndIsr requests, produce
//! requests and the produce purgatory (`DelayedProduce`), fetch requests from followers and
//! consumers with their fetch sessions (KIP-227) and the fetch purgatory (`DelayedFetch`),
//! and OffsetsForLeaderEpoch on the leader's side.
//!
//! A purgatory is a set of requests that wait for something to change on a partition, plus
//! watch keys (the partitions) so that a change looks only at the requests that wait on it.
//! Every change that can complete a waiting request (an append, an HW move, a leadership
//! change) calls `complete_delayed_produces` / `complete_delayed_fetches` for its partition.

use super::partition::{PartitionState, Role};
use super::txn_verification::Verified;
use super::{Broker, BrokerTimer, FETCH_MAX_RECORDS};
use crate::actor::Output;
use crate::event::Event;
use crate::fetch_session::{FetchContext, FetchSession};
use crate::log::{EndOffsetRules, OffsetRange};
use crate::producer_state::{AppendOrigin, Check, ProducerRules, VerificationGuard};
use crate::protocol::*;
use crate::types::*;
use std::collections::BTreeSet;

/// One partition of a produce request: appended and waiting for the ISR (`result` unset),
/// or answered (Kafka's `ProducePartitionStatus`).
#[derive(Clone, Debug)]
pub(super) struct ProduceStatus {
    pub(super) tp: TopicPartition,
    pub(super) leader_epoch: LeaderEpoch,
    pub(super) required_offset: u64,
    pub(super) base_offset: u64,
    pub(super) records: u32,
    pub(super) result: Option<(ErrorCode, Option<u64>)>,
}

impl ProduceReplyTo {
    /// Who appends (Kafka's `AppendOrigin`): a client, or a coordinator (the group
    /// coordinator's writes, the transaction coordinator's markers), whose batches are not
    /// checked for duplicates or sequences.
    fn origin(self) -> AppendOrigin {
        match self {
            ProduceReplyTo::Client(_) => AppendOrigin::Client,
            ProduceReplyTo::Coordinator { .. }
            | ProduceReplyTo::TxnMarkers { .. }
            | ProduceReplyTo::TxnCoordinator { .. } => AppendOrigin::Coordinator,
        }
    }
}

impl ProduceStatus {
    /// The partition was refused at once (not appended, or not waiting for the ISR).
    pub(super) fn failed(&self) -> bool {
        self.result
            .is_some_and(|(error, _)| error != ErrorCode::None)
    }
}

/// Where the answer to a produce request goes (Kafka's `DelayedProduce` carries a
/// `responseCallback`): to the client that sent it, or to the group coordinator this broker
/// hosts, whose appends to `__consumer_offsets` take the same path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProduceReplyTo {
    Client(NodeId),
    Coordinator {
        append_id: u64,
    },
    /// A WriteTxnMarkers request from the transaction coordinator on `to`; its layout is
    /// kept under `request_id` (see `txn_markers.rs`).
    TxnMarkers {
        to: NodeId,
        request_id: u64,
    },
    /// A write of the transaction coordinator to `__transaction_state`.
    TxnCoordinator {
        append_id: u64,
    },
}

/// An acks=all produce request in the purgatory (Kafka's `DelayedProduce`): answered once
/// every partition is.
#[derive(Clone, Debug)]
pub(super) struct DelayedProduce {
    pub(super) reply_to: ProduceReplyTo,
    pub(super) correlation_id: u64,
    pub(super) partitions: Vec<ProduceStatus>,
}

#[derive(Clone, Debug)]
pub(super) struct DelayedFetch {
    pub(super) from: NodeId,
    pub(super) correlation_id: u64,
    pub(super) replica_id: Option<BrokerId>,
    /// How far it may read.
    pub(super) isolation: FetchIsolation,
    pub(super) context: FetchContext,
    /// The partitions to read: the request's, or for an incremental session fetch those
    /// of the session with news when it arrived (the answer looks at the session's news
    /// as they are by then).
    pub(super) partitions: Vec<FetchPartition>,
}

/// How far a fetch may read (Kafka's `FetchIsolation.of(replicaId, isolationLevel)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FetchIsolation {
    /// A follower: up to the log end offset.
    LogEnd,
    /// A `read_uncommitted` consumer: up to the high watermark.
    HighWatermark,
    /// A `read_committed` consumer: up to the last stable offset.
    TxnCommitted,
}

impl FetchIsolation {
    pub(super) fn of(replica_id: Option<BrokerId>, level: IsolationLevel) -> FetchIsolation {
        match (replica_id, level) {
            (Some(_), _) => FetchIsolation::LogEnd,
            (None, IsolationLevel::ReadUncommitted) => FetchIsolation::HighWatermark,
            (None, IsolationLevel::ReadCommitted) => FetchIsolation::TxnCommitted,
        }
    }
}

/// Sends the one response of a produce request, a result for each of its partitions.
fn answer_produce(
    out: &mut Output<BrokerTimer>,
    to: NodeId,
    correlation_id: u64,
    statuses: &[ProduceStatus],
) {
    out.send(
        to,
        Message::ProduceResponse(ProduceResponse {
            correlation_id,
            partitions: statuses
                .iter()
                .map(|s| {
                    let (error, base_offset) = s.result.expect("every partition is answered");
                    ProducePartitionResponse {
                        tp: s.tp.clone(),
                        error,
                        base_offset,
                    }
                })
                .collect(),
        }),
    );
}

impl Broker {
    /// Kafka's `ReplicaManager.becomeLeaderOrFollower`: each partition of a newer
    /// LeaderAndIsr makes this broker its leader or a follower; the fetchers of the leaders
    /// followed are started afterwards, once per leader.
    pub(super) fn on_leader_and_isr(
        &mut self,
        now_ms: u64,
        request: LeaderAndIsrRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        let LeaderAndIsrRequest {
            controller_id,
            controller_epoch,
            partitions,
        } = request;
        if !self.accept_controller_epoch(controller_epoch, out) {
            return;
        }
        self.controller_id = Some(controller_id);
        let mut touched_leaders = BTreeSet::new();
        for p in partitions {
            if !p.replicas.contains(&self.id) {
                continue;
            }
            if let Some(current) = self.partitions.get(&p.tp) {
                if p.leader_epoch <= current.leader_epoch {
                    continue; // Kafka skips a LeaderAndIsr that is not newer.
                }
            }
            assert!(
                p.isr.iter().all(|r| p.replicas.contains(r)),
                "the ISR is a subset of the replicas: {} has ISR {:?}, replicas {:?}",
                p.tp,
                p.isr,
                p.replicas
            );
            self.create_log_if_missing(&p.tp, now_ms);
            if p.leader == Some(self.id) {
                self.make_leader(now_ms, p, out);
            } else {
                if let Some(l) = p.leader {
                    touched_leaders.insert(l);
                }
                self.make_follower(now_ms, p, out);
            }
        }
        for leader in touched_leaders {
            self.maybe_fetch(leader, out);
        }
    }

    // ------------------------------------------------------------------------------------
    // Produce and the produce purgatory
    // ------------------------------------------------------------------------------------

    /// Kafka's `ReplicaManager.appendRecords`: every partition of the request is appended
    /// (or refused) on its own; with acks=all the request waits in the purgatory until each
    /// appended partition's HW passes its records, then one response answers them all.
    pub(super) fn on_produce(
        &mut self,
        now_ms: u64,
        reply_to: ProduceReplyTo,
        request: ProduceRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        // KIP-890 part 1 (`ReplicaManager.handleProduceAppend`): a transactional batch that
        // would open a transaction waits for the coordinator's word first.
        let Some((request, verified)) =
            self.maybe_start_transaction_verification(reply_to, request, out)
        else {
            return;
        };
        self.append_and_answer(now_ms, reply_to, request, verified, out);
    }

    /// `ReplicaManager.appendRecords`, once any verification is over: partitions whose
    /// verification failed are answered with its error, the others appended carrying their
    /// verification guards.
    pub(super) fn append_and_answer(
        &mut self,
        now_ms: u64,
        reply_to: ProduceReplyTo,
        request: ProduceRequest,
        mut verified: Verified,
        out: &mut Output<BrokerTimer>,
    ) {
        let ProduceRequest {
            correlation_id,
            acks,
            timeout_ms,
            partitions,
            ..
        } = request;
        assert!(
            !partitions.is_empty(),
            "a produce request carries partitions"
        );
        let origin = reply_to.origin();
        let statuses: Vec<ProduceStatus> = partitions
            .into_iter()
            .map(|part| {
                let tp = part.tp.clone();
                let before = verified.errors.remove(&tp);
                let guard = verified
                    .guards
                    .get(&tp)
                    .copied()
                    .unwrap_or(VerificationGuard::SENTINEL);
                match before {
                    Some(error) => self.refuse_produced(part, error, out),
                    None => self.append_produced(now_ms, acks, origin, part, guard, out),
                }
            })
            .collect();
        let appended: Vec<TopicPartition> = statuses
            .iter()
            .filter(|s| !s.failed())
            .map(|s| s.tp.clone())
            .collect();
        let statuses_waiting: Vec<(TopicPartition, u64)> = statuses
            .iter()
            .filter(|s| acks == Acks::All && s.result.is_none())
            .map(|s| (s.tp.clone(), s.required_offset))
            .collect();
        if acks == Acks::All && statuses.iter().any(|s| s.result.is_none()) {
            self.next_delayed_id += 1;
            let id = self.next_delayed_id;
            for status in statuses.iter().filter(|s| s.result.is_none()) {
                self.produce_watchers
                    .entry(status.tp.clone())
                    .or_default()
                    .insert(id);
            }
            self.delayed_produces.insert(
                id,
                DelayedProduce {
                    reply_to,
                    correlation_id,
                    partitions: statuses,
                },
            );
            out.timer(timeout_ms, BrokerTimer::DelayedProduceExpire { id });
        } else if acks != Acks::None {
            self.reply_produce(reply_to, correlation_id, &statuses, out);
        } else if statuses.iter().any(|s| s.failed()) {
            // Kafka's `KafkaApis.handleProduceRequest`: an acks=0 producer expects no answer,
            // so an error closes its connection instead, and the producer's client refreshes
            // its metadata on the disconnect.
            if let ProduceReplyTo::Client(client) = reply_to {
                out.send(
                    client,
                    Message::Disconnected(Disconnected {
                        peer: NodeId::Broker(self.id),
                    }),
                );
            }
        }
        for tp in &appended {
            self.maybe_increment_hw(now_ms, tp, out);
            self.complete_delayed_fetches(tp, out);
        }
        // `DelayedProducePurgatory.tryCompleteElseWatch`: a duplicate batch waits for offsets
        // the HW may have passed long ago, and then it is answered now.
        let already_replicated: Vec<TopicPartition> = statuses_waiting
            .into_iter()
            .filter(|(tp, required)| *required <= self.high_watermark(tp))
            .map(|(tp, _)| tp)
            .collect();
        for tp in &already_replicated {
            self.complete_delayed_produces(tp, out);
        }
    }

    /// A partition refused before its append (its verification failed): answered with
    /// `error` (`ReplicaManager.handleProduceAppend`'s `preAppendErrors`).
    fn refuse_produced(
        &mut self,
        part: ProducePartition,
        error: ErrorCode,
        out: &mut Output<BrokerTimer>,
    ) -> ProduceStatus {
        let count = part.records.len() as u32;
        out.event(Event::ProduceRejected {
            broker: self.id,
            tp: part.tp.clone(),
            error,
            records: count,
            verification: true,
        });
        ProduceStatus {
            tp: part.tp,
            leader_epoch: -1,
            required_offset: 0,
            base_offset: 0,
            records: count,
            result: Some((error, None)),
        }
    }

    /// Appends one partition's batch as leader, or says why not. With acks=all the status
    /// waits for the ISR; otherwise it is answered at once. `guard` is the verification
    /// the batch went through (KIP-890 part 1), the sentinel if none.
    pub(super) fn append_produced(
        &mut self,
        now_ms: u64,
        acks: Acks,
        origin: AppendOrigin,
        part: ProducePartition,
        guard: VerificationGuard,
        out: &mut Output<BrokerTimer>,
    ) -> ProduceStatus {
        let ProducePartition {
            tp,
            records,
            producer,
        } = part;
        let count = records.len() as u32;
        let mut status = ProduceStatus {
            tp: tp.clone(),
            leader_epoch: -1,
            required_offset: 0,
            base_offset: 0,
            records: count,
            result: None,
        };
        let leader_epoch = match self.check_leader_append(&tp, acks) {
            Ok(leader_epoch) => leader_epoch,
            Err(error) => {
                out.event(Event::ProduceRejected {
                    broker: self.id,
                    tp,
                    error,
                    records: count,
                    verification: false,
                });
                status.result = Some((error, None));
                return status;
            }
        };
        // `UnifiedLog.append`: `LogValidator` and the segment size check come before the
        // producer state's.
        if let Some(error) = self.leader_batch_error(&tp, &records) {
            out.event(Event::ProduceRejected {
                broker: self.id,
                tp,
                error,
                records: count,
                verification: false,
            });
            status.result = Some((error, None));
            return status;
        }
        let rules = ProducerRules::of_release(self.release());
        // The log checks guards only with the key on (`ProducerStateManagerConfig
        // .transactionVerificationEnabled`), even when a client on transaction version 2
        // had its partition added with the key off.
        let verification = self.config.transaction_partition_verification();
        let epoch_checked = self.release().has_epoch_checked_ongoing_transaction();
        let log = self.disk.logs.get_mut(&tp).expect("a leader has a log");
        // The group coordinator's transactional offset commits are not verified here
        // (Kafka verifies them in `GroupCoordinator.handleTxnCommitOffsets`, not modelled).
        let check = |stamp: BatchStamp| match origin {
            AppendOrigin::Coordinator => log.check_coordinator_batch(&stamp),
            _ if verification => {
                log.check_verified_producer_batch(&stamp, rules, guard, epoch_checked)
            }
            _ => log.check_producer_batch(&stamp, rules),
        };
        match producer.map(|stamp| (stamp, check(stamp))) {
            None | Some((_, Check::Append)) => {}
            Some((_, Check::Reject(error))) => {
                out.event(Event::ProduceRejected {
                    broker: self.id,
                    tp,
                    error,
                    records: count,
                    verification: false,
                });
                status.result = Some((error, None));
                return status;
            }
            Some((
                stamp,
                Check::Duplicate {
                    first_offset,
                    last_offset,
                },
            )) => {
                // `UnifiedLog.append`: a duplicate is answered with the offsets it was written
                // at and not appended again; with acks=all it waits for those offsets.
                out.event(Event::DuplicateBatch {
                    broker: self.id,
                    tp,
                    producer_id: stamp.producer_id,
                    first_sequence: stamp.base_sequence,
                    base_offset: first_offset,
                    records: count,
                });
                status.leader_epoch = leader_epoch;
                status.required_offset = last_offset + 1;
                status.base_offset = first_offset;
                if acks != Acks::All {
                    status.result = Some((ErrorCode::None, Some(first_offset)));
                }
                return status;
            }
        }
        let (appended, roll) =
            log.append_as_leader_rolling(leader_epoch, records, producer, now_ms);
        let base_offset = appended
            .first()
            .map(|a| a.0)
            .unwrap_or(log.log_end_offset());
        let leo = self.after_leader_append(now_ms, &tp, appended, Vec::new(), roll, out);
        status.leader_epoch = leader_epoch;
        status.required_offset = leo;
        status.base_offset = base_offset;
        if acks != Acks::All {
            status.result = Some((ErrorCode::None, Some(base_offset)));
        }
        status
    }

    /// `Partition.appendRecordsToLeader`'s checks before any append: this broker leads
    /// `tp` (NOT_LEADER_OR_FOLLOWER), and with acks=all the ISR holds at least the
    /// effective `min.insync.replicas` (NOT_ENOUGH_REPLICAS). Returns the leader epoch.
    pub(super) fn check_leader_append(
        &self,
        tp: &TopicPartition,
        acks: Acks,
    ) -> Result<LeaderEpoch, ErrorCode> {
        let Some(
            p @ PartitionState {
                role: Role::Leader(_),
                leader_epoch,
                isr,
                replicas,
                ..
            },
        ) = self.partitions.get(tp)
        else {
            return Err(ErrorCode::NotLeaderOrFollower);
        };
        p.debug_assert_leader_rules(self.id);
        if acks == Acks::All && isr.len() < self.effective_min_isr(tp, replicas.len()) {
            return Err(ErrorCode::NotEnoughReplicas);
        }
        Ok(*leader_epoch)
    }

    /// What follows every append as leader, a producer's batch or a marker: the roll it
    /// made is noted, the append traced, the followers' fetch state written out before it
    /// changes meaning, and the log flushed if its flush policy says so. Returns the LEO.
    pub(super) fn after_leader_append(
        &mut self,
        now_ms: u64,
        tp: &TopicPartition,
        records: Vec<(u64, RecordId, LeaderEpoch)>,
        markers: Vec<crate::event::AppendedMarker>,
        roll: Option<crate::log::Roll>,
        out: &mut Output<BrokerTimer>,
    ) -> u64 {
        let leo = self.disk.logs[tp].log_end_offset();
        self.note_roll(tp, roll, out);
        out.event(Event::Appended {
            broker: self.id,
            tp: tp.clone(),
            as_leader: true,
            records,
            log_end_offset: leo,
            markers,
        });
        self.materialize_followers(tp, None);
        self.maybe_flush(tp, now_ms, out);
        leo
    }

    /// Kafka's `checkEnoughReplicasReachOffset`: an acks=all produce completes once the HW
    /// passed its last record; if the ISR fell below `min.insync.replicas` meanwhile, the
    /// records are written but the producer hears NOT_ENOUGH_REPLICAS_AFTER_APPEND.
    pub(super) fn complete_delayed_produces(
        &mut self,
        tp: &TopicPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        let hw = self.high_watermark(tp);
        debug_assert!(
            hw <= self.disk.logs.get(tp).map_or(0, |l| l.log_end_offset()),
            "the HW never passes the LEO"
        );
        let Some(p) = self.partitions.get(tp) else {
            return;
        };
        let min_isr = self.effective_min_isr(tp, p.replicas.len());
        let maximal_isr_len = match &p.role {
            Role::Leader(l) => l.pending_isr.as_ref().map_or(p.isr.len(), |pending| {
                p.isr
                    .iter()
                    .chain(pending.iter())
                    .collect::<BTreeSet<_>>()
                    .len()
            }),
            Role::Follower { .. } => return,
        };
        let error = if maximal_isr_len >= min_isr {
            ErrorCode::None
        } else {
            ErrorCode::NotEnoughReplicasAfterAppend
        };
        self.settle_delayed_produces(tp, out, |status| {
            (status.required_offset <= hw).then(|| {
                (
                    error,
                    (error == ErrorCode::None).then_some(status.base_offset),
                )
            })
        });
    }

    /// Gives each waiting partition `tp` of a delayed produce the answer `decide` has for it
    /// (if any), and sends every request whose partitions are all answered.
    pub(super) fn settle_delayed_produces(
        &mut self,
        tp: &TopicPartition,
        out: &mut Output<BrokerTimer>,
        decide: impl Fn(&ProduceStatus) -> Option<(ErrorCode, Option<u64>)>,
    ) {
        let Some(ids) = self.produce_watchers.get(tp).cloned() else {
            return;
        };
        for id in ids {
            let d = self
                .delayed_produces
                .get_mut(&id)
                .expect("a watched produce waits");
            let mut settled = false;
            for status in d.partitions.iter_mut() {
                if &status.tp != tp || status.result.is_some() {
                    continue;
                }
                let Some(result) = decide(status) else {
                    continue;
                };
                status.result = Some(result);
                settled = true;
                if result.0 != ErrorCode::None {
                    out.event(Event::ProduceRejected {
                        broker: self.id,
                        tp: tp.clone(),
                        error: result.0,
                        records: status.records,
                        verification: false,
                    });
                }
            }
            if !settled {
                continue;
            }
            self.unwatch_produce(tp, id);
            let d = &self.delayed_produces[&id];
            if d.partitions.iter().all(|s| s.result.is_some()) {
                let d = self.delayed_produces.remove(&id).expect("present");
                self.reply_produce(d.reply_to, d.correlation_id, &d.partitions, out);
            }
        }
    }

    /// Leadership moved: every waiting acks=all produce of an older epoch fails.
    pub(super) fn fail_delayed_produces(
        &mut self,
        tp: &TopicPartition,
        epoch: LeaderEpoch,
        out: &mut Output<BrokerTimer>,
    ) {
        self.settle_delayed_produces(tp, out, |status| {
            (status.leader_epoch < epoch).then_some((ErrorCode::NotLeaderOrFollower, None))
        });
    }

    /// `request.timeout.ms` passed: the partitions still waiting answer REQUEST_TIMED_OUT.
    pub(super) fn expire_delayed_produce(&mut self, id: u64, out: &mut Output<BrokerTimer>) {
        let Some(mut d) = self.delayed_produces.remove(&id) else {
            return;
        };
        for status in d.partitions.iter_mut().filter(|s| s.result.is_none()) {
            out.event(Event::ProduceRejected {
                broker: self.id,
                tp: status.tp.clone(),
                error: ErrorCode::RequestTimedOut,
                records: status.records,
                verification: false,
            });
            status.result = Some((ErrorCode::RequestTimedOut, None));
            self.unwatch_produce(&status.tp, id);
        }
        self.reply_produce(d.reply_to, d.correlation_id, &d.partitions, out);
    }

    /// Sends the answer of a produce request where it goes: a client's as its response, the
    /// coordinator's to the queue of its completions (handed over after this input).
    fn reply_produce(
        &mut self,
        reply_to: ProduceReplyTo,
        correlation_id: u64,
        statuses: &[ProduceStatus],
        out: &mut Output<BrokerTimer>,
    ) {
        match reply_to {
            ProduceReplyTo::Client(to) => answer_produce(out, to, correlation_id, statuses),
            ProduceReplyTo::Coordinator { append_id } => {
                self.queue_coordinator_completion(append_id, statuses)
            }
            ProduceReplyTo::TxnCoordinator { append_id } => {
                self.queue_txn_coordinator_completion(append_id, statuses)
            }
            ProduceReplyTo::TxnMarkers { to, request_id } => {
                self.answer_txn_markers(to, request_id, correlation_id, statuses, out)
            }
        }
    }

    /// Delayed produce `id` no longer waits on `tp`.
    pub(super) fn unwatch_produce(&mut self, tp: &TopicPartition, id: u64) {
        if let Some(watchers) = self.produce_watchers.get_mut(tp) {
            watchers.remove(&id);
            if watchers.is_empty() {
                self.produce_watchers.remove(tp);
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // Fetch serving (leader side, for followers and consumers)
    // ------------------------------------------------------------------------------------

    /// Kafka's `KafkaApis.handleFetchRequest` and `ReplicaManager.fetchMessages`: the fetch
    /// session gives the partitions to read (KIP-227), the follower's fetch state is updated
    /// for each, and the fetch is answered now or waits up to `max_wait_ms` for news.
    pub(super) fn on_fetch(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: FetchRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        let (context, closed) = self.fetch_sessions.new_context(
            request.session,
            request.replica_id,
            &request.partitions,
            &request.forgotten,
            now_ms,
        );
        if let Some(closed) = closed {
            self.close_fetch_session(&closed);
        }
        let partitions = match context {
            FetchContext::Error(error) => {
                out.send(
                    from,
                    Message::FetchResponse(FetchResponse {
                        correlation_id: request.correlation_id,
                        error,
                        session_id: 0,
                        partitions: Vec::new(),
                    }),
                );
                return;
            }
            FetchContext::Sessionless | FetchContext::Full { .. } => request.partitions,
            FetchContext::Incremental { session_id } => self.session_news(session_id),
        };
        // First the follower state updates, once, at the time the fetch arrives.
        if let Some(follower) = request.replica_id {
            for fp in &partitions {
                // `Partition.fetchRecords`: the follower's state is updated only after a read
                // that succeeded (an out-of-range offset throws first).
                if self.fetch_error(fp).is_none()
                    && self.diverging_epoch(fp).is_none()
                    && !self.out_of_range(fp)
                {
                    self.update_follower_fetch_state(
                        now_ms,
                        follower,
                        fp,
                        context.session_id(),
                        out,
                    );
                }
            }
        }
        let delayed = DelayedFetch {
            from,
            correlation_id: request.correlation_id,
            replica_id: request.replica_id,
            isolation: FetchIsolation::of(request.replica_id, request.isolation_level),
            context,
            partitions,
        };
        if request.max_wait_ms == 0 || self.fetch_has_something(&delayed) {
            self.answer_fetch(delayed, out);
        } else {
            self.next_delayed_id += 1;
            let id = self.next_delayed_id;
            if let Some(session_id) = context.session_id() {
                self.parked_fetches.insert(session_id, id);
            }
            self.delayed_fetches.insert(id, delayed);
            out.timer(request.max_wait_ms, BrokerTimer::DelayedFetchExpire { id });
        }
    }

    /// The partitions of an incremental session fetch to look at: those with news.
    pub(super) fn session_news(&self, session_id: u32) -> Vec<FetchPartition> {
        let session = self.fetch_sessions.get(session_id).expect("a live session");
        session
            .dirty
            .iter()
            .map(|tp| session.partitions[tp].fetch.clone())
            .collect()
    }

    /// A closed session's followers stop following its fetch times.
    pub(super) fn close_fetch_session(&mut self, closed: &FetchSession) {
        self.parked_fetches.remove(&closed.id);
        for tp in closed.partitions.keys() {
            self.materialize_followers(tp, Some(closed));
        }
    }

    /// Writes out the fetch times of every follower of `tp` whose state follows its fetch
    /// session (see `FollowerState::session`), as Kafka would have written them on each of
    /// the session's fetches, and tells every session holding `tp` to look at it again.
    /// Called before anything that changes what the followers' state means: an append, a
    /// leadership or ISR change.
    pub(super) fn materialize_followers(
        &mut self,
        tp: &TopicPartition,
        closed: Option<&FetchSession>,
    ) {
        let Some(PartitionState {
            role: Role::Leader(leader),
            ..
        }) = self.partitions.get_mut(tp)
        else {
            self.fetch_sessions.mark_dirty(tp);
            return;
        };
        for f in leader.followers.values_mut() {
            let Some(session_id) = f.session.take() else {
                continue;
            };
            let last_fetch_ms = match closed {
                Some(c) if c.id == session_id => Some(c.last_fetch_ms),
                _ => self.fetch_sessions.get(session_id).map(|s| s.last_fetch_ms),
            };
            let t = last_fetch_ms.unwrap_or(f.last_fetch_ms);
            assert!(
                t >= f.last_fetch_ms,
                "a session's fetches do not go back in time"
            );
            f.last_caught_up_ms = f.last_caught_up_ms.max(t);
            f.last_fetch_ms = t;
        }
        self.fetch_sessions.mark_dirty(tp);
    }

    pub(super) fn fetch_error(&self, fp: &FetchPartition) -> Option<ErrorCode> {
        let Some(p) = self.partitions.get(&fp.tp) else {
            return Some(ErrorCode::NotLeaderOrFollower);
        };
        // KIP-320 (2.1): the fetcher's idea of the epoch must match, for followers and
        // consumers alike, and it is checked before leadership (`Partition.fetchRecords`
        // through `getLocalLog`): a fetcher that missed an epoch change is fenced even by a
        // replica that no longer leads.
        if let Some(error) = self.current_leader_epoch_error(p, fp.current_leader_epoch) {
            return Some(error);
        }
        if !matches!(p.role, Role::Leader(_)) {
            return Some(ErrorCode::NotLeaderOrFollower);
        }
        None
    }

    /// Kafka's `Partition.checkCurrentLeaderEpoch` (KIP-320, from 2.1): an asker whose idea
    /// of the current leader epoch is older than this replica's is fenced
    /// (FENCED_LEADER_EPOCH), one that is newer is ahead of this broker
    /// (UNKNOWN_LEADER_EPOCH). Before 2.1 requests carry no epoch to check (`FetchRequest`
    /// v10, `OffsetsForLeaderEpoch` v2 and `ListOffsets` v4 added it), and an asker that
    /// sends none is never fenced.
    fn current_leader_epoch_error(
        &self,
        p: &PartitionState,
        current_leader_epoch: Option<LeaderEpoch>,
    ) -> Option<ErrorCode> {
        let epoch = current_leader_epoch.filter(|_| self.protocol().uses_kip_320())?;
        if epoch < p.leader_epoch {
            Some(ErrorCode::FencedLeaderEpoch)
        } else if epoch > p.leader_epoch {
            Some(ErrorCode::UnknownLeaderEpoch)
        } else {
            None
        }
    }

    /// Kafka checks a follower's divergence before it reads the log, so a longer follower
    /// log that diverged is truncated by epoch; only a fetch with nothing to say about
    /// epochs falls through to OFFSET_OUT_OF_RANGE: an offset past the log end, or below
    /// the log start offset (`ReplicaManager.readFromLocalLog` through `UnifiedLog.read`,
    /// `LocalLog.read`'s `OffsetOutOfRangeException`).
    pub(super) fn out_of_range(&self, fp: &FetchPartition) -> bool {
        self.disk.logs[&fp.tp].offset_range(fp.fetch_offset) != OffsetRange::InRange
    }

    /// KIP-595's truncation on fetch (used by replica fetchers from 2.7): the follower's last
    /// fetched epoch must end at or after its fetch offset on the leader, else the leader
    /// names where that epoch ends.
    pub(super) fn diverging_epoch(&self, fp: &FetchPartition) -> Option<EpochEndOffset> {
        let last_epoch = fp.last_fetched_epoch?;
        let log = self.disk.logs.get(&fp.tp)?;
        // Only 2.7+ brokers at protocol 2.7+ fetch with a last fetched epoch.
        let (epoch, end_offset) = log
            .end_offset_for_epoch(last_epoch, EndOffsetRules::LATEST)
            .unwrap_or((-1, 0));
        if epoch < last_epoch || end_offset < fp.fetch_offset {
            Some(EpochEndOffset {
                tp: fp.tp.clone(),
                error: ErrorCode::None,
                leader_epoch: epoch,
                end_offset,
            })
        } else {
            None
        }
    }

    /// Where a read stops (`UnifiedLog.read`'s `maxOffsetMetadata` by `FetchIsolation`).
    pub(super) fn fetch_upper_bound(&self, tp: &TopicPartition, isolation: FetchIsolation) -> u64 {
        let log = &self.disk.logs[tp];
        match isolation {
            FetchIsolation::LogEnd => log.log_end_offset(),
            FetchIsolation::HighWatermark => self.high_watermark(tp),
            FetchIsolation::TxnCommitted => log.last_stable_offset(self.high_watermark(tp)),
        }
    }

    /// Kafka's `DelayedFetch.tryComplete` for one partition: an error, a diverging epoch,
    /// an offset out of range, or something to read.
    pub(super) fn partition_has_something(
        &self,
        fp: &FetchPartition,
        isolation: FetchIsolation,
    ) -> bool {
        self.fetch_error(fp).is_some()
            || self.diverging_epoch(fp).is_some()
            || self.out_of_range(fp)
            || fp.fetch_offset < self.fetch_upper_bound(&fp.tp, isolation)
    }

    pub(super) fn fetch_has_something(&self, request: &DelayedFetch) -> bool {
        request
            .partitions
            .iter()
            .any(|fp| self.partition_has_something(fp, request.isolation))
    }

    /// One partition's part of a fetch answer.
    pub(super) fn read_partition(
        &self,
        fp: &FetchPartition,
        isolation: FetchIsolation,
    ) -> FetchPartitionResponse {
        let hw = self.high_watermark(&fp.tp);
        let (leo, log_start, lso) = self.disk.logs.get(&fp.tp).map_or((0, 0, 0), |l| {
            (
                l.log_end_offset(),
                l.log_start_offset(),
                l.last_stable_offset(hw),
            )
        });
        debug_assert!(
            hw <= leo,
            "the HW never passes the LEO: {} {hw} > {leo}",
            fp.tp
        );
        let leader_epoch = self.partitions.get(&fp.tp).map_or(-1, |p| p.leader_epoch);
        let mut response = FetchPartitionResponse {
            tp: fp.tp.clone(),
            error: ErrorCode::None,
            high_watermark: hw,
            log_start_offset: log_start,
            log_end_offset: leo,
            last_stable_offset: lso,
            aborted_transactions: Vec::new(),
            leader_epoch,
            records: Vec::new(),
            diverging_epoch: None,
        };
        if let Some(error) = self.fetch_error(fp) {
            response.error = error;
        } else if let Some(diverging) = self.diverging_epoch(fp) {
            response.diverging_epoch = Some(diverging);
        } else if self.out_of_range(fp) {
            response.error = ErrorCode::OffsetOutOfRange;
        } else {
            let upper = self.fetch_upper_bound(&fp.tp, isolation);
            let log = &self.disk.logs[&fp.tp];
            response.records = log.read(fp.fetch_offset, upper, FETCH_MAX_RECORDS);
            if isolation == FetchIsolation::TxnCommitted {
                // `UnifiedLog.read` with `FetchTxnCommitted`: the aborted transactions that
                // overlap what was read, up to the end of its last batch.
                let read_end = response
                    .records
                    .last()
                    .map_or(fp.fetch_offset, RecordBatch::next_offset);
                response.aborted_transactions = log
                    .aborted_transactions(fp.fetch_offset, read_end)
                    .into_iter()
                    .map(|t| AbortedTransaction {
                        producer_id: t.producer_id,
                        first_offset: t.first_offset,
                    })
                    .collect();
            }
            if !self.protocol().uses_leader_epochs() {
                starts_at_the_offset(&mut response.records, fp.fetch_offset);
            }
        }
        response
    }

    /// Answers a fetch. A full or sessionless answer carries every partition it read; an
    /// incremental one only those with news for the follower: records, an error, a diverging
    /// epoch, or a high watermark or log start offset it has not been told yet (Kafka's
    /// `CachedPartition.maybeUpdateResponseData`).
    pub(super) fn answer_fetch(&mut self, request: DelayedFetch, out: &mut Output<BrokerTimer>) {
        let session_id = request.context.session_id();
        if let Some(id) = session_id {
            self.parked_fetches.remove(&id);
        }
        let (partitions, incremental) = match request.context {
            FetchContext::Incremental { session_id } => {
                let live = self.fetch_sessions.get(session_id).is_some();
                let news = if live {
                    self.session_news(session_id)
                } else {
                    Vec::new()
                };
                (news, true)
            }
            _ => (request.partitions, false),
        };
        let mut responses = Vec::new();
        for fp in &partitions {
            let response = self.read_partition(fp, request.isolation);
            let quiet = response.error == ErrorCode::None
                && response.diverging_epoch.is_none()
                && response.records.is_empty();
            // Settled once quiet: nothing more to say until something changes (which marks
            // the partition again).
            let settled = quiet
                && request
                    .replica_id
                    .is_none_or(|r| self.follows_session(&fp.tp, r));
            let Some(session) = session_id.and_then(|id| self.fetch_sessions.get_mut(id)) else {
                responses.push(response);
                continue;
            };
            let Some(cached) = session.partitions.get_mut(&fp.tp) else {
                continue;
            };
            let news = !quiet
                || cached.high_watermark_sent != Some(response.high_watermark)
                || cached.log_start_offset_sent != Some(response.log_start_offset);
            cached.high_watermark_sent = Some(response.high_watermark);
            cached.log_start_offset_sent = Some(response.log_start_offset);
            if settled {
                session.dirty.remove(&fp.tp);
            }
            if !incremental || news {
                responses.push(response);
            }
        }
        out.send(
            request.from,
            Message::FetchResponse(FetchResponse {
                correlation_id: request.correlation_id,
                error: ErrorCode::None,
                session_id: session_id.unwrap_or(0),
                partitions: responses,
            }),
        );
    }

    /// Whether `follower`'s state for `tp` follows its fetch session's times.
    pub(super) fn follows_session(&self, tp: &TopicPartition, follower: BrokerId) -> bool {
        matches!(
            self.partitions.get(tp).map(|p| &p.role),
            Some(Role::Leader(l)) if l.followers.get(&follower).is_some_and(|f| f.session.is_some())
        )
    }

    /// Kafka's `delayedFetchPurgatory.checkAndComplete(key)`: something changed on `tp`, so
    /// every waiting fetch that reads it looks again. A session fetch looks only at `tp`:
    /// nothing else of it had anything when it began to wait, and every change since has come
    /// through here with its own partition.
    pub(super) fn complete_delayed_fetches(
        &mut self,
        tp: &TopicPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        let mut ready: Vec<u64> = self
            .delayed_fetches
            .iter()
            .filter(|(_, d)| {
                d.context == FetchContext::Sessionless
                    && d.partitions.iter().any(|fp| &fp.tp == tp)
                    && self.fetch_has_something(d)
            })
            .map(|(id, _)| *id)
            .collect();
        for session_id in self.fetch_sessions.sessions_of(tp) {
            let Some(id) = self.parked_fetches.get(&session_id).copied() else {
                continue;
            };
            let session = self.fetch_sessions.get(session_id).expect("listed");
            let fp = &session.partitions[tp].fetch;
            let isolation = self.delayed_fetches[&id].isolation;
            if self.partition_has_something(fp, isolation) {
                ready.push(id);
            }
        }
        ready.sort_unstable();
        for id in ready {
            let d = self.delayed_fetches.remove(&id).expect("present");
            self.answer_fetch(d, out);
        }
    }

    /// Why an OffsetsForLeaderEpoch partition gets no answer, in Kafka's order
    /// (`Partition.lastOffsetForLeaderEpoch` through `getLocalLog`): first the asker's idea of
    /// the current leader epoch (KIP-320, from 2.1: FENCED_LEADER_EPOCH when it is older than
    /// this replica's, UNKNOWN_LEADER_EPOCH when newer), then whether this broker leads.
    fn epoch_lookup_error(&self, req: &OffsetForLeaderEpochPartition) -> Option<ErrorCode> {
        let Some(p) = self.partitions.get(&req.tp) else {
            return Some(ErrorCode::NotLeaderOrFollower);
        };
        if let Some(error) = self.current_leader_epoch_error(p, req.current_leader_epoch) {
            return Some(error);
        }
        if !matches!(p.role, Role::Leader(_)) {
            return Some(ErrorCode::NotLeaderOrFollower);
        }
        None
    }

    pub(super) fn on_offsets_for_leader_epoch(
        &mut self,
        from: NodeId,
        request: OffsetsForLeaderEpochRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        let rules = EndOffsetRules {
            kip_279: self.protocol().uses_kip_279(),
            answers_below_cache: self.release().answers_epochs_below_the_cache(),
        };
        let answers = request
            .partitions
            .into_iter()
            .map(|req| {
                if let Some(error) = self.epoch_lookup_error(&req) {
                    return EpochEndOffset {
                        tp: req.tp,
                        error,
                        leader_epoch: -1,
                        end_offset: 0,
                    };
                }
                let log = &self.disk.logs[&req.tp];
                let (leader_epoch, end_offset) = log
                    .end_offset_for_epoch(req.leader_epoch, rules)
                    .unwrap_or((-1, 0));
                debug_assert!(
                    end_offset <= log.log_end_offset(),
                    "an epoch ends at or below the leader's LEO"
                );
                EpochEndOffset {
                    tp: req.tp,
                    error: ErrorCode::None,
                    leader_epoch,
                    end_offset,
                }
            })
            .collect();
        out.send(
            from,
            Message::OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse {
                correlation_id: request.correlation_id,
                partitions: answers,
            }),
        );
    }
}

/// Before 0.11 (message format v0/v1, which is all a protocol without leader epochs may
/// write), an uncompressed message set is addressed message by message: a read starts at the
/// fetch offset itself, not at the start of the batch around it. A follower that truncated to
/// its high watermark in the middle of what the leader wrote as one batch fetches from there
/// and appends the rest, which is how the old protocol's replicas come to diverge (KIP-101).
fn starts_at_the_offset(batches: &mut Vec<RecordBatch>, fetch_offset: u64) {
    if let Some(first) = batches.first() {
        match first.from_offset(fetch_offset) {
            Some(trimmed) => batches[0] = trimmed,
            None => {
                batches.remove(0);
            }
        }
    }
}
