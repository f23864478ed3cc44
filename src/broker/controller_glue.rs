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
