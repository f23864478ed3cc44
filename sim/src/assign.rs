//! `kafka-sim assign FILE.json`: run one of Kafka's consumer partition assignors on a group
//! described in JSON and print the assignment.
//!
//! This answers "what would the group leader hand out?" without running a cluster: the same
//! assignors the simulated consumers use ([`kafka_model::assignor`]), on input written by
//! hand or copied from a JoinGroup exchange.
//!
//! Input:
//!
//! ```json
//! {"strategy": "cooperative-sticky",
//!  "topics": {"orders": 3},
//!  "members": [{"member_id": "c1", "group_instance_id": null, "topics": ["orders"],
//!               "owned_partitions": ["orders-0"], "generation": 2}]}
//! ```
//!
//! `group_instance_id`, `topics`, `owned_partitions` and `generation` are optional; a member
//! without `topics` subscribes to every topic of the input, and owned partitions of a topic
//! missing from `topics` (deleted since the member last synced) are dropped, as Kafka's sticky
//! assignors drop them. The order of
//! `members` is the order the coordinator lists them in (the sticky assignors' tie-breaks
//! follow Java's hash order, which depends on it for colliding ids). Output:
//! `{"assignment": {"c1": ["orders-0", "orders-2"]}}`, members by id, partitions sorted.
//!
//! Input is checked field by field, and an error names the field, for example
//! `members[1].owned_partitions[0]: "orders-x" is not topic-N`. The document's shape (which
//! fields an object may have) is serde's, with `serde_path_to_error` for the field's path;
//! what each value must be is checked after, by hand, so each error says it plainly.

use kafka_model::assignor::{self, MemberSubscription, Strategy};
use kafka_model::TopicPartition;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The most partitions `assign` accepts over all topics: enough for any real group, small
/// enough that the assignors answer in seconds.
pub const MAX_PARTITIONS: u64 = 100_000;

/// A group to assign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub strategy: Strategy,
    pub topics: BTreeMap<String, u32>,
    pub members: Vec<MemberSubscription>,
}

/// Bad input: the field (`members[1].topics[0]`; empty for the document itself) and what is
/// wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct InputError {
    pub field: String,
    pub message: String,
}

/// The document's fields; each value is checked by hand after.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    #[serde(default, deserialize_with = "present")]
    strategy: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    topics: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    members: Option<Value>,
}

/// One member's fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    #[serde(default, deserialize_with = "present")]
    member_id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    group_instance_id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    topics: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    owned_partitions: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    generation: Option<Value>,
}

/// A field that is there, `null` included (`None` is for an absent field only: a member
/// with `"topics": null` subscribes to nothing, one without `topics` to every topic).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Reads the object `value` (at `field`) into its serde shape; an unknown field is an error
/// naming its path and the known fields.
fn shape<'de, T: Deserialize<'de>>(value: &'de Value, field: &str) -> Result<T, InputError> {
    object(value, field)?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = match (field, path.as_str()) {
            (f, ".") => f.to_string(),
            ("", p) => p.to_string(),
            (f, p) => format!("{f}.{p}"),
        };
        let message = e.inner().to_string();
        let message = match message.split_once(", expected ") {
            Some((_, known)) if message.starts_with("unknown field") => {
                let known: Vec<&str> = known.split('`').skip(1).step_by(2).collect();
                format!("unknown field; known fields: {}", known.join(", "))
            }
            _ => message,
        };
        InputError { field, message }
    })
}

fn bad<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, InputError> {
    Err(InputError {
        field: field.into(),
        message: message.into(),
    })
}

/// Reads `file` (`-` for standard input), runs the assignor and returns the output JSON, or
/// an error message that names the file and the field.
pub fn run_file(file: &str) -> Result<String, String> {
    let (name, text) = read_input(file)?;
    let request = parse(&text).map_err(|e| format!("{name}: {e}"))?;
    let output = render(&assign(&request));
    Ok(serde_json::to_string_pretty(&output).expect("JSON values serialize"))
}

/// A tool's input: the file, or standard input for `-`; with the name to give in errors.
pub fn read_input(file: &str) -> Result<(&str, String), String> {
    let name = if file == "-" { "<stdin>" } else { file };
    let text = if file == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("{name}: cannot read: {e}"))?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("{name}: cannot read: {e}"))?
    };
    Ok((name, text))
}

/// Runs the request's assignor.
pub fn assign(request: &Request) -> BTreeMap<String, Vec<TopicPartition>> {
    assignor::assign(request.strategy, &request.topics, &request.members)
}

/// The output document: `{"assignment": {member: ["topic-N", ...]}}`.
pub fn render(assignment: &BTreeMap<String, Vec<TopicPartition>>) -> Value {
    let members: Map<String, Value> = assignment
        .iter()
        .map(|(member, partitions)| {
            let list = partitions.iter().map(|tp| Value::String(tp.to_string()));
            (member.clone(), Value::Array(list.collect()))
        })
        .collect();
    serde_json::json!({ "assignment": members })
}

