//! `[[producers]]` and `[[consumers]]`: the clients, their configs, and consumer groups.

use super::cluster::check_request_timeout;
use super::error::{Ctx, Result, Span};
use super::raw::{RawConsumer, RawProducer, Val};
use super::sequence::parse_sequence;
use super::spec::{
    ClusterSpec, ConsumerSpec, GroupMemberSpec, NetworkSpec, ProducerSpec, TopicSpec, MAX_CLIENTS,
};
use super::values::ConfigEntry;
use kafka_model::clients::consumer::CommitMode;
use kafka_model::clients::producer::{
    TransactionWorkload, ValueBytes, DEFAULT_TRANSACTION_RECORDS,
};
use kafka_model::config::{ConsumerConfig, ProducerConfig};
use kafka_model::kafka_version::KafkaVersion;
use kafka_model::protocol::IsolationLevel;
use kafka_model::Acks;
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

fn check_client_name(
    ctx: &Ctx,
    name: Option<&Val>,
    table_span: Span,
    seen: &mut BTreeSet<String>,
    what: &str,
) -> Result<String> {
    let text = ctx.str("name", name)?.ok_or_else(|| {
        ctx.err(
            table_span.clone(),
            Some("name"),
            format!("a {what} needs a name"),
        )
    })?;
    if !seen.insert(text.clone()) {
        return Err(ctx.err(
            ctx.key_or(name, table_span),
            Some("name"),
            format!("{what} `{text}` is declared twice"),
        ));
    }
    Ok(text)
}

pub fn parse_producers(
    ctx: &Ctx,
    tables: &[Spanned<RawProducer>],
    topics: &[TopicSpec],
    network: &NetworkSpec,
    release: KafkaVersion,
    warnings: &mut Vec<String>,
) -> Result<Vec<ProducerSpec>> {
    let mut producers = Vec::new();
    let mut seen = BTreeSet::new();
    if tables.len() > MAX_CLIENTS {
        return Err(ctx.err(
            None,
            Some("producers"),
            format!("at most {MAX_CLIENTS} producers"),
        ));
    }
    for table in tables {
        producers.push(parse_producer(
            ctx, table, &mut seen, topics, network, release, warnings,
        )?);
    }
    Ok(producers)
}

fn parse_producer(
    ctx: &Ctx,
    table: &Spanned<RawProducer>,
    seen: &mut BTreeSet<String>,
    topics: &[TopicSpec],
    network: &NetworkSpec,
    release: KafkaVersion,
    warnings: &mut Vec<String>,
) -> Result<ProducerSpec> {
    let table_span = Some(table.span());
    let raw = table.get_ref();
    let name = check_client_name(ctx, raw.name.as_ref(), table_span.clone(), seen, "producer")?;
    let topic = ctx.str("topic", raw.topic.as_ref())?.ok_or_else(|| {
        ctx.err(
            table_span.clone(),
            Some("topic"),
            "a producer needs a topic",
        )
    })?;
    if !topics.iter().any(|t| t.name == topic) {
        return Err(ctx.err(
            ctx.key_or(raw.topic.as_ref(), table_span),
            Some("topic"),
            format!("no [[topics]] named `{topic}`"),
        ));
    }
    let sequence = parse_sequence(ctx, raw.sequence.as_ref(), raw.records.as_ref())?;
    let records = match &sequence {
        Some(entries) => entries.len() as u64,
        None => ctx
            .int("records", raw.records.as_ref(), 0, 100_000_000)?
            .ok_or_else(|| {
                ctx.err(
                    table_span.clone(),
                    Some("records"),
                    "a producer needs `records` (or a `sequence` of exact records)",
                )
            })? as u64,
    };
    let rate_per_sec = ctx
        .float("rate", raw.rate.as_ref(), 0.001, 10_000_000.0)?
        .unwrap_or(100.0);
    let keys = ctx
        .int("keys", raw.keys.as_ref(), 1, 1_000_000)?
        .map(|k| k as u32);
    let value_bytes = parse_value_bytes(ctx, raw.value_bytes.as_ref())?;
    let start_ms = ctx.duration_ms("start", raw.start.as_ref())?.unwrap_or(0);
    let entries = ctx.config_map(raw.config.as_ref())?;
    let config = producer_config(ctx, &name, entries, table_span, network, release, warnings)?;
    Ok(ProducerSpec {
        name,
        topic,
        records,
        rate_per_sec,
        keys,
        value_bytes,
        start_ms,
        transactions: parse_transactions(ctx, raw, &config)?,
        config,
        sequence: sequence.unwrap_or_default(),
    })
}

