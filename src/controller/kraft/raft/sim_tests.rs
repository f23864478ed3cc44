//! A small deterministic cluster of replicas exchanging messages through a seeded queue,
//! with drops, partitions, crashes (the disk kept, its unflushed tail lost) and graceful
//! resignations, checked after every step against the invariants of Kafka's
//! `RaftEventSimulationTest`: SingleLeader, MonotonicEpoch, MonotonicHighWatermark,
//! MajorityReachedHighWatermark and ConsistentCommittedData; then healed, it must make
//! progress. With snapshots on, every node also runs a listener that builds the state (the
//! committed values in order) from what the replica hands it, snapshots it now and then,
//! and must always hold exactly the committed values (Kafka's `ConsistentCommittedData`
//! over snapshots, and the state machine check of `RaftEventSimulationTest`).

use super::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

type Value = u64;

enum Event {
    Deliver {
        from: RaftNodeId,
        to: RaftNodeId,
        message: RaftMessage<Value>,
    },
    Timer {
        node: RaftNodeId,
        incarnation: u64,
        timer: RaftTimer,
    },
}

struct Cluster {
    now_ms: u64,
    rng: ChaCha8Rng,
    config: QuorumConfig,
    voters: Vec<RaftNodeId>,
    nodes: BTreeMap<RaftNodeId, RaftReplica<Value>>,
    /// Disks of nodes that are down.
    down: BTreeMap<RaftNodeId, RaftDisk<Value>>,
    incarnation: BTreeMap<RaftNodeId, u64>,
    queue: BTreeMap<(u64, u64), Event>,
    seq: u64,
    /// Per link, the last delivery time: links stay FIFO, as TCP.
    link_ms: BTreeMap<(RaftNodeId, RaftNodeId), u64>,
    /// Nodes cut off from every other.
    isolated: BTreeSet<RaftNodeId>,
    /// A split: these nodes reach only each other.
    minority: BTreeSet<RaftNodeId>,
    drop_per_mille: u64,
    next_value: Value,
    /// Each node writes a snapshot of its state this often (its `SnapshotGenerator`).
    snapshot_every_ms: Option<u64>,
    /// Each running node's listener: the committed values it applied, in order, the end
    /// offset it has applied up to, and when it last wrote a snapshot.
    listeners: BTreeMap<RaftNodeId, Listener>,
    // Invariant state.
    leaders: BTreeMap<RaftEpoch, RaftNodeId>,
    epochs: BTreeMap<RaftNodeId, RaftEpoch>,
    max_leader_hw: u64,
    node_hw: BTreeMap<RaftNodeId, u64>,
    first_values: BTreeMap<u64, Entry<Value>>,
    checked_below: BTreeMap<RaftNodeId, u64>,
    /// What happened, to show the faults did something.
    stats: Stats,
}

#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    events: u64,
    elections: u64,
    truncations: u64,
    check_quorum_resignations: u64,
    snapshots_created: u64,
    snapshots_fetched: u64,
    log_starts_moved: u64,
}

#[derive(Clone, Debug, Default)]
struct Listener {
    values: Vec<Value>,
    applied_end_offset: u64,
    last_snapshot_ms: u64,
}

impl Cluster {
    fn new(seed: u64, voters: usize, observers: usize, config: QuorumConfig) -> Cluster {
        let voter_ids: Vec<RaftNodeId> = (0..voters as RaftNodeId).collect();
        let mut cluster = Cluster {
            now_ms: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            config,
            voters: voter_ids.clone(),
            nodes: BTreeMap::new(),
            down: BTreeMap::new(),
            incarnation: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            link_ms: BTreeMap::new(),
            isolated: BTreeSet::new(),
            minority: BTreeSet::new(),
            drop_per_mille: 0,
            next_value: 0,
            snapshot_every_ms: None,
            listeners: BTreeMap::new(),
            leaders: BTreeMap::new(),
            epochs: BTreeMap::new(),
            max_leader_hw: 0,
            node_hw: BTreeMap::new(),
            first_values: BTreeMap::new(),
            checked_below: BTreeMap::new(),
            stats: Stats::default(),
        };
        let ids = voter_ids
            .into_iter()
            .chain((0..observers as RaftNodeId).map(|i| 100 + i));
        for id in ids {
            cluster.down.insert(id, RaftDisk::new());
            cluster.restart(id);
        }
        cluster
    }

