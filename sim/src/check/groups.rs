//! Consumer groups seen from the event record: the group invariants, the counts a learner
//! looks at (redeliveries, rebalances, time without an owner), and the table
//! `kafka-consumer-groups.sh --describe` prints.
//!
//! The invariants judge what members did, not what the coordinator believed:
//! - `partition-double-owned`: two members held a partition in the same generation and both
//!   processed records of it. One owner per partition per generation is what the generation
//!   number exists to guarantee; two coordinators running the same group at once (a zombie
//!   broker that still thinks it leads the group's `__consumer_offsets` partition) break it.
//! - `offset-commit-regressed`: a committed offset that is durable in `__consumer_offsets`
//!   went backwards. Two steps back are what Kafka's consumer is supposed to make, and are
//!   counted instead (`offset_resets_after_truncation`, `offset_resets_out_of_range`): the
//!   member reset its position after it detected a truncation (KIP-320,
//!   `Fetcher.validatePositionsIfNeeded` going back to the end of its last epoch), or after
//!   the leader answered OFFSET_OUT_OF_RANGE (`auto.offset.reset`), and committed from there.
//!   A detected truncation excuses the step back only if it was real: the group processed,
//!   at an offset between the reset and the old position, a record the partition no longer
//!   holds there (a consumer that validates against a stale epoch "detects" a truncation of
//!   records that are all still there). Any other step back means a commit was lost and
//!   overwritten, or a member of an old generation got through.
//! - `record-skipped`: the group's committed offset passed a record that no member
//!   processed. That is at-most-once delivery made visible: commit before processing, crash,
//!   and the next owner starts after records nobody handled.

use super::commits::{regressed, Commit, Reset, ResetKind};
use super::common::{Invariant, Violation};
use super::removal::Removals;
use crate::record::{FaultRecord, FinalState, RecordedEvent};
use kafka_model::{Event, NodeId, RecordId, TopicPartition};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The invariants this module checks.
pub const GROUP_INVARIANTS: &[Invariant] = &[
    Invariant::PartitionDoubleOwned,
    Invariant::OffsetCommitRegressed,
    Invariant::RecordSkipped,
];

/// A processed record: where it was read and what it was.
pub(super) type Processed = (TopicPartition, u64, RecordId);

/// How many skipped offsets a violation lists.
const MAX_LISTED_OFFSETS: usize = 10;

/// One group in the JSON outcome: the counts and the `--describe` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GroupOut {
    pub coordinator: Option<i32>,
    /// `None` when no live coordinator could describe the group at the end.
    pub state: Option<String>,
    pub generation: i32,
    pub protocol: Option<String>,
    /// Rebalances the coordinators started (every PreparingRebalance).
    pub rebalances: u64,
    pub records_processed: u64,
    /// Processings of a record (same partition, offset and record) the group had processed
    /// before: at-least-once duplicates.
    pub records_redelivered: u64,
    pub commits: u64,
    /// Commits that took the committed offset back because the member had reset its position
    /// after a truncation it detected (KIP-320): what it is supposed to do, no violation.
    pub offset_resets_after_truncation: u64,
    /// Commits that took the committed offset back because the member had reset its position
    /// after OFFSET_OUT_OF_RANGE (`auto.offset.reset`): no violation either.
    pub offset_resets_out_of_range: u64,
    pub partitions: Vec<GroupPartitionOut>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupPartitionOut {
    pub topic: String,
    pub partition: u32,
    /// CURRENT-OFFSET: the committed offset.
    pub current_offset: Option<u64>,
    /// LOG-END-OFFSET: what a consumer can read, the final leader's high watermark.
    pub log_end_offset: Option<u64>,
    pub lag: Option<u64>,
    /// CONSUMER-ID: the member the coordinator assigned the partition to.
    pub consumer_id: Option<String>,
    /// How long, after its first assignment, no live member held the partition.
    pub unowned_ms: u64,
}

/// Everything this module computes for a run.
pub struct GroupReport {
    pub violations: Vec<Violation>,
    pub groups: BTreeMap<String, GroupOut>,
}

/// A consumer process frozen by a `pause` fault, or woken by `resume` (or the final
/// settle). While frozen it still holds its partitions, as far as its group knows, but
/// consumes nothing: its partitions have no owner at work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freeze {
    pub at_ms: u64,
    pub consumer: u32,
    pub frozen: bool,
}

