//! The loop of one node: a `kafka-model` state machine fed the messages that arrive and the
//! timers it set, its output sent on, and the livelock guard that keeps a run from hanging.
//!
//! A turn handles one message or one timer. A node that takes [`LIVELOCK_TURNS_MAX`] turns
//! without the simulated clock moving is stuck in a loop no real process would survive: it
//! stops the run with a `livelock` finding instead of spinning forever.

use super::net::{
    next_deliverable, node_code, open_mailbox, send_messages, Inbox, Links, HELD_RECHECK_NS,
};
use super::shared::{Livelock, Shared, Stop};
use futures::future::{select, Either};
use futures::StreamExt;
use kafka_model::broker::Broker;
use kafka_model::controller::kraft::node::ControllerNode;
use kafka_model::zookeeper::ZooKeeper;
use kafka_model::{Actor, BrokerId, NodeId, Output};
use madsim::time::{sleep, Duration};
use std::collections::BTreeMap;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// How many turns a node may take at one simulated instant before the run is declared stuck.
/// A turn handles one message or one timer; a healthy node handles a few per instant, a
/// broker of a large cluster a few thousand (timers and fetches that fall due together).
pub const LIVELOCK_TURNS_MAX: u64 = 1_000_000;

/// Where a process's state lives while it runs.
pub(super) trait Slot<A>: Send + Sync + 'static {
    fn with<R>(&self, f: impl FnOnce(&mut A) -> R) -> Option<R>;

    /// The process exited on its own (an orderly shutdown): what the world does with it.
    fn on_exit(&self) {}
}

/// A process owned by its node task alone (clients, admin).
pub(super) struct Owned<A>(pub(super) Mutex<A>);

impl<A: Send + 'static> Slot<A> for Owned<A> {
    fn with<R>(&self, f: impl FnOnce(&mut A) -> R) -> Option<R> {
        Some(f(&mut self.0.lock().expect("slot lock")))
    }
}

/// A broker, which the orchestrator takes out when the broker crashes.
pub(super) struct BrokerSlot(pub(super) Arc<Shared>, pub(super) BrokerId);

impl Slot<Broker> for BrokerSlot {
    fn with<R>(&self, f: impl FnOnce(&mut Broker) -> R) -> Option<R> {
        self.0.brokers[&self.1]
            .lock()
            .expect("broker lock")
            .as_mut()
            .map(f)
    }

    fn on_exit(&self) {
        super::faults::broker_exited(&self.0, self.1);
    }
}

/// A KRaft controller node, which the orchestrator takes out when it crashes.
pub(super) struct ControllerSlot(pub(super) Arc<Shared>, pub(super) BrokerId);

impl Slot<ControllerNode> for ControllerSlot {
    fn with<R>(&self, f: impl FnOnce(&mut ControllerNode) -> R) -> Option<R> {
        self.0.controllers[&self.1]
            .lock()
            .expect("controller lock")
            .as_mut()
            .map(f)
    }
}

pub(super) struct ZkSlot(pub(super) Arc<Shared>);

impl Slot<ZooKeeper> for ZkSlot {
    fn with<R>(&self, f: impl FnOnce(&mut ZooKeeper) -> R) -> Option<R> {
        self.0.zookeeper.lock().expect("zk lock").as_mut().map(f)
    }
}

/// Counts a node's turns at one simulated instant: the livelock guard.
struct TurnCounter {
    at_ns: u64,
    turns: u64,
}

impl TurnCounter {
    /// Counts one turn at `now_ns`; true once the node has taken too many without the clock
    /// moving.
    fn stuck(&mut self, now_ns: u64) -> bool {
        if now_ns != self.at_ns {
            self.at_ns = now_ns;
            self.turns = 0;
        }
        self.turns += 1;
        self.turns > LIVELOCK_TURNS_MAX
    }
}

/// What a node does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Handle this message of the inbox.
    Message((u64, u64)),
    /// Fire the earliest timer.
    Timer,
    /// Nothing is due: wait for a new message, or until this time (`None`: no deadline).
    Sleep { until_ns: Option<u64> },
}

