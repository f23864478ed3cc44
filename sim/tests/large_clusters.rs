//! Clusters and client counts beyond what one byte of an address could number.

use kafka_model::NodeId;
use kafka_sim::report;
use kafka_sim::scenario::Scenario;
use kafka_sim::world::{self, addr_of};
use std::collections::BTreeSet;

#[test]
fn every_process_has_an_address_of_its_own() {
    let edges: [u32; 8] = [0, 1, 255, 256, 65_535, 65_536, 1 << 24, i32::MAX as u32];
    let mut nodes = vec![NodeId::ZooKeeper, NodeId::Admin];
    for n in edges {
        nodes.push(NodeId::Broker(n as i32));
        nodes.push(NodeId::Producer(n));
        nodes.push(NodeId::Consumer(n));
    }
    nodes.push(NodeId::Producer(u32::MAX));
    nodes.push(NodeId::Consumer(u32::MAX));
    let addrs: BTreeSet<_> = nodes.iter().map(|n| addr_of(*n)).collect();
    assert_eq!(addrs.len(), nodes.len());
}

/// Writes a scenario with `brokers` brokers and `producers` producers of one record each.
fn wide_scenario(brokers: u32, producers: u32) -> String {
    let mut text = format!(
        "# A wide cluster.\nname = \"wide\"\nduration = \"10s\"\nsettle = \"5s\"\n\
         [cluster]\nbrokers = {brokers}\n\
         [[topics]]\nname = \"t\"\npartitions = 8\nreplication_factor = 3\n"
    );
    for i in 0..producers {
        text.push_str(&format!(
            "[[producers]]\nname = \"p{i}\"\ntopic = \"t\"\nrecords = 1\nrate = 1\nstart = \"1s\"\n"
        ));
    }
    text
}

#[test]
fn a_thousand_brokers_and_two_thousand_producers() {
    let text = wide_scenario(1000, 2000);
    let scenario = Scenario::parse("wide.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let result = world::run(&scenario, 1);
    let (outcome, _) = report::outcome(&scenario, 1, &result);
    assert_eq!(
        outcome.records.acked, 2000,
        "every producer's record is acknowledged"
    );
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
}
