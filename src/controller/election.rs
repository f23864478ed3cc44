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

/// The last known leader and ISR of a partition, as its state znode holds them.
#[derive(Clone, Copy, Debug)]
pub struct CurrentLeaderAndIsr<'a> {
    pub leader: Option<BrokerId>,
    pub isr: &'a [BrokerId],
}

/// One write the controller makes to a partition's state znode. Each bumps the leader epoch
/// (and the znode version), as every `LeaderAndIsr.newLeaderAndIsr` in Kafka does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionChange {
    /// A new partition gets its first leader and ISR, at leader epoch 0.
    NewPartition {
        leader: BrokerId,
        isr: Vec<BrokerId>,
    },
    /// Kafka's `ZkReplicaStateMachine.doRemoveReplicasFromIsr` for one dead `replica`: it
    /// leaves the ISR unless it is the last member (Kafka never writes an empty ISR in
    /// ZooKeeper mode), and if it led, the partition has no leader (`NoLeader`).
    RemoveDeadReplica {
        replica: BrokerId,
        leader: Option<BrokerId>,
        isr: Vec<BrokerId>,
    },
    /// A new leader for a partition without a live one.
    Elect {
        leader: BrokerId,
        isr: Vec<BrokerId>,
        unclean: bool,
    },
}

/// Why the controller looks at a partition: which of Kafka's two orders applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionOrder {
    /// `KafkaController.onReplicasBecomeOffline` (brokers died while this controller was
    /// active): elections first (`PartitionStateMachine.triggerOnlinePartitionStateChange`),
    /// then the dead replicas leave the ISRs (`OfflineReplica`).
    ElectThenRemove,
    /// `KafkaController.onControllerFailover`: `ZkReplicaStateMachine.startup` moves every
    /// replica on a dead broker to `OfflineReplica` first, then
    /// `ZkPartitionStateMachine.startup` elects leaders from what is left of the ISRs.
    RemoveThenElect,
}

/// The writes the controller makes for one partition, in order, from the assignment, the
/// current state (`None`: the partition has no state znode yet) and the live brokers. Empty:
/// nothing to write.
pub fn decide_partition_change(
    assignment: &[BrokerId],
    current: Option<CurrentLeaderAndIsr<'_>>,
    live_brokers: &BTreeSet<BrokerId>,
    unclean_leader_election_enable: bool,
    order: DecisionOrder,
) -> Vec<PartitionChange> {
    let Some(current) = current else {
        return new_partition_leader_and_isr(assignment, live_brokers)
            .into_iter()
            .collect();
    };
    let mut leader = current.leader;
    let mut isr = current.isr.to_vec();
    let mut changes = Vec::new();
    if order == DecisionOrder::RemoveThenElect {
        changes.extend(remove_dead_replicas_from_isr(
            &mut leader,
            &mut isr,
            live_brokers,
            true,
        ));
    }
    let leader_live = leader.is_some_and(|l| live_brokers.contains(&l));
    if !leader_live {
        if let Some(election) = offline_partition_leader_election(
            assignment,
            &isr,
            live_brokers,
            unclean_leader_election_enable,
        ) {
            // `leaderForOffline`: a clean leader keeps the ISR's live members, in ISR order;
            // an unclean one is the ISR alone (nobody else is known to hold what it holds).
            isr = if election.unclean {
                vec![election.leader]
            } else {
                live_isr(&isr, live_brokers)
            };
            leader = Some(election.leader);
            changes.push(PartitionChange::Elect {
                leader: election.leader,
                isr: isr.clone(),
                unclean: election.unclean,
            });
        }
    }
    if order == DecisionOrder::ElectThenRemove {
        changes.extend(remove_dead_replicas_from_isr(
            &mut leader,
            &mut isr,
            live_brokers,
            false,
        ));
    }
    changes
}

/// Kafka's `PartitionStateMachine.initializeLeaderAndIsrForPartitions`: the first live
/// replica of the assignment leads, the live replicas form the ISR. With no live replica the
/// partition stays new.
fn new_partition_leader_and_isr(
    assignment: &[BrokerId],
    live_brokers: &BTreeSet<BrokerId>,
) -> Option<PartitionChange> {
    let live: Vec<BrokerId> = assignment
        .iter()
        .copied()
        .filter(|r| live_brokers.contains(r))
        .collect();
    let leader = *live.first()?;
    Some(PartitionChange::NewPartition { leader, isr: live })
}

