//! `memory-indexer`: index the Memory Asset Layer contracts into PostgreSQL and serve the API.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use memory_indexer::config::{Config, Settings};
use memory_indexer::ingest::Indexer;
use memory_indexer::metrics::Metrics;
use memory_indexer::{AppState, api, db, verify};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "memory-indexer",
    version,
    about = "Index MemoryNFT, ERC-6551 and market events into PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate, then index (backfill + live follow) and serve the API in one process.
    Run(Common),
    /// Migrate, index up to the current chain head, and exit (no API; for batch jobs and
    /// benchmarks).
    Sync(Common),
    /// Apply the database migrations and exit.
    Migrate(Common),
    /// Compare the database with the chain at the indexed block; exit 1 on any mismatch.
    Verify(Common),
}

#[derive(Debug, clap::Args)]
struct Common {
    /// TOML file with the settings (keys as the long flags, with underscores).
    #[arg(long, short, env = "INDEXER_CONFIG")]
    config: Option<PathBuf>,
    /// Log as JSON lines.
    #[arg(long, env = "INDEXER_LOG_JSON")]
    log_json: bool,
    #[command(flatten)]
    settings: Settings,
}

impl Common {
    fn resolve(self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(p) => Settings::from_toml_file(p)?,
            None => Settings::default(),
        };
        Ok(self.settings.or(file).resolve()?)
    }
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn connect(cfg: &Config) -> anyhow::Result<sqlx::PgPool> {
    let url = cfg.database_url()?;
    let pool = db::connect(url, cfg.db_connections)
        .await
        .context("cannot connect to PostgreSQL")?;
    db::migrate(&pool).await?;
    Ok(pool)
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    let pool = connect(&cfg).await?;
    // the API reads through a pool of its own, so requests can never take the writer's
    // connections, and every API statement has a timeout
    let api_pool = api::connect(
        cfg.database_url()?
            .parse()
            .context("invalid database URL")?,
        cfg.api_db_connections,
        cfg.api_statement_timeout,
    );
    let metrics = Arc::new(Metrics::default());
    let (api_addr, stats_max_age) = (cfg.api_addr, cfg.stats_max_age);
    let indexer = Indexer::new(cfg, pool, metrics.clone()).await?;
    let state = AppState {
        pool: api_pool,
        chain_id: indexer.chain_id(),
        nft: indexer.chain().contracts().nft,
        metrics,
    };
    let listener = tokio::net::TcpListener::bind(api_addr)
        .await
        .with_context(|| format!("cannot listen on {api_addr}"))?;
    tracing::info!(target: "indexer::api", addr = %api_addr, "API listening");
    let app = api::app_with_stats_max_age(state, api::Options::default(), stats_max_age);
    let server = axum::serve(listener, app).into_future();
    tokio::select! {
        r = indexer.run() => r.context("indexing stopped")?,
        r = server => r.context("API server stopped")?,
        _ = tokio::signal::ctrl_c() => tracing::info!(target: "indexer::ingest", "interrupted"),
    }
    Ok(())
}

async fn main_inner(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(c) => {
            init_tracing(c.log_json);
            run(c.resolve()?).await?;
        }
        Command::Sync(c) => {
            init_tracing(c.log_json);
            let cfg = c.resolve()?;
            let pool = connect(&cfg).await?;
            let indexer = Indexer::new(cfg, pool, Arc::new(Metrics::default())).await?;
            let cp = indexer.sync().await?;
            println!("indexed up to block {}", cp.block);
        }
        Command::Migrate(c) => {
            init_tracing(c.log_json);
            let cfg = c.resolve()?;
            connect(&cfg).await?;
            println!("migrations applied");
        }
        Command::Verify(c) => {
            init_tracing(c.log_json);
            let cfg = c.resolve()?;
            let pool = connect(&cfg).await?;
            let metrics = Arc::new(Metrics::default());
            let rpc = cfg.rpc_url.clone();
            // a one-shot command: give up on an unreachable node instead of retrying forever
            let indexer = tokio::time::timeout(
                Duration::from_secs(30),
                Indexer::new(cfg, pool.clone(), metrics),
            )
            .await
            .map_err(|_| anyhow::anyhow!("no answer from the RPC endpoint {rpc} within 30 s"))??;
            let report = verify::verify(&pool, indexer.chain(), indexer.chain_id()).await?;
            for m in &report.mismatches {
                println!("MISMATCH {m}");
            }
            println!(
                "verified block {}: {} tokens, {} certificates, {} mismatches",
                report.block,
                report.tokens,
                report.certificates,
                report.mismatches.len()
            );
            if !report.mismatches.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match main_inner(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined with ": " on one line. A cause whose text the message already
/// ends with is left out: `Error::Db` and the like show their source in their own message (the
/// logs need it), and `{:#}` would print it twice.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.ends_with(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg.replace('\n', " ")
}
