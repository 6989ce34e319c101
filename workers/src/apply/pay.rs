//! Applying a payment (SPEC rule 5): one or several of the payer's holds
//! paid together, with the balance, the reservations and their seats, the
//! ledger, the payer's other holds and queue token, all in the batch's
//! transaction, or nothing at all.

use super::Rules;
use chrono::{DateTime, Utc};
use domain::checkout::{decide_checkout, payable_with_any_token, CheckoutLine};
use domain::wire::{PayResult, RequestResult};
use domain::{
    ConcertId, Decision, Money, PaymentId, PerformanceId, RejectReason, ReservationId, UserId,
};
use std::collections::HashMap;
use store::balances::LedgerKind;
use store::PgConnection;

/// Decides and applies `payer`'s payment of `reservations` (distinct, the
/// first keys the command), sent with a token of theirs active for
/// `active_for` (`None`: a token no longer active, enough only to pay
/// offers from the waitlist), under `rules`. A rejection changes nothing;
/// an error rolls the whole batch back. A payment made returns the concert
/// it was made in, whose token it expired.
pub(super) async fn pay(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    (payer, active_for): (UserId, Option<ConcertId>),
    reservations: &[ReservationId],
    rules: Rules,
) -> Result<(Decision, Option<ConcertId>), store::Error> {
    let rejected = |reason| Ok((Decision::Rejected(reason), None));
    // The payer's row first, as a reserve does: holds and payments of one
    // user then queue on one lock instead of deadlocking across partitions,
    // and two checkouts of one user are decided one after the other (the
    // ticket limit holds across them). Then the reservations, in id order.
    let balance = store::balances::lock(conn, payer).await?;
    let locked: HashMap<ReservationId, store::holds::Reservation> =
        store::holds::lock_many(conn, reservations)
            .await?
            .into_iter()
            .map(|r| (r.reservation_id, r))
            .collect();
    let found: Vec<Option<&store::holds::Reservation>> =
        reservations.iter().map(|id| locked.get(id)).collect();
    let lines: Vec<Option<CheckoutLine>> = found
        .iter()
        .map(|r| r.map(store::holds::Reservation::checkout_line))
        .collect();
    let mut performances: Vec<PerformanceId> = locked.values().map(|r| r.performance_id).collect();
    performances.sort_unstable_by_key(|p| p.0);
    performances.dedup();
    let owned = store::payments::paid_counts(conn, payer, &performances).await?;
    let balance = Money::parse(balance.unwrap_or_default()).unwrap_or_default();
    let max_tickets = rules.max_tickets_per_user;
    let balance_after = match decide_checkout(&lines, payer, balance, now, &owned, max_tickets) {
        Ok(after) => after,
        Err(reason) => return rejected(reason),
    };
    let paid: Vec<&store::holds::Reservation> = found.into_iter().flatten().collect();
    let Some(first) = paid.first() else {
        return rejected(RejectReason::ReservationNotFound);
    };
    // Offers alone may be paid with any live token of the payer (rule 11);
    // anything else needs the token active for its concert (the API
    // checked it too).
    let concert = if payable_with_any_token(&lines) {
        first.concert_id
    } else {
        match active_for {
            Some(concert) => concert,
            None => return rejected(RejectReason::TokenNotActive),
        }
    };
    if paid.iter().any(|r| r.concert_id != concert) {
        return rejected(RejectReason::TokenNotActive);
    }
    let total: i64 = paid.iter().map(|r| r.price).sum();
    if !store::balances::debit(conn, payer, total).await? {
        return rejected(RejectReason::InsufficientBalance);
    }
    let payment = PaymentId::new();
    store::payments::insert(conn, payment, first.reservation_id, payer, total, now).await?;
    store::balances::add_ledger_entry(
        conn,
        payer,
        LedgerKind::Payment,
        -total,
        balance_after.krw(),
        payment.0,
    )
    .await?;
    for r in &paid {
        let sold = store::payments::sell(
            conn,
            payment,
            r.reservation_id,
            r.performance_id,
            r.seat_number,
        )
        .await?;
        if !sold {
            // The seat no longer points at this hold: refuse rather than
            // sell it twice. Returning an error rolls the whole batch back.
            return Err(store::Error::Protocol(format!(
                "seat {}:{} is not held by reservation {}",
                r.performance_id, r.seat_number, r.reservation_id
            )));
        }
    }
    let freed = store::payments::release_other_holds(conn, payer, concert, reservations).await?;
    if !freed.is_empty() {
        store::waitlist::offer_freed(conn, &freed, now, rules.offer_ttl).await?;
    }
    // Paying ends the payer's turn in the concert's waiting room.
    store::queue::expire_user(conn, payer, concert, now).await?;
    let decision = Decision::Succeeded(RequestResult::Pay(PayResult {
        payment_id: payment.0,
        reservation_id: first.reservation_id.0,
        reservation_ids: reservations.iter().map(|r| r.0).collect(),
        amount: total,
        paid_at: now,
        balance_after: balance_after.krw(),
    }));
    Ok((decision, Some(concert)))
}
