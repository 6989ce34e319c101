//! The waiting room (SPEC rules 1 and 2).

use api::waiting_line::WaitingLine;
use domain::TokenId;
use futures::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use testkit::{eventually, json_of, problem_code, spawn_app_with, TestApp};

async fn enter(app: &TestApp, base: &str, user: &str) -> (StatusCode, Value) {
    let response = app.enter_queue_on(base, user).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_thousand_concurrent_arrivals_through_two_instances_get_distinct_gap_free_positions() {
    let mut app = spawn_app_with(&[("QUEUE_ACTIVE_CAPACITY", "1")]).await;
    let second = app.start_api().await;
    // Fill the only active slot, so nobody else is admitted during the rush.
    app.active_user().await;
    let users = app.new_users(1000).await;
    let bases = [app.address.clone(), second];
    let results: Vec<(StatusCode, Value)> = stream::iter(users.iter().enumerate())
        .map(|(i, user)| {
            let base = bases[i % 2].clone();
            let app = &app;
            async move { enter(app, &base, user).await }
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let mut positions: Vec<u64> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            assert_eq!(body["status"], "waiting");
            body["position"].as_u64().unwrap_or_default()
        })
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=1000).collect::<Vec<u64>>());
    // The status endpoint agrees once the line snapshot has caught up.
    let (_, last) = results
        .iter()
        .find(|(_, b)| b["position"] == 1000)
        .unwrap_or_else(|| panic!("no position 1000"));
    let token = last["token"].as_str().unwrap_or_default().to_owned();
    eventually(Duration::from_secs(10), || async {
        let s = app.queue_status(&token).await;
        s["position"] == 1000 && s["ahead"] == 999
    })
    .await;
}

#[tokio::test]
async fn two_hundred_concurrent_entries_of_one_user_make_one_entry() {
    let app = spawn_app_with(&[("QUEUE_ACTIVE_CAPACITY", "1")]).await;
    app.active_user().await;
    let user = app.register().await;
    let results: Vec<(StatusCode, Value)> = stream::iter(0..200)
        .map(|_| enter(&app, &app.address, &user))
        .buffer_unordered(50)
        .collect()
        .await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let reused = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!((created, reused), (1, 199));
    let tokens: HashSet<&str> = results
        .iter()
        .filter_map(|(_, b)| b["token"].as_str())
        .collect();
    assert_eq!(tokens.len(), 1);
    let places: HashSet<u64> = results
        .iter()
        .filter_map(|(_, b)| b["position"].as_u64())
        .collect();
    assert_eq!(places, HashSet::from([1]));
    let entries: i64 =
        sqlx::query_scalar("select count(*) from queue_entries where user_id = $1::uuid")
            .bind(&user)
            .fetch_one(&app.pool)
            .await
            .unwrap_or_default();
    assert_eq!(entries, 1);
}

#[tokio::test]
async fn capacity_is_never_exceeded_while_two_workers_admit_and_tokens_expire() {
    let mut app = spawn_app_with(&[
        ("QUEUE_ACTIVE_CAPACITY", "5"),
        ("ACTIVE_TOKEN_TTL_SECONDS", "1"),
    ])
    .await;
    app.start_worker().await;
    let users = app.new_users(30).await;
    let mut tokens = Vec::new();
    for user in &users {
        let (status, body) = enter(&app, &app.address, user).await;
        assert_eq!(status, StatusCode::CREATED);
        tokens.push(body["token"].as_str().unwrap_or_default().to_owned());
    }
    // Keep every waiting entry alive and watch the active count until all
    // 30 have had their turn.
    let max_active = AtomicI64::new(0);
    eventually(Duration::from_secs(60), || async {
        for token in &tokens {
            app.queue_status(token).await;
        }
        let (active, admitted): (i64, i64) = sqlx::query_as(
            "select count(*) filter (where status = 'active'), count(*) filter (where activated_at is not null)
               from queue_entries",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap_or_default();
        max_active.fetch_max(active, Ordering::Relaxed);
        admitted == 30
    })
    .await;
    let max_active = max_active.load(Ordering::Relaxed);
    assert!(max_active <= 5, "{max_active} active at once");
    // Admission followed arrival order.
    let order: Vec<i64> =
        sqlx::query_scalar("select seq from queue_entries order by activated_at, seq")
            .fetch_all(&app.pool)
            .await
            .unwrap_or_default();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted);
}

