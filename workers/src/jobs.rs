//! Background jobs every worker runs side by side with the others: queue
//! admission and hold expiry. Both are safe with any number of instances.

use crate::metrics::Metrics;
use domain::config::Settings;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often admission and expiry run.
pub const ADMISSION_INTERVAL: Duration = Duration::from_millis(200);
pub const HOLD_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Admits the earliest waiting entries into free active slots and expires
/// what is due; `queue_admit` serialises instances with an advisory lock.
pub async fn admit_once(pool: &PgPool, settings: &Settings) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("select queue_admit($1, $2, $3, true)")
        .bind(settings.queue_active_capacity as i32)
        .bind(settings.active_token_ttl_seconds as i32)
        .bind(settings.queue_idle_timeout_seconds as i32)
        .fetch_one(pool)
        .await
}

/// Marks lapsed holds expired. Reads already treat them as expired; this
/// keeps the table honest. Rows locked by a payment in flight are skipped and
/// looked at again next time, so a payment and an expiry never both win.
pub async fn expire_holds_once(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "update reservations set status = 'expired'
          where reservation_id in (
                select reservation_id from reservations
                 where status = 'held' and held_until <= now()
                 order by held_until limit 1000
                   for update skip locked)",
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Runs both jobs until `shutdown`.
pub async fn run(
    pool: PgPool,
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut admission = tokio::time::interval(ADMISSION_INTERVAL);
    let mut sweep = tokio::time::interval(HOLD_SWEEP_INTERVAL);
    admission.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = admission.tick() => {
                if let Err(e) = admit_once(&pool, &settings).await {
                    tracing::warn!(error = %e, "queue admission failed");
                }
            }
            _ = sweep.tick() => {
                match expire_holds_once(&pool).await {
                    Ok(0) => {}
                    Ok(n) => {
                        metrics.holds_expired(n);
                        tracing::debug!(expired = n, "expired lapsed holds");
                    }
                    Err(e) => tracing::warn!(error = %e, "hold expiry failed"),
                }
            }
        }
    }
}
