//! A replica of the `__cluster_metadata` log under KIP-595 Raft, as Kafka 3.7–4.x runs it
//! (`KafkaRaftClient` with `QuorumState` and its states `UnattachedState`,
//! `ProspectiveState`, `CandidateState`, `LeaderState`, `FollowerState`, `ResignedState`).
//!
//! Why it looks like this:
//! - It is a pure state machine, like every process of the model (see `crate::actor`): the
//!   host hands it the time, a message or a timer, and it fills a [`RaftOutput`]. Its only
//!   randomness (the election timeout jitter and the election backoff) comes from a
//!   `ChaCha8Rng` seeded by the host, so a run is a function of its seed.
//! - It is generic over the payload `P`: the quorum never looks inside the records it
//!   replicates. The controller's metadata records plug in later; a broker uses the same
//!   type as an observer (any id outside the voter set) to follow the log.
//! - What survives a crash is a [`RaftDisk`] the host keeps: the log (only its flushed part)
//!   and `quorum-state`. Voters fsync each fetched batch before the next Fetch and the
//!   leader flushes on append, so a voter's fetch offset, which is what the commit rule
//!   counts, is always on disk; observers (brokers) do not flush.
//! - Timers cannot be cancelled: each carries the generation of the state that set it (a
//!   transition makes every older timer stale) and the time it was set for. A state keeps
//!   its deadlines; a timer that fires before its deadline was moved later re-arms, so a
//!   fetch timeout reset on every fetch does not cost a timer per fetch.
//!
//! Versions ([`QuorumConfig`]): check quorum from 3.7 (KAFKA-15489), pre-vote from 4.0
//! (KIP-996). Up to 3.8 Kafka had a separate Voted state; here, as in 3.9, it is Unattached
//! with a vote.
//!
//! Snapshots (KIP-630): the host writes one of the state it built from committed records
//! ([`RaftReplica::create_snapshot`]); every 60 s the replica cleans its log
//! (`RaftMetadataLogCleanerManager`), and once a snapshot is older than
//! `metadata.max.retention.ms` and a newer one exists, the log start moves up to the newer
//! one. A Fetch below the leader's log start is answered with the latest snapshot's id and
//! the fetcher downloads it with `FetchSnapshot`; the host then loads it before any record
//! after it ([`Committed::snapshot`]).
//!
//! Left out: `append.linger.ms` (the leader appends and flushes each `append` at once, as
//! with linger 0), `metadata.max.retention.bytes` (sizes of metadata records are not
//! modelled; its 100 MiB default is far beyond any simulated log), snapshot slices (a
//! snapshot travels in one answer), dynamic quorums (KIP-853: the voter set is fixed at
//! construction), bootstrap-server discovery (an observer that knows no leader asks the
//! voters in turn), cluster ids and directory ids.

mod log;
mod messages;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;

pub use log::{
    ElectionState, Entry, EntryBody, FetchPosition, RaftDisk, RaftLog, Snapshot, SnapshotId,
};
pub use messages::{
    FetchResponse, RaftError, RaftEvent, RaftMessage, RaftOutput, RaftTimer, ResignReason,
    TimerKind,
};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Debug};

/// A node's `node.id`.
pub type RaftNodeId = i32;

/// The id the broker role of a combined node (`process.roles=broker,controller`) follows the
/// metadata log under: outside the voter set, and never a real `node.id` (those are 0 to
/// `i32::MAX`).
///
/// Kafka runs one `KafkaRaftClient` per process (`SharedServer.raftManager`): a combined
/// node's broker reads the committed log of the voter it shares the JVM with. The model
/// keeps the broker and the controller as two state machines, so the broker role follows
/// the log as an observer of its own; it must not speak under the voter's id, or the leader
/// would count the observer's fetch offset as the voter's and the broker would believe
/// itself a voter.
pub fn combined_broker_observer_id(node: RaftNodeId) -> RaftNodeId {
    assert!(node >= 0, "a node.id is never negative: {node}");
    -1 - node
}

/// The broker whose observer speaks under `raft_id` ([`combined_broker_observer_id`] undone
/// for a combined node's broker role, the id itself for a dedicated broker).
pub fn broker_of_observer(raft_id: RaftNodeId) -> RaftNodeId {
    match raft_id < 0 {
        true => -1 - raft_id,
        false => raft_id,
    }
}

/// A Raft epoch of the metadata log (Kafka's leader epoch of `__cluster_metadata`).
pub type RaftEpoch = i32;

/// `RETRY_BACKOFF_BASE_MS` in `KafkaRaftClient`: the unit of election backoffs.
pub const RETRY_BACKOFF_BASE_MS: u64 = 100;

/// The quorum's settings (Kafka's `QuorumConfig`), with the version switches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumConfig {
    /// `controller.quorum.election.timeout.ms`; the timer is this plus a jitter in
    /// `[0, this)`.
    pub election_timeout_ms: u64,
    /// `controller.quorum.fetch.timeout.ms`.
    pub fetch_timeout_ms: u64,
    /// `controller.quorum.election.backoff.max.ms`.
    pub election_backoff_max_ms: u64,
    /// `controller.quorum.request.timeout.ms`: a Fetch unanswered this long is sent again.
    pub request_timeout_ms: u64,
    /// `controller.quorum.retry.backoff.ms`: the wait before a Fetch after an error.
    pub retry_backoff_ms: u64,
    /// How long the leader parks a Fetch with nothing new (`MAX_FETCH_WAIT_MS`).
    pub fetch_max_wait_ms: u64,
    /// At most this many entries in one FetchResponse (Kafka caps bytes,
    /// `MAX_FETCH_SIZE_BYTES`).
    pub fetch_max_entries: usize,
    /// A leader resigns without Fetches from a majority (KAFKA-15489, 3.7.0).
    pub check_quorum: bool,
    /// Prospective state and pre-votes before candidacy (KIP-996, 4.0.0).
    pub pre_vote: bool,
    /// A fetcher with an empty log gets the latest snapshot (KAFKA-16532, 3.9.0).
    pub snapshot_for_empty_fetcher: bool,
    /// `metadata.max.retention.ms` (7 days): a snapshot older than this goes, with the log
    /// below the next snapshot, when a newer one exists. `None` is -1: kept forever.
    pub metadata_max_retention_ms: Option<u64>,
    /// How often the log is cleaned: Kafka's `RaftMetadataLogCleanerManager` runs once a
    /// minute ([`LOG_CLEAN_INTERVAL_MS`]; not a config, tests shorten it).
    pub log_clean_interval_ms: u64,
}

/// `RaftMetadataLogCleanerManager`'s period: the log is cleaned at most once a minute.
pub const LOG_CLEAN_INTERVAL_MS: u64 = 60_000;

/// `metadata.max.retention.ms`'s default: 7 days.
pub const DEFAULT_METADATA_MAX_RETENTION_MS: u64 = 7 * 24 * 3_600_000;

impl QuorumConfig {
    /// Kafka 3.3–3.6: no check quorum, no pre-vote.
    pub fn kafka_3_6() -> Self {
        QuorumConfig {
            election_timeout_ms: 1000,
            fetch_timeout_ms: 2000,
            election_backoff_max_ms: 1000,
            request_timeout_ms: 2000,
            retry_backoff_ms: 20,
            fetch_max_wait_ms: 500,
            fetch_max_entries: 1000,
            check_quorum: false,
            pre_vote: false,
            snapshot_for_empty_fetcher: false,
            metadata_max_retention_ms: Some(DEFAULT_METADATA_MAX_RETENTION_MS),
            log_clean_interval_ms: LOG_CLEAN_INTERVAL_MS,
        }
    }

    /// Kafka 3.7–3.9: check quorum, no pre-vote.
    pub fn kafka_3_7() -> Self {
        QuorumConfig {
            check_quorum: true,
            ..QuorumConfig::kafka_3_6()
        }
    }

    /// Kafka 4.x: check quorum, pre-vote and a snapshot for an empty fetcher.
    pub fn kafka_4_0() -> Self {
        QuorumConfig {
            pre_vote: true,
            snapshot_for_empty_fetcher: true,
            ..QuorumConfig::kafka_3_7()
        }
    }

    /// The settings of a release: pre-vote from 4.0 (KIP-996), a snapshot for an empty
    /// fetcher from 3.9 (KAFKA-16532), check quorum from 3.7 (KAFKA-15489).
    pub fn for_version(version: crate::kafka_version::KafkaVersion) -> Self {
        let since = |v: &str| {
            version >= crate::kafka_version::KafkaVersion::parse(v).expect("a known release")
        };
        let config = if version.has_pre_vote() {
            QuorumConfig::kafka_4_0()
        } else if since("3.7.0") {
            QuorumConfig::kafka_3_7()
        } else {
            QuorumConfig::kafka_3_6()
        };
        QuorumConfig {
            snapshot_for_empty_fetcher: since("3.9.0"),
            ..config
        }
    }

    /// `CHECK_QUORUM_TIMEOUT_FACTOR` (1.5) × the fetch timeout.
    pub fn check_quorum_timeout_ms(&self) -> u64 {
        self.fetch_timeout_ms * 3 / 2
    }

