//! `kafka-sim bench`: the built binary's report lines, its child processes and its time
//! limit. Nothing here measures speed; the figures are only checked for being there.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-sim"))
        .arg("bench")
        .args(args)
        .output()
        .expect("kafka-sim runs")
}

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[test]
fn a_case_past_its_time_limit_is_reported_not_waited_for() {
    // One case, in this process: the watchdog prints the report and ends the process.
    let out = bench(&["--case", "sleep", "--timeout-secs", "1", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["case"], "sleep");
    assert_eq!(lines[0]["status"], "timed out");

    // Two cases: each in a child; one line each, in order, and the suite goes on.
    let out = bench(&["--case", "sleep,sleep", "--timeout-secs", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in lines {
        assert!(line.starts_with("sleep ("), "{line}");
        assert!(line.contains("TIMED OUT"), "{line}");
    }
}

#[test]
fn a_small_big_cluster_reports_when_leaders_were_back() {
    let out = bench(&[
        "--case",
        "big-cluster",
        "--scale",
        "0.03",
        "--format",
        "json",
    ]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let report = &lines[0];
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(out.status.code(), Some(0));
    let figure = |name: &str| {
        report["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no figure {name} in {report}"))
            .clone()
    };
    let back = figure("leaders back after")["value"].as_f64().unwrap();
    assert!(back > 0.0 && back < 40.0, "{back}");
    for name in ["wall", "peak memory", "events/s"] {
        let f = figure(name);
        assert!(f["value"].as_f64().is_some(), "{f}");
        if name != "events/s" {
            assert!(f["goal"].is_string(), "{f}");
        }
    }
}

#[test]
fn every_case_can_print_the_scenario_it_runs() {
    for case in ["steady", "partitions", "big-cluster", "sweep"] {
        let out = bench(&["--case", case, "--scale", "0.1", "--print-scenario"]);
        assert!(out.status.success(), "{case}");
        let text = String::from_utf8(out.stdout).unwrap();
        kafka_sim::scenario::Scenario::parse(case, &text).unwrap_or_else(|e| panic!("{case}: {e}"));
    }
    let out = bench(&["--print-scenario"]);
    assert_eq!(out.status.code(), Some(2), "needs one case");
    let out = bench(&["--case", "partitions", "--partitions", "15"]);
    assert_eq!(out.status.code(), Some(2), "not a multiple of 10");
}
