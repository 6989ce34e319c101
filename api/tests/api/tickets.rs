//! `GET /v1/tickets`: the caller's paid seats with their concert, soonest
//! performance first, with the user's key or any of their tokens.

use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::admin::performance_body;
use testkit::{json_of, problem_code, problem_of, spawn_admin_app, text, uuid_of, TestApp};

/// A one-price performance of the house concert starting in `days` days.
async fn performance_in(app: &TestApp, days: i64, price: i64) -> i64 {
    let prices = json!([{"from_seat": 1, "to_seat": 50, "price": price}]);
    let body = performance_body(days, 50, prices);
    app.create_performance(app.concert, &body).await["performance_id"]
        .as_i64()
        .unwrap_or_default()
}

/// `user` enters the house room again (paying ends a turn), holds `seat`
/// and pays for it; returns the token used.
async fn buy(app: &TestApp, user: &str, performance: i64, seat: i64) -> String {
    let entered = app.enter_queue(user).await;
    let token = text(&json_of(entered, StatusCode::CREATED).await["token"]);
    app.wait_until_active(&token).await;
    let reservation = app.hold(&token, performance, seat).await;
    let paid = json_of(app.pay(&token, &reservation).await, StatusCode::ACCEPTED).await;
    let outcome = app.outcome(&token, &text(&paid["request_id"])).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    token
}

fn tickets_of(body: &Value) -> Vec<Value> {
    body.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {body}"))
        .clone()
}

#[tokio::test]
async fn tickets_list_the_callers_paid_seats_with_concert_and_artist_soonest_first() {
    let app = spawn_admin_app().await;
    let later = performance_in(&app, 20, 70_000).await;
    let sooner = performance_in(&app, 10, 90_000).await;
    let user = app.register().await;
    let key = app.key_of(&user);
    assert_eq!(
        json_of(app.get("/v1/tickets", Some(&key)).await, StatusCode::OK).await,
        json!([])
    );
    json_of(app.charge(&key, 500_000).await, StatusCode::OK).await;
    let first_token = buy(&app, &user, later, 3).await;
    buy(&app, &user, sooner, 7).await;
    // Someone else's seat and an unpaid hold are no tickets of this user.
    let (_, other) = app.active_user().await;
    json_of(app.charge(&other, 100_000).await, StatusCode::OK).await;
    app.hold(&other, sooner, 8).await;

    let with_key = json_of(app.get("/v1/tickets", Some(&key)).await, StatusCode::OK).await;
    // An expired queue token of the user is "any" credential too.
    let with_token = json_of(
        app.get("/v1/tickets", Some(&first_token)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(with_key, with_token);
    let tickets = tickets_of(&with_key);
    let seats: Vec<(i64, i64)> = tickets
        .iter()
        .map(|t| {
            (
                t["performance_id"].as_i64().unwrap_or(0),
                t["seat_number"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(seats, vec![(sooner, 7), (later, 3)]);
    let first = &tickets[0];
    assert_eq!(first["concert_id"], app.concert);
    assert_eq!(first["title"], "Test");
    assert_eq!(first["artist"], "Tester");
    assert_eq!(first["price"], 90_000);
    assert_eq!(first["status"], "paid");
    let stored: (uuid::Uuid, uuid::Uuid) =
        sqlx::query_as("select payment_id, reservation_id from payments where reservation_id = $1")
            .bind(uuid_of(&text(&first["reservation_id"])))
            .fetch_one(&app.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(uuid_of(&text(&first["payment_id"])), stored.0);
    for field in ["starts_at", "paid_at"] {
        assert!(
            chrono::DateTime::parse_from_rfc3339(&text(&first[field])).is_ok(),
            "{field}"
        );
    }

    // A seat cancelled with a refund (rule 10) stays on the list, marked so.
    let cancelled = app
        .cancelled(&key, &text(&tickets[1]["reservation_id"]))
        .await;
    assert_eq!(cancelled["result"]["status"], "refunded", "{cancelled}");
    let after = json_of(app.get("/v1/tickets", Some(&key)).await, StatusCode::OK).await;
    assert_eq!(after[1]["status"], "refunded");
    assert_eq!(after[0]["status"], "paid");
}

#[tokio::test]
async fn tickets_need_a_credential_of_the_user() {
    let app = spawn_admin_app().await;
    for token in [None, Some("not-a-token")] {
        let problem = problem_of(
            app.get("/v1/tickets", token).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(problem_code(&problem), "INVALID_TOKEN");
    }
}
