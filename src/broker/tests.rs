//! Brokers driven by hand, with the test playing the controller and ZooKeeper: LeaderAndIsr
//! requests are built here, AlterIsr requests land in `to_controller` and ZooKeeper requests
//! in `to_zookeeper` for the test to answer (every broker has a ZooKeeper session, nothing
//! else of ZooKeeper answers by itself).
use super::*;
use crate::event::TruncateReason;
use crate::fetch_session::FetchMetadata;
use crate::log::Log;
use partition::FetchReadiness;

mod history;
mod leadership;
mod log_layer;
mod transactions;
mod txn_coordinator;

const CONTROLLER: BrokerId = 99;

fn tp() -> TopicPartition {
    TopicPartition::new("orders", 0)
}

struct Cluster {
    now_ms: u64,
    brokers: BTreeMap<BrokerId, Broker>,
    timers: Vec<(u64, BrokerId, BrokerTimer)>,
    /// Messages in flight: (to, from, message), delivered in order.
    wire: std::collections::VecDeque<(NodeId, NodeId, Message)>,
    down: BTreeSet<BrokerId>,
    to_controller: Vec<Message>,
    /// ZooKeeper requests, with the broker that sent each.
    to_zookeeper: Vec<(BrokerId, ZkRequest)>,
    to_clients: Vec<Message>,
    events: Vec<Event>,
}

impl Cluster {
    fn new(n: BrokerId, config: BrokerConfig) -> Cluster {
        let brokers = (0..n)
            .map(|b| {
                (
                    b,
                    Broker::new(b, config.clone(), BTreeMap::new(), Disk::default()),
                )
            })
            .collect();
        let mut c = Cluster {
            now_ms: 0,
            brokers,
            timers: Vec::new(),
            wire: Default::default(),
            down: BTreeSet::new(),
            to_controller: Vec::new(),
            to_zookeeper: Vec::new(),
            to_clients: Vec::new(),
            events: Vec::new(),
        };
        for b in 0..n {
            let mut out = Output::default();
            let broker = c.brokers.get_mut(&b).unwrap();
            broker.start(0, &mut out);
            let session = ZkConnected {
                session_id: 1_000 + b as u64,
                session_timeout_ms: 6_000,
            };
            broker.on_message(
                0,
                NodeId::ZooKeeper,
                Message::ZkConnected(session),
                &mut out,
            );
            // The controller tells every broker who is alive, as it does before any
            // LeaderAndIsr (`KafkaController.onBrokerStartup`): from 3.3 a leader lets only
            // live brokers into the ISR.
            broker.on_message(
                0,
                NodeId::Broker(CONTROLLER),
                live_brokers_metadata((0..n).collect()),
                &mut out,
            );
            c.absorb(b, out);
        }
        c
    }

    /// The controller's UpdateMetadata to broker `to`, saying which brokers are alive, put on
    /// the wire.
    fn announce_live_brokers(&mut self, to: BrokerId, live_brokers: Vec<BrokerId>) {
        self.wire.push_back((
            NodeId::Broker(to),
            NodeId::Broker(CONTROLLER),
            live_brokers_metadata(live_brokers),
        ));
    }

    /// Answers ZooKeeper request `xid` of broker `b` with `result`.
    fn answer_zookeeper(&mut self, b: BrokerId, xid: u64, result: ZkResult) {
        self.wire.push_back((
            NodeId::Broker(b),
            NodeId::ZooKeeper,
            Message::ZkResponse(ZkResponse { xid, result }),
        ));
    }

    fn absorb(&mut self, from: BrokerId, out: Output<BrokerTimer>) {
        for (to, m) in out.messages {
            self.wire.push_back((to, NodeId::Broker(from), m));
        }
        for (delay, t) in out.timers {
            self.timers.push((self.now_ms + delay, from, t));
        }
        self.events.extend(out.events);
    }

    fn deliver(&mut self, to: NodeId, from: NodeId, m: Message) {
        match to {
            NodeId::Broker(CONTROLLER) => self.to_controller.push(m),
            NodeId::ZooKeeper => match (from, m) {
                (NodeId::Broker(b), Message::ZkRequest(request)) => {
                    self.to_zookeeper.push((b, request))
                }
                (_, Message::ZkPing(_) | Message::ZkConnect(_)) => {}
                (_, other) => panic!("unexpected to ZooKeeper: {other:?}"),
            },
            NodeId::Broker(b) if !self.down.contains(&b) => {
                if let NodeId::Broker(f) = from {
                    if self.down.contains(&f) {
                        return;
                    }
                }
                let mut out = Output::default();
                self.brokers
                    .get_mut(&b)
                    .unwrap()
                    .on_message(self.now_ms, from, m, &mut out);
                self.absorb(b, out);
            }
            NodeId::Producer(_) | NodeId::Consumer(_) => self.to_clients.push(m),
            _ => {}
        }
    }

