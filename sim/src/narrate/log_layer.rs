//! The log layer in plain words: segments rolling, retention deleting, DeleteRecords, a
//! follower restarting its log, and the cleaner compacting.
//!
//! A learner asks two things of each line: which offsets went, and why. The events carry
//! the offsets and the records' ids; the keys come from the scenario (a producer's `keys` or
//! its `sequence`), and the topic configs name the limit that applied (`retention.ms`,
//! `delete.retention.ms`). For the cleaner the line also says which later record of the same
//! key replaced each removed one, and what is left: [`LogWatch`] follows every replica's log
//! of a compacted topic from the events (appends, truncations, removals) to know it. A
//! segment roll is routine and told only with `--narrate=all`.

use super::{Line, Names};
use crate::report::seconds;
use crate::scenario::Scenario;
use kafka_model::event::LogStartOffsetCause;
use kafka_model::log::config::LogConfig;
use kafka_model::log::retention::RetentionRule;
use kafka_model::log::segment::RollReason;
use kafka_model::{BrokerId, Event, RecordId, TopicPartition, OFFSETS_TOPIC};
use std::collections::BTreeMap;

/// At most this many runs of offsets are named in a line; the rest are counted.
const OFFSET_RUNS_NAMED_MAX: usize = 8;

/// What the scenario says about records and logs that the events do not carry.
#[derive(Default)]
pub(super) struct LogFacts {
    /// Each producer's keys, by its index.
    keys: Vec<ProducerKeys>,
    /// Each topic's log config.
    configs: BTreeMap<String, LogConfig>,
}

enum ProducerKeys {
    /// `keys = N`: record `seq` has key `k{seq % N}`; `None`: no keys.
    Generated(Option<u32>),
    /// `sequence`: record `seq` has the sequence's key at `seq`.
    Scripted(Vec<Option<String>>),
}

impl LogFacts {
    pub(super) fn of(scenario: &Scenario) -> LogFacts {
        let keys = scenario
            .producers
            .iter()
            .map(|p| match p.sequence.is_empty() {
                true => ProducerKeys::Generated(p.keys),
                false => ProducerKeys::Scripted(p.sequence.iter().map(|r| r.key.clone()).collect()),
            })
            .collect();
        let configs = scenario
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.config.log.clone()))
            .collect();
        LogFacts { keys, configs }
    }

    /// The key of a producer's record, as the scenario makes it; `None` for a record without
    /// a key or not from a scenario producer (the coordinator's records).
    fn key(&self, id: RecordId) -> Option<String> {
        match self.keys.get(id.producer as usize)? {
            ProducerKeys::Generated(keys) => keys.map(|k| format!("k{}", id.seq % k as u64)),
            ProducerKeys::Scripted(keys) => keys.get(id.seq as usize).cloned().flatten(),
        }
    }

    fn config(&self, tp: &TopicPartition) -> Option<&LogConfig> {
        self.configs.get(&tp.topic)
    }

    /// Whether the cleaner works on this topic's logs: worth following offset by offset.
    fn compacted(&self, tp: &TopicPartition) -> bool {
        tp.topic == OFFSETS_TOPIC || self.config(tp).is_some_and(|c| c.cleanup_policy.compact)
    }
}

/// Every replica's log of a compacted topic, offset by offset, as the events so far left it.
#[derive(Default)]
pub(super) struct LogWatch {
    logs: BTreeMap<(BrokerId, TopicPartition), BTreeMap<u64, RecordId>>,
}

impl LogWatch {
    /// Takes one event into the logs it follows.
    pub(super) fn apply(&mut self, event: &Event, facts: &LogFacts) {
        let (broker, tp) = match event {
            Event::Appended { broker, tp, .. }
            | Event::Truncated { broker, tp, .. }
            | Event::SegmentsDeleted { broker, tp, .. }
            | Event::LogStartOffsetIncremented { broker, tp, .. }
            | Event::LogRestartedAt { broker, tp, .. }
            | Event::LogCleaned { broker, tp, .. } => (*broker, tp),
            _ => return,
        };
        if !facts.compacted(tp) {
            return;
        }
        let log = self.logs.entry((broker, tp.clone())).or_default();
        match event {
            Event::Appended { records, .. } => {
                log.extend(records.iter().map(|(offset, id, _)| (*offset, *id)));
            }
            Event::Truncated { to_offset, .. } => {
                log.split_off(to_offset);
            }
            Event::LogRestartedAt { .. } => log.clear(),
            Event::SegmentsDeleted { removed, .. }
            | Event::LogStartOffsetIncremented { removed, .. } => {
                for (offset, _) in removed {
                    log.remove(offset);
                }
            }
            Event::LogCleaned {
                superseded,
                tombstones_removed,
                keyless_removed,
                ..
            } => {
                for (offset, _) in superseded
                    .iter()
                    .chain(tombstones_removed)
                    .chain(keyless_removed)
                {
                    log.remove(offset);
                }
            }
            _ => {}
        }
    }

