//! What every checker shares: the invariants by name, and the violation they report.
//!
//! Both the partition checkers and the group checkers use these, and neither uses the
//! other: they meet only in the parent module, which runs them all.

use crate::record::RecordedEvent;
use kafka_model::TopicPartition;
use std::cmp::Ordering;
use std::fmt;

/// The invariants a run is checked against, one variant each.
///
/// [`Invariant::name`] is the stable name the outcome, the scenarios' `[expect] violations`
/// and the command line use. Invariants order by that name, so whatever is sorted by
/// invariant (the violations of one instant, the counts) reads alphabetically, as it did
/// when invariants were plain names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invariant {
    AckedRecordLost,
    CommittedRecordLost,
    ReplicaDivergence,
    HwRegressed,
    UncommittedRead,
    TwoLeadersSameEpoch,
    ConsumerMissedTruncation,
    PartitionDoubleOwned,
    OffsetCommitRegressed,
    RecordSkipped,
    Livelock,
    AckedBelowMinIsr,
    CleanLeaderIncomplete,
    ReplicasNotConverged,
    IsrNotShrunk,
    UncleanElectionDisabled,
    CompactionLostLatest,
    TombstoneRemovedEarly,
    OffsetReused,
    TwoQuorumLeadersSameEpoch,
    MetadataCommittedLost,
    MetadataHwRegressed,
    TxnAbortedRead,
    TxnUncommittedRead,
    TxnLostCommit,
    TxnTorn,
    ZombieWrite,
    ExactlyOnceViolated,
}

impl Invariant {
    /// Every invariant, in the order the documentation lists them.
    pub const ALL: &'static [Invariant] = &[
        Invariant::AckedRecordLost,
        Invariant::CommittedRecordLost,
        Invariant::ReplicaDivergence,
        Invariant::HwRegressed,
        Invariant::UncommittedRead,
        Invariant::TwoLeadersSameEpoch,
        Invariant::ConsumerMissedTruncation,
        Invariant::PartitionDoubleOwned,
        Invariant::OffsetCommitRegressed,
        Invariant::RecordSkipped,
        Invariant::Livelock,
        Invariant::AckedBelowMinIsr,
        Invariant::CleanLeaderIncomplete,
        Invariant::ReplicasNotConverged,
        Invariant::IsrNotShrunk,
        Invariant::UncleanElectionDisabled,
        Invariant::CompactionLostLatest,
        Invariant::TombstoneRemovedEarly,
        Invariant::OffsetReused,
        Invariant::TwoQuorumLeadersSameEpoch,
        Invariant::MetadataCommittedLost,
        Invariant::MetadataHwRegressed,
        Invariant::TxnAbortedRead,
        Invariant::TxnUncommittedRead,
        Invariant::TxnLostCommit,
        Invariant::TxnTorn,
        Invariant::ZombieWrite,
        Invariant::ExactlyOnceViolated,
    ];

    /// The name of every invariant, in the order of [`Invariant::ALL`].
    pub const NAMES: [&'static str; Invariant::ALL.len()] = {
        let mut names = [""; Invariant::ALL.len()];
        let mut i = 0;
        while i < names.len() {
            names[i] = Invariant::ALL[i].name();
            i += 1;
        }
        names
    };

    /// The stable name, as the outcome prints it.
    pub const fn name(self) -> &'static str {
        match self {
            Invariant::AckedRecordLost => "acked-record-lost",
            Invariant::CommittedRecordLost => "committed-record-lost",
            Invariant::ReplicaDivergence => "replica-divergence",
            Invariant::HwRegressed => "hw-regressed",
            Invariant::UncommittedRead => "uncommitted-read",
            Invariant::TwoLeadersSameEpoch => "two-leaders-same-epoch",
            Invariant::ConsumerMissedTruncation => "consumer-missed-truncation",
            Invariant::PartitionDoubleOwned => "partition-double-owned",
            Invariant::OffsetCommitRegressed => "offset-commit-regressed",
            Invariant::RecordSkipped => "record-skipped",
            Invariant::Livelock => "livelock",
            Invariant::AckedBelowMinIsr => "acked-below-min-isr",
            Invariant::CleanLeaderIncomplete => "clean-leader-incomplete",
            Invariant::ReplicasNotConverged => "replicas-not-converged",
            Invariant::IsrNotShrunk => "isr-not-shrunk",
            Invariant::UncleanElectionDisabled => "unclean-election-disabled",
            Invariant::CompactionLostLatest => "compaction-lost-latest",
            Invariant::TombstoneRemovedEarly => "tombstone-removed-early",
            Invariant::OffsetReused => "offset-reused",
            Invariant::TwoQuorumLeadersSameEpoch => "two-quorum-leaders-same-epoch",
            Invariant::MetadataCommittedLost => "metadata-committed-lost",
            Invariant::MetadataHwRegressed => "metadata-hw-regressed",
            Invariant::TxnAbortedRead => "txn-aborted-read",
            Invariant::TxnUncommittedRead => "txn-uncommitted-read",
            Invariant::TxnLostCommit => "txn-lost-commit",
            Invariant::TxnTorn => "txn-torn",
            Invariant::ZombieWrite => "zombie-write",
            Invariant::ExactlyOnceViolated => "exactly-once-violated",
        }
    }

    /// The invariant with this stable name, if there is one.
    pub fn from_name(name: &str) -> Option<Invariant> {
        Invariant::ALL.iter().copied().find(|i| i.name() == name)
    }
}

impl Ord for Invariant {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for Invariant {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken invariant: when, where, and what happened in plain words.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub invariant: Invariant,
    pub at_ms: u64,
    pub partition: Option<TopicPartition>,
    pub detail: String,
    /// For a lost record: when it was promised and when it was lost ([`super::loss`]).
    pub loss: Option<super::loss::Loss>,
}

/// The time of the last event: when a check of the final state is dated.
pub(super) fn last_time(events: &[RecordedEvent]) -> u64 {
    events.last().map_or(0, |e| e.at_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_alphabetically() {
        for &i in Invariant::ALL {
            assert_eq!(Invariant::from_name(i.name()), Some(i));
        }
        assert_eq!(Invariant::from_name("no-such-invariant"), None);
        assert_eq!(Invariant::NAMES[0], "acked-record-lost");
        assert!(Invariant::NAMES.contains(&"livelock"));
        assert!(Invariant::NAMES.contains(&"unclean-election-disabled"));
        let mut sorted = Invariant::ALL.to_vec();
        sorted.sort();
        let names: Vec<&str> = sorted.iter().map(|i| i.name()).collect();
        let mut alphabetical = Invariant::NAMES.to_vec();
        alphabetical.sort();
        assert_eq!(names, alphabetical);
    }
}
