//! The router: every endpoint of SPEC.

mod balance;
mod catalog;
mod commands;
mod health;
mod queue;
mod users;

use crate::error::problem;
use crate::extract::MAX_BODY_BYTES;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/v1/users", post(users::register))
        .route("/v1/queue/tokens", post(queue::enter))
        .route("/v1/queue/status", get(queue::status))
        .route("/v1/concerts", get(catalog::concerts))
        .route(
            "/v1/concerts/{concert_id}/performances",
            get(catalog::performances),
        )
        .route(
            "/v1/performances/{performance_id}/seats",
            get(catalog::seats),
        )
        .route(
            "/v1/reservations",
            post(commands::reserve).get(catalog::my_reservations),
        )
        .route("/v1/payments", post(commands::pay))
        .route("/v1/requests/{request_id}", get(commands::request_status))
        .route("/v1/balance", get(balance::balance))
        .route("/v1/balance/charges", post(balance::charge))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn not_found() -> impl IntoResponse {
    problem(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint")
}

async fn method_not_allowed() -> impl IntoResponse {
    problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this endpoint does not take that method",
    )
}
