//! `kafka-sim what-if` on the command line: a change that matters changes the outcome, the
//! JSON has the shape the docs give, and a key the scenario cannot hold exits 2 with the
//! nearest key. (The library's tests in `what_if/tests.rs` cover keys, values and schedules.)

use std::process::{Command, Output};

fn what_if(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-sim"))
        .arg("what-if")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run kafka-sim")
}

#[test]
fn acks_all_keeps_what_acks_1_loses() {
    let out = what_if(&[
        "scenarios/acks-1-loses-on-leader-crash.toml",
        "--set",
        "producer.orders-app.acks=all",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(json["base"]["records"]["acked_lost"].as_u64().unwrap() > 0);
    assert_eq!(json["changed"]["records"]["acked_lost"], 0);
    assert_eq!(json["set"]["producer.orders-app.acks"], "all");
    assert!(json["first_divergence_ms"].as_u64().is_some());
}

#[test]
fn an_unknown_key_exits_2_and_names_the_nearest() {
    let out = what_if(&[
        "scenarios/acks-1-loses-on-leader-crash.toml",
        "--set",
        "cluster.config.unclean.leader.election.enabled=false",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did you mean `unclean.leader.election.enable`"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn vary_prints_one_row_per_value() {
    let out = what_if(&[
        "scenarios/kip-101-hw-truncation-loss-old.toml",
        "--vary",
        "cluster.kafka_version=0.10.2,0.11.0,3.7",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for version in ["0.10.2", "0.11.0", "3.7"] {
        assert_eq!(
            text.lines().filter(|l| l.starts_with(version)).count(),
            1,
            "{text}"
        );
    }
}
