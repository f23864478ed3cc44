//! The controller's leader-election rules as pure functions: replicas, ISR and live brokers
//! in, a decision out.
//!
//! Why apart from the controller: these rules are where Kafka's durability promise lives (a
//! clean election never loses an acknowledged write, an unclean one may), and they are easy
//! to get subtly wrong (which replica comes first, what the new ISR holds, whether an offline
//! partition keeps its last ISR member). As pure functions they are checked here against a
//! table of cases, with no ZooKeeper, broker or message in the way. The controller turns a
//! [`PartitionChange`] into a conditional ZooKeeper write and requests to the brokers.
//!
//! The rules follow Kafka's `PartitionLeaderElectionAlgorithms` and the transitions of its
//! `PartitionStateMachine` (NewPartition -> OnlinePartition, OfflinePartition ->
//! OnlinePartition) and `ReplicaStateMachine` (a replica going offline leaves the ISR).

use crate::types::BrokerId;
use std::collections::BTreeSet;

/// A new leader chosen for a partition without a live one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Election {
    pub leader: BrokerId,
    /// The leader came from outside the ISR: `unclean.leader.election.enable` at work.
    pub unclean: bool,
}

/// Kafka's `PartitionLeaderElectionAlgorithms.offlinePartitionLeaderElection`: the first
/// replica of the assignment that is alive and in the ISR; failing that, when
/// `unclean.leader.election.enable` is true, the first live replica of the assignment;
/// failing that, nobody (the partition is offline).
pub fn offline_partition_leader_election(
    assignment: &[BrokerId],
    isr: &[BrokerId],
    live_brokers: &BTreeSet<BrokerId>,
    unclean_leader_election_enable: bool,
) -> Option<Election> {
    let clean = assignment
        .iter()
        .copied()
        .find(|r| live_brokers.contains(r) && isr.contains(r));
    if let Some(leader) = clean {
        return Some(Election {
            leader,
            unclean: false,
        });
    }
    if !unclean_leader_election_enable {
        return None;
    }
    assignment
        .iter()
        .copied()
        .find(|r| live_brokers.contains(r))
        .map(|leader| Election {
            leader,
            unclean: true,
        })
}

/// The live members of an ISR, in their ISR order.
pub fn live_isr(isr: &[BrokerId], live_brokers: &BTreeSet<BrokerId>) -> Vec<BrokerId> {
    isr.iter()
        .copied()
        .filter(|r| live_brokers.contains(r))
        .collect()
}

/// What the controller decides for one partition, given its znode state (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionChange {
    /// Nothing to write.
    None,
    /// A new partition gets its first leader and ISR, at leader epoch 0.
    NewPartition {
        leader: BrokerId,
        isr: Vec<BrokerId>,
    },
    /// The leader is alive; dead replicas leave the ISR (the leader epoch is bumped).
    RemoveDeadReplicas {
        isr: Vec<BrokerId>,
        removed: Vec<BrokerId>,
    },
    /// A new leader for a partition without a live one (the leader epoch is bumped).
    Elect {
        leader: BrokerId,
        isr: Vec<BrokerId>,
        unclean: bool,
    },
    /// No replica can lead: the partition goes offline (leader none, the leader epoch is
    /// bumped).
    Offline { isr: Vec<BrokerId> },
}

/// The last known leader and ISR of a partition, as its state znode holds them.
#[derive(Clone, Copy, Debug)]
pub struct CurrentLeaderAndIsr<'a> {
    pub leader: Option<BrokerId>,
    pub isr: &'a [BrokerId],
}

