//! The classic consumer-group protocol: the model's [`GroupCoordinator`] against one shard of
//! Kafka's group coordinator (`GroupCoordinatorShard`, `GroupMetadataManager`, `ClassicGroup`).
//!
//! A case is a story of up to four clients and one group `g`: JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup and OffsetCommit requests, the clock moving (session timeouts,
//! rebalance timeouts, the initial rebalance delay), and the coordinator's pending writes to
//! `__consumer_offsets` completing, successfully or with a produce error. Requests do not
//! name member ids or generations outright: each client uses what its last JoinGroup answer
//! told it (`current`), or an older generation (`stale`), no member id (`new`) or one nobody
//! was given (`unknown`), so the random stories reach the rebalance paths a real group takes.
//!
//! The answer, after every step: the responses that completed in it (client, request, error,
//! and what a JoinGroup or SyncGroup answer carries) and the group's state, generation,
//! protocol, leader and members. Member ids are random in Kafka, so both sides name them
//! `c<client>.<n>`: the n-th id client k was handed.
//!
//! Half the cases send JoinGroup version 3, where a new member is admitted at once, half
//! version 9, Kafka 3.7's: from version 4 (KIP-394, Kafka 2.2) a new member is first handed
//! its id with `MEMBER_ID_REQUIRED` and admitted when it joins again with it.

use super::Rule;
use kafka_model::assignor::Strategy;
use kafka_model::coordinator::{
    CoordinatorConfig, CoordinatorOutput, CoordinatorRequest, GroupCoordinator, GroupTimer,
};
use kafka_model::protocol::*;
use kafka_model::{ErrorCode, NodeId, TopicPartition};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(super) struct Groups;

const GROUP: &str = "g";
const MIN_SESSION_TIMEOUT_MS: u64 = 6_000;
const MAX_SESSION_TIMEOUT_MS: u64 = 1_800_000;

