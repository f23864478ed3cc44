//! One ZooKeeper server, reduced to what Kafka's ZooKeeper mode uses, with ZooKeeper's own
//! semantics for those parts: sessions that expire when their owner goes quiet, ephemeral
//! znodes that die with their session, versions for conditional writes, and one-shot watches.
//!
//! Kafka builds its cluster membership and its controller election on exactly these: a broker
//! is alive while its ephemeral `/brokers/ids/N` exists, the controller is whoever holds the
//! ephemeral `/controller`, and everyone learns of changes through watches. A broker that is
//! cut off from ZooKeeper keeps running, and keeps believing what it believed, until its
//! session is declared expired; that gap is where split-brain stories come from.

use crate::actor::{Actor, Output};
use crate::event::Event;
use crate::protocol::*;
use crate::types::NodeId;
use std::collections::{BTreeMap, BTreeSet};

/// How often the server looks for expired sessions (ZooKeeper's tick).
pub const TICK_MS: u64 = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkTimer {
    Tick,
}

#[derive(Clone, Debug, PartialEq)]
struct Znode {
    data: ZkData,
    version: i32,
    ephemeral_owner: Option<u64>,
}

#[derive(Clone, Debug)]
struct Session {
    owner: NodeId,
    timeout_ms: u64,
    last_heard_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum WatchType {
    Data,
    Child,
}

pub struct ZooKeeper {
    nodes: BTreeMap<String, Znode>,
    sessions: BTreeMap<u64, Session>,
    next_session_id: u64,
    /// One-shot watches: (path, type) -> sessions.
    watches: BTreeMap<(String, WatchType), BTreeSet<u64>>,
    now_ms: u64,
}

impl Default for ZooKeeper {
    fn default() -> Self {
        ZooKeeper::new()
    }
}

fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

impl ZooKeeper {
    pub fn new() -> ZooKeeper {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "/".to_string(),
            Znode {
                data: ZkData::Empty,
                version: 0,
                ephemeral_owner: None,
            },
        );
        ZooKeeper {
            nodes,
            sessions: BTreeMap::new(),
            next_session_id: 1,
            watches: BTreeMap::new(),
            now_ms: 0,
        }
    }

    /// A server with the persistent paths Kafka's brokers create at startup.
    pub fn with_kafka_paths() -> ZooKeeper {
        let mut zk = ZooKeeper::new();
        for path in ["/brokers", "/brokers/ids", "/brokers/topics"] {
            zk.nodes.insert(
                path.to_string(),
                Znode {
                    data: ZkData::Empty,
                    version: 0,
                    ephemeral_owner: None,
                },
            );
        }
        zk
    }

    pub fn get(&self, path: &str) -> Option<(&ZkData, i32)> {
        self.nodes.get(path).map(|n| (&n.data, n.version))
    }

