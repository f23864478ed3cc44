//! The resolved scenario: what a run needs, checked and with every default filled in.
//!
//! These are the types the rest of the simulator reads; nothing here knows TOML. The
//! parser (`raw` for the file's shape, `cluster`, `clients` and `faults` for the checks)
//! builds them.

use crate::check::Invariant;
use kafka_model::clients::consumer::CommitMode;
use kafka_model::clients::producer::{ScriptedRecord, TransactionWorkload, ValueBytes};
use kafka_model::config::{BrokerConfig, ConsumerConfig, ProducerConfig, TopicConfig};
use kafka_model::controller::kraft::records::{
    metadata_version_level, metadata_version_of_level, ELR_FEATURE, METADATA_VERSION_FEATURE,
};
use kafka_model::controller::kraft::MetadataVersion;
use kafka_model::kafka_version::KafkaVersion;
use kafka_model::page_cache::WriteBack;
use kafka_model::{BrokerId, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The most brokers a scenario may have. Any id from 0 to `i32::MAX` has an address of its
/// own (`world::addr_of`); the cap only keeps a typo from starting a million nodes.
pub const MAX_BROKERS: u32 = 10_000;
/// The most partitions a topic may have in a simulation. Kafka sets no limit of its own;
/// this one only keeps a typo from building a million partitions.
pub const MAX_PARTITIONS: u32 = 100_000;
/// The most producers, or consumer processes, a scenario may have.
pub const MAX_CLIENTS: usize = 10_000;

#[derive(Clone, Debug)]
pub struct Scenario {
    pub path: String,
    pub name: String,
    pub description: String,
    pub warnings: Vec<String>,
    pub duration_ms: u64,
    pub settle_ms: u64,
    pub seed: u64,
    pub cluster: ClusterSpec,
    pub network: NetworkSpec,
    pub topics: Vec<TopicSpec>,
    /// The producer processes, then the producers of `processors` (one each, in order).
    pub producers: Vec<ProducerSpec>,
    /// The consumer processes, then the consumers of `processors` (one each, in order).
    pub consumers: Vec<ConsumerSpec>,
    /// `[[processors]]`: consume-transform-produce applications. Each runs a consumer and
    /// a producer in one process; both also sit in `consumers` and `producers`, at the
    /// indexes its spec names, so the record's events and the checkers see them as the
    /// clients they are.
    pub processors: Vec<ProcessorSpec>,
    /// The second instances `fork` faults start: producers in `producers` that sleep until
    /// their fault.
    pub forks: Vec<ForkSpec>,
    pub faults: Vec<FaultSpec>,
    /// Random faults drawn from the seed, added to `faults` when the run starts.
    pub nemesis: Option<NemesisSpec>,
    pub expect: Expect,
    /// The file's text, for the scenario hash.
    pub text: String,
    /// Not from the file: the partition whose replicas' whole logs the run keeps for the
    /// command line's `--dump-log` (`RunResult::kept_logs`); `None` keeps none.
    pub keep_log: Option<TopicPartition>,
}

#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// The broker ids, distinct and ascending: `brokers = N` gives 0 to N-1, `broker_ids`
    /// any non-negative ids, as Kafka's `broker.id` allows.
    broker_ids: Vec<BrokerId>,
    pub config: BrokerConfig,
    /// `[cluster.os]`: the machines' operating system.
    pub os: OsSpec,
    /// `mode`: where the cluster keeps its metadata. By default KRaft from Kafka 4.0, which
    /// removed ZooKeeper mode, and ZooKeeper before.
    pub mode: ClusterMode,
    /// The node ids of the KRaft controllers (`controllers`, `controller_ids`): with
    /// dedicated controllers distinct from every broker id, as Kafka's `node.id` is; in
    /// combined mode the ids of the brokers that also run a controller. Empty in ZooKeeper
    /// mode.
    pub controller_ids: Vec<u32>,
    /// `process_roles`: whether the controllers run on their own nodes or inside brokers.
    pub process_roles: ProcessRoles,
    /// `features`: the KRaft feature levels the file sets. The others are the release's
    /// defaults: read a level with [`ClusterSpec::feature_level`].
    pub features: BTreeMap<String, i16>,
}

