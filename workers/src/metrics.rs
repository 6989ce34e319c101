//! The worker's own `/metrics` and `/healthz`, served on `WORKER_METRICS_ADDR`.

use crate::apply::Outcome;
use axum::routing::get;
use axum::Router;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Counters of what the worker applied, in Prometheus text format.
#[derive(Default)]
pub struct Metrics {
    commands: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Metrics {
    pub fn record(&self, outcomes: &[Outcome]) {
        let Ok(mut commands) = self.commands.lock() else {
            return;
        };
        for outcome in outcomes {
            let key = match outcome {
                Outcome::Succeeded(kind) => (kind.as_str(), "succeeded"),
                Outcome::Rejected(kind, _) => (kind.as_str(), "rejected"),
                Outcome::Duplicate => ("unknown", "duplicate"),
                Outcome::Poison => ("unknown", "poison"),
            };
            *commands.entry(key).or_default() += 1;
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP commands_total Commands applied, by kind and outcome.\n# TYPE commands_total counter\n",
        );
        if let Ok(commands) = self.commands.lock() {
            for ((kind, outcome), n) in commands.iter() {
                let _ = writeln!(
                    out,
                    "commands_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        out
    }
}

pub fn router(metrics: std::sync::Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { metrics.render() }
            }),
        )
}
