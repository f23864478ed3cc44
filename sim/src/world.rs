//! The simulated world: every Kafka process on its own madsim node, the network between
//! them, the faults, and the recorder.
//!
//! Each process is a state machine from `kafka-model`; a small loop per node feeds it the
//! messages that arrive and the timers it set, and sends what it asks to send. Nodes, their
//! crashes, restarts and pauses, the clock and the scheduler are madsim's. The links between
//! nodes are the world's own, because Kafka runs over TCP and madsim's datagram mailbox does
//! not behave like TCP (it hands queued datagrams over in no fixed order and, under load, can
//! starve one for as long as others keep arriving):
//! - a message goes straight into the receiver's mailbox with the time it may be delivered,
//!   never earlier than the previous message on the same link, so each link is FIFO by
//!   construction, as a TCP connection is;
//! - latency drawn from the scenario's range, extra delay on slowed links, retransmission
//!   delay on lossy ones, all drawn from a `ChaCha8Rng` per node seeded from the run's seed;
//! - partitions and isolation as TCP lives through them: a message on a cut link waits and
//!   arrives when the link heals. A restarted process opens new connections: what the
//!   receiver still holds from the sender's previous life is dropped, as a reset connection's
//!   unread data is;
//! - disks that outlive processes: a crash keeps the page cache, a power loss keeps only what
//!   was flushed.
//!
//! The orchestrator (the run's main task) applies the scenario's faults at their times,
//! then heals everything, restarts every broker, lets the cluster settle, and reads the final
//! state. Everything reported comes from the event record and that final state.
//!
//! No run can hang. A node that handles [`LIVELOCK_TURNS_MAX`] turns without the simulated
//! clock moving is stuck in a loop no real process would survive: the run stops there with a
//! `livelock` finding. A wall-clock watchdog ([`RunLimits::wall_time_limit`]) may stop a run
//! too, but then the run has no outcome: a slow machine must never change a seed's result.

use crate::record::*;
use crate::scenario::{FaultAction, Scenario, Target};
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::future::{select, Either};
use futures::StreamExt;
use kafka_model::broker::{Broker, Disk};
use kafka_model::clients::admin::Admin;
use kafka_model::clients::consumer::{Consumer, GroupSettings};
use kafka_model::clients::producer::{Producer, ProducerSettings};
use kafka_model::controller::state_path;
use kafka_model::event::TruncateReason;
use kafka_model::protocol::ZkData;
use kafka_model::zookeeper::ZooKeeper;
use kafka_model::{
    offsets_partition_for, Actor, BrokerId, Event, Message, NodeId, Output, TopicPartition,
    OFFSETS_TOPIC,
};
use madsim::runtime::{Handle, Runtime};
use madsim::time::{sleep, Duration, TimeHandle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const PORT: u16 = 9092;
/// The least one-way delay of a message on any link (a data centre's floor).
const MIN_LATENCY_NS: u64 = 50_000;
/// How long the admin client waits for every broker before it creates the topics anyway.
const ADMIN_WAIT_MAX_MS: u64 = 5_000;

/// How many turns a node may take at one simulated instant before the run is declared stuck.
/// A turn handles one message or one timer; a healthy node handles a few per instant, a
/// broker of a large cluster a few thousand (timers and fetches that fall due together).
pub const LIVELOCK_TURNS_MAX: u64 = 1_000_000;

/// A message in flight.
struct Envelope {
    from: NodeId,
    /// The sender's incarnation (restarts) and the receiver's incarnation the sender
    /// addressed: a message to a previous life of the receiver is never delivered, and one
    /// from a previous life of the sender is dropped once the sender's new life is heard from.
    incarnation: u64,
    to_incarnation: u64,
    deliver_at_ns: u64,
    message: Message,
}

/// How often a node looks again at messages held on a cut link.
const HELD_RECHECK_NS: u64 = 10_000_000;

/// What a node holds for delivery: messages by delivery time, then arrival order.
type Inbox = BTreeMap<(u64, u64), (NodeId, u64, Message)>;

/// The first message that may be handled now: due, and on a link the network does not cut,
/// with no earlier message of its sender still held. Also says whether any due message is
/// held.
fn next_deliverable(
    shared: &Shared,
    me: NodeId,
    inbox: &Inbox,
    now_ns: u64,
) -> (Option<(u64, u64)>, bool) {
    let mut due = inbox.range(..=(now_ns, u64::MAX));
    let Some((first_key, _)) = due.next() else {
        return (None, false);
    };
    let net = shared.net.lock().expect("net");
    if !net.any() {
        return (Some(*first_key), false);
    }
    let mut held_senders: BTreeSet<NodeId> = BTreeSet::new();
    for (key, (from, _, _)) in inbox.range(..=(now_ns, u64::MAX)) {
        if held_senders.contains(from) {
            continue;
        }
        if net.blocked(*from, me) {
            held_senders.insert(*from);
            continue;
        }
        return (Some(*key), !held_senders.is_empty());
    }
    (None, !held_senders.is_empty())
}

/// A node's receiving side: its mailbox, and per sender the newest incarnation heard from.
struct Receiver {
    incarnation: u64,
    mailbox: UnboundedReceiver<Envelope>,
    senders: BTreeMap<NodeId, u64>,
    /// Arrival order, the tie-break between messages due at the same nanosecond.
    arrivals: u64,
}

impl Receiver {
    /// Takes one arrived message into the inbox. A message for a previous life of this node
    /// is dropped; so is one from a previous life of its sender, and a sender's new life drops
    /// what its previous one still had waiting here (its connections were reset).
    fn accept(&mut self, env: Envelope, inbox: &mut Inbox) {
        if env.to_incarnation != self.incarnation {
            return;
        }
        let newest = self.senders.entry(env.from).or_insert(env.incarnation);
        if env.incarnation < *newest {
            return;
        }
        if env.incarnation > *newest {
            *newest = env.incarnation;
            let from = env.from;
            let incarnation = env.incarnation;
            inbox.retain(|_, (f, i, _)| *f != from || *i >= incarnation);
        }
        self.arrivals += 1;
        inbox.insert(
            (env.deliver_at_ns, self.arrivals),
            (env.from, env.incarnation, env.message),
        );
    }

    /// Moves every message that has arrived into the inbox, without waiting.
    /// False once the mailbox is closed (this life of the node is over).
    fn drain(&mut self, inbox: &mut Inbox) -> bool {
        loop {
            match self.mailbox.try_recv() {
                Ok(env) => self.accept(env, inbox),
                Err(e) => return !e.is_closed(),
            }
        }
    }
}

/// Network faults in force.
#[derive(Default, Clone, Debug)]
pub struct NetFaults {
    isolated: BTreeSet<NodeId>,
    partitions: Vec<Vec<Vec<NodeId>>>,
    slow_ms: BTreeMap<NodeId, u64>,
    loss: BTreeMap<NodeId, f64>,
}

impl NetFaults {
    /// Whether any link is cut right now.
    fn any(&self) -> bool {
        !self.isolated.is_empty() || !self.partitions.is_empty()
    }

    fn blocked(&self, a: NodeId, b: NodeId) -> bool {
        if a == b {
            return false;
        }
        if self.isolated.contains(&a) || self.isolated.contains(&b) {
            return true;
        }
        self.partitions.iter().any(|groups| {
            let ga = groups.iter().position(|g| g.contains(&a));
            let gb = groups.iter().position(|g| g.contains(&b));
            matches!((ga, gb), (Some(x), Some(y)) if x != y)
        })
    }

    fn extra_delay_ms(&self, a: NodeId, b: NodeId) -> u64 {
        let da = self.slow_ms.get(&a).copied().unwrap_or(0);
        let db = self.slow_ms.get(&b).copied().unwrap_or(0);
        da.max(db)
    }

    fn loss(&self, a: NodeId, b: NodeId) -> f64 {
        let la = self.loss.get(&a).copied().unwrap_or(0.0);
        let lb = self.loss.get(&b).copied().unwrap_or(0.0);
        la.max(lb)
    }

    fn heal(&mut self, target: Option<NodeId>) {
        match target {
            None => *self = NetFaults::default(),
            Some(t) => {
                self.isolated.remove(&t);
                self.partitions
                    .retain(|groups| !groups.iter().any(|g| g.contains(&t)));
                self.slow_ms.remove(&t);
                self.loss.remove(&t);
            }
        }
    }
}

/// How a broker's process stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BrokerStatus {
    Running,
    Crashed,
    Paused,
}

