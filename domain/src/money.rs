//! Money is integer KRW. Balances never go below zero nor above
//! [`BALANCE_LIMIT`]; a charge is 1..=[`MAX_CHARGE`].

use crate::InvalidValue;
use serde::{Deserialize, Serialize};
use std::fmt;

/// No balance may exceed this (SPEC: `409 BALANCE_LIMIT`).
pub const BALANCE_LIMIT: i64 = 1_000_000_000;
/// The largest single charge.
pub const MAX_CHARGE: i64 = 10_000_000;

/// A non-negative amount of KRW.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    /// A zero amount usable where a constant is needed (`parse` is not
    /// `const`).
    pub const ZERO: Money = Money(0);

    /// Checks an amount read from a row or a payload, so a negative balance or
    /// price is caught where it enters.
    pub fn parse(krw: i64) -> Result<Self, InvalidValue> {
        if krw >= 0 {
            Ok(Self(krw))
        } else {
            Err(InvalidValue(format!(
                "amount must not be negative, got {krw}"
            )))
        }
    }

    /// The amount in KRW, for SQL and the JSON answers.
    pub fn krw(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` when that would pass [`BALANCE_LIMIT`]: a
    /// refund may not lift a balance above it.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0
            .checked_add(other.0)
            .filter(|v| *v <= BALANCE_LIMIT)
            .map(Money)
    }

    /// `self - other`, or `None` when that would go below zero.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).filter(|v| *v >= 0).map(Money)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} KRW", self.0)
    }
}

/// The amount of one balance charge: 1..=10,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ChargeAmount(i64);

impl ChargeAmount {
    /// Checks a requested charge against SPEC's 1..=[`MAX_CHARGE`], so a bad
    /// amount is refused with 400 before anything is written.
    pub fn parse(krw: i64) -> Result<Self, InvalidValue> {
        if (1..=MAX_CHARGE).contains(&krw) {
            Ok(Self(krw))
        } else {
            Err(InvalidValue(format!(
                "amount must be between 1 and {MAX_CHARGE}, got {krw}"
            )))
        }
    }

    /// The amount in KRW, for SQL and the JSON answers.
    pub fn krw(self) -> i64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for ChargeAmount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A charge would lift the balance above [`BALANCE_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a charge of {charge} would lift the balance of {balance} above the limit")]
pub struct BalanceLimitExceeded {
    pub balance: Money,
    pub charge: i64,
}

/// The balance after a charge, if it stays within [`BALANCE_LIMIT`].
pub fn apply_charge(balance: Money, charge: ChargeAmount) -> Result<Money, BalanceLimitExceeded> {
    match balance.0.checked_add(charge.0) {
        Some(after) if after <= BALANCE_LIMIT => Ok(Money(after)),
        _ => Err(BalanceLimitExceeded {
            balance,
            charge: charge.0,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_never_negative() {
        assert!(Money::parse(-1).is_err());
        assert_eq!(Money::parse(0).map(Money::krw), Ok(0));
        assert!(serde_json::from_str::<Money>("-5").is_err());
    }

    #[test]
    fn subtracting_more_than_there_is_gives_none() {
        let ten = Money(10);
        assert_eq!(ten.checked_sub(Money(10)), Some(Money(0)));
        assert_eq!(ten.checked_sub(Money(11)), None);
    }

    #[test]
    fn charges_from_1_to_ten_million_are_accepted() {
        assert!(ChargeAmount::parse(1).is_ok());
        assert!(ChargeAmount::parse(MAX_CHARGE).is_ok());
    }

    #[test]
    fn charges_outside_1_to_ten_million_are_rejected() {
        for krw in [0, -1, MAX_CHARGE + 1, i64::MAX, i64::MIN] {
            assert!(ChargeAmount::parse(krw).is_err(), "{krw} accepted");
        }
        assert!(serde_json::from_str::<ChargeAmount>("1.5").is_err());
        assert!(serde_json::from_str::<ChargeAmount>("\"100\"").is_err());
    }

    #[test]
    fn a_charge_up_to_the_limit_is_applied() {
        let charge = ChargeAmount(MAX_CHARGE);
        assert_eq!(
            apply_charge(Money(BALANCE_LIMIT - MAX_CHARGE), charge),
            Ok(Money(BALANCE_LIMIT))
        );
        assert_eq!(apply_charge(Money(5), ChargeAmount(7)), Ok(Money(12)));
    }

    #[test]
    fn a_charge_past_the_limit_is_refused() {
        assert!(apply_charge(Money(BALANCE_LIMIT), ChargeAmount(1)).is_err());
        assert!(apply_charge(Money(BALANCE_LIMIT - 1), ChargeAmount(2)).is_err());
    }
}
