//! The ZooKeeper-mode controller's elections.
//! - For a partition whose leader is gone: `Election.leaderForOffline`, which takes the leader
//!   from `PartitionLeaderElectionAlgorithms.offlinePartitionLeaderElection` and the new ISR
//!   from the old one's live members (or the unclean leader alone). The model's side is the
//!   election step of [`decide_partition_change`].
//! - For the leader-imbalance check (`auto.leader.rebalance.enable`):
//!   `Election.leaderForPreferredReplica`, which takes the leader from
//!   `preferredReplicaPartitionLeaderElection` and keeps the ISR. The model's side is
//!   [`preferred_replica_partition_leader_election`].
//!
//! Cases: one to six replicas out of brokers 0 to 7 in random order, an ISR drawn from them
//! in random order, any set of live brokers, a current leader that is dead (or none; for a
//! preferred election any replica or none), and `unclean.leader.election.enable` either way.

use super::Rule;
use kafka_model::controller::election::{
    decide_partition_change, preferred_replica_partition_leader_election, CurrentLeaderAndIsr,
    DecisionOrder, PartitionChange,
};
use kafka_model::BrokerId;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub(super) struct OfflineElection;

#[derive(Serialize)]
pub(super) struct Case {
    /// `offline` or `preferred`.
    kind: &'static str,
    assignment: Vec<BrokerId>,
    /// The current leader (dead, for an offline election), or -1 (Kafka's
    /// `LeaderAndIsr.NoLeader`).
    leader: BrokerId,
    isr: Vec<BrokerId>,
    live: Vec<BrokerId>,
    unclean: bool,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    leader: Option<BrokerId>,
    isr: Option<Vec<BrokerId>>,
}

const BROKERS: BrokerId = 8;

impl Rule for OfflineElection {
    type Case = Case;
    type Answer = Answer;

    fn generate(rng: &mut ChaCha8Rng) -> Case {
        let mut brokers: Vec<BrokerId> = (0..BROKERS).collect();
        brokers.shuffle(rng);
        let replicas = rng.gen_range(1..=6);
        let assignment = brokers[..replicas].to_vec();
        let mut isr: Vec<BrokerId> = assignment
            .iter()
            .copied()
            .filter(|_| rng.gen_bool(0.6))
            .collect();
        if isr.is_empty() {
            isr.push(*assignment.choose(rng).expect("a replica"));
        }
        isr.shuffle(rng);
        let live: Vec<BrokerId> = (0..BROKERS).filter(|_| rng.gen_bool(0.5)).collect();
        let dead_replicas: Vec<BrokerId> = assignment
            .iter()
            .copied()
            .filter(|r| !live.contains(r))
            .collect();
        let preferred = rng.gen_bool(0.3);
        let leader = if preferred {
            match assignment.choose(rng) {
                Some(r) if rng.gen_bool(0.9) => *r,
                _ => -1,
            }
        } else {
            match dead_replicas.choose(rng) {
                Some(dead) if rng.gen_bool(0.7) => *dead,
                _ => -1,
            }
        };
        Case {
            kind: if preferred { "preferred" } else { "offline" },
            assignment,
            leader,
            isr,
            live,
            unclean: rng.gen_bool(0.5),
        }
    }

    fn model(case: &Case) -> Answer {
        let live: BTreeSet<BrokerId> = case.live.iter().copied().collect();
        if case.kind == "preferred" {
            let leader =
                preferred_replica_partition_leader_election(&case.assignment, &case.isr, &live);
            return Answer {
                leader,
                isr: leader.map(|_| case.isr.clone()),
            };
        }
        let current = CurrentLeaderAndIsr {
            leader: (case.leader >= 0).then_some(case.leader),
            isr: &case.isr,
        };
        let changes = decide_partition_change(
            &case.assignment,
            Some(current),
            &live,
            case.unclean,
            DecisionOrder::ElectThenRemove,
        );
        let elected = changes.into_iter().find_map(|change| match change {
            PartitionChange::Elect { leader, isr, .. } => Some((leader, isr)),
            _ => None,
        });
        Answer {
            leader: elected.as_ref().map(|(leader, _)| *leader),
            isr: elected.map(|(_, isr)| isr),
        }
    }
}
