//! From a finished run to the page's data: one pass over the event record.
//!
//! The pass rebuilds each partition as `moment` does (leader and epoch from the
//! controller's elections, the ISR from [`IsrTracker`], each replica's LEO and HW from its
//! last append, truncation, restart or HW move), and while it goes it both draws (the
//! lanes' points and spans, kept for the whole run) and samples (the describe table at
//! each moment the cursor can stop at). One pass for both keeps the drawing and the table
//! from ever disagreeing, and costs one walk of the record however many moments there are.
//!
//! A broker is down from its crash or power loss, or its controlled shutdown's exit
//! (`BrokerShutDown`), until its restart or the final settle, which restarts every broker
//! still down: the rule `moment` (`run --describe-at`) follows too.

use super::data::*;
use super::faults::fault_spans;
use super::thin::{thin_marks, thin_points};
use crate::check::isr::IsrTracker;
use crate::check::{self, Violation};
use crate::record::{FaultRecord, FinalPartition, RecordedEvent};
use crate::simulation::Simulation;
use kafka_model::event::{ElectionReason, TruncateReason};
use kafka_model::{BrokerId, Event, NodeId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// The narrated timeline, each line with the time it begins with.
pub fn timeline(sim: &Simulation) -> Vec<TimelineLine> {
    let mut last_ms = 0;
    sim.timeline()
        .into_iter()
        .map(|text| {
            let at_ms = line_time_ms(&text).unwrap_or(last_ms);
            last_ms = at_ms;
            TimelineLine { at_ms, text }
        })
        .collect()
}

/// The time a narrated line begins with: `t=  12.345s ...` is 12345.
pub fn line_time_ms(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("t=")?.trim_start();
    let (number, _) = rest.split_once('s')?;
    let (secs, millis) = number.split_once('.')?;
    if millis.len() != 3 {
        return None;
    }
    Some(secs.parse::<u64>().ok()? * 1_000 + millis.parse::<u64>().ok()?)
}

/// The moments a cursor may stop at in this run: every narrated line and every violation.
pub fn cursor_times_ms(sim: &Simulation, timeline: &[TimelineLine]) -> Vec<u64> {
    timeline
        .iter()
        .map(|l| l.at_ms)
        .chain(sim.outcome().violations.iter().map(|v| v.at_ms))
        .collect()
}

/// Kafka's internal topics (`__consumer_offsets`): left out of the panels, as the text
/// report's table leaves them out.
fn is_internal(topic: &str) -> bool {
    topic.starts_with("__")
}

/// At most this many partitions get a panel and a row of the describe table. A cluster of
/// thousands of partitions would otherwise give a page of thousands of panels and a table
/// of thousands of rows at every step: tens of megabytes nobody can read. The ones drawn are
/// those with the most happening ([`shown_partitions`]).
pub const PANELS_MAX: usize = 40;

/// The partitions the page draws: every one that is not internal, or, past
/// [`PANELS_MAX`], those with the most happening in any of `sims` (a what-if page draws the
/// same ones for both runs): a broken invariant first, then an unclean election, a
/// truncation, an offline spell, an election, an ISR change; ties in (topic, partition)
/// order. Returned in (topic, partition) order.
pub fn shown_partitions(sims: &[&Simulation]) -> BTreeSet<TopicPartition> {
    let all: Vec<&TopicPartition> = sims[0]
        .result()
        .final_state
        .partitions
        .iter()
        .map(|p| &p.tp)
        .filter(|tp| !is_internal(&tp.topic))
        .collect();
    if all.len() <= PANELS_MAX {
        return all.into_iter().cloned().collect();
    }
    let mut weight: BTreeMap<&TopicPartition, u64> = all.iter().map(|tp| (*tp, 0)).collect();
    let by_name: BTreeMap<String, &TopicPartition> =
        all.iter().map(|tp| (tp.to_string(), *tp)).collect();
    for sim in sims {
        for v in &sim.outcome().violations {
            if let Some(tp) = v.partition.as_ref().and_then(|name| by_name.get(name)) {
                *weight.entry(tp).or_default() += 100_000;
            }
        }
        for e in &sim.result().events {
            let (tp, w) = match &e.event {
                Event::LeaderElected { tp, unclean, .. } => {
                    (tp, if *unclean { 10_000 } else { 10 })
                }
                Event::Truncated { tp, .. } => (tp, 1_000),
                Event::PartitionOffline { tp, .. } => (tp, 100),
                other => match isr_tp(other) {
                    Some(tp) => (tp, 1),
                    None => continue,
                },
            };
            if let Some(total) = weight.get_mut(tp) {
                *total += w;
            }
        }
    }
    let mut ranked: Vec<(&TopicPartition, u64)> = weight.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(PANELS_MAX)
        .map(|(tp, _)| tp.clone())
        .collect()
}

/// Everything the page shows of one run, for the partitions in `shown`; the describe
/// tables sampled at `sample_times_ms` (ascending, distinct).
pub fn run_data(
    sim: &Simulation,
    label: &str,
    timeline: Vec<TimelineLine>,
    sample_times_ms: &[u64],
    shown: &BTreeSet<TopicPartition>,
) -> RunData {
    let result = sim.result();
    let end_ms = result.sim_time_ms;
    let mut sweep = Sweep::new(sim, shown);
    let samples = sweep.run(&result.events, &result.faults, sample_times_ms);
    let mut partitions = sweep.panels(end_ms);
    add_losses(&mut partitions, &result.events, &result.final_state, end_ms);
    let groups = sweep.group_panels(end_ms);
    let outcome = sim.outcome();
    RunData {
        label: label.to_string(),
        scenario: sim.scenario().name.clone(),
        description: sim.scenario().description.clone(),
        seed: outcome.seed,
        sim_time_ms: end_ms,
        events: outcome.events,
        trace_hash: outcome.trace_hash.clone(),
        summary: summary(sim),
        violations: outcome
            .violations
            .iter()
            .map(|v| ViolationLink {
                invariant: v.invariant.to_string(),
                at_ms: v.at_ms,
                partition: v.partition.clone(),
                detail: v.detail.clone(),
            })
            .collect(),
        unlisted_violations: unlisted_violations(sim),
        timeline,
        partitions,
        internal_hidden: internal_hidden(&result.final_state.partitions),
        quiet_hidden: (result
            .final_state
            .partitions
            .iter()
            .filter(|p| !is_internal(&p.tp.topic))
            .count()
            - shown.len()) as u32,
        groups,
        faults: fault_spans(&result.faults, end_ms),
        samples,
    }
}

fn summary(sim: &Simulation) -> Summary {
    let o = sim.outcome();
    let r = &o.records;
    Summary {
        sent: r.sent,
        acked: r.acked,
        acked_lost: r.acked_lost,
        acked_lost_acks1: r.acked_lost_acks1,
        acked_lost_acks_all: r.acked_lost_acks_all,
        lost_acks0: r.lost_acks0,
        committed_lost: r.committed_lost,
        consumed: r.consumed,
        duplicated: r.duplicated,
        clean_elections: o.elections.clean,
        unclean_elections: o.elections.unclean,
        isr_shrinks: o.isr.shrinks,
        isr_expands: o.isr.expands,
        expect_ok: o.expect.ok,
        expect_failures: o.expect.failures.clone(),
        warnings: o.warnings.clone(),
    }
}

/// Per invariant, how many violations the outcome counts beyond those it lists.
fn unlisted_violations(sim: &Simulation) -> Vec<(String, u64)> {
    let o = sim.outcome();
    let mut listed: BTreeMap<&str, u64> = BTreeMap::new();
    for v in &o.violations {
        *listed.entry(v.invariant).or_insert(0) += 1;
    }
    o.violation_counts
        .iter()
        .filter_map(|(inv, total)| {
            let more = total.saturating_sub(listed.get(inv.as_str()).copied().unwrap_or(0));
            (more > 0).then(|| (inv.clone(), more))
        })
        .collect()
}

fn internal_hidden(partitions: &[FinalPartition]) -> Vec<(String, u32)> {
    let mut hidden: BTreeMap<&str, u32> = BTreeMap::new();
    for p in partitions.iter().filter(|p| is_internal(&p.tp.topic)) {
        *hidden.entry(p.tp.topic.as_str()).or_insert(0) += 1;
    }
    hidden
        .into_iter()
        .map(|(t, n)| (t.to_string(), n))
        .collect()
}

/// The acknowledged records lost, as `acked-record-lost` finds them and `check::loss`
/// dates them (every one, not only those the outcome lists), marked on their partitions:
/// one mark per moment and cause of loss.
fn add_losses(
    panels: &mut [PartitionPanel],
    events: &[RecordedEvent],
    final_state: &crate::record::FinalState,
    end_ms: u64,
) {
    let (mut lost, _) = check::acked_record_lost(events, final_state);
    check::loss::date_losses(events, &mut lost);
    let mut marks: BTreeMap<(String, u64, String), LossMark> = BTreeMap::new();
    for v in &lost {
        let (Some(loss), Some(tp)) = (&v.loss, &v.partition) else {
            continue;
        };
        let at_ms = loss.lost_at_ms.unwrap_or(end_ms);
        let by = loss
            .lost_by
            .clone()
            .unwrap_or_else(|| "not in the partition after the settle".to_string());
        let mark = marks
            .entry((tp.to_string(), at_ms, by.clone()))
            .or_insert(LossMark {
                at_ms,
                count: 0,
                first_offset: loss.offset,
                last_offset: loss.offset,
                first_promised_ms: loss.promised_at_ms,
                last_promised_ms: loss.promised_at_ms,
                by,
            });
        add_to_mark(mark, v);
    }
    for ((tp, _, _), mark) in marks {
        if let Some(panel) = panels.iter_mut().find(|p| p.name == tp) {
            panel.losses.push(mark);
        }
    }
}

fn add_to_mark(mark: &mut LossMark, v: &Violation) {
    let Some(loss) = &v.loss else { return };
    mark.count += 1;
    mark.first_offset = mark.first_offset.min(loss.offset);
    mark.last_offset = mark.last_offset.max(loss.offset);
    mark.first_promised_ms = mark.first_promised_ms.min(loss.promised_at_ms);
    mark.last_promised_ms = mark.last_promised_ms.max(loss.promised_at_ms);
}

/// A few words on why a replica truncated.
fn truncation_reason(reason: &TruncateReason) -> String {
    match reason {
        TruncateReason::HighWatermark { high_watermark } => {
            format!("to its high watermark {high_watermark} (before KIP-101)")
        }
        TruncateReason::LeaderEpoch {
            epoch,
            leader_end_offset,
        } => format!("the leader says epoch {epoch} ends at {leader_end_offset} (KIP-101)"),
        TruncateReason::OffsetOutOfRange {
            leader_log_end_offset,
        } => format!("out of range: the leader's log ends at {leader_log_end_offset}"),
        TruncateReason::PowerLoss {
            flushed_offset,
            written_back_offset,
        } => format!(
            "power loss: flushed to {flushed_offset}, written back to {written_back_offset}"
        ),
    }
}

fn election_reason(reason: ElectionReason) -> &'static str {
    match reason {
        ElectionReason::NewPartition => "new-partition",
        ElectionReason::LeaderFailed => "leader-failed",
        ElectionReason::ControllerFailover => "controller-failover",
        ElectionReason::BrokerReturned => "broker-returned",
        ElectionReason::PreferredReplica => "preferred-replica",
        ElectionReason::AdminPreferred => "admin-preferred",
        ElectionReason::ControlledShutdown => "controlled-shutdown",
        ElectionReason::LastKnownLeader => "last-known-leader",
        ElectionReason::UncleanRestart => "unclean-restart",
    }
}

