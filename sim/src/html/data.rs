//! The data the page embeds, as serde structs: what the script draws and what the time
//! cursor shows.
//!
//! Every collection here is a `Vec` filled in a fixed order (event order, the final state's
//! partition order, the scenario's consumer order), so the JSON of one run is the same bytes
//! every time. Times are simulated milliseconds (`_ms`) and offsets are Kafka offsets;
//! nothing is a float, so no formatting of a float can differ from build to build.

use serde::Serialize;

/// The whole page: one run, or two runs of a what-if on one time axis.
#[derive(Serialize)]
pub struct Page {
    /// The page's title (also `document.title`).
    pub title: String,
    /// For a pair: the `KEY=VALUE` changes that make the second run; empty for one run.
    pub changes: Vec<Change>,
    /// For a pair: where the two records first differ.
    pub first_divergence_ms: Option<u64>,
    /// The right end of the shared time axis: the longest run's simulated time.
    pub end_ms: u64,
    pub runs: Vec<RunData>,
}

#[derive(Serialize)]
pub struct Change {
    pub key: String,
    pub value: String,
}

/// One run: its summary, its narrated timeline, its panels and its sampled describe tables.
#[derive(Serialize)]
pub struct RunData {
    /// `run` for a page of one run; `base` and `changed` for a pair.
    pub label: String,
    pub scenario: String,
    /// The scenario's teaching comment.
    pub description: String,
    pub seed: u64,
    pub sim_time_ms: u64,
    pub events: u64,
    pub trace_hash: String,
    pub summary: Summary,
    /// The violations the outcome lists, in its order, each with its moment.
    pub violations: Vec<ViolationLink>,
    /// Per invariant, how many broke beyond those listed.
    pub unlisted_violations: Vec<(String, u64)>,
    pub timeline: Vec<TimelineLine>,
    pub partitions: Vec<PartitionPanel>,
    /// Internal topics left out of the panels and the table, with their partition counts.
    pub internal_hidden: Vec<(String, u32)>,
    /// Partitions left out because the run has more than `PANELS_MAX`: those with the
    /// least happening.
    pub quiet_hidden: u32,
    pub groups: Vec<GroupPanel>,
    pub faults: Vec<FaultSpan>,
    /// The describe tables at every moment the cursor can stop at, in time order.
    pub samples: Vec<Sample>,
}

/// The outcome's counts and the `[expect]` verdict.
#[derive(Serialize)]
pub struct Summary {
    pub sent: u64,
    pub acked: u64,
    pub acked_lost: u64,
    pub acked_lost_acks1: u64,
    pub acked_lost_acks_all: u64,
    pub lost_acks0: u64,
    pub committed_lost: u64,
    pub consumed: u64,
    pub duplicated: u64,
    pub clean_elections: u64,
    pub unclean_elections: u64,
    pub isr_shrinks: u64,
    pub isr_expands: u64,
    pub expect_ok: bool,
    pub expect_failures: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Serialize)]
pub struct ViolationLink {
    pub invariant: String,
    pub at_ms: u64,
    pub partition: Option<String>,
    pub detail: String,
}

/// One narrated line and the time it starts with.
#[derive(Serialize)]
pub struct TimelineLine {
    pub at_ms: u64,
    pub text: String,
}

/// One partition's panel: a lane per replica, and what happened to the partition as a whole.
#[derive(Serialize)]
pub struct PartitionPanel {
    /// `topic-N`.
    pub name: String,
    pub topic: String,
    pub partition: u32,
    /// The assignment; the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// The largest LEO any replica reached: the top of every lane.
    pub max_offset: u64,
    /// One per replica, in assignment order.
    pub lanes: Vec<ReplicaLane>,
    pub elections: Vec<ElectionMark>,
    pub losses: Vec<LossMark>,
}

/// One replica over the run.
#[derive(Serialize)]
pub struct ReplicaLane {
    pub broker: i32,
    /// `[at_ms, LEO, HW]` wherever either changed, merged for drawing (see `thin`).
    pub points: Vec<[u64; 3]>,
    /// `[from_ms, to_ms]` while the replica was in the ISR.
    pub isr_spans: Vec<[u64; 2]>,
    /// While the controller had this replica as leader, one span per leader epoch.
    pub lead_spans: Vec<LeadSpan>,
    pub truncations: Vec<TruncationMark>,
}

