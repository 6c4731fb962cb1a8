//! Integration tests of the protocol crate: cross-language vector, file formats, checksum
//! invariants, metrics and fits against straightforward reference implementations.
#![allow(clippy::unwrap_used)]

mod artifacts;
mod certificates;
mod fits;
mod metrics;
mod vector;

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
