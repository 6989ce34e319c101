//! The waitlist of sold-out performances (SPEC rule 11): places on it, and
//! the offers made from it. Every transaction that frees a seat calls
//! [`offer_freed`] before it commits, so a freed seat goes to the first on
//! the list before anyone else can see it free; [`offer_free_seats`] is the
//! background job's pass for holds that lapsed with nobody touching them.

use crate::holds::NewHolds;
use chrono::{DateTime, Duration, Utc};
use domain::waitlist::{offer_until, pair_offers};
use domain::{PerformanceId, ReservationId, UserId};
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A place on a performance's list, as its user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// 1 for the first on the list.
    pub position: i64,
    /// Whether this call made the place (false: the user already had it).
    pub new: bool,
}

/// Holds the list of `performance` still for a join: a transaction taking
/// places off it waits until the join has committed, and a join waits for
/// such a transaction, so places are taken in the order of `seq` (see
/// [`take_first`]). Call it first in the join's transaction.
pub async fn lock_for_join(
    conn: &mut PgConnection,
    performance: PerformanceId,
) -> Result<(), sqlx::Error> {
    sqlx::query("select 1 from performances where performance_id = $1 for share")
        .bind(performance.0)
        .fetch_optional(conn)
        .await
        .map(drop)
}

/// `user`'s place on the list of `performance`, if they have one.
pub async fn place_of(
    conn: &mut PgConnection,
    performance: PerformanceId,
    user: UserId,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select (select count(*) from waitlist a where a.performance_id = w.performance_id and a.seq <= w.seq)
           from waitlist w where w.performance_id = $1 and w.user_id = $2",
    )
    .bind(performance.0)
    .bind(user.0)
    .fetch_optional(conn)
    .await
}

/// How many seats of `performance` a reader sees `available` now: free and
/// nobody on its list (see `domain::waitlist::seat_status`).
pub async fn available_seats(
    conn: &mut PgConnection,
    performance: PerformanceId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from seats s
          where s.performance_id = $1 and not s.sold
            and (s.held_until is null or s.held_until <= now())
            and not exists (select 1 from waitlist w where w.performance_id = $1)",
    )
    .bind(performance.0)
    .fetch_one(conn)
    .await
}

/// Puts `user` at the end of the list of `performance`; `None` if they were
/// already on it (a concurrent join of the same user made the place).
pub async fn append(
    conn: &mut PgConnection,
    performance: PerformanceId,
    user: UserId,
) -> Result<Option<i64>, sqlx::Error> {
    let made: Option<i64> = sqlx::query_scalar(
        "insert into waitlist (performance_id, user_id) values ($1, $2)
         on conflict do nothing returning seq",
    )
    .bind(performance.0)
    .bind(user.0)
    .fetch_optional(&mut *conn)
    .await?;
    if made.is_none() {
        return Ok(None);
    }
    place_of(conn, performance, user).await
}

/// Takes `user` off the list of `performance`; false if they were not on it.
pub async fn leave(
    pool: &PgPool,
    performance: PerformanceId,
    user: UserId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from waitlist where performance_id = $1 and user_id = $2")
        .bind(performance.0)
        .bind(user.0)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A seat a transaction has just freed, or found free while someone waits,
/// for [`offer_freed`]. The caller holds the seat's row lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreedSeat {
    pub performance_id: PerformanceId,
    pub seat_number: i16,
    pub price: i64,
    /// The lapsed hold the seat still points at, if any: marked expired
    /// before the offer takes its place.
    pub lapsed: Option<Uuid>,
}

/// An offer made: a hold of `seat` for `user_id` until `held_until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub seat: FreedSeat,
    pub reservation_id: ReservationId,
    pub user_id: UserId,
    pub held_until: DateTime<Utc>,
}

/// A place taken off a list for an offer: its user, its place (`seq`) and
/// the order of the taking (one value for the places taken together).
struct Taken {
    user: Uuid,
    seq: i64,
    order: i64,
}

