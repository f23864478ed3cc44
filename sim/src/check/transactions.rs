//! The transaction invariants (KIP-98): what a transactional producer's commit and abort,
//! and a new instance's fence, promise to read_committed consumers.
//!
//! A transaction's fate on a partition is written in the partition's log: the first COMMIT
//! or ABORT marker of a producer id after its record ends the producer's open transaction
//! there (Kafka's `ProducerStateManager`, `ProducerAppendInfo.appendEndTxnMarker`), and that
//! is how a read_committed reader meets it. So each checker reads a record's fate off the log
//! that holds it, rebuilt by [`LogReplay`] from the appends (`Appended` names the markers of
//! an append in `markers`), and never from a process's own account. Which transaction a
//! record was sent in comes from its `RecordSent`; the application's view (a commit
//! acknowledged, an abort) from `TransactionCommitted` and `TransactionAborted`; an
//! instance's producer id and epoch from `TransactionsInitialized`.

use super::common::{last_time, Invariant, Violation};
use super::removal::Removals;
use super::replay::{LogReplay, ReplicaLog};
use super::replication::HighWatermarkBounds;
use crate::record::{FinalState, RecordedEvent};
use kafka_model::event::AppendedMarker;
use kafka_model::{BrokerId, ControlRecordType, Event, RecordId, TopicPartition, TransactionRef};
use std::collections::{BTreeMap, BTreeSet};

/// Which transaction each transactional record was sent in (its `RecordSent`).
fn transaction_of(events: &[RecordedEvent]) -> BTreeMap<RecordId, TransactionRef> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::RecordSent {
                id,
                transaction: Some(t),
                ..
            } => Some((*id, *t)),
            _ => None,
        })
        .collect()
}

/// A transaction in words.
fn txn_words(t: &TransactionRef) -> String {
    format!(
        "transaction {} of producer id {} (epoch {})",
        t.number, t.producer_id, t.producer_epoch
    )
}

fn marker_words(m: &AppendedMarker) -> String {
    let kind = match m.control_type {
        ControlRecordType::Commit => "COMMIT",
        ControlRecordType::Abort => "ABORT",
    };
    format!("{kind} marker at offset {}", m.offset)
}

/// How `log` ends the transaction of the record `id` at `offset`, sent by producer id
/// `producer_id`: `None` when the log does not hold that record there, `Some(None)` while
/// no marker of the producer id follows it, else the first that does.
fn closing_marker(
    log: &ReplicaLog,
    offset: u64,
    id: RecordId,
    producer_id: i64,
) -> Option<Option<AppendedMarker>> {
    if log.get(offset).map(|(held, _)| held) != Some(id) {
        return None;
    }
    Some(
        log.markers(offset + 1, u64::MAX)
            .find(|m| m.producer_id == producer_id)
            .copied(),
    )
}

/// One transactional record a log holds, and the marker that ends its transaction there
/// (`None`: its transaction is still open in that log).
#[derive(Clone, Copy, Debug)]
struct Fate {
    offset: u64,
    id: RecordId,
    transaction: TransactionRef,
    marker: Option<AppendedMarker>,
}

/// Every transactional record `log` holds, in offset order, each with the first marker of
/// its producer id after it.
fn fates(log: &ReplicaLog, of: &BTreeMap<RecordId, TransactionRef>) -> Vec<Fate> {
    let records: Vec<(u64, RecordId, TransactionRef)> = log
        .held(log.log_start(), log.end())
        .filter_map(|(o, (id, _))| of.get(&id).map(|t| (o, id, *t)))
        .collect();
    let markers: Vec<AppendedMarker> = log.markers(0, u64::MAX).copied().collect();
    // Backwards, keeping the next marker of each producer id.
    let mut next: BTreeMap<i64, AppendedMarker> = BTreeMap::new();
    let mut m = markers.len();
    let mut out = Vec::with_capacity(records.len());
    for &(offset, id, transaction) in records.iter().rev() {
        while m > 0 && markers[m - 1].offset > offset {
            m -= 1;
            next.insert(markers[m].producer_id, markers[m]);
        }
        out.push(Fate {
            offset,
            id,
            transaction,
            marker: next.get(&transaction.producer_id).copied(),
        });
    }
    out.reverse();
    out
}

