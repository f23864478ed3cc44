//! `kafka-sim import`: a scenario skeleton from what a real cluster's tools print.
//!
//! It reads `kafka-topics.sh --describe` (Kafka 3.x: a `Topic: T  TopicId: ...
//! PartitionCount: N  ReplicationFactor: R  Configs: k=v,...` line per topic, then a
//! `Topic: T  Partition: P  Leader: L  Replicas: a,b,c  Isr: a,b` line per partition; the
//! older form without `TopicId`, the `Elr:`/`LastKnownElr:` fields of 3.7, `Offline:`,
//! `Adding Replicas:`/`Removing Replicas:` and `MarkedForDeletion:` are taken too) and,
//! optionally, `kafka-configs.sh --describe --all --entity-type brokers` (`All configs for
//! broker N are:` then `  key=value sensitive=... synonyms={...}` lines). It writes a
//! scenario with the cluster's broker ids, the broker and topic configs the simulator
//! models, and each topic's partitions and replica assignment; every config it does not
//! model yet is written as a comment saying so. No workload and no faults: commented
//! examples of both, which load as they are once uncommented.
//!
//! Input that cannot be a describe output (a partition before its topic, a partition count
//! that disagrees with the partition lines, a number that is not one) is an error naming the
//! file and the line.

use crate::scenario::{Scenario, MAX_BROKERS, MAX_PARTITIONS};
use kafka_model::config::{self, BrokerConfig, ConfigValue, TopicConfig};
use kafka_model::topic::INTERNAL_TOPICS;
use kafka_model::BrokerId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fmt::Write as _;

/// An input line that cannot be read, with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    pub file: String,
    /// 1-based; 0 when the error is about the file as a whole.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for ImportError {}

type Result<T> = std::result::Result<T, ImportError>;

/// One input file: its name (for errors) and its text.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Input<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> ImportError {
        ImportError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }
}

/// A config as `kafka-topics.sh` or `kafka-configs.sh` printed it, with its line.
#[derive(Clone, Debug, PartialEq)]
struct RawConfig {
    key: String,
    value: String,
    line: usize,
}

#[derive(Clone, Debug, PartialEq)]
struct PartitionLine {
    partition: u32,
    leader: Option<BrokerId>,
    replicas: Vec<BrokerId>,
    isr: Vec<BrokerId>,
    line: usize,
}

#[derive(Clone, Debug, PartialEq)]
struct TopicDescription {
    name: String,
    partition_count: u32,
    replication_factor: u32,
    configs: Vec<RawConfig>,
    partitions: Vec<PartitionLine>,
    line: usize,
}

/// The fields `kafka-topics.sh --describe` prints, longest first where one name ends
/// another (`Replicas` inside `Adding Replicas`).
const FIELDS: &[&str] = &[
    "Adding Replicas",
    "Removing Replicas",
    "MarkedForDeletion",
    "ReplicationFactor",
    "PartitionCount",
    "LastKnownElr",
    "Partition",
    "Replicas",
    "TopicId",
    "Configs",
    "Offline",
    "Leader",
    "Topic",
    "Isr",
    "Elr",
];

/// Splits a describe line into `(field, value)` pairs. Fields are separated by tabs in the
/// tool's output, but a copy from a terminal may have turned them into spaces, so a field
/// starts wherever a known name followed by `:` starts a word.
fn fields(line: &str) -> Vec<(&'static str, String)> {
    let mut starts: Vec<(usize, usize, &'static str)> = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < line.len() {
        let at_word = i == 0 || bytes[i - 1].is_ascii_whitespace();
        let found = at_word
            .then(|| {
                FIELDS
                    .iter()
                    .find(|f| line[i..].starts_with(*f) && line[i + f.len()..].starts_with(':'))
            })
            .flatten();
        match found {
            Some(f) => {
                starts.push((i, i + f.len() + 1, f));
                i += f.len() + 1;
            }
            None => i += line[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    let mut out = Vec::new();
    for (n, (_, value_start, name)) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(line.len(), |(s, _, _)| *s);
        out.push((*name, line[*value_start..end].trim().to_string()));
    }
    out
}

fn number<T: std::str::FromStr>(input: &Input, line: usize, field: &str, text: &str) -> Result<T> {
    text.parse().map_err(|_| {
        input.err(
            line,
            format!("{field}: `{text}` is not a whole number of the expected size"),
        )
    })
}

fn broker_id(input: &Input, line: usize, field: &str, text: &str) -> Result<BrokerId> {
    let id: BrokerId = number(input, line, field, text)?;
    if id < 0 {
        return Err(input.err(line, format!("{field}: broker id {id} is negative")));
    }
    Ok(id)
}

/// A list of broker ids as the tool prints it: `1,2,3`, or nothing.
fn broker_list(input: &Input, line: usize, field: &str, text: &str) -> Result<Vec<BrokerId>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| broker_id(input, line, field, s))
        .collect()
}

