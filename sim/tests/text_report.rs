//! The text report's partition table: internal topics are left out unless asked for, with a
//! line that says so.

use kafka_sim::scenario::Scenario;
use kafka_sim::{report, world};

#[test]
fn the_partition_table_lists_internal_topics_only_when_asked() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/group-rebalance-on-member-crash.toml"
    );
    let scenario = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    let result = world::run(&scenario, scenario.seed);
    let (outcome, _) = report::outcome(&scenario, scenario.seed, &result);
    let internal_rows = outcome
        .partitions
        .iter()
        .filter(|p| p.topic == "__consumer_offsets")
        .count();
    assert!(internal_rows > 0, "the scenario has a consumer group");

    let short = report::partition_table(&outcome, false);
    assert!(!short.lines().any(|l| l.starts_with("__consumer_offsets ")));
    assert!(short.contains(&format!(
        "(internal topics not listed: __consumer_offsets ({internal_rows} partitions); --describe-internal lists them)"
    )));

    let full = report::partition_table(&outcome, true);
    let listed = full
        .lines()
        .filter(|l| l.starts_with("__consumer_offsets "))
        .count();
    assert_eq!(listed, internal_rows);
    assert!(!full.contains("not listed"));
}
