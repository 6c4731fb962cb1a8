//! Ridge and Procrustes against direct implementations.

use memory_protocol::{Error, FitOptions, TestSet, fit_procrustes, fit_ridge};
use ndarray::{Array2, Axis};

/// Solves `a·X = b` by Gauss-Jordan elimination with partial pivoting.
fn solve(mut a: Array2<f64>, mut b: Array2<f64>) -> Array2<f64> {
    let n = a.nrows();
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&i, &j| a[[i, col]].abs().total_cmp(&a[[j, col]].abs()))
            .unwrap();
        for k in 0..n {
            a.swap([col, k], [piv, k]);
        }
        for k in 0..b.ncols() {
            b.swap([col, k], [piv, k]);
        }
        let p = a[[col, col]];
        for row in 0..n {
            if row != col {
                let f = a[[row, col]] / p;
                for k in 0..n {
                    a[[row, k]] -= f * a[[col, k]];
                }
                for k in 0..b.ncols() {
                    b[[row, k]] -= f * b[[col, k]];
                }
            }
        }
    }
    for row in 0..n {
        let p = a[[row, row]];
        for k in 0..b.ncols() {
            b[[row, k]] /= p;
        }
    }
    b
}

fn max_rel_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

#[test]
fn ridge_matches_normal_equations() {
    let mut rng = crate::rng(11);
    let (n, d_in, d_out, lambda) = (80, 12, 7, 0.3);
    let x = crate::random_matrix(&mut rng, n, d_in);
    let w_true = crate::random_matrix(&mut rng, d_out, d_in);
    let y = x.dot(&w_true.t()) + crate::random_matrix(&mut rng, n, d_out) * 0.1;
    let train = TestSet::new(x.clone(), y.clone()).unwrap();

    // Without intercept: (XᵀX + λI) Wᵀ = XᵀY.
    let opts = FitOptions {
        intercept: false,
        ..FitOptions::default()
    };
    let w = fit_ridge(&train, lambda, opts).unwrap();
    let mut g = x.t().dot(&x);
    for i in 0..d_in {
        g[[i, i]] += lambda;
    }
    let expected = solve(g, x.t().dot(&y)).reversed_axes();
    assert!(max_rel_diff(&w.weight, &expected) < 1e-9);
    assert!(w.bias.is_none());

    // With intercept: the same on centred data, b = ȳ − W·x̄.
    let w = fit_ridge(&train, lambda, FitOptions::default()).unwrap();
    let (xm, ym) = (x.mean_axis(Axis(0)).unwrap(), y.mean_axis(Axis(0)).unwrap());
    let (xc, yc) = (&x - &xm, &y - &ym);
    let mut g = xc.t().dot(&xc);
    for i in 0..d_in {
        g[[i, i]] += lambda;
    }
    let expected = solve(g, xc.t().dot(&yc)).reversed_axes();
    assert!(max_rel_diff(&w.weight, &expected) < 1e-9);
    let b_expected = &ym - &expected.dot(&xm);
    let b = w.bias.unwrap();
    let b_scale = b_expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(
        b.iter()
            .zip(&b_expected)
            .all(|(p, q)| (p - q).abs() <= 1e-9 * b_scale)
    );
}

#[test]
fn ridge_rejects_bad_input() {
    let mut rng = crate::rng(3);
    let x = crate::random_matrix(&mut rng, 3, 5); // fewer samples than dimensions
    let train = TestSet::new(x.clone(), x).unwrap();
    let opts = FitOptions {
        intercept: false,
        ..FitOptions::default()
    };
    assert!(matches!(fit_ridge(&train, 0.0, opts), Err(Error::Fit(_))));
    assert!(fit_ridge(&train, 0.1, opts).is_ok());
    assert!(matches!(fit_ridge(&train, -1.0, opts), Err(Error::Fit(_))));
    assert!(matches!(
        fit_ridge(&train, f64::NAN, opts),
        Err(Error::Fit(_))
    ));
}

#[test]
fn procrustes_recovers_a_rotation() {
    let mut rng = crate::rng(9);
    let d = 10;
    // A random orthogonal matrix from the QR of a random matrix (Gram-Schmidt).
    let a = crate::random_matrix(&mut rng, d, d);
    let mut q = Array2::<f64>::zeros((d, d));
    for j in 0..d {
        let mut v = a.column(j).to_owned();
        for k in 0..j {
            let qk = q.column(k).to_owned();
            v = &v - &(&qk * qk.dot(&v));
        }
        let norm = v.dot(&v).sqrt();
        q.column_mut(j).assign(&(v / norm));
    }
    let x = crate::random_matrix(&mut rng, 60, d);
    let y = x.dot(&q.t()) + 0.5; // rotated and shifted
    let w = fit_procrustes(&TestSet::new(x, y).unwrap(), FitOptions::default()).unwrap();
    assert!(max_rel_diff(&w.weight, &q) < 1e-9);
    let wtw = w.weight.t().dot(&w.weight);
    assert!(max_rel_diff(&wtw, &Array2::eye(d)) < 1e-12);
    assert!(w.bias.unwrap().iter().all(|b| (b - 0.5).abs() < 1e-9));
    let x2 = crate::random_matrix(&mut rng, 5, 3);
    let y2 = crate::random_matrix(&mut rng, 5, 4);
    assert!(matches!(
        fit_procrustes(&TestSet::new(x2, y2).unwrap(), FitOptions::default()),
        Err(Error::ShapeMismatch(_))
    ));
}
