//! Applying commands to Postgres. A batch of one partition's messages is
//! applied in order in one transaction; each command's id goes into
//! `applied_commands` in that transaction, so a redelivered or replayed
//! command finds its id and changes nothing.

use chrono::{DateTime, Duration, Utc};
use domain::rules::{decide_pay, ReservationState, StoredReservation};
use domain::{
    Command, CommandEnvelope, DecodeError, Money, RejectReason, RequestId, RequestKind,
    ReservationId, TokenId, UserId,
};
use serde_json::json;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::collections::{HashMap, HashSet};

/// One message as read from a partition.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
    pub payload: Option<Vec<u8>>,
}

/// The lease a live consumer holds on a partition: the epoch it claimed when
/// the partition was assigned to it.
#[derive(Debug, Clone)]
pub struct Fence {
    pub topic: String,
    pub partition: i32,
    pub epoch: i64,
}

/// Why a batch was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Another worker claimed the partition since this one did.
    #[error("partition {0} was claimed by another worker")]
    Fenced(i32),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Claims `partition` for this worker: bumps its epoch, so that any worker
/// that held it before is fenced off from then on.
pub async fn claim_partition(
    pool: &PgPool,
    topic: &str,
    partition: i32,
) -> Result<Fence, sqlx::Error> {
    let epoch: i64 = sqlx::query_scalar(
        "insert into partition_leases (topic, partition, epoch) values ($1, $2, 1)
         on conflict (topic, partition) do update
            set epoch = partition_leases.epoch + 1, claimed_at = now()
         returning epoch",
    )
    .bind(topic)
    .bind(partition)
    .fetch_one(pool)
    .await?;
    Ok(Fence {
        topic: topic.to_owned(),
        partition,
        epoch,
    })
}

/// The rule parameters a worker applies commands with.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub hold_ttl: Duration,
    pub max_holds_per_user: u32,
}

