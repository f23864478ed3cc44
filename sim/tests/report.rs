//! `kafka-sim report` on the command line: it writes the page in one piece and prints its
//! path, the same run gives the same bytes, and bad input exits 2 with a message and writes
//! nothing. What the page holds is tested in `sim/src/html/tests.rs`, how it behaves in a
//! browser by `sim/tests/browser/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCENARIO: &str = "scenarios/acks-1-loses-on-leader-crash.toml";

fn kafka_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-sim"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(args)
        .output()
        .expect("kafka-sim runs")
}

/// A directory of this test's own, emptied.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-sim-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

#[test]
fn the_report_is_written_whole_and_the_same_every_time() {
    let dir = scratch("twice");
    let mut pages = Vec::new();
    for name in ["a.html", "b.html"] {
        let out = dir.join(name);
        let out_text = out.to_string_lossy().into_owned();
        let run = kafka_sim(&["report", SCENARIO, "--out", &out_text]);
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&run.stdout).trim_end(), out_text);
        pages.push(std::fs::read(&out).expect("the page"));
    }
    assert!(pages[0] == pages[1], "two reports of one seed differ");
    let page = String::from_utf8(pages.remove(0)).expect("UTF-8");
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let dir = scratch("bad");
    let out = dir.join("run.html");
    let out_text = out.to_string_lossy().into_owned();
    let missing = kafka_sim(&[
        "report",
        "scenarios/no-such-scenario.toml",
        "--out",
        &out_text,
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("error: "));
    assert!(!out.exists());
    let unwritable = dir.join("no-such-dir").join("run.html");
    let unwritable_text = unwritable.to_string_lossy().into_owned();
    let cannot = kafka_sim(&["report", SCENARIO, "--out", &unwritable_text]);
    assert_eq!(cannot.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&cannot.stderr).contains("cannot write the report"));
    let _ = std::fs::remove_dir_all(&dir);
}
