//! Commands built by hand, for the workers' tests: as the API would publish
//! them, published past the API, or handed straight to the apply step.

use crate::app::TestApp;
use crate::eventually;
use api::publisher::Publisher;
use domain::{Command, CommandEnvelope, PerformanceId, RequestId, SeatNumber, TokenId, UserId};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;
use workers::apply::Delivery;

impl TestApp {
    /// The token id inside `token`, as the API reads it: a command built by
    /// hand carries it.
    pub fn token_id(&self, token: &str) -> TokenId {
        api::auth::token::TokenKey::new(self.settings.token_secret.clone())
            .verify(token)
            .unwrap_or_else(|| panic!("token does not verify"))
    }

    /// A reserve of `seat` by `user` with `token`, under a new request id,
    /// as the API would publish it.
    pub fn reserve_command(
        &self,
        user: &str,
        token: &str,
        performance: i64,
        seat: i64,
    ) -> CommandEnvelope {
        CommandEnvelope::new(
            RequestId::new(),
            UserId::parse(user).unwrap_or_else(|e| panic!("{e}")),
            self.token_id(token),
            reserve(performance, seat),
        )
    }

    /// A cancel of `reservation` (of `seat` of `performance`) by `user`,
    /// under a new request id, as the API would publish it (a cancel
    /// carries no token).
    pub fn cancel_command(
        &self,
        user: &str,
        reservation: &str,
        performance: i64,
        seat: i64,
    ) -> CommandEnvelope {
        let reservation = uuid::Uuid::parse_str(reservation).unwrap_or_else(|e| panic!("{e}"));
        let seat_number = SeatNumber::parse(seat).unwrap_or_else(|e| panic!("{e}"));
        CommandEnvelope::new(
            RequestId::new(),
            UserId::parse(user).unwrap_or_else(|e| panic!("{e}")),
            TokenId(uuid::Uuid::nil()),
            Command::Cancel {
                reservation_id: domain::ReservationId(reservation),
                performance_id: PerformanceId(performance),
                seat_number,
            },
        )
    }

    /// A reserve as the API would publish it for `Idempotency-Key: key`:
    /// the key's request id and the hash of that body.
    pub fn keyed_reserve(
        &self,
        user: &str,
        token: &str,
        key: &str,
        performance: i64,
        seat: i64,
    ) -> CommandEnvelope {
        let user = UserId::parse(user).unwrap_or_else(|e| panic!("{e}"));
        let body = serde_json::json!({"performance_id": performance, "seat_number": seat});
        CommandEnvelope::new(
            RequestId::for_idempotency_key(user, "reserve", key),
            user,
            self.token_id(token),
            reserve(performance, seat),
        )
        .with_body_hash(Some(api::idempotency::body_hash("reserve", &body)))
    }

    /// Publishes `envelopes` straight to the topic, in order, and waits
    /// until the last one is final. Commands of one seat share a partition,
    /// so once the last is final every copy before it has been consumed.
    /// Published straight to Kafka, they have no pending row: the worker
    /// writes their outcome rows.
    pub async fn publish_and_settle(&self, envelopes: &[&CommandEnvelope]) {
        self.publish(envelopes).await;
        let Some(last) = envelopes.last() else {
            return;
        };
        let done = format!(
            "select count(*) from requests where request_id = '{}' and status <> 'pending'",
            last.request_id
        );
        eventually(Duration::from_secs(20), || async {
            self.number(&done).await == 1
        })
        .await;
    }

    /// Publishes `envelopes` in order, through the API's own publisher (so
    /// each lands on its seat's partition), past the API's checks.
    pub async fn publish(&self, envelopes: &[&CommandEnvelope]) {
        let publisher = Publisher::new(&self.settings).unwrap_or_else(|e| panic!("{e:#}"));
        for envelope in envelopes {
            publisher
                .publish(envelope)
                .await
                .unwrap_or_else(|e| panic!("{e:#}"));
        }
    }

    /// Sends `payload` as it is to the command topic under `key`: a message
    /// the API would never publish.
    pub async fn send_raw(&self, key: &str, payload: &[u8]) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.settings.kafka_brokers)
            .create()
            .unwrap_or_else(|e| panic!("{e}"));
        producer
            .send(
                FutureRecord::to(&self.settings.command_topic())
                    .key(key)
                    .payload(payload),
                Duration::from_secs(5),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("{e}"));
    }
}

/// `envelope` as if read from `partition` at offset 1000, to hand to
/// `workers::apply::apply_batch` without Kafka.
pub fn delivery(partition: i32, envelope: &CommandEnvelope) -> Delivery {
    Delivery {
        partition,
        offset: 1_000,
        payload: Some(envelope.encode()),
    }
}

fn reserve(performance: i64, seat: i64) -> Command {
    Command::Reserve {
        performance_id: PerformanceId(performance),
        seat_number: SeatNumber::parse(seat).unwrap_or_else(|e| panic!("{e}")),
    }
}
