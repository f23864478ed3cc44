//! `[[processors]]`: consume-transform-produce applications.
//!
//! A processor is one process with two clients, so the file gives it one `config` table
//! with Kafka's names: each key goes to the client that knows it (`isolation.level` to the
//! consumer, `transactional.id` to the producer, `request.timeout.ms` to both). Its
//! consumer and producer are added to the scenario's consumers and producers, which is how
//! the record, the narration and the checkers name them.

use super::clients::{check_heartbeat, check_isolation_level, producer_config};
use super::cluster::check_request_timeout;
use super::error::{Ctx, Result};
use super::raw::RawProcessor;
use super::spec::{
    ConsumerSpec, GroupMemberSpec, NetworkSpec, ProcessorSpec, ProducerSpec, TopicSpec, MAX_CLIENTS,
};
use super::values::ConfigEntry;
use kafka_model::clients::consumer::CommitMode;
use kafka_model::clients::producer::{TransactionWorkload, ValueBytes};
use kafka_model::config::{ConfigError, ConsumerConfig, ProducerConfig};
use kafka_model::kafka_version::KafkaVersion;
use std::collections::BTreeSet;
use toml::Spanned;

/// What `[[processors]]` adds to a scenario.
#[derive(Default)]
pub struct Processors {
    pub processors: Vec<ProcessorSpec>,
    pub consumers: Vec<ConsumerSpec>,
    pub producers: Vec<ProducerSpec>,
}

/// The clients declared before the processors, whose names a processor may not take.
pub struct Taken<'a> {
    pub producers: &'a [ProducerSpec],
    pub consumers: &'a [ConsumerSpec],
}

pub fn parse_processors(
    ctx: &Ctx,
    tables: &[Spanned<RawProcessor>],
    topics: &[TopicSpec],
    network: &NetworkSpec,
    release: KafkaVersion,
    taken: Taken<'_>,
    warnings: &mut Vec<String>,
) -> Result<Processors> {
    let mut parsed = Processors::default();
    if tables.len() > MAX_CLIENTS {
        return Err(ctx.err(
            None,
            Some("processors"),
            format!("at most {MAX_CLIENTS} processors"),
        ));
    }
    let mut seen: BTreeSet<String> = taken.producers.iter().map(|p| p.name.clone()).collect();
    seen.extend(taken.consumers.iter().map(|c| c.name.clone()));
    for table in tables {
        let (processor, consumer, producer) =
            parse_processor(ctx, table, &mut seen, topics, network, release, warnings)?;
        parsed.processors.push(ProcessorSpec {
            consumer: taken.consumers.len() + parsed.consumers.len(),
            producer: taken.producers.len() + parsed.producers.len(),
            ..processor
        });
        parsed.consumers.push(consumer);
        parsed.producers.push(producer);
    }
    Ok(parsed)
}

fn parse_processor(
    ctx: &Ctx,
    table: &Spanned<RawProcessor>,
    seen: &mut BTreeSet<String>,
    topics: &[TopicSpec],
    network: &NetworkSpec,
    release: KafkaVersion,
    warnings: &mut Vec<String>,
) -> Result<(ProcessorSpec, ConsumerSpec, ProducerSpec)> {
    let table_span = Some(table.span());
    let raw = table.get_ref();
    let name = ctx
        .str("name", raw.name.as_ref())?
        .ok_or_else(|| ctx.err(table_span.clone(), Some("name"), "a processor needs a name"))?;
    if !seen.insert(name.clone()) {
        return Err(ctx.err(
            ctx.key_or(raw.name.as_ref(), table_span.clone()),
            Some("name"),
            format!("the name `{name}` is taken by another producer, consumer or processor"),
        ));
    }
    let group_id = ctx.str("group", raw.group.as_ref())?.ok_or_else(|| {
        ctx.err(
            table_span.clone(),
            Some("group"),
            "a processor needs a `group`: its consumer is a group member",
        )
    })?;
    if group_id.is_empty() || group_id.chars().any(|c| c.is_control()) {
        return Err(ctx.err(
            ctx.key_or(raw.group.as_ref(), table_span.clone()),
            Some("group"),
            "a group id is a non-empty name without control characters",
        ));
    }
    let input = parse_input(ctx, raw, table_span.clone(), topics)?;
    let output = ctx.str("output", raw.output.as_ref())?.ok_or_else(|| {
        ctx.err(
            table_span.clone(),
            Some("output"),
            "a processor needs an `output` topic",
        )
    })?;
    let output_span = ctx.key_or(raw.output.as_ref(), table_span.clone());
    if !topics.iter().any(|t| t.name == output) {
        return Err(ctx.err(
            output_span,
            Some("output"),
            format!("no [[topics]] named `{output}`"),
        ));
    }
    if input.contains(&output) {
        return Err(ctx.err(
            output_span,
            Some("output"),
            format!("`{output}` is also an input: a processor would read its own output"),
        ));
    }
    let processing_ms = ctx
        .duration_ms("processing", raw.processing.as_ref())?
        .unwrap_or(0);
    let start_ms = ctx.duration_ms("start", raw.start.as_ref())?.unwrap_or(0);
    let (consumer_entries, producer_entries) = split_config(ctx, raw)?;
    let consumer_config = consumer_config(ctx, consumer_entries, &group_id, network, release)?;
    let producer_config = producer_config(
        ctx,
        &name,
        producer_entries,
        table_span,
        network,
        release,
        warnings,
    )?;
    let consumer = ConsumerSpec {
        name: name.clone(),
        topics: input.clone(),
        start_ms,
        config: consumer_config,
        group: Some(GroupMemberSpec {
            group_id: group_id.clone(),
            commit: CommitMode::Processor,
            processing_ms,
        }),
    };
    let producer = ProducerSpec {
        name: name.clone(),
        topic: output.clone(),
        records: 0,
        rate_per_sec: 1.0,
        keys: None,
        value_bytes: ValueBytes::Label,
        start_ms,
        config: producer_config,
        sequence: Vec::new(),
        transactions: TransactionWorkload::default(),
    };
    let processor = ProcessorSpec {
        name,
        group_id,
        input,
        output,
        processing_ms,
        start_ms,
        consumer: 0,
        producer: 0,
    };
    Ok((processor, consumer, producer))
}

