//! Starts the real API and a real worker in-process against the real broker
//! and Postgres. Each test gets its own database and topic prefix, so tests
//! run in parallel without seeing each other.

use api::Application;
use domain::config::Settings;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const TEST_SECRET: &str = "test-secret-0123456789abcdef0123456789";

/// Where Postgres and Kafka are: from the environment (set by
/// `scripts/test`), or containers started once per test binary when Docker is
/// there instead.
struct Infra {
    database_url: String,
    kafka_brokers: String,
}

static INFRA: OnceCell<Infra> = OnceCell::const_new();
static CONTAINERS: OnceLock<Vec<Box<dyn std::any::Any + Send + Sync>>> = OnceLock::new();

async fn infra() -> &'static Infra {
    INFRA
        .get_or_init(|| async {
            if let (Ok(database_url), Ok(kafka_brokers)) = (
                std::env::var("DATABASE_URL"),
                std::env::var("KAFKA_BROKERS"),
            ) {
                return Infra {
                    database_url,
                    kafka_brokers,
                };
            }
            start_containers().await
        })
        .await
}

/// The `apache/kafka` image tag: the version in kafka/pom.xml.
pub const KAFKA_IMAGE_TAG: &str = "4.1.1";

async fn start_containers() -> Infra {
    use testcontainers_modules::kafka::apache;
    use testcontainers_modules::postgres::Postgres;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    use testcontainers_modules::testcontainers::ImageExt;
    let docker = std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        docker,
        "set DATABASE_URL and KAFKA_BROKERS (scripts/test does) or run a Docker engine"
    );
    let pg = Postgres::default()
        .with_host_auth()
        .start()
        .await
        .unwrap_or_else(|e| panic!("starting Postgres: {e}"));
    // The JVM image of the Kafka version scripts/ and docker-compose.yml run
    // (kafka/pom.xml), not the module's default 3.8 native image.
    let kafka = apache::Kafka::default()
        .with_jvm_image()
        .with_tag(KAFKA_IMAGE_TAG)
        // The workers' KIP-848 group, as scripts/common.sh configures it.
        .with_env_var("KAFKA_GROUP_CONSUMER_SESSION_TIMEOUT_MS", "10000")
        .with_env_var("KAFKA_GROUP_CONSUMER_MIN_SESSION_TIMEOUT_MS", "6000")
        .with_env_var("KAFKA_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS", "1000")
        .with_env_var("KAFKA_GROUP_CONSUMER_MIN_HEARTBEAT_INTERVAL_MS", "1000")
        .start()
        .await
        .unwrap_or_else(|e| panic!("starting Kafka: {e}"));
    let pg_port = pg
        .get_host_port_ipv4(5432)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let kafka_port = kafka
        .get_host_port_ipv4(apache::KAFKA_PORT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = CONTAINERS.set(vec![Box::new(pg), Box::new(kafka)]);
    Infra {
        database_url: format!("postgres://postgres@127.0.0.1:{pg_port}/postgres"),
        kafka_brokers: format!("127.0.0.1:{kafka_port}"),
    }
}

