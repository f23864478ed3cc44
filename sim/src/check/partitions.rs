//! The replication invariants: each computed from the event record and the final state.
//!
//! They replay what the processes reported (every append, truncation and high-watermark
//! move, with the record ids) to rebuild each replica's log as it was at every moment, so a
//! check can ask "what did the leader hold at offset 12 when its HW passed it?" without
//! trusting any process's own account of the past.

use super::common::{last_time, Invariant, Violation};
use crate::record::{FinalPartition, FinalState, RecordedEvent};
use kafka_model::{Acks, BrokerId, Event, LeaderEpoch, RecordId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// The log that counts as "the partition" after the settle: the final leader's; with no
/// leader, nothing is readable.
fn final_log(p: &FinalPartition) -> Option<(BrokerId, LeaderEpoch, BTreeMap<u64, RecordId>)> {
    let leader = p.leader?;
    let r = p.replica_states.iter().find(|r| r.broker == leader)?;
    Some((
        leader,
        p.leader_epoch,
        r.log.iter().map(|(o, id, _)| (*o, *id)).collect(),
    ))
}

/// `acked-record-lost`: an acknowledged record is missing from the partition after the settle.
pub fn acked_record_lost(
    events: &[RecordedEvent],
    final_state: &FinalState,
) -> (Vec<Violation>, u64) {
    let mut present: BTreeMap<&TopicPartition, BTreeSet<RecordId>> = BTreeMap::new();
    let mut leaders: BTreeMap<&TopicPartition, String> = BTreeMap::new();
    for p in &final_state.partitions {
        let (ids, desc) = match final_log(p) {
            Some((leader, epoch, log)) => {
                let end = log.keys().next_back().map_or(0, |o| o + 1);
                (
                    log.values().copied().collect(),
                    format!("the final leader is broker {leader} (epoch {epoch}) whose log ends at {end}"),
                )
            }
            None => {
                // No leader: a record survives if any online replica still holds it.
                let ids = p
                    .replica_states
                    .iter()
                    .filter(|r| r.online)
                    .flat_map(|r| r.log.iter().map(|(_, id, _)| *id))
                    .collect();
                (ids, "the partition has no leader at the end".to_string())
            }
        };
        present.insert(&p.tp, ids);
        leaders.insert(&p.tp, desc);
    }
    let mut violations = Vec::new();
    let mut lost = BTreeSet::new();
    for e in events {
        let Event::Acknowledged {
            tp,
            acks,
            base_offset,
            ids,
            ..
        } = &e.event
        else {
            continue;
        };
        let Some(have) = present.get(tp) else {
            continue;
        };
        for (i, id) in ids.iter().enumerate() {
            if have.contains(id) || !lost.insert(*id) {
                continue;
            }
            let acks = match acks {
                Acks::All => "acks=all",
                Acks::Leader => "acks=1",
                Acks::None => "acks=0",
            };
            violations.push(Violation {
                invariant: Invariant::AckedRecordLost,
                at_ms: e.at_ms,
                partition: Some(tp.clone()),
                detail: format!(
                    "record {id} was acknowledged ({acks}) at offset {} of {tp} but is not in the partition after the settle; {}",
                    base_offset + i as u64,
                    leaders[tp]
                ),
            });
        }
    }
    let n = lost.len() as u64;
    (violations, n)
}

/// A replica's log as rebuilt from the events: `base` is the offset of `ids[0]`.
#[derive(Default, Clone)]
struct Replay {
    ids: Vec<RecordId>,
}

impl Replay {
    fn end(&self) -> u64 {
        self.ids.len() as u64
    }
    fn truncate(&mut self, to: u64) {
        self.ids.truncate(to as usize);
    }
}

/// `committed-record-lost`: a record once below a leader's HW is later missing or replaced at
/// its offset in the final leader's log.
pub fn committed_record_lost(
    events: &[RecordedEvent],
    final_state: &FinalState,
) -> (Vec<Violation>, u64) {
    let committed = committed_records(events);
    let mut violations = Vec::new();
    let mut lost = 0;
    for p in &final_state.partitions {
        let Some(c) = committed.get(&p.tp) else {
            continue;
        };
        let final_log = final_log(p);
        for (offset, (id, at_ms, broker, epoch)) in c.iter().enumerate() {
            let offset = offset as u64;
            let now = final_log
                .as_ref()
                .and_then(|(_, _, log)| log.get(&offset).copied());
            if now == Some(*id) {
                continue;
            }
            lost += 1;
            let what = match (&final_log, now) {
                (None, _) => "the partition has no leader at the end".to_string(),
                (Some((l, _, _)), None) => {
                    format!("the final leader, broker {l}, has nothing there")
                }
                (Some((l, _, _)), Some(other)) => {
                    format!("the final leader, broker {l}, has {other} there instead")
                }
            };
            violations.push(Violation {
                invariant: Invariant::CommittedRecordLost,
                at_ms: *at_ms,
                partition: Some(p.tp.clone()),
                detail: format!(
                    "record {id} at offset {offset} of {} was committed (leader broker {broker} moved its high watermark past it in epoch {epoch}), but {what}",
                    p.tp
                ),
            });
        }
    }
    (violations, lost)
}

/// A record's first commit: (id, time, broker, epoch) of the leader whose high watermark
/// passed it.
type Commit = (RecordId, u64, BrokerId, LeaderEpoch);

/// Every partition's committed records, by offset, replayed from the leaders' appends,
/// truncations and high-watermark moves.
fn committed_records(events: &[RecordedEvent]) -> BTreeMap<&TopicPartition, Vec<Commit>> {
    let mut replicas: BTreeMap<(BrokerId, &TopicPartition), Replay> = BTreeMap::new();
    // Per partition: offset -> (id, time, broker, epoch) of the first commit.
    let mut committed: BTreeMap<&TopicPartition, Vec<Commit>> = BTreeMap::new();
    for e in events {
        match &e.event {
            Event::BrokerRecovered {
                broker,
                replicas: rs,
            } => {
                for (tp, leo, _) in rs {
                    replicas.entry((*broker, tp)).or_default().truncate(*leo);
                }
            }
            Event::Appended {
                broker,
                tp,
                records,
                ..
            } => {
                let r = replicas.entry((*broker, tp)).or_default();
                for (offset, id, _) in records {
                    if *offset != r.end() {
                        r.truncate((*offset).min(r.end()));
                        if *offset != r.end() {
                            continue; // a gap the record did not show: skip, never guess
                        }
                    }
                    r.ids.push(*id);
                }
            }
            Event::Truncated {
                broker,
                tp,
                to_offset,
                ..
            } => {
                replicas
                    .entry((*broker, tp))
                    .or_default()
                    .truncate(*to_offset);
            }
            Event::HighWatermarkChanged {
                broker,
                tp,
                is_leader: true,
                leader_epoch,
                new,
                ..
            } => {
                let r = replicas.entry((*broker, tp)).or_default();
                let c = committed.entry(tp).or_default();
                let upto = (*new).min(r.end());
                while (c.len() as u64) < upto {
                    let o = c.len();
                    c.push((r.ids[o], e.at_ms, *broker, *leader_epoch));
                }
            }
            _ => {}
        }
    }
    committed
}

/// `replica-divergence`: two online ISR replicas hold different records at one offset.
pub fn replica_divergence(events: &[RecordedEvent], final_state: &FinalState) -> Vec<Violation> {
    let at_ms = last_time(events);
    let mut violations = Vec::new();
    for p in &final_state.partitions {
        let members: Vec<_> = p
            .replica_states
            .iter()
            .filter(|r| r.online && p.isr.contains(&r.broker))
            .collect();
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                let diverged = a
                    .log
                    .iter()
                    .zip(b.log.iter())
                    .find(|((oa, ia, _), (ob, ib, _))| oa == ob && ia != ib);
                if let Some(((offset, ia, _), (_, ib, _))) = diverged {
                    violations.push(Violation {
                        invariant: Invariant::ReplicaDivergence,
                        at_ms,
                        partition: Some(p.tp.clone()),
                        detail: format!(
                            "ISR replicas broker {} and broker {} of {} disagree at offset {offset}: {ia} versus {ib}",
                            a.broker, b.broker, p.tp
                        ),
                    });
                }
            }
        }
    }
    violations
}

