//! `loadgen line`: the waiting-room scenario of `scripts/bench` (issue 15).
//! Five phases against an API and workers that are already up:
//! 1. idle cost with a million waiting in one room ([`idle`]);
//! 2. polls at the back of that line, and their exactness ([`polls`]);
//! 3. a mass idle drop under polls and admissions ([`polls`]);
//! 4. an arrival burst through the API in a fresh room ([`arrivals`]);
//! 5. event streams told of an admission ([`sse`]).
//!
//! Each phase adds its figures to one JSON object, printed last on stdout
//! and written with a markdown table by [`report`].

mod args;
mod arrivals;
mod idle;
mod polls;
mod report;
mod setup;
mod sse;

use crate::cpu;
use anyhow::Context;
use args::LineArgs;
use serde_json::{Map, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// What every phase shares.
pub struct Line {
    /// The options.
    pub args: LineArgs,
    /// The keep-alive client of the request phases (`setup::http_client`).
    pub client: reqwest::Client,
    /// The API's database, for set-up and read-backs.
    pub pool: PgPool,
    /// CPU of the watched processes (`--cpu`).
    pub watch: cpu::Watch,
    /// The API's base URL.
    pub url: Arc<str>,
}

/// Runs `loadgen line ARGS...` on a runtime of its own.
pub fn main(raw: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let args = LineArgs::parse(raw)?;
    let runtime = crate::setup::runtime()?;
    runtime.block_on(run(args))
}

async fn run(args: LineArgs) -> anyhow::Result<()> {
    let client = crate::setup::http_client(args.arrival_clients.max(256))?;
    let watch = cpu::Watch::parse(&args.cpu, args.clk_tck)?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&args.database_url)
        .await
        .context("connecting to the database")?;
    let line = Line {
        url: Arc::from(args.url.as_str()),
        args,
        client,
        pool,
        watch,
    };
    let mut fields = Map::new();
    fields.insert("line_quick".into(), Value::Bool(line.args.quick));

    let big = idle::run(&line, &mut fields).await?;
    polls::run(&line, big, &mut fields).await?;
    eprintln!("loadgen line: clearing the big room before the next phases");
    setup::clear_room(&line.pool, big).await?;
    let burst = arrivals::run(&line, &mut fields).await?;
    sse::run(&line, &burst, &mut fields).await?;

    report::write(&line.args.out, &fields)?;
    println!("{}", serde_json::to_string(&Value::Object(fields))?);
    Ok(())
}

/// CPU cores a part of the stack used between two snapshots over `secs`.
pub fn cores(before: &cpu::Snapshot, after: &cpu::Snapshot, part: &str, secs: f64) -> Option<f64> {
    let used = cpu::delta(before, after);
    used.get(part).map(|s| s / secs.max(1e-9))
}

/// Rounds to three decimals, for cores.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
