//! Faults as spans: each fault from `RunResult::faults`, from its moment to the fault that
//! ended it.
//!
//! The record holds faults as instants ("broker 1 crashes", "broker 1 restarts"); a reader
//! of a timeline wants the stretch in between. A crash or power loss lasts until its
//! broker restarts, a pause until it resumes, an isolation, a slow or lossy link until a
//! heal of that node or of every network fault, a network partition until a heal of any
//! node in it; the final settle ends everything but a client's crash (it restarts brokers,
//! not clients). What ends a span is matched on the node the fault's words start with
//! (`broker 1 (leader of orders-0)` and `broker 1` are one node), as the checkers read the
//! record (`check::calm::parse_node`).

use super::data::FaultSpan;
use crate::check::calm::parse_node;
use crate::record::FaultRecord;
use kafka_model::NodeId;

/// Faults that last until another fault ends them.
const LASTING: &[&str] = &[
    "crash",
    "power-loss",
    "pause",
    "isolate",
    "slow",
    "loss",
    "partition",
    "shutdown",
];

/// One fault still in force.
struct Open {
    span: FaultSpan,
    /// The nodes it is about: one, or every node of a network partition.
    nodes: Vec<String>,
}

/// Every fault of the run as a span, in the order the faults began; a span nothing ended
/// lasts until `end_ms`.
pub fn fault_spans(faults: &[FaultRecord], end_ms: u64) -> Vec<FaultSpan> {
    let mut open: Vec<Open> = Vec::new();
    let mut done: Vec<(usize, FaultSpan)> = Vec::new();
    let mut opened_at: Vec<usize> = Vec::new();
    for (order, f) in faults.iter().enumerate() {
        let action = f.action.as_str();
        let ended = close(&mut open, &mut opened_at, f);
        let ended_something = !ended.is_empty();
        done.extend(ended);
        if LASTING.contains(&action) {
            let (nodes, brokers, whole) = nodes_of(f);
            open.push(Open {
                span: span(f, end_ms, brokers, whole),
                nodes,
            });
            opened_at.push(order);
        } else if !(ended_something && matches!(action, "restart" | "resume" | "heal")) {
            // An instant of its own: a settle, a preferred election, a DeleteRecords, a
            // no-op, a restart of something that was not down.
            let (_, brokers, whole) = nodes_of(f);
            let mut s = span(f, f.at_ms, brokers, whole);
            s.to_ms = f.at_ms;
            done.push((order, s));
        }
    }
    for (o, at) in open.into_iter().zip(opened_at) {
        done.push((at, o.span));
    }
    done.sort_by_key(|(at, _)| *at);
    done.into_iter().map(|(_, s)| s).collect()
}

fn span(f: &FaultRecord, to_ms: u64, brokers: Vec<i32>, whole: bool) -> FaultSpan {
    let client = node_key(&f.detail).filter(|n| {
        brokers.is_empty() && (n.starts_with("consumer ") || n.starts_with("producer "))
    });
    FaultSpan {
        from_ms: f.at_ms,
        to_ms,
        action: f.action.clone(),
        detail: f.detail.clone(),
        brokers,
        whole,
        client,
        ended_by: None,
    }
}

/// The spans `f` ends, each with its place in the order the faults began.
fn close(
    open: &mut Vec<Open>,
    opened_at: &mut Vec<usize>,
    f: &FaultRecord,
) -> Vec<(usize, FaultSpan)> {
    let node = node_key(&f.detail);
    let every_network_fault = f.detail.starts_with("every network fault");
    let ends = |o: &Open| -> bool {
        let about = |n: &Option<String>| n.as_ref().is_some_and(|n| o.nodes.contains(n));
        match (f.action.as_str(), o.span.action.as_str()) {
            // The settle restarts brokers; a crashed client stays down.
            ("settle", "crash" | "power-loss" | "shutdown") => {
                o.nodes.iter().any(|n| n.starts_with("broker "))
            }
            ("settle", _) => true,
            ("restart", "crash" | "power-loss" | "shutdown" | "pause") => about(&node),
            ("resume", "pause") => about(&node),
            ("heal", "isolate" | "slow" | "loss" | "partition") => {
                every_network_fault || about(&node)
            }
            _ => false,
        }
    };
    let mut ended = Vec::new();
    let mut i = 0;
    while i < open.len() {
        if ends(&open[i]) {
            let mut o = open.remove(i);
            let at = opened_at.remove(i);
            o.span.to_ms = f.at_ms;
            o.span.ended_by = Some(f.action.clone());
            ended.push((at, o.span));
        } else {
            i += 1;
        }
    }
    ended
}

