//! `loadgen sellout`: the sell-out of `scripts/bench --sellout` (issue 18).
//! Against an API and workers that are already up (started with the
//! sale's settings, see `scripts/bench`), all through the public API:
//! 1. the operator makes the concert and its dates ([`setup::Operator`]);
//! 2. the crowd registers and enters the pre-queue ([`setup::crowd`]);
//! 3. the sale opens and every member lives their visit ([`buyer`]) while
//!    the [`monitor`] reads the sale until every seat is sold;
//! 4. the checks: every invariant of `testkit::invariants` (seats sold
//!    once, money conserved, commands applied once, waitlist offers in
//!    list order) and admission in queue order;
//! 5. the [`report`]: JSON, markdown and the plot.

mod args;
mod buyer;
mod crowd;
mod monitor;
mod report;
mod setup;

use crate::cpu;
use anyhow::Context;
use args::SelloutArgs;
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use std::time::Duration;
use testkit::rng::Rng;
use tokio::task::JoinSet;

/// Runs `loadgen sellout ARGS...` on a runtime of its own.
pub fn main(raw: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let args = SelloutArgs::parse(raw)?;
    let runtime = crate::setup::runtime()?;
    runtime.block_on(run(args))
}

async fn run(args: SelloutArgs) -> anyhow::Result<()> {
    let client = crate::setup::http_client(args.in_flight.max(args.setup_clients))?;
    let watch = cpu::Watch::parse(&args.cpu, args.clk_tck)?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&args.database_url)
        .await
        .context("connecting to the database")?;
    let operator = setup::Operator {
        client: &client,
        url: &args.url,
        token: &args.admin_token,
    };
    eprintln!(
        "loadgen sellout: 1/4 the sale: {} performances of {} seats, room of {}",
        args.performances,
        setup::SEATS,
        args.capacity
    );
    let concert = operator.make_sale(args.performances, args.capacity).await?;
    eprintln!(
        "loadgen sellout: 2/4 the crowd: {} users register and enter the pre-queue",
        args.users
    );
    let crowd = setup::crowd(&client, &args.url, concert, args.users, args.setup_clients).await?;
    eprintln!(
        "loadgen sellout: registered {:.0}/s, entered {:.0}/s",
        crowd.registered_per_s, crowd.entered_per_s
    );

    let seats = (args.performances as u64 * setup::SEATS) as i64;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let hold = Duration::from_secs(args.hold_secs);
    let buyers = Arc::new(crowd::Crowd::new(
        client.clone(),
        (&args.url, concert, hold, args.capacity),
        args.in_flight,
        stop_rx,
    )?);
    let opened = operator.open(concert).await?;
    eprintln!(
        "loadgen sellout: 3/4 the sale opens; {} buyers live their visit",
        crowd.tokens.len()
    );
    let cpu_before = watch.snapshot();
    let mut visits = JoinSet::new();
    for (i, token) in crowd.tokens.into_iter().enumerate() {
        let (buyers, rng) = (buyers.clone(), Rng::derive(args.seed, i as u64));
        visits.spawn(async move { buyer::live(&buyers, &token, rng).await });
    }
    let limit = Duration::from_secs_f64(args.limit_secs);
    let (samples, sold_out) =
        monitor::watch_sale(&pool, concert, seats, opened, limit, stop_tx).await?;
    let cpu_after = watch.snapshot();
    match sold_out {
        Some(s) => eprintln!("loadgen sellout: sold out {s:.1} s after the opening"),
        None => eprintln!(
            "loadgen sellout: NOT sold out within {:.0} s",
            args.limit_secs
        ),
    }
    // The visits see the stop and end; what is in flight finishes.
    while visits.join_next().await.is_some() {}
    let tally = Arc::into_inner(buyers)
        .and_then(crowd::Crowd::into_tally)
        .context("the crowd's tally is still shared")?;

    eprintln!("loadgen sellout: 4/4 checks");
    let mut broken: Vec<String> = testkit::invariants::all(&pool)
        .await?
        .iter()
        .map(ToString::to_string)
        .collect();
    broken.extend(monitor::admission_order(&pool, concert).await?);
    let run = report::Run {
        args: &args,
        seats,
        registered_per_s: crowd.registered_per_s,
        entered_per_s: crowd.entered_per_s,
        sold_out,
        samples: &samples,
        tally: &tally,
        cpu: cpu::delta(&cpu_before, &cpu_after),
        broken: &broken,
    };
    let fields = report::write(&run)?;
    println!("{}", serde_json::to_string(&fields)?);
    if !broken.is_empty() {
        anyhow::bail!("{} check(s) broken:\n{}", broken.len(), broken.join("\n"));
    }
    Ok(())
}
