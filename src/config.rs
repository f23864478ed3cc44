//! Kafka configuration by Kafka's own names and defaults.
//!
//! Scenario files set configs with the names an operator would type in `server.properties`,
//! a topic's `--config`, or a client's properties. Each struct here holds one scope, with
//! Kafka's default for every key (the defaults of Kafka 3.x in ZooKeeper mode). Unknown keys
//! are errors that suggest the nearest known key: a typo in `min.insync.replicas` must never
//! silently run a scenario with the default.

use crate::assignor::Strategy;
use crate::types::Acks;
use std::collections::BTreeMap;
use std::fmt;

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    UnknownKey {
        key: String,
        suggestion: Option<String>,
    },
    BadValue {
        key: String,
        expected: &'static str,
        got: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownKey { key, suggestion } => {
                write!(f, "unknown config `{key}`")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean `{s}`?)")?;
                }
                Ok(())
            }
            ConfigError::BadValue { key, expected, got } => {
                write!(f, "config `{key}` expects {expected}, got {got}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

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

/// Kafka's `inter.broker.protocol.version`: which replication rules the brokers follow.
/// Only the rules that changed are switched; see each `uses_*` method for its KIP.
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

    /// 0.11 (KAFKA-3959): `__consumer_offsets` is created only with its full
    /// `offsets.topic.replication.factor`; before, the factor was capped by the live brokers.
    pub fn requires_full_offsets_replication(self) -> bool {
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

    /// KAFKA-15583 (3.7): the high watermark does not advance while the ISR is below
    /// `min.insync.replicas`.
    pub fn uses_strict_min_isr(self) -> bool {
        self >= ProtocolVersion { major: 3, minor: 7 }
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
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            flush_messages: u64::MAX,
            flush_ms: u64::MAX,
        }
    }
}

impl TopicConfig {
    pub const KEYS: &'static [&'static str] = &[
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "flush.messages",
        "flush.ms",
    ];

    pub fn apply(&mut self, key: &str, v: &ConfigValue) -> Result<(), ConfigError> {
        match key {
            // LogConfig: min.insync.replicas and flush.messages are atLeast(1), flush.ms
            // atLeast(0).
            "min.insync.replicas" => {
                self.min_insync_replicas = at_least_one(key, v)?.min(u32::MAX as u64) as u32
            }
            "unclean.leader.election.enable" => {
                self.unclean_leader_election_enable = as_bool(key, v)?
            }
            "flush.messages" => self.flush_messages = at_least_one(key, v)?,
            "flush.ms" => self.flush_ms = as_u64(key, v)?,
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                    suggestion: nearest_key(key, Self::KEYS.iter().copied()),
                })
            }
        }
        Ok(())
    }
}

/// Broker configs (`server.properties`).
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerConfig {
    pub replica_lag_time_max_ms: u64,
    pub zookeeper_session_timeout_ms: u64,
    pub replica_fetch_wait_max_ms: u64,
    pub replica_fetch_backoff_ms: u64,
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    pub replica_socket_timeout_ms: u64,
    pub controller_socket_timeout_ms: u64,
    pub inter_broker_protocol_version: ProtocolVersion,
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
    /// Defaults for every topic (`min.insync.replicas`, `unclean.leader.election.enable`,
    /// `log.flush.interval.messages`, `log.flush.interval.ms`).
    pub topic_defaults: TopicConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            replica_lag_time_max_ms: 30_000,
            zookeeper_session_timeout_ms: 18_000,
            replica_fetch_wait_max_ms: 500,
            replica_fetch_backoff_ms: 1_000,
            replica_high_watermark_checkpoint_interval_ms: 5_000,
            replica_socket_timeout_ms: 30_000,
            controller_socket_timeout_ms: 30_000,
            inter_broker_protocol_version: ProtocolVersion::LATEST,
            offsets_topic_num_partitions: 50,
            offsets_topic_replication_factor: 3,
            offsets_commit_timeout_ms: 5_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            topic_defaults: TopicConfig::default(),
        }
    }
}

