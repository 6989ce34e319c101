//! The API's Prometheus metrics, served at `GET /metrics`.
//!
//! Each router gets its own registry (no process-global recorder), so the
//! several API instances a test process starts never share or fight over
//! one: every instance reports only its own traffic.

use crate::http::error::ApiError;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::Arc;
use std::time::Instant;

/// Latency buckets in seconds; long polls (`wait_ms` up to 10 s) land in the
/// top ones.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
];

/// The route label of a request no route matched, so unknown paths cannot
/// blow up the label set.
pub const UNMATCHED: &str = "unmatched";

/// The metric families of one router and the registry they live in, so each
/// API instance (several share one test process) reports only its own traffic.
pub struct ApiMetrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGaugeVec,
    queue_waiting: IntGauge,
    queue_active: IntGauge,
    admission_rate: Gauge,
}

impl ApiMetrics {
    /// Registers every family in a fresh registry; the router makes one, and
    /// serves without `/metrics` if this fails.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by method, route template and status.",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request, by method, route template and status.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route", "status"],
        )?;
        let in_flight = IntGaugeVec::new(
            Opts::new(
                "http_requests_in_flight",
                "HTTP requests being answered now, by route template.",
            ),
            &["route"],
        )?;
        let queue_waiting = IntGauge::new(
            "queue_waiting",
            "Entries waiting in the queue, as this instance last saw the line.",
        )?;
        let queue_active = IntGauge::new(
            "queue_active",
            "Active (admitted) queue tokens, as this instance last saw the line.",
        )?;
        let admission_rate = Gauge::new(
            "queue_admission_rate_per_second",
            "Admissions per second over the last minute.",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(queue_waiting.clone()))?;
        registry.register(Box::new(queue_active.clone()))?;
        registry.register(Box::new(admission_rate.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            in_flight,
            queue_waiting,
            queue_active,
            admission_rate,
        })
    }

    /// The text exposition, with the queue gauges read from `state` now.
    pub fn render(&self, state: &AppState) -> Result<String, prometheus::Error> {
        let line = state.line.totals();
        self.queue_waiting
            .set(i64::try_from(line.waiting).unwrap_or(i64::MAX));
        self.queue_active
            .set(i64::try_from(line.active).unwrap_or(i64::MAX));
        self.admission_rate.set(line.admission_rate.unwrap_or(0.0));
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Middleware: counts and times every request by its route template.
pub async fn track(
    State(metrics): State<Arc<ApiMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let in_flight = InFlight::new(metrics.in_flight.with_label_values(&[route.as_str()]));
    let response = next.run(request).await;
    drop(in_flight);
    let status = response.status().as_u16().to_string();
    let labels = [method.as_str(), route.as_str(), status.as_str()];
    metrics.requests.with_label_values(&labels).inc();
    metrics
        .latency
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Counts a request as in flight until dropped, also when the client goes
/// away and the handler is cancelled.
struct InFlight(IntGauge);

impl InFlight {
    fn new(gauge: IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `GET /metrics`
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Prometheus text exposition: `http_requests_total` and \
`http_request_duration_seconds` (by method, route template and status), `http_requests_in_flight`, \
`queue_waiting`, `queue_active` and `queue_admission_rate_per_second`.",
         content_type = "text/plain; version=0.0.4", body = String),
        crate::openapi::MetricsErrors,
    )
)]
pub async fn metrics(
    State(state): State<AppState>,
    Extension(metrics): Extension<Option<Arc<ApiMetrics>>>,
) -> Response {
    let rendered = match &metrics {
        Some(m) => m.render(&state),
        None => Err(prometheus::Error::Msg("no metrics registry".into())),
    };
    match rendered {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::Internal(anyhow::Error::new(e).context("encoding metrics failed"))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_families_are_registered_and_labelled_by_route_template() -> Result<(), prometheus::Error>
    {
        let metrics = ApiMetrics::new()?;
        metrics
            .requests
            .with_label_values(&["GET", "/v1/requests/{request_id}", "200"])
            .inc();
        metrics
            .latency
            .with_label_values(&["GET", "/v1/requests/{request_id}", "200"])
            .observe(0.02);
        let mut out = Vec::new();
        TextEncoder::new().encode(&metrics.registry.gather(), &mut out)?;
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(
            r#"http_requests_total{method="GET",route="/v1/requests/{request_id}",status="200"} 1"#
        ));
        assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
        assert!(text.contains(r#"le="10""#));
        for family in ["queue_waiting", "queue_active"] {
            assert!(text.contains(&format!("# TYPE {family} gauge")), "{family}");
        }
        Ok(())
    }
}
