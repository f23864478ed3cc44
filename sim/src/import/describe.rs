//! Reading `kafka-topics.sh --describe`: a topic line per topic, then a line per partition.

use super::*;

/// A config as `kafka-topics.sh` or `kafka-configs.sh` printed it, with its line.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RawConfig {
    pub(super) key: String,
    pub(super) value: String,
    pub(super) line: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct PartitionLine {
    pub(super) partition: u32,
    pub(super) leader: Option<BrokerId>,
    pub(super) replicas: Vec<BrokerId>,
    pub(super) isr: Vec<BrokerId>,
    pub(super) line: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct TopicDescription {
    pub(super) name: String,
    pub(super) partition_count: u32,
    pub(super) replication_factor: u32,
    pub(super) configs: Vec<RawConfig>,
    pub(super) partitions: Vec<PartitionLine>,
    pub(super) line: usize,
}

/// The fields `kafka-topics.sh --describe` prints, longest first where one name ends
/// another (`Replicas` inside `Adding Replicas`).
pub(super) const FIELDS: &[&str] = &[
    "Adding Replicas",
    "Removing Replicas",
    "MarkedForDeletion",
    "ReplicationFactor",
    "PartitionCount",
    "LastKnownElr",
    "Partition",
    "Replicas",
    "TopicId",
    "Configs",
    "Offline",
    "Leader",
    "Topic",
    "Isr",
    "Elr",
];

/// Splits a describe line into `(field, value)` pairs. Fields are separated by tabs in the
/// tool's output, but a copy from a terminal may have turned them into spaces, so a field
/// starts wherever a known name followed by `:` starts a word.
pub(super) fn fields(line: &str) -> Vec<(&'static str, String)> {
    let mut starts: Vec<(usize, usize, &'static str)> = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < line.len() {
        let at_word = i == 0 || bytes[i - 1].is_ascii_whitespace();
        let found = at_word
            .then(|| {
                FIELDS
                    .iter()
                    .find(|f| line[i..].starts_with(*f) && line[i + f.len()..].starts_with(':'))
            })
            .flatten();
        match found {
            Some(f) => {
                starts.push((i, i + f.len() + 1, f));
                i += f.len() + 1;
            }
            None => i += line[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    let mut out = Vec::new();
    for (n, (_, value_start, name)) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(line.len(), |(s, _, _)| *s);
        out.push((*name, line[*value_start..end].trim().to_string()));
    }
    out
}

pub(super) fn number<T: std::str::FromStr>(
    input: &Input,
    line: usize,
    field: &str,
    text: &str,
) -> Result<T> {
    text.parse().map_err(|_| {
        input.err(
            line,
            format!("{field}: `{text}` is not a whole number of the expected size"),
        )
    })
}

pub(super) fn broker_id(input: &Input, line: usize, field: &str, text: &str) -> Result<BrokerId> {
    let id: BrokerId = number(input, line, field, text)?;
    if id < 0 {
        return Err(input.err(line, format!("{field}: broker id {id} is negative")));
    }
    Ok(id)
}

/// A list of broker ids as the tool prints it: `1,2,3`, or nothing.
pub(super) fn broker_list(
    input: &Input,
    line: usize,
    field: &str,
    text: &str,
) -> Result<Vec<BrokerId>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| broker_id(input, line, field, s))
        .collect()
}

/// `Configs: a=1,b=2`. A value may itself hold commas (`leader.replication.throttled.replicas
/// = 0:1,1:2`): a piece without `=` belongs to the value before it.
pub(super) fn topic_configs(input: &Input, line: usize, text: &str) -> Result<Vec<RawConfig>> {
    let mut configs: Vec<RawConfig> = Vec::new();
    for piece in text.split(',').filter(|p| !p.trim().is_empty()) {
        match piece.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !k.contains(' ') => configs.push(RawConfig {
                key: k.trim().to_string(),
                value: v.trim().to_string(),
                line,
            }),
            _ => match configs.last_mut() {
                Some(last) => {
                    last.value.push(',');
                    last.value.push_str(piece.trim());
                }
                None => return Err(input.err(line, format!("Configs: `{piece}` is not key=value"))),
            },
        }
    }
    Ok(configs)
}

