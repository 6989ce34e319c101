//! The admin endpoints (SPEC "admin" token): only `ADMIN_TOKEN` opens them,
//! they do not exist without it, and what they make is bookable at once;
//! every bad input is a `400` naming its field, and nothing is written.

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{json_of, problem_code, problem_of, spawn_admin_app, spawn_app, text, TestApp};

/// `now + days` as the RFC 3339 text a body carries.
fn in_days(days: i64) -> String {
    (Utc::now() + Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A performance body of `total` seats starting in `days` days.
fn performance(days: i64, total: i64, prices: Value) -> Value {
    json!({"starts_at": in_days(days), "total_seats": total, "prices": prices})
}

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
            Some(performance(
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

async fn counts(app: &TestApp) -> (i64, i64, i64) {
    (
        app.number("select count(*) from concerts").await,
        app.number("select count(*) from performances").await,
        app.number("select coalesce(sum(queue_capacity), 0)::bigint from concerts")
            .await,
    )
}

#[tokio::test]
async fn a_wrong_or_missing_admin_token_is_401_and_writes_nothing() {
    let app = spawn_admin_app().await;
    let performance_id = app.add_performance(1_000).await;
    let (user, queue_token) = app.active_user().await;
    let before = counts(&app).await;
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
        }
    }
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn without_an_admin_token_configured_every_admin_endpoint_is_404() {
    let app = spawn_app().await;
    let performance_id = app.add_performance(1_000).await;
    let before = counts(&app).await;
    for (method, path, body) in admin_calls(app.concert, performance_id) {
        for token in [None, Some(testkit::TEST_ADMIN_TOKEN)] {
            let response = app
                .request(method.clone(), &path, token, body.as_ref())
                .await;
            let problem = problem_of(response, StatusCode::NOT_FOUND).await;
            assert_eq!(problem_code(&problem), "NOT_FOUND", "{method} {path}");
        }
    }
    assert_eq!(counts(&app).await, before);
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
        .create_performance(concert_id, &performance(10, 20, prices))
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
async fn a_sale_opening_moves_only_before_the_sale_opens_and_never_past_the_first_date() {
    let app = spawn_admin_app().await;
    let opening = in_days(2);
    let concert = app
        .create_concert(&json!({"title": "Later", "artist": "B", "sale_opens_at": opening}))
        .await;
    let id = concert["concert_id"].as_i64().unwrap_or_default();
    assert_eq!(text(&concert["sale_opens_at"]).get(..16), opening.get(..16));
    app.create_performance(
        id,
        &performance(10, 1, json!([{"from_seat": 1, "to_seat": 1, "price": 9}])),
    )
    .await;
    let path = format!("/v1/admin/concerts/{id}");
    let patch = |body: Value| {
        let path = path.clone();
        let app = &app;
        async move { app.as_admin(Method::PATCH, &path, Some(&body)).await }
    };

    let later = in_days(3);
    let changed = json_of(
        patch(json!({"sale_opens_at": later, "queue_capacity": 7})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["queue_capacity"], 7);
    assert_eq!(changed["title"], "Later");
    let stored = app
        .number(&format!("select extract(epoch from sale_opens_at)::bigint from concerts where concert_id = {id}"))
        .await;
    assert_eq!(
        Some(stored),
        chrono::DateTime::parse_from_rfc3339(&later)
            .ok()
            .map(|t| t.timestamp())
    );

    for (body, field) in [
        (
            json!({"sale_opens_at": in_days(-1)}),
            "sale_opens_at must be in the future",
        ),
        (json!({"sale_opens_at": in_days(11)}), "first performance"),
        (json!({"sale_opens_at": "soon"}), "sale_opens_at"),
        (json!({"queue_capacity": 0}), "queue_capacity"),
        (json!({}), "nothing to change"),
        (json!({"title": "x"}), "unknown field"),
    ] {
        let problem = problem_of(patch(body.clone()).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem_code(&problem), "VALIDATION_ERROR", "{body}");
        assert!(
            text(&problem["detail"]).contains(field),
            "{body}: {problem}"
        );
    }

    // The house concert is on sale: its opening is fixed, its room is not.
    let house = format!("/v1/admin/concerts/{}", app.concert);
    let response = app
        .as_admin(
            Method::PATCH,
            &house,
            Some(&json!({"sale_opens_at": in_days(1)})),
        )
        .await;
    let problem = problem_of(response, StatusCode::CONFLICT).await;
    assert_eq!(problem_code(&problem), "SALE_ALREADY_OPEN");
    let response = app
        .as_admin(Method::PATCH, &house, Some(&json!({"queue_capacity": 2})))
        .await;
    assert_eq!(json_of(response, StatusCode::OK).await["queue_capacity"], 2);

    let response = app
        .as_admin(
            Method::PATCH,
            "/v1/admin/concerts/999999",
            Some(&json!({"queue_capacity": 2})),
        )
        .await;
    let problem = problem_of(response, StatusCode::NOT_FOUND).await;
    assert_eq!(problem_code(&problem), "CONCERT_NOT_FOUND");
    assert_eq!(
        app.number(&format!("select extract(epoch from sale_opens_at)::bigint from concerts where concert_id = {id}")).await,
        stored,
        "a refused change changed nothing"
    );
}

#[tokio::test]
async fn bad_concerts_and_performances_are_refused_naming_the_field_and_write_nothing() {
    let app = spawn_admin_app().await;
    let opens_late = app
        .create_concert(&json!({"title": "Late", "artist": "C", "sale_opens_at": in_days(20)}))
        .await["concert_id"]
        .as_i64()
        .unwrap_or_default();
    let before = counts(&app).await;
    let one =
        |from: i64, to: i64, price: i64| json!({"from_seat": from, "to_seat": to, "price": price});
    let house = app.concert;
    let cases: Vec<(i64, Value, &str)> = vec![
        (
            house,
            performance(5, 10, json!([one(1, 6, 10), one(5, 10, 20)])),
            "overlaps",
        ),
        (
            house,
            performance(5, 10, json!([one(1, 4, 10), one(6, 10, 20)])),
            "seat 5",
        ),
        (
            house,
            performance(5, 51, json!([one(1, 51, 10)])),
            "total_seats",
        ),
        (
            house,
            performance(5, 0, json!([one(1, 1, 10)])),
            "total_seats",
        ),
        (
            house,
            performance(5, 10, json!([one(0, 10, 10)])),
            "prices[0].from_seat",
        ),
        (
            house,
            performance(5, 10, json!([one(1, 11, 10)])),
            "prices[0].to_seat",
        ),
        (
            house,
            performance(5, 10, json!([one(1, 10, 0)])),
            "prices[0].price",
        ),
        (house, performance(5, 10, json!([])), "prices"),
        (
            house,
            performance(-1, 10, json!([one(1, 10, 10)])),
            "starts_at must be in the future",
        ),
        (
            opens_late,
            performance(10, 10, json!([one(1, 10, 10)])),
            "sale_opens_at",
        ),
        (
            house,
            json!({"starts_at": "2030-13-01", "total_seats": 1, "prices": [one(1, 1, 1)]}),
            "starts_at",
        ),
        (
            house,
            json!({"starts_at": in_days(5), "total_seats": 1, "prices": [one(1, 1, 1)], "x": 1}),
            "unknown field",
        ),
    ];
    for (concert, body, field) in cases {
        let path = format!("/v1/admin/concerts/{concert}/performances");
        let response = app.as_admin(Method::POST, &path, Some(&body)).await;
        let problem = problem_of(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem_code(&problem), "VALIDATION_ERROR", "{body}");
        assert!(
            text(&problem["detail"]).contains(field),
            "{body}: {problem}"
        );
    }
    for (body, field) in [
        (json!({"title": "  ", "artist": "A"}), "title"),
        (json!({"title": "T", "artist": "A".repeat(201)}), "artist"),
        (
            json!({"title": "T", "artist": "A", "queue_capacity": 0}),
            "queue_capacity",
        ),
        (
            json!({"title": "T", "artist": "A", "sale_opens_at": "friday"}),
            "sale_opens_at",
        ),
        (json!({"title": "T"}), "artist"),
    ] {
        let response = app
            .as_admin(Method::POST, "/v1/admin/concerts", Some(&body))
            .await;
        let problem = problem_of(response, StatusCode::BAD_REQUEST).await;
        assert!(
            text(&problem["detail"]).contains(field),
            "{body}: {problem}"
        );
    }
    let path = "/v1/admin/concerts/999999/performances";
    let body = performance(5, 1, json!([one(1, 1, 1)]));
    let problem = problem_of(
        app.as_admin(Method::POST, path, Some(&body)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(problem_code(&problem), "CONCERT_NOT_FOUND");
    let response = app
        .as_admin(Method::GET, "/v1/admin/performances/999999/report", None)
        .await;
    let problem = problem_of(response, StatusCode::NOT_FOUND).await;
    assert_eq!(problem_code(&problem), "PERFORMANCE_NOT_FOUND");
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn the_report_adds_up_holds_payments_and_refunds() {
    let app = spawn_admin_app().await;
    let prices = json!([
        {"from_seat": 1, "to_seat": 4, "price": 100_000},
        {"from_seat": 5, "to_seat": 10, "price": 50_000}
    ]);
    let performance_id = app
        .create_performance(app.concert, &performance(10, 10, prices))
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

    // A refund as rule 10's cancel leaves it: the reservation refunded, the
    // seat free again.
    sqlx::query(
        "with r as (update reservations set status = 'refunded'
                     where reservation_id = $1 returning performance_id, seat_number)
         update seats s set sold = false, reservation_id = null, held_until = null
           from r where s.performance_id = r.performance_id and s.seat_number = r.seat_number",
    )
    .bind(testkit::uuid_of(&bought))
    .execute(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let report = app.report(performance_id).await;
    assert_eq!(
        (&report["available"], &report["held"], &report["sold"]),
        (&json!(9), &json!(1), &json!(0))
    );
    assert_eq!(
        (&report["revenue"], &report["refunded"]),
        (&json!(0), &json!(100_000))
    );
}
