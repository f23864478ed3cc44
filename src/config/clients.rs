//! Client configs: the producer's and the consumer's, each key declared once as in the
//! parent module.

use super::{
    apply_declared, as_bool, as_string, as_u64, at_least_one, with_defaults, ConfigError,
    ConfigKey, ConfigValue,
};
use crate::assignor::Strategy;
use crate::protocol::IsolationLevel;
use crate::types::Acks;

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
    /// `enable.idempotence` as it stands after [`ProducerConfig::settle_idempotence`].
    pub enable_idempotence: bool,
    /// `transactional.id`: set, the producer is transactional (and so idempotent).
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: how long the coordinator lets a transaction stay open
    /// before it aborts it; sent with InitProducerId.
    pub transaction_timeout_ms: u64,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        let blank = ProducerConfig {
            acks: Acks::All,
            linger_ms: 0,
            batch_size: 0,
            retries: 0,
            retry_backoff_ms: 0,
            request_timeout_ms: 0,
            delivery_timeout_ms: 0,
            max_in_flight_requests_per_connection: 0,
            metadata_max_age_ms: 0,
            max_request_size: 0,
            enable_idempotence: false,
            transactional_id: None,
            transaction_timeout_ms: 0,
        };
        with_defaults(blank, Self::DECLARED)
    }
}

