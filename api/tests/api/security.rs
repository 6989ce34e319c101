//! The attacks of issue 13, each replayed against the running stack: what
//! used to do harm must now fail to.

use reqwest::StatusCode;
use serde_json::json;
use testkit::{json_of, problem_code, spawn_app, spawn_app_with, TestApp};

/// A user with a hold on a fresh seat and money to pay for it; returns the
/// user, their active token and the reservation.
async fn user_with_a_hold(app: &TestApp) -> (String, String, String) {
    let (user, token) = app.active_user().await;
    let performance = app.add_performance(50_000).await;
    let reservation = app.hold(&token, performance, 3).await;
    json_of(app.charge(&token, 100_000).await, StatusCode::OK).await;
    (user, token, reservation)
}

#[tokio::test]
async fn a_victims_user_id_alone_gets_no_queue_token() {
    let app = spawn_app().await;
    let (victim, victim_token) = app.active_user().await;
    let attacker = app.register().await;

    // The attack of the issue: the victim's id, no credential.
    let bare = app
        .post(
            "/v1/queue/tokens",
            None,
            json!({"user_id": victim, "concert_id": app.concert}),
        )
        .await;
    let problem = json_of(bare, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem_code(&problem), "INVALID_CREDENTIALS");
    assert!(problem.get("token").is_none());

    // With the attacker's own key, or the victim's queue token, or garbage.
    for credential in [
        app.key_of(&attacker),
        victim_token.clone(),
        "uk_not-a-key".to_owned(),
    ] {
        let response = app
            .post(
                "/v1/queue/tokens",
                Some(&credential),
                json!({"user_id": victim, "concert_id": app.concert}),
            )
            .await;
        let problem = json_of(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(problem_code(&problem), "INVALID_CREDENTIALS");
    }

    // The victim's own key still works and gives back their own place.
    let own = app.enter_queue(&victim).await;
    let entry = json_of(own, StatusCode::OK).await;
    assert_eq!(entry["token"], victim_token.as_str());
}

#[tokio::test]
async fn the_user_key_opens_the_any_endpoints_and_only_the_users_own_data() {
    let app = spawn_app().await;
    let (user, token, _) = user_with_a_hold(&app).await;
    let key = app.key_of(&user);

    let balance = json_of(app.get("/v1/balance", Some(&key)).await, StatusCode::OK).await;
    assert_eq!(balance["user_id"], user.as_str());
    assert_eq!(balance["balance"], 100_000);
    let by_token = json_of(app.get("/v1/balance", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(balance, by_token);
    let reservations = app.reservations(&key).await;
    assert_eq!(reservations.as_array().map(Vec::len), Some(1));

    // Another user's key reads that user's data, never this one's.
    let other = app.register().await;
    let theirs = json_of(
        app.get("/v1/balance", Some(&app.key_of(&other))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(theirs["user_id"], other.as_str());
    assert_eq!(theirs["balance"], 0);

    // A key of the right shape that nobody has is an invalid credential.
    let stranger = api::auth::user_key::UserKey::generate();
    let refused = app.get("/v1/balance", Some(stranger.expose())).await;
    let problem = json_of(refused, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem_code(&problem), "INVALID_TOKEN");

    // A key is not a queue token: commands still need an active token.
    let command = app
        .post(
            "/v1/reservations",
            Some(&key),
            json!({"performance_id": 1, "seat_number": 1}),
        )
        .await;
    assert_eq!(command.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn only_a_hash_of_the_user_key_is_stored() {
    let app = spawn_app().await;
    let user = app.register().await;
    let key = app.key_of(&user);
    assert!(key.len() >= 3 + 22, "at least 128 bits: {key}");
    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("select key_hash from users where user_id = $1::uuid")
            .bind(&user)
            .fetch_one(&app.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let stored = stored.unwrap_or_default();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(&key));
}

#[tokio::test]
async fn a_payment_retried_with_its_key_after_success_gets_the_original_202() {
    let app = spawn_app().await;
    let (_, token, reservation) = user_with_a_hold(&app).await;
    let pay = |token: String, body: serde_json::Value| {
        let app = &app;
        async move {
            app.post_keyed("/v1/payments", &token, "pay-once", body)
                .await
        }
    };
    let body = json!({"reservation_id": reservation});
    let first = json_of(pay(token.clone(), body.clone()).await, StatusCode::ACCEPTED).await;
    let outcome = app
        .outcome(&token, first["request_id"].as_str().unwrap_or_default())
        .await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    // The payment expired the token (rule 5) ...
    let status = app.queue_status(&token).await;
    assert_eq!(status["status"], "expired");

    // ... yet the unsure client's retry gets the original answer, not 403.
    let retry = json_of(pay(token.clone(), body).await, StatusCode::ACCEPTED).await;
    assert_eq!(retry, first);
    assert_eq!(app.number("select count(*) from payments").await, 1);

    // The same key with another body is still refused, and a new command
    // with the expired token is still not active.
    let other = json!({"reservation_id": uuid::Uuid::new_v4()});
    let reused = pay(token.clone(), other).await;
    let problem = json_of(reused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem_code(&problem), "IDEMPOTENCY_KEY_REUSED");
    let fresh = app.pay(&token, &reservation).await;
    let problem = json_of(fresh, StatusCode::FORBIDDEN).await;
    assert_eq!(problem_code(&problem), "TOKEN_NOT_ACTIVE");
}

/// `POST /v1/users` with `X-Forwarded-For: forwarded` when given.
async fn register_from(app: &TestApp, forwarded: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(app.url("/v1/users")).json(&json!({}));
    if let Some(hop) = forwarded {
        request = request.header("x-forwarded-for", hop);
    }
    request.send().await.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn one_address_cannot_register_or_queue_past_its_limit() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_IP_PER_MINUTE", "3")]).await;
    let mut users = Vec::new();
    for _ in 0..3 {
        users.push(app.register().await);
    }
    // The bot's fourth registration in the minute, even with a made-up
    // X-Forwarded-For (the peer is not a trusted proxy).
    for forwarded in [None, Some("198.51.100.1")] {
        let refused = register_from(&app, forwarded).await;
        let retry_after: u64 = refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After: {:?}", refused.headers()));
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let problem = json_of(refused, StatusCode::TOO_MANY_REQUESTS).await;
        assert_eq!(problem_code(&problem), "RATE_LIMITED");
    }
    assert_eq!(app.number("select count(*) from users").await, 3);

    // Queue entry has a budget of its own: three users get in, and a
    // fourth entry (re-entering included) is refused.
    for user in &users {
        let entered = app.enter_queue(user).await;
        assert_eq!(entered.status(), StatusCode::CREATED);
    }
    let again = app.enter_queue(&users[0]).await;
    let problem = json_of(again, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(problem_code(&problem), "RATE_LIMITED");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_PER_IP_PER_MINUTE", "2"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    for _ in 0..2 {
        let ok = register_from(&app, Some("198.51.100.1")).await;
        assert_eq!(ok.status(), StatusCode::CREATED);
    }
    let refused = register_from(&app, Some("198.51.100.1")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // A spoofed first hop does not help: the proxy appended the real one.
    let spoofed = register_from(&app, Some("203.0.113.50, 198.51.100.1")).await;
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not held up.
    let other = register_from(&app, Some("198.51.100.2")).await;
    assert_eq!(other.status(), StatusCode::CREATED);
}
