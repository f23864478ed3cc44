//! `kafka-sim bench`: the scale suite.
//!
//! Named cases, each printing its figures on one line with each goal beside its figure (or,
//! with `--format json`, one JSON object per case, one per line):
//!
//! - `steady`: `sim/benches/steady-state.toml` (3 brokers, 6 partitions, acks=all, 100,000
//!   records) next to a raw madsim ping-pong in the same process: the cluster's message rate
//!   over raw madsim's, simulated records per wall second, simulated over wall time, peak
//!   memory.
//! - `partitions`: 3 brokers and the same record load on 10, 100, 1,000 and 10,000
//!   partitions: simulated over wall time at each size, and how much slower the largest is
//!   than the smallest.
//! - `big-cluster`: 100 brokers, 10,000 partitions, 100 producers; the controller is killed
//!   at 20 s: wall time, peak memory, how long (simulated) until every partition had a leader
//!   again, events per wall second. `--scale` shrinks it (brokers, partitions, producers).
//! - `sweep`: seeds of `scenarios/random-faults-acks-all.toml` per wall second on all cores.
//!
//! With one case, it runs in this process. With several (the default is all), each case, and
//! each size of `partitions`, runs in a child process of this same binary (`bench --case NAME
//! --format json`), so every peak memory is that run's own, and a run that fails, crashes or
//! hangs is reported as such instead of taking the suite down. Every run has a wall-time
//! limit (`--timeout-secs`): a run past it reports `timed out` with the figures it has so far.
//!
//! The wall clock is read only here, to measure; inside a run there is only simulated time.
//!
//! Run it in the `bench-fast` profile (`cargo run --profile bench-fast -- bench`): release
//! without debug assertions. The release profile keeps the workspace's assertions on for
//! sweeps, and figures measured with them are not comparable with figures measured without.

use crate::record::RecordedEvent;
use crate::report;
use crate::scenario::{FaultAction, Scenario, Target};
use crate::sweep;
use crate::world;
use kafka_model::{BrokerId, Event, TopicPartition};
use madsim::net::Endpoint;
use madsim::runtime::{Handle, Runtime};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STEADY_STATE: &str = include_str!("../benches/steady-state.toml");
const RANDOM_FAULTS_ACKS_ALL: &str = include_str!("../../scenarios/random-faults-acks-all.toml");
const PING_PONG_ROUND_TRIPS: u64 = 200_000;

/// The partition counts of the `partitions` case, smallest first.
pub const PARTITION_COUNTS: [u32; 4] = [10, 100, 1_000, 10_000];
/// The `partitions` case spreads its partitions over this many topics (a topic may have at
/// most `scenario::MAX_PARTITIONS`), each with one producer.
pub const PARTITIONS_TOPICS: u32 = 10;
/// The seeds of the `sweep` case: `0..SWEEP_SEEDS`.
pub const SWEEP_SEEDS: u64 = 200;
/// How long the parent waits past a child's own time limit before it kills the child.
const CHILD_GRACE: Duration = Duration::from_secs(10);

/// A case of the suite.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Case {
    Steady,
    Partitions,
    BigCluster,
    Sweep,
    /// Sleeps past any time limit: tests that a run over its limit is reported, not waited for.
    #[value(hide = true)]
    Sleep,
}

impl Case {
    /// Every case the suite runs without `--case`, in order.
    pub const ALL: [Case; 4] = [
        Case::Steady,
        Case::Partitions,
        Case::BigCluster,
        Case::Sweep,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Case::Steady => "steady",
            Case::Partitions => "partitions",
            Case::BigCluster => "big-cluster",
            Case::Sweep => "sweep",
            Case::Sleep => "sleep",
        }
    }
}

/// The command line of `kafka-sim bench`.
#[derive(Clone, Debug)]
pub struct Options {
    /// The cases to run; empty means every case in `Case::ALL`.
    pub cases: Vec<Case>,
    pub json: bool,
    /// The wall-time limit of each run (each child, with several cases).
    pub timeout: Duration,
    /// A run whose resident memory passes this is stopped and reported as failed.
    pub memory_limit_mb: u64,
    /// The `big-cluster` case's size, as a fraction of 100 brokers, 10,000 partitions and
    /// 100 producers.
    pub scale: f64,
    /// The sizes of the `partitions` case; empty means `PARTITION_COUNTS`.
    pub partitions: Vec<u32>,
}

impl Options {
    fn partition_counts(&self) -> Vec<u32> {
        if self.partitions.is_empty() {
            PARTITION_COUNTS.to_vec()
        } else {
            self.partitions.clone()
        }
    }

    /// Checks the options a case will use, before anything runs.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.scale > 0.0 && self.scale <= 1.0) {
            return Err(format!("--scale {}: give a factor in (0, 1]", self.scale));
        }
        for &n in &self.partitions {
            if n == 0 || n % PARTITIONS_TOPICS != 0 {
                return Err(format!(
                    "--partitions {n}: give a multiple of {PARTITIONS_TOPICS} (the case spreads them over {PARTITIONS_TOPICS} topics)"
                ));
            }
        }
        Ok(())
    }
}

/// How a case (or one run of it) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    #[serde(rename = "ok")]
    Ok,
    #[serde(rename = "failed")]
    Failed,
    #[serde(rename = "timed out")]
    TimedOut,
    /// An earlier run of the same case timed out, so this one never started.
    #[serde(rename = "not run")]
    NotRun,
}

impl Status {
    fn words(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::TimedOut => "timed out",
            Status::NotRun => "not run",
        }
    }
}

