//! One replica driven by hand against scripted peers, as Kafka's `KafkaRaftClientTest` and
//! `KafkaRaftClientPreVoteTest` do.

use super::*;

pub(super) type Replica = RaftReplica<&'static str>;
pub(super) type Message = RaftMessage<&'static str>;

/// A replica, the simulated clock and the timers it asked for.
pub(super) struct Driver {
    pub(super) replica: Replica,
    pub(super) now_ms: u64,
    timers: Vec<RaftTimer>,
    pub(super) sent: Vec<(RaftNodeId, Message)>,
    pub(super) events: Vec<RaftEvent>,
}

impl Driver {
    pub(super) fn start(
        id: RaftNodeId,
        voters: &[RaftNodeId],
        config: QuorumConfig,
        disk: RaftDisk<&'static str>,
    ) -> Driver {
        let replica = RaftReplica::new(id, voters.iter().copied(), config, disk, 7);
        let mut driver = Driver {
            replica,
            now_ms: 0,
            timers: Vec::new(),
            sent: Vec::new(),
            events: Vec::new(),
        };
        driver.with(|r, now, out| r.start(now, out));
        driver
    }

    pub(super) fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Replica, u64, &mut RaftOutput<&'static str>) -> T,
    ) -> T {
        let mut out = RaftOutput::default();
        let result = f(&mut self.replica, self.now_ms, &mut out);
        for (delay_ms, timer) in out.timers {
            assert_eq!(timer.at_ms, self.now_ms + delay_ms);
            self.timers.push(timer);
        }
        self.sent.extend(out.messages);
        self.events.extend(out.events);
        result
    }

    pub(super) fn deliver(&mut self, from: RaftNodeId, message: Message) {
        self.with(|r, now, out| r.on_message(now, from, message, out));
    }

    /// Moves the clock on, firing due timers in order.
    pub(super) fn advance(&mut self, ms: u64) {
        let until = self.now_ms + ms;
        loop {
            self.timers.sort_by_key(|t| t.at_ms);
            match self.timers.first() {
                Some(t) if t.at_ms <= until => {
                    let timer = self.timers.remove(0);
                    self.now_ms = self.now_ms.max(timer.at_ms);
                    self.with(|r, now, out| r.on_timer(now, timer, out));
                }
                _ => break,
            }
        }
        self.now_ms = until;
    }

    pub(super) fn take_sent(&mut self) -> Vec<(RaftNodeId, Message)> {
        std::mem::take(&mut self.sent)
    }

    /// The last Fetch sent, as `(to, fetch_offset, last_fetched_epoch, correlation_id)`.
    pub(super) fn last_fetch(&self) -> (RaftNodeId, u64, RaftEpoch, u64) {
        self.sent
            .iter()
            .rev()
            .find_map(|(to, m)| match m {
                RaftMessage::Fetch {
                    fetch_offset,
                    last_fetched_epoch,
                    correlation_id,
                    ..
                } => Some((*to, *fetch_offset, *last_fetched_epoch, *correlation_id)),
                _ => None,
            })
            .expect("a Fetch was sent")
    }

    pub(super) fn last_vote_response(&self) -> (RaftEpoch, Option<RaftNodeId>, bool) {
        self.sent
            .iter()
            .rev()
            .find_map(|(_, m)| match m {
                RaftMessage::VoteResponse {
                    epoch,
                    leader,
                    granted,
                    ..
                } => Some((*epoch, *leader, *granted)),
                _ => None,
            })
            .expect("a VoteResponse was sent")
    }

    pub(super) fn fetch(
        &mut self,
        from: RaftNodeId,
        epoch: RaftEpoch,
        fetch_offset: u64,
        last_fetched_epoch: RaftEpoch,
    ) {
        self.deliver(
            from,
            RaftMessage::Fetch {
                epoch,
                fetch_offset,
                last_fetched_epoch,
                replica_id: from,
                correlation_id: 0,
            },
        );
    }

    pub(super) fn vote(&mut self, from: RaftNodeId, epoch: RaftEpoch, pre_vote: bool) {
        let log = self.replica.log();
        let (last_epoch, last_end_offset) = (log.last_epoch(), log.end_offset());
        self.deliver(
            from,
            RaftMessage::Vote {
                epoch,
                candidate: from,
                last_epoch,
                last_end_offset,
                pre_vote,
            },
        );
    }
}

