//! Which build made an outcome: the schema version of the JSON, the kafka-sim version and a
//! hash of the build's source.
//!
//! A seed replays only on the simulator that ran it: a change anywhere in the model or the
//! simulator may change what every seed gives. So `run --format json` and every sweep line
//! carry this stamp next to the scenario hash, and `merge` and `shrink` refuse results of
//! another build. The snapshots leave it out, so they stay the same from build to build.
//! `docs/outcome-schema.md` describes every field.

use serde::Serialize;

/// The version of the JSON outcome schema (`docs/outcome-schema.md`). Bump it when a field
/// is removed, renamed or changes meaning; adding a field keeps it.
pub const SCHEMA_VERSION: u32 = 3;

/// kafka-sim's version, from its `Cargo.toml`.
pub const KAFKA_SIM_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The hash of the workspace's Rust sources and `Cargo.lock` (see `sim/build.rs`), 16 hex
/// digits.
pub const BUILD_HASH: &str = env!("KAFKA_SIM_BUILD_HASH");

/// The stamp a JSON outcome or sweep line carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuildStamp {
    pub schema_version: u32,
    pub kafka_sim_version: &'static str,
    pub build_hash: &'static str,
}

impl BuildStamp {
    /// The stamp of this build.
    pub fn current() -> BuildStamp {
        BuildStamp {
            schema_version: SCHEMA_VERSION,
            kafka_sim_version: KAFKA_SIM_VERSION,
            build_hash: BUILD_HASH,
        }
    }
}
