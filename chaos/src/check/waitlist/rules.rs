//! The rules the clients' view must keep: the order of the offers against
//! the order of the joins, each join's position, and the payments of
//! offers. Each returns how many cases it judged.

use super::{Db, End, Taint};
use crate::check::Violation;
use crate::history::waitlist::{Fate, PlaceRecord, WaitLog};
use crate::history::{OpKind, OpRecord};
use std::collections::{HashMap, HashSet};

/// If A's `201` came before B's join went out and B's place was offered,
/// A's was offered first (or in the same taking, ahead) or left before.
pub(super) fn order(judged: &[(&PlaceRecord, End)], out: &mut Vec<Violation>) -> usize {
    let mut pairs = 0;
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
            pairs += 1;
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
    pairs
}

/// A `201`'s `position` counts the places that were on the list at some
/// moment while the join ran: at least those known to be there all along,
/// at most one per user who may have had a place then.
pub(super) fn positions(
    log: &WaitLog,
    taint: &Taint,
    judged: &[(&PlaceRecord, End)],
    out: &mut Vec<Violation>,
) -> usize {
    let mut judged_positions = 0;
    for (b, _) in judged {
        let Some(position) = b.position else {
            continue;
        };
        judged_positions += 1;
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
    judged_positions
}

/// Each paid offer is sold to its user, once; an offer may be paid with
/// any token of its user, an expired one too.
pub(super) fn offer_pays(
    log: &WaitLog,
    ops: &[OpRecord],
    db: &Db,
    out: &mut Vec<Violation>,
) -> usize {
    let mut judged_pays = 0;
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
        judged_pays += 1;
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
    judged_pays
}