impl ProducerConfig {
    /// Every key of this scope, declared once: the parser, the defaults and the README's
    /// config table all come from this list.
    pub const DECLARED: &'static [ConfigKey<ProducerConfig>] = &[
        ConfigKey {
            name: "acks",
            default: Some("all"),
            unit: "",
            doc: "how many replicas must have a record before it is acknowledged: 0, 1 or all",
            apply: |c, k, v| {
                c.acks = match v {
                    ConfigValue::Int(0) => Acks::None,
                    ConfigValue::Int(1) => Acks::Leader,
                    ConfigValue::Int(-1) => Acks::All,
                    ConfigValue::Str(s) if s == "0" => Acks::None,
                    ConfigValue::Str(s) if s == "1" => Acks::Leader,
                    ConfigValue::Str(s) if s == "all" || s == "-1" => Acks::All,
                    other => {
                        return Err(ConfigError::BadValue {
                            key: k.to_string(),
                            expected: "0, 1, \"all\" or -1",
                            got: other.to_string(),
                        })
                    }
                };
                Ok(())
            },
        },
        // ProducerConfig's validators: atLeast(0) but for max.in.flight (atLeast(1)).
        // request.timeout.ms and delivery.timeout.ms are checked against the network
        // and each other by the scenario.
        ConfigKey {
            name: "linger.ms",
            default: Some("0"),
            unit: "ms",
            doc: "how long a batch waits for more records; 5 for clients of Kafka 4.0 and later (`[cluster] kafka_version`, KIP-1030)",
            apply: |c, k, v| {
                c.linger_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "batch.size",
            default: Some("16384"),
            unit: "bytes",
            doc: "the most key and value bytes in one batch",
            apply: |c, k, v| {
                c.batch_size = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "retries",
            default: Some("2147483647"),
            unit: "",
            doc: "how often a failed send is retried",
            apply: |c, k, v| {
                c.retries = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "retry.backoff.ms",
            default: Some("100"),
            unit: "ms",
            doc: "the wait before a retry",
            apply: |c, k, v| {
                c.retry_backoff_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "request.timeout.ms",
            default: Some("30000"),
            unit: "ms",
            doc: "how long the producer waits for an answer",
            apply: |c, k, v| {
                c.request_timeout_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "delivery.timeout.ms",
            default: Some("120000"),
            unit: "ms",
            doc: "how long a record may take from send to acknowledgement, retries included",
            apply: |c, k, v| {
                c.delivery_timeout_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "max.in.flight.requests.per.connection",
            default: Some("5"),
            unit: "requests",
            doc: "unanswered produce requests per broker",
            apply: |c, k, v| {
                c.max_in_flight_requests_per_connection =
                    at_least_one(k, v)?.min(u32::MAX as u64) as u32;
                Ok(())
            },
        },
        // atLeast(0): 0 asks for metadata on every send; the simulator asks at most
        // every millisecond.
        ConfigKey {
            name: "metadata.max.age.ms",
            default: Some("300000"),
            unit: "ms",
            doc: "how often metadata is refreshed without a reason",
            apply: |c, k, v| {
                c.metadata_max_age_ms = as_u64(k, v)?.max(1);
                Ok(())
            },
        },
        ConfigKey {
            name: "max.request.size",
            default: Some("1048576"),
            unit: "bytes",
            doc: "the most batch bytes one produce request carries",
            apply: |c, k, v| {
                c.max_request_size = as_u64(k, v)?.max(1);
                Ok(())
            },
        },
        ConfigKey {
            name: "enable.idempotence",
            default: Some("true"),
            unit: "",
            doc: "producer ids and sequence numbers, so a retried batch is written once (the default is false before 3.0.1; turned off when not set and acks, retries or max.in.flight.requests.per.connection conflict)",
            apply: |c, k, v| {
                c.enable_idempotence = as_bool(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "transactional.id",
            default: None,
            unit: "",
            doc: "makes the producer transactional: it fences earlier instances with the same id, and its records count only once their transaction commits (implies enable.idempotence; Kafka 0.11.0 and later)",
            apply: |c, k, v| {
                c.transactional_id = Some(as_string(k, v)?);
                Ok(())
            },
        },
        // Type.INT without a validator: the coordinator refuses a timeout above the
        // broker's `transaction.max.timeout.ms` (INVALID_TRANSACTION_TIMEOUT).
        ConfigKey {
            name: "transaction.timeout.ms",
            default: Some("60000"),
            unit: "ms",
            doc: "how long a transaction may stay open before its coordinator aborts it",
            apply: |c, k, v| {
                c.transaction_timeout_ms = as_u64(k, v)?;
                Ok(())
            },
        },
    ];

    pub fn apply(&mut self, key: &str, v: &ConfigValue) -> Result<(), ConfigError> {
        apply_declared(Self::DECLARED, self, key, v)
    }

    /// The defaults that changed between releases, for the clients of `release`, on the keys
    /// the user did not write (`set`): `linger.ms` is 5 from 4.0 (KIP-1030), 0 before.
    pub fn settle_release_defaults(
        &mut self,
        set: impl Fn(&str) -> bool,
        release: crate::kafka_version::KafkaVersion,
    ) {
        if !set("linger.ms") {
            self.linger_ms = release.default_producer_linger_ms();
        }
    }

    /// Kafka's `ProducerConfig.postProcessAndValidateIdempotenceConfigs`, for the clients of
    /// `release` (`enable.idempotence` defaults to true from 3.0.1, KIP-679 and KAFKA-13598;
    /// a `transactional.id` implies it in every release, `ProducerConfig
    /// .maybeOverrideEnableIdempotence` before 3.0). `set` tells which keys the user wrote.
    /// With idempotence on, retries must not be 0, acks must be all and at most 5 requests
    /// may be in flight: when the user set `enable.idempotence`, a conflict is an error naming
    /// the key to change; when not, it turns idempotence off, as Kafka does with a log line
    /// (returned here). A transactional producer without idempotence is an error ("Cannot
    /// set a transactional.id without also enabling idempotence"). Brokers older than 0.11.0
    /// keep no producer state and know no transactions, so there neither can be turned on.
    pub fn settle_idempotence(
        &mut self,
        set: impl Fn(&str) -> bool,
        release: crate::kafka_version::KafkaVersion,
    ) -> Result<Option<String>, (&'static str, String)> {
        let explicit = set("enable.idempotence");
        let transactional = self.transactional_id.is_some();
        if transactional && !release.has_transactions() {
            return Err((
                "transactional.id",
                format!("a transactional producer needs brokers of Kafka 0.11.0 or later (KIP-98); the cluster runs {release}"),
            ));
        }
        if !explicit {
            self.enable_idempotence = release.has_idempotent_producer_by_default() || transactional;
        }
        if !self.enable_idempotence {
            return match transactional {
                true => Err((
                    "transactional.id",
                    TRANSACTIONAL_WITHOUT_IDEMPOTENCE.to_string(),
                )),
                false => Ok(None),
            };
        }
        if !release.supports_idempotence() {
            return Err((
                "enable.idempotence",
                format!("the idempotent producer needs brokers of 0.11.0 or later (this cluster runs {release})"),
            ));
        }
        let Some((key, message)) = self.idempotence_conflict() else {
            return Ok(None);
        };
        if explicit {
            return Err((key, format!("{message} (enable.idempotence = true)")));
        }
        if transactional {
            // Idempotence turned off silently, then the transactional id is refused.
            return Err((
                key,
                format!("{TRANSACTIONAL_WITHOUT_IDEMPOTENCE} {message}"),
            ));
        }
        self.enable_idempotence = false;
        Ok(Some(format!(
            "idempotence turned off because {key} conflicts with it and enable.idempotence is not set, as Kafka's producer does"
        )))
    }

    /// The first setting that idempotence cannot live with, and Kafka's words for it.
    fn idempotence_conflict(&self) -> Option<(&'static str, &'static str)> {
        if self.retries == 0 {
            Some((
                "retries",
                "Must set retries to non-zero when using the idempotent producer.",
            ))
        } else if self.acks != Acks::All {
            Some(("acks", "Must set acks to all in order to use the idempotent producer. Otherwise we cannot guarantee idempotence."))
        } else if self.max_in_flight_requests_per_connection
            > crate::producer_state::BATCHES_RETAINED as u32
        {
            Some(("max.in.flight.requests.per.connection", "Must set max.in.flight.requests.per.connection to at most 5 to use the idempotent producer."))
        } else {
            None
        }
    }
}

/// Kafka's `ProducerConfig` refusal of a transactional producer whose idempotence is off.
const TRANSACTIONAL_WITHOUT_IDEMPOTENCE: &str =
    "Cannot set a transactional.id without also enabling idempotence.";

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
    pub isolation_level: IsolationLevel,
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
        let blank = ConsumerConfig {
            auto_offset_reset: AutoOffsetReset::Latest,
            isolation_level: IsolationLevel::ReadUncommitted,
            fetch_max_wait_ms: 0,
            request_timeout_ms: 0,
            retry_backoff_ms: 0,
            metadata_max_age_ms: 0,
            max_poll_records: 0,
            group_id: None,
            group_instance_id: None,
            enable_auto_commit: false,
            auto_commit_interval_ms: 0,
            session_timeout_ms: 0,
            heartbeat_interval_ms: 0,
            max_poll_interval_ms: 0,
            partition_assignment_strategy: Vec::new(),
        };
        with_defaults(blank, Self::DECLARED)
    }
}

impl ConsumerConfig {
    /// Every key of this scope, declared once: the parser, the defaults and the README's
    /// config table all come from this list.
    pub const DECLARED: &'static [ConfigKey<ConsumerConfig>] = &[
        ConfigKey {
            name: "auto.offset.reset",
            default: Some("latest"),
            unit: "",
            doc: "where a consumer without a valid position starts: earliest, latest, or none (poll() throws and the application stops)",
            apply: |c, k, v| {
                c.auto_offset_reset = match as_string(k, v)?.as_str() {
                    "earliest" => AutoOffsetReset::Earliest,
                    "latest" => AutoOffsetReset::Latest,
                    "none" => AutoOffsetReset::None,
                    _ => {
                        return Err(ConfigError::BadValue {
                            key: k.to_string(),
                            expected: "\"earliest\", \"latest\" or \"none\"",
                            got: v.to_string(),
                        })
                    }
                };
                Ok(())
            },
        },
        ConfigKey {
            name: "isolation.level",
            default: Some("read_uncommitted"),
            unit: "",
            doc: "read_committed reads only up to the last stable offset and skips aborted transactions' records; read_uncommitted reads up to the high watermark, aborted records included",
            apply: |c, k, v| {
                c.isolation_level =
                    IsolationLevel::parse(&as_string(k, v)?).ok_or_else(|| ConfigError::BadValue {
                        key: k.to_string(),
                        expected: "\"read_committed\" or \"read_uncommitted\"",
                        got: v.to_string(),
                    })?;
                Ok(())
            },
        },
        // ConsumerConfig's validators: atLeast(0), but max.poll.records and
        // max.poll.interval.ms atLeast(1); session.timeout.ms and heartbeat.interval.ms
        // have none (the scenario checks the heartbeat against the session, as Kafka's
        // Heartbeat does, and request.timeout.ms against the network).
        ConfigKey {
            name: "fetch.max.wait.ms",
            default: Some("500"),
            unit: "ms",
            doc: "how long a broker holds a fetch with nothing new",
            apply: |c, k, v| {
                c.fetch_max_wait_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "request.timeout.ms",
            default: Some("30000"),
            unit: "ms",
            doc: "how long the consumer waits for an answer",
            apply: |c, k, v| {
                c.request_timeout_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        ConfigKey {
            name: "retry.backoff.ms",
            default: Some("100"),
            unit: "ms",
            doc: "the wait before a retry",
            apply: |c, k, v| {
                c.retry_backoff_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        // 0 refreshes on every poll in Kafka; at most every millisecond here.
        ConfigKey {
            name: "metadata.max.age.ms",
            default: Some("300000"),
            unit: "ms",
            doc: "how often metadata is refreshed without a reason",
            apply: |c, k, v| {
                c.metadata_max_age_ms = as_u64(k, v)?.max(1);
                Ok(())
            },
        },
        ConfigKey {
            name: "max.poll.records",
            default: Some("500"),
            unit: "records",
            doc: "the most records one poll returns",
            apply: |c, k, v| {
                c.max_poll_records = at_least_one(k, v)?.min(u32::MAX as u64) as u32;
                Ok(())
            },
        },
        ConfigKey {
            name: "group.id",
            default: None,
            unit: "",
            doc: "the consumer group (none: a consumer on its own)",
            apply: |c, k, v| {
                c.group_id = Some(as_string(k, v)?);
                Ok(())
            },
        },
        ConfigKey {
            name: "group.instance.id",
            default: None,
            unit: "",
            doc: "a static member's id",
            apply: |c, k, v| {
                c.group_instance_id = Some(as_string(k, v)?);
                Ok(())
            },
        },
        ConfigKey {
            name: "enable.auto.commit",
            default: Some("true"),
            unit: "",
            doc: "whether offsets are committed in the background",
            apply: |c, k, v| {
                c.enable_auto_commit = as_bool(k, v)?;
                Ok(())
            },
        },
        // 0 commits on every poll in Kafka; at most every millisecond here.
        ConfigKey {
            name: "auto.commit.interval.ms",
            default: Some("5000"),
            unit: "ms",
            doc: "how often offsets are committed in the background",
            apply: |c, k, v| {
                c.auto_commit_interval_ms = as_u64(k, v)?.max(1);
                Ok(())
            },
        },
        ConfigKey {
            name: "session.timeout.ms",
            default: Some("45000"),
            unit: "ms",
            doc: "a member silent this long is removed from its group",
            apply: |c, k, v| {
                c.session_timeout_ms = as_u64(k, v)?;
                Ok(())
            },
        },
        // 0 heartbeats back to back in Kafka (one in flight at a time); at most every
        // millisecond here.
        ConfigKey {
            name: "heartbeat.interval.ms",
            default: Some("3000"),
            unit: "ms",
            doc: "how often a member heartbeats to its coordinator",
            apply: |c, k, v| {
                c.heartbeat_interval_ms = as_u64(k, v)?.max(1);
                Ok(())
            },
        },
        ConfigKey {
            name: "max.poll.interval.ms",
            default: Some("300000"),
            unit: "ms",
            doc: "a member that does not poll for this long leaves its group",
            apply: |c, k, v| {
                c.max_poll_interval_ms = at_least_one(k, v)?;
                Ok(())
            },
        },
        // Kafka 3.0's default: range first, with cooperative-sticky ready for an upgrade.
        ConfigKey {
            name: "partition.assignment.strategy",
            default: Some("range,cooperative-sticky"),
            unit: "",
            doc: "the assignors, in order of preference",
            apply: |c, k, v| {
                c.partition_assignment_strategy = assignors(k, v)?;
                Ok(())
            },
        },
    ];

    pub fn apply(&mut self, key: &str, v: &ConfigValue) -> Result<(), ConfigError> {
        apply_declared(Self::DECLARED, self, key, v)
    }
}

/// `partition.assignment.strategy`: a comma-separated list of assignor names.
fn assignors(key: &str, v: &ConfigValue) -> Result<Vec<Strategy>, ConfigError> {
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
    Ok(list)
}
