//! The fans' side of the waitlist (SPEC rule 11). A third of the users
//! want seats of the small performances: they reserve one while any is
//! available, else join the performance's list (a `409 SEATS_AVAILABLE`
//! sends them back to reserving); on a list they read their reservations
//! now and then for the offer, pay most offers (with an expired token of
//! theirs when they have one, now and then), cancel some and let the rest
//! run out; some leave the list, some ask to join again (`200`, same
//! place); now and then they give a paid seat back (a refund) so seats keep
//! coming back to the lists.
//!
//! What the checker needs from the client's view is kept exact: a user
//! has at most one place at a time, and every read of the user's
//! reservations (the fans' own and the ones `pay_some` and `cancel_some`
//! make) goes through [`saw_reservations`], which ends the current place
//! when a new offer of its performance shows up. A place left is only
//! counted as left once a read sent after the `204` shows no offer for it
//! (a leave may lose the race with an offer).

use super::ops::command;
use super::{Ctx, User};
use crate::history::waitlist::{Fate, JoinRecord, LeaveRecord, OfferPay, OfferSeen, PlaceRecord};
use crate::history::{Attempt, Event, OpKind, Phase, Verdict};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;

/// Whether user `idx` is a fan of the small performances.
pub fn is_fan(idx: usize) -> bool {
    idx % 3 == 0
}

/// A user's place on a list, as far as it knows.
#[derive(Debug, Clone)]
struct Place {
    id: u64,
    performance_id: i64,
    joined_sent_ms: u64,
    joined_ms: u64,
    position: Option<i64>,
    certain: bool,
}

/// What a user knows of its waitlist places and offers.
#[derive(Debug, Default)]
pub struct Waiting {
    /// A fan (see [`is_fan`]).
    fan: bool,
    place: Option<Place>,
    /// Offers already seen.
    seen: HashSet<String>,
}

impl Waiting {
    /// The state of a fresh user `idx`.
    pub fn new(idx: usize) -> Self {
        Self {
            fan: is_fan(idx),
            ..Self::default()
        }
    }
}

/// An offer seen for the first time.
pub(super) struct NewOffer {
    reservation_id: String,
    /// The place it ended, if any.
    place: Option<u64>,
}

/// Whether the user spends this turn on the waitlist: a fan on a list
/// every other turn (its reads must catch offers before they run out),
/// else one turn in four.
pub(super) fn takes_turn(user: &mut User) -> bool {
    if !user.waiting.fan {
        return false;
    }
    let p = if user.waiting.place.is_some() {
        0.5
    } else {
        0.25
    };
    user.rng.chance(p)
}

/// One waitlist turn; true if the user must re-enter the queue.
pub(super) async fn step(ctx: &Ctx, user: &mut User) -> bool {
    if let Some(place) = user.waiting.place.clone() {
        return wait(ctx, user, place).await;
    }
    if user.rng.chance(0.15) {
        if let Some(reenter) = refund_one(ctx, user).await {
            return reenter;
        }
    }
    let performance_id = *user.rng.pick(&ctx.small).unwrap_or(&1);
    match join(ctx, user, performance_id).await {
        Joined::Available => reserve_free(ctx, user, performance_id).await,
        Joined::TokenNotActive => true,
        Joined::Other => false,
    }
}

/// On a list: looks for the offer, and takes it, or leaves, or asks again.
async fn wait(ctx: &Ctx, user: &mut User, place: Place) -> bool {
    let Some((_, offers)) = poll(ctx, user).await else {
        return false;
    };
    if let Some(offer) = offers.into_iter().find(|o| o.place == Some(place.id)) {
        return take_offer(ctx, user, &offer.reservation_id).await;
    }
    match user.rng.below(100) {
        0..=7 => {
            leave(ctx, user, &place).await;
            false
        }
        8..=10 => matches!(
            join(ctx, user, place.performance_id).await,
            Joined::TokenNotActive
        ),
        _ => false,
    }
}

/// What came of a join, for the next move.
enum Joined {
    Available,
    TokenNotActive,
    Other,
}

