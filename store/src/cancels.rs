//! What a cancel (SPEC rule 10) does to a reservation, its seat and its
//! payment. The balance and ledger side is in [`crate::balances`]; the
//! worker decides with `domain::cancel` and calls these in the transaction
//! that records the command.

use crate::holds::Reservation;
use chrono::{DateTime, Utc};
use domain::rules::StoredReservation;
use sqlx::PgConnection;

/// Releases the live hold `reservation`: it reads `cancelled` and its seat
/// is free again at once. False if the seat was not this hold's (nothing of
/// the seat changed).
pub async fn release(
    conn: &mut PgConnection,
    reservation: &Reservation,
) -> Result<bool, sqlx::Error> {
    sqlx::query("update reservations set status = $2 where reservation_id = $1 and status = $3")
        .bind(reservation.reservation_id.0)
        .bind(StoredReservation::Cancelled.as_str())
        .bind(StoredReservation::Held.as_str())
        .execute(&mut *conn)
        .await?;
    let freed = sqlx::query(
        "update seats set held_until = null, reservation_id = null
          where performance_id = $1 and seat_number = $2 and reservation_id = $3 and not sold",
    )
    .bind(reservation.performance_id.0)
    .bind(reservation.seat_number)
    .bind(reservation.reservation_id.0)
    .execute(conn)
    .await?;
    Ok(freed.rows_affected() == 1)
}

/// Refunds the paid `reservation` at `now`: it reads `refunded`, its
/// payment keeps its row and records what was given back, and the seat is
/// free again. False, changing nothing of the seat, if the seat was not
/// sold to this reservation (the caller must then roll back).
pub async fn refund(
    conn: &mut PgConnection,
    reservation: &Reservation,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let id = reservation.reservation_id.0;
    sqlx::query("update reservations set status = $2 where reservation_id = $1")
        .bind(id)
        .bind(StoredReservation::Refunded.as_str())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "update payments set refunded = refunded + $2, refunded_at = $3 where payment_id = $1",
    )
    .bind(reservation.payment_id)
    .bind(reservation.price)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let freed = sqlx::query(
        "update seats set sold = false, held_until = null, reservation_id = null
          where performance_id = $1 and seat_number = $2 and reservation_id = $3 and sold",
    )
    .bind(reservation.performance_id.0)
    .bind(reservation.seat_number)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(freed.rows_affected() == 1)
}