/// The freezes of the consumers the fault record names (`consumer NAME`, by the scenario's
/// names), in time order; the settle wakes every consumer still frozen.
pub fn freezes_of(faults: &[FaultRecord], consumer_names: &[String]) -> Vec<Freeze> {
    let mut frozen: BTreeSet<u32> = BTreeSet::new();
    let mut freezes = Vec::new();
    for f in faults {
        if f.action == "settle" {
            for consumer in std::mem::take(&mut frozen) {
                freezes.push(Freeze {
                    at_ms: f.at_ms,
                    consumer,
                    frozen: false,
                });
            }
            continue;
        }
        let pause = match f.action.as_str() {
            "pause" => true,
            "resume" => false,
            _ => continue,
        };
        let Some(name) = f.detail.strip_prefix("consumer ") else {
            continue;
        };
        let Some(consumer) = consumer_names.iter().position(|n| n == name) else {
            continue;
        };
        let consumer = consumer as u32;
        let changed = if pause {
            frozen.insert(consumer)
        } else {
            frozen.remove(&consumer)
        };
        if changed {
            freezes.push(Freeze {
                at_ms: f.at_ms,
                consumer,
                frozen: pause,
            });
        }
    }
    freezes
}

/// Who owned what, replayed from the members' own events; an owner frozen by a pause
/// counts as none.
#[derive(Default)]
struct Ownership {
    /// (group, partition) -> consumers holding it now.
    owners: BTreeMap<(String, TopicPartition), BTreeSet<u32>>,
    /// Consumers frozen now.
    frozen: BTreeSet<u32>,
    /// (group, partition) -> when it last lost its last owner at work, if it has none now.
    unowned_since: BTreeMap<(String, TopicPartition), u64>,
    unowned_ms: BTreeMap<(String, TopicPartition), u64>,
    /// consumer -> its group.
    group_of: BTreeMap<u32, String>,
}

impl Ownership {
    /// Whether no consumer at work holds the partition.
    fn unowned(&self, key: &(String, TopicPartition)) -> bool {
        self.owners
            .get(key)
            .is_none_or(|o| o.iter().all(|c| self.frozen.contains(c)))
    }

    fn set(&mut self, at_ms: u64, key: (String, TopicPartition), consumer: u32, owns: bool) {
        let before = self.unowned(&key);
        let owners = self.owners.entry(key.clone()).or_default();
        if owns {
            owners.insert(consumer);
        } else {
            owners.remove(&consumer);
        }
        let after = self.unowned(&key);
        self.unowned_ms.entry(key.clone()).or_insert(0);
        self.moved(at_ms, key, before, after);
    }

    /// A partition went from (un)owned `before` to `after` at `at_ms`.
    fn moved(&mut self, at_ms: u64, key: (String, TopicPartition), before: bool, after: bool) {
        match (before, after) {
            (true, false) => {
                if let Some(since) = self.unowned_since.remove(&key) {
                    *self.unowned_ms.entry(key).or_insert(0) += at_ms - since;
                }
            }
            (false, true) => {
                self.unowned_since.insert(key, at_ms);
            }
            _ => {}
        }
    }

    fn freeze(&mut self, f: &Freeze) {
        let held: Vec<(String, TopicPartition)> = self
            .owners
            .iter()
            .filter(|(_, o)| o.contains(&f.consumer))
            .map(|(k, _)| k.clone())
            .collect();
        let before: Vec<bool> = held.iter().map(|k| self.unowned(k)).collect();
        if f.frozen {
            self.frozen.insert(f.consumer);
        } else {
            self.frozen.remove(&f.consumer);
        }
        for (key, before) in held.into_iter().zip(before) {
            let after = self.unowned(&key);
            self.moved(f.at_ms, key, before, after);
        }
    }

    fn drop_consumer(&mut self, at_ms: u64, consumer: u32) {
        let held: Vec<(String, TopicPartition)> = self
            .owners
            .iter()
            .filter(|(_, o)| o.contains(&consumer))
            .map(|(k, _)| k.clone())
            .collect();
        for key in held {
            self.set(at_ms, key, consumer, false);
        }
    }

    fn finish(&mut self, end_ms: u64) {
        for (key, since) in std::mem::take(&mut self.unowned_since) {
            *self.unowned_ms.entry(key).or_insert(0) += end_ms.saturating_sub(since);
        }
    }
}

/// Runs the group invariants over a run that ended at `end_ms`, and fills in each group's
/// counts and `--describe` table.
pub fn check_groups(
    events: &[RecordedEvent],
    final_state: &FinalState,
    end_ms: u64,
    freezes: &[Freeze],
) -> GroupReport {
    let mut replay = GroupReplay::default();
    let mut freezes = freezes.iter().peekable();
    for e in events {
        // A fault comes before the events of its instant: it causes them.
        while let Some(f) = freezes.next_if(|f| f.at_ms <= e.at_ms) {
            replay.ownership.freeze(f);
        }
        replay.event(e);
    }
    for f in freezes.filter(|f| f.at_ms <= end_ms) {
        replay.ownership.freeze(f);
    }
    replay.ownership.finish(end_ms);
    let removals = Removals::of(events);
    let mut violations = Vec::new();
    violations.extend(double_owned(&replay.assigned, &replay.processed_by));
    violations.extend(regressed(
        final_state,
        &mut replay.commits,
        &replay.processed,
        &mut replay.groups,
        &removals,
    ));
    violations.extend(skipped(
        final_state,
        &replay.commits,
        &replay.start,
        &replay.processed,
        &removals,
    ));
    describe(final_state, &replay.ownership, &mut replay.groups);
    GroupReport {
        violations,
        groups: replay.groups,
    }
}

