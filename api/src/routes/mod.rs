//! The router: every endpoint of SPEC. The documented routes are registered
//! through [`api_routes`], which builds the router and the OpenAPI document
//! from one list, so the two cannot drift apart.

mod admin;
mod balance;
mod cancel;
mod catalog;
mod commands;
mod docs;
mod events;
mod health;
mod queue;
mod tickets;
mod users;
mod waitlist;

pub use commands::MAX_WAIT_MS;
pub use docs::document;

use crate::http::error::{problem, ErrorCode};
use crate::http::extract::MAX_BODY_BYTES;
use crate::metrics::ApiMetrics;
use crate::openapi::ApiDoc;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every documented endpoint: each `routes!` entry adds the handler to the
/// router and its `#[utoipa::path]` to the document.
pub fn api_routes() -> OpenApiRouter<AppState> {
    public_routes().merge(admin_routes())
}

/// The admin endpoints, mounted only while `ADMIN_TOKEN` is set (SPEC:
/// otherwise every one is `404`), but always in the document.
fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin::create_concert))
        .routes(routes!(admin::update_concert))
        .routes(routes!(admin::add_performance))
        .routes(routes!(admin::report))
}

/// Every endpoint but the admin ones.
fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(users::register))
        .routes(routes!(queue::enter))
        .routes(routes!(queue::status))
        .routes(routes!(events::events))
        .routes(routes!(catalog::concerts))
        .routes(routes!(catalog::performances))
        .routes(routes!(catalog::seats))
        .routes(routes!(commands::reserve, catalog::my_reservations))
        .routes(routes!(commands::pay))
        .routes(routes!(cancel::cancel))
        .routes(routes!(waitlist::join, waitlist::leave))
        .routes(routes!(commands::request_status))
        .routes(routes!(tickets::tickets))
        .routes(routes!(balance::balance))
        .routes(routes!(balance::charge))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(crate::metrics::metrics))
        .routes(routes!(waiting_room_page))
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::swagger_ui))
}

/// The whole HTTP app of one API instance, for the server loop and the tests:
/// the documented routes, the static files, metrics and every layer.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let routes = if state.settings.admin_token.is_some() {
        api_routes()
    } else {
        public_routes()
    };
    let (documented, _) = routes.split_for_parts();
    let metrics = match ApiMetrics::new() {
        Ok(m) => Some(Arc::new(m)),
        Err(e) => {
            tracing::error!(error = %e, "creating the metrics registry failed; /metrics is off");
            None
        }
    };
    // Static files, not API endpoints: left out of the document.
    let mut app = documented
        .route("/docs/", get(docs::swagger_ui))
        .route("/docs/{*file}", get(docs::swagger_asset))
        .route("/assets/{file}", get(page_asset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    if let Some(m) = &metrics {
        app = app.layer(axum::middleware::from_fn_with_state(
            m.clone(),
            crate::metrics::track,
        ));
    }
    app.layer(Extension(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        // Outermost: it checks every request first and dresses every answer.
        .layer(axum::middleware::from_fn(crate::http::edge::edge))
        .with_state(state)
}

/// `GET /`: the waiting-room page.
#[utoipa::path(
    get,
    path = "/",
    tag = "page",
    summary = "The waiting-room page",
    responses((status = 200, description = "The waiting-room page: register, queue, pick a seat, hold and pay", content_type = "text/html", body = String))
)]
async fn waiting_room_page() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                ),
            ),
        ],
        include_str!("../../static/index.html"),
    )
        .into_response()
}

/// `GET /assets/{file}`: the page's scripts (JS modules: `app.js` imports the
/// others) and its style sheet.
async fn page_asset(Path(file): Path<String>) -> Response {
    const JS: &str = "text/javascript; charset=utf-8";
    let (body, content_type) = match file.as_str() {
        "app.js" => (include_str!("../../static/app.js"), JS),
        "api.js" => (include_str!("../../static/api.js"), JS),
        "queue.js" => (include_str!("../../static/queue.js"), JS),
        "booking.js" => (include_str!("../../static/booking.js"), JS),
        "tickets.js" => (include_str!("../../static/tickets.js"), JS),
        "waitlist.js" => (include_str!("../../static/waitlist.js"), JS),
        "app.css" => (
            include_str!("../../static/app.css"),
            "text/css; charset=utf-8",
        ),
        _ => return problem(ErrorCode::NotFound, "no such file"),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn not_found() -> impl IntoResponse {
    problem(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> impl IntoResponse {
    problem(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method",
    )
}
