//! The ISR of every partition as ZooKeeper held it, replayed from the events, and every
//! change to it with who made it.
//!
//! Two parties change an ISR in Kafka, and a reader must see both:
//! - the leader, through `Partition.maybeShrinkIsr` and `maybeExpandIsr` (an AlterIsr to the
//!   controller from 2.7, a ZooKeeper write before): that is what Kafka's
//!   `IsrShrinksPerSec` and `IsrExpandsPerSec` meters count, and the model reports it as
//!   `IsrShrunk` and `IsrExpanded` when the leader learns its change was accepted;
//! - the controller, which takes dead replicas out (`ReplicaStateMachine.doRemoveReplicasFromIsr`,
//!   reported as `ControllerShrunkIsr`) and writes a new ISR with every election
//!   (`PartitionLeaderElectionAlgorithms`: a clean leader keeps the live ISR members, an
//!   unclean one leads alone), reported as `LeaderElected` and `PartitionOffline`.
//!
//! Kafka's meters see only the leader's changes, so a timeline could show the ISR go from
//! [0,1,2] to [0] while the summary said "0 shrinks". The outcome therefore counts both:
//! `isr.shrinks = isr.shrinks_by_leader + isr.removed_by_controller`.
//!
//! An election's event carries only the new ISR; what it removed is found against the ISR
//! replayed so far. The leader's own changes are recorded when its AlterIsr response (or,
//! before 2.7, ZooKeeper's answer to its write) arrives, a moment after ZooKeeper took them,
//! so that replay can trail ZooKeeper by a message (and a response lost with a crashed
//! leader never shows). What the controller
//! removed with an election is therefore computed against the replayed ISR, the one the
//! record can show.

use kafka_model::{BrokerId, Event, TopicPartition};
use std::collections::BTreeMap;

/// Who changed an ISR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsrChanger {
    /// The partition's leader (`Partition.maybeShrinkIsr` / `maybeExpandIsr`).
    Leader,
    /// The controller taking dead replicas out while the leader stays.
    ControllerRemoval,
    /// The controller writing the ISR of a leader election (or of an offline partition).
    Election,
}

/// One change of a partition's ISR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsrChange {
    pub tp: TopicPartition,
    pub by: IsrChanger,
    pub before: Vec<BrokerId>,
    pub after: Vec<BrokerId>,
}

impl IsrChange {
    /// The replicas the change took out.
    pub fn removed(&self) -> Vec<BrokerId> {
        self.before
            .iter()
            .copied()
            .filter(|r| !self.after.contains(r))
            .collect()
    }

    /// The replicas the change put in.
    pub fn added(&self) -> Vec<BrokerId> {
        self.after
            .iter()
            .copied()
            .filter(|r| !self.before.contains(r))
            .collect()
    }
}

/// Every partition's ISR, as the events replayed so far leave it.
#[derive(Clone, Debug, Default)]
pub struct IsrTracker {
    isr: BTreeMap<TopicPartition, Vec<BrokerId>>,
}

impl IsrTracker {
    /// The ISR of `tp` now (empty before its first leader).
    pub fn isr(&self, tp: &TopicPartition) -> &[BrokerId] {
        self.isr.get(tp).map_or(&[], |v| v.as_slice())
    }

    /// Applies one event; returns the change it made to an ISR, if it made one. A new
    /// partition's first ISR is not a change.
    pub fn apply(&mut self, event: &Event) -> Option<IsrChange> {
        let (tp, by, after) = match event {
            Event::LeaderElected {
                tp,
                isr,
                reason: kafka_model::event::ElectionReason::NewPartition,
                ..
            } => {
                self.isr.insert(tp.clone(), isr.clone());
                return None;
            }
            Event::LeaderElected { tp, isr, .. } | Event::PartitionOffline { tp, isr, .. } => {
                (tp, IsrChanger::Election, isr)
            }
            Event::ControllerShrunkIsr { tp, isr, .. } => (tp, IsrChanger::ControllerRemoval, isr),
            Event::IsrShrunk { tp, isr, .. } | Event::IsrExpanded { tp, isr, .. } => {
                (tp, IsrChanger::Leader, isr)
            }
            _ => return None,
        };
        let before = self
            .isr
            .insert(tp.clone(), after.clone())
            .unwrap_or_default();
        (before != *after).then(|| IsrChange {
            tp: tp.clone(),
            by,
            before,
            after: after.clone(),
        })
    }
}

