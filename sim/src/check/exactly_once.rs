//! `exactly-once-violated`: after the settle, every input record a processor's group has
//! committed past has exactly one output record in the committed output.
//!
//! "Committed" is what a read_committed reader would return from the final leaders: a
//! record below the high watermark that is either not transactional or in a transaction
//! its coordinator decided to commit (`TransactionCoordinator.endTransaction` writing
//! PrepareCommit; Kafka's `LogSegment`/`FetchIsolation.TXN_COMMITTED` hide the rest). A
//! transaction's decision is found from the coordinator's own record: the first
//! PrepareCommit or PrepareAbort it wrote for the producer id after the transaction's last
//! record was sent (a producer begins its next transaction only once one has ended).
//!
//! Judged for every processor, transactional or not: without a transaction a crash between
//! the flush and the offset commit writes a batch's output twice, and that is the price of
//! at least once the checker shows.

use super::common::{Invariant, Violation};
use crate::record::{FinalPartition, FinalState, RecordedEvent};
use kafka_model::{Event, RecordId, TopicPartition, TransactionRef};
use std::collections::{BTreeMap, BTreeSet};

/// What the checker needs to know of a processor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessorCheck {
    pub name: String,
    pub group_id: String,
    pub input: Vec<String>,
    pub output: String,
    /// Its producer's index: the `producer` of its output records.
    pub producer: u32,
}

/// A transaction as its records name it: the producer's index and its `TransactionRef`.
type TxnKey = (u32, TransactionRef);

/// Which records a read_committed reader returns: each record's transaction, if it has one,
/// and each transaction's decision (true: commit).
pub struct Committed {
    transaction_of: BTreeMap<RecordId, TxnKey>,
    decided: BTreeMap<TxnKey, bool>,
}

impl Committed {
    pub fn of(events: &[RecordedEvent]) -> Committed {
        let mut transaction_of = BTreeMap::new();
        let mut last_sent_ms: BTreeMap<TxnKey, u64> = BTreeMap::new();
        // Every decision per producer id, in time order: (time, commit).
        let mut decisions: BTreeMap<i64, Vec<(u64, bool)>> = BTreeMap::new();
        for e in events {
            match &e.event {
                Event::RecordSent {
                    producer,
                    id,
                    transaction: Some(t),
                    ..
                } => {
                    transaction_of.insert(*id, (*producer, *t));
                    last_sent_ms.insert((*producer, *t), e.at_ms);
                }
                Event::TxnStateWritten {
                    producer_id, to, ..
                } if to == "PrepareCommit" || to == "PrepareAbort" => {
                    decisions
                        .entry(*producer_id)
                        .or_default()
                        .push((e.at_ms, to == "PrepareCommit"));
                }
                _ => {}
            }
        }
        let decided = last_sent_ms
            .into_iter()
            .filter_map(|(key, sent_ms)| {
                let list = decisions.get(&key.1.producer_id)?;
                let (_, commit) = list.iter().find(|(at, _)| *at >= sent_ms)?;
                Some((key, *commit))
            })
            .collect();
        Committed {
            transaction_of,
            decided,
        }
    }

    /// Whether a read_committed reader returns `record` (one that is below the high
    /// watermark): a transaction's record only once the transaction is committed.
    pub fn is_committed(&self, record: RecordId) -> bool {
        match self.transaction_of.get(&record) {
            None => true,
            Some(key) => self.decided.get(key).copied().unwrap_or(false),
        }
    }
}

/// The records a read_committed reader of `p` returns after the settle, from the replica
/// that leads it (or the most advanced one if none leads), with their offsets.
fn committed_records<'a>(
    p: &'a FinalPartition,
    committed: &'a Committed,
) -> impl Iterator<Item = (u64, RecordId)> + 'a {
    let replica = p
        .replica_states
        .iter()
        .find(|r| r.is_leader && Some(r.broker) == p.leader)
        .or_else(|| p.replica_states.iter().max_by_key(|r| r.high_watermark));
    replica.into_iter().flat_map(move |r| {
        r.log
            .iter()
            .filter(move |(offset, id, _)| {
                *offset < r.high_watermark && committed.is_committed(*id)
            })
            .map(|(offset, id, _)| (*offset, *id))
    })
}

