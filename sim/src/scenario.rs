//! Scenario files: one TOML file, one story.
//!
//! A scenario says what the cluster looks like, what the clients do and which faults strike
//! when, and what must happen (`[expect]`). Parsing is strict: an unknown key anywhere is an
//! error naming the file, the line and the key, with the nearest valid key, because a typo in
//! `min.insync.replicas` must never quietly run a scenario with the default. Every error
//! carries a position; no input makes the parser panic.

use kafka_model::clients::consumer::CommitMode;
use kafka_model::config::{
    nearest_key, BrokerConfig, ConfigError, ConfigValue, ConsumerConfig, ProducerConfig,
    TopicConfig,
};
use kafka_model::{BrokerId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use toml_edit::{ImDocument, Item, TableLike, Value};

/// A TOML table, standard or inline, with its position in the file.
#[derive(Clone)]
struct Table<'a> {
    inner: &'a dyn TableLike,
    span: Option<std::ops::Range<usize>>,
}

impl<'a> Table<'a> {
    fn iter(&self) -> toml_edit::Iter<'a> {
        self.inner.iter()
    }
    fn get(&self, key: &str) -> Option<&'a Item> {
        self.inner.get(key)
    }
    fn key(&self, key: &str) -> Option<&'a toml_edit::Key> {
        self.inner.key(key)
    }
    fn contains_key(&self, key: &str) -> bool {
        self.inner.contains_key(key)
    }
    fn span(&self) -> Option<std::ops::Range<usize>> {
        self.span.clone()
    }
}

/// The most brokers a scenario may have. Any id from 0 to `i32::MAX` has an address of its
/// own (`world::addr_of`); the cap only keeps a typo from starting a million nodes.
pub const MAX_BROKERS: u32 = 10_000;
/// The most partitions a topic may have in a simulation. Kafka sets no limit of its own;
/// this one only keeps a typo from building a million partitions.
pub const MAX_PARTITIONS: u32 = 100_000;
/// The most producers, or consumer processes, a scenario may have.
pub const MAX_CLIENTS: usize = 10_000;

#[derive(Clone, Debug)]
pub struct Scenario {
    pub path: String,
    pub name: String,
    pub description: String,
    pub warnings: Vec<String>,
    pub duration_ms: u64,
    pub settle_ms: u64,
    pub seed: u64,
    pub cluster: ClusterSpec,
    pub network: NetworkSpec,
    pub topics: Vec<TopicSpec>,
    pub producers: Vec<ProducerSpec>,
    pub consumers: Vec<ConsumerSpec>,
    pub faults: Vec<FaultSpec>,
    /// Random faults drawn from the seed, added to `faults` when the run starts.
    pub nemesis: Option<NemesisSpec>,
    pub expect: Expect,
    /// The file's text, for the scenario hash.
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// The broker ids, distinct and ascending: `brokers = N` gives 0 to N-1, `broker_ids`
    /// any non-negative ids, as Kafka's `broker.id` allows.
    broker_ids: Vec<BrokerId>,
    pub config: BrokerConfig,
}

impl ClusterSpec {
    /// A cluster of the given broker ids (sorted here; the caller keeps them distinct and
    /// non-negative).
    pub fn new(mut broker_ids: Vec<BrokerId>, config: BrokerConfig) -> ClusterSpec {
        broker_ids.sort_unstable();
        debug_assert!(broker_ids.windows(2).all(|w| w[0] < w[1]));
        ClusterSpec { broker_ids, config }
    }

    /// The broker ids, ascending.
    pub fn broker_ids(&self) -> &[BrokerId] {
        &self.broker_ids
    }

    /// How many brokers the cluster has.
    pub fn broker_count(&self) -> u32 {
        self.broker_ids.len() as u32
    }

    pub fn has_broker(&self, id: BrokerId) -> bool {
        self.broker_ids.binary_search(&id).is_ok()
    }

    /// The ids in a sentence: runs of consecutive ids as "A to B", e.g. "0 to 2" or
    /// "1, 5, 101 to 103".
    pub fn describe_ids(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut i = 0;
        let ids = &self.broker_ids;
        while i < ids.len() {
            let mut j = i;
            while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
                j += 1;
            }
            parts.push(match j - i {
                0 => ids[i].to_string(),
                1 => format!("{}, {}", ids[i], ids[j]),
                _ => format!("{} to {}", ids[i], ids[j]),
            });
            i = j + 1;
        }
        parts.join(", ")
    }
}

#[derive(Clone, Debug)]
pub struct NetworkSpec {
    pub latency_min_us: u64,
    pub latency_max_us: u64,
    pub loss: f64,
}

/// The least time the simulated transport takes to hand a message over, whatever the
/// latency: madsim holds every send and every receive for at least a millisecond, so no
/// answer comes back sooner than about 5 ms. Timeouts are checked against a round trip of at
/// least twice this.
pub const MIN_ONE_WAY_MS: u64 = 3;

impl NetworkSpec {
    /// The longest round trip between two processes on the healthy network, in whole
    /// milliseconds: twice the highest one-way latency, and never less than twice
    /// [`MIN_ONE_WAY_MS`].
    pub fn worst_round_trip_ms(&self) -> u64 {
        2 * self.latency_max_us.div_ceil(1000).max(MIN_ONE_WAY_MS)
    }
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency_min_us: 1_000,
            latency_max_us: 5_000,
            loss: 0.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    /// The assignment: explicit or round-robin from broker 0.
    pub replicas: Vec<Vec<BrokerId>>,
    pub config: TopicConfig,
}

#[derive(Clone, Debug)]
pub struct ProducerSpec {
    pub name: String,
    pub topic: String,
    pub records: u64,
    pub rate_per_sec: f64,
    pub keys: Option<u32>,
    pub start_ms: u64,
    pub config: ProducerConfig,
}

#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    pub name: String,
    pub topics: Vec<String>,
    pub start_ms: u64,
    pub config: ConsumerConfig,
    /// Set for a member of a consumer group.
    pub group: Option<GroupMemberSpec>,
}

/// One member process of a `[[consumers]]` entry with a `group`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMemberSpec {
    pub group_id: String,
    pub commit: CommitMode,
    pub processing_ms: u64,
}

/// The fault kinds a nemesis may draw.
pub const NEMESIS_KINDS: &[&str] = &["crash", "power-loss", "partition", "slow", "pause"];

/// `[nemesis]`: a random fault schedule drawn from the run's seed.
#[derive(Clone, Debug, PartialEq)]
pub struct NemesisSpec {
    pub kinds: Vec<String>,
    pub interval_min_ms: u64,
    pub interval_max_ms: u64,
    pub duration_min_ms: u64,
    pub duration_max_ms: u64,
    pub max_concurrent: u32,
    /// Each seed enables a random non-empty subset of `kinds`.
    pub swarm: bool,
}

#[derive(Clone, Debug)]
pub struct FaultSpec {
    pub at_ms: u64,
    pub action: FaultAction,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Broker(BrokerId),
    Leader(TopicPartition),
    Follower(TopicPartition),
    Controller,
    ZooKeeper,
    /// A producer process, by its name.
    Producer(String),
    /// A consumer process, by its name (a group member is `NAME-i`).
    Consumer(String),
    /// The broker that coordinates a group when the fault strikes.
    Coordinator(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Broker(b) => write!(f, "broker {b}"),
            Target::Leader(tp) => write!(f, "leader:{tp}"),
            Target::Follower(tp) => write!(f, "follower:{tp}"),
            Target::Controller => write!(f, "controller"),
            Target::ZooKeeper => write!(f, "zookeeper"),
            Target::Producer(name) => write!(f, "producer:{name}"),
            Target::Consumer(name) => write!(f, "consumer:{name}"),
            Target::Coordinator(group) => write!(f, "coordinator:{group}"),
        }
    }
}

