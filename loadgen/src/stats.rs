//! Latency histograms, per-second counters and the step-up search.

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Microsecond histogram from 1 µs to 10 minutes, 3 significant digits.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    h.saturating_record(us);
}

/// The usual percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }

    pub fn to_json(self) -> Value {
        json!({
            "count": self.count,
            "p50_ms": round2(self.p50),
            "p90_ms": round2(self.p90),
            "p99_ms": round2(self.p99),
            "p999_ms": round2(self.p999),
            "max_ms": round2(self.max),
            "mean_ms": round2(self.mean),
        })
    }
}

/// (nines, milliseconds) points of the percentile curve, where nines is
/// -log10(1 - q): 1 is p90, 2 is p99, 3 is p99.9. Stops where the sample
/// count no longer supports the percentile.
pub fn percentile_curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let most = (h.len() as f64).log10().clamp(0.5, 4.0);
    let points = 200;
    (0..=points)
        .map(|k| {
            let nines = most * k as f64 / points as f64;
            let q = 1.0 - 10f64.powf(-nines);
            (nines, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Named per-second counters on one time axis (seconds since the bench
/// started).
#[derive(Debug, Default, Clone)]
pub struct Timeline {
    pub series: BTreeMap<&'static str, BTreeMap<i64, u64>>,
}

impl Timeline {
    pub fn add(&mut self, series: &'static str, second: f64) {
        if !second.is_finite() {
            return;
        }
        *self
            .series
            .entry(series)
            .or_default()
            .entry(second.floor() as i64)
            .or_default() += 1;
    }

    pub fn seconds(&self) -> (i64, i64) {
        let mut lo = i64::MAX;
        let mut hi = i64::MIN;
        for s in self.series.values() {
            if let (Some((a, _)), Some((b, _))) = (s.first_key_value(), s.last_key_value()) {
                lo = lo.min(*a);
                hi = hi.max(*b);
            }
        }
        if lo > hi {
            (0, 0)
        } else {
            (lo, hi)
        }
    }

    pub fn get(&self, series: &str, second: i64) -> u64 {
        self.series
            .get(series)
            .and_then(|s| s.get(&second))
            .copied()
            .unwrap_or(0)
    }
}

/// The step-up search for the highest rate a system keeps up with: double
/// while it keeps up, then bisect (geometrically) between the best rate that
/// kept up and the lowest that did not, until they are within 20 %.
pub struct Ramp {
    next: Option<f64>,
    pub good: Option<f64>,
    pub bad: Option<f64>,
    max: f64,
    floor: f64,
    steps_left: usize,
}

impl Ramp {
    pub fn new(start: f64, max: f64, steps: usize) -> Self {
        Self {
            next: Some(nice(start.min(max))),
            good: None,
            bad: None,
            max,
            floor: (start / 16.0).max(10.0),
            steps_left: steps,
        }
    }

    pub fn next_rate(&self) -> Option<f64> {
        self.next
    }

    pub fn record(&mut self, rate: f64, kept_up: bool) {
        self.steps_left = self.steps_left.saturating_sub(1);
        if kept_up {
            self.good = Some(self.good.map_or(rate, |g| g.max(rate)));
        } else {
            self.bad = Some(self.bad.map_or(rate, |b| b.min(rate)));
        }
        self.next = match (self.good, self.bad) {
            (Some(g), None) if g < self.max => Some(nice((g * 2.0).min(self.max))),
            (None, Some(b)) if b / 2.0 >= self.floor => Some(nice(b / 2.0)),
            (Some(g), Some(b)) if b / g > 1.2 => Some(nice((g * b).sqrt())),
            _ => None,
        };
        if self.steps_left == 0 {
            self.next = None;
        }
    }
}

/// Rounds a rate to two significant digits, so step rates read well.
fn nice(rate: f64) -> f64 {
    if rate <= 0.0 || !rate.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(rate.log10().floor() - 1.0);
    ((rate / magnitude).round() * magnitude).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ramp_doubles_then_bisects() {
        let mut ramp = Ramp::new(250.0, 16_000.0, 10);
        let capacity = 1300.0;
        let mut tried = Vec::new();
        while let Some(rate) = ramp.next_rate() {
            tried.push(rate);
            ramp.record(rate, rate <= capacity);
        }
        assert_eq!(&tried[..4], &[250.0, 500.0, 1000.0, 2000.0]);
        let good = ramp.good.unwrap_or_default();
        let bad = ramp.bad.unwrap_or_default();
        assert!(
            good <= capacity && bad > capacity && bad / good <= 1.2,
            "{tried:?}"
        );
    }

    #[test]
    fn the_ramp_backs_off_when_the_first_step_fails() {
        let mut ramp = Ramp::new(1000.0, 16_000.0, 10);
        let mut tried = Vec::new();
        while let Some(rate) = ramp.next_rate() {
            tried.push(rate);
            ramp.record(rate, rate <= 300.0);
        }
        assert_eq!(&tried[..3], &[1000.0, 500.0, 250.0]);
        assert!(ramp.good.is_some());
    }

    #[test]
    fn the_ramp_stops_at_the_maximum() {
        let mut ramp = Ramp::new(1000.0, 3000.0, 10);
        let mut tried = Vec::new();
        while let Some(rate) = ramp.next_rate() {
            tried.push(rate);
            ramp.record(rate, true);
        }
        assert_eq!(tried, vec![1000.0, 2000.0, 3000.0]);
    }

    #[test]
    fn percentiles_come_out_in_milliseconds() {
        let mut h = histogram().unwrap_or_else(|e| panic!("{e}"));
        for ms in 1..=100 {
            record(&mut h, Duration::from_millis(ms));
        }
        let s = Summary::of(&h);
        assert_eq!(s.count, 100);
        assert!((s.p50 - 50.0).abs() < 0.5, "{s:?}");
        assert!((s.p99 - 99.0).abs() < 0.5, "{s:?}");
        assert!(!percentile_curve(&h).is_empty());
    }
}
