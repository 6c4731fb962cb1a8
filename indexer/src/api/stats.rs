//! The cached answer of `GET /v1/stats`: about fifteen aggregates over whole tables, too dear to
//! run per request.
//!
//! The totals are computed at most once per [`StatsCache::max_age`] and shared by every request
//! in between, so an answer is at most `max_age` (plus the time of the query) behind the
//! database; `max_age` zero computes every answer afresh. One refresh runs at a time: requests
//! that find the totals stale while another request refreshes them wait for its result (at most
//! the pool's acquire timeout, then `503 query_timeout`) instead of running the aggregates
//! themselves. A failed refresh is not cached: the next request tries again.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Mutex;

use super::error::{ApiError, ApiResult};
use super::queries::{self, Stats};

/// Default [`StatsCache::max_age`].
pub const DEFAULT_MAX_AGE: Duration = Duration::from_millis(1000);

/// Totals and when their query started.
#[derive(Debug)]
struct Computed {
    at: Instant,
    stats: Stats,
}

/// The stats cache (see the module docs).
#[derive(Debug)]
pub struct StatsCache {
    max_age: Duration,
    slot: Mutex<Option<Computed>>,
}

impl StatsCache {
    /// An empty cache whose answers are at most `max_age` old.
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            slot: Mutex::new(None),
        }
    }

    /// How old an answer may be.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The totals of `chain_id`, from the cache while they are fresh, else from `pool`.
    pub async fn get(&self, pool: &PgPool, chain_id: i64) -> ApiResult<Stats> {
        if self.max_age.is_zero() {
            return Ok(queries::stats(pool, chain_id).await?);
        }
        // waiting for another request's refresh counts against the same budget as waiting for
        // a connection: a request never queues longer than that before it is answered
        let wait = pool.options().get_acquire_timeout();
        let mut slot = tokio::time::timeout(wait, self.slot.lock())
            .await
            .map_err(|_| ApiError::QueryTimeout)?;
        if let Some(c) = slot.as_ref()
            && c.at.elapsed() < self.max_age
        {
            return Ok(c.stats.clone());
        }
        let at = Instant::now();
        let stats = queries::stats(pool, chain_id).await?;
        *slot = Some(Computed {
            at,
            stats: stats.clone(),
        });
        Ok(stats)
    }
}

impl Default for StatsCache {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_AGE)
    }
}