/// `POST /v1/performances/{id}/waitlist` until a definite answer.
async fn join(ctx: &Ctx, user: &mut User, performance_id: i64) -> Joined {
    let path = format!("/v1/performances/{performance_id}/waitlist");
    let token = user.token.clone();
    let had = user
        .waiting
        .place
        .clone()
        .filter(|p| p.performance_id == performance_id);
    let mut record = JoinRecord {
        user: user.idx,
        user_id: user.user_id.clone(),
        performance_id,
        sent_ms: ctx.history.now_ms(),
        answered_ms: 0,
        status: None,
        code: None,
        position: None,
        had_unknown: false,
        had_place: had.is_some(),
        place: None,
    };
    let deadline = ctx.retry_deadline(Instant::now());
    let mut backoff = Duration::from_millis(100);
    let answer = loop {
        let a = ctx
            .call(
                &mut user.rng,
                Method::POST,
                &path,
                Some(&token),
                None,
                Some(&json!({})),
            )
            .await;
        log(ctx, user.idx, "waitlist join", performance_id, &a);
        if a.verdict() != Verdict::Unknown {
            break Some(a);
        }
        record.had_unknown = true;
        if Instant::now() + backoff >= deadline {
            break None;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(1500));
    };
    record.answered_ms = ctx.history.now_ms();
    let mut joined = Joined::Other;
    if let Some(a) = answer {
        record.status = a.status;
        record.code = a.code().map(str::to_owned);
        record.position = a.body.as_ref().and_then(|b| b["position"].as_i64());
        match (a.status, &had) {
            (Some(200), Some(place)) => record.place = Some(place.id),
            (Some(200 | 201), _) => {
                if let Some(old) = had {
                    // Joined anew while on the list: the old place was
                    // offered meanwhile, an offer not seen yet.
                    let why = "a join made a new place: it was offered unseen";
                    end_place(ctx, user, old.id, Fate::Unknown { why: why.into() });
                }
                let place = Place {
                    id: ctx.next_id(),
                    performance_id,
                    joined_sent_ms: record.sent_ms,
                    joined_ms: record.answered_ms,
                    position: record.position,
                    certain: a.status == Some(201) && !record.uncertain(),
                };
                record.place = Some(place.id);
                user.waiting.place = Some(place);
            }
            _ => {}
        }
        joined = match record.code.as_deref() {
            Some("SEATS_AVAILABLE") => Joined::Available,
            Some("TOKEN_NOT_ACTIVE") => Joined::TokenNotActive,
            _ => Joined::Other,
        };
    }
    ctx.history.wait_log(|w| w.joins.push(record));
    joined
}

