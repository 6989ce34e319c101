//! Demo data for an empty database: two concerts, each with three future
//! performances of 50 priced seats.

use sqlx::PgPool;

/// Seeds only when there are no concerts yet; returns whether it did.
pub async fn seed_if_empty(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Two seeders started together must not both insert.
    sqlx::query("select pg_advisory_xact_lock(727274002)")
        .execute(&mut *tx)
        .await?;
    let any: bool = sqlx::query_scalar("select exists (select 1 from concerts)")
        .fetch_one(&mut *tx)
        .await?;
    if any {
        return Ok(false);
    }
    sqlx::query(
        "with c as (
             insert into concerts (title, artist) values
                 ('Spring Night Live', 'IU'),
                 ('Permission to Dance', 'BTS')
             returning concert_id),
         p as (
             insert into performances (concert_id, starts_at, total_seats)
             select c.concert_id, date_trunc('day', now()) + make_interval(days => 30 * d) + interval '19 hours', 50
               from c, generate_series(1, 3) d
             returning performance_id)
         insert into seats (performance_id, seat_number, price)
         select p.performance_id, s,
                case when s <= 10 then 150000 when s <= 30 then 110000 else 80000 end
           from p, generate_series(1, 50) s",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}
