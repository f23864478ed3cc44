//! What one broker must do when committed metadata changes its partitions (Kafka's
//! `TopicDelta.localChanges` and `LocalReplicaChanges`, read by `ReplicaManager.applyDelta`).
//!
//! A KRaft broker gets no LeaderAndIsr requests: it follows the metadata log and, for each
//! partition whose registration changed, works out its own part. The rule is Kafka's, and it
//! is worth stating because it differs from ZooKeeper mode: a broker reacts to every new
//! *partition* epoch (an ISR change from 3.6 on bumps only that), not only to a new leader
//! epoch. A leader takes the new ISR from the image; a follower updates its state and
//! restarts its fetcher only when the leader epoch moved.

use super::partition_change::PartitionRegistration;
use crate::types::BrokerId;

/// This broker's part in one changed partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalChange {
    /// Nothing for this broker: it is not a replica and was not one, or the partition epoch
    /// it already applied did not move.
    None,
    /// It was a replica and is no more: stop the replica and delete its log
    /// (`LocalReplicaChanges.deletes`).
    Delete,
    /// It leads the partition. `elected` when the leader epoch moved (or the partition is new
    /// to it): Kafka's `electedLeaders`; otherwise the ISR or replicas changed under the same
    /// leader epoch (`leaders` only).
    Leader { elected: bool },
    /// It follows (or waits without a leader): `Partition.makeFollower` runs for every new
    /// partition epoch. Whether fetching restarts is decided there, from the leader epoch
    /// the broker's own partition holds (`isNewLeaderEpoch`), not from the image: a replica
    /// new to the broker always starts fetching.
    Follower,
}

/// Kafka's `TopicDelta.localChanges` for one partition: `prev` is the registration in the
/// image before the change (`None`: the partition is new), `next` the one after it.
pub fn local_change(
    broker: BrokerId,
    prev: Option<&PartitionRegistration>,
    next: &PartitionRegistration,
) -> LocalChange {
    if !next.replicas.contains(&broker) {
        let was_replica = prev.is_some_and(|p| p.replicas.contains(&broker));
        return if was_replica {
            LocalChange::Delete
        } else {
            LocalChange::None
        };
    }
    let partition_epoch_moved = prev.is_none_or(|p| p.partition_epoch != next.partition_epoch);
    if !partition_epoch_moved {
        return LocalChange::None;
    }
    if next.leader == Some(broker) {
        LocalChange::Leader {
            elected: prev.is_none_or(|p| p.leader_epoch != next.leader_epoch),
        }
    } else {
        LocalChange::Follower
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::kraft::LeaderRecoveryState;

    fn registration(
        replicas: &[BrokerId],
        isr: &[BrokerId],
        leader: Option<BrokerId>,
        leader_epoch: i32,
        partition_epoch: i32,
    ) -> PartitionRegistration {
        PartitionRegistration {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            elr: Vec::new(),
            last_known_elr: Vec::new(),
            leader,
            leader_recovery_state: LeaderRecoveryState::Recovered,
            leader_epoch,
            partition_epoch,
        }
    }

    #[test]
    fn a_new_partition_makes_its_leader_an_elected_leader_and_the_rest_followers() {
        let next = registration(&[1, 2, 3], &[1, 2, 3], Some(1), 0, 0);
        assert_eq!(
            local_change(1, None, &next),
            LocalChange::Leader { elected: true }
        );
        assert_eq!(local_change(2, None, &next), LocalChange::Follower);
        assert_eq!(local_change(4, None, &next), LocalChange::None);
    }

    #[test]
    fn an_isr_shrink_without_a_leader_epoch_bump_updates_the_leader_in_place() {
        // From metadata version 3.6 a shrink bumps only the partition epoch (KAFKA-15021).
        let prev = registration(&[1, 2, 3], &[1, 2, 3], Some(1), 4, 7);
        let next = registration(&[1, 2, 3], &[1, 2], Some(1), 4, 8);
        assert_eq!(
            local_change(1, Some(&prev), &next),
            LocalChange::Leader { elected: false }
        );
        assert_eq!(local_change(3, Some(&prev), &next), LocalChange::Follower);
    }

    #[test]
    fn a_new_leader_epoch_elects_the_new_leader_and_moves_the_old_one_to_follower() {
        let prev = registration(&[1, 2, 3], &[1, 2, 3], Some(1), 4, 7);
        let next = registration(&[1, 2, 3], &[2, 3], Some(2), 5, 8);
        assert_eq!(
            local_change(2, Some(&prev), &next),
            LocalChange::Leader { elected: true }
        );
        assert_eq!(local_change(1, Some(&prev), &next), LocalChange::Follower);
    }

    #[test]
    fn an_unchanged_partition_epoch_asks_nothing() {
        let prev = registration(&[1, 2, 3], &[1, 2, 3], Some(1), 4, 7);
        assert_eq!(local_change(1, Some(&prev), &prev), LocalChange::None);
        assert_eq!(local_change(2, Some(&prev), &prev), LocalChange::None);
    }

    #[test]
    fn a_replica_moved_away_deletes_its_log() {
        let prev = registration(&[1, 2, 3], &[1, 2, 3], Some(1), 4, 7);
        let next = registration(&[1, 2, 4], &[1, 2], Some(1), 4, 8);
        assert_eq!(local_change(3, Some(&prev), &next), LocalChange::Delete);
        assert_eq!(local_change(4, Some(&prev), &next), LocalChange::Follower);
    }
}
