//! Money conserved under a mixed concurrent workload of charges, holds and
//! payments (SPEC rules 5 and 6).

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use testkit::{
    eventually, invariants, json_of, problem_code, problem_of, spawn_app_with, text, uuid_of,
    TestApp,
};

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
                .map(|r| app.pay_accepted_or_token_expired(&token, r)),
        )
        .await;
    }
    join_all(
        holds
            .iter()
            .map(|(r, _)| app.pay_accepted_or_token_expired(&token, r)),
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