/// State shared by the orchestrator and every node of one run.
struct Shared {
    scenario: Arc<Scenario>,
    seed: u64,
    record: Mutex<Vec<RecordedEvent>>,
    faults: Mutex<Vec<FaultRecord>>,
    net: Mutex<NetFaults>,
    /// Each broker's process (None while it is down) and disk.
    brokers: BTreeMap<BrokerId, Mutex<Option<Broker>>>,
    disks: BTreeMap<BrokerId, Mutex<Disk>>,
    /// Per node: its incarnation (so a restarted node's random draws differ from the last
    /// life) and its mailbox while it runs.
    mailboxes: Mutex<BTreeMap<NodeId, Mailbox>>,
    zookeeper: Mutex<Option<ZooKeeper>>,
    messages_sent: Mutex<u64>,
    /// Brokers whose process crashed while their host stayed up: a client's connection to
    /// one is refused. (A power loss takes the host down too: connections time out.)
    refusing: Mutex<BTreeSet<NodeId>>,
    /// Connections to close: (the crashed broker, each client to tell), sent by the
    /// orchestrator right after the fault.
    closing: Mutex<Vec<NodeId>>,
    /// Why the run stopped early, and the orchestrator's wake-up for it.
    stop: Mutex<Option<Stop>>,
    stop_signal: UnboundedSender<()>,
    /// Set by the wall-clock watchdog; every node looks at it once a turn.
    watchdog_fired: Arc<AtomicBool>,
}

/// A node's mailbox as its senders see it.
struct Mailbox {
    incarnation: u64,
    sender: Option<UnboundedSender<Envelope>>,
    /// The receiving end of a mailbox opened before the node's task first runs, so what is
    /// sent to it at the very start of the run (before madsim gets to its task) is kept.
    opened_early: Option<UnboundedReceiver<Envelope>>,
}

/// Why a run stopped before its end.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stop {
    Livelock(Livelock),
    Watchdog,
}

/// A node that took [`LIVELOCK_TURNS_MAX`] turns without the simulated clock moving.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Livelock {
    pub node: String,
    pub at_ms: u64,
    pub turns: u64,
}

impl Shared {
    fn now_ms() -> u64 {
        TimeHandle::current().elapsed().as_millis() as u64
    }

    fn now_ns() -> u64 {
        TimeHandle::current().elapsed().as_nanos() as u64
    }

    fn record_events(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        for e in &events {
            tracing::debug!(kind = e.kind(), event = ?e);
        }
        let at_ms = Self::now_ms();
        let mut record = self.record.lock().expect("record lock");
        record.extend(
            events
                .into_iter()
                .map(|event| RecordedEvent { at_ms, event }),
        );
    }

    fn record_fault(&self, action: &str, detail: String) {
        tracing::info!(action, %detail, "fault");
        self.faults.lock().expect("faults lock").push(FaultRecord {
            at_ms: Self::now_ms(),
            action: action.to_string(),
            detail,
        });
    }

    /// Asks the orchestrator to end the run now; the first reason given is kept.
    fn stop_run(&self, reason: Stop) {
        let mut stop = self.stop.lock().expect("stop");
        if stop.is_none() {
            tracing::warn!(?reason, "the run stops early");
            *stop = Some(reason);
            let _ = self.stop_signal.unbounded_send(());
        }
    }

    fn stopped(&self) -> bool {
        self.stop.lock().expect("stop").is_some()
    }
}

/// A process's address: `fd00::K:H:L`, with K the kind of process and H:L the 32 bits of its
/// broker id or client index, so every broker id Kafka allows (0 to `i32::MAX`) and every
/// client index has an address of its own.
pub fn addr_of(node: NodeId) -> SocketAddr {
    let (kind, n): (u16, u32) = match node {
        NodeId::ZooKeeper => (1, 0),
        NodeId::Admin => (2, 0),
        NodeId::Broker(b) => (3, b as u32),
        NodeId::Producer(i) => (4, i),
        NodeId::Consumer(i) => (5, i),
    };
    let ip = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, kind, (n >> 16) as u16, n as u16);
    SocketAddr::new(IpAddr::V6(ip), PORT)
}

/// Where a process's state lives while it runs.
trait Slot<A>: Send + Sync + 'static {
    fn with<R>(&self, f: impl FnOnce(&mut A) -> R) -> Option<R>;
}

/// A process owned by its node task alone (clients, admin).
struct Owned<A>(Mutex<A>);

impl<A: Send + 'static> Slot<A> for Owned<A> {
    fn with<R>(&self, f: impl FnOnce(&mut A) -> R) -> Option<R> {
        Some(f(&mut self.0.lock().expect("slot lock")))
    }
}

/// A broker, which the orchestrator takes out when the broker crashes.
struct BrokerSlot(Arc<Shared>, BrokerId);

impl Slot<Broker> for BrokerSlot {
    fn with<R>(&self, f: impl FnOnce(&mut Broker) -> R) -> Option<R> {
        self.0.brokers[&self.1]
            .lock()
            .expect("broker lock")
            .as_mut()
            .map(f)
    }
}