pub fn exactly_once_violated(
    events: &[RecordedEvent],
    final_state: &FinalState,
    processors: &[ProcessorCheck],
    at_ms: u64,
) -> Vec<Violation> {
    if processors.is_empty() {
        return Vec::new();
    }
    let committed = Committed::of(events);
    let mut input_of: BTreeMap<RecordId, RecordId> = BTreeMap::new();
    for e in events {
        if let Event::RecordSent {
            id,
            input: Some(input),
            ..
        } = &e.event
        {
            input_of.insert(*id, *input);
        }
    }
    let mut violations = Vec::new();
    for processor in processors {
        let outputs = outputs_by_input(final_state, processor, &committed, &input_of);
        let group_offsets: BTreeMap<&TopicPartition, u64> = final_state
            .groups
            .iter()
            .filter(|g| g.group == processor.group_id)
            .flat_map(|g| g.offsets.iter().map(|(tp, o)| (tp, *o)))
            .collect();
        let mut judged = BTreeSet::new();
        for p in &final_state.partitions {
            if !processor.input.contains(&p.tp.topic) {
                continue;
            }
            let committed_past = group_offsets.get(&p.tp).copied().unwrap_or(0);
            for (offset, input) in committed_records(p, &committed) {
                let copies: &[RecordId] = outputs.get(&input).map_or(&[], |o| o.as_slice());
                judged.insert(input);
                if copies.len() == 1 || (copies.is_empty() && offset >= committed_past) {
                    continue;
                }
                violations.push(violation(processor, &p.tp, offset, input, copies, at_ms));
            }
        }
        for (input, copies) in &outputs {
            // Output of an input no longer in the log (or never committed there).
            if !judged.contains(input) && copies.len() > 1 {
                let tp = TopicPartition::new(processor.output.clone(), 0);
                let detail = format!(
                    "processor {}: input record {input} has {} output records in the committed \
                     output ({})",
                    processor.name,
                    copies.len(),
                    list(copies)
                );
                violations.push(Violation {
                    invariant: Invariant::ExactlyOnceViolated,
                    at_ms,
                    partition: Some(tp),
                    detail,
                    loss: None,
                });
            }
        }
    }
    violations
}

/// Every committed output record of `processor`, by the input record it was made from.
fn outputs_by_input(
    final_state: &FinalState,
    processor: &ProcessorCheck,
    committed: &Committed,
    input_of: &BTreeMap<RecordId, RecordId>,
) -> BTreeMap<RecordId, Vec<RecordId>> {
    let mut outputs: BTreeMap<RecordId, Vec<RecordId>> = BTreeMap::new();
    for p in &final_state.partitions {
        if p.tp.topic != processor.output {
            continue;
        }
        for (_, id) in committed_records(p, committed) {
            if id.producer != processor.producer {
                continue;
            }
            if let Some(input) = input_of.get(&id) {
                outputs.entry(*input).or_default().push(id);
            }
        }
    }
    outputs
}

