//! The marker channel (Kafka's `TransactionMarkerChannelManager` and
//! `TransactionMarkerRequestCompletionHandler`): once a commit or abort is written, a COMMIT
//! or ABORT marker must land on every partition of the transaction, at whichever broker
//! leads it now, before the coordinator writes CompleteCommit or CompleteAbort.
//!
//! Why it retries without end: the decision is already durable, so a marker is never given
//! up for a transient error. A partition whose leader moved, or whose ISR is too small, is
//! sent again to the leader the metadata names next; a partition without a leader waits for
//! one. Only two answers stop the sending: a newer coordinator (TRANSACTION_COORDINATOR_FENCED)
//! or a newer producer epoch (INVALID_PRODUCER_EPOCH) already took the transaction over.
//! A partition the metadata no longer knows is skipped, as Kafka skips a deleted one.

use super::coordinator::{TxnCoordinatorOutput, TxnHost, TxnTimer};
use super::decisions::TransactionResult;
use super::metadata::{TransactionMetadata, TxnTransitMetadata};
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

/// Where a partition's marker goes (`MetadataCache.getPartitionLeaderEndpoint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionLeader {
    Leader(BrokerId),
    /// The partition exists but has no leader now: wait for one.
    NoLeader,
    /// The metadata does not know the partition (deleted): skip it.
    NoPartition,
}

/// One decided transaction whose markers are not all written (`PendingCompleteTxn`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingMarkers {
    coordinator_epoch: i32,
    result: TransactionResult,
    producer_id: i64,
    producer_epoch: i16,
    /// The partitions whose marker is not yet acknowledged.
    remaining: BTreeSet<TopicPartition>,
    /// The Complete record to write once `remaining` is empty.
    complete: TxnTransitMetadata,
}

/// A completion to write: the id, the coordinator epoch it was decided in, the record.
pub type Completion = (String, i32, TxnTransitMetadata);

#[derive(Clone, Debug, Default)]
pub struct MarkerChannel {
    pending: BTreeMap<String, PendingMarkers>,
    /// Partitions to send (again), by transactional id.
    unsent: BTreeSet<(String, TopicPartition)>,
    /// Per WriteTxnMarkers request in flight, the broker it went to and what it carried.
    in_flight: BTreeMap<u64, (BrokerId, Vec<(String, TopicPartition)>)>,
    next_correlation_id: u64,
    /// Completions whose write failed and is to be tried again.
    completion_retries: Vec<Completion>,
}

impl MarkerChannel {
    /// `addTxnMarkersToSend`: `m` is in PrepareCommit or PrepareAbort; its partitions get
    /// markers, then `complete` is written.
    pub fn add(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        result: TransactionResult,
        m: &TransactionMetadata,
        complete: TxnTransitMetadata,
    ) {
        self.remove(transactional_id);
        for tp in &m.topic_partitions {
            self.unsent
                .insert((transactional_id.to_string(), tp.clone()));
        }
        self.pending.insert(
            transactional_id.to_string(),
            PendingMarkers {
                coordinator_epoch,
                result,
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
                remaining: m.topic_partitions.clone(),
                complete,
            },
        );
    }

    /// `removeMarkersForTxn`: another coordinator, or a newer epoch, finishes it. The
    /// answers to its markers already sent are ignored, so a reload's own markers are not
    /// confused with them.
    pub fn remove(&mut self, transactional_id: &str) {
        self.pending.remove(transactional_id);
        self.unsent.retain(|(id, _)| id != transactional_id);
        for (_, entries) in self.in_flight.values_mut() {
            entries.retain(|(id, _)| id != transactional_id);
        }
        self.completion_retries
            .retain(|(id, _, _)| id != transactional_id);
    }

