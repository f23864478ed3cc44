//! The follower side of replication (Kafka's `AbstractFetcherThread` and
//! `ReplicaFetcherThread`): one fetcher per leader with at most one request in flight, the
//! fetch session it keeps with that leader, and truncation when the follower's log and the
//! leader's diverge.
//!
//! How a follower finds the divergence point is what changed across versions: before KIP-101
//! it cuts to its own high watermark (in `make_follower`); from 0.11 to 2.6 it first asks the
//! leader with OffsetsForLeaderEpoch; from 2.7 (KIP-595's truncation on fetch) the fetch
//! response itself names a diverging epoch.

use super::partition::{FetchReadiness, Role};
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::event::{Event, TruncateReason};
use crate::fetch_session::{FetchMetadata, FetchSessionHandler};
use crate::log::EndOffsetRules;
use crate::protocol::*;
use crate::types::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub(super) struct Fetcher {
    pub(super) in_flight: Option<u64>,
    pub(super) backing_off: bool,
    /// The fetch session with this leader (from 1.1, KIP-227).
    pub(super) session: FetchSessionHandler,
    /// What the request in flight said about its session.
    pub(super) in_flight_session: Option<FetchMetadata>,
    /// Without a session, the offset the request in flight fetched each partition from (with
    /// one, the session holds it): an answer is used only if the partition still fetches
    /// from there (`AbstractFetcherThread.processFetchRequest` compares
    /// `currentFetchState.fetchOffset` with the request's).
    pub(super) in_flight_offsets: BTreeMap<TopicPartition, u64>,
}

impl Broker {
    pub(super) fn followed_partitions(&self, leader_id: BrokerId) -> Vec<(TopicPartition, bool)> {
        self.partitions
            .iter()
            .filter_map(|(tp, p)| match &p.role {
                Role::Follower {
                    leader: Some(l),
                    needs_epoch_lookup,
                    fetch: FetchReadiness::Ready,
                    ..
                } if *l == leader_id => Some((tp.clone(), *needs_epoch_lookup)),
                _ => None,
            })
            .collect()
    }

    /// The partitions followed from `leader_id` the next request must consider: every one
    /// for a full request (or without fetch sessions), else those whose state changed. A
    /// partition that is delayed or failed is left out, so a session forgets it until it is
    /// ready again (Kafka's `AbstractFetcherThread.buildFetch` takes only partitions
    /// `isReadyForFetch`).
    pub(super) fn fetch_candidates(
        &self,
        leader_id: BrokerId,
        full: bool,
    ) -> Vec<(TopicPartition, bool)> {
        if full {
            return self.followed_partitions(leader_id);
        }
        self.fetchers[&leader_id]
            .session
            .dirty()
            .iter()
            .filter_map(|tp| match &self.partitions.get(tp)?.role {
                Role::Follower {
                    leader: Some(l),
                    needs_epoch_lookup,
                    fetch: FetchReadiness::Ready,
                    ..
                } if *l == leader_id => Some((tp.clone(), *needs_epoch_lookup)),
                _ => None,
            })
            .collect()
    }

    /// A follower's fetch state for `tp`: where it fetches from, and what it knows of epochs.
    pub(super) fn fetch_partition(&self, tp: &TopicPartition) -> FetchPartition {
        debug_assert!(
            matches!(self.partitions[tp].role, Role::Follower { .. }),
            "a replica fetches only partitions it follows: {} fetches {tp}",
            self.id
        );
        let protocol = self.protocol();
        let log = &self.disk.logs[tp];
        FetchPartition {
            tp: tp.clone(),
            fetch_offset: log.log_end_offset(),
            last_fetched_epoch: if protocol.uses_truncation_on_fetch() {
                log.latest_epoch()
            } else {
                None
            },
            current_leader_epoch: protocol
                .uses_kip_320()
                .then(|| self.partitions[tp].leader_epoch),
            log_start_offset: Some(log.log_start_offset()),
        }
    }

