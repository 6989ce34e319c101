//! What the sell-out leaves: `sellout.json` (every figure, and the JSON
//! line `scripts/bench` merges), `sellout.md` (the table for
//! docs/BENCHMARKS.md) and `sellout.png` (seats left, admitted users and the
//! line over time).

use super::args::SelloutArgs;
use super::crowd::Tally;
use super::monitor::Sample;
use crate::chart::{self, Line, Panel};
use crate::cpu::Snapshot;
use crate::stats::{round1, round2, Summary};
use anyhow::Context;
use plotters::style::RGBColor;
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

/// Everything the run measured.
pub struct Run<'a> {
    pub args: &'a SelloutArgs,
    pub seats: i64,
    pub registered_per_s: f64,
    pub entered_per_s: f64,
    /// Seconds from the opening to the last seat sold.
    pub sold_out: Option<f64>,
    pub samples: &'a [Sample],
    pub tally: &'a Tally,
    /// CPU seconds per process over the sale.
    pub cpu: Snapshot,
    /// Broken checks, with evidence.
    pub broken: &'a [String],
}

/// Writes the files and returns the JSON object.
pub fn write(run: &Run<'_>) -> anyhow::Result<Value> {
    let fields = figures(run);
    let out = &run.args.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let json = serde_json::to_string_pretty(&fields)?;
    std::fs::write(out.join("sellout.json"), json)?;
    std::fs::write(out.join("sellout.md"), table(run, &fields))?;
    if let Err(e) = chart::register_font().and_then(|()| plot(run)) {
        eprintln!("loadgen sellout: no chart: {e:#}");
    }
    Ok(fields)
}

fn figures(run: &Run<'_>) -> Value {
    let last = run.samples.last().copied().unwrap_or_default();
    let span = run.sold_out.unwrap_or(last.at).max(1e-9);
    let accept = Summary::of(&run.tally.accept);
    let settle = Summary::of(&run.tally.settle);
    let polls = Summary::of(&run.tally.polls);
    let errors: u64 = run.tally.errors.values().sum();
    let checkouts = event(run, "checkout succeeded");
    let cores: Map<String, Value> = run
        .cpu
        .iter()
        .map(|(part, secs)| (part.clone(), json!(round2(secs / span))))
        .collect();
    json!({
        "sellout_users": run.args.users,
        "sellout_seats": run.seats,
        "sellout_capacity": run.args.capacity,
        "sellout_quick": run.args.quick,
        "sellout_registered_per_s": round1(run.registered_per_s),
        "sellout_arrivals_per_s": round1(run.entered_per_s),
        "sellout_seconds": run.sold_out.map(round1),
        "sellout_seconds_99": run
            .samples
            .iter()
            .find(|s| s.sold * 100 >= run.seats * 99)
            .map(|s| round1(s.at)),
        "sellout_admitted": last.admitted,
        "sellout_admissions_per_s": round1(last.admitted as f64 / span),
        "sellout_checkouts": checkouts,
        "sellout_checkouts_per_s": round1(checkouts as f64 / span),
        "sellout_seats_per_s": round1(last.sold as f64 / span),
        "sellout_accept": accept.to_json(),
        "sellout_final": settle.to_json(),
        "sellout_polls": polls.to_json(),
        "sellout_poll_p99_ms": round2(polls.p99),
        "sellout_accept_p99_ms": round2(accept.p99),
        "sellout_final_p99_ms": round2(settle.p99),
        "sellout_errors": errors,
        "sellout_error_kinds": run.tally.errors,
        "sellout_events": run.tally.events,
        "sellout_cores": cores,
        "sellout_checks_broken": run.broken.len(),
        "sellout_checks_evidence": run.broken.iter().take(20).collect::<Vec<_>>(),
    })
}

fn event(run: &Run<'_>, name: &str) -> u64 {
    run.tally.events.get(name).copied().unwrap_or(0)
}

