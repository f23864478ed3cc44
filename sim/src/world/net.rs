//! The network between the nodes: links, their order and latency, partitions and loss, and
//! each node's mailbox and inbox.
//!
//! Kafka runs over TCP, and madsim's datagram mailbox does not behave like TCP (it hands
//! queued datagrams over in no fixed order and, under load, can starve one for as long as
//! others keep arriving), so the links are the world's own:
//! - a message goes straight into the receiver's mailbox with the time it may be delivered,
//!   never earlier than the previous message on the same connection, so each connection is
//!   FIFO by construction, as a TCP connection is. A link has one connection at a time; a
//!   client that closes it (a request past `request.timeout.ms`) sends on a new one, and a
//!   request stalled on the old one may then arrive after its own retry;
//! - latency drawn from the scenario's range, extra delay on slowed links, retransmission
//!   delay on lossy ones, all drawn for each message from a `ChaCha8Rng` keyed by the run's
//!   seed, the link (sender, its incarnation, receiver) and the message's sequence number on
//!   that link. A draw never depends on what other links carried: two runs that differ by
//!   one setting (`kafka-sim what-if`) give the same delays to every link whose traffic is
//!   the same, so they differ by the setting's effect and not by reshuffled noise;
//! - a message on a cut link waits in the receiver's inbox and is handed over once the link
//!   heals; a restarted sender's old messages are dropped, as a reset connection's unread
//!   data is.

