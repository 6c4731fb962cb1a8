//! The certified metrics: epsilon, relative error, mean row cosine and mean row euclidean
//! distance, their ppm integers and the tier graded on epsilon.
//!
//! Every verifier must get the same integers, so the reference computation is pinned down
//! to the last bit: all values are upcast to f64, and every sum runs in a fixed order on one
//! thread, with separate multiply and add (no fused multiply-add):
//!
//! ```text
//! ŷ[i,j] = ((…((0 + x[i,0]·w[j,0]) + x[i,1]·w[j,1]) + …) + x[i,d_in-1]·w[j,d_in-1]) + b[j]
//! ```
//!
//! (`+ b[j]` only when the W-Matrix has a bias). The blocked, vectorised kernel in this
//! module computes exactly that sum for each element (the vector lanes run over different
//! output elements, never over `k`), so a plain triple loop gives bit-identical results.
//! The remaining sums are sequential too; see [`evaluate`].
//!
//! Inputs are bounded ([`MAX_ABS_VALUE`](crate::wmatrix::MAX_ABS_VALUE)), the targets and
//! predictions are rescaled by an exact power of two before the sums (so tiny data does not
//! underflow, and the figures do not depend on the data's scale), a target whose spread is
//! within rounding of its magnitude is rejected as zero variance, and every intermediate is
//! checked to be finite: no input can turn an overflow into a good grade.

use std::borrow::Cow;

use ndarray::Array2;

use crate::{
    error::{Error, Result},
    wmatrix::{
        MAX_ABS_BITS, TestSet, WMatrix, check_values, first_bad_value, magnitude_bits, names,
    },
};

/// Metric values as computed in f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    /// Centred relative Frobenius error `‖Ŷ−Y‖ / ‖Y − 1·mean(Y)‖` (0 is perfect, predicting
    /// the mean scores 1).
    pub epsilon: f64,
    /// Uncentred relative error `‖Ŷ−Y‖ / ‖Y‖`.
    pub rel_error: f64,
    /// Mean over rows of `cos(ŷ_i, y_i)`; a zero row counts as 0.
    pub cosine: f64,
    /// Mean over rows of `‖ŷ_i − y_i‖₂`.
    pub euclidean: f64,
    /// Number of test rows.
    pub samples: usize,
}

/// The integer (parts-per-million) form of [`Metrics`], as stored in certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MetricsPpm {
    /// Epsilon, ppm (saturates at `u32::MAX`).
    pub epsilon_ppm: u32,
    /// Relative error, ppm (saturates at `u32::MAX`).
    pub rel_error_ppm: u32,
    /// Mean row cosine, ppm (always within -1e6..=1e6).
    pub cosine_ppm: i32,
    /// Mean row euclidean distance, ppm (saturates at `u64::MAX`).
    pub euclidean_ppm: u64,
    /// Number of test rows (saturates at `u32::MAX`).
    pub test_samples: u32,
}

/// Quality tier, graded on the epsilon ppm integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// epsilon > 100 000 ppm.
    Bronze = 1,
    /// epsilon ≤ 100 000 ppm.
    Silver = 2,
    /// epsilon ≤ 50 000 ppm.
    Gold = 3,
    /// epsilon ≤ 10 000 ppm.
    Platinum = 4,
}

impl Tier {
    /// Upper bound (inclusive) of epsilon ppm for platinum.
    pub const PLATINUM_MAX_PPM: u32 = 10_000;
    /// Upper bound (inclusive) of epsilon ppm for gold.
    pub const GOLD_MAX_PPM: u32 = 50_000;
    /// Upper bound (inclusive) of epsilon ppm for silver.
    pub const SILVER_MAX_PPM: u32 = 100_000;

