//! `GET /v1/queue/events`: the caller's place pushed as Server-Sent Events,
//! so a waiting page need not poll. One event at connect, then one on every
//! change of status or position (looked at once a second, so at most one a
//! second), a comment line every 15 s to keep proxies from closing the
//! stream, and the end after the entry is expired. An open stream counts as
//! polling: its entry is not dropped as idle.

use super::queue::current_status;
use crate::auth::entry::EntryOf;
use crate::http::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use domain::queue::QueueStatus;
use domain::wire::QueueStatusResponse;
use domain::TokenId;
use futures::stream::{self, Stream};
use std::convert::Infallible;
use std::time::Duration;

/// How often a stream looks at its entry: the most events it sends a second.
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
    let first = current_status(&state, token_id).await?;
    let stream = stream::unfold(Watch::Start(first, state, token_id), next_event);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT)))
}

/// Where a stream is.
enum Watch {
    /// The status at connect, not yet sent.
    Start(QueueStatusResponse, AppState, TokenId),
    /// The last status sent; the entry is still live.
    Sent(QueueStatusResponse, AppState, TokenId),
    /// The expired status was sent: nothing more.
    Done,
}

/// The next event of a stream: the first at once, then the next change.
async fn next_event(watch: Watch) -> Option<(Result<Event, Infallible>, Watch)> {
    let (status, state, token) = match watch {
        Watch::Start(first, state, token) => (first, state, token),
        Watch::Sent(last, state, token) => {
            let mut ticks = tokio::time::interval(EVENT_INTERVAL);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                match current_status(&state, token).await {
                    Ok(now) if changed(&last, &now) => break (now, state, token),
                    Ok(_) => {}
                    // The database is away: look again at the next tick.
                    Err(e) => {
                        tracing::debug!(error = %e, "an event stream could not read its entry")
                    }
                }
            }
        }
        Watch::Done => return None,
    };
    let event = Event::default().json_data(&status).unwrap_or_default();
    let next = if status.status == QueueStatus::Expired {
        Watch::Done
    } else {
        Watch::Sent(status, state, token)
    };
    Some((Ok(event), next))
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
