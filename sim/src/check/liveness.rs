//! The invariants that catch a broken rule which loses nothing by itself: a follower that
//! never catches up, a lagging follower the ISR keeps, an unclean election the config
//! forbids.
//!
//! - `replicas-not-converged`, after the final settle: every live follower of a partition
//!   holds what its leader held `replica.lag.time.max.ms` before the end, record for record.
//!   A follower that fetches gets there (Kafka calls a follower further behind out of sync);
//!   one that does not (it never truncated a diverged tail, say) sits outside the ISR for
//!   ever and nothing else reports it.
//! - `isr-not-shrunk`, during the run: a follower that has not been caught up for longer
//!   than `replica.lag.time.max.ms` is still in the ISR one check period
//!   (`ReplicaManager` schedules `maybeShrinkIsr` every `replica.lag.time.max.ms / 2`) and a
//!   round trip later, while its leader could reach the controller the whole time.
//! - `unclean-election-disabled`: a leader from outside the ISR while
//!   `unclean.leader.election.enable` is false for its topic.
//!
//! "Not caught up" is Kafka's `Replica.updateFetchStateOrThrow` (`updateLogReadResult` in
//! old releases): a fetch at offset `o` sets `lastCaughtUpTimeMs` to its own time if `o`
//! reaches the leader's LEO then, or to the
//! previous fetch's time if `o` reaches the leader's LEO at that previous fetch; a new leader
//! starts its ISR followers' clocks at the election (`Replica.resetReplicaState`). The
//! record holds no fetches, only what they appended, so the checker uses a bound that can
//! only be too kind: a fetch's offset is at most the highest LEO the follower has reported
//! (since it last cut its log), so `lastCaughtUpTimeMs` is at most the moment the leader's
//! LEO first passed that. The follower is judged lagging only from there (and never before
//! the leader took over, the follower last truncated, or the leader last became calm: see
//! `calm`). A leader whose ISR change was refused is not judged again in that leadership:
//! it waits for the controller's LeaderAndIsr.

use super::calm::Calm;
use super::common::{Invariant, Violation};
use super::isr::IsrTracker;
use crate::record::{FaultRecord, FinalPartition, FinalState, RecordedEvent};
use crate::report::seconds;
use crate::scenario::Scenario;
use crate::world::Hosts;
use kafka_model::{BrokerId, Event, NodeId, RecordId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// What the liveness invariants need besides the events and the final state.
#[derive(Clone, Debug)]
pub struct LivenessInputs<'a> {
    pub faults: &'a [FaultRecord],
    pub replica_lag_time_max_ms: u64,
    /// How long after a shrink falls due the ISR may still hold the follower: the leader's
    /// AlterIsr and the controller's ZooKeeper write, a few round trips on a calm network.
    pub round_trips_ms: u64,
    /// `unclean.leader.election.enable` per topic, and for topics the scenario does not
    /// declare (`__consumer_offsets`).
    pub unclean_by_topic: BTreeMap<String, bool>,
    pub unclean_default: bool,
    /// A lossy network everywhere (`[network] loss`) delays messages without bound: the
    /// checker then does not judge `isr-not-shrunk`.
    pub lossy_network: bool,
    /// Which processes share a host: a fault on one role of a combined node strikes both.
    pub hosts: Hosts,
}