/// `[cluster] mode`: how the cluster keeps its metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterMode {
    /// A ZooKeeper ensemble holds it and one broker is the controller (Kafka up to 3.9).
    ZooKeeper,
    /// A quorum of controllers replicates it in the `__cluster_metadata` log (KIP-500;
    /// production-ready from 3.3, the only mode from 4.0, KIP-833).
    Kraft,
}

impl ClusterMode {
    /// The mode a cluster of `release` runs in when the file does not say.
    pub fn default_for(release: KafkaVersion) -> ClusterMode {
        if release.requires_kraft() {
            ClusterMode::Kraft
        } else {
            ClusterMode::ZooKeeper
        }
    }
}

impl fmt::Display for ClusterMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClusterMode::ZooKeeper => "zookeeper",
            ClusterMode::Kraft => "kraft",
        })
    }
}

/// `[cluster] process_roles`: Kafka's `process.roles` of the brokers in KRaft mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProcessRoles {
    /// `"broker"`: the brokers are brokers only, and the controllers are nodes of their
    /// own (`process.roles=controller`), as Kafka recommends in production.
    #[default]
    Broker,
    /// `"broker,controller"`: combined mode. Each controller runs inside a broker's process
    /// (Kafka's `KafkaRaftServer` with a `BrokerServer` and a `ControllerServer`), under the
    /// broker's `node.id`; one crash takes down both roles. KIP-833: not for critical
    /// deployments.
    Combined,
}

impl ProcessRoles {
    /// The value as the file writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessRoles::Broker => "broker",
            ProcessRoles::Combined => "broker,controller",
        }
    }
}

/// How many dedicated controllers a KRaft cluster has when the file does not say.
pub const DEFAULT_CONTROLLERS: u32 = 3;
/// The most controllers a scenario may have: a quorum is kept small (Kafka suggests 3 or 5).
pub const MAX_CONTROLLERS: u32 = 9;

/// `kraft.version`: 1 is the dynamic controller quorum (KIP-853, 3.9).
pub const KRAFT_VERSION_FEATURE: &str = "kraft.version";
/// `transaction.version`: 1 and 2 are KIP-890's transaction protocol (4.0).
pub const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";
/// `group.version`: 1 is KIP-848's consumer group protocol (4.0).
pub const GROUP_VERSION_FEATURE: &str = "group.version";

/// The KRaft features a scenario may set in `[cluster] features`, by name.
pub const FEATURES: &[&str] = &[
    ELR_FEATURE,
    GROUP_VERSION_FEATURE,
    KRAFT_VERSION_FEATURE,
    METADATA_VERSION_FEATURE,
    TRANSACTION_VERSION_FEATURE,
];

/// The highest level Kafka defines for a feature other than `metadata.version` (whose
/// levels are [`metadata_version_levels`]), and the first release that ships the levels
/// above 0: a broker refuses a level its code does not know.
pub fn feature_levels(name: &str) -> Option<(i16, KafkaVersion)> {
    let (max, first) = match name {
        // KRaftVersion.KRAFT_VERSION_1, bootstrapped at 3.9-IV0.
        KRAFT_VERSION_FEATURE => (1, "3.9.0"),
        // EligibleLeaderReplicasVersion.ELRV_1, GroupVersion.GV_1, TransactionVersion.TV_1
        // and TV_2: all new in 4.0.
        ELR_FEATURE | GROUP_VERSION_FEATURE => (1, "4.0.0"),
        TRANSACTION_VERSION_FEATURE => (2, "4.0.0"),
        _ => return None,
    };
    Some((max, KafkaVersion::parse(first).expect("a release")))
}

/// The `metadata.version` levels the model knows the rules of, up to the newest of
/// `release`, with their names: Kafka has levels in between (`IBP_3_4_IV0` and the like),
/// whose rules the model does not have, so a scenario cannot choose them.
pub fn metadata_version_levels(release: KafkaVersion) -> Vec<(i16, &'static str)> {
    use MetadataVersion::*;
    let Some(newest) = release.latest_metadata_version() else {
        return Vec::new();
    };
    [V3_3, V3_5, V3_6, V3_7, V3_8, V3_9, V4_0]
        .into_iter()
        .filter(|v| *v <= newest)
        .map(|v| (metadata_version_level(v), metadata_version_name(v)))
        .collect()
}

