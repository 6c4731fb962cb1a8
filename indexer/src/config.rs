//! Configuration of the `memory-indexer` binary: flags, environment variables and an optional
//! TOML file, in that order of precedence, with defaults that work on the local anvil stack.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::Address;
use serde::Deserialize;

use crate::error::{Error, Result};

pub use memory_bindings::{CANONICAL_REGISTRY, Deployment};

/// Settings as given by flags, environment or file; every field optional so the sources can be
/// layered. Field names are the TOML keys (snake case).
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// JSON-RPC endpoint of the chain [default: http://127.0.0.1:8545].
    #[arg(long, env = "INDEXER_RPC_URL")]
    pub rpc_url: Option<String>,
    /// Chain id; checked against the RPC endpoint [default: the deployment's or the RPC's].
    #[arg(long, env = "INDEXER_CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// Deployment JSON written by scripts/deploy (addresses, deploy block).
    #[arg(long, env = "INDEXER_DEPLOYMENT")]
    pub deployment: Option<PathBuf>,
    /// MemoryNFT address (overrides the deployment file).
    #[arg(long, env = "INDEXER_NFT")]
    pub nft: Option<Address>,
    /// MemoryMarket address (overrides the deployment file).
    #[arg(long, env = "INDEXER_MARKET")]
    pub market: Option<Address>,
    /// MemoryAccount implementation address: the account of a token is the first ERC-6551
    /// account created with it (overrides the deployment file; unset = any implementation).
    #[arg(long, env = "INDEXER_ACCOUNT_IMPLEMENTATION")]
    pub account_implementation: Option<Address>,
    /// ERC-6551 registry address [default: the canonical registry].
    #[arg(long, env = "INDEXER_REGISTRY")]
    pub registry: Option<Address>,
    /// First block to index [default: the deployment's deploy block, else 0].
    #[arg(long, env = "INDEXER_START_BLOCK")]
    pub start_block: Option<u64>,
    /// Blocks below the head that can still be reorganised; 0 = the head is final [default: 64].
    #[arg(long, env = "INDEXER_FINALITY_DEPTH")]
    pub finality_depth: Option<u64>,
    /// Initial block range of one eth_getLogs batch [default: 10].
    #[arg(long, env = "INDEXER_BATCH_BLOCKS")]
    pub batch_blocks: Option<u64>,
    /// Largest block range of one batch [default: 100000].
    #[arg(long, env = "INDEXER_MAX_BATCH_BLOCKS")]
    pub max_batch_blocks: Option<u64>,
    /// Logs one batch aims at; ranges grow below and shrink above it [default: 10000].
    #[arg(long, env = "INDEXER_BATCH_LOGS")]
    pub batch_logs: Option<usize>,
    /// Batches fetched ahead of the writer (bounds memory) [default: 2].
    #[arg(long, env = "INDEXER_PIPELINE_DEPTH")]
    pub pipeline_depth: Option<usize>,
    /// Head polling interval in live mode, milliseconds [default: 50].
    #[arg(long, env = "INDEXER_POLL_MS")]
    pub poll_ms: Option<u64>,
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Largest pool of the writer (ingestion) [default: 16].
    #[arg(long, env = "INDEXER_DB_CONNECTIONS")]
    pub db_connections: Option<u32>,
    /// Largest pool of the HTTP API, separate from the writer's [default: 8].
    #[arg(long, env = "INDEXER_API_DB_CONNECTIONS")]
    pub api_db_connections: Option<u32>,
    /// Statement timeout of the API's connections, milliseconds; 0 = none [default: 5000].
    #[arg(long, env = "INDEXER_API_STATEMENT_TIMEOUT_MS")]
    pub api_statement_timeout_ms: Option<u64>,
    /// How old a `/v1/stats` answer may be, milliseconds; 0 = never cached [default: 1000].
    #[arg(long, env = "INDEXER_STATS_MAX_AGE_MS")]
    pub stats_max_age_ms: Option<u64>,
    /// Listen address of the HTTP API [default: 127.0.0.1:8080].
    #[arg(long, env = "INDEXER_API_ADDR")]
    pub api_addr: Option<SocketAddr>,
    /// When another `run`/`sync` writes the same chain to the database: wait for it to stop
    /// (true, logging every few seconds) or refuse to start (false) [default: true].
    #[arg(long, env = "INDEXER_WAIT_FOR_LOCK", num_args = 0..=1, default_missing_value = "true")]
    pub wait_for_lock: Option<bool>,
}

