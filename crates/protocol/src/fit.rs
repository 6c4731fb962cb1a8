//! Fitting W-Matrices (the "alignment factory"): ridge regression and orthogonal
//! Procrustes, on faer's Cholesky and SVD. Fitting may use every core; it is never part of
//! a certified figure (certificates only evaluate, see [`crate::metrics`]).

use faer::{
    Accum, Mat, MatRef, Par, Side,
    linalg::matmul::{
        matmul,
        triangular::{self, BlockStructure},
    },
    prelude::Solve,
};
use ndarray::{Array1, Array2, Axis};

use crate::{
    error::{Error, Result},
    wmatrix::{TestSet, WMatrix},
};

/// Options shared by the fitting methods.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitOptions {
    /// Fit a bias (centre `x` and `y` first, then `b = mean(y) − W·mean(x)`).
    pub intercept: bool,
    /// Parallelism for the products and factorisations.
    pub par: Par,
}

impl FitOptions {
    /// Default options on `threads` threads (0 = every core, 1 = this thread only).
    pub fn with_threads(threads: usize) -> Self {
        let par = match threads {
            1 => Par::Seq,
            n => Par::rayon(n),
        };
        Self {
            par,
            ..Self::default()
        }
    }
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            intercept: true,
            par: Par::rayon(0),
        }
    }
}

/// Row-major f64 copy of `a`, centred column-wise when `centre` (returns the means too).
fn prepare(a: &Array2<f64>, centre: bool) -> (Vec<f64>, Option<Array1<f64>>) {
    let mean = if centre { a.mean_axis(Axis(0)) } else { None };
    let mut data: Vec<f64> = a.iter().copied().collect();
    if let Some(m) = &mean {
        let d = a.ncols();
        for row in data.chunks_exact_mut(d) {
            for (v, mu) in row.iter_mut().zip(m) {
                *v -= *mu;
            }
        }
    }
    (data, mean)
}

/// `aᵀ·b` for row-major `a` [n, p] and `b` [n, q].
fn gram(a: &[f64], p: usize, b: &[f64], q: usize, n: usize, par: Par) -> Mat<f64> {
    let a = MatRef::from_row_major_slice(a, n, p);
    let b = MatRef::from_row_major_slice(b, n, q);
    let mut out = Mat::<f64>::zeros(p, q);
    matmul(&mut out, Accum::Replace, a.transpose(), b, 1.0, par);
    out
}

fn finish(
    w: Array2<f64>,
    x_mean: Option<Array1<f64>>,
    y_mean: Option<Array1<f64>>,
) -> Result<WMatrix> {
    let bias = match (x_mean, y_mean) {
        (Some(xm), Some(ym)) => Some(&ym - &w.dot(&xm)),
        _ => None,
    };
    WMatrix::new(w, bias).map_err(|e| Error::Fit(format!("the solution is not usable: {e}")))
}

/// Ridge regression: `W = argmin ‖X·Wᵀ − Y‖²_F + λ‖W‖²_F`, solved as
/// `(XᵀX + λI)·Wᵀ = XᵀY` by Cholesky (on centred data when `opts.intercept`).
///
/// ```
/// use memory_protocol::{fit::{fit_ridge, FitOptions}, TestSet};
/// use ndarray::array;
/// let x = array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]];
/// let y = x.mapv(|v| 3.0 * v);
/// let w = fit_ridge(&TestSet::new(x, y)?, 0.0, FitOptions::default())?;
/// assert!((w.weight[[0, 0]] - 3.0).abs() < 1e-9 && w.weight[[0, 1]].abs() < 1e-9);
/// # Ok::<(), memory_protocol::Error>(())
/// ```
pub fn fit_ridge(train: &TestSet, lambda: f64, opts: FitOptions) -> Result<WMatrix> {
    if !lambda.is_finite() || lambda < 0.0 {
        return Err(Error::Fit(format!(
            "lambda must be a finite number >= 0, got {lambda}"
        )));
    }
    let (n, d_in) = train.x.dim();
    let d_out = train.y.ncols();
    let (xs, x_mean) = prepare(&train.x, opts.intercept);
    let (ys, y_mean) = prepare(&train.y, opts.intercept);
    // Only the lower triangle of the symmetric XᵀX is computed: the Cholesky reads no more.
    let mut g = Mat::<f64>::zeros(d_in, d_in);
    {
        let xr = MatRef::from_row_major_slice(&xs, n, d_in);
        triangular::matmul(
            &mut g,
            BlockStructure::TriangularLower,
            Accum::Replace,
            xr.transpose(),
            BlockStructure::Rectangular,
            xr,
            BlockStructure::Rectangular,
            1.0,
            opts.par,
        );
    }
    for i in 0..d_in {
        g[(i, i)] += lambda;
    }
    let r = gram(&xs, d_in, &ys, d_out, n, opts.par);
    let llt = g.llt(Side::Lower).map_err(|_| {
        Error::Fit(format!(
            "XᵀX + λI is not positive definite (n = {n}, d_in = {d_in}, λ = {lambda}); \
             use more samples or a larger lambda"
        ))
    })?;
    let bt = llt.solve(&r); // [d_in, d_out] = Wᵀ
    let w = Array2::from_shape_fn((d_out, d_in), |(j, k)| bt[(k, j)]);
    finish(w, x_mean, y_mean)
}

/// Orthogonal Procrustes: `W = argmin ‖X·Wᵀ − Y‖_F` over orthogonal `W` (so `d_in = d_out`):
/// with `XᵀY = U·Σ·Vᵀ`, `Wᵀ = U·Vᵀ` (on centred data when `opts.intercept`).
///
/// ```
/// use memory_protocol::{fit::{fit_procrustes, FitOptions}, TestSet};
/// use ndarray::array;
/// let x = array![[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]];
/// let y = array![[0.0, 1.0], [-1.0, 0.0], [-1.0, 2.0]]; // x rotated by 90°
/// let opts = FitOptions { intercept: false, ..FitOptions::default() };
/// let w = fit_procrustes(&TestSet::new(x, y)?, opts)?;
/// assert!((w.weight[[0, 1]] + 1.0).abs() < 1e-12 && (w.weight[[1, 0]] - 1.0).abs() < 1e-12);
/// # Ok::<(), memory_protocol::Error>(())
/// ```
pub fn fit_procrustes(train: &TestSet, opts: FitOptions) -> Result<WMatrix> {
    let (n, d) = train.x.dim();
    if train.y.ncols() != d {
        return Err(Error::ShapeMismatch(format!(
            "Procrustes needs d_in = d_out, got x with {d} and y with {} columns",
            train.y.ncols()
        )));
    }
    let (xs, x_mean) = prepare(&train.x, opts.intercept);
    let (ys, y_mean) = prepare(&train.y, opts.intercept);
    let m = gram(&xs, d, &ys, d, n, opts.par);
    let svd = m
        .svd()
        .map_err(|e| Error::Fit(format!("SVD did not converge: {e:?}")))?;
    let mut wt = Mat::<f64>::zeros(d, d); // Wᵀ = U·Vᵀ
    matmul(
        &mut wt,
        Accum::Replace,
        svd.U(),
        svd.V().transpose(),
        1.0,
        opts.par,
    );
    let w = Array2::from_shape_fn((d, d), |(j, k)| wt[(k, j)]);
    finish(w, x_mean, y_mean)
}
