//! `[cluster]`, `[network]` and `[[topics]]`: the brokers, their configs, the metadata mode
//! (ZooKeeper, or KRaft with its controllers and features), and the topics with their
//! replica assignments.

use super::error::{Ctx, Result, ScenarioError, Span};
use super::raw::{List, RawCluster, RawNetwork, RawOs, RawTopic, Val};
use super::spec::{
    default_controller_ids, feature_levels, metadata_version_levels, parse_duration_us,
    ClusterMode, ClusterSpec, NetworkSpec, OsSpec, ProcessRoles, TopicSpec, DEFAULT_CONTROLLERS,
    FEATURES, MAX_BROKERS, MAX_CONTROLLERS, MAX_PARTITIONS,
};
use kafka_model::config::{nearest_key, BrokerConfig, KafkaVersion};
use kafka_model::controller::kraft::records::{
    metadata_version_level, metadata_version_of_level, ELR_FEATURE, METADATA_VERSION_FEATURE,
};
use kafka_model::controller::kraft::MetadataVersion;
use kafka_model::page_cache::WriteBack;
use kafka_model::BrokerId;
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

pub fn parse_cluster(
    ctx: &Ctx,
    cluster: Option<&Spanned<RawCluster>>,
    network: &NetworkSpec,
) -> Result<ClusterSpec> {
    let Some(cluster) = cluster else {
        return Err(ctx.err(None, Some("cluster"), "a scenario needs a [cluster] table"));
    };
    let table_span = Some(cluster.span());
    let raw = cluster.get_ref();
    let broker_ids = match (&raw.brokers, &raw.broker_ids) {
        (Some(_), Some(ids)) => {
            return Err(ctx.err(
                Some(ctx.key_span(&ids.span())),
                Some("broker_ids"),
                "give either `brokers = N` (ids 0 to N-1) or `broker_ids = [...]`, not both",
            ))
        }
        (None, None) => {
            return Err(ctx.err(
                table_span,
                Some("brokers"),
                "[cluster] needs `brokers = N` (ids 0 to N-1) or `broker_ids = [1, 2, 3]`",
            ))
        }
        (Some(n), None) => {
            let n = ctx
                .int("brokers", Some(n), 1, MAX_BROKERS as i64)?
                .unwrap_or(1);
            (0..n as BrokerId).collect()
        }
        (None, Some(ids)) => parse_broker_ids(ctx, ids)?,
    };
    let release = parse_kafka_version(ctx, raw.kafka_version.as_ref())?;
    let mut config = BrokerConfig {
        kafka_version: release,
        inter_broker_protocol_version: release.protocol_version(),
        ..BrokerConfig::default()
    };
    let mut spans = BTreeMap::new();
    for (key, value, span) in ctx.config_map(raw.config.as_ref())? {
        config
            .apply(&key, &value)
            .map_err(|e| ctx.config_error(span.clone(), &key, e))?;
        spans.insert(key, span);
    }
    check_protocol_within_release(ctx, &config, &spans, raw.kafka_version.is_some())?;
    check_broker_timers(ctx, &config, network, &spans, table_span.clone())?;
    let mut spec = ClusterSpec::new(broker_ids, config);
    spec.os = parse_os(ctx, raw.os.as_ref())?;
    spec.mode = parse_mode(ctx, raw, release, table_span.clone())?;
    spec.process_roles = parse_process_roles(ctx, raw, &spec)?;
    spec.controller_ids = match spec.process_roles {
        ProcessRoles::Broker => parse_controllers(ctx, raw, &spec, table_span)?,
        ProcessRoles::Combined => parse_combined_controllers(ctx, raw, &spec, table_span)?,
    };
    spec.features = parse_features(ctx, raw, &spec)?;
    Ok(spec)
}

