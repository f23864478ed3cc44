//! The watchdog of a case run in this process: wall time and resident memory, read from
//! `/proc` (a madsim run cannot be stopped from outside, so past a limit the watchdog prints
//! the report so far and ends the process).

use super::*;

/// The watchdog's view of a case: the report to print if the case runs out of time or
/// memory, and whether the case already printed its own.
pub(super) struct Watch {
    state: Mutex<WatchState>,
    started: Instant,
    json: bool,
}

pub(super) struct WatchState {
    printed: bool,
    partial: CaseReport,
}

impl Watch {
    pub(super) fn partial_shape(&self) -> String {
        self.state.lock().expect("watch").partial.shape.clone()
    }

    /// What to print if the case never finishes; its `error`, if set, says where the case
    /// was ("at 1,000 partitions").
    pub(super) fn set_partial(&self, report: CaseReport) {
        self.state.lock().expect("watch").partial = report;
    }

    /// Prints the final report unless the watchdog already printed one.
    pub(super) fn finish(&self, mut report: CaseReport) -> CaseReport {
        let mut state = self.state.lock().expect("watch");
        report.wall_secs = self.started.elapsed().as_secs_f64();
        if !state.printed {
            state.printed = true;
            println!("{}", report.line(self.json));
            let _ = std::io::stdout().flush();
        }
        report
    }
}

/// Runs one case here and prints its line. A thread watches the wall time and the resident
/// memory; past either limit it prints the case's report so far and ends the process (a
/// madsim run cannot be stopped from outside).
pub(super) fn run_here(case: Case, opts: &Options) -> CaseReport {
    let started = Instant::now();
    let watch = Arc::new(Watch {
        state: Mutex::new(WatchState {
            printed: false,
            partial: CaseReport::new(case, shape(case, opts)),
        }),
        started,
        json: opts.json,
    });
    {
        let watch = watch.clone();
        let timeout = opts.timeout;
        let memory_limit_mb = opts.memory_limit_mb;
        std::thread::Builder::new()
            .name("bench-watchdog".into())
            .spawn(move || watchdog(&watch, timeout, memory_limit_mb))
            .expect("spawn the watchdog");
    }
    let report = match case {
        Case::Steady => steady(&watch),
        Case::Partitions => partitions_here(&opts.partition_counts(), &watch),
        Case::BigCluster => big_cluster(opts.scale, &watch),
        Case::Sweep => sweep_case(&watch),
        Case::Sleep => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    };
    watch.finish(report)
}

pub(super) fn watchdog(watch: &Watch, timeout: Duration, memory_limit_mb: u64) {
    loop {
        let elapsed = watch.started.elapsed();
        let over_time = elapsed >= timeout;
        let rss_mb = current_rss_mb();
        let over_memory = rss_mb.is_some_and(|mb| mb > memory_limit_mb as f64);
        let mut state = watch.state.lock().expect("watch");
        if state.printed {
            return;
        }
        if over_time || over_memory {
            let mut report = state.partial.clone();
            report.wall_secs = elapsed.as_secs_f64();
            if over_time {
                report.status = Status::TimedOut;
                report.error = Some(match report.error.take() {
                    Some(at) => format!("no result after {} s ({at})", timeout.as_secs()),
                    None => format!("no result after {} s", timeout.as_secs()),
                });
            } else {
                report.status = Status::Failed;
                report.error = Some(format!(
                    "resident memory {:.0} MB passed the limit of {memory_limit_mb} MB",
                    rss_mb.unwrap_or_default()
                ));
            }
            println!("{}", report.line(watch.json));
            let _ = std::io::stdout().flush();
            state.printed = true;
            std::process::exit(1);
        }
        drop(state);
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(super) fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The process's peak resident memory (`VmHWM` on Linux).
pub(super) fn peak_rss_mb() -> Option<f64> {
    proc_status_kib("VmHWM:").map(|kib| kib as f64 / 1024.0)
}

pub(super) fn current_rss_mb() -> Option<f64> {
    proc_status_kib("VmRSS:").map(|kib| kib as f64 / 1024.0)
}

/// Starts the peak resident memory over from the current one (Linux), so a run's peak is
/// its own and not an earlier run's in the same process.
pub(super) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
