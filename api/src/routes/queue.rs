use crate::auth::{caller_of, user_key, VerifiedToken};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::extract::{uuid_id, JsonBody};
use crate::http::rate_limit::Limited;
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Duration;
use domain::queue::{estimated_wait_seconds, QueueStatus};
use domain::wire::{EnterQueueRequest, QueueEntry, QueueStatusResponse};
use domain::{TokenId, UserId};
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
    // know a user id; only its user has the key.
    let key = user_key(&headers).ok_or(ApiError::InvalidCredentials)?;
    let Some(stored) = store::users::key_hash_of(&state.pool, user).await? else {
        return Err(ApiError::not_found(
            ErrorCode::UserNotFound,
            format!("no user {user}"),
        ));
    };
    // Digests of 244-bit random keys: comparing them reveals nothing useful,
    // but compare in constant time anyway.
    let matches = stored.is_some_and(|h| constant_time_eq(&h, &key.hash()));
    if !matches {
        return Err(ApiError::InvalidCredentials);
    }
    let idle = Duration::seconds(i64::from(state.settings.queue_idle_timeout_seconds));
    let mut tx = state.pool.begin().await?;
    // One row lock orders every arrival: seq is gap-free and positions exact.
    let counters = store::queue::lock_counters(&mut tx).await?;
    let mut dropped = counters.dropped_total;
    if let Some(row) = store::queue::live_entry_of(&mut tx, user).await? {
        let (seq, entry) = (row.seq, row.entry());
        let visible = entry.visible_status(row.now, idle);
        if visible != QueueStatus::Expired {
            // Re-entering is rare next to polling: count exactly, so every
            // answer to a user who re-enters names the same place.
            let position = match visible {
                QueueStatus::Waiting => store::queue::waiting_ahead_of(&mut tx, seq).await? + 1,
                _ => 0,
            };
            tx.commit().await?;
            return Ok((
                StatusCode::OK,
                Json(entry_body(
                    &state,
                    user,
                    TokenId(row.token_id),
                    visible,
                    position,
                )),
            ));
        }
        // The old entry ran out; it is closed here so the user can rejoin.
        store::queue::expire_entry(&mut tx, seq).await?;
        if entry.status == QueueStatus::Waiting {
            dropped += 1;
        }
    }
    let seq = counters.last_seq + 1;
    let token_id = TokenId::new();
    store::queue::append(&mut tx, seq, token_id, user, dropped).await?;
    tx.commit().await?;
    let position = u64::try_from(seq - counters.admitted_total - dropped)
        .unwrap_or(1)
        .max(1);
    // Admit at once when there is room, unless an admission is under way.
    let admitted_now = store::queue::admit(&state.pool, &state.settings, false)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "opportunistic admission failed; the workers will admit");
            0
        });
    let mut status = QueueStatus::Waiting;
    if admitted_now > 0 {
        status = store::queue::status_of(&state.pool, seq).await?;
    }
    let position = if status == QueueStatus::Waiting {
        position
    } else {
        0
    };
    Ok((
        StatusCode::CREATED,
        Json(entry_body(&state, user, token_id, status, position)),
    ))
}

fn entry_body(
    state: &AppState,
    user: UserId,
    token_id: TokenId,
    status: QueueStatus,
    position: u64,
) -> QueueEntry {
    QueueEntry {
        token: state.tokens.issue(&token_id),
        user_id: user.0,
        status,
        position,
        estimated_wait_seconds: wait_estimate(state, position),
    }
}

fn wait_estimate(state: &AppState, position: u64) -> u64 {
    if position == 0 {
        return 0;
    }
    estimated_wait_seconds(
        position - 1,
        state.line.snapshot().admission_rate,
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
    security(("queue_token" = [])),
    responses((status = 200, description = "Poll this (every few seconds) while waiting; a waiting entry that is not polled for QUEUE_IDLE_TIMEOUT_SECONDS is dropped", body = QueueStatusResponse), crate::openapi::AnyTokenErrors)
)]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn status(
    State(state): State<AppState>,
    VerifiedToken(token_id): VerifiedToken,
) -> Result<Json<QueueStatusResponse>, ApiError> {
    // Most polls come from waiting entries: answered from the line snapshot,
    // with no database round trip (see `WaitingLine::fresh`).
    if let Some((entry, position)) = state.line.fresh(&token_id) {
        tracing::Span::current().record("user_id", tracing::field::display(entry.user_id));
        state.line.mark_seen(entry.seq);
        return Ok(Json(status_body(
            &state,
            UserId(entry.user_id),
            QueueStatus::Waiting,
            position,
            None,
        )));
    }
    let caller = caller_of(token_id, &state).await?;
    tracing::Span::current().record("user_id", tracing::field::display(caller.user_id));
    if caller.status == QueueStatus::Waiting {
        // Written with the other polls' marks, well inside the idle timeout.
        state.line.mark_seen(caller.seq);
    }
    let position = match caller.status {
        QueueStatus::Waiting => state.line.position(caller.seq),
        _ => 0,
    };
    let active_until = match caller.status {
        QueueStatus::Active => caller.entry.active_until,
        _ => None,
    };
    Ok(Json(status_body(
        &state,
        caller.user_id,
        caller.status,
        position,
        active_until,
    )))
}

fn status_body(
    state: &AppState,
    user: UserId,
    status: QueueStatus,
    position: u64,
    active_until: Option<chrono::DateTime<chrono::Utc>>,
) -> QueueStatusResponse {
    QueueStatusResponse {
        user_id: user.0,
        status,
        position,
        ahead: position.saturating_sub(1),
        estimated_wait_seconds: wait_estimate(state, position),
        active_until,
    }
}

/// Equal slices, compared without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
