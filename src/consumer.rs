//! A Kafka consumer without a group: it is assigned every partition of its topics.
//!
//! It finds each partition's leader from Metadata, sets its starting position with
//! ListOffsets (`auto.offset.reset`), and fetches from the leaders, one outstanding fetch per
//! broker, handing the application every record the leader returns. A leader returns records
//! only below its high watermark, so a consumer never sees a record that a leader change
//! could still take back; the `uncommitted-read` invariant checks exactly that.

use crate::actor::{Actor, Output};
use crate::config::{AutoOffsetReset, ConsumerConfig};
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerTimer {
    Start,
    Poll,
    ValidationTimeout {
        tp: TopicPartition,
        correlation_id: u64,
    },
    MetadataTimeout {
        correlation_id: u64,
    },
    MetadataRefresh,
    /// `metadata.max.age.ms` after the answer of this generation.
    MetadataMaxAge {
        generation: u64,
    },
    FetchTimeout {
        broker: BrokerId,
        correlation_id: u64,
    },
    ListOffsetsTimeout {
        tp: TopicPartition,
        correlation_id: u64,
    },
    Backoff {
        broker: BrokerId,
    },
}

pub struct Consumer {
    index: u32,
    #[allow(dead_code)]
    name: String,
    topics: Vec<String>,
    start_ms: u64,
    config: ConsumerConfig,
    bootstrap: Vec<BrokerId>,
    started: bool,
    metadata: BTreeMap<TopicPartition, PartitionMetadata>,
    metadata_in_flight: Option<u64>,
    /// Counts metadata answers, so only the newest one's max-age refresh fires.
    metadata_generation: u64,
    bootstrap_index: usize,
    positions: BTreeMap<TopicPartition, u64>,
    list_offsets_in_flight: BTreeMap<TopicPartition, u64>,
    /// The position before an OFFSET_OUT_OF_RANGE reset, for the event.
    reset_from: BTreeMap<TopicPartition, u64>,
    fetch_in_flight: BTreeMap<BrokerId, u64>,
    backing_off: BTreeSet<BrokerId>,
    next_correlation_id: u64,
    /// KIP-320 (Kafka 2.3 clients, brokers from 2.1): validate the position after every
    /// leader change. Without it a consumer keeps fetching at its old position even when the
    /// new leader's log was truncated below it.
    validate_positions: bool,
    /// The leader epoch of the last record handed to the application, per partition.
    last_epoch: BTreeMap<TopicPartition, LeaderEpoch>,
    /// Partitions whose position waits for validation, with the request in flight (if any).
    awaiting_validation: BTreeMap<TopicPartition, Option<u64>>,
}

impl Consumer {
    pub fn new(
        index: u32,
        name: String,
        topics: Vec<String>,
        start_ms: u64,
        config: ConsumerConfig,
        bootstrap: Vec<BrokerId>,
    ) -> Consumer {
        assert!(!bootstrap.is_empty(), "a consumer needs bootstrap brokers");
        Consumer {
            index,
            name,
            topics,
            start_ms,
            config,
            bootstrap,
            started: false,
            metadata: BTreeMap::new(),
            metadata_in_flight: None,
            metadata_generation: 0,
            bootstrap_index: 0,
            positions: BTreeMap::new(),
            list_offsets_in_flight: BTreeMap::new(),
            reset_from: BTreeMap::new(),
            fetch_in_flight: BTreeMap::new(),
            backing_off: BTreeSet::new(),
            next_correlation_id: 0,
            validate_positions: true,
            last_epoch: BTreeMap::new(),
            awaiting_validation: BTreeMap::new(),
        }
    }

    /// Turns KIP-320 position validation on or off (on by default).
    pub fn with_position_validation(mut self, on: bool) -> Consumer {
        self.validate_positions = on;
        self
    }

    pub fn positions(&self) -> BTreeMap<TopicPartition, u64> {
        self.positions.clone()
    }

    fn correlation(&mut self) -> u64 {
        self.next_correlation_id += 1;
        self.next_correlation_id
    }

