//! The simulated world: every Kafka process on its own madsim node, the network between
//! them, the faults, and the recorder.
//!
//! Each process is a state machine from `kafka-model`; a small loop per node feeds it the
//! messages that arrive and the timers it set, and sends what it asks to send. Nodes, their
//! crashes, restarts and pauses, the clock and the scheduler are madsim's. The links between
//! nodes are the world's own, because Kafka runs over TCP and madsim's datagram mailbox does
//! not behave like TCP (it hands queued datagrams over in no fixed order and, under load, can
//! starve one for as long as others keep arriving):
//! - a message goes straight into the receiver's mailbox with the time it may be delivered,
//!   never earlier than the previous message on the same connection, so each connection is
//!   FIFO by construction, as TCP is; a client that closes a connection after a timeout
//!   sends on a new one, which does not wait behind the old;
//! - latency drawn from the scenario's range, extra delay on slowed links, retransmission
//!   delay on lossy ones, all drawn from a `ChaCha8Rng` per node seeded from the run's seed;
//! - partitions and isolation as TCP lives through them: a message on a cut link waits and
//!   arrives when the link heals. A restarted process opens new connections: what the
//!   receiver still holds from the sender's previous life is dropped, as a reset connection's
//!   unread data is;
//! - disks that outlive processes: a crash keeps the page cache, a power loss keeps only what
//!   was flushed.
//!
//! A cluster runs in one of Kafka's two modes (`[cluster] mode`): ZooKeeper mode, with a
//! ZooKeeper node and a broker that wins `/controller`, or KRaft mode, with controllers that
//! replicate the metadata log and brokers that follow it. The faults, the settle and the
//! final state read the cluster's metadata from whichever holds it.
//!
//! KRaft controllers are nodes of their own, or in combined mode
//! (`process.roles=broker,controller`) live inside brokers. A combined node is one process
//! on one machine in Kafka, so the world runs its two roles as two state machines but
//! treats them as one host (`net::Hosts`): a crash, power loss, pause, restart, disk
//! replacement or network fault of either role strikes both, and the two roles always
//! reach each other.
//!
//! The orchestrator (the run's main task) applies the scenario's faults at their times,
//! then heals everything, restarts every broker, lets the cluster settle, and reads the final
//! state. Everything reported comes from the event record and that final state.
//!
//! No run can hang. A node that handles [`LIVELOCK_TURNS_MAX`] turns without the simulated
//! clock moving is stuck in a loop no real process would survive: the run stops there with a
//! `livelock` finding. A wall-clock watchdog ([`RunLimits::wall_time_limit`]) may stop a run
//! too, but then the run has no outcome: a slow machine must never change a seed's result.
//!
//! The code follows those parts, one module each, so a change to one (say, how a lossy link
//! delays a message) is read and tested without the others:
//! - `net`: the links, their FIFO order and latency, partitions and loss, the mailboxes and
//!   each node's inbox;
//! - `node`: the loop of one node and its livelock guard;
//! - `faults`: applying a fault, and the final settle;
//! - `final_state`: reading every replica, partition and group at the end;
//! - `orchestrate`: the run's main task, which starts the nodes and drives the rest;
//! - `rolling`: the rolling restart, an operator's script run by the orchestrator;
//! - `shared`: the state all of them share, and the reads of the cluster's metadata
//!   (ZooKeeper's, or the KRaft controllers' image) they have in common.
//!
//! This module holds the entry points: [`run`], [`run_limited`] and what they return.

mod faults;
mod final_state;
mod kept_log;
mod net;
mod node;
mod orchestrate;
mod rolling;
mod shared;

pub use faults::NO_OP;
pub use kept_log::KeptLog;
pub use net::{addr_of, Hosts, LinkCuts, NetFaults};
pub use node::LIVELOCK_TURNS_MAX;
pub use shared::Livelock;

