//! State shared by the ingestion tasks and the HTTP API.

use std::sync::Arc;

use alloy::primitives::Address;
use sqlx::PgPool;

use crate::metrics::Metrics;

/// What the API handlers need: the database, the chain they serve, and the live metrics.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Connection pool of the indexer database.
    pub pool: PgPool,
    /// Chain id whose rows the API serves (every table is keyed by `chain_id`).
    pub chain_id: u64,
    /// MemoryNFT address of the indexed deployment.
    pub nft: Address,
    /// Counters and gauges of the ingestion (and whatever the API adds).
    pub metrics: Arc<Metrics>,
}
