//! `memory pack`: `.npy` arrays (and/or existing safetensors files) plus metadata into one
//! canonical safetensors artifact.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use memory_protocol::{
    Artifact, TestSet, WMatrix,
    artifact::meta,
    checksum::content_checksum,
    read_npy,
    version::parse_version,
    wmatrix::{KIND_TEST_SET, KIND_WMATRIX},
};
use serde_json::json;

use crate::output::Output;

/// Arguments of `memory pack`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output safetensors file.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// A tensor from a .npy file, as NAME=FILE.npy (repeatable). W-Matrix: weight [d_out,
    /// d_in] and optional bias [d_out]; test set: x [n, d_in] and y [n, d_out].
    #[arg(long = "tensor", value_name = "NAME=FILE", value_parser = super::parse_pair)]
    pub tensors: Vec<(String, String)>,
    /// Take every tensor and metadata entry of an existing safetensors file (repeatable).
    #[arg(long = "from", value_name = "FILE")]
    pub from: Vec<PathBuf>,
    /// A metadata entry KEY=VALUE (repeatable): kind (w-matrix, test-set), source_model,
    /// target_model, version (semver), ...
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = super::parse_pair)]
    pub meta: Vec<(String, String)>,
}

/// Runs the command.
pub fn run(args: Args, out: Output) -> Result<()> {
    let mut artifact = Artifact::new();
    for path in &args.from {
        let a = Artifact::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        for (name, t) in a.tensors {
            if artifact.tensors.insert(name.clone(), t).is_some() {
                bail!("tensor `{name}` is given twice");
            }
        }
        artifact.metadata.extend(a.metadata);
    }
    for (name, file) in &args.tensors {
        let t =
            read_npy(file).with_context(|| format!("cannot read tensor `{name}` from {file}"))?;
        if artifact.tensors.insert(name.clone(), t).is_some() {
            bail!("tensor `{name}` is given twice");
        }
    }
    if artifact.tensors.is_empty() {
        bail!("nothing to pack: give at least one --tensor NAME=FILE.npy or --from FILE");
    }
    artifact.metadata.extend(args.meta);
    if let Some(v) = artifact.metadata.get(meta::VERSION) {
        parse_version(v)?;
    }
    // Known kinds must be complete and usable.
    match artifact.metadata.get(meta::KIND).map(String::as_str) {
        Some(KIND_WMATRIX) => {
            WMatrix::from_artifact(&artifact).context("not a valid W-Matrix")?;
        }
        Some(KIND_TEST_SET) => {
            TestSet::from_artifact(&artifact).context("not a valid test set")?;
        }
        _ => {}
    }
    artifact
        .write(&args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let checksum = content_checksum(&artifact);
    if out.json {
        out.json(&json!({
            "file": args.output,
            "checksum": checksum.to_string(),
            "tensors": artifact.tensors.iter().map(|(n, t)| json!({
                "name": n, "dtype": t.dtype().name(), "shape": t.shape(),
            })).collect::<Vec<_>>(),
            "metadata": artifact.metadata,
        }));
    } else {
        println!("wrote     {}", args.output.display());
        for (n, t) in &artifact.tensors {
            println!("tensor    {n} {} {:?}", t.dtype(), t.shape());
        }
        println!("checksum  {checksum}");
    }
    Ok(())
}
