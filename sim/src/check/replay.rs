//! Every replica's log and high watermark, rebuilt from the event record as the run goes.
//!
//! The replication checkers must not trust a process's own account of its past, so they
//! replay what the replicas reported (each append with its record ids and batch leader
//! epochs, each truncation, each restart from disk, each high-watermark move) and ask the
//! replay what a replica held at a given moment. One replay serves every checker: each
//! walks the events once, feeds them to a [`LogReplay`] and looks at the replicas the
//! event touched, so the cost is one step per event and per touched offset, whatever the
//! number of partitions.

use super::removal::{removed_by, Removal};
use kafka_model::event::AppendedMarker;
use kafka_model::{BrokerId, Event, LeaderEpoch, RecordId, TopicPartition};
use std::collections::{BTreeMap, VecDeque};

/// A replica's records by offset: slot `i` holds offset `base + i`, `None` where the log has
/// a gap (the cleaner emptied it, or a follower copied a batch the leader's cleaner had
/// thinned). Offsets are dense but for such gaps, so a deque indexed by offset costs one
/// push per appended record, where a map paid a search with every record of every replica.
#[derive(Clone, Debug, Default)]
struct OffsetSlots {
    base: u64,
    slots: VecDeque<Option<Entry>>,
}

impl OffsetSlots {
    fn get(&self, offset: u64) -> Option<Entry> {
        let i = offset.checked_sub(self.base)?;
        self.slots.get(usize::try_from(i).ok()?).copied().flatten()
    }

    /// One past the last slot.
    fn slots_end(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    fn range(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, Entry)> + '_ {
        // A range can begin past the last slot: a control batch (a transaction marker)
        // takes an offset but holds no record, so a log may end past its last record.
        let start = from.max(self.base).min(self.slots_end());
        let end = to.min(self.slots_end()).max(start);
        let (i, j) = ((start - self.base) as usize, (end - self.base) as usize);
        self.slots
            .range(i..j)
            .zip(start..)
            .filter_map(|(slot, offset)| slot.map(|e| (offset, e)))
    }

    /// Puts `entry` at `offset`, at or past the last slot (gaps in between stay empty).
    fn insert_at_end(&mut self, offset: u64, entry: Entry) {
        if self.slots.is_empty() {
            self.base = offset;
        }
        assert!(
            offset >= self.slots_end(),
            "a replayed append lands past the records held ({offset} < {})",
            self.slots_end()
        );
        let gap = offset - self.slots_end();
        self.slots.extend(std::iter::repeat_n(None, gap as usize));
        self.slots.push_back(Some(entry));
    }

    /// Keeps the offsets below `to`.
    fn truncate(&mut self, to: u64) {
        let keep = to.saturating_sub(self.base);
        self.slots
            .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
    }

    /// Drops the offsets below `from`.
    fn drop_below(&mut self, from: u64) {
        let drop = from.saturating_sub(self.base).min(self.slots.len() as u64);
        self.slots.drain(..drop as usize);
        self.base = self.base.max(from);
    }

    fn remove(&mut self, offset: u64) {
        if let Some(i) = offset.checked_sub(self.base) {
            if let Some(slot) = self.slots.get_mut(i as usize) {
                *slot = None;
            }
        }
    }

    fn first_held(&self) -> Option<u64> {
        self.slots
            .iter()
            .position(Option::is_some)
            .map(|i| self.base + i as u64)
    }

    fn clear(&mut self) {
        self.slots.clear();
    }
}

/// One record of a replayed log: its id and the leader epoch of its batch.
pub(super) type Entry = (RecordId, LeaderEpoch);

/// A replica's log from its log start offset to its LEO, by offset, and the HW it last
/// reported. Offsets below the LEO may be empty: the log layer removed what was there
/// (`removed` says what and why), or the replica never held it (a follower that fetched a
/// batch the leader's cleaner had already emptied, or that restarted its log higher up).
#[derive(Clone, Debug, Default)]
pub(super) struct ReplicaLog {
    records: OffsetSlots,
    /// What the log layer removed from this replica, by offset, and why.
    removed: BTreeMap<u64, (RecordId, Removal)>,
    end: u64,
    log_start: u64,
    /// The transaction markers the log holds, by offset: they take an offset but hold no
    /// record.
    markers: BTreeMap<u64, AppendedMarker>,
    /// The HW this replica reported, never above its LEO (Kafka's `UnifiedLog` keeps the HW
    /// at or below the LEO on truncation and recovery, and the model asserts it).
    pub(super) high_watermark: u64,
}

impl ReplicaLog {
    /// The log end offset.
    pub(super) fn end(&self) -> u64 {
        self.end
    }

    /// The log start offset, as retention, DeleteRecords and restarts moved it.
    pub(super) fn log_start(&self) -> u64 {
        self.log_start
    }