    fn random(&mut self, below: u64) -> u64 {
        self.rng.next_u64() % below.max(1)
    }

    fn push(&mut self, at_ms: u64, event: Event) {
        self.seq += 1;
        self.queue.insert((at_ms, self.seq), event);
    }

    fn apply(&mut self, node: RaftNodeId, out: RaftOutput<Value>) {
        let incarnation = self.incarnation[&node];
        for event in &out.events {
            match event {
                RaftEvent::ElectedLeader { .. } => self.stats.elections += 1,
                RaftEvent::Truncated { .. } => self.stats.truncations += 1,
                RaftEvent::SnapshotFetched { .. } => self.stats.snapshots_fetched += 1,
                RaftEvent::LogStartMoved { .. } => self.stats.log_starts_moved += 1,
                RaftEvent::Resigned {
                    why: ResignReason::CheckQuorum,
                    ..
                } => self.stats.check_quorum_resignations += 1,
                _ => {}
            }
        }
        for (delay_ms, timer) in out.timers {
            self.push(
                self.now_ms + delay_ms,
                Event::Timer {
                    node,
                    incarnation,
                    timer,
                },
            );
        }
        for (to, message) in out.messages {
            if self.cut(node, to) || self.random(1000) < self.drop_per_mille {
                continue;
            }
            let delay_ms = 1 + self.random(10);
            let link = self.link_ms.entry((node, to)).or_insert(0);
            let at_ms = (self.now_ms + delay_ms).max(*link);
            *link = at_ms;
            self.push(
                at_ms,
                Event::Deliver {
                    from: node,
                    to,
                    message,
                },
            );
        }
    }

    fn with(
        &mut self,
        node: RaftNodeId,
        f: impl FnOnce(&mut RaftReplica<Value>, u64, &mut RaftOutput<Value>),
    ) {
        let Some(replica) = self.nodes.get_mut(&node) else {
            return;
        };
        let mut out = RaftOutput::default();
        f(replica, self.now_ms, &mut out);
        self.apply(node, out);
    }

    fn cut(&self, a: RaftNodeId, b: RaftNodeId) -> bool {
        self.isolated.contains(&a)
            || self.isolated.contains(&b)
            || self.minority.contains(&a) != self.minority.contains(&b)
    }

    fn max_hw(&self, nodes: &[RaftNodeId]) -> u64 {
        nodes
            .iter()
            .filter_map(|n| self.nodes.get(n))
            .map(|r| r.high_watermark())
            .max()
            .unwrap_or(0)
    }

    fn crash(&mut self, node: RaftNodeId) {
        if let Some(replica) = self.nodes.remove(&node) {
            let mut disk = replica.into_disk();
            disk.crash();
            self.down.insert(node, disk);
            self.checked_below.remove(&node);
            self.node_hw.remove(&node);
            self.listeners.remove(&node);
        }
    }

    fn restart(&mut self, node: RaftNodeId) {
        let Some(disk) = self.down.remove(&node) else {
            return;
        };
        *self.incarnation.entry(node).or_insert(0) += 1;
        let seed = self.rng.next_u64();
        let replica = RaftReplica::new(
            node,
            self.voters.iter().copied(),
            self.config.clone(),
            disk,
            seed,
        );
        self.nodes.insert(node, replica);
        self.listeners.insert(
            node,
            Listener {
                last_snapshot_ms: self.now_ms,
                ..Listener::default()
            },
        );
        self.with(node, |r, now, out| r.start(now, out));
    }

    fn leader(&self) -> Option<RaftNodeId> {
        self.nodes
            .values()
            .filter(|r| r.role() == RaftRole::Leader)
            .max_by_key(|r| r.epoch())
            .map(|r| r.id())
    }

