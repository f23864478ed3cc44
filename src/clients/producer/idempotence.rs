//! The idempotent producer's bookkeeping (the non-transactional half of Kafka's
//! `TransactionManager`, with its `TxnPartitionMap`): the producer id and epoch, and per
//! partition the next sequence number, the last acknowledged one and the sequences of the
//! batches not yet resolved.
//!
//! Why apart from the sender: these are the rules that keep a retried batch from being
//! written twice and records in order, and a reader checks them against Kafka's code one by
//! one. A batch gets its sequence numbers the first time it is drained and keeps them on every
//! retry, so the leader can recognise it (`ProducerStateManager`'s duplicate check); a retried
//! batch goes out only once every earlier batch of its partition is resolved, so a gap is
//! never of the producer's making. When the leader answers OUT_OF_ORDER_SEQUENCE_NUMBER for
//! the batch that directly follows the last acknowledged one, the gap is real (the leader
//! lost records it had acknowledged, or a batch failed for good): the producer bumps its epoch
//! itself and numbers that partition's batches from 0 again
//! (`TransactionManager.bumpIdempotentEpochAndResetIdIfNeeded`, KIP-360).

use crate::types::{BatchStamp, ErrorCode};
use std::collections::{BTreeMap, BTreeSet};

/// `TxnPartitionEntry`: one partition's sequences, under the epoch they were numbered in.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PartitionSequences {
    producer_epoch: i16,
    next_sequence: i32,
    /// `lastAckedSequence`; `None` before the first acknowledgement (`NO_LAST_ACKED_SEQUENCE_NUMBER`).
    last_acked_sequence: Option<i32>,
    /// Base sequences of the batches numbered and not yet resolved (`inflightBatchesBySequence`):
    /// sent and unanswered, or waiting to be retried.
    unresolved: BTreeSet<i32>,
}

impl PartitionSequences {
    /// A partition numbered from 0 in `producer_epoch` (`startSequencesAtBeginning`).
    fn starting(producer_epoch: i16) -> PartitionSequences {
        PartitionSequences {
            producer_epoch,
            next_sequence: 0,
            last_acked_sequence: None,
            unresolved: BTreeSet::new(),
        }
    }

    /// The next `records` sequences, for a batch of that many records.
    fn number(&mut self, producer_id: i64, records: u32, is_transactional: bool) -> BatchStamp {
        assert!(records > 0, "a batch holds records");
        let base_sequence = self.next_sequence;
        self.next_sequence = increment_sequence(base_sequence, records as i32);
        self.unresolved.insert(base_sequence);
        BatchStamp {
            producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence,
            last_sequence: increment_sequence(base_sequence, records as i32 - 1),
            is_transactional,
        }
    }
}

/// What to do with a batch the leader refused (`TransactionManager.canRetry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SequenceError {
    /// Not the batch after the last acknowledged one: an earlier batch failed, retry as is.
    Retry,
    /// A real gap: retry after an epoch bump renumbers the partition from 0.
    RetryAfterEpochBump,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Idempotence {
    /// The producer id and epoch, once an InitProducerId was answered.
    producer_id_and_epoch: Option<(i64, i16)>,
    partitions: BTreeMap<u32, PartitionSequences>,
    /// Partitions whose gap asks for an epoch bump (`partitionsToRewriteSequences`).
    partitions_to_rewrite: BTreeSet<u32>,
    /// A transactional producer's: its batches say so (`ProducerBatch.setProducerState`
    /// with `isTransactional`), and it never bumps its epoch by itself (its coordinator does,
    /// through InitProducerId).
    transactional: bool,
}

/// `DefaultRecordBatch.incrementSequence`: sequences wrap after `Integer.MAX_VALUE` to 0.
fn increment_sequence(sequence: i32, by: i32) -> i32 {
    ((i64::from(sequence) + i64::from(by)) % (i64::from(i32::MAX) + 1)) as i32
}

impl Idempotence {
    pub(super) fn new(transactional: bool) -> Idempotence {
        Idempotence {
            transactional,
            ..Idempotence::default()
        }
    }

    pub(super) fn is_transactional(&self) -> bool {
        self.transactional
    }

    pub(super) fn has_producer_id(&self) -> bool {
        self.producer_id_and_epoch.is_some()
    }

    pub(super) fn producer_id_and_epoch(&self) -> Option<(i64, i16)> {
        self.producer_id_and_epoch
    }

    /// The InitProducerId answer: a fresh id at epoch 0.
    pub(super) fn set_producer_id(&mut self, producer_id: i64, producer_epoch: i16) {
        assert!(
            producer_id >= 0 && producer_epoch >= 0,
            "a valid producer id"
        );
        self.producer_id_and_epoch = Some((producer_id, producer_epoch));
    }

