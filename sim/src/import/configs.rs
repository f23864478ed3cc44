//! Reading `kafka-configs.sh --describe --all --entity-type brokers`, and sorting the
//! brokers' configs into what the simulator models and what it does not.

use super::*;

/// Reads `kafka-configs.sh --describe --all --entity-type brokers`: broker id to its configs.
pub(super) fn parse_broker_configs(input: &Input) -> Result<BTreeMap<BrokerId, Vec<RawConfig>>> {
    enum Section {
        Start,
        Broker(BrokerId),
        /// The cluster-wide dynamic defaults (`--entity-default`): each broker's own list
        /// shows them again.
        Defaults,
    }
    let mut brokers: BTreeMap<BrokerId, Vec<RawConfig>> = BTreeMap::new();
    let mut section = Section::Start;
    for (i, raw) in input.text.lines().enumerate() {
        let line = i + 1;
        let text = raw.trim();
        if text.is_empty() {
            continue;
        }
        if text.starts_with("Default configs for brokers")
            || text.starts_with("All configs for brokers")
        {
            section = Section::Defaults;
            continue;
        }
        if let Some(rest) = ["All", "Dynamic", "Static"]
            .iter()
            .find_map(|w| text.strip_prefix(&format!("{w} configs for broker ")))
        {
            let id = rest
                .strip_suffix(" are:")
                .ok_or_else(|| input.err(line, "expected `All configs for broker N are:`"))?;
            let id = broker_id(input, line, "broker", id.trim())?;
            brokers.entry(id).or_default();
            section = Section::Broker(id);
            continue;
        }
        let Some((key, value)) = text.split_once('=') else {
            return Err(input.err(
                line,
                "expected `All configs for broker N are:` or `key=value sensitive=... synonyms={...}`",
            ));
        };
        let value = value
            .split_once(" sensitive=")
            .map_or(value, |(v, _)| v)
            .trim();
        match section {
            Section::Start => {
                return Err(input.err(
                    line,
                    "a config before any `All configs for broker N are:` line",
                ))
            }
            Section::Defaults => {}
            Section::Broker(id) => brokers.entry(id).or_default().push(RawConfig {
                key: key.trim().to_string(),
                value: value.to_string(),
                line,
            }),
        }
    }
    Ok(brokers)
}

/// Broker configs that name topic configs (`log.flush.interval.messages` for
/// `flush.messages`) are modelled when the topic config is.
pub(super) fn broker_key_modelled(key: &str) -> bool {
    kafka_model::config::is_declared(BrokerConfig::DECLARED, key)
}

/// The brokers' configs sorted out for the scenario: the modelled ones go to
/// `[cluster.config]` (from the lowest id that sets each; a disagreement is noted), the rest
/// to comments.
#[derive(Default)]
pub(super) struct ClusterConfig {
    pub(super) modelled: BTreeMap<String, (ConfigValue, BrokerId)>,
    pub(super) disagreements: BTreeMap<String, Vec<String>>,
    /// Unset (`null`) modelled configs: the simulator's default stands.
    pub(super) unset: BTreeSet<String>,
    /// Not modelled: key -> value -> the brokers that have it.
    pub(super) unmodelled: BTreeMap<String, BTreeMap<String, Vec<BrokerId>>>,
    /// Configs of the offsets topic taken from the describe: key, value, where from.
    pub(super) derived: Vec<(String, ConfigValue, String)>,
    /// The brokers' config as the simulator will have it (topic defaults included).
    pub(super) broker_config: BrokerConfig,
}

/// Sorts every broker's configs into modelled, disagreeing, unset and not modelled.
pub(super) fn sort_broker_configs(
    broker_configs: &BTreeMap<BrokerId, Vec<RawConfig>>,
    configs_input: &Input,
) -> Result<ClusterConfig> {
    let mut cluster = ClusterConfig::default();
    for (id, list) in broker_configs {
        for c in list {
            if !broker_key_modelled(&c.key) {
                cluster
                    .unmodelled
                    .entry(c.key.clone())
                    .or_default()
                    .entry(c.value.clone())
                    .or_default()
                    .push(*id);
                continue;
            }
            if c.value == "null" {
                cluster.unset.insert(c.key.clone());
                continue;
            }
            let value = typed(&c.value);
            match cluster.modelled.get(&c.key) {
                Some((first, from)) if first != &value => {
                    let note = format!(
                        "broker {from} has {}, broker {id} has {}",
                        comment_text(&first.to_string()),
                        comment_text(&c.value)
                    );
                    cluster
                        .disagreements
                        .entry(c.key.clone())
                        .or_default()
                        .push(note);
                }
                Some(_) => {}
                None => {
                    cluster
                        .broker_config
                        .apply(&c.key, &value)
                        .map_err(|e| configs_input.err(c.line, format!("{e} (broker {id})")))?;
                    cluster.modelled.insert(c.key.clone(), (value, *id));
                }
            }
        }
    }
    Ok(cluster)
}

/// The offsets topic, when the describe shows it and the broker configs do not say.
pub(super) fn derive_offsets_topic(
    cluster: &mut ClusterConfig,
    topics: &[TopicDescription],
    describe: &Input,
) -> Result<()> {
    let Some(t) = topics.iter().find(|t| t.name == "__consumer_offsets") else {
        return Ok(());
    };
    for (key, v) in [
        ("offsets.topic.num.partitions", t.partition_count),
        ("offsets.topic.replication.factor", t.replication_factor),
    ] {
        if !cluster.modelled.contains_key(key) {
            let value = ConfigValue::Int(v as i64);
            cluster
                .broker_config
                .apply(key, &value)
                .map_err(|e| describe.err(t.line, e.to_string()))?;
            cluster.derived.push((
                key.to_string(),
                value,
                format!("from __consumer_offsets (line {})", t.line),
            ));
        }
    }
    Ok(())
}
