//! The records of `__consumer_offsets`: one per committed offset, one per group's metadata.
//!
//! Kafka encodes these with versioned binary schemas (`GroupMetadataManager`'s
//! `offsetCommitKey`, `groupMetadataValue`, ...); the simulator keeps them readable text, so a
//! scenario's log shows what the coordinator wrote.

use crate::assignor::Strategy;
use crate::types::*;

/// The separator of the fields of a `__consumer_offsets` record key or value. Kafka encodes
/// these records with a versioned binary schema; the simulator keeps them readable.
const FIELD_SEPARATOR: char = '\u{1f}';

/// A member as the group's metadata record stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub protocols: Vec<Strategy>,
    pub topics: Vec<String>,
    pub assignment: Vec<TopicPartition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMetadataRecord {
    pub group: String,
    pub generation: i32,
    pub protocol: Option<Strategy>,
    pub leader: Option<String>,
    pub members: Vec<StoredMember>,
}

/// The two record kinds of `__consumer_offsets`, keyed so that compaction keeps the newest
/// value of each key: one key per (group, partition) for offsets, one per group for metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupRecord {
    Offset {
        group: String,
        tp: TopicPartition,
        offset: u64,
    },
    Metadata(GroupMetadataRecord),
}

fn join_fields(fields: &[&str]) -> String {
    fields.join(&FIELD_SEPARATOR.to_string())
}

fn partitions_text(tps: &[TopicPartition]) -> String {
    tps.iter()
        .map(|tp| tp.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_partitions(s: &str) -> Option<Vec<TopicPartition>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(',').map(TopicPartition::parse).collect()
}

impl GroupRecord {
    /// The record's key and value.
    pub fn encode(&self) -> (String, String) {
        match self {
            GroupRecord::Offset { group, tp, offset } => (
                join_fields(&["offset", group, &tp.topic, &tp.partition.to_string()]),
                offset.to_string(),
            ),
            GroupRecord::Metadata(m) => {
                let mut lines = vec![
                    format!("generation={}", m.generation),
                    format!("protocol={}", m.protocol.map_or("", |p| p.name())),
                    format!("leader={}", m.leader.as_deref().unwrap_or("")),
                ];
                for s in &m.members {
                    let protocols: Vec<&str> = s.protocols.iter().map(|p| p.name()).collect();
                    lines.push(format!(
                        "member={}",
                        join_fields(&[
                            &s.member_id,
                            s.group_instance_id.as_deref().unwrap_or(""),
                            &s.session_timeout_ms.to_string(),
                            &s.rebalance_timeout_ms.to_string(),
                            &protocols.join(","),
                            &s.topics.join(","),
                            &partitions_text(&s.assignment),
                        ])
                    ));
                }
                (join_fields(&["group", &m.group]), lines.join("\n"))
            }
        }
    }

    pub fn decode(key: &str, value: &str) -> Option<GroupRecord> {
        let fields: Vec<&str> = key.split(FIELD_SEPARATOR).collect();
        match fields.as_slice() {
            ["offset", group, topic, partition] => Some(GroupRecord::Offset {
                group: group.to_string(),
                tp: TopicPartition::new(*topic, partition.parse().ok()?),
                offset: value.parse().ok()?,
            }),
            ["group", group] => {
                let mut m = GroupMetadataRecord {
                    group: group.to_string(),
                    generation: 0,
                    protocol: None,
                    leader: None,
                    members: Vec::new(),
                };
                for line in value.lines() {
                    let (k, v) = line.split_once('=')?;
                    match k {
                        "generation" => m.generation = v.parse().ok()?,
                        "protocol" if v.is_empty() => m.protocol = None,
                        "protocol" => m.protocol = Some(Strategy::from_name(v)?),
                        "leader" => m.leader = (!v.is_empty()).then(|| v.to_string()),
                        "member" => m.members.push(decode_member(v)?),
                        _ => return None,
                    }
                }
                Some(GroupRecord::Metadata(m))
            }
            _ => None,
        }
    }
}

fn decode_member(v: &str) -> Option<StoredMember> {
    let f: Vec<&str> = v.split(FIELD_SEPARATOR).collect();
    let [member_id, instance, session, rebalance, protocols, topics, assignment] = f.as_slice()
    else {
        return None;
    };
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    Some(StoredMember {
        member_id: member_id.to_string(),
        group_instance_id: (!instance.is_empty()).then(|| instance.to_string()),
        session_timeout_ms: session.parse().ok()?,
        rebalance_timeout_ms: rebalance.parse().ok()?,
        protocols: split(protocols)
            .iter()
            .map(|p| Strategy::from_name(p))
            .collect::<Option<Vec<_>>>()?,
        topics: split(topics),
        assignment: parse_partitions(assignment)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_harness::*;
    use super::*;

    #[test]
    fn records_round_trip() {
        let (h, _, _) = stable_pair();
        let meta = GroupRecord::Metadata(h.group().metadata_record());
        let (k, v) = meta.encode();
        assert_eq!(GroupRecord::decode(&k, &v), Some(meta));
        let offset = GroupRecord::Offset {
            group: "g-1".into(),
            tp: TopicPartition::new("orders-v2", 3),
            offset: 99,
        };
        let (k, v) = offset.encode();
        assert_eq!(GroupRecord::decode(&k, &v), Some(offset));
        assert_eq!(GroupRecord::decode("nonsense", ""), None);
        assert_eq!(
            TopicPartition::parse("orders-v2-3"),
            Some(TopicPartition::new("orders-v2", 3))
        );
        assert_eq!(TopicPartition::parse("-3"), None);
    }
}