    /// Kafka's `AbstractFetcherThread.maybeFetch`: one request in flight per leader. From
    /// 1.1 it goes through the fetch session (KIP-227): full once, then incremental.
    pub(super) fn maybe_fetch(&mut self, leader_id: BrokerId, out: &mut Output<BrokerTimer>) {
        debug_assert_ne!(leader_id, self.id, "a replica never fetches from itself");
        let sessions = self.protocol().uses_fetch_sessions();
        let fetcher = self.fetchers.entry(leader_id).or_default();
        if fetcher.in_flight.is_some() || fetcher.backing_off {
            return;
        }
        let full = !sessions || fetcher.session.needs_full();
        if !full && fetcher.session.is_empty() {
            return;
        }
        let candidates = self.fetch_candidates(leader_id, full);
        if full && candidates.is_empty() {
            return;
        }
        let correlation_id = self.next_correlation();
        let protocol = self.protocol();
        let lookups: Vec<&(TopicPartition, bool)> = candidates.iter().filter(|(_, n)| *n).collect();
        let mut sent_session = None;
        let message = if !lookups.is_empty() {
            // KIP-101 (Kafka 0.11 to 2.6): ask where our latest epoch ends before fetching.
            Message::OffsetsForLeaderEpoch(OffsetsForLeaderEpochRequest {
                correlation_id,
                replica_id: Some(self.id),
                partitions: lookups
                    .iter()
                    .map(|(tp, _)| OffsetForLeaderEpochPartition {
                        tp: tp.clone(),
                        current_leader_epoch: protocol
                            .uses_kip_320()
                            .then(|| self.partitions[tp].leader_epoch),
                        leader_epoch: self.disk.logs[tp].latest_epoch().unwrap_or(-1),
                    })
                    .collect(),
            })
        } else {
            let wanted: Vec<FetchPartition> = candidates
                .iter()
                .map(|(tp, _)| self.fetch_partition(tp))
                .collect();
            let fetcher = self.fetchers.get_mut(&leader_id).expect("fetcher");
            let (session, partitions, forgotten) = if sessions {
                // The session remembers each partition's fetch offset as last sent: the
                // leader answers from those, so the answer is checked against them.
                fetcher.in_flight_offsets.clear();
                let data = fetcher.session.build(wanted);
                sent_session = Some(data.metadata);
                (data.metadata, data.partitions, data.forgotten)
            } else {
                // A request without a session lists every partition with its offset.
                fetcher.in_flight_offsets = wanted
                    .iter()
                    .map(|fp| (fp.tp.clone(), fp.fetch_offset))
                    .collect();
                (FetchMetadata::SESSIONLESS, wanted, Vec::new())
            };
            Message::Fetch(FetchRequest {
                correlation_id,
                replica_id: Some(self.id),
                max_wait_ms: self.config.replica_fetch_wait_max_ms,
                session,
                partitions,
                forgotten,
                // `ReplicaFetcherThread`: a follower reads everything (`FetchIsolation.LOG_END`).
                isolation_level: IsolationLevel::ReadUncommitted,
            })
        };
        let fetcher = self.fetchers.get_mut(&leader_id).expect("fetcher");
        fetcher.in_flight = Some(correlation_id);
        fetcher.in_flight_session = sent_session;
        out.send(NodeId::Broker(leader_id), message);
        out.timer(
            self.config.replica_socket_timeout_ms,
            BrokerTimer::FetchTimeout {
                leader: leader_id,
                correlation_id,
            },
        );
    }

    /// `tp`'s fetch state changed (an append, a truncation, a new leader): the next request
    /// to `leader_id` says so.
    pub(super) fn fetch_state_changed(&mut self, tp: &TopicPartition, leader_id: BrokerId) {
        self.fetchers
            .entry(leader_id)
            .or_default()
            .session
            .mark_dirty(tp);
    }

    /// `tp` may no longer be fetched from the leaders it was: their sessions forget it.
    pub(super) fn stop_fetching(&mut self, tp: &TopicPartition) {
        for fetcher in self.fetchers.values_mut() {
            fetcher.session.mark_dirty(tp);
        }
    }

