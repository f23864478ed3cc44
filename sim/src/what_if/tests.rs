use super::*;

const SMALL: &str = r#"# A small cluster with one steady producer and no fault.
name = "small"
duration = "8s"
settle = "3s"
seed = 3

[cluster]
brokers = 3

[[topics]]
name = "orders.v1"
partitions = 1
replication_factor = 3
config = { "min.insync.replicas" = 2 }

[[producers]]
name = "app"
topic = "orders.v1"
records = 40
rate = 20
start = "1s"
config = { "acks" = "all" }
"#;

fn small() -> Scenario {
    Scenario::parse("small.toml", SMALL).expect("a valid scenario")
}

fn set(key: &str, value: &str) -> Setting {
    Setting {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn shipped(name: &str) -> Scenario {
    let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Scenario::load(&path).expect("a shipped scenario")
}

#[test]
fn a_setting_splits_at_the_first_equals_sign_outside_quotes() {
    assert_eq!(
        Setting::parse("cluster.config.min.insync.replicas=2").unwrap(),
        set("cluster.config.min.insync.replicas", "2")
    );
    assert_eq!(
        Setting::parse(r#"topic."a=b".retention.ms=5"#).unwrap(),
        set(r#"topic."a=b".retention.ms"#, "5")
    );
    assert!(Setting::parse("duration").is_err());
    assert!(Setting::parse("=3").is_err());
}

#[test]
fn keys_name_their_place_in_the_file() {
    assert_eq!(
        place_of("cluster.config.unclean.leader.election.enable").unwrap(),
        Place::Path(vec![
            "cluster".into(),
            "config".into(),
            "unclean.leader.election.enable".into()
        ])
    );
    assert_eq!(
        place_of("cluster.os.dirty_expire").unwrap(),
        Place::Path(vec!["cluster".into(), "os".into(), "dirty_expire".into()])
    );
    assert_eq!(
        place_of(r#"topic."orders.v1".min.insync.replicas"#).unwrap(),
        Place::Entry {
            array: "topics",
            name: "orders.v1".into(),
            key: "min.insync.replicas".into(),
            in_config: true,
        }
    );
    assert_eq!(
        place_of("producer.app.records").unwrap(),
        Place::Entry {
            array: "producers",
            name: "app".into(),
            key: "records".into(),
            in_config: false,
        }
    );
    assert_eq!(
        place_of("duration").unwrap(),
        Place::Path(vec!["duration".into()])
    );
}

#[test]
fn a_wrong_first_word_suggests_the_nearest() {
    let e = place_of("clustr.brokers").unwrap_err().to_string();
    assert!(e.contains("did you mean `cluster`"), "{e}");
    let e = place_of("topics.orders.partitions")
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `topic`"), "{e}");
    let e = place_of("nemesis.interval").unwrap_err().to_string();
    assert!(e.contains("nemesis schedule"), "{e}");
}

#[test]
fn settings_change_the_file_and_keep_its_layout() {
    let changed = apply(
        &small(),
        &[
            set(r#"topic."orders.v1".min.insync.replicas"#, "3"),
            set("producer.app.acks", "1"),
            set("cluster.config.unclean.leader.election.enable", "true"),
            set("cluster.kafka_version", "2.1"),
            set("duration", "9s"),
        ],
    )
    .unwrap();
    assert_eq!(changed.topics[0].config.min_insync_replicas, 3);
    assert_eq!(changed.duration_ms, 9_000);
    assert!(
        changed
            .cluster
            .config
            .topic_defaults
            .unclean_leader_election_enable
    );
    assert!(changed.text.starts_with("# A small cluster"));
    assert!(changed.text.contains(r#""acks" = 1"#), "{}", changed.text);
    assert!(
        changed.text.contains(r#"kafka_version = "2.1""#),
        "{}",
        changed.text
    );
    // A word that is not a TOML value is a string.
    let changed = apply(&small(), &[set("producer.app.acks", "all")]).unwrap();
    assert!(changed.text.contains(r#""acks" = "all""#));
}

#[test]
fn a_key_the_file_cannot_hold_is_refused_with_the_nearest() {
    let e = apply(&small(), &[set("cluster.config.min.insync.replica", "2")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `min.insync.replicas`"), "{e}");
    let e = apply(&small(), &[set("topic.orders.min.insync.replicas", "2")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no topic named `orders`"), "{e}");
    let e = apply(&small(), &[set("producer.ap.acks", "all")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `app`"), "{e}");
    let e = apply(&small(), &[set("cluster.brokerz", "4")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `brokers`"), "{e}");
    let e = apply(&small(), &[set("topic.\"orders.v1\".partitions", "many")])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("--set topic."), "{e}");
}

#[test]
fn a_change_that_does_not_matter_leaves_the_run_identical() {
    // Seven days of retention or a year of it: a run of eight seconds deletes nothing.
    let what_if = run(
        &small(),
        &[set(r#"topic."orders.v1".retention.ms"#, "31536000000")],
        3,
    )
    .unwrap();
    assert_eq!(what_if.first_divergence_ms, None);
    assert_eq!(
        what_if.base.outcome().trace_hash,
        what_if.changed.outcome().trace_hash
    );
    assert!(what_if.text().contains("no difference"));
}

#[test]
fn a_change_that_matters_changes_the_outcome() {
    let scenario = shipped("unclean-election-loses-acked");
    let what_if = run(
        &scenario,
        &[set(
            "cluster.config.unclean.leader.election.enable",
            "false",
        )],
        scenario.seed,
    )
    .unwrap();
    let (base, changed) = (what_if.base.outcome(), what_if.changed.outcome());
    assert!(base.records.acked_lost > 0);
    assert!(base.elections.unclean > 0);
    assert_eq!(changed.records.acked_lost, 0);
    assert_eq!(changed.elections.unclean, 0);
    let at_ms = what_if.first_divergence_ms.expect("the runs part");
    // Both runs have the same faults, so they agree up to the first one at least.
    let first_fault_ms = scenario.faults.iter().map(|f| f.at_ms).min().unwrap();
    assert!(at_ms > first_fault_ms, "{at_ms}");
    let json = serde_json::to_value(what_if.json()).unwrap();
    assert_eq!(
        json["set"]["cluster.config.unclean.leader.election.enable"],
        "false"
    );
    assert_eq!(json["first_divergence_ms"], at_ms);
    assert!(json["base"]["records"]["acked_lost"].as_u64().unwrap() > 0);
}

#[test]
fn both_runs_replay_the_schedule_drawn_from_the_scenario_as_written() {
    let scenario = shipped("random-faults-unclean");
    assert!(scenario.nemesis.is_some());
    // A longer run would draw another schedule from its own file; the what-if keeps the
    // original's.
    let changed = apply(&scenario, &[set("settle", "31s")]).unwrap();
    let base = with_fixed_faults(&scenario, 11);
    let changed = same_faults_as(&base, changed);
    assert_eq!(
        format!("{:?}", base.faults),
        format!("{:?}", changed.faults)
    );
    assert!(changed.nemesis.is_none());
}

#[test]
fn narrated_lines_give_their_time() {
    assert_eq!(line_time_ms("t=  12.345s broker 0 ..."), Some(12_345));
    assert_eq!(line_time_ms("t=   0.000s x"), Some(0));
    assert_eq!(line_time_ms("something else"), None);
}

#[test]
fn a_vary_table_has_one_row_per_value() {
    let variants = vary(
        &small(),
        &[],
        r#"topic."orders.v1".min.insync.replicas"#,
        &["1".to_string(), "2".to_string()],
        3,
    )
    .unwrap();
    assert_eq!(variants.len(), 2);
    let table = vary_table("min.insync.replicas", &variants);
    assert_eq!(table.lines().filter(|l| l.starts_with('1')).count(), 1);
    assert!(table.contains("acked lost"));
}
