//! The error messages for bad input, pinned: every file in `tests/data/bad/` is a scenario
//! with one mistake and `NAME.err` beside it holds the message `kafka-sim check` prints for
//! it (file, line, column, key, and the nearest valid key where there is one); every file in
//! `tests/data/bad-assign/` is the same for `kafka-sim assign`. The library's errors are
//! checked for every file, the command line's exit code 2 and message for a few.

use kafka_sim::scenario::Scenario;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
}

/// `(file name, input, expected message)` for every input of `ext` in `dir`, by name.
fn cases(dir: &str, ext: &str) -> Vec<(String, String, String)> {
    let dir = data(dir);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the bad-input directory")
        .map(|e| e.expect("a directory entry").file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .collect();
    names.sort();
    assert!(
        names.len() > 10,
        "{} inputs in {}",
        names.len(),
        dir.display()
    );
    names
        .into_iter()
        .map(|name| {
            let input = std::fs::read_to_string(dir.join(&name)).expect("the input");
            let err = dir.join(name.replace(ext, ".err"));
            let expected =
                std::fs::read_to_string(&err).unwrap_or_else(|e| panic!("{}: {e}", err.display()));
            (name, input, expected.trim_end().to_string())
        })
        .collect()
}

/// Every mismatch at once, so one run shows every message that changed.
fn assert_all(mismatches: Vec<String>) {
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n\n"));
}

#[test]
fn every_bad_scenario_gives_its_message() {
    let mut mismatches = Vec::new();
    for (name, text, expected) in cases("bad", ".toml") {
        match Scenario::parse(&name, &text) {
            Ok(_) => mismatches.push(format!("{name}: parsed, expected: {expected}")),
            Err(e) if e.to_string() != expected => {
                mismatches.push(format!("{name}:\n  got:      {e}\n  expected: {expected}"))
            }
            Err(_) => {}
        }
    }
    assert_all(mismatches);
}

#[test]
fn every_bad_assign_input_gives_its_message() {
    let mut mismatches = Vec::new();
    for (name, text, expected) in cases("bad-assign", ".json") {
        match kafka_sim::assign::parse(&text) {
            Ok(_) => mismatches.push(format!("{name}: parsed, expected: {expected}")),
            Err(e) if format!("{name}: {e}") != expected => mismatches.push(format!(
                "{name}:\n  got:      {name}: {e}\n  expected: {expected}"
            )),
            Err(_) => {}
        }
    }
    assert_all(mismatches);
}

/// Runs `kafka-sim ARGS` in `dir` and checks exit code 2 and `error: EXPECTED` on stderr.
fn assert_cli(dir: &str, args: &[&str], expected: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_kafka-sim"))
        .args(args)
        .current_dir(data(dir))
        .output()
        .expect("kafka-sim runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end(), format!("error: {expected}"), "{args:?}");
}

#[test]
fn the_command_line_exits_2_with_the_message() {
    let scenarios = cases("bad", ".toml");
    for pick in [
        "unknown-top-key-suggestion.toml",
        "config-at-least-one.toml",
        "toml-syntax.toml",
        "fault-unknown-action-suggestion.toml",
    ] {
        let (name, _, expected) = scenarios
            .iter()
            .find(|(name, _, _)| name == pick)
            .expect("the case exists");
        assert_cli("bad", &["check", name], expected);
    }
    let inputs = cases("bad-assign", ".json");
    for pick in ["unknown-field.json", "owned-not-topic-n.json"] {
        let (name, _, expected) = inputs
            .iter()
            .find(|(name, _, _)| name == pick)
            .expect("the case exists");
        assert_cli("bad-assign", &["assign", name], expected);
    }
}
