//! One ZooKeeper server, reduced to what Kafka's ZooKeeper mode uses, with ZooKeeper's own
//! semantics for those parts: sessions that expire when their owner goes quiet, ephemeral
//! znodes that die with their session, versions for conditional writes, and one-shot watches.
//!
//! Why this matters to Kafka: a broker is alive while its ephemeral `/brokers/ids/N` exists,
//! the controller is whoever holds the ephemeral `/controller`, partition state is written
//! with a version check, and everyone learns of changes through watches. A broker that is cut
//! off from ZooKeeper keeps running, and keeps believing what it believed, until its session
//! is declared expired; that gap is where split-brain and lost-write stories come from, so the
//! timing and the order of what happens at expiry follow ZooKeeper closely:
//!
//! - Expiry. ZooKeeper puts a session's deadline in a bucket: the first tick of its expiry
//!   clock strictly after `last_heard + timeout`, and expires the whole bucket when the clock
//!   reaches it. This server ticks every [`TICK_MS`] from its start and expires a session at
//!   a tick where `now - last_heard > timeout`, which is that same first tick. Sessions
//!   expire in session-id order; each one's ephemeral znodes are deleted in path order, with
//!   the watches those deletes trigger, and then the owner is told.
//! - Timeout negotiation. The server grants the timeout a client asks for, clamped to
//!   `[minSessionTimeout, maxSessionTimeout]`, which default to 2 and 20 times ZooKeeper's
//!   default `tickTime` of 3000 ms (see [`MIN_SESSION_TIMEOUT_MS`]). Expiry is checked every
//!   100 ms rather than every 3 s: the same rule on a finer clock.
//! - Watches. A watch belongs to (session, path, data-or-child), is set only by a read that
//!   succeeded, fires once and is removed, and is dropped with its session. The triggers are
//!   ZooKeeper's: `SetData` fires data watches (`NodeDataChanged`); `Create` fires data watches
//!   on the path (`NodeCreated`) and child watches on the parent (`NodeChildrenChanged`);
//!   `Delete` fires data and child watches on the path (`NodeDeleted`, once per session even
//!   when it held both) and child watches on the parent (`NodeChildrenChanged`). A watch
//!   notification goes out before the response to the request that caused it, as ZooKeeper
//!   guarantees a client sees the event before it sees the new state.
//! - No `exists`. Kafka's protocol here has no `exists` call, and ZooKeeper's `getData` sets
//!   no watch on a missing znode, so a `GetData` answered `NoNode` leaves nothing behind; a
//!   caller that wants the znode retries its `Create` (Kafka's controller election does).
//! - Answers without their own variant. ZooKeeper's `NotEmpty` (deleting a znode that has
//!   children, or the root) is answered `NodeExists`; `NoChildrenForEphemerals` (creating
//!   under an ephemeral znode) and `BadArguments` (a malformed path) are answered `NoNode`:
//!   no such parent can hold the new znode.
//! - Restart. The server keeps its tree and sessions across a restart (ZooKeeper recovers
//!   them from its snapshot and transaction log) and gives every session a fresh timeout, as
//!   a recovering ZooKeeper does. Watches are kept too: a ZooKeeper client re-registers its
//!   watches when it reconnects, and nothing can change while the only server is down.

use crate::actor::{Actor, Output};
use crate::event::Event;
use crate::protocol::{Message, ZkData, ZkOp, ZkResult, ZkWatchKind};
use crate::types::NodeId;
use std::collections::{BTreeMap, BTreeSet};

/// How often the server looks for expired sessions, counted from its start.
pub const TICK_MS: u64 = 100;

/// ZooKeeper's default `tickTime`, from which the session timeout bounds derive.
pub const ZOOKEEPER_TICK_TIME_MS: u64 = 3_000;

/// ZooKeeper's default `minSessionTimeout`: 2 × `tickTime`.
pub const MIN_SESSION_TIMEOUT_MS: u64 = 2 * ZOOKEEPER_TICK_TIME_MS;

/// ZooKeeper's default `maxSessionTimeout`: 20 × `tickTime`.
pub const MAX_SESSION_TIMEOUT_MS: u64 = 20 * ZOOKEEPER_TICK_TIME_MS;

/// The root znode; it always exists and cannot be deleted.
const ROOT: &str = "/";

/// The persistent znodes Kafka's brokers create at startup. `/controller_epoch` is not among
/// them: the first controller creates it.
const KAFKA_PATHS: [&str; 3] = ["/brokers", "/brokers/ids", "/brokers/topics"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkTimer {
    /// Look for sessions whose timeout has passed.
    Tick,
}

#[derive(Clone, Debug, PartialEq)]
struct Znode {
    data: ZkData,
    /// ZooKeeper's `dataVersion`: 0 at creation, one more at every `SetData`.
    version: i32,
    /// The session that created an ephemeral znode; `None` for a persistent one.
    ephemeral_owner: Option<u64>,
}

impl Znode {
    fn persistent(data: ZkData) -> Znode {
        Znode {
            data,
            version: 0,
            ephemeral_owner: None,
        }
    }
}

#[derive(Clone, Debug)]
struct Session {
    /// The node that connected; only its messages carry this session.
    owner: NodeId,
    /// The negotiated timeout.
    timeout_ms: u64,
    last_heard_ms: u64,
}

impl Session {
    fn expired(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_heard_ms) > self.timeout_ms
    }
}

/// ZooKeeper keeps data watches and child watches in two separate tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum WatchType {
    Data,
    Child,
}

pub struct ZooKeeper {
    nodes: BTreeMap<String, Znode>,
    sessions: BTreeMap<u64, Session>,
    next_session_id: u64,
    /// One-shot watches: (path, type) -> the sessions watching.
    watches: BTreeMap<(String, WatchType), BTreeSet<u64>>,
}

