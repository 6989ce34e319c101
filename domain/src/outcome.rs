//! What a command comes to: its kind, its status and, when rejected, why.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a command asks for: the `kind` of a request, so one status endpoint
/// serves every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(description = "What a command asks for."))]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Reserve,
    Pay,
    Cancel,
}

impl RequestKind {
    /// The name the requests table stores and the metrics label by.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserve => "reserve",
            Self::Pay => "pay",
            Self::Cancel => "cancel",
        }
    }

    /// Reads a stored kind back; `None` for a name this build does not know.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reserve" => Some(Self::Reserve),
            "pay" => Some(Self::Pay),
            "cancel" => Some(Self::Cancel),
            _ => None,
        }
    }
}

/// Where a command stands: `pending` until a worker decides it, then final,
/// so a client knows when to stop polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        description = "Where a command stands: `pending` until a worker decides it, then final."
    )
)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Succeeded,
    Rejected,
}

impl RequestStatus {
    /// The name the requests table stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Rejected => "rejected",
        }
    }

    /// Reads a stored status back; `None` for a name this build does not know.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "succeeded" => Some(Self::Succeeded),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }

    /// Whether a worker has decided, so a poller knows it can stop.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

/// Why a worker rejected a command; the `reason` of a rejected request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "Why a worker rejected a command.")
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectReason {
    /// The seat is held by someone (hold not expired) or sold.
    SeatTaken,
    /// The user already holds `MAX_HOLDS_PER_USER` seats.
    HoldLimit,
    ReservationNotFound,
    NotYourReservation,
    HoldExpired,
    AlreadyPaid,
    InsufficientBalance,
    /// The performance or seat does not exist (re-checked by the worker).
    SeatNotFound,
    /// The user's queue token was no longer active when the command was applied.
    TokenNotActive,
    /// The message could not be decoded or has an unknown version.
    InvalidCommand,
    /// The reservation was already released or refunded (rule 10).
    AlreadyCancelled,
    /// The performance starts within `REFUND_CUTOFF_SECONDS` (rule 10).
    RefundClosed,
    /// The refund would lift the balance above the limit (rule 10).
    BalanceLimit,
    /// The payer would own more than `MAX_TICKETS_PER_USER` paid seats of
    /// one performance (rule 5).
    TicketLimit,
}

impl RejectReason {
    /// Every reason, so `parse` can search them and tests can check that the
    /// document lists each one.
    pub const ALL: [RejectReason; 14] = [
        Self::SeatTaken,
        Self::HoldLimit,
        Self::ReservationNotFound,
        Self::NotYourReservation,
        Self::HoldExpired,
        Self::AlreadyPaid,
        Self::InsufficientBalance,
        Self::SeatNotFound,
        Self::TokenNotActive,
        Self::InvalidCommand,
        Self::AlreadyCancelled,
        Self::RefundClosed,
        Self::BalanceLimit,
        Self::TicketLimit,
    ];

    /// The SPEC's code, as clients see it in `reason` and the requests table
    /// stores it.
    pub fn code(self) -> &'static str {
        match self {
            Self::SeatTaken => "SEAT_TAKEN",
            Self::HoldLimit => "HOLD_LIMIT",
            Self::ReservationNotFound => "RESERVATION_NOT_FOUND",
            Self::NotYourReservation => "NOT_YOUR_RESERVATION",
            Self::HoldExpired => "HOLD_EXPIRED",
            Self::AlreadyPaid => "ALREADY_PAID",
            Self::InsufficientBalance => "INSUFFICIENT_BALANCE",
            Self::SeatNotFound => "SEAT_NOT_FOUND",
            Self::TokenNotActive => "TOKEN_NOT_ACTIVE",
            Self::InvalidCommand => "INVALID_COMMAND",
            Self::AlreadyCancelled => "ALREADY_CANCELLED",
            Self::RefundClosed => "REFUND_CLOSED",
            Self::BalanceLimit => "BALANCE_LIMIT",
            Self::TicketLimit => "TICKET_LIMIT",
        }
    }

    /// Reads a stored code back; `None` for a code this build does not know.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What a worker decided for one command: the `result` of a success, or
/// why it was rejected. It becomes the request's final status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Succeeded(crate::wire::RequestResult),
    Rejected(RejectReason),
}

impl Decision {
    /// The final status this decision gives its request.
    pub fn status(&self) -> RequestStatus {
        match self {
            Self::Succeeded(_) => RequestStatus::Succeeded,
            Self::Rejected(_) => RequestStatus::Rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_its_code() {
        for r in RejectReason::ALL {
            assert_eq!(RejectReason::parse(r.code()), Some(r));
            assert_eq!(
                serde_json::to_value(r).ok(),
                Some(serde_json::json!(r.code()))
            );
        }
        assert_eq!(RejectReason::parse("NOPE"), None);
    }

    #[test]
    fn kinds_and_statuses_round_trip() {
        for k in [RequestKind::Reserve, RequestKind::Pay] {
            assert_eq!(RequestKind::parse(k.as_str()), Some(k));
        }
        for s in [
            RequestStatus::Pending,
            RequestStatus::Succeeded,
            RequestStatus::Rejected,
        ] {
            assert_eq!(RequestStatus::parse(s.as_str()), Some(s));
        }
        assert!(!RequestStatus::Pending.is_final());
        assert!(RequestStatus::Succeeded.is_final());
        assert!(RequestStatus::Rejected.is_final());
    }

    #[test]
    fn a_decision_gives_its_request_a_final_status() {
        let ok = Decision::Succeeded(crate::wire::RequestResult::Pay(crate::wire::PayResult {
            payment_id: uuid::Uuid::new_v4(),
            reservation_id: uuid::Uuid::new_v4(),
            reservation_ids: Vec::new(),
            amount: 1,
            paid_at: chrono::DateTime::UNIX_EPOCH,
            balance_after: 0,
        }));
        assert_eq!(ok.status(), RequestStatus::Succeeded);
        let no = Decision::Rejected(RejectReason::SeatTaken);
        assert_eq!(no.status(), RequestStatus::Rejected);
        assert!(ok.status().is_final() && no.status().is_final());
    }
}
