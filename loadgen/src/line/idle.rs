//! Phase 1: a million waiting in one room and nobody polling. What does the
//! line cost an API instance and Postgres when nothing happens? The target
//! (issue 15): at most 0.05 cores of API plus Postgres, API RSS at most
//! 100 MB.

use super::{cores, round3, setup, Line};
use crate::rss;
use crate::stats::round1;
use serde_json::{json, Map, Value};
use std::time::Duration;
use tokio::time::Instant;

/// Writes the big room, lets the API read it, measures the quiet window;
/// returns the room's concert id.
pub async fn run(line: &Line, fields: &mut Map<String, Value>) -> anyhow::Result<i64> {
    crate::wait_ready(&line.client, &line.url).await?;
    let a = &line.args;
    eprintln!(
        "loadgen line: 1/5 idle: writing {} waiting entries into one room (straight into Postgres)",
        a.entries
    );
    let started = Instant::now();
    let concert = setup::new_room(&line.pool, "A long line", None).await?;
    setup::fill_room(&line.pool, concert, a.entries).await?;
    eprintln!(
        "loadgen line: 1/5 idle: room {concert} written and vacuumed in {:.1} s; {} s for the API to read it",
        started.elapsed().as_secs_f64(),
        a.settle_secs
    );
    tokio::time::sleep(Duration::from_secs_f64(a.settle_secs)).await;

    eprintln!(
        "loadgen line: 1/5 idle: measuring {} s with nobody polling",
        a.idle_secs
    );
    let rss = a.api_pid.map(rss::Sampler::start);
    let from = Instant::now();
    let before = line.watch.snapshot();
    tokio::time::sleep(Duration::from_secs_f64(a.idle_secs)).await;
    let after = line.watch.snapshot();
    let secs = from.elapsed().as_secs_f64();
    let rss_mb = match rss {
        Some(sampler) => {
            let peak = sampler.peak_mb(from, Instant::now());
            sampler.finish().await;
            peak
        }
        None => None,
    };
    let api = cores(&before, &after, "api", secs);
    let pg = cores(&before, &after, "postgres", secs);
    let workers = cores(&before, &after, "workers", secs);
    let pg_all = cores(&before, &after, "postgres_all", secs);
    let total = match (api, pg) {
        (Some(a), Some(p)) => Some(a + p),
        _ => None,
    };
    let waiting = queue_waiting(&line.client, &line.url).await;
    eprintln!(
        "loadgen line: 1/5 idle: api {:?} cores, postgres {:?} cores, workers {:?} cores, api rss {:?} MB, api queue_waiting {:?}",
        api.map(round3),
        pg.map(round3),
        workers.map(round3),
        rss_mb.map(round1),
        waiting
    );
    fields.insert("line_entries".into(), json!(a.entries));
    fields.insert("line_api_cores".into(), json!(api.map(round3)));
    fields.insert("line_pg_cores".into(), json!(pg.map(round3)));
    fields.insert("line_workers_cores".into(), json!(workers.map(round3)));
    fields.insert("line_pg_all_cores".into(), json!(pg_all.map(round3)));
    fields.insert("line_idle_cores".into(), json!(total.map(round3)));
    fields.insert("line_rss_mb".into(), json!(rss_mb.map(round1)));
    fields.insert("line_api_waiting".into(), json!(waiting));
    Ok(concert)
}

/// The API's own `queue_waiting` gauge: whether it follows the whole line.
async fn queue_waiting(client: &reqwest::Client, url: &str) -> Option<i64> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("queue_waiting "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as i64)
}
