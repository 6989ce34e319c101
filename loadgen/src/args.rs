//! Command-line options (plain `--name value` pairs; no parser crate needed).

use anyhow::{bail, Context};
use std::path::PathBuf;

pub const USAGE: &str = "usage: loadgen [--quick] [options]
       loadgen line [--quick] [options]   (the waiting room; see loadgen line --help)

Runs the whole benchmark against an API that is already up (scripts/bench
starts one): setup, a stepped reserve ramp, a latency run at half the
sustainable rate, a stepped queue-status poll ramp, then writes results.

  --url URL               API base URL (default http://$HTTP_ADDR)
  --database-url URL      Postgres of that API (default $DATABASE_URL)
  --api-pid PID           sample VmRSS of this process
  --out DIR               where results go (default docs/bench)
  --quick                 short steps (the whole run takes about 1.5 minutes)
  --reserve-users N       users that send reserves; must equal the API's
                          QUEUE_ACTIVE_CAPACITY so later users stay waiting
  --poll-users N          waiting users whose tokens poll /v1/queue/status
  --baseline-tps X        pgbench TPS measured by the caller, for the ratio
  --rates X,Y,...         reserve steps at exactly these rates, no search
  --start-rate X          first reserve step, commands/s
  --max-rate X            highest reserve step tried
  --step-secs X           length of one reserve step
  --latency-secs X        length of the half-rate latency run
  --final-sample X        share (0..1) of latency-run requests long-polled to final
  --poll-start-rate X     first poll step, requests/s
  --poll-max-rate X       highest poll step tried
  --poll-step-secs X      length of one poll step
  --max-steps N           most steps per ramp
  --drain-secs X          longest wait for accepted commands to become final
  --cpu NAME=PID[,PID]    count the CPU time of these processes per step
  --cpu NAME=cmdline:TEXT ... or of every process whose command line holds TEXT
  --clk-tck N             clock ticks per second of /proc/PID/stat (default 100)
  --max-in-flight N       most requests outstanding at once, i.e. concurrent
                          clients (default 256; later ones queue in loadgen,
                          and that wait counts in their latency). Kept at
                          256 so that runs compare with earlier ones";

#[derive(Debug, Clone)]
pub struct Args {
    pub url: String,
    pub database_url: String,
    pub api_pid: Option<u32>,
    pub out: PathBuf,
    pub quick: bool,
    pub reserve_users: usize,
    pub poll_users: usize,
    pub baseline_tps: Option<f64>,
    pub rates: Vec<f64>,
    pub start_rate: f64,
    pub max_rate: f64,
    pub step_secs: f64,
    pub latency_secs: f64,
    pub final_sample: f64,
    pub poll_start_rate: f64,
    pub poll_max_rate: f64,
    pub poll_step_secs: f64,
    pub max_steps: usize,
    pub drain_secs: f64,
    pub max_in_flight: usize,
    pub cpu: Vec<String>,
    pub clk_tck: f64,
}

/// What every loadgen command reads the same way: `--help` (an error
/// holding its usage), `--quick`, and the API and database it measures
/// (defaults from `HTTP_ADDR` and `DATABASE_URL`, as the services read them).
pub struct Common {
    pub quick: bool,
    pub url: String,
    pub database_url: String,
}

impl Common {
    /// Reads them from the options `raw` of a command whose usage is `usage`.
    pub fn read(raw: &[String], usage: &str) -> anyhow::Result<Self> {
        if raw.iter().any(|a| a == "--help" || a == "-h") {
            bail!("{usage}");
        }
        let http_addr = std::env::var("HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
        Ok(Self {
            quick: raw.iter().any(|a| a == "--quick"),
            url: format!("http://{http_addr}"),
            database_url: std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/concert".into()),
        })
    }
}

impl Args {
    pub fn parse(raw: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let raw: Vec<String> = raw.collect();
        let Common {
            quick,
            url,
            database_url,
        } = Common::read(&raw, USAGE)?;
        let mut args = Args {
            url,
            database_url,
            api_pid: None,
            out: PathBuf::from("docs/bench"),
            quick,
            reserve_users: if quick { 5000 } else { 20000 },
            poll_users: if quick { 1000 } else { 4000 },
            baseline_tps: None,
            rates: Vec::new(),
            start_rate: 250.0,
            max_rate: 16_000.0,
            step_secs: if quick { 5.0 } else { 15.0 },
            latency_secs: if quick { 8.0 } else { 30.0 },
            final_sample: if quick { 0.25 } else { 0.1 },
            poll_start_rate: 1000.0,
            poll_max_rate: 32_000.0,
            poll_step_secs: if quick { 3.0 } else { 10.0 },
            max_steps: if quick { 6 } else { 10 },
            drain_secs: if quick { 20.0 } else { 60.0 },
            max_in_flight: 256,
            cpu: Vec::new(),
            clk_tck: 100.0,
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
                "--url" => args.url = value()?.trim_end_matches('/').to_owned(),
                "--database-url" => args.database_url = value()?,
                "--api-pid" => args.api_pid = Some(num(&flag, &value()?)?),
                "--out" => args.out = PathBuf::from(value()?),
                "--reserve-users" => args.reserve_users = num(&flag, &value()?)?,
                "--poll-users" => args.poll_users = num(&flag, &value()?)?,
                "--baseline-tps" => args.baseline_tps = Some(num(&flag, &value()?)?),
                "--rates" => {
                    args.rates = value()?
                        .split(',')
                        .map(|r| num(&flag, r.trim()))
                        .collect::<anyhow::Result<_>>()?
                }
                "--start-rate" => args.start_rate = num(&flag, &value()?)?,
                "--max-rate" => args.max_rate = num(&flag, &value()?)?,
                "--step-secs" => args.step_secs = num(&flag, &value()?)?,
                "--latency-secs" => args.latency_secs = num(&flag, &value()?)?,
                "--final-sample" => args.final_sample = num(&flag, &value()?)?,
                "--poll-start-rate" => args.poll_start_rate = num(&flag, &value()?)?,
                "--poll-max-rate" => args.poll_max_rate = num(&flag, &value()?)?,
                "--poll-step-secs" => args.poll_step_secs = num(&flag, &value()?)?,
                "--max-steps" => args.max_steps = num(&flag, &value()?)?,
                "--drain-secs" => args.drain_secs = num(&flag, &value()?)?,
                "--max-in-flight" => args.max_in_flight = num(&flag, &value()?)?,
                "--cpu" => args.cpu.push(value()?),
                "--clk-tck" => args.clk_tck = num(&flag, &value()?)?,
                other => bail!("unknown option {other:?}\n\n{USAGE}"),
            }
        }
        args.check()?;
        Ok(args)
    }

    fn check(&self) -> anyhow::Result<()> {
        let positive = [
            ("--start-rate", self.start_rate),
            ("--max-rate", self.max_rate),
            ("--step-secs", self.step_secs),
            ("--latency-secs", self.latency_secs),
            ("--poll-start-rate", self.poll_start_rate),
            ("--poll-max-rate", self.poll_max_rate),
            ("--poll-step-secs", self.poll_step_secs),
            ("--drain-secs", self.drain_secs),
            ("--clk-tck", self.clk_tck),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                bail!("{name} must be a positive number, got {v}");
            }
        }
        if !(0.0..=1.0).contains(&self.final_sample) {
            bail!("--final-sample must be within 0..=1");
        }
        if self.reserve_users == 0 || self.poll_users == 0 || self.max_in_flight == 0 {
            bail!("--reserve-users, --poll-users and --max-in-flight must be at least 1");
        }
        if self
            .rates
            .iter()
            .any(|r| !(r.is_finite() && *r > 0.0 && *r <= self.max_rate))
        {
            bail!("--rates must be positive and at most --max-rate");
        }
        if self.max_steps == 0 {
            bail!("--max-steps must be at least 1");
        }
        // Bounded load: at most this many requests in one step.
        let most = self.max_rate.max(self.poll_max_rate)
            * self
                .step_secs
                .max(self.poll_step_secs)
                .max(self.latency_secs);
        if most > 5_000_000.0 {
            bail!("one step would send {most:.0} requests; keep rate x seconds under 5,000,000");
        }
        Ok(())
    }
}

pub fn num<T: std::str::FromStr>(flag: &str, value: &str) -> anyhow::Result<T> {
    value
        .parse()
        .map_err(|_| anyhow::anyhow!("{flag}: not a valid number: {value:?}"))
}
