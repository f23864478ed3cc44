//! Every shipped scenario whose story does not depend on ZooKeeper also runs in KRaft mode.
//!
//! A scenario qualifies when nothing in it needs ZooKeeper: no `zookeeper` fault target, a
//! release that runs KRaft (3.3 or later), and it is not already a KRaft scenario (a
//! `mode`, `features` or a 4.x release). It is run
//! as written with `[cluster] mode = "kraft"` added (and `zookeeper.session.timeout.ms`, a
//! ZooKeeper-only key, dropped), with its own seed.
//!
//! What must hold: the run ends (no livelock), and its outcome matches the snapshot
//! `snapshots/kraft-mode-runs.snap`, one line per scenario with what was acknowledged and
//! lost and which invariants broke. The scenario's own `[expect]` block is not asserted:
//! it states the ZooKeeper-mode story, and the KRaft one may rightly differ (a broker is
//! fenced after 9 s without heartbeats instead of losing a ZooKeeper session; a restarted
//! broker registers a new incarnation). The README lists the scenarios that run here.

use kafka_sim::Scenario;
use std::path::Path;

/// Why a scenario does not run in KRaft mode, or `None` when it does.
fn zookeeper_only(text: &str) -> Option<&'static str> {
    if text.contains("\"zookeeper\"") {
        return Some("a fault targets ZooKeeper");
    }
    let already = text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("mode =")
            || l.starts_with("features =")
            || l.starts_with("kafka_version = \"4.")
    });
    if already {
        return Some("a KRaft scenario already");
    }
    if text.contains("kafka_version = \"0.") || text.contains("kafka_version = \"1.") {
        return Some("a release before KRaft");
    }
    if text
        .lines()
        .any(|l| l.trim_start().starts_with("kafka_version = \"2."))
    {
        return Some("a release before KRaft");
    }
    None
}

/// The scenario's text in KRaft mode.
fn in_kraft_mode(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line
            .trim_start()
            .starts_with("\"zookeeper.session.timeout.ms\"")
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.trim() == "[cluster]" {
            out.push_str("mode = \"kraft\"\n");
        }
    }
    out
}

#[test]
fn every_scenario_without_zookeeper_in_its_story_runs_in_kraft_mode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the scenarios folder")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for path in files {
        let name = path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("a scenario");
        if let Some(why) = zookeeper_only(&text) {
            lines.push(format!("{name}: not run ({why})"));
            continue;
        }
        let kraft_text = in_kraft_mode(&text);
        let scenario = Scenario::parse(&path.to_string_lossy(), &kraft_text)
            .unwrap_or_else(|e| panic!("{name} in KRaft mode: {e}"));
        let run = kafka_sim::run(&scenario, scenario.seed);
        let outcome = run.outcome();
        assert!(
            !outcome.violation_counts.contains_key("livelock"),
            "{name} in KRaft mode livelocked"
        );
        let broke: Vec<String> = outcome
            .violation_counts
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect();
        lines.push(format!(
            "{name}: {} acked, {} acked lost, elections {} clean / {} unclean; {}",
            outcome.records.acked,
            outcome.records.acked_lost,
            outcome.elections.clean,
            outcome.elections.unclean,
            match broke.is_empty() {
                true => "no invariant broke".to_string(),
                false => broke.join(", "),
            }
        ));
    }
    insta::with_settings!({
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("kraft-mode-runs", lines.join("\n"));
    });
}
