//! The safety checkers: each invariant computed from the event record and the final state.
//!
//! Two families, and neither imports the other:
//! - `partitions` and `replication`: the replication invariants, judged on every
//!   partition's logs, high watermarks and leaders, as `replay` rebuilds them from the
//!   record (`partitions`: what the final state lost; `replication`: what broke during the
//!   run), with `consumers` (whether a consumer that held a partition noticed its
//!   truncation), `isr` (who changed each ISR) and `liveness` (what never happened);
//! - `groups`: the consumer-group invariants, judged on what the members did, and the
//!   counts and `--describe` table of each group;
//! - `compaction` and `offsets`: the log layer's own promises (the cleaner keeps the last
//!   value of every key and every tombstone for `delete.retention.ms`; an offset names one
//!   record for the life of a log), and the records retention took before anyone read them.
//! - `transactions`: what transactions promise read_committed consumers (no aborted record,
//!   nothing at or above the last stable offset, every acknowledged commit kept, one outcome
//!   per transaction on every partition, no committed write of a fenced instance), judged on
//!   the markers of the replayed logs;
//! - `quorum`: the KRaft metadata quorum's own invariants (Kafka's `RaftEventSimulationTest`):
//!   one leader per epoch, a leader's high watermark that never falls, committed metadata
//!   that is never cut or replaced.
//!
//! What they all need (the [`Invariant`] names and the [`Violation`] they report) lives in
//! `common`, and why an offset is empty on purpose (retention, DeleteRecords, the cleaner)
//! in `removal`: a record the log layer removed is neither lost, nor skipped, nor a
//! divergence. Every checker compares logs by offset, never by position: compaction leaves
//! gaps. This module runs them all and caps what is listed.

pub(crate) mod calm;
mod commits;
mod common;
pub mod compaction;
mod consumers;
pub mod exactly_once;
pub mod groups;
pub mod isr;
pub mod liveness;
pub mod loss;
mod offsets;
mod partitions;
pub mod quorum;
mod removal;
mod replay;
mod replication;
mod transactions;

use common::last_time;
pub use common::{Invariant, Violation};
pub use compaction::{compaction_lost_latest, tombstone_removed_early, ProducerKeys, RecordKeys};
pub use consumers::consumer_missed_truncation;
pub use offsets::{expired_unread, offset_reused};
pub use partitions::{
    acked_record_lost, committed_record_lost, duplicated, hw_regressed, lost_acks0,
    two_leaders_same_epoch, AckedLost,
};
pub use replication::{
    acked_below_min_isr, clean_leader_incomplete, replica_divergence, uncommitted_read,
};
pub use transactions::{
    txn_aborted_read, txn_lost_commit, txn_torn, txn_uncommitted_read, zombie_write,
};

use crate::record::{FinalState, RecordedEvent};
use kafka_model::{Acks, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// What the checkers need that no event carries: configuration of the scenario.
#[derive(Clone, Debug, Default)]
pub struct CheckConfig {
    /// `min.insync.replicas` of each topic that sets it.
    pub min_insync_replicas: BTreeMap<String, u32>,
    /// `min.insync.replicas` of every other topic (the brokers' default).
    pub default_min_insync_replicas: u32,
    /// The `acks` of each producer, by its index.
    pub producer_acks: Vec<Acks>,
    /// The consumers frozen and woken by faults, in time order.
    pub consumer_freezes: Vec<groups::Freeze>,
    /// Each record's key, by its producer: what the compaction checkers judge by.
    pub record_keys: RecordKeys,
    /// The consumers, by index, with `isolation.level = read_committed`: what the
    /// transaction read checkers judge.
    pub read_committed_consumers: BTreeSet<u32>,
    /// The processors, for `exactly-once-violated`.
    pub processors: Vec<exactly_once::ProcessorCheck>,
}

impl CheckConfig {
    /// Kafka's `Partition.effectiveMinIsr` (3.7): the topic's `min.insync.replicas`, capped
    /// at the replication factor.
    pub fn effective_min_isr(&self, topic: &str, replicas: usize) -> usize {
        let configured = self
            .min_insync_replicas
            .get(topic)
            .copied()
            .unwrap_or(self.default_min_insync_replicas);
        (configured as usize).min(replicas)
    }
}

/// The invariants, by their stable names, in the order of [`Invariant::ALL`].
pub const INVARIANTS: &[&str] = &Invariant::NAMES;

/// How many violations of one invariant on one partition are listed (all are counted).
pub const MAX_LISTED_PER_PARTITION: usize = 5;

#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    pub violations: Vec<Violation>,
    pub counts: BTreeMap<Invariant, u64>,
    /// Acknowledged records missing after the settle, by acks level.
    pub acked_lost: AckedLost,
    /// Records an acks=0 producer sent that are missing after the settle.
    pub lost_acks0: u64,
    /// Extra copies of records in the final leaders' logs (producer retries).
    pub duplicated: u64,
    pub committed_lost: u64,
    /// Records retention or DeleteRecords removed from a leader before anyone read them;
    /// `None` when nothing was removed that way.
    pub expired_unread: Option<u64>,
    /// Consumer groups: their counts and `--describe` numbers, up to `end_ms`.
    pub groups: BTreeMap<String, groups::GroupOut>,
}