    /// Takes a fetcher's in-flight slot for a response; `None` if it is not the one awaited.
    pub(super) fn take_fetch_slot(
        &mut self,
        from: NodeId,
        correlation_id: u64,
    ) -> Option<BrokerId> {
        let NodeId::Broker(leader_id) = from else {
            return None;
        };
        let fetcher = self.fetchers.get_mut(&leader_id)?;
        if fetcher.in_flight != Some(correlation_id) {
            return None;
        }
        fetcher.in_flight = None;
        Some(leader_id)
    }

    /// Kafka's `AbstractFetcherThread.processFetchRequest` (and `truncateToEpochEndOffsets`)
    /// on a partition's error: fenced at the epoch the request carried, the partition waits
    /// for its next LeaderAndIsr (`onPartitionFenced`); any other error delays only that
    /// partition by `replica.fetch.backoff.ms` (`handlePartitionsWithErrors`), while the
    /// fetcher goes on with the rest.
    pub(super) fn on_partition_error(
        &mut self,
        leader_id: BrokerId,
        tp: &TopicPartition,
        error: ErrorCode,
        out: &mut Output<BrokerTimer>,
    ) {
        debug_assert_ne!(error, ErrorCode::None, "only an error delays a partition");
        let fenced_at_own_epoch = error == ErrorCode::FencedLeaderEpoch
            && self.requested_epoch(leader_id, tp) == Some(self.partitions[tp].leader_epoch);
        if fenced_at_own_epoch {
            self.set_fetch_readiness(tp, FetchReadiness::Failed);
            self.fetch_state_changed(tp, leader_id);
        } else {
            self.delay_partition(tp, out);
        }
    }

    /// The leader epoch the fetch session last sent for `tp` to `leader_id`.
    fn requested_epoch(&self, leader_id: BrokerId, tp: &TopicPartition) -> Option<LeaderEpoch> {
        self.fetchers
            .get(&leader_id)?
            .session
            .sent_partition(tp)?
            .current_leader_epoch
    }

    /// Kafka's `AbstractFetcherThread.delayPartitions`: `tp` sits out for
    /// `replica.fetch.backoff.ms`; the session forgets it meanwhile.
    pub(super) fn delay_partition(&mut self, tp: &TopicPartition, out: &mut Output<BrokerTimer>) {
        let Some(p) = self.partitions.get(tp) else {
            return;
        };
        let Role::Follower {
            leader: Some(leader_id),
            fetch: FetchReadiness::Ready,
            fetch_started_epoch: leader_epoch,
            ..
        } = p.role
        else {
            return;
        };
        self.set_fetch_readiness(tp, FetchReadiness::Delayed);
        self.fetch_state_changed(tp, leader_id);
        out.timer(
            self.config.replica_fetch_backoff_ms,
            BrokerTimer::PartitionFetchBackoff {
                tp: tp.clone(),
                leader_epoch,
            },
        );
    }

    /// A delayed partition's backoff is over: it fetches again, unless a LeaderAndIsr has
    /// started it afresh meanwhile.
    pub(super) fn end_partition_delay(
        &mut self,
        tp: &TopicPartition,
        leader_epoch: LeaderEpoch,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(p) = self.partitions.get(tp) else {
            return;
        };
        let Role::Follower {
            leader: Some(leader_id),
            fetch: FetchReadiness::Delayed,
            fetch_started_epoch,
            ..
        } = p.role
        else {
            return;
        };
        if fetch_started_epoch != leader_epoch {
            return;
        }
        self.set_fetch_readiness(tp, FetchReadiness::Ready);
        self.fetch_state_changed(tp, leader_id);
        self.maybe_fetch(leader_id, out);
    }

    fn set_fetch_readiness(&mut self, tp: &TopicPartition, readiness: FetchReadiness) {
        if let Some(Role::Follower { fetch, .. }) = self.partitions.get_mut(tp).map(|p| &mut p.role)
        {
            *fetch = readiness;
        }
    }