/// `DELETE /v1/performances/{id}/waitlist` until `204`, then a read of the
/// reservations to tell a leave from an offer made before it.
async fn leave(ctx: &Ctx, user: &mut User, place: &Place) {
    let path = format!("/v1/performances/{}/waitlist", place.performance_id);
    let credential = if user.rng.chance(0.5) {
        user.key.clone()
    } else {
        user.token.clone()
    };
    let sent_ms = ctx.history.now_ms();
    let deadline = ctx.retry_deadline(Instant::now());
    let mut status = None;
    while Instant::now() < deadline {
        let a = ctx
            .call(
                &mut user.rng,
                Method::DELETE,
                &path,
                Some(&credential),
                None,
                None,
            )
            .await;
        log(ctx, user.idx, "waitlist leave", place.performance_id, &a);
        status = a.status;
        if a.verdict() != Verdict::Unknown {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answered_ms = ctx.history.now_ms();
    ctx.history.wait_log(|w| {
        w.leaves.push(LeaveRecord {
            user: user.idx,
            performance_id: place.performance_id,
            place: Some(place.id),
            sent_ms,
            answered_ms,
            status,
        })
    });
    if status != Some(204) {
        let why = format!("the leave got {status:?}");
        end_place(ctx, user, place.id, Fate::Unknown { why });
        return;
    }
    while Instant::now() < deadline + Duration::from_secs(5) {
        if poll(ctx, user).await.is_some() {
            // Still the user's place: no offer came before the leave.
            if current(user) == Some(place.id) {
                let fate = Fate::Left {
                    sent_ms,
                    answered_ms,
                };
                end_place(ctx, user, place.id, fate);
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let why = "no read of the reservations after the leave".to_owned();
    end_place(ctx, user, place.id, Fate::Unknown { why });
}

/// An offer for the user: mostly paid, now and then cancelled (it passes
/// to the next on the list at once), else left to run out. True if the
/// user must re-enter the queue.
async fn take_offer(ctx: &Ctx, user: &mut User, reservation_id: &str) -> bool {
    let roll = user.rng.below(100);
    if roll >= 75 {
        return false;
    }
    if roll >= 65 {
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

/// A seat of `performance_id` while some are available; true if the user
/// must re-enter the queue.
async fn reserve_free(ctx: &Ctx, user: &mut User, performance_id: i64) -> bool {
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
async fn refund_one(ctx: &Ctx, user: &mut User) -> Option<bool> {
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

/// At the end of the run: one last read for a user still on a list.
pub async fn finish(ctx: &Ctx, user: &mut User) {
    let Some(place) = user.waiting.place.clone() else {
        return;
    };
    for _ in 0..5 {
        if let Some((sent_ms, _)) = poll(ctx, user).await {
            if current(user) == Some(place.id) {
                end_place(ctx, user, place.id, Fate::StillOn { sent_ms });
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let why = "no last read of the reservations".to_owned();
    end_place(ctx, user, place.id, Fate::Unknown { why });
}

/// Reads the user's reservations (with its key or token); `None` without
/// an answer, else when the read went out and the offers new in it.
async fn poll(ctx: &Ctx, user: &mut User) -> Option<(u64, Vec<NewOffer>)> {
    let credential = if user.rng.chance(0.3) {
        user.key.clone()
    } else {
        user.token.clone()
    };
    let a = ctx
        .call(
            &mut user.rng,
            Method::GET,
            "/v1/reservations",
            Some(&credential),
            None,
            None,
        )
        .await;
    let seen_ms = ctx.history.now_ms();
    match (a.status, &a.body) {
        (Some(200), Some(Value::Array(list))) => {
            Some((a.t_ms, saw_reservations(ctx, user, list, a.t_ms, seen_ms)))
        }
        _ => None,
    }
}

/// Every read of a user's reservations comes here (`sent_ms`: when it went
/// out, `seen_ms`: when it answered): a new offer of the performance the
/// user is on the list of ends that place; any other new offer is recorded
/// without a place. Returns the new offers.
pub(super) fn saw_reservations(
    ctx: &Ctx,
    user: &mut User,
    list: &[Value],
    sent_ms: u64,
    seen_ms: u64,
) -> Vec<NewOffer> {
    let mut new = Vec::new();
    for r in list.iter().filter(|r| r["offer"] == true) {
        let Some(id) = r["reservation_id"].as_str() else {
            continue;
        };
        if !user.waiting.seen.insert(id.to_owned()) {
            continue;
        }
        let performance_id = r["performance_id"].as_i64().unwrap_or_default();
        let place = user
            .waiting
            .place
            .as_ref()
            .filter(|p| p.performance_id == performance_id)
            .map(|p| p.id);
        if let Some(place) = place {
            let fate = Fate::Offered {
                reservation_id: id.to_owned(),
                sent_ms,
                seen_ms,
            };
            end_place(ctx, user, place, fate);
        }
        let mut e = Event::new(Phase::Note, "waitlist offer seen");
        e.user = Some(user.idx);
        e.body = Some(json!({"offer": r, "place": place}));
        ctx.history.event(e);
        let seen = OfferSeen {
            user: user.idx,
            user_id: user.user_id.clone(),
            reservation_id: id.to_owned(),
            performance_id,
            seat_number: r["seat_number"].as_i64().unwrap_or_default(),
            sent_ms,
            seen_ms,
            place,
        };
        ctx.history.wait_log(|w| w.offers.push(seen));
        new.push(NewOffer {
            reservation_id: id.to_owned(),
            place,
        });
    }
    new
}

/// The reservations of `list` that are offers (for `pay_some`, which
/// records its payments of offers too).
pub(super) fn offers_in(list: &[Value]) -> HashSet<String> {
    list.iter()
        .filter(|r| r["offer"] == true)
        .filter_map(|r| r["reservation_id"].as_str().map(str::to_owned))
        .collect()
}

/// Records that op `op` of `user` pays the offer `reservation_id` (with the
/// user's current token).
pub(super) fn paying_offer(ctx: &Ctx, user: usize, op: u64, reservation_id: &str) {
    ctx.history.wait_log(|w| {
        w.pays.push(OfferPay {
            op,
            user,
            reservation_id: reservation_id.to_owned(),
            expired_token: false,
        })
    });
}

fn current(user: &User) -> Option<u64> {
    user.waiting.place.as_ref().map(|p| p.id)
}

/// Ends the user's place `id` (if still current) with `fate`.
fn end_place(ctx: &Ctx, user: &mut User, id: u64, fate: Fate) {
    let Some(place) = user.waiting.place.take_if(|p| p.id == id) else {
        return;
    };
    let record = PlaceRecord {
        place: place.id,
        user: user.idx,
        user_id: user.user_id.clone(),
        performance_id: place.performance_id,
        joined_sent_ms: place.joined_sent_ms,
        joined_ms: place.joined_ms,
        position: place.position,
        certain: place.certain,
        fate,
    };
    let mut e = Event::new(Phase::Note, "waitlist place ended");
    e.user = Some(user.idx);
    e.body = serde_json::to_value(&record).ok();
    ctx.history.event(e);
    ctx.history.wait_log(|w| w.places.push(record));
}

fn log(ctx: &Ctx, user: usize, what: &str, performance_id: i64, a: &Attempt) {
    let phase = match a.verdict() {
        Verdict::Ok => Phase::Ok,
        Verdict::Fail => Phase::Fail,
        Verdict::Unknown => Phase::Unknown,
    };
    let mut e = Event::new(phase, format!("{what} {performance_id}"));
    e.user = Some(user);
    e.api = Some(a.api);
    e.status = a.status;
    e.body = a.body.clone();
    e.error = a.error.clone();
    ctx.history.event(e);
}
