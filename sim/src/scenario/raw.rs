//! The scenario file's shape, as serde reads it.
//!
//! Every table denies unknown keys, so a typo is an error before anything runs. Values stay
//! `toml::Value`s with their spans: what a value must be (a duration, a count in a range, a
//! target) is checked after deserialising, by the functions that know the rule and say it in
//! the error.

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// A value with its span.
pub type Val = Spanned<toml::Value>;

/// A `config` table: Kafka's names, checked against the scope's declared keys.
pub type ConfigTable = Spanned<BTreeMap<Spanned<String>, Val>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<Val>,
    pub duration: Option<Val>,
    pub settle: Option<Val>,
    pub seed: Option<Val>,
    pub cluster: Option<Spanned<RawCluster>>,
    pub network: Option<Spanned<RawNetwork>>,
    #[serde(default)]
    pub topics: Vec<Spanned<RawTopic>>,
    #[serde(default)]
    pub producers: Vec<Spanned<RawProducer>>,
    #[serde(default)]
    pub consumers: Vec<Spanned<RawConsumer>>,
    #[serde(default)]
    pub processors: Vec<Spanned<RawProcessor>>,
    #[serde(default)]
    pub faults: Vec<Spanned<RawFault>>,
    pub nemesis: Option<Spanned<RawNemesis>>,
    /// Counters and `violations`: checked against `EXPECT_COUNTERS` by hand, for the hint.
    pub expect: Option<Spanned<BTreeMap<Spanned<String>, Val>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub brokers: Option<Val>,
    pub broker_ids: Option<Spanned<List>>,
    pub kafka_version: Option<Val>,
    /// `"kraft"` or `"zookeeper"`.
    pub mode: Option<Val>,
    /// KRaft mode: how many dedicated controllers, and their node ids.
    pub controllers: Option<Val>,
    pub controller_ids: Option<Spanned<List>>,
    /// KRaft mode: `"broker"` (dedicated controllers) or `"broker,controller"` (combined
    /// nodes), Kafka's `process.roles` of the brokers.
    pub process_roles: Option<Val>,
    /// KRaft mode: feature name to level, e.g. `{ "eligible.leader.replicas.version" = 1 }`.
    pub features: Option<ConfigTable>,
    pub config: Option<ConfigTable>,
    pub os: Option<Spanned<RawOs>>,
}

/// `[cluster.os]`: the operating system's page-cache write-back, a setting of the world.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOs {
    pub dirty_expire: Option<Val>,
    pub dirty_writeback: Option<Val>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub latency: Option<Val>,
    pub loss: Option<Val>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopic {
    pub name: Option<Val>,
    pub partitions: Option<Val>,
    pub replication_factor: Option<Val>,
    pub replicas: Option<Val>,
    pub config: Option<ConfigTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProducer {
    pub name: Option<Val>,
    pub topic: Option<Val>,
    pub records: Option<Val>,
    pub rate: Option<Val>,
    pub keys: Option<Val>,
    pub value_bytes: Option<Val>,
    pub start: Option<Val>,
    pub config: Option<ConfigTable>,
    /// The exact records to send (`sequence`), instead of `records` generated ones.
    pub sequence: Option<Spanned<List>>,
    /// With a `transactional.id`: records per transaction.
    pub transaction_records: Option<Val>,
    /// With a `transactional.id`: every K-th transaction is aborted by the application.
    pub abort_every: Option<Val>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsumer {
    pub name: Option<Val>,
    pub topics: Option<Val>,
    pub start: Option<Val>,
    pub config: Option<ConfigTable>,
    pub group: Option<Val>,
    pub members: Option<Val>,
    pub processing: Option<Val>,
    pub commit: Option<Val>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcessor {
    pub name: Option<Val>,
    pub group: Option<Val>,
    pub input: Option<Val>,
    pub output: Option<Val>,
    pub processing: Option<Val>,
    pub start: Option<Val>,
    pub config: Option<ConfigTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub at: Option<Val>,
    pub action: Option<Val>,
    pub target: Option<Val>,
    pub delay: Option<Val>,
    pub direction: Option<Val>,
    pub groups: Option<Val>,
    pub rate: Option<Val>,
    pub isr_wait: Option<Val>,
    pub before_offset: Option<Val>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNemesis {
    pub kinds: Option<Val>,
    pub interval: Option<Val>,
    pub duration: Option<Val>,
    pub max_concurrent: Option<Val>,
    pub swarm: Option<Val>,
    pub clients: Option<Val>,
}

/// A value that should be a list, with each item's span (`broker_ids`, `controller_ids`,
/// where an error points at the bad id), or what was there instead.
pub enum List {
    Items(Vec<Val>),
    NotAList,
}

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<List, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = List;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Val>()? {
                    items.push(item);
                }
                Ok(List::Items(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<List, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(List::NotAList)
            }
            fn visit_bool<E>(self, _: bool) -> Result<List, E> {
                Ok(List::NotAList)
            }
            fn visit_i64<E>(self, _: i64) -> Result<List, E> {
                Ok(List::NotAList)
            }
            fn visit_u64<E>(self, _: u64) -> Result<List, E> {
                Ok(List::NotAList)
            }
            fn visit_f64<E>(self, _: f64) -> Result<List, E> {
                Ok(List::NotAList)
            }
            fn visit_str<E>(self, _: &str) -> Result<List, E> {
                Ok(List::NotAList)
            }
        }
        d.deserialize_any(ListVisitor)
    }
}
