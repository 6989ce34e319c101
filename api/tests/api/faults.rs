//! The API when the broker is gone (issue: survive faults). The workers'
//! faults (poison messages, fencing) are tested in workers/tests.

use reqwest::StatusCode;
use std::time::Duration;
use testkit::{json_of, spawn_app};

#[tokio::test]
async fn with_the_broker_unreachable_a_command_is_503_within_bounded_time_and_nothing_is_recorded()
{
    let mut app = spawn_app().await;
    let performance = app.add_performance(5_000).await;
    let (_, token) = app.active_user().await;
    // An API instance whose broker address answers nothing.
    let mut cut_off = app.settings.clone();
    cut_off.kafka_brokers = "127.0.0.1:9".to_owned();
    let base = app.start_api_with(cut_off).await;
    let started = std::time::Instant::now();
    let response = app
        .post_on(
            &base,
            "/v1/reservations",
            Some(&token),
            serde_json::json!({"performance_id": performance, "seat_number": 2}),
        )
        .await;
    let took = started.elapsed();
    let problem = json_of(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem["code"], "BROKER_UNAVAILABLE");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(app.number("select count(*) from requests").await, 0);
    let ready = app
        .client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}
