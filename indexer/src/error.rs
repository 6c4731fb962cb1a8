//! The indexer's error type.

use alloy::primitives::B256;

/// Everything that can go wrong while indexing, migrating or verifying.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is incomplete or contradictory.
    #[error("configuration: {0}")]
    Config(String),
    /// The deployment JSON could not be read or parsed.
    #[error("deployment file {path}: {reason}")]
    Deployment {
        /// Path of the file.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A JSON-RPC call failed (after retries, where retried).
    #[error("rpc: {0}")]
    Rpc(String),
    /// The RPC endpoint serves a different chain than configured.
    #[error(
        "chain id mismatch: the RPC endpoint serves chain {actual}, the configuration says \
         {configured}; point --rpc-url at the configured chain"
    )]
    ChainIdMismatch {
        /// Chain id from the configuration.
        configured: u64,
        /// Chain id reported by the RPC endpoint.
        actual: u64,
    },
    /// A database operation failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Applying the migrations failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A log could not be decoded with the contract ABI.
    #[error("cannot decode log {tx_hash}:{log_index}: {reason}")]
    Decode {
        /// Transaction of the log.
        tx_hash: B256,
        /// Index of the log in its block.
        log_index: u64,
        /// Decoder message.
        reason: String,
    },
    /// The database already indexes this chain with other contract addresses.
    #[error(
        "database indexes chain {chain_id} with other contracts ({stored}); use a fresh database"
    )]
    ContractMismatch {
        /// Chain id.
        chain_id: u64,
        /// Addresses stored in the database.
        stored: String,
    },
    /// A reorganisation reaches below the finality depth: the indexer refuses to continue,
    /// because finalized data cannot be rolled back. Needs an operator.
    #[error(
        "FATAL: reorg deeper than the finality depth ({finality_depth}): no common ancestor at or \
         above block {oldest_checked}; refusing to continue (indexed block {indexed_block})"
    )]
    ReorgTooDeep {
        /// Configured finality depth.
        finality_depth: u64,
        /// Oldest block compared with the chain.
        oldest_checked: u64,
        /// Checkpoint at detection time.
        indexed_block: u64,
    },
    /// The chain head moved behind the checkpoint by more than the finality depth.
    #[error(
        "FATAL: chain head {head} is below the finalized indexed block {finalized}; refusing to continue"
    )]
    HeadBehindFinalized {
        /// Head reported by the RPC endpoint.
        head: u64,
        /// Highest finalized block already indexed.
        finalized: u64,
    },
    /// Another writer holds the writer lock of the chain (and the indexer was told not to wait
    /// for it: `--wait-for-lock false`).
    #[error(
        "another memory-indexer is writing chain {chain_id} to this database ({holder}); \
         refusing to start a second writer (--wait-for-lock false)"
    )]
    WriterLocked {
        /// Chain id.
        chain_id: u64,
        /// Who holds the lock, as far as PostgreSQL tells (backend pid, application name).
        holder: String,
    },
    /// The connection that holds the writer lock was lost; nothing is written until the lock is
    /// taken again (retried).
    #[error("the writer lock of chain {chain_id} is not held (its connection was lost); waiting")]
    WriterLockLost {
        /// Chain id.
        chain_id: u64,
    },
    /// A batch was planned on top of another block than the stored checkpoint: the checkpoint's
    /// hash is not the parent hash of the batch's first block (another writer followed another
    /// fork, or the chain reorganised while the batch was fetched). Nothing is written; the
    /// indexer re-checks the checkpoint against the chain (a reorg is rolled back) and
    /// re-plans.
    #[error(
        "batch {from}..={to} was planned on block {parent_number} {planned}, but the checkpoint \
         is {stored}: another fork; not written"
    )]
    ForkMismatch {
        /// First block of the batch.
        from: u64,
        /// Last block of the batch.
        to: u64,
        /// The checkpoint block (`from - 1`).
        parent_number: i64,
        /// Parent hash of the batch's first block.
        planned: B256,
        /// Hash of the stored checkpoint.
        stored: B256,
    },
    /// The database rejects a batch's data on every attempt: SQLSTATE class 22 (data exception)
    /// or 23 (integrity constraint violation) persisted over
    /// [`crate::ingest::DATA_ERROR_ATTEMPTS`] attempts, so retrying cannot help (an event the
    /// schema cannot hold, a bug). Needs an operator; the checkpoint stays before the batch.
    #[error(
        "FATAL: the database rejects batch {from}..={to} on every attempt (SQLSTATE {sqlstate}: \
         {message}); refusing to continue"
    )]
    BatchRejected {
        /// First block of the batch.
        from: u64,
        /// Last block of the batch.
        to: u64,
        /// The SQLSTATE of the last attempt.
        sqlstate: String,
        /// PostgreSQL's message of the last attempt.
        message: String,
    },
    /// The ingestion pipeline stopped unexpectedly.
    #[error("pipeline: {0}")]
    Pipeline(String),
}

impl Error {
    /// Whether the error is permanent: retrying cannot help and the indexer must stop.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Config(_)
                | Self::Deployment { .. }
                | Self::ChainIdMismatch { .. }
                | Self::Migrate(_)
                | Self::Decode { .. }
                | Self::ContractMismatch { .. }
                | Self::ReorgTooDeep { .. }
                | Self::HeadBehindFinalized { .. }
                | Self::WriterLocked { .. }
                | Self::BatchRejected { .. }
        )
    }

    /// The SQLSTATE of a database error that is about the data, not the connection or the
    /// server: class 22 (data exception) or 23 (integrity constraint violation). Such an error
    /// repeats on every attempt of the same batch; others (connection loss, a restart,
    /// serialization failures, timeouts) are transient.
    pub fn data_sqlstate(&self) -> Option<String> {
        let Self::Db(sqlx::Error::Database(e)) = self else {
            return None;
        };
        let code = e.code()?;
        (code.starts_with("22") || code.starts_with("23")).then(|| code.into_owned())
    }
}

/// Result alias of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
