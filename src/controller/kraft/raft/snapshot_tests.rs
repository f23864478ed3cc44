//! Snapshots (KIP-630) driven by hand, after Kafka's `KafkaRaftClientSnapshotTest`,
//! `KafkaMetadataLogTest` and the rules of `ReplicatedLog.validateOffsetAndEpoch`.

use super::tests::{disk_at, leader_at, Driver, Message};
use super::*;

fn entry(epoch: RaftEpoch, value: &'static str) -> Entry<&'static str> {
    Entry {
        epoch,
        append_time_ms: 0,
        body: EntryBody::Data(value),
    }
}

fn snapshot(end_offset: u64, epoch: RaftEpoch, records: &[&'static str]) -> Snapshot<&'static str> {
    Snapshot {
        id: SnapshotId { end_offset, epoch },
        last_contained_log_time_ms: 0,
        records: records.to_vec(),
    }
}

/// Offsets 0–1 in epoch 1, 2–3 in epoch 2, 4–6 in epoch 3; snapshots at (4, 2) and (6, 3);
/// the log start moved up to the first.
fn cleaned_log() -> RaftLog<&'static str> {
    let mut log = RaftLog::new();
    for epoch in [1, 1, 2, 2, 3, 3, 3] {
        log.append(entry(epoch, "x"));
    }
    assert!(log.add_snapshot(snapshot(4, 2, &["s4"])));
    assert!(log.add_snapshot(snapshot(6, 3, &["s6"])));
    assert!(log.delete_before_snapshot(
        SnapshotId {
            end_offset: 4,
            epoch: 2
        },
        7
    ));
    log
}

#[test]
fn deleting_before_a_snapshot_moves_the_log_start_and_keeps_the_epoch_cache_from_there() {
    let log = cleaned_log();
    assert_eq!(log.log_start_offset(), 4);
    assert_eq!(log.end_offset(), 7);
    assert_eq!(log.get(3), None);
    assert_eq!(log.get(4), Some(&entry(3, "x")));
    assert_eq!(log.epoch_starts_below(7), vec![(3, 4)]);
    assert_eq!(log.snapshot_ids().len(), 2, "older snapshots only go");
    // An epoch older than the log ends at the earliest snapshot (`endOffsetForEpoch`).
    assert_eq!(log.end_offset_for_epoch(2), (2, 4));
    assert_eq!(log.end_offset_for_epoch(3), (3, 7));
}

#[test]
fn the_log_start_never_passes_the_high_watermark_or_the_latest_snapshot() {
    let mut log: RaftLog<&str> = RaftLog::new();
    for _ in 0..5 {
        log.append(entry(1, "x"));
    }
    log.add_snapshot(snapshot(2, 1, &[]));
    log.add_snapshot(snapshot(4, 1, &[]));
    let at_4 = SnapshotId {
        end_offset: 4,
        epoch: 1,
    };
    assert!(!log.delete_before_snapshot(at_4, 3), "past the HW");
    assert!(!log.delete_before_snapshot(
        SnapshotId {
            end_offset: 5,
            epoch: 1
        },
        5
    ));
    assert!(log.delete_before_snapshot(at_4, 4));
    assert!(!log.delete_before_snapshot(at_4, 4), "already there");
}

/// `ReplicatedLog.validateOffsetAndEpoch`'s cases.
#[test]
fn a_fetch_position_is_valid_diverging_or_sent_to_a_snapshot() {
    let log = cleaned_log();
    let latest = FetchPosition::Snapshot(SnapshotId {
        end_offset: 6,
        epoch: 3,
    });
    let check = |offset, epoch| log.validate_fetch_position(offset, epoch, false);
    assert_eq!(check(0, 0), latest, "below the log start");
    assert_eq!(check(3, 2), latest, "below the log start");
    assert_eq!(
        check(4, 1),
        latest,
        "at the log start, not the snapshot's epoch"
    );
    assert_eq!(
        check(5, 1),
        latest,
        "an epoch older than the earliest snapshot's"
    );
    assert_eq!(check(4, 2), FetchPosition::Valid, "exactly at the snapshot");
    assert_eq!(check(5, 3), FetchPosition::Valid);
    assert_eq!(check(7, 3), FetchPosition::Valid);
    assert_eq!(check(8, 3), FetchPosition::Diverging(3, 7));
    assert_eq!(check(6, 4), FetchPosition::Diverging(3, 7));
}

/// KAFKA-16532 (3.9): an empty fetcher is sent the latest snapshot even when the log still
/// starts at 0; before, it reads the log from 0.
#[test]
fn an_empty_fetcher_gets_the_snapshot_from_3_9() {
    let mut log: RaftLog<&str> = RaftLog::new();
    for _ in 0..4 {
        log.append(entry(1, "x"));
    }
    log.add_snapshot(snapshot(3, 1, &[]));
    assert_eq!(
        log.validate_fetch_position(0, 0, false),
        FetchPosition::Valid
    );
    assert_eq!(
        log.validate_fetch_position(0, 0, true),
        FetchPosition::Snapshot(SnapshotId {
            end_offset: 3,
            epoch: 1
        })
    );
    assert_eq!(
        log.validate_fetch_position(2, 1, true),
        FetchPosition::Valid
    );
    assert!(!QuorumConfig::for_version(version("3.8.1")).snapshot_for_empty_fetcher);
    assert!(QuorumConfig::for_version(version("3.9.0")).snapshot_for_empty_fetcher);
    assert!(QuorumConfig::for_version(version("4.0.0")).snapshot_for_empty_fetcher);
}

fn version(v: &str) -> crate::kafka_version::KafkaVersion {
    crate::kafka_version::KafkaVersion::parse(v).expect("a known release")
}

/// `KafkaMetadataLog.truncateToLatestSnapshot` through a power loss: an observer's unflushed
/// tail is gone, but a snapshot past it survives, and the log starts over there.
#[test]
fn a_crash_below_a_snapshot_starts_the_log_at_the_snapshot() {
    let mut disk: RaftDisk<&str> = RaftDisk::new();
    for _ in 0..6 {
        disk.log.append(entry(2, "x"));
    }
    disk.log.add_snapshot(snapshot(4, 2, &["s"]));
    disk.crash();
    assert_eq!(disk.log.log_start_offset(), 4);
    assert_eq!(disk.log.end_offset(), 4);
    assert_eq!(disk.log.last_epoch(), 2, "the snapshot's epoch");
}

/// A leader with records 1–2 committed, two snapshots, and a cleaner that keeps a snapshot
/// 10 ms and runs every 100 ms.
fn cleaned_leader() -> Driver {
    let config = QuorumConfig {
        metadata_max_retention_ms: Some(10),
        log_clean_interval_ms: 100,
        ..QuorumConfig::kafka_3_7()
    };
    let mut d = leader_at(2, config);
    d.with(|r, now, out| r.append(now, vec!["a", "b"], out))
        .expect("the leader appends");
    d.fetch(1, 2, 3, 2);
    assert_eq!(d.replica.high_watermark(), 3);
    let first = d.replica.create_snapshot(2, vec!["a"]);
    assert_eq!(
        first,
        Some(SnapshotId {
            end_offset: 2,
            epoch: 2
        })
    );
    assert_eq!(d.replica.create_snapshot(2, vec!["a"]), None, "exists");
    assert!(d.replica.create_snapshot(3, vec!["a", "b"]).is_some());
    d.fetch(1, 2, 3, 2);
    assert_eq!(d.replica.log().log_start_offset(), 0, "not cleaned yet");
    d.advance(150);
    d.fetch(1, 2, 3, 2);
    assert_eq!(
        d.replica.log().log_start_offset(),
        3,
        "the older snapshot outlived its retention and went with the log below the next"
    );
    assert!(d.events.contains(&RaftEvent::LogStartMoved {
        log_start_offset: 3
    }));
    assert_eq!(d.replica.log().snapshot_ids().len(), 1, "the latest stays");
    d
}

#[test]
fn a_leader_answers_a_fetch_below_its_log_start_with_its_latest_snapshot() {
    let mut d = cleaned_leader();
    d.take_sent();
    d.fetch(2, 2, 1, 2);
    let latest = SnapshotId {
        end_offset: 3,
        epoch: 2,
    };
    match d.take_sent().as_slice() {
        [(2, RaftMessage::FetchResponse(r))] => {
            assert_eq!(r.snapshot_id, Some(latest));
            assert!(r.records.is_empty() && r.diverging_epoch.is_none());
        }
        other => panic!("expected a FetchResponse with a snapshot id, got {other:?}"),
    }
    let fetch_snapshot = |id| RaftMessage::FetchSnapshot {
        epoch: 2,
        snapshot_id: id,
        replica_id: 2,
        correlation_id: 9,
    };
    d.deliver(2, fetch_snapshot(latest));
    match d.take_sent().as_slice() {
        [(
            2,
            RaftMessage::FetchSnapshotResponse {
                snapshot: Some(s),
                error: None,
                correlation_id: 9,
                ..
            },
        )] => assert_eq!(s.records, vec!["a", "b"]),
        other => panic!("expected the snapshot, got {other:?}"),
    }
    // The older snapshot went with the cleaning.
    d.deliver(
        2,
        fetch_snapshot(SnapshotId {
            end_offset: 2,
            epoch: 2,
        }),
    );
    match d.take_sent().as_slice() {
        [(
            2,
            RaftMessage::FetchSnapshotResponse {
                snapshot: None,
                error: Some(RaftError::SnapshotNotFound),
                ..
            },
        )] => {}
        other => panic!("expected SNAPSHOT_NOT_FOUND, got {other:?}"),
    }
}

fn last_fetch_snapshot(d: &Driver) -> (RaftNodeId, SnapshotId, u64) {
    d.sent
        .iter()
        .rev()
        .find_map(|(to, m)| match m {
            RaftMessage::FetchSnapshot {
                snapshot_id,
                correlation_id,
                ..
            } => Some((*to, *snapshot_id, *correlation_id)),
            _ => None,
        })
        .expect("a FetchSnapshot was sent")
}

fn snapshot_answer(
    snapshot: Option<Snapshot<&'static str>>,
    error: Option<RaftError>,
    correlation_id: u64,
) -> Message {
    RaftMessage::FetchSnapshotResponse {
        epoch: 5,
        leader: Some(1),
        snapshot,
        error,
        correlation_id,
    }
}

/// A follower with an empty log in epoch 5 of leader 1, told to fetch snapshot (10, 4).
fn follower_sent_to_a_snapshot() -> Driver {
    let mut d = Driver::start(
        0,
        &[0, 1, 2],
        QuorumConfig::kafka_4_0(),
        disk_at(5, Some(1), None),
    );
    let (to, offset, last_epoch, correlation_id) = d.last_fetch();
    assert_eq!((to, offset, last_epoch), (1, 0, 0));
    d.deliver(
        1,
        RaftMessage::FetchResponse(FetchResponse {
            epoch: 5,
            leader: Some(1),
            high_watermark: Some(12),
            records: Vec::new(),
            diverging_epoch: None,
            snapshot_id: Some(SnapshotId {
                end_offset: 10,
                epoch: 4,
            }),
            error: None,
            correlation_id,
        }),
    );
    d
}

#[test]
fn a_follower_downloads_the_snapshot_then_fetches_after_it_and_hands_it_over_first() {
    let mut d = follower_sent_to_a_snapshot();
    let (to, id, correlation_id) = last_fetch_snapshot(&d);
    assert_eq!((to, id.end_offset, id.epoch), (1, 10, 4));
    d.deliver(
        1,
        snapshot_answer(Some(snapshot(10, 4, &["s"])), None, correlation_id),
    );
    let log = d.replica.log();
    assert_eq!((log.log_start_offset(), log.end_offset()), (10, 10));
    assert_eq!(log.last_epoch(), 4);
    assert_eq!(d.replica.high_watermark(), 10);
    assert!(d.events.contains(&RaftEvent::SnapshotFetched {
        id,
        from: 1,
        log_end_offset_before: 0
    }));
    let (to, offset, last_epoch, _) = d.last_fetch();
    assert_eq!((to, offset, last_epoch), (1, 10, 4));
    let committed = d.replica.take_committed();
    assert_eq!(committed.snapshot.map(|s| s.records), Some(vec!["s"]));
    assert!(committed.entries.is_empty());
    assert!(d.replica.take_committed().is_empty());
}

#[test]
fn a_follower_whose_snapshot_the_leader_lost_starts_over_with_a_fetch() {
    let mut d = follower_sent_to_a_snapshot();
    let (_, _, correlation_id) = last_fetch_snapshot(&d);
    d.take_sent();
    d.deliver(
        1,
        snapshot_answer(None, Some(RaftError::SnapshotNotFound), correlation_id),
    );
    let (to, offset, _, _) = d.last_fetch();
    assert_eq!((to, offset), (1, 0));
    assert_eq!(d.replica.log().log_start_offset(), 0);
}

/// `updateListenersProgress`: a listener that starts (or restarts) is given the latest
/// snapshot before the records after it, once the high watermark is known.
#[test]
fn a_restarted_replica_hands_over_its_own_snapshot_first() {
    let mut disk = disk_at(1, Some(1), None);
    for value in ["a", "b", "c", "d", "e"] {
        disk.log.append(entry(1, value));
    }
    disk.log.flush();
    disk.log.add_snapshot(snapshot(3, 1, &["abc"]));
    let mut d = Driver::start(0, &[0, 1, 2], QuorumConfig::kafka_4_0(), disk);
    assert!(
        d.replica.take_committed().is_empty(),
        "the HW is not known yet"
    );
    let (_, _, _, correlation_id) = d.last_fetch();
    d.deliver(
        1,
        RaftMessage::FetchResponse(FetchResponse {
            epoch: 1,
            leader: Some(1),
            high_watermark: Some(5),
            records: Vec::new(),
            diverging_epoch: None,
            snapshot_id: None,
            error: None,
            correlation_id,
        }),
    );
    let committed = d.replica.take_committed();
    assert_eq!(committed.snapshot.map(|s| s.id.end_offset), Some(3));
    let offsets: Vec<u64> = committed.entries.iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets, vec![3, 4]);
}