    /// The connection to `peer` was reset or refused (the peer crashed). Kafka's
    /// `NetworkClient` fails the requests in flight on it at once; for the fetcher that is
    /// `AbstractFetcherThread.processFetchRequest`'s failed fetch: every partition waits
    /// `replica.fetch.backoff.ms`, then the fetcher tries again (a new connection, a new
    /// fetch session). Without this a follower would wait out `replica.socket.timeout.ms`.
    pub(super) fn on_disconnected(&mut self, peer: NodeId, out: &mut Output<BrokerTimer>) {
        let NodeId::Broker(leader_id) = peer else {
            return;
        };
        let Some(fetcher) = self.fetchers.get_mut(&leader_id) else {
            return;
        };
        if fetcher.in_flight.take().is_some() {
            self.fetch_failed(leader_id, out);
        }
    }

    /// The request in flight to `leader_id` got no answer (timed out or disconnected): its
    /// fetch session is in doubt, so the next request starts a new one, after a backoff.
    pub(super) fn fetch_failed(&mut self, leader_id: BrokerId, out: &mut Output<BrokerTimer>) {
        let fetcher = self.fetchers.get_mut(&leader_id).expect("fetcher");
        debug_assert!(fetcher.in_flight.is_none(), "the slot was taken first");
        if fetcher.in_flight_session.take().is_some() {
            fetcher.session.handle_error();
        }
        self.back_off(leader_id, out);
    }

    pub(super) fn back_off(&mut self, leader_id: BrokerId, out: &mut Output<BrokerTimer>) {
        let fetcher = self.fetchers.entry(leader_id).or_default();
        if !fetcher.backing_off {
            fetcher.backing_off = true;
            out.timer(
                self.config.replica_fetch_backoff_ms,
                BrokerTimer::FetchBackoff { leader: leader_id },
            );
        }
    }

    pub(super) fn is_following(&self, tp: &TopicPartition, leader_id: BrokerId) -> bool {
        matches!(
            self.partitions.get(tp).map(|p| &p.role),
            Some(Role::Follower { leader: Some(l), .. }) if *l == leader_id
        )
    }

