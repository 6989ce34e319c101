//! A waiting room per concert (SPEC rule 1): tokens scoped to their
//! concert, capacity per room, and the fair opening of a pre-queue.

use chrono::{TimeDelta, Utc};
use futures::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use testkit::{eventually, json_of, problem_code, problem_of, spawn_app, spawn_app_with, TestApp};

async fn forbidden_code(response: reqwest::Response) -> String {
    problem_code(&problem_of(response, StatusCode::FORBIDDEN).await).to_owned()
}

#[tokio::test]
async fn an_active_token_opens_only_its_own_concert() {
    let app = spawn_app().await;
    let other = app.add_concert(None, None).await;
    let mine = app.add_performance(1_000).await;
    let theirs = app.add_performance_of(other, 1_000).await;
    let (user, token) = app.active_user().await;
    let house_dates = format!("/v1/concerts/{}/performances", app.concert);
    json_of(app.get(&house_dates, Some(&token)).await, StatusCode::OK).await;
    json_of(
        app.get(&format!("/v1/performances/{mine}/seats"), Some(&token))
            .await,
        StatusCode::OK,
    )
    .await;
    let elsewhere = [
        app.get(&format!("/v1/concerts/{other}/performances"), Some(&token))
            .await,
        app.get(&format!("/v1/performances/{theirs}/seats"), Some(&token))
            .await,
        app.post(
            "/v1/reservations",
            Some(&token),
            json!({"performance_id": theirs, "seat_number": 1}),
        )
        .await,
    ];
    for response in elsewhere {
        assert_eq!(forbidden_code(response).await, "TOKEN_NOT_FOR_CONCERT");
    }
    // The same user in the other room holds a seat there; the house token
    // cannot pay for it, the other room's can.
    let entered = json_of(app.enter_room(&user, other).await, StatusCode::CREATED).await;
    let other_token = entered["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(entered["concert_id"], other);
    app.wait_until_active(&other_token).await;
    let held = app.hold(&other_token, theirs, 1).await;
    assert_eq!(
        forbidden_code(app.pay(&token, &held).await).await,
        "TOKEN_NOT_FOR_CONCERT"
    );
    json_of(app.charge(&token, 5_000).await, StatusCode::OK).await;
    let paid = json_of(app.pay(&other_token, &held).await, StatusCode::ACCEPTED).await;
    let outcome = app
        .outcome(
            &other_token,
            paid["request_id"].as_str().unwrap_or_default(),
        )
        .await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    // Paying ends the turn in that room only: the house token still works.
    assert_eq!(app.queue_status(&other_token).await["status"], "expired");
    assert_eq!(app.queue_status(&token).await["status"], "active");
    // Endpoints open to any token take either.
    assert_eq!(
        app.balance_of(&other_token).await,
        app.balance_of(&token).await
    );
}

#[tokio::test]
async fn each_room_admits_up_to_its_own_capacity() {
    let app = spawn_app_with(&[("QUEUE_ACTIVE_CAPACITY", "5")]).await;
    let small = app.add_concert(None, Some(2)).await;
    let users = app.new_users(3).await;
    // One after the other: the third to arrive is the one left waiting.
    let mut statuses = Vec::new();
    for user in &users {
        statuses.push(json_of(app.enter_room(user, small).await, StatusCode::CREATED).await);
    }
    let tokens: Vec<String> = statuses
        .iter()
        .map(|s| s["token"].as_str().unwrap_or_default().to_owned())
        .collect();
    eventually(Duration::from_secs(10), || async {
        let mut active = 0;
        for token in &tokens {
            if app.queue_status(token).await["status"] == "active" {
                active += 1;
            }
        }
        active == 2
    })
    .await;
    // Positions may be a refresh of the line index behind the admission.
    eventually(Duration::from_secs(5), || async {
        app.queue_status(&tokens[2]).await["position"] == 1
    })
    .await;
    let last = app.queue_status(&tokens[2]).await;
    assert_eq!(last["status"], "waiting");
    assert_eq!(last["concert_id"], small);
    // The house room is not held up by the small one: the default capacity.
    for _ in 0..5 {
        app.active_user().await;
    }
}

/// Enters `users` into the room of `concert`, 50 at a time.
async fn enter_all(app: &TestApp, users: &[String], concert: i64) -> Vec<Value> {
    stream::iter(users)
        .map(|user| async move {
            json_of(app.enter_room(user, concert).await, StatusCode::CREATED).await
        })
        .buffered(50)
        .collect()
        .await
}

/// `user_id` → `seq` of the room's entries.
async fn places(app: &TestApp, concert: i64) -> Vec<(String, i64)> {
    sqlx::query_as::<_, (uuid::Uuid, i64)>(
        "select user_id, seq from queue_entries where concert_id = $1 order by seq",
    )
    .bind(concert)
    .fetch_all(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .into_iter()
    .map(|(user, seq)| (user.to_string(), seq))
    .collect()
}

async fn placed(app: &TestApp, concert: i64) -> bool {
    let opened = app
        .number(&format!(
            "select count(*) from queue_rooms where concert_id = {concert} and placed_at is not null"
        ))
        .await;
    opened == 1
}

/// Spearman's rank correlation of paired values (distinct within each side).
fn rank_correlation(pairs: &[(i64, i64)]) -> f64 {
    let ranks = |values: Vec<i64>| -> std::collections::HashMap<i64, f64> {
        let mut sorted = values;
        sorted.sort_unstable();
        sorted
            .into_iter()
            .enumerate()
            .map(|(r, v)| (v, r as f64))
            .collect()
    };
    let a = ranks(pairs.iter().map(|p| p.0).collect());
    let b = ranks(pairs.iter().map(|p| p.1).collect());
    let n = pairs.len() as f64;
    let d2: f64 = pairs
        .iter()
        .map(|(x, y)| {
            (a.get(x).copied().unwrap_or_default() - b.get(y).copied().unwrap_or_default()).powi(2)
        })
        .sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

#[tokio::test]
async fn the_pre_queue_is_placed_in_a_random_order_ahead_of_everyone_who_came_after_the_opening() {
    const N: usize = 1_000;
    let app = spawn_app().await;
    let users = app.new_users(N).await;
    let opens_at = Utc::now() + TimeDelta::seconds(20);
    let rooms = [
        app.add_concert(Some(opens_at), Some(1)).await,
        app.add_concert(Some(opens_at), Some(1)).await,
    ];
    for concert in rooms {
        for entered in enter_all(&app, &users, concert).await {
            // Before the opening: no place yet, and the time it opens.
            assert_eq!(entered["position"], Value::Null, "{entered}");
            assert!(entered["sale_opens_at"].is_string(), "{entered}");
        }
    }
    let listed = json_of(app.get("/v1/concerts", None).await, StatusCode::OK).await;
    let announced = listed
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["concert_id"] == rooms[0] && c["sale_opens_at"].is_string());
    assert!(announced, "{listed}");
    // The arrival order, before the opening: each entry's arrival number.
    let arrivals: Vec<Vec<(String, i64)>> = stream::iter(rooms)
        .then(|c| places(&app, c))
        .collect()
        .await;
    eventually(Duration::from_secs(40), || async {
        placed(&app, rooms[0]).await && placed(&app, rooms[1]).await
    })
    .await;
    // Someone who comes after the opening is behind the whole pre-queue.
    let late = app.register().await;
    let entered = json_of(app.enter_room(&late, rooms[0]).await, StatusCode::CREATED).await;
    assert!(
        entered["position"].as_u64().unwrap_or_default() >= N as u64 - 1,
        "{entered}"
    );
    let mut orders = Vec::new();
    for (concert, arrived) in rooms.iter().zip(&arrivals) {
        let now_placed = places(&app, *concert).await;
        let late_seq = now_placed.iter().find(|(u, _)| *u == late).map(|(_, s)| *s);
        let pre: Vec<&(String, i64)> = now_placed.iter().filter(|(u, _)| *u != late).collect();
        assert_eq!(pre.len(), N);
        if let Some(late_seq) = late_seq {
            assert!(
                pre.iter().all(|(_, s)| *s < late_seq),
                "a late arrival is ahead of the pre-queue"
            );
        }
        // The places are the arrival numbers the pre-queue took, shuffled.
        let taken: HashSet<i64> = arrived.iter().map(|(_, s)| *s).collect();
        let given: HashSet<i64> = pre.iter().map(|(_, s)| *s).collect();
        assert_eq!(taken, given);
        let arrival_of: std::collections::HashMap<&str, i64> =
            arrived.iter().map(|(u, s)| (u.as_str(), *s)).collect();
        let pairs: Vec<(i64, i64)> = pre
            .iter()
            .map(|(u, s)| (arrival_of.get(u.as_str()).copied().unwrap_or_default(), *s))
            .collect();
        let rho = rank_correlation(&pairs);
        // For a uniform shuffle of 1,000 the standard deviation is ~0.03.
        assert!(
            rho.abs() < 0.15,
            "rank correlation {rho} between arrival and place"
        );
        orders.push(pre.iter().map(|(u, _)| u.clone()).collect::<Vec<_>>());
    }
    assert_ne!(orders[0], orders[1], "two openings drew the same order");
}

#[tokio::test]
async fn a_pre_queue_entry_shows_no_position_until_the_sale_opens_and_is_not_dropped_for_idling() {
    let app = spawn_app_with(&[("QUEUE_IDLE_TIMEOUT_SECONDS", "2")]).await;
    let opens_at = Utc::now() + TimeDelta::seconds(6);
    let concert = app.add_concert(Some(opens_at), None).await;
    let users = app.new_users(3).await;
    let entries = enter_all(&app, &users, concert).await;
    let token = entries[0]["token"].as_str().unwrap_or_default().to_owned();
    let status = app.queue_status(&token).await;
    assert_eq!(status["status"], "waiting");
    assert_eq!(status["position"], Value::Null);
    assert_eq!(status["ahead"], Value::Null);
    assert!(
        status["estimated_wait_seconds"]
            .as_u64()
            .unwrap_or_default()
            <= 6,
        "{status}"
    );
    // Nobody in it has polled for an hour, far past the idle timeout: the
    // pre-queue still is not dropped, and is admitted when the sale opens.
    sqlx::query(
        "update queue_entries set last_seen_at = now() - interval '1 hour' where concert_id = $1",
    )
    .bind(concert)
    .execute(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let again = app.queue_status(&token).await;
    assert_eq!(
        (again["status"].clone(), again["position"].clone()),
        (json!("waiting"), Value::Null)
    );
    eventually(Duration::from_secs(20), || async {
        app.queue_status(&token).await["status"] == "active"
    })
    .await;
    let dropped = app
        .number(&format!(
            "select count(*) from queue_entries where concert_id = {concert} and status = 'expired'"
        ))
        .await;
    assert_eq!(dropped, 0);
}

#[tokio::test]
async fn the_users_key_shows_their_place_in_a_room_they_entered() {
    let app = spawn_app().await;
    let other = app.add_concert(None, None).await;
    let (user, token) = app.active_user().await;
    let key = app.key_of(&user);
    let by_key = json_of(
        app.get("/v1/queue/status", Some(&key)).await,
        StatusCode::OK,
    )
    .await;
    let by_token = app.queue_status(&token).await;
    assert_eq!(by_key["concert_id"], by_token["concert_id"]);
    assert_eq!(by_key["status"], "active");
    let named = format!("/v1/queue/status?concert_id={}", app.concert);
    assert_eq!(
        json_of(app.get(&named, Some(&key)).await, StatusCode::OK).await["status"],
        "active"
    );
    let elsewhere = format!("/v1/queue/status?concert_id={other}");
    let problem = problem_of(app.get(&elsewhere, Some(&key)).await, StatusCode::NOT_FOUND).await;
    assert_eq!(problem_code(&problem), "QUEUE_ENTRY_NOT_FOUND");
    let bad = problem_of(
        app.get("/v1/queue/status?concert_id=x", Some(&key)).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem_code(&bad), "VALIDATION_ERROR");
}
