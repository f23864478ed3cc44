//! One partition's replication state on this broker (Kafka's `Partition`): whether it leads
//! or follows, the ISR as the leader believes it, and the leader's view of each follower.
//!
//! The rules that decide what is committed live here: the high-watermark rule
//! ([`next_high_watermark`], Kafka's `maybeIncrementLeaderHW`), ISR shrink
//! (`maybeShrinkIsr`) and expand (`maybeExpandIsr`, inside `updateFollowerFetchState`), and
//! the switch between leader and follower (`makeLeader`, `makeFollower`). The HW rule is a
//! pure function of what the leader knows, so it can be tested by a table, like raft-rs's
//! commit rule in `quorum/majority.rs`; the methods around it only gather its inputs and act
//! on its answer.

use super::isr_write::IsrWrite;
use super::{Broker, BrokerTimer, ALTER_ISR_TIMEOUT_MS};
use crate::actor::Output;
use crate::config::FollowerRestart;
use crate::coordinator::transaction::log::TRANSACTION_STATE_TOPIC;
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
    /// The follower's log start offset from its last fetch (KIP-107); unknown until it
    /// fetched, which holds the low watermark at nothing (Kafka's `UnknownOffset`, -1).
    pub(super) log_start_offset: Option<u64>,
    /// Set while the follower is caught up and in the ISR, the leader's LEO has not moved
    /// since, and the follower fetches through this fetch session: Kafka would set both fetch
    /// times to the time of every fetch of the session, so they are read from the session's
    /// last fetch instead of being written for every idle partition on every fetch. Any
    /// change to the partition writes them out first (`materialize_followers`).
    pub(super) session: Option<u32>,
}

#[derive(Clone, Debug)]
pub(super) struct LeaderState {
    /// The leader's LEO when it took over this epoch (from 2.0.1, KAFKA-7128: a joiner must
    /// reach it).
    pub(super) epoch_start_offset: u64,
    pub(super) followers: BTreeMap<BrokerId, FollowerState>,
    /// An ISR change sent to the controller (or, before 2.7, written to ZooKeeper) and not
    /// answered yet.
    pub(super) pending_isr: Option<Vec<BrokerId>>,
    pub(super) alter_isr_attempt: u64,
    /// The controller epoch of the LeaderAndIsr that made this broker leader (Kafka's
    /// `Partition.controllerEpoch`): before 2.7 the leader writes it with its ISR.
    pub(super) controller_epoch: i32,
}

#[derive(Clone, Debug)]
pub(super) enum Role {
    Leader(LeaderState),
    /// Following `leader` (or waiting for one, when the partition is offline).
    Follower {
        leader: Option<BrokerId>,
        /// 0.11 to 2.6: an OffsetsForLeaderEpoch round trip is due before fetching.
        needs_epoch_lookup: bool,
        /// Whether the fetcher may ask for this partition now. Every LeaderAndIsr that makes
        /// this broker a follower starts it afresh, as Kafka's `ReplicaManager.makeFollowers`
        /// re-adds the partition to its fetcher with a new `PartitionFetchState` (before 2.1
        /// only one that changes the leader: see `Broker::keeps_following`).
        fetch: FetchReadiness,
        /// The leader epoch of the LeaderAndIsr that last started fetching afresh: a backoff
        /// timer from before that is stale. The partition's epoch itself may move on
        /// without a restart before 2.1 (KAFKA-7164).
        fetch_started_epoch: LeaderEpoch,
    },
}

/// Kafka's `PartitionFetchState` as far as the fetcher's choice of partitions goes: a
/// partition whose fetch failed waits on its own, the others keep fetching
/// (`AbstractFetcherThread.delayPartitions` and `markPartitionFailed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FetchReadiness {
    Ready,
    /// The leader answered with an error: try again after `replica.fetch.backoff.ms`.
    Delayed,
    /// Fenced at the epoch it still has (`AbstractFetcherThread.onPartitionFenced`): the
    /// leader moved on, so wait for the LeaderAndIsr that says where to.
    Failed,
}

#[derive(Clone, Debug)]
pub(super) struct PartitionState {
    pub(super) replicas: Vec<BrokerId>,
    pub(super) leader_epoch: LeaderEpoch,
    pub(super) isr: Vec<BrokerId>,
    pub(super) partition_epoch: i32,
    pub(super) role: Role,
}

