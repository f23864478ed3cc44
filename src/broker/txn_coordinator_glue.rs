//! Where the transaction coordinator meets the broker (Kafka's `TransactionCoordinator`
//! hosted by `KafkaApis`): transaction requests are routed to it, its writes go to
//! `__transaction_state` through the broker's own produce path with `acks=all`, its markers
//! go out as WriteTxnMarkers to the partition leaders, and its state follows the leadership
//! of `__transaction_state`'s partitions (called from `make_leader` / `make_follower`).
//!
//! The coordinator learns partition leaders from this broker's metadata cache and takes
//! new producer ids from the same block idempotent producers get theirs from
//! (`ProducerIdManager`), through [`TxnHost`].

use super::coordinator_glue::AppendCompletion;
use super::producer_ids::{allocate_producer_id, ProducerIdBlock};
use super::replica_manager::{ProduceReplyTo, ProduceStatus};
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::coordinator::transaction::log::TRANSACTION_STATE_TOPIC;
use crate::coordinator::transaction::{
    PartitionLeader, TransactionCoordinator, TxnAppend, TxnCoordinatorOutput,
    TxnCoordinatorRequest, TxnHost, TxnTimer,
};
use crate::protocol::*;
use crate::types::*;
use std::collections::BTreeMap;

/// `request.timeout.ms`'s default: how long a write to `__transaction_state` may wait for
/// its ISR (`TransactionStateManager.appendTransactionToLog` uses the request timeout).
pub(super) const TXN_APPEND_TIMEOUT_MS: u64 = 30_000;

/// What the coordinator may ask of its broker while it handles one input.
struct BrokerTxnHost<'a> {
    metadata: &'a BTreeMap<TopicPartition, PartitionMetadata>,
    live_brokers: &'a [BrokerId],
    producer_ids: &'a mut Option<ProducerIdBlock>,
    registration: Option<u64>,
}

impl TxnHost for BrokerTxnHost<'_> {
    /// `MetadataCache.getPartitionLeaderEndpoint`: a leader that is not alive has no
    /// endpoint (`Node.noNode`).
    fn leader(&self, tp: &TopicPartition) -> PartitionLeader {
        match self.metadata.get(tp) {
            None => PartitionLeader::NoPartition,
            Some(PartitionMetadata {
                leader: Some(leader),
                ..
            }) if self.live_brokers.contains(leader) => PartitionLeader::Leader(*leader),
            Some(_) => PartitionLeader::NoLeader,
        }
    }

    fn new_producer_id(&mut self) -> Option<i64> {
        allocate_producer_id(self.producer_ids, self.registration)
    }
}

impl Broker {
    pub(super) fn with_txn_coordinator(
        &mut self,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
        f: impl FnOnce(&mut TransactionCoordinator, &mut dyn TxnHost, &mut TxnCoordinatorOutput),
    ) {
        let registration = self.producer_id_registration();
        let mut host = BrokerTxnHost {
            metadata: &self.metadata,
            live_brokers: &self.live_brokers,
            producer_ids: &mut self.producer_ids,
            registration,
        };
        let mut coordinator_out = TxnCoordinatorOutput::default();
        f(&mut self.txn_coordinator, &mut host, &mut coordinator_out);
        for request in out.absorb(coordinator_out, BrokerTimer::Txn) {
            match request {
                TxnCoordinatorRequest::Append(append) => {
                    self.append_for_txn_coordinator(now_ms, append, out)
                }
            }
        }
    }

    /// One write of the coordinator, as a producer with `acks=all` writes.
    fn append_for_txn_coordinator(
        &mut self,
        now_ms: u64,
        append: TxnAppend,
        out: &mut Output<BrokerTimer>,
    ) {
        let tp = TopicPartition::new(TRANSACTION_STATE_TOPIC, append.partition);
        self.disk.coordinator_records_written += 1;
        let record = ProducerRecord {
            id: RecordId {
                producer: COORDINATOR_PRODUCER_BASE + self.id as u32,
                seq: self.disk.coordinator_records_written,
            },
            timestamp_ms: now_ms,
            key: Some(append.key),
            value_bytes: append.value.len() as u32,
            value: Some(append.value),
            headers: Vec::new(),
        };
        let request = ProduceRequest {
            correlation_id: append.append_id,
            transactional_id: None,
            transaction_version: crate::coordinator::transaction::TransactionVersion::V0,
            acks: Acks::All,
            timeout_ms: TXN_APPEND_TIMEOUT_MS,
            partitions: vec![ProducePartition {
                tp,
                records: vec![record],
                producer: None,
            }],
        };
        let reply_to = ProduceReplyTo::TxnCoordinator {
            append_id: append.append_id,
        };
        self.on_produce(now_ms, reply_to, request, out);
    }

