//! The fans' side of the waitlist (SPEC rule 11). A third of the users
//! want seats of the small performances: they reserve one while any is
//! available, else join the performance's list (a `409 SEATS_AVAILABLE`
//! sends them back to reserving). On a list a fan does nothing else: it
//! reads its reservations every second or so for the offer, pays most
//! offers (topping its balance up first, and now and then with its expired
//! token), cancels some and lets the rest run out; some leave the list,
//! some ask to join again (`200`, the same place). Now and then a fan gives
//! a paid seat back (a refund), so seats keep coming back to the lists.
//!
//! What the checker needs from the client's view is kept exact: a user
//! has at most one place at a time, and every read of the user's
//! reservations (the fans' own and the ones `pay_some` and `cancel_some`
//! make) goes through [`saw_reservations`], which ends the current place
//! when a new offer of its performance shows up. A place left is only
//! counted as left once a read sent after the `204` shows no offer for it
//! (a leave may lose the race with an offer).

mod moves;
pub(crate) mod view;

pub use view::finish;

use super::{Ctx, User};
use crate::history::waitlist::{Fate, JoinRecord, LeaveRecord};
use crate::history::Verdict;
use moves::{refund_one, reserve_free, take_offer};
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;
use view::{current, end_place, log, poll, NewOffer};

/// Whether user `idx` is a fan of the small performances.
pub fn is_fan(idx: usize) -> bool {
    idx.is_multiple_of(3)
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

/// Whether the user spends this turn on the waitlist: a fan on a list
/// does nothing else (its reads must catch offers before they run out),
/// else one turn in four.
pub(super) fn takes_turn(user: &mut User) -> bool {
    user.waiting.fan && (user.waiting.place.is_some() || user.rng.chance(0.25))
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
        return take_offer(ctx, user, &offer).await;
    }
    match user.rng.below(100) {
        0..=4 => {
            leave(ctx, user, &place).await;
            false
        }
        5..=6 => matches!(
            join(ctx, user, place.performance_id).await,
            Joined::TokenNotActive
        ),
        _ => {
            // The next read in a moment.
            let pause = user.rng.millis(300, 800);
            tokio::time::sleep(pause).await;
            false
        }
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
