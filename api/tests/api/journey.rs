//! The journey end to end, and the endpoints every client and probe uses.

use reqwest::StatusCode;
use serde_json::json;
use testkit::{json_of, spawn_app};

#[tokio::test]
async fn a_reservation_travels_from_http_through_kafka_to_a_final_status() {
    let app = spawn_app().await;
    let performance = app.add_performance(120_000).await;
    let (user, token) = app.active_user().await;

    let accepted = json_of(
        app.post(
            "/v1/reservations",
            Some(&token),
            json!({"performance_id": performance, "seat_number": 7}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(accepted["status"], "pending");
    let request_id = accepted["request_id"].as_str().unwrap_or_default();
    assert_eq!(accepted["status_url"], format!("/v1/requests/{request_id}"));

    let outcome = app.outcome(&token, request_id).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    assert_eq!(outcome["kind"], "reserve");
    assert_eq!(outcome["reason"], serde_json::Value::Null);
    let result = &outcome["result"];
    assert_eq!(result["performance_id"], performance);
    assert_eq!(result["seat_number"], 7);
    assert_eq!(result["price"], 120_000);
    assert!(result["held_until"].is_string());

    // The seat map and the user's reservations agree with the hold.
    let seats = app.seat_map(&token, performance).await;
    let seat7 = &seats["seats"][6];
    assert_eq!(seat7["seat_number"], 7);
    assert_eq!(seat7["status"], "held");
    let mine = app.reservations(&token).await;
    assert_eq!(mine[0]["reservation_id"], result["reservation_id"]);
    assert_eq!(mine[0]["status"], "held");

    let owner: uuid::Uuid = sqlx::query_scalar("select user_id from reservations")
        .fetch_one(&app.pool)
        .await
        .unwrap_or_default();
    assert_eq!(owner.to_string(), user);
}

#[tokio::test]
async fn health_is_ok_and_readiness_sees_postgres_and_kafka() {
    let app = spawn_app().await;
    json_of(app.get("/healthz", None).await, StatusCode::OK).await;
    let ready = json_of(app.get("/readyz", None).await, StatusCode::OK).await;
    assert_eq!(ready, json!({"database": true, "broker": true}));
}

#[tokio::test]
async fn every_response_carries_a_request_id_echoed_when_given() {
    let app = spawn_app().await;
    let generated = app.get("/healthz", None).await;
    assert!(generated.headers().contains_key("x-request-id"));
    let echoed = app
        .client
        .get(app.url("/v1/concerts"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        echoed
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-me-42")
    );
}