    /// Delivers everything in flight, then advances time by `ms` in 1 ms steps firing timers.
    fn run(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        loop {
            while let Some((to, from, m)) = self.wire.pop_front() {
                self.deliver(to, from, m);
            }
            if self.now_ms >= end {
                break;
            }
            self.now_ms += 1;
            let due: Vec<(u64, BrokerId, BrokerTimer)> = {
                let (due, rest) = self
                    .timers
                    .drain(..)
                    .partition(|(t, _, _)| *t <= self.now_ms);
                self.timers = rest;
                due
            };
            for (_, b, t) in due {
                if self.down.contains(&b) {
                    continue;
                }
                let mut out = Output::default();
                self.brokers
                    .get_mut(&b)
                    .unwrap()
                    .on_timer(self.now_ms, t, &mut out);
                self.absorb(b, out);
            }
        }
    }

    fn leader_and_isr(
        &mut self,
        leader: BrokerId,
        epoch: LeaderEpoch,
        isr: Vec<BrokerId>,
        version: i32,
    ) {
        self.leader_and_isr_to(&[0, 1, 2], leader, epoch, isr, version);
    }

    /// The controller accepts broker 0's AlterIsr for `tp()` (replicas 0, 1, 2): the answer
    /// carries the written state, and is on the wire, not yet delivered.
    fn alter_isr_accepted(
        &mut self,
        leader_epoch: LeaderEpoch,
        isr: Vec<BrokerId>,
        partition_epoch: i32,
    ) {
        self.wire.push_back((
            NodeId::Broker(0),
            NodeId::Broker(CONTROLLER),
            Message::AlterIsrResponse(AlterIsrResponse {
                tp: tp(),
                error: ErrorCode::None,
                state: Some(LeaderAndIsrPartition {
                    tp: tp(),
                    leader: Some(0),
                    leader_epoch,
                    isr,
                    partition_epoch,
                    replicas: vec![0, 1, 2],
                    controller_epoch: 1,
                }),
            }),
        ));
    }

    /// A LeaderAndIsr for `tp()` (replicas 0, 1, 2) delivered to `brokers` only.
    fn leader_and_isr_to(
        &mut self,
        brokers: &[BrokerId],
        leader: BrokerId,
        epoch: LeaderEpoch,
        isr: Vec<BrokerId>,
        version: i32,
    ) {
        let p = LeaderAndIsrPartition {
            tp: tp(),
            leader: Some(leader),
            leader_epoch: epoch,
            isr,
            partition_epoch: version,
            replicas: vec![0, 1, 2],
            controller_epoch: 1,
        };
        for &b in brokers {
            self.wire.push_back((
                NodeId::Broker(b),
                NodeId::Broker(CONTROLLER),
                Message::LeaderAndIsr(LeaderAndIsrRequest {
                    controller_id: CONTROLLER,
                    controller_epoch: 1,
                    partitions: vec![p.clone()],
                }),
            ));
        }
    }

    fn produce(&mut self, to: BrokerId, acks: Acks, seqs: std::ops::Range<u64>) {
        let records = seqs.map(|seq| (None, seq)).collect();
        self.produce_batch(to, acks, records, None);
    }

    /// One produce request from producer 0 with one batch of records, each with its key
    /// and sequence number in the workload, under `stamp` if given.
    fn produce_batch(
        &mut self,
        to: BrokerId,
        acks: Acks,
        records: Vec<(Option<&str>, u64)>,
        stamp: Option<BatchStamp>,
    ) {
        let records = records
            .into_iter()
            .map(|(key, seq)| ProducerRecord {
                id: RecordId { producer: 0, seq },
                timestamp_ms: self.now_ms,
                key: key.map(str::to_string),
                value: Some(format!("v{seq}")),
                value_bytes: 2,
                headers: vec![],
            })
            .collect();
        self.wire.push_back((
            NodeId::Broker(to),
            NodeId::Producer(0),
            Message::Produce(ProduceRequest {
                correlation_id: 1,
                transactional_id: None,
                transaction_version: crate::coordinator::transaction::TransactionVersion::V0,
                acks,
                timeout_ms: 30_000,
                partitions: vec![ProducePartition {
                    tp: tp(),
                    records,
                    producer: stamp,
                }],
            }),
        ));
    }

    /// The produce request queued last names `transactional_id`, as a transactional
    /// producer's request does (what a leader verifies with, KIP-890).
    fn name_last_produce(&mut self, transactional_id: &str) {
        let Some((_, _, Message::Produce(request))) = self.wire.back_mut() else {
            panic!("a produce request is queued last")
        };
        request.transactional_id = Some(transactional_id.to_string());
    }

    fn leo(&self, b: BrokerId) -> u64 {
        self.brokers[&b].disk().logs[&tp()].log_end_offset()
    }

