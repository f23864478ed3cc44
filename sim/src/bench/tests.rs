//! Unit tests of the figures, the scenarios the cases run and the leader-recovery reading.

use super::*;
use kafka_model::event::ElectionReason;

#[test]
fn numbers_read_well() {
    assert_eq!(thousands(1_234_567.8), "1,234,568");
    assert_eq!(thousands(1_000.0), "1,000");
    assert_eq!(thousands(999.4), "999");
    assert_eq!(thousands(83.25), "83.2");
    assert_eq!(thousands(0.181), "0.18");
    assert_eq!(thousands(10.0), "10");
    assert_eq!(with_unit(1_000.0, "x"), "1,000x");
    assert_eq!(with_unit(117.4, "MB"), "117 MB");
}

#[test]
fn a_figure_shows_its_goal_and_whether_it_is_met() {
    let f = Figure::new("records/s", Some(128_205.0), "records/s").at_least(1_000_000.0);
    assert_eq!(
        f.text(),
        "128,205 records/s (goal >= 1,000,000 records/s: MISSED)"
    );
    let f = Figure::new("wall", Some(4.5), "s").at_most(10.0);
    assert_eq!(f.text(), "wall 4.50 s (goal <= 10 s: met)");
    let f = Figure::new("sim/wall @10", None, "x").note("timed out");
    assert_eq!(f.text(), "sim/wall @10 timed out");
}

#[test]
fn a_report_is_one_line_of_text_or_of_json() {
    let mut r = CaseReport::new(Case::Sweep, "random-faults-acks-all".into());
    r.figures
        .push(Figure::new("seeds/s", Some(12.5), "seeds/s").at_least(100.0));
    r.wall_secs = 16.0;
    assert_eq!(
        r.text(),
        "sweep (random-faults-acks-all): 12.5 seeds/s (goal >= 100 seeds/s: MISSED); wall 16.0 s"
    );
    let json = r.json();
    assert!(!json.contains('\n'));
    let back: CaseReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    let r = r.failed("boom");
    assert!(r.text().ends_with("; FAILED: boom"), "{}", r.text());
    assert!(r.json().contains(r#""status":"failed""#));
}

fn run(partitions: u32, status: Status, sim: f64, wall: f64) -> PartitionsRun {
    PartitionsRun {
        partitions,
        status,
        error: None,
        sim_secs: sim,
        wall_secs: wall,
        acked: 0,
        peak_memory_mb: Some(partitions as f64),
    }
}

#[test]
fn the_partitions_line_compares_the_largest_with_the_smallest() {
    let r = partitions_report(
        "shape".into(),
        vec![
            run(1_000, Status::Ok, 20.0, 0.5),
            run(10, Status::Ok, 20.0, 0.2),
        ],
    );
    assert_eq!(r.status, Status::Ok);
    let names: Vec<&str> = r.figures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sim/wall @10",
            "sim/wall @1,000",
            "slowdown 10->1,000",
            "peak memory"
        ]
    );
    assert_eq!(r.figures[2].value, Some(2.5));
    assert_eq!(r.figures[2].met, Some(false));
    assert_eq!(r.figures[3].value, Some(1_000.0));

    let r = partitions_report(
        "shape".into(),
        vec![
            run(10, Status::Ok, 20.0, 0.2),
            run(100, Status::TimedOut, 0.0, 0.0),
            run(1_000, Status::NotRun, 0.0, 0.0),
        ],
    );
    assert_eq!(r.status, Status::TimedOut);
    assert_eq!(r.figures[1].note.as_deref(), Some("timed out"));
    assert_eq!(r.figures[3].value, None, "no slowdown without the largest");
    assert!(
        r.text().contains("100 partitions timed out"),
        "{}",
        r.text()
    );
}

#[test]
fn generated_scenarios_parse() {
    for n in PARTITION_COUNTS {
        let s = Scenario::parse("p", &partitions_toml(n)).unwrap();
        assert_eq!(s.topics.iter().map(|t| t.partitions).sum::<u32>(), n);
        assert_eq!(
            s.producers.iter().map(|p| p.records).sum::<u64>(),
            PARTITIONS_RECORDS
        );
    }
    let shape = BigCluster::scaled(0.1);
    assert_eq!(
        shape,
        BigCluster {
            brokers: 10,
            topics: 10,
            partitions_per_topic: 100,
            producers: 10
        }
    );
    let s = Scenario::parse("big", &big_cluster_toml(&shape)).unwrap();
    assert_eq!(s.cluster.broker_ids().len(), 10);
    assert_eq!(s.producers.len(), 10);
    assert_eq!(s.duration_ms + s.settle_ms, BIG_CLUSTER_RUN_SECS * 1000);
    assert!(matches!(
        s.faults[0].action,
        FaultAction::Crash(Target::Controller)
    ));
    let full = BigCluster::scaled(1.0);
    assert_eq!(
        (full.brokers, full.partitions(), full.producers),
        (100, 10_000, 100)
    );
}

fn at(at_ms: u64, event: Event) -> RecordedEvent {
    RecordedEvent { at_ms, event }
}

fn elected(tp: &TopicPartition, leader: Option<BrokerId>) -> Event {
    Event::LeaderElected {
        tp: tp.clone(),
        leader,
        previous_leader: None,
        leader_epoch: 0,
        isr: vec![],
        unclean: false,
        reason: ElectionReason::NewPartition,
        controller_epoch: 1,
    }
}

#[test]
fn leaders_are_back_when_the_last_partition_of_the_killed_controller_has_a_new_leader() {
    let scenario = Scenario::parse(
        "t",
        "name = \"t\"\n[cluster]\nbrokers = 3\n[[topics]]\nname = \"a\"\npartitions = 3\n\
         [[faults]]\nat = \"10s\"\naction = \"crash\"\ntarget = \"controller\"\n",
    )
    .unwrap();
    let tp = |p| TopicPartition::new("a", p);
    let events = vec![
        at(
            100,
            Event::ControllerElected {
                broker: 1,
                controller_epoch: 1,
            },
        ),
        at(200, elected(&tp(0), Some(0))),
        at(200, elected(&tp(1), Some(1))),
        at(200, elected(&tp(2), Some(1))),
        at(
            16_000,
            Event::ControllerElected {
                broker: 2,
                controller_epoch: 2,
            },
        ),
        at(16_100, elected(&tp(1), Some(2))),
        at(16_100, elected(&tp(2), None)),
        at(17_000, elected(&tp(2), Some(0))),
        at(18_000, elected(&tp(0), Some(2))),
    ];
    let r = leader_recovery(&scenario, &events).unwrap();
    assert_eq!(
        r,
        LeaderRecovery {
            killed: Some(1),
            kill_at_ms: 10_000,
            leaderless_at_kill: 2,
            restored_at_ms: Some(17_000),
            leaderless_at_end: 0,
        }
    );

    // Cut short before partition 2 gets its leader: never restored.
    let r = leader_recovery(&scenario, &events[..7]).unwrap();
    assert_eq!(r.restored_at_ms, None);
    assert_eq!(r.leaderless_at_end, 1);

    // The killed broker coming back gives its partitions a live leader again.
    let mut events = events[..5].to_vec();
    events.push(at(
        30_000,
        Event::BrokerRegistered {
            broker: 1,
            session_id: 9,
        },
    ));
    let r = leader_recovery(&scenario, &events).unwrap();
    assert_eq!(r.restored_at_ms, Some(30_000));
}
