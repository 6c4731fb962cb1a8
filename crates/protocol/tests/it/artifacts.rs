//! File formats and the content checksum's invariants.

use std::collections::HashMap;

use memory_protocol::{
    Artifact, Dtype, Error, Tensor,
    checksum::{content_checksum, content_checksum_file, content_checksum_file_with_progress},
    checksum_file,
};
use proptest::prelude::*;

fn st_dtype(d: Dtype) -> safetensors::Dtype {
    match d {
        Dtype::F16 => safetensors::Dtype::F16,
        Dtype::BF16 => safetensors::Dtype::BF16,
        Dtype::F32 => safetensors::Dtype::F32,
        Dtype::F64 => safetensors::Dtype::F64,
        Dtype::I32 => safetensors::Dtype::I32,
        _ => safetensors::Dtype::U8,
    }
}

fn arb_tensor() -> impl Strategy<Value = Tensor> {
    let dtypes = prop_oneof![
        Just(Dtype::F32),
        Just(Dtype::F64),
        Just(Dtype::F16),
        Just(Dtype::BF16),
        Just(Dtype::I32),
        Just(Dtype::U8)
    ];
    (dtypes, prop::collection::vec(0usize..5, 0..3)).prop_flat_map(|(dtype, shape)| {
        let len = shape.iter().product::<usize>() * dtype.size();
        prop::collection::vec(any::<u8>(), len)
            .prop_map(move |data| Tensor::new(dtype, shape.clone(), data).unwrap())
    })
}

fn arb_artifact() -> impl Strategy<Value = Artifact> {
    (
        prop::collection::btree_map("[a-z_.]{1,8}", arb_tensor(), 1..5),
        prop::collection::btree_map("[a-z_]{1,6}", "[ -~]{0,12}", 0..4),
    )
        .prop_map(|(tensors, metadata)| Artifact { metadata, tensors })
}

/// Another valid layout of the same content: tensors in `order` in the data section, header
/// keys in reverse, metadata in reverse, extra whitespace.
fn write_shuffled(a: &Artifact, rotate: usize) -> Vec<u8> {
    let mut names: Vec<&String> = a.tensors.keys().collect();
    let k = rotate % names.len().max(1);
    names.rotate_left(k);
    let mut entries = Vec::new();
    let mut offset = 0;
    let mut data = Vec::new();
    for name in &names {
        let t = &a.tensors[*name];
        entries.push(format!(
            "{} : {{ \"shape\": {:?}, \"data_offsets\": [{offset}, {}], \"dtype\": \"{}\" }}",
            serde_json::Value::from(name.as_str()),
            t.shape(),
            offset + t.data().len(),
            t.dtype().name()
        ));
        offset += t.data().len();
        data.extend_from_slice(t.data());
    }
    entries.reverse();
    if !a.metadata.is_empty() {
        let meta: Vec<String> = a
            .metadata
            .iter()
            .rev()
            .map(|(k, v)| {
                format!(
                    "{}: {}",
                    serde_json::Value::from(k.as_str()),
                    serde_json::Value::from(v.as_str())
                )
            })
            .collect();
        entries.push(format!("\"__metadata__\": {{{}}}", meta.join(", ")));
    }
    let header = format!("{{ {} }}   ", entries.join(",\n "));
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn write_read_round_trip(a in arb_artifact()) {
        let bytes = a.to_bytes();
        let back = Artifact::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn checksum_ignores_layout(a in arb_artifact(), rotate in 0usize..5) {
        let dir = tempfile::tempdir().unwrap();
        let (p1, p2) = (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"));
        a.write(&p1).unwrap();
        let shuffled = write_shuffled(&a, rotate);
        std::fs::write(&p2, &shuffled).unwrap();
        prop_assert_eq!(Artifact::from_bytes(&shuffled).unwrap(), a.clone());
        let (s1, s2) = (checksum_file(&p1).unwrap(), checksum_file(&p2).unwrap());
        prop_assert_eq!(s1.content, content_checksum(&a));
        prop_assert_eq!(s1.content, s2.content);
        prop_assert_eq!(content_checksum_file(&p2).unwrap(), s1.content);
        // hashing while loading (one read) gives the same checksum and the same content
        let (loaded, sum) = Artifact::open_with_checksum(&p2).unwrap();
        prop_assert_eq!(sum, s1.content);
        prop_assert_eq!(&loaded, &a);
        prop_assert_eq!(s1.file, memory_protocol::checksum::sha256(&a.to_bytes()));
        prop_assert_eq!(s2.file, memory_protocol::checksum::sha256(&shuffled));
    }

    #[test]
    fn checksum_changes_with_any_content_byte(a in arb_artifact(), pick in any::<prop::sample::Index>(), bit in 0u8..8) {
        let total: usize = a.tensors.values().map(|t| t.data().len()).sum();
        prop_assume!(total > 0);
        let mut at = pick.index(total);
        let mut b = a.clone();
        for t in b.tensors.values_mut() {
            if at < t.data().len() {
                let mut data = t.data().to_vec();
                data[at] ^= 1 << bit;
                *t = Tensor::new(t.dtype(), t.shape().to_vec(), data).unwrap();
                break;
            }
            at -= t.data().len();
        }
        prop_assert_ne!(content_checksum(&a), content_checksum(&b));
    }

    #[test]
    fn checksum_changes_with_metadata_names_and_shapes(a in arb_artifact()) {
        let base = content_checksum(&a);
        let mut m = a.clone();
        m.metadata.insert("zz_extra".into(), String::new());
        prop_assert_ne!(content_checksum(&m), base);
        let mut r = a.clone();
        let (name, t) = r.tensors.pop_first().unwrap();
        r.tensors.insert(format!("{name}~"), t.clone());
        prop_assert_ne!(content_checksum(&r), base);
        let mut s = a.clone();
        let mut shape = t.shape().to_vec();
        shape.push(1);
        s.tensors.insert(name, Tensor::new(t.dtype(), shape, t.data().to_vec()).unwrap());
        prop_assert_ne!(content_checksum(&s), base);
    }
}

#[test]
fn interoperates_with_the_safetensors_crate() {
    let a = Artifact::new()
        .with_tensor(
            "weight",
            Tensor::from_f32(vec![3, 2], &[1., 2., 3., 4., 5., 6.]).unwrap(),
        )
        .with_tensor(
            "bias",
            Tensor::new(Dtype::F64, vec![3], vec![7; 24]).unwrap(),
        )
        .with_tensor("idx", Tensor::new(Dtype::I32, vec![2], vec![1; 8]).unwrap())
        .with_meta("kind", "w-matrix")
        .with_meta("version", "1.2.3")
        .with_meta("source_model", "a/b");
    // The reference reader accepts our files.
    let ours = a.to_bytes();
    let st = safetensors::SafeTensors::deserialize(&ours).unwrap();
    assert_eq!(st.tensors().len(), 3);
    assert_eq!(
        st.tensor("weight").unwrap().data(),
        a.tensors["weight"].data()
    );
    // We read the reference writer's files (its own layout and HashMap metadata order) to
    // the same content and checksum.
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = a
        .tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(
                    st_dtype(t.dtype()),
                    t.shape().to_vec(),
                    t.data(),
                )
                .unwrap(),
            )
        })
        .collect();
    let meta: HashMap<String, String> = a.metadata.clone().into_iter().collect();
    let theirs = safetensors::serialize(views, Some(meta)).unwrap();
    let back = Artifact::from_bytes(&theirs).unwrap();
    assert_eq!(back, a);
    assert_eq!(content_checksum(&back), content_checksum(&a));
}