impl Settings {
    /// Fills every unset field from `lower` (flags/env over file).
    pub fn or(self, lower: Settings) -> Settings {
        Settings {
            rpc_url: self.rpc_url.or(lower.rpc_url),
            chain_id: self.chain_id.or(lower.chain_id),
            deployment: self.deployment.or(lower.deployment),
            nft: self.nft.or(lower.nft),
            market: self.market.or(lower.market),
            account_implementation: self.account_implementation.or(lower.account_implementation),
            registry: self.registry.or(lower.registry),
            start_block: self.start_block.or(lower.start_block),
            finality_depth: self.finality_depth.or(lower.finality_depth),
            batch_blocks: self.batch_blocks.or(lower.batch_blocks),
            max_batch_blocks: self.max_batch_blocks.or(lower.max_batch_blocks),
            batch_logs: self.batch_logs.or(lower.batch_logs),
            pipeline_depth: self.pipeline_depth.or(lower.pipeline_depth),
            poll_ms: self.poll_ms.or(lower.poll_ms),
            database_url: self.database_url.or(lower.database_url),
            db_connections: self.db_connections.or(lower.db_connections),
            api_db_connections: self.api_db_connections.or(lower.api_db_connections),
            api_statement_timeout_ms: self
                .api_statement_timeout_ms
                .or(lower.api_statement_timeout_ms),
            stats_max_age_ms: self.stats_max_age_ms.or(lower.stats_max_age_ms),
            api_addr: self.api_addr.or(lower.api_addr),
            wait_for_lock: self.wait_for_lock.or(lower.wait_for_lock),
        }
    }

    /// Reads a TOML settings file.
    pub fn from_toml_file(path: &Path) -> Result<Settings> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Resolves the layered settings into a complete [`Config`], reading the deployment file
    /// if one is named.
    pub fn resolve(self) -> Result<Config> {
        let deployment = self
            .deployment
            .as_deref()
            .map(read_deployment)
            .transpose()?;
        let dep = deployment.as_ref();
        let nft = self.nft.or(dep.map(|d| d.memory_nft)).ok_or_else(|| {
            Error::Config("no MemoryNFT address: pass --deployment or --nft".into())
        })?;
        let market = self
            .market
            .or(dep.map(|d| d.memory_market))
            .ok_or_else(|| {
                Error::Config("no MemoryMarket address: pass --deployment or --market".into())
            })?;
        if let (Some(c), Some(d)) = (self.chain_id, dep)
            && c != d.chain_id
        {
            return Err(Error::Config(format!(
                "--chain-id {c} contradicts the deployment's chainId {}",
                d.chain_id
            )));
        }
        let batch_blocks = self.batch_blocks.unwrap_or(10);
        let max_batch_blocks = self.max_batch_blocks.unwrap_or(100_000);
        if batch_blocks == 0 || max_batch_blocks < batch_blocks {
            return Err(Error::Config(
                "need 0 < batch_blocks <= max_batch_blocks".into(),
            ));
        }
        let batch_logs = self.batch_logs.unwrap_or(10_000);
        let pipeline_depth = self.pipeline_depth.unwrap_or(2);
        if batch_logs == 0 || pipeline_depth == 0 {
            return Err(Error::Config(
                "batch_logs and pipeline_depth must be positive".into(),
            ));
        }
        let db_connections = self.db_connections.unwrap_or(16);
        let api_db_connections = self.api_db_connections.unwrap_or(8);
        if db_connections == 0 || api_db_connections == 0 {
            return Err(Error::Config(
                "db_connections and api_db_connections must be positive".into(),
            ));
        }
        Ok(Config {
            rpc_url: self
                .rpc_url
                .unwrap_or_else(|| "http://127.0.0.1:8545".into()),
            chain_id: self.chain_id.or(dep.map(|d| d.chain_id)),
            nft,
            market,
            account_implementation: self
                .account_implementation
                .or(dep.map(|d| d.memory_account)),
            registry: self
                .registry
                .or(dep.map(|d| d.erc6551_registry))
                .unwrap_or(CANONICAL_REGISTRY),
            start_block: self
                .start_block
                .or(dep.map(|d| d.deploy_block))
                .unwrap_or(0),
            finality_depth: self.finality_depth.unwrap_or(64),
            batch_blocks,
            max_batch_blocks,
            batch_logs,
            pipeline_depth,
            poll_interval: Duration::from_millis(self.poll_ms.unwrap_or(50)),
            database_url: self.database_url,
            db_connections,
            api_db_connections,
            api_statement_timeout: Duration::from_millis(
                self.api_statement_timeout_ms.unwrap_or(5000),
            ),
            stats_max_age: Duration::from_millis(self.stats_max_age_ms.unwrap_or(1000)),
            api_addr: self
                .api_addr
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            wait_for_lock: self.wait_for_lock.unwrap_or(true),
        })
    }
}

