//! Poison messages and fencing (issue: survive faults).

use std::time::Duration;
use store::leases::claim as claim_partition;
use testkit::{delivery, eventually, spawn_app};
use workers::apply::{apply_batch, ApplyError, Delivery, Outcome, Rules};

#[tokio::test]
async fn a_poison_message_is_set_aside_and_does_not_block_its_partition() {
    let app = spawn_app().await;
    let performance = app.add_performance(5_000).await;
    let (user, token) = app.active_user().await;
    let key = format!("{performance}:5");
    app.send_raw(&key, b"\x00\x01 definitely not a command")
        .await;
    // A command of a future version whose request the API knows about.
    let future_id = domain::RequestId::new();
    sqlx::query(
        "insert into requests (request_id, user_id, kind) values ($1, $2::uuid, 'reserve')",
    )
    .bind(future_id.0)
    .bind(&user)
    .execute(&app.pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let future =
        serde_json::json!({"v": 99, "request_id": future_id, "user_id": user, "hologram": true});
    app.send_raw(&key, future.to_string().as_bytes()).await;
    // A valid command for the same seat, behind them on the same partition.
    let request = app.reserve(&token, performance, 5).await;
    let outcome = app.outcome(&token, &request).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    assert_eq!(app.number("select count(*) from dead_letters").await, 2);
    let rejected = app.outcome(&token, &future_id.to_string()).await;
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["reason"], "INVALID_COMMAND");
}

#[tokio::test]
async fn a_round_with_one_partition_claimed_by_another_worker_applies_nothing() {
    let app = spawn_app().await;
    let performance = app.add_performance(5_000).await;
    // Two users' commands as if read from partitions 0 and 1 of one round.
    let mut round: Vec<Delivery> = Vec::new();
    for (partition, seat) in [(0, 11), (1, 12)] {
        let (user, token) = app.active_user().await;
        let envelope = app.reserve_command(&user, &token, performance, seat);
        round.push(delivery(partition, &envelope));
    }
    let rules = Rules::from_settings(&app.settings);
    // A lease topic of its own, so the app's live worker cannot interfere.
    let claim = |partition| claim_partition(&app.pool, "fencing-test", partition);
    let owned = claim(0).await.unwrap_or_else(|e| panic!("{e}"));
    let stale = claim(1).await.unwrap_or_else(|e| panic!("{e}"));
    let current = claim(1).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(current.epoch > stale.epoch);

    let fenced = apply_batch(&app.pool, rules, &[owned.clone(), stale], &round).await;
    assert!(matches!(fenced, Err(ApplyError::Fenced(1))), "{fenced:?}");
    assert_eq!(app.number("select count(*) from applied_commands").await, 0);
    assert_eq!(app.number("select count(*) from reservations").await, 0);

    let applied = apply_batch(&app.pool, rules, &[owned, current], &round)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        applied,
        vec![Outcome::Succeeded(domain::RequestKind::Reserve); 2]
    );
    assert_eq!(app.number("select count(*) from reservations").await, 2);
}

#[tokio::test]
async fn a_live_worker_claims_each_partition_it_consumes() {
    let app = spawn_app().await;
    let performance = app.add_performance(5_000).await;
    let (_, token) = app.active_user().await;
    let request = app.reserve(&token, performance, 1).await;
    app.outcome(&token, &request).await;
    let topic = app.settings.command_topic();
    eventually(Duration::from_secs(5), || async {
        app.number(&format!(
            "select count(*) from partition_leases where topic = '{topic}'"
        ))
        .await
            >= 1
    })
    .await;
}
