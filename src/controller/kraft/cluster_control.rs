//! Broker registrations, heartbeats, fencing and controlled shutdown in the active
//! controller (KIP-631, KIP-841; Kafka's `ClusterControlManager`, with the heartbeat half of
//! `ReplicationControlManager`: `processBrokerHeartbeat`, `maybeFenceOneStaleBroker`).
//!
//! The registrations themselves live in the [`MetadataImage`]; what is kept here is the
//! soft session state ([`BrokerHeartbeatManager`]) that only an active controller has.

use super::heartbeat::{BrokerControlState, BrokerHeartbeatManager, HeartbeatIntent};
use super::image::MetadataImage;
use super::records::{ApiError, IncarnationId, MetadataRecord, RegisterBrokerRecord};
use super::replication_control::{self as rc, ReplicationDefaults};
use crate::types::BrokerId;
use serde::Serialize;

/// `broker.session.timeout.ms`'s default.
pub const DEFAULT_SESSION_TIMEOUT_MS: u64 = 9000;

/// A BrokerRegistration request (the fields the model's rules read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokerRegistrationRequest {
    pub broker: BrokerId,
    pub incarnation: IncarnationId,
    pub rack: Option<String>,
}

/// The answer to a registration: the broker's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BrokerRegistrationReply {
    pub broker_epoch: u64,
}

/// A BrokerHeartbeat request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BrokerHeartbeatRequest {
    pub broker: BrokerId,
    pub broker_epoch: u64,
    /// The offset of the last metadata record the broker replayed; `None` before any.
    pub current_metadata_offset: Option<u64>,
    pub want_fence: bool,
    pub want_shut_down: bool,
}

/// The answer to a heartbeat (Kafka's `BrokerHeartbeatReply`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BrokerHeartbeatReply {
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub in_controlled_shutdown: bool,
    pub should_shut_down: bool,
}

/// The session half of Kafka's `ClusterControlManager`.
#[derive(Clone, Debug)]
pub struct ClusterControl {
    session_timeout_ms: u64,
    /// `None` while not active (Kafka's `heartbeatManager == null`).
    heartbeats: Option<BrokerHeartbeatManager>,
}

impl ClusterControl {
    pub fn new(session_timeout_ms: u64) -> Self {
        ClusterControl {
            session_timeout_ms,
            heartbeats: None,
        }
    }

    pub fn heartbeats(&self) -> Option<&BrokerHeartbeatManager> {
        self.heartbeats.as_ref()
    }

    fn heartbeats_mut(&mut self) -> &mut BrokerHeartbeatManager {
        self.heartbeats
            .as_mut()
            .expect("ClusterControlManager is not active")
    }

    /// `ClusterControlManager.activate`: a fresh session for every registered broker,
    /// starting now, so a broker that died just before the failover is fenced only a full
    /// session timeout after it.
    pub fn activate(&mut self, image: &MetadataImage, now_ms: u64) {
        let mut heartbeats = BrokerHeartbeatManager::new(self.session_timeout_ms);
        for registration in image.brokers.values() {
            heartbeats.register(registration.id, registration.fenced, now_ms);
        }
        self.heartbeats = Some(heartbeats);
    }

    /// `ClusterControlManager.deactivate`: the session state is dropped.
    pub fn deactivate(&mut self) {
        self.heartbeats = None;
    }

    /// What replaying a record does to the sessions (the `heartbeatManager` calls in
    /// `ClusterControlManager.replay`), after `image` has replayed it.
    pub fn on_replay(&mut self, image: &MetadataImage, record: &MetadataRecord, now_ms: u64) {
        let Some(heartbeats) = self.heartbeats.as_mut() else {
            return;
        };
        match record {
            MetadataRecord::RegisterBroker(r) => {
                heartbeats.remove(r.broker);
                heartbeats.register(r.broker, r.fenced, now_ms);
            }
            MetadataRecord::UnregisterBroker { broker, .. } => heartbeats.remove(*broker),
            MetadataRecord::BrokerRegistrationChange { broker, .. } => {
                if let Some(registration) = image.brokers.get(broker) {
                    heartbeats.register(*broker, registration.fenced, now_ms);
                }
            }
            _ => {}
        }
    }

    /// `ClusterControlManager.registerBroker`. `new_broker_epoch` is the offset the
    /// registration's records start at (`offsetControl.nextWriteOffset`).
    pub fn register_broker(
        &mut self,
        image: &MetadataImage,
        defaults: &ReplicationDefaults,
        request: &BrokerRegistrationRequest,
        new_broker_epoch: u64,
        now_ms: u64,
    ) -> Result<(Vec<MetadataRecord>, BrokerRegistrationReply), ApiError> {
        let broker = request.broker;
        let existing = image.brokers.get(&broker);
        let heartbeats = self.heartbeats_mut();
        // Another process with this id still has a live session.
        if let Some(existing) = existing {
            if heartbeats.has_valid_session(broker, now_ms)
                && existing.incarnation != request.incarnation
            {
                return Err(ApiError::DuplicateBrokerRegistration);
            }
        }
        let mut records = Vec::new();
        let record = match existing {
            Some(existing) if existing.incarnation == request.incarnation => {
                // The same process registering again: the registration is amended, the
                // epoch and state kept.
                RegisterBrokerRecord {
                    broker,
                    incarnation: request.incarnation,
                    broker_epoch: existing.epoch,
                    rack: request.rack.clone(),
                    fenced: existing.fenced,
                    in_controlled_shutdown: existing.in_controlled_shutdown,
                }
            }
            _ => {
                // A new incarnation: BrokerUncleanShutdownHandler first (KIP-966), then a
                // fenced registration whose epoch is the offset its batch starts at.
                rc::handle_broker_unclean_shutdown(image, defaults, broker, &mut records);
                RegisterBrokerRecord {
                    broker,
                    incarnation: request.incarnation,
                    broker_epoch: new_broker_epoch,
                    rack: request.rack.clone(),
                    fenced: true,
                    in_controlled_shutdown: false,
                }
            }
        };
        let new_incarnation = existing.is_none_or(|e| e.incarnation != request.incarnation);
        let reply = BrokerRegistrationReply {
            broker_epoch: record.broker_epoch,
        };
        let fenced = record.fenced;
        records.push(MetadataRecord::RegisterBroker(record));
        let heartbeats = self.heartbeats_mut();
        if new_incarnation {
            heartbeats.remove(broker);
        }
        heartbeats.register(broker, fenced, now_ms);
        Ok((records, reply))
    }

