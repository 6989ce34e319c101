//! The admin endpoints (SPEC "admin" token): only `ADMIN_TOKEN` opens them,
//! they do not exist without it, what they make is bookable at once, and
//! the report adds up. Their input rules: `admin_rules.rs`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::admin::performance_body;
use testkit::{invariants, json_of, problem_code, problem_of, spawn_admin_app, spawn_app, text};

/// Every admin endpoint, with a body each would accept.
fn admin_calls(concert: i64, performance_id: i64) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::POST,
            "/v1/admin/concerts".into(),
            Some(json!({"title": "T", "artist": "A"})),
        ),
        (
            Method::PATCH,
            format!("/v1/admin/concerts/{concert}"),
            Some(json!({"queue_capacity": 3})),
        ),
        (
            Method::POST,
            format!("/v1/admin/concerts/{concert}/performances"),
            Some(performance_body(
                5,
                1,
                json!([{"from_seat": 1, "to_seat": 1, "price": 1}]),
            )),
        ),
        (
            Method::GET,
            format!("/v1/admin/performances/{performance_id}/report"),
            None,
        ),
    ]
}

#[tokio::test]
async fn a_wrong_or_missing_admin_token_is_401_and_writes_nothing() {
    let app = spawn_admin_app().await;
    let performance_id = app.add_performance(1_000).await;
    let (user, queue_token) = app.active_user().await;
    let before = app.catalog_counts().await;
    let wrong = format!("{}x", testkit::TEST_ADMIN_TOKEN);
    let user_key = app.key_of(&user);
    let credentials = [
        None,
        Some(wrong.as_str()),
        Some(user_key.as_str()),
        Some(queue_token.as_str()),
    ];
    for (method, path, body) in admin_calls(app.concert, performance_id) {
        for token in credentials {
            let response = app
                .request(method.clone(), &path, token, body.as_ref())
                .await;
            let problem = problem_of(response, StatusCode::UNAUTHORIZED).await;
            assert_eq!(problem_code(&problem), "INVALID_TOKEN", "{method} {path}");
            assert!(
                text(&problem["detail"]).contains("ADMIN_TOKEN"),
                "{problem}"
            );
        }
    }
    assert_eq!(app.catalog_counts().await, before);
}

#[tokio::test]
async fn without_an_admin_token_configured_every_admin_endpoint_is_404() {
    let app = spawn_app().await;
    let performance_id = app.add_performance(1_000).await;
    let before = app.catalog_counts().await;
    for (method, path, body) in admin_calls(app.concert, performance_id) {
        for token in [None, Some(testkit::TEST_ADMIN_TOKEN)] {
            let response = app
                .request(method.clone(), &path, token, body.as_ref())
                .await;
            let problem = problem_of(response, StatusCode::NOT_FOUND).await;
            assert_eq!(problem_code(&problem), "NOT_FOUND", "{method} {path}");
        }
    }
    assert_eq!(app.catalog_counts().await, before);
}

