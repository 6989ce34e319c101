//! The bodies of the catalog: concerts, their dates and the seat map.

use crate::rules::SeatStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One item of `GET /v1/concerts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(description = "A concert."))]
pub struct Concert {
    /// The concert's id (an integer, per SPEC).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 1))]
    pub concert_id: i64,
    /// The concert's title.
    pub title: String,
    /// Who plays.
    pub artist: String,
    /// When the sale opens (entering the waiting room before it joins the
    /// pre-queue); null once the sale is open.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub sale_opens_at: Option<DateTime<Utc>>,
}

/// One item of `GET /v1/concerts/{concert_id}/performances`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "A bookable date: in the future, with at least one available seat.")
)]
pub struct Performance {
    /// The performance's id, which names its seats with `seat_number`.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 1))]
    pub performance_id: i64,
    /// The concert performed.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 1))]
    pub concert_id: i64,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// Seats in all, numbered from 1.
    #[cfg_attr(feature = "openapi", schema(example = 50))]
    pub total_seats: i32,
    /// Seats neither sold nor held now.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 50))]
    pub available_seats: i64,
}

/// One seat of a [`SeatMap`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "A seat and whether it can be held.")
)]
pub struct Seat {
    /// The seat's number in its performance.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 50))]
    pub seat_number: i16,
    /// KRW.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 120000))]
    pub price: i64,
    /// The seat's status now.
    pub status: SeatStatus,
}

/// The answer to `GET /v1/performances/{performance_id}/seats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "The seats of one performance, by number.")
)]
pub struct SeatMap {
    /// The performance the seats belong to.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub performance_id: i64,
    /// Every seat (or those with the `?status=` asked for), by number.
    pub seats: Vec<Seat>,
}
