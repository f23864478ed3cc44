//! Writing the scenario: TOML values and comments, the cluster, the topics and the
//! commented examples.

use super::*;

/// A printed config value as a scenario value: a whole number, true/false, or a string.
pub(super) fn typed(value: &str) -> ConfigValue {
    if let Ok(i) = value.parse::<i64>() {
        ConfigValue::Int(i)
    } else if value == "true" || value == "false" {
        ConfigValue::Bool(value == "true")
    } else {
        ConfigValue::Str(value.to_string())
    }
}

/// A TOML basic string.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn toml_value(v: &ConfigValue) -> String {
    match v {
        ConfigValue::Int(i) => i.to_string(),
        ConfigValue::Bool(b) => b.to_string(),
        ConfigValue::Float(f) => f.to_string(),
        ConfigValue::Str(s) => quote(s),
    }
}

/// A line for a comment: no line breaks (input lines have none; this keeps it so).
pub(super) fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The comment on top: where the scenario came from and what to do next.
pub(super) fn write_header(s: &mut String, name: &str, describe: &Input, configs_input: &Input) {
    let _ = writeln!(
        s,
        "# Imported by `kafka-sim import` from {}",
        comment_text(describe.file)
    );
    if !configs_input.file.is_empty() {
        let _ = writeln!(s, "# and {}", comment_text(configs_input.file));
    }
    let _ = writeln!(
        s,
        "# (kafka-topics.sh --describe{}).",
        if configs_input.file.is_empty() {
            ""
        } else {
            "; kafka-configs.sh --describe --all --entity-type brokers"
        }
    );
    s.push_str(
        "# The cluster as it was; add a workload and faults (commented examples at the end),\n",
    );
    s.push_str("# then `kafka-sim check` and `kafka-sim run` this file.\n");
    let _ = writeln!(s, "name = {}", quote(name));
    s.push_str("duration = \"60s\"\nsettle = \"30s\"\n\n[cluster]\n");
}

