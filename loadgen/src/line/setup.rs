//! Every SQL statement of the waiting-room scenario, in one place: set-up
//! the issue allows to bypass the API (a million entries, users with keys),
//! the simulated world (buyers finishing, abandoned tabs, an organiser
//! raising a room's capacity) and the read-backs that check the API's
//! answers. The product's own SQL stays in the `store` crate; rooms are made
//! through it.

use anyhow::Context;
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// A user key in the API's format (`uk_` and 43 base64url characters of 32
/// random bytes), drawn by Postgres so a hundred thousand cost no round trips.
const NEW_KEY: &str = "'uk_' || translate(rtrim(encode(uuid_send(gen_random_uuid()) \
     || uuid_send(gen_random_uuid()), 'base64'), '='), '+/', '-_')";

/// A new concert with its room (through `store`, as the admin endpoint makes
/// them), sale open; `capacity` `None` takes `QUEUE_ACTIVE_CAPACITY`.
pub async fn new_room(pool: &PgPool, title: &str, capacity: Option<u32>) -> anyhow::Result<i64> {
    let mut conn = pool.acquire().await?;
    let id = store::catalog::add_concert(
        &mut conn,
        &store::catalog::NewConcert {
            title,
            artist: "loadgen line",
            queue_capacity: capacity,
            ..Default::default()
        },
    )
    .await
    .context("creating a concert")?;
    Ok(id.0)
}

/// Fills `concert`'s room with `entries` waiting entries of new users, seq
/// 1..=entries, seen a day ahead (never idle), as if they had arrived after
/// the opening; then vacuums, so that the idle measurement is not an
/// autovacuum of the fresh rows.
pub async fn fill_room(pool: &PgPool, concert: i64, entries: u64) -> anyhow::Result<()> {
    let n = i64::try_from(entries).context("--line-entries is too large")?;
    sqlx::query(
        "with u as (
             insert into users (user_id) select gen_random_uuid() from generate_series(1, $2)
             returning user_id)
         insert into queue_entries (seq, token_id, user_id, concert_id, status, last_seen_at)
         select row_number() over (), gen_random_uuid(), user_id, $1, 'waiting',
                now() + interval '1 day'
           from u",
    )
    .bind(concert)
    .bind(n)
    .execute(pool)
    .await
    .context("writing the waiting entries")?;
    sqlx::query("update queue_rooms set last_seq = $2, placed_at = now() where concert_id = $1")
        .bind(concert)
        .bind(n)
        .execute(pool)
        .await
        .context("setting the room's counter")?;
    vacuum(pool).await
}

/// `vacuum analyze` of the queue's tables, between phases.
pub async fn vacuum(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql("vacuum analyze users, queue_entries, queue_rooms, queue_drops")
        .execute(pool)
        .await
        .context("vacuum analyze")?;
    Ok(())
}

/// `count` new users with keys, as `POST /v1/users` would make them: only
/// the key's SHA-256 is stored. Returns (user id, key).
pub async fn keyed_users(pool: &PgPool, count: usize) -> anyhow::Result<Vec<(Uuid, String)>> {
    let n = i64::try_from(count).context("too many users")?;
    sqlx::query_as(&format!(
        "with k as materialized (
             select gen_random_uuid() as user_id, {NEW_KEY} as key from generate_series(1, $1)),
         ins as (
             insert into users (user_id, key_hash)
             select user_id, sha256(convert_to(key, 'UTF8')) from k)
         select user_id, key from k"
    ))
    .bind(n)
    .fetch_all(pool)
    .await
    .context("making users with keys")
}

/// The seq of each of `users`' live entries in `concert`'s room.
pub async fn seqs(
    pool: &PgPool,
    concert: i64,
    users: &[Uuid],
) -> anyhow::Result<HashMap<Uuid, i64>> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "select user_id, seq from queue_entries where concert_id = $1 and user_id = any($2)",
    )
    .bind(concert)
    .bind(users)
    .fetch_all(pool)
    .await
    .context("reading seqs")?;
    Ok(rows.into_iter().collect())
}

/// The exact 1-based position of the waiting entry at `seq` (SPEC rule 1):
/// the waiting entries at or before it.
pub async fn exact_position(pool: &PgPool, concert: i64, seq: i64) -> anyhow::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from queue_entries
          where concert_id = $1 and status = 'waiting' and seq <= $2",
    )
    .bind(concert)
    .bind(seq)
    .fetch_one(pool)
    .await
    .context("counting the line")
}

/// Waiting entries at the front of the line that [`abandon`] leaves alone:
/// admissions take those during the drop, and marking them would make the
/// admission wait for the marking's row locks (a stall of the harness's
/// making, not the drop's).
pub const FRONT_KEPT: i64 = 20_000;

