//! A producer's `sequence`: an exact list of records to send instead of generated ones.
//!
//! A scenario that teaches the log layer needs an exact log: which key at which offset,
//! where the tombstones are, how old each record's timestamp is. `sequence = [{ key = "K1",
//! value = "v" }, { key = "K2", tombstone = true }, ...]` gives it, one inline table per
//! record, sent in order at the producer's `rate`. TOML has no null, so a tombstone (Kafka's
//! null value) is `tombstone = true`. `timestamp_ms` sets a record's CreateTime, so a
//! scenario can show a record older (or newer) than the clock; without it the record gets
//! the producer's clock, as `KafkaProducer.doSend` stamps a record that has none.

use super::error::{Ctx, Result};
use super::raw::{List, Val};
use kafka_model::clients::producer::ScriptedRecord;
use toml::{Spanned, Value};

const KEY: &str = "sequence";

/// The keys an entry may have.
const ENTRY_KEYS: [&str; 4] = ["key", "value", "tombstone", "timestamp_ms"];

/// `sequence` of a producer, checked against its `records` (absent, or the sequence's
/// length). `None` without a sequence.
pub fn parse_sequence(
    ctx: &Ctx,
    sequence: Option<&Spanned<List>>,
    records: Option<&Val>,
) -> Result<Option<Vec<ScriptedRecord>>> {
    let Some(sequence) = sequence else {
        return Ok(None);
    };
    let key_span = Some(ctx.key_span(&sequence.span()));
    let List::Items(items) = sequence.get_ref() else {
        return Err(ctx.err(
            key_span,
            Some(KEY),
            "expected a list of records, such as [{ key = \"K1\", value = \"v\" }, { key = \"K2\", tombstone = true }]",
        ));
    };
    if items.is_empty() {
        return Err(ctx.err(key_span, Some(KEY), "a sequence needs at least one record"));
    }
    let entries = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_entry(ctx, i, item))
        .collect::<Result<Vec<_>>>()?;
    if let Some(records) = records {
        let matches = matches!(records.get_ref(), Value::Integer(n) if *n == entries.len() as i64);
        if !matches {
            return Err(ctx.err(
                Some(ctx.key_span(&records.span())),
                Some("records"),
                format!(
                    "the producer sends its `sequence` of {} record(s): leave `records` out or make it {}",
                    entries.len(),
                    entries.len()
                ),
            ));
        }
    }
    Ok(Some(entries))
}

/// Entry `index` (from 0) of a sequence: an inline table of `ENTRY_KEYS`. Errors point at the
/// entry and say which one it is.
fn parse_entry(ctx: &Ctx, index: usize, item: &Val) -> Result<ScriptedRecord> {
    let at = Some(item.span());
    let err =
        |message: String| ctx.err(at.clone(), Some(KEY), format!("record {index}: {message}"));
    let Value::Table(table) = item.get_ref() else {
        return Err(err(
            "expected a table such as { key = \"K1\", value = \"v\" }".to_string(),
        ));
    };
    if let Some(unknown) = table.keys().find(|k| !ENTRY_KEYS.contains(&k.as_str())) {
        let hint = match kafka_model::config::nearest_key(unknown, ENTRY_KEYS) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("valid keys: {}", ENTRY_KEYS.join(", ")),
        };
        return Err(err(format!("unknown key `{unknown}` ({hint})")));
    }
    let text = |name: &str| -> Result<Option<String>> {
        match table.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(err(format!("`{name}` must be a string"))),
        }
    };
    let key = text("key")?;
    let value = text("value")?;
    let tombstone = match table.get("tombstone") {
        None => false,
        Some(Value::Boolean(b)) => *b,
        Some(_) => return Err(err("`tombstone` must be true or false".to_string())),
    };
    let value = match (value, tombstone) {
        (Some(_), true) => {
            return Err(err(
                "a tombstone has no value: give `value` or `tombstone = true`, not both"
                    .to_string(),
            ))
        }
        (None, false) => {
            return Err(err(
                "give the record a `value`, or write `tombstone = true` for Kafka's null value"
                    .to_string(),
            ))
        }
        (value, _) => value,
    };
    let timestamp_ms = match table.get("timestamp_ms") {
        None => None,
        Some(Value::Integer(t)) if *t >= 0 => Some(*t as u64),
        Some(_) => {
            return Err(err(
                "`timestamp_ms` must be a whole number of milliseconds, 0 or more".to_string(),
            ))
        }
    };
    Ok(ScriptedRecord {
        key,
        value,
        timestamp_ms,
    })
}
