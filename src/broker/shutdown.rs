//! A broker's orderly exit (`KafkaServer.shutdown` after a SIGTERM) and its counterpart at
//! start, the clean-shutdown marker.
//!
//! Why it matters: a broker that is killed leaves its partitions leaderless until ZooKeeper
//! expires its session (6 s to 18 s by default), and its logs need recovery at the next
//! start. A broker stopped cleanly first asks the controller to move its leaderships to
//! other in-sync replicas and to take it out of the ISRs it follows
//! (`KafkaServer.controlledShutdown`, `controlled.shutdown.enable`), retries that
//! `controlled.shutdown.max.retries` times `controlled.shutdown.retry.backoff.ms` apart
//! while it still leads something, and then goes down anyway. Going down, it flushes every
//! log and checkpoints the high watermarks (`ReplicaManager.shutdown`, `LogManager.shutdown`),
//! writes `.kafka_cleanshutdown`, and closes its ZooKeeper session, so its `/brokers/ids`
//! znode goes at once and the controller hears of the exit right away.

use super::zk_client::ZkPurpose;
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;

/// A controlled shutdown under way.
#[derive(Clone, Debug, Default)]
pub(super) struct ControlledShutdown {
    /// Attempts made so far (Kafka counts the retries left down from
    /// `controlled.shutdown.max.retries`).
    attempt: u32,
    /// The request in flight: its correlation id and the controller it went to.
    awaiting: Option<(u64, BrokerId)>,
}

impl Broker {
    /// The operator's SIGTERM (`KafkaServer.shutdown`). Kafka asks the controller only when
    /// the broker finished starting up (`startupComplete`); here, when it holds a ZooKeeper
    /// session.
    pub(super) fn on_terminate(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        if self.exited || self.shutdown.is_some() {
            return;
        }
        if self.kraft.is_some() {
            self.kraft_begin_controlled_shutdown(now_ms, out);
            return;
        }
        let asks = self.config.controlled_shutdown_enable
            && self.config.controlled_shutdown_max_retries > 0
            && self.zk.session_id.is_some();
        if !asks {
            self.finish_shutdown(false, out);
            return;
        }
        self.shutdown = Some(ControlledShutdown::default());
        self.attempt_controlled_shutdown(out);
    }

    /// One attempt: a ControlledShutdownRequest to the controller this broker knows of,
    /// bounded by `controller.socket.timeout.ms` (Kafka's `NetworkClient` request timeout
    /// in `KafkaServer.controlledShutdown`).
    fn attempt_controlled_shutdown(&mut self, out: &mut Output<BrokerTimer>) {
        let correlation_id = self.next_correlation();
        let controller = self.controller_id;
        let Some(shutdown) = self.shutdown.as_mut() else {
            return;
        };
        shutdown.attempt += 1;
        let attempt = shutdown.attempt;
        out.event(Event::ControlledShutdownRequested {
            broker: self.id,
            controller,
            attempt,
            attempts_max: self.config.controlled_shutdown_max_retries,
        });
        let Some(controller) = controller else {
            // Kafka: "No controller present, retrying".
            self.controlled_shutdown_failed("no controller is known".into(), Vec::new(), out);
            return;
        };
        shutdown.awaiting = Some((correlation_id, controller));
        out.send(
            NodeId::Broker(controller),
            Message::ControlledShutdown(ControlledShutdownRequest {
                broker_id: self.id,
                correlation_id,
            }),
        );
        out.timer(
            self.config.controller_socket_timeout_ms,
            BrokerTimer::ControlledShutdownTimeout { attempt },
        );
    }

    /// The controller's answer: done when it leads nothing any more, else another attempt.
    pub(super) fn on_controlled_shutdown_response(
        &mut self,
        response: ControlledShutdownResponse,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(shutdown) = self.shutdown.as_mut() else {
            return;
        };
        if shutdown.awaiting.map(|(c, _)| c) != Some(response.correlation_id) {
            return;
        }
        shutdown.awaiting = None;
        if response.error != ErrorCode::None {
            let why = format!("the controller answered {}", response.error.name());
            self.controlled_shutdown_failed(why, Vec::new(), out);
        } else if response.partitions_remaining.is_empty() {
            self.finish_shutdown(true, out);
        } else {
            let why = "the controller could not move every leadership".to_string();
            self.controlled_shutdown_failed(why, response.partitions_remaining, out);
        }
    }

    /// The attempt's request timed out.
    pub(super) fn on_controlled_shutdown_timeout(
        &mut self,
        attempt: u32,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(shutdown) = self.shutdown.as_mut() else {
            return;
        };
        if shutdown.attempt != attempt || shutdown.awaiting.is_none() {
            return;
        }
        shutdown.awaiting = None;
        let why = format!(
            "no answer within controller.socket.timeout.ms ({} ms)",
            self.config.controller_socket_timeout_ms
        );
        self.controlled_shutdown_failed(why, Vec::new(), out);
    }

