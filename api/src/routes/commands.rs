//! Reservation and payment commands, and their outcomes.

use crate::auth::{AnyCredential, AnyToken, Caller};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::extract::{uuid_id, IdempotencyKey, JsonBody};
use crate::idempotency::{self, body_hash};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use domain::checkout::{payable_with_any_token, CheckoutLine};
use domain::queue::QueueStatus;
use domain::wire::{Accepted, PayRequest, RequestOutcome, ReserveRequest};
use domain::{
    Command, CommandEnvelope, PerformanceId, RequestId, RequestKind, RequestStatus, ReservationId,
    SeatNumber, TokenId, UserId,
};
use std::collections::HashMap;
use std::time::Duration;
use store::requests::PendingRequest;

/// `POST /v1/reservations`: 202 once the reserve command is on Kafka.
///
/// The outcome (a hold until `held_until`, or `SEAT_TAKEN`, `HOLD_LIMIT`,
/// `SEAT_NOT_FOUND`, `TOKEN_NOT_ACTIVE`) is decided by a worker: poll
/// `status_url`.
#[utoipa::path(
    post,
    path = "/v1/reservations",
    tag = "commands",
    summary = "Hold a seat (active token)",
    params(crate::openapi::IdempotencyKeyHeader),
    request_body = ReserveRequest,
    security(("queue_token" = [])),
    responses((status = 202, description = "The reserve command is on Kafka; poll `status_url` for the outcome", body = Accepted), crate::openapi::ReserveErrors)
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn reserve(
    State(state): State<AppState>,
    AnyToken(caller): AnyToken,
    key: IdempotencyKey,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ReserveRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let hash = body_hash("reserve", &body);
    if let Some(original) =
        retried(&state, caller.user_id, RequestKind::Reserve, &key, &hash).await?
    {
        return Ok(original);
    }
    require_active(&caller)?;
    if body.performance_id <= 0 {
        return Err(ApiError::Validation(
            "performance_id must be a positive integer".into(),
        ));
    }
    let performance = PerformanceId(body.performance_id);
    let concert = state.concert_of(performance).await?;
    caller.require_active_for(concert)?;
    let command = Command::Reserve {
        performance_id: performance,
        seat_number: body.seat_number,
    };
    submit(
        &state,
        (caller.user_id, caller.token_id),
        key,
        &headers,
        command,
        hash,
    )
    .await
}

