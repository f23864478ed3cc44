//! Where the controller meets its host broker. A broker that wins the `/controller` election
//! runs a [`Controller`]; the controller fills a [`ControllerOutput`], which the broker takes
//! in with [`Output::absorb`] and whose requests it carries out in order: ZooKeeper requests
//! over the broker's own session, sends from the broker.

use super::zk_client::ZkPurpose;
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::controller::{
    AutoLeaderRebalance, Controller, ControllerOutput, ControllerRequest, ControllerTimer,
    ControllerZk,
};
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;

impl Broker {
    /// Runs the hosted controller's `f` and carries out what it asked, in the order it asked:
    /// its events go to this broker's output, its ZooKeeper requests out over this broker's
    /// session and its sends from this broker.
    pub(super) fn with_controller_output(
        &mut self,
        out: &mut Output<BrokerTimer>,
        f: impl FnOnce(&mut ControllerOutput),
    ) {
        let mut controller_out = ControllerOutput::default();
        f(&mut controller_out);
        for request in out.absorb(controller_out, BrokerTimer::Controller) {
            match request {
                ControllerRequest::Zk { op, purpose } => {
                    self.zk.request(op, ZkPurpose::Controller(purpose), out)
                }
                ControllerRequest::Send { to, message } => out.send(NodeId::Broker(to), message),
                ControllerRequest::Answer { to, message } => out.send(to, message),
            }
        }
    }

    /// Hands the hosted controller the answer to one of its ZooKeeper requests; a controller
    /// that resigns over it is dropped, and this broker watches `/controller` again.
    pub(super) fn on_controller_zk_result(
        &mut self,
        purpose: ControllerZk,
        result: ZkResult,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(mut controller) = self.controller.take() else {
            return;
        };
        self.with_controller_output(out, |controller_out| {
            controller.on_zk_result(purpose, result, controller_out)
        });
        if controller.resigned() {
            self.controller_id = None;
            self.watch_controller(out);
        } else {
            self.controller = Some(controller);
        }
    }

    /// An AlterIsr from a partition leader, for the controller this broker may host.
    pub(super) fn on_alter_isr(&mut self, request: AlterIsrRequest, out: &mut Output<BrokerTimer>) {
        if let Some(mut controller) = self.controller.take() {
            self.with_controller_output(out, |controller_out| {
                controller.on_alter_isr(request, controller_out)
            });
            self.controller = Some(controller);
        } else {
            // Not the controller (any more): the leader will time out and retry.
        }
    }

    /// An ElectLeaders request from an admin tool. Kafka's `KafkaApis.handleElectLeaders` hands
    /// it to this broker's own controller object (`ReplicaManager.electLeaders`), which answers
    /// NOT_CONTROLLER unless it is the active one; the tool asks the broker it believes is the
    /// controller.
    pub(super) fn on_elect_leaders(
        &mut self,
        from: NodeId,
        request: ElectLeadersRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        match self.controller.take() {
            Some(mut controller) => {
                self.with_controller_output(out, |controller_out| {
                    controller.on_elect_leaders(from, request, controller_out)
                });
                self.controller = Some(controller);
            }
            None => out.send(
                from,
                Message::ElectLeadersResponse(ElectLeadersResponse {
                    error: ErrorCode::NotController,
                    results: Vec::new(),
                }),
            ),
        }
    }

    /// A timer the hosted controller set; one set by a controller this broker no longer
    /// hosts (it resigned, or a later one took office here) is ignored.
    pub(super) fn on_controller_timer(
        &mut self,
        timer: ControllerTimer,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(mut controller) = self.controller.take() else {
            return;
        };
        self.with_controller_output(out, |controller_out| {
            controller.on_timer(timer, controller_out)
        });
        self.controller = Some(controller);
    }

    pub(super) fn resign_controller(&mut self) {
        if self.controller.take().is_some() && self.controller_id == Some(self.id) {
            self.controller_id = None;
        }
    }

    pub(super) fn become_controller(&mut self, epoch: i32, out: &mut Output<BrokerTimer>) {
        let controller = Controller::new(
            self.id,
            epoch,
            self.config.topic_defaults.clone(),
            self.topic_configs.clone(),
        )
        .with_release(self.release())
        .with_leaders_writing_isr(!self.protocol().uses_alter_isr());
        let mut controller = if self.config.auto_leader_rebalance_enable {
            controller.with_auto_leader_rebalance(AutoLeaderRebalance {
                check_interval_ms: self.config.leader_imbalance_check_interval_ms,
                imbalance_percentage: self.config.leader_imbalance_per_broker_percentage,
            })
        } else {
            controller
        };
        self.controller_id = Some(self.id);
        self.controller_epoch = self.controller_epoch.max(epoch);
        out.event(Event::ControllerElected {
            broker: self.id,
            controller_epoch: epoch,
        });
        self.with_controller_output(out, |controller_out| controller.start(controller_out));
        self.controller = Some(controller);
        // Watch /controller so this broker learns if it ever loses the role.
        self.watch_controller(out);
    }
}