impl BrokerConfig {
    pub const KEYS: &'static [&'static str] = &[
        "replica.lag.time.max.ms",
        "zookeeper.session.timeout.ms",
        "replica.fetch.wait.max.ms",
        "replica.fetch.backoff.ms",
        "replica.high.watermark.checkpoint.interval.ms",
        "replica.socket.timeout.ms",
        "controller.socket.timeout.ms",
        "inter.broker.protocol.version",
        "offsets.topic.num.partitions",
        "offsets.topic.replication.factor",
        "offsets.commit.timeout.ms",
        "group.initial.rebalance.delay.ms",
        "group.min.session.timeout.ms",
        "group.max.session.timeout.ms",
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "log.flush.interval.messages",
        "log.flush.interval.ms",
    ];

    /// Applies one broker config. The ranges are `KafkaConfig`'s validators; the checks
    /// between keys (`KafkaConfig.validateValues`) and against the network are the scenario's
    /// (`kafka_sim::scenario`). Where Kafka has no validator and a timer derives from the
    /// value, the broker follows `KafkaScheduler`: a task with a period of 0 runs once.
    pub fn apply(&mut self, key: &str, v: &ConfigValue) -> Result<(), ConfigError> {
        match key {
            // No validator in KafkaConfig; isr-expiration runs every half of it.
            "replica.lag.time.max.ms" => self.replica_lag_time_max_ms = as_u64(key, v)?,
            // No validator; the scenario checks it against the network's round trip.
            "zookeeper.session.timeout.ms" => self.zookeeper_session_timeout_ms = as_u64(key, v)?,
            "replica.fetch.wait.max.ms" => self.replica_fetch_wait_max_ms = as_u64(key, v)?,
            // atLeast(0): a follower fetches again at once after an error.
            "replica.fetch.backoff.ms" => self.replica_fetch_backoff_ms = as_u64(key, v)?,
            // No validator; 0 checkpoints once (KafkaScheduler), so never in the simulator.
            "replica.high.watermark.checkpoint.interval.ms" => {
                self.replica_high_watermark_checkpoint_interval_ms = as_u64(key, v)?
            }
            "replica.socket.timeout.ms" => self.replica_socket_timeout_ms = as_u64(key, v)?,
            "controller.socket.timeout.ms" => {
                self.controller_socket_timeout_ms = as_u64(key, v)?.max(1)
            }
            "inter.broker.protocol.version" => {
                let s = as_string(key, v)?;
                self.inter_broker_protocol_version =
                    ProtocolVersion::parse(&s).ok_or(ConfigError::BadValue {
                        key: key.to_string(),
                        expected: "a Kafka version such as \"0.10.2\", \"2.0\" or \"3.7\"",
                        got: v.to_string(),
                    })?;
            }
            // atLeast(1) in KafkaConfig; the simulator keeps at most 1000 partitions and a
            // replication factor of at most 100.
            "offsets.topic.num.partitions" => {
                self.offsets_topic_num_partitions = at_least_one(key, v)?.min(1000) as u32
            }
            "offsets.topic.replication.factor" => {
                self.offsets_topic_replication_factor = at_least_one(key, v)?.min(100) as u32
            }
            "offsets.commit.timeout.ms" => self.offsets_commit_timeout_ms = at_least_one(key, v)?,
            "group.initial.rebalance.delay.ms" => {
                self.group_initial_rebalance_delay_ms = as_u64(key, v)?
            }
            "group.min.session.timeout.ms" => self.group_min_session_timeout_ms = as_u64(key, v)?,
            "group.max.session.timeout.ms" => self.group_max_session_timeout_ms = as_u64(key, v)?,
            "min.insync.replicas" | "unclean.leader.election.enable" => {
                self.topic_defaults.apply(key, v)?
            }
            "log.flush.interval.messages" => self
                .topic_defaults
                .apply("flush.messages", v)
                .map_err(|e| e.for_key(key))?,
            "log.flush.interval.ms" => self
                .topic_defaults
                .apply("flush.ms", v)
                .map_err(|e| e.for_key(key))?,
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                    suggestion: nearest_key(key, Self::KEYS.iter().copied()),
                })
            }
        }
        Ok(())
    }
}

