//! Error text (issue 8, attack 15): each cause prints once when an error is shown with its
//! source chain, as `anyhow`'s `{:#}` (and the CLI's `error:` line) shows it.

use memory_protocol::{Artifact, Error, FitOptions, TestSet, fit_ridge, version::parse_version};
use ndarray::array;

/// The error and its sources joined with ": ", which is what `format!("{:#}", anyhow_error)`
/// prints.
fn chain(e: &Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn assert_once(text: &str, needle: &str) {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "`{needle}` is not printed exactly once in `{text}`"
    );
}

#[test]
fn errors_print_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.safetensors");
    let e = Artifact::open(&missing).unwrap_err();
    let text = chain(&e);
    assert_once(&text, "No such file or directory");
    assert_once(&text, "missing.safetensors");

    let e = parse_version("1.0").unwrap_err();
    let text = chain(&e);
    assert_once(&text, "1.0");
    assert_once(&text, "unexpected end of input");

    let train = TestSet::new(array![[1.0], [2.0]], array![[1.0], [2.0]]).unwrap();
    let e = fit_ridge(&train, -1.0, FitOptions::default()).unwrap_err();
    let text = chain(&e);
    assert_once(&text, "fit failed");
    assert_once(&text, "lambda");
}
