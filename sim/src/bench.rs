//! `kafka-sim bench`: how fast the simulated cluster moves messages, next to how fast madsim
//! alone moves them between two nodes, in the same process.
//!
//! The ratio is the figure of merit: the simulated cluster's overhead over raw madsim is the
//! Kafka logic, the per-link ordering and the recorder. Peak memory is the process's high
//! water mark (`VmHWM` on Linux).

use crate::report;
use crate::scenario::Scenario;
use crate::world;
use madsim::net::Endpoint;
use madsim::runtime::{Handle, Runtime};
use madsim::time::Duration;
use std::net::SocketAddr;
use std::time::Instant;

const STEADY_STATE: &str = include_str!("../benches/steady-state.toml");
const PING_PONG_ROUND_TRIPS: u64 = 200_000;

pub struct BenchFigures {
    pub cluster_messages: u64,
    pub cluster_wall_secs: f64,
    pub cluster_events: u64,
    pub cluster_acked: u64,
    pub raw_messages: u64,
    pub raw_wall_secs: f64,
    pub peak_rss_kib: Option<u64>,
}

impl BenchFigures {
    pub fn cluster_rate(&self) -> f64 {
        self.cluster_messages as f64 / self.cluster_wall_secs
    }
    pub fn raw_rate(&self) -> f64 {
        self.raw_messages as f64 / self.raw_wall_secs
    }
}

pub fn run() -> anyhow::Result<BenchFigures> {
    let scenario = Scenario::parse("benches/steady-state.toml", STEADY_STATE)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let result = world::run(&scenario, scenario.seed);
    let cluster_wall_secs = started.elapsed().as_secs_f64();
    let (outcome, _) = report::outcome(&scenario, scenario.seed, &result);
    if !outcome.passed() {
        anyhow::bail!(
            "the steady-state run did not meet its expectations: {}",
            outcome.expect.failures.join("; ")
        );
    }
    let (raw_messages, raw_wall_secs) = ping_pong(PING_PONG_ROUND_TRIPS);
    Ok(BenchFigures {
        cluster_messages: result.messages_sent,
        cluster_wall_secs,
        cluster_events: result.events.len() as u64,
        cluster_acked: outcome.records.acked,
        raw_messages,
        raw_wall_secs,
        peak_rss_kib: peak_rss_kib(),
    })
}

/// Two madsim nodes bouncing one message back and forth, with the same network settings the
/// world uses.
fn ping_pong(round_trips: u64) -> (u64, f64) {
    let mut config = madsim::Config::default();
    config.net.send_latency = Duration::ZERO..Duration::from_nanos(1);
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
            madsim::time::sleep(Duration::from_millis(1)).await;
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

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
