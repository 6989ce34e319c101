//! `GET /v1/queue/events`: the caller's place pushed as Server-Sent Events.

use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;
use testkit::{eventually, json_of, spawn_app_with, TestApp};

/// The `data:` events of an event stream, one at a time.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(app: &TestApp, token: &str) -> Self {
        let response = app.get("/v1/queue/events", Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = testkit::content_type(&response);
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's JSON; `None` when the stream has ended.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim)
                    .collect();
                if data.is_empty() {
                    continue; // a comment line (heartbeat)
                }
                return Some(serde_json::from_str(&data).unwrap_or_else(|e| panic!("{data}: {e}")));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within 20 s"))
                .unwrap_or_else(|e| panic!("{e}"))?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Ends the active turn of `token` now, as if its time ran out.
async fn run_out(app: &TestApp, token: &str) {
    let status = app.queue_status(token).await;
    assert_eq!(status["status"], "active", "{status}");
    sqlx::query("update queue_entries set active_until = now() where token_id = $1")
        .bind(app.token_id(token).0)
        .execute(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn the_event_stream_pushes_each_change_of_place_and_ends_after_the_entry_expires() {
    let app = spawn_app_with(&[("QUEUE_ACTIVE_CAPACITY", "1")]).await;
    let (_, first) = app.active_user().await;
    let users = app.new_users(2).await;
    let mut tokens = Vec::new();
    for user in &users {
        let entered = json_of(app.enter_queue(user).await, StatusCode::CREATED).await;
        tokens.push(entered["token"].as_str().unwrap_or_default().to_owned());
    }
    // Positions may be up to a second stale: wait until both show.
    eventually(Duration::from_secs(10), || async {
        app.queue_status(&tokens[1]).await["position"] == 2
    })
    .await;
    let mut events = Events::open(&app, &tokens[1]).await;
    let at_connect = events.next().await.unwrap_or_default();
    assert_eq!(
        (
            at_connect["status"].as_str(),
            at_connect["position"].as_u64()
        ),
        (Some("waiting"), Some(2))
    );
    assert_eq!(at_connect["concert_id"], app.concert);
    // The slot frees: the first waiting is admitted, the streamed one moves up.
    run_out(&app, &first).await;
    let moved = events.next().await.unwrap_or_default();
    assert_eq!(
        (moved["status"].as_str(), moved["position"].as_u64()),
        (Some("waiting"), Some(1))
    );
    run_out(&app, &tokens[0]).await;
    let admitted = events.next().await.unwrap_or_default();
    assert_eq!(admitted["status"], "active", "{admitted}");
    run_out(&app, &tokens[1]).await;
    let expired = events.next().await.unwrap_or_default();
    assert_eq!(expired["status"], "expired", "{expired}");
    assert!(
        events.next().await.is_none(),
        "the stream goes on after expiry"
    );
}

#[tokio::test]
async fn an_event_stream_needs_a_known_token() {
    let app = spawn_app_with(&[]).await;
    let response = app.get("/v1/queue/events", Some("not-a-token")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
