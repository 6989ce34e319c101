//! Seats and `reservations` as holds: what a run of reserve commands locks,
//! reads and writes, the hold-expiry sweep, and the reads of reservations.

use chrono::{DateTime, Utc};
use domain::checkout::CheckoutLine;
use domain::rules::StoredReservation;
use domain::{ConcertId, Money, PerformanceId, ReservationId, UserId};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use uuid::Uuid;

/// A seat as a reserve decides on it, locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedSeat {
    pub performance_id: i64,
    pub seat_number: i16,
    pub sold: bool,
    pub held_until: Option<DateTime<Utc>>,
    /// The hold that last took the seat, lapsed or not.
    pub reservation_id: Option<Uuid>,
    pub price: i64,
    /// The concert of its performance: an active token opens only its own.
    pub concert_id: ConcertId,
    /// Whether anyone is on its performance's waitlist (rule 11).
    pub waitlisted: bool,
}

/// Locks the seats named by `keys` (performance, seat number) in key order,
/// the order every transaction takes them in, and returns those that exist.
pub async fn lock_seats(
    conn: &mut PgConnection,
    keys: &[(i64, i16)],
) -> Result<Vec<LockedSeat>, sqlx::Error> {
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    let (performances, numbers): (Vec<i64>, Vec<i16>) = keys.into_iter().unzip();
    type Row = (
        i64,
        i16,
        bool,
        Option<DateTime<Utc>>,
        Option<Uuid>,
        i64,
        i64,
        bool,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "select s.performance_id, s.seat_number, s.sold, s.held_until, s.reservation_id, s.price,
                p.concert_id,
                exists (select 1 from waitlist w where w.performance_id = s.performance_id)
           from seats s join performances p using (performance_id)
          where (s.performance_id, s.seat_number) in
                (select * from unnest($1::bigint[], $2::smallint[]))
          order by s.performance_id, s.seat_number
            for update of s",
    )
    .bind(&performances)
    .bind(&numbers)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                performance_id,
                seat_number,
                sold,
                held_until,
                reservation_id,
                price,
                concert,
                waitlisted,
            )| {
                LockedSeat {
                    performance_id,
                    seat_number,
                    sold,
                    held_until,
                    reservation_id,
                    price,
                    concert_id: ConcertId(concert),
                    waitlisted,
                }
            },
        )
        .collect())
}

/// How many unexpired holds each of `users` has at `now`.
pub async fn live_hold_counts(
    conn: &mut PgConnection,
    users: &[Uuid],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, u32>, sqlx::Error> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "select user_id, count(*) from reservations
          where user_id = any($1) and status = $2 and held_until > $3
          group by user_id",
    )
    .bind(users)
    .bind(StoredReservation::Held.as_str())
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, n)| (user, u32::try_from(n).unwrap_or(u32::MAX)))
        .collect())
}

/// Marks lapsed holds `expired` (a new hold took their seat).
pub async fn expire(conn: &mut PgConnection, reservations: &[Uuid]) -> Result<(), sqlx::Error> {
    if reservations.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "update reservations set status = $2 where reservation_id = any($1) and status = $3",
    )
    .bind(reservations)
    .bind(StoredReservation::Expired.as_str())
    .bind(StoredReservation::Held.as_str())
    .execute(conn)
    .await
    .map(drop)
}

/// The holds a run of reserves takes, column by column for `unnest`.
#[derive(Debug, Default)]
pub struct NewHolds {
    ids: Vec<Uuid>,
    users: Vec<Uuid>,
    performances: Vec<i64>,
    numbers: Vec<i16>,
    prices: Vec<i64>,
    until: Vec<DateTime<Utc>>,
    /// For an offer, its place on the list and the order it was made in.
    offer_seq: Vec<Option<i64>>,
    offer_order: Vec<Option<i64>>,
}

impl NewHolds {
    /// Adds the hold `id` of `user` on a seat at `price` until `until`.
    pub fn push(
        &mut self,
        id: ReservationId,
        user: UserId,
        (performance, number): (i64, i16),
        price: i64,
        until: DateTime<Utc>,
    ) {
        self.ids.push(id.0);
        self.users.push(user.0);
        self.performances.push(performance);
        self.numbers.push(number);
        self.prices.push(price);
        self.until.push(until);
        self.offer_seq.push(None);
        self.offer_order.push(None);
    }

    /// Marks the hold pushed last as an offer from the waitlist: made for
    /// the place `seq`, in the `order`-th taking of places.
    pub fn mark_offer(&mut self, seq: i64, order: i64) {
        if let (Some(s), Some(o)) = (self.offer_seq.last_mut(), self.offer_order.last_mut()) {
            *s = Some(seq);
            *o = Some(order);
        }
    }

    /// Writes the reservations and points their seats at them: two
    /// statements for the whole run. A seat appears at most once: a second
    /// hold of it in the same run was refused, since the first made it held.
    pub async fn write(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "insert into reservations (reservation_id, user_id, performance_id, seat_number, price, status, held_until,
                                       offer_seq, offer_order)
             select id, u, p, n, pr, $7, h, os, oo
               from unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::smallint[], $5::bigint[], $6::timestamptz[],
                           $8::bigint[], $9::bigint[])
                    as t(id, u, p, n, pr, h, os, oo)",
        )
        .bind(&self.ids)
        .bind(&self.users)
        .bind(&self.performances)
        .bind(&self.numbers)
        .bind(&self.prices)
        .bind(&self.until)
        .bind(StoredReservation::Held.as_str())
        .bind(&self.offer_seq)
        .bind(&self.offer_order)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "update seats s set reservation_id = t.id, held_until = t.h
               from unnest($1::uuid[], $2::bigint[], $3::smallint[], $4::timestamptz[]) as t(id, p, n, h)
              where s.performance_id = t.p and s.seat_number = t.n and not s.sold",
        )
        .bind(&self.ids)
        .bind(&self.performances)
        .bind(&self.numbers)
        .bind(&self.until)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Marks up to 1000 lapsed holds expired. Reads already treat them as
