//! Verification reads each artifact file once (issue 8, attack 15): the content checksum is
//! computed from the very bytes that are evaluated, so a file replaced between a "hash" read
//! and an "evaluate" read cannot make a certificate pair one file's checksum with another
//! file's metrics. Measured with the kernel's count of bytes read (`rchar`) in a child process.

use std::path::Path;

use memory_protocol::{Recomputed, TestSet, WMatrix, checksum::content_checksum_file, evaluate};

use crate::{is_probe, probe_print, proc_rchar, run_probe};

/// A W-Matrix and a test set of a few MB each; returns their total size in bytes.
fn write_pair(dir: &Path) -> u64 {
    let mut rng = crate::rng(15);
    let (n, d_in, d_out) = (2000, 256, 128);
    let x = crate::random_matrix(&mut rng, n, d_in);
    let w = crate::random_matrix(&mut rng, d_out, d_in);
    let y = x.dot(&w.t()) + crate::random_matrix(&mut rng, n, d_out) * 0.1;
    let matrix = WMatrix::new(w, None).unwrap();
    matrix
        .to_artifact([])
        .unwrap()
        .write(dir.join("w.safetensors"))
        .unwrap();
    TestSet::new(x, y)
        .unwrap()
        .to_artifact([])
        .unwrap()
        .write(dir.join("t.safetensors"))
        .unwrap();
    ["w.safetensors", "t.safetensors"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).unwrap().len())
        .sum()
}

/// Bytes read by the child while it verifies the pair in `mode`.
fn bytes_read(dir: &Path, mode: &str) -> u64 {
    let values = run_probe(
        "verification::verification_read_probe",
        &[
            ("MEMORY_PROBE_DIR", dir.as_os_str()),
            ("MEMORY_PROBE_MODE", mode.as_ref()),
        ],
    );
    values
        .iter()
        .find(|(k, _)| k == "bytes_read")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap()
}

fn assert_read_once(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let total = write_pair(dir.path());
    let read = bytes_read(dir.path(), mode);
    println!("{mode}: files {total} bytes, read {read} bytes");
    assert!(
        read >= total && read <= total + 64 * 1024,
        "{mode}: verifying {total} bytes of files read {read} bytes ({:.2} times)",
        read as f64 / total as f64
    );
}

#[test]
fn verification_reads_each_file_once() {
    assert_read_once("load_with_checksum");
}

#[test]
fn verification_recomputed_from_files_reads_each_file_once() {
    assert_read_once("recomputed");
}

/// The child side of the two tests above.
#[test]
fn verification_read_probe() {
    if !is_probe("verification::verification_read_probe") {
        return;
    }
    let dir = std::env::var_os("MEMORY_PROBE_DIR").unwrap();
    let (wp, tp) = (
        Path::new(&dir).join("w.safetensors"),
        Path::new(&dir).join("t.safetensors"),
    );
    let mode = std::env::var("MEMORY_PROBE_MODE").unwrap();
    let before = proc_rchar();
    let epsilon = match mode.as_str() {
        "load_with_checksum" => {
            let (matrix, _) = WMatrix::load_with_checksum(&wp).unwrap();
            let (test, _) = TestSet::load_with_checksum(&tp).unwrap();
            evaluate(&matrix, &test).unwrap().epsilon
        }
        "recomputed" => Recomputed::from_files(&wp, &tp).unwrap().metrics.epsilon,
        other => panic!("unknown mode {other}"),
    };
    let read = proc_rchar() - before;
    probe_print("bytes_read", read);
    probe_print("epsilon", epsilon);
}

#[test]
fn verification_checksum_is_that_of_the_evaluated_content() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path());
    let (wp, tp) = (
        dir.path().join("w.safetensors"),
        dir.path().join("t.safetensors"),
    );
    let (matrix, checksum) = WMatrix::load_with_checksum(&wp).unwrap();
    let (test, test_checksum) = TestSet::load_with_checksum(&tp).unwrap();
    assert_eq!(checksum, content_checksum_file(&wp).unwrap());
    assert_eq!(test_checksum, content_checksum_file(&tp).unwrap());
    let re = Recomputed::from_files(&wp, &tp).unwrap();
    assert_eq!(
        (re.checksum, re.test_set_checksum),
        (checksum, test_checksum)
    );
    assert_eq!(re.metrics, evaluate(&matrix, &test).unwrap());
}
