//! Retrying what Postgres refuses for a while: backoff while it is
//! unreachable, and a batch that fails for another reason applied one
//! command at a time so a single bad command is set aside.

use crate::apply::{apply_batch, reject_unappliable, ApplyError, Delivery, Outcome, Rules};
use std::time::Duration;
use store::leases::Fence;
use store::{ErrorClass, PgPool};
use tokio_util::sync::CancellationToken;

/// Exponential backoff between retries while Postgres is unreachable:
/// 50 ms doubling up to 2 s.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(50))
    }
}

impl Backoff {
    /// Sleeps the current delay and doubles it; false if shut down first.
    async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let delay = self.0;
        self.0 = (delay * 2).min(Duration::from_secs(2));
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

/// Runs `op` until it succeeds or fails for a reason retrying cannot mend,
/// backing off while Postgres is unreachable; `None` on shutdown or such an
/// error.
pub async fn with_retry<T, F, Fut>(shutdown: &CancellationToken, mut op: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, store::Error>>,
{
    let mut backoff = Backoff::default();
    loop {
        match op().await {
            Ok(v) => return Some(v),
            Err(e) if store::classify(&e) == ErrorClass::Transient => {
                tracing::warn!(error = %e, "database unavailable; retrying")
            }
            Err(e) => {
                tracing::error!(error = %e, "database error");
                return None;
            }
        }
        if !backoff.wait(shutdown).await {
            return None;
        }
    }
}

/// What became of a batch.
pub enum Applied {
    Done(Vec<Outcome>),
    /// This partition was claimed by another worker; nothing was applied.
    Fenced(i32),
    ShutDown,
}

/// Applies a batch (of one or more partitions, see [`apply_batch`]),
/// retrying while Postgres is unreachable. A batch that fails for another
/// reason is applied one command at a time, so a single bad command is set
/// aside and the rest go through.
pub async fn apply_with_retry(
    pool: &PgPool,
    rules: Rules,
    fences: &[Fence],
    deliveries: &[Delivery],
    shutdown: &CancellationToken,
) -> Applied {
    let mut backoff = Backoff::default();
    loop {
        match apply_batch(pool, rules, fences, deliveries).await {
            Ok(outcomes) => return Applied::Done(outcomes),
            Err(ApplyError::Fenced(partition)) => return Applied::Fenced(partition),
            Err(ApplyError::Database(e)) if store::classify(&e) == ErrorClass::Transient => {
                tracing::warn!(error = %e, "applying a batch failed; retrying");
            }
            Err(ApplyError::Database(e)) if deliveries.len() > 1 => {
                tracing::warn!(error = %e, "a batch failed; applying its commands one by one");
                let mut outcomes = Vec::with_capacity(deliveries.len());
                for d in deliveries {
                    let fence: Vec<Fence> = fences
                        .iter()
                        .filter(|f| f.partition == d.partition)
                        .cloned()
                        .collect();
                    match Box::pin(apply_with_retry(
                        pool,
                        rules,
                        &fence,
                        std::slice::from_ref(d),
                        shutdown,
                    ))
                    .await
                    {
                        Applied::Done(o) => outcomes.extend(o),
                        other => return other,
                    }
                }
                return Applied::Done(outcomes);
            }
            Err(ApplyError::Database(e)) => {
                tracing::error!(error = %e, "a command cannot be applied; rejecting it");
                let Some(only) = deliveries.first() else {
                    return Applied::Done(Vec::new());
                };
                match reject_unappliable(pool, only, &e.to_string()).await {
                    Ok(outcome) => return Applied::Done(vec![outcome]),
                    Err(e) => {
                        tracing::warn!(error = %e, "recording the rejection failed; retrying")
                    }
                }
            }
        }
        if !backoff.wait(shutdown).await {
            return Applied::ShutDown;
        }
    }
}
