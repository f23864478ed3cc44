//! Kafka's own code as the oracle: the model's pure rules against Kafka's classes.
//!
//! Reading Kafka's source and porting a few of its test cases leaves room for a rule that
//! looks right and answers differently on the cases nobody wrote down. So each rule the model
//! shares with Kafka is also checked differentially: random cases from a fixed seed go to a
//! small Java program in `conformance/` that calls Kafka's class (the jars of the release the
//! model follows, from Maven Central) and prints Kafka's answers, and to the model's function;
//! every case where the two answers differ is reported with the case that shows it.
//!
//! The Rust side never links Java: the oracle programs read one JSON case per line on
//! standard input and write one JSON answer per line. `conformance/build.sh` builds them and
//! writes their classpath; [`run`] starts one, feeds it, and compares.
//!
//! A difference that is understood and kept (the model departs from a Kafka behaviour on
//! purpose) is listed in `conformance/accepted-differences.toml` with its reason: one case,
//! or a named kind of difference that the rule recognises precisely (say, "Kafka's answer
//! gives a member a partition of a topic it does not subscribe to"). It is reported as
//! accepted, never silenced in code: a kind the file does not list counts as a difference.

mod assignors;
mod election;
mod groups;
mod log;
mod partition_change;
mod partitioner;
mod producer_state;
mod txn_coordinator;
mod txn_producer_state;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The rules checked against Kafka, one oracle program each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Oracle {
    /// Keyed records: `Utils.murmur2`, `BuiltInPartitioner.partitionForKey`.
    Partitioner,
    /// The four consumer assignors: range, roundrobin, sticky, cooperative-sticky.
    Assignors,
    /// The ZooKeeper-mode controller's elections: `Election.leaderForOffline` and
    /// `Election.leaderForPreferredReplica`.
    Election,
    /// The classic consumer-group protocol: `GroupCoordinatorShard` with its `ClassicGroup`s.
    Groups,
    /// A leader's producer state for idempotent producers: `ProducerStateManager`.
    ProducerState,
    /// One replica's log layer: segments, retention, DeleteRecords and the log cleaner
    /// (`UnifiedLog`, `LogCleanerManager`, `LogCleaner.Cleaner`), through the contract of
    /// `kafka-sim log`.
    Log,
    /// The KRaft controller's partition rules: `PartitionChangeBuilder.build` and
    /// `PartitionRegistration.merge`, from Kafka's 4.0 line (its own Maven module,
    /// `conformance/kraft`).
    PartitionChange,
    /// A partition's transactions: the transactional half of `ProducerStateManager` and
    /// `ProducerAppendInfo`, with the `TransactionIndex` of aborted transactions.
    TxnProducerState,
    /// The transaction coordinator's per-id state machine: `TransactionMetadata`'s prepared
    /// and completed transitions, with transaction version 2 (Kafka 4.0.2, `conformance/kraft`).
    TxnCoordinator,
}

impl Oracle {
    pub const ALL: [Oracle; 9] = [
        Oracle::Partitioner,
        Oracle::Assignors,
        Oracle::Election,
        Oracle::Groups,
        Oracle::ProducerState,
        Oracle::Log,
        Oracle::PartitionChange,
        Oracle::TxnProducerState,
        Oracle::TxnCoordinator,
    ];

    /// Every oracle there is, compared by this build or not.
    const KNOWN: [Oracle; 9] = [
        Oracle::Partitioner,
        Oracle::Assignors,
        Oracle::Election,
        Oracle::Groups,
        Oracle::ProducerState,
        Oracle::Log,
        Oracle::PartitionChange,
        Oracle::TxnProducerState,
        Oracle::TxnCoordinator,
    ];