/// Kafka's offline-partition leader election and replica-offline handling for one partition:
/// what the controller writes next, from the assignment, the current state (`None`: the
/// partition has no state znode yet) and the live brokers.
pub fn decide_partition_change(
    assignment: &[BrokerId],
    current: Option<CurrentLeaderAndIsr<'_>>,
    live_brokers: &BTreeSet<BrokerId>,
    unclean_leader_election_enable: bool,
) -> PartitionChange {
    let Some(current) = current else {
        return new_partition_leader_and_isr(assignment, live_brokers);
    };
    let leader_live = current.leader.is_some_and(|l| live_brokers.contains(&l));
    if leader_live {
        return remove_dead_replicas_from_isr(current.isr, live_brokers);
    }
    match offline_partition_leader_election(
        assignment,
        current.isr,
        live_brokers,
        unclean_leader_election_enable,
    ) {
        // A clean leader: the ISR keeps its live members, in their ISR order.
        Some(Election {
            leader,
            unclean: false,
        }) => PartitionChange::Elect {
            leader,
            isr: live_isr(current.isr, live_brokers),
            unclean: false,
        },
        // An unclean leader is the ISR alone: nobody else is known to hold what it holds.
        Some(Election {
            leader,
            unclean: true,
        }) => PartitionChange::Elect {
            leader,
            isr: vec![leader],
            unclean: true,
        },
        None if current.leader.is_some() => PartitionChange::Offline {
            isr: offline_isr(current.isr, live_brokers),
        },
        // Already offline: nothing changes until a replica that can lead returns.
        None => PartitionChange::None,
    }
}

/// Kafka's `PartitionStateMachine.initializeLeaderAndIsrForPartitions`: the first live
/// replica of the assignment leads, the live replicas form the ISR. With no live replica the
/// partition stays new.
fn new_partition_leader_and_isr(
    assignment: &[BrokerId],
    live_brokers: &BTreeSet<BrokerId>,
) -> PartitionChange {
    let live: Vec<BrokerId> = assignment
        .iter()
        .copied()
        .filter(|r| live_brokers.contains(r))
        .collect();
    match live.first() {
        Some(&leader) => PartitionChange::NewPartition { leader, isr: live },
        None => PartitionChange::None,
    }
}

/// Kafka's `ReplicaStateMachine` moving replicas to OfflineReplica
/// (`removeReplicasFromIsr`) while the leader lives: the dead replicas leave the ISR. An ISR
/// with no live member is left alone.
fn remove_dead_replicas_from_isr(
    isr: &[BrokerId],
    live_brokers: &BTreeSet<BrokerId>,
) -> PartitionChange {
    let live = live_isr(isr, live_brokers);
    if live.len() < isr.len() && !live.is_empty() {
        let removed = isr.iter().copied().filter(|r| !live.contains(r)).collect();
        PartitionChange::RemoveDeadReplicas { isr: live, removed }
    } else {
        PartitionChange::None
    }
}

