//! The OpenAPI 3.1 document, generated from the code: every handler carries a
//! `#[utoipa::path]` and is registered through [`utoipa_axum`], so the router
//! and the document are built from the same list (`routes::api_routes`).
//!
//! The handlers build their JSON with `json!`; the schemas below describe
//! those bodies for the document only. Error responses come from one table,
//! [`ErrorCode`], so every code the API can answer is listed with its status.

use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};

/// The name of the bearer security scheme in the document.
pub const BEARER: &str = "queue_token";

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
        (name = "balance", description = "The prepaid balance"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "page", description = "The waiting-room page and these docs"),
    ),
    components(schemas(Problem, ErrorCode, RejectReason)),
    modifiers(&BearerScheme),
)]
pub struct ApiDoc;

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
    }
}

/// The document as served at `/openapi.json`: built once per process.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| finish(crate::routes::api_routes().into_openapi()))
}

/// Adds what every operation shares: the `x-request-id` response header.
fn finish(doc: utoipa::openapi::OpenApi) -> Value {
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

// ------------------------------------------------------------------ errors

/// Every `code` a problem answer of the API may carry.
#[derive(ToSchema, Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    InvalidToken,
    InvalidCredentials,
    TokenNotActive,
    NotYourReservation,
    UserNotFound,
    ConcertNotFound,
    PerformanceNotFound,
    ReservationNotFound,
    RequestNotFound,
    NotFound,
    MethodNotAllowed,
    BalanceLimit,
    PayloadTooLarge,
    IdempotencyKeyReused,
    RateLimited,
    UnsupportedMediaType,
    UriTooLong,
    HeadersTooLarge,
    InternalError,
    BrokerUnavailable,
    DatabaseUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 22] = [
        Self::ValidationError,
        Self::InvalidToken,
        Self::InvalidCredentials,
        Self::TokenNotActive,
        Self::NotYourReservation,
        Self::UserNotFound,
        Self::ConcertNotFound,
        Self::PerformanceNotFound,
        Self::ReservationNotFound,
        Self::RequestNotFound,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::BalanceLimit,
        Self::PayloadTooLarge,
        Self::IdempotencyKeyReused,
        Self::RateLimited,
        Self::UnsupportedMediaType,
        Self::UriTooLong,
        Self::HeadersTooLarge,
        Self::InternalError,
        Self::BrokerUnavailable,
        Self::DatabaseUnavailable,
    ];

    /// The code, its HTTP status and when it is answered.
    pub fn describe(self) -> (&'static str, u16, &'static str) {
        match self {
            Self::ValidationError => (
                "VALIDATION_ERROR",
                400,
                "malformed JSON, wrong types, unknown fields, out-of-range numbers, bad ids or query values",
            ),
            Self::InvalidToken => (
                "INVALID_TOKEN",
                401,
                "the bearer token is missing, malformed, forged or unknown",
            ),
            Self::InvalidCredentials => (
                "INVALID_CREDENTIALS",
                401,
                "entering a waiting room without the user key of the user named in the body",
            ),
            Self::TokenNotActive => (
                "TOKEN_NOT_ACTIVE",
                403,
                "the token is valid but not active (still waiting, or expired)",
            ),
            Self::NotYourReservation => (
                "NOT_YOUR_RESERVATION",
                403,
                "the reservation belongs to another user",
            ),
            Self::UserNotFound => ("USER_NOT_FOUND", 404, "no such user"),
            Self::ConcertNotFound => ("CONCERT_NOT_FOUND", 404, "no such concert"),
            Self::PerformanceNotFound => ("PERFORMANCE_NOT_FOUND", 404, "no such performance"),
            Self::ReservationNotFound => ("RESERVATION_NOT_FOUND", 404, "no such reservation"),
            Self::RequestNotFound => (
                "REQUEST_NOT_FOUND",
                404,
                "no such request for this user (another user's request reads as unknown)",
            ),
            Self::NotFound => ("NOT_FOUND", 404, "no such endpoint"),
            Self::MethodNotAllowed => (
                "METHOD_NOT_ALLOWED",
                405,
                "the endpoint does not take that method",
            ),
            Self::BalanceLimit => (
                "BALANCE_LIMIT",
                409,
                "the charge would lift the balance above 1,000,000,000",
            ),
            Self::PayloadTooLarge => ("PAYLOAD_TOO_LARGE", 413, "the body is over 64 KiB"),
            Self::IdempotencyKeyReused => (
                "IDEMPOTENCY_KEY_REUSED",
                422,
                "this Idempotency-Key was already used with a different body",
            ),
            Self::RateLimited => (
                "RATE_LIMITED",
                429,
                "too many registrations or queue entries from this address; `Retry-After` says when to retry",
            ),
            Self::UnsupportedMediaType => (
                "UNSUPPORTED_MEDIA_TYPE",
                415,
                "a JSON endpoint called with a body that is not `application/json`",
            ),
            Self::UriTooLong => ("URI_TOO_LONG", 414, "the request target is over 8 KiB"),
            Self::HeadersTooLarge => (
                "HEADERS_TOO_LARGE",
                431,
                "the request headers are over 16 KiB",
            ),
            Self::InternalError => ("INTERNAL_ERROR", 500, "an unexpected error; it is logged"),
            Self::BrokerUnavailable => (
                "BROKER_UNAVAILABLE",
                503,
                "Kafka cannot take the command now; nothing was recorded, retry with the same Idempotency-Key",
            ),
            Self::DatabaseUnavailable => (
                "DATABASE_UNAVAILABLE",
                503,
                "Postgres is unreachable; retry later",
            ),
        }
    }

    pub fn code(self) -> &'static str {
        self.describe().0
    }

    pub fn status(self) -> u16 {
        self.describe().1
    }
}