pub(super) fn disk_at(
    epoch: RaftEpoch,
    leader: Option<RaftNodeId>,
    voted: Option<RaftNodeId>,
) -> RaftDisk<&'static str> {
    let mut disk = RaftDisk::new();
    disk.quorum_state = ElectionState {
        epoch,
        leader,
        voted,
    };
    disk
}

/// Replica 0 leads epoch `epoch` of voters 0, 1, 2: it restarts as a candidate that voted
/// for itself and gets voter 1's vote.
pub(super) fn leader_at(epoch: RaftEpoch, config: QuorumConfig) -> Driver {
    let config = QuorumConfig {
        pre_vote: false,
        ..config
    };
    let mut d = Driver::start(0, &[0, 1, 2], config, disk_at(epoch, None, Some(0)));
    assert_eq!(d.replica.role(), RaftRole::Candidate);
    d.deliver(
        1,
        RaftMessage::VoteResponse {
            epoch,
            leader: None,
            granted: true,
            pre_vote: false,
            error: None,
        },
    );
    assert_eq!(d.replica.role(), RaftRole::Leader);
    assert_eq!(d.replica.leader(), Some((0, epoch)));
    d
}

#[test]
fn leader_change_record_opens_the_epoch_and_commits_with_a_majority() {
    let mut d = leader_at(2, QuorumConfig::kafka_3_7());
    let entry = d.replica.log().get(0).cloned().unwrap();
    assert_eq!(
        entry,
        Entry {
            append_time_ms: 0,
            epoch: 2,
            body: EntryBody::LeaderChange {
                leader: 0,
                voters: vec![0, 1, 2],
                granting_voters: vec![0, 1],
            },
        }
    );
    let begins: Vec<_> = d
        .take_sent()
        .into_iter()
        .filter(|(_, m)| {
            matches!(
                m,
                RaftMessage::BeginQuorumEpoch {
                    epoch: 2,
                    leader: 0
                }
            )
        })
        .map(|(to, _)| to)
        .collect();
    assert_eq!(begins, vec![1, 2]);
    assert_eq!(d.replica.high_watermark(), 0);
    // Voter 1 at offset 1 puts the LeaderChange record on a majority.
    d.fetch(1, 2, 1, 2);
    assert_eq!(d.replica.high_watermark(), 1);
    assert_eq!(d.replica.leader_high_watermark(), Some(1));
    let committed = d.replica.take_committed();
    assert_eq!(committed.entries.len(), 1);
    assert!(committed.snapshot.is_none());
    assert!(d.replica.take_committed().is_empty());
}

#[test]
fn leader_parks_a_fetch_with_nothing_new_until_an_append_or_the_max_wait() {
    let mut d = leader_at(1, QuorumConfig::kafka_3_7());
    d.take_sent();
    d.fetch(1, 1, 1, 1);
    // Only the HW moved: the parked fetch is answered with it (`onUpdateLeaderHighWatermark`)
    // or parked; either way nothing with records yet.
    d.take_sent();
    d.fetch(1, 1, 1, 1);
    assert!(d.take_sent().is_empty(), "parked");
    assert_eq!(
        d.with(|r, now, out| r.append(now, vec!["a", "b"], out)),
        Ok((1, 2))
    );
    let sent = d.take_sent();
    assert!(matches!(
        &sent[..],
        [(1, RaftMessage::FetchResponse(FetchResponse { records, .. }))] if records.len() == 2
    ));
    d.fetch(2, 1, 3, 1);
    assert!(d.take_sent().is_empty(), "parked");
    d.advance(499);
    assert!(d.take_sent().is_empty());
    d.advance(1);
    assert!(matches!(
        &d.take_sent()[..],
        [(2, RaftMessage::FetchResponse(FetchResponse { records, error: None, .. }))] if records.is_empty()
    ));
}

#[test]
fn leader_answers_a_diverging_fetch_at_once() {
    let mut d = leader_at(3, QuorumConfig::kafka_3_7());
    d.take_sent();
    // The follower's last epoch (2) is not in the leader's log: it ends where epoch 3 starts.
    d.fetch(1, 3, 5, 2);
    assert!(matches!(
        &d.take_sent()[..],
        [(1, RaftMessage::FetchResponse(FetchResponse { diverging_epoch: Some((2, 0)), records, .. }))] if records.is_empty()
    ));
}