    /// Runs events up to `until_ms`; the leader appends the next integer every
    /// `append_every_ms`.
    fn run_until(&mut self, until_ms: u64, append_every_ms: u64) {
        let mut next_append_ms = self.now_ms + append_every_ms;
        loop {
            let next_event_ms = self.queue.keys().next().map(|&(at, _)| at);
            let next_ms = next_event_ms.unwrap_or(u64::MAX).min(next_append_ms);
            if next_ms > until_ms {
                break;
            }
            self.now_ms = next_ms;
            if next_ms == next_append_ms && next_event_ms.is_none_or(|at| at >= next_append_ms) {
                next_append_ms += append_every_ms;
                if let Some(leader) = self.leader() {
                    let value = self.next_value;
                    self.next_value += 1;
                    self.with(leader, |r, now, out| {
                        r.append(now, vec![value], out).expect("the leader appends");
                    });
                }
            } else {
                let (_, event) = self.queue.pop_first().expect("an event");
                match event {
                    Event::Deliver { from, to, message } => {
                        if !self.cut(from, to) {
                            self.with(to, |r, now, out| r.on_message(now, from, message, out));
                        }
                    }
                    Event::Timer {
                        node,
                        incarnation,
                        timer,
                    } => {
                        if self.incarnation[&node] == incarnation {
                            self.with(node, |r, now, out| r.on_timer(now, timer, out));
                        }
                    }
                }
            }
            self.stats.events += 1;
            self.check_invariants();
        }
        self.now_ms = until_ms;
    }

    fn check_invariants(&mut self) {
        let majority = self.voters.len() / 2 + 1;
        // SingleLeader and MonotonicEpoch, over every disk, running or not.
        let disks: Vec<(RaftNodeId, ElectionState)> = self
            .nodes
            .iter()
            .map(|(&id, r)| (id, r.disk().quorum_state))
            .chain(self.down.iter().map(|(&id, d)| (id, d.quorum_state)))
            .collect();
        for (id, state) in disks {
            if let Some(leader) = state.leader {
                let first = *self.leaders.entry(state.epoch).or_insert(leader);
                assert_eq!(first, leader, "two leaders in epoch {}", state.epoch);
            }
            let last = self.epochs.entry(id).or_insert(state.epoch);
            assert!(state.epoch >= *last, "node {id}'s epoch went back");
            *last = state.epoch;
        }
        // MonotonicHighWatermark: the HW of the leader of the highest epoch.
        let newest_leader = self
            .nodes
            .values()
            .filter(|r| r.role() == RaftRole::Leader)
            .max_by_key(|r| r.epoch());
        if let Some(leader_hw) = newest_leader.and_then(|r| r.leader_high_watermark()) {
            assert!(
                leader_hw >= self.max_leader_hw,
                "leader HW {leader_hw} below an earlier leader's {}",
                self.max_leader_hw
            );
            self.max_leader_hw = leader_hw;
        }
        for (&id, replica) in &self.nodes {
            assert_eq!(replica.epoch(), replica.disk().quorum_state.epoch);
            // A node's HW never decreases while it runs.
            let hw = replica.high_watermark();
            let last = self.node_hw.entry(id).or_insert(hw);
            assert!(hw >= *last, "node {id}'s HW went back from {last} to {hw}");
            *last = hw;
            assert!(hw <= replica.log().end_offset(), "HW past the log end");
            // MajorityReachedHighWatermark, for any node that thinks it leads.
            if let Some(leader_hw) = replica.leader_high_watermark() {
                let holding = self
                    .voters
                    .iter()
                    .filter(|v| {
                        let end = match self.nodes.get(v) {
                            Some(r) => r.log().end_offset(),
                            None => self.down[v].log.end_offset(),
                        };
                        end >= leader_hw
                    })
                    .count();
                assert!(
                    holding >= majority,
                    "HW {leader_hw} is on {holding} voters only"
                );
            }
            // ConsistentCommittedData, for what became committed since the last check (a
            // log that starts later holds the rest in a snapshot, checked on load).
            let from = self
                .checked_below
                .get(&id)
                .copied()
                .unwrap_or(0)
                .max(replica.log().log_start_offset());
            for offset in from..hw {
                let entry = replica.log().get(offset).expect("committed entry").clone();
                let first = self
                    .first_values
                    .entry(offset)
                    .or_insert_with(|| entry.clone());
                assert_eq!(
                    *first, entry,
                    "node {id} disagrees at committed offset {offset}"
                );
            }
            self.checked_below.insert(id, hw);
        }
        self.check_listeners();
    }