#[derive(Serialize)]
pub(super) struct Case {
    join_version: u16,
    initial_rebalance_delay_ms: u64,
    min_session_timeout_ms: u64,
    max_session_timeout_ms: u64,
    ops: Vec<Op>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Join {
        client: u32,
        member: String,
        topics: Vec<String>,
        protocols: Vec<String>,
        session_timeout_ms: u64,
        rebalance_timeout_ms: u64,
    },
    Sync {
        client: u32,
        generation: String,
        assign: bool,
    },
    Heartbeat {
        client: u32,
        generation: String,
    },
    Leave {
        client: u32,
    },
    Commit {
        client: u32,
        generation: String,
        offset: u64,
    },
    Advance {
        ms: u64,
    },
    Appends {
        error: Option<String>,
    },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Step {
    responses: Vec<Response>,
    group: GroupView,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Response {
    client: u32,
    api: String,
    error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generation: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    member: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leader: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    members: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    assignment: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupView {
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generation: Option<i32>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leader: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    members: Option<Vec<String>>,
}

const PROTOCOL_CHOICES: &[&[&str]] = &[
    &["range"],
    &["range"],
    &["cooperative-sticky", "range"],
    &["cooperative-sticky"],
    &["roundrobin", "range"],
    &["sticky", "roundrobin"],
    &[],
];

const APPEND_ERRORS: &[&str] = &[
    "NOT_ENOUGH_REPLICAS",
    "NOT_LEADER_OR_FOLLOWER",
    "REQUEST_TIMED_OUT",
];

impl Rule for Groups {
    type Case = Case;
    type Answer = Vec<Step>;

    fn generate(rng: &mut ChaCha8Rng) -> Case {
        let clients = rng.gen_range(2..=4u32);
        let count = rng.gen_range(8..=40);
        let ops = (0..count).map(|_| random_op(rng, clients)).collect();
        Case {
            // Version 3 admits a new member at once; from version 4 (KIP-394) it first gets
            // its id with MEMBER_ID_REQUIRED. Kafka 3.7's consumer sends version 9.
            join_version: *[3, 9].choose(rng).expect("a version"),
            initial_rebalance_delay_ms: *[0, 0, 3_000].choose(rng).expect("a delay"),
            min_session_timeout_ms: MIN_SESSION_TIMEOUT_MS,
            max_session_timeout_ms: MAX_SESSION_TIMEOUT_MS,
            ops,
        }
    }

    /// Kafka's `ClassicGroup.remove` hands the lead to the first member of a hash map of
    /// random member ids, and `maybeElectNewJoinedLeader` to the first joined one: with two
    /// or more candidates Kafka's choice is a coin toss, and the model takes the member that
    /// joined earliest. Such a case is recognised when, at the first step that differs, the
    /// answers are equal once the leaders are erased, and each side's leader is a member.
    fn explain(case: &Case, kafka: &str) -> Option<&'static str> {
        let kafka: Vec<Step> = serde_json::from_str(kafka).ok()?;
        let model = Self::model(case);
        let (k, m) = kafka.iter().zip(&model).find(|(k, m)| k != m)?;
        let leads_own_group = |step: &Step| match (&step.group.leader, &step.group.members) {
            (Some(leader), Some(members)) => leader.is_empty() || members.contains(leader),
            _ => true,
        };
        (erase_leaders(k) == erase_leaders(m) && leads_own_group(k) && leads_own_group(m))
            .then_some(LEADER_BY_HASH_ORDER)
    }

    fn model(case: &Case) -> Vec<Step> {
        let mut play = Play::new(case);
        case.ops
            .iter()
            .map(|op| {
                play.step(op);
                let now = play.now_ms;
                play.fire_due_timers(now);
                play.finish_step()
            })
            .collect()
    }
}

/// The kinds of difference this rule recognises (see [`Groups::explain`]).
pub(super) const LEADER_BY_HASH_ORDER: &str = "group-leader-by-hash-order";

/// A step with every trace of who leads removed: the leader fields, and the member list
/// only the leader's JoinGroup answer carries.
fn erase_leaders(step: &Step) -> Step {
    Step {
        responses: step
            .responses
            .iter()
            .map(|r| Response {
                leader: None,
                members: None,
                ..r.clone()
            })
            .collect(),
        group: GroupView {
            leader: None,
            ..step.group.clone()
        },
    }
}

fn random_op(rng: &mut ChaCha8Rng, clients: u32) -> Op {
    let client = rng.gen_range(0..clients);
    let generation = if rng.gen_bool(0.85) {
        "current"
    } else {
        "stale"
    }
    .to_string();
    match rng.gen_range(0..100) {
        0..=29 => Op::Join {
            client,
            member: ["current", "current", "current", "new", "new", "unknown"]
                .choose(rng)
                .expect("a member")
                .to_string(),
            topics: if rng.gen_bool(0.85) {
                vec!["t".into()]
            } else {
                vec!["t".into(), "u".into()]
            },
            protocols: PROTOCOL_CHOICES
                .choose(rng)
                .expect("protocols")
                .iter()
                .map(|p| p.to_string())
                .collect(),
            session_timeout_ms: *[10_000, 10_000, 30_000, 3_000]
                .choose(rng)
                .expect("a timeout"),
            rebalance_timeout_ms: *[20_000, 5_000].choose(rng).expect("a timeout"),
        },
        30..=49 => Op::Sync {
            client,
            generation,
            assign: rng.gen_bool(0.8),
        },
        50..=64 => Op::Heartbeat { client, generation },
        65..=69 => Op::Leave { client },
        70..=79 => Op::Commit {
            client,
            generation: if rng.gen_bool(0.15) {
                "none".into()
            } else {
                generation
            },
            offset: rng.gen_range(0..100),
        },
        80..=91 => Op::Advance {
            ms: *[100, 1_000, 3_000, 6_000, 11_000, 25_000]
                .choose(rng)
                .expect("a step"),
        },
        _ => Op::Appends {
            error: if rng.gen_bool(0.75) {
                None
            } else {
                Some(APPEND_ERRORS.choose(rng).expect("an error").to_string())
            },
        },
    }
}

/// What one client knows from its last JoinGroup answer, as a consumer would.
#[derive(Default)]
struct Client {
    member_id: String,
    generation: i32,
    leader: bool,
    members: Vec<String>,
}

/// The model's coordinator with this driver playing the broker and the clients.
struct Play {
    coordinator: GroupCoordinator,
    now_ms: u64,
    timers: Vec<(u64, u64, GroupTimer)>,
    next_timer: u64,
    appends: Vec<u64>,
    clients: BTreeMap<u32, Client>,
    symbols: BTreeMap<String, String>,
    ids_handed_out: BTreeMap<u32, u32>,
    /// Responses of the current action, not yet delivered.
    arrived: Vec<Message>,
    /// Responses delivered in this step.
    delivered: Vec<(u32, &'static str, u64, Response)>,
    next_correlation_id: u64,
    /// JoinGroup version 4 or later (KIP-394).
    require_known_member_id: bool,
    /// Which client and request each correlation id belongs to.
    requests: BTreeMap<u64, (u32, &'static str)>,
}

impl Play {
    fn new(case: &Case) -> Play {
        let mut play = Play {
            coordinator: GroupCoordinator::new(
                0,
                CoordinatorConfig {
                    offsets_topic_num_partitions: 1,
                    group_initial_rebalance_delay_ms: case.initial_rebalance_delay_ms,
                    group_min_session_timeout_ms: case.min_session_timeout_ms,
                    group_max_session_timeout_ms: case.max_session_timeout_ms,
                    // The oracle is the Java coordinator: where it differs from the Scala
                    // one the simulated brokers run, the model follows it here.
                    new_group_coordinator: true,
                    pending_sync_deadline: true,
                    new_member_join_timeout: true,
                },
            ),
            now_ms: 0,
            timers: Vec::new(),
            next_timer: 0,
            appends: Vec::new(),
            clients: BTreeMap::new(),
            symbols: BTreeMap::new(),
            ids_handed_out: BTreeMap::new(),
            arrived: Vec::new(),
            delivered: Vec::new(),
            next_correlation_id: 0,
            require_known_member_id: case.join_version >= 4,
            requests: BTreeMap::new(),
        };
        // The coordinator leads partition 0 of `__consumer_offsets`, which is empty.
        play.run(|c, out| c.on_election(0, 0, out));
        play.run(|c, out| c.finish_load(0, 0, 0, &[], out));
        play.timers.clear();
        play
    }

    fn run(&mut self, f: impl FnOnce(&mut GroupCoordinator, &mut CoordinatorOutput)) {
        let mut out = CoordinatorOutput::default();
        f(&mut self.coordinator, &mut out);
        for (delay_ms, timer) in out.timers {
            self.timers
                .push((self.now_ms + delay_ms, self.next_timer, timer));
            self.next_timer += 1;
        }
        for request in out.requests {
            match request {
                CoordinatorRequest::Append(append) => self.appends.push(append.append_id),
            }
        }
        self.arrived
            .extend(out.messages.into_iter().map(|(_, message)| message));
        let delivered = self.deliver();
        self.delivered.extend(delivered);
    }

    fn request(&mut self, client: u32, api: &'static str) -> u64 {
        self.next_correlation_id += 1;
        self.requests
            .insert(self.next_correlation_id, (client, api));
        self.next_correlation_id
    }

    fn client(&mut self, client: u32) -> &mut Client {
        self.clients.entry(client).or_insert_with(|| Client {
            generation: -1,
            ..Client::default()
        })
    }

    fn member_for(&mut self, client: u32, member: &str) -> String {
        match member {
            "current" => self.client(client).member_id.clone(),
            "new" => String::new(),
            "unknown" => "someone-else".into(),
            other => unreachable!("member {other}"),
        }
    }

    fn generation_for(&mut self, client: u32, generation: &str) -> i32 {
        let current = self.client(client).generation;
        match generation {
            "current" => current,
            "stale" => current - 1,
            "none" => -1,
            other => unreachable!("generation {other}"),
        }
    }

    fn step(&mut self, op: &Op) {
        let now = self.now_ms;
        match op.clone() {
            Op::Join {
                client,
                member,
                topics,
                protocols,
                session_timeout_ms,
                rebalance_timeout_ms,
            } => {
                let request = JoinGroupRequest {
                    correlation_id: self.request(client, "join"),
                    group_id: GROUP.into(),
                    member_id: self.member_for(client, &member),
                    client_id: format!("c{client}"),
                    group_instance_id: None,
                    session_timeout_ms,
                    rebalance_timeout_ms,
                    protocols: protocols
                        .iter()
                        .map(|p| Strategy::from_name(p).expect("a known assignor"))
                        .collect(),
                    subscription: Subscription {
                        topics: topics.iter().map(|t| t.to_string()).collect(),
                        owned_partitions: Vec::new(),
                        generation: -1,
                    },
                    require_known_member_id: self.require_known_member_id,
                };
                self.run(|c, out| c.on_join_group(now, NodeId::Consumer(client), request, out));
            }
            Op::Sync {
                client,
                generation,
                assign,
            } => {
                let generation_id = self.generation_for(client, &generation);
                let known = self.client(client);
                let assignments = if known.leader && assign {
                    let mut members = known.members.clone();
                    members.sort_by_key(|m| self.symbol(m));
                    members
                        .into_iter()
                        .enumerate()
                        .map(|(j, m)| (m, vec![TopicPartition::new("t", j as u32)]))
                        .collect()
                } else {
                    Vec::new()
                };
                let request = SyncGroupRequest {
                    correlation_id: self.request(client, "sync"),
                    group_id: GROUP.into(),
                    generation_id,
                    member_id: self.client(client).member_id.clone(),
                    assignments,
                };
                self.run(|c, out| c.on_sync_group(NodeId::Consumer(client), request, out));
            }
            Op::Heartbeat { client, generation } => {
                let request = HeartbeatRequest {
                    correlation_id: self.request(client, "heartbeat"),
                    group_id: GROUP.into(),
                    generation_id: self.generation_for(client, &generation),
                    member_id: self.client(client).member_id.clone(),
                };
                self.run(|c, out| c.on_heartbeat(now, NodeId::Consumer(client), request, out));
            }
            Op::Leave { client } => {
                let request = LeaveGroupRequest {
                    correlation_id: self.request(client, "leave"),
                    group_id: GROUP.into(),
                    member_id: self.client(client).member_id.clone(),
                };
                self.run(|c, out| c.on_leave_group(now, NodeId::Consumer(client), request, out));
            }
            Op::Commit {
                client,
                generation,
                offset,
            } => {
                let member_id = if generation == "none" {
                    String::new()
                } else {
                    self.client(client).member_id.clone()
                };
                let request = OffsetCommitRequest {
                    correlation_id: self.request(client, "commit"),
                    group_id: GROUP.into(),
                    generation_id: self.generation_for(client, &generation),
                    member_id,
                    offsets: vec![(TopicPartition::new("t", 0), offset)],
                };
                self.run(|c, out| c.on_offset_commit(now, NodeId::Consumer(client), request, out));
            }
            Op::Advance { ms } => {
                let until = self.now_ms + ms;
                self.fire_due_timers(until);
                self.now_ms = until;
            }
            Op::Appends { error } => {
                let error = error.as_deref().map_or(ErrorCode::None, error_code);
                for append_id in std::mem::take(&mut self.appends) {
                    let base_offset = (error == ErrorCode::None).then_some(0);
                    self.run(|c, out| c.on_append_done(now, append_id, error, base_offset, out));
                }
            }
        }
    }

    /// Fires every timer due by `until_ms`, earliest first. Kafka's timer runs the tasks due
    /// in one millisecond in no order it promises; both sides break such ties alike: member
    /// sessions first, by member name, then the sync deadline, then the join deadline.
    fn fire_due_timers(&mut self, until_ms: u64) {
        loop {
            let due = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, (at, _, _))| *at <= until_ms)
                .min_by_key(|(_, (at, seq, timer))| {
                    let (rank, name) = match timer {
                        GroupTimer::SessionCheck { member, .. }
                        | GroupTimer::PendingMemberCheck { member, .. } => (0, self.symbol(member)),
                        GroupTimer::SyncDeadline { .. } => (1, String::new()),
                        GroupTimer::JoinDeadline { .. } => (2, String::new()),
                        GroupTimer::LoadDone { .. } => (3, String::new()),
                    };
                    (*at, rank, name, *seq)
                })
                .map(|(i, _)| i);
            let Some(i) = due else { return };
            let (at, _, timer) = self.timers.remove(i);
            self.now_ms = self.now_ms.max(at);
            let now = self.now_ms;
            self.run(|c, out| c.on_timer(now, timer, out));
        }
    }

    /// The responses one action produced (a request, a timer, a completed write) reach their
    /// clients in order of client and request, so that new member ids get their names in the
    /// same order on both sides: first every new member id gets its name, then each response
    /// is rendered, and a JoinGroup answer teaches its client its member id, generation and
    /// (for the leader) the members.
    fn deliver(&mut self) -> Vec<(u32, &'static str, u64, Response)> {
        let mut arrived: Vec<(u32, &'static str, u64, Message)> = std::mem::take(&mut self.arrived)
            .into_iter()
            .map(|message| {
                let correlation_id = correlation_id(&message);
                let (client, api) = self.requests[&correlation_id];
                (client, api, correlation_id, message)
            })
            .collect();
        arrived.sort_by_key(|(client, api, correlation_id, _)| (*client, *api, *correlation_id));
        for (client, _, _, message) in &arrived {
            if let Message::JoinGroupResponse(r) = message {
                if matches!(r.error, ErrorCode::None | ErrorCode::MemberIdRequired) {
                    self.symbol_for(*client, &r.member_id);
                }
            }
        }
        arrived
            .into_iter()
            .map(|(client, api, correlation_id, message)| {
                (
                    client,
                    api,
                    correlation_id,
                    self.render(client, api, message),
                )
            })
            .collect()
    }

    fn render(&mut self, client: u32, api: &'static str, message: Message) -> Response {
        let error = match &message {
            Message::JoinGroupResponse(r) => r.error,
            Message::SyncGroupResponse(r) => r.error,
            Message::HeartbeatResponse(r) => r.error,
            Message::LeaveGroupResponse(r) => r.error,
            Message::OffsetCommitResponse(r) => r.error,
            other => unreachable!("the coordinator answered {other:?}"),
        };
        let mut response = Response {
            client,
            api: api.into(),
            error: error.name().into(),
            generation: None,
            member: None,
            leader: None,
            protocol: None,
            members: None,
            assignment: None,
        };
        match message {
            Message::JoinGroupResponse(r) if error == ErrorCode::None => {
                let members: Vec<String> = r.members.iter().map(|m| m.member_id.clone()).collect();
                let mut named: Vec<String> = members.iter().map(|m| self.symbol(m)).collect();
                named.sort();
                response.generation = Some(r.generation_id);
                response.member = Some(self.symbol(&r.member_id));
                response.leader = Some(self.symbol(&r.leader));
                response.protocol = r.protocol.map(|p| p.name().to_string());
                response.members = Some(named);
                let known = self.client(client);
                known.member_id = r.member_id.clone();
                known.generation = r.generation_id;
                known.leader = r.leader == r.member_id;
                known.members = members;
            }
            Message::JoinGroupResponse(r) if error == ErrorCode::MemberIdRequired => {
                response.member = Some(self.symbol(&r.member_id));
                self.client(client).member_id = r.member_id;
            }
            Message::SyncGroupResponse(r) if error == ErrorCode::None => {
                response.assignment = Some(
                    r.assignment
                        .iter()
                        .map(|tp| format!("{}-{}", tp.topic, tp.partition))
                        .collect(),
                );
            }
            _ => {}
        }
        response
    }

    fn symbol_for(&mut self, client: u32, member_id: &str) {
        if member_id.is_empty() || self.symbols.contains_key(member_id) {
            return;
        }
        let n = self.ids_handed_out.entry(client).or_insert(0);
        *n += 1;
        self.symbols
            .insert(member_id.to_string(), format!("c{client}.{n}"));
    }

    fn symbol(&self, member_id: &str) -> String {
        if member_id.is_empty() {
            return String::new();
        }
        self.symbols
            .get(member_id)
            .cloned()
            .unwrap_or_else(|| "?".into())
    }

    fn finish_step(&mut self) -> Step {
        let mut delivered = std::mem::take(&mut self.delivered);
        delivered.sort_by_key(|(client, api, correlation_id, _)| (*client, *api, *correlation_id));
        let responses = delivered.into_iter().map(|(_, _, _, r)| r).collect();
        let group = match self.coordinator.groups().get(GROUP) {
            None => GroupView {
                state: "none".into(),
                generation: None,
                protocol: None,
                leader: None,
                members: None,
            },
            Some(g) => {
                let mut members: Vec<String> = g.members.keys().map(|m| self.symbol(m)).collect();
                members.sort();
                GroupView {
                    state: g.state.name().into(),
                    generation: Some(g.generation),
                    protocol: g.protocol.map(|p| p.name().to_string()),
                    leader: Some(
                        g.leader
                            .as_deref()
                            .map_or(String::new(), |l| self.symbol(l)),
                    ),
                    members: Some(members),
                }
            }
        };
        Step { responses, group }
    }
}

fn correlation_id(message: &Message) -> u64 {
    match message {
        Message::JoinGroupResponse(r) => r.correlation_id,
        Message::SyncGroupResponse(r) => r.correlation_id,
        Message::HeartbeatResponse(r) => r.correlation_id,
        Message::LeaveGroupResponse(r) => r.correlation_id,
        Message::OffsetCommitResponse(r) => r.correlation_id,
        other => unreachable!("the coordinator answered {other:?}"),
    }
}

fn error_code(name: &str) -> ErrorCode {
    match name {
        "NOT_ENOUGH_REPLICAS" => ErrorCode::NotEnoughReplicas,
        "NOT_LEADER_OR_FOLLOWER" => ErrorCode::NotLeaderOrFollower,
        "REQUEST_TIMED_OUT" => ErrorCode::RequestTimedOut,
        other => unreachable!("append error {other}"),
    }
}
