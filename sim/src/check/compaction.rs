//! The log cleaner's promises, judged on every replica at every cleaning round:
//!
//! - `compaction-lost-latest`: a compacted topic keeps at least the last value of every key
//!   (Kafka's documentation: "Log compaction ensures that Kafka will always retain at least
//!   the last known value for each message key"). A round broke it if it dropped a record as
//!   superseded while the replica's log holds no later record of its key; or if a record
//!   survived the round although a later record of its key lay in the range the round mapped
//!   (`Cleaner.buildOffsetMap` over the dirty section up to the round's end offset, then
//!   `Cleaner.cleanInto` keeps a record only if the map has no later offset for its key).
//! - `tombstone-removed-early`: since KIP-534 (3.1) the first round that keeps a tombstone
//!   stamps its batch with a delete horizon, that round's clock plus `delete.retention.ms`
//!   (`MemoryRecords.filterTo` with `deleteHorizonMs`); only a round at or after the horizon
//!   may drop it. A consumer that read the key's old value has that long to see the delete;
//!   a tombstone that vanishes early leaves it holding a value the topic no longer has. A
//!   follower that copies a stamped batch keeps the leader's horizon.
//!
//! The cleaner works on keys, and the event record names records by id; the checkers learn
//! each record's key from how its producer keys them ([`RecordKeys`]). Records whose key is
//! unknown (the group coordinator's own, in `__consumer_offsets`) are not judged here.

use super::common::{Invariant, Violation};
use super::replay::LogReplay;
use crate::record::RecordedEvent;
use crate::report::seconds;
use kafka_model::{BrokerId, Event, RecordId, TopicPartition};
use std::collections::BTreeMap;

/// How one producer keys its records.
#[derive(Clone, Debug, PartialEq)]
pub enum ProducerKeys {
    /// Generated records keyed `k{seq % keys}` (the producer's `keys`; `Producer::generate`).
    Modulo(u32),
    /// An exact sequence: each record's key by its sequence number (`None`: no key).
    Listed(Vec<Option<String>>),
}

/// Each record's key, by the producer that wrote it: what the compaction checkers need and
/// no event carries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordKeys {
    producers: BTreeMap<u32, ProducerKeys>,
}

impl RecordKeys {
    /// Producer `producer` (its index, as in [`RecordId::producer`]) keys its records so.
    pub fn insert(&mut self, producer: u32, keys: ProducerKeys) {
        self.producers.insert(producer, keys);
    }

    /// The key of `id`, if its producer is known and gives it one.
    pub fn key_of(&self, id: RecordId) -> Option<String> {
        match self.producers.get(&id.producer)? {
            ProducerKeys::Modulo(keys) => {
                assert!(*keys > 0, "a keyed producer has at least one key");
                Some(format!("k{}", id.seq % u64::from(*keys)))
            }
            ProducerKeys::Listed(list) => list.get(id.seq as usize).cloned().flatten(),
        }
    }
}

/// One cleaning round, as its event reports it.
struct Round<'a> {
    at_ms: u64,
    broker: BrokerId,
    tp: &'a TopicPartition,
    first_dirty_offset: u64,
    end_offset: u64,
    superseded: &'a [(u64, RecordId)],
    tombstones_removed: &'a [(u64, RecordId)],
}

/// The events up to the last cleaning round: both compaction checkers judge rounds, so a
/// run without one (most runs: the cleaner works only on closed segments of compacted
/// topics) costs them no replay at all.
fn up_to_last_cleaning(events: &[RecordedEvent]) -> &[RecordedEvent] {
    let last = events
        .iter()
        .rposition(|e| matches!(e.event, Event::LogCleaned { .. }));
    last.map_or(&[], |i| &events[..=i])
}

/// The last offset of each key among `keyed` (offset, key) pairs.
fn last_offset_by_key<'k>(keyed: impl Iterator<Item = &'k (u64, String)>) -> BTreeMap<String, u64> {
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for (o, k) in keyed {
        let at = last.entry(k.clone()).or_insert(*o);
        *at = (*at).max(*o);
    }
    last
}