use super::shared::Shared;
use crate::scenario::SlowDirection;
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use kafka_model::protocol::Disconnected;
use kafka_model::{BrokerId, Message, NodeId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

const PORT: u16 = 9092;
/// The least one-way delay of a message on any link (a data centre's floor).
pub(super) const MIN_LATENCY_NS: u64 = 50_000;

/// A message in flight.
pub(super) struct Envelope {
    pub(super) from: NodeId,
    /// The sender's incarnation (restarts) and the receiver's incarnation the sender
    /// addressed: a message to a previous life of the receiver is never delivered, and one
    /// from a previous life of the sender is dropped once the sender's new life is heard from.
    pub(super) incarnation: u64,
    pub(super) to_incarnation: u64,
    pub(super) deliver_at_ns: u64,
    pub(super) message: Message,
}

/// How often a node looks again at messages held on a cut link.
pub(super) const HELD_RECHECK_NS: u64 = 10_000_000;

/// What a node holds for delivery: messages by delivery time, then arrival order.
pub(super) type Inbox = BTreeMap<(u64, u64), (NodeId, u64, Message)>;

/// The first message that may be handled now: due, and on a link the network does not cut,
/// with no earlier message of its sender still held. Also says whether any due message is
/// held.
pub(super) fn next_deliverable(
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
pub(super) struct Receiver {
    pub(super) incarnation: u64,
    pub(super) mailbox: UnboundedReceiver<Envelope>,
    pub(super) senders: BTreeMap<NodeId, u64>,
    /// Arrival order, the tie-break between messages due at the same nanosecond.
    pub(super) arrivals: u64,
}

impl Receiver {
    /// Takes one arrived message into the inbox. A message for a previous life of this node
    /// is dropped; so is one from a previous life of its sender, and a sender's new life drops
    /// what its previous one still had waiting here (its connections were reset).
    pub(super) fn accept(&mut self, env: Envelope, inbox: &mut Inbox) {
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

    /// Takes a refused connection to `peer` into the inbox: the node hears at `at_ns` that
    /// its requests there will not be answered.
    pub(super) fn refused(&mut self, peer: NodeId, at_ns: u64, inbox: &mut Inbox) {
        self.arrivals += 1;
        inbox.insert(
            (at_ns, self.arrivals),
            (peer, u64::MAX, Message::Disconnected(Disconnected { peer })),
        );
    }

    /// Moves every message that has arrived into the inbox, without waiting.
    /// False once the mailbox is closed (this life of the node is over).
    pub(super) fn drain(&mut self, inbox: &mut Inbox) -> bool {
        loop {
            match self.mailbox.try_recv() {
                Ok(env) => self.accept(env, inbox),
                Err(e) => return !e.is_closed(),
            }
        }
    }
}

/// Which processes share a host. A combined node (`process.roles=broker,controller`) is one
/// process on one machine, Kafka's `KafkaRaftServer` running a `BrokerServer` and a
/// `ControllerServer` under one `node.id`: the world keeps its two roles as two state
/// machines (`NodeId::Broker(n)` and `NodeId::Controller(n)`), and the network sees one
/// host, named by its broker. Every other node is a host of its own.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Hosts {
    combined: BTreeSet<BrokerId>,
}

impl Hosts {
    /// The hosts of a cluster whose nodes `combined` are both a broker and a controller.
    pub fn with_combined(combined: impl IntoIterator<Item = BrokerId>) -> Hosts {
        Hosts {
            combined: combined.into_iter().collect(),
        }
    }

    /// The host a process runs on, named by the node the network knows it as: the broker
    /// for either role of a combined node, the process itself otherwise.
    pub fn host_of(&self, node: NodeId) -> NodeId {
        match node {
            NodeId::Controller(c) if self.combined.contains(&c) => NodeId::Broker(c),
            other => other,
        }
    }

    /// The other role of a combined node's process, which every fault of the process
    /// reaches too; `None` for a process that is alone on its host.
    pub fn other_role(&self, node: NodeId) -> Option<NodeId> {
        match node {
            NodeId::Controller(c) if self.combined.contains(&c) => Some(NodeId::Broker(c)),
            NodeId::Broker(b) if self.combined.contains(&b) => Some(NodeId::Controller(b)),
            _ => None,
        }
    }

    /// Whether two processes run on one host (a process and itself do).
    pub fn same_host(&self, a: NodeId, b: NodeId) -> bool {
        self.host_of(a) == self.host_of(b)
    }
}

/// The links the network cuts right now: isolated hosts, and partitions into groups that
/// cannot reach each other. The world applies them to every message; the checkers rebuild
/// them from the fault record to tell when two processes could talk. Nodes are compared by
/// host ([`Hosts`]): cutting either role of a combined node cuts both, and its two roles
/// always reach each other.
#[derive(Default, Clone, Debug)]
pub struct LinkCuts {
    pub isolated: BTreeSet<NodeId>,
    pub partitions: Vec<Vec<Vec<NodeId>>>,
    pub hosts: Hosts,
}

impl LinkCuts {
    /// No cut yet, on these hosts.
    pub fn on(hosts: Hosts) -> LinkCuts {
        LinkCuts {
            hosts,
            ..LinkCuts::default()
        }
    }

    /// Whether any link is cut right now.
    pub fn any(&self) -> bool {
        !self.isolated.is_empty() || !self.partitions.is_empty()
    }

    /// Whether the link between `a` and `b` is cut.
    pub fn blocked(&self, a: NodeId, b: NodeId) -> bool {
        let (a, b) = (self.hosts.host_of(a), self.hosts.host_of(b));
        if a == b {
            return false;
        }
        let on = |n: &NodeId, host: NodeId| self.hosts.host_of(*n) == host;
        if self.isolated.iter().any(|n| on(n, a) || on(n, b)) {
            return true;
        }
        self.partitions.iter().any(|groups| {
            let ga = groups.iter().position(|g| g.iter().any(|n| on(n, a)));
            let gb = groups.iter().position(|g| g.iter().any(|n| on(n, b)));
            matches!((ga, gb), (Some(x), Some(y)) if x != y)
        })
    }
}

/// Network faults in force, kept by host: a slowed or lossy host slows or loses the
/// messages of both roles of a combined node, and never those between them (they do not
/// leave the machine).
#[derive(Default, Clone, Debug)]
pub struct NetFaults {
    pub(super) cuts: LinkCuts,
    /// Per slowed host: the delay, and which of its messages wait.
    pub(super) slow_ms: BTreeMap<NodeId, (u64, SlowDirection)>,
    pub(super) loss: BTreeMap<NodeId, f64>,
}

impl NetFaults {
    /// No fault yet, on these hosts.
    pub(super) fn on(hosts: Hosts) -> NetFaults {
        NetFaults {
            cuts: LinkCuts::on(hosts),
            ..NetFaults::default()
        }
    }

    /// The host a fault on `node` is kept under.
    pub(super) fn host_of(&self, node: NodeId) -> NodeId {
        self.cuts.hosts.host_of(node)
    }

    /// Whether any link is cut right now.
    pub(super) fn any(&self) -> bool {
        self.cuts.any()
    }

    pub(super) fn blocked(&self, a: NodeId, b: NodeId) -> bool {
        self.cuts.blocked(a, b)
    }

    pub(super) fn extra_delay_ms(&self, a: NodeId, b: NodeId) -> u64 {
        if self.cuts.hosts.same_host(a, b) && a != b {
            return 0;
        }
        let da = match self.slow_ms.get(&self.host_of(a)) {
            Some(&(ms, direction)) if direction.slows_sent() => ms,
            _ => 0,
        };
        let db = match self.slow_ms.get(&self.host_of(b)) {
            Some(&(ms, direction)) if direction.slows_received() => ms,
            _ => 0,
        };
        da.max(db)
    }

    pub(super) fn loss(&self, a: NodeId, b: NodeId) -> f64 {
        if self.cuts.hosts.same_host(a, b) && a != b {
            return 0.0;
        }
        let la = self.loss.get(&self.host_of(a)).copied().unwrap_or(0.0);
        let lb = self.loss.get(&self.host_of(b)).copied().unwrap_or(0.0);
        la.max(lb)
    }

    /// Heals every network fault, or those of one host (a split it is part of is healed
    /// whole). Returns the splits it healed, or `None` when there was nothing to heal.
    pub(super) fn heal(&mut self, target: Option<NodeId>) -> Option<Vec<Vec<Vec<NodeId>>>> {
        match target {
            None => {
                let hosts = self.cuts.hosts.clone();
                let had = std::mem::replace(self, NetFaults::on(hosts));
                let anything = !had.cuts.isolated.is_empty()
                    || !had.cuts.partitions.is_empty()
                    || !had.slow_ms.is_empty()
                    || !had.loss.is_empty();
                anything.then_some(had.cuts.partitions)
            }
            Some(t) => {
                let t = self.host_of(t);
                let isolated = self.cuts.isolated.remove(&t);
                let hosts = &self.cuts.hosts;
                let (splits, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cuts.partitions)
                    .into_iter()
                    .partition(|groups| groups.iter().flatten().any(|n| hosts.host_of(*n) == t));
                self.cuts.partitions = kept;
                let slow = self.slow_ms.remove(&t).is_some();
                let lossy = self.loss.remove(&t).is_some();
                (isolated || slow || lossy || !splits.is_empty()).then_some(splits)
            }
        }
    }
}

/// A node's mailbox as its senders see it.
pub(super) struct Mailbox {
    pub(super) incarnation: u64,
    pub(super) sender: Option<UnboundedSender<Envelope>>,
    /// The receiving end of a mailbox opened before the node's task first runs, so what is
    /// sent to it at the very start of the run (before madsim gets to its task) is kept.
    pub(super) opened_early: Option<UnboundedReceiver<Envelope>>,
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
        NodeId::Controller(c) => (6, c as u32),
        NodeId::Processor(i) => (7, i),
    };
    let ip = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, kind, (n >> 16) as u16, n as u16);
    SocketAddr::new(IpAddr::V6(ip), PORT)
}
/// Opens the mailbox of every node before any of them runs: the first life of each.
pub(super) fn open_first_mailboxes(shared: &Shared, nodes: &[NodeId]) {
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
pub(super) fn open_mailbox(shared: &Shared, me: NodeId) -> Receiver {
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

/// A node's outgoing links: its incarnation, the seed its links' draws start from, and per
/// link the connection it is on with the last delivery time there (for FIFO delivery
/// times) and the messages sent so far (the next message's sequence number, which keys its
/// draws).
pub(super) struct Links {
    pub(super) incarnation: u64,
    pub(super) draw_seed: u64,
    /// Per peer: (the connection, the last delivery time on it).
    pub(super) last_delivery_ns: BTreeMap<NodeId, (u64, u64)>,
    pub(super) sent: BTreeMap<NodeId, u64>,
}

impl Links {
    pub(super) fn new(incarnation: u64, draw_seed: u64) -> Links {
        Links {
            incarnation,
            draw_seed,
            last_delivery_ns: BTreeMap::new(),
            sent: BTreeMap::new(),
        }
    }

    /// The generator of the next message's draws on the link to `to`: keyed by the link
    /// and the message's sequence number on it, never by what other links sent.
    fn next_draws(&mut self, to: NodeId) -> ChaCha8Rng {
        let sequence = self.sent.entry(to).or_insert(0);
        let seed = self.draw_seed
            ^ node_code(to).wrapping_mul(0xA24B_AED4_963E_E407)
            ^ sequence.wrapping_mul(0x9FB2_1C65_1E98_DF25);
        *sequence += 1;
        ChaCha8Rng::seed_from_u64(seed)
    }
}

/// A number per node, distinct for every node: the link half of a draw's key.
pub(super) fn node_code(node: NodeId) -> u64 {
    match node {
        NodeId::ZooKeeper => 1,
        NodeId::Admin => 2,
        NodeId::Broker(b) => 0x100 + b as u64,
        NodeId::Producer(i) => 0x10000 + i as u64,
        NodeId::Consumer(i) => 0x20000 + i as u64,
        NodeId::Controller(c) => 0x1_0000_0000 + c as u32 as u64,
        NodeId::Processor(i) => 0x30000 + i as u64,
    }
}

/// The key of the connection between two nodes: the lesser first, as it carries both ways.
fn pair(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    (a.min(b), a.max(b))
}

/// Sends a handler's messages, each with its delivery time: the link's latency, any extra
/// delay of a slowed link and retransmissions on a lossy one, never before the link's
/// previous message on the same connection; `closed` are the connections the handler
/// closed, each before the message at its index (the next message to that peer opens a new
/// one). What a closed connection still carries is delivered: a closed socket's unsent data
/// goes on, and a broker handles a request it read before the close (Kafka's `Selector`
/// closes a channel `GRACEFUL`ly, handling the receives it holds first). Returns the brokers
/// whose connection was refused, with the time the refusal is heard.
pub(super) fn send_messages(
    shared: &Shared,
    me: NodeId,
    links: &mut Links,
    now_ns: u64,
    messages: &mut Vec<(NodeId, Message)>,
    closed: &[(NodeId, usize)],
) -> Vec<(NodeId, u64)> {
    let hears_refusals = hears_resets(me);
    let mut refused = Vec::new();
    let network = &shared.scenario.network;
    let net = shared.net.lock().expect("net");
    let mailboxes = shared.mailboxes.lock().expect("mailboxes");
    let refusing = shared.refusing.lock().expect("refusing");
    let mut connections = shared.connections.lock().expect("connections");
    let mut sent = 0;
    let mut closes = closed.iter().peekable();
    for (index, (to, message)) in messages.drain(..).enumerate() {
        while let Some((peer, _)) = closes.next_if(|(_, before)| *before <= index) {
            *connections.entry(pair(me, *peer)).or_insert(0) += 1;
        }
        if hears_refusals && refusing.contains(&to) {
            // Connection refused: the sender hears so after a round trip's worth of time.
            let round_trip_ns = 2 * (network.latency_min_us * 1_000).max(MIN_LATENCY_NS);
            if !refused.iter().any(|(n, _)| *n == to) {
                refused.push((to, now_ns + round_trip_ns));
            }
            continue;
        }
        let mut draws = links.next_draws(to);
        let retransmit_ns = retransmission_delay_ns(&mut draws, net.loss(me, to).max(network.loss));
        let latency_us = if network.latency_max_us > network.latency_min_us {
            draws.gen_range(network.latency_min_us..=network.latency_max_us)
        } else {
            network.latency_min_us
        };
        let extra_ns = net.extra_delay_ms(me, to) * 1_000_000;
        let earliest = now_ns + (latency_us * 1_000).max(MIN_LATENCY_NS) + extra_ns + retransmit_ns;
        let connection = connections.get(&pair(me, to)).copied().unwrap_or(0);
        let last = links.last_delivery_ns.entry(to).or_insert((connection, 0));
        if last.0 != connection {
            // A new connection: its first message waits behind nothing.
            *last = (connection, 0);
        }
        let deliver_at_ns = earliest.max(last.1 + 1);
        last.1 = deliver_at_ns;
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
    for (peer, _) in closes {
        *connections.entry(pair(me, *peer)).or_insert(0) += 1;
    }
    *shared.messages_sent.lock().expect("counter") += sent;
    refused
}

/// Sends one message for an operator's tool that runs on `from` (the admin host): it arrives
/// after the network's least latency plus any extra delay of the link, and a cut link holds
/// it as it holds any other. False when `to` is down (nothing is sent: the tool's connection
/// is refused).
pub(super) fn send_from_tool(shared: &Shared, from: NodeId, to: NodeId, message: Message) -> bool {
    if shared.refusing.lock().expect("refusing").contains(&to) {
        return false;
    }
    let network = &shared.scenario.network;
    let extra_ns = shared.net.lock().expect("net").extra_delay_ms(from, to) * 1_000_000;
    let deliver_at_ns =
        Shared::now_ns() + (network.latency_min_us * 1_000).max(MIN_LATENCY_NS) + extra_ns;
    let mailboxes = shared.mailboxes.lock().expect("mailboxes");
    let from_incarnation = mailboxes.get(&from).map_or(1, |m| m.incarnation);
    let Some(mailbox) = mailboxes.get(&to) else {
        return false;
    };
    let Some(sender) = &mailbox.sender else {
        return false;
    };
    let envelope = Envelope {
        from,
        incarnation: from_incarnation,
        to_incarnation: mailbox.incarnation,
        deliver_at_ns,
        message,
    };
    sender.unbounded_send(envelope).is_ok()
}

/// Whether `node` is told of a reset or refused connection: clients, and brokers (a follower
/// fetching from a crashed leader, a controller sending to a crashed broker: Kafka's
/// `NetworkClient` sees the disconnect at once and fails the requests in flight). ZooKeeper's
/// own sessions end by timeout, not by a closed socket, and the admin tool never waits on
/// a broker that way.
fn hears_resets(node: NodeId) -> bool {
    matches!(
        node,
        NodeId::Producer(_) | NodeId::Consumer(_) | NodeId::Processor(_) | NodeId::Broker(_)
    )
}

/// The operating system of a crashed broker resets its connections: every client and every
/// other broker hears (after the latency of the link, and after whatever the broker sent
/// before) that its requests to that broker will not be answered.
pub(super) fn send_resets(shared: &Shared, nodes: impl Iterator<Item = NodeId> + Clone) {
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
        for client in nodes.clone() {
            if client == from || !hears_resets(client) {
                continue;
            }
            let Some(mailbox) = mailboxes.get(&client) else {
                continue;
            };
            let Some(sender) = &mailbox.sender else {
                continue;
            };
            let deliver_at_ns = now_ns
                + (network.latency_max_us * 1_000).max(MIN_LATENCY_NS)
                + net.extra_delay_ms(from, client) * 1_000_000;
            let _ = sender.unbounded_send(Envelope {
                from,
                incarnation: from_incarnation,
                to_incarnation: mailbox.incarnation,
                deliver_at_ns,
                message: Message::Disconnected(Disconnected { peer: from }),
            });
        }
    }
}

/// Hands a node a message from outside the network (an operator's signal): it arrives at
/// once, from the node itself, so no cut link holds it.
pub(super) fn deliver_signal(shared: &Shared, to: NodeId, message: Message) {
    let mailboxes = shared.mailboxes.lock().expect("mailboxes");
    let Some(mailbox) = mailboxes.get(&to) else {
        return;
    };
    let Some(sender) = &mailbox.sender else {
        return;
    };
    let _ = sender.unbounded_send(Envelope {
        from: to,
        incarnation: mailbox.incarnation,
        to_incarnation: mailbox.incarnation,
        deliver_at_ns: Shared::now_ns(),
        message,
    });
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::world) fn envelope(
        from: NodeId,
        incarnation: u64,
        deliver_at_ns: u64,
        peer: NodeId,
    ) -> Envelope {
        Envelope {
            from,
            incarnation,
            to_incarnation: 1,
            deliver_at_ns,
            message: Message::Disconnected(Disconnected { peer }),
        }
    }

    pub(in crate::world) fn receiver() -> (Receiver, UnboundedSender<Envelope>) {
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
    pub(in crate::world) fn handed_over(inbox: &Inbox) -> Vec<(NodeId, NodeId)> {
        inbox
            .values()
            .map(|(from, _, m)| match m {
                Message::Disconnected(Disconnected { peer }) => (*from, *peer),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn both_roles_of_a_combined_node_are_one_host() {
        let hosts = Hosts::with_combined([1, 2]);
        let (b1, c1) = (NodeId::Broker(1), NodeId::Controller(1));
        assert_eq!(hosts.host_of(c1), b1);
        assert_eq!(hosts.host_of(b1), b1);
        assert_eq!(hosts.other_role(b1), Some(c1));
        assert_eq!(hosts.other_role(c1), Some(b1));
        assert!(hosts.same_host(b1, c1));
        // Not combined: a host of its own, as in dedicated mode.
        assert_eq!(hosts.host_of(NodeId::Controller(5)), NodeId::Controller(5));
        assert_eq!(hosts.other_role(NodeId::Broker(0)), None);
        assert_eq!(Hosts::default().other_role(c1), None);
        assert!(!Hosts::default().same_host(b1, c1));
    }

    #[test]
    fn isolating_either_role_of_a_combined_node_cuts_both_but_not_between_them() {
        let hosts = Hosts::with_combined([0, 1, 2]);
        let (b1, c1) = (NodeId::Broker(1), NodeId::Controller(1));
        for isolated in [b1, c1] {
            let mut cuts = LinkCuts::on(hosts.clone());
            cuts.isolated.insert(isolated);
            for role in [b1, c1] {
                for other in [
                    NodeId::Broker(0),
                    NodeId::Controller(2),
                    NodeId::Producer(0),
                ] {
                    assert!(
                        cuts.blocked(role, other),
                        "{isolated} isolated: {role} to {other}"
                    );
                    assert!(cuts.blocked(other, role));
                }
            }
            assert!(
                !cuts.blocked(b1, c1),
                "the two roles always reach each other"
            );
            assert!(!cuts.blocked(NodeId::Broker(0), NodeId::Controller(2)));
        }
        // The same cut between dedicated nodes leaves the broker's neighbours alone.
        let mut cuts = LinkCuts::default();
        cuts.isolated.insert(b1);
        assert!(!cuts.blocked(c1, NodeId::Broker(0)));
    }

    #[test]
    fn a_partition_splits_a_combined_node_with_both_roles_on_its_side() {
        let hosts = Hosts::with_combined([0, 1, 2]);
        let mut cuts = LinkCuts::on(hosts);
        cuts.partitions.push(vec![
            vec![NodeId::Broker(0)],
            vec![NodeId::Controller(1), NodeId::Broker(2)],
        ]);
        assert!(cuts.blocked(NodeId::Controller(0), NodeId::Broker(1)));
        assert!(cuts.blocked(NodeId::Broker(0), NodeId::Controller(2)));
        assert!(!cuts.blocked(NodeId::Broker(1), NodeId::Controller(2)));
        assert!(!cuts.blocked(NodeId::Broker(0), NodeId::Controller(0)));
    }

    #[test]
    fn a_slow_or_lossy_combined_host_slows_both_roles_and_heals_by_either() {
        let mut net = NetFaults::on(Hosts::with_combined([1]));
        let (b1, c1, b0) = (NodeId::Broker(1), NodeId::Controller(1), NodeId::Broker(0));
        let host = net.host_of(c1);
        net.slow_ms.insert(host, (300, SlowDirection::Both));
        net.loss.insert(host, 0.5);
        assert_eq!(net.extra_delay_ms(b1, b0), 300);
        assert_eq!(net.extra_delay_ms(b0, c1), 300);
        assert_eq!(net.extra_delay_ms(b1, c1), 0, "nothing leaves the machine");
        assert_eq!(net.loss(c1, b0), 0.5);
        assert_eq!(net.loss(c1, b1), 0.0);
        let isolated = net.host_of(b1);
        net.cuts.isolated.insert(isolated);
        assert!(
            net.heal(Some(c1)).is_some(),
            "healing the controller heals the host"
        );
        assert!(!net.blocked(b1, b0));
        assert_eq!(net.extra_delay_ms(b1, b0), 0);
        net.cuts.isolated.insert(b1);
        assert!(net.heal(None).is_some());
        assert!(
            !net.blocked(b1, b0) && net.cuts.hosts.same_host(b1, c1),
            "a heal of everything keeps the hosts"
        );
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

    /// The delivery times of the messages `sent` (each tagged by its `Disconnected` peer)
    /// as the broker's mailbox receives them, by tag.
    fn delivered(receiver: &mut Receiver) -> BTreeMap<NodeId, u64> {
        let mut times = BTreeMap::new();
        while let Ok(env) = receiver.mailbox.try_recv() {
            let Message::Disconnected(Disconnected { peer }) = env.message else {
                panic!("unexpected {:?}", env.message);
            };
            times.insert(peer, env.deliver_at_ns);
        }
        times
    }

    /// The shared state of a world with one broker, for sending by hand.
    fn one_broker_world() -> std::sync::Arc<Shared> {
        let scenario = crate::scenario::Scenario::parse(
            "net.toml",
            "name = \"net\"\nduration = \"1s\"\n[cluster]\nbrokers = 1\n[[topics]]\nname = \"t\"\n",
        )
        .expect("scenario");
        super::super::shared::new_shared(
            std::sync::Arc::new(scenario),
            1,
            &[0],
            &[],
            std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        )
        .0
    }

    #[test]
    fn a_retry_on_a_new_connection_does_not_wait_behind_the_old_one() {
        let shared = one_broker_world();
        let (producer, broker) = (NodeId::Producer(0), NodeId::Broker(0));
        let mut mailbox = open_mailbox(&shared, broker);
        let mut links = Links::new(1, 7);
        let tag = |n| {
            Message::Disconnected(Disconnected {
                peer: NodeId::Consumer(n),
            })
        };
        let send = |links: &mut Links, now_ns: u64, n: u32, closed: &[(NodeId, usize)]| {
            send_messages(
                &shared,
                producer,
                links,
                now_ns,
                &mut vec![(broker, tag(n))],
                closed,
            );
        };
        // The original leaves while what the producer sends is 3 s late.
        {
            let mut net = shared.net.lock().unwrap();
            let host = net.host_of(producer);
            net.slow_ms.insert(host, (3_000, SlowDirection::Out));
        }
        send(&mut links, 0, 1, &[]);
        shared.net.lock().unwrap().slow_ms.clear();
        // On the same connection the next message waits behind it; after a close, the retry
        // goes on a new one and arrives first.
        send(&mut links, 1_000_000_000, 2, &[]);
        send(&mut links, 1_000_000_000, 3, &[(broker, 0)]);
        let at = delivered(&mut mailbox);
        let original = at[&NodeId::Consumer(1)];
        assert!(original >= 3_000_000_000, "{at:?}");
        assert!(
            at[&NodeId::Consumer(2)] > original,
            "FIFO on one connection: {at:?}"
        );
        assert!(
            at[&NodeId::Consumer(3)] < original,
            "the retry overtakes: {at:?}"
        );
    }

    #[test]
    fn a_connection_the_client_closed_is_closed_both_ways() {
        let shared = one_broker_world();
        let (producer, broker) = (NodeId::Producer(0), NodeId::Broker(0));
        let mut producer_mailbox = open_mailbox(&shared, producer);
        let _broker_mailbox = open_mailbox(&shared, broker);
        let (mut producer_links, mut broker_links) = (Links::new(1, 7), Links::new(1, 8));
        let tag = |n| {
            Message::Disconnected(Disconnected {
                peer: NodeId::Consumer(n),
            })
        };
        {
            let mut net = shared.net.lock().unwrap();
            let host = net.host_of(broker);
            net.slow_ms.insert(host, (3_000, SlowDirection::Out));
        }
        send_messages(
            &shared,
            broker,
            &mut broker_links,
            0,
            &mut vec![(producer, tag(1))],
            &[],
        );
        shared.net.lock().unwrap().slow_ms.clear();
        // The producer gives up on the answer and closes the connection.
        send_messages(
            &shared,
            producer,
            &mut producer_links,
            1_000_000_000,
            &mut Vec::new(),
            &[(broker, 0)],
        );
        send_messages(
            &shared,
            broker,
            &mut broker_links,
            1_100_000_000,
            &mut vec![(producer, tag(2))],
            &[],
        );
        let at = delivered(&mut producer_mailbox);
        assert!(
            at[&NodeId::Consumer(2)] < at[&NodeId::Consumer(1)],
            "{at:?}"
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
}
