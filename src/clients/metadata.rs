//! The clients' metadata: the leader cache and the Metadata requests that fill it.
//!
//! Kafka's `org.apache.kafka.clients.Metadata` holds what a client knows about partition
//! leaders, and `NetworkClient.DefaultMetadataUpdater` decides when to ask a broker again and
//! which one. The producer and the consumer both need exactly that, so both use this one
//! [`MetadataClient`]: it picks the broker (the bootstrap list in turn, moving on after a
//! timeout or a reset connection), sends Metadata for the client's topics, keeps an answer's
//! partitions only when their leader epoch is not older than what it knows (Kafka's
//! `Metadata.updateLatestMetadata`, KIP-320), and sets the refresh timers: `retry.backoff.ms`
//! after an incomplete answer, `metadata.max.age.ms` after a complete one.
//!
//! The two clients still refresh a little differently, as they did before they shared this
//! code; [`MetadataOptions`] names each difference so it stays visible until a later change
//! makes the consumer behave like Kafka's.

use crate::actor::Output;
use crate::clients::CorrelationIds;
use crate::protocol::*;
use crate::types::*;
use std::collections::BTreeMap;

/// The timers a [`MetadataClient`] sets, in the owning client's timer type.
pub trait MetadataTimer: Sized {
    /// `request.timeout.ms` after the Metadata request `correlation_id` was sent.
    fn metadata_timeout(correlation_id: u64) -> Self;
    /// Ask again: `retry.backoff.ms` after an incomplete answer or a lost request, or when a
    /// deferred request is due.
    fn metadata_retry() -> Self;
    /// `metadata.max.age.ms` after the answer of this generation.
    fn metadata_max_age(generation: u64) -> Self;
}

/// What a [`MetadataClient`] asks for and how it paces itself.
#[derive(Clone, Debug)]
pub struct MetadataOptions {
    /// The topics every Metadata request names; an answer's other topics are ignored.
    pub topics: Vec<String>,
    pub request_timeout_ms: u64,
    pub retry_backoff_ms: u64,
    pub metadata_max_age_ms: u64,
    /// Ask at most once per `retry.backoff.ms` after the last answer (Kafka's
    /// `Metadata.timeToNextUpdate`: an update that is wanted waits out the refresh backoff).
    /// The producer does; the consumer asks at once. Kafka's consumer backs off too: the
    /// consumer's `false` is a known deviation, left for the issue on client fidelity.
    pub refresh_backoff: bool,
    /// What a complete answer with a leaderless partition does to the periodic refresh: with
    /// `true` (the producer) it starts a new `metadata.max.age.ms` period, as every answer
    /// does, and asks again after `retry.backoff.ms`; with `false` (the consumer) it only
    /// asks again, and the pending max-age refresh of the previous answer stays.
    pub leaderless_answer_restarts_max_age: bool,
}

/// What an answer changed, for the client to act on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataUpdate {
    /// The answer named at least one partition of the client's topics.
    pub knows_topics: bool,
    /// Partitions whose leader epoch went up with this answer: a new leader, whose log may
    /// have been truncated below a consumer's position (KIP-320).
    pub leader_epoch_bumped: Vec<TopicPartition>,
}

/// Kafka's `Metadata` and `DefaultMetadataUpdater` for one client.
#[derive(Clone, Debug)]
pub struct MetadataClient {
    options: MetadataOptions,
    bootstrap: Vec<BrokerId>,
    /// The bootstrap broker asked next, modulo the list's length.
    bootstrap_index: usize,
    /// What the client knows, per topic and partition.
    partitions: BTreeMap<String, BTreeMap<u32, PartitionMetadata>>,
    /// The Metadata request in flight, and the broker it went to.
    in_flight: Option<u64>,
    in_flight_broker: Option<BrokerId>,
    /// Kafka's `Metadata.requestUpdate`: something wants fresher metadata.
    update_requested: bool,
    /// When the last answer came, and when a deferred request is due.
    refreshed_ms: Option<u64>,
    retry_at_ms: Option<u64>,
    /// Counts complete answers, so only the newest one's max-age refresh fires.
    generation: u64,
}

impl MetadataClient {
    pub fn new(options: MetadataOptions, bootstrap: Vec<BrokerId>) -> MetadataClient {
        assert!(!bootstrap.is_empty(), "a client needs bootstrap brokers");
        MetadataClient {
            options,
            bootstrap,
            bootstrap_index: 0,
            partitions: BTreeMap::new(),
            in_flight: None,
            in_flight_broker: None,
            update_requested: true,
            refreshed_ms: None,
            retry_at_ms: None,
            generation: 0,
        }
    }

