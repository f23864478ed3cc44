//! WriteTxnMarkers on a partition leader: the transaction coordinator's request to end
//! transactions on the partitions this broker leads (Kafka's `KafkaApis
//! .handleWriteTxnMarkersRequest`).
//!
//! Why it takes the produce path: a marker is a one-record control batch appended like a
//! producer's with `acks=all` (`ReplicaManager.appendRecords` with `requiredAcks = -1` and
//! `AppendOrigin.COORDINATOR`), so it waits in the same purgatory for the ISR, fails the
//! same way when leadership moves, and is answered once every partition of the request is.
//! The coordinator writes its CompleteCommit or CompleteAbort only after all answers are
//! NONE, so a marker counts only once it is replicated.

use super::replica_manager::{ProduceReplyTo, ProduceStatus};
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::protocol::*;
use crate::types::*;

/// One partition's marker in a WriteTxnMarkers request being answered: which transaction of
/// the request it ends, and how.
#[derive(Clone, Copy, Debug)]
pub(super) struct MarkerSlot {
    /// The marker's index in the request.
    index: usize,
    producer_id: i64,
    result: ControlRecordType,
}

/// The broker's `request.timeout.ms` (`KafkaConfig.requestTimeoutMs`, default 30 s): how
/// long a marker append waits for the ISR before it answers REQUEST_TIMED_OUT.
const MARKER_APPEND_TIMEOUT_MS: u64 = 30_000;

impl Broker {
    pub(super) fn on_write_txn_markers(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: WriteTxnMarkersRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        let WriteTxnMarkersRequest {
            correlation_id,
            markers,
        } = request;
        let mut layout = Vec::new();
        let mut statuses = Vec::new();
        for (index, marker) in markers.iter().enumerate() {
            for tp in &marker.partitions {
                layout.push(MarkerSlot {
                    index,
                    producer_id: marker.producer_id,
                    result: marker.transaction_result,
                });
                statuses.push(self.append_txn_marker(now_ms, tp, marker, out));
            }
        }
        self.next_delayed_id += 1;
        let request_id = self.next_delayed_id;
        self.txn_marker_requests.insert(request_id, layout);
        let appended: Vec<TopicPartition> = statuses
            .iter()
            .filter(|s| s.result.is_none())
            .map(|s| s.tp.clone())
            .collect();
        let reply_to = ProduceReplyTo::TxnMarkers {
            to: from,
            request_id,
        };
        if appended.is_empty() {
            self.answer_txn_markers(from, request_id, correlation_id, &statuses, out);
            return;
        }
        for tp in &appended {
            self.produce_watchers
                .entry(tp.clone())
                .or_default()
                .insert(request_id);
        }
        self.delayed_produces.insert(
            request_id,
            super::replica_manager::DelayedProduce {
                reply_to,
                correlation_id,
                partitions: statuses,
            },
        );
        // `KafkaApis.handleWriteTxnMarkersRequest` appends with `config.requestTimeoutMs`.
        out.timer(
            MARKER_APPEND_TIMEOUT_MS,
            BrokerTimer::DelayedProduceExpire { id: request_id },
        );
        let distinct: std::collections::BTreeSet<TopicPartition> = appended.into_iter().collect();
        for tp in &distinct {
            self.maybe_increment_hw(now_ms, tp, out);
            self.complete_delayed_fetches(tp, out);
        }
    }