    /// The committed data values below `end`, in order, as first seen committed.
    fn committed_values_below(&self, end: u64) -> Vec<Value> {
        (0..end)
            .map(|offset| {
                self.first_values
                    .get(&offset)
                    .unwrap_or_else(|| panic!("offset {offset} was never seen committed"))
            })
            .filter_map(|entry| match entry.body {
                EntryBody::Data(value) => Some(value),
                EntryBody::LeaderChange { .. } => None,
            })
            .collect()
    }

    /// Every running node's listener takes what its replica hands over and must then hold
    /// exactly the committed values below its applied end; it snapshots its state when due.
    fn check_listeners(&mut self) {
        let ids: Vec<RaftNodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            let replica = self.nodes.get_mut(&id).expect("a running node");
            let committed = replica.take_committed();
            let listener = self.listeners.entry(id).or_default();
            if let Some(snapshot) = &committed.snapshot {
                listener.values = snapshot.records.clone();
                listener.applied_end_offset = snapshot.id.end_offset;
                listener.last_snapshot_ms = self.now_ms;
                let truth = self.committed_values_below(snapshot.id.end_offset);
                let listener = &self.listeners[&id];
                assert_eq!(
                    listener.values, truth,
                    "node {id} loaded snapshot {:?} that disagrees with the committed log",
                    snapshot.id
                );
            }
            let listener = self.listeners.get_mut(&id).expect("a listener");
            let delta = !committed.entries.is_empty();
            for (offset, entry) in committed.entries {
                assert_eq!(
                    offset, listener.applied_end_offset,
                    "node {id}: entries handed over out of order"
                );
                assert_eq!(
                    entry, self.first_values[&offset],
                    "node {id} was handed a different entry at committed offset {offset}"
                );
                if let EntryBody::Data(value) = entry.body {
                    listener.values.push(value);
                }
                listener.applied_end_offset = offset + 1;
            }
            let due = self
                .snapshot_every_ms
                .is_some_and(|every| self.now_ms >= listener.last_snapshot_ms + every);
            if delta && due {
                listener.last_snapshot_ms = self.now_ms;
                let (end, values) = (listener.applied_end_offset, listener.values.clone());
                let replica = self.nodes.get_mut(&id).expect("a running node");
                if replica.create_snapshot(end, values).is_some() {
                    self.stats.snapshots_created += 1;
                }
            }
        }
        // Every listener holds the committed values below its end: checked in full now and
        // then (it is quadratic), always for the values it just applied.
        if self.stats.events.is_multiple_of(64) {
            for (id, listener) in &self.listeners {
                if !self.nodes.contains_key(id) {
                    continue;
                }
                let truth = self.committed_values_below(listener.applied_end_offset);
                assert_eq!(
                    listener.values, truth,
                    "node {id}'s state disagrees with the log"
                );
            }
        }
    }
}

