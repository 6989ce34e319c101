//! Balance charges and payments: validated, capped, idempotent, serialised
//! per user, and money conserved under concurrency (SPEC rules 5 and 6).

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use testkit::{
    eventually, invariants, json_of, problem_code, problem_of, spawn_app, spawn_app_with, text,
    uuid_of, TestApp,
};
use uuid::Uuid;

/// SPEC: no balance may exceed this.
const BALANCE_LIMIT: i64 = 1_000_000_000;
/// SPEC: the largest single charge.
const MAX_CHARGE: i64 = 10_000_000;

/// The caller's reservations, by id, with their visible status.
async fn my_reservations(app: &TestApp, token: &str) -> HashMap<String, String> {
    let mine = app.reservations(token).await;
    mine.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {mine}"))
        .iter()
        .map(|r| (text(&r["reservation_id"]), text(&r["status"])))
        .collect()
}

/// Sends a payment; `Some(request_id)` when accepted, `None` when the API
/// refused it because the token had already expired (by an earlier payment).
async fn pay_accepted_or_token_expired(
    app: &TestApp,
    token: &str,
    reservation: &str,
) -> Option<String> {
    let response = app.pay(token, reservation).await;
    match response.status() {
        StatusCode::ACCEPTED => Some(text(
            &json_of(response, StatusCode::ACCEPTED).await["request_id"],
        )),
        StatusCode::FORBIDDEN => {
            let problem = problem_of(response, StatusCode::FORBIDDEN).await;
            assert_eq!(problem_code(&problem), "TOKEN_NOT_ACTIVE", "{problem}");
            None
        }
        other => {
            let body = response.text().await.unwrap_or_default();
            panic!("payment answered {other}: {body}")
        }
    }
}

#[tokio::test]
async fn fifty_concurrent_charges_add_up_exactly() {
    let app = spawn_app().await;
    let (user, token) = app.active_user().await;
    let amounts: Vec<i64> = (1..=50).map(|i| i * 1_013 + 7).collect();

    let responses = join_all(amounts.iter().map(|&a| app.charge(&token, a))).await;
    let mut answered = Vec::new();
    for response in responses {
        let body = json_of(response, StatusCode::OK).await;
        assert_eq!(body["user_id"], user.as_str());
        answered.push(body["balance"].as_i64().unwrap_or_default());
    }

    let expected: i64 = amounts.iter().sum();
    assert_eq!(app.balance_of(&token).await, expected);
    let ledger: Vec<(i64, i64)> = sqlx::query_as(
        "select amount, balance_after from ledger
          where user_id = $1 and kind = 'charge' order by entry_id",
    )
    .bind(uuid_of(&user))
    .fetch_all(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ledger.len(), amounts.len());
    assert_eq!(ledger.iter().map(|(a, _)| a).sum::<i64>(), expected);
    // Every charge saw the one before it: the balances after form a running sum.
    let mut running = 0;
    for (amount, after) in &ledger {
        running += amount;
        assert_eq!(*after, running, "ledger {ledger:?}");
    }
    let mut charged: Vec<i64> = ledger.iter().map(|(a, _)| *a).collect();
    charged.sort_unstable();
    assert_eq!(charged, amounts);
    // Each answer was the balance right after its own charge.
    let mut afters: Vec<i64> = ledger.iter().map(|(_, b)| *b).collect();
    afters.sort_unstable();
    answered.sort_unstable();
    assert_eq!(answered, afters);
}

