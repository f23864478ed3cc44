//! Stamps the build with a hash of its source, so a sweep's results say which simulator made
//! them and `merge` and `shrink` can refuse to mix builds.
//!
//! The hash is FNV-1a over every Rust source file of the workspace (`src/` of both crates and
//! this script) and `Cargo.lock`, in sorted path order, each as its path relative to the
//! workspace root, a zero byte, its length, and its bytes: it depends on the files' contents
//! alone, never on the machine, the checkout's path or the order a directory lists. Tests,
//! benches and scenarios are left out: they do not change what a seed gives (scenarios carry
//! a hash of their own). Outside the workspace (a packaged crate) only what exists is hashed.

use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .parent()
        .filter(|p| p.join("Cargo.lock").is_file())
        .unwrap_or(&manifest_dir)
        .to_path_buf();
    let mut files = Vec::new();
    for dir in [root.join("src"), manifest_dir.join("src")] {
        collect_rust_files(&dir, &mut files);
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    files.push(manifest_dir.join("build.rs"));
    files.push(root.join("Cargo.lock"));
    println!("cargo:rerun-if-changed=build.rs");
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    let mut relative: Vec<(String, PathBuf)> = files
        .into_iter()
        .filter(|f| f.is_file())
        .map(|f| (relative_name(&root, &f), f))
        .collect();
    relative.sort();
    relative.dedup();
    let mut hash = Fnv64::default();
    for (name, path) in &relative {
        let bytes = std::fs::read(path).expect("read a source file");
        hash.write(name.as_bytes());
        hash.write(&[0]);
        hash.write(&(bytes.len() as u64).to_le_bytes());
        hash.write(&bytes);
    }
    println!("cargo:rustc-env=KAFKA_SIM_BUILD_HASH={:016x}", hash.0);
}

/// Every `.rs` file below `dir`, recursively.
fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The path below the workspace root with `/` separators, the same on every platform.
fn relative_name(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// FNV-1a, 64 bits, as `report::Fnv64`: a build script cannot use the crate it builds.
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