impl Default for ZooKeeper {
    fn default() -> Self {
        ZooKeeper::new()
    }
}

/// Whether `path` is a ZooKeeper path: absolute, no empty, `.` or `..` segment, no trailing
/// slash (except the root itself), no NUL.
fn valid_path(path: &str) -> bool {
    if path == ROOT {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    !path.contains('\0')
        && rest
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

/// The parent of a valid path other than the root.
fn parent(path: &str) -> &str {
    assert!(valid_path(path) && path != ROOT, "parent of {path:?}");
    match path.rfind('/') {
        Some(0) => ROOT,
        Some(i) => &path[..i],
        None => unreachable!("a valid path starts with '/'"),
    }
}

/// The clamped session timeout ZooKeeper grants for a requested one.
pub fn negotiated_session_timeout_ms(requested_ms: u64) -> u64 {
    requested_ms.clamp(MIN_SESSION_TIMEOUT_MS, MAX_SESSION_TIMEOUT_MS)
}

impl ZooKeeper {
    /// A server holding only the root znode.
    pub fn new() -> ZooKeeper {
        let mut nodes = BTreeMap::new();
        nodes.insert(ROOT.to_string(), Znode::persistent(ZkData::Empty));
        ZooKeeper {
            nodes,
            sessions: BTreeMap::new(),
            next_session_id: 1,
            watches: BTreeMap::new(),
        }
    }

    /// A server with the persistent paths Kafka's brokers create at startup (`/brokers`,
    /// `/brokers/ids`, `/brokers/topics`), so the brokers' own requests can start from there.
    pub fn with_kafka_paths() -> ZooKeeper {
        let mut zk = ZooKeeper::new();
        for path in KAFKA_PATHS {
            assert!(
                zk.nodes.contains_key(parent(path)),
                "{path} needs its parent"
            );
            zk.nodes
                .insert(path.to_string(), Znode::persistent(ZkData::Empty));
        }
        debug_assert!(zk.invariants_hold());
        zk
    }

    /// The data and version of a znode.
    pub fn get(&self, path: &str) -> Option<(&ZkData, i32)> {
        self.nodes.get(path).map(|n| (&n.data, n.version))
    }

    /// The names of a znode's children, sorted; empty when it has none or does not exist.
    pub fn children(&self, path: &str) -> Vec<String> {
        let prefix = if path == ROOT {
            ROOT.to_string()
        } else {
            format!("{path}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .map(|(p, _)| p)
            .take_while(|p| p.starts_with(&prefix))
            .map(|p| &p[prefix.len()..])
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .map(str::to_string)
            .collect()
    }

    /// Live sessions and their owners, in session-id order.
    pub fn sessions(&self) -> Vec<(u64, NodeId)> {
        self.sessions.iter().map(|(id, s)| (*id, s.owner)).collect()
    }

    // ---------------------------------------------------------------------------------------
    // Sessions
    // ---------------------------------------------------------------------------------------

    fn connect(&mut self, now_ms: u64, from: NodeId, requested_ms: u64, out: &mut Output<ZkTimer>) {
        let session_id = self.next_session_id;
        self.next_session_id += 1;
        let timeout_ms = negotiated_session_timeout_ms(requested_ms);
        let previous = self.sessions.insert(
            session_id,
            Session {
                owner: from,
                timeout_ms,
                last_heard_ms: now_ms,
            },
        );
        assert!(previous.is_none(), "session ids are never reused");
        out.send(
            from,
            Message::ZkConnected {
                session_id,
                session_timeout_ms: timeout_ms,
            },
        );
    }

    /// Refreshes a session if `from` owns it; false if the session is unknown (expired or
    /// never created) or belongs to another node.
    fn touch(&mut self, now_ms: u64, session_id: u64, from: NodeId) -> bool {
        match self.sessions.get_mut(&session_id) {
            Some(s) if s.owner == from => {
                s.last_heard_ms = s.last_heard_ms.max(now_ms);
                true
            }
            _ => false,
        }
    }

    fn expire_sessions(&mut self, now_ms: u64, out: &mut Output<ZkTimer>) {
        let expired: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.expired(now_ms))
            .map(|(id, _)| *id)
            .collect();
        for session_id in expired {
            self.expire(session_id, out);
        }
    }

    /// Closes a session: its ephemeral znodes go (in path order, firing the watches that
    /// triggers for other sessions), its own watches go, and its owner is told.
    fn expire(&mut self, session_id: u64, out: &mut Output<ZkTimer>) {
        let session = self
            .sessions
            .remove(&session_id)
            .expect("expire a live session");
        // The session's own watches die with it, before its deletes can trigger them.
        for sessions in self.watches.values_mut() {
            sessions.remove(&session_id);
        }
        self.watches.retain(|_, sessions| !sessions.is_empty());
        let ephemerals: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.ephemeral_owner == Some(session_id))
            .map(|(p, _)| p.clone())
            .collect();
        for path in ephemerals {
            let result = self.delete(&path, None, out);
            assert!(
                matches!(result, ZkResult::Ok { .. }),
                "an ephemeral znode has no children: {path} -> {result:?}"
            );
        }
        out.send(session.owner, Message::ZkSessionExpired { session_id });
        out.event(Event::ZkSessionExpired {
            node: session.owner,
            session_id,
            timeout_ms: session.timeout_ms,
        });
    }

    // ---------------------------------------------------------------------------------------
    // Watches
    // ---------------------------------------------------------------------------------------

    fn add_watch(&mut self, path: &str, kind: WatchType, session_id: u64) {
        assert!(self.nodes.contains_key(path), "watch only what exists");
        assert!(
            self.sessions.contains_key(&session_id),
            "watch for a live session"
        );
        self.watches
            .entry((path.to_string(), kind))
            .or_default()
            .insert(session_id);
    }

    /// Fires and removes the watches of one type on `path`, skipping sessions in `already`
    /// (told of this change by another watch); returns the sessions it told.
    fn trigger(
        &mut self,
        path: &str,
        kind: WatchType,
        event: ZkWatchKind,
        already: &BTreeSet<u64>,
        out: &mut Output<ZkTimer>,
    ) -> BTreeSet<u64> {
        let Some(sessions) = self.watches.remove(&(path.to_string(), kind)) else {
            return BTreeSet::new();
        };
        let mut told = BTreeSet::new();
        for session_id in sessions.difference(already) {
            let owner = self.sessions[session_id].owner;
            out.send(
                owner,
                Message::ZkWatch {
                    session_id: *session_id,
                    path: path.to_string(),
                    kind: event,
                },
            );
            told.insert(*session_id);
        }
        told
    }

    // ---------------------------------------------------------------------------------------
    // Operations
    // ---------------------------------------------------------------------------------------

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
            } => self.set_data(&path, data, version, out),
            ZkOp::GetData { path, watch } => self.get_data(session_id, &path, watch),
            ZkOp::GetChildren { path, watch } => self.get_children(session_id, &path, watch),
            ZkOp::Delete { path, version } => self.delete(&path, version, out),
        }
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
        if !valid_path(&path) {
            return ZkResult::NoNode;
        }
        let parent_path = parent(&path).to_string();
        match self.nodes.get(&parent_path) {
            None => return ZkResult::NoNode,
            // ZooKeeper's NoChildrenForEphemerals.
            Some(p) if p.ephemeral_owner.is_some() => return ZkResult::NoNode,
            Some(_) => {}
        }
        let znode = Znode {
            data,
            version: 0,
            ephemeral_owner: ephemeral.then_some(session_id),
        };
        self.nodes.insert(path.clone(), znode);
        let none = BTreeSet::new();
        self.trigger(&path, WatchType::Data, ZkWatchKind::NodeCreated, &none, out);
        self.trigger(
            &parent_path,
            WatchType::Child,
            ZkWatchKind::NodeChildrenChanged,
            &none,
            out,
        );
        ZkResult::Created
    }

    fn set_data(
        &mut self,
        path: &str,
        data: ZkData,
        version: Option<i32>,
        out: &mut Output<ZkTimer>,
    ) -> ZkResult {
        let Some(node) = self.nodes.get_mut(path) else {
            return ZkResult::NoNode;
        };
        if version.is_some_and(|v| v != node.version) {
            return ZkResult::BadVersion;
        }
        node.data = data;
        // ZooKeeper's version is a Java int and wraps the same way.
        node.version = node.version.wrapping_add(1);
        let version = node.version;
        self.trigger(
            path,
            WatchType::Data,
            ZkWatchKind::NodeDataChanged,
            &BTreeSet::new(),
            out,
        );
        ZkResult::Ok { version }
    }

    fn get_data(&mut self, session_id: u64, path: &str, watch: bool) -> ZkResult {
        let Some(node) = self.nodes.get(path) else {
            return ZkResult::NoNode;
        };
        let result = ZkResult::Data {
            data: node.data.clone(),
            version: node.version,
        };
        if watch {
            self.add_watch(path, WatchType::Data, session_id);
        }
        result
    }

    fn get_children(&mut self, session_id: u64, path: &str, watch: bool) -> ZkResult {
        if !self.nodes.contains_key(path) {
            return ZkResult::NoNode;
        }
        if watch {
            self.add_watch(path, WatchType::Child, session_id);
        }
        ZkResult::Children(self.children(path))
    }

    /// Deletes a childless znode; `Ok` carries the version it had.
    fn delete(&mut self, path: &str, version: Option<i32>, out: &mut Output<ZkTimer>) -> ZkResult {
        let Some(node) = self.nodes.get(path) else {
            return ZkResult::NoNode;
        };
        if version.is_some_and(|v| v != node.version) {
            return ZkResult::BadVersion;
        }
        // ZooKeeper's NotEmpty; the root is never empty of meaning either.
        if path == ROOT || !self.children(path).is_empty() {
            return ZkResult::NodeExists;
        }
        let removed = self.nodes.remove(path).expect("checked above");
        let none = BTreeSet::new();
        let told = self.trigger(path, WatchType::Data, ZkWatchKind::NodeDeleted, &none, out);
        self.trigger(path, WatchType::Child, ZkWatchKind::NodeDeleted, &told, out);
        self.trigger(
            parent(path),
            WatchType::Child,
            ZkWatchKind::NodeChildrenChanged,
            &none,
            out,
        );
        ZkResult::Ok {
            version: removed.version,
        }
    }

    /// What must hold between any two inputs.
    fn invariants_hold(&self) -> bool {
        let tree_ok = self.nodes.iter().all(|(path, node)| {
            valid_path(path)
                && (path == ROOT
                    || self
                        .nodes
                        .get(parent(path))
                        .is_some_and(|p| p.ephemeral_owner.is_none()))
                && node
                    .ephemeral_owner
                    .is_none_or(|id| self.sessions.contains_key(&id))
        });
        let watches_ok = self.watches.iter().all(|((path, _), sessions)| {
            !sessions.is_empty()
                && self.nodes.contains_key(path)
                && sessions.iter().all(|id| self.sessions.contains_key(id))
        });
        let ids_ok = self
            .sessions
            .keys()
            .all(|id| *id >= 1 && *id < self.next_session_id);
        self.nodes.contains_key(ROOT) && tree_ok && watches_ok && ids_ok
    }
}

