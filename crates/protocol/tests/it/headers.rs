//! Hostile safetensors headers (issue 8, attacks 13 and 14): absurd shapes and tensor counts
//! are rejected with a clear error in memory bounded by a small multiple of the header, and
//! ambiguous headers (a name, key or `__metadata__` entry given twice) are rejected instead of
//! being read last-wins, since a first-wins reader would compute another checksum.

use std::{fmt::Write as _, path::Path};

use memory_protocol::{
    Artifact, Dtype,
    checksum::{checksum_file, content_checksum_file},
};

use crate::{is_probe, probe_print, proc_status_kib, run_probe, write_raw_safetensors};

/// One U8 tensor of one element whose shape is `[1, 1, …]` of `rank` ones (a 40 MB header for
/// 20 million).
fn huge_rank_header(rank: usize) -> String {
    let mut h = String::with_capacity(rank * 2 + 64);
    h.push_str(r#"{"t":{"dtype":"U8","data_offsets":[0,1],"shape":["#);
    for i in 0..rank {
        h.push_str(if i == 0 { "1" } else { ",1" });
    }
    h.push_str("]}}");
    h
}

/// `count` empty tensors (a 59 MB header for a million).
fn many_tensors_header(count: usize) -> String {
    let mut h = String::with_capacity(count * 60 + 2);
    h.push('{');
    for i in 0..count {
        if i > 0 {
            h.push(',');
        }
        let _ = write!(
            h,
            r#""tensor{i:07}":{{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}"#
        );
    }
    h.push('}');
    h
}

/// Every reader of the crate rejects the file at `path` with an error containing `needle`.
fn assert_rejected(path: &Path, needle: &str) {
    let errors = [
        Artifact::open(path).err().map(|e| e.to_string()),
        content_checksum_file(path).err().map(|e| e.to_string()),
        checksum_file(path).err().map(|e| e.to_string()),
    ];
    for e in errors {
        let e = e.unwrap_or_else(|| panic!("{} was accepted", path.display()));
        assert!(e.contains(needle), "error `{e}` does not say `{needle}`");
    }
}

#[test]
fn header_memory_huge_shape_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rank.safetensors");
    write_raw_safetensors(&p, &huge_rank_header(20_000_000), &[0]);
    assert_rejected(&p, "rank");
}

#[test]
fn header_memory_million_tensors_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("many.safetensors");
    write_raw_safetensors(&p, &many_tensors_header(1_000_000), &[]);
    assert_rejected(&p, "tensors");
}

/// Peak RSS of reading each hostile file, measured in a child process: at most twice the
/// header (which is read into memory whole) plus 8 MiB.
#[test]
fn header_memory_peak_rss_is_bounded_by_the_header() {
    let dir = tempfile::tempdir().unwrap();
    for (name, header, data) in [
        ("rank", huge_rank_header(20_000_000), vec![0u8]),
        ("many", many_tensors_header(1_000_000), vec![]),
    ] {
        let p = dir.path().join(format!("{name}.safetensors"));
        write_raw_safetensors(&p, &header, &data);
        let values = run_probe(
            "headers::header_memory_rss_probe",
            &[("MEMORY_PROBE_FILE", p.as_os_str())],
        );
        let get = |k: &str| -> u64 {
            values
                .iter()
                .find(|(key, _)| key == k)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap()
        };
        let (start, peak) = (get("start_kib"), get("peak_kib"));
        let header_kib = header.len() as u64 / 1024;
        println!(
            "{name}: header {header_kib} KiB, RSS before {start} KiB, peak {peak} KiB, \
             growth {} KiB",
            peak.saturating_sub(start)
        );
        assert!(
            peak.saturating_sub(start) <= 2 * header_kib + 8 * 1024,
            "{name}: reading a {header_kib} KiB header raised the peak RSS from {start} KiB \
             to {peak} KiB"
        );
    }
}

/// The child side of [`header_memory_peak_rss_is_bounded_by_the_header`].
#[test]
fn header_memory_rss_probe() {
    if !is_probe("headers::header_memory_rss_probe") {
        return;
    }
    let path = std::env::var_os("MEMORY_PROBE_FILE").unwrap();
    let path = Path::new(&path);
    let start = proc_status_kib("VmRSS");
    let results = [
        Artifact::open(path).err().map(|e| e.to_string()),
        content_checksum_file(path).err().map(|e| e.to_string()),
        checksum_file(path).err().map(|e| e.to_string()),
    ];
    let peak = proc_status_kib("VmHWM");
    probe_print("start_kib", start);
    probe_print("peak_kib", peak);
    for r in results {
        probe_print("error", r.unwrap_or_else(|| "none".into()));
    }
}