fn table(run: &Run<'_>, f: &Value) -> String {
    let n = |k: &str| f[k].as_f64().map_or("—".to_owned(), thousands);
    let mut md = String::new();
    let _ = writeln!(md, "| figure | value |\n|---|---|");
    let rows = [
        (
            "users in the pre-queue (registered and entered through the API)",
            n("sellout_users"),
        ),
        ("seats (performances × 50)", n("sellout_seats")),
        ("room capacity (`queue_capacity`)", n("sellout_capacity")),
        ("registrations/s", n("sellout_registered_per_s")),
        (
            "arrivals/s (entries into the pre-queue)",
            n("sellout_arrivals_per_s"),
        ),
        ("**opening → sold out (s)**", n("sellout_seconds")),
        ("opening → 99 % sold (s)", n("sellout_seconds_99")),
        ("users admitted by then", n("sellout_admitted")),
        ("admissions/s", n("sellout_admissions_per_s")),
        (
            "**checkouts/s** (succeeded payments)",
            n("sellout_checkouts_per_s"),
        ),
        ("seats sold/s", n("sellout_seats_per_s")),
        (
            "command accepted (`202`): p50 / p99 / max (ms)",
            trio(&f["sellout_accept"]),
        ),
        (
            "accepted → final outcome: p50 / p99 / max (ms)",
            trio(&f["sellout_final"]),
        ),
        (
            "queue status polls: p50 / p99 / max (ms)",
            trio(&f["sellout_polls"]),
        ),
        (
            "errors (5xx, transport, unexpected answers)",
            n("sellout_errors"),
        ),
        ("broken checks", n("sellout_checks_broken")),
    ];
    for (figure, value) in rows {
        let _ = writeln!(md, "| {figure} | {value} |");
    }
    let _ = writeln!(
        md,
        "\nWhat the crowd did (counts):\n\n| event | count |\n|---|---|"
    );
    for (name, count) in &run.tally.events {
        let _ = writeln!(md, "| {name} | {} |", thousands(*count as f64));
    }
    if !run.tally.errors.is_empty() {
        let _ = writeln!(md, "\nErrors:\n\n| error | count |\n|---|---|");
        for (name, count) in &run.tally.errors {
            let _ = writeln!(md, "| {name} | {count} |");
        }
    }
    let _ = writeln!(
        md,
        "\nCPU over the sale (cores):\n\n| process | cores |\n|---|---|"
    );
    for (part, cores) in f["sellout_cores"].as_object().into_iter().flatten() {
        let _ = writeln!(md, "| {part} | {cores} |");
    }
    md
}

fn trio(s: &Value) -> String {
    let g = |k: &str| s[k].as_f64().map_or("—".to_owned(), |v| format!("{v}"));
    format!("{} / {} / {}", g("p50_ms"), g("p99_ms"), g("max_ms"))
}

/// 12345.6 → "12,346"; small numbers keep a decimal.
fn thousands(v: f64) -> String {
    if v.abs() < 100.0 && v.fract() != 0.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

fn plot(run: &Run<'_>) -> anyhow::Result<()> {
    let seats = run.seats as f64;
    let series = |f: &dyn Fn(&Sample) -> f64| -> Vec<(f64, f64)> {
        run.samples.iter().map(|s| (s.at, f(s))).collect()
    };
    let panels = [
        Panel {
            title: "Seats and checkouts",
            y_desc: "seats, checkouts",
            lines: vec![
                Line {
                    name: "left (not sold)",
                    color: RGBColor(200, 30, 30),
                    points: series(&|s| seats - s.sold as f64),
                },
                Line {
                    name: "held",
                    color: RGBColor(230, 140, 0),
                    points: series(&|s| s.held as f64),
                },
                Line {
                    name: "checkouts made",
                    color: RGBColor(20, 150, 60),
                    points: series(&|s| s.checkouts as f64),
                },
            ],
        },
        Panel {
            title: "The crowd",
            y_desc: "users",
            lines: vec![
                Line {
                    name: "in line (waiting)",
                    color: RGBColor(30, 80, 200),
                    points: series(&|s| s.waiting as f64),
                },
                Line {
                    name: "admitted so far",
                    color: RGBColor(20, 150, 60),
                    points: series(&|s| s.admitted as f64),
                },
                Line {
                    name: "on a waitlist",
                    color: RGBColor(120, 60, 160),
                    points: series(&|s| s.waitlisted as f64),
                },
            ],
        },
    ];
    chart::panels(
        &run.args.out.join("sellout.png"),
        "seconds since the sale opened",
        &panels,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(10_000.0), "10,000");
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(12.5), "12.5");
    }
}
