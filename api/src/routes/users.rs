use crate::error::ApiError;
use crate::extract::parse_json;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::UserId;
use serde_json::{json, Value};

/// `POST /v1/users`: any JSON object (or nothing) registers a new user.
#[tracing::instrument(skip_all)]
pub async fn register(
    State(state): State<AppState>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::Validation(r.to_string())
        }
    })?;
    let _: serde_json::Map<String, Value> = parse_json(&body)?;
    let user = UserId::new();
    sqlx::query("insert into users (user_id) values ($1)")
        .bind(user.0)
        .execute(&state.pool)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user_id": user, "balance": 0})),
    ))
}
