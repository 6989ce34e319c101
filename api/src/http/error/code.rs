//! Every `code` the API answers with, its HTTP status and when it is
//! answered, in one table: the answers ([`super::ApiError`],
//! [`super::problem`]) and the OpenAPI document both read it, so they cannot
//! disagree.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every `code` a problem answer of the API may carry.
#[derive(
    ToSchema, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    InvalidToken,
    InvalidCredentials,
    TokenNotActive,
    TokenNotForConcert,
    NotYourReservation,
    UserNotFound,
    ConcertNotFound,
    PerformanceNotFound,
    ReservationNotFound,
    RequestNotFound,
    QueueEntryNotFound,
    NotFound,
    MethodNotAllowed,
    BalanceLimit,
    SaleAlreadyOpen,
    SeatsAvailable,
    PayloadTooLarge,
    IdempotencyKeyReused,
    RateLimited,
    UnsupportedMediaType,
    UriTooLong,
    HeadersTooLarge,
    InternalError,
    BrokerUnavailable,
    DatabaseUnavailable,
}

impl ErrorCode {
    /// Every code, in the order of the enum, for whoever must go through
    /// them all (the tests; a test checks it against the derived schema).
    pub const ALL: [ErrorCode; 26] = [
        Self::ValidationError,
        Self::InvalidToken,
        Self::InvalidCredentials,
        Self::TokenNotActive,
        Self::TokenNotForConcert,
        Self::NotYourReservation,
        Self::UserNotFound,
        Self::ConcertNotFound,
        Self::PerformanceNotFound,
        Self::ReservationNotFound,
        Self::RequestNotFound,
        Self::QueueEntryNotFound,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::BalanceLimit,
        Self::SaleAlreadyOpen,
        Self::SeatsAvailable,
        Self::PayloadTooLarge,
        Self::IdempotencyKeyReused,
        Self::RateLimited,
        Self::UnsupportedMediaType,
        Self::UriTooLong,
        Self::HeadersTooLarge,
        Self::InternalError,
        Self::BrokerUnavailable,
        Self::DatabaseUnavailable,
    ];

