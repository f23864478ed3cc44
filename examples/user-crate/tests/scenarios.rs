//! Our scenario meets its `[expect]` and its outcome and timeline match the committed
//! snapshot (`tests/snapshots/orders-leader-crash.snap`), the same text kafka-sim's own
//! scenario snapshots hold.

use kafka_sim::Scenario;

#[test]
fn orders_survive_a_leader_crash() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/orders-leader-crash.toml"
    );
    let scenario = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    let run = kafka_sim::run(&scenario, scenario.seed);
    run.assert_expectations();
    insta::with_settings!({
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("orders-leader-crash", run.snapshot());
    });
}
