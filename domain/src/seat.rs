//! Seats: numbered 1..=50 within one performance.

use crate::{InvalidValue, PerformanceId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Seats in each performance (SPEC), numbered 1 to this; the bound every seat
/// number is checked against.
pub const SEATS_PER_PERFORMANCE: i16 = 50;

/// A seat number that is known to be in 1..=50.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SeatNumber(i16);

impl SeatNumber {
    /// Checks a seat number from a client or a row, so an impossible seat is
    /// refused before it reaches a query or the topic.
    pub fn parse(n: i64) -> Result<Self, InvalidValue> {
        if (1..=i64::from(SEATS_PER_PERFORMANCE)).contains(&n) {
            Ok(Self(n as i16))
        } else {
            Err(InvalidValue(format!(
                "seat_number must be between 1 and {SEATS_PER_PERFORMANCE}, got {n}"
            )))
        }
    }

    /// The number as stored in the `seat_number` column.
    pub fn get(self) -> i16 {
        self.0
    }
}

impl<'de> Deserialize<'de> for SeatNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        Self::parse(n).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for SeatNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One seat of one performance: the Kafka key of every command about it, so
/// all of a seat's commands land in one partition and are applied in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeatKey {
    pub performance_id: PerformanceId,
    pub seat_number: SeatNumber,
}

impl SeatKey {
    /// The Kafka message key, `"<performance>:<seat>"`.
    pub fn kafka_key(&self) -> String {
        format!("{}:{}", self.performance_id, self.seat_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_numbers_from_1_to_50_are_accepted() {
        assert_eq!(SeatNumber::parse(1).map(SeatNumber::get), Ok(1));
        assert_eq!(SeatNumber::parse(50).map(SeatNumber::get), Ok(50));
    }

    #[test]
    fn seat_numbers_outside_1_to_50_are_rejected() {
        for n in [0, -1, 51, i64::MAX, i64::MIN] {
            assert!(SeatNumber::parse(n).is_err(), "{n} accepted");
        }
    }

    #[test]
    fn deserializing_an_out_of_range_seat_fails() {
        assert!(serde_json::from_str::<SeatNumber>("51").is_err());
        assert!(serde_json::from_str::<SeatNumber>("\"5\"").is_err());
        assert_eq!(
            serde_json::from_str::<SeatNumber>("5").ok(),
            SeatNumber::parse(5).ok()
        );
    }

    #[test]
    fn a_seat_key_names_performance_and_seat() {
        let key = SeatKey {
            performance_id: PerformanceId(12),
            seat_number: SeatNumber(7),
        };
        assert_eq!(key.kafka_key(), "12:7");
    }
}
