//! Producer ids for idempotent producers: the `InitProducerId` a producer without a
//! transactional id sends to any broker (`TransactionCoordinator.handleInitProducerId` with a
//! null transactional id: a fresh id at epoch 0, nothing stored).
//!
//! Kafka hands ids out in blocks of 1000 (`ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`); in
//! ZooKeeper mode a broker claims its next block with a conditional write of
//! `/latest_producer_id_block` (`ZkProducerIdManager`), so ids never repeat in the cluster.
//! Here a broker's block is numbered by its ZooKeeper session, which is unique in the
//! cluster's life: ids never repeat either, without the extra znode. A broker takes a new
//! block with each new session; one session hands out at most a block. In KRaft mode the
//! controller hands blocks out (`AllocateProducerIds`, KIP-730, a `ProducerIdsRecord` in the
//! metadata log); here the block is numbered by the broker epoch instead, the offset of the
//! broker's registration record, as unique in the cluster's life as a session.

use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::protocol::*;
use crate::types::*;

/// `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// The block of producer ids a broker hands out, and the next one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ProducerIdBlock {
    session_id: u64,
    next: i64,
}

/// `ProducerIdManager.generateProducerId`: the next id of the block of `registration` (the
/// ZooKeeper session, or the KRaft broker epoch), taking that block if `block` is another's.
/// `None` without a registration, or once the block is used up.
pub(super) fn allocate_producer_id(
    block: &mut Option<ProducerIdBlock>,
    registration: Option<u64>,
) -> Option<i64> {
    let session_id = registration?;
    let current = block
        .filter(|b| b.session_id == session_id)
        .unwrap_or(ProducerIdBlock {
            session_id,
            next: session_id as i64 * PRODUCER_ID_BLOCK_SIZE,
        });
    let end = (session_id as i64 + 1) * PRODUCER_ID_BLOCK_SIZE;
    (current.next < end).then(|| {
        *block = Some(ProducerIdBlock {
            next: current.next + 1,
            ..current
        });
        current.next
    })
}

impl Broker {
    /// What this broker's producer ids are numbered by: its ZooKeeper session, or in KRaft
    /// mode its broker epoch; `None` while it has neither.
    pub(super) fn producer_id_registration(&self) -> Option<u64> {
        match self.kraft.is_some() {
            true => self.kraft_broker_epoch(),
            false => self.zk.session_id,
        }
    }

    /// Answers an idempotent producer's InitProducerId with a fresh producer id at epoch 0,
    /// or COORDINATOR_NOT_AVAILABLE (retriable) while this broker has no ZooKeeper session
    /// (KRaft: no registration) or its block is used up. With a transactional id the
    /// request goes to the transaction coordinator.
    pub(super) fn on_init_producer_id(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: InitProducerIdRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        if request.transactional_id.is_some() {
            return self.on_txn_request(now_ms, from, Message::InitProducerId(request), out);
        }
        let registration = self.producer_id_registration();
        let producer_id = allocate_producer_id(&mut self.producer_ids, registration);
        let response = match producer_id {
            Some(producer_id) => InitProducerIdResponse {
                correlation_id: request.correlation_id,
                error: ErrorCode::None,
                producer_id,
                producer_epoch: 0,
            },
            None => InitProducerIdResponse {
                correlation_id: request.correlation_id,
                error: ErrorCode::CoordinatorNotAvailable,
                producer_id: -1,
                producer_epoch: -1,
            },
        };
        out.send(from, Message::InitProducerIdResponse(response));
    }
}
