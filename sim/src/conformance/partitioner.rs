//! The partition of a keyed record (`Utils.murmur2`, `BuiltInPartitioner.partitionForKey`).
//! Keys are raw bytes of every length around murmur2's four-byte blocks, and the UTF-8
//! strings the simulator's producers send; partition counts from 1 to 10,000.

use super::Rule;
use kafka_model::clients::partitioner::{murmur2, partition_for_key};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub(super) struct Partitioner;

#[derive(Serialize)]
pub(super) struct Case {
    key_hex: String,
    partitions: u32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    murmur2: i32,
    partition: u32,
}

impl Rule for Partitioner {
    type Case = Case;
    type Answer = Answer;

    fn generate(rng: &mut ChaCha8Rng) -> Case {
        let key: Vec<u8> = if rng.gen_bool(0.5) {
            let len = rng.gen_range(0..=40);
            (0..len).map(|_| rng.gen()).collect()
        } else {
            format!("key-{}", rng.gen_range(0..100_000)).into_bytes()
        };
        let partitions = match rng.gen_range(0..3) {
            0 => rng.gen_range(1..=12),
            1 => rng.gen_range(1..=1_000),
            _ => rng.gen_range(1..=10_000),
        };
        Case {
            key_hex: key.iter().map(|b| format!("{b:02x}")).collect(),
            partitions,
        }
    }

    fn model(case: &Case) -> Answer {
        let key: Vec<u8> = (0..case.key_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&case.key_hex[i..i + 2], 16).expect("hex"))
            .collect();
        Answer {
            murmur2: murmur2(&key),
            partition: partition_for_key(&key, case.partitions),
        }
    }
}
