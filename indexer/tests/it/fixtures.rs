//! Synthetic block and log metadata shared by the database-level tests (no chain).

use alloy::primitives::B256;
use memory_indexer::db::{Batch, Header};
use memory_indexer::events::{Event, Meta};

/// A distinct 32-byte value for `n`.
pub fn hash(n: u64) -> B256 {
    B256::left_padding_from(&n.to_be_bytes())
}

/// Header of synthetic block `n` (hash `hash(1000 + n)`, chained to `n - 1`).
pub fn header(n: u64) -> Header {
    Header {
        number: n,
        hash: hash(1000 + n),
        parent_hash: hash(1000 + n - 1),
        timestamp: 1_700_000_000 + n,
    }
}

/// The transaction number of log `log` in block `block` (its hash is `hash(tx(..))`).
pub fn tx(block: u64, log: u64) -> u64 {
    block * 100 + log
}

/// Metadata of log `log_index` in synthetic block `block`.
pub fn meta(block: u64, log_index: u64) -> Meta {
    Meta {
        block_number: block,
        block_hash: hash(1000 + block),
        tx_hash: hash(tx(block, log_index)),
        log_index,
        block_timestamp: Some(1_700_000_000 + block),
    }
}

/// A one-block batch (block `b`) of `events`, nothing final.
pub fn batch_of(b: u64, events: Vec<Event>) -> Batch {
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| (meta(b, i as u64), e))
        .collect();
    Batch {
        from: b,
        to: b,
        to_header: header(b),
        events,
        headers: vec![header(b)],
        finalized: -1,
        head: b,
    }
}