#[tokio::test]
async fn a_charge_is_validated_and_capped_at_the_balance_limit() {
    let app = spawn_app().await;
    let (user, token) = app.active_user().await;
    for body in [
        json!({"amount": 0}),
        json!({"amount": -1}),
        json!({"amount": MAX_CHARGE + 1}),
        json!({"amount": "100"}),
        json!({"amount": 1.5}),
        json!({}),
        json!({"amount": 100, "currency": "KRW"}),
    ] {
        let response = app
            .post("/v1/balance/charges", Some(&token), body.clone())
            .await;
        let problem = problem_of(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem_code(&problem), "VALIDATION_ERROR", "{body}");
    }
    assert_eq!(app.balance_of(&token).await, 0);
    assert_eq!(app.number("select count(*) from ledger").await, 0);

    // Bring the balance to one largest charge below the limit, ledger and
    // all, so that the books still balance.
    let seeded = BALANCE_LIMIT - MAX_CHARGE;
    sqlx::query(
        "with u as (update users set balance = $2 where user_id = $1 returning user_id)
         insert into ledger (user_id, kind, amount, balance_after, reference)
         select user_id, 'charge', $2, $2, $3 from u",
    )
    .bind(uuid_of(&user))
    .bind(seeded)
    .bind(Uuid::new_v4())
    .execute(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let full = json_of(app.charge(&token, MAX_CHARGE).await, StatusCode::OK).await;
    assert_eq!(full["balance"], BALANCE_LIMIT);
    assert_eq!(app.balance_of(&token).await, BALANCE_LIMIT);

    let over = problem_of(app.charge(&token, 1).await, StatusCode::CONFLICT).await;
    assert_eq!(problem_code(&over), "BALANCE_LIMIT", "{over}");
    assert_eq!(over["status"], 409);
    assert_eq!(app.balance_of(&token).await, BALANCE_LIMIT);
    assert_eq!(app.number("select count(*) from ledger").await, 2);
    assert_eq!(
        app.number("select coalesce(sum(amount), 0)::bigint from ledger")
            .await,
        BALANCE_LIMIT
    );
}

#[tokio::test]
async fn a_charge_with_an_idempotency_key_is_applied_once() {
    let app = spawn_app().await;
    let (_, token) = app.active_user().await;
    let (_, other_token) = app.active_user().await;
    let amount = 25_000;

    let first = json_of(
        app.charge_with_key(&token, "top-up-1", amount).await,
        StatusCode::OK,
    )
    .await;
    let again = json_of(
        app.charge_with_key(&token, "top-up-1", amount).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first, again);
    assert_eq!(first["balance"], amount);
    assert_eq!(app.balance_of(&token).await, amount);

    let reused = problem_of(
        app.charge_with_key(&token, "top-up-1", amount + 1).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem_code(&reused), "IDEMPOTENCY_KEY_REUSED", "{reused}");
    assert_eq!(app.balance_of(&token).await, amount);

    // Keys are per user: another user's identical key is a charge of its own.
    json_of(
        app.charge_with_key(&other_token, "top-up-1", amount).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.balance_of(&other_token).await, amount);
    assert_eq!(app.balance_of(&token).await, amount);
    assert_eq!(
        app.number("select count(*) from ledger where kind = 'charge'")
            .await,
        2
    );
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
        join_all((0..10).map(|_| pay_accepted_or_token_expired(&app, &token, &reservation))).await;
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
            .map(|r| pay_accepted_or_token_expired(&app, &token, r)),
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

/// How long the mixed workload runs: well past the hold TTL, so holds lapse
/// while others are being reserved and paid.
const WORKLOAD: Duration = Duration::from_secs(5);
const HOLD_TTL: Duration = Duration::from_secs(2);
/// Seats 1..=this of each performance are shared by every shopper.
const SHARED_SEATS: usize = 25;

/// How a shopper pays for its holds.
#[derive(Clone, Copy)]
enum Habit {
    /// Pays its newest hold at once, and sends that payment twice.
    Eager,
    /// Pays only holds that are past their TTL by now.
    Late,
    /// Pays every hold it has at once, concurrently, with whatever it has.
    Greedy,
}

/// Joins the waiting room again after a payment ended the turn; returns the
/// new, active token.
async fn rejoin(app: &TestApp, user: &str) -> String {
    let response = app.enter_queue(user).await;
    let status = response.status();
    assert!(
        status == StatusCode::CREATED || status == StatusCode::OK,
        "rejoining answered {status}"
    );
    let token = text(&json_of(response, status).await["token"]);
    app.wait_until_active(&token).await;
    token
}

/// One shopper's part of the mixed workload, until `until`: charges now and
/// then, holds seats shared with everyone, pays them by `habit`, and rejoins
/// the queue whenever a payment ended its turn. Returns the sum of the
/// charges the API acknowledged.
async fn shop(
    app: &TestApp,
    user: &str,
    first_token: &str,
    shopper: usize,
    performances: &[i64],
    until: tokio::time::Instant,
) -> i64 {
    let habit = [Habit::Eager, Habit::Late, Habit::Greedy][shopper % 3];
    let mut token = first_token.to_owned();
    let mut charged = 0;
    let mut holds: Vec<(String, tokio::time::Instant)> = Vec::new();
    let mut step = 0_usize;
    while tokio::time::Instant::now() < until && step < 1_000 {
        step += 1;
        if step % 5 == 1 {
            let amount = 500 + 1_000 * ((shopper + step) % 7) as i64;
            json_of(app.charge(&token, amount).await, StatusCode::OK).await;
            charged += amount;
        }

        let performance = performances[(shopper + step) % performances.len()];
        let seat = ((shopper * 7 + step * 3) % SHARED_SEATS + 1) as i64;
        let response = app
            .post(
                "/v1/reservations",
                Some(&token),
                json!({"performance_id": performance, "seat_number": seat}),
            )
            .await;
        if response.status() == StatusCode::ACCEPTED {
            let request = text(&json_of(response, StatusCode::ACCEPTED).await["request_id"]);
            let outcome = app.outcome(&token, &request).await;
            if outcome["status"] == "succeeded" {
                let reservation = text(&outcome["result"]["reservation_id"]);
                holds.push((reservation, tokio::time::Instant::now()));
            }
        } else {
            // A payment ended this shopper's turn.
            let problem = problem_of(response, StatusCode::FORBIDDEN).await;
            assert_eq!(problem_code(&problem), "TOKEN_NOT_ACTIVE");
            token = rejoin(app, user).await;
        }

        let due: Vec<String> = match habit {
            Habit::Eager => holds
                .pop()
                .map(|(r, _)| vec![r.clone(), r])
                .unwrap_or_default(),
            Habit::Late => {
                let (late, fresh) = holds
                    .drain(..)
                    .partition(|(_, at)| at.elapsed() > HOLD_TTL + Duration::from_millis(300));
                holds = fresh;
                late.into_iter().map(|(r, _)| r).collect()
            }
            Habit::Greedy => holds.drain(..).map(|(r, _)| r).collect(),
        };
        join_all(
            due.iter()
                .map(|r| pay_accepted_or_token_expired(app, &token, r)),
        )
        .await;
    }
    join_all(
        holds
            .iter()
            .map(|(r, _)| pay_accepted_or_token_expired(app, &token, r)),
    )
    .await;
    charged
}

#[tokio::test]
async fn money_is_conserved_under_a_mixed_concurrent_workload() {
    let ttl = HOLD_TTL.as_secs().to_string();
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "2"), ("HOLD_TTL_SECONDS", &ttl)]).await;
    let performances = [
        app.add_performance(9_000).await,
        app.add_performance(14_000).await,
    ];
    let shoppers = join_all((0..10).map(|_| app.active_user())).await;

    let until = tokio::time::Instant::now() + WORKLOAD;
    let charged_by = join_all(
        shoppers
            .iter()
            .enumerate()
            .map(|(i, (user, token))| shop(&app, user, token, i, &performances, until)),
    )
    .await;
    eventually(Duration::from_secs(60), || async {
        app.number("select count(*) from requests where status = 'pending'")
            .await
            == 0
    })
    .await;

    // The workload did pay for something, or the rest proves little.
    assert!(app.number("select count(*) from payments").await > 0);

    // Every acknowledged charge, and nothing else, is in the ledger.
    for ((user, _), charged) in shoppers.iter().zip(&charged_by) {
        let booked: i64 = sqlx::query_scalar(
            "select coalesce(sum(amount), 0)::bigint from ledger
              where user_id = $1 and kind = 'charge'",
        )
        .bind(uuid_of(user))
        .fetch_one(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(booked, *charged, "charges of {user}");
    }

    // Rule 6 (balances plus payments equal charges, every balance its own
    // ledger's sum, no entry below zero, each payment in the ledger once),
    // no seat sold twice (each paid reservation has exactly one payment, of
    // its price, by its owner, and its seat is sold to it), and each
    // succeeded payment request names its payment: the checks the chaos run
    // makes too.
    invariants::assert_holds(invariants::all(&app.pool).await);
    // No command was set aside as unappliable.
    assert_eq!(
        app.number("select count(*) from requests where reason = 'INVALID_COMMAND'",)
            .await,
        0
    );
}
