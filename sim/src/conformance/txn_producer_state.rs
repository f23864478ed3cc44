//! A partition's transactions (the transactional half of `ProducerStateManager` and
//! `ProducerAppendInfo`, with the segment's `TransactionIndex`): which batches open a
//! transaction, which markers close one or are refused, where the first unstable offset and
//! the last stable offset stand as the high watermark moves, and which aborted transactions
//! the index holds and hands a read_committed fetch. The model's side is
//! [`PartitionTransactions`].
//!
//! Why a separate oracle from `producer-state`: that one checks the idempotent producer's
//! sequence and epoch rules on data batches, which [`PartitionTransactions`] leaves to its
//! caller. Here the data batches reach Kafka's `ProducerAppendInfo` as a replica's copy
//! (`AppendOrigin.REPLICATION`, which skips exactly those checks), so the comparison is of
//! the transactional rules alone; markers come from the coordinator (`COORDINATOR`, checked)
//! or through replication (only noted), as they reach a leader and a follower.
//!
//! Cases: up to three producer ids, each writing transactional (now and then plain) batches
//! and COMMIT or ABORT markers: most with the producer's epoch and the coordinator's current
//! epoch, some with the next producer epoch (transaction version 2 bumps it at each end),
//! an older producer epoch, an older coordinator epoch, or for a producer with no open
//! transaction. The coordinator's epoch rises now and then (it moved), so does the
//! producer's (it was initialised again), and the high watermark moves up towards the log
//! end; now and then a fetch range asks the index for its aborted transactions. A data
//! batch's epoch is never below the one the partition holds: that refusal is the idempotent
//! producer's.

use super::Rule;
use kafka_model::producer_state::{AbortedTxn, AppendOrigin, PartitionTransactions};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub(super) struct TxnProducerState;

#[derive(Serialize)]
pub(super) struct Data {
    producer_id: i64,
    epoch: i16,
    records: u64,
    transactional: bool,
}

#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Origin {
    Coordinator,
    Replication,
}

#[derive(Serialize)]
pub(super) struct Marker {
    producer_id: i64,
    epoch: i16,
    coordinator_epoch: i32,
    abort: bool,
    origin: Origin,
}

#[derive(Serialize)]
pub(super) struct Collect {
    fetch_offset: u64,
    upper_bound_offset: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Op {
    Data(Data),
    Marker(Marker),
    /// The high watermark moves up to this offset (never past the log end).
    HighWatermark(u64),
    /// A read_committed fetch of `[fetch_offset, upper_bound_offset)` asks the index.
    Collect(Collect),
}

#[derive(Serialize)]
pub(super) struct Case {
    ops: Vec<Op>,
}

/// Per op one line: what it did (`data@OFFSET`, `marker@OFFSET`, `commit PID FIRST-LAST`,
/// `abort PID FIRST-LAST`, an error's name, `hw=N`, or the aborted transactions a fetch
/// collects), then the first unstable offset (`fuo=-` for none) and the last stable offset
/// at the current high watermark. Then the index: every aborted transaction as
/// `[producer id, first offset, last offset, last stable offset]`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    steps: Vec<String>,
    aborted: Vec<[i64; 4]>,
}

/// The producer as the generator sees it from outside the partition.
struct Producer {
    id: i64,
    epoch: i16,
}

impl Rule for TxnProducerState {
    type Case = Case;
    type Answer = Answer;

    fn generate(rng: &mut ChaCha8Rng) -> Case {
        let mut producers: Vec<Producer> = (0..rng.gen_range(1..=3))
            .map(|i| Producer {
                id: 3000 + i,
                epoch: rng.gen_range(0..3),
            })
            .collect();
        let mut coordinator_epoch: i32 = rng.gen_range(0..3);
        // Offsets only an accepted op takes; the generator does not know which are, so it
        // counts every data batch and marker as written: the high watermark it draws is then
        // at most this, and the oracle caps it at the true log end.
        let mut written = 0u64;
        let mut high_watermark = 0u64;
        let mut ops = Vec::new();
        for _ in 0..rng.gen_range(1..=30) {
            let p = rng.gen_range(0..producers.len());
            match rng.gen_range(0..100) {
                0..=13 => {
                    high_watermark = rng.gen_range(high_watermark..=written);
                    ops.push(Op::HighWatermark(high_watermark));
                }
                14..=18 => {
                    let fetch_offset = rng.gen_range(0..=written);
                    let upper_bound_offset = rng.gen_range(fetch_offset..=written + 1);
                    ops.push(Op::Collect(Collect {
                        fetch_offset,
                        upper_bound_offset,
                    }));
                }
                19..=22 => {
                    // The producer was initialised again, or the coordinator moved.
                    if rng.gen_bool(0.5) {
                        producers[p].epoch += 1;
                    } else {
                        coordinator_epoch += 1;
                    }
                }
                23..=64 => {
                    let records = rng.gen_range(1..=3);
                    written += records;
                    ops.push(Op::Data(Data {
                        producer_id: producers[p].id,
                        epoch: producers[p].epoch,
                        records,
                        transactional: rng.gen_bool(0.85),
                    }));
                }
                _ => {
                    let producer = &mut producers[p];
                    let (epoch, marker_coordinator_epoch) = match rng.gen_range(0..10) {
                        // Transaction version 2: the marker carries the bumped epoch.
                        0 | 1 => {
                            producer.epoch += 1;
                            (producer.epoch, coordinator_epoch)
                        }
                        2 if producer.epoch > 0 => (producer.epoch - 1, coordinator_epoch),
                        3 if coordinator_epoch > 0 => (producer.epoch, coordinator_epoch - 1),
                        _ => (producer.epoch, coordinator_epoch),
                    };
                    written += 1;
                    ops.push(Op::Marker(Marker {
                        producer_id: producer.id,
                        epoch,
                        coordinator_epoch: marker_coordinator_epoch,
                        abort: rng.gen_bool(0.5),
                        origin: if rng.gen_bool(0.2) {
                            Origin::Replication
                        } else {
                            Origin::Coordinator
                        },
                    }));
                }
            }
        }
        Case { ops }
    }

