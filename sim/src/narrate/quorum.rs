//! KRaft in plain words: a controller standing for election or asking for a pre-vote,
//! winning an epoch, resigning, a node cutting its metadata log; and what the active
//! controller commits about brokers: registered, fenced, unfenced. A high watermark moving
//! is routine and not told.

use super::{brokers, plain, Line};
use kafka_model::event::QuorumResignReason;
use kafka_model::Event;

/// The KRaft metadata quorum: votes, leaders, resignations, and cut metadata logs. Only
/// controllers vote; a truncation may be any node's, brokers follow the log too.
pub(super) fn quorum_line(event: &Event) -> Option<Line> {
    let text = match event {
        Event::QuorumElectionStarted { node_id, epoch, pre_vote: true } => format!(
            "controller {node_id} hears from no leader and asks the other voters whether it could win (a pre-vote at epoch {epoch}: nothing is bumped or written yet)"
        ),
        Event::QuorumElectionStarted { node_id, epoch, pre_vote: false } => format!(
            "controller {node_id} stands for election in epoch {epoch} and votes for itself"
        ),
        Event::QuorumLeaderElected { node_id, epoch, votes } => format!(
            "controller {node_id} wins the vote for epoch {epoch} (votes from {}): it leads the metadata log, and becomes the active controller once that epoch's first entry is committed",
            brokers(votes)
        ),
        Event::QuorumLeaderResigned { node_id, epoch, reason: QuorumResignReason::CheckQuorum } => format!(
            "controller {node_id} resigns as leader of epoch {epoch}: no fetch from a majority of the voters within the check-quorum timeout"
        ),
        Event::QuorumLeaderResigned { node_id, epoch, reason: QuorumResignReason::Shutdown } => format!(
            "controller {node_id} resigns as leader of epoch {epoch} on its way down, and names the voters best placed to follow it"
        ),
        Event::QuorumTruncated { node_id, from_log_end_offset, to_offset, power_loss: true, .. } => format!(
            "controller {node_id} loses power: its metadata log ends at offset {to_offset} instead of {from_log_end_offset}, the rest was never flushed (a voter flushes before it acknowledges, so nothing it acknowledged is gone)"
        ),
        Event::QuorumTruncated { node_id, from_log_end_offset, to_offset, .. } => format!(
            "node {node_id} cuts its metadata log from offset {from_log_end_offset} back to {to_offset}: the leader's log diverges there"
        ),
        Event::QuorumSnapshotCreated { node_id, end_offset, epoch } => format!(
            "controller {node_id} writes a snapshot of the metadata below offset {end_offset} (epoch {epoch}): metadata.log.max.snapshot.interval.ms has passed since its last snapshot or its start, and new records committed"
        ),
        Event::QuorumSnapshotFetched { node_id, broker, from, end_offset, log_end_offset_before: 0, .. } => format!(
            "{} {node_id} has an empty metadata log, so controller {from} sends it its latest snapshot instead of the log (FetchSnapshot): the {} loads the metadata the records below offset {end_offset} built, and its log starts there",
            role(*broker),
            role(*broker)
        ),
        Event::QuorumSnapshotFetched { node_id, broker, from, end_offset, log_end_offset_before, .. } => format!(
            "{} {node_id}'s metadata log ends at offset {log_end_offset_before}, which controller {from}'s log can no longer check (its start moved up to a snapshot), so it downloads controller {from}'s snapshot instead (FetchSnapshot): its log starts over at offset {end_offset}",
            role(*broker)
        ),
        Event::QuorumLogStartMoved { node_id, log_start_offset } => format!(
            "controller {node_id} deletes its metadata log below offset {log_start_offset}, where its newer snapshot ends: the older snapshot had outlived metadata.max.retention.ms"
        ),
        Event::KraftBrokerRegistered { broker, broker_epoch, fenced } => format!(
            "the active controller registers broker {broker} with broker epoch {broker_epoch}{}",
            if *fenced { ", fenced until it has caught up with the metadata log" } else { "" }
        ),
        Event::KraftBrokerFenced { broker, session_timeout_ms: Some(ms) } => format!(
            "broker {broker} is fenced: no heartbeat for {ms} ms (broker.session.timeout.ms); its leaderships move and it leaves the ISRs"
        ),
        Event::KraftBrokerFenced { broker, session_timeout_ms: None } => format!(
            "broker {broker} is fenced: its leaderships move and it leaves the ISRs"
        ),
        Event::EligibleLeaderReplicasChanged { tp, elr, isr } if elr.is_empty() => format!(
            "{tp} has no eligible leader replicas any more (ISR {})",
            brokers(isr)
        ),
        Event::EligibleLeaderReplicasChanged { tp, elr, isr } => format!(
            "{tp}'s eligible leader replicas (KIP-966) are now {}: out of the ISR {}, yet holding every committed record, so the controller may still elect them cleanly",
            brokers(elr),
            brokers(isr)
        ),
        Event::KraftBrokerUnfenced { broker } => format!(
            "broker {broker} is unfenced: it caught up with the metadata log and may lead and join ISRs again"
        ),
        _ => unreachable!("{} is not narrated here", event.kind()),
    };
    plain(text)
}

/// What a metadata-log node is called: a broker follows the log, a controller votes on it.
fn role(broker: bool) -> &'static str {
    if broker {
        "broker"
    } else {
        "controller"
    }
}
