//! `kafka-sim shrink`: cut a failing seed down to a minimal scenario a person can read.
//!
//! A random schedule that breaks an invariant usually carries many faults that did not
//! matter. The shrinker first fixes the seed's drawn schedule as explicit `[[faults]]` (the
//! run stays the same: the schedule never depended on madsim's draws), then greedily tries
//! smaller scenarios and keeps each cut after which the same invariant still breaks with the
//! same seed: dropping faults, shortening fault episodes, fewer records, a shorter run. What
//! it writes is an ordinary scenario that fails on its own, with a comment saying what
//! breaks and what was cut.
//!
//! A candidate on which the simulator panics is a finding of its own, never the end of the
//! shrink: it is kept with the scenario that replays it, and the search goes on. A seed that
//! panics from the start is shrunk as the finding `panic`.

use crate::nemesis::{self, duration_text};
use crate::panics;
use crate::report::{self, Outcome};
use crate::scenario::{FaultAction, FaultSpec, Scenario};
use crate::sweep::{self, ResultIdentity};
use crate::world;
use anyhow::{bail, Context};

/// The most candidate runs one shrink may try.
pub const MAX_RUNS: u32 = 400;

/// The most panicking candidates one shrink keeps (the first ones found).
pub const MAX_PANICS: usize = 5;

/// The finding a seed on which the simulator panics is shrunk for.
pub const PANIC: &str = "panic";

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
    /// The panic's message when the seed itself panicked (the finding shrunk is then `panic`).
    pub seed_panic: Option<String>,
    /// Candidates on which the simulator panicked while shrinking for another invariant.
    pub panics: Vec<PanicFinding>,
}

/// A candidate on which the simulator panicked: the panic's message and the scenario (TOML)
/// that replays it with the shrink's seed.
pub struct PanicFinding {
    pub detail: String,
    pub text: String,
}

struct Search<'a> {
    seed: u64,
    invariant: &'a str,
    runs: u32,
    /// Panicking candidates and their messages.
    panics: Vec<(Scenario, String)>,
}

impl Search<'_> {
    fn breaks(&mut self, s: &Scenario) -> bool {
        if self.runs >= MAX_RUNS {
            return false;
        }
        self.runs += 1;
        match run_once(s, self.seed) {
            Ok(outcome) => outcome.violation_counts.contains_key(self.invariant),
            Err(detail) => {
                if self.invariant != PANIC && self.panics.len() < MAX_PANICS {
                    self.panics.push((s.clone(), detail));
                }
                self.invariant == PANIC
            }
        }
    }
}

/// One run's outcome, or the simulator's panic message (raised in the run or in the checkers
/// after it, captured as a sweep captures it: see `panics.rs`).
fn run_once(s: &Scenario, seed: u64) -> Result<Outcome, String> {
    let ran = panics::capture(|| {
        world::run_limited(s, seed, world::RunLimits::default())
            .map(|result| report::outcome(s, seed, &result).0)
    });
    match ran {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(e)) => Err(e.to_string()),
        Err(message) => Err(world::RunError::Panicked(message).to_string()),
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

/// Refuses to shrink a seed that a results file says was run by another build or another
/// version of the scenario: the seed may give something else here. The error names both
/// build hashes.
pub fn check_results(scenario: &Scenario, seed: u64, results_file: &str) -> anyhow::Result<()> {
    let theirs = sweep::seed_identity(results_file, seed)?;
    ResultIdentity::current(scenario).refuse_mix(
        &format!("this kafka-sim's run of {}", scenario.path),
        &theirs,
        &format!("{results_file}: seed {seed}"),
    )
}

/// The finding to keep: `invariant` if the seed breaks it, else the first invariant the seed
/// breaks; `panic` (with the panic's message) if the simulator panics on the seed.
fn finding_to_keep(
    fixed: &Scenario,
    seed: u64,
    invariant: Option<&str>,
) -> anyhow::Result<(String, Option<String>)> {
    let outcome = match run_once(fixed, seed) {
        Ok(outcome) => outcome,
        Err(detail) => return Ok((PANIC.to_string(), Some(detail))),
    };
    match invariant {
        Some(i) => {
            if !outcome.violation_counts.contains_key(i) {
                bail!(
                    "seed {seed} does not break {i}; it breaks: {:?}",
                    outcome.violation_counts.keys().collect::<Vec<_>>()
                );
            }
            Ok((i.to_string(), None))
        }
        None => outcome
            .violations
            .first()
            .map(|v| (v.invariant.to_string(), None))
            .with_context(|| format!("seed {seed} breaks no invariant: nothing to shrink")),
    }
}

/// Drops single faults, last first, and again until nothing changes.
fn drop_faults(search: &mut Search, mut best: Scenario) -> Scenario {
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
            return best;
        }
    }
}

