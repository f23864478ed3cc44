//! The broker's ZooKeeper client: one session at a time, pings to keep it alive, requests
//! tagged with what they were for ([`ZkPurpose`]), and what the broker does with the answers
//! and watches (registration under `/brokers/ids`, the `/controller` election).
//!
//! The timing rules follow ZooKeeper's `ClientCnxn`; see [`ZkClient`].

use super::internal_topics::InternalTopic;
use super::{Broker, BrokerTimer, REGISTER_RETRY_MS};
use crate::actor::Output;
use crate::controller::ControllerZk;
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;
use std::collections::BTreeMap;

/// What a ZooKeeper request of this broker was for.
#[derive(Clone, Debug)]
pub(super) enum ZkPurpose {
    Register,
    CreateController,
    ReadController,
    ReadControllerEpoch,
    WriteControllerEpoch(i32),
    Controller(ControllerZk),
    /// Auto-creation of `__consumer_offsets` on the first FindCoordinator.
    CreateInternalTopic(InternalTopic),
    /// Before 2.7: this leader's write of `isr` to `tp`'s state znode.
    IsrWrite {
        tp: TopicPartition,
        leader_epoch: LeaderEpoch,
        isr: Vec<BrokerId>,
    },
    /// Before 2.7: a `/isr_change_notification` znode; the answer does not matter.
    IsrChangeNotification,
    /// The session's close at shutdown; nobody is left to read the answer.
    CloseSession,
}

#[derive(Default)]
pub(super) struct ZkClient {
    pub(super) session_id: Option<u64>,
    /// The session timeout the server granted, which ZooKeeper's `ClientCnxn.onConnected`
    /// turns into the read timeout and the ping interval.
    pub(super) negotiated_timeout_ms: u64,
    pub(super) connect_attempt: u64,
    pub(super) next_xid: u64,
    pub(super) pending: BTreeMap<u64, ZkPurpose>,
}

impl ZkClient {
    /// The connect timeout, from the timeout the client asked for (nothing is negotiated
    /// yet). ZooKeeper's `ClientCnxn` gives an attempt `sessionTimeout / hostProvider.size()`;
    /// the simulator has always given a third of it, and keeps that so existing runs keep
    /// their timing. Never 0: a requested timeout of 1 ms retries every millisecond until
    /// the first answer arrives.
    pub(super) fn connect_timeout_ms(requested_ms: u64) -> u64 {
        (requested_ms / 3).max(1)
    }

    /// The ping interval once connected: `ClientCnxn` sets `readTimeout` to 2/3 of the
    /// *negotiated* timeout and pings after `readTimeout / 2` without sending, so a broker
    /// that asked for 1 ms pings every 2 s of ZooKeeper's 6 s minimum, not every millisecond.
    pub(super) fn ping_interval_ms(&self) -> u64 {
        (self.negotiated_timeout_ms * 2 / 3 / 2).max(1)
    }

    pub(super) fn request(&mut self, op: ZkOp, purpose: ZkPurpose, out: &mut Output<BrokerTimer>) {
        let Some(session_id) = self.session_id else {
            return;
        };
        self.next_xid += 1;
        let xid = self.next_xid;
        self.pending.insert(xid, purpose);
        out.send(
            NodeId::ZooKeeper,
            Message::ZkRequest(ZkRequest {
                session_id,
                xid,
                op,
            }),
        );
    }
}

impl Broker {
    // ------------------------------------------------------------------------------------
    // ZooKeeper session, registration and controller election
    // ------------------------------------------------------------------------------------

    /// Dispatches a message from ZooKeeper.
    pub(super) fn on_zk_message(
        &mut self,
        now_ms: u64,
        message: Message,
        out: &mut Output<BrokerTimer>,
    ) {
        match message {
            Message::ZkConnected(connected) => self.on_zk_connected(connected, out),
            Message::ZkPong(_) => {}
            Message::ZkResponse(response) => self.on_zk_response(now_ms, response, out),
            Message::ZkWatch(watch) => self.on_zk_watch(watch, out),
            Message::ZkSessionExpired(ZkSessionExpired { session_id }) => {
                if self.zk.session_id == Some(session_id) {
                    self.on_zk_session_lost(out);
                }
            }
            other => unreachable!("not a ZooKeeper message: {}", other.kind()),
        }
    }

    pub(super) fn zk_connect(&mut self, out: &mut Output<BrokerTimer>) {
        self.zk.session_id = None;
        self.zk.pending.clear();
        self.zk.connect_attempt += 1;
        out.send(
            NodeId::ZooKeeper,
            Message::ZkConnect(ZkConnect {
                session_timeout_ms: self.config.zookeeper_session_timeout_ms,
            }),
        );
        out.timer(
            ZkClient::connect_timeout_ms(self.config.zookeeper_session_timeout_ms),
            BrokerTimer::ZkConnectTimeout {
                attempt: self.zk.connect_attempt,
            },
        );
    }

    /// A session is granted. (An answer to an attempt that already timed out is taken too:
    /// messages here carry no connection of their own for the client to have closed.)
    pub(super) fn on_zk_connected(
        &mut self,
        connected: ZkConnected,
        out: &mut Output<BrokerTimer>,
    ) {
        if self.zk.session_id.is_some() {
            return;
        }
        let ZkConnected {
            session_id,
            session_timeout_ms: negotiated_timeout_ms,
        } = connected;
        self.zk.session_id = Some(session_id);
        self.zk.negotiated_timeout_ms = negotiated_timeout_ms;
        out.timer(
            self.zk.ping_interval_ms(),
            BrokerTimer::ZkPing { session_id },
        );
        self.register(out);
        self.try_become_controller(out);
    }

