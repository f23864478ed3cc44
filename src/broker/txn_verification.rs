//! KIP-890 part 1 on the partition leader (3.6.0, `transaction.partition.verification.enable`):
//! before a producer's transactional batch opens a transaction on a partition, the leader
//! asks the producer's transaction coordinator whether the partition is in its ongoing
//! transaction at that epoch (`AddPartitionsToTxn` with `verify_only`), and appends only once
//! the coordinator says so (Kafka's `ReplicaManager.handleProduceAppend`,
//! `maybeStartTransactionVerificationForPartitions` and `AddPartitionsToTxnManager`).
//!
//! Why: without it, a produce delayed past the end of its transaction (or a zombie's write to
//! a partition its transaction never held) opens a transaction the coordinator knows nothing
//! of, and no marker ever closes it: a hanging transaction holds the partition's last stable
//! offset back for good. The check cannot be made once and trusted later, because a marker
//! can end the transaction between the coordinator's answer and the append; the log's
//! verification guard (see `producer_state/verification.rs`) catches that.
//!
//! From 4.0 (KIP-890 part 2) a client on transaction version 2 no longer adds partitions
//! itself: the same request, sent without `verify_only`, adds the partition to the
//! transaction (and opens one), and the append follows the coordinator's NONE.
//!
//! Simplified: Kafka's `AddPartitionsToTxnManager` batches the verifications of many
//! produce requests into one request per coordinator with one in flight per node, and
//! answers a superseded verification of the same transactional id at once (NETWORK_EXCEPTION,
//! or INVALID_PRODUCER_EPOCH when a newer epoch supersedes it); the model sends one request
//! per produce request, so superseded verifications are answered by the coordinator like any
//! other.

use super::replica_manager::ProduceReplyTo;
use super::txn_coordinator_glue::TXN_APPEND_TIMEOUT_MS;
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::coordinator::transaction::log::TRANSACTION_STATE_TOPIC;
use crate::coordinator::transaction::TransactionVersion;
use crate::producer_state::VerificationGuard;
use crate::protocol::*;
use crate::types::*;
use std::collections::BTreeMap;

/// What a produce request's verification found: per partition, an error to answer with
/// instead of appending, or the guard its append carries.
#[derive(Clone, Debug, Default)]
pub(super) struct Verified {
    pub(super) errors: BTreeMap<TopicPartition, ErrorCode>,
    pub(super) guards: BTreeMap<TopicPartition, VerificationGuard>,
}

/// A produce request waiting for its coordinator's answer (the callback Kafka's
/// `AddPartitionsToTxnManager` keeps per transactional id).
#[derive(Clone, Debug)]
pub(super) struct PendingVerification {
    pub(super) reply_to: ProduceReplyTo,
    pub(super) request: ProduceRequest,
    pub(super) coordinator: BrokerId,
    pub(super) verified: Verified,
}

/// `ReplicaManager.handleProduceAppend`'s translation of the coordinator's errors: retriable
/// ones an older client would not retry become NOT_ENOUGH_REPLICAS (KAFKA-15459, which does
/// not refresh metadata); the rest pass as they are (INVALID_TXN_STATE: the partition was
/// not added to the transaction).
fn produce_error_of_verification(error: ErrorCode) -> ErrorCode {
    match error {
        ErrorCode::ConcurrentTransactions
        | ErrorCode::NetworkException
        | ErrorCode::CoordinatorLoadInProgress
        | ErrorCode::CoordinatorNotAvailable
        | ErrorCode::NotCoordinator => ErrorCode::NotEnoughReplicas,
        other => other,
    }
}

/// `AddPartitionsToTxnManager.AddPartitionsToTxnHandler.onComplete`: a producer expects
/// INVALID_PRODUCER_EPOCH from a partition, not the coordinator's PRODUCER_FENCED.
fn leader_error_of_coordinator(error: ErrorCode) -> ErrorCode {
    match error {
        ErrorCode::ProducerFenced => ErrorCode::InvalidProducerEpoch,
        other => other,
    }
}