#[tokio::test]
async fn an_operator_makes_a_concert_and_a_priced_performance_that_users_can_book() {
    let app = spawn_admin_app().await;
    let concert = app
        .create_concert(
            &json!({"title": "  Spring Night Live ", "artist": "IU", "queue_capacity": 5}),
        )
        .await;
    assert_eq!(concert["title"], "Spring Night Live");
    assert_eq!(concert["artist"], "IU");
    assert_eq!(concert["sale_opens_at"], Value::Null);
    assert_eq!(concert["queue_capacity"], 5);
    let concert_id = concert["concert_id"].as_i64().unwrap_or_default();

    let listed = json_of(app.get("/v1/concerts", None).await, StatusCode::OK).await;
    let found = listed
        .as_array()
        .and_then(|all| all.iter().find(|c| c["concert_id"] == concert_id))
        .unwrap_or_else(|| panic!("concert {concert_id} not in {listed}"));
    assert_eq!(found["artist"], "IU");

    let prices = json!([
        {"from_seat": 6, "to_seat": 20, "price": 80_000},
        {"from_seat": 1, "to_seat": 5, "price": 150_000}
    ]);
    let made = app
        .create_performance(concert_id, &performance_body(10, 20, prices))
        .await;
    assert_eq!(made["concert_id"], concert_id);
    assert_eq!(made["total_seats"], 20);
    let performance_id = made["performance_id"].as_i64().unwrap_or_default();

    let (_, token) = app.active_user_in(concert_id).await;
    let path = format!("/v1/concerts/{concert_id}/performances");
    let dates = json_of(app.get(&path, Some(&token)).await, StatusCode::OK).await;
    assert_eq!(dates.as_array().map(Vec::len), Some(1), "{dates}");
    assert_eq!(dates[0]["performance_id"], performance_id);
    assert_eq!(dates[0]["available_seats"], 20);
    let map = app.seat_map(&token, performance_id).await;
    let seats = map["seats"].as_array().cloned().unwrap_or_default();
    let priced: Vec<(i64, i64)> = seats
        .iter()
        .map(|s| {
            (
                s["seat_number"].as_i64().unwrap_or(0),
                s["price"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let expected: Vec<(i64, i64)> = (1..=20)
        .map(|n| (n, if n <= 5 { 150_000 } else { 80_000 }))
        .collect();
    assert_eq!(priced, expected);
    // A seat past the last one does not exist.
    let request = app.reserve(&token, performance_id, 21).await;
    let outcome = app.outcome(&token, &request).await;
    assert_eq!(outcome["reason"], "SEAT_NOT_FOUND", "{outcome}");
}

#[tokio::test]
async fn the_report_adds_up_holds_payments_and_refunds() {
    let app = spawn_admin_app().await;
    let prices = json!([
        {"from_seat": 1, "to_seat": 4, "price": 100_000},
        {"from_seat": 5, "to_seat": 10, "price": 50_000}
    ]);
    let performance_id = app
        .create_performance(app.concert, &performance_body(10, 10, prices))
        .await["performance_id"]
        .as_i64()
        .unwrap_or_default();
    let fresh = app.report(performance_id).await;
    assert_eq!(
        fresh,
        json!({"performance_id": performance_id, "available": 10, "held": 0, "sold": 0,
               "revenue": 0, "refunded": 0, "waitlist": 0})
    );

    let (_, buyer) = app.active_user().await;
    json_of(app.charge(&buyer, 500_000).await, StatusCode::OK).await;
    let bought = app.hold(&buyer, performance_id, 1).await;
    let paid = json_of(app.pay(&buyer, &bought).await, StatusCode::ACCEPTED).await;
    let outcome = app.outcome(&buyer, &text(&paid["request_id"])).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    let (_, holder) = app.active_user().await;
    app.hold(&holder, performance_id, 6).await;

    let report = app.report(performance_id).await;
    assert_eq!(
        (&report["available"], &report["held"], &report["sold"]),
        (&json!(8), &json!(1), &json!(1))
    );
    assert_eq!(
        (&report["revenue"], &report["refunded"]),
        (&json!(100_000), &json!(0))
    );

    // The buyer cancels the paid seat (rule 10): refunded, the seat free.
    let cancelled = app.cancelled(&buyer, &bought).await;
    assert_eq!(cancelled["result"]["status"], "refunded", "{cancelled}");
    let report = app.report(performance_id).await;
    assert_eq!(
        (&report["available"], &report["held"], &report["sold"]),
        (&json!(9), &json!(1), &json!(0))
    );
    assert_eq!(
        (&report["revenue"], &report["refunded"]),
        (&json!(0), &json!(100_000))
    );

    // Someone else buys the freed seat: sold again, and the money adds up.
    let (_, second) = app.active_user().await;
    json_of(app.charge(&second, 100_000).await, StatusCode::OK).await;
    let resold = app.hold(&second, performance_id, 1).await;
    let paid = json_of(app.pay(&second, &resold).await, StatusCode::ACCEPTED).await;
    let outcome = app.outcome(&second, &text(&paid["request_id"])).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    let report = app.report(performance_id).await;
    assert_eq!(
        (&report["available"], &report["held"], &report["sold"]),
        (&json!(8), &json!(1), &json!(1))
    );
    assert_eq!(
        (&report["revenue"], &report["refunded"]),
        (&json!(100_000), &json!(100_000))
    );
    invariants::assert_holds(invariants::all(&app.pool).await);
}