impl Rules {
    pub fn from_settings(settings: &domain::config::Settings) -> Self {
        Self {
            hold_ttl: Duration::seconds(i64::from(settings.hold_ttl_seconds)),
            max_holds_per_user: settings.max_holds_per_user,
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(RequestKind),
    Rejected(RequestKind, RejectReason),
    /// Its id was already recorded: an earlier delivery applied it (or its
    /// body lost its `Idempotency-Key` to another body: see
    /// `CommandEnvelope::body_hash`).
    Duplicate,
    /// Undecodable: recorded as a dead letter and skipped.
    Poison,
}

pub(crate) enum Decision {
    Succeeded(serde_json::Value),
    Rejected(RejectReason),
}

/// Applies `batch` in one transaction and returns what became of each
/// message. The batch may hold several partitions' messages, each
/// partition's in offset order: commands of different partitions concern
/// different seats, and one transaction for all of them costs Postgres one
/// set of bulk statements instead of one per partition. With `fences`, the
/// transaction first checks, and holds until commit, each partition's epoch.
pub async fn apply_batch(
    pool: &PgPool,
    rules: Rules,
    fences: &[Fence],
    batch: &[Delivery],
) -> Result<Vec<Outcome>, ApplyError> {
    let mut tx = pool.begin().await?;
    if !fences.is_empty() {
        // FOR SHARE blocks a concurrent claim until this batch commits, so a
        // claim either sees this batch applied or this batch sees the claim.
        let topics: Vec<&str> = fences.iter().map(|f| f.topic.as_str()).collect();
        let partitions: Vec<i32> = fences.iter().map(|f| f.partition).collect();
        let epochs: HashMap<(String, i32), i64> = sqlx::query_as::<_, (String, i32, i64)>(
            "select topic, partition, epoch from partition_leases
              where (topic, partition) in (select * from unnest($1::text[], $2::int[]))
              order by topic, partition
                for share",
        )
        .bind(&topics)
        .bind(&partitions)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(topic, partition, epoch)| ((topic, partition), epoch))
        .collect();
        if let Some(stale) = fences
            .iter()
            .find(|f| epochs.get(&(f.topic.clone(), f.partition)) != Some(&f.epoch))
        {
            return Err(ApplyError::Fenced(stale.partition));
        }
    }
    let now: DateTime<Utc> = sqlx::query_scalar("select now()")
        .fetch_one(&mut *tx)
        .await?;
    let decoded: Vec<_> = batch
        .iter()
        .map(|d| CommandEnvelope::decode(d.payload.as_deref().unwrap_or_default()))
        .collect();
    let superseded = claim_body_hashes(&mut tx, &decoded).await?;
    let mut fresh = record_ids(&mut tx, batch, &decoded, &superseded).await?;
    let tokens = active_tokens(&mut tx, &decoded, now).await?;
    let mut outcomes = vec![Outcome::Duplicate; batch.len()];
    let mut records: Vec<Record> = Vec::with_capacity(batch.len());
    let mut finished = Vec::with_capacity(batch.len());
    // Users whose token a payment in this batch has just expired.
    let mut paid_users: HashSet<UserId> = HashSet::new();
    // Consecutive reserves are decided together, in order, with bulk reads
    // and writes; anything else ends the run.
    let mut run: Vec<(usize, &CommandEnvelope)> = Vec::new();
    for (i, (delivery, decoded)) in batch.iter().zip(&decoded).enumerate() {
        let env = match decoded {
            Ok(env) => env,
            Err(e) => {
                flush_run(&mut tx, rules, now, &mut run, &mut records, &mut outcomes).await?;
                let payload = delivery.payload.as_deref().unwrap_or_default();
                let (outcome, request) = apply_poison(&mut tx, delivery, payload, e).await?;
                finished.extend(request);
                outcomes[i] = outcome;
                continue;
            }
        };
        // A duplicate, a second copy inside this very batch, or a body that
        // lost its Idempotency-Key to another.
        if superseded.contains(&i) || !fresh.remove(&env.request_id) {
            continue;
        }
        let kind = env.command.kind();
        let active = tokens
            .get(&env.token_id)
            .is_some_and(|owner| *owner == env.user_id)
            && !paid_users.contains(&env.user_id);
        if !active {
            let reason = RejectReason::TokenNotActive;
            records.push(Record::new(env, Decision::Rejected(reason)));
            outcomes[i] = Outcome::Rejected(kind, reason);
            continue;
        }
        match env.command {
            Command::Reserve { .. } => run.push((i, env)),
            Command::Pay { reservation_id, .. } => {
                flush_run(&mut tx, rules, now, &mut run, &mut records, &mut outcomes).await?;
                let decision = pay(&mut tx, now, env.user_id, reservation_id).await?;
                if matches!(decision, Decision::Succeeded(_)) {
                    paid_users.insert(env.user_id);
                }
                outcomes[i] = decision.outcome(kind);
                records.push(Record::new(env, decision));
            }
        }
    }
    flush_run(&mut tx, rules, now, &mut run, &mut records, &mut outcomes).await?;
    record_outcomes(&mut tx, &records).await?;
    finished.extend(records.iter().map(|r| r.request));
    for ((delivery, decoded), outcome) in batch.iter().zip(&decoded).zip(&outcomes) {
        // The HTTP request id travelled in the envelope: one reservation can
        // be followed from the API's log line to this one.
        let trace_id = decoded.as_ref().ok().and_then(|e| e.trace_id.as_deref());
        tracing::debug!(
            x_request_id = trace_id.unwrap_or(""),
            partition = delivery.partition,
            offset = delivery.offset,
            ?outcome,
            "command applied"
        );
    }
    notify_finished(&mut tx, &finished).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// A decided command, to be written to `requests`.
struct Record {
    request: RequestId,
    user: UserId,
    kind: RequestKind,
    decision: Decision,
}

impl Record {
    fn new(env: &CommandEnvelope, decision: Decision) -> Self {
        Self {
            request: env.request_id,
            user: env.user_id,
            kind: env.command.kind(),
            decision,
        }
    }
}

impl Decision {
    fn outcome(&self, kind: RequestKind) -> Outcome {
        match self {
            Decision::Succeeded(_) => Outcome::Succeeded(kind),
            Decision::Rejected(reason) => Outcome::Rejected(kind, *reason),
        }
    }
}

/// For the commands sent with an `Idempotency-Key`, makes sure their
/// request's row holds a body hash (the API may not have written it yet) and
/// returns the positions of those whose body lost: another request with the
/// same key and another body got the `202`. They are skipped, not recorded,
/// so the winner's command, with the same id, is still applied when it
/// comes.
async fn claim_body_hashes(
    conn: &mut PgConnection,
    decoded: &[Result<CommandEnvelope, DecodeError>],
) -> Result<HashSet<usize>, sqlx::Error> {
    let hashed: Vec<(usize, &CommandEnvelope, &str)> = decoded
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let env = d.as_ref().ok()?;
            Some((i, env, env.body_hash.as_deref()?))
        })
        .collect();
    if hashed.is_empty() {
        return Ok(HashSet::new());
    }
    // One row per id: a statement may not upsert a row twice.
    let mut proposed: HashSet<RequestId> = HashSet::new();
    let (mut ids, mut users, mut kinds, mut hashes) = (vec![], vec![], vec![], vec![]);
    for (_, env, hash) in &hashed {
        if proposed.insert(env.request_id) {
            ids.push(env.request_id.0);
            users.push(env.user_id.0);
            kinds.push(env.command.kind().as_str());
            hashes.push(*hash);
        }
    }
    let stored: HashMap<uuid::Uuid, Option<String>> = sqlx::query_as(
        "insert into requests (request_id, user_id, kind, body_hash)
         select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])
         on conflict (request_id) do update
            set body_hash = coalesce(requests.body_hash, excluded.body_hash)
         returning request_id, body_hash",
    )
    .bind(&ids)
    .bind(&users)
    .bind(&kinds)
    .bind(&hashes)
    .fetch_all(conn)
    .await?
    .into_iter()
    .collect();
    Ok(hashed
        .into_iter()
        .filter(|(_, env, hash)| {
            stored
                .get(&env.request_id.0)
                .is_some_and(|s| s.as_deref() != Some(*hash))
        })
        .map(|(i, _, _)| i)
        .collect())
}

