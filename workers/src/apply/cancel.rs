//! Applying a cancel (SPEC rule 10): a live hold released, or a paid seat
//! refunded before the cutoff, with the balance, the ledger, the payment and
//! the seat, all in the batch's transaction.

use super::Rules;
use chrono::{DateTime, Utc};
use domain::cancel::{decide_cancel, CancelState, Cancellation};
use domain::rules::StoredReservation;
use domain::wire::{CancelResult, RequestResult};
use domain::{Decision, Money, RejectReason, ReservationId, UserId};
use store::balances::LedgerKind;
use store::waitlist::FreedSeat;
use store::PgConnection;

/// Decides and applies `caller`'s cancel of `reservation_id`. A cancel
/// needs no active token (any credential of the owner sends it). A
/// rejection changes nothing; an error rolls the whole batch back.
pub(super) async fn cancel(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    rules: Rules,
    caller: UserId,
    reservation_id: ReservationId,
) -> Result<Decision, store::Error> {
    let cutoff = rules.refund_cutoff;
    // The caller's row first, as a payment does: a refund racing a payment
    // of the same user queues on one lock instead of deadlocking.
    let balance = store::balances::lock(conn, caller).await?;
    let reservation = store::holds::lock(conn, reservation_id).await?;
    let state = reservation.as_ref().map(|r| CancelState {
        owner: r.user_id,
        status: r.status,
        held_until: r.held_until,
        price: Money::parse(r.price).unwrap_or_default(),
        starts_at: r.starts_at,
    });
    let balance = Money::parse(balance.unwrap_or_default()).unwrap_or_default();
    let decision = match decide_cancel(state, caller, balance, now, cutoff) {
        Ok(decision) => decision,
        Err(reason) => return Ok(Decision::Rejected(reason)),
    };
    let Some(reservation) = reservation else {
        return Ok(Decision::Rejected(RejectReason::ReservationNotFound));
    };
    let (status, refund, balance_after, freed) = match decision {
        Cancellation::Release => {
            let freed = store::cancels::release(conn, &reservation).await?;
            (StoredReservation::Cancelled, 0, balance.krw(), freed)
        }
        Cancellation::Refund {
            refund,
            balance_after,
        } => {
            if !store::balances::credit(conn, caller, refund.krw()).await? {
                return Ok(Decision::Rejected(RejectReason::BalanceLimit));
            }
            store::balances::add_ledger_entry(
                conn,
                caller,
                LedgerKind::Refund,
                refund.krw(),
                balance_after.krw(),
                reservation_id.0,
            )
            .await?;
            if !store::cancels::refund(conn, &reservation, now).await? {
                // The seat is not sold to this reservation: refuse rather
                // than free someone else's seat. The error rolls back.
                return Err(store::Error::Protocol(format!(
                    "seat {}:{} is not sold to reservation {reservation_id}",
                    reservation.performance_id, reservation.seat_number
                )));
            }
            (
                StoredReservation::Refunded,
                refund.krw(),
                balance_after.krw(),
                true,
            )
        }
    };
    if freed {
        // The seat is free again: the first on its waitlist gets it (rule 11).
        let seat = FreedSeat {
            performance_id: reservation.performance_id,
            seat_number: reservation.seat_number,
            price: reservation.price,
            lapsed: None,
        };
        store::waitlist::offer_freed(conn, &[seat], now, rules.offer_ttl).await?;
    }
    Ok(Decision::Succeeded(RequestResult::Cancel(CancelResult {
        reservation_id: reservation_id.0,
        status,
        refund,
        balance_after,
    })))
}
