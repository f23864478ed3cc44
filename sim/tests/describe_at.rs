//! `run --describe-at`: the describe tables at a moment in the middle of a run show that
//! moment, not the settled end: an offline partition with its leader gone, a group in the
//! middle of a rebalance, lag that the end no longer has.

use kafka_sim::scenario::Scenario;
use kafka_sim::{moment, run};

fn scenario(name: &str) -> Scenario {
    let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Scenario::load(&path).expect("a shipped scenario loads")
}

#[test]
fn an_offline_partition_shows_no_leader_while_the_end_shows_it_healed() {
    let s = scenario("clean-election-waits");
    let sim = run(&s, s.seed);
    let result = sim.result();
    let before = moment::at(result, &s, 3_000);
    let orders = &before.state.partitions[0];
    assert_eq!(
        (orders.tp.topic.as_str(), orders.leader),
        ("orders", Some(0))
    );
    assert_eq!(orders.isr, vec![0, 1, 2]);

    let offline = moment::at(result, &s, 30_000);
    let orders = &offline.state.partitions[0];
    assert_eq!(orders.leader, None, "offline from t=24.146s to t=40.029s");
    assert_eq!(orders.isr, vec![0]);
    let broker0 = &orders.replica_states[0];
    assert!(!broker0.online, "broker 0 crashed at t=20s");
    let out = offline.partitions(result);
    assert_eq!(
        out[0].offline_ms,
        30_000 - 24_146,
        "offline time counts up to the moment"
    );
    let text = offline.text(result, false);
    assert!(text.starts_with("at t=30.000s:\n"), "{text}");
    assert!(text.contains("none"), "{text}");

    // After the settle, the same partition is healthy again.
    let end = &sim.outcome().partitions[0];
    assert_eq!(end.leader, Some(0));
    assert_eq!(end.isr.len(), 3);
}

#[test]
fn a_group_in_the_middle_of_a_rebalance_shows_its_lag() {
    let s = scenario("group-rebalance-on-member-crash");
    let sim = run(&s, s.seed);
    let result = sim.result();
    let during = moment::at(result, &s, 23_500);
    let group = &during.groups["billing"];
    assert_eq!(group.state.as_deref(), Some("PreparingRebalance"));
    assert_eq!(group.coordinator, Some(1));
    // The crashed member's partitions stood still while it was gone: lag built up there.
    let lag: u64 = group.partitions.iter().filter_map(|p| p.lag).sum();
    assert!(lag > 0, "{group:?}");
    let end = &sim.outcome().groups["billing"];
    assert_eq!(end.state.as_deref(), Some("Stable"));
    assert_eq!(end.partitions.iter().filter_map(|p| p.lag).sum::<u64>(), 0);
}

#[test]
fn the_settle_brings_back_the_brokers_still_down() {
    // Broker 0 crashes at t=20s and nothing restarts it before the settle at t=60s.
    let s = scenario("unclean-election-loses-acked");
    let sim = run(&s, s.seed);
    let result = sim.result();
    let before = moment::at(result, &s, s.duration_ms - 1);
    assert!(!before.state.partitions[0].replica_states[0].online);
    let after = moment::at(result, &s, s.duration_ms + 1);
    assert!(
        after.state.partitions[0].replica_states[0].online,
        "the settle restarted broker 0"
    );
}
