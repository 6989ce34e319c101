//! The edge of the API against the probes of issue 13: content types,
//! duplicated headers, request ids, over-long input and security headers.

use reqwest::StatusCode;
use testkit::{json_of, problem_code, spawn_app};

#[tokio::test]
async fn json_endpoints_refuse_cross_site_form_and_text_bodies() {
    let app = spawn_app().await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let response = app
            .client
            .post(app.url("/v1/users"))
            .header("content-type", content_type)
            .body("{}")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let problem = json_of(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        assert_eq!(problem_code(&problem), "UNSUPPORTED_MEDIA_TYPE");
    }
    assert_eq!(app.number("select count(*) from users").await, 0);
    // An empty body still registers (SPEC: an empty body works too).
    let empty = app
        .client
        .post(app.url("/v1/users"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(empty.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_duplicated_authorization_header_is_refused_not_guessed() {
    let app = spawn_app().await;
    let (_, token) = app.active_user().await;
    let (_, other) = app.active_user().await;
    let response = app
        .client
        .get(app.url("/v1/balance"))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {other}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let problem = json_of(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem_code(&problem), "VALIDATION_ERROR");
}

#[tokio::test]
async fn a_huge_or_binary_request_id_is_replaced_and_a_sane_one_echoed() {
    let app = spawn_app().await;
    let get = |id: reqwest::header::HeaderValue| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/healthz"))
                .header("x-request-id", id)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let sane = get(reqwest::header::HeaderValue::from_static("trace-42")).await;
    assert_eq!(sane.headers()["x-request-id"], "trace-42");
    for bad in [
        reqwest::header::HeaderValue::from_bytes(b"ab\xffcd").unwrap_or_else(|e| panic!("{e}")),
        reqwest::header::HeaderValue::from_str(&"r".repeat(200)).unwrap_or_else(|e| panic!("{e}")),
    ] {
        let response = get(bad.clone()).await;
        let echoed = response.headers()["x-request-id"].clone();
        assert_ne!(echoed, bad);
        assert!(uuid::Uuid::parse_str(echoed.to_str().unwrap_or_default()).is_ok());
    }
}

#[tokio::test]
async fn over_long_urls_and_headers_get_a_short_problem_not_an_echo() {
    let app = spawn_app().await;
    let marker = "Z".repeat(10_000);
    let long_url = app
        .client
        .get(app.url(&format!("/v1/requests/{marker}")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(long_url.headers().contains_key("x-request-id"));
    let text = long_url.text().await.unwrap_or_default();
    assert!(text.contains("URI_TOO_LONG"), "{text}");
    assert!(!text.contains(&marker[..101]), "echoed the URL");
    let big_header = app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", &marker[..9_000])
        .header("x-more-padding", &marker[..9_000])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let problem = json_of(big_header, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).await;
    assert_eq!(problem_code(&problem), "HEADERS_TOO_LARGE");
    // A bad id in a path: an axum rejection, now a problem that quotes
    // at most 100 characters of the input.
    let bad_id = format!("{}%zz", "Q".repeat(300));
    let response = app
        .client
        .get(app.url(&format!("/v1/requests/{bad_id}")))
        .bearer_auth("x")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(response.status().is_client_error());
    let ct = response.headers()["content-type"].clone();
    assert_eq!(ct, "application/problem+json");
    let text = response.text().await.unwrap_or_default();
    assert!(!text.contains(&"Q".repeat(101)), "{text}");
}

#[tokio::test]
async fn pages_and_answers_carry_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/", "/docs/", "/v1/concerts", "/no-such-page"] {
        let response = app.get(path, None).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(headers.contains_key("referrer-policy"), "{path}");
        let html = headers["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html");
        if html {
            let csp = headers["content-security-policy"]
                .to_str()
                .unwrap_or_default();
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        }
    }
}