    /// The code as sent, its HTTP status and when it is answered: the one
    /// table both the answers and the document read.
    pub fn describe(self) -> (&'static str, StatusCode, &'static str) {
        match self {
            Self::ValidationError => (
                "VALIDATION_ERROR",
                StatusCode::BAD_REQUEST,
                "malformed JSON, wrong types, unknown fields, out-of-range numbers, bad ids or query values",
            ),
            Self::InvalidToken => (
                "INVALID_TOKEN",
                StatusCode::UNAUTHORIZED,
                "the bearer token is missing, malformed, forged or unknown (on admin endpoints: not `ADMIN_TOKEN`)",
            ),
            Self::InvalidCredentials => (
                "INVALID_CREDENTIALS",
                StatusCode::UNAUTHORIZED,
                "entering a waiting room without the user key of the user named in the body",
            ),
            Self::TokenNotActive => (
                "TOKEN_NOT_ACTIVE",
                StatusCode::FORBIDDEN,
                "the token is valid but not active (still waiting, or expired)",
            ),
            Self::TokenNotForConcert => (
                "TOKEN_NOT_FOR_CONCERT",
                StatusCode::FORBIDDEN,
                "the token is active, but for another concert's waiting room",
            ),
            Self::NotYourReservation => (
                "NOT_YOUR_RESERVATION",
                StatusCode::FORBIDDEN,
                "the reservation belongs to another user",
            ),
            Self::UserNotFound => ("USER_NOT_FOUND", StatusCode::NOT_FOUND, "no such user"),
            Self::ConcertNotFound => (
                "CONCERT_NOT_FOUND",
                StatusCode::NOT_FOUND,
                "no such concert",
            ),
            Self::PerformanceNotFound => (
                "PERFORMANCE_NOT_FOUND",
                StatusCode::NOT_FOUND,
                "no such performance",
            ),
            Self::ReservationNotFound => (
                "RESERVATION_NOT_FOUND",
                StatusCode::NOT_FOUND,
                "no such reservation",
            ),
            Self::RequestNotFound => (
                "REQUEST_NOT_FOUND",
                StatusCode::NOT_FOUND,
                "no such request for this user (another user's request reads as unknown)",
            ),
            Self::QueueEntryNotFound => (
                "QUEUE_ENTRY_NOT_FOUND",
                StatusCode::NOT_FOUND,
                "with a user key: the user has not entered that waiting room (`?concert_id=`)",
            ),
            Self::NotFound => ("NOT_FOUND", StatusCode::NOT_FOUND, "no such endpoint"),
            Self::MethodNotAllowed => (
                "METHOD_NOT_ALLOWED",
                StatusCode::METHOD_NOT_ALLOWED,
                "the endpoint does not take that method",
            ),
            Self::BalanceLimit => (
                "BALANCE_LIMIT",
                StatusCode::CONFLICT,
                "the charge would lift the balance above 1,000,000,000",
            ),
            Self::SaleAlreadyOpen => (
                "SALE_ALREADY_OPEN",
                StatusCode::CONFLICT,
                "the concert's sale has opened (or opens now), so its `sale_opens_at` can no longer change",
            ),
            Self::SeatsAvailable => (
                "SEATS_AVAILABLE",
                StatusCode::CONFLICT,
                "the performance has a seat available now: reserve it instead of waiting",
            ),
            Self::PayloadTooLarge => (
                "PAYLOAD_TOO_LARGE",
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is over 64 KiB",
            ),
            Self::IdempotencyKeyReused => (
                "IDEMPOTENCY_KEY_REUSED",
                StatusCode::UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was already used with a different body",
            ),
            Self::RateLimited => (
                "RATE_LIMITED",
                StatusCode::TOO_MANY_REQUESTS,
                "too many registrations or queue entries from this address; `Retry-After` says when to retry",
            ),
            Self::UnsupportedMediaType => (
                "UNSUPPORTED_MEDIA_TYPE",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a JSON endpoint called with a body that is not `application/json`",
            ),
            Self::UriTooLong => (
                "URI_TOO_LONG",
                StatusCode::URI_TOO_LONG,
                "the request target is over 8 KiB",
            ),
            Self::HeadersTooLarge => (
                "HEADERS_TOO_LARGE",
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "the request headers are over 16 KiB",
            ),
            Self::InternalError => (
                "INTERNAL_ERROR",
                StatusCode::INTERNAL_SERVER_ERROR,
                "an unexpected error; it is logged",
            ),
            Self::BrokerUnavailable => (
                "BROKER_UNAVAILABLE",
                StatusCode::SERVICE_UNAVAILABLE,
                "Kafka cannot take the command now; nothing was recorded, retry with the same Idempotency-Key",
            ),
            Self::DatabaseUnavailable => (
                "DATABASE_UNAVAILABLE",
                StatusCode::SERVICE_UNAVAILABLE,
                "Postgres is unreachable; retry later",
            ),
        }
    }

    /// The code as it appears in a problem's `code` member.
    pub fn code(self) -> &'static str {
        self.describe().0
    }

    /// The HTTP status every answer with this code has.
    pub fn status(self) -> StatusCode {
        self.describe().1
    }

    /// When the code is answered, for the document.
    pub fn description(self) -> &'static str {
        self.describe().2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use utoipa::PartialSchema;

    #[test]
    fn all_lists_every_code_the_enum_has() {
        // The schema is derived from the enum, so it names every variant.
        let schema = serde_json::to_value(ErrorCode::schema()).unwrap_or_default();
        let derived: Vec<&str> = schema["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        let listed: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(derived, listed);
    }

    #[test]
    fn each_code_is_sent_as_its_name_with_an_error_status() {
        let mut seen = BTreeSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::json!(code.code()))
            );
            assert!(seen.insert(code.code()), "{code:?} twice");
            let status = code.status();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code:?}"
            );
            assert!(!code.description().is_empty());
        }
    }
}
