//! One replica's log layer: segments, retention, DeleteRecords and the log cleaner, against
//! Kafka's own `UnifiedLog` (`deleteOldSegments`, `roll`, `appendAsLeader`,
//! `maybeIncrementLogStartOffset`), `LogCleanerManager.grabFilthiestCompactedLog` over a real
//! `cleaner-offset-checkpoint`, and `Cleaner.doClean` with a `SkimpyOffsetMap`.
//!
//! A case is exactly the input of `kafka-sim log` and the answer exactly its output (the
//! contract is documented with the tool): the model's side is `kafka_sim::log_tool::answer`,
//! Kafka's side `conformance/.../LogOracle.java`, which builds the same log on disk.
//!
//! Cases: one to six segments (gaps between records and between segments, now and then an
//! empty one), up to 30 records with keys from a small set so compaction has work, some
//! tombstones, some idempotent producers' batches, a few keyless records, timestamps spread
//! over hours so `retention.ms`, `min.compaction.lag.ms`, `max.compaction.lag.ms` and
//! `delete.retention.ms` all matter; a random topic config among the contract's keys; a high
//! watermark now and then below the log end, a log start offset above the first segment, a
//! cleaner checkpoint (sometimes outside the log, which the cleaner resets), a cap on the keys
//! one cleaning round may map; then one to six steps of every kind, the clock only moving
//! forward.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(super) struct Log;

/// The input of `kafka-sim log`.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Case {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    config: BTreeMap<&'static str, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_start_offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    high_watermark: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cleaner_checkpoint: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dedupe_buffer_keys: Option<u32>,
    segments: Vec<Segment>,
    steps: Vec<Step>,
}

#[derive(Clone, Debug, Serialize)]
struct Segment {
    base_offset: u64,
    records: Vec<Record>,
}

#[derive(Clone, Debug, Serialize)]
struct Record {
    offset: u64,
    key: Option<String>,
    value: Option<String>,
    timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    producer_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence: Option<i32>,
}

#[derive(Clone, Debug, Serialize)]
struct NewRecord {
    key: Option<String>,
    value: Option<String>,
    timestamp: i64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    Clean {
        now_ms: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        first_dirty: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        first_uncleanable: Option<u64>,
    },
    Retention {
        now_ms: i64,
    },
    Append {
        now_ms: i64,
        records: Vec<NewRecord>,
    },
    Roll {},
    SetHighWatermark(u64),
    DeleteRecords {
        before_offset: u64,
    },
}

