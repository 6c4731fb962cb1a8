//! Prometheus-style counters and gauges of the indexer, rendered in the text exposition
//! format by [`Metrics::render`] (served at `/metrics` by the API).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A latency summary: count, sum and maximum, in microseconds.
#[derive(Debug, Default)]
pub struct Latency {
    count: AtomicU64,
    sum_micros: AtomicU64,
    max_micros: AtomicU64,
}

impl Latency {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(us, Ordering::Relaxed);
        self.max_micros.fetch_max(us, Ordering::Relaxed);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let max = self.max_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} summary");
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
        let _ = writeln!(out, "# HELP {name}_max Largest observation, seconds.");
        let _ = writeln!(out, "# TYPE {name}_max gauge");
        let _ = writeln!(out, "{name}_max {max}");
    }
}

/// The indexer's metrics. Cheap to update from any task (relaxed atomics); shared through
/// `Arc<Metrics>` in [`crate::AppState`].
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events written (all kinds).
    pub events_total: AtomicU64,
    /// Batches committed.
    pub batches_total: AtomicU64,
    /// Highest block fully indexed (checkpoint).
    pub indexed_block: AtomicI64,
    /// Latest chain head seen.
    pub head_block: AtomicI64,
    /// Reorganisations handled (rollbacks).
    pub reorgs_total: AtomicU64,
    /// Blocks rolled back in total.
    pub reorg_blocks_total: AtomicU64,
    /// Polls that saw the chain head below the checkpoint (a lagging RPC backend, or a start
    /// block ahead of the chain): waited for, never rolled back.
    pub head_behind_total: AtomicU64,
    /// Batches refused at write time because the checkpoint was not the block (number and
    /// hash) they were planned on: another writer or another fork. Never written.
    pub batches_refused_total: AtomicU64,
    /// 1 while this process holds the chain's writer lock, else 0.
    pub writer_lock_held: AtomicI64,
    /// JSON-RPC calls.
    pub rpc_latency: Latency,
    /// JSON-RPC errors (each failed attempt).
    pub rpc_errors_total: AtomicU64,
    /// Batch transactions (rows + journal + checkpoint).
    pub db_latency: Latency,
    /// Database errors (each failed attempt).
    pub db_errors_total: AtomicU64,
    /// Live blocks whose logs were in doubt (missing against the header's bloom, not in it, or
    /// of another block hash) and were fetched again by block hash.
    pub logs_refetched_total: AtomicU64,
    /// Logs the RPC returned more than once, dropped before writing.
    pub logs_duplicate_total: AtomicU64,
    /// Block headers fetched for the timestamps of logs that came without `blockTimestamp`.
    pub headers_fetched_total: AtomicU64,
    /// When a chain head was last read or a batch written (Unix ms; 0: never, e.g. an API-only
    /// process).
    pub head_seen_at_ms: AtomicU64,
    /// When the checkpoint last moved (Unix ms).
    pub checkpoint_moved_at_ms: AtomicU64,
    /// Since when the head has been ahead of the checkpoint (Unix ms; 0 while caught up).
    pub behind_since_ms: AtomicU64,
}