    fn log(&self, broker: BrokerId, tp: &TopicPartition) -> Option<&BTreeMap<u64, RecordId>> {
        self.logs.get(&(broker, tp.clone()))
    }
}

/// Rolls are routine: the story leaves them out, `--narrate=all` tells them.
pub(super) fn routine(event: &Event) -> bool {
    matches!(event, Event::SegmentRolled { .. })
}

/// One log-layer event in plain words.
pub(super) fn log_layer_line(event: &Event, names: &Names, watch: &LogWatch) -> Option<Line> {
    let facts = &names.log;
    let text = match event {
        Event::SegmentRolled {
            broker,
            tp,
            new_base_offset,
            reason,
        } => format!(
            "broker {broker} rolls its log of {tp}: a new active segment starts at offset {new_base_offset} ({}); the old one is closed and from now on retention and the cleaner may take it",
            roll_why(*reason, facts.config(tp))
        ),
        Event::SegmentsDeleted { .. } => segments_deleted_text(event, facts),
        Event::LogStartOffsetIncremented {
            broker,
            tp,
            log_start_offset,
            cause,
            removed,
        } => {
            let gone = removed_offsets(removed);
            match cause {
                LogStartOffsetCause::DeleteRecords => format!(
                    "broker {broker} (the leader) moves the log start offset of {tp} to {log_start_offset} for DeleteRecords: {gone} are no longer served to anyone; their segments stay on disk until retention deletes them whole"
                ),
                LogStartOffsetCause::LeaderLogStartOffset => format!(
                    "broker {broker} learns from a fetch answer that its leader's log of {tp} starts at {log_start_offset} and moves its own log start there: {gone} are no longer served"
                ),
            }
        }
        Event::LogRestartedAt {
            broker,
            tp,
            offset,
            removed,
        } => format!(
            "broker {broker}'s log of {tp} ends below its leader's log start offset {offset}: the records it lacks are gone from the leader, so it empties its log and starts again at {offset} (truncateFullyAndStartAt), dropping {}",
            removed_offsets(removed)
        ),
        Event::LogCleaned { .. } => cleaned_text(event, facts, watch),
        Event::DeleteRecordsAnswered { broker, results } => {
            let parts: Vec<String> = results
                .iter()
                .map(|(tp, error, low_watermark)| delete_records_result(tp, *error, *low_watermark))
                .collect();
            format!("broker {broker} answers the DeleteRecords: {}", parts.join("; "))
        }
        _ => unreachable!("{} is not narrated here", event.kind()),
    };
    Some((replica_fold_key(event, &text), text))
}

/// Each replica retains, cleans and rolls its own log, and they usually do it alike within
/// moments: the key leaves the broker out, so the other replicas' identical lines fold into
/// "... and 2 more like it".
fn replica_fold_key(event: &Event, text: &str) -> String {
    match event {
        Event::SegmentRolled { broker, .. }
        | Event::SegmentsDeleted { broker, .. }
        | Event::LogCleaned { broker, .. }
        | Event::LogStartOffsetIncremented {
            broker,
            cause: LogStartOffsetCause::LeaderLogStartOffset,
            ..
        } => text.replacen(&format!("broker {broker}"), "a replica", 1),
        _ => text.to_string(),
    }
}

