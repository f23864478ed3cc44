use super::*;
use crate::scenario::Scenario;

const UNCLEAN: &str = include_str!("../../../scenarios/unclean-election-loses-acked.toml");
const GROUPS: &str = include_str!("../../../scenarios/group-rebalance-on-member-crash.toml");

fn scenario(name: &str, text: &str) -> Scenario {
    Scenario::parse(name, text).expect("the scenario parses")
}

/// The JSON the page embeds, read back as a browser's `JSON.parse` would.
fn embedded_data(html: &str) -> serde_json::Value {
    let open = r#"<script type="application/json" id="data">"#;
    let start = html.find(open).expect("the data element") + open.len();
    let len = html[start..]
        .find("</script>")
        .expect("the data element ends");
    serde_json::from_str(&html[start..start + len]).expect("the data is JSON")
}

/// A steady producer on three brokers for `duration`, no faults.
fn steady(name: &str, duration: &str) -> Scenario {
    scenario(
        "steady.toml",
        &format!(
            r#"# A steady producer, no faults.
name = {name:?}
duration = "{duration}"
settle = "5s"

[cluster]
brokers = 3

[[topics]]
name = "orders"
partitions = 1
replication_factor = 3

[[producers]]
name = "orders-app"
topic = "orders"
records = 1000000
rate = 200
start = "1s"
config = {{ "acks" = "all" }}

[expect]
acked_lost = 0
"#
        ),
    )
}

#[test]
fn a_hostile_name_is_text_and_runs_nothing() {
    let name = "</script><script>alert(1)</script>";
    let sim = crate::run(&steady(name, "3s"), 1);
    let html = render_run(&sim);
    assert!(
        !html.contains("<script>alert"),
        "the raw name reached the markup"
    );
    assert!(
        html.contains("&lt;/script&gt;&lt;script&gt;alert(1)"),
        "the title is escaped"
    );
    let data = embedded_data(&html);
    assert_eq!(data["runs"][0]["scenario"], name);
    assert!(data["title"].as_str().is_some_and(|t| t.starts_with(name)));
}

#[test]
fn json_for_script_cannot_close_the_element() {
    let json = serde_json::to_string("</script><!-- & \u{2028}").expect("json");
    let safe = json_for_script(&json);
    assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'));
    assert_eq!(
        serde_json::from_str::<String>(&safe).expect("still JSON"),
        "</script><!-- & \u{2028}"
    );
}

#[test]
fn the_same_run_gives_the_same_bytes() {
    let s = scenario("unclean.toml", UNCLEAN);
    let first = render_run(&crate::run(&s, 7));
    let second = render_run(&crate::run(&s, 7));
    assert!(first == second, "two renders of seed 7 differ");
}

#[test]
fn a_minute_of_a_steady_producer_stays_small() {
    let sim = crate::run(&steady("steady-minute", "60s"), 1);
    assert!(sim.outcome().records.acked > 10_000, "the producer ran");
    let html = render_run(&sim);
    assert!(html.len() < 2_000_000, "{} bytes", html.len());
    let data = embedded_data(&html);
    for lane in data["runs"][0]["partitions"][0]["lanes"]
        .as_array()
        .expect("lanes")
    {
        let points = lane["points"].as_array().expect("points").len();
        assert!(points <= 2 * thin::BUCKETS as usize, "{points} points");
    }
}

