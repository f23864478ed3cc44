//! Fault lines say what each fault did: a restart of a running broker, a resume of a process
//! that is not paused and a heal with nothing to heal change nothing and say so (and the
//! outcome and `kafka-sim check` warn of them); a restart of a paused broker wakes it; a heal
//! of one node ends the whole split it was part of, and names it; a broker is named with the
//! roles it holds.

use kafka_sim::scenario::Scenario;
use kafka_sim::world;

const SCENARIO: &str = r#"# Faults that do less than their names say.
name = "fault-lines"
duration = "20s"
settle = "5s"

[cluster]
brokers = 3

[cluster.config]
"zookeeper.session.timeout.ms" = 6000

[[topics]]
name = "orders"
partitions = 1
replication_factor = 3

[[faults]]
at = "2s"
action = "restart"
target = 1

[[faults]]
at = "3s"
action = "resume"
target = 1

[[faults]]
at = "4s"
action = "heal"

[[faults]]
at = "5s"
action = "pause"
target = 2

[[faults]]
at = "6s"
action = "restart"
target = 2

[[faults]]
at = "7s"
action = "partition"
groups = [[0], [1, 2]]

[[faults]]
at = "8s"
action = "heal"
target = 1
"#;

#[test]
fn each_fault_line_says_what_the_fault_did() {
    let scenario = Scenario::parse("fault-lines.toml", SCENARIO).unwrap_or_else(|e| panic!("{e}"));
    // Seed 16 makes broker 1 the controller, the role its fault lines name.
    let result = world::run(&scenario, 16);
    let faults: Vec<(u64, &str, &str)> = result
        .faults
        .iter()
        .map(|f| (f.at_ms, f.action.as_str(), f.detail.as_str()))
        .collect();
    let expected = [
        (
            2_000,
            "no-op",
            "restart broker 1 (the controller): it is running, so nothing restarts",
        ),
        (
            3_000,
            "no-op",
            "resume broker 1 (the controller): it is not paused, so nothing wakes up",
        ),
        (4_000, "no-op", "heal every network fault: nothing to heal"),
        (5_000, "pause", "broker 2"),
        (6_000, "resume", "broker 2"),
        (7_000, "partition", "[broker 0] | [broker 1, broker 2]"),
        (
            8_000,
            "heal",
            "broker 1 (the controller), and with it the whole split [broker 0] | [broker 1, broker 2]",
        ),
    ];
    for want in expected {
        assert!(faults.contains(&want), "{want:?} not in {faults:?}");
    }
    let timeline = kafka_sim::narrate::narrate(&result, &scenario);
    assert!(
        timeline.iter().any(|l| l
            .ends_with("FAULT, no effect: restart broker 1 (the controller): it is running, so nothing restarts")),
        "{timeline:#?}"
    );
    assert!(timeline
        .iter()
        .any(|l| l.ends_with("FAULT: broker 2 wakes up and carries on as if no time had passed")));
    let (outcome, _) = kafka_sim::report::outcome(&scenario, 16, &result);
    assert_eq!(
        outcome.warnings,
        vec![
            "the fault at t=2.000s does nothing: restart broker 1 (the controller): it is running, so nothing restarts",
            "the fault at t=3.000s does nothing: resume broker 1 (the controller): it is not paused, so nothing wakes up",
            "the fault at t=4.000s does nothing: heal every network fault: nothing to heal",
        ]
    );
}

#[test]
fn check_warns_of_a_fault_that_does_nothing_and_still_passes() {
    let dir = std::env::temp_dir().join(format!("kafka-sim-fault-lines-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let file = dir.join("fault-lines.toml");
    std::fs::write(&file, SCENARIO).expect("written");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-sim"))
        .arg("check")
        .arg(&file)
        .output()
        .expect("kafka-sim runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: the fault at t=2.000s does nothing: restart broker 1"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).expect("removed");
}
