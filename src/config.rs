//! Kafka configuration by Kafka's own names and defaults.
//!
//! Scenario files set configs with the names an operator would type in `server.properties`,
//! a topic's `--config`, or a client's properties. Each struct here holds one scope, with
//! Kafka's default for every key (the defaults of Kafka 3.x in ZooKeeper mode). Unknown keys
//! are errors that suggest the nearest known key: a typo in `min.insync.replicas` must never
//! silently run a scenario with the default.

use crate::log::config::{CleanerConfig, CleanupPolicy, LogConfig, TimestampType};
use std::collections::BTreeMap;
use std::fmt;

mod clients;
mod unmodelled;
pub use crate::kafka_version::{FollowerRestart, KafkaVersion};
pub use clients::{AutoOffsetReset, ConsumerConfig, ProducerConfig};
pub use unmodelled::is_kafka_config_not_modelled;

/// A config value as a scenario file gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigValue {
    Int(i64),
    Bool(bool),
    Str(String),
    Float(f64),
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Int(v) => write!(f, "{v}"),
            ConfigValue::Bool(v) => write!(f, "{v}"),
            ConfigValue::Str(v) => write!(f, "\"{v}\""),
            ConfigValue::Float(v) => write!(f, "{v}"),
        }
    }
}

/// What went wrong with one config entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown config `{key}`{}", suggestion_part(.suggestion))]
    UnknownKey {
        key: String,
        suggestion: Option<String>,
    },
    #[error("`{key}` is a Kafka config that kafka-sim does not model yet; remove it (the run would report what Kafka does without it)")]
    NotModelled { key: String },
    #[error("config `{key}` expects {expected}, got {got}")]
    BadValue {
        key: String,
        expected: &'static str,
        got: String,
    },
}

/// ` (did you mean `...`?)`, or nothing.
fn suggestion_part(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map_or(String::new(), |s| format!(" (did you mean `{s}`?)"))
}

impl ConfigError {
    /// The same error, told about the key the user wrote (a broker-level name for a topic
    /// config, such as `log.flush.interval.messages` for `flush.messages`).
    fn for_key(self, key: &str) -> ConfigError {
        match self {
            ConfigError::BadValue { expected, got, .. } => ConfigError::BadValue {
                key: key.to_string(),
                expected,
                got,
            },
            other => other,
        }
    }
}

fn as_u64(key: &str, v: &ConfigValue) -> Result<u64, ConfigError> {
    match v {
        ConfigValue::Int(i) if *i >= 0 => Ok(*i as u64),
        ConfigValue::Str(s) if s.parse::<u64>().is_ok() => Ok(s.parse().unwrap_or_default()),
        other => Err(ConfigError::BadValue {
            key: key.to_string(),
            expected: "a non-negative integer",
            got: other.to_string(),
        }),
    }
}

/// A whole number of at least 1, as Kafka's `ConfigDef.Range.atLeast(1)` validator wants:
/// Kafka refuses to start with 0 ("Value must be at least 1"), so a scenario does too.
fn at_least_one(key: &str, v: &ConfigValue) -> Result<u64, ConfigError> {
    match as_u64(key, v)? {
        0 => Err(ConfigError::BadValue {
            key: key.to_string(),
            expected: "at least 1 (Kafka's validator: atLeast(1))",
            got: v.to_string(),
        }),
        n => Ok(n),
    }
}

fn as_bool(key: &str, v: &ConfigValue) -> Result<bool, ConfigError> {
    match v {
        ConfigValue::Bool(b) => Ok(*b),
        ConfigValue::Str(s) if s == "true" || s == "false" => Ok(s == "true"),
        other => Err(ConfigError::BadValue {
            key: key.to_string(),
            expected: "true or false",
            got: other.to_string(),
        }),
    }
}

fn as_string(key: &str, v: &ConfigValue) -> Result<String, ConfigError> {
    match v {
        ConfigValue::Str(s) => Ok(s.clone()),
        ConfigValue::Int(i) => Ok(i.to_string()),
        other => Err(ConfigError::BadValue {
            key: key.to_string(),
            expected: "a string",
            got: other.to_string(),
        }),
    }
}

/// A `long` where -1 means "unlimited" (`retention.ms`, `retention.bytes`): `None`.
fn as_limit(key: &str, v: &ConfigValue) -> Result<Option<u64>, ConfigError> {
    match v {
        ConfigValue::Int(-1) => Ok(None),
        ConfigValue::Str(s) if s == "-1" => Ok(None),
        other => as_u64(key, other)
            .map(Some)
            .map_err(|_| ConfigError::BadValue {
                key: key.to_string(),
                expected: "a non-negative integer, or -1 for unlimited",
                got: other.to_string(),
            }),
    }
}