/// `hw-above-leo`: a replica's HW beyond its LEO.
pub fn hw_above_leo(events: &[RecordedEvent], final_state: &FinalState) -> Vec<Violation> {
    let mut violations = Vec::new();
    for e in events {
        if let Event::HighWatermarkChanged {
            broker,
            tp,
            new,
            log_end_offset,
            ..
        } = &e.event
        {
            if new > log_end_offset {
                violations.push(Violation {
                    invariant: Invariant::HwAboveLeo,
                    at_ms: e.at_ms,
                    partition: Some(tp.clone()),
                    detail: format!("broker {broker} set its high watermark of {tp} to {new}, past its log end offset {log_end_offset}"),
                });
            }
        }
    }
    let at_ms = last_time(events);
    for p in &final_state.partitions {
        for r in &p.replica_states {
            if r.high_watermark > r.log_end_offset {
                violations.push(Violation {
                    invariant: Invariant::HwAboveLeo,
                    at_ms,
                    partition: Some(p.tp.clone()),
                    detail: format!(
                        "broker {} ends with high watermark {} of {} past its log end offset {}",
                        r.broker, r.high_watermark, p.tp, r.log_end_offset
                    ),
                });
            }
        }
    }
    violations
}

/// `hw-regressed`: a leader's HW went down within one leader epoch.
pub fn hw_regressed(events: &[RecordedEvent]) -> Vec<Violation> {
    let mut last: BTreeMap<(BrokerId, &TopicPartition), (LeaderEpoch, u64)> = BTreeMap::new();
    let mut violations = Vec::new();
    for e in events {
        match &e.event {
            Event::BecameLeader { broker, tp, .. } | Event::BecameFollower { broker, tp, .. } => {
                last.remove(&(*broker, tp));
            }
            Event::BrokerRecovered { broker, .. } => {
                last.retain(|(b, _), _| b != broker);
            }
            Event::HighWatermarkChanged {
                broker,
                tp,
                is_leader: true,
                leader_epoch,
                new,
                ..
            } => {
                if let Some((epoch, hw)) = last.get(&(*broker, tp)) {
                    if epoch == leader_epoch && new < hw {
                        violations.push(Violation {
                            invariant: Invariant::HwRegressed,
                            at_ms: e.at_ms,
                            partition: Some(tp.clone()),
                            detail: format!(
                                "leader broker {broker} moved the high watermark of {tp} back from {hw} to {new} within epoch {epoch}"
                            ),
                        });
                    }
                }
                last.insert((*broker, tp), (*leader_epoch, *new));
            }
            _ => {}
        }
    }
    violations
}

