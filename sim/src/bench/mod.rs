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
//! Layout: this file holds the cases, the options and the entry point; `figures.rs` what a
//! case reports; `watch.rs` a case run in this process under its watchdog; `children.rs` cases
//! run in child processes; `steady.rs`, `partitions.rs` and `big_cluster.rs` the cases
//! themselves (`steady.rs` also `sweep`).
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

mod big_cluster;
mod children;
mod figures;
mod partitions;
mod steady;
mod watch;

pub use big_cluster::*;
use children::*;
pub use figures::*;
pub use partitions::*;
use steady::*;
use watch::*;

const STEADY_STATE: &str = include_str!("../../benches/steady-state.toml");
const RANDOM_FAULTS_ACKS_ALL: &str = include_str!("../../../scenarios/random-faults-acks-all.toml");
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

#[cfg(test)]
mod tests;