    /// Sends every queued marker to its partition's leader now, one WriteTxnMarkers per
    /// broker (`drainQueuedTransactionMarkers`). Returns whether some wait for a leader.
    pub fn drain(
        &mut self,
        host: &dyn TxnHost,
        request_timeout_ms: u64,
        out: &mut TxnCoordinatorOutput,
    ) -> bool {
        let mut by_broker: BTreeMap<BrokerId, Vec<(String, TopicPartition)>> = BTreeMap::new();
        let mut waiting = false;
        for (id, tp) in std::mem::take(&mut self.unsent) {
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            match host.leader(&tp) {
                PartitionLeader::Leader(broker) => {
                    by_broker.entry(broker).or_default().push((id, tp))
                }
                PartitionLeader::NoLeader => {
                    waiting = true;
                    self.unsent.insert((id, tp));
                }
                PartitionLeader::NoPartition => {
                    p.remaining.remove(&tp);
                }
            }
        }
        for (broker, entries) in by_broker {
            self.send(broker, entries, request_timeout_ms, out);
        }
        waiting
    }

    fn send(
        &mut self,
        broker: BrokerId,
        entries: Vec<(String, TopicPartition)>,
        request_timeout_ms: u64,
        out: &mut TxnCoordinatorOutput,
    ) {
        let mut by_id: BTreeMap<&str, Vec<TopicPartition>> = BTreeMap::new();
        for (id, tp) in &entries {
            by_id.entry(id).or_default().push(tp.clone());
        }
        let markers = by_id
            .into_iter()
            .map(|(id, partitions)| {
                let p = &self.pending[id];
                WritableTxnMarker {
                    producer_id: p.producer_id,
                    producer_epoch: p.producer_epoch,
                    transaction_result: match p.result {
                        TransactionResult::Commit => ControlRecordType::Commit,
                        TransactionResult::Abort => ControlRecordType::Abort,
                    },
                    partitions,
                    coordinator_epoch: p.coordinator_epoch,
                }
            })
            .collect();
        self.next_correlation_id += 1;
        let correlation_id = self.next_correlation_id;
        out.send(
            NodeId::Broker(broker),
            Message::WriteTxnMarkers(WriteTxnMarkersRequest {
                correlation_id,
                markers,
            }),
        );
        out.timer(
            request_timeout_ms,
            TxnTimer::MarkerTimeout { correlation_id },
        );
        self.in_flight.insert(correlation_id, (broker, entries));
    }

    /// `TransactionMarkerRequestCompletionHandler.onComplete`: each partition's answer.
    /// `current` gives the coordinator epoch of an id the broker answers for now; an id it
    /// does not answer for, or answers for in another epoch, is dropped.
    pub fn on_response(
        &mut self,
        response: WriteTxnMarkersResponse,
        current: impl Fn(&str) -> Option<i32>,
    ) {
        let Some((_, entries)) = self.in_flight.remove(&response.correlation_id) else {
            return; // Timed out earlier and sent again.
        };
        let mut answers: BTreeMap<(i64, TopicPartition), ErrorCode> = BTreeMap::new();
        for marker in response.markers {
            for (tp, error) in marker.partitions {
                answers.insert((marker.producer_id, tp), error);
            }
        }
        for (id, tp) in entries {
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            if current(&id) != Some(p.coordinator_epoch) {
                self.remove(&id);
                continue;
            }
            // A partition the answer leaves out is sent again, as after a disconnect.
            let error = answers
                .get(&(p.producer_id, tp.clone()))
                .copied()
                .unwrap_or(ErrorCode::NetworkException);
            match error {
                ErrorCode::None => {
                    p.remaining.remove(&tp);
                }
                ErrorCode::InvalidProducerEpoch | ErrorCode::TransactionCoordinatorFenced => {
                    self.remove(&id);
                }
                // NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS(_AFTER_APPEND),
                // REQUEST_TIMED_OUT, UNKNOWN_TOPIC_OR_PARTITION and the rest: again, to the
                // leader the metadata names then.
                _ => {
                    self.unsent.insert((id, tp));
                }
            }
        }
    }

