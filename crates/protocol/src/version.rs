//! Semantic-version compatibility of artifacts.
//!
//! MAJOR changes with the model pair, the dimensions or the dtype; MINOR with a refit; PATCH
//! with metadata only. A consumer that needs `required` can use `available` when both are in
//! the same compatibility range (the caret rule, as Cargo and npm read `^required`) and
//! `available` has at least the precedence of `required`:
//!
//! - `1.y.z` and up: the same MAJOR;
//! - `0.y.z` with `y > 0`: the same MAJOR and MINOR (in initial development a MINOR may break);
//! - `0.0.z`: the same version (every PATCH may break).
//!
//! Precedence is semver's (§11): build metadata (`+…`) is ignored, so `1.0.0+a` and `1.0.0+b`
//! satisfy each other; a pre-release is older than its release (`1.0.0-rc.1 < 1.0.0`).

use std::cmp::Ordering;

use semver::Version;

use crate::error::{Error, Result};

/// Parses a semver string (`"1.2.3"`, `"2.0.0-rc.1"`).
pub fn parse_version(s: &str) -> Result<Version> {
    Version::parse(s.trim()).map_err(|source| Error::Version {
        version: s.to_owned(),
        source,
    })
}

/// Whether an artifact at version `available` satisfies a consumer that needs `required`.
///
/// ```
/// use memory_protocol::version::is_compatible;
/// assert!(is_compatible("1.2.0", "1.4.1")?);
/// assert!(!is_compatible("1.2.0", "1.1.9")?); // older minor
/// assert!(!is_compatible("1.2.0", "2.0.0")?); // other major
/// assert!(!is_compatible("0.2.0", "0.3.0")?); // 0.y: the minor acts as the major
/// assert!(is_compatible("1.0.0+b", "1.0.0+a")?); // build metadata has no precedence
/// # Ok::<(), memory_protocol::Error>(())
/// ```
pub fn is_compatible(required: &str, available: &str) -> Result<bool> {
    Ok(compatible(
        &parse_version(required)?,
        &parse_version(available)?,
    ))
}

/// [`is_compatible`] on parsed versions.
pub fn compatible(required: &Version, available: &Version) -> bool {
    let same_range = match (required.major, required.minor) {
        (0, 0) => (available.major, available.minor, available.patch) == (0, 0, required.patch),
        (0, minor) => available.major == 0 && available.minor == minor,
        (major, _) => available.major == major,
    };
    // `Ord` on `semver::Version` breaks ties on build metadata; semver precedence does not.
    same_range && available.cmp_precedence(required) != Ordering::Less
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(is_compatible("1.0.0", "1.0.0").unwrap());
        assert!(is_compatible("1.0.0", "1.0.1").unwrap());
        assert!(!is_compatible("1.0.1", "1.0.0").unwrap());
        assert!(!is_compatible("2.0.0", "1.9.9").unwrap());
        assert!(is_compatible("1.0.0", "1.1.0-rc.1").unwrap());
        assert!(!is_compatible("1.0.0", "1.0.0-rc.1").unwrap());
        assert!(is_compatible("0.0.3-rc.1", "0.0.3").unwrap());
        assert!(!is_compatible("0.0.3", "0.0.3-rc.1").unwrap());
        assert!(matches!(
            is_compatible("1.0", "1.0.0"),
            Err(Error::Version { .. })
        ));
    }
}
