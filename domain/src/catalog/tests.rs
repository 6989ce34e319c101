//! The catalog rules on their own: price ranges, names, capacities, times.

use super::*;
use chrono::Duration;

fn range(from_seat: i64, to_seat: i64, price: i64) -> PriceRange {
    PriceRange {
        from_seat,
        to_seat,
        price,
    }
}

fn refused(total: i64, ranges: &[PriceRange]) -> String {
    match SeatPrices::from_ranges(total, ranges) {
        Ok(p) => panic!("accepted {ranges:?} as {p:?}"),
        Err(e) => e.0,
    }
}

#[test]
fn two_ranges_that_cover_every_seat_once_give_each_seat_its_price() {
    let prices = SeatPrices::from_ranges(5, &[range(3, 5, 80_000), range(1, 2, 150_000)])
        .map(SeatPrices::into_vec);
    assert_eq!(prices, Ok(vec![150_000, 150_000, 80_000, 80_000, 80_000]));
    let one = SeatPrices::from_ranges(1, &[range(1, 1, 1)]).map(SeatPrices::into_vec);
    assert_eq!(one, Ok(vec![1]));
    let full = SeatPrices::from_ranges(50, &[range(1, 50, MAX_SEAT_PRICE)]);
    assert_eq!(full.map(|p| p.into_vec().len()), Ok(50));
}

#[test]
fn overlapping_ranges_are_refused_naming_both_and_the_seat() {
    let e = refused(10, &[range(1, 6, 100), range(5, 10, 200)]);
    assert!(
        e.contains("prices[1]") && e.contains("prices[0]") && e.contains("seat 5"),
        "{e}"
    );
}

#[test]
fn a_gap_is_refused_naming_the_first_seat_without_a_price() {
    let e = refused(10, &[range(1, 4, 100), range(6, 10, 200)]);
    assert!(e.contains("seat 5"), "{e}");
    let e = refused(10, &[range(1, 9, 100)]);
    assert!(e.contains("seat 10"), "{e}");
}

#[test]
fn seats_outside_the_performance_or_reversed_ranges_are_refused() {
    let e = refused(10, &[range(0, 10, 100)]);
    assert!(e.contains("prices[0].from_seat"), "{e}");
    let e = refused(10, &[range(1, 11, 100)]);
    assert!(e.contains("prices[0].to_seat"), "{e}");
    let e = refused(10, &[range(1, 5, 100), range(10, 6, 100)]);
    assert!(e.contains("prices[1]") && e.contains("after"), "{e}");
}

#[test]
fn total_seats_must_be_one_to_fifty_and_prices_non_empty() {
    for total in [0, -1, 51, i64::MAX] {
        let e = refused(total, &[range(1, 1, 100)]);
        assert!(e.contains("total_seats"), "{e}");
    }
    assert!(refused(3, &[]).contains("prices"));
}

#[test]
fn a_price_must_be_at_least_one_and_at_most_the_maximum() {
    for price in [0, -5, MAX_SEAT_PRICE + 1] {
        let e = refused(2, &[range(1, 2, price)]);
        assert!(e.contains("prices[0].price"), "{e}");
    }
}

#[test]
fn names_are_trimmed_and_bounded() {
    assert_eq!(
        Name::parse("title", "  Live  ").map(|n| n.as_str().to_owned()),
        Ok("Live".into())
    );
    assert!(Name::parse("title", "   ").is_err_and(|e| e.0.contains("title")));
    let long = "x".repeat(MAX_NAME_CHARS + 1);
    assert!(Name::parse("artist", &long).is_err_and(|e| e.0.contains("artist")));
    assert!(Name::parse("artist", &"가".repeat(MAX_NAME_CHARS)).is_ok());
    assert!(Name::parse("artist", "a\u{0}b").is_err());
}

#[test]
fn queue_capacity_is_one_to_the_maximum() {
    assert_eq!(QueueCapacity::parse(1).map(QueueCapacity::get), Ok(1));
    assert!(QueueCapacity::parse(MAX_QUEUE_CAPACITY).is_ok());
    for bad in [0, -1, MAX_QUEUE_CAPACITY + 1, i64::MAX] {
        assert!(QueueCapacity::parse(bad).is_err_and(|e| e.0.contains("queue_capacity")));
    }
}

#[test]
fn times_are_rfc_3339_with_any_offset() {
    let t = parse_time("starts_at", "2027-01-31T19:00:00+09:00");
    assert_eq!(
        t.map(|t| t.to_rfc3339()),
        Ok("2027-01-31T10:00:00+00:00".into())
    );
    for bad in ["tomorrow", "2027-01-31", "2027-01-31 19:00", ""] {
        assert!(parse_time("starts_at", bad).is_err_and(|e| e.0.contains("starts_at")));
    }
}

#[test]
fn a_performance_starts_in_the_future_and_not_before_the_sale_opens() {
    let now = Utc::now();
    let later = now + Duration::days(10);
    assert!(check_performance_start(later, None, now).is_ok());
    assert!(check_performance_start(later, Some(now + Duration::days(1)), now).is_ok());
    assert!(
        check_performance_start(now - Duration::seconds(1), None, now)
            .is_err_and(|e| e.0.contains("starts_at must be in the future"))
    );
    assert!(
        check_performance_start(later, Some(later + Duration::days(1)), now)
            .is_err_and(|e| e.0.contains("sale_opens_at"))
    );
}

#[test]
fn a_new_opening_is_in_the_future_and_not_after_the_first_performance() {
    let now = Utc::now();
    let first = now + Duration::days(10);
    assert!(check_new_opening(now + Duration::days(1), Some(first), now).is_ok());
    assert!(check_new_opening(first, Some(first), now).is_ok());
    assert!(check_new_opening(now + Duration::days(1), None, now).is_ok());
    assert!(check_new_opening(now - Duration::days(1), Some(first), now)
        .is_err_and(|e| e.0.contains("sale_opens_at must be in the future")));
    assert!(
        check_new_opening(first + Duration::seconds(1), Some(first), now)
            .is_err_and(|e| e.0.contains("first performance"))
    );
}