    pub(super) fn on_fetch_response(
        &mut self,
        now_ms: u64,
        from: NodeId,
        response: FetchResponse,
        out: &mut Output<BrokerTimer>,
    ) {
        let FetchResponse {
            correlation_id,
            error,
            session_id,
            partitions,
        } = response;
        let Some(leader_id) = self.take_fetch_slot(from, correlation_id) else {
            return;
        };
        let fetcher = self.fetchers.get_mut(&leader_id).expect("fetcher");
        if let Some(sent) = fetcher.in_flight_session.take() {
            fetcher.session.handle_response(sent, error, session_id);
        }
        // Each partition's fetch offset in the request answered: the request's own list
        // without a session, else the session's state, which no later request has changed
        // (one request is in flight per leader).
        let mut fetched_from = std::mem::take(&mut fetcher.in_flight_offsets);
        if fetched_from.is_empty() {
            fetched_from = partitions
                .iter()
                .filter_map(|r| {
                    let sent = fetcher.session.sent_partition(&r.tp)?;
                    Some((r.tp.clone(), sent.fetch_offset))
                })
                .collect();
        }
        if error != ErrorCode::None {
            // The session is gone (the leader restarted) or out of step: Kafka's fetcher
            // starts a new one with its next request, at once.
            self.maybe_fetch(leader_id, out);
            return;
        }
        for r in partitions {
            if !self.is_following(&r.tp, leader_id) {
                continue;
            }
            match r.error {
                ErrorCode::None => {}
                ErrorCode::OffsetOutOfRange => {
                    self.on_offset_out_of_range(now_ms, &r, fetched_from.get(&r.tp), out);
                    continue;
                }
                error => {
                    self.on_partition_error(leader_id, &r.tp, error, out);
                    continue;
                }
            }
            if let Some(diverging) = r.diverging_epoch {
                let before = self.disk.logs[&r.tp].log_end_offset();
                self.truncate_to_epoch_end(&r.tp, &diverging, out);
                if self.disk.logs[&r.tp].log_end_offset() == before {
                    // No progress: do not spin on the same answer; try again after a pause.
                    self.delay_partition(&r.tp, out);
                }
                continue;
            }
            if !r.records.is_empty() {
                let log = self.disk.logs.get_mut(&r.tp).expect("log");
                if fetched_from.get(&r.tp) != Some(&log.log_end_offset()) {
                    continue; // a stale response for an offset we no longer fetch from
                }
                // `Partition.appendRecordsToFollowerOrFutureReplica`: an empty log that
                // starts inside the first batch (it restarted at a log start offset that
                // DeleteRecords put mid-batch) starts again at the batch's base offset.
                let (first_base, first_last) = (r.records[0].base_offset, r.records[0].last_offset);
                let leo = log.log_end_offset();
                if first_base < leo && leo == log.log_start_offset() && first_last >= leo {
                    self.restart_log_at(&r.tp, first_base, now_ms, out);
                }
                let markers = appended_markers(&r.records);
                let log = self.disk.logs.get_mut(&r.tp).expect("log");
                let (appended, roll) = log.append_as_follower_rolling(r.records, now_ms);
                let leo = log.log_end_offset();
                self.note_roll(&r.tp, roll, out);
                out.event(Event::Appended {
                    broker: self.id,
                    tp: r.tp.clone(),
                    as_leader: false,
                    records: appended,
                    log_end_offset: leo,
                    markers,
                });
                self.fetch_state_changed(&r.tp, leader_id);
                self.maybe_flush(&r.tp, now_ms, out);
            }
            let leo = self.disk.logs[&r.tp].log_end_offset();
            self.set_high_watermark(&r.tp, r.high_watermark.min(leo), out);
            debug_assert!(
                self.high_watermark(&r.tp) <= leo,
                "the HW never passes the LEO"
            );
            self.adopt_leader_log_start_offset(&r.tp, r.log_start_offset, out);
        }
        self.maybe_fetch(leader_id, out);
    }

    /// Kafka's `AbstractFetcherThread.handleOutOfRangeError` (`fetchOffsetAndTruncate`): a
    /// log longer than the leader's is cut to the leader's end; a log that ends below the
    /// leader's log start offset restarts there; otherwise the partition fetches again from
    /// its log end. Kafka asks the leader's offsets with ListOffsets; the model reads them
    /// from the answer (the same values, one round trip fresher).
    fn on_offset_out_of_range(
        &mut self,
        now_ms: u64,
        r: &FetchPartitionResponse,
        fetched_from: Option<&u64>,
        out: &mut Output<BrokerTimer>,
    ) {
        let leo = self.disk.logs[&r.tp].log_end_offset();
        if leo > r.log_end_offset {
            self.truncate(
                &r.tp,
                r.log_end_offset,
                TruncateReason::OffsetOutOfRange {
                    leader_log_end_offset: r.log_end_offset,
                },
                out,
            );
        } else if leo < r.log_start_offset && fetched_from == Some(&leo) {
            self.restart_log_at(&r.tp, r.log_start_offset, now_ms, out);
        }
    }

    pub(super) fn on_offsets_for_leader_epoch_response(
        &mut self,
        from: NodeId,
        response: OffsetsForLeaderEpochResponse,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(leader_id) = self.take_fetch_slot(from, response.correlation_id) else {
            return;
        };
        for r in response.partitions {
            if !self.is_following(&r.tp, leader_id) {
                continue;
            }
            if r.error != ErrorCode::None {
                self.on_partition_error(leader_id, &r.tp, r.error, out);
                continue;
            }
            let complete = self.truncate_to_epoch_end(&r.tp, &r, out);
            if complete {
                if let Some(p) = self.partitions.get_mut(&r.tp) {
                    if let Role::Follower {
                        needs_epoch_lookup, ..
                    } = &mut p.role
                    {
                        *needs_epoch_lookup = false;
                    }
                }
                self.fetch_state_changed(&r.tp, leader_id);
            }
        }
        self.maybe_fetch(leader_id, out);
    }