impl Target {
    /// The target as a scenario file writes it.
    pub fn to_toml(&self) -> String {
        match self {
            Target::Broker(b) => b.to_string(),
            other => format!("\"{other}\""),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    Crash(Target),
    Restart(Target),
    PowerLoss(Target),
    Pause(Target),
    Resume(Target),
    Isolate(Target),
    Partition(Vec<Vec<Target>>),
    Heal(Option<Target>),
    Slow { target: Target, delay_ms: u64 },
    Loss { target: Target, rate: f64 },
}

impl FaultAction {
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Crash(_) => "crash",
            FaultAction::Restart(_) => "restart",
            FaultAction::PowerLoss(_) => "power-loss",
            FaultAction::Pause(_) => "pause",
            FaultAction::Resume(_) => "resume",
            FaultAction::Isolate(_) => "isolate",
            FaultAction::Partition(_) => "partition",
            FaultAction::Heal(_) => "heal",
            FaultAction::Slow { .. } => "slow",
            FaultAction::Loss { .. } => "loss",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comparison {
    pub op: CmpOp,
    pub value: u64,
}

impl Comparison {
    pub fn holds(&self, actual: u64) -> bool {
        match self.op {
            CmpOp::Eq => actual == self.value,
            CmpOp::Gt => actual > self.value,
            CmpOp::Ge => actual >= self.value,
            CmpOp::Lt => actual < self.value,
            CmpOp::Le => actual <= self.value,
        }
    }

    pub fn parse(s: &str) -> Option<Comparison> {
        let s = s.trim();
        let (op, rest) = if let Some(r) = s.strip_prefix(">=") {
            (CmpOp::Ge, r)
        } else if let Some(r) = s.strip_prefix("<=") {
            (CmpOp::Le, r)
        } else if let Some(r) = s.strip_prefix("==") {
            (CmpOp::Eq, r)
        } else if let Some(r) = s.strip_prefix('>') {
            (CmpOp::Gt, r)
        } else if let Some(r) = s.strip_prefix('<') {
            (CmpOp::Lt, r)
        } else {
            (CmpOp::Eq, s)
        };
        rest.trim()
            .parse()
            .ok()
            .map(|value| Comparison { op, value })
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            CmpOp::Eq => "",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        };
        write!(f, "{op}{}", self.value)
    }
}

pub const EXPECT_COUNTERS: &[&str] = &[
    "sent",
    "acked",
    "acked_lost",
    "consumed",
    "committed_lost",
    "unclean_elections",
    "clean_elections",
    "isr_shrinks",
    "isr_expands",
    "processed",
    "redelivered",
    "rebalances",
];

/// The invariant names `[expect] violations` may use: the checkers' own list.
pub const INVARIANT_NAMES: &[&str] = crate::checkers::INVARIANTS;

#[derive(Clone, Debug, Default)]
pub struct Expect {
    pub counters: BTreeMap<String, Comparison>,
    /// `None`: the key is absent, and no invariant may break.
    pub violations: Option<Vec<String>>,
}

impl Expect {
    /// One plain sentence per failed expectation.
    pub fn check(
        &self,
        counters: &BTreeMap<String, u64>,
        violations: &BTreeSet<String>,
    ) -> Vec<String> {
        let mut failures = Vec::new();
        for (key, cmp) in &self.counters {
            let actual = counters.get(key).copied().unwrap_or(0);
            if !cmp.holds(actual) {
                failures.push(format!("expected {key} {cmp}, got {actual}"));
            }
        }
        if let Some(expected) = &self.violations {
            let expected: BTreeSet<String> = expected.iter().cloned().collect();
            if &expected != violations {
                let show = |s: &BTreeSet<String>| {
                    format!("[{}]", s.iter().cloned().collect::<Vec<_>>().join(", "))
                };
                failures.push(format!(
                    "expected violations {}, got {}",
                    show(&expected),
                    show(violations)
                ));
            }
        }
        failures
    }
}

/// A scenario error, with the position of the offending key or value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(k) = &self.key {
            write!(f, "`{k}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

type Result<T> = std::result::Result<T, ScenarioError>;

/// One `config` entry: key, value, and where the key stands in the file.
type ConfigEntry = (String, ConfigValue, Option<std::ops::Range<usize>>);

/// Parses `"60s"`, `"500ms"`, `"1.5s"`, `"2m"`, `"100us"` into microseconds.
pub fn parse_duration_us(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num.trim().parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1_000.0,
        "s" => 1_000_000.0,
        "m" => 60_000_000.0,
        "h" => 3_600_000_000.0,
        _ => return None,
    };
    let us = value * scale;
    (us <= 1e15).then_some(us.round() as u64)
}

/// Walks a TOML document, turning positions into lines and columns.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl<'a> Ctx<'a> {
    fn position(&self, span: Option<std::ops::Range<usize>>) -> (usize, usize) {
        let Some(span) = span else {
            return (1, 1);
        };
        let at = span.start.min(self.text.len());
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let column = at - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        (line, column)
    }

    fn err(
        &self,
        span: Option<std::ops::Range<usize>>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, column) = self.position(span);
        ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            key: key.map(str::to_string),
            message: message.into(),
        }
    }

    /// Every key of `table` must be one of `known`.
    fn known_keys(&self, table: &Table<'_>, known: &[&str], what: &str) -> Result<()> {
        for (key, _) in table.iter() {
            if !known.contains(&key) {
                let span = table.key(key).and_then(|k| k.span());
                let mut msg = format!("unknown key in {what}");
                if let Some(s) = nearest_key(key, known.iter().copied()) {
                    msg.push_str(&format!(" (did you mean `{s}`?)"));
                } else {
                    msg.push_str(&format!(" (valid keys: {})", known.join(", ")));
                }
                return Err(self.err(span, Some(key), msg));
            }
        }
        Ok(())
    }

    fn key_span(&self, table: &Table<'_>, key: &str) -> Option<std::ops::Range<usize>> {
        table
            .key(key)
            .and_then(|k| k.span())
            .or_else(|| table.span())
    }

    fn str(&self, table: &Table<'_>, key: &str) -> Result<Option<String>> {
        match table.get(key) {
            None => Ok(None),
            Some(item) => match item.as_str() {
                Some(s) => Ok(Some(s.to_string())),
                None => Err(self.err(item.span(), Some(key), "expected a string")),
            },
        }
    }

    fn int(&self, table: &Table<'_>, key: &str, min: i64, max: i64) -> Result<Option<i64>> {
        match table.get(key) {
            None => Ok(None),
            Some(item) => match item.as_integer() {
                Some(v) if v >= min && v <= max => Ok(Some(v)),
                Some(v) => Err(self.err(
                    item.span(),
                    Some(key),
                    format!("{v} is out of range ({min} to {max})"),
                )),
                None => Err(self.err(item.span(), Some(key), "expected a whole number")),
            },
        }
    }

    fn float(&self, table: &Table<'_>, key: &str, min: f64, max: f64) -> Result<Option<f64>> {
        match table.get(key) {
            None => Ok(None),
            Some(item) => {
                let v = item
                    .as_float()
                    .or_else(|| item.as_integer().map(|i| i as f64))
                    .ok_or_else(|| self.err(item.span(), Some(key), "expected a number"))?;
                if v.is_finite() && v >= min && v <= max {
                    Ok(Some(v))
                } else {
                    Err(self.err(
                        item.span(),
                        Some(key),
                        format!("{v} is out of range ({min} to {max})"),
                    ))
                }
            }
        }
    }

    fn duration_ms(&self, table: &Table<'_>, key: &str) -> Result<Option<u64>> {
        Ok(self.duration_us(table, key)?.map(|us| us / 1000))
    }

    fn duration_us(&self, table: &Table<'_>, key: &str) -> Result<Option<u64>> {
        match table.get(key) {
            None => Ok(None),
            Some(item) => match item.as_str() {
                Some(s) => parse_duration_us(s).map(Some).ok_or_else(|| {
                    self.err(
                        item.span(),
                        Some(key),
                        format!("`{s}` is not a duration; write e.g. \"500ms\", \"10s\" or \"2m\""),
                    )
                }),
                None if item.is_integer() => Err(self.err(
                    item.span(),
                    Some(key),
                    "a duration needs a unit: write e.g. \"500ms\" or \"10s\"",
                )),
                None => Err(self.err(
                    item.span(),
                    Some(key),
                    "expected a duration such as \"10s\"",
                )),
            },
        }
    }

    fn table<'t>(&self, parent: &Table<'t>, key: &str) -> Result<Option<Table<'t>>> {
        match parent.get(key) {
            None => Ok(None),
            Some(Item::Table(t)) => Ok(Some(Table {
                inner: t,
                span: t.span(),
            })),
            Some(item) => match item.as_inline_table() {
                Some(t) => Ok(Some(Table {
                    inner: t,
                    span: t.span(),
                })),
                None => Err(self.err(item.span(), Some(key), "expected a table")),
            },
        }
    }

    fn array_of_tables<'t>(&self, parent: &Table<'t>, key: &str) -> Result<Vec<Table<'t>>> {
        match parent.get(key) {
            None => Ok(Vec::new()),
            Some(Item::ArrayOfTables(a)) => Ok(a
                .iter()
                .map(|t| Table {
                    inner: t,
                    span: t.span(),
                })
                .collect()),
            Some(item) => {
                Err(self.err(item.span(), Some(key), format!("expected [[{key}]] tables")))
            }
        }
    }

    fn config_map(&self, table: Option<Table<'_>>) -> Result<Vec<ConfigEntry>> {
        let mut entries = Vec::new();
        let Some(table) = table else {
            return Ok(entries);
        };
        for (key, item) in table.iter() {
            let span = self.key_span(&table, key);
            let value = match item.as_value() {
                Some(Value::Integer(i)) => ConfigValue::Int(*i.value()),
                Some(Value::Boolean(b)) => ConfigValue::Bool(*b.value()),
                Some(Value::String(s)) => ConfigValue::Str(s.value().clone()),
                Some(Value::Float(f)) => ConfigValue::Float(*f.value()),
                _ => {
                    return Err(self.err(
                        span,
                        Some(key),
                        "a config value is a number, a string or true/false",
                    ))
                }
            };
            entries.push((key.to_string(), value, span));
        }
        Ok(entries)
    }

    fn config_error(
        &self,
        span: Option<std::ops::Range<usize>>,
        key: &str,
        e: ConfigError,
    ) -> ScenarioError {
        self.err(span, Some(key), e.to_string())
    }
}

fn description_of(text: &str) -> String {
    let mut lines = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix('#') {
            lines.push(rest.strip_prefix(' ').unwrap_or(rest).to_string());
        } else if t.is_empty() && lines.is_empty() {
            continue;
        } else {
            break;
        }
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// Parses a target: a broker id, `"broker:N"`, `"leader:T-P"`, `"follower:T-P"`,
/// `"controller"`, `"zookeeper"`, `"producer:NAME"`, `"consumer:NAME"`, `"coordinator:GROUP"`.
fn parse_target(s: &str) -> Option<Target> {
    let s = s.trim();
    match s {
        "controller" => return Some(Target::Controller),
        "zookeeper" => return Some(Target::ZooKeeper),
        _ => {}
    }
    if let Some(rest) = s
        .strip_prefix("broker:")
        .or_else(|| s.strip_prefix("broker "))
    {
        return rest.trim().parse().ok().map(Target::Broker);
    }
    if let Ok(b) = s.parse() {
        return Some(Target::Broker(b));
    }
    let (kind, rest) = s.split_once(':')?;
    let name = rest.trim().to_string();
    match kind {
        "producer" if !name.is_empty() => return Some(Target::Producer(name)),
        "consumer" if !name.is_empty() => return Some(Target::Consumer(name)),
        "coordinator" if !name.is_empty() => return Some(Target::Coordinator(name)),
        _ => {}
    }
    let tp = TopicPartition::parse(rest.trim())?;
    match kind {
        "leader" => Some(Target::Leader(tp)),
        "follower" => Some(Target::Follower(tp)),
        _ => None,
    }
}

impl Scenario {
    pub fn load(path: &str) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_string(),
            line: 0,
            column: 0,
            key: None,
            message: format!("cannot read the file: {e}"),
        })?;
        Scenario::parse(path, &text)
    }

    /// A stable hash of the file's text (FNV-1a, 64 bits).
    pub fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.text.as_bytes() {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }

    pub fn parse(path: &str, text: &str) -> Result<Scenario> {
        let ctx = Ctx { file: path, text };
        let doc = ImDocument::parse(text.to_string()).map_err(|e| {
            let span = e.span();
            ctx.err(span, None, format!("not valid TOML: {}", e.message()))
        })?;
        let root = &Table {
            inner: doc.as_table(),
            span: None,
        };
        ctx.known_keys(
            root,
            &[
                "name",
                "duration",
                "settle",
                "seed",
                "cluster",
                "network",
                "topics",
                "producers",
                "consumers",
                "faults",
                "nemesis",
                "expect",
            ],
            "the scenario",
        )?;
        let name = ctx
            .str(root, "name")?
            .ok_or_else(|| ctx.err(None, Some("name"), "a scenario needs a name"))?;
        let duration_ms = ctx.duration_ms(root, "duration")?.unwrap_or(60_000);
        let settle_ms = ctx.duration_ms(root, "settle")?.unwrap_or(30_000);
        if duration_ms == 0 {
            return Err(ctx.err(
                ctx.key_span(root, "duration"),
                Some("duration"),
                "must be more than 0",
            ));
        }
        let seed = ctx.int(root, "seed", 0, i64::MAX)?.unwrap_or(0) as u64;

        let network = parse_network(&ctx, root)?;
        let cluster = parse_cluster(&ctx, root, &network)?;
        let mut warnings = Vec::new();
        let topics = parse_topics(&ctx, root, &cluster, &mut warnings)?;
        let producers = parse_producers(&ctx, root, &topics, &network, &mut warnings)?;
        let consumers = parse_consumers(&ctx, root, &topics, &network)?;
        let known = Known {
            cluster: &cluster,
            topics: &topics,
            producers: &producers,
            consumers: &consumers,
        };
        let faults = parse_faults(&ctx, root, &known, duration_ms)?;
        if let Some(w) = offsets_topic_warning(&cluster, &consumers) {
            warnings.push(w);
        }
        let expect = parse_expect(&ctx, root)?;
        let nemesis = parse_nemesis(&ctx, root)?;
        Ok(Scenario {
            nemesis,
            path: path.to_string(),
            name,
            description: description_of(text),
            warnings,
            duration_ms,
            settle_ms,
            seed,
            cluster,
            network,
            topics,
            producers,
            consumers,
            faults,
            expect,
            text: text.to_string(),
        })
    }
}

