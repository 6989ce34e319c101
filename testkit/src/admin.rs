//! What an operator does through the admin endpoints: make concerts and
//! performances, change them and read reports, with the test's
//! `ADMIN_TOKEN`.

use crate::app::{spawn_app_with, TestApp};
use crate::client::json_of;
use chrono::{Duration, SecondsFormat, Utc};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

/// The `ADMIN_TOKEN` of [`spawn_admin_app`]'s stack.
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// A stack with the admin endpoints on ([`TEST_ADMIN_TOKEN`]).
pub async fn spawn_admin_app() -> TestApp {
    spawn_app_with(&[("ADMIN_TOKEN", TEST_ADMIN_TOKEN)]).await
}

/// `now + days` as the RFC 3339 text a body carries.
pub fn rfc3339_in(days: i64) -> String {
    (Utc::now() + Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The body of a performance of `total` seats starting in `days` days,
/// priced by `prices` (`[{"from_seat", "to_seat", "price"}]`).
pub fn performance_body(days: i64, total: i64, prices: Value) -> Value {
    json!({"starts_at": rfc3339_in(days), "total_seats": total, "prices": prices})
}

impl TestApp {
    /// How many concerts and performances there are, and the sum of the
    /// concerts' own room sizes: to check that a refused admin call wrote
    /// nothing.
    pub async fn catalog_counts(&self) -> (i64, i64, i64) {
        (
            self.number("select count(*) from concerts").await,
            self.number("select count(*) from performances").await,
            self.number("select coalesce(sum(queue_capacity), 0)::bigint from concerts")
                .await,
        )
    }

    /// `method path` with, when given, a bearer `token` and a JSON body: for
    /// admin calls with any credential.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// `method path` as the operator (with [`TEST_ADMIN_TOKEN`]).
    pub async fn as_admin(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        self.request(method, path, Some(TEST_ADMIN_TOKEN), body)
            .await
    }

    /// `POST /v1/admin/concerts` with `body`; the `201` answer.
    pub async fn create_concert(&self, body: &Value) -> Value {
        let response = self
            .as_admin(Method::POST, "/v1/admin/concerts", Some(body))
            .await;
        json_of(response, StatusCode::CREATED).await
    }

    /// `POST /v1/admin/concerts/{concert}/performances` with `body`; the
    /// `201` answer.
    pub async fn create_performance(&self, concert: i64, body: &Value) -> Value {
        let path = format!("/v1/admin/concerts/{concert}/performances");
        let response = self.as_admin(Method::POST, &path, Some(body)).await;
        json_of(response, StatusCode::CREATED).await
    }

    /// `GET /v1/admin/performances/{performance}/report`; the `200` answer.
    pub async fn report(&self, performance: i64) -> Value {
        let path = format!("/v1/admin/performances/{performance}/report");
        json_of(
            self.as_admin(Method::GET, &path, None).await,
            StatusCode::OK,
        )
        .await
    }
}
