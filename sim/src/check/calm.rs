//! Could a leader reach the controller? The faults of a run replayed as the network and the
//! processes saw them, so a liveness invariant judges a leader only while it could act.
//!
//! A leader shrinks its ISR by asking the controller (AlterIsr from 2.7, a ZooKeeper write
//! before), and the controller writes ZooKeeper. So a leader is "calm" while it, the current
//! controller and ZooKeeper are all up, none of them is paused, slowed or lossy, and no cut
//! separates any two of them. [`Calm::calm_since`] says since when that has held without a
//! break: a fault that touched one of them, its healing, a restart or a new controller all
//! start the clock again.
//!
//! The fault records carry plain words (`world::faults` writes them); the nodes are read back
//! from those words as `NodeId`'s `Display` writes them ("broker 2", "zookeeper"). A record
//! whose node cannot be read (a crash of a target that was no node) changed nothing.
//!
//! Every node is kept by host (`world::Hosts`): in combined mode a fault line names one role
//! of a node ("broker 1 (also controller 1, combined mode)") and struck both, so a leader
//! and an active controller on one combined node are down, degraded or cut off together.

use crate::record::FaultRecord;
use crate::world::{Hosts, LinkCuts};
use kafka_model::{BrokerId, Event, NodeId};
use std::collections::{BTreeMap, BTreeSet};

/// The node a fault's words start with, if it is a broker or ZooKeeper (the only nodes
/// between a leader and its controller).
pub(crate) fn parse_node(words: &str) -> Option<NodeId> {
    let words = words.trim();
    if words.starts_with("zookeeper") {
        return Some(NodeId::ZooKeeper);
    }
    if let Some(rest) = words.strip_prefix("controller ") {
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        return digits.parse().ok().map(NodeId::Controller);
    }
    let rest = words.strip_prefix("broker ")?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok().map(NodeId::Broker)
}

/// A `partition` fault's groups, "[broker 0, broker 1] | [broker 2]": client nodes dropped.
fn parse_groups(words: &str) -> Vec<Vec<NodeId>> {
    words
        .split(" | ")
        .map(|g| {
            g.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(", ")
                .filter_map(parse_node)
                .collect()
        })
        .collect()
}

/// The faults in force, and when each node was last touched by one.
#[derive(Default)]
pub(super) struct Calm {
    cuts: LinkCuts,
    /// Slowed or lossy nodes.
    degraded: BTreeSet<NodeId>,
    /// Crashed or paused nodes.
    down: BTreeSet<NodeId>,
    touched_ms: BTreeMap<NodeId, u64>,
    /// When every node was last touched (the final settle).
    all_touched_ms: u64,
    /// The controller: a broker in ZooKeeper mode, the active controller node in KRaft.
    controller: Option<NodeId>,
    controller_since_ms: u64,
}

impl Calm {
    /// No fault yet, on these hosts.
    pub(super) fn on(hosts: Hosts) -> Calm {
        Calm {
            cuts: LinkCuts::on(hosts),
            ..Calm::default()
        }
    }

    /// The host a node runs on: what the faults strike.
    fn host(&self, node: NodeId) -> NodeId {
        self.cuts.hosts.host_of(node)
    }

    fn touch(&mut self, at_ms: u64, node: NodeId) {
        self.touched_ms.insert(node, at_ms);
    }

    fn touch_groups(&mut self, at_ms: u64, groups: &[Vec<NodeId>]) {
        for n in groups.iter().flatten() {
            self.touched_ms.insert(*n, at_ms);
        }
    }