/// `Configs: a=1,b=2`. A value may itself hold commas (`leader.replication.throttled.replicas
/// = 0:1,1:2`): a piece without `=` belongs to the value before it.
fn topic_configs(input: &Input, line: usize, text: &str) -> Result<Vec<RawConfig>> {
    let mut configs: Vec<RawConfig> = Vec::new();
    for piece in text.split(',').filter(|p| !p.trim().is_empty()) {
        match piece.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !k.contains(' ') => configs.push(RawConfig {
                key: k.trim().to_string(),
                value: v.trim().to_string(),
                line,
            }),
            _ => match configs.last_mut() {
                Some(last) => {
                    last.value.push(',');
                    last.value.push_str(piece.trim());
                }
                None => return Err(input.err(line, format!("Configs: `{piece}` is not key=value"))),
            },
        }
    }
    Ok(configs)
}

/// Reads a `kafka-topics.sh --describe` output.
fn parse_describe(input: &Input) -> Result<Vec<TopicDescription>> {
    let mut topics: Vec<TopicDescription> = Vec::new();
    for (i, raw) in input.text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let f = fields(raw);
        let get = |name: &str| f.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        let Some(topic) = get("Topic") else {
            return Err(input.err(
                line,
                "not a line of `kafka-topics.sh --describe` (no `Topic:` field)",
            ));
        };
        if topic.is_empty() {
            return Err(input.err(line, "Topic: the topic name is missing"));
        }
        if let Some(p) = get("Partition") {
            let Some(current) = topics.last_mut() else {
                return Err(input.err(
                    line,
                    format!("a partition of `{topic}` before any topic line (`Topic: {topic}  PartitionCount: ...`)"),
                ));
            };
            if current.name != topic {
                return Err(input.err(
                    line,
                    format!(
                        "a partition of `{topic}` under the topic line of `{}` (line {}): its own topic line must come first",
                        current.name, current.line
                    ),
                ));
            }
            let partition: u32 = number(input, line, "Partition", p)?;
            let leader = match get("Leader") {
                None => return Err(input.err(line, "a partition line needs `Leader:`")),
                Some("none") | Some("-1") | Some("") => None,
                Some(l) => Some(broker_id(input, line, "Leader", l)?),
            };
            let replicas = broker_list(
                input,
                line,
                "Replicas",
                get("Replicas")
                    .ok_or_else(|| input.err(line, "a partition line needs `Replicas:`"))?,
            )?;
            if replicas.is_empty() {
                return Err(input.err(line, "Replicas: a partition needs at least one replica"));
            }
            let mut seen = BTreeSet::new();
            if let Some(d) = replicas.iter().find(|r| !seen.insert(**r)) {
                return Err(input.err(line, format!("Replicas: broker {d} appears twice")));
            }
            let isr = broker_list(input, line, "Isr", get("Isr").unwrap_or(""))?;
            // Fields the simulator has no use for still have to be readable.
            for name in [
                "Elr",
                "LastKnownElr",
                "Offline",
                "Adding Replicas",
                "Removing Replicas",
            ] {
                if let Some(v) = get(name) {
                    broker_list(input, line, name, v)?;
                }
            }
            if current.partitions.iter().any(|q| q.partition == partition) {
                return Err(input.err(
                    line,
                    format!("partition {partition} of `{topic}` is described twice"),
                ));
            }
            current.partitions.push(PartitionLine {
                partition,
                leader,
                replicas,
                isr,
                line,
            });
            continue;
        }
        if let Some(previous) = topics.last() {
            check_partition_count(input, previous)?;
        }
        let count = get("PartitionCount")
            .ok_or_else(|| input.err(line, "a topic line needs `PartitionCount:`"))?;
        let partition_count: u32 = number(input, line, "PartitionCount", count)?;
        let rf = get("ReplicationFactor")
            .ok_or_else(|| input.err(line, "a topic line needs `ReplicationFactor:`"))?;
        let replication_factor: u32 = number(input, line, "ReplicationFactor", rf)?;
        if topics.iter().any(|t| t.name == topic) {
            return Err(input.err(line, format!("topic `{topic}` is described twice")));
        }
        topics.push(TopicDescription {
            name: topic.to_string(),
            partition_count,
            replication_factor,
            configs: topic_configs(input, line, get("Configs").unwrap_or(""))?,
            partitions: Vec::new(),
            line,
        });
    }
    if let Some(last) = topics.last() {
        check_partition_count(input, last)?;
    }
    Ok(topics)
}

