//! The admin client of a KRaft cluster, creating the scenario's topics as
//! `kafka-topics.sh --create --bootstrap-controller` does (KIP-919): a CreateTopics request
//! with the manual assignment to the active controller, which writes the `TopicRecord` and
//! `PartitionRecord`s and elects each partition's first leader among its unfenced replicas.
//!
//! Like the ZooKeeper-mode admin it first waits until every broker is up (here: a broker's
//! Metadata answer lists them all as live, that is registered and unfenced), or until
//! `wait_max_ms` passed, so the first leader of each partition is its preferred replica
//! whenever the cluster starts healthy. A controller that is not active answers
//! NOT_CONTROLLER and the client asks the next one; an error or a lost answer is retried
//! after `retry.backoff.ms`.

use crate::actor::{Actor, Output};
use crate::controller::kraft::replication_control::CreateTopic;
use crate::controller::kraft::ApiError;
use crate::protocol::*;
use crate::types::*;
use std::collections::BTreeMap;

/// How often the admin looks again: for the brokers, and for topics still not created.
const RETRY_BACKOFF_MS: u64 = 100;
/// How long it waits for an answer before asking again (a lost request).
const REQUEST_TIMEOUT_MS: u64 = 2_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KraftAdminTimer {
    /// Give up waiting for brokers and create the topics anyway.
    WaitExpired,
    /// Look again: for live brokers, or send the topics not created yet.
    Retry,
}

pub struct KraftAdmin {
    brokers: Vec<BrokerId>,
    controllers: Vec<BrokerId>,
    /// Topics not created yet, by name.
    topics: BTreeMap<String, CreateTopic>,
    wait_max_ms: u64,
    /// The topics' creation has begun.
    creating: bool,
    /// The controller asked next, an index into `controllers`.
    controller_cursor: usize,
    broker_cursor: usize,
    next_correlation_id: u64,
    /// Requests in flight: correlation id → (topic, sent at).
    in_flight: BTreeMap<u64, (String, u64)>,
}

impl KraftAdmin {
    pub fn new(
        brokers: Vec<BrokerId>,
        controllers: Vec<BrokerId>,
        topics: Vec<CreateTopic>,
        wait_max_ms: u64,
    ) -> KraftAdmin {
        assert!(!controllers.is_empty(), "a KRaft cluster has controllers");
        KraftAdmin {
            brokers,
            controllers,
            topics: topics.into_iter().map(|t| (t.name.clone(), t)).collect(),
            wait_max_ms,
            creating: false,
            controller_cursor: 0,
            broker_cursor: 0,
            next_correlation_id: 0,
            in_flight: BTreeMap::new(),
        }
    }

    pub fn topics_created(&self) -> bool {
        self.topics.is_empty()
    }

    fn next_correlation(&mut self) -> u64 {
        self.next_correlation_id += 1;
        self.next_correlation_id
    }

    /// Asks a broker which brokers are live.
    fn ask_brokers(&mut self, out: &mut Output<KraftAdminTimer>) {
        if self.brokers.is_empty() {
            return;
        }
        let broker = self.brokers[self.broker_cursor % self.brokers.len()];
        self.broker_cursor += 1;
        let correlation_id = self.next_correlation();
        out.send(
            NodeId::Broker(broker),
            Message::Metadata(MetadataRequest {
                correlation_id,
                topics: Vec::new(),
            }),
        );
    }

    /// Sends every topic not created and not awaiting an answer to the controller
    /// believed active.
    fn send_topics(&mut self, now_ms: u64, out: &mut Output<KraftAdminTimer>) {
        let before = self.in_flight.len();
        self.in_flight
            .retain(|_, (_, sent_ms)| now_ms < *sent_ms + REQUEST_TIMEOUT_MS);
        if self.in_flight.len() < before {
            // Unanswered: that controller may be down or cut off; ask the next one.
            self.controller_cursor += 1;
        }
        let controller = self.controllers[self.controller_cursor % self.controllers.len()];
        let waiting: Vec<CreateTopic> = self
            .topics
            .values()
            .filter(|t| !self.in_flight.values().any(|(name, _)| *name == t.name))
            .cloned()
            .collect();
        for topic in waiting {
            let correlation_id = self.next_correlation();
            self.in_flight
                .insert(correlation_id, (topic.name.clone(), now_ms));
            out.send(
                NodeId::Controller(controller),
                Message::CreateTopics(ControllerRequest {
                    correlation_id,
                    body: topic,
                }),
            );
        }
    }

    fn begin_creating(&mut self, now_ms: u64, out: &mut Output<KraftAdminTimer>) {
        if !self.creating {
            self.creating = true;
            self.send_topics(now_ms, out);
        }
    }
}

impl Actor for KraftAdmin {
    type Timer = KraftAdminTimer;

    fn start(&mut self, _now_ms: u64, out: &mut Output<KraftAdminTimer>) {
        out.timer(self.wait_max_ms, KraftAdminTimer::WaitExpired);
        out.timer(RETRY_BACKOFF_MS, KraftAdminTimer::Retry);
    }

    fn on_message(
        &mut self,
        now_ms: u64,
        _from: NodeId,
        message: Message,
        out: &mut Output<KraftAdminTimer>,
    ) {
        match message {
            Message::MetadataResponse(response) if !self.creating => {
                let live = self
                    .brokers
                    .iter()
                    .filter(|b| response.brokers.contains(b))
                    .count();
                if live == self.brokers.len() {
                    self.begin_creating(now_ms, out);
                }
            }
            Message::CreateTopicsResponse(response) => {
                let Some((topic, _)) = self.in_flight.remove(&response.correlation_id) else {
                    return;
                };
                match response.result {
                    // An earlier attempt whose answer was lost may have created it.
                    Ok(_) | Err(ApiError::TopicAlreadyExists) => {
                        self.topics.remove(&topic);
                    }
                    Err(ApiError::NotController) => self.controller_cursor += 1,
                    // Retried at the next look (brokers not registered yet, ...).
                    Err(_) => {}
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, now_ms: u64, timer: KraftAdminTimer, out: &mut Output<KraftAdminTimer>) {
        match timer {
            KraftAdminTimer::WaitExpired => self.begin_creating(now_ms, out),
            KraftAdminTimer::Retry => {
                if self.topics.is_empty() {
                    return;
                }
                if self.creating {
                    self.send_topics(now_ms, out);
                } else {
                    self.ask_brokers(out);
                }
                out.timer(RETRY_BACKOFF_MS, KraftAdminTimer::Retry);
            }
        }
    }
}
