//! What if I had set X? The same scenario run twice, as written and with some settings
//! changed, and the two outcomes side by side (`kafka-sim what-if`).
//!
//! A what-if only teaches something if the two runs differ by the change and nothing else.
//! Three things make that so:
//! - the same seed for both runs;
//! - the same faults: a nemesis schedule is drawn once, from the scenario as written, and both
//!   runs replay it as fixed faults (a change such as `duration` would otherwise draw another
//!   schedule, and `nemesis.*` keys are refused: they change nothing once the schedule is
//!   fixed);
//! - the network's draws are keyed by link and by the message's sequence number on that link
//!   (`world::net`), so a message one run sends and the other does not shifts no other link's
//!   latency. What can still differ after the change has had its first effect is the order
//!   madsim gives to two nodes woken at the very same nanosecond; until then the two event
//!   records are the same, event for event, which is why the first divergence is a moment the
//!   change caused.
//!
//! A key is a path in the scenario file, written as the file would be read:
//! `cluster.config.<kafka key>` (the rest is the Kafka key, dots and all), `cluster.<key>`,
//! `topic.<name>.<key>`, `producer.<name>.<key>`, `consumer.<name>.<key>` (a field of that
//! table, such as `partitions` or `records`, or else a key of its `config`), `network.<key>`,
//! or a top-level key such as `duration`. A name with dots is quoted as TOML quotes it:
//! `topic."orders.v1".min.insync.replicas`. The change is made to the file's TOML in place
//! (comments and layout kept) and the result is read by the same parser as any scenario, so a
//! key or a value the file could not hold is refused with the same message, nearest key
//! included.

use crate::check::INVARIANTS;
use crate::nemesis;
use crate::report::Outcome;
use crate::scenario::Scenario;
use crate::simulation::{self, Simulation};
use crate::world::RunResult;
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

/// One `--set KEY=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
}

impl Setting {
    /// Reads `KEY=VALUE`: the key ends at the first `=` outside double quotes.
    pub fn parse(arg: &str) -> Result<Setting> {
        let mut quoted = false;
        for (i, c) in arg.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '=' if !quoted => {
                    let (key, value) = (arg[..i].trim(), arg[i + 1..].trim());
                    if key.is_empty() {
                        bail!("`{arg}`: the key before `=` is empty");
                    }
                    return Ok(Setting {
                        key: key.to_string(),
                        value: value.to_string(),
                    });
                }
                _ => {}
            }
        }
        bail!("`{arg}`: expected KEY=VALUE, such as cluster.config.min.insync.replicas=2")
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// The kinds of table a key can start with, for a hint when the first word is wrong.
const FIRST_WORDS: &[&str] = &[
    "cluster", "topic", "producer", "consumer", "network", "nemesis", "name", "duration", "settle",
    "seed",
];

/// The fields of a `[[topics]]`, `[[producers]]` or `[[consumers]]` table; any other key
/// after the name is a key of its `config`.
const TOPIC_FIELDS: &[&str] = &["partitions", "replication_factor", "replicas"];
const PRODUCER_FIELDS: &[&str] = &["topic", "records", "rate", "keys", "value_bytes", "start"];
const CONSUMER_FIELDS: &[&str] = &[
    "topics",
    "start",
    "group",
    "members",
    "processing",
    "commit",
];

/// Where a key points in the file.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    /// Nested tables from the top: `["cluster", "os", "dirty_expire"]`.
    Path(Vec<String>),
    /// A key of one entry of an array of tables (`topics`, found by its `name`), either a
    /// field of the entry or, in `config`, a Kafka key.
    Entry {
        array: &'static str,
        name: String,
        key: String,
        in_config: bool,
    },
}

/// The first segment of `key` and what follows its dot: a bare word up to the next `.`, or
/// a TOML basic string in double quotes.
fn first_segment(key: &str) -> Result<(String, Option<&str>)> {
    let (segment, rest) = if let Some(quoted) = key.strip_prefix('"') {
        let end = quoted
            .find('"')
            .ok_or_else(|| anyhow!("`{key}`: a quoted name has no closing `\"`"))?;
        (quoted[..end].to_string(), &quoted[end + 1..])
    } else {
        match key.find('.') {
            Some(dot) => (key[..dot].to_string(), &key[dot..]),
            None => (key.to_string(), ""),
        }
    };
    if segment.is_empty() {
        bail!("`{key}`: an empty name");
    }
    match rest.strip_prefix('.') {
        Some(after) if !after.is_empty() => Ok((segment, Some(after))),
        Some(_) => bail!("`{key}`: nothing after the last `.`"),
        None if rest.is_empty() => Ok((segment, None)),
        None => bail!("`{key}`: expected `.` after the quoted name"),
    }
}

