//! The simulated world: every Kafka process on its own madsim node, the network between
//! them, the faults, and the recorder.
//!
//! Each process is a state machine from `kafka-model`; a small loop per node feeds it the
//! messages that arrive and the timers it set, and sends what it asks to send. Messages cross
//! madsim's network as Rust values. The world adds what Kafka's transport and a real data
//! centre add on top of madsim's datagrams:
//! - per-link FIFO order (Kafka runs over TCP): each message carries the time it may be
//!   delivered, never earlier than the previous message on the same link;
//! - latency drawn from the scenario's range, extra delay on slowed links, loss on lossy ones,
//!   all drawn from a `ChaCha8Rng` per node seeded from the run's seed;
//! - partitions and isolation as TCP lives through them: a message on a cut link waits and
//!   arrives when the link heals (a lossy link delays messages by retransmissions). madsim's
//!   `clog_link` drops datagrams instead, which no Kafka or ZooKeeper connection would do,
//!   so the world keeps the cut links itself;
//! - disks that outlive processes: a crash keeps the page cache, a power loss keeps only what
//!   was flushed.
//!
//! The orchestrator (the run's main task) applies the scenario's faults at their times,
//! then heals everything, restarts every broker, lets the cluster settle, and reads the final
//! state. Everything reported comes from the event record and that final state.

