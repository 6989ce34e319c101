//! Arrivals: entering a waiting room. Every arrival of a room takes the
//! room's row lock, so places are numbered without gaps in the order the
//! lock was granted; the API takes a batch of arrivals per transaction (one
//! lock, one insert, one commit) so a crowd gets into line quickly.

use crate::queue::{EntryRow, ENTRY_COLUMNS};
use chrono::{DateTime, Utc};
use domain::queue::QueueStatus;
use domain::{ConcertId, TokenId, UserId};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use uuid::Uuid;

/// A room as an arrival sees it, read under its row lock: one lock orders
/// every arrival of the room, so `seq` is gap-free per room and positions
/// exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub last_seq: i64,
    pub admitted_total: i64,
    pub dropped_total: i64,
    /// How many drops of the room are logged in `queue_drops`.
    pub drops_logged: i64,
    /// When the concert's sale opens, while its pre-queue is not yet placed.
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// Tokens of the room active now (as the last admission counted them).
    pub active_now: i64,
    /// The concert's own capacity, if it sets one.
    pub queue_capacity: Option<i32>,
    /// Whether an arrival now joins the pre-queue: the sale has not opened.
    /// Read from the clock after the lock is taken, so arrivals decided in
    /// lock order are decided in time order too.
    pub before_opening: bool,
}

/// Locks and reads the room of `concert` until the transaction ends; `None`
/// if there is no such concert.
pub async fn lock_room(
    conn: &mut PgConnection,
    concert: ConcertId,
) -> Result<Option<Room>, sqlx::Error> {
    if let Some(room) = read_room(conn, concert).await? {
        return Ok(Some(room));
    }
    // The room row is made with its concert (`catalog::add_concert`); one
    // whose concert was made otherwise is made here, once.
    sqlx::query(
        "insert into queue_rooms (concert_id)
         select concert_id from concerts where concert_id = $1
         on conflict do nothing",
    )
    .bind(concert.0)
    .execute(&mut *conn)
    .await?;
    read_room(conn, concert).await
}

/// Locks and reads the room row of `concert`, if there is one.
async fn read_room(
    conn: &mut PgConnection,
    concert: ConcertId,
) -> Result<Option<Room>, sqlx::Error> {
    type Row = (
        i64,
        i64,
        i64,
        i64,
        i32,
        Option<i32>,
        Option<DateTime<Utc>>,
        Option<bool>,
    );
    let row: Option<Row> = sqlx::query_as(
        "select r.last_seq, r.admitted_total, r.dropped_total, r.drops_logged,
                r.active_now, c.queue_capacity,
                case when r.placed_at is null then c.sale_opens_at end,
                r.placed_at is null and c.sale_opens_at > clock_timestamp()
           from queue_rooms r join concerts c using (concert_id)
          where r.concert_id = $1
            for update of r",
    )
    .bind(concert.0)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(
        |(last, admitted, dropped, logged, active, capacity, sale_opens_at, before)| Room {
            last_seq: last,
            admitted_total: admitted,
            dropped_total: dropped,
            drops_logged: logged,
            active_now: i64::from(active),
            queue_capacity: capacity,
            sale_opens_at,
            before_opening: before.unwrap_or(false),
        },
    ))
}

/// How many entries of the room of `concert` wait ahead of `seq`, counted
/// exactly.
pub async fn waiting_ahead_of(
    conn: &mut PgConnection,
    concert: ConcertId,
    seq: i64,
) -> Result<u64, sqlx::Error> {
    let ahead: i64 = sqlx::query_scalar(&format!(
        "select count(*) from queue_entries
          where concert_id = $1 and status = '{waiting}' and seq < $2",
        waiting = QueueStatus::Waiting.as_str(),
    ))
    .bind(concert.0)
    .bind(seq)
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(ahead).unwrap_or_default())
}

