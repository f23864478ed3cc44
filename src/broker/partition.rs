use super::{Broker, BrokerTimer, ALTER_ISR_TIMEOUT_MS};
use crate::actor::Output;
use crate::event::{Event, TruncateReason};
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

/// A leader's view of one follower (Kafka's `Replica` state on the leader).
#[derive(Clone, Debug)]
pub(super) struct FollowerState {
    /// The follower's LEO, known from its last fetch offset; unknown after a leader change.
    pub(super) log_end_offset: Option<u64>,
    pub(super) last_caught_up_ms: u64,
    pub(super) last_fetch_ms: u64,
    pub(super) last_fetch_leader_log_end_offset: u64,
    /// Set while the follower is caught up and in the ISR, the leader's LEO has not moved
    /// since, and the follower fetches through this fetch session: Kafka would set both fetch
    /// times to the time of every fetch of the session, so they are read from the session's
    /// last fetch instead of being written for every idle partition on every fetch. Any
    /// change to the partition writes them out first (`materialize_followers`).
    pub(super) session: Option<u32>,
}

#[derive(Clone, Debug)]
pub(super) struct LeaderState {
    /// The leader's LEO when it took over this epoch (KAFKA-7128: a joiner must reach it).
    pub(super) epoch_start_offset: u64,
    pub(super) followers: BTreeMap<BrokerId, FollowerState>,
    /// An ISR change sent to the controller and not answered yet.
    pub(super) pending_isr: Option<Vec<BrokerId>>,
    pub(super) alter_isr_attempt: u64,
}

#[derive(Clone, Debug)]
pub(super) enum Role {
    Leader(LeaderState),
    /// Following `leader` (or waiting for one, when the partition is offline).
    Follower {
        leader: Option<BrokerId>,
        /// 0.11 to 2.6: an OffsetsForLeaderEpoch round trip is due before fetching.
        needs_epoch_lookup: bool,
    },
}

#[derive(Clone, Debug)]
pub(super) struct PartitionState {
    pub(super) replicas: Vec<BrokerId>,
    pub(super) leader_epoch: LeaderEpoch,
    pub(super) isr: Vec<BrokerId>,
    pub(super) partition_epoch: i32,
    pub(super) role: Role,
}

impl Broker {
    pub(super) fn make_leader(
        &mut self,
        now_ms: u64,
        p: LeaderAndIsrPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        let tp = p.tp.clone();
        let log = self.disk.logs.get_mut(&tp).expect("log exists");
        let leo = log.log_end_offset();
        log.assign_epoch_start(p.leader_epoch, leo);
        let followers = p
            .replicas
            .iter()
            .filter(|r| **r != self.id)
            .map(|r| {
                let in_sync = p.isr.contains(r);
                (
                    *r,
                    FollowerState {
                        log_end_offset: None,
                        last_caught_up_ms: if in_sync { now_ms } else { 0 },
                        last_fetch_ms: 0,
                        last_fetch_leader_log_end_offset: 0,
                        session: None,
                    },
                )
            })
            .collect();
        self.partitions.insert(
            tp.clone(),
            PartitionState {
                replicas: p.replicas.clone(),
                leader_epoch: p.leader_epoch,
                isr: p.isr.clone(),
                partition_epoch: p.partition_epoch,
                role: Role::Leader(LeaderState {
                    epoch_start_offset: leo,
                    followers,
                    pending_isr: None,
                    alter_isr_attempt: 0,
                }),
            },
        );
        let hw = self.high_watermark(&tp).min(leo);
        self.high_watermarks.insert(tp.clone(), hw);
        self.fetch_sessions.mark_dirty(&tp);
        self.stop_fetching(&tp);
        out.event(Event::BecameLeader {
            broker: self.id,
            tp: tp.clone(),
            leader_epoch: p.leader_epoch,
            log_end_offset: leo,
            high_watermark: hw,
            isr: p.isr.clone(),
        });
        self.fail_delayed_produces(&tp, p.leader_epoch, out);
        self.maybe_increment_hw(&tp, out);
        self.complete_delayed_fetches(&tp, out);
        if tp.topic == OFFSETS_TOPIC {
            self.with_coordinator(now_ms, out, |c, io| {
                c.on_election(tp.partition, p.leader_epoch, io)
            });
        }
    }

