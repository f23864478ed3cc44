//! The `big-cluster` case: 100 brokers, 10,000 partitions, a controller kill, and how long
//! until every partition had a leader again.

use super::*;

/// The `big-cluster` case's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct BigCluster {
    pub brokers: u32,
    pub topics: u32,
    pub partitions_per_topic: u32,
    pub producers: u32,
}

/// When the controller is killed, and how long the run goes on in all (simulated).
pub const BIG_CLUSTER_KILL_AT_SECS: u64 = 20;
pub const BIG_CLUSTER_RUN_SECS: u64 = 60;

impl BigCluster {
    /// 100 brokers, 10 topics of 1,000 partitions, 100 producers, times `scale` (at least 3
    /// brokers, a partition per topic and a producer).
    pub fn scaled(scale: f64) -> BigCluster {
        let of = |n: f64, min: u32| ((n * scale).round() as u32).max(min);
        BigCluster {
            brokers: of(100.0, 3),
            topics: 10,
            partitions_per_topic: of(1_000.0, 1),
            producers: of(100.0, 1),
        }
    }

    pub fn partitions(&self) -> u32 {
        self.topics * self.partitions_per_topic
    }

    pub(super) fn shape(&self) -> String {
        format!(
            "{} brokers, {} partitions, RF 3, {} producers, acks=all, controller killed at {BIG_CLUSTER_KILL_AT_SECS} s, {BIG_CLUSTER_RUN_SECS} s simulated",
            self.brokers,
            thousands(self.partitions() as f64),
            self.producers
        )
    }
}

/// The `big-cluster` scenario: RF 3 and min.insync.replicas 2 on every topic, producers
/// spread over the topics in turn (64 keys, acks=all, 500 records at 10 a second each), the
/// controller killed at 20 s; 50 s of faults and 10 s of settle make 60 s simulated.
pub fn big_cluster_toml(shape: &BigCluster) -> String {
    let mut s = format!(
        "# The bench's big-cluster case: {}.\n\
         name = \"bench-big-cluster\"\n\
         duration = \"50s\"\n\
         settle = \"{}s\"\n\
         seed = 1\n\n\
         [cluster]\n\
         brokers = {}\n\n\
         [cluster.config]\n\
         \"zookeeper.session.timeout.ms\" = 6000\n",
        shape.shape(),
        BIG_CLUSTER_RUN_SECS - 50,
        shape.brokers
    );
    for t in 0..shape.topics {
        s.push_str(&format!(
            "\n[[topics]]\nname = \"t{t}\"\npartitions = {}\nreplication_factor = 3\n\
             config = {{ \"min.insync.replicas\" = 2 }}\n",
            shape.partitions_per_topic
        ));
    }
    for p in 0..shape.producers {
        s.push_str(&format!(
            "\n[[producers]]\nname = \"p{p}\"\ntopic = \"t{}\"\nrecords = 500\nrate = 10\nkeys = 64\n\
             start = \"1s\"\nconfig = {{ \"acks\" = \"all\", \"linger.ms\" = 5, \"request.timeout.ms\" = 5000 }}\n",
            p % shape.topics
        ));
    }
    s.push_str(&format!(
        "\n[[faults]]\nat = \"{BIG_CLUSTER_KILL_AT_SECS}s\"\naction = \"crash\"\ntarget = \"controller\"\n\n\
         [expect]\nacked_lost = \"0\"\nviolations = []\n"
    ));
    s
}