#[tokio::test]
async fn expiry_and_idle_drop_admit_the_next_in_order() {
    let app = spawn_app_with(&[
        ("QUEUE_ACTIVE_CAPACITY", "1"),
        ("ACTIVE_TOKEN_TTL_SECONDS", "2"),
        ("QUEUE_IDLE_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let (_, first) = app.active_user().await;
    let users = app.new_users(2).await;
    let (_, idle) = enter(&app, &app.address, &users[0]).await;
    let (_, polling) = enter(&app, &app.address, &users[1]).await;
    assert_eq!(
        (idle["position"].as_u64(), polling["position"].as_u64()),
        (Some(1), Some(2))
    );
    let idle = idle["token"].as_str().unwrap_or_default().to_owned();
    let polling = polling["token"].as_str().unwrap_or_default().to_owned();
    // The idle entry never polls; the other polls until it is admitted.
    eventually(Duration::from_secs(20), || async {
        app.queue_status(&polling).await["status"] == "active"
    })
    .await;
    assert_eq!(app.queue_status(&first).await["status"], "expired");
    assert_eq!(app.queue_status(&idle).await["status"], "expired");
    let active = app.queue_status(&polling).await;
    assert_eq!(active["position"], 0);
    assert!(active["active_until"].is_string());
    // An expired token may read its status but not browse.
    let browse = json_of(
        app.get("/v1/concerts/1/performances", Some(&first)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(problem_code(&browse), "TOKEN_NOT_ACTIVE");
}

#[tokio::test]
async fn a_waiting_token_cannot_browse_or_reserve() {
    let app = spawn_app_with(&[("QUEUE_ACTIVE_CAPACITY", "1")]).await;
    app.active_user().await;
    let user = app.register().await;
    let (_, body) = enter(&app, &app.address, &user).await;
    let token = body["token"].as_str().unwrap_or_default();
    assert_eq!(body["status"], "waiting");
    assert!(body["estimated_wait_seconds"]
        .as_u64()
        .is_some_and(|s| s > 0));
    let performance = app.add_performance(1000).await;
    for response in [
        app.get(
            &format!("/v1/performances/{performance}/seats"),
            Some(token),
        )
        .await,
        app.post(
            "/v1/reservations",
            Some(token),
            json!({"performance_id": performance, "seat_number": 1}),
        )
        .await,
    ] {
        assert_eq!(
            problem_code(&json_of(response, StatusCode::FORBIDDEN).await),
            "TOKEN_NOT_ACTIVE"
        );
    }
    // Endpoints open to any token still answer.
    json_of(app.get("/v1/balance", Some(token)).await, StatusCode::OK).await;
    app.reservations(token).await;
}

/// The seq and token id of `user`'s live entry.
async fn entry_of(app: &TestApp, user: &str) -> (i64, uuid::Uuid) {
    sqlx::query_as(
        "select seq, token_id from queue_entries where user_id = $1::uuid and status <> 'expired'",
    )
    .bind(user)
    .fetch_one(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn the_line_index_gives_each_waiting_entry_its_exact_place_after_drops_and_admissions() {
    let app = spawn_app_with(&[("QUEUE_ACTIVE_CAPACITY", "1")]).await;
    let (_, active_token) = app.active_user().await;
    let users = app.new_users(6).await;
    for user in &users {
        enter(&app, &app.address, user).await;
    }
    let line = WaitingLine::new(Duration::from_secs(60));
    let place_of = |line: &WaitingLine, seq: i64| line.position(app.concert, seq);
    line.refresh(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut seqs = Vec::new();
    for (place, user) in users.iter().enumerate() {
        let (seq, _) = entry_of(&app, user).await;
        assert_eq!(place_of(&line, seq), place as u64 + 1);
        seqs.push(seq);
    }
    // The second and fourth stop polling long ago and are dropped; the
    // active one runs out, so the first waiting is admitted.
    sqlx::query(
        "update queue_entries set last_seen_at = now() - interval '10 minutes'
          where seq = any($1) and concert_id = $2",
    )
    .bind(vec![seqs[1], seqs[3]])
    .bind(app.concert)
    .execute(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("update queue_entries set active_until = now() where token_id = $1")
        .bind(app.token_id(&active_token).0)
        .execute(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually(Duration::from_secs(10), || async {
        line.refresh(&app.pool).await.is_ok() && place_of(&line, seqs[5]) == 3
    })
    .await;
    // Left: the third, fifth and sixth, in that order.
    assert_eq!(place_of(&line, seqs[2]), 1);
    assert_eq!(place_of(&line, seqs[4]), 2);
    assert_eq!(line.room(app.concert).waiting, 3);
    let dropped = app.number("select count(*) from queue_drops").await;
    assert_eq!(dropped, 2);
}

#[tokio::test]
async fn polls_are_written_down_in_one_batch() {
    let app = spawn_app_with(&[("QUEUE_ACTIVE_CAPACITY", "1")]).await;
    app.active_user().await;
    let users = app.new_users(3).await;
    for user in &users {
        enter(&app, &app.address, user).await;
    }
    sqlx::query(
        "update queue_entries set last_seen_at = now() - interval '30 seconds' where status = 'waiting'",
    )
    .execute(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let line = WaitingLine::new(Duration::from_secs(60));
    let (polled, polled_token) = entry_of(&app, &users[0]).await;
    let (also_polled, also_polled_token) = entry_of(&app, &users[2]).await;
    line.mark_seen(TokenId(polled_token));
    line.mark_seen(TokenId(also_polled_token));
    line.mark_seen(TokenId(polled_token));
    line.flush_seen(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let recent: Vec<i64> = sqlx::query_scalar(
        "select seq from queue_entries
         where status = 'waiting' and last_seen_at > now() - interval '10 seconds' order by seq",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recent, vec![polled, also_polled]);
}
