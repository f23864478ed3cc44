//! Sessions: opened by a connect, kept alive by whatever their owner sends, expired on the
//! first tick after their deadline, taking their ephemeral znodes and watches with them.

use super::{negotiated_session_timeout_ms, ZkTimer, ZooKeeper};
use crate::actor::Output;
use crate::event::Event;
use crate::protocol::{
    Message, ZkConnect, ZkConnected, ZkOp, ZkPing, ZkPong, ZkRequest, ZkResponse, ZkResult,
    ZkSessionExpired,
};
use crate::types::NodeId;

#[derive(Clone, Debug)]
pub(super) struct Session {
    /// The node that connected; only its messages carry this session.
    pub(super) owner: NodeId,
    /// The negotiated timeout.
    pub(super) timeout_ms: u64,
    pub(super) last_heard_ms: u64,
}

impl Session {
    pub(super) fn expired(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_heard_ms) > self.timeout_ms
    }
}

impl ZooKeeper {
    pub(super) fn connect(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: ZkConnect,
        out: &mut Output<ZkTimer>,
    ) {
        let requested_ms = request.session_timeout_ms;
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
            Message::ZkConnected(ZkConnected {
                session_id,
                session_timeout_ms: timeout_ms,
            }),
        );
    }

    /// A ping keeps a live session alive; a ping for a session that is gone is told so.
    pub(super) fn on_ping(
        &mut self,
        now_ms: u64,
        from: NodeId,
        ping: ZkPing,
        out: &mut Output<ZkTimer>,
    ) {
        let ZkPing { session_id } = ping;
        if self.touch(now_ms, session_id, from) {
            out.send(from, Message::ZkPong(ZkPong { session_id }));
        } else {
            out.send(
                from,
                Message::ZkSessionExpired(ZkSessionExpired { session_id }),
            );
        }
    }

    /// Applies a live session's operation and answers it; an expired or foreign session's
    /// operation is answered `SessionExpired` and applies nothing.
    pub(super) fn on_request(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: ZkRequest,
        out: &mut Output<ZkTimer>,
    ) {
        let ZkRequest {
            session_id,
            xid,
            op,
        } = request;
        let result = if !self.touch(now_ms, session_id, from) {
            ZkResult::SessionExpired
        } else if op == ZkOp::CloseSession {
            self.close(session_id, out);
            ZkResult::Ok { version: 0 }
        } else {
            self.apply(session_id, op, out)
        };
        out.send(from, Message::ZkResponse(ZkResponse { xid, result }));
    }

    /// Refreshes a session if `from` owns it; false if the session is unknown (expired or
    /// never created) or belongs to another node.
    pub(super) fn touch(&mut self, now_ms: u64, session_id: u64, from: NodeId) -> bool {
        match self.sessions.get_mut(&session_id) {
            Some(s) if s.owner == from => {
                s.last_heard_ms = s.last_heard_ms.max(now_ms);
                true
            }
            _ => false,
        }
    }

    pub(super) fn expire_sessions(&mut self, now_ms: u64, out: &mut Output<ZkTimer>) {
        let expired: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.expired(now_ms))
            .map(|(id, _)| *id)
            .collect();
        // Every session that expires on this tick is closing before any of them is closed:
        // ZooKeeper's `SessionTrackerImpl.run` marks each one closing as it expires it, and an
        // expired session's connection is gone (`NIOServerCnxnFactory` closes a connection
        // idle for the session timeout; `ZKDatabase.removeCnxn` then drops its watches with
        // `WatchManager.removeWatcher`). So none of them hears of another's ephemeral deletes.
        for &session_id in &expired {
            self.remove_watches_of(session_id);
        }
        for session_id in expired {
            self.expire(session_id, out);
        }
    }

    /// Drops every watch `session_id` holds, of either type.
    fn remove_watches_of(&mut self, session_id: u64) {
        for sessions in self.watches.values_mut() {
            sessions.remove(&session_id);
        }
        self.watches.retain(|_, sessions| !sessions.is_empty());
    }

    /// Closes a session: its ephemeral znodes go (in path order, firing the watches that
    /// triggers for other sessions), its own watches go, and its owner is told.
    pub(super) fn expire(&mut self, session_id: u64, out: &mut Output<ZkTimer>) {
        let session = self.end_session(session_id, out);
        out.send(
            session.owner,
            Message::ZkSessionExpired(ZkSessionExpired { session_id }),
        );
        out.event(Event::ZkSessionExpired {
            node: session.owner,
            session_id,
            timeout_ms: session.timeout_ms,
        });
    }

    /// The owner closes its session (ZooKeeper's `PrepRequestProcessor` on
    /// `OpCode.closeSession`): its ephemeral znodes go at once, as at an expiry, but nobody
    /// waited for a timeout.
    fn close(&mut self, session_id: u64, out: &mut Output<ZkTimer>) {
        let session = self.end_session(session_id, out);
        out.event(Event::ZkSessionClosed {
            node: session.owner,
            session_id,
        });
    }

    /// Ends a live session: its watches, then its ephemeral znodes, in path order.
    fn end_session(&mut self, session_id: u64, out: &mut Output<ZkTimer>) -> Session {
        let session = self
            .sessions
            .remove(&session_id)
            .expect("end a live session");
        // The session's own watches die with it, before its deletes can trigger them.
        self.remove_watches_of(session_id);
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
        session
    }
}