fn list(ids: &[RecordId]) -> String {
    ids.iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn violation(
    processor: &ProcessorCheck,
    tp: &TopicPartition,
    offset: u64,
    input: RecordId,
    copies: &[RecordId],
    at_ms: u64,
) -> Violation {
    let detail = match copies.len() {
        0 => format!(
            "processor {}: input record {input} ({tp} offset {offset}) is behind the group's \
             committed offset but has no output record in the committed output",
            processor.name
        ),
        n => format!(
            "processor {}: input record {input} ({tp} offset {offset}) has {n} output records in \
             the committed output ({})",
            processor.name,
            list(copies)
        ),
    };
    Violation {
        invariant: Invariant::ExactlyOnceViolated,
        at_ms,
        partition: Some(tp.clone()),
        detail,
        loss: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FinalGroup, FinalReplica};

    fn id(producer: u32, seq: u64) -> RecordId {
        RecordId { producer, seq }
    }

    fn partition(topic: &str, records: &[RecordId]) -> FinalPartition {
        let log: Vec<(u64, RecordId, i32)> = records
            .iter()
            .enumerate()
            .map(|(o, r)| (o as u64, *r, 0))
            .collect();
        let end = log.len() as u64;
        FinalPartition {
            tp: TopicPartition::new(topic, 0),
            leader: Some(0),
            leader_epoch: 0,
            isr: vec![0],
            replicas: vec![0],
            replica_states: vec![FinalReplica {
                broker: 0,
                log,
                log_start_offset: 0,
                log_end_offset: end,
                high_watermark: end,
                leader_epoch: 0,
                is_leader: true,
                online: true,
            }],
        }
    }

    fn at(at_ms: u64, event: Event) -> RecordedEvent {
        RecordedEvent { at_ms, event }
    }

    /// The processor (producer 1) made output `out` from input `input`.
    fn made(out: u64, input: RecordId, transaction: Option<TransactionRef>) -> RecordedEvent {
        at(
            10 + out,
            Event::RecordSent {
                producer: 1,
                id: id(1, out),
                tp: TopicPartition::new("out", 0),
                transaction,
                input: Some(input),
            },
        )
    }

    fn processor() -> ProcessorCheck {
        ProcessorCheck {
            name: "p".into(),
            group_id: "g".into(),
            input: vec!["in".into()],
            output: "out".into(),
            producer: 1,
        }
    }

    fn state(input: &[RecordId], output: &[RecordId], committed_offset: u64) -> FinalState {
        FinalState {
            partitions: vec![partition("in", input), partition("out", output)],
            groups: vec![FinalGroup {
                group: "g".into(),
                coordinator: Some(0),
                state: Some("Stable".into()),
                generation: 1,
                protocol: None,
                members: Vec::new(),
                offsets: vec![(TopicPartition::new("in", 0), committed_offset)],
            }],
        }
    }

    #[test]
    fn one_output_per_input_is_clean() {
        let inputs = [id(0, 0), id(0, 1)];
        let events = vec![made(0, inputs[0], None), made(1, inputs[1], None)];
        let final_state = state(&inputs, &[id(1, 0), id(1, 1)], 2);
        let found = exactly_once_violated(&events, &final_state, &[processor()], 99);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_duplicated_output_is_reported() {
        let inputs = [id(0, 0), id(0, 1)];
        let events = vec![
            made(0, inputs[0], None),
            made(1, inputs[1], None),
            made(2, inputs[0], None),
        ];
        let final_state = state(&inputs, &[id(1, 0), id(1, 1), id(1, 2)], 2);
        let found = exactly_once_violated(&events, &final_state, &[processor()], 99);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].invariant, Invariant::ExactlyOnceViolated);
        assert!(
            found[0].detail.contains("has 2 output records"),
            "{}",
            found[0].detail
        );
    }

    #[test]
    fn an_input_behind_the_committed_offset_without_output_is_reported() {
        let inputs = [id(0, 0), id(0, 1)];
        let events = vec![made(0, inputs[0], None)];
        // Offset 1 is committed past but has no output; an input at or past the committed
        // offset may still be processed after the run, and is not judged.
        let found =
            exactly_once_violated(&events, &state(&inputs, &[id(1, 0)], 2), &[processor()], 9);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].detail.contains("no output record"));
        let found =
            exactly_once_violated(&events, &state(&inputs, &[id(1, 0)], 1), &[processor()], 9);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn an_aborted_transactions_output_does_not_count() {
        let first = TransactionRef {
            producer_id: 7,
            producer_epoch: 0,
            number: 1,
        };
        let second = TransactionRef {
            producer_id: 7,
            producer_epoch: 1,
            number: 1,
        };
        let decision = |at_ms, to: &str| {
            at(
                at_ms,
                Event::TxnStateWritten {
                    broker: 0,
                    transactional_id: "t".into(),
                    producer_id: 7,
                    producer_epoch: 0,
                    from: "Ongoing".into(),
                    to: to.into(),
                    partitions: Vec::new(),
                    end_txn_for: None,
                },
            )
        };
        let input = [id(0, 0)];
        // The first attempt is aborted (a fenced instance), the second committed.
        let events = vec![
            made(0, input[0], Some(first)),
            decision(50, "PrepareAbort"),
            made(60, input[0], Some(second)),
            decision(90, "PrepareCommit"),
        ];
        let final_state = state(&input, &[id(1, 0), id(1, 60)], 1);
        let found = exactly_once_violated(&events, &final_state, &[processor()], 99);
        assert!(found.is_empty(), "{found:?}");
        // Had the first one committed too, the input would have two outputs.
        let mut events = events;
        events[1] = decision(50, "PrepareCommit");
        let found = exactly_once_violated(&events, &final_state, &[processor()], 99);
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