    /// Kafka's `getOffsetTruncationState`: where to cut, given where the leader says an epoch
    /// ends. Returns whether truncation is complete (false: ask again with an older epoch,
    /// the KIP-279 walk back).
    pub(super) fn truncate_to_epoch_end(
        &mut self,
        tp: &TopicPartition,
        leader: &EpochEndOffset,
        out: &mut Output<BrokerTimer>,
    ) -> bool {
        let log = &self.disk.logs[tp];
        let leo = log.log_end_offset();
        let kip_279 = self.protocol().uses_kip_279();
        if leader.leader_epoch < 0 {
            // The leader knows no epoch at or below ours: fall back to our high watermark.
            let hw = self.high_watermark(tp);
            self.truncate(
                tp,
                hw,
                TruncateReason::HighWatermark { high_watermark: hw },
                out,
            );
            return true;
        }
        let (offset, complete) = if !kip_279 {
            // KIP-101 as first shipped: trust the leader's end offset for our epoch.
            (leader.end_offset.min(leo), true)
        } else {
            match log.end_offset_for_epoch(leader.leader_epoch, EndOffsetRules::LATEST) {
                Some((epoch, end)) if epoch == leader.leader_epoch => {
                    (leader.end_offset.min(end).min(leo), true)
                }
                Some((_, end)) => (end.min(leo), false),
                None => (0, true),
            }
        };
        debug_assert!(offset <= leo, "a truncation never extends the log");
        self.truncate(
            tp,
            offset,
            TruncateReason::LeaderEpoch {
                epoch: leader.leader_epoch,
                leader_end_offset: leader.end_offset,
            },
            out,
        );
        complete
    }

    pub(super) fn truncate(
        &mut self,
        tp: &TopicPartition,
        offset: u64,
        reason: TruncateReason,
        out: &mut Output<BrokerTimer>,
    ) {
        let log = self.disk.logs.get_mut(tp).expect("log");
        let from = log.log_end_offset();
        if !log.truncate_to(offset) {
            // Nothing to cut, but the decision is part of the story: record it.
            let decision = matches!(
                reason,
                TruncateReason::HighWatermark { .. } | TruncateReason::LeaderEpoch { .. }
            );
            if decision && from > 0 {
                out.event(Event::Truncated {
                    broker: self.id,
                    tp: tp.clone(),
                    from_log_end_offset: from,
                    to_offset: from,
                    reason,
                });
            }
            return;
        }
        let to = log.log_end_offset();
        out.event(Event::Truncated {
            broker: self.id,
            tp: tp.clone(),
            from_log_end_offset: from,
            to_offset: to,
            reason,
        });
        if let Some(Role::Follower {
            leader: Some(leader),
            ..
        }) = self.partitions.get(tp).map(|p| &p.role)
        {
            let leader = *leader;
            self.fetch_state_changed(tp, leader);
        }
        if self.high_watermark(tp) > to {
            self.set_high_watermark(tp, to, out);
        }
        assert!(
            self.high_watermark(tp) <= to,
            "the HW never passes the LEO: {tp} truncated to {to}"
        );
    }
}

/// The transaction markers among fetched batches, for the `Appended` event: a control
/// batch holds no record the event could list.
fn appended_markers(batches: &[crate::types::RecordBatch]) -> Vec<crate::event::AppendedMarker> {
    batches
        .iter()
        .filter_map(|b| {
            let (control, stamp) = (b.control?, b.producer?);
            Some(crate::event::AppendedMarker {
                offset: b.base_offset,
                producer_id: stamp.producer_id,
                producer_epoch: stamp.producer_epoch,
                control_type: control.control_type,
            })
        })
        .collect()
}
