//! Where a position comes from and whether it still holds: `ListOffsets` when there is none
//! (`auto.offset.reset`, Kafka's `Fetcher.resetPositionsIfNeeded`), and KIP-320's
//! `OffsetsForLeaderEpoch` after a leader change (`Fetcher.validatePositionsIfNeeded`).
//!
//! Why its own file: a consumer that skips validation reads on from a position the new
//! leader's log no longer has; the scenarios that show that read this code.
//!
//! With `auto.offset.reset = none` nothing is reset: Kafka's `poll()` throws to the
//! application (`LogTruncationException`, `OffsetOutOfRangeException`,
//! `NoOffsetForPartitionException`). The model's application does not catch it, as one that
//! was never written for it would not: the consumer stops, says why, and does nothing more.

use super::application::AppState;
use super::{Consumer, ConsumerTimer};
use crate::actor::Output;
use crate::config::AutoOffsetReset;
use crate::event::{ConsumerException, Event};
use crate::protocol::*;
use crate::types::*;

impl Consumer {
    /// Kafka's `SubscriptionState.hasDefaultOffsetResetPolicy`: anything but `none`.
    pub(super) fn has_default_offset_reset_policy(&self) -> bool {
        self.config.auto_offset_reset != AutoOffsetReset::None
    }

    /// `poll()` will throw `exception` (Kafka caches it, `OffsetFetcherUtils
    /// .maybeSetOffsetForLeaderException`, and throws it from the next `poll()`); the first
    /// one raised is the one thrown.
    pub(super) fn raise(&mut self, exception: ConsumerException, out: &mut Output<ConsumerTimer>) {
        if self.pending_exception.is_none() {
            self.pending_exception = Some(exception);
        }
        self.throw_pending_exception(out);
    }

    /// Throws the pending exception if the application is inside `poll()` (a consumer
    /// without a group fetches only from `poll()`; a member's application is there unless
    /// it is processing records or blocked in `commitSync()`). The application does not
    /// catch it: the consumer stops. Returns whether the consumer is stopped.
    pub(super) fn throw_pending_exception(&mut self, out: &mut Output<ConsumerTimer>) -> bool {
        if self.stopped {
            return true;
        }
        let in_poll = self
            .member
            .as_ref()
            .is_none_or(|m| m.app == AppState::Polling);
        if !in_poll {
            return false;
        }
        let Some(exception) = self.pending_exception.take() else {
            return false;
        };
        self.stopped = true;
        out.event(Event::ConsumerStopped {
            consumer: self.index,
            exception,
        });
        true
    }

    /// A partition without a position asks its leader for one, as `auto.offset.reset` says;
    /// one ListOffsets at a time per partition. With `none` there is nothing to ask: Kafka's
    /// `SubscriptionState.resetInitializingPositions` throws `NoOffsetForPartitionException`.
    pub(super) fn reset_position(
        &mut self,
        tp: TopicPartition,
        leader: BrokerId,
        epoch: LeaderEpoch,
        out: &mut Output<ConsumerTimer>,
    ) {
        if self.list_offsets_in_flight.contains_key(&tp) {
            return;
        }
        if !self.has_default_offset_reset_policy() {
            self.raise(ConsumerException::NoOffsetForPartition { tp }, out);
            return;
        }
        let spec = if self.config.auto_offset_reset == AutoOffsetReset::Earliest {
            OffsetSpec::Earliest
        } else {
            OffsetSpec::Latest
        };
        let correlation_id = self.correlation();
        self.list_offsets_in_flight
            .insert(tp.clone(), correlation_id);
        self.offset_requests_to.insert(correlation_id, leader);
        out.send(
            NodeId::Broker(leader),
            Message::ListOffsets(ListOffsetsRequest {
                correlation_id,
                tp: tp.clone(),
                spec,
                current_leader_epoch: Some(epoch),
                isolation_level: self.config.isolation_level,
            }),
        );
        out.timer(
            self.config.request_timeout_ms,
            ConsumerTimer::ListOffsetsTimeout { tp, correlation_id },
        );
    }

