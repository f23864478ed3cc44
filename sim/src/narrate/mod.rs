//! The narrated timeline: the run's events and faults in plain words, one line each.
//!
//! Frequent events (appends, high-watermark moves, fetches) are left out, and a run of
//! identical lines folds into one with a count. Each family of events has its own function
//! below; [`narrate_event`] sends an event to its family, and its match lists every event, so
//! a new kind of event cannot go unnarrated by accident.

mod digest;
mod log_layer;
mod quorum;
mod transactions;
mod txn_coordinator;
mod watch;

use crate::availability::{OfflineSpan, OfflineTracker};
use crate::check::isr::{IsrChange, IsrTracker};
use crate::report::{list, seconds, trace_lines, TraceLine};
use crate::scenario::Scenario;
use crate::world::RunResult;
use digest::Digest;
use kafka_model::event::{ConsumerException, ElectionReason, TruncateReason};
use kafka_model::{ErrorCode, Event, NodeId, RecordId, TopicPartition};
use log_layer::LogWatch;
use std::collections::{BTreeMap, BTreeSet};
use watch::HwWatch;

/// One narrated line: the key that folds repeats, and the text.
type Line = (String, String);

/// A line whose key is its text: only identical lines fold.
fn plain(text: String) -> Option<Line> {
    Some((text.clone(), text))
}

/// How much the timeline tells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Detail {
    /// The story: every fault, election, truncation, ISR change, rebalance and the like, with
    /// a consumer group's routine processing and commits told as one line per consumer and
    /// per group between two such moments (see [`digest`]).
    #[default]
    Story,
    /// Everything the story tells, and every record processed and every commit on its own line.
    All,
}

/// The narrated timeline in plain words, as `--narrate` tells it: the story.
pub fn narrate(result: &RunResult, scenario: &Scenario) -> Vec<String> {
    narrate_with(result, scenario, Detail::Story)
}

/// The narrated timeline in plain words. Frequent events (appends, HW moves, fetches) are
/// left out; a run of identical lines is folded into one with a count.
pub fn narrate_with(result: &RunResult, scenario: &Scenario, detail: Detail) -> Vec<String> {
    let lag_max = scenario.cluster.config.replica_lag_time_max_ms;
    let names = Names::of(scenario);
    let mut timeline = Timeline::default();
    // Every ISR change is told, whoever made it: an election's line says what it did to
    // the ISR, found against the ISR the events so far left.
    let mut isr = IsrTracker::default();
    let mut digest = Digest::default();
    let mut gaps = HwWatch::default();
    let mut offline = OfflineTracker::default();
    let mut logs = LogWatch::default();
    let mut open_transactions = transactions::OpenTransactions::default();
    for line in trace_lines(result) {
        let (at_ms, event) = match line {
            TraceLine::Fault {
                at_ms,
                action,
                detail,
                ..
            } => {
                let key = format!("fault {action} {detail}");
                timeline.tell(at_ms, key, fault_text(action, detail), &mut digest, &names);
                continue;
            }
            TraceLine::Event { at_ms, event, .. } => (at_ms, event),
        };
        let change = isr.apply(event);
        let ended = offline.apply(at_ms, event);
        let gap = gaps.apply(event, &names);
        logs.apply(event, &names.log);
        if let Some((key, text)) = open_transactions.apply(event) {
            // A late EndTxn's decision, or a refused one: told even among routine commits.
            timeline.tell(at_ms, key, text, &mut digest, &names);
            continue;
        }
        if detail == Detail::Story
            && (told_by_shutdown(event)
                || log_layer::routine(event)
                || digest.takes(at_ms, event)
                || timeline.gather(at_ms, event))
        {
            continue;
        }
        if let Some((key, text)) = narrate_event(event, lag_max, change.as_ref(), &names, &logs) {
            timeline.tell(at_ms, key, text, &mut digest, &names);
        }
        if let Some(span) = ended {
            let text = back_online_text(&span);
            timeline.tell(at_ms, text.clone(), text, &mut digest, &names);
        }
        if let Some(text) = gap {
            timeline.tell(at_ms, text.clone(), text, &mut digest, &names);
        }
    }
    timeline.finish(&mut digest, &names)
}

/// The lines told so far, folding a run of lines with the same key into one with a count.
#[derive(Default)]
struct Timeline {
    lines: Vec<String>,
    last_key: Option<String>,
    repeats: u64,
    last_at_ms: u64,
    /// Events of one kind gathered into one or two lines, not yet told.
    gathered: Option<Gathered>,
}

/// What the story tells in one or two lines instead of a line per partition.
#[derive(Clone, PartialEq, Eq)]
enum GatherKey {
    /// The leaderships and followerships one broker took at one instant (one LeaderAndIsr):
    /// a line for those it leads and one for those it follows.
    Roles {
        at_ms: u64,
        broker: kafka_model::BrokerId,
    },
    /// The first leaders the controller elects for a new topic's partitions.
    FirstLeaders { topic: String },
    /// The controller taking the same dead replicas out of ISRs whose leaders stay.
    DeadReplicasRemoved { removed: Vec<kafka_model::BrokerId> },
    /// One broker rejoining ISRs, one partition after another.
    Rejoined { broker: kafka_model::BrokerId },
    /// One broker rejecting produce requests with one error, whatever the partition.
    Rejections {
        broker: kafka_model::BrokerId,
        error: kafka_model::ErrorCode,
        verification: bool,
    },
    /// The logs one power loss cut on one broker.
    PowerLoss {
        at_ms: u64,
        broker: kafka_model::BrokerId,
    },
}

struct Gathered {
    key: GatherKey,
    /// When the first of them happened.
    at_ms: u64,
    /// When the last of them happened.
    last_ms: u64,
    /// The events, in order; one alone is told as it always was.
    events: Vec<Event>,
}

impl Gathered {
    fn lines(&self) -> Vec<String> {
        if let [only] = self.events.as_slice() {
            let line = match only {
                // The ISR lines gathered here do not use `replica.lag.time.max.ms`.
                Event::ControllerShrunkIsr { .. } | Event::IsrExpanded { .. } => isr_line(only, 0),
                Event::ProduceRejected { .. } => produce_line(only, &Names::default()),
                Event::Truncated { .. } => log_line(only),
                _ => leadership_line(only, None),
            };
            let (_, text) = line.expect("a gathered event is told");
            return vec![text];
        }
        match &self.key {
            GatherKey::Roles { broker, .. } => self.role_lines(*broker),
            GatherKey::FirstLeaders { topic } => vec![self.first_leaders_line(topic)],
            GatherKey::DeadReplicasRemoved { removed } => vec![self.removed_line(removed)],
            GatherKey::Rejoined { broker } => vec![self.rejoined_line(*broker)],
            GatherKey::Rejections {
                broker,
                error,
                verification,
            } => vec![self.rejections_line(*broker, *error, *verification)],
            GatherKey::PowerLoss { broker, .. } => vec![self.power_loss_line(*broker)],
        }
    }

    /// A power loss cuts every log of the broker at once; the story names a few.
    fn power_loss_line(&self, broker: kafka_model::BrokerId) -> String {
        let mut written_back = 0;
        let parts: Vec<String> = self
            .events
            .iter()
            .map(|e| match e {
                Event::Truncated {
                    tp,
                    from_log_end_offset,
                    to_offset,
                    reason:
                        TruncateReason::PowerLoss {
                            flushed_offset,
                            written_back_offset,
                        },
                    ..
                } => {
                    if written_back_offset > flushed_offset {
                        written_back += 1;
                    }
                    format!("{tp} to offset {to_offset} (from {from_log_end_offset})")
                }
                _ => unreachable!("only power-loss truncations gather here"),
            })
            .collect();
        format!(
            "broker {broker} truncates {} logs to what the power loss left on its disk ({} of them kept more than their last flush, because the OS had written it back on its own): {}",
            self.events.len(),
            written_back,
            some(&parts)
        )
    }