pub(super) fn big_cluster(scale: f64, watch: &Watch) -> CaseReport {
    let report = CaseReport::new(Case::BigCluster, watch.partial_shape());
    let shape = BigCluster::scaled(scale);
    let scenario = match parse("bench-big-cluster", &big_cluster_toml(&shape)) {
        Ok(s) => s,
        Err(e) => return report.failed(e),
    };
    let started = Instant::now();
    let result = world::run(&scenario, scenario.seed);
    let (outcome, _) = report::outcome(&scenario, scenario.seed, &result);
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let mut report = report;
    let recovery = leader_recovery(&scenario, &result.events);
    let back = match &recovery {
        None => Figure::new("leaders back after", None, "s").note("no controller kill"),
        Some(r) => match r.restored_at_ms {
            Some(at) => Figure::new(
                "leaders back after",
                Some((at - r.kill_at_ms) as f64 / 1000.0),
                "s",
            )
            .note(format!(
                "{} leaderless at the kill",
                thousands(r.leaderless_at_kill as f64)
            )),
            None => Figure::new("leaders back after", None, "s").note(format!(
                "never: {} partitions still had no leader at the end",
                thousands(r.leaderless_at_end as f64)
            )),
        },
    };
    report.figures = vec![
        Figure::new("wall", Some(wall), "s").at_most(10.0),
        Figure::new("peak memory", peak_rss_mb(), "MB").at_most(2_048.0),
        back,
        Figure::new(
            "events/s",
            Some(result.events.len() as f64 / wall),
            "events/s",
        ),
    ];
    if !outcome.passed() {
        report = report.failed(outcome.expect.failures.join("; "));
    }
    report
}

/// How the partitions fared after the controller was killed.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaderRecovery {
    /// The broker that was the controller when the kill fault fired (none if there was no
    /// controller then, and the fault did nothing).
    pub killed: Option<BrokerId>,
    pub kill_at_ms: u64,
    /// Partitions with no leader, or led by the killed broker, right after the kill.
    pub leaderless_at_kill: usize,
    /// When every partition of the scenario's topics had a live leader again.
    pub restored_at_ms: Option<u64>,
    /// Partitions still without a live leader when the record ends.
    pub leaderless_at_end: usize,
}

/// Reads, from a run's events, how long after the first `crash` of the `controller` every
/// partition had a leader again. A partition's leader is the one its last `LeaderElected`
/// named; the killed broker (the last elected controller before the kill) counts as no
/// leader until it registers with ZooKeeper again. A partition never elected counts as
/// leaderless.
pub fn leader_recovery(scenario: &Scenario, events: &[RecordedEvent]) -> Option<LeaderRecovery> {
    let kill_at_ms = scenario
        .faults
        .iter()
        .filter(|f| matches!(f.action, FaultAction::Crash(Target::Controller)))
        .map(|f| f.at_ms)
        .min()?;
    let all: BTreeSet<TopicPartition> = scenario
        .topics
        .iter()
        .flat_map(|t| (0..t.partitions).map(|p| TopicPartition::new(&t.name, p)))
        .collect();
    let mut leader: BTreeMap<TopicPartition, Option<BrokerId>> = BTreeMap::new();
    let mut controller = None;
    let split = events.partition_point(|e| e.at_ms <= kill_at_ms);
    for e in &events[..split] {
        match &e.event {
            Event::LeaderElected { tp, leader: l, .. } => {
                leader.insert(tp.clone(), *l);
            }
            Event::ControllerElected { broker, .. } => controller = Some(*broker),
            _ => {}
        }
    }
    let mut killed = controller;
    let live = |l: &Option<BrokerId>, killed: Option<BrokerId>| l.is_some() && *l != killed;
    let mut leaderless: BTreeSet<TopicPartition> = all
        .iter()
        .filter(|tp| !live(leader.get(*tp).unwrap_or(&None), killed))
        .cloned()
        .collect();
    let leaderless_at_kill = leaderless.len();
    let mut restored_at_ms = leaderless.is_empty().then_some(kill_at_ms);
    for e in &events[split..] {
        if restored_at_ms.is_some() {
            break;
        }
        match &e.event {
            Event::LeaderElected { tp, leader: l, .. } if all.contains(tp) => {
                leader.insert(tp.clone(), *l);
                if live(l, killed) {
                    leaderless.remove(tp);
                } else {
                    leaderless.insert(tp.clone());
                }
            }
            Event::BrokerRegistered { broker, .. } if Some(*broker) == killed => {
                killed = None;
                leaderless.retain(|tp| !live(leader.get(tp).unwrap_or(&None), None));
            }
            _ => continue,
        }
        if leaderless.is_empty() {
            restored_at_ms = Some(e.at_ms);
        }
    }
    Some(LeaderRecovery {
        killed: controller,
        kill_at_ms,
        leaderless_at_kill,
        restored_at_ms,
        leaderless_at_end: leaderless.len(),
    })
}
