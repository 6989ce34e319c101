//! Connecting, creating the database and migrating.

use anyhow::Context;
use domain::config::Settings;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use std::str::FromStr;
use std::time::Duration;

/// The project's migrations, embedded in every binary that opens the store.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A lazy pool for `DATABASE_URL` that gives up on a connection after
/// `acquire_timeout`, so callers report Postgres being down instead of
/// hanging.
pub fn connect(
    settings: &Settings,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(settings.database_url.expose())
        .context("DATABASE_URL is not a valid Postgres URL")?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .connect_lazy_with(options))
}

/// Applies the migrations not yet applied; also the check at start-up that
/// the database is migrated.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Creates the database named in `DATABASE_URL` when it does not exist, then
/// applies every migration. Safe to run from many processes at once: sqlx
/// takes an advisory lock while migrating.
pub async fn create_and_migrate(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database_url.expose();
    let exists = Postgres::database_exists(url)
        .await
        .context("cannot reach Postgres at DATABASE_URL")?;
    if !exists {
        if let Err(e) = Postgres::create_database(url).await {
            // Another process may have created it in the meantime.
            if !Postgres::database_exists(url).await.unwrap_or(false) {
                return Err(e).context("cannot create the database named in DATABASE_URL");
            }
        }
    }
    let pool = connect(settings, 2, Duration::from_secs(5))?;
    migrate(&pool).await.context("applying migrations")?;
    pool.close().await;
    Ok(())
}

/// Postgres' SQLSTATE for a lock not obtained within `lock_timeout`.
pub const LOCK_NOT_AVAILABLE: &str = "55P03";

/// A transaction whose every lock wait gives up after `ms` milliseconds
/// (`LOCK_NOT_AVAILABLE`): for background writes that must never hold up,
/// or deadlock with, the commands' own transactions.
pub async fn begin_with_lock_timeout(
    pool: &PgPool,
    ms: u32,
) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("set local lock_timeout = '{ms}ms'"))
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
