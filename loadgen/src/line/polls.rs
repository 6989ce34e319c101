//! Phases 2 and 3: polls at the back of the million, then a mass idle drop
//! while those polls go on and admissions keep happening. Targets (issue
//! 15): a poll at the back answers its exact position (at most 1 s stale)
//! with p99 < 20 ms; dropping 500,000 idle entries at once stalls neither
//! polls nor admission for more than a second.

use super::{arrivals, setup, Line};
use crate::phases::{self, unix_now, Ctx};
use crate::stats::{round2, Summary};
use anyhow::{bail, Context};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

/// Poll steps during the drop are this long: the granularity at which the
/// worst poll is placed in or out of the drop window.
const DROP_POLL_STEP_SECS: f64 = 2.0;

/// How many pollers' positions are compared with a count in Postgres.
const EXACT_SAMPLE: usize = 50;

/// Buyers finishing (tokens ended) per tick, and the tick, during the drop.
const BUYERS_PER_TICK: i64 = 100;
const BUYER_TICK: Duration = Duration::from_millis(250);

/// One poll step as the drop phase sees it.
struct Step {
    from: f64,
    to: f64,
    max_ms: f64,
    p99_ms: f64,
    errors: usize,
}

/// Phases 2 and 3 on the big room `concert`.
pub async fn run(line: &Line, concert: i64, fields: &mut Map<String, Value>) -> anyhow::Result<()> {
    let a = &line.args;
    eprintln!(
        "loadgen line: 2/5 polls: {} users enter behind the line through the API",
        a.poll_users
    );
    let users = setup::keyed_users(&line.pool, a.poll_users).await?;
    let tokens = enter_all(line, &users, concert).await?;
    let tokens: Arc<Vec<Arc<str>>> = Arc::new(tokens);
    let mut ctx = Ctx::new(
        line.client.clone(),
        &line.url,
        line.pool.clone(),
        256,
        line.watch.clone(),
    );
    let step = phases::poll_step(
        &mut ctx,
        &tokens,
        (phases::STATUS, a.poll_rate, a.poll_secs),
    )
    .await?;
    let s = Summary::of(&step.client.latency);
    let errors: usize = step.client.errors.values().sum();
    fields.insert("line_poll_users".into(), json!(a.poll_users));
    fields.insert("line_poll_rate".into(), json!(a.poll_rate));
    fields.insert("line_poll_p50_ms".into(), json!(round2(s.p50)));
    fields.insert("line_poll_p99_ms".into(), json!(round2(s.p99)));
    fields.insert("line_poll_errors".into(), json!(errors));

    // Nothing moves now (the room is full, no token runs out, nobody
    // enters): after a refresh or two of the API's index, every position
    // must be exact.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (checked, wrong) = check_positions(line, concert, &users, &tokens).await?;
    eprintln!("loadgen line: 2/5 polls: {checked} positions compared with Postgres, {wrong} wrong");
    fields.insert("line_positions_checked".into(), json!(checked));
    fields.insert(
        "line_positions_exact".into(),
        json!(wrong == 0 && checked > 0),
    );

    mass_drop(line, concert, tokens, fields).await
}

/// Enters every user (32 at a time); their queue tokens, in `users`' order.
async fn enter_all(
    line: &Line,
    users: &[(Uuid, String)],
    concert: i64,
) -> anyhow::Result<Vec<Arc<str>>> {
    let mut answers = Vec::with_capacity(users.len());
    for chunk in users.chunks(32) {
        let mut set = JoinSet::new();
        for (i, (user, key)) in chunk.iter().enumerate() {
            let (client, url, user, key) =
                (line.client.clone(), line.url.clone(), *user, key.clone());
            set.spawn(
                async move { (i, arrivals::enter(&client, &url, user, &key, concert).await) },
            );
        }
        let mut part: Vec<(usize, anyhow::Result<(u16, Value)>)> = Vec::with_capacity(chunk.len());
        while let Some(joined) = set.join_next().await {
            part.push(joined.context("an entering task died")?);
        }
        part.sort_unstable_by_key(|p| p.0);
        answers.extend(part.into_iter().map(|p| p.1));
    }
    let mut tokens = Vec::with_capacity(users.len());
    for answer in answers {
        let (status, body) = answer?;
        let token = body["token"].as_str();
        match (status, token, body["status"].as_str()) {
            (201, Some(t), Some("waiting")) => tokens.push(Arc::from(t)),
            _ => bail!("entering the big room: HTTP {status}: {body}"),
        }
    }
    Ok(tokens)
}

