//! How a Kafka process is driven: the raft-rs style contract between the model and the world.
//!
//! A process is a state machine. The world hands it the current simulated time and one input
//! (start, a message or a timer it asked for earlier); the process changes its state and
//! fills an [`Output`] with what it wants to happen next. It never reads a clock, sleeps,
//! spawns or draws randomness, so a unit test can drive it by hand.

use crate::event::Event;
use crate::protocol::Message;
use crate::types::NodeId;

/// The longest a timer waits: about 31 years. Kafka's "never" is often `Long.MAX_VALUE`
/// milliseconds (`flush.ms`, `log.flush.scheduler.interval.ms`), and a scenario may give any
/// long timeout; a longer delay waits this long instead, so a world that counts time in
/// nanoseconds never overflows, and the timer still never fires within a run.
pub const MAX_TIMER_DELAY_MS: u64 = 1_000_000_000_000;

/// Nothing to ask of a host: the request type of a process that runs on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoRequest {}

/// What a process, or a component hosted inside one, wants done after handling one input.
///
/// This is the model's one effects vocabulary. A process (broker, client, ZooKeeper) fills
/// an `Output<T>` and the world carries it out. A component that lives inside a broker (the
/// controller, the group coordinator) fills an `Output<T, R>` too: its messages, timers and
/// events are the same kinds of effect, and `requests` holds what only its host can do for
/// it (a ZooKeeper operation through the broker's session, an append to the broker's log),
/// as Kafka's `KafkaController` goes through `KafkaZkClient` and the `GroupCoordinator`
/// through `ReplicaManager.appendRecords`.
#[derive(Debug)]
pub struct Output<T, R = NoRequest> {
    /// Messages to send, in order. Messages from one process to another arrive in the order
    /// they were sent (Kafka runs over TCP), unless the network drops them or the sender
    /// closed the connection between them (`closed_connections`).
    pub messages: Vec<(NodeId, Message)>,
    /// Timers to set: `(delay_ms, timer)`. A timer cannot be cancelled; a process that no
    /// longer wants it ignores it when it fires (timers carry what is needed to tell).
    pub timers: Vec<(u64, T)>,
    /// Domain events for the record.
    pub events: Vec<Event>,
    /// Requests to the host, in order (always empty for `R = NoRequest`).
    pub requests: Vec<R>,
    /// Connections the process closed, each with how many of `messages` were queued before
    /// it did: its later messages to that peer go on a new connection, which keeps its own
    /// order and does not wait behind what the old one still carries. Kafka's
    /// `NetworkClient` closes the connection of a request past `request.timeout.ms`
    /// (`handleTimedOutRequests`) and the retry opens another (`initiateConnect`), so a
    /// request stalled on the old one can reach the broker after its own retry.
    pub closed_connections: Vec<(NodeId, usize)>,
}

impl<T, R> Default for Output<T, R> {
    fn default() -> Self {
        Output {
            messages: Vec::new(),
            timers: Vec::new(),
            events: Vec::new(),
            requests: Vec::new(),
            closed_connections: Vec::new(),
        }
    }
}

impl<T, R> Output<T, R> {
    pub fn send(&mut self, to: NodeId, message: Message) {
        self.messages.push((to, message));
    }

    pub fn timer(&mut self, delay_ms: u64, timer: T) {
        self.timers.push((delay_ms.min(MAX_TIMER_DELAY_MS), timer));
    }

    pub fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Closes this process's connection to `to`: what it sends there from now on goes on a
    /// new one (see `closed_connections`).
    pub fn close_connection(&mut self, to: NodeId) {
        self.closed_connections.push((to, self.messages.len()));
    }

    /// Asks the host for something only it can do.
    pub fn request(&mut self, request: R) {
        self.requests.push(request);
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.timers.is_empty()
            && self.events.is_empty()
            && self.requests.is_empty()
            && self.closed_connections.is_empty()
    }

    /// Moves a hosted component's messages, timers and events into this output, in order,
    /// wrapping its timers as the host's (`wrap`), and returns its requests for the host to
    /// carry out.
    pub fn absorb<U, Q>(&mut self, component: Output<U, Q>, wrap: impl Fn(U) -> T) -> Vec<Q> {
        let Output {
            messages,
            timers,
            events,
            requests,
            closed_connections,
        } = component;
        let queued = self.messages.len();
        self.closed_connections.extend(
            closed_connections
                .into_iter()
                .map(|(to, before)| (to, queued + before)),
        );
        self.messages.extend(messages);
        self.timers
            .extend(timers.into_iter().map(|(delay_ms, t)| (delay_ms, wrap(t))));
        self.events.extend(events);
        requests
    }
}

/// A Kafka process driven from outside.
pub trait Actor {
    type Timer: Clone + std::fmt::Debug + Send + 'static;

    /// The process starts (or restarts after a crash).
    fn start(&mut self, now_ms: u64, out: &mut Output<Self::Timer>);

    /// A message arrived.
    fn on_message(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: crate::protocol::Message,
        out: &mut Output<Self::Timer>,
    );

    /// A timer set earlier fired.
    fn on_timer(&mut self, now_ms: u64, timer: Self::Timer, out: &mut Output<Self::Timer>);

    /// The process finished an orderly shutdown and has exited: the world ends it after
    /// carrying out its last output. Only a broker does (a SIGTERM, `KafkaServer.shutdown`).
    fn exited(&self) -> bool {
        false
    }
}
