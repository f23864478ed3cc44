//! The KRaft controller's partition rules: Kafka's `PartitionChangeBuilder.build` (4.0 line,
//! `kafka-metadata`), then `PartitionRegistration.merge` of the record it built, against the
//! model's [`PartitionChangeBuilder`] and [`PartitionRegistration::merge`].
//!
//! Cases: one to five replicas out of brokers 0 to 7 in random order; an ISR drawn from them
//! (empty sometimes); at metadata version 4.0 an ELR and a last-known ELR drawn from the
//! rest, disjoint from the ISR and each other; a leader in the ISR, or none; either leader
//! recovery state; any set of acceptable leaders; a metadata version among the model's; ELR
//! on or off (on only at 4.0), the last known leader on or off, min ISR 1 to 3; an election
//! type; a target ISR (or none set) drawn from the replicas, sometimes unclean-shutdown
//! replicas, a reordered or changed replica list, a target recovery state.

use super::Rule;
use kafka_model::controller::kraft::{
    Election, LeaderChange, LeaderRecoveryState, MetadataVersion, PartitionChangeBuilder,
    PartitionChangeRecord, PartitionRegistration,
};
use kafka_model::BrokerId;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub(super) struct PartitionChange;

/// The model's metadata versions and the `MetadataVersion` constant each stands for.
const VERSIONS: [(MetadataVersion, &str); 7] = [
    (MetadataVersion::V3_3, "IBP_3_3_IV3"),
    (MetadataVersion::V3_5, "IBP_3_5_IV2"),
    (MetadataVersion::V3_6, "IBP_3_6_IV2"),
    (MetadataVersion::V3_7, "IBP_3_7_IV4"),
    (MetadataVersion::V3_8, "IBP_3_8_IV0"),
    (MetadataVersion::V3_9, "IBP_3_9_IV0"),
    (MetadataVersion::V4_0, "IBP_4_0_IV3"),
];

#[derive(Serialize)]
pub(super) struct Case {
    mv: &'static str,
    replicas: Vec<BrokerId>,
    isr: Vec<BrokerId>,
    elr: Vec<BrokerId>,
    last_known_elr: Vec<BrokerId>,
    /// -1: none.
    leader: BrokerId,
    leader_recovery_state: &'static str,
    leader_epoch: i32,
    partition_epoch: i32,
    acceptable: Vec<BrokerId>,
    min_isr: usize,
    election: &'static str,
    elr_enabled: bool,
    use_last_known_leader: bool,
    unclean_shutdown: Vec<BrokerId>,
    target_isr: Option<Vec<BrokerId>>,
    target_replicas: Option<Vec<BrokerId>>,
    target_leader_recovery_state: Option<&'static str>,
}

/// The built record, as Kafka's fields hold it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Record {
    isr: Option<Vec<BrokerId>>,
    /// -2: no change; -1: no leader.
    leader: BrokerId,
    replicas: Option<Vec<BrokerId>>,
    elr: Option<Vec<BrokerId>>,
    last_known_elr: Option<Vec<BrokerId>>,
    leader_recovery_state: Option<String>,
}

/// The registration after replaying the record.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Merged {
    replicas: Vec<BrokerId>,
    isr: Vec<BrokerId>,
    elr: Vec<BrokerId>,
    last_known_elr: Vec<BrokerId>,
    leader: BrokerId,
    leader_recovery_state: String,
    leader_epoch: i32,
    partition_epoch: i32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    record: Option<Record>,
    merged: Option<Merged>,
}

const BROKERS: BrokerId = 8;

fn recovery_name(state: LeaderRecoveryState) -> &'static str {
    match state {
        LeaderRecoveryState::Recovered => "RECOVERED",
        LeaderRecoveryState::Recovering => "RECOVERING",
    }
}

fn recovery(name: &str) -> LeaderRecoveryState {
    match name {
        "RECOVERING" => LeaderRecoveryState::Recovering,
        _ => LeaderRecoveryState::Recovered,
    }
}

/// Some of `from`, each with probability `p`, in random order.
fn some_of(rng: &mut ChaCha8Rng, from: &[BrokerId], p: f64) -> Vec<BrokerId> {
    let mut picked: Vec<BrokerId> = from.iter().copied().filter(|_| rng.gen_bool(p)).collect();
    picked.shuffle(rng);
    picked
}

impl Rule for PartitionChange {
    type Case = Case;
    type Answer = Answer;

