//! The waitlist (SPEC rule 11): joining a sold-out performance's list, and
//! every way a seat is freed offering it to the first on the list, never to
//! a faster stranger.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use testkit::{eventually, invariants, json_of, problem_of, spawn_app_with, text, TestApp};

/// The caller's reservation on `performance`'s seat `seat` that is still
/// held, if any.
async fn held_on(app: &TestApp, credential: &str, performance: i64, seat: i64) -> Option<Value> {
    let mine = app.reservations(credential).await;
    mine.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {mine}"))
        .iter()
        .find(|r| {
            r["performance_id"] == performance && r["seat_number"] == seat && r["status"] == "held"
        })
        .cloned()
}

/// Waits until `credential`'s user holds an offer of seat `seat`; returns
/// the reservation.
async fn offered(app: &TestApp, credential: &str, performance: i64, seat: i64) -> Value {
    eventually(Duration::from_secs(20), || async {
        held_on(app, credential, performance, seat).await.is_some()
    })
    .await;
    let offer = held_on(app, credential, performance, seat)
        .await
        .unwrap_or_else(|| panic!("no offer"));
    assert_eq!(offer["offer"], true, "{offer}");
    offer
}

/// Joins the list of `performance` with `token`, expecting `status`;
/// returns the place.
async fn join(app: &TestApp, token: &str, performance: i64, status: StatusCode) -> i64 {
    let place = json_of(app.join_waitlist(token, performance).await, status).await;
    assert_eq!(place["performance_id"], performance, "{place}");
    place["position"]
        .as_i64()
        .unwrap_or_else(|| panic!("no position in {place}"))
}

/// A performance of one seat, held by a fresh active user: sold out.
/// Returns the performance, the holder's token and the hold.
async fn one_seat_held(app: &TestApp) -> (i64, String, String) {
    let performance = app.add_small_performance(app.concert, 10_000, 1).await;
    let (_, holder) = app.active_user().await;
    let hold = app.hold(&holder, performance, 1).await;
    (performance, holder, hold)
}

