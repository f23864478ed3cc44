//! `kafka-sim import`: the written scenario loads, runs once a workload is uncommented, and
//! bad input writes nothing.

use kafka_sim::scenario::Scenario;
use kafka_sim::world;
use kafka_sim::{narrate, report};
use std::path::PathBuf;
use std::process::Command;

const DESCRIBE: &str = "Topic: orders\tTopicId: 4dS8nGmCSfKZ4sDvNj1zcQ\tPartitionCount: 3\tReplicationFactor: 3\tConfigs: min.insync.replicas=2,retention.ms=604800000\n\
\tTopic: orders\tPartition: 0\tLeader: 101\tReplicas: 101,102,103\tIsr: 101,102,103\tElr: \tLastKnownElr: \n\
\tTopic: orders\tPartition: 1\tLeader: 102\tReplicas: 102,103,101\tIsr: 102,103,101\tElr: \tLastKnownElr: \n\
\tTopic: orders\tPartition: 2\tLeader: 103\tReplicas: 103,101,102\tIsr: 103,101,102\tElr: \tLastKnownElr: \n";

const CONFIGS: &str = "All configs for broker 101 are:\n\
  zookeeper.session.timeout.ms=18000 sensitive=false synonyms={DEFAULT_CONFIG:zookeeper.session.timeout.ms=18000}\n\
  unclean.leader.election.enable=false sensitive=false synonyms={DEFAULT_CONFIG:unclean.leader.election.enable=false}\n\
  num.io.threads=8 sensitive=false synonyms={DEFAULT_CONFIG:num.io.threads=8}\n";

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kafka-sim-import-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn kafka_sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-sim"))
        .args(args)
        .output()
        .expect("run kafka-sim")
}

#[test]
fn the_imported_scenario_checks_and_runs_once_its_workload_is_uncommented() {
    let d = dir("ok");
    let describe = d.join("describe.txt");
    let configs = d.join("configs.txt");
    let out = d.join("my-cluster.toml");
    std::fs::write(&describe, DESCRIBE).unwrap();
    std::fs::write(&configs, CONFIGS).unwrap();
    let o = kafka_sim(&[
        "import",
        describe.to_str().unwrap(),
        "--configs",
        configs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let check = kafka_sim(&["check", out.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("#   num.io.threads = 8  (broker 101)"),
        "{text}"
    );
    let (head, tail) = text.split_at(text.find("# A workload and a fault").unwrap());
    let workload: Vec<&str> = tail
        .lines()
        .skip(1)
        .map(|l| {
            l.strip_prefix("# ")
                .or_else(|| l.strip_prefix('#'))
                .unwrap_or(l)
        })
        .collect();
    let scenario = Scenario::parse(
        "my-cluster.toml",
        &format!("{head}{}\n", workload.join("\n")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let result = world::run(&scenario, 1);
    let (outcome, _) = report::outcome(&scenario, 1, &result);
    assert_eq!(outcome.records.acked, 1000);
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    let story = narrate::narrate(&result, &scenario).join("\n");
    assert!(story.contains("broker 101"), "{story}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_input_exits_2_naming_the_line_and_writes_nothing() {
    let d = dir("bad");
    let describe = d.join("describe.txt");
    let out = d.join("out.toml");
    // The partition count says 4, the lines give 3.
    std::fs::write(
        &describe,
        DESCRIBE.replace("PartitionCount: 3", "PartitionCount: 4"),
    )
    .unwrap();
    let o = kafka_sim(&[
        "import",
        describe.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("describe.txt:1: "), "{stderr}");
    assert!(stderr.contains("PartitionCount: 4 but 3"), "{stderr}");
    assert!(!out.exists());
    assert!(!d.join("out.toml.tmp").exists());
    let missing = kafka_sim(&[
        "import",
        "/nonexistent/describe.txt",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&d);
}
