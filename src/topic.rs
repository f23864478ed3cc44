//! Topic names and replica assignment, by Kafka's rules.

use crate::types::BrokerId;

/// Kafka's longest legal topic name.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Internal topics a user may not create.
pub const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state"];

/// Checks a topic name as Kafka's `Topic.validate` does. `Ok(Some(warning))` for a name that
/// mixes '.' and '_', which collide in metric names.
pub fn validate_topic_name(name: &str) -> Result<Option<String>, String> {
    if name.is_empty() {
        return Err("a topic name cannot be empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("a topic name cannot be \"{name}\""));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(format!(
            "a topic name is at most {MAX_TOPIC_NAME_LEN} characters; this one has {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "illegal character {c:?} in topic name `{name}`: only ASCII letters, digits, '.', '_' and '-' are legal"
        ));
    }
    if INTERNAL_TOPICS.contains(&name) {
        return Err(format!("`{name}` is a reserved internal topic"));
    }
    if name.contains('.') && name.contains('_') {
        return Ok(Some(
            "topics with a period ('.') or underscore ('_') could collide in metric names; avoid using both".into(),
        ));
    }
    Ok(None)
}

/// Round-robin assignment from broker 0: partition p's leader is broker `p % brokers`, its
/// followers the next brokers in order.
pub fn assign_replicas_round_robin(
    brokers: u32,
    partitions: u32,
    replication_factor: u32,
) -> Result<Vec<Vec<BrokerId>>, String> {
    if partitions == 0 {
        return Err("a topic needs at least one partition".into());
    }
    if replication_factor == 0 {
        return Err("the replication factor must be at least 1".into());
    }
    if replication_factor > brokers {
        return Err(format!(
            "replication factor {replication_factor} is larger than the {brokers} available brokers"
        ));
    }
    Ok((0..partitions)
        .map(|p| {
            (0..replication_factor)
                .map(|i| ((p + i) % brokers) as BrokerId)
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name(".").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name(&"a".repeat(250)).is_err());
        assert_eq!(validate_topic_name(&"a".repeat(249)), Ok(None));
        assert!(validate_topic_name("a b").unwrap_err().contains("' '"));
        assert!(validate_topic_name("__consumer_offsets").is_err());
        assert!(validate_topic_name("my.topic_x").unwrap().is_some());
        assert_eq!(validate_topic_name("orders-v2"), Ok(None));
    }

    #[test]
    fn round_robin_from_broker_zero() {
        assert_eq!(
            assign_replicas_round_robin(3, 4, 2).unwrap(),
            vec![vec![0, 1], vec![1, 2], vec![2, 0], vec![0, 1]]
        );
        assert!(assign_replicas_round_robin(2, 1, 3).is_err());
        assert!(assign_replicas_round_robin(3, 0, 1).is_err());
    }
}
