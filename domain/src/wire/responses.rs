//! The bodies of registration, the balance and the operations endpoints.

use serde::{Deserialize, Serialize};

/// The answer to `POST /v1/users`: a new user and the only copy of its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(description = "A new user."))]
pub struct NewUser {
    /// The new user's id.
    pub user_id: uuid::Uuid,
    /// Always 0 for a new user.
    #[cfg_attr(feature = "openapi", schema(example = 0))]
    pub balance: i64,
    /// The user's secret (at least 128 random bits), shown only here: send
    /// it as `Authorization: Bearer <user_key>` to enter a waiting room, or
    /// to any endpoint that takes "any" credential of the user.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "uk_Wm9vbGFuZGVyLWV4YW1wbGUta2V5LW5vdC1yZWFsLTAx")
    )]
    pub user_key: String,
}

/// The answer to `GET /v1/balance` and `POST /v1/balance/charges`: the
/// caller's balance (after the charge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(description = "A user's balance."))]
pub struct Balance {
    /// The user whose balance it is.
    pub user_id: uuid::Uuid,
    /// KRW, 0..=1,000,000,000.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
    pub balance: i64,
}

/// The answer to `GET /healthz`: the process is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(description = "The process is up."))]
pub struct Health {
    /// Always `ok`.
    #[cfg_attr(feature = "openapi", schema(example = "ok"))]
    pub status: String,
}

impl Health {
    /// The only answer of a live process.
    pub fn ok() -> Self {
        Self {
            status: "ok".to_owned(),
        }
    }
}

/// The answer to `GET /readyz`, so an operator sees which dependency is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "Whether each dependency answers.")
)]
pub struct Readiness {
    /// Postgres answers.
    pub database: bool,
    /// The Kafka broker answers.
    pub broker: bool,
}

impl Readiness {
    /// Ready only when every dependency answers.
    pub fn is_ready(self) -> bool {
        self.database && self.broker
    }
}
