//! Typed configuration from the environment (SPEC "Configuration"), shared by
//! both binaries and validated at startup, so a bad value stops the process
//! with a message naming the variable.

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

/// Reads `ADMIN_TOKEN`: unset or blank turns the admin endpoints off; when
/// set it must be at least [`MIN_ADMIN_TOKEN_LEN`] visible ASCII characters
/// (it travels in an `Authorization` header).
fn parse_admin_token(value: Option<String>) -> Result<Option<Secret>, ConfigError> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let visible = value.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if value.len() < MIN_ADMIN_TOKEN_LEN || !visible {
        return Err(ConfigError {
            var: "ADMIN_TOKEN",
            problem: format!(
                "must be at least {MIN_ADMIN_TOKEN_LEN} visible ASCII characters, without spaces (or unset to turn the admin endpoints off)"
            ),
        });
    }
    Ok(Some(Secret::new(value)))
}

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

fn parse_addr(var: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError {
        var,
        problem: format!("must be an address such as 127.0.0.1:8080, got {value:?}"),
    })
}

/// A whole number, 0 included (0 switches the limit off).
fn parse_limit(var: &'static str, value: &str) -> Result<u32, ConfigError> {
    value.trim().parse::<u32>().map_err(|_| ConfigError {
        var,
        problem: format!("must be a whole number (0 turns it off), got {value:?}"),
    })
}

/// Comma-separated IP addresses; empty means none.
fn parse_addresses(var: &'static str, value: &str) -> Result<Vec<IpAddr>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse().map_err(|_| ConfigError {
                var,
                problem: format!("must be comma-separated IP addresses, got {a:?}"),
            })
        })
        .collect()
}

/// A positive whole number that fits comfortably in an `i32` for SQL.
fn parse_count(var: &'static str, value: &str) -> Result<u32, ConfigError> {
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=i32::MAX as u32).contains(&n) => Ok(n),
        _ => Err(ConfigError {
            var,
            problem: format!("must be a whole number of at least 1, got {value:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const ADMIN: &str = "admin-0123456789abcdef0123456789ab";

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_spec() {
        let s = settings(&[("TOKEN_SECRET", SECRET)]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.database_url.expose(),
            "postgres://postgres@127.0.0.1:5432/concert"
        );
        assert_eq!(s.kafka_brokers, "127.0.0.1:9092");
        assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.hold_ttl_seconds, 300);
        assert_eq!(s.queue_active_capacity, 100);
        assert_eq!(s.active_token_ttl_seconds, 600);
        assert_eq!(s.queue_idle_timeout_seconds, 60);
        assert_eq!(s.max_holds_per_user, 1);
        assert_eq!(s.seat_command_partitions, 16);
        assert_eq!(s.worker_metrics_addr.to_string(), "127.0.0.1:9464");
        assert_eq!(s.database_pool_size, 8);
        assert_eq!(s.kafka_group_protocol, GroupProtocol::Consumer);
        assert_eq!(s.rate_limit_per_ip_per_minute, 60);
        assert!(s.trusted_proxies.is_empty());
        assert!(s.admin_token.is_none());
        assert_eq!(s.command_topic(), "concert.seat-commands");
        assert_eq!(s.consumer_group(), "concert.workers");
        assert!(s.replay_group().starts_with("concert.replay-"));
    }

    #[test]
    fn a_missing_or_short_token_secret_is_refused() {
        assert_eq!(settings(&[]).map(|_| ()).unwrap_err().var, "TOKEN_SECRET");
        let short = settings(&[("TOKEN_SECRET", "short")]);
        assert_eq!(short.map(|_| ()).unwrap_err().var, "TOKEN_SECRET");
    }

    #[test]
    fn bad_numbers_and_addresses_name_their_variable() {
        for (var, value) in [
            ("HOLD_TTL_SECONDS", "0"),
            ("HOLD_TTL_SECONDS", "-5"),
            ("QUEUE_ACTIVE_CAPACITY", "lots"),
            ("MAX_HOLDS_PER_USER", "99999999999"),
            ("HTTP_ADDR", "localhost"),
            ("WORKER_METRICS_ADDR", ":x"),
            ("KAFKA_TOPIC_PREFIX", "a b"),
            ("KAFKA_GROUP_PROTOCOL", "eager"),
            ("RATE_LIMIT_PER_IP_PER_MINUTE", "-1"),
            ("TRUSTED_PROXIES", "10.0.0.1, proxy.local"),
        ] {
            let err = settings(&[("TOKEN_SECRET", SECRET), (var, value)])
                .map(|_| ())
                .unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
    }

    #[test]
    fn given_values_override_defaults() {
        let s = settings(&[
            ("TOKEN_SECRET", SECRET),
            ("KAFKA_TOPIC_PREFIX", "test.x-1."),
            ("SEAT_COMMAND_PARTITIONS", "4"),
            ("HTTP_ADDR", "0.0.0.0:0"),
            ("KAFKA_GROUP_PROTOCOL", "classic"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.kafka_group_protocol, GroupProtocol::Classic);
        assert_eq!(s.command_topic(), "test.x-1.seat-commands");
        assert_eq!(s.seat_command_partitions, 4);
        assert_eq!(s.http_addr.port(), 0);
        let s = settings(&[
            ("TOKEN_SECRET", SECRET),
            ("RATE_LIMIT_PER_IP_PER_MINUTE", "0"),
            ("TRUSTED_PROXIES", "10.0.0.1, ::1"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.rate_limit_per_ip_per_minute, 0);
        assert_eq!(s.trusted_proxies.len(), 2);
    }

    #[test]
    fn an_admin_token_is_optional_but_long_when_set() {
        let blank = settings(&[("TOKEN_SECRET", SECRET), ("ADMIN_TOKEN", " ")]);
        assert!(blank.map(|s| s.admin_token.is_none()).unwrap_or(false));
        for bad in ["short", "0123456789abcdef 0123456789abcdef"] {
            let err = settings(&[("TOKEN_SECRET", SECRET), ("ADMIN_TOKEN", bad)])
                .map(|_| ())
                .unwrap_err();
            assert_eq!(err.var, "ADMIN_TOKEN", "{bad}");
            assert!(!err.to_string().contains(bad));
        }
        let s = settings(&[("TOKEN_SECRET", SECRET), ("ADMIN_TOKEN", ADMIN)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.admin_token.as_ref().map(Secret::expose), Some(ADMIN));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = settings(&[("TOKEN_SECRET", SECRET), ("ADMIN_TOKEN", ADMIN)])
            .unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{s:?}");
        assert!(!shown.contains(SECRET));
        assert!(!shown.contains(ADMIN));
        assert!(!shown.contains("postgres://"));
    }
}