    /// The name used on the command line and in the accepted-differences file.
    pub fn name(self) -> &'static str {
        match self {
            Oracle::Partitioner => "partitioner",
            Oracle::Assignors => "assignors",
            Oracle::Election => "election",
            Oracle::Groups => "groups",
            Oracle::ProducerState => "producer-state",
            Oracle::Log => "log",
            Oracle::PartitionChange => "partition-change",
            Oracle::TxnProducerState => "txn-producer-state",
            Oracle::TxnCoordinator => "txn-coordinator",
        }
    }

    pub fn from_name(name: &str) -> Option<Oracle> {
        Oracle::KNOWN.into_iter().find(|o| o.name() == name)
    }

    /// The Java class of the oracle program.
    fn class(self) -> &'static str {
        match self {
            Oracle::Partitioner => "kafkasim.conformance.PartitionerOracle",
            Oracle::Assignors => "kafkasim.conformance.AssignorOracle",
            Oracle::Election => "kafkasim.conformance.ElectionOracle",
            Oracle::Groups => "kafkasim.conformance.GroupOracle",
            Oracle::ProducerState => "kafkasim.conformance.ProducerStateOracle",
            Oracle::Log => "kafkasim.conformance.LogOracle",
            Oracle::PartitionChange => "kafkasim.conformance.kraft.PartitionChangeOracle",
            Oracle::TxnProducerState => "kafkasim.conformance.TxnProducerStateOracle",
            Oracle::TxnCoordinator => "kafkasim.conformance.kraft.TxnCoordinatorOracle",
        }
    }

    /// Where the oracle program is built, under `conformance/`: the KRaft controller's and
    /// the transaction coordinator's oracles need Kafka's 4.0 line and are a Maven module of
    /// their own.
    fn module(self) -> &'static str {
        match self {
            Oracle::PartitionChange | Oracle::TxnCoordinator => "kraft",
            _ => "",
        }
    }

    /// What the oracle calls in Kafka, for reports.
    pub fn kafka_code(self) -> &'static str {
        match self {
            Oracle::Partitioner => "Utils.murmur2, BuiltInPartitioner.partitionForKey",
            Oracle::Assignors => {
                "RangeAssignor, RoundRobinAssignor, StickyAssignor, CooperativeStickyAssignor"
            }
            Oracle::Election => {
                "Election.leaderForOffline, Election.leaderForPreferredReplica (PartitionLeaderElectionAlgorithms)"
            }
            Oracle::Groups => {
                "GroupCoordinatorShard, GroupMetadataManager, ClassicGroup (kafka-group-coordinator)"
            }
            Oracle::ProducerState => {
                "ProducerStateManager, ProducerAppendInfo, ProducerStateEntry.findDuplicateBatch (kafka-storage)"
            }
            Oracle::Log => {
                "UnifiedLog.deleteOldSegments, LogCleanerManager.grabFilthiestCompactedLog, LogCleaner.Cleaner.doClean (kafka_2.13, kafka-storage)"
            }
            Oracle::PartitionChange => {
                "PartitionChangeBuilder.build, PartitionRegistration.merge (kafka-metadata 4.0.2)"
            }
            Oracle::TxnProducerState => {
                "ProducerStateManager, ProducerAppendInfo.appendDataBatch/appendEndTxnMarker, TransactionIndex (kafka-storage)"
            }
            Oracle::TxnCoordinator => {
                "TransactionMetadata prepare*/completeTransitionTo, as TransactionCoordinator calls them (kafka_2.13 4.0.2)"
            }
        }
    }
}

impl fmt::Display for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One rule checked against Kafka: how its cases are drawn and what the model answers.
/// `Case` is what the oracle program reads, `Answer` what it writes, field for field.
trait Rule {
    type Case: Serialize;
    type Answer: DeserializeOwned + Serialize + PartialEq;

    fn generate(rng: &mut ChaCha8Rng) -> Self::Case;
    fn model(case: &Self::Case) -> Self::Answer;

    /// The named Kafka behaviour a difference shows, if it is one the model departs from on
    /// purpose (`kafka` is Kafka's answer line). Whether it is accepted is for the
    /// accepted-differences file to say; this only recognises it.
    fn explain(_case: &Self::Case, _kafka: &str) -> Option<&'static str> {
        None
    }
}

/// Every kind of difference a rule recognises (see [`Rule::explain`]).
const KINDS: &[&str] = &[
    assignors::STICKY_UNSUBSCRIBED_PARTITION,
    assignors::STICKY_IDLE_PREVIOUS_OWNER,
    assignors::STICKY_EMPTY_SUBSCRIPTION,
    groups::LEADER_BY_HASH_ORDER,
];

/// Why a comparison could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error(
        "the oracles are not built: {0} is missing; run conformance/build.sh (it needs Java 17 and Maven)"
    )]
    NotBuilt(PathBuf),
    #[error("could not start java for the {oracle} oracle: {source} (the oracles need Java 17)")]
    Java {
        oracle: Oracle,
        source: std::io::Error,
    },
    #[error("the {oracle} oracle failed ({status}): {stderr}")]
    OracleFailed {
        oracle: Oracle,
        status: String,
        stderr: String,
    },
    #[error("the {oracle} oracle answered {answers} of {cases} cases")]
    ShortAnswer {
        oracle: Oracle,
        cases: usize,
        answers: usize,
    },
    #[error("the {oracle} oracle's answer to case {index} is not what the model expects: {source}\n  answer: {line}")]
    BadAnswer {
        oracle: Oracle,
        index: usize,
        line: String,
        source: serde_json::Error,
    },
    #[error("{path}: {message}")]
    AcceptedFile { path: PathBuf, message: String },
}

/// A case on which Kafka and the model answer differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The case as the oracle read it (one JSON line).
    pub case: String,
    pub kafka: String,
    pub model: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "  case:  {}\n  kafka: {}\n  model: {}",
            self.case, self.kafka, self.model
        )
    }
}

