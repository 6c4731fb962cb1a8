//! The certified metrics against a direct, textbook implementation.

use memory_protocol::{Metrics, TestSet, WMatrix, evaluate, metrics::ppm};
use ndarray::{Array1, Array2};
use proptest::prelude::*;

/// Straightforward reference: explicit loops, written from the formulas in
/// docs/certificates.md, sharing no code with the crate.
fn reference(
    w: &Array2<f64>,
    b: Option<&Array1<f64>>,
    x: &Array2<f64>,
    y: &Array2<f64>,
) -> Metrics {
    let (n, d_in) = x.dim();
    let d_out = w.nrows();
    let mut yhat = vec![vec![0.0f64; d_out]; n];
    for i in 0..n {
        for j in 0..d_out {
            let mut s = 0.0;
            for k in 0..d_in {
                s += x[[i, k]] * w[[j, k]];
            }
            yhat[i][j] = s + b.map_or(0.0, |b| b[j]);
        }
    }
    let mut mean = vec![0.0; d_out];
    for j in 0..d_out {
        for i in 0..n {
            mean[j] += y[[i, j]];
        }
        mean[j] /= n as f64;
    }
    let (mut res, mut tot, mut yy, mut cos, mut dist) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        let (mut r2, mut dot, mut pp, mut qq) = (0.0, 0.0, 0.0, 0.0);
        for j in 0..d_out {
            let (p, q) = (yhat[i][j], y[[i, j]]);
            r2 += (p - q) * (p - q);
            dot += p * q;
            pp += p * p;
            qq += q * q;
            tot += (q - mean[j]) * (q - mean[j]);
            yy += q * q;
        }
        res += r2;
        dist += r2.sqrt();
        if pp > 0.0 && qq > 0.0 {
            cos += (dot / (pp.sqrt() * qq.sqrt())).clamp(-1.0, 1.0);
        }
    }
    Metrics {
        epsilon: (res / tot).sqrt(),
        rel_error: (res / yy).sqrt(),
        cosine: cos / n as f64,
        euclidean: dist / n as f64,
        samples: n,
    }
}

#[test]
fn matches_reference_on_random_data() {
    let mut rng = crate::rng(42);
    for &(n, d_in, d_out, noise) in &[
        (1000, 64, 48, 0.1),
        (200, 257, 31, 0.01),
        (37, 9, 70, 1.0),
        (2, 1, 1, 0.5),
    ] {
        let x = crate::random_matrix(&mut rng, n, d_in);
        let w = crate::random_matrix(&mut rng, d_out, d_in);
        let b = crate::random_matrix(&mut rng, 1, d_out).row(0).to_owned();
        let y = x.dot(&w.t()) + crate::random_matrix(&mut rng, n, d_out) * noise;
        let r = reference(&w, Some(&b), &x, &y);
        let m = evaluate(
            &WMatrix::new(w, Some(b)).unwrap(),
            &TestSet::new(x, y).unwrap(),
        )
        .unwrap();
        // Same operations in the same order: the figures agree to the bit, so the ppm
        // integers (and far more than 1 ppm) agree.
        assert_eq!(m, r, "n={n} d_in={d_in} d_out={d_out}");
        assert_eq!(m.to_ppm().epsilon_ppm as f64, ppm(r.epsilon));
    }
}

#[test]
fn agrees_with_an_independent_ndarray_formulation() {
    // A different formulation (ndarray's dot, vectorised sums): not bit-identical, but
    // within 1e-9 relative, i.e. far inside one ppm.
    let mut rng = crate::rng(7);
    let x = crate::random_matrix(&mut rng, 300, 40);
    let w = crate::random_matrix(&mut rng, 20, 40);
    let y = x.dot(&w.t()) * 0.9 + crate::random_matrix(&mut rng, 300, 20) * 0.2;
    let m = evaluate(
        &WMatrix::new(w.clone(), None).unwrap(),
        &TestSet::new(x.clone(), y.clone()).unwrap(),
    )
    .unwrap();
    let yhat = x.dot(&w.t());
    let mean = y.mean_axis(ndarray::Axis(0)).unwrap();
    let eps = ((&yhat - &y).mapv(|v| v * v).sum() / (&y - &mean).mapv(|v| v * v).sum()).sqrt();
    assert!(
        (m.epsilon - eps).abs() <= 1e-9 * eps,
        "{} vs {eps}",
        m.epsilon
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn perfect_and_mean_predictors(n in 2usize..40, d in 1usize..12, seed in any::<u64>()) {
        let mut rng = crate::rng(seed);
        let x = crate::random_matrix(&mut rng, n, d);
        let y = crate::random_matrix(&mut rng, n, d);
        let test = TestSet::new(x.clone(), y.clone()).unwrap();
        // The mean predictor: W = 0, b = mean(y) scores exactly 1e6 ppm.
        let mut mean = Array1::zeros(d);
        for j in 0..d {
            for i in 0..n { mean[j] += y[[i, j]]; }
            mean[j] /= n as f64;
        }
        let m = evaluate(&WMatrix::new(Array2::zeros((d, d)), Some(mean)).unwrap(), &test).unwrap();
        prop_assert_eq!(m.to_ppm().epsilon_ppm, 1_000_000);
        // A perfect map (y = x, W = I) scores 0.
        let same = TestSet::new(x.clone(), x).unwrap();
        let m = evaluate(&WMatrix::new(Array2::eye(d), None).unwrap(), &same).unwrap();
        prop_assert_eq!(m.to_ppm().epsilon_ppm, 0);
        prop_assert_eq!(m.to_ppm().euclidean_ppm, 0);
    }

    #[test]
    fn ppm_rounds_half_to_even(k in 0u32..4_000_000) {
        // Exactly representable halves: (k + 0.5) / 2^20 scaled... use values whose ×1e6
        // product is exact: k + 0.5 ppm = (2k + 1) / 2e6.
        let v = (2.0 * k as f64 + 1.0) / 2e6;
        let p = ppm(v);
        let exact = v * 1e6;
        if exact == k as f64 + 0.5 {
            prop_assert_eq!(p, if k % 2 == 0 { k as f64 } else { k as f64 + 1.0 });
        } else {
            prop_assert_eq!(p, exact.round());
        }
    }
}