    /// Applies one fault record.
    pub(super) fn fault(&mut self, f: &FaultRecord) {
        let at = f.at_ms;
        let node = parse_node(&f.detail).map(|n| self.host(n));
        match (f.action.as_str(), node) {
            ("settle", _) => {
                let controller = (self.controller, self.controller_since_ms);
                *self = Calm {
                    all_touched_ms: at,
                    ..Calm::on(self.cuts.hosts.clone())
                };
                (self.controller, self.controller_since_ms) = controller;
            }
            ("partition", _) => {
                let groups: Vec<Vec<NodeId>> = parse_groups(&f.detail)
                    .into_iter()
                    .map(|g| g.into_iter().map(|n| self.host(n)).collect())
                    .collect();
                self.touch_groups(at, &groups);
                self.cuts.partitions.push(groups);
            }
            ("heal", None) => {
                let partitions = std::mem::take(&mut self.cuts.partitions);
                for g in &partitions {
                    self.touch_groups(at, g);
                }
                let nodes: Vec<NodeId> = self
                    .cuts
                    .isolated
                    .iter()
                    .chain(&self.degraded)
                    .copied()
                    .collect();
                for n in nodes {
                    self.touch(at, n);
                }
                self.cuts.isolated.clear();
                self.degraded.clear();
            }
            (action, Some(n)) => {
                self.touch(at, n);
                match action {
                    "heal" => {
                        self.cuts.isolated.remove(&n);
                        self.degraded.remove(&n);
                        let (healed, kept): (Vec<_>, Vec<_>) =
                            std::mem::take(&mut self.cuts.partitions)
                                .into_iter()
                                .partition(|groups| groups.iter().any(|g| g.contains(&n)));
                        self.cuts.partitions = kept;
                        for g in &healed {
                            self.touch_groups(at, g);
                        }
                    }
                    "isolate" => {
                        self.cuts.isolated.insert(n);
                    }
                    "slow" | "loss" => {
                        self.degraded.insert(n);
                    }
                    "crash" | "power-loss" | "pause" => {
                        self.down.insert(n);
                    }
                    "restart" | "resume" => {
                        self.down.remove(&n);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Applies the events that change who can act: a new controller, a session that
    /// expired, a broker that registered again.
    pub(super) fn event(&mut self, at_ms: u64, event: &Event) {
        match event {
            Event::ControllerElected { broker, .. } => {
                self.controller = Some(NodeId::Broker(*broker));
                self.controller_since_ms = at_ms;
            }
            Event::QuorumLeaderElected { node_id, .. } => {
                self.controller = Some(NodeId::Controller(*node_id));
                self.controller_since_ms = at_ms;
            }
            // A leader that resigned (check quorum: no fetch from a majority) is no active
            // controller: no ISR change commits until the next one is elected.
            Event::QuorumLeaderResigned { node_id, .. }
                if self.controller == Some(NodeId::Controller(*node_id)) =>
            {
                self.controller = None;
            }
            Event::ZkSessionExpired { node, .. } => self.touch(at_ms, self.host(*node)),
            Event::BrokerRegistered { broker, .. }
            | Event::KraftBrokerRegistered { broker, .. }
            | Event::KraftBrokerFenced { broker, .. }
            | Event::KraftBrokerUnfenced { broker } => self.touch(at_ms, NodeId::Broker(*broker)),
            _ => {}
        }
    }

    fn blocked(&self, a: NodeId, b: NodeId) -> bool {
        self.cuts.blocked(a, b)
    }

    /// Since when `leader`, the controller and ZooKeeper (in KRaft mode: the leader and the
    /// active controller) have all been up and connected without a break; `None` if they
    /// are not now.
    pub(super) fn calm_since(&self, leader: BrokerId) -> Option<u64> {
        let controller = self.host(self.controller?);
        // KRaft has no ZooKeeper: the leader and the active controller are all there is.
        let nodes: &[NodeId] = match self.controller? {
            NodeId::Controller(_) => &[NodeId::Broker(leader), controller],
            _ => &[NodeId::Broker(leader), controller, NodeId::ZooKeeper],
        };
        if nodes
            .iter()
            .any(|n| self.down.contains(n) || self.degraded.contains(n))
        {
            return None;
        }
        for (i, a) in nodes.iter().enumerate() {
            if nodes[i + 1..].iter().any(|b| self.blocked(*a, *b)) {
                return None;
            }
        }
        let touched = nodes
            .iter()
            .filter_map(|n| self.touched_ms.get(n).copied())
            .max()
            .unwrap_or(0);
        Some(
            touched
                .max(self.all_touched_ms)
                .max(self.controller_since_ms),
        )
    }
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
    fn nodes_are_read_back_from_the_fault_words() {
        assert_eq!(
            parse_node("broker 12 (leader of orders-0)"),
            Some(NodeId::Broker(12))
        );
        assert_eq!(
            parse_node("broker 2: +12000 ms on every message to and from it"),
            Some(NodeId::Broker(2))
        );
        assert_eq!(parse_node("zookeeper"), Some(NodeId::ZooKeeper));
        assert_eq!(parse_node("consumer c1"), None);
        assert_eq!(
            parse_groups("[broker 0, consumer #1] | [broker 2, zookeeper]"),
            vec![
                vec![NodeId::Broker(0)],
                vec![NodeId::Broker(2), NodeId::ZooKeeper]
            ]
        );
    }

    #[test]
    fn a_leader_is_calm_only_while_it_reaches_the_controller_and_zookeeper() {
        let mut calm = Calm::default();
        assert_eq!(calm.calm_since(0), None, "no controller yet");
        calm.event(
            10,
            &Event::ControllerElected {
                broker: 1,
                controller_epoch: 1,
            },
        );
        assert_eq!(calm.calm_since(0), Some(10));
        // A slow follower does not touch the leader's path.
        calm.fault(&fault(100, "slow", "broker 2: +12000 ms"));
        assert_eq!(calm.calm_since(0), Some(10));
        calm.fault(&fault(
            200,
            "partition",
            "[broker 0] | [broker 1, zookeeper]",
        ));
        assert_eq!(calm.calm_since(0), None);
        calm.fault(&fault(300, "heal", "every network fault"));
        assert_eq!(calm.calm_since(0), Some(300));
        calm.fault(&fault(400, "pause", "broker 1 (the controller)"));
        assert_eq!(calm.calm_since(0), None);
        calm.fault(&fault(500, "settle", "healed every fault"));
        assert_eq!(calm.calm_since(0), Some(500));
    }

    #[test]
    fn a_fault_on_one_role_of_a_combined_node_stops_the_other_being_calm() {
        let elected = Event::QuorumLeaderElected {
            node_id: 1,
            epoch: 1,
            votes: vec![0, 1],
        };
        let crash = fault(100, "crash", "broker 1 (also controller 1, combined mode)");
        let mut combined = Calm::on(Hosts::with_combined([0, 1, 2]));
        combined.event(10, &elected);
        assert_eq!(combined.calm_since(0), Some(10));
        combined.fault(&crash);
        assert_eq!(
            combined.calm_since(0),
            None,
            "the active controller went down with its broker"
        );
        combined.fault(&fault(
            200,
            "restart",
            "broker 1 (and controller 1, combined mode)",
        ));
        assert_eq!(combined.calm_since(0), Some(200));
        // Isolating leader 0's host cuts it off from the controller on host 1.
        combined.fault(&fault(
            300,
            "isolate",
            "controller 0 (also broker 0, combined mode)",
        ));
        assert_eq!(combined.calm_since(0), None);
        // With dedicated controllers a broker's crash leaves controller 1 up and untouched.
        let mut dedicated = Calm::default();
        dedicated.event(10, &elected);
        dedicated.fault(&crash);
        assert_eq!(dedicated.calm_since(0), Some(10));
    }

    #[test]
    fn a_resigned_quorum_leader_is_no_controller_until_the_next_is_elected() {
        let mut calm = Calm::default();
        let elected = |node_id, epoch| Event::QuorumLeaderElected {
            node_id,
            epoch,
            votes: vec![],
        };
        calm.event(10, &elected(4, 1));
        assert_eq!(calm.calm_since(0), Some(10));
        // Another node's resignation (a stale leader of an older epoch) changes nothing.
        calm.event(
            20,
            &Event::QuorumLeaderResigned {
                node_id: 5,
                epoch: 0,
                reason: kafka_model::event::QuorumResignReason::CheckQuorum,
            },
        );
        assert_eq!(calm.calm_since(0), Some(10));
        calm.event(
            30,
            &Event::QuorumLeaderResigned {
                node_id: 4,
                epoch: 1,
                reason: kafka_model::event::QuorumResignReason::CheckQuorum,
            },
        );
        assert_eq!(calm.calm_since(0), None, "no active controller");
        calm.event(40, &elected(3, 2));
        assert_eq!(calm.calm_since(0), Some(40));
    }
}
