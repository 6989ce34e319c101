//! The open-loop driver: request `i` is due at `start + i / rate`, whether or
//! not earlier requests have been answered, and its latency is counted from
//! that due time, not from when it was actually sent. A server that stalls
//! therefore shows its stall in every request that was due meanwhile (no
//! coordinated omission).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// What one request's future reports.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// HTTP status, 0 for a transport error or timeout.
    pub status: u16,
    /// When the (first) response had been read.
    pub answered_at: Instant,
    /// The command's id, from a 202.
    pub request_id: Option<uuid::Uuid>,
    /// When the command was seen final, for long-polled ones.
    pub final_at: Option<Instant>,
    /// Status and reason of the final outcome, for long-polled ones.
    pub final_status: Option<String>,
}

impl Outcome {
    pub fn failed() -> Self {
        Self {
            status: 0,
            answered_at: Instant::now(),
            request_id: None,
            final_at: None,
            final_status: None,
        }
    }
}

/// One request as scheduled and as answered.
#[derive(Debug, Clone)]
pub struct Shot {
    pub intended: Instant,
    /// When it actually left (after waiting for an in-flight slot).
    pub sent: Instant,
    pub outcome: Outcome,
}

impl Shot {
    /// From the due time to the answer.
    pub fn latency(&self) -> Duration {
        self.outcome
            .answered_at
            .saturating_duration_since(self.intended)
    }

    /// From the answer (the 202) to seeing the final status.
    pub fn accept_to_final(&self) -> Option<Duration> {
        self.outcome
            .final_at
            .map(|f| f.saturating_duration_since(self.outcome.answered_at))
    }
}

/// Everything one open-loop run produced.
pub struct Run {
    pub start: Instant,
    pub secs: f64,
    pub shots: Vec<Shot>,
    /// Requests whose task died (a bug, not a server error).
    pub lost: usize,
    /// How late the driver itself got at worst: large values mean the load
    /// generator, not the server, was the bottleneck.
    pub max_schedule_lag: Duration,
}

/// Sends `round(rate * secs)` requests on the fixed schedule; `make(i)` builds
/// request `i`. At most `max_in_flight` are outstanding; the rest wait for a
/// slot (and the wait counts in their latency).
pub async fn run<F, Fut>(rate: f64, secs: f64, max_in_flight: usize, mut make: F) -> Run
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let count = (rate * secs).round().max(1.0) as u64;
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let start = Instant::now() + Duration::from_millis(5);
    let mut handles = Vec::with_capacity(count as usize);
    let mut max_schedule_lag = Duration::ZERO;
    for i in 0..count {
        let intended = start + Duration::from_secs_f64(i as f64 / rate);
        let now = Instant::now();
        if intended > now {
            tokio::time::sleep_until(intended).await;
        } else {
            max_schedule_lag = max_schedule_lag.max(now - intended);
        }
        let request = make(i);
        let slots = slots.clone();
        handles.push(tokio::spawn(async move {
            // The semaphore is never closed; a failure would only skip the limit.
            let _slot = slots.acquire_owned().await.ok();
            let sent = Instant::now();
            let outcome = request.await;
            Shot {
                intended,
                sent,
                outcome,
            }
        }));
    }
    let mut shots = Vec::with_capacity(handles.len());
    let mut lost = 0;
    for handle in handles {
        match handle.await {
            Ok(shot) => shots.push(shot),
            Err(_) => lost += 1,
        }
    }
    Run {
        start,
        secs,
        shots,
        lost,
        max_schedule_lag,
    }
}
