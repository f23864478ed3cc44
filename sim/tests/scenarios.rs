//! Every scenario in `scenarios/` runs with its own seed; its outcome and narrated timeline
//! are snapshot-tested, and its `[expect]` block must hold.

use kafka_sim::report;
use kafka_sim::scenario::Scenario;
use kafka_sim::world;
use std::path::PathBuf;

fn scenario_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The text a snapshot holds: the outcome as JSON, then the narrated timeline.
fn snapshot_text(scenario: &Scenario, seed: u64) -> (String, report::Outcome) {
    let result = world::run(scenario, seed);
    let (outcome, _) = report::outcome(scenario, seed, &result);
    let mut text = serde_json::to_string_pretty(&outcome).expect("json");
    text.push_str("\n\ntimeline:\n");
    for line in report::narrate(&result, scenario) {
        text.push_str(&line);
        text.push('\n');
    }
    (text, outcome)
}

#[test]
fn every_scenario_meets_its_expectations_and_matches_its_snapshot() {
    let files = scenario_files();
    assert!(!files.is_empty(), "the teaching library must not be empty");
    let mut failures = Vec::new();
    for file in files {
        let path = file.to_string_lossy().to_string();
        let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !scenario.description.trim().is_empty(),
            "{path}: a scenario starts with a comment saying what it shows"
        );
        let (text, outcome) = snapshot_text(&scenario, scenario.seed);
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        insta::with_settings!({
            snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name.as_str(), text);
        });
        if !outcome.passed() {
            failures.push(format!("{name}: {}", outcome.expect.failures.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "expectations failed:\n{}",
        failures.join("\n")
    );
}
