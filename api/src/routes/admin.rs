//! The admin endpoints (SPEC "admin" token): making concerts and
//! performances, changing a sale's opening or room size, and a
//! performance's report. They write synchronously, in one transaction
//! each, never through Kafka: no seat command can concern a concert or
//! performance before it exists. The rules are [`domain::catalog`]'s.

use crate::auth::admin::Admin;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::extract::{int_id, JsonBody};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use domain::catalog::{
    check_new_opening, check_performance_start, parse_time, Name, QueueCapacity, SeatPrices,
};
use domain::wire::{
    AdminConcert, AdminPerformance, ConcertChanges, NewConcertRequest, NewPerformanceRequest,
    PerformanceReport,
};
use domain::{ConcertId, InvalidValue, PerformanceId};
use store::catalog::{NewConcert, NewPerformance};

/// A rule's refusal as the `400` that names the field.
fn invalid(e: InvalidValue) -> ApiError {
    ApiError::Validation(e.0)
}

/// An optional RFC 3339 time of a body.
fn optional_time(
    field: &str,
    raw: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    raw.map(|t| parse_time(field, t))
        .transpose()
        .map_err(invalid)
}

fn concert_not_found(id: ConcertId) -> ApiError {
    ApiError::not_found(ErrorCode::ConcertNotFound, format!("no concert {}", id.0))
}

/// `POST /v1/admin/concerts`: a concert and its waiting room.
#[utoipa::path(
    post,
    path = "/v1/admin/concerts",
    tag = "admin",
    summary = "Make a concert (admin)",
    request_body = NewConcertRequest,
    security(("admin" = [])),
    responses((status = 201, description = "The concert, with its waiting room", body = AdminConcert), crate::openapi::AdminConcertErrors)
)]
#[tracing::instrument(skip_all)]
pub async fn create_concert(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewConcertRequest>,
) -> Result<(StatusCode, Json<AdminConcert>), ApiError> {
    let title = Name::parse("title", &body.title).map_err(invalid)?;
    let artist = Name::parse("artist", &body.artist).map_err(invalid)?;
    let sale_opens_at = optional_time("sale_opens_at", body.sale_opens_at.as_deref())?;
    let capacity = body
        .queue_capacity
        .map(QueueCapacity::parse)
        .transpose()
        .map_err(invalid)?;
    let new = NewConcert {
        title: title.as_str(),
        artist: artist.as_str(),
        sale_opens_at,
        queue_capacity: capacity.map(QueueCapacity::get),
    };
    let mut conn = state.pool.acquire().await?;
    let id = store::catalog::add_concert(&mut conn, &new).await?;
    tracing::info!(concert_id = id.0, "admin made a concert");
    let queue_capacity = capacity.map_or(state.settings.queue_active_capacity, QueueCapacity::get);
    Ok((
        StatusCode::CREATED,
        Json(AdminConcert {
            concert_id: id.0,
            title: title.as_str().to_owned(),
            artist: artist.as_str().to_owned(),
            sale_opens_at,
            queue_capacity: i64::from(queue_capacity),
        }),
    ))
}

/// `PATCH /v1/admin/concerts/{concert_id}`: a new opening (only before the
/// sale opens) and/or a new room size.
#[utoipa::path(
    patch,
    path = "/v1/admin/concerts/{concert_id}",
    tag = "admin",
    summary = "Change a concert's sale opening or room size (admin)",
    params(("concert_id" = i64, Path, description = "A concert id", minimum = 1)),
    request_body = ConcertChanges,
    security(("admin" = [])),
    responses((status = 200, description = "The concert as changed", body = AdminConcert), crate::openapi::AdminChangeConcertErrors)
)]
#[tracing::instrument(skip_all, fields(concert_id = %raw))]
pub async fn update_concert(
    _: Admin,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<ConcertChanges>,
) -> Result<Json<AdminConcert>, ApiError> {
    let concert = ConcertId(int_id(&raw, "concert_id")?);
    let opening = optional_time("sale_opens_at", body.sale_opens_at.as_deref())?;
    let capacity = body
        .queue_capacity
        .map(QueueCapacity::parse)
        .transpose()
        .map_err(invalid)?;
    if opening.is_none() && capacity.is_none() {
        return Err(ApiError::Validation(
            "nothing to change: give sale_opens_at, queue_capacity or both".into(),
        ));
    }
    let mut tx = state.pool.begin().await?;
    let schedule = store::admin::lock_schedule(&mut tx, concert)
        .await?
        .ok_or_else(|| concert_not_found(concert))?;
    if let Some(at) = opening {
        if schedule.on_sale {
            return Err(ApiError::Conflict {
                code: ErrorCode::SaleAlreadyOpen,
                detail: format!(
                    "concert {}'s sale has opened; sale_opens_at can change only before it opens",
                    concert.0
                ),
            });
        }
        check_new_opening(at, schedule.first_performance, schedule.now).map_err(invalid)?;
    }
    store::admin::update_concert(&mut tx, concert, opening, capacity.map(QueueCapacity::get))
        .await?;
    tx.commit().await?;
    tracing::info!(concert_id = concert.0, "admin changed a concert");
    let queue_capacity = capacity
        .map(|c| i64::from(c.get()))
        .or(schedule.queue_capacity.map(i64::from))
        .unwrap_or(i64::from(state.settings.queue_active_capacity));
    Ok(Json(AdminConcert {
        concert_id: concert.0,
        title: schedule.title,
        artist: schedule.artist,
        sale_opens_at: opening.or(schedule.sale_opens_at),
        queue_capacity,
    }))
}

