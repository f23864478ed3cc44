//! The records of `__transaction_state`: one key per transactional id, whose newest value is
//! that id's state (Kafka's `TransactionLog` with its `TransactionLogKey` and
//! `TransactionLogValue`), and which partition holds an id.
//!
//! Why a topic: the coordinator's state must outlive the broker that holds it. Every change
//! is written to the id's partition with `acks=all` before the coordinator acts on it, so
//! the broker that leads the partition next reads the ids back from the log and carries on:
//! it resends the markers of a transaction it finds in PrepareCommit or PrepareAbort. The
//! topic is compacted, so only each id's newest value matters; an expired id is removed
//! by a tombstone.
//!
//! Kafka encodes these records with versioned binary schemas; the simulator keeps them
//! readable text, as it does `__consumer_offsets`, so a scenario's log shows what the
//! coordinator wrote.

use super::metadata::{
    TransactionMetadata, TransactionState, TransactionVersion, TxnTransitMetadata,
    NO_PRODUCER_EPOCH,
};
use crate::types::TopicPartition;
use std::collections::BTreeSet;

/// The topic's name (`Topic.TRANSACTION_STATE_TOPIC_NAME`).
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Kafka's `String.hashCode` in Java: over the UTF-16 code units, `h = 31 * h + unit`,
/// wrapping as an `int`.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `TransactionStateManager.partitionFor`: `Utils.abs(transactionalId.hashCode) %
/// transaction.state.log.num.partitions`, where `Utils.abs` maps `Integer.MIN_VALUE` to 0.
pub fn partition_for(transactional_id: &str, partition_count: u32) -> u32 {
    assert!(partition_count > 0, "the state topic has partitions");
    let hash = java_string_hash(transactional_id);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs as u32 % partition_count
}

/// The separator of a record's fields; see `coordinator::records`.
const FIELD_SEPARATOR: char = '\u{1f}';

fn version_level(v: TransactionVersion) -> u8 {
    match v {
        TransactionVersion::V0 => 0,
        TransactionVersion::V1 => 1,
        TransactionVersion::V2 => 2,
    }
}

fn version_of_level(level: u8) -> Option<TransactionVersion> {
    match level {
        0 => Some(TransactionVersion::V0),
        1 => Some(TransactionVersion::V1),
        2 => Some(TransactionVersion::V2),
        _ => None,
    }
}

/// The record key of `transactional_id` (`TransactionLog.keyToBytes`).
pub fn key(transactional_id: &str) -> String {
    ["txn", transactional_id].join(&FIELD_SEPARATOR.to_string())
}

/// The record value of a change (`TransactionLog.valueToBytes`): an Empty id lists no
/// partitions (Kafka throws if one does).
pub fn value(m: &TxnTransitMetadata) -> String {
    assert!(
        m.state != TransactionState::Empty || m.topic_partitions.is_empty(),
        "an Empty transactional id has no partitions: {m:?}"
    );
    let partitions: Vec<String> = m.topic_partitions.iter().map(|tp| tp.to_string()).collect();
    [
        format!("producer_id={}", m.producer_id),
        format!("previous_producer_id={}", m.prev_producer_id),
        format!("next_producer_id={}", m.next_producer_id),
        format!("producer_epoch={}", m.producer_epoch),
        format!("timeout_ms={}", m.txn_timeout_ms),
        format!("state={}", m.state.id()),
        format!("partitions={}", partitions.join(",")),
        format!(
            "start_ms={}",
            m.txn_start_timestamp_ms.map_or(-1, |t| t as i64)
        ),
        format!("last_update_ms={}", m.txn_last_update_timestamp_ms),
        format!(
            "client_transaction_version={}",
            version_level(m.client_transaction_version)
        ),
    ]
    .join("\n")
}

/// The transactional id a record key names, if it is one of this topic's.
pub fn read_key(key: &str) -> Option<&str> {
    let (kind, id) = key.split_once(FIELD_SEPARATOR)?;
    (kind == "txn").then_some(id)
}