    /// `beginQuorumEpochTimeoutMs`: half the fetch timeout.
    pub fn begin_quorum_epoch_timeout_ms(&self) -> u64 {
        self.fetch_timeout_ms / 2
    }
}

impl Default for QuorumConfig {
    fn default() -> Self {
        QuorumConfig::kafka_4_0()
    }
}

/// The state a replica is in, for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RaftRole {
    Unattached,
    Prospective,
    Candidate,
    Leader,
    Follower,
    Resigned,
}

impl fmt::Display for RaftRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            RaftRole::Unattached => "unattached",
            RaftRole::Prospective => "prospective",
            RaftRole::Candidate => "candidate",
            RaftRole::Leader => "leader",
            RaftRole::Follower => "follower",
            RaftRole::Resigned => "resigned",
        };
        f.write_str(name)
    }
}

/// `append` on a replica that is not the leader (Kafka's `NotLeaderException`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotLeader {
    pub epoch: RaftEpoch,
    pub leader: Option<RaftNodeId>,
}

/// A pre-vote round (`ProspectiveState`): the epoch does not move and nothing is persisted.
#[derive(Clone, Debug)]
struct Prospective {
    /// The vote this replica cast in the epoch, if any.
    voted: Option<RaftNodeId>,
    /// The leader it followed before, if any: it goes back to it on losing.
    leader: Option<RaftNodeId>,
    retries: u32,
    granted: BTreeSet<RaftNodeId>,
    rejected: BTreeSet<RaftNodeId>,
}

/// `CandidateState`.
#[derive(Clone, Debug)]
struct Candidate {
    /// 1 for a first candidacy, one more for each retry in a row.
    retries: u32,
    granted: BTreeSet<RaftNodeId>,
    rejected: BTreeSet<RaftNodeId>,
    backing_off: bool,
}

/// `FollowerState` (voter or observer).
#[derive(Clone, Debug)]
struct Follower {
    leader: RaftNodeId,
    /// Whether a Fetch to the leader succeeded in this epoch (a pre-vote is granted only
    /// before).
    fetched_from_leader: bool,
    /// Where Fetches go: the leader, or for an observer whose fetch timed out, a voter
    /// asked who leads.
    fetch_target: RaftNodeId,
    /// The snapshot the leader sent this replica to download (`FollowerState.fetchingSnapshot`):
    /// while set, FetchSnapshot goes out instead of Fetch.
    fetching_snapshot: Option<SnapshotId>,
}

/// A Fetch with nothing new, parked until data, a HW change or `fetch_max_wait_ms`.
#[derive(Clone, Copy, Debug)]
struct ParkedFetch {
    fetch_offset: u64,
    correlation_id: u64,
}

/// `LeaderState`.
#[derive(Clone, Debug)]
struct Leader {
    /// The log end when the epoch began: the HW moves only past it.
    epoch_start_offset: u64,
    /// Each other voter's last fetch offset (its log end, on disk), `None` before it fetched.
    voter_end_offsets: BTreeMap<RaftNodeId, Option<u64>>,
    observer_end_offsets: BTreeMap<RaftNodeId, u64>,
    /// `None` until a majority has an entry of this epoch (Kafka's empty HW, sent as -1).
    high_watermark: Option<u64>,
    /// Voters that answered BeginQuorumEpoch or fetched: no more BeginQuorumEpoch for them.
    acknowledged: BTreeSet<RaftNodeId>,
    /// Voters that fetched since the check-quorum timer was last reset.
    fetched_since_check: BTreeSet<RaftNodeId>,
    parked: BTreeMap<RaftNodeId, ParkedFetch>,
}

/// `ResignedState`: a leader that stepped down, still the leader of record of its epoch.
#[derive(Clone, Debug)]
struct Resigned {
    unacknowledged: BTreeSet<RaftNodeId>,
    preferred_successors: Vec<RaftNodeId>,
}

#[derive(Clone, Debug)]
enum State {
    Unattached { voted: Option<RaftNodeId> },
    Prospective(Prospective),
    Candidate(Candidate),
    Leader(Leader),
    Follower(Follower),
    Resigned(Resigned),
}

/// A state's deadlines and the timers standing for them.
#[derive(Clone, Debug, Default)]
struct Deadlines {
    generation: u64,
    deadline_ms: BTreeMap<TimerKind, u64>,
    /// `(kind, at_ms)` of timers set in this generation that have not fired yet.
    pending: BTreeSet<(TimerKind, u64)>,
}

impl Deadlines {
    /// A new state: every timer set so far is stale.
    fn reset(&mut self) {
        self.generation += 1;
        self.deadline_ms.clear();
        self.pending.clear();
    }

    fn set<P>(&mut self, kind: TimerKind, now_ms: u64, delay_ms: u64, out: &mut RaftOutput<P>) {
        let at_ms = now_ms + delay_ms;
        self.deadline_ms.insert(kind, at_ms);
        self.arm(kind, now_ms, at_ms, out);
    }

    /// Makes sure a timer fires no later than `at_ms`.
    fn arm<P>(&mut self, kind: TimerKind, now_ms: u64, at_ms: u64, out: &mut RaftOutput<P>) {
        if self
            .pending
            .range((kind, 0)..=(kind, at_ms))
            .next()
            .is_none()
        {
            self.pending.insert((kind, at_ms));
            let timer = RaftTimer {
                kind,
                generation: self.generation,
                at_ms,
            };
            out.timers.push((at_ms - now_ms, timer));
        }
    }

    fn clear(&mut self, kind: TimerKind) {
        self.deadline_ms.remove(&kind);
    }

    /// A timer fired: whether its deadline is reached (the deadline is then gone).
    fn fire<P>(&mut self, timer: RaftTimer, now_ms: u64, out: &mut RaftOutput<P>) -> bool {
        if timer.generation != self.generation {
            return false;
        }
        self.pending.remove(&(timer.kind, timer.at_ms));
        let Some(&deadline_ms) = self.deadline_ms.get(&timer.kind) else {
            return false;
        };
        if now_ms >= deadline_ms {
            self.deadline_ms.remove(&timer.kind);
            return true;
        }
        self.arm(timer.kind, now_ms, deadline_ms, out);
        false
    }
}

/// One replica of the metadata log: a voter (controller) or an observer (broker).
#[derive(Clone, Debug)]
pub struct RaftReplica<P> {
    id: RaftNodeId,
    voters: BTreeSet<RaftNodeId>,
    config: QuorumConfig,
    disk: RaftDisk<P>,
    rng: ChaCha8Rng,
    state: State,
    /// Never decreases while the process runs; 0 (unknown) after a restart, as in Kafka.
    high_watermark: u64,
    /// Entries below this were handed to the host by `take_committed`; `None` until the
    /// first hand-over (Kafka's `STARTING_NEXT_OFFSET`: a new listener is given the latest
    /// snapshot first).
    delivered_end_offset: Option<u64>,
    /// When the log is next cleaned (`RaftMetadataLogCleanerManager`'s timer, checked on
    /// every input as `KafkaRaftClient.poll` does).
    next_clean_ms: Option<u64>,
    deadlines: Deadlines,
    /// The Fetch in flight: to whom, with which correlation id.
    in_flight_fetch: Option<(RaftNodeId, u64)>,
    next_correlation_id: u64,
    /// Rotates the voters an observer without a leader asks.
    discovery_cursor: usize,
}

/// What [`RaftReplica::take_committed`] hands the host: a snapshot to load first, if any,
/// then the committed entries after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Committed<P> {
    pub snapshot: Option<Snapshot<P>>,
    pub entries: Vec<(u64, Entry<P>)>,
}

impl<P> Committed<P> {
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.entries.is_empty()
    }
}

impl<P: Clone + Debug + PartialEq> RaftReplica<P> {
    /// A replica starting (or restarting) from `disk`; `seed` seeds its randomness. Call
    /// [`start`](Self::start) before anything else.
    pub fn new(
        id: RaftNodeId,
        voters: impl IntoIterator<Item = RaftNodeId>,
        config: QuorumConfig,
        disk: RaftDisk<P>,
        seed: u64,
    ) -> Self {
        let voters: BTreeSet<RaftNodeId> = voters.into_iter().collect();
        assert!(!voters.is_empty(), "a quorum needs voters");
        RaftReplica {
            id,
            voters,
            config,
            disk,
            rng: ChaCha8Rng::seed_from_u64(seed),
            state: State::Unattached { voted: None },
            high_watermark: 0,
            delivered_end_offset: None,
            next_clean_ms: None,
            deadlines: Deadlines::default(),
            in_flight_fetch: None,
            next_correlation_id: 0,
            discovery_cursor: 0,
        }
    }

    // Accessors
    // ------------------------------------------------------------------------------------

    pub fn id(&self) -> RaftNodeId {
        self.id
    }

    pub fn is_voter(&self) -> bool {
        self.voters.contains(&self.id)
    }

    pub fn voters(&self) -> &BTreeSet<RaftNodeId> {
        &self.voters
    }