/// A ratio between 0 and 1 (`ConfigDef.Range.between(0, 1)`).
fn as_ratio(key: &str, v: &ConfigValue) -> Result<f64, ConfigError> {
    let r = match v {
        ConfigValue::Float(f) => Some(*f),
        ConfigValue::Int(i) => Some(*i as f64),
        ConfigValue::Str(s) => s.parse::<f64>().ok(),
        ConfigValue::Bool(_) => None,
    };
    match r {
        Some(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(ConfigError::BadValue {
            key: key.to_string(),
            expected: "a number between 0 and 1",
            got: v.to_string(),
        }),
    }
}

fn as_cleanup_policy(key: &str, v: &ConfigValue) -> Result<CleanupPolicy, ConfigError> {
    as_string(key, v)
        .ok()
        .and_then(|s| CleanupPolicy::parse(&s))
        .ok_or_else(|| ConfigError::BadValue {
            key: key.to_string(),
            expected: "\"delete\", \"compact\" or \"compact,delete\"",
            got: v.to_string(),
        })
}

fn as_timestamp_type(key: &str, v: &ConfigValue) -> Result<TimestampType, ConfigError> {
    match as_string(key, v).as_deref() {
        Ok("CreateTime") => Ok(TimestampType::CreateTime),
        Ok("LogAppendTime") => Ok(TimestampType::LogAppendTime),
        _ => Err(ConfigError::BadValue {
            key: key.to_string(),
            expected: "\"CreateTime\" or \"LogAppendTime\"",
            got: v.to_string(),
        }),
    }
}

/// A whole number of at least `min` (`ConfigDef.Range.atLeast(min)`).
fn at_least(key: &str, v: &ConfigValue, min: u64) -> Result<u64, ConfigError> {
    let n = as_u64(key, v)?;
    if n < min {
        return Err(ConfigError::BadValue {
            key: key.to_string(),
            expected: match min {
                4 => "at least 4 (Kafka's validator: atLeast(4))",
                14 => "at least 14 (Kafka's validator: atLeast(14))",
                _ => "at least 1 (Kafka's validator: atLeast(1))",
            },
            got: v.to_string(),
        });
    }
    Ok(n)
}

/// Kafka's `Long.MAX_VALUE`, its "never" for `flush.messages` and `flush.ms`: the model's
/// never is `u64::MAX`.
fn never_at_max(n: u64) -> u64 {
    if n >= i64::MAX as u64 {
        u64::MAX
    } else {
        n
    }
}

/// One Kafka config key, declared once (in the manner of ripgrep's `flags/defs.rs`): its
/// name, Kafka's default, its unit, one line on what it does, and how a value is checked
/// and stored. Each scope's list drives `apply` (and the nearest key for a typo), the
/// scope's `Default` and the README's config table.
pub struct ConfigKey<C: 'static> {
    pub name: &'static str,
    /// Kafka's default as text, stored through `apply`; `None` for no default (null).
    pub default: Option<&'static str>,
    /// `ms`, `bytes`, ... or empty for a value without a unit.
    pub unit: &'static str,
    pub doc: &'static str,
    /// Checks the value as Kafka's validator does and stores it; the `&str` is the key the
    /// user wrote, for the error.
    pub apply: fn(&mut C, &str, &ConfigValue) -> Result<(), ConfigError>,
}

/// Applies `key` through its declaration, or names the nearest declared key.
fn apply_declared<C>(
    keys: &[ConfigKey<C>],
    config: &mut C,
    key: &str,
    v: &ConfigValue,
) -> Result<(), ConfigError> {
    match keys.iter().find(|k| k.name == key) {
        Some(k) => (k.apply)(config, key, v),
        None if is_kafka_config_not_modelled(key) => Err(ConfigError::NotModelled {
            key: key.to_string(),
        }),
        None => Err(ConfigError::UnknownKey {
            key: key.to_string(),
            suggestion: nearest_key(key, keys.iter().map(|k| k.name)),
        }),
    }
}

/// `blank` with every declared default applied.
fn with_defaults<C>(mut blank: C, keys: &[ConfigKey<C>]) -> C {
    for k in keys {
        if let Some(default) = k.default {
            let value = ConfigValue::Str(default.to_string());
            if let Err(e) = (k.apply)(&mut blank, k.name, &value) {
                panic!("the declared default of {}: {e}", k.name);
            }
        }
    }
    blank
}

/// Whether `key` is declared in `keys`.
pub fn is_declared<C>(keys: &[ConfigKey<C>], key: &str) -> bool {
    keys.iter().any(|k| k.name == key)
}

/// The README's config table: every declared key of every scope.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| scope | key | default | unit | what it does |\n| --- | --- | --- | --- | --- |\n",
    );
    let mut rows =
        |scope: &str, keys: &mut dyn Iterator<Item = (&str, Option<&str>, &str, &str)>| {
            for (name, default, unit, doc) in keys {
                let default = default.map_or("none".to_string(), |d| format!("`{d}`"));
                out.push_str(&format!(
                    "| {scope} | `{name}` | {default} | {unit} | {doc} |\n"
                ));
            }
        };
    rows(
        "broker",
        &mut BrokerConfig::DECLARED
            .iter()
            .map(|k| (k.name, k.default, k.unit, k.doc)),
    );
    rows(
        "topic",
        &mut TopicConfig::DECLARED
            .iter()
            .map(|k| (k.name, k.default, k.unit, k.doc)),
    );
    rows(
        "producer",
        &mut ProducerConfig::DECLARED
            .iter()
            .map(|k| (k.name, k.default, k.unit, k.doc)),
    );
    rows(
        "consumer",
        &mut ConsumerConfig::DECLARED
            .iter()
            .map(|k| (k.name, k.default, k.unit, k.doc)),
    );
    out
}

/// The nearest key by edit distance (Levenshtein, `strsim`), if it is close enough to be a
/// likely typo: at most a third of the key's length, and at least 2, edits away.
pub fn nearest_key<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let d = strsim::levenshtein(key, k);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .map(|(_, k)| k.to_string())
}

/// Kafka's `inter.broker.protocol.version`: which request versions the brokers speak to each
/// other, and so the protocol rules that came with them; see each `uses_*` method for its
/// KIP. The code the brokers run is their release, [`KafkaVersion`], which caps this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProtocolVersion {
    pub major: u32,
    pub minor: u32,
}

impl ProtocolVersion {
    /// The newest behaviour the simulator models.
    pub const LATEST: ProtocolVersion = ProtocolVersion { major: 3, minor: 7 };

    pub fn parse(s: &str) -> Option<ProtocolVersion> {
        // Accept "0.10.2", "0.11.0", "2.1", "3.7-IV1", "3.7".
        let s = s.split('-').next()?;
        let parts: Vec<&str> = s.split('.').collect();
        let nums: Vec<u32> = parts
            .iter()
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        match nums.as_slice() {
            [0, minor, ..] => Some(ProtocolVersion {
                major: 0,
                minor: *minor,
            }),
            [major, minor, ..] => Some(ProtocolVersion {
                major: *major,
                minor: *minor,
            }),
            _ => None,
        }
    }

