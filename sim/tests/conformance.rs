//! The model's rules against Kafka's own classes (see `kafka_sim::conformance`): a few
//! thousand cases from a fixed seed per oracle, every difference not listed in
//! `conformance/accepted-differences.toml` a failure.
//!
//! Ignored by default: they need Java 17 and the oracle programs, which
//! `conformance/build.sh` builds (with Maven, from Maven Central the first time). `.ci/run`
//! builds them and runs these tests in release. To search harder, run
//! `kafka-sim conformance --cases 100000 --seed 2`.

use kafka_sim::conformance::{self, Oracle};
use std::path::Path;

const CASES: usize = 3_000;
const SEED: u64 = 1;

fn agrees_with_kafka(oracle: Oracle) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the sim crate sits in the repository");
    let dir = conformance::conformance_dir(root);
    let report = conformance::run(oracle, CASES, SEED, &dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.cases, CASES);
    assert!(report.differences.is_empty(), "{report}");
}

#[test]
#[ignore = "needs Java 17 and conformance/build.sh; run by .ci/run"]
fn the_partitioner_agrees_with_kafka() {
    agrees_with_kafka(Oracle::Partitioner);
}

#[test]
#[ignore = "needs Java 17 and conformance/build.sh; run by .ci/run"]
fn the_assignors_agree_with_kafka() {
    agrees_with_kafka(Oracle::Assignors);
}

#[test]
#[ignore = "needs Java 17 and conformance/build.sh; run by .ci/run"]
fn the_offline_election_agrees_with_kafka() {
    agrees_with_kafka(Oracle::Election);
}

#[test]
#[ignore = "needs Java 17 and conformance/build.sh; run by .ci/run"]
fn the_classic_group_protocol_agrees_with_kafka() {
    agrees_with_kafka(Oracle::Groups);
}

#[test]
#[ignore = "needs Java 17 and conformance/build.sh; run by .ci/run"]
fn the_producer_state_agrees_with_kafka() {
    agrees_with_kafka(Oracle::ProducerState);
}

/// Segments, retention, DeleteRecords and the cleaner on one replica's log (`kafka-sim log`).
#[test]
#[ignore = "needs Java 17 and conformance/build.sh; run by .ci/run"]
fn the_log_layer_agrees_with_kafka() {
    agrees_with_kafka(Oracle::Log);
}

/// The KRaft controller's `PartitionChangeBuilder` and `PartitionRegistration.merge`
/// (Kafka 4.0.2, `conformance/kraft`).
#[test]
#[ignore = "needs Java 17 and conformance/build.sh; run by .ci/run"]
fn the_kraft_partition_change_builder_agrees_with_kafka() {
    agrees_with_kafka(Oracle::PartitionChange);
}