/// What the group checks replay from the record, one event at a time.
#[derive(Default)]
struct GroupReplay {
    groups: BTreeMap<String, GroupOut>,
    ownership: Ownership,
    // (group, generation, partition) -> members that own it in that generation.
    assigned: BTreeMap<(String, i32, TopicPartition), BTreeSet<String>>,
    // (group, generation, partition) -> member -> first time it processed a record of it.
    processed_by: BTreeMap<(String, i32, TopicPartition), BTreeMap<String, u64>>,
    // group -> every (partition, offset, record) it processed. A record the producer wrote
    // twice (a retry) sits at two offsets and counts as two records, not a redelivery.
    processed: BTreeMap<String, BTreeSet<Processed>>,
    // (group, partition) -> every durable commit, in the order they were reported.
    commits: BTreeMap<(String, TopicPartition), Vec<Commit>>,
    start: BTreeMap<(String, TopicPartition), u64>,
    held_by: BTreeMap<u32, BTreeSet<TopicPartition>>,
    // member id -> the consumer process it is.
    consumer_of: BTreeMap<String, u32>,
    // (consumer, partition) -> the reset its position last came from, if it came from one.
    last_reset: BTreeMap<(u32, TopicPartition), Reset>,
    // (consumer, partition) -> the truncation it just detected: (position, end offset).
    detected: BTreeMap<(u32, TopicPartition), (u64, u64)>,
}

impl GroupReplay {
    fn event(&mut self, e: &RecordedEvent) {
        match &e.event {
            Event::RebalanceStarted { group, .. } => {
                self.groups.entry(group.clone()).or_default().rebalances += 1;
            }
            Event::PartitionsAssigned {
                consumer,
                group,
                member,
                generation,
                partitions,
            } => self.on_assigned(e.at_ms, *consumer, group, member, *generation, partitions),
            Event::PartitionsRevoked {
                consumer,
                group,
                partitions,
                ..
            } => {
                let held = self.held_by.entry(*consumer).or_default();
                for tp in partitions {
                    held.remove(tp);
                    self.ownership
                        .set(e.at_ms, (group.clone(), tp.clone()), *consumer, false);
                }
            }
            Event::ClientCrashed {
                node: NodeId::Consumer(consumer),
            }
            | Event::ConsumerStopped { consumer, .. } => {
                self.held_by.remove(consumer);
                self.ownership.drop_consumer(e.at_ms, *consumer);
                self.last_reset.retain(|(c, _), _| c != consumer);
                self.detected.retain(|(c, _), _| c != consumer);
            }
            Event::PositionFromCommit { consumer, tp, .. } => {
                self.last_reset.remove(&(*consumer, tp.clone()));
            }
            Event::ConsumerTruncationDetected {
                consumer,
                tp,
                position,
                leader_end_offset,
                ..
            } => {
                self.detected
                    .insert((*consumer, tp.clone()), (*position, *leader_end_offset));
            }
            Event::RecordProcessed {
                group,
                member,
                generation,
                tp,
                offset,
                record,
                ..
            } => self.on_processed(
                e.at_ms,
                &ProcessedRecord {
                    group,
                    member,
                    generation: *generation,
                    tp,
                    offset: *offset,
                    record: *record,
                },
            ),
            Event::OffsetReset {
                consumer,
                tp,
                from,
                to,
            } => {
                if let Some(group) = self.ownership.group_of.get(consumer) {
                    let s = self.start.entry((group.clone(), tp.clone())).or_insert(*to);
                    *s = (*s).min(*to);
                }
                self.on_reset(*consumer, tp, *from, *to);
            }
            Event::OffsetsCommitted {
                broker,
                group,
                generation,
                member,
                offsets,
                log_offset,
            } => {
                self.groups.entry(group.clone()).or_default().commits += 1;
                for (i, (tp, offset)) in offsets.iter().enumerate() {
                    let after_reset = self.reset_behind(member, tp, *offset);
                    self.commits
                        .entry((group.clone(), tp.clone()))
                        .or_default()
                        .push(Commit {
                            at_ms: e.at_ms,
                            log_position: log_offset.map(|o| o + i as u64),
                            offset: *offset,
                            member: member.clone(),
                            generation: *generation,
                            broker: *broker,
                            after_reset,
                        });
                }
            }
            _ => {}
        }
    }