/// The state a record value gives `transactional_id` (`TransactionLog.readTxnRecordValue`):
/// the last epoch is unknown after a load (-1), there is no pending state, and an Empty id
/// has no partitions. `None` if the value is not one this module wrote.
pub fn read_value(transactional_id: &str, value: &str) -> Option<TransactionMetadata> {
    let mut m = TransactionMetadata::new(transactional_id, -1, 0, 0);
    m.last_producer_epoch = NO_PRODUCER_EPOCH;
    let mut partitions = BTreeSet::new();
    for line in value.lines() {
        let (k, v) = line.split_once('=')?;
        match k {
            "producer_id" => m.producer_id = v.parse().ok()?,
            "previous_producer_id" => m.previous_producer_id = v.parse().ok()?,
            "next_producer_id" => m.next_producer_id = v.parse().ok()?,
            "producer_epoch" => m.producer_epoch = v.parse().ok()?,
            "timeout_ms" => m.txn_timeout_ms = v.parse().ok()?,
            "state" => m.state = TransactionState::from_id(v.parse().ok()?)?,
            "partitions" if v.is_empty() => {}
            "partitions" => {
                for tp in v.split(',') {
                    partitions.insert(TopicPartition::parse(tp)?);
                }
            }
            "start_ms" => {
                let t: i64 = v.parse().ok()?;
                m.txn_start_timestamp_ms = u64::try_from(t).ok();
            }
            "last_update_ms" => m.txn_last_update_timestamp_ms = v.parse().ok()?,
            "client_transaction_version" => {
                m.client_transaction_version = version_of_level(v.parse().ok()?)?
            }
            _ => return None,
        }
    }
    if m.state != TransactionState::Empty {
        m.topic_partitions = partitions;
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values Java's `"...".hashCode()` gives, and so the partitions Kafka picks with the
    /// default 50 partitions.
    #[test]
    fn the_partition_is_the_one_kafka_picks() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        // "polygenelubricants".hashCode() is Integer.MIN_VALUE: Utils.abs makes it 0.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
        // A negative hash: "tx-1"'s is positive, but a long id overflows.
        let long = "transactional-id-of-a-very-long-name";
        let h = java_string_hash(long);
        assert_eq!(partition_for(long, 50), (h.unsigned_abs() % 50));
        // Java counts UTF-16 units: a character outside the BMP is two.
        assert_eq!(
            java_string_hash("\u{1F600}"),
            0xD83D_i32.wrapping_mul(31).wrapping_add(0xDE00)
        );
    }

    fn transit(state: TransactionState, partitions: &[&str]) -> TxnTransitMetadata {
        TxnTransitMetadata {
            producer_id: 7,
            prev_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: 3,
            last_producer_epoch: 2,
            txn_timeout_ms: 60_000,
            state,
            topic_partitions: partitions
                .iter()
                .map(|p| TopicPartition::parse(p).expect("topic-N"))
                .collect(),
            txn_start_timestamp_ms: Some(1_000),
            txn_last_update_timestamp_ms: 1_500,
            client_transaction_version: TransactionVersion::V2,
        }
    }

    #[test]
    fn a_value_reads_back_as_the_state_it_wrote_without_the_last_epoch() {
        let written = transit(
            TransactionState::Ongoing,
            &["orders-0", "orders-1", "out-2"],
        );
        assert_eq!(read_key(&key("tx-1")), Some("tx-1"));
        let m = read_value("tx-1", &value(&written)).expect("readable");
        assert_eq!(m.transactional_id, "tx-1");
        assert_eq!((m.producer_id, m.producer_epoch), (7, 3));
        assert_eq!(m.last_producer_epoch, NO_PRODUCER_EPOCH, "not persisted");
        assert_eq!(m.state, TransactionState::Ongoing);
        assert_eq!(m.topic_partitions, written.topic_partitions);
        assert_eq!(m.txn_start_timestamp_ms, Some(1_000));
        assert_eq!(m.txn_last_update_timestamp_ms, 1_500);
        assert_eq!(m.txn_timeout_ms, 60_000);
        assert_eq!(m.client_transaction_version, TransactionVersion::V2);
        assert_eq!(m.pending_state, None);
    }

    #[test]
    fn an_empty_id_has_no_start_and_no_partitions() {
        let mut written = transit(TransactionState::Empty, &[]);
        written.txn_start_timestamp_ms = None;
        let m = read_value("tx-1", &value(&written)).expect("readable");
        assert_eq!(m.txn_start_timestamp_ms, None);
        assert!(m.topic_partitions.is_empty());
        assert_eq!(read_key("offset\u{1f}g"), None, "another topic's key");
        assert!(read_value("tx-1", "state=99").is_none());
    }
}
