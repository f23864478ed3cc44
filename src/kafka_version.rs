//! Which Kafka release the brokers run: the *code* rules of that release.
//!
//! Kafka has two version knobs, and so does the simulator. The software version is the code
//! a broker runs: how `Partition.makeLeader` fills the leader-epoch cache, when
//! `maybeExpandIsr` lets a follower back in, what `LeaderEpochFileCache.endOffsetFor`
//! answers. `inter.broker.protocol.version` ([`ProtocolVersion`]) only chooses which request
//! versions the brokers speak to each other, so that a rolling upgrade can run new code with
//! the old wire protocol. A release can run any protocol version up to its own, never a
//! higher one: Kafka refuses to start with an `inter.broker.protocol.version` it does not know.
//!
//! A scenario's `[cluster] kafka_version` is a [`KafkaVersion`]; the protocol version
//! defaults to its major.minor. Each `has_*`/rule method below names the Kafka change that
//! introduced it and the first release that shipped it (checked against the release tags).

use crate::config::ProtocolVersion;
use crate::controller::kraft::MetadataVersion;
use std::fmt;

/// A Kafka release: `0.10.2.1` is `{major: 0, minor: 10, patch: 2, fix: 1}` (the four-part
/// numbers of the 0.x releases), `2.0.1` is `{major: 2, minor: 0, patch: 1, fix: 0}`.
/// Ordered as the releases were.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KafkaVersion {
    major: u32,
    minor: u32,
    patch: u32,
    fix: u32,
}

/// The 0.x release lines the simulator models, as (minor, patch, last fix): 0.10.2.0 to
/// 0.10.2.2 and 0.11.0.0 to 0.11.0.3 (these releases had four numbers).
const OLD_RELEASE_LINES: &[(u32, u32, u32)] = &[(10, 2, 2), (11, 0, 3)];

/// The release lines from 1.0 on, as (major, minor, last patch): the Apache Kafka releases
/// up to 4.1.2. From 4.0 the brokers run only in KRaft mode ([`KafkaVersion::requires_kraft`]).
const RELEASE_LINES: &[(u32, u32, u32)] = &[
    (1, 0, 2),
    (1, 1, 1),
    (2, 0, 1),
    (2, 1, 1),
    (2, 2, 2),
    (2, 3, 1),
    (2, 4, 1),
    (2, 5, 1),
    (2, 6, 3),
    (2, 7, 2),
    (2, 8, 2),
    (3, 0, 2),
    (3, 1, 2),
    (3, 2, 3),
    (3, 3, 2),
    (3, 4, 1),
    (3, 5, 2),
    (3, 6, 2),
    (3, 7, 1),
    (3, 8, 1),
    (3, 9, 2),
    (4, 0, 2),
    (4, 1, 2),
];

/// How a follower takes a LeaderAndIsr that keeps its leader but raises the epoch
/// (KAFKA-7164, `Partition.makeFollower`'s answer to `ReplicaManager.makeFollowers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowerRestart {
    /// Before 2.0.1: only a new leader restarts the fetcher (and its truncation); the same
    /// leader at a new epoch is "skipped the become-follower state change".
    OnLeaderChange,
    /// 2.0.1: also when the epoch jumped by more than one (an update was missed, so the
    /// leader's log may have been cut in between).
    OnLeaderChangeOrMissedEpoch,
    /// 2.1.0 and later: every new leader epoch (`isNewLeaderEpoch`).
    OnEveryEpochChange,
}

impl KafkaVersion {
    /// The release the simulator models by default. Later releases are modelled too, with
    /// the rules below, but moving the default would change every scenario that does not
    /// name its release.
    pub const LATEST: KafkaVersion = KafkaVersion::new(3, 7, 1);

    const fn new(major: u32, minor: u32, patch: u32) -> KafkaVersion {
        KafkaVersion {
            major,
            minor,
            patch,
            fix: 0,
        }
    }

