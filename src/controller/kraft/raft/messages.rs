//! What a replica says to others, sets for itself and reports: the quorum RPCs (KIP-595's
//! `Vote`, `BeginQuorumEpoch`, `EndQuorumEpoch`, `Fetch`, and KIP-630's `FetchSnapshot`),
//! the timers and the events.

use super::log::{Entry, Snapshot, SnapshotId};
use super::{RaftEpoch, RaftNodeId};
use serde::Serialize;

/// Error codes of the quorum RPCs, named as Kafka's `Errors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RaftError {
    /// `FENCED_LEADER_EPOCH`: the request's epoch is older than the receiver's.
    FencedLeaderEpoch,
    /// `UNKNOWN_LEADER_EPOCH`: the request's epoch is newer than the receiver's.
    UnknownLeaderEpoch,
    /// `NOT_LEADER_OR_FOLLOWER`: a Fetch reached a replica that is not the leader.
    NotLeaderOrFollower,
    /// `INVALID_REQUEST`: e.g. a Vote whose last epoch is not below the candidate's epoch.
    InvalidRequest,
    /// `SNAPSHOT_NOT_FOUND`: the leader no longer has (or never had) the snapshot asked for.
    SnapshotNotFound,
}

/// The quorum's messages. Every response carries the responder's epoch and the leader it
/// knows, so a replica behind learns of the newer epoch from any answer
/// (`maybeHandleCommonResponse`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RaftMessage<P> {
    /// A candidate (or, with `pre_vote`, a prospective replica at its current epoch) asks
    /// for a vote.
    Vote {
        epoch: RaftEpoch,
        candidate: RaftNodeId,
        last_epoch: RaftEpoch,
        last_end_offset: u64,
        pre_vote: bool,
    },
    VoteResponse {
        epoch: RaftEpoch,
        leader: Option<RaftNodeId>,
        granted: bool,
        /// Echoes the request's flag (Kafka matches the response to its request).
        pre_vote: bool,
        error: Option<RaftError>,
    },
    /// A new leader announces itself to the voters.
    BeginQuorumEpoch {
        epoch: RaftEpoch,
        leader: RaftNodeId,
    },
    BeginQuorumEpochResponse {
        epoch: RaftEpoch,
        leader: Option<RaftNodeId>,
        error: Option<RaftError>,
    },
    /// A leader steps down; the successors are listed most replicated first.
    EndQuorumEpoch {
        epoch: RaftEpoch,
        leader: RaftNodeId,
        preferred_successors: Vec<RaftNodeId>,
    },
    EndQuorumEpochResponse {
        epoch: RaftEpoch,
        leader: Option<RaftNodeId>,
        error: Option<RaftError>,
    },
    /// A follower or observer pulls the log. `epoch` is the epoch of the leader it fetches
    /// from; `(fetch_offset, last_fetched_epoch)` is its log end. `correlation_id` pairs the
    /// response with the request, so a late answer to a request given up on is dropped, as
    /// Kafka's `NetworkClient` drops it.
    Fetch {
        epoch: RaftEpoch,
        fetch_offset: u64,
        last_fetched_epoch: RaftEpoch,
        replica_id: RaftNodeId,
        correlation_id: u64,
    },
    FetchResponse(FetchResponse<P>),
    /// A follower or observer downloads the snapshot a FetchResponse named. Kafka sends it
    /// in slices by position; here it comes whole in one answer.
    FetchSnapshot {
        epoch: RaftEpoch,
        snapshot_id: SnapshotId,
        replica_id: RaftNodeId,
        correlation_id: u64,
    },
    FetchSnapshotResponse {
        epoch: RaftEpoch,
        leader: Option<RaftNodeId>,
        snapshot: Option<Snapshot<P>>,
        error: Option<RaftError>,
        correlation_id: u64,
    },
}

impl<P> RaftMessage<P> {
    /// Kafka's name for the request or response.
    pub fn kind(&self) -> &'static str {
        match self {
            RaftMessage::Vote { .. } => "Vote",
            RaftMessage::VoteResponse { .. } => "VoteResponse",
            RaftMessage::BeginQuorumEpoch { .. } => "BeginQuorumEpoch",
            RaftMessage::BeginQuorumEpochResponse { .. } => "BeginQuorumEpochResponse",
            RaftMessage::EndQuorumEpoch { .. } => "EndQuorumEpoch",
            RaftMessage::EndQuorumEpochResponse { .. } => "EndQuorumEpochResponse",
            RaftMessage::Fetch { .. } => "Fetch",
            RaftMessage::FetchResponse(_) => "FetchResponse",
            RaftMessage::FetchSnapshot { .. } => "FetchSnapshot",
            RaftMessage::FetchSnapshotResponse { .. } => "FetchSnapshotResponse",
        }
    }
}

