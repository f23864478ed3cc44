//! When a lost record was lost, and by what.
//!
//! `acked-record-lost` and `committed-record-lost` are judged on the final logs, after the
//! settle; the moment they name first is when the promise was made (the acknowledgement, or
//! the leader's high watermark passing the record). A learner also needs the other end: the
//! event after which the record could no longer come back. That is the last time the
//! partition's current leader stopped holding the record at its offset, and never held it
//! again: an election of a replica without it (clean or unclean), or the leader's own log
//! losing it (a power loss, a truncation). Before that moment the record still sat in the
//! log every consumer reads from; after it, nothing brought it back.
//!
//! The leader is the controller's choice (`LeaderElected`); its log is the one the replay of
//! the events rebuilds, never the broker's own account.

use super::common::Violation;
use super::replay::LogReplay;
use crate::record::RecordedEvent;
use kafka_model::event::TruncateReason;
use kafka_model::{BrokerId, Event, RecordId, TopicPartition};
use std::collections::BTreeMap;

/// A promise about one record that the end of the run found broken.
#[derive(Clone, Debug, PartialEq)]
pub struct Loss {
    pub record: RecordId,
    /// Where the promise put it.
    pub offset: u64,
    /// When the record was acknowledged, or first committed at that offset.
    pub promised_at_ms: u64,
    /// The event after which the partition's leader never held it again, if the record
    /// shows one.
    pub lost_at_ms: Option<u64>,
    /// That event in plain words.
    pub lost_by: Option<String>,
}

impl Loss {
    pub fn promised(record: RecordId, offset: u64, promised_at_ms: u64) -> Loss {
        Loss {
            record,
            offset,
            promised_at_ms,
            lost_at_ms: None,
            lost_by: None,
        }
    }
}

/// One lost record being followed through the events.
struct Followed {
    violation: usize,
    record: RecordId,
    /// Whether the current leader holds it at its offset now.
    held: bool,
    lost: Option<(u64, String)>,
}

/// Dates every loss in `violations` (those with a [`Loss`]): sets `lost_at_ms` and
/// `lost_by`, and the violation's `at_ms` to the moment of the loss.
pub(crate) fn date_losses(events: &[RecordedEvent], violations: &mut [Violation]) {
    let mut followed: BTreeMap<TopicPartition, BTreeMap<u64, Vec<Followed>>> = BTreeMap::new();
    for (i, v) in violations.iter().enumerate() {
        let (Some(loss), Some(tp)) = (&v.loss, &v.partition) else {
            continue;
        };
        followed
            .entry(tp.clone())
            .or_default()
            .entry(loss.offset)
            .or_default()
            .push(Followed {
                violation: i,
                record: loss.record,
                held: false,
                lost: None,
            });
    }
    if followed.is_empty() {
        return;
    }
    let mut replay = LogReplay::default();
    let mut leaders: BTreeMap<&TopicPartition, BrokerId> = BTreeMap::new();
    for e in events {
        let changes = replay.apply(&e.event);
        if let Event::LeaderElected {
            tp,
            leader: Some(leader),
            leader_epoch,
            unclean,
            ..
        } = &e.event
        {
            leaders.insert(tp, *leader);
            if let Some(offsets) = followed.get_mut(tp) {
                let how = if *unclean {
                    "by an unclean election"
                } else {
                    "from the ISR"
                };
                let cause = format!(
                    "broker {leader} was elected leader in epoch {leader_epoch} {how} without it"
                );
                judge(&replay, *leader, tp, offsets, 0, e.at_ms, &cause);
            }
        }
        for change in changes {
            if leaders.get(change.tp) != Some(&change.broker) {
                continue;
            }
            if let Some(offsets) = followed.get_mut(change.tp) {
                let cause = cause_of(&e.event, change.broker);
                let from = change.lowest_changed_offset;
                judge(
                    &replay,
                    change.broker,
                    change.tp,
                    offsets,
                    from,
                    e.at_ms,
                    &cause,
                );
            }
        }
    }
    for f in followed
        .into_values()
        .flat_map(|o| o.into_values())
        .flatten()
    {
        let Some((at_ms, by)) = f.lost else {
            continue;
        };
        let v = &mut violations[f.violation];
        let loss = v.loss.as_mut().expect("a followed violation has a loss");
        // A leader the controller had already replaced, and that had not heard yet, can
        // still acknowledge or commit: the record was gone from the partition's leader
        // before it was promised.
        let (at_ms, by) = if at_ms < loss.promised_at_ms {
            (
                loss.promised_at_ms,
                format!(
                    "it was promised by a leader already replaced at t={}: {by}",
                    crate::report::seconds(at_ms)
                ),
            )
        } else {
            (at_ms, by)
        };
        v.at_ms = at_ms;
        loss.lost_at_ms = Some(at_ms);
        loss.lost_by = Some(by);
    }
}

