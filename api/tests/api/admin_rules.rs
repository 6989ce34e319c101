//! The admin endpoints' rules: a sale's opening moves only before the sale
//! opens and never past the first date; a bad concert or performance is a
//! `400` naming its field, and nothing is written.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::admin::{performance_body, rfc3339_in};
use testkit::{json_of, problem_code, problem_of, spawn_admin_app, text};

#[tokio::test]
async fn a_sale_opening_moves_only_before_the_sale_opens_and_never_past_the_first_date() {
    let app = spawn_admin_app().await;
    let opening = rfc3339_in(2);
    let concert = app
        .create_concert(&json!({"title": "Later", "artist": "B", "sale_opens_at": opening}))
        .await;
    let id = concert["concert_id"].as_i64().unwrap_or_default();
    assert_eq!(text(&concert["sale_opens_at"]).get(..16), opening.get(..16));
    app.create_performance(
        id,
        &performance_body(10, 1, json!([{"from_seat": 1, "to_seat": 1, "price": 9}])),
    )
    .await;
    let path = format!("/v1/admin/concerts/{id}");
    let patch = |body: Value| {
        let path = path.clone();
        let app = &app;
        async move { app.as_admin(Method::PATCH, &path, Some(&body)).await }
    };

    let later = rfc3339_in(3);
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
            json!({"sale_opens_at": rfc3339_in(-1)}),
            "sale_opens_at must be in the future",
        ),
        (
            json!({"sale_opens_at": rfc3339_in(11)}),
            "first performance",
        ),
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
            Some(&json!({"sale_opens_at": rfc3339_in(1)})),
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
        .create_concert(&json!({"title": "Late", "artist": "C", "sale_opens_at": rfc3339_in(20)}))
        .await["concert_id"]
        .as_i64()
        .unwrap_or_default();
    let before = app.catalog_counts().await;
    let one =
        |from: i64, to: i64, price: i64| json!({"from_seat": from, "to_seat": to, "price": price});
    let house = app.concert;
    let cases: Vec<(i64, Value, &str)> = vec![
        (
            house,
            performance_body(5, 10, json!([one(1, 6, 10), one(5, 10, 20)])),
            "overlaps",
        ),
        (
            house,
            performance_body(5, 10, json!([one(1, 4, 10), one(6, 10, 20)])),
            "seat 5",
        ),
        (
            house,
            performance_body(5, 51, json!([one(1, 51, 10)])),
            "total_seats",
        ),
        (
            house,
            performance_body(5, 0, json!([one(1, 1, 10)])),
            "total_seats",
        ),
        (
            house,
            performance_body(5, 10, json!([one(0, 10, 10)])),
            "prices[0].from_seat",
        ),
        (
            house,
            performance_body(5, 10, json!([one(1, 11, 10)])),
            "prices[0].to_seat",
        ),
        (
            house,
            performance_body(5, 10, json!([one(1, 10, 0)])),
            "prices[0].price",
        ),
        (house, performance_body(5, 10, json!([])), "prices"),
        (
            house,
            performance_body(-1, 10, json!([one(1, 10, 10)])),
            "starts_at must be in the future",
        ),
        (
            opens_late,
            performance_body(10, 10, json!([one(1, 10, 10)])),
            "sale_opens_at",
        ),
        (
            house,
            json!({"starts_at": "2030-13-01", "total_seats": 1, "prices": [one(1, 1, 1)]}),
            "starts_at",
        ),
        (
            house,
            json!({"starts_at": rfc3339_in(5), "total_seats": 1, "prices": [one(1, 1, 1)], "x": 1}),
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
    let body = performance_body(5, 1, json!([one(1, 1, 1)]));
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
    assert_eq!(app.catalog_counts().await, before);
}
