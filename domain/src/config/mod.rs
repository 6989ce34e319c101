//! Typed configuration from the environment (SPEC "Configuration"), shared by
//! both binaries and validated at startup, so a bad value stops the process
//! with a message naming the variable.

mod parse;

use parse::{parse_addr, parse_addresses, parse_admin_token, parse_count, parse_limit};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A value that must never appear in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from the environment (or given by a test), so it
    /// cannot be printed by accident from then on.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the code that must use it: connecting to the
    /// database, signing queue tokens.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A bad configuration value, naming the variable, so startup stops with a
/// message that says which one to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

/// Everything both binaries read from the environment, validated once at
/// startup and passed down instead of reading variables ad hoc.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Secret,
    pub kafka_brokers: String,
    pub http_addr: SocketAddr,
    pub token_secret: Secret,
    pub hold_ttl_seconds: u32,
    pub queue_active_capacity: u32,
    pub active_token_ttl_seconds: u32,
    pub queue_idle_timeout_seconds: u32,
    pub max_holds_per_user: u32,
    /// A paid seat is refunded only if its performance starts more than
    /// this many seconds from now (`REFUND_CUTOFF_SECONDS`, rule 10).
    pub refund_cutoff_seconds: u32,
    /// Paid seats one user may own per performance (`MAX_TICKETS_PER_USER`).
    pub max_tickets_per_user: u32,
    /// How long a seat offered from a waitlist stays held for its user
    /// (`WAITLIST_OFFER_SECONDS`, rule 11).
    pub waitlist_offer_seconds: u32,
    pub seat_command_partitions: u32,
    pub worker_metrics_addr: SocketAddr,
    pub kafka_topic_prefix: String,
    /// Connections per process (`DATABASE_POOL_SIZE`, default 8; not in the
    /// SPEC table: a tuning knob). Sized by measurement: with the API's
    /// statements batched and a worker's round in one transaction, 4 and 16
    /// gave the same end-to-end rate (docs/BENCHMARKS.md); 8 leaves room for
    /// bursts on the endpoints that are not batched.
    pub database_pool_size: u32,
    /// The workers' consumer group protocol (`KAFKA_GROUP_PROTOCOL`; not in
    /// the SPEC table: a tuning knob). See [`GroupProtocol`].
    pub kafka_group_protocol: GroupProtocol,
    /// Registrations and queue entries each allowed per client address and
    /// minute (`RATE_LIMIT_PER_IP_PER_MINUTE`, SPEC rule 12); 0 turns the
    /// limit off.
    pub rate_limit_per_ip_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpAddr>,
    /// The bearer token of the admin endpoints (`ADMIN_TOKEN`); `None`
    /// (unset or empty) turns them off, so they answer `404`.
    pub admin_token: Option<Secret>,
}

/// Which Kafka consumer group protocol the workers speak.
///
/// `Consumer` is KIP-848 (Kafka 4.0+): the broker assigns partitions and a
/// member joining or leaving moves only the partitions that change hands,
/// while the others keep being consumed; its session timeout is the
/// broker's `group.consumer.session.timeout.ms`. `Classic` is the
/// JoinGroup/SyncGroup protocol every Kafka speaks, in which each
/// membership change stops the whole group until it has rejoined, and the
/// client sets a 10 s session timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupProtocol {
    Classic,
    Consumer,
}

impl GroupProtocol {
    /// librdkafka's `group.protocol` value.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupProtocol::Classic => "classic",
            GroupProtocol::Consumer => "consumer",
        }
    }

    fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim() {
            "classic" => Ok(GroupProtocol::Classic),
            "consumer" => Ok(GroupProtocol::Consumer),
            other => Err(ConfigError {
                var: "KAFKA_GROUP_PROTOCOL",
                problem: format!("must be `consumer` or `classic`, got {other:?}"),
            }),
        }
    }
}

/// Shortest `TOKEN_SECRET` accepted: 128 bits of hex, so tokens cannot be
/// forged by guessing the key.
pub const MIN_TOKEN_SECRET_LEN: usize = 32;

