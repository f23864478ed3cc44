//! The broker's side of the log layer (Kafka's `LogManager` and `LogCleaner`, the log parts
//! of `ReplicaManager`, `Partition` and `AbstractFetcherThread`): which configs a new log
//! gets, the two background threads that reshape logs, how a follower follows its leader's
//! log start offset, and DeleteRecords (KIP-107) with its purgatory.
//!
//! The mechanisms themselves are pure functions of one log (`crate::log`); this file decides
//! when they run and tells the story of what they did as events:
//! - the retention thread (`LogManager`'s `kafka-log-retention` task) runs
//!   `delete_old_segments` on every log without `compact`, 30 s after start and then every
//!   `log.retention.check.interval.ms`;
//! - the cleaner thread (`LogCleaner.CleanerThread.doWork`) cleans the filthiest compacted
//!   log, then runs retention on every `compact,delete` log; it loops at once after a
//!   cleaning and sleeps `log.cleaner.backoff.ms` when there was nothing to clean.
//!
//! Every replica, leader or follower, runs both on its own log with its own clock and high
//! watermark: nothing keeps two replicas' segments in step. A follower learns its leader's
//! log start offset from each fetch answer and moves its own up to it; a follower whose log
//! ends below the leader's log start empties its log and starts it again there.
//!
//! Both threads are broker timers: they die with the process and start again with it. A
//! pass over logs with nothing to do allocates nothing, so a broker with thousands of idle
//! partitions pays a few comparisons per log every few minutes of simulated time.

use super::partition::Role;
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::event::{Event, LogStartOffsetCause};
use crate::log::config::LogConfig;
use crate::log::{AppendError, Log, Roll};
use crate::protocol::*;
use crate::types::*;

/// Kafka's `LogManager.InitialTaskDelayMs`: the retention thread's first pass comes 30 s
/// after the log manager starts.
pub const LOG_RETENTION_INITIAL_DELAY_MS: u64 = 30_000;

/// How soon the cleaner thread looks again after it cleaned a log. Kafka's `doWork` loops at
/// once; the model waits one millisecond, so that simulated time moves between rounds.
pub const LOG_CLEANER_RECHECK_MS: u64 = 1;

/// One partition of a DeleteRecords request waiting for the low watermark (Kafka's
/// `DeleteRecordsPartitionStatus`).
#[derive(Clone, Debug)]
pub(super) struct DeleteRecordsStatus {
    pub(super) tp: TopicPartition,
    /// The offset the log start must reach on every live replica.
    pub(super) required_offset: u64,
    /// The answer, once there is one: an error, and the low watermark.
    pub(super) result: Option<(ErrorCode, Option<u64>)>,
}

/// A DeleteRecords request in the purgatory (Kafka's `DelayedDeleteRecords`): answered once
/// every partition's low watermark reached its offset, or with REQUEST_TIMED_OUT for those
/// that did not when `timeout_ms` passes.
#[derive(Clone, Debug)]
pub(super) struct DelayedDeleteRecords {
    pub(super) from: NodeId,
    pub(super) correlation_id: u64,
    pub(super) partitions: Vec<DeleteRecordsStatus>,
}

