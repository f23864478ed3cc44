//! `kafka-sim log FILE.json`: the log layer alone on one replica's log (segments, retention,
//! the cleaner, DeleteRecords), as `assign` runs an assignor alone.
//!
//! It answers "what would Kafka's cleaner keep of this log?" and "what would retention
//! delete?" without a cluster, on a log written by hand: the same code the simulated
//! brokers run ([`kafka_model::log`]). Kafka's own unit tests drive the cleaner the same way
//! (`LogCleanerTest` calls one round on a range it names), so their cases can be written as
//! input files, and the conformance oracle feeds random ones to Kafka's classes and here.
//!
//! Input:
//!
//! ```json
//! {"config": {"cleanup.policy": "compact", "segment.bytes": 1024},
//!  "log_start_offset": 0, "high_watermark": 9, "cleaner_checkpoint": null,
//!  "dedupe_buffer_keys": null,
//!  "segments": [{"base_offset": 0, "records": [{"offset": 0, "key": "K1", "value": "v",
//!                "timestamp": 0, "producer_id": null, "sequence": null}]}],
//!  "steps": [{"clean": {"now_ms": 1000}}]}
//! ```
//!
//! The last segment is the active one; each record is its own batch; a null value is a
//! tombstone. Steps: `{"clean": {"now_ms": T}}` (the cleaner thread's choice at T, then a
//! round), `{"clean": {"now_ms": T, "first_dirty": A, "first_uncleanable": B}}` (one round on
//! that range), `{"retention": {"now_ms": T}}`, `{"append": {"now_ms": T, "records": [...]}}`
//! (one batch as the leader, rolling as Kafka would; the high watermark follows),
//! `{"roll": {}}`, `{"set_high_watermark": N}`, `{"delete_records": {"before_offset": N}}`.
//! Output: `{"steps": [{"selected": true | false | null, "segments": [{"base_offset": N,
//! "offsets": [...], "tombstones": [...]}], "log_start_offset": N, "cleaner_checkpoint": N |
//! null, "log_end_offset": N}]}`, and `"error": "NAME"` on a step Kafka refuses.

use kafka_model::config::{ConfigValue, TopicConfig};
use kafka_model::log::retention::DeleteRecordsError;
use kafka_model::log::{AppendError, Log};
use kafka_model::{BatchStamp, ProducerRecord, Record, RecordBatch, RecordId};
use serde_json::{json, Map, Value};

/// The most records and steps one input may hold: enough for any hand-written case.
pub const MAX_RECORDS: usize = 1_000_000;
pub const MAX_STEPS: usize = 100_000;

/// Bad input: the field (`segments[1].records[0].offset`) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct LogToolError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> LogToolError {
    LogToolError {
        field: field.into(),
        message: message.into(),
    }
}

/// Reads `file` (or standard input for `-`), runs it, and renders the output.
pub fn run_file(file: &str) -> Result<String, String> {
    let (name, text) = crate::assign::read_input(file)?;
    let input: Value = serde_json::from_str(&text).map_err(|e| format!("{name}: not JSON: {e}"))?;
    let output = answer(&input).map_err(|e| format!("{name}: {e}"))?;
    Ok(serde_json::to_string_pretty(&output).expect("JSON values serialize"))
}