    /// Parses a release: `"2.0.1"`, `"3.7"` (= 3.7.0), `"0.10.2"` (= 0.10.2.0) or
    /// `"0.10.2.1"`. `None` for anything that is not a modelled release.
    pub fn parse(s: &str) -> Option<KafkaVersion> {
        let nums: Vec<u32> = s
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let v = match nums.as_slice() {
            [0, minor, patch] => KafkaVersion::new(0, *minor, *patch),
            [0, minor, patch, fix] => KafkaVersion {
                fix: *fix,
                ..KafkaVersion::new(0, *minor, *patch)
            },
            [major, minor] if *major > 0 => KafkaVersion::new(*major, *minor, 0),
            [major, minor, patch] if *major > 0 => KafkaVersion::new(*major, *minor, *patch),
            _ => return None,
        };
        v.is_release().then_some(v)
    }

    fn is_release(self) -> bool {
        if self.major == 0 {
            OLD_RELEASE_LINES.iter().any(|&(minor, patch, last_fix)| {
                self.minor == minor && self.patch == patch && self.fix <= last_fix
            })
        } else {
            RELEASE_LINES.iter().any(|&(major, minor, last_patch)| {
                self.major == major && self.minor == minor && self.patch <= last_patch
            })
        }
    }

    /// The supported releases, for error messages: each line's first and last release.
    pub fn supported() -> String {
        let old = OLD_RELEASE_LINES.iter().map(|&(minor, patch, last)| {
            format!("0.{minor}.{patch}.0 to 0.{minor}.{patch}.{last}")
        });
        let new = RELEASE_LINES
            .iter()
            .map(|&(major, minor, last)| match last {
                0 => format!("{major}.{minor}.0"),
                _ => format!("{major}.{minor}.0 to {major}.{minor}.{last}"),
            });
        old.chain(new).collect::<Vec<_>>().join(", ")
    }

    /// The `inter.broker.protocol.version` a release runs by default, and the highest it
    /// accepts (its major.minor).
    pub fn protocol_version(self) -> ProtocolVersion {
        ProtocolVersion::parse(&format!("{}.{}", self.major, self.minor))
            .expect("a release's major.minor is a protocol version")
    }

    fn at_least(self, major: u32, minor: u32, patch: u32) -> bool {
        self >= KafkaVersion::new(major, minor, patch)
    }

    /// KAFKA-3959 (0.11.0): `KafkaApis.createInternalTopic` creates `__consumer_offsets` only
    /// with its full `offsets.topic.replication.factor` of live brokers; before, the factor
    /// was capped by the live brokers.
    pub fn requires_full_offsets_replication(self) -> bool {
        self.at_least(0, 11, 0)
    }

    /// KAFKA-7128 (2.0.1): `Partition.maybeExpandIsr` lets a follower into the ISR only once
    /// it reached the leader's epoch start offset (`leaderEpochStartOffsetOpt`), not merely
    /// the leader's high watermark, which a new leader may hold stale.
    pub fn has_isr_join_at_epoch_start(self) -> bool {
        self.at_least(2, 0, 1)
    }

    /// KAFKA-7415 (2.0.1): `Partition.makeLeader` writes the new epoch and its start offset
    /// into the leader-epoch cache at once (`epochCache.assign`). Before, the entry appeared
    /// only with the leader's first append in that epoch, so until then the leader answered
    /// OffsetsForLeaderEpoch for its own new epoch as unknown.
    pub fn has_leader_epoch_cached_at_election(self) -> bool {
        self.at_least(2, 0, 1)
    }

    /// KAFKA-7164 (2.0.1, completed in 2.1.0): when a follower restarts fetching, and so
    /// truncates, on a LeaderAndIsr that keeps its leader.
    pub fn follower_restart(self) -> FollowerRestart {
        if self.at_least(2, 1, 0) {
            FollowerRestart::OnEveryEpochChange
        } else if self.at_least(2, 0, 1) {
            FollowerRestart::OnLeaderChangeOrMissedEpoch
        } else {
            FollowerRestart::OnLeaderChange
        }
    }