    /// A position reset: after a truncation the consumer detected just before (KIP-320
    /// validation emits the detection, then the reset to the end of the epoch), after
    /// OFFSET_OUT_OF_RANGE (a reset from a position), or for want of any committed offset
    /// (a reset from nothing, which excuses no step back: the commit should have been there).
    fn on_reset(&mut self, consumer: u32, tp: &TopicPartition, from: Option<u64>, to: u64) {
        let key = (consumer, tp.clone());
        let detected = self.detected.remove(&key);
        let kind = match (detected, from) {
            (Some((position, end)), _) if end == to => ResetKind::Truncation { position },
            (_, Some(_)) => ResetKind::OutOfRange,
            (_, None) => {
                self.last_reset.remove(&key);
                return;
            }
        };
        self.last_reset.insert(key, Reset { kind, to });
    }

    /// The reset the committing member's position last came from, if the committed offset
    /// lies at or past it (the member read on from the reset and committed that).
    fn reset_behind(&self, member: &str, tp: &TopicPartition, offset: u64) -> Option<Reset> {
        let consumer = *self.consumer_of.get(member)?;
        self.last_reset
            .get(&(consumer, tp.clone()))
            .filter(|r| r.to <= offset)
            .copied()
    }

    /// A member's new assignment: it gives up what it no longer holds and owns the rest.
    fn on_assigned(
        &mut self,
        at_ms: u64,
        consumer: u32,
        group: &str,
        member: &str,
        generation: i32,
        partitions: &[TopicPartition],
    ) {
        self.ownership.group_of.insert(consumer, group.to_string());
        self.consumer_of.insert(member.to_string(), consumer);
        let now: BTreeSet<TopicPartition> = partitions.iter().cloned().collect();
        let before = self
            .held_by
            .insert(consumer, now.clone())
            .unwrap_or_default();
        for tp in before.difference(&now) {
            self.ownership
                .set(at_ms, (group.to_string(), tp.clone()), consumer, false);
        }
        for tp in &now {
            self.ownership
                .set(at_ms, (group.to_string(), tp.clone()), consumer, true);
            self.assigned
                .entry((group.to_string(), generation, tp.clone()))
                .or_default()
                .insert(member.to_string());
        }
    }

    /// A record a member processed: counted, and a redelivery if the group had before.
    fn on_processed(&mut self, at_ms: u64, p: &ProcessedRecord<'_>) {
        let &ProcessedRecord {
            group,
            member,
            generation,
            tp,
            offset,
            record,
        } = p;
        let out = self.groups.entry(group.to_string()).or_default();
        out.records_processed += 1;
        let key = (tp.clone(), offset, record);
        if !self
            .processed
            .entry(group.to_string())
            .or_default()
            .insert(key)
        {
            out.records_redelivered += 1;
        }
        self.processed_by
            .entry((group.to_string(), generation, tp.clone()))
            .or_default()
            .entry(member.to_string())
            .or_insert(at_ms);
    }
}

/// A `record-processed` event's fields, as the replay reads them.
struct ProcessedRecord<'a> {
    group: &'a str,
    member: &'a str,
    generation: i32,
    tp: &'a TopicPartition,
    offset: u64,
    record: RecordId,
}

fn double_owned(
    assigned: &BTreeMap<(String, i32, TopicPartition), BTreeSet<String>>,
    processed_by: &BTreeMap<(String, i32, TopicPartition), BTreeMap<String, u64>>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (key, members) in processed_by {
        let (group, generation, tp) = key;
        if *generation < 0 {
            continue;
        }
        let owners = assigned.get(key);
        let both: Vec<(&String, &u64)> = members
            .iter()
            .filter(|(m, _)| owners.is_some_and(|o| o.contains(*m)))
            .collect();
        if both.len() < 2 {
            continue;
        }
        let at_ms = both.iter().map(|(_, at)| **at).max().unwrap_or(0);
        let names: Vec<&str> = both.iter().map(|(m, _)| m.as_str()).collect();
        violations.push(Violation {
            loss: None,
            invariant: Invariant::PartitionDoubleOwned,
            at_ms,
            partition: Some(tp.clone()),
            detail: format!(
                "in group {group} generation {generation}, {} all owned {tp} and processed its records",
                names.join(" and ")
            ),
        });
    }
    violations
}