/// `mode = "kraft" | "zookeeper"`: KRaft by default from 4.0 (KIP-833 removed ZooKeeper
/// mode), ZooKeeper before. KRaft is production-ready from 3.3 (KIP-833), so earlier
/// releases run only on ZooKeeper.
fn parse_mode(
    ctx: &Ctx,
    raw: &RawCluster,
    release: KafkaVersion,
    table_span: Span,
) -> Result<ClusterMode> {
    const KEY: &str = "mode";
    let Some(s) = ctx.str(KEY, raw.mode.as_ref())? else {
        return Ok(ClusterMode::default_for(release));
    };
    let span = ctx.key_or(raw.mode.as_ref(), table_span);
    let whose = if raw.kafka_version.is_some() {
        "[cluster] kafka_version"
    } else {
        "[cluster] kafka_version's default"
    };
    match s.as_str() {
        "zookeeper" if release.requires_kraft() => Err(ctx.err(
            span,
            Some(KEY),
            format!(
                "Kafka 4.0 removed ZooKeeper mode (KIP-833) and this cluster runs {release}                  ({whose}): write mode = \"kraft\" (the default from 4.0), or a kafka_version \
                 of 3.9.2 or earlier for ZooKeeper"
            ),
        )),
        "zookeeper" => Ok(ClusterMode::ZooKeeper),
        "kraft" if !release.supports_kraft() => Err(ctx.err(
            span,
            Some(KEY),
            format!(
                "KRaft is production-ready only from 3.3 (KIP-833) and this cluster runs \
                 {release} ({whose}): write a kafka_version of 3.3.0 or later for KRaft, or \
                 mode = \"zookeeper\""
            ),
        )),
        "kraft" => Ok(ClusterMode::Kraft),
        _ => Err(ctx.err(
            span,
            Some(KEY),
            format!("\"{s}\" is not a mode; write \"kraft\" or \"zookeeper\""),
        )),
    }
}

/// The error for a KRaft-only key in a ZooKeeper-mode cluster, at the key.
fn kraft_only(ctx: &Ctx, raw: &RawCluster, span: Span, key: &str, what: &str) -> ScenarioError {
    let why = if raw.mode.is_some() {
        "mode = \"zookeeper\"".to_string()
    } else {
        "the default mode below Kafka 4.0".to_string()
    };
    ctx.err(
        span,
        Some(key),
        format!(
            "{what} only in KRaft mode, and this cluster runs in ZooKeeper mode ({why}): \
             set mode = \"kraft\" or remove {key}"
        ),
    )
}

/// `controllers = N` (default 3, at most 9) and `controller_ids = [...]`: the dedicated
/// KRaft controllers and their node ids, by default the ids after the highest broker id.
/// Kafka's `node.id` is unique across brokers and controllers.
fn parse_controllers(
    ctx: &Ctx,
    raw: &RawCluster,
    spec: &ClusterSpec,
    table_span: Span,
) -> Result<Vec<u32>> {
    const KEY: &str = "controllers";
    const IDS: &str = "controller_ids";
    if spec.mode == ClusterMode::ZooKeeper {
        if let Some(v) = &raw.controllers {
            let span = Some(ctx.key_span(&v.span()));
            return Err(kraft_only(
                ctx,
                raw,
                span,
                KEY,
                "a cluster has dedicated controllers",
            ));
        }
        if let Some(ids) = &raw.controller_ids {
            let span = Some(ctx.key_span(&ids.span()));
            return Err(kraft_only(
                ctx,
                raw,
                span,
                IDS,
                "a cluster has dedicated controllers",
            ));
        }
        return Ok(Vec::new());
    }
    let count = ctx
        .int(KEY, raw.controllers.as_ref(), 1, i64::from(MAX_CONTROLLERS))?
        .map(|n| n as u32);
    let Some(item) = &raw.controller_ids else {
        let count = count.unwrap_or(DEFAULT_CONTROLLERS);
        return default_controller_ids(spec.broker_ids(), count).ok_or_else(|| {
            ctx.err(
                ctx.key_or(raw.controllers.as_ref(), table_span),
                Some(KEY),
                format!(
                    "the controllers' ids follow the highest broker id, and {count} of them \
                     do not fit below {}; give controller_ids",
                    i32::MAX
                ),
            )
        });
    };
    let ids = parse_node_ids(ctx, item, IDS, "controller", MAX_CONTROLLERS)?;
    let span = Some(ctx.key_span(&item.span()));
    check_controller_id_count(ctx, span.clone(), &ids, count)?;
    if let Some(id) = ids.iter().find(|id| spec.has_broker(**id)) {
        return Err(ctx.err(
            span,
            Some(IDS),
            format!(
                "{id} is also a broker id: Kafka's node.id is unique across the brokers \
                 and the controllers"
            ),
        ));
    }
    Ok(ids.into_iter().map(|id| id as u32).collect())
}

