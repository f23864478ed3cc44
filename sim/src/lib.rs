//! # kafka-sim: a deterministic simulator of an Apache Kafka cluster
//!
//! The Kafka processes of `kafka-model` run here on madsim's seeded network and clock. A
//! scenario file describes the cluster, the clients and the faults; a run with a seed gives
//! the same event record, byte for byte, every time. The checkers, the narration and the
//! outcome are all computed from that record.
//!
//! ## Testing your own scenarios
//!
//! Load a scenario with [`Scenario::load`] (a TOML file, the format of the repository's
//! `scenarios/`) or build one from a string with [`Scenario::parse`], run it with a seed with
//! [`run`], then test the [`Simulation`]: [`Simulation::assert_expectations`] panics with every
//! failed expectation of the scenario's `[expect]`, and [`Simulation::snapshot`] is the text the
//! repository's snapshots hold (the outcome as JSON, then the narrated timeline), ready for
//! `insta::assert_snapshot!`. The crate builds only with `--cfg madsim` (set it in your
//! `.cargo/config.toml`); `examples/user-crate` is a complete crate that does this.
//!
//! ```
//! use kafka_sim::Scenario;
//!
//! let scenario = Scenario::parse(
//!     "acks-all.toml",
//!     r#"# Three brokers, acks=all, no faults: nothing acknowledged is lost.
//! name = "acks-all"
//! duration = "10s"
//! settle = "5s"
//!
//! [cluster]
//! brokers = 3
//!
//! [[topics]]
//! name = "orders"
//! partitions = 1
//! replication_factor = 3
//!
//! [[producers]]
//! name = "orders-app"
//! topic = "orders"
//! records = 100
//! rate = 50
//! start = "1s"
//! config = { "acks" = "all" }
//!
//! [expect]
//! acked_lost = 0
//! violations = []
//! "#,
//! )
//! .unwrap();
//! let run = kafka_sim::run(&scenario, 7);
//! run.assert_expectations();
//! assert_eq!(run.outcome().records.acked_lost, 0);
//! // The same seed gives the same text, byte for byte: a snapshot test's input.
//! assert_eq!(run.snapshot(), kafka_sim::run(&scenario, 7).snapshot());
//! assert!(run.snapshot().contains("\n\ntimeline:\n"));
//! ```
//!
//! The JSON the command line writes (`run --format json`, `sweep --out`) is described, field
//! by field, in `docs/outcome-schema.md`.

#[cfg(not(madsim))]
compile_error!(
    "kafka-sim runs on madsim's simulated network and clock and must be built with `--cfg madsim`. \
     The repository's .cargo/config.toml sets it; if you override RUSTFLAGS, add `--cfg madsim` \
     (for example RUSTFLAGS=\"--cfg madsim\" cargo build)."
);

pub mod assign;
pub mod availability;
pub mod bench;
pub mod check;
pub mod conformance;
pub mod dump_log;
pub mod html;
pub mod import;
pub mod log_tool;
pub mod moment;
pub mod narrate;
pub mod nemesis;
pub mod panics;
// The model's property-test configuration, shared: one fixed seed across the workspace.
#[cfg(test)]
#[path = "../../src/proptest_config.rs"]
mod proptest_config;
pub mod record;
pub mod report;
pub mod scenario;
pub mod shrink;
pub mod simulation;
pub mod stamp;
pub mod sweep;
pub mod transactions;
pub mod what_if;
pub mod world;

pub use report::Outcome;
pub use scenario::Scenario;
pub use simulation::{run, Simulation};
