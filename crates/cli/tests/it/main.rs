//! End-to-end tests of the `memory` binary: every command on real temp files, and one
//! readable `error:` line with a non-zero exit for every kind of bad input.
#![allow(clippy::unwrap_used, missing_docs)]

mod chain;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use memory_protocol::{Artifact, Dtype, Tensor, artifact::npy_bytes_f64};
use ndarray::Array2;
use serde_json::Value;
use tempfile::TempDir;

const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const SIGNER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// The creator certificates name (anvil's account 2).
const CREATOR: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const NFT: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

fn memory(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memory"))
        .args(args)
        .current_dir(dir)
        .env_remove("MEMORY_PRIVATE_KEY")
        .env_remove("MEMORY_KEYSTORE")
        .env_remove("MEMORY_KEYSTORE_PASSWORD")
        .env_remove("MEMORY_NFT_ADDRESS")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = memory(dir, args);
    assert!(
        out.status.success(),
        "memory {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(dir, &all)).unwrap()
}

/// Runs a command that must fail with exactly one `error: ...` line containing `needle`.
fn fails(dir: &Path, args: &[&str], needle: &str) {
    let out = memory(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "memory {args:?} should fail");
    assert_eq!(out.status.code(), Some(1), "memory {args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(needle), "`{needle}` not in: {stderr}");
}

fn random(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Array2::from_shape_fn((rows, cols), |_| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    })
}

/// A working directory with train/test npy files and packed artifacts.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let x = random(120, 6, 1);
        let w = random(5, 6, 2);
        let y = x.dot(&w.t()) + random(120, 5, 3) * 0.05;
        let write = |name: &str, a: &Array2<f64>| {
            std::fs::write(dir.path().join(name), npy_bytes_f64(a)).unwrap()
        };
        write("x.npy", &x.slice(ndarray::s![..80, ..]).to_owned());
        write("y.npy", &y.slice(ndarray::s![..80, ..]).to_owned());
        write("xt.npy", &x.slice(ndarray::s![80.., ..]).to_owned());
        write("yt.npy", &y.slice(ndarray::s![80.., ..]).to_owned());
        let f = Self { dir };
        ok(
            f.path(),
            &[
                "pack",
                "-o",
                "test.safetensors",
                "--tensor",
                "x=xt.npy",
                "--tensor",
                "y=yt.npy",
                "--meta",
                "kind=test-set",
            ],
        );
        ok(
            f.path(),
            &[
                "fit",
                "--x",
                "x.npy",
                "--y",
                "y.npy",
                "--lambda",
                "0.01",
                "-o",
                "w.safetensors",
                "--meta",
                "version=1.0.0",
            ],
        );
        f
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_artifact(&self, name: &str, a: &Artifact) {
        a.write(self.file(name)).unwrap();
    }
}

