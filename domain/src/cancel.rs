//! Rule 10: cancelling a reservation. The owner's live hold is released at
//! once and no money moves; the owner's paid seat is refunded in full while
//! its performance is more than the cutoff away. Decided by the worker in
//! the transaction that applies it, from the rows it has locked.

use crate::rules::StoredReservation;
use crate::{Money, RejectReason, UserId};
use chrono::{DateTime, Duration, Utc};

/// What the worker read of the reservation to cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelState {
    pub owner: UserId,
    pub status: StoredReservation,
    pub held_until: DateTime<Utc>,
    pub price: Money,
    /// When the reservation's performance starts.
    pub starts_at: DateTime<Utc>,
}

/// What a cancel does when it is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancellation {
    /// The hold is released; the balance stays as it is.
    Release,
    /// The price goes back to the balance, which becomes `balance_after`.
    Refund { refund: Money, balance_after: Money },
}

/// Decides `caller`'s cancel of `reservation` at `now`, with their balance
/// `balance` and the refund cutoff `cutoff`.
pub fn decide_cancel(
    reservation: Option<CancelState>,
    caller: UserId,
    balance: Money,
    now: DateTime<Utc>,
    cutoff: Duration,
) -> Result<Cancellation, RejectReason> {
    let r = reservation.ok_or(RejectReason::ReservationNotFound)?;
    if r.owner != caller {
        return Err(RejectReason::NotYourReservation);
    }
    match r.status.visible(r.held_until, now) {
        StoredReservation::Cancelled | StoredReservation::Refunded => {
            Err(RejectReason::AlreadyCancelled)
        }
        StoredReservation::Expired => Err(RejectReason::HoldExpired),
        StoredReservation::Held => Ok(Cancellation::Release),
        StoredReservation::Paid => {
            if r.starts_at - now <= cutoff {
                return Err(RejectReason::RefundClosed);
            }
            let balance_after = balance
                .checked_add(r.price)
                .ok_or(RejectReason::BalanceLimit)?;
            Ok(Cancellation::Refund {
                refund: r.price,
                balance_after,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default()
    }

    fn money(krw: i64) -> Money {
        Money::parse(krw).unwrap_or_default()
    }

    fn owner() -> UserId {
        UserId(uuid::Uuid::from_u128(7))
    }

    fn reservation(status: StoredReservation) -> CancelState {
        CancelState {
            owner: owner(),
            status,
            held_until: now() + Duration::seconds(60),
            price: money(50_000),
            starts_at: now() + Duration::days(7),
        }
    }

    fn cancel(r: CancelState) -> Result<Cancellation, RejectReason> {
        decide_cancel(Some(r), owner(), money(10_000), now(), Duration::days(1))
    }

    #[test]
    fn a_live_hold_is_released_and_no_money_moves() {
        assert_eq!(
            cancel(reservation(StoredReservation::Held)),
            Ok(Cancellation::Release)
        );
    }

    #[test]
    fn a_paid_seat_far_enough_ahead_is_refunded_in_full() {
        assert_eq!(
            cancel(reservation(StoredReservation::Paid)),
            Ok(Cancellation::Refund {
                refund: money(50_000),
                balance_after: money(60_000),
            })
        );
    }

    #[test]
    fn a_paid_seat_within_the_cutoff_is_not_refunded() {
        let mut r = reservation(StoredReservation::Paid);
        r.starts_at = now() + Duration::days(1);
        assert_eq!(cancel(r), Err(RejectReason::RefundClosed));
        r.starts_at = now() + Duration::days(1) + Duration::seconds(1);
        assert!(cancel(r).is_ok());
    }

    #[test]
    fn a_refund_that_would_pass_the_balance_limit_is_refused() {
        let r = reservation(StoredReservation::Paid);
        let full = money(crate::BALANCE_LIMIT - 49_999);
        assert_eq!(
            decide_cancel(Some(r), owner(), full, now(), Duration::days(1)),
            Err(RejectReason::BalanceLimit)
        );
    }

    #[test]
    fn a_lapsed_hold_is_expired_and_a_cancelled_one_cannot_be_cancelled_again() {
        let mut lapsed = reservation(StoredReservation::Held);
        lapsed.held_until = now();
        assert_eq!(cancel(lapsed), Err(RejectReason::HoldExpired));
        assert_eq!(
            cancel(reservation(StoredReservation::Expired)),
            Err(RejectReason::HoldExpired)
        );
        for done in [StoredReservation::Cancelled, StoredReservation::Refunded] {
            assert_eq!(
                cancel(reservation(done)),
                Err(RejectReason::AlreadyCancelled)
            );
        }
    }

    #[test]
    fn only_the_owner_may_cancel_and_an_unknown_reservation_is_not_found() {
        let stranger = UserId(uuid::Uuid::from_u128(8));
        let r = reservation(StoredReservation::Held);
        assert_eq!(
            decide_cancel(Some(r), stranger, money(0), now(), Duration::days(1)),
            Err(RejectReason::NotYourReservation)
        );
        assert_eq!(
            decide_cancel(None, owner(), money(0), now(), Duration::days(1)),
            Err(RejectReason::ReservationNotFound)
        );
    }
}
