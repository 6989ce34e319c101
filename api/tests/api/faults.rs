//! Poison messages and fencing (issue: survive faults).

use crate::helpers::{eventually, json_of, spawn_app, spawn_app_with, TestApp};
use domain::{Command, CommandEnvelope, PerformanceId, RequestId, SeatNumber, TokenId, UserId};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;
use store::leases::claim as claim_partition;
use workers::apply::{apply_batch, ApplyError, Delivery, Outcome, Rules};

async fn send_raw(app: &TestApp, key: &str, payload: &[u8]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &app.settings.kafka_brokers)
        .create()
        .unwrap_or_else(|e| panic!("{e}"));
    producer
        .send(
            FutureRecord::to(&app.settings.command_topic())
                .key(key)
                .payload(payload),
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("{e}"));
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn a_poison_message_is_set_aside_and_does_not_block_its_partition() {
    let app = spawn_app().await;
    let performance = app.add_performance(5_000).await;
    let (user, token) = app.active_user().await;
    let key = format!("{performance}:5");
    send_raw(&app, &key, b"\x00\x01 definitely not a command").await;
    // A command of a future version whose request the API knows about.
    let future_id = RequestId::new();
    sqlx::query(
        "insert into requests (request_id, user_id, kind) values ($1, $2::uuid, 'reserve')",
    )
    .bind(future_id.0)
    .bind(&user)
    .execute(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let future =
        serde_json::json!({"v": 99, "request_id": future_id, "user_id": user, "hologram": true});
    send_raw(&app, &key, future.to_string().as_bytes()).await;
    // A valid command for the same seat, behind them on the same partition.
    let request = app.reserve(&token, performance, 5).await;
    let outcome = app.outcome(&token, &request).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    assert_eq!(scalar(&app, "select count(*) from dead_letters").await, 2);
    let rejected = app.outcome(&token, &future_id.to_string()).await;
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["reason"], "INVALID_COMMAND");
}

#[tokio::test]
async fn a_round_with_one_partition_claimed_by_another_worker_applies_nothing() {
    let app = spawn_app().await;
    let performance = app.add_performance(5_000).await;
    let keys = api::auth::token::TokenKey::new(app.settings.token_secret.clone());
    // Two users' commands as if read from partitions 0 and 1 of one round.
    let mut round: Vec<Delivery> = Vec::new();
    for (partition, seat) in [(0, 11), (1, 12)] {
        let (user, token) = app.active_user().await;
        let token_id = keys.verify(&token).unwrap_or_else(|| panic!("token"));
        let envelope = CommandEnvelope::new(
            RequestId::new(),
            UserId::parse(&user).unwrap_or_else(|e| panic!("{e}")),
            token_id,
            Command::Reserve {
                performance_id: PerformanceId(performance),
                seat_number: SeatNumber::parse(seat).unwrap_or_else(|e| panic!("{e}")),
            },
        );
        round.push(Delivery {
            partition,
            offset: 1_000,
            payload: Some(envelope.encode()),
        });
    }
    let rules = Rules::from_settings(&app.settings);
    // A lease topic of its own, so the app's live worker cannot interfere.
    let claim = |partition| claim_partition(&app.pool, "fencing-test", partition);
    let owned = claim(0).await.unwrap_or_else(|e| panic!("{e}"));
    let stale = claim(1).await.unwrap_or_else(|e| panic!("{e}"));
    let current = claim(1).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(current.epoch > stale.epoch);

    let fenced = apply_batch(&app.pool, rules, &[owned.clone(), stale], &round).await;
    assert!(matches!(fenced, Err(ApplyError::Fenced(1))), "{fenced:?}");
    assert_eq!(
        scalar(&app, "select count(*) from applied_commands").await,
        0
    );
    assert_eq!(scalar(&app, "select count(*) from reservations").await, 0);

    let applied = apply_batch(&app.pool, rules, &[owned, current], &round)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        applied,
        vec![Outcome::Succeeded(domain::RequestKind::Reserve); 2]
    );
    assert_eq!(scalar(&app, "select count(*) from reservations").await, 2);
}