impl<'a> LivenessInputs<'a> {
    /// The inputs of a run of `scenario` that recorded `faults`.
    pub fn of(scenario: &Scenario, faults: &'a [FaultRecord]) -> LivenessInputs<'a> {
        LivenessInputs {
            faults,
            replica_lag_time_max_ms: scenario.cluster.config.replica_lag_time_max_ms,
            round_trips_ms: 10 * scenario.network.worst_round_trip_ms(),
            unclean_by_topic: scenario
                .topics
                .iter()
                .map(|t| (t.name.clone(), t.config.unclean_leader_election_enable))
                .collect(),
            unclean_default: scenario
                .cluster
                .config
                .topic_defaults
                .unclean_leader_election_enable,
            lossy_network: scenario.network.loss > 0.0,
            hosts: Hosts::with_combined(scenario.cluster.combined_node_ids()),
        }
    }

    fn unclean_enabled(&self, topic: &str) -> bool {
        self.unclean_by_topic
            .get(topic)
            .copied()
            .unwrap_or(self.unclean_default)
    }
}

/// Every liveness invariant over a run that ended at `end_ms`.
pub fn check_liveness(
    events: &[RecordedEvent],
    final_state: &FinalState,
    end_ms: u64,
    inputs: &LivenessInputs<'_>,
) -> Vec<Violation> {
    let mut all = unclean_election_disabled(events, inputs);
    all.extend(replicas_not_converged(events, final_state, end_ms, inputs));
    // With `replica.lag.time.max.ms` below 2 the "isr-expiration" task has period 0, and
    // `KafkaScheduler` runs such a task once, at startup: Kafka never shrinks an ISR then.
    if !inputs.lossy_network && inputs.replica_lag_time_max_ms / 2 > 0 {
        all.extend(isr_not_shrunk(events, end_ms, inputs));
    }
    all
}

/// `unclean-election-disabled`: the controller elected a leader from outside the ISR (it
/// says so, or the ISR it wrote does not hold the leader) while the topic forbids it.
pub fn unclean_election_disabled(
    events: &[RecordedEvent],
    inputs: &LivenessInputs<'_>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for e in events {
        let Event::LeaderElected {
            tp,
            leader: Some(leader),
            leader_epoch,
            isr,
            unclean,
            ..
        } = &e.event
        else {
            continue;
        };
        if inputs.unclean_enabled(&tp.topic) || (!unclean && isr.contains(leader)) {
            continue;
        }
        violations.push(Violation {
            loss: None,
            invariant: Invariant::UncleanElectionDisabled,
            at_ms: e.at_ms,
            partition: Some(tp.clone()),
            detail: format!(
                "broker {leader} was elected leader of {tp} (epoch {leader_epoch}) from outside the ISR (new ISR [{}]) although unclean.leader.election.enable is false for topic {}",
                crate::report::list(isr),
                tp.topic
            ),
        });
    }
    violations
}

/// The shortest time `replicas-not-converged` gives a follower to fetch what its leader had.
const MIN_CONVERGE_WINDOW_MS: u64 = 5_000;

/// A broker's log end offset over time: `(time, LEO)` at every change.
type LeoSteps = Vec<(u64, u64)>;

