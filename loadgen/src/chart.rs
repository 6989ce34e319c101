//! PNG charts with plotters' bitmap backend. Text is drawn with ab_glyph
//! from a TrueType file on disk (DejaVu Sans from `fonts-dejavu-core`, which
//! scripts/bench installs), so no fontconfig or freetype is needed.

use crate::stats::Timeline;
use anyhow::{anyhow, bail, Context};
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

/// Registers a sans-serif font; `LOADGEN_FONT` may name another .ttf.
pub fn register_font() -> anyhow::Result<()> {
    let from_env = std::env::var("LOADGEN_FONT").ok();
    let path = from_env
        .iter()
        .map(String::as_str)
        .chain(FONT_CANDIDATES.iter().copied())
        .find(|p| Path::new(p).is_file())
        .context("no TrueType font found (install fonts-dejavu-core or set LOADGEN_FONT)")?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{path} is not a usable font"))
}

/// One line of a chart.
pub struct Line<'a> {
    pub name: &'a str,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// Throughput over time: reserve commands (offered, accepted, final) on top,
/// queue-status polls below, and the API's resident memory at the bottom.
pub fn throughput(path: &Path, timeline: &Timeline, rss: &[(f64, f64)]) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, (1200, 1200)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let (top, rest) = root.split_vertically(450);
    let (bottom, memory) = rest.split_vertically(450);
    let series = |name: &str| -> Vec<(f64, f64)> {
        let (lo, hi) = timeline.seconds();
        let Some(s) = timeline.series.get(name) else {
            return Vec::new();
        };
        let (Some((first, _)), Some((last, _))) = (s.first_key_value(), s.last_key_value()) else {
            return Vec::new();
        };
        // Zero-filled from the series' first to last second, within the axis.
        ((*first).max(lo)..=(*last).min(hi))
            .map(|sec| (sec as f64, timeline.get(name, sec) as f64))
            .collect()
    };
    panel(
        &top,
        "Reserve commands per second (open loop, stepped rate)",
        "commands/s",
        &[
            Line {
                name: "offered",
                color: RGBColor(150, 150, 150),
                points: series("reserve_offered"),
            },
            Line {
                name: "accepted (202)",
                color: BLUE,
                points: series("reserve_accepted"),
            },
            Line {
                name: "final in Postgres",
                color: RGBColor(220, 50, 32),
                points: series("reserve_final"),
            },
        ],
    )?;
    panel(
        &bottom,
        "GET /v1/queue/status per second (waiting tokens)",
        "requests/s",
        &[
            Line {
                name: "offered",
                color: RGBColor(150, 150, 150),
                points: series("poll_offered"),
            },
            Line {
                name: "answered 200",
                color: RGBColor(0, 140, 70),
                points: series("poll_ok"),
            },
        ],
    )?;
    panel(
        &memory,
        "API resident memory (VmRSS)",
        "MB",
        &[Line {
            name: "API RSS",
            color: RGBColor(140, 86, 75),
            points: rss.to_vec(),
        }],
    )?;
    root.present().map_err(draw_err)?;
    Ok(())
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    lines: &[Line<'_>],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let all = lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 1.0f64);
    for (x, y) in all {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y1 = y1.max(*y);
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 - x0 < 1.0 {
        x1 = x0 + 1.0;
    }
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 24))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, 0.0..y1 * 1.1)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the bench started")
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(draw_err)?;
    for line in lines {
        if line.points.is_empty() {
            continue;
        }
        let color = line.color;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(draw_err)?
            .label(line.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(draw_err)?;
    Ok(())
}

/// Latency by percentile: x is "nines" (1 = p90, 2 = p99, 3 = p99.9), y is
/// milliseconds on a log scale.
pub fn percentiles(path: &Path, title: &str, lines: &[Line<'_>]) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, (1200, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let pts = || lines.iter().flat_map(|l| l.points.iter());
    let x1 = pts().map(|p| p.0).fold(1.0f64, f64::max).ceil();
    let y0 = pts()
        .map(|p| p.1)
        .filter(|y| *y > 0.0)
        .fold(f64::MAX, f64::min);
    let y1 = pts().map(|p| p.1).fold(0.0f64, f64::max);
    if y1 <= 0.0 || y0 == f64::MAX {
        bail!("no latency samples to plot");
    }
    let y_lo = 10f64.powf(y0.log10().floor());
    let y_hi = 10f64.powf(y1.log10().ceil()).max(y_lo * 10.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(14)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x1, (y_lo..y_hi).log_scale())
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency, ms (log scale)")
        .x_labels(x1 as usize + 1)
        .x_label_formatter(&|v| percent_label(*v))
        .y_label_formatter(&|v| {
            if *v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v}")
            }
        })
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(draw_err)?;
    for line in lines {
        if line.points.is_empty() {
            continue;
        }
        let color = line.color;
        let points = line.points.iter().map(|(x, y)| (*x, y.max(y_lo)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(draw_err)?
            .label(line.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(draw_err)?;
    root.present().map_err(draw_err)?;
    Ok(())
}

/// One panel of [`panels`]: its title, its y axis and its lines.
pub struct Panel<'a> {
    pub title: &'a str,
    pub y_desc: &'a str,
    pub lines: Vec<Line<'a>>,
}

/// Panels stacked one above the other, sharing x (seconds).
pub fn panels(path: &Path, x_desc: &str, panels: &[Panel<'_>]) -> anyhow::Result<()> {
    let height = 420 * panels.len().max(1) as u32;
    let root = BitMapBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    let x1 = panels
        .iter()
        .flat_map(|p| p.lines.iter().flat_map(|l| l.points.iter().map(|pt| pt.0)))
        .fold(1.0f64, f64::max);
    for (panel, area) in panels.iter().zip(areas) {
        let y1 = panel
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|pt| pt.1))
            .fold(1.0f64, f64::max)
            * 1.05;
        let mut chart = ChartBuilder::on(&area)
            .caption(panel.title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..x1, 0.0..y1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(panel.y_desc)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(draw_err)?;
        for line in &panel.lines {
            let color = line.color;
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(draw_err)?
                .label(line.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(draw_err)?;
    }
    root.present().map_err(draw_err)?;
    Ok(())
}

/// "p90", "p99", "p99.9" for 1, 2, 3 nines.
fn percent_label(nines: f64) -> String {
    let q = (1.0 - 10f64.powf(-nines)) * 100.0;
    let text = format!("{q:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("p{text}")
}

fn draw_err<E: std::error::Error + Send + Sync + 'static>(
    e: DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_read_as_percentiles() {
        assert_eq!(percent_label(0.0), "p0");
        assert_eq!(percent_label(1.0), "p90");
        assert_eq!(percent_label(2.0), "p99");
        assert_eq!(percent_label(3.0), "p99.9");
    }
}