struct ZkSlot(Arc<Shared>);

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

/// Opens the mailbox of every node before any of them runs: the first life of each.
fn open_first_mailboxes(shared: &Shared, nodes: &[NodeId]) {
    let mut mailboxes = shared.mailboxes.lock().expect("mailboxes");
    for node in nodes {
        let (sender, receiver) = unbounded();
        mailboxes.insert(
            *node,
            Mailbox {
                incarnation: 1,
                sender: Some(sender),
                opened_early: Some(receiver),
            },
        );
    }
}

/// Opens a node's mailbox for a new life of the node (or takes the one opened for its first
/// life) and returns its receiving side.
fn open_mailbox(shared: &Shared, me: NodeId) -> Receiver {
    let mut mailboxes = shared.mailboxes.lock().expect("mailboxes");
    let entry = mailboxes.entry(me).or_insert(Mailbox {
        incarnation: 0,
        sender: None,
        opened_early: None,
    });
    let mailbox = match entry.opened_early.take() {
        Some(receiver) => receiver,
        None => {
            let (sender, receiver) = unbounded();
            entry.incarnation += 1;
            entry.sender = Some(sender);
            receiver
        }
    };
    Receiver {
        incarnation: entry.incarnation,
        mailbox,
        senders: BTreeMap::new(),
        arrivals: 0,
    }
}

/// The loop of one node: timers and messages in, messages and events out.
async fn run_node<A: Actor, S: Slot<A>>(shared: Arc<Shared>, me: NodeId, slot: S) {
    let mut receiver = open_mailbox(&shared, me);
    let incarnation = receiver.incarnation;
    let mut rng = ChaCha8Rng::seed_from_u64(node_seed(shared.seed, me, incarnation));
    let mut links = Links {
        incarnation,
        last_delivery_ns: BTreeMap::new(),
    };
    let mut timers: BTreeMap<(u64, u64), A::Timer> = BTreeMap::new();
    let mut inbox: Inbox = BTreeMap::new();
    let mut seq: u64 = 0;
    let mut turns = TurnCounter { at_ns: 0, turns: 0 };

    let mut out = Output::default();
    if slot.with(|a| a.start(Shared::now_ms(), &mut out)).is_none() {
        return;
    }
    loop {
        let refused = flush_output(
            &shared,
            me,
            &mut rng,
            &mut links,
            &mut timers,
            &mut seq,
            &mut out,
        );
        for (peer, at_ns) in refused {
            receiver.arrivals += 1;
            inbox.insert(
                (at_ns, receiver.arrivals),
                (peer, u64::MAX, Message::Disconnected { peer }),
            );
        }
        let now_ns = Shared::now_ns();
        if turns.stuck(now_ns) {
            shared.stop_run(Stop::Livelock(Livelock {
                node: me.to_string(),
                at_ms: now_ns / 1_000_000,
                turns: turns.turns,
            }));
            return;
        }
        if shared.watchdog_fired.load(Ordering::Relaxed) {
            shared.stop_run(Stop::Watchdog);
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

fn node_seed(seed: u64, node: NodeId, incarnation: u64) -> u64 {
    let code = match node {
        NodeId::ZooKeeper => 1u64,
        NodeId::Admin => 2,
        NodeId::Broker(b) => 0x100 + b as u64,
        NodeId::Producer(i) => 0x10000 + i as u64,
        NodeId::Consumer(i) => 0x20000 + i as u64,
    };
    seed ^ code.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ incarnation.wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// TCP's answer to a lost segment: send it again after a retransmission timeout (200 ms,
/// doubling each time, at most 60 s), until it gets through. Kafka and ZooKeeper run over
/// TCP, so a lossy link delays messages and never silently drops one from the middle of a
/// connection. After `MAX_RETRANSMISSIONS` tries the message arrives anyway: by then the
/// link has been as good as down for minutes.
fn retransmission_delay_ns(rng: &mut ChaCha8Rng, loss: f64) -> u64 {
    const RTO_MIN_NS: u64 = 200_000_000;
    const RTO_MAX_NS: u64 = 60_000_000_000;
    const MAX_RETRANSMISSIONS: u32 = 10;
    if loss <= 0.0 {
        return 0;
    }
    let mut delay = 0;
    let mut rto = RTO_MIN_NS;
    for _ in 0..MAX_RETRANSMISSIONS {
        if !rng.gen_bool(loss.min(1.0)) {
            break;
        }
        delay += rto;
        rto = (rto * 2).min(RTO_MAX_NS);
    }
    delay
}

/// A node's outgoing links: its incarnation and each link's last delivery time (for FIFO
/// delivery times).
struct Links {
    incarnation: u64,
    last_delivery_ns: BTreeMap<NodeId, u64>,
}

/// Sets the timers a handler asked for, records its events, and sends its messages. Returns
/// the brokers whose connection was refused, with the time the refusal is heard.
fn flush_output<T>(
    shared: &Shared,
    me: NodeId,
    rng: &mut ChaCha8Rng,
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
    if out.messages.is_empty() {
        return Vec::new();
    }
    let is_client = matches!(me, NodeId::Producer(_) | NodeId::Consumer(_));
    let mut refused = Vec::new();
    let network = &shared.scenario.network;
    let net = shared.net.lock().expect("net");
    let mailboxes = shared.mailboxes.lock().expect("mailboxes");
    let refusing = shared.refusing.lock().expect("refusing");
    let mut sent = 0;
    for (to, message) in out.messages.drain(..) {
        if is_client && refusing.contains(&to) {
            // Connection refused: the client hears so after a round trip's worth of time.
            let round_trip_ns = 2 * (network.latency_min_us * 1_000).max(MIN_LATENCY_NS);
            if !refused.iter().any(|(n, _)| *n == to) {
                refused.push((to, now_ns + round_trip_ns));
            }
            continue;
        }
        let retransmit_ns = retransmission_delay_ns(rng, net.loss(me, to).max(network.loss));
        let latency_us = if network.latency_max_us > network.latency_min_us {
            rng.gen_range(network.latency_min_us..=network.latency_max_us)
        } else {
            network.latency_min_us
        };
        let extra_ns = net.extra_delay_ms(me, to) * 1_000_000;
        let earliest = now_ns + (latency_us * 1_000).max(MIN_LATENCY_NS) + extra_ns + retransmit_ns;
        let last = links.last_delivery_ns.entry(to).or_insert(0);
        let deliver_at_ns = earliest.max(*last + 1);
        *last = deliver_at_ns;
        sent += 1;
        // A message to a node that is down is simply lost.
        let Some(mailbox) = mailboxes.get(&to) else {
            continue;
        };
        if let Some(sender) = &mailbox.sender {
            let _ = sender.unbounded_send(Envelope {
                from: me,
                incarnation: links.incarnation,
                to_incarnation: mailbox.incarnation,
                deliver_at_ns,
                message,
            });
        }
    }
    *shared.messages_sent.lock().expect("counter") += sent;
    refused
}

/// The operating system of a crashed broker resets its connections: every client hears
/// (after the latency of the link, and after whatever the broker sent before) that its
/// requests to that broker will not be answered.
fn send_resets(shared: &Shared, nodes: &Nodes) {
    let crashed: Vec<NodeId> = std::mem::take(&mut *shared.closing.lock().expect("closing"));
    if crashed.is_empty() {
        return;
    }
    let network = &shared.scenario.network;
    let now_ns = Shared::now_ns();
    let net = shared.net.lock().expect("net");
    let mailboxes = shared.mailboxes.lock().expect("mailboxes");
    for from in crashed {
        // The crashed life of the broker: the one whose connections are reset.
        let from_incarnation = mailboxes.get(&from).map_or(0, |m| m.incarnation);
        for client in nodes.others.keys() {
            if !matches!(client, NodeId::Producer(_) | NodeId::Consumer(_)) {
                continue;
            }
            let Some(mailbox) = mailboxes.get(client) else {
                continue;
            };
            let Some(sender) = &mailbox.sender else {
                continue;
            };
            let deliver_at_ns = now_ns
                + (network.latency_max_us * 1_000).max(MIN_LATENCY_NS)
                + net.extra_delay_ms(from, *client) * 1_000_000;
            let _ = sender.unbounded_send(Envelope {
                from,
                incarnation: from_incarnation,
                to_incarnation: mailbox.incarnation,
                deliver_at_ns,
                message: Message::Disconnected { peer: from },
            });
        }
    }
}

/// The outcome of one run, before it is checked and reported.
pub struct RunResult {
    pub events: Vec<RecordedEvent>,
    pub faults: Vec<FaultRecord>,
    pub final_state: FinalState,
    pub sim_time_ms: u64,
    pub messages_sent: u64,
    /// Set when a node was stuck at one simulated instant and the run stopped there: the
    /// rest of the scenario (faults, the settle) did not happen.
    pub livelock: Option<Livelock>,
}

/// Limits of a run that are not part of the scenario.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunLimits {
    /// A watchdog on wall time. Reaching it ends the run without an outcome: how fast a
    /// machine is must never change what a seed reports.
    pub wall_time_limit: Option<std::time::Duration>,
}

/// Why a run gave no outcome.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the run took longer than the wall-time limit of {0:?} and was stopped")]
    WallTimeExceeded(std::time::Duration),
    #[error("the simulator panicked: {0}")]
    Panicked(String),
}

/// Runs one scenario with one seed, in a madsim runtime of its own, on a thread of its own.
///
/// The thread is the determinism guard: madsim seeds the standard library's `HashMap` keys
/// from the run's seed, but only on a thread where no `HashMap` was made before. A fresh
/// thread per run makes a seed's outcome independent of whatever ran earlier on the caller's
/// thread (a command-line parser, a previous seed of a sweep). The run itself is still one
/// thread: madsim's executor. A panic inside the run is raised again here.
pub fn run(scenario: &Scenario, seed: u64) -> RunResult {
    let never = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(format!("kafka-sim-seed-{seed}"))
            .spawn_scoped(s, || run_here(scenario, seed, never))
            .expect("spawn the run's thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            .expect("a run without a watchdog always ends with a result")
    })
}

/// Runs one scenario with one seed as [`run`] does, under `limits`, and turns a panic inside
/// the run into an error instead of raising it: a sweep goes on past a seed that fails so.
pub fn run_limited(
    scenario: &Scenario,
    seed: u64,
    limits: RunLimits,
) -> Result<RunResult, RunError> {
    let fired = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let run_fired = fired.clone();
        let runner = std::thread::Builder::new()
            .name(format!("kafka-sim-seed-{seed}"))
            .spawn_scoped(s, move || {
                let result = run_here(scenario, seed, run_fired);
                let _ = done_tx.send(());
                result
            })
            .expect("spawn the run's thread");
        if let Some(limit) = limits.wall_time_limit {
            if done_rx.recv_timeout(limit).is_err() {
                fired.store(true, Ordering::Relaxed);
            }
        }
        match runner.join() {
            Ok(Some(result)) => Ok(result),
            Ok(None) => Err(RunError::WallTimeExceeded(
                limits.wall_time_limit.unwrap_or_default(),
            )),
            Err(panic) => Err(RunError::Panicked(panic_message(&panic))),
        }
    })
}