    /// `LeaderEpochFileCache.endOffsetFor` of 0.11 and 1.x answers an epoch older than the
    /// first one it holds with `UNDEFINED_EPOCH_OFFSET` (and the follower falls back to its
    /// own high watermark); from 2.0.0 (rewritten with KIP-279) it answers with the start of
    /// the first epoch it holds.
    pub fn answers_epochs_below_the_cache(self) -> bool {
        self.at_least(2, 0, 0)
    }

    /// KAFKA-15021 (3.6.0): `Partition.maybeIncrementLeaderHW`'s `shouldWaitForReplicaToJoinIsr`
    /// waits for a caught-up follower outside the ISR only if it is ISR-eligible
    /// (`isReplicaIsrEligible`: in ZooKeeper mode, on a live broker). Before, any follower
    /// caught up within `replica.lag.time.max.ms` held the HW (KAFKA-4485), dead or not.
    pub fn has_isr_eligibility_for_hw(self) -> bool {
        self.at_least(3, 6, 0)
    }

    /// KAFKA-15583 (3.7.0): `Partition.maybeIncrementLeaderHW` does not move the high
    /// watermark while the ISR is below `min.insync.replicas`.
    pub fn has_strict_min_isr(self) -> bool {
        self.at_least(3, 7, 0)
    }

    /// KIP-394 (2.2.0): JoinGroup version 4. A new member without a `group.instance.id` is
    /// first handed its member id with MEMBER_ID_REQUIRED and joins for real with it, so a
    /// client that retries a JoinGroup leaves no member behind for the coordinator to wait
    /// for.
    pub fn has_member_id_required(self) -> bool {
        self.at_least(2, 2, 0)
    }

    /// KAFKA-7610 (2.2.0): a member that joins as new and is not through a join round within
    /// `NewMemberJoinTimeoutMs` (5 minutes), or within its session once it was heard from,
    /// is removed even while its JoinGroup waits (`MemberMetadata.isNew`).
    pub fn has_new_member_join_timeout(self) -> bool {
        self.at_least(2, 2, 0)
    }

    /// KAFKA-12890 (3.0.0, and 2.8.1): the group coordinator removes the members that have not
    /// sent their SyncGroup a rebalance timeout after a join round ends (`DelayedSync`).
    /// Before, a member that joined and then only heartbeated held its group in
    /// CompletingRebalance until it left.
    pub fn has_pending_sync_deadline(self) -> bool {
        self.at_least(2, 8, 1)
    }

    /// KIP-207 (2.2.0): `Partition.fetchOffsetForTimestamp` answers ListOffsets LATEST with
    /// OFFSET_NOT_AVAILABLE while a new leader's high watermark is below the start of its
    /// epoch, so the latest offset never goes backwards across a leader change.
    pub fn has_offset_not_available_for_new_leader(self) -> bool {
        self.at_least(2, 2, 0)
    }

    /// KIP-497 (2.7.0): `Partition` hands ISR changes to an `AlterIsrManager` and keeps them
    /// pending until it answers. With a protocol older than 2.7 the manager writes ZooKeeper
    /// (`ZkIsrManager`), and a refused write (INVALID_UPDATE_VERSION) leaves the change
    /// pending until a LeaderAndIsr comes; before 2.7, `Partition.updateIsr` wrote ZooKeeper
    /// itself and a refused write left the ISR as it was, to be proposed again.
    pub fn has_alter_partition_manager(self) -> bool {
        self.at_least(2, 7, 0)
    }

    /// KIP-841 (3.3.0): `KafkaController.processAlterPartition` refuses an ISR that holds a
    /// replica on a broker that is not alive (INELIGIBLE_REPLICA), and the leader proposes
    /// no such replica (`Partition.canAddReplicaToIsr`, `isReplicaIsrEligible`).
    pub fn has_ineligible_replica_check(self) -> bool {
        self.at_least(3, 3, 0)
    }

