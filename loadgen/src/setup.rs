//! Bench data: users with queue tokens (through the API, as clients get
//! them) and performances with 50 seats each (straight into Postgres, so
//! there are enough distinct seats for every reserve to succeed).

use anyhow::{bail, Context};
use chrono::{NaiveTime, TimeDelta, Utc};
use domain::ConcertId;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use store::catalog::NewPerformance;
use store::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub const SEATS_PER_PERFORMANCE: u64 = 50;

/// The runtime every loadgen command runs on: two threads, as many as the
/// machine's cores, so the load generator does not starve the stack.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the Tokio runtime")
}

/// One HTTP client for everything: keep-alive, no proxy (loopback only).
pub fn http_client(max_in_flight: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(max_in_flight)
        .pool_idle_timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .build()
        .context("building the HTTP client")
}

/// A user and their queue token.
#[derive(Debug, Clone)]
pub struct Member {
    pub token: Arc<str>,
    pub status: String,
}

/// Registers `count` users and gives each a queue token, `concurrency` at a
/// time.
pub async fn members(
    client: &reqwest::Client,
    url: &str,
    concert: i64,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Member>> {
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut set = JoinSet::new();
    for i in 0..count {
        let client = client.clone();
        let url = url.to_owned();
        let slot = slots.clone().acquire_owned().await?;
        set.spawn(async move {
            let member = register(&client, &url, concert).await;
            drop(slot);
            (i, member)
        });
    }
    let mut out: Vec<Option<Member>> = vec![None; count];
    while let Some(joined) = set.join_next().await {
        let (i, member) = joined.context("a setup task died")?;
        if let Some(place) = out.get_mut(i) {
            *place = Some(member?);
        }
    }
    out.into_iter()
        .map(|m| m.context("a user was not registered"))
        .collect()
}

async fn register(client: &reqwest::Client, url: &str, concert: i64) -> anyhow::Result<Member> {
    let user: Value = expect_json(
        client
            .post(format!("{url}/v1/users"))
            .json(&json!({}))
            .send()
            .await?,
        201,
    )
    .await?;
    let user_id = user["user_id"]
        .as_str()
        .context("POST /v1/users gave no user_id")?;
    let key = user["user_key"]
        .as_str()
        .context("POST /v1/users gave no user_key")?;
    let entry: Value = expect_json(
        client
            .post(format!("{url}/v1/queue/tokens"))
            .bearer_auth(key)
            .json(&json!({ "user_id": user_id, "concert_id": concert }))
            .send()
            .await?,
        201,
    )
    .await?;
    let token = entry["token"]
        .as_str()
        .context("POST /v1/queue/tokens gave no token")?;
    let status = entry["status"].as_str().unwrap_or("unknown").to_owned();
    Ok(Member {
        token: Arc::from(token),
        status,
    })
}

async fn expect_json(response: reqwest::Response, want: u16) -> anyhow::Result<Value> {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    if status != want {
        bail!("expected HTTP {want}, got {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("not JSON: {body}"))
}

/// The queue status of one token.
pub async fn queue_status(
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<String> {
    let body = expect_json(
        client
            .get(format!("{url}/v1/queue/status"))
            .bearer_auth(token)
            .send()
            .await?,
        200,
    )
    .await?;
    Ok(body["status"].as_str().unwrap_or("unknown").to_owned())
}

/// Waits until every member is active (the workers admit in the
/// background), for at most `limit`.
pub async fn wait_active(
    client: &reqwest::Client,
    url: &str,
    members: &mut [Member],
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut waiting = 0;
        for m in members.iter_mut().filter(|m| m.status != "active") {
            m.status = queue_status(client, url, &m.token).await?;
            if m.status != "active" {
                waiting += 1;
            }
        }
        if waiting == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{waiting} reserve users are still not active after {limit:?}; is QUEUE_ACTIVE_CAPACITY at least --reserve-users?");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Performances of 50 seats, handed out one seat at a time, never twice.
pub struct Seats {
    pool: PgPool,
    concert_id: i64,
    performances: Vec<i64>,
    next: u64,
}

impl Seats {
    pub async fn new(pool: PgPool) -> anyhow::Result<Self> {
        let mut conn = pool.acquire().await?;
        let concert_id = store::catalog::add_concert(
            &mut conn,
            &store::catalog::NewConcert {
                title: "Benchmark night",
                artist: "loadgen",
                ..Default::default()
            },
        )
        .await
        .context("creating the bench concert")?
        .0;
        Ok(Self {
            pool,
            concert_id,
            performances: Vec::new(),
            next: 0,
        })
    }

    /// The bench concert, whose waiting room the users enter.
    pub fn concert_id(&self) -> i64 {
        self.concert_id
    }

    /// Makes sure `count` more seats can be taken.
    pub async fn ensure(&mut self, count: u64) -> anyhow::Result<()> {
        let have = self.performances.len() as u64 * SEATS_PER_PERFORMANCE;
        let need = self.next + count;
        if need <= have {
            return Ok(());
        }
        let more = (need - have).div_ceil(SEATS_PER_PERFORMANCE) as i64;
        // Distinct start times, a minute apart, two months out.
        let day = Utc::now().date_naive().and_time(NaiveTime::MIN).and_utc() + TimeDelta::days(60);
        let offset = self.performances.len() as i64;
        let new: Vec<NewPerformance> = (1..=more)
            .map(|g| NewPerformance {
                starts_at: day + TimeDelta::minutes(offset + g),
                prices: vec![80_000; SEATS_PER_PERFORMANCE as usize],
            })
            .collect();
        let mut conn = self.pool.acquire().await?;
        let created: Vec<i64> =
            store::catalog::add_performances(&mut conn, ConcertId(self.concert_id), &new)
                .await
                .context("creating bench performances")?
                .into_iter()
                .map(|p| p.0)
                .collect();
        self.performances.extend(created);
        Ok(())
    }

    /// The next `count` seats as (performance_id, seat_number); call
    /// [`Seats::ensure`] first.
    pub fn take(&mut self, count: u64) -> anyhow::Result<Vec<(i64, u8)>> {
        let mut out = Vec::with_capacity(count as usize);
        for k in self.next..self.next + count {
            let p = self
                .performances
                .get((k / SEATS_PER_PERFORMANCE) as usize)
                .copied()
                .context("ran out of bench seats")?;
            out.push((p, (k % SEATS_PER_PERFORMANCE) as u8 + 1));
        }
        self.next += count;
        Ok(out)
    }
}