/// `input = ["t1", ...]`: declared topics.
fn parse_input(
    ctx: &Ctx,
    raw: &RawProcessor,
    table_span: Option<std::ops::Range<usize>>,
    topics: &[TopicSpec],
) -> Result<Vec<String>> {
    let item = raw.input.as_ref().ok_or_else(|| {
        ctx.err(
            table_span.clone(),
            Some("input"),
            "a processor needs `input` topics",
        )
    })?;
    let span = Some(item.span());
    let bad = || {
        ctx.err(
            span.clone(),
            Some("input"),
            "expected a list of topic names",
        )
    };
    let list = item.get_ref().as_array().ok_or_else(bad)?;
    if list.is_empty() {
        return Err(bad());
    }
    let mut names = Vec::new();
    for v in list {
        let t = v.as_str().ok_or_else(bad)?;
        if !topics.iter().any(|x| x.name == t) {
            return Err(ctx.err(
                span.clone(),
                Some("input"),
                format!("no [[topics]] named `{t}`"),
            ));
        }
        names.push(t.to_string());
    }
    Ok(names)
}

/// Each `config` key goes to the client that declares it, or to both; a key neither knows
/// is an error with the nearer suggestion.
fn split_config(ctx: &Ctx, raw: &RawProcessor) -> Result<(Vec<ConfigEntry>, Vec<ConfigEntry>)> {
    let (mut consumer, mut producer) = (Vec::new(), Vec::new());
    for (key, value, span) in ctx.config_map(raw.config.as_ref())? {
        let as_consumer = ConsumerConfig::default().apply(&key, &value);
        let as_producer = ProducerConfig::default().apply(&key, &value);
        match (as_consumer, as_producer) {
            (
                Err(ConfigError::UnknownKey { suggestion: c, .. }),
                Err(ConfigError::UnknownKey { suggestion: p, .. }),
            ) => {
                let suggestion = c.or(p);
                let e = ConfigError::UnknownKey {
                    key: key.clone(),
                    suggestion,
                };
                return Err(ctx.config_error(span, &key, e));
            }
            (Err(ConfigError::UnknownKey { .. }), _) => producer.push((key, value, span)),
            (_, Err(ConfigError::UnknownKey { .. })) => consumer.push((key, value, span)),
            _ => {
                consumer.push((key.clone(), value.clone(), span.clone()));
                producer.push((key, value, span));
            }
        }
    }
    Ok((consumer, producer))
}

/// The consumer's config: its keys applied (a bad value is reported here), auto-commit off
/// (the application commits), and the checks `[[consumers]]` makes.
fn consumer_config(
    ctx: &Ctx,
    entries: Vec<ConfigEntry>,
    group_id: &str,
    network: &NetworkSpec,
    release: KafkaVersion,
) -> Result<ConsumerConfig> {
    let mut config = ConsumerConfig::default();
    let mut spans = std::collections::BTreeMap::new();
    for (key, value, span) in entries {
        config
            .apply(&key, &value)
            .map_err(|e| ctx.config_error(span.clone(), &key, e))?;
        spans.insert(key, span);
    }
    let span_of = |key: &str| spans.get(key).cloned().flatten();
    if config.enable_auto_commit && spans.contains_key("enable.auto.commit") {
        return Err(ctx.err(
            span_of("enable.auto.commit"),
            Some("enable.auto.commit"),
            "a processor commits its offsets itself (after the flush, or in its transaction)",
        ));
    }
    config.enable_auto_commit = false;
    if let Some(g) = &config.group_id {
        if g != group_id {
            return Err(ctx.err(
                span_of("group.id"),
                Some("group.id"),
                format!("`group` is `{group_id}` but config `group.id` is `{g}`"),
            ));
        }
    }
    config.group_id = Some(group_id.to_string());
    check_request_timeout(
        ctx,
        config.request_timeout_ms,
        network,
        span_of("request.timeout.ms"),
        "processor",
    )?;
    check_isolation_level(ctx, &config, release, span_of("isolation.level"))?;
    check_heartbeat(ctx, &config, &spans, span_of)?;
    Ok(config)
}