/// `process_roles = "broker" | "broker,controller"`: Kafka's `process.roles` of the
/// brokers (a list: the two roles in either order), a KRaft-mode key. `"broker"`, the
/// default, keeps the controllers on nodes of their own; `"broker,controller"` is combined
/// mode (`KafkaRaftServer` running both servers).
fn parse_process_roles(ctx: &Ctx, raw: &RawCluster, spec: &ClusterSpec) -> Result<ProcessRoles> {
    const KEY: &str = "process_roles";
    let Some(s) = ctx.str(KEY, raw.process_roles.as_ref())? else {
        return Ok(ProcessRoles::Broker);
    };
    let span = Some(ctx.key_span(&raw.process_roles.as_ref().expect("present").span()));
    let roles: BTreeSet<&str> = s.split(',').map(str::trim).collect();
    let has = |role: &str| roles.contains(role);
    let parsed = match (roles.len(), has("broker"), has("controller")) {
        (1, true, false) => ProcessRoles::Broker,
        (2, true, true) => ProcessRoles::Combined,
        (1, false, true) => {
            return Err(ctx.err(
                span,
                Some(KEY),
                "process_roles names the brokers' roles; controllers of their own \
                 (process.roles=controller) are `controllers = N`: write \"broker\" or \
                 \"broker,controller\"",
            ))
        }
        _ => {
            return Err(ctx.err(
                span,
                Some(KEY),
                format!(
                    "\"{s}\" is not a process.roles of a broker; write \"broker\" (dedicated \
                     controllers, the default) or \"broker,controller\" (combined mode)"
                ),
            ))
        }
    };
    // ZooKeeper-mode brokers have no process.roles (KafkaConfig reads it in KRaft mode).
    if spec.mode == ClusterMode::ZooKeeper {
        return Err(kraft_only(
            ctx,
            raw,
            span,
            KEY,
            "a broker has process.roles",
        ));
    }
    Ok(parsed)
}

/// Combined mode: `controllers = N` runs a controller in the first N brokers (default 3,
/// or every broker when there are fewer), or `controller_ids = [...]` names the brokers.
/// Each controller shares its broker's `node.id`, as in Kafka, where a combined node is one
/// process with one id.
fn parse_combined_controllers(
    ctx: &Ctx,
    raw: &RawCluster,
    spec: &ClusterSpec,
    table_span: Span,
) -> Result<Vec<u32>> {
    const KEY: &str = "controllers";
    const IDS: &str = "controller_ids";
    let brokers = spec.broker_ids();
    let count = ctx
        .int(KEY, raw.controllers.as_ref(), 1, i64::from(MAX_CONTROLLERS))?
        .map(|n| n as u32);
    if let Some(n) = count.filter(|n| *n as usize > brokers.len()) {
        return Err(ctx.err(
            ctx.key_or(raw.controllers.as_ref(), table_span),
            Some(KEY),
            format!(
                "combined mode runs each controller inside a broker, and controllers = {n} \
                 is more than the {} broker(s); lower controllers, or set process_roles = \
                 \"broker\" for dedicated controllers",
                brokers.len()
            ),
        ));
    }
    let Some(item) = &raw.controller_ids else {
        let n = count
            .unwrap_or(DEFAULT_CONTROLLERS)
            .min(brokers.len() as u32);
        return Ok(brokers[..n as usize].iter().map(|b| *b as u32).collect());
    };
    let ids = parse_node_ids(ctx, item, IDS, "controller", MAX_CONTROLLERS)?;
    let span = Some(ctx.key_span(&item.span()));
    check_controller_id_count(ctx, span.clone(), &ids, count)?;
    if let Some(id) = ids.iter().find(|id| !spec.has_broker(**id)) {
        return Err(ctx.err(
            span,
            Some(IDS),
            format!(
                "{id} is not a broker id: in combined mode each controller runs inside a \
                 broker and shares its node.id (the broker ids are {})",
                spec.describe_ids()
            ),
        ));
    }
    Ok(ids.into_iter().map(|id| id as u32).collect())
}

