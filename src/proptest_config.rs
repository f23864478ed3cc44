//! The one configuration of every property test in the workspace.
//!
//! Why: a property test that draws new cases on every run can fail on a run that changed
//! nothing, and then it is a lottery whether the next run (or the CI job) sees it again. Here
//! every run draws the same cases, from ChaCha seeded with [`SEED`], so `cargo test` passes or
//! fails the same way each time; a case that once failed is kept, as proptest writes it, in
//! `proptest-regressions/` beside the sources (checked in), and replayed first on every run.
//!
//! To look for new failures locally, draw other cases with `PROPTEST_RNG_SEED=<n>` (and more of
//! them with `PROPTEST_CASES=<n>`); a failure found so is written to `proptest-regressions/`:
//! commit that file with the fix, and the case stays a test.

use proptest::test_runner::{Config, FileFailurePersistence, RngAlgorithm, RngSeed};

/// The seed of every property test's cases, unless `PROPTEST_RNG_SEED` says otherwise.
pub const SEED: u64 = 0x6b61_666b_6173_696d;

/// Proptest's configuration (its environment variables included) with a fixed seed and the
/// failures persisted beside the sources.
pub fn fixed_seed() -> Config {
    let from_env = Config::default();
    let rng_seed = match from_env.rng_seed {
        RngSeed::Random => RngSeed::Fixed(SEED),
        chosen => chosen,
    };
    Config {
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed,
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..from_env
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use std::sync::Mutex;

    static DRAWN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    fn draw_cases() -> Vec<u64> {
        let config = Config {
            cases: 5,
            failure_persistence: None,
            ..super::fixed_seed()
        };
        DRAWN.lock().unwrap().clear();
        proptest!(config, |(n in any::<u64>())| {
            DRAWN.lock().unwrap().push(n);
        });
        DRAWN.lock().unwrap().clone()
    }

    use proptest::test_runner::Config;

    #[test]
    fn every_run_draws_the_same_cases() {
        if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            return; // a seed chosen by hand is the point of that run
        }
        assert_eq!(draw_cases(), draw_cases());
    }
}