/// `POST /v1/payments`: 202 once the pay command is on Kafka, keyed by the
/// reservation's seat so it is ordered with that seat's holds.
///
/// The outcome (a payment, or `HOLD_EXPIRED`, `ALREADY_PAID`,
/// `INSUFFICIENT_BALANCE`, `RESERVATION_NOT_FOUND`, `NOT_YOUR_RESERVATION`,
/// `TOKEN_NOT_ACTIVE`) is decided by a worker: poll `status_url`. A paid
/// reservation expires the caller's token and releases their other holds.
/// Offers from the waitlist (and nothing else) may be paid with any of the
/// caller's tokens, active or not (rule 11).
#[utoipa::path(
    post,
    path = "/v1/payments",
    tag = "commands",
    summary = "Pay for held seats (active token; any token of the caller for waitlist offers)",
    params(crate::openapi::IdempotencyKeyHeader),
    request_body = PayRequest,
    security(("queue_token" = [])),
    responses((status = 202, description = "The pay command is on Kafka; poll `status_url` for the outcome", body = Accepted), crate::openapi::PayErrors)
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn pay(
    State(state): State<AppState>,
    AnyToken(caller): AnyToken,
    key: IdempotencyKey,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PayRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let hash = body_hash("pay", &body);
    if let Some(original) = retried(&state, caller.user_id, RequestKind::Pay, &key, &hash).await? {
        return Ok(original);
    }
    let reservations = reservations_to_pay(&body, state.settings.max_holds_per_user)?;
    // Offers from the waitlist alone may be paid with a token that is no
    // longer active (rule 11); anything else needs the concert's active
    // token, checked first as for every command.
    let mut found = Vec::with_capacity(reservations.len());
    for reservation in &reservations {
        found.push(store::holds::find(&state.pool, *reservation).await?);
    }
    // Someone else's reservation reads as no line: never payable so.
    let lines: Vec<Option<CheckoutLine>> = found
        .iter()
        .map(|r| {
            r.as_ref()
                .filter(|r| r.user_id == caller.user_id)
                .map(store::holds::Reservation::checkout_line)
        })
        .collect();
    let own_offers = payable_with_any_token(&lines);
    if !own_offers {
        require_active(&caller)?;
    }
    let mut first = None;
    for (reservation, found) in reservations.iter().zip(found) {
        let Some(found) = found else {
            return Err(ApiError::not_found(
                ErrorCode::ReservationNotFound,
                format!("no reservation {reservation}"),
            ));
        };
        if found.user_id != caller.user_id {
            return Err(ApiError::Forbidden {
                code: ErrorCode::NotYourReservation,
                detail: format!("reservation {reservation} belongs to another user"),
            });
        }
        if !own_offers {
            caller.require_active_for(found.concert_id)?;
        }
        first.get_or_insert(found);
    }
    let Some(first) = first else {
        return Err(ApiError::Validation("name at least one reservation".into()));
    };
    let seat_number = SeatNumber::parse(i64::from(first.seat_number))
        .map_err(|e| ApiError::Internal(e.into()))?;
    // Keyed by the first seat; the worker locks every one.
    let command = Command::Pay {
        reservation_id: first.reservation_id,
        performance_id: first.performance_id,
        seat_number,
        reservation_ids: if body.reservation_ids.is_some() {
            reservations
        } else {
            Vec::new()
        },
    };
    submit(
        &state,
        (caller.user_id, caller.token_id),
        key,
        &headers,
        command,
        hash,
    )
    .await
}

/// The reservations a payment names: `reservation_id`, or 1..=`max`
/// distinct `reservation_ids` (exactly one of the two).
fn reservations_to_pay(body: &PayRequest, max: u32) -> Result<Vec<ReservationId>, ApiError> {
    match (&body.reservation_id, &body.reservation_ids) {
        (Some(one), None) => Ok(vec![ReservationId(uuid_id(one, "reservation_id")?)]),
        (None, Some(many)) => {
            if many.is_empty() || many.len() > max as usize {
                return Err(ApiError::Validation(format!(
                    "reservation_ids must name 1..={max} reservations (MAX_HOLDS_PER_USER), got {}",
                    many.len()
                )));
            }
            let mut ids = Vec::with_capacity(many.len());
            for (i, raw) in many.iter().enumerate() {
                let id = ReservationId(uuid_id(raw, &format!("reservation_ids[{i}]"))?);
                if ids.contains(&id) {
                    return Err(ApiError::Validation(format!(
                        "reservation_ids[{i}] repeats reservation {id}"
                    )));
                }
                ids.push(id);
            }
            Ok(ids)
        }
        _ => Err(ApiError::Validation(
            "send exactly one of reservation_id and reservation_ids".into(),
        )),
    }
}

/// The original `202` of a command retried with its `Idempotency-Key`,
/// answered before the token is checked: a payment expires the token that
/// made it (see [`idempotency`]).
pub(super) async fn retried(
    state: &AppState,
    user: UserId,
    kind: RequestKind,
    key: &IdempotencyKey,
    hash: &str,
) -> Result<Option<(StatusCode, Json<Accepted>)>, ApiError> {
    let key = key.0.as_deref();
    let earlier = idempotency::accepted_before(state, user, kind, key, hash).await?;
    Ok(earlier.map(accepted))
}

/// Commands need an active token (SPEC rule 2).
fn require_active(caller: &Caller) -> Result<(), ApiError> {
    if caller.status == QueueStatus::Active {
        Ok(())
    } else {
        Err(ApiError::TokenNotActive)
    }
}

