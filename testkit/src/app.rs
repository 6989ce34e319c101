//! The in-process stack: the real API and workers, started inside the test
//! binary against the real broker and Postgres, with a database and topic
//! prefix of their own.

use crate::infra::test_settings;
use api::Application;
use domain::config::Settings;
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Duration;
use store::catalog::{NewConcert, NewPerformance};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One test's stack: a migrated database, the command topic, the API
/// instances and workers started so far, and a client to talk to them.
/// Dropping it stops every instance.
pub struct TestApp {
    /// The base URL of the first API instance, which the steps talk to.
    pub address: String,
    /// The HTTP client the steps use, for requests they do not cover.
    pub client: reqwest::Client,
    /// The settings every instance runs with, for building commands and
    /// clients the way they do.
    pub settings: Settings,
    /// A pool on the test's database, to arrange and inspect state.
    pub pool: PgPool,
    shutdown: CancellationToken,
    api: Option<JoinHandle<anyhow::Result<()>>>,
    workers: Vec<(CancellationToken, JoinHandle<anyhow::Result<()>>)>,
    /// Each registered user's key, by user id, so a test can enter a
    /// waiting room as any user it made.
    pub(crate) keys: std::sync::Mutex<HashMap<String, String>>,
    /// The concert most tests need, on sale at once: the steps enter its
    /// waiting room and [`TestApp::add_performance`] adds its dates.
    pub concert: i64,
}

/// A migrated database, the topic, one API and one worker.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// [`spawn_app`] with settings `overrides` (environment names and values),
/// for tests of a limit or a timing.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let settings = test_settings(overrides).await;
    store::create_and_migrate(&settings)
        .await
        .unwrap_or_else(|e| panic!("migrating: {e:#}"));
    workers::kafka::ensure_topics(&settings)
        .await
        .unwrap_or_else(|e| panic!("creating topics: {e:#}"));
    let pool =
        store::connect(&settings, 4, Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e:#}"));
    let mut app = TestApp {
        address: String::new(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("{e}")),
        settings: settings.clone(),
        pool,
        shutdown: CancellationToken::new(),
        api: None,
        workers: Vec::new(),
        keys: Default::default(),
        concert: 0,
    };
    app.concert = app.add_concert(None, None).await;
    app.address = app.start_api().await;
    app.start_worker().await;
    app
}

impl TestApp {
    /// Starts another API instance on the same database and topic; returns
    /// its base URL.
    pub async fn start_api(&mut self) -> String {
        self.start_api_with(self.settings.clone()).await
    }

    /// Starts an API instance with other settings; returns its base URL.
    pub async fn start_api_with(&mut self, settings: Settings) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let app = Application::build(settings, listener)
            .await
            .unwrap_or_else(|e| panic!("building the API: {e:#}"));
        let address = format!(
            "http://{}",
            app.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let handle = tokio::spawn(app.run_until_stopped(self.shutdown.child_token()));
        if self.api.is_none() {
            self.api = Some(handle);
        }
        address
    }

    /// Starts a worker in the consumer group; returns its index.
    pub async fn start_worker(&mut self) -> usize {
        let worker = workers::Worker::build(self.settings.clone())
            .await
            .unwrap_or_else(|e| panic!("building a worker: {e:#}"));
        let token = self.shutdown.child_token();
        let handle = tokio::spawn(worker.run_until_stopped(token.clone()));
        self.workers.push((token, handle));
        self.workers.len() - 1
    }

    /// Stops worker `index` gracefully and waits for it.
    pub async fn stop_worker(&mut self, index: usize) {
        let (token, handle) = &mut self.workers[index];
        token.cancel();
        let result = handle.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(result.is_ok(), "worker stopped with {result:?}");
    }

    /// The one number `sql` selects (a count, a sum), to assert on the
    /// database.
    pub async fn number(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Adds a concert (with its waiting room) whose sale opens at
    /// `sale_opens_at` (`None`: on sale now) and whose room admits
    /// `capacity` at once (`None`: `QUEUE_ACTIVE_CAPACITY`); returns its id.
    pub async fn add_concert(
        &self,
        sale_opens_at: Option<chrono::DateTime<chrono::Utc>>,
        capacity: Option<u32>,
    ) -> i64 {
        let mut conn = self.pool.acquire().await.unwrap_or_else(|e| panic!("{e}"));
        let concert = NewConcert {
            title: "Test",
            artist: "Tester",
            sale_opens_at,
            queue_capacity: capacity,
        };
        store::catalog::add_concert(&mut conn, &concert)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    }

    /// Adds a future performance of 50 seats at `price` to the house
    /// concert and returns its id: the catalog most tests need.
    pub async fn add_performance(&self, price: i64) -> i64 {
        self.add_performance_of(self.concert, price).await
    }

    /// Adds a future performance of 50 seats at `price` to `concert` and
    /// returns its id.
    pub async fn add_performance_of(&self, concert: i64, price: i64) -> i64 {
        self.add_small_performance(concert, price, 50).await
    }

    /// Adds a future performance of `seats` seats (1..=50) at `price` to
    /// `concert` and returns its id: a performance a test can sell out.
    pub async fn add_small_performance(&self, concert: i64, price: i64, seats: usize) -> i64 {
        let mut conn = self.pool.acquire().await.unwrap_or_else(|e| panic!("{e}"));
        let concert = domain::ConcertId(concert);
        let performance = NewPerformance {
            starts_at: chrono::Utc::now() + chrono::TimeDelta::days(30),
            prices: vec![price; seats],
        };
        let ids = store::catalog::add_performances(&mut conn, concert, &[performance])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        ids.first()
            .map(|p| p.0)
            .unwrap_or_else(|| panic!("no performance made"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
