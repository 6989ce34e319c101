//! The waitlist from the clients' view (SPEC rule 11), on top of testkit's
//! `WAITLIST` invariants (which see the database alone).
//!
//! What the clients know is when each join went out and when its `201`
//! came. Joins and the takings of places are serialised per performance
//! (`store::waitlist`), and places are numbered (`seq`) in the order their
//! joins ran: so if A's `201` came before B's join went out, A's place is
//! ahead of B's, and any offer made for B's place finds A's taken (offered
//! before it or in the same taking) or left. Only places whose user can
//! account for them are judged: made by a join answered `201` at its only
//! attempt, ended by an offer seen, a leave confirmed by a read after its
//! `204`, or still there at the end. From a join without a definite
//! answer on (it may have made a place the client never heard of), a
//! user's places on that list are left out.

mod rules;
#[cfg(test)]
mod tests;

use super::Violation;
use crate::history::waitlist::{Fate, PlaceRecord, WaitLog};
use crate::history::OpRecord;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use testkit::invariants::Invariant;

/// The chaos run's own database invariant on offers: an offer is sold at
/// most once, and only by a payment request.
pub const OFFERS_SOLD_ONCE: &[Invariant] = &[Invariant {
    name: "each paid offer sold by exactly one succeeded pay request, an unpaid offer by none",
    sql: "select r.reservation_id, r.status, r.payment_id, count(q.request_id) as requests,
                array_agg(q.request_id) as request_ids
           from reservations r
           left join requests q
             on q.kind = 'pay' and q.status = 'succeeded'
            and (q.result -> 'reservation_ids') ? r.reservation_id::text
          where r.offer_seq is not null
          group by r.reservation_id, r.status, r.payment_id
         having count(q.request_id) <> case when r.payment_id is null then 0 else 1 end",
}];

/// An offer in the database.
#[derive(Debug, Clone)]
struct OfferRow {
    user_id: String,
    performance_id: i64,
    seat_number: i64,
    seq: i64,
    order: i64,
    status: String,
    payment_id: Option<String>,
}

/// What the database says of the offers, the lists and the seats.
struct Db {
    offers: HashMap<String, OfferRow>,
    /// The places still on a list at the end, by performance and user.
    waiting: HashMap<(i64, String), i64>,
    /// Seats sold now, with the reservation they are sold to.
    sold: HashMap<(i64, i64), String>,
    /// Pay requests: status, reason, result.
    pays: HashMap<String, (String, Option<String>, Option<Value>)>,
}

async fn load(pool: &PgPool) -> anyhow::Result<Db> {
    type Row = (String, String, i64, i16, i64, i64, String, Option<String>);
    let offers = sqlx::query_as::<_, Row>(
        "select reservation_id::text, user_id::text, performance_id, seat_number, offer_seq,
                offer_order, status, payment_id::text
           from reservations where offer_seq is not null",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(id, user_id, p, s, seq, order, status, payment_id)| {
        let row = OfferRow {
            user_id,
            performance_id: p,
            seat_number: i64::from(s),
            seq,
            order,
            status,
            payment_id,
        };
        (id, row)
    })
    .collect();
    let waiting = sqlx::query_as::<_, (i64, String, i64)>(
        "select performance_id, user_id::text, seq from waitlist",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(p, u, seq)| ((p, u), seq))
    .collect();
    let sold = sqlx::query_as::<_, (i64, i16, String)>(
        "select performance_id, seat_number, reservation_id::text from seats
          where sold and reservation_id is not null",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(p, s, r)| ((p, i64::from(s)), r))
    .collect();
    let pays = sqlx::query_as::<_, (String, String, Option<String>, Option<Value>)>(
        "select request_id::text, status, reason, result from requests where kind = 'pay'",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(id, status, reason, result)| (id, (status, reason, result)))
    .collect();
    Ok(Db {
        offers,
        waiting,
        sold,
        pays,
    })
}