    /// The tier of an epsilon ppm figure.
    ///
    /// ```
    /// use memory_protocol::metrics::Tier;
    /// assert_eq!(Tier::from_epsilon_ppm(10_000), Tier::Platinum);
    /// assert_eq!(Tier::from_epsilon_ppm(10_001), Tier::Gold);
    /// assert_eq!(Tier::from_epsilon_ppm(1_000_000), Tier::Bronze);
    /// ```
    pub const fn from_epsilon_ppm(ppm: u32) -> Self {
        if ppm <= Self::PLATINUM_MAX_PPM {
            Self::Platinum
        } else if ppm <= Self::GOLD_MAX_PPM {
            Self::Gold
        } else if ppm <= Self::SILVER_MAX_PPM {
            Self::Silver
        } else {
            Self::Bronze
        }
    }

    /// The on-chain `level` (1 bronze … 4 platinum).
    pub const fn level(self) -> u8 {
        self as u8
    }

    /// The tier of an on-chain level, `None` outside 1..=4.
    pub const fn from_level(level: u8) -> Option<Self> {
        match level {
            1 => Some(Self::Bronze),
            2 => Some(Self::Silver),
            3 => Some(Self::Gold),
            4 => Some(Self::Platinum),
            _ => None,
        }
    }

    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bronze => "bronze",
            Self::Silver => "silver",
            Self::Gold => "gold",
            Self::Platinum => "platinum",
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `round_half_even(value × 1e6)` in f64 (the product is rounded first, as IEEE does).
///
/// ```
/// use memory_protocol::metrics::ppm;
/// assert_eq!(ppm(0.0000005), 0.0); // exactly half: rounds to even
/// assert_eq!(ppm(0.0000015), 2.0);
/// assert_eq!(ppm(0.25), 250_000.0);
/// ```
pub fn ppm(value: f64) -> f64 {
    (value * 1e6).round_ties_even()
}

fn sat_u32(v: f64) -> u32 {
    // `as` saturates at the bounds (and maps NaN to 0; metrics are never NaN).
    v as u32
}

impl Metrics {
    /// The ppm integers, rounded half-to-even and saturated at the field types' bounds.
    pub fn to_ppm(&self) -> MetricsPpm {
        MetricsPpm {
            epsilon_ppm: sat_u32(ppm(self.epsilon)),
            rel_error_ppm: sat_u32(ppm(self.rel_error)),
            cosine_ppm: ppm(self.cosine.clamp(-1.0, 1.0)) as i32,
            euclidean_ppm: ppm(self.euclidean) as u64,
            test_samples: u32::try_from(self.samples).unwrap_or(u32::MAX),
        }
    }

    /// The tier graded on the epsilon ppm integer.
    pub fn tier(&self) -> Tier {
        Tier::from_epsilon_ppm(self.to_ppm().epsilon_ppm)
    }
}

fn row_major(a: &Array2<f64>) -> Cow<'_, [f64]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().copied().collect()),
    }
}

/// `Ŷ = X·Wᵀ (+ b)`, computed in the certified order (see the module docs) on one thread.
///
/// `x`, `weight` and `bias` must be finite and within
/// [`MAX_ABS_VALUE`](crate::wmatrix::MAX_ABS_VALUE) ([`Error::OutOfRange`],
/// [`Error::NonFinite`]); the product kernel checks `x` and `weight` as it packs them, so the
/// check costs no pass of its own.
pub fn predict(matrix: &WMatrix, x: &Array2<f64>) -> Result<Array2<f64>> {
    if x.ncols() != matrix.d_in() {
        return Err(Error::ShapeMismatch(format!(
            "x has {} columns but the W-Matrix expects d_in = {}",
            x.ncols(),
            matrix.d_in()
        )));
    }
    let (n, d_in, d_out) = (x.nrows(), matrix.d_in(), matrix.d_out());
    let xs = row_major(x);
    let ws = row_major(&matrix.weight);
    if let Some(b) = &matrix.bias {
        check_values(names::BIAS, b.view())?;
    }
    let mut out = vec![0.0f64; n * d_out];
    if gemm_nt(&xs, &ws, &mut out, n, d_in, d_out) {
        // some value is out of range: name it
        check_values(names::WEIGHT, matrix.weight.view())?;
        return Err(first_bad_value(names::X, x.view()));
    }
    if let Some(b) = &matrix.bias {
        for row in out.chunks_exact_mut(d_out) {
            for (o, bj) in row.iter_mut().zip(b) {
                *o += *bj;
            }
        }
    }
    let out = Array2::from_shape_vec((n, d_out), out)
        .map_err(|e| Error::ShapeMismatch(format!("prediction: {e}")))?;
    if let Some(index) = out.iter().position(|v| !v.is_finite()) {
        return Err(Error::Overflow(format!(
            "the prediction x·weightᵀ + bias is not finite at flat index {index}"
        )));
    }
    Ok(out)
}

