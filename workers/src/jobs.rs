//! Background jobs every worker runs side by side with the others: queue
//! admission and hold expiry. Both are safe with any number of instances.

use crate::metrics::Metrics;
use domain::config::Settings;
use std::sync::Arc;
use std::time::Duration;
use store::PgPool;
use tokio_util::sync::CancellationToken;

/// How often admission and expiry run.
pub const ADMISSION_INTERVAL: Duration = Duration::from_millis(200);

/// How often lapsed holds are marked expired. Readers already see a lapsed
/// hold as expired, so this only tidies the rows and need not be tighter.
pub const HOLD_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// How often the drops no position depends on any more are deleted.
pub const DROP_PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Runs the jobs until `shutdown`.
pub async fn run(
    pool: PgPool,
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let offer_ttl = chrono::Duration::seconds(i64::from(settings.waitlist_offer_seconds));
    let mut admission = tokio::time::interval(ADMISSION_INTERVAL);
    let mut sweep = tokio::time::interval(HOLD_SWEEP_INTERVAL);
    let mut prune = tokio::time::interval(DROP_PRUNE_INTERVAL);
    admission.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = admission.tick() => {
                if let Err(e) = store::queue::admit(&pool, &settings, true).await {
                    tracing::warn!(error = %e, "queue admission failed");
                }
            }
            _ = sweep.tick() => {
                match store::holds::expire_lapsed(&pool).await {
                    Ok(0) => {}
                    Ok(n) => {
                        metrics.holds_expired(n);
                        tracing::debug!(expired = n, "expired lapsed holds");
                    }
                    Err(e) => tracing::warn!(error = %e, "hold expiry failed"),
                }
                offer_free_seats(&pool, offer_ttl).await;
            }
            _ = prune.tick() => {
                if let Err(e) = store::queue::prune_drops(&pool).await {
                    tracing::warn!(error = %e, "pruning the queue's drop log failed");
                }
            }
        }
    }
}

/// Offers the seats freed with nobody touching them (lapsed holds and
/// offers) to the waitlists (rule 11).
async fn offer_free_seats(pool: &PgPool, offer_ttl: chrono::Duration) {
    match store::waitlist::offer_free_seats(pool, offer_ttl).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(offers = n, "offered freed seats to the waitlist"),
        Err(e) => tracing::warn!(error = %e, "waitlist offers failed"),
    }
}
