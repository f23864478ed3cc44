//! Every scenario in `scenarios/` runs with its own seed; its outcome and narrated timeline
//! are snapshot-tested, and its `[expect]` block must hold.
//!
//! `insta::glob!` runs every file and reports every mismatch in one run, then fails. The
//! snapshots keep the scenario file's name (`snapshots/NAME.snap`), as they always had.
//!
//! A scenario's teaching comment states numbers and quotes the timeline; the file backs them
//! with claim lines the run must bear out, so a comment cannot drift from its run:
//! - `# narration: "TEXT"`: some line of the narrated timeline (the story `--narrate` tells)
//!   contains TEXT;
//! - `# narration-all: "TEXT"`: some line of the whole timeline (`--narrate=all`, every record
//!   processed and every commit) contains TEXT;
//! - `# outcome: PATH = VALUE`: the JSON outcome at the dotted PATH (`records.acked_lost`,
//!   `groups.billing.rebalances`; a number indexes a list) is the JSON VALUE.

use kafka_sim::Scenario;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

/// A group scenario's story (the default narration) tells the joins, rebalances and faults
/// and sums up the routine work, in fewer lines than this.
const GROUP_STORY_LINES_MAX: usize = 200;

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
    let mut failures: Vec<String> = outcome.expect.failures.clone();
    failures.extend(unmet_claims(&scenario.text, &run));
    let story_lines = run.timeline().len();
    let has_groups = scenario.consumers.iter().any(|c| c.group.is_some());
    if has_groups && story_lines >= GROUP_STORY_LINES_MAX {
        failures.push(format!(
            "the story has {story_lines} lines; a group scenario's must stay under {GROUP_STORY_LINES_MAX} (a group's routine work belongs in --narrate=all)"
        ));
    }
    (!failures.is_empty()).then(|| format!("{name}: {}", failures.join("; ")))
}

/// The claim lines of a scenario file that its run does not bear out.
fn unmet_claims(text: &str, run: &kafka_sim::Simulation) -> Vec<String> {
    let timeline = run.timeline();
    let timeline_all = run.timeline_all();
    let outcome = serde_json::to_value(run.outcome()).expect("the outcome is JSON");
    let mut unmet = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let narration = match line.strip_prefix("# narration:") {
            Some(quoted) => Some((quoted, &timeline, "timeline")),
            None => line
                .strip_prefix("# narration-all:")
                .map(|quoted| (quoted, &timeline_all, "--narrate=all timeline")),
        };
        if let Some((quoted, lines, which)) = narration {
            let wanted = quoted
                .trim()
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .unwrap_or_else(|| panic!("a narration claim is quoted: {line}"));
            if !lines.iter().any(|l| l.contains(wanted)) {
                unmet.push(format!("no {which} line contains {wanted:?}"));
            }
        } else if let Some(claim) = line.strip_prefix("# outcome:") {
            let (path, value) = claim
                .split_once('=')
                .unwrap_or_else(|| panic!("an outcome claim is PATH = VALUE: {line}"));
            let wanted: serde_json::Value = serde_json::from_str(value.trim())
                .unwrap_or_else(|e| panic!("{line}: the value is not JSON: {e}"));
            let got =
                path.trim()
                    .split('.')
                    .try_fold(&outcome, |v, key| match key.parse::<usize>() {
                        Ok(i) if v.is_array() => v.get(i),
                        _ => v.get(key),
                    });
            if got != Some(&wanted) {
                unmet.push(format!(
                    "outcome {} is {}, the file claims {wanted}",
                    path.trim(),
                    got.map_or("missing".to_string(), |g| g.to_string())
                ));
            }
        }
    }
    unmet
}
