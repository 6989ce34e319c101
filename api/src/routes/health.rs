use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::wire::{Health, Readiness};
use std::time::Duration;

/// Answers as long as the process does, for a liveness probe; it checks
/// nothing else, so an outage of Postgres or the broker does not get the API
/// restarted.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health::ok())
}

/// Ready only while both Postgres and the broker answer.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    responses(
        (status = 200, description = "Postgres and the broker answer", body = Readiness),
        (status = 503, description = "Postgres or the broker does not answer", body = Readiness),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database = tokio::time::timeout(Duration::from_secs(2), store::ping(&state.pool))
        .await
        .is_ok_and(|r| r.is_ok());
    let broker = state.publisher.broker_reachable().await;
    let readiness = Readiness { database, broker };
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}
