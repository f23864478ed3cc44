//! Why an offset is empty: the records the log layer removed on purpose.
//!
//! Kafka's log does not only grow and get truncated. Retention deletes old segments
//! (`UnifiedLog.deleteOldSegments`), DeleteRecords and a follower taking its leader's log
//! start offset hide what lies below it (`UnifiedLog.maybeIncrementLogStartOffset`), a
//! follower that fell below its leader's log start starts its log again there
//! (`UnifiedLog.truncateFullyAndStartAt`), and the log cleaner drops a record a later record
//! of its key replaced, a tombstone past its delete horizon, or a keyless record
//! (`Cleaner.cleanSegments`). The offsets of what is left never change, so compaction leaves
//! gaps, and retention leaves a log that starts above 0.
//!
//! None of that is a loss. A checker that finds an acknowledged or committed record missing,
//! an offset nobody processed, or a gap on one replica beside a record on another, first
//! asks this module whether the log layer removed that record at that offset (on any replica
//! of the partition: each replica cleans and deletes on its own, and a follower that fetched
//! after its leader cleaned never held what the cleaner dropped). Only an emptiness no
//! removal explains is a broken promise.

use crate::record::RecordedEvent;
use kafka_model::event::LogStartOffsetCause;
use kafka_model::log::retention::RetentionRule;
use kafka_model::{BrokerId, Event, RecordId, TopicPartition};
use std::collections::BTreeMap;

/// What removed a record, in the terms of Kafka's log layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Removal {
    /// Retention deleted its segment (`retention.ms`, `retention.bytes`, or the log start
    /// offset passing the whole segment).
    Retention(RetentionRule),
    /// An operator's DeleteRecords (KIP-107) moved the leader's log start offset past it.
    DeleteRecords,
    /// A follower took its leader's log start offset, which had passed it.
    LeaderLogStart,
    /// A follower whose log ended below its leader's log start emptied its log.
    Restarted,
    /// The cleaner dropped it: a later record of the same key replaced it.
    Superseded,
    /// The cleaner dropped this tombstone: its delete horizon had passed.
    TombstoneRemoved,
    /// The cleaner dropped it: a record without a key has no place on a compacted topic.
    Keyless,
}

impl Removal {
    /// Why the offset is empty, in plain words.
    pub(super) fn words(self) -> &'static str {
        match self {
            Removal::Retention(RetentionRule::Time) => "retention.ms deleted its segment",
            Removal::Retention(RetentionRule::Size) => "retention.bytes deleted its segment",
            Removal::Retention(RetentionRule::LogStartOffset) => {
                "retention deleted its segment below the log start offset"
            }
            Removal::DeleteRecords => "DeleteRecords moved the log start offset past it",
            Removal::LeaderLogStart => "the follower took its leader's log start offset",
            Removal::Restarted => "the follower restarted its log at its leader's log start",
            Removal::Superseded => "the cleaner replaced it with a later record of its key",
            Removal::TombstoneRemoved => "the cleaner removed the tombstone after its horizon",
            Removal::Keyless => "the cleaner removed a record without a key",
        }
    }

    /// Retention by `retention.ms` or `retention.bytes`: records made unreadable because they
    /// grew old or the log grew large, not because a newer value replaced them (the cleaner)
    /// or an operator chose to delete them (DeleteRecords).
    pub(super) fn expires(self) -> bool {
        matches!(
            self,
            Removal::Retention(RetentionRule::Time | RetentionRule::Size)
        )
    }
}

/// The records one event removed from one replica's log, with why.
pub(super) struct Removed<'a> {
    pub(super) broker: BrokerId,
    pub(super) tp: &'a TopicPartition,
    pub(super) records: Vec<(u64, RecordId, Removal)>,
}

/// The records `event` removed from a replica's log, if it is a log-layer event that does.
pub(super) fn removed_by(event: &Event) -> Option<Removed<'_>> {
    let (broker, tp, records) = match event {
        Event::SegmentsDeleted {
            broker,
            tp,
            rule,
            removed,
            ..
        } => (broker, tp, tagged(removed, Removal::Retention(*rule))),
        Event::LogStartOffsetIncremented {
            broker,
            tp,
            cause,
            removed,
            ..
        } => {
            let why = match cause {
                LogStartOffsetCause::DeleteRecords => Removal::DeleteRecords,
                LogStartOffsetCause::LeaderLogStartOffset => Removal::LeaderLogStart,
            };
            (broker, tp, tagged(removed, why))
        }
        Event::LogRestartedAt {
            broker,
            tp,
            removed,
            ..
        } => (broker, tp, tagged(removed, Removal::Restarted)),
        Event::LogCleaned {
            broker,
            tp,
            superseded,
            tombstones_removed,
            keyless_removed,
            ..
        } => {
            let mut records = tagged(superseded, Removal::Superseded);
            records.extend(tagged(tombstones_removed, Removal::TombstoneRemoved));
            records.extend(tagged(keyless_removed, Removal::Keyless));
            records.sort_by_key(|(o, _, _)| *o);
            (broker, tp, records)
        }
        _ => return None,
    };
    Some(Removed {
        broker: *broker,
        tp,
        records,
    })
}

fn tagged(records: &[(u64, RecordId)], why: Removal) -> Vec<(u64, RecordId, Removal)> {
    records.iter().map(|(o, id)| (*o, *id, why)).collect()
}

