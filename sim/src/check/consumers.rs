//! `consumer-missed-truncation`: a consumer read a record the partition later lost, while it
//! was the one reading the partition, and read on as if nothing had happened.
//!
//! KIP-320 makes a consumer notice a truncation under its position: after a leader change it
//! asks the new leader where the epoch of its last record ends (`OffsetsForLeaderEpoch`) and
//! goes back there (`Fetcher.validatePositionsIfNeeded`). Not every consumer that once read a
//! lost record was supposed to notice, though. The duty lasts while the process holds the
//! partition:
//! - a group member gives the partition up when it is revoked or reassigned; the next owner
//!   starts from the committed offset, and what the old owner read is no longer its business;
//! - a process that crashed before the truncation has nothing left to correct (a restarted
//!   consumer is a new process with a new position).
//!
//! So a read is judged only if the partition lost it while the reader still held the
//! partition, in the same life: between the read and the first crash or loss of the partition
//! after it. "The partition lost it" is found on the log of the broker acting as leader
//! (`BecameLeader`), replayed from the events: the first moment after the read when that log
//! no longer holds the record at its offset, because the leader cut its log or a leader with
//! another log took over.

use super::common::{Invariant, Violation};
use super::removal::Removals;
use super::replay::LogReplay;
use crate::record::{FinalState, RecordedEvent};
use kafka_model::{BrokerId, Event, NodeId, RecordId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// What one consumer read of one partition: offset -> (record, event index, time read).
type ReadLog = BTreeMap<u64, (RecordId, usize, u64)>;

/// Where the partition's log (its acting leader's) may have lost records: from this offset up,
/// at this event index.
#[derive(Clone, Copy, Debug)]
struct LogCut {
    index: usize,
    from_offset: u64,
}

/// Every replica's log (a [`LogReplay`]) and every partition's acting leader, replayed event
/// by event, and the cuts of each partition's log they imply. Logs are compared by offset:
/// what the log layer removed (retention, DeleteRecords, the cleaner) is no cut.
#[derive(Default)]
struct LeaderLogs<'a> {
    replay: LogReplay<'a>,
    leader: BTreeMap<&'a TopicPartition, BrokerId>,
    cuts: BTreeMap<&'a TopicPartition, Vec<LogCut>>,
}

impl<'a> LeaderLogs<'a> {
    fn cut(&mut self, index: usize, tp: &'a TopicPartition, from_offset: u64) {
        self.cuts
            .entry(tp)
            .or_default()
            .push(LogCut { index, from_offset });
    }

    fn event(&mut self, index: usize, event: &'a Event) {
        for change in self.replay.apply(event) {
            let removed_some = change.lowest_changed_offset < change.end_before;
            if removed_some && self.leader.get(change.tp) == Some(&change.broker) {
                self.cut(index, change.tp, change.lowest_changed_offset);
            }
        }
        if let Event::BecameLeader { broker, tp, .. } = event {
            let before = self.leader.insert(tp, *broker);
            if let Some(from) = before.filter(|b| b != broker) {
                if let Some(offset) = self.first_lacking(from, *broker, tp) {
                    self.cut(index, tp, offset);
                }
            }
        }
    }

    /// The first offset where `new`'s log lacks a record `old`'s log holds, unless the log
    /// layer removed that record there.
    fn first_lacking(&self, old: BrokerId, new: BrokerId, tp: &'a TopicPartition) -> Option<u64> {
        let old_log = self.replay.replica(old, tp)?;
        old_log
            .held(old_log.log_start(), old_log.end())
            .find(|(o, (id, _))| !self.replay.accounts_for(new, tp, *o, *id))
            .map(|(o, _)| o)
    }

    /// The index of the first cut after `read_index` that reaches `offset`.
    fn lost_at(&self, tp: &TopicPartition, offset: u64, read_index: usize) -> Option<usize> {
        self.cuts
            .get(tp)?
            .iter()
            .find(|c| c.index > read_index && c.from_offset <= offset)
            .map(|c| c.index)
    }
}

/// When each consumer held each partition: the event indices at which a hold ended (a crash
/// of the process, or, for a group member, the partition revoked or assigned away).
#[derive(Default)]
struct Holds<'a> {
    /// consumer -> the partitions its group gave it now (group members only).
    assigned: BTreeMap<u32, BTreeSet<&'a TopicPartition>>,
    /// consumer -> indices of its crashes.
    crashes: BTreeMap<u32, Vec<usize>>,
    /// (consumer, partition) -> indices at which a group took it away.
    released: BTreeMap<(u32, &'a TopicPartition), Vec<usize>>,
}

