//! One group and its members: Kafka's `GroupMetadata` and `MemberMetadata`.
//!
//! The state of a group lives here; the rules for moving it from state to state live with the
//! request that moves it (`join.rs`, `sync.rs`, `heartbeat.rs`). What is here answers
//! questions about the group as it is: which assignors all members support, which one they
//! vote for, what a member's JoinGroup response says, what the group's metadata record holds.

use super::records::{GroupMetadataRecord, StoredMember};
use super::txn_offsets::PendingTxnOffset;
use crate::assignor::Strategy;
use crate::protocol::*;
use crate::types::*;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client: Option<NodeId>,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub protocols: Vec<Strategy>,
    pub subscription: Subscription,
    pub assignment: Vec<TopicPartition>,
    /// A JoinGroup waiting for the round to complete: its correlation id.
    pub(super) awaiting_join: Option<u64>,
    /// A SyncGroup waiting for the leader's assignment: its correlation id.
    pub(super) awaiting_sync: Option<u64>,
    /// When the member's session ends unless it is heard from again (Kafka's heartbeat
    /// timer for the member: a newer one replaces the older).
    pub(super) heartbeat_deadline_ms: u64,
    /// Kafka's `isNew`: the member joined and has not yet been through a join round's end.
    /// Its session may run out even while its JoinGroup waits.
    pub(super) is_new: bool,
    /// Join order: the first member to join leads the group.
    pub(super) join_seq: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub group_id: String,
    pub partition: u32,
    pub state: GroupState,
    pub generation: i32,
    pub protocol: Option<Strategy>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    pub offsets: BTreeMap<TopicPartition, u64>,
    /// Where each of `offsets` was written: the base offset of its batch in
    /// `__consumer_offsets` (Kafka's `CommitRecordMetadataAndOffset.appendedBatchOffset`).
    /// A transaction's offsets replace a committed offset at its marker only if they were
    /// written after it.
    pub(super) offset_positions: BTreeMap<TopicPartition, u64>,
    /// Offsets written by transactions whose marker has not come yet, per producer id
    /// (Kafka's `pendingTransactionalOffsetCommits`), see `txn_offsets.rs`.
    pub(super) pending_txn_offsets: BTreeMap<i64, BTreeMap<TopicPartition, PendingTxnOffset>>,
    pub(super) round: u64,
    /// `group.initial.rebalance.delay.ms` is running: an empty group waits for more members.
    pub(super) initial_delay: Option<InitialDelay>,
    /// Kafka's `newMemberAdded`: a new member joined during an initial rebalance's wait.
    pub(super) new_member_added: bool,
    /// Whether the rebalance under way started from Empty (Kafka's previous state).
    pub(super) from_empty: bool,
    pub(super) next_join_seq: u64,
    /// Members of this generation whose SyncGroup has not come yet (Kafka's
    /// `pendingSyncMembers`).
    pub(super) pending_sync: BTreeSet<String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED whose JoinGroup has not come back yet
    /// (Kafka's `pendingMembers`). They are not members, but a join round waits for them.
    pub(super) pending_members: BTreeSet<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct InitialDelay {
    /// How long the running wait is.
    pub(super) delay_ms: u64,
    /// Time left of the rebalance timeout for further waits after it.
    pub(super) remaining_ms: u64,
}

impl Group {
    pub(super) fn new(group_id: String, partition: u32) -> Group {
        Group {
            group_id,
            partition,
            state: GroupState::Empty,
            generation: 0,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            offsets: BTreeMap::new(),
            offset_positions: BTreeMap::new(),
            pending_txn_offsets: BTreeMap::new(),
            round: 0,
            initial_delay: None,
            new_member_added: false,
            from_empty: false,
            next_join_seq: 0,
            pending_sync: BTreeSet::new(),
            pending_members: BTreeSet::new(),
        }
    }

    pub(super) fn supports(&self, protocol: Strategy) -> bool {
        self.members
            .values()
            .all(|m| m.protocols.contains(&protocol))
    }

