use crate::auth::AnyCredential;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::extract::{IdempotencyKey, JsonBody};
use crate::idempotency::body_hash;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::money::apply_charge;
use domain::wire::{Balance, ChargeRequest};
use domain::Money;
use store::balances::{LedgerKind, StoredAnswer};

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
    let balance: i64 = store::balances::of(&state.pool, caller.user_id)
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
    let balance: i64 = store::balances::lock(&mut tx, caller.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(ErrorCode::UserNotFound, "the token's user no longer exists")
        })?;
    // Under the user's row lock, so two requests with one key cannot both pass.
    if let Some(k) = &key.0 {
        if let Some(earlier) = store::balances::stored_answer(&mut tx, caller.user_id, k).await? {
            if earlier.body_hash != hash {
                return Err(ApiError::IdempotencyKeyReused);
            }
            let status = StatusCode::from_u16(earlier.status_code).unwrap_or(StatusCode::OK);
            let original = serde_json::from_value(earlier.response)
                .map_err(|e| ApiError::Internal(e.into()))?;
            return Ok((status, Json(original)));
        }
    }
    let current = Money::parse(balance).map_err(|e| ApiError::Internal(e.into()))?;
    let after = apply_charge(current, body.amount).map_err(|e| ApiError::Conflict {
        code: ErrorCode::BalanceLimit,
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
    let answer = Balance {
        user_id: caller.user_id.0,
        balance: after.krw(),
    };
    // Kept as JSON, so a replay answers it again.
    let response = serde_json::to_value(&answer).map_err(|e| ApiError::Internal(e.into()))?;
    if let Some(k) = &key.0 {
        let answer = StoredAnswer {
            body_hash: hash,
            status_code: StatusCode::OK.as_u16(),
            response,
        };
        store::balances::store_answer(&mut tx, caller.user_id, k, &answer).await?;
    }
    tx.commit().await?;
    Ok((StatusCode::OK, Json(answer)))
}