/// Producer client configs.
#[derive(Clone, Debug, PartialEq)]
pub struct ProducerConfig {
    pub acks: Acks,
    pub linger_ms: u64,
    /// `batch.size` in bytes; the simulator counts a record's key and value bytes.
    pub batch_size: u64,
    pub retries: u64,
    pub retry_backoff_ms: u64,
    pub request_timeout_ms: u64,
    pub delivery_timeout_ms: u64,
    pub max_in_flight_requests_per_connection: u32,
    pub metadata_max_age_ms: u64,
    /// `max.request.size`: how many bytes of batches one produce request may carry.
    pub max_request_size: u64,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            linger_ms: 0,
            batch_size: 16_384,
            retries: i32::MAX as u64,
            retry_backoff_ms: 100,
            request_timeout_ms: 30_000,
            delivery_timeout_ms: 120_000,
            max_in_flight_requests_per_connection: 5,
            metadata_max_age_ms: 300_000,
            max_request_size: 1_048_576,
        }
    }
}

impl ProducerConfig {
    pub const KEYS: &'static [&'static str] = &[
        "acks",
        "linger.ms",
        "batch.size",
        "retries",
        "retry.backoff.ms",
        "request.timeout.ms",
        "delivery.timeout.ms",
        "max.in.flight.requests.per.connection",
        "metadata.max.age.ms",
        "max.request.size",
    ];

    pub fn apply(&mut self, key: &str, v: &ConfigValue) -> Result<(), ConfigError> {
        match key {
            "acks" => {
                self.acks = match v {
                    ConfigValue::Int(0) => Acks::None,
                    ConfigValue::Int(1) => Acks::Leader,
                    ConfigValue::Int(-1) => Acks::All,
                    ConfigValue::Str(s) if s == "0" => Acks::None,
                    ConfigValue::Str(s) if s == "1" => Acks::Leader,
                    ConfigValue::Str(s) if s == "all" || s == "-1" => Acks::All,
                    other => {
                        return Err(ConfigError::BadValue {
                            key: key.to_string(),
                            expected: "0, 1, \"all\" or -1",
                            got: other.to_string(),
                        })
                    }
                }
            }
            // ProducerConfig's validators: atLeast(0) but for max.in.flight (atLeast(1)).
            // request.timeout.ms and delivery.timeout.ms are checked against the network
            // and each other by the scenario.
            "linger.ms" => self.linger_ms = as_u64(key, v)?,
            "batch.size" => self.batch_size = as_u64(key, v)?,
            "retries" => self.retries = as_u64(key, v)?,
            "retry.backoff.ms" => self.retry_backoff_ms = as_u64(key, v)?,
            "request.timeout.ms" => self.request_timeout_ms = as_u64(key, v)?,
            "delivery.timeout.ms" => self.delivery_timeout_ms = as_u64(key, v)?,
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight_requests_per_connection =
                    at_least_one(key, v)?.min(u32::MAX as u64) as u32
            }
            // atLeast(0): 0 asks for metadata on every send; the simulator asks at most
            // every millisecond.
            "metadata.max.age.ms" => self.metadata_max_age_ms = as_u64(key, v)?.max(1),
            "max.request.size" => self.max_request_size = as_u64(key, v)?.max(1),
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                    suggestion: nearest_key(key, Self::KEYS.iter().copied()),
                })
            }
        }
        Ok(())
    }
}

/// `auto.offset.reset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoOffsetReset {
    Earliest,
    Latest,
    None,
}

/// Consumer client configs. The group keys matter only for a consumer with a `group.id`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsumerConfig {
    pub auto_offset_reset: AutoOffsetReset,
    pub fetch_max_wait_ms: u64,
    pub request_timeout_ms: u64,
    pub retry_backoff_ms: u64,
    pub metadata_max_age_ms: u64,
    pub max_poll_records: u32,
    pub group_id: Option<String>,
    pub group_instance_id: Option<String>,
    pub enable_auto_commit: bool,
    pub auto_commit_interval_ms: u64,
    pub session_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub max_poll_interval_ms: u64,
    /// `partition.assignment.strategy`, in the member's order of preference.
    pub partition_assignment_strategy: Vec<Strategy>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            auto_offset_reset: AutoOffsetReset::Latest,
            fetch_max_wait_ms: 500,
            request_timeout_ms: 30_000,
            retry_backoff_ms: 100,
            metadata_max_age_ms: 300_000,
            max_poll_records: 500,
            group_id: None,
            group_instance_id: None,
            enable_auto_commit: true,
            auto_commit_interval_ms: 5_000,
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 3_000,
            max_poll_interval_ms: 300_000,
            // Kafka 3.0's default: range first, with cooperative-sticky ready for an upgrade.
            partition_assignment_strategy: vec![Strategy::Range, Strategy::CooperativeSticky],
        }
    }
}

