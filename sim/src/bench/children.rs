//! Running cases in child processes of this binary, so each peak memory is its own and a
//! run that fails or hangs is reported instead of taking the suite down.

use super::*;

/// Runs a case in child processes of this binary: the case, or each size of `partitions`,
/// in one of its own. A child that fails or runs past its limit is reported, never waited
/// on for ever.
pub(super) fn run_in_children(case: Case, opts: &Options) -> CaseReport {
    let mut common = vec![
        "--format".to_string(),
        "json".to_string(),
        "--timeout-secs".to_string(),
        opts.timeout.as_secs().to_string(),
        "--memory-limit-mb".to_string(),
        opts.memory_limit_mb.to_string(),
        "--scale".to_string(),
        opts.scale.to_string(),
    ];
    let started = Instant::now();
    if case == Case::Partitions {
        let mut runs = Vec::new();
        for n in opts.partition_counts() {
            let mut args = vec!["--partitions".to_string(), n.to_string()];
            args.extend(common.iter().cloned());
            eprintln!("bench: partitions at {n} partitions ...");
            let run = match child(case, &args, opts.timeout) {
                Ok(report) => match report.runs.into_iter().next() {
                    Some(run) => run,
                    None => PartitionsRun {
                        status: report.status,
                        error: report.error,
                        ..PartitionsRun::empty(n)
                    },
                },
                Err((status, error)) => PartitionsRun {
                    status,
                    error: Some(error),
                    ..PartitionsRun::empty(n)
                },
            };
            runs.push(run);
        }
        let mut report = partitions_report(shape(case, opts), runs);
        report.wall_secs = started.elapsed().as_secs_f64();
        report
    } else {
        eprintln!("bench: {} ...", case.name());
        let args = std::mem::take(&mut common);
        match child(case, &args, opts.timeout) {
            Ok(report) => report,
            Err((status, error)) => {
                let mut report = CaseReport::new(case, shape(case, opts));
                report.status = status;
                report.error = Some(error);
                report.wall_secs = started.elapsed().as_secs_f64();
                report
            }
        }
    }
}

impl PartitionsRun {
    pub(super) fn empty(partitions: u32) -> PartitionsRun {
        PartitionsRun {
            partitions,
            status: Status::Failed,
            error: None,
            sim_secs: 0.0,
            wall_secs: 0.0,
            acked: 0,
            peak_memory_mb: None,
        }
    }
}

/// Runs `kafka-sim bench --case CASE ARGS` and reads the report it printed. The child keeps
/// its own time limit; if it has not ended `CHILD_GRACE` after that, it is killed.
pub(super) fn child(
    case: Case,
    args: &[String],
    timeout: Duration,
) -> Result<CaseReport, (Status, String)> {
    let exe = std::env::current_exe()
        .map_err(|e| (Status::Failed, format!("cannot find this program: {e}")))?;
    let mut child = Command::new(exe)
        .args(["bench", "--case", case.name()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| (Status::Failed, format!("cannot start a child: {e}")))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout + CHILD_GRACE;
    let mut killed = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                killed = true;
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err((Status::Failed, format!("cannot wait for the child: {e}"))),
        }
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if let Some(report) = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<CaseReport>(l).ok())
    {
        return Ok(report);
    }
    if killed {
        return Err((
            Status::TimedOut,
            format!("no result after {} s; killed", timeout.as_secs()),
        ));
    }
    let tail: Vec<&str> = err.lines().rev().take(3).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err((
        Status::Failed,
        format!(
            "the child ended ({}) without a report: {}",
            status.map_or("killed".to_string(), |s| s.to_string()),
            tail.join(" / ")
        ),
    ))
}
