//! Kafka node faults: `kill -9` of one node at a time while commands are in
//! flight, restarted after a moment. The victim is, by turns, the node that
//! leads the most command-topic partitions, the workers' group coordinator,
//! or any node; a node is killed only when the previous one is back and
//! every partition it holds is in sync again, so two are never down at once
//! and `min.insync.replicas = 2` always holds.

use super::log;
use crate::history::History;
use crate::infra::{coordinator_partition, BrokerView, Cluster, OFFSETS_TOPIC};
use crate::rng::Rng;
use crate::{COMMAND_TOPIC, CONSUMER_GROUP};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a kill waits for the cluster to be whole again before it; past
/// that the kill is skipped (killing then could take two nodes down).
const HEAL_LIMIT: Duration = Duration::from_secs(45);

/// What the broker faults did, for the summary.
#[derive(Debug, Clone, Default)]
pub struct BrokerStats {
    /// Nodes killed (and started again).
    pub kills: usize,
    /// Of those, victims that led at least one command-topic partition.
    pub leader_kills: usize,
    /// Of those, victims that coordinated the workers' consumer group.
    pub coordinator_kills: usize,
    /// Kills skipped because the cluster had not healed.
    pub skipped: usize,
    /// Seconds from each restart until the node listened again.
    pub restart_secs: Vec<f64>,
    /// Seconds from each restart until every partition was in sync again.
    pub heal_secs: Vec<f64>,
}

/// How a victim was chosen.
#[derive(Debug, Clone, Copy)]
enum Choice {
    MostLeader,
    Coordinator,
    Any,
}

/// A victim and what it was doing when it died.
struct Victim {
    node: u32,
    why: String,
    led: Vec<i32>,
    coordinator: bool,
}

fn choose(view: Option<&BrokerView>, nodes: usize, choice: Choice, rng: &mut Rng) -> Victim {
    let coordinator_of = |view: &BrokerView| {
        let partition = coordinator_partition(CONSUMER_GROUP);
        view.topic(OFFSETS_TOPIC)
            .iter()
            .find(|p| p.partition == partition)
            .map(|p| p.leader)
            .filter(|l| *l > 0)
    };
    let led_by = |view: &BrokerView, node: i32| -> Vec<i32> {
        view.topic(COMMAND_TOPIC)
            .iter()
            .filter(|p| p.leader == node)
            .map(|p| p.partition)
            .collect()
    };
    let any = rng.range(1, nodes as i64) as u32;
    let Some(view) = view else {
        return Victim {
            node: any,
            why: "any node (no metadata)".into(),
            led: Vec::new(),
            coordinator: false,
        };
    };
    let (node, why) = match choice {
        Choice::MostLeader => {
            let mut counts: BTreeMap<i32, usize> = BTreeMap::new();
            for p in view.topic(COMMAND_TOPIC) {
                *counts.entry(p.leader).or_default() += 1;
            }
            let most = counts.values().copied().max().unwrap_or(0);
            let top: Vec<i32> = counts
                .iter()
                .filter(|(node, n)| **node > 0 && **n == most)
                .map(|(node, _)| *node)
                .collect();
            match rng.pick(&top) {
                Some(node) => (*node as u32, "the leader of the most command partitions"),
                None => (any, "any node (no command partition leader)"),
            }
        }
        Choice::Coordinator => match coordinator_of(view) {
            Some(node) => (node as u32, "the workers' group coordinator"),
            None => (any, "any node (no coordinator known)"),
        },
        Choice::Any => (any, "any node"),
    };
    Victim {
        node,
        why: why.into(),
        led: led_by(view, node as i32),
        coordinator: coordinator_of(view) == Some(node as i32),
    }
}

/// Kills nodes at `times` after `start` (one after the other: a kill waits
/// for the previous node to be back and in sync). Errors only when a node
/// cannot be started again.
pub async fn run(
    cluster: Arc<Cluster>,
    history: Arc<History>,
    start: Instant,
    times: Vec<Duration>,
    mut rng: Rng,
) -> anyhow::Result<BrokerStats> {
    let mut stats = BrokerStats::default();
    let topics = [COMMAND_TOPIC, OFFSETS_TOPIC];
    let nodes = cluster.kafka.size();
    for (i, at) in times.into_iter().enumerate() {
        tokio::time::sleep_until(start + at).await;
        if let Err(why) = cluster.kafka.wait_healed(&topics, HEAL_LIMIT).await {
            stats.skipped += 1;
            log(
                &history,
                format!("kafka: kill skipped, the cluster is not whole: {why}"),
            );
            continue;
        }
        let choice = match (i, rng.below(10)) {
            (0, _) => Choice::MostLeader,
            (1, _) => Choice::Coordinator,
            (_, 0..=3) => Choice::MostLeader,
            (_, 4..=6) => Choice::Coordinator,
            _ => Choice::Any,
        };
        let view = cluster.kafka.metadata().await.ok();
        let victim = choose(view.as_ref(), nodes, choice, &mut rng);
        let down = rng.millis(500, 3000);
        cluster.kafka.kill(victim.node).await?;
        stats.kills += 1;
        stats.leader_kills += usize::from(!victim.led.is_empty());
        stats.coordinator_kills += usize::from(victim.coordinator);
        log(
            &history,
            format!(
                "kafka: kill -9 node {} ({}; leads {COMMAND_TOPIC} partitions {:?}; group coordinator: {}); restart in {} ms",
                victim.node,
                victim.why,
                victim.led,
                if victim.coordinator { "yes" } else { "no" },
                down.as_millis()
            ),
        );
        tokio::time::sleep(down).await;
        let took = cluster.kafka.start(victim.node).await?;
        stats.restart_secs.push(took.as_secs_f64());
        log(
            &history,
            format!(
                "kafka: node {} listens again ({:.1}s after its start)",
                victim.node,
                took.as_secs_f64()
            ),
        );
        match cluster.kafka.wait_healed(&topics, HEAL_LIMIT).await {
            Ok(healed) => {
                stats.heal_secs.push((took + healed).as_secs_f64());
                log(
                    &history,
                    format!(
                        "kafka: every partition in sync again {:.1}s after node {}'s start",
                        (took + healed).as_secs_f64(),
                        victim.node
                    ),
                );
            }
            Err(why) => log(
                &history,
                format!(
                    "kafka: not in sync {}s after node {}'s start: {why}",
                    HEAL_LIMIT.as_secs(),
                    victim.node
                ),
            ),
        }
    }
    Ok(stats)
}
