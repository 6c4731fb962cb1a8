//! # memory-indexer
//!
//! Follows the MemoryNFT, MemoryMarket and canonical ERC-6551 registry events of one chain, and
//! the approvals granted by the token-bound accounts of its tokens, into PostgreSQL — exactly
//! once and reorg-safe — and serves the query API over them.
//!
//! - [`ingest::Indexer`] backfills with `eth_getLogs` over adaptive block ranges (fetching
//!   pipelined with writing), then follows the head by polling; reorgs are detected by parent
//!   hash and rolled back from a journal of the unfinalized window.
//! - [`db::write_batch`] writes one batch in one transaction: event rows (COPY), derived state,
//!   journal, block headers and the checkpoint. Event rows are unique on
//!   `(chain_id, tx_hash, log_index)`.
//! - [`db::WriterLock`] makes one process at a time the writer of a chain in a database (a
//!   PostgreSQL advisory lock held on a connection of its own); a second `run` waits or refuses.
//! - [`approvals`] decides which `Approval`/`ApprovalForAll` logs of any contract belong to the
//!   token-bound accounts of our tokens (fetched by owner topic, alongside the contracts' logs).
//! - [`verify::verify`] compares the database with the chain at the indexed block.
//! - [`api::app`] is the HTTP API over [`AppState`], reading through a pool of its own
//!   ([`api::connect`]: its own size and a statement timeout), so API load never takes the
//!   writer's connections.
//!
//! The schema and design are described in `docs/indexer.md`.
//!
//! ```no_run
//! # async fn demo() -> memory_indexer::Result<()> {
//! use std::sync::Arc;
//! use memory_indexer::{config::Settings, db, ingest::Indexer, metrics::Metrics};
//!
//! let cfg = Settings {
//!     deployment: Some("anvil/deployments/31337.json".into()),
//!     database_url: Some("postgres://postgres@127.0.0.1:55432/memory".into()),
//!     ..Settings::default()
//! }
//! .resolve()?;
//! let pool = db::connect(cfg.database_url()?, 8).await?;
//! db::migrate(&pool).await?;
//! let indexer = Indexer::new(cfg, pool, Arc::new(Metrics::default())).await?;
//! let checkpoint = indexer.sync().await?; // index up to the current head
//! println!("indexed up to block {}", checkpoint.block);
//! # Ok(()) }
//! ```

pub mod api;
pub mod approvals;
pub mod bindings;
pub mod config;
pub mod copy;
pub mod db;
pub mod error;
pub mod events;
pub mod ingest;
pub mod metrics;
pub mod rpc;
mod state;
#[cfg(feature = "test-utils")]
pub mod test_utils;
pub mod verify;

pub use error::{Error, Result};
pub use state::AppState;
