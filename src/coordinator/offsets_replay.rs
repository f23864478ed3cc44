//! Reading an offsets partition back when its new leader loads it: Kafka's
//! `GroupMetadataManager.doLoadGroupsAndOffsets`.
//!
//! Why batches and not records: a transactional offset commit is told apart only by its
//! batch (the transactional attribute and the producer id), and it ends with a control batch
//! of the same producer id. The replay holds such offsets per producer id until that
//! producer's marker: a COMMIT makes them committed offsets, unless an offset of the same
//! partition written later in the log is already there; an ABORT drops them; a transaction
//! still open at the end of the log leaves them pending in the loaded group, to be completed
//! by the marker the transaction coordinator will write. Plain offsets and group metadata
//! apply in log order, the last one of a key winning, as compaction would keep it.

use super::group_metadata::Group;
use super::records::{GroupMetadataRecord, GroupRecord};
use super::txn_offsets::PendingTxnOffset;
use crate::types::*;
use std::collections::BTreeMap;

/// An offset read back, with the base offset of the batch that wrote it (Kafka's
/// `CommitRecordMetadataAndOffset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LoadedOffset {
    offset: u64,
    position: u64,
}

/// A group's partition: the key of an offset record.
type GroupPartition = (String, TopicPartition);

/// What the replay has read so far.
#[derive(Debug, Default)]
pub(super) struct OffsetsReplay {
    /// Kafka's `loadedOffsets`.
    offsets: BTreeMap<GroupPartition, LoadedOffset>,
    /// Kafka's `pendingOffsets`: transactional offsets per producer id, until its marker.
    pending: BTreeMap<i64, BTreeMap<GroupPartition, LoadedOffset>>,
    /// Kafka's `loadedGroups`: each group's last metadata record.
    metadata: BTreeMap<String, GroupMetadataRecord>,
    /// How many offset records were read, committed or not.
    pub(super) offset_records: u32,
}

impl OffsetsReplay {
    /// Reads `batches` in log order.
    pub(super) fn read(batches: &[RecordBatch]) -> OffsetsReplay {
        let mut replay = OffsetsReplay::default();
        for batch in batches {
            replay.batch(batch);
        }
        replay
    }

    fn batch(&mut self, batch: &RecordBatch) {
        let stamp = batch.producer;
        if let Some(marker) = batch.control {
            let producer_id = stamp.expect("a marker names its producer").producer_id;
            self.marker(producer_id, marker.control_type);
            return;
        }
        let transaction = stamp.filter(|s| s.is_transactional).map(|s| s.producer_id);
        // Kafka takes the offset of the batch's first record that is left.
        let Some(position) = batch.records.first().map(|r| r.offset) else {
            return;
        };
        for r in &batch.records {
            let Some(key) = &r.key else {
                debug_assert!(false, "a __consumer_offsets record without a key");
                continue;
            };
            // The coordinator's own tombstones are not modelled: every value is a record.
            let Some(value) = &r.value else { continue };
            match GroupRecord::decode(key, value) {
                Some(GroupRecord::Offset { group, tp, offset }) => {
                    self.offset_records += 1;
                    let loaded = LoadedOffset { offset, position };
                    let offsets = match transaction {
                        Some(producer_id) => self.pending.entry(producer_id).or_default(),
                        None => &mut self.offsets,
                    };
                    offsets.insert((group, tp), loaded);
                }
                Some(GroupRecord::Metadata(meta)) => {
                    self.metadata.insert(meta.group.clone(), meta);
                }
                None => {
                    debug_assert!(false, "an undecodable record in __consumer_offsets: {key}");
                }
            }
        }
    }

    /// A control batch of `producer_id`: its transaction's offsets are committed (unless a
    /// later-written offset is already there) or dropped.
    fn marker(&mut self, producer_id: i64, control_type: ControlRecordType) {
        let Some(pending) = self.pending.remove(&producer_id) else {
            return;
        };
        if control_type != ControlRecordType::Commit {
            return;
        }
        for (key, loaded) in pending {
            let newer_there = self
                .offsets
                .get(&key)
                .is_some_and(|current| current.position >= loaded.position);
            if !newer_there {
                self.offsets.insert(key, loaded);
            }
        }
    }

    /// The groups read: those with metadata, and those with only offsets, committed or
    /// pending (Kafka's `emptyGroupOffsets` and `pendingEmptyGroupOffsets`), which load
    /// Empty. A group whose only offsets were aborted is not loaded.
    pub(super) fn into_groups(self, partition: u32) -> BTreeMap<String, Group> {
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for (id, meta) in self.metadata {
            group_in(&mut groups, &id, partition).apply_metadata(meta);
        }
        for ((id, tp), loaded) in self.offsets {
            group_in(&mut groups, &id, partition).load_offset(tp, loaded.offset, loaded.position);
        }
        for (producer_id, offsets) in self.pending {
            for ((id, tp), loaded) in offsets {
                let pending = PendingTxnOffset {
                    offset: loaded.offset,
                    position: Some(loaded.position),
                };
                group_in(&mut groups, &id, partition)
                    .pending_txn_offsets
                    .entry(producer_id)
                    .or_default()
                    .insert(tp, pending);
            }
        }
        groups
    }
}

/// The group `id` of `groups`, created Empty if need be.
fn group_in<'a>(
    groups: &'a mut BTreeMap<String, Group>,
    id: &str,
    partition: u32,
) -> &'a mut Group {
    groups
        .entry(id.to_string())
        .or_insert_with(|| Group::new(id.to_string(), partition))
}