    /// The produce path answered one of the coordinator's writes: queue the answer for
    /// [`Broker::deliver_txn_coordinator_completions`].
    pub(super) fn queue_txn_coordinator_completion(
        &mut self,
        append_id: u64,
        statuses: &[ProduceStatus],
    ) {
        let completion = AppendCompletion::of(append_id, statuses);
        self.txn_coordinator_completions.push(completion);
    }

    /// Hands the coordinator the answers to its writes, after the input that produced
    /// them; handling one can write again, so this loops until none is left.
    pub(super) fn deliver_txn_coordinator_completions(
        &mut self,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        self.drain_completions(
            |b| &mut b.txn_coordinator_completions,
            |b, done| {
                b.with_txn_coordinator(now_ms, out, |c, host, out| {
                    c.on_append_done(now_ms, done.append_id, done.error, host, out)
                })
            },
        );
    }

    pub(super) fn on_txn_timer(
        &mut self,
        now_ms: u64,
        timer: TxnTimer,
        out: &mut Output<BrokerTimer>,
    ) {
        match timer {
            TxnTimer::LoadDone {
                partition,
                coordinator_epoch,
            } => {
                let tp = TopicPartition::new(TRANSACTION_STATE_TOPIC, partition);
                let records = self
                    .disk
                    .logs
                    .get(&tp)
                    .map(|l| l.records().cloned().collect::<Vec<_>>())
                    .unwrap_or_default();
                self.with_txn_coordinator(now_ms, out, |c, host, out| {
                    c.finish_load(now_ms, partition, coordinator_epoch, &records, host, out)
                });
            }
            other => self.with_txn_coordinator(now_ms, out, |c, host, out| {
                c.on_timer(now_ms, other, host, out)
            }),
        }
    }

    /// `KafkaApis.handleAddPartitionsToTransactionRequest`: a partition this broker's
    /// metadata does not know fails the whole request, UNKNOWN_TOPIC_OR_PARTITION for it
    /// and OPERATION_NOT_ATTEMPTED for the others, and the producer sends it again (on
    /// transaction version 2 the leader's request fails the same way, and its produce with
    /// it). So the
    /// coordinator never holds a partition it could not send a marker to (its marker channel
    /// skips a partition the metadata does not know, as deleted).
    fn unknown_partitions_refused(
        &self,
        request: &AddPartitionsToTxnRequest,
    ) -> Option<AddPartitionsToTxnResponse> {
        let known = |tp: &TopicPartition| self.metadata.contains_key(tp);
        if request.partitions.iter().all(known) {
            return None;
        }
        let results = request
            .partitions
            .iter()
            .map(|tp| match known(tp) {
                true => (tp.clone(), ErrorCode::OperationNotAttempted),
                false => (tp.clone(), ErrorCode::UnknownTopicOrPartition),
            })
            .collect();
        Some(AddPartitionsToTxnResponse {
            correlation_id: request.correlation_id,
            results,
        })
    }

    /// Routes a transaction request to the coordinator.
    pub(super) fn on_txn_request(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<BrokerTimer>,
    ) {
        match message {
            Message::InitProducerId(request) => {
                self.with_txn_coordinator(now_ms, out, |c, host, out| {
                    c.on_init_producer_id(now_ms, from, request, host, out)
                })
            }
            Message::AddPartitionsToTxn(request) if request.verify_only => self
                .with_txn_coordinator(now_ms, out, |c, _, out| {
                    c.on_verify_partitions(from, request, out)
                }),
            Message::AddPartitionsToTxn(request) => {
                if let Some(refused) = self.unknown_partitions_refused(&request) {
                    out.send(from, Message::AddPartitionsToTxnResponse(refused));
                    return;
                }
                self.with_txn_coordinator(now_ms, out, |c, _, out| {
                    c.on_add_partitions(now_ms, from, request, out)
                })
            }
            Message::AddOffsetsToTxn(request) => {
                let partition = self.coordinator.partition_for(&request.group_id);
                let offsets_tp = TopicPartition::new(OFFSETS_TOPIC, partition);
                self.with_txn_coordinator(now_ms, out, |c, _, out| {
                    c.on_add_offsets(now_ms, from, request, offsets_tp, out)
                })
            }
            Message::EndTxn(request) => self.with_txn_coordinator(now_ms, out, |c, host, out| {
                c.on_end_txn(now_ms, from, request, host, out)
            }),
            Message::WriteTxnMarkersResponse(response) => {
                self.with_txn_coordinator(now_ms, out, |c, host, out| {
                    c.on_write_txn_markers_response(now_ms, response, host, out)
                })
            }
            other => unreachable!("not a transaction request: {}", other.kind()),
        }
    }
}