/// `record-skipped`, dated at the first commit that passed a record nobody processed.
/// `commits` are in log order: the last is the group's committed offset.
///
/// The final leader's log is read by offset. A record it holds that the log layer removed
/// at that offset on another replica was not skipped: the group read a replica whose
/// cleaner had replaced it, or whose retention or DeleteRecords had deleted it (that is
/// `records.expired_unread`, not a commit that ran ahead of processing).
fn skipped(
    final_state: &FinalState,
    commits: &BTreeMap<(String, TopicPartition), Vec<Commit>>,
    start: &BTreeMap<(String, TopicPartition), u64>,
    processed: &BTreeMap<String, BTreeSet<Processed>>,
    removals: &Removals<'_>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for ((group, tp), history) in commits {
        let Some(offset) = history.last().map(|c| c.offset) else {
            continue;
        };
        let Some(p) = final_state.partitions.iter().find(|p| &p.tp == tp) else {
            continue;
        };
        let Some(log) = p
            .leader
            .and_then(|l| p.replica_states.iter().find(|r| r.broker == l))
        else {
            continue;
        };
        let from = start
            .get(&(group.clone(), tp.clone()))
            .copied()
            .unwrap_or(0);
        let done = processed.get(group);
        let missed: Vec<u64> = log
            .log
            .iter()
            .filter(|(o, id, _)| {
                *o >= from
                    && *o < offset
                    && !done.is_some_and(|d| d.contains(&(tp.clone(), *o, *id)))
                    && removals.explains(tp, *o, *id).is_none()
            })
            .map(|(o, _, _)| *o)
            .collect();
        if missed.is_empty() {
            continue;
        }
        let shown: Vec<String> = missed
            .iter()
            .take(MAX_LISTED_OFFSETS)
            .map(|o| o.to_string())
            .collect();
        let more = if missed.len() > MAX_LISTED_OFFSETS {
            format!(" and {} more", missed.len() - MAX_LISTED_OFFSETS)
        } else {
            String::new()
        };
        let at_ms = history
            .iter()
            .filter(|c| c.offset > missed[0])
            .map(|c| c.at_ms)
            .min()
            .unwrap_or(0);
        violations.push(Violation {
            loss: None,
            invariant: Invariant::RecordSkipped,
            at_ms,
            partition: Some(tp.clone()),
            detail: format!(
                "group {group} committed {tp} up to {offset}, but no member processed {} record(s) below it: offsets {}{more}",
                missed.len(),
                shown.join(", ")
            ),
        });
    }
    violations
}

/// Fills in the `--describe` table from the final state.
fn describe(
    final_state: &FinalState,
    ownership: &Ownership,
    groups: &mut BTreeMap<String, GroupOut>,
) {
    for g in &final_state.groups {
        let out = groups.entry(g.group.clone()).or_default();
        out.coordinator = g.coordinator;
        out.state = g.state.clone();
        out.generation = g.generation;
        out.protocol = g.protocol.clone();
        let mut tps: BTreeSet<TopicPartition> =
            g.offsets.iter().map(|(tp, _)| tp.clone()).collect();
        tps.extend(g.members.iter().flat_map(|(_, a)| a.iter().cloned()));
        tps.extend(
            ownership
                .unowned_ms
                .keys()
                .filter(|(group, _)| group == &g.group)
                .map(|(_, tp)| tp.clone()),
        );
        out.partitions = tps
            .into_iter()
            .map(|tp| {
                let current_offset = g.offsets.iter().find(|(t, _)| t == &tp).map(|(_, o)| *o);
                let log_end_offset = final_state
                    .partitions
                    .iter()
                    .find(|p| p.tp == tp)
                    .and_then(|p| {
                        let leader = p.leader?;
                        p.replica_states.iter().find(|r| r.broker == leader)
                    })
                    .map(|r| r.high_watermark);
                let consumer_id = g
                    .members
                    .iter()
                    .find(|(_, a)| a.contains(&tp))
                    .map(|(m, _)| m.clone());
                GroupPartitionOut {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    current_offset,
                    log_end_offset,
                    lag: match (current_offset, log_end_offset) {
                        (Some(c), Some(e)) => Some(e.saturating_sub(c)),
                        _ => None,
                    },
                    consumer_id,
                    unowned_ms: ownership
                        .unowned_ms
                        .get(&(g.group.clone(), tp.clone()))
                        .copied()
                        .unwrap_or(0),
                }
            })
            .collect();
    }
}

/// The table `kafka-consumer-groups.sh --describe --group G` prints, for every group.
pub fn describe_table(groups: &BTreeMap<String, GroupOut>) -> String {
    let mut rows = vec![[
        "GROUP".to_string(),
        "TOPIC".to_string(),
        "PARTITION".to_string(),
        "CURRENT-OFFSET".to_string(),
        "LOG-END-OFFSET".to_string(),
        "LAG".to_string(),
        "CONSUMER-ID".to_string(),
    ]];
    let dash = || "-".to_string();
    let mut notes = Vec::new();
    for (name, g) in groups {
        match &g.state {
            Some(state) => notes.push(format!(
                "group {name}: {state}, generation {}, assignor {}, coordinator broker {}",
                g.generation,
                g.protocol.as_deref().unwrap_or("-"),
                g.coordinator.map_or("-".to_string(), |c| c.to_string())
            )),
            None => notes.push(format!(
                "group {name}: the coordinator (broker {}) is not available; offsets unknown",
                g.coordinator.map_or("-".to_string(), |c| c.to_string())
            )),
        }
        for p in &g.partitions {
            rows.push([
                name.clone(),
                p.topic.clone(),
                p.partition.to_string(),
                p.current_offset.map_or_else(dash, |o| o.to_string()),
                p.log_end_offset.map_or_else(dash, |o| o.to_string()),
                p.lag.map_or_else(dash, |o| o.to_string()),
                p.consumer_id.clone().unwrap_or_else(dash),
            ]);
        }
    }
    let mut text = String::new();
    for note in notes {
        text.push_str(&note);
        text.push('\n');
    }
    text.push_str(&aligned_columns(&rows));
    text
}

