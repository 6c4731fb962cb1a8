//! Certificate files: round trips, tampering, recomputation.

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use memory_protocol::{
    Error, Metrics, Recomputed, SignedCertificate, TestSet, WMatrix, build_certificate, compare,
    sign_certificate,
};
use proptest::prelude::*;

fn key() -> PrivateKeySigner {
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
        .parse()
        .unwrap()
}

fn arb_metrics() -> impl Strategy<Value = Metrics> {
    (
        0.0..5000.0f64,
        0.0..5000.0f64,
        -1.0..=1.0f64,
        0.0..1e14f64,
        1usize..10_000_000,
    )
        .prop_map(|(epsilon, rel_error, cosine, euclidean, samples)| Metrics {
            epsilon,
            rel_error,
            cosine,
            euclidean,
            samples,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn json_round_trip(
        m in arb_metrics(),
        sums in any::<([u8; 32], [u8; 32])>(),
        issued in 0u64..u64::MAX / 2,
        life in 1u64..u64::MAX / 2,
        nonce in any::<[u8; 32]>(),
        chain_id in 1u64..(1 << 53),
        contract in any::<[u8; 20]>(),
    ) {
        let cert = build_certificate(
            B256::from(sums.0), B256::from(sums.1), &m, issued, issued + life,
            U256::from_be_bytes(nonce),
        ).unwrap();
        let signed = sign_certificate(cert, chain_id, Address::from(contract), &key()).unwrap();
        let back = SignedCertificate::from_json(&signed.to_json()).unwrap();
        prop_assert_eq!(&back, &signed);
        prop_assert_eq!(back.verify_signature().unwrap(), key().address());
    }
}

fn signed() -> SignedCertificate {
    let m = Metrics {
        epsilon: 0.2,
        rel_error: 0.1,
        cosine: 0.9,
        euclidean: 1.5,
        samples: 10,
    };
    let cert = build_certificate(
        B256::repeat_byte(7),
        B256::repeat_byte(8),
        &m,
        10,
        20,
        U256::from(1),
    )
    .unwrap();
    sign_certificate(cert, 31337, Address::repeat_byte(0x11), &key()).unwrap()
}

#[test]
fn tampering_is_detected() {
    let s = signed();
    assert_eq!(s.certificate.level, 1);
    let mut t = s.clone();
    t.certificate.epsilonPpm = 9_000; // a better grade than earned
    assert!(matches!(t.verify_signature(), Err(Error::Signature(_))));
    // Same fields, digest recomputed by the forger, but the signature is the original one.
    t.digest = alloy::sol_types::SolStruct::eip712_signing_hash(&t.certificate, &t.domain());
    assert!(matches!(t.verify_signature(), Err(Error::Signature(_))));
    let mut t = s.clone();
    t.signer = Address::repeat_byte(1);
    assert!(matches!(t.verify_signature(), Err(Error::Signature(_))));
    let mut t = s;
    t.chain_id = 1; // replay on another chain
    assert!(matches!(t.verify_signature(), Err(Error::Signature(_))));
}

#[test]
fn malformed_files_give_typed_errors() {
    let json = signed().to_json();
    for (from, to) in [
        ("\"memory-certificate/1\"", "\"memory-certificate/9\""),
        ("\"MemoryNFT\"", "\"OtherNFT\""),
        ("\"level\": 1", "\"level\": 7"),
        ("\"nonce\": \"1\"", "\"nonce\": \"0x1\""),
        ("\"issuedAt\": \"10\"", "\"issuedAt\": \"-1\""),
        ("\"format\"", "\"extra\": 1, \"format\""),
    ] {
        assert!(json.contains(from), "{from}");
        let bad = json.replace(from, to);
        assert!(
            matches!(
                SignedCertificate::from_json(&bad),
                Err(Error::InvalidCertificate(_))
            ),
            "{to}"
        );
    }
    assert!(matches!(
        SignedCertificate::from_json("{"),
        Err(Error::InvalidCertificate(_))
    ));
    let m = Metrics {
        epsilon: 0.2,
        rel_error: 0.1,
        cosine: 0.9,
        euclidean: 1.5,
        samples: 10,
    };
    assert!(matches!(
        build_certificate(B256::ZERO, B256::ZERO, &m, 20, 20, U256::ZERO),
        Err(Error::InvalidCertificate(_))
    ));
}

#[test]
fn recomputation_matches_own_files_and_flags_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = crate::rng(5);
    let x = crate::random_matrix(&mut rng, 40, 6);
    let w = crate::random_matrix(&mut rng, 4, 6);
    let noise = crate::random_matrix(&mut rng, 40, 4) * 0.05;
    let y = x.dot(&w.t()) + noise;
    let test = TestSet::new(x, y).unwrap();
    let matrix = WMatrix::new(w, None).unwrap();
    let (wp, tp) = (
        dir.path().join("w.safetensors"),
        dir.path().join("t.safetensors"),
    );
    matrix
        .to_artifact([("version", "1.0.0")])
        .unwrap()
        .write(&wp)
        .unwrap();
    test.to_artifact([]).unwrap().write(&tp).unwrap();

    let re = Recomputed::from_files(&wp, &tp).unwrap();
    let cert = build_certificate(
        re.checksum,
        re.test_set_checksum,
        &re.metrics,
        1,
        2,
        U256::ZERO,
    )
    .unwrap();
    assert!(compare(&cert, &re).iter().all(|c| c.ok));

    // Another W-Matrix: checksum and metrics differ.
    let other = WMatrix::new(matrix.weight.mapv(|v| v * 1.1), None).unwrap();
    other
        .to_artifact([("version", "1.0.0")])
        .unwrap()
        .write(&wp)
        .unwrap();
    let re2 = Recomputed::from_files(&wp, &tp).unwrap();
    let bad: Vec<_> = compare(&cert, &re2)
        .into_iter()
        .filter(|c| !c.ok)
        .map(|c| c.field)
        .collect();
    assert!(
        bad.contains(&"checksum") && bad.contains(&"epsilonPpm"),
        "{bad:?}"
    );
}
