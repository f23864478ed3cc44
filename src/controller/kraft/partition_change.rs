//! A partition as the KRaft controller registers it, and the records that change it
//! (Kafka's `PartitionRegistration`, `PartitionRecord`, `PartitionChangeRecord`).

use crate::types::{BrokerId, LeaderEpoch};
use serde::Serialize;
use std::collections::BTreeSet;

/// Kafka's `LeaderConstants.NO_LEADER` (-1), where a list of brokers must hold "no leader":
/// Kafka's `PartitionChangeBuilder.maybeUpdateLastKnownLeader` stores the partition's leader
/// as the last-known-ELR's one member even when the partition had none, so a last-known ELR
/// may read `[-1]`.
pub const NO_LEADER: BrokerId = -1;

/// The `metadata.version` feature levels whose rules differ in the partition and broker
/// rules the model follows (Kafka's `MetadataVersion`), oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum MetadataVersion {
    /// 3.3-IV3: the first production KRaft level; fencing through
    /// `BrokerRegistrationChangeRecord`, in-controlled-shutdown persisted (KIP-841).
    V3_3,
    /// 3.5-IV2: AlterPartition carries broker epochs (KIP-903).
    V3_5,
    /// 3.6-IV0 and later: an ISR shrink no longer bumps the leader epoch (KAFKA-15021).
    V3_6,
    /// 3.7-IV4.
    V3_7,
    /// 3.8-IV0.
    V3_8,
    /// 3.9-IV0.
    V3_9,
    /// 4.0-IV3: eligible leader replicas can be enabled (KIP-966).
    V4_0,
}

impl MetadataVersion {
    /// Kafka's `MetadataVersion.isLeaderEpochBumpRequiredOnIsrShrink`: before 3.6-IV0 a
    /// shrinking ISR bumps the leader epoch, which brokers of those versions needed
    /// (KAFKA-15021).
    pub fn is_leader_epoch_bump_required_on_isr_shrink(self) -> bool {
        self < MetadataVersion::V3_6
    }

    /// Kafka's `MetadataVersion.isLeaderRecoverySupported` (3.2-IV0 and later): every level
    /// here elects uncleanly into RECOVERING.
    pub fn is_leader_recovery_supported(self) -> bool {
        true
    }

    /// Kafka's `MetadataVersion.isElrSupported` (4.0-IV1 and later): the records can carry
    /// eligible leader replicas. Whether they are used is the
    /// `eligible.leader.replicas.version` feature's to say
    /// ([`PartitionChangeBuilder::set_eligible_leader_replicas_enabled`]).
    pub fn is_elr_supported(self) -> bool {
        self >= MetadataVersion::V4_0
    }
}

/// Whether the partition's leader may have data it cannot vouch for (KIP-704).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LeaderRecoveryState {
    Recovered,
    /// Elected uncleanly; no follower may join the ISR until the leader reports RECOVERED.
    Recovering,
}

/// A partition's registration in the metadata image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionRegistration {
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    /// Eligible leader replicas (KIP-966): out of the ISR, yet known to hold every committed
    /// record.
    pub elr: Vec<BrokerId>,
    pub last_known_elr: Vec<BrokerId>,
    /// `None`: no leader (Kafka's -1).
    pub leader: Option<BrokerId>,
    pub leader_recovery_state: LeaderRecoveryState,
    pub leader_epoch: LeaderEpoch,
    pub partition_epoch: i32,
}