/// Rows as a table the way Kafka's tools print one: each column as wide as its widest
/// cell, two spaces between columns, no trailing blanks.
pub fn aligned_columns<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FinalGroup, FinalPartition, FinalReplica};

    fn tp() -> TopicPartition {
        TopicPartition::new("orders", 0)
    }

    fn id(seq: u64) -> RecordId {
        RecordId { producer: 0, seq }
    }

    fn at(at_ms: u64, event: Event) -> RecordedEvent {
        RecordedEvent { at_ms, event }
    }

    fn assigned(consumer: u32, member: &str, generation: i32, tps: Vec<TopicPartition>) -> Event {
        Event::PartitionsAssigned {
            consumer,
            group: "g".into(),
            member: member.into(),
            generation,
            partitions: tps,
        }
    }

    fn processed(consumer: u32, member: &str, generation: i32, offset: u64) -> Event {
        Event::RecordProcessed {
            consumer,
            group: "g".into(),
            member: member.into(),
            generation,
            tp: tp(),
            offset,
            record: id(offset),
        }
    }

    /// A commit of `offset`, written at `log_offset` in `__consumer_offsets`.
    fn committed_at(offset: u64, log_offset: u64) -> Event {
        Event::OffsetsCommitted {
            broker: 0,
            group: "g".into(),
            generation: 1,
            member: "a".into(),
            offsets: vec![(tp(), offset)],
            log_offset: Some(log_offset),
        }
    }

    fn committed(offset: u64) -> Event {
        committed_at(offset, offset)
    }

    /// orders-0 holds offsets 0..n on its leader, broker 0, and the group committed `offset`.
    fn final_state(n: u64, offset: Option<u64>) -> FinalState {
        FinalState {
            partitions: vec![FinalPartition {
                tp: tp(),
                leader: Some(0),
                leader_epoch: 0,
                isr: vec![0],
                replicas: vec![0],
                replica_states: vec![FinalReplica {
                    broker: 0,
                    log: (0..n).map(|o| (o, id(o), 0)).collect(),
                    log_start_offset: 0,
                    log_end_offset: n,
                    high_watermark: n,
                    leader_epoch: 0,
                    is_leader: true,
                    online: true,
                }],
            }],
            groups: vec![FinalGroup {
                group: "g".into(),
                coordinator: Some(0),
                state: Some("Stable".into()),
                generation: 2,
                protocol: Some("range".into()),
                members: vec![("b".into(), vec![tp()])],
                offsets: offset.map(|o| (tp(), o)).into_iter().collect(),
            }],
        }
    }

    fn names(r: &GroupReport) -> Vec<&'static str> {
        r.violations.iter().map(|v| v.invariant.name()).collect()
    }

    #[test]
    fn two_owners_in_one_generation_that_both_process_are_caught() {
        let events = vec![
            at(1, assigned(0, "a", 1, vec![tp()])),
            at(1, assigned(1, "b", 1, vec![tp()])),
            at(2, processed(0, "a", 1, 0)),
            at(3, processed(1, "b", 1, 1)),
        ];
        let r = check_groups(&events, &final_state(2, None), 10, &[]);
        assert_eq!(names(&r), ["partition-double-owned"]);
        assert_eq!(r.violations[0].at_ms, 3);
        // A new owner in the next generation is a handover, not a double owner.
        let events = vec![
            at(1, assigned(0, "a", 1, vec![tp()])),
            at(2, processed(0, "a", 1, 0)),
            at(3, assigned(1, "b", 2, vec![tp()])),
            at(4, processed(1, "b", 2, 0)),
        ];
        let r = check_groups(&events, &final_state(2, None), 10, &[]);
        assert!(r.violations.is_empty());
        assert_eq!(
            r.groups["g"].records_redelivered, 1,
            "offset 0 processed twice"
        );
    }

    #[test]
    fn a_commit_that_goes_back_is_caught() {
        let events = vec![
            at(1, committed_at(10, 0)),
            at(2, committed_at(12, 1)),
            at(3, committed_at(5, 2)),
        ];
        let r = check_groups(&events, &final_state(12, Some(5)), 10, &[]);
        // Nobody processed offsets 0 to 4 either: committing past them skips them.
        assert_eq!(names(&r), ["offset-commit-regressed", "record-skipped"]);
        assert!(r.violations[0].detail.contains("from 12 to 5"));
        // A coordinator that reports an older commit late, from earlier in the log, is no
        // step back.
        let mut events = vec![at(0, assigned(0, "a", 1, vec![tp()]))];
        events.extend((0..13).map(|o| at(1, processed(0, "a", 1, o))));
        events.extend([
            at(2, committed_at(12, 1)),
            at(3, committed_at(13, 2)),
            at(4, committed_at(11, 0)),
        ]);
        let r = check_groups(&events, &final_state(13, Some(13)), 10, &[]);
        assert!(r.violations.is_empty(), "{:?}", r.violations);
    }

    /// Member a (consumer 0) processes offsets 0 to 11 and commits 12; then its position
    /// is reset by `reset` and it commits 11 from there.
    fn commit_back_after(reset: Vec<Event>) -> Vec<RecordedEvent> {
        let mut events = vec![at(0, assigned(0, "a", 1, vec![tp()]))];
        events.extend((0..12).map(|o| at(1, processed(0, "a", 1, o))));
        events.push(at(2, committed_at(12, 0)));
        events.extend(reset.into_iter().map(|e| at(3, e)));
        events.push(at(4, processed(0, "a", 1, 10)));
        events.push(at(5, committed_at(11, 1)));
        events
    }

    fn truncation_detected() -> Vec<Event> {
        vec![
            Event::ConsumerTruncationDetected {
                consumer: 0,
                tp: tp(),
                position: 12,
                leader_end_offset: 10,
                epoch: 1,
            },
            Event::OffsetReset {
                consumer: 0,
                tp: tp(),
                from: Some(12),
                to: 10,
            },
        ]
    }

    #[test]
    fn a_commit_back_after_a_real_detected_truncation_is_counted_not_flagged() {
        // The partition lost offsets 10 and 11: the final log has other records there.
        let mut fs = final_state(12, Some(11));
        let log = &mut fs.partitions[0].replica_states[0].log;
        log[10].1 = id(110);
        log[11].1 = id(111);
        let events = commit_back_after(truncation_detected());
        let r = check_groups(&events, &fs, 10, &[]);
        assert!(
            !names(&r).contains(&"offset-commit-regressed"),
            "{:?}",
            r.violations
        );
        assert_eq!(r.groups["g"].offset_resets_after_truncation, 1);
        // Every record the group processed at 10 and 11 is still there: the truncation the
        // consumer "detected" did not happen, and the step back is a violation.
        let r = check_groups(&events, &final_state(12, Some(11)), 10, &[]);
        assert_eq!(names(&r), ["offset-commit-regressed"]);
        assert!(
            r.violations[0]
                .detail
                .contains("after a truncation it detected"),
            "{}",
            r.violations[0].detail
        );
        assert_eq!(r.groups["g"].offset_resets_after_truncation, 0);
    }

    #[test]
    fn a_commit_back_after_offset_out_of_range_is_counted_not_flagged() {
        let out_of_range = Event::OffsetReset {
            consumer: 0,
            tp: tp(),
            from: Some(12),
            to: 10,
        };
        let r = check_groups(
            &commit_back_after(vec![out_of_range]),
            &final_state(12, Some(11)),
            10,
            &[],
        );
        assert!(r.violations.is_empty(), "{:?}", r.violations);
        assert_eq!(r.groups["g"].offset_resets_out_of_range, 1);
        // A reset for want of a committed offset excuses nothing: the commit was there.
        let no_commit = Event::OffsetReset {
            consumer: 0,
            tp: tp(),
            from: None,
            to: 10,
        };
        let r = check_groups(
            &commit_back_after(vec![no_commit]),
            &final_state(12, Some(11)),
            10,
            &[],
        );
        assert_eq!(names(&r), ["offset-commit-regressed"]);
        // A position taken from the committed offset after the reset is no reset any more.
        let from_commit = Event::PositionFromCommit {
            consumer: 0,
            group: "g".into(),
            tp: tp(),
            offset: 12,
        };
        let mut reset = truncation_detected();
        reset.push(from_commit);
        let mut fs = final_state(12, Some(11));
        fs.partitions[0].replica_states[0].log[10].1 = id(110);
        let r = check_groups(&commit_back_after(reset), &fs, 10, &[]);
        assert!(
            names(&r).contains(&"offset-commit-regressed"),
            "{:?}",
            r.violations
        );
    }

    #[test]
    fn a_record_another_replica_cleaned_or_deleted_was_not_skipped() {
        // The group read broker 1, whose cleaner had dropped offset 3 (a later record of its
        // key replaced it); broker 0, which had not cleaned yet, leads at the end.
        let run = |removal: Event| {
            let mut events = vec![at(1, assigned(0, "a", 1, vec![tp()]))];
            events.push(at(2, removal));
            events.extend([0, 1, 2, 4].map(|o| at(3, processed(0, "a", 1, o))));
            events.push(at(4, committed(5)));
            check_groups(&events, &final_state(6, Some(5)), 10, &[])
        };
        let cleaned = Event::LogCleaned {
            broker: 1,
            tp: tp(),
            first_dirty_offset: 0,
            end_offset: 5,
            superseded: vec![(3, id(3))],
            tombstones_removed: Vec::new(),
            keyless_removed: Vec::new(),
            tombstones_stamped: Vec::new(),
            delete_horizon_ms: 0,
        };
        assert!(run(cleaned).violations.is_empty());
        // Retention on the leader the group read from took it: expired, not skipped.
        let deleted = Event::SegmentsDeleted {
            broker: 1,
            tp: tp(),
            rule: kafka_model::log::retention::RetentionRule::Time,
            segments: vec![0],
            log_start_offset: 4,
            removed: vec![(3, id(3))],
        };
        assert!(run(deleted).violations.is_empty());
        // A removal of another record at that offset explains nothing.
        let other = Event::LogCleaned {
            broker: 1,
            tp: tp(),
            first_dirty_offset: 0,
            end_offset: 5,
            superseded: vec![(3, id(33))],
            tombstones_removed: Vec::new(),
            keyless_removed: Vec::new(),
            tombstones_stamped: Vec::new(),
            delete_horizon_ms: 0,
        };
        assert_eq!(names(&run(other)), ["record-skipped"]);
    }

    #[test]
    fn committing_past_unprocessed_records_is_caught() {
        let mut events = vec![at(1, assigned(0, "a", 1, vec![tp()]))];
        events.extend([0, 1, 2, 4].map(|o| at(2, processed(0, "a", 1, o))));
        events.push(at(3, committed(3)));
        events.push(at(4, committed(5)));
        let r = check_groups(&events, &final_state(6, Some(5)), 10, &[]);
        assert_eq!(names(&r), ["record-skipped"]);
        assert!(
            r.violations[0].detail.contains("offsets 3"),
            "{:?}",
            r.violations
        );
        assert_eq!(
            r.violations[0].at_ms, 4,
            "dated at the commit that passed offset 3"
        );
        // Offset 5 is not processed either, but nothing was committed past it.
    }

    #[test]
    fn a_frozen_owner_is_no_owner() {
        // Consumer 0 holds the partition from t=1s, is frozen from 2s to 9s, and the group
        // gives the partition to consumer 1 at 8s: 6 s with nobody consuming it.
        let events = vec![
            at(1_000, assigned(0, "a", 1, vec![tp()])),
            at(8_000, assigned(1, "b", 2, vec![tp()])),
        ];
        let freeze = |at_ms, frozen| Freeze {
            at_ms,
            consumer: 0,
            frozen,
        };
        let freezes = [freeze(2_000, true), freeze(9_000, false)];
        let r = check_groups(&events, &final_state(8, Some(6)), 10_000, &freezes);
        assert_eq!(r.groups["g"].partitions[0].unowned_ms, 6_000);
        let faults = |action: &str, detail: &str, at_ms| FaultRecord {
            at_ms,
            action: action.into(),
            detail: detail.into(),
        };
        let names = ["reader".to_string(), "billing-1".to_string()];
        let record = [
            faults("pause", "consumer billing-1", 2_000),
            faults("pause", "broker 1", 3_000),
            faults("settle", "healed every fault", 9_000),
        ];
        assert_eq!(
            freezes_of(&record, &names),
            vec![
                Freeze {
                    at_ms: 2_000,
                    consumer: 1,
                    frozen: true
                },
                Freeze {
                    at_ms: 9_000,
                    consumer: 1,
                    frozen: false
                },
            ]
        );
    }

    #[test]
    fn time_without_an_owner_and_the_describe_table() {
        let events = vec![
            at(1_000, assigned(0, "a", 1, vec![tp()])),
            at(
                2_000,
                Event::ClientCrashed {
                    node: NodeId::Consumer(0),
                },
            ),
            at(5_000, assigned(1, "b", 2, vec![tp()])),
        ];
        let r = check_groups(&events, &final_state(8, Some(6)), 10_000, &[]);
        let p = &r.groups["g"].partitions[0];
        assert_eq!(p.unowned_ms, 3_000);
        assert_eq!(
            (p.current_offset, p.log_end_offset, p.lag),
            (Some(6), Some(8), Some(2))
        );
        assert_eq!(p.consumer_id.as_deref(), Some("b"));
        let table = describe_table(&r.groups);
        assert!(
            table.contains(
                "GROUP  TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID"
            ),
            "{table}"
        );
        assert!(
            table.contains("g      orders  0          6               8               2    b"),
            "{table}"
        );
    }
}