/// `features = { name = level, ... }`: the KRaft feature levels the cluster is formatted
/// with (`kafka-storage format --feature`). Each name must be one Kafka defines, each level
/// one the release ships; `metadata.version` one whose rules the model has.
fn parse_features(
    ctx: &Ctx,
    raw: &RawCluster,
    spec: &ClusterSpec,
) -> Result<BTreeMap<String, i16>> {
    const KEY: &str = "features";
    let mut features = BTreeMap::new();
    let Some(table) = &raw.features else {
        return Ok(features);
    };
    if spec.mode == ClusterMode::ZooKeeper {
        let span = Some(ctx.key_span(&table.span()));
        return Err(kraft_only(
            ctx,
            raw,
            span,
            KEY,
            "a cluster has KRaft features",
        ));
    }
    let release = spec.config.kafka_version;
    let mut spans = BTreeMap::new();
    for (name, value) in table.get_ref() {
        let span = Some(name.span());
        let name = name.get_ref();
        let err = |message: String| ctx.err(span.clone(), Some(name), message);
        if !FEATURES.contains(&name.as_str()) {
            let mut message = "unknown feature in [cluster] features".to_string();
            match nearest_key(name, FEATURES.iter().copied()) {
                Some(s) => message.push_str(&format!(" (did you mean `{s}`?)")),
                None => message.push_str(&format!(" (known features: {})", FEATURES.join(", "))),
            }
            return Err(err(message));
        }
        let Some(level) = value.get_ref().as_integer() else {
            return Err(err("a feature level is a whole number".to_string()));
        };
        if name == METADATA_VERSION_FEATURE {
            let known = metadata_version_levels(release);
            if !known.iter().any(|(l, _)| i64::from(*l) == level) {
                let list: Vec<String> = known
                    .iter()
                    .map(|(l, name)| format!("{l} ({name})"))
                    .collect();
                return Err(err(format!(
                    "{level} is not a metadata.version level the model has the rules of for \
                     Kafka {release}; the levels are {}",
                    list.join(", ")
                )));
            }
        } else {
            let (max, first) = feature_levels(name).expect("a known feature");
            if !(0..=i64::from(max)).contains(&level) {
                return Err(err(format!("{level} is out of range (0 to {max})")));
            }
            if level > 0 && release < first {
                return Err(err(format!(
                    "level {level} needs Kafka {first} or later, and this cluster runs \
                     {release}: a broker refuses a feature level its code does not know"
                )));
            }
        }
        features.insert(name.clone(), level as i16);
        spans.insert(name.clone(), span);
    }
    // EligibleLeaderReplicasVersion.ELRV_1 depends on metadata.version 4.0-IV1 (KIP-966),
    // which the model knows as 4.0-IV3. A release that ships ELR has it by default.
    let set_metadata_version = features.get(METADATA_VERSION_FEATURE).copied();
    if let (Some(1), Some(level)) = (features.get(ELR_FEATURE), set_metadata_version) {
        if metadata_version_of_level(level) < Some(MetadataVersion::V4_0) {
            return Err(ctx.err(
                spans[ELR_FEATURE].clone(),
                Some(ELR_FEATURE),
                format!(
                    "level 1 needs metadata.version 4.0-IV1 or later (KIP-966), and features \
                     sets metadata.version {level}; the model's level for it is {}",
                    metadata_version_level(MetadataVersion::V4_0)
                ),
            ));
        }
    }
    Ok(features)
}

