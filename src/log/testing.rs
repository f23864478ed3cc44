//! Small builders for the log layer's tests.

use crate::types::{Record, RecordBatch};

/// A one-record batch at `offset` with `key`, a 5-byte value and timestamp `ts_ms`, as
/// Kafka's tests append one record per batch.
pub fn batch_at(offset: u64, key: Option<&str>, ts_ms: u64) -> RecordBatch {
    record_batch(offset, key, Some("value"), ts_ms)
}

/// A one-record batch at `offset`; `value` `None` is a tombstone.
pub fn record_batch(
    offset: u64,
    key: Option<&str>,
    value: Option<&str>,
    ts_ms: u64,
) -> RecordBatch {
    let record = Record::by_hand(
        offset,
        key.map(str::to_string),
        value.map(str::to_string),
        ts_ms,
        None,
    );
    RecordBatch {
        base_offset: offset,
        last_offset: offset,
        leader_epoch: 0,
        producer: None,
        delete_horizon_ms: None,
        control: None,
        base_timestamp_ms: ts_ms,
        max_timestamp_ms: ts_ms,
        records: vec![record],
    }
}
