use crate::auth::AnyCredential;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{IdempotencyKey, JsonBody};
use crate::idempotency::body_hash;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::money::apply_charge;
use domain::wire::{Balance, ChargeRequest};
use domain::Money;
use serde_json::Value;

/// `GET /v1/balance`
#[utoipa::path(
    get,
    path = "/v1/balance",
    tag = "balance",
    summary = "The caller's balance",
    security(("queue_token" = [])),
    responses((status = 200, description = "The balance in KRW", body = Balance), crate::openapi::BalanceErrors)
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn balance(
    State(state): State<AppState>,
    caller: AnyCredential,
) -> Result<Json<Balance>, ApiError> {
    let balance: i64 = sqlx::query_scalar("select balance from users where user_id = $1")
        .bind(caller.user_id.0)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(ErrorCode::UserNotFound, "the token's user no longer exists")
        })?;
    Ok(Json(Balance {
        user_id: caller.user_id.0,
        balance,
    }))
}

/// `POST /v1/balance/charges`: adds to the balance and writes the ledger row
/// in one transaction; an `Idempotency-Key` replays the first answer.
#[utoipa::path(
    post,
    path = "/v1/balance/charges",
    tag = "balance",
    summary = "Charge the balance",
    params(crate::openapi::IdempotencyKeyHeader),
    request_body = ChargeRequest,
    security(("queue_token" = [])),
    responses((status = 200, description = "The new balance", body = Balance), crate::openapi::ChargeErrors)
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn charge(
    State(state): State<AppState>,
    caller: AnyCredential,
    key: IdempotencyKey,
    JsonBody(body): JsonBody<ChargeRequest>,
) -> Result<(StatusCode, Json<Balance>), ApiError> {
    let hash = body_hash("charge", &body);
    let mut tx = state.pool.begin().await?;
    let balance: i64 =
        sqlx::query_scalar("select balance from users where user_id = $1 for update")
            .bind(caller.user_id.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(ErrorCode::UserNotFound, "the token's user no longer exists")
            })?;
    // Under the user's row lock, so two requests with one key cannot both pass.
    if let Some(k) = &key.0 {
        let earlier: Option<(String, i16, Value)> = sqlx::query_as(
            "select body_hash, status_code, response from idempotency_keys where user_id = $1 and key = $2",
        )
        .bind(caller.user_id.0)
        .bind(k)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((earlier_hash, code, response)) = earlier {
            if earlier_hash != hash {
                return Err(ApiError::IdempotencyKeyReused);
            }
            let status = StatusCode::from_u16(code as u16).unwrap_or(StatusCode::OK);
            let original =
                serde_json::from_value(response).map_err(|e| ApiError::Internal(e.into()))?;
            return Ok((status, Json(original)));
        }
    }
    let current = Money::parse(balance).map_err(|e| ApiError::Internal(e.into()))?;
    let after = apply_charge(current, body.amount).map_err(|e| ApiError::Conflict {
        code: ErrorCode::BalanceLimit,
        detail: e.to_string(),
    })?;
    let charge_id = uuid::Uuid::new_v4();
    sqlx::query("update users set balance = $2 where user_id = $1")
        .bind(caller.user_id.0)
        .bind(after.krw())
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into ledger (user_id, kind, amount, balance_after, reference) values ($1, 'charge', $2, $3, $4)",
    )
    .bind(caller.user_id.0)
    .bind(body.amount.krw())
    .bind(after.krw())
    .bind(charge_id)
    .execute(&mut *tx)
    .await?;
    let answer = Balance {
        user_id: caller.user_id.0,
        balance: after.krw(),
    };
    // Kept as JSON, so a replay answers it again.
    let response = serde_json::to_value(&answer).map_err(|e| ApiError::Internal(e.into()))?;
    if let Some(k) = &key.0 {
        sqlx::query(
            "insert into idempotency_keys (user_id, key, body_hash, status_code, response) values ($1, $2, $3, 200, $4)",
        )
        .bind(caller.user_id.0)
        .bind(k)
        .bind(&hash)
        .bind(&response)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok((StatusCode::OK, Json(answer)))
}
