//! The measured phases: reserve steps (accept latency from the client, final
//! status from Postgres) and queue-status poll steps.

use crate::cpu;
use crate::open_loop::{self, Outcome, Run};
use crate::setup::Seats;
use crate::stats::{self, round1, round2, Summary, Timeline};
use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// What every phase shares.
pub struct Ctx {
    pub client: reqwest::Client,
    pub url: Arc<str>,
    pub pool: PgPool,
    pub max_in_flight: usize,
    /// The bench's time zero, as an `Instant` and as Unix seconds (Postgres
    /// timestamps are placed on the same axis through the latter).
    pub anchor: Instant,
    pub anchor_epoch: f64,
    pub timeline: Timeline,
    pub cpu: cpu::Watch,
}

impl Ctx {
    pub fn new(
        client: reqwest::Client,
        url: &str,
        pool: PgPool,
        max_in_flight: usize,
        cpu: cpu::Watch,
    ) -> Self {
        Self {
            cpu,
            client,
            url: Arc::from(url),
            pool,
            max_in_flight,
            anchor: Instant::now(),
            anchor_epoch: unix_now(),
            timeline: Timeline::default(),
        }
    }

    /// Seconds since the bench started.
    pub fn at(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.anchor).as_secs_f64()
    }
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Client-side view of one open-loop run, for any endpoint.
pub struct ClientSide {
    pub offered: usize,
    pub ok: usize,
    pub errors: BTreeMap<u16, usize>,
    /// Latency of the good answers, from their due time.
    pub latency: Histogram<u64>,
    /// Good answers per second, over the longer of the schedule and the time
    /// the last answer took to come.
    pub ok_rate: f64,
    pub max_schedule_lag_ms: f64,
    /// Longest wait of a due request for an in-flight slot and the driver.
    pub max_send_delay_ms: f64,
    pub start: Instant,
    pub start_s: f64,
}

impl ClientSide {
    fn of(
        ctx: &mut Ctx,
        run: &Run,
        ok_status: u16,
        offered_series: &'static str,
        ok_series: &'static str,
    ) -> anyhow::Result<Self> {
        let mut latency = stats::histogram()?;
        let mut errors = BTreeMap::new();
        let mut ok = 0;
        let mut last = run.start;
        let mut max_send_delay = Duration::ZERO;
        for shot in &run.shots {
            max_send_delay = max_send_delay.max(shot.sent.saturating_duration_since(shot.intended));
            ctx.timeline.add(offered_series, ctx.at(shot.intended));
            if shot.outcome.status == ok_status {
                ok += 1;
                stats::record(&mut latency, shot.latency());
                ctx.timeline
                    .add(ok_series, ctx.at(shot.outcome.answered_at));
                last = last.max(shot.outcome.answered_at);
            } else {
                *errors.entry(shot.outcome.status).or_default() += 1;
            }
        }
        if run.lost > 0 {
            *errors.entry(0).or_default() += run.lost;
        }
        let span = last
            .saturating_duration_since(run.start)
            .as_secs_f64()
            .max(run.secs);
        Ok(Self {
            offered: run.shots.len() + run.lost,
            ok,
            errors,
            ok_rate: ok as f64 / span,
            latency,
            max_schedule_lag_ms: run.max_schedule_lag.as_secs_f64() * 1000.0,
            max_send_delay_ms: max_send_delay.as_secs_f64() * 1000.0,
            start: run.start,
            start_s: ctx.at(run.start),
        })
    }

    fn error_count(&self) -> usize {
        self.errors.values().sum()
    }

    fn errors_json(&self) -> Value {
        let map: serde_json::Map<String, Value> = self
            .errors
            .iter()
            .map(|(status, n)| {
                let key = if *status == 0 {
                    "transport".to_owned()
                } else {
                    status.to_string()
                };
                (key, json!(n))
            })
            .collect();
        Value::Object(map)
    }
}

/// One reserve step (or the latency run).
pub struct ReserveStep {
    pub label: String,
    pub rate: f64,
    pub secs: f64,
    pub client: ClientSide,
    /// Accepted commands seen final in Postgres.
    pub finals: usize,
    /// Finals per second inside the step's steady window (its first fifth,
    /// at most 1 s, is left out as warm-up).
    pub final_rate: f64,
    /// From the end of the schedule to the last final status.
    pub final_lag_s: f64,
    /// Outcome counts, "status" or "status:REASON".
    pub outcomes: BTreeMap<String, i64>,
    /// Accept → final, for the long-polled sample.
    pub accept_to_final: Histogram<u64>,
    /// Due time → final, for the long-polled sample.
    pub due_to_final: Histogram<u64>,
    pub kept_up: bool,
    /// Peak API resident memory during the step, MB.
    pub rss_peak_mb: Option<f64>,
    /// CPU seconds each watched process spent from the step's start until
    /// its commands were final.
    pub cpu_s: cpu::Snapshot,
    /// Wall time over which `cpu_s` was counted.
    pub wall_s: f64,
}

