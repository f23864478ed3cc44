//! `offset-commit-regressed`: the commits of a group's partitions in log order, and which
//! steps back Kafka's consumer is supposed to make (see the `groups` module for the rule).
//!
//! Apart from `groups` because the rule is the one subtle part of that module: it needs the
//! resets each member made and, for a detected truncation, the records the group processed
//! and the final log, to tell a real truncation from a stale epoch's false alarm.

use super::common::{Invariant, Violation};
use super::groups::{GroupOut, Processed};
use super::removal::Removals;
use crate::record::FinalState;
use kafka_model::TopicPartition;
use std::collections::{BTreeMap, BTreeSet};

/// One durable commit of one partition's offset.
pub(super) struct Commit {
    pub(super) at_ms: u64,
    /// The record's offset in `__consumer_offsets`.
    pub(super) log_position: Option<u64>,
    pub(super) offset: u64,
    pub(super) member: String,
    pub(super) generation: i32,
    pub(super) broker: i32,
    /// The reset the member's position came from when it committed, if any.
    pub(super) after_reset: Option<Reset>,
}

/// Why a consumer's position was reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ResetKind {
    /// KIP-320: the leader said the consumer's last epoch ends below `position`.
    Truncation { position: u64 },
    /// OFFSET_OUT_OF_RANGE, then `auto.offset.reset`.
    OutOfRange,
}

/// A position reset to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Reset {
    pub(super) kind: ResetKind,
    pub(super) to: u64,
}

/// `offset-commit-regressed`, judged in log order: a coordinator that lost its partition
/// can report an old commit late (its append did reach the ISR, earlier in the log), and
/// that is no step back; a commit later in the log with a smaller offset is, unless the
/// member had reset its position as Kafka's consumer must (counted in `groups` instead).
/// Sorts each partition's commits into log order.
pub(super) fn regressed(
    final_state: &FinalState,
    commits: &mut BTreeMap<(String, TopicPartition), Vec<Commit>>,
    processed: &BTreeMap<String, BTreeSet<Processed>>,
    groups: &mut BTreeMap<String, GroupOut>,
    removals: &Removals<'_>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for ((group, tp), list) in commits.iter_mut() {
        list.sort_by_key(|c| (c.log_position.unwrap_or(u64::MAX), c.at_ms));
        for pair in list.windows(2) {
            let (before, c) = (&pair[0], &pair[1]);
            if c.offset >= before.offset {
                continue;
            }
            let out = groups.entry(group.clone()).or_default();
            match c.after_reset.map(|r| (r.kind, r.to)) {
                Some((ResetKind::OutOfRange, _)) => {
                    out.offset_resets_out_of_range += 1;
                    continue;
                }
                Some((ResetKind::Truncation { position }, to))
                    if truncation_was_real(
                        final_state,
                        processed.get(group),
                        tp,
                        to,
                        position,
                        removals,
                    ) =>
                {
                    out.offset_resets_after_truncation += 1;
                    continue;
                }
                _ => {}
            }
            let why = match c.after_reset {
                Some(r) => format!(
                    "; the member had reset its position to {} after a truncation it detected, but every record the group processed from there on is still in the partition",
                    r.to
                ),
                None => String::new(),
            };
            violations.push(Violation {
                loss: None,
                invariant: Invariant::OffsetCommitRegressed,
                at_ms: c.at_ms,
                partition: Some(tp.clone()),
                detail: format!(
                    "group {group}'s committed offset for {tp} went back from {} to {} (member {}, generation {}, coordinator {}){why}",
                    before.offset, c.offset, c.member, c.generation, c.broker
                ),
            });
        }
    }
    violations
}

/// Did the partition really lose records between `to` and `position`? It did if the group
/// processed a record there that the final leader's log does not hold at that offset; it did
/// not if every record the group processed there is still in place. With nothing processed
/// there (or no leader at the end) there is no telling, and the consumer is believed. A
/// record the log layer removed (the cleaner, retention) is no sign of a truncation.
fn truncation_was_real(
    final_state: &FinalState,
    processed: Option<&BTreeSet<Processed>>,
    tp: &TopicPartition,
    to: u64,
    position: u64,
    removals: &Removals<'_>,
) -> bool {
    let Some(log) = final_state
        .partitions
        .iter()
        .find(|p| &p.tp == tp)
        .and_then(|p| p.replica_states.iter().find(|r| Some(r.broker) == p.leader))
    else {
        return true;
    };
    let seen: Vec<&Processed> = processed
        .into_iter()
        .flatten()
        .filter(|(t, o, _)| t == tp && (to..position).contains(o))
        .collect();
    let held: BTreeMap<u64, kafka_model::RecordId> =
        log.log.iter().map(|(o, id, _)| (*o, *id)).collect();
    seen.is_empty()
        || seen
            .iter()
            .any(|(_, o, id)| held.get(o) != Some(id) && removals.explains(tp, *o, *id).is_none())
}
