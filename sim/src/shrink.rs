//! `kafka-sim shrink`: cut a failing seed down to a minimal scenario a person can read.
//!
//! A random schedule that breaks an invariant usually carries many faults that did not
//! matter. The shrinker first fixes the seed's drawn schedule as explicit `[[faults]]` (the
//! run stays the same: the schedule never depended on madsim's draws), then greedily tries
//! smaller scenarios and keeps each cut after which the same invariant still breaks with the
//! same seed: dropping faults, shortening fault episodes, fewer records, a shorter run. What
//! it writes is an ordinary scenario that fails on its own, with a comment saying what
//! breaks and what was cut.

use crate::nemesis::{self, duration_text};
use crate::report;
use crate::scenario::{FaultAction, FaultSpec, Scenario};
use crate::world;
use anyhow::{bail, Context};

/// The most candidate runs one shrink may try.
pub const MAX_RUNS: u32 = 400;

pub struct Shrunk {
    pub invariant: String,
    pub text: String,
    pub faults_before: usize,
    pub faults_after: usize,
    pub records_before: u64,
    pub records_after: u64,
    pub duration_before_ms: u64,
    pub duration_after_ms: u64,
    pub runs: u32,
}

struct Search<'a> {
    seed: u64,
    invariant: &'a str,
    runs: u32,
}

impl Search<'_> {
    fn breaks(&mut self, s: &Scenario) -> bool {
        if self.runs >= MAX_RUNS {
            return false;
        }
        self.runs += 1;
        let result = world::run(s, self.seed);
        let (outcome, _) = report::outcome(s, self.seed, &result);
        outcome.violation_counts.contains_key(self.invariant)
    }
}

fn total_records(s: &Scenario) -> u64 {
    s.producers.iter().map(|p| p.records).sum()
}

/// Is this fault the end of an episode (it undoes another)?
fn ends_episode(f: &FaultSpec) -> bool {
    matches!(
        f.action,
        FaultAction::Restart(_) | FaultAction::Resume(_) | FaultAction::Heal(_)
    )
}

pub fn shrink(scenario: &Scenario, seed: u64, invariant: Option<&str>) -> anyhow::Result<Shrunk> {
    let mut fixed = scenario.clone();
    fixed.faults.extend(nemesis::schedule(scenario, seed));
    fixed.faults.sort_by_key(|f| f.at_ms);
    fixed.nemesis = None;

    let result = world::run(&fixed, seed);
    let (outcome, _) = report::outcome(&fixed, seed, &result);
    let invariant = match invariant {
        Some(i) => {
            if !outcome.violation_counts.contains_key(i) {
                bail!(
                    "seed {seed} does not break {i}; it breaks: {:?}",
                    outcome.violation_counts.keys().collect::<Vec<_>>()
                );
            }
            i.to_string()
        }
        None => outcome
            .violations
            .first()
            .map(|v| v.invariant.to_string())
            .with_context(|| format!("seed {seed} breaks no invariant: nothing to shrink"))?,
    };
    let mut search = Search {
        seed,
        invariant: &invariant,
        runs: 1,
    };
    let faults_before = fixed.faults.len();
    let records_before = total_records(&fixed);
    let duration_before_ms = fixed.duration_ms;

    let mut best = fixed;
    // Pass 1 and again until nothing changes: drop single faults, last first.
    loop {
        let mut changed = false;
        let mut i = best.faults.len();
        while i > 0 {
            i -= 1;
            let mut candidate = best.clone();
            candidate.faults.remove(i);
            if search.breaks(&candidate) {
                best = candidate;
                changed = true;
            }
        }
        if !changed || search.runs >= MAX_RUNS {
            break;
        }
    }
    // Shorten episodes: move each ending fault halfway towards the fault before it.
    for i in 0..best.faults.len() {
        if !ends_episode(&best.faults[i]) {
            continue;
        }
        let earliest = if i == 0 { 0 } else { best.faults[i - 1].at_ms };
        let mut candidate = best.clone();
        candidate.faults[i].at_ms = earliest + (best.faults[i].at_ms - earliest) / 2;
        if candidate.faults[i].at_ms < best.faults[i].at_ms && search.breaks(&candidate) {
            best = candidate;
        }
    }
    // Fewer records.
    loop {
        let mut candidate = best.clone();
        for p in &mut candidate.producers {
            p.records /= 2;
        }
        if total_records(&candidate) == 0 || !search.breaks(&candidate) {
            break;
        }
        best = candidate;
    }
    // A shorter run, never before the last fault.
    loop {
        let last_fault = best.faults.iter().map(|f| f.at_ms).max().unwrap_or(0);
        let shorter = (best.duration_ms / 2).max(last_fault + 1000);
        if shorter >= best.duration_ms {
            break;
        }
        let mut candidate = best.clone();
        candidate.duration_ms = shorter;
        if !search.breaks(&candidate) {
            break;
        }
        best = candidate;
    }

    let text = render(
        scenario,
        &best,
        seed,
        &invariant,
        faults_before,
        records_before,
        duration_before_ms,
    )?;
    let check = Scenario::parse("minimal.toml", &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !search.breaks(&check) && search.runs < MAX_RUNS {
        bail!("the written scenario no longer breaks {invariant}; this is a shrinker bug");
    }
    let runs = search.runs;
    Ok(Shrunk {
        invariant: invariant.clone(),
        faults_after: best.faults.len(),
        records_after: total_records(&best),
        duration_after_ms: best.duration_ms,
        faults_before,
        records_before,
        duration_before_ms,
        runs,
        text,
    })
}

/// The minimal scenario as TOML: the original file with its faults, nemesis, duration and
/// record counts replaced, and a comment on top.
fn render(
    original: &Scenario,
    best: &Scenario,
    seed: u64,
    invariant: &str,
    faults_before: usize,
    records_before: u64,
    duration_before_ms: u64,
) -> anyhow::Result<String> {
    let mut doc: toml_edit::DocumentMut = original
        .text
        .parse()
        .context("the original scenario is not TOML")?;
    doc.remove("nemesis");
    doc.remove("faults");
    doc["name"] = toml_edit::value(format!("{}-seed-{seed}-minimal", original.name));
    doc["seed"] = toml_edit::value(seed as i64);
    doc["duration"] = toml_edit::value(duration_text(best.duration_ms));
    if let Some(producers) = doc
        .get_mut("producers")
        .and_then(|p| p.as_array_of_tables_mut())
    {
        for (table, spec) in producers.iter_mut().zip(&best.producers) {
            table["records"] = toml_edit::value(spec.records as i64);
        }
    }
    // Drop the original's top comment: the new one replaces it.
    let body = doc.to_string();
    let body = body
        .lines()
        .skip_while(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let header = format!(
        "# A minimal scenario, cut down by `kafka-sim shrink` from {} with seed {seed}.\n\
         #\n\
         # What breaks: {invariant}, with this seed.\n\
         # What was cut: {faults_before} faults down to {}, {records_before} records down to {},\n\
         # a {} run down to {}. Each cut was kept only if {invariant} still broke.\n\
         #\n\
         # The original's description:\n{}\n",
        original.path,
        best.faults.len(),
        total_records(best),
        duration_text(duration_before_ms),
        duration_text(best.duration_ms),
        original
            .description
            .lines()
            .map(|l| format!("#   {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    Ok(format!(
        "{header}\n{body}\n\n{}",
        nemesis::faults_toml(&best.faults)
    ))
}
