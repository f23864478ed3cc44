//! What a run says when an invariant breaks that the scenario did not expect: without an
//! `[expect]` block any broken invariant fails the run, and the message says so; with a block
//! that does not list `violations`, the message says the block does not name it.

use kafka_sim::scenario::Scenario;
use kafka_sim::{report, world};

/// The unclean-election scenario (it breaks `acked-record-lost`) with `expect` in place of
/// its own `[expect]` block.
fn unclean_election_with(expect: &str) -> Scenario {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/unclean-election-loses-acked.toml"
    ))
    .expect("the shipped scenario");
    let body = text
        .split("\n[expect]")
        .next()
        .expect("text before [expect]");
    Scenario::parse("unclean.toml", &format!("{body}\n{expect}")).unwrap_or_else(|e| panic!("{e}"))
}

fn failures(scenario: &Scenario) -> Vec<String> {
    let seed = scenario.seed;
    let result = world::run(scenario, seed);
    let (outcome, _) = report::outcome(scenario, seed, &result);
    assert!(!outcome.passed());
    outcome.expect.failures
}

#[test]
fn without_an_expect_block_any_broken_invariant_fails_the_run_and_says_so() {
    let failures = failures(&unclean_election_with(""));
    assert!(
        failures.iter().any(|f| f
            == "invariant acked-record-lost broke; no [expect] block, so any broken invariant fails the run"),
        "{failures:?}"
    );
}

#[test]
fn an_expect_block_without_violations_names_what_it_missed() {
    let failures = failures(&unclean_election_with("[expect]\nacked = \">=1\"\n"));
    assert!(
        failures.iter().any(|f| f
            == "invariant acked-record-lost broke, and the scenario's [expect] does not name it"),
        "{failures:?}"
    );
}
