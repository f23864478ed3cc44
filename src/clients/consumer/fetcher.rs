//! Kafka's `Fetcher`, with the fetch positions of `SubscriptionState`.
//!
//! Why its own file: this is where records reach the consumer. One fetch per leader at a
//! time, positions that move only with records handed over, a stale answer dropped as Kafka's
//! `Fetcher` drops it, and a broker that answers with an error backed off for
//! `retry.backoff.ms` while metadata is refreshed.

use super::{Consumer, ConsumerTimer, MemberState};
use crate::actor::Output;
use crate::event::{ConsumerException, Event};
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

impl Consumer {
    pub(super) fn fetchable_partitions(&self) -> Vec<TopicPartition> {
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

    /// Sends what can be sent: ListOffsets for partitions without a position, one Fetch per
    /// leader for the rest.
    ///
    /// While an exception waits for the application's next `poll()` to throw it, nothing is
    /// sent: the partition it is about keeps its position, and asking again would only
    /// repeat the answer.
    pub(super) fn poll(&mut self, out: &mut Output<ConsumerTimer>) {
        if !self.started || self.stopped || self.pending_exception.is_some() {
            return;
        }
        let tps = self.fetchable_partitions();
        let mut by_leader: BTreeMap<BrokerId, Vec<FetchPartition>> = BTreeMap::new();
        for tp in tps {
            let Some((leader, epoch)) = self.leader(&tp) else {
                continue;
            };
            match self.positions.get(&tp) {
                None => self.reset_position(tp, leader, epoch, out),
                Some(_) if self.awaiting_validation.contains_key(&tp) => {
                    self.validate_position(tp, leader, epoch, out)
                }
                Some(&position) => {
                    by_leader.entry(leader).or_default().push(FetchPartition {
                        tp,
                        fetch_offset: position,
                        last_fetched_epoch: None,
                        current_leader_epoch: Some(epoch),
                        log_start_offset: None,
                    });
                }
            }
        }
        for (broker, partitions) in by_leader {
            if self.fetch_in_flight.contains_key(&broker) || self.backing_off.contains(&broker) {
                continue;
            }
            self.send_fetch(broker, partitions, out);
        }
    }

    /// One Fetch to `broker` for every partition it leads that has a position.
    fn send_fetch(
        &mut self,
        broker: BrokerId,
        partitions: Vec<FetchPartition>,
        out: &mut Output<ConsumerTimer>,
    ) {
        let correlation_id = self.correlation();
        self.fetch_in_flight.insert(broker, correlation_id);
        let offsets = partitions
            .iter()
            .map(|p| (p.tp.clone(), p.fetch_offset))
            .collect();
        self.fetch_offsets.insert(broker, offsets);
        out.send(
            NodeId::Broker(broker),
            Message::Fetch(FetchRequest {
                correlation_id,
                replica_id: None,
                max_wait_ms: self.config.fetch_max_wait_ms,
                session: crate::fetch_session::FetchMetadata::SESSIONLESS,
                partitions,
                forgotten: Vec::new(),
                isolation_level: self.config.isolation_level,
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

    pub(super) fn back_off(&mut self, broker: BrokerId, out: &mut Output<ConsumerTimer>) {
        if self.backing_off.insert(broker) {
            out.timer(
                self.config.retry_backoff_ms,
                ConsumerTimer::Backoff { broker },
            );
        }
        self.request_metadata(out);
    }

    pub(super) fn on_fetch_response(
        &mut self,
        from: NodeId,
        response: FetchResponse,
        out: &mut Output<ConsumerTimer>,
    ) {
        let NodeId::Broker(broker) = from else {
            return;
        };
        if self.fetch_in_flight.get(&broker) != Some(&response.correlation_id) {
            return;
        }
        self.fetch_in_flight.remove(&broker);
        let fetch_offsets = self.fetch_offsets.remove(&broker).unwrap_or_default();
        let mut trouble = false;
        for r in response.partitions {
            let Some(position) = self.current_position(&r.tp) else {
                continue;
            };
            let stale = fetch_offsets.get(&r.tp) != Some(&position);
            match r.error {
                // The position moved while the fetch was out (a reset to the committed offset
                // after a rejoin, a reset after OFFSET_OUT_OF_RANGE): Kafka's
                // `FetchCollector.handleInitializeSuccess` discards the answer ("Discarding
                // stale fetch response for partition ... since its offset ... does not match
                // the expected offset"), and `handleInitializeErrors` an out-of-range error
                // for the old offset; the next fetch asks from the position.
                ErrorCode::None | ErrorCode::OffsetOutOfRange if stale => {}
                ErrorCode::None => self.hand_over_records(broker, position, r, out),
                // `FetchCollector.handleOffsetOutOfRange`: with no reset policy the position
                // stays and `poll()` throws `OffsetOutOfRangeException`.
                ErrorCode::OffsetOutOfRange if !self.has_default_offset_reset_policy() => {
                    let exception = ConsumerException::OffsetOutOfRange { tp: r.tp, position };
                    self.raise(exception, out);
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

    /// The position an answer for `tp` is for, or `None` if the answer must be ignored, as
    /// Kafka's `FetchCollector` ignores it: the partition has no valid position (none yet, or
    /// one awaiting validation: `initialize`, "Ignoring fetched records for partition ...
    /// since it no longer has valid position") or is no longer assigned (`fetchRecords`, "Not
    /// returning fetched records for partition ... since it is no longer assigned"). This
    /// consumer has no `pause()`, so no partition is unfetchable otherwise.
    fn current_position(&self, tp: &TopicPartition) -> Option<u64> {
        if self.awaiting_validation.contains_key(tp) {
            return None;
        }
        if let Some(m) = &self.member {
            if !m.assigned.contains(tp) {
                return None;
            }
        }
        self.positions.get(tp).copied()
    }

    /// A partition's records from `position` on move the position past them and go to the
    /// application (into a group member's buffer, for `poll()` to return).
    fn hand_over_records(
        &mut self,
        broker: BrokerId,
        position: u64,
        r: FetchPartitionResponse,
        out: &mut Output<ConsumerTimer>,
    ) {
        // A batch may start before the fetch offset; the records before it are skipped, as
        // Kafka's `CompletedFetch.nextFetchedRecord` skips them.
        // The next position is after the last batch's last offset, whatever records the
        // cleaner left in it (`CompletedFetch`: `nextFetchOffset = batch.nextOffset()`), so a
        // consumer steps over compaction's gaps.
        let Some(last_batch) = r.records.last() else {
            return;
        };
        let next_position = last_batch.next_offset();
        let records: Vec<(u64, RecordId)> = visible_batches(
            &r.records,
            &r.aborted_transactions,
            self.config.isolation_level,
        )
        .into_iter()
        .flat_map(|b| b.records.iter())
        .filter(|rec| rec.offset >= position)
        .map(|rec| (rec.offset, rec.id))
        .collect();
        if next_position <= position {
            return;
        }
        self.last_epoch
            .insert(r.tp.clone(), last_batch.leader_epoch);
        self.positions.insert(r.tp.clone(), next_position);
        if let Some(m) = self.member.as_mut() {
            m.buffered
                .entry(r.tp.clone())
                .or_default()
                .extend(records.iter().copied());
        }
        if records.is_empty() {
            return; // only a gap, or an empty batch the cleaner kept: stepped over
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

/// The batches of a fetch answer whose records the application gets (Kafka's
/// `CompletedFetch.nextFetchedBatch`). Control batches never reach it (their records are
/// markers), and a `read_committed` consumer skips the transactional batches of a producer
/// from the first offset of one of its aborted transactions until its abort marker: it
/// learns of the aborted transactions from the answer (`consumeAbortedTransactionsUpTo`),
/// and the marker ends the skipping (`abortedProducerIds.remove`).
pub(super) fn visible_batches<'a>(
    batches: &'a [RecordBatch],
    aborted: &[AbortedTransaction],
    isolation_level: IsolationLevel,
) -> Vec<&'a RecordBatch> {
    let mut pending: Vec<AbortedTransaction> = aborted.to_vec();
    pending.sort_by_key(|t| (t.first_offset, t.producer_id));
    let mut pending = pending.into_iter().peekable();
    let mut aborted_producers: BTreeSet<i64> = BTreeSet::new();
    let mut visible = Vec::with_capacity(batches.len());
    for batch in batches {
        let read_committed = isolation_level == IsolationLevel::ReadCommitted;
        if let (true, Some(stamp)) = (read_committed, batch.producer) {
            while let Some(t) = pending.next_if(|t| t.first_offset <= batch.last_offset) {
                aborted_producers.insert(t.producer_id);
            }
            if batch.is_transactional()
                && !batch.is_control()
                && aborted_producers.contains(&stamp.producer_id)
            {
                continue;
            }
        }
        if let Some(marker) = batch.control {
            if read_committed && marker.is_abort() {
                if let Some(stamp) = batch.producer {
                    aborted_producers.remove(&stamp.producer_id);
                }
            }
            continue;
        }
        visible.push(batch);
    }
    visible
}
