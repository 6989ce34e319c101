//! `users`: registration and the user keys (only their SHA-256 is stored).

use chrono::{DateTime, Utc};
use domain::UserId;
use sqlx::PgPool;
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

/// The key hash of `user`: `None` if there is no such user, `Some(None)` for
/// a user without a key.
pub async fn key_hash_of(
    pool: &PgPool,
    user: UserId,
) -> Result<Option<Option<Vec<u8>>>, sqlx::Error> {
    sqlx::query_scalar("select key_hash from users where user_id = $1")
        .bind(user.0)
        .fetch_optional(pool)
        .await
}
