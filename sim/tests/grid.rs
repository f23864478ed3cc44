//! A grid of cluster shapes: every cell must run to its end without a panic, without a
//! `livelock` violation and without a link gap, and where the settings promise it (acks=all,
//! min.insync.replicas 2, RF 3, unclean elections off, so 3 brokers or more) it must lose no
//! acknowledged record.
//!
//! `full_grid` (ignored; `.ci/run` runs it in release with `cargo test --release --
//! --ignored`) is the whole cross product of brokers 1, 3, 5, 10, 30 x partitions 1, 3, 30,
//! 100, 300 x acks 0, 1, all x with and without a controller kill: 150 cells. Each cell is
//! short (one producer, 300 records at 100 a second with 64 keys, 12 s and an 8 s settle,
//! the controller crashed at 3 s with a 6 s ZooKeeper session), so the whole grid takes
//! well under a few minutes in release. `small_grid` runs three tiny cells of it in every
//! `cargo test`.
//!
//! Each cell runs on a thread of its own under a wall-clock guard: a cell that gives no
//! result in time is reported as hung (its thread is left behind) and the test fails with
//! the list of problem cells, instead of hanging.

use kafka_sim::report::{self, Outcome};
use kafka_sim::scenario::Scenario;
use kafka_sim::world;
use std::time::Duration;

/// How long one cell may take before it counts as hung (a cell takes well under a second
/// in release).
const GUARD: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
struct Cell {
    brokers: u32,
    partitions: u32,
    acks: &'static str,
    kill_controller: bool,
}

impl Cell {
    fn name(&self) -> String {
        format!(
            "brokers={} partitions={} acks={} {}",
            self.brokers,
            self.partitions,
            self.acks,
            if self.kill_controller {
                "controller-killed"
            } else {
                "no-fault"
            }
        )
    }

    fn replication_factor(&self) -> u32 {
        self.brokers.min(3)
    }

    /// acks=all with min.insync.replicas 2 of RF 3 and unclean elections off: nothing
    /// acknowledged may be lost.
    fn promises_no_loss(&self) -> bool {
        self.acks == "all" && self.replication_factor() >= 3
    }

    fn toml(&self) -> String {
        let rf = self.replication_factor();
        let min_insync = rf.min(2);
        let mut s = format!(
            "# Grid cell: {name}.\n\
             name = \"grid-{b}-{p}-{acks}-{kill}\"\n\
             duration = \"12s\"\n\
             settle = \"8s\"\n\
             seed = 1\n\n\
             [cluster]\n\
             brokers = {b}\n\n\
             [cluster.config]\n\
             \"unclean.leader.election.enable\" = false\n\
             \"zookeeper.session.timeout.ms\" = 6000\n\n\
             [[topics]]\n\
             name = \"grid\"\n\
             partitions = {p}\n\
             replication_factor = {rf}\n\
             config = {{ \"min.insync.replicas\" = {min_insync} }}\n\n\
             [[producers]]\n\
             name = \"load\"\n\
             topic = \"grid\"\n\
             records = 300\n\
             rate = 100\n\
             keys = 64\n\
             start = \"1s\"\n\
             config = {{ \"acks\" = \"{acks}\", \"linger.ms\" = 5, \"request.timeout.ms\" = 5000 }}\n",
            name = self.name(),
            b = self.brokers,
            p = self.partitions,
            acks = self.acks,
            kill = if self.kill_controller { "kill" } else { "calm" },
        );
        if self.kill_controller {
            s.push_str("\n[[faults]]\nat = \"3s\"\naction = \"crash\"\ntarget = \"controller\"\n");
        }
        s
    }
}

/// Runs a scenario with the wall-clock watchdog at `guard`: a run that hangs in a way the
/// livelock guard does not catch fails the cell instead of the whole test run.
fn run_guarded(scenario: Scenario, guard: Duration) -> Result<Outcome, String> {
    let limits = world::RunLimits {
        wall_time_limit: Some(guard),
    };
    match world::run_limited(&scenario, scenario.seed, limits) {
        Ok(result) => Ok(report::outcome(&scenario, scenario.seed, &result).0),
        Err(e) => Err(e.to_string()),
    }
}

/// What is wrong with a cell's run, if anything.
fn problems(cell: &Cell, scenario: &Scenario, outcome: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    let end = scenario.duration_ms + scenario.settle_ms;
    if outcome.sim_time_ms < end {
        problems.push(format!(
            "ended at {} ms of {end} ms simulated",
            outcome.sim_time_ms
        ));
    }
    if let Some(n) = outcome.violation_counts.get("livelock") {
        problems.push(format!("livelock ({n})"));
    }
    if cell.promises_no_loss() {
        if let Some(n) = outcome.violation_counts.get("acked-record-lost") {
            problems.push(format!("acked-record-lost ({n}) with acks=all"));
        }
    }
    problems
}

/// Runs every cell and fails with the list of cells that hung, panicked or broke a promise.
fn check_grid(cells: &[Cell]) {
    let mut bad: Vec<(Cell, String)> = Vec::new();
    for cell in cells {
        let text = cell.toml();
        let scenario = Scenario::parse(&format!("grid cell {}", cell.name()), &text)
            .unwrap_or_else(|e| panic!("{}: {e}\n{text}", cell.name()));
        match run_guarded(scenario.clone(), GUARD) {
            Ok(outcome) => {
                println!(
                    "{}: acked {}, lost {}, violations {:?}",
                    cell.name(),
                    outcome.records.acked,
                    outcome.records.acked_lost,
                    outcome.violation_counts
                );
                let p = problems(cell, &scenario, &outcome);
                if !p.is_empty() {
                    bad.push((*cell, p.join("; ")));
                }
            }
            Err(why) => {
                println!("{}: {why}", cell.name());
                bad.push((*cell, why));
            }
        }
    }
    if let Some((first, _)) = bad.first() {
        let list: Vec<String> = bad
            .iter()
            .map(|(c, why)| format!("  {}: {why}", c.name()))
            .collect();
        panic!(
            "{} of {} cells failed:\n{}\n\nthe first as a scenario file (kafka-sim run FILE --narrate):\n{}",
            bad.len(),
            cells.len(),
            list.join("\n"),
            first.toml()
        );
    }
}

#[test]
#[ignore = "the full grid: run in release by .ci/run (cargo test --release -- --ignored)"]
fn full_grid() {
    let mut cells = Vec::new();
    for brokers in [1, 3, 5, 10, 30] {
        for partitions in [1, 3, 30, 100, 300] {
            for acks in ["0", "1", "all"] {
                for kill_controller in [false, true] {
                    cells.push(Cell {
                        brokers,
                        partitions,
                        acks,
                        kill_controller,
                    });
                }
            }
        }
    }
    check_grid(&cells);
}

#[test]
fn small_grid() {
    check_grid(&[
        Cell {
            brokers: 1,
            partitions: 1,
            acks: "1",
            kill_controller: true,
        },
        Cell {
            brokers: 3,
            partitions: 3,
            acks: "all",
            kill_controller: true,
        },
        Cell {
            brokers: 5,
            partitions: 10,
            acks: "0",
            kill_controller: false,
        },
    ]);
}
