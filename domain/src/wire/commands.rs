//! The bodies of the command endpoints: the `202` of a reserve or a payment,
//! the outcome a client polls for, and the caller's reservations.

use crate::rules::StoredReservation;
use crate::{RejectReason, RequestKind, RequestStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `202` of `POST /v1/reservations` and `POST /v1/payments`: the command
/// is on Kafka, and a worker will decide it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "A command was accepted (it is on Kafka); its outcome is decided by a worker."
    )
)]
pub struct Accepted {
    /// The command's id, to poll its outcome with.
    pub request_id: uuid::Uuid,
    /// Always `pending`.
    pub status: RequestStatus,
    /// Where to poll for the outcome: `/v1/requests/{request_id}`.
    pub status_url: String,
}

impl Accepted {
    /// The answer for a command just put on Kafka (or replayed with its
    /// `Idempotency-Key`): pending, with where to poll.
    pub fn pending(request_id: uuid::Uuid) -> Self {
        Self {
            request_id,
            status: RequestStatus::Pending,
            status_url: format!("/v1/requests/{request_id}"),
        }
    }
}

/// The answer to `GET /v1/requests/{request_id}`: what a command came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(description = "The outcome of a command."))]
pub struct RequestOutcome {
    /// The command's id.
    pub request_id: uuid::Uuid,
    /// What the command asked for.
    pub kind: RequestKind,
    /// `pending`, or final.
    pub status: RequestStatus,
    /// Set when `rejected`, else null.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub reason: Option<RejectReason>,
    /// Set when `succeeded` (a `ReserveResult` or a `PayResult` by `kind`), else null.
    // The worker's JSON, relayed as stored; `typed_result` reads it.
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, value_type = Option<super::RequestResult>)
    )]
    pub result: Option<serde_json::Value>,
}

impl RequestOutcome {
    /// The `result` as a [`super::RequestResult`], for clients and tests;
    /// `Ok(None)` while there is none.
    pub fn typed_result(&self) -> Result<Option<super::RequestResult>, serde_json::Error> {
        self.result.clone().map(serde_json::from_value).transpose()
    }
}

/// One item of `GET /v1/reservations`: a hold of the caller, and what
/// became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "A reservation of the caller.")
)]
pub struct Reservation {
    /// The reservation's id.
    pub reservation_id: uuid::Uuid,
    /// The performance of the seat.
    pub performance_id: i64,
    /// The seat.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 50))]
    pub seat_number: i16,
    /// KRW.
    pub price: i64,
    /// `expired` once `held_until` has passed unpaid.
    pub status: StoredReservation,
    /// When the hold lapses (or lapsed) unless paid.
    pub held_until: DateTime<Utc>,
    /// A hold made for the caller from the performance's waitlist (rule
    /// 11): payable with any of their queue tokens, active or not.
    pub offer: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accepted_command_points_at_its_outcome() {
        let id = uuid::Uuid::new_v4();
        let body = serde_json::to_value(Accepted::pending(id)).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({
                "request_id": id,
                "status": "pending",
                "status_url": format!("/v1/requests/{id}"),
            })
        );
    }

    #[test]
    fn a_pending_outcome_writes_its_nulls() {
        let outcome = RequestOutcome {
            request_id: uuid::Uuid::new_v4(),
            kind: RequestKind::Pay,
            status: RequestStatus::Pending,
            reason: None,
            result: None,
        };
        let body = serde_json::to_value(&outcome).unwrap_or_default();
        assert!(body["reason"].is_null() && body.get("reason").is_some());
        assert!(body["result"].is_null() && body.get("result").is_some());
        assert_eq!(body["kind"], "pay");
        assert!(matches!(outcome.typed_result(), Ok(None)));
    }
}
