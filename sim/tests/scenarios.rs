//! Every scenario in `scenarios/` runs with its own seed; its outcome and narrated timeline
//! are snapshot-tested, and its `[expect]` block must hold.
//!
//! `insta::glob!` runs every file and reports every mismatch in one run, then fails. The
//! snapshots keep the scenario file's name (`snapshots/NAME.snap`), as they always had.

use kafka_sim::Scenario;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

#[test]
fn every_scenario_meets_its_expectations_and_matches_its_snapshot() {
    let failures = Mutex::new(BTreeSet::new());
    let mut count = 0;
    insta::with_settings!({
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::glob!("../../scenarios", "*.toml", |path| {
            count += 1;
            if let Some(failure) = check(path) {
                failures.lock().expect("failures").insert(failure);
            }
        });
    });
    assert!(count > 0, "the teaching library must not be empty");
    let failures = failures.into_inner().expect("failures");
    assert!(
        failures.is_empty(),
        "expectations failed:\n{}",
        failures.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// Runs one scenario, checks its snapshot, and returns its failed expectations, if any.
fn check(path: &Path) -> Option<String> {
    let file = path.to_string_lossy().to_string();
    let scenario = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !scenario.description.trim().is_empty(),
        "{file}: a scenario starts with a comment saying what it shows"
    );
    let run = kafka_sim::run(&scenario, scenario.seed);
    let name = path.file_stem().expect("a file name").to_string_lossy();
    // An explicit name and no suffix keep the snapshot files as they were: glob's default
    // would name them after the test and the file (`every_scenario...@NAME.toml.snap`) and
    // record the input file in the header.
    let mut settings = insta::Settings::clone_current();
    settings.remove_snapshot_suffix();
    settings.remove_input_file();
    settings.bind(|| insta::assert_snapshot!(name.as_ref(), run.snapshot()));
    let outcome = run.outcome();
    (!outcome.passed()).then(|| format!("{name}: {}", outcome.expect.failures.join("; ")))
}
