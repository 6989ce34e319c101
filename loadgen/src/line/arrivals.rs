//! Phase 4: an arrival burst. M distinct users (made with keys straight in
//! Postgres beforehand) enter a fresh room through `POST /v1/queue/tokens`,
//! C requests in flight (C concurrent clients, closed loop: each sends its
//! next as soon as its last is answered). The target (issue 15): at least
//! 10,000 entries/s, every entry's place fixed in the order the API
//! accepted it.

use super::{setup, Line};
use crate::stats::{self, round1, round2, Summary};
use anyhow::Context;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

/// The room the burst filled, for the event-stream phase.
pub struct Burst {
    /// Its concert id.
    pub concert: i64,
    /// The capacity it was made with (so most of it stays waiting).
    pub capacity: u32,
    /// (seq, queue token) of every accepted arrival, latest place first.
    pub entries: Vec<(i64, Arc<str>)>,
}

/// One arrival as sent and answered.
struct Shot {
    index: usize,
    sent: Instant,
    answered: Instant,
    status: u16,
    token: Option<Arc<str>>,
}

/// The room's capacity during the burst: small, so the line stays long.
const CAPACITY: u32 = 100;

/// Runs the burst and checks the order; returns the room.
pub async fn run(line: &Line, fields: &mut Map<String, Value>) -> anyhow::Result<Burst> {
    let a = &line.args;
    let concert = setup::new_room(&line.pool, "An arrival burst", Some(CAPACITY)).await?;
    eprintln!(
        "loadgen line: 4/5 arrivals: {} users with keys (straight into Postgres), room {concert}",
        a.arrivals
    );
    let users = setup::keyed_users(&line.pool, a.arrivals).await?;
    // Bodies and headers built before the clock starts.
    let requests: Arc<Vec<(String, String)>> = Arc::new(
        users
            .iter()
            .map(|(user, key)| {
                (
                    json!({ "user_id": user, "concert_id": concert }).to_string(),
                    format!("Bearer {key}"),
                )
            })
            .collect(),
    );
    eprintln!(
        "loadgen line: 4/5 arrivals: {} POST /v1/queue/tokens, {} in flight",
        a.arrivals, a.arrival_clients
    );
    let next = Arc::new(AtomicUsize::new(0));
    let endpoint: Arc<str> = Arc::from(format!("{}/v1/queue/tokens", line.url));
    let mut set = JoinSet::new();
    for _ in 0..a.arrival_clients {
        let (client, next, requests, endpoint) = (
            line.client.clone(),
            next.clone(),
            requests.clone(),
            endpoint.clone(),
        );
        set.spawn(async move {
            let mut shots = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, auth)) = requests.get(index) else {
                    break;
                };
                let sent = Instant::now();
                let (status, token) = send(&client, &endpoint, body, auth).await;
                shots.push(Shot {
                    index,
                    sent,
                    answered: Instant::now(),
                    status,
                    token,
                });
            }
            shots
        });
    }
    let mut shots = Vec::with_capacity(a.arrivals);
    while let Some(joined) = set.join_next().await {
        shots.extend(joined.context("an arrival client died")?);
    }

    let mut latency = stats::histogram()?;
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    for s in &shots {
        first = Some(first.map_or(s.sent, |f| f.min(s.sent)));
        last = Some(last.map_or(s.answered, |l| l.max(s.answered)));
        if s.status == 201 {
            stats::record(&mut latency, s.answered - s.sent);
        } else {
            *statuses.entry(s.status.to_string()).or_default() += 1;
        }
    }
    let ok = shots.iter().filter(|s| s.status == 201).count();
    let span = match (first, last) {
        (Some(f), Some(l)) => (l - f).as_secs_f64(),
        _ => 0.0,
    };
    let rate = ok as f64 / span.max(1e-9);
    let lat = Summary::of(&latency);
    eprintln!(
        "loadgen line: 4/5 arrivals: {ok}/{} accepted in {span:.1} s ({rate:.0}/s), p50 {:.1} ms, p99 {:.1} ms, other answers {statuses:?}",
        shots.len(),
        lat.p50,
        lat.p99
    );

    // The places: every accepted arrival has one, 1..=M without a gap, and
    // one answered before another was sent holds the lower place.
    let (count, distinct, lo, hi) = setup::seq_summary(&line.pool, concert).await?;
    let ids: Vec<Uuid> = users.iter().map(|(u, _)| *u).collect();
    let seq_of = setup::seqs(&line.pool, concert, &ids).await?;
    let m = a.arrivals as i64;
    let gap_free = count == m && distinct == m && lo == 1 && hi == m;
    let overtaken = overtaken(&shots, |i| ids.get(i).and_then(|u| seq_of.get(u)).copied());
    let ordered = gap_free && overtaken == 0 && ok == a.arrivals;
    eprintln!(
        "loadgen line: 4/5 arrivals: room holds {count} entries, {distinct} distinct seqs {lo}..={hi}; {overtaken} answered arrivals overtaken by a later one -> ordered: {ordered}"
    );

    fields.insert("arrivals".into(), json!(a.arrivals));
    fields.insert("arrival_clients".into(), json!(a.arrival_clients));
    fields.insert("arrivals_per_s".into(), json!(round1(rate)));
    fields.insert("arrival_p50_ms".into(), json!(round2(lat.p50)));
    fields.insert("arrival_p99_ms".into(), json!(round2(lat.p99)));
    fields.insert("arrival_errors".into(), json!(shots.len() - ok));
    fields.insert("arrival_other_statuses".into(), json!(statuses));
    fields.insert("arrivals_ordered".into(), json!(ordered));

    let mut entries: Vec<(i64, Arc<str>)> = shots
        .into_iter()
        .filter_map(|s| {
            let seq = ids.get(s.index).and_then(|u| seq_of.get(u)).copied()?;
            Some((seq, s.token?))
        })
        .collect();
    entries.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
    Ok(Burst {
        concert,
        capacity: CAPACITY,
        entries,
    })
}

