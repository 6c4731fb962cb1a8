//! Integration tests of the protocol crate: cross-language vector, file formats, checksum
//! invariants, metrics and fits against straightforward reference implementations, and the
//! hostile inputs of issue 8 (headers, overflow, variance, versions, double reads).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod artifacts;
mod certificates;
mod errors;
mod fits;
mod headers;
mod metrics;
mod vector;
mod verification;
mod versions;

use std::{ffi::OsStr, process::Command};

use ndarray::Array2;
use rand::{Rng, SeedableRng, rngs::StdRng};

/// A reproducible random matrix with entries in [-1, 1).
pub fn random_matrix(rng: &mut StdRng, rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0))
}

/// A seeded generator.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// The environment variable that turns a probe test (see [`run_probe`]) on in a child process.
pub const PROBE_ENV: &str = "MEMORY_PROTOCOL_TEST_PROBE";

/// Runs the test `name` (its full path, e.g. `headers::rss_probe`) of this test binary alone in
/// a child process, with [`PROBE_ENV`] set to `name` and the extra `env`, and returns the values
/// it printed with [`probe_print`]. Per-process counters (peak RSS, bytes read)
/// then measure that one test, whatever else runs in this process.
pub fn run_probe(name: &str, env: &[(&str, &OsStr)]) -> Vec<(String, String)> {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(PROBE_ENV, name)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "probe {name} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let values: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|l| Some(&l[l.find(PROBE_MARK)? + PROBE_MARK.len()..]))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert!(!values.is_empty(), "probe {name} printed nothing: {stdout}");
    values
}

/// What [`probe_print`] puts before each value (libtest may print a test's output on the
/// line it started with `test NAME ... `).
const PROBE_MARK: &str = "[probe] ";

/// Prints `KEY=VALUE` for [`run_probe`] to collect.
pub fn probe_print(key: &str, value: impl std::fmt::Display) {
    println!("{PROBE_MARK}{key}={value}");
}

/// Whether this process is the child [`run_probe`] started for the probe test `name`.
pub fn is_probe(name: &str) -> bool {
    std::env::var(PROBE_ENV).is_ok_and(|v| v == name)
}

/// A field (`VmHWM`, `VmRSS`, ...) of /proc/self/status in KiB.
pub fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `rchar` of /proc/self/io: bytes this process has read with read(2) and friends.
pub fn proc_rchar() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Writes a safetensors file from a raw JSON header (padded to 8 bytes) and data bytes.
pub fn write_raw_safetensors(path: &std::path::Path, header: &str, data: &[u8]) {
    let mut header = header.to_owned();
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}
