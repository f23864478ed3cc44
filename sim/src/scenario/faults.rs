//! `[[faults]]`, `[nemesis]` and `[expect]`: what strikes when, and what must happen.

use super::error::{Ctx, Result};
use super::raw::{RawFault, RawNemesis, Val};
use super::spec::{
    parse_duration_us, parse_target, ClusterSpec, CmpOp, Comparison, ConsumerSpec, ElectionScope,
    Expect, FaultAction, FaultKind, FaultSpec, NemesisKind, NemesisSpec, ProcessorSpec,
    ProducerSpec, SlowDirection, Target, TopicSpec, EXPECT_COUNTERS, INVARIANT_NAMES,
};
use crate::check::Invariant;
use kafka_model::config::nearest_key;
use kafka_model::{BrokerId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};
use toml::{Spanned, Value};

/// A rolling restart's default `isr_wait`: how long it waits, after restarting a broker,
/// for every ISR to be full again before it goes on with the next.
pub const DEFAULT_ISR_WAIT_MS: u64 = 300_000;

/// What a fault target may name.
pub struct Known<'a> {
    pub cluster: &'a ClusterSpec,
    pub topics: &'a [TopicSpec],
    pub producers: &'a [ProducerSpec],
    pub consumers: &'a [ConsumerSpec],
    pub processors: &'a [ProcessorSpec],
}

/// A broker id written as a number: Kafka's ids are Java ints.
fn broker_id_of(ctx: &Ctx, item: &Val, key: &str, id: i64) -> Result<BrokerId> {
    BrokerId::try_from(id).map_err(|_| {
        ctx.err(
            Some(item.span()),
            Some(key),
            format!(
                "broker {id} does not exist (a broker id is at most {})",
                i32::MAX
            ),
        )
    })
}

fn target_from(ctx: &Ctx, item: &Val, key: &str, known: &Known<'_>) -> Result<Target> {
    let target = match item.get_ref() {
        Value::Integer(i) => Some(Target::Broker(broker_id_of(ctx, item, key, *i)?)),
        Value::String(s) => parse_target(s),
        _ => None,
    };
    let target = target.ok_or_else(|| {
        ctx.err(
            Some(item.span()),
            Some(key),
            "a target is a broker id, \"leader:TOPIC-P\", \"follower:TOPIC-P\", \"controller\", \"zookeeper\", \"producer:NAME\", \"consumer:NAME\", \"processor:NAME\" or \"coordinator:GROUP\"",
        )
    })?;
    validate_target(ctx, item, key, &target, known)?;
    Ok(target)
}

