//! What a fan does with an offer (pays it, cancels it or lets it run out),
//! with a free seat (reserves it) and with a paid seat (gives it back).

use super::view::saw_reservations;
use super::NewOffer;
use crate::history::waitlist::OfferPay;
use crate::history::OpKind;
use crate::workload::ops::{charge_with, command};
use crate::workload::{Ctx, User};
use reqwest::Method;
use serde_json::{json, Value};

/// An offer for the user: mostly paid, now and then cancelled (it passes
/// to the next on the list at once), else left to run out. True if the
/// user must re-enter the queue.
pub(super) async fn take_offer(ctx: &Ctx, user: &mut User, offer: &NewOffer) -> bool {
    let reservation_id = offer.reservation_id.as_str();
    let roll = user.rng.below(100);
    // One seen too late is let go, but now and then paid all the same (it
    // must be refused).
    if roll >= 80 || (!offer.held && user.rng.chance(0.8)) {
        return false;
    }
    if roll >= 70 {
        let op = ctx.new_op(
            user,
            OpKind::Cancel {
                reservation_id: reservation_id.to_owned(),
            },
            "xo",
        );
        let path = format!("/v1/reservations/{reservation_id}/cancel");
        let rng = user.rng.fork();
        return command(ctx, rng, op, user.key.clone(), &path, json!({}))
            .await
            .token_problem;
    }
    // Most users make sure their balance covers it first.
    if user.rng.chance(0.8) {
        top_up(ctx, user, offer.price).await;
    }
    let expired = user.old_token.is_some() && user.rng.chance(0.5);
    let token = match (&user.old_token, expired) {
        (Some(old), true) => old.clone(),
        _ => user.token.clone(),
    };
    let op = ctx.new_op(
        user,
        OpKind::Pay {
            reservation_id: reservation_id.to_owned(),
        },
        "po",
    );
    ctx.history.wait_log(|w| {
        w.pays.push(OfferPay {
            op: op.op,
            user: user.idx,
            reservation_id: reservation_id.to_owned(),
            expired_token: expired,
        })
    });
    let body = json!({"reservation_id": reservation_id});
    let rng = user.rng.fork();
    let result = command(ctx, rng, op, token, "/v1/payments", body).await;
    // A payment expires the user's token in the concert, whichever paid.
    result.paid || (result.token_problem && !expired)
}

/// Charges what the balance lacks for `price`, if anything.
async fn top_up(ctx: &Ctx, user: &mut User, price: i64) {
    let key = user.key.clone();
    let a = ctx
        .call(
            &mut user.rng,
            Method::GET,
            "/v1/balance",
            Some(&key),
            None,
            None,
        )
        .await;
    let balance = a.body.as_ref().and_then(|b| b["balance"].as_i64());
    if let Some(balance) = balance.filter(|b| *b < price && a.status == Some(200)) {
        charge_with(ctx, user, price - balance + 10_000, key).await;
    }
}

/// A seat of `performance_id` while some are available; true if the user
/// must re-enter the queue.
pub(super) async fn reserve_free(ctx: &Ctx, user: &mut User, performance_id: i64) -> bool {
    let token = user.token.clone();
    let path = format!("/v1/performances/{performance_id}/seats?status=available");
    let a = ctx
        .call(&mut user.rng, Method::GET, &path, Some(&token), None, None)
        .await;
    let free: Vec<i64> = a
        .body
        .as_ref()
        .and_then(|b| b["seats"].as_array())
        .map(|s| s.iter().filter_map(|s| s["seat_number"].as_i64()).collect())
        .unwrap_or_default();
    let seat_number = match user.rng.pick(&free) {
        Some(s) => *s,
        None => user.rng.range(1, ctx.small_seats),
    };
    let op = ctx.new_op(
        user,
        OpKind::Reserve {
            performance_id,
            seat_number,
        },
        "rs",
    );
    let body = json!({"performance_id": performance_id, "seat_number": seat_number});
    let rng = user.rng.fork();
    let result = command(ctx, rng, op, token, "/v1/reservations", body).await;
    result.token_problem || result.paid
}

/// Gives back (a refund) one paid seat of a small performance, if the
/// user has one: the seat goes to the first on the list. `None` if it had
/// none; else whether the user must re-enter the queue.
pub(super) async fn refund_one(ctx: &Ctx, user: &mut User) -> Option<bool> {
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
    let seen_ms = ctx.history.now_ms();
    let Some(Value::Array(list)) = a.body.as_ref().filter(|_| a.status == Some(200)) else {
        return None;
    };
    saw_reservations(ctx, user, list, a.t_ms, seen_ms);
    let paid: Vec<String> = list
        .iter()
        .filter(|r| r["status"] == "paid")
        .filter(|r| {
            r["performance_id"]
                .as_i64()
                .is_some_and(|p| ctx.small.contains(&p))
        })
        .filter_map(|r| r["reservation_id"].as_str().map(str::to_owned))
        .collect();
    let reservation_id = user.rng.pick(&paid)?.clone();
    let op = ctx.new_op(
        user,
        OpKind::Cancel {
            reservation_id: reservation_id.clone(),
        },
        "xr",
    );
    let path = format!("/v1/reservations/{reservation_id}/cancel");
    let rng = user.rng.fork();
    Some(
        command(ctx, rng, op, key, &path, json!({}))
            .await
            .token_problem,
    )
}
