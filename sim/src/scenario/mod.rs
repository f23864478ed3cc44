//! Scenario files: one TOML file, one story.
//!
//! A scenario says what the cluster looks like, what the clients do and which faults strike
//! when, and what must happen (`[expect]`). Parsing is strict: an unknown key anywhere is an
//! error naming the file, the line and the key, with the nearest valid key, because a typo in
//! `min.insync.replicas` must never quietly run a scenario with the default. Every error
//! carries a position; no input makes the parser panic.
//!
//! The parse runs in two steps. serde reads the file into the shapes of `raw`, where every
//! table denies unknown keys; then `cluster`, `clients` and `faults` check the values the way
//! Kafka's validators and the simulator need them, and build the types of `spec`. Errors and
//! their positions are `error`'s.

mod clients;
mod cluster;
mod error;
mod faults;
mod processors;
mod raw;
mod sequence;
mod spec;
#[cfg(test)]
mod tests;
mod values;

pub use error::ScenarioError;
pub use spec::*;

use error::{Ctx, Result};
use faults::Known;
use raw::RawScenario;

/// FNV-1a, 64 bits.
fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Scenario {
    pub fn load(path: &str) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_string(),
            line: 0,
            column: 0,
            key: None,
            message: format!("cannot read the file: {e}"),
        })?;
        Scenario::parse(path, &text)
    }

    /// The consumers' names, by their index (the index events and checkers use).
    pub fn consumer_names(&self) -> Vec<String> {
        self.consumers.iter().map(|c| c.name.clone()).collect()
    }

    /// A stable hash of the file's text (FNV-1a, 64 bits): which version of the file a
    /// result came from.
    pub fn hash(&self) -> u64 {
        fnv64(self.text.as_bytes())
    }

    /// A stable hash of what the file asks the run to do: its text without comment lines
    /// and blank lines. The nemesis draws its schedule from it and the seed, so rewording
    /// a teaching comment (or adding a claim line) never changes a run.
    pub fn schedule_hash(&self) -> u64 {
        let mut kept = String::with_capacity(self.text.len());
        for line in self.text.lines() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            kept.push_str(line);
            kept.push('\n');
        }
        fnv64(kept.as_bytes())
    }

    pub fn parse(path: &str, text: &str) -> Result<Scenario> {
        let ctx = Ctx { file: path, text };
        let raw: RawScenario = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| ctx.serde_error(e))?;
        let name = ctx
            .str("name", raw.name.as_ref())?
            .ok_or_else(|| ctx.err(None, Some("name"), "a scenario needs a name"))?;
        let duration_ms = ctx
            .duration_ms("duration", raw.duration.as_ref())?
            .unwrap_or(60_000);
        let settle_ms = ctx
            .duration_ms("settle", raw.settle.as_ref())?
            .unwrap_or(30_000);
        if duration_ms == 0 {
            return Err(ctx.err(
                ctx.key_or(raw.duration.as_ref(), None),
                Some("duration"),
                "must be more than 0",
            ));
        }
        let seed = ctx
            .int("seed", raw.seed.as_ref(), 0, i64::MAX)?
            .unwrap_or(0) as u64;

        let network = cluster::parse_network(&ctx, raw.network.as_ref())?;
        let cluster = cluster::parse_cluster(&ctx, raw.cluster.as_ref(), &network)?;
        let mut warnings = Vec::new();
        let topics = cluster::parse_topics(&ctx, &raw.topics, &cluster, &mut warnings)?;
        let producers = clients::parse_producers(
            &ctx,
            &raw.producers,
            &topics,
            &network,
            cluster.config.kafka_version,
            &mut warnings,
        )?;
        let mut consumers = clients::parse_consumers(
            &ctx,
            &raw.consumers,
            &topics,
            &network,
            cluster.config.kafka_version,
        )?;
        let mut producers = producers;
        let parsed = processors::parse_processors(
            &ctx,
            &raw.processors,
            &topics,
            &network,
            cluster.config.kafka_version,
            processors::Taken {
                producers: &producers,
                consumers: &consumers,
            },
            &mut warnings,
        )?;
        producers.extend(parsed.producers);
        consumers.extend(parsed.consumers);
        let processors = parsed.processors;
        let known = Known {
            cluster: &cluster,
            topics: &topics,
            producers: &producers,
            consumers: &consumers,
            processors: &processors,
        };
        let mut faults = faults::parse_faults(&ctx, &raw.faults, &known, duration_ms)?;
        let forks = add_forks(&mut faults, &mut producers);
        if let Some(w) = clients::offsets_topic_warning(&cluster, &consumers) {
            warnings.push(w);
        }
        let expect = faults::parse_expect(&ctx, raw.expect.as_ref())?;
        let producer_names: Vec<&str> = producers.iter().map(|p| p.name.as_str()).collect();
        let nemesis = faults::parse_nemesis(&ctx, raw.nemesis.as_ref(), &producer_names)?;
        Ok(Scenario {
            nemesis,
            path: path.to_string(),
            name,
            description: description_of(text),
            warnings,
            duration_ms,
            settle_ms,
            seed,
            cluster,
            network,
            topics,
            producers,
            consumers,
            processors,
            forks,
            faults,
            expect,
            text: text.to_string(),
            keep_log: None,
        })
    }
}

/// Each `fork` fault's second instance: a producer like the one it forks, with the same
/// `transactional.id` and workload, named `NAME-fork` (`NAME-fork2`, ... for later forks),
/// that sleeps until the fault. Returns (fork, forked producer, wake time) per fork.
fn add_forks(faults: &mut [FaultSpec], producers: &mut Vec<ProducerSpec>) -> Vec<ForkSpec> {
    let mut forks = Vec::new();
    for f in faults.iter_mut() {
        let FaultAction::Fork {
            target: Target::Producer(name),
            fork,
        } = &mut f.action
        else {
            continue;
        };
        let of = producers
            .iter()
            .position(|p| &p.name == name)
            .expect("checked when parsed");
        let n = forks.iter().filter(|k: &&ForkSpec| k.of == of).count() + 1;
        let mut spec = producers[of].clone();
        spec.name = match n {
            1 => format!("{name}-fork"),
            n => format!("{name}-fork{n}"),
        };
        *fork = producers.len();
        producers.push(spec);
        forks.push(ForkSpec {
            of,
            producer: *fork,
            at_ms: f.at_ms,
        });
    }
    forks
}

fn description_of(text: &str) -> String {
    let mut lines = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix('#') {
            lines.push(rest.strip_prefix(' ').unwrap_or(rest).to_string());
        } else if t.is_empty() && lines.is_empty() {
            continue;
        } else {
            break;
        }
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}
