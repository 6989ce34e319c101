//! The waitlist from the clients' view (SPEC rule 11), on top of testkit's
//! `WAITLIST` invariants (which see the database alone).
//!
//! What the clients know is when each join went out and when its `201`
//! came. Joins and the takings of places are serialised per performance
//! (`store::waitlist`), and places are numbered (`seq`) in the order their
//! joins ran: so if A's `201` came before B's join went out, A's place is
//! ahead of B's, and any offer made for B's place finds A's taken (offered
//! before or together with B's) or left. Only places whose user can
//! account for them are judged: made by a join answered `201` at every
//! attempt, ended by an offer seen, a leave confirmed by a read after its
//! `204`, or still there at the end; a user and performance with a join
//! without a definite answer (a place the client may not know of) is left
//! out from then on.

use super::Violation;
use crate::history::waitlist::{Fate, PlaceRecord, WaitLog};
use crate::history::{OpKind, OpRecord};
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

/// Every client-view violation of rule 11.
pub async fn check(
    pool: &PgPool,
    log: &WaitLog,
    ops: &[OpRecord],
) -> anyhow::Result<Vec<Violation>> {
    let db = load(pool).await?;
    let taint = Taint::of(log);
    let mut out = Vec::new();
    let seen: HashSet<&str> = log
        .offers
        .iter()
        .map(|o| o.reservation_id.as_str())
        .collect();

    // Every offer a client saw is an offer of that user's, on that seat;
    // and it came while the user was on that list.
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

    // The places the clients can account for, and how each ended.
    let mut judged: Vec<(&PlaceRecord, End)> = Vec::new();
    for p in &log.places {
        if !p.certain || taint.by(p.user, p.performance_id, p.joined_sent_ms) {
            continue;
        }
        let end = match &p.fate {
            Fate::Offered {
                reservation_id,
                seen_ms,
                ..
            } => match db.offers.get(reservation_id) {
                Some(row) => End::Offer(row, Some(*seen_ms)),
                None => continue,
            },
            Fate::Left { sent_ms, .. } => End::Left(*sent_ms),
            Fate::StillOn { .. } => {
                if db
                    .waiting
                    .contains_key(&(p.performance_id, p.user_id.clone()))
                {
                    End::Waiting
                } else {
                    // Offered after the last read (the job's passes go on).
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
                    match unseen {
                        Some(row) => End::Offer(row, None),
                        None => {
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
                        }
                    }
                }
            }
            Fate::Unknown { .. } => continue,
        };
        judged.push((p, end));
    }
    // Nobody is on a list at the end who never joined it, left it or was
    // offered from it.
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
    order(&judged, &mut out);
    positions(log, &taint, &judged, &mut out);
    offer_pays(log, ops, &db, &mut out);
    Ok(out)
}

/// If A's `201` came before B's join went out and B's place was offered,
/// A's was offered first (or in the same taking, ahead) or left before.
fn order(judged: &[(&PlaceRecord, End)], out: &mut Vec<Violation>) {
    for (b, b_end) in judged {
        let End::Offer(ob, b_seen) = b_end else {
            continue;
        };
        for (a, a_end) in judged {
            if a.user == b.user
                || a.performance_id != b.performance_id
                || a.joined_ms >= b.joined_sent_ms
            {
                continue;
            }
            let broken = match a_end {
                End::Offer(oa, _) => !(oa.seq < ob.seq && oa.order <= ob.order),
                // Left only after B had seen its offer: A was on the list
                // when B's place was taken.
                End::Left(sent_ms) => b_seen.is_some_and(|seen| *sent_ms > seen),
                End::Waiting => true,
            };
            if broken {
                let a_what = match a_end {
                    End::Offer(oa, _) => format!("offered with seq {} order {}", oa.seq, oa.order),
                    End::Left(sent) => format!("left (DELETE sent at {sent} ms)"),
                    End::Waiting => "still waiting at the end".to_owned(),
                };
                out.push(
                    Violation::new(
                        "offers follow the order of the joins the clients saw (nobody ahead passed over)",
                        format!(
                            "performance {}: user {} joined (201 at {} ms) before user {} (join sent at {} ms), \
                             yet user {} was offered seq {} order {} (seen at {b_seen:?} ms) while user {} was {a_what}",
                            b.performance_id, a.user, a.joined_ms, b.user, b.joined_sent_ms,
                            b.user, ob.seq, ob.order, a.user
                        ),
                    )
                    .about(format!("user:{}", a.user))
                    .about(format!("user:{}", b.user)),
                );
            }
        }
    }
}

