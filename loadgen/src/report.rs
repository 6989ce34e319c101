//! Result files: results.json (everything), summary.json (the one-line
//! figures), throughput.csv, latency.csv, results.md (tables for
//! docs/BENCHMARKS.md) and the PNG charts.

use crate::chart::{self, Line};
use crate::phases::{PollStep, ReserveStep};
use crate::stats::{percentile_curve, round1, round2, Summary, Timeline};
use anyhow::Context;
use hdrhistogram::Histogram;
use plotters::style::RGBColor;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

pub struct Results {
    pub quick: bool,
    pub reserve_users: usize,
    pub poll_users: usize,
    pub steps: Vec<ReserveStep>,
    pub sustainable_rate: Option<f64>,
    /// The half-rate run; `None` when the ramp ended because the stack
    /// stopped accepting commands.
    pub latency_run: Option<ReserveStep>,
    /// The reserve ramp ended early because most requests failed.
    pub stack_broken: bool,
    pub polls: Vec<PollStep>,
    pub sustainable_poll_rate: Option<f64>,
    /// The same ramp against `GET /healthz` (the HTTP stack's ceiling).
    pub ceilings: Vec<PollStep>,
    /// Peak API resident memory over the whole measured load, overloaded
    /// steps included.
    pub api_rss_peak_mb: Option<f64>,
    /// (seconds since start, MB) samples of the API's resident memory.
    pub rss_series: Vec<(f64, f64)>,
    /// CPU seconds per process over an idle window of the given seconds.
    pub idle_cpu: (BTreeMap<String, f64>, f64),
    pub baseline_tps: Option<f64>,
    pub timeline: Timeline,
}

/// The headline figures, as scripts/bench prints them.
pub struct Headline {
    pub reserve_cmds_per_s: f64,
    pub reserve_sustained: bool,
    pub accept_p99_ms: Option<f64>,
    pub final_p99_ms: Option<f64>,
    pub poll_rps: f64,
    pub poll_p99_ms: f64,
    pub poll_sustained: bool,
    /// The best rate the ceiling route kept up with.
    pub ceiling_rps: f64,
    /// Peak API resident memory during the steps that kept up.
    pub api_rss_mb: Option<f64>,
}

impl Results {
    fn best_step(&self) -> Option<&ReserveStep> {
        let kept: Vec<&ReserveStep> = self.steps.iter().filter(|s| s.kept_up).collect();
        if kept.is_empty() {
            self.steps
                .iter()
                .max_by(|a, b| a.final_rate.total_cmp(&b.final_rate))
        } else {
            kept.into_iter().max_by(|a, b| a.rate.total_cmp(&b.rate))
        }
    }

    fn best_poll(&self) -> Option<&PollStep> {
        best_of(&self.polls)
    }

    pub fn headline(&self) -> Headline {
        let best = self.best_step();
        let poll = self.best_poll();
        Headline {
            reserve_cmds_per_s: best.map_or(0.0, |s| s.final_rate),
            reserve_sustained: best.is_some_and(|s| s.kept_up),
            accept_p99_ms: self
                .latency_run
                .as_ref()
                .filter(|l| !l.client.latency.is_empty())
                .map(|l| Summary::of(&l.client.latency).p99),
            final_p99_ms: self
                .latency_run
                .as_ref()
                .filter(|l| !l.accept_to_final.is_empty())
                .map(|l| Summary::of(&l.accept_to_final).p99),
            poll_rps: poll.map_or(0.0, |p| p.client.ok_rate),
            poll_p99_ms: poll.map_or(0.0, |p| Summary::of(&p.client.latency).p99),
            poll_sustained: poll.is_some_and(|p| p.kept_up),
            ceiling_rps: best_of(&self.ceilings).map_or(0.0, |p| p.client.ok_rate),
            api_rss_mb: self
                .steps
                .iter()
                .chain(self.latency_run.iter())
                .filter(|s| s.kept_up)
                .filter_map(|s| s.rss_peak_mb)
                .chain(
                    self.polls
                        .iter()
                        .filter(|p| p.kept_up)
                        .filter_map(|p| p.rss_peak_mb),
                )
                .reduce(f64::max),
        }
    }