    /// Kafka's broker answers each produce request on its own; the story counts them.
    fn rejections_line(
        &self,
        broker: kafka_model::BrokerId,
        error: kafka_model::ErrorCode,
        verification: bool,
    ) -> String {
        let partitions: std::collections::BTreeSet<String> = self
            .events
            .iter()
            .map(|e| match e {
                Event::ProduceRejected { tp, .. } => tp.to_string(),
                _ => unreachable!("only rejections gather here"),
            })
            .collect();
        let partitions: Vec<String> = partitions.into_iter().collect();
        format!(
            "broker {broker} rejects {} produce requests to {} with {error}{}{}",
            self.events.len(),
            some(&partitions),
            rejection_why(error, verification),
            self.until()
        )
    }

    /// The last time, when the events spread over more than an instant.
    fn until(&self) -> String {
        if self.last_ms == self.at_ms {
            String::new()
        } else {
            format!("; the last at t={}", seconds(self.last_ms))
        }
    }

    fn removed_line(&self, removed: &[kafka_model::BrokerId]) -> String {
        let parts: Vec<String> = self
            .events
            .iter()
            .map(|e| match e {
                Event::ControllerShrunkIsr {
                    tp,
                    leader_epoch,
                    isr,
                    ..
                } => {
                    format!("{tp} (ISR {}, epoch {leader_epoch})", brokers(isr))
                }
                _ => unreachable!("only removals gather here"),
            })
            .collect();
        format!(
            "the controller removes dead replica(s) {} from the ISRs of {} partitions whose leaders stay: {}{}",
            brokers(removed),
            self.events.len(),
            some(&parts),
            self.until()
        )
    }

    fn rejoined_line(&self, broker: kafka_model::BrokerId) -> String {
        let parts: Vec<String> = self
            .events
            .iter()
            .map(|e| match e {
                Event::IsrExpanded {
                    tp, leader, isr, ..
                } => {
                    format!("{tp} (leader {leader}, ISR {})", brokers(isr))
                }
                _ => unreachable!("only rejoins gather here"),
            })
            .collect();
        format!(
            "broker {broker} caught up and rejoins the ISRs of {} partitions: {}{}",
            self.events.len(),
            some(&parts),
            self.until()
        )
    }

    /// Kafka's `PartitionStateMachine.initializeLeaderAndIsrForPartitions`: a new partition's
    /// leader is the first live replica of its assignment and its ISR every live replica.
    fn first_leaders_line(&self, topic: &str) -> String {
        let mut by_leader: BTreeMap<kafka_model::BrokerId, Vec<String>> = BTreeMap::new();
        for event in &self.events {
            let Event::LeaderElected {
                tp,
                leader: Some(leader),
                ..
            } = event
            else {
                unreachable!("only first elections gather here");
            };
            by_leader.entry(*leader).or_default().push(tp.to_string());
        }
        let parts: Vec<String> = by_leader
            .iter()
            .map(|(leader, tps)| format!("broker {leader} for {}", some(tps)))
            .collect();
        format!(
            "the controller elects the first leaders of the {} new partitions of {topic} (epoch 0; each leader is the first live replica, the ISR every live replica): {}",
            self.events.len(),
            parts.join("; ")
        )
    }

    fn role_lines(&self, broker: kafka_model::BrokerId) -> Vec<String> {
        let mut leads = Vec::new();
        let mut follows: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for event in &self.events {
            match event {
                Event::BecameLeader {
                    tp,
                    leader_epoch,
                    log_end_offset,
                    high_watermark,
                    ..
                } => leads.push(format!(
                    "{tp} (epoch {leader_epoch}, LEO {log_end_offset}, HW {high_watermark})"
                )),
                Event::BecameFollower {
                    tp,
                    leader,
                    leader_epoch,
                    log_end_offset,
                    ..
                } => {
                    let whom = leader.map_or("nobody yet".to_string(), |l| format!("broker {l}"));
                    follows.entry(whom).or_default().push(format!(
                        "{tp} (epoch {leader_epoch}, its LEO {log_end_offset})"
                    ));
                }
                _ => unreachable!("only roles gather here"),
            }
        }
        let mut lines = Vec::new();
        if !leads.is_empty() {
            lines.push(format!("broker {broker} now leads {}", some(&leads)));
        }
        if !follows.is_empty() {
            let parts: Vec<String> = follows
                .iter()
                .map(|(whom, tps)| format!("{whom} for {}", some(tps)))
                .collect();
            lines.push(format!("broker {broker} follows {}", parts.join("; ")));
        }
        lines
    }
}