    /// A position waiting for validation asks the leader where the epoch of the last record
    /// handed over ends (KIP-320), unless that question is already out.
    pub(super) fn validate_position(
        &mut self,
        tp: TopicPartition,
        leader: BrokerId,
        epoch: LeaderEpoch,
        out: &mut Output<ConsumerTimer>,
    ) {
        if self.awaiting_validation[&tp].is_some() {
            return;
        }
        let correlation_id = self.correlation();
        self.awaiting_validation
            .insert(tp.clone(), Some(correlation_id));
        self.offset_requests_to.insert(correlation_id, leader);
        out.send(
            NodeId::Broker(leader),
            Message::OffsetsForLeaderEpoch(OffsetsForLeaderEpochRequest {
                correlation_id,
                replica_id: None,
                partitions: vec![OffsetForLeaderEpochPartition {
                    tp: tp.clone(),
                    current_leader_epoch: Some(epoch),
                    leader_epoch: self.last_epoch[&tp],
                }],
            }),
        );
        out.timer(
            self.config.request_timeout_ms,
            ConsumerTimer::ValidationTimeout { tp, correlation_id },
        );
    }

    /// Kafka's `SubscriptionState.maybeCompleteValidation` for each answer: an epoch that
    /// ends below the position is a truncation (reset to the end of that epoch, or
    /// `LogTruncationException` with no reset policy); an epoch the leader does not know
    /// (UNDEFINED) resets by `auto.offset.reset`, or raises without a divergent offset.
    pub(super) fn on_validation_response(
        &mut self,
        response: OffsetsForLeaderEpochResponse,
        out: &mut Output<ConsumerTimer>,
    ) {
        let correlation_id = response.correlation_id;
        self.offset_requests_to.remove(&correlation_id);
        for a in response.partitions {
            if self.awaiting_validation.get(&a.tp) != Some(&Some(correlation_id)) {
                continue;
            }
            if a.error != ErrorCode::None {
                // Ask again once metadata is fresh (`OffsetsForLeaderEpochUtils`: a leader
                // change or an unknown partition waits for new metadata).
                self.awaiting_validation.insert(a.tp.clone(), None);
                self.request_metadata(out);
                continue;
            }
            let Some(&position) = self.positions.get(&a.tp) else {
                self.awaiting_validation.remove(&a.tp);
                continue;
            };
            if a.leader_epoch < 0 {
                self.on_undefined_epoch(a.tp, position, out);
            } else if a.end_offset < position {
                self.on_truncation(a, position, out);
            } else {
                self.awaiting_validation.remove(&a.tp);
            }
        }
        self.poll(out);
    }

    /// The leader does not know the epoch of the last record read: `maybeCompleteValidation`
    /// resets the position by `auto.offset.reset` (`requestOffsetReset`), or with no reset
    /// policy throws `LogTruncationException` without a divergent offset.
    fn on_undefined_epoch(
        &mut self,
        tp: TopicPartition,
        position: u64,
        out: &mut Output<ConsumerTimer>,
    ) {
        if !self.has_default_offset_reset_policy() {
            self.awaiting_validation.insert(tp.clone(), None);
            let exception = ConsumerException::LogTruncation {
                tp,
                position,
                divergent_offset: None,
            };
            self.raise(exception, out);
            return;
        }
        self.awaiting_validation.remove(&tp);
        self.positions.remove(&tp);
        if let Some(m) = self.member.as_mut() {
            m.forget_position(&tp);
        }
        self.reset_from.insert(tp, position);
    }

    /// The leader's log ends the epoch of the last record read below the position.
    fn on_truncation(&mut self, a: EpochEndOffset, position: u64, out: &mut Output<ConsumerTimer>) {
        out.event(Event::ConsumerTruncationDetected {
            consumer: self.index,
            tp: a.tp.clone(),
            position,
            leader_end_offset: a.end_offset,
            epoch: a.leader_epoch,
        });
        if !self.has_default_offset_reset_policy() {
            // The position stays, still awaiting validation, and `poll()` throws.
            self.awaiting_validation.insert(a.tp.clone(), None);
            let exception = ConsumerException::LogTruncation {
                tp: a.tp,
                position,
                divergent_offset: Some(a.end_offset),
            };
            self.raise(exception, out);
            return;
        }
        // With a reset policy, continue from the first divergent offset
        // (`state.seekValidated`).
        self.awaiting_validation.remove(&a.tp);
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

    pub(super) fn on_list_offsets_response(
        &mut self,
        response: ListOffsetsResponse,
        out: &mut Output<ConsumerTimer>,
    ) {
        let ListOffsetsResponse {
            correlation_id,
            tp,
            error,
            offset,
            ..
        } = response;
        self.offset_requests_to.remove(&correlation_id);
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
