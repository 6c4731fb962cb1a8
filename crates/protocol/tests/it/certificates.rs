//! Certificate files (round trips, tampering, recomputation) and the contract's anchoring
//! rules, pinned by the vectors shared with the Solidity tests:
//! `contracts/test/vectors/certificate.json` (the digest) and
//! `contracts/test/vectors/certificate-cases.json` (valid and invalid certificates, each with
//! the outcome `MemoryNFT.anchorCertificate` gives; `contracts/test/Certificates.t.sol` runs
//! them against the contract).
//!
//! Both files are generated here: `MEMORY_UPDATE_VECTORS=1 cargo test -p memory-protocol
//! --test it vectors` rewrites them, and without the variable the test fails when the
//! committed files differ from what the generator produces.

use alloy::{
    primitives::{Address, B256, Bytes, Signature, U256, address, b256, uint},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::SolStruct,
};
use memory_protocol::{
    Certificate, Error, Metrics, Recomputed, SignedCertificate, TestSet, WMatrix,
    build_certificate,
    certificate::{
        CertificateJson, DomainJson, FILE_FORMAT, Rejection, SECP256K1N_HALF, check_certificate,
        check_signature, recover_signer,
    },
    compare, domain, sign_certificate,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// Anvil's account 1: the certifier of the vectors and of the local stack.
const CERTIFIER_KEY: B256 =
    b256!("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const CERTIFIER: Address = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
/// Anvil's account 3: a key that is not the certificate's certifier.
const OTHER_KEY: B256 = b256!("0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6");
/// Anvil's account 2: the creator the certificates name.
const CREATOR: Address = address!("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
/// Anvil's account 4: mints the same checksum first (the front-running attack).
const FRONT_RUNNER: Address = address!("0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65");
/// The MemoryNFT a fresh anvil's account 0 deploys first, on anvil's chain.
const CHAIN_ID: u64 = 31337;
const NFT: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
/// The secp256k1 group order.
const SECP256K1N: U256 =
    uint!(0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256);

fn key() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&CERTIFIER_KEY).unwrap()
}

fn other_key() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&OTHER_KEY).unwrap()
}

fn metrics() -> Metrics {
    Metrics {
        epsilon: 0.2,
        rel_error: 0.1,
        cosine: 0.9,
        euclidean: 1.5,
        samples: 10,
    }
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
        creator in any::<[u8; 20]>().prop_filter("not zero", |a| a != &[0; 20]),
        issued in 0u64..u64::MAX / 2,
        life in 1u64..u64::MAX / 2,
        nonce in any::<[u8; 32]>(),
        chain_id in 1u64..(1 << 53),
        contract in any::<[u8; 20]>(),
    ) {
        let creator = Address::from(creator);
        let cert = build_certificate(
            B256::from(sums.0), B256::from(sums.1), creator, &m, issued, issued + life,
            U256::from_be_bytes(nonce),
        ).unwrap();
        let signed = sign_certificate(cert, chain_id, Address::from(contract), &key()).unwrap();
        let back = SignedCertificate::from_json(&signed.to_json()).unwrap();
        prop_assert_eq!(&back, &signed);
        prop_assert_eq!(back.certificate.creator, creator);
        prop_assert_eq!(back.verify(issued, Some(creator)).unwrap(), key().address());
    }

    /// The window rule, against its statement in docs/certificates.md.
    #[test]
    fn window_is_issued_at_to_expires_at_inclusive(
        issued in 0u64..1000, expires in 0u64..1000, now in 0u64..1000,
    ) {
        let mut cert = signed().certificate;
        cert.issuedAt = issued;
        cert.expiresAt = expires;
        let got = check_certificate(&cert, now, Some(CREATOR));
        let valid = issued < expires && issued <= now && now <= expires;
        prop_assert_eq!(got.is_ok(), valid, "{:?}", got);
    }
}

