//! What a run reports: the outcome (counts, violations, expectations), the trace hash, the
//! partition table, and the narrated timeline.
//!
//! All of it is computed from the event record and the final state, never from the live
//! processes, so the same record always reports the same words and numbers.

use crate::check::groups::GroupOut;
use crate::check::isr::IsrTally;
use crate::check::liveness::LivenessInputs;
use crate::check::{self, CheckConfig, CheckReport, Invariant, Violation};
use crate::record::{FinalPartition, RecordedEvent};
use crate::scenario::Scenario;
use crate::stamp::BuildStamp;
use crate::world::{Livelock, RunResult};
use kafka_model::event::ElectionReason;
use kafka_model::{Event, RecordId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The narrated timeline, kept at its earlier path.

#[derive(Clone, Debug, Serialize)]
pub struct RecordCounts {
    pub sent: u64,
    pub acked: u64,
    /// Acknowledged records missing after the settle: `acked_lost_acks1 + acked_lost_acks_all`.
    pub acked_lost: u64,
    /// Of those, acknowledged with acks=1 (the leader alone had them).
    pub acked_lost_acks1: u64,
    /// Of those, acknowledged with acks=all (the ISR had them).
    pub acked_lost_acks_all: u64,
    /// Records sent by acks=0 producers and missing after the settle (no promise broken).
    pub lost_acks0: u64,
    /// Extra copies of records in the final leaders' logs: retried batches written twice.
    pub duplicated: u64,
    pub consumed: u64,
    pub committed_lost: u64,
    /// Records retention (`retention.ms`, `retention.bytes`) or DeleteRecords removed from
    /// the partition's leader before any consumer was handed them or any group processed
    /// them: what slow consumers lose. Absent when nothing was removed that way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_unread: Option<u64>,
    /// Records processed again by their group (at-least-once duplicates after a crash or a
    /// rebalance), over every group; absent when the scenario has no consumer group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redelivered: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ElectionCounts {
    pub clean: u64,
    pub unclean: u64,
}

/// ISR changes. `shrinks` is every shrink, whoever made it: the leader's (what Kafka's
/// `IsrShrinksPerSec` counts) plus the controller's removals of dead replicas, with or
/// without an election (see `check::isr`).
#[derive(Clone, Debug, Serialize)]
pub struct IsrCounts {
    pub shrinks: u64,
    pub shrinks_by_leader: u64,
    pub removed_by_controller: u64,
    pub expands: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ViolationOut {
    pub invariant: &'static str,
    /// When the invariant broke: for a lost record, when it was lost (`lost_at_ms`) if the
    /// record shows it, else when it was promised.
    pub at_ms: u64,
    pub partition: Option<String>,
    pub detail: String,
    /// For a lost record: when it was acknowledged or committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promised_at_ms: Option<u64>,
    /// For a lost record: the event after which the partition's leader never held it again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_at_ms: Option<u64>,
    /// That event in plain words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_by: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExpectOut {
    pub ok: bool,
    pub failures: Vec<String>,
}

/// The deterministic outcome of one run: the `--format json` object.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub scenario_hash: String,
    /// The schema version, the kafka-sim version and the build's source hash. `None` leaves
    /// them out of the JSON: the snapshots hold no stamp, so they stay the same from build to
    /// build.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildStamp>,
    pub seed: u64,
    pub sim_time_ms: u64,
    pub trace_hash: String,
    pub events: u64,
    pub records: RecordCounts,
    pub elections: ElectionCounts,
    pub isr: IsrCounts,
    pub violations: Vec<ViolationOut>,
    /// How many times each invariant broke (the list above keeps the first few per partition).
    pub violation_counts: BTreeMap<String, u64>,
    pub expect: ExpectOut,
    pub partitions: Vec<PartitionOut>,
    /// Consumer groups: counts and the `kafka-consumer-groups.sh --describe` numbers.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupOut>,
    /// Every transactional id: its coordinator's state at the end and what became of its
    /// transactions (see `crate::transactions`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transactions: Vec<crate::transactions::TransactionalIdOut>,
    /// Faults that did nothing at their time (a restart of a running broker, a resume of a
    /// process that is not paused, a heal with nothing to heal), in plain words: the file
    /// asks for something that did not happen.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Whether a violation's detail names a record (`NAME#S`): the text report explains
    /// the notation once.
    #[serde(skip)]
    pub names_records: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct PartitionOut {
    pub topic: String,
    pub partition: u32,
    pub leader: Option<i32>,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub replica_offsets: Vec<ReplicaOut>,
    /// How long the partition had no leader the rules allowed (`PartitionOffline` to the
    /// next election; see `availability`), over the whole run.
    pub offline_ms: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReplicaOut {
    pub broker: i32,
    pub log_end_offset: u64,
    pub high_watermark: u64,
    pub online: bool,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.expect.ok
    }

    /// The outcome as the snapshots hold it: pretty JSON without the build stamp.
    pub fn snapshot_json(&self) -> String {
        let unstamped = Outcome {
            build: None,
            ..self.clone()
        };
        serde_json::to_string_pretty(&unstamped).expect("an outcome serializes")
    }
}

/// FNV-1a, 64 bits: a stable hash with no dependence on the platform or the process.
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// Serializers write straight into the hash: no buffer per line.
impl std::io::Write for Fnv64 {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        Fnv64::write(self, bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One line of the JSONL trace: an event or a fault with its simulated time.
#[derive(Serialize)]
#[serde(untagged)]
pub enum TraceLine<'a> {
    Event {
        at_ms: u64,
        kind: &'static str,
        event: &'a Event,
    },
    Fault {
        at_ms: u64,
        kind: &'static str,
        action: &'a str,
        detail: &'a str,
    },
}

/// Events and faults merged in time order (faults first at equal times: they cause events).
pub fn trace_lines(result: &RunResult) -> Vec<TraceLine<'_>> {
    let mut lines = Vec::with_capacity(result.events.len() + result.faults.len());
    let mut faults = result.faults.iter().peekable();
    for e in &result.events {
        while let Some(f) = faults.next_if(|f| f.at_ms <= e.at_ms) {
            lines.push(TraceLine::Fault {
                at_ms: f.at_ms,
                kind: "fault",
                action: &f.action,
                detail: &f.detail,
            });
        }
        lines.push(TraceLine::Event {
            at_ms: e.at_ms,
            kind: e.event.kind(),
            event: &e.event,
        });
    }
    for f in faults {
        lines.push(TraceLine::Fault {
            at_ms: f.at_ms,
            kind: "fault",
            action: &f.action,
            detail: &f.detail,
        });
    }
    lines
}

/// The trace hash: FNV-1a over the JSON of every trace line.
pub fn trace_hash(result: &RunResult) -> u64 {
    let mut h = Fnv64::default();
    for line in trace_lines(result) {
        serde_json::to_writer(&mut h, &line).expect("events serialize");
        Fnv64::write(&mut h, b"\n");
    }
    h.finish()
}

/// The `livelock` finding: a node that went round without the simulated clock moving, which
/// no real process survives; the run stopped there.
fn livelock_violation(scenario: &Scenario, seed: u64, livelock: &Livelock) -> Violation {
    Violation {
        loss: None,
        invariant: Invariant::Livelock,
        at_ms: livelock.at_ms,
        partition: None,
        detail: format!(
            "{} took {} turns at t={} without the simulated clock moving; the run stopped there \
             (faults and the settle after it did not happen); replay: kafka-sim run {} --seed {seed}",
            livelock.node,
            livelock.turns,
            seconds(livelock.at_ms),
            scenario.path
        ),
    }
}

fn distinct_ids<'a>(ids: impl Iterator<Item = &'a RecordId>) -> u64 {
    ids.collect::<BTreeSet<_>>().len() as u64
}

/// Counts and checks a run, and evaluates the scenario's `[expect]`.
pub fn outcome(scenario: &Scenario, seed: u64, result: &RunResult) -> (Outcome, CheckReport) {
    let liveness = LivenessInputs::of(scenario, &result.faults);
    let mut report = check::check(
        &result.events,
        &result.final_state,
        &check_config(scenario, &result.faults),
        result.sim_time_ms,
        Some(&liveness),
    );
    if let Some(livelock) = &result.livelock {
        report
            .violations
            .push(livelock_violation(scenario, seed, livelock));
        *report.counts.entry(Invariant::Livelock).or_insert(0) += 1;
    }
    let tally = Tally::of(&result.events);
    let has_groups = scenario.consumers.iter().any(|c| c.group.is_some());
    let records = RecordCounts {
        sent: tally.sent,
        acked: distinct_ids(tally.acked.into_iter()),
        acked_lost: report.acked_lost.total(),
        acked_lost_acks1: report.acked_lost.acks1,
        acked_lost_acks_all: report.acked_lost.acks_all,
        lost_acks0: report.lost_acks0,
        duplicated: report.duplicated,
        consumed: distinct_ids(tally.consumed.into_iter()),
        committed_lost: report.committed_lost,
        expired_unread: report.expired_unread,
        redelivered: has_groups
            .then(|| report.groups.values().map(|g| g.records_redelivered).sum()),
    };
    let elections = ElectionCounts {
        clean: tally.clean,
        unclean: tally.unclean,
    };
    let isr_tally = IsrTally::of(result.events.iter().map(|e| &e.event));
    let isr = IsrCounts {
        shrinks: isr_tally.shrinks(),
        shrinks_by_leader: isr_tally.shrinks_by_leader,
        removed_by_controller: isr_tally.removed_by_controller,
        expands: isr_tally.expands,
    };
    let offline = crate::availability::offline_ms(
        result.events.iter().map(|e| (e.at_ms, &e.event)),
        result.sim_time_ms,
    );
    let producers: Vec<String> = scenario.producers.iter().map(|p| p.name.clone()).collect();
    let consumers = scenario.consumer_names();
    let mut names_records = false;
    let violations = report
        .violations
        .iter()
        .map(|v| {
            let mut out = violation_out(v);
            let (words, names_a_record) = in_scenario_words(&out.detail, &producers, &consumers);
            out.detail = words;
            names_records |= names_a_record;
            out
        })
        .collect();
    let counters = expect_counters(&records, &elections, &isr, &report);
    let failures = expect_failures(scenario, &counters, &report);
    let outcome = Outcome {
        scenario: scenario.name.clone(),
        scenario_hash: format!("{:016x}", scenario.hash()),
        build: Some(BuildStamp::current()),
        seed,
        sim_time_ms: result.sim_time_ms,
        trace_hash: format!("{:016x}", trace_hash(result)),
        events: result.events.len() as u64,
        records,
        elections,
        isr,
        violations,
        violation_counts: report
            .counts
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        expect: ExpectOut {
            ok: failures.is_empty(),
            failures,
        },
        partitions: result
            .final_state
            .partitions
            .iter()
            .map(|p| partition_out(p, offline.get(&p.tp).copied().unwrap_or(0)))
            .collect(),
        groups: report.groups.clone(),
        transactions: crate::transactions::summarize(&result.events),
        warnings: fault_warnings(result),
        names_records,
    };
    (outcome, report)
}

/// A violation's detail in the scenario's own words: the checkers name a record `pN#S` (the
/// producer's index in the file) and a consumer `consumer #N`; the report names them as the
/// file does, `shop#4` and `consumer billing-1`, as the narration does. Returns the words
/// and whether they name a record.
fn in_scenario_words(detail: &str, producers: &[String], consumers: &[String]) -> (String, bool) {
    let mut out = String::with_capacity(detail.len());
    let mut named_record = false;
    let mut rest = detail;
    while let Some((index, _)) = rest.char_indices().find(|(i, c)| {
        let starts_word = rest[..*i]
            .chars()
            .next_back()
            .is_none_or(|p| !(p.is_ascii_alphanumeric() || p == '_' || p == '-' || p == '#'));
        starts_word && (*c == 'p' || rest[*i..].starts_with("consumer #"))
    }) {
        out.push_str(&rest[..index]);
        let tail = &rest[index..];
        if let Some(after) = tail.strip_prefix("consumer #") {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            match after[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|n| consumers.get(n))
            {
                Some(name) => {
                    out.push_str("consumer ");
                    out.push_str(name);
                    rest = &after[digits..];
                }
                None => {
                    out.push_str("consumer #");
                    rest = after;
                }
            }
            continue;
        }
        let after = &tail[1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let seq_digits = after[digits..]
            .strip_prefix('#')
            .map_or(0, |s| s.bytes().take_while(u8::is_ascii_digit).count());
        let producer = after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|n| producers.get(n));
        match producer {
            Some(name) if seq_digits > 0 => {
                out.push_str(name);
                out.push('#');
                out.push_str(&after[digits + 1..digits + 1 + seq_digits]);
                rest = &after[digits + 1 + seq_digits..];
                named_record = true;
            }
            _ => {
                out.push('p');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, named_record)
}

/// One warning per fault that did nothing at its time.
pub fn fault_warnings(result: &RunResult) -> Vec<String> {
    result
        .faults
        .iter()
        .filter(|f| f.action == crate::world::NO_OP)
        .map(|f| {
            format!(
                "the fault at t={} does nothing: {}",
                seconds(f.at_ms),
                f.detail
            )
        })
        .collect()
}

/// What the checkers need from the scenario that the record does not carry.
fn check_config(scenario: &Scenario, faults: &[crate::record::FaultRecord]) -> CheckConfig {
    let consumer_names = scenario.consumer_names();
    CheckConfig {
        min_insync_replicas: scenario
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.config.min_insync_replicas))
            .collect(),
        default_min_insync_replicas: scenario.cluster.config.topic_defaults.min_insync_replicas,
        producer_acks: scenario.producers.iter().map(|p| p.config.acks).collect(),
        consumer_freezes: crate::check::groups::freezes_of(faults, &consumer_names),
        record_keys: record_keys(scenario),
        read_committed_consumers: scenario
            .consumers
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.config.isolation_level == kafka_model::protocol::IsolationLevel::ReadCommitted
            })
            .map(|(i, _)| i as u32)
            .collect(),
        processors: scenario
            .processors
            .iter()
            .map(|p| crate::check::exactly_once::ProcessorCheck {
                name: p.name.clone(),
                group_id: p.group_id.clone(),
                input: p.input.clone(),
                output: p.output.clone(),
                producer: p.producer as u32,
            })
            .collect(),
    }
}