/// Kafka's `ZkReplicaStateMachine` moving the replicas of dead brokers to `OfflineReplica`,
/// one broker at a time (`doRemoveReplicasFromIsr` per replica id; Kafka walks a hash map of
/// them, this model takes ascending broker ids): each dead ISR member leaves the ISR, except
/// that an ISR of one keeps its member, and a leader that leaves makes the partition
/// leaderless. Each step is a write.
///
/// Kafka does this once per broker failure; this model decides again whenever anything
/// changes, so a step that would change nothing is written only in a sequence that changes
/// something, or at controller failover (`lone_noop_allowed`), where Kafka writes it too.
fn remove_dead_replicas_from_isr(
    leader: &mut Option<BrokerId>,
    isr: &mut Vec<BrokerId>,
    live_brokers: &BTreeSet<BrokerId>,
    lone_noop_allowed: bool,
) -> Vec<PartitionChange> {
    let mut dead: Vec<BrokerId> = isr
        .iter()
        .copied()
        .filter(|r| !live_brokers.contains(r))
        .collect();
    dead.sort_unstable();
    let mut changes = Vec::new();
    for replica in dead {
        if !isr.contains(&replica) {
            continue;
        }
        let new_leader = if *leader == Some(replica) {
            None
        } else {
            *leader
        };
        let new_isr: Vec<BrokerId> = if isr.len() == 1 {
            isr.clone()
        } else {
            isr.iter().copied().filter(|r| *r != replica).collect()
        };
        let noop = new_leader == *leader && new_isr == *isr;
        if noop && changes.is_empty() && !lone_noop_allowed {
            continue;
        }
        *leader = new_leader;
        *isr = new_isr;
        changes.push(PartitionChange::RemoveDeadReplica {
            replica,
            leader: *leader,
            isr: isr.clone(),
        });
    }
    debug_assert!(!isr.is_empty(), "Kafka never writes an empty ISR");
    changes
}

/// Kafka's `PartitionLeaderElectionAlgorithms.preferredReplicaPartitionLeaderElection`: the
/// preferred replica (the first of the assignment) leads if it is alive and in the ISR;
/// otherwise nobody is elected and the leader stays. The ISR does not change.
pub fn preferred_replica_partition_leader_election(
    assignment: &[BrokerId],
    isr: &[BrokerId],
    live_brokers: &BTreeSet<BrokerId>,
) -> Option<BrokerId> {
    assignment
        .first()
        .copied()
        .filter(|r| live_brokers.contains(r) && isr.contains(r))
}

/// Kafka's `PartitionLeaderElectionAlgorithms.controlledShutdownPartitionLeaderElection`:
/// the first replica of the assignment that is alive (or shutting down itself), in the ISR
/// and not shutting down. `None`: no replica may take over, and the leader stays.
pub fn controlled_shutdown_partition_leader_election(
    assignment: &[BrokerId],
    isr: &[BrokerId],
    live_or_shutting_down: &BTreeSet<BrokerId>,
    shutting_down: &BTreeSet<BrokerId>,
) -> Option<BrokerId> {
    assignment.iter().copied().find(|r| {
        live_or_shutting_down.contains(r) && isr.contains(r) && !shutting_down.contains(r)
    })
}

/// Kafka's `Election.leaderForControlledShutdown`: the leader above, and the ISR without
/// the brokers shutting down. `None` when no replica may lead.
pub fn leader_for_controlled_shutdown(
    assignment: &[BrokerId],
    isr: &[BrokerId],
    live_or_shutting_down: &BTreeSet<BrokerId>,
    shutting_down: &BTreeSet<BrokerId>,
) -> Option<(BrokerId, Vec<BrokerId>)> {
    let leader = controlled_shutdown_partition_leader_election(
        assignment,
        isr,
        live_or_shutting_down,
        shutting_down,
    )?;
    let new_isr: Vec<BrokerId> = isr
        .iter()
        .copied()
        .filter(|r| !shutting_down.contains(r))
        .collect();
    debug_assert!(
        new_isr.contains(&leader),
        "the new leader is in the new ISR"
    );
    Some((leader, new_isr))
}