#[test]
fn append_fails_on_a_non_leader() {
    let mut d = Driver::start(
        0,
        &[0, 1, 2],
        QuorumConfig::kafka_3_7(),
        disk_at(4, Some(1), None),
    );
    assert_eq!(
        d.with(|r, now, out| r.append(now, vec!["x"], out)),
        Err(NotLeader {
            epoch: 4,
            leader: Some(1)
        })
    );
}

/// `testLeaderShouldResignLeadershipIfNotGetFetchRequestFromMajorityVoters`.
#[test]
fn leader_resigns_without_fetches_from_a_majority_of_voters() {
    let config = QuorumConfig::kafka_3_7();
    let half_ms = config.check_quorum_timeout_ms() / 2;
    let observer = 9;
    let mut d = leader_at(1, config);
    d.advance(half_ms);
    d.fetch(1, 1, 0, 0);
    d.advance(half_ms);
    assert_eq!(d.replica.role(), RaftRole::Leader);
    d.fetch(2, 1, 0, 0);
    d.advance(half_ms);
    assert_eq!(d.replica.role(), RaftRole::Leader);
    // An observer does not count.
    d.fetch(observer, 1, 0, 0);
    d.advance(half_ms);
    assert_eq!(d.replica.role(), RaftRole::Resigned);
    assert!(d.events.contains(&RaftEvent::Resigned {
        epoch: 1,
        why: ResignReason::CheckQuorum
    }));
    assert!(d.take_sent().iter().any(|(to, m)| *to == 1
        && matches!(
            m,
            RaftMessage::EndQuorumEpoch {
                epoch: 1,
                leader: 0,
                ..
            }
        )));
}

#[test]
fn leader_before_3_7_never_checks_the_quorum() {
    let mut d = leader_at(1, QuorumConfig::kafka_3_6());
    d.advance(60_000);
    assert_eq!(d.replica.role(), RaftRole::Leader);
}

/// `testLeaderShouldNotResignLeadershipIfOnlyOneVoters`.
#[test]
fn a_single_voter_leader_never_resigns() {
    let mut d = Driver::start(0, &[0], QuorumConfig::kafka_4_0(), RaftDisk::new());
    d.advance(2_000);
    assert_eq!(d.replica.role(), RaftRole::Leader);
    assert_eq!(d.replica.epoch(), 1);
    assert_eq!(
        d.replica.high_watermark(),
        1,
        "alone, its LeaderChange is committed"
    );
    d.advance(60_000);
    assert_eq!(d.replica.role(), RaftRole::Leader);
    assert_eq!(
        d.with(|r, now, out| r.append(now, vec!["a"], out)),
        Ok((1, 1))
    );
    assert_eq!(d.replica.high_watermark(), 2);
}

/// `testFollowerLogReconciliation`.
#[test]
fn follower_truncates_to_the_diverging_epoch_and_fetches_from_there() {
    let mut disk = disk_at(5, Some(1), None);
    for value in ["foo", "bar", "baz"] {
        disk.log.append(Entry {
            append_time_ms: 0,
            epoch: 3,
            body: EntryBody::Data(value),
        });
    }
    disk.log.flush();
    let mut d = Driver::start(0, &[0, 1, 2], QuorumConfig::kafka_3_7(), disk);
    assert_eq!(d.replica.role(), RaftRole::Follower);
    let (to, offset, last_epoch, correlation_id) = d.last_fetch();
    assert_eq!((to, offset, last_epoch), (1, 3, 3));
    d.deliver(
        1,
        RaftMessage::FetchResponse(FetchResponse {
            epoch: 5,
            leader: Some(1),
            high_watermark: Some(1),
            records: Vec::new(),
            diverging_epoch: Some((3, 2)),
            snapshot_id: None,
            error: None,
            correlation_id,
        }),
    );
    assert_eq!(d.replica.log().end_offset(), 2);
    assert_eq!(d.replica.high_watermark(), 1);
    assert!(d.events.contains(&RaftEvent::Truncated { from: 3, to: 2 }));
    let (to, offset, last_epoch, _) = d.last_fetch();
    assert_eq!((to, offset, last_epoch), (1, 2, 3));
}