/// An RFC 9457 problem with the extra member `code`.
#[derive(ToSchema, Serialize)]
#[schema(example = json!({
    "type": "urn:concert:problem:balance_limit",
    "title": "Conflict",
    "status": 409,
    "detail": "the balance would exceed 1000000000",
    "code": "BALANCE_LIMIT"
}))]
pub struct Problem {
    /// A URI naming the problem type: `urn:concert:problem:<code in lower case>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The reason phrase of the status.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, for humans.
    pub detail: String,
    pub code: ErrorCode,
}

/// Error responses of an operation, grouped by status; each lists its codes
/// with an example problem.
pub fn problem_responses(
    codes: &[ErrorCode],
) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in codes {
        by_status.entry(code.status()).or_default().push(*code);
    }
    by_status
        .into_iter()
        .map(|(status, codes)| {
            let description = codes
                .iter()
                .map(|c| {
                    let (code, _, when) = c.describe();
                    format!("`{code}`: {when}")
                })
                .collect::<Vec<_>>()
                .join("; ");
            let examples = codes.iter().map(|c| {
                let (code, status, when) = c.describe();
                let title = axum::http::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Error");
                (
                    code.to_owned(),
                    ExampleBuilder::new()
                        .summary(code)
                        .value(Some(json!({
                            "type": format!("urn:concert:problem:{}", code.to_ascii_lowercase()),
                            "title": title,
                            "status": status,
                            "detail": when,
                            "code": code,
                        })))
                        .build(),
                )
            });
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .examples_from_iter(examples)
                .build();
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// Declares a named set of error responses for `responses(...)` of a path.
macro_rules! error_set {
    ($($(#[$meta:meta])* $name:ident => [$($code:ident),* $(,)?];)*) => {$(
        $(#[$meta])*
        pub struct $name;
        impl $name {
            pub const CODES: &'static [ErrorCode] = &[$(ErrorCode::$code),*];
        }
        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
                problem_responses(Self::CODES)
            }
        }
    )*};
}

error_set! {
    /// Registration.
    RegisterErrors => [ValidationError, PayloadTooLarge, UnsupportedMediaType, RateLimited, DatabaseUnavailable, InternalError];
    /// Entering the queue.
    EnterErrors => [ValidationError, InvalidCredentials, UserNotFound, PayloadTooLarge, UnsupportedMediaType, RateLimited,
        DatabaseUnavailable, InternalError];
    /// Reads that take any valid token.
    AnyTokenErrors => [InvalidToken, DatabaseUnavailable, InternalError];
    /// The balance: the token's user may have gone.
    BalanceErrors => [InvalidToken, UserNotFound, DatabaseUnavailable, InternalError];
    /// Charging the balance.
    ChargeErrors => [ValidationError, InvalidToken, UserNotFound, BalanceLimit, PayloadTooLarge, UnsupportedMediaType,
        IdempotencyKeyReused, DatabaseUnavailable, InternalError];
    /// Public reads.
    PublicReadErrors => [DatabaseUnavailable, InternalError];
    /// The dates of a concert.
    PerformancesErrors => [ValidationError, InvalidToken, TokenNotActive, ConcertNotFound,
        DatabaseUnavailable, InternalError];
    /// The seat map.
    SeatsErrors => [ValidationError, InvalidToken, TokenNotActive, PerformanceNotFound,
        DatabaseUnavailable, InternalError];
    /// The reserve command.
    ReserveErrors => [ValidationError, InvalidToken, TokenNotActive, PerformanceNotFound,
        PayloadTooLarge, UnsupportedMediaType, IdempotencyKeyReused, BrokerUnavailable, DatabaseUnavailable, InternalError];
    /// The pay command.
    PayErrors => [ValidationError, InvalidToken, TokenNotActive, NotYourReservation,
        ReservationNotFound, PayloadTooLarge, UnsupportedMediaType, IdempotencyKeyReused, BrokerUnavailable,
        DatabaseUnavailable, InternalError];
    /// A request's outcome.
    RequestErrors => [ValidationError, InvalidToken, RequestNotFound, DatabaseUnavailable,
        InternalError];
}

// -------------------------------------------------------------- parameters

/// The optional `Idempotency-Key` header of commands and charges.
pub struct IdempotencyKeyHeader;

impl IntoParams for IdempotencyKeyHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "1..=128 visible ASCII characters. The same key from the same user with the same \
                 body returns the original response and never a second effect; with a different \
                 body it is `422 IDEMPOTENCY_KEY_REUSED`.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(128))
                    .pattern(Some("^[!-~]+$")),
            ))
            .example(Some(json!("3f1c2a8e-seat-7")))
            .build()]
    }
}

