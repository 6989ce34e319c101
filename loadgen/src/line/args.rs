//! Options of `loadgen line` (the same plain `--name value` style as the
//! main run's, see `crate::args`).

use crate::args::num;
use anyhow::{bail, Context};
use std::path::PathBuf;

/// What `loadgen line --help` prints.
pub const USAGE: &str = "usage: loadgen line [--quick] [options]

The waiting-room scenario (issue 15) against an API and workers that are
already up: idle cost with a million in line, polls at the back of it, a
mass idle drop, an arrival burst through the API, and thousands of event
streams told of an admission. Prints one JSON line last; writes
OUT/line.json and OUT/line.md.

  --url URL               API base URL (default http://$HTTP_ADDR)
  --database-url URL      Postgres of that API (default $DATABASE_URL)
  --api-pid PID           the API process (RSS)
  --cpu NAME=PID[,PID]    CPU of these processes; `api` and `postgres` are
  --cpu NAME=cmdline:TEXT the ones the targets name (as for `loadgen`)
  --clk-tck N             clock ticks per second of /proc/PID/stat
  --out DIR               where line.json and line.md go (default docs/bench)
  --quick                 smaller sizes: 200,000 in line, 100,000 dropped,
                          20,000 arrivals, 5,000 streams, shorter windows
  --line-entries N        waiting entries written into the big room (1,000,000)
  --idle-secs X           the idle measurement window (30)
  --settle-secs X         wait before it, for the API to read the room (10)
  --poll-users N          users entered behind the line who poll (1,000)
  --poll-rate X           their polls per second, open loop (1,000)
  --poll-secs X           length of the poll measurement (20)
  --line-drop N           waiting entries made idle at once (500,000)
  --drop-timeout-secs X   longest wait for the drop to finish (600)
  --arrivals N            distinct users entering a fresh room (100,000)
  --arrival-clients N     concurrent clients sending them (256)
  --sse-clients N         event streams held open at once (20,000)
  --sse-admit N           admissions triggered while they listen (1,000)
  --sse-connect N         streams being opened at once (256)";

/// Everything `loadgen line` is told.
#[derive(Debug, Clone)]
pub struct LineArgs {
    pub url: String,
    pub database_url: String,
    pub api_pid: Option<u32>,
    pub cpu: Vec<String>,
    pub clk_tck: f64,
    pub out: PathBuf,
    pub quick: bool,
    pub entries: u64,
    pub idle_secs: f64,
    pub settle_secs: f64,
    pub poll_users: usize,
    pub poll_rate: f64,
    pub poll_secs: f64,
    pub drop: u64,
    pub drop_timeout_secs: f64,
    pub arrivals: usize,
    pub arrival_clients: usize,
    pub sse_clients: usize,
    pub sse_admit: i32,
    pub sse_connect: usize,
}

impl LineArgs {
    /// Parses the options after `line`; `--help` is an error holding
    /// [`USAGE`].
    pub fn parse(raw: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let raw: Vec<String> = raw.collect();
        let crate::args::Common {
            quick,
            url,
            database_url,
        } = crate::args::Common::read(&raw, USAGE)?;
        let mut a = LineArgs {
            url,
            database_url,
            api_pid: None,
            cpu: Vec::new(),
            clk_tck: 100.0,
            out: PathBuf::from("docs/bench"),
            quick,
            entries: if quick { 200_000 } else { 1_000_000 },
            idle_secs: if quick { 15.0 } else { 30.0 },
            settle_secs: 10.0,
            poll_users: 1_000,
            poll_rate: 1_000.0,
            poll_secs: if quick { 10.0 } else { 20.0 },
            drop: if quick { 100_000 } else { 500_000 },
            drop_timeout_secs: 600.0,
            arrivals: if quick { 20_000 } else { 100_000 },
            arrival_clients: 256,
            sse_clients: if quick { 5_000 } else { 20_000 },
            sse_admit: 1_000,
            sse_connect: 256,
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
                "--api-pid" => a.api_pid = Some(num(&flag, &value()?)?),
                "--cpu" => a.cpu.push(value()?),
                "--clk-tck" => a.clk_tck = num(&flag, &value()?)?,
                "--out" => a.out = PathBuf::from(value()?),
                "--line-entries" => a.entries = num(&flag, &value()?)?,
                "--idle-secs" => a.idle_secs = num(&flag, &value()?)?,
                "--settle-secs" => a.settle_secs = num(&flag, &value()?)?,
                "--poll-users" => a.poll_users = num(&flag, &value()?)?,
                "--poll-rate" => a.poll_rate = num(&flag, &value()?)?,
                "--poll-secs" => a.poll_secs = num(&flag, &value()?)?,
                "--line-drop" => a.drop = num(&flag, &value()?)?,
                "--drop-timeout-secs" => a.drop_timeout_secs = num(&flag, &value()?)?,
                "--arrivals" => a.arrivals = num(&flag, &value()?)?,
                "--arrival-clients" => a.arrival_clients = num(&flag, &value()?)?,
                "--sse-clients" => a.sse_clients = num(&flag, &value()?)?,
                "--sse-admit" => a.sse_admit = num(&flag, &value()?)?,
                "--sse-connect" => a.sse_connect = num(&flag, &value()?)?,
                other => bail!("unknown option {other:?}\n\n{USAGE}"),
            }
        }
        a.check()?;
        Ok(a)
    }

    fn check(&self) -> anyhow::Result<()> {
        for (name, v) in [
            ("--clk-tck", self.clk_tck),
            ("--idle-secs", self.idle_secs),
            ("--poll-rate", self.poll_rate),
            ("--poll-secs", self.poll_secs),
            ("--drop-timeout-secs", self.drop_timeout_secs),
        ] {
            if !(v.is_finite() && v > 0.0) {
                bail!("{name} must be a positive number, got {v}");
            }
        }
        if !(self.settle_secs.is_finite() && self.settle_secs >= 0.0) {
            bail!("--settle-secs must be zero or more");
        }
        if self.entries == 0 || self.poll_users == 0 || self.arrivals == 0 {
            bail!("--line-entries, --poll-users and --arrivals must be at least 1");
        }
        if self.drop > self.entries {
            bail!("--line-drop cannot exceed --line-entries");
        }
        if self.arrival_clients == 0 || self.sse_connect == 0 || self.sse_admit < 1 {
            bail!("--arrival-clients, --sse-connect and --sse-admit must be at least 1");
        }
        if self.poll_rate * self.poll_secs > 5_000_000.0 {
            bail!("--poll-rate x --poll-secs must stay under 5,000,000");
        }
        Ok(())
    }
}
