//! The EIP-712 vector shared with the Solidity tests (contracts/test/vectors/certificate.json).

use alloy::{
    primitives::{Address, B256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::SolStruct,
};
use memory_protocol::certificate::{Certificate, CertificateJson, DomainJson, domain};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    domain: DomainJson,
    certificate: CertificateJson,
    type_string: Option<String>,
    type_hash: B256,
    domain_separator: Option<B256>,
    struct_hash: B256,
    digest: B256,
    private_key: B256,
    signer: Address,
    signature: String,
}

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../contracts/test/vectors/certificate.json"
);

#[test]
fn certificate_vector_matches_the_contracts() {
    let text = std::fs::read_to_string(PATH).expect("the shared vector exists");
    let v: Vector = serde_json::from_str(&text).expect("vector parses");
    let (chain_id, contract) = v.domain.check().expect("MemoryNFT domain");
    let cert: Certificate = v
        .certificate
        .clone()
        .try_into()
        .expect("certificate fields");
    // The JSON form round-trips exactly.
    assert_eq!(CertificateJson::from(&cert), v.certificate);

    if let Some(ts) = &v.type_string {
        assert_eq!(&Certificate::eip712_encode_type(), ts);
    }
    assert_eq!(cert.eip712_type_hash(), v.type_hash, "typeHash");
    assert_eq!(cert.eip712_hash_struct(), v.struct_hash, "structHash");
    let dom = domain(chain_id, contract);
    if let Some(sep) = v.domain_separator {
        assert_eq!(dom.separator(), sep, "domainSeparator");
    }
    let digest = cert.eip712_signing_hash(&dom);
    assert_eq!(digest, v.digest, "digest");

    let signer = PrivateKeySigner::from_bytes(&v.private_key).expect("key");
    assert_eq!(signer.address(), v.signer, "signer");
    let sig = signer.sign_hash_sync(&digest).expect("sign");
    let expected = v.signature.to_lowercase();
    assert_eq!(
        format!("0x{}", alloy::hex::encode(sig.as_bytes())),
        expected,
        "signature (RFC 6979)"
    );
    let parsed = alloy::primitives::Signature::from_raw(
        &alloy::hex::decode(expected.trim_start_matches("0x")).expect("hex"),
    )
    .expect("65 bytes");
    assert_eq!(
        parsed
            .recover_address_from_prehash(&digest)
            .expect("recover"),
        v.signer
    );
}
