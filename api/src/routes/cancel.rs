//! `POST /v1/reservations/{reservation_id}/cancel` (SPEC rule 10): releases
//! a hold, or refunds a paid seat before the cutoff. A command keyed by the
//! reservation's seat, so it is applied in order with that seat's holds and
//! payments; the worker decides it.

use super::commands::{retried, submit};
use crate::auth::AnyCredential;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::extract::{uuid_id, IdempotencyKey};
use crate::idempotency::body_hash;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use domain::wire::Accepted;
use domain::{Command, RequestKind, ReservationId, SeatNumber, TokenId};

/// `POST /v1/reservations/{reservation_id}/cancel`: 202 once the cancel
/// command is on Kafka.
///
/// The outcome (the hold released, or the seat refunded, or
/// `ALREADY_CANCELLED`, `REFUND_CLOSED`, `HOLD_EXPIRED`, `BALANCE_LIMIT`,
/// `RESERVATION_NOT_FOUND`, `NOT_YOUR_RESERVATION`) is decided by a worker:
/// poll `status_url`. Any credential of the reservation's owner sends it:
/// their key or any of their queue tokens, active or not.
#[utoipa::path(
    post,
    path = "/v1/reservations/{reservation_id}/cancel",
    tag = "commands",
    summary = "Release a hold, or cancel a paid seat with a refund (the owner's key or token)",
    params(
        ("reservation_id" = uuid::Uuid, Path, description = "The reservation to cancel"),
        crate::openapi::IdempotencyKeyHeader,
    ),
    security(("queue_token" = [])),
    responses((status = 202, description = "The cancel command is on Kafka; poll `status_url` for the outcome: a `CancelResult`, or a rejection", body = Accepted), crate::openapi::CancelErrors)
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    caller: AnyCredential,
    key: IdempotencyKey,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let reservation = ReservationId(uuid_id(&raw, "reservation_id")?);
    let hash = body_hash("cancel", &reservation.0);
    let user = caller.user_id;
    if let Some(original) = retried(&state, user, RequestKind::Cancel, &key, &hash).await? {
        return Ok(original);
    }
    let Some(found) = store::holds::find(&state.pool, reservation).await? else {
        return Err(ApiError::not_found(
            ErrorCode::ReservationNotFound,
            format!("no reservation {reservation}"),
        ));
    };
    if found.user_id != user {
        return Err(ApiError::Forbidden {
            code: ErrorCode::NotYourReservation,
            detail: format!("reservation {reservation} belongs to another user"),
        });
    }
    let seat_number = SeatNumber::parse(i64::from(found.seat_number))
        .map_err(|e| ApiError::Internal(e.into()))?;
    let command = Command::Cancel {
        reservation_id: reservation,
        performance_id: found.performance_id,
        seat_number,
    };
    // No token to re-check: the worker checks the owner instead.
    let sender = (user, TokenId(uuid::Uuid::nil()));
    submit(&state, sender, key, &headers, command, hash).await
}
