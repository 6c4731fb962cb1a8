//! The two artifacts the protocol evaluates: a W-Matrix (`weight` [d_out, d_in] and an
//! optional `bias` `[d_out]`) and a test set (`x` [n, d_in], `y` [n, d_out]).
//!
//! Every value of both must be finite and at most [`MAX_ABS_VALUE`] in magnitude.

use std::path::Path;

use alloy::primitives::B256;
use ndarray::{Array1, Array2, ArrayView};

use crate::{
    artifact::{Artifact, Dtype, Tensor, meta},
    error::{Error, Result},
};

/// Tensor names.
pub mod names {
    /// The W-Matrix weight, [d_out, d_in].
    pub const WEIGHT: &str = "weight";
    /// The optional W-Matrix bias, `[d_out]`.
    pub const BIAS: &str = "bias";
    /// Test-set inputs, [n, d_in].
    pub const X: &str = "x";
    /// Test-set targets, [n, d_out].
    pub const Y: &str = "y";
}

/// `kind` metadata of a W-Matrix artifact.
pub const KIND_WMATRIX: &str = "w-matrix";
/// `kind` metadata of a test-set artifact.
pub const KIND_TEST_SET: &str = "test-set";

/// The largest magnitude a value of a W-Matrix or a test set may have: `1e30`.
///
/// With every `|x|, |w|, |b|, |y| ≤ B` and at most 2⁶² elements in any tensor (a file holds
/// fewer than 2⁶³ bytes, and the smallest float dtype has 2), a prediction is at most
/// `d_in·B² + B ≤ 2⁶²·10⁶⁰ + 10³⁰ < 4.7·10⁷⁸`, and every sum of squares of the metrics (and
/// of a fit's `XᵀX`) at most `2⁶²·(4.7·10⁷⁸ + 10³⁰)² < 10¹⁷⁶`, far below `f64::MAX ≈ 1.8·10³⁰⁸`:
/// no intermediate can overflow on unscaled inputs. Real embeddings are below 10⁵; 10³⁰ leaves
/// 25 orders of magnitude and keeps f32 data (up to 3.4·10³⁸) mostly readable.
pub const MAX_ABS_VALUE: f64 = 1e30;

/// [`MAX_ABS_VALUE`]'s bits: for a non-negative float the bit order is the numeric order, and
/// infinities and NaNs have larger bits than every finite value, so
/// `magnitude_bits(v) > MAX_ABS_BITS` is "NaN, infinite or beyond the bound" in one integer
/// comparison (which the compiler vectorises, unlike a float test with a NaN case).
pub(crate) const MAX_ABS_BITS: u64 = MAX_ABS_VALUE.to_bits();

/// The bits of `|v|`.
#[inline(always)]
pub(crate) fn magnitude_bits(v: f64) -> u64 {
    v.to_bits() & !(1u64 << 63)
}

/// Checks that every value is finite ([`Error::NonFinite`]) and at most [`MAX_ABS_VALUE`] in
/// magnitude ([`Error::OutOfRange`]); reports the first offender in row-major order.
pub(crate) fn check_values<D: ndarray::Dimension>(
    name: &str,
    values: ArrayView<'_, f64, D>,
) -> Result<()> {
    // a scan without branches or early exit, which the compiler vectorises; the search for
    // the offender only when it found something
    let any_bad = match values.as_slice_memory_order() {
        Some(s) => s
            .iter()
            .fold(false, |acc, v| acc | (magnitude_bits(*v) > MAX_ABS_BITS)),
        None => values.iter().any(|v| magnitude_bits(*v) > MAX_ABS_BITS),
    };
    if any_bad {
        Err(first_bad_value(name, values))
    } else {
        Ok(())
    }
}

