//! `requests`: one row per accepted command, `pending` until a worker writes
//! its outcome; and the `request_done` channel on which workers announce
//! finished requests to the API's long polls.
//!
//! Both statements that write rows here take many rows at once, from the
//! API's batch of accepted commands and from a worker's transaction, and
//! they meet on the same ids (the API records a command the worker may be
//! deciding already). Each inserts its rows in request id order: in any
//! other order the two could each wait for a row the other has written and
//! not committed, a deadlock that Postgres breaks only after
//! `deadlock_timeout` (a second in which no command was accepted) by failing
//! one of them. A worker's transaction writes here twice (keyed commands
//! before applying, outcomes after), so a deadlock stays possible when a
//! batch holds a command sent with an `Idempotency-Key`; Postgres then
//! fails one side and it is retried.

use domain::{Decision, RejectReason, RequestId, RequestKind, RequestStatus, UserId};
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The Postgres channel on which finished request ids are announced, so API
/// instances can answer long polls without polling the database.
const REQUEST_DONE_CHANNEL: &str = "request_done";

/// A command as recorded before (or without) its outcome: who sent it, its
/// kind, and the hash of its body that an `Idempotency-Key` is bound to.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    pub request_id: RequestId,
    pub user_id: UserId,
    pub kind: RequestKind,
    pub body_hash: String,
}

/// Records `rows` as `pending` unless their row exists, and answers the body
/// hash now stored for each id: the first body recorded wins. The API calls
/// it after publishing and the worker before applying a keyed command, in
/// whichever order they come; neither undoes the other's outcome.
pub async fn record_pending(
    conn: &mut PgConnection,
    rows: &[PendingRequest],
) -> Result<HashMap<RequestId, Option<String>>, sqlx::Error> {
    // One row per id: a statement may not upsert a row twice.
    let mut seen: HashSet<Uuid> = HashSet::with_capacity(rows.len());
    let (mut ids, mut users, mut kinds, mut hashes) = (vec![], vec![], vec![], vec![]);
    for row in rows {
        if seen.insert(row.request_id.0) {
            ids.push(row.request_id.0);
            users.push(row.user_id.0);
            kinds.push(row.kind.as_str());
            hashes.push(row.body_hash.as_str());
        }
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let stored: Vec<(Uuid, Option<String>)> = sqlx::query_as(
        "insert into requests (request_id, user_id, kind, body_hash)
         select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) as t(r, u, k, h)
          order by r
         on conflict (request_id) do update
            set body_hash = coalesce(requests.body_hash, excluded.body_hash)
         returning request_id, body_hash",
    )
    .bind(&ids)
    .bind(&users)
    .bind(&kinds)
    .bind(&hashes)
    .fetch_all(conn)
    .await?;
    Ok(stored
        .into_iter()
        .map(|(id, hash)| (RequestId(id), hash))
        .collect())
}

/// The body hash recorded for `id`: `None` if no such request, `Some(None)`
/// if it was sent without an `Idempotency-Key` body hash.
pub async fn body_hash_of(
    pool: &PgPool,
    id: RequestId,
) -> Result<Option<Option<String>>, sqlx::Error> {
    sqlx::query_scalar("select body_hash from requests where request_id = $1")
        .bind(id.0)
        .fetch_optional(pool)
        .await
}

/// A decided command, to be written to `requests`.
#[derive(Debug, Clone)]
pub struct Finished {
    pub request: RequestId,
    pub user: UserId,
    pub kind: RequestKind,
    pub decision: Decision,
}