/// The last stable offset of `log` under the high watermark `hw`, as Kafka's
/// `UnifiedLog.lastStableOffset` computes it: the first unstable offset (the first offset of
/// every transaction still open in the log, and of every one whose marker is not yet below
/// the HW: `ProducerStateManager.firstUnstableOffset`), capped at the HW. Returns it with the
/// producer id of the transaction that holds it back, if one does.
fn last_stable_offset(
    log: &ReplicaLog,
    hw: u64,
    of: &BTreeMap<RecordId, TransactionRef>,
) -> (u64, Option<i64>) {
    let mut open: BTreeMap<i64, u64> = BTreeMap::new();
    let mut unstable: Option<(u64, i64)> = None;
    let mut hold = |first: u64, pid: i64| {
        if unstable.is_none_or(|(f, _)| first < f) {
            unstable = Some((first, pid));
        }
    };
    let mut markers = log.markers(log.log_start(), log.end()).peekable();
    let close =
        |m: &AppendedMarker, open: &mut BTreeMap<i64, u64>, hold: &mut dyn FnMut(u64, i64)| {
            if let Some(first) = open.remove(&m.producer_id) {
                if m.offset >= hw {
                    hold(first, m.producer_id);
                }
            }
        };
    for (offset, (id, _)) in log.held(log.log_start(), log.end()) {
        while let Some(m) = markers.next_if(|m| m.offset < offset) {
            close(m, &mut open, &mut hold);
        }
        if let Some(t) = of.get(&id) {
            open.entry(t.producer_id).or_insert(offset);
        }
    }
    for m in markers {
        close(m, &mut open, &mut hold);
    }
    for (pid, first) in open {
        hold(first, pid);
    }
    match unstable {
        Some((first, pid)) if first < hw => (first, Some(pid)),
        _ => (hw, None),
    }
}

/// The final leader's log of every partition, as the replay of the whole record left it,
/// with the fates of its transactional records; `None` for a partition with no leader at
/// the end (nothing is readable there).
fn final_fates<'a>(
    events: &'a [RecordedEvent],
    final_state: &'a FinalState,
    of: &BTreeMap<RecordId, TransactionRef>,
) -> BTreeMap<&'a TopicPartition, Option<(BrokerId, Vec<Fate>)>> {
    let mut replay = LogReplay::default();
    for e in events {
        replay.apply(&e.event);
    }
    final_state
        .partitions
        .iter()
        .map(|p| {
            let found = p.leader.map(|leader| {
                let fates = replay
                    .replica(leader, &p.tp)
                    .map_or_else(Vec::new, |log| fates(log, of));
                (leader, fates)
            });
            (&p.tp, found)
        })
        .collect()
}

/// What a read_committed consumer was handed in one fetch answer.
struct ReadCommitted<'a> {
    consumer: &'a u32,
    tp: &'a TopicPartition,
    served_by: &'a BrokerId,
    records: &'a [(u64, RecordId)],
}

/// The fetch answer `event` handed a consumer in `read_committed`, if it is one.
fn read_committed_fetch<'a>(
    event: &'a Event,
    read_committed: &BTreeSet<u32>,
) -> Option<ReadCommitted<'a>> {
    match event {
        Event::Consumed {
            consumer,
            tp,
            served_by,
            records,
            ..
        } if read_committed.contains(consumer) => Some(ReadCommitted {
            consumer,
            tp,
            served_by,
            records,
        }),
        _ => None,
    }
}

