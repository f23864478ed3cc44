//! The `kafka-sim` command line.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use kafka_sim::check::groups;
use kafka_sim::scenario::Scenario;
use kafka_sim::sweep::{self, SeedRange, Shard};
use kafka_sim::world;
use kafka_sim::{narrate, report};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kafka-sim",
    version,
    about = "A deterministic simulator of an Apache Kafka cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// The wall-clock watchdog of a run.
#[derive(clap::Args, Clone, Copy)]
struct LimitArgs {
    /// Stop a run that takes longer than this many seconds of wall time, with exit code 3 and
    /// no outcome (in a sweep: that seed is recorded as `wall-time-limit` and the sweep goes
    /// on); 0 turns the watchdog off. A run stuck at one simulated instant is caught
    /// deterministically anyway, as a `livelock` finding.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    wall_time_limit: u64,
}

impl LimitArgs {
    fn limits(self) -> world::RunLimits {
        world::RunLimits {
            wall_time_limit: (self.wall_time_limit > 0)
                .then(|| std::time::Duration::from_secs(self.wall_time_limit)),
        }
    }
}

/// Exit code of a run the wall-clock watchdog stopped.
const EXIT_WALL_TIME: u8 = 3;

#[derive(Subcommand)]
enum Command {
    /// Run a scenario with a seed and report what happened.
    Run {
        /// The scenario file (TOML).
        file: String,
        /// The seed; defaults to the scenario's `seed`.
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Add a timeline in plain words: `--narrate` tells the story (a consumer group's
        /// routine processing and commits folded into one line per consumer and per group
        /// between two events worth telling); `--narrate=all` tells every record processed and
        /// every commit too.
        #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "story", value_name = "DETAIL")]
        narrate: Option<NarrateDetail>,
        /// Write every event as one JSON line to this file.
        #[arg(long, value_name = "FILE.jsonl")]
        trace: Option<String>,
        /// Print wall time and events per second to stderr.
        #[arg(long)]
        stats: bool,
        /// Print the fault schedule the nemesis draws for this seed, as [[faults]] TOML,
        /// and exit without running.
        #[arg(long)]
        show_schedule: bool,
        /// End with the table `kafka-consumer-groups.sh --describe` prints for every group
        /// (the JSON outcome always has it, under `groups`).
        #[arg(long)]
        describe_groups: bool,
        /// End with every transactional id as `kafka-transactions.sh describe` shows it
        /// after the settle (coordinator, producer id and epoch, state, open partitions), with
        /// its committed and aborted transactions and fenced instances (the JSON outcome
        /// always has them, under `transactions`).
        #[arg(long)]
        describe_transactions: bool,
        /// List internal topics (`__consumer_offsets`) in the partition table too.
        #[arg(long)]
        describe_internal: bool,
        /// Also print both describe tables (`kafka-topics.sh --describe` with each replica's
        /// LEO and HW, and `kafka-consumer-groups.sh --describe`) as they stood at this
        /// simulated moment, such as `15s` or `12500ms`; repeatable. The JSON outcome gets
        /// them under `describe_at`.
        #[arg(long = "describe-at", value_name = "TIME", value_parser = parse_moment_ms)]
        describe_at: Vec<u64>,
        /// End with each replica's segments of this partition (such as `orders-0`) after the
        /// run, as `kafka-dump-log.sh --print-data-log` prints them: every batch's header and
        /// every record's offset, timestamp, key and value or tombstone. The JSON outcome
        /// gets the lines under `dump_log`.
        #[arg(long = "dump-log", value_name = "TOPIC-PARTITION")]
        dump_log: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// What if I had set X? Run the scenario as written and with the changes, same seed and
    /// same faults (a nemesis schedule is drawn once, from the scenario as written), and show
    /// the two outcomes side by side, the first moment the runs part and the narrated lines
    /// around it in both.
    ///
    /// KEY is a path in the scenario file: `cluster.config.<kafka key>`, `cluster.<key>`,
    /// `topic.<name>.<key>`, `producer.<name>.<key>`, `consumer.<name>.<key>`,
    /// `network.<key>`, or a top-level key such as `duration`; quote a name with dots as
    /// TOML does: `topic."orders.v1".min.insync.replicas=2`.
    WhatIf {
        /// The scenario file (TOML).
        file: String,
        /// The seed of both runs; defaults to the scenario's `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// A change, KEY=VALUE; repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// One run per value instead, all with the same seed and faults, as a table:
        /// KEY=V1,V2,... (with any --set applied to every run).
        #[arg(long, value_name = "KEY=V1,V2,...")]
        vary: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also write both timelines in one HTML page, one above the other on one time axis.
        #[arg(long, value_name = "FILE.html")]
        out: Option<String>,
    },
    /// Run a scenario with a seed and write a self-contained HTML report of the run: a
    /// panel per partition (each replica's LEO and HW, ISR membership and leadership over
    /// time, with the faults, elections, truncations and lost records), the consumer
    /// groups, the narrated timeline and a time cursor that shows the describe table at
    /// each step.
    Report {
        /// The scenario file (TOML).
        file: String,
        /// The seed; defaults to the scenario's `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the page.
        #[arg(long, value_name = "run.html")]
        out: String,
    },
    /// Validate a scenario file without running it.
    Check {
        /// The scenario file (TOML).
        file: String,
    },
    /// The scale suite: one line of figures per case, each goal beside its figure.
    ///
    /// One case runs in this process; several (the default: all) run each in a child
    /// process of its own, so each case's peak memory is its own. Build it with
    /// `--profile bench-fast` (release without debug assertions) so figures stay comparable.
    Bench {
        /// The cases to run, comma-separated (default: every case).
        #[arg(long, value_enum, value_delimiter = ',')]
        case: Vec<kafka_sim::bench::Case>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Wall-time limit of each run (each child process); past it the run is reported
        /// as `timed out` with the figures it has so far.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
        /// Stop a run whose resident memory passes this, and report it as failed.
        #[arg(long, default_value_t = 8192)]
        memory_limit_mb: u64,
        /// Shrink the big-cluster case to this fraction of 100 brokers, 10,000 partitions
        /// and 100 producers (e.g. 0.5 while scenarios are capped below 100 brokers).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// The partition counts of the partitions case, comma-separated multiples of 10
        /// (default: 10,100,1000,10000).
        #[arg(long, value_delimiter = ',')]
        partitions: Vec<u32>,
        /// Print the scenario the case runs (TOML, for `kafka-sim run`) and exit.
        #[arg(long)]
        print_scenario: bool,
    },
    /// Run a scenario over many seeds in parallel and summarize.
    Sweep {
        /// The scenario file (TOML).
        file: String,
        /// Seeds to run, as a range `A..B`.
        #[arg(long, default_value = "0..100")]
        seeds: SeedRange,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Write one JSON line per seed (the `run --format json` object).
        #[arg(long, value_name = "results.jsonl")]
        out: Option<String>,
        /// Take every N-th seed starting at the I-th.
        #[arg(long, value_name = "I/N", conflicts_with = "shards")]
        shard: Option<Shard>,
        /// Like --shard, with I from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID.
        #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "0")]
        shards: Option<u64>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Cut a failing seed down to a minimal scenario that fails on its own.
    Shrink {
        /// The scenario file (TOML).
        file: String,
        #[arg(long)]
        seed: u64,
        /// Where to write the minimal scenario.
        #[arg(long, value_name = "minimal.toml")]
        out: String,
        /// The invariant to keep broken (default: the first one the seed breaks; `panic` if
        /// the simulator panics on the seed).
        #[arg(long)]
        invariant: Option<String>,
        /// The sweep results the seed came from: refuse to shrink it if another build or
        /// another version of the scenario ran it.
        #[arg(long, value_name = "results.jsonl")]
        results: Option<String>,
    },
    /// Summarize the union of sweep result files.
    Merge {
        /// Result files (JSON lines) that `sweep --out` wrote.
        #[arg(required = true)]
        files: Vec<String>,
        /// The scenario the results are of, for the replay commands (default:
        /// scenarios/NAME.toml when that file is the one the results were run from).
        #[arg(long)]
        scenario: Option<String>,
    },
    /// Check the model's rules against Kafka's own classes: random cases from a seed go to
    /// the oracle programs in conformance/ (build them with conformance/build.sh; they need
    /// Java 17) and to the model, and every case where the answers differ is printed.
    Conformance {
        /// The oracles to run, comma-separated: partitioner, assignors, election, groups,
        /// producer-state, log, partition-change (default: all).
        #[arg(long, value_delimiter = ',')]
        oracle: Vec<String>,
        /// Cases per oracle.
        #[arg(long, default_value_t = 2_000)]
        cases: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The conformance/ folder of a checkout (default: ./conformance).
        #[arg(long, default_value = "conformance")]
        dir: String,
    },
    /// Run one of Kafka's consumer partition assignors on a group described in JSON and
    /// print the assignment as JSON.
    Assign {
        /// The group (JSON), or `-` for standard input.
        #[arg(value_name = "FILE.json")]
        file: String,
    },
    /// Run the log layer alone (segments, retention, the cleaner, DeleteRecords) on one
    /// replica's log described in JSON, step by step, and print each step's log as JSON.
    Log {
        /// The log and its steps (JSON), or `-` for standard input.
        #[arg(value_name = "FILE.json")]
        file: String,
    },
    /// Write a scenario skeleton for a real cluster from what `kafka-topics.sh --describe`
    /// printed (and, optionally, `kafka-configs.sh --describe --all --entity-type brokers`).
    Import {
        /// The output of `kafka-topics.sh --describe`.
        #[arg(value_name = "describe.txt")]
        describe: String,
        /// The output of `kafka-configs.sh --describe --all --entity-type brokers`.
        #[arg(long, value_name = "configs.txt")]
        configs: Option<String>,
        /// Where to write the scenario.
        #[arg(long, value_name = "my-cluster.toml")]
        out: String,
    },
    /// Run each seed twice (once on another thread) and compare the records event by event.
    CheckDeterminism {
        /// The scenario file (TOML).
        file: String,
        #[arg(long, default_value = "0..10")]
        seeds: SeedRange,
    },
}

/// Exit codes: 0 ran and every expectation held; 1 an expectation failed; 2 bad input.
fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Run {
            file,
            seed,
            format,
            narrate,
            trace,
            stats,
            show_schedule,
            describe_groups,
            describe_transactions,
            describe_internal,
            describe_at,
            dump_log,
            limits,
        } => {
            if show_schedule {
                show(&file, seed)
            } else {
                run(
                    &file,
                    seed,
                    &RunOptions {
                        format,
                        narrate,
                        trace,
                        stats,
                        describe_groups,
                        describe_transactions,
                        describe_internal,
                        describe_at,
                        dump_log,
                        limits: limits.limits(),
                    },
                )
            }
        }
        Command::Bench {
            case,
            format,
            timeout_secs,
            memory_limit_mb,
            scale,
            partitions,
            print_scenario,
        } => {
            let opts = kafka_sim::bench::Options {
                cases: case,
                json: format == Format::Json,
                timeout: std::time::Duration::from_secs(timeout_secs),
                memory_limit_mb,
                scale,
                partitions,
            };
            bench(&opts, print_scenario)
        }
        Command::Sweep {
            file,
            seeds,
            jobs,
            out,
            shard,
            shards,
            limits,
        } => run_sweep(
            &file,
            seeds,
            jobs,
            out.as_deref(),
            shard,
            shards,
            limits.limits(),
        ),
        Command::Shrink {
            file,
            seed,
            out,
            invariant,
            results,
        } => run_shrink(&file, seed, &out, invariant.as_deref(), results.as_deref()),
        Command::Merge { files, scenario } => run_merge(&files, scenario.as_deref()),
        Command::Conformance {
            oracle,
            cases,
            seed,
            dir,
        } => run_conformance(&oracle, cases, seed, Path::new(&dir)),
        Command::Assign { file } => print_json_answer(kafka_sim::assign::run_file(&file)),
        Command::Log { file } => print_json_answer(kafka_sim::log_tool::run_file(&file)),
        Command::Import {
            describe,
            configs,
            out,
        } => run_import(&describe, configs.as_deref(), &out),
        Command::CheckDeterminism { file, seeds } => run_check_determinism(&file, seeds),
        Command::Check { file } => run_check(&file),
        Command::WhatIf {
            file,
            seed,
            set,
            vary,
            format,
            out,
        } => run_what_if(&file, seed, &set, vary.as_deref(), format, out.as_deref()),
        Command::Report { file, seed, out } => run_report(&file, seed, &out),
    }
}

/// `what-if`: bad input (a key the file cannot hold, a value its key does not take) exits 2
/// with the setting named, before anything runs.
fn run_what_if(
    file: &str,
    seed: Option<u64>,
    set: &[String],
    vary: Option<&str>,
    format: Format,
    out: Option<&str>,
) -> ExitCode {
    use kafka_sim::what_if::{self, Setting};
    let scenario = match load(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(scenario.seed);
    let settings: Result<Vec<Setting>, _> = set.iter().map(|s| Setting::parse(s)).collect();
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --set {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(vary) = vary {
        let Ok(Setting { key, value }) = Setting::parse(vary) else {
            eprintln!("error: --vary `{vary}`: expected KEY=V1,V2,...");
            return ExitCode::from(2);
        };
        if out.is_some() {
            eprintln!("error: --out draws two runs; with --vary, give each value its own what-if");
            return ExitCode::from(2);
        }
        let values: Vec<String> = value.split(',').map(|v| v.trim().to_string()).collect();
        let variants = match what_if::vary(&scenario, &settings, &key, &values, seed) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {file}: {e:#}");
                return ExitCode::from(2);
            }
        };
        match format {
            Format::Text => print!("{}", what_if::vary_table(&key, &variants)),
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&what_if::vary_json(&key, &settings, &variants))
                    .expect("serializable")
            ),
        }
        return ExitCode::SUCCESS;
    }
    if settings.is_empty() {
        eprintln!("error: what-if needs a change: --set KEY=VALUE (or --vary KEY=V1,V2,...)");
        return ExitCode::from(2);
    }
    let what_if = match what_if::run(&scenario, &settings, seed) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {file}: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = out {
        let changes: Vec<(String, String)> = settings
            .iter()
            .map(|s| (s.key.clone(), s.value.clone()))
            .collect();
        let page = kafka_sim::html::render_pair(
            &what_if.base,
            &what_if.changed,
            &changes,
            what_if.first_divergence_ms,
        );
        if let Err(e) = write_atomically(path, &page) {
            eprintln!("error: cannot write {path}: {e}");
            return ExitCode::from(2);
        }
        eprintln!("wrote {path}");
    }
    match format {
        Format::Text => print!("{}", what_if.text()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&what_if.json()).expect("serializable")
        ),
    }
    ExitCode::SUCCESS
}

