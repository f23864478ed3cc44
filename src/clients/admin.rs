//! The admin client that creates the scenario's topics, as `kafka-topics.sh --create` did in
//! ZooKeeper mode: it writes each topic's replica assignment to `/brokers/topics/T`, and the
//! controller, watching that path, creates the partitions and elects their first leaders.
//!
//! It waits until every broker of the cluster has registered (or `wait_max_ms` passed), the
//! way a test harness waits for a cluster to come up, so the first leader of each partition is
//! its preferred replica whenever the cluster starts healthy.

use crate::actor::{Actor, Output};
use crate::protocol::*;
use crate::types::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminTimer {
    /// Give up waiting for brokers and create the topics anyway.
    WaitExpired,
    ConnectTimeout {
        attempt: u64,
    },
    Ping {
        session_id: u64,
    },
}

pub struct Admin {
    brokers: usize,
    topics: BTreeMap<String, BTreeMap<u32, Vec<BrokerId>>>,
    wait_max_ms: u64,
    session_timeout_ms: u64,
    session_id: Option<u64>,
    connect_attempt: u64,
    next_xid: u64,
    created: bool,
    wait_expired: bool,
}

impl Admin {
    pub fn new(
        brokers: usize,
        topics: BTreeMap<String, BTreeMap<u32, Vec<BrokerId>>>,
        wait_max_ms: u64,
    ) -> Admin {
        Admin {
            brokers,
            topics,
            wait_max_ms,
            session_timeout_ms: 30_000,
            session_id: None,
            connect_attempt: 0,
            next_xid: 0,
            created: false,
            wait_expired: false,
        }
    }

    pub fn topics_created(&self) -> bool {
        self.created
    }

    fn request(&mut self, op: ZkOp, out: &mut Output<AdminTimer>) {
        let Some(session_id) = self.session_id else {
            return;
        };
        self.next_xid += 1;
        out.send(
            NodeId::ZooKeeper,
            Message::ZkRequest(ZkRequest {
                session_id,
                xid: self.next_xid,
                op,
            }),
        );
    }

    fn connect(&mut self, out: &mut Output<AdminTimer>) {
        self.connect_attempt += 1;
        out.send(
            NodeId::ZooKeeper,
            Message::ZkConnect(ZkConnect {
                session_timeout_ms: self.session_timeout_ms,
            }),
        );
        out.timer(
            1_000,
            AdminTimer::ConnectTimeout {
                attempt: self.connect_attempt,
            },
        );
    }

    fn watch_brokers(&mut self, out: &mut Output<AdminTimer>) {
        self.request(
            ZkOp::GetChildren {
                path: "/brokers/ids".into(),
                watch: true,
            },
            out,
        );
    }

    fn create_topics(&mut self, out: &mut Output<AdminTimer>) {
        if self.created || self.session_id.is_none() {
            return;
        }
        self.created = true;
        let topics: Vec<(String, BTreeMap<u32, Vec<BrokerId>>)> = self
            .topics
            .iter()
            .map(|(t, a)| (t.clone(), a.clone()))
            .collect();
        for (topic, assignment) in topics {
            self.request(
                ZkOp::Create {
                    path: format!("/brokers/topics/{topic}"),
                    data: ZkData::TopicAssignment(assignment),
                    ephemeral: false,
                },
                out,
            );
        }
    }
}

impl Actor for Admin {
    type Timer = AdminTimer;

    fn start(&mut self, _now_ms: u64, out: &mut Output<AdminTimer>) {
        self.connect(out);
        out.timer(self.wait_max_ms, AdminTimer::WaitExpired);
    }

    fn on_message(
        &mut self,
        _now_ms: u64,
        _from: NodeId,
        message: Message,
        out: &mut Output<AdminTimer>,
    ) {
        match message {
            Message::ZkConnected(ZkConnected { session_id, .. }) if self.session_id.is_none() => {
                self.session_id = Some(session_id);
                out.timer(self.session_timeout_ms / 3, AdminTimer::Ping { session_id });
                if self.wait_expired {
                    self.create_topics(out);
                } else {
                    self.watch_brokers(out);
                }
            }
            Message::ZkResponse(ZkResponse {
                result: ZkResult::Children(children),
                ..
            }) if children.len() >= self.brokers => self.create_topics(out),
            Message::ZkWatch(ZkWatch { path, .. }) if path == "/brokers/ids" && !self.created => {
                self.watch_brokers(out)
            }
            Message::ZkSessionExpired(_) => {
                self.session_id = None;
                self.connect(out);
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, _now_ms: u64, timer: AdminTimer, out: &mut Output<AdminTimer>) {
        match timer {
            AdminTimer::WaitExpired => {
                self.wait_expired = true;
                self.create_topics(out);
            }
            AdminTimer::ConnectTimeout { attempt } => {
                if self.session_id.is_none() && attempt == self.connect_attempt {
                    self.connect(out);
                }
            }
            AdminTimer::Ping { session_id } => {
                if self.session_id == Some(session_id) {
                    out.send(NodeId::ZooKeeper, Message::ZkPing(ZkPing { session_id }));
                    out.timer(self.session_timeout_ms / 3, AdminTimer::Ping { session_id });
                }
            }
        }
    }
}
