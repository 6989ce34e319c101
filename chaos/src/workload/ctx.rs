//! What every client shares ([`Ctx`]): the HTTP client, the APIs, the
//! history, the catalog and the stop signal, and the request machinery
//! (one call, an operation sent with its key until a definite answer, a
//! re-send, the long-poll of an outcome).

use crate::history::{Attempt, Event, History, OpKind, OpRecord, Phase, Verdict};
use crate::infra::lock;
use crate::rng::Rng;
use reqwest::Method;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use super::User;

/// How long one operation keeps retrying with its key while faults go on.
const OP_RETRY_LIMIT: Duration = Duration::from_secs(30);
/// Long-poll of an outcome right after the 202.
const OUTCOME_WAIT_MS: u64 = 2500;

/// What every client shares: the HTTP client, the APIs, the history and
/// the catalog, and the signal to stop.
pub struct Ctx {
    /// One connection pool for all clients.
    pub http: reqwest::Client,
    /// Base URLs of the API instances.
    pub apis: Vec<String>,
    /// Where every request and answer is recorded.
    pub history: Arc<History>,
    /// The concert whose room the users enter.
    pub concert: i64,
    /// Performance ids of the catalog.
    pub performances: Vec<i64>,
    /// Seats per performance.
    pub seats: i64,
    /// The small performances the fans wait for (rule 11).
    pub small: Vec<i64>,
    /// Seats per small performance.
    pub small_seats: i64,
    stop: AtomicBool,
    give_up: Mutex<Option<Instant>>,
    next_op: AtomicU64,
}

impl Ctx {
    /// A context for clients of `apis` on the given catalog.
    pub fn new(
        apis: Vec<String>,
        history: Arc<History>,
        catalog: crate::setup::Catalog,
        seats: i64,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            apis,
            history,
            concert: catalog.concert,
            performances: catalog.performances,
            seats,
            small: catalog.small,
            small_seats: crate::SMALL_SEATS as i64,
            stop: AtomicBool::new(false),
            give_up: Mutex::new(None),
            next_op: AtomicU64::new(1),
        })
    }

    /// No new operations from now on; retries end at `give_up`.
    pub fn stop(&self, give_up: Instant) {
        *lock(&self.give_up) = Some(give_up);
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether the clients should stop taking up new operations.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub(super) fn retry_deadline(&self, started: Instant) -> Instant {
        let own = started + OP_RETRY_LIMIT;
        match *lock(&self.give_up) {
            Some(g) => own.min(g),
            None => own,
        }
    }

    pub(super) fn past_give_up(&self) -> bool {
        lock(&self.give_up).is_some_and(|g| Instant::now() >= g)
    }

    /// One HTTP request to a random API instance.
    pub async fn call(
        &self,
        rng: &mut Rng,
        method: Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Attempt {
        let api = rng.below(self.apis.len() as u64) as usize;
        self.call_on(api, method, path, token, key, body).await
    }

    /// One HTTP request to API instance `api`.
    pub async fn call_on(
        &self,
        api: usize,
        method: Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Attempt {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.apis[api]));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let t_ms = self.history.now_ms();
        let mut attempt = Attempt {
            t_ms,
            api,
            status: None,
            body: None,
            error: None,
            resend: false,
        };
        match req.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(text) => {
                        attempt.status = Some(status);
                        attempt.body =
                            Some(serde_json::from_str(&text).unwrap_or(Value::String(text)));
                    }
                    // The status came but the body did not: nothing definite.
                    Err(e) => attempt.error = Some(format!("status {status}, body lost: {e}")),
                }
            }
            Err(e) => attempt.error = Some(error_chain(&e)),
        }
        attempt
    }

    /// A fresh number, unique in the run (ops and waitlist places share
    /// the counter).
    pub(super) fn next_id(&self) -> u64 {
        self.next_op.fetch_add(1, Ordering::SeqCst)
    }

    pub(super) fn new_op(&self, user: &User, kind: OpKind, prefix: &str) -> OpRecord {
        let op = self.next_id();
        OpRecord {
            op,
            user: user.idx,
            user_id: user.user_id.clone(),
            key: format!("{prefix}-{}-{op}", user.idx),
            kind,
            expect_fail: None,
            attempts: Vec::new(),
        }
    }

    /// Sends `op` with its key until a definite answer or the retry deadline.
    pub(super) async fn send_op(
        &self,
        rng: &mut Rng,
        op: &mut OpRecord,
        path: &str,
        token: &str,
        body: &Value,
    ) {
        let started = Instant::now();
        let deadline = self.retry_deadline(started);
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut invoke = Event::for_op(Phase::Invoke, op);
            invoke.body = Some(body.clone());
            self.history.event(invoke);
            let attempt = self
                .call(
                    rng,
                    Method::POST,
                    path,
                    Some(token),
                    Some(&op.key),
                    Some(body),
                )
                .await;
            self.history.event(Event::attempt(op, &attempt));
            let verdict = attempt.verdict();
            op.attempts.push(attempt);
            if verdict != Verdict::Unknown || Instant::now() + backoff >= deadline {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(1500));
        }
    }

    /// Re-sends an answered op with the same key and body: the answer must
    /// be the same and there must be no second effect.
    pub(super) async fn resend(
        &self,
        rng: &mut Rng,
        op: &mut OpRecord,
        path: &str,
        token: &str,
        body: &Value,
    ) {
        let mut invoke = Event::for_op(Phase::Invoke, op);
        invoke.body = Some(body.clone());
        invoke.what = format!("{} (resend)", op.kind.name());
        self.history.event(invoke);
        let mut attempt = self
            .call(
                rng,
                Method::POST,
                path,
                Some(token),
                Some(&op.key),
                Some(body),
            )
            .await;
        attempt.resend = true;
        self.history.event(Event::attempt(op, &attempt));
        op.attempts.push(attempt);
    }

    /// Long-polls the outcome of `request_id` a couple of times.
    pub(super) async fn await_outcome(
        &self,
        rng: &mut Rng,
        user: usize,
        token: &str,
        request_id: &str,
    ) -> Option<Value> {
        for _ in 0..2 {
            if self.past_give_up() {
                return None;
            }
            let path = format!("/v1/requests/{request_id}?wait_ms={OUTCOME_WAIT_MS}");
            let a = self
                .call(rng, Method::GET, &path, Some(token), None, None)
                .await;
            if a.status == Some(200) {
                if let Some(body) = a.body {
                    self.record_outcome(request_id, user, &body);
                    if body["status"] != "pending" {
                        return Some(body);
                    }
                }
            } else {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        None
    }

    /// Records an outcome read back for `request_id` (and an event if it
    /// is final).
    pub fn record_outcome(&self, request_id: &str, user: usize, body: &Value) {
        self.history.observed(request_id, user, body.clone());
        if body["status"] != "pending" {
            let mut e = Event::new(Phase::Outcome, format!("request {request_id}"));
            e.user = Some(user);
            e.body = Some(body.clone());
            self.history.event(e);
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
