//! Controlled shutdown (`KafkaController.doControlledShutdown`): a broker on its way down
//! asks the controller to move the leaderships it holds to other in-sync replicas and to
//! take it out of the ISRs it follows, so that its exit costs no partition more than the
//! time a LeaderAndIsr takes to arrive, instead of a ZooKeeper session timeout.
//!
//! Kafka's controller does this in one event, with synchronous ZooKeeper writes, and answers
//! with the partitions the broker still leads. Here the writes are asynchronous, so the
//! controller follows them with a read of `/controller`: ZooKeeper answers one session's
//! requests in order, so when that read comes back every write before it has landed and
//! its LeaderAndIsr gone out, and the answer tells the broker what Kafka's would.

use super::super::election::{leader_for_controlled_shutdown, remove_replica_from_isr};
use super::{send, zk, Controller, ControllerOutput, ControllerZk, PartitionZkState, WriteWhy};
use crate::event::{ElectionReason, Event};
use crate::protocol::*;
use crate::types::*;

impl Controller {
    /// Kafka's `KafkaController.processControlledShutdown` / `doControlledShutdown`: mark the
    /// broker shutting down, elect new leaders for what it leads
    /// (`ControlledShutdownPartitionLeaderElectionStrategy`), stop its follower replicas
    /// (StopReplica without delete) and move them to `OfflineReplica` (out of the ISR).
    /// Partitions with one replica are left alone: nobody could take them over.
    pub fn on_controlled_shutdown(
        &mut self,
        request: ControlledShutdownRequest,
        out: &mut ControllerOutput,
    ) {
        let ControlledShutdownRequest {
            broker_id,
            correlation_id,
        } = request;
        if self.resigned || !self.active {
            // Kafka: ControllerMovedException ("Controller moved to another broker").
            self.answer_controlled_shutdown(
                broker_id,
                correlation_id,
                ErrorCode::NotController,
                out,
            );
            return;
        }
        if !self.live_brokers.contains(&broker_id) {
            // Kafka: BrokerNotAvailableException; the broker retries.
            self.answer_controlled_shutdown(
                broker_id,
                correlation_id,
                ErrorCode::BrokerNotAvailable,
                out,
            );
            return;
        }
        self.shutting_down.insert(broker_id);
        let (led, followed) = self.partitions_to_act_on(broker_id);
        let mut moved = Vec::new();
        for tp in led {
            if let Some(leader) = self.elect_for_controlled_shutdown(&tp, out) {
                moved.push((tp, leader));
            }
        }
        if !followed.is_empty() {
            send(
                out,
                broker_id,
                Message::StopReplica(StopReplicaRequest {
                    controller_id: self.broker_id,
                    controller_epoch: self.epoch,
                    partitions: followed.clone(),
                }),
            );
        }
        let mut left_isr = Vec::new();
        for tp in followed {
            if self.take_out_of_isr(&tp, broker_id, out) {
                left_isr.push(tp);
            }
        }
        zk(
            out,
            ZkOp::GetData {
                path: "/controller".into(),
                watch: false,
            },
            ControllerZk::ControlledShutdownDone {
                broker: broker_id,
                correlation_id,
                moved,
                left_isr,
            },
        );
    }

    /// The partitions with more than one replica on `broker` that have a leader, split into
    /// those it leads and those it follows. One with a write of this controller in flight is
    /// skipped: Kafka's controller never meets a write half done, and the broker asks again.
    fn partitions_to_act_on(&self, broker: BrokerId) -> (Vec<TopicPartition>, Vec<TopicPartition>) {
        let mut led = Vec::new();
        let mut followed = Vec::new();
        for (tp, replicas) in &self.assignments {
            if replicas.len() < 2 || !replicas.contains(&broker) {
                continue;
            }
            if self.writes_in_flight.contains_key(tp) || self.rereads.contains(tp) {
                continue;
            }
            let Some(state) = self.states.get(tp) else {
                continue;
            };
            match state.leader {
                Some(l) if l == broker => led.push(tp.clone()),
                Some(_) => followed.push(tp.clone()),
                None => {}
            }
        }
        (led, followed)
    }