/// One replica of a panel partition, as the pass has it so far.
#[derive(Default)]
struct Replica {
    log_end_offset: u64,
    high_watermark: u64,
    points: Vec<[u64; 3]>,
    in_isr_since: Option<u64>,
    isr_spans: Vec<[u64; 2]>,
    lead_spans: Vec<LeadSpan>,
    truncations: Vec<TruncationMark>,
}

impl Replica {
    /// Records the offsets as a point when they moved.
    fn mark(&mut self, at_ms: u64) {
        let now = [at_ms, self.log_end_offset, self.high_watermark];
        match self.points.last_mut() {
            Some(last) if last[1..] == now[1..] => {}
            Some(last) if last[0] == at_ms => *last = now,
            _ => self.points.push(now),
        }
    }
}

/// One panel partition, as the pass has it so far.
struct Partition<'a> {
    final_state: &'a FinalPartition,
    leader: Option<BrokerId>,
    leader_epoch: i32,
    replicas: Vec<Replica>,
    elections: Vec<ElectionMark>,
}

impl Partition<'_> {
    fn replica(&mut self, broker: BrokerId) -> Option<&mut Replica> {
        let i = self
            .final_state
            .replicas
            .iter()
            .position(|b| *b == broker)?;
        self.replicas.get_mut(i)
    }

    /// A new leader or leader epoch from the controller: ends the old leader's span.
    fn lead(&mut self, at_ms: u64, leader: Option<BrokerId>, leader_epoch: i32) {
        if (leader, leader_epoch) == (self.leader, self.leader_epoch) {
            return;
        }
        if let Some(old) = self.leader {
            if let Some(span) = self.replica(old).and_then(|r| r.lead_spans.last_mut()) {
                span.to_ms = at_ms;
            }
        }
        (self.leader, self.leader_epoch) = (leader, leader_epoch);
        if let Some(new) = leader {
            if let Some(r) = self.replica(new) {
                r.lead_spans.push(LeadSpan {
                    from_ms: at_ms,
                    to_ms: u64::MAX,
                    leader_epoch,
                });
            }
        }
    }

    /// The ISR now: opens and closes the replicas' ISR spans.
    fn isr(&mut self, at_ms: u64, isr: &[BrokerId]) {
        for (broker, r) in self.final_state.replicas.iter().zip(&mut self.replicas) {
            match (isr.contains(broker), r.in_isr_since) {
                (true, None) => r.in_isr_since = Some(at_ms),
                (false, Some(since)) => {
                    r.isr_spans.push([since, at_ms]);
                    r.in_isr_since = None;
                }
                _ => {}
            }
        }
    }

    fn row(&self, isr: &[BrokerId], down: &BTreeSet<BrokerId>) -> DescribeRow {
        DescribeRow {
            leader: self.leader,
            leader_epoch: self.leader_epoch,
            isr: isr.to_vec(),
            replicas: self
                .final_state
                .replicas
                .iter()
                .zip(&self.replicas)
                .map(|(b, r)| {
                    [
                        r.log_end_offset,
                        r.high_watermark,
                        u64::from(!down.contains(b)),
                    ]
                })
                .collect(),
        }
    }

    fn panel(self, end_ms: u64) -> PartitionPanel {
        let tp = &self.final_state.tp;
        let lanes: Vec<ReplicaLane> = self
            .final_state
            .replicas
            .iter()
            .zip(self.replicas)
            .map(|(&broker, mut r)| {
                if let Some(since) = r.in_isr_since {
                    r.isr_spans.push([since, end_ms]);
                }
                for span in &mut r.lead_spans {
                    span.to_ms = span.to_ms.min(end_ms);
                }
                ReplicaLane {
                    broker,
                    points: thin_points(r.points, end_ms),
                    isr_spans: r.isr_spans,
                    lead_spans: r.lead_spans,
                    truncations: r.truncations,
                }
            })
            .collect();
        let max_offset = lanes
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p[1]))
            .chain(
                lanes
                    .iter()
                    .flat_map(|l| l.truncations.iter().map(|t| t.from_offset)),
            )
            .max()
            .unwrap_or(0);
        PartitionPanel {
            name: tp.to_string(),
            topic: tp.topic.clone(),
            partition: tp.partition,
            replicas: self.final_state.replicas.clone(),
            max_offset,
            lanes,
            elections: self.elections,
            losses: Vec::new(),
        }
    }
}

