//! Publishing commands to Kafka, keyed by seat.

use anyhow::Context;
use domain::config::Settings;
use domain::CommandEnvelope;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use std::sync::Arc;
use std::time::Duration;

/// How long a command may wait for the broker before the API answers 503.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The API's one Kafka producer, shared by the command handlers through the
/// state: it puts each accepted command on the topic, keyed by its seat.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    topic: Arc<str>,
}

impl Publisher {
    /// Makes the producer for the command topic at startup; it connects
    /// lazily, so a broker that is down shows in `/readyz` rather than failing
    /// this.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &settings.kafka_brokers)
            // An acknowledged command is on every in-sync replica (at least
            // `min.insync.replicas` of them). The idempotent producer numbers
            // each partition's batches, and the broker takes each number once
            // and in order: a retry after a lost acknowledgement can neither
            // write a command twice nor put it behind a later one, even with
            // five requests in flight. Workers still dedupe by command id,
            // since a client retry or a replay sends the same id again.
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("linger.ms", "2")
            .set(
                "message.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            )
            .set("request.timeout.ms", "3000")
            .create()
            .context("creating the Kafka producer")?;
        Ok(Self {
            producer,
            topic: settings.command_topic().into(),
        })
    }

    /// Sends `envelope` keyed by its seat and waits for the broker's
    /// acknowledgement. An error means the command may not have been taken.
    pub async fn publish(&self, envelope: &CommandEnvelope) -> anyhow::Result<()> {
        let key = envelope.command.seat().kafka_key();
        let payload = envelope.encode();
        let record = FutureRecord::to(&self.topic).key(&key).payload(&payload);
        self.producer
            .send(record, Timeout::After(DELIVERY_TIMEOUT))
            .await
            .map_err(|(e, _)| {
                anyhow::Error::new(e).context("the broker did not take the command")
            })?;
        Ok(())
    }

    /// Whether the broker answers a metadata request for the topic now.
    pub async fn broker_reachable(&self) -> bool {
        let producer = self.producer.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(1))
                .is_ok_and(|m| {
                    m.topics()
                        .iter()
                        .any(|t| t.error().is_none() && !t.partitions().is_empty())
                })
        })
        .await
        .unwrap_or(false)
    }

    /// Delivers what is still queued, for a graceful shutdown.
    pub fn flush(&self) {
        let _ = self.producer.flush(Timeout::After(DELIVERY_TIMEOUT));
    }
}
