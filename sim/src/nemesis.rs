//! The nemesis: random fault schedules drawn from the run's seed.
//!
//! A fixed fault list tests what its author thought of; a nemesis draws crashes, power
//! losses, partitions, slow links and pauses at random times, so a sweep over thousands of
//! seeds tries what nobody thought of. The schedule comes from a `ChaCha8Rng` seeded from the
//! run's seed and the scenario's hash without its comments (`Scenario::schedule_hash`, so a
//! reworded comment draws the same faults): it depends on those two alone, never on madsim's own
//! draws, so it can be printed (`--show-schedule`), pasted into a scenario as `[[faults]]`,
//! and replays the same.

use crate::scenario::{
    ClusterMode, ElectionScope, FaultAction, FaultSpec, NemesisKind, NemesisSpec, Scenario,
    SlowDirection, Target,
};
use kafka_model::BrokerId;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The extra one-way delay a drawn `slow` fault adds, in milliseconds.
const SLOW_DELAY_MS: (u64, u64) = (500, 15_000);
/// The share of a lossy node's packets lost, in percent: from a bad cable to a link
/// that barely carries anything.
const LOSS_PERCENT: (u32, u32) = (10, 70);

/// The faults a scenario's nemesis draws for a seed, in time order (empty without a nemesis).
pub fn schedule(scenario: &Scenario, seed: u64) -> Vec<FaultSpec> {
    let Some(nemesis) = &scenario.nemesis else {
        return Vec::new();
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ scenario.schedule_hash().rotate_left(17));
    // Combined nodes are drawn as brokers: a fault on one strikes both its roles.
    let controllers = scenario.cluster.dedicated_controller_ids();
    let zookeeper = scenario.cluster.mode == ClusterMode::ZooKeeper;
    draw(
        nemesis,
        scenario.cluster.broker_ids(),
        &controllers,
        zookeeper,
        scenario.duration_ms,
        &mut rng,
    )
}

/// The scenario with the seed's drawn schedule fixed as explicit faults and no nemesis: what
/// `shrink` cuts down, and what both runs of a `what-if` replay.
pub fn fix_schedule(scenario: &Scenario, seed: u64) -> Scenario {
    let mut fixed = scenario.clone();
    fixed.faults.extend(schedule(scenario, seed));
    fixed.faults.sort_by_key(|f| f.at_ms);
    fixed.nemesis = None;
    fixed
}