/// How a run's ISRs changed, as the outcome's `isr` object reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IsrTally {
    /// `IsrShrunk` events: what Kafka's `IsrShrinksPerSec` counts.
    pub shrinks_by_leader: u64,
    /// Controller writes that took replicas out of an ISR: dead replicas removed while the
    /// leader stays, and elections whose ISR lost members.
    pub removed_by_controller: u64,
    /// `IsrExpanded` events: what Kafka's `IsrExpandsPerSec` counts.
    pub expands: u64,
}

impl IsrTally {
    /// Counts every ISR change of a run's events.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a Event>) -> IsrTally {
        let mut tracker = IsrTracker::default();
        let mut t = IsrTally::default();
        for event in events {
            // A leader's AlterIsr may both add and remove; its events say which it did.
            match event {
                Event::IsrShrunk { .. } => t.shrinks_by_leader += 1,
                Event::IsrExpanded { .. } => t.expands += 1,
                _ => {}
            }
            if let Some(change) = tracker.apply(event) {
                if change.by != IsrChanger::Leader && !change.removed().is_empty() {
                    t.removed_by_controller += 1;
                }
            }
        }
        t
    }

    /// Every ISR shrink, whoever made it.
    pub fn shrinks(&self) -> u64 {
        self.shrinks_by_leader + self.removed_by_controller
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_model::event::ElectionReason;

    fn tp() -> TopicPartition {
        TopicPartition::new("orders", 0)
    }

    fn elected(leader: BrokerId, isr: Vec<BrokerId>, reason: ElectionReason) -> Event {
        Event::LeaderElected {
            tp: tp(),
            leader: Some(leader),
            previous_leader: None,
            leader_epoch: 0,
            isr,
            unclean: false,
            reason,
            controller_epoch: 1,
        }
    }

    #[test]
    fn shrinks_count_the_leader_and_the_controller() {
        let events = vec![
            elected(0, vec![0, 1, 2], ElectionReason::NewPartition),
            // The controller takes dead broker 2 out; broker 0 stays leader.
            Event::ControllerShrunkIsr {
                tp: tp(),
                leader: Some(0),
                leader_epoch: 1,
                removed: vec![2],
                isr: vec![0, 1],
                shutting_down: false,
            },
            // The leader drops a lagging broker 1 ...
            Event::IsrShrunk {
                tp: tp(),
                leader: 0,
                leader_epoch: 1,
                removed: vec![1],
                isr: vec![0],
                lag_ms: 12_000,
                lag_time_max_ms: 10_000,
            },
            // ... and takes it back.
            Event::IsrExpanded {
                tp: tp(),
                leader: 0,
                leader_epoch: 1,
                added: vec![1],
                isr: vec![0, 1],
            },
            // Broker 0 dies: the election removes it.
            elected(1, vec![1], ElectionReason::LeaderFailed),
            // A clean election that keeps the ISR is no shrink.
            elected(1, vec![1], ElectionReason::ControllerFailover),
        ];
        let t = IsrTally::of(&events);
        assert_eq!(
            t,
            IsrTally {
                shrinks_by_leader: 1,
                removed_by_controller: 2,
                expands: 1,
            }
        );
        assert_eq!(t.shrinks(), 3);
    }

    #[test]
    fn the_tracker_reports_who_changed_what() {
        let mut tracker = IsrTracker::default();
        assert_eq!(
            tracker.apply(&elected(0, vec![0, 1, 2], ElectionReason::NewPartition)),
            None
        );
        let change = tracker
            .apply(&Event::PartitionOffline {
                tp: tp(),
                isr: vec![0],
                live_replicas: vec![],
            })
            .expect("a change");
        assert_eq!(change.by, IsrChanger::Election);
        assert_eq!((change.removed(), change.added()), (vec![1, 2], vec![]));
        assert_eq!(tracker.isr(&tp()), &[0]);
    }
}