    fn hw(&self, b: BrokerId) -> u64 {
        self.brokers[&b].high_watermark(&tp())
    }

    fn ids(&self, b: BrokerId) -> Vec<u64> {
        self.brokers[&b].disk().logs[&tp()]
            .records()
            .map(|r| r.id.seq)
            .collect()
    }
}

/// The answer for the one partition of a produce response.
fn produce_answer(m: &Message) -> (ErrorCode, Option<u64>) {
    match m {
        Message::ProduceResponse(ProduceResponse { partitions, .. }) => {
            assert_eq!(partitions.len(), 1);
            (partitions[0].error, partitions[0].base_offset)
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// An UpdateMetadata from the test's controller that names the live brokers and no
/// partition.
fn live_brokers_metadata(live_brokers: Vec<BrokerId>) -> Message {
    Message::UpdateMetadata(UpdateMetadataRequest {
        controller_id: CONTROLLER,
        controller_epoch: 1,
        live_brokers,
        partitions: Vec::new(),
    })
}

/// The ISR a leader proposes with a message: an AlterIsr to the controller, or before 2.7
/// its own write of the partition's state znode.
fn proposed_isr(to: &NodeId, m: &Message) -> Option<Vec<BrokerId>> {
    match (to, m) {
        (NodeId::Broker(CONTROLLER), Message::AlterIsr(r)) => Some(r.new_isr.clone()),
        (
            NodeId::ZooKeeper,
            Message::ZkRequest(ZkRequest {
                op:
                    ZkOp::SetData {
                        data: ZkData::PartitionState { isr, .. },
                        ..
                    },
                ..
            }),
        ) => Some(isr.clone()),
        _ => None,
    }
}

fn config() -> BrokerConfig {
    BrokerConfig {
        replica_lag_time_max_ms: 1_000,
        replica_socket_timeout_ms: 2_000,
        ..BrokerConfig::default()
    }
}

// ---- the group coordinator on top of replication ----

fn offsets_tp() -> TopicPartition {
    TopicPartition::new(OFFSETS_TOPIC, 0)
}

fn lead_offsets(c: &mut Cluster, leader: BrokerId, epoch: LeaderEpoch) {
    let p = LeaderAndIsrPartition {
        tp: offsets_tp(),
        leader: Some(leader),
        leader_epoch: epoch,
        isr: vec![0, 1, 2],
        partition_epoch: epoch,
        replicas: vec![0, 1, 2],
        controller_epoch: 1,
    };
    for b in 0..3 {
        c.wire.push_back((
            NodeId::Broker(b),
            NodeId::Broker(CONTROLLER),
            Message::LeaderAndIsr(LeaderAndIsrRequest {
                controller_id: CONTROLLER,
                controller_epoch: 1,
                partitions: vec![p.clone()],
            }),
        ));
    }
}

fn group_config() -> BrokerConfig {
    BrokerConfig {
        offsets_topic_num_partitions: 1,
        group_initial_rebalance_delay_ms: 0,
        ..config()
    }
}

fn ask(c: &mut Cluster, to: BrokerId, message: Message) -> Message {
    c.to_clients.clear();
    c.wire
        .push_back((NodeId::Broker(to), NodeId::Consumer(0), message));
    c.run(50);
    assert_eq!(c.to_clients.len(), 1, "one answer: {:?}", c.to_clients);
    c.to_clients.pop().unwrap()
}

fn join(c: &mut Cluster, to: BrokerId, member_id: &str) -> Message {
    ask(
        c,
        to,
        Message::JoinGroup(JoinGroupRequest {
            correlation_id: 1,
            group_id: "g".into(),
            member_id: member_id.into(),
            client_id: "c".into(),
            group_instance_id: None,
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocols: vec![crate::assignor::Strategy::Range],
            subscription: Subscription {
                topics: vec!["orders".into()],
                owned_partitions: vec![],
                generation: -1,
            },
            require_known_member_id: false,
        }),
    )
}

#[test]
fn a_coordinator_answers_only_after_loading_and_only_while_leading() {
    let mut c = Cluster::new(3, group_config());
    let Message::JoinGroupResponse(JoinGroupResponse { error, .. }) = join(&mut c, 0, "") else {
        panic!()
    };
    assert_eq!(
        error,
        ErrorCode::NotCoordinator,
        "nobody leads the partition yet"
    );
    lead_offsets(&mut c, 0, 0);
    // Delivered at once; the load takes LOAD_DELAY_MS.
    c.wire.push_back((
        NodeId::Broker(0),
        NodeId::Consumer(0),
        Message::Heartbeat(HeartbeatRequest {
            correlation_id: 1,
            group_id: "g".into(),
            generation_id: 1,
            member_id: "x".into(),
        }),
    ));
    c.to_clients.clear();
    c.run(0);
    assert!(matches!(
        c.to_clients.pop(),
        Some(Message::HeartbeatResponse(HeartbeatResponse {
            error: ErrorCode::CoordinatorLoadInProgress,
            ..
        }))
    ));
    c.run(crate::coordinator::LOAD_DELAY_MS);
    let Message::JoinGroupResponse(JoinGroupResponse { error, .. }) = join(&mut c, 1, "") else {
        panic!()
    };
    assert_eq!(error, ErrorCode::NotCoordinator, "broker 1 only follows");
}

#[test]
fn commits_wait_for_the_isr_and_a_new_coordinator_reads_them_back() {
    let mut c = Cluster::new(3, group_config());
    lead_offsets(&mut c, 0, 0);
    c.run(100);
    let Message::JoinGroupResponse(JoinGroupResponse {
        error,
        generation_id,
        member_id,
        leader,
        members,
        ..
    }) = join(&mut c, 0, "")
    else {
        panic!()
    };
    assert_eq!(error, ErrorCode::None);
    assert_eq!(generation_id, 1);
    assert_eq!(leader, member_id, "the only member leads");
    assert_eq!(members.len(), 1, "the leader sees every subscription");
    let assigned = vec![tp()];
    let Message::SyncGroupResponse(SyncGroupResponse {
        error, assignment, ..
    }) = ask(
        &mut c,
        0,
        Message::SyncGroup(SyncGroupRequest {
            correlation_id: 2,
            group_id: "g".into(),
            generation_id: 1,
            member_id: member_id.clone(),
            assignments: vec![(member_id.clone(), assigned.clone())],
        }),
    )
    else {
        panic!()
    };
    assert_eq!((error, assignment), (ErrorCode::None, assigned));
    // The commit is answered only once both followers have the record (acks=all).
    c.down.insert(1);
    c.down.insert(2);
    c.to_clients.clear();
    c.wire.push_back((
        NodeId::Broker(0),
        NodeId::Consumer(0),
        Message::OffsetCommit(OffsetCommitRequest {
            correlation_id: 3,
            group_id: "g".into(),
            generation_id: 1,
            member_id: member_id.clone(),
            offsets: vec![(tp(), 42)],
        }),
    ));
    c.run(200);
    assert!(c.to_clients.is_empty(), "no answer while the ISR lags");
    c.down.clear();
    // The followers' lost fetches time out (replica.socket.timeout.ms) and they fetch again.
    c.run(5_000);
    assert!(matches!(
        c.to_clients.pop(),
        Some(Message::OffsetCommitResponse(OffsetCommitResponse {
            error: ErrorCode::None,
            ..
        }))
    ));
    // Broker 1 takes over the partition and loads the group from its copy of the log.
    lead_offsets(&mut c, 1, 1);
    c.run(100);
    let Message::OffsetFetchResponse(OffsetFetchResponse { error, offsets, .. }) = ask(
        &mut c,
        1,
        Message::OffsetFetch(OffsetFetchRequest {
            correlation_id: 4,
            group_id: "g".into(),
            partitions: vec![tp()],
            require_stable: true,
        }),
    ) else {
        panic!()
    };
    assert_eq!(error, ErrorCode::None);
    assert_eq!(
        offsets,
        vec![OffsetFetchPartition {
            tp: tp(),
            offset: Some(42),
            error: ErrorCode::None
        }]
    );
    // The member keeps its generation: no rebalance for a coordinator move.
    let Message::HeartbeatResponse(HeartbeatResponse { error, .. }) = ask(
        &mut c,
        1,
        Message::Heartbeat(HeartbeatRequest {
            correlation_id: 5,
            group_id: "g".into(),
            generation_id: 1,
            member_id,
        }),
    ) else {
        panic!()
    };
    assert_eq!(error, ErrorCode::None);
    // The old coordinator gave the group up.
    let Message::JoinGroupResponse(JoinGroupResponse { error, .. }) = join(&mut c, 0, "") else {
        panic!()
    };
    assert_eq!(error, ErrorCode::NotCoordinator);
}

#[test]
fn the_first_find_coordinator_creates_the_offsets_topic_with_its_full_replication() {
    let mut c = Cluster::new(3, group_config());
    c.announce_live_brokers(0, vec![0, 1]);
    let find = Message::FindCoordinator(FindCoordinatorRequest {
        correlation_id: 1,
        key_type: CoordinatorType::Group,
        key: "g".into(),
    });
    let Message::FindCoordinatorResponse(FindCoordinatorResponse { error, .. }) =
        ask(&mut c, 0, find.clone())
    else {
        panic!()
    };
    assert_eq!(error, ErrorCode::CoordinatorNotAvailable);
    assert!(
        !c.brokers[&0]
            .internal_topics_requested
            .contains(&super::internal_topics::InternalTopic::ConsumerOffsets),
        "two live brokers are fewer than offsets.topic.replication.factor=3"
    );
    c.announce_live_brokers(0, vec![0, 1, 2]);
    c.brokers.get_mut(&0).unwrap().zk.session_id = Some(7);
    ask(&mut c, 0, find);
    assert!(c.brokers[&0]
        .internal_topics_requested
        .contains(&super::internal_topics::InternalTopic::ConsumerOffsets));
}

#[test]
fn acks_all_completes_when_the_isr_has_the_records() {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    // With broker 2 unreachable (but still in the ISR), acks=all cannot complete.
    c.down.insert(2);
    c.produce(0, Acks::All, 0..3);
    c.run(100);
    assert!(
        c.to_clients.is_empty(),
        "acks=all must wait for every ISR member"
    );
    assert_eq!(c.hw(0), 0, "the HW waits for the slowest ISR member");
    c.down.clear();
    // Broker 2's fetch was lost; its fetcher retries after replica.socket.timeout.ms.
    c.run(4_000);
    assert_eq!((c.leo(0), c.leo(1), c.leo(2)), (3, 3, 3));
    assert_eq!(c.hw(0), 3);
    assert_eq!(
        (c.hw(1), c.hw(2)),
        (3, 3),
        "followers learn the HW from fetch responses"
    );
    assert_eq!(produce_answer(&c.to_clients[0]), (ErrorCode::None, Some(0)));
}

#[test]
fn one_produce_request_answers_all_its_partitions_once_each_is_done() {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    let other = TopicPartition::new("orders", 1);
    let led_by_1 = LeaderAndIsrPartition {
        tp: other.clone(),
        leader: Some(1),
        leader_epoch: 0,
        isr: vec![1, 0, 2],
        partition_epoch: 0,
        replicas: vec![1, 0, 2],
        controller_epoch: 1,
    };
    for b in 0..3 {
        c.wire.push_back((
            NodeId::Broker(b),
            NodeId::Broker(CONTROLLER),
            Message::LeaderAndIsr(LeaderAndIsrRequest {
                controller_id: CONTROLLER,
                controller_epoch: 1,
                partitions: vec![led_by_1.clone()],
            }),
        ));
    }
    c.run(10);
    let record = |seq| ProducerRecord {
        id: RecordId { producer: 0, seq },
        timestamp_ms: 0,
        key: None,
        value: Some(format!("v{seq}")),
        value_bytes: 2,
        headers: vec![],
    };
    // Broker 0 leads orders-0 but not orders-1.
    c.wire.push_back((
        NodeId::Broker(0),
        NodeId::Producer(0),
        Message::Produce(ProduceRequest {
            correlation_id: 7,
            transactional_id: None,
            transaction_version: crate::coordinator::transaction::TransactionVersion::V0,
            acks: Acks::All,
            timeout_ms: 30_000,
            partitions: vec![
                ProducePartition {
                    tp: tp(),
                    records: vec![record(0), record(1)],
                    producer: None,
                },
                ProducePartition {
                    tp: other.clone(),
                    records: vec![record(2)],
                    producer: None,
                },
            ],
        }),
    ));
    c.run(2_000);
    assert_eq!(c.to_clients.len(), 1, "one response for the whole request");
    match &c.to_clients[0] {
        Message::ProduceResponse(ProduceResponse {
            correlation_id,
            partitions,
        }) => {
            assert_eq!(*correlation_id, 7);
            let answers: Vec<_> = partitions
                .iter()
                .map(|p| (p.tp.clone(), p.error, p.base_offset))
                .collect();
            assert_eq!(
                answers,
                vec![
                    (tp(), ErrorCode::None, Some(0)),
                    (other, ErrorCode::NotLeaderOrFollower, None)
                ]
            );
        }
        m => panic!("unexpected {m:?}"),
    }
    assert!(c.brokers[&0].produce_watchers.is_empty());
}

/// Sends a fetch from follower 1 straight to broker 0 and returns its answer's session
/// id, error, and the partitions it carried with their record counts.
fn fetch_from_0(
    c: &mut Cluster,
    session: FetchMetadata,
    partitions: Vec<FetchPartition>,
) -> (u32, ErrorCode, Vec<(TopicPartition, usize)>) {
    let mut out = Output::default();
    let request = FetchRequest {
        correlation_id: 99,
        replica_id: Some(1),
        max_wait_ms: 0,
        session,
        partitions,
        forgotten: Vec::new(),
        isolation_level: IsolationLevel::ReadUncommitted,
    };
    let now = c.now_ms;
    c.brokers.get_mut(&0).unwrap().on_message(
        now,
        NodeId::Broker(1),
        Message::Fetch(request),
        &mut out,
    );
    let answer = out
        .messages
        .iter()
        .find_map(|(to, m)| match m {
            Message::FetchResponse(FetchResponse {
                correlation_id: 99,
                error,
                session_id,
                partitions,
            }) if *to == NodeId::Broker(1) => Some((
                *session_id,
                *error,
                partitions
                    .iter()
                    .map(|p| {
                        let records = p.records.iter().map(|b| b.records.len()).sum();
                        (p.tp.clone(), records)
                    })
                    .collect(),
            )),
            _ => None,
        })
        .expect("an answer");
    answer
}

#[test]
fn a_fetch_session_answers_only_the_partitions_with_news() {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.produce(0, Acks::All, 0..3);
    c.run(1_000);
    assert_eq!(c.hw(0), 3);
    let state = FetchPartition {
        tp: tp(),
        fetch_offset: 3,
        last_fetched_epoch: Some(0),
        current_leader_epoch: Some(0),
        log_start_offset: None,
    };
    let initial = FetchMetadata {
        session_id: 0,
        epoch: crate::fetch_session::INITIAL_EPOCH,
    };
    let (id, error, parts) = fetch_from_0(&mut c, initial, vec![state.clone()]);
    assert_eq!(error, ErrorCode::None);
    assert_ne!(id, 0, "a full request opens a session");
    assert_eq!(
        parts,
        vec![(tp(), 0)],
        "a full answer carries every partition"
    );
    let mut epoch = 1;
    let mut next = |c: &mut Cluster, partitions| {
        let meta = FetchMetadata {
            session_id: id,
            epoch,
        };
        epoch += 1;
        fetch_from_0(c, meta, partitions)
    };
    assert_eq!(
        next(&mut c, Vec::new()).2,
        vec![],
        "nothing new: the incremental answer is empty"
    );
    c.produce(0, Acks::Leader, 3..5);
    c.run(0);
    assert_eq!(next(&mut c, Vec::new()).2, vec![(tp(), 2)], "new records");
    // A restarted leader knows no sessions.
    let restarted = Broker::new(0, config(), BTreeMap::new(), c.brokers[&0].disk().clone());
    c.brokers.insert(0, restarted);
    let (_, error, parts) = next(&mut c, Vec::new());
    assert_eq!(error, ErrorCode::FetchSessionIdNotFound);
    assert!(parts.is_empty());
}

#[test]
fn produce_to_a_follower_is_rejected() {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.produce(1, Acks::Leader, 0..1);
    c.run(1);
    assert_eq!(
        produce_answer(&c.to_clients[0]),
        (ErrorCode::NotLeaderOrFollower, None)
    );
}

/// Broker 0 leads `tp()` (ISR [0, 1, 2], znode version 0), broker 2 goes down and falls
/// behind: by now the leader has proposed dropping it.
fn leader_drops_broker_2(config: BrokerConfig) -> Cluster {
    let mut c = Cluster::new(3, config);
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.down.insert(2);
    // An idle partition never shrinks its ISR: a follower whose LEO equals the leader's
    // is caught up however long ago it fetched. A write makes broker 2 fall behind.
    c.produce(0, Acks::Leader, 0..1);
    c.run(2_000);
    c
}

#[test]
fn a_dead_follower_leaves_the_isr_and_min_isr_rejects_writes() {
    let mut config = config();
    config.topic_defaults.min_insync_replicas = 3;
    let mut c = leader_drops_broker_2(config);
    let alter = c
        .to_controller
        .iter()
        .find_map(|m| match m {
            Message::AlterIsr(AlterIsrRequest {
                new_isr,
                partition_epoch,
                ..
            }) => Some((new_isr.clone(), *partition_epoch)),
            _ => None,
        })
        .expect("the leader asks to shrink the ISR");
    assert_eq!(alter, (vec![0, 1], 0));
    // The controller accepts.
    c.alter_isr_accepted(0, vec![0, 1], 1);
    c.run(1);
    assert!(c
        .events
        .iter()
        .any(|e| matches!(e, Event::IsrShrunk { removed, .. } if removed == &vec![2])));
    c.produce(0, Acks::All, 1..2);
    c.run(1);
    assert_eq!(
        produce_answer(c.to_clients.last().unwrap()),
        (ErrorCode::NotEnoughReplicas, None)
    );
    assert_eq!(c.leo(0), 1, "a NOT_ENOUGH_REPLICAS produce appends nothing");
    assert_eq!(
        c.hw(0),
        0,
        "from Kafka 3.7 the HW stays put below min.insync.replicas"
    );
}

#[test]
fn a_new_follower_truncates_its_divergent_tail_by_leader_epoch() {
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.produce(0, Acks::All, 0..2);
    c.run(1_000);
    assert_eq!(c.hw(0), 2);
    // Broker 0 is cut off, takes two more records that never replicate.
    c.down.insert(1);
    c.down.insert(2);
    c.produce(0, Acks::Leader, 2..4);
    c.run(1);
    assert_eq!(c.leo(0), 4);
    // Broker 1 becomes leader in epoch 1 and takes a different record at offset 2.
    c.down.clear();
    c.down.insert(0);
    c.leader_and_isr(1, 1, vec![1, 2], 1);
    c.run(5);
    c.produce(1, Acks::Leader, 100..101);
    c.run(1_000);
    // Broker 0 returns as a follower: it must cut offsets 2 and 3 (epoch 0) and take
    // offset 2 from epoch 1.
    c.down.clear();
    c.leader_and_isr(1, 2, vec![1, 2], 2);
    c.run(2_000);
    assert_eq!(c.ids(0), vec![0, 1, 100]);
    assert_eq!(c.ids(0), c.ids(1));
    assert!(c.events.iter().any(|e| matches!(
        e,
        Event::Truncated {
            broker: 0,
            to_offset: 2,
            reason: TruncateReason::LeaderEpoch { .. },
            ..
        }
    )));
}

#[test]
fn pre_kip_101_follower_truncates_to_its_high_watermark() {
    let mut config = config();
    config.inter_broker_protocol_version = ProtocolVersion::parse("0.10.2").unwrap();
    let mut c = Cluster::new(3, config);
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.produce(0, Acks::All, 0..3);
    c.run(2);
    // Followers fetched the records but have not yet learned HW 3.
    assert_eq!(c.leo(1), 3);
    let hw1 = c.hw(1);
    assert!(hw1 < 3);
    c.leader_and_isr(0, 1, vec![0, 1, 2], 1);
    c.run(0);
    assert_eq!(c.leo(1), hw1, "the old rule cuts to the follower's own HW");
}

#[test]
fn power_loss_keeps_only_flushed_records() {
    let mut disk = Disk::default();
    let mut log = Log::new();
    log.append_as_leader(
        0,
        (0..3)
            .map(|seq| ProducerRecord {
                id: RecordId { producer: 0, seq },
                timestamp_ms: 0,
                key: None,
                value: Some(String::new()),
                value_bytes: 0,
                headers: vec![],
            })
            .collect(),
        None,
        0,
    );
    log.flush();
    disk.logs.insert(tp(), log);
    let mut crash_copy = disk.clone();
    disk.logs.get_mut(&tp()).unwrap().truncate_to(3);
    assert!(crash_copy.lose_unflushed(0).is_empty());
}

/// After an unclean shutdown a broker reads its logs again from their recovery points
/// (`LogLoader.recoverLog`) before it registers (`KafkaServer.startup`); after a clean one it
/// registers at once.
#[test]
fn a_broker_registers_only_after_recovering_its_logs() {
    use super::disk::{log_recovery_ms, LOG_RECOVERY_BYTES_PER_SEC};
    let mut disk = Disk::default();
    let records: Vec<ProducerRecord> = (0..1_000)
        .map(|seq| ProducerRecord {
            id: RecordId { producer: 0, seq },
            timestamp_ms: 0,
            key: None,
            value: Some(String::new()),
            value_bytes: 1_000_000,
            headers: vec![],
        })
        .collect();
    disk.log_or_create(&tp(), crate::log::config::LogConfig::KAFKA_DEFAULT, 0, 0)
        .append_as_leader(0, records, None, 0);
    let bytes = disk.logs[&tp()].bytes_past_recovery_point();
    assert!(bytes > 1_000_000_000);
    let expected_ms = log_recovery_ms(bytes);
    assert_eq!(
        expected_ms,
        (bytes * 1000).div_ceil(LOG_RECOVERY_BYTES_PER_SEC)
    );

    let connects = |out: &Output<BrokerTimer>| {
        out.messages
            .iter()
            .filter(|(_, m)| matches!(m, Message::ZkConnect(_)))
            .count()
    };
    let mut broker = Broker::new(0, config(), BTreeMap::new(), disk.clone());
    let mut out = Output::default();
    broker.start(0, &mut out);
    assert_eq!(connects(&out), 0, "no ZooKeeper session while recovering");
    assert!(out.events.contains(&Event::LogRecovery {
        broker: 0,
        bytes,
        recovery_ms: expected_ms,
    }));
    let (delay_ms, _) = out
        .timers
        .iter()
        .find(|(_, t)| *t == BrokerTimer::LogRecoveryDone)
        .expect("a recovery timer");
    assert_eq!(*delay_ms, expected_ms);
    let mut out = Output::default();
    broker.on_timer(expected_ms, BrokerTimer::LogRecoveryDone, &mut out);
    assert_eq!(connects(&out), 1, "recovered: connect and register");

    // A clean shutdown's marker skips recovery.
    disk.clean_shutdown = true;
    let mut broker = Broker::new(0, config(), BTreeMap::new(), disk);
    let mut out = Output::default();
    broker.start(0, &mut out);
    assert_eq!(connects(&out), 1);
    assert!(!out
        .events
        .iter()
        .any(|e| matches!(e, Event::LogRecovery { .. })));
    assert!(!broker.disk().clean_shutdown, "a start clears the marker");
}

/// Kafka's `Partition.lastOffsetForLeaderEpoch` (KIP-320, from 2.1): the asker's current
/// leader epoch is checked before anything else, so a consumer or follower with a stale view
/// is fenced and one ahead of this broker hears UNKNOWN_LEADER_EPOCH; a follower asked with
/// the right epoch says it does not lead. Before 2.1 the field is ignored.
#[test]
fn offsets_for_leader_epoch_is_fenced_by_the_current_leader_epoch() {
    let epoch_lookup = |current_leader_epoch| {
        Message::OffsetsForLeaderEpoch(OffsetsForLeaderEpochRequest {
            correlation_id: 7,
            replica_id: None,
            partitions: vec![OffsetForLeaderEpochPartition {
                tp: tp(),
                current_leader_epoch,
                leader_epoch: 0,
            }],
        })
    };
    let error_of = |m: Message| match m {
        Message::OffsetsForLeaderEpochResponse(r) => r.partitions[0].error,
        other => panic!("not an epoch answer: {other:?}"),
    };
    let mut c = Cluster::new(3, config());
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.leader_and_isr(0, 1, vec![0, 1, 2], 1);
    c.run(10);
    for (to, current, expected) in [
        (0, Some(0), ErrorCode::FencedLeaderEpoch),
        (0, Some(2), ErrorCode::UnknownLeaderEpoch),
        (0, Some(1), ErrorCode::None),
        (0, None, ErrorCode::None),
        (1, Some(0), ErrorCode::FencedLeaderEpoch),
        (1, Some(1), ErrorCode::NotLeaderOrFollower),
    ] {
        let answer = ask(&mut c, to, epoch_lookup(current));
        assert_eq!(error_of(answer), expected, "broker {to}, epoch {current:?}");
    }

    let mut old = config();
    old.inter_broker_protocol_version = ProtocolVersion::parse("2.0").unwrap();
    let mut c = Cluster::new(3, old);
    c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
    c.run(10);
    c.leader_and_isr(0, 1, vec![0, 1, 2], 1);
    c.run(10);
    let answer = ask(&mut c, 0, epoch_lookup(Some(0)));
    assert_eq!(error_of(answer), ErrorCode::None, "2.0 ignores the epoch");
}

/// A consumer's fetch with a stale leader epoch is fenced from 2.1 (KIP-320) and served
/// before it: older fetches carry no epoch to check (`Partition.fetchRecords`).
#[test]
fn a_consumer_fetch_is_fenced_by_its_leader_epoch_only_from_2_1() {
    let stale_fetch = Message::Fetch(FetchRequest {
        correlation_id: 9,
        replica_id: None,
        max_wait_ms: 0,
        session: crate::fetch_session::FetchMetadata::SESSIONLESS,
        partitions: vec![FetchPartition {
            tp: tp(),
            fetch_offset: 0,
            last_fetched_epoch: None,
            current_leader_epoch: Some(0),
            log_start_offset: None,
        }],
        forgotten: Vec::new(),
        isolation_level: IsolationLevel::ReadUncommitted,
    });
    for (version, expected) in [
        ("2.0", ErrorCode::None),
        ("2.1", ErrorCode::FencedLeaderEpoch),
        ("3.7", ErrorCode::FencedLeaderEpoch),
    ] {
        let mut cfg = config();
        cfg.inter_broker_protocol_version = ProtocolVersion::parse(version).unwrap();
        let mut c = Cluster::new(3, cfg);
        c.leader_and_isr(0, 0, vec![0, 1, 2], 0);
        c.run(10);
        c.leader_and_isr(0, 1, vec![0, 1, 2], 1);
        c.run(10);
        match ask(&mut c, 0, stale_fetch.clone()) {
            Message::FetchResponse(r) => {
                assert_eq!(r.partitions[0].error, expected, "version {version}")
            }
            other => panic!("not a fetch answer: {other:?}"),
        }
        // The epoch is checked before leadership (`Partition.getLocalLog`): a follower
        // fences a stale fetcher too.
        let from_follower = if version == "2.0" {
            ErrorCode::NotLeaderOrFollower
        } else {
            ErrorCode::FencedLeaderEpoch
        };
        match ask(&mut c, 1, stale_fetch.clone()) {
            Message::FetchResponse(r) => {
                assert_eq!(r.partitions[0].error, from_follower, "version {version}")
            }
            other => panic!("not a fetch answer: {other:?}"),
        }
    }
}
