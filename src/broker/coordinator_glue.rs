//! Where the group coordinator meets the broker (Kafka's `GroupCoordinator` hosted by
//! `KafkaApis`): group requests are routed to the coordinator, the coordinator's writes go to
//! `__consumer_offsets` through the broker's own produce path with `acks=all`, and the
//! answers to those writes come back to it through a queue of completions, as Kafka's
//! `DelayedProduce` calls the `responseCallback` the coordinator gave it.
//! The coordinator's state follows the leadership of the offsets topic's partitions
//! (`on_election` / `on_resignation`, called from `make_leader` / `make_follower`).

use super::internal_topics::InternalTopic;
use super::replica_manager::{ProduceReplyTo, ProduceStatus};
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::coordinator::{
    CoordinatorOutput, CoordinatorRequest, GroupCoordinator, GroupTimer, PendingAppend, TxnAppend,
};
use crate::protocol::*;
use crate::types::*;

/// The answer to one of the coordinator's appends, waiting to be handed to it.
#[derive(Clone, Debug)]
pub(super) struct AppendCompletion {
    pub(super) append_id: u64,
    pub(super) error: ErrorCode,
    pub(super) base_offset: Option<u64>,
}

impl AppendCompletion {
    /// The answer to a coordinator's append of one partition.
    pub(super) fn of(append_id: u64, statuses: &[ProduceStatus]) -> AppendCompletion {
        let status = statuses
            .first()
            .expect("one partition per coordinator append");
        let (error, base_offset) = status.result.expect("every partition is answered");
        AppendCompletion {
            append_id,
            error,
            base_offset,
        }
    }
}

/// The header of a transactional offset commit's batch (`GroupMetadataManager
/// .generateOffsetRecords`): the transaction's producer id and epoch, base sequence 0, the
/// transactional attribute. The leader checks only its epoch (`AppendOrigin.COORDINATOR`).
fn transactional_stamp(txn: TxnAppend, records: usize) -> BatchStamp {
    BatchStamp {
        producer_id: txn.producer_id,
        producer_epoch: txn.producer_epoch,
        base_sequence: 0,
        last_sequence: records as i32 - 1,
        is_transactional: true,
    }
}

/// A transaction marker written on offsets partitions this broker leads, waiting to be
/// handed to the group coordinator (Kafka's `GroupCoordinator.onTransactionCompleted`, which
/// schedules `handleTxnCompletion` on the coordinator's scheduler).
#[derive(Clone, Debug)]
pub(super) struct TxnCompletion {
    pub(super) producer_id: i64,
    pub(super) partitions: Vec<u32>,
    pub(super) result: ControlRecordType,
}

/// The group coordinator's glue: requests in, appends to `__consumer_offsets` out.
impl Broker {
    pub(super) fn with_coordinator(
        &mut self,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
        f: impl FnOnce(&mut GroupCoordinator, &mut CoordinatorOutput),
    ) {
        let mut coordinator_out = CoordinatorOutput::default();
        f(&mut self.coordinator, &mut coordinator_out);
        for request in out.absorb(coordinator_out, BrokerTimer::Group) {
            match request {
                CoordinatorRequest::Append(append) => {
                    self.append_for_coordinator(now_ms, append, out)
                }
            }
        }
    }

