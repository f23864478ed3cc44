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

mod session;
mod tree;
mod watch;

use crate::actor::{Actor, Output};
use crate::protocol::{Message, ZkData};
use crate::types::NodeId;
use session::Session;
use std::collections::{BTreeMap, BTreeSet};
use tree::{parent, valid_path, Znode, ROOT};
use watch::WatchType;

/// How often the server looks for expired sessions, counted from its start.
pub const TICK_MS: u64 = 100;

/// ZooKeeper's default `tickTime`, from which the session timeout bounds derive.
pub const ZOOKEEPER_TICK_TIME_MS: u64 = 3_000;

/// ZooKeeper's default `minSessionTimeout`: 2 × `tickTime`.
pub const MIN_SESSION_TIMEOUT_MS: u64 = 2 * ZOOKEEPER_TICK_TIME_MS;

/// ZooKeeper's default `maxSessionTimeout`: 20 × `tickTime`.
pub const MAX_SESSION_TIMEOUT_MS: u64 = 20 * ZOOKEEPER_TICK_TIME_MS;

/// The persistent znodes Kafka's brokers create at startup (`ZkData.PersistentZkPaths`, as far
/// as the simulator uses them). `/controller_epoch` is not among them: the first controller
/// creates it.
const KAFKA_PATHS: [&str; 4] = [
    "/brokers",
    "/brokers/ids",
    "/brokers/topics",
    "/isr_change_notification",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkTimer {
    /// Look for sessions whose timeout has passed.
    Tick,
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
    /// `/brokers/ids`, `/brokers/topics`, `/isr_change_notification`), so the brokers' own
    /// requests can start from there.
    pub fn with_kafka_paths() -> ZooKeeper {
        let mut zk = ZooKeeper::new();
        for path in KAFKA_PATHS {
            assert!(
                zk.nodes.contains_key(parent(path)),
                "{path} needs its parent"
            );
            zk.nodes
                .insert(path.to_string(), Znode::persistent(ZkData::Empty));
            zk.bump_child_version(parent(path));
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
            Message::ZkConnect(request) => self.connect(now_ms, from, request, out),
            Message::ZkPing(ping) => self.on_ping(now_ms, from, ping, out),
            Message::ZkRequest(request) => self.on_request(now_ms, from, request, out),
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
mod tests;