/// `uncommitted-read`: a consumer got a record at or above the serving leader's HW.
pub fn uncommitted_read(events: &[RecordedEvent]) -> Vec<Violation> {
    let mut violations = Vec::new();
    for e in events {
        if let Event::Consumed {
            consumer,
            tp,
            served_by,
            high_watermark,
            records,
        } = &e.event
        {
            if let Some((offset, id)) = records.iter().find(|(o, _)| o >= high_watermark) {
                violations.push(Violation {
                    invariant: Invariant::UncommittedRead,
                    at_ms: e.at_ms,
                    partition: Some(tp.clone()),
                    detail: format!(
                        "consumer #{consumer} was handed {id} at offset {offset} of {tp} by broker {served_by}, whose high watermark was {high_watermark}"
                    ),
                });
            }
        }
    }
    violations
}

/// `two-leaders-same-epoch`: two brokers led one partition in one epoch.
pub fn two_leaders_same_epoch(events: &[RecordedEvent]) -> Vec<Violation> {
    let mut leaders: BTreeMap<(&TopicPartition, LeaderEpoch), BrokerId> = BTreeMap::new();
    let mut violations = Vec::new();
    for e in events {
        if let Event::BecameLeader {
            broker,
            tp,
            leader_epoch,
            ..
        } = &e.event
        {
            match leaders.get(&(tp, *leader_epoch)) {
                Some(other) if other != broker => violations.push(Violation {
                    invariant: Invariant::TwoLeadersSameEpoch,
                    at_ms: e.at_ms,
                    partition: Some(tp.clone()),
                    detail: format!(
                        "brokers {other} and {broker} both acted as leader of {tp} in epoch {leader_epoch}"
                    ),
                }),
                Some(_) => {}
                None => {
                    leaders.insert((tp, *leader_epoch), *broker);
                }
            }
        }
    }
    violations
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::record::FinalReplica;
    use kafka_model::event::TruncateReason;

    pub(in crate::check) fn tp() -> TopicPartition {
        TopicPartition::new("orders", 0)
    }

    pub(in crate::check) fn id(seq: u64) -> RecordId {
        RecordId { producer: 0, seq }
    }

    pub(in crate::check) fn at(at_ms: u64, event: Event) -> RecordedEvent {
        RecordedEvent { at_ms, event }
    }

    pub(in crate::check) fn appended(broker: BrokerId, from: u64, seqs: &[u64]) -> Event {
        Event::Appended {
            broker,
            tp: tp(),
            as_leader: broker == 0,
            records: seqs
                .iter()
                .enumerate()
                .map(|(i, s)| (from + i as u64, id(*s), 0))
                .collect(),
            log_end_offset: from + seqs.len() as u64,
        }
    }

    fn hw(broker: BrokerId, epoch: LeaderEpoch, old: u64, new: u64, leo: u64) -> Event {
        Event::HighWatermarkChanged {
            broker,
            tp: tp(),
            is_leader: true,
            leader_epoch: epoch,
            old,
            new,
            log_end_offset: leo,
        }
    }

    fn replica(broker: BrokerId, seqs: &[u64], hw: u64) -> FinalReplica {
        FinalReplica {
            broker,
            log: seqs
                .iter()
                .enumerate()
                .map(|(o, s)| (o as u64, id(*s), 0))
                .collect(),
            log_start_offset: 0,
            log_end_offset: seqs.len() as u64,
            high_watermark: hw,
            leader_epoch: 1,
            is_leader: false,
            online: true,
        }
    }

    fn final_state(
        leader: BrokerId,
        isr: Vec<BrokerId>,
        replicas: Vec<FinalReplica>,
    ) -> FinalState {
        FinalState {
            partitions: vec![FinalPartition {
                tp: tp(),
                leader: Some(leader),
                leader_epoch: 1,
                isr,
                replicas: replicas.iter().map(|r| r.broker).collect(),
                replica_states: replicas,
            }],
            groups: Vec::new(),
        }
    }

    fn acked(seqs: &[u64], base: u64) -> Event {
        Event::Acknowledged {
            producer: 0,
            tp: tp(),
            acks: Acks::All,
            base_offset: base,
            ids: seqs.iter().map(|s| id(*s)).collect(),
        }
    }

    #[test]
    fn acked_loss_is_caught_and_kept_records_are_not() {
        let events = vec![at(10, acked(&[0, 1, 2], 0))];
        let fs = final_state(
            1,
            vec![1],
            vec![replica(0, &[0, 1, 2], 3), replica(1, &[0, 1], 2)],
        );
        let (v, n) = acked_record_lost(&events, &fs);
        assert_eq!(n, 1);
        assert_eq!(
            (v[0].invariant, v[0].at_ms),
            (Invariant::AckedRecordLost, 10)
        );
        assert!(v[0].detail.contains("p0#2"), "{}", v[0].detail);
        let fs = final_state(0, vec![0], vec![replica(0, &[0, 1, 2], 3)]);
        assert_eq!(acked_record_lost(&events, &fs).1, 0);
    }

    #[test]
    fn committed_record_replaced_after_an_unclean_election() {
        let events = vec![
            at(1, appended(0, 0, &[0, 1, 2])),
            at(2, appended(1, 0, &[0, 1])),
            at(3, hw(0, 0, 0, 3, 3)),
            at(
                4,
                Event::BecameLeader {
                    broker: 1,
                    tp: tp(),
                    leader_epoch: 1,
                    log_end_offset: 2,
                    high_watermark: 2,
                    isr: vec![1],
                },
            ),
            at(5, appended(1, 2, &[9])),
        ];
        let fs = final_state(
            1,
            vec![1],
            vec![replica(0, &[0, 1, 2], 3), replica(1, &[0, 1, 9], 3)],
        );
        let (v, n) = committed_record_lost(&events, &fs);
        assert_eq!(n, 1);
        assert_eq!((v[0].at_ms, v[0].partition.clone()), (3, Some(tp())));
        assert!(v[0].detail.contains("offset 2"));
        assert!(v[0].detail.contains("p0#9"));
    }

    #[test]
    fn a_truncated_then_refetched_replica_is_not_flagged() {
        let events = vec![
            at(1, appended(0, 0, &[0, 1, 2])),
            at(2, hw(0, 0, 0, 2, 3)),
            at(
                3,
                Event::Truncated {
                    broker: 0,
                    tp: tp(),
                    from_log_end_offset: 3,
                    to_offset: 2,
                    reason: TruncateReason::LeaderEpoch {
                        epoch: 0,
                        leader_end_offset: 2,
                    },
                },
            ),
            at(4, appended(0, 2, &[5])),
        ];
        let fs = final_state(
            0,
            vec![0, 1],
            vec![replica(0, &[0, 1, 5], 3), replica(1, &[0, 1, 5], 3)],
        );
        assert_eq!(committed_record_lost(&events, &fs).1, 0);
        assert!(replica_divergence(&events, &fs).is_empty());
    }

    #[test]
    fn divergence_between_isr_members() {
        let fs = final_state(
            0,
            vec![0, 1],
            vec![replica(0, &[0, 1, 2], 3), replica(1, &[0, 7], 2)],
        );
        let v = replica_divergence(&[at(9, appended(0, 0, &[0]))], &fs);
        assert_eq!(v.len(), 1);
        assert!(v[0].detail.contains("offset 1"));
        // Outside the ISR a stale replica may differ.
        let fs = final_state(
            0,
            vec![0],
            vec![replica(0, &[0, 1, 2], 3), replica(1, &[0, 7], 2)],
        );
        assert!(replica_divergence(&[], &fs).is_empty());
    }

    #[test]
    fn hw_above_leo_in_events_and_final_state() {
        let v = hw_above_leo(&[at(5, hw(0, 0, 0, 4, 3))], &FinalState::default());
        assert_eq!((v.len(), v[0].at_ms), (1, 5));
        assert!(hw_above_leo(&[at(5, hw(0, 0, 0, 3, 3))], &FinalState::default()).is_empty());
        let mut r = replica(0, &[0], 1);
        r.high_watermark = 2;
        assert_eq!(
            hw_above_leo(&[], &final_state(0, vec![0], vec![r])).len(),
            1
        );
    }

    #[test]
    fn hw_regressed_only_within_one_epoch() {
        let v = hw_regressed(&[at(1, hw(0, 2, 0, 5, 5)), at(2, hw(0, 2, 5, 4, 5))]);
        assert_eq!((v.len(), v[0].at_ms), (1, 2));
        let ok = hw_regressed(&[
            at(1, hw(0, 2, 0, 5, 5)),
            at(
                2,
                Event::BecameLeader {
                    broker: 0,
                    tp: tp(),
                    leader_epoch: 3,
                    log_end_offset: 5,
                    high_watermark: 4,
                    isr: vec![0],
                },
            ),
            at(3, hw(0, 3, 5, 4, 5)),
        ]);
        assert!(ok.is_empty());
    }

    #[test]
    fn uncommitted_read_is_caught() {
        let read = |hw| {
            at(
                7,
                Event::Consumed {
                    consumer: 0,
                    tp: tp(),
                    served_by: 0,
                    high_watermark: hw,
                    records: vec![(3, id(3)), (4, id(4))],
                },
            )
        };
        assert_eq!(uncommitted_read(&[read(4)]).len(), 1);
        assert!(uncommitted_read(&[read(5)]).is_empty());
    }

    #[test]
    fn two_leaders_in_one_epoch() {
        let leader = |broker, epoch| {
            at(
                1,
                Event::BecameLeader {
                    broker,
                    tp: tp(),
                    leader_epoch: epoch,
                    log_end_offset: 0,
                    high_watermark: 0,
                    isr: vec![broker],
                },
            )
        };
        assert_eq!(
            two_leaders_same_epoch(&[leader(0, 1), leader(1, 1)]).len(),
            1
        );
        assert!(two_leaders_same_epoch(&[leader(0, 1), leader(1, 2), leader(0, 1)]).is_empty());
    }
}