    /// One partition's marker: refused at once, or appended and waiting for the ISR.
    fn append_txn_marker(
        &mut self,
        now_ms: u64,
        tp: &TopicPartition,
        marker: &WritableTxnMarker,
        out: &mut Output<BrokerTimer>,
    ) -> ProduceStatus {
        let mut status = ProduceStatus {
            tp: tp.clone(),
            leader_epoch: -1,
            required_offset: 0,
            base_offset: 0,
            records: 1,
            result: None,
        };
        // `replicaManager.getMagic`: a partition without a local log is unknown here.
        if !self.disk.logs.contains_key(tp) {
            status.result = Some((ErrorCode::UnknownTopicOrPartition, None));
            return status;
        }
        // `Partition.appendRecordsToLeader` with `requiredAcks = -1`.
        let leader_epoch = match self.check_leader_append(tp, Acks::All) {
            Ok(leader_epoch) => leader_epoch,
            Err(error) => {
                status.result = Some((error, None));
                return status;
            }
        };
        let end = EndTxnMarker {
            control_type: marker.transaction_result,
            coordinator_epoch: marker.coordinator_epoch,
        };
        let log = self.disk.logs.get_mut(tp).expect("checked above");
        let appended = log.append_end_txn_marker_as_leader(
            leader_epoch,
            marker.producer_id,
            marker.producer_epoch,
            end,
            now_ms,
        );
        let (offset, roll) = match appended {
            Ok(done) => done,
            Err(error) => {
                status.result = Some((error, None));
                return status;
            }
        };
        let appended_marker = crate::event::AppendedMarker {
            offset,
            producer_id: marker.producer_id,
            producer_epoch: marker.producer_epoch,
            control_type: marker.transaction_result,
        };
        let leo =
            self.after_leader_append(now_ms, tp, Vec::new(), vec![appended_marker], roll, out);
        status.leader_epoch = leader_epoch;
        status.required_offset = leo;
        status.base_offset = offset;
        status
    }

    /// Sends the answer of a WriteTxnMarkers request: each partition's error, grouped by
    /// transaction in the request's order.
    pub(super) fn answer_txn_markers(
        &mut self,
        to: NodeId,
        request_id: u64,
        correlation_id: u64,
        statuses: &[ProduceStatus],
        out: &mut Output<BrokerTimer>,
    ) {
        let layout = self
            .txn_marker_requests
            .remove(&request_id)
            .expect("a marker request keeps its layout until answered");
        assert_eq!(layout.len(), statuses.len(), "one status per partition");
        self.complete_txn_offsets(&layout, statuses);
        let mut markers: Vec<WritableTxnMarkerResult> = Vec::new();
        let mut last_index = None;
        for (slot, status) in layout.into_iter().zip(statuses) {
            let (error, _) = status.result.expect("every partition is answered");
            if last_index != Some(slot.index) {
                last_index = Some(slot.index);
                markers.push(WritableTxnMarkerResult {
                    producer_id: slot.producer_id,
                    partitions: Vec::new(),
                });
            }
            let current = markers.last_mut().expect("pushed above");
            current.partitions.push((status.tp.clone(), error));
        }
        out.send(
            to,
            Message::WriteTxnMarkersResponse(WriteTxnMarkersResponse {
                correlation_id,
                markers,
            }),
        );
    }

    /// The markers written on `__consumer_offsets` partitions end their transactions'
    /// offset commits: per transaction, the offsets partitions whose marker is written go to
    /// the group coordinator (`KafkaApis.handleWriteTxnMarkersRequest`'s callback calls
    /// `GroupCoordinator.onTransactionCompleted` with the offsets partitions answered NONE).
    /// Kafka appends each transaction's markers on their own and completes its offsets when
    /// they are written; here the request's markers wait together and complete together.
    fn complete_txn_offsets(&mut self, layout: &[MarkerSlot], statuses: &[ProduceStatus]) {
        let mut last_index = None;
        for (slot, status) in layout.iter().zip(statuses) {
            let written = status.result.is_some_and(|(e, _)| e == ErrorCode::None);
            if !written || status.tp.topic != OFFSETS_TOPIC {
                continue;
            }
            if last_index != Some(slot.index) {
                last_index = Some(slot.index);
                self.txn_completions
                    .push(super::coordinator_glue::TxnCompletion {
                        producer_id: slot.producer_id,
                        partitions: Vec::new(),
                        result: slot.result,
                    });
            }
            let current = self.txn_completions.last_mut().expect("pushed above");
            current.partitions.push(status.tp.partition);
        }
    }
}
