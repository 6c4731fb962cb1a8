//! `memory verify-cert`: check a certificate file by the rules `MemoryNFT.anchorCertificate`
//! applies (digest, signature form and signer, level, validity window at `--now`, and the
//! creator with `--creator`) and recompute its figures from the two files.
//!
//! The command exits 0 only when the contract would accept the certificate at `--now` (default:
//! the clock) and every figure matches. What only the chain knows (the certifier role, the
//! token's creator and checksum, anchored or revoked) is `memory verify`'s job.

use std::{
    path::PathBuf,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::primitives::Address;
use anyhow::{Context, Result, bail};
use memory_protocol::{Recomputed, SignedCertificate, certificate::check_certificate, compare};
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
    /// Also require this certifier (e.g. one you trust, or one holding the role on chain).
    #[arg(long, alias = "signer", value_name = "ADDRESS")]
    pub certifier: Option<Address>,
    /// Also require this creator: the creator of the token the certificate is meant for (the
    /// contract anchors it only on a token with the creator it names).
    #[arg(long, value_name = "ADDRESS")]
    pub creator: Option<Address>,
    /// Check validity at this time (unix seconds) instead of now, as the contract would at a
    /// block with this timestamp: valid from issuedAt to expiresAt, both included.
    #[arg(long, value_name = "UNIX")]
    pub now: Option<u64>,
}

/// Runs the command; exits non-zero when the contract would refuse the certificate or a
/// figure does not match the files.
pub fn run(args: Args, out: Output) -> Result<()> {
    let signed = SignedCertificate::load(&args.cert)
        .with_context(|| format!("cannot read the certificate {}", args.cert.display()))?;
    let certifier = signed
        .verify_signature()
        .context("invalid certificate signature")?;
    if let Some(expected) = args.certifier
        && expected != certifier
    {
        bail!("certificate is signed by {certifier}, not by the required certifier {expected}");
    }
    let now = args.now.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let cert = &signed.certificate;
    let rules = check_certificate(cert, now, args.creator);
    let spinner = out.stage("recomputing checksums and metrics");
    let re = Recomputed::from_files(&args.matrix, &args.test).context("cannot recompute")?;
    spinner.finish_and_clear();
    let checks = compare(cert, &re);
    let bad: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.field).collect();
    let (issued_at, expires_at) = (cert.issuedAt, cert.expiresAt);
    if out.json {
        out.json(&json!({
            "signature": "ok",
            "certifier": certifier.to_checksum(None),
            "creator": cert.creator.to_checksum(None),
            "chainId": signed.chain_id,
            "verifyingContract": signed.verifying_contract.to_checksum(None),
            "digest": signed.digest.to_string(),
            "issuedAt": issued_at.to_string(),
            "expiresAt": expires_at.to_string(),
            "now": now.to_string(),
            "expired": now > expires_at,
            "anchorable": rules.is_ok(),
            "rejection": rules.as_ref().err().map(|r| json!({
                "error": r.solidity_error(),
                "message": r.to_string(),
            })),
            "match": bad.is_empty(),
            "fields": checks,
        }));
    } else {
        println!(
            "signature ok: signed by certifier {} for MemoryNFT {} on chain {}",
            certifier.to_checksum(None),
            signed.verifying_contract.to_checksum(None),
            signed.chain_id
        );
        println!("creator: {}", cert.creator.to_checksum(None));
        println!(
            "validity: issued at {issued_at}, valid until {expires_at} included; at {now}: {}",
            match &rules {
                Ok(()) => "valid".to_owned(),
                Err(r) => format!("REFUSED ({r})"),
            }
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
    if let Err(r) = rules {
        let error = r.solidity_error().unwrap_or("refused");
        bail!("the contract would refuse this certificate at {now} ({error}): {r}");
    }
    if !out.json {
        println!("certificate matches the files and is valid at {now}");
    }
    Ok(())
}