    /// Writes the controlled-shutdown election of one partition; its new leader, or `None`
    /// when no other replica is in the ISR (Kafka logs the failed election, and the
    /// partition stays with the broker that is leaving).
    fn elect_for_controlled_shutdown(
        &mut self,
        tp: &TopicPartition,
        out: &mut ControllerOutput,
    ) -> Option<BrokerId> {
        let state = self.states[tp].clone();
        let (leader, isr) = leader_for_controlled_shutdown(
            &self.assignments[tp],
            &state.isr,
            &self.live_brokers,
            &self.shutting_down,
        )?;
        let new = PartitionZkState {
            leader: Some(leader),
            leader_epoch: state.leader_epoch + 1,
            isr,
            version: state.version,
        };
        let why = WriteWhy::Election {
            previous_leader: state.leader,
            unclean: false,
            reason: ElectionReason::ControlledShutdown,
        };
        self.write(tp, new, why, out);
        Some(leader)
    }

    /// Moves the broker's replica of `tp` to `OfflineReplica`: out of the ISR. True if that
    /// is a write (it was in the ISR, and not its last member).
    fn take_out_of_isr(
        &mut self,
        tp: &TopicPartition,
        replica: BrokerId,
        out: &mut ControllerOutput,
    ) -> bool {
        let state = self.states[tp].clone();
        let Some((leader, isr)) = remove_replica_from_isr(state.leader, &state.isr, replica) else {
            return false;
        };
        if isr == state.isr {
            return false;
        }
        let new = PartitionZkState {
            leader,
            leader_epoch: state.leader_epoch + 1,
            isr,
            version: state.version,
        };
        self.write(tp, new, WriteWhy::ShuttingDownReplica { replica }, out);
        true
    }

    /// Every write of a controlled shutdown has landed: answer with the partitions the broker
    /// still leads (`controllerContext.partitionLeadersOnBroker`).
    pub(super) fn on_controlled_shutdown_done(
        &mut self,
        broker: BrokerId,
        correlation_id: u64,
        moved: Vec<(TopicPartition, BrokerId)>,
        left_isr: Vec<TopicPartition>,
        out: &mut ControllerOutput,
    ) {
        let remaining: Vec<TopicPartition> = self
            .states
            .iter()
            .filter(|(_, s)| s.leader == Some(broker))
            .map(|(tp, _)| tp.clone())
            .collect();
        let moved: Vec<(TopicPartition, BrokerId)> = moved
            .into_iter()
            .filter(|(tp, leader)| {
                self.states
                    .get(tp)
                    .is_some_and(|s| s.leader == Some(*leader))
            })
            .collect();
        out.event(Event::ControlledShutdownHandled {
            controller: self.broker_id,
            broker,
            moved,
            left_isr,
            remaining: remaining.clone(),
        });
        send(
            out,
            broker,
            Message::ControlledShutdownResponse(ControlledShutdownResponse {
                correlation_id,
                error: ErrorCode::None,
                partitions_remaining: remaining,
            }),
        );
    }

    fn answer_controlled_shutdown(
        &self,
        broker: BrokerId,
        correlation_id: u64,
        error: ErrorCode,
        out: &mut ControllerOutput,
    ) {
        send(
            out,
            broker,
            Message::ControlledShutdownResponse(ControlledShutdownResponse {
                correlation_id,
                error,
                partitions_remaining: Vec::new(),
            }),
        );
    }

    /// The brokers in a controlled shutdown (`controllerContext.shuttingDownBrokerIds`).
    pub fn shutting_down(&self) -> &std::collections::BTreeSet<BrokerId> {
        &self.shutting_down
    }
}