/// How each producer of the scenario keys its records: a `sequence` lists each record's key
/// (record `seq` is entry `seq`), `keys` gives `k{seq % keys}` as the producer generates them;
/// a producer with neither writes keyless records.
fn record_keys(scenario: &Scenario) -> crate::check::RecordKeys {
    let mut keys = crate::check::RecordKeys::default();
    for (index, p) in scenario.producers.iter().enumerate() {
        if !p.sequence.is_empty() {
            let listed = p.sequence.iter().map(|r| r.key.clone()).collect();
            keys.insert(index as u32, crate::check::ProducerKeys::Listed(listed));
        } else if let Some(n) = p.keys.filter(|n| *n > 0) {
            keys.insert(index as u32, crate::check::ProducerKeys::Modulo(n));
        }
    }
    keys
}

/// What one pass over the event record counts.
#[derive(Default)]
struct Tally<'a> {
    sent: u64,
    acked: Vec<&'a RecordId>,
    consumed: Vec<&'a RecordId>,
    clean: u64,
    unclean: u64,
}

impl<'a> Tally<'a> {
    fn of(events: &'a [RecordedEvent]) -> Tally<'a> {
        let mut t = Tally::default();
        for e in events {
            match &e.event {
                Event::RecordSent { .. } => t.sent += 1,
                Event::Acknowledged { ids, .. } => t.acked.extend(ids.iter()),
                Event::Consumed { records, .. } => {
                    t.consumed.extend(records.iter().map(|(_, id)| id))
                }
                Event::LeaderElected {
                    unclean: u, reason, ..
                } if *reason != ElectionReason::NewPartition => {
                    if *u {
                        t.unclean += 1
                    } else {
                        t.clean += 1
                    }
                }
                _ => {}
            }
        }
        t
    }
}

/// The counters an `[expect]` block may bound, by name.
fn expect_counters(
    records: &RecordCounts,
    elections: &ElectionCounts,
    isr: &IsrCounts,
    report: &CheckReport,
) -> BTreeMap<String, u64> {
    [
        ("sent", records.sent),
        ("acked", records.acked),
        ("acked_lost", records.acked_lost),
        ("acked_lost_acks1", records.acked_lost_acks1),
        ("acked_lost_acks_all", records.acked_lost_acks_all),
        ("lost_acks0", records.lost_acks0),
        ("duplicated", records.duplicated),
        ("consumed", records.consumed),
        ("committed_lost", records.committed_lost),
        ("expired_unread", records.expired_unread.unwrap_or(0)),
        ("clean_elections", elections.clean),
        ("unclean_elections", elections.unclean),
        ("isr_shrinks", isr.shrinks),
        ("isr_shrinks_by_leader", isr.shrinks_by_leader),
        ("isr_removed_by_controller", isr.removed_by_controller),
        ("isr_expands", isr.expands),
        (
            "processed",
            report.groups.values().map(|g| g.records_processed).sum(),
        ),
        ("redelivered", records.redelivered.unwrap_or(0)),
        (
            "rebalances",
            report.groups.values().map(|g| g.rebalances).sum(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The scenario's `[expect]` against the run: every bound missed, and every broken invariant
/// the block does not name when it names none.
fn expect_failures(
    scenario: &Scenario,
    counters: &BTreeMap<String, u64>,
    report: &CheckReport,
) -> Vec<String> {
    let broken: BTreeSet<Invariant> = report.counts.keys().copied().collect();
    let mut failures = scenario.expect.check(counters, &broken);
    if scenario.expect.violations.is_none() {
        // No [expect] block at all (or an empty one): nothing may break.
        let no_block = scenario.expect.counters.is_empty();
        for v in &broken {
            failures.push(if no_block {
                format!(
                    "invariant {v} broke; no [expect] block, so any broken invariant fails the run"
                )
            } else {
                format!("invariant {v} broke, and the scenario's [expect] does not name it")
            });
        }
    }
    failures
}

/// One partition's final state as the outcome shows it.
pub(crate) fn partition_out(p: &FinalPartition, offline_ms: u64) -> PartitionOut {
    PartitionOut {
        topic: p.tp.topic.clone(),
        partition: p.tp.partition,
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        replicas: p.replicas.clone(),
        isr: p.isr.clone(),
        replica_offsets: p
            .replica_states
            .iter()
            .map(|r| ReplicaOut {
                broker: r.broker,
                log_end_offset: r.log_end_offset,
                high_watermark: r.high_watermark,
                online: r.online,
            })
            .collect(),
        offline_ms,
    }
}

fn violation_out(v: &Violation) -> ViolationOut {
    ViolationOut {
        invariant: v.invariant.name(),
        at_ms: v.at_ms,
        partition: v.partition.as_ref().map(|p| p.to_string()),
        detail: v.detail.clone(),
        promised_at_ms: v.loss.as_ref().map(|l| l.promised_at_ms),
        lost_at_ms: v.loss.as_ref().and_then(|l| l.lost_at_ms),
        lost_by: v.loss.as_ref().and_then(|l| l.lost_by.clone()),
    }
}

pub fn seconds(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

pub(crate) fn list(ids: &[i32]) -> String {
    ids.iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The text report: counts, violations, expectations, and the partition table.
/// The text report; the partition table leaves internal topics out unless `show_internal`.
pub fn render_text(o: &Outcome, show_internal: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "scenario {} (seed {})", o.scenario, o.seed);
    let _ = writeln!(
        s,
        "simulated {}, {} events, trace hash {}",
        seconds(o.sim_time_ms),
        o.events,
        o.trace_hash
    );
    let _ = writeln!(s);
    for w in &o.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    let r = &o.records;
    let _ = writeln!(
        s,
        "records:    {} sent, {} acknowledged, {} acknowledged but lost ({} acks=1, {} acks=all), {} consumed (fetched by a consumer, each record once), {} committed but lost",
        r.sent, r.acked, r.acked_lost, r.acked_lost_acks1, r.acked_lost_acks_all, r.consumed, r.committed_lost
    );
    if r.lost_acks0 > 0 {
        let _ = writeln!(
            s,
            "            {} sent with acks=0 and lost (acks=0 promises nothing)",
            r.lost_acks0
        );
    }
    if r.duplicated > 0 {
        let _ = writeln!(
            s,
            "            {} extra {} in the final logs: retried batches the leader had already written (a producer with enable.idempotence=false; an idempotent one's retries are recognised and not written again)",
            r.duplicated,
            if r.duplicated == 1 { "copy" } else { "copies" }
        );
    }
    if let Some(expired) = r.expired_unread {
        let _ = writeln!(
            s,
            "            {expired} removed by retention from the leader before any consumer read them (expired unread: what a consumer that falls behind retention.ms loses)"
        );
    }
    let _ = writeln!(
        s,
        "elections:  {} clean, {} unclean (initial leaders of new partitions not counted)",
        o.elections.clean, o.elections.unclean
    );
    let _ = writeln!(
        s,
        "ISR:        {} shrinks ({} by leaders, {} by the controller, for replicas on dead or shutting-down brokers), {} expands",
        o.isr.shrinks, o.isr.shrinks_by_leader, o.isr.removed_by_controller, o.isr.expands
    );
    for (name, g) in &o.groups {
        let unowned = g.partitions.iter().map(|p| p.unowned_ms).max().unwrap_or(0);
        let _ = writeln!(
            s,
            "group {name}: {} rebalances; {} records processed (each time the application finished one), {} of them a second time (redelivered); {} commits; a partition went at most {} with no member at work on it (unassigned, or its owner crashed or frozen)",
            g.rebalances,
            g.records_processed,
            g.records_redelivered,
            g.commits,
            seconds(unowned)
        );
        let resets = g.offset_resets_after_truncation + g.offset_resets_out_of_range;
        if resets > 0 {
            let _ = writeln!(
                s,
                "group {name}: {resets} commits went back after a reset the consumer must make ({} after a detected truncation, {} after OFFSET_OUT_OF_RANGE)",
                g.offset_resets_after_truncation, g.offset_resets_out_of_range
            );
        }
    }
    let _ = writeln!(s);
    if o.violations.is_empty() {
        let _ = writeln!(s, "invariants: none broke");
    } else {
        let counts = o
            .violation_counts
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(s, "invariants broken: {counts}");
        if o.names_records {
            let _ = writeln!(
                s,
                "  (NAME#S names a record: the one the producer NAME sent as number S, counting from 0)"
            );
        }
        let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
        for v in &o.violations {
            let n = shown.entry(v.invariant).or_insert(0);
            *n += 1;
            if *n > 3 {
                continue;
            }
            let when = match (v.promised_at_ms, v.lost_at_ms, &v.lost_by) {
                (Some(promised), Some(lost), Some(by)) => format!(
                    "promised at t={}, lost at t={} ({by})",
                    seconds(promised),
                    seconds(lost)
                ),
                (Some(promised), _, _) => format!("promised at t={}", seconds(promised)),
                _ => format!("at t={}", seconds(v.at_ms)),
            };
            let _ = writeln!(
                s,
                "  {} on {}, {when}: {}",
                v.invariant,
                v.partition.as_deref().unwrap_or("-"),
                v.detail
            );
        }
        for (inv, n) in shown {
            let total = o.violation_counts.get(inv).copied().unwrap_or(0);
            let listed = n.min(3) as u64;
            if total > listed {
                let _ = writeln!(s, "  ... and {} more {inv}", total - listed);
            }
        }
    }
    if o.expect.ok {
        let _ = writeln!(s, "expectations: all held");
    } else {
        let _ = writeln!(s, "expectations: FAILED");
        for f in &o.expect.failures {
            let _ = writeln!(s, "  - {f}");
        }
    }
    let _ = writeln!(s);
    s.push_str(&partition_table(o, show_internal));
    s
}

/// Kafka's internal topics (`Topic.isInternal`'s names start with `__`).
fn is_internal(topic: &str) -> bool {
    topic.starts_with("__")
}

/// The table `kafka-topics.sh --describe` prints, with each replica's LEO and HW beside it.
/// Internal topics (`__consumer_offsets`, 50 partitions by default) are left out unless
/// `show_internal`, with a line that says how many rows that saves.
pub fn partition_table(o: &Outcome, show_internal: bool) -> String {
    partitions_table(&o.partitions, show_internal)
}

/// The `kafka-topics.sh --describe` table of these partitions, with each replica's LEO and
/// HW.
pub fn partitions_table(partitions: &[PartitionOut], show_internal: bool) -> String {
    let mut rows = vec![[
        "Topic".to_string(),
        "Partition".into(),
        "Leader".into(),
        "Epoch".into(),
        "Replicas".into(),
        "Isr".into(),
        "LEO/HW per replica".into(),
    ]];
    let mut hidden: BTreeMap<&str, usize> = BTreeMap::new();
    for p in partitions {
        if !show_internal && is_internal(&p.topic) {
            *hidden.entry(p.topic.as_str()).or_insert(0) += 1;
            continue;
        }
        let offsets = p
            .replica_offsets
            .iter()
            .map(|r| {
                format!(
                    "{}:{}/{}{}",
                    r.broker,
                    r.log_end_offset,
                    r.high_watermark,
                    if r.online { "" } else { " (down)" }
                )
            })
            .collect::<Vec<_>>()
            .join("  ");
        rows.push([
            p.topic.clone(),
            p.partition.to_string(),
            p.leader.map_or("none".into(), |l| l.to_string()),
            p.leader_epoch.to_string(),
            list(&p.replicas),
            list(&p.isr),
            offsets,
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for row in rows {
        let line = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:<w$}", c, w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ");
        let _ = writeln!(s, "{}", line.trim_end());
    }
    if !hidden.is_empty() {
        let topics: Vec<String> = hidden
            .iter()
            .map(|(topic, n)| format!("{topic} ({n} partitions)"))
            .collect();
        let _ = writeln!(
            s,
            "(internal topics not listed: {}; --describe-internal lists them)",
            topics.join(", ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_consumers_go_by_the_scenarios_names() {
        let producers = vec!["shop".to_string(), "m4".to_string()];
        let consumers = vec!["billing-1".to_string()];
        let words = |d: &str| in_scenario_words(d, &producers, &consumers);
        assert_eq!(
            words("record p0#399 (batch epoch 0) at offset 399, and p1#7 there instead"),
            (
                "record shop#399 (batch epoch 0) at offset 399, and m4#7 there instead".to_string(),
                true
            )
        );
        assert_eq!(
            words("consumer #0 read p1#2 at offset 5"),
            ("consumer billing-1 read m4#2 at offset 5".to_string(), true)
        );
        // Not records: no such producer, no number, a word that merely holds a `p`.
        for detail in [
            "the partition has no leader at the end",
            "group billing commits orders-0=16",
            "p#3 and px#1 and up0#1 and p9#1 and consumer #7",
        ] {
            assert_eq!(words(detail), (detail.to_string(), false), "{detail}");
        }
    }
}