/// Parses and checks the input document.
pub fn parse(text: &str) -> Result<Request, InputError> {
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return bad("", format!("invalid JSON: {e}")),
    };
    let doc: RawRequest = shape(&doc, "")?;

    let strategy = match &doc.strategy {
        None => return bad("strategy", "missing"),
        Some(Value::String(name)) => match Strategy::from_name(name) {
            Some(s) => s,
            None => {
                let names: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
                let hint = kafka_model::config::nearest_key(name, names.iter().copied())
                    .map(|n| format!(" (did you mean {n:?}?)"))
                    .unwrap_or_default();
                return bad(
                    "strategy",
                    format!(
                        "unknown strategy {name:?}{hint}; one of {}",
                        names.join(", ")
                    ),
                );
            }
        },
        Some(other) => return bad("strategy", format!("{} is not a string", kind(other))),
    };

    let topics = parse_topics(doc.topics.as_ref())?;

    let members = match &doc.members {
        None => return bad("members", "missing"),
        Some(Value::Array(list)) => list,
        Some(other) => return bad("members", format!("{} is not an array", kind(other))),
    };
    let mut parsed: Vec<MemberSubscription> = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let member = parse_member(m, &format!("members[{i}]"), &topics)?;
        if parsed.iter().any(|p| p.member_id == member.member_id) {
            return bad(
                format!("members[{i}].member_id"),
                format!("{:?} appears twice", member.member_id),
            );
        }
        if let Some(instance) = &member.group_instance_id {
            if parsed
                .iter()
                .any(|p| p.group_instance_id.as_ref() == Some(instance))
            {
                return bad(
                    format!("members[{i}].group_instance_id"),
                    format!("{instance:?} appears twice"),
                );
            }
        }
        parsed.push(member);
    }
    Ok(Request {
        strategy,
        topics,
        members: parsed,
    })
}

fn parse_topics(value: Option<&Value>) -> Result<BTreeMap<String, u32>, InputError> {
    let Some(value) = value else {
        return bad("topics", "missing");
    };
    let map = object(value, "topics")?;
    let mut topics = BTreeMap::new();
    let mut total: u64 = 0;
    for (name, count) in map {
        let field = format!("topics.{name:?}");
        if let Err(why) = legal_topic_name(name) {
            return bad(field, why);
        }
        let count = match count.as_u64() {
            Some(0) => return bad(field, "a topic has at least one partition"),
            Some(n) => n,
            None => {
                return bad(
                    field,
                    format!("{count} is not a partition count (a positive integer)"),
                )
            }
        };
        total = total.saturating_add(count);
        if total > MAX_PARTITIONS {
            return bad(
                field,
                format!("more than {MAX_PARTITIONS} partitions in all topics"),
            );
        }
        topics.insert(name.clone(), count as u32);
    }
    Ok(topics)
}

/// Kafka's rule for topic names (`Topic.validate`): 1 to 249 of `[a-zA-Z0-9._-]`, not `.`
/// or `..`.
fn legal_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a topic name is not empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a legal topic name"));
    }
    if name.len() > 249 {
        return Err("a topic name has at most 249 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{name:?} is not a legal topic name ({c:?}; only a-z, A-Z, 0-9, '.', '_', '-')"
        ));
    }
    Ok(())
}

fn parse_member(
    value: &Value,
    field: &str,
    topics: &BTreeMap<String, u32>,
) -> Result<MemberSubscription, InputError> {
    let m: RawMember = shape(value, field)?;
    let member_id = match &m.member_id {
        None => return bad(format!("{field}.member_id"), "missing"),
        Some(v) => non_empty_string(v, &format!("{field}.member_id"))?,
    };
    let group_instance_id = match &m.group_instance_id {
        None | Some(Value::Null) => None,
        Some(v) => Some(non_empty_string(v, &format!("{field}.group_instance_id"))?),
    };

    let mut subscribed: Vec<String> = Vec::new();
    if m.topics.is_none() {
        // No `topics`: the member subscribes to every topic of the input.
        subscribed.extend(topics.keys().cloned());
    }
    for (i, t) in array(m.topics.as_ref(), &format!("{field}.topics"))?
        .iter()
        .enumerate()
    {
        let f = format!("{field}.topics[{i}]");
        let name = non_empty_string(t, &f)?;
        if let Err(why) = legal_topic_name(&name) {
            return bad(f, why);
        }
        if subscribed.contains(&name) {
            return bad(f, format!("{name:?} appears twice"));
        }
        subscribed.push(name);
    }

    let mut owned: Vec<TopicPartition> = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, p) in array(
        m.owned_partitions.as_ref(),
        &format!("{field}.owned_partitions"),
    )?
    .iter()
    .enumerate()
    {
        let f = format!("{field}.owned_partitions[{i}]");
        let Value::String(text) = p else {
            return bad(f, format!("{} is not a \"topic-N\" string", kind(p)));
        };
        let tp = TopicPartition::parse(text).ok_or_else(|| InputError {
            field: f.clone(),
            message: format!("{text:?} is not topic-N"),
        })?;
        if !seen.insert(tp.clone()) {
            return bad(f, format!("{text:?} appears twice"));
        }
        match topics.get(&tp.topic) {
            // A topic deleted since the member last synced: the member still reports what it
            // owned, and Kafka's sticky assignors drop those partitions
            // (`AbstractStickyAssignor.allSubscriptionsEqual` keeps an owned partition only
            // when `allTopics` holds its topic; `StickyAssignorTest.
            // testOnlyAssignsPartitionsFromSubscribedTopics`). Not bad input, so drop it too.
            None => continue,
            Some(&n) if tp.partition >= n => {
                return bad(
                    f,
                    format!(
                        "{text:?}: topic {:?} has partitions 0 to {}",
                        tp.topic,
                        n - 1
                    ),
                )
            }
            Some(_) => {}
        }
        owned.push(tp);
    }

    let generation = match &m.generation {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64().and_then(|g| i32::try_from(g).ok()) {
            Some(g) => Some(g),
            None => {
                return bad(
                    format!("{field}.generation"),
                    format!("{v} is not a generation (a 32-bit integer)"),
                )
            }
        },
    };

    Ok(MemberSubscription {
        member_id,
        group_instance_id,
        topics: subscribed,
        owned_partitions: owned,
        generation,
    })
}

fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, InputError> {
    match value {
        Value::Object(map) => Ok(map),
        other => bad(field, format!("{} is not an object", kind(other))),
    }
}

/// An optional array field: absent or null is empty.
fn array<'a>(value: Option<&'a Value>, field: &str) -> Result<&'a [Value], InputError> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(list)) => Ok(list),
        Some(other) => bad(field, format!("{} is not an array", kind(other))),
    }
}

fn non_empty_string(value: &Value, field: &str) -> Result<String, InputError> {
    match value {
        Value::String(s) if s.is_empty() => bad(field, "is empty"),
        Value::String(s) => Ok(s.clone()),
        other => bad(field, format!("{} is not a string", kind(other))),
    }
}

fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_split_at_the_last_dash() {
        assert_eq!(
            TopicPartition::parse("my-topic-12"),
            Some(TopicPartition::new("my-topic", 12))
        );
        for bad in [
            "orders",
            "orders-",
            "-1",
            "orders-x",
            "orders-+1",
            "orders-99999999999",
        ] {
            assert_eq!(TopicPartition::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse(
            r#"{"strategy": "range", "topics": {"orders": 3},
                "members": [{"member_id": "c1"},
                            {"member_id": "c2", "owned_partitions": ["orders-x"]}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"members[1].owned_partitions[0]: "orders-x" is not topic-N"#
        );
        let err =
            parse(r#"{"strategy": "range", "topics": {"orders": 0}, "members": []}"#).unwrap_err();
        assert_eq!(err.field, r#"topics."orders""#);
        let err =
            parse(r#"{"strategy": "range", "topics": {}, "members": [], "x": 1}"#).unwrap_err();
        assert_eq!(err.field, "x");
    }

    #[test]
    fn a_member_without_topics_subscribes_to_every_topic() {
        let request = parse(
            r#"{"strategy": "range", "topics": {"a": 1, "b": 1},
                "members": [{"member_id": "c1"}, {"member_id": "c2", "topics": ["b"]}]}"#,
        )
        .unwrap();
        assert_eq!(request.members[0].topics, ["a", "b"]);
        assert_eq!(request.members[1].topics, ["b"]);
    }

    /// Kafka's `StickyAssignorTest.testOnlyAssignsPartitionsFromSubscribedTopics` and its
    /// deleted-topic cases: a member still reports partitions of a topic that is gone; the
    /// input is good, those partitions are dropped, and the sticky assignors keep the rest of
    /// what each member owned.
    #[test]
    fn owned_partitions_of_a_deleted_topic_are_dropped() {
        for strategy in ["sticky", "cooperative-sticky"] {
            let request = parse(&format!(
                r#"{{"strategy": "{strategy}", "topics": {{"orders": 2}},
                    "members": [
                      {{"member_id": "c1", "topics": ["orders", "gone"],
                        "owned_partitions": ["orders-1", "gone-0"], "generation": 3}},
                      {{"member_id": "c2", "topics": ["orders", "gone"],
                        "owned_partitions": ["gone-1", "orders-0"], "generation": 3}}]}}"#
            ))
            .unwrap_or_else(|e| panic!("{strategy}: {e}"));
            assert_eq!(
                request.members[0].owned_partitions,
                [TopicPartition::new("orders", 1)]
            );
            assert_eq!(
                request.members[1].owned_partitions,
                [TopicPartition::new("orders", 0)]
            );
            let assignment = assign(&request);
            assert_eq!(
                assignment["c1"],
                [TopicPartition::new("orders", 1)],
                "{strategy}"
            );
            assert_eq!(
                assignment["c2"],
                [TopicPartition::new("orders", 0)],
                "{strategy}"
            );
        }
    }

    #[test]
    fn an_owned_partition_past_the_topics_count_is_still_bad_input() {
        let err = parse(
            r#"{"strategy": "sticky", "topics": {"orders": 1},
                "members": [{"member_id": "c1", "owned_partitions": ["orders-3"]}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"members[0].owned_partitions[0]: "orders-3": topic "orders" has partitions 0 to 0"#
        );
    }
}