    /// KAFKA-15583 (3.7.0): `Partition.effectiveMinIsr` caps `min.insync.replicas` at the
    /// replica count. Before, a `min.insync.replicas` above the replication factor made
    /// every acks=all write fail with NOT_ENOUGH_REPLICAS (`appendRecordsToLeader`).
    pub fn caps_min_isr_at_replicas(self) -> bool {
        self.at_least(3, 7, 0)
    }

    /// KIP-98 (0.11.0): brokers keep producer state and check an idempotent producer's
    /// sequence numbers (record batch format v2, `ProducerStateManager`).
    pub fn supports_idempotence(self) -> bool {
        self.at_least(0, 11, 0)
    }

    /// KIP-98 (0.11.0): transactions, the last stable offset and Fetch v4's
    /// `isolation_level`, which a `read_committed` consumer needs.
    pub fn has_transactions(self) -> bool {
        self.at_least(0, 11, 0)
    }

    /// KIP-107 (0.11.0): the DeleteRecords request (`ApiKeys.DELETE_RECORDS`), which
    /// `kafka-delete-records.sh` sends; older brokers do not know it.
    pub fn has_delete_records(self) -> bool {
        self.at_least(0, 11, 0)
    }

    /// KIP-467 (2.4.0): `LogValidator` refuses a keyless record on a compacted topic with
    /// `InvalidRecordException` (INVALID_RECORD, not retriable); before, it threw
    /// `CorruptRecordException` (CORRUPT_MESSAGE, retriable), and a producer retried it.
    pub fn has_invalid_record_error(self) -> bool {
        self.at_least(2, 4, 0)
    }

    /// KIP-679 (3.0.0, in effect from 3.0.1 after KAFKA-13598): `enable.idempotence` is true
    /// by default (`ProducerConfig.postProcessAndValidateIdempotenceConfigs`). The simulator
    /// runs the clients of the scenario's release for this default.
    pub fn has_idempotent_producer_by_default(self) -> bool {
        self.at_least(3, 0, 1)
    }

    /// KIP-360 (2.5.0, KAFKA-8710): a batch from a producer id the partition has no state
    /// for is accepted whatever its sequence (`ProducerAppendInfo.checkSequence`); before,
    /// a first sequence other than 0 was UNKNOWN_PRODUCER_ID.
    pub fn accepts_any_sequence_from_unknown_producer(self) -> bool {
        self.at_least(2, 5, 0)
    }

    /// KIP-447 (2.5.0): OffsetFetch v7's `require_stable`, answered UNSTABLE_OFFSET_COMMIT
    /// for a partition whose offset commit is still pending (`GroupMetadataManager
    /// .getOffsets`); the consumer sets it from 2.5 on.
    pub fn has_stable_offset_fetch(self) -> bool {
        self.at_least(2, 5, 0)
    }

    /// KIP-833 (3.3.0): KRaft mode is production-ready, with `metadata.version` 3.3-IV3 as
    /// its first production level. Before, KRaft was early access (2.8 to 3.2) and a
    /// production cluster ran on ZooKeeper.
    pub fn supports_kraft(self) -> bool {
        self.at_least(3, 3, 0)
    }

    /// KIP-833 (4.0.0): ZooKeeper mode is removed; every broker is part of a KRaft cluster.
    /// 3.9 is the last release with ZooKeeper mode, the bridge for a migration to KRaft.
    pub fn requires_kraft(self) -> bool {
        self.at_least(4, 0, 0)
    }

    /// KIP-966 (4.1.0): a new KRaft cluster is formatted with
    /// `eligible.leader.replicas.version` 1 (`EligibleLeaderReplicasVersion.ELRV_1`
    /// bootstraps at `metadata.version` 4.1-IV0 and needs 4.0-IV1). In 4.0 the feature
    /// exists but is off until an operator upgrades it; before 4.0 there is none.
    pub fn has_eligible_leader_replicas_default(self) -> bool {
        self.at_least(4, 1, 0)
    }

    /// KIP-996 (4.0.0): a KRaft voter whose election timer fires first asks the others for
    /// pre-votes (the Prospective state) and becomes a candidate, bumping the epoch, only
    /// with a majority of them, so a voter cut off from the quorum no longer disrupts it
    /// when it comes back.
    pub fn has_pre_vote(self) -> bool {
        self.at_least(4, 0, 0)
    }

