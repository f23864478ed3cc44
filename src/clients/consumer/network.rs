//! The consumer's connections: what a closed connection and a request past
//! `request.timeout.ms` do to the requests in flight (Kafka's `NetworkClient`).
//!
//! Why its own file: a connection is shared by every kind of request the consumer sends to a
//! broker (Fetch, ListOffsets, OffsetsForLeaderEpoch, Metadata, the group's requests to the
//! coordinator), so losing it is one rule across the fetcher, the validation and the group
//! member, and reads best in one place. Kafka's `NetworkClient.handleTimedOutRequests`
//! closes the connection of a request that timed out, and `processDisconnection` fails every
//! request in flight on it and asks for a metadata update; a connection the broker reset
//! (`handleDisconnections`) does the same at once.

use super::coordinator::GroupRequest;
use super::{Consumer, ConsumerTimer};
use crate::actor::Output;
use crate::types::*;

impl Consumer {
    /// The broker reset the connection: every request in flight on it fails at once.
    pub(super) fn on_disconnected(&mut self, broker: BrokerId, out: &mut Output<ConsumerTimer>) {
        self.close_connection(broker, false, out);
    }

    /// Kafka's `NetworkClient.processDisconnection`: a Metadata request on the connection goes
    /// to the next bootstrap broker after `retry.backoff.ms` (and an update is requested),
    /// and every other request in flight to `broker` fails.
    fn close_connection(
        &mut self,
        broker: BrokerId,
        timed_out: bool,
        out: &mut Output<ConsumerTimer>,
    ) {
        out.close_connection(NodeId::Broker(broker));
        self.metadata.on_disconnected(broker, out);
        self.fail_requests_to(broker, timed_out, out);
    }

    /// Fails every Fetch, ListOffsets, OffsetsForLeaderEpoch and group request in flight to
    /// `broker`, each as its own timeout would.
    fn fail_requests_to(
        &mut self,
        broker: BrokerId,
        timed_out: bool,
        out: &mut Output<ConsumerTimer>,
    ) {
        if let Some(&correlation_id) = self.fetch_in_flight.get(&broker) {
            self.fail_fetch(broker, correlation_id, out);
        }
        let sent_to_it = |c: &u64| self.offset_requests_to.get(c) == Some(&broker);
        let listing: Vec<(TopicPartition, u64)> = self
            .list_offsets_in_flight
            .iter()
            .filter(|(_, c)| sent_to_it(c))
            .map(|(tp, c)| (tp.clone(), *c))
            .collect();
        let validating: Vec<(TopicPartition, u64)> = self
            .awaiting_validation
            .iter()
            .filter_map(|(tp, c)| c.map(|c| (tp.clone(), c)))
            .filter(|(_, c)| sent_to_it(c))
            .collect();
        for (tp, correlation_id) in listing {
            self.fail_list_offsets(tp, correlation_id, out);
        }
        for (tp, correlation_id) in validating {
            self.fail_validation(tp, correlation_id, out);
        }
        self.fail_group_requests_to(broker, timed_out, out);
    }

    /// The group's requests to `broker`. A FindCoordinator on a connection the broker reset
    /// asks the next bootstrap broker after `retry.backoff.ms`; any other (and a
    /// FindCoordinator that timed out) is handled as its own timeout.
    fn fail_group_requests_to(
        &mut self,
        broker: BrokerId,
        timed_out: bool,
        out: &mut Output<ConsumerTimer>,
    ) {
        let group: Vec<u64> = self.member.as_ref().map_or_else(Vec::new, |m| {
            m.in_flight
                .iter()
                .filter(|(_, (to, _))| *to == broker)
                .map(|(c, _)| *c)
                .collect()
        });
        for correlation_id in group {
            let m = self.member.as_mut().expect("a group member");
            let find = m.in_flight.get(&correlation_id).map(|(_, r)| r)
                == Some(&GroupRequest::FindCoordinator);
            if find && !timed_out {
                m.in_flight.remove(&correlation_id);
                self.metadata.rotate_bootstrap();
                m.find_retry_pending = true;
                out.timer(
                    self.config.retry_backoff_ms,
                    ConsumerTimer::FindCoordinatorRetry,
                );
            } else {
                self.on_group_request_timeout(correlation_id, out);
            }
        }
    }