/// `txn-aborted-read`: a read_committed consumer was handed a record whose transaction was
/// aborted: the marker that ends the record's transaction in the serving replica's log is an
/// ABORT (at the read, or, for a record read before any marker, the one the replica got
/// later), or the application's `abortTransaction()` was acknowledged for it. Kafka's
/// guarantee: a read_committed fetch returns the aborted transactions of the range
/// (`UnifiedLog.collectAbortedTransactions`, the `.txnindex`) and the consumer's
/// `CompletedFetch` skips every batch of an aborted producer id up to its ABORT marker.
pub fn txn_aborted_read(
    events: &[RecordedEvent],
    read_committed: &BTreeSet<u32>,
) -> Vec<Violation> {
    if read_committed.is_empty() {
        return Vec::new();
    }
    let of = transaction_of(events);
    let mut aborted: BTreeMap<TransactionRef, u64> = BTreeMap::new();
    for e in events {
        if let Event::TransactionAborted { transaction, .. } = &e.event {
            aborted.entry(*transaction).or_insert(e.at_ms);
        }
    }
    let mut replay = LogReplay::default();
    let mut violations = Vec::new();
    // Reads of records no marker followed yet: judged by the marker the replica got later.
    let mut pending = Vec::new();
    for e in events {
        replay.apply(&e.event);
        let Some(ReadCommitted {
            consumer,
            tp,
            served_by,
            records,
        }) = read_committed_fetch(&e.event, read_committed)
        else {
            continue;
        };
        for &(offset, id) in records {
            let Some(t) = of.get(&id) else {
                continue;
            };
            let marker = replay
                .replica(*served_by, tp)
                .and_then(|log| closing_marker(log, offset, id, t.producer_id));
            let why = match (marker, aborted.get(t)) {
                (Some(Some(m)), _) if m.control_type == ControlRecordType::Abort => {
                    format!(
                        "its transaction ends with an {} in broker {served_by}'s log",
                        marker_words(&m)
                    )
                }
                (_, Some(at)) => {
                    format!("the application's abortTransaction() was acknowledged at {at} ms")
                }
                (Some(None), None) => {
                    pending.push((e.at_ms, *consumer, tp, *served_by, offset, id, *t));
                    continue;
                }
                _ => continue,
            };
            violations.push(Violation {
                loss: None,
                invariant: Invariant::TxnAbortedRead,
                at_ms: e.at_ms,
                partition: Some(tp.clone()),
                detail: format!(
                    "read_committed consumer #{consumer} was handed {id} at offset {offset} of {tp} by broker {served_by}, a record of aborted {}: {why}",
                    txn_words(t)
                ),
            });
        }
    }
    for (at_ms, consumer, tp, served_by, offset, id, t) in pending {
        let later = replay
            .replica(served_by, tp)
            .and_then(|log| closing_marker(log, offset, id, t.producer_id))
            .flatten();
        if let Some(m) = later.filter(|m| m.control_type == ControlRecordType::Abort) {
            violations.push(Violation {
                loss: None,
                invariant: Invariant::TxnAbortedRead,
                at_ms,
                partition: Some(tp.clone()),
                detail: format!(
                    "read_committed consumer #{consumer} was handed {id} at offset {offset} of {tp} by broker {served_by} before any marker ended its {}, and an {} in broker {served_by}'s log aborted it later",
                    txn_words(&t),
                    marker_words(&m)
                ),
            });
        }
    }
    violations
}

