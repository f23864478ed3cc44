//! The replica's disk: the `__cluster_metadata` log with its epoch cache, and the
//! `quorum-state` file (Kafka's `KafkaMetadataLog`, `LeaderEpochFileCache` and
//! `FileQuorumStateStore`).
//!
//! Why a separate struct: a crash loses the process but not its disk. The world keeps a
//! [`RaftDisk`] across a crash ([`RaftDisk::crash`] drops the unflushed tail, as a power loss
//! does) and hands it to `RaftReplica::new` on restart, exactly as Kafka's `QuorumState`
//! and `KafkaRaftClient` reload `quorum-state` and the log on start.
//!
//! Snapshots (KIP-630) live here too, as Kafka keeps the `.checkpoint` files in the log's
//! directory beside its segments: a snapshot is written whole and fsynced before it counts
//! (`FileRawSnapshotWriter.freeze`), so a crash keeps every snapshot it has. Only a snapshot
//! lets the log start move: cleaning deletes the oldest snapshot and everything below the
//! next one (`KafkaMetadataLog.deleteBeforeSnapshot`), and a replica that downloaded a
//! snapshot past its log end starts its log over at the snapshot
//! (`KafkaMetadataLog.truncateToLatestSnapshot`).

use super::{RaftEpoch, RaftNodeId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// One record of the metadata log with the leader epoch it was written in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry<P> {
    pub epoch: RaftEpoch,
    /// The leader's clock when it appended the record (the batch's `maxTimestamp`): a
    /// snapshot's age for `metadata.max.retention.ms` is the age of its last record.
    pub append_time_ms: u64,
    pub body: EntryBody<P>,
}

/// A snapshot's name (Kafka's `OffsetAndEpoch` of a snapshot id): the end offset of what
/// it holds (exclusive) and the epoch of its last record. Ordered by offset, then epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SnapshotId {
    pub end_offset: u64,
    pub epoch: RaftEpoch,
}

/// The state the log's records below `id.end_offset` build, written as the records that
/// rebuild it (Kafka's snapshot `.checkpoint` file: the host's `MetadataImage.write`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Snapshot<P> {
    pub id: SnapshotId,
    /// The append time of the last record it covers (`Snapshots.lastContainedLogTimestamp`).
    pub last_contained_log_time_ms: u64,
    pub records: Vec<P>,
}

/// What a leader's log says of a follower's fetch position (Kafka's `ValidOffsetAndEpoch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchPosition {
    /// The position lies on this log.
    Valid,
    /// The logs diverge: the follower truncates to this `(epoch, end offset)`.
    Diverging(RaftEpoch, u64),
    /// The position is below what the log still holds: fetch this snapshot.
    Snapshot(SnapshotId),
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

/// The metadata log: entries from `log_start_offset` on, an epoch cache, how much of it is
/// on disk, and the snapshots. Offsets are exclusive ends, as everywhere in the model.
#[derive(Clone, Debug, PartialEq)]
pub struct RaftLog<P> {
    /// Where the log starts: 0 until a snapshot lets it move.
    log_start_offset: u64,
    entries: Vec<Entry<P>>,
    /// `LeaderEpochFileCache`: each epoch present in the log and its first offset (the
    /// epoch the log start falls in starts at the log start, `truncateFromStart`).
    epoch_starts: BTreeMap<RaftEpoch, u64>,
    /// The end of what has been fsynced; the rest is in the page cache only.
    flushed_end_offset: u64,
    /// The frozen snapshots by id (`KafkaMetadataLog.snapshots`).
    snapshots: BTreeMap<SnapshotId, Snapshot<P>>,
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
            snapshots: BTreeMap::new(),
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

