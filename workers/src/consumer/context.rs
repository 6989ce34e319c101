//! The consumer's context: logs rebalances, remembers revoked partitions
//! (their leases are given up) and feeds librdkafka's statistics (consumer
//! lag) into the metrics.

use crate::metrics::Metrics;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};
use std::sync::{Arc, Mutex};

/// Logs rebalances, remembers revoked partitions (their leases are given up)
/// and feeds librdkafka's statistics (consumer lag) into the metrics.
pub struct WorkerContext {
    revoked: Mutex<Vec<i32>>,
    metrics: Arc<Metrics>,
}

impl WorkerContext {
    /// A context that reports into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            revoked: Mutex::default(),
            metrics,
        }
    }

    /// The partitions revoked since the last call.
    pub fn take_revoked(&self) -> Vec<i32> {
        self.revoked
            .lock()
            .map(|mut r| r.drain(..).collect())
            .unwrap_or_default()
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

impl ClientContext for WorkerContext {
    fn stats(&self, statistics: Statistics) {
        for topic in statistics.topics.values() {
            for (partition, p) in &topic.partitions {
                if *partition >= 0 {
                    self.metrics.set_lag(*partition, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let revoked = partitions(tpl);
                tracing::info!(?revoked, "partitions revoked");
                if let Ok(mut r) = self.revoked.lock() {
                    r.extend(revoked);
                }
            }
            Rebalance::Assign(tpl) => {
                tracing::info!(assigned = ?partitions(tpl), "partitions assigned")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::debug!(error = %e, "offset commit failed; it is retried with the next commit");
        }
    }
}
