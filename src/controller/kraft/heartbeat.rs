//! The active controller's soft state about broker sessions (Kafka's
//! `BrokerHeartbeatManager`): when each broker was last heard from, the metadata offset it
//! reported, and whether it is in controlled shutdown. None of it is in the metadata log;
//! a controller that becomes active starts it afresh (`ClusterControlManager.activate`).

use crate::types::BrokerId;
use serde::Serialize;
use std::collections::BTreeMap;

/// What a heartbeat leads to (Kafka's `BrokerControlState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BrokerControlState {
    Fenced,
    Unfenced,
    ControlledShutdown,
    ShutdownNow,
}

impl BrokerControlState {
    pub fn fenced(self) -> bool {
        matches!(
            self,
            BrokerControlState::Fenced | BrokerControlState::ShutdownNow
        )
    }

    pub fn in_controlled_shutdown(self) -> bool {
        self == BrokerControlState::ControlledShutdown
    }

    pub fn should_shut_down(self) -> bool {
        self == BrokerControlState::ShutdownNow
    }
}

/// The part of a `BrokerHeartbeatRequest` the next state depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HeartbeatIntent {
    /// The broker's current metadata offset; `None` is Kafka's -1 (nothing replayed yet).
    pub current_metadata_offset: Option<u64>,
    pub want_fence: bool,
    pub want_shut_down: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct BrokerHeartbeatState {
    last_contact_ms: u64,
    /// Kafka's -1 is `None`.
    metadata_offset: Option<u64>,
    /// Position among the unfenced brokers when contact times tie: Kafka's list keeps the
    /// broker added last behind the others with the same contact time.
    unfenced_seq: Option<u64>,
    controlled_shutdown_offset: Option<u64>,
}

impl BrokerHeartbeatState {
    fn fenced(&self) -> bool {
        self.unfenced_seq.is_none()
    }

    fn shutting_down(&self) -> bool {
        self.controlled_shutdown_offset.is_some()
    }
}

/// Kafka's `BrokerHeartbeatManager`, with time passed in.
#[derive(Clone, Debug)]
pub struct BrokerHeartbeatManager {
    session_timeout_ms: u64,
    brokers: BTreeMap<BrokerId, BrokerHeartbeatState>,
    next_seq: u64,
}

impl BrokerHeartbeatManager {
    pub fn new(session_timeout_ms: u64) -> Self {
        BrokerHeartbeatManager {
            session_timeout_ms,
            brokers: BTreeMap::new(),
            next_seq: 0,
        }
    }

    pub fn session_timeout_ms(&self) -> u64 {
        self.session_timeout_ms
    }

    pub fn is_tracked(&self, broker: BrokerId) -> bool {
        self.brokers.contains_key(&broker)
    }

    /// `BrokerHeartbeatManager.fence`: the broker leaves the unfenced list.
    pub fn fence(&mut self, broker: BrokerId) {
        if let Some(state) = self.brokers.get_mut(&broker) {
            state.unfenced_seq = None;
        }
    }

    /// `BrokerHeartbeatManager.remove`.
    pub fn remove(&mut self, broker: BrokerId) {
        self.brokers.remove(&broker);
    }

    /// `BrokerHeartbeatManager.hasValidSession`: unfenced and heard from within the session
    /// timeout.
    pub fn has_valid_session(&self, broker: BrokerId, now_ms: u64) -> bool {
        self.brokers
            .get(&broker)
            .is_some_and(|s| self.valid_session(s, now_ms))
    }

    fn valid_session(&self, state: &BrokerHeartbeatState, now_ms: u64) -> bool {
        !state.fenced() && state.last_contact_ms + self.session_timeout_ms >= now_ms
    }

    /// `BrokerHeartbeatManager.register`: tracks the broker (as a fresh contact at `now_ms`),
    /// keeping its metadata offset only when its fencing changes.
    pub fn register(&mut self, broker: BrokerId, fenced: bool, now_ms: u64) {
        let metadata_offset = match self.brokers.get(&broker) {
            None => {
                self.brokers.insert(
                    broker,
                    BrokerHeartbeatState {
                        last_contact_ms: now_ms,
                        metadata_offset: None,
                        unfenced_seq: None,
                        controlled_shutdown_offset: None,
                    },
                );
                None
            }
            Some(state) if state.fenced() != fenced => state.metadata_offset,
            Some(_) => None,
        };
        self.touch(broker, fenced, metadata_offset, now_ms);
    }

