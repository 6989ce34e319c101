//! The shared vocabulary of the service: ids, validated values, the commands
//! that travel through Kafka, their outcomes, the configuration and the pure
//! rules that decide them. Nothing here does I/O, so every rule is unit-tested
//! on its own.

pub mod cancel;
pub mod catalog;
pub mod checkout;
pub mod command;
pub mod config;
pub mod ids;
pub mod line;
pub mod money;
pub mod outcome;
pub mod queue;
pub mod rules;
pub mod seat;
pub mod waitlist;
pub mod wire;

pub use command::{Command, CommandEnvelope, DecodeError, COMMAND_VERSION};
pub use ids::{ConcertId, PaymentId, PerformanceId, RequestId, ReservationId, TokenId, UserId};
pub use money::{ChargeAmount, Money, BALANCE_LIMIT, MAX_CHARGE};
pub use outcome::{Decision, RejectReason, RequestKind, RequestStatus};
pub use seat::{SeatKey, SeatNumber, SEATS_PER_PERFORMANCE};

/// Why a value from outside could not become a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);