    /// KIP-101 (0.11.0): truncate by leader epoch instead of to the local high watermark.
    pub fn uses_leader_epochs(self) -> bool {
        self >= ProtocolVersion {
            major: 0,
            minor: 11,
        }
    }

    /// KIP-227 (1.1): replica fetchers hold a fetch session with each leader, so a fetch
    /// names only the partitions whose state changed and the answer only those with news.
    pub fn uses_fetch_sessions(self) -> bool {
        self >= ProtocolVersion { major: 1, minor: 1 }
    }

    /// KIP-279 (2.0): the follower walks back through epochs to the one both logs share.
    pub fn uses_kip_279(self) -> bool {
        self >= ProtocolVersion { major: 2, minor: 0 }
    }

    /// KIP-320 (2.1): fetches carry the current leader epoch and are fenced on mismatch.
    pub fn uses_kip_320(self) -> bool {
        self >= ProtocolVersion { major: 2, minor: 1 }
    }

    /// KIP-595's truncation on fetch (2.7, used by replica fetchers from 2.8): the follower
    /// sends the epoch of its last record and the leader answers with a diverging epoch,
    /// instead of a separate OffsetsForLeaderEpoch round trip.
    pub fn uses_truncation_on_fetch(self) -> bool {
        self >= ProtocolVersion { major: 2, minor: 7 }
    }

