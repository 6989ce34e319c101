//! The `result` of a succeeded command, written by the worker that applied
//! it and relayed as is by `GET /v1/requests/{request_id}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `result` of a succeeded reserve: the new hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "The `result` of a succeeded reserve.")
)]
pub struct ReserveResult {
    /// The hold, to pay with `POST /v1/payments`.
    pub reservation_id: uuid::Uuid,
    /// The performance of the seat held.
    pub performance_id: i64,
    /// The seat held.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 50))]
    pub seat_number: i16,
    /// KRW to pay.
    pub price: i64,
    /// The hold lapses at this time unless paid.
    pub held_until: DateTime<Utc>,
}

/// The `result` of a succeeded payment: the seat is sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "The `result` of a succeeded payment.")
)]
pub struct PayResult {
    /// The payment.
    pub payment_id: uuid::Uuid,
    /// The first reservation paid for (all are in `reservation_ids`).
    pub reservation_id: uuid::Uuid,
    /// Every reservation paid for, now `paid`.
    #[serde(default)]
    pub reservation_ids: Vec<uuid::Uuid>,
    /// KRW taken from the balance.
    pub amount: i64,
    /// When the payment was applied.
    pub paid_at: DateTime<Utc>,
    /// The balance after the payment.
    pub balance_after: i64,
}

/// The `result` of a succeeded command, whichever its kind, as a client reads
/// it (see `RequestOutcome::typed_result`).
// Untagged: each shape has a required field the other lacks (`performance_id`,
// `payment_id`), so the JSON alone says which it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "The `result` of a succeeded command: a `ReserveResult`, a `PayResult` or a `CancelResult` by `kind`."
    )
)]
#[serde(untagged)]
pub enum RequestResult {
    /// A succeeded reserve.
    Reserve(ReserveResult),
    /// A succeeded payment.
    Pay(PayResult),
    /// A succeeded cancel.
    Cancel(CancelResult),
}

/// The `result` of a succeeded cancel (rule 10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelResult {
    /// The reservation cancelled.
    pub reservation_id: uuid::Uuid,
    /// `cancelled` for a released hold, `refunded` for a refunded seat.
    pub status: crate::rules::StoredReservation,
    /// KRW given back: the price for a refund, 0 for a hold.
    pub refund: i64,
    /// The balance after the cancel.
    pub balance_after: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 123_456_000).unwrap_or_default()
    }

    /// The JSON a worker stores for a result.
    fn stored(result: &impl Serialize) -> serde_json::Value {
        serde_json::to_value(result).unwrap_or_default()
    }

    #[test]
    fn each_result_reads_back_as_its_own_kind() {
        let reserve = ReserveResult {
            reservation_id: uuid::Uuid::new_v4(),
            performance_id: 3,
            seat_number: 7,
            price: 120_000,
            held_until: at(),
        };
        let pay = PayResult {
            payment_id: uuid::Uuid::new_v4(),
            reservation_id: reserve.reservation_id,
            reservation_ids: vec![reserve.reservation_id],
            amount: 120_000,
            paid_at: at(),
            balance_after: 80_000,
        };
        let read = |v: serde_json::Value| serde_json::from_value::<RequestResult>(v).ok();
        assert_eq!(
            read(stored(&reserve)),
            Some(RequestResult::Reserve(reserve.clone()))
        );
        assert_eq!(read(stored(&pay)), Some(RequestResult::Pay(pay.clone())));
        assert_eq!(stored(&RequestResult::Pay(pay.clone())), stored(&pay));
    }
}
