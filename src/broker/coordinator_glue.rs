//! Where the group coordinator meets the broker (Kafka's `GroupCoordinator` hosted by
//! `KafkaApis`): group requests are routed to the coordinator, the coordinator's writes go to
//! `__consumer_offsets` through the broker's own produce path with `acks=all`, and the
//! answers to those writes come back to it as ProduceResponses the broker sent to itself.
//! The coordinator's state follows the leadership of the offsets topic's partitions
//! (`on_election` / `on_resignation`, called from `make_leader` / `make_follower`).

use super::zk_client::ZkPurpose;
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::coordinator::{CoordinatorIo, GroupCoordinator, GroupTimer, PendingAppend};
use crate::protocol::*;
use crate::types::*;

/// The group coordinator's glue: requests in, appends to `__consumer_offsets` out.
impl Broker {
    pub(super) fn with_coordinator(
        &mut self,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
        f: impl FnOnce(&mut GroupCoordinator, &mut CoordinatorIo),
    ) {
        let mut io = CoordinatorIo::default();
        f(&mut self.coordinator, &mut io);
        let CoordinatorIo {
            out: coordinator_out,
            appends,
        } = io;
        out.messages.extend(coordinator_out.messages);
        out.events.extend(coordinator_out.events);
        out.timers.extend(
            coordinator_out
                .timers
                .into_iter()
                .map(|(delay_ms, t)| (delay_ms, BrokerTimer::Group(t))),
        );
        for append in appends {
            self.append_for_coordinator(now_ms, append, out);
        }
    }

    /// The coordinator writes through the same path as a producer with `acks=all`: the
    /// request comes "from" this broker itself, and the answer is a ProduceResponse to itself.
    pub(super) fn append_for_coordinator(
        &mut self,
        now_ms: u64,
        append: PendingAppend,
        out: &mut Output<BrokerTimer>,
    ) {
        assert!(!append.records.is_empty(), "an append carries records");
        let tp = TopicPartition::new(OFFSETS_TOPIC, append.partition);
        let producer = COORDINATOR_PRODUCER_BASE + self.id as u32;
        let mut records = Vec::with_capacity(append.records.len());
        for (key, value) in append.records {
            self.disk.coordinator_records_written += 1;
            records.push(ProducerRecord {
                id: RecordId {
                    producer,
                    seq: self.disk.coordinator_records_written,
                },
                timestamp_ms: now_ms,
                key: Some(key),
                value,
                headers: Vec::new(),
            });
        }
        let timeout_ms = self.config.offsets_commit_timeout_ms;
        let request = ProduceRequest {
            correlation_id: append.append_id,
            acks: Acks::All,
            timeout_ms,
            partitions: vec![ProducePartition { tp, records }],
        };
        self.on_produce(now_ms, NodeId::Broker(self.id), request, out);
    }

    /// Hands the coordinator the answers to its appends: the ProduceResponses this broker
    /// addressed to itself. Handling one can append again, so this loops until none is left.
    pub(super) fn deliver_coordinator_completions(
        &mut self,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        let me = NodeId::Broker(self.id);
        loop {
            let mut done = Vec::new();
            out.messages.retain(|(to, message)| match message {
                Message::ProduceResponse(ProduceResponse {
                    correlation_id,
                    partitions,
                }) if *to == me => {
                    let answer = partitions
                        .first()
                        .expect("one partition per coordinator append");
                    done.push((*correlation_id, answer.error, answer.base_offset));
                    false
                }
                _ => true,
            });
            if done.is_empty() {
                return;
            }
            for (append_id, error, base_offset) in done {
                self.with_coordinator(now_ms, out, |c, io| {
                    c.on_append_done(now_ms, append_id, error, base_offset, io)
                });
            }
        }
    }

    pub(super) fn on_find_coordinator(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        group_id: &str,
        out: &mut Output<BrokerTimer>,
    ) {
        let partition = self.coordinator.partition_for(group_id);
        let tp = TopicPartition::new(OFFSETS_TOPIC, partition);
        let (error, coordinator) = match self.metadata.get(&tp) {
            Some(PartitionMetadata {
                leader: Some(leader),
                ..
            }) => (ErrorCode::None, Some(*leader)),
            Some(_) => (ErrorCode::CoordinatorNotAvailable, None),
            None => {
                self.maybe_create_offsets_topic(out);
                (ErrorCode::CoordinatorNotAvailable, None)
            }
        };
        out.send(
            from,
            Message::FindCoordinatorResponse {
                correlation_id,
                error,
                coordinator,
            },
        );
    }

