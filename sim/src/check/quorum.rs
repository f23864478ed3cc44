//! The KRaft metadata quorum's invariants: what Kafka's own `RaftEventSimulationTest` checks
//! after every event, judged here on the event record.
//!
//! - `two-quorum-leaders-same-epoch` (Kafka's `SingleLeader`, Raft's election safety): two
//!   controllers won the vote for one epoch. Two active controllers writing in one epoch
//!   could commit different metadata at the same offset.
//! - `metadata-hw-regressed` (`MonotonicHighWatermark`): a leader's high watermark fell below
//!   one a leader had already reported. A new leader reports none until an entry of its own
//!   epoch is committed (Raft §5.4.2), so a correct quorum never shows this.
//! - `metadata-committed-lost` (`ConsistentCommittedData`): an entry below some node's high
//!   watermark was later cut from a log, or another node holds a different entry at that
//!   offset. An entry is named by its offset and the epoch it was written in (Raft's log
//!   matching property), so two committed prefixes agree when their epoch caches do. Below
//!   a node's log start its entries are in a snapshot and its cache names none of them, so
//!   two prefixes are compared from the later of their log starts.

use super::common::{Invariant, Violation};
use crate::record::RecordedEvent;
use kafka_model::Event;
use std::collections::BTreeMap;

/// `two-quorum-leaders-same-epoch`: two controllers won one epoch's vote.
pub fn two_quorum_leaders_same_epoch(events: &[RecordedEvent]) -> Vec<Violation> {
    let mut leaders: BTreeMap<i32, i32> = BTreeMap::new();
    let mut violations = Vec::new();
    for e in events {
        let Event::QuorumLeaderElected { node_id, epoch, .. } = &e.event else {
            continue;
        };
        match leaders.get(epoch) {
            Some(other) if other != node_id => violations.push(violation(
                Invariant::TwoQuorumLeadersSameEpoch,
                e.at_ms,
                format!(
                    "controllers {other} and {node_id} both won the vote for epoch {epoch} of the metadata log"
                ),
            )),
            Some(_) => {}
            None => {
                leaders.insert(*epoch, *node_id);
            }
        }
    }
    violations
}

/// `metadata-hw-regressed`: a leader reported a high watermark below the highest any
/// leader reported before.
pub fn metadata_hw_regressed(events: &[RecordedEvent]) -> Vec<Violation> {
    let mut highest: Option<(u64, i32)> = None;
    // The leader of the highest epoch elected so far: as Kafka's `MonotonicHighWatermark`
    // reads `leaderWithMaxEpoch`, a deposed leader that has not heard of the new epoch yet
    // (paused, cut off) is not the quorum's leader, whatever its own HW says.
    let mut newest_leader: Option<(i32, i32)> = None;
    let mut violations = Vec::new();
    for e in events {
        if let Event::QuorumLeaderElected { node_id, epoch, .. } = &e.event {
            if newest_leader.is_none_or(|(newest, _)| *epoch > newest) {
                newest_leader = Some((*epoch, *node_id));
            }
            continue;
        }
        let Event::QuorumHighWatermark {
            node_id,
            is_leader: true,
            high_watermark,
            ..
        } = &e.event
        else {
            continue;
        };
        if newest_leader.is_some_and(|(_, leader)| leader != *node_id) {
            continue;
        }
        match highest {
            Some((hw, by)) if *high_watermark < hw => violations.push(violation(
                Invariant::MetadataHwRegressed,
                e.at_ms,
                format!(
                    "leader {node_id} reports the metadata log's high watermark at {high_watermark}, below the {hw} leader {by} reported"
                ),
            )),
            Some((hw, _)) if *high_watermark == hw => {}
            _ => highest = Some((*high_watermark, *node_id)),
        }
    }
    violations
}

