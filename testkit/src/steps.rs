//! What a user does through the API, one step a helper: register, queue,
//! reserve, charge, pay, and read back. Each checks the status the step
//! answers when it succeeds, so a test states only what it is about.

use crate::app::TestApp;
use crate::client::{eventually, json_of, problem_code, problem_of, text};
use api::auth::user_key::UserKey;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

impl TestApp {
    /// Registers a user; returns its id (its key is remembered).
    pub async fn register(&self) -> String {
        let body = json_of(
            self.post("/v1/users", None, json!({})).await,
            StatusCode::CREATED,
        )
        .await;
        let user = body["user_id"].as_str().unwrap_or_default().to_owned();
        let key = body["user_key"].as_str().unwrap_or_default().to_owned();
        self.remember_key(&user, &key);
        user
    }

    /// `n` users made straight in the database (faster than registering
    /// each), each with a key the app knows.
    pub async fn new_users(&self, n: usize) -> Vec<String> {
        let users: Vec<(uuid::Uuid, UserKey)> = (0..n)
            .map(|_| (uuid::Uuid::new_v4(), UserKey::generate()))
            .collect();
        let ids: Vec<uuid::Uuid> = users.iter().map(|(id, _)| *id).collect();
        let hashes: Vec<Vec<u8>> = users.iter().map(|(_, key)| key.hash().to_vec()).collect();
        sqlx::query(
            "insert into users (user_id, key_hash) select * from unnest($1::uuid[], $2::bytea[])",
        )
        .bind(&ids)
        .bind(&hashes)
        .execute(&self.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        users
            .iter()
            .map(|(id, key)| {
                let id = id.to_string();
                self.remember_key(&id, key.expose());
                id
            })
            .collect()
    }

    /// Notes `key` as the user key of `user` (for users made in SQL).
    pub fn remember_key(&self, user: &str, key: &str) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.insert(user.to_owned(), key.to_owned());
        }
    }

    /// The key of a user this test registered.
    pub fn key_of(&self, user: &str) -> String {
        self.keys
            .lock()
            .ok()
            .and_then(|keys| keys.get(user).cloned())
            .unwrap_or_else(|| panic!("no key known for user {user}"))
    }

    /// `POST /v1/queue/tokens` for `user` with its key into the room of
    /// `concert`, on `base` (an API instance's URL).
    pub async fn enter_room_on(&self, base: &str, user: &str, concert: i64) -> Response {
        self.client
            .post(format!("{base}/v1/queue/tokens"))
            .bearer_auth(self.key_of(user))
            .json(&json!({"user_id": user, "concert_id": concert}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /v1/queue/tokens: {e}"))
    }

    /// `POST /v1/queue/tokens` for `user` into the house concert's room, on
    /// `base`.
    pub async fn enter_queue_on(&self, base: &str, user: &str) -> Response {
        self.enter_room_on(base, user, self.concert).await
    }

    /// `POST /v1/queue/tokens` for `user` into the room of `concert`.
    pub async fn enter_room(&self, user: &str, concert: i64) -> Response {
        self.enter_room_on(&self.address, user, concert).await
    }

    /// `POST /v1/queue/tokens` for `user` into the house concert's room.
    pub async fn enter_queue(&self, user: &str) -> Response {
        self.enter_queue_on(&self.address, user).await
    }

    /// Registers a user and waits until their token for the house concert is
    /// active.
    pub async fn active_user(&self) -> (String, String) {
        self.active_user_in(self.concert).await
    }

    /// Registers a user and waits until their token for `concert` is active.
    pub async fn active_user_in(&self, concert: i64) -> (String, String) {
        let user = self.register().await;
        let body = self.enter_room(&user, concert).await;
        let token = json_of(body, StatusCode::CREATED).await["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.wait_until_active(&token).await;
        (user, token)
    }

    /// Waits (polling, as a client does) until `token` is admitted.
    pub async fn wait_until_active(&self, token: &str) {
        eventually(Duration::from_secs(20), || async {
            self.queue_status(token).await["status"] == "active"
        })
        .await;
    }

    /// The body of `GET /v1/queue/status` for `token`.
    pub async fn queue_status(&self, token: &str) -> Value {
        json_of(
            self.get("/v1/queue/status", Some(token)).await,
            StatusCode::OK,
        )
        .await
    }

    /// The seat map of `performance`, as `token` (which must be active)
    /// reads it.
    pub async fn seat_map(&self, token: &str, performance: i64) -> Value {
        json_of(
            self.get(
                &format!("/v1/performances/{performance}/seats"),
                Some(token),
            )
            .await,
            StatusCode::OK,
        )
        .await
    }

    /// A seat's status on the seat map, as `token` (which must be active)
    /// sees it.
    pub async fn seat_status(&self, token: &str, performance: i64, seat: i64) -> String {
        let map = self.seat_map(token, performance).await;
        let found = map["seats"]
            .as_array()
            .and_then(|seats| seats.iter().find(|s| s["seat_number"] == seat))
            .unwrap_or_else(|| panic!("seat {seat} missing from {map}"));
        text(&found["status"])
    }

    /// The body of `GET /v1/reservations` for `token`: the caller's
    /// reservations.
    pub async fn reservations(&self, token: &str) -> Value {
        json_of(
            self.get("/v1/reservations", Some(token)).await,
            StatusCode::OK,
        )
        .await
    }

    /// Sends a reserve command; returns the request id.
    pub async fn reserve(&self, token: &str, performance: i64, seat: i64) -> String {
        let response = self
            .post(
                "/v1/reservations",
                Some(token),
                json!({"performance_id": performance, "seat_number": seat}),
            )
            .await;
        json_of(response, StatusCode::ACCEPTED).await["request_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Reserves a seat, waits for the hold, and returns its reservation id.
    pub async fn hold(&self, token: &str, performance: i64, seat: i64) -> String {
        let request = self.reserve(token, performance, seat).await;
        let outcome = self.outcome(token, &request).await;
        assert_eq!(outcome["status"], "succeeded", "{outcome}");
        text(&outcome["result"]["reservation_id"])
    }

    /// Long-polls a request until it is final.
    pub async fn outcome(&self, token: &str, request_id: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..6 {
            let response = self
                .get(
                    &format!("/v1/requests/{request_id}?wait_ms=10000"),
                    Some(token),
                )
                .await;
            last = json_of(response, StatusCode::OK).await;
            if last["status"] != "pending" {
                return last;
            }
        }
        panic!("request {request_id} still pending: {last}");
    }

    /// `POST /v1/reservations/{reservation}/cancel` with `credential` (a
    /// queue token or a user key) and no body.
    pub async fn cancel(&self, credential: &str, reservation: &str) -> Response {
        self.client
            .post(format!(
                "{}/v1/reservations/{reservation}/cancel",
                self.address
            ))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST cancel: {e}"))
    }

    /// Cancels `reservation` and waits for the outcome.
    pub async fn cancelled(&self, credential: &str, reservation: &str) -> Value {
        let accepted = json_of(
            self.cancel(credential, reservation).await,
            StatusCode::ACCEPTED,
        )
        .await;
        self.outcome(credential, &text(&accepted["request_id"]))
            .await
    }

    /// `POST /v1/balance/charges` of `amount`, without an idempotency key.
    pub async fn charge(&self, token: &str, amount: i64) -> Response {
        self.post(
            "/v1/balance/charges",
            Some(token),
            json!({"amount": amount}),
        )
        .await
    }

    /// `POST /v1/balance/charges` of `amount` with `Idempotency-Key: key`.
    pub async fn charge_with_key(&self, token: &str, key: &str, amount: i64) -> Response {
        self.post_keyed("/v1/balance/charges", token, key, json!({"amount": amount}))
            .await
    }

    /// The balance `GET /v1/balance` answers for `token`.
    pub async fn balance_of(&self, token: &str) -> i64 {
        let body = json_of(self.get("/v1/balance", Some(token)).await, StatusCode::OK).await;
        body["balance"]
            .as_i64()
            .unwrap_or_else(|| panic!("no balance in {body}"))
    }

    /// `POST /v1/payments` for `reservation`.
    pub async fn pay(&self, token: &str, reservation: &str) -> Response {
        self.post(
            "/v1/payments",
            Some(token),
            json!({"reservation_id": reservation}),
        )
        .await
    }

    /// Sends a payment; `Some(request_id)` when accepted, `None` when the API
    /// refused it because the token had already expired (by an earlier
    /// payment of the same user).
    pub async fn pay_accepted_or_token_expired(
        &self,
        token: &str,
        reservation: &str,
    ) -> Option<String> {
        let response = self.pay(token, reservation).await;
        match response.status() {
            StatusCode::ACCEPTED => Some(text(
                &json_of(response, StatusCode::ACCEPTED).await["request_id"],
            )),
            StatusCode::FORBIDDEN => {
                let problem = problem_of(response, StatusCode::FORBIDDEN).await;
                assert_eq!(problem_code(&problem), "TOKEN_NOT_ACTIVE", "{problem}");
                None
            }
            other => {
                let body = response.text().await.unwrap_or_default();
                panic!("payment answered {other}: {body}")
            }
        }
    }

    /// `POST /v1/performances/{performance}/waitlist` with `token`.
    pub async fn join_waitlist(&self, token: &str, performance: i64) -> Response {
        self.post(
            &format!("/v1/performances/{performance}/waitlist"),
            Some(token),
            json!({}),
        )
        .await
    }

    /// `DELETE /v1/performances/{performance}/waitlist` with `credential`.
    pub async fn leave_waitlist(&self, credential: &str, performance: i64) -> Response {
        self.client
            .delete(format!(
                "{}/v1/performances/{performance}/waitlist",
                self.address
            ))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE waitlist: {e}"))
    }
}
