//! The replication invariants: each computed from the event record and the final state.
//!
//! They replay what the processes reported (every append, truncation and high-watermark
//! move, with the record ids) to rebuild each replica's log as it was at every moment, so a
//! check can ask "what did the leader hold at offset 12 when its HW passed it?" without
//! trusting any process's own account of the past.

use super::common::{Invariant, Violation};
use super::loss::Loss;
use super::removal::Removals;
use super::replay::{LogChange, LogReplay};
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

/// What each partition holds after the settle: the ids in the final leader's log (with no
/// leader, in any online replica's), and those words for a violation's detail.
fn present_records(
    final_state: &FinalState,
) -> BTreeMap<&TopicPartition, (BTreeSet<RecordId>, String)> {
    let mut present = BTreeMap::new();
    for p in &final_state.partitions {
        let found = match final_log(p) {
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
        present.insert(&p.tp, found);
    }
    present
}

/// Acknowledged records missing after the settle, counted by the promise each ack made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckedLost {
    /// Acknowledged with acks=1: only the leader had them when it said yes.
    pub acks1: u64,
    /// Acknowledged with acks=all: the ISR had them.
    pub acks_all: u64,
}

impl AckedLost {
    pub fn total(self) -> u64 {
        self.acks1 + self.acks_all
    }
}

/// `acked-record-lost`: an acknowledged record is missing from the partition after the
/// settle. Counted apart by acks level, so a workload that accepts acks=1 losses can still
/// bound its acks=all ones. A record the log layer removed at its offset (retention,
/// DeleteRecords, the cleaner: [`Removals`]) is not lost: Kafka promised it only until then.
pub fn acked_record_lost(
    events: &[RecordedEvent],
    final_state: &FinalState,
) -> (Vec<Violation>, AckedLost) {
    let present = present_records(final_state);
    let removals = Removals::of(events);
    let mut violations = Vec::new();
    let mut lost = BTreeSet::new();
    let mut counts = AckedLost::default();
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
        let Some((have, leaders)) = present.get(tp) else {
            continue;
        };
        for (i, id) in ids.iter().enumerate() {
            let offset = base_offset + i as u64;
            if have.contains(id)
                || removals.explains(tp, offset, *id).is_some()
                || !lost.insert(*id)
            {
                continue;
            }
            let acks = match acks {
                Acks::All => {
                    counts.acks_all += 1;
                    "acks=all"
                }
                Acks::Leader => {
                    counts.acks1 += 1;
                    "acks=1"
                }
                // An acks=0 producer gets no answer, so no Acknowledged; counted by
                // `lost_acks0` if one ever did.
                Acks::None => continue,
            };
            violations.push(Violation {
                loss: Some(Loss::promised(*id, offset, e.at_ms)),
                invariant: Invariant::AckedRecordLost,
                at_ms: e.at_ms,
                partition: Some(tp.clone()),
                detail: format!(
                    "record {id} was acknowledged ({acks}) at offset {offset} of {tp} but is not in the partition after the settle; {leaders}",
                ),
            });
        }
    }
    (violations, counts)
}

/// `records.lost_acks0`: records an acks=0 producer sent that are not in the partition after
/// the settle. acks=0 promises nothing (Kafka's producer never hears back), so this is a
/// count, not an invariant.
pub fn lost_acks0(
    events: &[RecordedEvent],
    final_state: &FinalState,
    producer_acks: &[Acks],
) -> u64 {
    let present = present_records(final_state);
    let removals = Removals::of(events);
    let mut lost = BTreeSet::new();
    for e in events {
        let Event::RecordSent {
            producer, id, tp, ..
        } = &e.event
        else {
            continue;
        };
        if producer_acks.get(*producer as usize) != Some(&Acks::None) {
            continue;
        }
        let missing = present.get(tp).is_some_and(|(have, _)| !have.contains(id));
        if missing && removals.explains_anywhere(tp, *id).is_none() {
            lost.insert(*id);
        }
    }
    lost.len() as u64
}

