//! Preferred leaders, apart from the elections a failure forces: the controller's
//! leader-imbalance check (`auto.leader.rebalance.enable`,
//! `KafkaController.checkAndTriggerAutoLeaderRebalance`) and the elections an operator asks
//! for with `kafka-leader-election.sh` (`KafkaController.processReplicaLeaderElection`). Their
//! rules are the pure functions of [`super::super::election`]; this is the timer and the
//! request that run them and the writes they decide.

use super::super::election::{
    leader_imbalance_candidates, preferred_replica_partition_leader_election, Leadership,
    PartitionChange,
};
use super::{
    state_of, state_path, zk, Controller, ControllerOutput, ControllerRequest, ControllerTimer,
    ControllerZk, PartitionZkState,
};
use crate::event::{ElectionReason, Event};
use crate::protocol::{
    ElectLeadersRequest, ElectLeadersResponse, ElectionType, Message, ZkOp, ZkResult,
};
use crate::types::{BrokerId, ErrorCode, NodeId, TopicPartition};

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

/// An admin's election request while the states of its partitions are read.
#[derive(Clone, Debug)]
pub(super) struct ElectionAsked {
    from: NodeId,
    /// Per partition, in the request's order: its answer once decided.
    results: Vec<(TopicPartition, Option<ErrorCode>)>,
}

impl Controller {
    /// An ElectLeaders request from an admin tool (`KafkaController.processReplicaLeaderElection`
    /// with `AdminClientTriggered`): only the active controller answers (else NOT_CONTROLLER);
    /// a partition it does not know gets UNKNOWN_TOPIC_OR_PARTITION; one already led by its
    /// preferred replica gets ELECTION_NOT_NEEDED (only the controller writes the leader, so
    /// its cache knows it). For the rest it reads the partition state from ZooKeeper first,
    /// as `PartitionStateMachine.doElectLeaderForPartitions` does (before 2.7 the leaders
    /// write their ISR changes there themselves, so the cache may be behind), and then
    /// decides ([`Controller::on_read_for_election`]). The answer goes back once every
    /// partition is decided.
    pub fn on_elect_leaders(
        &mut self,
        from: NodeId,
        request: ElectLeadersRequest,
        out: &mut ControllerOutput,
    ) {
        if self.resigned || !self.active {
            let response = ElectLeadersResponse {
                error: ErrorCode::NotController,
                results: Vec::new(),
            };
            let message = Message::ElectLeadersResponse(response);
            out.request(ControllerRequest::Answer { to: from, message });
            return;
        }
        let ElectionType::Preferred = request.election_type;
        let partitions: Vec<TopicPartition> = match request.partitions {
            Some(named) => named,
            None => self.assignments.keys().cloned().collect(),
        };
        let request_number = self.next_election_request;
        self.next_election_request += 1;
        let mut results = Vec::with_capacity(partitions.len());
        for tp in partitions {
            let answer = self.answer_without_reading(&tp);
            if answer.is_none() {
                let path = state_path(&tp);
                let purpose = ControllerZk::ReadForElection {
                    request: request_number,
                    tp: tp.clone(),
                };
                zk(out, ZkOp::GetData { path, watch: false }, purpose);
            }
            results.push((tp, answer));
        }
        self.elections_asked
            .insert(request_number, ElectionAsked { from, results });
        self.answer_when_decided(request_number, out);
    }

    /// The answers a preferred election gives without reading the partition's state.
    fn answer_without_reading(&self, tp: &TopicPartition) -> Option<ErrorCode> {
        let Some(assignment) = self.assignments.get(tp) else {
            return Some(ErrorCode::UnknownTopicOrPartition);
        };
        match self.states.get(tp) {
            // Assigned but not created yet: there is no state to elect on.
            None => Some(ErrorCode::PreferredLeaderNotAvailable),
            Some(state) if state.leader == Some(assignment[0]) => {
                Some(ErrorCode::ElectionNotNeeded)
            }
            Some(_) => None,
        }
    }

    /// A partition's state, read for a preferred election: the cache takes it (unless this
    /// controller wrote the partition since it asked: then its cache is the newer), a state
    /// written by a later controller makes this one step down, and the election is decided.
    pub(super) fn on_read_for_election(
        &mut self,
        request_number: u64,
        tp: TopicPartition,
        result: ZkResult,
        out: &mut ControllerOutput,
    ) {
        if let Some(read) = state_of(result) {
            if read.controller_epoch > self.epoch {
                self.resigned = true;
                return;
            }
            let written_since = self.writes_in_flight.contains_key(&tp);
            if !written_since && !self.rereads.contains(&tp) {
                self.states.insert(tp.clone(), read.state);
            }
        }
        let error = self.elect_preferred(&tp, out);
        let asked = self
            .elections_asked
            .get_mut(&request_number)
            .expect("an election asked for is answered once");
        let slot = asked
            .results
            .iter_mut()
            .find(|(t, e)| *t == tp && e.is_none())
            .expect("the partition was read for this request");
        slot.1 = Some(error);
        self.answer_when_decided(request_number, out);
    }

    /// Once every partition of a request is decided: the record of it and the answer.
    fn answer_when_decided(&mut self, request_number: u64, out: &mut ControllerOutput) {
        let asked = &self.elections_asked[&request_number];
        if asked.results.iter().any(|(_, e)| e.is_none()) {
            return;
        }
        let asked = self
            .elections_asked
            .remove(&request_number)
            .expect("present");
        let results: Vec<(TopicPartition, ErrorCode)> = asked
            .results
            .into_iter()
            .map(|(tp, e)| (tp, e.expect("decided")))
            .collect();
        out.event(Event::LeaderElectionRequested {
            controller: self.broker_id,
            election_type: ElectionType::Preferred,
            results: results.clone(),
        });
        let response = ElectLeadersResponse {
            error: ErrorCode::None,
            results,
        };
        let message = Message::ElectLeadersResponse(response);
        out.request(ControllerRequest::Answer {
            to: asked.from,
            message,
        });
    }

    /// One partition of a preferred election an admin asked for, on its latest state: the
    /// preferred-replica strategy runs (`PartitionStateMachine.handleStateChanges` to
    /// `OnlinePartition` with `PreferredReplicaPartitionLeaderElectionStrategy`); a
    /// preferred replica that is not alive or not in the ISR gets
    /// PREFERRED_LEADER_NOT_AVAILABLE (the election's `StateChangeFailedException`, mapped so
    /// for `ElectionType.PREFERRED`). A partition whose state must be read again after a
    /// refused write cannot be decided now, and is answered the same way.
    fn elect_preferred(&mut self, tp: &TopicPartition, out: &mut ControllerOutput) -> ErrorCode {
        if let Some(answer) = self.answer_without_reading(tp) {
            return answer;
        }
        if self.rereads.contains(tp) {
            return ErrorCode::PreferredLeaderNotAvailable;
        }
        let (assignment, state) = (&self.assignments[tp], &self.states[tp]);
        let Some(leader) =
            preferred_replica_partition_leader_election(assignment, &state.isr, &self.live_brokers)
        else {
            return ErrorCode::PreferredLeaderNotAvailable;
        };
        let change = PartitionChange::Elect {
            leader,
            isr: state.isr.clone(),
            unclean: false,
        };
        self.write_change(tp, change, ElectionReason::AdminPreferred, false, out);
        ErrorCode::None
    }
}
