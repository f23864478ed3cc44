//! The replication-history catalog, proved over many seeds: for each before/after pair the
//! old rules break the pair's invariant on at least one seed, the new rules on none.

use kafka_sim::scenario::Scenario;
use kafka_sim::sweep;

const SEEDS: u64 = 200;

fn load(name: &str) -> Scenario {
    let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `name` over the seeds and returns how many broke `invariant`.
fn seeds_breaking(name: &str, invariant: &str) -> u64 {
    let scenario = load(name);
    let seeds: Vec<u64> = (0..SEEDS).collect();
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    sweep::run_seeds(&scenario, &seeds, jobs, false, Default::default())
        .iter()
        .map(|o| o.outcome().expect("every seed gives an outcome"))
        .filter(|o| o.violation_counts.contains_key(invariant))
        .count() as u64
}

#[test]
fn kip_101_divergence_old_diverges_new_never() {
    let old = seeds_breaking("kip-101-divergence-old", "replica-divergence");
    let new = seeds_breaking("kip-101-divergence-new", "replica-divergence");
    assert!(
        old >= 1,
        "the pre-KIP-101 rule never diverged in {SEEDS} seeds"
    );
    assert_eq!(new, 0, "leader epochs diverged on {new} of {SEEDS} seeds");
}

#[test]
fn kip_101_hw_truncation_old_loses_committed_new_never() {
    let old = seeds_breaking("kip-101-hw-truncation-loss-old", "committed-record-lost");
    let new = seeds_breaking("kip-101-hw-truncation-loss-new", "committed-record-lost");
    assert!(
        old >= 1,
        "truncating to the HW never lost a committed record in {SEEDS} seeds"
    );
    assert_eq!(
        new, 0,
        "leader epochs lost committed records on {new} of {SEEDS} seeds"
    );
}

#[test]
fn kip_320_consumer_old_misses_truncation_new_never() {
    let old = seeds_breaking(
        "kip-320-consumer-sees-truncation-old",
        "consumer-missed-truncation",
    );
    let new = seeds_breaking(
        "kip-320-consumer-sees-truncation-new",
        "consumer-missed-truncation",
    );
    assert!(
        old >= 1,
        "a consumer without KIP-320 never missed a truncation in {SEEDS} seeds"
    );
    assert_eq!(
        new, 0,
        "KIP-320 consumers missed a truncation on {new} of {SEEDS} seeds"
    );
}

#[test]
fn kip_279_old_diverges_new_never() {
    let old = seeds_breaking("kip-279-fast-failover-divergence-old", "replica-divergence");
    let new = seeds_breaking("kip-279-fast-failover-divergence-new", "replica-divergence");
    assert!(
        old >= 1,
        "the pre-KIP-279 answer never diverged in {SEEDS} seeds"
    );
    assert_eq!(new, 0, "KIP-279 diverged on {new} of {SEEDS} seeds");
}
