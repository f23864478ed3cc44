//! ZooKeeper's semantics checked one rule at a time, and a property test driving random
//! operations against the invariants.

use super::*;
use crate::event::Event;
use crate::protocol::{
    ZkConnect, ZkConnected, ZkOp, ZkPing, ZkPong, ZkRequest, ZkResponse, ZkResult,
    ZkSessionExpired, ZkWatch, ZkWatchKind,
};
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
            Message::ZkConnect(ZkConnect {
                session_timeout_ms: timeout_ms,
            }),
        );
        match out.messages.as_slice() {
            [(to, Message::ZkConnected(ZkConnected { session_id, .. }))] if *to == who => {
                *session_id
            }
            other => panic!("{other:?}"),
        }
    }

    fn ping(&mut self, who: NodeId, session_id: u64) -> Message {
        let mut out = self.send(who, Message::ZkPing(ZkPing { session_id }));
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
            Message::ZkRequest(ZkRequest {
                session_id,
                xid,
                op,
            }),
        );
        let (to, response) = out.messages.pop().expect("a response");
        assert_eq!(to, who);
        let Message::ZkResponse(ZkResponse { xid: got, result }) = response else {
            panic!("the response comes last: {response:?}");
        };
        assert_eq!(got, xid);
        assert!(out
            .messages
            .iter()
            .all(|(_, m)| matches!(m, Message::ZkWatch(_))));
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
    let m = Message::ZkWatch(ZkWatch {
        session_id,
        path: path.into(),
        kind,
    });
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
    assert_eq!(zk.children("/"), vec!["brokers", "isr_change_notification"]);
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
            Message::ZkConnect(ZkConnect {
                session_timeout_ms: asked,
            }),
        );
        assert!(matches!(
            out.messages[0].1,
            Message::ZkConnected(ZkConnected { session_timeout_ms, .. }) if session_timeout_ms == granted
        ));
    }
}

#[test]
fn pings_keep_a_session_alive() {
    let mut h = Harness::new();
    let s = h.connect(B0, 6_000);
    for t in (2_000..=60_000).step_by(2_000) {
        assert!(h.advance_to(t).is_empty());
        assert!(matches!(h.ping(B0, s), Message::ZkPong(ZkPong { session_id }) if session_id == s));
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
                format!(
                    "{:?}",
                    Message::ZkSessionExpired(ZkSessionExpired { session_id: s0 })
                )
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
        matches!(h.ping(B0, s0), Message::ZkSessionExpired(ZkSessionExpired { session_id }) if session_id == s0)
    );
    assert!(matches!(
        h.ping(B0, 42),
        Message::ZkSessionExpired(ZkSessionExpired { session_id: 42 })
    ));
}