/// One removal of a record from one replica.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct RemovedRecord {
    pub(super) id: RecordId,
    pub(super) why: Removal,
    pub(super) broker: BrokerId,
    pub(super) at_ms: u64,
}

/// Every removal of the run, by partition and offset.
#[derive(Default)]
pub(super) struct Removals<'a> {
    by_offset: BTreeMap<&'a TopicPartition, BTreeMap<u64, Vec<RemovedRecord>>>,
}

impl<'a> Removals<'a> {
    pub(super) fn of(events: &'a [RecordedEvent]) -> Removals<'a> {
        let mut removals = Removals::default();
        for e in events {
            removals.step(e);
        }
        removals
    }

    /// Takes in what one event removed, if anything.
    pub(super) fn step(&mut self, e: &'a RecordedEvent) {
        let Some(removed) = removed_by(&e.event) else {
            return;
        };
        let offsets = self.by_offset.entry(removed.tp).or_default();
        for (offset, id, why) in removed.records {
            offsets.entry(offset).or_default().push(RemovedRecord {
                id,
                why,
                broker: removed.broker,
                at_ms: e.at_ms,
            });
        }
    }

    /// The first removal of `id` at `offset` of `tp`, on any replica: why the record is
    /// not there, if the log layer took it on purpose.
    pub(super) fn explains(
        &self,
        tp: &TopicPartition,
        offset: u64,
        id: RecordId,
    ) -> Option<&RemovedRecord> {
        self.by_offset
            .get(tp)?
            .get(&offset)?
            .iter()
            .find(|r| r.id == id)
    }

    /// The first removal of `id` anywhere in `tp` (for a record whose offset is unknown).
    pub(super) fn explains_anywhere(
        &self,
        tp: &TopicPartition,
        id: RecordId,
    ) -> Option<&RemovedRecord> {
        self.by_offset
            .get(tp)?
            .values()
            .flatten()
            .find(|r| r.id == id)
    }
}

#[cfg(test)]
pub(in crate::check) mod tests {
    use super::*;
    use crate::check::partitions::tests::{at, id, tp};

    /// The cleaner on `broker` dropped `superseded` (offset, seq) pairs.
    pub(in crate::check) fn cleaned(
        broker: BrokerId,
        end_offset: u64,
        superseded: &[(u64, u64)],
    ) -> Event {
        Event::LogCleaned {
            broker,
            tp: tp(),
            first_dirty_offset: 0,
            end_offset,
            superseded: superseded.iter().map(|(o, s)| (*o, id(*s))).collect(),
            tombstones_removed: Vec::new(),
            keyless_removed: Vec::new(),
            tombstones_stamped: Vec::new(),
            delete_horizon_ms: 0,
        }
    }

    /// Retention on `broker` deleted the segment holding `removed` (offset, seq) pairs.
    pub(in crate::check) fn retention(
        broker: BrokerId,
        log_start_offset: u64,
        removed: &[(u64, u64)],
    ) -> Event {
        Event::SegmentsDeleted {
            broker,
            tp: tp(),
            rule: RetentionRule::Time,
            segments: vec![0],
            log_start_offset,
            removed: removed.iter().map(|(o, s)| (*o, id(*s))).collect(),
        }
    }

    /// DeleteRecords, or a follower taking its leader's log start.
    pub(in crate::check) fn log_start(
        broker: BrokerId,
        log_start_offset: u64,
        cause: LogStartOffsetCause,
        removed: &[(u64, u64)],
    ) -> Event {
        Event::LogStartOffsetIncremented {
            broker,
            tp: tp(),
            log_start_offset,
            cause,
            removed: removed.iter().map(|(o, s)| (*o, id(*s))).collect(),
        }
    }

    #[test]
    fn every_log_layer_removal_is_found_by_offset_and_record() {
        let events = vec![
            at(1, retention(0, 2, &[(0, 0), (1, 1)])),
            at(2, cleaned(1, 9, &[(4, 4)])),
            at(
                3,
                log_start(1, 6, LogStartOffsetCause::DeleteRecords, &[(5, 5)]),
            ),
            at(
                4,
                Event::LogRestartedAt {
                    broker: 2,
                    tp: tp(),
                    offset: 7,
                    removed: vec![(6, id(6))],
                },
            ),
        ];
        let r = Removals::of(&events);
        assert_eq!(
            r.explains(&tp(), 1, id(1)).map(|x| x.why),
            Some(Removal::Retention(RetentionRule::Time))
        );
        assert_eq!(r.explains(&tp(), 1, id(9)), None, "another record there");
        assert_eq!(r.explains(&tp(), 2, id(1)), None, "another offset");
        assert_eq!(
            r.explains(&tp(), 4, id(4)).map(|x| (x.why, x.broker)),
            Some((Removal::Superseded, 1))
        );
        assert_eq!(
            r.explains(&tp(), 5, id(5)).map(|x| x.why),
            Some(Removal::DeleteRecords)
        );
        assert_eq!(
            r.explains_anywhere(&tp(), id(6)).map(|x| x.why),
            Some(Removal::Restarted)
        );
        assert!(!Removal::DeleteRecords.expires());
        assert!(!Removal::Superseded.expires());
        assert!(!Removal::LeaderLogStart.expires());
    }
}