/// One partition of a DeleteRecords answer (`DeleteRecordsResponse`): the low watermark,
/// or the error and what it means.
fn delete_records_result(
    tp: &TopicPartition,
    error: kafka_model::ErrorCode,
    low_watermark: Option<u64>,
) -> String {
    use kafka_model::ErrorCode;
    match (error, low_watermark) {
        (ErrorCode::None, Some(low)) => format!(
            "{tp} low watermark {low}: every live replica has moved its log start offset to {low} or past it, so no replica serves the deleted records any more"
        ),
        (ErrorCode::PolicyViolation, _) => format!(
            "{tp} POLICY_VIOLATION: its cleanup.policy lacks delete, and Kafka deletes records only from a log that retention may shorten"
        ),
        (ErrorCode::OffsetOutOfRange, _) => format!(
            "{tp} OFFSET_OUT_OF_RANGE: the offset is past the high watermark"
        ),
        (ErrorCode::RequestTimedOut, _) => format!(
            "{tp} REQUEST_TIMED_OUT: the followers did not all reach the new log start offset in time (the records are still deleted on the leader)"
        ),
        (error, _) => format!("{tp} {error}"),
    }
}

fn roll_why(reason: RollReason, config: Option<&LogConfig>) -> String {
    match reason {
        RollReason::Size => match config {
            Some(c) => format!(
                "the next batch would take the segment past segment.bytes = {}",
                c.segment_bytes
            ),
            None => "the next batch would take the segment past segment.bytes".to_string(),
        },
        RollReason::Time => match config {
            Some(c) => format!(
                "its records span more than segment.ms = {} ms",
                c.segment_ms
            ),
            None => "its records span more than segment.ms".to_string(),
        },
        RollReason::IndexFull => "its index is full (segment.index.bytes)".to_string(),
        RollReason::OffsetOverflow => {
            "the offsets would not fit the segment's 32-bit relative offsets".to_string()
        }
        RollReason::Forced => {
            "forced: retention is about to delete every segment, the active one too, and a log always keeps one".to_string()
        }
    }
}

fn segments_deleted_text(event: &Event, facts: &LogFacts) -> String {
    let Event::SegmentsDeleted {
        broker,
        tp,
        rule,
        segments,
        log_start_offset,
        removed,
    } = event
    else {
        unreachable!("only SegmentsDeleted");
    };
    let config = facts.config(tp);
    let them = if segments.len() == 1 { "it" } else { "them" };
    let why = match rule {
        RetentionRule::Time => match config.and_then(|c| c.retention_ms) {
            Some(ms) => format!(
                "every record in {them} is older than retention.ms = {ms} ms ({}) by its timestamp",
                seconds(ms)
            ),
            None => format!("every record in {them} is older than retention.ms by its timestamp"),
        },
        RetentionRule::Size => match config.and_then(|c| c.retention_bytes) {
            Some(bytes) => {
                format!("the log is larger than retention.bytes = {bytes} without {them}")
            }
            None => format!("the log is larger than retention.bytes without {them}"),
        },
        RetentionRule::LogStartOffset => format!(
            "{} wholly below the log start offset (DeleteRecords, or the leader's log start)",
            if segments.len() == 1 {
                "it lies"
            } else {
                "they lie"
            }
        ),
    };
    let bases: Vec<String> = segments.iter().map(u64::to_string).collect();
    let what = if removed.is_empty() {
        format!("no record a reader could still get goes with {them}")
    } else {
        format!(
            "{} go, read or not: a consumer that had not fetched them yet never will",
            removed_offsets(removed)
        )
    };
    format!(
        "broker {broker} deletes {} of {tp} (base offset {}): {why}; {what}; the log now starts at offset {log_start_offset}",
        count(segments.len(), "segment", "segments"),
        and_list(&bases),
    )
}

