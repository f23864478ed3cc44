//! No timer with a period of 0: values Kafka refuses are errors, values Kafka takes run.

use kafka_sim::report;
use kafka_sim::scenario::Scenario;
use kafka_sim::world;

fn power_loss_with_zk_timeout(ms: u64) -> (String, String) {
    let path = format!(
        "{}/../scenarios/power-loss-unflushed.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("the scenario");
    let line = "\"zookeeper.session.timeout.ms\" = 6000";
    assert!(text.contains(line));
    (
        path,
        text.replace(line, &format!("\"zookeeper.session.timeout.ms\" = {ms}")),
    )
}

/// Kafka takes `zookeeper.session.timeout.ms = 1` (KafkaConfig has no validator for it), but
/// the broker waits `zookeeper.connection.timeout.ms`, which defaults to it, for its first
/// ZooKeeper session, and a round trip on the scenario's network (1 to 5 ms each way) takes
/// longer: no broker would start. So the scenario is rejected, naming the key.
#[test]
fn power_loss_with_a_1_ms_zookeeper_session_timeout_is_rejected_as_kafka_would_not_start() {
    let (path, text) = power_loss_with_zk_timeout(1);
    let e = Scenario::parse(&path, &text).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("zookeeper.session.timeout.ms"));
    assert_eq!(e.line, 27, "{e}");
    assert!(e.message.contains("fails to start"), "{e}");
}

/// A short timeout that a connection can meet runs: ZooKeeper grants its 6 s minimum and the
/// brokers ping every 2 s of it (ClientCnxn's read timeout comes from the negotiated
/// timeout), not every few milliseconds of the requested one.
#[test]
fn power_loss_with_a_10_ms_zookeeper_session_timeout_runs_its_story() {
    let (path, text) = power_loss_with_zk_timeout(10);
    let scenario = Scenario::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    let result = world::run(&scenario, scenario.seed);
    let (outcome, _) = report::outcome(&scenario, scenario.seed, &result);
    assert!(outcome.passed(), "{:?}", outcome.expect.failures);
    assert!(outcome.records.acked_lost > 0);
    // A ping every few milliseconds would be thousands of messages a second per broker.
    assert!(result.messages_sent < 20_000, "{}", result.messages_sent);
}

const SMALL: &str = r#"# Kafka-accepted zeros.
name = "zeros"
duration = "20s"
settle = "10s"

[cluster]
brokers = 3

[cluster.config]
"offsets.topic.num.partitions" = 3
#BROKER#

[[topics]]
name = "orders"
partitions = 2
replication_factor = 3
config = { "min.insync.replicas" = 2 #TOPIC# }

[[producers]]
name = "p"
topic = "orders"
records = 100
rate = 20
start = "1s"
config = { "acks" = "all" #PRODUCER# }

[[consumers]]
name = "g"
group = "g"
members = 2
topics = ["orders"]
processing = "2ms"
config = { "auto.offset.reset" = "earliest" #CONSUMER# }

[[faults]]
at = "8s"
action = "crash"
target = "leader:orders-0"

[[faults]]
at = "12s"
action = "restart"
target = 0
"#;

/// Each value Kafka's validators take and that gives a timer a period of 0 in Kafka (or a
/// backoff of 0) runs to the end, and the records still get through.
#[test]
fn zero_periods_kafka_takes_run_to_the_end() {
    let cases = [
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
        ("TOPIC", ", \"flush.ms\" = 0"),
        (
            "PRODUCER",
            ", \"retry.backoff.ms\" = 0, \"metadata.max.age.ms\" = 0",
        ),
        ("PRODUCER", ", \"linger.ms\" = 0, \"batch.size\" = 0"),
        (
            "CONSUMER",
            ", \"retry.backoff.ms\" = 0, \"metadata.max.age.ms\" = 0",
        ),
        (
            "CONSUMER",
            ", \"heartbeat.interval.ms\" = 0, \"auto.commit.interval.ms\" = 0",
        ),
        ("CONSUMER", ", \"fetch.max.wait.ms\" = 0"),
        // Kafka's smallest max.poll.interval.ms: members keep leaving and rejoining, and a
        // fetch answered after a reset is dropped as stale, as Kafka's Fetcher drops it.
        ("CONSUMER", ", \"max.poll.interval.ms\" = 1"),
    ];
    for (slot, entry) in cases {
        let mut text = SMALL.to_string();
        for s in ["BROKER", "TOPIC", "PRODUCER", "CONSUMER"] {
            text = text.replace(&format!("#{s}#"), if s == slot { entry } else { "" });
        }
        let scenario = Scenario::parse("zeros.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        let result = world::run(&scenario, 1);
        let (outcome, _) = report::outcome(&scenario, 1, &result);
        assert_eq!(result.sim_time_ms, 30_000, "{entry}");
        assert_eq!(outcome.records.acked, 100, "{entry}");
    }
}

/// Kafka's "never" is `Long.MAX_VALUE` ms (the default of `log.flush.interval.messages` and
/// `log.flush.scheduler.interval.ms`): a timer that long must not wrap the world's clock.
#[test]
fn long_max_value_periods_never_fire_and_do_not_overflow() {
    let text = SMALL
        .replace(
            "#BROKER#",
            "\"replica.lag.time.max.ms\" = 9223372036854775807\n\
             \"log.flush.interval.ms\" = 9223372036854775807\n\
             \"replica.high.watermark.checkpoint.interval.ms\" = 9223372036854775807",
        )
        .replace("#TOPIC#", ", \"flush.ms\" = 9223372036854775807")
        .replace(
            "#PRODUCER#",
            ", \"metadata.max.age.ms\" = 9223372036854775807",
        )
        .replace(
            "#CONSUMER#",
            ", \"metadata.max.age.ms\" = 9223372036854775807",
        );
    let scenario = Scenario::parse("never.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let result = world::run(&scenario, 1);
    let (outcome, _) = report::outcome(&scenario, 1, &result);
    assert_eq!(result.sim_time_ms, 30_000);
    assert_eq!(outcome.records.acked, 100);
}