/// Up to six items joined, then how many more.
pub(super) fn some(items: &[String]) -> String {
    const SHOWN: usize = 6;
    let shown = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().saturating_sub(SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

impl Timeline {
    /// Gathers what the story tells in a line or two instead of one per partition, and says
    /// so: a broker's new leadership or followership with the others it took at the same
    /// instant, a new topic's first leaders, a run of dead-replica removals that keep their
    /// leaders, a run of one broker's rejoins, and the logs one power loss cut.
    fn gather(&mut self, at_ms: u64, event: &Event) -> bool {
        let key = match event {
            Event::BecameLeader { broker, .. } | Event::BecameFollower { broker, .. } => {
                GatherKey::Roles {
                    at_ms,
                    broker: *broker,
                }
            }
            Event::LeaderElected {
                tp,
                leader: Some(_),
                reason: ElectionReason::NewPartition,
                ..
            } => GatherKey::FirstLeaders {
                topic: tp.topic.clone(),
            },
            Event::ControllerShrunkIsr {
                leader: Some(_),
                removed,
                shutting_down: false,
                ..
            } if !removed.is_empty() => GatherKey::DeadReplicasRemoved {
                removed: removed.clone(),
            },
            Event::IsrExpanded { added, .. } if added.len() == 1 => {
                GatherKey::Rejoined { broker: added[0] }
            }
            Event::ProduceRejected {
                broker,
                error,
                verification,
                ..
            } => GatherKey::Rejections {
                broker: *broker,
                error: *error,
                verification: *verification,
            },
            Event::Truncated {
                broker,
                reason: TruncateReason::PowerLoss { .. },
                ..
            } => GatherKey::PowerLoss {
                at_ms,
                broker: *broker,
            },
            _ => return false,
        };
        if self.gathered.as_ref().is_some_and(|g| g.key != key) {
            self.flush_gathered();
        }
        let gathered = self.gathered.get_or_insert_with(|| Gathered {
            key,
            at_ms,
            last_ms: at_ms,
            events: Vec::new(),
        });
        gathered.last_ms = at_ms;
        gathered.events.push(event.clone());
        true
    }

    fn flush_gathered(&mut self) {
        let Some(gathered) = self.gathered.take() else {
            return;
        };
        for text in gathered.lines() {
            self.push(gathered.at_ms, text.clone(), text);
        }
    }

    /// Tells one line at `at_ms`; what was gathered and what the digest holds are told first.
    fn tell(&mut self, at_ms: u64, key: String, text: String, digest: &mut Digest, names: &Names) {
        self.flush_gathered();
        if self.last_key.as_deref() != Some(key.as_str()) {
            self.flush_repeats();
            for summary in digest.take_lines(names) {
                self.lines
                    .push(format!("t={:>9} {summary}", seconds(at_ms)));
            }
        }
        self.push(at_ms, key, text);
    }

    /// One line, or one more like the last.
    fn push(&mut self, at_ms: u64, key: String, text: String) {
        if self.last_key.as_deref() == Some(key.as_str()) {
            self.repeats += 1;
            self.last_at_ms = at_ms;
            return;
        }
        self.flush_repeats();
        self.lines.push(format!("t={:>9} {text}", seconds(at_ms)));
        self.last_key = Some(key);
    }

    fn flush_repeats(&mut self) {
        if self.repeats > 0 {
            self.lines.push(format!(
                "           ... and {} more like it, the last at t={}",
                self.repeats,
                seconds(self.last_at_ms)
            ));
            self.repeats = 0;
        }
    }

    /// The whole timeline, with what the digest still held told at its last moment.
    fn finish(mut self, digest: &mut Digest, names: &Names) -> Vec<String> {
        self.flush_gathered();
        self.flush_repeats();
        let at_ms = digest.last_ms();
        for summary in digest.take_lines(names) {
            self.lines
                .push(format!("t={:>9} {summary}", seconds(at_ms)));
        }
        self.lines
    }
}

/// The line that ends a partition's offline span: how long it lasted and what it cost.
fn back_online_text(span: &OfflineSpan) -> String {
    let from = span.from_ms;
    let to = span.to_ms.expect("an ended span has an end");
    // A producer retries only a batch it sent; with no leader in its metadata it sends
    // nothing (`RecordAccumulator.ready` skips a partition whose leader is unknown) and its
    // batches wait.
    let cost = match span.produce_retries {
        0 => "no producer retried a request to it meanwhile: with no leader to send to, their batches waited".to_string(),
        1 => "producers retried 1 produce request to it meanwhile".to_string(),
        n => format!("producers retried {n} produce requests to it meanwhile"),
    };
    format!(
        "{} is online again after {} offline (since t={}); {cost}",
        span.tp,
        seconds(to - from),
        seconds(from),
    )
}

/// The scenario's own names for its clients: a line says "consumer billing-1", not
/// "consumer #1", and a record is `producer-name#sequence` (the record's producer and its
/// place in that producer's workload), as the fault lines already name clients.
#[derive(Default)]
struct Names {
    producers: Vec<String>,
    consumers: Vec<String>,
    processors: Vec<String>,
    /// The producers and consumers that are a processor's halves, by index: they are
    /// named as the processor.
    hosted_producers: BTreeSet<u32>,
    hosted_consumers: BTreeSet<u32>,
    /// Records' keys and topics' log configs, for the log layer's lines.
    log: log_layer::LogFacts,
}

impl Names {
    fn of(scenario: &Scenario) -> Names {
        Names {
            producers: scenario.producers.iter().map(|p| p.name.clone()).collect(),
            consumers: scenario.consumer_names(),
            processors: scenario.processors.iter().map(|p| p.name.clone()).collect(),
            hosted_producers: scenario
                .processors
                .iter()
                .map(|p| p.producer as u32)
                .collect(),
            hosted_consumers: scenario
                .processors
                .iter()
                .map(|p| p.consumer as u32)
                .collect(),
            log: log_layer::LogFacts::of(scenario),
        }
    }

    fn consumer(&self, index: u32) -> String {
        let kind = match self.hosted_consumers.contains(&index) {
            true => "processor",
            false => "consumer",
        };
        match self.consumers.get(index as usize) {
            Some(name) => format!("{kind} {name}"),
            None => format!("consumer #{index}"),
        }
    }

    fn node(&self, node: NodeId) -> String {
        match node {
            NodeId::Consumer(i) => self.consumer(i),
            NodeId::Producer(i) => match self.producers.get(i as usize) {
                Some(name) if self.hosted_producers.contains(&i) => format!("processor {name}"),
                Some(name) => format!("producer {name}"),
                None => node.to_string(),
            },
            NodeId::Processor(i) => match self.processors.get(i as usize) {
                Some(name) => format!("processor {name}"),
                None => node.to_string(),
            },
            other => other.to_string(),
        }
    }

    fn record(&self, id: RecordId) -> String {
        match self.producers.get(id.producer as usize) {
            Some(name) => format!("{name}#{}", id.seq),
            None => id.to_string(),
        }
    }
}

/// How a KRaft-mode disk replacement's detail ends (the world writes it so).
pub(crate) const KRAFT_INCARNATION: &str = "as a new incarnation";

/// How the world's fault lines mark a combined node (`process.roles=broker,controller`):
/// "broker 1 (also controller 1, combined mode)".
pub(crate) const COMBINED_MODE: &str = "combined mode";

/// A fault's line: what happened, and for a combined node that it struck both roles.
fn fault_text(action: &str, detail: &str) -> String {
    let text = single_fault_text(action, detail);
    match detail.contains(COMBINED_MODE) {
        true => match both_roles(action) {
            Some(both) => format!("{text}. {both}"),
            None => text,
        },
        false => text,
    }
}

/// What a fault on a combined node does to its other role, said plainly: both roles are one
/// process (Kafka's `KafkaRaftServer`) on one machine.
fn both_roles(action: &str) -> Option<&'static str> {
    Some(match action {
        "crash" => "Both roles go down: the broker and the controller are one process",
        "power-loss" => {
            "Both roles go down, and both lose what they had not fsynced: one machine, one power supply"
        }
        "restart" => "Both roles come back: they are one process",
        "pause" => "Both roles freeze: they are one JVM",
        "resume" => "Both roles wake up: they are one JVM",
        "isolate" | "slow" | "loss" => {
            "Both roles are cut off or slowed alike: they are one machine (they still reach each other)"
        }
        "shutdown" => {
            "The broker shuts down first, then the controller, and the process exits (KafkaRaftServer.shutdown)"
        }
        "replace-disk" => "Both roles start from an empty disk: one machine, one disk",
        _ => return None,
    })
}

fn single_fault_text(action: &str, detail: &str) -> String {
    let client = detail.starts_with("consumer ")
        || detail.starts_with("producer ")
        || detail.starts_with("processor ");
    let zookeeper = detail == "zookeeper";
    match action {
        "crash" | "power-loss" if zookeeper => format!(
            "FAULT: {detail} crashes: no broker can read or write it until it is back (its data and sessions are on disk)"
        ),
        "restart" if zookeeper => {
            format!("FAULT: {detail} starts again with its data and sessions from disk")
        }
        "crash" if client => {
            format!("FAULT: {detail} crashes: the process dies with everything it held in memory")
        }
        "restart" if client => {
            format!("FAULT: {detail} starts again from nothing (a new process)")
        }
        "crash" => {
            format!("FAULT: {detail} crashes (its page cache survives: nothing written is lost)")
        }
        "power-loss" => {
            format!("FAULT: {detail} loses power (what only the page cache held is gone: neither fsynced nor written back by the OS)")
        }
        "restart" => format!("FAULT: {detail} restarts from what its disk kept"),
        "pause" => {
            format!("FAULT: {detail} freezes (a long GC pause): it hears nothing and says nothing")
        }
        "resume" => format!("FAULT: {detail} wakes up and carries on as if no time had passed"),
        "isolate" => format!("FAULT: {detail} is cut off from every other node"),
        "partition" => format!("FAULT: the network splits into {detail}"),
        "heal" => format!("FAULT: heal {detail}"),
        "slow" => format!("FAULT: slow link, {detail}"),
        "loss" => format!("FAULT: lossy link, {detail}"),
        "preferred-election" | "delete-records" => format!("OPERATOR: runs {detail}"),
        "shutdown" => format!(
            "FAULT: {detail} is told to stop (SIGTERM): with controlled.shutdown.enable it first asks the controller to move its leaderships away"
        ),
        "replace-disk" if detail.ends_with(KRAFT_INCARNATION) => format!(
            "FAULT: disk replacement, {detail}; it keeps its broker id, and the controller learns of the restart only from the new incarnation id, as for any restart without a clean shutdown"
        ),
        "replace-disk" => format!(
            "FAULT: disk replacement, {detail}; it keeps its broker id, and in ZooKeeper mode nothing tells the controller its replicas are empty"
        ),
        "rolling-restart" => format!("ROLLING RESTART: {detail}"),
        "settle" => format!("SETTLE: {detail}; the run goes on so replication can converge"),
        "no-op" => format!("FAULT, no effect: {detail}"),
        other => format!("FAULT: {other} {detail}"),
    }
}

fn brokers(ids: &[i32]) -> String {
    format!("[{}]", list(ids))
}

/// One event in plain words, with a key for folding repeats; `None` for routine events.
/// `isr_change` is what the event did to its partition's ISR, if anything.
fn narrate_event(
    event: &Event,
    lag_max: u64,
    isr_change: Option<&IsrChange>,
    names: &Names,
    logs: &LogWatch,
) -> Option<Line> {
    match event {
        Event::SegmentRolled { .. }
        | Event::SegmentsDeleted { .. }
        | Event::LogStartOffsetIncremented { .. }
        | Event::LogRestartedAt { .. }
        | Event::LogCleaned { .. }
        | Event::DeleteRecordsAnswered { .. } => log_layer::log_layer_line(event, names, logs),
        Event::BrokerRegistered { .. }
        | Event::ZkSessionExpired { .. }
        | Event::ControllerElected { .. }
        | Event::StaleControllerRequestRejected { .. } => cluster_line(event),
        Event::LeaderElectionRequested { .. } => election_request_line(event),
        Event::QuorumElectionStarted { .. }
        | Event::QuorumLeaderElected { .. }
        | Event::QuorumLeaderResigned { .. }
        | Event::QuorumTruncated { .. }
        | Event::QuorumSnapshotCreated { .. }
        | Event::QuorumSnapshotFetched { .. }
        | Event::QuorumLogStartMoved { .. }
        | Event::KraftBrokerRegistered { .. }
        | Event::KraftBrokerFenced { .. }
        | Event::KraftBrokerUnfenced { .. }
        | Event::EligibleLeaderReplicasChanged { .. } => quorum::quorum_line(event),
        Event::LeaderElected { .. }
        | Event::PartitionOffline { .. }
        | Event::BecameLeader { .. }
        | Event::BecameFollower { .. } => leadership_line(event, isr_change),
        Event::Truncated { .. }
        | Event::Flushed { .. }
        | Event::BrokerRecovered { .. }
        | Event::LogRecovery { .. } => log_line(event),
        Event::ZkSessionClosed { .. }
        | Event::ControlledShutdownRequested { .. }
        | Event::ControlledShutdownHandled { .. }
        | Event::ControlledShutdownAttemptFailed { .. }
        | Event::BrokerShutDown { .. }
        | Event::BrokerStartedClean { .. } => shutdown_line(event),
        Event::IsrShrunk { .. }
        | Event::IsrExpanded { .. }
        | Event::ControllerShrunkIsr { .. }
        | Event::IsrChangeRejected { .. }
        | Event::IsrWriteConflict { .. }
        | Event::IsrChangesPropagated { .. } => isr_line(event, lag_max),
        Event::ProduceRejected { .. }
        | Event::ProduceFailed { .. }
        | Event::DuplicateBatch { .. } => produce_line(event, names),
        Event::TransactionsInitialized { .. }
        | Event::TransactionBegun { .. }
        | Event::TransactionCommitted { .. }
        | Event::TransactionAborted { .. }
        | Event::TransactionalProducerFailed { .. }
        | Event::TxnRequestTimedOut { .. } => transactions::transaction_line(event, names),
        Event::ConsumerTruncationDetected { .. }
        | Event::ConsumerStopped { .. }
        | Event::OffsetReset { .. }
        | Event::ClientCrashed { .. } => consumer_line(event, names),
        Event::GroupLoadStarted { .. }
        | Event::GroupsLoaded { .. }
        | Event::GroupsUnloaded { .. }
        | Event::RebalanceStarted { .. }
        | Event::GenerationStarted { .. }
        | Event::GroupStable { .. }
        | Event::MemberRemoved { .. }
        | Event::OffsetsCommitted { .. } => coordinator_line(event),
        Event::TxnCoordinatorLoaded { .. }
        | Event::TxnCoordinatorUnloaded { .. }
        | Event::TxnStateWritten { .. }
        | Event::TxnTimedOut { .. } => txn_coordinator::txn_coordinator_line(event),
        // Told by `OpenTransactions`, which knows the transaction the producer has open.
        Event::EndTxnRefused { .. } => None,
        Event::PartitionsAssigned { .. }
        | Event::PartitionsRevoked { .. }
        | Event::RecordProcessed { .. }
        | Event::PositionFromCommit { .. }
        | Event::CommitFailed { .. } => member_line(event, names),
        Event::Appended { .. }
        | Event::HighWatermarkChanged { .. }
        | Event::RecordSent { .. }
        | Event::Acknowledged { .. }
        | Event::ProduceRetried { .. }
        | Event::Consumed { .. }
        | Event::LeaderIsrFromMetadata { .. }
        | Event::QuorumHighWatermark { .. } => None,
    }
}

/// ZooKeeper registrations and sessions, and the controller.
fn cluster_line(event: &Event) -> Option<Line> {
    let text = match event {
        Event::BrokerRegistered { broker, .. } => format!("broker {broker} registers in ZooKeeper (/brokers/ids/{broker})"),
        Event::ZkSessionExpired { node, timeout_ms, .. } => format!(
            "ZooKeeper expires the session of {node}: nothing heard from it for {timeout_ms} ms (zookeeper.session.timeout.ms); its ephemeral znodes are deleted"
        ),
        Event::ControllerElected { broker, controller_epoch } => format!(
            "broker {broker} becomes the controller (controller epoch {controller_epoch})"
        ),
        Event::StaleControllerRequestRejected { broker, request_controller_epoch, current_controller_epoch } => format!(
            "broker {broker} ignores a request from an old controller (epoch {request_controller_epoch} < {current_controller_epoch})"
        ),
        _ => unreachable!("{} is not narrated here", event.kind()),
    };
    plain(text)
}

/// At most this many partitions are named in one line; the rest are counted.
const PARTITIONS_NAMED_MAX: usize = 5;

/// Partitions by name, the first few, then how many more.
fn partition_list(tps: &[&TopicPartition]) -> String {
    let named: Vec<String> = tps
        .iter()
        .take(PARTITIONS_NAMED_MAX)
        .map(|tp| tp.to_string())
        .collect();
    let more = tps.len().saturating_sub(PARTITIONS_NAMED_MAX);
    if more == 0 {
        named.join(", ")
    } else {
        format!("{} and {more} more", named.join(", "))
    }
}

/// The controller's answer to `kafka-leader-election.sh`: what it elected, what needed no
/// election and what it could not elect.
fn election_request_line(event: &Event) -> Option<Line> {
    let Event::LeaderElectionRequested {
        controller,
        results,
        ..
    } = event
    else {
        unreachable!("{} is not narrated here", event.kind());
    };
    let with = |error: ErrorCode| -> Vec<&TopicPartition> {
        results
            .iter()
            .filter(|(_, e)| *e == error)
            .map(|(tp, _)| tp)
            .collect()
    };
    let mut parts = Vec::new();
    let elected = with(ErrorCode::None);
    if !elected.is_empty() {
        parts.push(format!(
            "it moves leadership of {} back to the preferred replica",
            partition_list(&elected)
        ));
    }
    let not_needed = with(ErrorCode::ElectionNotNeeded);
    if !not_needed.is_empty() {
        parts.push(format!(
            "{} already led by the preferred replica (ELECTION_NOT_NEEDED)",
            partition_list(&not_needed)
        ));
    }
    let not_available = with(ErrorCode::PreferredLeaderNotAvailable);
    if !not_available.is_empty() {
        parts.push(format!(
            "{} cannot move: the preferred replica is down or not in the ISR (PREFERRED_LEADER_NOT_AVAILABLE)",
            partition_list(&not_available)
        ));
    }
    let unknown = with(ErrorCode::UnknownTopicOrPartition);
    if !unknown.is_empty() {
        parts.push(format!(
            "{} unknown (UNKNOWN_TOPIC_OR_PARTITION)",
            partition_list(&unknown)
        ));
    }
    plain(format!(
        "controller {controller} answers kafka-leader-election.sh --election-type PREFERRED: {}",
        parts.join("; ")
    ))
}

/// What an election's ISR write did to the ISR, as a clause: "" when it kept it.
fn election_isr_clause(change: Option<&IsrChange>) -> String {
    let Some(change) = change else {
        return String::new();
    };
    let removed = change.removed();
    let added = change.added();
    let what = match (removed.is_empty(), added.is_empty()) {
        (false, true) => format!("takes {} out of the ISR", brokers(&removed)),
        (true, false) => format!("puts {} into the ISR", brokers(&added)),
        _ => format!(
            "takes {} out of the ISR and puts {} in",
            brokers(&removed),
            brokers(&added)
        ),
    };
    format!(
        "; the controller {what}: {} -> {}",
        brokers(&change.before),
        brokers(&change.after)
    )
}

/// Leader elections and the leader and follower roles brokers take.
fn leadership_line(event: &Event, isr_change: Option<&IsrChange>) -> Option<Line> {
    let isr_clause = election_isr_clause(isr_change);
    let text = match event {
        Event::LeaderElected { tp, leader, previous_leader, leader_epoch, isr, unclean, reason, .. } => {
            let leader = leader.map_or("nobody".to_string(), |l| format!("broker {l}"));
            let why = match reason {
                ElectionReason::NewPartition => "a new partition".to_string(),
                ElectionReason::LeaderFailed => format!(
                    "its leader {} is gone",
                    previous_leader.map_or("?".into(), |p| format!("broker {p}"))
                ),
                ElectionReason::ControllerFailover => "a new controller found it without a live leader".into(),
                ElectionReason::BrokerReturned => "a replica came back to an offline partition".into(),
                ElectionReason::ControlledShutdown => format!(
                    "{} is shutting down (controlled shutdown), so the controller moves leadership to the first replica of the assignment that is in the ISR and stays",
                    previous_leader.map_or("its leader".into(), |p| format!("broker {p}"))
                ),
                ElectionReason::PreferredReplica => format!(
                    "the controller's leader-imbalance check gives leadership back to the preferred replica, the first of the assignment (auto.leader.rebalance.enable){}",
                    previous_leader.map_or(String::new(), |p| format!("; broker {p} steps down"))
                ),
                ElectionReason::LastKnownLeader => "its ISR and its eligible leader replicas are empty, so the controller falls back on the last known leader (KIP-966), whatever that broker lost".into(),
                ElectionReason::UncleanRestart => format!(
                    "its leader {} registered again as a new incarnation without a clean shutdown (it may have lost unflushed records)",
                    previous_leader.map_or("?".into(), |p| format!("broker {p}"))
                ),
                ElectionReason::AdminPreferred => format!(
                    "an operator's preferred election gives leadership back to the preferred replica, the first of the assignment{}",
                    previous_leader.map_or(String::new(), |p| format!("; broker {p} steps down"))
                ),
            };
            if *unclean && *reason == ElectionReason::LastKnownLeader {
                format!(
                    "UNCLEAN election: {leader} becomes leader of {tp} (epoch {leader_epoch}): {why}, even with unclean.leader.election.enable=false{isr_clause}. Whatever it lacks is lost"
                )
            } else if *unclean {
                format!(
                    "UNCLEAN election: {leader} becomes leader of {tp} (epoch {leader_epoch}) although it was not in the ISR ({why}; unclean.leader.election.enable=true){isr_clause}. Whatever only the old ISR had is lost"
                )
            } else {
                format!("{leader} is elected leader of {tp} (epoch {leader_epoch}, ISR {}): {why}{isr_clause}", brokers(isr))
            }
        }
        Event::PartitionOffline { tp, isr, live_replicas } => format!(
            "{tp} is OFFLINE: no live replica in the ISR {} and unclean elections are off; live replicas {} wait{isr_clause}",
            brokers(isr),
            brokers(live_replicas)
        ),
        Event::BecameLeader { broker, tp, leader_epoch, log_end_offset, high_watermark, .. } => format!(
            "broker {broker} now leads {tp} in epoch {leader_epoch} (LEO {log_end_offset}, HW {high_watermark})"
        ),
        Event::BecameFollower { broker, tp, leader, leader_epoch, log_end_offset } => format!(
            "broker {broker} follows {} for {tp} in epoch {leader_epoch} (its LEO {log_end_offset})",
            leader.map_or("nobody yet".to_string(), |l| format!("broker {l}"))
        ),
        _ => unreachable!("{} is not narrated here", event.kind()),
    };
    plain(text)
}

/// A replica's log: truncations, flushes, recovery at start.
fn log_line(event: &Event) -> Option<Line> {
    let text = match event {
        Event::Truncated {
            broker,
            tp,
            from_log_end_offset,
            to_offset,
            reason,
        } => {
            let why = match reason {
                TruncateReason::HighWatermark { high_watermark } => {
                    format!("its own high watermark {high_watermark}")
                }
                TruncateReason::LeaderEpoch {
                    epoch,
                    leader_end_offset,
                } => format!("the end of epoch {epoch} on the leader, offset {leader_end_offset}"),
                TruncateReason::OffsetOutOfRange {
                    leader_log_end_offset,
                } => {
                    format!("the leader's log end {leader_log_end_offset} (its own log was longer)")
                }
                TruncateReason::PowerLoss {
                    flushed_offset,
                    written_back_offset,
                } if written_back_offset > flushed_offset => format!(
                    "its last flush at offset {flushed_offset}, and the OS had written back up to offset {written_back_offset} on its own: the power loss took the rest"
                ),
                TruncateReason::PowerLoss { flushed_offset, .. } => format!(
                    "its last flush at offset {flushed_offset}: the power loss took the rest"
                ),
            };
            if to_offset == from_log_end_offset {
                format!(
                    "broker {broker} keeps {tp} up to offset {to_offset}, nothing to cut: {why}"
                )
            } else {
                format!(
                    "broker {broker} truncates {tp} to offset {to_offset} (from {from_log_end_offset}): {why}"
                )
            }
        }
        Event::Flushed { .. } => return None,
        Event::LogRecovery {
            broker,
            bytes,
            recovery_ms,
        } => format!(
            "broker {broker} recovers {} past its recovery point ({recovery_ms} ms) before it registers",
            show_bytes(*bytes)
        ),
        Event::BrokerRecovered { broker, replicas } => {
            if replicas.is_empty() {
                format!("broker {broker} starts with an empty disk")
            } else {
                let parts = replicas
                    .iter()
                    .map(|(tp, leo, hw)| format!("{tp} LEO {leo} HW {hw}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("broker {broker} starts from its disk: {parts}")
            }
        }
        _ => unreachable!("{} is not narrated here", event.kind()),
    };
    plain(text)
}

/// A byte count as a reader says it: "830 bytes", "12.3 KB", "41.0 MB" (decimal units, as
/// disk rates are given).
fn show_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000)];
    match UNITS.iter().find(|(_, size)| bytes >= *size) {
        Some((unit, size)) => format!("{:.1} {unit}", bytes as f64 / *size as f64),
        None => format!("{bytes} bytes"),
    }
}

