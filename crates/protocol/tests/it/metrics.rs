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

// ---------------------------------------------------------------------------------------
// Issue 8, attack 10: overflow grades platinum. Two rows near ±1e154 overflow the total sum
// of squares to +inf, so epsilon = sqrt(finite / inf) = 0 for a map that predicts nothing.
// ---------------------------------------------------------------------------------------

/// The attack: a W-Matrix that is right on two huge rows (each row's own sums stay finite,
/// 1e308 < f64::MAX) and predicts 0 for every other row, whose targets are random.
fn overflow_attack() -> (Array2<f64>, Array2<f64>, Array2<f64>) {
    let n = 50;
    let mut rng = crate::rng(10);
    let mut x = Array2::zeros((n, 1));
    let mut y = crate::random_matrix(&mut rng, n, 1);
    x[[0, 0]] = 1.0;
    x[[1, 0]] = -1.0;
    y[[0, 0]] = 1e154;
    y[[1, 0]] = -1e154;
    let w = Array2::from_elem((1, 1), 1e154);
    (w, x, y)
}

#[test]
fn overflow_does_not_grade_platinum() {
    let (w, x, y) = overflow_attack();
    let result = WMatrix::new(w, None)
        .and_then(|w| TestSet::new(x, y).map(|t| (w, t)))
        .and_then(|(w, t)| evaluate(&w, &t));
    match result {
        Ok(m) => panic!(
            "a map that predicts 0 for 48 of 50 rows evaluates to {m:?}: {} ppm, {}",
            m.to_ppm().epsilon_ppm,
            m.tier()
        ),
        Err(e) => assert!(e.to_string().contains("|v| ≤ 1e30"), "unclear error: {e}"),
    }
}

#[test]
fn overflow_does_not_grade_platinum_in_verify_cert() {
    // what `memory verify-cert` and `memory certify` compute from the two files
    let (w, x, y) = overflow_attack();
    let dir = tempfile::tempdir().unwrap();
    let (wp, tp) = (
        dir.path().join("w.safetensors"),
        dir.path().join("t.safetensors"),
    );
    let f64_tensor = |a: &Array2<f64>| {
        memory_protocol::Tensor::f64_from_f64("t", a.shape().to_vec(), a.as_slice().unwrap())
            .unwrap()
    };
    memory_protocol::Artifact::new()
        .with_tensor("weight", f64_tensor(&w))
        .write(&wp)
        .unwrap();
    memory_protocol::Artifact::new()
        .with_tensor("x", f64_tensor(&x))
        .with_tensor("y", f64_tensor(&y))
        .write(&tp)
        .unwrap();
    match memory_protocol::Recomputed::from_files(&wp, &tp) {
        Ok(r) => panic!(
            "recomputed {} ppm ({}) for a map that predicts nothing",
            r.ppm().epsilon_ppm,
            r.metrics.tier()
        ),
        Err(e) => assert!(e.to_string().contains("|v| ≤ 1e30"), "unclear error: {e}"),
    }
}

#[test]
fn overflow_at_the_input_bound_stays_finite() {
    // Every value at the bound, in the arrangement that makes the products largest: the
    // metrics are finite (the bound keeps every sum of squares below f64::MAX).
    let (n, d_in, d_out) = (64, 96, 8);
    let big = 1e30;
    let x = Array2::from_shape_fn((n, d_in), |(i, _)| if i % 2 == 0 { big } else { -big });
    let y = Array2::from_shape_fn(
        (n, d_out),
        |(i, j)| if (i + j) % 3 == 0 { big } else { -big },
    );
    let w = Array2::from_elem((d_out, d_in), big);
    let b = Array1::from_elem(d_out, big);
    let m = evaluate(
        &WMatrix::new(w, Some(b)).unwrap(),
        &TestSet::new(x, y).unwrap(),
    )
    .unwrap();
    assert!(m.epsilon.is_finite() && m.epsilon > 1e30, "{m:?}");
    assert_eq!(m.tier(), memory_protocol::Tier::Bronze);
}