/// What one comparison found.
#[derive(Debug)]
pub struct Report {
    pub oracle: Oracle,
    pub cases: usize,
    pub seed: u64,
    /// Differences listed in the accepted-differences file, with its reason.
    pub accepted: Vec<(Difference, String)>,
    /// Differences nobody accepted: each is a bug in the model or a reason to list it.
    pub differences: Vec<Difference>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} cases from seed {} against {}: {} differ, {} accepted",
            self.oracle,
            self.cases,
            self.seed,
            self.oracle.kafka_code(),
            self.differences.len(),
            self.accepted.len()
        )?;
        for d in &self.differences {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The accepted differences: `conformance/accepted-differences.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptedFile {
    #[serde(default)]
    difference: Vec<Accepted>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Accepted {
    oracle: String,
    /// One case, as the JSON line the oracle reads...
    case: Option<String>,
    /// ...or every difference that shows this named Kafka behaviour (see each rule's
    /// `explain`).
    kind: Option<String>,
    /// Which Kafka behaviour (class, version) the model departs from, what it does instead,
    /// and why.
    reason: String,
}

/// Where the oracle programs live, from a checkout's root.
pub fn conformance_dir(repository_root: &Path) -> PathBuf {
    repository_root.join("conformance")
}

/// Draws `cases` cases for `oracle` from `seed`, asks Kafka's code (through the built oracle
/// program under `dir`) and the model, and reports every difference.
pub fn run(
    oracle: Oracle,
    cases: usize,
    seed: u64,
    dir: &Path,
) -> Result<Report, ConformanceError> {
    match oracle {
        Oracle::Partitioner => compare::<partitioner::Partitioner>(oracle, cases, seed, dir),
        Oracle::Assignors => compare::<assignors::Assignors>(oracle, cases, seed, dir),
        Oracle::Election => compare::<election::OfflineElection>(oracle, cases, seed, dir),
        Oracle::Groups => compare::<groups::Groups>(oracle, cases, seed, dir),
        Oracle::ProducerState => compare::<producer_state::ProducerState>(oracle, cases, seed, dir),
        Oracle::Log => compare::<log::Log>(oracle, cases, seed, dir),
        Oracle::PartitionChange => {
            compare::<partition_change::PartitionChange>(oracle, cases, seed, dir)
        }
        Oracle::TxnProducerState => {
            compare::<txn_producer_state::TxnProducerState>(oracle, cases, seed, dir)
        }
        Oracle::TxnCoordinator => {
            compare::<txn_coordinator::TxnCoordinator>(oracle, cases, seed, dir)
        }
    }
}

fn compare<R: Rule>(
    oracle: Oracle,
    count: usize,
    seed: u64,
    dir: &Path,
) -> Result<Report, ConformanceError> {
    let accepted = load_accepted(dir, oracle)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cases: Vec<R::Case> = (0..count).map(|_| R::generate(&mut rng)).collect();
    let lines: Vec<String> = cases
        .iter()
        .map(|c| serde_json::to_string(c).expect("a case serializes"))
        .collect();
    let answers = ask_kafka(oracle, dir, &lines)?;
    let mut report = Report {
        oracle,
        cases: count,
        seed,
        accepted: Vec::new(),
        differences: Vec::new(),
    };
    for (index, ((case, line), answer_line)) in cases.iter().zip(&lines).zip(&answers).enumerate() {
        let model = R::model(case);
        // An answer of another shape (Kafka refused the case) differs from the model's too.
        let kafka: Option<R::Answer> = match serde_json::from_str(answer_line) {
            Ok(answer) => Some(answer),
            Err(_) if answer_line.starts_with("{\"error\"") => None,
            Err(source) => {
                return Err(ConformanceError::BadAnswer {
                    oracle,
                    index,
                    line: answer_line.clone(),
                    source,
                })
            }
        };
        if kafka.as_ref() == Some(&model) {
            continue;
        }
        let difference = Difference {
            case: line.clone(),
            kafka: answer_line.clone(),
            model: serde_json::to_string(&model).expect("an answer serializes"),
        };
        let kind = R::explain(case, answer_line);
        let listed = accepted.iter().find(|a| {
            a.case.as_deref() == Some(line.as_str())
                || (a.kind.is_some() && a.kind.as_deref() == kind)
        });
        match listed {
            Some(a) => report.accepted.push((difference, a.reason.clone())),
            None => report.differences.push(difference),
        }
    }
    Ok(report)
}

fn load_accepted(dir: &Path, oracle: Oracle) -> Result<Vec<Accepted>, ConformanceError> {
    let path = dir.join("accepted-differences.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ConformanceError::AcceptedFile {
                path,
                message: e.to_string(),
            })
        }
    };
    let file: AcceptedFile = toml::from_str(&text).map_err(|e| ConformanceError::AcceptedFile {
        path: path.clone(),
        message: e.to_string(),
    })?;
    for a in &file.difference {
        let problem = if Oracle::from_name(&a.oracle).is_none() {
            Some(format!("unknown oracle {:?}", a.oracle))
        } else if a.case.is_some() == a.kind.is_some() {
            Some(format!(
                "a difference of the {} oracle names either a case or a kind",
                a.oracle
            ))
        } else {
            a.kind
                .as_deref()
                .filter(|k| !KINDS.contains(k))
                .map(|kind| {
                    format!(
                        "unknown kind {kind:?}; the kinds a rule recognises are {}",
                        KINDS.join(", ")
                    )
                })
        };
        if let Some(message) = problem {
            return Err(ConformanceError::AcceptedFile { path, message });
        }
    }
    Ok(file
        .difference
        .into_iter()
        .filter(|a| a.oracle == oracle.name())
        .collect())
}

/// Runs the oracle program on `lines` and returns its answer lines.
fn ask_kafka(
    oracle: Oracle,
    dir: &Path,
    lines: &[String],
) -> Result<Vec<String>, ConformanceError> {
    let module = dir.join(oracle.module());
    let classes = module.join("target/classes");
    let classpath_file = module.join("target/classpath.txt");
    for needed in [&classes, &classpath_file] {
        if !needed.exists() {
            return Err(ConformanceError::NotBuilt(needed.clone()));
        }
    }
    let dependencies = std::fs::read_to_string(&classpath_file)
        .map_err(|_| ConformanceError::NotBuilt(classpath_file.clone()))?;
    let classpath = format!("{}:{}", classes.display(), dependencies.trim());
    let mut child = Command::new("java")
        .args(["-cp", &classpath, oracle.class()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ConformanceError::Java { oracle, source })?;
    let mut stdin = child.stdin.take().expect("piped");
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    // The oracle answers while it reads: feed it from another thread, or a full pipe each
    // way would stop both sides.
    let output = std::thread::scope(|s| {
        s.spawn(move || {
            // A write error means the oracle died; its status says why.
            let _ = stdin.write_all(input.as_bytes());
        });
        child.wait_with_output()
    })
    .map_err(|source| ConformanceError::Java { oracle, source })?;
    if !output.status.success() {
        return Err(ConformanceError::OracleFailed {
            oracle,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let answers: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    if answers.len() != lines.len() {
        return Err(ConformanceError::ShortAnswer {
            oracle,
            cases: lines.len(),
            answers: answers.len(),
        });
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repository_dir() -> PathBuf {
        conformance_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("a parent"),
        )
    }

    #[test]
    fn the_shipped_accepted_differences_are_valid() {
        let listed: usize = Oracle::ALL
            .iter()
            .map(|o| load_accepted(&repository_dir(), *o).expect("valid").len())
            .sum();
        assert!(listed > 0);
    }

    #[test]
    fn an_accepted_difference_names_a_known_case_or_kind() {
        let dir =
            std::env::temp_dir().join(format!("kafka-sim-conformance-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let path = dir.join("accepted-differences.toml");
        for (text, wanted) in [
            ("[[difference]]\noracle = \"assignors\"\nreason = \"r\"\n", "either a case or a kind"),
            (
                "[[difference]]\noracle = \"assignors\"\ncase = \"{}\"\nkind = \"x\"\nreason = \"r\"\n",
                "either a case or a kind",
            ),
            ("[[difference]]\noracle = \"assignors\"\nkind = \"x\"\nreason = \"r\"\n", "unknown kind \"x\""),
            ("[[difference]]\noracle = \"nope\"\ncase = \"{}\"\nreason = \"r\"\n", "unknown oracle"),
            ("[[difference]]\noracle = \"assignors\"\ncase = \"{}\"\n", "reason"),
        ] {
            std::fs::write(&path, text).expect("written");
            let error = load_accepted(&dir, Oracle::Assignors).expect_err(text).to_string();
            assert!(error.contains(wanted), "{error}");
            assert!(error.contains("accepted-differences.toml"), "{error}");
        }
        std::fs::remove_dir_all(&dir).expect("removed");
    }

    #[test]
    fn without_the_built_oracles_the_error_says_how_to_build_them() {
        let error = run(
            Oracle::Partitioner,
            1,
            1,
            Path::new("/nonexistent/conformance"),
        )
        .expect_err("not built")
        .to_string();
        assert!(error.contains("conformance/build.sh"), "{error}");
    }

    #[test]
    fn a_seed_gives_the_same_cases() {
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..50)
                .map(|_| {
                    serde_json::to_string(&assignors::Assignors::generate(&mut rng)).expect("json")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(9), draw(9));
        assert_ne!(draw(9), draw(10));
    }
}
