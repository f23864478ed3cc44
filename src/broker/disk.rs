//! What a broker keeps on disk, and when it writes it: the logs with their flush point
//! (`flush.messages`, `flush.ms`; Kafka's `LogManager` flusher), the OS's own write-back of
//! the rest (see [`crate::page_cache`]), the high-watermark checkpoint
//! (`replica.high.watermark.checkpoint.interval.ms`; Kafka's
//! `ReplicaManager.checkpointHighWatermarks`), and whether the last shutdown was clean.
//!
//! A power loss keeps, per log, what was flushed or written back; a process crash keeps
//! everything. Either way the shutdown was unclean, and the next start recovers every log
//! from its recovery point (Kafka's `LogLoader.recoverLog`), which takes time in proportion
//! to the bytes it reads again.

use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::controller::kraft::raft::RaftDisk;
use crate::controller::kraft::MetadataRecord;
use crate::event::Event;
use crate::log::config::LogConfig;
use crate::log::{Log, PowerLoss};
use crate::page_cache::WriteBack;
use crate::types::*;
use std::collections::BTreeMap;

/// How fast a broker's log recovery reads and checks the bytes past a recovery point: 200 MB/s.
///
/// Kafka's `LogLoader.recoverLog` reads every batch after the recovery point again
/// (`LogSegment.recover`: each batch's CRC checked with `ensureValid`, the offset and time
/// indexes and the producer state rebuilt), on one thread per data directory by default
/// (`num.recovery.threads.per.data.dir = 1`). After a power loss the page cache is empty, so
/// the thread reads from the device: 200 MB/s is a sequential read from a SATA SSD or a
/// provisioned cloud volume (AWS gp3 gives 125 to 1,000 MB/s), and well below what CRC32C
/// costs a CPU (several GB/s), so the device is the bound. The same rate is used after a
/// process crash, where the pages are still cached and Kafka is faster: the model errs long.
pub const LOG_RECOVERY_BYTES_PER_SEC: u64 = 200_000_000;

/// How long recovery takes for `bytes`, rounded up to the millisecond.
pub fn log_recovery_ms(bytes: u64) -> u64 {
    (bytes.saturating_mul(1000)).div_ceil(LOG_RECOVERY_BYTES_PER_SEC)
}

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
    /// How the machine's OS writes dirty pages back (a world setting: `[cluster.os]`).
    pub write_back: WriteBack,
    /// Kafka's `.kafka_cleanshutdown` marker (`LogManager`, `CleanShutdownFileHandler`): a
    /// clean shutdown flushes every log and writes it, and the next start skips recovery.
    /// A crash or a power loss leaves it unset; a start clears it.
    pub clean_shutdown: bool,
    /// KRaft: the broker's copy of `__cluster_metadata` and its snapshots, kept in its log
    /// directory (`metadata.log.dir` defaults to the first `log.dirs`), so a restart
    /// replays it and fetches only what is new, and a replaced disk starts without it. A
    /// broker does not fsync it as it fetches (only voters do), so a power loss takes what
    /// a clean shutdown had not flushed; the OS write-back of the data logs is not applied
    /// to it.
    pub metadata_log: RaftDisk<MetadataRecord>,
}

impl Disk {
    /// An empty disk on a machine whose OS writes back as `write_back` says.
    pub fn new(write_back: WriteBack) -> Disk {
        Disk {
            write_back,
            ..Disk::default()
        }
    }

    /// The log of `tp`, created empty at `now_ms` with `config` (the topic's, see
    /// `Broker::log_config`) and its jitter seed if this disk has none yet.
    pub fn log_or_create(
        &mut self,
        tp: &TopicPartition,
        config: LogConfig,
        jitter_seed: u64,
        now_ms: u64,
    ) -> &mut Log {
        let write_back = self.write_back;
        self.logs
            .entry(tp.clone())
            .or_insert_with(|| Log::with_config(config, write_back, jitter_seed, now_ms))
    }

    /// A power loss at `now_ms`: every log keeps what was flushed or written back by the OS.
    /// Returns the logs that lost records.
    pub fn lose_unflushed(&mut self, now_ms: u64) -> Vec<(TopicPartition, PowerLoss)> {
        self.clean_shutdown = false;
        self.metadata_log.crash();
        let mut lost = Vec::new();
        for (tp, log) in self.logs.iter_mut() {
            let loss = log.lose_unflushed(now_ms);
            if loss.kept_offset() != loss.log_end_offset_before {
                lost.push((tp.clone(), loss));
            }
        }
        lost
    }

    /// The bytes a start reads again before the broker may register: every log's bytes past
    /// its recovery point after an unclean shutdown, none after a clean one (Kafka's
    /// `LogLoader.recoverLog` skips recovery when `hadCleanShutdown`).
    pub fn bytes_to_recover(&self) -> u64 {
        if self.clean_shutdown {
            return 0;
        }
        self.logs
            .values()
            .map(|log| log.bytes_past_recovery_point())
            .sum()
    }
}

impl Broker {
    /// Kafka's `KafkaServer.startup` loads every log (`LogManager.loadLogs`, which runs
    /// `LogLoader.recoverLog` after an unclean shutdown) before it registers the broker in
    /// ZooKeeper and starts its controller. The model connects to ZooKeeper once recovery is
    /// over (Kafka opens the session first; no other process can tell the difference, since
    /// only the registration is visible). A start clears the clean-shutdown marker, as
    /// `LogManager` deletes it once the logs are loaded.
    pub(super) fn recover_logs_then_connect(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        let bytes = self.disk.bytes_to_recover();
        self.disk.clean_shutdown = false;
        if bytes == 0 {
            self.connect_to_metadata(now_ms, out);
            return;
        }
        let recovery_ms = log_recovery_ms(bytes);
        out.event(Event::LogRecovery {
            broker: self.id,
            bytes,
            recovery_ms,
        });
        out.timer(recovery_ms, BrokerTimer::LogRecoveryDone);
    }

    /// After log recovery: ZooKeeper, or in KRaft mode the metadata quorum.
    pub(super) fn connect_to_metadata(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        match self.kraft.is_some() {
            true => self.kraft_start(now_ms, out),
            false => self.zk_connect(out),
        }
    }

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