#[test]
fn pack_fit_evaluate_certify_verify() {
    let f = Fixture::new();
    let d = f.path();
    let sums = json(d, &["checksum", "w.safetensors"]);
    let checksum = sums["checksum"].as_str().unwrap().to_owned();
    assert!(
        checksum.starts_with("0x") && checksum.len() == 66 && checksum == checksum.to_lowercase()
    );
    assert_eq!(sums["tensors"], 2);
    let content = json(d, &["checksum", "--content-only", "w.safetensors"]);
    assert_eq!(content["checksum"], sums["checksum"]);
    let sha = std::process::Command::new("sha256sum")
        .arg(f.file("w.safetensors"))
        .output()
        .unwrap();
    let sha = String::from_utf8(sha.stdout).unwrap();
    assert_eq!(
        sums["sha256"].as_str().unwrap(),
        format!("0x{}", &sha[..64])
    );
    // Forced progress goes to stderr and leaves stdout clean.
    let out = memory(d, &["--progress", "--json", "checksum", "w.safetensors"]);
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["checksum"],
        sums["checksum"]
    );

    // Re-packing the same content in another file gives the same content checksum.
    ok(
        d,
        &["pack", "-o", "copy.safetensors", "--from", "w.safetensors"],
    );
    assert_eq!(
        json(d, &["checksum", "copy.safetensors"])["checksum"],
        sums["checksum"]
    );

    let m = json(
        d,
        &[
            "evaluate",
            "--matrix",
            "w.safetensors",
            "--test",
            "test.safetensors",
        ],
    );
    let eps = m["epsilonPpm"].as_u64().unwrap();
    assert!(eps > 0 && eps < 200_000, "{m}");
    assert_eq!(m["testSamples"], 40);

    let c = json(
        d,
        &[
            "certify",
            "--matrix",
            "w.safetensors",
            "--test",
            "test.safetensors",
            "--contract",
            NFT,
            "--creator",
            CREATOR,
            "--private-key",
            KEY,
            "--issued-at",
            "1000",
            "--valid-days",
            "30",
            "--nonce",
            "7",
            "-o",
            "cert.json",
        ],
    );
    assert_eq!(c["certifier"], SIGNER);
    assert_eq!(c["creator"], CREATOR);
    assert_eq!(c["checksum"].as_str(), Some(checksum.as_str()));
    assert_eq!(c["epsilonPpm"].as_u64(), Some(eps));
    let v = json(
        d,
        &[
            "verify-cert",
            "cert.json",
            "--matrix",
            "w.safetensors",
            "--test",
            "test.safetensors",
            "--certifier",
            SIGNER,
            "--creator",
            CREATOR,
            "--now",
            "2593000",
        ],
    );
    assert_eq!(v["match"], true);
    // Checked at its last valid second (expiry is inclusive, as on chain).
    assert_eq!(v["expiresAt"], "2593000");
    assert_eq!(v["expired"], false);
    assert_eq!(v["anchorable"], true);
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(f.file("cert.json")).unwrap()).unwrap();
    assert_eq!(file["certificate"]["expiresAt"], "2593000");
    assert_eq!(file["certificate"]["nonce"], "7");
    assert_eq!(file["certificate"]["creator"], CREATOR);
    assert_eq!(file["certificate"]["certifier"], SIGNER);
    assert_eq!(file["domain"]["verifyingContract"], NFT);

    // Human output too.
    let text = ok(
        d,
        &[
            "verify-cert",
            "cert.json",
            "--matrix",
            "w.safetensors",
            "--test",
            "test.safetensors",
            "--now",
            "1000",
        ],
    );
    assert!(
        text.contains("certificate matches the files and is valid at 1000"),
        "{text}"
    );
    // One second after expiry, before issue, or for another creator: what the contract refuses.
    let verify_at = |now: &str, extra: &[&str], needle: &str| {
        let mut args = vec![
            "verify-cert",
            "cert.json",
            "--matrix",
            "w.safetensors",
            "--test",
            "test.safetensors",
            "--now",
            now,
        ];
        args.extend_from_slice(extra);
        fails(d, &args, needle);
    };
    verify_at(
        "2593001",
        &[],
        "the contract would refuse this certificate at 2593001 (CertificateExpired)",
    );
    verify_at("999", &[], "(CertificateNotYetIssued)");
    verify_at(
        "1000",
        &["--creator", SIGNER],
        "(CertificateCreatorMismatch)",
    );
    // Without --now the clock decides: this certificate expired long ago.
    fails(
        d,
        &[
            "verify-cert",
            "cert.json",
            "--matrix",
            "w.safetensors",
            "--test",
            "test.safetensors",
        ],
        "(CertificateExpired)",
    );

    // A full-precision fit.
    ok(
        d,
        &[
            "fit",
            "--train",
            "test.safetensors",
            "--dtype",
            "f64",
            "-o",
            "w64.safetensors",
        ],
    );
    let a = Artifact::open(f.file("w64.safetensors")).unwrap();
    assert_eq!(a.tensors["weight"].dtype(), Dtype::F64);
    assert_eq!(a.metadata["fit_method"], "ridge");

    // Procrustes on square data.
    ok(
        d,
        &[
            "fit",
            "--x",
            "x.npy",
            "--y",
            "x.npy",
            "--method",
            "procrustes",
            "-o",
            "p.safetensors",
        ],
    );
    ok(
        d,
        &[
            "pack",
            "-o",
            "sq.safetensors",
            "--tensor",
            "x=xt.npy",
            "--tensor",
            "y=xt.npy",
        ],
    );
    let pm = json(
        d,
        &[
            "evaluate",
            "--matrix",
            "p.safetensors",
            "--test",
            "sq.safetensors",
        ],
    );
    assert!(pm["epsilonPpm"].as_u64().unwrap() <= 1, "{pm}");
    assert_eq!(pm["tier"], "platinum");
}

