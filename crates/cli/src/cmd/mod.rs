//! The subcommands, one module each, and the helpers they share.

mod account;
mod anchor;
mod approvals;
mod certify;
mod chain;
mod checksum;
mod evaluate;
mod fit;
mod market;
mod mint;
mod pack;
mod show;
mod verify;
mod verify_cert;

use std::path::Path;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use memory_protocol::{Artifact, TestSet, WMatrix, read_npy};
use ndarray::Array2;

use crate::output::Output;

/// Command line of `memory`.
#[derive(Parser, Debug)]
#[command(
    name = "memory",
    version,
    about = "Pack, checksum, fit, evaluate and certify AI memory artifacts; mint, trade and verify them on chain"
)]
pub struct Cli {
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long, global = true)]
    pub progress: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Content checksum (anchored on chain) and file SHA-256 of a safetensors artifact.
    Checksum(checksum::Args),
    /// Pack .npy arrays and metadata into a canonical safetensors artifact.
    Pack(pack::Args),
    /// Fit a W-Matrix (ridge regression or orthogonal Procrustes).
    Fit(fit::Args),
    /// Evaluate a W-Matrix on a test set: epsilon and the other metrics, with the tier.
    Evaluate(evaluate::Args),
    /// Build and sign an EIP-712 certificate for a W-Matrix and a test set.
    Certify(certify::Args),
    /// Verify a certificate's signature and recompute its figures from the files.
    VerifyCert(verify_cert::Args),
    /// Mint an artifact as a memory token (checksum computed locally); optionally anchor a
    /// certificate and create the token's account in the same flow.
    Mint(mint::Args),
    /// Anchor a certificate file to its token.
    Anchor(anchor::AnchorArgs),
    /// Revoke a certificate you certified.
    Revoke(anchor::RevokeArgs),
    /// Show (or create) a token's ERC-6551 account.
    Account(account::Args),
    /// List a token on the market.
    List(market::ListArgs),
    /// Cancel a listing.
    Cancel(market::TokenArgs),
    /// Buy a listed token: the listing you saw, at its price, refusing live account approvals.
    Buy(market::BuyArgs),
    /// Withdraw from the market ledger, or royalties out of a token's account (--account).
    Withdraw(market::WithdrawArgs),
    /// Show a memory: from the indexer API, else from the chain.
    Show(show::Args),
    /// Verify a token against its artifact: checksum, certificates, provenance, royalty
    /// table and the indexer's view. Exits non-zero on any mismatch.
    Verify(verify::Args),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let out = Output::new(cli.json, cli.progress);
    match cli.command {
        Command::Checksum(a) => checksum::run(a, out),
        Command::Pack(a) => pack::run(a, out),
        Command::Fit(a) => fit::run(a, out),
        Command::Evaluate(a) => evaluate::run(a, out),
        Command::Certify(a) => certify::run(a, out),
        Command::VerifyCert(a) => verify_cert::run(a, out),
        Command::Mint(a) => mint::run(a, out),
        Command::Anchor(a) => anchor::run_anchor(a, out),
        Command::Revoke(a) => anchor::run_revoke(a, out),
        Command::Account(a) => account::run(a, out),
        Command::List(a) => market::run_list(a, out),
        Command::Cancel(a) => market::run_cancel(a, out),
        Command::Buy(a) => market::run_buy(a, out),
        Command::Withdraw(a) => market::run_withdraw(a, out),
        Command::Show(a) => show::run(a, out),
        Command::Verify(a) => verify::run(a, out),
    }
}

/// Loads a W-Matrix file with a readable context.
pub fn load_matrix(path: &Path) -> Result<WMatrix> {
    WMatrix::load(path).with_context(|| format!("cannot load the W-Matrix {}", path.display()))
}

/// Loads a W-Matrix file and its content checksum in one read.
pub fn load_matrix_with_checksum(path: &Path) -> Result<(WMatrix, alloy::primitives::B256)> {
    WMatrix::load_with_checksum(path)
        .with_context(|| format!("cannot load the W-Matrix {}", path.display()))
}

/// Loads a test-set file and its content checksum in one read.
pub fn load_test_set_with_checksum(path: &Path) -> Result<(TestSet, alloy::primitives::B256)> {
    TestSet::load_with_checksum(path)
        .with_context(|| format!("cannot load the test set {}", path.display()))
}

/// Loads a test-set file with a readable context.
pub fn load_test_set(path: &Path) -> Result<TestSet> {
    TestSet::load(path).with_context(|| format!("cannot load the test set {}", path.display()))
}

/// A 2-D array from a `.npy` file or from tensor `name` of a safetensors file.
pub fn load_array(path: &Path, name: &str) -> Result<Array2<f64>> {
    let ctx = || format!("cannot load `{name}` from {}", path.display());
    let tensor = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        read_npy(path).with_context(ctx)?
    } else {
        let artifact = Artifact::open(path).with_context(ctx)?;
        artifact.tensor(name).with_context(ctx)?.clone()
    };
    tensor.to_array2(name).with_context(ctx)
}

/// `KEY=VALUE` pairs.
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}