    /// `BrokerHeartbeatManager.touch`: records contact and the broker's metadata offset; a
    /// fenced broker leaves controlled shutdown.
    pub fn touch(
        &mut self,
        broker: BrokerId,
        fenced: bool,
        metadata_offset: Option<u64>,
        now_ms: u64,
    ) {
        let seq = self.next_seq;
        let state = self
            .brokers
            .get_mut(&broker)
            .unwrap_or_else(|| panic!("broker {broker} is not registered"));
        state.last_contact_ms = now_ms;
        state.metadata_offset = metadata_offset;
        if fenced {
            state.unfenced_seq = None;
            state.controlled_shutdown_offset = None;
        } else {
            state.unfenced_seq = Some(seq);
            self.next_seq += 1;
        }
    }

    /// `BrokerHeartbeatManager.lowestActiveOffset`: the lowest metadata offset among
    /// unfenced brokers not shutting down (`Some(u64::MAX)` when there are none; `None` is
    /// a broker at Kafka's -1).
    pub fn lowest_active_offset(&self) -> Option<u64> {
        self.brokers
            .values()
            .filter(|s| !s.fenced() && !s.shutting_down())
            .map(|s| s.metadata_offset)
            .min()
            .unwrap_or(Some(u64::MAX))
    }

    /// `BrokerHeartbeatManager.maybeUpdateControlledShutdownOffset`: the first offset by
    /// which every active broker must have caught up before this one may shut down.
    pub fn maybe_update_controlled_shutdown_offset(&mut self, broker: BrokerId, offset: u64) {
        let state = self
            .brokers
            .get_mut(&broker)
            .unwrap_or_else(|| panic!("broker {broker} is not registered"));
        assert!(
            !state.fenced(),
            "fenced brokers cannot enter controlled shutdown"
        );
        if state.controlled_shutdown_offset.is_none() {
            state.controlled_shutdown_offset = Some(offset);
        }
    }

    pub fn controlled_shutdown_offset(&self, broker: BrokerId) -> Option<u64> {
        self.brokers.get(&broker)?.controlled_shutdown_offset
    }

    /// The unfenced broker heard from longest ago (Kafka's unfenced list head).
    fn first_unfenced(&self) -> Option<(BrokerId, &BrokerHeartbeatState)> {
        self.brokers
            .iter()
            .filter(|(_, s)| !s.fenced())
            .min_by_key(|(_, s)| (s.last_contact_ms, s.unfenced_seq))
            .map(|(b, s)| (*b, s))
    }

    /// `BrokerHeartbeatManager.nextCheckTimeNs`: when the oldest unfenced session expires.
    pub fn next_check_time_ms(&self) -> Option<u64> {
        self.first_unfenced()
            .map(|(_, s)| s.last_contact_ms + self.session_timeout_ms)
    }

    /// `BrokerHeartbeatManager.findOneStaleBroker`: the unfenced broker heard from longest
    /// ago, if its session has expired.
    pub fn find_one_stale_broker(&self, now_ms: u64) -> Option<BrokerId> {
        let (broker, state) = self.first_unfenced()?;
        (!self.valid_session(state, now_ms)).then_some(broker)
    }

    /// `BrokerHeartbeatManager.calculateNextBrokerState`. `register_record_offset` is the
    /// offset of the broker's registration record; `has_leaderships` whether it leads any
    /// partition.
    pub fn calculate_next_broker_state(
        &self,
        broker: BrokerId,
        request: &HeartbeatIntent,
        register_record_offset: u64,
        has_leaderships: impl Fn() -> bool,
    ) -> (BrokerControlState, BrokerControlState) {
        use BrokerControlState::*;
        let state = self
            .brokers
            .get(&broker)
            .unwrap_or_else(|| panic!("broker {broker} is not registered"));
        let current = if state.shutting_down() {
            ControlledShutdown
        } else if state.fenced() {
            Fenced
        } else {
            Unfenced
        };
        let next = match current {
            Fenced => {
                if request.want_shut_down {
                    ShutdownNow
                } else if !request.want_fence
                    && request
                        .current_metadata_offset
                        .is_some_and(|o| o >= register_record_offset)
                {
                    Unfenced
                } else {
                    Fenced
                }
            }
            Unfenced => {
                if request.want_fence {
                    if request.want_shut_down {
                        ShutdownNow
                    } else {
                        Fenced
                    }
                } else if request.want_shut_down {
                    if has_leaderships() {
                        ControlledShutdown
                    } else {
                        ShutdownNow
                    }
                } else {
                    Unfenced
                }
            }
            ControlledShutdown => {
                if has_leaderships() {
                    ControlledShutdown
                } else if state.controlled_shutdown_offset <= self.lowest_active_offset() {
                    ShutdownNow
                } else {
                    ControlledShutdown
                }
            }
            ShutdownNow => ShutdownNow,
        };
        (current, next)
    }
}
