//! Rule 5: paying several of one's holds together. Every reservation named
//! must be the payer's own live hold; the payer may not own more than
//! `MAX_TICKETS_PER_USER` paid (not refunded) seats of one performance; the
//! total comes from the balance. All or nothing: any failure rejects the
//! whole checkout.

use crate::rules::StoredReservation;
use crate::{Money, PerformanceId, RejectReason, UserId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// What the worker read of one reservation of a checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckoutLine {
    pub owner: UserId,
    pub status: StoredReservation,
    pub held_until: DateTime<Utc>,
    pub price: Money,
    pub performance: PerformanceId,
    /// A hold made from the waitlist (rule 11).
    pub offer: bool,
}

/// Whether a checkout may be sent with any live token of the payer rather
/// than an active one: every reservation it names is an offer from the
/// waitlist, which may reach its user after their turn in the waiting room
/// has ended (rule 11). Anything else needs the concert's active token.
pub fn payable_with_any_token(lines: &[Option<CheckoutLine>]) -> bool {
    !lines.is_empty() && lines.iter().all(|l| l.is_some_and(|l| l.offer))
}

/// Decides `payer`'s checkout of `lines` (`None` for a reservation that does
/// not exist) with balance `balance`, owning `owned[p]` paid seats of each
/// performance `p` already, under the limit `max_tickets`. The result is the
/// balance after payment.
pub fn decide_checkout(
    lines: &[Option<CheckoutLine>],
    payer: UserId,
    balance: Money,
    now: DateTime<Utc>,
    owned: &HashMap<PerformanceId, u32>,
    max_tickets: u32,
) -> Result<Money, RejectReason> {
    let mut total = Money::ZERO;
    let mut adding: HashMap<PerformanceId, u32> = HashMap::new();
    for line in lines {
        let line = line.ok_or(RejectReason::ReservationNotFound)?;
        if line.owner != payer {
            return Err(RejectReason::NotYourReservation);
        }
        match line.status.visible(line.held_until, now) {
            StoredReservation::Held => {}
            StoredReservation::Paid => return Err(RejectReason::AlreadyPaid),
            // A lapsed, released or refunded reservation has no hold to pay.
            StoredReservation::Expired
            | StoredReservation::Cancelled
            | StoredReservation::Refunded => return Err(RejectReason::HoldExpired),
        }
        *adding.entry(line.performance).or_default() += 1;
        total = Money::parse(total.krw().saturating_add(line.price.krw()))
            .map_err(|_| RejectReason::InsufficientBalance)?;
    }
    for (performance, new) in adding {
        let already = owned.get(&performance).copied().unwrap_or(0);
        if already.saturating_add(new) > max_tickets {
            return Err(RejectReason::TicketLimit);
        }
    }
    balance
        .checked_sub(total)
        .ok_or(RejectReason::InsufficientBalance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default()
    }

    fn krw(n: i64) -> Money {
        Money::parse(n).unwrap_or_default()
    }

    fn me() -> UserId {
        UserId(uuid::Uuid::from_u128(1))
    }

    fn hold(price: i64, performance: i64) -> Option<CheckoutLine> {
        Some(CheckoutLine {
            owner: me(),
            status: StoredReservation::Held,
            held_until: now() + Duration::seconds(60),
            price: krw(price),
            performance: PerformanceId(performance),
            offer: false,
        })
    }

    fn decide(lines: &[Option<CheckoutLine>], balance: i64) -> Result<Money, RejectReason> {
        decide_checkout(lines, me(), krw(balance), now(), &HashMap::new(), 4)
    }

    #[test]
    fn the_holds_are_paid_together_from_the_balance() {
        assert_eq!(decide(&[hold(300, 1), hold(200, 1)], 1000), Ok(krw(500)));
        assert_eq!(decide(&[hold(300, 1)], 300), Ok(krw(0)));
    }

    #[test]
    fn too_little_balance_for_the_total_rejects_every_hold() {
        assert_eq!(
            decide(&[hold(300, 1), hold(300, 2)], 599),
            Err(RejectReason::InsufficientBalance)
        );
    }

    #[test]
    fn one_bad_reservation_rejects_the_whole_checkout() {
        let mut lapsed = hold(100, 1);
        if let Some(l) = lapsed.as_mut() {
            l.held_until = now();
        }
        assert_eq!(
            decide(&[hold(100, 1), lapsed], 1000),
            Err(RejectReason::HoldExpired)
        );
        assert_eq!(
            decide(&[hold(100, 1), None], 1000),
            Err(RejectReason::ReservationNotFound)
        );
        let mut theirs = hold(100, 1);
        if let Some(l) = theirs.as_mut() {
            l.owner = UserId(uuid::Uuid::from_u128(2));
        }
        assert_eq!(
            decide(&[theirs], 1000),
            Err(RejectReason::NotYourReservation)
        );
        for status in [
            StoredReservation::Cancelled,
            StoredReservation::Refunded,
            StoredReservation::Expired,
        ] {
            let mut gone = hold(100, 1);
            if let Some(l) = gone.as_mut() {
                l.status = status;
            }
            assert_eq!(decide(&[gone], 1000), Err(RejectReason::HoldExpired));
        }
        let mut paid = hold(100, 1);
        if let Some(l) = paid.as_mut() {
            l.status = StoredReservation::Paid;
        }
        assert_eq!(decide(&[paid], 1000), Err(RejectReason::AlreadyPaid));
    }

    #[test]
    fn no_one_owns_more_than_the_ticket_limit_of_one_performance() {
        let owned = HashMap::from([(PerformanceId(1), 3)]);
        let check = |lines: &[Option<CheckoutLine>]| {
            decide_checkout(lines, me(), krw(10_000), now(), &owned, 4)
        };
        assert!(check(&[hold(100, 1)]).is_ok(), "3 owned + 1 = the limit");
        assert_eq!(
            check(&[hold(100, 1), hold(100, 1)]),
            Err(RejectReason::TicketLimit)
        );
        // Another performance has its own count.
        assert!(check(&[hold(100, 1), hold(100, 2), hold(100, 2)]).is_ok());
    }

    #[test]
    fn only_a_checkout_of_offers_alone_may_be_paid_without_an_active_token() {
        let offer = |l: Option<CheckoutLine>| l.map(|l| CheckoutLine { offer: true, ..l });
        assert!(payable_with_any_token(&[offer(hold(10, 1))]));
        assert!(payable_with_any_token(&[
            offer(hold(10, 1)),
            offer(hold(20, 2))
        ]));
        assert!(!payable_with_any_token(&[offer(hold(10, 1)), hold(20, 2)]));
        assert!(!payable_with_any_token(&[hold(10, 1)]));
        assert!(!payable_with_any_token(&[offer(hold(10, 1)), None]));
        assert!(!payable_with_any_token(&[]));
    }
}