/// `txn-uncommitted-read`: a read_committed consumer was handed a record at or above the last
/// stable offset of the broker that served it. The checker rebuilds that LSO from the
/// serving replica's log (its open transactions and markers, [`last_stable_offset`]) and an
/// upper bound of its high watermark rebuilt from the replicas' logs and its ISR (the one
/// `uncommitted-read` uses), never from the offsets the broker reported; the log is the one
/// the replica held when the consumer got the answer. Both bounds are generous, so a
/// violation is certain. Kafka's guarantee: `Partition.fetchRecords` with
/// `FetchIsolation.TXN_COMMITTED` serves only below `UnifiedLog.lastStableOffset`. A read at
/// or above the HW is above the LSO too, and also an `uncommitted-read`.
pub fn txn_uncommitted_read(
    events: &[RecordedEvent],
    read_committed: &BTreeSet<u32>,
) -> Vec<Violation> {
    if read_committed.is_empty() {
        return Vec::new();
    }
    let of = transaction_of(events);
    let mut replay = LogReplay::default();
    let mut bounds = HighWatermarkBounds::default();
    // Per replica: how many times its log changed, and the LSO computed since the last change.
    let mut version: BTreeMap<(&TopicPartition, BrokerId), u64> = BTreeMap::new();
    type Cached = (u64, u64, (u64, Option<i64>));
    let mut cache: BTreeMap<(&TopicPartition, BrokerId), Cached> = BTreeMap::new();
    let mut violations = Vec::new();
    for e in events {
        for change in bounds.step(&mut replay, &e.event) {
            *version.entry((change.tp, change.broker)).or_insert(0) += 1;
        }
        let Some(ReadCommitted {
            consumer,
            tp,
            served_by,
            records,
        }) = read_committed_fetch(&e.event, read_committed)
        else {
            continue;
        };
        let hw = bounds.of(tp, *served_by);
        let v = version.get(&(tp, *served_by)).copied().unwrap_or(0);
        let (lso, holder) = match cache.get(&(tp, *served_by)) {
            Some(&(cv, chw, lso)) if cv == v && chw == hw => lso,
            _ => {
                let lso = match replay.replica(*served_by, tp) {
                    // With no transactional record anywhere, the LSO is the HW.
                    Some(log) if !of.is_empty() => last_stable_offset(log, hw, &of),
                    _ => (hw, None),
                };
                cache.insert((tp, *served_by), (v, hw, lso));
                lso
            }
        };
        let Some((offset, id)) = records.iter().find(|(o, _)| *o >= lso) else {
            continue;
        };
        let why = match holder {
            Some(pid) => format!(
                "a transaction of producer id {pid} from offset {lso} was still open there, or its marker not yet below the high watermark (at most {hw})"
            ),
            None => format!("its high watermark was at most {hw}"),
        };
        violations.push(Violation {
            loss: None,
            invariant: Invariant::TxnUncommittedRead,
            at_ms: e.at_ms,
            partition: Some(tp.clone()),
            detail: format!(
                "read_committed consumer #{consumer} was handed {id} at offset {offset} of {tp} by broker {served_by}, whose last stable offset, rebuilt from its log, was at most {lso}: {why}"
            ),
        });
    }
    violations
}

/// How long before the end of the run a commit may have been acknowledged and still have its
/// markers on the way: the coordinator answers EndTxn once the decision is written, and
/// the markers follow (a few milliseconds, or until a partition has a leader again). A
/// record of such a commit that the final leader holds with no marker after it yet is not
/// judged; one an ABORT ends, or that the final leader lacks, still is.
const MARKERS_IN_FLIGHT_GRACE_MS: u64 = 5_000;