/// One `POST /v1/queue/tokens`: its status (0 on a transport error) and the
/// token of a 201.
async fn send(
    client: &reqwest::Client,
    endpoint: &str,
    body: &str,
    auth: &str,
) -> (u16, Option<Arc<str>>) {
    let sent = client
        .post(endpoint)
        .header(AUTHORIZATION, auth)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await;
    let Ok(response) = sent else {
        return (0, None);
    };
    let status = response.status().as_u16();
    let Ok(bytes) = response.bytes().await else {
        return (0, None);
    };
    let token = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["token"].as_str().map(Arc::from));
    (status, token)
}

/// Arrivals whose place is not above that of every arrival answered before
/// they were sent (such an arrival was overtaken: the API accepted it
/// later but placed it earlier). `seq(index)` is an arrival's place.
fn overtaken(shots: &[Shot], seq: impl Fn(usize) -> Option<i64>) -> usize {
    let mut by_sent: Vec<(Instant, i64)> = Vec::new();
    let mut by_answer: Vec<(Instant, i64)> = Vec::new();
    for s in shots.iter().filter(|s| s.status == 201) {
        if let Some(q) = seq(s.index) {
            by_sent.push((s.sent, q));
            by_answer.push((s.answered, q));
        }
    }
    by_sent.sort_unstable_by_key(|x| x.0);
    by_answer.sort_unstable_by_key(|x| x.0);
    let (mut j, mut highest, mut bad) = (0, i64::MIN, 0);
    for (sent, q) in by_sent {
        while let Some((answered, earlier)) = by_answer.get(j) {
            if *answered >= sent {
                break;
            }
            highest = highest.max(*earlier);
            j += 1;
        }
        if q <= highest {
            bad += 1;
        }
    }
    bad
}

/// Enters `user` into `concert`'s room with their key, as a browser would;
/// the answer's status and body.
pub async fn enter(
    client: &reqwest::Client,
    url: &str,
    user: Uuid,
    key: &str,
    concert: i64,
) -> anyhow::Result<(u16, Value)> {
    let response = client
        .post(format!("{url}/v1/queue/tokens"))
        .bearer_auth(key)
        .json(&json!({ "user_id": user, "concert_id": concert }))
        .send()
        .await
        .context("POST /v1/queue/tokens")?;
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, body))
}
