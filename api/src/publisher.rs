//! Publishing commands to Kafka, keyed by seat.

use anyhow::Context;
use domain::config::Settings;
use domain::CommandEnvelope;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long a command may wait for the broker before the API answers 503.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Publisher {
    producer: Arc<RwLock<FutureProducer>>,
    config: Arc<ClientConfig>,
    topic: Arc<str>,
}

impl Publisher {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &settings.kafka_brokers)
            // An acknowledged command is on every in-sync replica, written
            // once even if the producer retries.
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set(
                "message.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            )
            .set("request.timeout.ms", "3000");
        let producer: FutureProducer = config.create().context("creating the Kafka producer")?;
        Ok(Self {
            producer: Arc::new(RwLock::new(producer)),
            config: Arc::new(config),
            topic: settings.command_topic().into(),
        })
    }

    fn current(&self) -> FutureProducer {
        match self.producer.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// An idempotent producer stops for good on a fatal error (a broker
    /// that restarted and forgot its producer ids can cause one); a new
    /// producer then takes its place, so the API recovers by itself.
    fn replace_if_fatal(&self, failed: &FutureProducer) {
        let Some((code, reason)) = failed.client().fatal_error() else {
            return;
        };
        tracing::warn!(
            ?code,
            reason,
            "the Kafka producer failed fatally; creating a new one"
        );
        match self.config.create::<FutureProducer>() {
            Ok(fresh) => {
                if let Ok(mut current) = self.producer.write() {
                    *current = fresh;
                }
            }
            Err(e) => tracing::error!(error = %e, "creating a new Kafka producer failed"),
        }
    }

    /// Sends `envelope` keyed by its seat and waits for the broker's
    /// acknowledgement. An error means the command may not have been taken.
    pub async fn publish(
        &self,
        envelope: &CommandEnvelope,
        request_id_header: Option<&str>,
    ) -> anyhow::Result<()> {
        let key = envelope.command.seat().kafka_key();
        let payload = envelope.encode();
        let mut headers = OwnedHeaders::new();
        if let Some(value) = request_id_header {
            headers = headers.insert(Header {
                key: "x-request-id",
                value: Some(value),
            });
        }
        let record = FutureRecord::to(&self.topic)
            .key(&key)
            .payload(&payload)
            .headers(headers);
        let producer = self.current();
        let sent = producer
            .send(record, Timeout::After(DELIVERY_TIMEOUT))
            .await;
        if let Err((e, _)) = sent {
            self.replace_if_fatal(&producer);
            return Err(anyhow::Error::new(e).context("the broker did not take the command"));
        }
        Ok(())
    }

    /// Whether the broker answers a metadata request for the topic now.
    pub async fn broker_reachable(&self) -> bool {
        let producer = self.current();
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
        let _ = self.current().flush(Timeout::After(DELIVERY_TIMEOUT));
    }
}
