//! `memory certify`: evaluate, build and sign an EIP-712 certificate for a creator, write its
//! file.

use std::{
    path::PathBuf,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::primitives::{Address, B256, U256, keccak256};
use anyhow::{Context, Result, bail};
use memory_protocol::{build_certificate, evaluate, sign_certificate};
use serde_json::json;

use crate::{output::Output, wallet::KeyArgs};

/// Arguments of `memory certify`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// W-Matrix safetensors file.
    #[arg(long, value_name = "FILE")]
    pub matrix: PathBuf,
    /// Test-set safetensors file.
    #[arg(long, value_name = "FILE")]
    pub test: PathBuf,
    /// The address that will mint the token (its creator: the account that runs `memory mint`).
    ///
    /// The certificate names it and the certifier signs it: MemoryNFT anchors the certificate only
    /// on a token with this creator, so somebody who sees the certificate (or its anchoring
    /// transaction) and mints the same checksum first cannot use it.
    #[arg(long, value_name = "ADDRESS")]
    pub creator: Address,
    /// Address of the MemoryNFT contract (the EIP-712 verifying contract).
    #[arg(long, env = "MEMORY_NFT_ADDRESS", value_name = "ADDRESS")]
    pub contract: Address,
    /// Chain id of the EIP-712 domain.
    #[arg(long, env = "MEMORY_CHAIN_ID", default_value_t = 31337)]
    pub chain_id: u64,
    /// Issue time (unix seconds); default now.
    #[arg(long, value_name = "UNIX")]
    pub issued_at: Option<u64>,
    /// Expiry time (unix seconds); default issue time + --valid-days.
    #[arg(long, value_name = "UNIX", conflicts_with = "valid_days")]
    pub expires_at: Option<u64>,
    /// Validity in days from the issue time.
    #[arg(long, default_value_t = 365)]
    pub valid_days: u64,
    /// Nonce (decimal uint256); default: a hash of the checksums, the clock and the process.
    #[arg(long)]
    pub nonce: Option<U256>,
    /// Output certificate JSON file.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Runs the command.
pub fn run(args: Args, out: Output) -> Result<()> {
    // Load the key first: a wrong password should fail before minutes of evaluation.
    let signer = args.key.signer()?;
    let spinner = out.stage("checksumming");
    // One read per file: what is certified is exactly what was checksummed.
    let (matrix, checksum) = super::load_matrix_with_checksum(&args.matrix)?;
    let (test, test_checksum) = super::load_test_set_with_checksum(&args.test)?;
    spinner.set_message(format!("evaluating on {} samples", test.len()));
    let metrics = evaluate(&matrix, &test).context("cannot evaluate")?;
    spinner.finish_and_clear();

    let issued_at = match args.issued_at {
        Some(t) => t,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let expires_at = match args.expires_at {
        Some(t) => t,
        None => args
            .valid_days
            .checked_mul(86_400)
            .and_then(|s| issued_at.checked_add(s))
            .context("--valid-days is too large")?,
    };
    if expires_at <= issued_at {
        bail!("the certificate would expire ({expires_at}) before it is issued ({issued_at})");
    }
    let nonce = args
        .nonce
        .unwrap_or_else(|| default_nonce(checksum, test_checksum));
    let cert = build_certificate(
        checksum,
        test_checksum,
        args.creator,
        &metrics,
        issued_at,
        expires_at,
        nonce,
    )?;
    let signed = sign_certificate(cert, args.chain_id, args.contract, &signer)?;
    signed
        .save(&args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let c = &signed.certificate;
    if out.json {
        out.json(&json!({
            "file": args.output,
            "digest": signed.digest.to_string(),
            "certifier": c.certifier.to_checksum(None),
            "creator": c.creator.to_checksum(None),
            "checksum": c.checksum.to_string(),
            "testSetChecksum": c.testSetChecksum.to_string(),
            "epsilonPpm": c.epsilonPpm,
            "level": c.level,
            "expiresAt": c.expiresAt.to_string(),
        }));
    } else {
        println!("wrote     {}", args.output.display());
        println!("checksum  {}", c.checksum);
        println!("creator   {}", c.creator.to_checksum(None));
        println!("test set  {}", c.testSetChecksum);
        println!(
            "epsilon   {} ppm, tier {} (level {})",
            c.epsilonPpm,
            metrics.tier(),
            c.level
        );
        println!("valid     {} .. {} (unix)", c.issuedAt, c.expiresAt);
        println!("digest    {}", signed.digest);
        println!("certifier {}", c.certifier.to_checksum(None));
    }
    Ok(())
}

/// A fresh nonce: keccak256 of both checksums, the clock in nanoseconds and the process id,
/// so two certificates for the same files get different digests.
fn default_nonce(checksum: B256, test_checksum: B256) -> U256 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut data = Vec::with_capacity(84);
    data.extend_from_slice(checksum.as_slice());
    data.extend_from_slice(test_checksum.as_slice());
    data.extend_from_slice(&nanos.to_be_bytes());
    data.extend_from_slice(&std::process::id().to_be_bytes());
    U256::from_be_bytes(keccak256(&data).0)
}