    fn request_metadata(&mut self, out: &mut Output<ConsumerTimer>) {
        if self.metadata_in_flight.is_some() {
            return;
        }
        let correlation_id = self.correlation();
        let broker = self.bootstrap[self.bootstrap_index % self.bootstrap.len()];
        self.metadata_in_flight = Some(correlation_id);
        out.send(
            NodeId::Broker(broker),
            Message::Metadata {
                correlation_id,
                topics: self.topics.clone(),
            },
        );
        out.timer(
            self.config.request_timeout_ms,
            ConsumerTimer::MetadataTimeout { correlation_id },
        );
    }

    fn on_metadata(
        &mut self,
        correlation_id: u64,
        partitions: Vec<PartitionMetadata>,
        out: &mut Output<ConsumerTimer>,
    ) {
        if self.metadata_in_flight != Some(correlation_id) {
            return;
        }
        self.metadata_in_flight = None;
        let mut missing_leader = false;
        let mut any = false;
        for p in partitions {
            if !self.topics.contains(&p.tp.topic) {
                continue;
            }
            any = true;
            let newer = self
                .metadata
                .get(&p.tp)
                .is_none_or(|m| p.leader_epoch >= m.leader_epoch);
            if newer {
                missing_leader |= p.leader.is_none();
                let moved = self
                    .metadata
                    .get(&p.tp)
                    .is_some_and(|m| p.leader_epoch > m.leader_epoch);
                if moved
                    && self.validate_positions
                    && self.positions.contains_key(&p.tp)
                    && self.last_epoch.contains_key(&p.tp)
                {
                    self.awaiting_validation.insert(p.tp.clone(), None);
                }
                self.metadata.insert(p.tp.clone(), p);
            }
        }
        if !any || missing_leader {
            out.timer(self.config.retry_backoff_ms, ConsumerTimer::MetadataRefresh);
        } else {
            // One periodic refresh at a time: a newer answer supersedes the pending one.
            self.metadata_generation += 1;
            out.timer(
                self.config.metadata_max_age_ms,
                ConsumerTimer::MetadataMaxAge {
                    generation: self.metadata_generation,
                },
            );
        }
        self.poll(out);
    }

    fn leader(&self, tp: &TopicPartition) -> Option<(BrokerId, LeaderEpoch)> {
        self.metadata
            .get(tp)
            .and_then(|m| m.leader.map(|l| (l, m.leader_epoch)))
    }

    /// Sends what can be sent: ListOffsets for partitions without a position, one Fetch per
    /// leader for the rest.
    fn poll(&mut self, out: &mut Output<ConsumerTimer>) {
        if !self.started {
            return;
        }
        let tps: Vec<TopicPartition> = self.metadata.keys().cloned().collect();
        let mut by_leader: BTreeMap<BrokerId, Vec<FetchPartition>> = BTreeMap::new();
        for tp in tps {
            let Some((leader, epoch)) = self.leader(&tp) else {
                continue;
            };
            match self.positions.get(&tp) {
                None => {
                    if self.list_offsets_in_flight.contains_key(&tp)
                        || self.config.auto_offset_reset == AutoOffsetReset::None
                    {
                        continue;
                    }
                    let spec = if self.config.auto_offset_reset == AutoOffsetReset::Earliest {
                        OffsetSpec::Earliest
                    } else {
                        OffsetSpec::Latest
                    };
                    let correlation_id = self.correlation();
                    self.list_offsets_in_flight
                        .insert(tp.clone(), correlation_id);
                    out.send(
                        NodeId::Broker(leader),
                        Message::ListOffsets {
                            correlation_id,
                            tp: tp.clone(),
                            spec,
                            current_leader_epoch: Some(epoch),
                        },
                    );
                    out.timer(
                        self.config.request_timeout_ms,
                        ConsumerTimer::ListOffsetsTimeout { tp, correlation_id },
                    );
                }
                Some(_) if self.awaiting_validation.contains_key(&tp) => {
                    if self.awaiting_validation[&tp].is_none() {
                        let correlation_id = self.correlation();
                        self.awaiting_validation
                            .insert(tp.clone(), Some(correlation_id));
                        out.send(
                            NodeId::Broker(leader),
                            Message::OffsetsForLeaderEpoch {
                                correlation_id,
                                replica_id: None,
                                partitions: vec![OffsetForLeaderEpochPartition {
                                    tp: tp.clone(),
                                    current_leader_epoch: Some(epoch),
                                    leader_epoch: self.last_epoch[&tp],
                                }],
                            },
                        );
                        out.timer(
                            self.config.request_timeout_ms,
                            ConsumerTimer::ValidationTimeout { tp, correlation_id },
                        );
                    }
                }
                Some(&position) => {
                    by_leader.entry(leader).or_default().push(FetchPartition {
                        tp,
                        fetch_offset: position,
                        last_fetched_epoch: None,
                        current_leader_epoch: Some(epoch),
                    });
                }
            }
        }
        for (broker, partitions) in by_leader {
            if self.fetch_in_flight.contains_key(&broker) || self.backing_off.contains(&broker) {
                continue;
            }
            let correlation_id = self.correlation();
            self.fetch_in_flight.insert(broker, correlation_id);
            out.send(
                NodeId::Broker(broker),
                Message::Fetch {
                    correlation_id,
                    replica_id: None,
                    max_wait_ms: self.config.fetch_max_wait_ms,
                    partitions,
                },
            );
            out.timer(
                self.config.request_timeout_ms,
                ConsumerTimer::FetchTimeout {
                    broker,
                    correlation_id,
                },
            );
        }
    }

