//! What a user reads of its reservations, as the checker needs it: every
//! read goes through [`saw_reservations`], which records new offers and
//! ends the place an offer was made for; and the end of the run's last
//! read for a user still on a list.

use crate::history::waitlist::{Fate, OfferPay, OfferSeen, PlaceRecord};
use crate::history::{Attempt, Event, Phase, Verdict};
use crate::workload::{Ctx, User};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// An offer seen for the first time.
pub(crate) struct NewOffer {
    pub(super) reservation_id: String,
    /// Whether it was still held when seen.
    pub(super) held: bool,
    /// Its price.
    pub(super) price: i64,
    /// The place it ended, if any.
    pub(super) place: Option<u64>,
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
pub(super) async fn poll(ctx: &Ctx, user: &mut User) -> Option<(u64, Vec<NewOffer>)> {
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
pub(crate) fn saw_reservations(
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
            held: r["status"] == "held",
            price: r["price"].as_i64().unwrap_or_default(),
            place,
        });
    }
    new
}

/// The reservations of `list` that are offers (for `pay_some`, which
/// records its payments of offers too).
pub(crate) fn offers_in(list: &[Value]) -> HashSet<String> {
    list.iter()
        .filter(|r| r["offer"] == true)
        .filter_map(|r| r["reservation_id"].as_str().map(str::to_owned))
        .collect()
}

/// Records that op `op` of `user` pays the offer `reservation_id` (with the
/// user's current token).
pub(crate) fn paying_offer(ctx: &Ctx, user: usize, op: u64, reservation_id: &str) {
    ctx.history.wait_log(|w| {
        w.pays.push(OfferPay {
            op,
            user,
            reservation_id: reservation_id.to_owned(),
            expired_token: false,
        })
    });
}

pub(super) fn current(user: &User) -> Option<u64> {
    user.waiting.place.as_ref().map(|p| p.id)
}

/// Ends the user's place `id` (if still current) with `fate`.
pub(super) fn end_place(ctx: &Ctx, user: &mut User, id: u64, fate: Fate) {
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

pub(super) fn log(ctx: &Ctx, user: usize, what: &str, performance_id: i64, a: &Attempt) {
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