fn signed() -> SignedCertificate {
    let cert = build_certificate(
        B256::repeat_byte(7),
        B256::repeat_byte(8),
        CREATOR,
        &metrics(),
        10,
        20,
        U256::from(1),
    )
    .unwrap();
    sign_certificate(cert, CHAIN_ID, Address::repeat_byte(0x11), &key()).unwrap()
}

#[test]
fn signing_names_the_signer_as_certifier() {
    let s = signed();
    assert_eq!(s.certificate.certifier, CERTIFIER);
    assert_eq!(s.certifier(), CERTIFIER);
    assert_eq!(s.certificate.creator, CREATOR);
    assert_eq!(s.signature.len(), 65);
    // A certificate that names a certifier can only be signed by it.
    let err = sign_certificate(s.certificate.clone(), CHAIN_ID, NFT, &other_key()).unwrap_err();
    assert!(err.to_string().contains("names 0x70997970"), "{err}");
    assert!(sign_certificate(s.certificate, CHAIN_ID, NFT, &key()).is_ok());
    // No certificate without a creator.
    let err = build_certificate(
        B256::ZERO,
        B256::ZERO,
        Address::ZERO,
        &metrics(),
        1,
        2,
        U256::ZERO,
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidCertificate(_)), "{err}");
}

#[test]
fn tampering_is_detected() {
    let s = signed();
    assert_eq!(s.certificate.level, 1);
    let mut t = s.clone();
    t.certificate.epsilonPpm = 9_000; // a better grade than earned
    assert!(matches!(
        t.verify_signature(),
        Err(Rejection::DigestMismatch { .. })
    ));
    // Same fields, digest recomputed by the forger, but the signature is the original one.
    t.digest = t.certificate.eip712_signing_hash(&t.domain());
    assert!(matches!(
        t.verify_signature(),
        Err(Rejection::WrongSigner {
            certifier: CERTIFIER,
            ..
        })
    ));
    // Another creator written in: the signature covers the creator.
    let mut t = s.clone();
    t.certificate.creator = FRONT_RUNNER;
    t.digest = t.certificate.eip712_signing_hash(&t.domain());
    assert!(matches!(
        t.verify_signature(),
        Err(Rejection::WrongSigner { .. })
    ));
    // Another certifier claimed: the signature is not theirs.
    let mut t = s.clone();
    t.certificate.certifier = other_key().address();
    t.digest = t.certificate.eip712_signing_hash(&t.domain());
    let other = other_key().address();
    assert!(matches!(
        t.verify_signature(),
        Err(Rejection::WrongSigner { certifier, .. }) if certifier == other
    ));
    let mut t = s;
    t.chain_id = 1; // replay on another chain
    assert!(matches!(
        t.verify_signature(),
        Err(Rejection::DigestMismatch { .. })
    ));
}

#[test]
fn rejections_name_the_contract_error_and_convert() {
    let r = Rejection::Expired {
        expires_at: 5,
        now: 6,
    };
    assert_eq!(r.solidity_error(), Some("CertificateExpired"));
    assert_eq!(
        r.to_string(),
        "the certificate expired at 5, before now (6)"
    );
    assert!(matches!(Error::from(r), Error::InvalidCertificate(_)));
    let r = Rejection::SignatureV { v: 1 };
    assert_eq!(r.solidity_error(), Some("InvalidSignature"));
    assert!(matches!(Error::from(r), Error::Signature(_)));
    let r = Rejection::DigestMismatch {
        file: B256::ZERO,
        recomputed: B256::ZERO,
    };
    assert_eq!(r.solidity_error(), None);
    assert!(matches!(Error::from(r), Error::Signature(_)));
}

