//! Sweeps, shards and merges: two shards merged give the summary of one unsharded sweep,
//! the results files are identical whatever the thread count, results of another build are
//! refused, and the shipped scenarios pass the determinism self-check.

use kafka_sim::scenario::Scenario;
use kafka_sim::sweep::{self, SeedRange, Shard};
use std::path::PathBuf;

fn load(name: &str) -> Scenario {
    let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn temp(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("kafka-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name).to_string_lossy().to_string()
}

#[test]
fn two_shards_merged_equal_one_unsharded_sweep() {
    let scenario = load("random-faults-unclean");
    let range = SeedRange { start: 0, end: 8 };
    let all: Vec<u64> = (range.start..range.end).collect();
    let whole = sweep::run_seeds(&scenario, &all, 2, false, Default::default());
    let whole_file = temp("whole.jsonl");
    sweep::write_jsonl(&whole_file, &whole).unwrap();

    let mut files = Vec::new();
    for i in 0..2 {
        let seeds = Shard::new(i, 2).unwrap().seeds(range);
        let part = sweep::run_seeds(&scenario, &seeds, 1, false, Default::default());
        let file = temp(&format!("shard-{i}.jsonl"));
        sweep::write_jsonl(&file, &part).unwrap();
        files.push(file);
    }
    let (merged, identity) = sweep::merge(&files).unwrap();
    assert_eq!(identity.scenario, scenario.name);
    assert_eq!(identity.scenario_hash, format!("{:016x}", scenario.hash()));
    assert_eq!(merged, sweep::summarize(&scenario.name, &whole));
    assert_eq!(
        merged,
        sweep::merge(std::slice::from_ref(&whole_file)).unwrap().0
    );
    assert_eq!(merged.seeds, 8);

    // The same seeds on one thread write the same bytes.
    let again = sweep::run_seeds(&scenario, &all, 1, false, Default::default());
    let again_file = temp("again.jsonl");
    sweep::write_jsonl(&again_file, &again).unwrap();
    assert_eq!(
        std::fs::read(&whole_file).unwrap(),
        std::fs::read(&again_file).unwrap()
    );
}

#[test]
fn merge_refuses_results_of_another_scenario() {
    let a = load("acks-all-survives-leader-crash");
    let b = load("acks-1-loses-on-leader-crash");
    let fa = temp("a.jsonl");
    let fb = temp("b.jsonl");
    sweep::write_jsonl(
        &fa,
        &sweep::run_seeds(&a, &[1], 1, false, Default::default()),
    )
    .unwrap();
    sweep::write_jsonl(
        &fb,
        &sweep::run_seeds(&b, &[1], 1, false, Default::default()),
    )
    .unwrap();
    let err = sweep::merge(&[fa, fb]).unwrap_err().to_string();
    assert!(err.contains("cannot be merged"), "{err}");
}

/// The shipped scenarios, sorted.
fn shipped_scenarios() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// A few scenarios that reach the most code (a drawn fault schedule, consumer groups, power
/// loss), each run twice on its own seed; every scenario's own seed is also pinned by the
/// trace hash in its snapshot.
#[test]
fn a_few_shipped_scenarios_are_deterministic() {
    for name in [
        "random-faults-unclean",
        "cooperative-vs-eager",
        "power-loss-unflushed",
    ] {
        let scenario = load(name);
        if let Some((seed, why)) = sweep::check_determinism(&scenario, &[scenario.seed]) {
            panic!("{name}: seed {seed}: {why}");
        }
    }
}

#[test]
#[ignore = "every scenario, three seeds, twice: run in release by .ci/run"]
fn every_shipped_scenario_is_deterministic() {
    for file in shipped_scenarios() {
        let scenario = Scenario::load(&file.to_string_lossy()).unwrap();
        if let Some((seed, why)) = sweep::check_determinism(&scenario, &[0, 1, 2]) {
            panic!("{}: seed {seed}: {why}", file.display());
        }
    }
}

#[test]
fn sweep_lines_carry_the_build_and_snapshots_do_not() {
    let scenario = load("acks-all-survives-leader-crash");
    let file = temp("stamped.jsonl");
    sweep::write_jsonl(
        &file,
        &sweep::run_seeds(&scenario, &[1], 1, false, Default::default()),
    )
    .unwrap();
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&file).unwrap().trim()).unwrap();
    assert_eq!(line["schema_version"], 3);
    assert_eq!(line["kafka_sim_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(line["build_hash"], kafka_sim::stamp::BUILD_HASH);
    assert_eq!(kafka_sim::stamp::BUILD_HASH.len(), 16);
    let snapshot = kafka_sim::run(&scenario, 1).snapshot();
    assert!(!snapshot.contains("build_hash") && !snapshot.contains("schema_version"));
}

/// A copy of `file` as another build would have written it.
fn as_another_build(file: &str, name: &str) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let other = text.replace(kafka_sim::stamp::BUILD_HASH, "00000000deadbeef");
    assert_ne!(text, other);
    let path = temp(name);
    std::fs::write(&path, other).unwrap();
    path
}

#[test]
fn merge_and_shrink_refuse_results_of_another_build() {
    let scenario = load("acks-all-survives-leader-crash");
    let ours = temp("ours.jsonl");
    sweep::write_jsonl(
        &ours,
        &sweep::run_seeds(&scenario, &[1, 2], 1, false, Default::default()),
    )
    .unwrap();
    let theirs = as_another_build(&ours, "theirs.jsonl");
    let err = sweep::merge(&[ours.clone(), theirs.clone()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("00000000deadbeef"), "{err}");
    assert!(err.contains(kafka_sim::stamp::BUILD_HASH), "{err}");
    kafka_sim::shrink::check_results(&scenario, 1, &ours).unwrap();
    let err = kafka_sim::shrink::check_results(&scenario, 1, &theirs)
        .unwrap_err()
        .to_string();
    assert!(err.contains("00000000deadbeef"), "{err}");
    assert!(err.contains(kafka_sim::stamp::BUILD_HASH), "{err}");
}

#[test]
fn the_shrinker_cuts_a_failing_seed_and_the_result_fails_on_its_own() {
    let scenario = load("random-faults-unclean");
    let shrunk = kafka_sim::shrink::shrink(&scenario, 38, Some("acked-record-lost")).unwrap();
    assert!(shrunk.faults_after < shrunk.faults_before);
    assert!(
        shrunk.faults_after <= 4,
        "{} faults left",
        shrunk.faults_after
    );
    let minimal = Scenario::parse("minimal.toml", &shrunk.text).unwrap();
    let result = kafka_sim::world::run(&minimal, minimal.seed);
    let (outcome, _) = kafka_sim::report::outcome(&minimal, minimal.seed, &result);
    assert!(outcome.violation_counts.contains_key("acked-record-lost"));
    assert!(
        !outcome.passed(),
        "the minimal scenario fails its own [expect]"
    );
}

#[test]
fn a_sweep_records_a_seed_past_the_wall_time_limit_and_goes_on() {
    let scenario = load("acks-all-survives-leader-crash");
    // A limit no run can meet: every seed is stopped by the watchdog, none takes the sweep
    // down, and each is recorded as failed with the reason.
    let limits = kafka_sim::world::RunLimits {
        wall_time_limit: Some(std::time::Duration::from_nanos(1)),
    };
    let outcomes = sweep::run_seeds(&scenario, &[1, 2, 3], 2, false, limits);
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.iter().all(|o| o.outcome().is_none()));
    let summary = sweep::summarize(&scenario.name, &outcomes);
    assert_eq!(summary.failed, 3);
    assert_eq!(summary.no_outcome.get("wall-time-limit"), Some(&3));
    let file = temp("stopped.jsonl");
    sweep::write_jsonl(&file, &outcomes).unwrap();
    let (merged, _) = sweep::merge(&[file]).unwrap();
    assert_eq!(merged.failed, 3, "a merge counts them as failed too");
}

/// The 10-broker scenario that hung on most seeds before the world carried its own links:
/// every seed finishes, with no livelock and nothing acknowledged lost.
#[test]
#[ignore = "100 seeds: run in release by .ci/run"]
fn ten_brokers_finish_on_every_seed() {
    let path = format!("{}/tests/data/ten-brokers.toml", env!("CARGO_MANIFEST_DIR"));
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_clean_on_seeds(&scenario, 0..100, false);
}

/// Runs `seeds` in parallel (a two-minute watchdog each) and asserts every one gave an
/// outcome with no invariant broken (and, with `expectations`, every expectation held).
fn assert_clean_on_seeds(scenario: &Scenario, seeds: std::ops::Range<u64>, expectations: bool) {
    let seeds: Vec<u64> = seeds.collect();
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limits = kafka_sim::world::RunLimits {
        wall_time_limit: Some(std::time::Duration::from_secs(120)),
    };
    for o in sweep::run_seeds(scenario, &seeds, jobs, false, limits) {
        let outcome = o
            .outcome()
            .unwrap_or_else(|| panic!("seed {} gave no outcome", o.seed()));
        assert!(
            outcome.violation_counts.is_empty()
                && (!expectations || outcome.expect.failures.is_empty()),
            "seed {}: {:?} {:?}",
            outcome.seed,
            outcome.violation_counts,
            outcome.expect.failures
        );
    }
}

/// KRaft's many-seed proof: a thousand nemesis schedules against a KRaft cluster, faults on
/// the controllers included, and not one invariant breaks (the metadata quorum's own three
/// among them) nor an expectation fails.
#[test]
#[ignore = "1,000 seeds: run in release by .ci/run"]
fn random_faults_kraft_is_clean_on_a_thousand_seeds() {
    let scenario = load("random-faults-kraft");
    assert_clean_on_seeds(&scenario, 0..1000, true);
}

/// Transactions' many-seed proof: a thousand schedules of crashes, splits, slow links and
/// pauses, the producer's own slow link included, against Kafka 4.0 on transaction version
/// 2, and no invariant breaks nor an expectation fails.
#[test]
#[ignore = "1,000 seeds: run in release by .ci/run"]
fn random_faults_transactions_is_clean_on_a_thousand_seeds_on_transaction_version_2() {
    let scenario = load("random-faults-transactions");
    assert_eq!(scenario.cluster.feature_level("transaction.version"), 2);
    assert_clean_on_seeds(&scenario, 0..1000, true);
}

/// The file with `features = { "transaction.version" = 1 }` in `[cluster]`, as its comment
/// tells a learner to write it (the nemesis draws from the file's text, so its schedules are
/// those a learner's sweep of that file gets), finds KAFKA-17754: on some seed an EndTxn the
/// producer had given up on and sent again arrives after the retry and ends part of a later
/// transaction, which the transaction checkers see as an aborted read, a torn transaction or
/// a lost commit. Nothing else breaks.
#[test]
#[ignore = "1,000 seeds: run in release by .ci/run"]
fn random_faults_transactions_on_transaction_version_1_finds_kafka_17754() {
    let path = format!(
        "{}/../scenarios/random-faults-transactions.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("scenario file");
    let line = "kafka_version = \"4.0.0\"\n";
    assert!(text.contains(line), "the file names its Kafka version");
    let text = text.replacen(
        line,
        &format!("{line}features = {{ \"transaction.version\" = 1 }}\n"),
        1,
    );
    let scenario = Scenario::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.cluster.feature_level("transaction.version"), 1);
    let seeds: Vec<u64> = (0..1000).collect();
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limits = kafka_sim::world::RunLimits {
        wall_time_limit: Some(std::time::Duration::from_secs(120)),
    };
    let anomalies = ["txn-aborted-read", "txn-torn", "txn-lost-commit"];
    let mut found = Vec::new();
    for o in sweep::run_seeds(&scenario, &seeds, jobs, false, limits) {
        let outcome = o
            .outcome()
            .unwrap_or_else(|| panic!("seed {} gave no outcome", o.seed()));
        for invariant in outcome.violation_counts.keys() {
            assert!(
                anomalies.contains(&invariant.as_str()),
                "seed {}: {invariant} is not KAFKA-17754's",
                outcome.seed
            );
        }
        if !outcome.violation_counts.is_empty() {
            found.push(outcome.seed);
        }
    }
    eprintln!("transaction.version 1: KAFKA-17754 on seeds {found:?}");
    assert!(!found.is_empty(), "no seed found KAFKA-17754");
}
