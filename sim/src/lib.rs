//! # kafka-sim: a deterministic simulator of an Apache Kafka cluster
//!
//! The Kafka processes of `kafka-model` run here on madsim's seeded network and clock. A
//! scenario file describes the cluster, the clients and the faults; a run with a seed gives
//! the same event record, byte for byte, every time. The checkers, the narration and the
//! outcome are all computed from that record.

#[cfg(not(madsim))]
compile_error!(
    "kafka-sim runs on madsim's simulated network and clock and must be built with `--cfg madsim`. \
     The repository's .cargo/config.toml sets it; if you override RUSTFLAGS, add `--cfg madsim` \
     (for example RUSTFLAGS=\"--cfg madsim\" cargo build)."
);

pub mod assign;
pub mod bench;
pub mod check;
pub mod import;
pub mod narrate;
pub mod nemesis;
pub mod record;
pub mod report;
pub mod scenario;
pub mod shrink;
pub mod sweep;
pub mod world;

/// The checkers under their earlier paths: `kafka_sim::checkers` is [`check`], and
/// `kafka_sim::groups` is [`check::groups`].
pub use check as checkers;
pub use check::groups;
