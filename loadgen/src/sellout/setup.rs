//! The sale's set-up, all through the public API as an operator and a crowd
//! would do it: the concert and its performances with the admin token,
//! then every user registered and entered into the pre-queue, then the
//! opening moved to now.

use anyhow::{bail, Context};
use chrono::{SecondsFormat, TimeDelta, Utc};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Seats of each performance the sale makes (the most SPEC allows).
pub const SEATS: u64 = 50;

/// The operator's side of the API.
pub struct Operator<'a> {
    pub client: &'a reqwest::Client,
    pub url: &'a str,
    pub token: &'a str,
}

impl Operator<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let response = self
            .client
            .request(method.clone(), format!("{}{path}", self.url))
            .bearer_auth(self.token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON: {text}"))
    }

    /// Makes the concert, its sale an hour away (so the crowd forms its
    /// pre-queue), admitting `capacity` at once, and `performances` dates
    /// of 50 seats in two price ranges. Returns the concert id.
    pub async fn make_sale(&self, performances: usize, capacity: u32) -> anyhow::Result<i64> {
        let opens = rfc3339(TimeDelta::hours(1));
        let concert = self
            .send(
                reqwest::Method::POST,
                "/v1/admin/concerts",
                &json!({"title": "The sell-out", "artist": "loadgen",
                        "sale_opens_at": opens, "queue_capacity": capacity}),
            )
            .await?["concert_id"]
            .as_i64()
            .context("no concert_id")?;
        for i in 0..performances {
            let starts = rfc3339(TimeDelta::days(30) + TimeDelta::minutes(i as i64));
            let body = json!({"starts_at": starts, "total_seats": SEATS, "prices": [
                {"from_seat": 1, "to_seat": 20, "price": 120_000},
                {"from_seat": 21, "to_seat": SEATS, "price": 80_000}]});
            let path = format!("/v1/admin/concerts/{concert}/performances");
            self.send(reqwest::Method::POST, &path, &body).await?;
        }
        Ok(concert)
    }

    /// Opens the sale of `concert` a moment from now; returns when.
    pub async fn open(&self, concert: i64) -> anyhow::Result<Instant> {
        let lead = TimeDelta::milliseconds(1_500);
        let path = format!("/v1/admin/concerts/{concert}");
        self.send(
            reqwest::Method::PATCH,
            &path,
            &json!({"sale_opens_at": rfc3339(lead)}),
        )
        .await?;
        Ok(Instant::now() + lead.to_std().unwrap_or_default())
    }
}

fn rfc3339(from_now: TimeDelta) -> String {
    (Utc::now() + from_now).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `count` requests made by `make(i)`, `clients` in flight (each client
/// sends its next when its last is answered); returns each answer's JSON
/// in order (`None` for a failure) and the seconds it took.
async fn burst<F, Fut>(count: usize, clients: usize, make: F) -> (Vec<Option<Value>>, f64)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<Value>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..clients.min(count.max(1)) {
        let (next, make) = (next.clone(), make.clone());
        set.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return done;
                }
                done.push((i, make(i).await));
            }
        });
    }
    let mut out = vec![None; count];
    while let Some(Ok(done)) = set.join_next().await {
        for (i, answer) in done {
            out[i] = answer;
        }
    }
    (out, started.elapsed().as_secs_f64())
}

/// POSTs `body` as JSON with `auth`; the JSON answer if it is `want`.
async fn post(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&str>,
    body: Value,
    want: u16,
) -> Option<Value> {
    let mut request = client.post(url).json(&body);
    if let Some(auth) = auth {
        request = request.bearer_auth(auth);
    }
    let response = request.send().await.ok()?;
    if response.status().as_u16() != want {
        return None;
    }
    response.json().await.ok()
}

/// The crowd in the pre-queue, and how fast it got there.
pub struct Crowd {
    /// Each user's queue token, in the order they entered.
    pub tokens: Vec<String>,
    pub registered_per_s: f64,
    pub entered_per_s: f64,
}

/// Registers `users` users and enters each into the pre-queue of
/// `concert`, `clients` requests in flight.
pub async fn crowd(
    client: &reqwest::Client,
    url: &str,
    concert: i64,
    users: usize,
    clients: usize,
) -> anyhow::Result<Crowd> {
    let register: Arc<str> = Arc::from(format!("{url}/v1/users"));
    let c = client.clone();
    let (made, register_secs) = burst(users, clients, move |_| {
        let (c, register) = (c.clone(), register.clone());
        async move { post(&c, &register, None, json!({}), 201).await }
    })
    .await;
    let made: Vec<(String, String)> = made
        .into_iter()
        .flatten()
        .filter_map(|u| {
            Some((
                u["user_id"].as_str()?.to_owned(),
                u["user_key"].as_str()?.to_owned(),
            ))
        })
        .collect();
    if made.len() < users {
        bail!("only {} of {users} registrations succeeded", made.len());
    }
    let made = Arc::new(made);
    let enter: Arc<str> = Arc::from(format!("{url}/v1/queue/tokens"));
    let c = client.clone();
    let users_made = made.clone();
    let (entries, enter_secs) = burst(users, clients, move |i| {
        let (c, enter, made) = (c.clone(), enter.clone(), users_made.clone());
        async move {
            let (user, key) = made.get(i)?;
            let body = json!({"user_id": user, "concert_id": concert});
            post(&c, &enter, Some(key), body, 201).await
        }
    })
    .await;
    let tokens: Vec<String> = entries
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e["token"].as_str()?.to_owned()))
        .collect();
    if tokens.len() < users {
        bail!(
            "only {} of {users} entries into the pre-queue succeeded",
            tokens.len()
        );
    }
    Ok(Crowd {
        tokens,
        registered_per_s: users as f64 / register_secs.max(1e-9),
        entered_per_s: users as f64 / enter_secs.max(1e-9),
    })
}