/// Polls a sample of `tokens` once each and compares the position with the
/// count of waiting entries up to the entry's seq; (compared, wrong).
async fn check_positions(
    line: &Line,
    concert: i64,
    users: &[(Uuid, String)],
    tokens: &[Arc<str>],
) -> anyhow::Result<(usize, usize)> {
    let every = (users.len() / EXACT_SAMPLE).max(1);
    let picked: Vec<usize> = (0..users.len()).step_by(every).collect();
    let ids: Vec<Uuid> = picked
        .iter()
        .filter_map(|&i| users.get(i))
        .map(|u| u.0)
        .collect();
    let seqs = setup::seqs(&line.pool, concert, &ids).await?;
    let (mut checked, mut wrong) = (0, 0);
    for &i in &picked {
        let (Some((user, _)), Some(token)) = (users.get(i), tokens.get(i)) else {
            continue;
        };
        let Some(&seq) = seqs.get(user) else { continue };
        let body: Value = line
            .client
            .get(format!("{}/v1/queue/status", line.url))
            .bearer_auth(&**token)
            .send()
            .await
            .context("GET /v1/queue/status")?
            .json()
            .await
            .context("the status answer")?;
        let polled = body["position"].as_i64();
        let exact = setup::exact_position(&line.pool, concert, seq).await?;
        checked += 1;
        if polled != Some(exact) {
            wrong += 1;
            eprintln!(
                "loadgen line: position of seq {seq}: API says {polled:?}, Postgres counts {exact}"
            );
        }
    }
    Ok((checked, wrong))
}