/// Abandons `count` of the room's first `line` entries at once, spread
/// evenly over those still waiting behind the front ([`FRONT_KEPT`]), by
/// dating their last poll a day back, as if their tabs had closed long ago.
/// Returns how many, and when the marking was committed (database clock,
/// Unix seconds).
pub async fn abandon(
    pool: &PgPool,
    concert: i64,
    count: u64,
    line: u64,
) -> anyhow::Result<(u64, f64)> {
    let n = i64::try_from(count).context("--line-drop is too large")?;
    let last = i64::try_from(line).context("--line-entries is too large")?;
    let marked = sqlx::query(
        "with c as (
             select token_id, row_number() over (order by seq) as r, count(*) over () as n
               from queue_entries
              where concert_id = $1 and status = 'waiting' and seq <= $4
                and seq > (select frontier from queue_rooms where concert_id = $1) + $3)
         update queue_entries set last_seen_at = now() - interval '1 day'
          where token_id in (
                select token_id from c
                 where floor(r * $2::float8 / n) <> floor((r - 1) * $2::float8 / n))",
    )
    .bind(concert)
    .bind(n)
    .bind(FRONT_KEPT)
    .bind(last)
    .execute(pool)
    .await
    .context("marking entries idle")?
    .rows_affected();
    let at: f64 = sqlx::query_scalar("select extract(epoch from clock_timestamp())::float8")
        .fetch_one(pool)
        .await
        .context("reading the clock")?;
    Ok((marked, at))
}

/// Buyers finishing: the `count` longest-active tokens of the room run out
/// now, so the workers' admission job expires them and admits as many.
pub async fn finish_buyers(pool: &PgPool, concert: i64, count: i64) -> anyhow::Result<u64> {
    let done = sqlx::query(
        "update queue_entries set active_until = now()
          where token_id in (
                select token_id from queue_entries
                 where concert_id = $1 and status = 'active' and active_until > now()
                 order by activated_at limit $2)",
    )
    .bind(concert)
    .bind(count)
    .execute(pool)
    .await
    .context("ending active tokens")?;
    Ok(done.rows_affected())
}

/// The room's idle drops so far (its `dropped_total`).
pub async fn dropped_total(pool: &PgPool, concert: i64) -> anyhow::Result<i64> {
    sqlx::query_scalar("select dropped_total from queue_rooms where concert_id = $1")
        .bind(concert)
        .fetch_one(pool)
        .await
        .context("reading the room's drops")
}

/// Abandoned entries still waiting (seen more than an hour ago).
pub async fn abandoned_left(pool: &PgPool, concert: i64) -> anyhow::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from queue_entries
          where concert_id = $1 and status = 'waiting' and last_seen_at < now() - interval '1 hour'",
    )
    .bind(concert)
    .fetch_one(pool)
    .await
    .context("counting abandoned entries")
}

/// Distinct admission times (Unix seconds) of the room within `[from, to]`.
pub async fn admission_times(
    pool: &PgPool,
    concert: i64,
    from: f64,
    to: f64,
) -> anyhow::Result<Vec<f64>> {
    sqlx::query_scalar(
        "select distinct extract(epoch from activated_at)::float8 as t from queue_entries
          where concert_id = $1 and activated_at between to_timestamp($2) and to_timestamp($3)
          order by t",
    )
    .bind(concert)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .context("reading admission times")
}

/// Empties a room (its entries and drop log; the users stay, they cost
/// nothing), so that later phases measure their own scenario, not the
/// leftovers of this one.
pub async fn clear_room(pool: &PgPool, concert: i64) -> anyhow::Result<()> {
    sqlx::raw_sql(&format!(
        "delete from queue_drops where concert_id = {concert};
         delete from queue_entries where concert_id = {concert};
         update queue_rooms set active_now = 0 where concert_id = {concert};"
    ))
    .execute(pool)
    .await
    .context("clearing the room")?;
    vacuum(pool).await
}

/// What the room holds after an arrival burst: (entries, distinct seqs,
/// lowest seq, highest seq).
pub async fn seq_summary(pool: &PgPool, concert: i64) -> anyhow::Result<(i64, i64, i64, i64)> {
    sqlx::query_as(
        "select count(*), count(distinct seq), coalesce(min(seq), 0), coalesce(max(seq), 0)
           from queue_entries where concert_id = $1",
    )
    .bind(concert)
    .fetch_one(pool)
    .await
    .context("reading the room's seqs")
}

/// An organiser raises the room's capacity by `by`; returns when (Unix
/// seconds, database clock).
pub async fn raise_capacity(pool: &PgPool, concert: i64, by: i32) -> anyhow::Result<f64> {
    sqlx::query_scalar(
        "update concerts set queue_capacity = queue_capacity + $2 where concert_id = $1
         returning extract(epoch from clock_timestamp())::float8",
    )
    .bind(concert)
    .bind(by)
    .fetch_one(pool)
    .await
    .context("raising the capacity")
}

/// Entries of the room ever admitted: how many, and the latest admission
/// time (Unix seconds, 0 if none).
pub async fn admitted(pool: &PgPool, concert: i64) -> anyhow::Result<(i64, f64)> {
    sqlx::query_as(
        "select count(*), coalesce(max(extract(epoch from activated_at))::float8, 0)
           from queue_entries where concert_id = $1 and activated_at is not null",
    )
    .bind(concert)
    .fetch_one(pool)
    .await
    .context("reading admissions")
}
