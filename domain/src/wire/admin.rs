//! The bodies of the admin endpoints (SPEC "admin" token): making concerts
//! and performances, changing a sale's opening or room size, and a
//! performance's report.
//!
//! Times stay strings in the requests, and numbers are read wide (`i64`):
//! the handler checks them with [`crate::catalog`], so every error names its
//! field (`starts_at must be an RFC 3339 time…`, `prices[1].price must be…`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/admin/concerts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"title": "Spring Night Live", "artist": "IU",
        "sale_opens_at": "2027-01-10T03:00:00Z", "queue_capacity": 100}))
)]
pub struct NewConcertRequest {
    /// The concert's title: 1..=200 characters once trimmed.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub title: String,
    /// Who plays: 1..=200 characters once trimmed.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub artist: String,
    /// When the sale opens (RFC 3339); entries before it form the pre-queue.
    /// Left out, null or a time already past: on sale at once.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DateTime<Utc>>))]
    #[serde(default)]
    pub sale_opens_at: Option<String>,
    /// Tokens of the room active at once (1..=1,000,000); left out or null:
    /// `QUEUE_ACTIVE_CAPACITY`.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    #[serde(default)]
    pub queue_capacity: Option<i64>,
}

/// The body of `PATCH /v1/admin/concerts/{concert_id}`: at least one field;
/// a field left out (or null) is left as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"sale_opens_at": "2027-01-10T03:00:00Z", "queue_capacity": 200}))
)]
pub struct ConcertChanges {
    /// The new opening (RFC 3339), only while the sale has not opened
    /// (else `409 SALE_ALREADY_OPEN`): in the future and not after the
    /// concert's first performance.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DateTime<Utc>>))]
    #[serde(default)]
    pub sale_opens_at: Option<String>,
    /// The new room size (1..=1,000,000); it applies from the next admission.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    #[serde(default)]
    pub queue_capacity: Option<i64>,
}

/// A concert as the admin endpoints answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "A concert with its sale opening and room size.")
)]
pub struct AdminConcert {
    /// The concert's id.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 1))]
    pub concert_id: i64,
    /// The concert's title.
    pub title: String,
    /// Who plays.
    pub artist: String,
    /// When the sale opens or opened, as set; null if it was on sale from
    /// the start.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// Tokens of the room active at once (the concert's own, else
    /// `QUEUE_ACTIVE_CAPACITY`).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 100))]
    pub queue_capacity: i64,
}

/// The price ranges of a new performance: a domain value (its rule is in
/// `catalog`), sent as is.
pub use crate::catalog::PriceRange;

/// The body of `POST /v1/admin/concerts/{concert_id}/performances`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"starts_at": "2027-02-01T10:00:00Z", "total_seats": 50,
        "prices": [{"from_seat": 1, "to_seat": 10, "price": 150000},
                   {"from_seat": 11, "to_seat": 50, "price": 80000}]}))
)]
pub struct NewPerformanceRequest {
    /// When it starts (RFC 3339): in the future, and not before the
    /// concert's `sale_opens_at`.
    #[cfg_attr(feature = "openapi", schema(value_type = DateTime<Utc>))]
    pub starts_at: String,
    /// Seats in all, numbered 1..=total_seats (1..=50).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 50, example = 50))]
    pub total_seats: i64,
    /// Price ranges covering seats 1..=total_seats, each seat exactly once.
    pub prices: Vec<PriceRange>,
}

/// The `201` of `POST /v1/admin/concerts/{concert_id}/performances`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(description = "A performance just made."))]
pub struct AdminPerformance {
    /// The new performance's id.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 7))]
    pub performance_id: i64,
    /// Its concert.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, example = 1))]
    pub concert_id: i64,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// Seats in all.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 50, example = 50))]
    pub total_seats: i32,
}

/// The answer to `GET /v1/admin/performances/{performance_id}/report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "Seat counts and money of one performance, now.")
)]
pub struct PerformanceReport {
    /// The performance.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub performance_id: i64,
    /// Seats neither sold nor held (a hold past `held_until` does not count).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 50))]
    pub available: i64,
    /// Seats under a live hold.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 50))]
    pub held: i64,
    /// Seats sold (paid and not refunded).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 50))]
    pub sold: i64,
    /// KRW paid for seats that are not refunded.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub revenue: i64,
    /// KRW refunded.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub refunded: i64,
    /// Users on the performance's waitlist (SPEC rule 11).
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub waitlist: i64,
}
