//! The `steady` case (a steady cluster next to a raw madsim ping-pong) and the `sweep` case.

use super::*;

pub(super) fn steady(watch: &Watch) -> CaseReport {
    let report = CaseReport::new(Case::Steady, watch.partial_shape());
    let scenario = match parse("benches/steady-state.toml", STEADY_STATE) {
        Ok(s) => s,
        Err(e) => return report.failed(e),
    };
    let started = Instant::now();
    let result = world::run(&scenario, scenario.seed);
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let (outcome, _) = report::outcome(&scenario, scenario.seed, &result);
    if !outcome.passed() {
        return report.failed(format!(
            "the steady state did not meet its expectations: {}",
            outcome.expect.failures.join("; ")
        ));
    }
    let records_per_sec = outcome.records.acked as f64 / wall;
    let sim_over_wall = result.sim_time_ms as f64 / 1000.0 / wall;
    let cluster_rate = result.messages_sent as f64 / wall;
    let mut report = report;
    report.figures = vec![
        Figure::new("records/s", Some(records_per_sec), "records/s").at_least(1_000_000.0),
        Figure::new("sim/wall", Some(sim_over_wall), "x").at_least(1_000.0),
    ];
    let mut partial = report.clone();
    partial.error = Some("in the raw madsim ping-pong".into());
    watch.set_partial(partial);
    let (raw_messages, raw_wall) = ping_pong(PING_PONG_ROUND_TRIPS);
    let raw_rate = raw_messages as f64 / raw_wall.max(1e-9);
    report.figures.insert(
        0,
        Figure::new("cluster/raw", Some(cluster_rate / raw_rate), "")
            .at_least(0.5)
            .note(format!(
                "{} vs {} messages/s",
                thousands(cluster_rate),
                thousands(raw_rate)
            )),
    );
    report
        .figures
        .push(Figure::new("peak memory", peak_rss_mb(), "MB").at_most(200.0));
    report
}

/// Two madsim nodes bouncing one message back and forth, with the same network settings the
/// world uses. Returns the messages moved and the wall seconds it took.
pub(super) fn ping_pong(round_trips: u64) -> (u64, f64) {
    let mut config = madsim::Config::default();
    config.net.send_latency = madsim::time::Duration::ZERO..madsim::time::Duration::from_nanos(1);
    let runtime = Runtime::with_seed_and_config(1, config);
    let started = Instant::now();
    runtime.block_on(async move {
        let handle = Handle::current();
        let a: SocketAddr = "10.9.0.1:1".parse().expect("addr");
        let b: SocketAddr = "10.9.0.2:1".parse().expect("addr");
        let pong = handle.create_node().name("pong").ip(b.ip()).build();
        let ping = handle.create_node().name("ping").ip(a.ip()).build();
        pong.spawn(async move {
            let ep = Endpoint::bind(b).await.expect("bind");
            loop {
                let (msg, from) = ep.recv_from_raw(1).await.expect("recv");
                ep.send_to_raw(from, 1, msg).await.expect("send");
            }
        });
        ping.spawn(async move {
            let ep = Endpoint::bind(a).await.expect("bind");
            madsim::time::sleep(madsim::time::Duration::from_millis(1)).await;
            for i in 0..round_trips {
                ep.send_to_raw(b, 1, Box::new(i)).await.expect("send");
                ep.recv_from_raw(1).await.expect("recv");
            }
        })
        .await
        .expect("ping task");
    });
    (round_trips * 2, started.elapsed().as_secs_f64())
}

pub(super) fn sweep_case(watch: &Watch) -> CaseReport {
    let report = CaseReport::new(Case::Sweep, watch.partial_shape());
    let scenario = match parse(
        "scenarios/random-faults-acks-all.toml",
        RANDOM_FAULTS_ACKS_ALL,
    ) {
        Ok(s) => s,
        Err(e) => return report.failed(e),
    };
    let seeds: Vec<u64> = (0..SWEEP_SEEDS).collect();
    let started = Instant::now();
    let outcomes = sweep::run_seeds(&scenario, &seeds, jobs(), false, Default::default());
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let failed = outcomes
        .iter()
        .filter(|o| !o.outcome().is_some_and(|o| o.passed()))
        .count();
    let mut report = report;
    report.figures = vec![
        Figure::new("seeds/s", Some(seeds.len() as f64 / wall), "seeds/s").at_least(100.0),
        Figure::new("failed seeds", Some(failed as f64), "").at_most(0.0),
        Figure::new("peak memory", peak_rss_mb(), "MB"),
    ];
    report
}