/// Every segment of a plain dotted path.
fn all_segments(key: &str) -> Result<Vec<String>> {
    let mut segments = Vec::new();
    let mut rest = Some(key);
    while let Some(r) = rest {
        let (segment, after) = first_segment(r)?;
        segments.push(segment);
        rest = after;
    }
    Ok(segments)
}

/// Reads a key path (module docs).
fn place_of(key: &str) -> Result<Place> {
    let (first, rest) = first_segment(key)?;
    let entry = |array: &'static str, fields: &[&str], rest: Option<&str>| -> Result<Place> {
        let rest = rest.ok_or_else(|| {
            anyhow!("`{key}`: expected {first}.<name>.<key>, such as {first}.orders.<key>")
        })?;
        let (name, field) = first_segment(rest)?;
        let field = field.ok_or_else(|| {
            anyhow!(
                "`{key}`: expected a key after the {first}'s name, such as {first}.{name}.<key>"
            )
        })?;
        let in_config = !fields.contains(&field);
        Ok(Place::Entry {
            array,
            name,
            key: field.to_string(),
            in_config,
        })
    };
    match (first.as_str(), rest) {
        ("cluster", Some(rest)) => match rest.strip_prefix("config.") {
            Some(kafka_key) if !kafka_key.is_empty() => Ok(Place::Path(vec![
                "cluster".into(),
                "config".into(),
                kafka_key.to_string(),
            ])),
            _ => {
                let mut path = vec!["cluster".to_string()];
                path.extend(all_segments(rest)?);
                Ok(Place::Path(path))
            }
        },
        ("topic", rest) => entry("topics", TOPIC_FIELDS, rest),
        ("producer", rest) => entry("producers", PRODUCER_FIELDS, rest),
        ("consumer", rest) => entry("consumers", CONSUMER_FIELDS, rest),
        ("nemesis", _) => bail!(
            "`{key}`: a what-if replays the nemesis schedule drawn from the scenario as written, \
             so a nemesis key would change nothing; edit the file to compare two nemeses"
        ),
        ("seed", _) => bail!("`{key}`: both runs use one seed; give it with --seed"),
        ("network", Some(rest)) => {
            let mut path = vec!["network".to_string()];
            path.extend(all_segments(rest)?);
            Ok(Place::Path(path))
        }
        ("name" | "duration" | "settle", None) => Ok(Place::Path(vec![first])),
        _ => {
            let hint = match kafka_model::config::nearest_key(&first, FIRST_WORDS.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("a key starts with one of {}", FIRST_WORDS.join(", ")),
            };
            bail!("`{key}`: no such key in a scenario ({hint})")
        }
    }
}

/// The value as the file should hold it: TOML's own reading (`2`, `true`, `0.5`,
/// `"text"`) first, then as a string (`all`, `0.10.2`).
fn value_candidates(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if let Ok(v) = text.parse::<Value>() {
        out.push(v);
    }
    let as_string = Value::from(text);
    if !out.iter().any(|v| v.as_str().is_some_and(|s| s == text)) {
        out.push(as_string);
    }
    out
}