/// `metadata-committed-lost`: a committed entry was cut from a log, or two nodes hold
/// different entries below their high watermarks.
pub fn metadata_committed_lost(events: &[RecordedEvent]) -> Vec<Violation> {
    // The longest committed prefix reported so far: its end, its epoch cache, and who
    // reported it.
    let mut reference: Option<CommittedPrefix> = None;
    let mut violations = Vec::new();
    for e in events {
        match &e.event {
            Event::QuorumTruncated {
                node_id,
                to_offset,
                high_watermark,
                ..
            } if to_offset < high_watermark => violations.push(violation(
                Invariant::MetadataCommittedLost,
                e.at_ms,
                format!(
                    "node {node_id} cut its metadata log back to {to_offset}, below its high watermark {high_watermark}: committed entries are gone from it"
                ),
            )),
            Event::QuorumHighWatermark {
                node_id,
                high_watermark,
                epochs,
                log_start_offset,
                ..
            } => {
                if let Some((ref_hw, ref_epochs, ref_node, ref_start)) = &reference {
                    let from = (*log_start_offset).max(*ref_start);
                    let common = (*high_watermark).min(*ref_hw);
                    if let Some(offset) = first_disagreement(epochs, ref_epochs, from, common) {
                        violations.push(violation(
                            Invariant::MetadataCommittedLost,
                            e.at_ms,
                            format!(
                                "node {node_id} holds a different committed entry at offset {offset} of the metadata log than node {ref_node} did (epoch {} against {})",
                                epoch_at(epochs, offset).map_or("none".to_string(), |x| x.to_string()),
                                epoch_at(ref_epochs, offset).map_or("none".to_string(), |x| x.to_string()),
                            ),
                        ));
                        continue;
                    }
                }
                if reference
                    .as_ref()
                    .is_none_or(|(hw, _, _, _)| high_watermark > hw)
                {
                    reference = Some((
                        *high_watermark,
                        epochs.clone(),
                        *node_id,
                        *log_start_offset,
                    ));
                }
            }
            _ => {}
        }
    }
    violations
}

/// A committed prefix of the metadata log: `(high watermark, epoch cache, node id, log
/// start offset)`.
type CommittedPrefix = (u64, Vec<(i32, u64)>, i32, u64);

/// The epoch of the entry at `offset`, from an epoch cache of `(epoch, start offset)`.
fn epoch_at(epochs: &[(i32, u64)], offset: u64) -> Option<i32> {
    epochs
        .iter()
        .take_while(|(_, start)| *start <= offset)
        .last()
        .map(|(epoch, _)| *epoch)
}

/// The first offset in `[from, end)` where two epoch caches name different epochs. Both
/// are step functions, so only the offsets where either steps need a look.
fn first_disagreement(a: &[(i32, u64)], b: &[(i32, u64)], from: u64, end: u64) -> Option<u64> {
    let mut steps: Vec<u64> = a.iter().chain(b).map(|(_, start)| *start).collect();
    steps.push(from);
    steps.sort_unstable();
    steps.dedup();
    steps
        .into_iter()
        .filter(|offset| *offset >= from && *offset < end)
        .find(|offset| epoch_at(a, *offset) != epoch_at(b, *offset))
}

