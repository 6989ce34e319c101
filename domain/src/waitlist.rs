//! Rule 11: the waitlist of a sold-out performance. A seat freed while
//! anyone waits is offered to the first on the list, as a hold of its own
//! (an offer) for `WAITLIST_OFFER_SECONDS`; only while the list is empty is
//! a free seat `available` to others.

use crate::rules::{SeatState, SeatStatus};
use chrono::{DateTime, Duration, Utc};

/// What readers see of `seat` at `now` when its performance's waitlist is
/// empty or not (`waitlisted`): a free seat is held back for the list, so
/// nobody may take it while anyone waits.
pub fn seat_status(seat: SeatState, waitlisted: bool, now: DateTime<Utc>) -> SeatStatus {
    match seat.status(now) {
        SeatStatus::Available if waitlisted => SeatStatus::Held,
        status => status,
    }
}

/// Whether `seat` must be offered to the first on its performance's list
/// before anything else happens to it: it is free (never held, released,
/// refunded or its hold lapsed) and someone waits.
pub fn goes_to_waitlist(seat: SeatState, waitlisted: bool, now: DateTime<Utc>) -> bool {
    waitlisted && seat.status(now) == SeatStatus::Available
}

/// What a request to join a performance's waitlist does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// A new place at the end of the list (`201`).
    Joined,
    /// The caller already has a place; it stays as it was (`200`).
    AlreadyOn,
    /// A seat is free to take now: nobody needs to wait (`409
    /// SEATS_AVAILABLE`).
    SeatsAvailable,
}

/// Decides a join: a user with a place keeps it whatever the seats do;
/// otherwise a performance with `available_seats` (as readers see them,
/// see [`seat_status`]) cannot be joined.
pub fn decide_join(already_on: bool, available_seats: i64) -> Join {
    if already_on {
        Join::AlreadyOn
    } else if available_seats > 0 {
        Join::SeatsAvailable
    } else {
        Join::Joined
    }
}

/// Pairs freed seats with the places taken off the list for them: the
/// first place gets the first seat, and so on. `seats` come in seat order,
/// `places` in list order; what is left over on either side is not paired
/// (a seat with nobody waiting becomes available again).
pub fn pair_offers<S, P>(seats: Vec<S>, places: Vec<P>) -> Vec<(S, P)> {
    seats.into_iter().zip(places).collect()
}

/// When an offer made at `now` runs out, after which it goes to the next on
/// the list.
pub fn offer_until(now: DateTime<Utc>, offer_ttl: Duration) -> DateTime<Utc> {
    now + offer_ttl
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default()
    }

    fn seat(sold: bool, held_for: Option<i64>) -> SeatState {
        SeatState {
            sold,
            held_until: held_for.map(|s| now() + Duration::seconds(s)),
        }
    }

    #[test]
    fn a_free_seat_is_available_only_while_nobody_waits() {
        for free in [
            seat(false, None),
            seat(false, Some(0)),
            seat(false, Some(-5)),
        ] {
            assert_eq!(seat_status(free, false, now()), SeatStatus::Available);
            assert_eq!(seat_status(free, true, now()), SeatStatus::Held);
        }
    }

    #[test]
    fn held_and_sold_seats_read_the_same_with_or_without_a_waitlist() {
        for waitlisted in [false, true] {
            assert_eq!(
                seat_status(seat(false, Some(10)), waitlisted, now()),
                SeatStatus::Held
            );
            assert_eq!(
                seat_status(seat(true, None), waitlisted, now()),
                SeatStatus::Sold
            );
        }
    }

    #[test]
    fn only_a_free_seat_with_someone_waiting_goes_to_the_waitlist() {
        assert!(goes_to_waitlist(seat(false, None), true, now()));
        assert!(goes_to_waitlist(seat(false, Some(-1)), true, now()));
        assert!(!goes_to_waitlist(seat(false, None), false, now()));
        assert!(!goes_to_waitlist(seat(false, Some(60)), true, now()));
        assert!(!goes_to_waitlist(seat(true, None), true, now()));
    }

    #[test]
    fn joining_needs_a_sold_out_performance_unless_already_on_the_list() {
        assert_eq!(decide_join(false, 0), Join::Joined);
        assert_eq!(decide_join(false, 1), Join::SeatsAvailable);
        assert_eq!(decide_join(true, 0), Join::AlreadyOn);
        assert_eq!(decide_join(true, 3), Join::AlreadyOn);
    }

    #[test]
    fn the_first_place_gets_the_first_freed_seat_and_leftovers_are_not_paired() {
        assert_eq!(
            pair_offers(vec![3, 7], vec!["first", "second", "third"]),
            vec![(3, "first"), (7, "second")]
        );
        assert_eq!(pair_offers(vec![3, 7], vec!["only"]), vec![(3, "only")]);
        assert!(pair_offers(Vec::<i16>::new(), vec!["first"]).is_empty());
    }

    #[test]
    fn an_offer_lasts_its_ttl() {
        assert_eq!(
            offer_until(now(), Duration::seconds(600)),
            now() + Duration::seconds(600)
        );
    }
}
