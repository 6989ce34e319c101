use crate::auth::user_key::UserKey;
use crate::http::error::ApiError;
use crate::http::extract::parse_json;
use crate::http::rate_limit::Limited;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::Json;
use domain::wire::{NewUser, RegisterRequest};
use domain::UserId;
use std::net::SocketAddr;

/// `POST /v1/users`: any JSON object (or nothing) registers a new user and
/// answers its `user_key`, the only time the key is shown.
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    summary = "Register a user",
    request_body(content = Option<RegisterRequest>, description = "An empty JSON object; an empty body works too", content_type = "application/json"),
    responses((status = 201, description = "Registered, with a balance of 0", body = NewUser), crate::openapi::RegisterErrors)
)]
#[tracing::instrument(skip_all)]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<NewUser>), ApiError> {
    let client = state.limits.client_ip(peer.ip(), &headers);
    state.limits.check(Limited::Registration, client)?;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::Validation(r.to_string())
        }
    })?;
    let _: RegisterRequest = parse_json(&body)?;
    let user = UserId::new();
    let key = UserKey::generate();
    store::users::insert(&state.pool, user, &key.hash()).await?;
    // The key is shown here once; only its hash is kept.
    Ok((
        StatusCode::CREATED,
        Json(NewUser {
            user_id: user.0,
            balance: 0,
            user_key: key.expose().to_owned(),
        }),
    ))
}