/// "orders-0 to broker 1, orders-2 to broker 0 and 3 more": at most this many named.
const SHUTDOWN_NAMED: usize = 4;

fn some_named(parts: Vec<String>) -> String {
    let more = parts.len().saturating_sub(SHUTDOWN_NAMED);
    let mut shown: Vec<String> = parts.into_iter().take(SHUTDOWN_NAMED).collect();
    if more > 0 {
        shown.push(format!("{more} more"));
    }
    shown.join(", ")
}

/// Controlled shutdowns, clean exits and clean starts.
fn shutdown_line(event: &Event) -> Option<Line> {
    let text = match event {
        Event::ZkSessionClosed { node, .. } => format!(
            "{node} closes its ZooKeeper session: its ephemeral znodes go at once, with no session timeout to wait for"
        ),
        Event::ControlledShutdownRequested { broker, controller, attempt, attempts_max } => match controller {
            Some(c) => format!(
                "broker {broker} asks the controller (broker {c}) for a controlled shutdown, attempt {attempt} of {attempts_max} (controlled.shutdown.max.retries)"
            ),
            None => format!(
                "broker {broker} knows no controller to ask for a controlled shutdown (attempt {attempt} of {attempts_max})"
            ),
        },
        Event::ControlledShutdownHandled { controller, broker, moved, left_isr, remaining } => {
            let moves: Vec<String> = moved.iter().map(|(tp, l)| format!("{tp} to broker {l}")).collect();
            let led = if moves.is_empty() {
                "it led nothing another in-sync replica could take over".to_string()
            } else {
                format!("moves its {} leadership(s): {}", moves.len(), some_named(moves))
            };
            let followed = if left_isr.is_empty() {
                String::new()
            } else {
                format!("; takes it out of the ISRs of the {} partition(s) it follows", left_isr.len())
            };
            let stays = if remaining.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = remaining.iter().map(ToString::to_string).collect();
                format!(
                    "; it still leads {} (no other replica in the ISR, or one replica only)",
                    some_named(names)
                )
            };
            format!("the controller (broker {controller}) handles broker {broker}'s controlled shutdown: {led}{followed}{stays}")
        }
        Event::ControlledShutdownAttemptFailed { broker, attempt, attempts_max, why, .. } => {
            let next = if attempt < attempts_max {
                "it tries again after controlled.shutdown.retry.backoff.ms"
            } else {
                "no attempt left: it goes down anyway, and what it still leads waits for the controller to see it gone"
            };
            format!("broker {broker}'s controlled shutdown attempt {attempt} fails: {why}; {next}")
        }
        Event::BrokerShutDown { broker, controlled, flushed_logs } => {
            let how = if *controlled {
                "shuts down cleanly: its leaderships moved and it left the ISRs".to_string()
            } else {
                "shuts down without a completed controlled shutdown".to_string()
            };
            format!(
                "broker {broker} {how}; it flushed its {flushed_logs} log(s), checkpointed its high watermarks, wrote the clean-shutdown marker and exited"
            )
        }
        Event::BrokerStartedClean { broker } => format!(
            "broker {broker} finds its clean-shutdown marker: its logs need no recovery"
        ),
        _ => unreachable!("{} is not narrated here", event.kind()),
    };
    plain(text)
}

