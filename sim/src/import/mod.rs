//! `kafka-sim import`: a scenario skeleton from what a real cluster's tools print.
//!
//! It reads `kafka-topics.sh --describe` (Kafka 3.x: a `Topic: T  TopicId: ...
//! PartitionCount: N  ReplicationFactor: R  Configs: k=v,...` line per topic, then a
//! `Topic: T  Partition: P  Leader: L  Replicas: a,b,c  Isr: a,b` line per partition; the
//! older form without `TopicId`, the `Elr:`/`LastKnownElr:` fields of 3.7, `Offline:`,
//! `Adding Replicas:`/`Removing Replicas:` and `MarkedForDeletion:` are taken too) and,
//! optionally, `kafka-configs.sh --describe --all --entity-type brokers` (`All configs for
//! broker N are:` then `  key=value sensitive=... synonyms={...}` lines). It writes a
//! scenario with the cluster's broker ids, the broker and topic configs the simulator
//! models, and each topic's partitions and replica assignment; every config it does not
//! model yet is written as a comment saying so. No workload and no faults: commented
//! examples of both, which load as they are once uncommented.
//!
//! Input that cannot be a describe output (a partition before its topic, a partition count
//! that disagrees with the partition lines, a number that is not one) is an error naming the
//! file and the line.
//!
//! Layout: `describe.rs` reads the describe output, `configs.rs` the broker configs (and
//! sorts them into modelled and not), `write.rs` writes the scenario; this file ties them
//! together.

use crate::scenario::{Scenario, MAX_BROKERS, MAX_PARTITIONS};
use kafka_model::config::{BrokerConfig, ConfigValue, TopicConfig};
use kafka_model::topic::INTERNAL_TOPICS;
use kafka_model::BrokerId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

mod configs;
mod describe;
mod write;

use configs::*;
use describe::*;
use write::*;

/// An input line that cannot be read, with its place: `file:line: message`, or
/// `file: message` when the error is about the file as a whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line_part(.line))]
pub struct ImportError {
    pub file: String,
    /// 1-based; 0 when the error is about the file as a whole.
    pub line: usize,
    pub message: String,
}

/// `:line`, or nothing for line 0 (the whole file).
fn line_part(line: &usize) -> String {
    if *line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

type Result<T> = std::result::Result<T, ImportError>;

/// One input file: its name (for errors) and its text.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Input<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> ImportError {
        ImportError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }
}

/// The scenario text for a describe output and, optionally, the brokers' configs. `name` is
/// the scenario's name (the output file's stem).
pub fn import(name: &str, describe: Input, configs: Option<Input>) -> Result<String> {
    let topics = parse_describe(&describe)?;
    let broker_configs = match &configs {
        Some(c) => parse_broker_configs(c)?,
        None => BTreeMap::new(),
    };
    let ids = broker_ids(&describe, &topics, &broker_configs)?;
    let configs_input = configs.unwrap_or(Input { file: "", text: "" });
    let mut cluster = sort_broker_configs(&broker_configs, &configs_input)?;
    derive_offsets_topic(&mut cluster, &topics, &describe)?;

    let user_topics: Vec<&TopicDescription> = topics
        .iter()
        .filter(|t| !INTERNAL_TOPICS.contains(&t.name.as_str()))
        .collect();
    if user_topics.is_empty() {
        return Err(describe.err(
            0,
            "no topics to import (a scenario needs at least one besides the internal ones)",
        ));
    }

    let mut s = String::new();
    write_header(&mut s, name, &describe, &configs_input);
    write_cluster(&mut s, &ids, &cluster);
    for t in &topics {
        write_topic(&mut s, t, &cluster.broker_config, &describe)?;
    }
    write_examples(&mut s, user_topics[0], &ids);

    // What is written must load.
    Scenario::parse(name, &s)
        .map_err(|e| describe.err(0, format!("the imported scenario does not load: {e}")))?;
    Ok(s)
}

/// The cluster: every broker id either file mentions.
fn broker_ids(
    describe: &Input,
    topics: &[TopicDescription],
    broker_configs: &BTreeMap<BrokerId, Vec<RawConfig>>,
) -> Result<BTreeSet<BrokerId>> {
    let mut ids: BTreeSet<BrokerId> = broker_configs.keys().copied().collect();
    for t in topics {
        for p in &t.partitions {
            ids.extend(p.replicas.iter().copied());
            ids.extend(p.isr.iter().copied());
            ids.extend(p.leader);
        }
    }
    if ids.is_empty() {
        return Err(describe.err(
            0,
            "no broker ids found: is this `kafka-topics.sh --describe` output?",
        ));
    }
    if ids.len() > MAX_BROKERS as usize {
        return Err(describe.err(
            0,
            format!(
                "{} brokers; the simulator runs at most {MAX_BROKERS}",
                ids.len()
            ),
        ));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests;