/// Runs one input document and returns the output document.
pub fn answer(input: &Value) -> Result<Value, LogToolError> {
    let doc = object(input, "")?;
    known_fields(
        doc,
        "",
        &[
            "config",
            "log_start_offset",
            "high_watermark",
            "cleaner_checkpoint",
            "dedupe_buffer_keys",
            "segments",
            "steps",
        ],
    )?;
    let topic = parse_config(doc.get("config"))?;
    let segments = parse_segments(doc.get("segments"))?;
    let log_start_offset = optional_u64(doc, "log_start_offset", "")?;
    let mut log = Log::from_parts(topic.log.clone(), log_start_offset, segments, 0)
        .map_err(|e| bad("segments", e))?;
    // `UnifiedLog.updateHighWatermark` clamps to [log start, log end].
    let hw = optional_u64(doc, "high_watermark", "")?.unwrap_or(log.log_end_offset());
    let mut hw = hw.clamp(log.log_start_offset(), log.log_end_offset());
    log.set_cleaner_checkpoint(optional_u64(doc, "cleaner_checkpoint", "")?);
    let cap = optional_u64(doc, "dedupe_buffer_keys", "")?.unwrap_or(u64::MAX);
    if cap == 0 {
        return Err(bad("dedupe_buffer_keys", "must be at least 1"));
    }
    let steps = match doc.get("steps") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) if a.len() <= MAX_STEPS => a.clone(),
        Some(Value::Array(_)) => return Err(bad("steps", format!("at most {MAX_STEPS} steps"))),
        Some(_) => return Err(bad("steps", "must be a list")),
    };
    let mut now_ms = 0u64;
    let mut out = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let field = format!("steps[{i}]");
        let (selected, error) = run_step(&mut log, &mut hw, &mut now_ms, cap, step, &field)?;
        out.push(render_state(&log, selected, error));
    }
    Ok(json!({ "steps": out }))
}

/// One step; returns whether the cleaner selected the log (for a `clean` without a range)
/// and the error Kafka answers with, if any.
fn run_step(
    log: &mut Log,
    hw: &mut u64,
    now_ms: &mut u64,
    cap: u64,
    step: &Value,
    field: &str,
) -> Result<(Option<bool>, Option<&'static str>), LogToolError> {
    let step_obj = object(step, field)?;
    if step_obj.len() != 1 {
        return Err(bad(
            field,
            "a step is an object with one key: clean, retention, append, roll, set_high_watermark or delete_records",
        ));
    }
    let (kind, body) = step_obj.iter().next().expect("one key");
    let field = format!("{field}.{kind}");
    match kind.as_str() {
        "clean" => {
            let b = object(body, &field)?;
            known_fields(b, &field, &["now_ms", "first_dirty", "first_uncleanable"])?;
            *now_ms = required_u64(b, "now_ms", &field)?;
            let range = (
                optional_u64(b, "first_dirty", &field)?,
                optional_u64(b, "first_uncleanable", &field)?,
            );
            match range {
                (None, None) => match log.select_for_cleaning(*now_ms, *hw) {
                    Some(ltc) => {
                        log.clean(&ltc, *now_ms, cap);
                        Ok((Some(true), None))
                    }
                    None => Ok((Some(false), None)),
                },
                (Some(a), Some(b)) => {
                    // Any range, as `LogCleanerTest` hands `Cleaner.doClean` one.
                    let ltc = log.log_to_clean(a, b, *now_ms);
                    log.clean(&ltc, *now_ms, cap);
                    Ok((None, None))
                }
                _ => Err(bad(
                    &field,
                    "give both first_dirty and first_uncleanable, or neither",
                )),
            }
        }
        "retention" => {
            let b = object(body, &field)?;
            known_fields(b, &field, &["now_ms"])?;
            *now_ms = required_u64(b, "now_ms", &field)?;
            log.delete_old_segments(*now_ms, *hw);
            Ok((None, None))
        }
        "append" => {
            let b = object(body, &field)?;
            known_fields(b, &field, &["now_ms", "records"])?;
            *now_ms = required_u64(b, "now_ms", &field)?;
            let records = parse_append_records(b.get("records"), log, &format!("{field}.records"))?;
            if let Err(e) = log.validate_leader_batch(&records) {
                return Ok((
                    None,
                    Some(match e {
                        AppendError::KeylessRecordOnCompactedTopic => "INVALID_RECORD",
                        AppendError::LargerThanSegment { .. } => "RECORD_LIST_TOO_LARGE",
                    }),
                ));
            }
            log.append_as_leader(0, records, None, *now_ms);
            *hw = log.log_end_offset();
            Ok((None, None))
        }
        "roll" => {
            let b = object(body, &field)?;
            known_fields(b, &field, &[])?;
            log.roll(*now_ms);
            Ok((None, None))
        }
        "set_high_watermark" => {
            // `UnifiedLog.updateHighWatermark` clamps to [log start, log end].
            let n = as_u64(body, &field)?;
            *hw = n.clamp(log.log_start_offset(), log.log_end_offset());
            Ok((None, None))
        }
        "delete_records" => {
            let b = object(body, &field)?;
            known_fields(b, &field, &["before_offset"])?;
            let n = required_u64(b, "before_offset", &field)?;
            match log.delete_records(n, *hw) {
                Ok(_) => Ok((None, None)),
                Err(e @ (DeleteRecordsError::PolicyViolation | DeleteRecordsError::OffsetOutOfRange)) => {
                    Ok((None, Some(e.kafka_name())))
                }
            }
        }
        other => Err(bad(
            field,
            format!(
                "unknown step `{other}`: one of clean, retention, append, roll, set_high_watermark, delete_records"
            ),
        )),
    }
}

