//! The transaction coordinator's per-id state machine (`TransactionMetadata` with its
//! `TxnTransitMetadata`): which transitions may be prepared from which state, what each
//! prepares (producer id, epoch, last epoch, partitions, timestamps, transaction version),
//! and what completing it after the `__transaction_state` write, or dropping it after a
//! failed write, leaves behind. The model's side is [`TransactionMetadata`].
//!
//! Why the metadata and not the coordinator: the coordinator's request handling needs its
//! `TransactionStateManager`, marker channel and producer id manager, which a small oracle
//! cannot stand up; every decision it makes ends in one of these transitions, and it is
//! these that carry the rules the request paths depend on (the epoch bumps of KIP-360 and
//! KIP-890, producer id rotation, the fence of an open transaction, the checks at
//! completion). Transaction version 2 exists only from Kafka 4.0, so the oracle is in the
//! `kraft` module, on Kafka 4.0.2.
//!
//! Cases: one transactional id, new (epoch -1), at a small epoch, or two or three epochs
//! short of exhaustion; a client transaction version (0, 1 or 2) for the whole case; a
//! sequence of what the coordinator does to it: InitProducerId's epoch bump (with or without
//! the epoch the client expects) or producer id rotation, AddPartitions, EndTxn's
//! PrepareCommit or PrepareAbort, the markers' completion, InitProducerId's fence of an open
//! transaction and the abort that follows (the model's `prepare_end_transaction`, and the
//! Kafka side mirrors `endTransaction`'s few lines for it), expiration; and after most of
//! them the write succeeding
//! (complete the last prepared transition) or failing. Now and then an op comes at a state
//! where the coordinator would not make it, so the refusals are compared too.

use super::Rule;
use kafka_model::coordinator::transaction::{
    prepare_end_transaction, EndTxnDecision, TransactionMetadata, TransactionResult,
    TransactionState, TransactionVersion, TxnTransitMetadata, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};
use kafka_model::types::TopicPartition;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub(super) struct TxnCoordinator;

/// The first producer id, and where newly allocated ones start.
const PRODUCER_ID: i64 = 1000;
const NEW_PRODUCER_IDS: i64 = 2000;
const TIMEOUT_MS: u64 = 60_000;

#[derive(Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Op {
    /// `prepareIncrementProducerEpoch` with the epoch the client expects (KIP-360), if any.
    Init {
        expected: Option<i16>,
        timeout_ms: u64,
    },
    /// `prepareProducerIdRotation` to the next new producer id.
    Rotate { record_last_epoch: bool },
    /// `prepareAddPartitions` of partitions `0..` of topic `t`.
    Add(Vec<u32>),
    /// `prepareAbortOrCommit`, with a new producer id when transaction version 2 would bump
    /// an exhausted epoch (`endTransaction`'s `generateTxnTransitMetadataForTxnCompletion`).
    End { commit: bool },
    /// `prepareComplete`: the markers are written.
    Complete,
    /// InitProducerId over an open transaction: `prepareFenceProducerEpoch`, then the abort
    /// `endTransaction` makes with the coordinator's transaction version (the case's).
    FenceAbort,
    /// `prepareDead`: the id expired.
    Dead,
    /// The write of the last prepared transition succeeded (`completeTransitionTo`) or
    /// failed (the pending state is dropped).
    Write { ok: bool },
}

#[derive(Serialize)]
pub(super) struct Case {
    /// The client's (and the coordinator's) transaction version: 0, 1 or 2.
    transaction_version: u8,
    epoch: i16,
    ops: Vec<Op>,
}

/// Per op one line: its outcome (`ok`, an error's name, `illegal` for Kafka's
/// `IllegalStateException` or `IllegalArgumentException`, `nothing` for a write with no
/// transition prepared), the transition it prepared, and the metadata after it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    steps: Vec<String>,
}

fn version(level: u8) -> TransactionVersion {
    match level {
        0 => TransactionVersion::V0,
        1 => TransactionVersion::V1,
        _ => TransactionVersion::V2,
    }
}

