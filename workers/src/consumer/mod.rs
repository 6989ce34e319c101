//! The command consumer: reads batches from the worker group's partitions,
//! applies each partition's share in one transaction, and only then stores
//! the offsets, so a crash at any point re-delivers rather than loses.

mod context;
mod retry;

pub use context::WorkerContext;
pub use retry::{apply_with_retry, Applied};

use crate::apply::{Delivery, Rules};
use crate::metrics::Metrics;
use anyhow::Context;
use domain::config::{GroupProtocol, Settings};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use retry::with_retry;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::leases::Fence;
use store::PgPool;
use tokio_util::sync::CancellationToken;

/// Most messages taken into one batch.
pub const MAX_BATCH: usize = 500;

/// The consumer of the command topic, with the context that tracks revoked
/// partitions and feeds lag into the metrics; the live loop and replay use it.
pub type CommandConsumer = StreamConsumer<WorkerContext>;

/// A consumer in `group` on the command topic. Offsets are stored by hand
/// after each transaction commits and committed in the background.
pub fn create(
    settings: &Settings,
    group: &str,
    metrics: Arc<Metrics>,
) -> anyhow::Result<CommandConsumer> {
    let context = WorkerContext::new(metrics);
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.kafka_brokers)
        .set("group.id", group)
        .set("group.protocol", settings.kafka_group_protocol.as_str())
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "500")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("max.poll.interval.ms", "60000")
        // The broker answers a fetch as soon as it has data for it
        // (fetch.min.bytes=1), so this wait only paces the fetches of an
        // idle partition set; librdkafka's default.
        .set("fetch.wait.max.ms", "500")
        .set("statistics.interval.ms", "5000");
    if settings.kafka_group_protocol == GroupProtocol::Classic {
        // With KIP-848 these are the broker's (group.consumer.*), and
        // librdkafka refuses them.
        config
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000");
    }
    let consumer: CommandConsumer = config
        .create_with_context(context)
        .context("creating the Kafka consumer")?;
    consumer
        .subscribe(&[&settings.command_topic()])
        .context("subscribing to the command topic")?;
    Ok(consumer)
}

/// Consumes until `shutdown` fires; the batch under way is finished and its
/// offsets stored and committed before returning. A consumer that dies
/// without leaving is evicted by the group coordinator after
/// `session.timeout.ms`, and its partitions go to the live members.
pub async fn run(
    consumer: &CommandConsumer,
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
    let mut leases: HashMap<i32, Fence> = HashMap::new();
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
        for partition in consumer.context().take_revoked() {
            leases.remove(&partition);
        }
        let mut by_partition: BTreeMap<i32, Vec<Delivery>> = BTreeMap::new();
        for d in batch {
            by_partition.entry(d.partition).or_default().push(d);
        }
        for partition in by_partition.keys() {
            if let Entry::Vacant(slot) = leases.entry(*partition) {
                match with_retry(&shutdown, || {
                    store::leases::claim(&pool, &topic, *partition)
                })
                .await
                {
                    Some(fence) => {
                        tracing::info!(partition, epoch = fence.epoch, "claimed partition");
                        slot.insert(fence);
                    }
                    None => {
                        finish(consumer);
                        return Ok(());
                    }
                }
            }
        }
        // The whole round goes into one transaction (see `apply_batch`). A
        // partition found claimed by another worker is dropped from the
        // round and rewound, and the rest is tried again.
        let mut shut_down = false;
        while !by_partition.is_empty() {
            let fences: Vec<Fence> = by_partition
                .keys()
                .filter_map(|p| leases.get(p).cloned())
                .collect();
            let deliveries: Vec<Delivery> = by_partition.values().flatten().cloned().collect();
            let started = Instant::now();
            match apply_with_retry(&pool, rules, &fences, &deliveries, &shutdown).await {
                Applied::Done(outcomes) => {
                    metrics.record_batch(&outcomes, started.elapsed());
                    for (partition, applied) in &by_partition {
                        let Some(last) = applied.last() else { continue };
                        let mut tpl = TopicPartitionList::new();
                        tpl.add_partition_offset(
                            &topic,
                            *partition,
                            Offset::Offset(last.offset + 1),
                        )
                        .context("building the offset list")?;
                        if let Err(e) = consumer.store_offsets(&tpl) {
                            // The partition moved to another worker; it
                            // re-reads from the last commit and finds these
                            // commands already applied.
                            tracing::info!(partition, error = %e, "could not store offset");
                        }
                    }
                    break;
                }
                Applied::Fenced(partition) => {
                    // Another worker owns the partition now. Rewind, so that
                    // nothing is skipped if it comes back to us.
                    tracing::warn!(partition, "fenced: another worker claimed this partition");
                    metrics.fenced();
                    leases.remove(&partition);
                    let first = by_partition
                        .remove(&partition)
                        .and_then(|d| d.first().map(|d| d.offset));
                    if let Some(first) = first {
                        if let Err(e) = consumer.seek(
                            &topic,
                            partition,
                            Offset::Offset(first),
                            Duration::from_secs(1),
                        ) {
                            tracing::info!(partition, error = %e, "could not rewind a fenced partition");
                        }
                    }
                }
                // Shut down before the batch could be applied: its offsets
                // stay unstored, so the next owner re-reads it.
                Applied::ShutDown => {
                    shut_down = true;
                    break;
                }
            }
        }
        if shut_down {
            break;
        }
    }
    finish(consumer);
    Ok(())
}

/// Commits the stored offsets before the consumer goes, so the next owner
/// of its partitions does not re-read what was applied.
fn finish(consumer: &CommandConsumer) {
    match consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
        Ok(())
        | Err(rdkafka::error::KafkaError::ConsumerCommit(
            rdkafka::types::RDKafkaErrorCode::NoOffset,
        )) => {}
        Err(e) => tracing::info!(error = %e, "final offset commit did not go through"),
    }
}

/// Copies what applying needs out of a Kafka message, so the apply code works
/// on plain [`Delivery`] values that tests can build without a broker.
pub fn delivery(message: &rdkafka::message::BorrowedMessage<'_>) -> Delivery {
    Delivery {
        partition: message.partition(),
        offset: message.offset(),
        payload: message.payload().map(<[u8]>::to_vec),
    }
}
