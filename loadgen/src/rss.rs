//! Samples a process's resident memory (`VmRSS` in /proc/PID/status).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub struct Sampler {
    samples: Arc<Mutex<Vec<(Instant, u64)>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// Resident set size of `pid` in KiB, if it can be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Sampler {
    /// Samples every 200 ms until [`Sampler::finish`].
    pub fn start(pid: u32) -> Self {
        let samples: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let samples = samples.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid) {
                        if let Ok(mut s) = samples.lock() {
                            s.push((Instant::now(), kib));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        Self {
            samples,
            stop,
            task,
        }
    }

    /// Highest sample taken in `[from, to]`, in (decimal) MB.
    pub fn peak_mb(&self, from: Instant, to: Instant) -> Option<f64> {
        let samples = self.samples.lock().ok()?;
        samples
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|(_, kib)| *kib)
            .max()
            .map(kib_to_mb)
    }

    /// Stops sampling; every sample as (when, MB).
    pub async fn finish(self) -> Vec<(Instant, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.samples
            .lock()
            .map(|s| s.iter().map(|(t, kib)| (*t, kib_to_mb(*kib))).collect())
            .unwrap_or_default()
    }
}

/// KiB (what /proc reports as "kB") to decimal megabytes: the stricter
/// reading of a "100 MB" target.
fn kib_to_mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1_000_000.0
}