impl ReserveStep {
    /// Share of the offered requests that did not get a 202.
    pub fn error_share(&self) -> f64 {
        self.client.error_count() as f64 / self.client.offered.max(1) as f64
    }

    pub fn to_json(&self) -> Value {
        json!({
            "label": self.label,
            "offered_rate": self.rate,
            "secs": self.secs,
            "start_s": round2(self.client.start_s),
            "offered": self.client.offered,
            "accepted": self.client.ok,
            "errors": self.client.errors_json(),
            "accepted_per_s": round1(self.client.ok_rate),
            "finals": self.finals,
            "final_per_s": round1(self.final_rate),
            "final_lag_s": round2(self.final_lag_s),
            "outcomes": self.outcomes,
            "accept_latency": Summary::of(&self.client.latency).to_json(),
            "accept_to_final_sampled": Summary::of(&self.accept_to_final).to_json(),
            "due_to_final_sampled": Summary::of(&self.due_to_final).to_json(),
            "max_schedule_lag_ms": round2(self.client.max_schedule_lag_ms),
            "max_send_delay_ms": round2(self.client.max_send_delay_ms),
            "api_rss_peak_mb": self.rss_peak_mb.map(round1),
            "cpu_s": round_map(&self.cpu_s),
            "cpu_wall_s": round2(self.wall_s),
            "kept_up": self.kept_up,
        })
    }
}

fn round_map(m: &cpu::Snapshot) -> BTreeMap<String, f64> {
    m.iter().map(|(k, v)| (k.clone(), round2(*v))).collect()
}

/// What one reserve step sends.
pub struct StepPlan<'a> {
    pub label: &'a str,
    /// Commands per second.
    pub rate: f64,
    pub secs: f64,
    /// Every n-th request is also long-polled until final (0: none).
    pub follow_every: u64,
    /// The longest wait for accepted commands to become final.
    pub drain: Duration,
}