/// What the story leaves to the line of the controlled shutdown that caused it: the
/// per-partition elections and ISR removals (`--narrate=all` tells each).
fn told_by_shutdown(event: &Event) -> bool {
    matches!(
        event,
        Event::LeaderElected {
            reason: ElectionReason::ControlledShutdown,
            ..
        } | Event::ControllerShrunkIsr {
            shutting_down: true,
            ..
        }
    )
}

/// The ISR: shrinks, expands, and the controller's changes to it.
fn isr_line(event: &Event, lag_max: u64) -> Option<Line> {
    let text = match event {
        Event::IsrShrunk { tp, leader, removed, isr, lag_ms, .. } => format!(
            "broker {} falls out of the ISR of {tp}: it has not caught up for {} ms (replica.lag.time.max.ms={lag_max}); leader {leader} shrinks the ISR to {}",
            list(removed),
            lag_ms,
            brokers(isr)
        ),
        Event::IsrExpanded { tp, leader, added, isr, .. } => format!(
            "broker {} caught up with leader {leader} and rejoins the ISR of {tp}: ISR {}",
            list(added),
            brokers(isr)
        ),
        Event::ControllerShrunkIsr { tp, leader, leader_epoch, removed, isr, shutting_down } => {
            let leader = match leader {
                Some(l) => format!("leader {l} stays"),
                None => "no leader".to_string(),
            };
            if *shutting_down {
                format!(
                    "the controller takes shutting-down broker {} out of the ISR of {tp}: ISR {}, {leader}, epoch {leader_epoch}",
                    list(removed),
                    brokers(isr)
                )
            } else if removed.is_empty() {
                format!(
                    "the controller keeps dead replica {} as the last member of the ISR of {tp} (an ISR is never empty): {leader}, epoch {leader_epoch}",
                    brokers(isr)
                )
            } else {
                format!(
                    "the controller removes dead replica(s) {} from the ISR of {tp}: ISR {}, {leader}, epoch {leader_epoch}",
                    brokers(removed),
                    brokers(isr)
                )
            }
        }
        Event::IsrChangeRejected { tp, leader, error } => format!(
            "the controller refuses leader {leader}'s ISR change for {tp} ({error})"
        ),
        Event::IsrWriteConflict { tp, leader, cached_zk_version, awaits_leader_and_isr } => format!(
            "ZooKeeper refuses leader {leader}'s ISR write for {tp}: the state znode moved past the version {cached_zk_version} the leader holds (\"Cached zkVersion not equal to that in zookeeper\"); {}",
            if *awaits_leader_and_isr {
                "the change waits for the controller's LeaderAndIsr"
            } else {
                "the ISR stays as it was until a LeaderAndIsr brings the new version"
            }
        ),
        Event::IsrChangesPropagated { broker, partitions } => format!(
            "broker {broker} tells the controller of the ISR changes it wrote for {} (a /isr_change_notification znode); the controller passes them on with UpdateMetadata",
            some(&partitions.iter().map(ToString::to_string).collect::<Vec<_>>())
        ),
        _ => unreachable!("{} is not narrated here", event.kind()),
    };
    plain(text)
}

