//! The commands the API publishes to Kafka and the workers apply.
//!
//! Every message is a versioned JSON envelope. The `request_id` is the
//! command's unique id: the worker records it in the same transaction as the
//! command's effect, so a redelivered or replayed command is applied once.

use crate::{
    PerformanceId, RequestId, RequestKind, ReservationId, SeatKey, SeatNumber, TokenId, UserId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The envelope version this build writes and understands.
pub const COMMAND_VERSION: u16 = 1;

/// What a client asked for, as it travels from the API to the worker that
/// applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Hold a seat for the user.
    Reserve {
        performance_id: PerformanceId,
        seat_number: SeatNumber,
    },
    /// Pay for held reservations together. `reservation_id` is the first
    /// (its seat keys the message); `reservation_ids`, when not empty, names
    /// them all (a command written before checkouts has only the first).
    /// The worker re-reads every reservation.
    Pay {
        reservation_id: ReservationId,
        performance_id: PerformanceId,
        seat_number: SeatNumber,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reservation_ids: Vec<ReservationId>,
    },
    /// Release a hold or refund a paid seat (rule 10). Keyed by the seat, so
    /// it is applied in order with that seat's holds and payments; the
    /// worker re-reads the reservation.
    Cancel {
        reservation_id: ReservationId,
        performance_id: PerformanceId,
        seat_number: SeatNumber,
    },
}

impl Command {
    /// The request kind, recorded with the request so one status endpoint can
    /// serve every command.
    pub fn kind(&self) -> RequestKind {
        match self {
            Self::Reserve { .. } => RequestKind::Reserve,
            Self::Pay { .. } => RequestKind::Pay,
            Self::Cancel { .. } => RequestKind::Cancel,
        }
    }

    /// The reservations a payment pays for (the first alone when it names
    /// no list); none for other commands.
    pub fn reservations(&self) -> Vec<ReservationId> {
        match self {
            Self::Pay {
                reservation_id,
                reservation_ids,
                ..
            } if reservation_ids.is_empty() => vec![*reservation_id],
            Self::Pay {
                reservation_ids, ..
            } => reservation_ids.clone(),
            _ => Vec::new(),
        }
    }

    /// The seat the command is about: its Kafka key, so every command about
    /// one seat goes to one partition and is applied in order.
    pub fn seat(&self) -> SeatKey {
        match *self {
            Self::Reserve {
                performance_id,
                seat_number,
            }
            | Self::Pay {
                performance_id,
                seat_number,
                ..
            }
            | Self::Cancel {
                performance_id,
                seat_number,
                ..
            } => SeatKey {
                performance_id,
                seat_number,
            },
        }
    }
}

/// The longest request id a command carries for tracing.
pub const MAX_TRACE_ID_LEN: usize = 128;

/// The message on the command topic: the command with the ids the worker needs
/// to apply it once, check the caller's token and record its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    pub v: u16,
    pub request_id: RequestId,
    pub user_id: UserId,
    /// The queue token the command was sent with; the worker re-checks that it
    /// is still active.
    pub token_id: TokenId,
    pub issued_at: DateTime<Utc>,
    pub command: Command,
    /// The `x-request-id` of the HTTP request that sent the command, so one
    /// reservation can be followed from the API's log to the worker's. It
    /// rides in the payload, not in a Kafka header: the broker stores each
    /// header as a row of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// For a command sent with an `Idempotency-Key`: the hash of the request
    /// body. Two requests with one key and different bodies make two
    /// commands with one id; the worker applies only the one whose hash the
    /// request's row holds (or takes, if it is the first to write one), so
    /// the effect always matches the body that got the `202`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_hash: Option<String>,
}

/// Why a message on the topic could not be read, so the worker can keep it as
/// a dead letter and reject its request instead of stalling the partition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("command envelope version {0} is not supported")]
    UnknownVersion(u64),
    #[error("undecodable command: {0}")]
    Malformed(String),
}

impl DecodeError {
    /// The request id, when it could still be read from a message that is
    /// otherwise unusable, so its request can be marked rejected.
    pub fn salvage_request_id(payload: &[u8]) -> Option<(RequestId, UserId)> {
        #[derive(Deserialize)]
        struct Ids {
            request_id: RequestId,
            user_id: UserId,
        }
        serde_json::from_slice::<Ids>(payload)
            .ok()
            .map(|ids| (ids.request_id, ids.user_id))
    }
}

impl CommandEnvelope {
    /// A current-version envelope issued now, as the API builds it for an
    /// accepted command.
    pub fn new(
        request_id: RequestId,
        user_id: UserId,
        token_id: TokenId,
        command: Command,
    ) -> Self {
        Self {
            v: COMMAND_VERSION,
            request_id,
            user_id,
            token_id,
            issued_at: Utc::now(),
            command,
            trace_id: None,
            body_hash: None,
        }
    }

    /// Carries the body hash of a command sent with an `Idempotency-Key`.
    pub fn with_body_hash(mut self, body_hash: Option<String>) -> Self {
        self.body_hash = body_hash;
        self
    }