/// Settings for a fresh database and topic prefix, with `overrides` applied.
pub async fn test_settings(overrides: &[(&str, &str)]) -> Settings {
    let infra = infra().await;
    let id = Uuid::new_v4().simple().to_string();
    let base = infra
        .database_url
        .rsplit_once('/')
        .map(|(server, _)| server.to_owned())
        .unwrap_or_else(|| infra.database_url.clone());
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", format!("{base}/test_{id}")),
        ("KAFKA_BROKERS", infra.kafka_brokers.clone()),
        ("KAFKA_TOPIC_PREFIX", format!("test.{id}.")),
        ("TOKEN_SECRET", TEST_SECRET.to_owned()),
        ("HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("WORKER_METRICS_ADDR", "127.0.0.1:0".to_owned()),
        ("SEAT_COMMAND_PARTITIONS", "4".to_owned()),
        ("DATABASE_POOL_SIZE", "4".to_owned()),
        // Tests drive many users from 127.0.0.1; the limit has tests of
        // its own, which turn it on.
        ("RATE_LIMIT_PER_IP_PER_MINUTE", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in overrides {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_lookup(|k| env.get(k).cloned()).unwrap_or_else(|e| panic!("{e}"))
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub pool: PgPool,
    shutdown: CancellationToken,
    api: Option<JoinHandle<anyhow::Result<()>>>,
    workers: Vec<(CancellationToken, JoinHandle<anyhow::Result<()>>)>,
    /// Each registered user's key, by user id, so a test can enter a
    /// waiting room as any user it made.
    keys: std::sync::Mutex<HashMap<String, String>>,
}

/// A migrated database, the topic, one API and one worker.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

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
    };
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Registers a user; returns its id (its key is remembered).
    pub async fn register(&self) -> String {
        let body = json_of(
            self.post("/v1/users", None, json!({})).await,
            StatusCode::CREATED,
        )
        .await;
        let user = body["user_id"].as_str().unwrap_or_default().to_owned();
        let key = body["user_key"].as_str().unwrap_or_default().to_owned();
        self.remember_key(&user, &key);
        user
    }

    /// Notes `key` as the user key of `user` (for users made in SQL).
    pub fn remember_key(&self, user: &str, key: &str) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.insert(user.to_owned(), key.to_owned());
        }
    }

    /// The key of a user this test registered.
    pub fn key_of(&self, user: &str) -> String {
        self.keys
            .lock()
            .ok()
            .and_then(|keys| keys.get(user).cloned())
            .unwrap_or_else(|| panic!("no key known for user {user}"))
    }

    /// `POST /v1/queue/tokens` for `user` with its key, on `base` (an API
    /// instance's URL).
    pub async fn enter_queue_on(&self, base: &str, user: &str) -> Response {
        self.client
            .post(format!("{base}/v1/queue/tokens"))
            .bearer_auth(self.key_of(user))
            .json(&json!({"user_id": user}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /v1/queue/tokens: {e}"))
    }

    /// `POST /v1/queue/tokens` for `user` with its key.
    pub async fn enter_queue(&self, user: &str) -> Response {
        self.enter_queue_on(&self.address, user).await
    }

    /// Registers a user and waits until their queue token is active.
    pub async fn active_user(&self) -> (String, String) {
        let user = self.register().await;
        let body = self.enter_queue(&user).await;
        let token = json_of(body, StatusCode::CREATED).await["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.wait_until_active(&token).await;
        (user, token)
    }

    pub async fn wait_until_active(&self, token: &str) {
        eventually(Duration::from_secs(20), || async {
            let status = json_of(
                self.get("/v1/queue/status", Some(token)).await,
                StatusCode::OK,
            )
            .await;
            status["status"] == "active"
        })
        .await;
    }

    /// Adds a future performance of 50 seats at `price` and returns its id.
    pub async fn add_performance(&self, price: i64) -> i64 {
        let id: i64 = sqlx::query_scalar(
            "with c as (insert into concerts (title, artist) values ('Test', 'Tester') returning concert_id),
                  p as (insert into performances (concert_id, starts_at)
                        select concert_id, now() + interval '30 days' from c returning performance_id),
                  s as (insert into seats (performance_id, seat_number, price)
                        select performance_id, n, $1 from p, generate_series(1, 50) n)
             select performance_id from p",
        )
        .bind(price)
        .fetch_one(&self.pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        id
    }

    /// Sends a reserve command; returns the request id.
    pub async fn reserve(&self, token: &str, performance: i64, seat: i64) -> String {
        let response = self
            .post(
                "/v1/reservations",
                Some(token),
                json!({"performance_id": performance, "seat_number": seat}),
            )
            .await;
        json_of(response, StatusCode::ACCEPTED).await["request_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Long-polls a request until it is final.
    pub async fn outcome(&self, token: &str, request_id: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..6 {
            let response = self
                .get(
                    &format!("/v1/requests/{request_id}?wait_ms=10000"),
                    Some(token),
                )
                .await;
            last = json_of(response, StatusCode::OK).await;
            if last["status"] != "pending" {
                return last;
            }
        }
        panic!("request {request_id} still pending: {last}");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The JSON body of `response`, after checking its status.
pub async fn json_of(response: Response, expected: StatusCode) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, expected, "unexpected status; body: {body}");
    body
}

/// Waits until `condition` holds, checking every 50 ms; fails after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn problem_code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}