/// The node a fault's words start with, as a key: `broker 1`, `zookeeper`, or the words up
/// to the first `:` or ` (` for a client (`consumer billing-1`).
fn node_key(detail: &str) -> Option<String> {
    if let Some(node) = parse_node(detail) {
        return Some(node.to_string());
    }
    let end = detail
        .find(" (")
        .into_iter()
        .chain(detail.find(':'))
        .min()
        .unwrap_or(detail.len());
    let key = detail[..end].trim();
    (!key.is_empty()).then(|| key.to_string())
}

/// The nodes a fault is about, the brokers among them, and whether it spans every lane.
fn nodes_of(f: &FaultRecord) -> (Vec<String>, Vec<i32>, bool) {
    let nodes: Vec<String> = if f.action == "partition" {
        f.detail
            .split(" | ")
            .flat_map(|g| {
                g.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .split(", ")
                    .map(|n| n.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|n| !n.is_empty())
            .collect()
    } else {
        node_key(&f.detail).into_iter().collect()
    };
    let brokers: Vec<i32> = nodes
        .iter()
        .filter_map(|n| match parse_node(n) {
            Some(NodeId::Broker(b)) => Some(b),
            _ => None,
        })
        .collect();
    // A broker's own fault spans its lanes; anything else (ZooKeeper, a client, a settle,
    // a tool) spans the whole panel.
    let whole = brokers.is_empty() || (f.action == "partition" && brokers.len() < nodes.len());
    (nodes, brokers, whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(at_ms: u64, action: &str, detail: &str) -> FaultRecord {
        FaultRecord {
            at_ms,
            action: action.into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn a_crash_lasts_until_its_restart_and_a_split_until_a_heal() {
        let faults = vec![
            fault(
                5_000,
                "crash",
                "broker 1 (the controller; leader of orders-0)",
            ),
            fault(6_000, "partition", "[broker 0] | [broker 2]"),
            fault(7_000, "pause", "consumer billing-1"),
            fault(8_000, "crash", "consumer billing-2"),
            fault(9_000, "restart", "broker 1"),
            fault(
                10_000,
                "heal",
                "broker 2, and with it the whole split [broker 0] | [broker 2]",
            ),
            fault(11_000, "restart", "broker 0"),
            fault(60_000, "settle", "healed every fault; every broker was up"),
        ];
        let spans = fault_spans(&faults, 90_000);
        assert_eq!(spans[2].client.as_deref(), Some("consumer billing-1"));
        let got: Vec<(&str, u64, u64, Vec<i32>, bool)> = spans
            .iter()
            .map(|s| {
                (
                    s.action.as_str(),
                    s.from_ms,
                    s.to_ms,
                    s.brokers.clone(),
                    s.whole,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("crash", 5_000, 9_000, vec![1], false),
                ("partition", 6_000, 10_000, vec![0, 2], false),
                ("pause", 7_000, 60_000, vec![], true),
                // The settle does not restart a client.
                ("crash", 8_000, 90_000, vec![], true),
                // A restart of a broker that was not down is an instant of its own.
                ("restart", 11_000, 11_000, vec![0], false),
                ("settle", 60_000, 60_000, vec![], true),
            ]
        );
        assert_eq!(spans[0].ended_by.as_deref(), Some("restart"));
    }
}