    /// The record at `offset`, if this replica holds one there.
    pub(super) fn get(&self, offset: u64) -> Option<Entry> {
        self.records.get(offset)
    }

    /// The record the log layer removed at `offset` of this replica, and why.
    pub(super) fn removed_at(&self, offset: u64) -> Option<(RecordId, Removal)> {
        self.removed.get(&offset).copied()
    }

    /// The records held from `from` up to (not including) `to`, by offset.
    pub(super) fn held(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, Entry)> + '_ {
        self.records.range(from, to)
    }

    /// The transaction markers held from `from` up to (not including) `to`, by offset.
    pub(super) fn markers(&self, from: u64, to: u64) -> impl Iterator<Item = &AppendedMarker> + '_ {
        self.markers.range(from..to.max(from)).map(|(_, m)| m)
    }

    fn truncate(&mut self, to: u64) {
        self.records.truncate(to);
        self.removed.split_off(&to);
        self.markers.split_off(&to);
        self.end = self.end.min(to);
        self.log_start = self.log_start.min(self.end);
        self.high_watermark = self.high_watermark.min(self.end);
    }

    fn remove(&mut self, offset: u64, id: RecordId, why: Removal) {
        self.records.remove(offset);
        self.removed.insert(offset, (id, why));
    }
}

/// What one event did to one replica: from `lowest_changed_offset` on, its log may hold
/// something else than before (the end of the log, for a plain append). The log layer's
/// removals are no change in this sense: an offset the log layer emptied holds nothing
/// else, and [`ReplicaLog::removed_at`] says why it is empty.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct LogChange<'a> {
    pub(super) broker: BrokerId,
    pub(super) tp: &'a TopicPartition,
    pub(super) lowest_changed_offset: u64,
    /// The log end offset before the event: a change from at or above it removed nothing.
    pub(super) end_before: u64,
}

