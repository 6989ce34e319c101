//! The OpenAPI document against the live router, `/metrics`, the page and
//! the docs.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;
use testkit::{content_type, eventually, json_of, spawn_app, spawn_app_with, TestApp};

/// A concrete URL path for a documented template.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{request_id}" => uuid::Uuid::new_v4().to_string(),
            s if s.starts_with('{') => "1".to_owned(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_the_served_document_is_the_generated_one() {
    // With ADMIN_TOKEN set, so the admin endpoints are mounted too.
    let app = testkit::spawn_admin_app().await;
    let doc = json_of(app.get("/openapi.json", None).await, StatusCode::OK).await;
    assert_eq!(&doc, api::routes::document());
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                continue;
            };
            let path = concrete(template);
            let response = app
                .client
                .request(method.clone(), app.url(&path))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            // The router's own fallbacks answer these; a routed request never does.
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                !(status == StatusCode::NOT_FOUND && body["code"] == "NOT_FOUND"),
                "{method} {template} is documented but not routed"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 27, "the document lists 27 operations");
    // And an undocumented path is not routed.
    let response = app.get("/v1/nope", None).await;
    assert_eq!(
        json_of(response, StatusCode::NOT_FOUND).await["code"],
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn the_page_its_assets_and_the_docs_are_served() {
    let app = spawn_app().await;
    for (path, expected, needle) in [
        ("/", "text/html", "waiting room"),
        ("/assets/app.js", "text/javascript", "./queue.js"),
        ("/assets/api.js", "text/javascript", "/v1/"),
        ("/assets/queue.js", "text/javascript", "/v1/queue/events"),
        ("/assets/booking.js", "text/javascript", "/v1/reservations"),
        ("/assets/waitlist.js", "text/javascript", "/waitlist"),
        ("/assets/tickets.js", "text/javascript", "/v1/tickets"),
        ("/assets/app.css", "text/css", ".seat"),
        ("/docs", "text/html", "swagger-ui"),
        ("/docs/", "text/html", "swagger-ui"),
        (
            "/docs/swagger-initializer.js",
            "javascript",
            "/openapi.json",
        ),
        ("/docs/swagger-ui.css", "text/css", "swagger-ui"),
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let ct = content_type(&response);
        assert!(ct.contains(expected), "{path}: {ct}");
        assert!(response.headers().contains_key("x-request-id"), "{path}");
        let text = response.text().await.unwrap_or_default();
        assert!(text.contains(needle), "{path} lacks {needle:?}");
    }
    let response = app.get("/assets/nope.js", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let ct = content_type(&response);
    assert!(ct.starts_with("text/plain"), "{ct}");
    response.text().await.unwrap_or_default()
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status_and_show_the_queue() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.get("/v1/concerts", None).await;
    }
    let (_, token) = app.active_user().await;
    for _ in 0..2 {
        let path = format!("/v1/requests/{}", uuid::Uuid::new_v4());
        let response = app.get(&path, Some(&token)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    app.get("/no/such/page", None).await;

    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="/v1/concerts",status="200"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="/v1/requests/{request_id}",status="404"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_request_duration_seconds_count{method="GET",route="/v1/concerts",status="200"}"#
        ),
        Some(3.0)
    );
    assert!(
        text.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/v1/concerts",status="200",le="0.005"}"#),
        "latency is a histogram"
    );
    assert!(!text.contains("/v1/requests/0"), "raw paths are not labels");

    // The line: one active user, nobody waiting.
    eventually(Duration::from_secs(10), || async {
        let text = scrape(&app).await;
        sample(&text, "queue_active") == Some(1.0) && sample(&text, "queue_waiting") == Some(0.0)
    })
    .await;
}

#[tokio::test]
async fn metrics_show_the_waiting_line() {
    let app = spawn_app_with(&[("QUEUE_ACTIVE_CAPACITY", "1")]).await;
    let (_, _active) = app.active_user().await;
    let second = app.register().await;
    let entered = json_of(app.enter_queue(&second).await, StatusCode::CREATED).await;
    assert_eq!(entered["status"], "waiting");
    eventually(Duration::from_secs(10), || async {
        let text = scrape(&app).await;
        sample(&text, "queue_active") == Some(1.0) && sample(&text, "queue_waiting") == Some(1.0)
    })
    .await;
}