/// The cleaner's line: what went and why, what stays, and until when a tombstone stays.
fn cleaned_text(event: &Event, facts: &LogFacts, watch: &LogWatch) -> String {
    let Event::LogCleaned {
        broker,
        tp,
        first_dirty_offset,
        end_offset,
        superseded,
        tombstones_removed,
        keyless_removed,
        tombstones_stamped,
        delete_horizon_ms,
    } = event
    else {
        unreachable!("only LogCleaned");
    };
    let log = watch.log(*broker, tp);
    let mut parts = Vec::new();
    if !superseded.is_empty() {
        parts.push(superseded_text(superseded, facts, log, *end_offset));
    }
    if !tombstones_removed.is_empty() {
        let offsets: Vec<u64> = tombstones_removed.iter().map(|(o, _)| *o).collect();
        parts.push(format!(
            "the {} at {} {} too: {} delete horizon passed (delete.retention.ms after the round that first kept {}), so a reader that starts now never learns the key was there",
            count_word(offsets.len(), "tombstone", "tombstones"),
            offset_runs(&offsets),
            if offsets.len() == 1 { "goes" } else { "go" },
            if offsets.len() == 1 { "its" } else { "their" },
            if offsets.len() == 1 { "it" } else { "them" },
        ));
    }
    if !keyless_removed.is_empty() {
        let offsets: Vec<u64> = keyless_removed.iter().map(|(o, _)| *o).collect();
        parts.push(format!(
            "the keyless {} at {} {}: compaction keeps a value per key, and {} none",
            count_word(offsets.len(), "record", "records"),
            offset_runs(&offsets),
            if offsets.len() == 1 { "goes" } else { "go" },
            if offsets.len() == 1 {
                "it has"
            } else {
                "they have"
            },
        ));
    }
    if parts.is_empty() {
        parts.push("nothing goes: no key has an older record in the cleaned range".to_string());
    }
    let mut text = format!(
        "broker {broker}'s cleaner compacts {tp} up to offset {end_offset} (dirty from {first_dirty_offset}; offsets from {end_offset} on, the active segment and anything newer than min.compaction.lag.ms, are neither cleaned nor count as newer records this round): {}",
        parts.join("; ")
    );
    if let Some(log) = log {
        let kept: Vec<u64> = log.range(..end_offset).map(|(o, _)| *o).collect();
        if !kept.is_empty() {
            text.push_str(&format!(
                "; left below {end_offset}: {}",
                offset_runs(&kept)
            ));
        }
    }
    if !tombstones_stamped.is_empty() {
        text.push_str(&format!(
            "; the {} at {} {} until t={} (delete.retention.ms), so readers still see the delete until then",
            count_word(tombstones_stamped.len(), "tombstone", "tombstones"),
            offset_runs(tombstones_stamped),
            if tombstones_stamped.len() == 1 { "stays" } else { "stay" },
            seconds(*delete_horizon_ms)
        ));
    }
    text
}

/// "offsets 11, 12 and 13 go because later records of their keys replace them: K1 at 11 and
/// 12 by 15; K3 at 13 by 16".
fn superseded_text(
    superseded: &[(u64, RecordId)],
    facts: &LogFacts,
    log: Option<&BTreeMap<u64, RecordId>>,
    end_offset: u64,
) -> String {
    let offsets: Vec<u64> = superseded.iter().map(|(o, _)| *o).collect();
    // Each key's removed offsets, in the order the keys first appear.
    let mut by_key: Vec<(String, Vec<u64>)> = Vec::new();
    for (offset, id) in superseded {
        let Some(key) = facts.key(*id) else {
            continue;
        };
        match by_key.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(*offset),
            None => by_key.push((key, vec![*offset])),
        }
    }
    let head = format!(
        "{} {} because later records of the same key replace {}",
        offset_phrase(&offsets),
        if offsets.len() == 1 { "goes" } else { "go" },
        if offsets.len() == 1 { "it" } else { "them" },
    );
    if by_key.is_empty() {
        return head;
    }
    let shown: Vec<String> = by_key
        .iter()
        .take(OFFSET_RUNS_NAMED_MAX)
        .map(|(key, list)| {
            let by = log.and_then(|log| latest_of_key(log, facts, key, end_offset));
            let at: Vec<String> = list.iter().map(u64::to_string).collect();
            let at = match at.len() {
                1..=4 => and_list(&at),
                _ => offset_runs(list),
            };
            match by {
                Some(latest) => format!("{key} at {at} by the {key} at {latest}"),
                None => format!("{key} at {at}"),
            }
        })
        .collect();
    let more = by_key.len().saturating_sub(OFFSET_RUNS_NAMED_MAX);
    let tail = if more > 0 {
        format!(" and {more} more keys")
    } else {
        String::new()
    };
    format!("{head}: {}{tail}", shown.join("; "))
}