/// The output entry for the log's state after a step.
fn render_state(log: &Log, selected: Option<bool>, error: Option<&str>) -> Value {
    let segments: Vec<Value> = log
        .segments()
        .iter()
        .map(|s| {
            let records = s.batches().iter().flat_map(|b| b.records.iter());
            let offsets: Vec<u64> = records.clone().map(|r| r.offset).collect();
            let tombstones: Vec<u64> = records
                .filter(|r| r.is_tombstone())
                .map(|r| r.offset)
                .collect();
            json!({"base_offset": s.base_offset, "offsets": offsets, "tombstones": tombstones})
        })
        .collect();
    let mut entry = Map::new();
    entry.insert("selected".into(), json!(selected));
    if let Some(e) = error {
        entry.insert("error".into(), json!(e));
    }
    entry.insert("segments".into(), json!(segments));
    entry.insert("log_start_offset".into(), json!(log.log_start_offset()));
    entry.insert("cleaner_checkpoint".into(), json!(log.cleaner_checkpoint()));
    entry.insert("log_end_offset".into(), json!(log.log_end_offset()));
    Value::Object(entry)
}

fn parse_config(v: Option<&Value>) -> Result<TopicConfig, LogToolError> {
    let mut topic = TopicConfig::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(topic);
    };
    for (key, value) in object(v, "config")? {
        let field = format!("config.{key}");
        let value = match value {
            Value::Number(n) if n.is_i64() => ConfigValue::Int(n.as_i64().expect("i64")),
            Value::Number(n) if n.is_u64() => {
                // Past i64 only Long.MAX_VALUE's neighbours; store as text.
                ConfigValue::Str(n.to_string())
            }
            Value::Number(n) => ConfigValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => ConfigValue::Str(s.clone()),
            Value::Bool(b) => ConfigValue::Bool(*b),
            _ => return Err(bad(field, "must be a number or a string")),
        };
        if key == "segment.jitter.ms" && value != ConfigValue::Int(0) {
            return Err(bad(
                field,
                "only 0 here: Kafka draws the jitter at random, and this tool is deterministic",
            ));
        }
        topic
            .apply(key, &value)
            .map_err(|e| bad(field.clone(), e.to_string()))?;
    }
    topic.validate().map_err(|e| bad("config", e))?;
    Ok(topic)
}

fn parse_segments(v: Option<&Value>) -> Result<Vec<(u64, Vec<RecordBatch>)>, LogToolError> {
    let list = match v {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            return Err(bad(
                "segments",
                "a list of at least one segment is required",
            ))
        }
    };
    let mut total = 0usize;
    let mut out = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let field = format!("segments[{i}]");
        let obj = object(s, &field)?;
        known_fields(obj, &field, &["base_offset", "records"])?;
        let base = required_u64(obj, "base_offset", &field)?;
        let records = match obj.get("records") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(bad(format!("{field}.records"), "must be a list")),
        };
        total += records.len();
        if total > MAX_RECORDS {
            return Err(bad("segments", format!("at most {MAX_RECORDS} records")));
        }
        let mut batches = Vec::with_capacity(records.len());
        for (j, r) in records.iter().enumerate() {
            batches.push(parse_record(r, &format!("{field}.records[{j}]"))?);
        }
        out.push((base, batches));
    }
    Ok(out)
}