#[test]
fn follower_ignores_a_late_answer_to_a_fetch_it_gave_up_on() {
    let mut d = Driver::start(
        0,
        &[0, 1, 2],
        QuorumConfig {
            request_timeout_ms: 1000,
            ..QuorumConfig::kafka_3_7()
        },
        disk_at(2, Some(1), None),
    );
    let (_, _, _, first) = d.last_fetch();
    d.advance(999);
    d.advance(1);
    let (_, _, _, second) = d.last_fetch();
    assert_ne!(first, second, "the fetch was sent again");
    let answer = |correlation_id| {
        RaftMessage::FetchResponse(FetchResponse {
            epoch: 2,
            leader: Some(1),
            high_watermark: None,
            records: vec![Entry {
                append_time_ms: 0,
                epoch: 2,
                body: EntryBody::Data("x"),
            }],
            diverging_epoch: None,
            snapshot_id: None,
            error: None,
            correlation_id,
        })
    };
    d.deliver(1, answer(first));
    assert_eq!(d.replica.log().end_offset(), 0);
    d.deliver(1, answer(second));
    assert_eq!(d.replica.log().end_offset(), 1);
    assert_eq!(
        d.replica.log().flushed_end_offset(),
        1,
        "a voter flushes each batch"
    );
}

/// `testHandleVoteRequestAsFollowerWithElectedLeader`.
#[test]
fn follower_rejects_a_vote_in_an_epoch_whose_leader_it_knows() {
    let mut d = Driver::start(
        0,
        &[0, 1, 2],
        QuorumConfig::kafka_3_7(),
        disk_at(2, Some(1), None),
    );
    d.vote(2, 2, false);
    assert_eq!(d.last_vote_response(), (2, Some(1), false));
    assert_eq!(d.replica.leader(), Some((1, 2)));
    assert_eq!(d.replica.voted(), None);
}

/// `testRejectVotesFromSameEpochAfterResigningLeadership` and
/// `testGrantVotesFromHigherEpochAfterResigningLeadership`.
#[test]
fn resigned_leader_rejects_a_same_epoch_vote_and_grants_a_higher_one() {
    let mut d = leader_at(2, QuorumConfig::kafka_3_7());
    d.with(|r, now, out| r.resign(now, out));
    assert_eq!(d.replica.role(), RaftRole::Resigned);
    assert_eq!(d.replica.disk().quorum_state.leader, Some(0));
    d.vote(1, 2, false);
    assert_eq!(d.last_vote_response(), (2, Some(0), false));
    d.vote(1, 3, false);
    assert_eq!(d.last_vote_response(), (3, None, true));
    assert_eq!(d.replica.role(), RaftRole::Unattached);
    assert_eq!(d.replica.voted(), Some(1));
}

/// `testRejectVotesFromSameEpochAfterResigningCandidacy` and
/// `testGrantVotesFromHigherEpochAfterResigningCandidacy`.
#[test]
fn candidate_rejects_a_same_epoch_vote_and_grants_a_higher_one() {
    let config = QuorumConfig::kafka_3_7();
    let mut d = Driver::start(0, &[0, 1, 2], config, disk_at(2, None, Some(0)));
    assert_eq!(d.replica.role(), RaftRole::Candidate);
    d.vote(1, 2, false);
    assert_eq!(d.last_vote_response(), (2, None, false));
    d.vote(1, 3, false);
    assert_eq!(d.last_vote_response(), (3, None, true));
    assert_eq!(
        d.replica.disk().quorum_state,
        ElectionState {
            epoch: 3,
            leader: None,
            voted: Some(1)
        }
    );
}