#[test]
fn file_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.safetensors");
    assert!(matches!(Artifact::open(&p), Err(Error::Io { .. })));
    assert!(matches!(checksum_file(&p), Err(Error::Io { .. })));
    std::fs::write(&p, b"abc").unwrap();
    assert!(matches!(checksum_file(&p), Err(Error::Truncated(_))));
    std::fs::write(&p, [&8u64.to_le_bytes()[..], b"not json"].concat()).unwrap();
    assert!(matches!(checksum_file(&p), Err(Error::MalformedHeader(_))));
    let a = Artifact::new().with_tensor("x", Tensor::from_f32(vec![4], &[1.0; 4]).unwrap());
    let bytes = a.to_bytes();
    std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
    assert!(matches!(checksum_file(&p), Err(Error::Truncated(_))));
    assert!(matches!(
        content_checksum_file(&p),
        Err(Error::Truncated(_))
    ));
    assert!(matches!(Artifact::open(&p), Err(Error::Truncated(_))));
    std::fs::remove_file(&p).unwrap();
    assert!(matches!(content_checksum_file(&p), Err(Error::Io { .. })));
}

#[test]
fn streamed_content_checksum_spans_chunks_and_empty_tensors() {
    // tensors larger than the 128 KiB read chunk, one empty, in an order other than the file's
    let big = |n: usize, seed: u32| -> Vec<f32> {
        (0..n)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) as f32)
            .collect()
    };
    let a = Artifact::new()
        .with_tensor(
            "b",
            Tensor::from_f32(vec![300, 257], &big(300 * 257, 1)).unwrap(),
        )
        .with_tensor("a", Tensor::from_f32(vec![0, 4], &[]).unwrap())
        .with_tensor(
            "c",
            Tensor::from_f32(vec![65_537], &big(65_537, 2)).unwrap(),
        )
        .with_meta("kind", "w-matrix");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.safetensors");
    a.write(&p).unwrap();
    let seen = std::sync::atomic::AtomicU64::new(0);
    let sum = content_checksum_file_with_progress(&p, &|n| {
        seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(sum, content_checksum(&a));
    assert_eq!(sum, checksum_file(&p).unwrap().content);
    assert_eq!(seen.into_inner(), 4 * (300 * 257 + 65_537));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes never make the readers panic.
    #[test]
    fn readers_never_panic_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Artifact::from_bytes(&bytes);
        let _ = memory_protocol::artifact::parse_npy(&bytes);
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&bytes);
        let _ = memory_protocol::artifact::parse_npy(&npy);
    }

    /// Valid files with one byte changed or cut short parse or fail with an error, never panic;
    /// a changed header byte that still parses gives a different checksum or the same content.
    #[test]
    fn readers_never_panic_on_mutations(a in arb_artifact(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let bytes = a.to_bytes();
        let mut m = bytes.clone();
        let i = pos.index(m.len());
        m[i] = byte;
        if let Ok(b) = Artifact::from_bytes(&m) {
            prop_assert!(b == a || content_checksum(&b) != content_checksum(&a));
        }
        let _ = Artifact::from_bytes(&bytes[..cut.index(bytes.len())]);
        let header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': (2, 2), }}\n", String::from_utf8_lossy(&[byte, b'f', b'4']));
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
        npy.extend_from_slice(header.as_bytes());
        npy.extend_from_slice(&[0; 16]);
        let _ = memory_protocol::artifact::parse_npy(&npy);
    }
}