/// Kafka's name of a `metadata.version` the model knows.
pub fn metadata_version_name(v: MetadataVersion) -> &'static str {
    match v {
        MetadataVersion::V3_3 => "3.3-IV3",
        MetadataVersion::V3_5 => "3.5-IV2",
        MetadataVersion::V3_6 => "3.6-IV0",
        MetadataVersion::V3_7 => "3.7-IV4",
        MetadataVersion::V3_8 => "3.8-IV0",
        MetadataVersion::V3_9 => "3.9-IV0",
        MetadataVersion::V4_0 => "4.0-IV3",
    }
}

/// `[cluster.os]`: what the brokers' operating system does with pages Kafka did not fsync.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OsSpec {
    /// `dirty_expire` and `dirty_writeback` (Linux's `vm.dirty_expire_centisecs` and
    /// `vm.dirty_writeback_centisecs`; default 30 s and 5 s).
    pub write_back: WriteBack,
}

/// The ids a KRaft cluster's `count` controllers get by default: the ones after the highest
/// broker id, as `node.id` is unique across brokers and controllers. `None` past Kafka's
/// largest id (`i32::MAX`).
pub fn default_controller_ids(broker_ids: &[BrokerId], count: u32) -> Option<Vec<u32>> {
    let after = broker_ids.iter().max().map_or(0, |max| *max as i64 + 1);
    let last = after + count as i64 - 1;
    (last <= i32::MAX as i64).then(|| (after..=last).map(|id| id as u32).collect())
}

impl ClusterSpec {
    /// A cluster of the given broker ids (sorted here; the caller keeps them distinct and
    /// non-negative).
    pub fn new(mut broker_ids: Vec<BrokerId>, config: BrokerConfig) -> ClusterSpec {
        broker_ids.sort_unstable();
        debug_assert!(broker_ids.windows(2).all(|w| w[0] < w[1]));
        let mode = ClusterMode::default_for(config.kafka_version);
        let controller_ids = match mode {
            // No room above the broker ids: the parser says so, naming `controllers`.
            ClusterMode::Kraft => {
                default_controller_ids(&broker_ids, DEFAULT_CONTROLLERS).unwrap_or_default()
            }
            ClusterMode::ZooKeeper => Vec::new(),
        };
        ClusterSpec {
            broker_ids,
            config,
            os: OsSpec::default(),
            mode,
            controller_ids,
            process_roles: ProcessRoles::Broker,
            features: BTreeMap::new(),
        }
    }

    /// A KRaft feature's level: the one `features` sets, else the default a new cluster of
    /// the release is formatted with (`kafka-storage format` without `--feature`), which
    /// follows `metadata.version` as Kafka's `Feature.defaultLevel` does. In ZooKeeper mode
    /// there are no finalised features and every level is 0, as for a name Kafka does not
    /// know.
    pub fn feature_level(&self, name: &str) -> i16 {
        if self.mode == ClusterMode::ZooKeeper {
            return 0;
        }
        if let Some(level) = self.features.get(name) {
            return *level;
        }
        let release = self.config.kafka_version;
        let metadata_version = match self.features.get(METADATA_VERSION_FEATURE) {
            Some(level) => metadata_version_of_level(*level),
            None => release.latest_metadata_version(),
        };
        let from_4_0 = metadata_version >= Some(MetadataVersion::V4_0);
        match name {
            METADATA_VERSION_FEATURE => metadata_version.map_or(0, metadata_version_level),
            // ELRV_1 bootstraps at 4.1-IV0, a level the model does not know: a 4.1 cluster
            // has it at the release's own metadata.version, not at an older one set here.
            ELR_FEATURE => (release.has_eligible_leader_replicas_default()
                && !self.features.contains_key(METADATA_VERSION_FEATURE))
            .into(),
            // TV_2 bootstraps at 4.0-IV2, GV_1 at 4.0-IV0.
            TRANSACTION_VERSION_FEATURE if from_4_0 => 2,
            GROUP_VERSION_FEATURE if from_4_0 => 1,
            // kraft.version 0 is a static quorum (`controller.quorum.voters`): the
            // simulator's controllers are a fixed set.
            _ => 0,
        }
    }