/// The answer to a Fetch (Kafka's `FetchResponseData` for the metadata partition).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FetchResponse<P> {
    pub epoch: RaftEpoch,
    pub leader: Option<RaftNodeId>,
    /// `None` is Kafka's -1: a new leader exposes no HW until its epoch has committed.
    pub high_watermark: Option<u64>,
    /// Entries from the fetch offset on.
    pub records: Vec<Entry<P>>,
    /// `(epoch, end_offset)`: the follower's log diverges; truncate to that end.
    pub diverging_epoch: Option<(RaftEpoch, u64)>,
    /// The follower's position is below the leader's log: download this snapshot.
    pub snapshot_id: Option<SnapshotId>,
    pub error: Option<RaftError>,
    pub correlation_id: u64,
}

/// Why a leader stepped down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResignReason {
    /// No Fetch from a majority of voters within the check-quorum timeout (KAFKA-15489).
    CheckQuorum,
    /// Graceful shutdown (`KafkaRaftClient.shutdown` → `resign`).
    Shutdown,
}

/// What happened, for the narration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RaftEvent {
    BecameUnattached {
        epoch: RaftEpoch,
    },
    BecameProspective {
        epoch: RaftEpoch,
    },
    BecameCandidate {
        epoch: RaftEpoch,
    },
    ElectedLeader {
        epoch: RaftEpoch,
        votes: Vec<RaftNodeId>,
    },
    BecameFollower {
        leader: RaftNodeId,
        epoch: RaftEpoch,
    },
    Resigned {
        epoch: RaftEpoch,
        why: ResignReason,
    },
    Truncated {
        from: u64,
        to: u64,
    },
    HighWatermark {
        hw: u64,
    },
    /// A snapshot downloaded from the leader replaced the log up to its end.
    SnapshotFetched {
        id: SnapshotId,
        from: RaftNodeId,
        /// Where the replica's log ended before (0: it was empty).
        log_end_offset_before: u64,
    },
    /// Retention deleted the oldest snapshot and the log below the next one.
    LogStartMoved {
        log_start_offset: u64,
    },
}

/// Which of a state's deadlines a timer stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKind {
    /// Election timeout of an Unattached voter, a Prospective, Candidate or Resigned one.
    Election,
    /// A Candidate's backoff before its next try (`binaryExponentialElectionBackoffMs`).
    ElectionBackoff,
    /// A Follower's `controller.quorum.fetch.timeout.ms` since its last successful fetch.
    FetchTimeout,
    /// A Follower or observer sends its next Fetch: its request timed out or it backs off
    /// after an error.
    FetchRetry,
    /// A Leader's check-quorum timeout.
    CheckQuorum,
    /// A Leader resends BeginQuorumEpoch to voters that have not fetched yet.
    BeginQuorumEpochResend,
    /// A Resigned leader resends EndQuorumEpoch to voters that have not answered.
    EndQuorumEpochResend,
    /// A Leader answers a parked Fetch of this replica (`MAX_FETCH_WAIT_MS`).
    FetchWait(RaftNodeId),
}

/// A timer: its kind, the state generation it was set in (a timer from an earlier state is
/// stale) and the time it was set to fire, so the replica knows which deadline it meets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RaftTimer {
    pub kind: TimerKind,
    pub generation: u64,
    pub at_ms: u64,
}

/// Effects of one input: messages to send, timers to set (`(delay_ms, timer)`), events.
/// Messages to one replica must arrive in the order sent, or not at all (TCP).
#[derive(Debug)]
pub struct RaftOutput<P> {
    pub messages: Vec<(RaftNodeId, RaftMessage<P>)>,
    pub timers: Vec<(u64, RaftTimer)>,
    pub events: Vec<RaftEvent>,
}

impl<P> Default for RaftOutput<P> {
    fn default() -> Self {
        RaftOutput {
            messages: Vec::new(),
            timers: Vec::new(),
            events: Vec::new(),
        }
    }
}

impl<P> RaftOutput<P> {
    pub fn send(&mut self, to: RaftNodeId, message: RaftMessage<P>) {
        self.messages.push((to, message));
    }

    pub fn event(&mut self, event: RaftEvent) {
        self.events.push(event);
    }
}