/// A producer's `config` entries, applied and settled as `KafkaProducer` settles them:
/// the release's defaults, idempotence, and `delivery.timeout.ms`.
pub(super) fn producer_config(
    ctx: &Ctx,
    name: &str,
    entries: Vec<ConfigEntry>,
    table_span: Span,
    network: &NetworkSpec,
    release: KafkaVersion,
    warnings: &mut Vec<String>,
) -> Result<ProducerConfig> {
    let mut config = ProducerConfig::default();
    let mut spans = BTreeMap::new();
    for (key, value, span) in entries {
        config
            .apply(&key, &value)
            .map_err(|e| ctx.config_error(span.clone(), &key, e))?;
        spans.insert(key, span);
    }
    config.settle_release_defaults(|key| spans.contains_key(key), release);
    let span_of = |key: &str| spans.get(key).cloned().flatten().or(table_span.clone());
    check_request_timeout(
        ctx,
        config.request_timeout_ms,
        network,
        span_of("request.timeout.ms"),
        "producer",
    )?;
    match config.settle_idempotence(|key| spans.contains_key(key), release) {
        Ok(None) => {}
        // Turning acks down is how a scenario asks for an acks=0 or acks=1 producer: that
        // idempotence goes with it needs no warning.
        Ok(Some(_)) if spans.contains_key("acks") && config.acks != Acks::All => {}
        Ok(Some(note)) => warnings.push(format!("producer `{name}`: {note}")),
        Err((key, message)) => return Err(ctx.err(span_of(key), Some(key), message)),
    }
    // KafkaProducer.configureDeliveryTimeout: delivery.timeout.ms below linger.ms +
    // request.timeout.ms is a ConfigException when set, and raised to that sum otherwise.
    let floor = config.linger_ms.saturating_add(config.request_timeout_ms);
    if config.delivery_timeout_ms < floor {
        if spans.contains_key("delivery.timeout.ms") {
            return Err(ctx.err(
                span_of("delivery.timeout.ms"),
                Some("delivery.timeout.ms"),
                format!(
                    "delivery.timeout.ms ({} ms) should be equal to or larger than linger.ms \
                     + request.timeout.ms ({floor} ms) (KafkaProducer)",
                    config.delivery_timeout_ms
                ),
            ));
        }
        warnings.push(format!(
            "producer `{name}`: delivery.timeout.ms raised to linger.ms + request.timeout.ms \
             ({floor} ms), as KafkaProducer does"
        ));
        config.delivery_timeout_ms = floor;
    }
    Ok(config)
}

/// The largest `transaction_records` and `abort_every` a scenario may ask for.
const MAX_TRANSACTION_KEY: i64 = 1_000_000;

/// `transaction_records = N` (records per transaction, default
/// [`DEFAULT_TRANSACTION_RECORDS`]) and `abort_every = K` (every K-th transaction is aborted
/// by the application; 0, the default, never): a transactional producer's application loop.
/// Both need the producer's `transactional.id`; without one they would be silently ignored.
fn parse_transactions(
    ctx: &Ctx,
    raw: &RawProducer,
    config: &ProducerConfig,
) -> Result<TransactionWorkload> {
    const RECORDS: &str = "transaction_records";
    const ABORT_EVERY: &str = "abort_every";
    if config.transactional_id.is_none() {
        let set = [
            (RECORDS, &raw.transaction_records),
            (ABORT_EVERY, &raw.abort_every),
        ];
        if let Some((key, value)) = set.into_iter().find(|(_, v)| v.is_some()) {
            return Err(ctx.err(
                value.as_ref().map(|v| v.span()),
                Some(key),
                format!(
                    "`{key}` is for a transactional producer: set `transactional.id` in the \
                     producer's config too"
                ),
            ));
        }
    }
    let records_per_transaction = ctx
        .int(
            RECORDS,
            raw.transaction_records.as_ref(),
            1,
            MAX_TRANSACTION_KEY,
        )?
        .map_or(DEFAULT_TRANSACTION_RECORDS, |n| n as u32);
    let abort_every = ctx
        .int(
            ABORT_EVERY,
            raw.abort_every.as_ref(),
            0,
            MAX_TRANSACTION_KEY,
        )?
        .map_or(0, |k| k as u32);
    Ok(TransactionWorkload {
        records_per_transaction,
        abort_every,
    })
}