/// Random faults, then a heal: the invariants hold throughout and the cluster makes
/// progress.
fn run_seed(seed: u64, config: QuorumConfig, snapshot_every_ms: Option<u64>) -> Stats {
    let voters = if seed.is_multiple_of(2) { 3 } else { 5 };
    let mut c = Cluster::new(seed, voters, 1, config);
    c.snapshot_every_ms = snapshot_every_ms;
    c.drop_per_mille = c.random(150);
    let ids: Vec<RaftNodeId> = c.voters.iter().copied().chain([100]).collect();
    // Chaos: every half second or so, one fault or repair.
    for _ in 0..30 {
        let until = c.now_ms + 200 + c.random(600);
        c.run_until(until, 50);
        let node = ids[c.random(ids.len() as u64) as usize];
        match c.random(6) {
            0 => c.crash(node),
            1 => c.restart(node),
            2 => {
                c.isolated.insert(node);
            }
            3 => {
                c.isolated.remove(&node);
            }
            4 => {
                if let Some(leader) = c.leader() {
                    c.with(leader, |r, now, out| r.resign(now, out));
                }
            }
            _ => {
                let down: Vec<RaftNodeId> = c.down.keys().copied().collect();
                for node in down {
                    c.restart(node);
                }
                c.isolated.clear();
            }
        }
    }
    // Heal: everyone up and connected, no drops.
    c.isolated.clear();
    c.drop_per_mille = 0;
    let down: Vec<RaftNodeId> = c.down.keys().copied().collect();
    for node in down {
        c.restart(node);
    }
    let target = c.max_leader_hw + 10;
    c.run_until(c.now_ms + 30_000, 100);
    let leader = c
        .leader()
        .unwrap_or_else(|| panic!("seed {seed}: no leader after the heal"));
    for (id, replica) in &c.nodes {
        assert!(
            replica.high_watermark() >= target,
            "seed {seed}: node {id} at HW {} < {target} (leader {leader})",
            replica.high_watermark()
        );
    }
    c.stats
}

/// Runs `seeds` and checks the faults did cause elections and truncations.
fn run_seeds(seeds: std::ops::Range<u64>, config: QuorumConfig) -> Stats {
    run_seeds_with(seeds, config, None)
}

fn run_seeds_with(
    seeds: std::ops::Range<u64>,
    config: QuorumConfig,
    snapshot_every_ms: Option<u64>,
) -> Stats {
    let mut total = Stats::default();
    for seed in seeds {
        let stats = run_seed(seed, config.clone(), snapshot_every_ms);
        total.events += stats.events;
        total.elections += stats.elections;
        total.truncations += stats.truncations;
        total.check_quorum_resignations += stats.check_quorum_resignations;
        total.snapshots_created += stats.snapshots_created;
        total.snapshots_fetched += stats.snapshots_fetched;
        total.log_starts_moved += stats.log_starts_moved;
    }
    eprintln!("{total:?}");
    assert!(total.elections > 0 && total.truncations > 0, "{total:?}");
    total
}

#[test]
fn random_faults_keep_the_invariants_and_heal_kafka_4_0() {
    let stats = run_seeds(0..150, QuorumConfig::kafka_4_0());
    assert!(stats.check_quorum_resignations > 0);
}

/// Snapshots every 700 ms, kept 1.5 s, cleaned every half second: logs start late, nodes
/// that were down or cut off catch up by FetchSnapshot, and every listener's state stays
/// the committed values.
fn snapshotting(config: QuorumConfig) -> QuorumConfig {
    QuorumConfig {
        metadata_max_retention_ms: Some(1_500),
        log_clean_interval_ms: 500,
        ..config
    }
}

#[test]
fn random_faults_with_snapshots_keep_the_invariants_and_heal_kafka_4_0() {
    let stats = run_seeds_with(0..80, snapshotting(QuorumConfig::kafka_4_0()), Some(700));
    assert!(
        stats.snapshots_created > 0 && stats.log_starts_moved > 0 && stats.snapshots_fetched > 0,
        "{stats:?}"
    );
}

#[test]
fn random_faults_with_snapshots_keep_the_invariants_and_heal_kafka_3_7() {
    let stats = run_seeds_with(0..80, snapshotting(QuorumConfig::kafka_3_7()), Some(700));
    assert!(
        stats.snapshots_created > 0 && stats.log_starts_moved > 0 && stats.snapshots_fetched > 0,
        "{stats:?}"
    );
}

#[test]
fn random_faults_keep_the_invariants_and_heal_kafka_3_7() {
    let stats = run_seeds(0..120, QuorumConfig::kafka_3_7());
    assert!(stats.check_quorum_resignations > 0);
}

#[test]
fn random_faults_keep_the_invariants_and_heal_kafka_3_6() {
    let stats = run_seeds(0..80, QuorumConfig::kafka_3_6());
    assert_eq!(stats.check_quorum_resignations, 0);
}

