//! Balance charges: validated, capped at the balance limit, idempotent with
//! a key, and serialised per user (SPEC rule 6).

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use testkit::{json_of, problem_code, problem_of, spawn_app, uuid_of};
use uuid::Uuid;

/// SPEC: no balance may exceed this.
const BALANCE_LIMIT: i64 = 1_000_000_000;
/// SPEC: the largest single charge.
const MAX_CHARGE: i64 = 10_000_000;

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