    /// The one-line JSON object of issue 7.
    pub fn summary_json(&self) -> Value {
        let h = self.headline();
        let ratio = self
            .baseline_tps
            .filter(|b| *b > 0.0)
            .map(|b| round2(h.reserve_cmds_per_s / b));
        json!({
            "reserve_cmds_per_s": round1(h.reserve_cmds_per_s),
            "accept_p99_ms": h.accept_p99_ms.map(round2),
            "final_p99_ms": h.final_p99_ms.map(round2),
            "poll_rps": round1(h.poll_rps),
            "poll_p99_ms": round2(h.poll_p99_ms),
            "api_rss_mb": h.api_rss_mb.map(round1),
            "baseline_tps": self.baseline_tps.map(round1),
            "ratio": ratio,
            "ceiling_rps": round1(h.ceiling_rps),
            "poll_ceiling_ratio": (h.ceiling_rps > 0.0).then(|| round2(h.poll_rps / h.ceiling_rps)),
        })
    }

    pub fn write(&self, out: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let h = self.headline();
        let full = json!({
            "mode": if self.quick { "quick" } else { "full" },
            "summary": self.summary_json(),
            "reserve_sustained": h.reserve_sustained,
            "stack_broken": self.stack_broken,
            "poll_sustained": h.poll_sustained,
            "api_rss_peak_overall_mb": self.api_rss_peak_mb.map(round1),
            "idle_cpu_s": self.idle_cpu.0.iter().map(|(k, v)| (k.clone(), round2(*v))).collect::<BTreeMap<_, _>>(),
            "idle_wall_s": self.idle_cpu.1,
            "reserve_users": self.reserve_users,
            "poll_users": self.poll_users,
            "sustainable_reserve_rate": self.sustainable_rate,
            "sustainable_poll_rate": self.sustainable_poll_rate,
            "reserve_steps": self.steps.iter().map(ReserveStep::to_json).collect::<Vec<_>>(),
            "latency_run": self.latency_run.as_ref().map(ReserveStep::to_json),
            "poll_steps": self.polls.iter().map(PollStep::to_json).collect::<Vec<_>>(),
            "ceiling_steps": self.ceilings.iter().map(PollStep::to_json).collect::<Vec<_>>(),
        });
        write(
            &out.join("results.json"),
            &serde_json::to_string_pretty(&full)?,
        )?;
        write(
            &out.join("summary.json"),
            &serde_json::to_string(&self.summary_json())?,
        )?;
        write(&out.join("throughput.csv"), &self.throughput_csv())?;
        write(&out.join("latency.csv"), &self.latency_csv())?;
        write(&out.join("results.md"), &self.markdown())?;
        match chart::register_font() {
            Ok(()) => {
                chart::throughput(
                    &out.join("throughput.png"),
                    &self.timeline,
                    &self.rss_series,
                )?;
                chart::percentiles(
                    &out.join("latency.png"),
                    "Latency by percentile (open loop; accept and status from each request's due time)",
                    &self.latency_lines(),
                )?;
            }
            Err(e) => eprintln!("loadgen: no charts: {e:#}"),
        }
        Ok(())
    }

    fn curves(&self) -> Vec<(String, RGBColor, &Histogram<u64>)> {
        let mut out = Vec::new();
        if let Some(lr) = &self.latency_run {
            out.push((
                format!("reserve accept (202), {} cmd/s", lr.rate),
                RGBColor(31, 119, 180),
                &lr.client.latency,
            ));
            out.push((
                format!(
                    "reserve 202 -> seen final (long-poll sample), {} cmd/s",
                    lr.rate
                ),
                RGBColor(214, 39, 40),
                &lr.accept_to_final,
            ));
        }
        if let Some(best) = self.best_step().filter(|s| s.kept_up) {
            out.push((
                format!("reserve accept (202), {} cmd/s", best.rate),
                RGBColor(148, 103, 189),
                &best.client.latency,
            ));
        }
        if let Some(p) = self.best_poll() {
            out.push((
                format!("queue status, {} req/s", p.rate),
                RGBColor(44, 160, 44),
                &p.client.latency,
            ));
        }
        out
    }

