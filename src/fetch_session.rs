//! Fetch sessions (KIP-227, Kafka 1.1): a replica fetcher and its leader agree on the set of
//! partitions once, then each fetch names only the partitions whose fetch state changed and
//! each answer carries only the partitions with news.
//!
//! Without sessions every fetch request lists every partition the follower follows from that
//! leader and every answer lists them all again, data or not: the cost of a fetch grows with
//! the partition count, not with the traffic. Kafka 1.1 added sessions for exactly that
//! reason, and the simulator follows it for the same one: an idle partition costs nothing.
//!
//! Two halves, as in Kafka:
//! - the leader's [`FetchSessionCache`] (Kafka's `FetchSessionCache` and `FetchManager`):
//!   it turns a request into a [`FetchContext`], keeps per session what each partition's
//!   follower said last and what it was told last, and which partitions have news (`dirty`);
//! - the follower's [`FetchSessionHandler`] (Kafka's class of the same name): it decides
//!   whether the next request is full or incremental and what it must carry.
//!
//! Behaviour Kafka has that is not modelled: the cache's slot limit and eviction
//! (`max.incremental.fetch.session.cache.slots`, 1,000 by default, more than any simulated
//! cluster needs for its replica fetchers) and consumer fetch sessions (consumers fetch
//! without a session here, which changes only message sizes).

use crate::protocol::FetchPartition;
use crate::types::{BrokerId, ErrorCode, TopicPartition};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The session epoch of a request that opens a session (Kafka's `INITIAL_EPOCH`).
pub const INITIAL_EPOCH: i32 = 0;
/// The session epoch of a request without a session (Kafka's `FINAL_EPOCH`).
pub const FINAL_EPOCH: i32 = -1;

/// What a fetch request says about its session (Kafka's `FetchMetadata`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FetchMetadata {
    /// 0: no session.
    pub session_id: u32,
    pub epoch: i32,
}

impl FetchMetadata {
    /// A full fetch that opens no session: consumers, and brokers before 1.1.
    pub const SESSIONLESS: FetchMetadata = FetchMetadata {
        session_id: 0,
        epoch: FINAL_EPOCH,
    };

    /// A request that lists every partition it wants (no session, or opening one).
    pub fn is_full(self) -> bool {
        self.epoch <= INITIAL_EPOCH
    }
}

/// What the leader knows of one partition of a session.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedPartition {
    /// The follower's fetch state as it last stated it.
    pub fetch: FetchPartition,
    /// What the last answer that carried this partition told the follower.
    pub high_watermark_sent: Option<u64>,
    pub log_start_offset_sent: Option<u64>,
}

/// One session on the leader.
#[derive(Clone, Debug)]
pub struct FetchSession {
    pub id: u32,
    pub replica_id: Option<BrokerId>,
    /// The epoch the next incremental request must carry.
    next_epoch: i32,
    /// When the session's last fetch arrived: a follower whose state is left to the session
    /// (see the broker's lazy follower state) fetched every partition at this time.
    pub last_fetch_ms: u64,
    pub partitions: BTreeMap<TopicPartition, CachedPartition>,
    /// Partitions the next answer must look at: named by the request, or with news since
    /// (an append, a high-watermark move, a leadership change), or not settled yet.
    pub dirty: BTreeSet<TopicPartition>,
}

/// How the leader handles one fetch request (Kafka's `FetchContext`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchContext {
    /// No session: read and answer exactly the partitions the request names.
    Sessionless,
    /// A new session: every partition is in the answer.
    Full { session_id: u32 },
    /// An existing session: the answer carries only the partitions with news.
    Incremental { session_id: u32 },
    /// The request's session is unknown or its epoch is wrong: answer with this error alone.
    Error(ErrorCode),
}

impl FetchContext {
    pub fn session_id(self) -> Option<u32> {
        match self {
            FetchContext::Full { session_id } | FetchContext::Incremental { session_id } => {
                Some(session_id)
            }
            _ => None,
        }
    }
}

/// The leader's sessions, and per partition the sessions that hold it.
#[derive(Clone, Debug, Default)]
pub struct FetchSessionCache {
    next_id: u32,
    sessions: BTreeMap<u32, FetchSession>,
    by_partition: BTreeMap<TopicPartition, BTreeSet<u32>>,
}