    /// KIP-890 part 1 (3.6.0, KAFKA-14402): a partition leader asks the transaction
    /// coordinator whether a transactional batch belongs to an ongoing transaction before
    /// it opens one on the partition (`transaction.partition.verification.enable`).
    pub fn has_transaction_verification(self) -> bool {
        self.at_least(3, 6, 0)
    }

    /// KIP-890 part 2 (4.0.0): a producer's open transaction on a partition counts as the
    /// one a batch belongs to only at the batch's epoch (`UnifiedLog.hasOngoingTransaction`
    /// takes the epoch), since under transaction version 2 every transaction has its own.
    pub fn has_epoch_checked_ongoing_transaction(self) -> bool {
        self.at_least(4, 0, 0)
    }

    /// KIP-1030 (4.0.0): the producer's `linger.ms` defaults to 5 ms; before, to 0. The
    /// simulator runs the clients of the scenario's release for this default.
    pub fn default_producer_linger_ms(self) -> u64 {
        if self.at_least(4, 0, 0) {
            5
        } else {
            0
        }
    }

    /// The `metadata.version` a new KRaft cluster of this release is formatted with
    /// (Kafka's `MetadataVersion.LATEST_PRODUCTION`), as the newest level the model has the
    /// rules of: 3.4, 3.6 and 4.1 ship newer levels of their own (3.4-IV0, 3.6-IV2,
    /// 4.1-IV1) that the model does not know, and get the one below. `None` before 3.3,
    /// where KRaft was not production-ready.
    pub fn latest_metadata_version(self) -> Option<MetadataVersion> {
        let v = if self.at_least(4, 0, 0) {
            MetadataVersion::V4_0
        } else if self.at_least(3, 9, 0) {
            MetadataVersion::V3_9
        } else if self.at_least(3, 8, 0) {
            MetadataVersion::V3_8
        } else if self.at_least(3, 7, 0) {
            MetadataVersion::V3_7
        } else if self.at_least(3, 6, 0) {
            MetadataVersion::V3_6
        } else if self.at_least(3, 5, 0) {
            MetadataVersion::V3_5
        } else if self.supports_kraft() {
            MetadataVersion::V3_3
        } else {
            return None;
        };
        Some(v)
    }
}

impl fmt::Display for KafkaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.major == 0 {
            write!(f, "0.{}.{}.{}", self.minor, self.patch, self.fix)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KafkaVersion {
        KafkaVersion::parse(s).unwrap_or_else(|| panic!("{s} is a release"))
    }

    #[test]
    fn releases_parse_and_print() {
        assert_eq!(v("0.10.2").to_string(), "0.10.2.0");
        assert_eq!(v("0.10.2.2").to_string(), "0.10.2.2");
        assert_eq!(v("0.11.0").to_string(), "0.11.0.0");
        assert_eq!(v("1.1").to_string(), "1.1.0");
        assert_eq!(v("2.0.1").to_string(), "2.0.1");
        assert_eq!(KafkaVersion::LATEST.to_string(), "3.7.1");
        for s in [
            "3.8.0", "3.8.1", "3.9.0", "3.9.2", "4.0", "4.0.2", "4.1.0", "4.1.2",
        ] {
            assert!(
                KafkaVersion::parse(s).is_some(),
                "{s} is a modelled release"
            );
        }
        assert_eq!(v("4.1").to_string(), "4.1.0");
        for s in [
            "0.10.1", "0.10.2.3", "0.11.1", "1.1.2", "2.0.2", "3.7.2", "3.8.2", "3.9.3", "4.0.3",
            "4.1.3", "4.2.0", "5.0", "banana", "3", "", "3.7-IV1",
        ] {
            assert_eq!(KafkaVersion::parse(s), None, "{s} is no modelled release");
        }
    }