    /// The broker ids, ascending.
    pub fn broker_ids(&self) -> &[BrokerId] {
        &self.broker_ids
    }

    /// The KRaft controllers' node ids, ascending as written; none in ZooKeeper mode.
    pub fn kraft_controller_ids(&self) -> Vec<BrokerId> {
        match self.mode {
            ClusterMode::Kraft => self.controller_ids.iter().map(|&c| c as BrokerId).collect(),
            ClusterMode::ZooKeeper => Vec::new(),
        }
    }

    /// Whether the controllers run inside brokers (`process_roles = "broker,controller"`).
    pub fn combined(&self) -> bool {
        self.mode == ClusterMode::Kraft && self.process_roles == ProcessRoles::Combined
    }

    /// The ids of the nodes that are both a broker and a controller (combined mode), else
    /// none.
    pub fn combined_node_ids(&self) -> Vec<BrokerId> {
        match self.combined() {
            true => self.kraft_controller_ids(),
            false => Vec::new(),
        }
    }

    /// The KRaft controllers that are nodes of their own (none in combined mode or in
    /// ZooKeeper mode).
    pub fn dedicated_controller_ids(&self) -> Vec<BrokerId> {
        match self.combined() {
            true => Vec::new(),
            false => self.kraft_controller_ids(),
        }
    }

    /// How many brokers the cluster has.
    pub fn broker_count(&self) -> u32 {
        self.broker_ids.len() as u32
    }

    pub fn has_broker(&self, id: BrokerId) -> bool {
        self.broker_ids.binary_search(&id).is_ok()
    }

    /// The ids in a sentence: runs of consecutive ids as "A to B", e.g. "0 to 2" or
    /// "1, 5, 101 to 103".
    pub fn describe_ids(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut i = 0;
        let ids = &self.broker_ids;
        while i < ids.len() {
            let mut j = i;
            while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
                j += 1;
            }
            parts.push(match j - i {
                0 => ids[i].to_string(),
                1 => format!("{}, {}", ids[i], ids[j]),
                _ => format!("{} to {}", ids[i], ids[j]),
            });
            i = j + 1;
        }
        parts.join(", ")
    }
}

#[derive(Clone, Debug)]
pub struct NetworkSpec {
    pub latency_min_us: u64,
    pub latency_max_us: u64,
    pub loss: f64,
}

/// The least time the simulated transport takes to hand a message over, whatever the
/// latency: madsim holds every send and every receive for at least a millisecond, so no
/// answer comes back sooner than about 5 ms. Timeouts are checked against a round trip of at
/// least twice this.
pub const MIN_ONE_WAY_MS: u64 = 3;

impl NetworkSpec {
    /// The longest round trip between two processes on the healthy network, in whole
    /// milliseconds: twice the highest one-way latency, and never less than twice
    /// [`MIN_ONE_WAY_MS`].
    pub fn worst_round_trip_ms(&self) -> u64 {
        2 * self.latency_max_us.div_ceil(1000).max(MIN_ONE_WAY_MS)
    }
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency_min_us: 1_000,
            latency_max_us: 5_000,
            loss: 0.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    /// The assignment: explicit or round-robin from broker 0.
    pub replicas: Vec<Vec<BrokerId>>,
    pub config: TopicConfig,
}

#[derive(Clone, Debug)]
pub struct ProducerSpec {
    pub name: String,
    pub topic: String,
    pub records: u64,
    pub rate_per_sec: f64,
    pub keys: Option<u32>,
    /// `value_bytes`: a size, a `[min, max]` range, or the label's own length by default.
    pub value_bytes: ValueBytes,
    pub start_ms: u64,
    pub config: ProducerConfig,
    /// `sequence`: the exact records to send, in order (then `records` is their count);
    /// empty for generated records.
    pub sequence: Vec<ScriptedRecord>,
    /// `transaction_records` and `abort_every`: how a producer with a `transactional.id`
    /// groups its records into transactions (the default for one without).
    pub transactions: TransactionWorkload,
}

