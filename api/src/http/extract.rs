//! Request extractors whose rejections are [`ApiError`]s, so malformed input
//! always gets a problem+json answer.

use crate::http::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body. Rejections: 413 past [`MAX_BODY_BYTES`], 400 for anything that
/// is not the expected JSON (syntax, types, ranges, unknown fields).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::Validation(format!("cannot read the request body: {rejection}"))
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body; an empty body reads as `{}`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Validation(format!("invalid JSON body: {e}")))
}

/// The optional `Idempotency-Key` header: 1..=128 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

impl IdempotencyKey {
    /// Checks a raw header value (absent is fine); apart from the extractor so
    /// the rule can be tested without a request.
    pub fn parse(value: Option<&[u8]>) -> Result<Self, ApiError> {
        let Some(raw) = value else {
            return Ok(Self(None));
        };
        let visible = raw.iter().all(|b| (0x21..=0x7e).contains(b));
        if raw.is_empty() || raw.len() > 128 || !visible {
            return Err(ApiError::Validation(
                "Idempotency-Key must be 1 to 128 visible ASCII characters".into(),
            ));
        }
        Ok(Self(Some(String::from_utf8_lossy(raw).into_owned())))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::parse(parts.headers.get("idempotency-key").map(|v| v.as_bytes()))
    }
}

/// Parses an integer id from a path segment.
pub fn int_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::Validation(format!("{what} must be a positive integer, got {raw:?}"))
    })
}

/// Parses a UUID from a path segment or field.
pub fn uuid_id(raw: &str, what: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map_err(|_| ApiError::Validation(format!("{what} must be a UUID, got {raw:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        amount: i64,
    }

    #[test]
    fn a_valid_body_parses_and_an_empty_body_reads_as_an_empty_object() {
        assert!(parse_json::<Body>(br#"{"amount": 5}"#).is_ok());
        assert!(parse_json::<serde_json::Value>(b"").is_ok());
        assert!(parse_json::<serde_json::Value>(b"  \n").is_ok());
    }

    #[test]
    fn malformed_mistyped_or_unknown_fields_are_validation_errors() {
        for bad in [
            &br#"{"amount": "5"}"#[..],
            br#"{"amount": 5, "extra": 1}"#,
            br#"{"amount": 1e400}"#,
            br#"{"amount": 99999999999999999999}"#,
            b"{",
            b"\xff\xfe",
            b"[]",
        ] {
            assert!(
                matches!(parse_json::<Body>(bad), Err(ApiError::Validation(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn idempotency_keys_must_be_1_to_128_visible_ascii() {
        assert_eq!(IdempotencyKey::parse(None).ok(), Some(IdempotencyKey(None)));
        assert!(IdempotencyKey::parse(Some(b"abc-123_~")).is_ok());
        assert!(IdempotencyKey::parse(Some("k".repeat(128).as_bytes())).is_ok());
        for bad in [
            &b""[..],
            b"has space",
            b"tab\t",
            "k".repeat(129).as_bytes(),
            "\u{e9}".as_bytes(),
        ] {
            assert!(IdempotencyKey::parse(Some(bad)).is_err());
        }
    }

    #[test]
    fn path_ids_are_validated() {
        assert_eq!(int_id("42", "id").ok(), Some(42));
        for bad in ["0", "-1", "x", "", "99999999999999999999"] {
            assert!(int_id(bad, "id").is_err());
        }
        assert!(uuid_id("nope", "id").is_err());
        assert!(uuid_id(&uuid::Uuid::new_v4().to_string(), "id").is_ok());
    }
}