/// Draws over the broker ids in ascending order: with `brokers = N` (ids 0 to N-1) every
/// draw picks the same broker it did when brokers were numbered by position. In KRaft mode
/// the controller nodes are drawn too (their ids follow the brokers'), and a network
/// partition splits controllers as it splits brokers; ZooKeeper mode draws exactly as before.
/// In combined mode there are no controller nodes apart (`controllers` is empty): each
/// broker drawn takes its controller with it, and ZooKeeper is still not there.
fn draw(
    nemesis: &NemesisSpec,
    brokers: &[BrokerId],
    controllers: &[BrokerId],
    zookeeper: bool,
    duration_ms: u64,
    rng: &mut ChaCha8Rng,
) -> Vec<FaultSpec> {
    let mut nodes: Vec<BrokerId> = brokers.to_vec();
    nodes.extend(controllers);
    let brokers = nodes.as_slice();
    let kinds = enabled_kinds(nemesis, rng);
    let mut faults = Vec::new();
    // Brokers under a fault, with the time the fault ends.
    let mut busy: BTreeMap<BrokerId, u64> = BTreeMap::new();
    // End times of the faults in force.
    let mut active: Vec<u64> = Vec::new();
    // Clients under a fault, by producer name, with the time the fault ends.
    let mut busy_clients: BTreeMap<String, u64> = BTreeMap::new();
    let mut t = rng.gen_range(nemesis.interval_min_ms..=nemesis.interval_max_ms);
    while t < duration_ms {
        active.retain(|end| *end > t);
        busy.retain(|_, end| *end > t);
        busy_clients.retain(|_, end| *end > t);
        if active.len() < nemesis.max_concurrent as usize {
            let free: Vec<BrokerId> = brokers
                .iter()
                .copied()
                .filter(|b| !busy.contains_key(b))
                .collect();
            let kind = kinds[rng.gen_range(0..kinds.len())];
            let length = rng.gen_range(nemesis.duration_min_ms..=nemesis.duration_max_ms);
            let end = (t + length).min(duration_ms);
            if kind == NemesisKind::PreferredElection {
                // An operator's one-shot action: nothing to undo, nothing held busy.
                faults.push(FaultSpec {
                    at_ms: t,
                    action: FaultAction::PreferredElection(ElectionScope::All),
                    line: 0,
                });
            } else if let Some((start, stop, client)) =
                client_episode(kind, nemesis, &busy_clients, brokers.len(), t, rng)
            {
                busy_clients.insert(client, end);
                push_episode(&mut faults, (t, start), (end, stop));
                active.push(end);
            } else if let Some((start, stop, touched)) =
                episode(kind, &free, brokers, controllers, zookeeper, rng)
            {
                push_episode(&mut faults, (t, start), (end, stop));
                for b in touched {
                    busy.insert(b, end);
                }
                active.push(end);
            }
        }
        t += rng.gen_range(nemesis.interval_min_ms..=nemesis.interval_max_ms);
    }
    faults.sort_by_key(|f| f.at_ms);
    faults
}

/// A fault and the action that ends it, each at its time.
fn push_episode(
    faults: &mut Vec<FaultSpec>,
    (at_ms, start): (u64, FaultAction),
    (end_ms, stop): (u64, FaultAction),
) {
    faults.push(FaultSpec {
        at_ms,
        action: start,
        line: 0,
    });
    faults.push(FaultSpec {
        at_ms: end_ms,
        action: stop,
        line: 0,
    });
}

fn enabled_kinds(nemesis: &NemesisSpec, rng: &mut ChaCha8Rng) -> Vec<NemesisKind> {
    if !nemesis.swarm {
        return nemesis.kinds.clone();
    }
    // Swarm testing: each seed runs with a random non-empty subset of the fault kinds, so
    // faults that mask each other are also tried apart.
    loop {
        let subset: Vec<NemesisKind> = nemesis
            .kinds
            .iter()
            .filter(|_| rng.gen_bool(0.5))
            .copied()
            .collect();
        if !subset.is_empty() {
            return subset;
        }
    }
}

/// A fault on one of the nemesis's `clients`, and the heal that ends it, when the draw
/// picks a client over the `nodes` cluster nodes: only a slow link, packet loss or a pause
/// strike a client (a producer's own network, its GC). Draws nothing, so the schedule stays
/// as it was, for a nemesis without clients.
fn client_episode(
    kind: NemesisKind,
    nemesis: &NemesisSpec,
    busy: &BTreeMap<String, u64>,
    nodes: usize,
    at_ms: u64,
    rng: &mut ChaCha8Rng,
) -> Option<(FaultAction, FaultAction, String)> {
    let strikes_clients = matches!(
        kind,
        NemesisKind::Slow | NemesisKind::Loss | NemesisKind::Pause
    );
    if nemesis.clients.is_empty() || !strikes_clients {
        return None;
    }
    let pick = rng.gen_range(0..nodes + nemesis.clients.len());
    let name = nemesis.clients.get(pick.checked_sub(nodes)?)?;
    if busy.get(name).is_some_and(|end| *end > at_ms) {
        return None;
    }
    let target = Target::Producer(name.clone());
    let start = match kind {
        // netem on the client's own interface: what it sends waits.
        NemesisKind::Slow => FaultAction::Slow {
            target: target.clone(),
            delay_ms: rng.gen_range(SLOW_DELAY_MS.0..=SLOW_DELAY_MS.1),
            direction: SlowDirection::Out,
        },
        NemesisKind::Loss => FaultAction::Loss {
            target: target.clone(),
            rate: rng.gen_range(LOSS_PERCENT.0..=LOSS_PERCENT.1) as f64 / 100.0,
        },
        _ => FaultAction::Pause(target.clone()),
    };
    let stop = match kind {
        NemesisKind::Pause => FaultAction::Resume(target),
        _ => FaultAction::Heal(Some(target)),
    };
    Some((start, stop, name.clone()))
}

