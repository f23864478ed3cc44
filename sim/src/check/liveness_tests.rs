//! The liveness invariants, each with a record that breaks it and one that does not.

use super::*;
use crate::check::partitions::tests::{at, id, tp};
use crate::record::FinalReplica;
use kafka_model::event::ElectionReason;

const LAG_MAX_MS: u64 = 10_000;

fn inputs(faults: &[FaultRecord], unclean: bool) -> LivenessInputs<'_> {
    LivenessInputs {
        faults,
        replica_lag_time_max_ms: LAG_MAX_MS,
        round_trips_ms: 100,
        unclean_by_topic: [("orders".to_string(), unclean)].into_iter().collect(),
        unclean_default: false,
        lossy_network: false,
        hosts: crate::world::Hosts::default(),
    }
}

fn elected(leader: BrokerId, isr: Vec<BrokerId>, unclean: bool, reason: ElectionReason) -> Event {
    Event::LeaderElected {
        tp: tp(),
        leader: Some(leader),
        previous_leader: None,
        leader_epoch: 1,
        isr,
        unclean,
        reason,
        controller_epoch: 1,
    }
}

fn appended(broker: BrokerId, leo: u64) -> Event {
    Event::Appended {
        broker,
        tp: tp(),
        as_leader: broker == 0,
        records: vec![(leo - 1, id(leo - 1), 0)],
        log_end_offset: leo,
        markers: Vec::new(),
    }
}

fn leads(broker: BrokerId) -> Event {
    Event::BecameLeader {
        broker,
        tp: tp(),
        leader_epoch: 0,
        log_end_offset: 0,
        high_watermark: 0,
        isr: vec![0, 1, 2],
    }
}

fn follows(broker: BrokerId, leader: BrokerId) -> Event {
    Event::BecameFollower {
        broker,
        tp: tp(),
        leader: Some(leader),
        leader_epoch: 0,
        log_end_offset: 0,
    }
}

#[test]
fn an_unclean_election_the_topic_forbids_is_caught() {
    let unclean = vec![at(
        5,
        elected(2, vec![2], true, ElectionReason::LeaderFailed),
    )];
    let v = unclean_election_disabled(&unclean, &inputs(&[], false));
    assert_eq!((v.len(), v[0].at_ms), (1, 5));
    assert!(v[0].detail.contains("broker 2"), "{}", v[0].detail);
    assert!(unclean_election_disabled(&unclean, &inputs(&[], true)).is_empty());
    // A leader the election calls clean but whose ISR does not hold it came from outside.
    let hidden = vec![at(
        5,
        elected(2, vec![1], false, ElectionReason::LeaderFailed),
    )];
    assert_eq!(
        unclean_election_disabled(&hidden, &inputs(&[], false)).len(),
        1
    );
    let clean = vec![at(
        5,
        elected(1, vec![1, 2], false, ElectionReason::LeaderFailed),
    )];
    assert!(unclean_election_disabled(&clean, &inputs(&[], false)).is_empty());
}

fn replica(broker: BrokerId, seqs: &[u64]) -> FinalReplica {
    FinalReplica {
        broker,
        log: seqs
            .iter()
            .enumerate()
            .map(|(o, s)| (o as u64, id(*s), 0))
            .collect(),
        log_start_offset: 0,
        log_end_offset: seqs.len() as u64,
        high_watermark: 0,
        leader_epoch: 0,
        is_leader: broker == 0,
        online: true,
    }
}

fn final_state(follower: &[u64]) -> FinalState {
    FinalState {
        partitions: vec![FinalPartition {
            tp: tp(),
            leader: Some(0),
            leader_epoch: 0,
            isr: vec![0],
            replicas: vec![0, 1],
            replica_states: vec![replica(0, &[0, 1, 2, 3]), replica(1, follower)],
        }],
        groups: Vec::new(),
    }
}