/// `broker_ids` and `[cluster.config]`, with the configs not modelled as comments.
pub(super) fn write_cluster(s: &mut String, ids: &BTreeSet<BrokerId>, cluster: &ClusterConfig) {
    let _ = writeln!(
        s,
        "broker_ids = [{}]",
        ids.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    s.push_str("\n[cluster.config]\n");
    for (key, (value, from)) in &cluster.modelled {
        let _ = writeln!(s, "{} = {}", quote(key), toml_value(value));
        if let Some(d) = cluster.disagreements.get(key) {
            let _ = writeln!(
                s,
                "# brokers disagree on {key} (the simulator gives every broker one config; this is broker {from}'s): {}",
                d.join("; ")
            );
        }
    }
    for (key, value, why) in &cluster.derived {
        let _ = writeln!(s, "{} = {}  # {why}", quote(key), toml_value(value));
    }
    for key in cluster
        .unset
        .iter()
        .filter(|k| !cluster.modelled.contains_key(*k))
    {
        let _ = writeln!(
            s,
            "# {} is unset (null): the simulator's default",
            quote(key)
        );
    }
    write_unmodelled_broker_configs(s, &cluster.unmodelled);
}

pub(super) fn write_unmodelled_broker_configs(
    s: &mut String,
    unmodelled: &BTreeMap<String, BTreeMap<String, Vec<BrokerId>>>,
) {
    if unmodelled.is_empty() {
        return;
    }
    s.push_str("# Broker configs the simulator does not model yet:\n");
    for (key, values) in unmodelled {
        for (value, brokers) in values {
            let _ = writeln!(
                s,
                "#   {} = {}  (broker{} {})",
                comment_text(key),
                comment_text(value),
                if brokers.len() > 1 { "s" } else { "" },
                brokers
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}

/// A topic's configs: the modelled ones as `key = value` for its inline `config` table, the
/// rest as comment lines.
pub(super) fn topic_config_lines(
    t: &TopicDescription,
    broker_config: &BrokerConfig,
    describe: &Input,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut topic_config = broker_config.topic_defaults.clone();
    let mut modelled_topic = Vec::new();
    let mut unmodelled_topic = Vec::new();
    for c in &t.configs {
        if kafka_model::config::is_declared(TopicConfig::DECLARED, &c.key) {
            let value = typed(&c.value);
            topic_config
                .apply(&c.key, &value)
                .map_err(|e| describe.err(c.line, e.to_string()))?;
            modelled_topic.push(format!("{} = {}", quote(&c.key), toml_value(&value)));
        } else {
            unmodelled_topic.push(format!(
                "#   {} = {}",
                comment_text(&c.key),
                comment_text(&c.value)
            ));
        }
    }
    Ok((modelled_topic, unmodelled_topic))
}

/// One `[[topics]]` table (or, for an internal topic, a comment saying it is not imported).
pub(super) fn write_topic(
    s: &mut String,
    t: &TopicDescription,
    broker_config: &BrokerConfig,
    describe: &Input,
) -> Result<()> {
    if INTERNAL_TOPICS.contains(&t.name.as_str()) {
        let _ = writeln!(
            s,
            "\n# {} ({} partitions, replication factor {}): internal, created by the brokers \
             when first needed; not imported as a topic.",
            t.name, t.partition_count, t.replication_factor
        );
        return Ok(());
    }
    if let Err(e) = kafka_model::topic::validate_topic_name(&t.name) {
        return Err(describe.err(t.line, e));
    }
    if t.partition_count == 0 || t.partition_count > MAX_PARTITIONS {
        return Err(describe.err(
            t.line,
            format!(
                "PartitionCount: {}; the simulator takes 1 to {MAX_PARTITIONS}",
                t.partition_count
            ),
        ));
    }
    let (modelled_topic, unmodelled_topic) = topic_config_lines(t, broker_config, describe)?;
    let mut partitions: Vec<&PartitionLine> = t.partitions.iter().collect();
    partitions.sort_by_key(|p| p.partition);
    s.push_str("\n[[topics]]\n");
    let _ = writeln!(s, "name = {}", quote(&t.name));
    let _ = writeln!(s, "partitions = {}", t.partition_count);
    let _ = writeln!(s, "replication_factor = {}", t.replication_factor);
    let replicas = partitions
        .iter()
        .map(|p| format!("[{}]", id_list(&p.replicas)))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(s, "replicas = [{replicas}]");
    if !modelled_topic.is_empty() {
        let _ = writeln!(s, "config = {{ {} }}", modelled_topic.join(", "));
    }
    if !unmodelled_topic.is_empty() {
        s.push_str("# Topic configs the simulator does not model yet:\n");
        for line in &unmodelled_topic {
            s.push_str(line);
            s.push('\n');
        }
    }
    s.push_str("# When described:\n");
    for p in &partitions {
        let _ = writeln!(
            s,
            "#   {}-{}: leader {}, ISR [{}]",
            t.name,
            p.partition,
            p.leader.map_or("none".to_string(), |l| l.to_string()),
            id_list(&p.isr)
        );
    }
    Ok(())
}

/// Broker ids as `1, 2, 3`.
pub(super) fn id_list(ids: &[BrokerId]) -> String {
    ids.iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The commented workload and faults at the end, on the first user topic.
pub(super) fn write_examples(s: &mut String, first: &TopicDescription, ids: &BTreeSet<BrokerId>) {
    let _ = write!(
        s,
        "\n# A workload and a fault, ready to uncomment:\n\
         #\n\
         # [[producers]]\n\
         # name = \"app\"\n\
         # topic = {topic}\n\
         # records = 1000\n\
         # rate = 100\n\
         # config = {{ \"acks\" = \"all\" }}\n\
         #\n\
         # [[consumers]]\n\
         # name = \"readers\"\n\
         # group = \"readers\"\n\
         # members = 2\n\
         # topics = [{topic}]\n\
         #\n\
         # [[faults]]\n\
         # at = \"20s\"\n\
         # action = \"crash\"\n\
         # target = \"leader:{name}-0\"\n\
         #\n\
         # [[faults]]\n\
         # at = \"40s\"\n\
         # action = \"restart\"\n\
         # target = {broker}\n",
        topic = quote(&first.name),
        name = first.name,
        broker = first
            .partitions
            .iter()
            .find(|p| p.partition == 0)
            .map_or(ids.iter().next().copied().unwrap_or(0), |p| p.replicas[0]),
    );
}