/// The seed of a log's `segment.jitter.ms` draws: a mix of the broker id and the partition.
/// Kafka draws each segment's jitter at random (`LogConfig.randomSegmentJitter`); the model
/// draws from a generator seeded per replica, so a run rolls at the same offsets every time
/// and two replicas of a partition still roll at different times.
pub fn log_jitter_seed(broker: BrokerId, tp: &TopicPartition) -> u64 {
    let topic = java_string_hash(&tp.topic) as u32 as u64;
    let mixed = ((broker as u32 as u64) << 48) ^ (topic << 16) ^ u64::from(tp.partition);
    // SplitMix64's finalizer: nearby inputs give unrelated seeds.
    let mut z = mixed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Broker {
    /// The configs of `tp`'s log: `__consumer_offsets` is compacted with
    /// `offsets.topic.segment.bytes` segments (`GroupMetadataManager.offsetsTopicConfigs`),
    /// every other topic has its own `config` table over the broker's `log.*` defaults.
    pub(super) fn log_config(&self, tp: &TopicPartition) -> LogConfig {
        if tp.topic == OFFSETS_TOPIC {
            return LogConfig::offsets_topic(self.config.offsets_topic_segment_bytes);
        }
        self.topic_config(&tp.topic).log.clone()
    }

    /// `LogManager.getOrCreateLog`: the log of `tp`, created empty at `now_ms` with its
    /// topic's configs if this broker has none yet.
    pub(super) fn create_log_if_missing(&mut self, tp: &TopicPartition, now_ms: u64) {
        if self.disk.logs.contains_key(tp) {
            return;
        }
        let config = self.log_config(tp);
        let seed = log_jitter_seed(self.id, tp);
        self.disk.log_or_create(tp, config, seed, now_ms);
    }

    /// `LogManager.startup`: the retention task and the cleaner thread begin. The cleaner
    /// thread looks at once (its first `doWork`), retention after
    /// [`LOG_RETENTION_INITIAL_DELAY_MS`].
    pub(super) fn start_log_manager(&mut self, out: &mut Output<BrokerTimer>) {
        out.timer(LOG_RETENTION_INITIAL_DELAY_MS, BrokerTimer::LogRetention);
        if self.config.cleaner.enable {
            out.timer(0, BrokerTimer::LogCleaner);
        }
    }

    /// A segment roll inside an append, for the story.
    pub(super) fn note_roll(
        &self,
        tp: &TopicPartition,
        roll: Option<Roll>,
        out: &mut Output<BrokerTimer>,
    ) {
        if let Some(roll) = roll {
            out.event(Event::SegmentRolled {
                broker: self.id,
                tp: tp.clone(),
                new_base_offset: roll.new_base_offset,
                reason: roll.reason,
            });
        }
    }

    /// Why the leader refuses a producer's batch (`UnifiedLog.append` through
    /// `LogValidator.validateKey` and the `segment.bytes` check), as the error it answers.
    pub(super) fn leader_batch_error(
        &self,
        tp: &TopicPartition,
        records: &[ProducerRecord],
    ) -> Option<ErrorCode> {
        let error = self.disk.logs[tp].validate_leader_batch(records).err()?;
        Some(match error {
            AppendError::KeylessRecordOnCompactedTopic
                if self.release().has_invalid_record_error() =>
            {
                ErrorCode::InvalidRecord
            }
            AppendError::KeylessRecordOnCompactedTopic => ErrorCode::CorruptMessage,
            AppendError::LargerThanSegment { .. } => ErrorCode::RecordListTooLarge,
        })
    }

    // ------------------------------------------------------------------------------------
    // The retention and cleaner threads
    // ------------------------------------------------------------------------------------

    /// `LogManager.cleanupLogs`: one retention pass over every log without `compact`, each
    /// with this replica's own high watermark; then the next pass is scheduled.
    pub(super) fn on_log_retention_timer(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        if self.exited {
            return;
        }
        self.run_retention(now_ms, |config| !config.cleanup_policy.compact, out);
        out.timer(
            self.config.cleaner.retention_check_interval_ms.max(1),
            BrokerTimer::LogRetention,
        );
    }

    /// `LogCleaner.CleanerThread.doWork`: clean the filthiest compacted log, then run
    /// retention on the `compact,delete` logs (`cleanerManager.deletableLogs`); look again at
    /// once after a cleaning, else after `log.cleaner.backoff.ms`.
    pub(super) fn on_log_cleaner_timer(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        if self.exited || !self.config.cleaner.enable {
            return;
        }
        let cleaned = self.clean_filthiest_log(now_ms, out);
        self.run_retention(
            now_ms,
            |config| config.cleanup_policy.compact && config.cleanup_policy.delete,
            out,
        );
        let next_ms = if cleaned {
            LOG_CLEANER_RECHECK_MS
        } else {
            self.config.cleaner.backoff_ms.max(1)
        };
        out.timer(next_ms, BrokerTimer::LogCleaner);
    }

    /// `UnifiedLog.deleteOldSegments` on every log `applies` selects; each deletion is told
    /// and whoever needs the new log start offset hears of it.
    fn run_retention(
        &mut self,
        now_ms: u64,
        applies: impl Fn(&LogConfig) -> bool,
        out: &mut Output<BrokerTimer>,
    ) {
        let mut moved = Vec::new();
        for (tp, log) in self.disk.logs.iter_mut() {
            if !applies(log.config()) {
                continue;
            }
            let hw = self.high_watermarks.get(tp).copied().unwrap_or(0);
            for d in log.delete_old_segments(now_ms, hw) {
                out.event(Event::SegmentsDeleted {
                    broker: self.id,
                    tp: tp.clone(),
                    rule: d.rule,
                    segments: d.segments,
                    log_start_offset: d.log_start_offset,
                    removed: d.removed,
                });
                moved.push(tp.clone());
            }
        }
        moved.dedup();
        for tp in moved {
            self.log_start_offset_moved(&tp, out);
        }
    }

    /// `LogCleanerManager.grabFilthiestCompactedLog` and `Cleaner.clean`: among this broker's
    /// compacted logs that are dirty enough (or past `max.compaction.lag.ms`), the one with
    /// the highest cleanable ratio (the first in partition order on a tie) is cleaned.
    /// Returns whether a log was cleaned.
    fn clean_filthiest_log(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) -> bool {
        let mut filthiest: Option<(TopicPartition, crate::log::cleaner::LogToClean)> = None;
        for (tp, log) in self.disk.logs.iter_mut() {
            if !log.config().cleanup_policy.compact || !has_dirty_part(log) {
                continue;
            }
            let hw = self.high_watermarks.get(tp).copied().unwrap_or(0);
            let Some(ltc) = log.select_for_cleaning(now_ms, hw) else {
                continue;
            };
            let better = filthiest
                .as_ref()
                .is_none_or(|(_, best)| ltc.cleanable_ratio() > best.cleanable_ratio());
            if better {
                filthiest = Some((tp.clone(), ltc));
            }
        }
        let Some((tp, ltc)) = filthiest else {
            return false;
        };
        let max_map_keys = self.config.cleaner.dedupe_buffer_keys();
        let log = self.disk.logs.get_mut(&tp).expect("selected");
        let outcome = log.clean(&ltc, now_ms, max_map_keys);
        out.event(Event::LogCleaned {
            broker: self.id,
            tp,
            first_dirty_offset: outcome.first_dirty_offset,
            end_offset: outcome.end_offset,
            superseded: outcome.superseded,
            tombstones_removed: outcome.tombstones_removed,
            keyless_removed: outcome.keyless_removed,
            tombstones_stamped: outcome.tombstones_stamped,
            delete_horizon_ms: outcome.delete_horizon_ms,
        });
        true
    }

    /// `tp`'s log start offset moved on this replica: a follower's next fetch tells its
    /// leader (the fetch session sends the partition again), a leader's next fetch answers
    /// tell its followers and consumers, and a DeleteRecords may be done.
    pub(super) fn log_start_offset_moved(
        &mut self,
        tp: &TopicPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        match self.partitions.get(tp).map(|p| &p.role) {
            Some(Role::Follower {
                leader: Some(leader),
                ..
            }) => {
                let leader = *leader;
                self.fetch_state_changed(tp, leader);
            }
            Some(Role::Leader(_)) => {
                self.fetch_sessions.mark_dirty(tp);
                self.complete_delayed_delete_records(tp, out);
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------------------------------
    // The follower and its leader's log start offset
    // ------------------------------------------------------------------------------------

    /// `ReplicaFetcherThread.processPartitionData`: after a fetch, the follower moves its log
    /// start offset up to the leader's (never past its own high watermark).
    pub(super) fn adopt_leader_log_start_offset(
        &mut self,
        tp: &TopicPartition,
        leader_log_start_offset: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        let hw = self.high_watermark(tp);
        let log = self.disk.logs.get_mut(tp).expect("a follower has a log");
        let before = log.log_start_offset();
        let target = leader_log_start_offset.min(hw);
        if target <= before {
            return;
        }
        let removed = log.records_between(before, target);
        let moved = log.maybe_increment_log_start_offset(target, hw);
        debug_assert!(moved, "a higher offset moves the log start");
        out.event(Event::LogStartOffsetIncremented {
            broker: self.id,
            tp: tp.clone(),
            log_start_offset: target,
            cause: LogStartOffsetCause::LeaderLogStartOffset,
            removed,
        });
        self.log_start_offset_moved(tp, out);
    }

    /// `UnifiedLog.truncateFullyAndStartAt` on a follower: the log is emptied and starts
    /// again at `leader_log_start_offset`, its high watermark with it. Two callers:
    /// `AbstractFetcherThread.handleOutOfRangeError` (`fetchOffsetAndTruncate`), for a log
    /// that ends below the leader's log start offset (Kafka asks the leader with ListOffsets;
    /// the model uses the offsets the out-of-range answer carried), and
    /// `Partition.appendRecordsToFollowerOrFutureReplica`, for an empty log whose start is
    /// inside the first batch fetched (it starts again at that batch's base offset).
    pub(super) fn restart_log_at(
        &mut self,
        tp: &TopicPartition,
        leader_log_start_offset: u64,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        let log = self.disk.logs.get_mut(tp).expect("a follower has a log");
        let removed = log.records_between(log.log_start_offset(), log.log_end_offset());
        log.truncate_fully_and_start_at(leader_log_start_offset, now_ms);
        out.event(Event::LogRestartedAt {
            broker: self.id,
            tp: tp.clone(),
            offset: leader_log_start_offset,
            removed,
        });
        // `UnifiedLog.truncateFullyAndStartAt` moves the high watermark to the new start
        // with the log; it goes through the one setter, so the move is recorded.
        self.set_high_watermark(tp, leader_log_start_offset, out);
        self.log_start_offset_moved(tp, out);
    }

    // ------------------------------------------------------------------------------------
    // DeleteRecords (KIP-107) and its purgatory
    // ------------------------------------------------------------------------------------

    /// Kafka's `Partition.lowWatermarkIfLeader`: the smallest log start offset over this
    /// leader and every replica on a live broker. A replica that has not fetched yet counts
    /// as unknown (Kafka's -1) and holds the low watermark at nothing. `None` when this
    /// broker does not lead `tp`.
    pub(super) fn low_watermark(&self, tp: &TopicPartition) -> Option<u64> {
        let Some(Role::Leader(leader)) = self.partitions.get(tp).map(|p| &p.role) else {
            return None;
        };
        let mut low = self.disk.logs.get(tp)?.log_start_offset();
        for (id, f) in &leader.followers {
            if self.live_brokers.contains(id) {
                low = low.min(f.log_start_offset.unwrap_or(0));
            }
        }
        Some(low)
    }

    /// `ReplicaManager.deleteRecords` and `Partition.deleteRecordsOnLeader`: each partition
    /// this broker leads moves its log start offset (an offset of -1 means the high
    /// watermark); the answer waits until every live replica followed, or `timeout_ms`.
    pub(super) fn on_delete_records(
        &mut self,
        from: NodeId,
        request: DeleteRecordsRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        let DeleteRecordsRequest {
            correlation_id,
            timeout_ms,
            partitions,
        } = request;
        let statuses: Vec<DeleteRecordsStatus> = partitions
            .into_iter()
            .map(|(tp, offset)| self.delete_records_on_leader(tp, offset, out))
            .collect();
        let mut delayed = DelayedDeleteRecords {
            from,
            correlation_id,
            partitions: statuses,
        };
        self.settle_delete_records(&mut delayed);
        if delayed.partitions.iter().all(|s| s.result.is_some()) {
            self.answer_delete_records(delayed, out);
            return;
        }
        self.next_delayed_id += 1;
        let id = self.next_delayed_id;
        self.delayed_delete_records.insert(id, delayed);
        out.timer(timeout_ms, BrokerTimer::DelayedDeleteRecordsExpire { id });
    }

    fn delete_records_on_leader(
        &mut self,
        tp: TopicPartition,
        offset: Option<u64>,
        out: &mut Output<BrokerTimer>,
    ) -> DeleteRecordsStatus {
        let mut status = DeleteRecordsStatus {
            tp: tp.clone(),
            required_offset: 0,
            result: None,
        };
        if self.low_watermark(&tp).is_none() {
            status.result = Some((ErrorCode::NotLeaderOrFollower, None));
            return status;
        }
        let hw = self.high_watermark(&tp);
        let offset = offset.unwrap_or(hw);
        let log = self.disk.logs.get_mut(&tp).expect("a leader has a log");
        let before = log.log_start_offset();
        let removed = if offset > before && offset <= hw {
            log.records_between(before, offset)
        } else {
            Vec::new()
        };
        match log.delete_records(offset, hw) {
            Err(e) => {
                let error = match e {
                    crate::log::retention::DeleteRecordsError::PolicyViolation => {
                        ErrorCode::PolicyViolation
                    }
                    crate::log::retention::DeleteRecordsError::OffsetOutOfRange => {
                        ErrorCode::OffsetOutOfRange
                    }
                };
                status.result = Some((error, None));
            }
            Ok(log_start_offset) => {
                status.required_offset = offset;
                if log_start_offset > before {
                    out.event(Event::LogStartOffsetIncremented {
                        broker: self.id,
                        tp: tp.clone(),
                        log_start_offset,
                        cause: LogStartOffsetCause::DeleteRecords,
                        removed,
                    });
                    self.fetch_sessions.mark_dirty(&tp);
                }
            }
        }
        status
    }

    /// `DelayedDeleteRecords.tryComplete`: a partition is done when its low watermark
    /// reached the offset, or with NOT_LEADER_OR_FOLLOWER once this broker no longer leads.
    fn settle_delete_records(&self, d: &mut DelayedDeleteRecords) {
        for status in d.partitions.iter_mut().filter(|s| s.result.is_none()) {
            match self.low_watermark(&status.tp) {
                None => status.result = Some((ErrorCode::NotLeaderOrFollower, None)),
                Some(low) if low >= status.required_offset => {
                    status.result = Some((ErrorCode::None, Some(low)))
                }
                Some(_) => {}
            }
        }
    }

    /// Something changed on `tp` (a follower's log start offset, the leader's own, a
    /// leadership change): every waiting DeleteRecords for it looks again.
    pub(super) fn complete_delayed_delete_records(
        &mut self,
        tp: &TopicPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        if self.delayed_delete_records.is_empty() {
            return;
        }
        let ids: Vec<u64> = self
            .delayed_delete_records
            .iter()
            .filter(|(_, d)| d.partitions.iter().any(|s| &s.tp == tp))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let mut d = self.delayed_delete_records.remove(&id).expect("listed");
            self.settle_delete_records(&mut d);
            if d.partitions.iter().all(|s| s.result.is_some()) {
                self.answer_delete_records(d, out);
            } else {
                self.delayed_delete_records.insert(id, d);
            }
        }
    }

    /// `DelayedDeleteRecords.onExpiration`: the partitions still waiting answer
    /// REQUEST_TIMED_OUT.
    pub(super) fn expire_delayed_delete_records(&mut self, id: u64, out: &mut Output<BrokerTimer>) {
        let Some(mut d) = self.delayed_delete_records.remove(&id) else {
            return;
        };
        self.settle_delete_records(&mut d);
        for status in d.partitions.iter_mut().filter(|s| s.result.is_none()) {
            status.result = Some((ErrorCode::RequestTimedOut, None));
        }
        self.answer_delete_records(d, out);
    }

    fn answer_delete_records(&self, d: DelayedDeleteRecords, out: &mut Output<BrokerTimer>) {
        let partitions: Vec<DeleteRecordsPartitionResponse> = d
            .partitions
            .into_iter()
            .map(|s| {
                let (error, low_watermark) = s.result.expect("every partition is answered");
                DeleteRecordsPartitionResponse {
                    tp: s.tp,
                    error,
                    low_watermark,
                }
            })
            .collect();
        out.event(Event::DeleteRecordsAnswered {
            broker: self.id,
            results: partitions
                .iter()
                .map(|p| (p.tp.clone(), p.error, p.low_watermark))
                .collect(),
        });
        out.send(
            d.from,
            Message::DeleteRecordsResponse(DeleteRecordsResponse {
                correlation_id: d.correlation_id,
                partitions,
            }),
        );
    }
}

/// Whether the cleaner could find anything in `log`: its dirty part (from the checkpoint, or
/// the log start, to the log end) is not empty. A cheap test that spares the full
/// `select_for_cleaning` for the logs nothing was written to since their last cleaning.
fn has_dirty_part(log: &Log) -> bool {
    let first_dirty = log
        .cleaner_checkpoint()
        .unwrap_or(0)
        .max(log.log_start_offset());
    first_dirty < log.log_end_offset()
}
