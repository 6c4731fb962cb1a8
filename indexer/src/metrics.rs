//! Prometheus-style counters and gauges of the indexer, rendered in the text exposition
//! format by [`Metrics::render`] (served at `/metrics` by the API).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

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
}

impl Metrics {
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
}