    /// The current epoch: always the persisted one.
    pub fn epoch(&self) -> RaftEpoch {
        self.disk.quorum_state.epoch
    }

    pub fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    pub fn log(&self) -> &RaftLog<P> {
        &self.disk.log
    }

    pub fn disk(&self) -> &RaftDisk<P> {
        &self.disk
    }

    pub fn into_disk(self) -> RaftDisk<P> {
        self.disk
    }

    pub fn role(&self) -> RaftRole {
        match self.state {
            State::Unattached { .. } => RaftRole::Unattached,
            State::Prospective(_) => RaftRole::Prospective,
            State::Candidate(_) => RaftRole::Candidate,
            State::Leader(_) => RaftRole::Leader,
            State::Follower(_) => RaftRole::Follower,
            State::Resigned(_) => RaftRole::Resigned,
        }
    }

    /// The leader known for the current epoch (a Resigned replica still names itself, as
    /// Kafka's `ResignedState` does).
    pub fn leader(&self) -> Option<(RaftNodeId, RaftEpoch)> {
        let leader = match &self.state {
            State::Leader(_) | State::Resigned(_) => Some(self.id),
            State::Follower(f) => Some(f.leader),
            State::Prospective(p) => p.leader,
            State::Unattached { .. } | State::Candidate(_) => None,
        };
        leader.map(|l| (l, self.epoch()))
    }

    fn leader_id(&self) -> Option<RaftNodeId> {
        self.leader().map(|(l, _)| l)
    }

    /// A leader's HW once a majority holds an entry of its epoch (Kafka sends -1 before).
    pub fn leader_high_watermark(&self) -> Option<u64> {
        match &self.state {
            State::Leader(leader) => leader.high_watermark,
            _ => None,
        }
    }

    /// The vote cast in the current epoch.
    pub fn voted(&self) -> Option<RaftNodeId> {
        self.disk.quorum_state.voted
    }

    /// What is committed and not handed out yet (`KafkaRaftClient.updateListenersProgress`):
    /// first the latest snapshot, for a new listener (after a start or restart) or one whose
    /// next offset the log no longer holds (`handleLoadSnapshot`), then the entries up to
    /// the high watermark with their offsets (`handleCommit`). Nothing until the high
    /// watermark is known.
    pub fn take_committed(&mut self) -> Committed<P> {
        let hw = self.high_watermark;
        let log = &self.disk.log;
        let mut committed = Committed {
            snapshot: None,
            entries: Vec::new(),
        };
        if hw == 0 || self.delivered_end_offset.is_some_and(|next| next >= hw) {
            return committed;
        }
        let behind_log = self
            .delivered_end_offset
            .is_none_or(|next| next < log.log_start_offset());
        let mut next = self.delivered_end_offset.unwrap_or(0);
        if behind_log {
            if let Some(snapshot) = log.latest_snapshot() {
                assert!(
                    snapshot.id.end_offset <= hw,
                    "replica {}: snapshot {:?} past the high watermark {hw}",
                    self.id,
                    snapshot.id
                );
                next = snapshot.id.end_offset;
                committed.snapshot = Some(snapshot.clone());
            }
        }
        assert!(
            next >= log.log_start_offset(),
            "replica {}: the listener needs offset {next}, below the log start {} with no snapshot",
            self.id,
            log.log_start_offset()
        );
        committed.entries = (next..hw).zip(log.read(next, hw)).collect();
        self.delivered_end_offset = Some(hw.max(next));
        committed
    }

    /// fsync the log (the host's background flush of an observer's log).
    pub fn flush(&mut self) {
        self.disk.log.flush();
    }

    fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    fn other_voters(&self) -> Vec<RaftNodeId> {
        self.voters
            .iter()
            .copied()
            .filter(|&v| v != self.id)
            .collect()
    }

    /// `randomElectionTimeoutMs`: the timeout plus a jitter in `[0, timeout)`.
    fn random_election_timeout_ms(&mut self) -> u64 {
        let timeout = self.config.election_timeout_ms;
        timeout + self.rng.next_u64() % timeout.max(1)
    }

    /// `binaryExponentialElectionBackoffMs`: `RETRY_BACKOFF_BASE_MS` × random[0, 2^retries),
    /// capped at `election.backoff.max.ms`.
    fn binary_exponential_election_backoff_ms(&mut self, retries: u32) -> u64 {
        assert!(retries >= 1, "retries start at 1");
        let range = 1u64 << retries.min(20);
        (RETRY_BACKOFF_BASE_MS * (self.rng.next_u64() % range))
            .min(self.config.election_backoff_max_ms)
    }

    /// `strictExponentialElectionBackoffMs`: how long a preferred successor at `position`
    /// waits after EndQuorumEpoch (position 0 runs at once).
    fn strict_exponential_election_backoff_ms(&self, position: usize, total: usize) -> u64 {
        if position == 0 {
            0
        } else if position >= total {
            self.config.election_backoff_max_ms
        } else {
            (RETRY_BACKOFF_BASE_MS << (position - 1).min(20))
                .min(self.config.election_backoff_max_ms)
        }
    }

    // Persisted election state
    // ------------------------------------------------------------------------------------

    /// `durableTransitionTo`: writes `quorum-state` before the new state acts. Within an
    /// epoch the leader and the vote are set once and never change.
    fn persist(&mut self, election: ElectionState) {
        let old = self.disk.quorum_state;
        assert!(
            election.epoch >= old.epoch,
            "epoch going back: {old:?} → {election:?}"
        );
        if election.epoch == old.epoch {
            assert!(
                old.leader.is_none() || old.leader == election.leader,
                "two leaders in epoch {}: {old:?} → {election:?}",
                old.epoch
            );
            assert!(
                old.voted.is_none() || old.voted == election.voted,
                "two votes in epoch {}: {old:?} → {election:?}",
                old.epoch
            );
        }
        self.disk.quorum_state = election;
    }

    // Transitions
    // ------------------------------------------------------------------------------------

    /// Leaves the current state: stale timers, no Fetch in flight; a leader answers its
    /// parked Fetches with `NOT_LEADER_OR_FOLLOWER`.
    fn enter(&mut self, state: State, out: &mut RaftOutput<P>) {
        let old = std::mem::replace(&mut self.state, state);
        self.deadlines.reset();
        self.in_flight_fetch = None;
        if let State::Leader(leader) = old {
            for (replica, parked) in leader.parked {
                let response = self
                    .error_fetch_response(RaftError::NotLeaderOrFollower, parked.correlation_id);
                out.send(replica, response);
            }
        }
    }

    /// `initialize`: the state a (re)started replica takes from its disk.
    pub fn start(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        self.next_clean_ms = Some(now_ms + self.config.log_clean_interval_ms);
        let election = self.disk.quorum_state;
        let log_epoch = self.disk.log.last_epoch();
        if election.epoch < log_epoch {
            // The log has an epoch `quorum-state` never saw (possible for an observer):
            // start unattached there.
            self.transition_to_unattached(now_ms, log_epoch, out);
        } else if election.leader == Some(self.id) && self.is_voter() {
            // A leader that restarts cannot know what it promised: it resigns its epoch.
            let unacknowledged = self.other_voters().into_iter().collect();
            self.enter(
                State::Resigned(Resigned {
                    unacknowledged,
                    preferred_successors: Vec::new(),
                }),
                out,
            );
            self.start_resigned(now_ms, out);
        } else if election.voted == Some(self.id) && election.leader.is_none() && self.is_voter() {
            if self.config.pre_vote {
                self.transition_to_prospective(now_ms, 1, out);
            } else {
                self.transition_to_candidate(now_ms, 1, false, out);
            }
        } else if let Some(leader) = election.leader.filter(|&l| l != self.id) {
            self.transition_to_follower(now_ms, election.epoch, leader, out);
        } else {
            self.enter(
                State::Unattached {
                    voted: election.voted,
                },
                out,
            );
            self.start_unattached(now_ms, None, out);
        }
    }

    /// Unattached at a higher epoch (nothing known in it yet).
    fn transition_to_unattached(&mut self, now_ms: u64, epoch: RaftEpoch, out: &mut RaftOutput<P>) {
        assert!(
            epoch > self.epoch(),
            "unattached at epoch {epoch} from {}",
            self.epoch()
        );
        // `transitionToUnattached`: a replica already waiting for an election keeps what is
        // left of its timeout, so a stream of higher epochs (a disruptive candidate) cannot
        // keep postponing its own candidacy; a candidate backing off runs at once.
        let remaining_ms = match &self.state {
            State::Unattached { .. } | State::Prospective(_) | State::Candidate(_) => Some(
                self.deadlines
                    .deadline_ms
                    .get(&TimerKind::Election)
                    .map_or(0, |&at| at.saturating_sub(now_ms)),
            ),
            _ => None,
        };
        self.persist(ElectionState {
            epoch,
            leader: None,
            voted: None,
        });
        self.enter(State::Unattached { voted: None }, out);
        self.start_unattached(now_ms, remaining_ms, out);
    }

