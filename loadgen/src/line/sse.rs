//! Phase 5: event streams. S clients of the burst room hold `GET
//! /v1/queue/events` open, each on its own connection; once every one has
//! its first event, the room's capacity is raised so the workers admit the
//! next batch, and each client's first event showing its new place is
//! timed from the admission (`activated_at`, same machine clock). Target
//! (issue 15): 20,000 streams on one API instance, every client told within
//! 1 s, API RSS under 300 MB.

use super::arrivals::Burst;
use super::{cores, round3, setup, Line};
use crate::phases::unix_now;
use crate::rss;
use crate::stats::{self, round1, round2, Summary};
use anyhow::Context;
use serde_json::{json, Map, Value};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Streams per local address: loopback has ~28,000 ephemeral ports per
/// (source address, destination) pair, so large runs spread over
/// 127.0.0.1, 127.0.0.2, ...
const STREAMS_PER_ADDRESS: usize = 10_000;

/// How long the streams are held, all open, before the admission (their
/// idle cost and memory are read meanwhile).
const HOLD: Duration = Duration::from_secs(5);

/// The longest wait for every stream to see the admission.
const FANOUT_WAIT: Duration = Duration::from_secs(15);

/// What one stream saw: (Unix seconds, status, position) per event.
type Events = Vec<(f64, String, Option<i64>)>;

/// Counters the stream tasks share with the phase.
#[derive(Default)]
struct Shared {
    connected: AtomicUsize,
    failed: AtomicUsize,
    changed: AtomicUsize,
    ended: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.first_error.lock() {
            e.get_or_insert(why);
        }
    }
}

/// Opens the streams, triggers an admission, times the fan-out.
pub async fn run(
    line: &Line,
    burst: &Burst,
    fields: &mut Map<String, Value>,
) -> anyhow::Result<()> {
    let a = &line.args;
    let admit = usize::try_from(a.sse_admit).unwrap_or(0);
    // Streams only of entries that stay waiting after the admission.
    let room = burst
        .entries
        .len()
        .saturating_sub(burst.capacity as usize + admit);
    let count = a.sse_clients.min(room);
    if count < a.sse_clients {
        eprintln!(
            "loadgen line: 5/5 sse: only {count} of the asked {} streams (the burst room has {} waiting behind the admission)",
            a.sse_clients, room
        );
    }
    let clients = stream_clients(&line.args.url, count)?;
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let opening = Arc::new(Semaphore::new(a.sse_connect));
    let endpoint: Arc<str> = Arc::from(format!("{}/v1/queue/events", line.url));
    eprintln!(
        "loadgen line: 5/5 sse: opening {count} event streams ({} at a time, {} local address(es))",
        a.sse_connect,
        clients.len()
    );
    let opened_at = Instant::now();
    let mut set = JoinSet::new();
    for (i, (_, token)) in burst.entries.iter().take(count).enumerate() {
        let permit = opening.clone().acquire_owned().await?;
        let client = clients
            .get(i / STREAMS_PER_ADDRESS)
            .cloned()
            .context("no client for a stream")?;
        let (endpoint, token, counts, stop) = (
            endpoint.clone(),
            token.clone(),
            shared.clone(),
            stop_rx.clone(),
        );
        set.spawn(async move { stream(client, endpoint, token, permit, counts, stop).await });
        if i > 0 && i % 5_000 == 0 {
            eprintln!(
                "loadgen line: 5/5 sse: {i} streams started, {} with their first event, {} failed",
                shared_load(&shared.connected),
                shared_load(&shared.failed)
            );
        }
    }
    // Every stream has its first event, or has failed.
    // (A stream the API never answers, e.g. when it is out of file
    // descriptors and leaves the connection in its backlog, is given up on
    // after 15 s without progress.)
    let (mut progress, mut moved) = (0, Instant::now());
    while shared_load(&shared.connected) + shared_load(&shared.failed) < count
        && moved.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = shared_load(&shared.connected) + shared_load(&shared.failed);
        if now != progress {
            (progress, moved) = (now, Instant::now());
        }
    }
    let connected = shared_load(&shared.connected);
    let failed = shared_load(&shared.failed);
    eprintln!(
        "loadgen line: 5/5 sse: {connected} streams open with their first event after {:.1} s, {failed} failed, {} unanswered{}",
        opened_at.elapsed().as_secs_f64(),
        count.saturating_sub(connected + failed),
        match shared.first_error.lock().ok().and_then(|e| e.clone()) {
            Some(e) => format!(" (first failure: {e})"),
            None => String::new(),
        }
    );

    let sampler = a.api_pid.map(rss::Sampler::start);
    let hold_from = Instant::now();
    let before = line.watch.snapshot();
    tokio::time::sleep(HOLD).await;
    let api_cores = cores(
        &before,
        &line.watch.snapshot(),
        "api",
        hold_from.elapsed().as_secs_f64(),
    );

    let (admitted_before, _) = setup::admitted(&line.pool, burst.concert).await?;
    let triggered = setup::raise_capacity(&line.pool, burst.concert, a.sse_admit).await?;
    let want = admitted_before + i64::from(a.sse_admit);
    let mut admission = None;
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let (n, latest) = setup::admitted(&line.pool, burst.concert).await?;
        if n >= want {
            admission = Some(latest);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admission =
        admission.context("the workers did not admit the raised capacity within 30 s")?;
    eprintln!(
        "loadgen line: 5/5 sse: capacity raised by {}; admitted {:.0} ms later; waiting for the streams",
        a.sse_admit,
        (admission - triggered) * 1000.0
    );
    let until = Instant::now() + FANOUT_WAIT;
    while shared_load(&shared.changed) < connected && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_mb = match sampler {
        Some(s) => {
            let peak = s.peak_mb(hold_from, Instant::now());
            s.finish().await;
            peak
        }
        None => None,
    };
    let _ = stop_tx.send(true);
    let mut seen = Vec::with_capacity(count);
    while let Some(joined) = set.join_next().await {
        seen.push(joined.context("a stream task died")?);
    }

    let mut fanout = stats::histogram()?;
    let (mut told, mut exact) = (0usize, 0usize);
    for events in &seen {
        let Some((_, status, position)) = events.iter().rev().find(|e| e.0 < triggered) else {
            continue;
        };
        let update = events
            .iter()
            .find(|e| e.0 >= triggered && (&e.1 != status || e.2 != *position));
        if let Some((t, _, new)) = update {
            told += 1;
            stats::record(
                &mut fanout,
                Duration::from_secs_f64((t - admission).max(0.0)),
            );
            if *new == position.map(|p| p - i64::from(a.sse_admit)) {
                exact += 1;
            }
        }
    }
    let f = Summary::of(&fanout);
    eprintln!(
        "loadgen line: 5/5 sse: {told} of {connected} streams told of the admission (p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms), {exact} with the exact new position; {} ended early; api {:?} cores holding them, rss {:?} MB",
        f.p50,
        f.p99,
        f.max,
        shared_load(&shared.ended),
        api_cores.map(round3),
        rss_mb.map(round1)
    );
    fields.insert("sse_asked".into(), json!(a.sse_clients));
    fields.insert("sse_admit".into(), json!(a.sse_admit));
    fields.insert("sse_opened".into(), json!(connected));
    fields.insert("sse_failed".into(), json!(failed));
    fields.insert(
        "sse_unanswered".into(),
        json!(count.saturating_sub(connected + failed)),
    );
    fields.insert("sse_clients".into(), json!(told));
    fields.insert("sse_positions_exact".into(), json!(exact));
    fields.insert("sse_fanout_p50_ms".into(), json!(round2(f.p50)));
    fields.insert("sse_fanout_p99_ms".into(), json!(round2(f.p99)));
    fields.insert("sse_fanout_max_ms".into(), json!(round2(f.max)));
    fields.insert("sse_rss_mb".into(), json!(rss_mb.map(round1)));
    fields.insert("sse_api_cores".into(), json!(api_cores.map(round3)));
    Ok(())
}

