//! Bad input is refused with problem+json and changes nothing.

use reqwest::StatusCode;
use serde_json::json;
use testkit::{json_of, problem_code, problem_of, spawn_app};

#[tokio::test]
async fn reservation_input_is_validated_before_anything_is_published() {
    let app = spawn_app().await;
    let performance = app.add_performance(10_000).await;
    let (_, token) = app.active_user().await;
    for (body, status, code) in [
        (
            json!({"performance_id": performance, "seat_number": 0}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"performance_id": performance, "seat_number": 51}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"performance_id": performance, "seat_number": "1"}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"performance_id": performance}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"performance_id": performance, "seat_number": 1, "x": 1}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            json!({"performance_id": 999_999, "seat_number": 1}),
            StatusCode::NOT_FOUND,
            "PERFORMANCE_NOT_FOUND",
        ),
    ] {
        let response = app
            .post("/v1/reservations", Some(&token), body.clone())
            .await;
        let problem = problem_of(response, status).await;
        assert_eq!(problem_code(&problem), code, "{body}");
    }
    assert_eq!(app.number("select count(*) from requests").await, 0);
}

#[tokio::test]
async fn missing_forged_or_inactive_tokens_are_refused() {
    let app = spawn_app().await;
    let performance = app.add_performance(10_000).await;
    let path = format!("/v1/performances/{performance}/seats");
    let missing = json_of(app.get(&path, None).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem_code(&missing), "INVALID_TOKEN");
    let forged = json_of(
        app.get(&path, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(problem_code(&forged), "INVALID_TOKEN");
    // A well-signed token for an entry that does not exist.
    let unknown = api::auth::token::TokenKey::new(app.settings.token_secret.clone())
        .issue(&domain::TokenId::new());
    let unknown = json_of(
        app.get(&path, Some(&unknown)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(problem_code(&unknown), "INVALID_TOKEN");
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_and_malformed_json_is_400() {
    let app = spawn_app().await;
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    let response = app
        .client
        .post(app.url("/v1/users"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let problem = json_of(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(problem_code(&problem), "PAYLOAD_TOO_LARGE");
    let response = app
        .client
        .post(app.url("/v1/queue/tokens"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        problem_code(&json_of(response, StatusCode::BAD_REQUEST).await),
        "VALIDATION_ERROR"
    );
    let unknown_user = app
        .post(
            "/v1/queue/tokens",
            Some(api::auth::user_key::UserKey::generate().expose()),
            json!({"user_id": uuid::Uuid::new_v4(), "concert_id": app.concert}),
        )
        .await;
    assert_eq!(
        problem_code(&json_of(unknown_user, StatusCode::NOT_FOUND).await),
        "USER_NOT_FOUND"
    );
    assert_eq!(app.number("select count(*) from users").await, 0);
}