    /// Unattached in the current epoch having granted `candidate` a vote (persisted first).
    fn transition_to_unattached_voted(
        &mut self,
        now_ms: u64,
        candidate: RaftNodeId,
        out: &mut RaftOutput<P>,
    ) {
        let epoch = self.epoch();
        self.persist(ElectionState {
            epoch,
            leader: None,
            voted: Some(candidate),
        });
        self.enter(
            State::Unattached {
                voted: Some(candidate),
            },
            out,
        );
        self.start_unattached(now_ms, None, out);
    }

    /// Arms the election timeout (`remaining_ms`, else a fresh random one) of a voter; an
    /// observer starts asking the voters who leads.
    fn start_unattached(
        &mut self,
        now_ms: u64,
        remaining_ms: Option<u64>,
        out: &mut RaftOutput<P>,
    ) {
        out.event(RaftEvent::BecameUnattached {
            epoch: self.epoch(),
        });
        if self.is_voter() {
            let timeout_ms = match remaining_ms {
                Some(ms) => ms,
                None => self.random_election_timeout_ms(),
            };
            self.deadlines
                .set(TimerKind::Election, now_ms, timeout_ms, out);
        } else {
            // An observer asks the voters who leads.
            self.send_fetch(now_ms, out);
        }
    }

    /// Prospective (KIP-996): pre-votes at the current epoch; nothing is persisted.
    fn transition_to_prospective(&mut self, now_ms: u64, retries: u32, out: &mut RaftOutput<P>) {
        debug_assert!(self.is_voter() && self.config.pre_vote);
        let prospective = Prospective {
            voted: self.voted(),
            // A resigned leader does not go back to following itself.
            leader: self.disk.quorum_state.leader.filter(|&l| l != self.id),
            retries,
            granted: BTreeSet::from([self.id]),
            rejected: BTreeSet::new(),
        };
        self.enter(State::Prospective(prospective), out);
        let epoch = self.epoch();
        out.event(RaftEvent::BecameProspective { epoch });
        let timeout_ms = self.random_election_timeout_ms();
        self.deadlines
            .set(TimerKind::Election, now_ms, timeout_ms, out);
        self.send_votes(true, out);
        self.maybe_finish_prospective(now_ms, out);
    }

    /// Candidate: a new epoch (or, on restart, the epoch it already voted for itself in),
    /// its own vote persisted before any request goes out.
    fn transition_to_candidate(
        &mut self,
        now_ms: u64,
        retries: u32,
        bump: bool,
        out: &mut RaftOutput<P>,
    ) {
        assert!(self.is_voter(), "an observer never becomes a candidate");
        let epoch = if bump { self.epoch() + 1 } else { self.epoch() };
        self.persist(ElectionState {
            epoch,
            leader: None,
            voted: Some(self.id),
        });
        let candidate = Candidate {
            retries,
            granted: BTreeSet::from([self.id]),
            rejected: BTreeSet::new(),
            backing_off: false,
        };
        self.enter(State::Candidate(candidate), out);
        out.event(RaftEvent::BecameCandidate { epoch });
        let timeout_ms = self.random_election_timeout_ms();
        self.deadlines
            .set(TimerKind::Election, now_ms, timeout_ms, out);
        self.send_votes(false, out);
        self.maybe_finish_candidacy(now_ms, out);
    }

    /// An election is due (election timeout, fetch timeout, end of a backoff).
    fn start_election(&mut self, now_ms: u64, retries: u32, out: &mut RaftOutput<P>) {
        if self.config.pre_vote {
            self.transition_to_prospective(now_ms, retries, out);
        } else {
            self.transition_to_candidate(now_ms, retries, true, out);
        }
    }

    fn send_votes(&mut self, pre_vote: bool, out: &mut RaftOutput<P>) {
        let request = RaftMessage::Vote {
            epoch: self.epoch(),
            candidate: self.id,
            last_epoch: self.disk.log.last_epoch(),
            last_end_offset: self.disk.log.end_offset(),
            pre_vote,
        };
        for voter in self.other_voters() {
            out.send(voter, request.clone());
        }
    }

    /// `onBecomeLeader`: persists the leadership, writes the LeaderChange record at the
    /// epoch start offset, and announces itself with BeginQuorumEpoch.
    fn transition_to_leader(
        &mut self,
        now_ms: u64,
        granting: BTreeSet<RaftNodeId>,
        out: &mut RaftOutput<P>,
    ) {
        let epoch = self.epoch();
        self.persist(ElectionState {
            epoch,
            leader: Some(self.id),
            voted: Some(self.id),
        });
        let granting_voters: Vec<RaftNodeId> = granting.into_iter().collect();
        let voter_end_offsets = self.other_voters().into_iter().map(|v| (v, None)).collect();
        let epoch_start_offset = self.disk.log.end_offset();
        let leader = Leader {
            epoch_start_offset,
            voter_end_offsets,
            observer_end_offsets: BTreeMap::new(),
            high_watermark: None,
            acknowledged: BTreeSet::new(),
            fetched_since_check: BTreeSet::new(),
            parked: BTreeMap::new(),
        };
        self.enter(State::Leader(leader), out);
        out.event(RaftEvent::ElectedLeader {
            epoch,
            votes: granting_voters.clone(),
        });
        self.disk.log.append(Entry {
            epoch,
            append_time_ms: now_ms,
            body: EntryBody::LeaderChange {
                leader: self.id,
                voters: self.voters.iter().copied().collect(),
                granting_voters,
            },
        });
        self.disk.log.flush();
        self.send_begin_quorum_epochs(now_ms, out);
        if self.config.check_quorum && self.voters.len() > 1 {
            let timeout_ms = self.config.check_quorum_timeout_ms();
            self.deadlines
                .set(TimerKind::CheckQuorum, now_ms, timeout_ms, out);
        }
        self.maybe_update_leader_high_watermark(now_ms, out);
    }

    /// Follower of `leader` in `epoch` (persisted), fetching at once.
    fn transition_to_follower(
        &mut self,
        now_ms: u64,
        epoch: RaftEpoch,
        leader: RaftNodeId,
        out: &mut RaftOutput<P>,
    ) {
        assert_ne!(leader, self.id, "following itself");
        let voted = if epoch == self.epoch() {
            self.voted()
        } else {
            None
        };
        if let State::Follower(f) = &self.state {
            assert!(
                epoch > self.epoch() || f.leader == leader,
                "leader {} and {leader} in epoch {epoch}",
                f.leader
            );
        }
        self.persist(ElectionState {
            epoch,
            leader: Some(leader),
            voted,
        });
        self.enter(
            State::Follower(Follower {
                leader,
                fetched_from_leader: false,
                fetch_target: leader,
                fetching_snapshot: None,
            }),
            out,
        );
        out.event(RaftEvent::BecameFollower { leader, epoch });
        let timeout_ms = self.config.fetch_timeout_ms;
        self.deadlines
            .set(TimerKind::FetchTimeout, now_ms, timeout_ms, out);
        self.send_fetch(now_ms, out);
    }

    /// `maybeTransition` on a leader named in a request or response: a higher epoch moves
    /// the replica there (Follower if the leader is known, else Unattached); a leader for
    /// the current epoch is followed if none was known. Returns whether the state changed.
    fn maybe_transition(
        &mut self,
        now_ms: u64,
        epoch: RaftEpoch,
        leader: Option<RaftNodeId>,
        out: &mut RaftOutput<P>,
    ) -> bool {
        let leader = leader.filter(|&l| l != self.id);
        if epoch > self.epoch() {
            match leader {
                Some(l) => self.transition_to_follower(now_ms, epoch, l, out),
                None => self.transition_to_unattached(now_ms, epoch, out),
            }
            true
        } else if epoch == self.epoch() && self.leader_id().is_none() {
            match leader {
                Some(l) => {
                    self.transition_to_follower(now_ms, epoch, l, out);
                    true
                }
                None => false,
            }
        } else {
            debug_assert!(
                epoch < self.epoch() || leader.is_none() || leader == self.leader_id(),
                "replica {} knows leader {:?} in epoch {epoch}, told {leader:?}",
                self.id,
                self.leader_id()
            );
            false
        }
    }

    /// A leader steps down (`transitionToResigned`): EndQuorumEpoch to the other voters,
    /// the most replicated first as preferred successors.
    fn resign_as_leader(&mut self, now_ms: u64, why: ResignReason, out: &mut RaftOutput<P>) {
        let State::Leader(leader) = &self.state else {
            return;
        };
        let mut successors: Vec<(Option<u64>, RaftNodeId)> = leader
            .voter_end_offsets
            .iter()
            .map(|(&v, &end)| (end, v))
            .collect();
        // Most replicated first; a voter never heard from last; ties by id.
        successors.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let preferred_successors: Vec<RaftNodeId> =
            successors.into_iter().map(|(_, v)| v).collect();
        let unacknowledged = preferred_successors.iter().copied().collect();
        self.enter(
            State::Resigned(Resigned {
                unacknowledged,
                preferred_successors,
            }),
            out,
        );
        out.event(RaftEvent::Resigned {
            epoch: self.epoch(),
            why,
        });
        self.start_resigned(now_ms, out);
    }

