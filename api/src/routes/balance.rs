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
use store::balances::{LedgerKind, StoredAnswer};

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
    let balance: i64 = store::balances::of(&state.pool, caller.user_id)
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
    let balance: i64 = store::balances::lock(&mut tx, caller.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("USER_NOT_FOUND", "the token's user no longer exists")
        })?;
    // Under the user's row lock, so two requests with one key cannot both pass.
    if let Some(k) = &key.0 {
        if let Some(earlier) = store::balances::stored_answer(&mut tx, caller.user_id, k).await? {
            if earlier.body_hash != hash {
                return Err(ApiError::IdempotencyKeyReused);
            }
            let status = StatusCode::from_u16(earlier.status_code).unwrap_or(StatusCode::OK);
            return Ok((status, Json(earlier.response)));
        }
    }
    let current = Money::parse(balance).map_err(|e| ApiError::Internal(e.into()))?;
    let after = apply_charge(current, body.amount).map_err(|e| ApiError::Conflict {
        code: "BALANCE_LIMIT",
        detail: e.to_string(),
    })?;
    let charge_id = uuid::Uuid::new_v4();
    store::balances::set(&mut tx, caller.user_id, after.krw()).await?;
    store::balances::add_ledger_entry(
        &mut tx,
        caller.user_id,
        LedgerKind::Charge,
        body.amount.krw(),
        after.krw(),
        charge_id,
    )
    .await?;
    let response = json!({"user_id": caller.user_id, "balance": after.krw()});
    if let Some(k) = &key.0 {
        let answer = StoredAnswer {
            body_hash: hash,
            status_code: StatusCode::OK.as_u16(),
            response: response.clone(),
        };
        store::balances::store_answer(&mut tx, caller.user_id, k, &answer).await?;
    }
    tx.commit().await?;
    Ok((StatusCode::OK, Json(response)))
}