/// Publishes a command and records it as pending. Kafka first: if the broker
/// refuses, nothing is recorded (SPEC rule 9); if the API dies after
/// publishing, the worker records the outcome anyway. `sender` is the user
/// and the token the command was sent with (the worker re-checks that token
/// for the commands that need an active one).
pub(super) async fn submit(
    state: &AppState,
    (user, token): (UserId, TokenId),
    key: IdempotencyKey,
    headers: &HeaderMap,
    command: Command,
    hash: String,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let kind = command.kind();
    let request_id = idempotency::command_id(user, kind, key.0.as_deref());
    let trace_id = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    let envelope = CommandEnvelope::new(request_id, user, token, command)
        .with_trace_id(trace_id)
        .with_body_hash(key.0.is_some().then(|| hash.clone()));
    state
        .publisher
        .publish(&envelope)
        .await
        .map_err(ApiError::BrokerUnavailable)?;
    let row = PendingRequest {
        request_id,
        user_id: user,
        kind,
        body_hash: hash,
    };
    idempotency::record_accepted(state, row).await?;
    Ok(accepted(request_id))
}

fn accepted(request_id: RequestId) -> (StatusCode, Json<Accepted>) {
    (StatusCode::ACCEPTED, Json(Accepted::pending(request_id.0)))
}

/// The longest `wait_ms` a client may ask for.
pub const MAX_WAIT_MS: u64 = 10_000;
/// Long polls re-read now and then in case a notification was lost.
const RECHECK: Duration = Duration::from_secs(1);

/// `GET /v1/requests/{id}[?wait_ms=N]`: the outcome; with `wait_ms`, held
/// until the status is final or N ms pass.
#[utoipa::path(
    get,
    path = "/v1/requests/{request_id}",
    tag = "commands",
    summary = "The outcome of a command (the same user's token)",
    params(("request_id" = uuid::Uuid, Path, description = "The `request_id` of a 202 answer"), crate::openapi::WaitMsQuery),
    security(("queue_token" = [])),
    responses((status = 200, description = "`pending`, or final: `succeeded` with a `result`, `rejected` with a `reason`", body = RequestOutcome), crate::openapi::RequestErrors)
)]
#[tracing::instrument(skip_all, fields(request_id = %raw))]
pub async fn request_status(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    caller: AnyCredential,
) -> Result<Json<RequestOutcome>, ApiError> {
    let id = RequestId(uuid_id(&raw, "request_id")?);
    let Query(query) = query.map_err(|e| ApiError::Validation(e.body_text()))?;
    let wait_ms = match query.get("wait_ms") {
        None => 0,
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_WAIT_MS)
            .ok_or_else(|| {
                ApiError::Validation(format!("wait_ms must be 0..={MAX_WAIT_MS}, got {s:?}"))
            })?,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
    let waiter = state.notifier.register(id.0);
    loop {
        // Arm the notification before reading, so one that arrives between
        // the read and the wait is not missed.
        let notified = waiter.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let view = read_request(&state, id, &caller).await?;
        let pending = view.status == RequestStatus::Pending;
        let now = tokio::time::Instant::now();
        if !pending || now >= deadline {
            return Ok(Json(view));
        }
        let _ = tokio::time::timeout((deadline - now).min(RECHECK), notified).await;
    }
}

async fn read_request(
    state: &AppState,
    id: RequestId,
    caller: &AnyCredential,
) -> Result<RequestOutcome, ApiError> {
    let request = store::requests::read(&state.pool, id).await?;
    // Another user's request reads as unknown: its existence is not theirs to learn.
    let Some(request) = request.filter(|r| r.user_id == caller.user_id) else {
        return Err(ApiError::not_found(
            ErrorCode::RequestNotFound,
            format!("no request {id}"),
        ));
    };
    Ok(RequestOutcome {
        request_id: id.0,
        kind: request.kind,
        status: request.status,
        reason: request.reason,
        result: request.result,
    })
}
