use crate::auth::{ActiveToken, AnyCredential};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::extract::int_id;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use domain::rules::{SeatState, SeatStatus};
use domain::waitlist;
use domain::wire::{Concert, Performance, Reservation, Seat, SeatMap};
use domain::{ConcertId, PerformanceId};
use std::collections::HashMap;

/// `GET /v1/concerts`
#[utoipa::path(
    get,
    path = "/v1/concerts",
    tag = "catalog",
    summary = "All concerts",
    responses((status = 200, description = "Every concert, by id", body = Vec<Concert>), crate::openapi::PublicReadErrors)
)]
#[tracing::instrument(skip_all)]
pub async fn concerts(State(state): State<AppState>) -> Result<Json<Vec<Concert>>, ApiError> {
    let concerts = store::catalog::concerts(&state.pool).await?;
    Ok(Json(
        concerts
            .into_iter()
            .map(|c| Concert {
                concert_id: c.concert_id.0,
                title: c.title,
                artist: c.artist,
                sale_opens_at: c.sale_opens_at,
            })
            .collect(),
    ))
}

/// `GET /v1/concerts/{id}/performances[?include_sold_out=true]`: the
/// bookable dates, future ones with at least one available seat; with
/// `include_sold_out=true` (not in SPEC: the page's way to offer the
/// waitlist) every future date, sold-out ones with `available_seats` 0.
#[utoipa::path(
    get,
    path = "/v1/concerts/{concert_id}/performances",
    tag = "catalog",
    summary = "The bookable dates of a concert (active token)",
    params(("concert_id" = i64, Path, description = "A concert id", minimum = 1), crate::openapi::SoldOutQuery),
    security(("queue_token" = [])),
    responses((status = 200, description = "Future performances with at least one available seat (or every future one with `include_sold_out=true`), earliest first", body = Vec<Performance>), crate::openapi::PerformancesErrors)
)]
#[tracing::instrument(skip_all, fields(concert_id = %raw))]
pub async fn performances(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    ActiveToken(caller): ActiveToken,
) -> Result<Json<Vec<Performance>>, ApiError> {
    let concert = int_id(&raw, "concert_id")?;
    let Query(query) = query.map_err(|e| ApiError::Validation(e.body_text()))?;
    let sold_out_too = match query.get("include_sold_out").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::Validation(format!(
                "include_sold_out must be true or false, got {other:?}"
            )))
        }
    };
    if !store::catalog::concert_exists(&state.pool, ConcertId(concert)).await? {
        return Err(ApiError::not_found(
            ErrorCode::ConcertNotFound,
            format!("no concert {concert}"),
        ));
    }
    caller.require_active_for(ConcertId(concert))?;
    let rows = store::catalog::bookable_performances(&state.pool, ConcertId(concert), sold_out_too)
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|p| Performance {
                performance_id: p.performance_id.0,
                concert_id: concert,
                starts_at: p.starts_at,
                total_seats: p.total_seats,
                available_seats: p.available_seats,
            })
            .collect(),
    ))
}

/// `GET /v1/performances/{id}/seats[?status=available|held|sold]`
#[utoipa::path(
    get,
    path = "/v1/performances/{performance_id}/seats",
    tag = "catalog",
    summary = "The seat map of a performance (active token)",
    params(("performance_id" = i64, Path, description = "A performance id", minimum = 1), crate::openapi::SeatStatusQuery),
    security(("queue_token" = [])),
    responses((status = 200, description = "All 50 seats by number (or those with `?status=`)", body = SeatMap), crate::openapi::SeatsErrors)
)]
#[tracing::instrument(skip_all, fields(performance_id = %raw))]
pub async fn seats(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    ActiveToken(caller): ActiveToken,
) -> Result<Json<SeatMap>, ApiError> {
    let performance = int_id(&raw, "performance_id")?;
    let Query(query) = query.map_err(|e| ApiError::Validation(e.body_text()))?;
    let filter = match query.get("status") {
        None => None,
        Some(s) => Some(SeatStatus::parse(s).ok_or_else(|| {
            ApiError::Validation(format!("status must be available, held or sold, got {s:?}"))
        })?),
    };
    let concert = state.concert_of(PerformanceId(performance)).await?;
    caller.require_active_for(concert)?;
    let rows = store::catalog::seats(&state.pool, PerformanceId(performance)).await?;
    let seats: Vec<Seat> = rows
        .into_iter()
        .filter_map(|seat| {
            let state = SeatState {
                sold: seat.sold,
                held_until: seat.held_until,
            };
            let status = waitlist::seat_status(state, seat.waitlisted, seat.now);
            filter.is_none_or(|f| f == status).then_some(Seat {
                seat_number: seat.seat_number,
                price: seat.price,
                status,
            })
        })
        .collect();
    Ok(Json(SeatMap {
        performance_id: performance,
        seats,
    }))
}

/// `GET /v1/reservations`: the caller's own, newest first.
#[utoipa::path(
    get,
    path = "/v1/reservations",
    tag = "commands",
    summary = "The caller's reservations",
    security(("queue_token" = [])),
    responses((status = 200, description = "The caller's own reservations, newest first", body = Vec<Reservation>), crate::openapi::AnyTokenErrors)
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn my_reservations(
    State(state): State<AppState>,
    caller: AnyCredential,
) -> Result<Json<Vec<Reservation>>, ApiError> {
    let reservations = store::holds::of_user(&state.pool, caller.user_id).await?;
    Ok(Json(
        reservations
            .into_iter()
            .map(|r| Reservation {
                reservation_id: r.reservation_id.0,
                performance_id: r.performance_id.0,
                seat_number: r.seat_number,
                price: r.price,
                status: r.status.visible(r.held_until, caller.now),
                held_until: r.held_until,
                offer: r.offer,
            })
            .collect(),
    ))
}
