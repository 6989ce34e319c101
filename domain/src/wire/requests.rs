//! The request bodies of the API.
//!
//! Each refuses unknown fields and checks while parsing what a type can
//! check (a seat number, a charge amount), so a bad body is a `400` before
//! the handler runs. Ids stay strings: the handler parses them, so its error
//! names the field (`reservation_id must be a UUID, got "x"`).

use crate::{ChargeAmount, SeatNumber};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The body of `POST /v1/users`: any JSON object, usually `{}` (or no body at all).
// Registration takes no field today; the body is still parsed so that
// anything but an object (`[]`, `"x"`) is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Map<String, Value>")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({})))]
pub struct RegisterRequest {}

impl From<Map<String, Value>> for RegisterRequest {
    /// Whatever members the object has are ignored.
    fn from(_: Map<String, Value>) -> Self {
        Self {}
    }
}

/// The body of `POST /v1/queue/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnterQueueRequest {
    /// The user entering; the request must carry this user's `user_key`.
    // A string, parsed by the handler so its error names the field.
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub user_id: String,
    /// The concert whose waiting room to enter.
    // Checked positive by the handler, so its error names the field.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 1))]
    pub concert_id: i64,
}

/// The body of `POST /v1/reservations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReserveRequest {
    /// The performance of the seat.
    // Checked positive by the handler (after an idempotent replay).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 1))]
    pub performance_id: i64,
    /// The seat, by its number in the performance.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = i16, minimum = 1, maximum = 50, example = 7)
    )]
    pub seat_number: SeatNumber,
}

/// The body of `POST /v1/payments`: one of the caller's holds, or several
/// paid together (exactly one of the two fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PayRequest {
    /// A `held` reservation of the caller.
    // Strings, parsed by the handler so an error names the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<uuid::Uuid>))]
    pub reservation_id: Option<String>,
    /// 1..=`MAX_HOLDS_PER_USER` distinct `held` reservations of the caller,
    /// paid together or not at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<uuid::Uuid>>, min_items = 1))]
    pub reservation_ids: Option<Vec<String>>,
}

/// The body of `POST /v1/balance/charges`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChargeRequest {
    /// KRW to add.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = i64, minimum = 1, maximum = 10_000_000, example = 200000)
    )]
    pub amount: ChargeAmount,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_takes_any_object_and_nothing_else() {
        for ok in ["{}", r#"{"name": "x", "n": [1]}"#] {
            assert!(serde_json::from_str::<RegisterRequest>(ok).is_ok(), "{ok}");
        }
        for bad in ["[]", "\"x\"", "1", "null", "{"] {
            // Refused with the words a plain JSON object would be refused with.
            let ours = serde_json::from_str::<RegisterRequest>(bad).map_err(|e| e.to_string());
            let object = serde_json::from_str::<Map<String, Value>>(bad).map_err(|e| e.to_string());
            assert!(ours.is_err(), "{bad}");
            assert_eq!(ours.err(), object.err(), "{bad}");
        }
        assert_eq!(
            serde_json::to_value(RegisterRequest {}).ok(),
            Some(serde_json::json!({}))
        );
    }

    #[test]
    fn bodies_refuse_unknown_fields() {
        assert!(serde_json::from_str::<EnterQueueRequest>(
            r#"{"user_id": "u", "concert_id": 1, "x": 1}"#
        )
        .is_err());
        assert!(serde_json::from_str::<PayRequest>(r#"{"reservation_id": "r", "x": 1}"#).is_err());
        assert!(serde_json::from_str::<ChargeRequest>(r#"{"amount": 5, "x": 1}"#).is_err());
        assert!(serde_json::from_str::<ReserveRequest>(
            r#"{"performance_id": 1, "seat_number": 2, "x": 1}"#
        )
        .is_err());
    }

    #[test]
    fn seat_numbers_and_amounts_are_checked_while_parsing() {
        let seat = |n: i64| {
            serde_json::from_value::<ReserveRequest>(
                serde_json::json!({"performance_id": 1, "seat_number": n}),
            )
        };
        assert!(seat(50).is_ok());
        assert!(seat(51).is_err());
        assert!(seat(0).is_err());
        let amount =
            |n: i64| serde_json::from_value::<ChargeRequest>(serde_json::json!({"amount": n}));
        assert!(amount(crate::MAX_CHARGE).is_ok());
        assert!(amount(crate::MAX_CHARGE + 1).is_err());
        assert!(amount(0).is_err());
    }

    #[test]
    fn a_body_serializes_as_it_was_sent() {
        // The idempotency fingerprint is the hash of this serialization:
        // it must not change shape.
        let body: ReserveRequest =
            serde_json::from_str(r#"{"seat_number": 7, "performance_id": 3}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            serde_json::to_string(&body).ok().as_deref(),
            Some(r#"{"performance_id":3,"seat_number":7}"#)
        );
    }
}