impl PartitionState {
    /// The ISR is a subset of the replicas: the controller builds it from them and a leader
    /// only adds followers it tracks, which are replicas. Every modelled version keeps this,
    /// unclean elections included (they shrink the ISR to the new leader).
    pub(super) fn isr_within_replicas(&self) -> bool {
        self.isr.iter().all(|r| self.replicas.contains(r))
    }

    /// Checks the rules of a partition this broker (`me`) leads: the leader is
    /// in its ISR (the controller elects from the ISR, or sets the ISR to the unclean leader
    /// alone; an AlterIsr without the leader is refused) and the ISR is within the replicas.
    pub(super) fn assert_leader_rules(&self, me: BrokerId) {
        assert!(
            self.isr.contains(&me),
            "a leader is in its ISR: {me} leads with ISR {:?}",
            self.isr
        );
        assert!(
            self.isr_within_replicas(),
            "the ISR is a subset of the replicas: ISR {:?}, replicas {:?}",
            self.isr,
            self.replicas
        );
    }

    /// [`Self::assert_leader_rules`], for hot paths: only where debug assertions are on.
    pub(super) fn debug_assert_leader_rules(&self, me: BrokerId) {
        if cfg!(debug_assertions) {
            self.assert_leader_rules(me);
        }
    }
}

/// What a leader knows when it looks at moving its high watermark (the inputs of
/// [`next_high_watermark`]).
#[derive(Clone, Debug)]
pub(super) struct HighWatermarkInputs {
    pub(super) leader_log_end_offset: u64,
    /// The HW as it is now.
    pub(super) high_watermark: u64,
    /// For each member of the maximal ISR other than the leader (the ISR plus a member whose
    /// joining is in flight), the LEO the leader knows from its fetches; `None` while it has
    /// not fetched from this leader (or is no replica the leader tracks).
    pub(super) maximal_isr_follower_log_end_offsets: Vec<Option<u64>>,
    /// The LEOs of followers outside the maximal ISR that are caught up and may join it: the
    /// HW waits for them too (KAFKA-4485; see [`Broker::caught_up_outside_isr`]).
    pub(super) caught_up_follower_log_end_offsets: Vec<u64>,
    /// From 3.7 (KAFKA-15583): the HW stays put while the ISR is below `min.insync.replicas`.
    pub(super) strict_min_isr: bool,
    pub(super) isr_len: usize,
    /// `min.insync.replicas` (from 3.7 capped at the replication factor).
    pub(super) min_isr: usize,
}

/// Kafka's `Partition.maybeIncrementLeaderHW`: the HW moves to the smallest LEO among the
/// leader, the maximal ISR (the ISR plus a member whose joining is in flight) and the
/// followers that are caught up but not yet in the ISR. A member
/// whose LEO the leader does not know yet holds it where it is, and from 3.7 it does not move
/// at all while the ISR is below `min.insync.replicas` (KAFKA-15583). Returns the new HW, or
/// `None` when it stays: it never goes down here.
pub(super) fn next_high_watermark(inputs: &HighWatermarkInputs) -> Option<u64> {
    if inputs.strict_min_isr && inputs.isr_len < inputs.min_isr {
        return None;
    }
    let mut new_hw = inputs.leader_log_end_offset;
    for follower_leo in &inputs.maximal_isr_follower_log_end_offsets {
        new_hw = new_hw.min((*follower_leo)?);
    }
    for follower_leo in &inputs.caught_up_follower_log_end_offsets {
        new_hw = new_hw.min(*follower_leo);
    }
    debug_assert!(
        new_hw <= inputs.leader_log_end_offset,
        "the HW never passes the leader's LEO"
    );
    (new_hw > inputs.high_watermark).then_some(new_hw)
}

impl Broker {
    /// Leader epochs only rise: a LeaderAndIsr that is not newer than what this broker knows
    /// is skipped before it gets here (`on_leader_and_isr`), in every modelled version.
    fn assert_newer_leader_epoch(&self, p: &LeaderAndIsrPartition) {
        if let Some(current) = self.partitions.get(&p.tp) {
            assert!(
                p.leader_epoch > current.leader_epoch,
                "leader epochs only rise: {} at epoch {} got {}",
                p.tp,
                current.leader_epoch,
                p.leader_epoch
            );
        }
    }

