//! Seed sweeps, shards, merges and the determinism self-check.
//!
//! A sweep runs one scenario over many seeds, each in a madsim runtime of its own on one of
//! N worker threads. A seed's outcome depends on the scenario and the seed alone, never on the
//! thread or on what ran before, so the results are gathered by seed and written in seed
//! order: two sweeps of the same seeds write the same bytes however many threads they used.
//!
//! Sharding splits a sweep across machines without a scheduler of our own: shard I of N takes
//! every N-th seed starting at the I-th. `merge` prints the summary of the union and refuses
//! to mix results of different scenarios, scenario versions or builds: every line carries the
//! scenario file's hash and the build's stamp (`stamp.rs`), and a seed replays only on the
//! build that ran it.

use crate::panics;
use crate::report::{self, ExpectOut, Outcome};
use crate::scenario::Scenario;
use crate::stamp::BuildStamp;
use crate::world;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The finding of a seed on which the simulator panicked.
pub const PANIC: &str = "panic";

/// How many failing seeds the summary lists with their replay commands.
pub const SUMMARY_FAILING_SEEDS: usize = 10;

/// A half-open range of seeds, written `A..B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub end: u64,
}

impl std::str::FromStr for SeedRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once("..")
            .ok_or_else(|| format!("seeds `{s}`: write a range like 0..1000"))?;
        let start: u64 = a
            .trim()
            .parse()
            .map_err(|_| format!("seeds `{s}`: `{a}` is not a number"))?;
        let end: u64 = b
            .trim()
            .parse()
            .map_err(|_| format!("seeds `{s}`: `{b}` is not a number"))?;
        if end <= start {
            return Err(format!("seeds `{s}`: the range is empty"));
        }
        Ok(SeedRange { start, end })
    }
}

/// Shard `index` of `count` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard `{s}`: write I/N, e.g. 0/4"))?;
        let index: u64 = i
            .parse()
            .map_err(|_| format!("shard `{s}`: `{i}` is not a number"))?;
        let count: u64 = n
            .parse()
            .map_err(|_| format!("shard `{s}`: `{n}` is not a number"))?;
        Shard::new(index, count)
    }
}

impl Shard {
    pub fn new(index: u64, count: u64) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: need 0 <= I < N"));
        }
        Ok(Shard { index, count })
    }

    /// The shard index from a batch engine's environment: a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX` or a Slurm array's `SLURM_ARRAY_TASK_ID`. A missing index is an
    /// error, never a silent full sweep.
    pub fn from_env(
        count: Option<u64>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Shard, String> {
        let (var, value) = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"]
            .iter()
            .find_map(|v| env(v).map(|x| (*v, x)))
            .ok_or("--shards needs JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm array) in the environment")?;
        let index: u64 = value
            .trim()
            .parse()
            .map_err(|_| format!("{var}=`{value}` is not a number"))?;
        let count = match count {
            Some(n) => n,
            None => env("SLURM_ARRAY_TASK_COUNT")
                .and_then(|v| v.trim().parse().ok())
                .ok_or("--shards needs N, or SLURM_ARRAY_TASK_COUNT in the environment")?,
        };
        Shard::new(index, count)
    }

    pub fn seeds(&self, range: SeedRange) -> Vec<u64> {
        (range.start..range.end)
            .filter(|s| (s - range.start) % self.count == self.index)
            .collect()
    }
}

/// What one seed of a sweep gave: an outcome, or the reason it has none.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
pub enum SeedOutcome {
    Ran(Box<Outcome>),
    NoOutcome(NoOutcome),
}

/// A seed whose run ended without an outcome: the wall-clock watchdog stopped it, or the
/// simulator panicked. Its results line has the fields a merge reads, so it counts as failed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NoOutcome {
    pub scenario: String,
    pub scenario_hash: String,
    #[serde(flatten)]
    pub build: BuildStamp,
    pub seed: u64,
    /// `wall-time-limit` or `panic`.
    pub error: &'static str,
    pub detail: String,
    pub violation_counts: BTreeMap<String, u64>,
    pub expect: ExpectOut,
}

impl SeedOutcome {
    pub fn seed(&self) -> u64 {
        match self {
            SeedOutcome::Ran(o) => o.seed,
            SeedOutcome::NoOutcome(n) => n.seed,
        }
    }

    /// The outcome, if the run gave one.
    pub fn outcome(&self) -> Option<&Outcome> {
        match self {
            SeedOutcome::Ran(o) => Some(o),
            SeedOutcome::NoOutcome(_) => None,
        }
    }
}