/// The `name`s of an array of tables, for a hint.
fn entry_names(doc: &DocumentMut, array: &str) -> Vec<String> {
    doc.get(array)
        .and_then(Item::as_array_of_tables)
        .map(|tables| {
            tables
                .iter()
                .filter_map(|t| t.get("name").and_then(Item::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A table (or inline table) under `key`, made if missing.
fn child_table<'a>(parent: &'a mut dyn TableLike, key: &str) -> Result<&'a mut dyn TableLike> {
    if parent.get(key).is_none() {
        parent.insert(key, Item::Table(Table::new()));
    }
    parent
        .get_mut(key)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| anyhow!("`{key}` holds a value, not a table"))
}

/// Writes `value` at `place` in the document.
fn set_in(doc: &mut DocumentMut, place: &Place, value: Value) -> Result<()> {
    match place {
        Place::Path(path) => {
            let (last, tables) = path.split_last().expect("a path has a key");
            let mut table: &mut dyn TableLike = doc.as_table_mut();
            for name in tables {
                table = child_table(table, name)?;
            }
            put(table, last, value);
        }
        Place::Entry {
            array,
            name,
            key,
            in_config,
        } => {
            let names = entry_names(doc, array);
            let singular = array.trim_end_matches('s');
            let tables = doc
                .get_mut(array)
                .and_then(Item::as_array_of_tables_mut)
                .ok_or_else(|| anyhow!("the scenario has no [[{array}]]"))?;
            let entry = tables
                .iter_mut()
                .find(|t| t.get("name").and_then(Item::as_str) == Some(name.as_str()));
            let Some(entry) = entry else {
                let hint = match kafka_model::config::nearest_key(
                    name,
                    names.iter().map(String::as_str),
                ) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("its {array}: {}", names.join(", ")),
                };
                bail!("the scenario has no {singular} named `{name}` ({hint})");
            };
            let table: &mut dyn TableLike = if *in_config {
                child_table(entry, "config")?
            } else {
                entry
            };
            put(table, key, value);
        }
    }
    Ok(())
}

/// Sets `key` in `table`: in place if it is there (its key keeps its quotes, the value its
/// spacing and comment), else added at the end.
fn put(table: &mut dyn TableLike, key: &str, mut value: Value) {
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        Some(item) => *item = Item::Value(value),
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

/// The scenario with `settings` made to its file, read again. A key the file cannot hold,
/// or a value its key does not take, is an error that names the setting.
pub fn apply(scenario: &Scenario, settings: &[Setting]) -> Result<Scenario> {
    let mut text = scenario.text.clone();
    for setting in settings {
        text = apply_one(scenario, &text, setting)?;
    }
    let mut changed = Scenario::parse(&scenario.path, &text)
        .map_err(|e| anyhow!("{e}"))
        .context("the scenario with the changes")?;
    changed.keep_log = scenario.keep_log.clone();
    Ok(changed)
}

/// One setting made to the file's text; tries the value as TOML reads it, then as a string.
fn apply_one(scenario: &Scenario, text: &str, setting: &Setting) -> Result<String> {
    let place = place_of(&setting.key)?;
    let mut first_error = None;
    for value in value_candidates(&setting.value) {
        let mut doc: DocumentMut = text
            .parse()
            .with_context(|| format!("{}: not valid TOML", scenario.path))?;
        set_in(&mut doc, &place, value).map_err(|e| anyhow!("--set {setting}: {e}"))?;
        let candidate = doc.to_string();
        match Scenario::parse(&scenario.path, &candidate) {
            Ok(_) => return Ok(candidate),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let e = first_error.expect("at least one candidate value");
    bail!(
        "--set {setting}: {}{}",
        e.message,
        e.key
            .as_ref()
            .map(|k| format!(" (key `{k}`)"))
            .unwrap_or_default()
    )
}

/// The scenario as written, with the seed's nemesis schedule fixed as faults.
pub fn with_fixed_faults(scenario: &Scenario, seed: u64) -> Scenario {
    nemesis::fix_schedule(scenario, seed)
}

/// The two runs of a what-if.
pub struct WhatIf {
    pub base: Simulation,
    pub changed: Simulation,
    pub settings: Vec<Setting>,
    /// The first moment the two event records differ; `None` when they are the same.
    pub first_divergence_ms: Option<u64>,
}

/// Runs `scenario` as written and with `settings`, same seed, same faults.
pub fn run(scenario: &Scenario, settings: &[Setting], seed: u64) -> Result<WhatIf> {
    let changed = apply(scenario, settings)?;
    let base = with_fixed_faults(scenario, seed);
    let changed = same_faults_as(&base, changed);
    let base = simulation::run(&base, seed);
    let changed = simulation::run(&changed, seed);
    let first_divergence_ms = first_divergence_ms(base.result(), changed.result());
    Ok(WhatIf {
        base,
        changed,
        settings: settings.to_vec(),
        first_divergence_ms,
    })
}

/// `changed` with the faults of `base` (its file's and its fixed nemesis's) and no nemesis.
fn same_faults_as(base: &Scenario, mut changed: Scenario) -> Scenario {
    changed.faults = base.faults.clone();
    changed.nemesis = None;
    changed
}

/// The first moment two runs' event records part: the time of the first event that is not
/// the same in both (the earlier of the two), or of the first event one has past the
/// other's end.
pub fn first_divergence_ms(a: &RunResult, b: &RunResult) -> Option<u64> {
    let common = a.events.len().min(b.events.len());
    for i in 0..common {
        if a.events[i] != b.events[i] {
            return Some(a.events[i].at_ms.min(b.events[i].at_ms));
        }
    }
    let longer = if a.events.len() > common { a } else { b };
    longer.events.get(common).map(|e| e.at_ms)
}

/// One variant of `--vary`: the value and its run.
pub struct Variant {
    pub value: String,
    pub run: Simulation,
}

/// Runs one variant per value of `key` (each with `settings` too), all with the same seed
/// and the faults of the scenario as written.
pub fn vary(
    scenario: &Scenario,
    settings: &[Setting],
    key: &str,
    values: &[String],
    seed: u64,
) -> Result<Vec<Variant>> {
    let base = with_fixed_faults(scenario, seed);
    let mut variants = Vec::new();
    // Every variant's file is checked before any runs: a bad value fails at once.
    let mut scenarios = Vec::new();
    for value in values {
        let mut all = settings.to_vec();
        all.push(Setting {
            key: key.to_string(),
            value: value.clone(),
        });
        scenarios.push((value.clone(), same_faults_as(&base, apply(scenario, &all)?)));
    }
    for (value, variant) in scenarios {
        variants.push(Variant {
            value,
            run: simulation::run(&variant, seed),
        });
    }
    Ok(variants)
}

/// `--format json` of a what-if.
#[derive(Serialize)]
pub struct WhatIfJson<'a> {
    pub base: &'a Outcome,
    pub changed: &'a Outcome,
    pub set: BTreeMap<&'a str, &'a str>,
    pub first_divergence_ms: Option<u64>,
}

impl WhatIf {
    pub fn json(&self) -> WhatIfJson<'_> {
        WhatIfJson {
            base: self.base.outcome(),
            changed: self.changed.outcome(),
            set: self
                .settings
                .iter()
                .map(|s| (s.key.as_str(), s.value.as_str()))
                .collect(),
            first_divergence_ms: self.first_divergence_ms,
        }
    }

    /// The two outcomes side by side, the first divergence and the narrated lines around it
    /// in both runs.
    pub fn text(&self) -> String {
        let base = self.base.outcome();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "what-if: {} with seed {}, the same faults in both runs",
            base.scenario, base.seed
        );
        for s in &self.settings {
            let _ = writeln!(out, "  changed: {} = {}", s.key, s.value);
        }
        out.push('\n');
        let rows: Vec<(&str, String, String)> = summary_rows(&self.base)
            .into_iter()
            .zip(summary_rows(&self.changed))
            .map(|((label, a), (_, b))| (label, a, b))
            .collect();
        // A long cell (the violations) goes on lines of its own, so the numbers stay in
        // narrow columns.
        const CELL_MAX: usize = 12;
        let width = rows
            .iter()
            .map(|(_, a, _)| a.len())
            .filter(|len| *len <= CELL_MAX)
            .chain(["as written".len()])
            .max()
            .unwrap_or(0);
        let _ = writeln!(out, "  {:<28} {:>width$}   changed", "", "as written");
        for (label, a, b) in rows {
            let mark = if a == b { " " } else { "*" };
            if a.len() > CELL_MAX || b.len() > CELL_MAX {
                let _ = writeln!(out, "{mark} {label}:");
                let _ = writeln!(out, "      as written: {a}");
                let _ = writeln!(out, "      changed:    {b}");
            } else {
                let _ = writeln!(out, "{mark} {label:<28} {a:>width$}   {b}");
            }
        }
        out.push_str("(* where the two differ; [expect] is the file's, judged on each run)\n");
        out.push('\n');
        match self.first_divergence_ms {
            None => out.push_str(
                "The two runs are the same, event for event: this change makes no difference \
                 to this scenario with this seed.\n",
            ),
            Some(at_ms) => {
                let _ = writeln!(
                    out,
                    "The two timelines part at t={}: the first event that is not the same in both.",
                    crate::report::seconds(at_ms)
                );
                for (label, run) in [("as written", &self.base), ("changed", &self.changed)] {
                    let _ = writeln!(out, "\n{label}:");
                    for line in lines_around(&run.timeline(), at_ms) {
                        let _ = writeln!(out, "  {line}");
                    }
                }
            }
        }
        out
    }
}

/// The rows both a what-if and a `--vary` table show, label and value.
fn summary_rows(run: &Simulation) -> Vec<(&'static str, String)> {
    let o = run.outcome();
    vec![
        ("records sent", o.records.sent.to_string()),
        ("records acknowledged", o.records.acked.to_string()),
        (
            "produce requests rejected",
            rejected_produces(run).to_string(),
        ),
        ("acknowledged, then lost", o.records.acked_lost.to_string()),
        ("committed, then lost", o.records.committed_lost.to_string()),
        ("clean elections", o.elections.clean.to_string()),
        ("unclean elections", o.elections.unclean.to_string()),
        ("ISR shrinks", o.isr.shrinks.to_string()),
        ("ISR expands", o.isr.expands.to_string()),
        ("partition offline (ms)", offline_ms(o).to_string()),
        ("violations", violations_text(o)),
        ("[expect]", expect_text(o)),
    ]
}

/// The produce requests a leader rejected or failed (`NOT_ENOUGH_REPLICAS`,
/// `NOT_LEADER_OR_FOLLOWER`, a timeout...): the price a setting pays in availability, which
/// the counts of records do not show when the producer's retries get them in later.
fn rejected_produces(run: &Simulation) -> u64 {
    run.result()
        .events
        .iter()
        .filter(|e| matches!(e.event, kafka_model::Event::ProduceRejected { .. }))
        .count() as u64
}

/// The time all partitions spent without a leader, added up.
fn offline_ms(o: &Outcome) -> u64 {
    o.partitions.iter().map(|p| p.offline_ms).sum()
}

/// `none`, or each broken invariant with its count, in the order the checkers list them.
fn violations_text(o: &Outcome) -> String {
    let broken: Vec<String> = INVARIANTS
        .iter()
        .filter_map(|name| {
            o.violation_counts
                .get(*name)
                .map(|count| format!("{name} x{count}"))
        })
        .collect();
    if broken.is_empty() {
        "none".to_string()
    } else {
        broken.join(", ")
    }
}

fn expect_text(o: &Outcome) -> String {
    if o.expect.ok {
        "held".to_string()
    } else {
        format!("failed ({})", o.expect.failures.len())
    }
}

/// The narrated lines just before `at_ms` and the first ones at or after it.
fn lines_around(timeline: &[String], at_ms: u64) -> Vec<String> {
    const BEFORE: usize = 3;
    const AFTER: usize = 5;
    let first_after = timeline
        .iter()
        .position(|line| line_time_ms(line).is_some_and(|t| t >= at_ms))
        .unwrap_or(timeline.len());
    let from = first_after.saturating_sub(BEFORE);
    let to = (first_after + AFTER).min(timeline.len());
    timeline[from..to].to_vec()
}

/// The time a narrated line begins with (`t=  12.345s`), in milliseconds.
pub fn line_time_ms(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("t=")?.trim_start();
    let end = rest.find('s')?;
    let (secs, millis) = rest[..end].split_once('.')?;
    Some(secs.parse::<u64>().ok()? * 1_000 + millis.parse::<u64>().ok()?)
}

/// The `--vary` table: one row per value.
pub fn vary_table(key: &str, variants: &[Variant]) -> String {
    let mut out = String::new();
    let Some(first) = variants.first() else {
        return out;
    };
    let o = first.run.outcome();
    let _ = writeln!(
        out,
        "{} with seed {}, the same faults for every value of {key}:\n",
        o.scenario, o.seed
    );
    let header = [
        key,
        "sent",
        "acked",
        "rejected",
        "acked lost",
        "clean",
        "unclean",
        "ISR shrinks",
        "offline ms",
        "violations",
    ];
    let rows: Vec<Vec<String>> = variants
        .iter()
        .map(|v| {
            let o = v.run.outcome();
            vec![
                v.value.clone(),
                o.records.sent.to_string(),
                o.records.acked.to_string(),
                rejected_produces(&v.run).to_string(),
                o.records.acked_lost.to_string(),
                o.elections.clean.to_string(),
                o.elections.unclean.to_string(),
                o.isr.shrinks.to_string(),
                offline_ms(o).to_string(),
                violations_text(o),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else if i == 0 {
                let _ = write!(s, "{cell:<w$}  ", w = widths[i]);
            } else {
                let _ = write!(s, "{cell:>w$}  ", w = widths[i]);
            }
        }
        s.trim_end().to_string()
    };
    out.push_str(&line(header.to_vec()));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// The `--vary` JSON: the key, the settings every variant has, and one outcome per value.
#[derive(Serialize)]
pub struct VaryJson<'a> {
    pub vary: &'a str,
    pub set: BTreeMap<&'a str, &'a str>,
    pub variants: Vec<VariantJson<'a>>,
}

#[derive(Serialize)]
pub struct VariantJson<'a> {
    pub value: &'a str,
    pub outcome: &'a Outcome,
}

pub fn vary_json<'a>(
    key: &'a str,
    settings: &'a [Setting],
    variants: &'a [Variant],
) -> VaryJson<'a> {
    VaryJson {
        vary: key,
        set: settings
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str()))
            .collect(),
        variants: variants
            .iter()
            .map(|v| VariantJson {
                value: &v.value,
                outcome: v.run.outcome(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