/// Shortest `ADMIN_TOKEN` accepted (SPEC: at least 32 characters), so the
/// admin endpoints cannot be opened by guessing.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &'static str, default: &str| {
            lookup(var)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let token_secret = lookup("TOKEN_SECRET").unwrap_or_default();
        if token_secret.len() < MIN_TOKEN_SECRET_LEN {
            return Err(ConfigError {
                var: "TOKEN_SECRET",
                problem: format!(
                    "must be set to at least {MIN_TOKEN_SECRET_LEN} characters (scripts/run generates one for development)"
                ),
            });
        }
        let prefix = get("KAFKA_TOPIC_PREFIX", "concert.");
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(ConfigError {
                var: "KAFKA_TOPIC_PREFIX",
                problem: format!("may hold only letters, digits, '.', '_' and '-', got {prefix:?}"),
            });
        }
        let brokers = get("KAFKA_BROKERS", "127.0.0.1:9092");
        Ok(Self {
            database_url: Secret::new(get(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/concert",
            )),
            kafka_brokers: brokers,
            http_addr: parse_addr("HTTP_ADDR", &get("HTTP_ADDR", "127.0.0.1:8080"))?,
            token_secret: Secret::new(token_secret),
            hold_ttl_seconds: parse_count("HOLD_TTL_SECONDS", &get("HOLD_TTL_SECONDS", "300"))?,
            queue_active_capacity: parse_count(
                "QUEUE_ACTIVE_CAPACITY",
                &get("QUEUE_ACTIVE_CAPACITY", "100"),
            )?,
            active_token_ttl_seconds: parse_count(
                "ACTIVE_TOKEN_TTL_SECONDS",
                &get("ACTIVE_TOKEN_TTL_SECONDS", "600"),
            )?,
            queue_idle_timeout_seconds: parse_count(
                "QUEUE_IDLE_TIMEOUT_SECONDS",
                &get("QUEUE_IDLE_TIMEOUT_SECONDS", "60"),
            )?,
            max_holds_per_user: parse_count("MAX_HOLDS_PER_USER", &get("MAX_HOLDS_PER_USER", "1"))?,
            max_tickets_per_user: parse_count(
                "MAX_TICKETS_PER_USER",
                &get("MAX_TICKETS_PER_USER", "4"),
            )?,
            waitlist_offer_seconds: parse_count(
                "WAITLIST_OFFER_SECONDS",
                &get("WAITLIST_OFFER_SECONDS", "600"),
            )?,
            refund_cutoff_seconds: parse_limit(
                "REFUND_CUTOFF_SECONDS",
                &get("REFUND_CUTOFF_SECONDS", "86400"),
            )?,
            seat_command_partitions: parse_count(
                "SEAT_COMMAND_PARTITIONS",
                &get("SEAT_COMMAND_PARTITIONS", "16"),
            )?,
            worker_metrics_addr: parse_addr(
                "WORKER_METRICS_ADDR",
                &get("WORKER_METRICS_ADDR", "127.0.0.1:9464"),
            )?,
            kafka_topic_prefix: prefix,
            database_pool_size: parse_count("DATABASE_POOL_SIZE", &get("DATABASE_POOL_SIZE", "8"))?,
            kafka_group_protocol: GroupProtocol::parse(&get("KAFKA_GROUP_PROTOCOL", "consumer"))?,
            rate_limit_per_ip_per_minute: parse_limit(
                "RATE_LIMIT_PER_IP_PER_MINUTE",
                &get("RATE_LIMIT_PER_IP_PER_MINUTE", "60"),
            )?,
            trusted_proxies: parse_addresses("TRUSTED_PROXIES", &get("TRUSTED_PROXIES", ""))?,
            admin_token: parse_admin_token(lookup("ADMIN_TOKEN"))?,
        })
    }

    /// The topic every reservation and payment command goes to.
    pub fn command_topic(&self) -> String {
        format!("{}seat-commands", self.kafka_topic_prefix)
    }

    /// The consumer group of the workers.
    pub fn consumer_group(&self) -> String {
        format!("{}workers", self.kafka_topic_prefix)
    }

    /// The consumer group a replay reads with, apart from the live workers.
    pub fn replay_group(&self) -> String {
        format!("{}replay-{}", self.kafka_topic_prefix, uuid::Uuid::new_v4())
    }
}

#[cfg(test)]
mod tests;
