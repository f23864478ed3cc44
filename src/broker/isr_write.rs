//! A leader's ISR change before KIP-497 (`inter.broker.protocol.version` below 2.7): the
//! leader writes the partition's state znode itself and tells the controller afterwards.
//!
//! Two steps, as in Kafka:
//! 1. the write: the new ISR, the leader's epoch and its controller epoch, conditional on
//!    the znode version the leader got with its last LeaderAndIsr (`Partition.updateIsr` up
//!    to 2.6, `ZkAlterPartitionManager.submit` from 2.7 when the protocol is older). When
//!    the znode moved on (the controller wrote a newer state), the write fails and the ISR
//!    stays as it was: "Cached zkVersion not equal to that in zookeeper, skip updating ISR".
//! 2. the notification: every 2.5 s the broker checks whether ISR changes wait to be told,
//!    and writes them all in one sequential `/isr_change_notification/isr_change_` znode once
//!    no change came for 5 s or the last notification is 60 s old
//!    (`ReplicaManager.maybePropagateIsrChanges`). The controller answers it with an
//!    UpdateMetadata to every broker; until then, the controller's own view of the ISR (and
//!    every broker's metadata) is the old one.
//!
//! Kafka's write is synchronous: it holds the partition's lock for one ZooKeeper round trip,
//! so nothing else happens to the partition meanwhile. Here the change is pending for that
//! round trip instead, as an AlterIsr is: no other ISR change starts and the high watermark
//! counts the larger of the two ISRs, so it moves no further than Kafka's would.

use super::partition::Role;
use super::zk_client::ZkPurpose;
use super::{Broker, BrokerTimer};
use crate::actor::Output;
use crate::controller::state_path;
use crate::event::Event;
use crate::protocol::*;
use crate::types::*;
use std::collections::BTreeSet;

/// How often a broker looks for ISR changes to tell the controller about (Kafka's
/// `isr-change-propagation` task: `IsrChangePropagationConfig.checkIntervalMs`).
pub const ISR_CHANGE_CHECK_INTERVAL_MS: u64 = 2_500;

/// A batch waits until no ISR change came for this long (`lingerMs`, formerly
/// `IsrChangePropagationBlackOut`)...
pub const ISR_CHANGE_LINGER_MS: u64 = 5_000;

/// ...or until the last notification is this old (`maxDelayMs`, formerly
/// `IsrChangePropagationInterval`).
pub const ISR_CHANGE_MAX_DELAY_MS: u64 = 60_000;

/// The znode name prefix of an ISR change notification (`IsrChangeNotificationSequenceZNode`).
pub const ISR_CHANGE_NOTIFICATION_PREFIX: &str = "/isr_change_notification/isr_change_";

/// The ISR changes this broker wrote and has not told the controller about yet (Kafka's
/// `isrChangeSet`, `lastIsrChangeMs`, `lastIsrPropagationMs`).
#[derive(Clone, Debug, Default)]
pub(super) struct IsrChangeNotifier {
    changed: BTreeSet<TopicPartition>,
    last_change_ms: u64,
    last_propagation_ms: u64,
}

impl IsrChangeNotifier {
    /// Both clocks start when the broker does, as Kafka's start at `ReplicaManager`'s creation.
    pub(super) fn starting(now_ms: u64) -> IsrChangeNotifier {
        IsrChangeNotifier {
            changed: BTreeSet::new(),
            last_change_ms: now_ms,
            last_propagation_ms: now_ms,
        }
    }

    /// `ReplicaManager.recordIsrChange`.
    pub(super) fn record(&mut self, now_ms: u64, tp: &TopicPartition) {
        self.changed.insert(tp.clone());
        self.last_change_ms = now_ms;
    }

    /// The partitions to tell the controller about now, if any: Kafka's
    /// `maybePropagateIsrChanges` condition (strictly later than either deadline).
    pub(super) fn take_due(&mut self, now_ms: u64) -> Option<Vec<TopicPartition>> {
        let lingered = self.last_change_ms + ISR_CHANGE_LINGER_MS < now_ms;
        let overdue = self.last_propagation_ms + ISR_CHANGE_MAX_DELAY_MS < now_ms;
        if self.changed.is_empty() || !(lingered || overdue) {
            return None;
        }
        self.last_propagation_ms = now_ms;
        Some(std::mem::take(&mut self.changed).into_iter().collect())
    }
}

/// What a leader proposes when it writes its ISR to ZooKeeper.
pub(super) struct IsrWrite {
    pub(super) leader_epoch: LeaderEpoch,
    /// The state znode version the leader holds (its partition epoch).
    pub(super) zk_version: i32,
    pub(super) controller_epoch: i32,
    pub(super) isr: Vec<BrokerId>,
}

impl Broker {
    /// Writes `write.isr` to `tp`'s state znode, if the version is still `write.zk_version`
    /// (`ReplicationUtils.updateLeaderAndIsr`).
    pub(super) fn write_isr_to_zk(
        &mut self,
        tp: &TopicPartition,
        write: IsrWrite,
        out: &mut Output<BrokerTimer>,
    ) {
        let data = ZkData::PartitionState {
            leader: Some(self.id),
            leader_epoch: write.leader_epoch,
            isr: write.isr.clone(),
            controller_epoch: write.controller_epoch,
        };
        let op = ZkOp::SetData {
            path: state_path(tp),
            data,
            version: Some(write.zk_version),
        };
        let purpose = ZkPurpose::IsrWrite {
            tp: tp.clone(),
            leader_epoch: write.leader_epoch,
            isr: write.isr,
        };
        self.zk.request(op, purpose, out);
    }