    fn start_resigned(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        self.send_end_quorum_epochs(now_ms, out);
        let timeout_ms = self.random_election_timeout_ms();
        self.deadlines
            .set(TimerKind::Election, now_ms, timeout_ms, out);
    }

    fn send_end_quorum_epochs(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        let State::Resigned(resigned) = &self.state else {
            return;
        };
        let request = RaftMessage::EndQuorumEpoch {
            epoch: self.epoch(),
            leader: self.id,
            preferred_successors: resigned.preferred_successors.clone(),
        };
        let unacknowledged: Vec<RaftNodeId> = resigned.unacknowledged.iter().copied().collect();
        for voter in &unacknowledged {
            out.send(*voter, request.clone());
        }
        if !unacknowledged.is_empty() {
            let delay_ms = self.config.request_timeout_ms;
            self.deadlines
                .set(TimerKind::EndQuorumEpochResend, now_ms, delay_ms, out);
        }
    }

    fn send_begin_quorum_epochs(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        let State::Leader(leader) = &self.state else {
            return;
        };
        let waiting: Vec<RaftNodeId> = leader
            .voter_end_offsets
            .keys()
            .copied()
            .filter(|v| !leader.acknowledged.contains(v))
            .collect();
        let request = RaftMessage::BeginQuorumEpoch {
            epoch: self.epoch(),
            leader: self.id,
        };
        for voter in &waiting {
            out.send(*voter, request.clone());
        }
        if !waiting.is_empty() {
            let delay_ms = self.config.begin_quorum_epoch_timeout_ms();
            self.deadlines
                .set(TimerKind::BeginQuorumEpochResend, now_ms, delay_ms, out);
        }
    }

    /// Graceful shutdown (`KafkaRaftClient.shutdown` → `resign`): a leader resigns and tells
    /// the other voters whom to prefer; any other state has nothing to hand over.
    pub fn resign(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        self.resign_as_leader(now_ms, ResignReason::Shutdown, out);
    }

    // Inputs
    // ------------------------------------------------------------------------------------

    /// A timer set earlier fired.
    pub fn on_timer(&mut self, now_ms: u64, timer: RaftTimer, out: &mut RaftOutput<P>) {
        self.maybe_clean(now_ms, out);
        if !self.deadlines.fire(timer, now_ms, out) {
            return;
        }
        match timer.kind {
            TimerKind::Election => self.on_election_timeout(now_ms, out),
            TimerKind::ElectionBackoff => {
                if let State::Candidate(c) = &self.state {
                    let retries = c.retries + 1;
                    self.start_election(now_ms, retries, out);
                }
            }
            TimerKind::FetchTimeout => self.on_fetch_timeout(now_ms, out),
            TimerKind::FetchRetry => self.send_fetch(now_ms, out),
            TimerKind::CheckQuorum => {
                // `pollLeader`: no Fetch from a majority within the timeout.
                self.resign_as_leader(now_ms, ResignReason::CheckQuorum, out);
            }
            TimerKind::BeginQuorumEpochResend => self.send_begin_quorum_epochs(now_ms, out),
            TimerKind::EndQuorumEpochResend => self.send_end_quorum_epochs(now_ms, out),
            TimerKind::FetchWait(replica) => self.complete_parked_fetch(replica, out),
        }
    }

    fn on_election_timeout(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        match &mut self.state {
            State::Unattached { .. } | State::Resigned(_) => self.start_election(now_ms, 1, out),
            State::Prospective(_) => self.lose_prospective(now_ms, out),
            State::Candidate(c) => {
                // `pollCandidate`: the election timed out; back off, then try again.
                if !c.backing_off {
                    let retries = c.retries;
                    self.start_backoff(now_ms, retries, out);
                }
            }
            State::Leader(_) | State::Follower(_) => {}
        }
    }

    fn start_backoff(&mut self, now_ms: u64, retries: u32, out: &mut RaftOutput<P>) {
        if let State::Candidate(c) = &mut self.state {
            c.backing_off = true;
        }
        self.deadlines.clear(TimerKind::Election);
        let backoff_ms = self.binary_exponential_election_backoff_ms(retries);
        self.deadlines
            .set(TimerKind::ElectionBackoff, now_ms, backoff_ms, out);
    }

    /// A pre-vote round lost (rejected by a majority or timed out): back to the leader it
    /// knew, else Unattached in the same epoch.
    fn lose_prospective(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        let State::Prospective(p) = &self.state else {
            return;
        };
        match (p.leader, p.voted) {
            (Some(leader), _) => self.transition_to_follower(now_ms, self.epoch(), leader, out),
            (None, voted) => {
                self.enter(State::Unattached { voted }, out);
                self.start_unattached(now_ms, None, out);
            }
        }
    }

    fn on_fetch_timeout(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        let State::Follower(f) = &mut self.state else {
            return;
        };
        if self.voters.contains(&self.id) {
            // `pollFollowerAsVoter`: the leader is gone as far as this voter can tell.
            self.start_election(now_ms, 1, out);
        } else {
            // `pollFollowerAsObserver`: ask the voters in turn who leads.
            let voters: Vec<RaftNodeId> = self.voters.iter().copied().collect();
            f.fetch_target = voters[self.discovery_cursor % voters.len()];
            self.discovery_cursor += 1;
            let timeout_ms = self.config.fetch_timeout_ms;
            self.deadlines
                .set(TimerKind::FetchTimeout, now_ms, timeout_ms, out);
            self.send_fetch(now_ms, out);
        }
    }

    /// A message arrived from `from`.
    pub fn on_message(
        &mut self,
        now_ms: u64,
        from: RaftNodeId,
        message: RaftMessage<P>,
        out: &mut RaftOutput<P>,
    ) {
        self.maybe_clean(now_ms, out);
        match message {
            RaftMessage::Vote {
                epoch,
                candidate,
                last_epoch,
                last_end_offset,
                pre_vote,
            } => self.on_vote(
                now_ms,
                from,
                epoch,
                candidate,
                (last_epoch, last_end_offset),
                pre_vote,
                out,
            ),
            RaftMessage::VoteResponse {
                epoch,
                leader,
                granted,
                pre_vote,
                error,
            } => self.on_vote_response(
                now_ms,
                from,
                epoch,
                leader,
                granted && error.is_none(),
                pre_vote,
                out,
            ),
            RaftMessage::BeginQuorumEpoch { epoch, leader } => {
                self.on_begin_quorum_epoch(now_ms, from, epoch, leader, out)
            }
            RaftMessage::BeginQuorumEpochResponse {
                epoch,
                leader,
                error,
            } => {
                if self.handle_common_response(now_ms, epoch, leader, out) && error.is_none() {
                    if let State::Leader(l) = &mut self.state {
                        l.acknowledged.insert(from);
                    }
                }
            }
            RaftMessage::EndQuorumEpoch {
                epoch,
                leader,
                preferred_successors,
            } => self.on_end_quorum_epoch(now_ms, from, epoch, leader, &preferred_successors, out),
            RaftMessage::EndQuorumEpochResponse {
                epoch,
                leader,
                error,
            } => {
                if self.handle_common_response(now_ms, epoch, leader, out) && error.is_none() {
                    if let State::Resigned(r) = &mut self.state {
                        r.unacknowledged.remove(&from);
                    }
                }
            }
            RaftMessage::Fetch {
                epoch,
                fetch_offset,
                last_fetched_epoch,
                replica_id,
                correlation_id,
            } => {
                debug_assert_eq!(from, replica_id);
                self.on_fetch(
                    now_ms,
                    replica_id,
                    epoch,
                    fetch_offset,
                    last_fetched_epoch,
                    correlation_id,
                    out,
                )
            }
            RaftMessage::FetchResponse(answer) => self.on_fetch_response(now_ms, from, answer, out),
            RaftMessage::FetchSnapshot {
                epoch,
                snapshot_id,
                replica_id,
                correlation_id,
            } => {
                debug_assert_eq!(from, replica_id);
                self.on_fetch_snapshot(now_ms, replica_id, epoch, snapshot_id, correlation_id, out)
            }
            RaftMessage::FetchSnapshotResponse {
                epoch,
                leader,
                snapshot,
                error,
                correlation_id,
            } => self.on_fetch_snapshot_response(
                now_ms,
                from,
                (epoch, leader, correlation_id),
                snapshot,
                error,
                out,
            ),
        }
    }

    /// `maybeHandleCommonResponse`: a response from an older epoch is stale; a newer epoch
    /// or a leader not known yet moves this replica. Returns whether the response is still
    /// for the current state (same epoch, no transition).
    fn handle_common_response(
        &mut self,
        now_ms: u64,
        epoch: RaftEpoch,
        leader: Option<RaftNodeId>,
        out: &mut RaftOutput<P>,
    ) -> bool {
        if epoch < self.epoch() {
            return false;
        }
        !self.maybe_transition(now_ms, epoch, leader, out)
    }