impl<'a> Holds<'a> {
    fn event(&mut self, index: usize, event: &'a Event) {
        match event {
            // A consumer whose application died of an exception holds nothing from then on,
            // as one whose process was killed.
            Event::ClientCrashed {
                node: NodeId::Consumer(c),
            }
            | Event::ConsumerStopped { consumer: c, .. } => {
                self.crashes.entry(*c).or_default().push(index);
                self.assigned.remove(c);
            }
            Event::PartitionsAssigned {
                consumer,
                partitions,
                ..
            } => {
                let now: BTreeSet<&TopicPartition> = partitions.iter().collect();
                let before = self.assigned.insert(*consumer, now.clone());
                for tp in before.unwrap_or_default().difference(&now) {
                    self.released
                        .entry((*consumer, tp))
                        .or_default()
                        .push(index);
                }
            }
            Event::PartitionsRevoked {
                consumer,
                partitions,
                ..
            } => {
                let held = self.assigned.entry(*consumer).or_default();
                for tp in partitions {
                    held.remove(tp);
                    self.released
                        .entry((*consumer, tp))
                        .or_default()
                        .push(index);
                }
            }
            _ => {}
        }
    }

    /// The index at which the hold of a read at `read_index` ended, if it did.
    fn hold_end(&self, consumer: u32, tp: &TopicPartition, read_index: usize) -> Option<usize> {
        let after = |list: Option<&Vec<usize>>| {
            list.and_then(|l| l.iter().copied().find(|i| *i > read_index))
        };
        let crash = after(self.crashes.get(&consumer));
        let released = self
            .released
            .iter()
            .find(|((c, t), _)| *c == consumer && *t == tp)
            .and_then(|(_, l)| after(Some(l)));
        crash.into_iter().chain(released).min()
    }
}

