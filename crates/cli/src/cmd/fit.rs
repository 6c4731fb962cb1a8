//! `memory fit`: fit a W-Matrix on paired samples.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use memory_protocol::{
    Dtype, FitOptions, TestSet, checksum::content_checksum, fit_procrustes, fit_ridge,
    version::parse_version,
};
use serde_json::json;

use crate::output::Output;

/// Fitting method.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Ridge regression, W = argmin ‖XWᵀ − Y‖² + λ‖W‖².
    Ridge,
    /// Orthogonal Procrustes (d_in = d_out; W orthogonal).
    Procrustes,
}

/// Element type of the output.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutDtype {
    /// IEEE single precision (the usual artifact format).
    F32,
    /// IEEE double precision (the fit exactly as computed).
    F64,
}

/// Arguments of `memory fit`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training set as one safetensors file with tensors `x` and `y`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["x", "y"], required_unless_present_all = ["x", "y"])]
    pub train: Option<PathBuf>,
    /// Inputs [n, d_in]: a .npy file, or a safetensors file with tensor `x`.
    #[arg(long, value_name = "FILE", requires = "y")]
    pub x: Option<PathBuf>,
    /// Targets [n, d_out]: a .npy file, or a safetensors file with tensor `y`.
    #[arg(long, value_name = "FILE", requires = "x")]
    pub y: Option<PathBuf>,
    /// Fitting method.
    #[arg(long, value_enum, default_value = "ridge")]
    pub method: Method,
    /// Ridge penalty λ (>= 0).
    #[arg(long, default_value_t = 0.0)]
    pub lambda: f64,
    /// Fit without a bias (do not centre the data).
    #[arg(long)]
    pub no_intercept: bool,
    /// Element type of the written W-Matrix.
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: OutDtype,
    /// Threads for the fit (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Output W-Matrix safetensors file.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Extra metadata KEY=VALUE (repeatable): source_model, target_model, version, ...
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = super::parse_pair)]
    pub meta: Vec<(String, String)>,
}

/// Runs the command.
pub fn run(args: Args, out: Output) -> Result<()> {
    let spinner = out.stage("loading training data");
    let (x, y) = match (&args.train, &args.x, &args.y) {
        (Some(t), _, _) => (super::load_array(t, "x")?, super::load_array(t, "y")?),
        (None, Some(x), Some(y)) => (super::load_array(x, "x")?, super::load_array(y, "y")?),
        _ => bail!("give --train FILE or both --x and --y"),
    };
    let train = TestSet::new(x, y).context("invalid training data")?;
    for (k, v) in &args.meta {
        if k == "version" {
            parse_version(v)?;
        }
    }
    let opts = FitOptions {
        intercept: !args.no_intercept,
        ..FitOptions::with_threads(args.threads)
    };
    spinner.set_message(format!(
        "fitting {:?} on {} samples, {} -> {} dimensions",
        args.method,
        train.len(),
        train.x.ncols(),
        train.y.ncols()
    ));
    // no context: the error already says "fit failed: <why>" (a context of its own would
    // print "fit failed: fit failed: ...")
    let matrix = match args.method {
        Method::Ridge => fit_ridge(&train, args.lambda, opts),
        Method::Procrustes => fit_procrustes(&train, opts),
    }?;
    let method = match args.method {
        Method::Ridge => "ridge",
        Method::Procrustes => "procrustes",
    };
    let lambda = args.lambda.to_string();
    let samples = train.len().to_string();
    let mut meta: Vec<(&str, &str)> =
        vec![("fit_method", method), ("fit_samples", samples.as_str())];
    if args.method == Method::Ridge {
        meta.push(("fit_lambda", lambda.as_str()));
    }
    meta.extend(args.meta.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let dtype = match args.dtype {
        OutDtype::F32 => Dtype::F32,
        OutDtype::F64 => Dtype::F64,
    };
    let artifact = matrix
        .to_artifact_as(dtype, meta)
        .context("cannot store the fitted W-Matrix")?;
    spinner.set_message("writing");
    artifact
        .write(&args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    spinner.finish_and_clear();
    let checksum = content_checksum(&artifact);
    if out.json {
        out.json(&json!({
            "file": args.output,
            "checksum": checksum.to_string(),
            "method": method,
            "dOut": matrix.d_out(),
            "dIn": matrix.d_in(),
            "bias": matrix.bias.is_some(),
            "samples": train.len(),
        }));
    } else {
        println!(
            "wrote     {} ({method}, weight {} x {}{})",
            args.output.display(),
            matrix.d_out(),
            matrix.d_in(),
            if matrix.bias.is_some() { " + bias" } else { "" }
        );
        println!("checksum  {checksum}");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;
    use memory_protocol::artifact::npy_bytes_f64;
    use ndarray::array;

    /// What the `error:` line prints: the error and its causes joined with ": " (`{:#}`).
    #[test]
    fn fit_failure_prints_fit_failed_once() {
        let dir = tempfile::tempdir().unwrap();
        let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        std::fs::write(&x, npy_bytes_f64(&array![[1.0], [2.0], [3.0]])).unwrap();
        std::fs::write(&y, npy_bytes_f64(&array![[2.0], [4.0], [6.5]])).unwrap();
        let args = Args {
            train: None,
            x: Some(x),
            y: Some(y),
            method: Method::Ridge,
            lambda: -1.0,
            no_intercept: false,
            dtype: OutDtype::F32,
            threads: 1,
            output: dir.path().join("w.safetensors"),
            meta: vec![],
        };
        let text = format!("{:#}", run(args, Output::new(false, false)).unwrap_err());
        assert_eq!(text.matches("fit failed").count(), 1, "{text}");
        assert!(
            text.contains("lambda must be a finite number >= 0"),
            "{text}"
        );
    }
}
