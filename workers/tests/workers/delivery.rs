//! Exactly-once application: redelivery, offsets stored after commit, a
//! replay of the whole topic, and two bodies racing with one key.

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use testkit::{delivery, eventually, json_of, spawn_app, spawn_app_with, TestApp};
use workers::apply::{apply_batch, Outcome, Rules};

#[tokio::test]
async fn a_command_delivered_twice_has_one_effect() {
    let app = spawn_app().await;
    let performance = app.add_performance(50_000).await;
    let (user, token) = app.active_user().await;
    let twice = app.reserve_command(&user, &token, performance, 3);
    let sentinel = app.reserve_command(&user, &token, performance, 3);
    app.publish_and_settle(&[&twice, &twice, &sentinel]).await;
    let done = app.outcome(&token, &sentinel.request_id.to_string()).await;
    assert_eq!(done["reason"], "SEAT_TAKEN", "{done}");
    let first = app.outcome(&token, &twice.request_id.to_string()).await;
    assert_eq!(first["status"], "succeeded");
    assert_eq!(app.number("select count(*) from reservations").await, 1);
    assert_eq!(app.number("select count(*) from applied_commands").await, 2);
}

#[tokio::test]
async fn a_refund_delivered_twice_gives_the_money_back_once() {
    let app = spawn_app().await;
    let price = 35_000;
    let performance = app.add_performance(price).await;
    let (user, token) = app.active_user().await;
    let reservation = app.hold(&token, performance, 8).await;
    json_of(app.charge(&token, price).await, StatusCode::OK).await;
    let paid = json_of(app.pay(&token, &reservation).await, StatusCode::ACCEPTED).await;
    let paid = app
        .outcome(&token, testkit::text(&paid["request_id"]).as_str())
        .await;
    assert_eq!(paid["status"], "succeeded", "{paid}");

    let twice = app.cancel_command(&user, &reservation, performance, 8);
    let sentinel = app.cancel_command(&user, &reservation, performance, 8);
    app.publish_and_settle(&[&twice, &twice, &sentinel]).await;
    let key = app.key_of(&user);
    let first = app.outcome(&key, &twice.request_id.to_string()).await;
    assert_eq!(first["result"]["status"], "refunded", "{first}");
    let second = app.outcome(&key, &sentinel.request_id.to_string()).await;
    assert_eq!(second["reason"], "ALREADY_CANCELLED", "{second}");
    assert_eq!(app.balance_of(&key).await, price);
    assert_eq!(
        app.number("select count(*) from ledger where kind = 'refund'")
            .await,
        1
    );
    testkit::invariants::assert_holds(testkit::invariants::all(&app.pool).await);
}

#[tokio::test]
async fn a_cancel_delivered_twice_offers_the_freed_seat_to_the_waitlist_once() {
    let app = spawn_app().await;
    let performance = app.add_small_performance(app.concert, 10_000, 1).await;
    let (holder, token) = app.active_user().await;
    let reservation = app.hold(&token, performance, 1).await;
    for _ in 0..2 {
        let (_, waiting) = app.active_user().await;
        let joined = app.join_waitlist(&waiting, performance).await;
        assert_eq!(joined.status(), StatusCode::CREATED);
    }

    let twice = app.cancel_command(&holder, &reservation, performance, 1);
    let sentinel = app.cancel_command(&holder, &reservation, performance, 1);
    app.publish_and_settle(&[&twice, &twice, &sentinel]).await;
    let offers = "select count(*) from reservations where offer_seq is not null";
    assert_eq!(app.number(offers).await, 1, "one offer for one freed seat");
    assert_eq!(app.number("select count(*) from waitlist").await, 1);
    testkit::invariants::assert_holds(testkit::invariants::all(&app.pool).await);
}