/// Decides a node's next step from what it holds. A message and a timer due at the same
/// time: the message first. A sleep always ends strictly after `now_ns`, so a node that has
/// nothing to do lets the clock move.
fn next_step(
    inbox: &Inbox,
    deliverable: Option<(u64, u64)>,
    held: bool,
    next_timer_ns: Option<u64>,
    now_ns: u64,
) -> Step {
    let timer_due = next_timer_ns.is_some_and(|t| t <= now_ns);
    match (deliverable, next_timer_ns) {
        (Some(key), Some(t)) if key.0 <= t => return Step::Message(key),
        (Some(key), None) => return Step::Message(key),
        _ if timer_due => return Step::Timer,
        (Some(key), _) => return Step::Message(key),
        _ => {}
    }
    let next_message_ns = if held {
        // Held messages: look again later, or at the next message due after them.
        inbox
            .keys()
            .map(|(t, _)| *t)
            .find(|t| *t > now_ns)
            .unwrap_or(u64::MAX)
            .min(now_ns + HELD_RECHECK_NS)
    } else {
        inbox.keys().next().map_or(u64::MAX, |(t, _)| *t)
    };
    let until_ns = next_message_ns.min(next_timer_ns.unwrap_or(u64::MAX));
    assert!(
        until_ns > now_ns,
        "the next wake-up ({until_ns} ns) must lie after now ({now_ns} ns)"
    );
    Step::Sleep {
        until_ns: (until_ns != u64::MAX).then_some(until_ns),
    }
}

/// Counts this turn, and stops the run if the node is stuck at one instant (a livelock) or
/// the wall-clock watchdog fired. True if the node must end here.
fn must_stop(shared: &Shared, me: NodeId, turns: &mut TurnCounter, now_ns: u64) -> bool {
    if turns.stuck(now_ns) {
        shared.stop_run(Stop::Livelock(Livelock {
            node: me.to_string(),
            at_ms: now_ns / 1_000_000,
            turns: turns.turns,
        }));
        return true;
    }
    if shared.watchdog_fired.load(Ordering::Relaxed) {
        shared.stop_run(Stop::Watchdog);
        return true;
    }
    false
}

/// The loop of one node: timers and messages in, messages and events out.
pub(super) async fn run_node<A: Actor, S: Slot<A>>(shared: Arc<Shared>, me: NodeId, slot: S) {
    let mut receiver = open_mailbox(&shared, me);
    let incarnation = receiver.incarnation;
    let mut links = Links::new(incarnation, node_seed(shared.seed, me, incarnation));
    let mut timers: BTreeMap<(u64, u64), A::Timer> = BTreeMap::new();
    let mut inbox: Inbox = BTreeMap::new();
    let mut seq: u64 = 0;
    let mut turns = TurnCounter { at_ns: 0, turns: 0 };

    let mut out = Output::default();
    if slot.with(|a| a.start(Shared::now_ms(), &mut out)).is_none() {
        return;
    }
    loop {
        let refused = flush_output(&shared, me, &mut links, &mut timers, &mut seq, &mut out);
        for (peer, at_ns) in refused {
            receiver.refused(peer, at_ns, &mut inbox);
        }
        if slot.with(|a| a.exited()).unwrap_or(false) {
            slot.on_exit();
            return;
        }
        let now_ns = Shared::now_ns();
        if must_stop(&shared, me, &mut turns, now_ns) {
            return;
        }
        if !receiver.drain(&mut inbox) {
            return;
        }
        // A message on a link the network cuts waits, as TCP retransmits through a partition:
        // it arrives once the link heals. Later messages of that link wait behind it.
        let (deliverable, held) = next_deliverable(&shared, me, &inbox, now_ns);
        let next_timer_ns = timers.keys().next().map(|(t, _)| *t);
        let wake_ns = match next_step(&inbox, deliverable, held, next_timer_ns, now_ns) {
            Step::Message(key) => {
                let (from, _, message) = inbox.remove(&key).expect("present");
                tracing::trace!(%from, to = %me, kind = message.kind(), "deliver");
                let now_ms = Shared::now_ms();
                if slot
                    .with(|a| a.on_message(now_ms, from, message, &mut out))
                    .is_none()
                {
                    return;
                }
                continue;
            }
            Step::Timer => {
                let key = *timers.keys().next().expect("a due timer");
                let timer = timers.remove(&key).expect("present");
                let now_ms = Shared::now_ms();
                if slot.with(|a| a.on_timer(now_ms, timer, &mut out)).is_none() {
                    return;
                }
                continue;
            }
            Step::Sleep { until_ns } => until_ns,
        };
        let wait = match wake_ns {
            Some(t) => Duration::from_nanos(t - now_ns),
            None => Duration::from_secs(3600),
        };
        let sleeper = pin!(sleep(wait));
        match select(receiver.mailbox.next(), sleeper).await {
            Either::Left((Some(env), _)) => receiver.accept(env, &mut inbox),
            Either::Left((None, _)) => return,
            Either::Right(_) => {}
        }
    }
}