/// `txn-lost-commit`: a record of a transaction whose commit was acknowledged to the
/// application (`TransactionCommitted`: `commitTransaction()` returned) is not in the
/// committed log after the settle: the final leader's log does not hold it, or holds it with
/// no COMMIT marker of its producer id after it (an ABORT, or none: read_committed consumers
/// never get it). A record the log layer removed on purpose (retention, DeleteRecords, the
/// cleaner: [`Removals`]) is not lost. Kafka's guarantee: once the coordinator wrote
/// PrepareCommit and answered EndTxn (`TransactionCoordinator.handleEndTransaction`), its
/// `TransactionMarkerChannelManager` retries the COMMIT markers until every partition has
/// one, and an acks=all append keeps them.
pub fn txn_lost_commit(events: &[RecordedEvent], final_state: &FinalState) -> Vec<Violation> {
    let mut committed: BTreeMap<TransactionRef, u64> = BTreeMap::new();
    for e in events {
        if let Event::TransactionCommitted { transaction, .. } = &e.event {
            committed.entry(*transaction).or_insert(e.at_ms);
        }
    }
    if committed.is_empty() {
        return Vec::new();
    }
    let of = transaction_of(events);
    let finals = final_fates(events, final_state, &of);
    let removals = Removals::of(events);
    let end_ms = last_time(events);
    let held: BTreeMap<(&TopicPartition, RecordId), Fate> = finals
        .iter()
        .filter_map(|(tp, f)| f.as_ref().map(|(_, fates)| (*tp, fates)))
        .flat_map(|(tp, fates)| fates.iter().map(move |f| ((tp, f.id), *f)))
        .collect();
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for e in events {
        let Event::RecordSent {
            id,
            tp,
            transaction: Some(t),
            ..
        } = &e.event
        else {
            continue;
        };
        let Some(&at_ms) = committed.get(t) else {
            continue;
        };
        if !seen.insert((tp, *id)) {
            continue;
        }
        let what = match finals.get(tp) {
            None | Some(None) => "the partition has no leader at the end".to_string(),
            Some(Some((leader, _))) => match held.get(&(tp, *id)) {
                Some(Fate {
                    marker: Some(m), ..
                }) if m.control_type == ControlRecordType::Commit => continue,
                Some(f) if f.marker.is_none()
                    && at_ms + MARKERS_IN_FLIGHT_GRACE_MS > end_ms =>
                {
                    continue;
                }
                Some(f) => match f.marker {
                    Some(m) => format!(
                        "the final leader, broker {leader}, holds it at offset {} but an {} ends its transaction there",
                        f.offset,
                        marker_words(&m)
                    ),
                    None => format!(
                        "the final leader, broker {leader}, holds it at offset {} with no marker after it: read_committed consumers never get it",
                        f.offset
                    ),
                },
                None if removals.explains_anywhere(tp, *id).is_some() => continue,
                None => format!("the final leader, broker {leader}, does not hold it"),
            },
        };
        violations.push(Violation {
            loss: None,
            invariant: Invariant::TxnLostCommit,
            at_ms,
            partition: Some(tp.clone()),
            detail: format!(
                "record {id} of {} on {tp}: commitTransaction() returned at {at_ms} ms, but {what}",
                txn_words(t)
            ),
        });
    }
    violations
}

