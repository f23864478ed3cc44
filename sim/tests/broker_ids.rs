//! Broker ids as Kafka has them: any non-negative ints, kept in faults, assignments, the
//! outcome and the narration.

use kafka_sim::scenario::Scenario;
use kafka_sim::world;
use kafka_sim::{narrate, report};

const SCENARIO: &str = r#"# Three brokers numbered as many operators number them.
name = "ids"
duration = "30s"
settle = "20s"

[cluster]
broker_ids = [101, 102, 103]

[cluster.config]
"zookeeper.session.timeout.ms" = 6000

[[topics]]
name = "orders"
partitions = 3
replication_factor = 3
config = { "min.insync.replicas" = 2 }

[[producers]]
name = "p"
topic = "orders"
records = 300
rate = 50
start = "1s"
config = { "acks" = "all" }

[[faults]]
at = "5s"
action = "crash"
target = "leader:orders-0"

[[faults]]
at = "12s"
action = "restart"
target = "broker:101"

[expect]
acked_lost = 0
violations = []
"#;

#[test]
fn a_cluster_with_ids_101_to_103_runs_and_reports_its_ids() {
    let scenario = Scenario::parse("ids.toml", SCENARIO).unwrap_or_else(|e| panic!("{e}"));
    let result = world::run(&scenario, 3);
    let (outcome, _) = report::outcome(&scenario, 3, &result);
    assert!(outcome.passed(), "{:?}", outcome.expect.failures);
    assert_eq!(outcome.records.acked, 300);
    for p in outcome.partitions.iter().filter(|p| p.topic == "orders") {
        let mut replicas = p.replicas.clone();
        replicas.sort_unstable();
        assert_eq!(replicas, vec![101, 102, 103]);
        assert!(p.leader.is_some_and(|l| (101..=103).contains(&l)));
    }
    let story = narrate::narrate(&result, &scenario).join("\n");
    assert!(story.contains("broker 101"), "{story}");
    // The leader of orders-0 is its first replica, broker 101: the crash hits it (whichever
    // broker the draws made the controller).
    let crash = story
        .lines()
        .find(|l| l.contains("FAULT: broker 101 ("))
        .unwrap_or_else(|| panic!("no crash of broker 101: {story}"));
    assert!(crash.contains("leader of orders-0)"), "{crash}");
}

#[test]
fn a_thousand_brokers_with_ids_from_a_thousand() {
    let ids: Vec<String> = (1000..2000).map(|i| i.to_string()).collect();
    let text = format!(
        "name = \"k\"\nduration = \"10s\"\nsettle = \"5s\"\n[cluster]\nbroker_ids = [{}]\n\
         [[topics]]\nname = \"t\"\npartitions = 4\nreplication_factor = 3\n\
         [[producers]]\nname = \"p\"\ntopic = \"t\"\nrecords = 100\nrate = 100\nstart = \"1s\"\n\
         [[faults]]\nat = \"4s\"\naction = \"crash\"\ntarget = \"broker:1999\"\n",
        ids.join(", ")
    );
    let scenario = Scenario::parse("k.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.topics[0].replicas[3], vec![1003, 1004, 1005]);
    let result = world::run(&scenario, 1);
    let (outcome, _) = report::outcome(&scenario, 1, &result);
    assert_eq!(outcome.records.acked, 100);
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    assert!(result
        .faults
        .iter()
        .any(|f| f.action == "crash" && f.detail == "broker 1999"));
}
