//! `memory evaluate`: the certified metrics of a W-Matrix on a test set.

use std::path::PathBuf;

use anyhow::{Context, Result};
use memory_protocol::{Metrics, evaluate};
use serde_json::{Value, json};

use crate::output::Output;

/// Arguments of `memory evaluate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// W-Matrix safetensors file (`weight`, optional `bias`).
    #[arg(long, value_name = "FILE")]
    pub matrix: PathBuf,
    /// Test-set safetensors file (`x`, `y`), disjoint from the fit data.
    #[arg(long, value_name = "FILE")]
    pub test: PathBuf,
}

/// The metrics as JSON (f64 values and their certificate integers).
pub fn metrics_json(m: &Metrics) -> Value {
    let p = m.to_ppm();
    let tier = m.tier();
    json!({
        "epsilon": m.epsilon,
        "relError": m.rel_error,
        "cosine": m.cosine,
        "euclidean": m.euclidean,
        "samples": m.samples,
        "epsilonPpm": p.epsilon_ppm,
        "relErrorPpm": p.rel_error_ppm,
        "cosinePpm": p.cosine_ppm,
        "euclideanPpm": p.euclidean_ppm.to_string(),
        "testSamples": p.test_samples,
        "tier": tier.name(),
        "level": tier.level(),
    })
}

/// Prints the metrics as text.
pub fn print_metrics(m: &Metrics) {
    let p = m.to_ppm();
    println!("epsilon    {:.6}  ({} ppm)", m.epsilon, p.epsilon_ppm);
    println!("rel_error  {:.6}  ({} ppm)", m.rel_error, p.rel_error_ppm);
    println!("cosine     {:.6}  ({} ppm)", m.cosine, p.cosine_ppm);
    println!("euclidean  {:.6}  ({} ppm)", m.euclidean, p.euclidean_ppm);
    println!("samples    {}", m.samples);
    println!("tier       {} (level {})", m.tier(), m.tier().level());
}

/// Runs the command.
pub fn run(args: Args, out: Output) -> Result<()> {
    let spinner = out.stage("loading");
    let matrix = super::load_matrix(&args.matrix)?;
    let test = super::load_test_set(&args.test)?;
    spinner.set_message(format!(
        "evaluating on {} samples ({} -> {})",
        test.len(),
        matrix.d_in(),
        matrix.d_out()
    ));
    let m = evaluate(&matrix, &test).context("cannot evaluate")?;
    spinner.finish_and_clear();
    if out.json {
        out.json(&metrics_json(&m));
    } else {
        print_metrics(&m);
    }
    Ok(())
}
