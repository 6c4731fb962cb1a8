//! Semver compatibility (issue 8, attack 15): precedence ignores build metadata, and 0.y.z
//! versions follow the caret rule.

use memory_protocol::version::is_compatible;

#[test]
fn semver_build_metadata_does_not_change_compatibility() {
    // 1.0.0+a and 1.0.0+b have the same precedence: each satisfies the other
    for (required, available) in [
        ("1.0.0+a", "1.0.0+b"),
        ("1.0.0+b", "1.0.0+a"),
        ("1.0.0", "1.0.0+build.7"),
        ("1.0.0+build.7", "1.0.0"),
        ("1.2.0-rc.1+z", "1.2.0-rc.1+a"),
        ("0.3.1+x", "0.3.1+w"),
    ] {
        assert!(
            is_compatible(required, available).unwrap(),
            "{available} does not satisfy {required}"
        );
    }
    // and build metadata does not rescue an older version
    assert!(!is_compatible("1.0.1+a", "1.0.0+z").unwrap());
}

#[test]
fn semver_zero_major_versions_are_compatible_within_their_minor() {
    // 0.y.z: the minor acts as the major (any 0.y may break 0.y-1)
    assert!(is_compatible("0.3.0", "0.3.7").unwrap());
    assert!(!is_compatible("0.3.0", "0.4.0").unwrap());
    assert!(!is_compatible("0.4.0", "0.3.9").unwrap());
    // 0.0.z: every patch may break
    assert!(is_compatible("0.0.3", "0.0.3").unwrap());
    assert!(!is_compatible("0.0.3", "0.0.4").unwrap());
    // 1.y.z keeps the usual rule
    assert!(is_compatible("1.3.0", "1.9.0").unwrap());
    assert!(!is_compatible("1.3.0", "2.0.0").unwrap());
}
