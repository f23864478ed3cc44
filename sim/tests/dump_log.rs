//! `kafka-sim run --dump-log T-P`: a producer's `sequence` writes an exact log, and the dump
//! shows it on every replica, batch by batch and record by record, the same every run.

use kafka_model::TopicPartition;
use kafka_sim::scenario::Scenario;
use kafka_sim::{dump_log, world};

const SCENARIO: &str = r#"# Three exact records, one a tombstone with an old timestamp.
name = "dump"
duration = "20s"
settle = "5s"
seed = 3

[cluster]
brokers = 2

[[topics]]
name = "orders"
partitions = 1
replication_factor = 2

[[producers]]
name = "exact"
topic = "orders"
rate = 1
start = "2s"
config = { "acks" = "all", "linger.ms" = 0 }
sequence = [
  { key = "K1", value = "a" },
  { key = "K2", value = "b" },
  { key = "K1", tombstone = true, timestamp_ms = 5 },
]
"#;

fn dump() -> String {
    let mut scenario = Scenario::parse("dump.toml", SCENARIO).unwrap_or_else(|e| panic!("{e}"));
    let tp = TopicPartition::new("orders", 0);
    scenario.keep_log = Some(tp.clone());
    let result = world::run(&scenario, scenario.seed);
    assert_eq!(result.kept_logs.len(), 2, "one log per replica");
    dump_log::dump(&tp, &result.kept_logs)
}

#[test]
fn the_dump_shows_every_replicas_exact_records_the_same_every_run() {
    let text = dump();
    for broker in [0, 1] {
        assert!(
            text.contains(&format!(
                "broker {broker} (online): orders-0, log start offset 0, log end offset 3, 1 segment(s)"
            )),
            "{text}"
        );
    }
    assert_eq!(
        text.matches("Dumping 00000000000000000000.log (active segment)")
            .count(),
        2,
        "{text}"
    );
    let records: Vec<&str> = text.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(
        records.len(),
        6,
        "three records on each of two replicas: {text}"
    );
    assert!(records[0].starts_with("| offset: 0 CreateTime: 2000 keySize: 2 valueSize: 1"));
    assert!(records[0].ends_with("key: K1 payload: a"), "{}", records[0]);
    assert!(records[1].ends_with("key: K2 payload: b"), "{}", records[1]);
    assert!(
        records[2].starts_with("| offset: 2 CreateTime: 5 keySize: 2 valueSize: -1"),
        "an explicit timestamp_ms is the record's CreateTime: {}",
        records[2]
    );
    assert!(records[2].ends_with("key: K1 (tombstone: null value)"));
    let batch = text
        .lines()
        .find(|l| l.starts_with("baseOffset: 1 "))
        .expect("a batch line");
    assert!(
        batch.starts_with("baseOffset: 1 lastOffset: 1 count: 1 "),
        "{batch}"
    );
    assert!(
        batch.contains("deleteHorizonMs: OptionalLong.empty"),
        "{batch}"
    );
    assert_eq!(text, dump(), "the dump is a function of the seed");
}
