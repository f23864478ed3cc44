//! # kafka-model: Apache Kafka as deterministic state machines
//!
//! This crate holds Kafka's broker, controller, ZooKeeper and client logic with no I/O: no
//! clock, no network, no threads, no randomness of its own. The `kafka-sim` crate runs these
//! state machines on madsim's simulated network and clock; tests here drive them by hand.
//!
//! Why no I/O: a protocol bug is a sequence of messages and timers. When the protocol is a
//! plain state machine, a test can replay the exact sequence from a Jepsen report or a KIP
//! and assert what each replica holds afterwards, without a simulator in between.

pub mod actor;
pub mod assignor;
pub mod broker;
pub mod clients;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod event;
pub mod fetch_session;
pub mod log;
pub mod protocol;
/// An in-memory cluster driven by hand, for the model's tests and the simulator's.
pub mod testing;
pub mod topic;
pub mod types;
pub mod zookeeper;

pub use actor::{Actor, NoRequest, Output};
pub use event::Event;
pub use protocol::Message;
pub use types::*;
