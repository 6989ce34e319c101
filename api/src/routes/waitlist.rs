//! `POST` and `DELETE /v1/performances/{performance_id}/waitlist` (SPEC rule
//! 11): a place on a sold-out performance's waitlist, taken and given up
//! synchronously (no seat changes hands here; the offers are made by the
//! transactions that free seats).

use crate::auth::{ActiveToken, AnyCredential};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::extract::int_id;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use domain::waitlist::{decide_join, Join};
use domain::wire::WaitlistPlace;
use domain::PerformanceId;

/// `POST /v1/performances/{performance_id}/waitlist`: `201` with a new
/// place at the end of the list, `200` with the caller's place if they
/// already have one, `409 SEATS_AVAILABLE` while a seat can be reserved.
#[utoipa::path(
    post,
    path = "/v1/performances/{performance_id}/waitlist",
    tag = "waitlist",
    summary = "Wait for a seat of a sold-out performance (active token)",
    params(("performance_id" = i64, Path, description = "A performance id", minimum = 1)),
    security(("queue_token" = [])),
    responses(
        (status = 201, description = "A new place at the end of the list", body = WaitlistPlace),
        (status = 200, description = "The caller was already on the list: their place, unchanged", body = WaitlistPlace),
        crate::openapi::WaitlistJoinErrors,
    )
)]
#[tracing::instrument(skip_all, fields(performance_id = %raw, user_id = %caller.user_id))]
pub async fn join(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    ActiveToken(caller): ActiveToken,
) -> Result<(StatusCode, Json<WaitlistPlace>), ApiError> {
    let performance = PerformanceId(int_id(&raw, "performance_id")?);
    let concert = state.concert_of(performance).await?;
    caller.require_active_for(concert)?;
    let mut tx = state.pool.begin().await?;
    store::waitlist::lock_for_join(&mut tx, performance).await?;
    let place = store::waitlist::place_of(&mut tx, performance, caller.user_id).await?;
    let available = match place {
        Some(_) => 0,
        None => store::waitlist::available_seats(&mut tx, performance).await?,
    };
    let (status, position) = match (decide_join(place.is_some(), available), place) {
        (Join::AlreadyOn, Some(position)) => (StatusCode::OK, position),
        (Join::SeatsAvailable, _) => {
            return Err(ApiError::Conflict {
                code: ErrorCode::SeatsAvailable,
                detail: format!(
                    "performance {performance} has {available} seat(s) available: reserve one"
                ),
            })
        }
        _ => append(&mut tx, performance, caller.user_id).await?,
    };
    tx.commit().await?;
    Ok((
        status,
        Json(WaitlistPlace {
            performance_id: performance.0,
            position,
        }),
    ))
}

/// `DELETE /v1/performances/{performance_id}/waitlist`: `204`, whether or
/// not the caller was on the list. Any credential of the user may leave
/// (their turn in the waiting room may be over by then).
#[utoipa::path(
    delete,
    path = "/v1/performances/{performance_id}/waitlist",
    tag = "waitlist",
    summary = "Leave a performance's waitlist (the user's key or token)",
    params(("performance_id" = i64, Path, description = "A performance id", minimum = 1)),
    security(("queue_token" = [])),
    responses(
        (status = 204, description = "The caller is not on the list (any more)"),
        crate::openapi::WaitlistLeaveErrors,
    )
)]
#[tracing::instrument(skip_all, fields(performance_id = %raw, user_id = %caller.user_id))]
pub async fn leave(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    caller: AnyCredential,
) -> Result<StatusCode, ApiError> {
    let performance = PerformanceId(int_id(&raw, "performance_id")?);
    state.concert_of(performance).await?;
    store::waitlist::leave(&state.pool, performance, caller.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes `user`'s place at the end of the list: `201`, or `200` with the
/// place a concurrent join of the same user made first. A place can vanish
/// between the two only through a concurrent leave of that user; then the
/// join is tried again.
async fn append(
    tx: &mut store::Tx<'_>,
    performance: PerformanceId,
    user: domain::UserId,
) -> Result<(StatusCode, i64), ApiError> {
    for _ in 0..3 {
        if let Some(position) = store::waitlist::append(tx, performance, user).await? {
            return Ok((StatusCode::CREATED, position));
        }
        if let Some(position) = store::waitlist::place_of(tx, performance, user).await? {
            return Ok((StatusCode::OK, position));
        }
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "the waitlist place of {user} on {performance} kept changing"
    )))
}