/// Looks again at the followed records at `from` and above on `tp`, whose leader's log may
/// have changed there at `at_ms` because of `cause`.
fn judge(
    replay: &LogReplay<'_>,
    leader: BrokerId,
    tp: &TopicPartition,
    offsets: &mut BTreeMap<u64, Vec<Followed>>,
    from: u64,
    at_ms: u64,
    cause: &str,
) {
    let log = replay.replica(leader, tp);
    for (offset, records) in offsets.range_mut(from..) {
        let there = log.and_then(|l| l.get(*offset)).map(|(id, _)| id);
        for f in records {
            let held = there == Some(f.record);
            if f.held && !held {
                f.lost = Some((at_ms, cause.to_string()));
            }
            f.held = held;
        }
    }
}

/// What an event did to the leader's log, in words.
fn cause_of(event: &Event, broker: BrokerId) -> String {
    match event {
        Event::Truncated {
            reason: TruncateReason::PowerLoss { .. },
            to_offset,
            ..
        } => format!(
            "leader broker {broker} lost power and kept its log only up to offset {to_offset}"
        ),
        Event::Truncated { to_offset, .. } => {
            format!("leader broker {broker} truncated its log to offset {to_offset}")
        }
        Event::BrokerRecovered { .. } => {
            format!("leader broker {broker} restarted with less on its disk")
        }
        Event::Appended { .. } => format!("leader broker {broker} wrote other records there"),
        other => format!("leader broker {broker}: {}", other.kind()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::Invariant;
    use super::super::partitions::tests::{appended, at, elected as elected_event, id, tp};
    use super::*;

    fn elected(at_ms: u64, leader: BrokerId, epoch: i32, unclean: bool) -> RecordedEvent {
        at(at_ms, elected_event(leader, epoch, unclean))
    }

    fn lost(seq: u64, offset: u64, promised_at_ms: u64) -> Violation {
        Violation {
            invariant: Invariant::AckedRecordLost,
            at_ms: promised_at_ms,
            partition: Some(tp()),
            detail: String::new(),
            loss: Some(Loss::promised(id(seq), offset, promised_at_ms)),
        }
    }

    #[test]
    fn an_election_of_a_replica_without_the_record_loses_it() {
        let events = vec![
            elected(0, 0, 0, false),
            at(1_000, appended(0, 0, &[0, 1])),
            at(1_001, appended(1, 0, &[0])),
            elected(5_000, 1, 1, true),
            // The old leader cuts its tail later: the record was already gone for good.
            at(
                9_000,
                Event::Truncated {
                    broker: 0,
                    tp: tp(),
                    from_log_end_offset: 2,
                    to_offset: 1,
                    reason: TruncateReason::OffsetOutOfRange {
                        leader_log_end_offset: 1,
                    },
                },
            ),
        ];
        let mut violations = vec![lost(1, 1, 1_000)];
        date_losses(&events, &mut violations);
        let loss = violations[0].loss.as_ref().expect("a loss");
        assert_eq!(loss.promised_at_ms, 1_000);
        assert_eq!(loss.lost_at_ms, Some(5_000));
        assert_eq!(violations[0].at_ms, 5_000);
        assert_eq!(
            loss.lost_by.as_deref(),
            Some("broker 1 was elected leader in epoch 1 by an unclean election without it")
        );
    }

    #[test]
    fn a_power_loss_of_the_leader_loses_what_it_had_not_flushed() {
        let events = vec![
            elected(0, 0, 0, false),
            at(1_000, appended(0, 0, &[0, 1, 2])),
            at(
                7_000,
                Event::Truncated {
                    broker: 0,
                    tp: tp(),
                    from_log_end_offset: 3,
                    to_offset: 1,
                    reason: TruncateReason::PowerLoss {
                        flushed_offset: 1,
                        written_back_offset: 0,
                    },
                },
            ),
        ];
        let mut violations = vec![lost(2, 2, 1_000), lost(0, 0, 1_000)];
        date_losses(&events, &mut violations);
        assert_eq!(violations[0].at_ms, 7_000, "offset 2 was not flushed");
        assert_eq!(
            violations[0]
                .loss
                .as_ref()
                .and_then(|l| l.lost_by.clone())
                .as_deref(),
            Some("leader broker 0 lost power and kept its log only up to offset 1")
        );
        // Offset 0 survived the power loss: this run shows no loss of it.
        assert_eq!(violations[1].loss.as_ref().and_then(|l| l.lost_at_ms), None);
        assert_eq!(violations[1].at_ms, 1_000);
    }

    #[test]
    fn a_promise_by_a_replaced_leader_is_lost_when_made() {
        let events = vec![
            elected(0, 0, 0, false),
            at(1_000, appended(0, 0, &[0, 1])),
            elected(2_000, 1, 1, true),
        ];
        // Broker 0 had not heard it was replaced, and acknowledged p0#1 at t=3s.
        let mut violations = vec![lost(1, 1, 3_000)];
        date_losses(&events, &mut violations);
        let loss = violations[0].loss.as_ref().expect("a loss");
        assert_eq!(loss.lost_at_ms, Some(3_000));
        assert_eq!(
            loss.lost_by.as_deref(),
            Some("it was promised by a leader already replaced at t=2.000s: broker 1 was elected leader in epoch 1 by an unclean election without it")
        );
    }
}