/// Runs one seed under `limits`; a run that gives no outcome is reported, never raised.
///
/// Everything a seed does runs inside [`panics::capture`]: the run on its own thread, and
/// the checkers and the report after it. A panic anywhere in it becomes this seed's finding
/// `panic`, with the message and the place it was raised, and prints nothing.
pub fn run_seed(scenario: &Scenario, seed: u64, limits: world::RunLimits) -> SeedOutcome {
    run_seed_with(scenario, seed, limits, &|_| {})
}

/// [`run_seed`], calling `before_report(seed)` between the run and its report: the place a
/// test makes a seed panic on purpose.
fn run_seed_with(
    scenario: &Scenario,
    seed: u64,
    limits: world::RunLimits,
    before_report: &(dyn Fn(u64) + Sync),
) -> SeedOutcome {
    let ran = panics::capture(|| {
        world::run_limited(scenario, seed, limits).map(|result| {
            before_report(seed);
            report::outcome(scenario, seed, &result).0
        })
    });
    let error = match ran {
        Ok(Ok(outcome)) => return SeedOutcome::Ran(Box::new(outcome)),
        Ok(Err(e)) => e,
        Err(message) => world::RunError::Panicked(message),
    };
    let kind = match error {
        world::RunError::WallTimeExceeded(_) => "wall-time-limit",
        world::RunError::Panicked(_) => PANIC,
    };
    let detail = error.to_string();
    SeedOutcome::NoOutcome(NoOutcome {
        scenario: scenario.name.clone(),
        scenario_hash: format!("{:016x}", scenario.hash()),
        build: BuildStamp::current(),
        seed,
        error: kind,
        detail: detail.clone(),
        violation_counts: BTreeMap::new(),
        expect: ExpectOut {
            ok: false,
            failures: vec![format!("no outcome: {detail}")],
        },
    })
}

/// Runs every seed on `jobs` threads and returns what each gave, in seed order. A seed that
/// panics or passes the wall-time limit is recorded as such and the sweep goes on.
pub fn run_seeds(
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    progress: bool,
    limits: world::RunLimits,
) -> Vec<SeedOutcome> {
    run_seeds_with(scenario, seeds, jobs, progress, limits, &|_| {})
}

fn run_seeds_with(
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    progress: bool,
    limits: world::RunLimits,
    before_report: &(dyn Fn(u64) + Sync),
) -> Vec<SeedOutcome> {
    let jobs = jobs.max(1).min(seeds.len().max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<SeedOutcome>>> = Mutex::new(vec![None; seeds.len()]);
    let bar = progress_bar(seeds.len() as u64, progress);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = seeds.get(i) else {
                    break;
                };
                let outcome = run_seed_with(scenario, seed, limits, before_report);
                results.lock().expect("results")[i] = Some(outcome);
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                bar.tick(n as u64);
            });
        }
    });
    bar.finish();
    results
        .into_inner()
        .expect("results")
        .into_iter()
        .map(|o| o.expect("every seed ran"))
        .collect()
}

/// A progress bar on a terminal, plain periodic lines otherwise.
enum Progress {
    Bar(indicatif::ProgressBar),
    Lines { total: u64, every: u64 },
    Off,
}

fn progress_bar(total: u64, enabled: bool) -> Progress {
    if !enabled {
        Progress::Off
    } else if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} seeds, {per_sec}, eta {eta}",
            )
            .expect("template"),
        );
        Progress::Bar(bar)
    } else {
        Progress::Lines {
            total,
            every: (total / 10).max(1),
        }
    }
}

impl Progress {
    fn tick(&self, done: u64) {
        match self {
            Progress::Bar(b) => b.set_position(done),
            Progress::Lines { total, every } => {
                if done.is_multiple_of(*every) || done == *total {
                    eprintln!("{done}/{total} seeds");
                }
            }
            Progress::Off => {}
        }
    }