/// The table at each moment is the one `run --describe-at` prints then, the settle's
/// restarts included.
#[test]
fn the_describe_table_matches_moment() {
    let s = scenario("unclean.toml", UNCLEAN);
    let sim = crate::run(&s, 7);
    let data = embedded_data(&render_run(&sim));
    let run = &data["runs"][0];
    let samples = run["samples"].as_array().expect("samples");
    assert!(samples.len() > 20);
    for sample in samples {
        let at_ms = sample["at_ms"].as_u64().expect("at_ms");
        let moment = crate::moment::at(sim.result(), &s, at_ms);
        let expected: Vec<serde_json::Value> = moment
            .partitions(sim.result())
            .iter()
            .filter(|p| !p.topic.starts_with("__"))
            .map(|p| {
                serde_json::json!({
                    "leader": p.leader,
                    "leader_epoch": p.leader_epoch,
                    "isr": p.isr,
                    "replicas": p.replica_offsets.iter().map(|r| {
                        [r.log_end_offset, r.high_watermark, u64::from(r.online)]
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        assert_eq!(
            sample["rows"],
            serde_json::Value::from(expected),
            "at {at_ms} ms"
        );
    }
}

#[test]
fn the_unclean_election_and_the_lost_records_are_marked() {
    let s = scenario("unclean.toml", UNCLEAN);
    let sim = crate::run(&s, 7);
    let data = embedded_data(&render_run(&sim));
    let run = &data["runs"][0];
    let panel = &run["partitions"][0];
    assert_eq!(panel["name"], "orders-0");
    let unclean: Vec<_> = panel["elections"]
        .as_array()
        .expect("elections")
        .iter()
        .filter(|e| e["unclean"] == true)
        .collect();
    assert_eq!(unclean.len(), 1);
    let lost: u64 = panel["losses"]
        .as_array()
        .expect("losses")
        .iter()
        .map(|l| l["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(lost, sim.outcome().records.acked_lost);
    // Broker 0 truncates the lost records away when it returns in the settle (to the end of
    // epoch 0 on the new leader, offset 400).
    let truncations = panel["lanes"][0]["truncations"].as_array().expect("marks");
    assert!(truncations.iter().any(|t| t["to_offset"] == 400));
    // Every crash is a span that its restart (or the settle) ends.
    let crashes: Vec<_> = run["faults"]
        .as_array()
        .expect("faults")
        .iter()
        .filter(|f| f["action"] == "crash")
        .collect();
    assert_eq!(crashes.len(), 3);
    assert!(crashes
        .iter()
        .all(|f| f["to_ms"].as_u64() > f["from_ms"].as_u64()));
    // Each narrated line and its time.
    let timeline = run["timeline"].as_array().expect("timeline");
    assert_eq!(timeline.len(), sim.timeline().len());
    assert!(timeline.iter().any(|l| l["at_ms"] == 24_149
        && l["text"]
            .as_str()
            .is_some_and(|t| t.contains("UNCLEAN election"))));
}

#[test]
fn a_groups_members_own_partitions_and_commit() {
    let s = scenario("groups.toml", GROUPS);
    let sim = crate::run(&s, s.seed);
    let data = embedded_data(&render_run(&sim));
    let groups = data["runs"][0]["groups"].as_array().expect("groups");
    assert!(!groups.is_empty());
    let members = groups[0]["members"].as_array().expect("members");
    assert!(members.len() >= 2);
    assert!(members
        .iter()
        .all(|m| !m["spans"].as_array().expect("spans").is_empty()));
    assert!(members
        .iter()
        .any(|m| !m["commits"].as_array().expect("commits").is_empty()));
    assert!(!groups[0]["generations"]
        .as_array()
        .expect("generations")
        .is_empty());
}

#[test]
fn a_pair_shares_one_axis_and_marks_the_divergence() {
    let s = scenario("unclean.toml", UNCLEAN);
    let base = crate::run(&s, 7);
    let changed_text = UNCLEAN.replace(
        r#""unclean.leader.election.enable" = true"#,
        r#""unclean.leader.election.enable" = false"#,
    );
    let changed = crate::run(&scenario("changed.toml", &changed_text), 7);
    let changes = vec![(
        "unclean.leader.election.enable".to_string(),
        "false".to_string(),
    )];
    let html = render_pair(&base, &changed, &changes, Some(24_148));
    let data = embedded_data(&html);
    assert_eq!(data["runs"].as_array().map(Vec::len), Some(2));
    assert_eq!(data["first_divergence_ms"], 24_148);
    assert_eq!(data["changes"][0]["key"], "unclean.leader.election.enable");
    assert!(data["title"]
        .as_str()
        .is_some_and(|t| t.contains("unclean.leader.election.enable=false")));
    // Both runs are sampled at every moment either can stop at.
    let times = |run: &serde_json::Value| -> Vec<serde_json::Value> {
        run["samples"]
            .as_array()
            .expect("samples")
            .iter()
            .map(|s| s["at_ms"].clone())
            .collect()
    };
    assert_eq!(times(&data["runs"][0]), times(&data["runs"][1]));
    assert!(times(&data["runs"][0]).contains(&serde_json::Value::from(24_148)));
}

#[test]
fn narrated_times_parse() {
    assert_eq!(
        extract::line_time_ms("t=   0.000s broker 2 starts"),
        Some(0)
    );
    assert_eq!(
        extract::line_time_ms("t=  24.148s UNCLEAN election"),
        Some(24_148)
    );
    assert_eq!(extract::line_time_ms("           ... and 3 more"), None);
}

#[test]
fn the_page_names_no_url() {
    let sim = crate::run(&steady("steady", "3s"), 1);
    let html = render_run(&sim);
    for needle in [
        "http:", "https:", "//cdn", "src=", "href=", "@import", "url(",
    ] {
        let hits: Vec<_> = html.match_indices(needle).collect();
        // The SVG namespace is a name, not something loaded.
        let loads = hits
            .iter()
            .filter(|(i, _)| !html[*i..].starts_with("http://www.w3.org/2000/svg"))
            .count();
        assert_eq!(loads, 0, "{needle} in the page");
    }
}

/// Past `PANELS_MAX` partitions the page draws those with the most happening: here the
/// partitions broker 0 led, which get a new leader when it crashes.
#[test]
fn a_big_topic_draws_the_partitions_with_the_most_happening() {
    let s = scenario(
        "many.toml",
        r#"# Sixty partitions, and the leader of a third of them crashes.
name = "many"
duration = "30s"
settle = "5s"
seed = 1

[cluster]
brokers = 3

[cluster.config]
"zookeeper.session.timeout.ms" = 6000

[[topics]]
name = "orders"
partitions = 60
replication_factor = 3

[[producers]]
name = "app"
topic = "orders"
records = 200
rate = 50
start = "1s"

[[faults]]
at = "8s"
action = "crash"
target = 0
"#,
    );
    let sim = crate::run(&s, 1);
    let data = embedded_data(&render_run(&sim));
    let run = &data["runs"][0];
    let drawn: Vec<&str> = run["partitions"]
        .as_array()
        .expect("panels")
        .iter()
        .map(|p| p["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(drawn.len(), extract::PANELS_MAX);
    assert_eq!(run["quiet_hidden"], 60 - extract::PANELS_MAX as u64);
    // Every partition whose leader failed is drawn.
    let mut failed_over = 0;
    for e in &sim.result().events {
        if let kafka_model::Event::LeaderElected { tp, reason, .. } = &e.event {
            if *reason == kafka_model::event::ElectionReason::NewPartition {
                continue;
            }
            assert!(drawn.contains(&tp.to_string().as_str()), "{tp}");
            failed_over += 1;
        }
    }
    assert!(failed_over >= 10, "{failed_over} partitions failed over");
    for sample in run["samples"].as_array().expect("samples") {
        assert_eq!(
            sample["rows"].as_array().expect("rows").len(),
            extract::PANELS_MAX
        );
    }
}