    /// Carries `trace_id` (a request id of at most [`MAX_TRACE_ID_LEN`]
    /// bytes; a longer one is left out rather than bloat every message).
    pub fn with_trace_id(mut self, trace_id: Option<&str>) -> Self {
        self.trace_id = trace_id
            .filter(|t| t.len() <= MAX_TRACE_ID_LEN)
            .map(str::to_owned);
        self
    }

    /// The Kafka payload the API publishes.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain structs of ids and numbers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a payload from the topic, refusing an unknown version before
    /// the rest is read, so a worker never applies a command it misreads.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        #[derive(Deserialize)]
        struct Version {
            v: u64,
        }
        let version = serde_json::from_slice::<Version>(payload)
            .map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if version.v != u64::from(COMMAND_VERSION) {
            return Err(DecodeError::UnknownVersion(version.v));
        }
        serde_json::from_slice(payload).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserve() -> CommandEnvelope {
        CommandEnvelope::new(
            RequestId::new(),
            UserId::new(),
            TokenId::new(),
            Command::Reserve {
                performance_id: PerformanceId(3),
                seat_number: SeatNumber::parse(9).unwrap_or_else(|e| panic!("{e}")),
            },
        )
    }

    #[test]
    fn an_envelope_survives_encoding() {
        let env = reserve();
        assert_eq!(CommandEnvelope::decode(&env.encode()), Ok(env));
    }

    #[test]
    fn a_trace_id_travels_in_the_envelope_unless_it_is_too_long() {
        let traced = reserve().with_trace_id(Some("trace-me-42"));
        let decoded = CommandEnvelope::decode(&traced.encode());
        assert_eq!(
            decoded.map(|e| e.trace_id),
            Ok(Some("trace-me-42".to_owned()))
        );
        let long = "x".repeat(MAX_TRACE_ID_LEN + 1);
        assert_eq!(reserve().with_trace_id(Some(&long)).trace_id, None);
        let hashed = reserve().with_body_hash(Some("ab12".into()));
        assert_eq!(CommandEnvelope::decode(&hashed.encode()), Ok(hashed));
        // An envelope without one (as older APIs sent) still decodes.
        let plain = reserve();
        assert!(!String::from_utf8_lossy(&plain.encode()).contains("trace_id"));
        assert_eq!(CommandEnvelope::decode(&plain.encode()), Ok(plain));
    }

    #[test]
    fn a_pay_command_is_keyed_by_its_seat() {
        let seat_number = SeatNumber::parse(50).unwrap_or_else(|e| panic!("{e}"));
        let cmd = Command::Pay {
            reservation_id: ReservationId::new(),
            performance_id: PerformanceId(8),
            seat_number,
            reservation_ids: Vec::new(),
        };
        assert_eq!(cmd.kind(), RequestKind::Pay);
        assert_eq!(cmd.seat().kafka_key(), "8:50");
        assert_eq!(reserve().command.seat().kafka_key(), "3:9");
    }

    #[test]
    fn a_checkout_names_every_reservation_and_a_single_payment_still_decodes() {
        let seat_number = SeatNumber::parse(4).unwrap_or_else(|e| panic!("{e}"));
        let (first, second) = (ReservationId::new(), ReservationId::new());
        let checkout = Command::Pay {
            reservation_id: first,
            performance_id: PerformanceId(2),
            seat_number,
            reservation_ids: vec![first, second],
        };
        assert_eq!(checkout.reservations(), vec![first, second]);
        let single = Command::Pay {
            reservation_id: first,
            performance_id: PerformanceId(2),
            seat_number,
            reservation_ids: Vec::new(),
        };
        assert_eq!(single.reservations(), vec![first]);
        // A payment written before checkouts (no `reservation_ids`) decodes.
        let json = serde_json::to_string(&single).unwrap_or_default();
        assert!(!json.contains("reservation_ids"), "{json}");
        assert_eq!(serde_json::from_str::<Command>(&json).ok(), Some(single));
    }

    #[test]
    fn an_unknown_version_is_refused() {
        let mut value = serde_json::to_value(reserve()).unwrap_or_default();
        value["v"] = serde_json::json!(2);
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        assert_eq!(
            CommandEnvelope::decode(&bytes),
            Err(DecodeError::UnknownVersion(2))
        );
        assert!(DecodeError::salvage_request_id(&bytes).is_some());
    }

    #[test]
    fn garbage_and_out_of_range_seats_are_malformed() {
        assert!(matches!(
            CommandEnvelope::decode(b"\x00\xffnot json"),
            Err(DecodeError::Malformed(_))
        ));
        let mut value = serde_json::to_value(reserve()).unwrap_or_default();
        value["command"]["seat_number"] = serde_json::json!(51);
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        assert!(matches!(
            CommandEnvelope::decode(&bytes),
            Err(DecodeError::Malformed(_))
        ));
        assert_eq!(DecodeError::salvage_request_id(b"[]"), None);
    }
}
