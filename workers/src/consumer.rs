//! The command consumer: reads batches from the worker group's partitions,
//! applies each partition's share in one transaction, and only then stores
//! the offsets, so a crash at any point re-delivers rather than loses.

use crate::apply::{apply_batch, is_transient, reject_unappliable, Delivery, Outcome, Rules};
use crate::metrics::Metrics;
use anyhow::Context;
use domain::config::Settings;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most messages taken into one batch.
pub const MAX_BATCH: usize = 500;

/// Logs rebalances and commit failures.
pub struct LoggingContext;

impl ClientContext for LoggingContext {}

impl ConsumerContext for LoggingContext {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::info!(?rebalance, "partitions are being rebalanced");
    }

    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::info!(?rebalance, "partitions rebalanced");
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::debug!(error = %e, "offset commit failed; it is retried with the next commit");
        }
    }
}

pub type CommandConsumer = StreamConsumer<LoggingContext>;

/// A consumer in `group` on the command topic. Offsets are stored by hand
/// after each transaction commits and committed in the background.
pub fn create(settings: &Settings, group: &str) -> anyhow::Result<CommandConsumer> {
    let consumer: CommandConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.kafka_brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "500")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("max.poll.interval.ms", "60000")
        .set("fetch.wait.max.ms", "10")
        .create_with_context(LoggingContext)
        .context("creating the Kafka consumer")?;
    consumer
        .subscribe(&[&settings.command_topic()])
        .context("subscribing to the command topic")?;
    Ok(consumer)
}

/// Consumes until `shutdown` fires; the batch under way is finished and its
/// offsets stored and committed before returning.
pub async fn run(
    consumer: CommandConsumer,
    pool: PgPool,
    rules: Rules,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let topic = consumer
        .subscription()
        .ok()
        .and_then(|s| s.elements().first().map(|e| e.topic().to_owned()))
        .unwrap_or_default();
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            message = consumer.recv() => message,
        };
        let mut batch = match first {
            Ok(message) => vec![delivery(&message)],
            Err(e) => {
                tracing::warn!(error = %e, "Kafka consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // Take what is already fetched, without waiting for more.
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout(Duration::from_millis(1), consumer.recv()).await {
                Ok(Ok(message)) => batch.push(delivery(&message)),
                _ => break,
            }
        }
        let mut by_partition: BTreeMap<i32, Vec<Delivery>> = BTreeMap::new();
        for d in batch {
            by_partition.entry(d.partition).or_default().push(d);
        }
        for (partition, deliveries) in by_partition {
            let Some(outcomes) = apply_with_retry(&pool, rules, &deliveries, &shutdown).await
            else {
                // Shut down before the batch could be applied: leave its
                // offsets unstored so the next owner re-reads it.
                return finish(&consumer).await;
            };
            metrics.record(&outcomes);
            let Some(last) = deliveries.last() else {
                continue;
            };
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&topic, partition, Offset::Offset(last.offset + 1))
                .context("building the offset list")?;
            if let Err(e) = consumer.store_offsets(&tpl) {
                // The partition moved to another worker; it re-reads from the
                // last commit and finds these commands already applied.
                tracing::info!(partition, error = %e, "could not store offset");
            }
        }
    }
    finish(&consumer).await
}

async fn finish(consumer: &CommandConsumer) -> anyhow::Result<()> {
    if let Err(e) = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
        tracing::info!(error = %e, "final offset commit did not go through");
    }
    Ok(())
}

fn delivery(message: &rdkafka::message::BorrowedMessage<'_>) -> Delivery {
    Delivery {
        partition: message.partition(),
        offset: message.offset(),
        payload: message.payload().map(<[u8]>::to_vec),
    }
}

/// Applies a partition's batch, retrying while Postgres is unreachable. A
/// batch that fails for another reason is applied one command at a time, so
/// a single bad command is set aside and the rest go through. `None` when
/// shut down first.
pub async fn apply_with_retry(
    pool: &PgPool,
    rules: Rules,
    deliveries: &[Delivery],
    shutdown: &CancellationToken,
) -> Option<Vec<Outcome>> {
    let mut backoff = Duration::from_millis(50);
    loop {
        match apply_batch(pool, rules, deliveries).await {
            Ok(outcomes) => return Some(outcomes),
            Err(e) if is_transient(&e) => {
                tracing::warn!(error = %e, "applying a batch failed; retrying");
            }
            Err(e) if deliveries.len() > 1 => {
                tracing::warn!(error = %e, "a batch failed; applying its commands one by one");
                let mut outcomes = Vec::with_capacity(deliveries.len());
                for d in deliveries {
                    outcomes.extend(
                        Box::pin(apply_with_retry(
                            pool,
                            rules,
                            std::slice::from_ref(d),
                            shutdown,
                        ))
                        .await?,
                    );
                }
                return Some(outcomes);
            }
            Err(e) => {
                tracing::error!(error = %e, "a command cannot be applied; rejecting it");
                let Some(only) = deliveries.first() else {
                    return Some(Vec::new());
                };
                match reject_unappliable(pool, only, &e.to_string()).await {
                    Ok(outcome) => return Some(vec![outcome]),
                    Err(e) => {
                        tracing::warn!(error = %e, "recording the rejection failed; retrying")
                    }
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