#[test]
fn malformed_files_give_typed_errors() {
    let json = signed().to_json();
    for (from, to) in [
        ("\"memory-certificate/2\"", "\"memory-certificate/1\""),
        ("\"MemoryNFT\"", "\"OtherNFT\""),
        ("\"nonce\": \"1\"", "\"nonce\": \"0x1\""),
        ("\"issuedAt\": \"10\"", "\"issuedAt\": \"-1\""),
        ("\"format\"", "\"extra\": 1, \"format\""),
        ("\"creator\"", "\"owner\""),
        ("\"signature\": \"0x", "\"signature\": \"0xzz"),
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
    let old = json.replace(FILE_FORMAT, "memory-certificate/1");
    let err = SignedCertificate::from_json(&old).unwrap_err().to_string();
    assert!(err.contains("certify again"), "{err}");
    // A level out of range parses (the file says what it says) and is refused by the rules.
    let bad = SignedCertificate::from_json(&json.replace("\"level\": 1", "\"level\": 7")).unwrap();
    assert_eq!(
        check_certificate(&bad.certificate, 15, None),
        Err(Rejection::InvalidLevel { level: 7 })
    );
    assert!(matches!(
        build_certificate(
            B256::ZERO,
            B256::ZERO,
            CREATOR,
            &metrics(),
            20,
            20,
            U256::ZERO
        ),
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
        CREATOR,
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

// ---------------------------------------------------------------------- the shared vectors

const DIGEST_VECTOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../contracts/test/vectors/certificate.json"
);
const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../contracts/test/vectors/certificate-cases.json"
);

/// `contracts/test/vectors/certificate.json` (read by `vector.rs` too).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DigestVector {
    description: &'static str,
    domain: DomainJson,
    certificate: CertificateJson,
    type_string: String,
    type_hash: B256,
    domain_separator: B256,
    struct_hash: B256,
    digest: B256,
    private_key: B256,
    #[serde(serialize_with = "checksummed")]
    signer: Address,
    signature: Bytes,
}

/// `contracts/test/vectors/certificate-cases.json`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CaseFile {
    description: String,
    domain: DomainJson,
    private_keys: Keys,
    cases: Vec<Case>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    certifier: B256,
    other: B256,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case {
    name: String,
    description: String,
    certificate: CertificateJson,
    digest: B256,
    signature: Bytes,
    /// `block.timestamp` when it is anchored (decimal string).
    now: String,
    /// The creator of the token it is anchored on.
    #[serde(serialize_with = "checksummed")]
    token_creator: Address,
    /// `valid`, or the name of the custom error the contract reverts with.
    expect: String,
}

fn checksummed<S: serde::Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&a.to_checksum(None))
}

