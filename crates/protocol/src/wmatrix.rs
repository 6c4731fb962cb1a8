//! The two artifacts the protocol evaluates: a W-Matrix (`weight` [d_out, d_in] and an
//! optional `bias` [d_out]) and a test set (`x` [n, d_in], `y` [n, d_out]).

use std::path::Path;

use ndarray::{Array1, Array2};

use crate::{
    artifact::{Artifact, Dtype, Tensor, meta},
    error::{Error, Result},
};

/// Tensor names.
pub mod names {
    /// The W-Matrix weight, [d_out, d_in].
    pub const WEIGHT: &str = "weight";
    /// The optional W-Matrix bias, [d_out].
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

fn check_finite<'a>(name: &str, values: impl IntoIterator<Item = &'a f64>) -> Result<()> {
    match values.into_iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite {
            tensor: name.to_owned(),
            index,
        }),
        None => Ok(()),
    }
}

/// A linear map from one model's embedding space to another's: `ŷ = W·x + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct WMatrix {
    /// The weight, [d_out, d_in].
    pub weight: Array2<f64>,
    /// The optional bias, [d_out].
    pub bias: Option<Array1<f64>>,
}

impl WMatrix {
    /// Checks shapes and finiteness.
    pub fn new(weight: Array2<f64>, bias: Option<Array1<f64>>) -> Result<Self> {
        check_finite(names::WEIGHT, &weight)?;
        if let Some(b) = &bias {
            if b.len() != weight.nrows() {
                return Err(Error::ShapeMismatch(format!(
                    "bias has {} entries but weight has {} rows (d_out)",
                    b.len(),
                    weight.nrows()
                )));
            }
            check_finite(names::BIAS, b)?;
        }
        if weight.is_empty() {
            return Err(Error::ShapeMismatch(format!(
                "weight has an empty shape {:?}",
                weight.shape()
            )));
        }
        Ok(Self { weight, bias })
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
    /// Checks that both are non-empty, have the same number of rows and are finite.
    pub fn new(x: Array2<f64>, y: Array2<f64>) -> Result<Self> {
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
        check_finite(names::X, &x)?;
        check_finite(names::Y, &y)?;
        Ok(Self { x, y })
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
