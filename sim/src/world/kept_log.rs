//! The whole logs of one partition, kept after a run for `kafka-sim run --dump-log`.
//!
//! The final state keeps each replica's records; a dump needs more: the segments, each
//! batch's header (base and last offset, leader epoch, producer stamp, delete horizon), the
//! gaps compaction left. Cloning every log of a big cluster for every run would double its
//! memory, so only the partition the command line names is kept, and only when it asks.

use super::orchestrate::{BrokerStatus, Nodes};
use super::shared::Shared;
use kafka_model::log::Log;
use kafka_model::{BrokerId, TopicPartition};

/// One replica's log as the run left it: from the running broker, or from the disk of one
/// that is down.
#[derive(Clone, Debug)]
pub struct KeptLog {
    pub broker: BrokerId,
    pub online: bool,
    /// `None` when the broker has no log of the partition (never assigned, or a replaced
    /// disk).
    pub log: Option<Log>,
}

/// Every replica's log of `tp`, by broker id: every broker that holds one, or is assigned
/// one (an assigned replica without a log shows as empty).
pub(super) fn keep_logs(
    shared: &Shared,
    nodes: &Nodes,
    tp: &TopicPartition,
    assigned: &[BrokerId],
) -> Vec<KeptLog> {
    let mut kept = Vec::new();
    for (&broker, process) in &shared.brokers {
        let online = nodes.status.get(&broker) == Some(&BrokerStatus::Running);
        let guard = process.lock().expect("broker");
        let log = match guard.as_ref() {
            Some(b) => b.disk().logs.get(tp).cloned(),
            None => shared.disks[&broker]
                .lock()
                .expect("disk")
                .logs
                .get(tp)
                .cloned(),
        };
        if log.is_some() || assigned.contains(&broker) {
            kept.push(KeptLog {
                broker,
                online: online && guard.is_some(),
                log,
            });
        }
    }
    kept
}
