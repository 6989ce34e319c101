//! The waiting room: `queue_entries`, `queue_counters` and the
//! `queue_admit` function that admits the earliest waiting entries.

use chrono::{DateTime, Utc};
use domain::config::Settings;
use domain::queue::{Entry, QueueStatus};
use domain::{TokenId, UserId};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use uuid::Uuid;

/// A queue entry as read, with the database's clock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntryRow {
    pub seq: i64,
    pub token_id: Uuid,
    pub user_id: Uuid,
    pub status: String,
    pub active_until: Option<DateTime<Utc>>,
    pub last_seen_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

impl EntryRow {
    /// The entry as the queue rules see it.
    pub fn entry(&self) -> Entry {
        Entry {
            status: QueueStatus::parse(&self.status).unwrap_or(QueueStatus::Expired),
            active_until: self.active_until,
            last_seen_at: self.last_seen_at,
        }
    }
}

/// The columns of [`EntryRow`].
const ENTRY_COLUMNS: &str =
    "seq, token_id, user_id, status, active_until, last_seen_at, now() as now";

/// The queue entry of each token, in order, in one statement; a token asked
/// for twice gets its row both times.
pub async fn entries_by_token(
    pool: &PgPool,
    tokens: &[TokenId],
) -> Result<Vec<Option<EntryRow>>, sqlx::Error> {
    let ids: Vec<Uuid> = tokens.iter().map(|t| t.0).collect();
    let rows: Vec<EntryRow> = sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} from queue_entries where token_id = any($1)"
    ))
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let by_token: HashMap<Uuid, EntryRow> = rows.into_iter().map(|r| (r.token_id, r)).collect();
    Ok(tokens.iter().map(|t| by_token.get(&t.0).cloned()).collect())
}

/// The counters that order arrivals, read under their row lock: one lock
/// orders every arrival, so `seq` is gap-free and positions exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub last_seq: i64,
    pub admitted_total: i64,
    pub dropped_total: i64,
}

/// Locks and reads the arrival counters until the transaction ends.
pub async fn lock_counters(conn: &mut PgConnection) -> Result<Counters, sqlx::Error> {
    let (last_seq, admitted_total, dropped_total): (i64, i64, i64) = sqlx::query_as(
        "select last_seq, admitted_total, dropped_total from queue_counters where id = 1 for update",
    )
    .fetch_one(conn)
    .await?;
    Ok(Counters {
        last_seq,
        admitted_total,
        dropped_total,
    })
}

/// The entry of `user` not yet marked expired, if any.
pub async fn live_entry_of(
    conn: &mut PgConnection,
    user: UserId,
) -> Result<Option<EntryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {ENTRY_COLUMNS} from queue_entries where user_id = $1 and status <> '{expired}'",
        expired = QueueStatus::Expired.as_str(),
    ))
    .bind(user.0)
    .fetch_optional(conn)
    .await
}

/// How many entries wait ahead of `seq`, counted exactly.
pub async fn waiting_ahead_of(conn: &mut PgConnection, seq: i64) -> Result<u64, sqlx::Error> {
    let ahead: i64 = sqlx::query_scalar(&format!(
        "select count(*) from queue_entries where status = '{waiting}' and seq < $1",
        waiting = QueueStatus::Waiting.as_str(),
    ))
    .bind(seq)
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(ahead).unwrap_or_default())
}

/// Marks the entry `seq` expired (it ran out; its user rejoins).
pub async fn expire_entry(conn: &mut PgConnection, seq: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update queue_entries set status = $2, expired_at = now() where seq = $1")
        .bind(seq)
        .bind(QueueStatus::Expired.as_str())
        .execute(conn)
        .await
        .map(drop)
}

/// Appends a waiting entry `seq` for `user` and advances the counters (the
/// caller holds their lock and counts an entry it dropped in `dropped_total`).
pub async fn append(
    conn: &mut PgConnection,
    seq: i64,
    token: TokenId,
    user: UserId,
    dropped_total: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into queue_entries (seq, token_id, user_id, status) values ($1, $2, $3, $4)",
    )
    .bind(seq)
    .bind(token.0)
    .bind(user.0)
    .bind(QueueStatus::Waiting.as_str())
    .execute(&mut *conn)
    .await?;
    sqlx::query("update queue_counters set last_seq = $1, dropped_total = $2 where id = 1")
        .bind(seq)
        .bind(dropped_total)
        .execute(conn)
        .await
        .map(drop)
}

