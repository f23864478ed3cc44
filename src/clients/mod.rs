//! Kafka's clients: the producer, the consumer, the admin client that creates topics, and
//! the pieces they share.
//!
//! Why a module of their own: the clients are the other side of every protocol the broker
//! speaks, and they are where a scenario's outcome is decided (what was acknowledged, what was
//! consumed, what was committed). Kept apart from the broker's files they read the way Kafka's
//! own `org.apache.kafka.clients` package does, and the files follow Kafka's classes so a rule
//! can be checked against the Java it imitates:
//!
//! - [`producer`]: `KafkaProducer`, with the `RecordAccumulator` (batches per partition) in
//!   its own file, as the `Sender` drains it.
//! - [`consumer`]: `KafkaConsumer`, split as Kafka splits it: the `Fetcher` and the fetch
//!   positions (`SubscriptionState`), offset validation and reset (KIP-320,
//!   `OffsetsForLeaderEpoch` and `ListOffsets`), and the group member
//!   (`AbstractCoordinator` / `ConsumerCoordinator`: join, sync, heartbeat, commit).
//! - [`metadata`]: `Metadata` and `NetworkClient.DefaultMetadataUpdater`, the leader cache
//!   and the Metadata requests that fill it, shared by the producer and the consumer so both
//!   choose a broker, apply an answer and decide when to refresh with the same code.
//! - [`partitioner`]: the default partitioner (murmur2 for keys, sticky for records without).
//! - [`admin`]: the `kafka-topics.sh --create` of ZooKeeper mode; [`kraft_admin`], of KRaft
//!   mode (`--bootstrap-controller`).

pub mod admin;
pub mod consumer;
pub mod kraft_admin;
pub mod metadata;
pub mod partitioner;
pub mod processor;
pub mod producer;

/// A client's correlation ids, one sequence for every request it sends (Kafka's
/// `NetworkClient.correlation`): the Metadata requests share it with the produce, fetch and
/// group requests, so an id names exactly one request.
#[derive(Clone, Debug, Default)]
pub struct CorrelationIds {
    last: u64,
}

impl CorrelationIds {
    /// Ids that start after `last`: `last + 1`, `last + 2`, ...
    pub fn after(last: u64) -> CorrelationIds {
        CorrelationIds { last }
    }

    /// The id of the next request: 1, 2, 3, ...
    pub fn next_id(&mut self) -> u64 {
        self.last += 1;
        self.last
    }
}
