//! The znode tree and the operations on it: create, set, get, get children, delete, with
//! ZooKeeper's versions and the watches each operation triggers.

use super::watch::WatchType;
use super::{ZkTimer, ZooKeeper};
use crate::actor::Output;
use crate::protocol::{ZkData, ZkOp, ZkResult, ZkWatchKind};
use std::collections::BTreeSet;

/// The root znode; it always exists and cannot be deleted.
pub(super) const ROOT: &str = "/";

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Znode {
    pub(super) data: ZkData,
    /// ZooKeeper's `dataVersion`: 0 at creation, one more at every `SetData`.
    pub(super) version: i32,
    /// The session that created an ephemeral znode; `None` for a persistent one.
    pub(super) ephemeral_owner: Option<u64>,
    /// ZooKeeper's `cversion`: one more at every child created or deleted. A sequential
    /// child is named after its parent's.
    pub(super) child_version: i32,
}

impl Znode {
    pub(super) fn persistent(data: ZkData) -> Znode {
        Znode {
            data,
            version: 0,
            ephemeral_owner: None,
            child_version: 0,
        }
    }
}

/// Whether `path` is a ZooKeeper path: absolute, no empty, `.` or `..` segment, no trailing
/// slash (except the root itself), no NUL.
pub(super) fn valid_path(path: &str) -> bool {
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
pub(super) fn parent(path: &str) -> &str {
    assert!(valid_path(path) && path != ROOT, "parent of {path:?}");
    match path.rfind('/') {
        Some(0) => ROOT,
        Some(i) => &path[..i],
        None => unreachable!("a valid path starts with '/'"),
    }
}

impl ZooKeeper {
    pub(super) fn apply(
        &mut self,
        session_id: u64,
        op: ZkOp,
        out: &mut Output<ZkTimer>,
    ) -> ZkResult {
        match op {
            ZkOp::Create {
                path,
                data,
                ephemeral,
            } => self.create(session_id, path, data, ephemeral, out),
            ZkOp::CreateSequential { path_prefix, data } => {
                self.create_sequential(session_id, &path_prefix, data, out)
            }
            ZkOp::SetData {
                path,
                data,
                version,
            } => self.set_data(&path, data, version, out),
            ZkOp::GetData { path, watch } => self.get_data(session_id, &path, watch),
            ZkOp::GetChildren { path, watch } => self.get_children(session_id, &path, watch),
            ZkOp::Delete { path, version } => self.delete(&path, version, out),
            ZkOp::CloseSession => unreachable!("a session's close is handled by its session"),
        }
    }

    pub(super) fn create(
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
            child_version: 0,
        };
        self.nodes.insert(path.clone(), znode);
        self.bump_child_version(&parent_path);
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

    /// ZooKeeper's `PERSISTENT_SEQUENTIAL` create: the name is `path_prefix` followed by the
    /// parent's child version, zero-padded to ten digits (`PrepRequestProcessor`), so
    /// sequential children sort in creation order.
    pub(super) fn create_sequential(
        &mut self,
        session_id: u64,
        path_prefix: &str,
        data: ZkData,
        out: &mut Output<ZkTimer>,
    ) -> ZkResult {
        if !valid_path(path_prefix) || path_prefix == ROOT {
            return ZkResult::NoNode;
        }
        let Some(parent_node) = self.nodes.get(parent(path_prefix)) else {
            return ZkResult::NoNode;
        };
        let path = format!("{path_prefix}{:010}", parent_node.child_version);
        self.create(session_id, path, data, false, out)
    }

    /// A child of `parent_path` was created or deleted.
    pub(super) fn bump_child_version(&mut self, parent_path: &str) {
        let parent_node = self.nodes.get_mut(parent_path).expect("the parent exists");
        // A Java int in ZooKeeper too.
        parent_node.child_version = parent_node.child_version.wrapping_add(1);
    }

    pub(super) fn set_data(
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

    pub(super) fn get_data(&mut self, session_id: u64, path: &str, watch: bool) -> ZkResult {
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

    pub(super) fn get_children(&mut self, session_id: u64, path: &str, watch: bool) -> ZkResult {
        if !self.nodes.contains_key(path) {
            return ZkResult::NoNode;
        }
        if watch {
            self.add_watch(path, WatchType::Child, session_id);
        }
        ZkResult::Children(self.children(path))
    }

    /// Deletes a childless znode; `Ok` carries the version it had.
    pub(super) fn delete(
        &mut self,
        path: &str,
        version: Option<i32>,
        out: &mut Output<ZkTimer>,
    ) -> ZkResult {
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
        self.bump_child_version(parent(path));
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
}
