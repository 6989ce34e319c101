//! Per-address limits on registration and queue entry (SPEC rule 12), so
//! that one client cannot fill the waiting room with thousands of places.
//! The counting is governor's GCRA, one bucket per address and endpoint:
//! `RATE_LIMIT_PER_IP_PER_MINUTE` requests at once, then one more every
//! 60 s / that number.

use crate::http::error::ApiError;
use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// The endpoints that are limited, each with its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Registration,
    QueueEntry,
}

/// The limiters of one API instance (each instance counts for itself).
pub struct RateLimits {
    limiters: Option<[DefaultKeyedRateLimiter<IpAddr>; 2]>,
    trusted_proxies: Vec<IpAddr>,
    clock: DefaultClock,
}

impl RateLimits {
    /// `per_minute` requests per address and endpoint; 0 turns limiting off.
    pub fn new(per_minute: u32, trusted_proxies: Vec<IpAddr>) -> Self {
        let limiters = NonZeroU32::new(per_minute).map(|n| {
            let quota = Quota::per_minute(n);
            [
                DefaultKeyedRateLimiter::keyed(quota),
                DefaultKeyedRateLimiter::keyed(quota),
            ]
        });
        Self {
            limiters,
            trusted_proxies,
            clock: DefaultClock::default(),
        }
    }

    /// Counts a request of `client` to `endpoint`: `429 RATE_LIMITED`, with
    /// the seconds until one more is allowed, once its budget is spent.
    pub fn check(&self, endpoint: Limited, client: IpAddr) -> Result<(), ApiError> {
        let Some(limiters) = &self.limiters else {
            return Ok(());
        };
        let limiter = match endpoint {
            Limited::Registration => &limiters[0],
            Limited::QueueEntry => &limiters[1],
        };
        limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::RateLimited {
                retry_after_secs: whole_seconds(wait),
            }
        })
    }

    /// The client's address: the socket's peer, unless that peer is a
    /// trusted proxy; then the last `X-Forwarded-For` hop that is not a
    /// trusted proxy itself (earlier hops are whatever the client wrote).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| hop.trim().parse::<IpAddr>())
            .collect::<Result<_, _>>()
            // A hop that is not an address: believe none of them.
            .unwrap_or_default();
        hops.into_iter()
            .rev()
            .find(|hop| !self.trusted_proxies.contains(hop))
            .unwrap_or(peer)
    }

    /// Forgets addresses whose budget is whole again, so memory follows the
    /// clients of the last minute, not all clients ever.
    pub fn forget_idle(&self) {
        if let Some(limiters) = &self.limiters {
            for limiter in limiters {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }
}

/// `Retry-After` in whole seconds, rounded up and at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn an_address_gets_its_budget_per_endpoint_then_429_with_a_wait() {
        let limits = RateLimits::new(3, Vec::new());
        let client = ip("192.0.2.1");
        for _ in 0..3 {
            assert!(limits.check(Limited::Registration, client).is_ok());
        }
        match limits.check(Limited::Registration, client) {
            Err(ApiError::RateLimited { retry_after_secs }) => {
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("expected 429, got {other:?}"),
        }
        // Queue entry and other addresses have budgets of their own.
        assert!(limits.check(Limited::QueueEntry, client).is_ok());
        assert!(limits.check(Limited::Registration, ip("192.0.2.2")).is_ok());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limits = RateLimits::new(0, Vec::new());
        for _ in 0..1000 {
            assert!(limits.check(Limited::QueueEntry, ip("192.0.2.1")).is_ok());
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy = ip("10.0.0.1");
        let limits = RateLimits::new(1, vec![proxy, ip("10.0.0.2")]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.7, 10.0.0.2"),
        );
        // From the trusted proxy: the last hop it did not add itself.
        assert_eq!(limits.client_ip(proxy, &headers), ip("198.51.100.7"));
        // From anyone else: the header is the client's own say-so.
        assert_eq!(limits.client_ip(ip("192.0.2.5"), &headers), ip("192.0.2.5"));
        // A garbled header from the proxy: the proxy's address.
        headers.insert("x-forwarded-for", HeaderValue::from_static("nonsense"));
        assert_eq!(limits.client_ip(proxy, &headers), proxy);
        // No header at all: the proxy's address.
        assert_eq!(limits.client_ip(proxy, &HeaderMap::new()), proxy);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }
}