#[test]
fn certificate_for_other_files_or_tampered_fails() {
    let f = Fixture::new();
    let d = f.path();
    ok(
        d,
        &[
            "certify",
            "--matrix",
            "w.safetensors",
            "--test",
            "test.safetensors",
            "--contract",
            NFT,
            "--creator",
            CREATOR,
            "--private-key",
            KEY,
            "-o",
            "cert.json",
        ],
    );
    // Another W-Matrix (a different fit): checksum and metrics mismatch.
    ok(
        d,
        &[
            "fit",
            "--x",
            "x.npy",
            "--y",
            "y.npy",
            "--lambda",
            "5",
            "-o",
            "w2.safetensors",
        ],
    );
    fails(
        d,
        &[
            "verify-cert",
            "cert.json",
            "--matrix",
            "w2.safetensors",
            "--test",
            "test.safetensors",
        ],
        "does not match the files: checksum, epsilonPpm",
    );
    let out = memory(
        d,
        &[
            "verify-cert",
            "cert.json",
            "--matrix",
            "w2.safetensors",
            "--test",
            "test.safetensors",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("MISMATCH"));
    // Same matrix, other test set.
    ok(
        d,
        &[
            "pack",
            "-o",
            "test2.safetensors",
            "--tensor",
            "x=x.npy",
            "--tensor",
            "y=y.npy",
        ],
    );
    fails(
        d,
        &[
            "verify-cert",
            "cert.json",
            "--matrix",
            "w.safetensors",
            "--test",
            "test2.safetensors",
        ],
        "testSetChecksum",
    );
    // Required signer differs.
    fails(
        d,
        &[
            "verify-cert",
            "cert.json",
            "--matrix",
            "w.safetensors",
            "--test",
            "test.safetensors",
            "--signer",
            NFT,
        ],
        "not by the required certifier",
    );
    // A better grade written into the file: the signature no longer verifies.
    let text = std::fs::read_to_string(f.file("cert.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["certificate"]["epsilonPpm"] = 1.into();
    v["certificate"]["level"] = 4.into();
    std::fs::write(f.file("forged.json"), v.to_string()).unwrap();
    fails(
        d,
        &[
            "verify-cert",
            "forged.json",
            "--matrix",
            "w.safetensors",
            "--test",
            "test.safetensors",
        ],
        "invalid certificate signature",
    );
    std::fs::write(f.file("junk.json"), "{\"format\": 1}").unwrap();
    fails(
        d,
        &[
            "verify-cert",
            "junk.json",
            "--matrix",
            "w.safetensors",
            "--test",
            "test.safetensors",
        ],
        "invalid certificate",
    );
}

#[test]
fn bad_tensors_give_one_error_line() {
    let f = Fixture::new();
    let d = f.path();
    let eval = |m: &str, t: &str, needle: &str| {
        fails(d, &["evaluate", "--matrix", m, "--test", t], needle)
    };

    // NaN / Inf.
    let mut nan = random(5, 6, 9);
    nan[[2, 3]] = f64::NAN;
    f.write_artifact(
        "nan.safetensors",
        &Artifact::new().with_tensor(
            "weight",
            Tensor::new(
                Dtype::F64,
                vec![5, 6],
                nan.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
            .unwrap(),
        ),
    );
    eval(
        "nan.safetensors",
        "test.safetensors",
        "non-finite value at flat index 15",
    );
    let inf = Tensor::from_f32(vec![1, 6], &[1.0, f32::INFINITY, 0.0, 0.0, 0.0, 0.0]).unwrap();
    f.write_artifact(
        "inf.safetensors",
        &Artifact::new()
            .with_tensor("x", inf)
            .with_tensor("y", Tensor::from_f32(vec![1, 5], &[0.0; 5]).unwrap()),
    );
    eval("w.safetensors", "inf.safetensors", "non-finite");

    // Dimension mismatch between W and the test set.
    f.write_artifact(
        "wide.safetensors",
        &Artifact::new().with_tensor("weight", Tensor::from_f32(vec![5, 7], &[0.5; 35]).unwrap()),
    );
    eval("wide.safetensors", "test.safetensors", "shape mismatch");
    // Missing tensor; unsupported dtype.
    eval(
        "test.safetensors",
        "test.safetensors",
        "missing tensor `weight`",
    );
    f.write_artifact(
        "int.safetensors",
        &Artifact::new().with_tensor(
            "weight",
            Tensor::new(Dtype::I32, vec![5, 6], vec![0; 120]).unwrap(),
        ),
    );
    eval(
        "int.safetensors",
        "test.safetensors",
        "unsupported dtype I32",
    );
    // Empty test set; zero-variance target.
    f.write_artifact(
        "empty.safetensors",
        &Artifact::new()
            .with_tensor("x", Tensor::from_f32(vec![0, 6], &[]).unwrap())
            .with_tensor("y", Tensor::from_f32(vec![0, 5], &[]).unwrap()),
    );
    eval("w.safetensors", "empty.safetensors", "empty test set");
    f.write_artifact(
        "flat.safetensors",
        &Artifact::new()
            .with_tensor("x", Tensor::from_f32(vec![3, 6], &[0.25; 18]).unwrap())
            .with_tensor("y", Tensor::from_f32(vec![3, 5], &[1.0; 15]).unwrap()),
    );
    eval(
        "w.safetensors",
        "flat.safetensors",
        "(numerically) zero variance",
    );
    // Rows of x and y disagree.
    f.write_artifact(
        "rows.safetensors",
        &Artifact::new()
            .with_tensor("x", Tensor::from_f32(vec![3, 6], &[0.25; 18]).unwrap())
            .with_tensor("y", Tensor::from_f32(vec![2, 5], &[1.0; 10]).unwrap()),
    );
    eval(
        "w.safetensors",
        "rows.safetensors",
        "x has 3 rows but y has 2",
    );
}

#[test]
fn bad_files_give_one_error_line() {
    let f = Fixture::new();
    let d = f.path();
    let bytes = std::fs::read(f.file("w.safetensors")).unwrap();
    std::fs::write(f.file("cut.safetensors"), &bytes[..bytes.len() - 10]).unwrap();
    fails(d, &["checksum", "cut.safetensors"], "truncated file");
    // the OS error once, not once per level of the error chain
    fails(
        d,
        &["checksum", "absent.safetensors"],
        "cannot checksum absent.safetensors: No such file or directory",
    );
    let out = memory(d, &["checksum", "absent.safetensors"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
    fails(
        d,
        &[
            "evaluate",
            "--matrix",
            "cut.safetensors",
            "--test",
            "test.safetensors",
        ],
        "truncated file",
    );
    // A header length of ~2^63 bytes: refused before any allocation.
    let mut huge = (u64::MAX / 2).to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    std::fs::write(f.file("huge.safetensors"), huge).unwrap();
    fails(d, &["checksum", "huge.safetensors"], "exceeds the limit");
    let mut bad = 6u64.to_le_bytes().to_vec();
    bad.extend_from_slice(b"{nope}");
    std::fs::write(f.file("bad.safetensors"), bad).unwrap();
    fails(
        d,
        &["checksum", "bad.safetensors"],
        "malformed safetensors header",
    );
    fails(d, &["checksum", "absent.safetensors"], "No such file");
    std::fs::write(f.file("bad.npy"), b"\x93NUMPY garbage").unwrap();
    fails(
        d,
        &["pack", "-o", "o.safetensors", "--tensor", "x=bad.npy"],
        "malformed npy",
    );
    fails(
        d,
        &[
            "pack",
            "-o",
            "o.safetensors",
            "--tensor",
            "x=x.npy",
            "--meta",
            "version=one",
        ],
        "invalid version",
    );
    fails(
        d,
        &[
            "pack",
            "-o",
            "o.safetensors",
            "--tensor",
            "x=x.npy",
            "--meta",
            "kind=w-matrix",
        ],
        "missing tensor `weight`",
    );
    fails(
        d,
        &[
            "fit",
            "--x",
            "x.npy",
            "--y",
            "xt.npy",
            "-o",
            "o.safetensors",
        ],
        "x has 80 rows but y has 40",
    );
    fails(
        d,
        &[
            "fit",
            "--x",
            "x.npy",
            "--y",
            "y.npy",
            "--lambda=-1",
            "-o",
            "o.safetensors",
        ],
        "lambda must be",
    );
    fails(
        d,
        &[
            "fit",
            "--x",
            "x.npy",
            "--y",
            "y.npy",
            "--method",
            "procrustes",
            "-o",
            "o.safetensors",
        ],
        "d_in = d_out",
    );
    // Usage errors: one line too, exit code 2.
    for args in [
        &["evaluate", "--matrix", "w.safetensors"][..],
        &["fit", "--method", "lasso"],
        &["nope"],
    ] {
        let out = memory(d, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains("memory --help"),
            "{stderr}"
        );
    }
    // token ids and amounts are checked before anything is read or sent
    for (args, needle) in [
        (
            &["show", "abc"][..],
            "`abc` is not a token id (a whole number",
        ),
        (&["buy", "-1"], "unexpected argument '-1'"),
        (
            &["verify", "1.5", "--matrix", "w.safetensors"],
            "`1.5` is not a token id",
        ),
        (
            &["mint", "w.safetensors", "--parent", "0xzz"],
            "`0xzz` is not a token id",
        ),
        (&["withdraw", "--account", "two"], "`two` is not a token id"),
        (&["list", "1", "--price", "1e99"], "`1e99` is not an amount"),
    ] {
        let out = memory(d, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert!(ok(d, &["--help"]).contains("verify-cert"));
}

#[test]
fn keys_and_passwords() {
    let f = Fixture::new();
    let d = f.path();
    let certify = |extra: &[&str]| {
        let mut args = vec![
            "certify",
            "--matrix",
            "w.safetensors",
            "--test",
            "test.safetensors",
            "--contract",
            NFT,
            "--creator",
            CREATOR,
            "-o",
            "c.json",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |extra: &[&str], needle: &str| {
        let args = certify(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(d, &refs, needle);
    };
    run(&[], "no signing key");
    run(&["--private-key", "0x1234"], "not a valid 32-byte hex key");
    run(
        &["--keystore", "absent.json", "--password-file", "pw"],
        "does not exist",
    );

    // A real keystore written by Foundry's cast (installed by scripts/install); the key
    // stays encrypted on disk.
    let cast = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/cast");
    assert!(cast.exists(), "cast missing: run scripts/install");
    let st = Command::new(cast)
        .args([
            "wallet",
            "import",
            "certifier",
            "--private-key",
            KEY,
            "--unsafe-password",
            "s3cret",
            "--keystore-dir",
        ])
        .arg(f.path())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::write(f.file("pw"), "s3cret\n").unwrap();
    std::fs::write(f.file("wrong"), "guess\n").unwrap();
    run(
        &["--keystore", "certifier", "--password-file", "wrong"],
        "wrong password",
    );
    let args = certify(&["--keystore", "certifier", "--password-file", "pw"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(d, &refs);
    assert!(out.contains(SIGNER), "{out}");
    // The password from the environment; no terminal to prompt on otherwise.
    let out = Command::new(env!("CARGO_BIN_EXE_memory"))
        .args(certify(&["--keystore", "certifier"]))
        .current_dir(d)
        .env("MEMORY_KEYSTORE_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(&["--keystore", "certifier"], "no keystore password");
}