/// Why a broker rejects a produce with `error`, as a clause ("" when it says it all);
/// `verification` when its KIP-890 verification refused it before the append.
fn rejection_why(error: kafka_model::ErrorCode, verification: bool) -> &'static str {
    match error {
        kafka_model::ErrorCode::NotEnoughReplicas if verification => {
            " (its transaction coordinator could not yet confirm that the partition is in the producer's transaction, KIP-890: the leader answers a busy or unreachable coordinator with this error so that every client retries)"
        }
        kafka_model::ErrorCode::InvalidTxnState if verification => {
            " (its transaction coordinator says the partition is not in the producer's open transaction, KIP-890)"
        }
        kafka_model::ErrorCode::NotEnoughReplicas => {
            " (the ISR is smaller than min.insync.replicas)"
        }
        kafka_model::ErrorCode::NotEnoughReplicasAfterAppend => {
            " (written, but the ISR shrank below min.insync.replicas before it was replicated)"
        }
        kafka_model::ErrorCode::NotLeaderOrFollower => " (it is not the leader)",
        kafka_model::ErrorCode::OutOfOrderSequenceNumber => {
            " (the batch's first sequence does not follow the last one it has from that producer: a gap)"
        }
        kafka_model::ErrorCode::RequestTimedOut => {
            " (the ISR did not replicate it within the request timeout)"
        }
        _ => "",
    }
}

/// Produce requests the brokers rejected and records the producers gave up on. Repeats fold
/// by broker or producer, partition and error, whatever the records were.
fn produce_line(event: &Event, names: &Names) -> Option<Line> {
    match event {
        Event::ProduceRejected {
            broker,
            tp,
            error,
            verification,
            ..
        } => {
            let key = format!("reject {broker} {tp} {error} {verification}");
            let why = rejection_why(*error, *verification);
            Some((
                key,
                format!("broker {broker} rejects a produce to {tp} with {error}{why}"),
            ))
        }
        Event::ProduceFailed {
            producer,
            tp,
            error: ErrorCode::TransactionAborted,
            ids,
            ..
        } => Some((
            format!("dropped {producer} {tp}"),
            format!(
                "{} drops {} unsent record(s) for {tp}: their transaction is being aborted (TRANSACTION_ABORTED)",
                names.node(NodeId::Producer(*producer)),
                ids.len()
            ),
        )),
        Event::ProduceFailed {
            producer,
            tp,
            error,
            ids,
            ..
        } => {
            let key = format!("failed {producer} {tp} {error}");
            Some((
                key,
                format!(
                    "{} gives up on {} record(s) for {tp}: {error}",
                    names.node(NodeId::Producer(*producer)),
                    ids.len()
                ),
            ))
        }
        Event::DuplicateBatch {
            broker,
            tp,
            producer_id,
            first_sequence,
            base_offset,
            records,
        } => Some((
            // One broker's duplicates fold into one line, whatever their partitions: after a
            // failure a leader may see retries for hundreds of them at once.
            format!("duplicate {broker}"),
            format!(
                "broker {broker} already has this retried batch of producer id {producer_id} (sequence {first_sequence}, {records} record(s)) at offset {base_offset} of {tp}: it answers with that offset and writes nothing (enable.idempotence)"
            ),
        )),
        _ => unreachable!("{} is not narrated here", event.kind()),
    }
}