    // ---- the cache ----

    pub fn get(&self, tp: &TopicPartition) -> Option<&PartitionMetadata> {
        self.partitions.get(&tp.topic)?.get(&tp.partition)
    }

    /// The leader of `tp` and its epoch, if the partition has one.
    pub fn leader(&self, tp: &TopicPartition) -> Option<(BrokerId, LeaderEpoch)> {
        self.get(tp)
            .and_then(|m| m.leader.map(|l| (l, m.leader_epoch)))
    }

    /// The leader of one partition of `topic` (no `TopicPartition` to build).
    pub fn leader_of(&self, topic: &str, partition: u32) -> Option<BrokerId> {
        self.partitions.get(topic)?.get(&partition)?.leader
    }

    /// The known partitions of `topic`, in partition order.
    pub fn partitions_of<'a>(
        &'a self,
        topic: &str,
    ) -> impl Iterator<Item = &'a PartitionMetadata> + 'a {
        self.partitions
            .get(topic)
            .into_iter()
            .flat_map(|p| p.values())
    }

    /// How many partitions `topic` has, as far as any answer told; `None` before the first.
    pub fn partition_count(&self, topic: &str) -> Option<u32> {
        let last = self.partitions.get(topic)?.keys().next_back()?;
        Some(last + 1)
    }

    /// Every known partition, in `TopicPartition` order.
    pub fn known_partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions
            .values()
            .flat_map(|p| p.values())
            .map(|m| &m.tp)
    }

    // ---- the bootstrap brokers ----

    /// The broker to ask: the bootstrap brokers in turn (a stand-in for Kafka's
    /// `NetworkClient.leastLoadedNode`). The consumer's FindCoordinator goes there too.
    pub fn bootstrap_broker(&self) -> BrokerId {
        self.bootstrap[self.bootstrap_index % self.bootstrap.len()]
    }

    /// The broker asked did not answer: the next request goes to the next one.
    pub fn rotate_bootstrap(&mut self) {
        self.bootstrap_index += 1;
    }

    // ---- when to ask ----

    /// Kafka's `Metadata.requestUpdate`: the next chance to ask, asks.
    pub fn request_update(&mut self) {
        self.update_requested = true;
    }

    pub fn update_requested(&self) -> bool {
        self.update_requested
    }

    /// The correlation id of the Metadata request in flight.
    pub fn in_flight(&self) -> Option<u64> {
        self.in_flight
    }

    /// The broker the Metadata request `correlation_id` went to, while it is in flight.
    pub fn in_flight_to(&self, correlation_id: u64) -> Option<BrokerId> {
        if self.in_flight == Some(correlation_id) {
            self.in_flight_broker
        } else {
            None
        }
    }

    /// When a request deferred by the refresh backoff is due.
    pub fn retry_at_ms(&self) -> Option<u64> {
        self.retry_at_ms
    }

    /// Forgets the request in flight, as if it had never been sent (tests only).
    #[cfg(test)]
    pub(crate) fn forget_in_flight(&mut self) {
        self.in_flight = None;
    }

    /// Sends a Metadata request unless one is in flight or (with `refresh_backoff`) the last
    /// answer is younger than `retry.backoff.ms`, in which case it asks when that passes.
    pub fn request<T: MetadataTimer>(
        &mut self,
        now_ms: u64,
        correlation_ids: &mut CorrelationIds,
        out: &mut Output<T>,
    ) {
        if self.in_flight.is_some() || self.defer_for_backoff(now_ms, out) {
            return;
        }
        let correlation_id = correlation_ids.next_id();
        let broker = self.bootstrap_broker();
        self.in_flight = Some(correlation_id);
        self.in_flight_broker = Some(broker);
        self.update_requested = false;
        out.send(
            NodeId::Broker(broker),
            Message::Metadata(MetadataRequest {
                correlation_id,
                topics: self.options.topics.clone(),
            }),
        );
        out.timer(
            self.options.request_timeout_ms,
            T::metadata_timeout(correlation_id),
        );
    }

    /// With `refresh_backoff`, a request within `retry.backoff.ms` of the last answer waits
    /// (Kafka's `Metadata.timeToNextUpdate`): one retry timer for the time it is allowed.
    fn defer_for_backoff<T: MetadataTimer>(&mut self, now_ms: u64, out: &mut Output<T>) -> bool {
        if !self.options.refresh_backoff {
            return false;
        }
        let Some(last_ms) = self.refreshed_ms else {
            return false;
        };
        let allowed_ms = last_ms + self.options.retry_backoff_ms;
        if now_ms >= allowed_ms {
            return false;
        }
        self.update_requested = true;
        if self.retry_at_ms.is_none_or(|at| at > allowed_ms) {
            self.retry_at_ms = Some(allowed_ms);
            out.timer(allowed_ms - now_ms, T::metadata_retry());
        }
        true
    }

    // ---- answers and timers ----

    /// Applies the answer to the request in flight; `None` for any other (late) answer.
    pub fn on_response<T: MetadataTimer>(
        &mut self,
        now_ms: u64,
        response: MetadataResponse,
        out: &mut Output<T>,
    ) -> Option<MetadataUpdate> {
        if self.in_flight != Some(response.correlation_id) {
            return None;
        }
        self.in_flight = None;
        self.refreshed_ms = Some(now_ms);
        let mut update = MetadataUpdate::default();
        let mut leaderless = false;
        for p in response.partitions {
            if !self.options.topics.contains(&p.tp.topic) {
                continue;
            }
            update.knows_topics = true;
            let known = self.get(&p.tp);
            if known.is_some_and(|m| p.leader_epoch < m.leader_epoch) {
                continue; // an older leader epoch than the cache's: a stale broker
            }
            if known.is_some_and(|m| p.leader_epoch > m.leader_epoch) {
                update.leader_epoch_bumped.push(p.tp.clone());
            }
            leaderless |= p.leader.is_none();
            self.partitions
                .entry(p.tp.topic.clone())
                .or_default()
                .insert(p.tp.partition, p);
        }
        self.schedule_refresh(update.knows_topics, leaderless, out);
        Some(update)
    }

    /// After an answer: an incomplete one (no partition of the topics, or one without a
    /// leader) asks again after `retry.backoff.ms`; a complete one starts a new
    /// `metadata.max.age.ms` period (one periodic refresh at a time: a newer answer
    /// supersedes the pending one). See [`MetadataOptions`] for the leaderless case.
    fn schedule_refresh<T: MetadataTimer>(
        &mut self,
        knows_topics: bool,
        leaderless: bool,
        out: &mut Output<T>,
    ) {
        // The topic does not exist yet (or this broker does not know it): ask again. The
        // broker answered, so it stays the one to ask; only a timeout moves on.
        if !knows_topics || (leaderless && !self.options.leaderless_answer_restarts_max_age) {
            out.timer(self.options.retry_backoff_ms, T::metadata_retry());
            return;
        }
        self.generation += 1;
        out.timer(
            self.options.metadata_max_age_ms,
            T::metadata_max_age(self.generation),
        );
        if leaderless {
            self.update_requested = true;
            out.timer(self.options.retry_backoff_ms, T::metadata_retry());
        }
    }

    /// The request `correlation_id` timed out: ask the next bootstrap broker at once.
    pub fn on_timeout<T: MetadataTimer>(
        &mut self,
        now_ms: u64,
        correlation_id: u64,
        correlation_ids: &mut CorrelationIds,
        out: &mut Output<T>,
    ) {
        if self.in_flight == Some(correlation_id) {
            self.in_flight = None;
            self.rotate_bootstrap();
            self.request(now_ms, correlation_ids, out);
        }
    }

    /// The retry timer fired: ask (a deferred request is no longer pending).
    pub fn on_retry<T: MetadataTimer>(
        &mut self,
        now_ms: u64,
        correlation_ids: &mut CorrelationIds,
        out: &mut Output<T>,
    ) {
        if self.retry_at_ms.is_some_and(|at| at <= now_ms) {
            self.retry_at_ms = None;
        }
        self.request(now_ms, correlation_ids, out);
    }

    /// `metadata.max.age.ms` passed since the answer of `generation`: refresh, unless a newer
    /// answer came since.
    pub fn on_max_age<T: MetadataTimer>(
        &mut self,
        now_ms: u64,
        generation: u64,
        correlation_ids: &mut CorrelationIds,
        out: &mut Output<T>,
    ) {
        if generation == self.generation {
            self.request(now_ms, correlation_ids, out);
        }
    }

    /// The connection to `broker` closed: Kafka's `NetworkClient.handleDisconnections` asks
    /// for a metadata update ("see if that broker is dead"), and a Metadata request to it
    /// goes to the next bootstrap broker after `retry.backoff.ms`.
    pub fn on_disconnected<T: MetadataTimer>(&mut self, broker: BrokerId, out: &mut Output<T>) {
        self.request_update();
        if self.in_flight.is_some() && self.in_flight_broker == Some(broker) {
            self.in_flight = None;
            self.rotate_bootstrap();
            out.timer(self.options.retry_backoff_ms, T::metadata_retry());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Timer {
        Timeout(u64),
        Retry,
        MaxAge(u64),
    }

    impl MetadataTimer for Timer {
        fn metadata_timeout(correlation_id: u64) -> Self {
            Timer::Timeout(correlation_id)
        }

        fn metadata_retry() -> Self {
            Timer::Retry
        }

        fn metadata_max_age(generation: u64) -> Self {
            Timer::MaxAge(generation)
        }
    }

    fn client(refresh_backoff: bool) -> MetadataClient {
        MetadataClient::new(
            MetadataOptions {
                topics: vec!["orders".into()],
                request_timeout_ms: 30_000,
                retry_backoff_ms: 100,
                metadata_max_age_ms: 300_000,
                refresh_backoff,
                leaderless_answer_restarts_max_age: refresh_backoff,
            },
            vec![0, 1],
        )
    }

    fn partition(p: u32, leader: Option<BrokerId>, epoch: LeaderEpoch) -> PartitionMetadata {
        PartitionMetadata {
            tp: TopicPartition::new("orders", p),
            error: ErrorCode::None,
            leader,
            leader_epoch: epoch,
            replicas: vec![0, 1],
            isr: vec![0, 1],
        }
    }

    fn ask_and_answer(
        m: &mut MetadataClient,
        ids: &mut CorrelationIds,
        now_ms: u64,
        partitions: Vec<PartitionMetadata>,
    ) -> (MetadataUpdate, Output<Timer>) {
        m.request(now_ms, ids, &mut Output::<Timer>::default());
        let correlation_id = m.in_flight().expect("a request");
        let mut out = Output::default();
        let response = MetadataResponse {
            correlation_id,
            brokers: vec![0, 1],
            controller_id: None,
            partitions,
        };
        let update = m.on_response(now_ms, response, &mut out);
        (update.expect("the answer in flight"), out)
    }

    #[test]
    fn an_older_leader_epoch_does_not_replace_a_newer_one() {
        let (mut m, mut ids) = (client(false), CorrelationIds::default());
        ask_and_answer(&mut m, &mut ids, 0, vec![partition(0, Some(1), 5)]);
        let (update, _) = ask_and_answer(&mut m, &mut ids, 1, vec![partition(0, Some(0), 4)]);
        assert!(update.knows_topics);
        assert_eq!(m.leader(&TopicPartition::new("orders", 0)), Some((1, 5)));
        let (update, _) = ask_and_answer(&mut m, &mut ids, 2, vec![partition(0, Some(0), 6)]);
        assert_eq!(
            update.leader_epoch_bumped,
            [TopicPartition::new("orders", 0)]
        );
        assert_eq!(m.leader_of("orders", 0), Some(0));
    }

    #[test]
    fn only_the_producer_option_waits_out_the_refresh_backoff() {
        for refresh_backoff in [true, false] {
            let (mut m, mut ids) = (client(refresh_backoff), CorrelationIds::default());
            ask_and_answer(&mut m, &mut ids, 0, vec![partition(0, Some(1), 0)]);
            let mut out: Output<Timer> = Output::default();
            m.request(50, &mut ids, &mut out);
            assert_eq!(m.in_flight().is_none(), refresh_backoff);
            if refresh_backoff {
                assert_eq!(out.timers, [(50, Timer::Retry)]);
                assert!(m.update_requested());
            }
        }
    }

    #[test]
    fn a_leaderless_answer_restarts_max_age_only_with_the_producer_option() {
        for restarts in [true, false] {
            let (mut m, mut ids) = (client(restarts), CorrelationIds::default());
            let (_, out) = ask_and_answer(&mut m, &mut ids, 0, vec![partition(0, None, 0)]);
            let expected = if restarts {
                vec![(300_000, Timer::MaxAge(1)), (100, Timer::Retry)]
            } else {
                vec![(100, Timer::Retry)]
            };
            assert_eq!(out.timers, expected);
        }
    }

    #[test]
    fn a_timeout_or_a_reset_moves_on_to_the_next_bootstrap_broker() {
        let (mut m, mut ids) = (client(false), CorrelationIds::default());
        let mut out: Output<Timer> = Output::default();
        m.request(0, &mut ids, &mut out);
        assert_eq!(out.messages[0].0, NodeId::Broker(0));
        let mut out: Output<Timer> = Output::default();
        m.on_timeout(30_000, 1, &mut ids, &mut out);
        assert_eq!(out.messages[0].0, NodeId::Broker(1), "asked at once");
        let mut out = Output::default();
        m.on_disconnected(1, &mut out);
        assert_eq!(out.timers, [(100, Timer::Retry)]);
        assert_eq!(m.bootstrap_broker(), 0);
    }
}