/// One fault and the action that ends it, and the brokers it touches.
fn episode(
    kind: NemesisKind,
    free: &[BrokerId],
    brokers: &[BrokerId],
    controllers: &[BrokerId],
    zookeeper: bool,
    rng: &mut ChaCha8Rng,
) -> Option<(FaultAction, FaultAction, Vec<BrokerId>)> {
    let target_of = |id: BrokerId| match controllers.contains(&id) {
        true => Target::ControllerNode(id),
        false => Target::Broker(id),
    };
    if kind == NemesisKind::Partition {
        if brokers.len() < 2 || free.len() < brokers.len() {
            return None;
        }
        let mut all: Vec<BrokerId> = brokers.to_vec();
        all.shuffle(rng);
        let cut = rng.gen_range(1..all.len());
        let mut a: Vec<Target> = all[..cut].iter().map(|b| target_of(*b)).collect();
        let mut b: Vec<Target> = all[cut..].iter().map(|b| target_of(*b)).collect();
        a.sort_by_key(|t| t.to_toml());
        b.sort_by_key(|t| t.to_toml());
        // ZooKeeper mode: the ensemble lands on one side (KRaft has none).
        if zookeeper {
            if rng.gen_bool(0.5) {
                a.push(Target::ZooKeeper);
            } else {
                b.push(Target::ZooKeeper);
            }
        }
        let heal = target_of(all[0]);
        return Some((
            FaultAction::Partition(vec![a, b]),
            FaultAction::Heal(Some(heal)),
            all,
        ));
    }
    // A SIGTERM's controlled shutdown is a broker's.
    let candidates: Vec<BrokerId> = match kind {
        NemesisKind::Shutdown => free
            .iter()
            .copied()
            .filter(|b| !controllers.contains(b))
            .collect(),
        _ => free.to_vec(),
    };
    let &broker = candidates.get(rng.gen_range(0..candidates.len().max(1)))?;
    let target = target_of(broker);
    let (start, stop) = match kind {
        NemesisKind::Crash => (
            FaultAction::Crash(target.clone()),
            FaultAction::Restart(target),
        ),
        NemesisKind::PowerLoss => (
            FaultAction::PowerLoss(target.clone()),
            FaultAction::Restart(target),
        ),
        NemesisKind::Pause => (
            FaultAction::Pause(target.clone()),
            FaultAction::Resume(target),
        ),
        NemesisKind::Slow => {
            let delay_ms = rng.gen_range(SLOW_DELAY_MS.0..=SLOW_DELAY_MS.1);
            (
                FaultAction::Slow {
                    target: target.clone(),
                    delay_ms,
                    direction: SlowDirection::Both,
                },
                FaultAction::Heal(Some(target)),
            )
        }
        NemesisKind::Shutdown => (
            FaultAction::Shutdown(target.clone()),
            FaultAction::Restart(target),
        ),
        NemesisKind::Loss => {
            let percent = rng.gen_range(LOSS_PERCENT.0..=LOSS_PERCENT.1);
            (
                FaultAction::Loss {
                    target: target.clone(),
                    rate: percent as f64 / 100.0,
                },
                FaultAction::Heal(Some(target)),
            )
        }
        NemesisKind::Partition | NemesisKind::PreferredElection => return None,
    };
    Some((start, stop, vec![broker]))
}