impl Actor for ZooKeeper {
    type Timer = ZkTimer;

    fn start(&mut self, now_ms: u64, out: &mut Output<ZkTimer>) {
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
        match message {
            Message::ZkConnect { session_timeout_ms } => {
                self.connect(now_ms, from, session_timeout_ms, out)
            }
            Message::ZkPing { session_id } => {
                if self.touch(now_ms, session_id, from) {
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
                let result = if self.touch(now_ms, session_id, from) {
                    self.apply(session_id, op, out)
                } else {
                    ZkResult::SessionExpired
                };
                out.send(from, Message::ZkResponse { xid, result });
            }
            // Nothing else is addressed to ZooKeeper.
            _ => {}
        }
        debug_assert!(self.invariants_hold());
    }

    fn on_timer(&mut self, now_ms: u64, timer: ZkTimer, out: &mut Output<ZkTimer>) {
        match timer {
            ZkTimer::Tick => {
                self.expire_sessions(now_ms, out);
                out.timer(TICK_MS, ZkTimer::Tick);
            }
        }
        debug_assert!(self.invariants_hold());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const B0: NodeId = NodeId::Broker(0);
    const B1: NodeId = NodeId::Broker(1);
    const B2: NodeId = NodeId::Broker(2);

    /// Drives one server by hand: the clock only moves forward, and every tick the server
    /// asked for fires on time.
    struct Harness {
        zk: ZooKeeper,
        now_ms: u64,
        next_tick_ms: u64,
        next_xid: u64,
    }

    impl Harness {
        fn new() -> Harness {
            Harness::starting(ZooKeeper::with_kafka_paths(), 0)
        }

        fn starting(mut zk: ZooKeeper, now_ms: u64) -> Harness {
            let mut out = Output::default();
            zk.start(now_ms, &mut out);
            assert!(out.messages.is_empty() && out.events.is_empty());
            assert_eq!(out.timers.len(), 1);
            let (delay_ms, ZkTimer::Tick) = out.timers[0].clone();
            Harness {
                zk,
                now_ms,
                next_tick_ms: now_ms + delay_ms,
                next_xid: 1,
            }
        }

        /// Moves the clock to `t_ms`, firing every tick due on the way; returns their output.
        fn advance_to(&mut self, t_ms: u64) -> Output<ZkTimer> {
            assert!(t_ms >= self.now_ms);
            let mut all = Output::default();
            while self.next_tick_ms <= t_ms {
                self.now_ms = self.next_tick_ms;
                let mut out = Output::default();
                self.zk.on_timer(self.now_ms, ZkTimer::Tick, &mut out);
                assert_eq!(out.timers.len(), 1, "a tick re-arms itself");
                let (delay_ms, ZkTimer::Tick) = out.timers[0].clone();
                assert_eq!(delay_ms, TICK_MS);
                self.next_tick_ms = self.now_ms + delay_ms;
                all.messages.extend(out.messages);
                all.events.extend(out.events);
            }
            self.now_ms = t_ms;
            all
        }

        fn send(&mut self, from: NodeId, message: Message) -> Output<ZkTimer> {
            let mut out = Output::default();
            self.zk.on_message(self.now_ms, from, message, &mut out);
            assert!(out.timers.is_empty());
            out
        }

        fn connect(&mut self, who: NodeId, timeout_ms: u64) -> u64 {
            let out = self.send(
                who,
                Message::ZkConnect {
                    session_timeout_ms: timeout_ms,
                },
            );
            match out.messages.as_slice() {
                [(to, Message::ZkConnected { session_id, .. })] if *to == who => *session_id,
                other => panic!("{other:?}"),
            }
        }

        fn ping(&mut self, who: NodeId, session_id: u64) -> Message {
            let mut out = self.send(who, Message::ZkPing { session_id });
            assert_eq!(out.messages.len(), 1);
            let (to, reply) = out.messages.remove(0);
            assert_eq!(to, who);
            reply
        }

        /// Sends one request; returns its result and the watch notifications it caused.
        fn request(
            &mut self,
            who: NodeId,
            session_id: u64,
            op: ZkOp,
        ) -> (ZkResult, Vec<(NodeId, Message)>) {
            let xid = self.next_xid;
            self.next_xid += 1;
            let mut out = self.send(
                who,
                Message::ZkRequest {
                    session_id,
                    xid,
                    op,
                },
            );
            let (to, response) = out.messages.pop().expect("a response");
            assert_eq!(to, who);
            let Message::ZkResponse { xid: got, result } = response else {
                panic!("the response comes last: {response:?}");
            };
            assert_eq!(got, xid);
            assert!(out
                .messages
                .iter()
                .all(|(_, m)| matches!(m, Message::ZkWatch { .. })));
            (result, out.messages)
        }

        fn create(&mut self, who: NodeId, sid: u64, path: &str, ephemeral: bool) -> ZkResult {
            let op = ZkOp::Create {
                path: path.into(),
                data: ZkData::Empty,
                ephemeral,
            };
            self.request(who, sid, op).0
        }

        fn watch_data(&mut self, who: NodeId, sid: u64, path: &str) -> ZkResult {
            let op = ZkOp::GetData {
                path: path.into(),
                watch: true,
            };
            self.request(who, sid, op).0
        }

        fn watch_children(&mut self, who: NodeId, sid: u64, path: &str) -> ZkResult {
            let op = ZkOp::GetChildren {
                path: path.into(),
                watch: true,
            };
            self.request(who, sid, op).0
        }
    }

    fn watch(to: NodeId, session_id: u64, path: &str, kind: ZkWatchKind) -> (NodeId, String) {
        let m = Message::ZkWatch {
            session_id,
            path: path.into(),
            kind,
        };
        (to, format!("{m:?}"))
    }

    fn shown(messages: &[(NodeId, Message)]) -> Vec<(NodeId, String)> {
        messages
            .iter()
            .map(|(to, m)| (*to, format!("{m:?}")))
            .collect()
    }

    fn set(path: &str, epoch: i32, version: Option<i32>) -> ZkOp {
        ZkOp::SetData {
            path: path.into(),
            data: ZkData::ControllerEpoch(epoch),
            version,
        }
    }

    #[test]
    fn kafka_paths_exist_but_not_the_controller_epoch() {
        let zk = ZooKeeper::with_kafka_paths();
        assert_eq!(zk.children("/"), vec!["brokers".to_string()]);
        assert_eq!(zk.children("/brokers"), vec!["ids", "topics"]);
        assert!(zk.get("/controller_epoch").is_none());
        assert_eq!(zk.get("/brokers/ids"), Some((&ZkData::Empty, 0)));
        assert_eq!(ZooKeeper::new().children("/"), Vec::<String>::new());
    }

    #[test]
    fn sessions_are_numbered_in_order_and_owned_by_who_connected() {
        let mut h = Harness::new();
        assert_eq!(h.connect(B1, 6_000), 1);
        assert_eq!(h.connect(B0, 6_000), 2);
        assert_eq!(h.connect(NodeId::Admin, 30_000), 3);
        assert_eq!(h.zk.sessions(), vec![(1, B1), (2, B0), (3, NodeId::Admin)]);
    }

    #[test]
    fn the_session_timeout_is_negotiated_within_zookeepers_bounds() {
        let mut h = Harness::new();
        for (asked, granted) in [(1_000, 6_000), (18_000, 18_000), (90_000, 60_000)] {
            let out = h.send(
                B0,
                Message::ZkConnect {
                    session_timeout_ms: asked,
                },
            );
            assert!(matches!(
                out.messages[0].1,
                Message::ZkConnected { session_timeout_ms, .. } if session_timeout_ms == granted
            ));
        }
    }

    #[test]
    fn pings_keep_a_session_alive() {
        let mut h = Harness::new();
        let s = h.connect(B0, 6_000);
        for t in (2_000..=60_000).step_by(2_000) {
            assert!(h.advance_to(t).is_empty());
            assert!(matches!(h.ping(B0, s), Message::ZkPong { session_id } if session_id == s));
        }
        assert_eq!(h.zk.sessions(), vec![(s, B0)]);
    }

    #[test]
    fn requests_keep_a_session_alive_too() {
        let mut h = Harness::new();
        let s = h.connect(B0, 6_000);
        for t in (5_000..=30_000).step_by(5_000) {
            assert!(h.advance_to(t).is_empty());
            let (r, _) = h.request(
                B0,
                s,
                ZkOp::GetChildren {
                    path: "/brokers".into(),
                    watch: false,
                },
            );
            assert!(matches!(r, ZkResult::Children(_)));
        }
        assert_eq!(h.zk.sessions(), vec![(s, B0)]);
    }

    #[test]
    fn a_session_expires_on_the_first_tick_after_its_deadline() {
        let mut h = Harness::new();
        let quiet_from_0 = h.connect(B0, 6_000);
        h.advance_to(50);
        let quiet_from_50 = h.connect(B1, 6_000);
        assert!(
            h.advance_to(6_000).is_empty(),
            "exactly the timeout is not yet expiry"
        );
        let out = h.advance_to(6_100);
        let expired: Vec<_> = out
            .events
            .iter()
            .map(|e| match e {
                Event::ZkSessionExpired {
                    node,
                    session_id,
                    timeout_ms,
                } => (*node, *session_id, *timeout_ms),
                other => panic!("{other:?}"),
            })
            .collect();
        // Both deadlines (6000 and 6050) fall in the bucket that ends at 6100: expired
        // together, in session-id order.
        assert_eq!(
            expired,
            vec![(B0, quiet_from_0, 6_000), (B1, quiet_from_50, 6_000)]
        );
        assert!(h.zk.sessions().is_empty());
    }

    #[test]
    fn expiry_deletes_the_ephemerals_and_tells_the_other_sessions_watching() {
        let mut h = Harness::new();
        let s0 = h.connect(B0, 6_000);
        let s1 = h.connect(B1, 6_000);
        assert_eq!(h.create(B0, s0, "/brokers/ids/0", true), ZkResult::Created);
        assert_eq!(h.create(B0, s0, "/controller", true), ZkResult::Created);
        assert_eq!(h.create(B1, s1, "/brokers/ids/1", true), ZkResult::Created);
        // Broker 0 watches its own znodes too; those watches die with its session.
        h.watch_data(B0, s0, "/controller");
        h.watch_children(B0, s0, "/brokers/ids");
        h.watch_data(B1, s1, "/controller");
        assert_eq!(
            h.watch_children(B1, s1, "/brokers/ids"),
            ZkResult::Children(vec!["0".into(), "1".into()])
        );
        // Broker 1 keeps pinging; broker 0 goes quiet.
        let mut out: Output<ZkTimer> = Output::default();
        for t in (2_000..=8_000).step_by(2_000) {
            let tick_out = h.advance_to(t);
            out.messages.extend(tick_out.messages);
            out.events.extend(tick_out.events);
            h.ping(B1, s1);
        }
        assert_eq!(
            shown(&out.messages),
            vec![
                // "/brokers/ids/0" sorts before "/controller".
                watch(B1, s1, "/brokers/ids", ZkWatchKind::NodeChildrenChanged),
                watch(B1, s1, "/controller", ZkWatchKind::NodeDeleted),
                (
                    B0,
                    format!("{:?}", Message::ZkSessionExpired { session_id: s0 })
                ),
            ]
        );
        assert_eq!(out.events.len(), 1);
        assert!(h.zk.get("/brokers/ids/0").is_none());
        assert!(h.zk.get("/controller").is_none());
        assert!(
            h.zk.get("/brokers/ids/1").is_some(),
            "another session's ephemeral stays"
        );
        assert_eq!(h.zk.sessions(), vec![(s1, B1)]);
    }

    #[test]
    fn an_expired_or_unknown_session_is_refused() {
        let mut h = Harness::new();
        let s0 = h.connect(B0, 6_000);
        h.advance_to(7_000);
        assert!(h.zk.sessions().is_empty());
        let op = ZkOp::Create {
            path: "/controller".into(),
            data: ZkData::Controller { broker_id: 0 },
            ephemeral: true,
        };
        assert_eq!(h.request(B0, s0, op.clone()).0, ZkResult::SessionExpired);
        assert_eq!(h.request(B0, 42, op).0, ZkResult::SessionExpired);
        assert!(
            h.zk.get("/controller").is_none(),
            "a refused request does nothing"
        );
        assert!(
            matches!(h.ping(B0, s0), Message::ZkSessionExpired { session_id } if session_id == s0)
        );
        assert!(matches!(
            h.ping(B0, 42),
            Message::ZkSessionExpired { session_id: 42 }
        ));
    }

    #[test]
    fn another_node_cannot_use_or_refresh_a_session() {
        let mut h = Harness::new();
        let s0 = h.connect(B0, 6_000);
        h.advance_to(4_000);
        assert!(matches!(h.ping(B1, s0), Message::ZkSessionExpired { .. }));
        assert_eq!(
            h.create(B1, s0, "/controller", true),
            ZkResult::SessionExpired
        );
        h.advance_to(6_100);
        assert!(
            h.zk.sessions().is_empty(),
            "B1's ping did not refresh B0's session"
        );
    }

    #[test]
    fn watches_of_an_expired_session_are_dropped() {
        let mut h = Harness::new();
        let s0 = h.connect(B0, 6_000);
        let s1 = h.connect(B1, 60_000);
        h.create(B1, s1, "/brokers/topics/t", false);
        h.watch_data(B0, s0, "/brokers/topics/t");
        h.watch_children(B0, s0, "/brokers/topics");
        h.advance_to(6_100);
        assert_eq!(h.zk.sessions(), vec![(s1, B1)]);
        let (r, watches) = h.request(B1, s1, set("/brokers/topics/t", 1, None));
        assert_eq!(r, ZkResult::Ok { version: 1 });
        assert!(watches.is_empty());
        assert_eq!(
            h.create(B1, s1, "/brokers/topics/u", false),
            ZkResult::Created
        );
        assert!(h
            .request(
                B1,
                s1,
                ZkOp::Delete {
                    path: "/brokers/topics/u".into(),
                    version: None
                }
            )
            .1
            .is_empty());
    }

    #[test]
    fn set_data_checks_the_version_when_asked() {
        let mut h = Harness::new();
        let s = h.connect(B0, 6_000);
        let path = "/controller_epoch";
        assert_eq!(h.request(B0, s, set(path, 1, Some(0))).0, ZkResult::NoNode);
        assert_eq!(h.create(B0, s, path, false), ZkResult::Created);
        assert_eq!(h.zk.get(path), Some((&ZkData::Empty, 0)));
        assert_eq!(
            h.request(B0, s, set(path, 1, Some(0))).0,
            ZkResult::Ok { version: 1 }
        );
        // A writer that read version 0 lost the race.
        assert_eq!(
            h.request(B0, s, set(path, 9, Some(0))).0,
            ZkResult::BadVersion
        );
        assert_eq!(h.zk.get(path), Some((&ZkData::ControllerEpoch(1), 1)));
        assert_eq!(
            h.request(B0, s, set(path, 2, None)).0,
            ZkResult::Ok { version: 2 }
        );
        assert_eq!(
            h.request(B0, s, set(path, 3, Some(2))).0,
            ZkResult::Ok { version: 3 }
        );
        let (r, _) = h.request(
            B0,
            s,
            ZkOp::GetData {
                path: path.into(),
                watch: false,
            },
        );
        assert_eq!(
            r,
            ZkResult::Data {
                data: ZkData::ControllerEpoch(3),
                version: 3
            }
        );
    }

    #[test]
    fn create_needs_a_persistent_parent_and_a_free_valid_path() {
        let mut h = Harness::new();
        let s = h.connect(B0, 6_000);
        assert_eq!(h.create(B0, s, "/a/b", false), ZkResult::NoNode);
        assert_eq!(h.create(B0, s, "/brokers", false), ZkResult::NodeExists);
        assert_eq!(h.create(B0, s, "/", false), ZkResult::NodeExists);
        assert_eq!(h.create(B0, s, "/controller", true), ZkResult::Created);
        assert_eq!(h.create(B0, s, "/controller/x", false), ZkResult::NoNode);
        for bad in [
            "",
            "brokers/x",
            "/brokers/",
            "/brokers//x",
            "/brokers/./x",
            "/brokers/..",
            "/a\0",
        ] {
            assert_eq!(h.create(B0, s, bad, false), ZkResult::NoNode, "{bad:?}");
        }
        assert_eq!(h.zk.children("/"), vec!["brokers", "controller"]);
        assert_eq!(h.zk.children("/brokers"), vec!["ids", "topics"]);
    }

    #[test]
    fn children_come_sorted() {
        let mut h = Harness::new();
        let s = h.connect(B0, 6_000);
        for id in ["2", "10", "1"] {
            h.create(B0, s, &format!("/brokers/ids/{id}"), true);
        }
        h.create(B0, s, "/brokers/idsx", false);
        let (r, _) = h.request(
            B0,
            s,
            ZkOp::GetChildren {
                path: "/brokers/ids".into(),
                watch: false,
            },
        );
        assert_eq!(
            r,
            ZkResult::Children(vec!["1".into(), "10".into(), "2".into()])
        );
        let (r, _) = h.request(
            B0,
            s,
            ZkOp::GetChildren {
                path: "/nope".into(),
                watch: true,
            },
        );
        assert_eq!(r, ZkResult::NoNode);
    }

    #[test]
    fn child_watches_fire_on_create_and_delete_and_only_once() {
        let mut h = Harness::new();
        let s0 = h.connect(B0, 6_000);
        let s1 = h.connect(B1, 6_000);
        h.watch_children(B1, s1, "/brokers/ids");
        let (r, watches) = h.request(
            B0,
            s0,
            ZkOp::Create {
                path: "/brokers/ids/0".into(),
                data: ZkData::Broker { broker_id: 0 },
                ephemeral: true,
            },
        );
        assert_eq!(r, ZkResult::Created);
        assert_eq!(
            shown(&watches),
            vec![watch(
                B1,
                s1,
                "/brokers/ids",
                ZkWatchKind::NodeChildrenChanged
            )]
        );
        // One-shot: the next child change is not reported until the watch is set again.
        let (_, watches) = h.request(
            B0,
            s0,
            ZkOp::Delete {
                path: "/brokers/ids/0".into(),
                version: None,
            },
        );
        assert!(watches.is_empty());
        h.create(B0, s0, "/brokers/ids/0", true);
        h.watch_children(B1, s1, "/brokers/ids");
        // Data changes are not child changes.
        h.request(B0, s0, set("/brokers/ids/0", 5, None));
        let (r, watches) = h.request(
            B0,
            s0,
            ZkOp::Delete {
                path: "/brokers/ids/0".into(),
                version: None,
            },
        );
        assert_eq!(r, ZkResult::Ok { version: 1 });
        assert_eq!(
            shown(&watches),
            vec![watch(
                B1,
                s1,
                "/brokers/ids",
                ZkWatchKind::NodeChildrenChanged
            )]
        );
    }

    #[test]
    fn data_watches_are_one_shot_and_set_only_on_what_exists() {
        let mut h = Harness::new();
        let s0 = h.connect(B0, 6_000);
        let s1 = h.connect(B1, 6_000);
        let s2 = h.connect(B2, 6_000);
        // No node, no watch: its creation is not reported.
        assert_eq!(h.watch_data(B1, s1, "/controller"), ZkResult::NoNode);
        let (_, watches) = h.request(
            B0,
            s0,
            ZkOp::Create {
                path: "/controller".into(),
                data: ZkData::Controller { broker_id: 0 },
                ephemeral: true,
            },
        );
        assert!(watches.is_empty());
        // Setting the same watch twice still fires once.
        h.watch_data(B1, s1, "/controller");
        h.watch_data(B1, s1, "/controller");
        h.watch_data(B2, s2, "/controller");
        let (_, watches) = h.request(B0, s0, set("/controller", 0, None));
        assert_eq!(
            shown(&watches),
            vec![
                watch(B1, s1, "/controller", ZkWatchKind::NodeDataChanged),
                watch(B2, s2, "/controller", ZkWatchKind::NodeDataChanged),
            ]
        );
        let (_, watches) = h.request(B0, s0, set("/controller", 0, None));
        assert!(watches.is_empty(), "fired once, then gone");
        h.watch_data(B1, s1, "/controller");
        let (_, watches) = h.request(
            B0,
            s0,
            ZkOp::Delete {
                path: "/controller".into(),
                version: Some(2),
            },
        );
        assert_eq!(
            shown(&watches),
            vec![watch(B1, s1, "/controller", ZkWatchKind::NodeDeleted)]
        );
    }

    #[test]
    fn the_watcher_hears_of_its_own_change_before_the_response() {
        let mut h = Harness::new();
        let s = h.connect(B0, 6_000);
        h.create(B0, s, "/controller_epoch", false);
        h.watch_data(B0, s, "/controller_epoch");
        let out = h.send(
            B0,
            Message::ZkRequest {
                session_id: s,
                xid: 7,
                op: set("/controller_epoch", 1, Some(0)),
            },
        );
        assert_eq!(
            shown(&out.messages),
            vec![
                watch(B0, s, "/controller_epoch", ZkWatchKind::NodeDataChanged),
                (
                    B0,
                    format!(
                        "{:?}",
                        Message::ZkResponse {
                            xid: 7,
                            result: ZkResult::Ok { version: 1 }
                        }
                    )
                ),
            ]
        );
    }

    #[test]
    fn delete_checks_version_and_children_and_tells_a_session_once() {
        let mut h = Harness::new();
        let s0 = h.connect(B0, 6_000);
        let s1 = h.connect(B1, 6_000);
        h.create(B0, s0, "/brokers/topics/t", false);
        h.create(B0, s0, "/brokers/topics/t/partitions", false);
        let delete = |path: &str, version| ZkOp::Delete {
            path: path.into(),
            version,
        };
        assert_eq!(h.request(B0, s0, delete("/nope", None)).0, ZkResult::NoNode);
        assert_eq!(h.request(B0, s0, delete("/", None)).0, ZkResult::NodeExists);
        // ZooKeeper's NotEmpty.
        assert_eq!(
            h.request(B0, s0, delete("/brokers/topics/t", None)).0,
            ZkResult::NodeExists
        );
        assert_eq!(
            h.request(B0, s0, delete("/brokers/topics/t/partitions", Some(3)))
                .0,
            ZkResult::BadVersion
        );
        // B1 watches the znode's data and children, and its parent's children.
        h.watch_data(B1, s1, "/brokers/topics/t/partitions");
        h.watch_children(B1, s1, "/brokers/topics/t/partitions");
        h.watch_children(B1, s1, "/brokers/topics/t");
        let (r, watches) = h.request(B0, s0, delete("/brokers/topics/t/partitions", Some(0)));
        assert_eq!(r, ZkResult::Ok { version: 0 });
        assert_eq!(
            shown(&watches),
            vec![
                watch(
                    B1,
                    s1,
                    "/brokers/topics/t/partitions",
                    ZkWatchKind::NodeDeleted
                ),
                watch(
                    B1,
                    s1,
                    "/brokers/topics/t",
                    ZkWatchKind::NodeChildrenChanged
                ),
            ]
        );
        assert!(h.zk.get("/brokers/topics/t/partitions").is_none());
        assert_eq!(
            h.request(B0, s0, delete("/brokers/topics/t", Some(0))).0,
            ZkResult::Ok { version: 0 }
        );
    }

    #[test]
    fn a_child_watch_alone_hears_of_its_znodes_deletion() {
        let mut h = Harness::new();
        let s0 = h.connect(B0, 6_000);
        let s1 = h.connect(B1, 6_000);
        h.create(B0, s0, "/brokers/topics/t", false);
        h.watch_children(B1, s1, "/brokers/topics/t");
        let (_, watches) = h.request(
            B0,
            s0,
            ZkOp::Delete {
                path: "/brokers/topics/t".into(),
                version: None,
            },
        );
        assert_eq!(
            shown(&watches),
            vec![watch(B1, s1, "/brokers/topics/t", ZkWatchKind::NodeDeleted)]
        );
    }

    #[test]
    fn a_restart_keeps_the_tree_and_gives_every_session_a_fresh_timeout() {
        let mut h = Harness::new();
        let s0 = h.connect(B0, 6_000);
        h.create(B0, s0, "/brokers/ids/0", true);
        h.advance_to(5_000);
        // Down from 5000 to 20_050: far past the deadline, but the clock restarts at 20_050
        // and the ticks count from there.
        let mut h = Harness::starting(h.zk, 20_050);
        assert_eq!(h.next_tick_ms, 20_150);
        assert!(h.advance_to(26_050).is_empty());
        assert_eq!(h.zk.sessions(), vec![(s0, B0)]);
        let out = h.advance_to(26_150);
        assert_eq!(out.events.len(), 1);
        assert!(h.zk.get("/brokers/ids/0").is_none());
    }

    #[derive(Clone, Debug)]
    enum Step {
        Connect(u8),
        Ping(u8, u64),
        Request(u8, u64, ZkOp),
        Wait(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        let path = prop::sample::select(vec![
            "/",
            "/brokers",
            "/brokers/ids",
            "/brokers/ids/0",
            "/brokers/ids/1",
            "/controller",
            "/controller/x",
            "/a",
            "/a/b",
        ])
        .prop_map(str::to_string);
        let version = prop::option::of(0..3i32);
        let op = prop_oneof![
            (path.clone(), any::<bool>()).prop_map(|(path, ephemeral)| ZkOp::Create {
                path,
                data: ZkData::Empty,
                ephemeral
            }),
            (path.clone(), version.clone()).prop_map(|(path, version)| ZkOp::SetData {
                path,
                data: ZkData::Empty,
                version
            }),
            (path.clone(), any::<bool>()).prop_map(|(path, watch)| ZkOp::GetData { path, watch }),
            (path.clone(), any::<bool>())
                .prop_map(|(path, watch)| ZkOp::GetChildren { path, watch }),
            (path, version).prop_map(|(path, version)| ZkOp::Delete { path, version }),
        ];
        prop_oneof![
            (0..3u8).prop_map(Step::Connect),
            (0..3u8, 1..6u64).prop_map(|(n, s)| Step::Ping(n, s)),
            (0..3u8, 1..6u64, op).prop_map(|(n, s, op)| Step::Request(n, s, op)),
            (0..8_000u64).prop_map(Step::Wait),
        ]
    }

    proptest! {
        /// Whatever clients do, the tree stays a tree, every ephemeral belongs to a live
        /// session, every request is answered exactly once, and every watch message goes to
        /// the owner of a session that set that watch.
        #[test]
        fn random_clients_keep_the_server_consistent(steps in prop::collection::vec(step(), 1..80)) {
            let mut h = Harness::new();
            // (session, path) pairs with a live watch of either kind, by what the clients did.
            let mut watched: BTreeSet<(u64, String)> = BTreeSet::new();
            for step in steps {
                // A session may expire in the same step as the watch it receives fires (the
                // ephemeral of a session that expired first): judge by the owners before it.
                let owners: BTreeMap<u64, NodeId> =
                    h.zk.sessions.iter().map(|(id, s)| (*id, s.owner)).collect();
                let out = match step {
                    Step::Connect(n) => {
                        h.connect(NodeId::Broker(n.into()), 6_000);
                        continue;
                    }
                    Step::Ping(n, s) => {
                        h.ping(NodeId::Broker(n.into()), s);
                        continue;
                    }
                    Step::Wait(ms) => h.advance_to(h.now_ms + ms).messages,
                    Step::Request(n, s, op) => {
                        let who = NodeId::Broker(n.into());
                        let watch = match &op {
                            ZkOp::GetData { path, watch: true } | ZkOp::GetChildren { path, watch: true } => Some(path.clone()),
                            _ => None,
                        };
                        let (result, watches) = h.request(who, s, op);
                        if let Some(path) = watch {
                            if !matches!(result, ZkResult::NoNode | ZkResult::SessionExpired) {
                                watched.insert((s, path));
                            }
                        }
                        watches
                    }
                };
                for (to, m) in out {
                    if let Message::ZkWatch { session_id, path, .. } = m {
                        prop_assert!(watched.contains(&(session_id, path.clone())), "{session_id} {path}");
                        prop_assert_eq!(owners.get(&session_id).copied(), Some(to));
                    }
                }
                prop_assert!(h.zk.invariants_hold());
            }
        }
    }
}