/// `replicas-not-converged`: after the settle, a live follower that has followed the final
/// leader for at least `replica.lag.time.max.ms` lacks what that leader held
/// `replica.lag.time.max.ms` before the end, or holds something else there.
pub fn replicas_not_converged(
    events: &[RecordedEvent],
    final_state: &FinalState,
    end_ms: u64,
    inputs: &LivenessInputs<'_>,
) -> Vec<Violation> {
    // A tiny lag time (ISR experiments) must not judge a follower by a fetch still under
    // way: a follower's fetch cycle (replica.fetch.wait.max.ms, replica.fetch.backoff.ms)
    // takes well under `MIN_CONVERGE_WINDOW_MS`.
    let lag_max = inputs.replica_lag_time_max_ms.max(MIN_CONVERGE_WINDOW_MS);
    let Some(judged_at) = end_ms.checked_sub(lag_max) else {
        return Vec::new();
    };
    let leaders: BTreeMap<&TopicPartition, BrokerId> = final_state
        .partitions
        .iter()
        .filter_map(|p| Some((&p.tp, p.leader?)))
        .collect();
    // The final leader's LEO over time, and when each replica last began following it.
    let mut leo: BTreeMap<&TopicPartition, LeoSteps> = BTreeMap::new();
    let mut following_since: BTreeMap<(&TopicPartition, BrokerId), u64> = BTreeMap::new();
    for e in events {
        let mut step = |tp, broker, to| {
            if leaders.get(tp) == Some(&broker) {
                leo.entry(tp).or_default().push((e.at_ms, to));
            }
        };
        match &e.event {
            Event::Appended {
                broker,
                tp,
                log_end_offset,
                ..
            } => step(tp, *broker, *log_end_offset),
            Event::Truncated {
                broker,
                tp,
                to_offset,
                ..
            } => step(tp, *broker, *to_offset),
            Event::BrokerRecovered { broker, replicas } => {
                for (tp, to, _) in replicas {
                    step(tp, *broker, *to);
                }
                // A restarted broker follows anew once the controller tells it to.
                following_since.retain(|(_, b), _| b != broker);
            }
            Event::BecameFollower {
                broker, tp, leader, ..
            } => {
                if leader.is_some() && leaders.get(tp) == leader.as_ref() {
                    following_since.entry((tp, *broker)).or_insert(e.at_ms);
                } else {
                    following_since.remove(&(tp, *broker));
                }
            }
            Event::BecameLeader { broker, tp, .. } => {
                following_since.remove(&(tp, *broker));
            }
            _ => {}
        }
    }
    let mut violations = Vec::new();
    for p in &final_state.partitions {
        let Some(leader) = leader_replica(p) else {
            continue;
        };
        let target = leo
            .get(&p.tp)
            .and_then(|steps| steps.iter().rev().find(|(at, _)| *at <= judged_at))
            .map_or(0, |(_, o)| *o)
            .min(leader.log_end_offset);
        for r in p.replica_states.iter().filter(|r| r.online) {
            let since = following_since.get(&(&p.tp, r.broker));
            if r.broker == leader.broker || since.is_none_or(|s| *s > judged_at) {
                continue;
            }
            // By offset, where both hold a record: each replica cleans on its own, so a
            // record on one beside a gap on the other is no divergence.
            let leader_log: BTreeMap<u64, RecordId> =
                leader.log.iter().map(|(o, id, _)| (*o, *id)).collect();
            let diverged = r.log.iter().find_map(|(o, mine, _)| {
                let theirs = leader_log.get(o)?;
                (*o < target && theirs != mine).then_some((*o, *mine, *theirs))
            });
            let why = match diverged {
                Some((offset, mine, theirs)) => {
                    format!("holds {mine} at offset {offset} where the leader has {theirs}")
                }
                None if r.log_end_offset < target => {
                    format!("ends at offset {}", r.log_end_offset)
                }
                None => continue,
            };
            violations.push(Violation {
                loss: None,
                invariant: Invariant::ReplicasNotConverged,
                at_ms: end_ms,
                partition: Some(p.tp.clone()),
                detail: format!(
                    "after the settle broker {}'s replica of {} {why}, though its leader, broker {}, already held offsets up to {target} at t={} ({lag_max} ms before the end: replica.lag.time.max.ms, and at least 5 s) and broker {} has followed it since t={}",
                    r.broker,
                    p.tp,
                    leader.broker,
                    seconds(judged_at),
                    r.broker,
                    seconds(*since.expect("judged only while following"))
                ),
            });
        }
    }
    violations
}

/// The final leader's replica, if it is online.
fn leader_replica(p: &FinalPartition) -> Option<&crate::record::FinalReplica> {
    let leader = p.leader?;
    p.replica_states
        .iter()
        .find(|r| r.broker == leader && r.online)
}

/// One broker acting as leader of a partition since `start_ms`.
struct Leadership {
    leader: BrokerId,
    start_ms: u64,
    /// The leader's LEO at the start and after every change since.
    leo_steps: LeoSteps,
    /// An ISR change of this leader was refused: it waits for the controller.
    refused: bool,
    /// Followers already reported in this leadership.
    reported: BTreeSet<BrokerId>,
}

/// What the record says of one replica's fetching: its LEO, the highest LEO it reported
/// since it last cut its log, and when that was.
#[derive(Clone, Copy, Default)]
struct FollowerLog {
    max_leo: u64,
    cut_ms: u64,
}

impl FollowerLog {
    /// The replica's LEO is now `leo`: below the highest so far, it cut its log, and what it
    /// fetched before no longer bounds what it fetches next.
    fn set(&mut self, at_ms: u64, leo: u64) {
        if leo < self.max_leo {
            self.cut_ms = at_ms;
        }
        self.max_leo = leo;
    }
}

