//! `kafka-sim assign`: the built binary on input from standard input and from a file, and
//! its exit code 2 with the field named on bad input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn assign_stdin(input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-sim"))
        .args(["assign", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kafka-sim");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("kafka-sim runs")
}

fn assign_file(name: &str, input: &str) -> (String, Output) {
    let path = std::env::temp_dir().join(format!("kafka-sim-assign-{}-{name}", std::process::id()));
    std::fs::write(&path, input).expect("write temp file");
    let path = path.to_str().expect("utf-8 path").to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_kafka-sim"))
        .args(["assign", &path])
        .output()
        .expect("kafka-sim runs");
    let _ = std::fs::remove_file(&path);
    (path, output)
}

fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "exit {:?}, stderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

#[test]
fn range_from_stdin() {
    let output = assign_stdin(
        r#"{"strategy": "range", "topics": {"orders": 3, "pay-ments": 2},
            "members": [{"member_id": "c2", "topics": ["orders", "pay-ments"]},
                        {"member_id": "c1", "topics": ["orders", "pay-ments"]}]}"#,
    );
    assert_eq!(
        stdout_json(&output),
        serde_json::json!({"assignment": {
            "c1": ["orders-0", "orders-1", "pay-ments-0"],
            "c2": ["orders-2", "pay-ments-1"],
        }})
    );
}

#[test]
fn cooperative_sticky_from_a_file_withholds_moving_partitions() {
    // c1 owned all three partitions; c2 joins. Sticky moves one partition to c2, and the
    // cooperative assignor withholds it until c1 has revoked it.
    let input = r#"{"strategy": "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
        "topics": {"orders": 3},
        "members": [
          {"member_id": "c1", "group_instance_id": null, "topics": ["orders"],
           "owned_partitions": ["orders-0", "orders-1", "orders-2"], "generation": 1},
          {"member_id": "c2", "topics": ["orders"], "generation": 1}]}"#;
    let (_, output) = assign_file("coop.json", input);
    assert_eq!(
        stdout_json(&output),
        serde_json::json!({"assignment": {"c1": ["orders-0", "orders-1"], "c2": []}})
    );
    let eager = input.replace(
        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
        "sticky",
    );
    assert_eq!(
        stdout_json(&assign_stdin(&eager)),
        serde_json::json!({"assignment": {"c1": ["orders-0", "orders-1"], "c2": ["orders-2"]}})
    );
}

fn assert_bad_input(output: &Output, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(output.stdout.is_empty());
    for part in expected {
        assert!(stderr.contains(part), "{part:?} not in {stderr:?}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_names_the_file_and_the_field() {
    let (path, output) = assign_file(
        "bad-partition.json",
        r#"{"strategy": "roundrobin", "topics": {"orders": 3},
            "members": [{"member_id": "c1", "topics": ["orders"]},
                        {"member_id": "c2", "topics": ["orders"], "owned_partitions": ["orders-x"]}]}"#,
    );
    assert_bad_input(
        &output,
        &[
            &path,
            r#"members[1].owned_partitions[0]: "orders-x" is not topic-N"#,
        ],
    );

    let cases = [
        ("{", "invalid JSON"),
        (
            r#"{"strategy": "fair", "topics": {}, "members": []}"#,
            "strategy: unknown strategy \"fair\"",
        ),
        (
            r#"{"strategy": "range", "topics": {"orders": 0}, "members": []}"#,
            "topics.\"orders\"",
        ),
        (
            r#"{"strategy": "range", "topics": {"orders": 3}, "members": [{"member_id": "c1", "owned_partitions": ["orders-3"]}]}"#,
            "members[0].owned_partitions[0]",
        ),
        (
            r#"{"strategy": "range", "topics": {}, "members": [{"member_id": "c1"}, {"member_id": "c1"}]}"#,
            "members[1].member_id",
        ),
        (
            r#"{"strategy": "range", "topics": {}, "members": [{"member_id": "c1", "rack": "a"}]}"#,
            "members[0].rack: unknown field",
        ),
        (
            r#"{"strategy": "sticky", "topics": {}, "members": [{"member_id": "c1", "generation": "2"}]}"#,
            "members[0].generation",
        ),
    ];
    for (input, field) in cases {
        assert_bad_input(&assign_stdin(input), &["<stdin>", field]);
    }

    let missing = Command::new(env!("CARGO_BIN_EXE_kafka-sim"))
        .args(["assign", "/nonexistent/group.json"])
        .output()
        .expect("kafka-sim runs");
    assert_bad_input(&missing, &["/nonexistent/group.json", "cannot read"]);
}