/// Reads a `kafka-topics.sh --describe` output.
pub(super) fn parse_describe(input: &Input) -> Result<Vec<TopicDescription>> {
    let mut topics: Vec<TopicDescription> = Vec::new();
    for (i, raw) in input.text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let f = fields(raw);
        let Some(topic) = field(&f, "Topic") else {
            return Err(input.err(
                line,
                "not a line of `kafka-topics.sh --describe` (no `Topic:` field)",
            ));
        };
        if topic.is_empty() {
            return Err(input.err(line, "Topic: the topic name is missing"));
        }
        if let Some(p) = field(&f, "Partition") {
            let Some(current) = topics.last_mut() else {
                return Err(input.err(
                    line,
                    format!("a partition of `{topic}` before any topic line (`Topic: {topic}  PartitionCount: ...`)"),
                ));
            };
            if current.name != topic {
                return Err(input.err(
                    line,
                    format!(
                        "a partition of `{topic}` under the topic line of `{}` (line {}): its own topic line must come first",
                        current.name, current.line
                    ),
                ));
            }
            let partition = partition_line(input, line, &f, p)?;
            if current
                .partitions
                .iter()
                .any(|q| q.partition == partition.partition)
            {
                return Err(input.err(
                    line,
                    format!(
                        "partition {} of `{topic}` is described twice",
                        partition.partition
                    ),
                ));
            }
            current.partitions.push(partition);
            continue;
        }
        if let Some(previous) = topics.last() {
            check_partition_count(input, previous)?;
        }
        let (partition_count, replication_factor) = topic_counts(input, line, &f)?;
        if topics.iter().any(|t| t.name == topic) {
            return Err(input.err(line, format!("topic `{topic}` is described twice")));
        }
        topics.push(TopicDescription {
            name: topic.to_string(),
            partition_count,
            replication_factor,
            configs: topic_configs(input, line, field(&f, "Configs").unwrap_or(""))?,
            partitions: Vec::new(),
            line,
        });
    }
    if let Some(last) = topics.last() {
        check_partition_count(input, last)?;
    }
    Ok(topics)
}

/// The value of a field of a describe line.
pub(super) fn field<'a>(f: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

/// A partition line: `Topic: T  Partition: P  Leader: L  Replicas: a,b,c  Isr: a,b`.
pub(super) fn partition_line(
    input: &Input,
    line: usize,
    f: &[(&'static str, String)],
    p: &str,
) -> Result<PartitionLine> {
    let get = |name: &str| field(f, name);
    let partition: u32 = number(input, line, "Partition", p)?;
    let leader = match get("Leader") {
        None => return Err(input.err(line, "a partition line needs `Leader:`")),
        Some("none") | Some("-1") | Some("") => None,
        Some(l) => Some(broker_id(input, line, "Leader", l)?),
    };
    let replicas = broker_list(
        input,
        line,
        "Replicas",
        get("Replicas").ok_or_else(|| input.err(line, "a partition line needs `Replicas:`"))?,
    )?;
    if replicas.is_empty() {
        return Err(input.err(line, "Replicas: a partition needs at least one replica"));
    }
    let mut seen = BTreeSet::new();
    if let Some(d) = replicas.iter().find(|r| !seen.insert(**r)) {
        return Err(input.err(line, format!("Replicas: broker {d} appears twice")));
    }
    let isr = broker_list(input, line, "Isr", get("Isr").unwrap_or(""))?;
    // Fields the simulator has no use for still have to be readable.
    for name in [
        "Elr",
        "LastKnownElr",
        "Offline",
        "Adding Replicas",
        "Removing Replicas",
    ] {
        if let Some(v) = get(name) {
            broker_list(input, line, name, v)?;
        }
    }
    Ok(PartitionLine {
        partition,
        leader,
        replicas,
        isr,
        line,
    })
}

/// A topic line's `PartitionCount` and `ReplicationFactor`.
pub(super) fn topic_counts(
    input: &Input,
    line: usize,
    f: &[(&'static str, String)],
) -> Result<(u32, u32)> {
    let get = |name: &str| field(f, name);
    let count = get("PartitionCount")
        .ok_or_else(|| input.err(line, "a topic line needs `PartitionCount:`"))?;
    let partition_count: u32 = number(input, line, "PartitionCount", count)?;
    let rf = get("ReplicationFactor")
        .ok_or_else(|| input.err(line, "a topic line needs `ReplicationFactor:`"))?;
    let replication_factor: u32 = number(input, line, "ReplicationFactor", rf)?;
    Ok((partition_count, replication_factor))
}

/// The partition lines under a topic line must be its partitions 0 to PartitionCount-1, each
/// with ReplicationFactor replicas.
pub(super) fn check_partition_count(input: &Input, t: &TopicDescription) -> Result<()> {
    if t.partitions.len() != t.partition_count as usize {
        return Err(input.err(
            t.line,
            format!(
                "topic `{}` has PartitionCount: {} but {} partition line(s) follow",
                t.name,
                t.partition_count,
                t.partitions.len()
            ),
        ));
    }
    for p in &t.partitions {
        if p.partition >= t.partition_count {
            return Err(input.err(
                p.line,
                format!(
                    "partition {} of `{}`, whose PartitionCount is {}",
                    p.partition, t.name, t.partition_count
                ),
            ));
        }
        if p.replicas.len() != t.replication_factor as usize {
            return Err(input.err(
                p.line,
                format!(
                    "{} replicas, but topic `{}` has ReplicationFactor: {} (a reassignment in \
                     progress? describe the topic again once it is done)",
                    p.replicas.len(),
                    t.name,
                    t.replication_factor
                ),
            ));
        }
    }
    Ok(())
}
