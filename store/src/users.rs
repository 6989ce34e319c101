//! `users`: registration and the user keys (only their SHA-256 is stored).

use chrono::{DateTime, Utc};
use domain::UserId;
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use uuid::Uuid;

/// Registers `user` with the hash of its key and a balance of 0.
pub async fn insert(pool: &PgPool, user: UserId, key_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("insert into users (user_id, key_hash) values ($1, $2)")
        .bind(user.0)
        .bind(key_hash)
        .execute(pool)
        .await
        .map(drop)
}

/// The user whose key hashes to `key_hash`, with the database's clock.
pub async fn by_key_hash(
    pool: &PgPool,
    key_hash: &[u8],
) -> Result<Option<(UserId, DateTime<Utc>)>, sqlx::Error> {
    let row: Option<(Uuid, DateTime<Utc>)> =
        sqlx::query_as("select user_id, now() from users where key_hash = $1")
            .bind(key_hash)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(user, now)| (UserId(user), now)))
}

/// The stored key hash of each of `users` that exists (`None` inside for a
/// user without a key): one statement for a batch of arrivals.
pub async fn key_hashes_of(
    conn: &mut PgConnection,
    users: &[Uuid],
) -> Result<HashMap<Uuid, Option<Vec<u8>>>, sqlx::Error> {
    let rows: Vec<(Uuid, Option<Vec<u8>>)> =
        sqlx::query_as("select user_id, key_hash from users where user_id = any($1)")
            .bind(users)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}