/// Records the ids of the batch's commands in one statement, except those
/// `superseded`; returns those not recorded before (an earlier delivery
/// applied the others).
async fn record_ids(
    conn: &mut PgConnection,
    batch: &[Delivery],
    decoded: &[Result<CommandEnvelope, DecodeError>],
    superseded: &HashSet<usize>,
) -> Result<HashSet<RequestId>, sqlx::Error> {
    let (mut ids, mut partitions, mut offsets) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (delivery, env)) in batch.iter().zip(decoded).enumerate() {
        if superseded.contains(&i) {
            continue;
        }
        if let Ok(env) = env {
            ids.push(env.request_id.0);
            partitions.push(delivery.partition);
            offsets.push(delivery.offset);
        }
    }
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let fresh: Vec<uuid::Uuid> = sqlx::query_scalar(
        r#"insert into applied_commands (command_id, partition, "offset")
           select * from unnest($1::uuid[], $2::int[], $3::bigint[])
           on conflict (command_id) do nothing
           returning command_id"#,
    )
    .bind(&ids)
    .bind(&partitions)
    .bind(&offsets)
    .fetch_all(conn)
    .await?;
    Ok(fresh.into_iter().map(RequestId).collect())
}

/// The owners of the batch's queue tokens that are active at `now`. The
/// worker re-checks what the API checked: the token must still be active.
async fn active_tokens(
    conn: &mut PgConnection,
    decoded: &[Result<CommandEnvelope, DecodeError>],
    now: DateTime<Utc>,
) -> Result<HashMap<TokenId, UserId>, sqlx::Error> {
    let tokens: Vec<uuid::Uuid> = decoded
        .iter()
        .filter_map(|d| d.as_ref().ok().map(|env| env.token_id.0))
        .collect();
    if tokens.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
        "select token_id, user_id from queue_entries
          where token_id = any($1) and status = 'active' and active_until > $2",
    )
    .bind(&tokens)
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(token, user)| (TokenId(token), UserId(user)))
        .collect())
}

/// Decides the pending run of reserves, if any.
async fn flush_run(
    tx: &mut Transaction<'_, Postgres>,
    rules: Rules,
    now: DateTime<Utc>,
    run: &mut Vec<(usize, &CommandEnvelope)>,
    records: &mut Vec<Record>,
    outcomes: &mut [Outcome],
) -> Result<(), sqlx::Error> {
    if run.is_empty() {
        return Ok(());
    }
    let envelopes: Vec<&CommandEnvelope> = run.iter().map(|(_, env)| *env).collect();
    let decisions = crate::bulk::reserve_run(tx, rules, now, &envelopes).await?;
    for ((i, env), decision) in run.drain(..).zip(decisions) {
        outcomes[i] = decision.outcome(RequestKind::Reserve);
        records.push(Record::new(env, decision));
    }
    Ok(())
}