/// The answer of a JSON-in, JSON-out tool (`assign`, `log`): the JSON on stdout, or the
/// error on stderr with exit code 2 (bad input).
fn print_json_answer<E: std::fmt::Display>(answer: Result<String, E>) -> ExitCode {
    match answer {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_conformance(names: &[String], cases: usize, seed: u64, dir: &Path) -> ExitCode {
    use kafka_sim::conformance::{self, Oracle};
    let mut oracles = Vec::new();
    for name in names {
        match Oracle::from_name(name) {
            Some(oracle) => oracles.push(oracle),
            None => {
                let known: Vec<&str> = Oracle::ALL.iter().map(|o| o.name()).collect();
                eprintln!(
                    "error: --oracle: unknown oracle {name:?}; the oracles are {}",
                    known.join(", ")
                );
                return ExitCode::from(2);
            }
        }
    }
    if oracles.is_empty() {
        oracles = Oracle::ALL.to_vec();
    }
    let mut differ = false;
    for oracle in oracles {
        match conformance::run(oracle, cases, seed, dir) {
            Ok(report) => {
                print!("{report}");
                differ |= !report.differences.is_empty();
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if differ {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_merge(files: &[String], scenario: Option<&str>) -> ExitCode {
    match sweep::merge(files) {
        Ok((summary, identity)) => {
            let path = match replay_scenario(&identity, scenario) {
                Ok(path) => path,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return ExitCode::from(2);
                }
            };
            print!("{}", sweep::render_summary(&summary, &path));
            if summary.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_check_determinism(file: &str, seeds: SeedRange) -> ExitCode {
    let scenario = match load(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seeds: Vec<u64> = (seeds.start..seeds.end).collect();
    match sweep::check_determinism(&scenario, &seeds) {
        None => {
            println!(
                "{file}: {} seeds, each run twice: identical records",
                seeds.len()
            );
            ExitCode::SUCCESS
        }
        Some((seed, why)) => {
            println!("{file}: NOT deterministic at seed {seed}: {why}");
            ExitCode::from(1)
        }
    }
}

/// `kafka-sim report`: runs the scenario as `run` does and writes the page in one piece.
fn run_report(file: &str, seed: Option<u64>, out: &str) -> ExitCode {
    let scenario = match load(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    for w in &scenario.warnings {
        eprintln!("{file}: warning: {w}");
    }
    let simulation = kafka_sim::run(&scenario, seed.unwrap_or(scenario.seed));
    let html = kafka_sim::html::render_run(&simulation);
    if let Err(e) = write_atomically(out, &html) {
        eprintln!("error: {out}: cannot write the report: {e}");
        return ExitCode::from(2);
    }
    println!("{out}");
    ExitCode::SUCCESS
}

fn run_check(file: &str) -> ExitCode {
    match Scenario::load(file) {
        Ok(s) => {
            for w in &s.warnings {
                eprintln!("{file}: warning: {w}");
            }
            // What only a run can tell: a fault that finds nothing to do at its time. The
            // scenario's own seed decides, as `run` without --seed does.
            let simulation = kafka_sim::simulation::run(&s, s.seed);
            for w in &simulation.outcome().warnings {
                eprintln!("{file}: warning: {w}");
            }
            println!("{file}: ok ({})", s.name);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The scenario file for the replay commands of merged results: the one named, which must be
/// the file the results were run from, or else `scenarios/NAME.toml` when it is that file.
fn replay_scenario(
    identity: &sweep::ResultIdentity,
    named: Option<&str>,
) -> anyhow::Result<String> {
    let matches = |path: &str| {
        Scenario::load(path)
            .map(|s| format!("{:016x}", s.hash()) == identity.scenario_hash)
            .unwrap_or(false)
    };
    if let Some(path) = named {
        let scenario = Scenario::load(path).map_err(|e| anyhow::anyhow!("--scenario: {e}"))?;
        anyhow::ensure!(
            format!("{:016x}", scenario.hash()) == identity.scenario_hash,
            "--scenario: {path} is not the file the results were run from (its hash differs from {})",
            identity.scenario_hash
        );
        return Ok(path.to_string());
    }
    let guess = format!("scenarios/{}.toml", identity.scenario);
    if matches(&guess) {
        Ok(guess)
    } else {
        Ok(format!(
            "<the {} scenario file: --scenario FILE>",
            identity.scenario
        ))
    }
}

fn show(file: &str, seed: Option<u64>) -> ExitCode {
    let scenario = match load(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(scenario.seed);
    if scenario.nemesis.is_none() {
        println!(
            "# {} has no [nemesis]: its faults are the [[faults]] it lists, the same for every seed.",
            scenario.name
        );
        return ExitCode::SUCCESS;
    }
    let faults = kafka_sim::nemesis::schedule(&scenario, seed);
    println!(
        "# The faults the nemesis of {} draws for seed {seed} ({} faults).",
        scenario.name,
        faults.len()
    );
    print!("{}", kafka_sim::nemesis::faults_toml(&faults));
    ExitCode::SUCCESS
}

/// How much `--narrate` tells.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum NarrateDetail {
    /// The story (what `--narrate` alone means).
    Story,
    /// Every record processed and every commit on its own line too.
    All,
}

impl NarrateDetail {
    fn detail(self) -> narrate::Detail {
        match self {
            NarrateDetail::Story => narrate::Detail::Story,
            NarrateDetail::All => narrate::Detail::All,
        }
    }
}

/// How `kafka-sim run` reports.
struct RunOptions {
    format: Format,
    narrate: Option<NarrateDetail>,
    trace: Option<String>,
    stats: bool,
    describe_groups: bool,
    describe_transactions: bool,
    describe_internal: bool,
    /// Moments (simulated ms) to print the describe tables at.
    describe_at: Vec<u64>,
    /// `--dump-log T-P`: the partition whose replicas' segments end the report.
    dump_log: Option<String>,
    limits: world::RunLimits,
}

/// A `--describe-at` moment: a simulated time such as `15s`, `1.5s` or `12500ms`.
fn parse_moment_ms(value: &str) -> Result<u64, String> {
    kafka_sim::scenario::parse_duration_us(value)
        .map(|us| us / 1_000)
        .ok_or_else(|| {
            format!("{value:?} is not a simulated time; write it as 15s, 1.5s or 12500ms")
        })
}

fn run(file: &str, seed: Option<u64>, options: &RunOptions) -> ExitCode {
    let RunOptions {
        ref trace,
        stats,
        limits,
        ..
    } = *options;
    let mut scenario = match load(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    for w in &scenario.warnings {
        eprintln!("{file}: warning: {w}");
    }
    if let Some(name) = &options.dump_log {
        match dump_log_partition(&scenario, name) {
            Ok(tp) => scenario.keep_log = Some(tp),
            Err(e) => {
                eprintln!("error: --dump-log: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let seed = seed.unwrap_or(scenario.seed);
    let started = std::time::Instant::now();
    let result = match world::run_limited(&scenario, seed, limits) {
        Ok(result) => result,
        Err(e @ world::RunError::WallTimeExceeded(_)) => {
            eprintln!("{file}: seed {seed}: {e}; no outcome was written (a slow machine must not change a seed's result)");
            return ExitCode::from(EXIT_WALL_TIME);
        }
        Err(e @ world::RunError::Panicked(_)) => {
            eprintln!("{file}: seed {seed}: {e}\nthis is a bug in kafka-sim; replay: kafka-sim run {file} --seed {seed}");
            return ExitCode::from(101);
        }
    };
    let wall = started.elapsed();
    let (outcome, _) = report::outcome(&scenario, seed, &result);
    if let Some(path) = trace {
        if let Err(e) = write_trace(path, &result) {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    }
    if let Some(tp) = &scenario.keep_log {
        // `__consumer_offsets` exists only if the run created it.
        if !result.final_state.partitions.iter().any(|p| &p.tp == tp) {
            eprintln!("error: --dump-log: the run has no partition {tp}");
            return ExitCode::from(2);
        }
    }
    let printed = print_outcome(&scenario, &result, &outcome, options);
    if printed.is_err() {
        return ExitCode::from(2);
    }
    if stats {
        let secs = wall.as_secs_f64().max(1e-9);
        eprintln!(
            "wall {:.3}s, {} events ({:.0}/s), {} messages ({:.0}/s), simulated {:.1}x real time",
            secs,
            result.events.len(),
            result.events.len() as f64 / secs,
            result.messages_sent,
            result.messages_sent as f64 / secs,
            result.sim_time_ms as f64 / 1000.0 / secs,
        );
    }
    if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The partition `--dump-log` names (`TOPIC-PARTITION`), checked against the scenario's
/// topics; `__consumer_offsets` is checked after the run, which creates it.
fn dump_log_partition(
    scenario: &Scenario,
    name: &str,
) -> Result<kafka_model::TopicPartition, String> {
    let parsed = name
        .rsplit_once('-')
        .and_then(|(topic, p)| Some((topic, p.parse::<u32>().ok()?)));
    let Some((topic, partition)) = parsed else {
        return Err(format!(
            "`{name}` is not a partition; write it as TOPIC-PARTITION, such as orders-0"
        ));
    };
    let tp = kafka_model::TopicPartition::new(topic, partition);
    if topic == kafka_model::OFFSETS_TOPIC {
        return Ok(tp);
    }
    let Some(spec) = scenario.topics.iter().find(|t| t.name == topic) else {
        let names: Vec<&str> = scenario.topics.iter().map(|t| t.name.as_str()).collect();
        return Err(format!(
            "the scenario has no topic `{topic}` (its topics: {})",
            names.join(", ")
        ));
    };
    if partition >= spec.partitions {
        return Err(format!(
            "topic `{topic}` has partitions 0 to {}; there is no {name}",
            spec.partitions - 1
        ));
    }
    Ok(tp)
}

/// Prints a run's outcome as `run` reports it: JSON, or text with the timeline and the
/// groups table as asked.
fn print_outcome(
    scenario: &Scenario,
    result: &world::RunResult,
    outcome: &report::Outcome,
    options: &RunOptions,
) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match options.format {
        Format::Json => {
            let mut value = serde_json::to_value(outcome).expect("outcome serializes");
            if !options.describe_at.is_empty() {
                value["describe_at"] = options
                    .describe_at
                    .iter()
                    .map(|at| kafka_sim::moment::at(result, scenario, *at).json(result))
                    .collect();
            }
            if let Some(detail) = options.narrate {
                value["timeline"] =
                    serde_json::json!(narrate::narrate_with(result, scenario, detail.detail()));
            }
            if let Some(tp) = &scenario.keep_log {
                let text = kafka_sim::dump_log::dump(tp, &result.kept_logs);
                value["dump_log"] = serde_json::json!(text.lines().collect::<Vec<_>>());
            }
            writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(&value).expect("json")
            )
        }
        Format::Text => {
            let mut text = String::new();
            if let Some(detail) = options.narrate {
                if !scenario.description.is_empty() {
                    for line in scenario.description.lines() {
                        if !line.is_empty() {
                            text.push_str("  ");
                            text.push_str(line);
                        }
                        text.push('\n');
                    }
                    text.push('\n');
                }
                text.push_str("timeline:\n");
                for line in narrate::narrate_with(result, scenario, detail.detail()) {
                    text.push_str("  ");
                    text.push_str(&line);
                    text.push('\n');
                }
                text.push('\n');
            }
            text.push_str(&report::render_text(outcome, options.describe_internal));
            if options.describe_groups {
                text.push('\n');
                if outcome.groups.is_empty() {
                    text.push_str("no consumer groups in this scenario\n");
                } else {
                    text.push_str(&groups::describe_table(&outcome.groups));
                }
            }
            if options.describe_transactions {
                text.push('\n');
                if outcome.transactions.is_empty() {
                    text.push_str("no transactional ids in this run\n");
                } else {
                    text.push_str(&kafka_sim::transactions::describe_table(
                        &outcome.transactions,
                    ));
                }
            }
            for at in &options.describe_at {
                text.push('\n');
                text.push_str(
                    &kafka_sim::moment::at(result, scenario, *at)
                        .text(result, options.describe_internal),
                );
            }
            if let Some(tp) = &scenario.keep_log {
                text.push_str(&format!("\nkafka-dump-log of {tp}, every replica:\n"));
                text.push_str(&kafka_sim::dump_log::dump(tp, &result.kept_logs));
            }
            write!(stdout, "{text}")
        }
    }
}

fn run_sweep(
    file: &str,
    seeds: SeedRange,
    jobs: Option<usize>,
    out: Option<&str>,
    shard: Option<Shard>,
    shards: Option<u64>,
    limits: world::RunLimits,
) -> ExitCode {
    let scenario = match load(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let shard = match (shard, shards) {
        (Some(s), _) => Some(s),
        (None, Some(n)) => {
            let count = (n > 0).then_some(n);
            match Shard::from_env(count, &|v| std::env::var(v).ok()) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        (None, None) => None,
    };
    let seeds: Vec<u64> = match shard {
        Some(s) => s.seeds(seeds),
        None => (seeds.start..seeds.end).collect(),
    };
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let started = std::time::Instant::now();
    let outcomes = sweep::run_seeds(&scenario, &seeds, jobs, true, limits);
    let wall = started.elapsed().as_secs_f64();
    if let Some(path) = out {
        if let Err(e) = sweep::write_jsonl(path, &outcomes) {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    }
    let summary = sweep::summarize(&scenario.name, &outcomes);
    print!("{}", sweep::render_summary(&summary, file));
    eprintln!(
        "{} seeds in {:.1}s wall on {} threads: {:.2} seeds/s",
        seeds.len(),
        wall,
        jobs,
        seeds.len() as f64 / wall.max(1e-9)
    );
    if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_shrink(
    file: &str,
    seed: u64,
    out: &str,
    invariant: Option<&str>,
    results: Option<&str>,
) -> ExitCode {
    let scenario = match load(file) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(results) = results {
        if let Err(e) = kafka_sim::shrink::check_results(&scenario, seed, results) {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    }
    let shrunk = match kafka_sim::shrink::shrink(&scenario, seed, invariant) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = write_atomically(out, &shrunk.text) {
        eprintln!("error: cannot write {out}: {e}");
        return ExitCode::from(2);
    }
    if let Some(detail) = &shrunk.seed_panic {
        println!(
            "{file}: seed {seed}: {detail}
  this is a bug in kafka-sim; replay: kafka-sim run {file} --seed {seed}"
        );
    }
    println!(
        "{}: {} with seed {seed}\n  faults {} -> {}\n  records {} -> {}\n  duration {} ms -> {} ms\n  {} candidate runs\nwrote {out}; replay: kafka-sim run {out} --narrate",
        file,
        shrunk.invariant,
        shrunk.faults_before,
        shrunk.faults_after,
        shrunk.records_before,
        shrunk.records_after,
        shrunk.duration_before_ms,
        shrunk.duration_after_ms,
        shrunk.runs
    );
    report_panicking_candidates(&shrunk.panics, out, seed)
}

/// Writes each candidate the simulator panicked on beside `out` and prints its replay
/// command: a panic is a finding, never the end of a shrink.
fn report_panicking_candidates(
    panics: &[kafka_sim::shrink::PanicFinding],
    out: &str,
    seed: u64,
) -> ExitCode {
    let stem = out.strip_suffix(".toml").unwrap_or(out);
    for (i, finding) in panics.iter().enumerate() {
        let path = format!("{stem}.panic-{}.toml", i + 1);
        if let Err(e) = write_atomically(&path, &finding.text) {
            eprintln!("error: cannot write {path}: {e}");
            return ExitCode::from(2);
        }
        println!(
            "a candidate panicked: {}\n  this is a bug in kafka-sim; wrote {path}; replay: kafka-sim run {path} --seed {seed}",
            finding.detail
        );
    }
    ExitCode::SUCCESS
}

/// Writes `text` to a temporary file beside `path` and renames it into place.
fn write_atomically(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path))
}

fn run_import(describe: &str, configs: Option<&str>, out: &str) -> ExitCode {
    let read = |path: &str| {
        std::fs::read_to_string(path).map_err(|e| {
            eprintln!("error: {path}: cannot read the file: {e}");
            ExitCode::from(2)
        })
    };
    let describe_text = match read(describe) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let configs_text = match configs.map(read).transpose() {
        Ok(t) => t,
        Err(code) => return code,
    };
    let name = Path::new(out)
        .file_stem()
        .map_or("imported".to_string(), |s| s.to_string_lossy().to_string());
    let text = match kafka_sim::import::import(
        &name,
        kafka_sim::import::Input {
            file: describe,
            text: &describe_text,
        },
        configs
            .zip(configs_text.as_deref())
            .map(|(file, text)| kafka_sim::import::Input { file, text }),
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Written beside the target and renamed into place: never a half-written scenario.
    let tmp = format!("{out}.tmp");
    if let Err(e) = std::fs::write(&tmp, &text).and_then(|_| std::fs::rename(&tmp, out)) {
        let _ = std::fs::remove_file(&tmp);
        eprintln!("error: cannot write {out}: {e}");
        return ExitCode::from(2);
    }
    match Scenario::parse(out, &text) {
        Ok(s) => println!(
            "wrote {out}: {} broker(s), {} topic(s); add a workload, then: kafka-sim check {out}",
            s.cluster.broker_count(),
            s.topics.len()
        ),
        Err(e) => println!("wrote {out} ({e})"),
    }
    ExitCode::SUCCESS
}

fn bench(opts: &kafka_sim::bench::Options, print_scenario: bool) -> ExitCode {
    if let Err(e) = opts.validate() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if print_scenario {
        let text = match opts.cases[..] {
            [case] => kafka_sim::bench::scenario_text(case, opts),
            _ => None,
        };
        return match text {
            Some(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("error: --print-scenario needs one --case that runs a scenario");
                ExitCode::from(2)
            }
        };
    }
    if kafka_sim::bench::main(opts) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Loads a scenario, or says why not (file, line, key) and gives exit code 2.
fn load(file: &str) -> Result<Scenario, ExitCode> {
    Scenario::load(file).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

/// Writes the trace to a temporary file beside the target and renames it into place, so a
/// failed run never leaves a half-written trace.
fn write_trace(path: &str, result: &world::RunResult) -> anyhow::Result<()> {
    let target = Path::new(path);
    let tmp = target.with_extension("jsonl.tmp");
    let mut buf = Vec::new();
    for line in report::trace_lines(result) {
        serde_json::to_writer(&mut buf, &line)?;
        buf.push(b'\n');
    }
    std::fs::write(&tmp, &buf).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, target).with_context(|| format!("cannot move the trace into {path}"))?;
    Ok(())
}

/// `RUST_LOG` turns on tracing output, stamped with simulated time inside a run.
fn init_tracing() {
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::time::FormatTime;
    struct SimTime;
    impl FormatTime for SimTime {
        fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
            match madsim::time::TimeHandle::try_current() {
                Some(t) => {
                    let d = t.elapsed();
                    write!(w, "t={}.{:06}s", d.as_secs(), d.subsec_micros())
                }
                None => write!(w, "t=-"),
            }
        }
    }
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_timer(SimTime)
            .with_writer(std::io::stderr)
            .try_init();
    }
}