/// `compaction-lost-latest`, judged right after each round on the replica it cleaned.
pub fn compaction_lost_latest(events: &[RecordedEvent], keys: &RecordKeys) -> Vec<Violation> {
    let mut replay = LogReplay::default();
    let mut violations = Vec::new();
    for e in up_to_last_cleaning(events) {
        replay.apply(&e.event);
        let Event::LogCleaned {
            broker,
            tp,
            first_dirty_offset,
            end_offset,
            superseded,
            tombstones_removed,
            ..
        } = &e.event
        else {
            continue;
        };
        let round = Round {
            at_ms: e.at_ms,
            broker: *broker,
            tp,
            first_dirty_offset: *first_dirty_offset,
            end_offset: *end_offset,
            superseded,
            tombstones_removed,
        };
        judge_round(&replay, &round, keys, &mut violations);
    }
    violations
}

fn judge_round(
    replay: &LogReplay<'_>,
    round: &Round<'_>,
    keys: &RecordKeys,
    violations: &mut Vec<Violation>,
) {
    let Some(log) = replay.replica(round.broker, round.tp) else {
        return;
    };
    let held: Vec<(u64, RecordId, String)> = log
        .held(log.log_start(), log.end())
        .filter_map(|(o, (id, _))| keys.key_of(id).map(|k| (o, id, k)))
        .collect();
    // What the replica holds after the round, and the tombstones the round dropped past
    // their horizon (a dropped tombstone still deletes its key), by offset and key.
    let dropped_tombstones = round
        .tombstones_removed
        .iter()
        .filter_map(|(o, id)| keys.key_of(*id).map(|k| (*o, k)));
    let keyed: Vec<(u64, String)> = held
        .iter()
        .map(|(o, _, k)| (*o, k.clone()))
        .chain(dropped_tombstones)
        .collect();
    // Per key, the last of those offsets: a superseded record needs a later one.
    let last_held = last_offset_by_key(keyed.iter());
    // Per key, the last record the round dropped as superseded: if nothing later of the key
    // is left, that was the key's latest value (the earlier ones it would have replaced).
    let mut last_superseded: BTreeMap<String, (u64, RecordId)> = BTreeMap::new();
    for (offset, id) in round.superseded {
        if let Some(key) = keys.key_of(*id) {
            let last = last_superseded.entry(key).or_insert((*offset, *id));
            if *offset > last.0 {
                *last = (*offset, *id);
            }
        }
    }
    for (key, (offset, id)) in last_superseded {
        if last_held.get(&key).is_some_and(|last| *last > offset) {
            continue;
        }
        violations.push(lost_latest(
            round,
            format!(
                "the cleaner on broker {} removed {id} at offset {offset} of {} at t={} as superseded, but that replica's log holds no later record of key {key}: the key's latest value is gone (a compacted topic keeps at least the last value of every key)",
                round.broker,
                round.tp,
                seconds(round.at_ms),
            ),
        ));
    }
    // Per key, the last offset in the range the round mapped (what stayed, and the
    // tombstones it dropped past their horizon): an earlier record of the key should be gone.
    let in_range = |o: u64| (round.first_dirty_offset..round.end_offset).contains(&o);
    let mapped = last_offset_by_key(keyed.iter().filter(|(o, _)| in_range(*o)));
    for (offset, id, key) in held.iter().filter(|(o, _, _)| *o < round.end_offset) {
        let Some(&later) = mapped.get(key).filter(|later| **later > *offset) else {
            continue;
        };
        violations.push(lost_latest(
            round,
            format!(
                "{id} (key {key}) at offset {offset} of {} survived the cleaning round on broker {} at t={}, although the round mapped a later record of its key at offset {later} (it cleaned up to offset {}): a reader of the compacted log gets an outdated value the cleaner should have replaced",
                round.tp,
                round.broker,
                seconds(round.at_ms),
                round.end_offset,
            ),
        ));
    }
}

fn lost_latest(round: &Round<'_>, detail: String) -> Violation {
    Violation {
        invariant: Invariant::CompactionLostLatest,
        at_ms: round.at_ms,
        partition: Some(round.tp.clone()),
        detail,
        loss: None,
    }
}

/// A tombstone's delete horizon on one replica, and where it came from.
#[derive(Clone, Copy, Debug)]
struct Horizon {
    horizon_ms: u64,
    stamped_at_ms: u64,
    stamped_by: BrokerId,
}