/// The exact power-of-two rescaling of [`evaluate`]: `(2^-e, 2^e)` where `e` is the binary
/// exponent of `max |y|` (its IEEE-754 exponent field minus 1023, taken as −1022 when `max |y|`
/// is 0 or subnormal), so that the rescaled targets have `max |y'|` in [1, 2). `None` when a
/// value is NaN or beyond [`MAX_ABS_VALUE`](crate::wmatrix::MAX_ABS_VALUE).
fn power_of_two_scale(ys: &[f64]) -> Option<(f64, f64)> {
    // the largest |y| by its bits (for non-negative floats the bit order is the numeric
    // order, with infinities and NaNs above every finite value): an integer maximum, which
    // vectorises
    let max_bits = ys.iter().fold(0u64, |m, v| m.max(magnitude_bits(*v)));
    if max_bits > MAX_ABS_BITS {
        return None;
    }
    let biased = ((max_bits >> 52) & 0x7ff) as i64;
    // 1..=2045 keeps both powers normal; inputs within MAX_ABS_VALUE have biased <= 1122
    let biased = biased.clamp(1, 2045);
    let e = biased - 1023;
    let pow2 = |k: i64| f64::from_bits(((1023 + k) as u64) << 52);
    Some((pow2(-e), pow2(e)))
}