fn parse_cluster(ctx: &Ctx, root: &Table<'_>, network: &NetworkSpec) -> Result<ClusterSpec> {
    let table = &ctx
        .table(root, "cluster")?
        .ok_or_else(|| ctx.err(None, Some("cluster"), "a scenario needs a [cluster] table"))?;
    ctx.known_keys(table, &["brokers", "broker_ids", "config"], "[cluster]")?;
    let broker_ids = match (table.get("brokers"), table.get("broker_ids")) {
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                ctx.key_span(table, "broker_ids"),
                Some("broker_ids"),
                "give either `brokers = N` (ids 0 to N-1) or `broker_ids = [...]`, not both",
            ))
        }
        (None, None) => {
            return Err(ctx.err(
                table.span(),
                Some("brokers"),
                "[cluster] needs `brokers = N` (ids 0 to N-1) or `broker_ids = [1, 2, 3]`",
            ))
        }
        (Some(_), None) => {
            let n = ctx
                .int(table, "brokers", 1, MAX_BROKERS as i64)?
                .unwrap_or(1);
            (0..n as BrokerId).collect()
        }
        (None, Some(item)) => parse_broker_ids(ctx, item)?,
    };
    let mut config = BrokerConfig::default();
    let mut spans = BTreeMap::new();
    for (key, value, span) in ctx.config_map(ctx.table(table, "config")?)? {
        config
            .apply(&key, &value)
            .map_err(|e| ctx.config_error(span.clone(), &key, e))?;
        spans.insert(key, span);
    }
    check_broker_timers(ctx, &config, network, &spans, table.span())?;
    Ok(ClusterSpec::new(broker_ids, config))
}

/// The broker configs that drive timers, checked as Kafka checks them at startup, and
/// against the network where a value could never be met.
fn check_broker_timers(
    ctx: &Ctx,
    config: &BrokerConfig,
    network: &NetworkSpec,
    spans: &BTreeMap<String, Option<std::ops::Range<usize>>>,
    table_span: Option<std::ops::Range<usize>>,
) -> Result<()> {
    // The error points at the first of `keys` the file sets, else at [cluster].
    let err = |keys: &[&str], message: String| {
        let key = keys
            .iter()
            .find(|k| spans.contains_key(**k))
            .copied()
            .unwrap_or(keys[0]);
        let span = spans.get(key).cloned().flatten().or(table_span.clone());
        ctx.err(span, Some(key), message)
    };
    let round_trip = network.worst_round_trip_ms();
    // Kafka takes any value, but KafkaServer.initZkClient waits zookeeper.connection.timeout.ms
    // (by default zookeeper.session.timeout.ms) for the first session and the broker does
    // not start without one; ZooKeeper's ClientCnxn gives each attempt the requested timeout
    // (sessionTimeout / servers). Shorter than a round trip, no broker would ever start.
    let zk = config.zookeeper_session_timeout_ms;
    if zk < round_trip {
        return Err(err(
            &["zookeeper.session.timeout.ms"],
            format!(
                "{zk} ms is shorter than a round trip to ZooKeeper on this network (up to \
                 {round_trip} ms): a Kafka broker waits zookeeper.connection.timeout.ms, which \
                 defaults to zookeeper.session.timeout.ms, for its first ZooKeeper session and \
                 fails to start without one"
            ),
        ));
    }
    // KafkaConfig.validateValues.
    let wait = config.replica_fetch_wait_max_ms;
    if wait > config.replica_socket_timeout_ms {
        return Err(err(
            &["replica.socket.timeout.ms", "replica.fetch.wait.max.ms"],
            format!(
                "replica.socket.timeout.ms ({} ms) should always be at least \
                 replica.fetch.wait.max.ms ({wait} ms) to prevent unnecessary socket timeouts \
                 (KafkaConfig)",
                config.replica_socket_timeout_ms
            ),
        ));
    }
    if wait > config.replica_lag_time_max_ms {
        return Err(err(
            &["replica.lag.time.max.ms", "replica.fetch.wait.max.ms"],
            format!(
                "replica.fetch.wait.max.ms ({wait} ms) should always be less than or equal to \
                 replica.lag.time.max.ms ({} ms) to prevent frequent changes in ISR (KafkaConfig)",
                config.replica_lag_time_max_ms
            ),
        ));
    }
    if config.replica_socket_timeout_ms < round_trip {
        return Err(err(
            &["replica.socket.timeout.ms"],
            format!(
                "{} ms is shorter than a round trip between brokers on this network (up to \
                 {round_trip} ms): every fetch of every follower would time out",
                config.replica_socket_timeout_ms
            ),
        ));
    }
    Ok(())
}

/// A client's `request.timeout.ms` must leave room for one round trip: shorter, every
/// request times out before its answer can arrive. Kafka takes it (atLeast(0)) and the client
/// retries forever without getting anywhere; the simulator refuses it.
fn check_request_timeout(
    ctx: &Ctx,
    request_timeout_ms: u64,
    network: &NetworkSpec,
    span: Option<std::ops::Range<usize>>,
    what: &str,
) -> Result<()> {
    let round_trip = network.worst_round_trip_ms();
    if request_timeout_ms < round_trip {
        return Err(ctx.err(
            span,
            Some("request.timeout.ms"),
            format!(
                "{request_timeout_ms} ms is shorter than a round trip on this network (up to \
                 {round_trip} ms): every request of the {what} would time out before its answer"
            ),
        ));
    }
    Ok(())
}