/// Records `delivery` as rejected without applying it: for a message whose
/// application fails for a reason retrying cannot mend (a constraint the rules
/// did not foresee), so that it does not block its partition.
pub async fn reject_unappliable(
    pool: &PgPool,
    delivery: &Delivery,
    error: &str,
) -> Result<Outcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    record_dead_letter(&mut tx, delivery, error).await?;
    let payload = delivery.payload.as_deref().unwrap_or_default();
    let outcome = match CommandEnvelope::decode(payload) {
        Ok(env) if first_delivery(&mut tx, env.request_id, delivery).await? => {
            let kind = env.command.kind();
            let reason = RejectReason::InvalidCommand;
            record_outcome(
                &mut tx,
                env.request_id,
                env.user_id,
                kind,
                Decision::Rejected(reason),
            )
            .await?;
            notify_finished(&mut tx, &[env.request_id]).await?;
            Outcome::Rejected(kind, reason)
        }
        Ok(_) => Outcome::Duplicate,
        Err(_) => Outcome::Poison,
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Records the command's id; false when an earlier delivery already did.
async fn first_delivery(
    conn: &mut PgConnection,
    id: RequestId,
    delivery: &Delivery,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        r#"insert into applied_commands (command_id, partition, "offset") values ($1, $2, $3)
           on conflict (command_id) do nothing"#,
    )
    .bind(id.0)
    .bind(delivery.partition)
    .bind(delivery.offset)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

async fn apply_poison(
    tx: &mut Transaction<'_, Postgres>,
    delivery: &Delivery,
    payload: &[u8],
    error: &DecodeError,
) -> Result<(Outcome, Option<RequestId>), sqlx::Error> {
    tracing::warn!(
        partition = delivery.partition,
        offset = delivery.offset,
        %error,
        "skipping an undecodable command"
    );
    record_dead_letter(tx, delivery, &error.to_string()).await?;
    // A command whose ids can still be read gets a final status, so its
    // client is not left polling a pending request.
    if let Some((request_id, user_id)) = DecodeError::salvage_request_id(payload) {
        let kind: Option<String> =
            sqlx::query_scalar("select kind from requests where request_id = $1")
                .bind(request_id.0)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(kind) = kind.as_deref().and_then(RequestKind::parse) {
            if first_delivery(tx, request_id, delivery).await? {
                let reason = RejectReason::InvalidCommand;
                record_outcome(tx, request_id, user_id, kind, Decision::Rejected(reason)).await?;
                return Ok((Outcome::Rejected(kind, reason), Some(request_id)));
            }
        }
    }
    Ok((Outcome::Poison, None))
}

async fn record_dead_letter(
    conn: &mut PgConnection,
    delivery: &Delivery,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"insert into dead_letters (partition, "offset", payload, error) values ($1, $2, $3, $4)
           on conflict do nothing"#,
    )
    .bind(delivery.partition)
    .bind(delivery.offset)
    .bind(delivery.payload.as_deref())
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

async fn pay(
    tx: &mut Transaction<'_, Postgres>,
    now: DateTime<Utc>,
    payer: UserId,
    reservation_id: ReservationId,
) -> Result<Decision, sqlx::Error> {
    // The payer's row first, as a reserve does: holds and payments of one
    // user then queue on one lock instead of deadlocking across partitions.
    let balance: Option<i64> =
        sqlx::query_scalar("select balance from users where user_id = $1 for update")
            .bind(payer.0)
            .fetch_optional(&mut **tx)
            .await?;
    let row: Option<(uuid::Uuid, String, DateTime<Utc>, i64, i64, i16)> = sqlx::query_as(
        "select user_id, status, held_until, price, performance_id, seat_number
           from reservations where reservation_id = $1 for update",
    )
    .bind(reservation_id.0)
    .fetch_optional(&mut **tx)
    .await?;
    let state = row.as_ref().map(
        |(owner, status, held_until, price, _, _)| ReservationState {
            owner: UserId(*owner),
            status: StoredReservation::parse(status).unwrap_or(StoredReservation::Expired),
            held_until: *held_until,
            price: Money::parse(*price).unwrap_or_default(),
        },
    );
    let balance = Money::parse(balance.unwrap_or_default()).unwrap_or_default();
    let balance_after = match decide_pay(state, payer, balance, now) {
        Ok(after) => after,
        Err(reason) => return Ok(Decision::Rejected(reason)),
    };
    let Some((_, _, _, price, performance_id, seat_number)) = row else {
        return Ok(Decision::Rejected(RejectReason::ReservationNotFound));
    };
    // The conditional update is the database's own guard against a negative
    // balance, whatever the rule above decided.
    let debited =
        sqlx::query("update users set balance = balance - $2 where user_id = $1 and balance >= $2")
            .bind(payer.0)
            .bind(price)
            .execute(&mut **tx)
            .await?;
    if debited.rows_affected() != 1 {
        return Ok(Decision::Rejected(RejectReason::InsufficientBalance));
    }
    let payment = domain::PaymentId::new();
    sqlx::query("insert into payments (payment_id, reservation_id, user_id, amount, paid_at) values ($1, $2, $3, $4, $5)")
        .bind(payment.0)
        .bind(reservation_id.0)
        .bind(payer.0)
        .bind(price)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "insert into ledger (user_id, kind, amount, balance_after, reference) values ($1, 'payment', $2, $3, $4)",
    )
    .bind(payer.0)
    .bind(-price)
    .bind(balance_after.krw())
    .bind(payment.0)
    .execute(&mut **tx)
    .await?;
    sqlx::query("update reservations set status = 'paid' where reservation_id = $1")
        .bind(reservation_id.0)
        .execute(&mut **tx)
        .await?;
    let sold = sqlx::query(
        "update seats set sold = true, held_until = null
          where performance_id = $1 and seat_number = $2 and reservation_id = $3 and not sold",
    )
    .bind(performance_id)
    .bind(seat_number)
    .bind(reservation_id.0)
    .execute(&mut **tx)
    .await?;
    if sold.rows_affected() != 1 {
        // The seat no longer points at this hold: refuse rather than sell it
        // twice. Returning an error rolls the whole batch back.
        return Err(sqlx::Error::Protocol(format!(
            "seat {performance_id}:{seat_number} is not held by reservation {reservation_id}"
        )));
    }
    // Release the payer's other holds, and free their seats.
    sqlx::query(
        "with released as (
             update reservations set status = 'expired'
              where user_id = $1 and status = 'held' and reservation_id <> $2
          returning reservation_id, performance_id, seat_number)
         update seats s set held_until = null, reservation_id = null
           from released r
          where s.performance_id = r.performance_id and s.seat_number = r.seat_number
            and s.reservation_id = r.reservation_id",
    )
    .bind(payer.0)
    .bind(reservation_id.0)
    .execute(&mut **tx)
    .await?;
    // Paying ends the payer's turn in the waiting room.
    sqlx::query(
        "update queue_entries set status = 'expired', expired_at = $2
          where user_id = $1 and status <> 'expired'",
    )
    .bind(payer.0)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(Decision::Succeeded(json!({
        "payment_id": payment,
        "reservation_id": reservation_id,
        "amount": price,
        "paid_at": now,
        "balance_after": balance_after,
    })))
}

