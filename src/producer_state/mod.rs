//! A partition's producer state: what each idempotent producer last wrote to it (Kafka's
//! `ProducerStateManager`, `ProducerStateEntry` and `ProducerAppendInfo`).
//!
//! Why it exists: a producer retries a batch whose answer it did not get, and the leader may
//! have written it already. An idempotent producer numbers its batches per partition; the
//! leader remembers the last [`BATCHES_RETAINED`] batches of each producer id, answers a
//! batch it already holds with the original offset instead of writing it again, and refuses
//! a batch whose first sequence leaves a gap (OUT_OF_ORDER_SEQUENCE_NUMBER), so records
//! arrive once and in order.
//!
//! The state is a function of the log: every replica builds it from the batches it appends,
//! the leader from the producers' and a follower from what it fetches (Kafka's
//! `AppendOrigin.REPLICATION`: no checks, only bookkeeping), so a new leader knows the
//! producers its predecessor knew. After a truncation it is rebuilt by reading the log again
//! (`UnifiedLog.truncateTo` then `rebuildProducerState`); Kafka starts that replay from its
//! newest producer snapshot, written at a segment roll or a clean shutdown, and the
//! simulator's log has no segments yet, so it replays from the log start, which gives the
//! same state Kafka's replay without a snapshot gives.
//!
//! Not modelled: `producer.id.expiration.ms` (a day by default; runs are minutes long), and
//! the 0.11.0 broker's cache of one batch per producer (five from 1.0.0, KAFKA-5494).

mod transactions;
#[cfg(test)]
mod transactions_tests;
mod verification;

pub use transactions::{
    AbortedTxn, AppendOrigin, CompletedTxn, PartitionTransactions, TxnProducer,
};
pub use verification::{VerificationEntry, VerificationGuard, VerificationStates};

use crate::kafka_version::KafkaVersion;
use crate::types::{BatchStamp, ErrorCode, RecordBatch};
use std::collections::{BTreeMap, VecDeque};

/// How many batches per producer id the state keeps for the duplicate check
/// (`ProducerStateEntry.NUM_BATCHES_TO_RETAIN`), and so the most requests a producer may have
/// in flight with idempotence (`max.in.flight.requests.per.connection` ≤ 5).
pub const BATCHES_RETAINED: usize = 5;

/// One batch of a producer, as the state keeps it (Kafka's `BatchMetadata`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: u64,
    pub last_offset: u64,
}

/// One producer id's state on a partition (Kafka's `ProducerStateEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerEntry {
    pub producer_epoch: i16,
    /// The newest batches of `producer_epoch`, oldest first.
    pub batches: VecDeque<BatchMetadata>,
}

/// What the leader does with a producer's batch (`UnifiedLog.analyzeAndValidateProducerState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Append it.
    Append,
    /// It is already in the log at these offsets: answer with them and append nothing.
    Duplicate { first_offset: u64, last_offset: u64 },
    /// Refuse it with this error.
    Reject(ErrorCode),
}

/// The rules that changed across releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerRules {
    /// From 2.5 (KIP-360): no state for the producer id means any sequence is accepted.
    pub unknown_producer_accepts_any_sequence: bool,
}

impl ProducerRules {
    pub fn of_release(release: KafkaVersion) -> ProducerRules {
        ProducerRules {
            unknown_producer_accepts_any_sequence: release
                .accepts_any_sequence_from_unknown_producer(),
        }
    }
}

/// Kafka's `ProducerStateManager` for one partition, without transactions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: BTreeMap<i64, ProducerEntry>,
}

/// `ProducerAppendInfo.inSequence`: the next sequence follows the last, wrapping after
/// `Integer.MAX_VALUE` to 0.
fn in_sequence(last_sequence: i32, next_sequence: i32) -> bool {
    i64::from(next_sequence) == i64::from(last_sequence) + 1
        || (next_sequence == 0 && last_sequence == i32::MAX)
}

