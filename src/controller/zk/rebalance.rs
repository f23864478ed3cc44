//! `auto.leader.rebalance.enable`: the controller's leader-imbalance check
//! (`KafkaController.checkAndTriggerAutoLeaderRebalance`), apart from the elections a failure
//! forces. Its rules are the pure functions of [`super::super::election`]; this is the timer
//! that runs them and the writes they decide.

use super::super::election::{leader_imbalance_candidates, Leadership, PartitionChange};
use super::{Controller, ControllerOutput, ControllerTimer, PartitionZkState};
use crate::event::ElectionReason;
use crate::types::{BrokerId, TopicPartition};

impl Controller {
    /// A timer this controller set. `KafkaController.processAutoPreferredReplicaLeaderElection`:
    /// only an active controller checks, and it checks again after the interval.
    pub fn on_timer(&mut self, timer: ControllerTimer, out: &mut ControllerOutput) {
        let ControllerTimer::LeaderImbalanceCheck { controller_epoch } = timer;
        let Some(rebalance) = self.auto_leader_rebalance else {
            return;
        };
        if controller_epoch != self.epoch || self.resigned || !self.active {
            return;
        }
        self.check_leader_imbalance(rebalance.imbalance_percentage, out);
        out.timer(rebalance.check_interval_ms, timer);
    }

    /// `KafkaController.checkAndTriggerAutoLeaderRebalance`: a preferred-replica election
    /// ([`leader_imbalance_candidates`]) for every partition that needs one and whose state
    /// is settled here (no write or read of it in flight).
    fn check_leader_imbalance(&mut self, imbalance_percentage: u32, out: &mut ControllerOutput) {
        let settled: Vec<(&TopicPartition, &PartitionZkState)> = self
            .states
            .iter()
            .filter(|(tp, _)| {
                self.assignments.contains_key(*tp)
                    && !self.writes_in_flight.contains_key(*tp)
                    && !self.rereads.contains(*tp)
            })
            .collect();
        let leaderships: Vec<Leadership<'_>> = settled
            .iter()
            .map(|(tp, s)| Leadership {
                assignment: &self.assignments[*tp],
                leader: s.leader,
                isr: &s.isr,
            })
            .collect();
        let candidates =
            leader_imbalance_candidates(&leaderships, &self.live_brokers, imbalance_percentage);
        let elections: Vec<(TopicPartition, BrokerId, Vec<BrokerId>)> = candidates
            .into_iter()
            .map(|i| {
                let (tp, state) = settled[i];
                let preferred = self.assignments[tp][0];
                (tp.clone(), preferred, state.isr.clone())
            })
            .collect();
        for (tp, leader, isr) in elections {
            let change = PartitionChange::Elect {
                leader,
                isr,
                unclean: false,
            };
            self.write_change(&tp, change, ElectionReason::PreferredReplica, false, out);
        }
    }
}