/// The largest `value_bytes` a scenario may ask for (100 MiB). Kafka's own bound is the
/// broker's `message.max.bytes` (1 MiB by default), which the simulator does not apply yet.
const MAX_VALUE_BYTES: i64 = 100 << 20;

/// `value_bytes = 100` (every value that size) or `value_bytes = [100, 1000]` (each drawn
/// from the range, inclusive, from the run's seed); absent, a value is its label `NAME-SEQ`.
fn parse_value_bytes(ctx: &Ctx, v: Option<&Val>) -> Result<ValueBytes> {
    const KEY: &str = "value_bytes";
    let Some(v) = v else {
        return Ok(ValueBytes::Label);
    };
    let shape = || {
        ctx.err(
            Some(v.span()),
            Some(KEY),
            "expected a size in bytes (`value_bytes = 100`) or a range \
             (`value_bytes = [100, 1000]`)",
        )
    };
    let bound = |x: &toml::Value| match x {
        toml::Value::Integer(i) if (0..=MAX_VALUE_BYTES).contains(i) => Ok(*i as u32),
        toml::Value::Integer(i) => Err(ctx.err(
            Some(v.span()),
            Some(KEY),
            format!("{i} is out of range (0 to {MAX_VALUE_BYTES} bytes)"),
        )),
        _ => Err(shape()),
    };
    match v.get_ref() {
        toml::Value::Integer(_) => Ok(ValueBytes::Fixed(bound(v.get_ref())?)),
        toml::Value::Array(items) if items.len() == 2 => {
            let (min, max) = (bound(&items[0])?, bound(&items[1])?);
            if min > max {
                return Err(ctx.err(
                    Some(v.span()),
                    Some(KEY),
                    format!("the range [{min}, {max}] runs downwards; write [{max}, {min}]"),
                ));
            }
            Ok(ValueBytes::Range { min, max })
        }
        _ => Err(shape()),
    }
}

/// KIP-98: `read_committed` needs Fetch v4, which brokers before 0.11.0 do not know; the
/// consumer's first fetch fails (`UnsupportedVersionException`), so the run is refused.
pub(super) fn check_isolation_level(
    ctx: &Ctx,
    config: &ConsumerConfig,
    release: KafkaVersion,
    span: Span,
) -> Result<()> {
    if config.isolation_level == IsolationLevel::ReadCommitted && !release.has_transactions() {
        return Err(ctx.err(
            span,
            Some("isolation.level"),
            format!(
                "read_committed needs brokers of Kafka 0.11.0 or later (KIP-98); the cluster \
                 runs {release}"
            ),
        ));
    }
    Ok(())
}

/// Kafka's consumer refuses to start a group member whose heartbeat is not below its
/// session timeout (Heartbeat: "Heartbeat must be set lower than the session timeout"). The
/// error points at whichever of the two keys the file set, heartbeat first.
pub(super) fn check_heartbeat(
    ctx: &Ctx,
    config: &ConsumerConfig,
    spans: &BTreeMap<String, Span>,
    span_of: impl Fn(&str) -> Span,
) -> Result<()> {
    if config.heartbeat_interval_ms < config.session_timeout_ms {
        return Ok(());
    }
    let key = if spans.contains_key("heartbeat.interval.ms") {
        "heartbeat.interval.ms"
    } else {
        "session.timeout.ms"
    };
    Err(ctx.err(
        span_of(key),
        Some(key),
        format!(
            "heartbeat.interval.ms ({} ms) must be set lower than session.timeout.ms \
             ({} ms) (Kafka's consumer Heartbeat)",
            config.heartbeat_interval_ms, config.session_timeout_ms
        ),
    ))
}