fn level(version: TransactionVersion) -> u8 {
    match version {
        TransactionVersion::V0 => 0,
        TransactionVersion::V1 => 1,
        TransactionVersion::V2 => 2,
    }
}

fn partitions(set: &BTreeSet<TopicPartition>) -> String {
    let names: Vec<String> = set
        .iter()
        .map(|tp| format!("{}-{}", tp.topic, tp.partition))
        .collect();
    format!("[{}]", names.join(","))
}

fn timestamp(ms: Option<u64>) -> i64 {
    ms.map_or(-1, |ms| ms as i64)
}

fn describe_transit(t: &TxnTransitMetadata) -> String {
    format!(
        "{} pid={} prev={} next={} epoch={} last={} timeout={} parts={} start={} update={} tv={}",
        t.state.name(),
        t.producer_id,
        t.prev_producer_id,
        t.next_producer_id,
        t.producer_epoch,
        t.last_producer_epoch,
        t.txn_timeout_ms,
        partitions(&t.topic_partitions),
        timestamp(t.txn_start_timestamp_ms),
        t.txn_last_update_timestamp_ms,
        level(t.client_transaction_version)
    )
}

fn describe(m: &TransactionMetadata) -> String {
    format!(
        "{} pending={} pid={} prev={} next={} epoch={} last={} timeout={} parts={} start={} update={} tv={} failed_fence={}",
        m.state.name(),
        m.pending_state.map_or("-", |s| s.name()),
        m.producer_id,
        m.previous_producer_id,
        m.next_producer_id,
        m.producer_epoch,
        m.last_producer_epoch,
        m.txn_timeout_ms,
        partitions(&m.topic_partitions),
        timestamp(m.txn_start_timestamp_ms),
        m.txn_last_update_timestamp_ms,
        level(m.client_transaction_version),
        m.has_failed_epoch_fence
    )
}

/// The coordinator's clock at op `index`.
fn now(index: usize) -> u64 {
    100 + 10 * index as u64
}

/// The metadata a case starts from: as `handleInitProducerId` creates it for a new id,
/// with the case's epoch.
fn initial(epoch: i16) -> TransactionMetadata {
    let mut m = TransactionMetadata::new("txn", PRODUCER_ID, TIMEOUT_MS, 0);
    m.producer_epoch = epoch;
    m
}

impl Rule for TxnCoordinator {
    type Case = Case;
    type Answer = Answer;

