use super::*;
use kafka_model::clients::consumer::CommitMode;
use kafka_model::TopicPartition;
use std::collections::{BTreeMap, BTreeSet};
type Result<T> = std::result::Result<T, ScenarioError>;

const EXAMPLE: &str = r#"# What this shows.
# Second line.
name = "unclean-election-loses-acked"
duration = "60s"
settle = "30s"
seed = 7

[cluster]
brokers = 3

[cluster.config]
"unclean.leader.election.enable" = true
"replica.lag.time.max.ms" = 10000

[network]
latency = "1ms..5ms"
loss = 0.0

[[topics]]
name = "orders"
partitions = 1
replication_factor = 3
replicas = [[0, 1, 2]]
config = { "min.insync.replicas" = 1 }

[[producers]]
name = "p1"
topic = "orders"
records = 2000
rate = 100
keys = 8
config = { "acks" = "all", "linger.ms" = 5 }

[[consumers]]
name = "c1"
topics = ["orders"]

[[faults]]
at = "10s"
action = "slow"
target = 1
delay = "30s"
[[faults]]
at = "12s"
action = "crash"
target = "leader:orders-0"
[[faults]]
at = "14s"
action = "partition"
groups = [[0], [1, 2, "zookeeper"]]

[expect]
acked_lost = ">0"
unclean_elections = ">=1"
violations = ["acked-record-lost", "committed-record-lost"]
"#;

fn parse(text: &str) -> Result<Scenario> {
    Scenario::parse("s.toml", text)
}

#[test]
fn the_example_parses() {
    let s = parse(EXAMPLE).unwrap();
    assert_eq!(s.name, "unclean-election-loses-acked");
    assert_eq!(s.description, "What this shows.\nSecond line.");
    assert_eq!((s.duration_ms, s.settle_ms, s.seed), (60_000, 30_000, 7));
    assert!(
        s.cluster
            .config
            .topic_defaults
            .unclean_leader_election_enable
    );
    assert_eq!(s.cluster.config.replica_lag_time_max_ms, 10_000);
    assert_eq!(
        (s.network.latency_min_us, s.network.latency_max_us),
        (1_000, 5_000)
    );
    assert_eq!(s.topics[0].replicas, vec![vec![0, 1, 2]]);
    assert_eq!(s.topics[0].config.min_insync_replicas, 1);
    assert!(
        s.topics[0].config.unclean_leader_election_enable,
        "topic configs start from the broker defaults"
    );
    assert_eq!(s.producers[0].config.linger_ms, 5);
    assert_eq!(s.faults.len(), 3);
    assert_eq!(
        s.faults[0].action,
        FaultAction::Slow {
            target: Target::Broker(1),
            delay_ms: 30_000,
            direction: SlowDirection::Both,
        }
    );
    assert_eq!(
        s.faults[1].action,
        FaultAction::Crash(Target::Leader(TopicPartition::new("orders", 0)))
    );
    assert_eq!(
        s.faults[2].action,
        FaultAction::Partition(vec![
            vec![Target::Broker(0)],
            vec![Target::Broker(1), Target::Broker(2), Target::ZooKeeper]
        ])
    );
    assert_eq!(s.expect.violations.as_ref().unwrap().len(), 2);
}

#[test]
fn unknown_config_key_names_line_key_and_suggestion() {
    let text = EXAMPLE.replace(
        r#"config = { "min.insync.replicas" = 1 }"#,
        r#"config = { "min.insync.replica" = 1 }"#,
    );
    let e = parse(&text).unwrap_err();
    assert_eq!(e.line, 24);
    assert_eq!(e.key.as_deref(), Some("min.insync.replica"));
    assert!(
        e.message.contains("did you mean `min.insync.replicas`"),
        "{e}"
    );
}

#[test]
fn unknown_top_level_key() {
    let e = parse(&EXAMPLE.replace("settle = ", "setle = ")).unwrap_err();
    assert_eq!((e.line, e.key.as_deref()), (5, Some("setle")));
    assert!(e.message.contains("did you mean `settle`"));
}

const GROUP_SCENARIO: &str = r#"
name = "g"
[cluster]
brokers = 3
[[topics]]
name = "orders"
partitions = 3
replication_factor = 3
[[producers]]
name = "shop"
topic = "orders"
records = 10
rate = 1
[[consumers]]
name = "billing"
group = "billing"
members = 3
topics = ["orders"]
processing = "5ms"
commit = "after-processing"
config = { "partition.assignment.strategy" = "cooperative-sticky", "session.timeout.ms" = 10000 }
[[faults]]
at = "5s"
action = "crash"
target = "consumer:billing-1"
[[faults]]
at = "6s"
action = "crash"
target = "coordinator:billing"
"#;

#[test]
fn a_group_entry_becomes_one_consumer_per_member() {
    let s = parse(GROUP_SCENARIO).unwrap();
    let names: Vec<&str> = s.consumers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["billing-0", "billing-1", "billing-2"]);
    let c = &s.consumers[1];
    let g = c.group.as_ref().unwrap();
    assert_eq!(g.group_id, "billing");
    assert_eq!(g.commit, CommitMode::AfterProcessing);
    assert_eq!(g.processing_ms, 5);
    assert_eq!(c.config.group_id.as_deref(), Some("billing"));
    assert!(!c.config.enable_auto_commit);
    assert_eq!(c.config.session_timeout_ms, 10_000);
    assert_eq!(
        c.config.partition_assignment_strategy,
        vec![kafka_model::assignor::Strategy::CooperativeSticky]
    );
    assert_eq!(
        s.faults[0].action,
        FaultAction::Crash(Target::Consumer("billing-1".into()))
    );
    assert_eq!(
        s.faults[1].action,
        FaultAction::Crash(Target::Coordinator("billing".into()))
    );
}

#[test]
fn a_group_on_too_small_a_cluster_is_warned_about() {
    let s = parse(GROUP_SCENARIO).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let s = parse(
        &GROUP_SCENARIO
            .replace("brokers = 3", "brokers = 1")
            .replace("replication_factor = 3", "replication_factor = 1"),
    )
    .unwrap();
    assert!(
        s.warnings[0].contains("never find a coordinator"),
        "{:?}",
        s.warnings
    );
}

#[test]
fn group_key_errors_name_the_key() {
    let e = parse(&GROUP_SCENARIO.replace("consumer:billing-1", "consumer:billing-7")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("target"));
    assert!(e.message.contains("no consumer named `billing-7`"), "{e}");
    let e = parse(&GROUP_SCENARIO.replace("coordinator:billing", "coordinator:bill")).unwrap_err();
    assert!(e.message.contains("no consumer group named `bill`"), "{e}");
    let e = parse(&GROUP_SCENARIO.replace("\"after-processing\"", "\"sometimes\"")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("commit"));
    let e = parse(&GROUP_SCENARIO.replace("group = \"billing\"\n", "")).unwrap_err();
    assert!(e.message.contains("is for a consumer group"), "{e}");
    let e = parse(&GROUP_SCENARIO.replace(
        "\"session.timeout.ms\" = 10000",
        "\"enable.auto.commit\" = true",
    ))
    .unwrap_err();
    assert!(e.message.contains("contradicts"), "{e}");
    let e = parse(&GROUP_SCENARIO.replace(
        "action = \"crash\"\ntarget = \"consumer",
        "action = \"power-loss\"\ntarget = \"consumer",
    ))
    .unwrap_err();
    assert!(e.message.contains("power-loss is for brokers"), "{e}");
    let e = parse(&GROUP_SCENARIO.replace("\"cooperative-sticky\"", "\"fair\"")).unwrap_err();
    assert!(e.message.contains("partition.assignment.strategy"), "{e}");
}

