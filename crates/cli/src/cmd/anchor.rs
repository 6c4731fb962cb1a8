//! `memory anchor` (a certificate file onto its token) and `memory revoke` (a certificate the
//! signer certified).

use std::path::{Path, PathBuf};

use alloy::primitives::{B256, U256};
use anyhow::{Context, Result, bail};
use memory_bindings::IMemoryNFT;
use memory_protocol::{Certificate, SignedCertificate};
use serde_json::json;

use super::chain::{Chain, ChainArgs, TxInfo, block_on, print_json};
use crate::{output::Output, wallet::KeyArgs};

/// Arguments of `memory anchor`.
#[derive(clap::Args, Debug)]
pub struct AnchorArgs {
    /// Token to anchor the certificate to.
    #[arg(value_parser = crate::cmd::chain::parse_token)]
    pub token: U256,
    /// Certificate JSON file (written by `memory certify`).
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Arguments of `memory revoke`.
#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    /// EIP-712 digest of the certificate (0x...).
    #[arg(required_unless_present = "cert", conflicts_with = "cert")]
    pub digest: Option<B256>,
    /// Or the certificate JSON file.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// The contracts' binding type of a certificate (same Solidity struct as the protocol crate's).
pub fn to_binding(c: &Certificate) -> IMemoryNFT::Certificate {
    IMemoryNFT::Certificate {
        checksum: c.checksum,
        creator: c.creator,
        certifier: c.certifier,
        testSetChecksum: c.testSetChecksum,
        epsilonPpm: c.epsilonPpm,
        relErrorPpm: c.relErrorPpm,
        cosinePpm: c.cosinePpm,
        euclideanPpm: c.euclideanPpm,
        testSamples: c.testSamples,
        level: c.level,
        issuedAt: c.issuedAt,
        expiresAt: c.expiresAt,
        nonce: c.nonce,
    }
}

/// The protocol crate's type of a certificate read from the chain.
pub fn from_binding(c: &IMemoryNFT::Certificate) -> Certificate {
    Certificate {
        checksum: c.checksum,
        creator: c.creator,
        certifier: c.certifier,
        testSetChecksum: c.testSetChecksum,
        epsilonPpm: c.epsilonPpm,
        relErrorPpm: c.relErrorPpm,
        cosinePpm: c.cosinePpm,
        euclideanPpm: c.euclideanPpm,
        testSamples: c.testSamples,
        level: c.level,
        issuedAt: c.issuedAt,
        expiresAt: c.expiresAt,
        nonce: c.nonce,
    }
}

/// Loads a certificate file and checks its signature and domain against `chain`.
pub fn load_for(chain: &Chain, path: &Path) -> Result<SignedCertificate> {
    let signed = SignedCertificate::load(path)
        .with_context(|| format!("cannot read the certificate {}", path.display()))?;
    signed
        .verify_signature()
        .with_context(|| format!("invalid certificate signature in {}", path.display()))?;
    if signed.chain_id != chain.chain_id {
        bail!(
            "the certificate {} is for chain {}, the node is chain {}",
            path.display(),
            signed.chain_id,
            chain.chain_id
        );
    }
    if signed.verifying_contract != chain.nft {
        bail!(
            "the certificate {} is for the MemoryNFT at {}, not {}",
            path.display(),
            signed.verifying_contract,
            chain.nft
        );
    }
    Ok(signed)
}

/// Anchors `signed` to `token`; returns the transaction.
pub async fn anchor(
    chain: &Chain,
    token: U256,
    signed: &SignedCertificate,
    out: Output,
) -> Result<TxInfo> {
    let sig = signed.signature.clone();
    let nft = chain.nft();
    chain
        .send(
            "anchor",
            nft.anchorCertificate(token, to_binding(&signed.certificate), sig),
            out,
        )
        .await
}

/// Runs `memory anchor`.
pub fn run_anchor(args: AnchorArgs, out: Output) -> Result<()> {
    block_on(async move {
        let chain = args.chain.connect_signing(&args.key).await?;
        let signed = load_for(&chain, &args.cert)?;
        chain.require_token(args.token).await?;
        let tx = anchor(&chain, args.token, &signed, out).await?;
        if out.json {
            print_json(
                out,
                json!({
                    "tokenId": args.token.to_string(),
                    "digest": signed.digest.to_string(),
                    "certifier": signed.certificate.certifier.to_checksum(None),
                    "level": signed.certificate.level,
                    "epsilonPpm": signed.certificate.epsilonPpm,
                }),
                &[tx],
            );
        } else {
            println!(
                "anchored certificate {} (level {}, epsilon {} ppm, certifier {}) to token {}",
                signed.digest,
                signed.certificate.level,
                signed.certificate.epsilonPpm,
                signed.certificate.certifier.to_checksum(None),
                args.token
            );
        }
        Ok(())
    })?
}

/// Runs `memory revoke`.
pub fn run_revoke(args: RevokeArgs, out: Output) -> Result<()> {
    block_on(async move {
        let chain = args.chain.connect_signing(&args.key).await?;
        let digest = match (&args.digest, &args.cert) {
            (Some(d), _) => *d,
            (None, Some(path)) => load_for(&chain, path)?.digest,
            (None, None) => bail!("give the certificate digest or --cert FILE"),
        };
        let nft = chain.nft();
        let tx = chain
            .send("revoke", nft.revokeCertificate(digest), out)
            .await?;
        if out.json {
            print_json(out, json!({ "digest": digest.to_string() }), &[tx]);
        } else {
            println!("revoked certificate {digest}");
        }
        Ok(())
    })?
}