/// expired; this keeps the table honest. Rows locked by a payment in flight
/// are skipped and looked at again next time, so a payment and an expiry
/// never both win.
pub async fn expire_lapsed(pool: &PgPool) -> Result<u64, sqlx::Error> {
    // The status filter is a literal, not a parameter, so the planner can
    // use the partial index on lapsing holds.
    let done = sqlx::query(&format!(
        "update reservations set status = $1
          where reservation_id in (
                select reservation_id from reservations
                 where status = '{held}' and held_until <= now()
                 order by held_until limit 1000
                   for update skip locked)",
        held = StoredReservation::Held.as_str(),
    ))
    .bind(StoredReservation::Expired.as_str())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// A reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub reservation_id: ReservationId,
    pub user_id: UserId,
    pub performance_id: PerformanceId,
    pub seat_number: i16,
    pub price: i64,
    pub status: StoredReservation,
    pub held_until: DateTime<Utc>,
    /// The concert of its performance.
    pub concert_id: ConcertId,
    /// When its performance starts (the refund cutoff counts from it).
    pub starts_at: DateTime<Utc>,
    /// The payment that paid for it, once paid.
    pub payment_id: Option<Uuid>,
    /// A hold made from the waitlist (rule 11): paid with any live token.
    pub offer: bool,
}

impl Reservation {
    /// What a checkout decides on (`domain::checkout`): the worker's
    /// decision and the API's token check read the same line.
    pub fn checkout_line(&self) -> CheckoutLine {
        CheckoutLine {
            owner: self.user_id,
            status: self.status,
            held_until: self.held_until,
            price: Money::parse(self.price).unwrap_or_default(),
            performance: self.performance_id,
            offer: self.offer,
        }
    }
}

type ReservationRow = (
    Uuid,
    Uuid,
    i64,
    i16,
    i64,
    String,
    DateTime<Utc>,
    i64,
    DateTime<Utc>,
    Option<Uuid>,
    bool,
);

/// The columns of [`ReservationRow`], from `reservations r join performances p`.
const RESERVATION_COLUMNS: &str = "r.reservation_id, r.user_id, r.performance_id, r.seat_number, \
     r.price, r.status, r.held_until, p.concert_id, p.starts_at, r.payment_id, \
     r.offer_seq is not null";

fn reservation(
    (id, user, performance, seat, price, status, held_until, concert, starts_at, payment, offer): ReservationRow,
) -> Reservation {
    Reservation {
        reservation_id: ReservationId(id),
        user_id: UserId(user),
        performance_id: PerformanceId(performance),
        seat_number: seat,
        price,
        status: StoredReservation::parse(&status).unwrap_or(StoredReservation::Expired),
        held_until,
        concert_id: ConcertId(concert),
        starts_at,
        payment_id: payment,
        offer,
    }
}

/// The reservations of `user`, newest first.
pub async fn of_user(pool: &PgPool, user: UserId) -> Result<Vec<Reservation>, sqlx::Error> {
    let rows: Vec<ReservationRow> = sqlx::query_as(&format!(
        "select {RESERVATION_COLUMNS} from reservations r join performances p using (performance_id)
          where r.user_id = $1 order by r.created_at desc, r.reservation_id"
    ))
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(reservation).collect())
}

/// The reservation `id`, if it exists (the API's check before a payment).
pub async fn find(pool: &PgPool, id: ReservationId) -> Result<Option<Reservation>, sqlx::Error> {
    let row: Option<ReservationRow> = sqlx::query_as(&format!(
        "select {RESERVATION_COLUMNS} from reservations r join performances p using (performance_id)
          where r.reservation_id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(reservation))
}

/// The reservation `id`, locked until the transaction ends (a payment or
/// a cancel).
pub async fn lock(
    conn: &mut PgConnection,
    id: ReservationId,
) -> Result<Option<Reservation>, sqlx::Error> {
    let row: Option<ReservationRow> = sqlx::query_as(&format!(
        "select {RESERVATION_COLUMNS} from reservations r join performances p using (performance_id)
          where r.reservation_id = $1 for update of r"
    ))
    .bind(id.0)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(reservation))
}

/// The reservations `ids` that exist, locked until the transaction ends (a
/// checkout), in one statement; locked in id order, so two checkouts that
/// share a reservation queue instead of deadlocking.
pub async fn lock_many(
    conn: &mut PgConnection,
    ids: &[ReservationId],
) -> Result<Vec<Reservation>, sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(|r| r.0).collect();
    let rows: Vec<ReservationRow> = sqlx::query_as(&format!(
        "select {RESERVATION_COLUMNS} from reservations r join performances p using (performance_id)
          where r.reservation_id = any($1) order by r.reservation_id for update of r"
    ))
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(reservation).collect())
}