#[tokio::test]
async fn only_a_sold_out_performance_can_be_joined_and_each_user_has_one_place() {
    let app = spawn_app_with(&[]).await;
    let performance = app.add_small_performance(app.concert, 10_000, 1).await;
    let (_, first) = app.active_user().await;
    let refused = problem_of(
        app.join_waitlist(&first, performance).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(refused["code"], "SEATS_AVAILABLE", "{refused}");

    let (_, holder) = app.active_user().await;
    app.hold(&holder, performance, 1).await;
    assert_eq!(
        join(&app, &first, performance, StatusCode::CREATED).await,
        1
    );
    assert_eq!(join(&app, &first, performance, StatusCode::OK).await, 1);
    let (second_user, second) = app.active_user().await;
    assert_eq!(
        join(&app, &second, performance, StatusCode::CREATED).await,
        2
    );

    // Leaving moves those behind up; leaving twice is no error.
    let gone = app.leave_waitlist(&first, performance).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let again = app.leave_waitlist(&first, performance).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    assert_eq!(join(&app, &second, performance, StatusCode::OK).await, 1);
    let key = app.key_of(&second_user);
    let left = app.leave_waitlist(&key, performance).await;
    assert_eq!(
        left.status(),
        StatusCode::NO_CONTENT,
        "the key may leave too"
    );
    assert_eq!(app.number("select count(*) from waitlist").await, 0);
}

#[tokio::test]
async fn joining_needs_an_active_token_of_the_concert_and_a_known_performance() {
    let app = spawn_app_with(&[]).await;
    let (performance, _, _) = one_seat_held(&app).await;
    let elsewhere = app.add_concert(None, None).await;
    let (_, other_concert) = app.active_user_in(elsewhere).await;
    let wrong = problem_of(
        app.join_waitlist(&other_concert, performance).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(wrong["code"], "TOKEN_NOT_FOR_CONCERT", "{wrong}");
    let (_, token) = app.active_user().await;
    let unknown = problem_of(
        app.join_waitlist(&token, 999_999).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(unknown["code"], "PERFORMANCE_NOT_FOUND", "{unknown}");
    let bad = problem_of(app.join_waitlist(&token, -1).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(bad["code"], "VALIDATION_ERROR", "{bad}");
    let forged = problem_of(
        app.join_waitlist("not-a-token", performance).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(forged["code"], "INVALID_TOKEN", "{forged}");
}

#[tokio::test]
async fn a_released_hold_goes_to_the_first_on_the_list_and_the_seat_is_never_available() {
    let app = spawn_app_with(&[]).await;
    let (performance, holder, hold) = one_seat_held(&app).await;
    let (first_user, first) = app.active_user().await;
    let (_, second) = app.active_user().await;
    join(&app, &first, performance, StatusCode::CREATED).await;
    join(&app, &second, performance, StatusCode::CREATED).await;

    let released = app.cancelled(&holder, &hold).await;
    assert_eq!(released["result"]["status"], "cancelled", "{released}");
    let offer = offered(&app, &app.key_of(&first_user), performance, 1).await;
    assert_eq!(offer["price"], 10_000);

    // Nobody else can take it: it reads held, a reserve is SEAT_TAKEN, the
    // date is not bookable, and the second stays on the list.
    let (_, stranger) = app.active_user().await;
    assert_eq!(app.seat_status(&stranger, performance, 1).await, "held");
    let request = app.reserve(&stranger, performance, 1).await;
    let taken = app.outcome(&stranger, &request).await;
    assert_eq!(taken["reason"], "SEAT_TAKEN", "{taken}");
    assert_eq!(join(&app, &second, performance, StatusCode::OK).await, 1);
    let report = app.number("select count(*) from waitlist").await;
    assert_eq!(report, 1);
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn a_lapsed_hold_goes_to_the_first_on_the_list_never_to_a_faster_stranger() {
    let app = spawn_app_with(&[("HOLD_TTL_SECONDS", "2")]).await;
    let (performance, _, hold) = one_seat_held(&app).await;
    let (waiting_user, waiting) = app.active_user().await;
    join(&app, &waiting, performance, StatusCode::CREATED).await;
    let (_, stranger) = app.active_user().await;

    // The stranger tries for the seat again and again across the moment the
    // hold lapses: each try is refused, and the seat goes to the list.
    let key = app.key_of(&waiting_user);
    let mut tries = 0;
    while held_on(&app, &key, performance, 1).await.is_none() {
        let request = app.reserve(&stranger, performance, 1).await;
        let outcome = app.outcome(&stranger, &request).await;
        assert_eq!(outcome["reason"], "SEAT_TAKEN", "try {tries}: {outcome}");
        tries += 1;
        assert!(tries < 2_000, "no offer after {tries} tries");
    }
    assert!(tries > 0);
    let offer = offered(&app, &key, performance, 1).await;
    assert_ne!(offer["reservation_id"], hold.as_str());
    let stranger_holds = app.reservations(&stranger).await;
    assert_eq!(stranger_holds, json!([]), "the stranger got nothing");
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn an_offer_that_runs_out_goes_to_the_next_on_the_list_then_the_seat_is_free() {
    let app = spawn_app_with(&[("WAITLIST_OFFER_SECONDS", "2")]).await;
    let (performance, holder, hold) = one_seat_held(&app).await;
    let (first_user, first) = app.active_user().await;
    let (second_user, second) = app.active_user().await;
    join(&app, &first, performance, StatusCode::CREATED).await;
    join(&app, &second, performance, StatusCode::CREATED).await;
    app.cancelled(&holder, &hold).await;

    let first_offer = offered(&app, &app.key_of(&first_user), performance, 1).await;
    let second_offer = offered(&app, &app.key_of(&second_user), performance, 1).await;
    assert_ne!(
        first_offer["reservation_id"],
        second_offer["reservation_id"]
    );
    let first_now = app.reservations(&app.key_of(&first_user)).await;
    assert_eq!(first_now[0]["status"], "expired", "{first_now}");

    // With nobody left on the list, the lapsed offer frees the seat.
    eventually(Duration::from_secs(20), || async {
        app.seat_status(&holder, performance, 1).await == "available"
    })
    .await;
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn an_offer_is_paid_with_a_token_that_is_no_longer_active_and_a_plain_hold_is_not() {
    let app = spawn_app_with(&[("ACTIVE_TOKEN_TTL_SECONDS", "3")]).await;
    let (performance, holder, hold) = one_seat_held(&app).await;
    let (waiting_user, waiting) = app.active_user().await;
    join(&app, &waiting, performance, StatusCode::CREATED).await;
    json_of(app.charge(&waiting, 50_000).await, StatusCode::OK).await;
    eventually(Duration::from_secs(20), || async {
        app.queue_status(&waiting).await["status"] == "expired"
    })
    .await;
    // The holder's token has expired too: their plain hold cannot be paid.
    let refused = problem_of(app.pay(&holder, &hold).await, StatusCode::FORBIDDEN).await;
    assert_eq!(refused["code"], "TOKEN_NOT_ACTIVE", "{refused}");

    app.cancelled(&holder, &hold).await;
    let offer = offered(&app, &app.key_of(&waiting_user), performance, 1).await;
    let accepted = json_of(
        app.pay(&waiting, &text(&offer["reservation_id"])).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let paid = app.outcome(&waiting, &text(&accepted["request_id"])).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["result"]["amount"], 10_000);
    let sold = app
        .number(&format!(
            "select count(*) from seats where performance_id = {performance} and sold"
        ))
        .await;
    assert_eq!(sold, 1);
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn a_refunded_seat_and_the_holds_a_payment_releases_go_to_the_list() {
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "2")]).await;
    let performance = app.add_small_performance(app.concert, 10_000, 2).await;
    let (buyer_user, buyer) = app.active_user().await;
    json_of(app.charge(&buyer, 50_000).await, StatusCode::OK).await;
    let kept = app.hold(&buyer, performance, 1).await;
    app.hold(&buyer, performance, 2).await;
    let (first_user, first) = app.active_user().await;
    let (second_user, second) = app.active_user().await;
    join(&app, &first, performance, StatusCode::CREATED).await;
    join(&app, &second, performance, StatusCode::CREATED).await;

    // Paying for seat 1 releases seat 2: the first on the list gets it.
    let accepted = json_of(app.pay(&buyer, &kept).await, StatusCode::ACCEPTED).await;
    let paid = app.outcome(&buyer, &text(&accepted["request_id"])).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    offered(&app, &app.key_of(&first_user), performance, 2).await;

    // Refunding seat 1 gives it to the second.
    let key = app.key_of(&buyer_user);
    let refund = app.cancelled(&key, &kept).await;
    assert_eq!(refund["result"]["status"], "refunded", "{refund}");
    offered(&app, &app.key_of(&second_user), performance, 1).await;
    assert_eq!(app.number("select count(*) from waitlist").await, 0);
    invariants::assert_holds(invariants::all(&app.pool).await);
}

#[tokio::test]
async fn many_waiting_are_offered_freed_seats_in_the_order_they_joined() {
    let app = spawn_app_with(&[("MAX_HOLDS_PER_USER", "3")]).await;
    let performance = app.add_small_performance(app.concert, 10_000, 3).await;
    let (_, holder) = app.active_user().await;
    let holds = [
        app.hold(&holder, performance, 1).await,
        app.hold(&holder, performance, 2).await,
        app.hold(&holder, performance, 3).await,
    ];
    let mut waiting = Vec::new();
    for expected in 1..=5 {
        let (user, token) = app.active_user().await;
        assert_eq!(
            join(&app, &token, performance, StatusCode::CREATED).await,
            expected
        );
        waiting.push(app.key_of(&user));
    }
    for hold in &holds {
        app.cancelled(&holder, hold).await;
    }
    for (key, seat) in waiting.iter().zip([1, 2, 3]) {
        offered(&app, key, performance, seat).await;
    }
    for key in &waiting[3..] {
        assert_eq!(app.reservations(key).await, json!([]));
    }
    assert_eq!(app.number("select count(*) from waitlist").await, 2);
    invariants::assert_holds(invariants::all(&app.pool).await);
}
