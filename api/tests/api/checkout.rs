//! Checkout (SPEC rule 5): several holds paid together or not at all, and
//! the ticket limit per buyer and performance.

use futures::future::join;
use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::{invariants, json_of, problem_code, problem_of, spawn_app_with, text, TestApp};

/// Sends `POST /v1/payments` for `reservations` together and waits for
/// the outcome.
async fn checkout(app: &TestApp, token: &str, reservations: &[&str]) -> Value {
    let response = app
        .post(
            "/v1/payments",
            Some(token),
            json!({"reservation_ids": reservations}),
        )
        .await;
    let accepted = json_of(response, StatusCode::ACCEPTED).await;
    app.outcome(token, &text(&accepted["request_id"])).await
}

/// The status of each of the caller's reservations, by id.
async fn statuses(app: &TestApp, credential: &str) -> std::collections::HashMap<String, String> {
    let mine = app.reservations(credential).await;
    mine.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {mine}"))
        .iter()
        .map(|r| (text(&r["reservation_id"]), text(&r["status"])))
        .collect()
}

#[tokio::test]
async fn two_holds_paid_together_are_one_payment_of_the_total_and_the_third_is_released() {
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "3")]).await;
    let performance = app.add_performance(40_000).await;
    let (user, token) = app.active_user().await;
    let a = app.hold(&token, performance, 1).await;
    let b = app.hold(&token, performance, 2).await;
    let c = app.hold(&token, performance, 3).await;
    json_of(app.charge(&token, 100_000).await, StatusCode::OK).await;

    let outcome = checkout(&app, &token, &[&a, &b]).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    assert_eq!(outcome["result"]["amount"], 80_000);
    assert_eq!(outcome["result"]["reservation_id"], a.as_str());
    assert_eq!(outcome["result"]["reservation_ids"], json!([a, b]));
    assert_eq!(outcome["result"]["balance_after"], 20_000);
    assert_eq!(app.number("select count(*) from payments").await, 1);
    let key = app.key_of(&user);
    let mine = statuses(&app, &key).await;
    assert_eq!(mine[&a], "paid");
    assert_eq!(mine[&b], "paid");
    assert_eq!(mine[&c], "expired", "the other hold is released");
    assert_eq!(app.queue_status(&token).await["status"], "expired");
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn a_checkout_with_one_lapsed_hold_changes_nothing() {
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "3"), ("HOLD_TTL_SECONDS", "2")]).await;
    let performance = app.add_performance(10_000).await;
    let (user, token) = app.active_user().await;
    let lapsed = app.hold(&token, performance, 1).await;
    let key = app.key_of(&user);
    testkit::eventually(std::time::Duration::from_secs(10), || async {
        statuses(&app, &key).await[&lapsed] == "expired"
    })
    .await;
    let b = app.hold(&token, performance, 2).await;
    let c = app.hold(&token, performance, 3).await;
    json_of(app.charge(&token, 100_000).await, StatusCode::OK).await;

    let outcome = checkout(&app, &token, &[&b, &lapsed, &c]).await;
    assert_eq!(outcome["status"], "rejected", "{outcome}");
    assert_eq!(outcome["reason"], "HOLD_EXPIRED");
    assert_eq!(app.number("select count(*) from payments").await, 0);
    assert_eq!(app.balance_of(&key).await, 100_000);
    let paid = app
        .number("select count(*) from reservations where status = 'paid'")
        .await;
    assert_eq!(paid, 0);
    assert_eq!(app.queue_status(&token).await["status"], "active");
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn no_one_owns_more_than_the_ticket_limit_of_a_performance_and_a_refund_frees_a_place() {
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "3"), ("MAX_TICKETS_PER_USER", "2")]).await;
    let performance = app.add_performance(10_000).await;
    let other = app.add_performance(10_000).await;
    let (user, token) = app.active_user().await;
    let key = app.key_of(&user);
    json_of(app.charge(&token, 100_000).await, StatusCode::OK).await;
    let holds = [
        app.hold(&token, performance, 1).await,
        app.hold(&token, performance, 2).await,
        app.hold(&token, performance, 3).await,
    ];
    let all: Vec<&str> = holds.iter().map(String::as_str).collect();
    let over = checkout(&app, &token, &all).await;
    assert_eq!(over["reason"], "TICKET_LIMIT", "{over}");
    assert_eq!(app.number("select count(*) from payments").await, 0);
    let two = checkout(&app, &token, &all[..2]).await;
    assert_eq!(two["status"], "succeeded", "{two}");

    // Back through the line: a third seat of that performance is refused,
    // a seat of another performance is not.
    let again = text(&json_of(app.enter_queue(&user).await, StatusCode::CREATED).await["token"]);
    app.wait_until_active(&again).await;
    let third = app.hold(&again, performance, 4).await;
    let refused = checkout(&app, &again, &[&third]).await;
    assert_eq!(refused["reason"], "TICKET_LIMIT", "{refused}");
    let elsewhere = app.hold(&again, other, 4).await;

    // A refunded seat no longer counts.
    let refund = app.cancelled(&key, &holds[0]).await;
    assert_eq!(refund["result"]["status"], "refunded", "{refund}");
    let ok = checkout(&app, &again, &[&third, &elsewhere]).await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn two_concurrent_checkouts_of_one_user_never_pass_the_limit_together() {
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "4"), ("MAX_TICKETS_PER_USER", "2")]).await;
    let performance = app.add_performance(10_000).await;
    let (user, token) = app.active_user().await;
    json_of(app.charge(&token, 100_000).await, StatusCode::OK).await;
    let mut holds = Vec::new();
    for seat in 1..=4 {
        holds.push(app.hold(&token, performance, seat).await);
    }
    let body = |pair: &[String]| json!({"reservation_ids": pair});
    let (first, second) = join(
        app.post("/v1/payments", Some(&token), body(&holds[..2])),
        app.post("/v1/payments", Some(&token), body(&holds[2..])),
    )
    .await;
    let key = app.key_of(&user);
    for response in [first, second] {
        // The second may already find the token expired by the first.
        if response.status() == StatusCode::ACCEPTED {
            let accepted = json_of(response, StatusCode::ACCEPTED).await;
            app.outcome(&key, &text(&accepted["request_id"])).await;
        }
    }
    let paid = app
        .number("select count(*) from reservations where status = 'paid'")
        .await;
    assert_eq!(paid, 2, "one checkout of two seats, never both");
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn a_checkout_names_its_reservations_once_and_within_the_hold_limit() {
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "2")]).await;
    let performance = app.add_performance(10_000).await;
    let (_, token) = app.active_user().await;
    let a = app.hold(&token, performance, 1).await;
    let cases = [
        json!({"reservation_id": a, "reservation_ids": [a]}),
        json!({}),
        json!({"reservation_ids": []}),
        json!({"reservation_ids": [a, a]}),
        json!({"reservation_ids": [a, "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"]}),
        json!({"reservation_ids": ["not-a-uuid"]}),
    ];
    for body in cases {
        let response = app.post("/v1/payments", Some(&token), body.clone()).await;
        let problem = problem_of(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            problem_code(&problem),
            "VALIDATION_ERROR",
            "{body}: {problem}"
        );
    }
    assert_eq!(
        app.number("select count(*) from requests where kind = 'pay'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_seat_refunded_from_a_checkout_sells_again_while_its_sibling_stays_sold() {
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "2")]).await;
    let performance = app.add_performance(10_000).await;
    let (user, token) = app.active_user().await;
    let key = app.key_of(&user);
    json_of(app.charge(&token, 20_000).await, StatusCode::OK).await;
    let a = app.hold(&token, performance, 1).await;
    let b = app.hold(&token, performance, 2).await;
    assert_eq!(
        checkout(&app, &token, &[&a, &b]).await["status"],
        "succeeded"
    );

    // Seat 1 comes back and someone else holds it while seat 2 is still
    // sold; then seat 2 comes back too. The payment's last refund is later
    // than the new hold, and that is fine: seat 1 was free.
    assert_eq!(
        app.cancelled(&key, &a).await["result"]["status"],
        "refunded"
    );
    let (_, other) = app.active_user().await;
    app.hold(&other, performance, 1).await;
    assert_eq!(app.seat_status(&other, performance, 2).await, "sold");
    assert_eq!(
        app.cancelled(&key, &b).await["result"]["status"],
        "refunded"
    );
    assert_eq!(
        app.number("select count(*) from payments where refunded = 20000")
            .await,
        1
    );
    invariants::assert_holds(invariants::all(&app.pool).await);
}
