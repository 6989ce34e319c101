//! The waiting rooms, one per concert: `queue_entries`, `queue_rooms` and
//! the `queue_admit` function that places a room's pre-queue at its opening
//! and admits the earliest waiting entries.

use chrono::{DateTime, Utc};
use domain::config::Settings;
use domain::queue::{Entry, QueueStatus};
use domain::{ConcertId, TokenId, UserId};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use uuid::Uuid;

/// A queue entry as read, with the database's clock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntryRow {
    pub seq: i64,
    pub token_id: Uuid,
    pub user_id: Uuid,
    pub concert_id: i64,
    /// Waiting for its room's opening: `seq` is only its arrival number.
    pub prequeue: bool,
    pub status: String,
    pub active_until: Option<DateTime<Utc>>,
    pub last_seen_at: DateTime<Utc>,
    /// When the concert's sale opens; `None` once it is open.
    pub sale_opens_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

impl EntryRow {
    /// The entry as the queue rules see it.
    pub fn entry(&self) -> Entry {
        Entry {
            status: QueueStatus::parse(&self.status).unwrap_or(QueueStatus::Expired),
            active_until: self.active_until,
            last_seen_at: self.last_seen_at,
            prequeue: self.prequeue,
        }
    }
}

/// The columns of [`EntryRow`], from [`ENTRY_TABLES`].
pub(crate) const ENTRY_COLUMNS: &str =
    "q.seq, q.token_id, q.user_id, q.concert_id, q.prequeue, q.status, \
     q.active_until, q.last_seen_at, \
     case when c.sale_opens_at > now() then c.sale_opens_at end as sale_opens_at, now() as now";

/// Where [`ENTRY_COLUMNS`] come from.
pub(crate) const ENTRY_TABLES: &str = "queue_entries q join concerts c using (concert_id)";

/// The queue entry of each token, in order, in one statement; a token asked
/// for twice gets its row both times.
pub async fn entries_by_token(
    pool: &PgPool,
    tokens: &[TokenId],
) -> Result<Vec<Option<EntryRow>>, sqlx::Error> {
    let ids: Vec<Uuid> = tokens.iter().map(|t| t.0).collect();
    let rows: Vec<EntryRow> = sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} from {ENTRY_TABLES} where q.token_id = any($1)"
    ))
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let by_token: HashMap<Uuid, EntryRow> = rows.into_iter().map(|r| (r.token_id, r)).collect();
    Ok(tokens.iter().map(|t| by_token.get(&t.0).cloned()).collect())
}

/// The token of `user`'s entry in the room of `concert` (any room when
/// `None`): their newest live entry, else their newest; `None` if they
/// never entered.
pub async fn entry_of_user(
    pool: &PgPool,
    user: UserId,
    concert: Option<ConcertId>,
) -> Result<Option<TokenId>, sqlx::Error> {
    let token: Option<Uuid> = sqlx::query_scalar(&format!(
        "select token_id from queue_entries
          where user_id = $1 and ($2::bigint is null or concert_id = $2)
          order by status <> '{expired}' desc, created_at desc
          limit 1",
        expired = QueueStatus::Expired.as_str(),
    ))
    .bind(user.0)
    .bind(concert.map(|c| c.0))
    .fetch_optional(pool)
    .await?;
    Ok(token.map(TokenId))
}

/// The stored status of the entry of `token`.
pub async fn status_of(pool: &PgPool, token: TokenId) -> Result<QueueStatus, sqlx::Error> {
    let status: String = sqlx::query_scalar("select status from queue_entries where token_id = $1")
        .bind(token.0)
        .fetch_one(pool)
        .await?;
    Ok(QueueStatus::parse(&status).unwrap_or(QueueStatus::Waiting))
}

/// Expires what is due and, in every room whose sale is open, places the
/// pre-queue once and admits the earliest waiting entries into free active
/// slots; returns how many it admitted. `queue_admit` serialises callers
/// with an advisory lock: with `wait` false it gives up (-1) when another
/// admission is under way.
pub async fn admit(pool: &PgPool, settings: &Settings, wait: bool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("select queue_admit($1, $2, $3, $4)")
        .bind(i32::try_from(settings.queue_active_capacity).unwrap_or(i32::MAX))
        .bind(i32::try_from(settings.active_token_ttl_seconds).unwrap_or(i32::MAX))
        .bind(i32::try_from(settings.queue_idle_timeout_seconds).unwrap_or(i32::MAX))
        .bind(wait)
        .fetch_one(pool)
        .await
}

