//! The gap between a leader's log end offset and its high watermark, told when it changes a
//! lot.
//!
//! No single event says "the consumer is waiting at the high watermark": appends move the
//! leader's log end offset (LEO), the slowest ISR follower's fetches move the high watermark
//! (HW), and a consumer reads only below the HW. This watch follows all three per partition
//! and tells a line when the leader's LEO - HW gap has grown or shrunk a lot since it was
//! last told: by at least [`GAP_CHANGE_MIN`] records and by at least half of what was told.
//! A healthy partition's gap of a few records never speaks; a follower that falls seconds
//! behind does, a handful of times as the gap doubles, and once more when it closes.

use super::Names;
use kafka_model::{BrokerId, Event, TopicPartition};
use std::collections::BTreeMap;

/// The least change of the gap, in records, worth a line.
const GAP_CHANGE_MIN: u64 = 100;

#[derive(Default)]
struct PartitionWatch {
    leader: Option<BrokerId>,
    log_end_offset: u64,
    high_watermark: u64,
    /// The gap the last line told (or the new leader started with).
    told_gap: u64,
    /// Each consumer's position on the partition: the next offset it will fetch.
    positions: BTreeMap<u32, u64>,
}

#[derive(Default)]
pub(super) struct HwWatch {
    partitions: BTreeMap<TopicPartition, PartitionWatch>,
}

impl HwWatch {
    /// Takes one event; returns the line it makes worth telling, if any.
    pub(super) fn apply(&mut self, event: &Event, names: &Names) -> Option<String> {
        match event {
            Event::BecameLeader {
                broker,
                tp,
                log_end_offset,
                high_watermark,
                ..
            } => {
                let w = self.partitions.entry(tp.clone()).or_default();
                w.leader = Some(*broker);
                w.log_end_offset = *log_end_offset;
                w.high_watermark = *high_watermark;
                w.told_gap = log_end_offset.saturating_sub(*high_watermark);
                None
            }
            Event::Appended {
                broker,
                tp,
                as_leader: true,
                log_end_offset,
                ..
            } => self.moved(tp, *broker, Some(*log_end_offset), None, names),
            Event::HighWatermarkChanged {
                broker,
                tp,
                is_leader: true,
                new,
                log_end_offset,
                ..
            } => self.moved(tp, *broker, Some(*log_end_offset), Some(*new), names),
            Event::Consumed {
                consumer,
                tp,
                records,
                ..
            } => {
                if let Some((last, _)) = records.last() {
                    let w = self.partitions.entry(tp.clone()).or_default();
                    w.positions.insert(*consumer, last + 1);
                }
                None
            }
            Event::PartitionsRevoked {
                consumer,
                partitions,
                ..
            } => {
                for tp in partitions {
                    if let Some(w) = self.partitions.get_mut(tp) {
                        w.positions.remove(consumer);
                    }
                }
                None
            }
            Event::ClientCrashed {
                node: kafka_model::NodeId::Consumer(consumer),
            } => {
                for w in self.partitions.values_mut() {
                    w.positions.remove(consumer);
                }
                None
            }
            _ => None,
        }
    }

    fn moved(
        &mut self,
        tp: &TopicPartition,
        broker: BrokerId,
        log_end_offset: Option<u64>,
        high_watermark: Option<u64>,
        names: &Names,
    ) -> Option<String> {
        let w = self.partitions.get_mut(tp)?;
        if w.leader != Some(broker) {
            return None;
        }
        if let Some(leo) = log_end_offset {
            w.log_end_offset = leo;
        }
        if let Some(hw) = high_watermark {
            w.high_watermark = hw;
        }
        let gap = w.log_end_offset.saturating_sub(w.high_watermark);
        let change = gap.abs_diff(w.told_gap);
        if change < GAP_CHANGE_MIN.max(w.told_gap / 2) {
            return None;
        }
        w.told_gap = gap;
        Some(gap_line(tp, broker, w, gap, names))
    }
}

fn gap_line(
    tp: &TopicPartition,
    leader: BrokerId,
    w: &PartitionWatch,
    gap: u64,
    names: &Names,
) -> String {
    let waiting = if gap == 0 {
        "every ISR replica has all of it".to_string()
    } else {
        format!("{gap} records not yet on every ISR replica, so no consumer sees them")
    };
    let positions = w
        .positions
        .iter()
        .map(|(c, p)| format!("; {} at position {p}", names.consumer(*c)))
        .collect::<String>();
    format!(
        "{tp}: leader {leader} LEO {}, HW {} ({waiting}){positions}",
        w.log_end_offset, w.high_watermark
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_model::RecordId;

    fn names() -> Names {
        Names {
            producers: vec!["app".into()],
            consumers: vec!["reader".into()],
            ..Names::default()
        }
    }

    fn tp() -> TopicPartition {
        TopicPartition::new("orders", 0)
    }

    fn appended(leo: u64) -> Event {
        Event::Appended {
            broker: 0,
            tp: tp(),
            as_leader: true,
            records: vec![(
                leo - 1,
                RecordId {
                    producer: 0,
                    seq: 0,
                },
                0,
            )],
            log_end_offset: leo,
            markers: Vec::new(),
        }
    }

    fn hw(new: u64, leo: u64) -> Event {
        Event::HighWatermarkChanged {
            broker: 0,
            tp: tp(),
            is_leader: true,
            leader_epoch: 0,
            old: 0,
            new,
            log_end_offset: leo,
        }
    }

    #[test]
    fn the_gap_speaks_when_it_grows_or_closes_a_lot() {
        let mut watch = HwWatch::default();
        let leader = Event::BecameLeader {
            broker: 0,
            tp: tp(),
            leader_epoch: 0,
            log_end_offset: 0,
            high_watermark: 0,
            isr: vec![0, 1],
        };
        assert_eq!(watch.apply(&leader, &names()), None);
        let consumed = Event::Consumed {
            consumer: 0,
            tp: tp(),
            served_by: 0,
            high_watermark: 40,
            records: vec![(
                39,
                RecordId {
                    producer: 0,
                    seq: 39,
                },
            )],
        };
        watch.apply(&consumed, &names());
        assert_eq!(watch.apply(&appended(90), &names()), None, "a gap of 90");
        assert_eq!(
            watch.apply(&appended(140), &names()).as_deref(),
            Some("orders-0: leader 0 LEO 140, HW 0 (140 records not yet on every ISR replica, so no consumer sees them); consumer reader at position 40")
        );
        assert_eq!(
            watch.apply(&appended(200), &names()),
            None,
            "a gap of 200 is within 100 of 140"
        );
        assert!(
            watch.apply(&appended(240), &names()).is_some(),
            "a gap of 240"
        );
        assert_eq!(
            watch.apply(&hw(240, 240), &names()).as_deref(),
            Some("orders-0: leader 0 LEO 240, HW 240 (every ISR replica has all of it); consumer reader at position 40")
        );
    }
}