/// The ISR of a partition going offline. The ISR keeps its last member so that a clean
/// election can happen when that broker returns (Kafka never writes an empty ISR in
/// ZooKeeper mode).
fn offline_isr(isr: &[BrokerId], live_brokers: &BTreeSet<BrokerId>) -> Vec<BrokerId> {
    let live = live_isr(isr, live_brokers);
    if live.is_empty() {
        isr.to_vec()
    } else {
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(ids: &[BrokerId]) -> BTreeSet<BrokerId> {
        ids.iter().copied().collect()
    }

    #[test]
    fn offline_partition_leader_election_follows_kafka() {
        /// (assignment, isr, live, unclean enabled, expected (leader, unclean))
        type Case = (
            &'static [BrokerId],
            &'static [BrokerId],
            &'static [BrokerId],
            bool,
            Option<(BrokerId, bool)>,
        );
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // The first live ISR member in assignment order, not in ISR order.
            (&[0, 1, 2], &[2, 1],    &[1, 2],    false, Some((1, false))),
            (&[0, 1, 2], &[0, 1, 2], &[0, 1, 2], false, Some((0, false))),
            (&[2, 0, 1], &[0, 1, 2], &[0, 1, 2], false, Some((2, false))),
            // Dead ISR members are skipped.
            (&[0, 1, 2], &[0, 1, 2], &[2],       false, Some((2, false))),
            // Only out-of-sync replicas live: offline unless unclean is enabled.
            (&[0, 1, 2], &[0],       &[1, 2],    false, None),
            (&[0, 1, 2], &[0],       &[1, 2],    true,  Some((1, true))),
            (&[0, 1, 2], &[0],       &[2],       true,  Some((2, true))),
            // A clean choice wins over an unclean one even when unclean is enabled.
            (&[0, 1, 2], &[2],       &[1, 2],    true,  Some((2, false))),
            // A live broker outside the assignment never leads.
            (&[0, 1],    &[0],       &[2, 3],    true,  None),
            // Nobody alive.
            (&[0, 1, 2], &[0, 1, 2], &[],        true,  None),
        ];
        for (i, (assignment, isr, alive, unclean, expected)) in cases.iter().enumerate() {
            let got = offline_partition_leader_election(assignment, isr, &live(alive), *unclean);
            let want = expected.map(|(leader, unclean)| Election { leader, unclean });
            assert_eq!(
                got, want,
                "case {i}: {assignment:?} isr {isr:?} live {alive:?}"
            );
        }
    }

    #[test]
    fn partition_changes_follow_kafka() {
        use PartitionChange as C;
        struct Case {
            assignment: &'static [BrokerId],
            /// `None`: no state znode yet.
            current: Option<(Option<BrokerId>, &'static [BrokerId])>,
            live: &'static [BrokerId],
            unclean: bool,
            expected: PartitionChange,
        }
        let cases = [
            // New partitions: the first live replica leads, the live replicas are the ISR.
            Case {
                assignment: &[1, 0, 2],
                current: None,
                live: &[0, 1, 2],
                unclean: false,
                expected: C::NewPartition {
                    leader: 1,
                    isr: vec![1, 0, 2],
                },
            },
            Case {
                assignment: &[1, 0, 2],
                current: None,
                live: &[0, 2],
                unclean: false,
                expected: C::NewPartition {
                    leader: 0,
                    isr: vec![0, 2],
                },
            },
            Case {
                assignment: &[1, 0],
                current: None,
                live: &[2],
                unclean: true,
                expected: C::None,
            },
            // A live leader with a healthy ISR: nothing to do.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0, 1, 2])),
                live: &[0, 1, 2],
                unclean: false,
                expected: C::None,
            },
            // A live leader, a dead follower: the follower leaves the ISR.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0, 1, 2])),
                live: &[0, 2],
                unclean: false,
                expected: C::RemoveDeadReplicas {
                    isr: vec![0, 2],
                    removed: vec![1],
                },
            },
            // A dead follower already out of the ISR changes nothing.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0, 2])),
                live: &[0, 2],
                unclean: false,
                expected: C::None,
            },
            // The leader died: the next live ISR member leads, the ISR keeps its live members
            // in ISR order.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0, 2, 1])),
                live: &[1, 2],
                unclean: false,
                expected: C::Elect {
                    leader: 1,
                    isr: vec![2, 1],
                    unclean: false,
                },
            },
            // The leader died and only an out-of-sync replica lives: offline, the ISR keeps
            // its last member.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0])),
                live: &[1, 2],
                unclean: false,
                expected: C::Offline { isr: vec![0] },
            },
            // ... unless unclean election is enabled: the out-of-sync replica leads alone.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0])),
                live: &[1, 2],
                unclean: true,
                expected: C::Elect {
                    leader: 1,
                    isr: vec![1],
                    unclean: true,
                },
            },
            // Already offline and still nobody to elect: no new write.
            Case {
                assignment: &[0, 1, 2],
                current: Some((None, &[0])),
                live: &[1, 2],
                unclean: false,
                expected: C::None,
            },
            // Offline, and the last ISR member returns: a clean election.
            Case {
                assignment: &[0, 1, 2],
                current: Some((None, &[0])),
                live: &[0, 1, 2],
                unclean: false,
                expected: C::Elect {
                    leader: 0,
                    isr: vec![0],
                    unclean: false,
                },
            },
        ];
        for (i, case) in cases.iter().enumerate() {
            let current = case
                .current
                .map(|(leader, isr)| CurrentLeaderAndIsr { leader, isr });
            let got =
                decide_partition_change(case.assignment, current, &live(case.live), case.unclean);
            assert_eq!(got, case.expected, "case {i}");
        }
    }
}