fn violation(invariant: Invariant, at_ms: u64, detail: String) -> Violation {
    Violation {
        invariant,
        at_ms,
        partition: None,
        detail,
        loss: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at_ms: u64, event: Event) -> RecordedEvent {
        RecordedEvent { at_ms, event }
    }

    fn elected(node_id: i32, epoch: i32) -> Event {
        Event::QuorumLeaderElected {
            node_id,
            epoch,
            votes: vec![node_id],
        }
    }

    fn hw(node_id: i32, is_leader: bool, high_watermark: u64, epochs: &[(i32, u64)]) -> Event {
        Event::QuorumHighWatermark {
            node_id,
            is_leader,
            high_watermark,
            epochs: epochs.to_vec(),
            log_start_offset: 0,
        }
    }

    #[test]
    fn one_leader_per_epoch_holds_and_a_second_winner_breaks_it() {
        let fine = [
            at(1, elected(3, 1)),
            at(2, elected(4, 2)),
            at(3, elected(4, 2)),
        ];
        assert!(two_quorum_leaders_same_epoch(&fine).is_empty());
        let broken = [at(1, elected(3, 1)), at(2, elected(4, 1))];
        let v = two_quorum_leaders_same_epoch(&broken);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].invariant, Invariant::TwoQuorumLeadersSameEpoch);
        assert!(v[0].detail.contains("controllers 3 and 4"));
    }

    #[test]
    fn a_leader_high_watermark_may_only_rise_and_followers_may_lag() {
        let fine = [
            at(1, hw(3, true, 5, &[(1, 0)])),
            at(2, hw(4, false, 2, &[(1, 0)])),
            at(3, hw(4, true, 9, &[(1, 0), (2, 5)])),
        ];
        assert!(metadata_hw_regressed(&fine).is_empty());
        let broken = [
            at(1, hw(3, true, 5, &[(1, 0)])),
            at(2, hw(4, true, 4, &[(1, 0)])),
        ];
        let v = metadata_hw_regressed(&broken);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at_ms, 2);
    }

    #[test]
    fn a_deposed_leader_behind_the_new_one_is_not_the_quorum_regressing() {
        // Leader 5 of epoch 1 froze; 4 won epoch 3 and moved the HW to 14; 5 wakes and
        // still counts old fetches in epoch 1. The newest epoch's leader never went back.
        let deposed = [
            at(1, elected(5, 1)),
            at(2, elected(4, 3)),
            at(3, hw(4, true, 14, &[(1, 0), (3, 10)])),
            at(4, hw(5, true, 13, &[(1, 0)])),
        ];
        assert!(metadata_hw_regressed(&deposed).is_empty());
        let regressed = [
            at(1, elected(4, 3)),
            at(2, hw(4, true, 14, &[(3, 10)])),
            at(3, hw(4, true, 12, &[(3, 10)])),
        ];
        assert_eq!(metadata_hw_regressed(&regressed).len(), 1);
    }

    #[test]
    fn committed_prefixes_that_agree_break_nothing() {
        let events = [
            at(1, hw(3, true, 5, &[(1, 0)])),
            at(2, hw(4, false, 5, &[(1, 0), (2, 7)])),
            at(3, hw(4, true, 9, &[(1, 0), (2, 7)])),
            at(4, hw(5, false, 3, &[(1, 0)])),
        ];
        assert!(metadata_committed_lost(&events).is_empty());
    }

    #[test]
    fn a_different_entry_below_the_high_watermark_is_a_lost_commit() {
        // Node 3 committed offsets 0..5 written in epoch 1; node 4 holds offsets 3.. from
        // epoch 2 below its own high watermark: the entries at 3 and 4 were replaced.
        let events = [
            at(1, hw(3, true, 5, &[(1, 0)])),
            at(2, hw(4, true, 6, &[(1, 0), (2, 3)])),
        ];
        let v = metadata_committed_lost(&events);
        assert_eq!(v.len(), 1);
        assert!(v[0].detail.contains("offset 3"), "{}", v[0].detail);
    }

    #[test]
    fn a_cut_below_the_own_high_watermark_is_a_lost_commit() {
        let cut = |to_offset| Event::QuorumTruncated {
            node_id: 4,
            from_log_end_offset: 8,
            to_offset,
            high_watermark: 5,
            power_loss: false,
        };
        assert!(metadata_committed_lost(&[at(1, cut(5))]).is_empty());
        assert_eq!(metadata_committed_lost(&[at(1, cut(4))]).len(), 1);
    }

    #[test]
    fn epoch_at_reads_the_step_function() {
        let epochs = [(1, 0), (3, 4), (4, 9)];
        assert_eq!(epoch_at(&epochs, 0), Some(1));
        assert_eq!(epoch_at(&epochs, 3), Some(1));
        assert_eq!(epoch_at(&epochs, 4), Some(3));
        assert_eq!(epoch_at(&epochs, 100), Some(4));
        assert_eq!(epoch_at(&[(2, 1)], 0), None);
    }
}