    fn model(case: &Case) -> Answer {
        let mut txns = PartitionTransactions::default();
        let mut log_end_offset = 0u64;
        let mut high_watermark = 0u64;
        let mut steps = Vec::new();
        for op in &case.ops {
            let did = match op {
                Op::Data(d) => {
                    match txns.append_data_batch(
                        d.producer_id,
                        d.epoch,
                        log_end_offset,
                        d.transactional,
                    ) {
                        Ok(()) => {
                            let at = log_end_offset;
                            log_end_offset += d.records;
                            format!("data@{at}")
                        }
                        Err(e) => e.name().to_string(),
                    }
                }
                Op::Marker(m) => {
                    let origin = match m.origin {
                        Origin::Coordinator => AppendOrigin::Coordinator,
                        Origin::Replication => AppendOrigin::Replication,
                    };
                    match txns.append_end_txn_marker(
                        m.producer_id,
                        m.epoch,
                        m.coordinator_epoch,
                        log_end_offset,
                        m.abort,
                        origin,
                    ) {
                        Ok(completed) => {
                            let at = log_end_offset;
                            log_end_offset += 1;
                            match completed {
                                Some(t) => format!(
                                    "{} {} {}-{}",
                                    if t.is_aborted { "abort" } else { "commit" },
                                    t.producer_id,
                                    t.first_offset,
                                    t.last_offset
                                ),
                                None => format!("marker@{at}"),
                            }
                        }
                        Err(e) => e.name().to_string(),
                    }
                }
                Op::HighWatermark(hw) => {
                    high_watermark = (*hw).clamp(high_watermark, log_end_offset);
                    txns.on_high_watermark_updated(high_watermark);
                    format!("hw={high_watermark}")
                }
                Op::Collect(c) => {
                    let found = txns.aborted_transactions(c.fetch_offset, c.upper_bound_offset);
                    format!("collect {}", listed(&found))
                }
            };
            let fuo = txns
                .first_unstable_offset()
                .map_or("-".to_string(), |o| o.to_string());
            steps.push(format!(
                "{did} fuo={fuo} lso={}",
                txns.last_stable_offset(high_watermark)
            ));
        }
        let aborted = txns
            .aborted()
            .iter()
            .map(|t| {
                [
                    t.producer_id,
                    t.first_offset as i64,
                    t.last_offset as i64,
                    t.last_stable_offset as i64,
                ]
            })
            .collect();
        Answer { steps, aborted }
    }
}

/// Aborted transactions as `[PID:FIRST-LAST/LSO ...]`, the oracle's spelling.
fn listed(aborted: &[AbortedTxn]) -> String {
    let items: Vec<String> = aborted
        .iter()
        .map(|t| {
            format!(
                "{}:{}-{}/{}",
                t.producer_id, t.first_offset, t.last_offset, t.last_stable_offset
            )
        })
        .collect();
    format!("[{}]", items.join(" "))
}

#[cfg(test)]
mod tests {
    use super::super::{conformance_dir, run, Oracle};
    use super::*;
    use rand::SeedableRng;
    use std::path::Path;

    /// The generator reaches every kind of op and every kind of marker, and the model meets
    /// every outcome on them.
    #[test]
    fn the_cases_reach_every_outcome() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let case = TxnProducerState::generate(&mut rng);
            for step in TxnProducerState::model(&case).steps {
                let what = step.split([' ', '@', '=']).next().unwrap_or("").to_string();
                seen.insert(what);
            }
        }
        for wanted in [
            "data",
            "marker",
            "commit",
            "abort",
            "hw",
            "collect",
            "INVALID_TXN_STATE",
            "INVALID_PRODUCER_EPOCH",
            "TRANSACTION_COORDINATOR_FENCED",
        ] {
            assert!(seen.contains(wanted), "never reached: {wanted} ({seen:?})");
        }
    }

    /// 3,000 cases against Kafka 3.7.1's `ProducerStateManager` and `TransactionIndex`.
    #[test]
    #[ignore = "needs Java 17 and conformance/build.sh"]
    fn the_partition_transactions_agree_with_kafka() {
        let dir = conformance_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("a parent"),
        );
        let report =
            run(Oracle::TxnProducerState, 3_000, 1, &dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(report.differences.is_empty(), "{report}");
    }
}