/// The text of a panic's payload.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// One run; `None` if the watchdog stopped it.
fn run_here(scenario: &Scenario, seed: u64, watchdog_fired: Arc<AtomicBool>) -> Option<RunResult> {
    let mut config = madsim::Config::default();
    config.net.send_latency = Duration::ZERO..Duration::from_nanos(1);
    config.net.packet_loss_rate = 0.0;
    let runtime = Runtime::with_seed_and_config(seed, config);
    let scenario = Arc::new(scenario.clone());
    runtime.block_on(orchestrate(scenario, seed, watchdog_fired))
}

fn topic_configs(scenario: &Scenario) -> BTreeMap<String, kafka_model::config::TopicConfig> {
    scenario
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.config.clone()))
        .collect()
}

struct Nodes {
    zookeeper: madsim::runtime::NodeHandle,
    brokers: BTreeMap<BrokerId, madsim::runtime::NodeHandle>,
    others: BTreeMap<NodeId, madsim::runtime::NodeHandle>,
    status: BTreeMap<BrokerId, BrokerStatus>,
    zk_paused: bool,
    /// Clients paused by a fault, resumed by `resume` or the settle.
    paused_clients: BTreeSet<NodeId>,
}

impl Nodes {
    fn madsim_id(&self, node: NodeId) -> Option<madsim::task::NodeId> {
        match node {
            NodeId::ZooKeeper => Some(self.zookeeper.id()),
            NodeId::Broker(b) => self.brokers.get(&b).map(|h| h.id()),
            other => self.others.get(&other).map(|h| h.id()),
        }
    }

    fn all(&self) -> Vec<NodeId> {
        let mut all = vec![NodeId::ZooKeeper];
        all.extend(self.brokers.keys().map(|b| NodeId::Broker(*b)));
        all.extend(self.others.keys().copied());
        all
    }
}

