//! How many bytes a record takes, counted the way Kafka's record batch format v2 counts them.
//!
//! Rules measured in bytes (how full a producer batch is against `batch.size`, how long log
//! recovery takes after an unclean shutdown; segments and retention later) only behave as
//! Kafka's do when records have Kafka's sizes. A v2 batch is a fixed header
//! (`DefaultRecordBatch.RECORD_BATCH_OVERHEAD`, 61 bytes) followed by its records, and each
//! record is a varint length, then its body: one attributes byte, the timestamp delta and the
//! offset delta from the batch's first record (zig-zag varints), the key and the value (each a
//! varint length, -1 for null, then the bytes), and the headers (a varint count, then each
//! header's key and value with their lengths).
//!
//! The simulator does not carry payload bytes: a record's `value` is a short label that names
//! it, and `value_bytes` is the size of the payload it stands for. Sizes here use that size.

use crate::types::{ProducerRecord, Record};

/// Kafka's `DefaultRecordBatch.RECORD_BATCH_OVERHEAD`: the v2 batch header (base offset,
/// length, partition leader epoch, magic, CRC, attributes, last offset delta, base and max
/// timestamps, producer id, producer epoch, base sequence, record count).
pub const RECORD_BATCH_OVERHEAD_BYTES: u64 = 61;

/// The one record of a control batch, a transaction marker: its key is a version and the
/// control type (`ControlRecordType.CURRENT_CONTROL_RECORD_KEY_SIZE`, 4 bytes), its value a
/// version and the coordinator epoch (`EndTransactionMarker.CURRENT_END_TXN_MARKER_VALUE_SIZE`,
/// 6 bytes); with its length, attributes, zero deltas, two lengths and no headers, 17 bytes.
pub const CONTROL_RECORD_BYTES: u64 = 1 + 1 + 1 + 1 + 1 + 4 + 1 + 6 + 1;

/// Kafka's `DefaultRecord.MAX_RECORD_OVERHEAD`: the most a record's length, attributes and
/// deltas can take (5 + 1 + 10 + 5), used for the upper bound before the deltas are known.
pub const MAX_RECORD_OVERHEAD_BYTES: u64 = 21;

/// Kafka's `ByteUtils.sizeOfUnsignedVarint`: seven bits a byte.
pub fn unsigned_varint_size_bytes(value: u64) -> u64 {
    let bits = 64 - value.leading_zeros() as u64;
    bits.div_ceil(7).max(1)
}

/// Kafka's `ByteUtils.sizeOfVarint`: an `int` zig-zag encoded, then as an unsigned varint.
pub fn varint_size_bytes(value: i32) -> u64 {
    let zigzag = ((value << 1) ^ (value >> 31)) as u32;
    unsigned_varint_size_bytes(zigzag as u64)
}

/// Kafka's `ByteUtils.sizeOfVarlong`: a `long` zig-zag encoded, then as an unsigned varint.
pub fn varlong_size_bytes(value: i64) -> u64 {
    let zigzag = ((value << 1) ^ (value >> 63)) as u64;
    unsigned_varint_size_bytes(zigzag)
}

/// A length field and its bytes (`-1`, one byte, for a null).
fn sized_field_bytes(len: Option<u64>) -> u64 {
    match len {
        None => varint_size_bytes(-1),
        Some(n) => varint_size_bytes(n as i32) + n,
    }
}

/// The fields of a record that take bytes whatever its place in a batch.
#[derive(Clone, Copy, Debug)]
pub struct RecordFields<'a> {
    pub key: Option<&'a str>,
    /// `None` for a null value (a tombstone).
    pub value_bytes: Option<u32>,
    pub headers: &'a [(String, String)],
}