/// The output of `kafka-sim log`; a case refused as a whole (Kafka threw while building it,
/// or the tool rejected the input) is `{"error": ...}`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum Answer {
    Steps { steps: Vec<StepAnswer> },
    Refused { error: String },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StepAnswer {
    selected: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    segments: Vec<SegmentAnswer>,
    log_start_offset: u64,
    cleaner_checkpoint: Option<u64>,
    log_end_offset: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentAnswer {
    base_offset: u64,
    offsets: Vec<u64>,
    tombstones: Vec<u64>,
}

impl super::Rule for Log {
    type Case = Case;
    type Answer = Answer;

    fn generate(rng: &mut ChaCha8Rng) -> Case {
        generate(rng)
    }

    fn model(case: &Case) -> Answer {
        let input = serde_json::to_value(case).expect("a case serializes");
        match crate::log_tool::answer(&input) {
            Ok(output) => {
                serde_json::from_value(output.clone()).unwrap_or_else(|e| Answer::Refused {
                    error: format!("the tool's output is not the contract's ({e}): {output}"),
                })
            }
            Err(e) => Answer::Refused {
                error: e.to_string(),
            },
        }
    }
}

/// The first record timestamp of every case: an ordinary epoch time.
const START_MS: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;

/// What the generator knows of the log as it draws steps: segment bases, the end, the log
/// start offset and the high watermark, as the case's steps leave them when
/// nothing unexpected happens (a roll inside an append or a retention pass only moves the
/// real ones further up).
struct Shape {
    /// The segment bases of the input and of the roll steps drawn so far.
    bases: Vec<u64>,
    /// No step has cleaned, deleted, appended to or rolled the log yet.
    untouched: bool,
    log_end_offset: u64,
    log_start_offset: u64,
    high_watermark: u64,
    now_ms: i64,
}

pub(super) fn generate(rng: &mut ChaCha8Rng) -> Case {
    let compact = rng.gen_bool(0.75);
    let config = draw_config(rng, compact);
    let key_count = rng.gen_range(2..=6);
    let keys: Vec<String> = (0..key_count).map(|k| format!("k{k}")).collect();
    let producers = [7_i64, 8];
    let mut sequences: BTreeMap<i64, i32> = BTreeMap::new();
    let mut clock_ms = START_MS;
    let mut record = |rng: &mut ChaCha8Rng, offset: u64| -> Record {
        clock_ms += match rng.gen_range(0..10) {
            0..=5 => rng.gen_range(0..60_000),
            6..=8 => rng.gen_range(0..HOUR_MS),
            _ => rng.gen_range(HOUR_MS..10 * HOUR_MS),
        };
        // Now and then a record older than the one before (clients' clocks differ).
        let timestamp = if rng.gen_bool(0.05) {
            clock_ms - rng.gen_range(0..HOUR_MS)
        } else {
            clock_ms
        };
        let producer_id = rng
            .gen_bool(0.15)
            .then(|| *producers.choose(rng).expect("two"));
        let sequence = producer_id.map(|p| {
            let s = sequences.entry(p).or_insert(0);
            *s += 1;
            *s - 1
        });
        Record {
            offset,
            key: draw_key(rng, &keys, 0.03),
            value: draw_value(rng),
            timestamp,
            producer_id,
            sequence,
        }
    };

    let segment_count = rng.gen_range(1..=6);
    let mut budget: usize = rng.gen_range(0..=30);
    let mut next = if rng.gen_bool(0.7) {
        0
    } else {
        rng.gen_range(1..50)
    };
    let mut segments: Vec<Segment> = Vec::new();
    // One past the last record drawn so far.
    let mut last_end: Option<u64> = None;
    for index in 0..segment_count {
        let last = index + 1 == segment_count;
        // A gap before a segment (a follower rolled at the fetched batch's offset, or the
        // cleaner removed the records there); never before an empty active segment, whose
        // base then is the log end offset.
        if index > 0 && rng.gen_bool(0.2) {
            next += rng.gen_range(1..=3);
        }
        let previous_empty = segments
            .last()
            .is_some_and(|s: &Segment| s.records.is_empty());
        let count = if last && previous_empty {
            // An empty active segment only right after records: at the log end offset.
            rng.gen_range(1..=budget.clamp(1, 8))
        } else if last && rng.gen_bool(0.15) {
            0
        } else {
            rng.gen_range(0..=budget.min(8))
        };
        if last && count == 0 {
            next = last_end.unwrap_or(next);
        }
        let base_offset = next;
        budget = budget.saturating_sub(count);
        let mut records = Vec::new();
        for _ in 0..count {
            if rng.gen_bool(0.1) {
                next += rng.gen_range(1..=3);
            }
            records.push(record(rng, next));
            next += 1;
            last_end = Some(next);
        }
        if records.is_empty() {
            // The next segment starts above this empty one: bases strictly increase.
            next = next.max(base_offset + 1);
        }
        segments.push(Segment {
            base_offset,
            records,
        });
    }
    let first_base = segments[0].base_offset;
    let active_base = segments.last().expect("one").base_offset;
    let log_end_offset = last_end.unwrap_or(first_base).max(active_base);

    let high_watermark = rng
        .gen_bool(0.35)
        .then(|| rng.gen_range(first_base..=log_end_offset));
    let hw = high_watermark.unwrap_or(log_end_offset);
    let log_start_offset = rng.gen_bool(0.2).then(|| rng.gen_range(first_base..=hw));
    let cleaner_checkpoint = rng
        .gen_bool(0.3)
        .then(|| rng.gen_range(first_base.saturating_sub(2)..=log_end_offset + 2));
    let dedupe_buffer_keys = rng.gen_bool(0.25).then(|| rng.gen_range(1..=4));

    let mut shape = Shape {
        bases: segments.iter().map(|s| s.base_offset).collect(),
        untouched: true,
        log_end_offset,
        log_start_offset: log_start_offset.unwrap_or(first_base),
        high_watermark: hw,
        now_ms: clock_ms + rng.gen_range(0..HOUR_MS),
    };
    let steps = (0..rng.gen_range(1..=6))
        .map(|_| draw_step(rng, &mut shape, &keys))
        .collect();
    Case {
        config,
        log_start_offset,
        high_watermark,
        cleaner_checkpoint,
        dedupe_buffer_keys,
        segments,
        steps,
    }
}

fn draw_key(rng: &mut ChaCha8Rng, keys: &[String], keyless: f64) -> Option<String> {
    if rng.gen_bool(keyless) {
        None
    } else {
        Some(keys.choose(rng).expect("keys").clone())
    }
}

/// A tombstone, or a value of 1 to 40 bytes (so record sizes differ).
fn draw_value(rng: &mut ChaCha8Rng) -> Option<String> {
    if rng.gen_bool(0.15) {
        None
    } else {
        let len = rng.gen_range(1..=40);
        Some("v".repeat(len))
    }
}

/// A topic config among the contract's keys, never `segment.jitter.ms` (random in Kafka).
fn draw_config(rng: &mut ChaCha8Rng, compact: bool) -> BTreeMap<&'static str, serde_json::Value> {
    use serde_json::json;
    let mut c = BTreeMap::new();
    let policy = if compact {
        *[
            "compact",
            "compact",
            "compact",
            "compact,delete",
            "delete,compact",
        ]
        .choose(rng)
        .expect("policies")
    } else {
        "delete"
    };
    if policy != "delete" || rng.gen_bool(0.5) {
        c.insert("cleanup.policy", json!(policy));
    }
    if rng.gen_bool(0.6) {
        // 100 bytes: some appended batches are larger than a segment may be.
        c.insert(
            "segment.bytes",
            json!(*[100, 300, 500, 800, 1200, 2000].choose(rng).expect("")),
        );
    }
    if rng.gen_bool(0.25) {
        c.insert(
            "segment.ms",
            json!(*[600_000, HOUR_MS, 3 * HOUR_MS].choose(rng).expect("")),
        );
    }
    if rng.gen_bool(0.5) {
        c.insert(
            "retention.ms",
            json!(*[-1, 60_000, 600_000, HOUR_MS, 6 * HOUR_MS]
                .choose(rng)
                .expect("")),
        );
    }
    if rng.gen_bool(0.3) {
        c.insert(
            "retention.bytes",
            json!(*[-1, 300, 800, 1500].choose(rng).expect("")),
        );
    }
    if rng.gen_bool(0.6) {
        c.insert(
            "min.cleanable.dirty.ratio",
            json!(*[0.0, 0.1, 0.3, 0.5, 0.9, 1.0].choose(rng).expect("")),
        );
    }
    let min_lag = if rng.gen_bool(0.3) {
        let lag = *[0, 60_000, 600_000, HOUR_MS].choose(rng).expect("");
        c.insert("min.compaction.lag.ms", json!(lag));
        lag
    } else {
        0
    };
    if rng.gen_bool(0.3) {
        let lag = *[HOUR_MS, 3 * HOUR_MS, 24 * HOUR_MS]
            .choose(rng)
            .expect("")
            .max(&min_lag);
        c.insert("max.compaction.lag.ms", json!(lag));
    }
    if rng.gen_bool(0.5) {
        c.insert(
            "delete.retention.ms",
            json!(*[0, 60_000, 600_000, HOUR_MS].choose(rng).expect("")),
        );
    }
    // Small index limits only with the default index interval: a segment then holds no
    // offset index entry and one time index entry once it is closed, so the limit bounds the
    // cleaner's groups without ever filling an index (Kafka cannot clean into a full one).
    match rng.gen_range(0..10) {
        0 | 1 => {
            c.insert(
                "segment.index.bytes",
                json!(*[24, 36, 60].choose(rng).expect("")),
            );
        }
        2 | 3 => {
            c.insert("segment.index.bytes", json!(4096));
            c.insert(
                "index.interval.bytes",
                json!(*[1, 150].choose(rng).expect("")),
            );
        }
        _ => {}
    }
    if rng.gen_bool(0.1) {
        c.insert(
            "file.delete.delay.ms",
            json!(*[0, 1000].choose(rng).expect("")),
        );
    }
    if rng.gen_bool(0.1) {
        c.insert("message.timestamp.type", json!("LogAppendTime"));
    }
    c
}

