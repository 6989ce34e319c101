//! Exactly-once application: redelivery and offsets stored after commit.

use crate::helpers::{eventually, spawn_app, TestApp};
use api::publisher::Publisher;
use domain::{Command, CommandEnvelope, PerformanceId, RequestId, SeatNumber, TokenId, UserId};
use std::time::Duration;

async fn envelope_for(
    app: &TestApp,
    token: &str,
    user: &str,
    performance: i64,
    seat: i64,
) -> CommandEnvelope {
    let token_id = api::auth::token::TokenKey::new(app.settings.token_secret.clone())
        .verify(token)
        .unwrap_or_else(|| panic!("token does not verify"));
    CommandEnvelope::new(
        RequestId::new(),
        UserId::parse(user).unwrap_or_else(|e| panic!("{e}")),
        TokenId(token_id.0),
        Command::Reserve {
            performance_id: PerformanceId(performance),
            seat_number: SeatNumber::parse(seat).unwrap_or_else(|e| panic!("{e}")),
        },
    )
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn a_command_delivered_twice_has_one_effect() {
    let app = spawn_app().await;
    let performance = app.add_performance(50_000).await;
    let (user, token) = app.active_user().await;
    let publisher = Publisher::new(&app.settings).unwrap_or_else(|e| panic!("{e:#}"));
    let twice = envelope_for(&app, &token, &user, performance, 3).await;
    publisher
        .publish(&twice)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    publisher
        .publish(&twice)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    // A later command for the same seat lands on the same partition, so once
    // it is final both copies before it have been consumed.
    let mut sentinel = envelope_for(&app, &token, &user, performance, 3).await;
    sentinel.request_id = RequestId::new();
    publisher
        .publish(&sentinel)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));

    // Published straight to Kafka, these have no pending row: the worker
    // writes their outcome rows.
    let sentinel_done = format!(
        "select count(*) from requests where request_id = '{}' and status <> 'pending'",
        sentinel.request_id
    );
    eventually(Duration::from_secs(20), || async {
        count(&app, &sentinel_done).await == 1
    })
    .await;
    let done = app.outcome(&token, &sentinel.request_id.to_string()).await;
    assert_eq!(done["reason"], "SEAT_TAKEN", "{done}");
    let first = app.outcome(&token, &twice.request_id.to_string()).await;
    assert_eq!(first["status"], "succeeded");
    assert_eq!(count(&app, "select count(*) from reservations").await, 1);
    assert_eq!(
        count(&app, "select count(*) from applied_commands").await,
        2
    );
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
        count(
            &app,
            "select case when is_called then last_value else 0 end from apply_attempts",
        )
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
    assert_eq!(count(&app, "select count(*) from reservations").await, 1);
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
    let app = crate::helpers::spawn_app_with(&[("MAX_HOLDS_PER_USER", "3")]).await;
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
