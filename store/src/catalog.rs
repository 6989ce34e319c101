//! Concerts, performances and their seats: the reads of the catalog, and
//! the one way concerts and performances are made, which the demo seed,
//! the tests, the chaos test and the load generator all use.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use domain::{ConcertId, PerformanceId};
use sqlx::{PgConnection, PgPool};

/// A concert as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concert {
    pub concert_id: ConcertId,
    pub title: String,
    pub artist: String,
    /// When its sale opens; `None` once it is open (or if it always was).
    pub sale_opens_at: Option<DateTime<Utc>>,
}

/// Every concert, by id.
pub async fn concerts(pool: &PgPool) -> Result<Vec<Concert>, sqlx::Error> {
    let rows: Vec<(i64, String, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "select concert_id, title, artist,
                case when sale_opens_at > now() then sale_opens_at end
           from concerts order by concert_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, title, artist, sale_opens_at)| Concert {
            concert_id: ConcertId(id),
            title,
            artist,
            sale_opens_at,
        })
        .collect())
}

/// Whether concert `id` exists.
pub async fn concert_exists(pool: &PgPool, id: ConcertId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from concerts where concert_id = $1)")
        .bind(id.0)
        .fetch_one(pool)
        .await
}

/// The concert of performance `id`, if the performance exists.
pub async fn concert_of(
    pool: &PgPool,
    id: PerformanceId,
) -> Result<Option<ConcertId>, sqlx::Error> {
    let concert: Option<i64> =
        sqlx::query_scalar("select concert_id from performances where performance_id = $1")
            .bind(id.0)
            .fetch_optional(pool)
            .await?;
    Ok(concert.map(ConcertId))
}

/// A bookable date with its count of seats free now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookablePerformance {
    pub performance_id: PerformanceId,
    pub starts_at: DateTime<Utc>,
    pub total_seats: i32,
    pub available_seats: i64,
}

/// The future performances of `concert` with at least one seat available
/// now (neither sold nor held, and nobody on its waitlist: rule 11), or,
/// with `sold_out_too`, every future performance; earliest first.
pub async fn bookable_performances(
    pool: &PgPool,
    concert: ConcertId,
    sold_out_too: bool,
) -> Result<Vec<BookablePerformance>, sqlx::Error> {
    let rows: Vec<(i64, DateTime<Utc>, i32, i64)> = sqlx::query_as(
        "select p.performance_id, p.starts_at, p.total_seats, a.available
           from performances p
           cross join lateral (
                select count(*) filter (where not s.sold and (s.held_until is null or s.held_until <= now())
                                          and not exists (select 1 from waitlist w
                                                           where w.performance_id = p.performance_id))
                       as available
                  from seats s where s.performance_id = p.performance_id) a
          where p.concert_id = $1 and p.starts_at > now() and ($2 or a.available > 0)
          order by p.starts_at, p.performance_id",
    )
    .bind(concert.0)
    .bind(sold_out_too)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, starts_at, total_seats, available_seats)| BookablePerformance {
                performance_id: PerformanceId(id),
                starts_at,
                total_seats,
                available_seats,
            },
        )
        .collect())
}

/// A seat as the seat map shows it, with the database's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRow {
    pub seat_number: i16,
    pub price: i64,
    pub sold: bool,
    pub held_until: Option<DateTime<Utc>>,
    /// Whether anyone is on the performance's waitlist (a free seat is then
    /// held back for it: rule 11).
    pub waitlisted: bool,
    pub now: DateTime<Utc>,
}

/// Every seat of `performance`, by number; empty if there is no such
/// performance.
pub async fn seats(pool: &PgPool, performance: PerformanceId) -> Result<Vec<SeatRow>, sqlx::Error> {
    type Row = (i16, i64, bool, Option<DateTime<Utc>>, bool, DateTime<Utc>);
    let rows: Vec<Row> = sqlx::query_as(
        "select seat_number, price, sold, held_until,
                exists (select 1 from waitlist where performance_id = $1), now()
           from seats where performance_id = $1 order by seat_number",
    )
    .bind(performance.0)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(seat_number, price, sold, held_until, waitlisted, now)| SeatRow {
                seat_number,
                price,
                sold,
                held_until,
                waitlisted,
                now,
            },
        )
        .collect())
}

/// A performance to make: when it starts and the price of each seat, seat 1
/// first (so its seat count is `prices.len()`, 1..=50).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerformance {
    pub starts_at: DateTime<Utc>,
    pub prices: Vec<i64>,
}

/// A concert to make.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewConcert<'a> {
    pub title: &'a str,
    pub artist: &'a str,
    /// When its sale opens; before it, entries form the pre-queue. `None`:
    /// open at once.
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// Tokens of its room active at once; `None`: `QUEUE_ACTIVE_CAPACITY`.
    pub queue_capacity: Option<u32>,
}