    pub(super) fn register(&mut self, out: &mut Output<BrokerTimer>) {
        self.zk.request(
            ZkOp::Create {
                path: format!("/brokers/ids/{}", self.id),
                data: ZkData::Broker { broker_id: self.id },
                ephemeral: true,
            },
            ZkPurpose::Register,
            out,
        );
    }

    pub(super) fn try_become_controller(&mut self, out: &mut Output<BrokerTimer>) {
        self.zk.request(
            ZkOp::Create {
                path: "/controller".into(),
                data: ZkData::Controller { broker_id: self.id },
                ephemeral: true,
            },
            ZkPurpose::CreateController,
            out,
        );
    }

    pub(super) fn watch_controller(&mut self, out: &mut Output<BrokerTimer>) {
        self.zk.request(
            ZkOp::GetData {
                path: "/controller".into(),
                watch: true,
            },
            ZkPurpose::ReadController,
            out,
        );
    }

    /// The session is gone: stop being controller, start a new session.
    pub(super) fn on_zk_session_lost(&mut self, out: &mut Output<BrokerTimer>) {
        self.internal_topics_requested.clear();
        self.resign_controller();
        self.zk_connect(out);
    }

    pub(super) fn on_zk_response(
        &mut self,
        now_ms: u64,
        response: ZkResponse,
        out: &mut Output<BrokerTimer>,
    ) {
        let ZkResponse { xid, result } = response;
        let Some(purpose) = self.zk.pending.remove(&xid) else {
            return;
        };
        if result == ZkResult::SessionExpired {
            self.on_zk_session_lost(out);
            return;
        }
        match purpose {
            ZkPurpose::Register => match result {
                ZkResult::Created => out.event(Event::BrokerRegistered {
                    broker: self.id,
                    session_id: self.zk.session_id.unwrap_or(0),
                }),
                _ => {
                    // The previous session's znode is still there; wait until it expires
                    // (Kafka exits here and is restarted: see `REGISTER_RETRY_MS`).
                    if let Some(session_id) = self.zk.session_id {
                        out.timer(
                            REGISTER_RETRY_MS,
                            BrokerTimer::ZkRegisterRetry { session_id },
                        );
                    }
                }
            },
            ZkPurpose::CreateController => match result {
                ZkResult::Created => self.zk.request(
                    ZkOp::GetData {
                        path: "/controller_epoch".into(),
                        watch: false,
                    },
                    ZkPurpose::ReadControllerEpoch,
                    out,
                ),
                _ => self.watch_controller(out),
            },
            ZkPurpose::ReadController => match result {
                ZkResult::Data {
                    data: ZkData::Controller { broker_id },
                    ..
                } => {
                    if broker_id != self.id {
                        self.resign_controller();
                    }
                    self.controller_id = Some(broker_id);
                }
                _ => self.try_become_controller(out),
            },
            ZkPurpose::ReadControllerEpoch => self.write_next_controller_epoch(result, out),
            ZkPurpose::WriteControllerEpoch(epoch) => match result {
                ZkResult::Created | ZkResult::Ok { .. } => self.become_controller(epoch, out),
                _ => self.watch_controller(out),
            },
            ZkPurpose::CreateInternalTopic(topic) => {
                if !matches!(result, ZkResult::Created | ZkResult::NodeExists) {
                    self.internal_topics_requested.remove(&topic);
                }
            }
            ZkPurpose::Controller(purpose) => self.on_controller_zk_result(purpose, result, out),
            ZkPurpose::IsrWrite {
                tp,
                leader_epoch,
                isr,
            } => self.on_isr_write_result(now_ms, tp, leader_epoch, isr, result, out),
            ZkPurpose::IsrChangeNotification | ZkPurpose::CloseSession => {}
        }
    }

    /// Having created `/controller`, the new controller bumps `/controller_epoch` from what
    /// `result` read (or creates it at 1), with a version check.
    fn write_next_controller_epoch(&mut self, result: ZkResult, out: &mut Output<BrokerTimer>) {
        let (op, epoch) = match result {
            ZkResult::Data {
                data: ZkData::ControllerEpoch(epoch),
                version,
            } => (
                ZkOp::SetData {
                    path: "/controller_epoch".into(),
                    data: ZkData::ControllerEpoch(epoch + 1),
                    version: Some(version),
                },
                epoch + 1,
            ),
            _ => (
                ZkOp::Create {
                    path: "/controller_epoch".into(),
                    data: ZkData::ControllerEpoch(1),
                    ephemeral: false,
                },
                1,
            ),
        };
        self.zk
            .request(op, ZkPurpose::WriteControllerEpoch(epoch), out);
    }

    pub(super) fn on_zk_watch(&mut self, watch: ZkWatch, out: &mut Output<BrokerTimer>) {
        let ZkWatch {
            session_id,
            path,
            kind,
        } = watch;
        let path = path.as_str();
        if self.zk.session_id != Some(session_id) {
            return;
        }
        if path == "/controller" {
            match kind {
                ZkWatchKind::NodeDeleted => {
                    self.resign_controller();
                    self.controller_id = None;
                    self.try_become_controller(out);
                }
                _ => self.watch_controller(out),
            }
            return;
        }
        if let Some(mut controller) = self.controller.take() {
            self.with_controller_output(out, |controller_out| {
                controller.on_watch(path, controller_out)
            });
            self.controller = Some(controller);
        }
    }
}