impl FetchSessionCache {
    /// Kafka's `FetchManager.newContext`: opens, updates or refuses a session for a request.
    /// A full request with a session id closes that session first; an incremental one
    /// updates the session's partitions from the request and drops the forgotten ones.
    /// Returns the context and the sessions it closed.
    pub fn new_context(
        &mut self,
        metadata: FetchMetadata,
        replica_id: Option<BrokerId>,
        partitions: &[FetchPartition],
        forgotten: &[TopicPartition],
        now_ms: u64,
    ) -> (FetchContext, Option<FetchSession>) {
        if metadata.epoch == FINAL_EPOCH {
            return (FetchContext::Sessionless, None);
        }
        if metadata.epoch == INITIAL_EPOCH {
            let closed = (metadata.session_id != 0)
                .then(|| self.remove(metadata.session_id))
                .flatten();
            let session_id = self.open(replica_id, partitions, now_ms);
            return (FetchContext::Full { session_id }, closed);
        }
        let Some(session) = self.sessions.get_mut(&metadata.session_id) else {
            return (FetchContext::Error(ErrorCode::FetchSessionIdNotFound), None);
        };
        if session.next_epoch != metadata.epoch {
            return (
                FetchContext::Error(ErrorCode::InvalidFetchSessionEpoch),
                None,
            );
        }
        session.next_epoch = next_epoch(session.next_epoch);
        session.last_fetch_ms = now_ms;
        let session_id = session.id;
        for fp in partitions {
            let cached =
                session
                    .partitions
                    .entry(fp.tp.clone())
                    .or_insert_with(|| CachedPartition {
                        fetch: fp.clone(),
                        high_watermark_sent: None,
                        log_start_offset_sent: None,
                    });
            cached.fetch = fp.clone();
            session.dirty.insert(fp.tp.clone());
            self.by_partition
                .entry(fp.tp.clone())
                .or_default()
                .insert(session_id);
        }
        for tp in forgotten {
            session.partitions.remove(tp);
            session.dirty.remove(tp);
            unindex(&mut self.by_partition, tp, session_id);
        }
        (FetchContext::Incremental { session_id }, None)
    }

    fn open(
        &mut self,
        replica_id: Option<BrokerId>,
        partitions: &[FetchPartition],
        now_ms: u64,
    ) -> u32 {
        self.next_id += 1;
        let id = self.next_id;
        let mut session = FetchSession {
            id,
            replica_id,
            next_epoch: 1,
            last_fetch_ms: now_ms,
            partitions: BTreeMap::new(),
            dirty: BTreeSet::new(),
        };
        for fp in partitions {
            session.partitions.insert(
                fp.tp.clone(),
                CachedPartition {
                    fetch: fp.clone(),
                    high_watermark_sent: None,
                    log_start_offset_sent: None,
                },
            );
            session.dirty.insert(fp.tp.clone());
            self.by_partition
                .entry(fp.tp.clone())
                .or_default()
                .insert(id);
        }
        self.sessions.insert(id, session);
        id
    }

    fn remove(&mut self, id: u32) -> Option<FetchSession> {
        let session = self.sessions.remove(&id)?;
        for tp in session.partitions.keys() {
            unindex(&mut self.by_partition, tp, id);
        }
        Some(session)
    }

    pub fn get(&self, id: u32) -> Option<&FetchSession> {
        self.sessions.get(&id)
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut FetchSession> {
        self.sessions.get_mut(&id)
    }

    /// The sessions holding `tp`.
    pub fn sessions_of(&self, tp: &TopicPartition) -> Vec<u32> {
        self.by_partition
            .get(tp)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// `tp` has news: every session holding it looks at it in its next answer.
    pub fn mark_dirty(&mut self, tp: &TopicPartition) {
        let Some(ids) = self.by_partition.get(tp) else {
            return;
        };
        for id in ids {
            if let Some(session) = self.sessions.get_mut(id) {
                session.dirty.insert(tp.clone());
            }
        }
    }
}

/// `tp` is no longer in session `id`.
fn unindex(
    by_partition: &mut BTreeMap<TopicPartition, BTreeSet<u32>>,
    tp: &TopicPartition,
    id: u32,
) {
    if let Some(ids) = by_partition.get_mut(tp) {
        ids.remove(&id);
        if ids.is_empty() {
            by_partition.remove(tp);
        }
    }
}

/// Session epochs count up and wrap to 1, never to 0 (Kafka's `FetchMetadata.nextEpoch`).
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// The follower's side of a session with one leader (Kafka's `FetchSessionHandler`).
#[derive(Clone, Debug, Default)]
pub struct FetchSessionHandler {
    /// 0: no session yet.
    session_id: u32,
    /// The epoch of the next request; `INITIAL_EPOCH` asks for a new session.
    next_epoch: i32,
    /// What the session holds, as the follower last stated it.
    sent: BTreeMap<TopicPartition, FetchPartition>,
    /// Partitions whose fetch state may have changed since the last request.
    dirty: BTreeSet<TopicPartition>,
}

/// The next fetch request a follower sends.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchRequestData {
    pub metadata: FetchMetadata,
    pub partitions: Vec<FetchPartition>,
    pub forgotten: Vec<TopicPartition>,
}

impl FetchSessionHandler {
    /// Whether the next request must list every partition.
    pub fn needs_full(&self) -> bool {
        self.next_epoch == INITIAL_EPOCH
    }