    /// Kafka's `GroupMetadata.remove`: the member goes, and if it led, the member that joined
    /// earliest leads. Kafka takes the first of its members' hash map, an order of random
    /// member ids; any member is as right. Nobody is answered or told.
    pub(super) fn remove_member_quietly(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        self.pending_sync.remove(member_id);
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self
                .members
                .values()
                .min_by_key(|m| m.join_seq)
                .map(|m| m.member_id.clone());
        }
        Some(member)
    }

    /// Kafka's `GroupMetadata.supportsProtocols`: an Empty group takes any member with at
    /// least one assignor; otherwise one of the member's assignors must be supported by every
    /// member as the group now knows them (a known member counts with the assignors it joined
    /// with last time).
    pub(super) fn supports_protocols(&self, protocols: &[Strategy]) -> bool {
        if self.state == GroupState::Empty {
            return !protocols.is_empty();
        }
        protocols.iter().any(|p| self.supports(*p))
    }

    pub(super) fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// Kafka's `selectProtocol`: among the assignors every member supports, each member votes
    /// for the first one in its own order, and the most votes win. Ties go to the assignor
    /// the leader (the earliest member) prefers.
    pub(super) fn select_protocol(&self) -> Option<Strategy> {
        let first = self.members.values().min_by_key(|m| m.join_seq)?;
        let candidates: Vec<Strategy> = first
            .protocols
            .iter()
            .copied()
            .filter(|p| self.supports(*p))
            .collect();
        let mut votes: BTreeMap<Strategy, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(p) = m.protocols.iter().find(|p| candidates.contains(p)) {
                *votes.entry(*p).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        candidates.into_iter().find(|p| votes.get(p) == Some(&best))
    }

    pub(super) fn join_response(&self, correlation_id: u64, member_id: &str) -> Message {
        let is_leader = self.leader.as_deref() == Some(member_id);
        let members = if is_leader {
            self.members
                .values()
                .map(|m| GroupMemberSubscription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    subscription: m.subscription.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        Message::JoinGroupResponse(JoinGroupResponse {
            correlation_id,
            error: ErrorCode::None,
            generation_id: self.generation,
            protocol: self.protocol,
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
        })
    }

    /// The group's metadata record as it is now.
    #[cfg(test)]
    pub(super) fn metadata_record(&self) -> GroupMetadataRecord {
        let assignment = self
            .members
            .values()
            .map(|m| (m.member_id.clone(), m.assignment.clone()))
            .collect();
        self.metadata_record_with(&assignment)
    }

    /// The group's metadata record with `assignment` as the members' (a member it does not
    /// name gets nothing): what storing a leader's assignment writes.
    pub(super) fn metadata_record_with(
        &self,
        assignment: &BTreeMap<String, Vec<TopicPartition>>,
    ) -> GroupMetadataRecord {
        GroupMetadataRecord {
            group: self.group_id.clone(),
            generation: self.generation,
            protocol: self.protocol,
            leader: self.leader.clone(),
            members: self
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: m.protocols.clone(),
                    topics: m.subscription.topics.clone(),
                    assignment: assignment.get(&m.member_id).cloned().unwrap_or_default(),
                })
                .collect(),
        }
    }

    pub(super) fn apply_metadata(&mut self, meta: GroupMetadataRecord) {
        self.generation = meta.generation;
        self.protocol = meta.protocol;
        self.leader = meta.leader;
        self.members.clear();
        for (join_seq, m) in meta.members.into_iter().enumerate() {
            self.members.insert(
                m.member_id.clone(),
                Member {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    client: None,
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: m.protocols,
                    subscription: Subscription {
                        topics: m.topics,
                        owned_partitions: m.assignment.clone(),
                        generation: meta.generation,
                    },
                    assignment: m.assignment,
                    awaiting_join: None,
                    awaiting_sync: None,
                    heartbeat_deadline_ms: 0,
                    is_new: false,
                    join_seq: join_seq as u64,
                },
            );
        }
        self.next_join_seq = self.members.len() as u64;
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_is_chosen_by_vote_among_those_all_support() {
        let mut g = Group::new("g".into(), 0);
        for (i, protocols) in [
            vec![Strategy::Range, Strategy::RoundRobin],
            vec![Strategy::RoundRobin, Strategy::Range],
            vec![Strategy::RoundRobin, Strategy::Sticky, Strategy::Range],
        ]
        .into_iter()
        .enumerate()
        {
            g.members.insert(
                format!("m{i}"),
                Member {
                    member_id: format!("m{i}"),
                    group_instance_id: None,
                    client: None,
                    session_timeout_ms: 10_000,
                    rebalance_timeout_ms: 10_000,
                    protocols,
                    subscription: Subscription {
                        topics: vec![],
                        owned_partitions: vec![],
                        generation: -1,
                    },
                    assignment: vec![],
                    awaiting_join: None,
                    awaiting_sync: None,
                    heartbeat_deadline_ms: 0,
                    is_new: false,
                    join_seq: i as u64,
                },
            );
        }
        assert_eq!(
            g.select_protocol(),
            Some(Strategy::RoundRobin),
            "two votes to one"
        );
    }
}