/// The certificate of the digest vector; every case starts from it.
fn base_certificate() -> Certificate {
    Certificate {
        checksum: b256!("0x9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        creator: CREATOR,
        certifier: CERTIFIER,
        testSetChecksum: b256!(
            "0x60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
        ),
        epsilonPpm: 1_234_567,
        relErrorPpm: 1_100_000,
        cosinePpm: -250_000,
        euclideanPpm: 12_345_678_901,
        testSamples: 512,
        level: 1,
        issuedAt: 1_767_225_600,
        expiresAt: 4_102_444_800,
        nonce: U256::from(1) << 128 | U256::from(1),
    }
}

fn digest_of(c: &Certificate) -> B256 {
    c.eip712_signing_hash(&domain(CHAIN_ID, NFT))
}

fn sign(key: &PrivateKeySigner, c: &Certificate) -> Signature {
    key.sign_hash_sync(&digest_of(c)).unwrap()
}

/// The base certificate with the smallest nonce above the base's whose signature has parity
/// `odd` (v = 28 when odd), so that the 0/1 and EIP-155 spellings of v are real twins.
fn with_parity(odd: bool) -> (Certificate, Signature) {
    (1u64..)
        .map(|i| {
            let mut c = base_certificate();
            c.nonce += U256::from(i);
            let sig = sign(&key(), &c);
            (c, sig)
        })
        .find(|(_, sig)| sig.v() == odd)
        .unwrap()
}

fn with_v(sig: &Signature, v: u8) -> Vec<u8> {
    let mut b = sig.as_bytes().to_vec();
    b[64] = v;
    b
}

/// What the verifier must say about a case: the variant, beyond the Solidity error name.
type Reason = fn(&Rejection) -> bool;

struct Spec {
    name: &'static str,
    description: &'static str,
    certificate: Certificate,
    signature: Vec<u8>,
    now: u64,
    token_creator: Address,
    expect: &'static str,
    reason: Option<Reason>,
}

/// The cases, with the outcome the contract gives, written down by hand (not computed by
/// the verifier under test).
fn specs() -> Vec<Spec> {
    let base = base_certificate();
    let sig = sign(&key(), &base);
    let day = 86_400;
    let now = base.issuedAt + day;
    let (even, even_sig) = with_parity(false);
    let (odd, odd_sig) = with_parity(true);
    let spec = |name, description, certificate: Certificate, signature: Vec<u8>| Spec {
        name,
        description,
        certificate,
        signature,
        now,
        token_creator: CREATOR,
        expect: "valid",
        reason: None,
    };
    let signed = |c: &Certificate| sign(&key(), c).as_bytes().to_vec();
    let edit = |f: &dyn Fn(&mut Certificate)| {
        let mut c = base.clone();
        f(&mut c);
        c
    };

    let twin = Signature::new(sig.r(), SECP256K1N - sig.s(), !sig.v());
    let mut long = sig.as_bytes().to_vec();
    long.push(0);
    let mut r_zero = sig.as_bytes().to_vec();
    r_zero[..32].fill(0);
    let backwards = edit(&|c| (c.issuedAt, c.expiresAt) = (now, base.issuedAt));
    let instant = edit(&|c| c.expiresAt = c.issuedAt);
    let level0 = edit(&|c| c.level = 0);
    let level5 = edit(&|c| c.level = 5);

    vec![
        spec(
            "valid",
            "the digest vector's certificate and signature, a day after issue",
            base.clone(),
            sig.as_bytes().to_vec(),
        ),
        spec(
            "valid-v27",
            "a valid signature with v = 27",
            even.clone(),
            even_sig.as_bytes().to_vec(),
        ),
        spec(
            "valid-v28",
            "a valid signature with v = 28",
            odd.clone(),
            odd_sig.as_bytes().to_vec(),
        ),
        Spec {
            expect: "InvalidSignature",
            reason: Some(|r| matches!(r, Rejection::SignatureHighS { .. })),
            ..spec(
                "high-s",
                "the malleable twin of `valid`: (r, n - s) with v flipped, which plain ecrecover accepts",
                base.clone(),
                twin.as_bytes().to_vec(),
            )
        },
        Spec {
            expect: "InvalidSignature",
            reason: Some(|r| matches!(r, Rejection::SignatureV { v: 0 })),
            ..spec(
                "v-0",
                "`valid-v27` with v written as 0",
                even.clone(),
                with_v(&even_sig, 0),
            )
        },
        Spec {
            expect: "InvalidSignature",
            reason: Some(|r| matches!(r, Rejection::SignatureV { v: 1 })),
            ..spec(
                "v-1",
                "`valid-v28` with v written as 1",
                odd.clone(),
                with_v(&odd_sig, 1),
            )
        },
        Spec {
            expect: "InvalidSignature",
            reason: Some(|r| matches!(r, Rejection::SignatureV { v: 29 })),
            ..spec(
                "v-29",
                "`valid` with v = 29",
                base.clone(),
                with_v(&sig, 29),
            )
        },
        Spec {
            expect: "InvalidSignature",
            reason: Some(|r| matches!(r, Rejection::SignatureV { v: 35 })),
            ..spec(
                "v-35",
                "`valid-v27` with v written in the EIP-155 form 35 (chain id 0)",
                even,
                with_v(&even_sig, 35),
            )
        },
        Spec {
            expect: "InvalidSignature",
            reason: Some(|r| matches!(r, Rejection::SignatureLength { len: 64 })),
            ..spec(
                "length-64",
                "`valid` in the 64-byte EIP-2098 compact form",
                base.clone(),
                sig.as_erc2098().to_vec(),
            )
        },
        Spec {
            expect: "InvalidSignature",
            reason: Some(|r| matches!(r, Rejection::SignatureLength { len: 66 })),
            ..spec(
                "length-66",
                "`valid` with one byte appended",
                base.clone(),
                long,
            )
        },
        Spec {
            expect: "InvalidSignature",
            reason: Some(|r| matches!(r, Rejection::SignatureUnrecoverable)),
            ..spec(
                "r-zero",
                "`valid` with r = 0: ecrecover finds no signer",
                base.clone(),
                r_zero,
            )
        },
        Spec {
            expect: "InvalidSignature",
            reason: Some(|r| {
                matches!(
                    r,
                    Rejection::WrongSigner {
                        certifier: CERTIFIER,
                        ..
                    }
                )
            }),
            ..spec(
                "signer-not-certifier",
                "the certificate names the certifier but another key signed it",
                base.clone(),
                sign(&other_key(), &base).as_bytes().to_vec(),
            )
        },
        Spec {
            expect: "CertificateInvalidWindow",
            reason: Some(|r| matches!(r, Rejection::InvalidWindow { .. })),
            ..spec(
                "issued-after-expiry",
                "issuedAt > expiresAt",
                backwards.clone(),
                signed(&backwards),
            )
        },
        Spec {
            expect: "CertificateInvalidWindow",
            reason: Some(|r| matches!(r, Rejection::InvalidWindow { .. })),
            now: instant.issuedAt,
            ..spec(
                "issued-at-expiry",
                "issuedAt == expiresAt: an empty window",
                instant.clone(),
                signed(&instant),
            )
        },
        Spec {
            expect: "CertificateNotYetIssued",
            reason: Some(|r| matches!(r, Rejection::NotYetIssued { .. })),
            now: base.issuedAt - 1,
            ..spec(
                "issued-in-future",
                "anchored one second before issuedAt",
                base.clone(),
                sig.as_bytes().to_vec(),
            )
        },
        Spec {
            now: base.issuedAt,
            ..spec(
                "issued-now",
                "anchored at issuedAt itself: valid",
                base.clone(),
                sig.as_bytes().to_vec(),
            )
        },
        Spec {
            now: base.expiresAt,
            ..spec(
                "expires-now",
                "anchored at expiresAt itself: still valid",
                base.clone(),
                sig.as_bytes().to_vec(),
            )
        },
        Spec {
            expect: "CertificateExpired",
            reason: Some(|r| matches!(r, Rejection::Expired { .. })),
            now: base.expiresAt + 1,
            ..spec(
                "expired",
                "anchored one second after expiresAt (expiresAt == now - 1)",
                base.clone(),
                sig.as_bytes().to_vec(),
            )
        },
        Spec {
            expect: "CertificateInvalidLevel",
            reason: Some(|r| matches!(r, Rejection::InvalidLevel { level: 0 })),
            ..spec(
                "level-0",
                "level 0 is no tier",
                level0.clone(),
                signed(&level0),
            )
        },
        Spec {
            expect: "CertificateInvalidLevel",
            reason: Some(|r| matches!(r, Rejection::InvalidLevel { level: 5 })),
            ..spec(
                "level-5",
                "level 5 is no tier",
                level5.clone(),
                signed(&level5),
            )
        },
        Spec {
            expect: "CertificateCreatorMismatch",
            reason: Some(|r| {
                matches!(
                    r,
                    Rejection::CreatorMismatch {
                        certified: CREATOR,
                        expected: FRONT_RUNNER
                    }
                )
            }),
            token_creator: FRONT_RUNNER,
            ..spec(
                "creator-mismatch",
                "the certificate names the creator, but another account minted the checksum first (front-running)",
                base.clone(),
                sig.as_bytes().to_vec(),
            )
        },
    ]
}

const CASES_DESCRIPTION: &str = "\
    Certificates and the outcome MemoryNFT.anchorCertificate gives for each, shared by the \
    Solidity tests (contracts/test/Certificates.t.sol, which deploys MemoryNFT at \
    domain.verifyingContract, mints certificate.checksum as tokenCreator, warps to `now` and \
    anchors) and the Rust verifier (crates/protocol/tests/it/certificates.rs, \
    SignedCertificate::verify(now, Some(tokenCreator))). `expect` is `valid` or the name of \
    the custom error the contract reverts with. Signatures are r||s||v by \
    privateKeys.certifier (RFC 6979) unless the case says otherwise; uint64/uint256 values \
    are decimal strings. Generated by `MEMORY_UPDATE_VECTORS=1 cargo test -p memory-protocol \
    --test it vectors`; do not edit by hand.";

const DIGEST_DESCRIPTION: &str = "\
    EIP-712 Certificate test vector shared by the Solidity tests \
    (contracts/test/Certificates.t.sol) and the Rust protocol crate \
    (crates/protocol/tests/it/vector.rs). uint64/uint256 fields are decimal strings; the \
    signature is r||s||v (65 bytes, v = 27/28, RFC 6979) by privateKey over digest. \
    Generated by `MEMORY_UPDATE_VECTORS=1 cargo test -p memory-protocol --test it vectors`, \
    checked against MemoryNFT.hashCertificate by forge; the signature equals cast 1.7.1's \
    `cast wallet sign --data` of the same typed data.";

fn digest_vector_json() -> String {
    let c = base_certificate();
    let dom = domain(CHAIN_ID, NFT);
    let vector = DigestVector {
        description: DIGEST_DESCRIPTION,
        domain: DomainJson::new(CHAIN_ID, NFT),
        certificate: CertificateJson::from(&c),
        type_string: Certificate::eip712_encode_type().into_owned(),
        type_hash: c.eip712_type_hash(),
        domain_separator: dom.separator(),
        struct_hash: c.eip712_hash_struct(),
        digest: c.eip712_signing_hash(&dom),
        private_key: CERTIFIER_KEY,
        signer: CERTIFIER,
        signature: sign(&key(), &c).as_bytes().to_vec().into(),
    };
    serde_json::to_string_pretty(&vector).unwrap() + "\n"
}

fn cases_json() -> String {
    let file = CaseFile {
        description: CASES_DESCRIPTION.to_owned(),
        domain: DomainJson::new(CHAIN_ID, NFT),
        private_keys: Keys {
            certifier: CERTIFIER_KEY,
            other: OTHER_KEY,
        },
        cases: specs()
            .into_iter()
            .map(|s| Case {
                name: s.name.to_owned(),
                description: s.description.to_owned(),
                digest: digest_of(&s.certificate),
                certificate: CertificateJson::from(&s.certificate),
                signature: s.signature.into(),
                now: s.now.to_string(),
                token_creator: s.token_creator,
                expect: s.expect.to_owned(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&file).unwrap() + "\n"
}

/// The committed vectors are what the generator produces (or, with
/// `MEMORY_UPDATE_VECTORS=1`, become it).
#[test]
fn vectors_are_current() {
    for (path, want) in [(DIGEST_VECTOR, digest_vector_json()), (CASES, cases_json())] {
        if std::env::var_os("MEMORY_UPDATE_VECTORS").is_some() {
            std::fs::write(path, &want).unwrap();
            continue;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "{path} differs from what the generator produces; run \
             `MEMORY_UPDATE_VECTORS=1 cargo test -p memory-protocol --test it vectors` \
             and review the diff"
        );
    }
}

/// The Rust verifier gives every case the contract's outcome, for the reason written down.
#[test]
fn vectors_cases_get_the_contracts_outcome() {
    let text = std::fs::read_to_string(CASES).unwrap();
    let file: CaseFile = serde_json::from_str(&text).unwrap();
    let (chain_id, contract) = file.domain.check().unwrap();
    let specs = specs();
    assert_eq!(
        file.cases
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        specs.iter().map(|s| s.name).collect::<Vec<_>>(),
        "the file holds the generator's cases"
    );
    for (case, spec) in file.cases.iter().zip(&specs) {
        let signed = SignedCertificate {
            chain_id,
            verifying_contract: contract,
            certificate: case.certificate.clone().try_into().unwrap(),
            digest: case.digest,
            signature: case.signature.clone(),
        };
        let now: u64 = case.now.parse().unwrap();
        let got = signed.verify(now, Some(case.token_creator));
        let name = &case.name;
        match &got {
            Ok(certifier) => {
                assert_eq!(
                    case.expect, "valid",
                    "{name}: accepted, the contract refuses it"
                );
                assert_eq!(*certifier, CERTIFIER, "{name}");
            }
            Err(r) => {
                assert_eq!(
                    r.solidity_error(),
                    Some(case.expect.as_str()),
                    "{name}: {r}"
                );
                let reason = spec.reason.expect("an invalid case names its reason");
                assert!(reason(r), "{name}: rejected for another reason: {r:?}");
            }
        }
    }
}

/// The digest vector's signature is the `valid` case's, and the vector matches the case file.
#[test]
fn vectors_digest_vector_is_the_valid_case() {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct V {
        certificate: CertificateJson,
        digest: B256,
        signature: Bytes,
    }
    let v: V = serde_json::from_str(&std::fs::read_to_string(DIGEST_VECTOR).unwrap()).unwrap();
    let cases: CaseFile = serde_json::from_str(&std::fs::read_to_string(CASES).unwrap()).unwrap();
    let valid = &cases.cases[0];
    assert_eq!(valid.name, "valid");
    assert_eq!(
        (&v.certificate, v.digest, &v.signature),
        (&valid.certificate, valid.digest, &valid.signature)
    );
}

/// The signature cases are real attacks: a lenient verifier (alloy's `Signature::from_raw`,
/// which takes v as 0/1/27/28/EIP-155 and recovers high-s twins by normalising them) gets
/// the certifier from each, while the contract's rules refuse them.
#[test]
fn lenient_recovery_accepts_the_signature_twins() {
    for spec in specs() {
        if !["high-s", "v-0", "v-1", "v-35"].contains(&spec.name) {
            continue;
        }
        let digest = digest_of(&spec.certificate);
        let lenient = Signature::from_raw(&spec.signature)
            .unwrap()
            .recover_address_from_prehash(&digest)
            .unwrap();
        assert_eq!(lenient, CERTIFIER, "{}", spec.name);
        assert!(
            recover_signer(&digest, &spec.signature).is_err(),
            "{}",
            spec.name
        );
        assert!(check_signature(&digest, &spec.signature, CERTIFIER).is_err());
    }
}

#[test]
fn s_bounds_are_inclusive_at_half_the_order() {
    let base = base_certificate();
    let digest = digest_of(&base);
    let sig = sign(&key(), &base);
    let mut bytes = sig.as_bytes();
    // s = n/2 passes the s check (then fails to recover the certifier, or recovers another).
    bytes[32..64].copy_from_slice(&SECP256K1N_HALF.to_be_bytes::<32>());
    assert!(!matches!(
        recover_signer(&digest, &bytes),
        Err(Rejection::SignatureHighS { .. })
    ));
    bytes[32..64].copy_from_slice(&(SECP256K1N_HALF + U256::from(1)).to_be_bytes::<32>());
    assert!(matches!(
        recover_signer(&digest, &bytes),
        Err(Rejection::SignatureHighS { .. })
    ));
    // s = 0 and r >= n recover nothing.
    let mut bytes = sig.as_bytes();
    bytes[32..64].fill(0);
    assert_eq!(
        recover_signer(&digest, &bytes),
        Err(Rejection::SignatureUnrecoverable)
    );
    let mut bytes = sig.as_bytes();
    bytes[..32].copy_from_slice(&SECP256K1N.to_be_bytes::<32>());
    assert_eq!(
        recover_signer(&digest, &bytes),
        Err(Rejection::SignatureUnrecoverable)
    );
}