/// `[cluster.os]`: `dirty_expire` and `dirty_writeback`, durations or `"never"` (no
/// write-back on its own: only fsync keeps data over a power loss). Linux's defaults
/// otherwise: 30 s and 5 s.
fn parse_os(ctx: &Ctx, os: Option<&Spanned<RawOs>>) -> Result<OsSpec> {
    let Some(os) = os else {
        return Ok(OsSpec::default());
    };
    let raw = os.get_ref();
    let expire = os_duration_ms(ctx, "dirty_expire", raw.dirty_expire.as_ref())?;
    let writeback = os_duration_ms(ctx, "dirty_writeback", raw.dirty_writeback.as_ref())?;
    let WriteBack::Periodic {
        dirty_expire_ms: default_expire_ms,
        dirty_writeback_ms: default_writeback_ms,
    } = WriteBack::LINUX_DEFAULT
    else {
        unreachable!("Linux writes back by default");
    };
    let write_back = match (
        expire.unwrap_or(Some(default_expire_ms)),
        writeback.unwrap_or(Some(default_writeback_ms)),
    ) {
        (Some(dirty_expire_ms), Some(dirty_writeback_ms)) => WriteBack::Periodic {
            dirty_expire_ms,
            dirty_writeback_ms,
        },
        _ => WriteBack::Never,
    };
    Ok(OsSpec { write_back })
}

/// A `[cluster.os]` duration: `Some(Some(ms))`, `Some(None)` for `"never"`, `None` when
/// absent. A flusher period of 0 is refused: Linux's 0 means "never", so write that.
fn os_duration_ms(ctx: &Ctx, key: &str, v: Option<&Val>) -> Result<Option<Option<u64>>> {
    let Some(v) = v else { return Ok(None) };
    if v.get_ref().as_str() == Some("never") {
        return Ok(Some(None));
    }
    let ms = ctx.duration_ms(key, Some(v))?.expect("present");
    if key == "dirty_writeback" && ms == 0 {
        return Err(ctx.err(
            Some(v.span()),
            Some(key),
            "a flusher period of 0 turns periodic write-back off in Linux; write \"never\"",
        ));
    }
    Ok(Some(Some(ms)))
}

/// `kafka_version = "X.Y.Z"`: the Kafka release the brokers run (default 3.7.1).
fn parse_kafka_version(ctx: &Ctx, value: Option<&Val>) -> Result<KafkaVersion> {
    const KEY: &str = "kafka_version";
    let Some(s) = ctx.str(KEY, value)? else {
        return Ok(KafkaVersion::LATEST);
    };
    KafkaVersion::parse(&s).ok_or_else(|| {
        ctx.err(
            ctx.key_or(value, None),
            Some(KEY),
            format!(
                "\"{s}\" is not a Kafka release the simulator models; it models the releases \
                 {} (\"X.Y\" means X.Y.0); inter.broker.protocol.version in \
                 [cluster.config] defaults to the release's major.minor",
                KafkaVersion::supported()
            ),
        )
    })
}

/// `inter.broker.protocol.version` may be below the release (a rolling upgrade runs new
/// code with the old protocol), never above it: Kafka's `KafkaConfig` does not know a
/// protocol version newer than its own code and the broker does not start.
fn check_protocol_within_release(
    ctx: &Ctx,
    config: &BrokerConfig,
    spans: &BTreeMap<String, Span>,
    release_set: bool,
) -> Result<()> {
    const KEY: &str = "inter.broker.protocol.version";
    let (protocol, release) = (config.inter_broker_protocol_version, config.kafka_version);
    if protocol <= release.protocol_version() {
        return Ok(());
    }
    let whose = if release_set {
        "[cluster] kafka_version"
    } else {
        "[cluster] kafka_version's default"
    };
    Err(ctx.err(
        spans.get(KEY).cloned().flatten(),
        Some(KEY),
        format!(
            "{protocol} is above the release the brokers run, {release} ({whose}): a Kafka \
             {release} broker does not know inter.broker.protocol.version {protocol} and \
             does not start; raise kafka_version or lower inter.broker.protocol.version"
        ),
    ))
}