use crate::record::*;
use crate::scenario::{FaultAction, Scenario, Target};
use futures::future::{select, Either};
use kafka_model::admin::Admin;
use kafka_model::broker::{Broker, Disk};
use kafka_model::consumer::{Consumer, GroupSettings};
use kafka_model::controller::state_path;
use kafka_model::event::TruncateReason;
use kafka_model::producer::Producer;
use kafka_model::protocol::ZkData;
use kafka_model::zookeeper::ZooKeeper;
use kafka_model::{
    offsets_partition_for, Actor, BrokerId, Event, Message, NodeId, Output, TopicPartition,
    OFFSETS_TOPIC,
};
use madsim::net::Endpoint;
use madsim::runtime::{Handle, Runtime};
use madsim::time::{sleep, Duration, TimeHandle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::sync::{Arc, Mutex};

const PORT: u16 = 9092;
const TAG: u64 = 0x6b61666b61;
/// The least one-way delay of a message: madsim's own transport takes a few microseconds,
/// and a delivery time must lie beyond it for per-link order to hold.
const MIN_LATENCY_NS: u64 = 50_000;
/// How long the admin client waits for every broker before it creates the topics anyway.
const ADMIN_WAIT_MAX_MS: u64 = 5_000;

/// A message in flight.
struct Envelope {
    from: NodeId,
    /// The sender's incarnation (restarts), the receiver's incarnation the sender addressed,
    /// and the message's number on that link: the receiver restores each link's order from
    /// these. A link starts over at 1 whenever either end restarts, like a new connection.
    incarnation: u64,
    to_incarnation: u64,
    seq: u64,
    deliver_at_ns: u64,
    message: Message,
    /// A connection reset from the operating system of a crashed process, not a message on
    /// the link: it skips the link's sequence numbers.
    reset: bool,
}

/// How long a receiver holds later messages of a link back while an earlier one is missing
/// before it gives up on it. Every drop is decided before a message gets its number, so a
/// missing message is only ever late: madsim's mailbox hands queued messages over in no
/// particular order and can keep one waiting for milliseconds under load. This bound is a
/// safety valve, never reached in practice (the run reports how often it was).
const GAP_HOLD_NS: u64 = 1_000_000_000;

/// How often a node looks again at messages held on a cut link.
const HELD_RECHECK_NS: u64 = 10_000_000;

/// The first message that may be handled now: due, and on a link the network does not cut,
/// with no earlier message of its sender still held. Also says whether any due message is
/// held.
fn next_deliverable(
    shared: &Shared,
    me: NodeId,
    inbox: &BTreeMap<(u64, u64), (NodeId, Message)>,
    now_ns: u64,
) -> (Option<(u64, u64)>, bool) {
    let net = shared.net.lock().expect("net");
    let mut held_senders: BTreeSet<NodeId> = BTreeSet::new();
    for (key, (from, _)) in inbox.range(..=(now_ns, u64::MAX)) {
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

/// Restores per-link order. madsim's mailbox may hand over queued messages out of order,
/// and Kafka's protocols rely on TCP's order (ZooKeeper requests of one session, produce
/// requests of one connection), so every link carries sequence numbers and a message waits
/// for its predecessors.
#[derive(Default)]
struct Reorder {
    /// Per sender: its incarnation and the next sequence number expected.
    links: BTreeMap<NodeId, (u64, u64)>,
    /// Messages waiting for a predecessor, with the time each arrived.
    held: BTreeMap<(NodeId, u64), (Envelope, u64)>,
    /// Gaps given up on; with every drop decided before a sequence number is given, this
    /// stays 0 unless madsim itself lost a message.
    gaps_skipped: u64,
}

impl Reorder {
    fn accept(&mut self, me_incarnation: u64, env: Envelope) {
        if env.to_incarnation != me_incarnation {
            return; // sent to a previous life of this node
        }
        let link = self.links.entry(env.from).or_insert((env.incarnation, 1));
        if env.incarnation > link.0 {
            *link = (env.incarnation, 1);
            let from = env.from;
            self.held.retain(|(f, _), _| *f != from);
        } else if env.incarnation < link.0 || env.seq < link.1 {
            return; // from a previous life of the sender, or already passed
        }
        self.held
            .insert((env.from, env.seq), (env, Shared::now_ns()));
    }

    /// Moves every message whose predecessors have all arrived to `ready`, in link order; a
    /// gap older than [`GAP_HOLD_NS`] is skipped.
    fn release(&mut self, now_ns: u64, ready: &mut Vec<Envelope>) {
        let senders: BTreeSet<NodeId> = self.held.keys().map(|(f, _)| *f).collect();
        for from in senders {
            loop {
                let next = self.links[&from].1;
                if let Some((env, _)) = self.held.remove(&(from, next)) {
                    self.links.get_mut(&from).expect("link").1 = next + 1;
                    ready.push(env);
                    continue;
                }
                let first = self.held.range((from, next)..(from, u64::MAX)).next();
                match first {
                    Some(((_, seq), (_, arrived_ns))) if arrived_ns + GAP_HOLD_NS <= now_ns => {
                        let seq = *seq;
                        self.gaps_skipped += 1;
                        self.links.get_mut(&from).expect("link").1 = seq;
                    }
                    _ => break,
                }
            }
        }
    }

    /// When a held-back gap will be given up on.
    fn next_deadline(&self) -> Option<u64> {
        self.held
            .values()
            .map(|(_, arrived_ns)| arrived_ns + GAP_HOLD_NS)
            .min()
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
    /// Incarnation per node, so a restarted node's random draws differ from the last life.
    incarnations: Mutex<BTreeMap<NodeId, u64>>,
    zookeeper: Mutex<Option<ZooKeeper>>,
    messages_sent: Mutex<u64>,
    gaps_skipped: Mutex<u64>,
    /// Brokers whose process crashed while their host stayed up: a client's connection to
    /// one is refused. (A power loss takes the host down too: connections time out.)
    refusing: Mutex<BTreeSet<NodeId>>,
    /// Connections to close: (the crashed broker, each client to tell), sent by the
    /// orchestrator right after the fault.
    closing: Mutex<Vec<NodeId>>,
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
}

/// A process's address: `fd00::K:H:L`, with K the kind of process and H:L the 32 bits of its
/// broker id or client index, so every broker id Kafka allows (0 to `i32::MAX`) and every
/// client index has an address of its own. (The orchestrator's IPv4 address lies outside.)
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

/// The loop of one node: timers and messages in, messages and events out.
async fn run_node<A: Actor, S: Slot<A>>(shared: Arc<Shared>, me: NodeId, slot: S) {
    let incarnation = {
        let mut inc = shared.incarnations.lock().expect("incarnations");
        let n = inc.entry(me).or_insert(0);
        *n += 1;
        *n
    };
    let ep = Endpoint::bind(addr_of(me))
        .await
        .expect("bind the node's address");
    let mut rng = ChaCha8Rng::seed_from_u64(node_seed(shared.seed, me, incarnation));
    let mut links = Links {
        incarnation,
        last_delivery_ns: BTreeMap::new(),
        next_seq: BTreeMap::new(),
    };
    let mut reorder = Reorder::default();
    let mut ready = Vec::new();
    let mut timers: BTreeMap<(u64, u64), A::Timer> = BTreeMap::new();
    let mut inbox: BTreeMap<(u64, u64), (NodeId, Message)> = BTreeMap::new();
    let mut seq: u64 = 0;

    let mut out = Output::default();
    if slot.with(|a| a.start(Shared::now_ms(), &mut out)).is_none() {
        return;
    }
    // One receive is kept pending across loop turns (never dropped half-way, so no message
    // is lost); `Reorder` puts back the order madsim's mailbox may shuffle.
    let mut recv = receive(ep.clone());
    loop {
        let refused = flush_output(
            &shared,
            &ep,
            me,
            &mut rng,
            &mut links,
            &mut timers,
            &mut seq,
            &mut out,
        )
        .await;
        for (peer, at_ns) in refused {
            seq += 1;
            inbox.insert((at_ns, seq), (peer, Message::Disconnected { peer }));
        }
        let now_ns = Shared::now_ns();
        reorder.release(now_ns, &mut ready);
        if reorder.gaps_skipped > 0 {
            *shared.gaps_skipped.lock().expect("gaps") += std::mem::take(&mut reorder.gaps_skipped);
        }
        for env in ready.drain(..) {
            seq += 1;
            inbox.insert((env.deliver_at_ns, seq), (env.from, env.message));
        }
        let next_ns = [
            timers.keys().next().map(|(t, _)| *t),
            inbox.keys().next().map(|(t, _)| *t),
            reorder.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        // A message on a link the network cuts waits, as TCP retransmits through a partition:
        // it arrives once the link heals. Later messages of that link wait behind it.
        let (deliverable, held) = next_deliverable(&shared, me, &inbox, now_ns);
        let next_ns = match (deliverable, held) {
            (Some(_), _) => Some(now_ns),
            (None, true) => [
                next_ns.filter(|t| *t > now_ns),
                Some(now_ns + HELD_RECHECK_NS),
            ]
            .into_iter()
            .flatten()
            .min(),
            (None, false) => next_ns,
        };
        let timer_due = timers.keys().next().is_some_and(|(t, _)| *t <= now_ns);
        if deliverable.is_some() || timer_due || next_ns.is_some_and(|t| t <= now_ns) {
            let now_ms = Shared::now_ms();
            let message_first = match (deliverable, timers.keys().next()) {
                (Some((t, _)), Some((tt, _))) => t <= *tt,
                (Some(_), None) => true,
                _ => false,
            };
            if message_first {
                let key = deliverable.expect("a deliverable message");
                let (from, message) = inbox.remove(&key).expect("present");
                tracing::trace!(%from, to = %me, kind = message.kind(), "deliver");
                if slot
                    .with(|a| a.on_message(now_ms, from, message, &mut out))
                    .is_none()
                {
                    return;
                }
            } else if timer_due {
                let key = *timers.keys().next().expect("a due timer");
                let timer = timers.remove(&key).expect("present");
                if slot.with(|a| a.on_timer(now_ms, timer, &mut out)).is_none() {
                    return;
                }
            } else {
                // Only a gap deadline is due: the next turn releases it.
                reorder.release(Shared::now_ns(), &mut ready);
            }
            continue;
        }
        let wait = match next_ns {
            Some(t) => Duration::from_nanos(t - now_ns),
            None => Duration::from_secs(3600),
        };
        let sleeper = pin!(sleep(wait));
        match select(recv.as_mut(), sleeper).await {
            Either::Left((Ok((payload, _)), _)) => {
                recv = receive(ep.clone());
                if let Ok(envelope) = payload.downcast::<Envelope>() {
                    if envelope.reset {
                        if envelope.to_incarnation == incarnation {
                            seq += 1;
                            inbox.insert(
                                (envelope.deliver_at_ns, seq),
                                (envelope.from, envelope.message),
                            );
                        }
                    } else {
                        reorder.accept(incarnation, *envelope);
                    }
                }
            }
            Either::Left((Err(_), _)) => return,
            Either::Right(_) => {}
        }
    }
}

type Received = std::io::Result<(madsim::net::Payload, SocketAddr)>;

fn receive(ep: Endpoint) -> std::pin::Pin<Box<dyn std::future::Future<Output = Received> + Send>> {
    Box::pin(async move { ep.recv_from_raw(TAG).await })
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

/// A node's outgoing links: its incarnation, each link's last delivery time (for FIFO
/// delivery times) and next sequence number.
struct Links {
    incarnation: u64,
    last_delivery_ns: BTreeMap<NodeId, u64>,
    /// Per receiver and its incarnation: the last sequence number used.
    next_seq: BTreeMap<NodeId, (u64, u64)>,
}

#[allow(clippy::too_many_arguments)]
async fn flush_output<T>(
    shared: &Shared,
    ep: &Endpoint,
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
    let messages = std::mem::take(&mut out.messages);
    let network = &shared.scenario.network;
    let mut sends = Vec::with_capacity(messages.len());
    {
        let net = shared.net.lock().expect("net");
        let incarnations = shared.incarnations.lock().expect("incarnations");
        let refusing = shared.refusing.lock().expect("refusing");
        for (to, message) in messages {
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
            let earliest =
                now_ns + (latency_us * 1_000).max(MIN_LATENCY_NS) + extra_ns + retransmit_ns;
            let last = links.last_delivery_ns.entry(to).or_insert(0);
            let deliver_at_ns = earliest.max(*last + 1);
            *last = deliver_at_ns;
            let to_incarnation = incarnations.get(&to).copied().unwrap_or(0);
            let link = links.next_seq.entry(to).or_insert((to_incarnation, 0));
            if link.0 != to_incarnation {
                *link = (to_incarnation, 0);
            }
            link.1 += 1;
            sends.push((to, to_incarnation, link.1, deliver_at_ns, message));
        }
    }
    *shared.messages_sent.lock().expect("counter") += sends.len() as u64;
    for (to, to_incarnation, seq, deliver_at_ns, message) in sends {
        let envelope = Envelope {
            from: me,
            incarnation: links.incarnation,
            to_incarnation,
            seq,
            deliver_at_ns,
            message,
            reset: false,
        };
        // A send to a node that is down fails; the message is simply lost.
        let _ = ep.send_to_raw(addr_of(to), TAG, Box::new(envelope)).await;
    }
    refused
}

/// The operating system of a crashed broker resets its connections: every client hears
/// (after the latency of the link, and after whatever the broker sent before) that its
/// requests to that broker will not be answered.
async fn send_resets(shared: &Shared, ep: &Endpoint, nodes: &Nodes) {
    let crashed: Vec<NodeId> = std::mem::take(&mut *shared.closing.lock().expect("closing"));
    if crashed.is_empty() {
        return;
    }
    let network = &shared.scenario.network;
    let now_ns = Shared::now_ns();
    let mut sends = Vec::new();
    {
        let net = shared.net.lock().expect("net");
        let incarnations = shared.incarnations.lock().expect("incarnations");
        for from in crashed {
            for client in nodes.others.keys() {
                if !matches!(client, NodeId::Producer(_) | NodeId::Consumer(_)) {
                    continue;
                }
                let deliver_at_ns = now_ns
                    + (network.latency_max_us * 1_000).max(MIN_LATENCY_NS)
                    + net.extra_delay_ms(from, *client) * 1_000_000;
                let envelope = Envelope {
                    from,
                    incarnation: 0,
                    to_incarnation: incarnations.get(client).copied().unwrap_or(0),
                    seq: 0,
                    deliver_at_ns,
                    message: Message::Disconnected { peer: from },
                    reset: true,
                };
                sends.push((*client, envelope));
            }
        }
    }
    for (to, envelope) in sends {
        let _ = ep.send_to_raw(addr_of(to), TAG, Box::new(envelope)).await;
    }
}

/// The orchestrator's own address, from which it delivers the connection resets of crashed
/// brokers (madsim routes messages only between nodes with an address).
async fn bind_orchestrator() -> Endpoint {
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 9, 1));
    madsim::net::NetSim::current().set_ip(madsim::plugin::node(), ip);
    Endpoint::bind(SocketAddr::new(ip, PORT))
        .await
        .expect("bind the orchestrator's address")
}

/// The outcome of one run, before it is checked and reported.
pub struct RunResult {
    pub events: Vec<RecordedEvent>,
    pub faults: Vec<FaultRecord>,
    pub final_state: FinalState,
    pub sim_time_ms: u64,
    pub messages_sent: u64,
    /// Messages a receiver gave up waiting for (0 in a healthy world; see `Reorder`).
    pub gaps_skipped: u64,
}

/// Runs one scenario with one seed, in a madsim runtime of its own, on a thread of its own.
///
/// The thread is the determinism guard: madsim seeds the standard library's `HashMap` keys
/// from the run's seed, but only on a thread where no `HashMap` was made before. A fresh
/// thread per run makes a seed's outcome independent of whatever ran earlier on the caller's
/// thread (a command-line parser, a previous seed of a sweep). The run itself is still one
/// thread: madsim's executor.
pub fn run(scenario: &Scenario, seed: u64) -> RunResult {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(format!("kafka-sim-seed-{seed}"))
            .spawn_scoped(s, || run_here(scenario, seed))
            .expect("spawn the run's thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn run_here(scenario: &Scenario, seed: u64) -> RunResult {
    let mut config = madsim::Config::default();
    config.net.send_latency = Duration::ZERO..Duration::from_nanos(1);
    config.net.packet_loss_rate = 0.0;
    let runtime = Runtime::with_seed_and_config(seed, config);
    let scenario = Arc::new(scenario.clone());
    runtime.block_on(orchestrate(scenario, seed))
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

async fn orchestrate(scenario: Arc<Scenario>, seed: u64) -> RunResult {
    let handle = Handle::current();
    let broker_ids: Vec<BrokerId> = scenario.cluster.broker_ids().to_vec();
    let shared = Arc::new(Shared {
        scenario: scenario.clone(),
        seed,
        record: Mutex::new(Vec::new()),
        faults: Mutex::new(Vec::new()),
        net: Mutex::new(NetFaults::default()),
        brokers: broker_ids.iter().map(|b| (*b, Mutex::new(None))).collect(),
        disks: broker_ids
            .iter()
            .map(|b| (*b, Mutex::new(Disk::default())))
            .collect(),
        incarnations: Mutex::new(BTreeMap::new()),
        zookeeper: Mutex::new(Some(ZooKeeper::with_kafka_paths())),
        messages_sent: Mutex::new(0),
        gaps_skipped: Mutex::new(0),
        refusing: Mutex::new(BTreeSet::new()),
        closing: Mutex::new(Vec::new()),
    });

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
                let producer = Producer::new(
                    i as u32,
                    spec.name.clone(),
                    spec.topic.clone(),
                    spec.records,
                    spec.rate_per_sec,
                    spec.keys,
                    spec.start_ms,
                    spec.config.clone(),
                    bootstrap.clone(),
                )
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

    // Bound at the first broker crash: binding yields to madsim's scheduler, and a run
    // without crashes must schedule exactly as before.
    let mut resets: Option<Endpoint> = None;
    let mut faults = scenario.faults.clone();
    faults.extend(crate::nemesis::schedule(&scenario, seed));
    faults.sort_by_key(|f| f.at_ms);
    for fault in &faults {
        sleep_until_ms(fault.at_ms).await;
        apply_fault(&shared, &handle, &mut nodes, &fault.action);
        if !shared.closing.lock().expect("closing").is_empty() {
            if resets.is_none() {
                resets = Some(bind_orchestrator().await);
            }
            send_resets(&shared, resets.as_ref().expect("bound"), &nodes).await;
        }
    }
    sleep_until_ms(scenario.duration_ms).await;
    settle(&shared, &handle, &mut nodes);
    sleep_until_ms(scenario.duration_ms + scenario.settle_ms).await;

    let sim_time_ms = Shared::now_ms();
    let final_state = final_state(&shared, &scenario, &nodes);
    // Stop every node before reading the record, so nothing is appended after this point.
    for node in nodes.all() {
        if let Some(id) = nodes.madsim_id(node) {
            handle.kill(id);
        }
    }
    let events = std::mem::take(&mut *shared.record.lock().expect("record"));
    let faults = std::mem::take(&mut *shared.faults.lock().expect("faults"));
    let messages_sent = *shared.messages_sent.lock().expect("counter");
    let gaps_skipped = *shared.gaps_skipped.lock().expect("gaps");
    RunResult {
        gaps_skipped,
        events,
        faults,
        final_state,
        sim_time_ms,
        messages_sent,
    }
}

async fn sleep_until_ms(at_ms: u64) {
    let now = TimeHandle::current().elapsed();
    let at = Duration::from_millis(at_ms);
    if at > now {
        sleep(at - now).await;
    }
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
