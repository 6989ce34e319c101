//! Bringing a run's stack up: Postgres and Kafka, the schema and topic
//! (`workers migrate`), the catalog, the processes, and waiting until the
//! APIs answer.

use crate::infra::{Cluster, OFFSETS_TOPIC};
use crate::{
    rng, say, workload, COMMAND_TOPIC, PERFORMANCES, SEATS, SMALL_PERFORMANCES, SMALL_SEATS,
};
use anyhow::{bail, Context};
use chrono::{TimeDelta, Utc};
use std::time::Duration;
use store::catalog::NewPerformance;
use store::PgPool;
use tokio::time::Instant;

/// Starts Postgres and the Kafka cluster side by side (a JVM start is the
/// slow part of the set-up) and migrates; returns a line describing them.
pub async fn services(cluster: &Cluster) -> anyhow::Result<String> {
    let pg = async {
        cluster.pg.init().await?;
        cluster.pg.start().await
    };
    let kafka = async {
        cluster.kafka.format().await?;
        cluster.kafka.start_all().await
    };
    let (pg, kafka) = tokio::join!(pg, kafka);
    pg.context("starting the private Postgres")?;
    kafka.context("starting the private Kafka cluster")?;
    migrate(cluster).await?;
    let view = cluster.kafka.metadata().await?;
    let parts = view.topic(COMMAND_TOPIC);
    let rf = parts.iter().map(|p| p.replicas.len()).min().unwrap_or(0);
    Ok(format!(
        "private postgres on 127.0.0.1:{}, Kafka nodes {:?} on {}, {COMMAND_TOPIC}: {} partitions, replication factor {rf}; dir {}",
        cluster.pg.port,
        view.brokers,
        cluster.kafka.bootstrap(),
        parts.len(),
        cluster.dir.path.display()
    ))
}

/// `workers migrate`: creates the database, migrates, creates the topic.
async fn migrate(cluster: &Cluster) -> anyhow::Result<()> {
    let log = cluster.dir.path.join("migrate.log");
    for attempt in 1..=5 {
        let file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)?;
        let status = cluster
            .fleet
            .command("workers", &["migrate"], &[])
            .stdout(file.try_clone()?)
            .stderr(file)
            .status()
            .await
            .context("running workers migrate")?;
        if status.success() {
            return Ok(());
        }
        eprintln!("chaos: workers migrate failed (attempt {attempt}): {status}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!(
        "workers migrate failed: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    )
}

/// What the workload buys from: one concert (on sale at once) and its
/// performances.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The concert whose waiting room the users enter.
    pub concert: i64,
    /// Its performances, whose seats they hold and pay.
    pub performances: Vec<i64>,
    /// Its small performances, that the fans wait for.
    pub small: Vec<i64>,
}

/// A concert with `PERFORMANCES` future performances of `SEATS` seats and
/// `SMALL_PERFORMANCES` of `SMALL_SEATS`, at random prices.
pub async fn seed_catalog(pool: &PgPool, rng: &mut rng::Rng) -> anyhow::Result<Catalog> {
    let mut conn = pool.acquire().await?;
    let concert = store::catalog::add_concert(
        &mut conn,
        &store::catalog::NewConcert {
            title: "Chaos Live",
            artist: "The Faults",
            ..Default::default()
        },
    )
    .await?;
    let performances: Vec<NewPerformance> = (0..PERFORMANCES + SMALL_PERFORMANCES)
        .map(|day| NewPerformance {
            starts_at: Utc::now() + TimeDelta::days(30 + day as i64),
            prices: (0..if day < PERFORMANCES {
                SEATS
            } else {
                SMALL_SEATS
            })
                .map(|_| rng.range(10, 60) * 1000)
                .collect(),
        })
        .collect();
    let mut ids: Vec<i64> = store::catalog::add_performances(&mut conn, concert, &performances)
        .await?
        .into_iter()
        .map(|p| p.0)
        .collect();
    let small = ids.split_off(PERFORMANCES);
    Ok(Catalog {
        concert: concert.0,
        performances: ids,
        small,
    })
}

/// Waits until every API answers `/readyz`, then until the command topic
/// and the offsets topic (made when the workers' group first forms) are
/// fully in sync, so the first node kill finds a whole cluster.
pub async fn wait_ready(
    ctx: &workload::Ctx,
    cluster: &Cluster,
    apis: &[String],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    for base in apis {
        loop {
            let ready = ctx
                .http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!("{base} not ready within 90 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let limit = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(10);
    if let Err(why) = cluster
        .kafka
        .wait_healed(&[COMMAND_TOPIC, OFFSETS_TOPIC], limit)
        .await
    {
        say(
            &ctx.history,
            format!("warning: the Kafka cluster is not in sync before the faults: {why}"),
        );
    }
    Ok(())
}
