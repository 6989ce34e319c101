//! `partition_leases`: fencing. A worker that is assigned a partition bumps
//! its epoch; each batch checks, and holds until commit, the epochs it
//! claimed, so a worker that lost a partition without knowing it (paused,
//! partitioned away) cannot apply commands its successor also applies.

use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;

/// The lease a live consumer holds on a partition: the epoch it claimed when
/// the partition was assigned to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub topic: String,
    pub partition: i32,
    pub epoch: i64,
}

/// Claims `partition` for the caller: bumps its epoch, so that any worker
/// that held it before is fenced off from then on.
pub async fn claim(pool: &PgPool, topic: &str, partition: i32) -> Result<Fence, sqlx::Error> {
    let epoch: i64 = sqlx::query_scalar(
        "insert into partition_leases (topic, partition, epoch) values ($1, $2, 1)
         on conflict (topic, partition) do update
            set epoch = partition_leases.epoch + 1, claimed_at = now()
         returning epoch",
    )
    .bind(topic)
    .bind(partition)
    .fetch_one(pool)
    .await?;
    Ok(Fence {
        topic: topic.to_owned(),
        partition,
        epoch,
    })
}

/// The first of `fences` whose partition was claimed by another worker
/// since, if any. The leases are read `FOR SHARE`, which blocks a concurrent
/// claim until the caller's transaction ends: a claim either sees the
/// caller's batch applied or the batch sees the claim.
pub async fn first_stale(
    conn: &mut PgConnection,
    fences: &[Fence],
) -> Result<Option<i32>, sqlx::Error> {
    if fences.is_empty() {
        return Ok(None);
    }
    let topics: Vec<&str> = fences.iter().map(|f| f.topic.as_str()).collect();
    let partitions: Vec<i32> = fences.iter().map(|f| f.partition).collect();
    let epochs: HashMap<(String, i32), i64> = sqlx::query_as::<_, (String, i32, i64)>(
        "select topic, partition, epoch from partition_leases
          where (topic, partition) in (select * from unnest($1::text[], $2::int[]))
          order by topic, partition
            for share",
    )
    .bind(&topics)
    .bind(&partitions)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|(topic, partition, epoch)| ((topic, partition), epoch))
    .collect();
    Ok(fences
        .iter()
        .find(|f| epochs.get(&(f.topic.clone(), f.partition)) != Some(&f.epoch))
        .map(|f| f.partition))
}
