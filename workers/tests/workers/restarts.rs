//! Workers stopped and started while commands flow.

use futures::future::join_all;
use testkit::spawn_app_with;

#[tokio::test]
async fn a_worker_restarted_mid_stream_loses_nothing() {
    let mut app = spawn_app_with(&[
        ("QUEUE_ACTIVE_CAPACITY", "200"),
        ("MAX_HOLDS_PER_USER", "100"),
    ])
    .await;
    let performances = join_all((0..4).map(|_| app.add_performance(1_000))).await;
    let (_, token) = app.active_user().await;
    let mut requests = Vec::new();
    for (i, performance) in performances.iter().enumerate() {
        for seat in 1..=25 {
            requests.push(app.reserve(&token, *performance, seat).await);
        }
        if i == 1 {
            // Stop the only worker mid-stream and start a new one.
            app.stop_worker(0).await;
            app.start_worker().await;
        }
    }
    let outcomes = join_all(requests.iter().map(|r| app.outcome(&token, r))).await;
    assert!(
        outcomes.iter().all(|o| o["status"] == "succeeded"),
        "{outcomes:?}"
    );
    let holds = app
        .number("select count(*) from reservations where status = 'held'")
        .await;
    assert_eq!(holds, 100);
}