/// One figure of a case, with its goal if it has one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    /// `None` when the run that would give it did not finish (see `note`).
    pub value: Option<f64>,
    /// `x` for a factor, `""` for a plain number, else a unit such as `records/s` or `MB`.
    pub unit: String,
    /// The goal, as `>= 1,000,000` or `<= 10 s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Figure {
    fn new(name: &str, value: Option<f64>, unit: &str) -> Figure {
        Figure {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
            goal: None,
            met: None,
            note: None,
        }
    }

    fn at_least(mut self, target: f64) -> Figure {
        self.goal = Some(format!(">= {}", with_unit(target, &self.unit)));
        self.met = self.value.map(|v| v >= target);
        self
    }

    fn at_most(mut self, target: f64) -> Figure {
        self.goal = Some(format!("<= {}", with_unit(target, &self.unit)));
        self.met = self.value.map(|v| v <= target);
        self
    }

    fn note(mut self, note: impl Into<String>) -> Figure {
        self.note = Some(note.into());
        self
    }

    fn text(&self) -> String {
        // A rate names itself by its unit: `134,411 records/s`.
        let mut s = if self.name == self.unit {
            String::new()
        } else {
            format!("{} ", self.name)
        };
        match (self.value, &self.note) {
            (Some(v), _) => s.push_str(&with_unit(v, &self.unit)),
            (None, Some(note)) => s.push_str(note),
            (None, None) => s.push_str("n/a"),
        }
        if let Some(goal) = &self.goal {
            let verdict = match self.met {
                Some(true) => ": met",
                Some(false) => ": MISSED",
                None => "",
            };
            s.push_str(&format!(" (goal {goal}{verdict})"));
        }
        if let (Some(_), Some(note)) = (self.value, &self.note) {
            s.push_str(&format!(" [{note}]"));
        }
        s
    }
}

/// One run of the `partitions` case, kept raw so a parent can merge its children's runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionsRun {
    pub partitions: u32,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub sim_secs: f64,
    pub wall_secs: f64,
    pub acked: u64,
    pub peak_memory_mb: Option<f64>,
}

/// What a case printed: one line of text, or this object as one line of JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseReport {
    pub case: String,
    /// What the case runs, in a few words.
    pub shape: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of the whole case.
    pub wall_secs: f64,
    pub figures: Vec<Figure>,
    /// The `partitions` case's runs, one per size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<PartitionsRun>,
}

impl CaseReport {
    fn new(case: Case, shape: String) -> CaseReport {
        CaseReport {
            case: case.name().to_string(),
            shape,
            status: Status::Ok,
            error: None,
            wall_secs: 0.0,
            figures: Vec::new(),
            runs: Vec::new(),
        }
    }

    fn failed(mut self, error: impl Into<String>) -> CaseReport {
        self.status = Status::Failed;
        self.error = Some(error.into());
        self
    }

    /// The one line of text.
    pub fn text(&self) -> String {
        let mut s = format!("{} ({}): ", self.case, self.shape);
        let figures: Vec<String> = self.figures.iter().map(Figure::text).collect();
        s.push_str(&figures.join(", "));
        if !self.figures.iter().any(|f| f.name == "wall") {
            if !figures.is_empty() {
                s.push_str("; ");
            }
            s.push_str(&format!("wall {:.1} s", self.wall_secs));
        }
        if self.status != Status::Ok {
            s.push_str(&format!("; {}", self.status.words().to_uppercase()));
            if let Some(e) = &self.error {
                s.push_str(&format!(": {e}"));
            }
        }
        s
    }

    /// The one line of JSON.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a case report serializes")
    }

    fn line(&self, json: bool) -> String {
        if json {
            self.json()
        } else {
            self.text()
        }
    }
}

/// `kafka-sim bench`: runs the cases, prints one line each, and returns whether every case
/// ran to the end (goals met or not).
pub fn main(opts: &Options) -> bool {
    let cases = if opts.cases.is_empty() {
        Case::ALL.to_vec()
    } else {
        opts.cases.clone()
    };
    if let [case] = cases[..] {
        let report = run_here(case, opts);
        report.status == Status::Ok
    } else {
        let mut all_ok = true;
        for case in cases {
            let report = run_in_children(case, opts);
            println!("{}", report.line(opts.json));
            let _ = std::io::stdout().flush();
            all_ok &= report.status == Status::Ok;
        }
        all_ok
    }
}

/// The scenario a case runs, as TOML (for `bench --print-scenario`, to run it with
/// `kafka-sim run`). The `partitions` case gives its largest size.
pub fn scenario_text(case: Case, opts: &Options) -> Option<String> {
    match case {
        Case::Steady => Some(STEADY_STATE.to_string()),
        Case::Partitions => opts
            .partition_counts()
            .iter()
            .max()
            .map(|n| partitions_toml(*n)),
        Case::BigCluster => Some(big_cluster_toml(&BigCluster::scaled(opts.scale))),
        Case::Sweep => Some(RANDOM_FAULTS_ACKS_ALL.to_string()),
        Case::Sleep => None,
    }
}

// ---- running a case in this process, under a watchdog ----

/// The watchdog's view of a case: the report to print if the case runs out of time or
/// memory, and whether the case already printed its own.
struct Watch {
    state: Mutex<WatchState>,
    started: Instant,
    json: bool,
}

struct WatchState {
    printed: bool,
    partial: CaseReport,
}

impl Watch {
    fn partial_shape(&self) -> String {
        self.state.lock().expect("watch").partial.shape.clone()
    }

    /// What to print if the case never finishes; its `error`, if set, says where the case
    /// was ("at 1,000 partitions").
    fn set_partial(&self, report: CaseReport) {
        self.state.lock().expect("watch").partial = report;
    }