    /// `tp`'s fetch state may have changed (an append, a truncation, a new leader).
    pub fn mark_dirty(&mut self, tp: &TopicPartition) {
        self.dirty.insert(tp.clone());
    }

    /// The session holds nothing and nothing waits to be added: the follower follows no
    /// partition of this leader.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty() && self.dirty.is_empty()
    }

    /// The partitions that may need a line in the next incremental request.
    /// What the session last sent for `tp` (the full request's or a later update's).
    pub fn sent_partition(&self, tp: &TopicPartition) -> Option<&FetchPartition> {
        self.sent.get(tp)
    }

    pub fn dirty(&self) -> &BTreeSet<TopicPartition> {
        &self.dirty
    }

    /// Builds the next request. For a full one `wanted` must hold every partition followed
    /// from this leader; for an incremental one, the wanted state of each dirty partition
    /// that is still followed (a dirty partition not in `wanted` is forgotten).
    pub fn build(&mut self, wanted: Vec<FetchPartition>) -> FetchRequestData {
        if self.needs_full() {
            self.sent = wanted
                .iter()
                .map(|fp| (fp.tp.clone(), fp.clone()))
                .collect();
            self.dirty.clear();
            return FetchRequestData {
                metadata: FetchMetadata {
                    session_id: self.session_id,
                    epoch: INITIAL_EPOCH,
                },
                partitions: wanted,
                forgotten: Vec::new(),
            };
        }
        let wanted: BTreeMap<TopicPartition, FetchPartition> =
            wanted.into_iter().map(|fp| (fp.tp.clone(), fp)).collect();
        let mut partitions = Vec::new();
        let mut forgotten = Vec::new();
        for tp in std::mem::take(&mut self.dirty) {
            match (wanted.get(&tp), self.sent.get(&tp)) {
                (Some(fp), Some(sent)) if fp == sent => {}
                (Some(fp), _) => {
                    self.sent.insert(tp, fp.clone());
                    partitions.push(fp.clone());
                }
                (None, Some(_)) => {
                    self.sent.remove(&tp);
                    forgotten.push(tp);
                }
                (None, None) => {}
            }
        }
        FetchRequestData {
            metadata: FetchMetadata {
                session_id: self.session_id,
                epoch: self.next_epoch,
            },
            partitions,
            forgotten,
        }
    }

    /// Kafka's `FetchSessionHandler.handleResponse`: a session opened or went on, or was
    /// lost (the next request is full again).
    pub fn handle_response(&mut self, sent: FetchMetadata, error: ErrorCode, session_id: u32) {
        match error {
            ErrorCode::None if sent.epoch == INITIAL_EPOCH => {
                self.session_id = session_id;
                self.next_epoch = if session_id == 0 { INITIAL_EPOCH } else { 1 };
            }
            ErrorCode::None => self.next_epoch = next_epoch(self.next_epoch),
            ErrorCode::FetchSessionIdNotFound => {
                self.session_id = 0;
                self.next_epoch = INITIAL_EPOCH;
            }
            _ => self.next_epoch = INITIAL_EPOCH,
        }
    }

