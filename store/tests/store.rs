//! The store against a real Postgres: each test migrates a database of its
//! own (`testkit::test_settings` names a fresh one).

use chrono::{TimeDelta, Utc};
use domain::{Decision, RejectReason, RequestId, RequestKind, UserId};
use std::time::Duration;
use store::catalog::NewPerformance;
use store::requests::PendingRequest;
use store::{ErrorClass, PgPool};

async fn fresh_store() -> PgPool {
    store_with_connections(2).await
}

async fn store_with_connections(connections: u32) -> PgPool {
    let settings = testkit::test_settings(&[]).await;
    store::create_and_migrate(&settings)
        .await
        .unwrap_or_else(|e| panic!("migrating: {e:#}"));
    store::connect(&settings, connections, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e:#}"))
}

#[tokio::test]
async fn a_row_inserted_twice_reads_as_a_conflict() {
    let pool = fresh_store().await;
    let user = UserId::new();
    store::users::insert(&pool, user, b"first")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = store::users::insert(&pool, user, b"second").await;
    let error = again
        .err()
        .unwrap_or_else(|| panic!("the second insert succeeded"));
    assert_eq!(store::classify(&error), ErrorClass::Conflict);
}

#[tokio::test]
async fn performances_are_made_in_the_order_given_with_their_prices() {
    let pool = fresh_store().await;
    let mut conn = pool.acquire().await.unwrap_or_else(|e| panic!("{e}"));
    let concert = store::catalog::add_concert(
        &mut conn,
        &store::catalog::NewConcert {
            title: "Order",
            artist: "Tester",
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let soon = Utc::now() + TimeDelta::days(10);
    let wanted: Vec<NewPerformance> = [(3, 1_000), (50, 2_000), (1, 3_000)]
        .into_iter()
        .enumerate()
        .map(|(i, (seats, price))| NewPerformance {
            // Later ones start earlier: the order must come from the input.
            starts_at: soon - TimeDelta::days(i as i64),
            prices: (0..seats).map(|n| price + n).collect(),
        })
        .collect();
    let ids = store::catalog::add_performances(&mut conn, concert, &wanted)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids.len(), wanted.len());
    for (id, performance) in ids.iter().zip(&wanted) {
        let seats = store::catalog::seats(&pool, *id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let prices: Vec<i64> = seats.iter().map(|s| s.price).collect();
        assert_eq!(prices, performance.prices, "performance {id}");
        let numbers: Vec<i16> = seats.iter().map(|s| s.seat_number).collect();
        assert_eq!(numbers, (1..=prices.len() as i16).collect::<Vec<_>>());
    }
    let bookable = store::catalog::bookable_performances(&pool, concert, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let earliest_first: Vec<_> = ids.iter().rev().copied().collect();
    let listed: Vec<_> = bookable.iter().map(|p| p.performance_id).collect();
    assert_eq!(listed, earliest_first);
}

#[tokio::test]
async fn the_demo_catalog_is_seeded_into_an_empty_database_only() {
    let pool = fresh_store().await;
    let seed = || store::catalog::seed_demo_if_empty(&pool);
    assert!(seed().await.unwrap_or_else(|e| panic!("{e}")));
    assert!(!seed().await.unwrap_or_else(|e| panic!("{e}")));
    let concerts = store::catalog::concerts(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(concerts.len(), 2);
    for concert in concerts {
        let dates = store::catalog::bookable_performances(&pool, concert.concert_id, false)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dates.len(), 3, "{}", concert.title);
        assert!(dates
            .iter()
            .all(|d| d.available_seats == 50 && d.starts_at > Utc::now()));
    }
}

#[tokio::test]
async fn the_first_body_recorded_for_a_request_id_wins() {
    let pool = fresh_store().await;
    let user = UserId::new();
    store::users::insert(&pool, user, b"key")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let request = RequestId::new();
    let pending = |hash: &str| PendingRequest {
        request_id: request,
        user_id: user,
        kind: RequestKind::Reserve,
        body_hash: hash.to_owned(),
    };
    let mut conn = pool.acquire().await.unwrap_or_else(|e| panic!("{e}"));
    // Twice in one call, then again later: the first body stays.
    let first = store::requests::record_pending(&mut conn, &[pending("a"), pending("b")])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.get(&request), Some(&Some("a".to_owned())));
    let later = store::requests::record_pending(&mut conn, &[pending("c")])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(later.get(&request), Some(&Some("a".to_owned())));
    let stored = store::requests::body_hash_of(&pool, request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored, Some(Some("a".to_owned())));
}

/// The API's batch of accepted commands and a worker's transaction write
/// the same request rows; given their ids in opposite orders they used to
/// deadlock (each waiting for a row the other had written), which cost a
/// second of accepting nothing and failed one of them.
#[tokio::test]
async fn an_api_batch_and_a_worker_writing_the_same_requests_in_opposite_orders_both_finish() {
    let pool = store_with_connections(3).await;
    let user = UserId::new();
    let (mut low, mut high) = (RequestId::new(), RequestId::new());
    if high.0 < low.0 {
        std::mem::swap(&mut low, &mut high);
    }
    let finished = |request| store::requests::Finished {
        request,
        user,
        kind: RequestKind::Reserve,
        decision: Decision::Rejected(RejectReason::SeatTaken),
    };
    let pending = |request_id| PendingRequest {
        request_id,
        user_id: user,
        kind: RequestKind::Reserve,
        body_hash: "h".to_owned(),
    };
    // The worker has written the lower id and not committed.
    let mut worker = pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
    store::requests::record_outcomes(&mut worker, &[finished(low)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The API's batch names the higher id first; it must wait for the
    // worker before writing anything the worker will want.
    let api_pool = pool.clone();
    let batch = [pending(high), pending(low)];
    let api = tokio::spawn(async move {
        let mut conn = api_pool.acquire().await?;
        store::requests::record_pending(&mut conn, &batch).await
    });
    // Until the API's batch waits for the worker's uncommitted row.
    testkit::eventually(Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(&pool)
        .await
        .is_ok_and(|waiting| waiting > 0)
    })
    .await;
    store::requests::record_outcomes(&mut worker, &[finished(high)])
        .await
        .unwrap_or_else(|e| panic!("the worker's second write failed: {e}"));
    worker.commit().await.unwrap_or_else(|e| panic!("{e}"));
    let stored = api
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("the API's batch failed: {e}"));
    assert_eq!(stored.len(), 2);
    for id in [low, high] {
        let request = store::requests::read(&pool, id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("request {id} is missing"));
        assert_eq!(request.status, domain::RequestStatus::Rejected, "{id}");
    }
}
