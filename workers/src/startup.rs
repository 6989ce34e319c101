//! Building and running a worker; the binary and the tests share this.

use crate::apply::Rules;
use crate::consumer::{self, apply_with_retry, Applied, CommandConsumer};
use crate::metrics::{self, Metrics};
use crate::{jobs, kafka};
use anyhow::Context;
use domain::config::Settings;
use rdkafka::consumer::Consumer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long a worker waits for a database connection before it counts
/// Postgres as unreachable and backs off.
const DB_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A worker: a member of the consumer group that applies commands, with the
/// background jobs and its metrics endpoint.
pub struct Worker {
    settings: Settings,
    pool: PgPool,
    consumer: CommandConsumer,
    metrics_listener: TcpListener,
    metrics: Arc<Metrics>,
}

impl Worker {
    /// Connects to Postgres and Kafka, makes sure the command topic exists,
    /// joins the consumer group and binds the metrics address.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = store::connect(&settings, settings.database_pool_size, DB_ACQUIRE_TIMEOUT)?;
        kafka::ensure_topics(&settings).await?;
        let metrics = Arc::new(Metrics::default());
        let consumer = consumer::create(&settings, &settings.consumer_group(), metrics.clone())?;
        let metrics_listener = TcpListener::bind(settings.worker_metrics_addr)
            .await
            .with_context(|| {
                format!(
                    "binding WORKER_METRICS_ADDR {}",
                    settings.worker_metrics_addr
                )
            })?;
        Ok(Self {
            settings,
            pool,
            consumer,
            metrics_listener,
            metrics,
        })
    }

    /// The address the metrics endpoint actually bound (`WORKER_METRICS_ADDR`
    /// may ask for port 0), for the binary's startup log line.
    pub fn metrics_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.metrics_listener.local_addr()?)
    }

    /// Consumes commands and runs the background jobs until `shutdown`; the
    /// batch under way is finished and its offsets committed first.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let jobs = tokio::spawn(jobs::run(
            self.pool.clone(),
            self.settings.clone(),
            self.metrics.clone(),
            shutdown.clone(),
        ));
        let server_shutdown = shutdown.clone();
        let server = axum::serve(self.metrics_listener, metrics::router(self.metrics.clone()))
            .with_graceful_shutdown(async move { server_shutdown.cancelled().await });
        let server = tokio::spawn(async move { server.await });
        let rules = Rules::from_settings(&self.settings);
        let result = consumer::run(
            &self.consumer,
            self.pool.clone(),
            rules,
            self.metrics.clone(),
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        let _ = jobs.await;
        let _ = server.await;
        self.pool.close().await;
        result
    }
}

/// `workers replay`: re-reads the command topic from its beginning with a
/// consumer group of its own and applies every command again. Each was
/// recorded when first applied, so a replay changes no state; it stops once it
/// has reached the end the topic had when it started.
pub async fn replay(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<u64> {
    let pool = store::connect(&settings, 4, DB_ACQUIRE_TIMEOUT)?;
    let topic = settings.command_topic();
    let consumer = consumer::create(&settings, &settings.replay_group(), Arc::default())?;
    let mut remaining: BTreeMap<i32, i64> = BTreeMap::new();
    for partition in 0..settings.seat_command_partitions as i32 {
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, Duration::from_secs(10))
            .with_context(|| format!("reading the offsets of partition {partition}"))?;
        if high > low {
            remaining.insert(partition, high);
        }
    }
    let rules = Rules::from_settings(&settings);
    let mut replayed = 0u64;
    while !remaining.is_empty() {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = tokio::time::timeout(Duration::from_secs(30), consumer.recv()) => m,
        };
        let message = message
            .context("replay stalled: no message for 30 s")?
            .context("reading the command topic")?;
        let d = consumer::delivery(&message);
        // No fence: a replay must not take partitions from the live workers;
        // each command's recorded id is what keeps it from applying twice.
        if !matches!(
            apply_with_retry(&pool, rules, &[], std::slice::from_ref(&d), &shutdown).await,
            Applied::Done(_)
        ) {
            break;
        }
        replayed += 1;
        if remaining
            .get(&d.partition)
            .is_some_and(|high| d.offset + 1 >= *high)
        {
            remaining.remove(&d.partition);
        }
    }
    pool.close().await;
    Ok(replayed)
}