impl ProducerStateManager {
    /// The state a log's batches give, read from the first (Kafka's `UnifiedLog
    /// .rebuildProducerState` through `loadProducersFromRecords`): each idempotent batch,
    /// kept empty by the cleaner or not, with its first and last offset.
    pub fn rebuild<'a>(batches: impl IntoIterator<Item = &'a RecordBatch>) -> ProducerStateManager {
        let mut state = ProducerStateManager::default();
        for b in batches {
            if let Some(stamp) = b.producer {
                state.record(&stamp, b.base_offset, b.last_offset);
            }
        }
        state
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// A batch from a client, checked in Kafka's order: the duplicate check first
    /// (`ProducerStateEntry.findDuplicateBatch`: same epoch and exactly the same first and
    /// last sequence as a batch it keeps), then the epoch (`ProducerAppendInfo
    /// .checkProducerEpoch`: an older epoch is INVALID_PRODUCER_EPOCH), then the sequence
    /// (`ProducerAppendInfo.checkSequence`): a new epoch must start at 0 unless the producer
    /// id has no epoch here at all; the same epoch must continue the last sequence.
    pub fn check(&self, stamp: &BatchStamp, rules: ProducerRules) -> Check {
        let Some(entry) = self.producers.get(&stamp.producer_id) else {
            // No state: from 2.5 anything goes; before, a producer id the partition does not
            // know must start at sequence 0 (`UnknownProducerIdException`).
            if rules.unknown_producer_accepts_any_sequence || stamp.base_sequence == 0 {
                return Check::Append;
            }
            return Check::Reject(ErrorCode::UnknownProducerId);
        };
        if entry.producer_epoch == stamp.producer_epoch {
            if let Some(b) = entry.batches.iter().find(|b| {
                b.first_sequence == stamp.base_sequence && b.last_sequence == stamp.last_sequence
            }) {
                return Check::Duplicate {
                    first_offset: b.first_offset,
                    last_offset: b.last_offset,
                };
            }
        }
        if stamp.producer_epoch < entry.producer_epoch {
            return Check::Reject(ErrorCode::InvalidProducerEpoch);
        }
        if stamp.producer_epoch != entry.producer_epoch {
            return if stamp.base_sequence == 0 {
                Check::Append
            } else {
                Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
            };
        }
        // An entry without batches (a marker set its epoch) ends at `NO_SEQUENCE` (-1), so
        // the epoch's first batch must be sequence 0.
        let last_sequence = entry.batches.back().map_or(-1, |b| b.last_sequence);
        if in_sequence(last_sequence, stamp.base_sequence) {
            Check::Append
        } else {
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
        }
    }

    /// A batch the group coordinator writes for a transactional offset commit
    /// (`AppendOrigin.COORDINATOR`): Kafka looks for no duplicate and checks no sequence
    /// (`UnifiedLog.analyzeAndValidateProducerState`, `ProducerAppendInfo
    /// .maybeValidateDataBatch`), only that the epoch is not older than the producer's
    /// (INVALID_PRODUCER_EPOCH).
    pub fn check_coordinator(&self, stamp: &BatchStamp) -> Check {
        match self.producers.get(&stamp.producer_id) {
            Some(entry) if stamp.producer_epoch < entry.producer_epoch => {
                Check::Reject(ErrorCode::InvalidProducerEpoch)
            }
            _ => Check::Append,
        }
    }

    /// Notes a transaction marker of `producer_id` at `producer_epoch`
    /// (`ProducerAppendInfo.appendEndTxnMarker`): a marker has no sequence, but a newer
    /// epoch in it, as after a fenced or (transaction version 2) finished transaction,
    /// empties the producer's batches (`ProducerStateEntry.maybeUpdateProducerEpoch`), so
    /// the next batch must start the new epoch at sequence 0.
    pub fn record_marker(&mut self, producer_id: i64, producer_epoch: i16) {
        self.entry_at_epoch(producer_id, producer_epoch);
    }

    /// `producer_id`'s entry, created if need be, at `producer_epoch`: a newer epoch empties
    /// its batches (`ProducerStateEntry.maybeUpdateProducerEpoch`).
    fn entry_at_epoch(&mut self, producer_id: i64, producer_epoch: i16) -> &mut ProducerEntry {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                producer_epoch,
                batches: VecDeque::new(),
            });
        if entry.producer_epoch != producer_epoch {
            entry.producer_epoch = producer_epoch;
            entry.batches.clear();
        }
        entry
    }

    /// Notes records of a batch written at `first_offset..=last_offset`, from any origin
    /// (`ProducerAppendInfo.appendDataBatch` then `ProducerStateManager.update`). A newer
    /// epoch empties the producer's batches (`ProducerStateEntry.maybeUpdateProducerEpoch`);
    /// records of a batch already noted (a follower's fetch that split it) extend it. At
    /// most [`BATCHES_RETAINED`] batches are kept, the oldest dropped first.
    pub fn record(&mut self, stamp: &BatchStamp, first_offset: u64, last_offset: u64) {
        assert!(first_offset <= last_offset, "a batch holds records");
        let entry = self.entry_at_epoch(stamp.producer_id, stamp.producer_epoch);
        if let Some(last) = entry.batches.back_mut() {
            let same_batch = last.first_sequence == stamp.base_sequence
                && last.last_sequence == stamp.last_sequence
                && last.last_offset + 1 == first_offset;
            if same_batch {
                last.last_offset = last_offset;
                return;
            }
        }
        entry.batches.push_back(BatchMetadata {
            first_sequence: stamp.base_sequence,
            last_sequence: stamp.last_sequence,
            first_offset,
            last_offset,
        });
        while entry.batches.len() > BATCHES_RETAINED {
            entry.batches.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Record, RecordId};

    const LATEST: ProducerRules = ProducerRules {
        unknown_producer_accepts_any_sequence: true,
    };
    const BEFORE_2_5: ProducerRules = ProducerRules {
        unknown_producer_accepts_any_sequence: false,
    };

    fn stamp(epoch: i16, base: i32, last: i32) -> BatchStamp {
        BatchStamp {
            producer_id: 7,
            producer_epoch: epoch,
            base_sequence: base,
            last_sequence: last,
            is_transactional: false,
        }
    }

    #[test]
    fn a_retried_batch_is_answered_with_its_original_offsets() {
        let mut s = ProducerStateManager::default();
        assert_eq!(s.check(&stamp(0, 0, 1), LATEST), Check::Append);
        s.record(&stamp(0, 0, 1), 10, 11);
        assert_eq!(s.check(&stamp(0, 2, 2), LATEST), Check::Append);
        s.record(&stamp(0, 2, 2), 12, 12);
        assert_eq!(
            s.check(&stamp(0, 0, 1), LATEST),
            Check::Duplicate {
                first_offset: 10,
                last_offset: 11
            }
        );
        // Other boundaries are not the same batch: a gap, so out of order.
        assert_eq!(
            s.check(&stamp(0, 1, 2), LATEST),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn a_gap_or_an_old_epoch_is_refused_and_a_new_epoch_starts_at_zero() {
        let mut s = ProducerStateManager::default();
        s.record(&stamp(1, 0, 4), 0, 4);
        assert_eq!(
            s.check(&stamp(1, 6, 6), LATEST),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(s.check(&stamp(1, 5, 6), LATEST), Check::Append);
        assert_eq!(
            s.check(&stamp(0, 5, 5), LATEST),
            Check::Reject(ErrorCode::InvalidProducerEpoch)
        );
        assert_eq!(
            s.check(&stamp(2, 3, 3), LATEST),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(s.check(&stamp(2, 0, 0), LATEST), Check::Append);
        s.record(&stamp(2, 0, 0), 5, 5);
        assert_eq!(
            s.entry(7).map(|e| e.batches.len()),
            Some(1),
            "a new epoch empties the cache"
        );
    }

    #[test]
    fn only_five_batches_are_remembered() {
        let mut s = ProducerStateManager::default();
        for i in 0..7 {
            s.record(&stamp(0, i, i), i as u64, i as u64);
        }
        assert_eq!(s.entry(7).map(|e| e.batches.len()), Some(BATCHES_RETAINED));
        assert_eq!(
            s.check(&stamp(0, 6, 6), LATEST),
            Check::Duplicate {
                first_offset: 6,
                last_offset: 6
            }
        );
        // Sequence 1 is older than the cache: not recognised, and out of order.
        assert_eq!(
            s.check(&stamp(0, 1, 1), LATEST),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn an_unknown_producer_id_may_start_anywhere_from_2_5() {
        let s = ProducerStateManager::default();
        assert_eq!(s.check(&stamp(0, 3, 3), LATEST), Check::Append);
        assert_eq!(
            s.check(&stamp(0, 3, 3), BEFORE_2_5),
            Check::Reject(ErrorCode::UnknownProducerId)
        );
        assert_eq!(s.check(&stamp(0, 0, 0), BEFORE_2_5), Check::Append);
    }

    #[test]
    fn sequences_wrap_after_integer_max() {
        let mut s = ProducerStateManager::default();
        s.record(&stamp(0, i32::MAX - 1, i32::MAX), 0, 1);
        assert_eq!(s.check(&stamp(0, 0, 0), LATEST), Check::Append);
    }

    fn record(offset: u64, stamp: Option<BatchStamp>) -> Record {
        Record {
            offset,
            leader_epoch: 0,
            id: RecordId {
                producer: 0,
                seq: offset,
            },
            timestamp_ms: 0,
            key: None,
            value: Some(String::new()),
            headers: Vec::new(),
            value_bytes: 0,
            size_bytes: 0,
            producer: stamp,
        }
    }

    #[test]
    fn the_state_is_rebuilt_from_the_logs_batches() {
        let log = vec![
            RecordBatch::of_records(vec![
                record(0, Some(stamp(0, 0, 1))),
                record(1, Some(stamp(0, 0, 1))),
            ]),
            RecordBatch::of_records(vec![record(2, None)]),
            RecordBatch::of_records(vec![record(3, Some(stamp(0, 2, 2)))]),
        ];
        let s = ProducerStateManager::rebuild(&log);
        assert_eq!(
            s.check(&stamp(0, 0, 1), LATEST),
            Check::Duplicate {
                first_offset: 0,
                last_offset: 1
            }
        );
        assert_eq!(s.entry(7).map(|e| e.batches.len()), Some(2));
        // Cut after offset 2: the batch at 3 is gone, so its retry is appended again.
        let cut = ProducerStateManager::rebuild(&log[..2]);
        assert_eq!(cut.check(&stamp(0, 2, 2), LATEST), Check::Append);
    }
}