    /// A transactional producer's epoch bump through InitProducerId (KIP-360), after its
    /// transaction ended: every partition is numbered from 0 again under the new epoch
    /// (`InitProducerIdHandler` calling `resetSequenceNumbers` for an epoch bump). Nothing
    /// of the old epoch is unresolved then: the transaction's end waited for every batch.
    pub(super) fn reset_producer_id(&mut self, producer_id: i64, producer_epoch: i16) {
        self.set_producer_id(producer_id, producer_epoch);
        self.partitions.clear();
        self.partitions_to_rewrite.clear();
    }

    fn current_epoch(&self) -> i16 {
        self.producer_id_and_epoch.expect("a producer id").1
    }

    /// Whether a partition's first queued batch may be drained (`RecordAccumulator
    /// .shouldStopDrainBatchesForPartition`): not before there is a producer id; a batch that
    /// already has its sequences (a retry) only when it is the first unresolved one of its
    /// partition, so retries keep their order; a new batch not while the partition's numbering
    /// belongs to an older epoch and batches of it are unresolved.
    pub(super) fn may_drain(&self, partition: u32, stamp: Option<&BatchStamp>) -> bool {
        let Some((_, epoch)) = self.producer_id_and_epoch else {
            return false;
        };
        let entry = self.partitions.get(&partition);
        match stamp {
            Some(stamp) => {
                entry.and_then(|e| e.unresolved.first().copied()) == Some(stamp.base_sequence)
            }
            None => entry.is_none_or(|e| e.producer_epoch == epoch || e.unresolved.is_empty()),
        }
    }

    /// Numbers a batch of `records` records drained for the first time (`ProducerBatch
    /// .setProducerState` with `TransactionManager.sequenceNumber`); a partition still numbered
    /// in an older epoch starts again from 0 in the current one (`maybeUpdateProducerIdAndEpoch`).
    pub(super) fn stamp_new_batch(&mut self, partition: u32, records: u32) -> BatchStamp {
        let (producer_id, epoch) = self.producer_id_and_epoch.expect("a producer id");
        let entry = self
            .partitions
            .entry(partition)
            .or_insert_with(|| PartitionSequences::starting(epoch));
        if entry.producer_epoch != epoch {
            assert!(entry.unresolved.is_empty(), "checked by may_drain");
            *entry = PartitionSequences::starting(epoch);
        }
        entry.number(producer_id, records, self.transactional)
    }

    /// A batch acknowledged: its sequences are the partition's last acknowledged ones.
    pub(super) fn on_acknowledged(&mut self, partition: u32, stamp: &BatchStamp) {
        let Some(entry) = self.partitions.get_mut(&partition) else {
            return;
        };
        if entry.producer_epoch != stamp.producer_epoch {
            return;
        }
        entry.unresolved.remove(&stamp.base_sequence);
        entry.last_acked_sequence = Some(
            entry
                .last_acked_sequence
                .map_or(stamp.last_sequence, |a| a.max(stamp.last_sequence)),
        );
    }

    /// A batch failed for good (out of retries or time): nobody knows whether the leader wrote
    /// it, so its partition's numbering cannot go on; the next epoch starts it again from 0
    /// (`handleFailedBatch` requesting an epoch bump for the idempotent producer).
    pub(super) fn on_failed(&mut self, partition: u32, stamp: &BatchStamp) {
        if let Some(entry) = self.partitions.get_mut(&partition) {
            if entry.producer_epoch == stamp.producer_epoch {
                entry.unresolved.remove(&stamp.base_sequence);
                self.partitions_to_rewrite.insert(partition);
            }
        }
    }

    /// OUT_OF_ORDER_SEQUENCE_NUMBER, or UNKNOWN_PRODUCER_ID from a broker before 2.5, for a
    /// batch (`TransactionManager.canRetry`): the batch right after the last acknowledged one
    /// means a real gap, so the epoch is bumped; any other is retried, an earlier batch failed.
    pub(super) fn on_sequence_error(
        &mut self,
        partition: u32,
        stamp: &BatchStamp,
        error: ErrorCode,
    ) -> SequenceError {
        assert!(matches!(
            error,
            ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId
        ));
        let Some(entry) = self.partitions.get(&partition) else {
            return SequenceError::Retry;
        };
        if entry.producer_epoch != stamp.producer_epoch {
            return SequenceError::Retry;
        }
        let expected = entry
            .last_acked_sequence
            .map_or(0, |a| increment_sequence(a, 1));
        if stamp.base_sequence == expected || error == ErrorCode::UnknownProducerId {
            self.partitions_to_rewrite.insert(partition);
            SequenceError::RetryAfterEpochBump
        } else {
            SequenceError::Retry
        }
    }

    /// Whether an epoch bump waits to be made.
    pub(super) fn epoch_bump_wanted(&self) -> bool {
        !self.partitions_to_rewrite.is_empty()
    }

