//! Semantic-version compatibility of artifacts.
//!
//! MAJOR changes with the model pair, the dimensions or the dtype; MINOR with a refit; PATCH
//! with metadata only. A consumer that needs `required` can use `available` when both have
//! the same major version and `available >= required`.

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
    required.major == available.major && available >= required
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
        assert!(matches!(
            is_compatible("1.0", "1.0.0"),
            Err(Error::Version { .. })
        ));
    }
}