/// One member process of a group, as the pass has it so far.
struct Member {
    consumer: String,
    owned: BTreeSet<TopicPartition>,
    generation: i32,
    spans: Vec<OwnedSpan>,
    commits: Vec<(u64, Vec<(String, u64)>)>,
}

impl Member {
    /// What it owns now: ends the last span and begins another when that changed.
    fn own(&mut self, at_ms: u64, owned: BTreeSet<TopicPartition>) {
        if owned == self.owned {
            return;
        }
        if let Some(last) = self.spans.last_mut().filter(|s| s.to_ms == u64::MAX) {
            last.to_ms = at_ms;
        }
        if !owned.is_empty() {
            self.spans.push(OwnedSpan {
                from_ms: at_ms,
                to_ms: u64::MAX,
                generation: self.generation,
                partitions: owned.iter().map(|tp| tp.to_string()).collect(),
            });
        }
        self.owned = owned;
    }
}

struct Group {
    name: String,
    members: Vec<Member>,
    generations: Vec<GenerationMark>,
    rebalances: Vec<u64>,
    committed: BTreeMap<TopicPartition, u64>,
}

impl Group {
    fn row(&self) -> GroupRow {
        GroupRow {
            owned: self
                .members
                .iter()
                .map(|m| m.owned.iter().map(|tp| tp.to_string()).collect())
                .collect(),
            committed: self
                .committed
                .iter()
                .map(|(tp, o)| (tp.to_string(), *o))
                .collect(),
        }
    }
}