#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    pub name: String,
    pub topics: Vec<String>,
    pub start_ms: u64,
    pub config: ConsumerConfig,
    /// Set for a member of a consumer group.
    pub group: Option<GroupMemberSpec>,
}

/// A producer a `fork` fault starts: `producer` in `Scenario::producers`, a second
/// instance of `of`, asleep until `at_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkSpec {
    pub of: usize,
    pub producer: usize,
    pub at_ms: u64,
}

/// A `[[processors]]` entry: a consume-transform-produce application.
#[derive(Clone, Debug)]
pub struct ProcessorSpec {
    pub name: String,
    pub group_id: String,
    pub input: Vec<String>,
    pub output: String,
    pub processing_ms: u64,
    pub start_ms: u64,
    /// Its consumer's index in `Scenario::consumers`.
    pub consumer: usize,
    /// Its producer's index in `Scenario::producers`.
    pub producer: usize,
}

impl Scenario {
    /// The processor that runs producer `i`, if one does.
    pub fn processor_of_producer(&self, i: usize) -> Option<usize> {
        self.processors.iter().position(|p| p.producer == i)
    }

    /// The processor that runs consumer `i`, if one does.
    pub fn processor_of_consumer(&self, i: usize) -> Option<usize> {
        self.processors.iter().position(|p| p.consumer == i)
    }
}

/// One member process of a `[[consumers]]` entry with a `group`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMemberSpec {
    pub group_id: String,
    pub commit: CommitMode,
    pub processing_ms: u64,
}

/// The fault kinds a nemesis may draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NemesisKind {
    Crash,
    PowerLoss,
    Partition,
    Slow,
    Pause,
    /// A one-shot `kafka-leader-election.sh --election-type PREFERRED` for every partition.
    PreferredElection,
    /// A controlled shutdown, then a restart. Not among the default kinds, so the schedules
    /// of scenarios that name none stay as they were.
    Shutdown,
    /// Packet loss on one node's links (TCP sends the lost packets again, later). Not among
    /// the default kinds either.
    Loss,
}

impl NemesisKind {
    /// Every kind a scenario may name.
    pub const ALL: [NemesisKind; 8] = [
        NemesisKind::Crash,
        NemesisKind::PowerLoss,
        NemesisKind::Partition,
        NemesisKind::Slow,
        NemesisKind::Pause,
        NemesisKind::PreferredElection,
        NemesisKind::Shutdown,
        NemesisKind::Loss,
    ];

    /// The kinds a nemesis without `kinds` draws, in this order: the failures. Operator
    /// actions (a preferred election, a controlled shutdown) are drawn only when named, and a kind added later never
    /// joins this list, so a seed found with the default set keeps drawing the same faults.
    pub const DEFAULT: [NemesisKind; 5] = [
        NemesisKind::Crash,
        NemesisKind::PowerLoss,
        NemesisKind::Partition,
        NemesisKind::Slow,
        NemesisKind::Pause,
    ];