/// `?wait_ms=` of `GET /v1/requests/{request_id}`.
pub struct WaitMsQuery;

impl IntoParams for WaitMsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("wait_ms")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(
                "Hold the answer until the status is final or this many milliseconds pass \
                 (long poll). Default 0: answer at once.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(crate::routes::MAX_WAIT_MS))
                    .default(Some(json!(0))),
            ))
            .example(Some(json!(10000)))
            .build()]
    }
}

/// `?status=` of the seat map.
pub struct SeatStatusQuery;

impl IntoParams for SeatStatusQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("status")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some("Only the seats with this status."))
            .schema(Some(Ref::from_schema_name("SeatStatus")))
            .build()]
    }
}

// ----------------------------------------------------------------- bodies

/// The body of `POST /v1/users`: any JSON object, usually `{}` (or no body at all).
#[derive(ToSchema, Serialize)]
#[schema(example = json!({}))]
pub struct RegisterRequest {}

/// A new user.
#[derive(ToSchema, Serialize)]
pub struct NewUser {
    pub user_id: uuid::Uuid,
    /// Always 0 for a new user.
    #[schema(example = 0)]
    pub balance: i64,
    /// The user's secret (at least 128 random bits), shown only here: send
    /// it as `Authorization: Bearer <user_key>` to enter a waiting room, or
    /// to any endpoint that takes "any" credential of the user.
    #[schema(example = "uk_Wm9vbGFuZGVyLWV4YW1wbGUta2V5LW5vdC1yZWFsLTAx")]
    pub user_key: String,
}

/// The status of a queue entry.
#[derive(ToSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    Waiting,
    Active,
    Expired,
}

/// A place in the waiting room.
#[derive(ToSchema, Serialize)]
pub struct QueueEntry {
    /// The bearer token for every call that needs one.
    pub token: String,
    pub user_id: uuid::Uuid,
    pub status: QueueStatus,
    /// 1-based while waiting, 0 when active.
    #[schema(minimum = 0)]
    pub position: u64,
    #[schema(minimum = 0)]
    pub estimated_wait_seconds: u64,
}

/// The caller's place in the waiting room.
#[derive(ToSchema, Serialize)]
pub struct QueueStatusResponse {
    pub user_id: uuid::Uuid,
    pub status: QueueStatus,
    /// 1-based while waiting, 0 when active or expired.
    #[schema(minimum = 0)]
    pub position: u64,
    /// Entries ahead of the caller.
    #[schema(minimum = 0)]
    pub ahead: u64,
    #[schema(minimum = 0)]
    pub estimated_wait_seconds: u64,
    /// When an active token expires; null unless active.
    #[schema(required = true)]
    pub active_until: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(ToSchema, Serialize)]
