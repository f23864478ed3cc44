//! What a broker keeps on disk, and when it writes it: the logs with their flush point
//! (`flush.messages`, `flush.ms`; Kafka's `LogManager` flusher) and the high-watermark
//! checkpoint (`replica.high.watermark.checkpoint.interval.ms`; Kafka's
//! `ReplicaManager.checkpointHighWatermarks`). A power loss keeps only these.

use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::event::Event;
use crate::log::Log;
use crate::types::*;
use std::collections::BTreeMap;

/// What a broker keeps on disk across a crash.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Disk {
    pub logs: BTreeMap<TopicPartition, Log>,
    /// `replication-offset-checkpoint`: each partition's HW as of the last checkpoint.
    /// Kafka writes it with an fsync, so a power loss keeps it.
    pub hw_checkpoint: BTreeMap<TopicPartition, u64>,
    /// How many records this broker's group coordinator has written, so the ids of its
    /// `__consumer_offsets` records stay unique across restarts.
    pub coordinator_records_written: u64,
    /// `.kafka_cleanshutdown`: the broker flushed and closed every log on its way down
    /// (`LogManager.shutdown`), so the next start needs no recovery.
    pub clean_shutdown: bool,
}

impl Disk {
    /// A power loss: every log keeps only what was flushed. Returns
    /// `(partition, log end offset before, after)` for the logs that lost records.
    pub fn lose_unflushed(&mut self) -> Vec<(TopicPartition, u64, u64)> {
        let mut lost = Vec::new();
        for (tp, log) in self.logs.iter_mut() {
            let before = log.lose_unflushed();
            if before != log.log_end_offset() {
                lost.push((tp.clone(), before, log.log_end_offset()));
            }
        }
        lost
    }
}

impl Broker {
    pub(super) fn maybe_flush(
        &mut self,
        tp: &TopicPartition,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        let config = self.topic_config(&tp.topic).clone();
        let log = self.disk.logs.get_mut(tp).expect("log");
        let by_count = log.unflushed_count() >= config.flush_messages;
        let by_age = log.oldest_unflushed_ms().is_some_and(|t| {
            config.flush_ms != u64::MAX && now_ms.saturating_sub(t) >= config.flush_ms
        });
        if by_count || by_age {
            if let Some(offset) = log.flush() {
                out.event(Event::Flushed {
                    broker: self.id,
                    tp: tp.clone(),
                    offset,
                });
            }
        }
    }

    pub(super) fn flush_check_interval_ms(&self) -> Option<u64> {
        self.topic_configs
            .values()
            .chain(std::iter::once(&self.config.topic_defaults))
            .map(|c| c.flush_ms)
            .filter(|ms| *ms != u64::MAX)
            .min()
            // Kafka's flusher runs every log.flush.scheduler.interval.ms; the simulator looks
            // every flush.ms instead, and at most every millisecond (flush.ms may be 0).
            .map(|ms| ms.max(1))
    }

    /// ReplicaManager schedules "isr-expiration" every `replica.lag.time.max.ms / 2`.
    /// `KafkaScheduler.schedule` runs a task whose period is 0 once, at once: at startup,
    /// when the broker leads nothing, so a lag time of 0 or 1 ms never shrinks an ISR.
    pub(super) fn isr_expiration_period_ms(&self) -> Option<u64> {
        Some(self.config.replica_lag_time_max_ms / 2).filter(|ms| *ms > 0)
    }

    /// "highwatermark-checkpoint" every `replica.high.watermark.checkpoint.interval.ms`;
    /// with 0, `KafkaScheduler` runs it once, before the broker holds any high watermark.
    pub(super) fn hw_checkpoint_period_ms(&self) -> Option<u64> {
        Some(self.config.replica_high_watermark_checkpoint_interval_ms).filter(|ms| *ms > 0)
    }

    pub(super) fn checkpoint_high_watermarks(&mut self) {
        for (tp, hw) in &self.high_watermarks {
            self.disk.hw_checkpoint.insert(tp.clone(), *hw);
        }
    }
}