    // Votes
    // ------------------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn on_vote(
        &mut self,
        now_ms: u64,
        from: RaftNodeId,
        epoch: RaftEpoch,
        candidate: RaftNodeId,
        candidate_log_end: (RaftEpoch, u64),
        pre_vote: bool,
        out: &mut RaftOutput<P>,
    ) {
        let respond =
            |me: &Self, granted: bool, error: Option<RaftError>, out: &mut RaftOutput<P>| {
                out.send(
                    from,
                    RaftMessage::VoteResponse {
                        epoch: me.epoch(),
                        leader: me.leader_id(),
                        granted,
                        pre_vote,
                        error,
                    },
                );
            };
        if epoch < self.epoch() {
            respond(self, false, Some(RaftError::FencedLeaderEpoch), out);
            return;
        }
        let (last_epoch, _) = candidate_log_end;
        if last_epoch > epoch || (!pre_vote && last_epoch == epoch) {
            respond(self, false, Some(RaftError::InvalidRequest), out);
            return;
        }
        if epoch > self.epoch() {
            self.transition_to_unattached(now_ms, epoch, out);
        }
        let log = &self.disk.log;
        let up_to_date = candidate_log_end >= (log.last_epoch(), log.end_offset());
        let granted = self.is_voter() && self.can_grant_vote(candidate, up_to_date, pre_vote);
        if granted && !pre_vote {
            let not_voted = match &self.state {
                State::Unattached { voted } => voted.is_none(),
                State::Prospective(p) => p.voted.is_none(),
                _ => false,
            };
            if not_voted {
                self.transition_to_unattached_voted(now_ms, candidate, out);
            }
        }
        respond(self, granted, None, out);
    }

    /// `EpochState.canGrantVote` of each state, at the request's epoch.
    fn can_grant_vote(&self, candidate: RaftNodeId, up_to_date: bool, pre_vote: bool) -> bool {
        match &self.state {
            State::Unattached { voted: Some(v) } => {
                if pre_vote {
                    up_to_date
                } else {
                    *v == candidate
                }
            }
            State::Unattached { voted: None } => up_to_date,
            State::Prospective(p) => {
                if pre_vote {
                    up_to_date
                } else if p.leader.is_some() {
                    false
                } else if let Some(v) = p.voted {
                    v == candidate
                } else {
                    up_to_date
                }
            }
            State::Candidate(_) | State::Resigned(_) => pre_vote && up_to_date,
            State::Follower(f) => pre_vote && !f.fetched_from_leader && up_to_date,
            State::Leader(_) => false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_vote_response(
        &mut self,
        now_ms: u64,
        from: RaftNodeId,
        epoch: RaftEpoch,
        leader: Option<RaftNodeId>,
        granted: bool,
        pre_vote: bool,
        out: &mut RaftOutput<P>,
    ) {
        if !self.handle_common_response(now_ms, epoch, leader, out) {
            return;
        }
        if !self.voters.contains(&from) {
            return;
        }
        match &mut self.state {
            State::Prospective(p) if pre_vote => {
                if granted {
                    p.granted.insert(from);
                } else {
                    p.rejected.insert(from);
                }
                self.maybe_finish_prospective(now_ms, out);
            }
            State::Candidate(c) if !pre_vote => {
                if granted {
                    c.granted.insert(from);
                } else {
                    c.rejected.insert(from);
                }
                self.maybe_finish_candidacy(now_ms, out);
            }
            _ => {}
        }
    }

    fn maybe_finish_prospective(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        let majority = self.majority();
        let lost_at = self.voters.len() - majority;
        let State::Prospective(p) = &self.state else {
            return;
        };
        if p.granted.len() >= majority {
            let retries = p.retries;
            self.transition_to_candidate(now_ms, retries, true, out);
        } else if p.rejected.len() > lost_at {
            self.lose_prospective(now_ms, out);
        }
    }

    fn maybe_finish_candidacy(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        let majority = self.majority();
        let lost_at = self.voters.len() - majority;
        let State::Candidate(c) = &self.state else {
            return;
        };
        if c.granted.len() >= majority {
            let granting = c.granted.clone();
            self.transition_to_leader(now_ms, granting, out);
        } else if c.rejected.len() > lost_at && !c.backing_off {
            let retries = c.retries;
            self.start_backoff(now_ms, retries, out);
        }
    }

    // BeginQuorumEpoch and EndQuorumEpoch
    // ------------------------------------------------------------------------------------

    fn on_begin_quorum_epoch(
        &mut self,
        now_ms: u64,
        from: RaftNodeId,
        epoch: RaftEpoch,
        leader: RaftNodeId,
        out: &mut RaftOutput<P>,
    ) {
        let error = if epoch < self.epoch() {
            Some(RaftError::FencedLeaderEpoch)
        } else {
            self.maybe_transition(now_ms, epoch, Some(leader), out);
            None
        };
        out.send(
            from,
            RaftMessage::BeginQuorumEpochResponse {
                epoch: self.epoch(),
                leader: self.leader_id(),
                error,
            },
        );
    }

    fn on_end_quorum_epoch(
        &mut self,
        now_ms: u64,
        from: RaftNodeId,
        epoch: RaftEpoch,
        leader: RaftNodeId,
        preferred_successors: &[RaftNodeId],
        out: &mut RaftOutput<P>,
    ) {
        let error = if epoch < self.epoch() {
            Some(RaftError::FencedLeaderEpoch)
        } else {
            self.maybe_transition(now_ms, epoch, Some(leader), out);
            if let State::Follower(f) = &self.state {
                if f.leader == leader && epoch == self.epoch() {
                    // `endEpochElectionBackoff`: the most replicated successor runs first.
                    let position = preferred_successors
                        .iter()
                        .position(|&s| s == self.id)
                        .unwrap_or(preferred_successors.len());
                    let backoff_ms = self.strict_exponential_election_backoff_ms(
                        position,
                        preferred_successors.len(),
                    );
                    self.deadlines
                        .set(TimerKind::FetchTimeout, now_ms, backoff_ms, out);
                }
            }
            None
        };
        out.send(
            from,
            RaftMessage::EndQuorumEpochResponse {
                epoch: self.epoch(),
                leader: self.leader_id(),
                error,
            },
        );
    }

    // Fetch, leader side
    // ------------------------------------------------------------------------------------

    fn error_fetch_response(&self, error: RaftError, correlation_id: u64) -> RaftMessage<P> {
        RaftMessage::FetchResponse(FetchResponse {
            epoch: self.epoch(),
            leader: self.leader_id(),
            high_watermark: None,
            records: Vec::new(),
            diverging_epoch: None,
            snapshot_id: None,
            error: Some(error),
            correlation_id,
        })
    }

    fn leader_fetch_response(
        &self,
        fetch_offset: u64,
        position: FetchPosition,
        correlation_id: u64,
    ) -> RaftMessage<P> {
        let State::Leader(leader) = &self.state else {
            unreachable!("only a leader answers with records");
        };
        let (diverging_epoch, snapshot_id) = match position {
            FetchPosition::Valid => (None, None),
            FetchPosition::Diverging(epoch, end) => (Some((epoch, end)), None),
            FetchPosition::Snapshot(id) => (None, Some(id)),
        };
        let records = if position != FetchPosition::Valid {
            Vec::new()
        } else {
            let to = self
                .disk
                .log
                .end_offset()
                .min(fetch_offset + self.config.fetch_max_entries as u64);
            self.disk.log.read(fetch_offset, to)
        };
        RaftMessage::FetchResponse(FetchResponse {
            epoch: self.epoch(),
            leader: Some(self.id),
            high_watermark: leader.high_watermark,
            records,
            diverging_epoch,
            snapshot_id,
            error: None,
            correlation_id,
        })
    }

    /// `handleFetchRequest` and `tryCompleteFetchRequest`.
    #[allow(clippy::too_many_arguments)]
    fn on_fetch(
        &mut self,
        now_ms: u64,
        replica: RaftNodeId,
        epoch: RaftEpoch,
        fetch_offset: u64,
        last_fetched_epoch: RaftEpoch,
        correlation_id: u64,
        out: &mut RaftOutput<P>,
    ) {
        let error = if epoch < self.epoch() {
            Some(RaftError::FencedLeaderEpoch)
        } else if epoch > self.epoch() {
            Some(RaftError::UnknownLeaderEpoch)
        } else if !matches!(self.state, State::Leader(_)) {
            Some(RaftError::NotLeaderOrFollower)
        } else if last_fetched_epoch < 0 || last_fetched_epoch > epoch {
            Some(RaftError::InvalidRequest)
        } else {
            None
        };
        if let Some(error) = error {
            out.send(replica, self.error_fetch_response(error, correlation_id));
            return;
        }
        // `validateOffsetAndEpoch`: does the follower's log end sit on the leader's log?
        let position = self.disk.log.validate_fetch_position(
            fetch_offset,
            last_fetched_epoch,
            self.config.snapshot_for_empty_fetcher,
        );
        if position != FetchPosition::Valid {
            out.send(
                replica,
                self.leader_fetch_response(fetch_offset, position, correlation_id),
            );
            return;
        }
        // A new Fetch supersedes one parked earlier (its sender gave up on it).
        if let State::Leader(leader) = &mut self.state {
            leader.parked.remove(&replica);
        }
        self.update_replica_state(now_ms, replica, fetch_offset, out);
        if fetch_offset < self.disk.log.end_offset() {
            out.send(
                replica,
                self.leader_fetch_response(fetch_offset, FetchPosition::Valid, correlation_id),
            );
        } else {
            // Nothing new: park it (`fetchPurgatory.await`).
            if let State::Leader(leader) = &mut self.state {
                leader.parked.insert(
                    replica,
                    ParkedFetch {
                        fetch_offset,
                        correlation_id,
                    },
                );
            }
            let wait_ms = self.config.fetch_max_wait_ms;
            self.deadlines
                .set(TimerKind::FetchWait(replica), now_ms, wait_ms, out);
        }
    }

    /// `LeaderState.updateReplicaState` with the check-quorum bookkeeping.
    fn update_replica_state(
        &mut self,
        now_ms: u64,
        replica: RaftNodeId,
        fetch_offset: u64,
        out: &mut RaftOutput<P>,
    ) {
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        if let Some(end) = leader.voter_end_offsets.get_mut(&replica) {
            *end = Some(fetch_offset);
            leader.acknowledged.insert(replica);
            self.count_voter_contact(now_ms, replica, out);
        } else if replica != self.id {
            leader.observer_end_offsets.insert(replica, fetch_offset);
        }
        self.maybe_update_leader_high_watermark(now_ms, out);
    }

    /// `updateCheckQuorumForFollowingVoter`: a voter's Fetch or FetchSnapshot; once a
    /// majority (the leader counts itself) was heard from, the check-quorum timer restarts.
    fn count_voter_contact(&mut self, now_ms: u64, replica: RaftNodeId, out: &mut RaftOutput<P>) {
        let majority_of_others = self.majority() - 1;
        let check_quorum_timeout_ms = self.config.check_quorum_timeout_ms();
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        if !leader.voter_end_offsets.contains_key(&replica) {
            return;
        }
        leader.fetched_since_check.insert(replica);
        if leader.fetched_since_check.len() >= majority_of_others {
            leader.fetched_since_check.clear();
            if self.config.check_quorum && self.voters.len() > 1 {
                self.deadlines
                    .set(TimerKind::CheckQuorum, now_ms, check_quorum_timeout_ms, out);
            }
        }
    }

    /// `maybeUpdateHighWatermark`: the end offset at index ⌊n/2⌋ of the voters' end offsets
    /// sorted descending (the leader counted with its flushed end), once past the epoch
    /// start offset; never lower.
    fn maybe_update_leader_high_watermark(&mut self, _now_ms: u64, out: &mut RaftOutput<P>) {
        let own_end = self.disk.log.flushed_end_offset();
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        let mut ends: Vec<Option<u64>> = leader.voter_end_offsets.values().copied().collect();
        ends.push(Some(own_end));
        ends.sort_by(|a, b| b.cmp(a));
        let Some(candidate) = ends[ends.len() / 2] else {
            return;
        };
        if candidate <= leader.epoch_start_offset
            || leader.high_watermark.is_some_and(|hw| candidate <= hw)
        {
            return;
        }
        leader.high_watermark = Some(candidate);
        debug_assert!(
            candidate >= self.high_watermark,
            "leader HW below the replica's"
        );
        self.high_watermark = self.high_watermark.max(candidate);
        out.event(RaftEvent::HighWatermark {
            hw: self.high_watermark,
        });
        // `onUpdateLeaderHighWatermark`: parked fetches learn the new HW now.
        self.complete_all_parked_fetches(out);
    }

    fn complete_all_parked_fetches(&mut self, out: &mut RaftOutput<P>) {
        let replicas: Vec<RaftNodeId> = match &self.state {
            State::Leader(leader) => leader.parked.keys().copied().collect(),
            _ => Vec::new(),
        };
        for replica in replicas {
            self.complete_parked_fetch(replica, out);
        }
    }

    fn complete_parked_fetch(&mut self, replica: RaftNodeId, out: &mut RaftOutput<P>) {
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        let Some(parked) = leader.parked.remove(&replica) else {
            return;
        };
        self.deadlines.clear(TimerKind::FetchWait(replica));
        out.send(
            replica,
            self.leader_fetch_response(
                parked.fetch_offset,
                FetchPosition::Valid,
                parked.correlation_id,
            ),
        );
    }

    /// The leader appends the host's records (`scheduleAppend`; `append.linger.ms` is not
    /// modelled: the batch is written and flushed at once). Returns the first and last
    /// offset written.
    pub fn append(
        &mut self,
        now_ms: u64,
        payloads: Vec<P>,
        out: &mut RaftOutput<P>,
    ) -> Result<(u64, u64), NotLeader> {
        if !matches!(self.state, State::Leader(_)) {
            return Err(NotLeader {
                epoch: self.epoch(),
                leader: self.leader_id(),
            });
        }
        assert!(!payloads.is_empty(), "appending nothing");
        let epoch = self.epoch();
        let first = self.disk.log.end_offset();
        for payload in payloads {
            self.disk.log.append(Entry {
                epoch,
                append_time_ms: now_ms,
                body: EntryBody::Data(payload),
            });
        }
        let last = self.disk.log.end_offset() - 1;
        // `flushLeaderLog`.
        self.disk.log.flush();
        self.maybe_update_leader_high_watermark(now_ms, out);
        self.complete_all_parked_fetches(out);
        Ok((first, last))
    }

    // Fetch, follower and observer side
    // ------------------------------------------------------------------------------------

    /// Sends the next Fetch: a follower to its fetch target, an observer without a leader
    /// to the next voter. A voter without a leader waits for BeginQuorumEpoch instead.
    fn send_fetch(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        if let State::Follower(Follower {
            leader,
            fetching_snapshot: Some(snapshot_id),
            ..
        }) = self.state
        {
            // `buildFetchSnapshotRequest`: the download of the snapshot the leader named.
            let (epoch, replica_id) = (self.epoch(), self.id);
            self.send_tracked_fetch(now_ms, leader, out, |correlation_id| {
                RaftMessage::FetchSnapshot {
                    epoch,
                    snapshot_id,
                    replica_id,
                    correlation_id,
                }
            });
            return;
        }
        let target = match &self.state {
            State::Follower(f) => f.fetch_target,
            State::Unattached { .. } if !self.is_voter() => {
                let voters: Vec<RaftNodeId> = self.voters.iter().copied().collect();
                let target = voters[self.discovery_cursor % voters.len()];
                self.discovery_cursor += 1;
                target
            }
            _ => return,
        };
        let (epoch, replica_id) = (self.epoch(), self.id);
        let log = &self.disk.log;
        let (fetch_offset, last_fetched_epoch) = (log.end_offset(), log.last_epoch());
        self.send_tracked_fetch(now_ms, target, out, |correlation_id| RaftMessage::Fetch {
            epoch,
            fetch_offset,
            last_fetched_epoch,
            replica_id,
            correlation_id,
        });
    }

    /// Sends a Fetch or FetchSnapshot as the one request in flight, under a new
    /// correlation id, and arms its request timeout.
    fn send_tracked_fetch(
        &mut self,
        now_ms: u64,
        target: RaftNodeId,
        out: &mut RaftOutput<P>,
        message: impl FnOnce(u64) -> RaftMessage<P>,
    ) {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        self.in_flight_fetch = Some((target, correlation_id));
        out.send(target, message(correlation_id));
        let timeout_ms = self.config.request_timeout_ms;
        self.deadlines
            .set(TimerKind::FetchRetry, now_ms, timeout_ms, out);
    }

    fn retry_fetch_after_backoff(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        let backoff_ms = self.config.retry_backoff_ms;
        self.deadlines
            .set(TimerKind::FetchRetry, now_ms, backoff_ms, out);
    }

    /// What Fetch and FetchSnapshot answers share: one to a request given up on is dropped;
    /// one from a replica behind the current epoch means trying again (an observer asks the
    /// next voter); a newer epoch or leader moves this replica, whose new state fetches on
    /// its own. Returns whether the answer is still for the current state.
    fn accept_fetch_answer(
        &mut self,
        now_ms: u64,
        (from, epoch, leader, correlation_id): (RaftNodeId, RaftEpoch, Option<RaftNodeId>, u64),
        out: &mut RaftOutput<P>,
    ) -> bool {
        if self.in_flight_fetch != Some((from, correlation_id)) {
            return false;
        }
        self.in_flight_fetch = None;
        self.deadlines.clear(TimerKind::FetchRetry);
        let current =
            epoch >= self.epoch() && self.handle_common_response(now_ms, epoch, leader, out);
        if epoch < self.epoch() {
            self.retry_fetch_after_backoff(now_ms, out);
            return false;
        }
        current
    }

    /// `handleFetchResponse`.
    fn on_fetch_response(
        &mut self,
        now_ms: u64,
        from: RaftNodeId,
        answer: FetchResponse<P>,
        out: &mut RaftOutput<P>,
    ) {
        let answer_to = (from, answer.epoch, answer.leader, answer.correlation_id);
        if !self.accept_fetch_answer(now_ms, answer_to, out) {
            return;
        }
        let from_leader = matches!(&self.state, State::Follower(f) if f.leader == from);
        if answer.error.is_some() || !from_leader {
            if let State::Follower(f) = &mut self.state {
                f.fetch_target = f.leader;
            }
            self.retry_fetch_after_backoff(now_ms, out);
            return;
        }
        self.handle_fetch_data(now_ms, answer, out);
    }

    /// A successful FetchResponse from the leader: truncate on divergence or append, flush
    /// (voters), move the HW, fetch again.
    fn handle_fetch_data(
        &mut self,
        now_ms: u64,
        answer: FetchResponse<P>,
        out: &mut RaftOutput<P>,
    ) {
        if let State::Follower(f) = &mut self.state {
            f.fetched_from_leader = true;
        }
        let timeout_ms = self.config.fetch_timeout_ms;
        self.deadlines
            .set(TimerKind::FetchTimeout, now_ms, timeout_ms, out);
        if let Some(snapshot_id) = answer.snapshot_id {
            // The leader's log no longer holds our position: download its snapshot
            // (`handleFetchResponse` → `setFetchingSnapshot`).
            if let State::Follower(f) = &mut self.state {
                f.fetching_snapshot = Some(snapshot_id);
            }
            self.send_fetch(now_ms, out);
            return;
        }
        let log = &mut self.disk.log;
        if let Some((epoch, end_offset)) = answer.diverging_epoch {
            // `truncateToEndOffset`: where the leader's epoch ends, or where ours does if it
            // ends sooner.
            let (_, local_end) = log.end_offset_for_epoch(epoch);
            let to = local_end.min(end_offset).min(log.end_offset());
            assert!(
                to >= self.high_watermark,
                "replica {} would truncate to {to}, below its high watermark {}",
                self.id,
                self.high_watermark
            );
            let from = log.end_offset();
            if to < from {
                log.truncate_to(to);
                out.event(RaftEvent::Truncated { from, to });
            }
        } else {
            for entry in answer.records {
                log.append(entry);
            }
        }
        if self.voters.contains(&self.id) {
            // Voters fsync each batch before the next Fetch (`appendAsFollower`).
            log.flush();
        }
        if let Some(leader_hw) = answer.high_watermark {
            let hw = leader_hw.min(log.end_offset());
            if hw > self.high_watermark {
                self.high_watermark = hw;
                out.event(RaftEvent::HighWatermark { hw });
            }
        }
        self.send_fetch(now_ms, out);
    }

    // Snapshots (KIP-630)
    // ------------------------------------------------------------------------------------

    /// `handleFetchSnapshotRequest`: the leader sends the snapshot asked for, whole. A
    /// FetchSnapshot counts as contact from a voter for check quorum.
    fn on_fetch_snapshot(
        &mut self,
        now_ms: u64,
        replica: RaftNodeId,
        epoch: RaftEpoch,
        snapshot_id: SnapshotId,
        correlation_id: u64,
        out: &mut RaftOutput<P>,
    ) {
        let mut error = if epoch < self.epoch() {
            Some(RaftError::FencedLeaderEpoch)
        } else if epoch > self.epoch() {
            Some(RaftError::UnknownLeaderEpoch)
        } else if !matches!(self.state, State::Leader(_)) {
            Some(RaftError::NotLeaderOrFollower)
        } else {
            None
        };
        if error.is_none() {
            self.count_voter_contact(now_ms, replica, out);
        }
        let snapshot = match error {
            Some(_) => None,
            None => self.disk.log.snapshot(snapshot_id).cloned(),
        };
        if error.is_none() && snapshot.is_none() {
            error = Some(RaftError::SnapshotNotFound);
        }
        out.send(
            replica,
            RaftMessage::FetchSnapshotResponse {
                epoch: self.epoch(),
                leader: self.leader_id(),
                snapshot,
                error,
                correlation_id,
            },
        );
    }

    /// `handleFetchSnapshotResponse`: a downloaded snapshot replaces the log up to its end
    /// (`truncateToLatestSnapshot`) and raises the HW to it; then fetching goes on from
    /// there. A leader that lost the snapshot meanwhile makes the follower start over with
    /// a Fetch.
    fn on_fetch_snapshot_response(
        &mut self,
        now_ms: u64,
        from: RaftNodeId,
        (epoch, leader, correlation_id): (RaftEpoch, Option<RaftNodeId>, u64),
        snapshot: Option<Snapshot<P>>,
        error: Option<RaftError>,
        out: &mut RaftOutput<P>,
    ) {
        if !self.accept_fetch_answer(now_ms, (from, epoch, leader, correlation_id), out) {
            return;
        }
        let State::Follower(follower) = &mut self.state else {
            return;
        };
        let expected = follower.fetching_snapshot;
        if follower.leader != from || expected.is_none() {
            self.retry_fetch_after_backoff(now_ms, out);
            return;
        }
        match (error, snapshot) {
            (Some(RaftError::SnapshotNotFound), _) | (None, None) => {
                follower.fetching_snapshot = None;
                self.send_fetch(now_ms, out);
            }
            (Some(_), _) => self.retry_fetch_after_backoff(now_ms, out),
            (None, Some(snapshot)) => self.install_snapshot(now_ms, from, expected, snapshot, out),
        }
    }

    fn install_snapshot(
        &mut self,
        now_ms: u64,
        from: RaftNodeId,
        expected: Option<SnapshotId>,
        snapshot: Snapshot<P>,
        out: &mut RaftOutput<P>,
    ) {
        let id = snapshot.id;
        assert_eq!(
            Some(id),
            expected,
            "replica {}: received snapshot {id:?}, fetching {expected:?}",
            self.id
        );
        if let State::Follower(f) = &mut self.state {
            f.fetching_snapshot = None;
        }
        let log_end_offset_before = self.disk.log.end_offset();
        self.disk.log.add_snapshot(snapshot);
        assert!(
            self.disk.log.truncate_to_latest_snapshot(),
            "replica {}: snapshot {id:?} from the leader is not past its log end {}",
            self.id,
            self.disk.log.end_offset()
        );
        out.event(RaftEvent::SnapshotFetched {
            id,
            from,
            log_end_offset_before,
        });
        if id.end_offset > self.high_watermark {
            self.high_watermark = id.end_offset;
            out.event(RaftEvent::HighWatermark {
                hw: self.high_watermark,
            });
        }
        let timeout_ms = self.config.fetch_timeout_ms;
        self.deadlines
            .set(TimerKind::FetchTimeout, now_ms, timeout_ms, out);
        self.send_fetch(now_ms, out);
    }

    /// The host wrote the state built from the entries below `end_offset` as `records`
    /// (`KafkaRaftClient.createSnapshot` through `KafkaMetadataLog.createNewSnapshot`; the
    /// host's `SnapshotGenerator` decides when). Only committed entries may be covered.
    /// Returns the new snapshot's id, or `None` when there is nothing new to cover (the
    /// offset is below the log start, or a snapshot there exists).
    pub fn create_snapshot(&mut self, end_offset: u64, records: Vec<P>) -> Option<SnapshotId> {
        assert!(
            end_offset <= self.high_watermark,
            "replica {}: a snapshot to {end_offset} past the high watermark {}",
            self.id,
            self.high_watermark
        );
        let log = &mut self.disk.log;
        if end_offset <= log.log_start_offset() {
            return None;
        }
        let last = log
            .get(end_offset - 1)
            .expect("a committed offset at or above the log start is in the log");
        let id = SnapshotId {
            end_offset,
            epoch: last.epoch,
        };
        let snapshot = Snapshot {
            id,
            last_contained_log_time_ms: last.append_time_ms,
            records,
        };
        log.add_snapshot(snapshot).then_some(id)
    }

    /// `RaftMetadataLogCleanerManager.maybeClean` → `KafkaMetadataLog.maybeClean` with its
    /// time rule (`cleanSnapshotsRetentionMs`): oldest first, a snapshot older than
    /// `metadata.max.retention.ms` goes with the log below the next snapshot; the latest
    /// snapshot always stays.
    fn maybe_clean(&mut self, now_ms: u64, out: &mut RaftOutput<P>) {
        let Some(next_ms) = self.next_clean_ms else {
            return;
        };
        if now_ms < next_ms {
            return;
        }
        self.next_clean_ms = Some(now_ms + self.config.log_clean_interval_ms);
        let Some(retention_ms) = self.config.metadata_max_retention_ms else {
            return;
        };
        let ids = self.disk.log.snapshot_ids();
        for pair in ids.windows(2) {
            let (oldest, next) = (pair[0], pair[1]);
            let time_ms = self
                .disk
                .log
                .snapshot(oldest)
                .expect("a listed snapshot")
                .last_contained_log_time_ms;
            if now_ms.saturating_sub(time_ms) <= retention_ms
                || !self
                    .disk
                    .log
                    .delete_before_snapshot(next, self.high_watermark)
            {
                return;
            }
            out.event(RaftEvent::LogStartMoved {
                log_start_offset: next.end_offset,
            });
        }
    }
}