/// The partition lines under a topic line must be its partitions 0 to PartitionCount-1, each
/// with ReplicationFactor replicas.
fn check_partition_count(input: &Input, t: &TopicDescription) -> Result<()> {
    if t.partitions.len() != t.partition_count as usize {
        return Err(input.err(
            t.line,
            format!(
                "topic `{}` has PartitionCount: {} but {} partition line(s) follow",
                t.name,
                t.partition_count,
                t.partitions.len()
            ),
        ));
    }
    for p in &t.partitions {
        if p.partition >= t.partition_count {
            return Err(input.err(
                p.line,
                format!(
                    "partition {} of `{}`, whose PartitionCount is {}",
                    p.partition, t.name, t.partition_count
                ),
            ));
        }
        if p.replicas.len() != t.replication_factor as usize {
            return Err(input.err(
                p.line,
                format!(
                    "{} replicas, but topic `{}` has ReplicationFactor: {} (a reassignment in \
                     progress? describe the topic again once it is done)",
                    p.replicas.len(),
                    t.name,
                    t.replication_factor
                ),
            ));
        }
    }
    Ok(())
}

/// Reads `kafka-configs.sh --describe --all --entity-type brokers`: broker id to its configs.
fn parse_broker_configs(input: &Input) -> Result<BTreeMap<BrokerId, Vec<RawConfig>>> {
    enum Section {
        Start,
        Broker(BrokerId),
        /// The cluster-wide dynamic defaults (`--entity-default`): each broker's own list
        /// shows them again.
        Defaults,
    }
    let mut brokers: BTreeMap<BrokerId, Vec<RawConfig>> = BTreeMap::new();
    let mut section = Section::Start;
    for (i, raw) in input.text.lines().enumerate() {
        let line = i + 1;
        let text = raw.trim();
        if text.is_empty() {
            continue;
        }
        if text.starts_with("Default configs for brokers")
            || text.starts_with("All configs for brokers")
        {
            section = Section::Defaults;
            continue;
        }
        if let Some(rest) = ["All", "Dynamic", "Static"]
            .iter()
            .find_map(|w| text.strip_prefix(&format!("{w} configs for broker ")))
        {
            let id = rest
                .strip_suffix(" are:")
                .ok_or_else(|| input.err(line, "expected `All configs for broker N are:`"))?;
            let id = broker_id(input, line, "broker", id.trim())?;
            brokers.entry(id).or_default();
            section = Section::Broker(id);
            continue;
        }
        let Some((key, value)) = text.split_once('=') else {
            return Err(input.err(
                line,
                "expected `All configs for broker N are:` or `key=value sensitive=... synonyms={...}`",
            ));
        };
        let value = value
            .split_once(" sensitive=")
            .map_or(value, |(v, _)| v)
            .trim();
        match section {
            Section::Start => {
                return Err(input.err(
                    line,
                    "a config before any `All configs for broker N are:` line",
                ))
            }
            Section::Defaults => {}
            Section::Broker(id) => brokers.entry(id).or_default().push(RawConfig {
                key: key.trim().to_string(),
                value: value.to_string(),
                line,
            }),
        }
    }
    Ok(brokers)
}