/// Evaluates `matrix` on `test` and returns the f64 metrics.
///
/// With `Ŷ` from [`predict`], the targets and predictions rescaled exactly by a power of two,
/// `y' = s·y`, `ŷ' = s·ŷ` with `s = 2^-e` and `e` the binary exponent of `max |y|` (so that
/// `max |y'|` is in [1, 2)), `r = ŷ' − y'`, `μ_j = (Σ_i y'[i,j]) / n`, and every sum below
/// running over `i` (rows) outer and `j` (columns) inner, in increasing order, one f64
/// accumulator each:
///
/// ```text
/// res_i  = Σ_j r[i,j]²             ss_res = Σ_i res_i
/// ss_tot = Σ_i Σ_j (y'[i,j] − μ_j)² ss_y   = Σ_i Σ_j y'[i,j]²
/// epsilon   = sqrt(ss_res / ss_tot)
/// rel_error = sqrt(ss_res / ss_y)
/// cosine    = (Σ_i c_i) / n,  c_i = dot_i / (sqrt(ŷŷ_i)·sqrt(yy_i)) clamped to [−1, 1], 0 if a norm is 0
/// euclidean = ((Σ_i sqrt(res_i)) / n) · 2^e
/// ```
///
/// Multiplying by a power of two is exact, so for data whose values and products stay in
/// f64's normal range this is bit for bit the unscaled formula; the rescaling only matters
/// where the unscaled squares would underflow (tiny data) and makes epsilon independent of
/// the data's scale.
///
/// Errors: the inputs' own checks ([`WMatrix::validate`], [`TestSet::validate`]: finite, at
/// most [`MAX_ABS_VALUE`](crate::wmatrix::MAX_ABS_VALUE)), dimension mismatch,
/// [`Error::ZeroVariance`] when `ss_tot ≤ (n·2⁻⁵²)·ss_y` (the rows of `y` are equal to within
/// rounding), and [`Error::Overflow`] when any intermediate (a row's sums, the totals, the
/// ratios) is not finite.
///
/// ```
/// use memory_protocol::{evaluate, metrics::Tier, TestSet, WMatrix};
/// use ndarray::{array, Array2};
/// let x = array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
/// let test = TestSet::new(x.clone(), x.clone())?;
/// let identity = WMatrix::new(Array2::eye(2), None)?;
/// let m = evaluate(&identity, &test)?;
/// assert_eq!(m.to_ppm().epsilon_ppm, 0);
/// assert_eq!(m.tier(), Tier::Platinum);
/// # Ok::<(), memory_protocol::Error>(())
/// ```
pub fn evaluate(matrix: &WMatrix, test: &TestSet) -> Result<Metrics> {
    // The values are checked where they are read anyway (the fields are public, so a value
    // built by hand is checked too): `x` and `weight` by the product kernel, `y` by the
    // search for its largest magnitude.
    matrix.check_shapes()?;
    test.check_shapes()?;
    test.check_matrix(matrix)?;
    let y_hat = predict(matrix, &test.x)?;
    let (n, d) = test.y.dim();
    let ys = row_major(&test.y);
    let ps = row_major(&y_hat);
    let Some((scale, unscale)) = power_of_two_scale(&ys) else {
        return Err(first_bad_value(names::Y, test.y.view()));
    };

    let mut mean = vec![0.0f64; d];
    for row in ys.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += *v * scale;
        }
    }
    let n_f = n as f64;
    for m in &mut mean {
        *m /= n_f;
    }

    let (mut ss_res, mut ss_tot, mut ss_y, mut cos_sum, mut dist_sum) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut rows_finite = true;
    for (yr, pr) in ys.chunks_exact(d).zip(ps.chunks_exact(d)) {
        let (mut res, mut dot, mut pp, mut yy) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for j in 0..d {
            let (y, p) = (yr[j] * scale, pr[j] * scale);
            let r = p - y;
            res += r * r;
            dot += p * y;
            pp += p * p;
            yy += y * y;
            let c = y - mean[j];
            ss_tot += c * c;
            ss_y += y * y;
        }
        // once per row, outside the inner loop: an infinite `pp` with a finite `dot` would
        // otherwise make this row's cosine a silent 0
        rows_finite &= res.is_finite() && dot.is_finite() && pp.is_finite();
        ss_res += res;
        dist_sum += res.sqrt();
        cos_sum += if pp == 0.0 || yy == 0.0 {
            0.0
        } else {
            (dot / (pp.sqrt() * yy.sqrt())).clamp(-1.0, 1.0)
        };
    }
    // (both sums are finite: the rescaled targets are below 2 in magnitude)
    if ss_tot <= (n_f * f64::EPSILON) * ss_y {
        return Err(Error::ZeroVariance);
    }
    if !rows_finite || !ss_res.is_finite() || !dist_sum.is_finite() || !cos_sum.is_finite() {
        return Err(Error::Overflow(
            "the residual sums of squares are not finite: the predictions exceed the targets \
             by a factor of more than about 1e150"
                .into(),
        ));
    }
    let metrics = Metrics {
        epsilon: (ss_res / ss_tot).sqrt(),
        rel_error: (ss_res / ss_y).sqrt(),
        cosine: cos_sum / n_f,
        euclidean: (dist_sum / n_f) * unscale,
        samples: n,
    };
    if ![
        metrics.epsilon,
        metrics.rel_error,
        metrics.cosine,
        metrics.euclidean,
    ]
    .iter()
    .all(|v| v.is_finite())
    {
        return Err(Error::Overflow(format!(
            "the metrics are not finite: {metrics:?}"
        )));
    }
    Ok(metrics)
}

// ---------------------------------------------------------------------------------------
// The certified product kernel: C[n, d_out] = A[n, d_in] · Bᵀ with B = W [d_out, d_in].
//
// Blocked like a BLIS GEMM (k-blocks of KC, row blocks of MC, MR×NR register tiles), with
// the running sums stored in C between k-blocks. Each element's sum still runs over k in
// increasing order from 0.0, so blocking and vector width never change a bit. Multiplies
// and adds are separate IEEE operations (Rust never contracts them into FMA).
// ---------------------------------------------------------------------------------------

const MR: usize = 6;
const NR: usize = 8;
const KC: usize = 256;
const MC: usize = 96;

