//! What an offset means over a log's life.
//!
//! - `offset-reused`: in Kafka an offset names one record for the life of a log. The log end
//!   offset only grows (`UnifiedLog.append` assigns the next offset; a follower appends at
//!   the leader's offsets), the cleaner keeps offsets and leaves gaps, retention and
//!   DeleteRecords only move the log start offset up. The one way to write another record at
//!   an offset is to cut the log back first: a truncation (`UnifiedLog.truncateTo`, a
//!   restart from disk, `truncateFullyAndStartAt`). A consumer's committed offset, a
//!   follower's fetch position and the cleaner's checkpoint all rely on that, so a replica
//!   that holds a different record at an offset it once held, with no truncation in between,
//!   broke it (a record appended into a compaction gap, or below the log start).
//! - `records.expired_unread` (a count, not an invariant): records retention (`retention.ms`,
//!   `retention.bytes`) removed from the partition's acting leader before any consumer was handed them or any
//!   group processed them. A slow consumer loses them to `retention.ms`: its position falls
//!   below the log start, the fetch answers OFFSET_OUT_OF_RANGE, and `auto.offset.reset`
//!   moves it on past records it never saw. Kafka breaks no promise there (retention is the
//!   operator's choice), which is why it is counted and not flagged.

use super::common::{Invariant, Violation};
use super::removal::removed_by;
use super::replay::LogReplay;
use crate::record::RecordedEvent;
use crate::report::seconds;
use kafka_model::{BrokerId, Event, RecordId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// `offset-reused`: a replica wrote a record at an offset where it had held another one,
/// without truncating its log below that offset in between.
pub fn offset_reused(events: &[RecordedEvent]) -> Vec<Violation> {
    let mut replay = LogReplay::default();
    // Per replica: every offset it held since its last truncation there, and the record.
    let mut once: BTreeMap<(&TopicPartition, BrokerId), BTreeMap<u64, RecordId>> = BTreeMap::new();
    let mut violations = Vec::new();
    for e in events {
        match &e.event {
            Event::Appended {
                broker,
                tp,
                records,
                ..
            } => {
                let held = once.entry((tp, *broker)).or_default();
                for (offset, id, _) in records {
                    if let Some(before) = held.insert(*offset, *id).filter(|b| b != id) {
                        let then = replay.replica(*broker, tp);
                        let gone = match then.and_then(|r| r.removed_at(*offset)) {
                            Some((_, why)) => {
                                format!("; {before} had been removed: {}", why.words())
                            }
                            None => String::new(),
                        };
                        violations.push(Violation {
                            invariant: Invariant::OffsetReused,
                            at_ms: e.at_ms,
                            partition: Some(tp.clone()),
                            detail: format!(
                                "broker {broker} wrote {id} at offset {offset} of {tp} at t={}, where its log had held {before}, and it had not truncated its log below that offset since{gone}: an offset must name one record for the life of a log (committed offsets, fetch positions and the cleaner's checkpoint rely on it)",
                                seconds(e.at_ms)
                            ),
                            loss: None,
                        });
                    }
                }
            }
            Event::Truncated {
                broker,
                tp,
                to_offset,
                ..
            } => {
                if let Some(held) = once.get_mut(&(tp, *broker)) {
                    held.split_off(to_offset);
                }
            }
            // A restart keeps what the disk held; a replica its disk no longer has (a
            // replaced disk) starts a new log.
            Event::BrokerRecovered { broker, replicas } => {
                let on_disk: BTreeMap<&TopicPartition, u64> =
                    replicas.iter().map(|(tp, leo, _)| (tp, *leo)).collect();
                for ((tp, b), held) in once.iter_mut() {
                    if b == broker {
                        held.split_off(on_disk.get(tp).unwrap_or(&0));
                    }
                }
            }
            // `truncateFullyAndStartAt`: a truncation of the whole log.
            Event::LogRestartedAt { broker, tp, .. } => {
                once.remove(&(tp, *broker));
            }
            _ => {}
        }
        replay.apply(&e.event);
    }
    violations
}

/// `records.expired_unread`: records retention removed from the broker then acting as the
/// partition's leader that no consumer was ever handed and no group processed; each record
/// once. A record a consumer fetched before the deletion is not lost to it: it sits in the
/// consumer's buffer. `None` when nothing was removed that way at all.
pub fn expired_unread(events: &[RecordedEvent]) -> Option<u64> {
    let mut leading: BTreeMap<&TopicPartition, BrokerId> = BTreeMap::new();
    let mut read: BTreeSet<(&TopicPartition, RecordId)> = BTreeSet::new();
    let mut expired: BTreeSet<(&TopicPartition, RecordId)> = BTreeSet::new();
    let mut any = false;
    for e in events {
        match &e.event {
            Event::BecameLeader { broker, tp, .. } => {
                leading.insert(tp, *broker);
            }
            Event::BecameFollower { broker, tp, .. } if leading.get(tp) == Some(broker) => {
                leading.remove(tp);
            }
            Event::BrokerRecovered { broker, .. } => leading.retain(|_, b| b != broker),
            Event::Consumed { tp, records, .. } => {
                read.extend(records.iter().map(|(_, id)| (tp, *id)));
            }
            Event::RecordProcessed { tp, record, .. } => {
                read.insert((tp, *record));
            }
            _ => {}
        }
        let Some(removed) = removed_by(&e.event) else {
            continue;
        };
        if leading.get(removed.tp) != Some(&removed.broker) {
            continue;
        }
        for (_, id, why) in removed.records {
            if why.expires() {
                any = true;
                expired.insert((removed.tp, id));
            }
        }
    }
    // Judged at the end of the run: a consumer that fetched records before retention
    // deleted them on the broker still has them in its buffer, and processes them later.
    any.then(|| expired.difference(&read).count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::partitions::tests::{appended, at, id, tp};
    use crate::check::removal::tests::{cleaned, log_start, retention};
    use kafka_model::event::{LogStartOffsetCause, TruncateReason};

    #[test]
    fn another_record_at_a_held_offset_needs_a_truncation_first() {
        let base = vec![
            at(1, appended(0, 0, &[0, 1, 2])),
            at(2, cleaned(0, 2, &[(1, 1)])),
        ];
        // Writing into the compaction gap at offset 1: the offset is reused.
        let mut into_gap = base.clone();
        into_gap.push(at(3, appended(0, 1, &[9])));
        let v = offset_reused(&into_gap);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].invariant, v[0].at_ms), (Invariant::OffsetReused, 3));
        assert!(
            v[0].detail.contains("wrote p0#9 at offset 1")
                && v[0].detail.contains("had held p0#1")
                && v[0].detail.contains("the cleaner replaced it"),
            "{}",
            v[0].detail
        );
        // After a truncation to 1 the offset is free again.
        let mut truncated = base.clone();
        truncated.push(at(
            3,
            Event::Truncated {
                broker: 0,
                tp: tp(),
                from_log_end_offset: 3,
                to_offset: 1,
                reason: TruncateReason::HighWatermark { high_watermark: 1 },
            },
        ));
        truncated.push(at(4, appended(0, 1, &[9])));
        assert!(offset_reused(&truncated).is_empty());
        // A broker back with an empty disk (replaced) starts a new log.
        let mut new_disk = base.clone();
        new_disk.push(at(
            3,
            Event::BrokerRecovered {
                broker: 0,
                replicas: Vec::new(),
            },
        ));
        new_disk.push(at(4, appended(0, 0, &[8, 9])));
        assert!(offset_reused(&new_disk).is_empty());
        // The same record fetched again is no reuse, nor is another replica's record.
        let mut again = base;
        again.push(at(3, appended(0, 2, &[2])));
        again.push(at(3, appended(1, 1, &[9])));
        assert!(offset_reused(&again).is_empty());
    }

    fn leader(broker: BrokerId) -> Event {
        Event::BecameLeader {
            broker,
            tp: tp(),
            leader_epoch: 0,
            log_end_offset: 0,
            high_watermark: 0,
            isr: vec![broker],
        }
    }

    fn consumed(offsets: &[u64]) -> Event {
        Event::Consumed {
            consumer: 0,
            tp: tp(),
            served_by: 0,
            high_watermark: 10,
            records: offsets.iter().map(|o| (*o, id(*o))).collect(),
        }
    }

    #[test]
    fn records_retention_took_from_the_leader_before_anyone_read_them_expired_unread() {
        let base = vec![
            at(0, leader(0)),
            at(1, appended(0, 0, &[0, 1, 2, 3])),
            at(2, consumed(&[0])),
        ];
        assert_eq!(expired_unread(&base), None, "nothing expired at all");
        let mut expired = base.clone();
        expired.push(at(3, retention(0, 3, &[(0, 0), (1, 1), (2, 2)])));
        // A follower's own retention, and the cleaner, count for nothing here.
        expired.push(at(3, retention(1, 3, &[(0, 0), (1, 1), (2, 2)])));
        expired.push(at(3, cleaned(0, 4, &[(3, 3)])));
        assert_eq!(expired_unread(&expired), Some(2), "p0#1 and p0#2");
        // p0#1 had been fetched before the deletion and is handed out of the buffer later.
        let mut buffered = expired.clone();
        buffered.push(at(5, consumed(&[1])));
        assert_eq!(expired_unread(&buffered), Some(1), "p0#2 only");
        // An operator's DeleteRecords is a choice, not an expiry, and a follower taking its
        // leader's log start is no removal of the leader's: neither counts.
        let mut deleted = base;
        deleted.push(at(
            3,
            log_start(1, 2, LogStartOffsetCause::LeaderLogStartOffset, &[(1, 1)]),
        ));
        deleted.push(at(
            4,
            log_start(0, 2, LogStartOffsetCause::DeleteRecords, &[(0, 0), (1, 1)]),
        ));
        assert_eq!(expired_unread(&deleted), None);
    }
}