/// Kafka's `ZkReplicaStateMachine.doRemoveReplicasFromIsr` for one replica moved to
/// `OfflineReplica` while its broker is still up (a controlled shutdown): it leaves the ISR
/// unless it is the last member. `None` when it is not in the ISR (nothing to write).
pub fn remove_replica_from_isr(
    leader: Option<BrokerId>,
    isr: &[BrokerId],
    replica: BrokerId,
) -> Option<(Option<BrokerId>, Vec<BrokerId>)> {
    if !isr.contains(&replica) {
        return None;
    }
    let new_leader = if leader == Some(replica) {
        None
    } else {
        leader
    };
    let new_isr = if isr.len() == 1 {
        isr.to_vec()
    } else {
        isr.iter().copied().filter(|r| *r != replica).collect()
    };
    Some((new_leader, new_isr))
}

/// One partition as the leader-imbalance check sees it.
#[derive(Clone, Copy, Debug)]
pub struct Leadership<'a> {
    pub assignment: &'a [BrokerId],
    pub leader: Option<BrokerId>,
    pub isr: &'a [BrokerId],
}

/// Kafka's `KafkaController.checkAndTriggerAutoLeaderRebalance`: group the partitions by
/// their preferred replica; for each such broker, the share of its partitions led by
/// someone else (a partition without a leader counts) is its imbalance. Where that share is
/// above `imbalance_percentage` / 100, each of those partitions whose preferred replica can
/// lead (alive and in the ISR, `canPreferredReplicaBeLeader`) gets a preferred-replica
/// election. Returns those partitions' indexes in `partitions`, in order.
pub fn leader_imbalance_candidates(
    partitions: &[Leadership<'_>],
    live_brokers: &BTreeSet<BrokerId>,
    imbalance_percentage: u32,
) -> Vec<usize> {
    let mut by_preferred: std::collections::BTreeMap<BrokerId, Vec<usize>> = Default::default();
    for (i, p) in partitions.iter().enumerate() {
        if let Some(&preferred) = p.assignment.first() {
            by_preferred.entry(preferred).or_default().push(i);
        }
    }
    let mut candidates = Vec::new();
    for (preferred, indexes) in by_preferred {
        let not_preferred: Vec<usize> = indexes
            .iter()
            .copied()
            .filter(|i| partitions[*i].leader != Some(preferred))
            .collect();
        // Integer form of `notPreferred / all > percentage / 100`.
        let imbalanced = not_preferred.len() as u64 * 100
            > indexes.len() as u64 * u64::from(imbalance_percentage);
        if !imbalanced {
            continue;
        }
        candidates.extend(not_preferred.into_iter().filter(|i| {
            let p = &partitions[*i];
            preferred_replica_partition_leader_election(p.assignment, p.isr, live_brokers).is_some()
        }));
    }
    candidates.sort_unstable();
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(ids: &[BrokerId]) -> BTreeSet<BrokerId> {
        ids.iter().copied().collect()
    }

    #[test]
    fn controlled_shutdown_election_follows_kafka() {
        /// (assignment, isr, live or shutting down, shutting down, expected (leader, isr))
        type Case = (
            &'static [BrokerId],
            &'static [BrokerId],
            &'static [BrokerId],
            &'static [BrokerId],
            Option<(BrokerId, &'static [BrokerId])>,
        );
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // The first ISR member of the assignment that is not shutting down.
            (&[0, 1, 2], &[0, 1, 2], &[0, 1, 2], &[0],    Some((1, &[1, 2]))),
            // Assignment order, not ISR order.
            (&[0, 2, 1], &[1, 2, 0], &[0, 1, 2], &[0],    Some((2, &[1, 2]))),
            // Out of the ISR: not a candidate, however alive.
            (&[0, 1, 2], &[0, 2],    &[0, 1, 2], &[0],    Some((2, &[2]))),
            // Dead replicas are no candidates.
            (&[0, 1, 2], &[0, 1, 2], &[0, 2],    &[0],    Some((2, &[1, 2]))),
            // Two brokers shutting down: both leave the ISR.
            (&[0, 1, 2], &[0, 1, 2], &[0, 1, 2], &[0, 1], Some((2, &[2]))),
            // Nobody else in the ISR: the leader stays (the broker will retry).
            (&[0, 1, 2], &[0],       &[0, 1, 2], &[0],    None),
            (&[0],       &[0],       &[0],       &[0],    None),
        ];
        for (i, &(assignment, isr, alive, down, want)) in cases.iter().enumerate() {
            let got = leader_for_controlled_shutdown(assignment, isr, &live(alive), &live(down));
            let want = want.map(|(l, isr)| (l, isr.to_vec()));
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn a_replica_shutting_down_leaves_the_isr_unless_it_is_the_last() {
        assert_eq!(
            remove_replica_from_isr(Some(0), &[0, 1, 2], 1),
            Some((Some(0), vec![0, 2]))
        );
        assert_eq!(remove_replica_from_isr(Some(0), &[0, 2], 1), None);
        assert_eq!(
            remove_replica_from_isr(None, &[1], 1),
            Some((None, vec![1]))
        );
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
        use DecisionOrder::{ElectThenRemove as Active, RemoveThenElect as Failover};
        use PartitionChange as C;
        struct Case {
            assignment: &'static [BrokerId],
            /// `None`: no state znode yet.
            current: Option<(Option<BrokerId>, &'static [BrokerId])>,
            live: &'static [BrokerId],
            unclean: bool,
            order: DecisionOrder,
            expected: Vec<PartitionChange>,
        }
        let remove = |replica, leader, isr: &[BrokerId]| C::RemoveDeadReplica {
            replica,
            leader,
            isr: isr.to_vec(),
        };
        let cases = [
            // New partitions: the first live replica leads, the live replicas are the ISR.
            Case {
                assignment: &[1, 0, 2],
                current: None,
                live: &[0, 1, 2],
                unclean: false,
                order: Active,
                expected: vec![C::NewPartition {
                    leader: 1,
                    isr: vec![1, 0, 2],
                }],
            },
            Case {
                assignment: &[1, 0, 2],
                current: None,
                live: &[0, 2],
                unclean: false,
                order: Active,
                expected: vec![C::NewPartition {
                    leader: 0,
                    isr: vec![0, 2],
                }],
            },
            Case {
                assignment: &[1, 0],
                current: None,
                live: &[2],
                unclean: true,
                order: Active,
                expected: vec![],
            },
            // A live leader with a healthy ISR: nothing to do.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0, 1, 2])),
                live: &[0, 1, 2],
                unclean: false,
                order: Active,
                expected: vec![],
            },
            // A live leader, a dead follower: the follower leaves the ISR.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0, 1, 2])),
                live: &[0, 2],
                unclean: false,
                order: Active,
                expected: vec![remove(1, Some(0), &[0, 2])],
            },
            // Two dead followers: one write each, one broker at a time.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0, 2, 1])),
                live: &[0],
                unclean: false,
                order: Active,
                expected: vec![remove(1, Some(0), &[0, 2]), remove(2, Some(0), &[0])],
            },
            // A dead follower already out of the ISR changes nothing.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0, 2])),
                live: &[0, 2],
                unclean: false,
                order: Active,
                expected: vec![],
            },
            // The leader died: the next live ISR member leads, the ISR keeps its live members
            // in ISR order; the dead are already out, so nothing more is written.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0, 2, 1])),
                live: &[1, 2],
                unclean: false,
                order: Active,
                expected: vec![C::Elect {
                    leader: 1,
                    isr: vec![2, 1],
                    unclean: false,
                }],
            },
            // The leader died and only an out-of-sync replica lives: the election fails, and
            // the leader's replica goes offline: no leader, the ISR keeps its last member.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0])),
                live: &[1, 2],
                unclean: false,
                order: Active,
                expected: vec![remove(0, None, &[0])],
            },
            // The leader and a follower die together with nobody to elect: one at a time,
            // and the ISR ends with the follower, not the old leader.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0, 1])),
                live: &[2],
                unclean: false,
                order: Active,
                expected: vec![remove(0, None, &[1]), remove(1, None, &[1])],
            },
            // Every ISR member dies together: the ISR shrinks to the last one removed.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(1), &[0, 1, 2])),
                live: &[],
                unclean: false,
                order: Active,
                expected: vec![
                    remove(0, Some(1), &[1, 2]),
                    remove(1, None, &[2]),
                    remove(2, None, &[2]),
                ],
            },
            // ... unless unclean election is enabled: the out-of-sync replica leads alone.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0])),
                live: &[1, 2],
                unclean: true,
                order: Active,
                expected: vec![C::Elect {
                    leader: 1,
                    isr: vec![1],
                    unclean: true,
                }],
            },
            // Already offline and still nobody to elect: no new write.
            Case {
                assignment: &[0, 1, 2],
                current: Some((None, &[0])),
                live: &[1, 2],
                unclean: false,
                order: Active,
                expected: vec![],
            },
            // Offline, and the last ISR member returns: a clean election.
            Case {
                assignment: &[0, 1, 2],
                current: Some((None, &[0])),
                live: &[0, 1, 2],
                unclean: false,
                order: Active,
                expected: vec![C::Elect {
                    leader: 0,
                    isr: vec![0],
                    unclean: false,
                }],
            },
            // A new controller first takes dead replicas out of the ISRs, then elects: the
            // leader and a follower died, the surviving ISR member leads at epoch + 3.
            Case {
                assignment: &[0, 1, 2],
                current: Some((Some(0), &[0, 1, 2])),
                live: &[2],
                unclean: false,
                order: Failover,
                expected: vec![
                    remove(0, None, &[1, 2]),
                    remove(1, None, &[2]),
                    C::Elect {
                        leader: 2,
                        isr: vec![2],
                        unclean: false,
                    },
                ],
            },
            // At failover even an offline partition's last member is written again, as
            // Kafka's replica state machine does for every offline replica.
            Case {
                assignment: &[0, 1, 2],
                current: Some((None, &[0])),
                live: &[1, 2],
                unclean: false,
                order: Failover,
                expected: vec![remove(0, None, &[0])],
            },
        ];
        for (i, case) in cases.iter().enumerate() {
            let current = case
                .current
                .map(|(leader, isr)| CurrentLeaderAndIsr { leader, isr });
            let got = decide_partition_change(
                case.assignment,
                current,
                &live(case.live),
                case.unclean,
                case.order,
            );
            assert_eq!(got, case.expected, "case {i}");
        }
    }

    #[test]
    fn the_preferred_replica_leads_only_when_alive_and_in_the_isr() {
        let live: BTreeSet<BrokerId> = [0, 1, 2].into();
        assert_eq!(
            preferred_replica_partition_leader_election(&[0, 1, 2], &[1, 0], &live),
            Some(0)
        );
        assert_eq!(
            preferred_replica_partition_leader_election(&[0, 1, 2], &[1, 2], &live),
            None,
            "not in the ISR"
        );
        let without_0: BTreeSet<BrokerId> = [1, 2].into();
        assert_eq!(
            preferred_replica_partition_leader_election(&[0, 1, 2], &[0, 1], &without_0),
            None,
            "dead"
        );
    }

    #[test]
    fn an_imbalance_above_the_percentage_moves_every_eligible_partition_back() {
        let live: BTreeSet<BrokerId> = [0, 1, 2].into();
        let a = [0, 1, 2];
        let b = [1, 2, 0];
        let p = |assignment, leader, isr| Leadership {
            assignment,
            leader,
            isr,
        };
        let partitions = [
            // Broker 0 prefers these three and leads one: 2 of 3 elsewhere, above 10 %.
            p(&a[..], Some(1), &[1, 0][..]),
            p(&a[..], Some(0), &[0, 1][..]),
            p(&a[..], Some(2), &[2, 1][..]), // broker 0 not in the ISR: no election
            // Broker 1 prefers this one and leads it.
            p(&b[..], Some(1), &[1, 2, 0][..]),
        ];
        assert_eq!(leader_imbalance_candidates(&partitions, &live, 10), vec![0]);
        // At 70 % broker 0's 2 of 3 (67 %) is not above it.
        assert!(leader_imbalance_candidates(&partitions, &live, 70).is_empty());
        // A partition without a leader counts as led elsewhere.
        let offline = [p(&a[..], None, &[0][..]), p(&a[..], Some(0), &[0][..])];
        assert_eq!(leader_imbalance_candidates(&offline, &live, 10), vec![0]);
    }
}