/// Computes the product into `c`; returns whether some value of `a` or `b` is NaN or beyond
/// `MAX_ABS_VALUE` (checked while packing, which reads every value once anyway).
fn gemm_nt(a: &[f64], b: &[f64], c: &mut [f64], n: usize, d_in: usize, d_out: usize) -> bool {
    // Compiled for the best instruction set the CPU has (AVX2, ...) and dispatched at run
    // time; the arithmetic is the same IEEE operations on every path.
    pulp::Arch::new().dispatch(Gemm {
        a,
        b,
        c,
        n,
        d_in,
        d_out,
    })
}

struct Gemm<'a> {
    a: &'a [f64],
    b: &'a [f64],
    c: &'a mut [f64],
    n: usize,
    d_in: usize,
    d_out: usize,
}

impl pulp::WithSimd for Gemm<'_> {
    type Output = bool;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> bool {
        gemm_nt_impl(self.a, self.b, self.c, self.n, self.d_in, self.d_out)
    }
}

#[inline(always)]
fn gemm_nt_impl(a: &[f64], b: &[f64], c: &mut [f64], n: usize, d_in: usize, d_out: usize) -> bool {
    // the largest magnitude (as bits) of every packed value: packing reads each value of `a`
    // and `b` exactly once
    let mut max_bits = 0u64;
    let panels = d_out.div_ceil(NR);
    // Running sums in a padded, panel-major buffer: panel p, row i holds NR sums at
    // ((p * rows_pad) + i) * NR, so every tile is whole and contiguous.
    let rows_pad = n.div_ceil(MR) * MR;
    let mut acc = vec![0.0f64; panels * rows_pad * NR];
    let mut bpack = vec![0.0f64; panels * NR * KC];
    let mut apack = vec![0.0f64; MC.div_ceil(MR) * MR * KC];
    for k0 in (0..d_in).step_by(KC) {
        let kc = KC.min(d_in - k0);
        // Pack B (W rows) for this k-block: panel p holds [k][NR] for rows p*NR..p*NR+NR.
        for p in 0..panels {
            let panel = &mut bpack[p * NR * KC..(p + 1) * NR * KC];
            for jj in 0..NR {
                let j = p * NR + jj;
                if j < d_out {
                    let row = &b[j * d_in + k0..j * d_in + k0 + kc];
                    for (k, v) in row.iter().enumerate() {
                        panel[k * NR + jj] = *v;
                        max_bits = max_bits.max(magnitude_bits(*v));
                    }
                } else {
                    for k in 0..kc {
                        panel[k * NR + jj] = 0.0;
                    }
                }
            }
        }
        for i0 in (0..n).step_by(MC) {
            let mc = MC.min(n - i0);
            let micro = mc.div_ceil(MR);
            // Pack A: micro-panel m holds [k][MR] for rows i0+m*MR..
            for m in 0..micro {
                let ap = &mut apack[m * MR * KC..(m + 1) * MR * KC];
                for r in 0..MR {
                    let i = i0 + m * MR + r;
                    if i < n {
                        let row = &a[i * d_in + k0..i * d_in + k0 + kc];
                        for (k, v) in row.iter().enumerate() {
                            ap[k * MR + r] = *v;
                            max_bits = max_bits.max(magnitude_bits(*v));
                        }
                    } else {
                        for k in 0..kc {
                            ap[k * MR + r] = 0.0;
                        }
                    }
                }
            }
            for p in 0..panels {
                let bp = &bpack[p * NR * KC..p * NR * KC + kc * NR];
                for m in 0..micro {
                    let ap = &apack[m * MR * KC..m * MR * KC + kc * MR];
                    let start = (p * rows_pad + i0 + m * MR) * NR;
                    let tile: &mut [f64; MR * NR] =
                        match (&mut acc[start..start + MR * NR]).try_into() {
                            Ok(t) => t,
                            Err(_) => continue, // unreachable: the slice has MR * NR elements
                        };
                    kernel(ap, bp, tile);
                }
            }
        }
    }
    for p in 0..panels {
        let cols = NR.min(d_out - p * NR);
        for i in 0..n {
            let src = &acc[(p * rows_pad + i) * NR..(p * rows_pad + i) * NR + cols];
            c[i * d_out + p * NR..i * d_out + p * NR + cols].copy_from_slice(src);
        }
    }
    max_bits > MAX_ABS_BITS
}

