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

#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    topic: Arc<str>,
}

impl Publisher {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &settings.kafka_brokers)
            // An acknowledged command is on every in-sync replica. The
            // idempotent producer is off on purpose: tansu 0.6's storage dies
            // when a producer id outlives a broker restart, and a duplicate
            // from a retry is harmless, since workers record every command's
            // id and apply it once.
            //
            // Several requests in flight may let a retry land after a later
            // batch, but only among commands none of which has been answered
            // yet (the 202 waits for the acknowledgement): their order was
            // never decided, as with two clients racing. A command sent after
            // another was acknowledged is always behind it in its partition.
            .set("enable.idempotence", "false")
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