#[test]
fn overflow_beyond_the_input_bound_is_rejected_everywhere() {
    let ok = Array2::from_shape_fn((3, 2), |(i, j)| (i * 2 + j) as f64);
    for bad in [1.0000001e30, -1e31, f64::MAX] {
        let mut a = ok.clone();
        a[[1, 1]] = bad;
        for e in [
            WMatrix::new(a.clone(), None).err(),
            WMatrix::new(ok.t().to_owned(), Some(a.row(1).to_owned())).err(),
            TestSet::new(a.clone(), ok.clone()).err(),
            TestSet::new(ok.clone(), a.clone()).err(),
        ] {
            let e = e.unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(e.to_string().contains("|v| ≤ 1e30"), "unclear error: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Issue 8, attack 11: near-zero variance. A constant target whose mean is not exactly
// representable slips past `ss_tot == 0` and epsilon saturates; tiny but varied data
// underflows to a false "zero variance".
// ---------------------------------------------------------------------------------------

#[test]
fn near_zero_variance_constant_target_is_rejected() {
    let n = 1000;
    let mut rng = crate::rng(11);
    let x = crate::random_matrix(&mut rng, n, 3);
    let row = [0.1, 0.7, 1.0 / 3.0, -2.2];
    let y = Array2::from_shape_fn((n, 4), |(_, j)| row[j]);
    // the mean of the first column is not 0.1, so ss_tot is not exactly 0
    assert_ne!((0..n).fold(0.0, |s, _| s + 0.1) / n as f64, 0.1);
    let w = crate::random_matrix(&mut rng, 4, 3);
    match evaluate(
        &WMatrix::new(w, None).unwrap(),
        &TestSet::new(x, y).unwrap(),
    ) {
        Ok(m) => panic!(
            "a constant target evaluates to {m:?} ({} ppm)",
            m.to_ppm().epsilon_ppm
        ),
        Err(e) => assert!(
            e.to_string().contains("(numerically) zero variance"),
            "unclear error: {e}"
        ),
    }
}

#[test]
fn near_zero_variance_rounding_level_spread_is_rejected() {
    // rows that differ only in the last bits of a large common value
    let n = 500;
    let mut rng = crate::rng(12);
    let x = crate::random_matrix(&mut rng, n, 2);
    let noise = crate::random_matrix(&mut rng, n, 2);
    let y = noise.mapv(|v| 1e6 + v * 1e-9);
    let w = crate::random_matrix(&mut rng, 2, 2);
    let e = evaluate(
        &WMatrix::new(w, None).unwrap(),
        &TestSet::new(x, y).unwrap(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("(numerically) zero variance"), "{e}");
}

#[test]
fn near_zero_variance_tiny_but_varied_target_is_accepted() {
    // The same relation at scale 1 and at scale 2^-600 ≈ 2.4e-181 (whose squares underflow to
    // 0 in f64): the same epsilon, cosine and relative error to the bit, and the euclidean
    // distance scaled exactly.
    let (n, d_in, d_out) = (200, 6, 5);
    let mut rng = crate::rng(13);
    let x = crate::random_matrix(&mut rng, n, d_in);
    let w = crate::random_matrix(&mut rng, d_out, d_in);
    let y = x.dot(&w.t()) + crate::random_matrix(&mut rng, n, d_out) * 0.3;
    let tiny = 2f64.powi(-600);
    let unit = evaluate(
        &WMatrix::new(w.clone(), None).unwrap(),
        &TestSet::new(x.clone(), y.clone()).unwrap(),
    )
    .unwrap();
    let small = evaluate(
        &WMatrix::new(w.mapv(|v| v * tiny), None).unwrap(),
        &TestSet::new(x.clone(), y.mapv(|v| v * tiny)).unwrap(),
    )
    .unwrap();
    assert_eq!(small.epsilon, unit.epsilon);
    assert_eq!(small.rel_error, unit.rel_error);
    assert_eq!(small.cosine, unit.cosine);
    assert_eq!(small.euclidean, unit.euclidean * tiny);
    assert!(unit.epsilon > 0.05 && unit.epsilon < 1.0, "{unit:?}");
    // and a small but real spread (1e-4 of the values' magnitude) is not "zero variance"
    let offset = y.mapv(|v| 1e3 + v * 1e-1);
    let m = evaluate(
        &WMatrix::new(w * 1e-1, Some(Array1::from_elem(d_out, 1e3))).unwrap(),
        &TestSet::new(x, offset).unwrap(),
    )
    .unwrap();
    assert!((m.epsilon - unit.epsilon).abs() < 1e-6, "{m:?} vs {unit:?}");
}