async fn orchestrate(
    scenario: Arc<Scenario>,
    seed: u64,
    watchdog_fired: Arc<AtomicBool>,
) -> Option<RunResult> {
    let handle = Handle::current();
    let broker_ids: Vec<BrokerId> = scenario.cluster.broker_ids().to_vec();
    let (shared, mut stop_rx) = new_shared(scenario.clone(), seed, &broker_ids, watchdog_fired);
    let mut first_lives = vec![NodeId::ZooKeeper, NodeId::Admin];
    first_lives.extend(broker_ids.iter().map(|b| NodeId::Broker(*b)));
    first_lives.extend((0..scenario.producers.len()).map(|i| NodeId::Producer(i as u32)));
    first_lives.extend((0..scenario.consumers.len()).map(|i| NodeId::Consumer(i as u32)));
    open_first_mailboxes(&shared, &first_lives);
    let zookeeper = {
        let shared = shared.clone();
        handle
            .create_node()
            .name("zookeeper")
            .ip(addr_of(NodeId::ZooKeeper).ip())
            .init(move || {
                run_node::<ZooKeeper, _>(shared.clone(), NodeId::ZooKeeper, ZkSlot(shared.clone()))
            })
            .build()
    };
    let mut brokers = BTreeMap::new();
    for &b in &broker_ids {
        let shared = shared.clone();
        let node = handle
            .create_node()
            .name(format!("broker-{b}"))
            .ip(addr_of(NodeId::Broker(b)).ip())
            .init(move || {
                let shared = shared.clone();
                async move {
                    // A (re)started broker reads what its disk kept.
                    let disk = shared.disks[&b].lock().expect("disk").clone();
                    let broker = Broker::new(
                        b,
                        shared.scenario.cluster.config.clone(),
                        topic_configs(&shared.scenario),
                        disk,
                    );
                    *shared.brokers[&b].lock().expect("broker") = Some(broker);
                    run_node::<Broker, _>(
                        shared.clone(),
                        NodeId::Broker(b),
                        BrokerSlot(shared.clone(), b),
                    )
                    .await
                }
            })
            .build();
        brokers.insert(b, node);
    }
    let mut others = BTreeMap::new();
    {
        let assignments = scenario
            .topics
            .iter()
            .map(|t| {
                let a = t
                    .replicas
                    .iter()
                    .enumerate()
                    .map(|(p, r)| (p as u32, r.clone()))
                    .collect();
                (t.name.clone(), a)
            })
            .collect::<BTreeMap<_, _>>();
        let n = broker_ids.len();
        let shared = shared.clone();
        let node = handle
            .create_node()
            .name("admin")
            .ip(addr_of(NodeId::Admin).ip())
            .init(move || {
                let admin = Admin::new(n, assignments.clone(), ADMIN_WAIT_MAX_MS);
                run_node::<Admin, _>(shared.clone(), NodeId::Admin, Owned(Mutex::new(admin)))
            })
            .build();
        others.insert(NodeId::Admin, node);
    }
    for (i, p) in scenario.producers.iter().enumerate() {
        let id = NodeId::Producer(i as u32);
        let shared = shared.clone();
        let spec = p.clone();
        let bootstrap = broker_ids.clone();
        let node = handle
            .create_node()
            .name(format!("producer-{}", p.name))
            .ip(addr_of(id).ip())
            .init(move || {
                let producer = Producer::new(ProducerSettings {
                    index: i as u32,
                    name: spec.name.clone(),
                    topic: spec.topic.clone(),
                    records: spec.records,
                    rate_per_sec: spec.rate_per_sec,
                    keys: spec.keys,
                    start_ms: spec.start_ms,
                    config: spec.config.clone(),
                    bootstrap: bootstrap.clone(),
                })
                .resuming_at(Shared::now_ms());
                run_node::<Producer, _>(shared.clone(), id, Owned(Mutex::new(producer)))
            })
            .build();
        others.insert(id, node);
    }
    for (i, c) in scenario.consumers.iter().enumerate() {
        let id = NodeId::Consumer(i as u32);
        let shared = shared.clone();
        let spec = c.clone();
        let bootstrap = broker_ids.clone();
        // Clients validate positions (KIP-320) when the brokers speak 2.1 or later.
        let validate = scenario
            .cluster
            .config
            .inter_broker_protocol_version
            .uses_kip_320();
        let node = handle
            .create_node()
            .name(format!("consumer-{}", c.name))
            .ip(addr_of(id).ip())
            .init(move || {
                let mut consumer = Consumer::new(
                    i as u32,
                    spec.name.clone(),
                    spec.topics.clone(),
                    spec.start_ms,
                    spec.config.clone(),
                    bootstrap.clone(),
                )
                .with_position_validation(validate);
                if let Some(g) = &spec.group {
                    consumer = consumer.with_group(GroupSettings {
                        group_id: g.group_id.clone(),
                        client_id: spec.name.clone(),
                        commit: g.commit,
                        processing_ms: g.processing_ms,
                    });
                }
                run_node::<Consumer, _>(shared.clone(), id, Owned(Mutex::new(consumer)))
            })
            .build();
        others.insert(id, node);
    }
    let mut nodes = Nodes {
        zookeeper,
        status: broker_ids
            .iter()
            .map(|b| (*b, BrokerStatus::Running))
            .collect(),
        brokers,
        others,
        zk_paused: false,
        paused_clients: BTreeSet::new(),
    };

    let mut faults = scenario.faults.clone();
    faults.extend(crate::nemesis::schedule(&scenario, seed));
    faults.sort_by_key(|f| f.at_ms);
    let mut running = true;
    for fault in &faults {
        running = wait_until_ms(&shared, &mut stop_rx, fault.at_ms).await;
        if !running {
            break;
        }
        apply_fault(&shared, &handle, &mut nodes, &fault.action);
        send_resets(&shared, &nodes);
    }
    if running && wait_until_ms(&shared, &mut stop_rx, scenario.duration_ms).await {
        settle(&shared, &handle, &mut nodes);
        let end_ms = scenario.duration_ms + scenario.settle_ms;
        wait_until_ms(&shared, &mut stop_rx, end_ms).await;
    }

    let sim_time_ms = Shared::now_ms();
    let final_state = final_state(&shared, &scenario, &nodes);
    // Stop every node before reading the record, so nothing is appended after this point.
    for node in nodes.all() {
        if let Some(id) = nodes.madsim_id(node) {
            handle.kill(id);
        }
    }
    let livelock = match shared.stop.lock().expect("stop").clone() {
        Some(Stop::Watchdog) => return None,
        Some(Stop::Livelock(l)) => Some(l),
        None => None,
    };
    let events = std::mem::take(&mut *shared.record.lock().expect("record"));
    let faults = std::mem::take(&mut *shared.faults.lock().expect("faults"));
    let messages_sent = *shared.messages_sent.lock().expect("counter");
    Some(RunResult {
        events,
        faults,
        final_state,
        sim_time_ms,
        messages_sent,
        livelock,
    })
}