    /// The kind as a scenario file writes it.
    pub fn name(self) -> &'static str {
        match self {
            NemesisKind::Crash => "crash",
            NemesisKind::PowerLoss => "power-loss",
            NemesisKind::Partition => "partition",
            NemesisKind::Slow => "slow",
            NemesisKind::Pause => "pause",
            NemesisKind::PreferredElection => "preferred-election",
            NemesisKind::Shutdown => "shutdown",
            NemesisKind::Loss => "loss",
        }
    }

    pub fn from_name(name: &str) -> Option<NemesisKind> {
        NemesisKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// `[nemesis]`: a random fault schedule drawn from the run's seed.
#[derive(Clone, Debug, PartialEq)]
pub struct NemesisSpec {
    pub kinds: Vec<NemesisKind>,
    pub interval_min_ms: u64,
    pub interval_max_ms: u64,
    pub duration_min_ms: u64,
    pub duration_max_ms: u64,
    pub max_concurrent: u32,
    /// Each seed enables a random non-empty subset of `kinds`.
    pub swarm: bool,
    /// Producers the nemesis may strike too, with its `slow`, `loss` and `pause` (a client's
    /// own network or a GC pause), as well as the brokers.
    pub clients: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct FaultSpec {
    pub at_ms: u64,
    pub action: FaultAction,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Broker(BrokerId),
    Leader(TopicPartition),
    Follower(TopicPartition),
    /// The controller: in ZooKeeper mode the broker that holds `/controller`, in KRaft
    /// mode the active controller (the metadata quorum's leader).
    Controller,
    /// KRaft: one controller node, by its node id (`controller:N`).
    ControllerNode(BrokerId),
    ZooKeeper,
    /// A producer process, by its name.
    Producer(String),
    /// A consumer process, by its name (a group member is `NAME-i`).
    Consumer(String),
    /// A processor process (its consumer and its producer), by its name.
    Processor(String),
    /// The broker that coordinates a group when the fault strikes.
    Coordinator(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Broker(b) => write!(f, "broker {b}"),
            Target::Leader(tp) => write!(f, "leader:{tp}"),
            Target::Follower(tp) => write!(f, "follower:{tp}"),
            Target::Controller => write!(f, "controller"),
            Target::ControllerNode(c) => write!(f, "controller:{c}"),
            Target::ZooKeeper => write!(f, "zookeeper"),
            Target::Producer(name) => write!(f, "producer:{name}"),
            Target::Consumer(name) => write!(f, "consumer:{name}"),
            Target::Processor(name) => write!(f, "processor:{name}"),
            Target::Coordinator(group) => write!(f, "coordinator:{group}"),
        }
    }
}

impl Target {
    /// The target as a scenario file writes it.
    pub fn to_toml(&self) -> String {
        match self {
            Target::Broker(b) => b.to_string(),
            other => format!("\"{other}\""),
        }
    }
}

/// Which partitions a `preferred-election` asks for, as `kafka-leader-election.sh` takes
/// them: `--all-topic-partitions`, or one `--topic T --partition P`.
#[derive(Clone, Debug, PartialEq)]
pub enum ElectionScope {
    All,
    Partition(TopicPartition),
}

impl fmt::Display for ElectionScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElectionScope::All => write!(f, "all"),
            ElectionScope::Partition(tp) => write!(f, "{tp}"),
        }
    }
}

/// Which of a slowed host's messages wait: `tc qdisc ... netem delay` on its interface
/// delays what it sends (`out`), the one on its peers what it receives (`in`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SlowDirection {
    /// Every message to and from the host (the default).
    #[default]
    Both,
    /// Only what the host sends.
    Out,
    /// Only what the host receives.
    In,
}

impl SlowDirection {
    pub const ALL: [SlowDirection; 3] =
        [SlowDirection::Both, SlowDirection::Out, SlowDirection::In];

    pub fn name(self) -> &'static str {
        match self {
            SlowDirection::Both => "both",
            SlowDirection::Out => "out",
            SlowDirection::In => "in",
        }
    }

    /// Whether a message the host sends waits.
    pub fn slows_sent(self) -> bool {
        self != SlowDirection::In
    }

    /// Whether a message the host receives waits.
    pub fn slows_received(self) -> bool {
        self != SlowDirection::Out
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    Crash(Target),
    Restart(Target),
    PowerLoss(Target),
    Pause(Target),
    Resume(Target),
    Isolate(Target),
    Partition(Vec<Vec<Target>>),
    Heal(Option<Target>),
    Slow {
        target: Target,
        delay_ms: u64,
        direction: SlowDirection,
    },
    Loss {
        target: Target,
        rate: f64,
    },
    /// An operator runs `kafka-leader-election.sh --election-type PREFERRED`.
    PreferredElection(ElectionScope),
    /// A SIGTERM to a broker: a controlled shutdown, then a clean exit.
    Shutdown(Target),
    /// The broker stops (at once, if it runs) and starts again with an empty disk.
    ReplaceDisk(Target),
    /// An operator runs `kafka-delete-records.sh` for one partition: the log start offset
    /// moves to `before_offset` (`None`: the high watermark, Kafka's `-1`).
    DeleteRecords {
        tp: TopicPartition,
        before_offset: Option<u64>,
    },
    /// Every broker in turn: controlled shutdown, restart, then wait up to `isr_wait_ms`
    /// until every ISR is full again.
    RollingRestart {
        isr_wait_ms: u64,
    },
    /// A second instance of a transactional producer starts with the same
    /// `transactional.id` while the first keeps running (a zombie after a long GC pause):
    /// `fork` is the producer index the second instance runs as.
    Fork {
        target: Target,
        fork: usize,
    },
}