/// The pass over the record.
struct Sweep<'a> {
    partitions: Vec<Partition<'a>>,
    by_tp: BTreeMap<&'a TopicPartition, usize>,
    isr: IsrTracker,
    down: BTreeSet<BrokerId>,
    groups: Vec<Group>,
    /// Consumer index to (group, member lane).
    lane_of: BTreeMap<u32, (usize, usize)>,
    /// A group member id to its consumer index.
    member_ids: BTreeMap<(String, String), u32>,
}

impl<'a> Sweep<'a> {
    fn new(sim: &'a Simulation, shown: &BTreeSet<TopicPartition>) -> Sweep<'a> {
        let partitions: Vec<Partition<'a>> = sim
            .result()
            .final_state
            .partitions
            .iter()
            .filter(|p| shown.contains(&p.tp))
            .map(|p| Partition {
                final_state: p,
                leader: None,
                leader_epoch: 0,
                replicas: p.replicas.iter().map(|_| Replica::default()).collect(),
                elections: Vec::new(),
            })
            .collect();
        let by_tp = partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (&p.final_state.tp, i))
            .collect();
        let mut groups: Vec<Group> = sim
            .result()
            .final_state
            .groups
            .iter()
            .map(|g| Group {
                name: g.group.clone(),
                members: Vec::new(),
                generations: Vec::new(),
                rebalances: Vec::new(),
                committed: BTreeMap::new(),
            })
            .collect();
        let mut lane_of = BTreeMap::new();
        for (index, c) in sim.scenario().consumers.iter().enumerate() {
            let Some(spec) = &c.group else { continue };
            let Some(g) = groups.iter().position(|g| g.name == spec.group_id) else {
                continue;
            };
            lane_of.insert(index as u32, (g, groups[g].members.len()));
            groups[g].members.push(Member {
                consumer: c.name.clone(),
                owned: BTreeSet::new(),
                generation: -1,
                spans: Vec::new(),
                commits: Vec::new(),
            });
        }
        Sweep {
            partitions,
            by_tp,
            isr: IsrTracker::default(),
            down: BTreeSet::new(),
            groups,
            lane_of,
            member_ids: BTreeMap::new(),
        }
    }