    /// The connection to the controller the attempt went to broke (Kafka's `IOException`
    /// in `controlledShutdown`: "ignore and try again").
    pub(super) fn on_controlled_shutdown_disconnect(
        &mut self,
        peer: NodeId,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(shutdown) = self.shutdown.as_mut() else {
            return;
        };
        match shutdown.awaiting {
            Some((_, controller)) if NodeId::Broker(controller) == peer => {}
            _ => return,
        }
        shutdown.awaiting = None;
        let why = format!("the connection to controller {peer} broke");
        self.controlled_shutdown_failed(why, Vec::new(), out);
    }

    /// An attempt failed: wait `controlled.shutdown.retry.backoff.ms` and try again, or,
    /// with no retry left, go down anyway ("Proceeding to do an unclean shutdown as all the
    /// controlled shutdown attempts failed"; the logs are still flushed and closed).
    fn controlled_shutdown_failed(
        &mut self,
        why: String,
        remaining: Vec<TopicPartition>,
        out: &mut Output<BrokerTimer>,
    ) {
        let attempt = self.shutdown.as_ref().map_or(0, |s| s.attempt);
        out.event(Event::ControlledShutdownAttemptFailed {
            broker: self.id,
            attempt,
            attempts_max: self.config.controlled_shutdown_max_retries,
            why,
            remaining,
        });
        if attempt < self.config.controlled_shutdown_max_retries {
            out.timer(
                self.config.controlled_shutdown_retry_backoff_ms,
                BrokerTimer::ControlledShutdownRetry { attempt },
            );
        } else {
            self.finish_shutdown(false, out);
        }
    }

    /// The backoff after a failed attempt ended.
    pub(super) fn on_controlled_shutdown_retry(
        &mut self,
        attempt: u32,
        out: &mut Output<BrokerTimer>,
    ) {
        if self.shutdown.as_ref().is_some_and(|s| s.attempt == attempt) {
            self.attempt_controlled_shutdown(out);
        }
    }

    /// The rest of `KafkaServer.shutdown`: `ReplicaManager.shutdown` checkpoints the high
    /// watermarks, `LogManager.shutdown` flushes and closes every log and writes the
    /// clean-shutdown marker, the controller resigns, and `zkClient.close` ends the session.
    pub(super) fn finish_shutdown(&mut self, controlled: bool, out: &mut Output<BrokerTimer>) {
        self.checkpoint_high_watermarks();
        let mut flushed_logs = 0;
        for log in self.disk.logs.values_mut() {
            log.flush();
            flushed_logs += 1;
        }
        self.disk.clean_shutdown = true;
        self.resign_controller();
        if self.kraft.is_none() {
            self.zk
                .request(ZkOp::CloseSession, ZkPurpose::CloseSession, out);
        }
        out.event(Event::BrokerShutDown {
            broker: self.id,
            controlled,
            flushed_logs,
        });
        self.shutdown = None;
        self.exited = true;
    }

    /// At start: a clean-shutdown marker means the logs need no recovery (`LogLoader`:
    /// `hadCleanShutdown`); [`Broker::recover_logs_then_connect`] removes it, so a crash from
    /// there on is unclean.
    pub(super) fn announce_clean_start(&mut self, out: &mut Output<BrokerTimer>) {
        if self.disk.clean_shutdown {
            out.event(Event::BrokerStartedClean { broker: self.id });
        }
    }

    /// Kafka's `ReplicaManager.stopReplicas` without delete: the replicas stop fetching and
    /// keep their logs, until a LeaderAndIsr says otherwise.
    pub(super) fn on_stop_replica(
        &mut self,
        request: StopReplicaRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        if !self.accept_controller_epoch(request.controller_epoch, out) {
            return;
        }
        for tp in request.partitions {
            let Some(p) = self.partitions.get_mut(&tp) else {
                continue;
            };
            if let super::partition::Role::Follower { leader, .. } = &mut p.role {
                *leader = None;
            }
            self.stop_fetching(&tp);
        }
    }

    /// A ControlledShutdownRequest reached this broker: its controller handles it, or, when
    /// it hosts none, the answer is NOT_CONTROLLER.
    pub(super) fn on_controlled_shutdown_request(
        &mut self,
        request: ControlledShutdownRequest,
        out: &mut Output<BrokerTimer>,
    ) {
        if let Some(mut controller) = self.controller.take() {
            self.with_controller_output(out, |controller_out| {
                controller.on_controlled_shutdown(request, controller_out)
            });
            self.controller = Some(controller);
            return;
        }
        out.send(
            NodeId::Broker(request.broker_id),
            Message::ControlledShutdownResponse(ControlledShutdownResponse {
                correlation_id: request.correlation_id,
                error: ErrorCode::NotController,
                partitions_remaining: Vec::new(),
            }),
        );
    }
}
