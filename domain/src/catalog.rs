//! The rules of making the catalog (SPEC admin endpoints): what a concert's
//! names and room size may be, how a performance's price ranges must cover
//! its seats, and how a sale's opening and the performances are ordered.
//! Pure, so the admin handlers only parse, ask these and write.

use crate::{InvalidValue, SEATS_PER_PERFORMANCE};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The seats `from_seat..=to_seat` of a new performance, all at `price`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceRange {
    /// The first seat of the range.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 50, example = 1))]
    pub from_seat: i64,
    /// The last seat of the range (inclusive).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 50, example = 10))]
    pub to_seat: i64,
    /// KRW, 1..=100,000,000.
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 100_000_000, example = 150000)
    )]
    pub price: i64,
}

/// Longest concert title or artist, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Largest room an admin may set: far above any real venue's line, low
/// enough that the admission job's arithmetic stays in `i32`.
pub const MAX_QUEUE_CAPACITY: i64 = 1_000_000;
/// Highest price of one seat, in KRW: a typo guard well below the balance
/// limit.
pub const MAX_SEAT_PRICE: i64 = 100_000_000;

/// A concert's title or artist: trimmed, 1..=[`MAX_NAME_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Checks `raw`, naming `field` in the error.
    pub fn parse(field: &str, raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS {
            return Err(InvalidValue(format!(
                "{field} must be 1 to {MAX_NAME_CHARS} characters (trimmed), got {chars}"
            )));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(InvalidValue(format!(
                "{field} must not hold control characters"
            )));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The checked text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many tokens of a room may be active at once: 1..=[`MAX_QUEUE_CAPACITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCapacity(u32);

impl QueueCapacity {
    /// Checks a `queue_capacity` from a body.
    pub fn parse(raw: i64) -> Result<Self, InvalidValue> {
        match u32::try_from(raw) {
            Ok(n) if (1..=MAX_QUEUE_CAPACITY).contains(&raw) => Ok(Self(n)),
            _ => Err(InvalidValue(format!(
                "queue_capacity must be 1..={MAX_QUEUE_CAPACITY}, got {raw}"
            ))),
        }
    }

    /// The capacity, for SQL.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A time from a body: RFC 3339 (any offset, read as UTC).
pub fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, InvalidValue> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            let shown: String = raw.chars().take(40).collect();
            InvalidValue(format!(
                "{field} must be an RFC 3339 time such as 2027-01-31T19:00:00Z, got {shown:?}"
            ))
        })
}

/// The price of every seat of a new performance, seat 1 first: made only
/// from price ranges that cover seats 1..=`total_seats` exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatPrices(Vec<i64>);

impl SeatPrices {
    /// Checks `total_seats` (1..=50) and `ranges`: each range has
    /// `1 <= from_seat <= to_seat <= total_seats` and a price in
    /// 1..=[`MAX_SEAT_PRICE`]; no seat is in two ranges and none in no range.
    /// The error names the field (`prices[2].to_seat`, a seat left out).
    pub fn from_ranges(total_seats: i64, ranges: &[PriceRange]) -> Result<Self, InvalidValue> {
        let max = i64::from(SEATS_PER_PERFORMANCE);
        if !(1..=max).contains(&total_seats) {
            return Err(InvalidValue(format!(
                "total_seats must be 1..={max}, got {total_seats}"
            )));
        }
        if ranges.is_empty() {
            return Err(InvalidValue(
                "prices must hold at least one range {from_seat, to_seat, price}".into(),
            ));
        }
        let mut prices: Vec<Option<(usize, i64)>> = vec![None; total_seats as usize];
        for (i, range) in ranges.iter().enumerate() {
            let PriceRange {
                from_seat,
                to_seat,
                price,
            } = *range;
            for (name, seat) in [("from_seat", from_seat), ("to_seat", to_seat)] {
                if !(1..=total_seats).contains(&seat) {
                    return Err(InvalidValue(format!(
                        "prices[{i}].{name} must be 1..={total_seats} (total_seats), got {seat}"
                    )));
                }
            }
            if from_seat > to_seat {
                return Err(InvalidValue(format!(
                    "prices[{i}]: from_seat {from_seat} is after to_seat {to_seat}"
                )));
            }
            if !(1..=MAX_SEAT_PRICE).contains(&price) {
                return Err(InvalidValue(format!(
                    "prices[{i}].price must be 1..={MAX_SEAT_PRICE}, got {price}"
                )));
            }
            // In bounds: both ends were checked against total_seats.
            let seats = (from_seat - 1) as usize..to_seat as usize;
            for (slot, seat) in prices.get_mut(seats).into_iter().flatten().zip(from_seat..) {
                if let Some((other, _)) = slot {
                    return Err(InvalidValue(format!(
                        "prices[{i}] overlaps prices[{other}] at seat {seat}"
                    )));
                }
                *slot = Some((i, price));
            }
        }
        prices
            .iter()
            .zip(1..)
            .map(|(slot, seat)| {
                slot.map(|(_, price)| price).ok_or_else(|| {
                    InvalidValue(format!(
                        "prices leave seat {seat} without a price (the ranges must cover seats 1..={total_seats})"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The prices, seat 1 first.
    pub fn into_vec(self) -> Vec<i64> {
        self.0
    }
}

/// When a performance may start: in the future, and not before its
/// concert's sale opens (`sale_opens_at`, if it has one).
pub fn check_performance_start(
    starts_at: DateTime<Utc>,
    sale_opens_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), InvalidValue> {
    if starts_at <= now {
        return Err(InvalidValue(format!(
            "starts_at must be in the future, got {}",
            starts_at.to_rfc3339()
        )));
    }
    if let Some(opens) = sale_opens_at.filter(|o| starts_at < *o) {
        return Err(InvalidValue(format!(
            "starts_at must not be before the concert's sale_opens_at ({})",
            opens.to_rfc3339()
        )));
    }
    Ok(())
}

/// A new `sale_opens_at` for a concert whose sale has not opened: in the
/// future, and not after its first performance (if it has any).
pub fn check_new_opening(
    sale_opens_at: DateTime<Utc>,
    first_performance: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), InvalidValue> {
    if sale_opens_at <= now {
        return Err(InvalidValue(format!(
            "sale_opens_at must be in the future, got {}",
            sale_opens_at.to_rfc3339()
        )));
    }
    if let Some(first) = first_performance.filter(|f| sale_opens_at > *f) {
        return Err(InvalidValue(format!(
            "sale_opens_at must not be after the concert's first performance ({})",
            first.to_rfc3339()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