const IDS_SCENARIO: &str = r#"name = "ids"
[cluster]
broker_ids = [101, 102, 103]
[[topics]]
name = "orders"
partitions = 4
replication_factor = 3
[[topics]]
name = "audit"
partitions = 1
replication_factor = 2
replicas = [[103, 101]]
[[faults]]
at = "5s"
action = "crash"
target = "broker:102"
[[faults]]
at = "6s"
action = "partition"
groups = [[101], [102, 103, "zookeeper"]]
[[faults]]
at = "7s"
action = "restart"
target = 102
"#;

#[test]
fn broker_ids_are_kept_everywhere() {
    let s = parse(IDS_SCENARIO).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.cluster.broker_ids(), &[101, 102, 103]);
    assert_eq!(s.cluster.describe_ids(), "101 to 103");
    assert_eq!(
        s.topics[0].replicas,
        vec![
            vec![101, 102, 103],
            vec![102, 103, 101],
            vec![103, 101, 102],
            vec![101, 102, 103]
        ]
    );
    assert_eq!(s.topics[1].replicas, vec![vec![103, 101]]);
    assert_eq!(s.faults[0].action, FaultAction::Crash(Target::Broker(102)));
    assert_eq!(
        s.faults[1].action,
        FaultAction::Partition(vec![
            vec![Target::Broker(101)],
            vec![Target::Broker(102), Target::Broker(103), Target::ZooKeeper]
        ])
    );
    // `brokers = N` is ids 0 to N-1, with the round-robin assignment from broker 0.
    let s = parse(EXAMPLE).unwrap();
    assert_eq!(s.cluster.broker_ids(), &[0, 1, 2]);
    let unordered = parse(&IDS_SCENARIO.replace("[101, 102, 103]", "[103, 7, 101, 102]"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unordered.cluster.broker_ids(), &[7, 101, 102, 103]);
    assert_eq!(unordered.cluster.describe_ids(), "7, 101 to 103");
    assert_eq!(unordered.topics[0].replicas[0], vec![7, 101, 102]);
}

