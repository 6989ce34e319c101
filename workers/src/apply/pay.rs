//! Applying a payment (SPEC rule 5): the payer's balance, the reservation
//! and its seat, the ledger, the payer's other holds and queue token, all in
//! the batch's transaction.

use chrono::{DateTime, Utc};
use domain::rules::{decide_pay, ReservationState};
use domain::wire::{PayResult, RequestResult};
use domain::{ConcertId, Decision, Money, PaymentId, RejectReason, ReservationId, UserId};
use store::balances::LedgerKind;
use store::PgConnection;

/// Decides and applies `payer`'s payment of `reservation_id`, with their
/// token active for `concert`. A rejection changes nothing; an error rolls
/// the whole batch back.
pub(super) async fn pay(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    (payer, concert): (UserId, ConcertId),
    reservation_id: ReservationId,
) -> Result<Decision, store::Error> {
    // The payer's row first, as a reserve does: holds and payments of one
    // user then queue on one lock instead of deadlocking across partitions.
    let balance = store::balances::lock(conn, payer).await?;
    let reservation = store::holds::lock(conn, reservation_id).await?;
    let state = reservation.as_ref().map(|r| ReservationState {
        owner: r.user_id,
        status: r.status,
        held_until: r.held_until,
        price: Money::parse(r.price).unwrap_or_default(),
    });
    let balance = Money::parse(balance.unwrap_or_default()).unwrap_or_default();
    let balance_after = match decide_pay(state, payer, balance, now) {
        Ok(after) => after,
        Err(reason) => return Ok(Decision::Rejected(reason)),
    };
    let Some(reservation) = reservation else {
        return Ok(Decision::Rejected(RejectReason::ReservationNotFound));
    };
    // The token opens only its own concert (the API checked it too).
    if reservation.concert_id != concert {
        return Ok(Decision::Rejected(RejectReason::TokenNotActive));
    }
    let price = reservation.price;
    if !store::balances::debit(conn, payer, price).await? {
        return Ok(Decision::Rejected(RejectReason::InsufficientBalance));
    }
    let payment = PaymentId::new();
    store::payments::insert(conn, payment, reservation_id, payer, price, now).await?;
    store::balances::add_ledger_entry(
        conn,
        payer,
        LedgerKind::Payment,
        -price,
        balance_after.krw(),
        payment.0,
    )
    .await?;
    let sold = store::payments::sell(
        conn,
        reservation_id,
        reservation.performance_id,
        reservation.seat_number,
    )
    .await?;
    if !sold {
        // The seat no longer points at this hold: refuse rather than sell it
        // twice. Returning an error rolls the whole batch back.
        return Err(store::Error::Protocol(format!(
            "seat {}:{} is not held by reservation {reservation_id}",
            reservation.performance_id, reservation.seat_number
        )));
    }
    store::payments::release_other_holds(conn, payer, concert, reservation_id).await?;
    // Paying ends the payer's turn in the concert's waiting room.
    store::queue::expire_user(conn, payer, concert, now).await?;
    Ok(Decision::Succeeded(RequestResult::Pay(PayResult {
        payment_id: payment.0,
        reservation_id: reservation_id.0,
        amount: price,
        paid_at: now,
        balance_after: balance_after.krw(),
    })))
}