    /// The coordinator writes through the same path as a producer with `acks=all`; the
    /// answer goes to the coordinator's queue of completions, not to a client.
    pub(super) fn append_for_coordinator(
        &mut self,
        now_ms: u64,
        append: PendingAppend,
        out: &mut Output<BrokerTimer>,
    ) {
        assert!(!append.records.is_empty(), "an append carries records");
        let tp = TopicPartition::new(OFFSETS_TOPIC, append.partition);
        let producer = COORDINATOR_PRODUCER_BASE + self.id as u32;
        let stamp = append
            .transactional
            .map(|t| transactional_stamp(t, append.records.len()));
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
                // The group coordinator's records carry their whole value.
                value_bytes: value.len() as u32,
                value: Some(value),
                headers: Vec::new(),
            });
        }
        let timeout_ms = self.config.offsets_commit_timeout_ms;
        let request = ProduceRequest {
            correlation_id: append.append_id,
            transactional_id: None,
            transaction_version: crate::coordinator::transaction::TransactionVersion::V0,
            acks: Acks::All,
            timeout_ms,
            partitions: vec![ProducePartition {
                tp,
                records,
                producer: stamp,
            }],
        };
        let reply_to = ProduceReplyTo::Coordinator {
            append_id: append.append_id,
        };
        self.on_produce(now_ms, reply_to, request, out);
    }

    /// The produce path answered one of the coordinator's appends: queue the answer for
    /// [`Broker::deliver_coordinator_completions`].
    pub(super) fn queue_coordinator_completion(
        &mut self,
        append_id: u64,
        statuses: &[ProduceStatus],
    ) {
        let completion = AppendCompletion::of(append_id, statuses);
        self.coordinator_completions.push(completion);
    }

    /// Hands the coordinator the answers to its appends, in the order they were given, after
    /// the input that produced them. Handling one can append again (and be answered at
    /// once), so this loops until none is left.
    pub(super) fn deliver_coordinator_completions(
        &mut self,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        for TxnCompletion {
            producer_id,
            partitions,
            result,
        } in std::mem::take(&mut self.txn_completions)
        {
            self.coordinator
                .on_transaction_completed(producer_id, &partitions, result);
        }
        self.drain_completions(
            |b| &mut b.coordinator_completions,
            |b, done| {
                b.with_coordinator(now_ms, out, |c, out| {
                    c.on_append_done(now_ms, done.append_id, done.error, done.base_offset, out)
                })
            },
        );
    }

    /// Hands each queued completion to `deliver`, in order, until none is left: a
    /// coordinator that handles one can append again, and be answered at once.
    pub(super) fn drain_completions(
        &mut self,
        queue: fn(&mut Broker) -> &mut Vec<AppendCompletion>,
        mut deliver: impl FnMut(&mut Broker, AppendCompletion),
    ) {
        loop {
            let done = std::mem::take(queue(self));
            if done.is_empty() {
                return;
            }
            for completion in done {
                deliver(self, completion);
            }
        }
    }

    pub(super) fn on_find_coordinator(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: FindCoordinatorRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        let (topic, partition) = match request.key_type {
            CoordinatorType::Group => (
                InternalTopic::ConsumerOffsets,
                self.coordinator.partition_for(&request.key),
            ),
            CoordinatorType::Transaction => (
                InternalTopic::TransactionState,
                self.txn_coordinator.partition_for(&request.key),
            ),
        };
        let (error, coordinator) = self.coordinator_of(now_ms, topic, partition, out);
        out.send(
            from,
            Message::FindCoordinatorResponse(FindCoordinatorResponse {
                correlation_id: request.correlation_id,
                error,
                coordinator,
            }),
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
                let batches = self
                    .disk
                    .logs
                    .get(&tp)
                    .map(|l| l.batches().cloned().collect::<Vec<_>>())
                    .unwrap_or_default();
                self.with_coordinator(now_ms, out, |c, out| {
                    c.finish_load(now_ms, partition, leader_epoch, &batches, out)
                });
            }
            other => self.with_coordinator(now_ms, out, |c, out| c.on_timer(now_ms, other, out)),
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
            Message::FindCoordinator(request) => {
                self.on_find_coordinator(now_ms, from, request, out)
            }
            Message::JoinGroup(request) => self.with_coordinator(now_ms, out, |c, out| {
                c.on_join_group(now_ms, from, request, out)
            }),
            Message::SyncGroup(request) => {
                self.with_coordinator(now_ms, out, |c, out| c.on_sync_group(from, request, out))
            }
            Message::Heartbeat(request) => self.with_coordinator(now_ms, out, |c, out| {
                c.on_heartbeat(now_ms, from, request, out)
            }),
            Message::LeaveGroup(request) => self.with_coordinator(now_ms, out, |c, out| {
                c.on_leave_group(now_ms, from, request, out)
            }),
            Message::OffsetCommit(request) => self.with_coordinator(now_ms, out, |c, out| {
                c.on_offset_commit(now_ms, from, request, out)
            }),
            Message::OffsetFetch(mut request) => {
                // KIP-447: `require_stable` came with OffsetFetch v7 (2.5); the client sends
                // an older broker v6 and drops the flag (`OffsetFetchRequest.Builder`).
                request.require_stable &= self.release().has_stable_offset_fetch();
                self.with_coordinator(now_ms, out, |c, out| c.on_offset_fetch(from, request, out))
            }
            Message::TxnOffsetCommit(request) => self.with_coordinator(now_ms, out, |c, out| {
                c.on_txn_offset_commit(from, request, out)
            }),
            other => unreachable!("not a group request: {}", other.kind()),
        }
    }
}