impl PartitionRegistration {
    /// A new partition's registration (Kafka's `PartitionRegistration.Builder` as
    /// `ReplicationControlManager.createTopic` fills it): epochs 0, RECOVERED, no ELR.
    /// Which replicas make the ISR (the live, unfenced ones) and which leads is the
    /// controller's to decide; this records what it decided.
    pub fn from_assignment(
        replicas: Vec<BrokerId>,
        isr: Vec<BrokerId>,
        leader: Option<BrokerId>,
    ) -> PartitionRegistration {
        PartitionRegistration {
            replicas,
            isr,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
            leader,
            leader_recovery_state: LeaderRecoveryState::Recovered,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }

    /// Replays a change record (Kafka's `PartitionRegistration.merge`): each field the record
    /// carries replaces the registration's; the partition epoch goes up by one on every
    /// record, the leader epoch only when the record sets the leader field, even to the
    /// leader the partition already has (or to none).
    pub fn merge(&self, record: &PartitionChangeRecord) -> PartitionRegistration {
        let (leader, leader_epoch) = match record.leader {
            LeaderChange::NoChange => (self.leader, self.leader_epoch),
            LeaderChange::NoLeader => (None, self.leader_epoch + 1),
            LeaderChange::To(broker) => (Some(broker), self.leader_epoch + 1),
        };
        PartitionRegistration {
            replicas: record
                .replicas
                .clone()
                .unwrap_or_else(|| self.replicas.clone()),
            isr: record.isr.clone().unwrap_or_else(|| self.isr.clone()),
            elr: record.elr.clone().unwrap_or_else(|| self.elr.clone()),
            last_known_elr: record
                .last_known_elr
                .clone()
                .unwrap_or_else(|| self.last_known_elr.clone()),
            leader,
            // Kafka's `LeaderRecoveryState.changeTo`: NO_CHANGE (-1) keeps the state.
            leader_recovery_state: record
                .leader_recovery_state
                .unwrap_or(self.leader_recovery_state),
            leader_epoch,
            partition_epoch: self.partition_epoch + 1,
        }
    }
}

/// The leader field of a `PartitionChangeRecord`: Kafka's -2 ("no change"), -1 ("no
/// leader"), or a broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LeaderChange {
    NoChange,
    NoLeader,
    To(BrokerId),
}

/// The fields a `PartitionChangeRecord` changes; `None` leaves a field as it was.
/// Kafka's record also carries adding and removing replicas and log directories, which the
/// model does not follow (no reassignment, no JBOD).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionChangeRecord {
    pub isr: Option<Vec<BrokerId>>,
    pub leader: LeaderChange,
    pub replicas: Option<Vec<BrokerId>>,
    pub elr: Option<Vec<BrokerId>>,
    pub last_known_elr: Option<Vec<BrokerId>>,
    pub leader_recovery_state: Option<LeaderRecoveryState>,
}

impl PartitionChangeRecord {
    /// A record that changes nothing.
    pub fn empty() -> PartitionChangeRecord {
        PartitionChangeRecord {
            isr: None,
            leader: LeaderChange::NoChange,
            replicas: None,
            elr: None,
            last_known_elr: None,
            leader_recovery_state: None,
        }
    }

    /// Kafka's `PartitionChangeBuilder.changeRecordIsNoOp`: no field is set.
    pub fn is_no_op(&self) -> bool {
        *self == PartitionChangeRecord::empty()
    }
}

/// Which leader election a change asks for (Kafka's `PartitionChangeBuilder.Election`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Election {
    /// The first replica if it may lead, else the current leader if it still may, else the
    /// next replica that may.
    Preferred,
    /// The current leader if it still may lead, else the first replica that may (Kafka's
    /// default).
    Online,
    /// As `Online`, and failing that the first acceptable replica, in or out of the ISR.
    Unclean,
}

/// Who an election picked (Kafka's `PartitionChangeBuilder.ElectionResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionResult {
    /// `None`: nobody (Kafka's `NO_LEADER`).
    pub node: Option<BrokerId>,
    /// Picked from outside the ISR and ELR (an unclean election, or the last known leader).
    pub unclean: bool,
}