/// A `201`'s `position` counts the places that were on the list at some
/// moment while the join ran: at least those known to be there all along,
/// at most one per user who may have had a place then.
fn positions(
    log: &WaitLog,
    taint: &Taint,
    judged: &[(&PlaceRecord, End)],
    out: &mut Vec<Violation>,
) {
    for (b, _) in judged {
        let Some(position) = b.position else {
            continue;
        };
        let (sent, answered) = (b.joined_sent_ms, b.joined_ms);
        let lower = 1 + judged
            .iter()
            .filter(|(a, end)| {
                a.user != b.user
                    && a.performance_id == b.performance_id
                    && a.joined_ms < sent
                    && match end {
                        End::Left(leave_sent) => *leave_sent > answered,
                        End::Waiting => true,
                        End::Offer(..) => false,
                    }
            })
            .count() as i64;
        let mut maybe_on: HashSet<usize> = log
            .places
            .iter()
            .filter(|a| a.user != b.user && a.performance_id == b.performance_id)
            .filter(|a| {
                let gone_by = match &a.fate {
                    Fate::Offered { seen_ms, .. } => *seen_ms,
                    Fate::Left { answered_ms, .. } => *answered_ms,
                    Fate::StillOn { .. } | Fate::Unknown { .. } => u64::MAX,
                };
                a.joined_sent_ms < answered && gone_by > sent
            })
            .map(|a| a.user)
            .collect();
        maybe_on.extend(
            log.joins
                .iter()
                .filter(|j| j.user != b.user && j.performance_id == b.performance_id)
                .filter(|j| taint.by(j.user, j.performance_id, answered))
                .map(|j| j.user),
        );
        let upper = 1 + maybe_on.len() as i64;
        if position < lower || position > upper {
            out.push(
                Violation::new(
                    "a join's position counts the places on the list while it ran",
                    format!(
                        "place {} of user {} on performance {}: position {position}, expected {lower}..={upper} \
                         (join sent at {sent} ms, 201 at {answered} ms)",
                        b.place, b.user, b.performance_id
                    ),
                )
                .about(format!("user:{}", b.user)),
            );
        }
    }
}

/// Each paid offer is sold to its user, once; an offer may be paid with
/// any token of its user, an expired one too.
fn offer_pays(log: &WaitLog, ops: &[OpRecord], db: &Db, out: &mut Vec<Violation>) {
    let by_op: HashMap<u64, &OpRecord> = ops.iter().map(|o| (o.op, o)).collect();
    let mut offers_of: HashMap<u64, HashSet<&str>> = HashMap::new();
    for p in &log.pays {
        offers_of.entry(p.op).or_default().insert(&p.reservation_id);
    }
    let mut sold_by: HashMap<&str, &str> = HashMap::new();
    for p in &log.pays {
        let Some(op) = by_op.get(&p.op) else {
            continue;
        };
        let named: Vec<&str> = match &op.kind {
            OpKind::Pay { reservation_id } => vec![reservation_id.as_str()],
            OpKind::Checkout { reservation_ids } => {
                reservation_ids.iter().map(String::as_str).collect()
            }
            _ => continue,
        };
        let all_offers = named.iter().all(|id| offers_of[&p.op].contains(id));
        let request = op.request_id();
        let row = request.as_ref().and_then(|id| db.pays.get(id));
        let refused_token = op
            .attempts
            .iter()
            .any(|a| a.code() == Some("TOKEN_NOT_ACTIVE"))
            || row.is_some_and(|(_, reason, _)| reason.as_deref() == Some("TOKEN_NOT_ACTIVE"));
        if all_offers && refused_token {
            out.push(
                Violation::new(
                    "an offer is paid with any token of its user, an expired one too",
                    format!(
                        "op {} (key {}) paying offer {} with {} token was refused TOKEN_NOT_ACTIVE",
                        op.op,
                        op.key,
                        p.reservation_id,
                        if p.expired_token {
                            "an expired"
                        } else {
                            "its current"
                        }
                    ),
                )
                .about(op.key.clone()),
            );
        }
        let Some((status, _, result)) = row else {
            continue;
        };
        if status != "succeeded" {
            continue;
        }
        let payment = result
            .as_ref()
            .and_then(|r| r["payment_id"].as_str())
            .unwrap_or_default();
        let offer = db.offers.get(&p.reservation_id);
        let ok = offer.is_some_and(|o| {
            o.payment_id.as_deref() == Some(payment)
                && match o.status.as_str() {
                    "paid" => {
                        db.sold
                            .get(&(o.performance_id, o.seat_number))
                            .map(String::as_str)
                            == Some(p.reservation_id.as_str())
                    }
                    "refunded" => true,
                    _ => false,
                }
        });
        let twice = sold_by
            .insert(&p.reservation_id, payment)
            .is_some_and(|earlier| earlier != payment);
        if !ok || twice {
            out.push(
                Violation::new(
                    "a paid offer is sold to its user once: its payment, its seat sold to it (or refunded since)",
                    format!(
                        "offer {} paid by request {} (payment {payment}); database: {offer:?}, seat sold to {:?}",
                        p.reservation_id,
                        request.as_deref().unwrap_or("-"),
                        offer.and_then(|o| db.sold.get(&(o.performance_id, o.seat_number)))
                    ),
                )
                .about(p.reservation_id.clone()),
            );
        }
    }
}