#[test]
fn vote_granting_follows_the_epoch_and_log_rules() {
    let mut disk = disk_at(4, None, None);
    disk.log.append(Entry {
        append_time_ms: 0,
        epoch: 3,
        body: EntryBody::Data("a"),
    });
    disk.log.append(Entry {
        append_time_ms: 0,
        epoch: 3,
        body: EntryBody::Data("b"),
    });
    disk.log.flush();
    let mut d = Driver::start(0, &[0, 1, 2], QuorumConfig::kafka_3_7(), disk);
    let ask = |d: &mut Driver, from, epoch, last_epoch, last_end_offset| {
        d.deliver(
            from,
            RaftMessage::Vote {
                epoch,
                candidate: from,
                last_epoch,
                last_end_offset,
                pre_vote: false,
            },
        );
        d.last_vote_response()
    };
    // Lower epoch: fenced.
    assert_eq!(ask(&mut d, 1, 3, 2, 9), (4, None, false));
    // A shorter log in the same last epoch, then an older last epoch: rejected.
    assert_eq!(ask(&mut d, 1, 4, 3, 1), (4, None, false));
    assert_eq!(ask(&mut d, 1, 4, 2, 9), (4, None, false));
    // As long: granted, and durably.
    assert_eq!(ask(&mut d, 1, 4, 3, 2), (4, None, true));
    assert_eq!(d.replica.disk().quorum_state.voted, Some(1));
    // One vote per epoch: the same candidate again yes, another no, even with a longer log.
    assert_eq!(ask(&mut d, 1, 4, 3, 2), (4, None, true));
    assert_eq!(ask(&mut d, 2, 4, 3, 5), (4, None, false));
}

/// `testVoterBecomeCandidateAfterFetchTimeout`.
#[test]
fn voter_becomes_candidate_after_the_fetch_timeout() {
    let config = QuorumConfig::kafka_3_7();
    let mut d = Driver::start(0, &[0, 1, 2], config.clone(), disk_at(2, Some(1), None));
    d.advance(config.fetch_timeout_ms - 1);
    assert_eq!(d.replica.role(), RaftRole::Follower);
    d.advance(1);
    assert_eq!(d.replica.role(), RaftRole::Candidate);
    assert_eq!(d.replica.epoch(), 3);
    assert_eq!(d.replica.disk().quorum_state.voted, Some(0));
}

/// `testFollowerAsObserverDoesNotBecomeCandidateAfterFetchTimeout`.
#[test]
fn observer_keeps_following_after_the_fetch_timeout_and_asks_the_voters() {
    let config = QuorumConfig::kafka_3_7();
    let mut d = Driver::start(9, &[0, 1, 2], config.clone(), disk_at(2, Some(1), None));
    assert!(!d.replica.is_voter());
    d.advance(config.fetch_timeout_ms * 3);
    assert_eq!(d.replica.role(), RaftRole::Follower);
    assert_eq!(d.replica.epoch(), 2);
    assert!(d
        .sent
        .iter()
        .all(|(_, m)| !matches!(m, RaftMessage::Vote { .. })));
    // It asked a voter; the answer names a newer leader, which it follows.
    let (to, _, _, correlation_id) = d.last_fetch();
    d.deliver(
        to,
        RaftMessage::FetchResponse(FetchResponse {
            epoch: 3,
            leader: Some(2),
            high_watermark: None,
            records: Vec::new(),
            diverging_epoch: None,
            snapshot_id: None,
            error: Some(RaftError::FencedLeaderEpoch),
            correlation_id,
        }),
    );
    assert_eq!(d.replica.leader(), Some((2, 3)));
    assert_eq!(d.last_fetch().0, 2);
}

/// `testHandleEndQuorumRequest`: the first preferred successor runs at once.
#[test]
fn first_preferred_successor_runs_at_once_after_end_quorum_epoch() {
    let mut d = Driver::start(
        0,
        &[0, 1, 2],
        QuorumConfig::kafka_3_7(),
        disk_at(2, Some(1), None),
    );
    d.deliver(
        1,
        RaftMessage::EndQuorumEpoch {
            epoch: 2,
            leader: 1,
            preferred_successors: vec![0, 2],
        },
    );
    d.advance(0);
    assert_eq!(d.replica.role(), RaftRole::Candidate);
    assert_eq!(d.replica.epoch(), 3);
}