    /// A WriteTxnMarkers went unanswered for `request.timeout.ms`: its markers are sent
    /// again. Returns the broker it went to, if it was still in flight.
    pub fn on_timeout(&mut self, correlation_id: u64) -> Option<BrokerId> {
        let (broker, entries) = self.in_flight.remove(&correlation_id)?;
        self.requeue(entries);
        Some(broker)
    }

    /// The connection to `broker` closed (it crashed, or refused the connection): every
    /// WriteTxnMarkers in flight there is sent again, to the leaders the metadata names then
    /// (`TransactionMarkerRequestCompletionHandler.onComplete`, `wasDisconnected`). Returns
    /// whether one was in flight.
    pub fn on_disconnected(&mut self, broker: BrokerId) -> bool {
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, (to, _))| *to == broker)
            .map(|(c, _)| *c)
            .collect();
        for correlation_id in &lost {
            let (_, entries) = self.in_flight.remove(correlation_id).expect("listed");
            self.requeue(entries);
        }
        !lost.is_empty()
    }

    /// Markers of requests that got no answer, queued to be sent again.
    fn requeue(&mut self, entries: Vec<(String, TopicPartition)>) {
        for entry in entries {
            if self.pending.contains_key(&entry.0) {
                self.unsent.insert(entry);
            }
        }
    }

    /// The transactions whose markers are all written, with the completion to write
    /// (`maybeWriteTxnCompletion`), now out of the channel.
    pub fn take_completed(&mut self) -> Vec<Completion> {
        let done: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.remaining.is_empty())
            .map(|(id, _)| id.clone())
            .collect();
        done.into_iter()
            .map(|id| {
                let p = self.pending.remove(&id).expect("listed");
                (id, p.coordinator_epoch, p.complete)
            })
            .collect()
    }

    /// A completion's write failed with a retriable error: write it again later
    /// (`txnLogAppendRetryQueue`).
    pub fn retry_completion(&mut self, completion: Completion) {
        self.completion_retries.push(completion);
    }

    pub fn take_completion_retries(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.completion_retries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A metadata cache where `orders-0` is led by `leader`.
    struct Leaders {
        leader: BrokerId,
    }

    impl TxnHost for Leaders {
        fn leader(&self, _tp: &TopicPartition) -> PartitionLeader {
            PartitionLeader::Leader(self.leader)
        }

        fn new_producer_id(&mut self) -> Option<i64> {
            None
        }
    }

    fn sent_to(out: &TxnCoordinatorOutput) -> Vec<NodeId> {
        out.messages.iter().map(|(to, _)| *to).collect()
    }

    /// The leader crashed with the marker in flight: the reset connection re-sends it to
    /// the leader the metadata names now, not after `request.timeout.ms`.
    #[test]
    fn a_marker_on_a_reset_connection_goes_to_the_new_leader_at_once() {
        let mut m = TransactionMetadata::new("tx-1", 4000, 60_000, 0);
        m.topic_partitions.insert(TopicPartition::new("orders", 0));
        let complete = m.prepare_no_transit();
        let mut channel = MarkerChannel::default();
        channel.add("tx-1", 0, TransactionResult::Commit, &m, complete);
        let mut out = TxnCoordinatorOutput::default();
        assert!(!channel.drain(&Leaders { leader: 2 }, 30_000, &mut out));
        assert_eq!(sent_to(&out), vec![NodeId::Broker(2)]);

        assert!(
            !channel.on_disconnected(1),
            "nothing was in flight to broker 1"
        );
        assert!(channel.on_disconnected(2));
        let mut out = TxnCoordinatorOutput::default();
        channel.drain(&Leaders { leader: 0 }, 30_000, &mut out);
        assert_eq!(sent_to(&out), vec![NodeId::Broker(0)]);
        assert!(channel.take_completed().is_empty(), "not answered yet");
    }
}
