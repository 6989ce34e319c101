//! Kafka set-up: the command topic and the consumer group.

use anyhow::Context;
use domain::config::Settings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// Creates the command topic with `SEAT_COMMAND_PARTITIONS` partitions unless
/// it exists. Idempotent, so every process can call it at startup.
pub async fn ensure_topics(settings: &Settings) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &settings.kafka_brokers)
        .create()
        .context("creating the Kafka admin client")?;
    let topic = settings.command_topic();
    let partitions = i32::try_from(settings.seat_command_partitions)
        .context("SEAT_COMMAND_PARTITIONS is too large")?;
    let new_topic = NewTopic::new(&topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .context("cannot reach the Kafka broker at KAFKA_BROKERS")?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}