/// The last offset below `end_offset` holding a record of `key`.
fn latest_of_key(
    log: &BTreeMap<u64, RecordId>,
    facts: &LogFacts,
    key: &str,
    end_offset: u64,
) -> Option<u64> {
    log.range(..end_offset)
        .rev()
        .find(|(_, id)| facts.key(**id).as_deref() == Some(key))
        .map(|(o, _)| *o)
}

/// "offsets 0 to 9 (10 records)" or "offset 7 (1 record)"; "nothing" for none.
fn removed_offsets(removed: &[(u64, RecordId)]) -> String {
    if removed.is_empty() {
        return "no record".to_string();
    }
    let offsets: Vec<u64> = removed.iter().map(|(o, _)| *o).collect();
    format!(
        "{} ({})",
        offset_phrase(&offsets),
        count(offsets.len(), "record", "records")
    )
}

/// "offset 7" or "offsets 0 to 9, 12 and 15".
fn offset_phrase(offsets: &[u64]) -> String {
    match offsets {
        [one] => format!("offset {one}"),
        _ => format!("offsets {}", offset_runs(offsets)),
    }
}

/// Ascending offsets as runs: "0 to 9, 12 and 15"; past [`OFFSET_RUNS_NAMED_MAX`] runs, the
/// rest are counted.
pub(super) fn offset_runs(offsets: &[u64]) -> String {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &o in offsets {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == o => *last = o,
            _ => runs.push((o, o)),
        }
    }
    let mut parts: Vec<String> = runs
        .iter()
        .take(OFFSET_RUNS_NAMED_MAX)
        .map(|&(a, b)| match b - a {
            0 => a.to_string(),
            1 => format!("{a}, {b}"),
            _ => format!("{a} to {b}"),
        })
        .collect();
    let more: usize = runs
        .iter()
        .skip(OFFSET_RUNS_NAMED_MAX)
        .map(|(a, b)| (b - a + 1) as usize)
        .sum();
    if more > 0 {
        parts.push(format!("{more} more"));
    }
    and_list(&parts)
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "tombstone" or "3 tombstones".
fn count_word(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        one.to_string()
    } else {
        count(n, one, many)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compaction quiz's log (offsets 10 to 19, keys K2 K1 K1 K3 K4 K1 K3 | K3 K5 K1,
    /// the active segment from 17) on broker 1, written by one scripted producer.
    fn quiz() -> (Names, LogWatch, TopicPartition) {
        let keys = ["K2", "K1", "K1", "K3", "K4", "K1", "K3", "K3", "K5", "K1"];
        let names = Names {
            producers: vec!["quiz".into()],
            log: LogFacts {
                keys: vec![ProducerKeys::Scripted(
                    keys.iter().map(|k| Some(k.to_string())).collect(),
                )],
                configs: BTreeMap::from([(
                    "orders".to_string(),
                    LogConfig {
                        cleanup_policy: kafka_model::log::CleanupPolicy::COMPACT,
                        ..LogConfig::default()
                    },
                )]),
            },
            ..Names::default()
        };
        let tp = TopicPartition::new("orders", 0);
        let mut watch = LogWatch::default();
        watch.apply(
            &Event::Appended {
                broker: 1,
                tp: tp.clone(),
                as_leader: false,
                records: (0..10)
                    .map(|seq| (10 + seq, RecordId { producer: 0, seq }, 0))
                    .collect(),
                log_end_offset: 20,
                markers: Vec::new(),
            },
            &names.log,
        );
        (names, watch, tp)
    }

    fn id(seq: u64) -> RecordId {
        RecordId { producer: 0, seq }
    }

    /// The answer to the quiz, in the line: 11, 12 and 13 go (K1's and K3's later records
    /// replace them), 10, 14, 15 and 16 stay, the active segment is not touched.
    #[test]
    fn the_cleaners_line_says_what_went_why_and_what_is_left() {
        let (names, mut watch, tp) = quiz();
        let cleaned = Event::LogCleaned {
            broker: 1,
            tp,
            first_dirty_offset: 10,
            end_offset: 17,
            superseded: vec![(11, id(1)), (12, id(2)), (13, id(3))],
            tombstones_removed: Vec::new(),
            keyless_removed: Vec::new(),
            tombstones_stamped: Vec::new(),
            delete_horizon_ms: 86_400_000,
        };
        watch.apply(&cleaned, &names.log);
        let (_, text) = log_layer_line(&cleaned, &names, &watch).expect("told");
        assert!(
            text.starts_with("broker 1's cleaner compacts orders-0 up to offset 17"),
            "{text}"
        );
        assert!(
            text.contains("offsets 11 to 13 go because later records of the same key replace them: K1 at 11 and 12 by the K1 at 15; K3 at 13 by the K3 at 16"),
            "{text}"
        );
        assert!(text.contains("left below 17: 10 and 14 to 16"), "{text}");
        assert!(!text.contains("tombstone"), "{text}");
    }

    #[test]
    fn a_kept_tombstone_is_told_with_its_horizon_and_a_removed_one_with_why() {
        let (names, mut watch, tp) = quiz();
        let stamped = Event::LogCleaned {
            broker: 1,
            tp: tp.clone(),
            first_dirty_offset: 10,
            end_offset: 17,
            superseded: Vec::new(),
            tombstones_removed: Vec::new(),
            keyless_removed: Vec::new(),
            tombstones_stamped: vec![13],
            delete_horizon_ms: 90_500,
        };
        watch.apply(&stamped, &names.log);
        let (_, text) = log_layer_line(&stamped, &names, &watch).expect("told");
        assert!(
            text.contains("the tombstone at 13 stays until t=90.500s (delete.retention.ms)"),
            "{text}"
        );
        let removed = Event::LogCleaned {
            broker: 1,
            tp,
            first_dirty_offset: 17,
            end_offset: 17,
            superseded: Vec::new(),
            tombstones_removed: vec![(13, id(3))],
            keyless_removed: Vec::new(),
            tombstones_stamped: Vec::new(),
            delete_horizon_ms: 0,
        };
        watch.apply(&removed, &names.log);
        let (_, text) = log_layer_line(&removed, &names, &watch).expect("told");
        assert!(
            text.contains("the tombstone at 13 goes too: its delete horizon passed"),
            "{text}"
        );
        assert!(
            text.contains("left below 17: 10 to 12 and 14 to 16"),
            "{text}"
        );
    }

    #[test]
    fn retention_says_which_rule_and_which_offsets() {
        let (names, _, tp) = quiz();
        let names = Names {
            log: LogFacts {
                configs: BTreeMap::from([(
                    "orders".to_string(),
                    LogConfig {
                        retention_ms: Some(60_000),
                        ..LogConfig::default()
                    },
                )]),
                ..names.log
            },
            ..Names::default()
        };
        let deleted = Event::SegmentsDeleted {
            broker: 2,
            tp,
            rule: RetentionRule::Time,
            segments: vec![0, 10],
            log_start_offset: 17,
            removed: (0..17).map(|o| (o, id(o))).collect(),
        };
        let (_, text) = log_layer_line(&deleted, &names, &LogWatch::default()).expect("told");
        assert_eq!(
            text,
            "broker 2 deletes 2 segments of orders-0 (base offset 0 and 10): every record in them is older than retention.ms = 60000 ms (60.000s) by its timestamp; offsets 0 to 16 (17 records) go, read or not: a consumer that had not fetched them yet never will; the log now starts at offset 17"
        );
    }

    #[test]
    fn rolls_are_routine() {
        let roll = Event::SegmentRolled {
            broker: 0,
            tp: TopicPartition::new("orders", 0),
            new_base_offset: 17,
            reason: RollReason::Time,
        };
        assert!(routine(&roll));
        let (_, text) =
            log_layer_line(&roll, &Names::default(), &LogWatch::default()).expect("told");
        assert!(
            text.contains(
                "a new active segment starts at offset 17 (its records span more than segment.ms)"
            ),
            "{text}"
        );
    }

    #[test]
    fn offsets_read_as_runs() {
        assert_eq!(offset_runs(&[7]), "7");
        assert_eq!(offset_runs(&[11, 12, 13]), "11 to 13");
        assert_eq!(offset_runs(&[10, 14, 15, 16]), "10 and 14 to 16");
        assert_eq!(offset_runs(&[0, 1, 5]), "0, 1 and 5");
        let many: Vec<u64> = (0..20).map(|i| i * 2).collect();
        assert_eq!(offset_runs(&many), "0, 2, 4, 6, 8, 10, 12, 14 and 12 more");
    }
}
