//! The body of `GET /v1/tickets`: the caller's paid seats, with what a
//! ticket shows (concert, artist, date, seat, price).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether a ticket still stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Paid and valid.
    Paid,
    /// Paid, then cancelled with a refund (SPEC rule 10).
    Refunded,
}

impl TicketStatus {
    /// Reads a stored reservation status; `None` for one that is no ticket.
    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "paid" => Some(Self::Paid),
            "refunded" => Some(Self::Refunded),
            _ => None,
        }
    }
}

/// One item of `GET /v1/tickets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "A seat the caller paid for, with its concert and date.")
)]
pub struct Ticket {
    /// The payment that bought it.
    pub payment_id: uuid::Uuid,
    /// The reservation paid.
    pub reservation_id: uuid::Uuid,
    /// The concert.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 1))]
    pub concert_id: i64,
    /// The concert's title.
    pub title: String,
    /// Who plays.
    pub artist: String,
    /// The performance.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 1))]
    pub performance_id: i64,
    /// When the performance starts.
    pub starts_at: DateTime<Utc>,
    /// The seat.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 50))]
    pub seat_number: i16,
    /// KRW paid for the seat.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 120000))]
    pub price: i64,
    /// When it was paid.
    pub paid_at: DateTime<Utc>,
    /// `paid`, or `refunded` once cancelled with a refund.
    pub status: TicketStatus,
}
