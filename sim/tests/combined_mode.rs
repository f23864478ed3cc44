//! KRaft combined mode (`process.roles=broker,controller`): a fault on either role of a
//! combined node strikes the whole process, so the other role goes down, freezes, is cut
//! off or stops with it.
//!
//! Each test aims a fault at one role and looks for its effect on the other in the record:
//! a broker fenced after its controller's crash, a quorum election after its broker's
//! shutdown, and so on. The active controller is the target where the story needs one,
//! so the tests do not depend on which node the seed makes active.

use kafka_model::Event;
use kafka_sim::Scenario;

/// A three-node combined cluster with `faults` (TOML `[[faults]]` tables).
fn combined(faults: &str) -> Scenario {
    let text = format!(
        r#"name = "combined"
duration = "40s"
settle = "15s"
seed = 17

[cluster]
brokers = 3
mode = "kraft"
process_roles = "broker,controller"

[[topics]]
name = "orders"
partitions = 3
replication_factor = 3
config = {{ "min.insync.replicas" = 2 }}

[[producers]]
name = "orders-app"
topic = "orders"
records = 1000
rate = 100
start = "1s"
config = {{ "acks" = "all", "request.timeout.ms" = 5000 }}
{faults}"#
    );
    Scenario::parse("combined.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

/// The node the first fault line names, and that line.
fn first_fault(run: &kafka_sim::Simulation, action: &str) -> (i32, String) {
    let f = run
        .result()
        .faults
        .iter()
        .find(|f| f.action == action)
        .unwrap_or_else(|| panic!("no {action} in {:?}", run.result().faults));
    let digits: String = f
        .detail
        .split_whitespace()
        .nth(1)
        .expect("a node id")
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    (digits.parse().expect("a node id"), f.detail.clone())
}

/// When broker `b` was fenced after `from_ms`, if it was.
fn fenced_after(run: &kafka_sim::Simulation, b: i32, from_ms: u64) -> Option<u64> {
    run.result()
        .events
        .iter()
        .find(|e| {
            e.at_ms >= from_ms
                && matches!(e.event, Event::KraftBrokerFenced { broker, .. } if broker == b)
        })
        .map(|e| e.at_ms)
}

/// The quorum leaders elected after `from_ms`.
fn quorum_leaders_after(run: &kafka_sim::Simulation, from_ms: u64) -> Vec<i32> {
    run.result()
        .events
        .iter()
        .filter(|e| e.at_ms >= from_ms)
        .filter_map(|e| match e.event {
            Event::QuorumLeaderElected { node_id, .. } => Some(node_id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_crash_of_the_active_controller_takes_its_broker_down_too() {
    let run = kafka_sim::run(
        &combined("[[faults]]\nat = \"8s\"\naction = \"crash\"\ntarget = \"controller\"\n"),
        17,
    );
    let (n, detail) = first_fault(&run, "crash");
    assert!(
        detail.starts_with(&format!(
            "controller {n} (the active controller; also broker {n}, combined mode"
        )),
        "{detail}"
    );
    assert!(
        fenced_after(&run, n, 8_000).is_some(),
        "broker {n} died with its controller and is fenced"
    );
    let leaders = quorum_leaders_after(&run, 8_000);
    assert!(!leaders.is_empty() && !leaders.contains(&n), "{leaders:?}");
    let restart = run
        .result()
        .faults
        .iter()
        .find(|f| f.action == "settle")
        .expect("a settle");
    assert!(
        restart
            .detail
            .contains(&format!("controller(s) {n} and broker(s) {n}")),
        "{}",
        restart.detail
    );
    assert!(
        run.outcome().violations.is_empty(),
        "{:?}",
        run.outcome().violations
    );
    assert_eq!(run.outcome().records.acked_lost, 0);
}

#[test]
fn a_pause_of_the_controller_freezes_its_broker_and_a_resume_wakes_both() {
    let run = kafka_sim::run(
        &combined(
            "[[faults]]\nat = \"8s\"\naction = \"pause\"\ntarget = \"controller\"\n\
             [[faults]]\nat = \"25s\"\naction = \"resume\"\ntarget = \"controller:0\"\n\
             [[faults]]\nat = \"25s\"\naction = \"resume\"\ntarget = \"controller:1\"\n\
             [[faults]]\nat = \"25s\"\naction = \"resume\"\ntarget = \"controller:2\"\n",
        ),
        17,
    );
    let (n, _) = first_fault(&run, "pause");
    assert!(
        fenced_after(&run, n, 8_000).is_some_and(|at| at < 25_000),
        "broker {n} froze with its controller: no heartbeat, fenced"
    );
    // The resume of controller n woke broker n too, which then caught up and was unfenced.
    let resumed: Vec<&str> = run
        .result()
        .faults
        .iter()
        .filter(|f| f.action == "resume")
        .map(|f| f.detail.as_str())
        .collect();
    assert_eq!(
        resumed.len(),
        1,
        "only the paused process wakes: {resumed:?}"
    );
    assert!(resumed[0].contains(&format!("also broker {n}, combined mode")));
    assert!(run.result().events.iter().any(|e| e.at_ms >= 25_000
        && matches!(e.event, Event::KraftBrokerUnfenced { broker } if broker == n)));
}

#[test]
fn isolating_a_broker_cuts_off_its_controller_too() {
    // Isolate the broker the active controller runs in: the quorum elects another leader
    // (check quorum), and the broker, cut off from the new one, is fenced.
    let run = kafka_sim::run(
        &combined(
            "[[faults]]\nat = \"8s\"\naction = \"isolate\"\ntarget = \"controller\"\n\
             [[faults]]\nat = \"30s\"\naction = \"heal\"\n",
        ),
        17,
    );
    let (n, detail) = first_fault(&run, "isolate");
    assert!(detail.contains("combined mode"), "{detail}");
    let leaders = quorum_leaders_after(&run, 8_000);
    assert!(
        leaders.iter().any(|l| *l != n),
        "the cut-off controller lost the quorum: {leaders:?}"
    );
    assert!(fenced_after(&run, n, 8_000).is_some_and(|at| at < 30_000));
}

#[test]
fn a_shutdown_of_a_combined_node_stops_its_controller_after_its_broker() {
    let run = kafka_sim::run(
        &combined(
            "[[faults]]\nat = \"8s\"\naction = \"shutdown\"\ntarget = \"controller\"\n\
             [[faults]]\nat = \"25s\"\naction = \"restart\"\ntarget = \"broker:0\"\n\
             [[faults]]\nat = \"25s\"\naction = \"restart\"\ntarget = \"broker:1\"\n\
             [[faults]]\nat = \"25s\"\naction = \"restart\"\ntarget = \"broker:2\"\n",
        ),
        17,
    );
    let (n, _) = first_fault(&run, "shutdown");
    let leaders = quorum_leaders_after(&run, 8_000);
    assert!(
        leaders.first().is_some_and(|l| *l != n),
        "the controller stopped with the process, and another leads: {leaders:?}"
    );
    let restarts: Vec<&str> = run
        .result()
        .faults
        .iter()
        .filter(|f| f.action == "restart")
        .map(|f| f.detail.as_str())
        .collect();
    assert_eq!(
        restarts,
        vec![format!("broker {n} (and controller {n}, combined mode)")],
        "only the stopped process restarts, with both roles"
    );
    assert!(
        run.outcome().violations.is_empty(),
        "{:?}",
        run.outcome().violations
    );
}

#[test]
fn the_nemesis_draws_combined_nodes_as_brokers() {
    let mut scenario = combined(
        "[nemesis]\nkinds = [\"crash\", \"partition\", \"slow\", \"pause\", \"power-loss\"]\n\
         interval = \"2s..8s\"\nduration = \"1s..10s\"\nmax_concurrent = 1\n",
    );
    scenario.nemesis.as_mut().expect("a nemesis").swarm = false;
    for seed in 1..=3 {
        let schedule = kafka_sim::nemesis::schedule(&scenario, seed);
        assert!(!schedule.is_empty());
        let text = kafka_sim::nemesis::faults_toml(&schedule);
        assert!(!text.contains("controller"), "seed {seed}:\n{text}");
        assert!(!text.contains("zookeeper"), "seed {seed}:\n{text}");
        let run = kafka_sim::run(&scenario, seed);
        assert!(run.result().livelock.is_none(), "seed {seed}");
    }
}
