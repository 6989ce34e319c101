//! The OpenAPI 3.1 document, generated from the code: every handler carries a
//! `#[utoipa::path]` and is registered through [`utoipa_axum`], so the router
//! and the document are built from the same list (`routes::api_routes`).
//!
//! Nothing here describes a body by hand: the schemas are derived from the
//! types the handlers answer with ([`domain::wire`], [`crate::http::error::Problem`]),
//! and the error responses from [`ErrorCode`]. This module only assembles
//! the document (`errors`, `params`); `routes::docs` serves it with Swagger
//! UI.

mod errors;
mod params;
#[cfg(test)]
mod tests;

pub use errors::*;
pub use params::{IdempotencyKeyHeader, SeatStatusQuery, SoldOutQuery, WaitMsQuery};

use crate::http::error::{ErrorCode, Problem};
use domain::RejectReason;
use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The name of the bearer security scheme in the document.
pub const BEARER: &str = "queue_token";

/// The name of the admin endpoints' security scheme (`ADMIN_TOKEN`).
pub const ADMIN: &str = "admin";

/// The document's fixed part: its info, tags, the schemas no operation
/// names (`Problem`, `ErrorCode`, `RejectReason`) and the bearer scheme; the
/// operations are added by `routes::api_routes`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Concert reservation API",
        description = "Waiting room, seat holds and payments for concerts that sell out in minutes.\n\n\
Commands (`POST /v1/reservations`, `POST /v1/payments`) are answered `202` once they are on \
Kafka; poll `GET /v1/requests/{request_id}` (with `?wait_ms=` to long-poll) for the outcome. \
Every error is an RFC 9457 problem (`application/problem+json`) with a machine-readable `code`. \
Every response carries `x-request-id` (echoed when the client sent one).",
        license(name = "MIT", identifier = "MIT"),
    ),
    tags(
        (name = "users", description = "Registration"),
        (name = "queue", description = "The waiting room"),
        (name = "catalog", description = "Concerts, dates and seats"),
        (name = "commands", description = "Holds and payments, decided by the workers"),
        (name = "waitlist", description = "Places on a sold-out performance's waitlist; a freed seat is offered to the first on it \
as a hold of their own (`offer` in `GET /v1/reservations`), payable with any of their queue tokens"),
        (name = "balance", description = "The prepaid balance"),
        (name = "admin", description = "Operators: concerts, performances and reports, with `Authorization: Bearer <ADMIN_TOKEN>`; \
every admin endpoint is `404` while `ADMIN_TOKEN` is unset"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "page", description = "The waiting-room page and these docs"),
    ),
    components(schemas(Problem, ErrorCode, RejectReason)),
    modifiers(&BearerScheme),
)]
pub struct ApiDoc;

/// Adds the bearer security schemes the secured operations name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("queue token")
                    .description(Some(
                        "The `token` from `POST /v1/queue/tokens`, or the `user_key` from \
                         `POST /v1/users`. Entering a waiting room takes the user key; endpoints \
                         marked *active* need a token whose status is `active` (else `403 \
                         TOKEN_NOT_ACTIVE`); the others take the user's key or any of their tokens.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            ADMIN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ADMIN_TOKEN")
                    .description(Some(
                        "The operator's `ADMIN_TOKEN` (at least 32 characters). Any other \
                         credential is `401 INVALID_TOKEN`; while `ADMIN_TOKEN` is unset the admin \
                         endpoints answer `404`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Adds what every operation shares: the `x-request-id` response header.
pub fn finish(doc: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|e| {
        tracing::error!(error = %e, "serializing the OpenAPI document failed");
        json!({})
    });
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut().filter_map(Value::as_object_mut) {
                optional_body_is_not_null(operation);
                let Some(responses) = operation
                    .get_mut("responses")
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                for response in responses.values_mut().filter_map(Value::as_object_mut) {
                    if response.contains_key("$ref") {
                        continue;
                    }
                    let headers = response.entry("headers").or_insert_with(|| json!({}));
                    if let Some(headers) = headers.as_object_mut() {
                        headers.insert(
                            "x-request-id".into(),
                            json!({
                                "description": "Identifies the request in logs; echoed when the client sent one.",
                                "schema": {"type": "string"}
                            }),
                        );
                    }
                }
            }
        }
    }
    doc
}

/// `request_body = Option<T>` reads as "the body may be left out" (it is
/// then not `required`), but utoipa also lets it be JSON `null`, which the
/// API refuses: keep only `T`.
fn optional_body_is_not_null(operation: &mut serde_json::Map<String, Value>) {
    let contents = operation
        .get_mut("requestBody")
        .and_then(|b| b.get_mut("content"))
        .and_then(Value::as_object_mut);
    for content in contents.into_iter().flat_map(|c| c.values_mut()) {
        let Some(schema) = content.get_mut("schema") else {
            continue;
        };
        let single = schema
            .get("oneOf")
            .and_then(Value::as_array)
            .and_then(|alts| {
                let rest: Vec<&Value> = alts.iter().filter(|a| a["type"] != "null").collect();
                match (alts.len(), rest.as_slice()) {
                    (2, [only]) => Some((*only).clone()),
                    _ => None,
                }
            });
        if let Some(single) = single {
            *schema = single;
        }
    }
}