/// `[cluster] kafka_version` picks the release (the code rules); the protocol version defaults
/// to its major.minor and may be set lower on its own, as in a rolling upgrade.
#[test]
fn kafka_version_selects_the_release_and_the_default_protocol() {
    use kafka_model::config::{KafkaVersion, ProtocolVersion};
    let versions = |s: &Scenario| {
        let c = &s.cluster.config;
        (
            c.kafka_version.to_string(),
            c.inter_broker_protocol_version.to_string(),
        )
    };
    let s = parse(EXAMPLE).unwrap();
    assert_eq!(s.cluster.config.kafka_version, KafkaVersion::LATEST);
    assert_eq!(versions(&s), ("3.7.1".into(), "3.7".into()));
    let with = |release: &str| {
        EXAMPLE.replace(
            "brokers = 3\n",
            &format!("brokers = 3\nkafka_version = \"{release}\"\n"),
        )
    };
    let s = parse(&with("0.10.2")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(versions(&s), ("0.10.2.0".into(), "0.10".into()));
    let s = parse(&with("2.0.1")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(versions(&s), ("2.0.1".into(), "2.0".into()));
    let upgrade = with("2.1.1").replace(
        "[cluster.config]\n",
        "[cluster.config]\n\"inter.broker.protocol.version\" = \"0.11.0\"\n",
    );
    let s = parse(&upgrade).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(versions(&s), ("2.1.1".into(), "0.11".into()));
    assert_eq!(
        s.cluster.config.inter_broker_protocol_version,
        ProtocolVersion::parse("0.11.0").unwrap()
    );
}

#[test]
fn broker_id_errors_name_file_line_and_key() {
    // (replacement for the `broker_ids` line, line, key, message)
    let cases = [
        ("brokers = 3\nbroker_ids = [1]", 4, "broker_ids", "not both"),
        ("", 2, "brokers", "needs `brokers = N`"),
        ("brokers = 0", 3, "brokers", "out of range"),
        ("broker_ids = []", 3, "broker_ids", "at least one broker"),
        (
            "broker_ids = [1, 2, 1]",
            3,
            "broker_ids",
            "broker id 1 appears twice",
        ),
        ("broker_ids = [1, -2, 3]", 3, "broker_ids", "out of range"),
        (
            "broker_ids = [1, 2147483648]",
            3,
            "broker_ids",
            "out of range",
        ),
        ("broker_ids = [1, \"2\"]", 3, "broker_ids", "whole number"),
        ("broker_ids = 3", 3, "broker_ids", "list of broker ids"),
    ];
    for (to, line, key, message) in cases {
        let text = IDS_SCENARIO.replace("broker_ids = [101, 102, 103]", to);
        let e = parse(&text).expect_err(to);
        assert_eq!(e.file, "s.toml");
        assert_eq!((e.line, e.key.as_deref()), (line, Some(key)), "{to}: {e}");
        assert!(e.message.contains(message), "{to}: {e}");
    }
    let e = parse(&IDS_SCENARIO.replace("\"broker:102\"", "\"broker:2\"")).unwrap_err();
    assert!(
        e.message
            .contains("broker 2 does not exist (the broker ids are 101 to 103)"),
        "{e}"
    );
    let e = parse(&IDS_SCENARIO.replace("target = 102", "target = 4294967398")).unwrap_err();
    assert!(
        e.message.contains("broker 4294967398 does not exist"),
        "{e}"
    );
    let e = parse(&IDS_SCENARIO.replace("[[103, 101]]", "[[103, 1]]")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("replicas"));
    assert!(e.message.contains("the broker ids are 101 to 103"), "{e}");
    let e = parse(&IDS_SCENARIO.replace("[[101], [102", "[[100], [102")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("groups"));
    let e = parse(&IDS_SCENARIO.replace("replication_factor = 3", "replication_factor = 4"))
        .unwrap_err();
    assert!(e.message.contains("out of range (1 to 3)"), "{e}");
}

#[test]
fn the_offsets_topic_warning_counts_the_listed_brokers() {
    let text = GROUP_SCENARIO
        .replace("brokers = 3", "broker_ids = [10, 20]")
        .replace("replication_factor = 3", "replication_factor = 2");
    let s = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        s.warnings[0].contains("the cluster has 2 broker(s)"),
        "{:?}",
        s.warnings
    );
}

/// A small scenario with one slot per scope for a config entry.
const TIMERS: &str = r#"name = "timers"
duration = "20s"
#NETWORK#
[cluster]
brokers = 3
[cluster.config]
#BROKER#
[[topics]]
name = "orders"
partitions = 2
replication_factor = 3
config = { "unclean.leader.election.enable" = false #TOPIC# }
[[producers]]
name = "p"
topic = "orders"
records = 10
rate = 10
config = { "acks" = "all" #PRODUCER# }
[[consumers]]
name = "g"
group = "g"
members = 2
topics = ["orders"]
processing = "1ms"
config = { "auto.offset.reset" = "earliest" #CONSUMER# }
#TAIL#
"#;

/// The timer scenario with `entry` put in `slot` (BROKER, TOPIC, PRODUCER, CONSUMER,
/// NETWORK or TAIL); entries in the inline tables get their leading comma here.
fn timers_with(slot: &str, entry: &str) -> String {
    let mut text = TIMERS.to_string();
    for s in ["NETWORK", "BROKER", "TOPIC", "PRODUCER", "CONSUMER", "TAIL"] {
        let marker = format!("#{s}#");
        let with = if s != slot {
            String::new()
        } else if matches!(s, "TOPIC" | "PRODUCER" | "CONSUMER") {
            format!(", {entry}")
        } else {
            entry.to_string()
        };
        text = text.replace(&marker, &with);
    }
    text
}

/// Every duration, count and config that drives a timer or a rate: a value that would
/// give a timer a period of 0 (or a timeout no answer can meet) is an error naming the
/// file, the line and the key.
#[test]
fn timer_values_kafka_refuses_are_errors_naming_the_key() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (slot, entry, key, part of the message)
        (
            "BROKER",
            r#""zookeeper.session.timeout.ms" = 0"#,
            "zookeeper.session.timeout.ms",
            "fails to start",
        ),
        (
            "BROKER",
            r#""zookeeper.session.timeout.ms" = 1"#,
            "zookeeper.session.timeout.ms",
            "round trip to ZooKeeper",
        ),
        (
            "BROKER",
            r#""replica.lag.time.max.ms" = 100"#,
            "replica.lag.time.max.ms",
            "frequent changes in ISR",
        ),
        (
            "BROKER",
            r#""replica.fetch.wait.max.ms" = 40000"#,
            "replica.fetch.wait.max.ms",
            "unnecessary socket timeouts",
        ),
        (
            "BROKER",
            "\"replica.fetch.wait.max.ms\" = 0\n\"replica.socket.timeout.ms\" = 0",
            "replica.socket.timeout.ms",
            "every fetch",
        ),
        (
            "BROKER",
            r#""replica.fetch.backoff.ms" = -1"#,
            "replica.fetch.backoff.ms",
            "non-negative",
        ),
        (
            "BROKER",
            r#""replica.high.watermark.checkpoint.interval.ms" = -5"#,
            "replica.high.watermark.checkpoint.interval.ms",
            "non-negative",
        ),
        (
            "BROKER",
            r#""log.flush.interval.messages" = 0"#,
            "log.flush.interval.messages",
            "atLeast(1)",
        ),
        (
            "BROKER",
            r#""log.flush.interval.ms" = -1"#,
            "log.flush.interval.ms",
            "non-negative",
        ),
        (
            "BROKER",
            r#""min.insync.replicas" = 0"#,
            "min.insync.replicas",
            "atLeast(1)",
        ),
        (
            "BROKER",
            r#""offsets.topic.num.partitions" = 0"#,
            "offsets.topic.num.partitions",
            "atLeast(1)",
        ),
        (
            "BROKER",
            r#""offsets.topic.replication.factor" = 0"#,
            "offsets.topic.replication.factor",
            "atLeast(1)",
        ),
        (
            "BROKER",
            r#""offsets.commit.timeout.ms" = 0"#,
            "offsets.commit.timeout.ms",
            "atLeast(1)",
        ),
        (
            "BROKER",
            r#""group.initial.rebalance.delay.ms" = -1"#,
            "group.initial.rebalance.delay.ms",
            "non-negative",
        ),
        (
            "TOPIC",
            r#""flush.messages" = 0"#,
            "flush.messages",
            "atLeast(1)",
        ),
        ("TOPIC", r#""flush.ms" = -1"#, "flush.ms", "non-negative"),
        (
            "TOPIC",
            r#""min.insync.replicas" = 0"#,
            "min.insync.replicas",
            "atLeast(1)",
        ),
        (
            "PRODUCER",
            r#""request.timeout.ms" = 0"#,
            "request.timeout.ms",
            "every request of the producer",
        ),
        (
            "PRODUCER",
            r#""request.timeout.ms" = 3"#,
            "request.timeout.ms",
            "round trip",
        ),
        (
            "PRODUCER",
            r#""delivery.timeout.ms" = 0"#,
            "delivery.timeout.ms",
            "linger.ms + request.timeout.ms",
        ),
        (
            "PRODUCER",
            r#""max.in.flight.requests.per.connection" = 0"#,
            "max.in.flight.requests.per.connection",
            "atLeast(1)",
        ),
        (
            "PRODUCER",
            r#""retry.backoff.ms" = -100"#,
            "retry.backoff.ms",
            "non-negative",
        ),
        (
            "PRODUCER",
            r#""linger.ms" = -1"#,
            "linger.ms",
            "non-negative",
        ),
        (
            "PRODUCER",
            r#""metadata.max.age.ms" = -1"#,
            "metadata.max.age.ms",
            "non-negative",
        ),
        (
            "CONSUMER",
            r#""request.timeout.ms" = 0"#,
            "request.timeout.ms",
            "every request of the consumer",
        ),
        (
            "CONSUMER",
            r#""max.poll.records" = 0"#,
            "max.poll.records",
            "atLeast(1)",
        ),
        (
            "CONSUMER",
            r#""max.poll.interval.ms" = 0"#,
            "max.poll.interval.ms",
            "atLeast(1)",
        ),
        (
            "CONSUMER",
            r#""heartbeat.interval.ms" = 45000"#,
            "heartbeat.interval.ms",
            "lower than session.timeout.ms",
        ),
        (
            "CONSUMER",
            r#""session.timeout.ms" = 0"#,
            "session.timeout.ms",
            "lower than session.timeout.ms",
        ),
        (
            "CONSUMER",
            r#""fetch.max.wait.ms" = -1"#,
            "fetch.max.wait.ms",
            "non-negative",
        ),
        (
            "CONSUMER",
            r#""auto.commit.interval.ms" = -1"#,
            "auto.commit.interval.ms",
            "non-negative",
        ),
        (
            "CONSUMER",
            r#""retry.backoff.ms" = -1"#,
            "retry.backoff.ms",
            "non-negative",
        ),
        (
            "NETWORK",
            "[network]\nlatency = \"-1ms\"",
            "latency",
            "not a latency",
        ),
        (
            "TAIL",
            "[nemesis]\ninterval = \"0s\"",
            "interval",
            "above 0",
        ),
        (
            "TAIL",
            "[nemesis]\nduration = \"0ms..0ms\"",
            "duration",
            "above 0",
        ),
    ];
    for (slot, entry, key, message) in cases {
        let text = timers_with(slot, entry);
        let e = Scenario::parse("timers.toml", &text)
            .expect_err(&format!("{slot} {entry} must be refused"));
        assert_eq!(e.file, "timers.toml");
        assert_eq!(e.key.as_deref(), Some(*key), "{entry}: {e}");
        assert!(e.message.contains(message), "{entry}: {e}");
        let line = text.lines().nth(e.line - 1).unwrap_or_default();
        assert!(
            line.contains(key) || line.starts_with('['),
            "{entry}: line {}: {line}",
            e.line
        );
    }
    // Durations and rates of the scenario itself.
    for (from, to, key) in [
        ("rate = 10", "rate = 0", "rate"),
        (
            "processing = \"1ms\"",
            "processing = \"-1ms\"",
            "processing",
        ),
        ("duration = \"20s\"", "duration = \"0s\"", "duration"),
        ("members = 2", "members = 0", "members"),
    ] {
        let e =
            Scenario::parse("timers.toml", &timers_with("", "").replace(from, to)).expect_err(to);
        assert_eq!(e.key.as_deref(), Some(key), "{to}: {e}");
    }
    // The round trip follows the network: 6 ms passes a 2 ms network.
    let fast = timers_with("NETWORK", "[network]\nlatency = \"1ms..2ms\"").replace(
        "\"acks\" = \"all\"",
        "\"acks\" = \"all\", \"request.timeout.ms\" = 6",
    );
    Scenario::parse("timers.toml", &fast).unwrap_or_else(|e| panic!("{e}"));
}

/// Zeros Kafka takes (no validator, or atLeast(0)) parse; the model gives each timer a
/// positive period or none (see `kafka_sim`'s timer tests for the runs).
#[test]
fn timer_values_kafka_takes_parse() {
    for (slot, entry) in [
        (
            "BROKER",
            "\"replica.lag.time.max.ms\" = 0\n\"replica.fetch.wait.max.ms\" = 0",
        ),
        (
            "BROKER",
            "\"replica.high.watermark.checkpoint.interval.ms\" = 0",
        ),
        ("BROKER", "\"replica.fetch.backoff.ms\" = 0"),
        ("BROKER", "\"log.flush.interval.ms\" = 0"),
        ("BROKER", "\"group.initial.rebalance.delay.ms\" = 0"),
        ("PRODUCER", "\"retry.backoff.ms\" = 0"),
        ("PRODUCER", "\"metadata.max.age.ms\" = 0"),
        ("CONSUMER", "\"retry.backoff.ms\" = 0"),
        ("CONSUMER", "\"heartbeat.interval.ms\" = 0"),
        ("CONSUMER", "\"max.poll.interval.ms\" = 1"),
        ("CONSUMER", "\"auto.commit.interval.ms\" = 0"),
    ] {
        Scenario::parse("timers.toml", &timers_with(slot, entry))
            .unwrap_or_else(|e| panic!("{entry}: {e}"));
    }
}

#[test]
fn fault_errors() {
    let e = parse(&EXAMPLE.replace("target = 1\ndelay", "target = 7\ndelay")).unwrap_err();
    assert!(e.message.contains("broker 7 does not exist"), "{e}");
    let e = parse(&EXAMPLE.replace("action = \"crash\"", "action = \"crahs\"")).unwrap_err();
    assert!(e.message.contains("did you mean `crash`"), "{e}");
    let e = parse(&EXAMPLE.replace("\"leader:orders-0\"", "\"leader:orders-3\"")).unwrap_err();
    assert!(e.message.contains("partitions 0 to 0"), "{e}");
    let e = parse(&EXAMPLE.replace("delay = \"30s\"", "delay = 30")).unwrap_err();
    assert!(e.message.contains("needs a unit"), "{e}");
    let e = parse(&EXAMPLE.replace(
        "at = \"12s\"\naction = \"crash\"",
        "at = \"12s\"\naction = \"crash\"\nrate = 0.5",
    ))
    .unwrap_err();
    assert!(e.message.contains("only for action = \"loss\""), "{e}");
    let e = parse(&EXAMPLE.replace("at = \"14s\"", "at = \"99s\"")).unwrap_err();
    assert!(e.message.contains("after the run's duration"), "{e}");
}

#[test]
fn topic_errors() {
    let e = parse(&EXAMPLE.replace("name = \"orders\"", "name = \"or ders\"")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("name"));
    let e =
        parse(&EXAMPLE.replace("replicas = [[0, 1, 2]]", "replicas = [[0, 1, 1]]")).unwrap_err();
    assert!(e.message.contains("appears twice"), "{e}");
    let e = parse(&EXAMPLE.replace("topic = \"orders\"", "topic = \"order\"")).unwrap_err();
    assert!(e.message.contains("no [[topics]] named `order`"), "{e}");
}

#[test]
fn durations_and_comparisons() {
    assert_eq!(parse_duration_us("1.5s"), Some(1_500_000));
    assert_eq!(parse_duration_us("500ms"), Some(500_000));
    assert_eq!(parse_duration_us("2m"), Some(120_000_000));
    assert_eq!(parse_duration_us("100us"), Some(100));
    assert_eq!(parse_duration_us("10"), None);
    assert_eq!(parse_duration_us("-1s"), None);
    let c = Comparison::parse(">=1").unwrap();
    assert!(c.holds(1) && !c.holds(0));
    assert_eq!(c.to_string(), ">=1");
    assert_eq!(Comparison::parse("0").unwrap().to_string(), "0");
    assert!(Comparison::parse("<5").unwrap().holds(4));
    assert!(Comparison::parse("x").is_none());
}

#[test]
fn expect_check_reports_each_miss() {
    let s = parse(EXAMPLE).unwrap();
    let mut counters = BTreeMap::new();
    counters.insert("acked_lost".to_string(), 0);
    counters.insert("unclean_elections".to_string(), 2);
    let broken: BTreeSet<crate::check::Invariant> =
        [crate::check::Invariant::AckedRecordLost].into();
    let failures = s.expect.check(&counters, &broken);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0], "expected acked_lost >0, got 0");
    assert!(
        failures[1].starts_with("expected violations [acked-record-lost, committed-record-lost]")
    );
}

#[test]
fn mangled_input_never_panics() {
    for cut in (0..EXAMPLE.len()).step_by(37) {
        let _ = parse(&EXAMPLE[..cut]);
    }
    for (from, to) in [
        ("=", ""),
        ("[", "{"),
        ("\"", ""),
        ("3", "-3"),
        ("1", "99999999999999999999"),
    ] {
        let _ = parse(&EXAMPLE.replacen(from, to, 3));
    }
}

#[test]
fn comments_change_the_files_hash_but_never_its_schedule() {
    let original = parse(EXAMPLE).unwrap();
    let reworded = EXAMPLE.replace(
        "# Second line.",
        "# Second line, reworded.\n\n# narration: \"x\"",
    );
    let reworded = parse(&reworded).unwrap();
    assert_ne!(
        original.hash(),
        reworded.hash(),
        "a result names the file version it ran"
    );
    assert_eq!(original.schedule_hash(), reworded.schedule_hash());
    let changed = parse(&EXAMPLE.replace("seed = 7", "seed = 8")).unwrap();
    assert_ne!(original.schedule_hash(), changed.schedule_hash());
}

#[test]
fn a_preferred_election_names_a_partition_or_all() {
    let with = |target: &str| {
        format!("{EXAMPLE}\n[[faults]]\nat = \"20s\"\naction = \"preferred-election\"\n{target}\n")
    };
    let s = parse(&with("target = \"orders-0\"")).unwrap();
    assert_eq!(
        s.faults.last().map(|f| f.action.clone()),
        Some(FaultAction::PreferredElection(ElectionScope::Partition(
            TopicPartition::new("orders", 0)
        )))
    );
    let s = parse(&with("target = \"all\"")).unwrap();
    assert_eq!(
        s.faults.last().map(|f| f.action.clone()),
        Some(FaultAction::PreferredElection(ElectionScope::All))
    );
    for (target, says) in [
        ("target = \"orders-1\"", "has partitions 0 to 0"),
        ("target = \"order-0\"", "did you mean `orders`"),
        (
            "target = \"leader:orders-0\"",
            "no [[topics]] named `leader:orders`",
        ),
        ("target = 1", "a partition \"TOPIC-P\" or \"all\""),
        ("", "needs a `target`"),
    ] {
        let e = parse(&with(target)).expect_err(target);
        assert_eq!(e.key.as_deref(), Some("target"), "{target}: {e}");
        assert!(e.message.contains(says), "{target}: {e}");
    }
}

/// `[cluster.os]`: Linux's write-back by default, durations or "never" when set, and the
/// usual error (file, line, key, nearest key) for a typo.
#[test]
fn cluster_os_sets_the_write_back_horizon() {
    use kafka_model::page_cache::WriteBack;
    let s = parse(EXAMPLE).unwrap();
    assert_eq!(s.cluster.os.write_back, WriteBack::LINUX_DEFAULT);
    let with_os = |os: &str| {
        EXAMPLE.replace(
            "[cluster.config]",
            &format!("[cluster.os]\n{os}\n\n[cluster.config]"),
        )
    };
    let s = parse(&with_os("dirty_expire = \"10s\"\ndirty_writeback = \"1s\"")).unwrap();
    assert_eq!(
        s.cluster.os.write_back,
        WriteBack::Periodic {
            dirty_expire_ms: 10_000,
            dirty_writeback_ms: 1_000,
        }
    );
    let s = parse(&with_os("dirty_expire = \"never\"")).unwrap();
    assert_eq!(s.cluster.os.write_back, WriteBack::Never);

    let e = parse(&with_os("dirty_expiry = \"10s\"")).unwrap_err();
    assert_eq!((e.line, e.key.as_deref()), (12, Some("dirty_expiry")));
    assert!(e.message.contains("did you mean `dirty_expire`"), "{e}");
    let e = parse(&with_os("dirty_writeback = \"0s\"")).unwrap_err();
    assert_eq!((e.line, e.key.as_deref()), (12, Some("dirty_writeback")));
    assert!(e.message.contains("write \"never\""), "{e}");
    let e = parse(&with_os("dirty_expire = 30")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("dirty_expire"));
}

/// A producer's `value_bytes`: absent, the label's length; a size; or a range.
#[test]
fn producer_value_bytes_takes_a_size_or_a_range() {
    use kafka_model::clients::producer::ValueBytes;
    let s = parse(EXAMPLE).unwrap();
    assert_eq!(s.producers[0].value_bytes, ValueBytes::Label);
    let with = |v: &str| EXAMPLE.replace("keys = 8", &format!("keys = 8\nvalue_bytes = {v}"));
    let s = parse(&with("100")).unwrap();
    assert_eq!(s.producers[0].value_bytes, ValueBytes::Fixed(100));
    let s = parse(&with("[100, 1000]")).unwrap();
    assert_eq!(
        s.producers[0].value_bytes,
        ValueBytes::Range {
            min: 100,
            max: 1000
        }
    );
    for bad in ["[1000, 100]", "\"100\"", "[1, 2, 3]", "-1"] {
        let e = parse(&with(bad)).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (32, Some("value_bytes")),
            "{bad}: {e}"
        );
    }
}