/// The seed of one life of a node's links: the run's seed, the node and its incarnation.
fn node_seed(seed: u64, node: NodeId, incarnation: u64) -> u64 {
    seed ^ node_code(node).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ incarnation.wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// Sets the timers a handler asked for, records its events, and sends its messages. Returns
/// the brokers whose connection was refused, with the time the refusal is heard.
fn flush_output<T>(
    shared: &Shared,
    me: NodeId,
    links: &mut Links,
    timers: &mut BTreeMap<(u64, u64), T>,
    seq: &mut u64,
    out: &mut Output<T>,
) -> Vec<(NodeId, u64)> {
    let now_ns = Shared::now_ns();
    for (delay_ms, timer) in out.timers.drain(..) {
        *seq += 1;
        timers.insert((now_ns + delay_ms * 1_000_000, *seq), timer);
    }
    shared.record_events(std::mem::take(&mut out.events));
    let closed = std::mem::take(&mut out.closed_connections);
    if out.messages.is_empty() && closed.is_empty() {
        return Vec::new();
    }
    send_messages(shared, me, links, now_ns, &mut out.messages, &closed)
}

#[cfg(test)]
mod tests {
    use super::super::net::tests::{envelope, handed_over, receiver};
    use super::super::orchestrate::wait_until_ms;
    use super::super::shared::new_shared;
    use super::*;
    use crate::scenario::Scenario;
    use kafka_model::protocol::Disconnected;
    use kafka_model::Message;
    use madsim::runtime::{Handle, Runtime};
    use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest};
    use rand::Rng;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn next_step_prefers_a_message_due_with_a_timer_and_never_sleeps_until_now() {
        let mut inbox = Inbox::new();
        inbox.insert(
            (10, 1),
            (
                NodeId::Broker(0),
                1,
                Message::Disconnected(Disconnected {
                    peer: NodeId::Admin,
                }),
            ),
        );
        assert_eq!(
            next_step(&inbox, Some((10, 1)), false, Some(10), 10),
            Step::Message((10, 1))
        );
        assert_eq!(next_step(&inbox, None, false, Some(5), 10), Step::Timer);
        assert_eq!(
            next_step(&inbox, None, false, Some(30), 5),
            Step::Sleep { until_ns: Some(10) }
        );
        // A held message (its link is cut): look again after the recheck interval.
        assert_eq!(
            next_step(&inbox, None, true, None, 10),
            Step::Sleep {
                until_ns: Some(10 + HELD_RECHECK_NS)
            }
        );
        assert_eq!(
            next_step(&Inbox::new(), None, false, None, 10),
            Step::Sleep { until_ns: None }
        );
    }

    #[test]
    fn the_turn_counter_trips_only_without_the_clock_moving() {
        let mut turns = TurnCounter { at_ns: 0, turns: 0 };
        for i in 0..10 * LIVELOCK_TURNS_MAX {
            assert!(!turns.stuck(i), "a moving clock never trips the guard");
        }
        let mut turns = TurnCounter { at_ns: 0, turns: 0 };
        let tripped = (0..=LIVELOCK_TURNS_MAX)
            .map(|_| turns.stuck(7))
            .filter(|t| *t)
            .count();
        assert_eq!(tripped, 1, "the turn past the bound trips it");
    }

    /// An actor that asks for a timer of 0 ms every time one fires: it never lets the clock
    /// move, as a timer with a period of zero would.
    struct Spin;

    impl Actor for Spin {
        type Timer = ();
        fn start(&mut self, _now_ms: u64, out: &mut Output<()>) {
            out.timer(0, ());
        }
        fn on_message(&mut self, _: u64, _: NodeId, _: Message, _: &mut Output<()>) {}
        fn on_timer(&mut self, _now_ms: u64, _timer: (), out: &mut Output<()>) {
            out.timer(0, ());
        }
    }

    #[test]
    fn a_node_spinning_at_one_instant_stops_the_run_with_a_livelock() {
        let scenario = Scenario::parse(
            "spin.toml",
            "name = \"spin\"\nduration = \"1s\"\n[cluster]\nbrokers = 1\n[[topics]]\nname = \"t\"\n",
        )
        .expect("scenario");
        let runtime = Runtime::with_seed_and_config(1, madsim::Config::default());
        let stop = runtime.block_on(async move {
            let (shared, mut stop_rx) = new_shared(
                Arc::new(scenario),
                1,
                &[0],
                &[],
                Arc::new(AtomicBool::new(false)),
            );
            let node_shared = shared.clone();
            Handle::current()
                .create_node()
                .name("spin")
                .init(move || {
                    run_node::<Spin, _>(
                        node_shared.clone(),
                        NodeId::Producer(0),
                        Owned(Mutex::new(Spin)),
                    )
                })
                .build();
            let running = wait_until_ms(&shared, &mut stop_rx, 10_000).await;
            assert!(!running, "the run must stop early");
            let stop = shared.stop.lock().unwrap().clone();
            stop
        });
        match stop {
            Some(Stop::Livelock(l)) => {
                assert_eq!(l.node, NodeId::Producer(0).to_string());
                assert_eq!(l.at_ms, 0);
                assert!(l.turns > LIVELOCK_TURNS_MAX);
            }
            other => panic!("expected a livelock, got {other:?}"),
        }
    }

    proptest! {
        #![proptest_config(crate::proptest_config::fixed_seed())]

        /// Whatever order messages of several links arrive in, the inbox hands each link's
        /// messages over in the order they were sent, loses none, and the node always
        /// either has something to do or sleeps until strictly later.
        #[test]
        fn random_arrival_orders_keep_link_order_and_never_stall(
            sends in proptest::collection::vec((0u8..4, 1u64..2_000), 1..60),
            arrival in any::<u64>(),
            now_ns in 0u64..3_000,
            timer in proptest::option::of(0u64..3_000),
            held in any::<bool>(),
        ) {
            // Each link's delivery times rise, as `flush_output` makes them.
            let mut last: BTreeMap<u8, u64> = BTreeMap::new();
            let mut envelopes = Vec::new();
            for (i, (link, latency)) in sends.iter().enumerate() {
                let at = latency.max(&(last.get(link).copied().unwrap_or(0) + 1)).to_owned();
                last.insert(*link, at);
                envelopes.push((*link, at, i as u32));
            }
            // Links are FIFO, but links interleave in any order on arrival.
            let mut rng = ChaCha8Rng::seed_from_u64(arrival);
            let mut queues: BTreeMap<u8, std::collections::VecDeque<(u8, u64, u32)>> = BTreeMap::new();
            for e in &envelopes {
                queues.entry(e.0).or_default().push_back(*e);
            }
            let (mut r, _s) = receiver();
            let mut inbox = Inbox::new();
            while !queues.is_empty() {
                let keys: Vec<u8> = queues.keys().copied().collect();
                let link = keys[rng.gen_range(0..keys.len())];
                let q = queues.get_mut(&link).unwrap();
                let (l, at, marker) = q.pop_front().unwrap();
                if q.is_empty() {
                    queues.remove(&link);
                }
                r.accept(envelope(NodeId::Broker(l as i32), 1, at, NodeId::Producer(marker)), &mut inbox);
            }
            prop_assert_eq!(inbox.len(), envelopes.len());
            for link in 0u8..4 {
                let order: Vec<u32> = handed_over(&inbox)
                    .into_iter()
                    .filter(|(from, _)| *from == NodeId::Broker(link as i32))
                    .map(|(_, m)| match m { NodeId::Producer(i) => i, _ => unreachable!() })
                    .collect();
                let mut sorted = order.clone();
                sorted.sort();
                prop_assert_eq!(order, sorted);
            }
            let due = inbox.range(..=(now_ns, u64::MAX)).next().map(|(k, _)| *k);
            let deliverable = if held { None } else { due };
            let held = held && due.is_some();
            match next_step(&inbox, deliverable, held, timer, now_ns) {
                Step::Sleep { until_ns } => {
                    prop_assert!(deliverable.is_none());
                    prop_assert!(timer.is_none_or(|t| t > now_ns));
                    prop_assert!(until_ns.is_none_or(|t| t > now_ns));
                }
                Step::Message(key) => prop_assert!(key.0 <= now_ns),
                Step::Timer => prop_assert!(timer.is_some_and(|t| t <= now_ns)),
            }
        }
    }
}
