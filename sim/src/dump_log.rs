//! `kafka-sim run FILE --dump-log T-P`: each replica's segments of one partition after the
//! run, in the manner of `kafka-dump-log.sh --print-data-log` (Kafka's `DumpLogSegments`).
//!
//! What a learner checks against the narration is here: which segment holds which offsets,
//! the gaps the cleaner left (a batch keeps its base and last offset when compaction empties
//! part of it, so `count` falls below `lastOffset - baseOffset + 1`), tombstones, each
//! batch's delete horizon once a cleaning round stamped one (KIP-534), and each record's
//! timestamp. The lines follow `DumpLogSegments.dumpLog` and `printBatchLevel`: a file
//! header, a line per batch, a line per record starting with `|`. The simulator keeps no
//! checksums, so `crc` is left out; `position` and `size` are the record sizes the log layer
//! counts (`record_size`). A replica is introduced by a line of its own, which Kafka's tool
//! (one file at a time) does not print.

use crate::world::KeptLog;
use kafka_model::log::config::TimestampType;
use kafka_model::log::segment::LogSegment;
use kafka_model::log::Log;
use kafka_model::{Record, RecordBatch, TopicPartition};
use std::fmt::Write;

/// The dump of every kept replica log of `tp`, in broker order.
pub fn dump(tp: &TopicPartition, kept: &[KeptLog]) -> String {
    let mut out = String::new();
    for replica in kept {
        let state = if replica.online { "online" } else { "down" };
        let Some(log) = &replica.log else {
            let _ = writeln!(out, "broker {} ({state}): no log of {tp}", replica.broker);
            out.push('\n');
            continue;
        };
        let _ = writeln!(
            out,
            "broker {} ({state}): {tp}, log start offset {}, log end offset {}, {} segment(s)",
            replica.broker,
            log.log_start_offset(),
            log.log_end_offset(),
            log.segments().len()
        );
        dump_log(&mut out, log);
        out.push('\n');
    }
    out
}

/// One replica's segments, oldest first; the last is the active one.
fn dump_log(out: &mut String, log: &Log) {
    let timestamp_type = match log.config().timestamp_type {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    };
    let last = log.segments().len().saturating_sub(1);
    for (i, segment) in log.segments().iter().enumerate() {
        let active = if i == last { " (active segment)" } else { "" };
        let _ = writeln!(out, "Dumping {:020}.log{active}", segment.base_offset);
        let _ = writeln!(out, "Log starting offset: {}", segment.base_offset);
        dump_segment(out, segment, timestamp_type);
    }
}

fn dump_segment(out: &mut String, segment: &LogSegment, timestamp_type: &str) {
    let mut position_bytes = 0;
    for batch in segment.batches() {
        let _ = writeln!(out, "{}", batch_line(batch, position_bytes, timestamp_type));
        for record in &batch.records {
            let _ = writeln!(out, "{}", record_line(batch, record, timestamp_type));
        }
        position_bytes += batch.size_bytes();
    }
}

/// `printBatchLevel` for a v2 batch.
fn batch_line(batch: &RecordBatch, position_bytes: u64, timestamp_type: &str) -> String {
    let (producer_id, producer_epoch, base_sequence, last_sequence) = match batch.producer {
        Some(s) => (
            s.producer_id,
            s.producer_epoch,
            s.base_sequence,
            s.last_sequence,
        ),
        None => (-1, -1, -1, -1),
    };
    let delete_horizon = match batch.delete_horizon_ms {
        Some(ms) => format!("OptionalLong[{ms}]"),
        None => "OptionalLong.empty".to_string(),
    };
    format!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {base_sequence} lastSequence: {last_sequence} producerId: {producer_id} producerEpoch: {producer_epoch} partitionLeaderEpoch: {} isTransactional: false isControl: false deleteHorizonMs: {delete_horizon} position: {position_bytes} {timestamp_type}: {} size: {} magic: 2 compresscodec: none",
        batch.base_offset,
        batch.last_offset,
        batch.records.len(),
        batch.leader_epoch,
        batch.max_timestamp_ms,
        batch.size_bytes(),
    )
}

/// A record's line (`dumpLog` with `--print-data-log`). Kafka prints no payload for a
/// null value and a `valueSize` of -1; the simulator says "tombstone" as well.
fn record_line(batch: &RecordBatch, record: &Record, timestamp_type: &str) -> String {
    let sequence = match batch.producer {
        Some(s) => s.base_sequence as i64 + (record.offset - batch.base_offset) as i64,
        None => -1,
    };
    let key_size = record.key.as_ref().map_or(-1, |k| k.len() as i64);
    let value_size = match record.value {
        Some(_) => record.value_bytes as i64,
        None => -1,
    };
    let mut line = format!(
        "| offset: {} {timestamp_type}: {} keySize: {key_size} valueSize: {value_size} sequence: {sequence} headerKeys: [{}]",
        record.offset,
        record.timestamp_ms,
        record
            .headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    if let Some(key) = &record.key {
        let _ = write!(line, " key: {key}");
    }
    match &record.value {
        Some(value) => {
            let _ = write!(line, " payload: {value}");
        }
        None => line.push_str(" (tombstone: null value)"),
    }
    line
}