/// The broker configs that drive timers, checked as Kafka checks them at startup, and
/// against the network where a value could never be met.
fn check_broker_timers(
    ctx: &Ctx,
    config: &BrokerConfig,
    network: &NetworkSpec,
    spans: &BTreeMap<String, Span>,
    table_span: Span,
) -> Result<()> {
    // The error points at the first of `keys` the file sets, else at [cluster].
    let err = |keys: &[&str], message: String| {
        let key = keys
            .iter()
            .find(|k| spans.contains_key(**k))
            .copied()
            .unwrap_or(keys[0]);
        let span = spans.get(key).cloned().flatten().or(table_span.clone());
        ctx.err(span, Some(key), message)
    };
    let round_trip = network.worst_round_trip_ms();
    // Kafka takes any value, but KafkaServer.initZkClient waits zookeeper.connection.timeout.ms
    // (by default zookeeper.session.timeout.ms) for the first session and the broker does
    // not start without one; ZooKeeper's ClientCnxn gives each attempt the requested timeout
    // (sessionTimeout / servers). Shorter than a round trip, no broker would ever start.
    let zk = config.zookeeper_session_timeout_ms;
    if zk < round_trip {
        return Err(err(
            &["zookeeper.session.timeout.ms"],
            format!(
                "{zk} ms is shorter than a round trip to ZooKeeper on this network (up to \
                 {round_trip} ms): a Kafka broker waits zookeeper.connection.timeout.ms, which \
                 defaults to zookeeper.session.timeout.ms, for its first ZooKeeper session and \
                 fails to start without one"
            ),
        ));
    }
    // KafkaConfig.validateValues.
    let wait = config.replica_fetch_wait_max_ms;
    if wait > config.replica_socket_timeout_ms {
        return Err(err(
            &["replica.socket.timeout.ms", "replica.fetch.wait.max.ms"],
            format!(
                "replica.socket.timeout.ms ({} ms) should always be at least \
                 replica.fetch.wait.max.ms ({wait} ms) to prevent unnecessary socket timeouts \
                 (KafkaConfig)",
                config.replica_socket_timeout_ms
            ),
        ));
    }
    if wait > config.replica_lag_time_max_ms {
        return Err(err(
            &["replica.lag.time.max.ms", "replica.fetch.wait.max.ms"],
            format!(
                "replica.fetch.wait.max.ms ({wait} ms) should always be less than or equal to \
                 replica.lag.time.max.ms ({} ms) to prevent frequent changes in ISR (KafkaConfig)",
                config.replica_lag_time_max_ms
            ),
        ));
    }
    if config.replica_socket_timeout_ms < round_trip {
        return Err(err(
            &["replica.socket.timeout.ms"],
            format!(
                "{} ms is shorter than a round trip between brokers on this network (up to \
                 {round_trip} ms): every fetch of every follower would time out",
                config.replica_socket_timeout_ms
            ),
        ));
    }
    Ok(())
}

/// A client's `request.timeout.ms` must leave room for one round trip: shorter, every
/// request times out before its answer can arrive. Kafka takes it (atLeast(0)) and the client
/// retries forever without getting anywhere; the simulator refuses it.
pub fn check_request_timeout(
    ctx: &Ctx,
    request_timeout_ms: u64,
    network: &NetworkSpec,
    span: Span,
    what: &str,
) -> Result<()> {
    let round_trip = network.worst_round_trip_ms();
    if request_timeout_ms < round_trip {
        return Err(ctx.err(
            span,
            Some("request.timeout.ms"),
            format!(
                "{request_timeout_ms} ms is shorter than a round trip on this network (up to \
                 {round_trip} ms): every request of the {what} would time out before its answer"
            ),
        ));
    }
    Ok(())
}

/// `broker_ids = [...]`: Kafka's `broker.id` is any non-negative int (a negative one asks
/// for a generated id, which a scenario cannot do); each id names one broker.
fn parse_broker_ids(ctx: &Ctx, item: &Spanned<List>) -> Result<Vec<BrokerId>> {
    parse_node_ids(ctx, item, "broker_ids", "broker", MAX_BROKERS)
}