/// Consumers' positions, and clients that crashed.
fn consumer_line(event: &Event, names: &Names) -> Option<Line> {
    let text = match event {
        Event::ConsumerTruncationDetected { consumer, tp, position, leader_end_offset, epoch } => format!(
            "{} detects that {tp} was truncated: its position {position} is past the end of epoch {epoch} on the new leader, offset {leader_end_offset} (KIP-320)",
            names.consumer(*consumer)
        ),
        Event::OffsetReset { consumer, tp, from, to } => format!(
            "{} sets its position on {tp} to {to}{} (auto.offset.reset)",
            names.consumer(*consumer),
            from.map_or(String::new(), |f| format!(" from {f}"))
        ),
        Event::ConsumerStopped { consumer, exception } => format!(
            "{} stops: {} (auto.offset.reset = none; the application does not catch it)",
            names.consumer(*consumer),
            exception_text(exception)
        ),
        Event::ClientCrashed { node } => format!("{} is gone (the process died)", names.node(*node)),
        _ => unreachable!("{} is not narrated here", event.kind()),
    };
    plain(text)
}

/// A consumer exception as Kafka words it.
fn exception_text(exception: &ConsumerException) -> String {
    match exception {
        ConsumerException::LogTruncation {
            tp,
            position,
            divergent_offset: Some(d),
        } => format!(
            "LogTruncationException: truncation detected for {tp} at offset {position}, the first offset known to diverge is {d}"
        ),
        ConsumerException::LogTruncation { tp, position, divergent_offset: None } => format!(
            "LogTruncationException: truncation detected for {tp} at offset {position}, the leader does not know the epoch it was read in"
        ),
        ConsumerException::OffsetOutOfRange { tp, position } => format!(
            "OffsetOutOfRangeException: fetch position {position} is out of range for partition {tp}"
        ),
        ConsumerException::NoOffsetForPartition { tp } => {
            format!("NoOffsetForPartitionException: undefined offset with no reset policy for partition {tp}")
        }
    }
}

