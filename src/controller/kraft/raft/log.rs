//! The replica's disk: the `__cluster_metadata` log with its epoch cache, and the
//! `quorum-state` file (Kafka's `KafkaMetadataLog`, `LeaderEpochFileCache` and
//! `FileQuorumStateStore`).
//!
//! Why a separate struct: a crash loses the process but not its disk. The world keeps a
//! [`RaftDisk`] across a crash ([`RaftDisk::crash`] drops the unflushed tail, as a power loss
//! does) and hands it to `RaftReplica::new` on restart, exactly as Kafka's `QuorumState`
//! and `KafkaRaftClient` reload `quorum-state` and the log on start.

use super::{RaftEpoch, RaftNodeId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// One record of the metadata log with the leader epoch it was written in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry<P> {
    pub epoch: RaftEpoch,
    pub body: EntryBody<P>,
}

/// What an entry holds: a control record of the quorum or a payload of the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum EntryBody<P> {
    /// Kafka's `LeaderChangeMessage` control record: a new leader writes it at the start of
    /// its epoch, so the epoch has an entry of its own to commit (Raft §5.4.2).
    LeaderChange {
        leader: RaftNodeId,
        voters: Vec<RaftNodeId>,
        granting_voters: Vec<RaftNodeId>,
    },
    /// A record of the host (a metadata record of the controller, its `NoOpRecord` too).
    Data(P),
}

/// The metadata log: entries from `log_start_offset` on, an epoch cache and how much of it is
/// on disk. Offsets are exclusive ends, as everywhere in the model.
#[derive(Clone, Debug, PartialEq)]
pub struct RaftLog<P> {
    /// Where the log starts; 0 until snapshots (not modelled yet) let it advance.
    log_start_offset: u64,
    entries: Vec<Entry<P>>,
    /// `LeaderEpochFileCache`: each epoch present in the log and its first offset.
    epoch_starts: BTreeMap<RaftEpoch, u64>,
    /// The end of what has been fsynced; the rest is in the page cache only.
    flushed_end_offset: u64,
}

impl<P: Clone + Debug + PartialEq> Default for RaftLog<P> {
    fn default() -> Self {
        RaftLog::new()
    }
}

impl<P: Clone + Debug + PartialEq> RaftLog<P> {
    pub fn new() -> Self {
        RaftLog {
            log_start_offset: 0,
            entries: Vec::new(),
            epoch_starts: BTreeMap::new(),
            flushed_end_offset: 0,
        }
    }

    pub fn log_start_offset(&self) -> u64 {
        self.log_start_offset
    }

    /// The log end offset (exclusive).
    pub fn end_offset(&self) -> u64 {
        self.log_start_offset + self.entries.len() as u64
    }

    pub fn flushed_end_offset(&self) -> u64 {
        self.flushed_end_offset
    }

    /// The epoch of the last entry, 0 for an empty log (Kafka's `lastFetchedEpoch`).
    pub fn last_epoch(&self) -> RaftEpoch {
        self.entries.last().map_or(0, |e| e.epoch)
    }

    pub fn get(&self, offset: u64) -> Option<&Entry<P>> {
        let index = offset.checked_sub(self.log_start_offset)?;
        self.entries.get(usize::try_from(index).ok()?)
    }

    /// Entries in `[from, to)`, clamped to the log.
    pub fn read(&self, from: u64, to: u64) -> Vec<Entry<P>> {
        let from = from.max(self.log_start_offset);
        let to = to.min(self.end_offset());
        if from >= to {
            return Vec::new();
        }
        let start = (from - self.log_start_offset) as usize;
        let end = (to - self.log_start_offset) as usize;
        self.entries[start..end].to_vec()
    }

    /// Appends one entry and returns its offset. Epochs never go down within a log.
    pub fn append(&mut self, entry: Entry<P>) -> u64 {
        assert!(
            entry.epoch >= self.last_epoch(),
            "appending epoch {} after epoch {}",
            entry.epoch,
            self.last_epoch()
        );
        let offset = self.end_offset();
        self.epoch_starts.entry(entry.epoch).or_insert(offset);
        self.entries.push(entry);
        offset
    }

    /// Removes every entry at `offset` and above (`UnifiedLog.truncateTo`), the epoch cache
    /// with them (`LeaderEpochFileCache.truncateFromEnd`).
    pub fn truncate_to(&mut self, offset: u64) {
        assert!(
            offset >= self.log_start_offset,
            "truncating below the log start"
        );
        if offset >= self.end_offset() {
            return;
        }
        self.entries
            .truncate((offset - self.log_start_offset) as usize);
        self.epoch_starts.retain(|_, start| *start < offset);
        self.flushed_end_offset = self.flushed_end_offset.min(offset);
    }

    /// fsync: everything appended so far survives a crash.
    pub fn flush(&mut self) {
        self.flushed_end_offset = self.end_offset();
    }

    /// The epoch cache's entries that start below `offset`, as `(epoch, start offset)`:
    /// what names the entries below `offset` (an entry is named by its offset and epoch).
    pub fn epoch_starts_below(&self, offset: u64) -> Vec<(RaftEpoch, u64)> {
        self.epoch_starts
            .iter()
            .filter(|(_, &start)| start < offset)
            .map(|(&epoch, &start)| (epoch, start))
            .collect()
    }

    /// `LeaderEpochFileCache.endOffsetFor`: the largest epoch ≤ `epoch` in this log and the
    /// offset where it ends (the start of the next epoch, or the log end for the last one).
    /// An epoch below every known one ends where the first known epoch starts; 0 on an empty
    /// log is `(0, end)`. `None` is Kafka's `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`: the
    /// epoch is above every epoch in the log.
    pub fn end_offset_for_epoch(&self, epoch: RaftEpoch) -> Option<(RaftEpoch, u64)> {
        if epoch == self.last_epoch() {
            return Some((epoch, self.end_offset()));
        }
        let (_, &next_start) = self.epoch_starts.range(epoch + 1..).next()?;
        match self.epoch_starts.range(..=epoch).next_back() {
            Some((&floor, _)) => Some((floor, next_start)),
            None => Some((epoch, next_start)),
        }
    }
}

/// The `quorum-state` file (`ElectionState` as `QuorumStateData`): the epoch, the leader
/// known in it and the vote cast in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElectionState {
    pub epoch: RaftEpoch,
    pub leader: Option<RaftNodeId>,
    pub voted: Option<RaftNodeId>,
}

/// What survives a crash: the log and the election state.
#[derive(Clone, Debug, PartialEq)]
pub struct RaftDisk<P> {
    pub log: RaftLog<P>,
    pub quorum_state: ElectionState,
}

impl<P: Clone + Debug + PartialEq> Default for RaftDisk<P> {
    fn default() -> Self {
        RaftDisk::new()
    }
}

impl<P: Clone + Debug + PartialEq> RaftDisk<P> {
    /// A freshly formatted node: empty log, epoch 0.
    pub fn new() -> Self {
        RaftDisk {
            log: RaftLog::new(),
            quorum_state: ElectionState::default(),
        }
    }

    /// A power loss: the unflushed tail of the log is gone. `quorum-state` is written
    /// durably (`FileQuorumStateStore` writes and fsyncs a temporary file, then renames it),
    /// so it survives whole.
    pub fn crash(&mut self) {
        let flushed = self.log.flushed_end_offset();
        self.log.truncate_to(flushed);
    }
}
