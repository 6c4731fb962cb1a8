//! The crate's error type.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading artifacts, computing metrics, fitting or
/// handling certificates. Bad input always maps to one of these variants; the crate never
/// panics on input.
///
/// A variant that wraps another error names it as its `source` and does not repeat its text
/// in its own message, so a chain printer (`anyhow`'s `{:#}`) shows each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a named file (the message is the path; the cause is the source).
    #[error("{}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is shorter than its header says (truncated download, partial copy).
    #[error("truncated file: {0}")]
    Truncated(String),
    /// The safetensors header is malformed (bad JSON, bad offsets, wrong sizes, ...).
    #[error("malformed safetensors header: {0}")]
    MalformedHeader(String),
    /// The safetensors header length exceeds [`crate::artifact::MAX_HEADER_LEN`] or the file.
    #[error("safetensors header of {len} bytes exceeds the limit of {max} bytes")]
    HeaderTooLarge {
        /// Declared header length.
        len: u64,
        /// The bound that was exceeded.
        max: u64,
    },
    /// A `.npy` file could not be parsed.
    #[error("malformed npy file: {0}")]
    MalformedNpy(String),
    /// A dtype the operation does not support (e.g. an integer tensor where floats are needed).
    #[error("unsupported dtype {dtype} for tensor `{tensor}`")]
    UnsupportedDtype {
        /// Tensor name.
        tensor: String,
        /// The dtype found.
        dtype: String,
    },
    /// A required tensor is absent from the artifact.
    #[error("missing tensor `{0}`")]
    MissingTensor(String),
    /// A tensor has the wrong rank or dimensions.
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    /// A tensor holds a finite value beyond [`crate::wmatrix::MAX_ABS_VALUE`] where the
    /// metrics or fits need bounded inputs (so that no sum of squares can overflow).
    #[error(
        "tensor `{tensor}` holds {value:e} at flat index {index}; values must satisfy \
         |v| ≤ {max:e}"
    )]
    OutOfRange {
        /// Tensor name.
        tensor: String,
        /// Flat (row-major) index of the first offending element.
        index: usize,
        /// The offending value.
        value: f64,
        /// The bound.
        max: f64,
    },
    /// An intermediate of the metrics is not finite (the inputs are bounded, but the
    /// predictions can still be too large relative to the targets).
    #[error("numeric overflow: {0}")]
    Overflow(String),
    /// A tensor holds NaN or an infinity.
    #[error("tensor `{tensor}` holds a non-finite value at flat index {index}")]
    NonFinite {
        /// Tensor name.
        tensor: String,
        /// Flat (row-major) index of the first offending element.
        index: usize,
    },
    /// The test set has no rows.
    #[error("empty test set: `x` and `y` have no rows")]
    EmptyTestSet,
    /// The target rows are equal to within rounding (the centred sum of squares is at most
    /// `n·ε·Σy²`, see `docs/certificates.md`), so the centred error (epsilon) is undefined.
    #[error(
        "test set has (numerically) zero variance: the rows of `y` are equal to within \
         rounding, so epsilon is undefined"
    )]
    ZeroVariance,
    /// A fit could not be solved (singular system, failed SVD, bad hyper-parameter).
    #[error("fit failed: {0}")]
    Fit(String),
    /// A version string is not valid semver (the cause is the source).
    #[error("invalid version `{version}`")]
    Version {
        /// The offending string.
        version: String,
        /// The parser's error.
        #[source]
        source: semver::Error,
    },
    /// A certificate file or field is malformed.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// A signature did not verify or could not be produced.
    #[error("signature error: {0}")]
    Signature(String),
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
