//! A log's own configs: how its segments roll, what retention deletes and how the cleaner
//! compacts it, by Kafka's topic-config names and with Kafka 3.7's defaults
//! (`LogConfig`, `CleanerConfig`).
//!
//! These are the settings the log layer reads. They are set per topic (a topic's `config`
//! table), with broker-wide defaults under their `log.` names; the parsing lives with the
//! other topic keys in [`crate::config::TopicConfig`].

use serde::Serialize;

/// Kafka's `Long.MAX_VALUE`, its "never" for the lag and time limits.
pub const LONG_MAX: u64 = i64::MAX as u64;

/// `cleanup.policy`: a list of `delete` and `compact`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CleanupPolicy {
    /// Retention by time and size deletes old segments (`LogConfig.delete`).
    pub delete: bool,
    /// The log cleaner keeps the last record of each key (`LogConfig.compact`).
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };

    /// Parses Kafka's list form: `delete`, `compact`, `compact,delete` (either order,
    /// spaces allowed). Kafka's validator (`ValidList.in("compact", "delete")`) refuses
    /// anything else, and so does this; an empty list means neither.
    pub fn parse(s: &str) -> Option<CleanupPolicy> {
        let mut policy = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                _ => return None,
            }
        }
        Some(policy)
    }

    pub fn name(self) -> &'static str {
        match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            (false, true) => "delete",
            (false, false) => "",
        }
    }
}

/// `message.timestamp.type`: whose clock stamps a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TimestampType {
    /// The producer's clock (Kafka's default).
    CreateTime,
    /// The leader's clock when it appends.
    LogAppendTime,
}

/// The configs of one log, Kafka's `LogConfig` (topic names; `None` is Kafka's -1,
/// "unlimited").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogConfig {
    pub cleanup_policy: CleanupPolicy,
    /// `segment.bytes`: a segment never grows past this.
    pub segment_bytes: u64,
    /// `segment.ms`: a segment whose records span longer than this rolls on the next append.
    pub segment_ms: u64,
    /// `segment.jitter.ms`: each segment's time limit is lowered by a random amount below
    /// this, so many partitions do not roll at the same moment.
    pub segment_jitter_ms: u64,
    /// `segment.index.bytes`: the size of each index file; a full index rolls the segment.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: one offset-index entry per this many bytes appended.
    pub index_interval_bytes: u64,
    /// `retention.ms`: segments whose newest record is older than this are deleted.
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: a partition's log is cut back to about this size.
    pub retention_bytes: Option<u64>,
    /// `file.delete.delay.ms`: how long a deleted segment's files wait before they are
    /// unlinked (readers no longer see it at once).
    pub file_delete_delay_ms: u64,
    /// `min.cleanable.dirty.ratio`: the share of dirty bytes that makes a log worth cleaning.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: a record stays uncompacted at least this long.
    pub min_compaction_lag_ms: u64,
    /// `max.compaction.lag.ms`: a record is compacted at the latest this long after it was
    /// written (if the log rolls).
    pub max_compaction_lag_ms: u64,
    /// `delete.retention.ms`: how long a tombstone stays after the first cleaning saw it.
    pub delete_retention_ms: u64,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig::KAFKA_DEFAULT
    }
}

impl LogConfig {
    /// Kafka 3.7's defaults (`ServerLogConfigs` / `LogConfig`).
    pub const KAFKA_DEFAULT: LogConfig = LogConfig {
        cleanup_policy: CleanupPolicy::DELETE,
        segment_bytes: 1024 * 1024 * 1024,
        segment_ms: 7 * 24 * 60 * 60 * 1000,
        segment_jitter_ms: 0,
        segment_index_bytes: 10 * 1024 * 1024,
        index_interval_bytes: 4096,
        retention_ms: Some(7 * 24 * 60 * 60 * 1000),
        retention_bytes: None,
        file_delete_delay_ms: 60_000,
        min_cleanable_dirty_ratio: 0.5,
        min_compaction_lag_ms: 0,
        max_compaction_lag_ms: LONG_MAX,
        delete_retention_ms: 24 * 60 * 60 * 1000,
        timestamp_type: TimestampType::CreateTime,
    };