/// `records.duplicated`: the extra copies of records in the final leaders' logs. A producer
/// that retries a batch the leader had already written (its answer was lost, or timed out)
/// writes it again at new offsets, unless the producer is idempotent (`enable.idempotence`,
/// the default from 3.0.1): then the leader recognises the retry and answers with the first
/// copy's offset. So this counts what producers without idempotence left. A count, no
/// invariant: the records are all there.
pub fn duplicated(final_state: &FinalState) -> u64 {
    let mut extra = 0;
    for p in &final_state.partitions {
        let Some((_, _, log)) = final_log(p) else {
            continue;
        };
        let mut copies: BTreeMap<RecordId, u64> = BTreeMap::new();
        for id in log.values() {
            *copies.entry(*id).or_insert(0) += 1;
        }
        extra += copies.values().map(|n| n - 1).sum::<u64>();
    }
    extra
}

/// `committed-record-lost`: a record once below a leader's HW is later missing or replaced at
/// its offset in the final leader's log. Every record ever committed at an offset is judged
/// (after unclean elections one offset can be committed several times, with other records),
/// and the count is of records, not offsets. Logs are compared by offset, and a record the
/// log layer removed at its offset (retention, DeleteRecords, the cleaner) is not lost.
pub fn committed_record_lost(
    events: &[RecordedEvent],
    final_state: &FinalState,
) -> (Vec<Violation>, u64) {
    let commits = CommitScan::of(events);
    let removals = Removals::of(events);
    let mut violations = Vec::new();
    let mut lost = 0;
    for p in &final_state.partitions {
        let Some(c) = commits.commits.get(&p.tp) else {
            continue;
        };
        let final_log = final_log(p);
        for (offset, commit) in c.iter().flat_map(|(o, cs)| cs.iter().map(move |c| (*o, c))) {
            let now = final_log
                .as_ref()
                .and_then(|(_, _, log)| log.get(&offset).copied());
            if now == Some(commit.id) || removals.explains(&p.tp, offset, commit.id).is_some() {
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
                loss: Some(Loss::promised(commit.id, offset, commit.at_ms)),
                invariant: Invariant::CommittedRecordLost,
                at_ms: commit.at_ms,
                partition: Some(p.tp.clone()),
                detail: format!(
                    "record {} (batch epoch {}) at offset {offset} of {} was committed (leader broker {} moved its high watermark past it in epoch {}), but {what}",
                    commit.id, commit.record_epoch, p.tp, commit.broker, commit.leader_epoch
                ),
            });
        }
    }
    (violations, lost)
}

/// One commit of a record: a leader's high watermark passed it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Commit {
    pub(super) id: RecordId,
    /// The leader epoch of the record's batch.
    pub(super) record_epoch: LeaderEpoch,
    pub(super) at_ms: u64,
    /// The leader whose HW passed it, and its epoch then.
    pub(super) broker: BrokerId,
    pub(super) leader_epoch: LeaderEpoch,
}

/// Every record committed on every partition, replayed from the leaders' logs and
/// high-watermark moves: what "committed" means in Kafka (below a leader's HW, readable).
#[derive(Default)]
pub(super) struct CommitScan<'a> {
    /// Per partition and offset, every distinct record committed there, first commit first.
    pub(super) commits: BTreeMap<&'a TopicPartition, BTreeMap<u64, Vec<Commit>>>,
    /// Per partition, by offset, the record most recently committed there: what a consumer
    /// of the partition is promised now (an offset the log layer emptied has none).
    pub(super) latest: BTreeMap<&'a TopicPartition, BTreeMap<u64, Commit>>,
    /// Per leader replica: how far its log, as it is now, has been looked at; lowered when
    /// its log changes below it, so each record is looked at once per leader that holds it.
    scanned_upto: BTreeMap<(BrokerId, &'a TopicPartition), u64>,
}

