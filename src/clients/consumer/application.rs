//! The application thread: `poll()` and the processing of what it returned.
//!
//! Why its own file: the delivery guarantees of a group (at most once, at least once) are
//! decided by the order of poll, process and commit, which lives here; the group protocol
//! only moves partitions between members.

use super::commit::CommitPurpose;
use super::coordinator::{GroupRequest, Member, MemberState};
use super::{CommitMode, Consumer, ConsumerTimer, APP_POLL_TIMEOUT_MS};
use crate::actor::Output;
use crate::event::Event;
use crate::types::*;
use std::collections::VecDeque;

/// What the application thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AppState {
    /// Inside `poll()`: waiting for records or for the group.
    Polling,
    /// Processing the records one `poll()` returned.
    Processing,
    /// Blocked in `commitSync()`.
    Committing(CommitPurpose),
    /// A processor's consumer: the poll's records are processed, and the application is in
    /// its producer (flush, or `sendOffsetsToTransaction` and `commitTransaction`).
    HandedOff,
}

impl Member {
    /// What one `poll()` returns (Kafka's `Fetcher.collectFetch`): up to `max.poll.records`
    /// buffered records, partition by partition, each moving the application's position.
    fn take_poll_batch(
        &mut self,
        max_poll_records: usize,
    ) -> VecDeque<(TopicPartition, u64, RecordId)> {
        let mut batch = VecDeque::new();
        for tp in self.assigned.iter() {
            let Some(buffer) = self.buffered.get_mut(tp) else {
                continue;
            };
            while batch.len() < max_poll_records {
                let Some((offset, record)) = buffer.pop_front() else {
                    break;
                };
                self.consumed.insert(tp.clone(), offset + 1);
                batch.push_back((tp.clone(), offset, record));
            }
        }
        batch
    }
}

impl Consumer {
    /// The application calls `poll()`: the group comes first (coordinator, rejoin), then
    /// auto-commit, then records.
    pub(super) fn application_poll(&mut self, out: &mut Output<ConsumerTimer>) {
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
            AppState::Processing | AppState::HandedOff => return,
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
        // `KafkaConsumer.poll` throws what validation or a fetch raised before anything
        // else (`updateAssignmentMetadataIfNeeded`, `Fetcher.collectFetch`).
        if self.throw_pending_exception(out) {
            return;
        }
        let m = self.member.as_mut().expect("a group member");
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
        let batch = m.take_poll_batch(max_poll_records);
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
    pub(super) fn wake_application(&mut self, out: &mut Output<ConsumerTimer>) {
        if self
            .member
            .as_ref()
            .is_some_and(|m| m.app == AppState::Polling)
        {
            self.application_poll(out);
        }
    }

    pub(super) fn start_processing(&mut self, out: &mut Output<ConsumerTimer>) {
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

    pub(super) fn on_record_done(&mut self, batch: u64, out: &mut Output<ConsumerTimer>) {
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
        } else if m.settings.commit == CommitMode::Processor {
            m.app = AppState::HandedOff;
        } else {
            m.app = AppState::Polling;
            self.application_poll(out);
        }
    }
}

/// What a processor's application learns from its consumer and tells it (Kafka's
/// `KafkaConsumer.groupMetadata`, `position`, `commitSync`, `seek`), between one poll's
/// processing and the next poll.
impl Consumer {
    /// The poll's records are processed and the application is with its producer.
    pub fn is_handed_off(&self) -> bool {
        self.member
            .as_ref()
            .is_some_and(|m| m.app == AppState::HandedOff)
    }

    /// `groupMetadata()`: the group, the generation and the member id the processed batch
    /// was polled in (`ConsumerGroupMetadata`; a TxnOffsetCommit carries them, KIP-447).
    pub fn group_metadata(&self) -> Option<(String, i32, String)> {
        let m = self.member.as_ref()?;
        Some((
            m.settings.group_id.clone(),
            m.batch_generation,
            m.batch_member.clone(),
        ))
    }

    /// The positions after the processed records: what `sendOffsetsToTransaction` or
    /// `commitSync` commits.
    pub fn handoff_offsets(&self) -> Vec<(TopicPartition, u64)> {
        self.member
            .as_ref()
            .map(|m| m.commit_offsets())
            .unwrap_or_default()
    }

    /// At least once: the producer flushed, and the application calls `commitSync()`.
    pub fn handoff_commit(&mut self, now_ms: u64, out: &mut Output<ConsumerTimer>) {
        self.now_ms = now_ms;
        let m = self.member.as_mut().expect("a group member");
        assert_eq!(m.app, AppState::HandedOff, "only after a handoff");
        m.app = AppState::Committing(CommitPurpose::AfterProcessing);
        self.commit(Some(CommitPurpose::AfterProcessing), out);
    }

    /// Exactly once, committed: the positions went in with the transaction; the application
    /// polls again.
    pub fn handoff_resume(&mut self, now_ms: u64, out: &mut Output<ConsumerTimer>) {
        self.now_ms = now_ms;
        let m = self.member.as_mut().expect("a group member");
        assert_eq!(m.app, AppState::HandedOff, "only after a handoff");
        m.app = AppState::Polling;
        self.application_poll(out);
    }

    /// The producer's transaction was aborted while the batch was still being processed
    /// (a `send` threw): the application stops processing it.
    pub fn abandon_batch(&mut self) {
        let m = self.member.as_mut().expect("a group member");
        assert!(
            !matches!(m.app, AppState::Committing(_)),
            "a processor's consumer commits only after its producer flushed"
        );
        m.batch.clear();
        m.app = AppState::HandedOff;
    }

    /// `close()`: the member leaves its group and the consumer stops.
    pub fn close(&mut self, out: &mut Output<ConsumerTimer>) {
        if self.member.is_some() {
            self.leave_group(out);
        }
        self.stopped = true;
    }

    /// Exactly once, aborted: the application seeks every assigned partition back to its
    /// committed offset (Kafka's examples' `resetToLastCommittedPositions`: `committed()`,
    /// then `seek`), so the batch is read and processed again in the next transaction.
    pub fn handoff_rewind(&mut self, now_ms: u64, out: &mut Output<ConsumerTimer>) {
        self.now_ms = now_ms;
        let m = self.member.as_mut().expect("a group member");
        assert_eq!(m.app, AppState::HandedOff, "only after a handoff");
        m.app = AppState::Polling;
        let assigned: Vec<TopicPartition> = m.assigned.iter().cloned().collect();
        for tp in &assigned {
            m.buffered.remove(tp);
            m.consumed.remove(tp);
            m.awaiting_committed.insert(tp.clone());
        }
        for tp in &assigned {
            self.forget_partition_state(tp);
        }
        self.application_poll(out);
    }
}