/// The state of one run that every node shares, and the orchestrator's end of the stop signal.
fn new_shared(
    scenario: Arc<Scenario>,
    seed: u64,
    broker_ids: &[BrokerId],
    watchdog_fired: Arc<AtomicBool>,
) -> (Arc<Shared>, UnboundedReceiver<()>) {
    let (stop_signal, stop_rx) = unbounded();
    let shared = Arc::new(Shared {
        scenario,
        seed,
        record: Mutex::new(Vec::new()),
        faults: Mutex::new(Vec::new()),
        net: Mutex::new(NetFaults::default()),
        brokers: broker_ids.iter().map(|b| (*b, Mutex::new(None))).collect(),
        disks: broker_ids
            .iter()
            .map(|b| (*b, Mutex::new(Disk::default())))
            .collect(),
        mailboxes: Mutex::new(BTreeMap::new()),
        zookeeper: Mutex::new(Some(ZooKeeper::with_kafka_paths())),
        messages_sent: Mutex::new(0),
        refusing: Mutex::new(BTreeSet::new()),
        closing: Mutex::new(Vec::new()),
        stop: Mutex::new(None),
        stop_signal,
        watchdog_fired,
    });
    (shared, stop_rx)
}

/// Sleeps until `at_ms` of simulated time; false if the run was stopped before.
async fn wait_until_ms(shared: &Shared, stop: &mut UnboundedReceiver<()>, at_ms: u64) -> bool {
    if shared.stopped() {
        return false;
    }
    let now = TimeHandle::current().elapsed();
    let at = Duration::from_millis(at_ms);
    if at > now {
        let sleeper = pin!(sleep(at - now));
        if let Either::Left(_) = select(stop.next(), sleeper).await {
            return false;
        }
    }
    !shared.stopped()
}

/// Reads `/brokers/topics/T/partitions/P/state` from the ZooKeeper node.
fn zk_partition_state(
    shared: &Shared,
    tp: &TopicPartition,
) -> Option<(Option<BrokerId>, i32, Vec<BrokerId>)> {
    let zk = shared.zookeeper.lock().expect("zk");
    let zk = zk.as_ref()?;
    match zk.get(&state_path(tp)) {
        Some((
            ZkData::PartitionState {
                leader,
                leader_epoch,
                isr,
                ..
            },
            _,
        )) => Some((*leader, *leader_epoch, isr.clone())),
        _ => None,
    }
}

fn current_controller(shared: &Shared) -> Option<BrokerId> {
    let zk = shared.zookeeper.lock().expect("zk");
    match zk.as_ref()?.get("/controller") {
        Some((ZkData::Controller { broker_id }, _)) => Some(*broker_id),
        _ => None,
    }
}

fn assignment(scenario: &Scenario, tp: &TopicPartition) -> Vec<BrokerId> {
    scenario
        .topics
        .iter()
        .find(|t| t.name == tp.topic)
        .and_then(|t| t.replicas.get(tp.partition as usize))
        .cloned()
        .unwrap_or_default()
}

/// Resolves a fault target to a node at the moment the fault fires.
fn resolve(shared: &Shared, target: &Target) -> Option<(NodeId, String)> {
    match target {
        Target::Broker(b) => Some((NodeId::Broker(*b), format!("broker {b}"))),
        Target::ZooKeeper => Some((NodeId::ZooKeeper, "zookeeper".into())),
        Target::Controller => current_controller(shared)
            .map(|b| (NodeId::Broker(b), format!("broker {b} (the controller)"))),
        Target::Leader(tp) => {
            let (leader, _, _) = zk_partition_state(shared, tp)?;
            leader.map(|b| (NodeId::Broker(b), format!("broker {b} (leader of {tp})")))
        }
        Target::Follower(tp) => {
            let (leader, _, _) = zk_partition_state(shared, tp)?;
            assignment(&shared.scenario, tp)
                .into_iter()
                .find(|r| Some(*r) != leader)
                .map(|b| (NodeId::Broker(b), format!("broker {b} (follower of {tp})")))
        }
        Target::Producer(name) => {
            let i = shared
                .scenario
                .producers
                .iter()
                .position(|p| &p.name == name)?;
            Some((NodeId::Producer(i as u32), format!("producer {name}")))
        }
        Target::Consumer(name) => {
            let i = shared
                .scenario
                .consumers
                .iter()
                .position(|c| &c.name == name)?;
            Some((NodeId::Consumer(i as u32), format!("consumer {name}")))
        }
        Target::Coordinator(group) => {
            let tp = offsets_tp_for(&shared.scenario, group);
            let (leader, _, _) = zk_partition_state(shared, &tp)?;
            leader.map(|b| {
                (
                    NodeId::Broker(b),
                    format!("broker {b} (coordinator of group {group}, leader of {tp})"),
                )
            })
        }
    }
}

/// The `__consumer_offsets` partition of a group.
fn offsets_tp_for(scenario: &Scenario, group: &str) -> TopicPartition {
    let n = scenario.cluster.config.offsets_topic_num_partitions;
    TopicPartition::new(OFFSETS_TOPIC, offsets_partition_for(group, n))
}

