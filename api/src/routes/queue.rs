use crate::arrivals::{self, Arrived, Entering};
use crate::auth::entry::EntryOf;
use crate::auth::{caller_of, user_key, Caller};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::extract::{uuid_id, JsonBody};
use crate::http::rate_limit::Limited;
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use domain::queue::{estimated_wait_seconds, QueueStatus};
use domain::wire::{EnterQueueRequest, QueueEntry, QueueStatusResponse};
use domain::{ConcertId, TokenId, UserId};
use std::net::SocketAddr;

/// `POST /v1/queue/tokens`: joins the line, or returns the live entry the
/// user already has (200, same token and place).
#[utoipa::path(
    post,
    path = "/v1/queue/tokens",
    tag = "queue",
    summary = "Enter the waiting room",
    request_body = EnterQueueRequest,
    security(("queue_token" = [])),
    responses(
        (status = 201, description = "A new place at the end of the line (or already active when there is room)", body = QueueEntry),
        (status = 200, description = "The user already has a live entry: the same token and place; re-entering never moves anyone", body = QueueEntry),
        crate::openapi::EnterErrors,
    )
)]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn enter(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<EnterQueueRequest>,
) -> Result<(StatusCode, Json<QueueEntry>), ApiError> {
    let client = state.limits.client_ip(peer.ip(), &headers);
    state.limits.check(Limited::QueueEntry, client)?;
    let user = UserId(uuid_id(&body.user_id, "user_id")?);
    tracing::Span::current().record("user_id", tracing::field::display(user));
    // The user's own key, not their id alone (SPEC "Tokens"): anyone may
    // know a user id; only its user has the key. Checked with the batch.
    let key = user_key(&headers).ok_or(ApiError::InvalidCredentials)?;
    if body.concert_id <= 0 {
        return Err(ApiError::Validation(
            "concert_id must be a positive integer".into(),
        ));
    }
    let entering = Entering {
        user,
        concert: ConcertId(body.concert_id),
        key_hash: key.hash(),
    };
    // Taken in a batch with concurrent arrivals (see `arrivals`); alone if
    // that batch failed, so the error is this request's own.
    let arrived = match state.arrivals.submit(entering).await {
        Some(arrived) => arrived,
        None => arrivals::arrive(&state.pool, &state.settings, &[entering])
            .await?
            .pop()
            .unwrap_or(Arrived::NoConcert),
    };
    let (code, at) = match arrived {
        Arrived::NoUser => {
            return Err(ApiError::not_found(
                ErrorCode::UserNotFound,
                format!("no user {user}"),
            ))
        }
        Arrived::WrongKey => return Err(ApiError::InvalidCredentials),
        Arrived::NoConcert => {
            return Err(ApiError::not_found(
                ErrorCode::ConcertNotFound,
                format!("no concert {}", entering.concert),
            ))
        }
        Arrived::Existing(at) => (StatusCode::OK, at),
        Arrived::New(at) => (StatusCode::CREATED, at),
    };
    let place = Place {
        status: at.status,
        position: at.position,
        sale_opens_at: at.sale_opens_at,
    };
    let body = entry_body(&state, user, entering.concert, at.token, place);
    Ok((code, Json(body)))
}

/// Where an entry stands, as its answers show it.
struct Place {
    status: QueueStatus,
    /// `None` in the pre-queue.
    position: Option<u64>,
    /// When the sale opens, while it has not.
    sale_opens_at: Option<DateTime<Utc>>,
}

fn entry_body(
    state: &AppState,
    user: UserId,
    concert: ConcertId,
    token_id: TokenId,
    place: Place,
) -> QueueEntry {
    QueueEntry {
        token: state.tokens.issue(&token_id),
        user_id: user.0,
        concert_id: concert.0,
        status: place.status,
        position: place.position,
        estimated_wait_seconds: wait_estimate(state, concert, &place),
        sale_opens_at: place.sale_opens_at,
    }
}