#[test]
fn header_memory_limits_are_inclusive() {
    use memory_protocol::artifact::{MAX_METADATA_ENTRIES, MAX_RANK, MAX_TENSORS};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("limits.safetensors");
    write_raw_safetensors(&p, &many_tensors_header(MAX_TENSORS), &[]);
    assert_eq!(Artifact::open(&p).unwrap().tensors.len(), MAX_TENSORS);
    write_raw_safetensors(&p, &many_tensors_header(MAX_TENSORS + 1), &[]);
    assert_rejected(&p, "more than 65536 tensors");
    write_raw_safetensors(&p, &huge_rank_header(MAX_RANK), &[0]);
    assert_eq!(
        Artifact::open(&p).unwrap().tensors["t"].shape(),
        [1; MAX_RANK]
    );
    write_raw_safetensors(&p, &huge_rank_header(MAX_RANK + 1), &[0]);
    assert_rejected(&p, "rank greater than 8");
    let metadata = |count: usize| {
        let entries: Vec<String> = (0..count).map(|i| format!(r#""k{i}":"v""#)).collect();
        format!(r#"{{"__metadata__":{{{}}}}}"#, entries.join(","))
    };
    write_raw_safetensors(&p, &metadata(MAX_METADATA_ENTRIES), &[]);
    assert_eq!(
        Artifact::open(&p).unwrap().metadata.len(),
        MAX_METADATA_ENTRIES
    );
    write_raw_safetensors(&p, &metadata(MAX_METADATA_ENTRIES + 1), &[]);
    assert_rejected(&p, "more than 4096 metadata entries");
}

fn assert_ambiguous(header: &str, data: &[u8], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ambiguous.safetensors");
    write_raw_safetensors(&p, header, data);
    assert_rejected(&p, needle);
}

#[test]
fn ambiguous_header_duplicate_tensor_names_are_rejected() {
    // last-wins reads `a` as I8, first-wins as U8: two checksums for one file
    assert_ambiguous(
        r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},
            "a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}"#,
        &[7],
        "duplicate tensor `a`",
    );
}

#[test]
fn ambiguous_header_duplicate_metadata_keys_are_rejected() {
    assert_ambiguous(
        r#"{"__metadata__":{"version":"1.0.0","version":"2.0.0"},
            "a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
        &[7],
        "duplicate metadata key `version`",
    );
}

#[test]
fn ambiguous_header_duplicate_metadata_entries_are_rejected() {
    assert_ambiguous(
        r#"{"__metadata__":{"kind":"w-matrix"},
            "a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},
            "__metadata__":{"kind":"test-set"}}"#,
        &[7],
        "duplicate `__metadata__`",
    );
}

#[test]
fn ambiguous_header_duplicate_tensor_fields_are_rejected() {
    assert_ambiguous(
        r#"{"a":{"dtype":"U8","shape":[1],"dtype":"I8","data_offsets":[0,1]}}"#,
        &[7],
        "duplicate field `dtype`",
    );
}

/// The safetensors 0.6 dtype names (the reference crate's `Dtype`).
const SAFETENSORS_DTYPES: [&str; 19] = [
    "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16", "U16",
    "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64",
];

/// The backquoted names of the list item of docs/certificates.md that starts with `prefix`
/// (the item's first line and its indented continuation lines).
fn documented(prefix: &str) -> Vec<String> {
    let docs = include_str!("../../../../docs/certificates.md");
    let mut lines = docs.lines().skip_while(|l| !l.starts_with(prefix));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("docs/certificates.md has no line starting `{prefix}`"));
    let item: Vec<&str> = std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("  ")))
        .collect();
    item.join(" ")
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn ambiguous_header_documented_dtypes_match_the_code() {
    let stored = documented("- stored and checksummed:");
    let rejected = documented("- rejected as unknown:");
    for name in SAFETENSORS_DTYPES {
        let in_code = Dtype::from_name(name).is_some();
        assert_eq!(
            in_code,
            stored.iter().any(|d| d == name),
            "{name}: the code {} it but docs/certificates.md does not say so",
            if in_code { "accepts" } else { "rejects" }
        );
        assert_eq!(!in_code, rejected.iter().any(|d| d == name), "{name}");
    }
    let all: Vec<&str> = Dtype::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(stored, all, "docs/certificates.md vs Dtype::ALL");
    for name in stored.iter().chain(&rejected) {
        assert!(
            SAFETENSORS_DTYPES.contains(&name.as_str()),
            "docs/certificates.md lists `{name}`, which is not a safetensors dtype"
        );
    }
    let read = documented("- read by metrics and fits");
    for name in &read {
        let d = Dtype::from_name(name).unwrap();
        assert!(d.is_float(), "{name} is documented as read but is not");
    }
    let floats: Vec<&str> = SAFETENSORS_DTYPES
        .into_iter()
        .filter(|n| Dtype::from_name(n).is_some_and(Dtype::is_float))
        .collect();
    assert_eq!(floats.len(), read.len(), "{floats:?} vs {read:?}");
}