    /// Kafka's `Partition.makeLeader`.
    pub(super) fn make_leader(
        &mut self,
        now_ms: u64,
        p: LeaderAndIsrPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        self.assert_newer_leader_epoch(&p);
        let tp = p.tp.clone();
        // `Partition.makeLeader`'s `isNewLeader`: a leader whose epoch rises while it stays
        // leader (the controller took a dead follower out of the ISR) keeps what it knows
        // of its followers and its waiting produce requests.
        let was_leader = matches!(
            self.partitions.get(&tp).map(|s| &s.role),
            Some(Role::Leader(_))
        );
        if was_leader {
            self.materialize_followers(&tp, None);
        }
        let caches_epoch = self.release().has_leader_epoch_cached_at_election();
        let log = self.disk.logs.get_mut(&tp).expect("log exists");
        let leo = log.log_end_offset();
        if caches_epoch {
            // KAFKA-7415 (2.0.1, `Partition.makeLeader`'s `epochCache.assign`): the new epoch
            // is cached at once, so a follower holding a later epoch than any this leader
            // wrote still gets an answer. Before, the first append of the epoch cached it.
            log.assign_epoch_start(p.leader_epoch, leo);
        }
        let known = match self.partitions.get(&tp).map(|s| &s.role) {
            Some(Role::Leader(leader)) => leader.followers.clone(),
            _ => BTreeMap::new(),
        };
        let followers = p
            .replicas
            .iter()
            .filter(|r| **r != self.id)
            .map(|r| {
                let in_sync = p.isr.contains(r);
                let state = reset_replica_state(known.get(r), now_ms, leo, in_sync);
                (*r, state)
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
                    controller_epoch: p.controller_epoch,
                }),
            },
        );
        self.partitions[&tp].assert_leader_rules(self.id);
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
        if !was_leader {
            // Nothing should wait here: becoming a follower answered every request. Kafka's
            // `ReplicaManager.makeLeaders` completes no produce purgatory at all.
            self.fail_delayed_produces(&tp, p.leader_epoch, out);
        }
        self.maybe_increment_hw(now_ms, &tp, out);
        self.complete_delayed_fetches(&tp, out);
        if tp.topic == OFFSETS_TOPIC {
            self.with_coordinator(now_ms, out, |c, coordinator_out| {
                c.on_election(tp.partition, p.leader_epoch, coordinator_out)
            });
        }
        if tp.topic == TRANSACTION_STATE_TOPIC {
            // The coordinator epoch is the partition's leader epoch (`onLeadershipChange`).
            self.with_txn_coordinator(now_ms, out, |c, _, coordinator_out| {
                c.on_election(now_ms, tp.partition, p.leader_epoch, coordinator_out)
            });
        }
    }

    /// Kafka's `Partition.makeFollower`.
    pub(super) fn make_follower(
        &mut self,
        now_ms: u64,
        p: LeaderAndIsrPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        self.assert_newer_leader_epoch(&p);
        assert!(
            p.leader.is_none_or(|l| p.isr.contains(&l)),
            "a leader is in its ISR: {:?} leads {} with ISR {:?}",
            p.leader,
            p.tp,
            p.isr
        );
        if self.keeps_following(&p) {
            self.update_follower_in_place(p, out);
            return;
        }
        let tp = p.tp.clone();
        let protocol = self.protocol();
        // Kafka's `AbstractFetcherThread.maybeTruncate` asks the leader only for partitions
        // whose log holds a leader epoch; the others (before KIP-101: all of them) are cut to
        // their own high watermark without a round trip (`truncateToHighWatermark`).
        let has_epoch = self.disk.logs[&tp].latest_epoch().is_some();
        let truncates_to_hw = !protocol.uses_leader_epochs() || !has_epoch;
        self.partitions.insert(
            tp.clone(),
            PartitionState {
                replicas: p.replicas.clone(),
                leader_epoch: p.leader_epoch,
                isr: p.isr.clone(),
                partition_epoch: p.partition_epoch,
                role: Role::Follower {
                    leader: p.leader,
                    needs_epoch_lookup: !truncates_to_hw && !protocol.uses_truncation_on_fetch(),
                    fetch: FetchReadiness::Ready,
                    fetch_started_epoch: p.leader_epoch,
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
        if truncates_to_hw && p.leader.is_some() {
            // Before KIP-101 a new follower cut its log to its own high watermark, trusting
            // that everything above it was uncommitted. The HW can be stale (it lags the
            // leader's, and a restart reads it from a checkpoint), so committed records go too.
            // With leader epochs only a log without any epoch takes this path: in the
            // simulator every record carries its epoch, so that is an empty log.
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
        // A DeleteRecords waiting here is answered NOT_LEADER_OR_FOLLOWER.
        self.complete_delayed_delete_records(&tp, out);
        if tp.topic == OFFSETS_TOPIC {
            self.with_coordinator(now_ms, out, |c, coordinator_out| {
                c.on_resignation(tp.partition, coordinator_out)
            });
        }
        if tp.topic == TRANSACTION_STATE_TOPIC {
            self.with_txn_coordinator(now_ms, out, |c, _, coordinator_out| {
                c.on_resignation(tp.partition, coordinator_out)
            });
        }
    }

    /// Whether a LeaderAndIsr that makes this broker a follower leaves its fetcher as it is:
    /// Kafka's `Partition.makeFollower` answering false, so that `ReplicaManager.makeFollowers`
    /// neither restarts the fetcher nor truncates. Before 2.0.1 that was every LeaderAndIsr
    /// keeping the leader; KAFKA-7164 (2.0.1) restarts when an epoch was missed, and 2.1.0
    /// on every new epoch (`isNewLeaderEpoch`).
    fn keeps_following(&self, p: &LeaderAndIsrPartition) -> bool {
        let Some(current) = self.partitions.get(&p.tp) else {
            return false;
        };
        let Role::Follower { leader, .. } = &current.role else {
            return false;
        };
        if *leader != p.leader {
            return false;
        }
        match self.release().follower_restart() {
            FollowerRestart::OnLeaderChange => true,
            FollowerRestart::OnLeaderChangeOrMissedEpoch => {
                p.leader_epoch == current.leader_epoch + 1
            }
            FollowerRestart::OnEveryEpochChange => false,
        }
    }

    /// A follower keeps fetching from the same leader (see [`Self::keeps_following`]): it
    /// learns the new epoch, replicas and ISR, and nothing else changes.
    fn update_follower_in_place(
        &mut self,
        p: LeaderAndIsrPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        let leo = self.disk.logs[&p.tp].log_end_offset();
        let state = self.partitions.get_mut(&p.tp).expect("a follower");
        state.replicas = p.replicas;
        state.leader_epoch = p.leader_epoch;
        state.isr = p.isr;
        state.partition_epoch = p.partition_epoch;
        out.event(Event::BecameFollower {
            broker: self.id,
            tp: p.tp,
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            log_end_offset: leo,
        });
    }

    pub(super) fn on_alter_isr_response(
        &mut self,
        now_ms: u64,
        response: AlterIsrResponse,
        out: &mut Output<BrokerTimer>,
    ) {
        let AlterIsrResponse { tp, error, state } = response;
        let id = self.id;
        // The ISR may change: followers' lazily kept fetch times are written out first.
        self.materialize_followers(&tp, None);
        let Some(p) = self.partitions.get_mut(&tp) else {
            return;
        };
        let Role::Leader(leader) = &mut p.role else {
            return;
        };
        let Some(proposed) = leader.pending_isr.clone() else {
            return;
        };
        if error != ErrorCode::None {
            out.event(Event::IsrChangeRejected {
                tp: tp.clone(),
                leader: id,
                error,
            });
            match alter_isr_error_action(error) {
                AlterIsrErrorAction::Revert => leader.pending_isr = None,
                AlterIsrErrorAction::AwaitLeaderAndIsr => {
                    // No retry, and the timer must not clear the change either: the
                    // partition waits, its maximal ISR as proposed, for a LeaderAndIsr.
                    leader.alter_isr_attempt += 1;
                }
                AlterIsrErrorAction::Retry => self.propose_isr(now_ms, &tp, proposed, out),
            }
            return;
        }
        let Some(state) = state else {
            return;
        };
        if state.leader_epoch != p.leader_epoch || state.partition_epoch < p.partition_epoch {
            // Out of date (`Partition.handleAlterPartitionUpdate`): a LeaderAndIsr with the
            // newer state is on its way or already here.
            return;
        }
        leader.pending_isr = None;
        // Normally the proposal; after a timed-out request, whatever the controller last
        // wrote, which is the ISR either way.
        self.apply_isr(now_ms, &tp, state.isr, state.partition_epoch, out);
    }

    /// The leader's ISR is now `new_isr`, at partition epoch (znode version)
    /// `partition_epoch`: as the controller answered an AlterIsr, or as ZooKeeper took the
    /// leader's own write. Says who left and who joined, and moves the HW if it may.
    pub(super) fn apply_isr(
        &mut self,
        now_ms: u64,
        tp: &TopicPartition,
        new_isr: Vec<BrokerId>,
        partition_epoch: i32,
        out: &mut Output<BrokerTimer>,
    ) {
        let lag_time_max_ms = self.config.replica_lag_time_max_ms;
        let id = self.id;
        let p = self.partitions.get_mut(tp).expect("partition");
        let Role::Leader(leader) = &p.role else {
            unreachable!("only a leader's ISR changes by its own request: {tp}");
        };
        let old_isr = std::mem::replace(&mut p.isr, new_isr.clone());
        p.partition_epoch = partition_epoch;
        let removed: Vec<BrokerId> = old_isr
            .iter()
            .copied()
            .filter(|r| !new_isr.contains(r))
            .collect();
        let added: Vec<BrokerId> = new_isr
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
                isr: new_isr.clone(),
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
                isr: new_isr,
            });
        }
        self.partitions[tp].assert_leader_rules(id);
        self.maybe_increment_hw(now_ms, tp, out);
    }

    /// The `min.insync.replicas` the leader enforces: from 3.7 capped at the replica count
    /// (`Partition.effectiveMinIsr`, KAFKA-15583); before, as configured, so a value above the
    /// replication factor refuses every acks=all write (`Partition.appendRecordsToLeader`).
    pub(super) fn effective_min_isr(&self, tp: &TopicPartition, replicas: usize) -> usize {
        let configured = self.topic_config(&tp.topic).min_insync_replicas as usize;
        if self.release().caps_min_isr_at_replicas() {
            configured.min(replicas)
        } else {
            configured
        }
    }

    /// Sets `tp`'s HW, leader or follower; the one place it changes after startup.
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
            "hw-above-leo: a replica's high watermark must not pass its log end offset \
             (Kafka's UnifiedLog.updateHighWatermark clamps it to the LEO): {tp} {new} > {leo}"
        );
        self.high_watermarks.insert(tp.clone(), new);
        if let Some(log) = self.disk.logs.get_mut(tp) {
            log.on_high_watermark_updated(new);
        }
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

    /// Kafka's `maybeIncrementLeaderHW`: gathers what the leader knows of `tp` for
    /// [`next_high_watermark`] and moves the HW if it says so.
    pub(super) fn maybe_increment_hw(
        &mut self,
        now_ms: u64,
        tp: &TopicPartition,
        out: &mut Output<BrokerTimer>,
    ) {
        let Some(p) = self.partitions.get(tp) else {
            return;
        };
        let Role::Leader(leader) = &p.role else {
            return;
        };
        p.debug_assert_leader_rules(self.id);
        let maximal: BTreeSet<BrokerId> = p
            .isr
            .iter()
            .chain(leader.pending_isr.iter().flatten())
            .copied()
            .collect();
        let leader_log_end_offset = self.disk.logs[tp].log_end_offset();
        let caught_up = self.caught_up_outside_isr(now_ms, leader, &maximal, leader_log_end_offset);
        let inputs = HighWatermarkInputs {
            leader_log_end_offset,
            high_watermark: self.high_watermark(tp),
            maximal_isr_follower_log_end_offsets: maximal
                .into_iter()
                .filter(|r| *r != self.id)
                .map(|r| leader.followers.get(&r).and_then(|f| f.log_end_offset))
                .collect(),
            caught_up_follower_log_end_offsets: caught_up,
            strict_min_isr: self.release().has_strict_min_isr(),
            isr_len: p.isr.len(),
            min_isr: self.effective_min_isr(tp, p.replicas.len()),
        };
        if let Some(new_hw) = next_high_watermark(&inputs) {
            self.set_high_watermark(tp, new_hw, out);
            self.complete_delayed_produces(tp, out);
            self.complete_delayed_fetches(tp, out);
        }
    }

    /// The LEOs of the followers outside `maximal` that hold the HW: Kafka's
    /// `shouldWaitForReplicaToJoinIsr` (3.6+, KAFKA-15021): `Replica.isCaughtUp` (at the
    /// leader's LEO, or caught up within `replica.lag.time.max.ms`) and ISR-eligible (a live
    /// broker in the metadata cache). Before 3.6 (KAFKA-4485) every follower caught up within
    /// the lag time.
    /// A follower never caught up under this leader (`last_caught_up_ms` 0) is not.
    fn caught_up_outside_isr(
        &self,
        now_ms: u64,
        leader: &LeaderState,
        maximal: &BTreeSet<BrokerId>,
        leader_log_end_offset: u64,
    ) -> Vec<u64> {
        let lag_max_ms = self.config.replica_lag_time_max_ms;
        let eligibility = self.release().has_isr_eligibility_for_hw();
        leader
            .followers
            .iter()
            .filter(|(r, _)| !maximal.contains(r))
            .filter(|(r, _)| !eligibility || self.live_brokers.contains(r))
            .filter_map(|(_, f)| {
                let leo = f.log_end_offset?;
                let caught_up = leo == leader_log_end_offset
                    || (f.last_caught_up_ms > 0
                        && now_ms.saturating_sub(f.last_caught_up_ms) <= lag_max_ms);
                caught_up.then_some(leo)
            })
            .collect()
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
            p.debug_assert_leader_rules(self.id);
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
            self.propose_isr(now_ms, &tp, new_isr, out);
        }
    }

    /// Proposes `new_isr`: from 2.7 to the controller with an AlterIsr (KIP-497), before as
    /// the leader's own conditional write of the state znode (see [`super::isr_write`]). One
    /// change is in flight at a time; without an answer it may be proposed again after
    /// `ALTER_ISR_TIMEOUT_MS` (a ZooKeeper answer is lost when the session is).
    pub(super) fn propose_isr(
        &mut self,
        now_ms: u64,
        tp: &TopicPartition,
        new_isr: Vec<BrokerId>,
        out: &mut Output<BrokerTimer>,
    ) {
        let id = self.id;
        let uses_alter_isr = self.protocol().uses_alter_isr();
        let controller = self.controller_id;
        let has_zk_session = self.zk.session_id.is_some();
        let kraft = self.kraft.is_some();
        let kraft_reachable = self.kraft_can_alter_partition();
        let p = self.partitions.get_mut(tp).expect("partition");
        let Role::Leader(leader) = &mut p.role else {
            return;
        };
        assert!(
            new_isr.contains(&id) && new_isr.iter().all(|r| p.replicas.contains(r)),
            "a leader is in its ISR and the ISR is a subset of the replicas: {id} proposes \
             {new_isr:?} for {tp} with replicas {:?}",
            p.replicas
        );
        let reachable = if kraft {
            kraft_reachable
        } else if uses_alter_isr {
            controller.is_some()
        } else {
            has_zk_session
        };
        if !reachable {
            return;
        }
        leader.pending_isr = Some(new_isr.clone());
        leader.alter_isr_attempt += 1;
        let attempt = leader.alter_isr_attempt;
        let (leader_epoch, partition_epoch) = (p.leader_epoch, p.partition_epoch);
        let controller_epoch = leader.controller_epoch;
        if kraft {
            self.send_alter_partition(now_ms, tp, leader_epoch, partition_epoch, new_isr, out);
        } else {
            match controller.filter(|_| uses_alter_isr) {
                Some(controller) => out.send(
                    NodeId::Broker(controller),
                    Message::AlterIsr(AlterIsrRequest {
                        broker_id: id,
                        tp: tp.clone(),
                        leader_epoch,
                        new_isr,
                        partition_epoch,
                    }),
                ),
                None => self.write_isr_to_zk(
                    tp,
                    IsrWrite {
                        leader_epoch,
                        zk_version: partition_epoch,
                        controller_epoch,
                        isr: new_isr,
                    },
                    out,
                ),
            }
        }
        out.timer(
            ALTER_ISR_TIMEOUT_MS,
            BrokerTimer::AlterIsrTimeout {
                tp: tp.clone(),
                attempt,
            },
        );
    }

    /// The leader's side of a follower fetch (Kafka's `updateFollowerFetchState`).
    /// Kafka's `Partition.updateFollowerFetchState` (`Replica.updateFetchStateOrThrow`).
    pub(super) fn update_follower_fetch_state(
        &mut self,
        now_ms: u64,
        follower: BrokerId,
        fetch: &FetchPartition,
        session: Option<u32>,
        out: &mut Output<BrokerTimer>,
    ) {
        let (tp, fetch_offset) = (&fetch.tp, fetch.fetch_offset);
        let joins_at_epoch_start = self.release().has_isr_join_at_epoch_start();
        let checks_eligibility = self.release().has_ineligible_replica_check();
        let follower_alive = self.live_brokers.contains(&follower);
        let leo = self.disk.logs[tp].log_end_offset();
        let hw = self.high_watermark(tp);
        let p = self.partitions.get_mut(tp).expect("partition");
        p.debug_assert_leader_rules(self.id);
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
        // `Replica.updateFetchStateOrThrow`: the follower's log start offset, for the low
        // watermark.
        let log_start_moved =
            fetch.log_start_offset.is_some() && f.log_start_offset != fetch.log_start_offset;
        if fetch.log_start_offset.is_some() {
            f.log_start_offset = fetch.log_start_offset;
        }
        f.last_fetch_ms = now_ms;
        f.last_fetch_leader_log_end_offset = leo;
        // Caught up and in the ISR: until something changes, every fetch of the session
        // would only set the fetch times again.
        f.session = session.filter(|_| fetch_offset >= leo && p.isr.contains(&follower));
        // Kafka's `maybeExpandIsr`: a follower rejoins once it reached the HW and, from 2.0.1
        // (KAFKA-7128, `leaderEpochStartOffsetOpt`), the start of this leader's epoch: a new
        // leader's HW may lag the records it holds committed. From 3.3 (KIP-841,
        // `canAddReplicaToIsr`'s `isReplicaIsrEligible`) only a follower on a broker the
        // leader's metadata cache holds alive may join (ZooKeeper mode: `hasAliveBroker`).
        let joins = !p.isr.contains(&follower)
            && leader.pending_isr.is_none()
            && fetch_offset >= hw
            && (!joins_at_epoch_start || fetch_offset >= leader.epoch_start_offset)
            && (!checks_eligibility || follower_alive);
        if joins {
            let mut new_isr = p.isr.clone();
            new_isr.push(follower);
            self.propose_isr(now_ms, tp, new_isr, out);
        }
        self.maybe_increment_hw(now_ms, tp, out);
        // `Partition.updateFollowerFetchState`: a moved low watermark may complete a
        // DeleteRecords waiting in the purgatory.
        if log_start_moved {
            self.complete_delayed_delete_records(tp, out);
        }
    }
}