pub struct Concert {
    #[schema(minimum = 1, example = 1)]
    pub concert_id: i64,
    pub title: String,
    pub artist: String,
}

/// A bookable date: in the future, with at least one available seat.
#[derive(ToSchema, Serialize)]
pub struct Performance {
    #[schema(minimum = 1, example = 1)]
    pub performance_id: i64,
    #[schema(minimum = 1, example = 1)]
    pub concert_id: i64,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    #[schema(example = 50)]
    pub total_seats: i32,
    #[schema(minimum = 1, maximum = 50)]
    pub available_seats: i64,
}

#[derive(ToSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

#[derive(ToSchema, Serialize)]
pub struct Seat {
    #[schema(minimum = 1, maximum = 50)]
    pub seat_number: i16,
    /// KRW.
    #[schema(minimum = 1, example = 120000)]
    pub price: i64,
    pub status: SeatStatus,
}

/// The seats of one performance, by number.
#[derive(ToSchema, Serialize)]
pub struct SeatMap {
    #[schema(minimum = 1)]
    pub performance_id: i64,
    pub seats: Vec<Seat>,
}

/// A command was accepted (it is on Kafka); its outcome is decided by a worker.
#[derive(ToSchema, Serialize)]
pub struct Accepted {
    pub request_id: uuid::Uuid,
    #[schema(example = "pending")]
    pub status: String,
    /// Where to poll for the outcome: `/v1/requests/{request_id}`.
    pub status_url: String,
}

#[derive(ToSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Reserve,
    Pay,
}

#[derive(ToSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Succeeded,
    Rejected,
}

/// Why a worker rejected a command.
#[derive(ToSchema, Serialize, Debug, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectReason {
    /// The seat is held by someone (hold not expired) or sold.
    SeatTaken,
    /// The user already holds `MAX_HOLDS_PER_USER` seats.
    HoldLimit,
    ReservationNotFound,
    NotYourReservation,
    /// The hold ran out before the payment was applied.
    HoldExpired,
    AlreadyPaid,
    InsufficientBalance,
    /// The performance or seat does not exist.
    SeatNotFound,
    /// The token was no longer active when the command was applied.
    TokenNotActive,
    /// The command could not be decoded.
    InvalidCommand,
}

impl RejectReason {
    pub const ALL: [RejectReason; 10] = [
        Self::SeatTaken,
        Self::HoldLimit,
        Self::ReservationNotFound,
        Self::NotYourReservation,
        Self::HoldExpired,
        Self::AlreadyPaid,
        Self::InsufficientBalance,
        Self::SeatNotFound,
        Self::TokenNotActive,
        Self::InvalidCommand,
    ];
}

/// The `result` of a succeeded reserve.
#[derive(ToSchema, Serialize)]
pub struct ReserveResult {
    pub reservation_id: uuid::Uuid,
    pub performance_id: i64,
    #[schema(minimum = 1, maximum = 50)]
    pub seat_number: i16,
    pub price: i64,
    pub held_until: chrono::DateTime<chrono::Utc>,
}

/// The `result` of a succeeded payment.
#[derive(ToSchema, Serialize)]
pub struct PayResult {
    pub payment_id: uuid::Uuid,
    pub reservation_id: uuid::Uuid,
    pub amount: i64,
    pub paid_at: chrono::DateTime<chrono::Utc>,
    pub balance_after: i64,
}

#[derive(ToSchema, Serialize)]
#[serde(untagged)]
pub enum RequestResult {
    Reserve(ReserveResult),
    Pay(PayResult),
}

/// The outcome of a command.
#[derive(ToSchema, Serialize)]
pub struct RequestOutcome {
    pub request_id: uuid::Uuid,
    pub kind: RequestKind,
    pub status: RequestStatus,
    /// Set when `rejected`, else null.
    #[schema(required = true)]
    pub reason: Option<RejectReason>,
    /// Set when `succeeded` (a [`ReserveResult`] or a [`PayResult`] by `kind`), else null.
    #[schema(required = true)]
    pub result: Option<RequestResult>,
}

#[derive(ToSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Held,
    Paid,
    Expired,
}