/// The change record for one partition, from its registration and what should change
/// (Kafka's `org.apache.kafka.controller.PartitionChangeBuilder`, 4.0 line): set the targets,
/// then [`build`](PartitionChangeBuilder::build).
///
/// Left out: reassignment (Kafka's target adding and removing replicas and
/// `completeReassignmentIfNeeded`; a partition here is never mid-reassignment, so that step
/// never acts) and log directories (`setDirectory`, `setDefaultDirProvider`; the model has
/// one directory per broker). `set_target_replicas` is kept: a new replica list still bumps
/// the leader epoch when it drops a replica, as Kafka's does.
///
/// Not here, as not in Kafka's class: the checks on an AlterPartition request
/// (`ReplicationControlManager.validateAlterPartitionData`), among them that a RECOVERING
/// leader may not grow its ISR (KIP-704). The builder writes whatever target ISR it is
/// given; its caller refuses the request first.
pub struct PartitionChangeBuilder<'a, F: Fn(BrokerId) -> bool> {
    partition: &'a PartitionRegistration,
    is_acceptable_leader: F,
    metadata_version: MetadataVersion,
    min_isr: usize,
    target_isr: Vec<BrokerId>,
    target_replicas: Vec<BrokerId>,
    target_elr: Vec<BrokerId>,
    target_last_known_elr: Vec<BrokerId>,
    unclean_shutdown_replicas: Vec<BrokerId>,
    election: Election,
    target_leader_recovery_state: LeaderRecoveryState,
    eligible_leader_replicas_enabled: bool,
    use_last_known_leader_in_balanced_recovery: bool,
}

/// Whether every broker of `b` is in `a` (Kafka's `Replicas.contains(List, int[])`).
fn contains_all(a: &[BrokerId], b: &[BrokerId]) -> bool {
    b.iter().all(|r| a.contains(r))
}

impl<'a, F: Fn(BrokerId) -> bool> PartitionChangeBuilder<'a, F> {
    /// Kafka's `PartitionChangeBuilder` constructor: every target starts as the partition
    /// has it; the election is ONLINE, ELR off, the last known leader used in balanced
    /// recovery. `is_acceptable_leader` says whether a broker may lead at all (registered,
    /// unfenced, not shutting down), whatever its place in the ISR.
    pub fn new(
        partition: &'a PartitionRegistration,
        is_acceptable_leader: F,
        metadata_version: MetadataVersion,
        min_isr: usize,
    ) -> Self {
        PartitionChangeBuilder {
            partition,
            is_acceptable_leader,
            metadata_version,
            min_isr,
            target_isr: partition.isr.clone(),
            target_replicas: partition.replicas.clone(),
            target_elr: partition.elr.clone(),
            target_last_known_elr: partition.last_known_elr.clone(),
            unclean_shutdown_replicas: Vec::new(),
            election: Election::Online,
            target_leader_recovery_state: partition.leader_recovery_state,
            eligible_leader_replicas_enabled: false,
            use_last_known_leader_in_balanced_recovery: true,
        }
    }

    /// Kafka's `setElection`.
    pub fn set_election(mut self, election: Election) -> Self {
        self.election = election;
        self
    }

    /// Kafka's `setTargetIsr`.
    pub fn set_target_isr(mut self, target_isr: Vec<BrokerId>) -> Self {
        self.target_isr = target_isr;
        self
    }

    /// Kafka's `setTargetReplicas`.
    pub fn set_target_replicas(mut self, target_replicas: Vec<BrokerId>) -> Self {
        self.target_replicas = target_replicas;
        self
    }

    /// Kafka's `setEligibleLeaderReplicasEnabled`. Kafka does not check the metadata version
    /// here (its caller does, with `isElrSupported`), and neither does this.
    pub fn set_eligible_leader_replicas_enabled(mut self, enabled: bool) -> Self {
        self.eligible_leader_replicas_enabled = enabled;
        self
    }

    /// Kafka's `setUncleanShutdownReplicas`: replicas whose broker came back from an unclean
    /// shutdown, which leave the ELR.
    pub fn set_unclean_shutdown_replicas(mut self, replicas: Vec<BrokerId>) -> Self {
        self.unclean_shutdown_replicas = replicas;
        self
    }

    /// Kafka's `setUseLastKnownLeaderInBalancedRecovery`.
    pub fn set_use_last_known_leader_in_balanced_recovery(mut self, enabled: bool) -> Self {
        self.use_last_known_leader_in_balanced_recovery = enabled;
        self
    }

    /// Kafka's `setTargetLeaderRecoveryState`.
    pub fn set_target_leader_recovery_state(mut self, state: LeaderRecoveryState) -> Self {
        self.target_leader_recovery_state = state;
        self
    }

    /// The ISR the builder aims at (Kafka's `targetIsr()`).
    pub fn target_isr(&self) -> &[BrokerId] {
        &self.target_isr
    }