/// `consumer-missed-truncation`: a consumer read a record at an offset where the partition
/// later holds another record (or none), the partition lost it while the consumer still held
/// the partition (same process, still assigned), and the consumer never went back to read the
/// offset again: it silently continued past a truncation (what KIP-320's position
/// validation prevents).
pub fn consumer_missed_truncation(
    events: &[RecordedEvent],
    final_state: &FinalState,
) -> Vec<Violation> {
    let mut read: BTreeMap<(u32, &TopicPartition), ReadLog> = BTreeMap::new();
    let mut logs = LeaderLogs::default();
    let mut holds = Holds::default();
    for (index, e) in events.iter().enumerate() {
        logs.event(index, &e.event);
        holds.event(index, &e.event);
        match &e.event {
            Event::Consumed {
                consumer,
                tp,
                records,
                ..
            } => {
                let m = read.entry((*consumer, tp)).or_default();
                for (offset, id) in records {
                    m.insert(*offset, (*id, index, e.at_ms));
                }
            }
            Event::OffsetReset {
                consumer, tp, to, ..
            } => {
                // The consumer goes back (or on) to `to` and will read from there again.
                if let Some(m) = read.get_mut(&(*consumer, tp)) {
                    m.retain(|o, _| o < to);
                }
            }
            // `auto.offset.reset = none`: the application was told (and died of it). It knows
            // the records from the divergent offset on are gone; without one (an unknown
            // epoch, an out-of-range position), that nothing it read there can be trusted.
            Event::ConsumerStopped {
                consumer,
                exception,
            } => {
                let valid_below = exception.divergent_offset().unwrap_or(0);
                if let Some(m) = read.get_mut(&(*consumer, exception.tp())) {
                    m.retain(|o, _| *o < valid_below);
                }
            }
            _ => {}
        }
    }
    let removals = Removals::of(events);
    let mut violations = Vec::new();
    for p in &final_state.partitions {
        let Some(leader) = p.leader else {
            continue;
        };
        let Some(r) = p.replica_states.iter().find(|r| r.broker == leader) else {
            continue;
        };
        let log: BTreeMap<u64, RecordId> = r.log.iter().map(|(o, id, _)| (*o, *id)).collect();
        for ((consumer, tp), offsets) in &read {
            if *tp != &p.tp {
                continue;
            }
            let missed: Vec<(u64, RecordId, u64)> = offsets
                .iter()
                .filter(|(o, (id, _, _))| {
                    log.get(o) != Some(id) && removals.explains(tp, **o, *id).is_none()
                })
                .filter(|(o, (_, read_index, _))| {
                    // Lost while still held; a record lost before it was read (a stale
                    // leader served it) is lost at the read.
                    let lost = logs.lost_at(tp, **o, *read_index).unwrap_or(*read_index);
                    holds
                        .hold_end(*consumer, tp, *read_index)
                        .is_none_or(|end| lost < end)
                })
                .map(|(o, (id, _, read_ms))| (*o, *id, *read_ms))
                .collect();
            // Dated when the consumer read the first record it missed.
            let Some(&(first_offset, first_id, at_ms)) = missed.first() else {
                continue;
            };
            let now = log
                .get(&first_offset)
                .map_or("nothing".to_string(), |id| id.to_string());
            violations.push(Violation {
                loss: None,
                invariant: Invariant::ConsumerMissedTruncation,
                at_ms,
                partition: Some(p.tp.clone()),
                detail: format!(
                    "consumer #{consumer} read {first_id} at offset {first_offset} of {}, but the final leader (broker {leader}) holds {now} there, and the consumer, which still held the partition when it lost the record, never went back: {} offsets it read were truncated under it",
                    p.tp,
                    missed.len()
                ),
            });
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::super::partitions::tests::{appended, at, id, tp};
    use super::*;
    use crate::record::{FinalPartition, FinalReplica};
    use kafka_model::event::{ConsumerException, TruncateReason};

    fn read(at_ms: u64, consumer: u32, offset: u64, seq: u64) -> RecordedEvent {
        at(
            at_ms,
            Event::Consumed {
                consumer,
                tp: tp(),
                served_by: 0,
                high_watermark: 10,
                records: vec![(offset, id(seq))],
            },
        )
    }

    fn leads(at_ms: u64, broker: BrokerId, epoch: i32) -> RecordedEvent {
        at(
            at_ms,
            Event::BecameLeader {
                broker,
                tp: tp(),
                leader_epoch: epoch,
                log_end_offset: 0,
                high_watermark: 0,
                isr: vec![broker],
            },
        )
    }

    /// Broker 0 leads with p0#0..p0#3; broker 1 holds p0#0, p0#1 and takes over at t=20,
    /// then writes p0#7, p0#8 at offsets 2 and 3.
    fn history() -> Vec<RecordedEvent> {
        vec![
            leads(0, 0, 0),
            at(1, appended(0, 0, &[0, 1, 2, 3])),
            at(2, appended(1, 0, &[0, 1])),
        ]
    }

    fn takeover() -> Vec<RecordedEvent> {
        vec![leads(20, 1, 1), at(21, appended(1, 2, &[7, 8]))]
    }

    fn final_state() -> FinalState {
        FinalState {
            partitions: vec![FinalPartition {
                tp: tp(),
                leader: Some(1),
                leader_epoch: 1,
                isr: vec![1],
                replicas: vec![1],
                replica_states: vec![FinalReplica {
                    broker: 1,
                    log: [0, 1, 7, 8]
                        .iter()
                        .enumerate()
                        .map(|(o, s)| (o as u64, id(*s), 0))
                        .collect(),
                    log_start_offset: 0,
                    log_end_offset: 4,
                    high_watermark: 4,
                    leader_epoch: 1,
                    is_leader: true,
                    online: true,
                }],
            }],
            groups: Vec::new(),
        }
    }

    fn assigned(at_ms: u64, consumer: u32, partitions: Vec<TopicPartition>) -> RecordedEvent {
        at(
            at_ms,
            Event::PartitionsAssigned {
                consumer,
                group: "g".into(),
                member: format!("m{consumer}"),
                generation: 1,
                partitions,
            },
        )
    }

    #[test]
    fn a_record_the_new_leaders_cleaner_dropped_was_no_truncation() {
        use crate::check::removal::tests::cleaned;
        // Both replicas hold p0#0..3; the consumer reads p0#1 from broker 0; broker 1's
        // cleaner drops it (a later record of its key) and broker 1 takes over.
        let run = |cleaned_seq: u64| {
            let events = vec![
                leads(0, 0, 0),
                at(1, appended(0, 0, &[0, 1, 2, 3])),
                at(1, appended(1, 0, &[0, 1, 2, 3])),
                read(5, 0, 1, 1),
                at(6, cleaned(1, 3, &[(1, cleaned_seq)])),
                leads(20, 1, 1),
                read(30, 0, 3, 3),
            ];
            let mut fs = final_state();
            fs.partitions[0].replica_states[0].log =
                vec![(0, id(0), 0), (2, id(2), 0), (3, id(3), 0)];
            consumer_missed_truncation(&events, &fs)
        };
        assert!(run(1).is_empty());
        // Had the cleaner dropped another record there, offset 1 was cut under the reader.
        assert_eq!(run(9).len(), 1);
    }

    #[test]
    fn a_consumer_that_never_went_back_missed_a_truncation() {
        let mut events = history();
        events.push(read(5, 0, 2, 2));
        events.extend(takeover());
        events.push(read(30, 0, 3, 8));
        let v = consumer_missed_truncation(&events, &final_state());
        assert_eq!(v.len(), 1);
        assert!(v[0].detail.contains("p0#2 at offset 2"), "{}", v[0].detail);
        // With a reset back to 2 and a re-read, nothing is missed.
        let mut events = history();
        events.push(read(5, 0, 2, 2));
        events.extend(takeover());
        events.push(at(
            25,
            Event::OffsetReset {
                consumer: 0,
                tp: tp(),
                from: Some(3),
                to: 2,
            },
        ));
        events.extend([read(26, 0, 2, 7), read(30, 0, 3, 8)]);
        assert!(consumer_missed_truncation(&events, &final_state()).is_empty());
    }

    #[test]
    fn a_member_is_judged_only_while_it_holds_the_partition() {
        // Member 0 reads offset 2, then the group gives the partition to member 1 before the
        // truncation: member 0 had nothing to notice.
        let mut events = history();
        events.push(assigned(3, 0, vec![tp()]));
        events.push(read(5, 0, 2, 2));
        events.push(assigned(10, 0, vec![]));
        events.push(assigned(10, 1, vec![tp()]));
        events.extend(takeover());
        assert!(consumer_missed_truncation(&events, &final_state()).is_empty());
        // Revoked only after the truncation: it held the partition when the record was lost.
        let mut events = history();
        events.push(assigned(3, 0, vec![tp()]));
        events.push(read(5, 0, 2, 2));
        events.extend(takeover());
        events.push(at(
            22,
            Event::PartitionsRevoked {
                consumer: 0,
                group: "g".into(),
                member: "m0".into(),
                partitions: vec![tp()],
                lost: false,
            },
        ));
        assert_eq!(consumer_missed_truncation(&events, &final_state()).len(), 1);
    }

    #[test]
    fn a_consumer_down_when_the_truncation_happened_is_not_judged() {
        let crashed = at(
            10,
            Event::ClientCrashed {
                node: NodeId::Consumer(0),
            },
        );
        let mut events = history();
        events.push(read(5, 0, 2, 2));
        events.push(crashed.clone());
        events.extend(takeover());
        assert!(consumer_missed_truncation(&events, &final_state()).is_empty());
        // The leader cutting its own log counts as the loss too: here it happens before the
        // crash, so the consumer should have noticed.
        let mut events = history();
        events.push(read(5, 0, 2, 2));
        events.push(at(
            6,
            Event::Truncated {
                broker: 0,
                tp: tp(),
                from_log_end_offset: 4,
                to_offset: 2,
                reason: TruncateReason::HighWatermark { high_watermark: 2 },
            },
        ));
        events.push(crashed);
        events.extend(takeover());
        assert_eq!(consumer_missed_truncation(&events, &final_state()).len(), 1);
    }

    /// `auto.offset.reset = none`: the consumer detects the truncation and its application
    /// dies of `LogTruncationException`. It went back as far as it could (it was told): not
    /// a missed truncation. Records it read below the divergent offset are still judged.
    #[test]
    fn a_consumer_stopped_by_log_truncation_exception_did_not_miss_it() {
        let mut events = history();
        events.push(read(5, 0, 2, 2));
        events.extend(takeover());
        let stopped = |divergent_offset| {
            at(
                30,
                Event::ConsumerStopped {
                    consumer: 0,
                    exception: ConsumerException::LogTruncation {
                        tp: tp(),
                        position: 3,
                        divergent_offset,
                    },
                },
            )
        };
        let mut told = events.clone();
        told.push(stopped(Some(2)));
        assert!(consumer_missed_truncation(&told, &final_state()).is_empty());
        let mut told_too_late = events;
        told_too_late.push(stopped(Some(3)));
        assert_eq!(
            consumer_missed_truncation(&told_too_late, &final_state()).len(),
            1
        );
    }
}
