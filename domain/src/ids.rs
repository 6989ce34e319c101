//! Typed identifiers, so a reservation id can never be passed where a user id
//! is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// A type of its own, so it cannot be passed where another kind of id
        /// is expected; it reads and writes as the bare UUID.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id, for the row a handler or worker is about to
            /// create.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// Parses the canonical textual form of a UUID.
            pub fn parse(s: &str) -> Result<Self, crate::InvalidValue> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| crate::InvalidValue(format!("{s:?} is not a UUID")))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A registered user.
    UserId
);
uuid_id!(
    /// One command accepted by the API; its outcome is polled under this id.
    RequestId
);
uuid_id!(
    /// A hold on one seat, which may become paid.
    ReservationId
);
uuid_id!(
    /// A completed payment.
    PaymentId
);
uuid_id!(
    /// A waiting-room entry; the opaque queue token is derived from it.
    TokenId
);

impl RequestId {
    /// The request id for a command sent with an `Idempotency-Key`: the same
    /// user and key always name the same request, so a retried command is
    /// recognised by the worker as already applied.
    pub fn for_idempotency_key(user: UserId, kind: &str, key: &str) -> Self {
        let name = format!("{}:{kind}:{key}", user.0);
        Self(Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()))
    }
}

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// A type of its own, so it cannot be passed where another kind of id
        /// is expected; it reads and writes as the bare integer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// A concert (an integer in the API, per SPEC).
    ConcertId
);
int_id!(
    /// One date of a concert.
    PerformanceId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_a_uuid_and_rejects_anything_else() {
        let id = UserId::new();
        assert_eq!(UserId::parse(&id.to_string()), Ok(id));
        assert!(UserId::parse("not-a-uuid").is_err());
        assert!(UserId::parse("").is_err());
    }

    #[test]
    fn idempotent_request_ids_depend_on_user_kind_and_key() {
        let a = UserId::new();
        let b = UserId::new();
        let id = RequestId::for_idempotency_key(a, "reserve", "k1");
        assert_eq!(id, RequestId::for_idempotency_key(a, "reserve", "k1"));
        assert_ne!(id, RequestId::for_idempotency_key(b, "reserve", "k1"));
        assert_ne!(id, RequestId::for_idempotency_key(a, "pay", "k1"));
        assert_ne!(id, RequestId::for_idempotency_key(a, "reserve", "k2"));
    }

    #[test]
    fn ids_serialize_as_plain_strings_and_numbers() {
        let id = ReservationId::new();
        assert_eq!(
            serde_json::to_value(id).ok(),
            Some(serde_json::json!(id.0.to_string()))
        );
        assert_eq!(
            serde_json::to_value(PerformanceId(7)).ok(),
            Some(serde_json::json!(7))
        );
    }
}