/// A list of node ids (`what`: broker or controller), distinct and non-negative, at most `max`.
fn parse_node_ids(
    ctx: &Ctx,
    item: &Spanned<List>,
    key: &str,
    what: &str,
    max: u32,
) -> Result<Vec<BrokerId>> {
    let span = Some(item.span());
    let List::Items(list) = item.get_ref() else {
        return Err(ctx.err(
            span,
            Some(key),
            format!("expected a list of {what} ids, e.g. [1, 2, 3]"),
        ));
    };
    if list.is_empty() {
        return Err(ctx.err(
            span,
            Some(key),
            format!("a cluster needs at least one {what}"),
        ));
    }
    if list.len() > max as usize {
        return Err(ctx.err(span, Some(key), format!("at most {max} {what}s")));
    }
    let mut seen = BTreeSet::new();
    let mut ids = Vec::with_capacity(list.len());
    for v in list {
        let span = Some(v.span());
        let id = match v.get_ref().as_integer() {
            Some(i) if (0..=i32::MAX as i64).contains(&i) => i as BrokerId,
            Some(i) => {
                return Err(ctx.err(
                    span,
                    Some(key),
                    format!("{what} id {i} is out of range (0 to {})", i32::MAX),
                ))
            }
            None => return Err(ctx.err(span, Some(key), format!("a {what} id is a whole number"))),
        };
        if !seen.insert(id) {
            return Err(ctx.err(span, Some(key), format!("{what} id {id} appears twice")));
        }
        ids.push(id);
    }
    Ok(ids)
}

pub fn parse_network(ctx: &Ctx, network: Option<&Spanned<RawNetwork>>) -> Result<NetworkSpec> {
    let mut spec = NetworkSpec::default();
    let Some(network) = network else {
        return Ok(spec);
    };
    let raw = network.get_ref();
    if let Some(s) = ctx.str("latency", raw.latency.as_ref())? {
        let span = ctx.key_or(raw.latency.as_ref(), None);
        let bad = || {
            ctx.err(
                span.clone(),
                Some("latency"),
                format!("`{s}` is not a latency; write \"2ms\" or \"1ms..5ms\""),
            )
        };
        let (lo, hi) = match s.split_once("..") {
            Some((a, b)) => (
                parse_duration_us(a).ok_or_else(bad)?,
                parse_duration_us(b).ok_or_else(bad)?,
            ),
            None => {
                let v = parse_duration_us(&s).ok_or_else(bad)?;
                (v, v)
            }
        };
        if hi < lo {
            return Err(ctx.err(span, Some("latency"), "the range's end is below its start"));
        }
        spec.latency_min_us = lo;
        spec.latency_max_us = hi;
    }
    if let Some(loss) = ctx.float("loss", raw.loss.as_ref(), 0.0, 1.0)? {
        spec.loss = loss;
    }
    Ok(spec)
}

pub fn parse_topics(
    ctx: &Ctx,
    raw: &[Spanned<RawTopic>],
    cluster: &ClusterSpec,
    warnings: &mut Vec<String>,
) -> Result<Vec<TopicSpec>> {
    let mut topics: Vec<TopicSpec> = Vec::new();
    for table in raw {
        let topic = parse_topic(ctx, table, cluster, &topics, warnings)?;
        topics.push(topic);
    }
    if topics.is_empty() {
        return Err(ctx.err(
            None,
            Some("topics"),
            "a scenario needs at least one [[topics]]",
        ));
    }
    Ok(topics)
}

