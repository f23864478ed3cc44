//! `cooperative-sticky`: Kafka's `CooperativeStickyAssignor`, the sticky algorithm under the
//! cooperative (incremental) protocol.
//!
//! Members keep consuming the partitions they keep, so a partition that changes owner is only
//! revoked in this rebalance; its new member gets it in the next one. Its tests are the sticky
//! tests: each of them also runs this assignor and checks what it withholds.

use super::sticky_core::{assign_partitions, Assignment};
use super::MemberSubscription;
use crate::types::TopicPartition;
use std::collections::BTreeMap;

/// `CooperativeStickyAssignor.assign`: the shared sticky algorithm's result with every
/// partition that changes owner withheld.
pub(super) fn assign(topics: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
    let (mut assignment, transferring) = assign_partitions(topics, members);
    adjust_assignment(&mut assignment, &transferring);
    assignment
}

/// CooperativeStickyAssignor.adjustAssignment: a partition that changes owner is
/// only revoked in this round; its new member gets it in the next one.
fn adjust_assignment(assignment: &mut Assignment, transferring: &BTreeMap<TopicPartition, String>) {
    for (tp, consumer) in transferring {
        let list = assignment.get_mut(consumer).expect("member");
        let at = list.iter().position(|p| p == tp).expect("assigned");
        list.remove(at);
    }
}