/// `testHandleEndQuorumRequestWithLowerPriorityToBecomeLeader`: the second waits
/// `RETRY_BACKOFF_BASE_MS`.
#[test]
fn later_preferred_successor_backs_off_after_end_quorum_epoch() {
    let mut d = Driver::start(
        0,
        &[0, 1, 2],
        QuorumConfig::kafka_3_7(),
        disk_at(2, Some(1), None),
    );
    d.deliver(
        1,
        RaftMessage::EndQuorumEpoch {
            epoch: 2,
            leader: 1,
            preferred_successors: vec![2, 0],
        },
    );
    d.advance(RETRY_BACKOFF_BASE_MS - 1);
    assert_eq!(d.replica.role(), RaftRole::Follower);
    d.advance(1);
    assert_eq!(d.replica.role(), RaftRole::Candidate);
}

/// `testLeaderGracefulShutdown` and `testEndQuorumEpochSentBasedOnFetchOffset`.
#[test]
fn graceful_resign_prefers_the_most_replicated_voter() {
    let mut d = leader_at(
        1,
        QuorumConfig {
            request_timeout_ms: 500,
            ..QuorumConfig::kafka_3_7()
        },
    );
    d.with(|r, now, out| r.append(now, vec!["a", "b"], out))
        .unwrap();
    d.fetch(1, 1, 1, 1);
    d.fetch(2, 1, 3, 1);
    d.take_sent();
    d.with(|r, now, out| r.resign(now, out));
    assert!(d.events.contains(&RaftEvent::Resigned {
        epoch: 1,
        why: ResignReason::Shutdown
    }));
    let ends: Vec<_> = d
        .take_sent()
        .into_iter()
        .filter_map(|(to, m)| match m {
            RaftMessage::EndQuorumEpoch {
                preferred_successors,
                ..
            } => Some((to, preferred_successors)),
            _ => None,
        })
        .collect();
    assert_eq!(ends, vec![(1, vec![2, 1]), (2, vec![2, 1])]);
    // Unacknowledged voters hear it again.
    d.deliver(
        2,
        RaftMessage::EndQuorumEpochResponse {
            epoch: 1,
            leader: Some(0),
            error: None,
        },
    );
    d.advance(500);
    let again: Vec<_> = d
        .take_sent()
        .into_iter()
        .filter(|(_, m)| matches!(m, RaftMessage::EndQuorumEpoch { .. }))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(again, vec![1]);
}

#[test]
fn restarted_leader_comes_back_resigned() {
    let d = leader_at(1, QuorumConfig::kafka_3_7());
    let mut disk = d.replica.into_disk();
    disk.crash();
    let d = Driver::start(0, &[0, 1, 2], QuorumConfig::kafka_3_7(), disk);
    assert_eq!(d.replica.role(), RaftRole::Resigned);
    assert_eq!(d.replica.epoch(), 1);
}

#[test]
fn crash_loses_only_the_unflushed_tail() {
    let mut log: RaftLog<&str> = RaftLog::new();
    log.append(Entry {
        append_time_ms: 0,
        epoch: 1,
        body: EntryBody::Data("a"),
    });
    log.flush();
    log.append(Entry {
        append_time_ms: 0,
        epoch: 2,
        body: EntryBody::Data("b"),
    });
    let mut disk = RaftDisk {
        log,
        quorum_state: ElectionState::default(),
    };
    disk.crash();
    assert_eq!(disk.log.end_offset(), 1);
    assert_eq!(disk.log.last_epoch(), 1);
    assert_eq!(disk.log.end_offset_for_epoch(2), (1, 1));
}

#[test]
fn epoch_cache_end_offsets_as_leader_epoch_file_cache() {
    let mut log: RaftLog<&str> = RaftLog::new();
    assert_eq!(log.end_offset_for_epoch(0), (0, 0));
    for epoch in [2, 2, 4, 4, 4, 7] {
        log.append(Entry {
            append_time_ms: 0,
            epoch,
            body: EntryBody::Data("x"),
        });
    }
    assert_eq!(log.end_offset_for_epoch(7), (7, 6));
    assert_eq!(log.end_offset_for_epoch(5), (4, 5));
    assert_eq!(log.end_offset_for_epoch(4), (4, 5));
    assert_eq!(log.end_offset_for_epoch(2), (2, 2));
    assert_eq!(log.end_offset_for_epoch(1), (1, 0));
    assert_eq!(log.end_offset_for_epoch(8), (7, 6));
    log.truncate_to(3);
    assert_eq!(log.last_epoch(), 4);
    assert_eq!(log.end_offset_for_epoch(4), (4, 3));
    assert_eq!(log.end_offset_for_epoch(7), (4, 3));
}

