//! Every replica's log and high watermark, rebuilt from the event record as the run goes.
//!
//! The replication checkers must not trust a process's own account of its past, so they
//! replay what the replicas reported (each append with its record ids and batch leader
//! epochs, each truncation, each restart from disk, each high-watermark move) and ask the
//! replay what a replica held at a given moment. One replay serves every checker: each
//! walks the events once, feeds them to a [`LogReplay`] and looks at the replicas the
//! event touched, so the cost is one step per event and per touched offset, whatever the
//! number of partitions.

use kafka_model::{BrokerId, Event, LeaderEpoch, RecordId, TopicPartition};
use std::collections::BTreeMap;

/// One record of a replayed log: its id and the leader epoch of its batch.
pub(super) type Entry = (RecordId, LeaderEpoch);

/// A replica's log from offset 0 to its LEO, and the HW it last reported.
#[derive(Clone, Debug, Default)]
pub(super) struct ReplicaLog {
    pub(super) records: Vec<Entry>,
    /// The HW this replica reported, never above its LEO (Kafka's `UnifiedLog` keeps the HW
    /// at or below the LEO on truncation and recovery, and the model asserts it).
    pub(super) high_watermark: u64,
}

impl ReplicaLog {
    pub(super) fn end(&self) -> u64 {
        self.records.len() as u64
    }

    pub(super) fn get(&self, offset: u64) -> Option<Entry> {
        self.records.get(offset as usize).copied()
    }

    fn truncate(&mut self, to: u64) {
        self.records.truncate(to as usize);
        self.high_watermark = self.high_watermark.min(self.end());
    }
}

/// What one event did to one replica: from `lowest_changed_offset` on, its log may hold
/// something else than before (the end of the log, for a plain append).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct LogChange<'a> {
    pub(super) broker: BrokerId,
    pub(super) tp: &'a TopicPartition,
    pub(super) lowest_changed_offset: u64,
}

/// Every replica's [`ReplicaLog`], fed one event at a time.
#[derive(Default)]
pub(super) struct LogReplay<'a> {
    /// By partition first, so one partition's replicas are one range of the map.
    replicas: BTreeMap<(&'a TopicPartition, BrokerId), ReplicaLog>,
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

    fn entry(&mut self, broker: BrokerId, tp: &'a TopicPartition) -> &mut ReplicaLog {
        self.replicas.entry((tp, broker)).or_default()
    }

    /// Applies one event; returns the replicas whose logs changed.
    pub(super) fn apply(&mut self, event: &'a Event) -> Vec<LogChange<'a>> {
        match event {
            Event::BrokerRecovered { broker, replicas } => replicas
                .iter()
                .map(|(tp, leo, hw)| {
                    let r = self.entry(*broker, tp);
                    r.truncate(*leo);
                    r.high_watermark = (*hw).min(r.end());
                    LogChange {
                        broker: *broker,
                        tp,
                        lowest_changed_offset: *leo,
                    }
                })
                .collect(),
            Event::Appended {
                broker,
                tp,
                records,
                ..
            } => {
                let r = self.entry(*broker, tp);
                let mut lowest = r.end();
                for (offset, id, epoch) in records {
                    if *offset != r.end() {
                        r.truncate((*offset).min(r.end()));
                        lowest = lowest.min(r.end());
                        if *offset != r.end() {
                            continue; // a gap the record did not show: skip, never guess
                        }
                    }
                    r.records.push((*id, *epoch));
                }
                vec![LogChange {
                    broker: *broker,
                    tp,
                    lowest_changed_offset: lowest,
                }]
            }
            Event::Truncated {
                broker,
                tp,
                to_offset,
                ..
            } => {
                self.entry(*broker, tp).truncate(*to_offset);
                vec![LogChange {
                    broker: *broker,
                    tp,
                    lowest_changed_offset: *to_offset,
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
        assert_eq!(r.records, vec![(id(0), 0)]);
        assert_eq!(r.high_watermark, 1, "never above the LEO");
    }
}
