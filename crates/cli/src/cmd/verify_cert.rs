//! `memory verify-cert`: check a certificate's signature and recompute its figures.
//!
//! The validity window is reported (`expired` in JSON, a line of text) but does not fail the
//! command: an expired certificate's figures still say what the files are. Whether a
//! certificate holds *now* on chain (anchored, not revoked, not expired) is `memory verify`'s job.

use std::path::PathBuf;

use alloy::primitives::Address;
use anyhow::{Context, Result, bail};
use memory_protocol::{Recomputed, SignedCertificate, compare};
use serde_json::json;

use crate::output::Output;

/// Arguments of `memory verify-cert`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Certificate JSON file.
    pub cert: PathBuf,
    /// W-Matrix safetensors file the certificate is about.
    #[arg(long, value_name = "FILE")]
    pub matrix: PathBuf,
    /// Test-set safetensors file the certificate was computed on.
    #[arg(long, value_name = "FILE")]
    pub test: PathBuf,
    /// Also require this signer (e.g. a known certifier).
    #[arg(long, value_name = "ADDRESS")]
    pub signer: Option<Address>,
}

/// Runs the command; exits non-zero on any mismatch.
pub fn run(args: Args, out: Output) -> Result<()> {
    let signed = SignedCertificate::load(&args.cert)
        .with_context(|| format!("cannot read the certificate {}", args.cert.display()))?;
    let signer = signed
        .verify_signature()
        .context("invalid certificate signature")?;
    if let Some(expected) = args.signer
        && expected != signer
    {
        bail!("certificate is signed by {signer}, not by the required signer {expected}");
    }
    let spinner = out.stage("recomputing checksums and metrics");
    let re = Recomputed::from_files(&args.matrix, &args.test).context("cannot recompute")?;
    spinner.finish_and_clear();
    let checks = compare(&signed.certificate, &re);
    let (issued_at, expires_at) = (signed.certificate.issuedAt, signed.certificate.expiresAt);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expired = expires_at <= now;
    let bad: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.field).collect();
    if out.json {
        out.json(&json!({
            "signature": "ok",
            "signer": signer.to_checksum(None),
            "chainId": signed.chain_id,
            "verifyingContract": signed.verifying_contract.to_checksum(None),
            "digest": signed.digest.to_string(),
            "issuedAt": issued_at.to_string(),
            "expiresAt": expires_at.to_string(),
            "expired": expired,
            "match": bad.is_empty(),
            "fields": checks,
        }));
    } else {
        println!(
            "signature ok: signed by {} for MemoryNFT {} on chain {}",
            signer.to_checksum(None),
            signed.verifying_contract.to_checksum(None),
            signed.chain_id
        );
        println!(
            "validity: issued at {issued_at}, {} at {expires_at} (unix seconds)",
            if expired { "EXPIRED" } else { "expires" }
        );
        println!(
            "{:<16} {:<68} {:<68} result",
            "field", "certified", "recomputed"
        );
        for c in &checks {
            let result = if c.ok { "ok" } else { "MISMATCH" };
            println!(
                "{:<16} {:<68} {:<68} {result}",
                c.field, c.certified, c.recomputed
            );
        }
    }
    if !bad.is_empty() {
        bail!("certificate does not match the files: {}", bad.join(", "));
    }
    if !out.json {
        println!("certificate matches the files");
    }
    Ok(())
}