pub fn parse_consumers(
    ctx: &Ctx,
    tables: &[Spanned<RawConsumer>],
    topics: &[TopicSpec],
    network: &NetworkSpec,
    release: KafkaVersion,
) -> Result<Vec<ConsumerSpec>> {
    let mut consumers = Vec::new();
    let mut seen = BTreeSet::new();
    if tables.len() > MAX_CLIENTS {
        return Err(ctx.err(
            None,
            Some("consumers"),
            format!("at most {MAX_CLIENTS} consumers"),
        ));
    }
    for table in tables {
        let table_span = Some(table.span());
        let raw = table.get_ref();
        let name = check_client_name(
            ctx,
            raw.name.as_ref(),
            table_span.clone(),
            &mut seen,
            "consumer",
        )?;
        let (spec, members) = parse_consumer(ctx, table, name.clone(), topics, network, release)?;
        let members_span = ctx.key_or(raw.members.as_ref(), table_span.clone());
        match members {
            // `members = N`: N processes NAME-0 .. NAME-(N-1), each its own client.id.
            Some(n) => {
                for i in 0..n {
                    let member = format!("{name}-{i}");
                    if !seen.insert(member.clone()) {
                        return Err(ctx.err(
                            members_span,
                            Some("members"),
                            format!("member `{member}` clashes with a consumer of that name"),
                        ));
                    }
                    consumers.push(ConsumerSpec {
                        name: member,
                        ..spec.clone()
                    });
                }
            }
            None => consumers.push(spec),
        }
        if consumers.len() > MAX_CLIENTS {
            return Err(ctx.err(
                table_span,
                Some("members"),
                format!("at most {MAX_CLIENTS} consumer processes in all"),
            ));
        }
    }
    Ok(consumers)
}

/// One `[[consumers]]` entry, and its `members` count for a group of several processes.
fn parse_consumer(
    ctx: &Ctx,
    table: &Spanned<RawConsumer>,
    name: String,
    topics: &[TopicSpec],
    network: &NetworkSpec,
    release: KafkaVersion,
) -> Result<(ConsumerSpec, Option<usize>)> {
    let table_span = Some(table.span());
    let raw = table.get_ref();
    let names = parse_topic_list(ctx, raw.topics.as_ref(), table_span.clone(), topics)?;
    let start_ms = ctx.duration_ms("start", raw.start.as_ref())?.unwrap_or(0);
    let mut config = ConsumerConfig::default();
    let mut auto_commit_key = None;
    let mut spans = BTreeMap::new();
    for (key, value, span) in ctx.config_map(raw.config.as_ref())? {
        config
            .apply(&key, &value)
            .map_err(|e| ctx.config_error(span.clone(), &key, e))?;
        if key == "enable.auto.commit" {
            auto_commit_key = Some(span.clone());
        }
        spans.insert(key, span);
    }
    let span_of = |key: &str| spans.get(key).cloned().flatten().or(table_span.clone());
    check_request_timeout(
        ctx,
        config.request_timeout_ms,
        network,
        span_of("request.timeout.ms"),
        "consumer",
    )?;
    check_isolation_level(ctx, &config, release, span_of("isolation.level"))?;
    let group = parse_group_keys(ctx, table, &mut config, auto_commit_key)?;
    if group.is_some() {
        check_heartbeat(ctx, &config, &spans, span_of)?;
    }
    let members = match ctx.int("members", raw.members.as_ref(), 1, MAX_CLIENTS as i64)? {
        Some(_) if group.is_none() => {
            return Err(ctx.err(
                ctx.key_or(raw.members.as_ref(), table_span),
                Some("members"),
                "`members` is for a consumer group: add `group = \"NAME\"`",
            ))
        }
        Some(n) => Some(n as usize),
        None => None,
    };
    let spec = ConsumerSpec {
        name,
        topics: names,
        start_ms,
        config,
        group,
    };
    Ok((spec, members))
}

/// `topics = [...]` of a consumer: names of declared topics.
fn parse_topic_list(
    ctx: &Ctx,
    item: Option<&Val>,
    table_span: Span,
    topics: &[TopicSpec],
) -> Result<Vec<String>> {
    let span = ctx.key_or(item, table_span.clone());
    let list = item
        .ok_or_else(|| ctx.err(table_span, Some("topics"), "a consumer needs `topics`"))?
        .get_ref()
        .as_array()
        .ok_or_else(|| {
            ctx.err(
                span.clone(),
                Some("topics"),
                "expected a list of topic names",
            )
        })?;
    let mut names = Vec::new();
    for v in list {
        let t = v
            .as_str()
            .ok_or_else(|| ctx.err(span.clone(), Some("topics"), "expected topic names"))?;
        if !topics.iter().any(|x| x.name == t) {
            return Err(ctx.err(
                span.clone(),
                Some("topics"),
                format!("no [[topics]] named `{t}`"),
            ));
        }
        names.push(t.to_string());
    }
    Ok(names)
}