    fn back_off(&mut self, broker: BrokerId, out: &mut Output<ConsumerTimer>) {
        if self.backing_off.insert(broker) {
            out.timer(
                self.config.retry_backoff_ms,
                ConsumerTimer::Backoff { broker },
            );
        }
        self.request_metadata(out);
    }

    fn on_fetch_response(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        partitions: Vec<FetchPartitionResponse>,
        out: &mut Output<ConsumerTimer>,
    ) {
        let NodeId::Broker(broker) = from else {
            return;
        };
        if self.fetch_in_flight.get(&broker) != Some(&correlation_id) {
            return;
        }
        self.fetch_in_flight.remove(&broker);
        let mut trouble = false;
        for r in partitions {
            let Some(&position) = self.positions.get(&r.tp) else {
                continue;
            };
            match r.error {
                ErrorCode::None => {
                    let records: Vec<(u64, RecordId)> = r
                        .records
                        .iter()
                        .filter(|rec| rec.offset >= position)
                        .map(|rec| (rec.offset, rec.id))
                        .collect();
                    if let Some(&(last, _)) = records.last() {
                        assert_eq!(
                            records[0].0, position,
                            "a fetch returns records from the position on"
                        );
                        if let Some(rec) = r.records.last() {
                            self.last_epoch.insert(r.tp.clone(), rec.leader_epoch);
                        }
                        self.positions.insert(r.tp.clone(), last + 1);
                        out.event(Event::Consumed {
                            consumer: self.index,
                            tp: r.tp,
                            served_by: broker,
                            high_watermark: r.high_watermark,
                            records,
                        });
                    }
                }
                ErrorCode::OffsetOutOfRange => {
                    self.positions.remove(&r.tp);
                    self.reset_from.insert(r.tp, position);
                }
                _ => trouble = true,
            }
        }
        if trouble {
            self.back_off(broker, out);
        }
        self.poll(out);
    }

    fn on_validation_response(
        &mut self,
        correlation_id: u64,
        answers: Vec<EpochEndOffset>,
        out: &mut Output<ConsumerTimer>,
    ) {
        for a in answers {
            if self.awaiting_validation.get(&a.tp) != Some(&Some(correlation_id)) {
                continue;
            }
            if a.error != ErrorCode::None || a.leader_epoch < 0 {
                // Ask again once metadata is fresh.
                self.awaiting_validation.insert(a.tp.clone(), None);
                self.request_metadata(out);
                continue;
            }
            self.awaiting_validation.remove(&a.tp);
            let Some(&position) = self.positions.get(&a.tp) else {
                continue;
            };
            if a.end_offset < position {
                out.event(Event::ConsumerTruncationDetected {
                    consumer: self.index,
                    tp: a.tp.clone(),
                    position,
                    leader_end_offset: a.end_offset,
                    epoch: a.leader_epoch,
                });
                // With a reset policy, continue from the first divergent offset.
                self.positions.insert(a.tp.clone(), a.end_offset);
                self.last_epoch.insert(a.tp.clone(), a.leader_epoch);
                out.event(Event::OffsetReset {
                    consumer: self.index,
                    tp: a.tp,
                    from: Some(position),
                    to: a.end_offset,
                });
            }
        }
        self.poll(out);
    }