/// What a leader does after the controller refused its ISR change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AlterIsrErrorAction {
    /// The controller says the change was not applied: back to the last committed ISR.
    Revert,
    /// The leader's view is out of date: wait for the LeaderAndIsr that brings the news.
    AwaitLeaderAndIsr,
    /// Anything else: send the change again.
    Retry,
}

/// Kafka's `Partition.handleAlterPartitionError` (3.7): OPERATION_NOT_ATTEMPTED and
/// INELIGIBLE_REPLICA revert to the last committed state; UNKNOWN_TOPIC_OR_PARTITION,
/// FENCED_LEADER_EPOCH and INVALID_UPDATE_VERSION (and INVALID_REQUEST) leave the change
/// pending until new metadata arrives; any other error is retried.
fn alter_isr_error_action(error: ErrorCode) -> AlterIsrErrorAction {
    match error {
        ErrorCode::IneligibleReplica => AlterIsrErrorAction::Revert,
        ErrorCode::UnknownTopicOrPartition
        | ErrorCode::FencedLeaderEpoch
        | ErrorCode::InvalidUpdateVersion => AlterIsrErrorAction::AwaitLeaderAndIsr,
        _ => AlterIsrErrorAction::Retry,
    }
}

/// Kafka's `Replica.resetReplicaState` when this broker leads a new epoch: a follower in the
/// ISR counts as caught up now, one outside it as never. A new leader knows nothing of its
/// followers' logs; a leader that stays keeps each follower's LEO, takes its own LEO as the
/// follower's last-fetch mark, and times an in-sync follower's last fetch from now (so it is
/// not dropped from the ISR, or let back in, before it fetches again).
fn reset_replica_state(
    known: Option<&FollowerState>,
    now_ms: u64,
    leader_log_end_offset: u64,
    in_sync: bool,
) -> FollowerState {
    let last_caught_up_ms = if in_sync { now_ms } else { 0 };
    match known {
        None => FollowerState {
            log_end_offset: None,
            last_caught_up_ms,
            last_fetch_ms: 0,
            last_fetch_leader_log_end_offset: 0,
            log_start_offset: None,
            session: None,
        },
        Some(f) => {
            debug_assert!(f.session.is_none(), "followers are materialized first");
            FollowerState {
                log_end_offset: f.log_end_offset,
                last_caught_up_ms,
                last_fetch_ms: if in_sync { now_ms } else { 0 },
                last_fetch_leader_log_end_offset: leader_log_end_offset,
                log_start_offset: f.log_start_offset,
                session: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HW rule by table, in the manner of raft-rs's `quorum/majority.rs` commit rule:
    /// (leader LEO, current HW, followers' LEOs, strict min ISR, ISR size, min ISR, new HW).
    #[test]
    fn the_high_watermark_is_the_smallest_leo_of_the_maximal_isr() {
        type Case = (
            u64,
            u64,
            &'static [Option<u64>],
            bool,
            usize,
            usize,
            Option<u64>,
        );
        let cases: &[Case] = &[
            // A leader alone: its own LEO.
            (10, 0, &[], false, 1, 1, Some(10)),
            (10, 10, &[], false, 1, 1, None),
            // The smallest LEO of the leader and its followers.
            (10, 0, &[Some(7), Some(9)], false, 3, 1, Some(7)),
            (10, 0, &[Some(12), Some(11)], false, 3, 1, Some(10)),
            (10, 3, &[Some(10), Some(10)], false, 3, 2, Some(10)),
            // A follower that has not fetched in this epoch holds the HW.
            (10, 0, &[Some(9), None], false, 3, 1, None),
            // Never down: a lagging follower only stops it.
            (10, 8, &[Some(5)], false, 2, 1, None),
            (10, 5, &[Some(5)], false, 2, 1, None),
            // Below min.insync.replicas: before 3.7 the HW still moves...
            (10, 0, &[], false, 1, 2, Some(10)),
            // ...from 3.7 (KAFKA-15583) it does not.
            (10, 0, &[], true, 1, 2, None),
            (10, 0, &[Some(8)], true, 2, 2, Some(8)),
            (10, 0, &[Some(8), Some(6)], true, 2, 2, Some(6)),
        ];
        for (i, &(leo, hw, followers, strict, isr_len, min_isr, want)) in cases.iter().enumerate() {
            let inputs = HighWatermarkInputs {
                leader_log_end_offset: leo,
                high_watermark: hw,
                maximal_isr_follower_log_end_offsets: followers.to_vec(),
                caught_up_follower_log_end_offsets: Vec::new(),
                strict_min_isr: strict,
                isr_len,
                min_isr,
            };
            assert_eq!(next_high_watermark(&inputs), want, "case {i}: {inputs:?}");
        }
    }

    /// KAFKA-4485: a follower outside the ISR that is caught up holds the HW like a member.
    #[test]
    fn a_caught_up_follower_outside_the_isr_holds_the_high_watermark() {
        let inputs = |caught_up: Vec<u64>| HighWatermarkInputs {
            leader_log_end_offset: 10,
            high_watermark: 0,
            maximal_isr_follower_log_end_offsets: vec![Some(10)],
            caught_up_follower_log_end_offsets: caught_up,
            strict_min_isr: true,
            isr_len: 2,
            min_isr: 2,
        };
        assert_eq!(next_high_watermark(&inputs(vec![])), Some(10));
        assert_eq!(next_high_watermark(&inputs(vec![7])), Some(7));
        assert_eq!(next_high_watermark(&inputs(vec![12, 8])), Some(8));
    }
}