impl FaultAction {
    /// The action's kind, as `action = "..."` names it.
    pub fn kind(&self) -> FaultKind {
        match self {
            FaultAction::Crash(_) => FaultKind::Crash,
            FaultAction::Restart(_) => FaultKind::Restart,
            FaultAction::PowerLoss(_) => FaultKind::PowerLoss,
            FaultAction::Pause(_) => FaultKind::Pause,
            FaultAction::Resume(_) => FaultKind::Resume,
            FaultAction::Isolate(_) => FaultKind::Isolate,
            FaultAction::Partition(_) => FaultKind::Partition,
            FaultAction::Heal(_) => FaultKind::Heal,
            FaultAction::Slow { .. } => FaultKind::Slow,
            FaultAction::Loss { .. } => FaultKind::Loss,
            FaultAction::PreferredElection(_) => FaultKind::PreferredElection,
            FaultAction::Shutdown(_) => FaultKind::Shutdown,
            FaultAction::ReplaceDisk(_) => FaultKind::ReplaceDisk,
            FaultAction::DeleteRecords { .. } => FaultKind::DeleteRecords,
            FaultAction::RollingRestart { .. } => FaultKind::RollingRestart,
            FaultAction::Fork { .. } => FaultKind::Fork,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// What `action = "..."` of a `[[faults]]` entry may say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Crash,
    Restart,
    PowerLoss,
    Pause,
    Resume,
    Isolate,
    Partition,
    Heal,
    Slow,
    Loss,
    PreferredElection,
    Shutdown,
    ReplaceDisk,
    RollingRestart,
    DeleteRecords,
    Fork,
}

impl FaultKind {
    pub const ALL: [FaultKind; 16] = [
        FaultKind::Crash,
        FaultKind::Restart,
        FaultKind::PowerLoss,
        FaultKind::Pause,
        FaultKind::Resume,
        FaultKind::Isolate,
        FaultKind::Partition,
        FaultKind::Heal,
        FaultKind::Slow,
        FaultKind::Loss,
        FaultKind::PreferredElection,
        FaultKind::Shutdown,
        FaultKind::ReplaceDisk,
        FaultKind::RollingRestart,
        FaultKind::DeleteRecords,
        FaultKind::Fork,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Restart => "restart",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::Pause => "pause",
            FaultKind::Resume => "resume",
            FaultKind::Isolate => "isolate",
            FaultKind::Partition => "partition",
            FaultKind::Heal => "heal",
            FaultKind::Slow => "slow",
            FaultKind::Loss => "loss",
            FaultKind::PreferredElection => "preferred-election",
            FaultKind::Shutdown => "shutdown",
            FaultKind::ReplaceDisk => "replace-disk",
            FaultKind::RollingRestart => "rolling-restart",
            FaultKind::DeleteRecords => "delete-records",
            FaultKind::Fork => "fork",
        }
    }

    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comparison {
    pub op: CmpOp,
    pub value: u64,
}

impl Comparison {
    pub fn holds(&self, actual: u64) -> bool {
        match self.op {
            CmpOp::Eq => actual == self.value,
            CmpOp::Gt => actual > self.value,
            CmpOp::Ge => actual >= self.value,
            CmpOp::Lt => actual < self.value,
            CmpOp::Le => actual <= self.value,
        }
    }

    pub fn parse(s: &str) -> Option<Comparison> {
        let s = s.trim();
        let (op, rest) = if let Some(r) = s.strip_prefix(">=") {
            (CmpOp::Ge, r)
        } else if let Some(r) = s.strip_prefix("<=") {
            (CmpOp::Le, r)
        } else if let Some(r) = s.strip_prefix("==") {
            (CmpOp::Eq, r)
        } else if let Some(r) = s.strip_prefix('>') {
            (CmpOp::Gt, r)
        } else if let Some(r) = s.strip_prefix('<') {
            (CmpOp::Lt, r)
        } else {
            (CmpOp::Eq, s)
        };
        rest.trim()
            .parse()
            .ok()
            .map(|value| Comparison { op, value })
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            CmpOp::Eq => "",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        };
        write!(f, "{op}{}", self.value)
    }
}

pub const EXPECT_COUNTERS: &[&str] = &[
    "sent",
    "acked",
    "acked_lost",
    "acked_lost_acks1",
    "acked_lost_acks_all",
    "lost_acks0",
    "duplicated",
    "consumed",
    "committed_lost",
    "expired_unread",
    "unclean_elections",
    "clean_elections",
    "isr_shrinks",
    "isr_shrinks_by_leader",
    "isr_removed_by_controller",
    "isr_expands",
    "processed",
    "redelivered",
    "rebalances",
];

/// The invariant names `[expect] violations` may use: the checkers' own list.
pub const INVARIANT_NAMES: &[&str] = crate::check::INVARIANTS;

#[derive(Clone, Debug, Default)]
pub struct Expect {
    pub counters: BTreeMap<String, Comparison>,
    /// `None`: the key is absent, and no invariant may break.
    pub violations: Option<Vec<Invariant>>,
}

impl Expect {
    /// One plain sentence per failed expectation.
    pub fn check(
        &self,
        counters: &BTreeMap<String, u64>,
        violations: &BTreeSet<Invariant>,
    ) -> Vec<String> {
        let mut failures = Vec::new();
        for (key, cmp) in &self.counters {
            let actual = counters.get(key).copied().unwrap_or(0);
            if !cmp.holds(actual) {
                failures.push(format!("expected {key} {cmp}, got {actual}"));
            }
        }
        if let Some(expected) = &self.violations {
            let expected: BTreeSet<Invariant> = expected.iter().copied().collect();
            if &expected != violations {
                let show = |s: &BTreeSet<Invariant>| {
                    format!(
                        "[{}]",
                        s.iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
                    )
                };
                failures.push(format!(
                    "expected violations {}, got {}",
                    show(&expected),
                    show(violations)
                ));
            }
        }
        failures
    }
}

/// Parses `"60s"`, `"500ms"`, `"1.5s"`, `"2m"`, `"100us"` into microseconds.
pub fn parse_duration_us(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num.trim().parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1_000.0,
        "s" => 1_000_000.0,
        "m" => 60_000_000.0,
        "h" => 3_600_000_000.0,
        _ => return None,
    };
    let us = value * scale;
    (us <= 1e15).then_some(us.round() as u64)
}

