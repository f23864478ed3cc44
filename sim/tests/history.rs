//! The replication-history catalog, proved over seeds: for each before/after pair the old
//! rules break the pair's invariant, the new rules never do.
//!
//! The quick tests (run by `cargo test`) pin each proof to a seed on which the old rule is
//! known to break (found by a sweep of the old scenario) and run the new rule on that seed
//! and a handful more. The many-seed proofs are `#[ignore]`d: `.ci/run` runs them in
//! release with `cargo test --release -- --ignored`.

use kafka_sim::scenario::Scenario;
use kafka_sim::sweep;

/// Seeds of the many-seed proofs.
const SEEDS: u64 = 200;

/// Seeds the new rules run in the quick tests, besides the pair's breaking seed.
const HANDFUL: [u64; 3] = [0, 1, 2];

/// A before/after pair of scenarios and the invariant the old rule breaks.
struct Pair {
    old: &'static str,
    new: &'static str,
    invariant: &'static str,
    /// A seed on which the old rule breaks `invariant` (from `kafka-sim sweep` of `old`).
    breaking_seed: u64,
}

const KIP_101_DIVERGENCE: Pair = Pair {
    old: "kip-101-divergence-old",
    new: "kip-101-divergence-new",
    invariant: "replica-divergence",
    breaking_seed: 1,
};

const KIP_101_HW_TRUNCATION: Pair = Pair {
    old: "kip-101-hw-truncation-loss-old",
    new: "kip-101-hw-truncation-loss-new",
    invariant: "committed-record-lost",
    breaking_seed: 11,
};

const KIP_320: Pair = Pair {
    old: "kip-320-consumer-sees-truncation-old",
    new: "kip-320-consumer-sees-truncation-new",
    invariant: "consumer-missed-truncation",
    breaking_seed: 7,
};

const KIP_279: Pair = Pair {
    old: "kip-279-fast-failover-divergence-old",
    new: "kip-279-fast-failover-divergence-new",
    invariant: "replica-divergence",
    breaking_seed: 16,
};

fn load(name: &str) -> Scenario {
    let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The seeds among `seeds` on which `name` broke `invariant`.
fn seeds_breaking(name: &str, invariant: &str, seeds: &[u64]) -> Vec<u64> {
    let scenario = load(name);
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    sweep::run_seeds(&scenario, seeds, jobs, false, Default::default())
        .iter()
        .map(|o| o.outcome().expect("every seed gives an outcome"))
        .filter(|o| o.violation_counts.contains_key(invariant))
        .map(|o| o.seed)
        .collect()
}

/// The quick proof: the old rule breaks the invariant on its breaking seed, the new rule on
/// none of that seed and the handful.
fn prove_quickly(pair: &Pair) {
    let seed = pair.breaking_seed;
    assert_eq!(
        seeds_breaking(pair.old, pair.invariant, &[seed]),
        vec![seed],
        "{} no longer breaks {} on seed {seed}",
        pair.old,
        pair.invariant
    );
    let mut seeds = HANDFUL.to_vec();
    seeds.push(seed);
    let broken = seeds_breaking(pair.new, pair.invariant, &seeds);
    assert!(
        broken.is_empty(),
        "{} broke {} on seeds {broken:?}",
        pair.new,
        pair.invariant
    );
}

/// The many-seed proof: the old rule breaks the invariant on at least one of `SEEDS`
/// seeds, the new rule on none.
fn prove_over_many_seeds(pair: &Pair) {
    let seeds: Vec<u64> = (0..SEEDS).collect();
    let old = seeds_breaking(pair.old, pair.invariant, &seeds);
    assert!(
        !old.is_empty(),
        "{} never broke {} in {SEEDS} seeds",
        pair.old,
        pair.invariant
    );
    let new = seeds_breaking(pair.new, pair.invariant, &seeds);
    assert!(
        new.is_empty(),
        "{} broke {} on {} of {SEEDS} seeds: {new:?}",
        pair.new,
        pair.invariant,
        new.len()
    );
}

#[test]
fn kip_101_divergence_old_diverges_new_never() {
    prove_quickly(&KIP_101_DIVERGENCE);
}

#[test]
fn kip_101_hw_truncation_old_loses_committed_new_never() {
    prove_quickly(&KIP_101_HW_TRUNCATION);
}

#[test]
fn kip_320_consumer_old_misses_truncation_new_never() {
    prove_quickly(&KIP_320);
}

#[test]
fn kip_279_old_diverges_new_never() {
    prove_quickly(&KIP_279);
}

#[test]
#[ignore = "200 seeds of each scenario: run in release by .ci/run"]
fn kip_101_divergence_over_many_seeds() {
    prove_over_many_seeds(&KIP_101_DIVERGENCE);
}

#[test]
#[ignore = "200 seeds of each scenario: run in release by .ci/run"]
fn kip_101_hw_truncation_over_many_seeds() {
    prove_over_many_seeds(&KIP_101_HW_TRUNCATION);
}

#[test]
#[ignore = "200 seeds of each scenario: run in release by .ci/run"]
fn kip_320_consumer_over_many_seeds() {
    prove_over_many_seeds(&KIP_320);
}

#[test]
#[ignore = "200 seeds of each scenario: run in release by .ci/run"]
fn kip_279_over_many_seeds() {
    prove_over_many_seeds(&KIP_279);
}

/// Before 0.11 a fetch is answered from the fetch offset itself (message format v1 addresses
/// each message), so a follower that truncated to its high watermark inside what the new
/// leader holds as one retried batch appends the rest and diverges, as KIP-101 tells it. A
/// read that handed it the whole batch made the follower's append panic on this seed.
#[test]
fn an_old_protocol_follower_fetching_inside_a_batch_diverges_and_does_not_panic() {
    let path = format!(
        "{}/../scenarios/random-faults-old-protocol.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let run = kafka_sim::world::run_limited(&scenario, 26, Default::default())
        .unwrap_or_else(|e| panic!("seed 26: {e}"));
    let (outcome, _) = kafka_sim::report::outcome(&scenario, 26, &run);
    assert!(
        outcome.violation_counts.contains_key("replica-divergence"),
        "{:?}",
        outcome.violation_counts
    );
}