/// `canElectInitialLeader`: a leader, and everyone at HW 10.
#[test]
fn elects_an_initial_leader_and_replicates() {
    for voters in [1, 3, 5] {
        let mut c = Cluster::new(voters as u64, voters, 2, QuorumConfig::kafka_4_0());
        c.run_until(20_000, 100);
        assert!(c.leader().is_some());
        for replica in c.nodes.values() {
            assert!(replica.high_watermark() >= 10, "{voters} voters");
        }
    }
}

/// The epoch of the leader after node 2 of 3 was cut off for a while and came back.
fn epoch_after_rejoin(config: QuorumConfig) -> (RaftEpoch, RaftEpoch) {
    let mut c = Cluster::new(11, 3, 0, config);
    c.run_until(10_000, 100);
    let leader = c.leader().expect("a leader");
    let epoch = c.nodes[&leader].epoch();
    let outsider = (0..3).find(|&n| n != leader).unwrap();
    c.isolated.insert(outsider);
    c.run_until(30_000, 100);
    c.isolated.clear();
    c.run_until(40_000, 100);
    let leader = c.leader().expect("a leader");
    for replica in c.nodes.values() {
        assert_eq!(
            replica.high_watermark(),
            c.nodes[&leader]
                .high_watermark()
                .min(replica.high_watermark())
        );
    }
    (epoch, c.nodes[&leader].epoch())
}

/// KIP-996: with pre-vote a partitioned voter rejoining does not disrupt the leader.
#[test]
fn rejoining_voter_does_not_disrupt_the_leader_with_pre_vote() {
    let (before, after) = epoch_after_rejoin(QuorumConfig::kafka_4_0());
    assert_eq!(before, after);
}

/// Without pre-vote the partitioned voter ran elections of its own, and its higher epoch
/// unseats the leader when it rejoins.
#[test]
fn rejoining_voter_bumps_the_epoch_without_pre_vote() {
    let (before, after) = epoch_after_rejoin(QuorumConfig::kafka_3_7());
    assert!(after > before, "epoch {before} → {after}");
}

/// `canMakeProgressIfMajorityIsReachable`: 5 voters split {0, 1} | {2, 3, 4}; the
/// majority side commits past the minority, and after the heal everyone catches up.
#[test]
fn majority_side_of_a_split_makes_progress() {
    for config in [
        QuorumConfig::kafka_3_6(),
        QuorumConfig::kafka_3_7(),
        QuorumConfig::kafka_4_0(),
    ] {
        let mut c = Cluster::new(5, 5, 1, config);
        c.run_until(10_000, 100);
        c.minority = BTreeSet::from([0, 1]);
        c.run_until(30_000, 100);
        let majority_hw = c.max_hw(&[2, 3, 4]);
        assert!(majority_hw > c.max_hw(&[0, 1]) + 10);
        c.minority.clear();
        c.run_until(50_000, 100);
        for replica in c.nodes.values() {
            assert!(replica.high_watermark() > majority_hw);
        }
    }
}

/// `canRecoverAfterAllNodesKilled`: every node crashes; a majority restarted makes
/// progress, and the last one catches up when it comes back.
#[test]
fn recovers_after_all_nodes_are_killed() {
    for config in [QuorumConfig::kafka_3_7(), QuorumConfig::kafka_4_0()] {
        let mut c = Cluster::new(3, 3, 1, config);
        c.run_until(10_000, 100);
        let before = c.max_leader_hw;
        for node in [0, 1, 2, 100] {
            c.crash(node);
        }
        c.run_until(11_000, 100);
        c.restart(0);
        c.restart(1);
        c.run_until(30_000, 100);
        assert!(c.max_hw(&[0, 1]) >= before + 10);
        c.restart(2);
        c.restart(100);
        c.run_until(40_000, 100);
        let hw = c.max_hw(&[0, 1]);
        assert!(c.nodes[&2].high_watermark() + 20 >= hw);
        assert!(c.nodes[&100].high_watermark() + 20 >= hw);
    }
}
