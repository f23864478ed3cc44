//! A leader's producer state (`ProducerStateManager` with `ProducerAppendInfo` and
//! `ProducerStateEntry.findDuplicateBatch`): what a client's batch gets (appended, answered
//! as a duplicate at which offsets, or refused with which error), and the state rebuilt from
//! the log after a truncation. The model's side is [`ProducerStateManager`].
//!
//! Cases: up to three producer ids writing batches of one to four records, each batch the
//! next one, a retry of an earlier one, one with a gap, one restarting at 0, or one from an
//! older or newer epoch; now and then the log is cut back to a batch boundary, which a
//! follower's truncation does.

use super::Rule;
use kafka_model::producer_state::{Check, ProducerRules, ProducerStateManager};
use kafka_model::{BatchStamp, Record, RecordBatch, RecordId};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(super) struct ProducerState;

#[derive(Clone, Copy, Serialize)]
pub(super) struct Append {
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    records: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Op {
    Append(Append),
    /// Keep this many batches of the log, drop the rest.
    TruncateBatches(usize),
}

#[derive(Serialize)]
pub(super) struct Case {
    ops: Vec<Op>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    results: Vec<String>,
}

impl Rule for ProducerState {
    type Case = Case;
    type Answer = Answer;

    fn generate(rng: &mut ChaCha8Rng) -> Case {
        let producers = rng.gen_range(1..=3);
        // Per producer id: its epoch and next sequence as the producer sees them.
        let mut next: BTreeMap<i64, (i16, i32)> = BTreeMap::new();
        let mut sent: Vec<Append> = Vec::new();
        let mut batches = 0usize;
        let mut ops = Vec::new();
        for _ in 0..rng.gen_range(1..=24) {
            if batches > 0 && rng.gen_bool(0.08) {
                let keep = rng.gen_range(0..batches);
                ops.push(Op::TruncateBatches(keep));
                batches = keep;
                continue;
            }
            let producer_id = 1000 + rng.gen_range(0..producers);
            let (epoch, sequence) = *next.entry(producer_id).or_insert((0, 0));
            let records = rng.gen_range(1..=4);
            let append = match rng.gen_range(0..10) {
                // A retry of an earlier batch, exactly as it was sent.
                0 | 1 if !sent.is_empty() => sent[rng.gen_range(0..sent.len())],
                // A gap.
                2 => Append {
                    producer_id,
                    epoch,
                    base_sequence: sequence + rng.gen_range(1..=3),
                    records,
                },
                // A new epoch, from 0 (or not).
                3 => {
                    let epoch = epoch + 1;
                    let base_sequence = if rng.gen_bool(0.8) { 0 } else { 2 };
                    next.insert(producer_id, (epoch, base_sequence + records as i32));
                    Append {
                        producer_id,
                        epoch,
                        base_sequence,
                        records,
                    }
                }
                // An older epoch.
                4 if epoch > 0 => Append {
                    producer_id,
                    epoch: epoch - 1,
                    base_sequence: sequence,
                    records,
                },
                _ => {
                    next.insert(producer_id, (epoch, sequence + records as i32));
                    Append {
                        producer_id,
                        epoch,
                        base_sequence: sequence,
                        records,
                    }
                }
            };
            sent.push(append);
            batches += 1;
            ops.push(Op::Append(append));
        }
        Case { ops }
    }

    fn model(case: &Case) -> Answer {
        let rules = ProducerRules {
            unknown_producer_accepts_any_sequence: true,
        };
        let mut state = ProducerStateManager::default();
        // The log as batches of records, each record stamped with its batch.
        let mut log: Vec<Vec<Record>> = Vec::new();
        let mut log_end_offset = 0u64;
        let mut results = Vec::new();
        for op in &case.ops {
            let a = match op {
                Op::TruncateBatches(keep) => {
                    log.truncate((*keep).min(log.len()));
                    log_end_offset = log.iter().map(|b| b.len() as u64).sum();
                    let batches: Vec<RecordBatch> = log
                        .iter()
                        .filter(|b| !b.is_empty())
                        .map(|b| RecordBatch::of_records(b.clone()))
                        .collect();
                    state = ProducerStateManager::rebuild(&batches);
                    results.push("truncated".to_string());
                    continue;
                }
                Op::Append(a) => a,
            };
            let stamp = BatchStamp {
                producer_id: a.producer_id,
                producer_epoch: a.epoch,
                base_sequence: a.base_sequence,
                last_sequence: a.base_sequence + a.records as i32 - 1,
                is_transactional: false,
            };
            match state.check(&stamp, rules) {
                Check::Duplicate {
                    first_offset,
                    last_offset,
                } => results.push(format!("duplicate@{first_offset}-{last_offset}")),
                Check::Reject(error) => results.push(error.name().to_string()),
                Check::Append => {
                    let first = log_end_offset;
                    let batch: Vec<Record> = (0..a.records as u64)
                        .map(|i| record(first + i, stamp))
                        .collect();
                    log_end_offset += a.records as u64;
                    state.record(&stamp, first, log_end_offset - 1);
                    log.push(batch);
                    results.push(format!("append@{first}"));
                }
            }
        }
        // Truncations drop whole batches, as Kafka's segments do (`LogSegment.truncateTo`).
        Answer { results }
    }
}

fn record(offset: u64, stamp: BatchStamp) -> Record {
    Record {
        offset,
        leader_epoch: 0,
        id: RecordId {
            producer: 0,
            seq: offset,
        },
        timestamp_ms: 0,
        key: None,
        value: Some(String::new()),
        value_bytes: 0,
        headers: Vec::new(),
        size_bytes: 0,
        producer: Some(stamp),
    }
}
