use crate::auth::AnyCredential;
use crate::error::ApiError;
use crate::extract::{IdempotencyKey, JsonBody};
use crate::idempotency::body_hash;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::money::apply_charge;
use domain::{ChargeAmount, Money};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `GET /v1/balance`
#[utoipa::path(
    get,
    path = "/v1/balance",
    tag = "balance",
    summary = "The caller's balance",
    security(("queue_token" = [])),
    responses((status = 200, description = "The balance in KRW", body = crate::openapi::Balance), crate::openapi::BalanceErrors)
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn balance(
    State(state): State<AppState>,
    caller: AnyCredential,
) -> Result<Json<Value>, ApiError> {
    let balance: i64 = sqlx::query_scalar("select balance from users where user_id = $1")
        .bind(caller.user_id.0)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("USER_NOT_FOUND", "the token's user no longer exists")
        })?;
    Ok(Json(json!({"user_id": caller.user_id, "balance": balance})))
}

/// The body of `POST /v1/balance/charges`.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ChargeRequest)]
pub struct ChargeBody {
    /// KRW to add.
    #[schema(value_type = i64, minimum = 1, maximum = 10_000_000, example = 200000)]
    amount: ChargeAmount,
}

/// `POST /v1/balance/charges`: adds to the balance and writes the ledger row
/// in one transaction; an `Idempotency-Key` replays the first answer.
#[utoipa::path(
    post,
    path = "/v1/balance/charges",
    tag = "balance",
    summary = "Charge the balance",
    params(crate::openapi::IdempotencyKeyHeader),
    request_body = ChargeBody,
    security(("queue_token" = [])),
    responses((status = 200, description = "The new balance", body = crate::openapi::Balance), crate::openapi::ChargeErrors)
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn charge(
    State(state): State<AppState>,
    caller: AnyCredential,
    key: IdempotencyKey,
    JsonBody(body): JsonBody<ChargeBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let hash = body_hash("charge", &body);
    let mut tx = state.pool.begin().await?;
    let balance: i64 =
        sqlx::query_scalar("select balance from users where user_id = $1 for update")
            .bind(caller.user_id.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                ApiError::not_found("USER_NOT_FOUND", "the token's user no longer exists")
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
            return Ok((status, Json(response)));
        }
    }
    let current = Money::parse(balance).map_err(|e| ApiError::Internal(e.into()))?;
    let after = apply_charge(current, body.amount).map_err(|e| ApiError::Conflict {
        code: "BALANCE_LIMIT",
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
    let response = json!({"user_id": caller.user_id, "balance": after.krw()});
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
    Ok((StatusCode::OK, Json(response)))
}