/// How long ingestion may go without reading a chain head, or with the head ahead of a
/// checkpoint that does not move, before `/ready` answers 503 ([`Metrics::stalled`]).
pub const STALL_AFTER: Duration = Duration::from_secs(60);

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Metrics {
    /// Records that a chain head was just read.
    pub fn head_seen(&self) {
        self.head_seen_at_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Records the chain head `head`; whether it changed.
    pub fn set_head(&self, head: i64) -> bool {
        let changed = self.head_block.swap(head, Ordering::Relaxed) != head;
        if head > self.indexed_block.load(Ordering::Relaxed) {
            let _ = self.behind_since_ms.compare_exchange(
                0,
                now_ms(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        changed
    }

    /// Records the checkpoint `block` (written, rolled back or loaded).
    pub fn set_indexed(&self, block: i64) {
        if self.indexed_block.swap(block, Ordering::Relaxed) != block {
            self.checkpoint_moved_at_ms
                .store(now_ms(), Ordering::Relaxed);
        }
        if block >= self.head_block.load(Ordering::Relaxed) {
            self.behind_since_ms.store(0, Ordering::Relaxed);
        }
    }

    /// Why ingestion in this process looks stuck at `now_ms`, if it does: no chain head read
    /// for longer than `after` (the RPC is unreachable, or the indexer stopped), or the head is
    /// ahead of a checkpoint that has not moved for longer than `after` (each batch fails).
    /// `None` when it is healthy or this process does not ingest (no head was ever read).
    pub fn stalled(&self, now_ms: u64, after: Duration) -> Option<String> {
        let after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        let seen = self.head_seen_at_ms.load(Ordering::Relaxed);
        if seen == 0 {
            return None;
        }
        if now_ms.saturating_sub(seen) > after_ms {
            return Some(format!(
                "no chain head read for {} s (RPC unreachable, or ingestion stopped)",
                now_ms.saturating_sub(seen) / 1000
            ));
        }
        let behind = self.behind_since_ms.load(Ordering::Relaxed);
        let moved = self.checkpoint_moved_at_ms.load(Ordering::Relaxed);
        let since = behind.max(moved);
        if behind != 0 && self.lag() > 0 && now_ms.saturating_sub(since) > after_ms {
            return Some(format!(
                "the checkpoint {} has not moved for {} s while the chain head is {} (see the \
                 indexer's log)",
                self.indexed_block.load(Ordering::Relaxed),
                now_ms.saturating_sub(since) / 1000,
                self.head_block.load(Ordering::Relaxed)
            ));
        }
        None
    }

    /// Lag in blocks between the chain head and the checkpoint (0 when caught up).
    pub fn lag(&self) -> i64 {
        let head = self.head_block.load(Ordering::Relaxed);
        let indexed = self.indexed_block.load(Ordering::Relaxed);
        (head - indexed).max(0)
    }

    /// Renders every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {v}");
        };
        counter(
            "indexer_events_total",
            "Events written to the database.",
            self.events_total.load(Ordering::Relaxed),
        );
        counter(
            "indexer_batches_total",
            "Batches committed.",
            self.batches_total.load(Ordering::Relaxed),
        );
        counter(
            "indexer_reorgs_total",
            "Chain reorganisations rolled back.",
            self.reorgs_total.load(Ordering::Relaxed),
        );
        counter(
            "indexer_reorg_blocks_total",
            "Blocks rolled back by reorganisations.",
            self.reorg_blocks_total.load(Ordering::Relaxed),
        );
        counter(
            "indexer_head_behind_total",
            "Polls that saw the chain head below the checkpoint (waited for, not rolled back).",
            self.head_behind_total.load(Ordering::Relaxed),
        );
        counter(
            "indexer_batches_refused_total",
            "Batches refused because the checkpoint moved to another block or fork.",
            self.batches_refused_total.load(Ordering::Relaxed),
        );
        counter(
            "indexer_rpc_errors_total",
            "Failed JSON-RPC attempts.",
            self.rpc_errors_total.load(Ordering::Relaxed),
        );
        counter(
            "indexer_db_errors_total",
            "Failed database attempts.",
            self.db_errors_total.load(Ordering::Relaxed),
        );
        counter(
            "indexer_logs_refetched_total",
            "Live blocks whose logs were in doubt and were fetched again by block hash.",
            self.logs_refetched_total.load(Ordering::Relaxed),
        );
        counter(
            "indexer_logs_duplicate_total",
            "Logs the RPC returned more than once (dropped before writing).",
            self.logs_duplicate_total.load(Ordering::Relaxed),
        );
        counter(
            "indexer_headers_fetched_total",
            "Block headers fetched for logs without blockTimestamp.",
            self.headers_fetched_total.load(Ordering::Relaxed),
        );
        let mut gauge = |name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {v}");
        };
        gauge(
            "indexer_indexed_block",
            "Highest fully indexed block.",
            self.indexed_block.load(Ordering::Relaxed),
        );
        gauge(
            "indexer_head_block",
            "Latest chain head seen.",
            self.head_block.load(Ordering::Relaxed),
        );
        gauge(
            "indexer_writer_lock_held",
            "1 while this process holds the chain's writer lock.",
            self.writer_lock_held.load(Ordering::Relaxed),
        );
        gauge(
            "indexer_lag_blocks",
            "Chain head minus indexed block.",
            self.lag(),
        );
        self.rpc_latency.render(
            &mut out,
            "indexer_rpc_latency_seconds",
            "JSON-RPC call latency.",
        );
        self.db_latency.render(
            &mut out,
            "indexer_db_batch_latency_seconds",
            "Batch transaction latency.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_every_family_and_values() {
        let m = Metrics::default();
        m.events_total.fetch_add(42, Ordering::Relaxed);
        m.head_block.store(10, Ordering::Relaxed);
        m.indexed_block.store(7, Ordering::Relaxed);
        m.rpc_latency.observe(Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("indexer_events_total 42\n"));
        assert!(text.contains("indexer_lag_blocks 3\n"));
        assert!(text.contains("indexer_rpc_latency_seconds_count 1\n"));
        assert!(text.contains("# TYPE indexer_reorgs_total counter"));
        assert_eq!(m.lag(), 3);
    }

    #[test]
    fn stalled_needs_a_stale_head_or_a_checkpoint_stuck_behind_the_head() {
        let m = Metrics::default();
        let after = Duration::from_secs(30);
        assert_eq!(m.stalled(1_000_000, after), None, "no ingestion here");
        m.set_indexed(10);
        m.set_head(10);
        m.head_seen_at_ms.store(1_000_000, Ordering::Relaxed);
        m.checkpoint_moved_at_ms.store(1_000_000, Ordering::Relaxed);
        assert_eq!(m.stalled(1_010_000, after), None);
        assert!(
            m.stalled(1_031_000, after)
                .expect("stalled")
                .contains("no chain head")
        );
        // caught up and idle for long: fine
        m.head_seen_at_ms.store(5_000_000, Ordering::Relaxed);
        assert_eq!(m.stalled(5_000_000, after), None);
        // the head moves on, the checkpoint does not
        m.set_head(12);
        let since = m.behind_since_ms.load(Ordering::Relaxed);
        assert!(since > 0);
        m.head_seen_at_ms.store(since + 40_000, Ordering::Relaxed);
        assert_eq!(m.stalled(since + 20_000, after), None);
        let why = m.stalled(since + 40_000, after).expect("stalled");
        assert!(why.contains("checkpoint 10 has not moved"), "{why}");
        m.set_indexed(12);
        assert_eq!(m.stalled(since + 40_000, after), None);
    }
}