    /// Prints the final report unless the watchdog already printed one.
    fn finish(&self, mut report: CaseReport) -> CaseReport {
        let mut state = self.state.lock().expect("watch");
        report.wall_secs = self.started.elapsed().as_secs_f64();
        if !state.printed {
            state.printed = true;
            println!("{}", report.line(self.json));
            let _ = std::io::stdout().flush();
        }
        report
    }
}

/// Runs one case here and prints its line. A thread watches the wall time and the resident
/// memory; past either limit it prints the case's report so far and ends the process (a
/// madsim run cannot be stopped from outside).
fn run_here(case: Case, opts: &Options) -> CaseReport {
    let started = Instant::now();
    let watch = Arc::new(Watch {
        state: Mutex::new(WatchState {
            printed: false,
            partial: CaseReport::new(case, shape(case, opts)),
        }),
        started,
        json: opts.json,
    });
    {
        let watch = watch.clone();
        let timeout = opts.timeout;
        let memory_limit_mb = opts.memory_limit_mb;
        std::thread::Builder::new()
            .name("bench-watchdog".into())
            .spawn(move || watchdog(&watch, timeout, memory_limit_mb))
            .expect("spawn the watchdog");
    }
    let report = match case {
        Case::Steady => steady(&watch),
        Case::Partitions => partitions_here(&opts.partition_counts(), &watch),
        Case::BigCluster => big_cluster(opts.scale, &watch),
        Case::Sweep => sweep_case(&watch),
        Case::Sleep => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    };
    watch.finish(report)
}