    pub fn children(&self, path: &str) -> Vec<String> {
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| !p[prefix.len()..].contains('/') && p.len() > prefix.len())
            .map(|(p, _)| p[prefix.len()..].to_string())
            .collect()
    }

    pub fn sessions(&self) -> Vec<(u64, NodeId)> {
        self.sessions.iter().map(|(id, s)| (*id, s.owner)).collect()
    }

    fn fire(&mut self, path: &str, kind: WatchType, event: ZkWatchKind, out: &mut Output<ZkTimer>) {
        let Some(sessions) = self.watches.remove(&(path.to_string(), kind)) else {
            return;
        };
        for session_id in sessions {
            if let Some(s) = self.sessions.get(&session_id) {
                out.send(
                    s.owner,
                    Message::ZkWatch {
                        session_id,
                        path: path.to_string(),
                        kind: event,
                    },
                );
            }
        }
    }

    fn watch(&mut self, path: &str, kind: WatchType, session_id: u64) {
        self.watches
            .entry((path.to_string(), kind))
            .or_default()
            .insert(session_id);
    }

    fn create(
        &mut self,
        session_id: u64,
        path: String,
        data: ZkData,
        ephemeral: bool,
        out: &mut Output<ZkTimer>,
    ) -> ZkResult {
        if self.nodes.contains_key(&path) {
            return ZkResult::NodeExists;
        }
        let Some(parent_path) = parent(&path).map(str::to_string) else {
            return ZkResult::NodeExists;
        };
        match self.nodes.get(&parent_path) {
            None => return ZkResult::NoNode,
            // Ephemeral znodes cannot have children.
            Some(p) if p.ephemeral_owner.is_some() => return ZkResult::NoNode,
            Some(_) => {}
        }
        self.nodes.insert(
            path.clone(),
            Znode {
                data,
                version: 0,
                ephemeral_owner: ephemeral.then_some(session_id),
            },
        );
        self.fire(&path, WatchType::Data, ZkWatchKind::NodeCreated, out);
        self.fire(
            &parent_path,
            WatchType::Child,
            ZkWatchKind::NodeChildrenChanged,
            out,
        );
        ZkResult::Created
    }

    fn delete(&mut self, path: &str, version: Option<i32>, out: &mut Output<ZkTimer>) -> ZkResult {
        let Some(node) = self.nodes.get(path) else {
            return ZkResult::NoNode;
        };
        if version.is_some_and(|v| v != node.version) {
            return ZkResult::BadVersion;
        }
        if !self.children(path).is_empty() {
            // ZooKeeper says NotEmpty; the closest answer this protocol has.
            return ZkResult::NodeExists;
        }
        self.nodes.remove(path);
        self.fire(path, WatchType::Data, ZkWatchKind::NodeDeleted, out);
        self.fire(path, WatchType::Child, ZkWatchKind::NodeDeleted, out);
        if let Some(p) = parent(path) {
            let p = p.to_string();
            self.fire(&p, WatchType::Child, ZkWatchKind::NodeChildrenChanged, out);
        }
        ZkResult::Ok { version: 0 }
    }

    fn apply(&mut self, session_id: u64, op: ZkOp, out: &mut Output<ZkTimer>) -> ZkResult {
        match op {
            ZkOp::Create {
                path,
                data,
                ephemeral,
            } => self.create(session_id, path, data, ephemeral, out),
            ZkOp::SetData {
                path,
                data,
                version,
            } => {
                let Some(node) = self.nodes.get_mut(&path) else {
                    return ZkResult::NoNode;
                };
                if version.is_some_and(|v| v != node.version) {
                    return ZkResult::BadVersion;
                }
                node.data = data;
                node.version += 1;
                let version = node.version;
                self.fire(&path, WatchType::Data, ZkWatchKind::NodeDataChanged, out);
                ZkResult::Ok { version }
            }
            ZkOp::GetData { path, watch } => match self.nodes.get(&path) {
                Some(node) => {
                    let result = ZkResult::Data {
                        data: node.data.clone(),
                        version: node.version,
                    };
                    if watch {
                        self.watch(&path, WatchType::Data, session_id);
                    }
                    result
                }
                None => {
                    // Like `exists` with a watch: be told when the node appears.
                    if watch {
                        self.watch(&path, WatchType::Data, session_id);
                    }
                    ZkResult::NoNode
                }
            },
            ZkOp::GetChildren { path, watch } => {
                if !self.nodes.contains_key(&path) {
                    return ZkResult::NoNode;
                }
                if watch {
                    self.watch(&path, WatchType::Child, session_id);
                }
                ZkResult::Children(self.children(&path))
            }
            ZkOp::Delete { path, version } => self.delete(&path, version, out),
        }
    }

    /// Expires a session: its ephemeral znodes go (firing watches), its watches go, and its
    /// owner is told.
    fn expire(&mut self, session_id: u64, out: &mut Output<ZkTimer>) {
        let Some(session) = self.sessions.remove(&session_id) else {
            return;
        };
        let ephemerals: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.ephemeral_owner == Some(session_id))
            .map(|(p, _)| p.clone())
            .collect();
        for path in ephemerals {
            self.delete(&path, None, out);
        }
        for sessions in self.watches.values_mut() {
            sessions.remove(&session_id);
        }
        self.watches.retain(|_, s| !s.is_empty());
        out.send(session.owner, Message::ZkSessionExpired { session_id });
        out.event(Event::ZkSessionExpired {
            node: session.owner,
            session_id,
            timeout_ms: session.timeout_ms,
        });
    }

    /// Refreshes a session if `from` owns it; false if the session is unknown or not theirs.
    fn touch(&mut self, session_id: u64, from: NodeId) -> bool {
        match self.sessions.get_mut(&session_id) {
            Some(s) if s.owner == from => {
                s.last_heard_ms = self.now_ms;
                true
            }
            _ => false,
        }
    }
}

impl Actor for ZooKeeper {
    type Timer = ZkTimer;

