//! Kafka set-up: the command topic.

use anyhow::Context;
use domain::config::Settings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// How many copies of each partition the command topic keeps on a cluster of
/// `brokers`: three where there are three or more brokers, fewer on a small
/// dev cluster (a topic cannot have more replicas than brokers).
pub fn replication_factor(brokers: usize) -> i32 {
    i32::try_from(brokers.clamp(1, 3)).unwrap_or(1)
}

/// Replicas that must have a write before the broker acknowledges it to an
/// `acks=all` producer: all but one, so one broker may be down without
/// stopping sales and an acknowledged command survives losing any one broker.
pub fn min_insync_replicas(replication_factor: i32) -> i32 {
    (replication_factor - 1).max(1)
}

/// Creates the command topic with `SEAT_COMMAND_PARTITIONS` partitions unless
/// it exists, replicated as [`replication_factor`] says for the cluster
/// found. Idempotent, so every process can call it at startup.
pub async fn ensure_topics(settings: &Settings) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &settings.kafka_brokers)
        .create()
        .context("creating the Kafka admin client")?;
    let brokers = broker_count(&settings.kafka_brokers).await?;
    let topic = settings.command_topic();
    let partitions = i32::try_from(settings.seat_command_partitions)
        .context("SEAT_COMMAND_PARTITIONS is too large")?;
    let replicas = replication_factor(brokers);
    let min_isr = min_insync_replicas(replicas).to_string();
    let new_topic = NewTopic::new(&topic, partitions, TopicReplication::Fixed(replicas))
        .set("min.insync.replicas", &min_isr);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .context("cannot reach the Kafka broker at KAFKA_BROKERS")?;
    for result in results {
        match result {
            Ok(_) => tracing::info!(
                topic,
                partitions,
                replicas,
                min_insync_replicas = min_isr,
                "created the command topic"
            ),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

/// How many brokers the cluster at `bootstrap` has (a metadata request,
/// which blocks, so it runs off the async threads).
async fn broker_count(bootstrap: &str) -> anyhow::Result<usize> {
    let bootstrap = bootstrap.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .context("creating a Kafka client")?;
        let metadata = producer
            .client()
            .fetch_metadata(None, Duration::from_secs(10))
            .context("cannot reach the Kafka broker at KAFKA_BROKERS")?;
        Ok(metadata.brokers().len())
    })
    .await
    .context("reading the cluster's metadata")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_has_one_replica_per_broker_up_to_three() {
        assert_eq!(replication_factor(0), 1);
        assert_eq!(replication_factor(1), 1);
        assert_eq!(replication_factor(2), 2);
        assert_eq!(replication_factor(3), 3);
        assert_eq!(replication_factor(7), 3);
    }

    #[test]
    fn all_replicas_but_one_must_have_a_write_and_never_fewer_than_one() {
        assert_eq!(min_insync_replicas(1), 1);
        assert_eq!(min_insync_replicas(2), 1);
        assert_eq!(min_insync_replicas(3), 2);
    }
}
