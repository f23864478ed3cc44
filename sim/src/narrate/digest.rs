//! The short story of a consumer group's routine work between two moments worth telling.
//!
//! A group scenario processes thousands of records and commits hundreds of times. A line for
//! each drowns the joins, rebalances, crashes and fencing a learner came to see, so the
//! default narration gathers processing and commits here and tells them as one line per
//! consumer and one per group, just before the next line worth telling (and at the end):
//! what each consumer processed since the last such line and how much of it for the second
//! time, and where the group's committed offsets stand, with the lag behind each partition's
//! high watermark at that moment (what `kafka-consumer-groups.sh --describe` would show then).
//! A transactional producer's routine commits are gathered the same way, once the first
//! one of its transactional id was told step by step (the coordinator's Ongoing,
//! PrepareCommit and CompleteCommit, and the application's commit): what a commit is,
//! the story shows once; how many followed, the digest says.
//! `--narrate=all` tells every record and every commit instead.

use super::{some, Names};
use crate::report::seconds;
use kafka_model::{Event, RecordId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// What one consumer processed since the last digest.
struct ConsumerWork {
    since_ms: u64,
    generation: i32,
    records: u64,
    /// Of `records`, those its group had processed before (at-least-once redelivery).
    again: u64,
    /// Per partition, the lowest and highest offset processed.
    offsets: BTreeMap<TopicPartition, (u64, u64)>,
}

/// A group's commits since the last digest, and its committed offsets now.
#[derive(Default)]
struct GroupCommits {
    since_ms: Option<u64>,
    commits: u64,
    committed: BTreeMap<TopicPartition, u64>,
}

#[derive(Default)]
pub(super) struct Digest {
    work: BTreeMap<u32, ConsumerWork>,
    groups: BTreeMap<String, GroupCommits>,
    /// Every (group, record) processed so far: a second processing is a redelivery.
    processed: BTreeSet<(String, RecordId)>,
    /// The leaders' high watermarks, for the lag.
    high_watermarks: BTreeMap<TopicPartition, u64>,
    /// When the last record or commit gathered here happened.
    last_ms: u64,
    /// Per transactional id, the commits its producer was told of so far: the first is
    /// told step by step, the later ones are gathered.
    commits_seen: BTreeMap<String, u64>,
    /// Per producer, the transactions committed since the last digest.
    transactions: BTreeMap<u32, TransactionWork>,
}

/// A transactional producer's commits since the last digest.
struct TransactionWork {
    since_ms: u64,
    commits: u64,
    records: u64,
}

impl Digest {
    /// Gathers a record processed or a commit, and says so; notes a leader's high
    /// watermark (for the lag) and lets it, like every other event, go on to be told.
    pub(super) fn takes(&mut self, at_ms: u64, event: &Event) -> bool {
        match event {
            Event::RecordProcessed {
                consumer,
                group,
                generation,
                tp,
                offset,
                record,
                ..
            } => {
                let again = !self.processed.insert((group.clone(), *record));
                self.work_done(at_ms, *consumer, *generation, tp, *offset, again);
                true
            }
            Event::OffsetsCommitted { group, offsets, .. } => {
                self.committed(at_ms, group, offsets);
                true
            }
            Event::TransactionCommitted {
                producer,
                transactional_id,
                records,
                ..
            } => {
                let seen = self
                    .commits_seen
                    .entry(transactional_id.clone())
                    .or_insert(0);
                *seen += 1;
                if *seen == 1 {
                    return false;
                }
                self.last_ms = self.last_ms.max(at_ms);
                let work = self
                    .transactions
                    .entry(*producer)
                    .or_insert(TransactionWork {
                        since_ms: at_ms,
                        commits: 0,
                        records: 0,
                    });
                work.commits += 1;
                work.records += records;
                true
            }
            // The coordinator's side of a routine commit, once one was told in full.
            Event::TxnStateWritten {
                transactional_id,
                to,
                ..
            } => {
                let seen = self
                    .commits_seen
                    .get(transactional_id)
                    .copied()
                    .unwrap_or(0);
                match to.as_str() {
                    "Ongoing" | "PrepareCommit" => seen >= 1,
                    "CompleteCommit" => seen >= 2,
                    _ => false,
                }
            }
            Event::HighWatermarkChanged {
                tp,
                is_leader: true,
                new,
                ..
            } => {
                self.high_watermark(tp, *new);
                false
            }
            _ => false,
        }
    }

    /// When the last record or commit gathered here happened.
    pub(super) fn last_ms(&self) -> u64 {
        self.last_ms
    }

    /// One record a consumer processed at `offset` of `tp`, `again` if its group had
    /// processed it before.
    fn work_done(
        &mut self,
        at_ms: u64,
        consumer: u32,
        generation: i32,
        tp: &TopicPartition,
        offset: u64,
        again: bool,
    ) {
        self.last_ms = self.last_ms.max(at_ms);
        let work = self.work.entry(consumer).or_insert_with(|| ConsumerWork {
            since_ms: at_ms,
            generation,
            records: 0,
            again: 0,
            offsets: BTreeMap::new(),
        });
        work.generation = generation;
        work.records += 1;
        work.again += u64::from(again);
        let range = work.offsets.entry(tp.clone()).or_insert((offset, offset));
        range.0 = range.0.min(offset);
        range.1 = range.1.max(offset);
    }

    fn committed(&mut self, at_ms: u64, group: &str, offsets: &[(TopicPartition, u64)]) {
        self.last_ms = self.last_ms.max(at_ms);
        let commits = self.groups.entry(group.to_string()).or_default();
        commits.since_ms.get_or_insert(at_ms);
        commits.commits += 1;
        for (tp, offset) in offsets {
            commits.committed.insert(tp.clone(), *offset);
        }
    }

    /// A leader's high watermark moved.
    fn high_watermark(&mut self, tp: &TopicPartition, high_watermark: u64) {
        self.high_watermarks.insert(tp.clone(), high_watermark);
    }

    /// The lines for what gathered since the last digest (none when nothing did), and a
    /// fresh start.
    pub(super) fn take_lines(&mut self, names: &Names) -> Vec<String> {
        let mut lines = Vec::new();
        for (consumer, work) in std::mem::take(&mut self.work) {
            lines.push(self.work_line(consumer, &work, names));
        }
        for (producer, work) in std::mem::take(&mut self.transactions) {
            lines.push(format!(
                "{} committed {} more transaction{} ({} record{}) since t={}",
                names.node(kafka_model::NodeId::Producer(producer)),
                work.commits,
                if work.commits == 1 { "" } else { "s" },
                work.records,
                if work.records == 1 { "" } else { "s" },
                seconds(work.since_ms)
            ));
        }
        let groups: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, c)| c.commits > 0)
            .map(|(g, _)| g.clone())
            .collect();
        for group in groups {
            lines.push(self.commits_line(&group));
            let commits = self.groups.get_mut(&group).expect("a group with commits");
            commits.commits = 0;
            commits.since_ms = None;
        }
        lines
    }

    fn work_line(&self, consumer: u32, work: &ConsumerWork, names: &Names) -> String {
        let ranges: Vec<String> = work
            .offsets
            .iter()
            .map(|(tp, (low, high))| {
                if low == high {
                    format!("{tp} offset {low}")
                } else {
                    format!("{tp} offsets {low}-{high}")
                }
            })
            .collect();
        let ranges = some(&ranges);
        let again = match work.again {
            0 => String::new(),
            n if n == work.records => "; all of them for the second time".to_string(),
            n => format!("; {n} of them for the second time"),
        };
        format!(
            "{} processed {} record{} since t={} (generation {}): {ranges}{again}",
            names.consumer(consumer),
            work.records,
            if work.records == 1 { "" } else { "s" },
            seconds(work.since_ms),
            work.generation
        )
    }

    fn commits_line(&self, group: &str) -> String {
        let commits = &self.groups[group];
        let offsets: Vec<String> = commits
            .committed
            .iter()
            .map(|(tp, offset)| match self.high_watermarks.get(tp) {
                Some(hw) => format!("{tp}={offset} (lag {})", hw.saturating_sub(*offset)),
                None => format!("{tp}={offset}"),
            })
            .collect();
        let offsets = some(&offsets);
        format!(
            "group {group} committed {} time{} since t={}; its committed offsets now: {offsets}",
            commits.commits,
            if commits.commits == 1 { "" } else { "s" },
            seconds(commits.since_ms.expect("a group with commits has a start"))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            producers: vec!["shop".into()],
            consumers: vec!["billing-0".into()],
            ..Names::default()
        }
    }

    #[test]
    fn processing_and_commits_fold_into_one_line_each() {
        let mut digest = Digest::default();
        let tp = TopicPartition::new("orders", 0);
        let id = |seq| RecordId { producer: 0, seq };
        let processed = |generation, offset| Event::RecordProcessed {
            consumer: 0,
            group: "billing".into(),
            member: "billing-0-0.1".into(),
            generation,
            tp: TopicPartition::new("orders", 0),
            offset,
            record: id(offset),
        };
        let committed = |offset| Event::OffsetsCommitted {
            broker: 1,
            group: "billing".into(),
            generation: 3,
            member: "billing-0-0.1".into(),
            offsets: vec![(TopicPartition::new("orders", 0), offset)],
            log_offset: None,
        };
        for offset in 10..20 {
            assert!(digest.takes(1_000 + offset, &processed(3, offset)));
        }
        assert!(digest.takes(1_050, &committed(15)));
        assert!(digest.takes(1_100, &committed(20)));
        let hw = Event::HighWatermarkChanged {
            broker: 1,
            tp: tp.clone(),
            is_leader: true,
            leader_epoch: 0,
            old: 20,
            new: 26,
            log_end_offset: 26,
        };
        assert!(
            !digest.takes(1_100, &hw),
            "a HW move is not gathered, only noted"
        );
        let lines = digest.take_lines(&names());
        assert_eq!(
            lines,
            vec![
                "consumer billing-0 processed 10 records since t=1.010s (generation 3): orders-0 offsets 10-19",
                "group billing committed 2 times since t=1.050s; its committed offsets now: orders-0=20 (lag 6)",
            ]
        );
        assert!(
            digest.take_lines(&names()).is_empty(),
            "a digest starts afresh"
        );
        // After a rewind, what the group processed before is counted as such.
        digest.takes(3_000, &processed(4, 18));
        digest.takes(3_001, &processed(4, 20));
        let lines = digest.take_lines(&names());
        assert_eq!(
            lines,
            vec!["consumer billing-0 processed 2 records since t=3.000s (generation 4): orders-0 offsets 18-20; 1 of them for the second time"]
        );
    }
}