    /// Kafka's `PartitionChangeBuilder.isValidNewLeader`: in the target ISR, or in the target
    /// ELR when the target ISR is empty; and acceptable.
    fn is_valid_new_leader(&self, replica: BrokerId) -> bool {
        (self.target_isr.contains(&replica)
            || (self.target_isr.is_empty() && self.target_elr.contains(&replica)))
            && (self.is_acceptable_leader)(replica)
    }

    /// Kafka's `isValidNewLeader(partition.leader)`, for a partition that may have none.
    fn current_leader_is_valid(&self) -> bool {
        self.partition
            .leader
            .is_some_and(|leader| self.is_valid_new_leader(leader))
    }

    /// Kafka's `PartitionChangeBuilder.electLeader`: PREFERRED, or ONLINE and UNCLEAN.
    pub fn elect_leader(&self) -> ElectionResult {
        match self.election {
            Election::Preferred => self.elect_preferred_leader(),
            Election::Online | Election::Unclean => self.elect_any_leader(),
        }
    }

    /// Kafka's `PartitionChangeBuilder.electPreferredLeader`: the first target replica,
    /// else the current leader, else the other target replicas in order, else the last
    /// known leader. Never unclean otherwise, whatever the election type.
    fn elect_preferred_leader(&self) -> ElectionResult {
        let clean = |node| ElectionResult {
            node: Some(node),
            unclean: false,
        };
        // Kafka takes `targetReplicas.get(0)` unchecked; a partition always has replicas.
        if let Some(&preferred) = self.target_replicas.first() {
            if self.is_valid_new_leader(preferred) {
                return clean(preferred);
            }
        }
        if self.current_leader_is_valid() {
            return clean(self.partition.leader.expect("valid, so present"));
        }
        if let Some(&online) = self
            .target_replicas
            .iter()
            .skip(1)
            .find(|&&r| self.is_valid_new_leader(r))
        {
            return clean(online);
        }
        if let Some(last_known) = self.last_known_leader() {
            return last_known;
        }
        ElectionResult {
            node: None,
            unclean: false,
        }
    }

    /// Kafka's `PartitionChangeBuilder.electAnyLeader`: the current leader if still valid,
    /// else the first valid target replica in assignment order, else the last known
    /// leader, else (UNCLEAN only) the first acceptable target replica.
    fn elect_any_leader(&self) -> ElectionResult {
        if self.current_leader_is_valid() {
            return ElectionResult {
                node: self.partition.leader,
                unclean: false,
            };
        }
        if let Some(&online) = self
            .target_replicas
            .iter()
            .find(|&&r| self.is_valid_new_leader(r))
        {
            return ElectionResult {
                node: Some(online),
                unclean: false,
            };
        }
        if let Some(last_known) = self.last_known_leader() {
            return last_known;
        }
        if self.election == Election::Unclean {
            if let Some(&unclean) = self
                .target_replicas
                .iter()
                .find(|&&r| (self.is_acceptable_leader)(r))
            {
                return ElectionResult {
                    node: Some(unclean),
                    unclean: true,
                };
            }
        }
        ElectionResult {
            node: None,
            unclean: false,
        }
    }

    /// Kafka's `PartitionChangeBuilder.canElectLastKnownLeader`, with the election it
    /// allows: with ELR and the last known leader both on, an empty target ISR and ELR, and
    /// a last-known ELR of exactly one member (the leader stored when the partition went
    /// leaderless), that member, as an unclean pick. As in Kafka (4.0.2), whether it is an
    /// acceptable leader is only logged, not checked: a fenced last known leader is picked
    /// too. A stored "no leader" (-1) picks nobody.
    fn last_known_leader(&self) -> Option<ElectionResult> {
        if !self.eligible_leader_replicas_enabled
            || !self.use_last_known_leader_in_balanced_recovery
            || !self.target_elr.is_empty()
            || !self.target_isr.is_empty()
            || self.partition.last_known_elr.len() != 1
        {
            return None;
        }
        let node = self.partition.last_known_elr[0];
        Some(ElectionResult {
            node: (node != NO_LEADER).then_some(node),
            unclean: true,
        })
    }