#[test]
fn shutdown_replace_disk_and_rolling_restart_parse_and_say_what_is_wrong() {
    let shutdown = EXAMPLE.replace("action = \"crash\"", "action = \"shutdown\"");
    let s = parse(&shutdown).unwrap_or_else(|e| panic!("{e}"));
    assert!(s
        .faults
        .iter()
        .any(|f| matches!(f.action, FaultAction::Shutdown(Target::Leader(_)))));
    let e = parse(&shutdown.replace("\"leader:orders-0\"", "\"zookeeper\"")).unwrap_err();
    assert!(e.message.contains("shutdown is for brokers"), "{e}");
    assert_eq!(e.key.as_deref(), Some("target"));
    let replace = EXAMPLE.replace("action = \"crash\"", "action = \"replace-disk\"");
    let s = parse(&replace).unwrap_or_else(|e| panic!("{e}"));
    assert!(s
        .faults
        .iter()
        .any(|f| matches!(f.action, FaultAction::ReplaceDisk(_))));
    // A roll takes no target, and isr_wait only belongs to it.
    let roll = EXAMPLE.replace(
        "action = \"crash\"\ntarget = \"leader:orders-0\"",
        "action = \"rolling-restart\"\nisr_wait = \"90s\"",
    );
    let s = parse(&roll).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.faults.iter().any(|f| f.action
        == FaultAction::RollingRestart {
            isr_wait_ms: 90_000
        }));
    let default_wait = roll.replace("\nisr_wait = \"90s\"", "");
    let s = parse(&default_wait).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.faults.iter().any(|f| f.action
        == FaultAction::RollingRestart {
            isr_wait_ms: 300_000
        }));
    let e = parse(&roll.replace("isr_wait = \"90s\"", "target = 1")).unwrap_err();
    assert!(e.message.contains("takes no `target`"), "{e}");
    let e = parse(&EXAMPLE.replace(
        "action = \"crash\"",
        "action = \"crash\"\nisr_wait = \"10s\"",
    ))
    .unwrap_err();
    assert!(
        e.message.contains("only for action = \"rolling-restart\""),
        "{e}"
    );
    assert_eq!(e.key.as_deref(), Some("isr_wait"));
}