// Pre-vote (KIP-996, `KafkaRaftClientPreVoteTest`)
// ----------------------------------------------------------------------------------------

#[test]
fn follower_grants_a_pre_vote_only_before_it_fetched_from_its_leader() {
    let mut d = Driver::start(
        0,
        &[0, 1, 2],
        QuorumConfig::kafka_4_0(),
        disk_at(2, Some(1), None),
    );
    d.vote(2, 2, true);
    assert_eq!(d.last_vote_response(), (2, Some(1), true));
    let (_, _, _, correlation_id) = d.last_fetch();
    d.deliver(
        1,
        RaftMessage::FetchResponse(FetchResponse {
            epoch: 2,
            leader: Some(1),
            high_watermark: None,
            records: Vec::new(),
            diverging_epoch: None,
            snapshot_id: None,
            error: None,
            correlation_id,
        }),
    );
    d.vote(2, 2, true);
    assert_eq!(d.last_vote_response(), (2, Some(1), false));
    assert_eq!(d.replica.epoch(), 2, "a pre-vote changes nothing");
    assert_eq!(d.replica.voted(), None);
}

#[test]
fn leader_rejects_pre_votes() {
    let mut d = leader_at(2, QuorumConfig::kafka_4_0());
    d.vote(1, 2, true);
    assert_eq!(d.last_vote_response(), (2, Some(0), false));
    assert_eq!(d.replica.role(), RaftRole::Leader);
}

#[test]
fn with_pre_vote_a_voter_becomes_prospective_and_keeps_its_epoch() {
    let config = QuorumConfig::kafka_4_0();
    let mut d = Driver::start(0, &[0, 1, 2], config.clone(), disk_at(2, Some(1), None));
    d.advance(config.fetch_timeout_ms);
    assert_eq!(d.replica.role(), RaftRole::Prospective);
    assert_eq!(d.replica.epoch(), 2);
    assert_eq!(
        d.replica.disk().quorum_state.voted,
        None,
        "nothing persisted"
    );
    assert!(d.sent.iter().any(|(to, m)| *to == 2
        && matches!(
            m,
            RaftMessage::Vote {
                epoch: 2,
                pre_vote: true,
                ..
            }
        )));
    // Rejected by both: back to following the leader it knew.
    for from in [1, 2] {
        d.deliver(
            from,
            RaftMessage::VoteResponse {
                epoch: 2,
                leader: Some(1),
                granted: false,
                pre_vote: true,
                error: None,
            },
        );
    }
    assert_eq!(d.replica.role(), RaftRole::Follower);
    assert_eq!(d.replica.leader(), Some((1, 2)));
    // Granted by one: a candidate of epoch 3.
    d.advance(config.fetch_timeout_ms);
    assert_eq!(d.replica.role(), RaftRole::Prospective);
    d.deliver(
        2,
        RaftMessage::VoteResponse {
            epoch: 2,
            leader: None,
            granted: true,
            pre_vote: true,
            error: None,
        },
    );
    assert_eq!(d.replica.role(), RaftRole::Candidate);
    assert_eq!(d.replica.epoch(), 3);
}

/// `testBeginQuorumEpochHeartbeat`, as far as the model goes: BeginQuorumEpoch goes again
/// every half fetch timeout to the voters that have neither answered nor fetched.
#[test]
fn leader_resends_begin_quorum_epoch_until_each_voter_answers() {
    let config = QuorumConfig::kafka_3_7();
    let mut d = leader_at(1, config.clone());
    d.take_sent();
    d.fetch(1, 1, 0, 0);
    d.take_sent();
    d.advance(config.begin_quorum_epoch_timeout_ms());
    let begins: Vec<_> = d
        .take_sent()
        .into_iter()
        .filter(|(_, m)| matches!(m, RaftMessage::BeginQuorumEpoch { .. }))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(begins, vec![2]);
    d.deliver(
        2,
        RaftMessage::BeginQuorumEpochResponse {
            epoch: 1,
            leader: Some(0),
            error: None,
        },
    );
    d.advance(config.begin_quorum_epoch_timeout_ms());
    assert!(d
        .take_sent()
        .iter()
        .all(|(_, m)| !matches!(m, RaftMessage::BeginQuorumEpoch { .. })));
}

