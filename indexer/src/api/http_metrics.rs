//! HTTP request counters and latency histograms per route, rendered next to the ingestion
//! metrics at `/metrics`. Routes are fixed when the router is built, so updates are lock-free
//! (one map lookup and relaxed atomics per request).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, seconds.
const BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
/// Status classes counted: 1xx .. 5xx.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

#[derive(Debug, Default)]
struct RouteStats {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; 11],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Per-route request metrics of the API.
#[derive(Debug)]
pub struct HttpMetrics {
    names: Vec<&'static str>,
    index: HashMap<&'static str, usize>,
    stats: Vec<RouteStats>,
}

impl HttpMetrics {
    /// Metrics for these route templates (plus one series for unmatched requests).
    pub fn new(routes: impl IntoIterator<Item = &'static str>) -> Self {
        let mut names: Vec<&'static str> = routes.into_iter().collect();
        names.push(UNMATCHED);
        let index = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let stats = names.iter().map(|_| RouteStats::default()).collect();
        Self {
            names,
            index,
            stats,
        }
    }

    /// Records one answered request of `route` (its template; `None` when unmatched).
    pub fn observe(&self, route: Option<&str>, status: u16, elapsed: Duration) {
        let i = route
            .and_then(|r| self.index.get(r))
            .copied()
            .unwrap_or(self.names.len() - 1);
        let Some(s) = self.stats.get(i) else { return };
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        if let Some(c) = s.by_class.get(class) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let secs = elapsed.as_secs_f64();
        if let Some(b) = BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .and_then(|b| s.buckets.get(b))
        {
            b.fetch_add(1, Ordering::Relaxed);
        }
        s.count.fetch_add(1, Ordering::Relaxed);
        s.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Requests of `route` answered with a status of class `class` (`"2xx"`, `"4xx"`, ...).
    pub fn requests(&self, route: &str, class: &str) -> u64 {
        let (Some(i), Some(c)) = (
            self.index.get(route),
            CLASSES.iter().position(|c| *c == class),
        ) else {
            return 0;
        };
        self.stats
            .get(*i)
            .and_then(|s| s.by_class.get(c))
            .map_or(0, |v| v.load(Ordering::Relaxed))
    }

    /// Appends the metrics in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP indexer_http_requests_total HTTP requests answered, by route and status class."
        );
        let _ = writeln!(out, "# TYPE indexer_http_requests_total counter");
        for (name, s) in self.names.iter().zip(&self.stats) {
            for (class, v) in CLASSES.iter().zip(&s.by_class) {
                let v = v.load(Ordering::Relaxed);
                if v > 0 {
                    let _ = writeln!(
                        out,
                        "indexer_http_requests_total{{route=\"{name}\",status=\"{class}\"}} {v}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP indexer_http_request_duration_seconds HTTP request latency, by route."
        );
        let _ = writeln!(
            out,
            "# TYPE indexer_http_request_duration_seconds histogram"
        );
        for (name, s) in self.names.iter().zip(&self.stats) {
            let count = s.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (le, b) in BUCKETS.iter().zip(&s.buckets) {
                cumulative += b.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "indexer_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "indexer_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let sum = s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "indexer_http_request_duration_seconds_sum{{route=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "indexer_http_request_duration_seconds_count{{route=\"{name}\"}} {count}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_route_and_class_with_cumulative_buckets() {
        let m = HttpMetrics::new(["/a", "/b/{id}"]);
        m.observe(Some("/a"), 200, Duration::from_micros(300));
        m.observe(Some("/a"), 404, Duration::from_millis(3));
        m.observe(Some("/b/{id}"), 500, Duration::from_secs(2));
        m.observe(None, 404, Duration::from_micros(10));
        assert_eq!(m.requests("/a", "2xx"), 1);
        assert_eq!(m.requests("/a", "4xx"), 1);
        assert_eq!(m.requests(UNMATCHED, "4xx"), 1);
        let mut text = String::new();
        m.render(&mut text);
        assert!(text.contains("indexer_http_requests_total{route=\"/b/{id}\",status=\"5xx\"} 1\n"));
        assert!(text.contains(
            "indexer_http_request_duration_seconds_bucket{route=\"/a\",le=\"0.0005\"} 1\n"
        ));
        assert!(text.contains(
            "indexer_http_request_duration_seconds_bucket{route=\"/a\",le=\"0.005\"} 2\n"
        ));
        assert!(text.contains(
            "indexer_http_request_duration_seconds_bucket{route=\"/b/{id}\",le=\"1\"} 0\n"
        ));
        assert!(text.contains(
            "indexer_http_request_duration_seconds_bucket{route=\"/b/{id}\",le=\"+Inf\"} 1\n"
        ));
        assert!(text.contains("indexer_http_request_duration_seconds_count{route=\"/a\"} 2\n"));
    }
}