    /// The epoch of the last entry (Kafka's `lastFetchedEpoch`): the epoch cache's latest,
    /// else, for a log that starts and ends at its latest snapshot, that snapshot's epoch,
    /// else 0.
    pub fn last_epoch(&self) -> RaftEpoch {
        if let Some((&epoch, _)) = self.epoch_starts.last_key_value() {
            return epoch;
        }
        match self.latest_snapshot_id() {
            Some(id) => {
                assert!(
                    id.end_offset == self.log_start_offset && id.end_offset == self.end_offset(),
                    "an empty epoch cache beside snapshot {id:?}, but the log spans {}..{}",
                    self.log_start_offset,
                    self.end_offset()
                );
                id.epoch
            }
            None => 0,
        }
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

    /// `LeaderEpochFileCache.endOffsetFor`: the largest epoch ≤ `epoch` in the cache and
    /// the offset where it ends (the start of the next epoch, or the log end for the last
    /// one). An epoch below every cached one ends where the first cached epoch starts.
    /// `None` is Kafka's `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`: the epoch is above
    /// every cached epoch, or the cache is empty.
    fn cache_end_offset_for(&self, epoch: RaftEpoch) -> Option<(RaftEpoch, u64)> {
        if self.epoch_starts.last_key_value().map(|(e, _)| *e) == Some(epoch) {
            return Some((epoch, self.end_offset()));
        }
        let (_, &next_start) = self.epoch_starts.range(epoch + 1..).next()?;
        match self.epoch_starts.range(..=epoch).next_back() {
            Some((&floor, _)) => Some((floor, next_start)),
            None => Some((epoch, next_start)),
        }
    }

    /// `KafkaMetadataLog.endOffsetForEpoch`: the cache's answer, except that an epoch
    /// older than the log's ends at the earliest snapshot (the one at the log start), and
    /// an epoch the cache cannot place ends at the log end with the last epoch. 0 on an
    /// empty log is `(0, 0)`.
    pub fn end_offset_for_epoch(&self, epoch: RaftEpoch) -> (RaftEpoch, u64) {
        match (
            self.cache_end_offset_for(epoch),
            self.earliest_snapshot_id(),
        ) {
            (Some((found, offset)), Some(snapshot))
                if offset == snapshot.end_offset && found == epoch =>
            {
                (snapshot.epoch, snapshot.end_offset)
            }
            (Some(found), _) => found,
            (None, _) if epoch == self.last_epoch() => (epoch, self.end_offset()),
            (None, _) => (self.last_epoch(), self.end_offset()),
        }
    }

    /// `ReplicatedLog.validateOffsetAndEpoch`, the leader's judgement of a follower's
    /// `(fetch_offset, last_fetched_epoch)`. `snapshot_for_empty_fetcher`: from 3.9
    /// (KAFKA-16532) a fetcher with an empty log is sent the latest snapshot whenever
    /// there is one (`KafkaRaftClient.handleFetchRequest`).
    pub fn validate_fetch_position(
        &self,
        offset: u64,
        epoch: RaftEpoch,
        snapshot_for_empty_fetcher: bool,
    ) -> FetchPosition {
        if snapshot_for_empty_fetcher && offset == 0 {
            if let Some(latest) = self.latest_snapshot_id() {
                return FetchPosition::Snapshot(latest);
            }
        }
        if self.log_start_offset == 0 && offset == 0 {
            return FetchPosition::Valid;
        }
        if let Some(earliest) = self.earliest_snapshot_id() {
            if offset < self.log_start_offset
                || (offset == self.log_start_offset && epoch != earliest.epoch)
                || epoch < earliest.epoch
            {
                let latest = self
                    .latest_snapshot_id()
                    .expect("an earliest snapshot is a latest one too");
                return FetchPosition::Snapshot(latest);
            }
        }
        let (end_epoch, end_offset) = self.end_offset_for_epoch(epoch);
        if end_epoch != epoch || end_offset < offset {
            FetchPosition::Diverging(end_epoch, end_offset)
        } else {
            FetchPosition::Valid
        }
    }

    // Snapshots
    // ------------------------------------------------------------------------------------

    pub fn latest_snapshot_id(&self) -> Option<SnapshotId> {
        self.snapshots.last_key_value().map(|(id, _)| *id)
    }

    pub fn earliest_snapshot_id(&self) -> Option<SnapshotId> {
        self.snapshots.first_key_value().map(|(id, _)| *id)
    }

    pub fn snapshot(&self, id: SnapshotId) -> Option<&Snapshot<P>> {
        self.snapshots.get(&id)
    }

    pub fn latest_snapshot(&self) -> Option<&Snapshot<P>> {
        self.snapshots.last_key_value().map(|(_, s)| s)
    }

    pub fn snapshot_ids(&self) -> Vec<SnapshotId> {
        self.snapshots.keys().copied().collect()
    }

    /// Keeps a frozen snapshot (written and fsynced whole). A snapshot of the same id is
    /// kept once (`createNewSnapshotUnchecked` refuses a second).
    pub fn add_snapshot(&mut self, snapshot: Snapshot<P>) -> bool {
        if self.snapshots.contains_key(&snapshot.id) {
            return false;
        }
        self.snapshots.insert(snapshot.id, snapshot);
        true
    }

    /// The epoch of the record at `end_offset - 1`, when the log still holds it.
    pub fn epoch_of_last_record_below(&self, end_offset: u64) -> Option<RaftEpoch> {
        self.get(end_offset.checked_sub(1)?).map(|e| e.epoch)
    }

    /// `KafkaMetadataLog.truncateToLatestSnapshot`: when the latest snapshot lies past the
    /// log (a newer epoch, or the same epoch further on), the log starts over empty at the
    /// snapshot and the older snapshots are forgotten. Returns whether it did.
    pub fn truncate_to_latest_snapshot(&mut self) -> bool {
        let Some(latest) = self.latest_snapshot_id() else {
            return false;
        };
        let local_epoch = self.epoch_starts.last_key_value().map_or(0, |(e, _)| *e);
        let past = latest.epoch > local_epoch
            || (latest.epoch == local_epoch && latest.end_offset > self.end_offset());
        if !past {
            return false;
        }
        // `UnifiedLog.truncateFullyAndStartAt`.
        self.entries.clear();
        self.epoch_starts.clear();
        self.log_start_offset = latest.end_offset;
        self.flushed_end_offset = latest.end_offset;
        self.snapshots.retain(|id, _| *id >= latest);
        true
    }

    /// `KafkaMetadataLog.deleteBeforeSnapshot`: the log start moves up to snapshot `id`
    /// (which must not be past the latest snapshot nor past `high_watermark`), the entries
    /// below it go (`deleteOldSegments`; the model has no segment boundaries) and so do the
    /// older snapshots. Returns whether anything moved.
    pub fn delete_before_snapshot(&mut self, id: SnapshotId, high_watermark: u64) -> bool {
        let Some(latest) = self.latest_snapshot_id() else {
            return false;
        };
        if !(self.log_start_offset < id.end_offset
            && id.end_offset <= latest.end_offset
            && id.end_offset <= high_watermark
            && id.end_offset <= self.end_offset())
        {
            return false;
        }
        let drop = (id.end_offset - self.log_start_offset) as usize;
        self.entries.drain(..drop);
        self.log_start_offset = id.end_offset;
        self.flushed_end_offset = self.flushed_end_offset.max(id.end_offset);
        self.truncate_epoch_cache_from_start();
        self.snapshots.retain(|s, _| *s >= id);
        true
    }

    /// `LeaderEpochFileCache.truncateFromStart`: epochs wholly below the log start go; the
    /// one the log start falls in now starts there.
    fn truncate_epoch_cache_from_start(&mut self) {
        let start = self.log_start_offset;
        let below: Vec<(RaftEpoch, u64)> = self
            .epoch_starts
            .iter()
            .filter(|(_, &s)| s < start)
            .map(|(&e, &s)| (e, s))
            .collect();
        let Some(&(last_below, _)) = below.last() else {
            return;
        };
        for (epoch, _) in &below {
            self.epoch_starts.remove(epoch);
        }
        if !self.epoch_starts.values().any(|&s| s == start) {
            self.epoch_starts.insert(last_below, start);
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
    ///
    /// An observer does not flush its log, so the tail it lost may lie below a snapshot it
    /// had written or downloaded; recovery then starts the log over at that snapshot
    /// (`KafkaMetadataLog.apply` calls `truncateToLatestSnapshot` on every load). It is done
    /// here at once, so a node that is down has a disk that reads consistently.
    pub fn crash(&mut self) {
        let flushed = self.log.flushed_end_offset();
        self.log.truncate_to(flushed);
        self.log.truncate_to_latest_snapshot();
    }
}