/// Sends reserves at the planned rate over fresh seats, waits until every
/// accepted one is final, and reads when each became final from
/// `requests.finished_at`.
pub async fn reserve_step(
    ctx: &mut Ctx,
    seats: &mut Seats,
    tokens: &Arc<Vec<Arc<str>>>,
    plan: StepPlan<'_>,
) -> anyhow::Result<ReserveStep> {
    let StepPlan {
        label,
        rate,
        secs,
        follow_every,
        drain,
    } = plan;
    let count = (rate * secs).round().max(1.0) as u64;
    seats.ensure(count).await?;
    let list = Arc::new(seats.take(count)?);
    eprintln!("loadgen: {label}: {count} reserves at {rate}/s for {secs} s");
    let cpu_before = ctx.cpu.snapshot();
    let wall_start = Instant::now();
    let client = ctx.client.clone();
    let url = ctx.url.clone();
    let run = {
        let tokens = tokens.clone();
        open_loop::run(rate, secs, ctx.max_in_flight, move |i| {
            let client = client.clone();
            let url = url.clone();
            let token = tokens
                .get((i as usize) % tokens.len().max(1))
                .cloned()
                .unwrap_or_else(|| Arc::from(""));
            let seat = list.get(i as usize).copied().unwrap_or((0, 1));
            let follow = follow_every > 0 && i % follow_every == 0;
            async move { reserve(&client, &url, &token, seat, follow).await }
        })
        .await
    };
    let client_side = ClientSide::of(ctx, &run, 202, "reserve_offered", "reserve_accepted")?;
    let ids: Vec<uuid::Uuid> = run
        .shots
        .iter()
        .filter_map(|s| s.outcome.request_id)
        .collect();
    let schedule_end = ctx.at(run.start) + secs;

    // Wait for the accepted commands to be final.
    let deadline = Instant::now() + drain;
    loop {
        let finals: i64 = sqlx::query_scalar(
            "select count(*) from requests where request_id = any($1) and status <> 'pending'",
        )
        .bind(&ids)
        .fetch_one(&ctx.pool)
        .await
        .context("counting final requests")?;
        let not_final = ids.len() as i64 - finals;
        if not_final <= 0 {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "loadgen: {label}: {not_final} of {} accepted commands still not final after {drain:?}",
                ids.len()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let cpu_s = cpu::delta(&cpu_before, &ctx.cpu.snapshot());
    let wall_s = wall_start.elapsed().as_secs_f64();
    let finished: Vec<f64> = sqlx::query_scalar(
        "select extract(epoch from finished_at)::float8 from requests
          where request_id = any($1) and finished_at is not null",
    )
    .bind(&ids)
    .fetch_all(&ctx.pool)
    .await
    .context("reading finish times")?;
    let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
        "select status, reason, count(*) from requests where request_id = any($1) group by 1, 2",
    )
    .bind(&ids)
    .fetch_all(&ctx.pool)
    .await
    .context("reading outcomes")?;
    let outcomes: BTreeMap<String, i64> = rows
        .into_iter()
        .map(|(status, reason, n)| match reason {
            Some(r) => (format!("{status}:{r}"), n),
            None => (status, n),
        })
        .collect();

    let start_s = client_side.start_s;
    let warm = (secs * 0.2).min(1.0);
    let mut in_window = 0usize;
    let mut last_final = f64::MIN;
    for epoch in &finished {
        let s = epoch - ctx.anchor_epoch;
        ctx.timeline.add("reserve_final", s);
        if s >= start_s + warm && s < start_s + secs {
            in_window += 1;
        }
        last_final = last_final.max(s);
    }
    let final_rate = in_window as f64 / (secs - warm).max(0.001);
    let final_lag_s = if finished.is_empty() {
        f64::INFINITY
    } else {
        (last_final - schedule_end).max(0.0)
    };

    let mut accept_to_final = stats::histogram()?;
    let mut due_to_final = stats::histogram()?;
    for shot in &run.shots {
        if let (Some(d), Some(f)) = (shot.accept_to_final(), shot.outcome.final_at) {
            stats::record(&mut accept_to_final, d);
            stats::record(
                &mut due_to_final,
                f.saturating_duration_since(shot.intended),
            );
        }
    }

    let accept = Summary::of(&client_side.latency);
    let errors = client_side.error_count();
    let kept_up = errors as f64 <= 0.01 * client_side.offered as f64
        && client_side.ok_rate >= 0.95 * rate
        && accept.p99 <= 500.0
        && final_rate >= 0.9 * rate
        && finished.len() == ids.len()
        && final_lag_s <= (0.25 * secs).max(2.0);
    let step = ReserveStep {
        label: label.to_owned(),
        rate,
        secs,
        finals: finished.len(),
        final_rate,
        final_lag_s,
        outcomes,
        accept_to_final,
        due_to_final,
        kept_up,
        client: client_side,
        rss_peak_mb: None,
        cpu_s,
        wall_s,
    };
    eprintln!(
        "loadgen: {label}: accepted {}/{} ({:.0}/s, p99 {:.1} ms), final {:.0}/s, lag {:.2} s, errors {} -> {}",
        step.client.ok,
        step.client.offered,
        step.client.ok_rate,
        accept.p99,
        step.final_rate,
        step.final_lag_s,
        errors,
        if kept_up { "kept up" } else { "fell behind" }
    );
    Ok(step)
}

async fn reserve(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    (performance_id, seat_number): (i64, u8),
    follow: bool,
) -> Outcome {
    let sent = client
        .post(format!("{url}/v1/reservations"))
        .bearer_auth(token)
        .json(&json!({ "performance_id": performance_id, "seat_number": seat_number }))
        .send()
        .await;
    let Ok(response) = sent else {
        return Outcome::failed();
    };
    let status = response.status().as_u16();
    let body: Option<Value> = response.json().await.ok();
    let answered_at = Instant::now();
    let request_id = body
        .as_ref()
        .and_then(|b| b["request_id"].as_str())
        .and_then(|s| s.parse().ok());
    let mut outcome = Outcome {
        status,
        answered_at,
        request_id,
        final_at: None,
        final_status: None,
    };
    if let (true, 202, Some(id)) = (follow, status, request_id) {
        // Long polls of up to 10 s each; three are plenty for a live system.
        for _ in 0..3 {
            let polled = client
                .get(format!("{url}/v1/requests/{id}?wait_ms=10000"))
                .bearer_auth(token)
                .send()
                .await;
            let Ok(response) = polled else { break };
            let Ok(view) = response.json::<Value>().await else {
                break;
            };
            let state = view["status"].as_str().unwrap_or("unknown");
            if state != "pending" {
                outcome.final_at = Some(Instant::now());
                outcome.final_status = Some(match view["reason"].as_str() {
                    Some(r) => format!("{state}:{r}"),
                    None => state.to_owned(),
                });
                break;
            }
        }
    }
    outcome
}

/// One queue-status poll step.
pub struct PollStep {
    pub rate: f64,
    pub secs: f64,
    pub client: ClientSide,
    pub kept_up: bool,
    /// Peak API resident memory during the step, MB.
    pub rss_peak_mb: Option<f64>,
    /// CPU seconds each watched process spent during the step.
    pub cpu_s: cpu::Snapshot,
    /// Wall time over which `cpu_s` was counted.
    pub wall_s: f64,
}

impl PollStep {
    pub fn to_json(&self) -> Value {
        json!({
            "offered_rate": self.rate,
            "secs": self.secs,
            "start_s": round2(self.client.start_s),
            "offered": self.client.offered,
            "ok": self.client.ok,
            "errors": self.client.errors_json(),
            "ok_per_s": round1(self.client.ok_rate),
            "latency": Summary::of(&self.client.latency).to_json(),
            "max_schedule_lag_ms": round2(self.client.max_schedule_lag_ms),
            "max_send_delay_ms": round2(self.client.max_send_delay_ms),
            "api_rss_peak_mb": self.rss_peak_mb.map(round1),
            "cpu_s": round_map(&self.cpu_s),
            "cpu_wall_s": round2(self.wall_s),
            "kept_up": self.kept_up,
        })
    }
}

/// A poll step keeps up only while its p99 stays under the target:
/// polling is one figure, the rate at which that latency holds.
pub const POLL_P99_LIMIT_MS: f64 = 20.0;

/// What a poll ramp asks for: its path and the timeline series it counts in.
#[derive(Debug, Clone, Copy)]
pub struct PollTarget {
    pub path: &'static str,
    pub offered: &'static str,
    pub ok: &'static str,
}

/// The queue status of waiting users: the figure of the poll ramp.
pub const STATUS: PollTarget = PollTarget {
    path: "/v1/queue/status",
    offered: "poll_offered",
    ok: "poll_ok",
};

/// A route that answers a constant from the same binary, through the same
/// layers (`GET /healthz`): the ceiling of the HTTP stack on this machine,
/// which the status polls are measured against (issue 18).
pub const CEILING: PollTarget = PollTarget {
    path: "/healthz",
    offered: "ceiling_offered",
    ok: "ceiling_ok",
};

/// `GET target.path` at `rate` for `secs`, round-robin over `tokens` (the
/// ceiling route ignores them).
pub async fn poll_step(
    ctx: &mut Ctx,
    tokens: &Arc<Vec<Arc<str>>>,
    (target, rate, secs): (PollTarget, f64, f64),
) -> anyhow::Result<PollStep> {
    eprintln!("loadgen: {} {rate}/s for {secs} s", target.path);
    let cpu_before = ctx.cpu.snapshot();
    let wall_start = Instant::now();
    let client = ctx.client.clone();
    let url = ctx.url.clone();
    let tokens = tokens.clone();
    let run = open_loop::run(rate, secs, ctx.max_in_flight, move |i| {
        let client = client.clone();
        let url = url.clone();
        let token = tokens
            .get((i as usize) % tokens.len().max(1))
            .cloned()
            .unwrap_or_else(|| Arc::from(""));
        async move {
            let sent = client
                .get(format!("{url}{}", target.path))
                .bearer_auth(&*token)
                .send()
                .await;
            let Ok(response) = sent else {
                return Outcome::failed();
            };
            let status = response.status().as_u16();
            // Read the whole body: the answer is not complete before.
            let complete = response.bytes().await.is_ok();
            Outcome {
                status: if complete { status } else { 0 },
                ..Outcome::failed()
            }
        }
    })
    .await;
    let cpu_s = cpu::delta(&cpu_before, &ctx.cpu.snapshot());
    let wall_s = wall_start.elapsed().as_secs_f64();
    let client_side = ClientSide::of(ctx, &run, 200, target.offered, target.ok)?;
    let s = Summary::of(&client_side.latency);
    let kept_up = client_side.error_count() as f64 <= 0.01 * client_side.offered as f64
        && client_side.ok_rate >= 0.95 * rate
        && s.p99 < POLL_P99_LIMIT_MS;
    eprintln!(
        "loadgen: {} {rate}/s: ok {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, errors {} -> {}",
        target.path,
        client_side.ok_rate,
        s.p50,
        s.p99,
        client_side.error_count(),
        if kept_up { "kept up" } else { "fell behind" }
    );
    Ok(PollStep {
        rate,
        secs,
        client: client_side,
        kept_up,
        rss_peak_mb: None,
        cpu_s,
        wall_s,
    })
}
