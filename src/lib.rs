//! # kafka-model: Apache Kafka as deterministic state machines
//!
//! This crate holds Kafka's broker, controller, ZooKeeper and client logic with no I/O: no
//! clock, no network, no threads, no randomness of its own. The `kafka-sim` crate runs these
//! state machines on madsim's simulated network and clock; tests here drive them by hand.
//!
//! Why no I/O: a protocol bug is a sequence of messages and timers. When the protocol is a
//! plain state machine, a test can replay the exact sequence from a Jepsen report or a KIP
//! and assert what each replica holds afterwards, without a simulator in between.
//!
//! ## Assertions are the model's contract; the checkers judge Kafka
//!
//! Two kinds of rule live in this project, and they live in different places.
//!
//! **What every modelled Kafka version guarantees is asserted here, in the model.** A leader
//! is in its own ISR; the ISR is a subset of the replicas; a replica's leader epoch only
//! rises; the high watermark never passes the log end offset; a log's offsets rise one by one
//! with no gap; a truncation never extends a log; a replica fetches only from another broker.
//! If one of these fails, the simulator is wrong, not Kafka: the run panics at the line that
//! broke the rule, and `sweep` and `shrink` record the seed as a `panic` finding with its
//! replay command. Checks on hot paths are `debug_assert!`s: they are on in `cargo test` and
//! in the release builds sweeps run (the workspace's release profile keeps debug assertions
//! on for its own crates), and off only in the `bench-fast` profile that benchmarks use, so
//! speed figures stay comparable from change to change.
//!
//! **What some Kafka versions broke stays with the checkers** (`kafka-sim`'s `check`
//! module), because a faithful model must be able to break it. A follower's fetch offset past
//! the leader's log end, a high watermark that moves backwards on a follower, replicas that
//! diverge, an acknowledged record that is lost: unclean elections, pre-KIP-101 truncation to
//! the high watermark and pre-KIP-279 epoch answers all do these things in real clusters, so
//! the model lets them happen and the checkers report them as findings.

pub mod actor;
pub mod assignor;
pub mod broker;
pub mod clients;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod event;
pub mod fetch_session;
pub mod kafka_version;
pub mod log;
pub mod page_cache;
pub mod producer_state;
#[cfg(test)]
mod proptest_config;
pub mod protocol;
pub mod record_size;
/// An in-memory cluster driven by hand, for the model's tests and the simulator's.
pub mod testing;
pub mod topic;
pub mod types;
pub mod zookeeper;

pub use actor::{Actor, NoRequest, Output};
pub use event::Event;
pub use protocol::Message;
pub use types::*;
