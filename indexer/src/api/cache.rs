//! Response cache of `GET /v1/memories/{id}`, the API's hot path: the serialized JSON of a
//! memory's detail, keyed by token id.
//!
//! An entry is served only while all of these hold, so the cache never shows data the
//! database no longer has:
//! - the **generation** it was computed under is current. The generation changes right after
//!   every batch commit and reorg rollback of an ingestion in this process (the
//!   [`Metrics`] counters the indexer bumps after each one), and, for writers in other
//!   processes, when a poll of `chain_state` (every [`POLL_INTERVAL`]) sees the checkpoint
//!   move. The generation is read *before* the query, so an entry computed concurrently with a
//!   commit is filed under the older generation and dropped;
//! - its **deadline** has not passed: the expiry of the active certificate it shows (a
//!   certificate that expires changes the answer without any new event), and at most
//!   [`MAX_TTL`] in any case;
//! - the poll succeeds: when `chain_state` cannot be read, the cache is emptied and bypassed
//!   until it can.
//!
//! Without a Tokio runtime at construction (no poll possible) the cache is disabled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use sqlx::PgPool;

use crate::metrics::Metrics;

/// How often the checkpoint of other writers is polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Longest life of an entry, whatever happens.
pub const MAX_TTL: Duration = Duration::from_secs(30);
/// Most entries held (about 2.5 KiB each); when full, the cache is emptied.
pub const CAPACITY: usize = 16_384;

/// What an entry is valid for: the poll generation and the in-process ingestion counters.
type Generation = (u64, u64, u64);

#[derive(Debug)]
struct Entry {
    generation: Generation,
    deadline: Instant,
    body: Bytes,
}

/// The detail cache (see the module docs).
#[derive(Debug)]
pub struct DetailCache {
    entries: RwLock<HashMap<String, Entry>>,
    polled: AtomicU64,
    healthy: AtomicBool,
    metrics: Arc<Metrics>,
}

impl DetailCache {
    /// A cache whose validity follows `metrics` and the `chain_state` row of `chain_id`, or
    /// `None` outside a Tokio runtime.
    pub fn start(pool: PgPool, chain_id: i64, metrics: Arc<Metrics>) -> Option<Arc<Self>> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let cache = Arc::new(Self {
            entries: RwLock::new(HashMap::new()),
            polled: AtomicU64::new(0),
            healthy: AtomicBool::new(false),
            metrics,
        });
        handle.spawn(poll(Arc::downgrade(&cache), pool, chain_id));
        Some(cache)
    }

    /// The current generation, or `None` while the cache must be bypassed.
    pub fn generation(&self) -> Option<Generation> {
        if !self.healthy.load(Ordering::Acquire) {
            return None;
        }
        Some((
            self.polled.load(Ordering::Acquire),
            self.metrics.batches_total.load(Ordering::Acquire),
            self.metrics.reorgs_total.load(Ordering::Acquire),
        ))
    }

    /// The cached body of `id`, if valid under `generation`.
    pub fn get(&self, id: &str, generation: Generation) -> Option<Bytes> {
        let entries = self.entries.read().ok()?;
        let e = entries.get(id)?;
        (e.generation == generation && Instant::now() < e.deadline).then(|| e.body.clone())
    }

    /// Files `body` for `id` under `generation`; `expires_at` (unix seconds) is the expiry of
    /// the active certificate it shows, if any.
    pub fn put(&self, id: String, generation: Generation, expires_at: Option<u64>, body: Bytes) {
        let mut ttl = MAX_TTL;
        if let Some(t) = expires_at {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            ttl = ttl.min(Duration::from_secs(t.saturating_sub(now)));
        }
        if ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= CAPACITY && !entries.contains_key(&id) {
            entries.clear();
        }
        entries.insert(
            id,
            Entry {
                generation,
                deadline: Instant::now() + ttl,
                body,
            },
        );
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |e| e.len())
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn clear(&self) {
        if let Ok(mut e) = self.entries.write() {
            e.clear();
        }
    }
}

/// Polls the checkpoint until the cache is dropped; a changed checkpoint bumps the generation,
/// a failed poll empties the cache and bypasses it until the next successful one.
async fn poll(cache: Weak<DetailCache>, pool: PgPool, chain_id: i64) {
    type Row = (i64, Option<Vec<u8>>, Option<i64>);
    let mut last: Option<Option<Row>> = None;
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(cache) = cache.upgrade() else { return };
        let row: sqlx::Result<Option<Row>> = sqlx::query_as(
            "SELECT indexed_block, indexed_hash, (extract(epoch FROM updated_at) * 1000000)::bigint \
             FROM chain_state WHERE chain_id = $1",
        )
        .bind(chain_id)
        .fetch_optional(&pool)
        .await;
        match row {
            Ok(row) => {
                if last.as_ref() != Some(&row) {
                    cache.polled.fetch_add(1, Ordering::AcqRel);
                    last = Some(row);
                }
                cache.healthy.store(true, Ordering::Release);
            }
            Err(e) => {
                if cache.healthy.swap(false, Ordering::AcqRel) {
                    tracing::warn!(target: "indexer::api", error = %e, "cannot poll the checkpoint; detail cache bypassed");
                }
                cache.clear();
                last = None;
                if pool.is_closed() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> DetailCache {
        DetailCache {
            entries: RwLock::new(HashMap::new()),
            polled: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            metrics: Arc::new(Metrics::default()),
        }
    }

    #[test]
    fn entries_are_valid_for_their_generation_and_deadline_only() {
        let c = cache();
        let g = c.generation().unwrap_or_default();
        c.put("1".into(), g, None, Bytes::from_static(b"one"));
        assert_eq!(c.get("1", g).as_deref(), Some(&b"one"[..]));
        assert_eq!(c.get("2", g), None);
        // a commit in this process, a reorg, a checkpoint moved by another writer
        c.metrics.batches_total.fetch_add(1, Ordering::Relaxed);
        let g2 = c.generation().unwrap_or_default();
        assert_ne!(g, g2);
        assert_eq!(c.get("1", g2), None);
        c.put("1".into(), g2, None, Bytes::from_static(b"one'"));
        c.metrics.reorgs_total.fetch_add(1, Ordering::Relaxed);
        assert_eq!(c.get("1", c.generation().unwrap_or_default()), None);
        c.polled.fetch_add(1, Ordering::Relaxed);
        assert_ne!(c.generation(), Some(g2));
        // an already expired certificate: not cached at all
        let g3 = c.generation().unwrap_or_default();
        c.put("3".into(), g3, Some(1), Bytes::from_static(b"three"));
        assert_eq!(c.get("3", g3), None);
        // an unhealthy poll bypasses the cache
        c.healthy.store(false, Ordering::Relaxed);
        assert_eq!(c.generation(), None);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let c = cache();
        let g = c.generation().unwrap_or_default();
        for i in 0..CAPACITY {
            c.put(i.to_string(), g, None, Bytes::new());
        }
        assert_eq!(c.len(), CAPACITY);
        c.put("new".into(), g, None, Bytes::new());
        assert_eq!(c.len(), 1);
    }
}
