//! Balances, the `ledger` and the stored answers of `Idempotency-Key`
//! charges. Every change of a balance writes a ledger row in the same
//! transaction, so money can be accounted for (SPEC rule 6).

use domain::UserId;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use std::collections::HashSet;
use uuid::Uuid;

/// Why a balance changed, as the ledger says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    Charge,
    Payment,
    /// A paid seat given back (rule 10); its reference is the reservation.
    Refund,
}

impl LedgerKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Charge => "charge",
            Self::Payment => "payment",
            Self::Refund => "refund",
        }
    }
}

/// The balance of `user`, if the user exists.
pub async fn of(pool: &PgPool, user: UserId) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("select balance from users where user_id = $1")
        .bind(user.0)
        .fetch_optional(pool)
        .await
}

/// The balance of `user`, locking the user's row until the transaction
/// ends: every change of a user's balance, holds and idempotency keys
/// queues on this one lock.
pub async fn lock(conn: &mut PgConnection, user: UserId) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("select balance from users where user_id = $1 for update")
        .bind(user.0)
        .fetch_optional(conn)
        .await
}

/// Locks the rows of `users` in id order (the order every transaction takes
/// them in, so they queue instead of deadlocking) and returns those that
/// exist.
pub async fn lock_many(
    conn: &mut PgConnection,
    users: &[Uuid],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let mut sorted = users.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let found: Vec<Uuid> = sqlx::query_scalar(
        "select user_id from users where user_id = any($1) order by user_id for update",
    )
    .bind(&sorted)
    .fetch_all(conn)
    .await?;
    Ok(found.into_iter().collect())
}

/// Sets the balance of `user` (whose row the caller has locked).
pub async fn set(conn: &mut PgConnection, user: UserId, krw: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update users set balance = $2 where user_id = $1")
        .bind(user.0)
        .bind(krw)
        .execute(conn)
        .await
        .map(drop)
}

/// Takes `amount` from `user`'s balance unless that would make it negative;
/// whether it did. The condition is the database's own guard, whatever the
/// rules decided.
pub async fn debit(
    conn: &mut PgConnection,
    user: UserId,
    amount: i64,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("update users set balance = balance - $2 where user_id = $1 and balance >= $2")
            .bind(user.0)
            .bind(amount)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives `amount` back to `user`'s balance unless that would pass
/// [`domain::BALANCE_LIMIT`]; whether it did (the database's own guard,
/// whatever the rules decided).
pub async fn credit(
    conn: &mut PgConnection,
    user: UserId,
    amount: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update users set balance = balance + $2 where user_id = $1 and balance + $2 <= $3",
    )
    .bind(user.0)
    .bind(amount)
    .bind(domain::BALANCE_LIMIT)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes the ledger row of a balance change: `amount` is signed (a payment
/// is negative) and `reference` names the charge or payment.
pub async fn add_ledger_entry(
    conn: &mut PgConnection,
    user: UserId,
    kind: LedgerKind,
    amount: i64,
    balance_after: i64,
    reference: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into ledger (user_id, kind, amount, balance_after, reference) values ($1, $2, $3, $4, $5)",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(amount)
    .bind(balance_after)
    .bind(reference)
    .execute(conn)
    .await
    .map(drop)
}

/// The answer given to an earlier charge with the same `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub body_hash: String,
    pub status_code: u16,
    pub response: Value,
}

/// The answer stored for `user`'s `key`, if any (read under the user's lock,
/// so two requests with one key cannot both miss it).
pub async fn stored_answer(
    conn: &mut PgConnection,
    user: UserId,
    key: &str,
) -> Result<Option<StoredAnswer>, sqlx::Error> {
    let row: Option<(String, i16, Value)> = sqlx::query_as(
        "select body_hash, status_code, response from idempotency_keys where user_id = $1 and key = $2",
    )
    .bind(user.0)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(body_hash, code, response)| StoredAnswer {
        body_hash,
        status_code: u16::try_from(code).unwrap_or(200),
        response,
    }))
}

/// Stores the answer to `user`'s request with `key`, in the transaction of
/// its effect.
pub async fn store_answer(
    conn: &mut PgConnection,
    user: UserId,
    key: &str,
    answer: &StoredAnswer,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into idempotency_keys (user_id, key, body_hash, status_code, response) values ($1, $2, $3, $4, $5)",
    )
    .bind(user.0)
    .bind(key)
    .bind(&answer.body_hash)
    .bind(i16::try_from(answer.status_code).unwrap_or(200))
    .bind(&answer.response)
    .execute(conn)
    .await
    .map(drop)
}
