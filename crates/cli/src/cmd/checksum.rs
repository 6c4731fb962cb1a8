//! `memory checksum FILE`: content checksum and file SHA-256.

use std::path::PathBuf;

use anyhow::{Context, Result};
use memory_protocol::checksum::{checksum_file_with_progress, content_checksum_file_with_progress};
use serde_json::json;

use crate::output::Output;

/// Arguments of `memory checksum`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A safetensors artifact (W-Matrix, test set, ...).
    pub file: PathBuf,
    /// Only the content checksum (skip the plain file SHA-256; one hash stream instead of two).
    #[arg(long)]
    pub content_only: bool,
}

/// Runs the command.
pub fn run(args: Args, out: Output) -> Result<()> {
    let len = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    let bar = out.bytes(len, "hashing");
    let ctx = || format!("cannot checksum {}", args.file.display());
    if args.content_only {
        let checksum =
            content_checksum_file_with_progress(&args.file, &|n| bar.inc(n)).with_context(ctx)?;
        bar.finish_and_clear();
        if out.json {
            out.json(&json!({ "file": args.file, "checksum": checksum.to_string() }));
        } else {
            println!("checksum  {checksum}");
        }
        return Ok(());
    }
    let sums = checksum_file_with_progress(&args.file, &|n| bar.inc(n)).with_context(ctx)?;
    bar.finish_and_clear();
    if out.json {
        out.json(&json!({
            "file": args.file,
            "checksum": sums.content.to_string(),
            "sha256": sums.file.to_string(),
            "bytes": sums.file_len,
            "tensors": sums.tensors,
        }));
    } else {
        println!("checksum  {}", sums.content);
        println!("sha256    {}", sums.file);
        println!(
            "size      {} bytes, {} tensors",
            sums.file_len, sums.tensors
        );
    }
    Ok(())
}
