//! Cancellation (SPEC rule 10): a hold released, a paid seat refunded
//! before the cutoff, and every rejection; money stays conserved.

use futures::future::join;
use reqwest::StatusCode;
use serde_json::Value;
use testkit::{
    eventually, invariants, json_of, problem_code, problem_of, spawn_app_with, text, TestApp,
};

/// The status of `reservation` in its owner's list.
async fn status_of(app: &TestApp, credential: &str, reservation: &str) -> String {
    let mine = app.reservations(credential).await;
    let found = mine
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, got {mine}"))
        .iter()
        .find(|r| r["reservation_id"] == reservation)
        .cloned()
        .unwrap_or_else(|| panic!("{reservation} is not in {mine}"));
    text(&found["status"])
}

/// A user with an active token who holds seat `seat` of `performance`
/// and has paid for it: (user, token, reservation).
async fn buyer(app: &TestApp, performance: i64, seat: i64, price: i64) -> (String, String, String) {
    let (user, token) = app.active_user().await;
    let reservation = app.hold(&token, performance, seat).await;
    json_of(app.charge(&token, price).await, StatusCode::OK).await;
    let accepted = json_of(app.pay(&token, &reservation).await, StatusCode::ACCEPTED).await;
    let paid = app.outcome(&token, &text(&accepted["request_id"])).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    (user, token, reservation)
}