impl<'a> CommitScan<'a> {
    fn of(events: &'a [RecordedEvent]) -> CommitScan<'a> {
        let mut replay = LogReplay::default();
        let mut scan = CommitScan::default();
        for e in events {
            scan.step(&mut replay, e);
        }
        scan
    }

    /// Feeds one event to the replay and records what it committed.
    pub(super) fn step(&mut self, replay: &mut LogReplay<'a>, e: &'a RecordedEvent) {
        for change in replay.apply(&e.event) {
            self.on_log_change(&change);
        }
        if let Event::HighWatermarkChanged {
            broker,
            tp,
            is_leader: true,
            leader_epoch,
            ..
        } = &e.event
        {
            self.on_leader_hw(replay, *broker, tp, *leader_epoch, e.at_ms);
        }
    }

    /// An unclean leader took over: what it lacks of the latest commits is lost (to
    /// `committed-record-lost`), and what is owed to consumers from now on is its log. A
    /// commit it lacks because the log layer removed it (cleaned, or deleted by retention)
    /// is not lacking.
    pub(super) fn forget_from(
        &mut self,
        replay: &LogReplay<'a>,
        broker: BrokerId,
        tp: &'a TopicPartition,
    ) {
        let Some(latest) = self.latest.get_mut(tp) else {
            return;
        };
        let first_lacking = latest
            .iter()
            .find(|(o, c)| !replay.accounts_for(broker, tp, **o, c.id))
            .map(|(o, _)| *o);
        let Some(from) = first_lacking else {
            return;
        };
        latest.split_off(&from);
        // Offsets forgotten here are scanned again when a leader's HW passes them.
        for ((_, t), upto) in self.scanned_upto.iter_mut() {
            if *t == tp {
                *upto = (*upto).min(from);
            }
        }
    }

    fn on_log_change(&mut self, change: &LogChange<'a>) {
        if let Some(upto) = self.scanned_upto.get_mut(&(change.broker, change.tp)) {
            *upto = (*upto).min(change.lowest_changed_offset);
        }
    }

    fn on_leader_hw(
        &mut self,
        replay: &LogReplay<'a>,
        broker: BrokerId,
        tp: &'a TopicPartition,
        leader_epoch: LeaderEpoch,
        at_ms: u64,
    ) {
        let Some(r) = replay.replica(broker, tp) else {
            return;
        };
        let upto = self.scanned_upto.entry((broker, tp)).or_insert(0);
        let commits = self.commits.entry(tp).or_default();
        let latest = self.latest.entry(tp).or_default();
        for (offset, (id, record_epoch)) in r.held(*upto, r.high_watermark) {
            let commit = Commit {
                id,
                record_epoch,
                at_ms,
                broker,
                leader_epoch,
            };
            let at_offset = commits.entry(offset).or_default();
            if !at_offset.iter().any(|c| c.id == id) {
                at_offset.push(commit);
            }
            if latest.get(&offset).is_none_or(|c| c.id != id) {
                latest.insert(offset, commit);
            }
        }
        *upto = (*upto).max(r.high_watermark);
    }
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
                            loss: None,
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
                    loss: None,
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

    /// The controller's election of `leader` in `epoch`, after the old leader failed.
    pub(in crate::check) fn elected(leader: BrokerId, epoch: LeaderEpoch, unclean: bool) -> Event {
        Event::LeaderElected {
            tp: tp(),
            leader: Some(leader),
            previous_leader: None,
            leader_epoch: epoch,
            isr: vec![leader],
            unclean,
            reason: kafka_model::event::ElectionReason::LeaderFailed,
            controller_epoch: 1,
        }
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
            markers: Vec::new(),
        }
    }