/// Sets `last_seen_at` of the waiting entries of `tokens`: they polled.
///
/// It never makes the workers' admission wait for long, and never waits for
/// it: entries another transaction holds locked are skipped (being admitted,
/// dropped or touched by another batch, they lose nothing), and any other
/// wait (a placement of the pre-queue moving places under its unique
/// constraint) gives up after 100 ms, so the caller keeps its marks for the
/// next flush. Waiting for each other, admission and this batch used to
/// deadlock: a second of no admissions, then a failed statement, and at the
/// opening of a sale with 100,000 polling users, again at every try.
pub async fn mark_seen(pool: &PgPool, tokens: &[Uuid]) -> Result<(), sqlx::Error> {
    let mut tx = crate::pool::begin_with_lock_timeout(pool, 100).await?;
    sqlx::query(&format!(
        "update queue_entries q set last_seen_at = now()
           from (select token_id from queue_entries
                  where token_id = any($1) and status = '{waiting}'
                    for no key update skip locked) free
          where q.token_id = free.token_id",
        waiting = QueueStatus::Waiting.as_str(),
    ))
    .bind(tokens)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Who holds each of `tokens` that is active at `now`, and for which
/// concert: the worker re-checks what the API checked.
pub async fn active_tokens(
    conn: &mut PgConnection,
    tokens: &[TokenId],
    now: DateTime<Utc>,
) -> Result<HashMap<TokenId, (UserId, ConcertId)>, sqlx::Error> {
    if tokens.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<Uuid> = tokens.iter().map(|t| t.0).collect();
    let rows: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(&format!(
        "select token_id, user_id, concert_id from queue_entries
          where token_id = any($1) and status = '{active}' and active_until > $2",
        active = QueueStatus::Active.as_str(),
    ))
    .bind(&ids)
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(token, user, concert)| (TokenId(token), (UserId(user), ConcertId(concert))))
        .collect())
}

/// The user a token was issued to, whatever its status; `None` for an
/// unknown token (a worker's check of a token that is no longer active).
pub async fn owner_of(
    conn: &mut PgConnection,
    token: TokenId,
) -> Result<Option<UserId>, sqlx::Error> {
    let owner: Option<Uuid> =
        sqlx::query_scalar("select user_id from queue_entries where token_id = $1")
            .bind(token.0)
            .fetch_optional(conn)
            .await?;
    Ok(owner.map(UserId))
}

/// Ends `user`'s turn in the room of `concert`: their live entry there
/// expires (a payment).
pub async fn expire_user(
    conn: &mut PgConnection,
    user: UserId,
    concert: ConcertId,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "update queue_entries set status = $4, expired_at = $3
          where user_id = $1 and concert_id = $2 and status <> '{expired}'",
        expired = QueueStatus::Expired.as_str(),
    ))
    .bind(user.0)
    .bind(concert.0)
    .bind(at)
    .bind(QueueStatus::Expired.as_str())
    .execute(conn)
    .await
    .map(drop)
}

/// A room as the API's line index follows it (see `api::waiting_line`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomState {
    pub concert_id: i64,
    /// Every entry at or below it has left the line.
    pub frontier: i64,
    pub last_seq: i64,
    pub active_now: i64,
    pub admitted_total: i64,
    pub drops_logged: i64,
    /// When the concert's sale opens, while it has not.
    pub sale_opens_at: Option<DateTime<Utc>>,
}

/// Every room's state: one row per concert, read a few times a second by
/// every API instance.
pub async fn room_states(pool: &PgPool) -> Result<Vec<RoomState>, sqlx::Error> {
    type Row = (i64, i64, i64, i32, i64, i64, Option<DateTime<Utc>>);
    let rows: Vec<Row> = sqlx::query_as(
        "select r.concert_id, r.frontier, r.last_seq, r.active_now, r.admitted_total,
                r.drops_logged, case when c.sale_opens_at > now() then c.sale_opens_at end
           from queue_rooms r join concerts c using (concert_id)",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                concert_id,
                frontier,
                last_seq,
                active,
                admitted_total,
                drops_logged,
                sale_opens_at,
            )| {
                RoomState {
                    concert_id,
                    frontier,
                    last_seq,
                    active_now: i64::from(active),
                    admitted_total,
                    drops_logged,
                    sale_opens_at,
                }
            },
        )
        .collect())
}

/// The places (`seq`) of the drops of the room of `concert` numbered
/// `after + 1 ..= upto`, at most `limit` of them, in order.
pub async fn drops_after(
    pool: &PgPool,
    concert: i64,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select drop_no, seq from queue_drops
          where concert_id = $1 and drop_no > $2 and drop_no <= $3
          order by drop_no limit $4",
    )
    .bind(concert)
    .bind(after)
    .bind(upto)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Forgets the drops at or below their room's frontier: no position can
/// depend on them any more.
pub async fn prune_drops(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "delete from queue_drops d using queue_rooms r
          where d.concert_id = r.concert_id and d.seq <= r.frontier",
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
