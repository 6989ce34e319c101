//! A per-instance snapshot of the waiting line, refreshed in the background,
//! so a status poll finds its position by binary search instead of counting
//! rows: O(log n) per poll and one O(n) read per refresh per instance.

use sqlx::PgPool;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How stale a position may be.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Default, Clone)]
pub struct LineSnapshot {
    /// Sequence numbers of the waiting entries, ascending.
    pub waiting: Vec<i64>,
    pub active: u64,
    /// Admissions per second over the last minute, if any.
    pub admission_rate: Option<f64>,
}

#[derive(Default)]
pub struct WaitingLine {
    snapshot: RwLock<Arc<LineSnapshot>>,
}

impl WaitingLine {
    pub fn snapshot(&self) -> Arc<LineSnapshot> {
        self.snapshot.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// The 1-based position of the waiting entry `seq`.
    pub fn position(&self, seq: i64) -> u64 {
        let snapshot = self.snapshot();
        snapshot.waiting.partition_point(|s| *s < seq) as u64 + 1
    }

    pub async fn refresh(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let waiting: Vec<i64> = sqlx::query_scalar(
            "select seq from queue_entries where status = 'waiting' order by seq",
        )
        .fetch_all(pool)
        .await?;
        let (active, admitted_last_minute): (i64, i64) = sqlx::query_as(
            "select (select count(*) from queue_entries where status = 'active' and active_until > now()),
                    (select count(*) from queue_entries where activated_at > now() - interval '60 seconds')",
        )
        .fetch_one(pool)
        .await?;
        let snapshot = LineSnapshot {
            waiting,
            active: u64::try_from(active).unwrap_or_default(),
            admission_rate: (admitted_last_minute > 0).then(|| admitted_last_minute as f64 / 60.0),
        };
        if let Ok(mut current) = self.snapshot.write() {
            *current = Arc::new(snapshot);
        }
        Ok(())
    }

    /// Refreshes every [`REFRESH_INTERVAL`] until `shutdown`.
    pub async fn run(self: Arc<Self>, pool: PgPool, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(REFRESH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.refresh(&pool).await {
                        tracing::debug!(error = %e, "refreshing the waiting line failed");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_the_waiting_entries_ahead() {
        let line = WaitingLine::default();
        if let Ok(mut s) = line.snapshot.write() {
            *s = Arc::new(LineSnapshot {
                waiting: vec![3, 4, 9, 12],
                ..Default::default()
            });
        }
        assert_eq!(line.position(3), 1);
        assert_eq!(line.position(9), 3);
        assert_eq!(line.position(12), 4);
        // An entry newer than the snapshot is behind everyone in it.
        assert_eq!(line.position(20), 5);
    }
}
