//! The store: every SQL statement of the service, grouped by table family,
//! with the embedded migrations, the pool set-up and the one classifier of
//! database errors. The API and the workers call these functions and never
//! write SQL themselves, so a statement has one home and a schema change
//! one place to look.
//!
//! Functions that must run inside a caller's transaction take a
//! `&mut PgConnection` (a `Transaction` derefs to one); the others take the
//! pool.

pub mod admin;
pub mod arrivals;
pub mod balances;
pub mod cancels;
pub mod catalog;
pub mod commands;
pub mod error;
pub mod holds;
pub mod leases;
pub mod payments;
pub mod pool;
pub mod queue;
pub mod requests;
pub mod tickets;
pub mod users;
pub mod waitlist;

pub use error::{classify, ErrorClass};
pub use pool::{connect, create_and_migrate, migrate};
/// The database types callers hold, so they need no `sqlx` of their own.
pub use sqlx::{Error, PgConnection, PgPool, Postgres, Transaction};

/// A transaction on the service's database.
pub type Tx<'a> = Transaction<'a, Postgres>;

/// The database's clock. Deciding with `now()` of the database, not of the
/// process, keeps every instance on one clock.
pub async fn now(conn: &mut PgConnection) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    sqlx::query_scalar("select now()").fetch_one(conn).await
}

/// Whether Postgres answers, for readiness.
pub async fn ping(pool: &PgPool) -> Result<(), Error> {
    sqlx::query("select 1").execute(pool).await.map(drop)
}