#[tokio::test]
async fn offsets_are_stored_only_after_the_transaction_commits() {
    let mut app = spawn_app().await;
    let performance = app.add_performance(50_000).await;
    let (_, token) = app.active_user().await;
    // Every apply transaction now fails as a serialization failure would,
    // after counting the attempt in a sequence (sequences ignore rollback).
    sqlx::raw_sql(
        "create sequence apply_attempts;
         create function fail_apply() returns trigger language plpgsql as $$
         begin
             perform nextval('apply_attempts');
             raise exception 'injected failure' using errcode = '40001';
         end $$;
         create trigger fail_apply before insert on applied_commands
             for each row execute function fail_apply();",
    )
    .execute(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let request = app.reserve(&token, performance, 9).await;
    eventually(Duration::from_secs(20), || async {
        app.number("select case when is_called then last_value else 0 end from apply_attempts")
            .await
            >= 1
    })
    .await;
    // The worker consumed the command but could not commit it; stopped now,
    // it must not have stored the command's offset.
    app.stop_worker(0).await;
    sqlx::query("drop trigger fail_apply on applied_commands")
        .execute(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pending: String =
        sqlx::query_scalar("select status from requests where request_id = $1::uuid")
            .bind(&request)
            .fetch_one(&app.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pending, "pending");
    // A new worker in the same group starts from the last stored offset,
    // which is before the command: it applies it now.
    app.start_worker().await;
    let outcome = app.outcome(&token, &request).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    assert_eq!(app.number("select count(*) from reservations").await, 1);
}

/// A fingerprint of every table a command can touch.
async fn state_fingerprint(app: &TestApp) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for table in [
        "users",
        "ledger",
        "seats",
        "reservations",
        "payments",
        "requests",
        "applied_commands",
        "queue_entries",
        "dead_letters",
    ] {
        let sql = format!("select md5(string_agg(t::text, '|' order by t::text)) from {table} t");
        let digest: Option<String> = sqlx::query_scalar(&sql)
            .fetch_one(&app.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        out.push((table.to_owned(), digest));
    }
    out
}

#[tokio::test]
async fn a_replay_of_the_whole_topic_changes_no_state() {
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "3")]).await;
    let performance = app.add_performance(10_000).await;
    let (_, a) = app.active_user().await;
    let (_, b) = app.active_user().await;
    let mut requests = Vec::new();
    for seat in [1, 2, 3, 2, 4] {
        requests.push((a.clone(), app.reserve(&a, performance, seat).await));
        requests.push((b.clone(), app.reserve(&b, performance, seat).await));
    }
    for (token, request) in &requests {
        app.outcome(token, request).await;
    }
    let before = state_fingerprint(&app).await;
    let replayed = workers::startup::replay(app.settings.clone(), Default::default())
        .await
        .unwrap_or_else(|e| panic!("replay: {e:#}"));
    assert_eq!(replayed, requests.len() as u64);
    assert_eq!(state_fingerprint(&app).await, before);
}

#[tokio::test]
async fn of_two_bodies_racing_with_one_idempotency_key_only_the_one_that_got_the_202_takes_effect()
{
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "4")]).await;
    let performance = app.add_performance(5_000).await;
    let (user, token) = app.active_user().await;
    let rules = Rules::from_settings(&app.settings);
    let send = |key: &'static str, seat: i64| {
        app.post_keyed(
            "/v1/reservations",
            &token,
            key,
            json!({"performance_id": performance, "seat_number": seat}),
        )
    };

    // The worker meets the other body's command first, before any API has
    // recorded a hash: that body takes the key, and the API then refuses
    // the first body and answers the other one as the original.
    let first = delivery(
        0,
        &app.keyed_reserve(&user, &token, "race-1", performance, 21),
    );
    let applied = apply_batch(&app.pool, rules, &[], std::slice::from_ref(&first))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        applied,
        vec![Outcome::Succeeded(domain::RequestKind::Reserve)]
    );
    let refused = send("race-1", 22).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let same = send("race-1", 21).await;
    assert_eq!(same.status(), StatusCode::ACCEPTED);

    // The API recorded one body (it got the 202); the other body's command,
    // published by a request that then got 422, changes nothing, and the
    // winner's command still applies after it.
    let winner = json_of(send("race-2", 23).await, StatusCode::ACCEPTED).await;
    let request = winner["request_id"].as_str().unwrap_or_default().to_owned();
    let outcome = app.outcome(&token, &request).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    let loser = delivery(
        0,
        &app.keyed_reserve(&user, &token, "race-2", performance, 24),
    );
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