/// Takes the first `n` places off the list of `performance`, in list order.
/// When anyone waits, the performance's row is locked first: a join in
/// flight (see [`lock_for_join`]) commits before the places are read, so a
/// place cannot appear ahead of the ones taken once they are taken. Places
/// are then locked first to last, so a second transaction wanting them
/// waits and takes the places after them: no place is skipped.
async fn take_first(
    conn: &mut PgConnection,
    performance: PerformanceId,
    n: usize,
) -> Result<Vec<Taken>, sqlx::Error> {
    let waited_for: Option<i32> = sqlx::query_scalar(
        "select 1 from performances
          where performance_id = $1 and exists (select 1 from waitlist where performance_id = $1)
            for no key update",
    )
    .bind(performance.0)
    .fetch_optional(&mut *conn)
    .await?;
    if waited_for.is_none() {
        return Ok(Vec::new());
    }
    let mut rows: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "with turn as (select nextval('waitlist_offer_order') as n),
              first as (select user_id from waitlist where performance_id = $1
                         order by seq limit $2 for update)
         delete from waitlist w using first f
          where w.performance_id = $1 and w.user_id = f.user_id
         returning w.user_id, w.seq, (select n from turn)",
    )
    .bind(performance.0)
    .bind(i64::try_from(n).unwrap_or(i64::MAX))
    .fetch_all(conn)
    .await?;
    rows.sort_unstable_by_key(|(_, seq, _)| *seq);
    Ok(rows
        .into_iter()
        .map(|(user, seq, order)| Taken { user, seq, order })
        .collect())
}

/// Offers each of `freed` (seats whose rows the caller has locked) to the
/// first on its performance's list, as a hold for `offer_ttl` from `now`,
/// and takes those users off the list; a seat with nobody waiting is left
/// free. Returns the offers made, in the caller's transaction.
pub async fn offer_freed(
    conn: &mut PgConnection,
    freed: &[FreedSeat],
    now: DateTime<Utc>,
    offer_ttl: Duration,
) -> Result<Vec<Offer>, sqlx::Error> {
    let mut by_performance: BTreeMap<i64, Vec<FreedSeat>> = BTreeMap::new();
    for seat in freed {
        by_performance
            .entry(seat.performance_id.0)
            .or_default()
            .push(*seat);
    }
    let mut holds = NewHolds::default();
    let mut lapsed = Vec::new();
    let mut offers = Vec::new();
    for (performance, mut seats) in by_performance {
        seats.sort_unstable_by_key(|s| s.seat_number);
        seats.dedup_by_key(|s| s.seat_number);
        let taken = take_first(conn, PerformanceId(performance), seats.len()).await?;
        for (seat, place) in pair_offers(seats, taken) {
            let reservation = ReservationId::new();
            let until = offer_until(now, offer_ttl);
            lapsed.extend(seat.lapsed);
            let key = (performance, seat.seat_number);
            holds.push(reservation, UserId(place.user), key, seat.price, until);
            holds.mark_offer(place.seq, place.order);
            offers.push(Offer {
                seat,
                reservation_id: reservation,
                user_id: UserId(place.user),
                held_until: until,
            });
        }
    }
    crate::holds::expire(conn, &lapsed).await?;
    holds.write(conn).await?;
    Ok(offers)
}

/// The job's pass: offers every free seat of a performance with someone on
/// its list (holds that lapsed, offers that ran out, a seat freed while the
/// first user was joining), skipping seats a worker holds locked right now
/// (that worker offers them itself, or the next pass does). Returns how
/// many offers it made. Its locks give up after a moment rather than queue
/// behind a worker's transaction: the next pass tries again (0 this time).
pub async fn offer_free_seats(pool: &PgPool, offer_ttl: Duration) -> Result<usize, sqlx::Error> {
    match offer_free_seats_once(pool, offer_ttl).await {
        Err(sqlx::Error::Database(e))
            if e.code().as_deref() == Some(crate::pool::LOCK_NOT_AVAILABLE) =>
        {
            Ok(0)
        }
        done => done,
    }
}

async fn offer_free_seats_once(pool: &PgPool, offer_ttl: Duration) -> Result<usize, sqlx::Error> {
    let mut tx = crate::pool::begin_with_lock_timeout(pool, 200).await?;
    let now = crate::now(&mut tx).await?;
    let rows: Vec<(i64, i16, i64, Option<Uuid>)> = sqlx::query_as(
        "select s.performance_id, s.seat_number, s.price, s.reservation_id from seats s
          where s.performance_id in (
                select p.performance_id from performances p
                 where exists (select 1 from waitlist w where w.performance_id = p.performance_id))
            and not s.sold and (s.held_until is null or s.held_until <= $1)
          order by s.performance_id, s.seat_number
            for update of s skip locked",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let freed: Vec<FreedSeat> = rows
        .into_iter()
        .map(|(performance, seat_number, price, lapsed)| FreedSeat {
            performance_id: PerformanceId(performance),
            seat_number,
            price,
            lapsed,
        })
        .collect();
    let offers = offer_freed(&mut tx, &freed, now, offer_ttl).await?;
    tx.commit().await?;
    Ok(offers.len())
}