/// A duration as a scenario file writes it.
pub fn duration_text(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Faults as `[[faults]]` TOML, ready to paste into a scenario.
pub fn faults_toml(faults: &[FaultSpec]) -> String {
    let mut s = String::new();
    for f in faults {
        let _ = writeln!(s, "[[faults]]");
        let _ = writeln!(s, "at = \"{}\"", duration_text(f.at_ms));
        let _ = writeln!(s, "action = \"{}\"", f.action.name());
        match &f.action {
            FaultAction::Crash(t)
            | FaultAction::Restart(t)
            | FaultAction::PowerLoss(t)
            | FaultAction::Pause(t)
            | FaultAction::Resume(t)
            | FaultAction::Isolate(t)
            | FaultAction::Shutdown(t)
            | FaultAction::ReplaceDisk(t)
            | FaultAction::Heal(Some(t)) => {
                let _ = writeln!(s, "target = {}", t.to_toml());
            }
            FaultAction::Heal(None) => {}
            FaultAction::Fork { target, .. } => {
                let _ = writeln!(s, "target = {}", target.to_toml());
            }
            FaultAction::RollingRestart { isr_wait_ms } => {
                let _ = writeln!(s, "isr_wait = \"{}\"", duration_text(*isr_wait_ms));
            }
            FaultAction::Slow {
                target,
                delay_ms,
                direction,
            } => {
                let _ = writeln!(s, "target = {}", target.to_toml());
                let _ = writeln!(s, "delay = \"{}\"", duration_text(*delay_ms));
                if *direction != SlowDirection::Both {
                    let _ = writeln!(s, "direction = \"{}\"", direction.name());
                }
            }
            FaultAction::Loss { target, rate } => {
                let _ = writeln!(s, "target = {}", target.to_toml());
                let _ = writeln!(s, "rate = {rate}");
            }
            FaultAction::PreferredElection(scope) => {
                let _ = writeln!(s, "target = \"{scope}\"");
            }
            FaultAction::DeleteRecords { tp, before_offset } => {
                let _ = writeln!(s, "target = \"{tp}\"");
                let offset = before_offset.map_or(-1, |o| o as i64);
                let _ = writeln!(s, "before_offset = {offset}");
            }
            FaultAction::Partition(groups) => {
                let groups = groups
                    .iter()
                    .map(|g| {
                        format!(
                            "[{}]",
                            g.iter().map(|t| t.to_toml()).collect::<Vec<_>>().join(", ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = writeln!(s, "groups = [{groups}]");
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(nemesis: &str) -> Scenario {
        let text = format!(
            "name = \"n\"\nduration = \"120s\"\n[cluster]\nbrokers = 3\n[[topics]]\nname = \"t\"\n{nemesis}"
        );
        Scenario::parse("n.toml", &text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_schedule_depends_on_the_seed_alone() {
        let s = scenario("[nemesis]\nkinds = [\"crash\", \"partition\", \"slow\", \"pause\"]\ninterval = \"2s..10s\"\nduration = \"1s..15s\"\n");
        let a = schedule(&s, 7);
        assert_eq!(faults_toml(&a), faults_toml(&schedule(&s, 7)));
        assert_ne!(faults_toml(&a), faults_toml(&schedule(&s, 8)));
        assert!(!a.is_empty());
        assert!(a.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        assert!(a.iter().all(|f| f.at_ms <= 120_000));
    }

    #[test]
    fn max_concurrent_one_means_one_fault_at_a_time() {
        let s = scenario("[nemesis]\nkinds = [\"crash\", \"pause\"]\ninterval = \"1s..3s\"\nduration = \"5s..9s\"\n");
        for seed in 0..50 {
            let mut in_force = 0i32;
            for f in schedule(&s, seed) {
                match f.action {
                    FaultAction::Crash(_) | FaultAction::Pause(_) => in_force += 1,
                    _ => in_force -= 1,
                }
                assert!(in_force <= 1, "seed {seed}");
            }
        }
    }

    #[test]
    fn draws_are_over_the_broker_ids() {
        let text = "name = \"n\"\nduration = \"120s\"\n[cluster]\nbroker_ids = [101, 102, 103]\n[[topics]]\nname = \"t\"\n[nemesis]\nswarm = true\n";
        let s = Scenario::parse("n.toml", text).unwrap_or_else(|e| panic!("{e}"));
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..20 {
            let faults = schedule(&s, seed);
            for f in &faults {
                let targets = match &f.action {
                    FaultAction::Partition(groups) => groups.concat(),
                    FaultAction::Crash(t)
                    | FaultAction::Restart(t)
                    | FaultAction::PowerLoss(t)
                    | FaultAction::Pause(t)
                    | FaultAction::Resume(t)
                    | FaultAction::Heal(Some(t))
                    | FaultAction::Slow { target: t, .. } => vec![t.clone()],
                    _ => Vec::new(),
                };
                for t in targets {
                    if let Target::Broker(b) = t {
                        assert!((101..=103).contains(&b), "seed {seed}: broker {b}");
                        seen.insert(b);
                    }
                }
            }
            let back = format!(
                "name = \"n\"\nduration = \"120s\"\n[cluster]\nbroker_ids = [101, 102, 103]\n[[topics]]\nname = \"t\"\n{}",
                faults_toml(&faults)
            );
            Scenario::parse("back.toml", &back).unwrap_or_else(|e| panic!("{e}\n{back}"));
        }
        assert_eq!(seen.len(), 3, "every broker gets drawn: {seen:?}");
    }

    #[test]
    fn the_printed_schedule_parses_back() {
        let s = scenario("[nemesis]\nswarm = true\n");
        for seed in 0..20 {
            let faults = schedule(&s, seed);
            let text = format!(
                "name = \"n\"\nduration = \"120s\"\n[cluster]\nbrokers = 3\n[[topics]]\nname = \"t\"\n{}",
                faults_toml(&faults)
            );
            let back =
                Scenario::parse("back.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(back.faults.len(), faults.len());
            for (a, b) in back.faults.iter().zip(&faults) {
                assert_eq!((a.at_ms, &a.action), (b.at_ms, &b.action));
            }
        }
    }

    #[test]
    fn a_preferred_election_is_one_shot_and_only_drawn_when_named() {
        let s = scenario("[nemesis]\nkinds = [\"preferred-election\", \"crash\"]\ninterval = \"2s..6s\"\nduration = \"1s..5s\"\n");
        let faults = schedule(&s, 3);
        let elections = faults
            .iter()
            .filter(|f| f.action == FaultAction::PreferredElection(ElectionScope::All))
            .count();
        let crashes = faults
            .iter()
            .filter(|f| matches!(f.action, FaultAction::Crash(_)))
            .count();
        let restarts = faults
            .iter()
            .filter(|f| matches!(f.action, FaultAction::Restart(_)))
            .count();
        assert!(elections > 0, "{}", faults_toml(&faults));
        assert_eq!(crashes, restarts, "only crashes are undone");
        assert_eq!(elections + crashes + restarts, faults.len());
        let back = format!(
            "name = \"n\"\nduration = \"120s\"\n[cluster]\nbrokers = 3\n[[topics]]\nname = \"t\"\n{}",
            faults_toml(&faults)
        );
        let parsed = Scenario::parse("back.toml", &back).unwrap_or_else(|e| panic!("{e}\n{back}"));
        assert_eq!(parsed.faults.len(), faults.len());

        let default = scenario("[nemesis]\n");
        for seed in 0..20 {
            assert!(schedule(&default, seed)
                .iter()
                .all(|f| !matches!(f.action, FaultAction::PreferredElection(_))));
        }
    }
}
