//! The clients: one task per user doing random charges, holds and payments
//! against a random API instance, recording everything in the history. A
//! few hundred users at once keep up to ~200 commands a second in flight
//! between faults, so the faults land on full batches and produce requests in progress.

use crate::history::{Attempt, Event, History, OpKind, OpRecord, Phase, Verdict};
use crate::infra::lock;
use crate::rng::Rng;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

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

    fn retry_deadline(&self, started: Instant) -> Instant {
        let own = started + OP_RETRY_LIMIT;
        match *lock(&self.give_up) {
            Some(g) => own.min(g),
            None => own,
        }
    }

    fn past_give_up(&self) -> bool {
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

    fn new_op(&self, user: &User, kind: OpKind, prefix: &str) -> OpRecord {
        let op = self.next_op.fetch_add(1, Ordering::SeqCst);
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
    async fn send_op(
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
    async fn resend(
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
    async fn await_outcome(
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

/// One client: its user, its current queue token and its random stream.
pub struct User {
    /// Its number in the run (also its history tag `user:N`).
    pub idx: usize,
    /// The user id the API gave it.
    pub user_id: String,
    /// Its user key, to enter the waiting room with.
    pub key: String,
    /// Its current queue token.
    pub token: String,
    /// Its own random stream.
    pub rng: Rng,
    /// Keys and amounts of this user's charges that got 200.
    ok_charges: Vec<(String, i64)>,
    /// Queue tokens taken so far.
    pub entries: u32,
}

/// Registers a user and gets an active token.
pub async fn register(ctx: &Ctx, idx: usize, seed: u64) -> anyhow::Result<User> {
    let mut rng = Rng::derive(seed, 1000 + idx as u64);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (user_id, key) = loop {
        let a = ctx
            .call(
                &mut rng,
                Method::POST,
                "/v1/users",
                None,
                None,
                Some(&json!({})),
            )
            .await;
        if a.status == Some(201) {
            let field = |name: &str| {
                a.body
                    .as_ref()
                    .and_then(|b| b[name].as_str())
                    .map(str::to_owned)
            };
            if let (Some(id), Some(key)) = (field("user_id"), field("user_key")) {
                break (id, key);
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "registering user {idx}: {a:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut e = Event::new(Phase::Note, format!("user {idx} registered as {user_id}"));
    e.user = Some(idx);
    ctx.history.event(e);
    let mut user = User {
        idx,
        user_id,
        key,
        token: String::new(),
        rng,
        ok_charges: Vec::new(),
        entries: 0,
    };
    anyhow::ensure!(
        enter_queue(ctx, &mut user).await,
        "user {idx} was not admitted within 30 s"
    );
    Ok(user)
}

/// Takes a queue token (a new one if the last expired) and waits until it is
/// active; false if that did not happen within 30 s.
pub async fn enter_queue(ctx: &Ctx, user: &mut User) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = json!({"user_id": user.user_id, "concert_id": ctx.concert});
    let key = user.key.clone();
    while Instant::now() < deadline {
        let a = ctx
            .call(
                &mut user.rng,
                Method::POST,
                "/v1/queue/tokens",
                Some(&key),
                None,
                Some(&body),
            )
            .await;
        let token = match (a.status, a.body.as_ref()) {
            (Some(200 | 201), Some(b)) => b["token"].as_str().map(str::to_owned),
            _ => None,
        };
        let Some(token) = token else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if token != user.token {
            user.entries += 1;
            let mut e = Event::new(
                Phase::Note,
                format!("user {} took queue token #{}", user.idx, user.entries),
            );
            e.user = Some(user.idx);
            e.status = a.status;
            ctx.history.event(e);
        }
        user.token = token;
        let mut status = a
            .body
            .as_ref()
            .map(|b| b["status"].clone())
            .unwrap_or_default();
        while Instant::now() < deadline {
            if status == "active" {
                return true;
            }
            if status == "expired" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
            let s = ctx
                .call(
                    &mut user.rng,
                    Method::GET,
                    "/v1/queue/status",
                    Some(&user.token),
                    None,
                    None,
                )
                .await;
            if s.status == Some(200) {
                status = s.body.map(|b| b["status"].clone()).unwrap_or_default();
            }
        }
    }
    false
}

/// The user's operations until the context stops.
pub async fn run_user(ctx: Arc<Ctx>, mut user: User) -> User {
    while !ctx.stopped() {
        let roll = user.rng.below(100);
        let reenter = match roll {
            // Mostly commands, so that faults land on full batches and
            // produce requests in flight.
            0..=14 => {
                charge(&ctx, &mut user).await;
                false
            }
            15..=18 => {
                bad_charge(&ctx, &mut user).await;
                false
            }
            19..=63 => reserve_some(&ctx, &mut user).await,
            64..=90 => pay_some(&ctx, &mut user).await,
            91..=95 => cancel_some(&ctx, &mut user).await,
            _ => {
                let token = user.token.clone();
                let a = ctx
                    .call(
                        &mut user.rng,
                        Method::GET,
                        "/v1/balance",
                        Some(&token),
                        None,
                        None,
                    )
                    .await;
                let mut e = Event::new(Phase::Note, "balance read");
                e.user = Some(user.idx);
                e.status = a.status;
                e.body = a.body;
                ctx.history.event(e);
                false
            }
        };
        if reenter && !ctx.stopped() {
            enter_queue(&ctx, &mut user).await;
        }
        let pause = user.rng.millis(20, 250);
        tokio::time::sleep(pause).await;
    }
    user
}

async fn charge(ctx: &Ctx, user: &mut User) {
    let amount = user.rng.range(5, 80) * 1000;
    let mut op = ctx.new_op(user, OpKind::Charge { amount }, "c");
    let body = json!({"amount": amount});
    let token = user.token.clone();
    ctx.send_op(&mut user.rng, &mut op, "/v1/balance/charges", &token, &body)
        .await;
    if op.verdict() == Verdict::Ok {
        user.ok_charges.push((op.key.clone(), amount));
        if user.rng.chance(0.15) {
            ctx.resend(&mut user.rng, &mut op, "/v1/balance/charges", &token, &body)
                .await;
        }
    }
    ctx.history.op_done(op);
}

/// A charge that must be refused: an out-of-range amount (400), or an
/// earlier key with another amount (422).
async fn bad_charge(ctx: &Ctx, user: &mut User) {
    let token = user.token.clone();
    let reuse = if user.rng.chance(0.5) {
        user.rng.pick(&user.ok_charges).cloned()
    } else {
        None
    };
    let (mut op, body) = match reuse {
        Some((key, amount)) => {
            let other = amount + 1000;
            let mut op = ctx.new_op(user, OpKind::Charge { amount: other }, "c");
            op.key = key;
            op.expect_fail = Some("IDEMPOTENCY_KEY_REUSED");
            (op, json!({"amount": other}))
        }
        None => {
            let amount = *user.rng.pick(&[0, -1000, 10_000_001]).unwrap_or(&0);
            let mut op = ctx.new_op(user, OpKind::Charge { amount }, "bad");
            op.expect_fail = Some("VALIDATION_ERROR");
            (op, json!({"amount": amount}))
        }
    };
    ctx.send_op(&mut user.rng, &mut op, "/v1/balance/charges", &token, &body)
        .await;
    ctx.history.op_done(op);
}

/// What became of one reserve or pay command, as far as the client knows.
struct CommandResult {
    token_problem: bool,
    paid: bool,
}

async fn command(
    ctx: &Ctx,
    mut rng: Rng,
    mut op: OpRecord,
    token: String,
    path: &str,
    body: Value,
) -> CommandResult {
    ctx.send_op(&mut rng, &mut op, path, &token, &body).await;
    let mut result = CommandResult {
        token_problem: op
            .attempts
            .last()
            .is_some_and(|a| a.code() == Some("TOKEN_NOT_ACTIVE")),
        paid: false,
    };
    if let Some(request_id) = op.request_id() {
        if rng.chance(0.1) {
            ctx.resend(&mut rng, &mut op, path, &token, &body).await;
        }
        if let Some(outcome) = ctx
            .await_outcome(&mut rng, op.user, &token, &request_id)
            .await
        {
            result.token_problem |= outcome["reason"] == "TOKEN_NOT_ACTIVE";
            result.paid = outcome["kind"] == "pay" && outcome["status"] == "succeeded";
        }
    }
    ctx.history.op_done(op);
    result
}

/// One to three holds at once (the hold limit is 2); true if the user must
/// re-enter the queue.
async fn reserve_some(ctx: &Ctx, user: &mut User) -> bool {
    let n = if user.rng.chance(0.25) {
        user.rng.range(2, 3)
    } else {
        1
    };
    let mut tasks = Vec::new();
    for _ in 0..n {
        let performance_id = *user.rng.pick(&ctx.performances).unwrap_or(&1);
        // Half the picks go to the first ten seats, so holds collide.
        let seat_number = if user.rng.chance(0.5) {
            user.rng.range(1, 10)
        } else {
            user.rng.range(1, ctx.seats)
        };
        let op = ctx.new_op(
            user,
            OpKind::Reserve {
                performance_id,
                seat_number,
            },
            "r",
        );
        let body = json!({"performance_id": performance_id, "seat_number": seat_number});
        let rng = Rng::new(user.rng.next_u64());
        tasks.push(command(
            ctx,
            rng,
            op,
            user.token.clone(),
            "/v1/reservations",
            body,
        ));
    }
    let results = futures::future::join_all(tasks).await;
    results.iter().any(|r| r.token_problem || r.paid)
}

/// Pays one (sometimes two at once) of the user's held reservations; true if
/// the user must re-enter the queue (paid, or token no longer active).
async fn pay_some(ctx: &Ctx, user: &mut User) -> bool {
    let token = user.token.clone();
    let a = ctx
        .call(
            &mut user.rng,
            Method::GET,
            "/v1/reservations",
            Some(&token),
            None,
            None,
        )
        .await;
    let mut e = Event::new(Phase::Note, "reservations read");
    e.user = Some(user.idx);
    e.status = a.status;
    let list: Vec<Value> = match (a.status, a.body) {
        (Some(200), Some(Value::Array(list))) => list,
        _ => {
            e.error = a.error;
            ctx.history.event(e);
            return false;
        }
    };
    let mut held = Vec::new();
    let mut expired = Vec::new();
    for r in &list {
        let id = r["reservation_id"].as_str().unwrap_or_default().to_owned();
        match r["status"].as_str() {
            Some("held") => held.push(id),
            Some("paid") => ctx.history.seen_paid(&id, user.idx),
            Some("expired") => expired.push(id),
            _ => {}
        }
    }
    e.body = Some(json!({"held": held, "total": list.len()}));
    ctx.history.event(e);
    let mut targets = Vec::new();
    if held.is_empty() {
        // Now and then pay a lapsed hold: it must be refused.
        match user.rng.pick(&expired) {
            Some(id) if user.rng.chance(0.2) => targets.push(id.clone()),
            _ => return reserve_some(ctx, user).await,
        }
    } else {
        user.rng.shuffle(&mut held);
        let n = if held.len() > 1 && user.rng.chance(0.3) {
            2
        } else {
            1
        };
        targets.extend(held.into_iter().take(n));
    }
    // Two holds: now and then paid together in one checkout, else raced as
    // two payments.
    if targets.len() == 2 && user.rng.chance(0.5) {
        let op = ctx.new_op(
            user,
            OpKind::Checkout {
                reservation_ids: targets.clone(),
            },
            "p",
        );
        let body = json!({"reservation_ids": targets});
        let rng = Rng::new(user.rng.next_u64());
        let result = command(ctx, rng, op, token.clone(), "/v1/payments", body).await;
        return result.token_problem || result.paid;
    }
    let mut tasks = Vec::new();
    for reservation_id in targets {
        let op = ctx.new_op(
            user,
            OpKind::Pay {
                reservation_id: reservation_id.clone(),
            },
            "p",
        );
        let body = json!({"reservation_id": reservation_id});
        let rng = Rng::new(user.rng.next_u64());
        tasks.push(command(ctx, rng, op, token.clone(), "/v1/payments", body));
    }
    let results = futures::future::join_all(tasks).await;
    results.iter().any(|r| r.token_problem || r.paid)
}

/// Cancels one of the user's held or paid reservations with the user's key
/// (a refund for a paid one, which frees the seat for others to race for);
/// true if the user must re-enter the queue.
async fn cancel_some(ctx: &Ctx, user: &mut User) -> bool {
    let key = user.key.clone();
    let a = ctx
        .call(
            &mut user.rng,
            Method::GET,
            "/v1/reservations",
            Some(&key),
            None,
            None,
        )
        .await;
    let list: Vec<Value> = match (a.status, a.body) {
        (Some(200), Some(Value::Array(list))) => list,
        _ => return false,
    };
    let live: Vec<String> = list
        .iter()
        .filter(|r| matches!(r["status"].as_str(), Some("held" | "paid")))
        .filter_map(|r| r["reservation_id"].as_str().map(str::to_owned))
        .collect();
    let Some(reservation_id) = user.rng.pick(&live).cloned() else {
        return reserve_some(ctx, user).await;
    };
    let op = ctx.new_op(
        user,
        OpKind::Cancel {
            reservation_id: reservation_id.clone(),
        },
        "x",
    );
    let path = format!("/v1/reservations/{reservation_id}/cancel");
    let rng = Rng::new(user.rng.next_u64());
    let result = command(ctx, rng, op, key, &path, json!({})).await;
    result.token_problem
}

/// After the last fault, API instance `api` must take a charge (200) and a
/// hold (202) again within `limit`: the system recovers by itself. Returns
/// how long each took, `None` if it did not within `limit`.
pub async fn probe(
    ctx: &Ctx,
    user: &mut User,
    api: usize,
    limit: Duration,
) -> (Option<Duration>, Option<Duration>) {
    let started = Instant::now();
    let deadline = started + limit;
    let token = user.token.clone();
    let performance_id = *user.rng.pick(&ctx.performances).unwrap_or(&1);
    let seat_number = user.rng.range(1, ctx.seats);
    let amount = 1000;
    let probes = [
        (
            OpKind::Charge { amount },
            "/v1/balance/charges",
            json!({"amount": amount}),
            200,
        ),
        (
            OpKind::Reserve {
                performance_id,
                seat_number,
            },
            "/v1/reservations",
            json!({"performance_id": performance_id, "seat_number": seat_number}),
            202,
        ),
    ];
    let mut took = [None, None];
    for (i, (kind, path, body, want)) in probes.into_iter().enumerate() {
        let mut op = ctx.new_op(user, kind, "probe");
        loop {
            let mut invoke = Event::for_op(Phase::Invoke, &op);
            invoke.body = Some(body.clone());
            invoke.what = format!("{} (recovery probe, api {api})", op.kind.name());
            ctx.history.event(invoke);
            let a = ctx
                .call_on(
                    api,
                    Method::POST,
                    path,
                    Some(&token),
                    Some(&op.key),
                    Some(&body),
                )
                .await;
            ctx.history.event(Event::attempt(&op, &a));
            let status = a.status;
            let verdict = a.verdict();
            op.attempts.push(a);
            if status == Some(want) {
                took[i] = Some(started.elapsed());
                break;
            }
            if verdict == Verdict::Fail || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        ctx.history.op_done(op);
    }
    (took[0], took[1])
}
