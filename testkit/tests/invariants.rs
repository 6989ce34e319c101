//! The shared invariants hold after a real purchase and see each kind of
//! damage: a check that can never fail would pass the API's tests and the
//! chaos run alike.

use reqwest::StatusCode;
use std::collections::HashSet;
use testkit::invariants::{self, COMMANDS, MONEY, SEATS};
use testkit::{json_of, spawn_app};

/// The names of the invariants `found` breaks.
fn broken(found: sqlx::Result<Vec<invariants::Violation>>) -> HashSet<&'static str> {
    found
        .unwrap_or_else(|e| panic!("checking invariants: {e}"))
        .into_iter()
        .map(|v| v.invariant)
        .collect()
}

#[tokio::test]
async fn the_invariants_hold_after_a_purchase_and_each_group_sees_its_own_damage() {
    let app = spawn_app().await;
    let performance = app.add_performance(10_000).await;
    let (_, token) = app.active_user().await;
    json_of(app.charge(&token, 50_000).await, StatusCode::OK).await;
    let reservation = app.hold(&token, performance, 1).await;
    let accepted = json_of(app.pay(&token, &reservation).await, StatusCode::ACCEPTED).await;
    let request = testkit::text(&accepted["request_id"]);
    let outcome = app.outcome(&token, &request).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    invariants::assert_holds(invariants::all(&app.pool).await);

    // Money from nowhere: a balance raised without its ledger row.
    sqlx::query("update users set balance = balance + 1")
        .execute(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let money = broken(invariants::money_is_conserved(&app.pool).await);
    assert!(money.contains(MONEY[0].name), "{money:?}");
    assert!(money.contains(MONEY[1].name), "{money:?}");

    // A seat sold to nobody.
    sqlx::query("update seats set sold = true where performance_id = $1 and seat_number = 2")
        .bind(performance)
        .execute(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let seats = broken(invariants::seats_are_sold_once(&app.pool).await);
    assert!(seats.contains(SEATS[2].name), "{seats:?}");

    // A final request whose command was never recorded as applied.
    sqlx::query("delete from applied_commands where command_id = $1::uuid")
        .bind(&request)
        .execute(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let commands = broken(invariants::commands_are_applied_once(&app.pool).await);
    assert!(commands.contains(COMMANDS[1].name), "{commands:?}");

    // `all` reports every group's damage, and nothing the damage did not do.
    let everything = broken(invariants::all(&app.pool).await);
    assert_eq!(everything, &(&money | &seats) | &commands);
}
