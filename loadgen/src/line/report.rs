//! `line.json` (every figure) and `line.md` (the figures the issue sets
//! targets for, each with its target and whether it was met), which
//! `scripts/bench` puts in docs/BENCHMARKS.md.

use anyhow::Context;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::path::Path;

/// A target: the field, how it reads, the goal, and the test.
struct Target {
    field: &'static str,
    figure: &'static str,
    goal: &'static str,
    met: fn(&Value, &Map<String, Value>) -> Option<bool>,
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

const TARGETS: &[Target] = &[
    Target {
        field: "line_entries",
        figure: "entries waiting in one room",
        goal: "1,000,000",
        met: |v, _| num(v).map(|n| n >= 1_000_000.0),
    },
    Target {
        field: "line_idle_cores",
        figure: "idle, nobody polling: API + Postgres cores",
        goal: "≤ 0.05",
        met: |v, _| num(v).map(|c| c <= 0.05),
    },
    Target {
        field: "line_rss_mb",
        figure: "idle: API RSS (MB)",
        goal: "≤ 100",
        met: |v, _| num(v).map(|m| m <= 100.0),
    },
    Target {
        field: "line_poll_p99_ms",
        figure: "poll at the back: p99 (ms)",
        goal: "< 20",
        met: |v, _| num(v).map(|m| m < 20.0),
    },
    Target {
        field: "line_positions_exact",
        figure: "polled positions equal Postgres's count",
        goal: "true",
        met: |v, _| v.as_bool(),
    },
    Target {
        field: "line_drop_seconds",
        figure: "mass idle drop: seconds until all dropped",
        goal: "(reported)",
        met: |_, f| f.get("line_drop_finished").and_then(Value::as_bool),
    },
    Target {
        field: "line_drop_poll_max_ms",
        figure: "during the drop: worst poll (ms)",
        goal: "≤ 1,000",
        met: |v, _| num(v).map(|m| m <= 1000.0),
    },
    Target {
        field: "line_drop_admission_gap_ms",
        figure: "during the drop: longest gap between admissions (ms)",
        goal: "≤ 1,000",
        met: |v, _| num(v).map(|m| m <= 1000.0),
    },
    Target {
        field: "arrivals_per_s",
        figure: "arrival burst: entries/s through the API",
        goal: "≥ 10,000",
        met: |v, _| num(v).map(|r| r >= 10_000.0),
    },
    Target {
        field: "arrival_p99_ms",
        figure: "arrival burst: p99 (ms)",
        goal: "(reported)",
        met: |_, _| None,
    },
    Target {
        field: "arrival_errors",
        figure: "arrival burst: answers other than 201",
        goal: "0",
        met: |v, _| num(v).map(|n| n == 0.0),
    },
    Target {
        field: "arrivals_ordered",
        figure: "places gap-free and in the order accepted",
        goal: "true",
        met: |v, _| v.as_bool(),
    },
    Target {
        field: "sse_clients",
        figure: "event streams open and told of an admission",
        goal: "20,000",
        met: |v, _| num(v).map(|n| n >= 20_000.0),
    },
    Target {
        field: "sse_fanout_p99_ms",
        figure: "admission → event, p99 (ms)",
        goal: "≤ 1,000",
        met: |v, _| num(v).map(|m| m <= 1000.0),
    },
    Target {
        field: "sse_fanout_max_ms",
        figure: "admission → event, slowest client (ms)",
        goal: "≤ 1,000",
        met: |v, _| num(v).map(|m| m <= 1000.0),
    },
    Target {
        field: "sse_rss_mb",
        figure: "API RSS with the streams open (MB)",
        goal: "< 300",
        met: |v, _| num(v).map(|m| m < 300.0),
    },
];

/// Writes `dir/line.json` and `dir/line.md`.
pub fn write(dir: &Path, fields: &Map<String, Value>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(&Value::Object(fields.clone()))?;
    std::fs::write(dir.join("line.json"), json + "\n").context("writing line.json")?;
    std::fs::write(dir.join("line.md"), markdown(fields)).context("writing line.md")?;
    Ok(())
}

/// The table of figures against the targets.
fn markdown(fields: &Map<String, Value>) -> String {
    let mut md = String::from("| figure | value | target | met? |\n|---|---|---|---|\n");
    for t in TARGETS {
        let v = fields.get(t.field).cloned().unwrap_or(Value::Null);
        let shown = match &v {
            Value::Null => "—".to_owned(),
            Value::Number(n) => group(&n.to_string()),
            other => other.to_string(),
        };
        let met = match (t.met)(&v, fields) {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        let _ = writeln!(
            md,
            "| {} (`{}`) | {shown} | {} | {met} |",
            t.figure, t.field, t.goal
        );
    }
    md
}

/// Thousands separators for the integer part of a number.
fn group(n: &str) -> String {
    let (int, frac) = n.split_once('.').map_or((n, None), |(i, f)| (i, Some(f)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_read_with_separators() {
        assert_eq!(group("1000000"), "1,000,000");
        assert_eq!(group("12345.67"), "12,345.67");
        assert_eq!(group("-999"), "-999");
    }

    #[test]
    fn the_table_says_which_targets_were_met() {
        let mut f = Map::new();
        f.insert("line_idle_cores".into(), json!(0.03));
        f.insert("arrivals_per_s".into(), json!(1811.0));
        let md = markdown(&f);
        assert!(md.contains("| 0.03 | ≤ 0.05 | yes |"), "{md}");
        assert!(
            md.contains("| 1,811.0 | ≥ 10,000 | **no** |") || md.contains("| 1,811 |"),
            "{md}"
        );
    }
}