    /// Walks the record; returns the samples at `sample_times_ms`.
    fn run(
        &mut self,
        events: &[RecordedEvent],
        faults: &[FaultRecord],
        sample_times_ms: &[u64],
    ) -> Vec<Sample> {
        let mut samples = Vec::with_capacity(sample_times_ms.len());
        let mut times = sample_times_ms.iter().copied().peekable();
        let mut faults = faults.iter().peekable();
        for e in events {
            while let Some(t) = times.next_if(|t| *t < e.at_ms) {
                self.faults_until(&mut faults, t);
                samples.push(self.sample(t));
            }
            // Faults first at equal times: they cause the events.
            self.faults_until(&mut faults, e.at_ms);
            self.event(e.at_ms, &e.event);
        }
        for t in times {
            self.faults_until(&mut faults, t);
            samples.push(self.sample(t));
        }
        samples
    }

    fn faults_until<'f>(
        &mut self,
        faults: &mut std::iter::Peekable<std::slice::Iter<'f, FaultRecord>>,
        at_ms: u64,
    ) {
        while let Some(f) = faults.next_if(|f| f.at_ms <= at_ms) {
            self.fault(f);
        }
    }

    /// Which brokers are down: a crash or power loss until a restart; the settle restarts
    /// every broker.
    fn fault(&mut self, f: &FaultRecord) {
        if f.action == "settle" {
            self.down.clear();
            return;
        }
        let Some(NodeId::Broker(b)) = crate::check::calm::parse_node(&f.detail) else {
            return;
        };
        match f.action.as_str() {
            "crash" | "power-loss" => {
                self.down.insert(b);
            }
            "restart" => {
                self.down.remove(&b);
            }
            _ => {}
        }
    }

    fn sample(&self, at_ms: u64) -> Sample {
        Sample {
            at_ms,
            rows: self
                .partitions
                .iter()
                .map(|p| p.row(self.isr.isr(&p.final_state.tp), &self.down))
                .collect(),
            groups: self.groups.iter().map(Group::row).collect(),
        }
    }

    fn event(&mut self, at_ms: u64, event: &Event) {
        if self.isr.apply(event).is_some() {
            if let Some(tp) = isr_tp(event) {
                if let Some(&i) = self.by_tp.get(tp) {
                    let isr = self.isr.isr(tp).to_vec();
                    self.partitions[i].isr(at_ms, &isr);
                }
            }
        } else if let Event::LeaderElected {
            tp,
            reason: ElectionReason::NewPartition,
            isr,
            ..
        } = event
        {
            // A new partition's first ISR is not a change to the tracker, but it begins
            // every replica's ISR span.
            if let Some(&i) = self.by_tp.get(tp) {
                self.partitions[i].isr(at_ms, isr);
            }
        }
        if let Event::BrokerShutDown { broker, .. } = event {
            self.down.insert(*broker);
        }
        self.partition_event(at_ms, event);
        self.group_event(at_ms, event);
    }

    fn partition(&mut self, tp: &TopicPartition) -> Option<&mut Partition<'a>> {
        let i = *self.by_tp.get(tp)?;
        self.partitions.get_mut(i)
    }

    /// The controller's view and each replica's offsets, by `moment`'s rules.
    fn partition_event(&mut self, at_ms: u64, event: &Event) {
        match event {
            Event::LeaderElected {
                tp,
                leader,
                leader_epoch,
                isr,
                unclean,
                reason,
                ..
            } => {
                let Some(p) = self.partition(tp) else { return };
                p.elections.push(ElectionMark {
                    at_ms,
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    unclean: *unclean,
                    reason: election_reason(*reason).to_string(),
                    isr: isr.clone(),
                });
                p.lead(at_ms, *leader, *leader_epoch);
            }
            Event::ControllerShrunkIsr {
                tp,
                leader,
                leader_epoch,
                ..
            } => {
                if let Some(p) = self.partition(tp) {
                    p.lead(at_ms, *leader, *leader_epoch);
                }
            }
            Event::PartitionOffline { tp, isr, .. } => {
                let Some(p) = self.partition(tp) else { return };
                let epoch = p.leader_epoch;
                p.elections.push(ElectionMark {
                    at_ms,
                    leader: None,
                    leader_epoch: epoch,
                    unclean: false,
                    reason: "offline".to_string(),
                    isr: isr.clone(),
                });
                p.lead(at_ms, None, epoch);
            }
            _ => self.replica_event(at_ms, event),
        }
    }

    fn replica_event(&mut self, at_ms: u64, event: &Event) {
        match event {
            Event::Appended {
                broker,
                tp,
                log_end_offset,
                ..
            }
            | Event::BecameFollower {
                broker,
                tp,
                log_end_offset,
                ..
            } => self.offsets(at_ms, tp, *broker, |r| r.log_end_offset = *log_end_offset),
            Event::Truncated {
                broker,
                tp,
                from_log_end_offset,
                to_offset,
                reason,
            } => self.offsets(at_ms, tp, *broker, |r| {
                r.log_end_offset = *to_offset;
                r.high_watermark = r.high_watermark.min(*to_offset);
                r.truncations.push(TruncationMark {
                    at_ms,
                    from_offset: *from_log_end_offset,
                    to_offset: *to_offset,
                    reason: truncation_reason(reason),
                });
            }),
            Event::HighWatermarkChanged {
                broker,
                tp,
                new,
                log_end_offset,
                ..
            }
            | Event::BecameLeader {
                broker,
                tp,
                high_watermark: new,
                log_end_offset,
                ..
            } => self.offsets(at_ms, tp, *broker, |r| {
                r.log_end_offset = *log_end_offset;
                r.high_watermark = *new;
            }),
            Event::BrokerRecovered { broker, replicas } => {
                for (tp, leo, hw) in replicas {
                    self.offsets(at_ms, tp, *broker, |r| {
                        r.log_end_offset = *leo;
                        r.high_watermark = *hw;
                    });
                }
            }
            _ => {}
        }
    }

    /// Changes one replica's offsets and draws the change.
    fn offsets(
        &mut self,
        at_ms: u64,
        tp: &TopicPartition,
        broker: BrokerId,
        change: impl FnOnce(&mut Replica),
    ) {
        if let Some(r) = self.partition(tp).and_then(|p| p.replica(broker)) {
            change(r);
            r.mark(at_ms);
        }
    }

    fn member(&mut self, consumer: u32) -> Option<&mut Member> {
        let (g, m) = *self.lane_of.get(&consumer)?;
        self.groups.get_mut(g)?.members.get_mut(m)
    }

    fn group(&mut self, name: &str) -> Option<&mut Group> {
        self.groups.iter_mut().find(|g| g.name == name)
    }

    fn group_event(&mut self, at_ms: u64, event: &Event) {
        match event {
            Event::PartitionsAssigned {
                consumer,
                group,
                member,
                generation,
                partitions,
            } => {
                self.member_ids
                    .insert((group.clone(), member.clone()), *consumer);
                if let Some(m) = self.member(*consumer) {
                    m.generation = *generation;
                    m.own(at_ms, partitions.iter().cloned().collect());
                }
            }
            Event::PartitionsRevoked {
                consumer,
                partitions,
                ..
            } => {
                if let Some(m) = self.member(*consumer) {
                    let mut owned = m.owned.clone();
                    for tp in partitions {
                        owned.remove(tp);
                    }
                    m.own(at_ms, owned);
                }
            }
            Event::ClientCrashed {
                node: NodeId::Consumer(consumer),
            }
            | Event::ConsumerStopped { consumer, .. } => {
                if let Some(m) = self.member(*consumer) {
                    m.own(at_ms, BTreeSet::new());
                }
            }
            Event::GenerationStarted {
                group,
                generation,
                members,
                ..
            } => {
                if let Some(g) = self.group(group) {
                    g.generations.push(GenerationMark {
                        at_ms,
                        generation: *generation,
                        members: members.len() as u32,
                    });
                }
            }
            Event::RebalanceStarted { group, .. } => {
                if let Some(g) = self.group(group) {
                    g.rebalances.push(at_ms);
                }
            }
            Event::OffsetsCommitted {
                group,
                member,
                offsets,
                ..
            } => self.commit(at_ms, group, member, offsets),
            _ => {}
        }
    }

    /// A commit: the group's latest offsets (in record order, as `moment` has them) and a
    /// mark on the lane of the member that made it.
    fn commit(&mut self, at_ms: u64, group: &str, member: &str, offsets: &[(TopicPartition, u64)]) {
        if let Some(g) = self.group(group) {
            for (tp, offset) in offsets {
                g.committed.insert(tp.clone(), *offset);
            }
        }
        let consumer = self
            .member_ids
            .get(&(group.to_string(), member.to_string()))
            .copied();
        if let Some(m) = consumer.and_then(|c| self.member(c)) {
            let shown = offsets.iter().map(|(tp, o)| (tp.to_string(), *o)).collect();
            m.commits.push((at_ms, shown));
        }
    }

    fn panels(&mut self, end_ms: u64) -> Vec<PartitionPanel> {
        std::mem::take(&mut self.partitions)
            .into_iter()
            .map(|p| p.panel(end_ms))
            .collect()
    }

    fn group_panels(&mut self, end_ms: u64) -> Vec<GroupPanel> {
        std::mem::take(&mut self.groups)
            .into_iter()
            .map(|g| GroupPanel {
                group: g.name,
                members: g
                    .members
                    .into_iter()
                    .map(|mut m| {
                        for s in &mut m.spans {
                            s.to_ms = s.to_ms.min(end_ms);
                        }
                        MemberLane {
                            consumer: m.consumer,
                            spans: m.spans,
                            commits: thin_marks(m.commits, end_ms)
                                .into_iter()
                                .map(|(at_ms, offsets, commits)| CommitMark {
                                    at_ms,
                                    commits,
                                    offsets,
                                })
                                .collect(),
                        }
                    })
                    .collect(),
                generations: g.generations,
                rebalances: g.rebalances,
            })
            .collect()
    }
}

/// The partition whose ISR an event changes.
fn isr_tp(event: &Event) -> Option<&TopicPartition> {
    match event {
        Event::LeaderElected { tp, .. }
        | Event::PartitionOffline { tp, .. }
        | Event::ControllerShrunkIsr { tp, .. }
        | Event::IsrShrunk { tp, .. }
        | Event::IsrExpanded { tp, .. } => Some(tp),
        _ => None,
    }
}