#[test]
fn a_follower_that_never_caught_up_after_the_settle_is_caught() {
    let events = vec![
        at(0, leads(0)),
        at(0, follows(1, 0)),
        at(1_000, appended(0, 4)),
    ];
    let end = 60_000;
    let run = |follower: &[u64], events: &[RecordedEvent]| {
        replicas_not_converged(events, &final_state(follower), end, &inputs(&[], false))
    };
    let v = run(&[0, 1], &events);
    assert_eq!((v.len(), v[0].at_ms), (1, end));
    assert!(v[0].detail.contains("ends at offset 2"), "{}", v[0].detail);
    // A diverged tail the follower never truncated.
    let v = run(&[0, 1, 9, 3], &events);
    assert!(v[0].detail.contains("p0#9 at offset 2"), "{}", v[0].detail);
    // Caught up: nothing to say.
    assert!(run(&[0, 1, 2, 3], &events).is_empty());
    // A follower of the leader for less than replica.lag.time.max.ms is not judged yet.
    let late = vec![
        at(0, leads(0)),
        at(1_000, appended(0, 4)),
        at(55_000, follows(1, 0)),
    ];
    assert!(run(&[0, 1], &late).is_empty());
}

/// Broker 0 leads orders-0 from t=2ms with the ISR [0,1,2] (controller: broker 1); at t=1s
/// it appends up to offset 4; broker 1 follows at once, broker 2 never fetches again.
fn lagging_follower() -> Vec<RecordedEvent> {
    vec![
        at(
            0,
            Event::ControllerElected {
                broker: 1,
                controller_epoch: 1,
            },
        ),
        at(
            1,
            elected(0, vec![0, 1, 2], false, ElectionReason::NewPartition),
        ),
        at(2, leads(0)),
        at(1_000, appended(0, 4)),
        at(1_005, appended(1, 4)),
    ]
}

#[test]
fn a_lagging_follower_the_isr_keeps_is_caught() {
    let events = lagging_follower();
    let v = isr_not_shrunk(&events, 30_000, &inputs(&[], false));
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].detail.starts_with("broker 2 "), "{}", v[0].detail);
    // Lagging from t=1s: due after lag 10 s, one check period 5 s and the round trips.
    assert_eq!(v[0].at_ms, 1_000 + 10_000 + 5_000 + 100);
    // Before that it is not due yet.
    assert!(isr_not_shrunk(&events, 16_000, &inputs(&[], false)).is_empty());
}

#[test]
fn a_shrunk_or_unreachable_or_refused_leader_is_not_flagged() {
    let mut shrunk = lagging_follower();
    shrunk.push(at(
        15_000,
        Event::IsrShrunk {
            tp: tp(),
            leader: 0,
            leader_epoch: 0,
            removed: vec![2],
            isr: vec![0, 1],
            lag_ms: 14_000,
            lag_time_max_ms: LAG_MAX_MS,
        },
    ));
    assert!(isr_not_shrunk(&shrunk, 30_000, &inputs(&[], false)).is_empty());
    // The leader is cut off from the controller until t=20s: it could not shrink.
    let faults = [
        FaultRecord {
            at_ms: 500,
            action: "partition".into(),
            detail: "[broker 0] | [broker 1, broker 2, zookeeper]".into(),
        },
        FaultRecord {
            at_ms: 20_000,
            action: "heal".into(),
            detail: "every network fault".into(),
        },
    ];
    let events = lagging_follower();
    assert!(isr_not_shrunk(&events, 30_000, &inputs(&faults, false)).is_empty());
    // ... but a lag time later it is due again.
    assert_eq!(
        isr_not_shrunk(&events, 40_000, &inputs(&faults, false)).len(),
        1
    );
    // The controller refused the leader's change: it waits for the controller.
    let mut refused = lagging_follower();
    refused.push(at(
        12_000,
        Event::IsrChangeRejected {
            tp: tp(),
            leader: 0,
            error: kafka_model::ErrorCode::InvalidUpdateVersion,
        },
    ));
    assert!(isr_not_shrunk(&refused, 30_000, &inputs(&[], false)).is_empty());
    // A follower that keeps fetching what the leader has is caught up, however long.
    let mut busy = lagging_follower();
    for i in 0..30u64 {
        busy.push(at(2_000 + i * 1_000, appended(0, 5 + i)));
        busy.push(at(2_010 + i * 1_000, appended(1, 5 + i)));
        busy.push(at(2_010 + i * 1_000, appended(2, 5 + i)));
    }
    assert!(isr_not_shrunk(&busy, 33_000, &inputs(&[], false)).is_empty());
}