/// The group coordinator: loading groups, rebalances, generations, commits.
fn coordinator_line(event: &Event) -> Option<Line> {
    let text = match event {
        Event::GroupLoadStarted { broker, partition, leader_epoch } => format!(
            "broker {broker} leads __consumer_offsets-{partition} (epoch {leader_epoch}) and starts loading its groups; until done it answers COORDINATOR_LOAD_IN_PROGRESS"
        ),
        Event::GroupsLoaded { broker, partition, groups, offsets } => {
            if groups.is_empty() {
                format!("broker {broker} finished loading __consumer_offsets-{partition}: no groups yet")
            } else {
                let list = groups
                    .iter()
                    .map(|(g, gen)| format!("{g} (generation {gen})"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "broker {broker} finished loading __consumer_offsets-{partition} ({offsets} offset records) and now coordinates {list}"
                )
            }
        }
        Event::GroupsUnloaded { broker, partition, groups } => {
            if groups.is_empty() {
                return None;
            }
            format!(
                "broker {broker} no longer leads __consumer_offsets-{partition}: it stops coordinating {} (NOT_COORDINATOR from now on)",
                groups.join(", ")
            )
        }
        Event::RebalanceStarted { broker, group, generation, reason } => format!(
            "coordinator {broker}: group {group} starts rebalancing after generation {generation} ({reason}); every member must join again"
        ),
        Event::GenerationStarted { broker, group, generation, protocol, leader, members } => {
            if members.is_empty() {
                format!("coordinator {broker}: group {group} is empty (generation {generation})")
            } else {
                format!(
                    "coordinator {broker}: group {group} generation {generation} with {} member(s), leader {}, assignor {}",
                    members.len(),
                    leader.as_deref().unwrap_or("-"),
                    protocol.as_deref().unwrap_or("-")
                )
            }
        }
        Event::GroupStable { broker, group, generation, assignment } => {
            let parts = assignment
                .iter()
                .map(|(m, tps)| format!("{m}: [{}]", tps.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")))
                .collect::<Vec<_>>()
                .join("; ");
            format!("coordinator {broker}: group {group} is Stable in generation {generation}, the assignment is durable: {parts}")
        }
        Event::MemberRemoved { broker, group, member, reason } => format!(
            "coordinator {broker}: {member} leaves group {group}: it {reason}"
        ),
        Event::OffsetsCommitted { broker, group, generation, member, offsets, .. } => {
            let parts = offsets
                .iter()
                .map(|(tp, o)| format!("{tp}={o}"))
                .collect::<Vec<_>>()
                .join(", ");
            let key = format!("commit {group}");
            return Some((key, format!(
                "group {group} commits {parts} (member {member}, generation {generation}; durable on coordinator {broker})"
            )));
        }
        _ => unreachable!("{} is not narrated here", event.kind()),
    };
    plain(text)
}

/// Group members: assignments, processing, positions from commits, failed commits.
fn member_line(event: &Event, names: &Names) -> Option<Line> {
    let text = match event {
        Event::PartitionsAssigned { consumer, group, member, generation, partitions } => format!(
            "{} ({member}) is assigned [{}] in group {group} generation {generation}",
            names.consumer(*consumer),
            partitions.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
        ),
        Event::PartitionsRevoked { consumer, member, partitions, lost, .. } => format!(
            "{} ({member}) {} [{}]",
            names.consumer(*consumer),
            if *lost { "has lost (it is out of the group)" } else { "gives up" },
            partitions.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
        ),
        Event::RecordProcessed { consumer, tp, offset, record, generation, .. } => {
            let key = format!("processed {consumer} {tp}");
            return Some((key, format!(
                "{} processes {tp} offset {offset} ({}, generation {generation})",
                names.consumer(*consumer),
                names.record(*record)
            )));
        }
        Event::PositionFromCommit { consumer, group, tp, offset } => format!(
            "{} starts {tp} at offset {offset}, the committed offset of group {group}",
            names.consumer(*consumer)
        ),
        Event::CommitFailed { consumer, group, error } => format!(
            "{}: the commit to group {group} fails with {error}; what it processed since its last commit will be delivered again",
            names.consumer(*consumer)
        ),
        _ => unreachable!("{} is not narrated here", event.kind()),
    };
    plain(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_model::TopicPartition;

    #[test]
    fn an_election_that_changes_the_isr_says_so() {
        let tp = TopicPartition::new("orders", 0);
        let elected = |leader, isr: Vec<i32>, reason| Event::LeaderElected {
            tp: tp.clone(),
            leader: Some(leader),
            previous_leader: Some(0),
            leader_epoch: 1,
            isr,
            unclean: false,
            reason,
            controller_epoch: 1,
        };
        let mut tracker = IsrTracker::default();
        let first = elected(0, vec![0, 1, 2], ElectionReason::NewPartition);
        assert_eq!(tracker.apply(&first), None);
        let next = elected(1, vec![1, 2], ElectionReason::LeaderFailed);
        let change = tracker.apply(&next);
        let (_, text) = narrate_event(
            &next,
            10_000,
            change.as_ref(),
            &no_names(),
            &LogWatch::default(),
        )
        .expect("narrated");
        assert!(
            text.ends_with("the controller takes [0] out of the ISR: [0,1,2] -> [1,2]"),
            "{text}"
        );
        // An election that keeps the ISR says nothing of it.
        let same = elected(2, vec![1, 2], ElectionReason::ControllerFailover);
        let change = tracker.apply(&same);
        let (_, text) = narrate_event(
            &same,
            10_000,
            change.as_ref(),
            &no_names(),
            &LogWatch::default(),
        )
        .expect("narrated");
        assert!(!text.contains("of the ISR:"), "{text}");
    }

    #[test]
    fn the_story_tells_a_new_topics_first_leaders_and_a_brokers_roles_in_a_line() {
        let first = |partition, leader| Event::LeaderElected {
            tp: TopicPartition::new("orders", partition),
            leader: Some(leader),
            previous_leader: None,
            leader_epoch: 0,
            isr: vec![leader],
            unclean: false,
            reason: ElectionReason::NewPartition,
            controller_epoch: 1,
        };
        let follows = |partition, leader| Event::BecameFollower {
            broker: 2,
            tp: TopicPartition::new("orders", partition),
            leader: Some(leader),
            leader_epoch: 0,
            log_end_offset: 0,
        };
        let mut timeline = Timeline::default();
        for (at_ms, event) in [
            (50, first(0, 0)),
            (51, first(1, 1)),
            (52, first(2, 0)),
            (60, follows(0, 0)),
            (60, follows(1, 1)),
        ] {
            assert!(timeline.gather(at_ms, &event));
        }
        let lines = timeline.finish(&mut Digest::default(), &no_names());
        assert_eq!(
            lines,
            vec![
                "t=   0.050s the controller elects the first leaders of the 3 new partitions of orders (epoch 0; each leader is the first live replica, the ISR every live replica): broker 0 for orders-0, orders-2; broker 1 for orders-1",
                "t=   0.060s broker 2 follows broker 0 for orders-0 (epoch 0, its LEO 0); broker 1 for orders-1 (epoch 0, its LEO 0)",
            ]
        );
        // A run of one broker's rejoins is one line, with the time of the last.
        let rejoined = |partition, leader| Event::IsrExpanded {
            tp: TopicPartition::new("orders", partition),
            leader,
            leader_epoch: 1,
            added: vec![2],
            isr: vec![leader, 2],
        };
        let mut timeline = Timeline::default();
        timeline.gather(100, &rejoined(0, 0));
        timeline.gather(130, &rejoined(1, 1));
        assert_eq!(
            timeline.finish(&mut Digest::default(), &no_names()),
            vec!["t=   0.100s broker 2 caught up and rejoins the ISRs of 2 partitions: orders-0 (leader 0, ISR [0,2]), orders-1 (leader 1, ISR [1,2]); the last at t=0.130s"]
        );
        // The logs one power loss cut on one broker are one line; one alone keeps its own.
        let cut = |partition, from, written_back_offset| Event::Truncated {
            broker: 3,
            tp: TopicPartition::new("orders", partition),
            from_log_end_offset: from,
            to_offset: written_back_offset,
            reason: TruncateReason::PowerLoss {
                flushed_offset: 0,
                written_back_offset,
            },
        };
        let mut timeline = Timeline::default();
        assert!(timeline.gather(45_000, &cut(0, 30, 20)));
        assert!(timeline.gather(45_000, &cut(1, 10, 0)));
        assert_eq!(
            timeline.finish(&mut Digest::default(), &no_names()),
            vec!["t=  45.000s broker 3 truncates 2 logs to what the power loss left on its disk (1 of them kept more than their last flush, because the OS had written it back on its own): orders-0 to offset 20 (from 30), orders-1 to offset 0 (from 10)"]
        );
        let mut timeline = Timeline::default();
        assert!(timeline.gather(45_000, &cut(1, 10, 0)));
        assert_eq!(
            timeline.finish(&mut Digest::default(), &no_names()),
            vec!["t=  45.000s broker 3 truncates orders-1 to offset 0 (from 10): its last flush at offset 0: the power loss took the rest"]
        );
        // A broker's run of rejections with one error is one line, whatever the partitions.
        let rejected = |partition| Event::ProduceRejected {
            broker: 0,
            tp: TopicPartition::new("orders", partition),
            error: kafka_model::ErrorCode::NotEnoughReplicas,
            records: 1,
            verification: false,
        };
        let mut timeline = Timeline::default();
        for (at_ms, partition) in [(200, 0), (201, 1), (205, 0)] {
            assert!(timeline.gather(at_ms, &rejected(partition)));
        }
        assert_eq!(
            timeline.finish(&mut Digest::default(), &no_names()),
            vec!["t=   0.200s broker 0 rejects 3 produce requests to orders-0, orders-1 with NOT_ENOUGH_REPLICAS (the ISR is smaller than min.insync.replicas); the last at t=0.205s"]
        );
        // One alone is told as it always was.
        let mut timeline = Timeline::default();
        timeline.gather(50, &first(0, 0));
        let lines = timeline.finish(&mut Digest::default(), &no_names());
        assert_eq!(
            lines,
            vec!["t=   0.050s broker 0 is elected leader of orders-0 (epoch 0, ISR [0]): a new partition"]
        );
    }

    #[test]
    fn a_fault_on_a_combined_node_says_it_struck_both_roles() {
        let crash = fault_text("crash", "broker 1 (also controller 1, combined mode)");
        assert!(
            crash.starts_with("FAULT: broker 1 (also controller 1, combined mode) crashes"),
            "{crash}"
        );
        assert!(
            crash.ends_with("Both roles go down: the broker and the controller are one process")
        );
        let pause = fault_text("pause", "controller 2 (also broker 2, combined mode)");
        assert!(pause.contains("Both roles freeze"), "{pause}");
        // A dedicated node's line is what it always was.
        assert_eq!(
            fault_text("crash", "controller 4 (the active controller)"),
            "FAULT: controller 4 (the active controller) crashes (its page cache survives: nothing written is lost)"
        );
        assert!(!fault_text("pause", "broker 1").contains("Both roles"));
    }

    #[test]
    fn a_zookeeper_crash_is_not_told_as_a_brokers() {
        let crash = fault_text("crash", "zookeeper");
        assert!(crash.contains("no broker can read or write it"), "{crash}");
        assert!(!crash.contains("page cache"), "{crash}");
        let restart = fault_text("restart", "zookeeper");
        assert!(restart.contains("data and sessions from disk"), "{restart}");
        assert!(fault_text("crash", "broker 1").contains("page cache"));
    }

    fn no_names() -> Names {
        Names {
            producers: Vec::new(),
            consumers: Vec::new(),
            ..Names::default()
        }
    }

    #[test]
    fn clients_and_records_go_by_the_scenarios_names() {
        let names = Names {
            producers: vec!["m4".into()],
            consumers: vec!["reader".into()],
            ..Names::default()
        };
        let event = Event::RecordProcessed {
            consumer: 0,
            group: "g".into(),
            member: "reader-0.1".into(),
            generation: 2,
            tp: TopicPartition::new("orders", 0),
            offset: 7,
            record: RecordId {
                producer: 0,
                seq: 3,
            },
        };
        let (_, text) =
            narrate_event(&event, 10_000, None, &names, &LogWatch::default()).expect("narrated");
        assert_eq!(
            text,
            "consumer reader processes orders-0 offset 7 (m4#3, generation 2)"
        );
        let crashed = Event::ClientCrashed {
            node: NodeId::Consumer(0),
        };
        let (_, text) =
            narrate_event(&crashed, 10_000, None, &names, &LogWatch::default()).expect("narrated");
        assert_eq!(text, "consumer reader is gone (the process died)");
    }
}