/// The complete configuration of one indexer.
#[derive(Debug, Clone)]
pub struct Config {
    /// JSON-RPC endpoint.
    pub rpc_url: String,
    /// Expected chain id (checked against the RPC); `None` = take the RPC's.
    pub chain_id: Option<u64>,
    /// MemoryNFT address.
    pub nft: Address,
    /// MemoryMarket address.
    pub market: Address,
    /// MemoryAccount implementation; `None` = accept any implementation.
    pub account_implementation: Option<Address>,
    /// ERC-6551 registry.
    pub registry: Address,
    /// First block to index.
    pub start_block: u64,
    /// Blocks below the head that may still be reorganised.
    pub finality_depth: u64,
    /// Initial block range of a batch.
    pub batch_blocks: u64,
    /// Largest block range of a batch.
    pub max_batch_blocks: u64,
    /// Logs per batch the adaptive range aims at.
    pub batch_logs: usize,
    /// Batches fetched ahead of the writer.
    pub pipeline_depth: usize,
    /// Head polling interval.
    pub poll_interval: Duration,
    /// PostgreSQL URL (required by every subcommand that touches the database).
    pub database_url: Option<String>,
    /// Largest pool of the writer (ingestion).
    pub db_connections: u32,
    /// Largest pool of the HTTP API.
    pub api_db_connections: u32,
    /// Statement timeout of the API's connections (zero: none).
    pub api_statement_timeout: Duration,
    /// Longest age of a `/v1/stats` answer (zero: computed per request).
    pub stats_max_age: Duration,
    /// Listen address of the HTTP API.
    pub api_addr: SocketAddr,
    /// Wait for the writer lock held by another process (else refuse to start).
    pub wait_for_lock: bool,
}

impl Config {
    /// The database URL, or a configuration error naming how to give it.
    pub fn database_url(&self) -> Result<&str> {
        self.database_url.as_deref().ok_or_else(|| {
            Error::Config("no database URL: set DATABASE_URL or --database-url".into())
        })
    }
}

/// Reads and parses a deployment file (`anvil/deployments/<chainId>.json`).
fn read_deployment(path: &Path) -> Result<Deployment> {
    Deployment::read(path).map_err(|e| Error::Deployment {
        path: path.display().to_string(),
        reason: match e {
            memory_bindings::Error::Read { source, .. } => source.to_string(),
            memory_bindings::Error::Parse { message, .. } => message,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }

    #[test]
    fn flags_override_file_and_deployment_fills_the_rest() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
        let dep = write(
            &dir,
            "31337.json",
            r#"{"chainId":31337,"memoryNFT":"0x5FbDB2315678afecb367f032d93F642f64180aa3",
               "memoryMarket":"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
               "memoryAccount":"0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
               "erc6551Registry":"0x000000006551c19487814612e58FE06813775758",
               "deployBlock":3,"abi":{}}"#,
        );
        let file = write(
            &dir,
            "indexer.toml",
            &format!(
                "deployment = {:?}\nfinality_depth = 5\nbatch_blocks = 10\n",
                dep.display().to_string()
            ),
        );
        let flags = Settings {
            batch_blocks: Some(20),
            ..Settings::default()
        };
        let cfg = flags.or(Settings::from_toml_file(&file)?).resolve()?;
        assert_eq!(cfg.batch_blocks, 20);
        assert_eq!(cfg.finality_depth, 5);
        assert_eq!(cfg.start_block, 3);
        assert_eq!(cfg.chain_id, Some(31337));
        assert_eq!(
            cfg.nft,
            address!("5FbDB2315678afecb367f032d93F642f64180aa3")
        );
        assert_eq!(cfg.registry, CANONICAL_REGISTRY);
        assert_eq!(cfg.rpc_url, "http://127.0.0.1:8545");
        assert_eq!(
            (cfg.db_connections, cfg.api_db_connections),
            (16, 8),
            "separate pools with their defaults"
        );
        assert_eq!(cfg.api_statement_timeout, Duration::from_secs(5));
        assert_eq!(cfg.stats_max_age, Duration::from_secs(1));
        Ok(())
    }

    #[test]
    fn api_pool_settings_come_from_file_and_flags() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
        let file = write(
            &dir,
            "indexer.toml",
            "nft = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"\n\
             market = \"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\"\n\
             api_db_connections = 3\napi_statement_timeout_ms = 250\nstats_max_age_ms = 0\n",
        );
        let flags = Settings {
            api_statement_timeout_ms: Some(750),
            ..Settings::default()
        };
        let cfg = flags.or(Settings::from_toml_file(&file)?).resolve()?;
        assert_eq!(cfg.api_db_connections, 3);
        assert_eq!(cfg.api_statement_timeout, Duration::from_millis(750));
        assert_eq!(cfg.stats_max_age, Duration::ZERO);
        let zero = Settings {
            nft: Some(Address::ZERO),
            market: Some(Address::ZERO),
            api_db_connections: Some(0),
            ..Settings::default()
        };
        assert!(
            matches!(zero.resolve(), Err(Error::Config(m)) if m.contains("api_db_connections"))
        );
        Ok(())
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let missing = Settings::default().resolve();
        assert!(matches!(missing, Err(Error::Config(m)) if m.contains("MemoryNFT")));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let bad = write(&dir, "bad.toml", "no_such_key = 1\n");
        assert!(
            matches!(Settings::from_toml_file(&bad), Err(Error::Config(m)) if m.contains("no_such_key"))
        );
        let zero = Settings {
            nft: Some(Address::ZERO),
            market: Some(Address::ZERO),
            batch_blocks: Some(0),
            ..Settings::default()
        };
        assert!(matches!(zero.resolve(), Err(Error::Config(_))));
        let broken = write(&dir, "dep.json", "{not json");
        let s = Settings {
            deployment: Some(broken),
            ..Settings::default()
        };
        assert!(matches!(s.resolve(), Err(Error::Deployment { .. })));
    }
}