    /// `ReplicationControlManager.processBrokerHeartbeat`: the next state, the records that
    /// get the broker there, and the answer. `register_record_offset` is the offset of the
    /// broker's registration record in the image. Returns whether the broker is now in
    /// controlled shutdown, so the caller records the offset its batch ends at
    /// (`processBatchEndOffset`).
    pub fn process_broker_heartbeat(
        &mut self,
        image: &MetadataImage,
        defaults: &ReplicationDefaults,
        request: &BrokerHeartbeatRequest,
        now_ms: u64,
    ) -> Result<(Vec<MetadataRecord>, BrokerHeartbeatReply), ApiError> {
        let broker = request.broker;
        // QuorumController.processBrokerHeartbeat: no registration, no heartbeat.
        let register_record_offset = image
            .brokers
            .get(&broker)
            .map(|r| r.register_record_offset)
            .ok_or(ApiError::StaleBrokerEpoch)?;
        rc::check_broker_epoch(image, broker, request.broker_epoch)?;
        let intent = HeartbeatIntent {
            current_metadata_offset: request.current_metadata_offset,
            want_fence: request.want_fence,
            want_shut_down: request.want_shut_down,
        };
        let heartbeats = self.heartbeats_mut();
        let (current, next) =
            heartbeats.calculate_next_broker_state(broker, &intent, register_record_offset, || {
                rc::has_leaderships(image, broker)
            });
        let mut records = Vec::new();
        if current != next {
            match next {
                BrokerControlState::Fenced | BrokerControlState::ShutdownNow => {
                    rc::handle_broker_fenced(image, defaults, broker, &mut records)
                }
                BrokerControlState::Unfenced => rc::handle_broker_unfenced(
                    image,
                    defaults,
                    broker,
                    request.broker_epoch,
                    &mut records,
                ),
                BrokerControlState::ControlledShutdown => rc::handle_broker_in_controlled_shutdown(
                    image,
                    defaults,
                    broker,
                    request.broker_epoch,
                    &mut records,
                ),
            }
        }
        self.heartbeats_mut().touch(
            broker,
            next.fenced(),
            request.current_metadata_offset,
            now_ms,
        );
        let reply = BrokerHeartbeatReply {
            is_caught_up: request
                .current_metadata_offset
                .is_some_and(|o| o >= register_record_offset),
            is_fenced: next.fenced(),
            in_controlled_shutdown: next.in_controlled_shutdown(),
            should_shut_down: next.should_shut_down(),
        };
        Ok((records, reply))
    }

    /// `ReplicationControlManager.processExpiredBrokerHeartbeat`: a heartbeat that waited
    /// too long in the queue still counts as contact, but changes no state.
    pub fn process_expired_broker_heartbeat(
        &mut self,
        image: &MetadataImage,
        request: &BrokerHeartbeatRequest,
        now_ms: u64,
    ) -> Result<(), ApiError> {
        rc::check_broker_epoch(image, request.broker, request.broker_epoch)?;
        let fenced = image.brokers[&request.broker].fenced;
        self.heartbeats_mut().touch(
            request.broker,
            fenced,
            request.current_metadata_offset,
            now_ms,
        );
        Ok(())
    }

    /// The controlled-shutdown offset of a heartbeat's batch
    /// (`maybeUpdateControlledShutdownOffset`).
    pub fn record_controlled_shutdown_offset(&mut self, broker: BrokerId, batch_end_offset: u64) {
        self.heartbeats_mut()
            .maybe_update_controlled_shutdown_offset(broker, batch_end_offset);
    }

    /// `ReplicationControlManager.maybeFenceOneStaleBroker`: fences the unfenced broker
    /// heard from longest ago if its session expired.
    pub fn maybe_fence_one_stale_broker(
        &mut self,
        image: &MetadataImage,
        defaults: &ReplicationDefaults,
        now_ms: u64,
    ) -> Option<(BrokerId, Vec<MetadataRecord>)> {
        let heartbeats = self.heartbeats_mut();
        let broker = heartbeats.find_one_stale_broker(now_ms)?;
        let mut records = Vec::new();
        rc::handle_broker_fenced(image, defaults, broker, &mut records);
        self.heartbeats_mut().fence(broker);
        Some((broker, records))
    }

    /// `ReplicationControlManager.unregisterBroker`.
    pub fn unregister_broker(
        &self,
        image: &MetadataImage,
        defaults: &ReplicationDefaults,
        broker: BrokerId,
    ) -> Result<Vec<MetadataRecord>, ApiError> {
        let registration = image
            .brokers
            .get(&broker)
            .ok_or(ApiError::BrokerIdNotRegistered)?;
        let mut records = Vec::new();
        rc::handle_broker_unregistered(image, defaults, broker, registration.epoch, &mut records);
        Ok(records)
    }

    /// When the oldest unfenced session expires (`nextCheckTimeNs`).
    pub fn next_check_time_ms(&self) -> Option<u64> {
        self.heartbeats.as_ref()?.next_check_time_ms()
    }
}
