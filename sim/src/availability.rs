//! How long each partition was offline: the price of refusing unclean elections.
//!
//! A partition is offline from the moment the controller finds no replica it may elect
//! (`PartitionOffline`: no live ISR member and `unclean.leader.election.enable=false`, Kafka's
//! `OfflinePartitionsCount`) until the controller elects a leader again. Meanwhile every
//! produce to it fails with NOT_LEADER_OR_FOLLOWER and the producers retry; the span counts
//! those retries, so a learner sees what the wait cost. Both the narration (one line when a
//! span ends) and the outcome (`offline_ms` per partition) read the same spans.

use kafka_model::{Event, TopicPartition};
use std::collections::BTreeMap;

/// One time a partition was offline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineSpan {
    pub tp: TopicPartition,
    pub from_ms: u64,
    /// When a leader was elected again; `None` while it still has none.
    pub to_ms: Option<u64>,
    /// Produce requests retried for the partition meanwhile, over every producer.
    pub produce_retries: u64,
}

impl OfflineSpan {
    /// The span's length, an open one counted to `end_ms`.
    pub fn duration_ms(&self, end_ms: u64) -> u64 {
        self.to_ms.unwrap_or(end_ms).saturating_sub(self.from_ms)
    }
}

/// Follows the events and keeps every offline span, open ones last.
#[derive(Default)]
pub struct OfflineTracker {
    open: BTreeMap<TopicPartition, OfflineSpan>,
    closed: Vec<OfflineSpan>,
}

impl OfflineTracker {
    /// Takes one event; returns the span it ended, if it ended one.
    pub fn apply(&mut self, at_ms: u64, event: &Event) -> Option<OfflineSpan> {
        match event {
            Event::PartitionOffline { tp, .. } => {
                // The controller says it again at each broker change; the span began at the
                // first.
                self.open.entry(tp.clone()).or_insert_with(|| OfflineSpan {
                    tp: tp.clone(),
                    from_ms: at_ms,
                    to_ms: None,
                    produce_retries: 0,
                });
                None
            }
            Event::LeaderElected {
                tp,
                leader: Some(_),
                ..
            } => {
                let mut span = self.open.remove(tp)?;
                span.to_ms = Some(at_ms);
                self.closed.push(span.clone());
                Some(span)
            }
            Event::ProduceRetried { tp, .. } => {
                if let Some(span) = self.open.get_mut(tp) {
                    span.produce_retries += 1;
                }
                None
            }
            _ => None,
        }
    }

    /// Every span, in the order they ended, then the open ones by partition.
    pub fn spans(self) -> Vec<OfflineSpan> {
        let mut spans = self.closed;
        spans.extend(self.open.into_values());
        spans
    }
}

/// Per partition, the total time it was offline, open spans counted to `end_ms`.
pub fn offline_ms<'a>(
    events: impl Iterator<Item = (u64, &'a Event)>,
    end_ms: u64,
) -> BTreeMap<TopicPartition, u64> {
    let mut tracker = OfflineTracker::default();
    for (at_ms, event) in events {
        tracker.apply(at_ms, event);
    }
    let mut total = BTreeMap::new();
    for span in tracker.spans() {
        *total.entry(span.tp.clone()).or_insert(0) += span.duration_ms(end_ms);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_model::event::ElectionReason;
    use kafka_model::ErrorCode;

    fn tp() -> TopicPartition {
        TopicPartition::new("orders", 0)
    }

    fn offline() -> Event {
        Event::PartitionOffline {
            tp: tp(),
            isr: vec![0],
            live_replicas: vec![1],
        }
    }

    fn elected() -> Event {
        Event::LeaderElected {
            tp: tp(),
            leader: Some(0),
            previous_leader: None,
            leader_epoch: 2,
            isr: vec![0],
            unclean: false,
            reason: ElectionReason::BrokerReturned,
            controller_epoch: 1,
        }
    }

    fn retried() -> Event {
        Event::ProduceRetried {
            producer: 0,
            tp: tp(),
            error: ErrorCode::NotLeaderOrFollower,
            attempt: 1,
        }
    }

    #[test]
    fn a_span_runs_from_the_first_offline_to_the_next_election() {
        let mut tracker = OfflineTracker::default();
        assert_eq!(tracker.apply(900, &retried()), None, "online: not counted");
        assert_eq!(tracker.apply(1_000, &offline()), None);
        tracker.apply(1_500, &retried());
        assert_eq!(
            tracker.apply(2_000, &offline()),
            None,
            "still the same span"
        );
        tracker.apply(2_500, &retried());
        let span = tracker
            .apply(4_000, &elected())
            .expect("the election ends it");
        assert_eq!((span.from_ms, span.to_ms), (1_000, Some(4_000)));
        assert_eq!(span.produce_retries, 2);
        assert_eq!(span.duration_ms(10_000), 3_000);
    }

    #[test]
    fn an_open_span_counts_to_the_end() {
        let events = [(1_000, offline()), (5_000, elected()), (8_000, offline())];
        let total = offline_ms(events.iter().map(|(t, e)| (*t, e)), 10_000);
        assert_eq!(total.get(&tp()), Some(&6_000));
    }
}
