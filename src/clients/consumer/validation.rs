//! Where a position comes from and whether it still holds: `ListOffsets` when there is none
//! (`auto.offset.reset`, Kafka's `Fetcher.resetPositionsIfNeeded`), and KIP-320's
//! `OffsetsForLeaderEpoch` after a leader change (`Fetcher.validatePositionsIfNeeded`).
//!
//! Why its own file: a consumer that skips validation reads on from a position the new
//! leader's log no longer has; the scenarios that show that read this code.

use super::{Consumer, ConsumerTimer};
use crate::actor::Output;
use crate::config::AutoOffsetReset;
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;

impl Consumer {
    /// A partition without a position asks its leader for one, as `auto.offset.reset` says
    /// (none: it waits); one ListOffsets at a time per partition.
    pub(super) fn reset_position(
        &mut self,
        tp: TopicPartition,
        leader: BrokerId,
        epoch: LeaderEpoch,
        out: &mut Output<ConsumerTimer>,
    ) {
        if self.list_offsets_in_flight.contains_key(&tp)
            || self.config.auto_offset_reset == AutoOffsetReset::None
        {
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
        out.send(
            NodeId::Broker(leader),
            Message::ListOffsets(ListOffsetsRequest {
                correlation_id,
                tp: tp.clone(),
                spec,
                current_leader_epoch: Some(epoch),
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

    pub(super) fn on_validation_response(
        &mut self,
        response: OffsetsForLeaderEpochResponse,
        out: &mut Output<ConsumerTimer>,
    ) {
        let correlation_id = response.correlation_id;
        for a in response.partitions {
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