    fn start(&mut self, now_ms: u64, out: &mut Output<ZkTimer>) {
        // After a restart every session gets a fresh timeout, as a new ZooKeeper leader
        // does (sessions are replicated across the ensemble).
        self.now_ms = now_ms;
        for s in self.sessions.values_mut() {
            s.last_heard_ms = now_ms;
        }
        out.timer(TICK_MS, ZkTimer::Tick);
    }

    fn on_message(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<ZkTimer>,
    ) {
        self.now_ms = now_ms;
        match message {
            Message::ZkConnect { session_timeout_ms } => {
                let session_id = self.next_session_id;
                self.next_session_id += 1;
                self.sessions.insert(
                    session_id,
                    Session {
                        owner: from,
                        timeout_ms: session_timeout_ms,
                        last_heard_ms: now_ms,
                    },
                );
                out.send(
                    from,
                    Message::ZkConnected {
                        session_id,
                        session_timeout_ms,
                    },
                );
            }
            Message::ZkPing { session_id } => {
                if self.touch(session_id, from) {
                    out.send(from, Message::ZkPong { session_id });
                } else {
                    out.send(from, Message::ZkSessionExpired { session_id });
                }
            }
            Message::ZkRequest {
                session_id,
                xid,
                op,
            } => {
                let result = if self.touch(session_id, from) {
                    self.apply(session_id, op, out)
                } else {
                    ZkResult::SessionExpired
                };
                out.send(from, Message::ZkResponse { xid, result });
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, now_ms: u64, timer: ZkTimer, out: &mut Output<ZkTimer>) {
        self.now_ms = now_ms;
        match timer {
            ZkTimer::Tick => {
                let expired: Vec<u64> = self
                    .sessions
                    .iter()
                    .filter(|(_, s)| now_ms.saturating_sub(s.last_heard_ms) > s.timeout_ms)
                    .map(|(id, _)| *id)
                    .collect();
                for id in expired {
                    self.expire(id, out);
                }
                out.timer(TICK_MS, ZkTimer::Tick);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BrokerId;

    fn broker(b: BrokerId) -> NodeId {
        NodeId::Broker(b)
    }

    fn connect(zk: &mut ZooKeeper, now: u64, who: NodeId, timeout_ms: u64) -> u64 {
        let mut out = Output::default();
        zk.on_message(
            now,
            who,
            Message::ZkConnect {
                session_timeout_ms: timeout_ms,
            },
            &mut out,
        );
        match &out.messages[0].1 {
            Message::ZkConnected { session_id, .. } => *session_id,
            other => panic!("{other:?}"),
        }
    }

    fn request(
        zk: &mut ZooKeeper,
        now: u64,
        who: NodeId,
        session_id: u64,
        op: ZkOp,
    ) -> (ZkResult, Output<ZkTimer>) {
        let mut out = Output::default();
        zk.on_message(
            now,
            who,
            Message::ZkRequest {
                session_id,
                xid: 1,
                op,
            },
            &mut out,
        );
        let pos = out
            .messages
            .iter()
            .position(|(to, m)| *to == who && matches!(m, Message::ZkResponse { .. }))
            .expect("a response");
        let (_, m) = out.messages.remove(pos);
        match m {
            Message::ZkResponse { result, .. } => (result, out),
            _ => unreachable!(),
        }
    }

    fn tick(zk: &mut ZooKeeper, now: u64) -> Output<ZkTimer> {
        let mut out = Output::default();
        zk.on_timer(now, ZkTimer::Tick, &mut out);
        out
    }

    #[test]
    fn silence_expires_a_session_and_its_ephemerals_and_fires_watches() {
        let mut zk = ZooKeeper::with_kafka_paths();
        let s0 = connect(&mut zk, 0, broker(0), 6_000);
        let s1 = connect(&mut zk, 0, broker(1), 6_000);
        let create = ZkOp::Create {
            path: "/brokers/ids/0".into(),
            data: ZkData::Broker { broker_id: 0 },
            ephemeral: true,
        };
        assert_eq!(
            request(&mut zk, 0, broker(0), s0, create).0,
            ZkResult::Created
        );
        let (children, _) = request(
            &mut zk,
            0,
            broker(1),
            s1,
            ZkOp::GetChildren {
                path: "/brokers/ids".into(),
                watch: true,
            },
        );
        assert_eq!(children, ZkResult::Children(vec!["0".into()]));
        // Broker 1 keeps pinging, broker 0 goes quiet.
        for t in (2_000..=8_000).step_by(2_000) {
            let mut out = Output::default();
            zk.on_message(t, broker(1), Message::ZkPing { session_id: s1 }, &mut out);
            assert!(tick(&mut zk, t).messages.is_empty() || t > 6_000);
        }
        assert!(
            zk.get("/brokers/ids/0").is_none(),
            "the ephemeral went with the session"
        );
        assert_eq!(zk.sessions(), vec![(s1, broker(1))]);
        // A request on the dead session is refused.
        let (r, _) = request(
            &mut zk,
            9_000,
            broker(0),
            s0,
            ZkOp::GetData {
                path: "/controller".into(),
                watch: false,
            },
        );
        assert_eq!(r, ZkResult::SessionExpired);
    }

    #[test]
    fn expiry_notifies_watchers_once() {
        let mut zk = ZooKeeper::with_kafka_paths();
        let s0 = connect(&mut zk, 0, broker(0), 1_000);
        let s1 = connect(&mut zk, 0, broker(1), 100_000);
        request(
            &mut zk,
            0,
            broker(0),
            s0,
            ZkOp::Create {
                path: "/controller".into(),
                data: ZkData::Controller { broker_id: 0 },
                ephemeral: true,
            },
        );
        request(
            &mut zk,
            0,
            broker(1),
            s1,
            ZkOp::GetData {
                path: "/controller".into(),
                watch: true,
            },
        );
        let out = tick(&mut zk, 1_500);
        let watches: Vec<_> = out
            .messages
            .iter()
            .filter(|(to, m)| {
                *to == broker(1)
                    && matches!(
                        m,
                        Message::ZkWatch {
                            kind: ZkWatchKind::NodeDeleted,
                            ..
                        }
                    )
            })
            .collect();
        assert_eq!(watches.len(), 1);
        assert!(out
            .messages
            .iter()
            .any(|(to, m)| *to == broker(0) && matches!(m, Message::ZkSessionExpired { .. })));
        assert!(out
            .events
            .iter()
            .any(|e| matches!(e, Event::ZkSessionExpired { .. })));
        // One-shot: a second change fires nothing.
        let (_, out) = request(
            &mut zk,
            1_600,
            broker(1),
            s1,
            ZkOp::Create {
                path: "/controller".into(),
                data: ZkData::Controller { broker_id: 1 },
                ephemeral: true,
            },
        );
        assert!(out.messages.is_empty());
    }

    #[test]
    fn conditional_set_data_checks_the_version() {
        let mut zk = ZooKeeper::with_kafka_paths();
        let s = connect(&mut zk, 0, broker(0), 6_000);
        let path = "/brokers/topics/t".to_string();
        request(
            &mut zk,
            0,
            broker(0),
            s,
            ZkOp::Create {
                path: path.clone(),
                data: ZkData::Empty,
                ephemeral: false,
            },
        );
        let set = |version| ZkOp::SetData {
            path: path.clone(),
            data: ZkData::ControllerEpoch(1),
            version: Some(version),
        };
        assert_eq!(
            request(&mut zk, 0, broker(0), s, set(0)).0,
            ZkResult::Ok { version: 1 }
        );
        assert_eq!(
            request(&mut zk, 0, broker(0), s, set(0)).0,
            ZkResult::BadVersion
        );
        assert_eq!(zk.get(&path).unwrap().1, 1);
    }

    #[test]
    fn create_needs_a_parent_and_fires_child_watches() {
        let mut zk = ZooKeeper::with_kafka_paths();
        let s = connect(&mut zk, 0, broker(0), 6_000);
        let create = |path: &str| ZkOp::Create {
            path: path.into(),
            data: ZkData::Empty,
            ephemeral: false,
        };
        assert_eq!(
            request(&mut zk, 0, broker(0), s, create("/a/b")).0,
            ZkResult::NoNode
        );
        request(
            &mut zk,
            0,
            broker(0),
            s,
            ZkOp::GetChildren {
                path: "/brokers/topics".into(),
                watch: true,
            },
        );
        let (r, out) = request(&mut zk, 0, broker(0), s, create("/brokers/topics/orders"));
        assert_eq!(r, ZkResult::Created);
        assert!(matches!(
            out.messages[0].1,
            Message::ZkWatch {
                kind: ZkWatchKind::NodeChildrenChanged,
                ..
            }
        ));
        assert_eq!(zk.children("/brokers/topics"), vec!["orders".to_string()]);
        assert_eq!(
            zk.children("/brokers"),
            vec!["ids".to_string(), "topics".to_string()]
        );
    }
}