    pub(in crate::check) fn hw(
        broker: BrokerId,
        epoch: LeaderEpoch,
        old: u64,
        new: u64,
        leo: u64,
    ) -> Event {
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

    pub(in crate::check) fn replica(broker: BrokerId, seqs: &[u64], hw: u64) -> FinalReplica {
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

    pub(in crate::check) fn final_state(
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

    pub(in crate::check) fn acked(seqs: &[u64], base: u64) -> Event {
        Event::Acknowledged {
            producer: 0,
            tp: tp(),
            acks: Acks::All,
            base_offset: base,
            ids: seqs.iter().map(|s| id(*s)).collect(),
            transaction: None,
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
        assert_eq!(
            n,
            AckedLost {
                acks1: 0,
                acks_all: 1
            }
        );
        assert_eq!(
            (v[0].invariant, v[0].at_ms),
            (Invariant::AckedRecordLost, 10)
        );
        assert!(v[0].detail.contains("p0#2"), "{}", v[0].detail);
        let fs = final_state(0, vec![0], vec![replica(0, &[0, 1, 2], 3)]);
        assert_eq!(acked_record_lost(&events, &fs).1.total(), 0);
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

    /// A leader `broker` in `epoch` appending `seqs` from `from`, with that batch epoch.
    pub(in crate::check) fn appended_in(
        broker: BrokerId,
        epoch: LeaderEpoch,
        from: u64,
        seqs: &[u64],
    ) -> Event {
        Event::Appended {
            broker,
            tp: tp(),
            as_leader: true,
            records: seqs
                .iter()
                .enumerate()
                .map(|(i, s)| (from + i as u64, id(*s), epoch))
                .collect(),
            log_end_offset: from + seqs.len() as u64,
            markers: Vec::new(),
        }
    }

    /// Three replicas; broker 0 commits p0#0..p0#2; broker 1, which had only two, is elected
    /// uncleanly and commits p0#9 at offset 2; then broker 2, which had p0#2 there, is elected
    /// uncleanly too. Offset 2 was committed twice, with two records.
    fn two_unclean_elections() -> Vec<RecordedEvent> {
        vec![
            at(1, appended_in(0, 0, 0, &[0, 1, 2])),
            at(2, appended_in(1, 0, 0, &[0, 1])),
            at(2, appended_in(2, 0, 0, &[0, 1, 2])),
            at(3, hw(0, 0, 0, 3, 3)),
            at(4, appended_in(1, 1, 2, &[9])),
            at(5, hw(1, 1, 2, 3, 3)),
        ]
    }

    #[test]
    fn a_record_committed_later_at_a_reused_offset_is_not_forgotten() {
        let events = two_unclean_elections();
        // Broker 2 leads at the end with the first record at offset 2: the second is lost.
        let fs = final_state(
            2,
            vec![2],
            vec![
                replica(0, &[0, 1, 2], 3),
                replica(1, &[0, 1, 9], 3),
                replica(2, &[0, 1, 2], 3),
            ],
        );
        let (v, n) = committed_record_lost(&events, &fs);
        assert_eq!(n, 1);
        assert_eq!(v[0].at_ms, 5);
        assert!(
            v[0].detail
                .contains("record p0#9 (batch epoch 1) at offset 2"),
            "{}",
            v[0].detail
        );
        // A final leader with a third record there lost both: two records, one offset.
        let fs = final_state(2, vec![2], vec![replica(2, &[0, 1, 8], 3)]);
        let (v, n) = committed_record_lost(&events, &fs);
        assert_eq!((n, v.len()), (2, 2));
        // A final leader holding the latest commit lost the first one only.
        let fs = final_state(1, vec![1], vec![replica(1, &[0, 1, 9], 3)]);
        assert_eq!(committed_record_lost(&events, &fs).1, 1);
    }

    /// Every way the log layer removes a record on purpose, each removing p0#`seq` at
    /// offset `offset` from broker 1.
    fn removals_of(offset: u64, seq: u64) -> Vec<Event> {
        use crate::check::removal::tests::{cleaned, log_start, retention};
        use kafka_model::event::LogStartOffsetCause;
        let one = [(offset, seq)];
        let cleaner = |field: usize| {
            let list = vec![(offset, id(seq))];
            Event::LogCleaned {
                broker: 1,
                tp: tp(),
                first_dirty_offset: 0,
                end_offset: offset + 1,
                superseded: if field == 0 { list.clone() } else { Vec::new() },
                tombstones_removed: if field == 1 { list.clone() } else { Vec::new() },
                keyless_removed: if field == 2 { list } else { Vec::new() },
                tombstones_stamped: Vec::new(),
                delete_horizon_ms: 0,
            }
        };
        vec![
            retention(1, offset + 1, &one),
            log_start(1, offset + 1, LogStartOffsetCause::DeleteRecords, &one),
            log_start(
                1,
                offset + 1,
                LogStartOffsetCause::LeaderLogStartOffset,
                &one,
            ),
            Event::LogRestartedAt {
                broker: 1,
                tp: tp(),
                offset: offset + 1,
                removed: vec![(offset, id(seq))],
            },
            cleaned(1, offset + 1, &one),
            cleaner(1),
            cleaner(2),
        ]
    }

    #[test]
    fn a_record_the_log_layer_removed_is_not_lost() {
        // p0#1 at offset 1 was acknowledged and committed; the final leader's log has a
        // gap there.
        let mut gap = replica(0, &[0, 1, 2], 3);
        gap.log.remove(1);
        let fs = final_state(0, vec![0], vec![gap]);
        let base = vec![
            at(1, appended(0, 0, &[0, 1, 2])),
            at(2, hw(0, 0, 0, 3, 3)),
            at(3, acked(&[0, 1, 2], 0)),
        ];
        assert_eq!(acked_record_lost(&base, &fs).1.total(), 1);
        assert_eq!(committed_record_lost(&base, &fs).1, 1);
        for removal in removals_of(1, 1) {
            let mut events = base.clone();
            events.push(at(4, removal.clone()));
            assert_eq!(acked_record_lost(&events, &fs).1.total(), 0, "{removal:?}");
            assert_eq!(committed_record_lost(&events, &fs).1, 0, "{removal:?}");
        }
        // A removal of another record, or at another offset, explains nothing.
        for removal in removals_of(1, 9).into_iter().chain(removals_of(2, 1)) {
            let mut events = base.clone();
            events.push(at(4, removal.clone()));
            assert_eq!(acked_record_lost(&events, &fs).1.total(), 1, "{removal:?}");
            assert_eq!(committed_record_lost(&events, &fs).1, 1, "{removal:?}");
        }
    }

    #[test]
    fn acked_losses_are_counted_by_acks_level_and_acks0_apart() {
        let acked1 = at(
            5,
            Event::Acknowledged {
                producer: 1,
                tp: tp(),
                acks: Acks::Leader,
                base_offset: 3,
                ids: vec![RecordId {
                    producer: 1,
                    seq: 0,
                }],
                transaction: None,
            },
        );
        let sent0 = |seq| {
            at(
                1,
                Event::RecordSent {
                    producer: 2,
                    id: RecordId { producer: 2, seq },
                    tp: tp(),
                    transaction: None,
                    input: None,
                },
            )
        };
        let mut log = vec![0, 1, 2];
        let events = vec![at(4, acked(&[0, 1, 2], 0)), acked1, sent0(0), sent0(1)];
        let fs = final_state(0, vec![0], vec![replica(0, &log, 3)]);
        let (v, n) = acked_record_lost(&events, &fs);
        assert_eq!((n.acks1, n.acks_all, v.len()), (1, 0, 1));
        assert!(v[0].detail.contains("(acks=1)"), "{}", v[0].detail);
        let producer_acks = [Acks::All, Acks::Leader, Acks::None];
        assert_eq!(lost_acks0(&events, &fs, &producer_acks), 2);
        assert_eq!(duplicated(&fs), 0);
        // An acks=all loss shows in its own counter, whatever the acks=1 ones do.
        log.pop();
        let fs = final_state(0, vec![0], vec![replica(0, &log, 2)]);
        let (_, n) = acked_record_lost(&events, &fs);
        assert_eq!((n.acks1, n.acks_all, n.total()), (1, 1, 2));
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

    /// A retried batch written twice leaves extra copies in the final leader's log; only the
    /// copies beyond the first count, and a follower's log is not looked at.
    #[test]
    fn duplicated_counts_the_extra_copies_in_the_final_leaders_log() {
        let fs = final_state(
            0,
            vec![0, 1],
            vec![
                replica(0, &[0, 1, 1, 2, 1, 2], 6),
                replica(1, &[0, 0, 0], 3),
            ],
        );
        assert_eq!(duplicated(&fs), 3, "p0#1 twice more, p0#2 once more");
        let fs = final_state(0, vec![0], vec![replica(0, &[0, 1, 2], 3)]);
        assert_eq!(duplicated(&fs), 0);
    }
}