/// Writes the outcomes of decided commands in one statement. The API inserts
/// the pending row after publishing; whichever of the two comes second must
/// not undo the other.
pub async fn record_outcomes(
    conn: &mut PgConnection,
    records: &[Finished],
) -> Result<(), sqlx::Error> {
    if records.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(records.len());
    let mut users = Vec::with_capacity(records.len());
    let mut kinds = Vec::with_capacity(records.len());
    let mut statuses = Vec::with_capacity(records.len());
    let mut reasons: Vec<Option<&str>> = Vec::with_capacity(records.len());
    let mut results: Vec<Option<String>> = Vec::with_capacity(records.len());
    for r in records {
        ids.push(r.request.0);
        users.push(r.user.0);
        kinds.push(r.kind.as_str());
        statuses.push(r.decision.status().as_str());
        match &r.decision {
            Decision::Succeeded(result) => {
                reasons.push(None);
                let json =
                    serde_json::to_string(result).map_err(|e| sqlx::Error::Encode(e.into()))?;
                results.push(Some(json));
            }
            Decision::Rejected(reason) => {
                reasons.push(Some(reason.code()));
                results.push(None);
            }
        }
    }
    sqlx::query(
        "insert into requests (request_id, user_id, kind, status, reason, result, finished_at)
         select r, u, k, s, re, res::jsonb, now()
           from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[])
                as t(r, u, k, s, re, res)
          order by r
         on conflict (request_id) do update
            set status = excluded.status, reason = excluded.reason,
                result = excluded.result, finished_at = excluded.finished_at
          where requests.status = 'pending'",
    )
    .bind(&ids)
    .bind(&users)
    .bind(&kinds)
    .bind(&statuses)
    .bind(&reasons)
    .bind(&results)
    .execute(conn)
    .await?;
    Ok(())
}

/// A request as stored: whose it is, what it is and what became of it.
#[derive(Debug, Clone)]
pub struct StoredRequest {
    pub user_id: UserId,
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub reason: Option<RejectReason>,
    pub result: Option<Value>,
}

/// The request `id`, if it exists.
pub async fn read(pool: &PgPool, id: RequestId) -> Result<Option<StoredRequest>, sqlx::Error> {
    type Row = (Uuid, String, String, Option<String>, Option<Value>);
    let row: Option<Row> = sqlx::query_as(
        "select user_id, kind, status, reason, result from requests where request_id = $1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map(|(user, kind, status, reason, result)| StoredRequest {
            user_id: UserId(user),
            kind: RequestKind::parse(&kind).unwrap_or(RequestKind::Reserve),
            status: RequestStatus::parse(&status).unwrap_or(RequestStatus::Pending),
            reason: reason.as_deref().and_then(RejectReason::parse),
            result,
        }),
    )
}

/// The kind of request `id`, if the API recorded it: a poison message whose
/// ids can still be read is rejected under that kind.
pub async fn kind_of(
    conn: &mut PgConnection,
    id: RequestId,
) -> Result<Option<RequestKind>, sqlx::Error> {
    let kind: Option<String> =
        sqlx::query_scalar("select kind from requests where request_id = $1")
            .bind(id.0)
            .fetch_optional(conn)
            .await?;
    Ok(kind.as_deref().and_then(RequestKind::parse))
}

/// Announces finished requests, comma-separated, in payloads under
/// Postgres's 8000-byte limit. Delivered only if the transaction commits.
pub async fn notify_finished(
    conn: &mut PgConnection,
    ids: &[RequestId],
) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(200) {
        let payload = chunk
            .iter()
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        sqlx::query("select pg_notify($1, $2)")
            .bind(REQUEST_DONE_CHANNEL)
            .bind(payload)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A connection listening for finished requests (see [`notify_finished`]).
pub struct FinishedListener(PgListener);

impl FinishedListener {
    /// Opens a connection of its own and listens on the channel.
    pub async fn connect(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(REQUEST_DONE_CHANNEL).await?;
        Ok(Self(listener))
    }

    /// The ids of the next announcement; ids that do not parse are skipped.
    pub async fn recv(&mut self) -> Result<Vec<RequestId>, sqlx::Error> {
        let notification = self.0.recv().await?;
        Ok(notification
            .payload()
            .split(',')
            .filter_map(|s| Uuid::parse_str(s).ok().map(RequestId))
            .collect())
    }
}
