//! The HTTP client side of a test: requests to an API instance and reading
//! their answers. Every helper panics with the request in the message when
//! the request itself fails, so a test reads as its steps.

use crate::app::TestApp;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

impl TestApp {
    /// The URL of `path` on the first API instance.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `POST path` with a JSON body and, when given, a bearer token.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.post_on(&self.address, path, token, body).await
    }

    /// [`TestApp::post`] on another API instance (`base` is its URL).
    pub async fn post_on(
        &self,
        base: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Response {
        let mut req = self.client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `POST path` with a bearer token and an `Idempotency-Key`, as a client
    /// sends a command or charge it may have to retry.
    pub async fn post_keyed(&self, path: &str, token: &str, key: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `GET path` with, when given, a bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }
}

/// The JSON body of `response`, after checking its status.
pub async fn json_of(response: Response, expected: StatusCode) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, expected, "unexpected status; body: {body}");
    body
}

/// The `content-type` of `response`, empty when it has none.
pub fn content_type(response: &Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The problem body of `response`, after checking its status and that it is
/// `application/problem+json`.
pub async fn problem_of(response: Response, expected: StatusCode) -> Value {
    let content_type = content_type(&response);
    let body = json_of(response, expected).await;
    assert_eq!(content_type, "application/problem+json", "{body}");
    body
}

/// The `code` of a problem body; empty when it has none.
pub fn problem_code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

/// A JSON string's text; panics on anything else.
pub fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}

/// `raw` as a UUID, to bind an id the API answered in SQL.
pub fn uuid_of(raw: &str) -> Uuid {
    Uuid::parse_str(raw).unwrap_or_else(|e| panic!("{raw:?} is not a UUID: {e}"))
}

/// Waits until `condition` holds, checking every 50 ms; fails after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