/// `POST /v1/admin/concerts/{concert_id}/performances`: a date with its
/// seats, priced by ranges.
#[utoipa::path(
    post,
    path = "/v1/admin/concerts/{concert_id}/performances",
    tag = "admin",
    summary = "Add a performance with its seat prices (admin)",
    params(("concert_id" = i64, Path, description = "A concert id", minimum = 1)),
    request_body = NewPerformanceRequest,
    security(("admin" = [])),
    responses((status = 201, description = "The performance, its seats priced", body = AdminPerformance), crate::openapi::AdminPerformanceErrors)
)]
#[tracing::instrument(skip_all, fields(concert_id = %raw))]
pub async fn add_performance(
    _: Admin,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<NewPerformanceRequest>,
) -> Result<(StatusCode, Json<AdminPerformance>), ApiError> {
    let concert = ConcertId(int_id(&raw, "concert_id")?);
    let starts_at = parse_time("starts_at", &body.starts_at).map_err(invalid)?;
    let prices = SeatPrices::from_ranges(body.total_seats, &body.prices)
        .map_err(invalid)?
        .into_vec();
    let total_seats = i32::try_from(prices.len())
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("{} seats", prices.len())))?;
    let mut tx = state.pool.begin().await?;
    // Under the concert's lock, so its opening cannot move past this date
    // while it is added.
    let schedule = store::admin::lock_schedule(&mut tx, concert)
        .await?
        .ok_or_else(|| concert_not_found(concert))?;
    check_performance_start(starts_at, schedule.sale_opens_at, schedule.now).map_err(invalid)?;
    let made = NewPerformance { starts_at, prices };
    let ids = store::catalog::add_performances(&mut tx, concert, &[made]).await?;
    let performance = ids
        .first()
        .copied()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no performance was made")))?;
    tx.commit().await?;
    // This instance knows it at once; the others look it up on first use.
    state.performances.remember(performance, concert);
    tracing::info!(
        concert_id = concert.0,
        performance_id = performance.0,
        "admin added a performance"
    );
    Ok((
        StatusCode::CREATED,
        Json(AdminPerformance {
            performance_id: performance.0,
            concert_id: concert.0,
            starts_at,
            total_seats,
        }),
    ))
}

/// `GET /v1/admin/performances/{performance_id}/report`
#[utoipa::path(
    get,
    path = "/v1/admin/performances/{performance_id}/report",
    tag = "admin",
    summary = "Seat counts and money of a performance (admin)",
    params(("performance_id" = i64, Path, description = "A performance id", minimum = 1)),
    security(("admin" = [])),
    responses((status = 200, description = "Seats available, held and sold now; revenue (paid, not refunded) and refunds in KRW; `waitlist` the users on its waitlist", body = PerformanceReport), crate::openapi::AdminReportErrors)
)]
#[tracing::instrument(skip_all, fields(performance_id = %raw))]
pub async fn report(
    _: Admin,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<PerformanceReport>, ApiError> {
    let performance = PerformanceId(int_id(&raw, "performance_id")?);
    let report = store::admin::report(&state.pool, performance)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::PerformanceNotFound,
                format!("no performance {}", performance.0),
            )
        })?;
    Ok(Json(PerformanceReport {
        performance_id: performance.0,
        available: report.available,
        held: report.held,
        sold: report.sold,
        revenue: report.revenue,
        refunded: report.refunded,
        waitlist: report.waitlist,
    }))
}
