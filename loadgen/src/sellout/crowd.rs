//! What every simulated buyer shares: the HTTP client and its in-flight
//! limit, the stop signal, and the tally of what happened (latencies,
//! business outcomes, errors).

use crate::stats;
use hdrhistogram::Histogram;
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

/// Answers a buyer's client counts as normal: success, and the refusals
/// the rules make (a token whose turn ended, a waitlist while seats are
/// free). Anything else is an error of the run.
const BUSINESS_CODES: &[&str] = &["TOKEN_NOT_ACTIVE", "SEATS_AVAILABLE"];

/// What the crowd saw.
pub struct Tally {
    /// Command sent → `202`.
    pub accept: Histogram<u64>,
    /// `202` → final outcome (long poll).
    pub settle: Histogram<u64>,
    /// `GET /v1/queue/status`, sent → answered.
    pub polls: Histogram<u64>,
    /// Business events by name (holds, rejections by reason, payments...).
    pub events: BTreeMap<String, u64>,
    /// What should not happen: 5xx, transport errors, unexpected answers.
    pub errors: BTreeMap<String, u64>,
}

/// The shared state of the crowd.
pub struct Crowd {
    pub client: reqwest::Client,
    pub url: Arc<str>,
    pub concert: i64,
    /// How long a hold lasts (the API's `HOLD_TTL_SECONDS`).
    pub hold: Duration,
    /// The room's capacity: buyers this close to the front listen to
    /// their event stream instead of polling.
    pub capacity: u32,
    slots: Semaphore,
    stop: watch::Receiver<bool>,
    tally: Mutex<Tally>,
}

/// A JSON answer: its status and body (`Null` when it had none).
pub type Answer = (u16, Value);

impl Crowd {
    /// A crowd for `concert` (whose holds last `hold`) with at most
    /// `in_flight` requests at once; `stop` turns true when the sale is
    /// over.
    pub fn new(
        client: reqwest::Client,
        (url, concert, hold, capacity): (&str, i64, Duration, u32),
        in_flight: usize,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            client,
            url: Arc::from(url),
            concert,
            hold,
            capacity,
            slots: Semaphore::new(in_flight),
            stop,
            tally: Mutex::new(Tally {
                accept: stats::histogram()?,
                settle: stats::histogram()?,
                polls: stats::histogram()?,
                events: BTreeMap::new(),
                errors: BTreeMap::new(),
            }),
        })
    }

    /// A receiver of the stop signal, for a buyer's own `select!`.
    pub fn stopper(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// Whether the sale is over.
    pub fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps `d`, or less if the sale ends meanwhile; false if it ended.
    pub async fn pause(&self, d: Duration) -> bool {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.stopped(),
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    /// Counts one business event.
    pub fn count(&self, event: &str) {
        if let Ok(mut t) = self.tally.lock() {
            *t.events.entry(event.to_owned()).or_default() += 1;
        }
    }

    fn error(&self, what: String) {
        if let Ok(mut t) = self.tally.lock() {
            *t.errors.entry(what).or_default() += 1;
        }
    }

    /// Takes the tally (once the crowd is done).
    pub fn into_tally(self) -> Option<Tally> {
        self.tally.into_inner().ok()
    }

    /// Sends one request with `token` and reads its JSON answer. A
    /// transport failure, a 5xx or an error answer that is no business
    /// refusal is counted as an error of the run (and `None` for the
    /// transport failure).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Option<Answer> {
        self.timed_call(method, path, token, body)
            .await
            .map(|(answer, _)| answer)
    }

    /// [`Crowd::call`], also saying when the request left: the latencies
    /// count from then, not from when it started waiting for one of the
    /// load generator's own in-flight slots.
    async fn timed_call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Option<(Answer, Instant)> {
        let _slot = self.slots.acquire().await.ok()?;
        let sent = Instant::now();
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else {
                    "transport"
                };
                self.error(format!("{kind}: {method} {}", route(path)));
                return None;
            }
        };
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status >= 400 {
            let code = body["code"].as_str().unwrap_or("");
            if !BUSINESS_CODES.contains(&code) {
                self.error(format!("{status} {code}: {method} {}", route(path)));
            }
        }
        if path == "/v1/queue/status" {
            let took = Instant::now() - sent;
            self.record(|t| stats::record(&mut t.polls, took));
        }
        Some(((status, body), sent))
    }

    /// Sends a command (`POST path` with `body`), waits for its outcome by
    /// long polls and returns it; `None` if it was not accepted or the sale
    /// ended first. Records accept and settle latencies.
    pub async fn command(&self, token: &str, path: &str, body: &Value) -> Option<Value> {
        let ((status, accepted), sent) = self
            .timed_call(Method::POST, path, token, Some(body))
            .await?;
        if status != 202 {
            return None;
        }
        let at = Instant::now();
        self.record(|t| stats::record(&mut t.accept, at - sent));
        let request = accepted["request_id"].as_str()?.to_owned();
        loop {
            let poll = format!("/v1/requests/{request}?wait_ms=5000");
            let (_, outcome) = self.call(Method::GET, &poll, token, None).await?;
            if outcome["status"] != "pending" {
                let done = Instant::now();
                self.record(|t| stats::record(&mut t.settle, done - at));
                return Some(outcome);
            }
            if self.stopped() {
                return None;
            }
        }
    }

    fn record(&self, f: impl FnOnce(&mut Tally)) {
        if let Ok(mut t) = self.tally.lock() {
            f(&mut t);
        }
    }
}

/// A path without its ids, so errors group by route.
fn route(path: &str) -> String {
    path.split('?')
        .next()
        .unwrap_or(path)
        .split('/')
        .map(|part| {
            if part.chars().any(|c| c.is_ascii_digit()) && part.len() > 2 {
                "{id}"
            } else if part.chars().all(|c| c.is_ascii_digit()) && !part.is_empty() {
                "{n}"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_group_by_shape_not_by_id() {
        assert_eq!(
            route("/v1/requests/6f1c2a8e-0000-4000-8000-000000000001?wait_ms=5000"),
            "/v1/requests/{id}"
        );
        assert_eq!(
            route("/v1/performances/12/seats"),
            "/v1/performances/{n}/seats"
        );
        assert_eq!(route("/v1/payments"), "/v1/payments");
    }
}