use crate::record::{FaultRecord, FinalState, RecordedEvent};
use crate::scenario::Scenario;
use madsim::runtime::Runtime;
use madsim::time::Duration;
use orchestrate::orchestrate;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The outcome of one run, before it is checked and reported.
pub struct RunResult {
    pub events: Vec<RecordedEvent>,
    pub faults: Vec<FaultRecord>,
    pub final_state: FinalState,
    pub sim_time_ms: u64,
    pub messages_sent: u64,
    /// Set when a node was stuck at one simulated instant and the run stopped there: the
    /// rest of the scenario (faults, the settle) did not happen.
    pub livelock: Option<Livelock>,
    /// The whole logs of the partition the scenario asked to keep (`Scenario::keep_log`,
    /// for `--dump-log`), one per replica; empty otherwise.
    pub kept_logs: Vec<KeptLog>,
}

/// Limits of a run that are not part of the scenario.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunLimits {
    /// A watchdog on wall time. Reaching it ends the run without an outcome: how fast a
    /// machine is must never change what a seed reports.
    pub wall_time_limit: Option<std::time::Duration>,
}

/// Why a run gave no outcome.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the run took longer than the wall-time limit of {0:?} and was stopped")]
    WallTimeExceeded(std::time::Duration),
    #[error("the simulator panicked: {0}")]
    Panicked(String),
}

/// Runs one scenario with one seed, in a madsim runtime of its own, on a thread of its own.
///
/// The thread is the determinism guard: madsim seeds the standard library's `HashMap` keys
/// from the run's seed, but only on a thread where no `HashMap` was made before. A fresh
/// thread per run makes a seed's outcome independent of whatever ran earlier on the caller's
/// thread (a command-line parser, a previous seed of a sweep). The run itself is still one
/// thread: madsim's executor. A panic inside the run is raised again here.
pub fn run(scenario: &Scenario, seed: u64) -> RunResult {
    let never = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(format!("kafka-sim-seed-{seed}"))
            .spawn_scoped(s, || run_here(scenario, seed, never))
            .expect("spawn the run's thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            .expect("a run without a watchdog always ends with a result")
    })
}

/// Runs one scenario with one seed as [`run`] does, under `limits`, and turns a panic inside
/// the run into an error instead of raising it: a sweep goes on past a seed that fails so.
pub fn run_limited(
    scenario: &Scenario,
    seed: u64,
    limits: RunLimits,
) -> Result<RunResult, RunError> {
    let fired = Arc::new(AtomicBool::new(false));
    // A caller that captures its panics (a sweep) captures the run thread's too.
    let quiet = crate::panics::capturing();
    std::thread::scope(|s| {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let run_fired = fired.clone();
        let runner = std::thread::Builder::new()
            .name(format!("kafka-sim-seed-{seed}"))
            .spawn_scoped(s, move || {
                let result =
                    crate::panics::capture_if(quiet, || run_here(scenario, seed, run_fired));
                let _ = done_tx.send(());
                result
            })
            .expect("spawn the run's thread");
        if let Some(limit) = limits.wall_time_limit {
            if done_rx.recv_timeout(limit).is_err() {
                fired.store(true, Ordering::Relaxed);
            }
        }
        match runner.join() {
            Ok(Ok(Some(result))) => Ok(result),
            Ok(Ok(None)) => Err(RunError::WallTimeExceeded(
                limits.wall_time_limit.unwrap_or_default(),
            )),
            Ok(Err(captured)) => Err(RunError::Panicked(captured)),
            Err(panic) => Err(RunError::Panicked(panic_message(&panic))),
        }
    })
}

/// The text of a panic's payload.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// One run; `None` if the watchdog stopped it.
fn run_here(scenario: &Scenario, seed: u64, watchdog_fired: Arc<AtomicBool>) -> Option<RunResult> {
    let mut config = madsim::Config::default();
    config.net.send_latency = Duration::ZERO..Duration::from_nanos(1);
    config.net.packet_loss_rate = 0.0;
    let runtime = Runtime::with_seed_and_config(seed, config);
    let scenario = Arc::new(scenario.clone());
    runtime.block_on(orchestrate(scenario, seed, watchdog_fired))
}