async fn record_outcome(
    conn: &mut PgConnection,
    request: RequestId,
    user: UserId,
    kind: RequestKind,
    decision: Decision,
) -> Result<(), sqlx::Error> {
    record_outcomes(
        conn,
        &[Record {
            request,
            user,
            kind,
            decision,
        }],
    )
    .await
}

/// Writes the outcomes of decided commands in one statement. The API inserts
/// the pending row after publishing; whichever of the two comes second must
/// not undo the other.
async fn record_outcomes(conn: &mut PgConnection, records: &[Record]) -> Result<(), sqlx::Error> {
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
        match &r.decision {
            Decision::Succeeded(result) => {
                statuses.push("succeeded");
                reasons.push(None);
                results.push(Some(result.to_string()));
            }
            Decision::Rejected(reason) => {
                statuses.push("rejected");
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

/// The Postgres channel on which finished request ids are announced, so API
/// instances can answer long polls without polling the database.
pub const REQUEST_DONE_CHANNEL: &str = "request_done";

/// Announces finished requests, comma-separated, in payloads under
/// Postgres's 8000-byte limit. Delivered only if the transaction commits.
async fn notify_finished(conn: &mut PgConnection, ids: &[RequestId]) -> Result<(), sqlx::Error> {
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

/// Whether retrying the same work later may succeed: lost connections,
/// deadlocks, serialization failures, a database shutting down.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("40")
                || code.starts_with("08")
                || code.starts_with("57")
                || code.starts_with("53")
        }),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}
