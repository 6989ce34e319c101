//! The admin side of the catalog: reading a concert's schedule under its
//! lock, changing its opening or room size, and a performance's report.
//! Making concerts and performances is [`crate::catalog::add_concert`] and
//! [`crate::catalog::add_performances`], the one way they are made.

use chrono::{DateTime, Utc};
use domain::{ConcertId, PerformanceId};
use sqlx::{PgConnection, PgPool};

/// A concert as an admin change must see it, read under its row lock so
/// two changes (or a change and a new performance) cannot interleave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcertSchedule {
    pub title: String,
    pub artist: String,
    /// As set; `None` if it was on sale from the start.
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// The concert's own room size; `None`: `QUEUE_ACTIVE_CAPACITY`.
    pub queue_capacity: Option<i32>,
    /// Whether the sale has opened: no opening, an opening now or past, or
    /// a pre-queue already placed.
    pub on_sale: bool,
    /// When its earliest performance starts, if it has any.
    pub first_performance: Option<DateTime<Utc>>,
    /// The database's clock, which every rule decides by.
    pub now: DateTime<Utc>,
}

/// Locks concert `id` (and its waiting room, which arrivals lock too) for
/// the rest of the transaction and reads its schedule; `None` if there is
/// no such concert.
pub async fn lock_schedule(
    conn: &mut PgConnection,
    id: ConcertId,
) -> Result<Option<ConcertSchedule>, sqlx::Error> {
    type Row = (
        String,
        String,
        Option<DateTime<Utc>>,
        Option<i32>,
        bool,
        Option<DateTime<Utc>>,
        DateTime<Utc>,
    );
    let row: Option<Row> = sqlx::query_as(
        "select c.title, c.artist, c.sale_opens_at, c.queue_capacity,
                c.sale_opens_at is null or c.sale_opens_at <= now() or r.placed_at is not null,
                (select min(p.starts_at) from performances p where p.concert_id = c.concert_id),
                now()
           from concerts c join queue_rooms r using (concert_id)
          where c.concert_id = $1
            for update of c, r",
    )
    .bind(id.0)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(
        |(title, artist, sale_opens_at, queue_capacity, on_sale, first_performance, now)| {
            ConcertSchedule {
                title,
                artist,
                sale_opens_at,
                queue_capacity,
                on_sale,
                first_performance,
                now,
            }
        },
    ))
}

/// Sets the opening and/or the room size of concert `id` (a `None` leaves
/// that one as it is); the caller holds the lock of [`lock_schedule`].
pub async fn update_concert(
    conn: &mut PgConnection,
    id: ConcertId,
    sale_opens_at: Option<DateTime<Utc>>,
    queue_capacity: Option<u32>,
) -> Result<(), sqlx::Error> {
    let capacity = queue_capacity.map(|c| i32::try_from(c).unwrap_or(i32::MAX));
    sqlx::query(
        "update concerts
            set sale_opens_at = coalesce($2, sale_opens_at),
                queue_capacity = coalesce($3, queue_capacity)
          where concert_id = $1",
    )
    .bind(id.0)
    .bind(sale_opens_at)
    .bind(capacity)
    .execute(conn)
    .await
    .map(drop)
}

/// Seat counts and money of one performance, as of the database's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Seats neither sold nor under a live hold, while nobody waits for one.
    pub available: i64,
    /// Seats under a hold not past `held_until`, and free seats held back
    /// for the waitlist (rule 11).
    pub held: i64,
    pub sold: i64,
    /// Sum of the prices of its `paid` reservations.
    pub revenue: i64,
    /// Sum of the prices of its `refunded` reservations.
    pub refunded: i64,
    /// Users on its waitlist.
    pub waitlist: i64,
}

/// The report of `performance`, in one statement; `None` if there is no
/// such performance.
pub async fn report(
    pool: &PgPool,
    performance: PerformanceId,
) -> Result<Option<Report>, sqlx::Error> {
    let row: Option<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "select case when w.waiting = 0 then s.free else 0 end,
                s.held + case when w.waiting = 0 then 0 else s.free end,
                s.sold, m.revenue, m.refunded, w.waiting
           from performances p
           cross join lateral (
                select count(*) filter (where not sold and (held_until is null or held_until <= now())) as free,
                       count(*) filter (where not sold and held_until > now()) as held,
                       count(*) filter (where sold) as sold
                  from seats where performance_id = p.performance_id) s
           cross join lateral (
                select count(*) as waiting from waitlist where performance_id = p.performance_id) w
           cross join lateral (
                select coalesce(sum(price) filter (where status = 'paid'), 0)::bigint as revenue,
                       coalesce(sum(price) filter (where status = 'refunded'), 0)::bigint as refunded
                  from reservations where performance_id = p.performance_id) m
          where p.performance_id = $1",
    )
    .bind(performance.0)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(
        |(available, held, sold, revenue, refunded, waitlist)| Report {
            available,
            held,
            sold,
            revenue,
            refunded,
            waitlist,
        },
    ))
}