    fn on_list_offsets_response(
        &mut self,
        correlation_id: u64,
        tp: TopicPartition,
        error: ErrorCode,
        offset: u64,
        out: &mut Output<ConsumerTimer>,
    ) {
        if self.list_offsets_in_flight.get(&tp) != Some(&correlation_id) {
            return;
        }
        self.list_offsets_in_flight.remove(&tp);
        if error != ErrorCode::None {
            self.request_metadata(out);
            out.timer(self.config.retry_backoff_ms, ConsumerTimer::Poll);
            return;
        }
        self.positions.insert(tp.clone(), offset);
        out.event(Event::OffsetReset {
            consumer: self.index,
            from: self.reset_from.remove(&tp),
            tp,
            to: offset,
        });
        self.poll(out);
    }
}

impl Actor for Consumer {
    type Timer = ConsumerTimer;

    fn start(&mut self, now_ms: u64, out: &mut Output<ConsumerTimer>) {
        let at = self.start_ms.max(now_ms);
        out.timer(at - now_ms, ConsumerTimer::Start);
    }

    fn on_message(
        &mut self,
        _now_ms: u64,
        from: NodeId,
        message: Message,
        out: &mut Output<ConsumerTimer>,
    ) {
        match message {
            Message::MetadataResponse {
                correlation_id,
                partitions,
                ..
            } => self.on_metadata(correlation_id, partitions, out),
            Message::FetchResponse {
                correlation_id,
                partitions,
            } => self.on_fetch_response(from, correlation_id, partitions, out),
            Message::ListOffsetsResponse {
                correlation_id,
                tp,
                error,
                offset,
                ..
            } => self.on_list_offsets_response(correlation_id, tp, error, offset, out),
            Message::OffsetsForLeaderEpochResponse {
                correlation_id,
                partitions,
            } => self.on_validation_response(correlation_id, partitions, out),
            _ => {}
        }
    }