    /// KIP-497 (2.7-IV2): a leader asks the controller to change its ISR (AlterIsr; Kafka's
    /// `DefaultAlterPartitionManager`). Before, it wrote the partition's state znode itself
    /// with a version check and left a `/isr_change_notification` znode for the controller
    /// (`Partition.updateIsr` up to 2.6, `ZkAlterPartitionManager` after).
    pub fn uses_alter_isr(self) -> bool {
        self >= ProtocolVersion { major: 2, minor: 7 }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Topic-level configs (broker-level defaults under their `log.`-less topic names too).
#[derive(Clone, Debug, PartialEq)]
pub struct TopicConfig {
    pub min_insync_replicas: u32,
    pub unclean_leader_election_enable: bool,
    /// `flush.messages`: fsync after this many messages (Kafka's default: never).
    pub flush_messages: u64,
    /// `flush.ms`: fsync when the oldest unflushed message is this old (default: never).
    pub flush_ms: u64,
    /// The log layer's keys: segments, retention, compaction.
    pub log: LogConfig,
}

impl Default for TopicConfig {
    fn default() -> Self {
        let blank = TopicConfig {
            min_insync_replicas: 0,
            unclean_leader_election_enable: false,
            flush_messages: 0,
            flush_ms: 0,
            log: LogConfig::KAFKA_DEFAULT,
        };
        with_defaults(blank, Self::DECLARED)
    }
}

impl TopicConfig {
    /// Every key of this scope, declared once: the parser, the defaults and the README's
    /// config table all come from this list.
    pub const DECLARED: &'static [ConfigKey<TopicConfig>] = &[
        // LogConfig: min.insync.replicas and flush.messages are atLeast(1), flush.ms
        // atLeast(0).
        ConfigKey {
            name: "min.insync.replicas",
            default: Some("1"),
            unit: "replicas",
            doc: "the fewest ISR members an acks=all write needs",
            apply: |c, k, v| {
                c.min_insync_replicas = at_least_one(k, v)?.min(u32::MAX as u64) as u32;
                Ok(())
            },
        },
        ConfigKey {
            name: "unclean.leader.election.enable",
            default: Some("false"),
            unit: "",
            doc: "whether a replica outside the ISR may be elected leader",
            apply: |c, k, v| {
                c.unclean_leader_election_enable = as_bool(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "flush.messages",
            default: Some("9223372036854775807"),
            unit: "messages",
            doc: "fsync after this many messages (Long.MAX_VALUE: never)",
            apply: |c, k, v| {
                c.flush_messages = never_at_max(at_least_one(k, v)?);
                Ok(())
            },
        },
        ConfigKey {
            name: "flush.ms",
            default: Some("9223372036854775807"),
            unit: "ms",
            doc: "fsync when the oldest unflushed message is this old (Long.MAX_VALUE: never)",
            apply: |c, k, v| {
                c.flush_ms = never_at_max(as_u64(k, v)?);
                Ok(())
            },
        },
        // The log layer (`LogConfig`'s validators).
        ConfigKey {
            name: "cleanup.policy",
            default: Some("delete"),
            unit: "",
            doc: "`delete` (retention deletes old segments), `compact` (the cleaner keeps each key's latest record), or both",
            apply: |c, k, v| {
                c.log.cleanup_policy = as_cleanup_policy(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "segment.bytes",
            default: Some("1073741824"),
            unit: "bytes",
            doc: "a segment rolls before an append would take it past this",
            apply: |c, k, v| {
                c.log.segment_bytes = at_least(k, v, 14)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "segment.ms",
            default: Some("604800000"),
            unit: "ms",
            doc: "a segment rolls at the next append once its records span more than this",
            apply: |c, k, v| {
                c.log.segment_ms = at_least_one(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "segment.jitter.ms",
            default: Some("0"),
            unit: "ms",
            doc: "a random amount below this is taken off each segment's `segment.ms`",
            apply: |c, k, v| {
                c.log.segment_jitter_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "segment.index.bytes",
            default: Some("10485760"),
            unit: "bytes",
            doc: "each index file's size; a full index rolls the segment",
            apply: |c, k, v| {
                c.log.segment_index_bytes = at_least(k, v, 4)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "index.interval.bytes",
            default: Some("4096"),
            unit: "bytes",
            doc: "one offset-index entry per this many bytes appended",
            apply: |c, k, v| {
                c.log.index_interval_bytes = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "retention.ms",
            default: Some("604800000"),
            unit: "ms",
            doc: "segments whose newest record is older than this are deleted (-1: never)",
            apply: |c, k, v| {
                c.log.retention_ms = as_limit(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "retention.bytes",
            default: Some("-1"),
            unit: "bytes",
            doc: "oldest segments are deleted while the partition's log is over this (-1: no limit)",
            apply: |c, k, v| {
                c.log.retention_bytes = as_limit(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "file.delete.delay.ms",
            default: Some("60000"),
            unit: "ms",
            doc: "how long a deleted segment's files wait before they are unlinked",
            apply: |c, k, v| {
                c.log.file_delete_delay_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "min.cleanable.dirty.ratio",
            default: Some("0.5"),
            unit: "",
            doc: "the share of dirty bytes above which the cleaner takes a compacted log",
            apply: |c, k, v| {
                c.log.min_cleanable_dirty_ratio = as_ratio(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "min.compaction.lag.ms",
            default: Some("0"),
            unit: "ms",
            doc: "a record stays uncompacted at least this long",
            apply: |c, k, v| {
                c.log.min_compaction_lag_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "max.compaction.lag.ms",
            default: Some("9223372036854775807"),
            unit: "ms",
            doc: "a closed segment is cleaned at the latest this long after its first record",
            apply: |c, k, v| {
                c.log.max_compaction_lag_ms = at_least_one(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "delete.retention.ms",
            default: Some("86400000"),
            unit: "ms",
            doc: "how long a tombstone stays after the cleaning round that first kept it",
            apply: |c, k, v| {
                c.log.delete_retention_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "message.timestamp.type",
            default: Some("CreateTime"),
            unit: "",
            doc: "`CreateTime` (the producer's clock) or `LogAppendTime` (the leader's)",
            apply: |c, k, v| {
                c.log.timestamp_type = as_timestamp_type(k, v)?;
                Ok(())
            },
        },
    ];

    pub fn apply(&mut self, key: &str, v: &ConfigValue) -> Result<(), ConfigError> {
        apply_declared(Self::DECLARED, self, key, v)
    }

    /// The checks between keys Kafka's `LogConfig.validate` makes, once all are set.
    pub fn validate(&self) -> Result<(), String> {
        self.log.validate()
    }
}

/// Broker configs (`server.properties`).
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerConfig {
    pub replica_lag_time_max_ms: u64,
    pub zookeeper_session_timeout_ms: u64,
    /// KRaft: the active controller fences a broker whose heartbeats stop this long.
    pub broker_session_timeout_ms: u64,
    /// KRaft: how often a broker heartbeats to the active controller.
    pub broker_heartbeat_interval_ms: u64,
    /// KRaft, KIP-876: a controller writes a metadata snapshot once this long has passed
    /// since its last one (0: never by time).
    pub metadata_log_max_snapshot_interval_ms: u64,
    /// KRaft: a metadata snapshot older than this goes, with the log below the next one
    /// (`None`: -1, kept forever).
    pub metadata_max_retention_ms: Option<u64>,
    /// KRaft, KIP-835: the active controller appends a NoOpRecord this often (0: never).
    pub metadata_max_idle_interval_ms: u64,
    pub replica_fetch_wait_max_ms: u64,
    pub replica_fetch_backoff_ms: u64,
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    pub replica_socket_timeout_ms: u64,
    pub controller_socket_timeout_ms: u64,
    pub inter_broker_protocol_version: ProtocolVersion,
    /// The release the brokers run (a scenario's `[cluster] kafka_version`, not a
    /// `server.properties` key): the code rules, where `inter_broker_protocol_version` is the
    /// protocol rules. It is never below that version (Kafka refuses to start so).
    pub kafka_version: KafkaVersion,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`.
    pub offsets_topic_num_partitions: u32,
    /// `offsets.topic.replication.factor`: from 0.11 the topic is not created until this many
    /// brokers are alive; before, it was capped by the live brokers.
    pub offsets_topic_replication_factor: u32,
    /// `offsets.commit.timeout.ms`: how long a commit waits for the offsets topic's ISR.
    pub offsets_commit_timeout_ms: u64,
    /// `group.initial.rebalance.delay.ms`: how long an empty group waits for more members.
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: u64,
    pub group_max_session_timeout_ms: u64,
    /// `auto.leader.rebalance.enable`: the controller moves leadership back to preferred
    /// replicas when a broker's leader imbalance is too high.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`, in ms: how often it checks.
    pub leader_imbalance_check_interval_ms: u64,
    /// `leader.imbalance.per.broker.percentage`: the imbalance a broker may have.
    pub leader_imbalance_per_broker_percentage: u32,
    /// `controlled.shutdown.enable`: a SIGTERM starts with a controlled shutdown.
    pub controlled_shutdown_enable: bool,
    /// `controlled.shutdown.max.retries`: attempts before the broker goes down anyway.
    pub controlled_shutdown_max_retries: u32,
    /// `controlled.shutdown.retry.backoff.ms`: the wait between two attempts.
    pub controlled_shutdown_retry_backoff_ms: u64,
    /// Defaults for every topic (`min.insync.replicas`, `unclean.leader.election.enable`,
    /// `log.flush.interval.messages`, `log.flush.interval.ms`).
    pub topic_defaults: TopicConfig,
    /// The log cleaner's and the retention thread's configs (`log.cleaner.*`,
    /// `log.retention.check.interval.ms`).
    pub cleaner: CleanerConfig,
    /// `offsets.topic.segment.bytes`: `__consumer_offsets`' segment size.
    pub offsets_topic_segment_bytes: u64,
    /// `transaction.state.log.num.partitions`: partitions of `__transaction_state`.
    pub transaction_state_log_num_partitions: u32,
    /// `transaction.state.log.replication.factor`: its replicas; the topic waits for this
    /// many brokers, as `__consumer_offsets` does.
    pub transaction_state_log_replication_factor: u32,
    /// `transaction.state.log.min.isr`: the topic's `min.insync.replicas`.
    pub transaction_state_log_min_isr: u32,
    /// `transaction.state.log.segment.bytes`: its segment size (compacted).
    pub transaction_state_log_segment_bytes: u64,
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask.
    pub transaction_max_timeout_ms: u64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: u64,
    /// `transaction.partition.verification.enable` (KIP-890 part 1, 3.6.0): `None` is the
    /// release's default, see [`BrokerConfig::transaction_partition_verification`].
    pub transaction_partition_verification_enable: Option<bool>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let blank = BrokerConfig {
            replica_lag_time_max_ms: 0,
            zookeeper_session_timeout_ms: 0,
            broker_session_timeout_ms: 0,
            broker_heartbeat_interval_ms: 0,
            metadata_log_max_snapshot_interval_ms: 0,
            metadata_max_retention_ms: None,
            metadata_max_idle_interval_ms: 0,
            replica_fetch_wait_max_ms: 0,
            replica_fetch_backoff_ms: 0,
            replica_high_watermark_checkpoint_interval_ms: 0,
            replica_socket_timeout_ms: 0,
            controller_socket_timeout_ms: 0,
            inter_broker_protocol_version: ProtocolVersion::LATEST,
            kafka_version: KafkaVersion::LATEST,
            offsets_topic_num_partitions: 0,
            offsets_topic_replication_factor: 0,
            offsets_commit_timeout_ms: 0,
            group_initial_rebalance_delay_ms: 0,
            group_min_session_timeout_ms: 0,
            group_max_session_timeout_ms: 0,
            auto_leader_rebalance_enable: false,
            leader_imbalance_check_interval_ms: 0,
            leader_imbalance_per_broker_percentage: 0,
            controlled_shutdown_enable: false,
            controlled_shutdown_max_retries: 0,
            controlled_shutdown_retry_backoff_ms: 0,
            topic_defaults: TopicConfig::default(),
            cleaner: CleanerConfig::KAFKA_DEFAULT,
            offsets_topic_segment_bytes: 0,
            transaction_state_log_num_partitions: 0,
            transaction_state_log_replication_factor: 0,
            transaction_state_log_min_isr: 0,
            transaction_state_log_segment_bytes: 0,
            transaction_max_timeout_ms: 0,
            transaction_abort_timed_out_transaction_cleanup_interval_ms: 0,
            transaction_partition_verification_enable: None,
        };
        with_defaults(blank, Self::DECLARED)
    }
}

impl BrokerConfig {
    /// Every key of this scope, declared once: the parser, the defaults and the README's
    /// config table all come from this list.
    pub const DECLARED: &'static [ConfigKey<BrokerConfig>] = &[
        // No validator in KafkaConfig; isr-expiration runs every half of it.
        ConfigKey {
            name: "replica.lag.time.max.ms",
            default: Some("30000"),
            unit: "ms",
            doc: "a follower this far behind leaves the ISR",
            apply: |c, k, v| {
                c.replica_lag_time_max_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        // No validator; the scenario checks it against the network's round trip.
        ConfigKey {
            name: "zookeeper.session.timeout.ms",
            default: Some("18000"),
            unit: "ms",
            doc: "a broker silent this long loses its ZooKeeper session",
            apply: |c, k, v| {
                c.zookeeper_session_timeout_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        // KRaft (KIP-631, `KafkaConfig.brokerSessionTimeoutMs`): no validator.
        ConfigKey {
            name: "broker.session.timeout.ms",
            default: Some("9000"),
            unit: "ms",
            doc: "KRaft: a broker without a heartbeat this long is fenced by the controller",
            apply: |c, k, v| {
                c.broker_session_timeout_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "broker.heartbeat.interval.ms",
            default: Some("2000"),
            unit: "ms",
            doc: "KRaft: how often a broker heartbeats to the active controller",
            apply: |c, k, v| {
                c.broker_heartbeat_interval_ms = as_u64(k, v)?.max(1);
                Ok(())
            },
        },
        // KRaft, KIP-876 (`KafkaConfig.metadataSnapshotMaxIntervalMs`): atLeast(0).
        ConfigKey {
            name: "metadata.log.max.snapshot.interval.ms",
            default: Some("3600000"),
            unit: "ms",
            doc: "KRaft: a controller writes a metadata snapshot once this long has passed since its last (0: never by time)",
            apply: |c, k, v| {
                c.metadata_log_max_snapshot_interval_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        // KRaft, KIP-835 (`KafkaConfig.metadataMaxIdleIntervalNs`): atLeast(0), 0 turns it off.
        ConfigKey {
            name: "metadata.max.idle.interval.ms",
            default: Some("500"),
            unit: "ms",
            doc: "KRaft: the active controller appends a NoOpRecord this often, so the metadata log's high watermark keeps moving (0: never)",
            apply: |c, k, v| {
                c.metadata_max_idle_interval_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        // KRaft (`KafkaConfig.metadataRetentionMillis`): -1 keeps everything.
        ConfigKey {
            name: "metadata.max.retention.ms",
            default: Some("604800000"),
            unit: "ms",
            doc: "KRaft: a metadata snapshot older than this is deleted with the log below the next snapshot (-1: never)",
            apply: |c, k, v| {
                c.metadata_max_retention_ms = as_limit(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "replica.fetch.wait.max.ms",
            default: Some("500"),
            unit: "ms",
            doc: "how long a leader holds a follower's fetch with nothing new",
            apply: |c, k, v| {
                c.replica_fetch_wait_max_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        // atLeast(0): a follower fetches again at once after an error.
        ConfigKey {
            name: "replica.fetch.backoff.ms",
            default: Some("1000"),
            unit: "ms",
            doc: "how long a follower waits after a failed fetch",
            apply: |c, k, v| {
                c.replica_fetch_backoff_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        // No validator; 0 checkpoints once (KafkaScheduler), so never in the simulator.
        ConfigKey {
            name: "replica.high.watermark.checkpoint.interval.ms",
            default: Some("5000"),
            unit: "ms",
            doc: "how often the high watermarks are written to disk",
            apply: |c, k, v| {
                c.replica_high_watermark_checkpoint_interval_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "replica.socket.timeout.ms",
            default: Some("30000"),
            unit: "ms",
            doc: "how long a follower waits for a fetch answer",
            apply: |c, k, v| {
                c.replica_socket_timeout_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "controller.socket.timeout.ms",
            default: Some("30000"),
            unit: "ms",
            doc: "how long the controller waits for a broker's answer",
            apply: |c, k, v| {
                c.controller_socket_timeout_ms = as_u64(k, v)?.max(1);
                Ok(())
            },
        },
        ConfigKey {
            name: "inter.broker.protocol.version",
            default: Some("3.7"),
            unit: "",
            doc: "which inter-broker protocol rules the brokers follow (KIP-101, KIP-279, KIP-320, ...); defaults to `[cluster] kafka_version`'s major.minor, never above it",
            apply: |c, k, v| {
                let s = as_string(k, v)?;
                c.inter_broker_protocol_version =
                    ProtocolVersion::parse(&s).ok_or(ConfigError::BadValue {
                        key: k.to_string(),
                        expected: "a Kafka version such as \"0.10.2\", \"2.0\" or \"3.7\"",
                        got: v.to_string(),
                    })?;
                Ok(())
            },
        },
        // atLeast(1) in KafkaConfig; the simulator keeps at most 1000 partitions and a
        // replication factor of at most 100.
        ConfigKey {
            name: "offsets.topic.num.partitions",
            default: Some("50"),
            unit: "partitions",
            doc: "partitions of `__consumer_offsets`",
            apply: |c, k, v| {
                c.offsets_topic_num_partitions = at_least_one(k, v)?.min(1000) as u32;
                Ok(())
            },
        },
        ConfigKey {
            name: "offsets.topic.replication.factor",
            default: Some("3"),
            unit: "replicas",
            doc: "replicas of `__consumer_offsets`; from 0.11 it waits for this many brokers",
            apply: |c, k, v| {
                c.offsets_topic_replication_factor = at_least_one(k, v)?.min(100) as u32;
                Ok(())
            },
        },
        ConfigKey {
            name: "offsets.commit.timeout.ms",
            default: Some("5000"),
            unit: "ms",
            doc: "how long a commit waits for the offsets topic's ISR",
            apply: |c, k, v| {
                c.offsets_commit_timeout_ms = at_least_one(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "group.initial.rebalance.delay.ms",
            default: Some("3000"),
            unit: "ms",
            doc: "how long an empty group waits for more members",
            apply: |c, k, v| {
                c.group_initial_rebalance_delay_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "group.min.session.timeout.ms",
            default: Some("6000"),
            unit: "ms",
            doc: "the shortest session.timeout.ms a member may ask for",
            apply: |c, k, v| {
                c.group_min_session_timeout_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "group.max.session.timeout.ms",
            default: Some("1800000"),
            unit: "ms",
            doc: "the longest session.timeout.ms a member may ask for",
            apply: |c, k, v| {
                c.group_max_session_timeout_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        // `KafkaController.onControllerFailover` schedules the first check 5 s after a
        // controller takes office, then every interval (`scheduleAutoLeaderRebalanceTask`).
        ConfigKey {
            name: "auto.leader.rebalance.enable",
            default: Some("true"),
            unit: "",
            doc: "the controller moves leadership back to the preferred replica (the first of the assignment) when a broker's leader imbalance is above leader.imbalance.per.broker.percentage; checked 5 s after a controller takes office, then every leader.imbalance.check.interval.seconds",
            apply: |c, k, v| {
                c.auto_leader_rebalance_enable = as_bool(k, v)?;
                Ok(())
            },
        },
        // atLeast(1) in KafkaConfig.
        ConfigKey {
            name: "leader.imbalance.check.interval.seconds",
            default: Some("300"),
            unit: "s",
            doc: "how often the controller checks the leader imbalance",
            apply: |c, k, v| {
                c.leader_imbalance_check_interval_ms = at_least_one(k, v)?.saturating_mul(1_000);
                Ok(())
            },
        },
        // No validator in KafkaConfig; a share of a broker's preferred partitions.
        ConfigKey {
            name: "leader.imbalance.per.broker.percentage",
            default: Some("10"),
            unit: "%",
            doc: "the share of a broker's preferred partitions that may be led elsewhere before the controller moves them back",
            apply: |c, k, v| {
                c.leader_imbalance_per_broker_percentage = as_u64(k, v)?.min(100) as u32;
                Ok(())
            },
        },
        ConfigKey {
            name: "controlled.shutdown.enable",
            default: Some("true"),
            unit: "",
            doc: "on a SIGTERM the broker first asks the controller to move its leaderships away and take it out of the ISRs it follows (`KafkaServer.controlledShutdown`)",
            apply: |c, k, v| {
                c.controlled_shutdown_enable = as_bool(k, v)?;
                Ok(())
            },
        },
        // No validator in KafkaConfig; 0 means no attempt at all.
        ConfigKey {
            name: "controlled.shutdown.max.retries",
            default: Some("3"),
            unit: "attempts",
            doc: "how many controlled-shutdown requests the broker sends before it goes down anyway",
            apply: |c, k, v| {
                c.controlled_shutdown_max_retries = as_u64(k, v)?.min(u32::MAX as u64) as u32;
                Ok(())
            },
        },
        ConfigKey {
            name: "controlled.shutdown.retry.backoff.ms",
            default: Some("5000"),
            unit: "ms",
            doc: "how long the broker waits between two controlled-shutdown attempts",
            apply: |c, k, v| {
                c.controlled_shutdown_retry_backoff_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "min.insync.replicas",
            default: Some("1"),
            unit: "replicas",
            doc: "the topics' default `min.insync.replicas`",
            apply: |c, k, v| c.topic_defaults.apply(k, v),
        },
        ConfigKey {
            name: "unclean.leader.election.enable",
            default: Some("false"),
            unit: "",
            doc: "the topics' default `unclean.leader.election.enable`",
            apply: |c, k, v| c.topic_defaults.apply(k, v),
        },
        ConfigKey {
            name: "log.flush.interval.messages",
            default: Some("9223372036854775807"),
            unit: "messages",
            doc: "the topics' default `flush.messages`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("flush.messages", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.flush.interval.ms",
            default: Some("9223372036854775807"),
            unit: "ms",
            doc: "the topics' default `flush.ms`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("flush.ms", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.cleanup.policy",
            default: Some("delete"),
            unit: "",
            doc: "the topics' default `cleanup.policy`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("cleanup.policy", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.segment.bytes",
            default: Some("1073741824"),
            unit: "bytes",
            doc: "the topics' default `segment.bytes`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("segment.bytes", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.roll.ms",
            default: Some("604800000"),
            unit: "ms",
            doc: "the topics' default `segment.ms`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("segment.ms", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.roll.jitter.ms",
            default: Some("0"),
            unit: "ms",
            doc: "the topics' default `segment.jitter.ms`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("segment.jitter.ms", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.index.size.max.bytes",
            default: Some("10485760"),
            unit: "bytes",
            doc: "the topics' default `segment.index.bytes`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("segment.index.bytes", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.index.interval.bytes",
            default: Some("4096"),
            unit: "bytes",
            doc: "the topics' default `index.interval.bytes`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("index.interval.bytes", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.retention.ms",
            default: Some("604800000"),
            unit: "ms",
            doc: "the topics' default `retention.ms`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("retention.ms", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.retention.bytes",
            default: Some("-1"),
            unit: "bytes",
            doc: "the topics' default `retention.bytes`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("retention.bytes", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.segment.delete.delay.ms",
            default: Some("60000"),
            unit: "ms",
            doc: "the topics' default `file.delete.delay.ms`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("file.delete.delay.ms", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.cleaner.min.cleanable.ratio",
            default: Some("0.5"),
            unit: "",
            doc: "the topics' default `min.cleanable.dirty.ratio`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("min.cleanable.dirty.ratio", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.cleaner.min.compaction.lag.ms",
            default: Some("0"),
            unit: "ms",
            doc: "the topics' default `min.compaction.lag.ms`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("min.compaction.lag.ms", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.cleaner.max.compaction.lag.ms",
            default: Some("9223372036854775807"),
            unit: "ms",
            doc: "the topics' default `max.compaction.lag.ms`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("max.compaction.lag.ms", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.cleaner.delete.retention.ms",
            default: Some("86400000"),
            unit: "ms",
            doc: "the topics' default `delete.retention.ms`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("delete.retention.ms", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.message.timestamp.type",
            default: Some("CreateTime"),
            unit: "",
            doc: "the topics' default `message.timestamp.type`",
            apply: |c, k, v| {
                c.topic_defaults
                    .apply("message.timestamp.type", v)
                    .map_err(|e| e.for_key(k))
            },
        },
        ConfigKey {
            name: "log.cleaner.enable",
            default: Some("true"),
            unit: "",
            doc: "whether the broker runs the log cleaner (compaction, and retention of `compact,delete` topics)",
            apply: |c, k, v| {
                c.cleaner.enable = as_bool(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "log.cleaner.dedupe.buffer.size",
            default: Some("134217728"),
            unit: "bytes",
            doc: "the cleaner's offset map memory (24 bytes a key), shared by its threads",
            apply: |c, k, v| {
                c.cleaner.dedupe_buffer_size_bytes = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "log.cleaner.io.buffer.load.factor",
            default: Some("0.9"),
            unit: "",
            doc: "how full the cleaner's offset map may get",
            apply: |c, k, v| {
                c.cleaner.io_buffer_load_factor = as_ratio(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "log.cleaner.threads",
            default: Some("1"),
            unit: "threads",
            doc: "cleaner threads; the offset map memory is divided among them",
            apply: |c, k, v| {
                c.cleaner.threads = at_least_one(k, v)?.min(u32::MAX as u64) as u32;
                Ok(())
            },
        },
        ConfigKey {
            name: "log.cleaner.backoff.ms",
            default: Some("15000"),
            unit: "ms",
            doc: "how long the cleaner sleeps when no log needs cleaning",
            apply: |c, k, v| {
                c.cleaner.backoff_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "log.retention.check.interval.ms",
            default: Some("300000"),
            unit: "ms",
            doc: "how often retention runs on logs without `compact`",
            apply: |c, k, v| {
                c.cleaner.retention_check_interval_ms = at_least_one(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "offsets.topic.segment.bytes",
            default: Some("104857600"),
            unit: "bytes",
            doc: "the segment size of `__consumer_offsets` (compacted)",
            apply: |c, k, v| {
                c.offsets_topic_segment_bytes = at_least_one(k, v)?;
                Ok(())
            },
        },
        // `TransactionStateManagerConfigs` and `TransactionLogConfigs`: atLeast(1) each.
        ConfigKey {
            name: "transaction.state.log.num.partitions",
            default: Some("50"),
            unit: "partitions",
            doc: "partitions of `__transaction_state`",
            apply: |c, k, v| {
                c.transaction_state_log_num_partitions = at_least_one(k, v)?.min(1000) as u32;
                Ok(())
            },
        },
        ConfigKey {
            name: "transaction.state.log.replication.factor",
            default: Some("3"),
            unit: "replicas",
            doc: "replicas of `__transaction_state`; it waits for this many brokers",
            apply: |c, k, v| {
                c.transaction_state_log_replication_factor = at_least_one(k, v)?.min(100) as u32;
                Ok(())
            },
        },
        ConfigKey {
            name: "transaction.state.log.min.isr",
            default: Some("2"),
            unit: "replicas",
            doc: "`min.insync.replicas` of `__transaction_state`",
            apply: |c, k, v| {
                c.transaction_state_log_min_isr = at_least_one(k, v)?.min(100) as u32;
                Ok(())
            },
        },
        ConfigKey {
            name: "transaction.state.log.segment.bytes",
            default: Some("104857600"),
            unit: "bytes",
            doc: "the segment size of `__transaction_state` (compacted)",
            apply: |c, k, v| {
                c.transaction_state_log_segment_bytes = at_least_one(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "transaction.max.timeout.ms",
            default: Some("900000"),
            unit: "ms",
            doc: "the longest `transaction.timeout.ms` a producer may ask for",
            apply: |c, k, v| {
                c.transaction_max_timeout_ms = at_least_one(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            default: Some("10000"),
            unit: "ms",
            doc: "how often the coordinator aborts transactions past their timeout",
            apply: |c, k, v| {
                c.transaction_abort_timed_out_transaction_cleanup_interval_ms =
                    at_least_one(k, v)?;
                Ok(())
            },
        },
        // `TransactionLogConfigs.TRANSACTION_PARTITION_VERIFICATION_ENABLE_CONFIG` (3.6.0,
        // default true); the key does not exist before, and the leader checks nothing.
        ConfigKey {
            name: "transaction.partition.verification.enable",
            default: None,
            unit: "",
            doc: "KIP-890: a leader asks the coordinator before a producer's first transactional batch on a partition (none: on from 3.6, absent before)",
            apply: |c, k, v| {
                c.transaction_partition_verification_enable = Some(as_bool(k, v)?);
                Ok(())
            },
        },
    ];

    /// Whether a partition leader verifies transactional batches with the coordinator
    /// (KIP-890 part 1, `ReplicaManager.maybeStartTransactionVerificationForPartitions`):
    /// the key's value, by default on from 3.6.0; a release before has no such check, so
    /// the key does nothing there.
    pub fn transaction_partition_verification(&self) -> bool {
        self.kafka_version.has_transaction_verification()
            && self
                .transaction_partition_verification_enable
                .unwrap_or(true)
    }

    /// Applies one broker config. The ranges are `KafkaConfig`'s validators; the checks
    /// between keys (`KafkaConfig.validateValues`) and against the network are the scenario's
    /// (`kafka_sim::scenario`). Where Kafka has no validator and a timer derives from the
    /// value, the broker follows `KafkaScheduler`: a task with a period of 0 runs once.
    pub fn apply(&mut self, key: &str, v: &ConfigValue) -> Result<(), ConfigError> {
        apply_declared(Self::DECLARED, self, key, v)
    }
}

/// Applies every entry of `map` with `apply`, stopping at the first error.
pub fn apply_all(
    map: &BTreeMap<String, ConfigValue>,
    mut apply: impl FnMut(&str, &ConfigValue) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    for (k, v) in map {
        apply(k, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::Strategy;
    use crate::types::Acks;

    #[test]
    fn unknown_key_suggests_nearest() {
        let mut c = TopicConfig::default();
        let err = c
            .apply("min.insync.replica", &ConfigValue::Int(2))
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::UnknownKey {
                key: "min.insync.replica".into(),
                suggestion: Some("min.insync.replicas".into())
            }
        );
    }

    /// The README's config table is `markdown_table()`, between its two markers.
    #[test]
    fn the_readme_config_table_matches_the_declarations() {
        let readme = include_str!("../README.md");
        let start = "<!-- config table: generated from src/config.rs -->\n";
        let end = "<!-- end of config table -->";
        let from = readme.find(start).expect("the start marker") + start.len();
        let to = readme.find(end).expect("the end marker");
        assert_eq!(
            &readme[from..to],
            markdown_table(),
            "README.md's config table is out of date: put markdown_table()'s output there"
        );
    }

    #[test]
    fn the_defaults_are_kafkas() {
        let broker = BrokerConfig::default();
        assert_eq!(broker.replica_lag_time_max_ms, 30_000);
        assert_eq!(
            broker.inter_broker_protocol_version,
            ProtocolVersion::LATEST
        );
        assert_eq!(broker.kafka_version, KafkaVersion::LATEST);
        assert_eq!(
            broker.kafka_version.protocol_version(),
            broker.inter_broker_protocol_version
        );
        assert_eq!(broker.topic_defaults, TopicConfig::default());
        let topic = TopicConfig::default();
        assert_eq!((topic.flush_messages, topic.flush_ms), (u64::MAX, u64::MAX));
        assert_eq!(topic.min_insync_replicas, 1);
        let producer = ProducerConfig::default();
        assert_eq!(producer.acks, Acks::All);
        assert_eq!(producer.retries, i32::MAX as u64);
        let consumer = ConsumerConfig::default();
        assert!(consumer.enable_auto_commit && consumer.group_id.is_none());
        assert_eq!(
            consumer.partition_assignment_strategy,
            vec![Strategy::Range, Strategy::CooperativeSticky]
        );
    }

    #[test]
    fn protocol_versions_order() {
        let old = ProtocolVersion::parse("0.10.2").unwrap();
        assert!(!old.uses_leader_epochs());
        assert!(ProtocolVersion::parse("0.11.0")
            .unwrap()
            .uses_leader_epochs());
        assert!(!ProtocolVersion::parse("0.11.0").unwrap().uses_kip_279());
        assert!(ProtocolVersion::parse("2.0").unwrap().uses_kip_279());
        assert!(ProtocolVersion::parse("2.1-IV2").unwrap().uses_kip_320());
    }

    #[test]
    fn acks_parse() {
        let mut p = ProducerConfig::default();
        p.apply("acks", &ConfigValue::Str("all".into())).unwrap();
        assert_eq!(p.acks, Acks::All);
        p.apply("acks", &ConfigValue::Int(1)).unwrap();
        assert_eq!(p.acks, Acks::Leader);
        assert!(p.apply("acks", &ConfigValue::Int(2)).is_err());
    }
}