/// From when each user's view of each list stops being exact: a join
/// without a definite answer, or a place whose end the user cannot tell.
struct Taint(HashMap<(usize, i64), u64>);

impl Taint {
    fn of(log: &WaitLog) -> Self {
        let mut from: HashMap<(usize, i64), u64> = HashMap::new();
        let mut add = |key, t: u64| {
            let e = from.entry(key).or_insert(t);
            *e = (*e).min(t);
        };
        for j in log.joins.iter().filter(|j| j.uncertain()) {
            add((j.user, j.performance_id), j.sent_ms);
        }
        for p in &log.places {
            if matches!(p.fate, Fate::Unknown { .. }) {
                add((p.user, p.performance_id), p.joined_sent_ms);
            }
        }
        Self(from)
    }

    /// Whether the view of `user` on `performance` is inexact by `t`.
    fn by(&self, user: usize, performance: i64, t: u64) -> bool {
        self.0
            .get(&(user, performance))
            .is_some_and(|&from| from <= t)
    }
}

/// How a judged place ended, with the database's word on it.
enum End<'a> {
    /// An offer (seen at `seen_ms`, if the client saw it).
    Offer(&'a OfferRow, Option<u64>),
    /// Left, the `DELETE` sent at the time given.
    Left(u64),
    /// Still on the list at the end.
    Waiting,
}

/// What the waitlist checks judged, for the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    /// Offers seen by the clients, each compared with the database.
    pub offers_seen: usize,
    /// Places the clients can account for.
    pub places: usize,
    /// Pairs of those (one joined before the other's join went out, the
    /// later one offered) whose order was judged.
    pub ordered_pairs: usize,
    /// `201` positions judged.
    pub positions: usize,
    /// Payments of offers judged.
    pub offer_pays: usize,
}

impl Coverage {
    /// One line for the summary.
    pub fn describe(&self) -> String {
        format!(
            "{} offers seen matched with the database; {} places judged; {} ordered pairs of places; {} join positions; {} offer payments",
            self.offers_seen, self.places, self.ordered_pairs, self.positions, self.offer_pays
        )
    }
}

/// Every client-view violation of rule 11, and what was judged.
pub async fn check(
    pool: &PgPool,
    log: &WaitLog,
    ops: &[OpRecord],
) -> anyhow::Result<(Vec<Violation>, Coverage)> {
    let db = load(pool).await?;
    let taint = Taint::of(log);
    let mut out = Vec::new();
    offers_seen(log, &db, &taint, &mut out);
    let judged = judge(log, &db, &taint, &mut out);
    still_waiting(log, &db, &taint, &mut out);
    let coverage = Coverage {
        offers_seen: log.offers.len(),
        places: judged.len(),
        ordered_pairs: rules::order(&judged, &mut out),
        positions: rules::positions(log, &taint, &judged, &mut out),
        offer_pays: rules::offer_pays(log, ops, &db, &mut out),
    };
    Ok((out, coverage))
}

/// Every offer a client saw is an offer of that user's, on that seat; and
/// it came while the user was on that list.
fn offers_seen(log: &WaitLog, db: &Db, taint: &Taint, out: &mut Vec<Violation>) {
    for o in &log.offers {
        let row = db.offers.get(&o.reservation_id);
        let same = row.is_some_and(|r| {
            r.user_id == o.user_id
                && r.performance_id == o.performance_id
                && r.seat_number == o.seat_number
        });
        if !same {
            out.push(
                Violation::new(
                    "an offer read through the API is an offer from the list to that user (offer_seq set)",
                    format!("user {} saw {} as an offer; database: {row:?}", o.user, o.reservation_id),
                )
                .about(o.reservation_id.clone()),
            );
        }
        if o.place.is_none() && !taint.by(o.user, o.performance_id, o.seen_ms) {
            out.push(
                Violation::new(
                    "an offer goes only to a user on the list (client view)",
                    format!(
                        "user {} saw offer {} of performance {} at {} ms without a place on its list",
                        o.user, o.reservation_id, o.performance_id, o.seen_ms
                    ),
                )
                .about(o.reservation_id.clone())
                .about(format!("user:{}", o.user)),
            );
        }
    }
}