/// Parses a target: a broker id, `"broker:N"`, `"leader:T-P"`, `"follower:T-P"`,
/// `"controller"`, `"controller:N"`, `"zookeeper"`, `"producer:NAME"`, `"consumer:NAME"`,
/// `"processor:NAME"`, `"coordinator:GROUP"`.
pub(super) fn parse_target(s: &str) -> Option<Target> {
    let s = s.trim();
    match s {
        "controller" => return Some(Target::Controller),
        "zookeeper" => return Some(Target::ZooKeeper),
        _ => {}
    }
    if let Some(rest) = s
        .strip_prefix("broker:")
        .or_else(|| s.strip_prefix("broker "))
    {
        return rest.trim().parse().ok().map(Target::Broker);
    }
    if let Ok(b) = s.parse() {
        return Some(Target::Broker(b));
    }
    if let Some(rest) = s.strip_prefix("controller:") {
        return rest.trim().parse().ok().map(Target::ControllerNode);
    }
    let (kind, rest) = s.split_once(':')?;
    let name = rest.trim().to_string();
    match kind {
        "producer" if !name.is_empty() => return Some(Target::Producer(name)),
        "consumer" if !name.is_empty() => return Some(Target::Consumer(name)),
        "processor" if !name.is_empty() => return Some(Target::Processor(name)),
        "coordinator" if !name.is_empty() => return Some(Target::Coordinator(name)),
        _ => {}
    }
    let tp = TopicPartition::parse(rest.trim())?;
    match kind {
        "leader" => Some(Target::Leader(tp)),
        "follower" => Some(Target::Follower(tp)),
        _ => None,
    }
}
