//! The replication invariants judged during the run, at the moment a promise breaks:
//!
//! - `replica-divergence`: two replicas hold different records below both their high
//!   watermarks (Kafka's promise is that the committed prefix is the same everywhere);
//! - `acked-below-min-isr`: an acks=all acknowledgement that `min.insync.replicas` did not
//!   back;
//! - `clean-leader-incomplete`: a clean election picked a replica missing a committed record;
//! - `uncommitted-read`: a consumer was handed a record at or past the leader's high
//!   watermark, as the checker rebuilds it from the replicas' logs (not as the broker says).
//!
//! Each walks the events once over a [`LogReplay`], and looks only at what the event touched,
//! so a run of a thousand partitions costs what its events cost.

use super::common::{Invariant, Violation};
use super::partitions::{Commit, CommitScan};
use super::replay::{LogChange, LogReplay, ReplicaLog};
use crate::record::RecordedEvent;
use kafka_model::{Acks, BrokerId, Event, LeaderEpoch, NodeId, RecordId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

fn describe(entry: Option<(RecordId, LeaderEpoch)>) -> String {
    match entry {
        Some((id, epoch)) => format!("{id} (batch epoch {epoch})"),
        None => "nothing".to_string(),
    }
}

/// `replica-divergence`: at every high-watermark change, the replica that moved its HW and
/// every other replica of the partition in service must hold the same records (ids and batch
/// leader epochs) below the smaller of their two HWs. Above a HW a replica's tail may differ
/// and be truncated later; below both, Kafka promises it never will. Each disagreement (pair
/// of replicas, offset) is reported once, when it is first seen.
///
/// A replica is in service from the first HW it sets in its current life. It leaves service
/// when its broker leaves the cluster (its ZooKeeper session expires: the controller takes it
/// out of every ISR) or restarts: its HW is then a frozen or checkpointed number, and Kafka
/// requires the replica to reconcile its log with the leader (truncate, KIP-101 and KIP-279)
/// before its HW moves again. A fork made while it was away (by a power loss or an unclean
/// election, which the loss checkers report) is judged once it is back and has a HW again:
/// a replica that kept the fork below that HW diverged; one that cut it off did not.
pub fn replica_divergence(events: &[RecordedEvent]) -> Vec<Violation> {
    let mut replay = LogReplay::default();
    let mut in_service: BTreeSet<(BrokerId, &TopicPartition)> = BTreeSet::new();
    // Per pair of replicas (lower broker id first): below this offset they were seen to agree.
    let mut agreed: BTreeMap<(&TopicPartition, BrokerId, BrokerId), u64> = BTreeMap::new();
    let mut reported: BTreeSet<(&TopicPartition, BrokerId, BrokerId, u64)> = BTreeSet::new();
    let mut violations = Vec::new();
    for e in events {
        for change in replay.apply(&e.event) {
            let pairs = (change.tp, BrokerId::MIN, BrokerId::MIN)
                ..=(change.tp, BrokerId::MAX, BrokerId::MAX);
            for ((_, a, b), upto) in agreed.range_mut(pairs) {
                if *a == change.broker || *b == change.broker {
                    *upto = (*upto).min(change.lowest_changed_offset);
                }
            }
        }
        let (broker, tp) = match &e.event {
            Event::ZkSessionExpired {
                node: NodeId::Broker(gone),
                ..
            }
            | Event::KraftBrokerFenced { broker: gone, .. }
            | Event::BrokerRecovered { broker: gone, .. } => {
                in_service.retain(|(b, _)| b != gone);
                continue;
            }
            Event::BecameLeader { broker, tp, .. } => {
                in_service.insert((*broker, tp));
                continue;
            }
            Event::HighWatermarkChanged { broker, tp, .. } => (broker, tp),
            _ => continue,
        };
        in_service.insert((*broker, tp));
        let Some(moved) = replay.replica(*broker, tp) else {
            continue;
        };
        for (other, r) in replay.replicas_of(tp) {
            if other == *broker || !in_service.contains(&(other, tp)) {
                continue;
            }
            let key = (tp, other.min(*broker), other.max(*broker));
            let from = agreed.get(&key).copied().unwrap_or(0);
            let below = moved.high_watermark.min(r.high_watermark);
            // Below either log start, retention or DeleteRecords took the records on purpose.
            let from = from.max(moved.log_start()).max(r.log_start());
            let first_difference =
                (from..below).find(|o| !same_record_at(&replay, tp, moved, r, *o));
            let Some(offset) = first_difference else {
                agreed.insert(key, from.max(below));
                continue;
            };
            agreed.insert(key, offset);
            if reported.insert((tp, key.1, key.2, offset)) {
                let (low, high) = if *broker < other {
                    ((*broker, moved), (other, r))
                } else {
                    ((other, r), (*broker, moved))
                };
                violations.push(divergence(e.at_ms, tp, low, high, offset));
            }
        }
    }
    violations
}

/// Whether two replicas agree at `offset`: the same record (id and batch leader epoch), or
/// nothing on either, or a record on one and nothing on the other where the log layer
/// removed that very record on some replica (the cleaner or retention ran on one replica and
/// not yet on the other, or a follower fetched after its leader cleaned). The logical record
/// at an offset is what must agree; a gap beside a record no removal explains is divergence.
fn same_record_at(
    replay: &LogReplay<'_>,
    tp: &TopicPartition,
    a: &ReplicaLog,
    b: &ReplicaLog,
    offset: u64,
) -> bool {
    match (a.get(offset), b.get(offset)) {
        (Some(x), Some(y)) => x == y,
        (Some((id, _)), None) | (None, Some((id, _))) => replay.removed_somewhere(tp, offset, id),
        (None, None) => true,
    }
}

/// What a replica has at `offset`, for a message: its record, or why it has none.
fn describe_at(r: &ReplicaLog, offset: u64) -> String {
    match (r.get(offset), r.removed_at(offset)) {
        (Some(entry), _) => describe(Some(entry)),
        (None, Some((id, why))) => format!("nothing ({id} was removed there: {})", why.words()),
        (None, None) => "nothing".to_string(),
    }
}

fn divergence(
    at_ms: u64,
    tp: &TopicPartition,
    (a, ra): (BrokerId, &ReplicaLog),
    (b, rb): (BrokerId, &ReplicaLog),
    offset: u64,
) -> Violation {
    Violation {
        loss: None,
        invariant: Invariant::ReplicaDivergence,
        at_ms,
        partition: Some(tp.clone()),
        detail: format!(
            "replicas broker {a} (high watermark {}) and broker {b} (high watermark {}) of {tp} disagree at offset {offset}, below both high watermarks: {} versus {}",
            ra.high_watermark,
            rb.high_watermark,
            describe_at(ra, offset),
            describe_at(rb, offset),
        ),
    }
}

/// `acked-below-min-isr`: an acks=all acknowledgement that `min.insync.replicas` did not back.
///
/// What Kafka 3.7 promises: `Partition.appendRecordsToLeader` refuses an acks=all write
/// (NOT_ENOUGH_REPLICAS) while the ISR is below the effective `min.insync.replicas`
/// (`effectiveMinIsr`: the config capped at the replication factor), and
/// `Partition.checkEnoughReplicasReachOffset` answers a waiting acks=all write only once the
/// leader's HW has reached the end of its records, with NONE if the ISR then still has the
/// effective minimum and NOT_ENOUGH_REPLICAS_AFTER_APPEND if not. KAFKA-15583 (3.7) keeps
/// the HW still while the ISR is below the minimum. So a positive acks=all answer means:
/// at some moment before it, a leader held the record at its offset, its HW had passed it,
/// and its ISR had at least `min.insync.replicas` members. That is what is checked: every
/// acks=all-acknowledged record must have been passed by the HW of a leader whose ISR, at
/// that moment or later while its HW still covered it, met the minimum. The ISR is the
/// leader's own (from its becoming leader and the ISR changes it applied), not the
/// controller's, which a leader learns only later.
pub fn acked_below_min_isr(
    events: &[RecordedEvent],
    min_isr: impl Fn(&TopicPartition) -> usize,
) -> Vec<Violation> {
    let mut replay = LogReplay::default();
    // Each current leader's ISR, as the leader knows it.
    let mut leading: BTreeMap<(BrokerId, &TopicPartition), Vec<BrokerId>> = BTreeMap::new();
    // Per leader: how far its log, as it is now, was passed by its HW with the ISR at the minimum.
    let mut marked_upto: BTreeMap<(BrokerId, &TopicPartition), u64> = BTreeMap::new();
    // Per partition and offset: the records backed by the minimum there.
    let mut backed: BTreeMap<(&TopicPartition, u64), Vec<RecordId>> = BTreeMap::new();
    let mut judged: BTreeSet<RecordId> = BTreeSet::new();
    let mut violations = Vec::new();
    for e in events {
        for change in replay.apply(&e.event) {
            if let Some(upto) = marked_upto.get_mut(&(change.broker, change.tp)) {
                *upto = (*upto).min(change.lowest_changed_offset);
            }
        }
        let touched = match &e.event {
            Event::BecameLeader {
                broker, tp, isr, ..
            } => {
                leading.insert((*broker, tp), isr.clone());
                Some((*broker, tp))
            }
            Event::BecameFollower { broker, tp, .. } => {
                leading.remove(&(*broker, tp));
                None
            }
            Event::BrokerRecovered { broker, .. } => {
                leading.retain(|(b, _), _| b != broker);
                None
            }
            Event::IsrShrunk {
                tp, leader, isr, ..
            }
            | Event::IsrExpanded {
                tp, leader, isr, ..
            }
            | Event::LeaderIsrFromMetadata {
                tp,
                broker: leader,
                isr,
                ..
            } => leading.get_mut(&(*leader, tp)).map(|known| {
                known.clone_from(isr);
                (*leader, tp)
            }),
            Event::HighWatermarkChanged {
                broker,
                tp,
                is_leader: true,
                ..
            } => Some((*broker, tp)),
            Event::Acknowledged {
                tp,
                acks: Acks::All,
                base_offset,
                ids,
                ..
            } => {
                for (i, id) in ids.iter().enumerate() {
                    let offset = base_offset + i as u64;
                    let ok = backed.get(&(tp, offset)).is_some_and(|b| b.contains(id));
                    if !ok && judged.insert(*id) {
                        violations.push(Violation {
                            loss: None,
                            invariant: Invariant::AckedBelowMinIsr,
                            at_ms: e.at_ms,
                            partition: Some(tp.clone()),
                            detail: format!(
                                "record {id} was acknowledged (acks=all) at offset {offset} of {tp}, but no leader's high watermark passed it there while that leader's ISR had min.insync.replicas = {} members",
                                min_isr(tp)
                            ),
                        });
                    }
                }
                None
            }
            _ => None,
        };
        let Some((leader, tp)) = touched else {
            continue;
        };
        let (Some(isr), Some(log)) = (leading.get(&(leader, tp)), replay.replica(leader, tp))
        else {
            continue;
        };
        if isr.len() < min_isr(tp) {
            continue;
        }
        let upto = marked_upto.entry((leader, tp)).or_insert(0);
        for (offset, (id, _)) in log.held(*upto, log.high_watermark) {
            let at = backed.entry((tp, offset)).or_default();
            if !at.contains(&id) {
                at.push(id);
            }
        }
        *upto = (*upto).max(log.high_watermark);
    }
    violations
}

/// `clean-leader-incomplete`: a clean election (the new leader came from the ISR) picked a
/// replica whose log lacks a record committed before it took over. Kafka elects from the ISR
/// precisely so that the new leader has every committed record
/// (`PartitionLeaderElectionAlgorithms.offlinePartitionLeaderElection`); before KIP-101 a
/// follower could truncate committed records to its stale HW and still be elected, and a
/// power loss can take unflushed committed records from an ISR member. Judged when the
/// broker starts leading, against the records committed when the controller elected it (the
/// record most recently committed at each offset then): what the ISR it was chosen from
/// promised. A broker can act on its LeaderAndIsr late (paused, or on a slow link), after a
/// newer election made another leader that committed more; it owes none of that. Nor does
/// any clean leader owe what a replaced leader committed before it heard it was replaced.
pub fn clean_leader_incomplete(events: &[RecordedEvent]) -> Vec<Violation> {
    let mut replay = LogReplay::default();
    let mut scan = CommitScan::default();
    // Per election: the leader it chose, whether cleanly, and (for a clean one) what was
    // committed when it was made.
    let mut elected: BTreeMap<(&TopicPartition, LeaderEpoch), (BrokerId, bool)> = BTreeMap::new();
    let mut committed_then: BTreeMap<(&TopicPartition, LeaderEpoch), BTreeMap<u64, Commit>> =
        BTreeMap::new();
    // Per partition, when each leader epoch was elected.
    let mut elections: BTreeMap<&TopicPartition, BTreeMap<LeaderEpoch, u64>> = BTreeMap::new();
    let mut violations = Vec::new();
    for e in events {
        scan.step(&mut replay, e);
        match &e.event {
            Event::LeaderElected {
                tp,
                leader: Some(leader),
                leader_epoch,
                unclean,
                ..
            } => {
                elected.insert((tp, *leader_epoch), (*leader, !unclean));
                elections
                    .entry(tp)
                    .or_default()
                    .entry(*leader_epoch)
                    .or_insert(e.at_ms);
                if !unclean {
                    let committed = scan.latest.get(tp).cloned().unwrap_or_default();
                    committed_then.insert((tp, *leader_epoch), committed);
                }
            }
            // An unclean leader loses what it lacks (committed-record-lost says so); the
            // next clean leader owes only what this one has and what is committed after.
            Event::BecameLeader {
                broker,
                tp,
                leader_epoch,
                ..
            } if elected.get(&(tp, *leader_epoch)) == Some(&(*broker, false)) => {
                elected.remove(&(tp, *leader_epoch));
                scan.forget_from(&replay, *broker, tp);
            }
            // Judged once per election: a later LeaderAndIsr of the same epoch (a new
            // controller resending the partition state) elects nobody.
            Event::BecameLeader {
                broker,
                tp,
                leader_epoch,
                ..
            } if elected.get(&(tp, *leader_epoch)) == Some(&(*broker, true)) => {
                elected.remove(&(tp, *leader_epoch));
                let committed = committed_then
                    .remove(&(tp, *leader_epoch))
                    .unwrap_or_default();
                let log = replay.replica(*broker, tp);
                // A commit by a leader that a newer election had already replaced (it had not
                // heard yet) belongs to a lineage the controller left: the new ISR never
                // promised it.
                let elections_of_tp = elections.get(tp);
                let zombie = |c: &Commit| {
                    elections_of_tp
                        .and_then(|e| e.range(c.leader_epoch + 1..).next())
                        .is_some_and(|(_, elected_at_ms)| *elected_at_ms <= c.at_ms)
                };
                // By offset: a commit the log layer removed since (cleaned, or deleted by
                // retention) is not owed.
                let missing: Vec<u64> = committed
                    .iter()
                    .filter(|(o, c)| !replay.accounts_for(*broker, tp, **o, c.id) && !zombie(c))
                    .map(|(o, _)| *o)
                    .collect();
                let Some(&first) = missing.first() else {
                    continue;
                };
                let c = committed[&first];
                violations.push(Violation {
                    loss: None,
                    invariant: Invariant::CleanLeaderIncomplete,
                    at_ms: e.at_ms,
                    partition: Some(tp.clone()),
                    detail: format!(
                        "broker {broker} became leader of {tp} in epoch {leader_epoch} by a clean election, but lacks {} committed records, the first {} at offset {first} (committed by broker {} in epoch {}); it holds {} there",
                        missing.len(),
                        c.id,
                        c.broker,
                        c.leader_epoch,
                        describe(log.and_then(|r| r.get(first))),
                    ),
                });
            }
            _ => {}
        }
    }
    violations
}

/// What the checker knows of one leader's replication: its ISR and, for every other
/// replica, the highest LEO that replica had since this leadership began (the leader learns
/// a follower's LEO from its fetch offset, which can only be one of those).
struct LeaderView {
    isr: Vec<BrokerId>,
    follower_max_leo: BTreeMap<BrokerId, u64>,
}

/// An upper bound of every leader's high watermark, rebuilt from the replicas' logs: Kafka's
/// `Partition.maybeIncrementLeaderHW` moves the HW to the smallest LEO of the leader and its
/// (maximal) ISR, as the leader knows them, and never down within a leadership; a new leader
/// starts from its own HW as a follower, at most its LEO and at most the HW some leader sent
/// it. The ISR used is the leader's own committed one, never larger than the maximal ISR
/// the HW waits for, so the bound is never below the true HW.
#[derive(Default)]
pub(super) struct HighWatermarkBounds<'a> {
    leading: BTreeMap<(&'a TopicPartition, BrokerId), LeaderView>,
    bound: BTreeMap<(&'a TopicPartition, BrokerId), u64>,
    /// Per partition: the largest bound of any leader so far.
    ceiling: BTreeMap<&'a TopicPartition, u64>,
}

impl<'a> HighWatermarkBounds<'a> {
    /// Applies one event to the replay and the bounds; returns the replicas whose logs
    /// changed, as [`LogReplay::apply`] does.
    pub(super) fn step(
        &mut self,
        replay: &mut LogReplay<'a>,
        event: &'a Event,
    ) -> Vec<LogChange<'a>> {
        let changes = replay.apply(event);
        for change in &changes {
            let leo = replay
                .replica(change.broker, change.tp)
                .map_or(0, ReplicaLog::end);
            let leaders = (change.tp, BrokerId::MIN)..=(change.tp, BrokerId::MAX);
            let mut touched = Vec::new();
            for ((_, leader), view) in self.leading.range_mut(leaders) {
                let max = view.follower_max_leo.entry(change.broker).or_insert(0);
                *max = (*max).max(leo);
                touched.push(*leader);
            }
            for leader in touched {
                self.recompute(replay, change.tp, leader);
            }
        }
        match event {
            Event::BecameLeader {
                broker, tp, isr, ..
            } => {
                if let Some(view) = self.leading.get_mut(&(tp, *broker)) {
                    view.isr.clone_from(isr);
                } else {
                    let follower_max_leo =
                        replay.replicas_of(tp).map(|(b, r)| (b, r.end())).collect();
                    let own_leo = replay.replica(*broker, tp).map_or(0, ReplicaLog::end);
                    let ceiling = self.ceiling.get(tp).copied().unwrap_or(0);
                    let start = own_leo.min(ceiling);
                    let bound = self.bound.entry((tp, *broker)).or_insert(0);
                    *bound = (*bound).max(start);
                    self.leading.insert(
                        (tp, *broker),
                        LeaderView {
                            isr: isr.clone(),
                            follower_max_leo,
                        },
                    );
                }
                self.recompute(replay, tp, *broker);
            }
            Event::BecameFollower { broker, tp, .. } => {
                self.leading.remove(&(tp, *broker));
            }
            Event::BrokerRecovered { broker, .. } => {
                self.leading.retain(|(_, b), _| b != broker);
            }
            Event::IsrShrunk {
                tp, leader, isr, ..
            }
            | Event::IsrExpanded {
                tp, leader, isr, ..
            }
            | Event::LeaderIsrFromMetadata {
                tp,
                broker: leader,
                isr,
                ..
            } => {
                if let Some(view) = self.leading.get_mut(&(tp, *leader)) {
                    view.isr.clone_from(isr);
                    self.recompute(replay, tp, *leader);
                }
            }
            _ => {}
        }
        changes
    }

    fn recompute(&mut self, replay: &LogReplay<'a>, tp: &'a TopicPartition, leader: BrokerId) {
        let Some(view) = self.leading.get(&(tp, leader)) else {
            return;
        };
        let own_leo = replay.replica(leader, tp).map_or(0, ReplicaLog::end);
        let candidate = view
            .isr
            .iter()
            .filter(|f| **f != leader)
            .map(|f| view.follower_max_leo.get(f).copied().unwrap_or(0))
            .fold(own_leo, u64::min);
        let bound = self.bound.entry((tp, leader)).or_insert(0);
        *bound = (*bound).max(candidate);
        let ceiling = self.ceiling.entry(tp).or_insert(0);
        *ceiling = (*ceiling).max(*bound);
    }

    /// The highest HW `broker` can have had for `tp` so far.
    pub(super) fn of(&self, tp: &'a TopicPartition, broker: BrokerId) -> u64 {
        self.bound
            .get(&(tp, broker))
            .or_else(|| self.ceiling.get(tp))
            .copied()
            .unwrap_or(0)
    }
}

/// `uncommitted-read`: a consumer was handed a record at or past the serving leader's high
/// watermark, as the checker rebuilds it from the replicas' logs and the leader's ISR
/// ([`HighWatermarkBounds`]); the HW the broker put in its answer is not trusted. Kafka's
/// `Partition.fetchRecords` serves a consumer (`FetchIsolation.HIGH_WATERMARK`) only up to
/// the HW.
pub fn uncommitted_read(events: &[RecordedEvent]) -> Vec<Violation> {
    let mut replay = LogReplay::default();
    let mut bounds = HighWatermarkBounds::default();
    let mut violations = Vec::new();
    for e in events {
        bounds.step(&mut replay, &e.event);
        let Event::Consumed {
            consumer,
            tp,
            served_by,
            records,
            ..
        } = &e.event
        else {
            continue;
        };
        let hw = bounds.of(tp, *served_by);
        if let Some((offset, id)) = records.iter().find(|(o, _)| *o >= hw) {
            violations.push(Violation {
                loss: None,
                invariant: Invariant::UncommittedRead,
                at_ms: e.at_ms,
                partition: Some(tp.clone()),
                detail: format!(
                    "consumer #{consumer} was handed {id} at offset {offset} of {tp} by broker {served_by}, whose high watermark, from what its ISR held, was at most {hw}"
                ),
            });
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::partitions::tests::{acked, appended_in, at, elected, hw, id, tp};
    use kafka_model::event::TruncateReason;

    fn follower_hw(broker: BrokerId, old: u64, new: u64) -> Event {
        Event::HighWatermarkChanged {
            broker,
            tp: tp(),
            is_leader: false,
            leader_epoch: 0,
            old,
            new,
            log_end_offset: new,
        }
    }

    fn became_leader(broker: BrokerId, epoch: LeaderEpoch, isr: Vec<BrokerId>) -> Event {
        Event::BecameLeader {
            broker,
            tp: tp(),
            leader_epoch: epoch,
            log_end_offset: 0,
            high_watermark: 0,
            isr,
        }
    }

    fn truncated(broker: BrokerId, from: u64, to: u64) -> Event {
        Event::Truncated {
            broker,
            tp: tp(),
            from_log_end_offset: from,
            to_offset: to,
            reason: TruncateReason::HighWatermark { high_watermark: to },
        }
    }

    fn isr_expanded(leader: BrokerId, isr: Vec<BrokerId>) -> Event {
        Event::IsrExpanded {
            tp: tp(),
            leader,
            leader_epoch: 0,
            added: vec![isr[isr.len() - 1]],
            isr,
        }
    }

    #[test]
    fn replicas_that_disagree_below_both_high_watermarks_diverged() {
        // KIP-101's example: both replicas end with HW 2, offset 1 differs.
        let events = vec![
            at(1, appended_in(0, 0, 0, &[0, 1])),
            at(2, hw(0, 0, 0, 2, 2)),
            at(3, appended_in(1, 0, 0, &[0])),
            at(3, appended_in(1, 1, 1, &[5])),
            at(4, follower_hw(1, 0, 2)),
            // Repaired later: the record is judged during the run, not at the end.
            at(5, truncated(1, 2, 1)),
            at(6, appended_in(1, 0, 1, &[1])),
            at(7, follower_hw(1, 1, 2)),
        ];
        let v = replica_divergence(&events);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at_ms, 4);
        assert!(v[0].detail.contains("offset 1"), "{}", v[0].detail);
        assert!(v[0]
            .detail
            .contains("p0#1 (batch epoch 0) versus p0#5 (batch epoch 1)"));
    }

    #[test]
    fn a_replica_out_of_service_is_judged_when_it_has_a_high_watermark_again() {
        // Broker 1 holds p0#1 below its HW 2, then leaves the cluster; broker 0 (after a
        // power loss) commits p0#5 at offset 1 meanwhile.
        let away = vec![
            at(1, appended_in(0, 0, 0, &[0, 1])),
            at(1, appended_in(1, 0, 0, &[0, 1])),
            at(2, hw(0, 0, 0, 2, 2)),
            at(2, follower_hw(1, 0, 2)),
            at(
                3,
                Event::ZkSessionExpired {
                    node: NodeId::Broker(1),
                    session_id: 1,
                    timeout_ms: 6000,
                },
            ),
            at(4, truncated(0, 2, 1)),
            at(5, appended_in(0, 1, 1, &[5])),
            at(6, hw(0, 1, 1, 2, 2)),
            at(
                7,
                Event::BrokerRecovered {
                    broker: 1,
                    replicas: vec![(tp(), 2, 2)],
                },
            ),
        ];
        assert!(replica_divergence(&away).is_empty());
        // Back, it cuts the fork off (KIP-101) before its HW moves: no divergence.
        let mut healed = away.clone();
        healed.push(at(8, truncated(1, 2, 1)));
        healed.push(at(9, appended_in(1, 1, 1, &[5])));
        healed.push(at(9, follower_hw(1, 1, 2)));
        assert!(replica_divergence(&healed).is_empty());
        // Back, it keeps the fork below the HW it learns (before KIP-101): divergence.
        let mut kept = away;
        kept.push(at(9, follower_hw(1, 0, 2)));
        let v = replica_divergence(&kept);
        assert_eq!((v.len(), v[0].at_ms), (1, 9));
    }

    #[test]
    fn tails_above_a_high_watermark_may_differ() {
        let events = vec![
            at(1, appended_in(0, 0, 0, &[0, 1, 2])),
            at(2, appended_in(1, 0, 0, &[0, 1, 7])),
            at(3, hw(0, 0, 0, 3, 3)),
            at(4, follower_hw(1, 0, 2)),
            // Broker 1 cuts its tail and fetches the leader's record before its HW passes it.
            at(5, truncated(1, 3, 2)),
            at(6, appended_in(1, 0, 2, &[2])),
            at(7, follower_hw(1, 2, 3)),
        ];
        assert!(replica_divergence(&events).is_empty());
        // The same record with another batch epoch is another log: KIP-101 compares epochs.
        let mut other_epoch = events.clone();
        other_epoch[5] = at(6, appended_in(1, 3, 2, &[2]));
        assert_eq!(replica_divergence(&other_epoch).len(), 1);
    }

    #[test]
    fn logs_are_compared_by_offset_and_a_removal_explains_a_gap() {
        use crate::check::removal::tests::{cleaned, retention};
        // Both replicas hold p0#0..3 below HW 4; broker 0's cleaner drops p0#1.
        let base = vec![
            at(1, appended_in(0, 0, 0, &[0, 1, 2, 3])),
            at(1, appended_in(1, 0, 0, &[0, 1, 2, 3])),
            at(2, cleaned(0, 3, &[(1, 1)])),
            at(3, hw(0, 0, 0, 4, 4)),
            at(4, follower_hw(1, 0, 4)),
        ];
        assert!(replica_divergence(&base).is_empty());
        // A follower that fetched after the cleaning never held p0#1: a gap, same log.
        let mut fetched = base.clone();
        fetched.push(at(
            5,
            Event::Appended {
                broker: 2,
                tp: tp(),
                as_leader: false,
                records: vec![(0, id(0), 0), (2, id(2), 0), (3, id(3), 0)],
                log_end_offset: 4,
                markers: Vec::new(),
            },
        ));
        fetched.push(at(6, follower_hw(2, 0, 4)));
        fetched.push(at(7, hw(0, 0, 4, 4, 4)));
        assert!(
            replica_divergence(&fetched).is_empty(),
            "{:?}",
            replica_divergence(&fetched)
        );
        // Retention on one replica only: below its log start nothing is compared.
        let mut retained = base.clone();
        retained.push(at(5, retention(1, 3, &[(0, 0), (1, 1), (2, 2)])));
        retained.push(at(6, follower_hw(1, 4, 4)));
        assert!(replica_divergence(&retained).is_empty());
        // A gap no removal explains is divergence, and the message says what each has.
        let mut unexplained = base;
        unexplained[2] = at(2, cleaned(0, 3, &[(1, 7)]));
        let v = replica_divergence(&unexplained);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].detail.contains(
                "nothing (p0#7 was removed there: the cleaner replaced it with a later record of its key) versus p0#1 (batch epoch 0)"
            ),
            "{}",
            v[0].detail
        );
    }

    #[test]
    fn an_acks_all_ack_needs_the_min_isr_when_the_hw_passed_the_record() {
        let min2 = |_: &TopicPartition| 2;
        let run = |isr: Vec<BrokerId>, between: Vec<RecordedEvent>| {
            let mut events = vec![
                at(0, became_leader(0, 0, isr)),
                at(1, appended_in(0, 0, 0, &[0, 1, 2])),
                at(2, hw(0, 0, 0, 3, 3)),
            ];
            events.extend(between);
            events.push(at(9, acked(&[0, 1, 2], 0)));
            acked_below_min_isr(&events, min2)
        };
        // The leader alone in its ISR with min.insync.replicas = 2: three bad acks.
        let v = run(vec![0], Vec::new());
        assert_eq!(v.len(), 3);
        assert!(
            v[0].detail.contains("min.insync.replicas = 2"),
            "{}",
            v[0].detail
        );
        assert!(run(vec![0, 1], Vec::new()).is_empty());
        // Before 3.7 the HW could pass the records with the ISR short; the ack is still right
        // if the ISR reached the minimum before it (checkEnoughReplicasReachOffset).
        assert!(run(vec![0], vec![at(5, isr_expanded(0, vec![0, 1]))]).is_empty());
        // A follower's HW is no leader's.
        let mut events = vec![
            at(0, became_leader(0, 0, vec![0, 1])),
            at(1, appended_in(0, 0, 0, &[0])),
            at(2, follower_hw(0, 0, 1)),
        ];
        events.push(at(3, acked(&[0], 0)));
        assert_eq!(acked_below_min_isr(&events, min2).len(), 1);
        // An ack before any HW passed the record breaks it too.
        let events = vec![
            at(0, became_leader(0, 0, vec![0, 1])),
            at(1, appended_in(0, 0, 0, &[0])),
            at(3, acked(&[0], 0)),
            at(4, hw(0, 0, 0, 1, 1)),
        ];
        assert_eq!(acked_below_min_isr(&events, min2).len(), 1);
    }

    #[test]
    fn a_clean_leader_must_hold_every_committed_record() {
        let events = |truncate: bool, unclean: bool| {
            let mut e = vec![
                at(1, appended_in(0, 0, 0, &[0, 1, 2])),
                at(2, appended_in(1, 0, 0, &[0, 1, 2])),
                at(3, hw(0, 0, 0, 3, 3)),
            ];
            if truncate {
                // Before KIP-101: a restarted follower cuts its log to its stale HW.
                e.push(at(4, truncated(1, 3, 1)));
            }
            e.push(at(5, elected(1, 1, unclean)));
            e.push(at(6, became_leader(1, 1, vec![1])));
            e
        };
        let v = clean_leader_incomplete(&events(true, false));
        assert_eq!((v.len(), v[0].at_ms), (1, 6));
        assert!(
            v[0].detail
                .contains("lacks 2 committed records, the first p0#1 at offset 1"),
            "{}",
            v[0].detail
        );
        assert!(clean_leader_incomplete(&events(false, false)).is_empty());
        // The same epoch sent again (a controller failover) is no new election.
        let mut again = events(false, false);
        again.push(at(7, truncated(1, 3, 0)));
        again.push(at(8, became_leader(1, 1, vec![1])));
        assert!(clean_leader_incomplete(&again).is_empty());
        // An unclean election may lose records: that is what it is, and it is counted apart.
        assert!(clean_leader_incomplete(&events(true, true)).is_empty());
        // And a clean election after it owes only what the unclean leader kept: broker 1 has
        // p0#0 only; broker 0 (back, truncated to it) is then elected cleanly.
        let mut after = events(true, true);
        after.push(at(7, truncated(0, 3, 1)));
        after.push(at(8, elected(0, 2, false)));
        after.push(at(9, became_leader(0, 2, vec![0, 1])));
        assert!(clean_leader_incomplete(&after).is_empty());
        // Once committed again, a record is owed again.
        let mut owed = events(true, true);
        owed.push(at(7, appended_in(1, 1, 1, &[8])));
        owed.push(at(7, hw(1, 1, 1, 2, 2)));
        owed.push(at(8, truncated(0, 3, 1)));
        owed.push(at(9, elected(0, 2, false)));
        owed.push(at(10, became_leader(0, 2, vec![0, 1])));
        let v = clean_leader_incomplete(&owed);
        assert!(
            v.len() == 1 && v[0].detail.contains("p0#8 at offset 1"),
            "{v:?}"
        );
    }

    #[test]
    fn a_leader_acting_late_owes_only_what_was_committed_when_it_was_elected() {
        // Broker 1 is elected in epoch 1 with all of p0#0..2, but hears of it late (paused):
        // meanwhile broker 0 is elected in epoch 2 and commits p0#3. Broker 1's leadership
        // in epoch 1 is stale when it starts; it never owed p0#3.
        let events = vec![
            at(1, appended_in(0, 0, 0, &[0, 1, 2])),
            at(2, appended_in(1, 0, 0, &[0, 1, 2])),
            at(3, hw(0, 0, 0, 3, 3)),
            at(4, elected(1, 1, false)),
            at(5, elected(0, 2, false)),
            at(6, became_leader(0, 2, vec![0])),
            at(7, appended_in(0, 2, 3, &[3])),
            at(8, hw(0, 2, 3, 4, 4)),
            at(9, became_leader(1, 1, vec![1])),
        ];
        assert!(clean_leader_incomplete(&events).is_empty());
    }

    #[test]
    fn a_clean_leader_owes_nothing_a_replaced_leader_committed() {
        // Broker 1 is replaced in epoch 1 by broker 0 but has not heard: it commits p0#3 in
        // epoch 0 afterwards. Broker 0, later elected cleanly again in epoch 2, lacks it.
        let events = vec![
            at(1, appended_in(0, 0, 0, &[0, 1, 2])),
            at(2, appended_in(1, 0, 0, &[0, 1, 2])),
            at(3, hw(1, 0, 0, 3, 3)),
            at(4, elected(0, 1, false)),
            at(5, became_leader(0, 1, vec![0])),
            at(6, appended_in(1, 0, 3, &[3])),
            at(7, hw(1, 0, 3, 4, 4)),
            at(8, elected(0, 2, false)),
            at(9, became_leader(0, 2, vec![0])),
        ];
        assert!(clean_leader_incomplete(&events).is_empty());
    }

    fn consumed(offset: u64, broker_hw: u64) -> Event {
        Event::Consumed {
            consumer: 0,
            tp: tp(),
            served_by: 0,
            high_watermark: broker_hw,
            records: vec![(offset, id(offset))],
        }
    }

    #[test]
    fn a_read_past_the_rebuilt_high_watermark_is_uncommitted() {
        let base = vec![
            at(0, became_leader(0, 0, vec![0, 1])),
            at(1, appended_in(0, 0, 0, &[0, 1, 2, 3, 4])),
            at(2, appended_in(1, 0, 0, &[0, 1, 2])),
        ];
        // The broker says its HW is 5, but follower 1 has only 3 records: offset 3 is not
        // committed, whatever the answer said.
        let mut events = base.clone();
        events.push(at(3, consumed(3, 5)));
        let v = uncommitted_read(&events);
        assert_eq!(v.len(), 1);
        assert!(v[0].detail.contains("at most 3"), "{}", v[0].detail);
        let mut events = base.clone();
        events.push(at(3, consumed(2, 5)));
        assert!(uncommitted_read(&events).is_empty());
        // A follower that lost its tail in a power loss may still have told the leader it had
        // it: the leader's HW may stand at 5.
        let mut events = base;
        events.push(at(3, appended_in(1, 0, 3, &[3, 4])));
        events.push(at(
            4,
            Event::BrokerRecovered {
                broker: 1,
                replicas: vec![(tp(), 3, 3)],
            },
        ));
        events.push(at(5, consumed(4, 5)));
        assert!(uncommitted_read(&events).is_empty());
        // A broker that never led serves nothing committed.
        assert_eq!(uncommitted_read(&[at(1, consumed(0, 1))]).len(), 1);
    }
}