/// Phase 3: abandons `--line-drop` entries at once while the pollers go on
/// and buyers keep finishing, and times the drop.
async fn mass_drop(
    line: &Line,
    concert: i64,
    tokens: Arc<Vec<Arc<str>>>,
    fields: &mut Map<String, Value>,
) -> anyhow::Result<()> {
    let a = &line.args;
    let stop = Arc::new(AtomicBool::new(false));
    let mut ctx = Ctx::new(
        line.client.clone(),
        &line.url,
        line.pool.clone(),
        256,
        line.watch.clone(),
    );
    let rate = a.poll_rate;
    let pollers = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut steps = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let from = unix_now();
                let step = phases::poll_step(
                    &mut ctx,
                    &tokens,
                    (phases::STATUS, rate, DROP_POLL_STEP_SECS),
                )
                .await?;
                let s = Summary::of(&step.client.latency);
                steps.push(Step {
                    from,
                    to: unix_now(),
                    max_ms: s.max,
                    p99_ms: s.p99,
                    errors: step.client.errors.values().sum(),
                });
            }
            anyhow::Ok(steps)
        })
    };
    let buyers = {
        let (stop, pool) = (stop.clone(), line.pool.clone());
        tokio::spawn(async move {
            let mut ended = 0u64;
            while !stop.load(Ordering::Relaxed) {
                ended += setup::finish_buyers(&pool, concert, BUYERS_PER_TICK).await?;
                tokio::time::sleep(BUYER_TICK).await;
            }
            anyhow::Ok(ended)
        })
    };
    // Admissions settle into their rhythm before the drop.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let dropped_before = setup::dropped_total(&line.pool, concert).await?;
    let (marked, at) = setup::abandon(&line.pool, concert, a.drop, a.entries).await?;
    eprintln!("loadgen line: 3/5 drop: {marked} waiting entries abandoned at once; polls and admissions go on");
    let deadline = Instant::now() + Duration::from_secs_f64(a.drop_timeout_secs);
    let (mut last_total, mut last_change) = (dropped_before, unix_now());
    let mut finished = false;
    let mut said = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let total = setup::dropped_total(&line.pool, concert).await?;
        if total != last_total {
            (last_total, last_change) = (total, unix_now());
        } else if unix_now() - last_change > 3.0
            && setup::abandoned_left(&line.pool, concert).await? == 0
        {
            finished = true;
            break;
        }
        if said.elapsed() > Duration::from_secs(5) {
            said = Instant::now();
            eprintln!(
                "loadgen line: 3/5 drop: {} dropped so far",
                total - dropped_before
            );
        }
    }
    let end = last_change;
    stop.store(true, Ordering::Relaxed);
    let steps = pollers.await.context("the poller died")??;
    let ended = buyers.await.context("the buyers died")??;
    let dropped = last_total - dropped_before;

    let during: Vec<&Step> = steps
        .iter()
        .filter(|s| s.to >= at && s.from <= end)
        .collect();
    let poll_max = during.iter().map(|s| s.max_ms).fold(0.0, f64::max);
    let poll_p99 = during.iter().map(|s| s.p99_ms).fold(0.0, f64::max);
    let poll_errors: usize = during.iter().map(|s| s.errors).sum();
    let times = setup::admission_times(&line.pool, concert, at, end).await?;
    let (gap, gap_at) = longest_gap(&times, at, end);
    let admitted = times.iter().filter(|t| **t >= at).count();
    eprintln!(
        "loadgen line: 3/5 drop: {dropped} dropped in {:.1} s (finished: {finished}); worst poll {poll_max:.1} ms, worst step p99 {poll_p99:.1} ms, {poll_errors} poll errors; {admitted} admission runs, longest gap {:.0} ms (ending {:.1} s into the drop); {ended} tokens ended by buyers",
        end - at,
        gap * 1000.0,
        gap_at - at
    );
    fields.insert("line_drop".into(), json!(a.drop));
    fields.insert("line_drop_count".into(), json!(dropped));
    fields.insert("line_drop_finished".into(), json!(finished));
    fields.insert("line_drop_seconds".into(), json!(round2(end - at)));
    fields.insert("line_drop_poll_max_ms".into(), json!(round2(poll_max)));
    fields.insert("line_drop_poll_p99_ms".into(), json!(round2(poll_p99)));
    fields.insert("line_drop_poll_errors".into(), json!(poll_errors));
    fields.insert(
        "line_drop_admission_gap_ms".into(),
        json!(round2(gap * 1000.0)),
    );
    Ok(())
}

/// The longest time without an admission within `[from, to]` (the drop's
/// window: it starts when the entries were abandoned), given the sorted
/// admission times; (the gap, when it ended).
fn longest_gap(times: &[f64], from: f64, to: f64) -> (f64, f64) {
    let (mut last, mut gap) = (from, (0.0, from));
    for &t in times.iter().filter(|t| **t >= from && **t <= to) {
        if t - last > gap.0 {
            gap = (t - last, t);
        }
        last = t;
    }
    if to - last > gap.0 {
        gap = (to - last, to);
    }
    gap
}

#[cfg(test)]
mod tests {
    use super::longest_gap;

    #[test]
    fn the_longest_gap_counts_the_edges_of_the_window() {
        assert_eq!(
            longest_gap(&[9.0, 10.5, 11.0, 12.0], 10.0, 12.5),
            (1.0, 12.0)
        );
        assert_eq!(longest_gap(&[], 10.0, 12.0), (2.0, 12.0));
        let (gap, at) = longest_gap(&[10.25, 10.5], 10.0, 13.0);
        assert!((gap - 2.5).abs() < 1e-9 && at == 13.0);
    }
}