/// Makes a concert and its waiting room.
pub async fn add_concert(
    conn: &mut PgConnection,
    concert: &NewConcert<'_>,
) -> Result<ConcertId, sqlx::Error> {
    let capacity = concert
        .queue_capacity
        .map(|c| i32::try_from(c).unwrap_or(i32::MAX));
    let id: i64 = sqlx::query_scalar(
        "with c as (
             insert into concerts (title, artist, sale_opens_at, queue_capacity)
             values ($1, $2, $3, $4) returning concert_id)
         insert into queue_rooms (concert_id) select concert_id from c returning concert_id",
    )
    .bind(concert.title)
    .bind(concert.artist)
    .bind(concert.sale_opens_at)
    .bind(capacity)
    .fetch_one(conn)
    .await?;
    Ok(ConcertId(id))
}

/// Makes `performances` of `concert` with their seats, in two statements;
/// returns their ids in the order given.
pub async fn add_performances(
    conn: &mut PgConnection,
    concert: ConcertId,
    performances: &[NewPerformance],
) -> Result<Vec<PerformanceId>, sqlx::Error> {
    if performances.is_empty() {
        return Ok(Vec::new());
    }
    let starts: Vec<DateTime<Utc>> = performances.iter().map(|p| p.starts_at).collect();
    let totals: Vec<i32> = performances
        .iter()
        .map(|p| i32::try_from(p.prices.len()).unwrap_or(i32::MAX))
        .collect();
    // Ids come from a sequence in insertion order, and rows are inserted in
    // the order of the arrays: sorted, they line up with `performances`.
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "insert into performances (concert_id, starts_at, total_seats)
         select $1, s, t from unnest($2::timestamptz[], $3::int[]) with ordinality as u(s, t, i)
          order by i
         returning performance_id",
    )
    .bind(concert.0)
    .bind(&starts)
    .bind(&totals)
    .fetch_all(&mut *conn)
    .await?;
    ids.sort_unstable();
    let (mut seat_performances, mut numbers, mut prices) = (vec![], vec![], vec![]);
    for (id, performance) in ids.iter().zip(performances) {
        for (n, price) in (1i16..).zip(&performance.prices) {
            seat_performances.push(*id);
            numbers.push(n);
            prices.push(*price);
        }
    }
    sqlx::query(
        "insert into seats (performance_id, seat_number, price)
         select * from unnest($1::bigint[], $2::smallint[], $3::bigint[])",
    )
    .bind(&seat_performances)
    .bind(&numbers)
    .bind(&prices)
    .execute(conn)
    .await?;
    Ok(ids.into_iter().map(PerformanceId).collect())
}

/// The demo's seat prices: 150,000 KRW for seats 1-10, 110,000 for 11-30,
/// 80,000 for the rest.
pub fn demo_prices() -> Vec<i64> {
    (1..=50)
        .map(|s| match s {
            1..=10 => 150_000,
            11..=30 => 110_000,
            _ => 80_000,
        })
        .collect()
}

/// How long after seeding the demo's second concert opens its sale: a
/// pre-queue to watch.
pub const DEMO_SALE_OPENS_IN: Duration = Duration::minutes(3);

/// Seeds the demo catalog when there are no concerts yet (two concerts,
/// each with three performances at 19:00 UTC 30, 60 and 90 days from
/// today, 50 seats each; the first on sale at once, the second
/// [`DEMO_SALE_OPENS_IN`] later); returns whether it did. Two seeders
/// started together do not both insert.
pub async fn seed_demo_if_empty(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(727274002)")
        .execute(&mut *tx)
        .await?;
    let any: bool = sqlx::query_scalar("select exists (select 1 from concerts)")
        .fetch_one(&mut *tx)
        .await?;
    if any {
        return Ok(false);
    }
    let midnight = Utc::now().date_naive().and_time(NaiveTime::MIN).and_utc();
    let dates: Vec<NewPerformance> = (1..=3)
        .map(|d| NewPerformance {
            starts_at: midnight + Duration::days(30 * d) + Duration::hours(19),
            prices: demo_prices(),
        })
        .collect();
    let demo = [
        ("Spring Night Live", "IU", None),
        (
            "Permission to Dance",
            "BTS",
            Some(Utc::now() + DEMO_SALE_OPENS_IN),
        ),
    ];
    for (title, artist, sale_opens_at) in demo {
        let new = NewConcert {
            title,
            artist,
            sale_opens_at,
            queue_capacity: None,
        };
        let concert = add_concert(&mut tx, &new).await?;
        add_performances(&mut tx, concert, &dates).await?;
    }
    tx.commit().await?;
    Ok(true)
}
