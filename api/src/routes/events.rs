//! `GET /v1/queue/events`: the caller's place pushed as Server-Sent Events,
//! so a waiting page need not poll. One event at connect, then one on every
//! change of status or position (at most one a second), a comment line
//! every 15 s to keep proxies from closing the stream, and the end after
//! the entry is expired. An open stream counts as polling: its entry is not
//! dropped as idle.
//!
//! A stream costs no query while its entry waits: it wakes when this
//! instance's index of the rooms changes (see `WaitingLine`), takes its new
//! position from the index, and reads its row only when the index says the
//! entry left the line (admitted or dropped), when its room's sale opens,
//! or, while active, once a second (a payment ends an active token early).
//! So 20,000 streams are told of an admission within the index's refresh
//! interval, and the database sees only the entries whose status changed.

use super::queue::{status_of, status_with};
use crate::auth::entry::EntryOf;
use crate::auth::{caller_of, Caller};
use crate::http::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use domain::queue::QueueStatus;
use domain::wire::QueueStatusResponse;
use futures::stream::{self, Stream};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The least time between two events of a stream, and the longest a stream
/// sleeps without looking at its entry.
pub const EVENT_INTERVAL: Duration = Duration::from_secs(1);

/// How often a quiet stream sends a comment line.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// `GET /v1/queue/events`
#[utoipa::path(
    get,
    path = "/v1/queue/events",
    tag = "queue",
    summary = "The caller's place, pushed (Server-Sent Events)",
    params(("concert_id" = Option<i64>, Query, minimum = 1, description = "With a user key instead of a queue token: the room whose entry to show (default: the user's newest live entry)")),
    security(("queue_token" = [])),
    responses(
        (status = 200, description = "A `text/event-stream`: one `data:` event holding the status object at connect and on every change of status or position (at most one a second), a comment line every 15 s; the stream ends after the entry is expired. An open stream keeps a waiting entry from being dropped as idle.", content_type = "text/event-stream", body = QueueStatusResponse),
        crate::openapi::QueueReadErrors,
    )
)]
#[tracing::instrument(skip_all)]
pub async fn events(
    State(state): State<AppState>,
    EntryOf(token_id): EntryOf,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // An unknown token is refused before the stream starts.
    let caller = caller_of(token_id, &state).await?;
    let first = status_of(&state, &caller);
    let watcher = Watcher {
        changes: state.line.changes(),
        last_sent: first.clone(),
        marked_at: None,
        sent_at: Instant::now(),
        state,
        caller,
    };
    let stream = stream::unfold((Some(first), Some(watcher)), next_event);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT)))
}

/// One stream's view of its entry.
struct Watcher {
    state: AppState,
    /// The entry as last read.
    caller: Caller,
    /// The last event sent, and when.
    last_sent: QueueStatusResponse,
    sent_at: Instant,
    /// When the waiting entry was last marked as seen.
    marked_at: Option<Instant>,
    changes: watch::Receiver<u64>,
}

impl Watcher {
    /// Where the entry stands now: from the index while it waits there,
    /// else from its row. `None` if the row could not be read (the database
    /// is away): look again later.
    async fn look(&mut self) -> Option<QueueStatusResponse> {
        let caller = &self.caller;
        let (concert, seq) = (caller.concert_id.0, caller.seq);
        match caller.status {
            QueueStatus::Waiting if !caller.entry.prequeue => {
                if let Some(position) = self.state.line.waiting_position(concert, seq) {
                    return Some(status_with(&self.state, caller, Some(position)));
                }
            }
            // The pre-queue is placed when the sale opens; until then
            // nothing about the entry moves.
            QueueStatus::Waiting if self.state.line.room(concert).sale_opens_at.is_some() => {
                return Some(status_with(&self.state, caller, None));
            }
            _ => {}
        }
        // Boxed: a stream spends its life waiting, and an unboxed read would
        // size every waiting stream's future for the read's whole state.
        match Box::pin(caller_of(caller.token_id, &self.state)).await {
            Ok(now) => {
                self.caller = now;
                Some(status_of(&self.state, &self.caller))
            }
            Err(e) => {
                tracing::debug!(error = ?e, "an event stream could not read its entry");
                None
            }
        }
    }

    /// Marks a waiting entry as seen often enough that an open stream is
    /// never dropped as idle (a mark costs a set insert; the marks are
    /// written together).
    fn mark_seen(&mut self) {
        if self.caller.status != QueueStatus::Waiting {
            return;
        }
        let due = self.state.line.stream_mark_interval();
        if self.marked_at.is_none_or(|at| at.elapsed() >= due) {
            self.state.line.mark_seen(self.caller.token_id);
            self.marked_at = Some(Instant::now());
        }
    }

    /// Waits for the next change of the index, or [`EVENT_INTERVAL`].
    async fn wait(&mut self) {
        tokio::select! {
            changed = self.changes.changed() => {
                // The index is gone (shutting down): fall back to the timer.
                if changed.is_err() {
                    tokio::time::sleep(EVENT_INTERVAL).await;
                }
            }
            () = tokio::time::sleep(EVENT_INTERVAL) => {}
        }
    }
}

/// The next event of a stream: the first at once, then the next change, at
/// most one per [`EVENT_INTERVAL`]; nothing after the expired status.
async fn next_event(
    (pending, watcher): (Option<QueueStatusResponse>, Option<Watcher>),
) -> Option<(
    Result<Event, Infallible>,
    (Option<QueueStatusResponse>, Option<Watcher>),
)> {
    let mut watcher = watcher?;
    let status = match pending {
        Some(first) => first,
        None => {
            tokio::time::sleep_until(watcher.sent_at + EVENT_INTERVAL).await;
            loop {
                watcher.mark_seen();
                match watcher.look().await {
                    Some(now) if changed(&watcher.last_sent, &now) => break now,
                    _ => watcher.wait().await,
                }
            }
        }
    };
    watcher.mark_seen();
    let event = Event::default().json_data(&status).unwrap_or_default();
    let next = (status.status != QueueStatus::Expired).then(|| {
        watcher.sent_at = Instant::now();
        watcher.last_sent = status;
        watcher
    });
    Some((Ok(event), (None, next)))
}

/// Whether `now` is worth an event after `last`: its status or its place
/// moved (the estimate alone does not).
fn changed(last: &QueueStatusResponse, now: &QueueStatusResponse) -> bool {
    last.status != now.status || last.position != now.position
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: QueueStatus, position: Option<u64>, wait: u64) -> QueueStatusResponse {
        QueueStatusResponse {
            user_id: uuid::Uuid::nil(),
            concert_id: 1,
            status,
            position,
            ahead: position.map(|p| p.saturating_sub(1)),
            estimated_wait_seconds: wait,
            active_until: None,
            sale_opens_at: None,
        }
    }

    #[test]
    fn a_new_status_or_place_is_an_event_and_a_new_estimate_alone_is_not() {
        let waiting = status(QueueStatus::Waiting, Some(5), 30);
        assert!(!changed(
            &waiting,
            &status(QueueStatus::Waiting, Some(5), 20)
        ));
        assert!(changed(
            &waiting,
            &status(QueueStatus::Waiting, Some(4), 20)
        ));
        assert!(changed(&waiting, &status(QueueStatus::Active, Some(0), 0)));
        let prequeue = status(QueueStatus::Waiting, None, 60);
        assert!(changed(&prequeue, &waiting));
    }
}
