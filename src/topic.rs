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

/// Replica assignment over a cluster's broker ids, after Kafka's
/// `AdminUtils.assignReplicasToBrokers` (rack-unaware, `fixedStartIndex` 0): the broker list
/// is sorted by id (as `AdminZkClient.getBrokerMetadatas` hands it over), partition p's
/// leader is the broker at position `p % n`, its followers the next brokers in that order.
///
/// Kafka picks a random start position and, once every n partitions, shifts the followers
/// one further (`nextReplicaShift`); the simulator starts at the lowest id and keeps the
/// plain round robin, so a scenario's assignment never depends on a draw. For the first n
/// partitions the two are the same.
pub fn assign_replicas_to_brokers(
    broker_ids: &[BrokerId],
    partitions: u32,
    replication_factor: u32,
) -> Result<Vec<Vec<BrokerId>>, String> {
    if partitions == 0 {
        return Err("a topic needs at least one partition".into());
    }
    if replication_factor == 0 {
        return Err("the replication factor must be at least 1".into());
    }
    let brokers = broker_ids.len();
    if replication_factor as usize > brokers {
        return Err(format!(
            "replication factor {replication_factor} is larger than the {brokers} available brokers"
        ));
    }
    let mut sorted = broker_ids.to_vec();
    sorted.sort_unstable();
    Ok((0..partitions as usize)
        .map(|p| {
            (0..replication_factor as usize)
                .map(|i| sorted[(p + i) % brokers])
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
    fn round_robin_from_the_lowest_id() {
        assert_eq!(
            assign_replicas_to_brokers(&[0, 1, 2], 4, 2).unwrap(),
            vec![vec![0, 1], vec![1, 2], vec![2, 0], vec![0, 1]]
        );
        assert!(assign_replicas_to_brokers(&[0, 1], 1, 3).is_err());
        assert!(assign_replicas_to_brokers(&[0, 1, 2], 0, 1).is_err());
    }

    #[test]
    fn any_broker_ids_in_id_order() {
        assert_eq!(
            assign_replicas_to_brokers(&[103, 101, 102], 4, 3).unwrap(),
            vec![
                vec![101, 102, 103],
                vec![102, 103, 101],
                vec![103, 101, 102],
                vec![101, 102, 103]
            ]
        );
        assert_eq!(
            assign_replicas_to_brokers(&[7, 1_000_000], 2, 1).unwrap(),
            vec![vec![7], vec![1_000_000]]
        );
    }
}