impl Broker {
    /// `ReplicaManager.handleProduceAppend` up to the verification: returns the request and
    /// what needs no answer from the coordinator, or `None` when the request now waits for
    /// one. Only a client's request with a transactional id is verified, and only its
    /// transactional batches on partitions where the producer has no transaction open.
    pub(super) fn maybe_start_transaction_verification(
        &mut self,
        reply_to: ProduceReplyTo,
        request: ProduceRequest,
        out: &mut Output<BrokerTimer>,
    ) -> Option<(ProduceRequest, Verified)> {
        let mut verified = Verified::default();
        let ProduceReplyTo::Client(_) = reply_to else {
            return Some((request, verified));
        };
        let Some(transactional_id) = request.transactional_id.clone() else {
            return Some((request, verified));
        };
        // Kafka 4.0 skips the verification when the key is off only for a client on the
        // classic protocol: a client on transaction version 2 relies on the leader to add
        // its partitions (`maybeStartTransactionVerificationForPartitions`).
        let adds = request.transaction_version.supports_epoch_bump();
        if !self.config.transaction_partition_verification() && !adds {
            return Some((request, verified));
        }
        let epoch_checked = self.release().has_epoch_checked_ongoing_transaction();
        // The producer id and epoch of the request's transactional batches (Kafka refuses a
        // request mixing producer ids; a client never sends one).
        let mut producer = None;
        for part in &request.partitions {
            let Some(stamp) = part.producer.filter(|s| s.is_transactional) else {
                continue;
            };
            producer = Some((stamp.producer_id, stamp.producer_epoch));
            // `maybeStartTransactionVerificationForPartition`: `getPartitionOrException`, then
            // `UnifiedLog.maybeStartTransactionVerification`.
            let leads = self
                .partitions
                .get(&part.tp)
                .is_some_and(|p| matches!(p.role, super::partition::Role::Leader(_)));
            if !leads {
                verified
                    .errors
                    .insert(part.tp.clone(), ErrorCode::NotLeaderOrFollower);
                continue;
            }
            let log = self
                .disk
                .logs
                .get_mut(&part.tp)
                .expect("a leader has a log");
            let guard = log.maybe_start_transaction_verification(
                stamp.producer_id,
                stamp.base_sequence,
                stamp.producer_epoch,
                epoch_checked,
            );
            if guard != VerificationGuard::SENTINEL {
                verified.guards.insert(part.tp.clone(), guard);
            }
        }
        let Some((producer_id, producer_epoch)) = producer else {
            return Some((request, verified));
        };
        if verified.guards.is_empty() {
            return Some((request, verified));
        }
        // `AddPartitionsToTxnManager.verifyTransaction`: the coordinator is the live leader of
        // the id's partition of `__transaction_state` in this broker's metadata cache.
        let partition = self.txn_coordinator.partition_for(&transactional_id);
        let coordinator = self
            .metadata
            .get(&TopicPartition::new(TRANSACTION_STATE_TOPIC, partition))
            .and_then(|m| m.leader)
            .filter(|leader| self.live_brokers.contains(leader));
        let Some(coordinator) = coordinator else {
            for tp in verified.guards.keys() {
                verified.errors.insert(
                    tp.clone(),
                    produce_error_of_verification(ErrorCode::CoordinatorNotAvailable),
                );
            }
            return Some((request, verified));
        };
        // KIP-890 part 2: a client on transaction version 2 adds no partition itself; the
        // leader's request adds it (`verify_only` false, `TransactionSupportedOperation
        // .addPartition`), and the coordinator starts the transaction if none is open.
        let correlation_id = self.next_correlation();
        out.send(
            NodeId::Broker(coordinator),
            Message::AddPartitionsToTxn(AddPartitionsToTxnRequest {
                correlation_id,
                transactional_id,
                producer_id,
                producer_epoch,
                partitions: verified.guards.keys().cloned().collect(),
                verify_only: !adds,
                transaction_version: match adds {
                    true => TransactionVersion::V2,
                    false => TransactionVersion::V0,
                },
            }),
        );
        // `InterBrokerSendThread`: the request times out after `request.timeout.ms`.
        out.timer(
            TXN_APPEND_TIMEOUT_MS,
            BrokerTimer::TxnVerificationTimeout { correlation_id },
        );
        self.txn_verifications.insert(
            correlation_id,
            PendingVerification {
                reply_to,
                request,
                coordinator,
                verified,
            },
        );
        None
    }

    /// The coordinator answered a verification (`AddPartitionsToTxnHandler.onComplete`, then
    /// `handleProduceAppend`'s `postVerificationCallback`): partitions it did not confirm are
    /// answered with its error, the others appended with their guards.
    pub(super) fn on_verification_response(
        &mut self,
        now_ms: u64,
        from: NodeId,
        response: AddPartitionsToTxnResponse,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(pending) = self.txn_verifications.get(&response.correlation_id) else {
            return;
        };
        if from != NodeId::Broker(pending.coordinator) {
            return;
        }
        let mut pending = self
            .txn_verifications
            .remove(&response.correlation_id)
            .expect("looked up");
        for (tp, error) in response.results {
            if error != ErrorCode::None && pending.verified.guards.contains_key(&tp) {
                let error = produce_error_of_verification(leader_error_of_coordinator(error));
                pending.verified.errors.insert(tp, error);
            }
        }
        self.append_and_answer(
            now_ms,
            pending.reply_to,
            pending.request,
            pending.verified,
            out,
        );
    }

    /// No answer in time, or the connection to the coordinator closed: NETWORK_EXCEPTION for
    /// every partition asked about (`sendCallbacksToAll`), which the produce answers as
    /// NOT_ENOUGH_REPLICAS.
    pub(super) fn fail_verification(
        &mut self,
        now_ms: u64,
        correlation_id: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(mut pending) = self.txn_verifications.remove(&correlation_id) else {
            return;
        };
        let error = produce_error_of_verification(ErrorCode::NetworkException);
        for tp in pending.verified.guards.keys() {
            pending.verified.errors.insert(tp.clone(), error);
        }
        self.append_and_answer(
            now_ms,
            pending.reply_to,
            pending.request,
            pending.verified,
            out,
        );
    }

    /// The connection to `peer` closed: its verifications fail.
    pub(super) fn fail_verifications_to(
        &mut self,
        now_ms: u64,
        peer: NodeId,
        out: &mut Output<BrokerTimer>,
    ) {
        let failed: Vec<u64> = self
            .txn_verifications
            .iter()
            .filter(|(_, p)| NodeId::Broker(p.coordinator) == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in failed {
            self.fail_verification(now_ms, id, out);
        }
    }
}