    fn latency_lines(&self) -> Vec<Line<'static>> {
        self.curves()
            .into_iter()
            .map(|(name, color, h)| Line {
                name: Box::leak(name.into_boxed_str()),
                color,
                points: percentile_curve(h),
            })
            .collect()
    }

    fn throughput_csv(&self) -> String {
        let names = [
            "reserve_offered",
            "reserve_accepted",
            "reserve_final",
            "poll_offered",
            "poll_ok",
        ];
        let mut csv = format!("second,{}\n", names.join(","));
        let (lo, hi) = self.timeline.seconds();
        for sec in lo..=hi {
            let row: Vec<String> = names
                .iter()
                .map(|n| self.timeline.get(n, sec).to_string())
                .collect();
            let _ = writeln!(csv, "{sec},{}", row.join(","));
        }
        csv
    }

    fn latency_csv(&self) -> String {
        let mut csv = String::from("series,percentile,latency_ms\n");
        for (name, _, h) in self.curves() {
            if h.is_empty() {
                continue;
            }
            for q in [0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1.0] {
                let _ = writeln!(
                    csv,
                    "\"{name}\",{},{}",
                    q * 100.0,
                    h.value_at_quantile(q) as f64 / 1000.0
                );
            }
        }
        csv
    }

    fn markdown(&self) -> String {
        let h = self.headline();
        let lr = self.latency_run.as_ref();
        let fin_count = lr.map_or(0, |l| l.accept_to_final.len());
        let lr_rate = lr.map_or_else(|| "not run".to_owned(), |l| format!("{} cmd/s", l.rate));
        let ms =
            |v: Option<f64>| v.map_or_else(|| "not measured".to_owned(), |v| format!("{v:.1} ms"));
        let mut md = String::new();
        let yes_no = |ok: bool| if ok { "met" } else { "**not met**" };
        let _ = writeln!(md, "| figure | target (issue 7) | measured | |");
        let _ = writeln!(md, "|---|---|---|---|");
        let _ = writeln!(
            md,
            "| reserve commands/s, accepted and final in Postgres | >= 5,000 | {:.0}{} | {} |",
            h.reserve_cmds_per_s,
            if h.reserve_sustained {
                ""
            } else {
                " (no step kept up; best final rate)"
            },
            yes_no(h.reserve_sustained && h.reserve_cmds_per_s >= 5000.0)
        );
        let _ = writeln!(
            md,
            "| accept p99 at half that rate ({lr_rate}) | <= 20 ms | {} | {} |",
            ms(h.accept_p99_ms),
            yes_no(h.accept_p99_ms.is_some_and(|v| v <= 20.0))
        );
        let _ = writeln!(
            md,
            "| accept -> final p99 at half that rate ({fin_count} sampled) | <= 100 ms (issue 18; was 250) | {} | {} |",
            ms(h.final_p99_ms),
            yes_no(h.final_p99_ms.is_some_and(|v| v <= 100.0))
        );
        let _ = writeln!(
            md,
            "| queue status polls/s | >= 20,000 | {:.0} | {} |",
            h.poll_rps,
            yes_no(h.poll_sustained && h.poll_rps >= 20_000.0)
        );
        let _ = writeln!(
            md,
            "| queue status p99 at that rate | < 20 ms | {:.1} ms | {} |",
            h.poll_p99_ms,
            yes_no(h.poll_p99_ms < 20.0)
        );
        if h.ceiling_rps > 0.0 {
            let ratio = h.poll_rps / h.ceiling_rps;
            let _ = writeln!(
                md,
                "| queue status polls/s / `GET /healthz`/s of the same binary ({:.0}/s, p99 < 20 ms) | >= 0.8 | {ratio:.2} | {} |",
                h.ceiling_rps,
                yes_no(ratio >= 0.8)
            );
        }
        match h.api_rss_mb {
            Some(mb) => {
                let _ = writeln!(
                    md,
                    "| API resident memory (peak VmRSS in the steps that kept up; overall peak, overload included: {}) | < 100 MB | {mb:.1} MB | {} |",
                    mb_or_dash(self.api_rss_peak_mb),
                    yes_no(mb < 100.0)
                );
            }
            None => {
                let _ = writeln!(md, "| API resident memory | < 100 MB | not sampled | |");
            }
        }
        match self.baseline_tps.filter(|b| *b > 0.0) {
            Some(b) => {
                let ratio = h.reserve_cmds_per_s / b;
                let _ = writeln!(
                    md,
                    "| pgbench baseline, one transaction per hold (TPS) | | {b:.0} | |"
                );
                let _ = writeln!(
                    md,
                    "| ratio end-to-end / baseline | >= 2.0 (issue 18; was 1) | {ratio:.2} | {} |",
                    yes_no(ratio >= 2.0)
                );
            }
            None => {
                let _ = writeln!(md, "| pgbench baseline | | not measured | |");
            }
        }

        let _ = writeln!(md, "\n#### Reserve ramp\n");
        if self.stack_broken {
            let _ = writeln!(md, "**The ramp stopped early: more than half of the last step's requests failed, i.e. the stack stopped accepting commands (see the logs).**\n");
        }
        let _ = writeln!(md, "Each step offers a fixed rate for {} s over fresh seats; a step *kept up* when at most 1 % of requests failed, the API accepted >= 95 % of the offered rate with accept p99 <= 500 ms, commands became final in Postgres at >= 90 % of the offered rate (steady window) and the last one was final within max(2 s, a quarter of the step) after the schedule ended.\n", self.steps.first().map_or(0.0, |s| s.secs));
        let _ = writeln!(md, "| offered/s | accepted/s | final/s | accept p50 | accept p99 | accept max | final lag | errors | outcomes | API RSS peak | kept up |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
        for s in self.steps.iter().chain(lr) {
            let a = Summary::of(&s.client.latency);
            let errors: usize = s.client.errors.values().sum();
            let outcomes: Vec<String> =
                s.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(
                md,
                "| {}{} | {:.0} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} s | {} | {} | {} | {} |",
                s.rate,
                if lr.is_some_and(|l| std::ptr::eq(s, l)) {
                    " (latency run)"
                } else {
                    ""
                },
                s.client.ok_rate,
                s.final_rate,
                a.p50,
                a.p99,
                a.max,
                s.final_lag_s,
                errors,
                outcomes.join(", "),
                mb_or_dash(s.rss_peak_mb),
                if s.kept_up { "yes" } else { "no" }
            );
        }
        match lr {
            Some(lr) => {
                let _ = writeln!(
                    md,
                    "\n#### Latency run ({} cmd/s for {} s)\n",
                    lr.rate, lr.secs
                );
                let _ = writeln!(md, "| latency | count | p50 | p90 | p99 | p99.9 | max |");
                let _ = writeln!(md, "|---|---|---|---|---|---|---|");
                for (name, h) in [
                    ("accept (due time -> 202)", &lr.client.latency),
                    (
                        "accept -> final (202 -> long poll sees final)",
                        &lr.accept_to_final,
                    ),
                    ("due time -> final", &lr.due_to_final),
                ] {
                    let s = Summary::of(h);
                    let _ = writeln!(
                        md,
                        "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
                        s.count, s.p50, s.p90, s.p99, s.p999, s.max
                    );
                }
            }
            None => {
                let _ = writeln!(
                    md,
                    "\n#### Latency run\n\nNot run: the stack stopped accepting reserve commands during the ramp (see the errors above and the logs)."
                );
            }
        }
        let _ = writeln!(
            md,
            "\n#### Queue status ramp ({} waiting tokens)\n\nA step *kept up* when at most 1 % of requests failed, >= 95 % of the offered rate was answered with 200 and the p99 stayed under {} ms.\n",
            self.poll_users,
            crate::phases::POLL_P99_LIMIT_MS
        );
        let _ = writeln!(
            md,
            "| offered/s | answered 200/s | p50 | p90 | p99 | max | errors | API RSS peak | kept up |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        for p in &self.polls {
            let s = Summary::of(&p.client.latency);
            let errors: usize = p.client.errors.values().sum();
            let _ = writeln!(
                md,
                "| {} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} | {} |",
                p.rate,
                p.client.ok_rate,
                s.p50,
                s.p90,
                s.p99,
                s.max,
                errors,
                mb_or_dash(p.rss_peak_mb),
                if p.kept_up { "yes" } else { "no" }
            );
        }
        self.cpu_table(&mut md);
        let lag = self
            .steps
            .iter()
            .map(|s| s.client.max_schedule_lag_ms)
            .chain(self.polls.iter().map(|p| p.client.max_schedule_lag_ms))
            .fold(0.0f64, f64::max);
        let _ = writeln!(
            md,
            "\nLargest lag of the load generator behind its own schedule: {lag:.1} ms (latency is counted from the schedule, so this lag is included in the figures above, not hidden)."
        );
        md
    }
}