    /// Kafka's `PartitionChangeBuilder.tryElection`: when the election picks someone other
    /// than the current leader, set the leader field. A leader taken from the ELR becomes
    /// the target ISR's only member and leaves the ELR; an unclean one becomes the record's
    /// whole ISR and, unless already so, makes the partition RECOVERING.
    fn try_election(&mut self, record: &mut PartitionChangeRecord) {
        let result = self.elect_leader();
        if result.node == self.partition.leader {
            return;
        }
        if let Some(node) = result.node.filter(|n| self.target_elr.contains(n)) {
            self.target_isr = vec![node];
            self.target_elr.retain(|&r| r != node);
        }
        record.leader = match result.node {
            Some(node) => LeaderChange::To(node),
            None => LeaderChange::NoLeader,
        };
        if result.unclean {
            // `unclean` implies a node: the last known leader "-1" is the current (no)
            // leader, so it never gets here.
            record.isr = Some(result.node.into_iter().collect());
            if self.partition.leader_recovery_state != LeaderRecoveryState::Recovering
                && self.metadata_version.is_leader_recovery_supported()
            {
                record.leader_recovery_state = Some(LeaderRecoveryState::Recovering);
            }
        }
    }

    /// Kafka's `triggerLeaderEpochBumpForReplicaReassignmentIfNeeded`: a replica list that
    /// drops any current replica sets the leader field (to the current leader, or none),
    /// which bumps the leader epoch.
    fn trigger_leader_epoch_bump_for_replica_reassignment_if_needed(
        &self,
        record: &mut PartitionChangeRecord,
    ) {
        if record.leader != LeaderChange::NoChange {
            return;
        }
        if !contains_all(&self.target_replicas, &self.partition.replicas) {
            record.leader = self.current_leader_change();
        }
    }

    /// Kafka's `triggerLeaderEpochBumpForIsrShrinkIfNeeded`: before metadata version 3.6 an
    /// ISR the record shrinks (drops any current member) sets the leader field too
    /// (KAFKA-15021). Expansions never did.
    fn trigger_leader_epoch_bump_for_isr_shrink_if_needed(
        &self,
        record: &mut PartitionChangeRecord,
    ) {
        if !self
            .metadata_version
            .is_leader_epoch_bump_required_on_isr_shrink()
            || record.leader != LeaderChange::NoChange
        {
            return;
        }
        if let Some(isr) = &record.isr {
            if !contains_all(isr, &self.partition.isr) {
                record.leader = self.current_leader_change();
            }
        }
    }

    /// The leader field that names the current leader again.
    fn current_leader_change(&self) -> LeaderChange {
        match self.partition.leader {
            Some(leader) => LeaderChange::To(leader),
            None => LeaderChange::NoLeader,
        }
    }

    /// Kafka's `PartitionChangeBuilder.maybePopulateTargetElr` (ELR on only). A target ISR
    /// of at least min ISR clears the ELR and last-known ELR. Below it, the ELR becomes the
    /// old ELR and old ISR, less the target ISR and the replicas back from an unclean
    /// shutdown; the last-known ELR collects the rest of those with the old last-known
    /// ELR, less the target ISR and new ELR. Kafka builds both from a `HashSet` of small
    /// integers, which iterates in ascending order; so do these.
    fn maybe_populate_target_elr(&mut self) {
        if !self.eligible_leader_replicas_enabled {
            return;
        }
        if self.target_isr.len() >= self.min_isr {
            self.target_elr.clear();
            self.target_last_known_elr.clear();
            return;
        }
        let mut candidates: BTreeSet<BrokerId> = self.target_elr.iter().copied().collect();
        candidates.extend(self.partition.isr.iter().copied());
        self.target_elr = candidates
            .iter()
            .copied()
            .filter(|r| !self.target_isr.contains(r))
            .filter(|r| !self.unclean_shutdown_replicas.contains(r))
            .collect();
        candidates.extend(self.target_last_known_elr.iter().copied());
        self.target_last_known_elr = candidates
            .into_iter()
            .filter(|r| !self.target_isr.contains(r) && !self.target_elr.contains(r))
            .collect();
    }