/// The error for the first value (row-major) that is NaN, infinite or beyond
/// [`MAX_ABS_VALUE`]; called once a scan with the same test found one.
pub(crate) fn first_bad_value<D: ndarray::Dimension>(
    name: &str,
    values: ArrayView<'_, f64, D>,
) -> Error {
    let found = values
        .iter()
        .enumerate()
        .find(|(_, v)| magnitude_bits(**v) > MAX_ABS_BITS);
    match found {
        Some((index, v)) if v.is_finite() => Error::OutOfRange {
            tensor: name.to_owned(),
            index,
            value: *v,
            max: MAX_ABS_VALUE,
        },
        // NaN or infinite (`None` cannot happen after a scan that found one)
        other => Error::NonFinite {
            tensor: name.to_owned(),
            index: other.map_or(0, |(index, _)| index),
        },
    }
}

/// A linear map from one model's embedding space to another's: `ŷ = W·x + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct WMatrix {
    /// The weight, [d_out, d_in].
    pub weight: Array2<f64>,
    /// The optional bias, `[d_out]`.
    pub bias: Option<Array1<f64>>,
}

impl WMatrix {
    /// Checks shapes, finiteness and the [`MAX_ABS_VALUE`] bound.
    pub fn new(weight: Array2<f64>, bias: Option<Array1<f64>>) -> Result<Self> {
        let matrix = Self { weight, bias };
        matrix.validate()?;
        Ok(matrix)
    }

    /// The checks of [`WMatrix::new`] (the fields are public, so [`crate::evaluate`] repeats
    /// them rather than trust a value built by hand).
    pub fn validate(&self) -> Result<()> {
        check_values(names::WEIGHT, self.weight.view())?;
        self.check_shapes()?;
        match &self.bias {
            Some(b) => check_values(names::BIAS, b.view()),
            None => Ok(()),
        }
    }

    /// The shape checks of [`WMatrix::validate`]: a non-empty weight, a bias of `d_out`.
    pub(crate) fn check_shapes(&self) -> Result<()> {
        let weight = &self.weight;
        if let Some(b) = &self.bias
            && b.len() != weight.nrows()
        {
            return Err(Error::ShapeMismatch(format!(
                "bias has {} entries but weight has {} rows (d_out)",
                b.len(),
                weight.nrows()
            )));
        }
        if weight.is_empty() {
            return Err(Error::ShapeMismatch(format!(
                "weight has an empty shape {:?}",
                weight.shape()
            )));
        }
        Ok(())
    }

    /// Input dimension.
    pub fn d_in(&self) -> usize {
        self.weight.ncols()
    }

    /// Output dimension.
    pub fn d_out(&self) -> usize {
        self.weight.nrows()
    }

    /// Reads `weight` (and `bias` if present) from an artifact.
    pub fn from_artifact(artifact: &Artifact) -> Result<Self> {
        let weight = artifact.tensor(names::WEIGHT)?.to_array2(names::WEIGHT)?;
        let bias = match artifact.tensors.get(names::BIAS) {
            Some(t) => Some(t.to_array1(names::BIAS)?),
            None => None,
        };
        Self::new(weight, bias)
    }

    /// Opens a W-Matrix safetensors file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_artifact(&Artifact::open(path)?)
    }

    /// Opens a W-Matrix safetensors file and returns it with the content checksum of the
    /// bytes it was read from, reading the file once (see [`Artifact::open_with_checksum`]).
    pub fn load_with_checksum(path: impl AsRef<Path>) -> Result<(Self, B256)> {
        let (artifact, checksum) = Artifact::open_with_checksum(path)?;
        Ok((Self::from_artifact(&artifact)?, checksum))
    }

    /// An F32 artifact with `kind = w-matrix` and the given extra metadata.
    pub fn to_artifact<'a>(
        &self,
        metadata: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Artifact> {
        self.to_artifact_as(Dtype::F32, metadata)
    }

    /// An artifact of `dtype` (F32 or F64) with `kind = w-matrix` and extra metadata.
    pub fn to_artifact_as<'a>(
        &self,
        dtype: Dtype,
        metadata: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Artifact> {
        let weight: Vec<f64> = self.weight.iter().copied().collect();
        let shape = self.weight.shape().to_vec();
        let mut a = Artifact::new()
            .with_tensor(
                names::WEIGHT,
                Tensor::float_from_f64(names::WEIGHT, dtype, shape, &weight)?,
            )
            .with_meta(meta::KIND, KIND_WMATRIX);
        if let Some(b) = &self.bias {
            let values: Vec<f64> = b.iter().copied().collect();
            a = a.with_tensor(
                names::BIAS,
                Tensor::float_from_f64(names::BIAS, dtype, vec![b.len()], &values)?,
            );
        }
        for (k, v) in metadata {
            a = a.with_meta(k, v);
        }
        Ok(a)
    }
}