    fn finish(&self) {
        if let Progress::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

/// The sweep summary: seeds run, seeds that failed, counts per invariant, the first failing
/// seeds with the command that replays each.
#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    pub scenario: String,
    pub seeds: u64,
    pub failed: u64,
    pub invariant_seeds: BTreeMap<String, u64>,
    pub first_failures: Vec<(u64, String)>,
    /// Seeds that gave no outcome, by reason (`wall-time-limit`, `panic`).
    pub no_outcome: BTreeMap<String, u64>,
}

pub fn summarize(scenario_name: &str, outcomes: &[SeedOutcome]) -> Summary {
    let mut s = Summary {
        scenario: scenario_name.to_string(),
        ..Summary::default()
    };
    let mut sorted: Vec<&SeedOutcome> = outcomes.iter().collect();
    sorted.sort_by_key(|o| o.seed());
    for seed_outcome in sorted {
        s.seeds += 1;
        let o = match seed_outcome {
            SeedOutcome::Ran(o) => o,
            SeedOutcome::NoOutcome(n) => {
                *s.no_outcome.entry(n.error.to_string()).or_insert(0) += 1;
                s.failed += 1;
                if s.first_failures.len() < SUMMARY_FAILING_SEEDS {
                    s.first_failures
                        .push((n.seed, n.expect.failures.join("; ")));
                }
                continue;
            }
        };
        for inv in o.violation_counts.keys() {
            *s.invariant_seeds.entry(inv.clone()).or_insert(0) += 1;
        }
        if !o.expect.ok {
            s.failed += 1;
            if s.first_failures.len() < SUMMARY_FAILING_SEEDS {
                s.first_failures
                    .push((o.seed, o.expect.failures.join("; ")));
            }
        }
    }
    s
}

pub fn render_summary(s: &Summary, scenario_path: &str) -> String {
    let mut out = format!(
        "scenario {}: {} seeds run, {} failed their expectations\n",
        s.scenario, s.seeds, s.failed
    );
    if s.invariant_seeds.is_empty() {
        out.push_str("invariants: none broke on any seed\n");
    } else {
        out.push_str("invariants broken (seeds):\n");
        for (inv, n) in &s.invariant_seeds {
            out.push_str(&format!("  {inv}: {n}\n"));
        }
    }
    for (why, n) in &s.no_outcome {
        out.push_str(&format!("seeds without an outcome ({why}): {n}\n"));
    }
    if !s.first_failures.is_empty() {
        out.push_str("first failing seeds:\n");
        for (seed, why) in &s.first_failures {
            out.push_str(&format!(
                "  seed {seed}: {why}\n    replay: kafka-sim run {scenario_path} --seed {seed} --narrate\n"
            ));
        }
    }
    out
}

/// Writes one JSON line per outcome, atomically (a temporary file renamed into place).
pub fn write_jsonl(path: &str, outcomes: &[SeedOutcome]) -> anyhow::Result<()> {
    let target = Path::new(path);
    let tmp = target.with_extension("jsonl.tmp");
    let mut buf = Vec::new();
    for o in outcomes {
        serde_json::to_writer(&mut buf, o)?;
        buf.push(b'\n');
    }
    std::fs::write(&tmp, &buf).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, target).with_context(|| format!("cannot move results into {path}"))?;
    Ok(())
}

/// One line of a results file: only the fields a merge needs.
#[derive(serde::Deserialize)]
struct ResultLine {
    scenario: String,
    scenario_hash: String,
    /// Absent on lines written before results carried the build's stamp.
    #[serde(default)]
    kafka_sim_version: Option<String>,
    #[serde(default)]
    build_hash: Option<String>,
    seed: u64,
    violation_counts: BTreeMap<String, u64>,
    expect: ExpectLine,
    /// Set on a seed that gave no outcome (`wall-time-limit`, `panic`).
    #[serde(default)]
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct ExpectLine {
    ok: bool,
    failures: Vec<String>,
}

/// What must match for results to be merged, or for a seed to be shrunk: the scenario, the
/// hash of its file, and the build that ran it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultIdentity {
    pub scenario: String,
    pub scenario_hash: String,
    /// `unknown` on lines written before results carried the build's stamp.
    pub kafka_sim_version: String,
    pub build_hash: String,
}

impl ResultLine {
    fn identity(&self) -> ResultIdentity {
        let unknown = || "unknown".to_string();
        ResultIdentity {
            scenario: self.scenario.clone(),
            scenario_hash: self.scenario_hash.clone(),
            kafka_sim_version: self.kafka_sim_version.clone().unwrap_or_else(unknown),
            build_hash: self.build_hash.clone().unwrap_or_else(unknown),
        }
    }
}

impl ResultIdentity {
    /// The identity of `scenario` run by this build.
    pub fn current(scenario: &Scenario) -> ResultIdentity {
        let build = BuildStamp::current();
        ResultIdentity {
            scenario: scenario.name.clone(),
            scenario_hash: format!("{:016x}", scenario.hash()),
            kafka_sim_version: build.kafka_sim_version.to_string(),
            build_hash: build.build_hash.to_string(),
        }
    }