/// The stored status of the entry `seq`.
pub async fn status_of(pool: &PgPool, seq: i64) -> Result<QueueStatus, sqlx::Error> {
    let status: String = sqlx::query_scalar("select status from queue_entries where seq = $1")
        .bind(seq)
        .fetch_one(pool)
        .await?;
    Ok(QueueStatus::parse(&status).unwrap_or(QueueStatus::Waiting))
}

/// Expires what is due and admits the earliest waiting entries into free
/// active slots; returns how many it admitted. `queue_admit` serialises
/// callers with an advisory lock: with `wait` false it gives up (-1) when
/// another admission is under way.
pub async fn admit(pool: &PgPool, settings: &Settings, wait: bool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("select queue_admit($1, $2, $3, $4)")
        .bind(i32::try_from(settings.queue_active_capacity).unwrap_or(i32::MAX))
        .bind(i32::try_from(settings.active_token_ttl_seconds).unwrap_or(i32::MAX))
        .bind(i32::try_from(settings.queue_idle_timeout_seconds).unwrap_or(i32::MAX))
        .bind(wait)
        .fetch_one(pool)
        .await
}

/// Sets `last_seen_at` of the waiting entries `seqs`: they polled.
pub async fn mark_seen(pool: &PgPool, seqs: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "update queue_entries set last_seen_at = now() where seq = any($1) and status = '{waiting}'",
        waiting = QueueStatus::Waiting.as_str(),
    ))
    .bind(seqs)
    .execute(pool)
    .await
    .map(drop)
}

/// A waiting entry as the line snapshot holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitingEntry {
    pub seq: i64,
    pub token_id: Uuid,
    pub user_id: Uuid,
    /// Whether it polled within the last `recent_secs` seconds.
    pub recently_seen: bool,
}

/// Every waiting entry in line order.
pub async fn waiting_line(
    pool: &PgPool,
    recent_secs: f64,
) -> Result<Vec<WaitingEntry>, sqlx::Error> {
    let rows: Vec<(i64, Uuid, Uuid, bool)> = sqlx::query_as(&format!(
        "select seq, token_id, user_id, last_seen_at > now() - make_interval(secs => $1)
         from queue_entries where status = '{waiting}' order by seq",
        waiting = QueueStatus::Waiting.as_str(),
    ))
    .bind(recent_secs)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, token_id, user_id, recently_seen)| WaitingEntry {
            seq,
            token_id,
            user_id,
            recently_seen,
        })
        .collect())
}

/// How many entries are active now, and how many were admitted in the last
/// minute (the admission rate behind wait estimates).
pub async fn activity(pool: &PgPool) -> Result<(u64, u64), sqlx::Error> {
    let (active, admitted): (i64, i64) = sqlx::query_as(&format!(
        "select (select count(*) from queue_entries where status = '{active}' and active_until > now()),
                (select count(*) from queue_entries where activated_at > now() - interval '60 seconds')",
        active = QueueStatus::Active.as_str(),
    ))
    .fetch_one(pool)
    .await?;
    Ok((
        u64::try_from(active).unwrap_or_default(),
        u64::try_from(admitted).unwrap_or_default(),
    ))
}

/// The owners of those of `tokens` that are active at `now`: the worker
/// re-checks what the API checked.
pub async fn active_token_owners(
    conn: &mut PgConnection,
    tokens: &[TokenId],
    now: DateTime<Utc>,
) -> Result<HashMap<TokenId, UserId>, sqlx::Error> {
    if tokens.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<Uuid> = tokens.iter().map(|t| t.0).collect();
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(&format!(
        "select token_id, user_id from queue_entries
          where token_id = any($1) and status = '{active}' and active_until > $2",
        active = QueueStatus::Active.as_str(),
    ))
    .bind(&ids)
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(token, user)| (TokenId(token), UserId(user)))
        .collect())
}

/// Ends `user`'s turn: every live entry of theirs expires (a payment).
pub async fn expire_user(
    conn: &mut PgConnection,
    user: UserId,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "update queue_entries set status = $3, expired_at = $2
          where user_id = $1 and status <> '{expired}'",
        expired = QueueStatus::Expired.as_str(),
    ))
    .bind(user.0)
    .bind(at)
    .bind(QueueStatus::Expired.as_str())
    .execute(conn)
    .await
    .map(drop)
}