#[derive(ToSchema, Serialize)]
pub struct Reservation {
    pub reservation_id: uuid::Uuid,
    pub performance_id: i64,
    #[schema(minimum = 1, maximum = 50)]
    pub seat_number: i16,
    pub price: i64,
    /// `expired` once `held_until` has passed unpaid.
    pub status: ReservationStatus,
    pub held_until: chrono::DateTime<chrono::Utc>,
}

#[derive(ToSchema, Serialize)]
pub struct Balance {
    pub user_id: uuid::Uuid,
    /// KRW, 0..=1,000,000,000.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub balance: i64,
}

#[derive(ToSchema, Serialize)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Whether each dependency answers.
#[derive(ToSchema, Serialize)]
pub struct Readiness {
    pub database: bool,
    pub broker: bool,
}

// ------------------------------------------------------------------ serving

/// `GET /openapi.json`
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "page",
    summary = "This OpenAPI document",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = serde_json::Value))
)]
pub async fn openapi_json() -> axum::Json<&'static Value> {
    axum::Json(document())
}

/// `GET /docs`: Swagger UI for this document, assets served from the crate.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "page",
    summary = "Swagger UI",
    responses((status = 200, description = "Swagger UI", content_type = "text/html", body = String))
)]
pub async fn swagger_ui() -> axum::response::Response {
    swagger_file("")
}

/// `GET /docs/{*file}`: the Swagger UI assets.
pub async fn swagger_asset(
    axum::extract::Path(file): axum::extract::Path<String>,
) -> axum::response::Response {
    swagger_file(&file)
}