    /// An error if `other` (read at `at`) is of another scenario, scenario version or build
    /// than `self` (read at `first`). The message names both hashes.
    pub fn refuse_mix(&self, first: &str, other: &ResultIdentity, at: &str) -> anyhow::Result<()> {
        if self.scenario != other.scenario || self.scenario_hash != other.scenario_hash {
            bail!(
                "{at}: results of scenario {} (file hash {}) cannot be merged with {first}'s {} (file hash {})",
                other.scenario,
                other.scenario_hash,
                self.scenario,
                self.scenario_hash
            );
        }
        if self.build_hash != other.build_hash {
            bail!(
                "{at}: results of build {} (kafka-sim {}) cannot be mixed with {first}'s build {} (kafka-sim {}): a seed replays only on the build that ran it; run the seeds again with one build",
                other.build_hash,
                other.kafka_sim_version,
                self.build_hash,
                self.kafka_sim_version
            );
        }
        Ok(())
    }
}

/// The lines of a results file with their line numbers (from 1); blank lines are skipped.
fn read_result_lines(file: &str) -> anyhow::Result<Vec<(usize, ResultLine)>> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {file}"))?;
    let mut lines = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {file}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let r: ResultLine = serde_json::from_str(&line)
            .with_context(|| format!("{file}:{}: not a kafka-sim result line", n + 1))?;
        lines.push((n + 1, r));
    }
    Ok(lines)
}

/// The identity of `seed`'s line in a results file (the last one, if the seed is there
/// twice).
pub fn seed_identity(file: &str, seed: u64) -> anyhow::Result<ResultIdentity> {
    read_result_lines(file)?
        .into_iter()
        .rev()
        .find(|(_, r)| r.seed == seed)
        .map(|(_, r)| r.identity())
        .with_context(|| format!("{file}: no result line for seed {seed}"))
}

/// Reads results files and summarizes their union. Files that mix scenarios, versions of a
/// scenario (a different file hash) or builds (a different build hash) are refused; a seed
/// present twice counts once.
/// The summary of result files' union, and what they are results of.
pub fn merge(files: &[String]) -> anyhow::Result<(Summary, ResultIdentity)> {
    let mut first: Option<(ResultIdentity, String)> = None;
    let mut by_seed: BTreeMap<u64, ResultLine> = BTreeMap::new();
    for file in files {
        for (n, r) in read_result_lines(file)? {
            let identity = r.identity();
            match &first {
                None => first = Some((identity, file.clone())),
                Some((expected, first_file)) => {
                    expected.refuse_mix(first_file, &identity, &format!("{file}:{n}"))?
                }
            }
            by_seed.insert(r.seed, r);
        }
    }
    let Some((identity, _)) = first else {
        bail!("no result lines in {}", files.join(", "));
    };
    Ok((
        summarize_lines(identity.scenario.clone(), by_seed),
        identity,
    ))
}

/// The summary of merged result lines, in seed order.
fn summarize_lines(scenario: String, by_seed: BTreeMap<u64, ResultLine>) -> Summary {
    let mut s = Summary {
        scenario,
        ..Summary::default()
    };
    for (seed, r) in by_seed {
        s.seeds += 1;
        if let Some(why) = &r.error {
            *s.no_outcome.entry(why.clone()).or_insert(0) += 1;
        }
        for inv in r.violation_counts.keys() {
            *s.invariant_seeds.entry(inv.clone()).or_insert(0) += 1;
        }
        if !r.expect.ok {
            s.failed += 1;
            if s.first_failures.len() < SUMMARY_FAILING_SEEDS {
                s.first_failures.push((seed, r.expect.failures.join("; ")));
            }
        }
    }
    s
}

