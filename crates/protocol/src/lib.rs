//! The protocol of the Memory Asset Layer: what a memory artifact is, how its checksum is
//! computed, how well a W-Matrix aligns two models' embedding spaces (epsilon and friends),
//! and the EIP-712 certificate that the MemoryNFT contract verifies.
//!
//! - [`artifact`]: safetensors files (strict reader, deterministic writer) and `.npy` input.
//! - [`checksum`]: the layout-independent content checksum anchored on chain, and the plain
//!   file SHA-256, both streamed.
//! - [`metrics`]: the certified metrics in f64 with a fixed summation order, their ppm
//!   integers (round half to even) and the tier.
//! - [`fit`]: ridge regression and orthogonal Procrustes (faer, multi-threaded).
//! - [`certificate`]: the `sol!` struct, domain, digest, signing, JSON files, verification.
//! - [`version`]: semver compatibility of artifacts.
//!
//! Every figure is recomputable by any verifier to the same integer; see
//! `docs/certificates.md` for the formats and formulas. A verifier reads each file once
//! ([`WMatrix::load_with_checksum`], [`TestSet::load_with_checksum`],
//! [`Artifact::open_with_checksum`]), so the checksum it compares is that of the bytes it
//! evaluates.
//!
//! ```
//! use memory_protocol::{evaluate, fit_ridge, FitOptions, TestSet, Tier};
//! use ndarray::Array2;
//!
//! // A noiseless linear relation: the fitted map is perfect.
//! let x = Array2::from_shape_fn((50, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
//! let w_true = Array2::from_shape_fn((3, 4), |(i, j)| (i as f64) - (j as f64) * 0.5);
//! let y = x.dot(&w_true.t());
//! let train = TestSet::new(x, y)?;
//! let w = fit_ridge(&train, 0.0, FitOptions::default())?;
//! let metrics = evaluate(&w, &train)?;
//! assert!(metrics.to_ppm().epsilon_ppm <= 1);
//! assert_eq!(metrics.tier(), Tier::Platinum);
//! # Ok::<(), memory_protocol::Error>(())
//! ```

pub mod artifact;
pub mod certificate;
pub mod checksum;
pub mod error;
pub mod fit;
pub mod metrics;
pub mod version;
pub mod wmatrix;

pub use artifact::{Artifact, Dtype, Tensor, read_npy};
pub use certificate::{
    Certificate, Recomputed, SignedCertificate, build_certificate, compare, domain,
    sign_certificate,
};
pub use checksum::{Checksums, checksum_file, content_checksum};
pub use error::{Error, Result};
pub use fit::{FitOptions, fit_procrustes, fit_ridge};
pub use metrics::{Metrics, MetricsPpm, Tier, evaluate, predict};
pub use wmatrix::{TestSet, WMatrix};