fn swagger_file(file: &str) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    static CONFIG: OnceLock<std::sync::Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        std::sync::Arc::new(
            utoipa_swagger_ui::Config::from("/openapi.json")
                .try_it_out_enabled(true)
                .persist_authorization(true)
                .display_request_duration(true),
        )
    });
    match utoipa_swagger_ui::serve(file, config.clone()) {
        Ok(Some(found)) => {
            let mut bytes = found.bytes.into_owned();
            if !found.gzpipped && (file.is_empty() || file == "index.html") {
                // Served at /docs (no trailing slash): resolve the relative
                // asset links against /docs/.
                let html = String::from_utf8_lossy(&bytes).replacen(
                    "<head>",
                    "<head><base href=\"/docs/\">",
                    1,
                );
                bytes = html.into_bytes();
            }
            let mut response =
                ([(header::CONTENT_TYPE, found.content_type)], bytes).into_response();
            if found.gzpipped {
                response.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    axum::http::HeaderValue::from_static("gzip"),
                );
            }
            response
        }
        Ok(None) => crate::error::problem(StatusCode::NOT_FOUND, "NOT_FOUND", "no such file"),
        Err(e) => {
            tracing::error!(error = %e, "serving Swagger UI failed");
            crate::error::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "internal error",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// SPEC's endpoint table, verbatim.
    const SPEC_ENDPOINTS: &[(&str, &str)] = &[
        ("post", "/v1/users"),
        ("post", "/v1/queue/tokens"),
        ("get", "/v1/queue/status"),
        ("get", "/v1/concerts"),
        ("get", "/v1/concerts/{concert_id}/performances"),
        ("get", "/v1/performances/{performance_id}/seats"),
        ("post", "/v1/reservations"),
        ("post", "/v1/payments"),
        ("get", "/v1/requests/{request_id}"),
        ("get", "/v1/reservations"),
        ("get", "/v1/balance"),
        ("post", "/v1/balance/charges"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/"),
        ("get", "/openapi.json"),
        ("get", "/docs"),
    ];

    const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                if METHODS.contains(&method.as_str()) {
                    out.push((method.clone(), path.clone(), op.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_is_openapi_3_1_and_lists_exactly_the_spec_endpoints() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let documented: BTreeSet<(String, String)> = operations(doc)
            .into_iter()
            .map(|(m, p, _)| (m, p))
            .collect();
        let spec: BTreeSet<(String, String)> = SPEC_ENDPOINTS
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(
            documented.difference(&spec).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "documented but not in SPEC"
        );
        assert_eq!(
            spec.difference(&documented).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "in SPEC but not documented"
        );
    }

    #[test]
    fn every_operation_is_described_and_declares_its_path_parameters() {
        for (method, path, op) in operations(document()) {
            let what = format!("{method} {path}");
            assert!(op["summary"].is_string(), "{what} has no summary");
            assert!(op["tags"].is_array(), "{what} has no tag");
            let responses = op["responses"].as_object().cloned().unwrap_or_default();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{what} has no success response"
            );
            for response in responses.values() {
                assert!(
                    response["headers"]["x-request-id"].is_object(),
                    "{what}: a response lacks x-request-id"
                );
            }
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            let in_template: BTreeSet<String> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .map(str::to_owned)
                .collect();
            assert_eq!(declared, in_template, "{what}: path parameters");
        }
    }

    #[test]
    fn token_endpoints_name_the_bearer_scheme_and_their_token_errors() {
        let doc = document();
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        for (method, path, op) in operations(doc) {
            let secured = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get(BEARER).is_some()));
            let public = matches!(
                path.as_str(),
                "/v1/users"
                    | "/v1/concerts"
                    | "/healthz"
                    | "/readyz"
                    | "/metrics"
                    | "/"
                    | "/openapi.json"
                    | "/docs"
            );
            assert_eq!(secured, !public, "{method} {path}: security");
            if secured {
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path}: no 401"
                );
            }
        }
    }

    #[test]
    fn commands_and_charges_take_an_idempotency_key_and_long_polls_take_wait_ms() {
        let doc = document();
        let has_param = |method: &str, path: &str, name: &str, place: &str| {
            doc["paths"][path][method]["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == place))
        };
        for path in ["/v1/reservations", "/v1/payments", "/v1/balance/charges"] {
            assert!(
                has_param("post", path, "Idempotency-Key", "header"),
                "{path}"
            );
        }
        assert!(has_param(
            "get",
            "/v1/requests/{request_id}",
            "wait_ms",
            "query"
        ));
        let register = &doc["paths"]["/v1/users"]["post"]["requestBody"];
        assert_ne!(register["required"], true, "an empty body registers too");
        assert_eq!(
            register["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/RegisterRequest"
        );
        assert!(has_param(
            "get",
            "/v1/performances/{performance_id}/seats",
            "status",
            "query"
        ));
    }

    #[test]
    fn every_reference_resolves() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        out.push(r.clone());
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document();
        let mut found = Vec::new();
        refs(doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let pointer = r.strip_prefix('#').unwrap_or(&r);
            assert!(doc.pointer(pointer).is_some(), "dangling {r}");
        }
    }

    #[test]
    fn the_error_codes_are_every_code_the_api_source_answers_with() {
        // Every SCREAMING_SNAKE string literal in the API's handlers and
        // error type is a code; each must be in the document, and the
        // document must not list codes the API never answers.
        let sources = [
            include_str!("error.rs"),
            include_str!("edge.rs"),
            include_str!("auth.rs"),
            include_str!("extract.rs"),
            include_str!("routes/mod.rs"),
            include_str!("routes/users.rs"),
            include_str!("routes/queue.rs"),
            include_str!("routes/catalog.rs"),
            include_str!("routes/commands.rs"),
            include_str!("routes/balance.rs"),
        ];
        let mut in_source = BTreeSet::new();
        for source in sources {
            for literal in source.split('"').skip(1).step_by(2) {
                let is_code = literal.len() > 3
                    && literal.contains('_')
                    && literal.chars().all(|c| c.is_ascii_uppercase() || c == '_');
                if is_code {
                    in_source.insert(literal.to_owned());
                }
            }
        }
        let documented: BTreeSet<String> =
            ErrorCode::ALL.iter().map(|c| c.code().to_owned()).collect();
        assert_eq!(in_source, documented);
        let schema: BTreeSet<String> = document()["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        assert_eq!(schema, documented);
        for code in ErrorCode::ALL {
            let status = axum::http::StatusCode::from_u16(code.status());
            assert!(status.is_ok_and(|s| s.is_client_error() || s.is_server_error()));
        }
    }

    #[test]
    fn the_reject_reasons_are_the_domains() {
        let ours: Vec<String> = RejectReason::ALL
            .iter()
            .map(|r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            })
            .map(Option::unwrap_or_default)
            .collect();
        let domain: Vec<String> = domain::RejectReason::ALL
            .iter()
            .map(|r| r.code().to_owned())
            .collect();
        assert_eq!(ours, domain);
        let schema = &document()["components"]["schemas"]["RejectReason"]["enum"];
        assert_eq!(schema, &json!(domain));
    }
}