/// Closes `entry`, which ran out, so its user can rejoin the room; a
/// waiting one is logged as drop number `drop_no` of the room (the caller
/// holds the room's lock and counts it).
pub async fn close_entry(
    conn: &mut PgConnection,
    entry: &EntryRow,
    drop_no: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("update queue_entries set status = $2, expired_at = now() where token_id = $1")
        .bind(entry.token_id)
        .bind(QueueStatus::Expired.as_str())
        .execute(&mut *conn)
        .await?;
    if entry.status == QueueStatus::Waiting.as_str() {
        sqlx::query("insert into queue_drops (concert_id, drop_no, seq) values ($1, $2, $3)")
            .bind(entry.concert_id)
            .bind(drop_no)
            .bind(entry.seq)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// A waiting entry to append to a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub concert: ConcertId,
    pub seq: i64,
    pub token: TokenId,
    pub user: UserId,
    /// It came before the opening: its place is drawn when the room opens.
    pub prequeue: bool,
}

/// The entries of `users` in the room of `concert` not yet marked expired:
/// one statement for a batch of arrivals. Shaped as one index probe per
/// user (the unique live-entry index), so no plan can scan the room: a
/// plan cached while the room was nearly empty would otherwise keep doing
/// so once a burst has filled it, before the statistics catch up.
pub async fn live_entries_of(
    conn: &mut PgConnection,
    concert: ConcertId,
    users: &[Uuid],
) -> Result<Vec<EntryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS}
           from unnest($2::uuid[]) as u(user_id)
          cross join lateral (
                select * from queue_entries e
                 where e.user_id = u.user_id and e.concert_id = $1
                   and e.status <> '{expired}'
                 limit 1) q
           join concerts c using (concert_id)",
        expired = QueueStatus::Expired.as_str(),
    ))
    .bind(concert.0)
    .bind(users)
    .fetch_all(conn)
    .await
}

/// Appends a batch of arrivals to the room of `concert` in one statement
/// and writes the room's counters (the caller holds the room's lock; the
/// arrivals' places follow `last_seq` in order).
pub async fn append_many(
    conn: &mut PgConnection,
    concert: ConcertId,
    arrivals: &[Arrival],
    counters: (i64, i64),
) -> Result<(), sqlx::Error> {
    let Some(last) = arrivals.last() else {
        return Ok(());
    };
    let seqs: Vec<i64> = arrivals.iter().map(|a| a.seq).collect();
    let tokens: Vec<Uuid> = arrivals.iter().map(|a| a.token.0).collect();
    let users: Vec<Uuid> = arrivals.iter().map(|a| a.user.0).collect();
    let prequeue: Vec<bool> = arrivals.iter().map(|a| a.prequeue).collect();
    sqlx::query(
        "insert into queue_entries (seq, token_id, user_id, concert_id, prequeue, status)
         select s, t, u, $4, p, $6
           from unnest($1::bigint[], $2::uuid[], $3::uuid[], $5::boolean[]) as x(s, t, u, p)",
    )
    .bind(&seqs)
    .bind(&tokens)
    .bind(&users)
    .bind(concert.0)
    .bind(&prequeue)
    .bind(QueueStatus::Waiting.as_str())
    .execute(&mut *conn)
    .await?;
    let (dropped_total, drops_logged) = counters;
    sqlx::query(
        "update queue_rooms set last_seq = $2, dropped_total = $3, drops_logged = $4
          where concert_id = $1",
    )
    .bind(concert.0)
    .bind(last.seq)
    .bind(dropped_total)
    .bind(drops_logged)
    .execute(conn)
    .await
    .map(drop)
}

/// The stored status of each of `tokens` that has an entry.
pub async fn statuses_of(
    pool: &PgPool,
    tokens: &[TokenId],
) -> Result<HashMap<TokenId, QueueStatus>, sqlx::Error> {
    let ids: Vec<Uuid> = tokens.iter().map(|t| t.0).collect();
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("select token_id, status from queue_entries where token_id = any($1)")
            .bind(&ids)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(token, status)| Some((TokenId(token), QueueStatus::parse(&status)?)))
        .collect())
}