fn watchdog(watch: &Watch, timeout: Duration, memory_limit_mb: u64) {
    loop {
        let elapsed = watch.started.elapsed();
        let over_time = elapsed >= timeout;
        let rss_mb = current_rss_mb();
        let over_memory = rss_mb.is_some_and(|mb| mb > memory_limit_mb as f64);
        let mut state = watch.state.lock().expect("watch");
        if state.printed {
            return;
        }
        if over_time || over_memory {
            let mut report = state.partial.clone();
            report.wall_secs = elapsed.as_secs_f64();
            if over_time {
                report.status = Status::TimedOut;
                report.error = Some(match report.error.take() {
                    Some(at) => format!("no result after {} s ({at})", timeout.as_secs()),
                    None => format!("no result after {} s", timeout.as_secs()),
                });
            } else {
                report.status = Status::Failed;
                report.error = Some(format!(
                    "resident memory {:.0} MB passed the limit of {memory_limit_mb} MB",
                    rss_mb.unwrap_or_default()
                ));
            }
            println!("{}", report.line(watch.json));
            let _ = std::io::stdout().flush();
            state.printed = true;
            std::process::exit(1);
        }
        drop(state);
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn shape(case: Case, opts: &Options) -> String {
    match case {
        Case::Steady => "3 brokers, 6 partitions, RF 3, acks=all, 100,000 records".into(),
        Case::Partitions => format!(
            "3 brokers, {} partitions over {PARTITIONS_TOPICS} topics, RF 3, {} records at {}/s, acks=all",
            opts.partition_counts()
                .iter()
                .map(|n| thousands(*n as f64))
                .collect::<Vec<_>>()
                .join("/"),
            thousands(PARTITIONS_RECORDS as f64),
            thousands(PARTITIONS_RATE as f64)
        ),
        Case::BigCluster => BigCluster::scaled(opts.scale).shape(),
        Case::Sweep => format!(
            "random-faults-acks-all, seeds 0..{SWEEP_SEEDS}, {} threads",
            jobs()
        ),
        Case::Sleep => "sleeps past any limit".into(),
    }
}

fn jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse(name: &str, text: &str) -> Result<Scenario, String> {
    Scenario::parse(name, text).map_err(|e| e.to_string())
}

// ---- steady ----

fn steady(watch: &Watch) -> CaseReport {
    let report = CaseReport::new(Case::Steady, watch.partial_shape());
    let scenario = match parse("benches/steady-state.toml", STEADY_STATE) {
        Ok(s) => s,
        Err(e) => return report.failed(e),
    };
    let started = Instant::now();
    let result = world::run(&scenario, scenario.seed);
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let (outcome, _) = report::outcome(&scenario, scenario.seed, &result);
    if !outcome.passed() {
        return report.failed(format!(
            "the steady state did not meet its expectations: {}",
            outcome.expect.failures.join("; ")
        ));
    }
    let records_per_sec = outcome.records.acked as f64 / wall;
    let sim_over_wall = result.sim_time_ms as f64 / 1000.0 / wall;
    let cluster_rate = result.messages_sent as f64 / wall;
    let mut report = report;
    report.figures = vec![
        Figure::new("records/s", Some(records_per_sec), "records/s").at_least(1_000_000.0),
        Figure::new("sim/wall", Some(sim_over_wall), "x").at_least(1_000.0),
    ];
    let mut partial = report.clone();
    partial.error = Some("in the raw madsim ping-pong".into());
    watch.set_partial(partial);
    let (raw_messages, raw_wall) = ping_pong(PING_PONG_ROUND_TRIPS);
    let raw_rate = raw_messages as f64 / raw_wall.max(1e-9);
    report.figures.insert(
        0,
        Figure::new("cluster/raw", Some(cluster_rate / raw_rate), "")
            .at_least(0.5)
            .note(format!(
                "{} vs {} messages/s",
                thousands(cluster_rate),
                thousands(raw_rate)
            )),
    );
    report
        .figures
        .push(Figure::new("peak memory", peak_rss_mb(), "MB").at_most(200.0));
    report
}

/// Two madsim nodes bouncing one message back and forth, with the same network settings the
/// world uses. Returns the messages moved and the wall seconds it took.
fn ping_pong(round_trips: u64) -> (u64, f64) {
    let mut config = madsim::Config::default();
    config.net.send_latency = madsim::time::Duration::ZERO..madsim::time::Duration::from_nanos(1);
    let runtime = Runtime::with_seed_and_config(1, config);
    let started = Instant::now();
    runtime.block_on(async move {
        let handle = Handle::current();
        let a: SocketAddr = "10.9.0.1:1".parse().expect("addr");
        let b: SocketAddr = "10.9.0.2:1".parse().expect("addr");
        let pong = handle.create_node().name("pong").ip(b.ip()).build();
        let ping = handle.create_node().name("ping").ip(a.ip()).build();
        pong.spawn(async move {
            let ep = Endpoint::bind(b).await.expect("bind");
            loop {
                let (msg, from) = ep.recv_from_raw(1).await.expect("recv");
                ep.send_to_raw(from, 1, msg).await.expect("send");
            }
        });
        ping.spawn(async move {
            let ep = Endpoint::bind(a).await.expect("bind");
            madsim::time::sleep(madsim::time::Duration::from_millis(1)).await;
            for i in 0..round_trips {
                ep.send_to_raw(b, 1, Box::new(i)).await.expect("send");
                ep.recv_from_raw(1).await.expect("recv");
            }
        })
        .await
        .expect("ping task");
    });
    (round_trips * 2, started.elapsed().as_secs_f64())
}

// ---- partitions ----

/// The `partitions` case's record load, the same at every size.
pub const PARTITIONS_RECORDS: u64 = 20_000;
pub const PARTITIONS_RATE: u64 = 2_000;

/// 3 brokers and `total` partitions (RF 3, min.insync.replicas 2) over `PARTITIONS_TOPICS`
/// topics, one producer per topic with 64 keys, acks=all, linger.ms 5: 20,000 records at
/// 2,000 a second in all, whatever the size.
pub fn partitions_toml(total: u32) -> String {
    let per_topic = total / PARTITIONS_TOPICS;
    let records = PARTITIONS_RECORDS / PARTITIONS_TOPICS as u64;
    let rate = PARTITIONS_RATE / PARTITIONS_TOPICS as u64;
    let mut s = format!(
        "# The bench's partitions case at {total} partitions: the same record load as at every\n\
         # other size, so the difference in speed is what idle partitions cost.\n\
         name = \"bench-partitions-{total}\"\n\
         duration = \"15s\"\n\
         settle = \"5s\"\n\
         seed = 1\n\n\
         [cluster]\n\
         brokers = 3\n"
    );
    for t in 0..PARTITIONS_TOPICS {
        s.push_str(&format!(
            "\n[[topics]]\nname = \"t{t}\"\npartitions = {per_topic}\nreplication_factor = 3\n\
             config = {{ \"min.insync.replicas\" = 2 }}\n"
        ));
    }
    for t in 0..PARTITIONS_TOPICS {
        s.push_str(&format!(
            "\n[[producers]]\nname = \"p{t}\"\ntopic = \"t{t}\"\nrecords = {records}\nrate = {rate}\n\
             keys = 64\nstart = \"1s\"\nconfig = {{ \"acks\" = \"all\", \"linger.ms\" = 5 }}\n"
        ));
    }
    s.push_str(&format!(
        "\n[expect]\nacked = \"{PARTITIONS_RECORDS}\"\nviolations = []\n"
    ));
    s
}

fn partitions_run(total: u32) -> PartitionsRun {
    reset_peak_rss();
    let mut run = PartitionsRun {
        partitions: total,
        status: Status::Ok,
        error: None,
        sim_secs: 0.0,
        wall_secs: 0.0,
        acked: 0,
        peak_memory_mb: None,
    };
    let scenario = match parse(
        &format!("bench-partitions-{total}"),
        &partitions_toml(total),
    ) {
        Ok(s) => s,
        Err(e) => {
            run.status = Status::Failed;
            run.error = Some(e);
            return run;
        }
    };
    let started = Instant::now();
    let result = world::run(&scenario, scenario.seed);
    run.wall_secs = started.elapsed().as_secs_f64().max(1e-9);
    run.sim_secs = result.sim_time_ms as f64 / 1000.0;
    let (outcome, _) = report::outcome(&scenario, scenario.seed, &result);
    run.acked = outcome.records.acked;
    run.peak_memory_mb = peak_rss_mb();
    if !outcome.passed() {
        run.status = Status::Failed;
        run.error = Some(outcome.expect.failures.join("; "));
    }
    run
}

fn partitions_here(counts: &[u32], watch: &Watch) -> CaseReport {
    let mut runs: Vec<PartitionsRun> = Vec::new();
    for (i, &n) in counts.iter().enumerate() {
        // What the watchdog prints if this size never finishes.
        let mut partial = runs.clone();
        for (j, &m) in counts.iter().enumerate().skip(i) {
            partial.push(PartitionsRun {
                partitions: m,
                status: if j == i {
                    Status::TimedOut
                } else {
                    Status::NotRun
                },
                error: None,
                sim_secs: 0.0,
                wall_secs: 0.0,
                acked: 0,
                peak_memory_mb: None,
            });
        }
        let mut report = partitions_report(watch.partial_shape(), partial);
        report.error = Some(format!("at {} partitions", thousands(n as f64)));
        watch.set_partial(report);
        runs.push(partitions_run(n));
    }
    partitions_report(watch.partial_shape(), runs)
}

/// The `partitions` line from its runs (in this process or in children).
pub fn partitions_report(shape: String, mut runs: Vec<PartitionsRun>) -> CaseReport {
    runs.sort_by_key(|r| r.partitions);
    let mut report = CaseReport::new(Case::Partitions, shape);
    let sim_over_wall = |r: &PartitionsRun| {
        (r.status == Status::Ok && r.wall_secs > 0.0).then(|| r.sim_secs / r.wall_secs)
    };
    for r in &runs {
        let mut f = Figure::new(
            &format!("sim/wall @{}", thousands(r.partitions as f64)),
            sim_over_wall(r),
            "x",
        );
        if r.status != Status::Ok {
            f = f.note(r.status.words());
        }
        report.figures.push(f);
    }
    if let (Some(small), Some(large)) = (runs.first(), runs.last()) {
        if runs.len() > 1 {
            let slowdown = sim_over_wall(small)
                .zip(sim_over_wall(large))
                .map(|(s, l)| s / l);
            report.figures.push(
                Figure::new(
                    &format!(
                        "slowdown {}->{}",
                        thousands(small.partitions as f64),
                        thousands(large.partitions as f64)
                    ),
                    slowdown,
                    "x",
                )
                .at_most(2.0),
            );
        }
    }
    let peak = runs
        .iter()
        .filter_map(|r| r.peak_memory_mb)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    report.figures.push(Figure::new("peak memory", peak, "MB"));
    let bad: Vec<&PartitionsRun> = runs.iter().filter(|r| r.status != Status::Ok).collect();
    if !bad.is_empty() {
        report.status = if bad.iter().any(|r| r.status == Status::Failed) {
            Status::Failed
        } else {
            Status::TimedOut
        };
        report.error = Some(
            bad.iter()
                .map(|r| {
                    let mut s = format!(
                        "{} partitions {}",
                        thousands(r.partitions as f64),
                        r.status.words()
                    );
                    if let Some(e) = &r.error {
                        s.push_str(&format!(" ({e})"));
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    report.wall_secs = runs.iter().map(|r| r.wall_secs).sum();
    report.runs = runs;
    report
}

// ---- big-cluster ----

/// The `big-cluster` case's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct BigCluster {
    pub brokers: u32,
    pub topics: u32,
    pub partitions_per_topic: u32,
    pub producers: u32,
}

/// When the controller is killed, and how long the run goes on in all (simulated).
pub const BIG_CLUSTER_KILL_AT_SECS: u64 = 20;
pub const BIG_CLUSTER_RUN_SECS: u64 = 60;

impl BigCluster {
    /// 100 brokers, 10 topics of 1,000 partitions, 100 producers, times `scale` (at least 3
    /// brokers, a partition per topic and a producer).
    pub fn scaled(scale: f64) -> BigCluster {
        let of = |n: f64, min: u32| ((n * scale).round() as u32).max(min);
        BigCluster {
            brokers: of(100.0, 3),
            topics: 10,
            partitions_per_topic: of(1_000.0, 1),
            producers: of(100.0, 1),
        }
    }

    pub fn partitions(&self) -> u32 {
        self.topics * self.partitions_per_topic
    }

    fn shape(&self) -> String {
        format!(
            "{} brokers, {} partitions, RF 3, {} producers, acks=all, controller killed at {BIG_CLUSTER_KILL_AT_SECS} s, {BIG_CLUSTER_RUN_SECS} s simulated",
            self.brokers,
            thousands(self.partitions() as f64),
            self.producers
        )
    }
}

/// The `big-cluster` scenario: RF 3 and min.insync.replicas 2 on every topic, producers
/// spread over the topics in turn (64 keys, acks=all, 500 records at 10 a second each), the
/// controller killed at 20 s; 50 s of faults and 10 s of settle make 60 s simulated.
pub fn big_cluster_toml(shape: &BigCluster) -> String {
    let mut s = format!(
        "# The bench's big-cluster case: {}.\n\
         name = \"bench-big-cluster\"\n\
         duration = \"50s\"\n\
         settle = \"{}s\"\n\
         seed = 1\n\n\
         [cluster]\n\
         brokers = {}\n\n\
         [cluster.config]\n\
         \"zookeeper.session.timeout.ms\" = 6000\n",
        shape.shape(),
        BIG_CLUSTER_RUN_SECS - 50,
        shape.brokers
    );
    for t in 0..shape.topics {
        s.push_str(&format!(
            "\n[[topics]]\nname = \"t{t}\"\npartitions = {}\nreplication_factor = 3\n\
             config = {{ \"min.insync.replicas\" = 2 }}\n",
            shape.partitions_per_topic
        ));
    }
    for p in 0..shape.producers {
        s.push_str(&format!(
            "\n[[producers]]\nname = \"p{p}\"\ntopic = \"t{}\"\nrecords = 500\nrate = 10\nkeys = 64\n\
             start = \"1s\"\nconfig = {{ \"acks\" = \"all\", \"linger.ms\" = 5, \"request.timeout.ms\" = 5000 }}\n",
            p % shape.topics
        ));
    }
    s.push_str(&format!(
        "\n[[faults]]\nat = \"{BIG_CLUSTER_KILL_AT_SECS}s\"\naction = \"crash\"\ntarget = \"controller\"\n\n\
         [expect]\nacked_lost = \"0\"\nviolations = []\n"
    ));
    s
}

fn big_cluster(scale: f64, watch: &Watch) -> CaseReport {
    let report = CaseReport::new(Case::BigCluster, watch.partial_shape());
    let shape = BigCluster::scaled(scale);
    let scenario = match parse("bench-big-cluster", &big_cluster_toml(&shape)) {
        Ok(s) => s,
        Err(e) => return report.failed(e),
    };
    let started = Instant::now();
    let result = world::run(&scenario, scenario.seed);
    let (outcome, _) = report::outcome(&scenario, scenario.seed, &result);
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let mut report = report;
    let recovery = leader_recovery(&scenario, &result.events);
    let back = match &recovery {
        None => Figure::new("leaders back after", None, "s").note("no controller kill"),
        Some(r) => match r.restored_at_ms {
            Some(at) => Figure::new(
                "leaders back after",
                Some((at - r.kill_at_ms) as f64 / 1000.0),
                "s",
            )
            .note(format!(
                "{} leaderless at the kill",
                thousands(r.leaderless_at_kill as f64)
            )),
            None => Figure::new("leaders back after", None, "s").note(format!(
                "never: {} partitions still had no leader at the end",
                thousands(r.leaderless_at_end as f64)
            )),
        },
    };
    report.figures = vec![
        Figure::new("wall", Some(wall), "s").at_most(10.0),
        Figure::new("peak memory", peak_rss_mb(), "MB").at_most(2_048.0),
        back,
        Figure::new(
            "events/s",
            Some(result.events.len() as f64 / wall),
            "events/s",
        ),
    ];
    if !outcome.passed() {
        report = report.failed(outcome.expect.failures.join("; "));
    }
    report
}

/// How the partitions fared after the controller was killed.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaderRecovery {
    /// The broker that was the controller when the kill fault fired (none if there was no
    /// controller then, and the fault did nothing).
    pub killed: Option<BrokerId>,
    pub kill_at_ms: u64,
    /// Partitions with no leader, or led by the killed broker, right after the kill.
    pub leaderless_at_kill: usize,
    /// When every partition of the scenario's topics had a live leader again.
    pub restored_at_ms: Option<u64>,
    /// Partitions still without a live leader when the record ends.
    pub leaderless_at_end: usize,
}

/// Reads, from a run's events, how long after the first `crash` of the `controller` every
/// partition had a leader again. A partition's leader is the one its last `LeaderElected`
/// named; the killed broker (the last elected controller before the kill) counts as no
/// leader until it registers with ZooKeeper again. A partition never elected counts as
/// leaderless.
pub fn leader_recovery(scenario: &Scenario, events: &[RecordedEvent]) -> Option<LeaderRecovery> {
    let kill_at_ms = scenario
        .faults
        .iter()
        .filter(|f| matches!(f.action, FaultAction::Crash(Target::Controller)))
        .map(|f| f.at_ms)
        .min()?;
    let all: BTreeSet<TopicPartition> = scenario
        .topics
        .iter()
        .flat_map(|t| (0..t.partitions).map(|p| TopicPartition::new(&t.name, p)))
        .collect();
    let mut leader: BTreeMap<TopicPartition, Option<BrokerId>> = BTreeMap::new();
    let mut controller = None;
    let split = events.partition_point(|e| e.at_ms <= kill_at_ms);
    for e in &events[..split] {
        match &e.event {
            Event::LeaderElected { tp, leader: l, .. } => {
                leader.insert(tp.clone(), *l);
            }
            Event::ControllerElected { broker, .. } => controller = Some(*broker),
            _ => {}
        }
    }
    let mut killed = controller;
    let live = |l: &Option<BrokerId>, killed: Option<BrokerId>| l.is_some() && *l != killed;
    let mut leaderless: BTreeSet<TopicPartition> = all
        .iter()
        .filter(|tp| !live(leader.get(*tp).unwrap_or(&None), killed))
        .cloned()
        .collect();
    let leaderless_at_kill = leaderless.len();
    let mut restored_at_ms = leaderless.is_empty().then_some(kill_at_ms);
    for e in &events[split..] {
        if restored_at_ms.is_some() {
            break;
        }
        match &e.event {
            Event::LeaderElected { tp, leader: l, .. } if all.contains(tp) => {
                leader.insert(tp.clone(), *l);
                if live(l, killed) {
                    leaderless.remove(tp);
                } else {
                    leaderless.insert(tp.clone());
                }
            }
            Event::BrokerRegistered { broker, .. } if Some(*broker) == killed => {
                killed = None;
                leaderless.retain(|tp| !live(leader.get(tp).unwrap_or(&None), None));
            }
            _ => continue,
        }
        if leaderless.is_empty() {
            restored_at_ms = Some(e.at_ms);
        }
    }
    Some(LeaderRecovery {
        killed: controller,
        kill_at_ms,
        leaderless_at_kill,
        restored_at_ms,
        leaderless_at_end: leaderless.len(),
    })
}

// ---- sweep ----

fn sweep_case(watch: &Watch) -> CaseReport {
    let report = CaseReport::new(Case::Sweep, watch.partial_shape());
    let scenario = match parse(
        "scenarios/random-faults-acks-all.toml",
        RANDOM_FAULTS_ACKS_ALL,
    ) {
        Ok(s) => s,
        Err(e) => return report.failed(e),
    };
    let seeds: Vec<u64> = (0..SWEEP_SEEDS).collect();
    let started = Instant::now();
    let outcomes = sweep::run_seeds(&scenario, &seeds, jobs(), false, Default::default());
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let failed = outcomes
        .iter()
        .filter(|o| !o.outcome().is_some_and(|o| o.passed()))
        .count();
    let mut report = report;
    report.figures = vec![
        Figure::new("seeds/s", Some(seeds.len() as f64 / wall), "seeds/s").at_least(100.0),
        Figure::new("failed seeds", Some(failed as f64), "").at_most(0.0),
        Figure::new("peak memory", peak_rss_mb(), "MB"),
    ];
    report
}

// ---- children ----

/// Runs a case in child processes of this binary: the case, or each size of `partitions`,
/// in one of its own. A child that fails or runs past its limit is reported, never waited
/// on for ever.
fn run_in_children(case: Case, opts: &Options) -> CaseReport {
    let mut common = vec![
        "--format".to_string(),
        "json".to_string(),
        "--timeout-secs".to_string(),
        opts.timeout.as_secs().to_string(),
        "--memory-limit-mb".to_string(),
        opts.memory_limit_mb.to_string(),
        "--scale".to_string(),
        opts.scale.to_string(),
    ];
    let started = Instant::now();
    if case == Case::Partitions {
        let mut runs = Vec::new();
        for n in opts.partition_counts() {
            let mut args = vec!["--partitions".to_string(), n.to_string()];
            args.extend(common.iter().cloned());
            eprintln!("bench: partitions at {n} partitions ...");
            let run = match child(case, &args, opts.timeout) {
                Ok(report) => match report.runs.into_iter().next() {
                    Some(run) => run,
                    None => PartitionsRun {
                        status: report.status,
                        error: report.error,
                        ..PartitionsRun::empty(n)
                    },
                },
                Err((status, error)) => PartitionsRun {
                    status,
                    error: Some(error),
                    ..PartitionsRun::empty(n)
                },
            };
            runs.push(run);
        }
        let mut report = partitions_report(shape(case, opts), runs);
        report.wall_secs = started.elapsed().as_secs_f64();
        report
    } else {
        eprintln!("bench: {} ...", case.name());
        let args = std::mem::take(&mut common);
        match child(case, &args, opts.timeout) {
            Ok(report) => report,
            Err((status, error)) => {
                let mut report = CaseReport::new(case, shape(case, opts));
                report.status = status;
                report.error = Some(error);
                report.wall_secs = started.elapsed().as_secs_f64();
                report
            }
        }
    }
}

impl PartitionsRun {
    fn empty(partitions: u32) -> PartitionsRun {
        PartitionsRun {
            partitions,
            status: Status::Failed,
            error: None,
            sim_secs: 0.0,
            wall_secs: 0.0,
            acked: 0,
            peak_memory_mb: None,
        }
    }
}

/// Runs `kafka-sim bench --case CASE ARGS` and reads the report it printed. The child keeps
/// its own time limit; if it has not ended `CHILD_GRACE` after that, it is killed.
fn child(case: Case, args: &[String], timeout: Duration) -> Result<CaseReport, (Status, String)> {
    let exe = std::env::current_exe()
        .map_err(|e| (Status::Failed, format!("cannot find this program: {e}")))?;
    let mut child = Command::new(exe)
        .args(["bench", "--case", case.name()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| (Status::Failed, format!("cannot start a child: {e}")))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout + CHILD_GRACE;
    let mut killed = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                killed = true;
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err((Status::Failed, format!("cannot wait for the child: {e}"))),
        }
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if let Some(report) = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<CaseReport>(l).ok())
    {
        return Ok(report);
    }
    if killed {
        return Err((
            Status::TimedOut,
            format!("no result after {} s; killed", timeout.as_secs()),
        ));
    }
    let tail: Vec<&str> = err.lines().rev().take(3).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err((
        Status::Failed,
        format!(
            "the child ended ({}) without a report: {}",
            status.map_or("killed".to_string(), |s| s.to_string()),
            tail.join(" / ")
        ),
    ))
}

// ---- memory and numbers ----

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The process's peak resident memory (`VmHWM` on Linux).
fn peak_rss_mb() -> Option<f64> {
    proc_status_kib("VmHWM:").map(|kib| kib as f64 / 1024.0)
}

fn current_rss_mb() -> Option<f64> {
    proc_status_kib("VmRSS:").map(|kib| kib as f64 / 1024.0)
}

/// Starts the peak resident memory over from the current one (Linux), so a run's peak is
/// its own and not an earlier run's in the same process.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `1234567.8` as `1,234,568`; numbers under 1,000 keep two significant decimals at most.
pub fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.abs() < 1_000.0 {
        return if v.fract() == 0.0 || v.abs() >= 100.0 {
            format!("{v:.0}")
        } else if v.abs() >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        };
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

fn with_unit(v: f64, unit: &str) -> String {
    match unit {
        "" => thousands(v),
        "x" => format!("{}x", thousands(v)),
        unit => format!("{} {unit}", thousands(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_model::event::ElectionReason;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(83.25), "83.2");
        assert_eq!(thousands(0.181), "0.18");
        assert_eq!(thousands(10.0), "10");
        assert_eq!(with_unit(1_000.0, "x"), "1,000x");
        assert_eq!(with_unit(117.4, "MB"), "117 MB");
    }

    #[test]
    fn a_figure_shows_its_goal_and_whether_it_is_met() {
        let f = Figure::new("records/s", Some(128_205.0), "records/s").at_least(1_000_000.0);
        assert_eq!(
            f.text(),
            "128,205 records/s (goal >= 1,000,000 records/s: MISSED)"
        );
        let f = Figure::new("wall", Some(4.5), "s").at_most(10.0);
        assert_eq!(f.text(), "wall 4.50 s (goal <= 10 s: met)");
        let f = Figure::new("sim/wall @10", None, "x").note("timed out");
        assert_eq!(f.text(), "sim/wall @10 timed out");
    }

    #[test]
    fn a_report_is_one_line_of_text_or_of_json() {
        let mut r = CaseReport::new(Case::Sweep, "random-faults-acks-all".into());
        r.figures
            .push(Figure::new("seeds/s", Some(12.5), "seeds/s").at_least(100.0));
        r.wall_secs = 16.0;
        assert_eq!(
            r.text(),
            "sweep (random-faults-acks-all): 12.5 seeds/s (goal >= 100 seeds/s: MISSED); wall 16.0 s"
        );
        let json = r.json();
        assert!(!json.contains('\n'));
        let back: CaseReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let r = r.failed("boom");
        assert!(r.text().ends_with("; FAILED: boom"), "{}", r.text());
        assert!(r.json().contains(r#""status":"failed""#));
    }

    fn run(partitions: u32, status: Status, sim: f64, wall: f64) -> PartitionsRun {
        PartitionsRun {
            partitions,
            status,
            error: None,
            sim_secs: sim,
            wall_secs: wall,
            acked: 0,
            peak_memory_mb: Some(partitions as f64),
        }
    }

    #[test]
    fn the_partitions_line_compares_the_largest_with_the_smallest() {
        let r = partitions_report(
            "shape".into(),
            vec![
                run(1_000, Status::Ok, 20.0, 0.5),
                run(10, Status::Ok, 20.0, 0.2),
            ],
        );
        assert_eq!(r.status, Status::Ok);
        let names: Vec<&str> = r.figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sim/wall @10",
                "sim/wall @1,000",
                "slowdown 10->1,000",
                "peak memory"
            ]
        );
        assert_eq!(r.figures[2].value, Some(2.5));
        assert_eq!(r.figures[2].met, Some(false));
        assert_eq!(r.figures[3].value, Some(1_000.0));

        let r = partitions_report(
            "shape".into(),
            vec![
                run(10, Status::Ok, 20.0, 0.2),
                run(100, Status::TimedOut, 0.0, 0.0),
                run(1_000, Status::NotRun, 0.0, 0.0),
            ],
        );
        assert_eq!(r.status, Status::TimedOut);
        assert_eq!(r.figures[1].note.as_deref(), Some("timed out"));
        assert_eq!(r.figures[3].value, None, "no slowdown without the largest");
        assert!(
            r.text().contains("100 partitions timed out"),
            "{}",
            r.text()
        );
    }

    #[test]
    fn generated_scenarios_parse() {
        for n in PARTITION_COUNTS {
            let s = Scenario::parse("p", &partitions_toml(n)).unwrap();
            assert_eq!(s.topics.iter().map(|t| t.partitions).sum::<u32>(), n);
            assert_eq!(
                s.producers.iter().map(|p| p.records).sum::<u64>(),
                PARTITIONS_RECORDS
            );
        }
        let shape = BigCluster::scaled(0.1);
        assert_eq!(
            shape,
            BigCluster {
                brokers: 10,
                topics: 10,
                partitions_per_topic: 100,
                producers: 10
            }
        );
        let s = Scenario::parse("big", &big_cluster_toml(&shape)).unwrap();
        assert_eq!(s.cluster.broker_ids().len(), 10);
        assert_eq!(s.producers.len(), 10);
        assert_eq!(s.duration_ms + s.settle_ms, BIG_CLUSTER_RUN_SECS * 1000);
        assert!(matches!(
            s.faults[0].action,
            FaultAction::Crash(Target::Controller)
        ));
        let full = BigCluster::scaled(1.0);
        assert_eq!(
            (full.brokers, full.partitions(), full.producers),
            (100, 10_000, 100)
        );
    }

    fn at(at_ms: u64, event: Event) -> RecordedEvent {
        RecordedEvent { at_ms, event }
    }

    fn elected(tp: &TopicPartition, leader: Option<BrokerId>) -> Event {
        Event::LeaderElected {
            tp: tp.clone(),
            leader,
            previous_leader: None,
            leader_epoch: 0,
            isr: vec![],
            unclean: false,
            reason: ElectionReason::NewPartition,
            controller_epoch: 1,
        }
    }

    #[test]
    fn leaders_are_back_when_the_last_partition_of_the_killed_controller_has_a_new_leader() {
        let scenario = Scenario::parse(
            "t",
            "name = \"t\"\n[cluster]\nbrokers = 3\n[[topics]]\nname = \"a\"\npartitions = 3\n\
             [[faults]]\nat = \"10s\"\naction = \"crash\"\ntarget = \"controller\"\n",
        )
        .unwrap();
        let tp = |p| TopicPartition::new("a", p);
        let events = vec![
            at(
                100,
                Event::ControllerElected {
                    broker: 1,
                    controller_epoch: 1,
                },
            ),
            at(200, elected(&tp(0), Some(0))),
            at(200, elected(&tp(1), Some(1))),
            at(200, elected(&tp(2), Some(1))),
            at(
                16_000,
                Event::ControllerElected {
                    broker: 2,
                    controller_epoch: 2,
                },
            ),
            at(16_100, elected(&tp(1), Some(2))),
            at(16_100, elected(&tp(2), None)),
            at(17_000, elected(&tp(2), Some(0))),
            at(18_000, elected(&tp(0), Some(2))),
        ];
        let r = leader_recovery(&scenario, &events).unwrap();
        assert_eq!(
            r,
            LeaderRecovery {
                killed: Some(1),
                kill_at_ms: 10_000,
                leaderless_at_kill: 2,
                restored_at_ms: Some(17_000),
                leaderless_at_end: 0,
            }
        );

        // Cut short before partition 2 gets its leader: never restored.
        let r = leader_recovery(&scenario, &events[..7]).unwrap();
        assert_eq!(r.restored_at_ms, None);
        assert_eq!(r.leaderless_at_end, 1);

        // The killed broker coming back gives its partitions a live leader again.
        let mut events = events[..5].to_vec();
        events.push(at(
            30_000,
            Event::BrokerRegistered {
                broker: 1,
                session_id: 9,
            },
        ));
        let r = leader_recovery(&scenario, &events).unwrap();
        assert_eq!(r.restored_at_ms, Some(30_000));
    }
}