    pub(super) fn make_follower(
        &mut self,
        now_ms: u64,
        p: LeaderAndIsrPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        let tp = p.tp.clone();
        let protocol = self.protocol();
        self.partitions.insert(
            tp.clone(),
            PartitionState {
                replicas: p.replicas.clone(),
                leader_epoch: p.leader_epoch,
                isr: p.isr.clone(),
                partition_epoch: p.partition_epoch,
                role: Role::Follower {
                    leader: p.leader,
                    needs_epoch_lookup: protocol.uses_leader_epochs()
                        && !protocol.uses_truncation_on_fetch(),
                },
            },
        );
        self.fetch_sessions.mark_dirty(&tp);
        self.stop_fetching(&tp);
        if let Some(leader) = p.leader {
            self.fetch_state_changed(&tp, leader);
        }
        let leo = self.disk.logs[&tp].log_end_offset();
        out.event(Event::BecameFollower {
            broker: self.id,
            tp: tp.clone(),
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            log_end_offset: leo,
        });
        if !protocol.uses_leader_epochs() && p.leader.is_some() {
            // Before KIP-101 a new follower cut its log to its own high watermark, trusting
            // that everything above it was uncommitted. The HW can be stale (it lags the
            // leader's, and a restart reads it from a checkpoint), so committed records go too.
            let hw = self.high_watermark(&tp);
            self.truncate(
                &tp,
                hw,
                TruncateReason::HighWatermark { high_watermark: hw },
                out,
            );
        }
        self.fail_delayed_produces(&tp, p.leader_epoch, out);
        self.complete_delayed_fetches(&tp, out);
        if tp.topic == OFFSETS_TOPIC {
            self.with_coordinator(now_ms, out, |c, io| c.on_resignation(tp.partition, io));
        }
    }

    pub(super) fn on_alter_isr_response(
        &mut self,
        tp: TopicPartition,
        error: ErrorCode,
        state: Option<LeaderAndIsrPartition>,
        now_ms: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        let lag_time_max_ms = self.config.replica_lag_time_max_ms;
        let id = self.id;
        // The ISR may change: followers' lazily kept fetch times are written out first.
        self.materialize_followers(&tp, None);
        let Some(p) = self.partitions.get_mut(&tp) else {
            return;
        };
        let Role::Leader(leader) = &mut p.role else {
            return;
        };
        let Some(proposed) = leader.pending_isr.take() else {
            return;
        };
        let Some(state) = state else {
            out.event(Event::IsrChangeRejected {
                tp,
                leader: id,
                error,
            });
            return;
        };
        if state.leader_epoch != p.leader_epoch {
            // The controller moved on; a LeaderAndIsr with the new epoch is on its way.
            out.event(Event::IsrChangeRejected {
                tp,
                leader: id,
                error,
            });
            return;
        }
        let old_isr = std::mem::replace(&mut p.isr, state.isr.clone());
        p.partition_epoch = state.partition_epoch;
        if error != ErrorCode::None {
            out.event(Event::IsrChangeRejected {
                tp: tp.clone(),
                leader: id,
                error,
            });
        } else {
            debug_assert_eq!(proposed, state.isr);
            let removed: Vec<BrokerId> = old_isr
                .iter()
                .copied()
                .filter(|r| !state.isr.contains(r))
                .collect();
            let added: Vec<BrokerId> = state
                .isr
                .iter()
                .copied()
                .filter(|r| !old_isr.contains(r))
                .collect();
            if !removed.is_empty() {
                let lag_ms = removed
                    .iter()
                    .filter_map(|r| leader.followers.get(r))
                    .map(|f| now_ms.saturating_sub(f.last_caught_up_ms))
                    .max()
                    .unwrap_or(0);
                out.event(Event::IsrShrunk {
                    tp: tp.clone(),
                    leader: id,
                    leader_epoch: p.leader_epoch,
                    removed,
                    isr: state.isr.clone(),
                    lag_ms,
                    lag_time_max_ms,
                });
            }
            if !added.is_empty() {
                out.event(Event::IsrExpanded {
                    tp: tp.clone(),
                    leader: id,
                    leader_epoch: p.leader_epoch,
                    added,
                    isr: state.isr.clone(),
                });
            }
        }
        self.maybe_increment_hw(&tp, out);
    }

    pub(super) fn effective_min_isr(&self, tp: &TopicPartition, replicas: usize) -> usize {
        (self.topic_config(&tp.topic).min_insync_replicas as usize).min(replicas)
    }

    pub(super) fn set_high_watermark(
        &mut self,
        tp: &TopicPartition,
        new: u64,
        out: &mut Output<BrokerTimer>,
    ) {
        let old = self.high_watermark(tp);
        if old == new {
            return;
        }
        let leo = self.disk.logs.get(tp).map_or(0, |l| l.log_end_offset());
        assert!(
            new <= leo,
            "a replica's high watermark must not pass its log end offset"
        );
        self.high_watermarks.insert(tp.clone(), new);
        self.fetch_sessions.mark_dirty(tp);
        let (leader_epoch, is_leader) = self.partition_role(tp).unwrap_or((-1, false));
        out.event(Event::HighWatermarkChanged {
            broker: self.id,
            tp: tp.clone(),
            is_leader,
            leader_epoch,
            old,
            new,
            log_end_offset: leo,
        });
    }