    #[test]
    fn releases_order_as_shipped() {
        assert!(v("0.10.2.2") < v("0.11.0"));
        assert!(v("0.11.0.3") < v("1.0.0"));
        assert!(v("2.0.0") < v("2.0.1"));
        assert!(v("3.7.0") < KafkaVersion::LATEST);
        assert!(KafkaVersion::LATEST < v("3.8.0"));
        assert!(v("3.9.2") < v("4.0.0"));
        assert!(v("4.0.2") < v("4.1.0"));
    }

    #[test]
    fn the_default_protocol_is_the_release_line() {
        assert_eq!(v("0.10.2.1").protocol_version().to_string(), "0.10");
        assert_eq!(v("2.0.1").protocol_version().to_string(), "2.0");
        assert_eq!(
            KafkaVersion::LATEST.protocol_version(),
            ProtocolVersion::LATEST
        );
        for (release, protocol) in [
            ("3.8.1", "3.8"),
            ("3.9.2", "3.9"),
            ("4.0", "4.0"),
            ("4.1.2", "4.1"),
        ] {
            assert_eq!(v(release).protocol_version().to_string(), protocol);
        }
    }

    #[test]
    fn kraft_rules_switch_at_their_release() {
        assert!(!v("3.2.3").supports_kraft() && v("3.3.0").supports_kraft());
        assert!(!v("3.9.2").requires_kraft() && v("4.0.0").requires_kraft());
        assert!(!v("3.9.2").has_pre_vote() && v("4.0.0").has_pre_vote());
        assert!(!v("4.0.2").has_eligible_leader_replicas_default());
        assert!(v("4.1.0").has_eligible_leader_replicas_default());
        assert_eq!(v("3.9.2").default_producer_linger_ms(), 0);
        assert_eq!(v("4.0.0").default_producer_linger_ms(), 5);
        assert_eq!(v("3.2.3").latest_metadata_version(), None);
        assert_eq!(
            v("3.4.1").latest_metadata_version(),
            Some(MetadataVersion::V3_3)
        );
        assert_eq!(
            v("3.7.1").latest_metadata_version(),
            Some(MetadataVersion::V3_7)
        );
        assert_eq!(
            v("3.9.0").latest_metadata_version(),
            Some(MetadataVersion::V3_9)
        );
        assert_eq!(
            v("4.1.2").latest_metadata_version(),
            Some(MetadataVersion::V4_0)
        );
    }

    #[test]
    fn code_rules_switch_at_their_release() {
        assert!(!v("0.10.2.2").requires_full_offsets_replication());
        assert!(v("0.11.0").requires_full_offsets_replication());
        assert!(!v("2.0.0").has_isr_join_at_epoch_start());
        assert!(v("2.0.1").has_isr_join_at_epoch_start());
        assert!(!v("1.1.1").has_leader_epoch_cached_at_election());
        assert!(v("2.0.1").has_leader_epoch_cached_at_election());
        assert_eq!(v("2.0").follower_restart(), FollowerRestart::OnLeaderChange);
        assert_eq!(
            v("2.0.1").follower_restart(),
            FollowerRestart::OnLeaderChangeOrMissedEpoch
        );
        assert_eq!(
            v("2.1").follower_restart(),
            FollowerRestart::OnEveryEpochChange
        );
        assert!(!v("1.1.1").answers_epochs_below_the_cache());
        assert!(v("2.0.0").answers_epochs_below_the_cache());
        assert!(!v("3.5.2").has_isr_eligibility_for_hw());
        assert!(v("3.6.0").has_isr_eligibility_for_hw());
        assert!(!v("3.6.2").has_strict_min_isr() && !v("3.6.2").caps_min_isr_at_replicas());
        assert!(v("3.7.0").has_strict_min_isr() && v("3.7.0").caps_min_isr_at_replicas());
        assert!(!v("3.5.2").has_transaction_verification());
        assert!(v("3.6.0").has_transaction_verification());
        assert!(!v("3.9.2").has_epoch_checked_ongoing_transaction());
        assert!(v("4.0.0").has_epoch_checked_ongoing_transaction());
    }
}
