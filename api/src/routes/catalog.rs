use crate::auth::{ActiveToken, AnyCredential};
use crate::error::{ApiError, ErrorCode};
use crate::extract::int_id;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::rules::{SeatState, SeatStatus, StoredReservation};
use domain::wire::{Concert, Performance, Reservation, Seat, SeatMap};
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
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("select concert_id, title, artist from concerts order by concert_id")
            .fetch_all(&state.pool)
            .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(concert_id, title, artist)| Concert {
                concert_id,
                title,
                artist,
            })
            .collect(),
    ))
}

/// `GET /v1/concerts/{id}/performances`: the bookable dates, future ones
/// with at least one available seat.
#[utoipa::path(
    get,
    path = "/v1/concerts/{concert_id}/performances",
    tag = "catalog",
    summary = "The bookable dates of a concert (active token)",
    params(("concert_id" = i64, Path, description = "A concert id", minimum = 1)),
    security(("queue_token" = [])),
    responses((status = 200, description = "Future performances with at least one available seat, earliest first", body = Vec<Performance>), crate::openapi::PerformancesErrors)
)]
#[tracing::instrument(skip_all, fields(concert_id = %raw))]
pub async fn performances(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    ActiveToken(_caller): ActiveToken,
) -> Result<Json<Vec<Performance>>, ApiError> {
    let concert = int_id(&raw, "concert_id")?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from concerts where concert_id = $1)")
            .bind(concert)
            .fetch_one(&state.pool)
            .await?;
    if !exists {
        return Err(ApiError::not_found(
            ErrorCode::ConcertNotFound,
            format!("no concert {concert}"),
        ));
    }
    let rows: Vec<(i64, DateTime<Utc>, i32, i64)> = sqlx::query_as(
        "select p.performance_id, p.starts_at, p.total_seats,
                count(*) filter (where not s.sold and (s.held_until is null or s.held_until <= now()))
           from performances p join seats s using (performance_id)
          where p.concert_id = $1 and p.starts_at > now()
          group by p.performance_id
         having count(*) filter (where not s.sold and (s.held_until is null or s.held_until <= now())) > 0
          order by p.starts_at, p.performance_id",
    )
    .bind(concert)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(id, starts_at, total, available)| Performance {
                performance_id: id,
                concert_id: concert,
                starts_at,
                total_seats: total,
                available_seats: available,
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
    ActiveToken(_caller): ActiveToken,
) -> Result<Json<SeatMap>, ApiError> {
    let performance = int_id(&raw, "performance_id")?;
    let Query(query) = query.map_err(|e| ApiError::Validation(e.body_text()))?;
    let filter = match query.get("status") {
        None => None,
        Some(s) => Some(SeatStatus::parse(s).ok_or_else(|| {
            ApiError::Validation(format!("status must be available, held or sold, got {s:?}"))
        })?),
    };
    type Row = (i16, i64, bool, Option<DateTime<Utc>>, DateTime<Utc>);
    let rows: Vec<Row> = sqlx::query_as(
        "select seat_number, price, sold, held_until, now() from seats
          where performance_id = $1 order by seat_number",
    )
    .bind(performance)
    .fetch_all(&state.pool)
    .await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(
            ErrorCode::PerformanceNotFound,
            format!("no performance {performance}"),
        ));
    }
    let seats: Vec<Seat> = rows
        .into_iter()
        .filter_map(|(number, price, sold, held_until, now)| {
            let status = SeatState { sold, held_until }.status(now);
            filter.is_none_or(|f| f == status).then_some(Seat {
                seat_number: number,
                price,
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
    type Row = (uuid::Uuid, i64, i16, i64, String, DateTime<Utc>);
    let rows: Vec<Row> = sqlx::query_as(
        "select reservation_id, performance_id, seat_number, price, status, held_until
           from reservations where user_id = $1 order by created_at desc, reservation_id",
    )
    .bind(caller.user_id.0)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(id, performance, seat, price, status, held_until)| {
                let status = StoredReservation::parse(&status)
                    .unwrap_or(StoredReservation::Expired)
                    .visible(held_until, caller.now);
                Reservation {
                    reservation_id: id,
                    performance_id: performance,
                    seat_number: seat,
                    price,
                    status,
                    held_until,
                }
            })
            .collect(),
    ))
}
