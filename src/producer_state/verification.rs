//! KIP-890 part 1: a partition leader's pending verifications of transactional batches
//! (Kafka's `VerificationGuard`, `VerificationStateEntry` and the `verificationStates` of
//! `ProducerStateManager`).
//!
//! Why it exists: before a producer's first transactional batch opens a transaction on a
//! partition, the leader asks the transaction coordinator whether the partition is in the
//! producer's ongoing transaction. The answer comes back later, and meanwhile a marker may
//! have ended that transaction (and the producer started the next one): an answer about the
//! old transaction must not let the batch in (the ABA race of KAFKA-14884). So each
//! verification gets a guard no earlier one had; any transactional batch or marker of the
//! producer written to the partition drops the entry, and the append checks that the guard
//! it carries is still the entry's.
//!
//! The entries are in memory only: not a function of the log, gone after a restart, and
//! not part of what two logs compare by.

use std::collections::BTreeMap;

/// One verification attempt (Kafka's `VerificationGuard`): unique per entry; the sentinel
/// (0) is what an append without a verification carries, and verifies nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct VerificationGuard(u64);

impl VerificationGuard {
    pub const SENTINEL: VerificationGuard = VerificationGuard(0);

    /// `VerificationGuard.verify`: the guard an append carries is this one, and not the
    /// sentinel.
    pub fn verify(self, carried: VerificationGuard) -> bool {
        carried != VerificationGuard::SENTINEL && carried == self
    }
}

/// A producer's pending verification on the partition (Kafka's `VerificationStateEntry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerificationEntry {
    pub guard: VerificationGuard,
    /// The lowest first sequence a batch needing verification had at `epoch`: a batch with
    /// a higher one may not slip in first (KAFKA-14920).
    pub lowest_sequence: i32,
    pub epoch: i16,
}

impl VerificationEntry {
    /// `VerificationStateEntry.maybeUpdateLowestSequenceAndEpoch`: a lower sequence at the
    /// same epoch lowers the bound; a newer epoch starts it again.
    fn note(&mut self, sequence: i32, epoch: i16) {
        if epoch == self.epoch && sequence < self.lowest_sequence {
            self.lowest_sequence = sequence;
        }
        if epoch > self.epoch {
            self.epoch = epoch;
            self.lowest_sequence = sequence;
        }
    }
}

/// The pending verifications of one partition, by producer id.
#[derive(Clone, Debug, Default)]
pub struct VerificationStates {
    entries: BTreeMap<i64, VerificationEntry>,
    /// The last guard handed out; never reused (Kafka: a process-wide counter).
    last_guard: u64,
}

/// In memory only: two logs with the same batches are equal whatever they verify.
impl PartialEq for VerificationStates {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for VerificationStates {}

impl VerificationStates {
    /// `ProducerStateManager.maybeCreateVerificationStateEntry`: the producer's entry,
    /// created with a new guard if it has none, and its lowest sequence updated.
    pub fn start(&mut self, producer_id: i64, sequence: i32, epoch: i16) -> VerificationGuard {
        let last_guard = &mut self.last_guard;
        let entry = self.entries.entry(producer_id).or_insert_with(|| {
            *last_guard += 1;
            VerificationEntry {
                guard: VerificationGuard(*last_guard),
                lowest_sequence: sequence,
                epoch,
            }
        });
        entry.note(sequence, epoch);
        entry.guard
    }

    /// `ProducerStateManager.verificationStateEntry`.
    pub fn entry(&self, producer_id: i64) -> Option<&VerificationEntry> {
        self.entries.get(&producer_id)
    }

    /// `UnifiedLog.verificationGuard`: the producer's guard, or the sentinel.
    pub fn guard(&self, producer_id: i64) -> VerificationGuard {
        self.entries
            .get(&producer_id)
            .map_or(VerificationGuard::SENTINEL, |e| e.guard)
    }

    /// `ProducerStateManager.clearVerificationStateEntry`.
    pub fn clear(&mut self, producer_id: i64) {
        self.entries.remove(&producer_id);
    }

    /// Every entry gone, as a restart loses them.
    pub fn clear_all(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_entry_gets_a_guard_no_earlier_entry_had() {
        let mut v = VerificationStates::default();
        let g1 = v.start(7, 0, 0);
        assert_eq!(v.start(7, 3, 0), g1, "the pending entry keeps its guard");
        assert!(g1.verify(g1));
        assert!(!g1.verify(VerificationGuard::SENTINEL));
        v.clear(7);
        let g2 = v.start(7, 0, 0);
        assert_ne!(g1, g2, "an answer about the old entry verifies nothing");
        assert!(!v.guard(7).verify(g1));
    }

    #[test]
    fn the_lowest_sequence_follows_the_epoch() {
        let mut v = VerificationStates::default();
        v.start(7, 5, 0);
        v.start(7, 2, 0);
        v.start(7, 9, 0);
        assert_eq!(v.entry(7).unwrap().lowest_sequence, 2);
        v.start(7, 4, 1);
        assert_eq!(
            (
                v.entry(7).unwrap().lowest_sequence,
                v.entry(7).unwrap().epoch
            ),
            (4, 1),
            "a newer epoch starts the bound again"
        );
    }
}
