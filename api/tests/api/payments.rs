//! Payments: a held seat paid once, by its holder, with enough balance;
//! paying ends the turn (SPEC rule 5).

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use testkit::{
    json_of, problem_code, problem_of, spawn_app, spawn_app_with, text, uuid_of, TestApp,
};
use uuid::Uuid;

/// The caller's reservations, by id, with their visible status.
async fn my_reservations(app: &TestApp, token: &str) -> HashMap<String, String> {
    let mine = app.reservations(token).await;
    mine.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {mine}"))
        .iter()
        .map(|r| (text(&r["reservation_id"]), text(&r["status"])))
        .collect()
}

#[tokio::test]
async fn paying_a_held_seat_sells_it_and_expires_the_token() {
    let app = spawn_app().await;
    let price = 120_000;
    let charged = 500_000;
    let performance = app.add_performance(price).await;
    let (user, token) = app.active_user().await;
    json_of(app.charge(&token, charged).await, StatusCode::OK).await;
    let reservation = app.hold(&token, performance, 12).await;

    let accepted = json_of(app.pay(&token, &reservation).await, StatusCode::ACCEPTED).await;
    assert_eq!(accepted["status"], "pending");
    let request_id = text(&accepted["request_id"]);
    assert_eq!(accepted["status_url"], format!("/v1/requests/{request_id}"));

    let outcome = app.outcome(&token, &request_id).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    assert_eq!(outcome["kind"], "pay");
    assert_eq!(outcome["reason"], Value::Null);
    let result = &outcome["result"];
    let payment_id = uuid_of(&text(&result["payment_id"]));
    assert_eq!(result["reservation_id"], reservation.as_str());
    assert_eq!(result["amount"], price);
    assert_eq!(result["balance_after"], charged - price);
    let paid_at = text(&result["paid_at"]);
    assert!(
        chrono::DateTime::parse_from_rfc3339(&paid_at).is_ok(),
        "paid_at {paid_at:?} is not RFC 3339"
    );

    assert_eq!(app.balance_of(&token).await, charged - price);
    let stored: (Uuid, Uuid, i64) =
        sqlx::query_as("select payment_id, user_id, amount from payments")
            .fetch_one(&app.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored, (payment_id, uuid_of(&user), price));
    assert_eq!(
        my_reservations(&app, &token).await.get(&reservation),
        Some(&"paid".to_owned())
    );

    // Paying ended the turn: the token has expired and no longer opens the
    // seat map.
    assert_eq!(app.queue_status(&token).await["status"], "expired");
    let refused = problem_of(
        app.get(
            &format!("/v1/performances/{performance}/seats"),
            Some(&token),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(problem_code(&refused), "TOKEN_NOT_ACTIVE");

    // Anyone else sees the seat sold.
    let (_, watcher) = app.active_user().await;
    assert_eq!(app.seat_status(&watcher, performance, 12).await, "sold");
    let (sold, held_until): (bool, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
        "select sold, held_until from seats where performance_id = $1 and seat_number = 12",
    )
    .bind(performance)
    .fetch_one(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(sold);
    assert_eq!(held_until, None);
}

#[tokio::test]
async fn ten_concurrent_payments_of_one_reservation_charge_once() {
    let app = spawn_app().await;
    let price = 80_000;
    // Enough for all ten, so only the rules can stop a second payment.
    let charged = 10 * price;
    let performance = app.add_performance(price).await;
    let (_, token) = app.active_user().await;
    json_of(app.charge(&token, charged).await, StatusCode::OK).await;
    let reservation = app.hold(&token, performance, 5).await;

    let sent =
        join_all((0..10).map(|_| app.pay_accepted_or_token_expired(&token, &reservation))).await;
    let accepted: Vec<String> = sent.into_iter().flatten().collect();
    assert!(!accepted.is_empty(), "no payment was accepted");
    let outcomes = join_all(accepted.iter().map(|id| app.outcome(&token, id))).await;
    let succeeded = outcomes
        .iter()
        .filter(|o| o["status"] == "succeeded")
        .count();
    assert_eq!(succeeded, 1, "{outcomes:?}");
    for outcome in outcomes.iter().filter(|o| o["status"] != "succeeded") {
        assert_eq!(outcome["status"], "rejected", "{outcome}");
        let reason = outcome["reason"].as_str().unwrap_or_default();
        assert!(
            ["ALREADY_PAID", "TOKEN_NOT_ACTIVE"].contains(&reason),
            "{outcome}"
        );
    }

    assert_eq!(app.balance_of(&token).await, charged - price);
    assert_eq!(app.number("select count(*) from payments").await, 1);
    assert_eq!(
        app.number("select count(*) from ledger where kind = 'payment'")
            .await,
        1
    );
}

#[tokio::test]
async fn paying_with_too_little_balance_is_rejected_and_changes_nothing() {
    let app = spawn_app().await;
    let performance = app.add_performance(50_000).await;
    let (_, token) = app.active_user().await;
    let reservation = app.hold(&token, performance, 3).await;

    let accepted = json_of(app.pay(&token, &reservation).await, StatusCode::ACCEPTED).await;
    let outcome = app.outcome(&token, &text(&accepted["request_id"])).await;
    assert_eq!(outcome["status"], "rejected", "{outcome}");
    assert_eq!(outcome["reason"], "INSUFFICIENT_BALANCE");
    assert_eq!(outcome["result"], Value::Null);

    assert_eq!(app.balance_of(&token).await, 0);
    assert_eq!(
        my_reservations(&app, &token).await.get(&reservation),
        Some(&"held".to_owned())
    );
    assert_eq!(app.number("select count(*) from payments").await, 0);
    assert_eq!(app.number("select count(*) from ledger").await, 0);
    // The turn goes on, and the seat stays held.
    assert_eq!(app.queue_status(&token).await["status"], "active");
    assert_eq!(app.seat_status(&token, performance, 3).await, "held");
}

#[tokio::test]
async fn paying_someone_elses_reservation_is_forbidden() {
    let app = spawn_app().await;
    let performance = app.add_performance(30_000).await;
    let (_, owner) = app.active_user().await;
    let (_, intruder) = app.active_user().await;
    json_of(app.charge(&intruder, 100_000).await, StatusCode::OK).await;
    let reservation = app.hold(&owner, performance, 9).await;

    let forbidden = problem_of(
        app.pay(&intruder, &reservation).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        problem_code(&forbidden),
        "NOT_YOUR_RESERVATION",
        "{forbidden}"
    );

    let unknown = problem_of(
        app.pay(&intruder, &Uuid::new_v4().to_string()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(problem_code(&unknown), "RESERVATION_NOT_FOUND", "{unknown}");

    for body in [
        json!({"reservation_id": "not-a-uuid"}),
        json!({"reservation_id": 42}),
        json!({"reservation_id": reservation, "amount": 1}),
        json!({}),
    ] {
        let response = app
            .post("/v1/payments", Some(&intruder), body.clone())
            .await;
        let problem = problem_of(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem_code(&problem), "VALIDATION_ERROR", "{body}");
    }

    // Nothing was published or recorded, and the hold is untouched.
    assert_eq!(
        app.number("select count(*) from requests where kind = 'pay'")
            .await,
        0
    );
    assert_eq!(app.balance_of(&intruder).await, 100_000);
    assert_eq!(
        my_reservations(&app, &owner).await.get(&reservation),
        Some(&"held".to_owned())
    );
}

#[tokio::test]
async fn a_user_paying_for_two_seats_with_money_for_one_never_goes_negative() {
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "2")]).await;
    let price = 70_000;
    let performance = app.add_performance(price).await;
    let (user, token) = app.active_user().await;
    let seats = [1_i64, 2];
    let first = app.hold(&token, performance, seats[0]).await;
    let second = app.hold(&token, performance, seats[1]).await;
    let charged = json_of(app.charge(&token, price).await, StatusCode::OK).await;
    assert_eq!(charged["balance"], price);

    let reservations = [first, second];
    let sent = join_all(
        reservations
            .iter()
            .map(|r| app.pay_accepted_or_token_expired(&token, r)),
    )
    .await;
    let accepted: Vec<String> = sent.into_iter().flatten().collect();
    let outcomes = join_all(accepted.iter().map(|id| app.outcome(&token, id))).await;
    let winners: Vec<&Value> = outcomes
        .iter()
        .filter(|o| o["status"] == "succeeded")
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let paid = text(&winners[0]["result"]["reservation_id"]);
    for outcome in outcomes.iter().filter(|o| o["status"] != "succeeded") {
        assert_eq!(outcome["status"], "rejected", "{outcome}");
        let reason = outcome["reason"].as_str().unwrap_or_default();
        assert!(
            ["TOKEN_NOT_ACTIVE", "INSUFFICIENT_BALANCE", "HOLD_EXPIRED"].contains(&reason),
            "{outcome}"
        );
    }
    let (paid_index, released) = if paid == reservations[0] {
        (0, &reservations[1])
    } else {
        assert_eq!(paid, reservations[1]);
        (1, &reservations[0])
    };

    assert_eq!(app.balance_of(&token).await, 0);
    assert_eq!(
        app.number("select count(*) from ledger where balance_after < 0")
            .await,
        0
    );
    let payments: Vec<(Uuid, Uuid, i64)> =
        sqlx::query_as("select reservation_id, user_id, amount from payments")
            .fetch_all(&app.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(payments, vec![(uuid_of(&paid), uuid_of(&user), price)]);

    // The other hold was released with the payment: it reads expired and
    // its seat is free again.
    let mine = my_reservations(&app, &token).await;
    assert_eq!(mine.get(&paid), Some(&"paid".to_owned()));
    assert_eq!(mine.get(released), Some(&"expired".to_owned()));
    let released_seat = seats[1 - paid_index];
    let (sold, held_until, holder): (bool, Option<chrono::DateTime<chrono::Utc>>, Option<Uuid>) =
        sqlx::query_as(
            "select sold, held_until, reservation_id from seats
              where performance_id = $1 and seat_number = $2",
        )
        .bind(performance)
        .bind(released_seat as i16)
        .fetch_one(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!sold);
    assert_eq!(held_until, None);
    assert_eq!(holder, None);
    let (_, watcher) = app.active_user().await;
    assert_eq!(
        app.seat_status(&watcher, performance, released_seat).await,
        "available"
    );
    assert_eq!(
        app.seat_status(&watcher, performance, seats[paid_index])
            .await,
        "sold"
    );
}

#[tokio::test]
async fn paying_in_one_concert_releases_the_other_holds_there_and_keeps_a_hold_in_another_concert()
{
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "3")]).await;
    let price = 30_000;
    let here = app.add_performance(price).await;
    let elsewhere_concert = app.add_concert(None, None).await;
    let elsewhere = app.add_performance_of(elsewhere_concert, price).await;
    let (user, token) = app.active_user().await;
    let other_room = json_of(
        app.enter_room(&user, elsewhere_concert).await,
        StatusCode::CREATED,
    )
    .await;
    let other_token = text(&other_room["token"]);
    app.wait_until_active(&other_token).await;

    let paid = app.hold(&token, here, 1).await;
    let released = app.hold(&token, here, 2).await;
    let kept = app.hold(&other_token, elsewhere, 1).await;
    json_of(app.charge(&token, price).await, StatusCode::OK).await;
    let request =
        text(&json_of(app.pay(&token, &paid).await, StatusCode::ACCEPTED).await["request_id"]);
    assert_eq!(app.outcome(&token, &request).await["status"], "succeeded");

    let mine = my_reservations(&app, &other_token).await;
    assert_eq!(mine.get(&paid), Some(&"paid".to_owned()));
    assert_eq!(mine.get(&released), Some(&"expired".to_owned()));
    assert_eq!(mine.get(&kept), Some(&"held".to_owned()), "{mine:?}");
    // Only the paying concert's token ended: the other is still active.
    assert_eq!(app.queue_status(&token).await["status"], "expired");
    assert_eq!(app.queue_status(&other_token).await["status"], "active");
    let (_, watcher) = app.active_user_in(elsewhere_concert).await;
    assert_eq!(app.seat_status(&watcher, elsewhere, 1).await, "held");
}