fn shared_load(n: &AtomicUsize) -> usize {
    n.load(Ordering::Relaxed)
}

/// Clients for the streams: no overall timeout (a stream lasts as long as
/// the phase), one connection per stream, and on loopback one client per
/// local address so the ephemeral ports do not run out.
fn stream_clients(url: &str, streams: usize) -> anyhow::Result<Vec<reqwest::Client>> {
    let loopback = url.starts_with("http://127.");
    let n = if loopback {
        streams.div_ceil(STREAMS_PER_ADDRESS).max(1)
    } else {
        1
    };
    (0..n)
        .map(|i| {
            let mut b = reqwest::Client::builder()
                .no_proxy()
                .http1_only()
                .tcp_nodelay(true)
                .pool_max_idle_per_host(0)
                .connect_timeout(Duration::from_secs(10));
            if loopback {
                let last = u8::try_from(i + 1).context("too many streams")?;
                b = b.local_address(IpAddr::from([127, 0, 0, last]));
            }
            b.build().context("building a stream client")
        })
        .collect()
}

/// One stream: its events until `stop`, counted in `shared`.
async fn stream(
    client: reqwest::Client,
    endpoint: Arc<str>,
    token: Arc<str>,
    permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Events {
    let mut events = Events::new();
    let mut permit = Some(permit);
    // A connection the API never answers must not outlive the phase.
    let sent = tokio::select! {
        _ = stop.changed() => return events,
        sent = client.get(&*endpoint).bearer_auth(&*token).send() => sent,
    };
    let mut response = match sent {
        Ok(r) if r.status().as_u16() == 200 => r,
        Ok(r) => {
            shared.fail(format!("HTTP {}", r.status().as_u16()));
            return events;
        }
        Err(e) => {
            shared.fail(format!("{e:?}"));
            return events;
        }
    };
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = tokio::select! {
            _ = stop.changed() => break,
            chunk = response.chunk() => chunk,
        };
        let Ok(Some(bytes)) = chunk else {
            if permit.take().is_some() {
                shared.fail("the stream ended before its first event".into());
            } else {
                shared.ended.fetch_add(1, Ordering::Relaxed);
            }
            break;
        };
        buf.extend_from_slice(&bytes);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let Some(data) = line.strip_prefix(b"data:") else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<Value>(data) else {
                continue;
            };
            let status = v["status"].as_str().unwrap_or("?").to_owned();
            let position = v["position"].as_i64();
            if let Some(first) = events.first() {
                if events.len() == 1 && (first.1 != status || first.2 != position) {
                    shared.changed.fetch_add(1, Ordering::Relaxed);
                }
            } else if permit.take().is_some() {
                shared.connected.fetch_add(1, Ordering::Relaxed);
            }
            events.push((unix_now(), status, position));
        }
    }
    events
}
