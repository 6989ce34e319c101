//! The seat, hold and payment rules (SPEC rules 3 to 5), decided from a
//! snapshot of state read inside the worker's transaction.

use crate::RejectReason;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What a seat looks like to a reader at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "The status of a seat: `held` while a hold lasts, `sold` once paid.")
)]
#[serde(rename_all = "snake_case")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

impl SeatStatus {
    /// The lower-case name, as the API spells the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Held => "held",
            Self::Sold => "sold",
        }
    }

    /// Reads the `status` filter of the seat map; `None` for anything else, so
    /// the API can answer 400.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "available" => Some(Self::Available),
            "held" => Some(Self::Held),
            "sold" => Some(Self::Sold),
            _ => None,
        }
    }
}

/// A seat row as stored: sold or not, and the end of its latest hold. A hold
/// past its end no longer counts, whether or not it has been cleaned up yet
/// (rule 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatState {
    pub sold: bool,
    pub held_until: Option<DateTime<Utc>>,
}

impl SeatState {
    /// What readers see at `now`: the seat map and the reserve rule both go by
    /// this, so a lapsed hold frees the seat before any sweep.
    pub fn status(&self, now: DateTime<Utc>) -> SeatStatus {
        if self.sold {
            SeatStatus::Sold
        } else if self.held_until.is_some_and(|until| until > now) {
            SeatStatus::Held
        } else {
            SeatStatus::Available
        }
    }
}

/// A reservation as stored; [`StoredReservation::visible`] gives the status
/// a reader sees, which the API answers as `ReservationStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        as = ReservationStatus,
        description = "The status of a reservation as its owner sees it."
    )
)]
#[serde(rename_all = "snake_case")]
pub enum StoredReservation {
    Held,
    Paid,
    Expired,
    /// A hold its owner released (rule 10).
    Cancelled,
    /// A paid seat its owner gave back for a refund (rule 10).
    Refunded,
}

impl StoredReservation {
    /// The name the `reservations.status` column stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Paid => "paid",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }

    /// Reads a stored status back; `None` for a name this build does not know.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "held" => Some(Self::Held),
            "paid" => Some(Self::Paid),
            "expired" => Some(Self::Expired),
            "cancelled" => Some(Self::Cancelled),
            "refunded" => Some(Self::Refunded),
            _ => None,
        }
    }

    /// What a reader sees: a hold past `held_until` reads `expired` even before
    /// the sweeper has marked it.
    pub fn visible(self, held_until: DateTime<Utc>, now: DateTime<Utc>) -> StoredReservation {
        match self {
            Self::Held if held_until <= now => Self::Expired,
            other => other,
        }
    }
}

/// Rule 3: a free seat becomes held by the caller until `now + hold_ttl`,
/// unless it is taken or the caller already holds `max_holds` seats.
pub fn decide_reserve(
    seat: SeatState,
    live_holds_of_user: u32,
    max_holds: u32,
    now: DateTime<Utc>,
    hold_ttl: Duration,
) -> Result<DateTime<Utc>, RejectReason> {
    if seat.status(now) != SeatStatus::Available {
        return Err(RejectReason::SeatTaken);
    }
    if live_holds_of_user >= max_holds {
        return Err(RejectReason::HoldLimit);
    }
    Ok(now + hold_ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default()
    }

    const FREE: SeatState = SeatState {
        sold: false,
        held_until: None,
    };

    #[test]
    fn a_seat_never_held_is_available() {
        assert_eq!(FREE.status(now()), SeatStatus::Available);
    }

    #[test]
    fn a_seat_with_a_live_hold_is_held_and_a_lapsed_hold_is_available() {
        let live = SeatState {
            sold: false,
            held_until: Some(now() + Duration::seconds(1)),
        };
        let lapsed = SeatState {
            sold: false,
            held_until: Some(now()),
        };
        assert_eq!(live.status(now()), SeatStatus::Held);
        assert_eq!(lapsed.status(now()), SeatStatus::Available);
    }

    #[test]
    fn a_sold_seat_is_sold_whatever_its_hold() {
        let sold = SeatState {
            sold: true,
            held_until: Some(now() - Duration::hours(1)),
        };
        assert_eq!(sold.status(now()), SeatStatus::Sold);
    }

    #[test]
    fn reserving_a_free_seat_holds_it_for_the_ttl() {
        let until = decide_reserve(FREE, 0, 1, now(), Duration::seconds(300));
        assert_eq!(until, Ok(now() + Duration::seconds(300)));
    }

    #[test]
    fn reserving_a_held_or_sold_seat_is_seat_taken() {
        let held = SeatState {
            sold: false,
            held_until: Some(now() + Duration::seconds(10)),
        };
        let sold = SeatState {
            sold: true,
            held_until: None,
        };
        for seat in [held, sold] {
            assert_eq!(
                decide_reserve(seat, 0, 1, now(), Duration::seconds(300)),
                Err(RejectReason::SeatTaken)
            );
        }
    }

    #[test]
    fn reserving_a_seat_whose_hold_lapsed_succeeds() {
        let lapsed = SeatState {
            sold: false,
            held_until: Some(now() - Duration::seconds(1)),
        };
        assert!(decide_reserve(lapsed, 0, 1, now(), Duration::seconds(300)).is_ok());
    }

    #[test]
    fn a_user_at_the_hold_limit_is_refused() {
        assert_eq!(
            decide_reserve(FREE, 1, 1, now(), Duration::seconds(300)),
            Err(RejectReason::HoldLimit)
        );
        assert!(decide_reserve(FREE, 1, 2, now(), Duration::seconds(300)).is_ok());
        assert_eq!(
            decide_reserve(FREE, 2, 2, now(), Duration::seconds(300)),
            Err(RejectReason::HoldLimit)
        );
    }

    #[test]
    fn a_taken_seat_is_reported_before_the_hold_limit() {
        let held = SeatState {
            sold: false,
            held_until: Some(now() + Duration::seconds(10)),
        };
        assert_eq!(
            decide_reserve(held, 5, 1, now(), Duration::seconds(300)),
            Err(RejectReason::SeatTaken)
        );
    }

    #[test]
    fn a_held_reservation_past_its_end_reads_expired() {
        let until = now();
        assert_eq!(
            StoredReservation::Held.visible(until, now()),
            StoredReservation::Expired
        );
        assert_eq!(
            StoredReservation::Held.visible(until + Duration::seconds(1), now()),
            StoredReservation::Held
        );
        assert_eq!(
            StoredReservation::Paid.visible(until, now()),
            StoredReservation::Paid
        );
    }
}