    /// Kafka's `FetchSessionHandler.handleError`: the request got no answer; the next one
    /// closes the session and opens a new one.
    pub fn handle_error(&mut self) {
        self.next_epoch = INITIAL_EPOCH;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(partition: u32, fetch_offset: u64) -> FetchPartition {
        FetchPartition {
            tp: TopicPartition::new("t", partition),
            fetch_offset,
            last_fetched_epoch: Some(0),
            current_leader_epoch: Some(0),
            log_start_offset: Some(0),
        }
    }

    #[test]
    fn a_follower_sends_everything_once_then_only_what_changed() {
        let mut h = FetchSessionHandler::default();
        let first = h.build(vec![fp(0, 0), fp(1, 0), fp(2, 0)]);
        assert_eq!(first.metadata.epoch, INITIAL_EPOCH);
        assert_eq!(first.partitions.len(), 3);
        h.handle_response(first.metadata, ErrorCode::None, 7);
        // Partition 1 got records; partition 2 is no longer followed from this leader.
        h.mark_dirty(&TopicPartition::new("t", 1));
        h.mark_dirty(&TopicPartition::new("t", 2));
        let next = h.build(vec![fp(1, 5)]);
        assert_eq!(
            next.metadata,
            FetchMetadata {
                session_id: 7,
                epoch: 1
            }
        );
        assert_eq!(next.partitions, vec![fp(1, 5)]);
        assert_eq!(next.forgotten, vec![TopicPartition::new("t", 2)]);
        h.handle_response(next.metadata, ErrorCode::None, 7);
        let idle = h.build(Vec::new());
        assert!(idle.partitions.is_empty() && idle.forgotten.is_empty());
        assert_eq!(idle.metadata.epoch, 2);
    }

    #[test]
    fn a_lost_session_starts_over_with_a_full_request() {
        let mut h = FetchSessionHandler::default();
        let first = h.build(vec![fp(0, 0)]);
        h.handle_response(first.metadata, ErrorCode::None, 3);
        let next = h.build(Vec::new());
        h.handle_response(next.metadata, ErrorCode::FetchSessionIdNotFound, 0);
        assert!(h.needs_full());
        assert_eq!(
            h.build(vec![fp(0, 0)]).metadata,
            FetchMetadata {
                session_id: 0,
                epoch: INITIAL_EPOCH
            }
        );
        // A request that got no answer closes the session it had and opens a new one.
        let mut h = FetchSessionHandler::default();
        let first = h.build(vec![fp(0, 0)]);
        h.handle_response(first.metadata, ErrorCode::None, 4);
        h.handle_error();
        assert_eq!(
            h.build(vec![fp(0, 0)]).metadata,
            FetchMetadata {
                session_id: 4,
                epoch: INITIAL_EPOCH
            }
        );
    }

    #[test]
    fn the_leader_opens_updates_and_refuses_sessions_as_kafka_does() {
        let mut cache = FetchSessionCache::default();
        let initial = FetchMetadata {
            session_id: 0,
            epoch: INITIAL_EPOCH,
        };
        let (ctx, _) = cache.new_context(initial, Some(1), &[fp(0, 0), fp(1, 0)], &[], 10);
        let id = ctx.session_id().expect("a session");
        assert_eq!(ctx, FetchContext::Full { session_id: id });
        assert_eq!(cache.sessions_of(&TopicPartition::new("t", 1)), vec![id]);
        let wrong = FetchMetadata {
            session_id: id,
            epoch: 5,
        };
        assert_eq!(
            cache.new_context(wrong, Some(1), &[], &[], 11).0,
            FetchContext::Error(ErrorCode::InvalidFetchSessionEpoch)
        );
        let unknown = FetchMetadata {
            session_id: id + 1,
            epoch: 1,
        };
        assert_eq!(
            cache.new_context(unknown, Some(1), &[], &[], 11).0,
            FetchContext::Error(ErrorCode::FetchSessionIdNotFound)
        );
        let next = FetchMetadata {
            session_id: id,
            epoch: 1,
        };
        let (ctx, _) = cache.new_context(
            next,
            Some(1),
            &[fp(0, 4)],
            &[TopicPartition::new("t", 1)],
            12,
        );
        assert_eq!(ctx, FetchContext::Incremental { session_id: id });
        let session = cache.get(id).unwrap();
        assert_eq!(session.last_fetch_ms, 12);
        assert_eq!(session.partitions.len(), 1);
        assert_eq!(
            session.partitions[&TopicPartition::new("t", 0)].fetch,
            fp(0, 4)
        );
        assert!(cache.sessions_of(&TopicPartition::new("t", 1)).is_empty());
        // Closing and reopening: a full request with the old session's id.
        let reopen = FetchMetadata {
            session_id: id,
            epoch: INITIAL_EPOCH,
        };
        let (ctx, closed) = cache.new_context(reopen, Some(1), &[fp(0, 4)], &[], 13);
        assert_eq!(closed.map(|s| s.id), Some(id));
        assert_ne!(ctx.session_id(), Some(id));
        assert_eq!(
            cache
                .new_context(FetchMetadata::SESSIONLESS, None, &[fp(0, 0)], &[], 14)
                .0,
            FetchContext::Sessionless
        );
    }
}
