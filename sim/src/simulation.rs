//! The library entry point: run a scenario with a seed and test what it gave.
//!
//! The command line, the shipped scenario snapshots and a user's own tests all go through
//! here, so a user's snapshot of a scenario holds exactly the text the shipped snapshots hold
//! (the outcome as JSON without the build stamp, then the narrated timeline), and a failed
//! `[expect]` reads the same everywhere.

use crate::narrate;
use crate::report::{self, Outcome};
use crate::scenario::Scenario;
use crate::world::{self, RunResult};

/// One finished run of a scenario with a seed: its record, its outcome and its narration.
pub struct Simulation {
    scenario: Scenario,
    result: RunResult,
    outcome: Outcome,
}

/// Runs `scenario` with `seed` (its own is `scenario.seed`) in a madsim runtime of its own.
///
/// The same scenario and seed give the same record, outcome and snapshot, byte for byte, on
/// every run and every thread. A panic inside the simulator is raised again here, as a test
/// wants; `sweep::run_seed` reports it instead.
pub fn run(scenario: &Scenario, seed: u64) -> Simulation {
    let result = world::run(scenario, seed);
    let (outcome, _) = report::outcome(scenario, seed, &result);
    Simulation {
        scenario: scenario.clone(),
        result,
        outcome,
    }
}

impl Simulation {
    /// The outcome: counts, violations, the `[expect]` verdict, the partitions and groups.
    /// Serialized, it is the `run --format json` object (`docs/outcome-schema.md`).
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// The event record and final state the outcome was computed from.
    pub fn result(&self) -> &RunResult {
        &self.result
    }

    /// The scenario that ran.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The timeline in plain words, as `--narrate` tells it: the story.
    pub fn timeline(&self) -> Vec<String> {
        narrate::narrate(&self.result, &self.scenario)
    }

    /// The timeline with every record processed and every commit, as `--narrate=all` tells it.
    pub fn timeline_all(&self) -> Vec<String> {
        narrate::narrate_with(&self.result, &self.scenario, narrate::Detail::All)
    }

    /// The text a scenario snapshot holds: the outcome as pretty JSON without the build stamp
    /// (so it stays the same from build to build), a blank line, `timeline:`, and one line
    /// per narrated event.
    pub fn snapshot(&self) -> String {
        let mut text = self.outcome.snapshot_json();
        text.push_str("\n\ntimeline:\n");
        for line in self.timeline() {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    /// Did every expectation of the scenario's `[expect]` hold?
    pub fn passed(&self) -> bool {
        self.outcome.passed()
    }

    /// Panics, naming the scenario, the seed and every failed expectation, unless the
    /// scenario's `[expect]` held.
    #[track_caller]
    pub fn assert_expectations(&self) {
        if !self.passed() {
            panic!(
                "scenario {} with seed {}: expectations failed:\n  {}\nreplay: kafka-sim run {} --seed {} --narrate",
                self.outcome.scenario,
                self.outcome.seed,
                self.outcome.expect.failures.join("\n  "),
                self.scenario.path,
                self.outcome.seed
            );
        }
    }
}