/// A printed config value as a scenario value: a whole number, true/false, or a string.
fn typed(value: &str) -> ConfigValue {
    if let Ok(i) = value.parse::<i64>() {
        ConfigValue::Int(i)
    } else if value == "true" || value == "false" {
        ConfigValue::Bool(value == "true")
    } else {
        ConfigValue::Str(value.to_string())
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_value(v: &ConfigValue) -> String {
    match v {
        ConfigValue::Int(i) => i.to_string(),
        ConfigValue::Bool(b) => b.to_string(),
        ConfigValue::Float(f) => f.to_string(),
        ConfigValue::Str(s) => quote(s),
    }
}

/// A line for a comment: no line breaks (input lines have none; this keeps it so).
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Broker configs that name topic configs (`log.flush.interval.messages` for
/// `flush.messages`) are modelled when the topic config is.
fn broker_key_modelled(key: &str) -> bool {
    config::is_declared(BrokerConfig::DECLARED, key)
}

/// The scenario text for a describe output and, optionally, the brokers' configs. `name` is
/// the scenario's name (the output file's stem).
pub fn import(name: &str, describe: Input, configs: Option<Input>) -> Result<String> {
    let topics = parse_describe(&describe)?;
    let broker_configs = match &configs {
        Some(c) => parse_broker_configs(c)?,
        None => BTreeMap::new(),
    };

    // The cluster: every broker id either file mentions.
    let mut ids: BTreeSet<BrokerId> = broker_configs.keys().copied().collect();
    for t in &topics {
        for p in &t.partitions {
            ids.extend(p.replicas.iter().copied());
            ids.extend(p.isr.iter().copied());
            ids.extend(p.leader);
        }
    }
    if ids.is_empty() {
        return Err(describe.err(
            0,
            "no broker ids found: is this `kafka-topics.sh --describe` output?",
        ));
    }
    if ids.len() > MAX_BROKERS as usize {
        return Err(describe.err(
            0,
            format!(
                "{} brokers; the simulator runs at most {MAX_BROKERS}",
                ids.len()
            ),
        ));
    }

    // Broker configs: the modelled ones go to [cluster.config] (from the lowest id that
    // sets each; a disagreement is noted), the rest to comments.
    let configs_input = configs.unwrap_or(Input { file: "", text: "" });
    let mut modelled: BTreeMap<String, (ConfigValue, BrokerId)> = BTreeMap::new();
    let mut disagreements: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Unset (`null`) modelled configs: the simulator's default stands.
    let mut unset: BTreeSet<String> = BTreeSet::new();
    // Not modelled: key -> value -> the brokers that have it.
    let mut unmodelled: BTreeMap<String, BTreeMap<String, Vec<BrokerId>>> = BTreeMap::new();
    let mut broker_config = BrokerConfig::default();
    for (id, list) in &broker_configs {
        for c in list {
            if !broker_key_modelled(&c.key) {
                unmodelled
                    .entry(c.key.clone())
                    .or_default()
                    .entry(c.value.clone())
                    .or_default()
                    .push(*id);
                continue;
            }
            if c.value == "null" {
                unset.insert(c.key.clone());
                continue;
            }
            let value = typed(&c.value);
            match modelled.get(&c.key) {
                Some((first, from)) if first != &value => {
                    disagreements
                        .entry(c.key.clone())
                        .or_default()
                        .push(format!(
                            "broker {from} has {}, broker {id} has {}",
                            comment_text(&first.to_string()),
                            comment_text(&c.value)
                        ));
                }
                Some(_) => {}
                None => {
                    broker_config
                        .apply(&c.key, &value)
                        .map_err(|e| configs_input.err(c.line, format!("{e} (broker {id})")))?;
                    modelled.insert(c.key.clone(), (value, *id));
                }
            }
        }
    }
    // The offsets topic, when the describe shows it and the broker configs do not say.
    let mut derived: Vec<(String, ConfigValue, String)> = Vec::new();
    if let Some(t) = topics.iter().find(|t| t.name == "__consumer_offsets") {
        for (key, v) in [
            ("offsets.topic.num.partitions", t.partition_count),
            ("offsets.topic.replication.factor", t.replication_factor),
        ] {
            if !modelled.contains_key(key) {
                let value = ConfigValue::Int(v as i64);
                broker_config
                    .apply(key, &value)
                    .map_err(|e| describe.err(t.line, e.to_string()))?;
                derived.push((
                    key.to_string(),
                    value,
                    format!("from __consumer_offsets (line {})", t.line),
                ));
            }
        }
    }

    let user_topics: Vec<&TopicDescription> = topics
        .iter()
        .filter(|t| !INTERNAL_TOPICS.contains(&t.name.as_str()))
        .collect();
    if user_topics.is_empty() {
        return Err(describe.err(
            0,
            "no topics to import (a scenario needs at least one besides the internal ones)",
        ));
    }

    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Imported by `kafka-sim import` from {}",
        comment_text(describe.file)
    );
    if !configs_input.file.is_empty() {
        let _ = writeln!(s, "# and {}", comment_text(configs_input.file));
    }
    let _ = writeln!(
        s,
        "# (kafka-topics.sh --describe{}).",
        if configs_input.file.is_empty() {
            ""
        } else {
            "; kafka-configs.sh --describe --all --entity-type brokers"
        }
    );
    s.push_str(
        "# The cluster as it was; add a workload and faults (commented examples at the end),\n",
    );
    s.push_str("# then `kafka-sim check` and `kafka-sim run` this file.\n");
    let _ = writeln!(s, "name = {}", quote(name));
    s.push_str("duration = \"60s\"\nsettle = \"30s\"\n\n[cluster]\n");
    let _ = writeln!(
        s,
        "broker_ids = [{}]",
        ids.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    s.push_str("\n[cluster.config]\n");
    for (key, (value, from)) in &modelled {
        let _ = writeln!(s, "{} = {}", quote(key), toml_value(value));
        if let Some(d) = disagreements.get(key) {
            let _ = writeln!(
                s,
                "# brokers disagree on {key} (the simulator gives every broker one config; this is broker {from}'s): {}",
                d.join("; ")
            );
        }
    }
    for (key, value, why) in &derived {
        let _ = writeln!(s, "{} = {}  # {why}", quote(key), toml_value(value));
    }
    for key in unset.iter().filter(|k| !modelled.contains_key(*k)) {
        let _ = writeln!(
            s,
            "# {} is unset (null): the simulator's default",
            quote(key)
        );
    }
    if !unmodelled.is_empty() {
        s.push_str("# Broker configs the simulator does not model yet:\n");
        for (key, values) in &unmodelled {
            for (value, brokers) in values {
                let _ = writeln!(
                    s,
                    "#   {} = {}  (broker{} {})",
                    comment_text(key),
                    comment_text(value),
                    if brokers.len() > 1 { "s" } else { "" },
                    brokers
                        .iter()
                        .map(|b| b.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }

    for t in &topics {
        if INTERNAL_TOPICS.contains(&t.name.as_str()) {
            let _ = writeln!(
                s,
                "\n# {} ({} partitions, replication factor {}): internal, created by the brokers \
                 when first needed; not imported as a topic.",
                t.name, t.partition_count, t.replication_factor
            );
            continue;
        }
        if let Err(e) = kafka_model::topic::validate_topic_name(&t.name) {
            return Err(describe.err(t.line, e));
        }
        if t.partition_count == 0 || t.partition_count > MAX_PARTITIONS {
            return Err(describe.err(
                t.line,
                format!(
                    "PartitionCount: {}; the simulator takes 1 to {MAX_PARTITIONS}",
                    t.partition_count
                ),
            ));
        }
        let mut topic_config = broker_config.topic_defaults.clone();
        let mut modelled_topic = Vec::new();
        let mut unmodelled_topic = Vec::new();
        for c in &t.configs {
            if config::is_declared(TopicConfig::DECLARED, &c.key) {
                let value = typed(&c.value);
                topic_config
                    .apply(&c.key, &value)
                    .map_err(|e| describe.err(c.line, e.to_string()))?;
                modelled_topic.push(format!("{} = {}", quote(&c.key), toml_value(&value)));
            } else {
                unmodelled_topic.push(format!(
                    "#   {} = {}",
                    comment_text(&c.key),
                    comment_text(&c.value)
                ));
            }
        }
        let mut partitions: Vec<&PartitionLine> = t.partitions.iter().collect();
        partitions.sort_by_key(|p| p.partition);
        s.push_str("\n[[topics]]\n");
        let _ = writeln!(s, "name = {}", quote(&t.name));
        let _ = writeln!(s, "partitions = {}", t.partition_count);
        let _ = writeln!(s, "replication_factor = {}", t.replication_factor);
        let replicas = partitions
            .iter()
            .map(|p| {
                format!(
                    "[{}]",
                    p.replicas
                        .iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(s, "replicas = [{replicas}]");
        if !modelled_topic.is_empty() {
            let _ = writeln!(s, "config = {{ {} }}", modelled_topic.join(", "));
        }
        if !unmodelled_topic.is_empty() {
            s.push_str("# Topic configs the simulator does not model yet:\n");
            for line in &unmodelled_topic {
                s.push_str(line);
                s.push('\n');
            }
        }
        s.push_str("# When described:\n");
        for p in &partitions {
            let _ = writeln!(
                s,
                "#   {}-{}: leader {}, ISR [{}]",
                t.name,
                p.partition,
                p.leader.map_or("none".to_string(), |l| l.to_string()),
                p.isr
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }

    let first = user_topics[0];
    let _ = write!(
        s,
        "\n# A workload and a fault, ready to uncomment:\n\
         #\n\
         # [[producers]]\n\
         # name = \"app\"\n\
         # topic = {topic}\n\
         # records = 1000\n\
         # rate = 100\n\
         # config = {{ \"acks\" = \"all\" }}\n\
         #\n\
         # [[consumers]]\n\
         # name = \"readers\"\n\
         # group = \"readers\"\n\
         # members = 2\n\
         # topics = [{topic}]\n\
         #\n\
         # [[faults]]\n\
         # at = \"20s\"\n\
         # action = \"crash\"\n\
         # target = \"leader:{name}-0\"\n\
         #\n\
         # [[faults]]\n\
         # at = \"40s\"\n\
         # action = \"restart\"\n\
         # target = {broker}\n",
        topic = quote(&first.name),
        name = first.name,
        broker = first
            .partitions
            .iter()
            .find(|p| p.partition == 0)
            .map_or(ids.iter().next().copied().unwrap_or(0), |p| p.replicas[0]),
    );

    // What is written must load.
    Scenario::parse(name, &s)
        .map_err(|e| describe.err(0, format!("the imported scenario does not load: {e}")))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESCRIBE_3X: &str = "Topic: orders\tTopicId: 4dS8nGmCSfKZ4sDvNj1zcQ\tPartitionCount: 3\tReplicationFactor: 3\tConfigs: min.insync.replicas=2,retention.ms=604800000,segment.bytes=1073741824\n\
\tTopic: orders\tPartition: 0\tLeader: 101\tReplicas: 101,102,103\tIsr: 101,102,103\n\
\tTopic: orders\tPartition: 1\tLeader: 102\tReplicas: 102,103,101\tIsr: 102,103\n\
\tTopic: orders\tPartition: 2\tLeader: 103\tReplicas: 103,101,102\tIsr: 103,101,102\n\
Topic: audit\tTopicId: x7GkT0XGQeyvQnRrP8w1Lg\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: flush.messages=1,unclean.leader.election.enable=false,cleanup.policy=compact,leader.replication.throttled.replicas=0:101,0:102\n\
\tTopic: audit\tPartition: 0\tLeader: none\tReplicas: 102,101\tIsr: \n\
Topic: __consumer_offsets\tTopicId: a\tPartitionCount: 2\tReplicationFactor: 3\tConfigs: compression.type=producer,cleanup.policy=compact\n\
\tTopic: __consumer_offsets\tPartition: 0\tLeader: 101\tReplicas: 101,102,103\tIsr: 101,102,103\n\
\tTopic: __consumer_offsets\tPartition: 1\tLeader: 102\tReplicas: 102,103,101\tIsr: 102,103,101\n";

    const CONFIGS: &str = "All configs for broker 101 are:\n\
  advertised.listeners=null sensitive=false synonyms={}\n\
  zookeeper.session.timeout.ms=18000 sensitive=false synonyms={STATIC_BROKER_CONFIG:zookeeper.session.timeout.ms=18000, DEFAULT_CONFIG:zookeeper.session.timeout.ms=18000}\n\
  unclean.leader.election.enable=false sensitive=false synonyms={DEFAULT_CONFIG:unclean.leader.election.enable=false}\n\
  log.retention.hours=168 sensitive=false synonyms={DEFAULT_CONFIG:log.retention.hours=168}\n\
  replica.lag.time.max.ms=30000 sensitive=false synonyms={DEFAULT_CONFIG:replica.lag.time.max.ms=30000}\n\
  inter.broker.protocol.version=3.7-IV4 sensitive=false synonyms={DEFAULT_CONFIG:inter.broker.protocol.version=3.7-IV4}\n\
  ssl.key.password=null sensitive=true synonyms={}\n\
All configs for broker 102 are:\n\
  zookeeper.session.timeout.ms=18000 sensitive=false synonyms={}\n\
  replica.lag.time.max.ms=10000 sensitive=false synonyms={}\n\
  num.network.threads=3 sensitive=false synonyms={}\n";

    fn run(describe: &str, configs: Option<&str>) -> Result<String> {
        import(
            "imported",
            Input {
                file: "describe.txt",
                text: describe,
            },
            configs.map(|text| Input {
                file: "configs.txt",
                text,
            }),
        )
    }

    #[test]
    fn a_kafka_3_describe_becomes_a_scenario() {
        let text = run(DESCRIBE_3X, Some(CONFIGS)).unwrap_or_else(|e| panic!("{e}"));
        let s = Scenario::parse("imported.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(s.cluster.broker_ids(), &[101, 102, 103]);
        assert_eq!(s.topics.len(), 2);
        assert_eq!(s.topics[0].name, "orders");
        assert_eq!(
            s.topics[0].replicas,
            vec![
                vec![101, 102, 103],
                vec![102, 103, 101],
                vec![103, 101, 102]
            ]
        );
        assert_eq!(s.topics[0].config.min_insync_replicas, 2);
        assert_eq!(s.topics[1].replicas, vec![vec![102, 101]]);
        assert_eq!(s.topics[1].config.flush_messages, 1);
        assert_eq!(s.cluster.config.zookeeper_session_timeout_ms, 18_000);
        assert_eq!(s.cluster.config.offsets_topic_num_partitions, 2);
        assert_eq!(s.cluster.config.offsets_topic_replication_factor, 3);
        // Nothing the simulator does not model is dropped.
        for kept in [
            "#   retention.ms = 604800000",
            "#   segment.bytes = 1073741824",
            "#   cleanup.policy = compact",
            "#   leader.replication.throttled.replicas = 0:101,0:102",
            "#   log.retention.hours = 168  (broker 101)",
            "#   num.network.threads = 3  (broker 102)",
            "#   advertised.listeners = null  (broker 101)",
            "# brokers disagree on replica.lag.time.max.ms",
            "# __consumer_offsets (2 partitions, replication factor 3)",
            "#   audit-0: leader none, ISR []",
        ] {
            assert!(text.contains(kept), "{kept}\n{text}");
        }
        assert!(
            text.contains("#   ssl.key.password = null  (broker 101)"),
            "{text}"
        );
        assert!(s.producers.is_empty() && s.faults.is_empty());
    }

    #[test]
    fn the_commented_workload_and_faults_load_once_uncommented() {
        let text = run(DESCRIBE_3X, None).unwrap();
        let start = text.find("# A workload and a fault").unwrap();
        let (head, tail) = text.split_at(start);
        let uncommented: String = tail
            .lines()
            .skip(1)
            .map(|l| {
                l.strip_prefix("# ")
                    .or_else(|| l.strip_prefix('#'))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let s = Scenario::parse("u.toml", &format!("{head}{uncommented}\n"))
            .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert_eq!(s.producers.len(), 1);
        assert_eq!(s.consumers.len(), 2);
        assert_eq!(s.faults.len(), 2);
    }

    #[test]
    fn older_formats_and_extra_fields_are_read() {
        // Kafka 2.x: no TopicId; 1.x: no space after the colons; 3.7: Elr fields; spaces
        // instead of tabs, as a terminal copy gives them.
        let describe = "Topic:t1\tPartitionCount:2\tReplicationFactor:2\tConfigs:\n\
\tTopic: t1\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2\tOffline: \n\
\tTopic: t1\tPartition: 1\tLeader: -1\tReplicas: 2,1\tIsr: 2\tOffline: 1\n\
Topic: t2\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n\
\tTopic: t2\tPartition: 0\tLeader: 3\tReplicas: 3\tIsr: 3\tElr: \tLastKnownElr: \n\
Topic: t3  TopicId: abc  PartitionCount: 1  ReplicationFactor: 2  Configs: min.insync.replicas=1\n\
    Topic: t3  Partition: 0  Leader: 2  Replicas: 2,3  Isr: 2,3  Elr: 3  LastKnownElr: 4  Adding Replicas:   Removing Replicas: \n";
        let text = run(describe, None).unwrap_or_else(|e| panic!("{e}"));
        let s = Scenario::parse("x.toml", &text).unwrap();
        assert_eq!(s.cluster.broker_ids(), &[1, 2, 3]);
        assert_eq!(s.topics[0].replicas, vec![vec![1, 2], vec![2, 1]]);
        assert_eq!(s.topics[2].replicas, vec![vec![2, 3]]);
        assert!(text.contains("#   t1-1: leader none, ISR [2]"), "{text}");
    }

    #[test]
    fn bad_input_names_file_and_line() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n",
                1,
                "before any topic line",
            ),
            (
                "Topic: t\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: \n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n",
                1,
                "PartitionCount: 2 but 1 partition line(s)",
            ),
            (
                "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n\tTopic: t\tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1\nTopic: u\tPartitionCount: 1\tReplicationFactor: 1\n",
                1,
                "PartitionCount: 1 but 2",
            ),
            (
                "Topic: t\tPartitionCount: three\tReplicationFactor: 1\tConfigs: \n",
                1,
                "PartitionCount: `three`",
            ),
            (
                "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1,x\tIsr: 1\n",
                2,
                "Replicas: `x`",
            ),
            (
                "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: -4\tIsr: 1\n",
                2,
                "negative",
            ),
            (
                "Topic: t\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: \n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n",
                2,
                "ReplicationFactor: 2",
            ),
            (
                "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n\tTopic: u\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n",
                2,
                "under the topic line of `t`",
            ),
            (
                "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: min.insync.replicas=0\n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n",
                1,
                "min.insync.replicas",
            ),
            ("hello world\n", 1, "not a line of"),
            ("", 0, "no broker ids"),
        ];
        for (text, line, message) in cases {
            let e = run(text, None).expect_err(text);
            assert_eq!(e.file, "describe.txt");
            assert_eq!(e.line, *line, "{text}: {e}");
            assert!(e.message.contains(message), "{text}: {e}");
        }
        let e = run(DESCRIBE_3X, Some("  a=b sensitive=false\n")).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("configs.txt", 1), "{e}");
        let e = run(
            DESCRIBE_3X,
            Some("All configs for broker 101 are:\n  zookeeper.session.timeout.ms=abc sensitive=false synonyms={}\n"),
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("configs.txt", 2), "{e}");
        let e = run(DESCRIBE_3X, Some("All configs for broker x are:\n")).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("configs.txt", 1), "{e}");
    }

    #[test]
    fn mangled_input_never_panics() {
        for cut in (0..DESCRIBE_3X.len()).step_by(7) {
            if DESCRIBE_3X.is_char_boundary(cut) {
                let _ = run(
                    &DESCRIBE_3X[..cut],
                    Some(&CONFIGS[..cut.min(CONFIGS.len())]),
                );
            }
        }
        for (from, to) in [
            ("\t", " "),
            (":", ""),
            (",", ",,"),
            ("1", "-1"),
            ("0", "99999999999"),
            ("Topic", "Partition"),
            ("=", ""),
            ("orders", "ör ders"),
        ] {
            let _ = run(
                &DESCRIBE_3X.replace(from, to),
                Some(&CONFIGS.replace(from, to)),
            );
        }
    }

    #[test]
    fn fields_split_on_names_not_on_tabs() {
        assert_eq!(
            fields("\tTopic: a b\tPartition: 0\tAdding Replicas: 1\tReplicas: 2"),
            vec![
                ("Topic", "a b".to_string()),
                ("Partition", "0".to_string()),
                ("Adding Replicas", "1".to_string()),
                ("Replicas", "2".to_string()),
            ]
        );
    }
}