/// `txn-torn`: one transaction is committed on one partition and aborted on another: in the
/// final leaders' logs, the markers that end its records (its producer id's first marker after
/// each) are COMMIT for some and ABORT for others. Kafka's guarantee: the coordinator decides
/// once (PrepareCommit or PrepareAbort in `__transaction_state`,
/// `TransactionCoordinator.endTransaction`) and sends the same marker to every partition of
/// the transaction (`TransactionMarkerChannelManager.addTxnMarkersToSend`): atomic
/// multi-partition writes.
pub fn txn_torn(events: &[RecordedEvent], final_state: &FinalState) -> Vec<Violation> {
    let of = transaction_of(events);
    if of.is_empty() {
        return Vec::new();
    }
    let finals = final_fates(events, final_state, &of);
    type Ends<'a> = BTreeMap<ControlRecordType, BTreeSet<&'a TopicPartition>>;
    let mut ends: BTreeMap<TransactionRef, Ends> = BTreeMap::new();
    for (tp, found) in &finals {
        let Some((_, fates)) = found else {
            continue;
        };
        for f in fates {
            if let Some(m) = f.marker {
                ends.entry(f.transaction)
                    .or_default()
                    .entry(m.control_type)
                    .or_default()
                    .insert(*tp);
            }
        }
    }
    let at_ms = last_time(events);
    let list = |tps: &BTreeSet<&TopicPartition>| {
        tps.iter()
            .map(|tp| tp.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    ends.iter()
        .filter_map(|(t, by)| {
            let commit = by.get(&ControlRecordType::Commit)?;
            let abort = by.get(&ControlRecordType::Abort)?;
            Some(Violation {
                loss: None,
                invariant: Invariant::TxnTorn,
                at_ms,
                partition: abort.iter().next().map(|tp| (*tp).clone()),
                detail: format!(
                    "{} is committed on [{}] and aborted on [{}] in the final leaders' logs",
                    txn_words(t),
                    list(commit),
                    list(abort)
                ),
            })
        })
        .collect()
}

/// The coordinator's state that records a commit decision (`TransactionState.PREPARE_COMMIT`).
const PREPARE_COMMIT: &str = "PrepareCommit";

/// `zombie-write`: a record of a fenced producer instance is in the committed log.
///
/// The rule, from Kafka's fencing (`TransactionCoordinator.handleInitProducerId` and
/// `KafkaProducer.initTransactions`): when a newer instance of a transactional id initializes
/// (an InitProducerId that is not the same instance's own KIP-360 epoch bump), the
/// coordinator bumps the epoch, aborts the old instance's open transaction, and waits for one
/// whose commit had begun (PrepareCommit) to complete; the bumped epoch reaches every
/// partition with the markers, and from then on the old epoch's produce gets
/// INVALID_PRODUCER_EPOCH and its EndTxn PRODUCER_FENCED. So a record of transaction T, sent
/// by an instance that a newer one fenced, may end up committed only if T's commit was
/// decided before the fence: `TransactionCommitted` for T, or, between T's `TransactionBegun`
/// and the instance's next one and before the newer instance's `TransactionsInitialized`, a
/// PrepareCommit of T's transactional id and producer id (a `TxnStateWritten` to or from
/// PrepareCommit, or a coordinator that took over and loaded the id in PrepareCommit: the
/// decision was in `__transaction_state` even if its writer never saw the append finish). A record of T in the final
/// leader's log, ended by a COMMIT marker of its producer id, when T's commit was not decided
/// before the fence, is a zombie write: whether the old instance wrote it after the fence (a
/// partition that had not learned the new epoch, KIP-890's hanging transaction that a later
/// COMMIT takes in) or before it, in the transaction the fence aborted. Records of a
/// transaction that committed before the fence are not zombie writes.
pub fn zombie_write(events: &[RecordedEvent], final_state: &FinalState) -> Vec<Violation> {
    struct Init<'a> {
        at: usize,
        at_ms: u64,
        transactional_id: &'a str,
        producer_id: i64,
        producer_epoch: i16,
        epoch_bump: bool,
        producer: u32,
    }
    let mut inits = Vec::new();
    // Per transaction: the index of its TransactionBegun, its transactional id, its producer.
    let mut begun: BTreeMap<TransactionRef, (usize, &str, u32)> = BTreeMap::new();
    let mut begins: Vec<(usize, u32)> = Vec::new();
    let mut committed: BTreeMap<TransactionRef, usize> = BTreeMap::new();
    // Where a commit decision shows: the index, the transactional id, the producer id if known.
    let mut prepare_commits: Vec<(usize, &str, Option<i64>)> = Vec::new();
    let mut first_written: BTreeMap<RecordId, u64> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        match &e.event {
            Event::TransactionsInitialized {
                producer,
                transactional_id,
                producer_id,
                producer_epoch,
                epoch_bump,
            } => inits.push(Init {
                at: i,
                at_ms: e.at_ms,
                transactional_id,
                producer_id: *producer_id,
                producer_epoch: *producer_epoch,
                epoch_bump: *epoch_bump,
                producer: *producer,
            }),
            Event::TransactionBegun {
                producer,
                transactional_id,
                transaction,
            } => {
                begun
                    .entry(*transaction)
                    .or_insert((i, transactional_id, *producer));
                begins.push((i, *producer));
            }
            Event::TransactionCommitted { transaction, .. } => {
                committed.entry(*transaction).or_insert(i);
            }
            Event::TxnStateWritten {
                transactional_id,
                producer_id,
                from,
                to,
                ..
            } if to == PREPARE_COMMIT || from == PREPARE_COMMIT => {
                prepare_commits.push((i, transactional_id, Some(*producer_id)))
            }
            // A coordinator that takes over finds the decision its predecessor wrote, even
            // one whose write it never saw acknowledged.
            Event::TxnCoordinatorLoaded { transactions, .. } => {
                for (transactional_id, state) in transactions {
                    if state == PREPARE_COMMIT {
                        prepare_commits.push((i, transactional_id, None));
                    }
                }
            }
            Event::Appended {
                as_leader: true,
                records,
                ..
            } => {
                for (_, id, _) in records {
                    first_written.entry(*id).or_insert(e.at_ms);
                }
            }
            _ => {}
        }
    }
    if inits.is_empty() {
        return Vec::new();
    }
    let of = transaction_of(events);
    let finals = final_fates(events, final_state, &of);
    // Per transaction: the fence that found its commit undecided, if any.
    let mut fenced: BTreeMap<TransactionRef, Option<&Init>> = BTreeMap::new();
    let mut violations = Vec::new();
    for (tp, found) in &finals {
        let Some((leader, fates)) = found else {
            continue;
        };
        for f in fates {
            let Some(m) = f
                .marker
                .filter(|m| m.control_type == ControlRecordType::Commit)
            else {
                continue;
            };
            let t = f.transaction;
            let fence = *fenced.entry(t).or_insert_with(|| {
                let &(b, x, producer) = begun.get(&t)?;
                // The instance: the producer's last initialization before T began. Not the
                // one that gave T's epoch: on transaction version 2 every EndTxn bumps the
                // epoch of the same instance (KIP-890 part 2).
                let instance = inits
                    .iter()
                    .filter(|i| i.at < b && i.transactional_id == x && i.producer == producer)
                    .map(|i| i.at)
                    .next_back()
                    .unwrap_or(0);
                // The fence: the next initialization of the id that is not an instance's own
                // epoch bump (KIP-360): a new instance, or this producer's restart.
                let fence = inits
                    .iter()
                    .find(|i| i.at > instance && i.transactional_id == x && !i.epoch_bump)?;
                if committed.get(&t).is_some_and(|&c| c < fence.at) {
                    return None;
                }
                let next_begin = begins
                    .iter()
                    .find(|&&(i, p)| i > b && p == producer)
                    .map_or(usize::MAX, |&(i, _)| i);
                let end = next_begin.min(fence.at);
                let decided = prepare_commits.iter().any(|&(i, px, pid)| {
                    i > b && i < end && px == x && pid.is_none_or(|p| p == t.producer_id)
                });
                (!decided).then_some(fence)
            });
            let Some(fence) = fence else {
                continue;
            };
            let written = first_written.get(&f.id).copied();
            let when = match written {
                Some(w) if w >= fence.at_ms => format!("written at {w} ms, after the fence"),
                Some(w) => format!("written at {w} ms, in a transaction the fence was to abort"),
                None => "in a transaction the fence was to abort".to_string(),
            };
            violations.push(Violation {
                loss: None,
                invariant: Invariant::ZombieWrite,
                at_ms: written.unwrap_or(fence.at_ms).max(fence.at_ms),
                partition: Some((*tp).clone()),
                detail: format!(
                    "record {} of {} ({when}) is committed at offset {} of {tp} in the final leader's log (broker {leader}, {}), though producer #{} initialized transactional id {} at {} ms with producer id {} epoch {} and fenced that instance before its commit was decided",
                    f.id,
                    txn_words(&t),
                    f.offset,
                    marker_words(&m),
                    fence.producer,
                    fence.transactional_id,
                    fence.at_ms,
                    fence.producer_id,
                    fence.producer_epoch
                ),
            });
        }
    }
    violations
}

#[cfg(test)]
#[path = "transactions_tests.rs"]
mod tests;
