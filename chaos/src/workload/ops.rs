//! The users' everyday operations: charges (and charges that must be
//! refused), holds, payments (one hold, two raced, or a checkout) and
//! cancels, each a command sent with its key and its outcome long-polled.

use super::waitlist::view as waitlist;
use super::{Ctx, User};
use crate::history::{Event, OpKind, OpRecord, Phase, Verdict};
use crate::rng::Rng;
use reqwest::Method;
use serde_json::{json, Value};

pub(super) async fn charge(ctx: &Ctx, user: &mut User) {
    let amount = user.rng.range(5, 80) * 1000;
    let token = user.token.clone();
    charge_with(ctx, user, amount, token).await;
}

/// A charge of `amount` sent with `credential` (the user's key or a token).
pub(super) async fn charge_with(ctx: &Ctx, user: &mut User, amount: i64, credential: String) {
    let token = credential;
    let mut op = ctx.new_op(user, OpKind::Charge { amount }, "c");
    let body = json!({"amount": amount});
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
pub(super) async fn bad_charge(ctx: &Ctx, user: &mut User) {
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
pub(super) struct CommandResult {
    pub(super) token_problem: bool,
    pub(super) paid: bool,
}

pub(super) async fn command(
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
pub(super) async fn reserve_some(ctx: &Ctx, user: &mut User) -> bool {
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
pub(super) async fn pay_some(ctx: &Ctx, user: &mut User) -> bool {
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
    let sent_ms = a.t_ms;
    let list: Vec<Value> = match (a.status, a.body) {
        (Some(200), Some(Value::Array(list))) => list,
        _ => {
            e.error = a.error;
            ctx.history.event(e);
            return false;
        }
    };
    waitlist::saw_reservations(ctx, user, &list, sent_ms, ctx.history.now_ms());
    let offers = waitlist::offers_in(&list);
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
        for id in targets.iter().filter(|id| offers.contains(*id)) {
            waitlist::paying_offer(ctx, user.idx, op.op, id);
        }
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
        if offers.contains(&reservation_id) {
            waitlist::paying_offer(ctx, user.idx, op.op, &reservation_id);
        }
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
pub(super) async fn cancel_some(ctx: &Ctx, user: &mut User) -> bool {
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
    let sent_ms = a.t_ms;
    let list: Vec<Value> = match (a.status, a.body) {
        (Some(200), Some(Value::Array(list))) => list,
        _ => return false,
    };
    waitlist::saw_reservations(ctx, user, &list, sent_ms, ctx.history.now_ms());
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