    fn generate(rng: &mut ChaCha8Rng) -> Case {
        let mut brokers: Vec<BrokerId> = (0..BROKERS).collect();
        brokers.shuffle(rng);
        let replicas = brokers[..rng.gen_range(1..=5)].to_vec();
        let (mv, mv_name) = *VERSIONS.choose(rng).expect("a version");
        let isr = some_of(rng, &replicas, 0.65);
        let (elr, last_known_elr) = if mv == MetadataVersion::V4_0 && rng.gen_bool(0.6) {
            let rest: Vec<BrokerId> = replicas
                .iter()
                .copied()
                .filter(|r| !isr.contains(r))
                .collect();
            let elr = some_of(rng, &rest, 0.5);
            let rest: Vec<BrokerId> = rest.into_iter().filter(|r| !elr.contains(r)).collect();
            // A single member is what the last known leader looks like.
            let last_known = if rng.gen_bool(0.5) {
                rest.choose(rng).into_iter().copied().collect()
            } else {
                some_of(rng, &rest, 0.5)
            };
            (elr, last_known)
        } else {
            (Vec::new(), Vec::new())
        };
        let leader = match isr.choose(rng) {
            Some(&l) if rng.gen_bool(0.75) => l,
            _ => -1,
        };
        let acceptable: Vec<BrokerId> = (0..BROKERS).filter(|_| rng.gen_bool(0.55)).collect();
        let elr_enabled = mv == MetadataVersion::V4_0 && rng.gen_bool(0.6);
        let target_isr = if rng.gen_bool(0.15) {
            None
        } else if rng.gen_bool(0.3) {
            // A shrink: the ISR's members that may still lead.
            Some(
                isr.iter()
                    .copied()
                    .filter(|r| acceptable.contains(r) || rng.gen_bool(0.2))
                    .collect(),
            )
        } else {
            Some(some_of(rng, &replicas, 0.5))
        };
        let target_replicas = if rng.gen_bool(0.15) {
            let mut reordered = replicas.clone();
            reordered.shuffle(rng);
            if rng.gen_bool(0.4) {
                let i = rng.gen_range(0..reordered.len());
                reordered[i] = brokers[rng.gen_range(replicas.len()..brokers.len())];
            }
            Some(reordered)
        } else {
            None
        };
        Case {
            mv: mv_name,
            isr,
            elr,
            last_known_elr,
            leader,
            leader_recovery_state: if rng.gen_bool(0.2) {
                "RECOVERING"
            } else {
                "RECOVERED"
            },
            leader_epoch: rng.gen_range(0..10),
            partition_epoch: rng.gen_range(0..20),
            acceptable,
            min_isr: rng.gen_range(1..=3),
            election: ["PREFERRED", "ONLINE", "UNCLEAN"]
                .choose(rng)
                .expect("a type"),
            elr_enabled,
            use_last_known_leader: rng.gen_bool(0.7),
            unclean_shutdown: if rng.gen_bool(0.3) {
                some_of(rng, &replicas, 0.3)
            } else {
                Vec::new()
            },
            target_isr,
            target_replicas,
            target_leader_recovery_state: if rng.gen_bool(0.1) {
                Some(*["RECOVERED", "RECOVERING"].choose(rng).expect("a state"))
            } else {
                None
            },
            replicas,
        }
    }

    fn model(case: &Case) -> Answer {
        let mv = VERSIONS
            .iter()
            .find(|(_, name)| *name == case.mv)
            .expect("a known version")
            .0;
        let partition = PartitionRegistration {
            replicas: case.replicas.clone(),
            isr: case.isr.clone(),
            elr: case.elr.clone(),
            last_known_elr: case.last_known_elr.clone(),
            leader: (case.leader >= 0).then_some(case.leader),
            leader_recovery_state: recovery(case.leader_recovery_state),
            leader_epoch: case.leader_epoch,
            partition_epoch: case.partition_epoch,
        };
        let election = match case.election {
            "PREFERRED" => Election::Preferred,
            "UNCLEAN" => Election::Unclean,
            _ => Election::Online,
        };
        let acceptable = |b: BrokerId| case.acceptable.contains(&b);
        let mut builder = PartitionChangeBuilder::new(&partition, acceptable, mv, case.min_isr)
            .set_election(election)
            .set_eligible_leader_replicas_enabled(case.elr_enabled)
            .set_use_last_known_leader_in_balanced_recovery(case.use_last_known_leader)
            .set_unclean_shutdown_replicas(case.unclean_shutdown.clone());
        if let Some(isr) = &case.target_isr {
            builder = builder.set_target_isr(isr.clone());
        }
        if let Some(replicas) = &case.target_replicas {
            builder = builder.set_target_replicas(replicas.clone());
        }
        if let Some(state) = case.target_leader_recovery_state {
            builder = builder.set_target_leader_recovery_state(recovery(state));
        }
        let Some(record) = builder.build() else {
            return Answer {
                record: None,
                merged: None,
            };
        };
        let merged = partition.merge(&record);
        let PartitionChangeRecord {
            isr,
            leader,
            replicas,
            elr,
            last_known_elr,
            leader_recovery_state,
        } = record;
        Answer {
            record: Some(Record {
                isr,
                leader: match leader {
                    LeaderChange::NoChange => -2,
                    LeaderChange::NoLeader => -1,
                    LeaderChange::To(b) => b,
                },
                replicas,
                elr,
                last_known_elr,
                leader_recovery_state: leader_recovery_state.map(|s| recovery_name(s).to_string()),
            }),
            merged: Some(Merged {
                replicas: merged.replicas,
                isr: merged.isr,
                elr: merged.elr,
                last_known_elr: merged.last_known_elr,
                leader: merged.leader.unwrap_or(-1),
                leader_recovery_state: recovery_name(merged.leader_recovery_state).to_string(),
                leader_epoch: merged.leader_epoch,
                partition_epoch: merged.partition_epoch,
            }),
        }
    }
}
