//! Protocol benchmark: certified epsilon (single thread, fixed order) and ridge fits.
//!
//! `cargo bench -p memory-protocol --bench protocol -- [--quick] [--only eps|ridge]`
//! (cargo passes `--bench`; without it, e.g. under `cargo test --all-targets`, it only
//! prints that it was skipped)
//! prints one Markdown row per case with the median of several runs. The checksum
//! throughput comparison with `sha256sum`/`openssl` lives in `scripts/bench-protocol`,
//! which also runs this benchmark.

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use memory_protocol::{FitOptions, TestSet, WMatrix, evaluate, fit_ridge};
use ndarray::Array2;

/// A cheap deterministic generator (xorshift) so the data does not depend on other crates.
fn random(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Array2::from_shape_fn((rows, cols), |_| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        // f32-representable values, like real artifacts.
        f64::from(((s >> 40) as f32) / (1u64 << 24) as f32 * 2.0 - 1.0)
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Vec<Duration>) {
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(f());
        all.push(t.elapsed());
    }
    (median(all.clone()), all)
}

fn fmt(all: &[Duration]) -> String {
    all.iter()
        .map(|d| format!("{:.3}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it
    // (in the debug profile), where a full run would take many minutes.
    if !args.iter().any(|a| a == "--bench") {
        println!("protocol benchmark: skipped (run it with `cargo bench -p memory-protocol`)");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let want = |name: &str| only.as_deref().is_none_or(|o| o == name);
    println!("| case | runs | median (s) | all runs (s) |");
    println!("| --- | --- | --- | --- |");
    if want("eps") {
        let (n, d) = if quick { (200, 512) } else { (1000, 4096) };
        let x = random(n, d, 1);
        let w = random(d, d, 2) * (1.0 / (d as f64).sqrt());
        let y = x.dot(&w.t()) + random(n, d, 3) * 0.1;
        let matrix = WMatrix::new(w, None).unwrap();
        let test = TestSet::new(x, y).unwrap();
        let runs = if quick { 3 } else { 5 };
        let (med, all) = time(runs, || evaluate(&matrix, &test).unwrap());
        println!(
            "| certified epsilon, n={n}, d_in=d_out={d} (f64, 1 thread) | {runs} | {:.3} | {} |",
            med.as_secs_f64(),
            fmt(&all)
        );
    }
    if want("ridge") {
        let dims: &[usize] = if quick { &[256] } else { &[1024, 4096] };
        for &d in dims {
            let n = 2 * d;
            let x = random(n, d, 4);
            let w = random(d, d, 5) * (1.0 / (d as f64).sqrt());
            let y = x.dot(&w.t()) + random(n, d, 6) * 0.1;
            let train = TestSet::new(x, y).unwrap();
            let runs = if d >= 4096 { 3 } else { 5 };
            let (med, all) = time(runs, || {
                fit_ridge(&train, 1.0, FitOptions::default()).unwrap()
            });
            println!(
                "| ridge fit (faer Cholesky, all cores), n={n}, d_in=d_out={d}, λ=1 | {runs} | {:.3} | {} |",
                med.as_secs_f64(),
                fmt(&all)
            );
        }
    }
}
