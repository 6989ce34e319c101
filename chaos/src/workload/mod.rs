//! The clients: one task per user doing random charges, holds and payments
//! against a random API instance, recording everything in the history. A
//! few hundred users at once keep up to ~200 commands a second in flight
//! between faults, so the faults land on full batches and produce requests in progress.

mod ctx;
mod ops;
pub mod waitlist;

pub use ctx::Ctx;

use crate::history::{Event, OpKind, Phase, Verdict};
use crate::rng::Rng;
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

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
    pub(super) ok_charges: Vec<(String, i64)>,
    /// Queue tokens taken so far.
    pub entries: u32,
    /// The token before the current one, expired (by a payment, or found
    /// no longer active): offers may still be paid with it (rule 11).
    pub old_token: Option<String>,
    /// Its places on waitlists and the offers it saw.
    pub waiting: waitlist::Waiting,
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
        old_token: None,
        waiting: waitlist::Waiting::new(idx),
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
            if !user.token.is_empty() {
                user.old_token = Some(user.token.clone());
            }
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
            _ if waitlist::takes_turn(&mut user) => waitlist::step(&ctx, &mut user).await,
            // Mostly commands, so that faults land on full batches and
            // produce requests in flight.
            0..=14 => {
                ops::charge(&ctx, &mut user).await;
                false
            }
            15..=18 => {
                ops::bad_charge(&ctx, &mut user).await;
                false
            }
            19..=63 => ops::reserve_some(&ctx, &mut user).await,
            64..=90 => ops::pay_some(&ctx, &mut user).await,
            91..=95 => ops::cancel_some(&ctx, &mut user).await,
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
    waitlist::finish(&ctx, &mut user).await;
    user
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
