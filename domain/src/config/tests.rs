//! The settings read from a given environment.

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
    assert_eq!(s.max_tickets_per_user, 4);
    assert_eq!(s.refund_cutoff_seconds, 86_400);
    assert_eq!(s.waitlist_offer_seconds, 600);
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
        ("WAITLIST_OFFER_SECONDS", "0"),
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
