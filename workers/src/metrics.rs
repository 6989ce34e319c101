//! The worker's own `/metrics` and `/healthz`, served on
//! `WORKER_METRICS_ADDR`, in Prometheus text format.

use crate::apply::Outcome;
use axum::routing::get;
use axum::Router;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the batch histograms.
const SIZE_BUCKETS: [f64; 8] = [1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0];
const SECONDS_BUCKETS: [f64; 9] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.counts.len() != bounds.len() {
            self.counts = vec![0; bounds.len()];
        }
        for (i, bound) in bounds.iter().enumerate() {
            if value <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str, bounds: &[f64]) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, bound) in bounds.iter().enumerate() {
            let n = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

#[derive(Default)]
struct Inner {
    commands: BTreeMap<(&'static str, &'static str), u64>,
    lag: BTreeMap<i32, i64>,
    batch_size: Histogram,
    batch_seconds: Histogram,
}

/// The worker's counters and gauges, shared by the consumer, its context and
/// the background jobs, and rendered for Prometheus at `/metrics`.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    hold_expiries: AtomicU64,
    fenced: AtomicU64,
}

impl Metrics {
    /// Counts a committed batch's outcomes, its size and how long it took.
    pub fn record_batch(&self, outcomes: &[Outcome], took: Duration) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        for outcome in outcomes {
            let key = match outcome {
                Outcome::Succeeded(kind) => (kind.as_str(), "succeeded"),
                Outcome::Rejected(kind, _) => (kind.as_str(), "rejected"),
                Outcome::Duplicate => ("unknown", "duplicate"),
                Outcome::Poison => ("unknown", "poison"),
            };
            *inner.commands.entry(key).or_default() += 1;
        }
        inner
            .batch_size
            .observe(&SIZE_BUCKETS, outcomes.len() as f64);
        inner
            .batch_seconds
            .observe(&SECONDS_BUCKETS, took.as_secs_f64());
    }

    /// Records a partition's consumer lag from librdkafka's statistics, so a
    /// worker falling behind shows on `/metrics`.
    pub fn set_lag(&self, partition: i32, lag: i64) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.lag.insert(partition, lag.max(0));
        }
    }

    /// Counts holds the sweeper marked expired.
    pub fn holds_expired(&self, n: u64) {
        self.hold_expiries.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a batch refused because another worker has claimed its partition
    /// (the lease fence), so hand-over races show on `/metrics`.
    pub fn fenced(&self) {
        self.fenced.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of everything counted so far, for
    /// `GET /metrics`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(inner) = self.inner.lock() {
            out.push_str("# HELP commands_total Commands applied, by kind and outcome.\n# TYPE commands_total counter\n");
            for ((kind, outcome), n) in &inner.commands {
                let _ = writeln!(
                    out,
                    "commands_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
                );
            }
            out.push_str("# HELP consumer_lag Messages not yet consumed, by partition.\n# TYPE consumer_lag gauge\n");
            for (partition, lag) in &inner.lag {
                let _ = writeln!(out, "consumer_lag{{partition=\"{partition}\"}} {lag}");
            }
            inner.batch_size.render(
                &mut out,
                "batch_size",
                "Commands per applied batch.",
                &SIZE_BUCKETS,
            );
            inner.batch_seconds.render(
                &mut out,
                "batch_commit_seconds",
                "Time to apply and commit one batch.",
                &SECONDS_BUCKETS,
            );
        }
        let _ = writeln!(
            out,
            "# HELP hold_expiries_total Lapsed holds marked expired by the sweeper.\n# TYPE hold_expiries_total counter\nhold_expiries_total {}",
            self.hold_expiries.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP fenced_batches_total Batches refused because another worker claimed the partition.\n# TYPE fenced_batches_total counter\nfenced_batches_total {}",
            self.fenced.load(Ordering::Relaxed)
        );
        out
    }
}

/// The worker's small HTTP app on `WORKER_METRICS_ADDR`: `/healthz` for a
/// liveness probe and `/metrics` for Prometheus.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        metrics.render(),
                    )
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{RejectReason, RequestKind};

    #[test]
    fn outcomes_are_counted_by_kind_and_outcome() {
        let m = Metrics::default();
        m.record_batch(
            &[
                Outcome::Succeeded(RequestKind::Reserve),
                Outcome::Succeeded(RequestKind::Reserve),
                Outcome::Rejected(RequestKind::Pay, RejectReason::HoldExpired),
                Outcome::Duplicate,
            ],
            Duration::from_millis(3),
        );
        m.set_lag(2, 7);
        let text = m.render();
        assert!(text.contains("commands_total{kind=\"reserve\",outcome=\"succeeded\"} 2"));
        assert!(text.contains("commands_total{kind=\"pay\",outcome=\"rejected\"} 1"));
        assert!(text.contains("consumer_lag{partition=\"2\"} 7"));
        assert!(text.contains("batch_size_bucket{le=\"5\"} 1"));
        assert!(text.contains("batch_size_count 1"));
        assert!(text.contains("batch_commit_seconds_bucket{le=\"0.005\"} 1"));
    }
}