#[test]
fn unattached_voter_follows_the_leader_named_by_begin_quorum_epoch() {
    let mut d = Driver::start(0, &[0, 1, 2], QuorumConfig::kafka_4_0(), RaftDisk::new());
    assert_eq!(d.replica.role(), RaftRole::Unattached);
    d.deliver(
        1,
        RaftMessage::BeginQuorumEpoch {
            epoch: 3,
            leader: 1,
        },
    );
    assert_eq!(d.replica.leader(), Some((1, 3)));
    assert_eq!(
        d.replica.disk().quorum_state,
        ElectionState {
            epoch: 3,
            leader: Some(1),
            voted: None
        }
    );
    assert_eq!(d.last_fetch().0, 1);
    // An older leader is fenced.
    d.deliver(
        2,
        RaftMessage::BeginQuorumEpoch {
            epoch: 2,
            leader: 2,
        },
    );
    assert!(matches!(
        d.sent.last(),
        Some((
            2,
            RaftMessage::BeginQuorumEpochResponse {
                epoch: 3,
                error: Some(RaftError::FencedLeaderEpoch),
                ..
            }
        ))
    ));
}

#[test]
fn candidate_persists_its_vote_and_backs_off_after_a_majority_rejects() {
    let config = QuorumConfig::kafka_3_7();
    let mut d = Driver::start(0, &[0, 1, 2], config.clone(), RaftDisk::new());
    d.advance(2 * config.election_timeout_ms);
    assert_eq!(d.replica.role(), RaftRole::Candidate);
    assert_eq!(
        d.replica.disk().quorum_state,
        ElectionState {
            epoch: 1,
            leader: None,
            voted: Some(0)
        }
    );
    for from in [1, 2] {
        d.deliver(
            from,
            RaftMessage::VoteResponse {
                epoch: 1,
                leader: None,
                granted: false,
                pre_vote: false,
                error: None,
            },
        );
    }
    // Backing off: at most `election.backoff.max.ms`, then a new epoch.
    assert_eq!(d.replica.epoch(), 1);
    d.advance(config.election_backoff_max_ms);
    assert_eq!(d.replica.role(), RaftRole::Candidate);
    assert_eq!(d.replica.epoch(), 2);
}

#[test]
fn observer_never_votes_and_finds_the_leader_by_asking_voters() {
    let mut d = Driver::start(9, &[0, 1, 2], QuorumConfig::kafka_4_0(), RaftDisk::new());
    assert_eq!(d.replica.role(), RaftRole::Unattached);
    d.vote(1, 1, false);
    assert_eq!(d.last_vote_response(), (1, None, false));
    d.advance(60_000);
    assert_eq!(d.replica.role(), RaftRole::Unattached, "no election");
    let (to, _, _, correlation_id) = d.last_fetch();
    d.deliver(
        to,
        RaftMessage::FetchResponse(FetchResponse {
            epoch: 1,
            leader: Some(2),
            high_watermark: None,
            records: Vec::new(),
            diverging_epoch: None,
            snapshot_id: None,
            error: Some(RaftError::NotLeaderOrFollower),
            correlation_id,
        }),
    );
    assert_eq!(d.replica.leader(), Some((2, 1)));
    let (to, _, _, correlation_id) = d.last_fetch();
    assert_eq!(to, 2);
    d.deliver(
        2,
        RaftMessage::FetchResponse(FetchResponse {
            epoch: 1,
            leader: Some(2),
            high_watermark: Some(1),
            records: vec![Entry {
                append_time_ms: 0,
                epoch: 1,
                body: EntryBody::Data("a"),
            }],
            diverging_epoch: None,
            snapshot_id: None,
            error: None,
            correlation_id,
        }),
    );
    assert_eq!(d.replica.high_watermark(), 1);
    assert_eq!(
        d.replica.log().flushed_end_offset(),
        0,
        "observers do not flush"
    );
    assert_eq!(d.replica.take_committed().entries.len(), 1);
    let mut disk = d.replica.into_disk();
    disk.crash();
    assert_eq!(disk.log.end_offset(), 0, "the unflushed tail is lost");
}