    /// Kafka's `maybeIncrementLeaderHW`: the HW moves to the smallest LEO among the leader and
    /// the maximal ISR (the ISR plus a member whose joining is in flight). From 3.7 it does not
    /// move at all while the ISR is below `min.insync.replicas` (KAFKA-15583).
    pub(super) fn maybe_increment_hw(
        &mut self,
        tp: &TopicPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(p) = self.partitions.get(tp) else {
            return;
        };
        let Role::Leader(leader) = &p.role else {
            return;
        };
        if self.protocol().uses_strict_min_isr()
            && p.isr.len() < self.effective_min_isr(tp, p.replicas.len())
        {
            return;
        }
        let leo = self.disk.logs[tp].log_end_offset();
        let mut new_hw = leo;
        let maximal: BTreeSet<BrokerId> = p
            .isr
            .iter()
            .chain(leader.pending_isr.iter().flatten())
            .copied()
            .collect();
        for r in maximal {
            if r == self.id {
                continue;
            }
            match leader.followers.get(&r).and_then(|f| f.log_end_offset) {
                Some(follower_leo) => new_hw = new_hw.min(follower_leo),
                None => return,
            }
        }
        if new_hw > self.high_watermark(tp) {
            self.set_high_watermark(tp, new_hw, out);
            self.complete_delayed_produces(tp, out);
            self.complete_delayed_fetches(tp, out);
        }
    }

    /// Kafka's `maybeShrinkIsr`, run every `replica.lag.time.max.ms / 2`.
    pub(super) fn maybe_shrink_isrs(&mut self, now_ms: u64, out: &mut Output<BrokerTimer>) {
        let lag_max_ms = self.config.replica_lag_time_max_ms;
        let tps: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        for tp in tps {
            let leo = self.disk.logs.get(&tp).map_or(0, |l| l.log_end_offset());
            let Some(p) = self.partitions.get(&tp) else {
                continue;
            };
            let Role::Leader(leader) = &p.role else {
                continue;
            };
            if leader.pending_isr.is_some() {
                continue;
            }
            let out_of_sync: Vec<BrokerId> = p
                .isr
                .iter()
                .copied()
                .filter(|r| *r != self.id)
                .filter(|r| {
                    leader.followers.get(r).is_some_and(|f| {
                        f.log_end_offset != Some(leo)
                            && now_ms.saturating_sub(f.last_caught_up_ms) > lag_max_ms
                    })
                })
                .collect();
            if out_of_sync.is_empty() {
                continue;
            }
            let new_isr: Vec<BrokerId> = p
                .isr
                .iter()
                .copied()
                .filter(|r| !out_of_sync.contains(r))
                .collect();
            self.send_alter_isr(&tp, new_isr, out);
        }
    }

    pub(super) fn send_alter_isr(
        &mut self,
        tp: &TopicPartition,
        new_isr: Vec<BrokerId>,
        out: &mut Output<BrokerTimer>,
    ) {
        let id = self.id;
        let controller = self.controller_id;
        let p = self.partitions.get_mut(tp).expect("partition");
        let Role::Leader(leader) = &mut p.role else {
            return;
        };
        let Some(controller) = controller else {
            return;
        };
        leader.pending_isr = Some(new_isr.clone());
        leader.alter_isr_attempt += 1;
        out.send(
            NodeId::Broker(controller),
            Message::AlterIsr {
                broker_id: id,
                tp: tp.clone(),
                leader_epoch: p.leader_epoch,
                new_isr,
                partition_epoch: p.partition_epoch,
            },
        );
        out.timer(
            ALTER_ISR_TIMEOUT_MS,
            BrokerTimer::AlterIsrTimeout {
                tp: tp.clone(),
                attempt: leader.alter_isr_attempt,
            },
        );
    }

    /// The leader's side of a follower fetch (Kafka's `updateFollowerFetchState`).
    /// Kafka's `Partition.updateFollowerFetchState` (`Replica.updateFetchStateOrThrow`).
    pub(super) fn update_follower_fetch_state(
        &mut self,
        now_ms: u64,
        follower: BrokerId,
        tp: &TopicPartition,
        fetch_offset: u64,
        session: Option<u32>,
        out: &mut Output<BrokerTimer>,
    ) {
        let leo = self.disk.logs[tp].log_end_offset();
        let hw = self.high_watermark(tp);
        let p = self.partitions.get_mut(tp).expect("partition");
        let Role::Leader(leader) = &mut p.role else {
            return;
        };
        let Some(f) = leader.followers.get_mut(&follower) else {
            return;
        };
        if fetch_offset >= leo {
            f.last_caught_up_ms = now_ms;
        } else if fetch_offset >= f.last_fetch_leader_log_end_offset {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.log_end_offset = Some(fetch_offset);
        f.last_fetch_ms = now_ms;
        f.last_fetch_leader_log_end_offset = leo;
        // Caught up and in the ISR: until something changes, every fetch of the session
        // would only set the fetch times again.
        f.session = session.filter(|_| fetch_offset >= leo && p.isr.contains(&follower));
        // Kafka's `maybeExpandIsr`: a follower rejoins once it reached the HW and the start
        // of this leader's epoch (KAFKA-7128).
        let joins = !p.isr.contains(&follower)
            && leader.pending_isr.is_none()
            && fetch_offset >= hw
            && fetch_offset >= leader.epoch_start_offset;
        if joins {
            let mut new_isr = p.isr.clone();
            new_isr.push(follower);
            self.send_alter_isr(tp, new_isr, out);
        }
        self.maybe_increment_hw(tp, out);
    }
}