    // ---- timers: a request still in flight at `request.timeout.ms` closes its connection ----

    pub(super) fn on_fetch_timeout(
        &mut self,
        broker: BrokerId,
        correlation_id: u64,
        out: &mut Output<ConsumerTimer>,
    ) {
        if self.fetch_in_flight.get(&broker) == Some(&correlation_id) {
            self.close_connection(broker, true, out);
        }
    }

    pub(super) fn on_list_offsets_timeout(
        &mut self,
        tp: TopicPartition,
        correlation_id: u64,
        out: &mut Output<ConsumerTimer>,
    ) {
        // The entry goes once its timer fired, after the connection closed with it.
        let broker = self.offset_requests_to.get(&correlation_id).copied();
        if self.list_offsets_in_flight.get(&tp) == Some(&correlation_id) {
            match broker {
                Some(broker) => self.close_connection(broker, true, out),
                None => self.fail_list_offsets(tp, correlation_id, out),
            }
        }
        self.offset_requests_to.remove(&correlation_id);
    }

    pub(super) fn on_validation_timeout(
        &mut self,
        tp: TopicPartition,
        correlation_id: u64,
        out: &mut Output<ConsumerTimer>,
    ) {
        // The entry goes once its timer fired, after the connection closed with it.
        let broker = self.offset_requests_to.get(&correlation_id).copied();
        if self.awaiting_validation.get(&tp) == Some(&Some(correlation_id)) {
            match broker {
                Some(broker) => self.close_connection(broker, true, out),
                None => self.fail_validation(tp, correlation_id, out),
            }
        }
        self.offset_requests_to.remove(&correlation_id);
    }

    pub(super) fn on_group_timer(&mut self, correlation_id: u64, out: &mut Output<ConsumerTimer>) {
        let broker = self
            .member
            .as_ref()
            .and_then(|m| m.in_flight.get(&correlation_id))
            .map(|(to, _)| *to);
        if let Some(broker) = broker {
            self.close_connection(broker, true, out);
        }
    }

    /// A Metadata request past its timeout goes to the next bootstrap broker at once, and
    /// its connection closes under the other requests on it.
    pub(super) fn on_metadata_timeout(
        &mut self,
        correlation_id: u64,
        out: &mut Output<ConsumerTimer>,
    ) {
        let broker = self.metadata.in_flight_to(correlation_id);
        self.metadata
            .on_timeout(self.now_ms, correlation_id, &mut self.correlation_ids, out);
        if let Some(broker) = broker {
            self.fail_requests_to(broker, true, out);
        }
    }

    // ---- one failed request ----

    /// A Fetch that failed: the broker is backed off for `retry.backoff.ms` and metadata is
    /// refreshed.
    fn fail_fetch(
        &mut self,
        broker: BrokerId,
        correlation_id: u64,
        out: &mut Output<ConsumerTimer>,
    ) {
        if self.fetch_in_flight.get(&broker) == Some(&correlation_id) {
            self.fetch_in_flight.remove(&broker);
            self.fetch_offsets.remove(&broker);
            self.back_off(broker, out);
        }
    }

    /// A ListOffsets that failed: asked again once metadata is fresh.
    fn fail_list_offsets(
        &mut self,
        tp: TopicPartition,
        correlation_id: u64,
        out: &mut Output<ConsumerTimer>,
    ) {
        if self.list_offsets_in_flight.get(&tp) == Some(&correlation_id) {
            self.list_offsets_in_flight.remove(&tp);
            self.request_metadata(out);
            self.poll(out);
        }
    }

    /// An OffsetsForLeaderEpoch that failed: asked again once metadata is fresh.
    fn fail_validation(
        &mut self,
        tp: TopicPartition,
        correlation_id: u64,
        out: &mut Output<ConsumerTimer>,
    ) {
        if self.awaiting_validation.get(&tp) == Some(&Some(correlation_id)) {
            self.awaiting_validation.insert(tp, None);
            self.request_metadata(out);
            self.poll(out);
        }
    }
}
