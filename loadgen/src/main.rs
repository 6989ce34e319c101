//! `loadgen`: the open-loop load generator behind `scripts/bench` (issue 7).
//! See `loadgen --help` and docs/BENCHMARKS.md.

mod args;
mod chart;
mod cpu;
mod line;
mod open_loop;
mod phases;
mod report;
mod rss;
mod sellout;
mod setup;
mod stats;

use anyhow::{bail, Context};
use args::Args;
use phases::Ctx;
use sqlx::postgres::PgPoolOptions;
use stats::Ramp;
use std::sync::Arc;
use std::time::Duration;

fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("line") => return line::main(std::env::args().skip(2)),
        Some("sellout") => return sellout::main(std::env::args().skip(2)),
        _ => {}
    }
    let args = Args::parse(std::env::args().skip(1))?;
    let runtime = crate::setup::runtime()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let client = setup::http_client(args.max_in_flight)?;
    let watch = cpu::Watch::parse(&args.cpu, args.clk_tck)?;
    let url = args.url.as_str();
    wait_ready(&client, url).await?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&args.database_url)
        .await
        .context("connecting to DATABASE_URL")?;

    eprintln!(
        "loadgen: setup: {} reserve users, {} waiting users",
        args.reserve_users, args.poll_users
    );
    let mut seats = setup::Seats::new(pool.clone()).await?;
    let concert = seats.concert_id();
    let mut reservers = setup::members(&client, url, concert, args.reserve_users, 16).await?;
    setup::wait_active(&client, url, &mut reservers, Duration::from_secs(60)).await?;
    let pollers = setup::members(&client, url, concert, args.poll_users, 16).await?;
    let still_waiting = pollers.iter().filter(|m| m.status == "waiting").count();
    if still_waiting < pollers.len() {
        eprintln!(
            "loadgen: warning: only {still_waiting} of {} poll users are waiting (QUEUE_ACTIVE_CAPACITY above --reserve-users?)",
            pollers.len()
        );
    }
    let reserve_tokens: Arc<Vec<Arc<str>>> =
        Arc::new(reservers.iter().map(|m| m.token.clone()).collect());
    let poll_tokens: Arc<Vec<Arc<str>>> =
        Arc::new(pollers.iter().map(|m| m.token.clone()).collect());
    let drain = Duration::from_secs_f64(args.drain_secs);

    // Warm-up: the pipeline works end to end (the worker owns its
    // partitions) before anything is measured.
    {
        let mut warm = Ctx::new(
            client.clone(),
            url,
            pool.clone(),
            args.max_in_flight,
            watch.clone(),
        );
        let step = phases::reserve_step(
            &mut warm,
            &mut seats,
            &reserve_tokens,
            phases::StepPlan {
                label: "warm-up",
                rate: 20.0,
                secs: 2.0,
                follow_every: 1,
                drain: Duration::from_secs(90),
            },
        )
        .await?;
        if step.finals < step.client.ok || step.client.ok == 0 {
            bail!(
                "warm-up: only {} of {} reserves became final; are the workers running?",
                step.finals,
                step.client.offered
            );
        }
    }

    let mut ctx = Ctx::new(
        client.clone(),
        url,
        pool.clone(),
        args.max_in_flight,
        watch.clone(),
    );
    let rss = args.api_pid.map(rss::Sampler::start);

    // What the stack burns with no load at all (consumers polling the
    // broker, background jobs, other users of a shared broker or Postgres),
    // so per-request CPU can be told apart from the idle floor.
    let idle_secs = if args.quick { 3.0 } else { 5.0 };
    let idle_before = watch.snapshot();
    tokio::time::sleep(Duration::from_secs_f64(idle_secs)).await;
    let idle_cpu = cpu::delta(&idle_before, &watch.snapshot());

    let mut ramp = Ramp::new(args.start_rate, args.max_rate, args.max_steps);
    let mut fixed = args.rates.iter().copied();
    let mut steps = Vec::new();
    let mut stack_broken = false;
    loop {
        let next = if args.rates.is_empty() {
            ramp.next_rate()
        } else {
            fixed.next()
        };
        let Some(rate) = next else { break };
        let label = format!("reserve step {}", steps.len() + 1);
        let step = phases::reserve_step(
            &mut ctx,
            &mut seats,
            &reserve_tokens,
            phases::StepPlan {
                label: &label,
                rate,
                secs: args.step_secs,
                follow_every: 0,
                drain,
            },
        )
        .await?;
        ramp.record(rate, step.kept_up);
        let mut step = step;
        step.rss_peak_mb = peak_mb(&rss, step.client.start);
        let failed = step.error_share();
        steps.push(step);
        if failed > 0.5 {
            // Most requests failed (503 BROKER_UNAVAILABLE, say): more steps
            // would measure a broken stack, not its capacity.
            eprintln!(
                "loadgen: WARNING: {:.0} % of the last step's requests failed; the stack stopped accepting commands, so the reserve phase ends here (see the API, worker and broker logs)",
                failed * 100.0
            );
            stack_broken = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let sustainable_rate = ramp.good;
    let latency_rate = (sustainable_rate.unwrap_or(args.start_rate / 8.0) / 2.0)
        .round()
        .max(10.0);
    let follow_every = if args.final_sample > 0.0 {
        (1.0 / args.final_sample).round().max(1.0) as u64
    } else {
        0
    };
    let latency_run = if stack_broken {
        None
    } else {
        let mut run = phases::reserve_step(
            &mut ctx,
            &mut seats,
            &reserve_tokens,
            phases::StepPlan {
                label: "latency run",
                rate: latency_rate,
                secs: args.latency_secs,
                follow_every,
                drain,
            },
        )
        .await?;
        run.rss_peak_mb = peak_mb(&rss, run.client.start);
        Some(run)
    };

    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut poll_ramp = Ramp::new(args.poll_start_rate, args.poll_max_rate, args.max_steps);
    let mut polls = Vec::new();
    while let Some(rate) = poll_ramp.next_rate() {
        let plan = (phases::STATUS, rate, args.poll_step_secs);
        let mut step = phases::poll_step(&mut ctx, &poll_tokens, plan).await?;
        poll_ramp.record(rate, step.kept_up);
        step.rss_peak_mb = peak_mb(&rss, step.client.start);
        polls.push(step);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The same ramp against a route that does nothing: the HTTP stack's
    // ceiling, which the polls are measured against.
    // Its top is four times the polls' own: the ramp must find where the
    // trivial route falls behind, or the ratio is only a bound.
    let mut ceiling_ramp = Ramp::new(
        args.poll_start_rate,
        4.0 * args.poll_max_rate,
        args.max_steps,
    );
    let mut ceilings = Vec::new();
    while let Some(rate) = ceiling_ramp.next_rate() {
        let plan = (phases::CEILING, rate, args.poll_step_secs);
        let step = phases::poll_step(&mut ctx, &poll_tokens, plan).await?;
        ceiling_ramp.record(rate, step.kept_up);
        ceilings.push(step);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let api_rss_peak_mb = peak_mb(&rss, ctx.anchor);
    let rss_series = match rss {
        Some(sampler) => sampler
            .finish()
            .await
            .into_iter()
            .map(|(t, mb)| (ctx.at(t), mb))
            .collect(),
        None => Vec::new(),
    };

    let results = report::Results {
        quick: args.quick,
        reserve_users: args.reserve_users,
        poll_users: args.poll_users,
        steps,
        sustainable_rate,
        latency_run,
        stack_broken,
        polls,
        sustainable_poll_rate: poll_ramp.good,
        ceilings,
        api_rss_peak_mb,
        rss_series,
        idle_cpu: (idle_cpu, idle_secs),
        baseline_tps: args.baseline_tps,
        timeline: ctx.timeline.clone(),
    };
    results.write(&args.out)?;
    println!("{}", serde_json::to_string(&results.summary_json())?);
    Ok(())
}

/// Peak API memory since `from`, if it is sampled.
fn peak_mb(rss: &Option<rss::Sampler>, from: tokio::time::Instant) -> Option<f64> {
    rss.as_ref()
        .and_then(|s| s.peak_mb(from, tokio::time::Instant::now()))
}

/// Waits up to 30 s for the API's `/readyz`.
async fn wait_ready(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    for _ in 0..60 {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("the API at {url} is not ready after 30 s")
}