impl Results {
    /// CPU cost per request of each watched process, over all reserve steps
    /// and over all poll steps, and how many cores that kept busy.
    fn cpu_table(&self, md: &mut String) {
        let reserve: Vec<&ReserveStep> = self.steps.iter().chain(self.latency_run.iter()).collect();
        let sum = |maps: &[(&BTreeMap<String, f64>, f64)]| {
            let mut total: BTreeMap<String, f64> = BTreeMap::new();
            let mut wall = 0.0;
            for (m, w) in maps {
                wall += w;
                for (k, v) in m.iter() {
                    *total.entry(k.clone()).or_default() += v;
                }
            }
            (total, wall)
        };
        let (r_cpu, r_wall) = sum(&reserve
            .iter()
            .map(|s| (&s.cpu_s, s.wall_s))
            .collect::<Vec<_>>());
        let (p_cpu, p_wall) = sum(&self
            .polls
            .iter()
            .map(|p| (&p.cpu_s, p.wall_s))
            .collect::<Vec<_>>());
        let r_n: usize = reserve.iter().map(|s| s.client.ok).sum();
        let p_n: usize = self.polls.iter().map(|p| p.client.ok).sum();
        if r_cpu.is_empty() || r_n == 0 {
            return;
        }
        let (idle, idle_wall) = &self.idle_cpu;
        let idle_cores = |name: &str| {
            if *idle_wall > 0.0 {
                idle.get(name).copied().unwrap_or(0.0) / idle_wall
            } else {
                0.0
            }
        };
        let _ = writeln!(md, "\n#### CPU per request, by process\n");
        let _ = writeln!(md, "CPU time (utime + stime from /proc) of each part of the stack: idle for {idle_wall:.0} s before any load; over all reserve steps ({r_n} commands in {r_wall:.0} s, waits for final status included); over all poll steps ({p_n} requests in {p_wall:.0} s). *Cores* is CPU time over wall time (the machine has 2); *above idle* subtracts the idle rate first, which leaves the cost the requests added.\n");
        let _ = writeln!(md, "| process | cores, idle | cores, reserve steps | CPU ms per reserve command | ... above idle | cores, poll steps | CPU µs per status poll | ... above idle |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        let mut names: Vec<&String> = r_cpu.keys().collect();
        names.sort_by(|a, b| {
            let x = r_cpu.get(*a).copied().unwrap_or(0.0);
            let y = r_cpu.get(*b).copied().unwrap_or(0.0);
            y.total_cmp(&x)
        });
        let per = |v: f64, n: usize, scale: f64| {
            if n == 0 {
                "-".to_owned()
            } else {
                format!("{:.2}", v * scale / n as f64)
            }
        };
        let cores = |v: f64, wall: f64| {
            if wall > 0.0 {
                format!("{:.2}", v / wall)
            } else {
                "-".to_owned()
            }
        };
        for name in names {
            let r = r_cpu.get(name).copied().unwrap_or(0.0);
            let p = p_cpu.get(name).copied().unwrap_or(0.0);
            let floor = idle_cores(name);
            let _ = writeln!(
                md,
                "| {name} | {floor:.2} | {} | {} | {} | {} | {} | {} |",
                cores(r, r_wall),
                per(r, r_n, 1000.0),
                per((r - floor * r_wall).max(0.0), r_n, 1000.0),
                cores(p, p_wall),
                per(p, p_n, 1_000_000.0),
                per((p - floor * p_wall).max(0.0), p_n, 1_000_000.0),
            );
        }
    }
}

fn mb_or_dash(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} MB"))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The fastest step that kept up, else the one that answered most.
fn best_of(steps: &[PollStep]) -> Option<&PollStep> {
    let kept: Vec<&PollStep> = steps.iter().filter(|s| s.kept_up).collect();
    if kept.is_empty() {
        steps
            .iter()
            .max_by(|a, b| a.client.ok_rate.total_cmp(&b.client.ok_rate))
    } else {
        kept.into_iter().max_by(|a, b| a.rate.total_cmp(&b.rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phases::ClientSide;
    use crate::stats::histogram;
    use std::time::Duration;
    use tokio::time::Instant;

    fn client(ok: usize) -> ClientSide {
        let mut latency = histogram().unwrap_or_else(|e| panic!("{e}"));
        crate::stats::record(&mut latency, Duration::from_millis(3));
        ClientSide {
            offered: ok,
            ok,
            errors: BTreeMap::new(),
            latency,
            ok_rate: ok as f64,
            max_schedule_lag_ms: 0.0,
            max_send_delay_ms: 0.0,
            start: Instant::now(),
            start_s: 0.0,
        }
    }

    fn step(rate: f64, kept_up: bool) -> ReserveStep {
        let cpu: BTreeMap<String, f64> = [("api".to_owned(), 0.5)].into_iter().collect();
        ReserveStep {
            label: "step".into(),
            rate,
            secs: 1.0,
            client: client(rate as usize),
            finals: rate as usize,
            final_rate: rate,
            final_lag_s: 0.1,
            outcomes: [("succeeded".to_owned(), rate as i64)]
                .into_iter()
                .collect(),
            accept_to_final: histogram().unwrap_or_else(|e| panic!("{e}")),
            due_to_final: histogram().unwrap_or_else(|e| panic!("{e}")),
            kept_up,
            rss_peak_mb: Some(20.0),
            cpu_s: cpu,
            wall_s: 1.0,
        }
    }

    fn results() -> Results {
        Results {
            quick: true,
            reserve_users: 10,
            poll_users: 10,
            steps: vec![step(100.0, true), step(200.0, false)],
            sustainable_rate: Some(100.0),
            latency_run: Some(step(50.0, true)),
            stack_broken: false,
            polls: vec![PollStep {
                rate: 1000.0,
                secs: 1.0,
                client: client(1000),
                kept_up: true,
                rss_peak_mb: None,
                cpu_s: BTreeMap::new(),
                wall_s: 1.0,
            }],
            sustainable_poll_rate: Some(1000.0),
            ceilings: vec![PollStep {
                rate: 2000.0,
                secs: 1.0,
                client: client(2000),
                kept_up: true,
                rss_peak_mb: None,
                cpu_s: BTreeMap::new(),
                wall_s: 1.0,
            }],
            api_rss_peak_mb: Some(30.0),
            rss_series: Vec::new(),
            idle_cpu: (BTreeMap::new(), 3.0),
            baseline_tps: Some(400.0),
            timeline: Timeline::default(),
        }
    }

    #[test]
    fn every_table_row_has_as_many_cells_as_its_header() {
        let md = results().markdown();
        let mut columns = None;
        for line in md.lines() {
            if !line.starts_with('|') {
                columns = None;
                continue;
            }
            let cells = line.matches('|').count();
            match columns {
                None => columns = Some(cells),
                Some(n) => assert_eq!(n, cells, "row {line:?}"),
            }
        }
    }

    #[test]
    fn the_headline_takes_the_best_step_that_kept_up() {
        let s = results().summary_json();
        assert_eq!(s["reserve_cmds_per_s"], 100.0);
        assert_eq!(s["ratio"], 0.25);
        assert_eq!(s["poll_rps"], 1000.0);
        assert_eq!(s["ceiling_rps"], 2000.0);
        assert_eq!(s["poll_ceiling_ratio"], 0.5);
        assert_eq!(s["api_rss_mb"], 20.0);
        for key in [
            "reserve_cmds_per_s",
            "accept_p99_ms",
            "final_p99_ms",
            "poll_rps",
            "poll_p99_ms",
            "api_rss_mb",
            "baseline_tps",
            "ratio",
        ] {
            assert!(s.get(key).is_some(), "{key} missing");
        }
    }
}