/// One MR×NR tile: load the running sums, add `kc` products to each in order, store.
#[inline(always)]
fn kernel(ap: &[f64], bp: &[f64], tile: &mut [f64; MR * NR]) {
    let mut acc = *tile;
    for (a, b) in ap.chunks_exact(MR).zip(bp.chunks_exact(NR)) {
        for r in 0..MR {
            let ar = a[r];
            for cc in 0..NR {
                acc[r * NR + cc] += ar * b[cc];
            }
        }
    }
    *tile = acc;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;
    use ndarray::{Array1, array};

    fn naive_predict(m: &WMatrix, x: &Array2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), m.d_out()));
        for i in 0..x.nrows() {
            for j in 0..m.d_out() {
                let mut s = 0.0f64;
                for k in 0..m.d_in() {
                    s += x[[i, k]] * m.weight[[j, k]];
                }
                if let Some(b) = &m.bias {
                    s += b[j];
                }
                out[[i, j]] = s;
            }
        }
        out
    }

    #[test]
    fn kernel_is_bit_identical_to_the_naive_loop_on_ragged_shapes() {
        let mut seed = 1u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        for &(n, d_in, d_out) in &[(1, 1, 1), (7, 300, 9), (13, 513, 17), (97, 5, 3)] {
            let x = Array2::from_shape_fn((n, d_in), |_| next());
            let w = Array2::from_shape_fn((d_out, d_in), |_| next());
            let b = Array1::from_shape_fn(d_out, |_| next());
            let m = WMatrix::new(w, Some(b)).unwrap();
            assert_eq!(
                predict(&m, &x).unwrap(),
                naive_predict(&m, &x),
                "{n}x{d_in}x{d_out}"
            );
        }
    }

    #[test]
    fn perfect_map_scores_zero_and_mean_predictor_one() {
        let x = array![[1.0, 2.0], [3.0, -1.0], [0.5, 0.25]];
        let y = array![[2.0, 4.0], [6.0, -2.0], [1.0, 0.5]];
        let test = TestSet::new(x, y.clone()).unwrap();
        let double = WMatrix::new(Array2::eye(2) * 2.0, None).unwrap();
        let m = evaluate(&double, &test).unwrap();
        assert_eq!((m.epsilon, m.rel_error, m.euclidean), (0.0, 0.0, 0.0));
        assert_eq!(m.to_ppm().cosine_ppm, 1_000_000);
        let mean = y.mean_axis(ndarray::Axis(0)).unwrap();
        let mean_predictor = WMatrix::new(Array2::zeros((2, 2)), Some(mean)).unwrap();
        let m = evaluate(&mean_predictor, &test).unwrap();
        assert_eq!(m.epsilon, 1.0);
        assert_eq!(m.to_ppm().epsilon_ppm, 1_000_000);
        assert_eq!(m.tier(), Tier::Bronze);
    }

    #[test]
    fn typed_errors() {
        let test = TestSet::new(array![[1.0], [2.0]], array![[3.0], [3.0]]).unwrap();
        let m = WMatrix::new(array![[1.0]], None).unwrap();
        assert!(matches!(evaluate(&m, &test), Err(Error::ZeroVariance)));
        let wide = WMatrix::new(array![[1.0, 1.0]], None).unwrap();
        assert!(matches!(
            evaluate(&wide, &test),
            Err(Error::ShapeMismatch(_))
        ));
        assert!(matches!(
            WMatrix::new(array![[f64::MAX]], None),
            Err(Error::OutOfRange { .. })
        ));
        // built by hand past `new`: evaluate repeats the checks
        let huge = WMatrix {
            weight: array![[f64::MAX]],
            bias: None,
        };
        let t = TestSet::new(array![[2.0], [3.0]], array![[1.0], [2.0]]).unwrap();
        assert!(matches!(evaluate(&huge, &t), Err(Error::OutOfRange { .. })));
        // the kernel's packing finds x and weight values, the scale search y values
        let id = WMatrix::new(Array2::eye(2), None).unwrap();
        let by_hand = |x: Array2<f64>, y: Array2<f64>| evaluate(&id, &TestSet { x, y });
        let ok = array![[1.0, 2.0], [3.0, 4.0], [5.0, 7.0]];
        let mut bad = ok.clone();
        bad[[2, 1]] = -2e30;
        match by_hand(bad.clone(), ok.clone()) {
            Err(Error::OutOfRange { tensor, index, .. }) => assert_eq!((&*tensor, index), ("x", 5)),
            other => panic!("{other:?}"),
        }
        match by_hand(ok.clone(), bad) {
            Err(Error::OutOfRange { tensor, index, .. }) => assert_eq!((&*tensor, index), ("y", 5)),
            other => panic!("{other:?}"),
        }
        let mut nan = ok.clone();
        nan[[1, 0]] = f64::NAN;
        match by_hand(ok.clone(), nan.clone()) {
            Err(Error::NonFinite { tensor, index }) => assert_eq!((&*tensor, index), ("y", 2)),
            other => panic!("{other:?}"),
        }
        match by_hand(nan, ok) {
            Err(Error::NonFinite { tensor, index }) => assert_eq!((&*tensor, index), ("x", 2)),
            other => panic!("{other:?}"),
        }
        let tiny_targets = TestSet::new(array![[1e30], [-1e30]], array![[1e-300], [-1e-300]]);
        let big = WMatrix::new(array![[1e30]], None).unwrap();
        assert!(matches!(
            evaluate(&big, &tiny_targets.unwrap()),
            Err(Error::Overflow(_))
        ));
        assert!(matches!(
            TestSet::new(Array2::zeros((0, 2)), Array2::zeros((0, 2))),
            Err(Error::EmptyTestSet)
        ));
        assert!(matches!(
            TestSet::new(array![[f64::NAN]], array![[1.0]]),
            Err(Error::NonFinite { .. })
        ));
    }

    #[test]
    fn power_of_two_scale_brings_the_largest_target_into_one_two() {
        for (ys, s, u) in [
            (vec![1.0], 1.0, 1.0),
            (vec![-3.0, 0.5], 0.5, 2.0),
            (vec![1e30], 2f64.powi(-99), 2f64.powi(99)),
            (vec![0.0], 2f64.powi(1022), 2f64.powi(-1022)),
            (vec![1e-310], 2f64.powi(1022), 2f64.powi(-1022)),
        ] {
            assert_eq!(power_of_two_scale(&ys), Some((s, u)), "{ys:?}");
        }
        let ys = [2.4e-181, -1e-200];
        let (s, _) = power_of_two_scale(&ys).unwrap();
        let top = ys[0] * s;
        assert!((1.0..2.0).contains(&top), "{top}");
        for bad in [1.0000001e30, f64::INFINITY, f64::NAN, -f64::MAX] {
            assert_eq!(power_of_two_scale(&[1.0, bad]), None, "{bad}");
        }
    }

    #[test]
    fn tier_boundaries_and_saturation() {
        for (ppm, tier) in [
            (0, Tier::Platinum),
            (10_000, Tier::Platinum),
            (10_001, Tier::Gold),
            (50_000, Tier::Gold),
            (50_001, Tier::Silver),
            (100_000, Tier::Silver),
            (100_001, Tier::Bronze),
            (u32::MAX, Tier::Bronze),
        ] {
            assert_eq!(Tier::from_epsilon_ppm(ppm), tier);
            assert_eq!(Tier::from_level(tier.level()), Some(tier));
        }
        let m = Metrics {
            epsilon: 1e9,
            rel_error: 5e3,
            cosine: -1.0,
            euclidean: 1e30,
            samples: 1,
        };
        let p = m.to_ppm();
        assert_eq!((p.epsilon_ppm, p.rel_error_ppm), (u32::MAX, u32::MAX));
        assert_eq!((p.cosine_ppm, p.euclidean_ppm), (-1_000_000, u64::MAX));
    }
}