/// `ProducerConfig.postProcessAndValidateIdempotenceConfigs`: on by default from 3.0.1 and
/// turned off, with a warning, by a conflicting setting when not set; an error naming the
/// conflicting key when set; impossible before 0.11.0.
#[test]
fn enable_idempotence_follows_kafkas_rules() {
    let producer = |config: &str| {
        EXAMPLE.replace(
            r#"config = { "acks" = "all", "linger.ms" = 5 }"#,
            &format!("config = {{ {config} }}"),
        )
    };
    let release = |text: String, version: &str| {
        text.replace(
            "[cluster]\nbrokers = 3",
            &format!("[cluster]\nbrokers = 3\nkafka_version = \"{version}\""),
        )
    };
    let idempotent = |text: &str| {
        parse(text).unwrap_or_else(|e| panic!("{e}")).producers[0]
            .config
            .enable_idempotence
    };
    assert!(idempotent(&producer(r#""acks" = "all""#)));
    assert!(
        !idempotent(&producer(r#""acks" = 1"#)),
        "acks=1 turns it off"
    );
    assert!(!idempotent(&release(
        producer(r#""acks" = "all""#),
        "2.8.2"
    )));
    assert!(idempotent(&release(producer(r#""acks" = "all""#), "3.0.1")));
    assert!(!idempotent(&release(
        producer(r#""acks" = "all""#),
        "3.0.0"
    )));
    let s = parse(&producer(r#""retries" = 0"#)).unwrap();
    assert!(!s.producers[0].config.enable_idempotence);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("idempotence turned off because retries")),
        "{:?}",
        s.warnings
    );
    for (config, key) in [
        (r#""enable.idempotence" = true, "acks" = 1"#, "acks"),
        (r#""enable.idempotence" = true, "retries" = 0"#, "retries"),
        (
            r#""enable.idempotence" = true, "max.in.flight.requests.per.connection" = 6"#,
            "max.in.flight.requests.per.connection",
        ),
    ] {
        let e = parse(&producer(config)).expect_err(config);
        assert_eq!(e.key.as_deref(), Some(key), "{config}: {e}");
        assert!(e.message.contains("idempotent producer"), "{e}");
    }
    let e = parse(&release(
        producer(r#""enable.idempotence" = true"#),
        "0.10.2",
    ))
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("enable.idempotence"));
    assert!(e.message.contains("0.11.0"), "{e}");
}

/// The example's producer with `records = 2000` replaced by `lines`.
fn with_sequence(lines: &str) -> String {
    EXAMPLE.replace("records = 2000\n", lines)
}

#[test]
fn a_sequence_gives_the_exact_records_and_their_count() {
    let s = parse(&with_sequence(
        "sequence = [\n  { key = \"K1\", value = \"v\" },\n  { key = \"K2\", tombstone = true, timestamp_ms = 500 },\n  { value = \"keyless\" },\n]\n",
    ))
    .unwrap();
    let p = &s.producers[0];
    assert_eq!(p.records, 3, "`records` is the sequence's length");
    let seen: Vec<(Option<&str>, Option<&str>, Option<u64>)> = p
        .sequence
        .iter()
        .map(|r| (r.key.as_deref(), r.value.as_deref(), r.timestamp_ms))
        .collect();
    assert_eq!(
        seen,
        [
            (Some("K1"), Some("v"), None),
            (Some("K2"), None, Some(500)),
            (None, Some("keyless"), None),
        ]
    );
    let same = parse(&with_sequence(
        "records = 1\nsequence = [{ key = \"K1\", value = \"v\" }]\n",
    ))
    .unwrap();
    assert_eq!(
        same.producers[0].records, 1,
        "`records` may repeat the length"
    );
    let generated = parse(EXAMPLE).unwrap();
    assert!(generated.producers[0].sequence.is_empty());
}

#[test]
fn sequence_errors_name_the_line_the_key_and_the_record() {
    let cases = [
        (
            "records = 5\nsequence = [{ key = \"K1\", value = \"v\" }]\n",
            "records",
            "leave `records` out or make it 1",
        ),
        (
            "sequence = [\n  { key = \"K1\", value = \"v\" },\n  { key = \"K2\", value = \"v\", tombstone = true },\n]\n",
            "sequence",
            "record 1: a tombstone has no value",
        ),
        (
            "sequence = [{ key = \"K1\" }]\n",
            "sequence",
            "record 0: give the record a `value`, or write `tombstone = true`",
        ),
        (
            "sequence = [{ key = \"K1\", value = \"v\", timestamp = 5 }]\n",
            "sequence",
            "record 0: unknown key `timestamp` (did you mean `timestamp_ms`?)",
        ),
        (
            "sequence = [{ key = \"K1\", value = \"v\", timestamp_ms = -5 }]\n",
            "sequence",
            "record 0: `timestamp_ms` must be a whole number",
        ),
        (
            "sequence = [{ key = 1, value = \"v\" }]\n",
            "sequence",
            "record 0: `key` must be a string",
        ),
        ("sequence = []\n", "sequence", "at least one record"),
        ("sequence = \"K1\"\n", "sequence", "expected a list of records"),
        ("sequence = [\"K1\"]\n", "sequence", "record 0: expected a table"),
    ];
    let producer_line = EXAMPLE
        .lines()
        .position(|l| l == "records = 2000")
        .expect("the example's records line")
        + 1;
    for (lines, key, message) in cases {
        let e = parse(&with_sequence(lines)).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.message.contains(message), "{e}");
        // Each error points into the producer's lines that replaced `records = 2000`.
        let last = producer_line + lines.lines().count();
        assert!(
            (producer_line..last).contains(&e.line),
            "{lines}: line {} ({e})",
            e.line
        );
        if message.starts_with("record 1") {
            assert_eq!(e.line, producer_line + 2, "at the entry itself: {e}");
        }
    }
}

/// A small scenario whose `[cluster]` ends at line 5 (`kafka_version`), so a key added after
/// it stands on line 6.
const KRAFT_SCENARIO: &str = r#"name = "kraft"
duration = "10s"
[cluster]
brokers = 3
kafka_version = "4.0.0"
[[topics]]
name = "orders"
[[producers]]
name = "p1"
topic = "orders"
records = 10
"#;

/// `KRAFT_SCENARIO` with its `kafka_version` line replaced by `lines`.
fn kraft_with(lines: &str) -> String {
    KRAFT_SCENARIO.replace("kafka_version = \"4.0.0\"", lines)
}

#[test]
fn a_kraft_cluster_parses_with_its_controllers_and_features() {
    let text = kraft_with(
        r#"kafka_version = "4.0.2"
mode = "kraft"
controllers = 3
controller_ids = [10, 12, 11]
features = { "eligible.leader.replicas.version" = 1, "metadata.version" = 25, "kraft.version" = 1 }"#,
    );
    let s = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let c = &s.cluster;
    assert_eq!(c.mode, ClusterMode::Kraft);
    assert_eq!(c.mode.to_string(), "kraft");
    assert_eq!(c.controller_ids, vec![10, 12, 11]);
    assert_eq!(c.features.len(), 3);
    assert_eq!(c.feature_level("eligible.leader.replicas.version"), 1);
    assert_eq!(c.feature_level("metadata.version"), 25);
    assert_eq!(c.feature_level("kraft.version"), 1);
    // Not set: the release's defaults at metadata.version 4.0-IV3.
    assert_eq!(c.feature_level("transaction.version"), 2);
    assert_eq!(c.feature_level("group.version"), 1);
    assert_eq!(c.feature_level("no.such.feature"), 0);
    // One controller, its id given alone.
    let s = parse(&kraft_with(
        "kafka_version = \"3.3\"\nmode = \"kraft\"\ncontroller_ids = [7]",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.cluster.controller_ids, vec![7]);
    assert_eq!(s.cluster.feature_level("metadata.version"), 7);
    assert_eq!(ClusterMode::ZooKeeper.to_string(), "zookeeper");
}

/// KRaft is the default from 4.0, where ZooKeeper mode is gone; ZooKeeper before, so every
/// scenario that does not name a later release parses as it did.
#[test]
fn the_mode_and_the_features_default_by_release() {
    let cluster = |lines: &str| {
        parse(&kraft_with(lines))
            .unwrap_or_else(|e| panic!("{lines}: {e}"))
            .cluster
    };
    for release in ["3.7.1", "3.9.2", "2.0.1"] {
        let c = cluster(&format!("kafka_version = \"{release}\""));
        assert_eq!(c.mode, ClusterMode::ZooKeeper, "{release}");
        assert!(c.controller_ids.is_empty() && c.features.is_empty());
        assert_eq!(
            c.feature_level("metadata.version"),
            0,
            "no features in ZooKeeper mode"
        );
    }
    let c = parse(EXAMPLE).unwrap().cluster;
    assert_eq!(
        (c.mode, c.controller_ids.len()),
        (ClusterMode::ZooKeeper, 0)
    );
    let c = cluster("kafka_version = \"4.0.0\"");
    assert_eq!(c.mode, ClusterMode::Kraft);
    assert_eq!(c.controller_ids, vec![3, 4, 5], "after brokers 0 to 2");
    let levels = |c: &ClusterSpec| {
        [
            "metadata.version",
            "eligible.leader.replicas.version",
            "transaction.version",
            "group.version",
            "kraft.version",
        ]
        .map(|f| c.feature_level(f))
    };
    assert_eq!(levels(&c), [25, 0, 2, 1, 0], "ELR is opt-in in 4.0");
    let c = cluster("kafka_version = \"4.1.2\"\ncontrollers = 5");
    assert_eq!(c.controller_ids, vec![3, 4, 5, 6, 7]);
    assert_eq!(
        levels(&c),
        [25, 1, 2, 1, 0],
        "ELR is on for a new 4.1 cluster"
    );
    // Formatted at an older metadata.version, the features that bootstrap later are off.
    let c = cluster("kafka_version = \"4.1\"\nfeatures = { \"metadata.version\" = 21 }");
    assert_eq!(levels(&c), [21, 0, 0, 0, 0]);
    let c = cluster("kafka_version = \"3.9.2\"\nmode = \"kraft\"");
    assert_eq!(levels(&c), [21, 0, 0, 0, 0]);
    let c = cluster("kafka_version = \"3.6.2\"\nmode = \"kraft\"");
    assert_eq!(c.feature_level("metadata.version"), 12);
    let text = KRAFT_SCENARIO.replace("brokers = 3", "broker_ids = [1, 2, 3]");
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}")).cluster;
    assert_eq!(c.controller_ids, vec![4, 5, 6]);
}

/// KIP-1030: the producer's `linger.ms` defaults to 5 for the clients of 4.0 and later.
#[test]
fn linger_ms_defaults_by_release() {
    let linger = |text: &str| {
        parse(text).unwrap_or_else(|e| panic!("{e}")).producers[0]
            .config
            .linger_ms
    };
    assert_eq!(linger(KRAFT_SCENARIO), 5);
    assert_eq!(linger(&kraft_with("kafka_version = \"3.9.2\"")), 0);
    assert_eq!(linger(&kraft_with("kafka_version = \"4.1.0\"")), 5);
    let set = KRAFT_SCENARIO.replace(
        "records = 10",
        "records = 10\nconfig = { \"linger.ms\" = 0 }",
    );
    assert_eq!(linger(&set), 0);
}

#[test]
fn mode_controller_and_feature_errors_name_file_line_and_key() {
    // (the lines in place of `kafka_version`, line, key, message)
    let cases = [
        (
            "kafka_version = \"4.0.0\"\nmode = \"zookeeper\"",
            6,
            "mode",
            "Kafka 4.0 removed ZooKeeper mode (KIP-833)",
        ),
        (
            "kafka_version = \"3.2.3\"\nmode = \"kraft\"",
            6,
            "mode",
            "KRaft is production-ready only from 3.3 (KIP-833)",
        ),
        ("mode = \"raft\"", 5, "mode", "\"raft\" is not a mode"),
        ("mode = true", 5, "mode", "expected a string"),
        ("controllers = 0", 5, "controllers", "out of range (1 to 9)"),
        ("controllers = 10", 5, "controllers", "out of range (1 to 9)"),
        (
            "kafka_version = \"3.7.1\"\ncontrollers = 3",
            6,
            "controllers",
            "only in KRaft mode",
        ),
        (
            "kafka_version = \"3.7.1\"\nmode = \"zookeeper\"\ncontroller_ids = [5]",
            7,
            "controller_ids",
            "only in KRaft mode",
        ),
        (
            "controllers = 3\ncontroller_ids = [7, 8]",
            6,
            "controller_ids",
            "2 controller ids for controllers = 3",
        ),
        (
            "controller_ids = [7, 7]",
            5,
            "controller_ids",
            "controller id 7 appears twice",
        ),
        (
            "controller_ids = [7, 2]",
            5,
            "controller_ids",
            "2 is also a broker id",
        ),
        (
            "controller_ids = [-1]",
            5,
            "controller_ids",
            "controller id -1 is out of range",
        ),
        ("controller_ids = []", 5, "controller_ids", "at least one controller"),
        (
            "kafka_version = \"3.7.1\"\nfeatures = { \"metadata.version\" = 19 }",
            6,
            "features",
            "only in KRaft mode",
        ),
        (
            "features = { \"elr\" = 1 }",
            5,
            "elr",
            "unknown feature in [cluster] features (known features: \
             eligible.leader.replicas.version, group.version, kraft.version, metadata.version, \
             transaction.version)",
        ),
        (
            "features = { \"group.versoin\" = 1 }",
            5,
            "group.versoin",
            "did you mean `group.version`?",
        ),
        (
            "features = { \"eligible.leader.replicas.version\" = 2 }",
            5,
            "eligible.leader.replicas.version",
            "2 is out of range (0 to 1)",
        ),
        (
            "features = { \"transaction.version\" = \"2\" }",
            5,
            "transaction.version",
            "a whole number",
        ),
        (
            "kafka_version = \"3.9.2\"\nmode = \"kraft\"\nfeatures = { \"transaction.version\" = 2 }",
            7,
            "transaction.version",
            "level 2 needs Kafka 4.0.0 or later",
        ),
        (
            "kafka_version = \"3.8.1\"\nmode = \"kraft\"\nfeatures = { \"kraft.version\" = 1 }",
            7,
            "kraft.version",
            "level 1 needs Kafka 3.9.0 or later",
        ),
        (
            "kafka_version = \"3.9.2\"\nmode = \"kraft\"\nfeatures = { \"eligible.leader.replicas.version\" = 1 }",
            7,
            "eligible.leader.replicas.version",
            "level 1 needs Kafka 4.0.0 or later",
        ),
        (
            "features = { \"metadata.version\" = 22 }",
            5,
            "metadata.version",
            "22 is not a metadata.version level",
        ),
        (
            "kafka_version = \"3.9.2\"\nmode = \"kraft\"\nfeatures = { \"metadata.version\" = 25 }",
            7,
            "metadata.version",
            "the levels are 7 (3.3-IV3), 11 (3.5-IV2), 12 (3.6-IV0), 19 (3.7-IV4), 20 (3.8-IV0), \
             21 (3.9-IV0)",
        ),
        (
            "features = { \"eligible.leader.replicas.version\" = 1, \"metadata.version\" = 21 }",
            5,
            "eligible.leader.replicas.version",
            "needs metadata.version 4.0-IV1 or later (KIP-966)",
        ),
        (
            "features = 3",
            5,
            "features",
            "expected a table",
        ),
    ];
    for (to, line, key, message) in cases {
        // Without a release of its own, a case runs 4.0.0, a line further down.
        let (to, line) = match to.starts_with("kafka_version") {
            true => (to.to_string(), line),
            false => (format!("kafka_version = \"4.0.0\"\n{to}"), line + 1),
        };
        let e = parse(&kraft_with(&to)).expect_err(&to);
        assert_eq!(e.file, "s.toml");
        assert_eq!((e.line, e.key.as_deref()), (line, Some(key)), "{to}: {e}");
        assert!(e.message.contains(message), "{to}: {e}");
    }
    // Without a kafka_version, the default release (3.7.1) runs ZooKeeper.
    let e = parse(&kraft_with("controllers = 3")).unwrap_err();
    assert_eq!((e.line, e.key.as_deref()), (5, Some("controllers")), "{e}");
    assert!(
        e.message.contains("the default mode below Kafka 4.0"),
        "{e}"
    );
    let text = KRAFT_SCENARIO.replace("brokers = 3", "broker_ids = [2147483646]");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("controllers"), "{e}");
    assert!(e.message.contains("give controller_ids"), "{e}");
}

/// Combined mode: `controllers = N` runs a controller in the first N brokers, under their
/// node ids; `controller_ids` names the brokers; "broker" is the default, dedicated mode.
#[test]
fn combined_mode_puts_the_controllers_inside_brokers() {
    let cluster = |lines: &str| {
        parse(&kraft_with(&format!("kafka_version = \"4.0.0\"\n{lines}")))
            .unwrap_or_else(|e| panic!("{lines}: {e}"))
            .cluster
    };
    let c = cluster("process_roles = \"broker,controller\"");
    assert_eq!(c.process_roles, ProcessRoles::Combined);
    assert!(c.combined());
    assert_eq!(c.controller_ids, vec![0, 1, 2], "the first 3 brokers");
    assert_eq!(c.combined_node_ids(), vec![0, 1, 2]);
    assert!(c.dedicated_controller_ids().is_empty());
    let c = cluster("process_roles = \"controller, broker\"\ncontrollers = 1");
    assert_eq!(c.controller_ids, vec![0]);
    let c = cluster("process_roles = \"broker,controller\"\ncontroller_ids = [2, 1]");
    assert_eq!(c.controller_ids, vec![2, 1]);
    // Dedicated, written or not: nothing changes from before.
    for lines in ["process_roles = \"broker\"", "controllers = 3"] {
        let c = cluster(lines);
        assert_eq!(c.process_roles, ProcessRoles::Broker);
        assert!(!c.combined() && c.combined_node_ids().is_empty());
        assert_eq!(c.controller_ids, vec![3, 4, 5]);
        assert_eq!(c.dedicated_controller_ids(), vec![3, 4, 5]);
    }
    // Fewer brokers than the default 3 controllers: every broker runs one.
    let text = KRAFT_SCENARIO
        .replace("brokers = 3", "brokers = 2")
        .replace(
            "kafka_version = \"4.0.0\"",
            "kafka_version = \"4.0.0\"\nprocess_roles = \"broker,controller\"",
        );
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}")).cluster;
    assert_eq!(c.controller_ids, vec![0, 1]);
    assert_eq!(ProcessRoles::Combined.as_str(), "broker,controller");
}

#[test]
fn combined_mode_errors_name_file_line_and_key() {
    // (the lines after `kafka_version = "4.0.0"`, or in its place, line, key, message)
    let cases = [
        (
            "kafka_version = \"3.7.1\"\nprocess_roles = \"broker,controller\"",
            6,
            "process_roles",
            "only in KRaft mode, and this cluster runs in ZooKeeper mode (the default mode",
        ),
        (
            "kafka_version = \"3.9.2\"\nmode = \"zookeeper\"\nprocess_roles = \"broker\"",
            7,
            "process_roles",
            "set mode = \"kraft\" or remove process_roles",
        ),
        (
            "process_roles = \"controller\"",
            6,
            "process_roles",
            "controllers of their own (process.roles=controller) are `controllers = N`",
        ),
        (
            "process_roles = \"broker,zookeeper\"",
            6,
            "process_roles",
            "\"broker,zookeeper\" is not a process.roles of a broker",
        ),
        ("process_roles = 1", 6, "process_roles", "expected a string"),
        (
            "process_roles = \"broker,controller\"\ncontrollers = 4",
            7,
            "controllers",
            "controllers = 4 is more than the 3 broker(s)",
        ),
        (
            "process_roles = \"broker,controller\"\ncontroller_ids = [1, 5]",
            7,
            "controller_ids",
            "5 is not a broker id: in combined mode each controller runs inside a broker",
        ),
        (
            "process_roles = \"broker,controller\"\ncontrollers = 2\ncontroller_ids = [1]",
            8,
            "controller_ids",
            "1 controller ids for controllers = 2",
        ),
        (
            "process_roles = \"broker,controller\"\ncontroller_ids = [1, 1]",
            7,
            "controller_ids",
            "controller id 1 appears twice",
        ),
    ];
    for (to, line, key, message) in cases {
        let to = match to.starts_with("kafka_version") {
            true => to.to_string(),
            false => format!("kafka_version = \"4.0.0\"\n{to}"),
        };
        let e = parse(&kraft_with(&to)).expect_err(&to);
        assert_eq!(e.file, "s.toml");
        assert_eq!((e.line, e.key.as_deref()), (line, Some(key)), "{to}: {e}");
        assert!(e.message.contains(message), "{to}: {e}");
    }
}

/// A producer with a `transactional.id` takes `transaction_records` and `abort_every`
/// (defaults 10 and 0), is idempotent, and sends its transactional id and timeout.
#[test]
fn a_transactional_producer_takes_its_transaction_keys() {
    let producer = |extra: &str| {
        format!(
            "name = \"t\"\nduration = \"10s\"\n[cluster]\nbrokers = 3\n[[topics]]\nname = \"orders\"\n\
             partitions = 1\nreplication_factor = 3\n[[producers]]\nname = \"p1\"\ntopic = \"orders\"\n\
             records = 10\nconfig = {{ \"transactional.id\" = \"w\" }}\n{extra}"
        )
    };
    let s = parse(&producer("transaction_records = 4\nabort_every = 3")).expect("parses");
    let p = &s.producers[0];
    assert_eq!(p.config.transactional_id.as_deref(), Some("w"));
    assert!(p.config.enable_idempotence);
    assert_eq!(p.config.transaction_timeout_ms, 60_000);
    assert_eq!(
        (
            p.transactions.records_per_transaction,
            p.transactions.abort_every
        ),
        (4, 3)
    );
    let s = parse(&producer("")).expect("parses");
    assert_eq!(
        s.producers[0].transactions,
        kafka_model::clients::producer::TransactionWorkload::default()
    );
    let e = parse(&producer("transaction_records = 0")).expect_err("at least 1");
    assert!(e.to_string().contains("`transaction_records`"), "{e}");
    let e = parse(&producer("").replace(
        "config = { \"transactional.id\" = \"w\" }",
        "config = { \"transactional.id\" = \"w\", \"enable.idempotence\" = false }",
    ))
    .expect_err("no transactions without idempotence");
    assert!(
        e.to_string()
            .contains("Cannot set a transactional.id without also enabling idempotence"),
        "{e}"
    );
}