/// Every replica's [`ReplicaLog`], fed one event at a time, and every record the log layer
/// removed from any of them.
#[derive(Default)]
pub(super) struct LogReplay<'a> {
    /// By partition first, so one partition's replicas are one range of the map.
    replicas: BTreeMap<(&'a TopicPartition, BrokerId), ReplicaLog>,
    /// Per partition and offset: every record the log layer removed there, on any replica.
    removed: BTreeMap<(&'a TopicPartition, u64), Vec<RecordId>>,
}

impl<'a> LogReplay<'a> {
    pub(super) fn replica(&self, broker: BrokerId, tp: &'a TopicPartition) -> Option<&ReplicaLog> {
        self.replicas.get(&(tp, broker))
    }

    /// The replicas of `tp` the record has shown so far, by broker.
    pub(super) fn replicas_of(
        &self,
        tp: &'a TopicPartition,
    ) -> impl Iterator<Item = (BrokerId, &ReplicaLog)> + '_ {
        self.replicas
            .range((tp, BrokerId::MIN)..=(tp, BrokerId::MAX))
            .map(|((_, b), r)| (*b, r))
    }

    /// Whether the log layer removed `id` at `offset` of `tp` on some replica: then a
    /// replica that lacks it there lacks it on purpose (each replica cleans and deletes on
    /// its own, and a follower never holds what its leader's cleaner dropped before it
    /// fetched).
    pub(super) fn removed_somewhere(&self, tp: &TopicPartition, offset: u64, id: RecordId) -> bool {
        self.removed
            .get(&(tp, offset))
            .is_some_and(|ids| ids.contains(&id))
    }

    /// Whether `broker`'s replica of `tp` accounts for `id` at `offset`: it holds it, or the
    /// log layer removed it there on some replica.
    pub(super) fn accounts_for(
        &self,
        broker: BrokerId,
        tp: &'a TopicPartition,
        offset: u64,
        id: RecordId,
    ) -> bool {
        let held = self
            .replica(broker, tp)
            .and_then(|r| r.get(offset))
            .is_some_and(|(h, _)| h == id);
        held || self.removed_somewhere(tp, offset, id)
    }

    fn entry(&mut self, broker: BrokerId, tp: &'a TopicPartition) -> &mut ReplicaLog {
        self.replicas.entry((tp, broker)).or_default()
    }

    /// Applies one event; returns the replicas whose logs changed.
    pub(super) fn apply(&mut self, event: &'a Event) -> Vec<LogChange<'a>> {
        if let Some(removed) = removed_by(event) {
            return self.apply_removal(event, removed);
        }
        match event {
            Event::BrokerRecovered { broker, replicas } => replicas
                .iter()
                .map(|(tp, leo, hw)| {
                    let r = self.entry(*broker, tp);
                    let end_before = r.end();
                    r.truncate(*leo);
                    r.high_watermark = (*hw).min(r.end());
                    LogChange {
                        broker: *broker,
                        tp,
                        lowest_changed_offset: *leo,
                        end_before,
                    }
                })
                .collect(),
            Event::Appended {
                broker,
                tp,
                records,
                log_end_offset,
                markers,
                ..
            } => {
                let r = self.entry(*broker, tp);
                let end_before = r.end();
                let mut lowest = r.end();
                // A marker takes an offset like a record: one below the end cuts the log
                // back first.
                if let Some(first) = markers.iter().map(|m| m.offset).min() {
                    if first < r.end() && records.first().is_none_or(|(o, _, _)| first < *o) {
                        r.truncate(first);
                        lowest = lowest.min(first);
                    }
                }
                for (offset, id, epoch) in records {
                    if *offset < r.end() {
                        r.truncate(*offset);
                        lowest = lowest.min(*offset);
                    }
                    // An offset past the end leaves a gap: a follower copying a batch the
                    // leader's cleaner thinned (`UnifiedLog.appendAsFollower` keeps the
                    // leader's offsets).
                    r.records.insert_at_end(*offset, (*id, *epoch));
                    r.end = offset + 1;
                }
                for m in markers {
                    r.markers.insert(m.offset, *m);
                    r.end = r.end.max(m.offset + 1);
                }
                // A batch keeps its last offset when the cleaner emptied its tail.
                r.end = r.end.max(*log_end_offset);
                vec![LogChange {
                    broker: *broker,
                    tp,
                    lowest_changed_offset: lowest,
                    end_before,
                }]
            }
            Event::Truncated {
                broker,
                tp,
                to_offset,
                ..
            } => {
                let r = self.entry(*broker, tp);
                let end_before = r.end();
                r.truncate(*to_offset);
                vec![LogChange {
                    broker: *broker,
                    tp,
                    lowest_changed_offset: *to_offset,
                    end_before,
                }]
            }
            Event::HighWatermarkChanged {
                broker, tp, new, ..
            } => {
                let r = self.entry(*broker, tp);
                r.high_watermark = (*new).min(r.end());
                Vec::new()
            }
            Event::BecameLeader {
                broker,
                tp,
                high_watermark,
                ..
            } => {
                let r = self.entry(*broker, tp);
                r.high_watermark = (*high_watermark).min(r.end());
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// A log-layer event: the records it names leave the replica's log, and its log start
    /// moves. Only a restart (`truncateFullyAndStartAt`) changes what the log holds in the
    /// sense of [`LogChange`]: its end moves, and what it held is gone.
    fn apply_removal(
        &mut self,
        event: &'a Event,
        removed: super::removal::Removed<'a>,
    ) -> Vec<LogChange<'a>> {
        let tp = removed.tp;
        for (offset, id, _) in &removed.records {
            let at = self.removed.entry((tp, *offset)).or_default();
            if !at.contains(id) {
                at.push(*id);
            }
        }
        let r = self.entry(removed.broker, tp);
        let first_held = r.records.first_held().unwrap_or(r.end);
        for (offset, id, why) in removed.records {
            r.remove(offset, id, why);
        }
        match event {
            Event::SegmentsDeleted {
                log_start_offset, ..
            }
            | Event::LogStartOffsetIncremented {
                log_start_offset, ..
            } => {
                r.log_start = r.log_start.max(*log_start_offset);
                r.records.drop_below(*log_start_offset);
                r.markers = r.markers.split_off(log_start_offset);
                r.end = r.end.max(r.log_start);
                Vec::new()
            }
            Event::LogRestartedAt { offset, .. } => {
                let lowest = first_held.min(*offset);
                let end_before = r.end;
                r.records.clear();
                r.markers.clear();
                r.end = *offset;
                r.log_start = *offset;
                r.high_watermark = r.high_watermark.min(r.end);
                vec![LogChange {
                    broker: removed.broker,
                    tp,
                    lowest_changed_offset: lowest,
                    end_before,
                }]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::partitions::tests::{appended, id, tp};

    #[test]
    fn appends_truncations_and_restarts_rebuild_the_log() {
        let tp = tp();
        let events = [
            appended(0, 0, &[0, 1, 2]),
            Event::HighWatermarkChanged {
                broker: 0,
                tp: tp.clone(),
                is_leader: true,
                leader_epoch: 0,
                old: 0,
                new: 3,
                log_end_offset: 3,
            },
            // An append at offset 1 cuts the log back to 1 first.
            appended(0, 1, &[7]),
            Event::BrokerRecovered {
                broker: 0,
                replicas: vec![(tp.clone(), 1, 5)],
            },
        ];
        let mut replay = LogReplay::default();
        let changes: Vec<u64> = events
            .iter()
            .flat_map(|e| replay.apply(e))
            .map(|c| c.lowest_changed_offset)
            .collect();
        assert_eq!(changes, vec![0, 1, 1]);
        let r = replay.replica(0, &tp).expect("replayed");
        assert_eq!(r.held(0, 10).collect::<Vec<_>>(), vec![(0, (id(0), 0))]);
        assert_eq!(r.high_watermark, 1, "never above the LEO");
    }

    #[test]
    fn removals_leave_gaps_that_say_why_and_offsets_never_shift() {
        use crate::check::removal::tests::{cleaned, retention};
        let tp = tp();
        let events = [
            appended(0, 0, &[0, 1, 2, 3, 4]),
            cleaned(0, 4, &[(1, 1), (2, 2)]),
            retention(0, 1, &[(0, 0)]),
            // A follower copies the cleaned batch: the leader's offsets, gaps included.
            Event::Appended {
                broker: 1,
                tp: tp.clone(),
                as_leader: false,
                records: vec![(3, id(3), 0), (4, id(4), 0)],
                log_end_offset: 6,
                markers: Vec::new(),
            },
        ];
        let mut replay = LogReplay::default();
        let changes: Vec<Vec<LogChange>> = events.iter().map(|e| replay.apply(e)).collect();
        assert!(
            changes[1].is_empty() && changes[2].is_empty(),
            "removals change nothing"
        );
        let r = replay.replica(0, &tp).expect("replayed");
        assert_eq!((r.log_start(), r.end()), (1, 5));
        assert_eq!(r.get(3), Some((id(3), 0)), "offset 3 is still offset 3");
        assert_eq!(r.get(1), None);
        assert_eq!(r.removed_at(1), Some((id(1), Removal::Superseded)));
        assert_eq!(
            r.removed_at(0),
            Some((
                id(0),
                Removal::Retention(kafka_model::log::retention::RetentionRule::Time)
            ))
        );
        let f = replay.replica(1, &tp).expect("replayed");
        assert_eq!(
            (f.get(2), f.get(3).map(|e| e.0), f.end()),
            (None, Some(id(3)), 6)
        );
        assert!(
            replay.accounts_for(1, &tp, 2, id(2)),
            "the leader's cleaner took it"
        );
        assert!(
            !replay.accounts_for(1, &tp, 2, id(9)),
            "another record was never there"
        );
        assert!(!replay.accounts_for(1, &tp, 4, id(9)));
    }

    #[test]
    fn markers_take_offsets_and_go_with_a_truncation() {
        use kafka_model::ControlRecordType;
        let tp = tp();
        let marker = |offset| AppendedMarker {
            offset,
            producer_id: 7,
            producer_epoch: 0,
            control_type: ControlRecordType::Commit,
        };
        let events = [
            appended(0, 0, &[0, 1]),
            Event::Appended {
                broker: 0,
                tp: tp.clone(),
                as_leader: true,
                records: Vec::new(),
                log_end_offset: 3,
                markers: vec![marker(2)],
            },
            // A new leader's marker at offset 1 cuts the log back first.
            Event::Appended {
                broker: 0,
                tp: tp.clone(),
                as_leader: false,
                records: Vec::new(),
                log_end_offset: 2,
                markers: vec![marker(1)],
            },
        ];
        let mut replay = LogReplay::default();
        replay.apply(&events[0]);
        replay.apply(&events[1]);
        let r = replay.replica(0, &tp).expect("replayed");
        assert_eq!(r.end(), 3);
        assert_eq!(
            r.markers(0, 10).map(|m| m.offset).collect::<Vec<_>>(),
            vec![2]
        );
        let changes = replay.apply(&events[2]);
        assert_eq!(changes[0].lowest_changed_offset, 1);
        let r = replay.replica(0, &tp).expect("replayed");
        assert_eq!((r.end(), r.get(1)), (2, None));
        assert_eq!(
            r.markers(0, 10).map(|m| m.offset).collect::<Vec<_>>(),
            vec![1]
        );
    }

    #[test]
    fn a_restarted_log_is_empty_up_to_its_new_start() {
        let tp = tp();
        let first = appended(1, 0, &[0, 1]);
        let mut replay = LogReplay::default();
        replay.apply(&first);
        let restart = Event::LogRestartedAt {
            broker: 1,
            tp: tp.clone(),
            offset: 7,
            removed: vec![(0, id(0)), (1, id(1))],
        };
        let changes = replay.apply(&restart);
        assert_eq!(changes[0].lowest_changed_offset, 0);
        let r = replay.replica(1, &tp).expect("replayed");
        assert_eq!((r.log_start(), r.end(), r.get(0)), (7, 7, None));
        assert_eq!(r.removed_at(1), Some((id(1), Removal::Restarted)));
    }
}
