//! `payments`, and what a payment does to its reservation and seat. The
//! balance and ledger side is in [`crate::balances`].

use crate::waitlist::FreedSeat;
use chrono::{DateTime, Utc};
use domain::rules::StoredReservation;
use domain::{ConcertId, PaymentId, PerformanceId, ReservationId, UserId};
use sqlx::PgConnection;
use std::collections::HashMap;

/// Records the payment of `reservation` by `payer`.
pub async fn insert(
    conn: &mut PgConnection,
    payment: PaymentId,
    reservation: ReservationId,
    payer: UserId,
    amount: i64,
    paid_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into payments (payment_id, reservation_id, user_id, amount, paid_at) values ($1, $2, $3, $4, $5)",
    )
    .bind(payment.0)
    .bind(reservation.0)
    .bind(payer.0)
    .bind(amount)
    .bind(paid_at)
    .execute(conn)
    .await
    .map(drop)
}

/// Marks `reservation` paid by `payment` and its seat sold; false, changing
/// nothing of the seat, if the seat no longer points at this hold (the
/// caller must then roll back rather than sell a seat twice).
pub async fn sell(
    conn: &mut PgConnection,
    payment: PaymentId,
    reservation: ReservationId,
    performance: PerformanceId,
    seat_number: i16,
) -> Result<bool, sqlx::Error> {
    sqlx::query("update reservations set status = $2, payment_id = $3 where reservation_id = $1")
        .bind(reservation.0)
        .bind(StoredReservation::Paid.as_str())
        .bind(payment.0)
        .execute(&mut *conn)
        .await?;
    let sold = sqlx::query(
        "update seats set sold = true, held_until = null
          where performance_id = $1 and seat_number = $2 and reservation_id = $3 and not sold",
    )
    .bind(performance.0)
    .bind(seat_number)
    .bind(reservation.0)
    .execute(conn)
    .await?;
    Ok(sold.rows_affected() == 1)
}

/// Releases `payer`'s holds in `concert` other than `kept` and frees their
/// seats: paying ends a user's shopping in that concert (SPEC rule 5).
/// Returns the seats freed, for the waitlist (rule 11).
pub async fn release_other_holds(
    conn: &mut PgConnection,
    payer: UserId,
    concert: ConcertId,
    kept: &[ReservationId],
) -> Result<Vec<FreedSeat>, sqlx::Error> {
    let kept: Vec<uuid::Uuid> = kept.iter().map(|r| r.0).collect();
    let rows: Vec<(i64, i16, i64)> = sqlx::query_as(
        "with released as (
             update reservations set status = $3
              where user_id = $1 and status = $4 and reservation_id <> all($2)
                and performance_id in (select performance_id from performances where concert_id = $5)
          returning reservation_id, performance_id, seat_number)
         update seats s set held_until = null, reservation_id = null
           from released r
          where s.performance_id = r.performance_id and s.seat_number = r.seat_number
            and s.reservation_id = r.reservation_id
         returning s.performance_id, s.seat_number, s.price",
    )
    .bind(payer.0)
    .bind(&kept)
    .bind(StoredReservation::Expired.as_str())
    .bind(StoredReservation::Held.as_str())
    .bind(concert.0)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(performance, seat_number, price)| FreedSeat {
            performance_id: PerformanceId(performance),
            seat_number,
            price,
            lapsed: None,
        })
        .collect())
}

/// How many paid (not refunded) seats `user` owns of each of
/// `performances`, for the ticket limit; one statement.
pub async fn paid_counts(
    conn: &mut PgConnection,
    user: UserId,
    performances: &[PerformanceId],
) -> Result<HashMap<PerformanceId, u32>, sqlx::Error> {
    let ids: Vec<i64> = performances.iter().map(|p| p.0).collect();
    let rows: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "select performance_id, count(*) from reservations
          where user_id = $1 and performance_id = any($2) and status = '{paid}'
          group by performance_id",
        paid = StoredReservation::Paid.as_str(),
    ))
    .bind(user.0)
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(p, n)| (PerformanceId(p), u32::try_from(n).unwrap_or(u32::MAX)))
        .collect())
}