fn reason(outcome: &Value) -> &str {
    assert_eq!(outcome["status"], "rejected", "{outcome}");
    outcome["reason"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn cancelling_a_hold_frees_the_seat_at_once_and_moves_no_money() {
    let app = spawn_app_with(&[]).await;
    let performance = app.add_performance(40_000).await;
    let (_, token) = app.active_user().await;
    let reservation = app.hold(&token, performance, 5).await;

    let outcome = app.cancelled(&token, &reservation).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    assert_eq!(outcome["kind"], "cancel");
    assert_eq!(outcome["result"]["status"], "cancelled");
    assert_eq!(outcome["result"]["refund"], 0);
    assert_eq!(outcome["result"]["balance_after"], 0);
    assert_eq!(status_of(&app, &token, &reservation).await, "cancelled");
    assert_eq!(app.seat_status(&token, performance, 5).await, "available");
    // The seat can be held again at once, even by its former holder.
    app.hold(&token, performance, 5).await;
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn a_refunded_seat_gives_the_money_back_and_sells_again_to_someone_else() {
    let app = spawn_app_with(&[]).await;
    let price = 55_000;
    let performance = app.add_performance(price).await;
    let (user, _, reservation) = buyer(&app, performance, 9, price).await;
    // The buyer's queue token expired with the payment: their key cancels.
    let key = app.key_of(&user);

    let outcome = app.cancelled(&key, &reservation).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    assert_eq!(outcome["result"]["status"], "refunded");
    assert_eq!(outcome["result"]["refund"], price);
    assert_eq!(outcome["result"]["balance_after"], price);
    assert_eq!(app.balance_of(&key).await, price);
    assert_eq!(status_of(&app, &key, &reservation).await, "refunded");
    let refunds = app
        .number("select count(*) from ledger where kind = 'refund' and amount = 55000")
        .await;
    assert_eq!(refunds, 1);
    let marked = app
        .number("select count(*) from payments where refunded = 55000 and refunded_at is not null")
        .await;
    assert_eq!(marked, 1, "the payment keeps its row, marked refunded");

    let (_, _, resold) = buyer(&app, performance, 9, price).await;
    assert_ne!(resold, reservation);
    let (_, watcher) = app.active_user().await;
    assert_eq!(app.seat_status(&watcher, performance, 9).await, "sold");
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn a_paid_seat_is_not_refunded_within_the_cutoff() {
    // Performances of the test catalog start in 30 days.
    let cutoff = (31 * 86_400).to_string();
    let app = spawn_app_with(&[("REFUND_CUTOFF_SECONDS", &cutoff)]).await;
    let price = 20_000;
    let performance = app.add_performance(price).await;
    let (user, _, reservation) = buyer(&app, performance, 1, price).await;
    let key = app.key_of(&user);

    let outcome = app.cancelled(&key, &reservation).await;
    assert_eq!(reason(&outcome), "REFUND_CLOSED");
    assert_eq!(status_of(&app, &key, &reservation).await, "paid");
    assert_eq!(app.balance_of(&key).await, 0);
}

#[tokio::test]
async fn a_reservation_cancelled_once_cannot_be_cancelled_again() {
    let app = spawn_app_with(&[]).await;
    let performance = app.add_performance(10_000).await;
    let (_, token) = app.active_user().await;
    let reservation = app.hold(&token, performance, 2).await;
    assert_eq!(
        app.cancelled(&token, &reservation).await["status"],
        "succeeded"
    );

    let again = app.cancelled(&token, &reservation).await;
    assert_eq!(reason(&again), "ALREADY_CANCELLED");
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn a_lapsed_hold_cannot_be_cancelled() {
    let app = spawn_app_with(&[("HOLD_TTL_SECONDS", "1")]).await;
    let performance = app.add_performance(10_000).await;
    let (_, token) = app.active_user().await;
    let reservation = app.hold(&token, performance, 3).await;
    eventually(std::time::Duration::from_secs(10), || async {
        status_of(&app, &token, &reservation).await == "expired"
    })
    .await;

    let outcome = app.cancelled(&token, &reservation).await;
    assert_eq!(reason(&outcome), "HOLD_EXPIRED");
}

#[tokio::test]
async fn a_refund_that_would_lift_the_balance_past_the_limit_is_refused() {
    let app = spawn_app_with(&[]).await;
    let price = 30_000;
    let performance = app.add_performance(price).await;
    let (user, _, reservation) = buyer(&app, performance, 4, price).await;
    let key = app.key_of(&user);
    // Charge the balance up to the limit (100 x the largest charge).
    for _ in 0..100 {
        json_of(app.charge(&key, 10_000_000).await, StatusCode::OK).await;
    }
    assert_eq!(app.balance_of(&key).await, domain::BALANCE_LIMIT);

    let outcome = app.cancelled(&key, &reservation).await;
    assert_eq!(reason(&outcome), "BALANCE_LIMIT");
    assert_eq!(status_of(&app, &key, &reservation).await, "paid");
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn only_the_owner_may_cancel_and_an_unknown_reservation_is_not_found() {
    let app = spawn_app_with(&[]).await;
    let performance = app.add_performance(10_000).await;
    let (_, owner) = app.active_user().await;
    let reservation = app.hold(&owner, performance, 6).await;
    let (_, stranger) = app.active_user().await;

    let refused = app.cancel(&stranger, &reservation).await;
    let problem = problem_of(refused, StatusCode::FORBIDDEN).await;
    assert_eq!(problem_code(&problem), "NOT_YOUR_RESERVATION");
    let unknown = app
        .cancel(&owner, "00000000-0000-4000-8000-000000000000")
        .await;
    let problem = problem_of(unknown, StatusCode::NOT_FOUND).await;
    assert_eq!(problem_code(&problem), "RESERVATION_NOT_FOUND");
    let malformed = app.cancel(&owner, "not-a-uuid").await;
    problem_of(malformed, StatusCode::BAD_REQUEST).await;
    assert_eq!(status_of(&app, &owner, &reservation).await, "held");
}

#[tokio::test]
async fn a_cancel_racing_a_payment_of_the_same_hold_gives_one_consistent_outcome() {
    let app = spawn_app_with(&[]).await;
    let price = 25_000;
    let performance = app.add_performance(price).await;
    let (user, token) = app.active_user().await;
    let reservation = app.hold(&token, performance, 7).await;
    json_of(app.charge(&token, price).await, StatusCode::OK).await;
    let key = app.key_of(&user);

    let (paid, cancelled) = join(
        app.pay(&token, &reservation),
        app.cancel(&key, &reservation),
    )
    .await;
    let paid = json_of(paid, StatusCode::ACCEPTED).await;
    let cancelled = json_of(cancelled, StatusCode::ACCEPTED).await;
    let paid = app.outcome(&key, &text(&paid["request_id"])).await;
    let cancelled = app.outcome(&key, &text(&cancelled["request_id"])).await;
    assert_eq!(cancelled["status"], "succeeded", "{cancelled}");

    // The seat's commands are applied in order: either the payment came
    // first and the cancel refunded it, or the cancel released the hold
    // and the payment found it gone. Both end with the seat free and the
    // money back.
    if paid["status"] == "succeeded" {
        assert_eq!(cancelled["result"]["status"], "refunded");
        assert_eq!(cancelled["result"]["refund"], price);
        assert_eq!(status_of(&app, &key, &reservation).await, "refunded");
    } else {
        assert_eq!(reason(&paid), "HOLD_EXPIRED");
        assert_eq!(cancelled["result"]["status"], "cancelled");
        assert_eq!(status_of(&app, &key, &reservation).await, "cancelled");
    }
    assert_eq!(app.balance_of(&key).await, price);
    let (_, watcher) = app.active_user().await;
    assert_eq!(app.seat_status(&watcher, performance, 7).await, "available");
    invariants::assert_holds(invariants::all(&app.pool).await);
}
