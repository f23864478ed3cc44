//! The `partitions` case: the same load on more and more partitions.

use super::*;

/// The `partitions` case's record load, the same at every size.
pub const PARTITIONS_RECORDS: u64 = 20_000;
pub const PARTITIONS_RATE: u64 = 2_000;

/// 3 brokers and `total` partitions (RF 3, min.insync.replicas 2) over `PARTITIONS_TOPICS`
/// topics, one producer per topic with 64 keys, acks=all, linger.ms 5: 20,000 records at
/// 2,000 a second in all, whatever the size.
pub fn partitions_toml(total: u32) -> String {
    let per_topic = total / PARTITIONS_TOPICS;
    let records = PARTITIONS_RECORDS / PARTITIONS_TOPICS as u64;
    let rate = PARTITIONS_RATE / PARTITIONS_TOPICS as u64;
    let mut s = format!(
        "# The bench's partitions case at {total} partitions: the same record load as at every\n\
         # other size, so the difference in speed is what idle partitions cost.\n\
         name = \"bench-partitions-{total}\"\n\
         duration = \"15s\"\n\
         settle = \"5s\"\n\
         seed = 1\n\n\
         [cluster]\n\
         brokers = 3\n"
    );
    for t in 0..PARTITIONS_TOPICS {
        s.push_str(&format!(
            "\n[[topics]]\nname = \"t{t}\"\npartitions = {per_topic}\nreplication_factor = 3\n\
             config = {{ \"min.insync.replicas\" = 2 }}\n"
        ));
    }
    for t in 0..PARTITIONS_TOPICS {
        s.push_str(&format!(
            "\n[[producers]]\nname = \"p{t}\"\ntopic = \"t{t}\"\nrecords = {records}\nrate = {rate}\n\
             keys = 64\nstart = \"1s\"\nconfig = {{ \"acks\" = \"all\", \"linger.ms\" = 5 }}\n"
        ));
    }
    s.push_str(&format!(
        "\n[expect]\nacked = \"{PARTITIONS_RECORDS}\"\nviolations = []\n"
    ));
    s
}

pub(super) fn partitions_run(total: u32) -> PartitionsRun {
    reset_peak_rss();
    let mut run = PartitionsRun {
        partitions: total,
        status: Status::Ok,
        error: None,
        sim_secs: 0.0,
        wall_secs: 0.0,
        acked: 0,
        peak_memory_mb: None,
    };
    let scenario = match parse(
        &format!("bench-partitions-{total}"),
        &partitions_toml(total),
    ) {
        Ok(s) => s,
        Err(e) => {
            run.status = Status::Failed;
            run.error = Some(e);
            return run;
        }
    };
    let started = Instant::now();
    let result = world::run(&scenario, scenario.seed);
    run.wall_secs = started.elapsed().as_secs_f64().max(1e-9);
    run.sim_secs = result.sim_time_ms as f64 / 1000.0;
    let (outcome, _) = report::outcome(&scenario, scenario.seed, &result);
    run.acked = outcome.records.acked;
    run.peak_memory_mb = peak_rss_mb();
    if !outcome.passed() {
        run.status = Status::Failed;
        run.error = Some(outcome.expect.failures.join("; "));
    }
    run
}

pub(super) fn partitions_here(counts: &[u32], watch: &Watch) -> CaseReport {
    let mut runs: Vec<PartitionsRun> = Vec::new();
    for (i, &n) in counts.iter().enumerate() {
        // What the watchdog prints if this size never finishes.
        let mut partial = runs.clone();
        for (j, &m) in counts.iter().enumerate().skip(i) {
            partial.push(PartitionsRun {
                partitions: m,
                status: if j == i {
                    Status::TimedOut
                } else {
                    Status::NotRun
                },
                error: None,
                sim_secs: 0.0,
                wall_secs: 0.0,
                acked: 0,
                peak_memory_mb: None,
            });
        }
        let mut report = partitions_report(watch.partial_shape(), partial);
        report.error = Some(format!("at {} partitions", thousands(n as f64)));
        watch.set_partial(report);
        runs.push(partitions_run(n));
    }
    partitions_report(watch.partial_shape(), runs)
}

/// The `partitions` line from its runs (in this process or in children).
pub fn partitions_report(shape: String, mut runs: Vec<PartitionsRun>) -> CaseReport {
    runs.sort_by_key(|r| r.partitions);
    let mut report = CaseReport::new(Case::Partitions, shape);
    let sim_over_wall = |r: &PartitionsRun| {
        (r.status == Status::Ok && r.wall_secs > 0.0).then(|| r.sim_secs / r.wall_secs)
    };
    for r in &runs {
        let mut f = Figure::new(
            &format!("sim/wall @{}", thousands(r.partitions as f64)),
            sim_over_wall(r),
            "x",
        );
        if r.status != Status::Ok {
            f = f.note(r.status.words());
        }
        report.figures.push(f);
    }
    if let (Some(small), Some(large)) = (runs.first(), runs.last()) {
        if runs.len() > 1 {
            let slowdown = sim_over_wall(small)
                .zip(sim_over_wall(large))
                .map(|(s, l)| s / l);
            report.figures.push(
                Figure::new(
                    &format!(
                        "slowdown {}->{}",
                        thousands(small.partitions as f64),
                        thousands(large.partitions as f64)
                    ),
                    slowdown,
                    "x",
                )
                .at_most(2.0),
            );
        }
    }
    let peak = runs
        .iter()
        .filter_map(|r| r.peak_memory_mb)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    report.figures.push(Figure::new("peak memory", peak, "MB"));
    let bad: Vec<&PartitionsRun> = runs.iter().filter(|r| r.status != Status::Ok).collect();
    if !bad.is_empty() {
        report.status = if bad.iter().any(|r| r.status == Status::Failed) {
            Status::Failed
        } else {
            Status::TimedOut
        };
        report.error = Some(
            bad.iter()
                .map(|r| {
                    let mut s = format!(
                        "{} partitions {}",
                        thousands(r.partitions as f64),
                        r.status.words()
                    );
                    if let Some(e) = &r.error {
                        s.push_str(&format!(" ({e})"));
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    report.wall_secs = runs.iter().map(|r| r.wall_secs).sum();
    report.runs = runs;
    report
}