/// `broker_ids = [...]`: Kafka's `broker.id` is any non-negative int (a negative one asks
/// for a generated id, which a scenario cannot do); each id names one broker.
fn parse_broker_ids(ctx: &Ctx, item: &Item) -> Result<Vec<BrokerId>> {
    const KEY: &str = "broker_ids";
    let list = item.as_array().ok_or_else(|| {
        ctx.err(
            item.span(),
            Some(KEY),
            "expected a list of broker ids, e.g. [1, 2, 3]",
        )
    })?;
    if list.is_empty() {
        return Err(ctx.err(
            item.span(),
            Some(KEY),
            "a cluster needs at least one broker",
        ));
    }
    if list.len() > MAX_BROKERS as usize {
        return Err(ctx.err(
            item.span(),
            Some(KEY),
            format!("at most {MAX_BROKERS} brokers"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut ids = Vec::with_capacity(list.len());
    for v in list.iter() {
        let span = v.span().or_else(|| item.span());
        let id = match v.as_integer() {
            Some(i) if (0..=i32::MAX as i64).contains(&i) => i as BrokerId,
            Some(i) => {
                return Err(ctx.err(
                    span,
                    Some(KEY),
                    format!("broker id {i} is out of range (0 to {})", i32::MAX),
                ))
            }
            None => return Err(ctx.err(span, Some(KEY), "a broker id is a whole number")),
        };
        if !seen.insert(id) {
            return Err(ctx.err(span, Some(KEY), format!("broker id {id} appears twice")));
        }
        ids.push(id);
    }
    Ok(ids)
}

fn parse_network(ctx: &Ctx, root: &Table<'_>) -> Result<NetworkSpec> {
    let mut network = NetworkSpec::default();
    let Some(table) = &ctx.table(root, "network")? else {
        return Ok(network);
    };
    ctx.known_keys(table, &["latency", "loss"], "[network]")?;
    if let Some(s) = ctx.str(table, "latency")? {
        let span = ctx.key_span(table, "latency");
        let bad = || {
            ctx.err(
                span.clone(),
                Some("latency"),
                format!("`{s}` is not a latency; write \"2ms\" or \"1ms..5ms\""),
            )
        };
        let (lo, hi) = match s.split_once("..") {
            Some((a, b)) => (
                parse_duration_us(a).ok_or_else(bad)?,
                parse_duration_us(b).ok_or_else(bad)?,
            ),
            None => {
                let v = parse_duration_us(&s).ok_or_else(bad)?;
                (v, v)
            }
        };
        if hi < lo {
            return Err(ctx.err(span, Some("latency"), "the range's end is below its start"));
        }
        network.latency_min_us = lo;
        network.latency_max_us = hi;
    }
    if let Some(loss) = ctx.float(table, "loss", 0.0, 1.0)? {
        network.loss = loss;
    }
    Ok(network)
}

fn parse_topics(
    ctx: &Ctx,
    root: &Table<'_>,
    cluster: &ClusterSpec,
    warnings: &mut Vec<String>,
) -> Result<Vec<TopicSpec>> {
    let mut topics: Vec<TopicSpec> = Vec::new();
    for table in &ctx.array_of_tables(root, "topics")? {
        ctx.known_keys(
            table,
            &[
                "name",
                "partitions",
                "replication_factor",
                "replicas",
                "config",
            ],
            "[[topics]]",
        )?;
        let name = ctx
            .str(table, "name")?
            .ok_or_else(|| ctx.err(table.span(), Some("name"), "a topic needs a name"))?;
        let name_span = ctx.key_span(table, "name");
        match kafka_model::topic::validate_topic_name(&name) {
            Ok(Some(w)) => warnings.push(format!("topic `{name}`: {w}")),
            Ok(None) => {}
            Err(e) => return Err(ctx.err(name_span, Some("name"), e)),
        }
        if topics.iter().any(|t| t.name == name) {
            return Err(ctx.err(
                name_span,
                Some("name"),
                format!("topic `{name}` is declared twice"),
            ));
        }
        let partitions = ctx
            .int(table, "partitions", 1, MAX_PARTITIONS as i64)?
            .unwrap_or(1) as u32;
        let default_rf = cluster.broker_count().min(3);
        let replication_factor = ctx
            .int(
                table,
                "replication_factor",
                1,
                cluster.broker_count() as i64,
            )?
            .map_or(default_rf, |v| v as u32);
        let replicas = match table.get("replicas") {
            None => kafka_model::topic::assign_replicas_to_brokers(
                cluster.broker_ids(),
                partitions,
                replication_factor,
            )
            .map_err(|e| ctx.err(table.span(), Some("replicas"), e))?,
            Some(item) => parse_assignment(ctx, item, partitions, replication_factor, cluster)?,
        };
        let mut config = cluster.config.topic_defaults.clone();
        for (key, value, span) in ctx.config_map(ctx.table(table, "config")?)? {
            config
                .apply(&key, &value)
                .map_err(|e| ctx.config_error(span, &key, e))?;
        }
        topics.push(TopicSpec {
            name,
            partitions,
            replication_factor,
            replicas,
            config,
        });
    }
    if topics.is_empty() {
        return Err(ctx.err(
            None,
            Some("topics"),
            "a scenario needs at least one [[topics]]",
        ));
    }
    Ok(topics)
}

fn parse_assignment(
    ctx: &Ctx,
    item: &Item,
    partitions: u32,
    rf: u32,
    cluster: &ClusterSpec,
) -> Result<Vec<Vec<BrokerId>>> {
    let bad = |msg: String| ctx.err(item.span(), Some("replicas"), msg);
    let outer = item
        .as_array()
        .ok_or_else(|| bad("expected a list of replica lists, e.g. [[0, 1, 2]]".into()))?;
    if outer.len() != partitions as usize {
        return Err(bad(format!(
            "{} replica lists for {partitions} partitions",
            outer.len()
        )));
    }
    let mut all = Vec::new();
    for (p, v) in outer.iter().enumerate() {
        let list = v
            .as_array()
            .ok_or_else(|| bad(format!("partition {p}: expected a list of broker ids")))?;
        let mut ids = Vec::new();
        for id in list.iter() {
            let id = id
                .as_integer()
                .and_then(|i| BrokerId::try_from(i).ok())
                .filter(|i| cluster.has_broker(*i))
                .ok_or_else(|| {
                    bad(format!(
                        "partition {p}: the broker ids are {}",
                        cluster.describe_ids()
                    ))
                })?;
            if ids.contains(&id) {
                return Err(bad(format!("partition {p}: broker {id} appears twice")));
            }
            ids.push(id);
        }
        if ids.len() != rf as usize {
            return Err(bad(format!(
                "partition {p}: {} replicas, but replication_factor is {rf}",
                ids.len()
            )));
        }
        all.push(ids);
    }
    Ok(all)
}

fn check_client_name(
    ctx: &Ctx,
    table: &Table<'_>,
    seen: &mut BTreeSet<String>,
    what: &str,
) -> Result<String> {
    let name = ctx
        .str(table, "name")?
        .ok_or_else(|| ctx.err(table.span(), Some("name"), format!("a {what} needs a name")))?;
    if !seen.insert(name.clone()) {
        return Err(ctx.err(
            ctx.key_span(table, "name"),
            Some("name"),
            format!("{what} `{name}` is declared twice"),
        ));
    }
    Ok(name)
}

fn parse_producers(
    ctx: &Ctx,
    root: &Table<'_>,
    topics: &[TopicSpec],
    network: &NetworkSpec,
    warnings: &mut Vec<String>,
) -> Result<Vec<ProducerSpec>> {
    let mut producers = Vec::new();
    let mut seen = BTreeSet::new();
    let tables = ctx.array_of_tables(root, "producers")?;
    if tables.len() > MAX_CLIENTS {
        return Err(ctx.err(
            None,
            Some("producers"),
            format!("at most {MAX_CLIENTS} producers"),
        ));
    }
    for table in &tables {
        ctx.known_keys(
            table,
            &[
                "name", "topic", "records", "rate", "keys", "start", "config",
            ],
            "[[producers]]",
        )?;
        let name = check_client_name(ctx, table, &mut seen, "producer")?;
        let topic = ctx
            .str(table, "topic")?
            .ok_or_else(|| ctx.err(table.span(), Some("topic"), "a producer needs a topic"))?;
        if !topics.iter().any(|t| t.name == topic) {
            return Err(ctx.err(
                ctx.key_span(table, "topic"),
                Some("topic"),
                format!("no [[topics]] named `{topic}`"),
            ));
        }
        let records = ctx
            .int(table, "records", 0, 100_000_000)?
            .ok_or_else(|| ctx.err(table.span(), Some("records"), "a producer needs `records`"))?
            as u64;
        let rate_per_sec = ctx
            .float(table, "rate", 0.001, 10_000_000.0)?
            .unwrap_or(100.0);
        let keys = ctx.int(table, "keys", 1, 1_000_000)?.map(|k| k as u32);
        let start_ms = ctx.duration_ms(table, "start")?.unwrap_or(0);
        let mut config = ProducerConfig::default();
        let mut spans = BTreeMap::new();
        for (key, value, span) in ctx.config_map(ctx.table(table, "config")?)? {
            config
                .apply(&key, &value)
                .map_err(|e| ctx.config_error(span.clone(), &key, e))?;
            spans.insert(key, span);
        }
        let span_of = |key: &str| spans.get(key).cloned().flatten().or(table.span());
        check_request_timeout(
            ctx,
            config.request_timeout_ms,
            network,
            span_of("request.timeout.ms"),
            "producer",
        )?;
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
        producers.push(ProducerSpec {
            name,
            topic,
            records,
            rate_per_sec,
            keys,
            start_ms,
            config,
        });
    }
    Ok(producers)
}

fn parse_consumers(
    ctx: &Ctx,
    root: &Table<'_>,
    topics: &[TopicSpec],
    network: &NetworkSpec,
) -> Result<Vec<ConsumerSpec>> {
    let mut consumers = Vec::new();
    let mut seen = BTreeSet::new();
    let tables = ctx.array_of_tables(root, "consumers")?;
    if tables.len() > MAX_CLIENTS {
        return Err(ctx.err(
            None,
            Some("consumers"),
            format!("at most {MAX_CLIENTS} consumers"),
        ));
    }
    for table in &tables {
        ctx.known_keys(
            table,
            &[
                "name",
                "topics",
                "start",
                "config",
                "group",
                "members",
                "processing",
                "commit",
            ],
            "[[consumers]]",
        )?;
        let name = check_client_name(ctx, table, &mut seen, "consumer")?;
        let span = ctx.key_span(table, "topics");
        let list = table
            .get("topics")
            .ok_or_else(|| ctx.err(table.span(), Some("topics"), "a consumer needs `topics`"))?
            .as_array()
            .ok_or_else(|| {
                ctx.err(
                    span.clone(),
                    Some("topics"),
                    "expected a list of topic names",
                )
            })?;
        let mut names = Vec::new();
        for v in list.iter() {
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
        let start_ms = ctx.duration_ms(table, "start")?.unwrap_or(0);
        let mut config = ConsumerConfig::default();
        let mut auto_commit_key = None;
        let mut spans = BTreeMap::new();
        for (key, value, span) in ctx.config_map(ctx.table(table, "config")?)? {
            config
                .apply(&key, &value)
                .map_err(|e| ctx.config_error(span.clone(), &key, e))?;
            if key == "enable.auto.commit" {
                auto_commit_key = Some(span.clone());
            }
            spans.insert(key, span);
        }
        let span_of = |key: &str| spans.get(key).cloned().flatten().or(table.span());
        check_request_timeout(
            ctx,
            config.request_timeout_ms,
            network,
            span_of("request.timeout.ms"),
            "consumer",
        )?;
        let group = parse_group_keys(ctx, table, &mut config, auto_commit_key)?;
        // Kafka's consumer refuses to start a group member whose heartbeat is not below its
        // session timeout (Heartbeat: "Heartbeat must be set lower than the session timeout").
        if group.is_some() && config.heartbeat_interval_ms >= config.session_timeout_ms {
            let key = if spans.contains_key("heartbeat.interval.ms") {
                "heartbeat.interval.ms"
            } else {
                "session.timeout.ms"
            };
            return Err(ctx.err(
                span_of(key),
                Some(key),
                format!(
                    "heartbeat.interval.ms ({} ms) must be set lower than session.timeout.ms \
                     ({} ms) (Kafka's consumer Heartbeat)",
                    config.heartbeat_interval_ms, config.session_timeout_ms
                ),
            ));
        }
        let members = match ctx.int(table, "members", 1, MAX_CLIENTS as i64)? {
            Some(_) if group.is_none() => {
                return Err(ctx.err(
                    ctx.key_span(table, "members"),
                    Some("members"),
                    "`members` is for a consumer group: add `group = \"NAME\"`",
                ))
            }
            Some(n) => Some(n as usize),
            None => None,
        };
        let spec = ConsumerSpec {
            name: name.clone(),
            topics: names,
            start_ms,
            config,
            group,
        };
        match members {
            // `members = N`: N processes NAME-0 .. NAME-(N-1), each its own client.id.
            Some(n) => {
                for i in 0..n {
                    let member = format!("{name}-{i}");
                    if !seen.insert(member.clone()) {
                        return Err(ctx.err(
                            ctx.key_span(table, "members"),
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
                table.span(),
                Some("members"),
                format!("at most {MAX_CLIENTS} consumer processes in all"),
            ));
        }
    }
    Ok(consumers)
}

/// From 0.11 a broker does not create `__consumer_offsets` with fewer live brokers than
/// `offsets.topic.replication.factor`: a group on a smaller cluster never finds a
/// coordinator. Kafka says nothing about it either; a scenario file at least warns.
fn offsets_topic_warning(cluster: &ClusterSpec, consumers: &[ConsumerSpec]) -> Option<String> {
    let config = &cluster.config;
    let wanted = config.offsets_topic_replication_factor;
    let strict = config
        .inter_broker_protocol_version
        .requires_full_offsets_replication();
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
    table: &Table<'_>,
    config: &mut ConsumerConfig,
    auto_commit_key: Option<Option<std::ops::Range<usize>>>,
) -> Result<Option<GroupMemberSpec>> {
    let group = ctx.str(table, "group")?;
    let group_id = match (group, &config.group_id) {
        (Some(g), Some(c)) if &g != c => {
            return Err(ctx.err(
                ctx.key_span(table, "group"),
                Some("group"),
                format!("`group` is `{g}` but config `group.id` is `{c}`"),
            ))
        }
        (Some(g), _) => Some(g),
        (None, c) => c.clone(),
    };
    let Some(group_id) = group_id else {
        for key in ["processing", "commit"] {
            if table.contains_key(key) {
                return Err(ctx.err(
                    ctx.key_span(table, key),
                    Some(key),
                    format!("`{key}` is for a consumer group: add `group = \"NAME\"`"),
                ));
            }
        }
        return Ok(None);
    };
    if group_id.is_empty() || group_id.chars().any(|c| c.is_control()) {
        return Err(ctx.err(
            ctx.key_span(table, "group"),
            Some("group"),
            "a group id is a non-empty name without control characters",
        ));
    }
    config.group_id = Some(group_id.clone());
    let processing_ms = ctx.duration_ms(table, "processing")?.unwrap_or(0);
    let commit = match ctx.str(table, "commit")? {
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
                    ctx.key_span(table, "commit"),
                    Some("commit"),
                    format!(
                        "unknown commit `{text}`: \"auto\", \"after-processing\" or \"before-processing\""
                    ),
                ));
            };
            if auto_commit_key.is_some() && config.enable_auto_commit != (mode == CommitMode::Auto)
            {
                return Err(ctx.err(
                    ctx.key_span(table, "commit"),
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

/// What a fault target may name.
struct Known<'a> {
    cluster: &'a ClusterSpec,
    topics: &'a [TopicSpec],
    producers: &'a [ProducerSpec],
    consumers: &'a [ConsumerSpec],
}

/// A broker id written as a number: Kafka's ids are Java ints.
fn broker_id_of(ctx: &Ctx, item: &Item, key: &str, id: i64) -> Result<BrokerId> {
    BrokerId::try_from(id).map_err(|_| {
        ctx.err(
            item.span(),
            Some(key),
            format!(
                "broker {id} does not exist (a broker id is at most {})",
                i32::MAX
            ),
        )
    })
}

fn target_from(ctx: &Ctx, item: &Item, key: &str, known: &Known<'_>) -> Result<Target> {
    let value = item.as_value();
    let target = match value {
        Some(Value::Integer(i)) => Some(Target::Broker(broker_id_of(ctx, item, key, *i.value())?)),
        Some(Value::String(s)) => parse_target(s.value()),
        _ => None,
    };
    let target = target.ok_or_else(|| {
        ctx.err(
            item.span(),
            Some(key),
            "a target is a broker id, \"leader:TOPIC-P\", \"follower:TOPIC-P\", \"controller\", \"zookeeper\", \"producer:NAME\", \"consumer:NAME\" or \"coordinator:GROUP\"",
        )
    })?;
    validate_target(ctx, item, key, &target, known)?;
    Ok(target)
}

fn validate_target(
    ctx: &Ctx,
    item: &Item,
    key: &str,
    target: &Target,
    known: &Known<'_>,
) -> Result<()> {
    let (cluster, topics) = (known.cluster, known.topics);
    let unknown = |what: &str, name: &str, names: Vec<&str>| {
        let hint = nearest_key(name, names.iter().copied()).map_or_else(
            || format!(" (there are: {})", names.join(", ")),
            |n| format!(" (did you mean `{n}`?)"),
        );
        Err(ctx.err(
            item.span(),
            Some(key),
            format!("no {what} named `{name}`{hint}"),
        ))
    };
    match target {
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
        Target::Broker(b) if !cluster.has_broker(*b) => Err(ctx.err(
            item.span(),
            Some(key),
            format!(
                "broker {b} does not exist (the broker ids are {})",
                cluster.describe_ids()
            ),
        )),
        Target::Leader(tp) | Target::Follower(tp) => {
            match topics.iter().find(|t| t.name == tp.topic) {
                None => Err(ctx.err(
                    item.span(),
                    Some(key),
                    format!("no [[topics]] named `{}`", tp.topic),
                )),
                Some(t) if tp.partition >= t.partitions => Err(ctx.err(
                    item.span(),
                    Some(key),
                    format!(
                        "topic `{}` has partitions 0 to {}",
                        t.name,
                        t.partitions - 1
                    ),
                )),
                Some(t) if matches!(target, Target::Follower(_)) && t.replication_factor < 2 => {
                    Err(ctx.err(
                        item.span(),
                        Some(key),
                        format!(
                            "topic `{}` has a replication factor of 1: no followers",
                            t.name
                        ),
                    ))
                }
                Some(_) => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn parse_faults(
    ctx: &Ctx,
    root: &Table<'_>,
    known: &Known<'_>,
    duration_ms: u64,
) -> Result<Vec<FaultSpec>> {
    let mut faults = Vec::new();
    for table in &ctx.array_of_tables(root, "faults")? {
        ctx.known_keys(
            table,
            &["at", "action", "target", "delay", "groups", "rate"],
            "[[faults]]",
        )?;
        let at_ms = ctx.duration_ms(table, "at")?.ok_or_else(|| {
            ctx.err(
                table.span(),
                Some("at"),
                "a fault needs `at`, e.g. at = \"10s\"",
            )
        })?;
        if at_ms > duration_ms {
            return Err(ctx.err(
                ctx.key_span(table, "at"),
                Some("at"),
                format!("at {at_ms} ms is after the run's duration ({duration_ms} ms)"),
            ));
        }
        let action = ctx
            .str(table, "action")?
            .ok_or_else(|| ctx.err(table.span(), Some("action"), "a fault needs `action`"))?;
        let action_span = ctx.key_span(table, "action");
        const ACTIONS: &[&str] = &[
            "crash",
            "restart",
            "power-loss",
            "pause",
            "resume",
            "isolate",
            "partition",
            "heal",
            "slow",
            "loss",
        ];
        if !ACTIONS.contains(&action.as_str()) {
            let hint = nearest_key(&action, ACTIONS.iter().copied())
                .map_or(format!(" (one of {})", ACTIONS.join(", ")), |s| {
                    format!(" (did you mean `{s}`?)")
                });
            return Err(ctx.err(
                action_span,
                Some("action"),
                format!("unknown action `{action}`{hint}"),
            ));
        }
        // Keys only some actions take.
        for (key, owner) in [("delay", "slow"), ("rate", "loss"), ("groups", "partition")] {
            if table.contains_key(key) && action != owner {
                return Err(ctx.err(
                    ctx.key_span(table, key),
                    Some(key),
                    format!("`{key}` is only for action = \"{owner}\""),
                ));
            }
        }
        let target = match table.get("target") {
            Some(item) => Some(target_from(ctx, item, "target", known)?),
            None => None,
        };
        let need_target = || {
            ctx.err(
                table.span(),
                Some("target"),
                format!("action \"{action}\" needs a `target`"),
            )
        };
        if action == "power-loss"
            && matches!(
                target,
                Some(Target::Producer(_)) | Some(Target::Consumer(_))
            )
        {
            return Err(ctx.err(
                ctx.key_span(table, "target"),
                Some("target"),
                "power-loss is for brokers (a client keeps nothing on disk); use \"crash\"",
            ));
        }
        let fault = match action.as_str() {
            "crash" => FaultAction::Crash(target.ok_or_else(need_target)?),
            "restart" => FaultAction::Restart(target.ok_or_else(need_target)?),
            "power-loss" => FaultAction::PowerLoss(target.ok_or_else(need_target)?),
            "pause" => FaultAction::Pause(target.ok_or_else(need_target)?),
            "resume" => FaultAction::Resume(target.ok_or_else(need_target)?),
            "isolate" => FaultAction::Isolate(target.ok_or_else(need_target)?),
            "heal" => FaultAction::Heal(target),
            "slow" => {
                let delay_ms = ctx.duration_ms(table, "delay")?.ok_or_else(|| {
                    ctx.err(
                        table.span(),
                        Some("delay"),
                        "action \"slow\" needs `delay`, e.g. \"30s\"",
                    )
                })?;
                FaultAction::Slow {
                    target: target.ok_or_else(need_target)?,
                    delay_ms,
                }
            }
            "loss" => {
                let rate = ctx.float(table, "rate", 0.0, 1.0)?.ok_or_else(|| {
                    ctx.err(
                        table.span(),
                        Some("rate"),
                        "action \"loss\" needs `rate` between 0 and 1",
                    )
                })?;
                FaultAction::Loss {
                    target: target.ok_or_else(need_target)?,
                    rate,
                }
            }
            "partition" => {
                if table.contains_key("target") {
                    return Err(ctx.err(
                        ctx.key_span(table, "target"),
                        Some("target"),
                        "a partition takes `groups`, not `target`",
                    ));
                }
                let item = table.get("groups").ok_or_else(|| {
                    ctx.err(
                        table.span(),
                        Some("groups"),
                        "action \"partition\" needs `groups`, e.g. [[0], [1, 2]]",
                    )
                })?;
                FaultAction::Partition(parse_groups(ctx, item, known)?)
            }
            _ => unreachable!("checked against ACTIONS"),
        };
        let (line, _) = ctx.position(table.span().or_else(|| ctx.key_span(table, "at")));
        faults.push(FaultSpec {
            at_ms,
            action: fault,
            line,
        });
    }
    Ok(faults)
}

fn parse_groups(ctx: &Ctx, item: &Item, known: &Known<'_>) -> Result<Vec<Vec<Target>>> {
    let bad = |m: &str| ctx.err(item.span(), Some("groups"), m.to_string());
    let outer = item
        .as_array()
        .ok_or_else(|| bad("expected a list of groups, e.g. [[0], [1, 2]]"))?;
    if outer.len() < 2 {
        return Err(bad("a partition needs at least two groups"));
    }
    let mut groups = Vec::new();
    let mut seen = Vec::new();
    for g in outer.iter() {
        let list = g
            .as_array()
            .ok_or_else(|| bad("each group is a list of targets"))?;
        let mut group = Vec::new();
        for v in list.iter() {
            let target = match v {
                Value::Integer(i) => Some(Target::Broker(broker_id_of(
                    ctx,
                    item,
                    "groups",
                    *i.value(),
                )?)),
                Value::String(s) => parse_target(s.value()),
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

fn range_ms(ctx: &Ctx, table: &Table<'_>, key: &str, default: (u64, u64)) -> Result<(u64, u64)> {
    let Some(text) = ctx.str(table, key)? else {
        return Ok(default);
    };
    let span = ctx.key_span(table, key);
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

fn parse_nemesis(ctx: &Ctx, root: &Table<'_>) -> Result<Option<NemesisSpec>> {
    let Some(table) = &ctx.table(root, "nemesis")? else {
        return Ok(None);
    };
    ctx.known_keys(
        table,
        &["kinds", "interval", "duration", "max_concurrent", "swarm"],
        "[nemesis]",
    )?;
    let span = ctx.key_span(table, "kinds");
    let mut kinds = Vec::new();
    match table.get("kinds") {
        None => kinds.extend(NEMESIS_KINDS.iter().map(|k| k.to_string())),
        Some(item) => {
            let list = item.as_array().ok_or_else(|| {
                ctx.err(
                    span.clone(),
                    Some("kinds"),
                    "expected a list of fault kinds",
                )
            })?;
            for v in list.iter() {
                let k = v
                    .as_str()
                    .ok_or_else(|| ctx.err(span.clone(), Some("kinds"), "expected fault kinds"))?;
                if !NEMESIS_KINDS.contains(&k) {
                    return Err(ctx.err(
                        span.clone(),
                        Some("kinds"),
                        format!("unknown kind `{k}` (one of {})", NEMESIS_KINDS.join(", ")),
                    ));
                }
                if !kinds.iter().any(|x: &String| x == k) {
                    kinds.push(k.to_string());
                }
            }
        }
    }
    if kinds.is_empty() {
        return Err(ctx.err(span, Some("kinds"), "a nemesis needs at least one kind"));
    }
    let (interval_min_ms, interval_max_ms) = range_ms(ctx, table, "interval", (2_000, 10_000))?;
    let (duration_min_ms, duration_max_ms) = range_ms(ctx, table, "duration", (1_000, 15_000))?;
    let max_concurrent = ctx.int(table, "max_concurrent", 1, 16)?.unwrap_or(1) as u32;
    let swarm = match table.get("swarm") {
        None => false,
        Some(item) => item
            .as_bool()
            .ok_or_else(|| ctx.err(item.span(), Some("swarm"), "expected true or false"))?,
    };
    Ok(Some(NemesisSpec {
        kinds,
        interval_min_ms,
        interval_max_ms,
        duration_min_ms,
        duration_max_ms,
        max_concurrent,
        swarm,
    }))
}

fn parse_expect(ctx: &Ctx, root: &Table<'_>) -> Result<Expect> {
    let mut expect = Expect::default();
    let Some(table) = &ctx.table(root, "expect")? else {
        return Ok(expect);
    };
    let mut known: Vec<&str> = EXPECT_COUNTERS.to_vec();
    known.push("violations");
    ctx.known_keys(table, &known, "[expect]")?;
    for (key, item) in table.iter() {
        let span = ctx.key_span(table, key);
        if key == "violations" {
            let list = item.as_array().ok_or_else(|| {
                ctx.err(
                    span.clone(),
                    Some(key),
                    "expected a list of invariant names, [] for none",
                )
            })?;
            let mut names = Vec::new();
            for v in list.iter() {
                let name = v
                    .as_str()
                    .ok_or_else(|| ctx.err(span.clone(), Some(key), "expected invariant names"))?;
                if !INVARIANT_NAMES.contains(&name) {
                    let hint = nearest_key(name, INVARIANT_NAMES.iter().copied())
                        .map_or(format!(" (one of {})", INVARIANT_NAMES.join(", ")), |s| {
                            format!(" (did you mean `{s}`?)")
                        });
                    return Err(ctx.err(
                        span.clone(),
                        Some(key),
                        format!("unknown invariant `{name}`{hint}"),
                    ));
                }
                names.push(name.to_string());
            }
            expect.violations = Some(names);
            continue;
        }
        let cmp = match item.as_value() {
            Some(Value::Integer(i)) if *i.value() >= 0 => Some(Comparison {
                op: CmpOp::Eq,
                value: *i.value() as u64,
            }),
            Some(Value::String(s)) => Comparison::parse(s.value()),
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

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"# What this shows.
# Second line.
name = "unclean-election-loses-acked"
duration = "60s"
settle = "30s"
seed = 7

[cluster]
brokers = 3

[cluster.config]
"unclean.leader.election.enable" = true
"replica.lag.time.max.ms" = 10000

[network]
latency = "1ms..5ms"
loss = 0.0

[[topics]]
name = "orders"
partitions = 1
replication_factor = 3
replicas = [[0, 1, 2]]
config = { "min.insync.replicas" = 1 }

[[producers]]
name = "p1"
topic = "orders"
records = 2000
rate = 100
keys = 8
config = { "acks" = "all", "linger.ms" = 5 }

[[consumers]]
name = "c1"
topics = ["orders"]

[[faults]]
at = "10s"
action = "slow"
target = 1
delay = "30s"
[[faults]]
at = "12s"
action = "crash"
target = "leader:orders-0"
[[faults]]
at = "14s"
action = "partition"
groups = [[0], [1, 2, "zookeeper"]]

[expect]
acked_lost = ">0"
unclean_elections = ">=1"
violations = ["acked-record-lost", "committed-record-lost"]
"#;

    fn parse(text: &str) -> Result<Scenario> {
        Scenario::parse("s.toml", text)
    }

    #[test]
    fn the_example_parses() {
        let s = parse(EXAMPLE).unwrap();
        assert_eq!(s.name, "unclean-election-loses-acked");
        assert_eq!(s.description, "What this shows.\nSecond line.");
        assert_eq!((s.duration_ms, s.settle_ms, s.seed), (60_000, 30_000, 7));
        assert!(
            s.cluster
                .config
                .topic_defaults
                .unclean_leader_election_enable
        );
        assert_eq!(s.cluster.config.replica_lag_time_max_ms, 10_000);
        assert_eq!(
            (s.network.latency_min_us, s.network.latency_max_us),
            (1_000, 5_000)
        );
        assert_eq!(s.topics[0].replicas, vec![vec![0, 1, 2]]);
        assert_eq!(s.topics[0].config.min_insync_replicas, 1);
        assert!(
            s.topics[0].config.unclean_leader_election_enable,
            "topic configs start from the broker defaults"
        );
        assert_eq!(s.producers[0].config.linger_ms, 5);
        assert_eq!(s.faults.len(), 3);
        assert_eq!(
            s.faults[0].action,
            FaultAction::Slow {
                target: Target::Broker(1),
                delay_ms: 30_000
            }
        );
        assert_eq!(
            s.faults[1].action,
            FaultAction::Crash(Target::Leader(TopicPartition::new("orders", 0)))
        );
        assert_eq!(
            s.faults[2].action,
            FaultAction::Partition(vec![
                vec![Target::Broker(0)],
                vec![Target::Broker(1), Target::Broker(2), Target::ZooKeeper]
            ])
        );
        assert_eq!(s.expect.violations.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn unknown_config_key_names_line_key_and_suggestion() {
        let text = EXAMPLE.replace(
            r#"config = { "min.insync.replicas" = 1 }"#,
            r#"config = { "min.insync.replica" = 1 }"#,
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, 24);
        assert_eq!(e.key.as_deref(), Some("min.insync.replica"));
        assert!(
            e.message.contains("did you mean `min.insync.replicas`"),
            "{e}"
        );
    }

    #[test]
    fn unknown_top_level_key() {
        let e = parse(&EXAMPLE.replace("settle = ", "setle = ")).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (5, Some("setle")));
        assert!(e.message.contains("did you mean `settle`"));
    }

    const GROUP_SCENARIO: &str = r#"
name = "g"
[cluster]
brokers = 3
[[topics]]
name = "orders"
partitions = 3
replication_factor = 3
[[producers]]
name = "shop"
topic = "orders"
records = 10
rate = 1
[[consumers]]
name = "billing"
group = "billing"
members = 3
topics = ["orders"]
processing = "5ms"
commit = "after-processing"
config = { "partition.assignment.strategy" = "cooperative-sticky", "session.timeout.ms" = 10000 }
[[faults]]
at = "5s"
action = "crash"
target = "consumer:billing-1"
[[faults]]
at = "6s"
action = "crash"
target = "coordinator:billing"
"#;

    #[test]
    fn a_group_entry_becomes_one_consumer_per_member() {
        let s = parse(GROUP_SCENARIO).unwrap();
        let names: Vec<&str> = s.consumers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["billing-0", "billing-1", "billing-2"]);
        let c = &s.consumers[1];
        let g = c.group.as_ref().unwrap();
        assert_eq!(g.group_id, "billing");
        assert_eq!(g.commit, CommitMode::AfterProcessing);
        assert_eq!(g.processing_ms, 5);
        assert_eq!(c.config.group_id.as_deref(), Some("billing"));
        assert!(!c.config.enable_auto_commit);
        assert_eq!(c.config.session_timeout_ms, 10_000);
        assert_eq!(
            c.config.partition_assignment_strategy,
            vec![kafka_model::assignor::Strategy::CooperativeSticky]
        );
        assert_eq!(
            s.faults[0].action,
            FaultAction::Crash(Target::Consumer("billing-1".into()))
        );
        assert_eq!(
            s.faults[1].action,
            FaultAction::Crash(Target::Coordinator("billing".into()))
        );
    }

    #[test]
    fn a_group_on_too_small_a_cluster_is_warned_about() {
        let s = parse(GROUP_SCENARIO).unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let s = parse(
            &GROUP_SCENARIO
                .replace("brokers = 3", "brokers = 1")
                .replace("replication_factor = 3", "replication_factor = 1"),
        )
        .unwrap();
        assert!(
            s.warnings[0].contains("never find a coordinator"),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn group_key_errors_name_the_key() {
        let e =
            parse(&GROUP_SCENARIO.replace("consumer:billing-1", "consumer:billing-7")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("target"));
        assert!(e.message.contains("no consumer named `billing-7`"), "{e}");
        let e =
            parse(&GROUP_SCENARIO.replace("coordinator:billing", "coordinator:bill")).unwrap_err();
        assert!(e.message.contains("no consumer group named `bill`"), "{e}");
        let e =
            parse(&GROUP_SCENARIO.replace("\"after-processing\"", "\"sometimes\"")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("commit"));
        let e = parse(&GROUP_SCENARIO.replace("group = \"billing\"\n", "")).unwrap_err();
        assert!(e.message.contains("is for a consumer group"), "{e}");
        let e = parse(&GROUP_SCENARIO.replace(
            "\"session.timeout.ms\" = 10000",
            "\"enable.auto.commit\" = true",
        ))
        .unwrap_err();
        assert!(e.message.contains("contradicts"), "{e}");
        let e = parse(&GROUP_SCENARIO.replace(
            "action = \"crash\"\ntarget = \"consumer",
            "action = \"power-loss\"\ntarget = \"consumer",
        ))
        .unwrap_err();
        assert!(e.message.contains("power-loss is for brokers"), "{e}");
        let e = parse(&GROUP_SCENARIO.replace("\"cooperative-sticky\"", "\"fair\"")).unwrap_err();
        assert!(e.message.contains("partition.assignment.strategy"), "{e}");
    }

    const IDS_SCENARIO: &str = r#"name = "ids"
[cluster]
broker_ids = [101, 102, 103]
[[topics]]
name = "orders"
partitions = 4
replication_factor = 3
[[topics]]
name = "audit"
partitions = 1
replication_factor = 2
replicas = [[103, 101]]
[[faults]]
at = "5s"
action = "crash"
target = "broker:102"
[[faults]]
at = "6s"
action = "partition"
groups = [[101], [102, 103, "zookeeper"]]
[[faults]]
at = "7s"
action = "restart"
target = 102
"#;

    #[test]
    fn broker_ids_are_kept_everywhere() {
        let s = parse(IDS_SCENARIO).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.cluster.broker_ids(), &[101, 102, 103]);
        assert_eq!(s.cluster.describe_ids(), "101 to 103");
        assert_eq!(
            s.topics[0].replicas,
            vec![
                vec![101, 102, 103],
                vec![102, 103, 101],
                vec![103, 101, 102],
                vec![101, 102, 103]
            ]
        );
        assert_eq!(s.topics[1].replicas, vec![vec![103, 101]]);
        assert_eq!(s.faults[0].action, FaultAction::Crash(Target::Broker(102)));
        assert_eq!(
            s.faults[1].action,
            FaultAction::Partition(vec![
                vec![Target::Broker(101)],
                vec![Target::Broker(102), Target::Broker(103), Target::ZooKeeper]
            ])
        );
        // `brokers = N` is ids 0 to N-1, with the round-robin assignment from broker 0.
        let s = parse(EXAMPLE).unwrap();
        assert_eq!(s.cluster.broker_ids(), &[0, 1, 2]);
        let unordered = parse(&IDS_SCENARIO.replace("[101, 102, 103]", "[103, 7, 101, 102]"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(unordered.cluster.broker_ids(), &[7, 101, 102, 103]);
        assert_eq!(unordered.cluster.describe_ids(), "7, 101 to 103");
        assert_eq!(unordered.topics[0].replicas[0], vec![7, 101, 102]);
    }

    #[test]
    fn broker_id_errors_name_file_line_and_key() {
        // (replacement for the `broker_ids` line, line, key, message)
        let cases = [
            ("brokers = 3\nbroker_ids = [1]", 4, "broker_ids", "not both"),
            ("", 2, "brokers", "needs `brokers = N`"),
            ("brokers = 0", 3, "brokers", "out of range"),
            ("broker_ids = []", 3, "broker_ids", "at least one broker"),
            (
                "broker_ids = [1, 2, 1]",
                3,
                "broker_ids",
                "broker id 1 appears twice",
            ),
            ("broker_ids = [1, -2, 3]", 3, "broker_ids", "out of range"),
            (
                "broker_ids = [1, 2147483648]",
                3,
                "broker_ids",
                "out of range",
            ),
            ("broker_ids = [1, \"2\"]", 3, "broker_ids", "whole number"),
            ("broker_ids = 3", 3, "broker_ids", "list of broker ids"),
        ];
        for (to, line, key, message) in cases {
            let text = IDS_SCENARIO.replace("broker_ids = [101, 102, 103]", to);
            let e = parse(&text).expect_err(to);
            assert_eq!(e.file, "s.toml");
            assert_eq!((e.line, e.key.as_deref()), (line, Some(key)), "{to}: {e}");
            assert!(e.message.contains(message), "{to}: {e}");
        }
        let e = parse(&IDS_SCENARIO.replace("\"broker:102\"", "\"broker:2\"")).unwrap_err();
        assert!(
            e.message
                .contains("broker 2 does not exist (the broker ids are 101 to 103)"),
            "{e}"
        );
        let e = parse(&IDS_SCENARIO.replace("target = 102", "target = 4294967398")).unwrap_err();
        assert!(
            e.message.contains("broker 4294967398 does not exist"),
            "{e}"
        );
        let e = parse(&IDS_SCENARIO.replace("[[103, 101]]", "[[103, 1]]")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("replicas"));
        assert!(e.message.contains("the broker ids are 101 to 103"), "{e}");
        let e = parse(&IDS_SCENARIO.replace("[[101], [102", "[[100], [102")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("groups"));
        let e = parse(&IDS_SCENARIO.replace("replication_factor = 3", "replication_factor = 4"))
            .unwrap_err();
        assert!(e.message.contains("out of range (1 to 3)"), "{e}");
    }

    #[test]
    fn the_offsets_topic_warning_counts_the_listed_brokers() {
        let text = GROUP_SCENARIO
            .replace("brokers = 3", "broker_ids = [10, 20]")
            .replace("replication_factor = 3", "replication_factor = 2");
        let s = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.warnings[0].contains("the cluster has 2 broker(s)"),
            "{:?}",
            s.warnings
        );
    }

    /// A small scenario with one slot per scope for a config entry.
    const TIMERS: &str = r#"name = "timers"
duration = "20s"
#NETWORK#
[cluster]
brokers = 3
[cluster.config]
#BROKER#
[[topics]]
name = "orders"
partitions = 2
replication_factor = 3
config = { "unclean.leader.election.enable" = false #TOPIC# }
[[producers]]
name = "p"
topic = "orders"
records = 10
rate = 10
config = { "acks" = "all" #PRODUCER# }
[[consumers]]
name = "g"
group = "g"
members = 2
topics = ["orders"]
processing = "1ms"
config = { "auto.offset.reset" = "earliest" #CONSUMER# }
#TAIL#
"#;

    /// The timer scenario with `entry` put in `slot` (BROKER, TOPIC, PRODUCER, CONSUMER,
    /// NETWORK or TAIL); entries in the inline tables get their leading comma here.
    fn timers_with(slot: &str, entry: &str) -> String {
        let mut text = TIMERS.to_string();
        for s in ["NETWORK", "BROKER", "TOPIC", "PRODUCER", "CONSUMER", "TAIL"] {
            let marker = format!("#{s}#");
            let with = if s != slot {
                String::new()
            } else if matches!(s, "TOPIC" | "PRODUCER" | "CONSUMER") {
                format!(", {entry}")
            } else {
                entry.to_string()
            };
            text = text.replace(&marker, &with);
        }
        text
    }

    /// Every duration, count and config that drives a timer or a rate: a value that would
    /// give a timer a period of 0 (or a timeout no answer can meet) is an error naming the
    /// file, the line and the key.
    #[test]
    fn timer_values_kafka_refuses_are_errors_naming_the_key() {
        let cases: &[(&str, &str, &str, &str)] = &[
            // (slot, entry, key, part of the message)
            (
                "BROKER",
                r#""zookeeper.session.timeout.ms" = 0"#,
                "zookeeper.session.timeout.ms",
                "fails to start",
            ),
            (
                "BROKER",
                r#""zookeeper.session.timeout.ms" = 1"#,
                "zookeeper.session.timeout.ms",
                "round trip to ZooKeeper",
            ),
            (
                "BROKER",
                r#""replica.lag.time.max.ms" = 100"#,
                "replica.lag.time.max.ms",
                "frequent changes in ISR",
            ),
            (
                "BROKER",
                r#""replica.fetch.wait.max.ms" = 40000"#,
                "replica.fetch.wait.max.ms",
                "unnecessary socket timeouts",
            ),
            (
                "BROKER",
                "\"replica.fetch.wait.max.ms\" = 0\n\"replica.socket.timeout.ms\" = 0",
                "replica.socket.timeout.ms",
                "every fetch",
            ),
            (
                "BROKER",
                r#""replica.fetch.backoff.ms" = -1"#,
                "replica.fetch.backoff.ms",
                "non-negative",
            ),
            (
                "BROKER",
                r#""replica.high.watermark.checkpoint.interval.ms" = -5"#,
                "replica.high.watermark.checkpoint.interval.ms",
                "non-negative",
            ),
            (
                "BROKER",
                r#""log.flush.interval.messages" = 0"#,
                "log.flush.interval.messages",
                "atLeast(1)",
            ),
            (
                "BROKER",
                r#""log.flush.interval.ms" = -1"#,
                "log.flush.interval.ms",
                "non-negative",
            ),
            (
                "BROKER",
                r#""min.insync.replicas" = 0"#,
                "min.insync.replicas",
                "atLeast(1)",
            ),
            (
                "BROKER",
                r#""offsets.topic.num.partitions" = 0"#,
                "offsets.topic.num.partitions",
                "atLeast(1)",
            ),
            (
                "BROKER",
                r#""offsets.topic.replication.factor" = 0"#,
                "offsets.topic.replication.factor",
                "atLeast(1)",
            ),
            (
                "BROKER",
                r#""offsets.commit.timeout.ms" = 0"#,
                "offsets.commit.timeout.ms",
                "atLeast(1)",
            ),
            (
                "BROKER",
                r#""group.initial.rebalance.delay.ms" = -1"#,
                "group.initial.rebalance.delay.ms",
                "non-negative",
            ),
            (
                "TOPIC",
                r#""flush.messages" = 0"#,
                "flush.messages",
                "atLeast(1)",
            ),
            ("TOPIC", r#""flush.ms" = -1"#, "flush.ms", "non-negative"),
            (
                "TOPIC",
                r#""min.insync.replicas" = 0"#,
                "min.insync.replicas",
                "atLeast(1)",
            ),
            (
                "PRODUCER",
                r#""request.timeout.ms" = 0"#,
                "request.timeout.ms",
                "every request of the producer",
            ),
            (
                "PRODUCER",
                r#""request.timeout.ms" = 3"#,
                "request.timeout.ms",
                "round trip",
            ),
            (
                "PRODUCER",
                r#""delivery.timeout.ms" = 0"#,
                "delivery.timeout.ms",
                "linger.ms + request.timeout.ms",
            ),
            (
                "PRODUCER",
                r#""max.in.flight.requests.per.connection" = 0"#,
                "max.in.flight.requests.per.connection",
                "atLeast(1)",
            ),
            (
                "PRODUCER",
                r#""retry.backoff.ms" = -100"#,
                "retry.backoff.ms",
                "non-negative",
            ),
            (
                "PRODUCER",
                r#""linger.ms" = -1"#,
                "linger.ms",
                "non-negative",
            ),
            (
                "PRODUCER",
                r#""metadata.max.age.ms" = -1"#,
                "metadata.max.age.ms",
                "non-negative",
            ),
            (
                "CONSUMER",
                r#""request.timeout.ms" = 0"#,
                "request.timeout.ms",
                "every request of the consumer",
            ),
            (
                "CONSUMER",
                r#""max.poll.records" = 0"#,
                "max.poll.records",
                "atLeast(1)",
            ),
            (
                "CONSUMER",
                r#""max.poll.interval.ms" = 0"#,
                "max.poll.interval.ms",
                "atLeast(1)",
            ),
            (
                "CONSUMER",
                r#""heartbeat.interval.ms" = 45000"#,
                "heartbeat.interval.ms",
                "lower than session.timeout.ms",
            ),
            (
                "CONSUMER",
                r#""session.timeout.ms" = 0"#,
                "session.timeout.ms",
                "lower than session.timeout.ms",
            ),
            (
                "CONSUMER",
                r#""fetch.max.wait.ms" = -1"#,
                "fetch.max.wait.ms",
                "non-negative",
            ),
            (
                "CONSUMER",
                r#""auto.commit.interval.ms" = -1"#,
                "auto.commit.interval.ms",
                "non-negative",
            ),
            (
                "CONSUMER",
                r#""retry.backoff.ms" = -1"#,
                "retry.backoff.ms",
                "non-negative",
            ),
            (
                "NETWORK",
                "[network]\nlatency = \"-1ms\"",
                "latency",
                "not a latency",
            ),
            (
                "TAIL",
                "[nemesis]\ninterval = \"0s\"",
                "interval",
                "above 0",
            ),
            (
                "TAIL",
                "[nemesis]\nduration = \"0ms..0ms\"",
                "duration",
                "above 0",
            ),
        ];
        for (slot, entry, key, message) in cases {
            let text = timers_with(slot, entry);
            let e = Scenario::parse("timers.toml", &text)
                .expect_err(&format!("{slot} {entry} must be refused"));
            assert_eq!(e.file, "timers.toml");
            assert_eq!(e.key.as_deref(), Some(*key), "{entry}: {e}");
            assert!(e.message.contains(message), "{entry}: {e}");
            let line = text.lines().nth(e.line - 1).unwrap_or_default();
            assert!(
                line.contains(key) || line.starts_with('['),
                "{entry}: line {}: {line}",
                e.line
            );
        }
        // Durations and rates of the scenario itself.
        for (from, to, key) in [
            ("rate = 10", "rate = 0", "rate"),
            (
                "processing = \"1ms\"",
                "processing = \"-1ms\"",
                "processing",
            ),
            ("duration = \"20s\"", "duration = \"0s\"", "duration"),
            ("members = 2", "members = 0", "members"),
        ] {
            let e = Scenario::parse("timers.toml", &timers_with("", "").replace(from, to))
                .expect_err(to);
            assert_eq!(e.key.as_deref(), Some(key), "{to}: {e}");
        }
        // The round trip follows the network: 6 ms passes a 2 ms network.
        let fast = timers_with("NETWORK", "[network]\nlatency = \"1ms..2ms\"").replace(
            "\"acks\" = \"all\"",
            "\"acks\" = \"all\", \"request.timeout.ms\" = 6",
        );
        Scenario::parse("timers.toml", &fast).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Zeros Kafka takes (no validator, or atLeast(0)) parse; the model gives each timer a
    /// positive period or none (see `kafka_sim`'s timer tests for the runs).
    #[test]
    fn timer_values_kafka_takes_parse() {
        for (slot, entry) in [
            (
                "BROKER",
                "\"replica.lag.time.max.ms\" = 0\n\"replica.fetch.wait.max.ms\" = 0",
            ),
            (
                "BROKER",
                "\"replica.high.watermark.checkpoint.interval.ms\" = 0",
            ),
            ("BROKER", "\"replica.fetch.backoff.ms\" = 0"),
            ("BROKER", "\"log.flush.interval.ms\" = 0"),
            ("BROKER", "\"group.initial.rebalance.delay.ms\" = 0"),
            ("PRODUCER", "\"retry.backoff.ms\" = 0"),
            ("PRODUCER", "\"metadata.max.age.ms\" = 0"),
            ("CONSUMER", "\"retry.backoff.ms\" = 0"),
            ("CONSUMER", "\"heartbeat.interval.ms\" = 0"),
            ("CONSUMER", "\"max.poll.interval.ms\" = 1"),
            ("CONSUMER", "\"auto.commit.interval.ms\" = 0"),
        ] {
            Scenario::parse("timers.toml", &timers_with(slot, entry))
                .unwrap_or_else(|e| panic!("{entry}: {e}"));
        }
    }

    #[test]
    fn fault_errors() {
        let e = parse(&EXAMPLE.replace("target = 1\ndelay", "target = 7\ndelay")).unwrap_err();
        assert!(e.message.contains("broker 7 does not exist"), "{e}");
        let e = parse(&EXAMPLE.replace("action = \"crash\"", "action = \"crahs\"")).unwrap_err();
        assert!(e.message.contains("did you mean `crash`"), "{e}");
        let e = parse(&EXAMPLE.replace("\"leader:orders-0\"", "\"leader:orders-3\"")).unwrap_err();
        assert!(e.message.contains("partitions 0 to 0"), "{e}");
        let e = parse(&EXAMPLE.replace("delay = \"30s\"", "delay = 30")).unwrap_err();
        assert!(e.message.contains("needs a unit"), "{e}");
        let e = parse(&EXAMPLE.replace(
            "at = \"12s\"\naction = \"crash\"",
            "at = \"12s\"\naction = \"crash\"\nrate = 0.5",
        ))
        .unwrap_err();
        assert!(e.message.contains("only for action = \"loss\""), "{e}");
        let e = parse(&EXAMPLE.replace("at = \"14s\"", "at = \"99s\"")).unwrap_err();
        assert!(e.message.contains("after the run's duration"), "{e}");
    }

    #[test]
    fn topic_errors() {
        let e = parse(&EXAMPLE.replace("name = \"orders\"", "name = \"or ders\"")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("name"));
        let e = parse(&EXAMPLE.replace("replicas = [[0, 1, 2]]", "replicas = [[0, 1, 1]]"))
            .unwrap_err();
        assert!(e.message.contains("appears twice"), "{e}");
        let e = parse(&EXAMPLE.replace("topic = \"orders\"", "topic = \"order\"")).unwrap_err();
        assert!(e.message.contains("no [[topics]] named `order`"), "{e}");
    }

    #[test]
    fn durations_and_comparisons() {
        assert_eq!(parse_duration_us("1.5s"), Some(1_500_000));
        assert_eq!(parse_duration_us("500ms"), Some(500_000));
        assert_eq!(parse_duration_us("2m"), Some(120_000_000));
        assert_eq!(parse_duration_us("100us"), Some(100));
        assert_eq!(parse_duration_us("10"), None);
        assert_eq!(parse_duration_us("-1s"), None);
        let c = Comparison::parse(">=1").unwrap();
        assert!(c.holds(1) && !c.holds(0));
        assert_eq!(c.to_string(), ">=1");
        assert_eq!(Comparison::parse("0").unwrap().to_string(), "0");
        assert!(Comparison::parse("<5").unwrap().holds(4));
        assert!(Comparison::parse("x").is_none());
    }

    #[test]
    fn expect_check_reports_each_miss() {
        let s = parse(EXAMPLE).unwrap();
        let mut counters = BTreeMap::new();
        counters.insert("acked_lost".to_string(), 0);
        counters.insert("unclean_elections".to_string(), 2);
        let broken: BTreeSet<String> = ["acked-record-lost".to_string()].into();
        let failures = s.expect.check(&counters, &broken);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert_eq!(failures[0], "expected acked_lost >0, got 0");
        assert!(failures[1]
            .starts_with("expected violations [acked-record-lost, committed-record-lost]"));
    }

    #[test]
    fn mangled_input_never_panics() {
        for cut in (0..EXAMPLE.len()).step_by(37) {
            let _ = parse(&EXAMPLE[..cut]);
        }
        for (from, to) in [
            ("=", ""),
            ("[", "{"),
            ("\"", ""),
            ("3", "-3"),
            ("1", "99999999999999999999"),
        ] {
            let _ = parse(&EXAMPLE.replacen(from, to, 3));
        }
    }
}
