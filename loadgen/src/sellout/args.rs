//! Options of `loadgen sellout` (the same plain `--name value` style as the
//! other commands, see `crate::args`).

use crate::args::num;
use anyhow::{bail, Context};
use std::path::PathBuf;

/// What `loadgen sellout --help` prints.
pub const USAGE: &str = "usage: loadgen sellout [--quick] --admin-token TOKEN [options]

A sell-out (issue 18) against an API and workers that are already up, all
through the public API: the operator makes a concert and its performances,
a crowd registers and enters the pre-queue, the sale opens, and every
admitted user shops (holds one to four seats and pays; some abandon, some
pay too late, a few cancel; those who find it sold out may join a
waitlist) until every seat is sold. Prints one JSON line last; writes
OUT/sellout.json, OUT/sellout.md and OUT/sellout.png.

  --url URL               API base URL (default http://$HTTP_ADDR)
  --database-url URL      Postgres of that API (default $DATABASE_URL), for
                          the monitor and the checks after the run
  --admin-token TOKEN     the API's ADMIN_TOKEN (default $ADMIN_TOKEN)
  --cpu NAME=PID[,PID]    CPU of these processes (as for `loadgen`)
  --cpu NAME=cmdline:TEXT
  --clk-tck N             clock ticks per second of /proc/PID/stat
  --out DIR               where the results go (default docs/bench)
  --quick                 10,000 users and 20 performances (1,000 seats)
  --users N               the crowd in the pre-queue (100,000)
  --performances N        performances of 50 seats (200: 10,000 seats)
  --capacity N            the room's queue_capacity (1,000)
  --hold-secs N           the API's HOLD_TTL_SECONDS, for the late payers (30)
  --in-flight N           requests in flight at most (1,024)
  --setup-clients N       concurrent clients registering the crowd (256)
  --limit-secs X          give up if not sold out after this long (900)
  --seed N                the crowd's choices (1)";

/// Everything `loadgen sellout` is told.
#[derive(Debug, Clone)]
pub struct SelloutArgs {
    pub url: String,
    pub database_url: String,
    pub admin_token: String,
    pub cpu: Vec<String>,
    pub clk_tck: f64,
    pub out: PathBuf,
    pub quick: bool,
    pub users: usize,
    pub performances: usize,
    pub capacity: u32,
    pub hold_secs: u64,
    pub in_flight: usize,
    pub setup_clients: usize,
    pub limit_secs: f64,
    pub seed: u64,
}

impl SelloutArgs {
    /// Parses the options after `sellout`; `--help` is an error holding
    /// [`USAGE`].
    pub fn parse(raw: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let raw: Vec<String> = raw.collect();
        let crate::args::Common {
            quick,
            url,
            database_url,
        } = crate::args::Common::read(&raw, USAGE)?;
        let mut a = SelloutArgs {
            url,
            database_url,
            admin_token: std::env::var("ADMIN_TOKEN").unwrap_or_default(),
            cpu: Vec::new(),
            clk_tck: 100.0,
            out: PathBuf::from("docs/bench"),
            quick,
            users: if quick { 10_000 } else { 100_000 },
            performances: if quick { 20 } else { 200 },
            capacity: 1_000,
            hold_secs: 30,
            in_flight: 1_024,
            setup_clients: 256,
            limit_secs: 900.0,
            seed: 1,
        };
        let mut it = raw.into_iter();
        while let Some(flag) = it.next() {
            if flag == "--quick" {
                continue;
            }
            let mut value = || {
                it.next()
                    .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))
            };
            match flag.as_str() {
                "--url" => a.url = value()?.trim_end_matches('/').to_owned(),
                "--database-url" => a.database_url = value()?,
                "--admin-token" => a.admin_token = value()?,
                "--cpu" => a.cpu.push(value()?),
                "--clk-tck" => a.clk_tck = num(&flag, &value()?)?,
                "--out" => a.out = PathBuf::from(value()?),
                "--users" => a.users = num(&flag, &value()?)?,
                "--performances" => a.performances = num(&flag, &value()?)?,
                "--capacity" => a.capacity = num(&flag, &value()?)?,
                "--hold-secs" => a.hold_secs = num(&flag, &value()?)?,
                "--in-flight" => a.in_flight = num(&flag, &value()?)?,
                "--setup-clients" => a.setup_clients = num(&flag, &value()?)?,
                "--limit-secs" => a.limit_secs = num(&flag, &value()?)?,
                "--seed" => a.seed = num(&flag, &value()?)?,
                other => bail!("unknown option {other:?}\n\n{USAGE}"),
            }
        }
        if a.admin_token.len() < 32 {
            bail!("--admin-token (or ADMIN_TOKEN) must be the API's admin token\n\n{USAGE}");
        }
        if a.users == 0 || a.performances == 0 || a.capacity == 0 {
            bail!("--users, --performances and --capacity must be at least 1");
        }
        if a.in_flight == 0 || a.setup_clients == 0 {
            bail!("--in-flight and --setup-clients must be at least 1");
        }
        if !(a.limit_secs.is_finite() && a.limit_secs > 0.0 && a.clk_tck > 0.0) {
            bail!("--limit-secs and --clk-tck must be positive");
        }
        Ok(a)
    }
}
