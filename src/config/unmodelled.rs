//! Real Kafka configs that kafka-sim does not model yet.
//!
//! A scenario that sets one of these is refused (exit 2) like a typo, because running it with
//! the setting silently ignored would report what Kafka does *without* it. But the message is
//! a different one: the key is right, the simulator is what falls short. The names are
//! Kafka's own (broker `server.properties`, topic `--config`, producer and consumer
//! properties); a key declared in a scope is never looked up here.

/// Kafka config names, sorted, that no scope of the simulator declares.
const NOT_MODELLED: &[&str] = &[
    "advertised.listeners",
    "allow.auto.create.topics",
    "auto.create.topics.enable",
    "bootstrap.servers",
    "broker.id",
    "broker.rack",
    "buffer.memory",
    "check.crcs",
    "client.id",
    "client.rack",
    "compression.type",
    "connections.max.idle.ms",
    "default.replication.factor",
    "delete.topic.enable",
    "exclude.internal.topics",
    "fetch.max.bytes",
    "fetch.min.bytes",
    "interceptor.classes",
    "key.deserializer",
    "key.serializer",
    "listeners",
    "log.dirs",
    "log.retention.hours",
    "log.retention.minutes",
    "log.roll.hours",
    "max.message.bytes",
    "max.partition.fetch.bytes",
    "message.max.bytes",
    "num.io.threads",
    "num.network.threads",
    "num.partitions",
    "num.recovery.threads.per.data.dir",
    "num.replica.fetchers",
    "offsets.retention.minutes",
    "partitioner.class",
    "preallocate",
    "receive.buffer.bytes",
    "replica.fetch.max.bytes",
    "send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "socket.request.max.bytes",
    "socket.send.buffer.bytes",
    "value.deserializer",
    "value.serializer",
    "zookeeper.connect",
];

/// Whether `key` is a Kafka config the simulator does not model yet.
pub fn is_kafka_config_not_modelled(key: &str) -> bool {
    NOT_MODELLED.binary_search(&key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_unique() {
        assert!(NOT_MODELLED.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn no_listed_config_is_modelled() {
        use crate::config::{BrokerConfig, ConsumerConfig, ProducerConfig, TopicConfig};
        let declared: Vec<&str> = BrokerConfig::DECLARED
            .iter()
            .map(|k| k.name)
            .chain(TopicConfig::DECLARED.iter().map(|k| k.name))
            .chain(ProducerConfig::DECLARED.iter().map(|k| k.name))
            .chain(ConsumerConfig::DECLARED.iter().map(|k| k.name))
            .collect();
        let modelled: Vec<&&str> = NOT_MODELLED
            .iter()
            .filter(|key| declared.contains(key))
            .collect();
        assert!(
            modelled.is_empty(),
            "modelled, take them off the list: {modelled:?}"
        );
    }
}