impl ConsumerConfig {
    pub const KEYS: &'static [&'static str] = &[
        "auto.offset.reset",
        "fetch.max.wait.ms",
        "request.timeout.ms",
        "retry.backoff.ms",
        "metadata.max.age.ms",
        "max.poll.records",
        "group.id",
        "group.instance.id",
        "enable.auto.commit",
        "auto.commit.interval.ms",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "max.poll.interval.ms",
        "partition.assignment.strategy",
    ];

    pub fn apply(&mut self, key: &str, v: &ConfigValue) -> Result<(), ConfigError> {
        match key {
            "auto.offset.reset" => {
                self.auto_offset_reset = match as_string(key, v)?.as_str() {
                    "earliest" => AutoOffsetReset::Earliest,
                    "latest" => AutoOffsetReset::Latest,
                    "none" => AutoOffsetReset::None,
                    _ => {
                        return Err(ConfigError::BadValue {
                            key: key.to_string(),
                            expected: "\"earliest\", \"latest\" or \"none\"",
                            got: v.to_string(),
                        })
                    }
                }
            }
            // ConsumerConfig's validators: atLeast(0), but max.poll.records and
            // max.poll.interval.ms atLeast(1); session.timeout.ms and heartbeat.interval.ms
            // have none (the scenario checks the heartbeat against the session, as Kafka's
            // Heartbeat does, and request.timeout.ms against the network).
            "fetch.max.wait.ms" => self.fetch_max_wait_ms = as_u64(key, v)?,
            "request.timeout.ms" => self.request_timeout_ms = as_u64(key, v)?,
            "retry.backoff.ms" => self.retry_backoff_ms = as_u64(key, v)?,
            // 0 refreshes on every poll in Kafka; at most every millisecond here.
            "metadata.max.age.ms" => self.metadata_max_age_ms = as_u64(key, v)?.max(1),
            "max.poll.records" => {
                self.max_poll_records = at_least_one(key, v)?.min(u32::MAX as u64) as u32
            }
            "group.id" => self.group_id = Some(as_string(key, v)?),
            "group.instance.id" => self.group_instance_id = Some(as_string(key, v)?),
            "enable.auto.commit" => self.enable_auto_commit = as_bool(key, v)?,
            // 0 commits on every poll in Kafka; at most every millisecond here.
            "auto.commit.interval.ms" => self.auto_commit_interval_ms = as_u64(key, v)?.max(1),
            "session.timeout.ms" => self.session_timeout_ms = as_u64(key, v)?,
            // 0 heartbeats back to back in Kafka (one in flight at a time); at most every
            // millisecond here.
            "heartbeat.interval.ms" => self.heartbeat_interval_ms = as_u64(key, v)?.max(1),
            "max.poll.interval.ms" => self.max_poll_interval_ms = at_least_one(key, v)?,
            "partition.assignment.strategy" => {
                let text = as_string(key, v)?;
                let mut list = Vec::new();
                for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    list.push(Strategy::from_name(name).ok_or(ConfigError::BadValue {
                        key: key.to_string(),
                        expected: "\"range\", \"roundrobin\", \"sticky\" or \"cooperative-sticky\" (or a comma-separated list)",
                        got: v.to_string(),
                    })?);
                }
                if list.is_empty() {
                    return Err(ConfigError::BadValue {
                        key: key.to_string(),
                        expected: "at least one assignor",
                        got: v.to_string(),
                    });
                }
                self.partition_assignment_strategy = list;
            }
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                    suggestion: nearest_key(key, Self::KEYS.iter().copied()),
                })
            }
        }
        Ok(())
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
        assert!(ProtocolVersion::LATEST.uses_strict_min_isr());
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