    fn on_timer(&mut self, _now_ms: u64, timer: ConsumerTimer, out: &mut Output<ConsumerTimer>) {
        match timer {
            ConsumerTimer::Start => {
                self.started = true;
                self.request_metadata(out);
            }
            ConsumerTimer::Poll => self.poll(out),
            ConsumerTimer::MetadataTimeout { correlation_id } => {
                if self.metadata_in_flight == Some(correlation_id) {
                    self.metadata_in_flight = None;
                    self.bootstrap_index += 1;
                    self.request_metadata(out);
                }
            }
            ConsumerTimer::MetadataRefresh => self.request_metadata(out),
            ConsumerTimer::MetadataMaxAge { generation } => {
                if generation == self.metadata_generation {
                    self.request_metadata(out);
                }
            }
            ConsumerTimer::FetchTimeout {
                broker,
                correlation_id,
            } => {
                if self.fetch_in_flight.get(&broker) == Some(&correlation_id) {
                    self.fetch_in_flight.remove(&broker);
                    self.back_off(broker, out);
                }
            }
            ConsumerTimer::ListOffsetsTimeout { tp, correlation_id } => {
                if self.list_offsets_in_flight.get(&tp) == Some(&correlation_id) {
                    self.list_offsets_in_flight.remove(&tp);
                    self.request_metadata(out);
                    self.poll(out);
                }
            }
            ConsumerTimer::ValidationTimeout { tp, correlation_id } => {
                if self.awaiting_validation.get(&tp) == Some(&Some(correlation_id)) {
                    self.awaiting_validation.insert(tp, None);
                    self.request_metadata(out);
                    self.poll(out);
                }
            }
            ConsumerTimer::Backoff { broker } => {
                self.backing_off.remove(&broker);
                self.poll(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("orders", 0)
    }

    fn record(offset: u64) -> Record {
        Record {
            offset,
            leader_epoch: 0,
            id: RecordId {
                producer: 0,
                seq: offset,
            },
            timestamp_ms: 0,
            key: None,
            value: String::new(),
            headers: vec![],
        }
    }

    fn started() -> Consumer {
        let config = ConsumerConfig {
            auto_offset_reset: AutoOffsetReset::Earliest,
            ..ConsumerConfig::default()
        };
        let mut c = Consumer::new(0, "c".into(), vec!["orders".into()], 0, config, vec![0]);
        let mut out = Output::default();
        c.start(0, &mut out);
        c.on_timer(0, ConsumerTimer::Start, &mut out);
        let mut out = Output::default();
        c.on_message(
            1,
            NodeId::Broker(0),
            Message::MetadataResponse {
                correlation_id: 1,
                brokers: vec![0, 1],
                controller_id: Some(0),
                partitions: vec![PartitionMetadata {
                    tp: tp(),
                    error: ErrorCode::None,
                    leader: Some(1),
                    leader_epoch: 3,
                    replicas: vec![0, 1],
                    isr: vec![0, 1],
                }],
            },
            &mut out,
        );
        let (to, corr) = match &out.messages[0] {
            (
                to,
                Message::ListOffsets {
                    correlation_id,
                    spec: OffsetSpec::Earliest,
                    ..
                },
            ) => (*to, *correlation_id),
            other => panic!("{other:?}"),
        };
        assert_eq!(to, NodeId::Broker(1), "ListOffsets goes to the leader");
        let mut out = Output::default();
        c.on_message(
            2,
            NodeId::Broker(1),
            Message::ListOffsetsResponse {
                correlation_id: corr,
                tp: tp(),
                error: ErrorCode::None,
                offset: 0,
                leader_epoch: Some(3),
            },
            &mut out,
        );
        assert!(matches!(
            out.events[0],
            Event::OffsetReset {
                to: 0,
                from: None,
                ..
            }
        ));
        c
    }

    #[test]
    fn fetches_from_the_leader_with_its_epoch_and_hands_over_records() {
        let mut c = started();
        let mut out = Output::default();
        c.poll(&mut out);
        assert!(out.messages.is_empty(), "one fetch per broker at a time");
        let corr = c.fetch_in_flight[&1];
        let mut out = Output::default();
        c.on_message(
            3,
            NodeId::Broker(1),
            Message::FetchResponse {
                correlation_id: corr,
                partitions: vec![FetchPartitionResponse {
                    tp: tp(),
                    error: ErrorCode::None,
                    high_watermark: 2,
                    log_start_offset: 0,
                    log_end_offset: 5,
                    leader_epoch: 3,
                    records: vec![record(0), record(1)],
                    diverging_epoch: None,
                }],
            },
            &mut out,
        );
        assert!(
            matches!(&out.events[0], Event::Consumed { records, high_watermark: 2, served_by: 1, .. } if records.len() == 2)
        );
        assert_eq!(c.positions()[&tp()], 2);
        match &out.messages[0].1 {
            Message::Fetch {
                partitions,
                replica_id: None,
                ..
            } => {
                assert_eq!(partitions[0].fetch_offset, 2);
                assert_eq!(partitions[0].current_leader_epoch, Some(3));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fenced_epoch_refreshes_metadata() {
        let mut c = started();
        let corr = c.fetch_in_flight[&1];
        let mut out = Output::default();
        c.on_message(
            3,
            NodeId::Broker(1),
            Message::FetchResponse {
                correlation_id: corr,
                partitions: vec![FetchPartitionResponse {
                    tp: tp(),
                    error: ErrorCode::FencedLeaderEpoch,
                    high_watermark: 0,
                    log_start_offset: 0,
                    log_end_offset: 0,
                    leader_epoch: 4,
                    records: vec![],
                    diverging_epoch: None,
                }],
            },
            &mut out,
        );
        assert!(out
            .messages
            .iter()
            .any(|(_, m)| matches!(m, Message::Metadata { .. })));
        assert!(c.backing_off.contains(&1));
    }
}
