//! The body of every error answer: an RFC 9457 problem with the extra
//! member `code`, typed so the answers and the document's `Problem` schema
//! are one definition.

use super::ErrorCode;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(ToSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[schema(example = json!({
    "type": "urn:concert:problem:balance_limit",
    "title": "Conflict",
    "status": 409,
    "detail": "the balance would exceed 1000000000",
    "code": "BALANCE_LIMIT"
}))]
/// An RFC 9457 problem with the extra member `code`: the body of every
/// error answer, so a client handles any failure one way. The document's
/// `Problem` schema is derived from this very type.
pub struct Problem {
    /// A URI naming the problem type: `urn:concert:problem:<code in lower case>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The reason phrase of the status.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, for humans.
    pub detail: String,
    /// What went wrong, for programs: one of `ErrorCode`.
    pub code: ErrorCode,
}

impl Problem {
    /// The problem answered with `status` (normally `code.status()`).
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("urn:concert:problem:{}", code.code().to_ascii_lowercase()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code,
        }
    }
}

/// The problem+json answer of an error, with its code's status.
pub fn problem(code: ErrorCode, detail: &str) -> Response {
    problem_with_status(code.status(), code, detail)
}

/// The problem+json answer of an error whose status is not its code's own:
/// the edge keeps the status of a layer's plain-text rejection (a `408`, a
/// `504`) and names it with the nearest code.
pub fn problem_with_status(status: StatusCode, code: ErrorCode, detail: &str) -> Response {
    let mut response = (status, Json(Problem::new(status, code, detail))).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_problem_names_its_code_in_its_type_and_its_status_in_its_title() {
        let response = problem(ErrorCode::BalanceLimit, "too much");
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "urn:concert:problem:balance_limit",
                "title": "Conflict",
                "status": 409,
                "detail": "too much",
                "code": "BALANCE_LIMIT",
            })
        );
    }
}