fn parse_topic(
    ctx: &Ctx,
    table: &Spanned<RawTopic>,
    cluster: &ClusterSpec,
    earlier: &[TopicSpec],
    warnings: &mut Vec<String>,
) -> Result<TopicSpec> {
    let table_span = Some(table.span());
    let raw = table.get_ref();
    let name = ctx
        .str("name", raw.name.as_ref())?
        .ok_or_else(|| ctx.err(table_span.clone(), Some("name"), "a topic needs a name"))?;
    let name_span = ctx.key_or(raw.name.as_ref(), table_span.clone());
    match kafka_model::topic::validate_topic_name(&name) {
        Ok(Some(w)) => warnings.push(format!("topic `{name}`: {w}")),
        Ok(None) => {}
        Err(e) => return Err(ctx.err(name_span, Some("name"), e)),
    }
    if earlier.iter().any(|t| t.name == name) {
        return Err(ctx.err(
            name_span,
            Some("name"),
            format!("topic `{name}` is declared twice"),
        ));
    }
    let partitions = ctx
        .int(
            "partitions",
            raw.partitions.as_ref(),
            1,
            MAX_PARTITIONS as i64,
        )?
        .unwrap_or(1) as u32;
    let default_rf = cluster.broker_count().min(3);
    let replication_factor = ctx
        .int(
            "replication_factor",
            raw.replication_factor.as_ref(),
            1,
            cluster.broker_count() as i64,
        )?
        .map_or(default_rf, |v| v as u32);
    let replicas = match &raw.replicas {
        None => kafka_model::topic::assign_replicas_to_brokers(
            cluster.broker_ids(),
            partitions,
            replication_factor,
        )
        .map_err(|e| ctx.err(table_span.clone(), Some("replicas"), e))?,
        Some(item) => parse_assignment(ctx, item, partitions, replication_factor, cluster)?,
    };
    let mut config = cluster.config.topic_defaults.clone();
    let entries = ctx.config_map(raw.config.as_ref())?;
    for (key, value, span) in &entries {
        config
            .apply(key, value)
            .map_err(|e| ctx.config_error(span.clone(), key, e))?;
    }
    // Kafka's `LogConfig.validate`: the checks across keys, once all are set. The error
    // points at the first key of the table it names.
    if let Err(message) = config.validate() {
        let named = entries
            .iter()
            .find(|(key, _, _)| message.contains(key.as_str()));
        let (key, span) = match named {
            Some((key, _, span)) => (key.as_str(), span.clone()),
            None => ("config", table_span.clone()),
        };
        return Err(ctx.err(span, Some(key), format!("topic `{name}`: {message}")));
    }
    Ok(TopicSpec {
        name,
        partitions,
        replication_factor,
        replicas,
        config,
    })
}

fn parse_assignment(
    ctx: &Ctx,
    item: &Val,
    partitions: u32,
    rf: u32,
    cluster: &ClusterSpec,
) -> Result<Vec<Vec<BrokerId>>> {
    let bad = |msg: String| ctx.err(Some(item.span()), Some("replicas"), msg);
    let outer = item
        .get_ref()
        .as_array()
        .ok_or_else(|| bad("expected a list of replica lists, e.g. [[0, 1, 2]]".into()))?;
    if outer.len() != partitions as usize {
        return Err(bad(format!(
            "{} replica lists for {partitions} partitions",
            outer.len()
        )));
    }
    let mut all = Vec::new();
    for (p, v) in outer.iter().enumerate() {
        let list = v
            .as_array()
            .ok_or_else(|| bad(format!("partition {p}: expected a list of broker ids")))?;
        let mut ids = Vec::new();
        for id in list {
            let id = id
                .as_integer()
                .and_then(|i| BrokerId::try_from(i).ok())
                .filter(|i| cluster.has_broker(*i))
                .ok_or_else(|| {
                    bad(format!(
                        "partition {p}: the broker ids are {}",
                        cluster.describe_ids()
                    ))
                })?;
            if ids.contains(&id) {
                return Err(bad(format!("partition {p}: broker {id} appears twice")));
            }
            ids.push(id);
        }
        if ids.len() != rf as usize {
            return Err(bad(format!(
                "partition {p}: {} replicas, but replication_factor is {rf}",
                ids.len()
            )));
        }
        all.push(ids);
    }
    Ok(all)
}

/// `controller_ids` must name one id per controller when `controllers` is given too, in
/// either mode.
fn check_controller_id_count(ctx: &Ctx, span: Span, ids: &[i32], count: Option<u32>) -> Result<()> {
    match count.filter(|n| *n as usize != ids.len()) {
        Some(count) => Err(ctx.err(
            span,
            Some("controller_ids"),
            format!(
                "{} controller ids for controllers = {count}; give one id for each controller",
                ids.len()
            ),
        )),
        None => Ok(()),
    }
}