    /// `__consumer_offsets`: compacted, with `offsets.topic.segment.bytes` (100 MiB)
    /// segments (`GroupMetadataManager`'s topic configs).
    pub fn offsets_topic(segment_bytes: u64) -> LogConfig {
        LogConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            segment_bytes,
            ..LogConfig::KAFKA_DEFAULT
        }
    }

    /// `LogConfig.maxSegmentMs`: a compacted log rolls by `max.compaction.lag.ms` too, so
    /// that records in the active segment become cleanable in time (KIP-354).
    pub fn max_segment_ms(&self) -> u64 {
        if self.cleanup_policy.compact {
            self.segment_ms.min(self.max_compaction_lag_ms)
        } else {
            self.segment_ms
        }
    }

    /// The checks Kafka's `LogConfig.validate` makes across keys.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_compaction_lag_ms > self.max_compaction_lag_ms {
            return Err(format!(
                "min.compaction.lag.ms ({}) must not be larger than max.compaction.lag.ms ({})",
                self.min_compaction_lag_ms, self.max_compaction_lag_ms
            ));
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return Err(format!(
                "min.cleanable.dirty.ratio must be between 0 and 1, got {}",
                self.min_cleanable_dirty_ratio
            ));
        }
        // LogConfig: segment.bytes atLeast(LegacyRecord.RECORD_OVERHEAD_V0) = 14,
        // segment.index.bytes atLeast(4), segment.ms atLeast(1).
        if self.segment_bytes < 14 {
            return Err(format!(
                "segment.bytes must be at least 14, got {}",
                self.segment_bytes
            ));
        }
        if self.segment_index_bytes < 4 {
            return Err(format!(
                "segment.index.bytes must be at least 4, got {}",
                self.segment_index_bytes
            ));
        }
        if self.segment_ms < 1 || self.max_compaction_lag_ms < 1 {
            return Err("segment.ms and max.compaction.lag.ms must be at least 1".to_string());
        }
        Ok(())
    }
}

/// The log cleaner's broker-wide configs (`CleanerConfig`), and the retention thread's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`.
    pub enable: bool,
    /// `log.cleaner.dedupe.buffer.size`: the memory of the offset map, shared by the
    /// cleaner threads.
    pub dedupe_buffer_size_bytes: u64,
    /// `log.cleaner.io.buffer.load.factor`: how full the offset map may get.
    pub io_buffer_load_factor: f64,
    /// `log.cleaner.threads`.
    pub threads: u32,
    /// `log.cleaner.backoff.ms`: how long a cleaner thread sleeps when nothing is to clean.
    pub backoff_ms: u64,
    /// `log.retention.check.interval.ms`: how often retention runs on logs without `compact`.
    pub retention_check_interval_ms: u64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig::KAFKA_DEFAULT
    }
}

/// The bytes of one offset-map entry: a key's MD5 (16) and an offset (8)
/// (`SkimpyOffsetMap.bytesPerEntry`).
pub const OFFSET_MAP_ENTRY_BYTES: u64 = 24;

impl CleanerConfig {
    pub const KAFKA_DEFAULT: CleanerConfig = CleanerConfig {
        enable: true,
        dedupe_buffer_size_bytes: 128 * 1024 * 1024,
        io_buffer_load_factor: 0.9,
        threads: 1,
        backoff_ms: 15_000,
        retention_check_interval_ms: 300_000,
    };

    /// How many distinct keys one cleaning round can map: `SkimpyOffsetMap`'s slots
    /// (`memory / 24`, the memory being the buffer divided among the threads and capped at
    /// `Int.MAX`) times the load factor, rounded down (`LogCleaner`'s `Cleaner` setup).
    /// With Kafka's defaults: 5,033,164.
    pub fn dedupe_buffer_keys(&self) -> u64 {
        let memory =
            (self.dedupe_buffer_size_bytes / self.threads.max(1) as u64).min(i32::MAX as u64);
        let slots = memory / OFFSET_MAP_ENTRY_BYTES;
        (slots as f64 * self.io_buffer_load_factor).floor() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_offset_map_holds_kafkas_number_of_keys() {
        assert_eq!(CleanerConfig::KAFKA_DEFAULT.dedupe_buffer_keys(), 5_033_164);
    }

    #[test]
    fn policies_parse_in_either_order() {
        assert_eq!(
            CleanupPolicy::parse("delete,compact"),
            CleanupPolicy::parse("compact, delete")
        );
        assert_eq!(
            CleanupPolicy::parse("compact"),
            Some(CleanupPolicy::COMPACT)
        );
        assert_eq!(CleanupPolicy::parse("remove"), None);
    }

    #[test]
    fn a_compacted_log_rolls_by_its_max_compaction_lag() {
        let mut c = LogConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            max_compaction_lag_ms: 1000,
            ..LogConfig::KAFKA_DEFAULT
        };
        assert_eq!(c.max_segment_ms(), 1000);
        c.cleanup_policy = CleanupPolicy::DELETE;
        assert_eq!(c.max_segment_ms(), LogConfig::KAFKA_DEFAULT.segment_ms);
    }

    #[test]
    fn min_lag_above_max_lag_is_refused() {
        let c = LogConfig {
            min_compaction_lag_ms: 10,
            max_compaction_lag_ms: 5,
            ..LogConfig::KAFKA_DEFAULT
        };
        assert!(c.validate().is_err());
    }
}