/// About how long until the entry is admitted: in the pre-queue, until the
/// sale opens; else from its position and the room's admission rate.
fn wait_estimate(state: &AppState, concert: ConcertId, place: &Place) -> u64 {
    if place.status != QueueStatus::Waiting {
        return 0;
    }
    let Some(position) = place.position else {
        let until = place
            .sale_opens_at
            .map(|at| (at - Utc::now()).num_seconds());
        return until.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
    };
    estimated_wait_seconds(
        position.saturating_sub(1),
        state.line.room(concert.0).admission_rate,
        state.settings.queue_active_capacity,
        Duration::seconds(i64::from(state.settings.active_token_ttl_seconds)),
    )
}

/// `GET /v1/queue/status`: the caller's place; polling keeps a waiting entry
/// alive.
#[utoipa::path(
    get,
    path = "/v1/queue/status",
    tag = "queue",
    summary = "The caller's place in the waiting room",
    params(("concert_id" = Option<i64>, Query, minimum = 1, description = "With a user key instead of a queue token: the room whose entry to show (default: the user's newest live entry)")),
    security(("queue_token" = [])),
    responses((status = 200, description = "Poll this (every few seconds) while waiting; a waiting entry that is not polled for QUEUE_IDLE_TIMEOUT_SECONDS is dropped", body = QueueStatusResponse), crate::openapi::QueueReadErrors)
)]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn status(
    State(state): State<AppState>,
    EntryOf(token_id): EntryOf,
) -> Result<Json<QueueStatusResponse>, ApiError> {
    current_status(&state, token_id).await.map(Json)
}

/// The status of the entry of `token_id` now, as a poll tells it; it keeps
/// a waiting entry from being dropped as idle.
async fn current_status(
    state: &AppState,
    token_id: TokenId,
) -> Result<QueueStatusResponse, ApiError> {
    // One read of the entry (batched with other requests'); the position
    // comes from this instance's index of the room (see `WaitingLine`).
    let caller = caller_of(token_id, state).await?;
    tracing::Span::current().record("user_id", tracing::field::display(caller.user_id));
    if caller.status == QueueStatus::Waiting {
        // Written with the other polls' marks, well inside the idle timeout.
        state.line.mark_seen(token_id);
    }
    Ok(status_of(state, &caller))
}

/// The status object of `caller`'s entry as just read, with its position
/// from this instance's index of the room.
pub(super) fn status_of(state: &AppState, caller: &Caller) -> QueueStatusResponse {
    let position = match caller.status {
        QueueStatus::Waiting if caller.entry.prequeue => None,
        QueueStatus::Waiting => Some(state.line.position(caller.concert_id.0, caller.seq)),
        _ => Some(0),
    };
    status_with(state, caller, position)
}

/// The status object of `caller`'s entry with `position` (as the index says
/// while the entry waits).
pub(super) fn status_with(
    state: &AppState,
    caller: &Caller,
    position: Option<u64>,
) -> QueueStatusResponse {
    let active_until = match caller.status {
        QueueStatus::Active => caller.entry.active_until,
        _ => None,
    };
    let place = Place {
        status: caller.status,
        position,
        sale_opens_at: caller.sale_opens_at,
    };
    status_body(
        state,
        caller.user_id,
        caller.concert_id,
        place,
        active_until,
    )
}

fn status_body(
    state: &AppState,
    user: UserId,
    concert: ConcertId,
    place: Place,
    active_until: Option<DateTime<Utc>>,
) -> QueueStatusResponse {
    QueueStatusResponse {
        user_id: user.0,
        concert_id: concert.0,
        status: place.status,
        position: place.position,
        ahead: place.position.map(|p| p.saturating_sub(1)),
        estimated_wait_seconds: wait_estimate(state, concert, &place),
        active_until,
        sale_opens_at: place.sale_opens_at,
    }
}