/// One input record: its own one-record batch.
fn parse_record(v: &Value, field: &str) -> Result<RecordBatch, LogToolError> {
    let obj = object(v, field)?;
    known_fields(
        obj,
        field,
        &[
            "offset",
            "key",
            "value",
            "timestamp",
            "producer_id",
            "sequence",
        ],
    )?;
    let offset = required_u64(obj, "offset", field)?;
    let key = optional_string(obj, "key", field)?;
    let value = optional_string(obj, "value", field)?;
    let timestamp_ms = optional_u64(obj, "timestamp", field)?.unwrap_or(0);
    let producer = match optional_u64(obj, "producer_id", field)? {
        None => None,
        Some(id) => {
            let seq = optional_u64(obj, "sequence", field)?.unwrap_or(0);
            let seq = i32::try_from(seq)
                .map_err(|_| bad(format!("{field}.sequence"), "must fit in an int"))?;
            Some(BatchStamp {
                producer_id: id as i64,
                producer_epoch: 0,
                base_sequence: seq,
                last_sequence: seq,
                is_transactional: false,
            })
        }
    };
    let record = Record::by_hand(offset, key, value, timestamp_ms, producer);
    Ok(RecordBatch::of_records(vec![record]))
}

fn parse_append_records(
    v: Option<&Value>,
    log: &Log,
    field: &str,
) -> Result<Vec<ProducerRecord>, LogToolError> {
    let list = match v {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => return Err(bad(field, "a list of at least one record is required")),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let obj = object(r, &f)?;
        known_fields(obj, &f, &["key", "value", "timestamp"])?;
        let value = optional_string(obj, "value", &f)?;
        out.push(ProducerRecord {
            id: RecordId {
                producer: 0,
                seq: log.log_end_offset() + i as u64,
            },
            timestamp_ms: optional_u64(obj, "timestamp", &f)?.unwrap_or(0),
            key: optional_string(obj, "key", &f)?,
            value_bytes: value.as_ref().map_or(0, |v| v.len() as u32),
            value,
            headers: Vec::new(),
        });
    }
    Ok(out)
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, LogToolError> {
    v.as_object().ok_or_else(|| bad(field, "must be an object"))
}

fn known_fields(obj: &Map<String, Value>, field: &str, known: &[&str]) -> Result<(), LogToolError> {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            let path = if field.is_empty() {
                key.clone()
            } else {
                format!("{field}.{key}")
            };
            let expected = if known.is_empty() {
                "no fields".to_string()
            } else {
                known.join(", ")
            };
            return Err(bad(path, format!("unknown field; expected {expected}")));
        }
    }
    Ok(())
}

fn as_u64(v: &Value, field: &str) -> Result<u64, LogToolError> {
    v.as_u64()
        .ok_or_else(|| bad(field, format!("must be a non-negative integer, got {v}")))
}

fn required_u64(obj: &Map<String, Value>, key: &str, field: &str) -> Result<u64, LogToolError> {
    let path = if field.is_empty() {
        key.to_string()
    } else {
        format!("{field}.{key}")
    };
    match obj.get(key) {
        None | Some(Value::Null) => Err(bad(path, "is required")),
        Some(v) => as_u64(v, &path),
    }
}

fn optional_u64(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<u64>, LogToolError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => required_u64(obj, key, field).map(Some),
    }
}

fn optional_string(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<String>, LogToolError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(bad(
            format!("{field}.{key}"),
            format!("must be a string or null, got {v}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/quiz.md` answers the notes' compaction question with this file: the cleaner
    /// thread picks the log and leaves 10, 14, 15 and 16 below the active segment 17.
    #[test]
    fn the_quiz_file_in_the_docs_gives_the_answer_the_docs_state() {
        let input: Value =
            serde_json::from_str(include_str!("../../docs/quiz-compaction.json")).expect("JSON");
        let output = answer(&input).expect("the quiz file is good input");
        let step = &output["steps"][0];
        assert_eq!(step["selected"], Value::Bool(true));
        let offsets: Vec<Vec<u64>> = step["segments"]
            .as_array()
            .expect("segments")
            .iter()
            .map(|s| {
                let offsets = s["offsets"].as_array().expect("offsets");
                offsets
                    .iter()
                    .map(|o| o.as_u64().expect("an offset"))
                    .collect()
            })
            .collect();
        assert_eq!(offsets, vec![vec![10, 14, 15, 16], vec![17, 18, 19]]);
    }
}