/// The places the clients can account for, and how each ended: a place
/// still there at the last read is on the list at the end, or was offered
/// since (the job's passes go on after the clients stop).
fn judge<'a>(
    log: &'a WaitLog,
    db: &'a Db,
    taint: &Taint,
    out: &mut Vec<Violation>,
) -> Vec<(&'a PlaceRecord, End<'a>)> {
    let seen: HashSet<&str> = log
        .offers
        .iter()
        .map(|o| o.reservation_id.as_str())
        .collect();
    let mut judged = Vec::new();
    for p in &log.places {
        // Untainted until it ended: a join without a definite answer while
        // the place was the user's may have made a second one, whose offer
        // could be taken for this one's.
        let ended_ms = match &p.fate {
            Fate::Offered { seen_ms, .. } => *seen_ms,
            Fate::Left { answered_ms, .. } => *answered_ms,
            Fate::StillOn { .. } | Fate::Unknown { .. } => u64::MAX,
        };
        if !p.certain || taint.by(p.user, p.performance_id, ended_ms) {
            continue;
        }
        let end = match &p.fate {
            Fate::Offered {
                reservation_id,
                seen_ms,
                ..
            } => match db.offers.get(reservation_id) {
                Some(row) => End::Offer(row, Some(*seen_ms)),
                // Reported by `offers_seen`.
                None => continue,
            },
            Fate::Left { sent_ms, .. } => End::Left(*sent_ms),
            Fate::StillOn { .. }
                if db
                    .waiting
                    .contains_key(&(p.performance_id, p.user_id.clone())) =>
            {
                End::Waiting
            }
            Fate::StillOn { .. } => {
                let unseen = db
                    .offers
                    .iter()
                    .filter(|(id, r)| {
                        !seen.contains(id.as_str())
                            && r.user_id == p.user_id
                            && r.performance_id == p.performance_id
                    })
                    .map(|(_, r)| r)
                    .max_by_key(|r| r.seq);
                let Some(row) = unseen else {
                    out.push(
                        Violation::new(
                            "a place ends only by its user's leave or an offer",
                            format!(
                                "place {} of user {} on performance {} is neither on the list nor offered",
                                p.place, p.user, p.performance_id
                            ),
                        )
                        .about(format!("user:{}", p.user)),
                    );
                    continue;
                };
                End::Offer(row, None)
            }
            Fate::Unknown { .. } => continue,
        };
        judged.push((p, end));
    }
    judged
}

/// Nobody is on a list at the end who never joined it, left it or was
/// offered from it.
fn still_waiting(log: &WaitLog, db: &Db, taint: &Taint, out: &mut Vec<Violation>) {
    for ((performance, user_id), seq) in &db.waiting {
        let Some(user) = log
            .joins
            .iter()
            .find(|j| &j.user_id == user_id)
            .map(|j| j.user)
        else {
            out.push(Violation::new(
                "only a user who joined is on a list",
                format!("user {user_id} is on the list of performance {performance} (seq {seq}) but never joined one"),
            ));
            continue;
        };
        if taint.by(user, *performance, u64::MAX) {
            continue;
        }
        let last = log
            .places
            .iter()
            .filter(|p| p.user == user && p.performance_id == *performance)
            .max_by_key(|p| p.joined_sent_ms);
        if !last.is_some_and(|p| matches!(p.fate, Fate::StillOn { .. })) {
            out.push(
                Violation::new(
                    "a user is on a list only from a join until their leave or offer",
                    format!(
                        "user {user} is on the list of performance {performance} (seq {seq}) at the end; their last place: {last:?}"
                    ),
                )
                .about(format!("user:{user}")),
            );
        }
    }
}