    /// Creates `__consumer_offsets` in ZooKeeper, as a broker does on the first
    /// FindCoordinator. From 0.11 the topic waits until `offsets.topic.replication.factor`
    /// brokers are alive (KAFKA-3959); before, it took as many replicas as were alive, and a
    /// cluster that started with one broker up kept a single copy of every group's offsets.
    /// Replicas are placed round-robin over the live brokers from the lowest id (Kafka starts
    /// at a random broker).
    pub(super) fn maybe_create_offsets_topic(&mut self, out: &mut Output<BrokerTimer>) {
        if self.offsets_topic_requested || self.live_brokers.is_empty() {
            return;
        }
        let mut live = self.live_brokers.clone();
        live.sort_unstable();
        let wanted = self.config.offsets_topic_replication_factor as usize;
        let replication_factor = if self.protocol().requires_full_offsets_replication() {
            if live.len() < wanted {
                return;
            }
            wanted
        } else {
            wanted.min(live.len())
        };
        let assignment = (0..self.config.offsets_topic_num_partitions)
            .map(|p| {
                let replicas = (0..replication_factor)
                    .map(|i| live[(p as usize + i) % live.len()])
                    .collect();
                (p, replicas)
            })
            .collect();
        self.offsets_topic_requested = true;
        self.zk.request(
            ZkOp::Create {
                path: format!("/brokers/topics/{OFFSETS_TOPIC}"),
                data: ZkData::TopicAssignment(assignment),
                ephemeral: false,
            },
            ZkPurpose::CreateOffsetsTopic,
            out,
        );
    }

    pub(super) fn on_group_timer(
        &mut self,
        now_ms: u64,
        timer: GroupTimer,
        out: &mut Output<BrokerTimer>,
    ) {
        match timer {
            GroupTimer::LoadDone {
                partition,
                leader_epoch,
            } => {
                let tp = TopicPartition::new(OFFSETS_TOPIC, partition);
                let records = self
                    .disk
                    .logs
                    .get(&tp)
                    .map(|l| l.records().to_vec())
                    .unwrap_or_default();
                self.with_coordinator(now_ms, out, |c, io| {
                    c.finish_load(now_ms, partition, leader_epoch, &records, io)
                });
            }
            other => self.with_coordinator(now_ms, out, |c, io| c.on_timer(now_ms, other, io)),
        }
    }

    /// Routes a consumer-group request to the coordinator.
    pub(super) fn on_group_request(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<BrokerTimer>,
    ) {
        match message {
            Message::FindCoordinator {
                correlation_id,
                group_id,
            } => self.on_find_coordinator(from, correlation_id, &group_id, out),
            Message::JoinGroup {
                correlation_id,
                group_id,
                member_id,
                client_id,
                group_instance_id,
                session_timeout_ms,
                rebalance_timeout_ms,
                protocols,
                subscription,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_join_group(
                    now_ms,
                    from,
                    correlation_id,
                    group_id,
                    member_id,
                    group_instance_id,
                    session_timeout_ms,
                    rebalance_timeout_ms,
                    protocols,
                    subscription,
                    &client_id,
                    io,
                )
            }),
            Message::SyncGroup {
                correlation_id,
                group_id,
                generation_id,
                member_id,
                assignments,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_sync_group(
                    from,
                    correlation_id,
                    &group_id,
                    generation_id,
                    &member_id,
                    assignments,
                    io,
                )
            }),
            Message::Heartbeat {
                correlation_id,
                group_id,
                generation_id,
                member_id,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_heartbeat(
                    now_ms,
                    from,
                    correlation_id,
                    &group_id,
                    generation_id,
                    &member_id,
                    io,
                )
            }),
            Message::LeaveGroup {
                correlation_id,
                group_id,
                member_id,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_leave_group(now_ms, from, correlation_id, &group_id, &member_id, io)
            }),
            offsets @ (Message::OffsetCommit { .. } | Message::OffsetFetch { .. }) => {
                self.on_offsets_request(now_ms, from, offsets, out)
            }
            other => unreachable!("not a group request: {}", other.kind()),
        }
    }

    /// Routes an offsets request (OffsetCommit, OffsetFetch) to the coordinator.
    fn on_offsets_request(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<BrokerTimer>,
    ) {
        match message {
            Message::OffsetCommit {
                correlation_id,
                group_id,
                generation_id,
                member_id,
                offsets,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_offset_commit(
                    from,
                    correlation_id,
                    &group_id,
                    generation_id,
                    &member_id,
                    offsets,
                    io,
                )
            }),
            Message::OffsetFetch {
                correlation_id,
                group_id,
                partitions,
            } => self.with_coordinator(now_ms, out, |c, io| {
                c.on_offset_fetch(from, correlation_id, &group_id, partitions, io)
            }),
            other => unreachable!("not an offsets request: {}", other.kind()),
        }
    }
}