/// Runs every checker over a run that ended at `end_ms`; the liveness invariants only with
/// their inputs (the faults and the configs they judge by).
pub fn check(
    events: &[RecordedEvent],
    final_state: &FinalState,
    config: &CheckConfig,
    end_ms: u64,
    liveness: Option<&liveness::LivenessInputs<'_>>,
) -> CheckReport {
    let (mut acked, acked_lost) = acked_record_lost(events, final_state);
    let (mut committed, committed_lost) = committed_record_lost(events, final_state);
    loss::date_losses(events, &mut acked);
    loss::date_losses(events, &mut committed);
    let replicas: BTreeMap<&TopicPartition, usize> = final_state
        .partitions
        .iter()
        .map(|p| (&p.tp, p.replicas.len()))
        .collect();
    let min_isr = |tp: &TopicPartition| {
        config.effective_min_isr(&tp.topic, replicas.get(tp).copied().unwrap_or(usize::MAX))
    };
    let mut all = Vec::new();
    all.extend(acked);
    all.extend(committed);
    all.extend(replica_divergence(events));
    all.extend(acked_below_min_isr(events, min_isr));
    all.extend(clean_leader_incomplete(events));
    all.extend(hw_regressed(events));
    all.extend(uncommitted_read(events));
    all.extend(two_leaders_same_epoch(events));
    all.extend(consumer_missed_truncation(events, final_state));
    all.extend(compaction_lost_latest(events, &config.record_keys));
    all.extend(tombstone_removed_early(events));
    all.extend(offset_reused(events));
    all.extend(quorum::two_quorum_leaders_same_epoch(events));
    all.extend(quorum::metadata_hw_regressed(events));
    all.extend(quorum::metadata_committed_lost(events));
    all.extend(txn_aborted_read(events, &config.read_committed_consumers));
    all.extend(txn_uncommitted_read(
        events,
        &config.read_committed_consumers,
    ));
    all.extend(txn_lost_commit(events, final_state));
    all.extend(txn_torn(events, final_state));
    all.extend(zombie_write(events, final_state));
    all.extend(exactly_once::exactly_once_violated(
        events,
        final_state,
        &config.processors,
        last_time(events),
    ));
    if let Some(inputs) = liveness {
        all.extend(liveness::check_liveness(
            events,
            final_state,
            end_ms,
            inputs,
        ));
    }
    let group_report = groups::check_groups(events, final_state, end_ms, &config.consumer_freezes);
    all.extend(group_report.violations);
    all.sort_by(|a, b| {
        (a.at_ms, a.invariant, &a.partition).cmp(&(b.at_ms, b.invariant, &b.partition))
    });
    let (violations, counts) = count_and_cap(all);
    CheckReport {
        violations,
        counts,
        acked_lost,
        lost_acks0: lost_acks0(events, final_state, &config.producer_acks),
        duplicated: duplicated(final_state),
        committed_lost,
        expired_unread: expired_unread(events),
        groups: group_report.groups,
    }
}

/// Counts every violation per invariant, and keeps the first
/// [`MAX_LISTED_PER_PARTITION`] of each invariant on each partition for the list.
fn count_and_cap(all: Vec<Violation>) -> (Vec<Violation>, BTreeMap<Invariant, u64>) {
    let mut counts: BTreeMap<Invariant, u64> = BTreeMap::new();
    let mut listed: BTreeMap<(Invariant, Option<TopicPartition>), usize> = BTreeMap::new();
    let mut violations = Vec::new();
    for v in all {
        *counts.entry(v.invariant).or_insert(0) += 1;
        let n = listed
            .entry((v.invariant, v.partition.clone()))
            .or_insert(0);
        *n += 1;
        if *n <= MAX_LISTED_PER_PARTITION {
            violations.push(v);
        }
    }
    (violations, counts)
}

pub fn check_all(events: &[RecordedEvent], final_state: &FinalState) -> Vec<Violation> {
    check(
        events,
        final_state,
        &CheckConfig::default(),
        last_time(events),
        None,
    )
    .violations
}

#[cfg(test)]
mod tests {
    use super::partitions::tests::{appended, at, id, tp};
    use super::*;
    use kafka_model::Event;

    #[test]
    fn check_counts_and_caps() {
        let mut events = vec![at(0, appended(0, 0, &[]))];
        for i in 0..30 {
            events.push(at(
                i,
                Event::Consumed {
                    consumer: 0,
                    tp: tp(),
                    served_by: 0,
                    high_watermark: 0,
                    records: vec![(i, id(i))],
                },
            ));
        }
        let report = check(
            &events,
            &FinalState::default(),
            &CheckConfig::default(),
            last_time(&events),
            None,
        );
        assert_eq!(report.counts[&Invariant::UncommittedRead], 30);
        assert_eq!(report.violations.len(), MAX_LISTED_PER_PARTITION);
    }
}