fn validate_target(
    ctx: &Ctx,
    item: &Val,
    key: &str,
    target: &Target,
    known: &Known<'_>,
) -> Result<()> {
    let (cluster, topics) = (known.cluster, known.topics);
    let err = |message: String| Err(ctx.err(Some(item.span()), Some(key), message));
    let unknown = |what: &str, name: &str, names: Vec<&str>| {
        let hint = nearest_key(name, names.iter().copied()).map_or_else(
            || format!(" (there are: {})", names.join(", ")),
            |n| format!(" (did you mean `{n}`?)"),
        );
        err(format!("no {what} named `{name}`{hint}"))
    };
    let is_processor = |name: &str| known.processors.iter().any(|p| p.name == name);
    match target {
        Target::Producer(name) | Target::Consumer(name) if is_processor(name) => err(format!(
            "`{name}` is a processor: its target is \"processor:{name}\""
        )),
        Target::Processor(name) if !is_processor(name) => unknown(
            "processor",
            name,
            known.processors.iter().map(|p| p.name.as_str()).collect(),
        ),
        Target::Producer(name) if !known.producers.iter().any(|p| &p.name == name) => unknown(
            "producer",
            name,
            known.producers.iter().map(|p| p.name.as_str()).collect(),
        ),
        Target::Consumer(name) if !known.consumers.iter().any(|c| &c.name == name) => unknown(
            "consumer",
            name,
            known.consumers.iter().map(|c| c.name.as_str()).collect(),
        ),
        Target::Coordinator(group)
            if !known
                .consumers
                .iter()
                .any(|c| c.group.as_ref().is_some_and(|g| &g.group_id == group)) =>
        {
            let groups: BTreeSet<&str> = known
                .consumers
                .iter()
                .filter_map(|c| c.group.as_ref().map(|g| g.group_id.as_str()))
                .collect();
            unknown("consumer group", group, groups.into_iter().collect())
        }
        Target::Broker(b) if !cluster.has_broker(*b) => err(format!(
            "broker {b} does not exist (the broker ids are {})",
            cluster.describe_ids()
        )),
        Target::Leader(tp) | Target::Follower(tp) => {
            match topics.iter().find(|t| t.name == tp.topic) {
                None => err(format!("no [[topics]] named `{}`", tp.topic)),
                Some(t) if tp.partition >= t.partitions => err(format!(
                    "topic `{}` has partitions 0 to {}",
                    t.name,
                    t.partitions - 1
                )),
                Some(t) if matches!(target, Target::Follower(_)) && t.replication_factor < 2 => {
                    err(format!(
                        "topic `{}` has a replication factor of 1: no followers",
                        t.name
                    ))
                }
                Some(_) => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

pub fn parse_faults(
    ctx: &Ctx,
    tables: &[Spanned<RawFault>],
    known: &Known<'_>,
    duration_ms: u64,
) -> Result<Vec<FaultSpec>> {
    let mut faults = Vec::new();
    for table in tables {
        let at_ms = parse_at(ctx, table, duration_ms)?;
        let action = parse_action(ctx, table, known)?;
        let (line, _) = ctx.position(Some(table.span()));
        faults.push(FaultSpec {
            at_ms,
            action,
            line,
        });
    }
    Ok(faults)
}

/// `at`: when the fault strikes, within the run.
fn parse_at(ctx: &Ctx, table: &Spanned<RawFault>, duration_ms: u64) -> Result<u64> {
    let at = table.get_ref().at.as_ref();
    let at_ms = ctx.duration_ms("at", at)?.ok_or_else(|| {
        ctx.err(
            Some(table.span()),
            Some("at"),
            "a fault needs `at`, e.g. at = \"10s\"",
        )
    })?;
    if at_ms > duration_ms {
        return Err(ctx.err(
            ctx.key_or(at, None),
            Some("at"),
            format!("at {at_ms} ms is after the run's duration ({duration_ms} ms)"),
        ));
    }
    Ok(at_ms)
}

/// `action = "..."`, with the nearest action for a typo.
fn parse_kind(ctx: &Ctx, table: &Spanned<RawFault>) -> Result<FaultKind> {
    let raw = table.get_ref();
    let action = ctx
        .str("action", raw.action.as_ref())?
        .ok_or_else(|| ctx.err(Some(table.span()), Some("action"), "a fault needs `action`"))?;
    FaultKind::from_name(&action).ok_or_else(|| {
        let names = FaultKind::ALL.map(FaultKind::name);
        let hint = nearest_key(&action, names)
            .map_or(format!(" (one of {})", names.join(", ")), |s| {
                format!(" (did you mean `{s}`?)")
            });
        ctx.err(
            ctx.key_or(raw.action.as_ref(), Some(table.span())),
            Some("action"),
            format!("unknown action `{action}`{hint}"),
        )
    })
}

fn parse_action(ctx: &Ctx, table: &Spanned<RawFault>, known: &Known<'_>) -> Result<FaultAction> {
    let table_span = Some(table.span());
    let raw = table.get_ref();
    let kind = parse_kind(ctx, table)?;
    let action = kind.name();
    // Keys only some actions take.
    for (key, value, owner) in [
        ("delay", &raw.delay, FaultKind::Slow),
        ("direction", &raw.direction, FaultKind::Slow),
        ("rate", &raw.rate, FaultKind::Loss),
        ("groups", &raw.groups, FaultKind::Partition),
        ("isr_wait", &raw.isr_wait, FaultKind::RollingRestart),
        (
            "before_offset",
            &raw.before_offset,
            FaultKind::DeleteRecords,
        ),
    ] {
        if value.is_some() && kind != owner {
            return Err(ctx.err(
                ctx.key_or(value.as_ref(), table_span),
                Some(key),
                format!("`{key}` is only for action = \"{}\"", owner.name()),
            ));
        }
    }
    if kind == FaultKind::PreferredElection {
        let item = raw.target.as_ref().ok_or_else(|| {
            ctx.err(
                table_span.clone(),
                Some("target"),
                "action \"preferred-election\" needs a `target`: a partition \"TOPIC-P\" or \"all\"",
            )
        })?;
        return Ok(FaultAction::PreferredElection(election_scope(
            ctx, item, known,
        )?));
    }
    if kind == FaultKind::DeleteRecords {
        return parse_delete_records(ctx, table, known);
    }
    let target = match &raw.target {
        Some(item) => Some(target_from(ctx, item, "target", known)?),
        None => None,
    };
    let target_span = ctx.key_or(raw.target.as_ref(), table_span.clone());
    let need_target = || {
        ctx.err(
            table_span.clone(),
            Some("target"),
            format!("action \"{action}\" needs a `target`"),
        )
    };
    if kind == FaultKind::PowerLoss
        && matches!(
            target,
            Some(Target::Producer(_)) | Some(Target::Consumer(_)) | Some(Target::Processor(_))
        )
    {
        return Err(ctx.err(
            target_span,
            Some("target"),
            "power-loss is for brokers (a client keeps nothing on disk); use \"crash\"",
        ));
    }
    let broker_only = matches!(kind, FaultKind::Shutdown | FaultKind::ReplaceDisk);
    if broker_only
        && matches!(
            target,
            Some(Target::Producer(_))
                | Some(Target::Consumer(_))
                | Some(Target::Processor(_))
                | Some(Target::ZooKeeper)
        )
    {
        return Err(ctx.err(
            target_span,
            Some("target"),
            format!("{action} is for brokers (a broker id, \"leader:T-P\", \"follower:T-P\", \"controller\" or \"coordinator:GROUP\"); use \"crash\" for other processes"),
        ));
    }
    if kind == FaultKind::RollingRestart && raw.target.is_some() {
        return Err(ctx.err(
            target_span,
            Some("target"),
            "a rolling restart goes over every broker: it takes no `target`",
        ));
    }
    Ok(match kind {
        FaultKind::Fork => {
            let target = target.ok_or_else(need_target)?;
            let transactional = match &target {
                Target::Producer(name) => known
                    .producers
                    .iter()
                    .find(|p| &p.name == name)
                    .is_some_and(|p| p.config.transactional_id.is_some()),
                _ => false,
            };
            if !transactional {
                return Err(ctx.err(
                    target_span,
                    Some("target"),
                    "fork starts a second instance of a transactional producer: its target is \"producer:NAME\" of a producer with a `transactional.id`",
                ));
            }
            // The scenario gives the second instance its producer index once every fault
            // is read.
            FaultAction::Fork {
                target,
                fork: usize::MAX,
            }
        }
        FaultKind::Shutdown => FaultAction::Shutdown(target.ok_or_else(need_target)?),
        FaultKind::ReplaceDisk => FaultAction::ReplaceDisk(target.ok_or_else(need_target)?),
        FaultKind::RollingRestart => {
            let isr_wait_ms = ctx
                .duration_ms("isr_wait", raw.isr_wait.as_ref())?
                .unwrap_or(DEFAULT_ISR_WAIT_MS);
            FaultAction::RollingRestart { isr_wait_ms }
        }
        FaultKind::Crash => FaultAction::Crash(target.ok_or_else(need_target)?),
        FaultKind::Restart => FaultAction::Restart(target.ok_or_else(need_target)?),
        FaultKind::PowerLoss => FaultAction::PowerLoss(target.ok_or_else(need_target)?),
        FaultKind::Pause => FaultAction::Pause(target.ok_or_else(need_target)?),
        FaultKind::Resume => FaultAction::Resume(target.ok_or_else(need_target)?),
        FaultKind::Isolate => FaultAction::Isolate(target.ok_or_else(need_target)?),
        FaultKind::Heal => FaultAction::Heal(target),
        FaultKind::Slow => {
            let delay_ms = ctx
                .duration_ms("delay", raw.delay.as_ref())?
                .ok_or_else(|| {
                    ctx.err(
                        table_span.clone(),
                        Some("delay"),
                        "action \"slow\" needs `delay`, e.g. \"30s\"",
                    )
                })?;
            let direction = match ctx.str("direction", raw.direction.as_ref())? {
                None => SlowDirection::Both,
                Some(name) => SlowDirection::ALL
                    .into_iter()
                    .find(|d| d.name() == name)
                    .ok_or_else(|| {
                        ctx.err(
                            ctx.key_or(raw.direction.as_ref(), table_span.clone()),
                            Some("direction"),
                            format!("unknown direction `{name}` (one of both, out, in)"),
                        )
                    })?,
            };
            FaultAction::Slow {
                target: target.ok_or_else(need_target)?,
                delay_ms,
                direction,
            }
        }
        FaultKind::PreferredElection | FaultKind::DeleteRecords => unreachable!("parsed above"),
        FaultKind::Loss => {
            let rate = ctx
                .float("rate", raw.rate.as_ref(), 0.0, 1.0)?
                .ok_or_else(|| {
                    ctx.err(
                        table_span.clone(),
                        Some("rate"),
                        "action \"loss\" needs `rate` between 0 and 1",
                    )
                })?;
            FaultAction::Loss {
                target: target.ok_or_else(need_target)?,
                rate,
            }
        }
        FaultKind::Partition => {
            if raw.target.is_some() {
                return Err(ctx.err(
                    target_span,
                    Some("target"),
                    "a partition takes `groups`, not `target`",
                ));
            }
            let item = raw.groups.as_ref().ok_or_else(|| {
                ctx.err(
                    table_span.clone(),
                    Some("groups"),
                    "action \"partition\" needs `groups`, e.g. [[0], [1, 2]]",
                )
            })?;
            FaultAction::Partition(parse_groups(ctx, item, known)?)
        }
    })
}

/// `action = "delete-records"`: `target = "TOPIC-P"` and `before_offset = N` (or -1 for
/// the high watermark, as `kafka-delete-records.sh`'s offset JSON takes it).
fn parse_delete_records(
    ctx: &Ctx,
    table: &Spanned<RawFault>,
    known: &Known<'_>,
) -> Result<FaultAction> {
    let table_span = Some(table.span());
    let raw = table.get_ref();
    let release = known.cluster.config.kafka_version;
    if !release.has_delete_records() {
        return Err(ctx.err(
            raw.action.as_ref().map(|a| a.span()).or(table_span),
            Some("action"),
            format!(
                "delete-records needs Kafka 0.11.0 or later (KIP-107 added DeleteRecords); this cluster runs {release}"
            ),
        ));
    }
    let item = raw.target.as_ref().ok_or_else(|| {
        ctx.err(
            table_span.clone(),
            Some("target"),
            "action \"delete-records\" needs a `target`: a partition \"TOPIC-P\"",
        )
    })?;
    let is_partition_text = matches!(item.get_ref(), Value::String(t) if t.trim() != "all");
    if !is_partition_text {
        return Err(ctx.err(
            Some(item.span()),
            Some("target"),
            "delete-records is for one partition: write \"TOPIC-P\" (e.g. \"orders-0\")",
        ));
    }
    let tp = match election_scope(ctx, item, known)? {
        ElectionScope::Partition(tp) => tp,
        ElectionScope::All => {
            return Err(ctx.err(
                Some(item.span()),
                Some("target"),
                "delete-records is for one partition \"TOPIC-P\"",
            ))
        }
    };
    let offset = ctx
        .int("before_offset", raw.before_offset.as_ref(), -1, i64::MAX)?
        .ok_or_else(|| {
            ctx.err(
                table_span,
                Some("before_offset"),
                "action \"delete-records\" needs `before_offset`: an offset, or -1 for the high watermark",
            )
        })?;
    Ok(FaultAction::DeleteRecords {
        tp,
        before_offset: u64::try_from(offset).ok(),
    })
}

/// The target of a `preferred-election`: `"all"` or one partition `"TOPIC-P"` of a topic the
/// scenario creates.
fn election_scope(ctx: &Ctx, item: &Val, known: &Known<'_>) -> Result<ElectionScope> {
    let err = |message: String| ctx.err(Some(item.span()), Some("target"), message);
    let Value::String(text) = item.get_ref() else {
        return Err(err(
            "a preferred election's target is a partition \"TOPIC-P\" or \"all\"".into(),
        ));
    };
    if text.trim() == "all" {
        return Ok(ElectionScope::All);
    }
    let tp = TopicPartition::parse(text.trim()).ok_or_else(|| {
        err(format!(
            "`{text}` is not a partition: write \"TOPIC-P\" (e.g. \"orders-0\") or \"all\""
        ))
    })?;
    let Some(topic) = known.topics.iter().find(|t| t.name == tp.topic) else {
        let names: Vec<&str> = known.topics.iter().map(|t| t.name.as_str()).collect();
        let hint = nearest_key(&tp.topic, names.iter().copied())
            .map_or_else(String::new, |n| format!(" (did you mean `{n}`?)"));
        return Err(err(format!("no [[topics]] named `{}`{hint}", tp.topic)));
    };
    if tp.partition >= topic.partitions {
        return Err(err(format!(
            "topic `{}` has partitions 0 to {}",
            topic.name,
            topic.partitions - 1
        )));
    }
    Ok(ElectionScope::Partition(tp))
}

fn parse_groups(ctx: &Ctx, item: &Val, known: &Known<'_>) -> Result<Vec<Vec<Target>>> {
    let bad = |m: &str| ctx.err(Some(item.span()), Some("groups"), m.to_string());
    let outer = item
        .get_ref()
        .as_array()
        .ok_or_else(|| bad("expected a list of groups, e.g. [[0], [1, 2]]"))?;
    if outer.len() < 2 {
        return Err(bad("a partition needs at least two groups"));
    }
    let mut groups = Vec::new();
    let mut seen = Vec::new();
    for g in outer {
        let list = g
            .as_array()
            .ok_or_else(|| bad("each group is a list of targets"))?;
        let mut group = Vec::new();
        for v in list {
            let target = match v {
                Value::Integer(i) => Some(Target::Broker(broker_id_of(ctx, item, "groups", *i)?)),
                Value::String(s) => parse_target(s),
                _ => None,
            }
            .ok_or_else(|| bad("a group member is a broker id or a target string"))?;
            validate_target(ctx, item, "groups", &target, known)?;
            if seen.contains(&target) {
                return Err(bad(&format!("{target} is in two groups")));
            }
            seen.push(target.clone());
            group.push(target);
        }
        groups.push(group);
    }
    Ok(groups)
}

fn range_ms(ctx: &Ctx, key: &str, v: Option<&Val>, default: (u64, u64)) -> Result<(u64, u64)> {
    let Some(text) = ctx.str(key, v)? else {
        return Ok(default);
    };
    let span = ctx.key_or(v, None);
    let bad = || {
        ctx.err(
            span.clone(),
            Some(key),
            format!("`{text}` is not a duration range; write e.g. \"2s..10s\""),
        )
    };
    let (lo, hi) = match text.split_once("..") {
        Some((a, b)) => (
            parse_duration_us(a).ok_or_else(bad)? / 1000,
            parse_duration_us(b).ok_or_else(bad)? / 1000,
        ),
        None => {
            let v = parse_duration_us(&text).ok_or_else(bad)? / 1000;
            (v, v)
        }
    };
    if hi < lo || hi == 0 {
        return Err(ctx.err(span, Some(key), "the range must be non-empty and above 0"));
    }
    Ok((lo.max(1), hi))
}

pub fn parse_nemesis(
    ctx: &Ctx,
    table: Option<&Spanned<RawNemesis>>,
    producers: &[&str],
) -> Result<Option<NemesisSpec>> {
    let Some(table) = table else {
        return Ok(None);
    };
    let raw = table.get_ref();
    let kinds = parse_nemesis_kinds(ctx, raw.kinds.as_ref(), Some(table.span()))?;
    let (interval_min_ms, interval_max_ms) =
        range_ms(ctx, "interval", raw.interval.as_ref(), (2_000, 10_000))?;
    let (duration_min_ms, duration_max_ms) =
        range_ms(ctx, "duration", raw.duration.as_ref(), (1_000, 15_000))?;
    let max_concurrent = ctx
        .int("max_concurrent", raw.max_concurrent.as_ref(), 1, 16)?
        .unwrap_or(1) as u32;
    let swarm = ctx.bool("swarm", raw.swarm.as_ref())?.unwrap_or(false);
    let clients = parse_nemesis_clients(ctx, raw.clients.as_ref(), producers)?;
    Ok(Some(NemesisSpec {
        kinds,
        interval_min_ms,
        interval_max_ms,
        duration_min_ms,
        duration_max_ms,
        max_concurrent,
        swarm,
        clients,
    }))
}

/// `clients = ["NAME", ...]`: producers the nemesis may strike too, each named by a
/// `[[producers]]` table.
fn parse_nemesis_clients(ctx: &Ctx, item: Option<&Val>, producers: &[&str]) -> Result<Vec<String>> {
    let Some(item) = item else {
        return Ok(Vec::new());
    };
    let err = |m: String| ctx.err(Some(item.span()), Some("clients"), m);
    let list = item
        .get_ref()
        .as_array()
        .ok_or_else(|| err("expected a list of producer names".into()))?;
    let mut clients: Vec<String> = Vec::new();
    for v in list {
        let name = v
            .as_str()
            .ok_or_else(|| err("expected producer names".into()))?;
        if !producers.contains(&name) {
            return Err(err(format!(
                "no producer is named `{name}` (producers: {})",
                producers.join(", ")
            )));
        }
        if !clients.iter().any(|c| c == name) {
            clients.push(name.to_string());
        }
    }
    Ok(clients)
}

/// `kinds = [...]`: the fault kinds, each once, in the file's order (the failures,
/// [`NemesisKind::DEFAULT`], without the key).
fn parse_nemesis_kinds(
    ctx: &Ctx,
    item: Option<&Val>,
    table_span: super::error::Span,
) -> Result<Vec<NemesisKind>> {
    let Some(item) = item else {
        return Ok(NemesisKind::DEFAULT.to_vec());
    };
    let span = ctx.key_or(Some(item), table_span);
    let err = |m: String| ctx.err(span.clone(), Some("kinds"), m);
    let list = item
        .get_ref()
        .as_array()
        .ok_or_else(|| err("expected a list of fault kinds".into()))?;
    let mut kinds = Vec::new();
    for v in list {
        let k = v
            .as_str()
            .ok_or_else(|| err("expected fault kinds".into()))?;
        let kind = NemesisKind::from_name(k).ok_or_else(|| {
            let names = NemesisKind::ALL.map(NemesisKind::name);
            err(format!("unknown kind `{k}` (one of {})", names.join(", ")))
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err(err("a nemesis needs at least one kind".into()));
    }
    Ok(kinds)
}

type ExpectTable = Spanned<BTreeMap<Spanned<String>, Val>>;

pub fn parse_expect(ctx: &Ctx, table: Option<&ExpectTable>) -> Result<Expect> {
    let mut expect = Expect::default();
    let Some(table) = table else {
        return Ok(expect);
    };
    let mut known: Vec<&str> = EXPECT_COUNTERS.to_vec();
    known.push("violations");
    for key in table.get_ref().keys() {
        if !known.contains(&key.get_ref().as_str()) {
            let mut msg = "unknown key in [expect]".to_string();
            match nearest_key(key.get_ref(), known.iter().copied()) {
                Some(s) => msg.push_str(&format!(" (did you mean `{s}`?)")),
                None => msg.push_str(&format!(" (valid keys: {})", known.join(", "))),
            }
            return Err(ctx.err(Some(key.span()), Some(key.get_ref()), msg));
        }
    }
    for (key, item) in table.get_ref() {
        let span = Some(key.span());
        let key = key.get_ref().as_str();
        if key == "violations" {
            expect.violations = Some(parse_violations(ctx, span, item)?);
            continue;
        }
        let cmp = match item.get_ref() {
            Value::Integer(i) if *i >= 0 => Some(Comparison {
                op: CmpOp::Eq,
                value: *i as u64,
            }),
            Value::String(s) => Comparison::parse(s),
            _ => None,
        }
        .ok_or_else(|| {
            ctx.err(
                span,
                Some(key),
                "expected a number or a comparison such as \">0\", \">=1\", \"0\"",
            )
        })?;
        expect.counters.insert(key.to_string(), cmp);
    }
    Ok(expect)
}

/// `violations = [...]`: invariant names, kept as the checkers spell them.
fn parse_violations(ctx: &Ctx, span: super::error::Span, item: &Val) -> Result<Vec<Invariant>> {
    const KEY: &str = "violations";
    let list = item.get_ref().as_array().ok_or_else(|| {
        ctx.err(
            span.clone(),
            Some(KEY),
            "expected a list of invariant names, [] for none",
        )
    })?;
    let mut names = Vec::new();
    for v in list {
        let name = v
            .as_str()
            .ok_or_else(|| ctx.err(span.clone(), Some(KEY), "expected invariant names"))?;
        let Some(invariant) = Invariant::from_name(name) else {
            let hint = nearest_key(name, INVARIANT_NAMES.iter().copied())
                .map_or(format!(" (one of {})", INVARIANT_NAMES.join(", ")), |s| {
                    format!(" (did you mean `{s}`?)")
                });
            return Err(ctx.err(span, Some(KEY), format!("unknown invariant `{name}`{hint}")));
        };
        names.push(invariant);
    }
    Ok(names)
}
