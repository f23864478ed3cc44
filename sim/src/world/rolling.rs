//! A rolling restart, as an operator's script does it: every broker in turn gets a SIGTERM
//! (a controlled shutdown), is started again once it has exited, and the script waits until
//! every partition's ISR is full again (no under-replicated partition) before it goes on
//! with the next broker. `isr_wait` bounds each wait; when it runs out, the script says so
//! and goes on anyway, as a script with a timeout does.
//!
//! The script polls, as such scripts do, once a second of simulated time: it never spins
//! without the clock moving.

use super::faults::{apply_fault, restart, restarted_description, sync_exits, Restarted};
use super::orchestrate::{wait_until_ms, BrokerStatus, Nodes};
use super::shared::{partition_state, Shared};
use crate::scenario::{FaultAction, Target};
use futures::channel::mpsc::UnboundedReceiver;
use kafka_model::{BrokerId, NodeId, TopicPartition};
use madsim::runtime::Handle;
use std::sync::Arc;

/// How often the script looks again.
const POLL_MS: u64 = 1_000;

/// The longest a broker's own shutdown may take before the script stops waiting for it:
/// `controlled.shutdown.max.retries` attempts of up to `controller.socket.timeout.ms`, with
/// `controlled.shutdown.retry.backoff.ms` between them, and some slack.
fn shutdown_wait_ms(shared: &Shared) -> u64 {
    let c = &shared.scenario.cluster.config;
    let attempts = u64::from(c.controlled_shutdown_max_retries.max(1));
    attempts * (c.controller_socket_timeout_ms + c.controlled_shutdown_retry_backoff_ms) + 60_000
}

/// Runs the roll; false if the run was stopped meanwhile.
pub(super) async fn rolling_restart(
    shared: &Arc<Shared>,
    handle: &Handle,
    nodes: &mut Nodes,
    stop_rx: &mut UnboundedReceiver<()>,
    isr_wait_ms: u64,
) -> bool {
    let brokers: Vec<BrokerId> = nodes.status.keys().copied().collect();
    shared.record_fault(
        "rolling-restart",
        format!(
            "every broker in turn ({}): a controlled shutdown, a restart, then a wait of up to {} for every ISR to be full",
            brokers.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", "),
            crate::nemesis::duration_text(isr_wait_ms)
        ),
    );
    for b in brokers {
        if !roll_one(shared, handle, nodes, stop_rx, b, isr_wait_ms).await {
            return false;
        }
    }
    shared.record_fault(
        "rolling-restart",
        "every broker was restarted: the roll is over".into(),
    );
    true
}

/// One broker of the roll: stop it cleanly, start it, wait for the ISRs.
async fn roll_one(
    shared: &Arc<Shared>,
    handle: &Handle,
    nodes: &mut Nodes,
    stop_rx: &mut UnboundedReceiver<()>,
    b: BrokerId,
    isr_wait_ms: u64,
) -> bool {
    apply_fault(
        shared,
        handle,
        nodes,
        &FaultAction::Shutdown(Target::Broker(b)),
    );
    let deadline_ms = Shared::now_ms() + shutdown_wait_ms(shared);
    loop {
        sync_exits(handle, shared, nodes);
        if nodes.status[&b] != BrokerStatus::Running || Shared::now_ms() >= deadline_ms {
            break;
        }
        if !wait_until_ms(shared, stop_rx, Shared::now_ms() + POLL_MS).await {
            return false;
        }
    }
    let node = NodeId::Broker(b);
    if restart(shared, handle, nodes, node) == Restarted::Yes {
        // A combined node's line names both roles: its controller exited with it.
        let desc = restarted_description(shared, node, format!("broker {b}"));
        shared.record_fault("restart", desc);
    } else {
        shared.record_fault(
            "rolling-restart",
            format!("broker {b} has not exited yet; the roll goes on without restarting it"),
        );
    }
    wait_for_full_isrs(shared, stop_rx, b, isr_wait_ms).await
}

/// Waits until no partition is under-replicated, at most `isr_wait_ms`; says so either way.
async fn wait_for_full_isrs(
    shared: &Arc<Shared>,
    stop_rx: &mut UnboundedReceiver<()>,
    b: BrokerId,
    isr_wait_ms: u64,
) -> bool {
    let started_ms = Shared::now_ms();
    loop {
        let short = under_replicated(shared);
        if short.is_empty() {
            shared.record_fault(
                "rolling-restart",
                format!(
                    "every ISR is full again {} after broker {b}'s restart",
                    crate::nemesis::duration_text(Shared::now_ms() - started_ms)
                ),
            );
            return true;
        }
        if Shared::now_ms() - started_ms >= isr_wait_ms {
            let named: Vec<String> = short.iter().take(4).map(|tp| tp.to_string()).collect();
            let more = short.len().saturating_sub(4);
            shared.record_fault(
                "rolling-restart",
                format!(
                    "isr_wait of {} ran out after broker {b}'s restart: {} partition(s) still under-replicated ({}{}); the roll goes on",
                    crate::nemesis::duration_text(isr_wait_ms),
                    short.len(),
                    named.join(", "),
                    if more > 0 { format!(", {more} more") } else { String::new() }
                ),
            );
            return true;
        }
        if !wait_until_ms(shared, stop_rx, Shared::now_ms() + POLL_MS).await {
            return false;
        }
    }
}

/// The scenario's partitions whose ISR in ZooKeeper lacks a replica of the assignment.
fn under_replicated(shared: &Shared) -> Vec<TopicPartition> {
    let mut short = Vec::new();
    for t in &shared.scenario.topics {
        for (p, replicas) in t.replicas.iter().enumerate() {
            let tp = TopicPartition::new(t.name.clone(), p as u32);
            let full = partition_state(shared, &tp)
                .is_some_and(|(_, _, isr)| replicas.iter().all(|r| isr.contains(r)));
            if !full {
                short.push(tp);
            }
        }
    }
    short
}