/// The replay `isr-not-shrunk` judges from.
struct IsrReplay<'a> {
    inputs: &'a LivenessInputs<'a>,
    calm: Calm,
    isr: IsrTracker,
    leaders: BTreeMap<TopicPartition, Leadership>,
    logs: BTreeMap<(BrokerId, TopicPartition), FollowerLog>,
    violations: Vec<Violation>,
}

/// `isr-not-shrunk`: see the module's documentation for what "not caught up" and "could
/// reach the controller" mean here.
pub fn isr_not_shrunk(
    events: &[RecordedEvent],
    end_ms: u64,
    inputs: &LivenessInputs<'_>,
) -> Vec<Violation> {
    let mut replay = IsrReplay {
        inputs,
        calm: Calm::on(inputs.hosts.clone()),
        isr: IsrTracker::default(),
        leaders: BTreeMap::new(),
        logs: BTreeMap::new(),
        violations: Vec::new(),
    };
    let mut faults = inputs.faults.iter().peekable();
    for e in events {
        // Faults first at equal times, as the trace orders them: they cause events.
        while let Some(f) = faults.next_if(|f| f.at_ms <= e.at_ms) {
            replay.judge_all(f.at_ms);
            replay.fault(f);
        }
        replay.event(e);
    }
    for f in faults {
        replay.judge_all(f.at_ms);
        replay.fault(f);
    }
    replay.judge_all(end_ms);
    replay.violations
}