fn apply_fault(shared: &Arc<Shared>, handle: &Handle, nodes: &mut Nodes, action: &FaultAction) {
    let name = action.name();
    let single = |t: &Target| resolve(shared, t);
    match action {
        FaultAction::Crash(t) | FaultAction::PowerLoss(t) => {
            let Some((node, desc)) = single(t) else {
                shared.record_fault(
                    name,
                    format!("{t}: no such node right now, nothing happened"),
                );
                return;
            };
            let power_loss = matches!(action, FaultAction::PowerLoss(_));
            crash(shared, handle, nodes, node, power_loss);
            shared.record_fault(name, desc);
        }
        FaultAction::Restart(t) => {
            let Some((node, desc)) = single(t) else {
                return;
            };
            restart(shared, handle, nodes, node);
            shared.record_fault(name, desc);
        }
        FaultAction::Pause(t) => {
            let Some((node, desc)) = single(t) else {
                return;
            };
            if let Some(id) = nodes.madsim_id(node) {
                handle.pause(id);
            }
            match node {
                NodeId::Broker(b) => {
                    nodes.status.insert(b, BrokerStatus::Paused);
                }
                NodeId::ZooKeeper => nodes.zk_paused = true,
                client => {
                    nodes.paused_clients.insert(client);
                }
            }
            shared.record_fault(name, desc);
        }
        FaultAction::Resume(t) => {
            let Some((node, desc)) = single(t) else {
                return;
            };
            resume(handle, nodes, node);
            shared.record_fault(name, desc);
        }
        FaultAction::Isolate(t) => {
            let Some((node, desc)) = single(t) else {
                return;
            };
            shared.net.lock().expect("net").isolated.insert(node);
            shared.record_fault(name, desc);
        }
        FaultAction::Partition(groups) => {
            let resolved: Vec<Vec<NodeId>> = groups
                .iter()
                .map(|g| g.iter().filter_map(|t| single(t).map(|(n, _)| n)).collect())
                .collect();
            let desc = resolved
                .iter()
                .map(|g| {
                    format!(
                        "[{}]",
                        g.iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join(" | ");
            shared.net.lock().expect("net").partitions.push(resolved);
            shared.record_fault(name, desc);
        }
        FaultAction::Heal(t) => {
            let target = t.as_ref().and_then(single);
            shared
                .net
                .lock()
                .expect("net")
                .heal(target.as_ref().map(|(n, _)| *n));
            let desc = target.map_or("every network fault".to_string(), |(_, d)| d);
            shared.record_fault(name, desc);
        }
        FaultAction::Slow { target, delay_ms } => {
            let Some((node, desc)) = single(target) else {
                return;
            };
            shared
                .net
                .lock()
                .expect("net")
                .slow_ms
                .insert(node, *delay_ms);
            shared.record_fault(
                name,
                format!("{desc}: +{delay_ms} ms on every message to and from it"),
            );
        }
        FaultAction::Loss { target, rate } => {
            let Some((node, desc)) = single(target) else {
                return;
            };
            shared.net.lock().expect("net").loss.insert(node, *rate);
            shared.record_fault(
                name,
                format!("{desc}: {:.0}% of its messages lost", rate * 100.0),
            );
        }
    }
}

fn crash(shared: &Arc<Shared>, handle: &Handle, nodes: &mut Nodes, node: NodeId, power_loss: bool) {
    let Some(id) = nodes.madsim_id(node) else {
        return;
    };
    handle.kill(id);
    let NodeId::Broker(b) = node else {
        if node == NodeId::ZooKeeper {
            nodes.zk_paused = false;
        } else {
            nodes.paused_clients.remove(&node);
            shared.record_events(vec![Event::ClientCrashed { node }]);
        }
        return;
    };
    nodes.status.insert(b, BrokerStatus::Crashed);
    if power_loss {
        shared.refusing.lock().expect("refusing").remove(&node);
    } else {
        shared.refusing.lock().expect("refusing").insert(node);
        shared.closing.lock().expect("closing").push(node);
    }
    let taken = shared.brokers[&b].lock().expect("broker").take();
    let mut disk = shared.disks[&b].lock().expect("disk");
    if let Some(broker) = taken {
        *disk = broker.into_disk();
    }
    if power_loss {
        let lost = disk.lose_unflushed();
        let events = lost
            .into_iter()
            .map(|(tp, before, after)| Event::Truncated {
                broker: b,
                tp,
                from_log_end_offset: before,
                to_offset: after,
                reason: TruncateReason::PowerLoss {
                    flushed_offset: after,
                },
            })
            .collect();
        shared.record_events(events);
    }
}

fn restart(shared: &Shared, handle: &Handle, nodes: &mut Nodes, node: NodeId) {
    let Some(id) = nodes.madsim_id(node) else {
        return;
    };
    if let NodeId::Broker(b) = node {
        match nodes.status[&b] {
            BrokerStatus::Crashed => {
                shared.refusing.lock().expect("refusing").remove(&node);
                handle.restart(id);
                nodes.status.insert(b, BrokerStatus::Running);
            }
            BrokerStatus::Paused => resume(handle, nodes, node),
            BrokerStatus::Running => {}
        }
    } else {
        handle.restart(id);
    }
}

fn resume(handle: &Handle, nodes: &mut Nodes, node: NodeId) {
    let Some(id) = nodes.madsim_id(node) else {
        return;
    };
    match node {
        NodeId::Broker(b) if nodes.status[&b] == BrokerStatus::Paused => {
            handle.resume(id);
            nodes.status.insert(b, BrokerStatus::Running);
        }
        NodeId::ZooKeeper if nodes.zk_paused => {
            handle.resume(id);
            nodes.zk_paused = false;
        }
        client if nodes.paused_clients.remove(&client) => handle.resume(id),
        _ => {}
    }
}

/// The final settle: heal every network fault, resume every paused node, restart every
/// crashed broker.
fn settle(shared: &Arc<Shared>, handle: &Handle, nodes: &mut Nodes) {
    shared.net.lock().expect("net").heal(None);
    if nodes.zk_paused {
        resume(handle, nodes, NodeId::ZooKeeper);
    }
    // Paused clients resume; crashed clients stay down (a scenario restarts them itself).
    let paused: Vec<NodeId> = nodes.paused_clients.iter().copied().collect();
    for client in paused {
        resume(handle, nodes, client);
    }
    let ids: Vec<BrokerId> = nodes.status.keys().copied().collect();
    let mut restarted = Vec::new();
    for b in ids {
        if nodes.status[&b] != BrokerStatus::Running {
            restart(shared, handle, nodes, NodeId::Broker(b));
            restarted.push(b);
        }
    }
    let detail = if restarted.is_empty() {
        "healed every fault; every broker was up".to_string()
    } else {
        format!(
            "healed every fault and restarted broker(s) {}",
            restarted
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    shared.record_fault("settle", detail);
}

/// The replica assignment of `__consumer_offsets`, once a broker created it.
fn offsets_topic_assignment(shared: &Shared) -> Vec<Vec<BrokerId>> {
    let zk = shared.zookeeper.lock().expect("zk");
    match zk
        .as_ref()
        .and_then(|zk| zk.get(&format!("/brokers/topics/{OFFSETS_TOPIC}")))
    {
        Some((ZkData::TopicAssignment(a), _)) => a.values().cloned().collect(),
        _ => Vec::new(),
    }
}

fn final_state(shared: &Shared, scenario: &Scenario, nodes: &Nodes) -> FinalState {
    let mut partitions = Vec::new();
    let mut topics: Vec<(String, Vec<Vec<BrokerId>>)> = scenario
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.replicas.clone()))
        .collect();
    let offsets = offsets_topic_assignment(shared);
    if !offsets.is_empty() {
        topics.push((OFFSETS_TOPIC.to_string(), offsets));
    }
    for (topic, assignment) in &topics {
        for (p, replicas) in assignment.iter().enumerate() {
            let tp = TopicPartition::new(topic.clone(), p as u32);
            let (leader, leader_epoch, isr) =
                zk_partition_state(shared, &tp).unwrap_or((None, -1, Vec::new()));
            let replica_states = replicas
                .iter()
                .map(|&b| final_replica(shared, nodes, b, &tp))
                .collect();
            partitions.push(FinalPartition {
                tp,
                leader,
                leader_epoch,
                isr,
                replicas: replicas.clone(),
                replica_states,
            });
        }
    }
    let groups = final_groups(shared, scenario, nodes);
    FinalState { partitions, groups }
}

fn final_groups(shared: &Shared, scenario: &Scenario, nodes: &Nodes) -> Vec<FinalGroup> {
    let ids: BTreeSet<&str> = scenario
        .consumers
        .iter()
        .filter_map(|c| c.group.as_ref().map(|g| g.group_id.as_str()))
        .collect();
    let mut groups = Vec::new();
    for id in ids {
        let tp = offsets_tp_for(scenario, id);
        let coordinator = zk_partition_state(shared, &tp).and_then(|(leader, _, _)| leader);
        let mut group = FinalGroup {
            group: id.to_string(),
            coordinator,
            state: None,
            generation: -1,
            protocol: None,
            members: Vec::new(),
            offsets: Vec::new(),
        };
        let online =
            coordinator.is_some_and(|b| nodes.status.get(&b) == Some(&BrokerStatus::Running));
        if let (Some(b), true) = (coordinator, online) {
            let guard = shared.brokers[&b].lock().expect("broker");
            if let Some(g) = guard
                .as_ref()
                .and_then(|broker| broker.coordinator().groups().get(id))
            {
                group.state = Some(g.state.name().to_string());
                group.generation = g.generation;
                group.protocol = g.protocol.map(|p| p.name().to_string());
                group.members = g
                    .members
                    .values()
                    .map(|m| (m.member_id.clone(), m.assignment.clone()))
                    .collect();
                group.offsets = g.offsets.iter().map(|(tp, o)| (tp.clone(), *o)).collect();
            }
        }
        groups.push(group);
    }
    groups
}

fn final_replica(shared: &Shared, nodes: &Nodes, b: BrokerId, tp: &TopicPartition) -> FinalReplica {
    let online = nodes.status.get(&b) == Some(&BrokerStatus::Running);
    let guard = shared.brokers[&b].lock().expect("broker");
    let disk_guard;
    let (disk, hw, role) = match guard.as_ref() {
        Some(broker) => (
            broker.disk(),
            broker.high_watermark(tp),
            broker.partition_role(tp),
        ),
        None => {
            disk_guard = shared.disks[&b].lock().expect("disk");
            let hw = disk_guard.hw_checkpoint.get(tp).copied().unwrap_or(0);
            (&*disk_guard, hw, None)
        }
    };
    let (log, log_start_offset, log_end_offset) = match disk.logs.get(tp) {
        Some(log) => (
            log.records()
                .iter()
                .map(|r| (r.offset, r.id, r.leader_epoch))
                .collect(),
            log.log_start_offset(),
            log.log_end_offset(),
        ),
        None => (Vec::new(), 0, 0),
    };
    let (leader_epoch, is_leader) = role.unwrap_or((-1, false));
    FinalReplica {
        broker: b,
        log,
        log_start_offset,
        log_end_offset,
        high_watermark: hw,
        leader_epoch,
        is_leader,
        online: online && guard.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest};

    fn envelope(from: NodeId, incarnation: u64, deliver_at_ns: u64, peer: NodeId) -> Envelope {
        Envelope {
            from,
            incarnation,
            to_incarnation: 1,
            deliver_at_ns,
            message: Message::Disconnected { peer },
        }
    }

    fn receiver() -> (Receiver, UnboundedSender<Envelope>) {
        let (sender, mailbox) = unbounded();
        let receiver = Receiver {
            incarnation: 1,
            mailbox,
            senders: BTreeMap::new(),
            arrivals: 0,
        };
        (receiver, sender)
    }

    /// The order the inbox hands messages over in: (sender, the marker each carried).
    fn handed_over(inbox: &Inbox) -> Vec<(NodeId, NodeId)> {
        inbox
            .values()
            .map(|(from, _, m)| match m {
                Message::Disconnected { peer } => (*from, *peer),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_link_delivers_in_the_order_it_sent_and_ties_go_by_arrival() {
        let (mut r, _s) = receiver();
        let mut inbox = Inbox::new();
        let (a, b) = (NodeId::Broker(0), NodeId::Broker(1));
        r.accept(envelope(a, 1, 100, NodeId::Producer(1)), &mut inbox);
        r.accept(envelope(b, 1, 100, NodeId::Producer(2)), &mut inbox);
        r.accept(envelope(a, 1, 101, NodeId::Producer(3)), &mut inbox);
        r.accept(envelope(b, 1, 50, NodeId::Producer(4)), &mut inbox);
        assert_eq!(
            handed_over(&inbox),
            vec![
                (b, NodeId::Producer(4)),
                (a, NodeId::Producer(1)),
                (b, NodeId::Producer(2)),
                (a, NodeId::Producer(3)),
            ]
        );
    }

    #[test]
    fn a_restarted_sender_resets_its_old_connection() {
        let (mut r, _s) = receiver();
        let mut inbox = Inbox::new();
        let (a, b) = (NodeId::Broker(0), NodeId::Broker(1));
        r.accept(envelope(a, 1, 100, NodeId::Producer(1)), &mut inbox);
        r.accept(envelope(b, 1, 120, NodeId::Producer(2)), &mut inbox);
        r.accept(envelope(a, 2, 90, NodeId::Producer(3)), &mut inbox);
        // A late message of the old life is dropped too.
        r.accept(envelope(a, 1, 130, NodeId::Producer(4)), &mut inbox);
        assert_eq!(
            handed_over(&inbox),
            vec![(a, NodeId::Producer(3)), (b, NodeId::Producer(2))]
        );
    }

    #[test]
    fn a_message_to_a_previous_life_is_never_delivered() {
        let (mut r, _s) = receiver();
        let mut inbox = Inbox::new();
        let mut old = envelope(NodeId::Broker(0), 1, 100, NodeId::Producer(1));
        old.to_incarnation = 0;
        r.accept(old, &mut inbox);
        assert!(inbox.is_empty());
    }

    #[test]
    fn the_mailbox_is_drained_whole_and_reports_when_it_closes() {
        let (mut r, s) = receiver();
        let mut inbox = Inbox::new();
        for i in 0..3 {
            s.unbounded_send(envelope(
                NodeId::Broker(0),
                1,
                100 + i,
                NodeId::Producer(i as u32),
            ))
            .unwrap();
        }
        assert!(r.drain(&mut inbox));
        assert_eq!(inbox.len(), 3);
        drop(s);
        assert!(!r.drain(&mut inbox), "a closed mailbox ends this life");
    }

    #[test]
    fn next_step_prefers_a_message_due_with_a_timer_and_never_sleeps_until_now() {
        let mut inbox = Inbox::new();
        inbox.insert(
            (10, 1),
            (
                NodeId::Broker(0),
                1,
                Message::Disconnected {
                    peer: NodeId::Admin,
                },
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