/// Runs each seed twice, the second time on another thread, and compares the records event
/// by event. Returns the first difference as `(seed, description)`.
pub fn check_determinism(scenario: &Scenario, seeds: &[u64]) -> Option<(u64, String)> {
    for &seed in seeds {
        let first = world::run(scenario, seed);
        let second = std::thread::scope(|s| {
            s.spawn(|| world::run(scenario, seed))
                .join()
                .expect("thread")
        });
        for (i, (a, b)) in first.events.iter().zip(&second.events).enumerate() {
            if a != b {
                return Some((
                    seed,
                    format!("event {i} differs:\n  first:  {a:?}\n  second: {b:?}"),
                ));
            }
        }
        if first.events.len() != second.events.len() {
            return Some((
                seed,
                format!(
                    "the first run recorded {} events, the second {}",
                    first.events.len(),
                    second.events.len()
                ),
            ));
        }
        if first.faults != second.faults || first.final_state != second.final_state {
            return Some((seed, "the faults or the final state differ".into()));
        }
    }
    let _ = std::io::stderr().flush();
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_seeds() {
        let range: SeedRange = "10..20".parse().unwrap();
        let a = Shard::new(0, 3).unwrap().seeds(range);
        let b = Shard::new(1, 3).unwrap().seeds(range);
        let c = Shard::new(2, 3).unwrap().seeds(range);
        assert_eq!(a, vec![10, 13, 16, 19]);
        let mut all: Vec<u64> = a.into_iter().chain(b).chain(c).collect();
        all.sort();
        assert_eq!(all, (10..20).collect::<Vec<_>>());
    }

    #[test]
    fn shard_index_from_the_environment() {
        let k8s = |v: &str| (v == "JOB_COMPLETION_INDEX").then(|| "2".to_string());
        assert_eq!(
            Shard::from_env(Some(4), &k8s).unwrap(),
            Shard { index: 2, count: 4 }
        );
        let slurm = |v: &str| match v {
            "SLURM_ARRAY_TASK_ID" => Some("1".to_string()),
            "SLURM_ARRAY_TASK_COUNT" => Some("3".to_string()),
            _ => None,
        };
        assert_eq!(
            Shard::from_env(None, &slurm).unwrap(),
            Shard { index: 1, count: 3 }
        );
        let none = |_: &str| None;
        assert!(
            Shard::from_env(Some(4), &none).is_err(),
            "a missing index is an error"
        );
        let bad = |v: &str| (v == "JOB_COMPLETION_INDEX").then(|| "9".to_string());
        assert!(Shard::from_env(Some(4), &bad).is_err());
    }

    const TINY: &str = r#"
name = "tiny"
duration = "2s"
settle = "1s"

[cluster]
brokers = 1

[[topics]]
name = "t"
partitions = 1
replication_factor = 1

[[producers]]
name = "p"
topic = "t"
records = 5
rate = 10
"#;

    #[test]
    fn a_panicking_seed_is_a_finding_and_the_sweep_goes_on() {
        let scenario = Scenario::parse("tiny.toml", TINY).unwrap_or_else(|e| panic!("{e}"));
        let panic_on_seed_1 = |seed: u64| assert_ne!(seed, 1, "a checker broke on purpose");
        let outcomes = run_seeds_with(
            &scenario,
            &[0, 1, 2],
            2,
            false,
            Default::default(),
            &panic_on_seed_1,
        );
        assert_eq!(outcomes.len(), 3, "every seed has a line");
        assert!(outcomes[0].outcome().is_some() && outcomes[2].outcome().is_some());
        let SeedOutcome::NoOutcome(n) = &outcomes[1] else {
            panic!("seed 1 panicked: {:?}", outcomes[1]);
        };
        assert_eq!(n.error, PANIC);
        assert!(
            n.detail.contains("a checker broke on purpose"),
            "{}",
            n.detail
        );
        assert!(
            n.detail.contains("sweep.rs:"),
            "the place it panicked: {}",
            n.detail
        );

        let summary = summarize(&scenario.name, &outcomes);
        assert_eq!(summary.seeds, 3);
        assert_eq!(summary.failed, 1, "a panic is a failure: the sweep exits 1");
        assert_eq!(summary.no_outcome.get(PANIC), Some(&1));
        let text = render_summary(&summary, "tiny.toml");
        assert!(
            text.contains("seeds without an outcome (panic): 1"),
            "{text}"
        );
        assert!(
            text.contains("seed 1: no outcome: the simulator panicked: ")
                && text.contains("replay: kafka-sim run tiny.toml --seed 1 --narrate"),
            "{text}"
        );
    }

    #[test]
    fn seed_ranges_parse() {
        assert_eq!(
            "0..5".parse::<SeedRange>().unwrap(),
            SeedRange { start: 0, end: 5 }
        );
        assert!("5..5".parse::<SeedRange>().is_err());
        assert!("x..5".parse::<SeedRange>().is_err());
        assert!("5".parse::<SeedRange>().is_err());
    }
}
