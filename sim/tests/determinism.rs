//! Determinism: the same scenario and seed give the same record, event for event, and the
//! same trace hash, in any thread; another seed gives another record.

use kafka_sim::report;
use kafka_sim::scenario::Scenario;
use kafka_sim::world;

fn load(name: &str) -> Scenario {
    let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn same_seed_same_record_in_another_thread() {
    let scenario = load("acks-1-loses-on-leader-crash");
    let first = world::run(&scenario, 11);
    let s2 = scenario.clone();
    let second = std::thread::spawn(move || world::run(&s2, 11))
        .join()
        .expect("thread");
    assert_eq!(first.events.len(), second.events.len());
    for (i, (a, b)) in first.events.iter().zip(&second.events).enumerate() {
        assert_eq!(a, b, "event {i} differs");
    }
    assert_eq!(first.faults, second.faults);
    assert_eq!(first.final_state, second.final_state);
    assert_eq!(report::trace_hash(&first), report::trace_hash(&second));
}

#[test]
fn different_seeds_give_different_records() {
    let scenario = load("acks-1-loses-on-leader-crash");
    let a = world::run(&scenario, 1);
    let b = world::run(&scenario, 2);
    assert_ne!(report::trace_hash(&a), report::trace_hash(&b));
}