#[test]
fn another_node_cannot_use_or_refresh_a_session() {
    let mut h = Harness::new();
    let s0 = h.connect(B0, 6_000);
    h.advance_to(4_000);
    assert!(matches!(h.ping(B1, s0), Message::ZkSessionExpired(_)));
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

/// Once failed by the property test below: sessions that expire on the same tick were closed
/// one after the other, and the first one's ephemeral deletes fired the watch of the second,
/// already past its deadline.
#[test]
fn sessions_expiring_on_one_tick_hear_nothing_of_each_other() {
    let mut h = Harness::new();
    let s0 = h.connect(B0, 6_000);
    let s1 = h.connect(B1, 6_000);
    h.create(B0, s0, "/brokers/ids/0", true);
    h.watch_data(B1, s1, "/brokers/ids/0");
    h.watch_children(B1, s1, "/brokers/ids");
    let out = h.advance_to(6_100);
    assert!(
        h.zk.sessions().is_empty(),
        "both expired on the tick at 6100"
    );
    assert!(h.zk.get("/brokers/ids/0").is_none());
    assert!(
        !out.messages
            .iter()
            .any(|(_, m)| matches!(m, Message::ZkWatch(_))),
        "a session past its deadline is told nothing: {:?}",
        shown(&out.messages)
    );
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
    assert_eq!(
        h.zk.children("/"),
        vec!["brokers", "controller", "isr_change_notification"]
    );
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
fn sequential_children_are_named_after_the_parents_child_version() {
    let mut h = Harness::new();
    let s = h.connect(B0, 6_000);
    let sequential = |h: &mut Harness, prefix: &str| {
        let op = ZkOp::CreateSequential {
            path_prefix: prefix.into(),
            data: ZkData::Empty,
        };
        h.request(B0, s, op).0
    };
    let dir = "/isr_change_notification";
    assert_eq!(
        sequential(&mut h, "/isr_change_notification/isr_change_"),
        ZkResult::Created
    );
    assert_eq!(
        sequential(&mut h, "/isr_change_notification/isr_change_"),
        ZkResult::Created
    );
    assert_eq!(
        h.zk.children(dir),
        vec!["isr_change_0000000000", "isr_change_0000000001"]
    );
    // A delete counts as a child change too: the next name does not reuse a number.
    let (r, _) = h.request(
        B0,
        s,
        ZkOp::Delete {
            path: format!("{dir}/isr_change_0000000000"),
            version: None,
        },
    );
    assert_eq!(r, ZkResult::Ok { version: 0 });
    assert_eq!(
        sequential(&mut h, "/isr_change_notification/isr_change_"),
        ZkResult::Created
    );
    assert_eq!(
        h.zk.children(dir),
        vec!["isr_change_0000000001", "isr_change_0000000003"]
    );
    // Under a parent that does not exist, or without a name: nothing is created.
    assert_eq!(sequential(&mut h, "/nope/x_"), ZkResult::NoNode);
    assert_eq!(sequential(&mut h, "/"), ZkResult::NoNode);
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
        Message::ZkRequest(ZkRequest {
            session_id: s,
            xid: 7,
            op: set("/controller_epoch", 1, Some(0)),
        }),
    );
    assert_eq!(
        shown(&out.messages),
        vec![
            watch(B0, s, "/controller_epoch", ZkWatchKind::NodeDataChanged),
            (
                B0,
                format!(
                    "{:?}",
                    Message::ZkResponse(ZkResponse {
                        xid: 7,
                        result: ZkResult::Ok { version: 1 }
                    })
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
        path.clone().prop_map(|path_prefix| ZkOp::CreateSequential {
            path_prefix,
            data: ZkData::Empty,
        }),
        (path.clone(), version.clone()).prop_map(|(path, version)| ZkOp::SetData {
            path,
            data: ZkData::Empty,
            version
        }),
        (path.clone(), any::<bool>()).prop_map(|(path, watch)| ZkOp::GetData { path, watch }),
        (path.clone(), any::<bool>()).prop_map(|(path, watch)| ZkOp::GetChildren { path, watch }),
        (path, version).prop_map(|(path, version)| ZkOp::Delete { path, version }),
    ];
    prop_oneof![
        (0..3u8).prop_map(Step::Connect),
        (0..3u8, 1..6u64).prop_map(|(n, s)| Step::Ping(n, s)),
        (0..3u8, 1..6u64, op).prop_map(|(n, s, op)| Step::Request(n, s, op)),
        (0..8_000u64).prop_map(Step::Wait),
    ]
}

/// Checks one batch of server output (a request's, or one tick's) against the watches the
/// clients set: every watch message goes to the owner of a session that was live before the
/// batch and set that watch, and never to a session this batch expires (a session past its
/// deadline is told nothing, however many expire on the same tick).
fn check_watch_messages(
    owners: &BTreeMap<u64, NodeId>,
    watched: &BTreeSet<(u64, String)>,
    messages: &[(NodeId, Message)],
) -> Result<(), TestCaseError> {
    let expired: BTreeSet<u64> = messages
        .iter()
        .filter_map(|(_, m)| match m {
            Message::ZkSessionExpired(ZkSessionExpired { session_id }) => Some(*session_id),
            _ => None,
        })
        .collect();
    for (to, m) in messages {
        if let Message::ZkWatch(ZkWatch {
            session_id, path, ..
        }) = m
        {
            prop_assert!(
                watched.contains(&(*session_id, path.clone())),
                "{session_id} {path}"
            );
            prop_assert_eq!(owners.get(session_id).copied(), Some(*to));
            prop_assert!(
                !expired.contains(session_id),
                "{session_id} expired on this tick"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::proptest_config::fixed_seed())]

    /// Whatever clients do, the tree stays a tree, every ephemeral belongs to a live
    /// session, every request is answered exactly once, and every watch message goes to
    /// the owner of a session that set that watch and has not expired.
    #[test]
    fn random_clients_keep_the_server_consistent(steps in prop::collection::vec(step(), 1..80)) {
        let mut h = Harness::new();
        // (session, path) pairs with a live watch of either kind, by what the clients did.
        let mut watched: BTreeSet<(u64, String)> = BTreeSet::new();
        let owners_now = |h: &Harness| -> BTreeMap<u64, NodeId> {
            h.zk.sessions.iter().map(|(id, s)| (*id, s.owner)).collect()
        };
        for step in steps {
            match step {
                Step::Connect(n) => {
                    h.connect(NodeId::Broker(n.into()), 6_000);
                }
                Step::Ping(n, s) => {
                    h.ping(NodeId::Broker(n.into()), s);
                }
                Step::Wait(ms) => {
                    // Tick by tick, so that each tick's expiries are judged on their own.
                    let until = h.now_ms + ms;
                    while h.next_tick_ms <= until {
                        let owners = owners_now(&h);
                        let tick_ms = h.next_tick_ms;
                        let out = h.advance_to(tick_ms);
                        check_watch_messages(&owners, &watched, &out.messages)?;
                    }
                    h.advance_to(until);
                }
                Step::Request(n, s, op) => {
                    let owners = owners_now(&h);
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
                    check_watch_messages(&owners, &watched, &watches)?;
                }
            }
            prop_assert!(h.zk.invariants_hold());
        }
    }
}
