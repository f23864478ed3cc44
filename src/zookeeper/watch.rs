//! One-shot watches: set by a successful read, fired and removed by the change they watch.

use super::{ZkTimer, ZooKeeper};
use crate::actor::Output;
use crate::protocol::{Message, ZkWatch, ZkWatchKind};
use std::collections::BTreeSet;

/// ZooKeeper keeps data watches and child watches in two separate tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum WatchType {
    Data,
    Child,
}

impl ZooKeeper {
    pub(super) fn add_watch(&mut self, path: &str, kind: WatchType, session_id: u64) {
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
    pub(super) fn trigger(
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
                Message::ZkWatch(ZkWatch {
                    session_id: *session_id,
                    path: path.to_string(),
                    kind: event,
                }),
            );
            told.insert(*session_id);
        }
        told
    }
}