    /// Kafka's `PartitionChangeBuilder.maybeUpdateRecordElr`. An unclean election (the
    /// record already has its ISR) or ELR off empties both targets. The ELR field is written
    /// when it differs. A partition without a leader keeps a single-member last-known ELR
    /// (the stored last known leader). With the last known leader on, the last-known ELR
    /// is left to [`Self::maybe_update_last_known_leader`]; otherwise it is written when it
    /// differs.
    fn maybe_update_record_elr(&mut self, record: &mut PartitionChangeRecord) {
        let clean_election = record.isr.is_none();
        if !clean_election || !self.eligible_leader_replicas_enabled {
            self.target_elr.clear();
            self.target_last_known_elr.clear();
        }
        if self.target_elr != self.partition.elr {
            record.elr = Some(self.target_elr.clone());
        }
        let leaderless = record.leader == LeaderChange::NoLeader
            || (record.leader == LeaderChange::NoChange && self.partition.leader.is_none());
        if self.use_last_known_leader_in_balanced_recovery
            && self.partition.last_known_elr.len() == 1
            && leaderless
        {
            self.target_last_known_elr = self.partition.last_known_elr.clone();
        }
        if self.use_last_known_leader_in_balanced_recovery {
            return;
        }
        if self.target_last_known_elr != self.partition.last_known_elr {
            record.last_known_elr = Some(self.target_last_known_elr.clone());
        }
    }

    /// Kafka's `PartitionChangeBuilder.maybeUpdateLastKnownLeader` (ELR and the last known
    /// leader both on): when the record empties the ISR, the current leader (or -1) becomes
    /// the last-known ELR's only member, unless it already is; otherwise, when the partition
    /// gets or keeps a leader, a non-empty last-known ELR is cleared.
    fn maybe_update_last_known_leader(&self, record: &mut PartitionChangeRecord) {
        if !self.use_last_known_leader_in_balanced_recovery
            || !self.eligible_leader_replicas_enabled
        {
            return;
        }
        let current = self.partition.leader.unwrap_or(NO_LEADER);
        let emptied = record.isr.as_ref().is_some_and(|isr| isr.is_empty());
        if emptied && self.partition.last_known_elr != [current] {
            record.last_known_elr = Some(vec![current]);
        } else {
            let gets_leader = matches!(record.leader, LeaderChange::To(_));
            let keeps_leader =
                self.partition.leader.is_some() && record.leader != LeaderChange::NoLeader;
            if (gets_leader || keeps_leader) && !self.partition.last_known_elr.is_empty() {
                record.last_known_elr = Some(Vec::new());
            }
        }
    }

    /// Kafka's `PartitionChangeBuilder.build`, step by step: (reassignment completion, not
    /// modelled), the target ELR, the election, the reassignment epoch bump, the ELR
    /// fields, the ISR (never written empty without ELR: a partition losing its last ISR
    /// member keeps it, leaderless), the pre-3.6 ISR-shrink epoch bump, the last known
    /// leader, the replicas, the leader recovery state. `None` when the record would change
    /// nothing (Kafka's `changeRecordIsNoOp`).
    pub fn build(mut self) -> Option<PartitionChangeRecord> {
        let mut record = PartitionChangeRecord::empty();
        self.maybe_populate_target_elr();
        self.try_election(&mut record);
        self.trigger_leader_epoch_bump_for_replica_reassignment_if_needed(&mut record);
        self.maybe_update_record_elr(&mut record);
        if record.isr.is_none()
            && (!self.target_isr.is_empty() || self.eligible_leader_replicas_enabled)
            && self.target_isr != self.partition.isr
        {
            record.isr = Some(self.target_isr.clone());
        }
        self.trigger_leader_epoch_bump_for_isr_shrink_if_needed(&mut record);
        self.maybe_update_last_known_leader(&mut record);
        // Kafka's `setAssignmentChanges`, without directories and reassignment.
        if !self.target_replicas.is_empty() && self.target_replicas != self.partition.replicas {
            record.replicas = Some(self.target_replicas.clone());
        }
        if self.target_leader_recovery_state != self.partition.leader_recovery_state {
            record.leader_recovery_state = Some(self.target_leader_recovery_state);
        }
        (!record.is_no_op()).then_some(record)
    }
}

#[cfg(test)]
mod tests;