impl<'a> RecordFields<'a> {
    pub fn of_producer_record(r: &'a ProducerRecord) -> RecordFields<'a> {
        RecordFields {
            key: r.key.as_deref(),
            value_bytes: r.value.as_ref().map(|_| r.value_bytes),
            headers: &r.headers,
        }
    }

    pub fn of_record(r: &'a Record) -> RecordFields<'a> {
        RecordFields {
            key: r.key.as_deref(),
            value_bytes: r.value.as_ref().map(|_| r.value_bytes),
            headers: &r.headers,
        }
    }
}

/// Kafka's `DefaultRecord.sizeOf(keySize, valueSize, headers)`: key, value and headers with
/// their length fields.
fn key_value_headers_bytes(f: RecordFields<'_>) -> u64 {
    let key = sized_field_bytes(f.key.map(|k| k.len() as u64));
    let value = sized_field_bytes(f.value_bytes.map(u64::from));
    let headers = varint_size_bytes(f.headers.len() as i32)
        + f.headers
            .iter()
            .map(|(k, v)| {
                sized_field_bytes(Some(k.len() as u64)) + sized_field_bytes(Some(v.len() as u64))
            })
            .sum::<u64>();
    key + value + headers
}

/// Kafka's `DefaultRecord.sizeInBytes(offsetDelta, timestampDelta, key, value, headers)`
/// for a record given by its fields.
pub fn record_fields_size_bytes(
    offset_delta: u32,
    timestamp_delta_ms: i64,
    f: RecordFields<'_>,
) -> u64 {
    let body = 1
        + varint_size_bytes(offset_delta as i32)
        + varlong_size_bytes(timestamp_delta_ms)
        + key_value_headers_bytes(f);
    body + varint_size_bytes(body as i32)
}

/// Kafka's `DefaultRecord.sizeInBytes(offsetDelta, timestampDelta, key, value, headers)`:
/// the record's body (`sizeOfBodyInBytes`) and the varint that gives its length.
pub fn record_size_bytes(offset_delta: u32, timestamp_delta_ms: i64, r: &ProducerRecord) -> u64 {
    record_fields_size_bytes(
        offset_delta,
        timestamp_delta_ms,
        RecordFields::of_producer_record(r),
    )
}

/// Kafka's `DefaultRecord.recordSizeUpperBound`: the size before the record's place in a
/// batch is known.
pub fn record_size_upper_bound_bytes(r: &ProducerRecord) -> u64 {
    MAX_RECORD_OVERHEAD_BYTES + key_value_headers_bytes(RecordFields::of_producer_record(r))
}

/// Kafka's `AbstractRecords.estimateSizeInBytesUpperBound` for an uncompressed v2 batch of
/// one record: what `RecordAccumulator.append` sizes a new batch's buffer by, when the record
/// is larger than `batch.size`.
pub fn batch_size_upper_bound_bytes(r: &ProducerRecord) -> u64 {
    RECORD_BATCH_OVERHEAD_BYTES + record_size_upper_bound_bytes(r)
}

/// The bytes of each record of one batch as the log stores it, in order: each record's
/// `DefaultRecord.sizeInBytes` with its offset and timestamp deltas from the first record.
/// With the batch header ([`RECORD_BATCH_OVERHEAD_BYTES`]) they sum to the batch's
/// `DefaultRecordBatch.sizeInBytes`.
pub fn batch_record_sizes_bytes(records: &[ProducerRecord]) -> Vec<u64> {
    let Some(first) = records.first() else {
        return Vec::new();
    };
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let delta_ms = r.timestamp_ms as i64 - first.timestamp_ms as i64;
            record_size_bytes(i as u32, delta_ms, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RecordId;

    fn record(key: Option<&str>, value_bytes: u32) -> ProducerRecord {
        ProducerRecord {
            id: RecordId {
                producer: 0,
                seq: 0,
            },
            timestamp_ms: 1_000,
            key: key.map(str::to_string),
            value: Some("label".into()),
            value_bytes,
            headers: vec![],
        }
    }

    #[test]
    fn varints_match_kafkas_byte_utils() {
        // Zig-zag: 0 -> 0, -1 -> 1, 63 -> 126 (one byte), 64 -> 128 (two bytes).
        assert_eq!(varint_size_bytes(0), 1);
        assert_eq!(varint_size_bytes(-1), 1);
        assert_eq!(varint_size_bytes(63), 1);
        assert_eq!(varint_size_bytes(64), 2);
        assert_eq!(varint_size_bytes(8191), 2);
        assert_eq!(varint_size_bytes(8192), 3);
        assert_eq!(varint_size_bytes(i32::MAX), 5);
        assert_eq!(varint_size_bytes(i32::MIN), 5);
        assert_eq!(varlong_size_bytes(i64::MIN), 10);
        assert_eq!(unsigned_varint_size_bytes(0), 1);
        assert_eq!(unsigned_varint_size_bytes(127), 1);
        assert_eq!(unsigned_varint_size_bytes(128), 2);
    }

    /// A record with no key, a 100-byte value and no headers: a body of attributes 1 +
    /// offset delta 1 + timestamp delta 1 + null key 1 + value length 2 + 100 + header count 1
    /// = 107 bytes, and its length (107 zig-zags to 214) takes 2 more.
    #[test]
    fn a_record_counts_its_fields_as_kafka_does() {
        let r = record(None, 100);
        assert_eq!(record_size_bytes(0, 0, &r), 109);
        // A keyed record: "k1" adds a one-byte length and two bytes over the null key.
        assert_eq!(record_size_bytes(0, 0, &record(Some("k1"), 100)), 111);
        // Deltas past 63 take two bytes each.
        assert_eq!(record_size_bytes(64, 64, &r), 111);
        assert_eq!(record_size_upper_bound_bytes(&r), 21 + 1 + 2 + 100 + 1);
        assert_eq!(batch_size_upper_bound_bytes(&r), 61 + 125);
    }

    #[test]
    fn a_batchs_records_take_their_deltas_from_the_first() {
        let mut later = record(None, 100);
        later.timestamp_ms = 1_005;
        let sizes = batch_record_sizes_bytes(&[record(None, 100), later]);
        assert_eq!(sizes, vec![109, 109]);
        // A tombstone's null value takes one byte, its length -1.
        let mut tombstone = record(Some("k1"), 0);
        tombstone.value = None;
        assert_eq!(
            record_size_bytes(0, 0, &tombstone),
            1 + 1 + 1 + 3 + 1 + 1 + 1
        );
        assert!(batch_record_sizes_bytes(&[]).is_empty());
    }
}