    fn generate(rng: &mut ChaCha8Rng) -> Case {
        let transaction_version = rng.gen_range(0..=2u8);
        let epoch = match rng.gen_range(0..10) {
            0..=3 => NO_PRODUCER_EPOCH,
            4..=7 => rng.gen_range(0..5),
            _ => i16::MAX - rng.gen_range(2..=4),
        };
        // The model runs alongside only to draw what the coordinator would do next at its
        // state most of the time; what it answers is compared later, from the case alone.
        let mut m = initial(epoch);
        let mut ops = Vec::new();
        let mut last: Option<(TxnTransitMetadata, bool)> = None;
        let mut next_id = NEW_PRODUCER_IDS;
        for index in 0..rng.gen_range(1..=24) {
            let any = rng.gen_bool(0.12);
            let op = if m.pending_state.is_some() && !any {
                Op::Write {
                    ok: rng.gen_bool(0.85),
                }
            } else if any {
                match rng.gen_range(0..8) {
                    0 => Op::Init {
                        expected: None,
                        timeout_ms: TIMEOUT_MS,
                    },
                    1 => Op::Rotate {
                        record_last_epoch: rng.gen_bool(0.5),
                    },
                    2 => Op::Add(vec![rng.gen_range(0..3)]),
                    3 => Op::End {
                        commit: rng.gen_bool(0.5),
                    },
                    4 => Op::Complete,
                    5 => Op::FenceAbort,
                    6 => Op::Dead,
                    _ => Op::Write {
                        ok: rng.gen_bool(0.7),
                    },
                }
            } else {
                match m.state {
                    TransactionState::Empty
                    | TransactionState::CompleteCommit
                    | TransactionState::CompleteAbort => match rng.gen_range(0..10) {
                        0..=2 => {
                            if m.is_producer_epoch_exhausted() {
                                Op::Rotate {
                                    record_last_epoch: rng.gen_bool(0.5),
                                }
                            } else {
                                let expected = match rng.gen_range(0..4) {
                                    0 => None,
                                    1 => Some(m.last_producer_epoch),
                                    2 => Some(m.producer_epoch - 1),
                                    _ => Some(m.producer_epoch),
                                };
                                Op::Init {
                                    expected,
                                    timeout_ms: if rng.gen_bool(0.8) {
                                        TIMEOUT_MS
                                    } else {
                                        TIMEOUT_MS / 2
                                    },
                                }
                            }
                        }
                        3 => Op::Dead,
                        _ => Op::Add((0..rng.gen_range(1..=3)).collect()),
                    },
                    TransactionState::Ongoing => match rng.gen_range(0..10) {
                        0..=2 => Op::Add(vec![rng.gen_range(0..4)]),
                        3 => Op::FenceAbort,
                        _ => Op::End {
                            commit: rng.gen_bool(0.5),
                        },
                    },
                    TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
                        Op::Complete
                    }
                    // Dead is terminal: anything goes, and is refused.
                    _ => Op::Init {
                        expected: None,
                        timeout_ms: TIMEOUT_MS,
                    },
                }
            };
            play(
                &mut m,
                &mut last,
                &op,
                index,
                version(transaction_version),
                &mut next_id,
            );
            ops.push(op);
        }
        Case {
            transaction_version,
            epoch,
            ops,
        }
    }

    fn model(case: &Case) -> Answer {
        let tv = version(case.transaction_version);
        let mut m = initial(case.epoch);
        let mut last: Option<(TxnTransitMetadata, bool)> = None;
        let mut next_id = NEW_PRODUCER_IDS;
        let steps = case
            .ops
            .iter()
            .enumerate()
            .map(|(index, op)| {
                let outcome = play(&mut m, &mut last, op, index, tv, &mut next_id);
                format!("{outcome} | {}", describe(&m))
            })
            .collect();
        Answer { steps }
    }
}