    /// The partitions an epoch bump renumbers.
    pub(super) fn partitions_to_rewrite(&self) -> impl Iterator<Item = u32> + '_ {
        self.partitions_to_rewrite.iter().copied()
    }

    /// `bumpIdempotentProducerEpoch`: the epoch goes up by one, and every partition that
    /// asked for it is numbered from 0 again; its batches still waiting (`waiting`: the record
    /// count of each, in sequence order) get new sequences from 0, in order, and these are
    /// returned for the caller to write into them (`startSequencesAtBeginning`). The caller
    /// makes the bump only when none of those partitions has a request in flight. At epoch
    /// `Short.MAX_VALUE` Kafka asks for a new producer id instead; runs never get there.
    pub(super) fn bump_epoch(
        &mut self,
        waiting: &BTreeMap<u32, Vec<u32>>,
    ) -> BTreeMap<u32, Vec<BatchStamp>> {
        assert!(
            !self.transactional,
            "a transactional producer's coordinator bumps its epoch"
        );
        let (producer_id, epoch) = self.producer_id_and_epoch.expect("a producer id");
        assert!(
            epoch < i16::MAX,
            "the epoch is exhausted only after 32767 bumps"
        );
        let epoch = epoch + 1;
        self.producer_id_and_epoch = Some((producer_id, epoch));
        let mut stamps = BTreeMap::new();
        for partition in std::mem::take(&mut self.partitions_to_rewrite) {
            let mut entry = PartitionSequences::starting(epoch);
            let renumbered: Vec<BatchStamp> = waiting
                .get(&partition)
                .into_iter()
                .flatten()
                .map(|&records| entry.number(producer_id, records, false))
                .collect();
            self.partitions.insert(partition, entry);
            stamps.insert(partition, renumbered);
        }
        debug_assert_eq!(self.current_epoch(), epoch);
        stamps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> Idempotence {
        let mut i = Idempotence::default();
        assert!(
            !i.may_drain(0, None),
            "nothing goes out before a producer id"
        );
        i.set_producer_id(42, 0);
        i
    }

    #[test]
    fn batches_are_numbered_per_partition_and_retries_keep_their_order() {
        let mut i = started();
        let a = i.stamp_new_batch(0, 3);
        let b = i.stamp_new_batch(0, 2);
        let c = i.stamp_new_batch(1, 1);
        assert_eq!((a.base_sequence, a.last_sequence), (0, 2));
        assert_eq!((b.base_sequence, b.last_sequence), (3, 4));
        assert_eq!((c.base_sequence, c.last_sequence), (0, 0));
        // b is retried: it waits until a is resolved.
        assert!(i.may_drain(0, Some(&a)));
        assert!(!i.may_drain(0, Some(&b)));
        i.on_acknowledged(0, &a);
        assert!(i.may_drain(0, Some(&b)));
    }

    #[test]
    fn a_real_gap_bumps_the_epoch_and_renumbers_from_zero() {
        let mut i = started();
        let a = i.stamp_new_batch(0, 2);
        let b = i.stamp_new_batch(0, 2);
        i.on_acknowledged(0, &a);
        // b follows the last acknowledged sequence: the leader lost what it acknowledged.
        assert_eq!(
            i.on_sequence_error(0, &b, ErrorCode::OutOfOrderSequenceNumber),
            SequenceError::RetryAfterEpochBump
        );
        assert!(i.epoch_bump_wanted());
        let stamps = i.bump_epoch(&BTreeMap::from([(0, vec![2])]));
        assert_eq!(i.producer_id_and_epoch(), Some((42, 1)));
        let renumbered = stamps[&0][0];
        assert_eq!(
            (
                renumbered.producer_epoch,
                renumbered.base_sequence,
                renumbered.last_sequence
            ),
            (1, 0, 1)
        );
        assert!(i.may_drain(0, Some(&renumbered)));
        assert_eq!(i.stamp_new_batch(0, 1).base_sequence, 2);
    }

    #[test]
    fn a_batch_behind_a_failed_one_is_retried_without_a_bump() {
        let mut i = started();
        let _a = i.stamp_new_batch(0, 1);
        let b = i.stamp_new_batch(0, 1);
        assert_eq!(
            i.on_sequence_error(0, &b, ErrorCode::OutOfOrderSequenceNumber),
            SequenceError::Retry
        );
        assert!(!i.epoch_bump_wanted());
    }

    #[test]
    fn other_partitions_start_again_at_zero_once_their_batches_are_resolved() {
        let mut i = started();
        let a = i.stamp_new_batch(0, 1);
        let x = i.stamp_new_batch(1, 1);
        i.on_acknowledged(0, &a);
        let lost = i.stamp_new_batch(0, 1);
        i.on_failed(0, &lost);
        i.bump_epoch(&BTreeMap::new());
        // Partition 1 still has x unresolved under epoch 0: no new batch until it is.
        assert!(!i.may_drain(1, None));
        i.on_acknowledged(1, &x);
        assert!(i.may_drain(1, None));
        let y = i.stamp_new_batch(1, 1);
        assert_eq!((y.producer_epoch, y.base_sequence), (1, 0));
    }

    #[test]
    fn sequences_wrap_after_integer_max() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    }
}
