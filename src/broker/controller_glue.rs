//! Where the controller meets its host broker. A broker that wins the `/controller` election
//! runs a [`Controller`]; the controller does its I/O through [`HostIo`], which sends its
//! ZooKeeper requests over the broker's own session and its messages from the broker.

use super::zk_client::{ZkClient, ZkPurpose};
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::controller::{Controller, ControllerIo, ControllerZk};
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;

/// The controller's I/O, carried out by its host broker.
pub(super) struct HostIo<'a> {
    pub(super) zk: &'a mut ZkClient,
    pub(super) out: &'a mut Output<BrokerTimer>,
}

impl ControllerIo for HostIo<'_> {
    fn zk(&mut self, op: ZkOp, purpose: ControllerZk) {
        self.zk
            .request(op, ZkPurpose::Controller(purpose), self.out);
    }
    fn send(&mut self, to: BrokerId, message: Message) {
        self.out.send(NodeId::Broker(to), message);
    }
    fn event(&mut self, event: Event) {
        self.out.event(event);
    }
}

impl Broker {
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
        let mut io = HostIo {
            zk: &mut self.zk,
            out,
        };
        controller.on_zk_result(purpose, result, &mut io);
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
            let mut io = HostIo {
                zk: &mut self.zk,
                out,
            };
            controller.on_alter_isr(request, &mut io);
            self.controller = Some(controller);
        } else {
            // Not the controller (any more): the leader will time out and retry.
        }
    }

    pub(super) fn resign_controller(&mut self) {
        if self.controller.take().is_some() && self.controller_id == Some(self.id) {
            self.controller_id = None;
        }
    }

    pub(super) fn become_controller(&mut self, epoch: i32, out: &mut Output<BrokerTimer>) {
        let mut controller = Controller::new(
            self.id,
            epoch,
            self.config.topic_defaults.clone(),
            self.topic_configs.clone(),
        );
        self.controller_id = Some(self.id);
        self.controller_epoch = self.controller_epoch.max(epoch);
        out.event(Event::ControllerElected {
            broker: self.id,
            controller_epoch: epoch,
        });
        let mut io = HostIo {
            zk: &mut self.zk,
            out,
        };
        controller.start(&mut io);
        self.controller = Some(controller);
        // Watch /controller so this broker learns if it ever loses the role.
        self.watch_controller(out);
    }
}