#[tokio::test]
async fn a_live_worker_claims_each_partition_it_consumes() {
    let app = spawn_app().await;
    let performance = app.add_performance(5_000).await;
    let (_, token) = app.active_user().await;
    let request = app.reserve(&token, performance, 1).await;
    app.outcome(&token, &request).await;
    let topic = app.settings.command_topic();
    eventually(Duration::from_secs(5), || async {
        scalar(
            &app,
            &format!("select count(*) from partition_leases where topic = '{topic}'"),
        )
        .await
            >= 1
    })
    .await;
}

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
        .client
        .post(format!("{base}/v1/reservations"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"performance_id": performance, "seat_number": 2}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    let problem = crate::helpers::json_of(response, reqwest::StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem["code"], "BROKER_UNAVAILABLE");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(scalar(&app, "select count(*) from requests").await, 0);
    let ready = app
        .client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
}

/// A reserve as the API would publish it for `key` and `seat`, with the hash
/// of that body.
fn keyed_reserve(user: UserId, token: TokenId, key: &str, performance: i64, seat: i64) -> Delivery {
    let body = serde_json::json!({"performance_id": performance, "seat_number": seat});
    let envelope = CommandEnvelope::new(
        RequestId::for_idempotency_key(user, "reserve", key),
        user,
        token,
        Command::Reserve {
            performance_id: PerformanceId(performance),
            seat_number: SeatNumber::parse(seat).unwrap_or_else(|e| panic!("{e}")),
        },
    )
    .with_body_hash(Some(api::idempotency::body_hash("reserve", &body)));
    Delivery {
        partition: 0,
        offset: 1_000,
        payload: Some(envelope.encode()),
    }
}

#[tokio::test]
async fn of_two_bodies_racing_with_one_idempotency_key_only_the_one_that_got_the_202_takes_effect()
{
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "4")]).await;
    let performance = app.add_performance(5_000).await;
    let (user, token) = app.active_user().await;
    let user_id = UserId::parse(&user).unwrap_or_else(|e| panic!("{e}"));
    let token_id = api::auth::token::TokenKey::new(app.settings.token_secret.clone())
        .verify(&token)
        .unwrap_or_else(|| panic!("token"));
    let rules = Rules::from_settings(&app.settings);
    let send = |key: &'static str, seat: i64| {
        app.client
            .post(app.url("/v1/reservations"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&serde_json::json!({"performance_id": performance, "seat_number": seat}))
            .send()
    };

    // The worker meets the other body's command first, before any API has
    // recorded a hash: that body takes the key, and the API then refuses
    // the first body and answers the other one as the original.
    let first = keyed_reserve(user_id, token_id, "race-1", performance, 21);
    let applied = apply_batch(&app.pool, rules, &[], std::slice::from_ref(&first))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        applied,
        vec![Outcome::Succeeded(domain::RequestKind::Reserve)]
    );
    let refused = send("race-1", 22).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(refused.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let same = send("race-1", 21).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(same.status(), reqwest::StatusCode::ACCEPTED);

    // The API recorded one body (it got the 202); the other body's command,
    // published by a request that then got 422, changes nothing, and the
    // winner's command still applies after it.
    let winner = json_of(
        send("race-2", 23).await.unwrap_or_else(|e| panic!("{e}")),
        reqwest::StatusCode::ACCEPTED,
    )
    .await;
    let request = winner["request_id"].as_str().unwrap_or_default().to_owned();
    let outcome = app.outcome(&token, &request).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    let loser = keyed_reserve(user_id, token_id, "race-2", performance, 24);
    let ignored = apply_batch(&app.pool, rules, &[], std::slice::from_ref(&loser))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ignored, vec![Outcome::Duplicate]);
    let held: Vec<i16> = sqlx::query_scalar(
        "select seat_number from reservations where performance_id = $1 order by seat_number",
    )
    .bind(performance)
    .fetch_all(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held, vec![21, 23]);
}