/// Shortens episodes: moves each ending fault halfway towards the fault before it.
fn shorten_episodes(search: &mut Search, mut best: Scenario) -> Scenario {
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
    best
}

/// Halves every producer's records while the finding holds.
fn fewer_records(search: &mut Search, mut best: Scenario) -> Scenario {
    loop {
        let mut candidate = best.clone();
        for p in &mut candidate.producers {
            p.records /= 2;
            // A `sequence` producer sends the first half of its records.
            if !p.sequence.is_empty() {
                p.sequence.truncate(p.records as usize);
            }
        }
        if total_records(&candidate) == 0 || !search.breaks(&candidate) {
            return best;
        }
        best = candidate;
    }
}

/// Halves the run while the finding holds, never before the last fault.
fn shorter_run(search: &mut Search, mut best: Scenario) -> Scenario {
    loop {
        let last_fault = best.faults.iter().map(|f| f.at_ms).max().unwrap_or(0);
        let shorter = (best.duration_ms / 2).max(last_fault + 1000);
        if shorter >= best.duration_ms {
            return best;
        }
        let mut candidate = best.clone();
        candidate.duration_ms = shorter;
        if !search.breaks(&candidate) {
            return best;
        }
        best = candidate;
    }
}

pub fn shrink(scenario: &Scenario, seed: u64, invariant: Option<&str>) -> anyhow::Result<Shrunk> {
    let fixed = nemesis::fix_schedule(scenario, seed);
    let (invariant, seed_panic) = finding_to_keep(&fixed, seed, invariant)?;
    let mut search = Search {
        seed,
        invariant: &invariant,
        runs: 1,
        panics: Vec::new(),
    };
    let faults_before = fixed.faults.len();
    let records_before = total_records(&fixed);
    let duration_before_ms = fixed.duration_ms;

    let best = drop_faults(&mut search, fixed);
    let best = shorten_episodes(&mut search, best);
    let best = fewer_records(&mut search, best);
    let best = shorter_run(&mut search, best);

    let sizes_before = (faults_before, records_before, duration_before_ms);
    let text = render(scenario, &best, seed, &invariant, sizes_before)?;
    let check = Scenario::parse("minimal.toml", &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !search.breaks(&check) && search.runs < MAX_RUNS {
        bail!("the written scenario no longer breaks {invariant}; this is a shrinker bug");
    }
    let panics = search
        .panics
        .iter()
        .map(|(candidate, detail)| {
            Ok(PanicFinding {
                detail: detail.clone(),
                text: render(scenario, candidate, seed, PANIC, sizes_before)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Shrunk {
        invariant: invariant.clone(),
        faults_after: best.faults.len(),
        records_after: total_records(&best),
        duration_after_ms: best.duration_ms,
        faults_before,
        records_before,
        duration_before_ms,
        runs: search.runs,
        text,
        seed_panic,
        panics,
    })
}

/// The minimal scenario as TOML: the original file with its faults, nemesis, duration and
/// record counts replaced, and a comment on top.
fn render(
    original: &Scenario,
    best: &Scenario,
    seed: u64,
    invariant: &str,
    (faults_before, records_before, duration_before_ms): (usize, u64, u64),
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