fn advance(rng: &mut ChaCha8Rng, shape: &mut Shape) -> i64 {
    shape.now_ms += match rng.gen_range(0..10) {
        0 => 0,
        1..=4 => rng.gen_range(0..600_000),
        5..=7 => rng.gen_range(0..6 * HOUR_MS),
        _ => rng.gen_range(6 * HOUR_MS..10 * 24 * HOUR_MS),
    };
    shape.now_ms
}

fn draw_step(rng: &mut ChaCha8Rng, shape: &mut Shape, keys: &[String]) -> Step {
    match rng.gen_range(0..100) {
        0..=29 => Step::Clean {
            now_ms: {
                shape.untouched = false;
                advance(rng, shape)
            },
            first_dirty: None,
            first_uncleanable: None,
        },
        30..=39 => {
            // As LogCleanerTest calls doClean: the first uncleanable offset a segment base,
            // the first dirty offset at or below every base the log can have by then (so
            // that rounding the first down to its segment never passes the second).
            let first_uncleanable = *shape.bases.choose(rng).expect("a segment");
            let first_dirty = if shape.untouched {
                **shape
                    .bases
                    .iter()
                    .filter(|b| **b <= first_uncleanable)
                    .collect::<Vec<_>>()
                    .choose(rng)
                    .expect("the base itself")
            } else {
                shape.bases[0]
            };
            shape.untouched = false;
            Step::Clean {
                now_ms: advance(rng, shape),
                first_dirty: Some(first_dirty),
                first_uncleanable: Some(first_uncleanable),
            }
        }
        40..=59 => {
            shape.untouched = false;
            Step::Retention {
                now_ms: advance(rng, shape),
            }
        }
        60..=79 => {
            let now_ms = advance(rng, shape);
            let count = rng.gen_range(1..=3);
            let records: Vec<NewRecord> = (0..count)
                .map(|_| NewRecord {
                    key: draw_key(rng, keys, 0.05),
                    value: draw_value(rng),
                    timestamp: now_ms - rng.gen_range(0..60_000),
                })
                .collect();
            shape.log_end_offset += count;
            shape.high_watermark = shape.log_end_offset;
            shape.untouched = false;
            Step::Append { now_ms, records }
        }
        80..=84 => {
            if shape.bases.last() != Some(&shape.log_end_offset) {
                shape.bases.push(shape.log_end_offset);
            }
            Step::Roll {}
        }
        85..=91 => {
            let hw = if rng.gen_bool(0.9) {
                rng.gen_range(shape.log_start_offset..=shape.log_end_offset)
            } else {
                shape.log_end_offset + rng.gen_range(1..=3)
            };
            shape.high_watermark = hw.min(shape.log_end_offset);
            Step::SetHighWatermark(hw)
        }
        _ => {
            let before_offset =
                rng.gen_range(shape.log_start_offset.saturating_sub(1)..=shape.high_watermark + 2);
            if before_offset <= shape.high_watermark {
                shape.log_start_offset = shape.log_start_offset.max(before_offset);
            }
            Step::DeleteRecords { before_offset }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::path::Path;

    fn cases(seed: u64, count: usize) -> Vec<Case> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..count).map(|_| generate(&mut rng)).collect()
    }

    /// Every drawn case is valid input of the contract: offsets strictly increase across the
    /// log, each segment's records lie in [its base, the next base), an empty active segment
    /// sits at the log end offset, and log start ≤ high watermark ≤ log end.
    #[test]
    fn drawn_cases_are_valid_contract_input() {
        for case in cases(3, 2_000) {
            let mut previous: Option<u64> = None;
            for (i, segment) in case.segments.iter().enumerate() {
                let next_base = case.segments.get(i + 1).map(|s| s.base_offset);
                if let Some(next_base) = next_base {
                    assert!(segment.base_offset < next_base, "{case:?}");
                }
                for r in &segment.records {
                    assert!(previous.is_none_or(|p| r.offset > p), "{case:?}");
                    assert!(r.offset >= segment.base_offset, "{case:?}");
                    assert!(next_base.is_none_or(|b| r.offset < b), "{case:?}");
                    previous = Some(r.offset);
                }
            }
            let first_base = case.segments[0].base_offset;
            let active = case.segments.last().expect("one");
            let log_end = previous
                .map_or(first_base, |p| p + 1)
                .max(active.base_offset);
            if active.records.is_empty() {
                assert_eq!(active.base_offset, log_end, "{case:?}");
            }
            let hw = case.high_watermark.unwrap_or(log_end);
            let start = case.log_start_offset.unwrap_or(first_base);
            assert!(
                first_base <= start && start <= hw && hw <= log_end,
                "{case:?}"
            );
            assert!(!case.steps.is_empty() && case.steps.len() <= 6);
            assert!(!case.config.contains_key("segment.jitter.ms"));
        }
    }

    #[test]
    fn the_draw_reaches_every_kind_of_step_and_config() {
        let drawn = cases(4, 500);
        let json: Vec<String> = drawn
            .iter()
            .map(|c| serde_json::to_string(c).expect("json"))
            .collect();
        for needle in [
            "\"clean\":{\"now_ms\"",
            "\"first_dirty\"",
            "\"retention\"",
            "\"append\"",
            "\"roll\":{}",
            "\"set_high_watermark\"",
            "\"delete_records\"",
            "\"producer_id\"",
            "\"value\":null",
            "\"key\":null",
            "\"dedupe_buffer_keys\"",
            "\"cleaner_checkpoint\"",
            "\"min.compaction.lag.ms\"",
            "\"max.compaction.lag.ms\"",
            "\"retention.bytes\"",
            "\"segment.index.bytes\"",
            "compact,delete",
        ] {
            assert!(
                json.iter().any(|j| j.contains(needle)),
                "never drawn: {needle}"
            );
        }
    }

    /// Kafka's side alone: the oracle builds every drawn case and answers it in the
    /// contract's shape (a whole-case refusal would mean the generator drew what Kafka cannot
    /// build). Needs the built oracles, as the comparison does.
    #[test]
    #[ignore = "needs Java 17 and conformance/build.sh"]
    fn kafka_answers_every_drawn_case() {
        let dir = super::super::conformance_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("a parent"),
        );
        let drawn = cases(1, 500);
        let lines: Vec<String> = drawn
            .iter()
            .map(|c| serde_json::to_string(c).expect("json"))
            .collect();
        let answers = super::super::ask_kafka(super::super::Oracle::Log, &dir, &lines)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut refused = Vec::new();
        for (line, answer) in lines.iter().zip(&answers) {
            let parsed: Answer = serde_json::from_str(answer)
                .unwrap_or_else(|e| panic!("{e}: {answer}\n  case: {line}"));
            match parsed {
                Answer::Steps { steps } => {
                    let drawn = serde_json::from_str::<serde_json::Value>(line).expect("json")
                        ["steps"]
                        .as_array()
                        .map_or(0, Vec::len);
                    assert_eq!(steps.len(), drawn, "{answer}\n  case: {line}");
                }
                Answer::Refused { error } => refused.push(format!("{error}\n  case: {line}")),
            }
        }
        assert!(
            refused.is_empty(),
            "Kafka refused {} of {} cases, first:\n{}",
            refused.len(),
            lines.len(),
            refused[..refused.len().min(3)].join("\n")
        );
    }

    /// The fixed cases under `conformance/cases/log/` (each after one of Kafka's own tests)
    /// with their expected outputs beside them: `(name, input line, expected output)`.
    fn fixed_cases() -> Vec<(String, String, serde_json::Value)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/cases/log");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("conformance/cases/log")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|n| n.ends_with(".json") && !n.ends_with(".expected.json"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let read = |file: &str| -> serde_json::Value {
                    let text = std::fs::read_to_string(dir.join(file)).expect("readable");
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
                };
                let input = read(&name);
                let expected = read(&name.replace(".json", ".expected.json"));
                (name, input.to_string(), expected)
            })
            .collect()
    }

    #[test]
    fn every_fixed_case_has_its_expected_output() {
        let cases = fixed_cases();
        assert!(cases.len() >= 8);
        for (name, _, expected) in cases {
            let answer: Answer = serde_json::from_value(expected).expect("the contract's shape");
            assert!(matches!(answer, Answer::Steps { .. }), "{name}");
        }
    }

    /// The expected outputs are what Kafka's code prints for the fixed cases.
    #[test]
    #[ignore = "needs Java 17 and conformance/build.sh"]
    fn the_fixed_cases_expect_what_kafka_answers() {
        let dir = super::super::conformance_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("a parent"),
        );
        let cases = fixed_cases();
        let lines: Vec<String> = cases.iter().map(|(_, line, _)| line.clone()).collect();
        let answers = super::super::ask_kafka(super::super::Oracle::Log, &dir, &lines)
            .unwrap_or_else(|e| panic!("{e}"));
        for ((name, _, expected), answer) in cases.iter().zip(&answers) {
            let kafka: serde_json::Value = serde_json::from_str(answer).expect("json");
            assert_eq!(&kafka, expected, "{name}");
        }
    }

    /// The model answers the fixed cases as Kafka does.
    #[test]
    fn the_model_answers_the_fixed_cases_as_kafka_does() {
        for (name, line, expected) in fixed_cases() {
            let input: serde_json::Value = serde_json::from_str(&line).expect("json");
            let output = crate::log_tool::answer(&input)
                .unwrap_or_else(|e| panic!("{name}: the tool refused it: {e}"));
            assert_eq!(output, expected, "{name}");
        }
    }
}