impl IsrReplay<'_> {
    /// The partition an event changes the judgement of, if one.
    fn partition_of(event: &Event) -> Option<&TopicPartition> {
        match event {
            Event::Appended { tp, .. }
            | Event::Truncated { tp, .. }
            | Event::BecameLeader { tp, .. }
            | Event::BecameFollower { tp, .. }
            | Event::LeaderElected { tp, .. }
            | Event::PartitionOffline { tp, .. }
            | Event::IsrShrunk { tp, .. }
            | Event::IsrExpanded { tp, .. }
            | Event::ControllerShrunkIsr { tp, .. }
            | Event::IsrChangeRejected { tp, .. }
            | Event::IsrWriteConflict { tp, .. } => Some(tp),
            _ => None,
        }
    }

    fn fault(&mut self, f: &FaultRecord) {
        if matches!(f.action.as_str(), "crash" | "power-loss") {
            if let Some(NodeId::Broker(b)) = super::calm::parse_node(&f.detail) {
                self.leaders.retain(|_, l| l.leader != b);
            }
        }
        self.calm.fault(f);
    }

    /// Judges what the event changes just before it changes it, then applies it.
    fn event(&mut self, e: &RecordedEvent) {
        let at = e.at_ms;
        match (Self::partition_of(&e.event), &e.event) {
            (Some(tp), _) => {
                let tp = tp.clone();
                self.judge(&tp, at);
            }
            (
                None,
                Event::ControllerElected { .. }
                | Event::QuorumLeaderElected { .. }
                | Event::ZkSessionExpired { .. }
                | Event::BrokerRegistered { .. }
                | Event::KraftBrokerRegistered { .. }
                | Event::KraftBrokerFenced { .. }
                | Event::KraftBrokerUnfenced { .. }
                | Event::BrokerRecovered { .. },
            ) => self.judge_all(at),
            (None, _) => {}
        }
        self.calm.event(at, &e.event);
        self.isr.apply(&e.event);
        match &e.event {
            Event::BecameLeader {
                broker,
                tp,
                log_end_offset,
                ..
            } => {
                self.leaders.insert(
                    tp.clone(),
                    Leadership {
                        leader: *broker,
                        start_ms: at,
                        leo_steps: vec![(at, *log_end_offset)],
                        refused: false,
                        reported: BTreeSet::new(),
                    },
                );
            }
            Event::BecameFollower { broker, tp, .. }
                if self.leaders.get(tp).is_some_and(|l| l.leader == *broker) =>
            {
                self.leaders.remove(tp);
            }
            Event::IsrChangeRejected { tp, leader, .. }
            | Event::IsrWriteConflict { tp, leader, .. } => {
                if let Some(l) = self.leaders.get_mut(tp).filter(|l| l.leader == *leader) {
                    l.refused = true;
                }
            }
            Event::Appended {
                broker,
                tp,
                log_end_offset,
                ..
            } => self.leo(at, *broker, tp, *log_end_offset),
            Event::Truncated {
                broker,
                tp,
                to_offset,
                ..
            } => self.leo(at, *broker, tp, *to_offset),
            Event::BrokerRecovered { broker, replicas } => {
                for (tp, leo, _) in replicas {
                    self.leo(at, *broker, tp, *leo);
                }
            }
            _ => {}
        }
    }

    fn leo(&mut self, at_ms: u64, broker: BrokerId, tp: &TopicPartition, leo: u64) {
        if let Some(l) = self.leaders.get_mut(tp).filter(|l| l.leader == broker) {
            if l.leo_steps.last().is_some_and(|(_, last)| leo < *last) {
                // A leader never cuts its own log (`Partition.makeLeader` does not truncate);
                // if the record says it did, judge from here on, as after a new election.
                l.start_ms = at_ms;
                l.leo_steps.clear();
            }
            l.leo_steps.push((at_ms, leo));
        }
        self.logs
            .entry((broker, tp.clone()))
            .or_default()
            .set(at_ms, leo);
    }

    fn judge_all(&mut self, now_ms: u64) {
        let tps: Vec<TopicPartition> = self.leaders.keys().cloned().collect();
        for tp in tps {
            self.judge(&tp, now_ms);
        }
    }

    /// Reports every follower of `tp` whose shrink fell due before `now_ms`.
    fn judge(&mut self, tp: &TopicPartition, now_ms: u64) {
        let Some(l) = self.leaders.get(tp) else {
            return;
        };
        if l.refused {
            return;
        }
        let Some(calm_ms) = self.calm.calm_since(l.leader) else {
            return;
        };
        let lag_max = self.inputs.replica_lag_time_max_ms;
        let period = lag_max / 2;
        let mut due = Vec::new();
        for &f in self.isr.isr(tp) {
            if f == l.leader || l.reported.contains(&f) {
                continue;
            }
            let log = self.logs.get(&(f, tp.clone())).copied().unwrap_or_default();
            // When the leader's LEO first passed the most the follower can have fetched at.
            // The steps only grow within a leadership (see `leo`): a binary search finds it.
            let passed = l.leo_steps.partition_point(|(_, o)| *o <= log.max_leo);
            let Some(&(passed_ms, _)) = l.leo_steps.get(passed) else {
                continue;
            };
            let lagging_ms = passed_ms.max(l.start_ms).max(log.cut_ms);
            // A request the leader sent before it became calm may hold its one ISR change
            // slot until `ALTER_ISR_TIMEOUT_MS`.
            let free_ms = calm_ms + kafka_model::broker::ALTER_ISR_TIMEOUT_MS;
            // Lagging for a full lag time of calm (or, later, with the slot free), the
            // leader's next check (within one period) proposes the shrink, and the AlterIsr
            // and the controller's ZooKeeper write take a few round trips.
            let due_ms = (lagging_ms.max(calm_ms) + lag_max).max(free_ms)
                + period
                + self.inputs.round_trips_ms;
            if now_ms > due_ms {
                due.push((f, lagging_ms, due_ms));
            }
        }
        let Some(l) = self.leaders.get_mut(tp) else {
            return;
        };
        for (f, lagging_ms, due_ms) in due {
            l.reported.insert(f);
            self.violations.push(Violation {
                loss: None,
                invariant: Invariant::IsrNotShrunk,
                at_ms: due_ms,
                partition: Some(tp.clone()),
                detail: format!(
                    "broker {f} has not been caught up with leader broker {} of {tp} since t={} at the latest, yet at t={} it is still in the ISR; replica.lag.time.max.ms={lag_max}, the leader checks every {period} ms, and it could reach the controller all along",
                    l.leader,
                    seconds(lagging_ms),
                    seconds(due_ms)
                ),
            });
        }
    }
}

#[cfg(test)]
#[path = "liveness_tests.rs"]
mod tests;