/// From 0.11 a broker does not create `__consumer_offsets` with fewer live brokers than
/// `offsets.topic.replication.factor`: a group on a smaller cluster never finds a
/// coordinator. Kafka says nothing about it either; a scenario file at least warns.
pub fn offsets_topic_warning(cluster: &ClusterSpec, consumers: &[ConsumerSpec]) -> Option<String> {
    let config = &cluster.config;
    let wanted = config.offsets_topic_replication_factor;
    let strict = config.kafka_version.requires_full_offsets_replication();
    let has_group = consumers.iter().any(|c| c.group.is_some());
    (has_group && strict && cluster.broker_count() < wanted).then(|| {
        format!(
            "offsets.topic.replication.factor is {wanted} but the cluster has {} broker(s): \
             __consumer_offsets is never created and the groups never find a coordinator \
             (set \"offsets.topic.replication.factor\" in [cluster.config])",
            cluster.broker_count()
        )
    })
}

/// The group keys of a `[[consumers]]` entry: `group`, `processing`, `commit`.
fn parse_group_keys(
    ctx: &Ctx,
    table: &Spanned<RawConsumer>,
    config: &mut ConsumerConfig,
    auto_commit_key: Option<Span>,
) -> Result<Option<GroupMemberSpec>> {
    let table_span = Some(table.span());
    let raw = table.get_ref();
    let group_span = ctx.key_or(raw.group.as_ref(), table_span.clone());
    let group = ctx.str("group", raw.group.as_ref())?;
    let group_id = match (group, &config.group_id) {
        (Some(g), Some(c)) if &g != c => {
            return Err(ctx.err(
                group_span,
                Some("group"),
                format!("`group` is `{g}` but config `group.id` is `{c}`"),
            ))
        }
        (Some(g), _) => Some(g),
        (None, c) => c.clone(),
    };
    let Some(group_id) = group_id else {
        for (key, value) in [("processing", &raw.processing), ("commit", &raw.commit)] {
            if let Some(v) = value {
                return Err(ctx.err(
                    Some(ctx.key_span(&v.span())),
                    Some(key),
                    format!("`{key}` is for a consumer group: add `group = \"NAME\"`"),
                ));
            }
        }
        return Ok(None);
    };
    if group_id.is_empty() || group_id.chars().any(|c| c.is_control()) {
        return Err(ctx.err(
            group_span,
            Some("group"),
            "a group id is a non-empty name without control characters",
        ));
    }
    config.group_id = Some(group_id.clone());
    let processing_ms = ctx
        .duration_ms("processing", raw.processing.as_ref())?
        .unwrap_or(0);
    let commit_span = ctx.key_or(raw.commit.as_ref(), table_span);
    let commit = match ctx.str("commit", raw.commit.as_ref())? {
        None if config.enable_auto_commit => CommitMode::Auto,
        None => CommitMode::AfterProcessing,
        Some(text) => {
            let modes = [
                CommitMode::Auto,
                CommitMode::AfterProcessing,
                CommitMode::BeforeProcessing,
            ];
            let Some(mode) = modes.into_iter().find(|m| m.name() == text) else {
                return Err(ctx.err(
                    commit_span,
                    Some("commit"),
                    format!(
                        "unknown commit `{text}`: \"auto\", \"after-processing\" or \"before-processing\""
                    ),
                ));
            };
            if auto_commit_key.is_some() && config.enable_auto_commit != (mode == CommitMode::Auto)
            {
                return Err(ctx.err(
                    commit_span,
                    Some("commit"),
                    format!(
                        "commit = \"{text}\" contradicts config `enable.auto.commit = {}`",
                        config.enable_auto_commit
                    ),
                ));
            }
            mode
        }
    };
    config.enable_auto_commit = commit == CommitMode::Auto;
    Ok(Some(GroupMemberSpec {
        group_id,
        commit,
        processing_ms,
    }))
}