    /// ZooKeeper's answer to a leader's ISR write. A written ISR is this leader's ISR from
    /// now, and waits to be told to the controller. A refused one: from 2.7 the change stays
    /// pending until a LeaderAndIsr brings the state that won (`Partition.handleAlterPartitionError`'s
    /// INVALID_UPDATE_VERSION); before, the ISR stays as it was and the next check proposes the
    /// change again, against the same stale version, until a LeaderAndIsr brings a new one.
    pub(super) fn on_isr_write_result(
        &mut self,
        now_ms: u64,
        tp: TopicPartition,
        leader_epoch: LeaderEpoch,
        isr: Vec<BrokerId>,
        result: ZkResult,
        out: &mut Output<BrokerTimer>,
    ) {
        let awaits_leader_and_isr = self.release().has_alter_partition_manager();
        let id = self.id;
        // The ISR may change: followers' lazily kept fetch times are written out first.
        self.materialize_followers(&tp, None);
        let Some(p) = self.partitions.get_mut(&tp) else {
            return;
        };
        let Role::Leader(leader) = &mut p.role else {
            return;
        };
        if p.leader_epoch != leader_epoch {
            // A LeaderAndIsr came since, with the controller's newer state.
            return;
        }
        let was_pending = leader.pending_isr.as_ref() == Some(&isr);
        match result {
            ZkResult::Ok { version } => {
                assert!(
                    version > p.partition_epoch,
                    "a write on top of version {} of {tp}'s state made version {version}",
                    p.partition_epoch
                );
                if was_pending {
                    leader.pending_isr = None;
                }
                self.apply_isr(now_ms, &tp, isr, version, out);
                self.isr_changes.record(now_ms, &tp);
            }
            _ if was_pending => {
                out.event(Event::IsrWriteConflict {
                    tp: tp.clone(),
                    leader: id,
                    cached_zk_version: p.partition_epoch,
                    awaits_leader_and_isr,
                });
                if awaits_leader_and_isr {
                    // No retry, and the timer must not clear the change either.
                    leader.alter_isr_attempt += 1;
                } else {
                    leader.pending_isr = None;
                }
            }
            _ => {}
        }
    }

    /// The `isr-change-propagation` task: writes the waiting ISR changes into one
    /// notification znode when they are due, and checks again in 2.5 s.
    pub(super) fn maybe_propagate_isr_changes(
        &mut self,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        out.timer(
            ISR_CHANGE_CHECK_INTERVAL_MS,
            BrokerTimer::IsrChangePropagation,
        );
        if self.zk.session_id.is_none() {
            // Kafka's ZooKeeper client would wait for its session; the changes wait here.
            return;
        }
        let Some(partitions) = self.isr_changes.take_due(now_ms) else {
            return;
        };
        let op = ZkOp::CreateSequential {
            path_prefix: ISR_CHANGE_NOTIFICATION_PREFIX.into(),
            data: ZkData::IsrChangeNotification(partitions.clone()),
        };
        self.zk.request(op, ZkPurpose::IsrChangeNotification, out);
        out.event(Event::IsrChangesPropagated {
            broker: self.id,
            partitions,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: u32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    /// A partition that keeps changing is still told 60 s after the last notice, and not a
    /// millisecond before (strictly later, as the linger).
    #[test]
    fn a_busy_partition_is_told_sixty_seconds_after_the_last_notice() {
        let mut n = IsrChangeNotifier::starting(0);
        n.record(59_999, &tp(0));
        assert_eq!(n.take_due(60_000), None, "exactly 60 s: not yet");
        n.record(60_000, &tp(0));
        assert_eq!(n.take_due(60_001), Some(vec![tp(0)]));
    }

    /// Both clocks start with the broker: one restarted late in a run still waits the 5
    /// quiet seconds before its first notice, not only 60 s after time zero.
    #[test]
    fn a_broker_that_starts_late_still_waits_for_quiet() {
        let mut n = IsrChangeNotifier::starting(100_000);
        n.record(100_500, &tp(0));
        assert_eq!(n.take_due(102_500), None);
        assert_eq!(n.take_due(105_501), Some(vec![tp(0)]));
    }

    #[test]
    fn changes_wait_for_five_quiet_seconds_or_sixty_since_the_last_notice() {
        let mut n = IsrChangeNotifier::starting(0);
        assert_eq!(n.take_due(100_000), None, "nothing changed");
        n.record(1_000, &tp(0));
        assert_eq!(
            n.take_due(6_000),
            None,
            "5 s after the change: not yet (strictly later)"
        );
        assert_eq!(n.take_due(6_001), Some(vec![tp(0)]));
        assert_eq!(n.take_due(20_000), None, "told already");
        // A partition that keeps changing still gets told 60 s after the last notice.
        for t_ms in (10_000..=67_000).step_by(1_000) {
            n.record(t_ms, &tp((t_ms / 1_000) as u32 % 2));
            let due = n.take_due(t_ms);
            assert_eq!(due.is_some(), t_ms > 66_001, "at {t_ms}");
            if let Some(partitions) = due {
                assert_eq!(partitions, vec![tp(0), tp(1)]);
            }
        }
    }
}
