//! The one error type of the API. Every error is an RFC 9457 problem with a
//! `code`; 4xx say what was wrong, 5xx log the cause and say nothing of it.
//!
//! Codes are [`ErrorCode`]s, never strings: the answer's status is its
//! code's, and the OpenAPI document lists the same codes with the same
//! statuses, so the compiler keeps the three in step.

mod code;
mod problem;

pub use code::ErrorCode;
pub use problem::{problem, problem_with_status, Problem};

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Why a request failed; each answers with one [`ErrorCode`] and its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(String),
    /// An unknown resource; `code` says which kind (a `…_NOT_FOUND`).
    #[error("{detail}")]
    NotFound { code: ErrorCode, detail: String },
    #[error("the queue token is missing, malformed, forged or unknown")]
    InvalidToken,
    /// An admin endpoint called without `Authorization: Bearer <ADMIN_TOKEN>`.
    #[error("admin endpoints take `Authorization: Bearer <ADMIN_TOKEN>`")]
    InvalidAdminToken,
    #[error("the queue token is not active")]
    TokenNotActive,
    #[error("the queue token is active for another concert's waiting room")]
    TokenNotForConcert,
    #[error("entering a waiting room needs `Authorization: Bearer <user_key>` of the user named in the body")]
    InvalidCredentials,
    #[error("too many requests from this address; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Not the caller's to do; `code` says why.
    #[error("{detail}")]
    Forbidden { code: ErrorCode, detail: String },
    /// The state refuses the request; `code` says which rule.
    #[error("{detail}")]
    Conflict { code: ErrorCode, detail: String },
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("the message broker cannot take the command now; retry with the same Idempotency-Key")]
    BrokerUnavailable(#[source] anyhow::Error),
    #[error("the database is unavailable; retry later")]
    DatabaseUnavailable(#[source] store::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A `404` for an unknown resource, named by its code.
    pub fn not_found(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            detail: detail.into(),
        }
    }

    /// The code answered; the status is the code's.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Validation(_) => ErrorCode::ValidationError,
            Self::NotFound { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. } => *code,
            Self::InvalidToken | Self::InvalidAdminToken => ErrorCode::InvalidToken,
            Self::TokenNotActive => ErrorCode::TokenNotActive,
            Self::TokenNotForConcert => ErrorCode::TokenNotForConcert,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::BrokerUnavailable(_) => ErrorCode::BrokerUnavailable,
            Self::DatabaseUnavailable(_) => ErrorCode::DatabaseUnavailable,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }
}

impl From<store::Error> for ApiError {
    /// Postgres being down, restarting, overloaded or losing a deadlock is a
    /// `503` the client may retry; anything else is a bug and a `500`.
    fn from(e: store::Error) -> Self {
        match store::classify(&e) {
            store::ErrorClass::Transient => Self::DatabaseUnavailable(e),
            store::ErrorClass::Conflict | store::ErrorClass::Fatal => Self::Internal(e.into()),
        }
    }
}

/// The longest `detail` of a validation error: its own words and at most
/// about 100 characters of the input it quotes.
pub const MAX_DETAIL_CHARS: usize = 130;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        if code.status().is_server_error() {
            let cause = match &self {
                Self::BrokerUnavailable(e) | Self::Internal(e) => format!("{e:#}"),
                Self::DatabaseUnavailable(e) => e.to_string(),
                _ => String::new(),
            };
            tracing::error!(code = code.code(), cause, "request failed");
        }
        let mut detail = self.to_string();
        if let Self::Validation(_) = self {
            // Parser messages quote the input: keep at most ~100 characters
            // of it (SPEC rule 8).
            if let Some((cut, _)) = detail.char_indices().nth(MAX_DETAIL_CHARS) {
                detail.truncate(cut);
                detail.push('…');
            }
        }
        let mut response = problem(code, &detail);
        if let Self::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    async fn body_of(e: ApiError) -> (StatusCode, String, serde_json::Value) {
        let response = e.into_response();
        let status = response.status();
        let ct = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        (
            status,
            ct,
            serde_json::from_slice(&bytes).unwrap_or_default(),
        )
    }

    #[tokio::test]
    async fn a_client_error_is_a_problem_with_its_code_and_detail() {
        let (status, ct, body) =
            body_of(ApiError::Validation("seat_number must be 1..=50".into())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(ct, "application/problem+json");
        assert_eq!(body["code"], "VALIDATION_ERROR");
        assert_eq!(body["status"], 400);
        assert_eq!(body["detail"], "seat_number must be 1..=50");
        assert!(body["type"].is_string() && body["title"].is_string());
    }

    #[tokio::test]
    async fn a_server_error_hides_its_cause() {
        let (status, _, body) =
            body_of(ApiError::Internal(anyhow::anyhow!("password=hunter2"))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "INTERNAL_ERROR");
        assert!(!body.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn each_error_maps_to_its_status_and_code() {
        let cases = [
            (ApiError::InvalidToken, 401, "INVALID_TOKEN"),
            (ApiError::InvalidAdminToken, 401, "INVALID_TOKEN"),
            (ApiError::TokenNotActive, 403, "TOKEN_NOT_ACTIVE"),
            (
                ApiError::IdempotencyKeyReused,
                422,
                "IDEMPOTENCY_KEY_REUSED",
            ),
            (ApiError::PayloadTooLarge, 413, "PAYLOAD_TOO_LARGE"),
            (
                ApiError::BrokerUnavailable(anyhow::anyhow!("down")),
                503,
                "BROKER_UNAVAILABLE",
            ),
            (
                ApiError::not_found(ErrorCode::UserNotFound, "no such user"),
                404,
                "USER_NOT_FOUND",
            ),
            (
                ApiError::Forbidden {
                    code: ErrorCode::NotYourReservation,
                    detail: "another user's".into(),
                },
                403,
                "NOT_YOUR_RESERVATION",
            ),
            (
                ApiError::Conflict {
                    code: ErrorCode::BalanceLimit,
                    detail: "too much".into(),
                },
                409,
                "BALANCE_LIMIT",
            ),
        ];
        for (e, status, code) in cases {
            let (s, _, body) = body_of(e).await;
            assert_eq!(s.as_u16(), status);
            assert_eq!(body["code"], code);
        }
    }
}
