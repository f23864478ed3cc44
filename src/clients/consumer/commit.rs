//! `ConsumerCoordinator`'s offsets: `OffsetCommit` (`commitSync`, auto-commit) and
//! `OffsetFetch` for the committed position of a newly assigned partition.
//!
//! Why its own file: what a group commits, and what it does when a commit fails, is what
//! makes a run at most once or at least once.

use super::application::AppState;
use super::coordinator::GroupRequest;
use super::{Consumer, ConsumerTimer};
use crate::actor::Output;
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;

/// Why a synchronous commit is out, which says what happens when it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CommitPurpose {
    /// At most once: the batch is processed once the commit returns.
    BeforeProcessing,
    /// At least once: the next poll follows the commit.
    AfterProcessing,
    /// Auto-commit before the member joins again (`onJoinPrepare`).
    BeforeRejoin,
}

impl Consumer {
    /// Sends OffsetCommit with the application's positions. `purpose` is `None` for an
    /// asynchronous auto-commit.
    pub(super) fn commit(
        &mut self,
        purpose: Option<CommitPurpose>,
        out: &mut Output<ConsumerTimer>,
    ) {
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
            |correlation_id| {
                Message::OffsetCommit(OffsetCommitRequest {
                    correlation_id,
                    group_id,
                    generation_id,
                    member_id,
                    offsets,
                })
            },
            out,
        );
    }

    pub(super) fn on_sync_commit_done(
        &mut self,
        purpose: CommitPurpose,
        out: &mut Output<ConsumerTimer>,
    ) {
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

    pub(super) fn fetch_committed(&mut self, out: &mut Output<ConsumerTimer>) {
        let m = self.member.as_ref().expect("a group member");
        let partitions: Vec<TopicPartition> = m.awaiting_committed.iter().cloned().collect();
        let group_id = m.settings.group_id.clone();
        let asked = partitions.clone();
        self.group_request(
            GroupRequest::OffsetFetch(asked),
            |correlation_id| {
                // `ConsumerCoordinator.sendOffsetFetchRequest`: from 2.5 on the consumer
                // always asks for stable offsets (KIP-447); a broker older than 2.5 is sent
                // OffsetFetch v6, which has no such flag (the broker's side of it).
                Message::OffsetFetch(OffsetFetchRequest {
                    correlation_id,
                    group_id,
                    partitions,
                    require_stable: true,
                })
            },
            out,
        );
    }

    pub(super) fn on_offset_fetch_response(
        &mut self,
        error: ErrorCode,
        offsets: Vec<OffsetFetchPartition>,
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
        // `ConsumerCoordinator.OffsetFetchResponseHandler`: a partition whose commit is not
        // final yet fails the whole fetch with the retriable `UnstableOffsetCommitException`;
        // no offset of the answer is used, and `fetchCommittedOffsets` asks again after
        // `retry.backoff.ms`.
        if offsets
            .iter()
            .any(|p| p.error == ErrorCode::UnstableOffsetCommit)
        {
            out.timer(self.config.retry_backoff_ms, ConsumerTimer::AppPoll);
            return;
        }
        let m = self.member.as_mut().expect("a group member");
        for OffsetFetchPartition {
            tp,
            offset: committed,
            ..
        } in offsets
        {
            if !m.awaiting_committed.remove(&tp) || !m.assigned.contains(&tp) {
                continue;
            }
            match committed {
                Some(offset) => {
                    m.consumed.insert(tp.clone(), offset);
                    m.buffered.remove(&tp);
                    self.positions.insert(tp.clone(), offset);
                    // Kafka seeks to the committed offset with the committed leader epoch
                    // (`ConsumerCoordinator.refreshCommittedOffsetsIfNeeded`,
                    // `SubscriptionState.seekUnvalidated`); commits here carry no epoch, so
                    // the position has none until a record is handed over, and nothing to
                    // validate before (`TopicPartitionState.validatePosition` skips a
                    // position without an epoch).
                    self.last_epoch.remove(&tp);
                    self.awaiting_validation.remove(&tp);
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

    pub(super) fn on_commit_response(
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
}