/// One op on the model: its outcome, with the transition it prepared.
fn play(
    m: &mut TransactionMetadata,
    last: &mut Option<(TxnTransitMetadata, bool)>,
    op: &Op,
    index: usize,
    tv: TransactionVersion,
    next_id: &mut i64,
) -> String {
    let now_ms = now(index);
    let mut allocate = || {
        let id = *next_id;
        *next_id += 1;
        id
    };
    let prepared = match op {
        Op::Init {
            expected,
            timeout_ms,
        } => match m.prepare_increment_producer_epoch(*timeout_ms, *expected, now_ms) {
            Ok(Ok(t)) => Ok(Some(t)),
            Ok(Err(error)) => return error.name().to_string(),
            Err(e) => Err(e),
        },
        Op::Rotate { record_last_epoch } => m
            .prepare_producer_id_rotation(allocate(), TIMEOUT_MS, now_ms, *record_last_epoch)
            .map(Some),
        Op::Add(ps) => {
            let added: BTreeSet<TopicPartition> =
                ps.iter().map(|p| TopicPartition::new("t", *p)).collect();
            m.prepare_add_partitions(&added, now_ms, tv).map(Some)
        }
        Op::End { commit } => {
            let state = if *commit {
                TransactionState::PrepareCommit
            } else {
                TransactionState::PrepareAbort
            };
            let next_producer_id = if tv.supports_epoch_bump() && m.is_producer_epoch_exhausted() {
                allocate()
            } else {
                NO_PRODUCER_ID
            };
            // `endTransaction` (version 2) aborts from Empty or Complete* with no partition
            // added; from Ongoing it ends the open transaction.
            let no_partition_added = m.state != TransactionState::Ongoing;
            m.prepare_abort_or_commit(state, tv, next_producer_id, now_ms, no_partition_added)
                .map(Some)
        }
        Op::Complete => m.prepare_complete(now_ms).map(Some),
        Op::FenceAbort => match m.prepare_fence_producer_epoch() {
            Ok(fence) => {
                let producer_id = m.producer_id;
                // The coordinator aborts with its own transaction version: the case's.
                match prepare_end_transaction(
                    m,
                    producer_id,
                    fence.producer_epoch,
                    TransactionResult::Abort,
                    false,
                    tv,
                    now_ms,
                    allocate,
                ) {
                    Ok(EndTxnDecision::Write(t)) => Ok(Some(t)),
                    Ok(EndTxnDecision::Respond(answer)) => return answer.error.name().to_string(),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        },
        Op::Dead => m.prepare_dead().map(Some),
        Op::Write { ok } => {
            let Some((transit, fence_abort)) = last.clone() else {
                return "nothing".to_string();
            };
            if *ok {
                m.complete_transition_to(&transit).map(|()| None)
            } else {
                m.abort_pending_transition(fence_abort);
                Ok(None)
            }
        }
    };
    match prepared {
        Ok(Some(t)) => {
            let text = format!("ok {}", describe_transit(&t));
            // Only a version 0 or 1 fence's failed abort sets `hasFailedEpochFence`.
            let epoch_fence = matches!(op, Op::FenceAbort) && !tv.supports_epoch_bump();
            *last = Some((t, epoch_fence));
            text
        }
        Ok(None) => "ok".to_string(),
        Err(_) => "illegal".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{conformance_dir, run, Oracle};
    use super::*;
    use rand::SeedableRng;
    use std::path::Path;

    /// The generator reaches every op, and the model meets every kind of outcome on them.
    #[test]
    fn the_cases_reach_every_outcome() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen = BTreeSet::new();
        let mut paths = BTreeSet::new();
        for _ in 0..500 {
            let case = TxnCoordinator::generate(&mut rng);
            for (op, step) in case.ops.iter().zip(TxnCoordinator::model(&case).steps) {
                let mut words = step.split(' ');
                let outcome = words.next().unwrap_or("").to_string();
                let state = words.next().unwrap_or("").to_string();
                if matches!(op, Op::FenceAbort) && outcome == "ok" {
                    paths.insert("a fence and its abort");
                }
                if step.contains("failed_fence=true") {
                    paths.insert("a failed fence");
                }
                if matches!(op, Op::End { .. })
                    && step.contains(&format!("next={NEW_PRODUCER_IDS} "))
                {
                    paths.insert("an epoch overflow to a new producer id");
                }
                if matches!(op, Op::End { commit: false })
                    && outcome == "ok"
                    && case.transaction_version == 2
                    && step.contains("parts=[] ")
                {
                    paths.insert("a version 2 abort with no transaction open");
                }
                seen.insert(outcome);
                seen.insert(state);
            }
        }
        assert_eq!(paths.len(), 4, "{paths:?}");
        for wanted in [
            "ok",
            "illegal",
            "nothing",
            "PRODUCER_FENCED",
            "Empty",
            "Ongoing",
            "PrepareCommit",
            "PrepareAbort",
            "CompleteCommit",
            "CompleteAbort",
            "Dead",
        ] {
            assert!(seen.contains(wanted), "never reached: {wanted} ({seen:?})");
        }
    }

    /// 3,000 cases against Kafka 4.0.2's `TransactionMetadata`.
    #[test]
    #[ignore = "needs Java 17 and conformance/build.sh"]
    fn the_transaction_metadata_agrees_with_kafka() {
        let dir = conformance_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("a parent"),
        );
        let report = run(Oracle::TxnCoordinator, 3_000, 1, &dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(report.differences.is_empty(), "{report}");
    }
}
