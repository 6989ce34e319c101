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
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    summary = "Register a user",
    request_body(content = Option<crate::openapi::RegisterRequest>, description = "An empty JSON object; an empty body works too", content_type = "application/json"),
    responses((status = 201, description = "Registered, with a balance of 0", body = crate::openapi::NewUser), crate::openapi::RegisterErrors)
)]
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