/// Paired samples to evaluate (or fit) a W-Matrix on: row `i` of `y` is the target for row
/// `i` of `x`.
#[derive(Clone, Debug, PartialEq)]
pub struct TestSet {
    /// Inputs, [n, d_in].
    pub x: Array2<f64>,
    /// Targets, [n, d_out].
    pub y: Array2<f64>,
}

impl TestSet {
    /// Checks that both are non-empty, have the same number of rows, are finite and within
    /// [`MAX_ABS_VALUE`].
    pub fn new(x: Array2<f64>, y: Array2<f64>) -> Result<Self> {
        let test = Self { x, y };
        test.validate()?;
        Ok(test)
    }

    /// The checks of [`TestSet::new`] (repeated by [`crate::evaluate`], as the fields are
    /// public).
    pub fn validate(&self) -> Result<()> {
        self.check_shapes()?;
        check_values(names::X, self.x.view())?;
        check_values(names::Y, self.y.view())
    }

    /// The shape checks of [`TestSet::validate`]: rows, equal row counts, columns.
    pub(crate) fn check_shapes(&self) -> Result<()> {
        let (x, y) = (&self.x, &self.y);
        if x.nrows() == 0 || y.nrows() == 0 {
            return Err(Error::EmptyTestSet);
        }
        if x.nrows() != y.nrows() {
            return Err(Error::ShapeMismatch(format!(
                "x has {} rows but y has {}",
                x.nrows(),
                y.nrows()
            )));
        }
        if x.ncols() == 0 || y.ncols() == 0 {
            return Err(Error::ShapeMismatch(format!(
                "x {:?} and y {:?} need at least one column",
                x.shape(),
                y.shape()
            )));
        }
        Ok(())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// Whether there are no samples (never true for a value built by [`TestSet::new`]).
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    /// Reads `x` and `y` from an artifact.
    pub fn from_artifact(artifact: &Artifact) -> Result<Self> {
        let x = artifact.tensor(names::X)?.to_array2(names::X)?;
        let y = artifact.tensor(names::Y)?.to_array2(names::Y)?;
        Self::new(x, y)
    }

    /// Opens a test-set safetensors file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_artifact(&Artifact::open(path)?)
    }

    /// Opens a test-set safetensors file and returns it with the content checksum of the
    /// bytes it was read from, reading the file once (see [`Artifact::open_with_checksum`]).
    pub fn load_with_checksum(path: impl AsRef<Path>) -> Result<(Self, B256)> {
        let (artifact, checksum) = Artifact::open_with_checksum(path)?;
        Ok((Self::from_artifact(&artifact)?, checksum))
    }

    /// An F32 artifact with `kind = test-set` and the given extra metadata.
    pub fn to_artifact<'a>(
        &self,
        metadata: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Artifact> {
        let mut a = Artifact::new()
            .with_tensor(names::X, Tensor::f32_from_array2(names::X, &self.x)?)
            .with_tensor(names::Y, Tensor::f32_from_array2(names::Y, &self.y)?)
            .with_meta(meta::KIND, KIND_TEST_SET);
        for (k, v) in metadata {
            a = a.with_meta(k, v);
        }
        Ok(a)
    }

    /// Checks that `matrix` maps this set's `x` to this set's `y` dimensions.
    pub fn check_matrix(&self, matrix: &WMatrix) -> Result<()> {
        if matrix.d_in() != self.x.ncols() || matrix.d_out() != self.y.ncols() {
            return Err(Error::ShapeMismatch(format!(
                "W-Matrix maps {} -> {} dimensions but the test set has x with {} and y with {} \
                 columns",
                matrix.d_in(),
                matrix.d_out(),
                self.x.ncols(),
                self.y.ncols()
            )));
        }
        Ok(())
    }
}