/// `tombstone-removed-early`: a cleaning round dropped a tombstone before its delete horizon
/// (the first stamp on that replica, or else the partition's first stamp at that offset,
/// which a follower copied with the batch), or one nobody had stamped.
pub fn tombstone_removed_early(events: &[RecordedEvent]) -> Vec<Violation> {
    let events = up_to_last_cleaning(events);
    let mut replay = LogReplay::default();
    // Per replica and offset: the horizon this replica's own cleaner stamped.
    let mut own: BTreeMap<(&TopicPartition, BrokerId, u64), Horizon> = BTreeMap::new();
    // Per partition and offset: the first horizon any replica stamped.
    let mut first: BTreeMap<(&TopicPartition, u64), Horizon> = BTreeMap::new();
    let mut violations = Vec::new();
    for e in events {
        for change in replay.apply(&e.event) {
            // A truncated offset may hold another tombstone later.
            if change.lowest_changed_offset < change.end_before {
                own.retain(|(t, b, o), _| {
                    !(*t == change.tp && *b == change.broker && *o >= change.lowest_changed_offset)
                });
            }
        }
        let Event::LogCleaned {
            broker,
            tp,
            tombstones_removed,
            tombstones_stamped,
            delete_horizon_ms,
            ..
        } = &e.event
        else {
            continue;
        };
        for (offset, id) in tombstones_removed {
            let known = own
                .get(&(tp, *broker, *offset))
                .or_else(|| first.get(&(tp, *offset)));
            let why = match known {
                Some(h) if e.at_ms >= h.horizon_ms => continue,
                Some(h) => format!(
                    "its delete horizon was t={} (broker {} stamped it at t={}, delete.retention.ms later)",
                    seconds(h.horizon_ms),
                    h.stamped_by,
                    seconds(h.stamped_at_ms)
                ),
                None => "no cleaning round had stamped it with a delete horizon (KIP-534: a tombstone needs a round that keeps and stamps it, and a later one past the horizon)".to_string(),
            };
            violations.push(Violation {
                invariant: Invariant::TombstoneRemovedEarly,
                at_ms: e.at_ms,
                partition: Some(tp.clone()),
                detail: format!(
                    "the cleaner on broker {broker} removed tombstone {id} at offset {offset} of {tp} at t={}, but {why}: a consumer that read the key's old value had less than delete.retention.ms to see the delete, and may keep a value the topic no longer has",
                    seconds(e.at_ms)
                ),
                loss: None,
            });
        }
        let stamp = Horizon {
            horizon_ms: *delete_horizon_ms,
            stamped_at_ms: e.at_ms,
            stamped_by: *broker,
        };
        for offset in tombstones_stamped {
            own.entry((tp, *broker, *offset)).or_insert(stamp);
            first.entry((tp, *offset)).or_insert(stamp);
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::partitions::tests::{appended, at, id, tp};

    /// Producer 0 keys its records `k{seq % 2}`: even sequences are k0, odd ones k1.
    fn two_keys() -> RecordKeys {
        let mut keys = RecordKeys::default();
        keys.insert(0, ProducerKeys::Modulo(2));
        keys
    }

    fn round(
        broker: BrokerId,
        first_dirty: u64,
        end: u64,
        superseded: &[(u64, u64)],
        tombstones_removed: &[(u64, u64)],
        stamped: &[u64],
        horizon_ms: u64,
    ) -> Event {
        let ids = |l: &[(u64, u64)]| l.iter().map(|(o, s)| (*o, id(*s))).collect();
        Event::LogCleaned {
            broker,
            tp: tp(),
            first_dirty_offset: first_dirty,
            end_offset: end,
            superseded: ids(superseded),
            tombstones_removed: ids(tombstones_removed),
            keyless_removed: Vec::new(),
            tombstones_stamped: stamped.to_vec(),
            delete_horizon_ms: horizon_ms,
        }
    }

    #[test]
    fn keys_come_from_how_each_producer_keys_its_records() {
        let mut keys = two_keys();
        keys.insert(
            1,
            ProducerKeys::Listed(vec![Some("K1".into()), None, Some("K2".into())]),
        );
        assert_eq!(keys.key_of(id(5)).as_deref(), Some("k1"));
        let p1 = |seq| RecordId { producer: 1, seq };
        assert_eq!(keys.key_of(p1(0)).as_deref(), Some("K1"));
        assert_eq!(keys.key_of(p1(1)), None, "a keyless record");
        assert_eq!(keys.key_of(p1(9)), None, "past the sequence");
        assert_eq!(
            keys.key_of(RecordId {
                producer: 7,
                seq: 0
            }),
            None
        );
    }

    #[test]
    fn a_round_that_keeps_the_last_of_each_key_is_fine() {
        // k0 at 0, 2, 4; k1 at 1, 3; the round maps 0..4 and keeps 2 (k0) and 3 (k1).
        let events = vec![
            at(1, appended(0, 0, &[0, 1, 2, 3, 4])),
            at(2, round(0, 0, 4, &[(0, 0), (1, 1)], &[], &[], 0)),
        ];
        assert!(compaction_lost_latest(&events, &two_keys()).is_empty());
    }

    #[test]
    fn a_superseded_record_with_no_later_record_of_its_key_is_the_latest_lost() {
        // The round drops p0#3 (k1), the last record of k1.
        let events = vec![
            at(1, appended(0, 0, &[0, 1, 2, 3, 4])),
            at(2, round(0, 0, 4, &[(0, 0), (1, 1), (3, 3)], &[], &[], 0)),
        ];
        let v = compaction_lost_latest(&events, &two_keys());
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].invariant, Invariant::CompactionLostLatest);
        assert!(
            v[0].detail.contains("removed p0#3 at offset 3")
                && v[0].detail.contains("no later record of key k1"),
            "{}",
            v[0].detail
        );
        // A key the checker cannot know (a record of another producer) is not judged.
        assert!(compaction_lost_latest(&events, &RecordKeys::default()).is_empty());
    }

    #[test]
    fn a_record_that_survives_a_later_one_of_its_key_in_range_is_flagged() {
        // The round maps 0..4 but keeps p0#0 (k0) though p0#2 (k0) was in range.
        let events = vec![
            at(1, appended(0, 0, &[0, 1, 2, 3, 4])),
            at(2, round(0, 0, 4, &[(1, 1)], &[], &[], 0)),
        ];
        let v = compaction_lost_latest(&events, &two_keys());
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].detail.contains("p0#0 (key k0) at offset 0")
                && v[0].detail.contains("at offset 2"),
            "{}",
            v[0].detail
        );
        // The later record past the round's end (the active segment) is no evidence.
        let events = vec![
            at(1, appended(0, 0, &[0, 1, 2, 3, 4])),
            at(2, round(0, 0, 2, &[], &[], &[], 0)),
        ];
        assert!(compaction_lost_latest(&events, &two_keys()).is_empty());
    }

    #[test]
    fn a_tombstone_goes_only_after_its_horizon() {
        // Round one at t=1s stamps the tombstone at offset 2 with horizon t=11s.
        let stamped = vec![
            at(0, appended(0, 0, &[0, 1, 2, 3])),
            at(1_000, round(0, 0, 3, &[(0, 0)], &[], &[2], 11_000)),
        ];
        let removed_at = |t: u64| {
            let mut e = stamped.clone();
            e.push(at(t, round(0, 3, 3, &[], &[(2, 2)], &[], t + 10_000)));
            tombstone_removed_early(&e)
        };
        assert!(removed_at(11_000).is_empty());
        let v = removed_at(5_000);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].invariant, Invariant::TombstoneRemovedEarly);
        assert!(
            v[0].detail.contains("delete horizon was t=11.000s"),
            "{}",
            v[0].detail
        );
        // A follower that copied the stamped batch keeps the leader's horizon.
        let mut follower = stamped.clone();
        follower.push(at(1_500, appended(1, 0, &[1, 2, 3])));
        follower.push(at(4_000, round(1, 0, 3, &[], &[(2, 2)], &[], 14_000)));
        assert_eq!(tombstone_removed_early(&follower).len(), 1);
        // Removed with no stamp at all: one round is not enough.
        let unstamped = vec![
            at(0, appended(0, 0, &[0, 1, 2, 3])),
            at(1_000, round(0, 0, 3, &[], &[(2, 2)], &[], 11_000)),
        ];
        let v = tombstone_removed_early(&unstamped);
        assert!(
            v.len() == 1 && v[0].detail.contains("no cleaning round had stamped it"),
            "{v:?}"
        );
    }
}