#[derive(Serialize)]
pub struct LeadSpan {
    pub from_ms: u64,
    pub to_ms: u64,
    pub leader_epoch: i32,
}

#[derive(Serialize)]
pub struct TruncationMark {
    pub at_ms: u64,
    pub from_offset: u64,
    pub to_offset: u64,
    /// Why, in a few words.
    pub reason: String,
}

/// A controller election (`LeaderElected`), or the partition going offline.
#[derive(Serialize)]
pub struct ElectionMark {
    pub at_ms: u64,
    pub leader: Option<i32>,
    pub leader_epoch: i32,
    pub unclean: bool,
    /// `new-partition`, `leader-failed`, ... or `offline` for a `PartitionOffline`.
    pub reason: String,
    pub isr: Vec<i32>,
}

/// Acknowledged records that were later lost, grouped by the moment and cause of the loss.
#[derive(Serialize)]
pub struct LossMark {
    /// When the partition's leader stopped holding them for good (`check::loss`); the end
    /// of the run when the record shows no such moment.
    pub at_ms: u64,
    pub count: u64,
    pub first_offset: u64,
    pub last_offset: u64,
    /// When the first and the last of them were acknowledged.
    pub first_promised_ms: u64,
    pub last_promised_ms: u64,
    pub by: String,
}

/// A fault from `RunResult::faults` as a span: from the fault to what ended it.
#[derive(Serialize)]
pub struct FaultSpan {
    pub from_ms: u64,
    /// The fault that ended it (restart, heal, resume, settle), or the end of the run; equal
    /// to `from_ms` for a fault that is one instant (a settle, a preferred election).
    pub to_ms: u64,
    pub action: String,
    pub detail: String,
    /// The brokers whose lanes it spans; empty with `whole` when the fault is not one of a
    /// broker's (ZooKeeper, a client, the whole network, the settle).
    pub brokers: Vec<i32>,
    pub whole: bool,
    /// For a fault of a client process: `producer NAME` or `consumer NAME`. A partition's
    /// panel marks it above its lanes, a group's panel on that consumer's lane.
    pub client: Option<String>,
    /// What ended it, if anything did.
    pub ended_by: Option<String>,
}

/// A consumer group's panel: a lane per member process of the scenario.
#[derive(Serialize)]
pub struct GroupPanel {
    pub group: String,
    pub members: Vec<MemberLane>,
    /// `GenerationStarted`: a new generation, and how many members it has.
    pub generations: Vec<GenerationMark>,
    /// `RebalanceStarted`.
    pub rebalances: Vec<u64>,
}

#[derive(Serialize)]
pub struct MemberLane {
    /// The consumer's name in the scenario.
    pub consumer: String,
    /// What it owned (`PartitionsAssigned`, `PartitionsRevoked`), one span per set.
    pub spans: Vec<OwnedSpan>,
    /// Its commits (`OffsetsCommitted`), merged for drawing.
    pub commits: Vec<CommitMark>,
}

#[derive(Serialize)]
pub struct OwnedSpan {
    pub from_ms: u64,
    pub to_ms: u64,
    pub generation: i32,
    pub partitions: Vec<String>,
}

#[derive(Serialize)]
pub struct CommitMark {
    pub at_ms: u64,
    /// How many commits this mark stands for (merged when there are many).
    pub commits: u64,
    /// The last of them: `[partition, offset]`.
    pub offsets: Vec<(String, u64)>,
}

#[derive(Serialize)]
pub struct GenerationMark {
    pub at_ms: u64,
    pub generation: i32,
    pub members: u32,
}

/// The state at one moment: a row of `kafka-topics.sh --describe` per panel partition (in
/// panel order), and each group's members and committed offsets.
#[derive(Serialize)]
pub struct Sample {
    pub at_ms: u64,
    pub rows: Vec<DescribeRow>,
    pub groups: Vec<GroupRow>,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct DescribeRow {
    pub leader: Option<i32>,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    /// Per replica in assignment order: `[LEO, HW, online (1) or down (0)]`.
    pub replicas: Vec<[u64; 3]>,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct GroupRow {
    /// Per member lane: the partitions it owns then.
    pub owned: Vec<Vec<String>>,
    /// The group's latest committed offset per partition.
    pub committed: Vec<(String, u64)>,
}
