//! Seat holds through Kafka (SPEC rules 3 and 4).

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use testkit::{eventually, json_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_hundred_users_race_for_one_seat_and_exactly_one_wins() {
    let mut app = spawn_app_with(&[("QUEUE_ACTIVE_CAPACITY", "200")]).await;
    let second_api = app.start_api().await;
    app.start_worker().await;
    let performance = app.add_performance(30_000).await;
    let users = join_all((0..100).map(|_| app.active_user())).await;
    let requests = join_all(users.iter().enumerate().map(|(i, (_, token))| {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            second_api.clone()
        };
        let app = &app;
        async move {
            let response = app
                .post_on(
                    &base,
                    "/v1/reservations",
                    Some(token),
                    json!({"performance_id": performance, "seat_number": 25}),
                )
                .await;
            let id = json_of(response, StatusCode::ACCEPTED).await["request_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            app.outcome(token, &id).await
        }
    }))
    .await;
    let won = requests
        .iter()
        .filter(|o| o["status"] == "succeeded")
        .count();
    let taken = requests
        .iter()
        .filter(|o| o["reason"] == "SEAT_TAKEN")
        .count();
    assert_eq!((won, taken), (1, 99));
    assert_eq!(app.number("select count(*) from reservations").await, 1);
    assert_eq!(app.seat_status(&users[0].1, performance, 25).await, "held");
}

#[tokio::test]
async fn a_lapsed_hold_frees_the_seat_and_reads_expired() {
    let app = spawn_app_with(&[("HOLD_TTL_SECONDS", "1")]).await;
    let performance = app.add_performance(30_000).await;
    let (_, first) = app.active_user().await;
    let (_, second) = app.active_user().await;
    let held = app
        .outcome(&first, &app.reserve(&first, performance, 4).await)
        .await;
    assert_eq!(held["status"], "succeeded");
    eventually(Duration::from_secs(10), || async {
        app.seat_status(&second, performance, 4).await == "available"
    })
    .await;
    let mine = app.reservations(&first).await;
    assert_eq!(mine[0]["status"], "expired");
    let again = app
        .outcome(&second, &app.reserve(&second, performance, 4).await)
        .await;
    assert_eq!(again["status"], "succeeded", "{again}");
    // The sweeper marks the lapsed hold expired in the table too.
    eventually(Duration::from_secs(10), || async {
        app.number(
            "select count(*) from reservations where status = 'held' and held_until <= now()",
        )
        .await
            == 0
    })
    .await;
}

#[tokio::test]
async fn a_user_at_the_hold_limit_is_refused_another_seat() {
    let app = spawn_app().await;
    let performance = app.add_performance(30_000).await;
    let (_, token) = app.active_user().await;
    let first = app
        .outcome(&token, &app.reserve(&token, performance, 1).await)
        .await;
    assert_eq!(first["status"], "succeeded");
    let second = app
        .outcome(&token, &app.reserve(&token, performance, 2).await)
        .await;
    assert_eq!(second["status"], "rejected");
    assert_eq!(second["reason"], "HOLD_LIMIT");
    assert_eq!(second["result"], Value::Null);
    assert_eq!(app.seat_status(&token, performance, 2).await, "available");
}

#[tokio::test]
async fn reserving_a_held_seat_is_seat_taken() {
    let app = spawn_app().await;
    let performance = app.add_performance(30_000).await;
    let (_, a) = app.active_user().await;
    let (_, b) = app.active_user().await;
    assert_eq!(
        app.outcome(&a, &app.reserve(&a, performance, 8).await)
            .await["status"],
        "succeeded"
    );
    let taken = app
        .outcome(&b, &app.reserve(&b, performance, 8).await)
        .await;
    assert_eq!(taken["reason"], "SEAT_TAKEN");
}

#[tokio::test]
async fn only_the_requesting_user_can_read_a_request() {
    let app = spawn_app().await;
    let performance = app.add_performance(30_000).await;
    let (_, a) = app.active_user().await;
    let (_, b) = app.active_user().await;
    let request = app.reserve(&a, performance, 3).await;
    let other = json_of(
        app.get(&format!("/v1/requests/{request}"), Some(&b)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(other["code"], "REQUEST_NOT_FOUND");
    let bad = json_of(
        app.get("/v1/requests/not-a-uuid", Some(&a)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(bad["code"], "VALIDATION_ERROR");
    let too_long = json_of(
        app.get(&format!("/v1/requests/{request}?wait_ms=10001"), Some(&a))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(too_long["code"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn a_reserve_retried_with_its_idempotency_key_is_one_command() {
    let app = spawn_app().await;
    let performance = app.add_performance(30_000).await;
    let (_, token) = app.active_user().await;
    let send = |seat: i64| {
        app.post_keyed(
            "/v1/reservations",
            &token,
            "seat-please",
            json!({"performance_id": performance, "seat_number": seat}),
        )
    };
    let first = json_of(send(6).await, StatusCode::ACCEPTED).await;
    let again = json_of(send(6).await, StatusCode::ACCEPTED).await;
    assert_eq!(first, again);
    let request = first["request_id"].as_str().unwrap_or_default();
    assert_eq!(app.outcome(&token, request).await["status"], "succeeded");
    // After the outcome, a retry still answers the original response.
    let late = json_of(send(6).await, StatusCode::ACCEPTED).await;
    assert_eq!(late, first);
    let reused = json_of(send(7).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(reused["code"], "IDEMPOTENCY_KEY_REUSED");
    let holds = app.number("select count(*) from reservations").await;
    let requests = app.number("select count(*) from requests").await;
    assert_eq!((holds, requests), (1, 1));
}
