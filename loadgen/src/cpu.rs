//! CPU time of the processes under test, from /proc/PID/stat, so each step
//! can say how many CPU milliseconds a command cost in each process.

use std::collections::BTreeMap;

/// Which processes make up one named part of the stack.
#[derive(Debug, Clone)]
pub enum Selector {
    /// These process ids.
    Pids(Vec<u32>),
    /// Every process whose command line contains this text (for Postgres
    /// backends: their title names the database).
    Cmdline(String),
    /// The load generator itself.
    Own,
}

#[derive(Debug, Clone)]
pub struct Watch {
    parts: Vec<(String, Selector)>,
    ticks_per_s: f64,
}

/// CPU seconds per part at one moment.
pub type Snapshot = BTreeMap<String, f64>;

impl Watch {
    /// `specs` are `NAME=PID[,PID...]` or `NAME=cmdline:TEXT`.
    pub fn parse(specs: &[String], ticks_per_s: f64) -> anyhow::Result<Self> {
        let mut parts = vec![("loadgen".to_owned(), Selector::Own)];
        for spec in specs {
            let (name, what) = spec.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("--cpu wants NAME=PID[,PID] or NAME=cmdline:TEXT, got {spec:?}")
            })?;
            let selector = match what.strip_prefix("cmdline:") {
                Some(text) if !text.is_empty() => Selector::Cmdline(text.to_owned()),
                Some(_) => anyhow::bail!("--cpu {spec}: empty cmdline text"),
                None => Selector::Pids(
                    what.split(',')
                        .map(|p| {
                            p.trim()
                                .parse()
                                .map_err(|_| anyhow::anyhow!("--cpu {spec}: {p:?} is not a pid"))
                        })
                        .collect::<anyhow::Result<_>>()?,
                ),
            };
            parts.push((name.to_owned(), selector));
        }
        Ok(Self { parts, ticks_per_s })
    }

    pub fn snapshot(&self) -> Snapshot {
        self.parts
            .iter()
            .map(|(name, selector)| {
                let ticks: u64 = match selector {
                    Selector::Own => ticks_of("self").unwrap_or(0),
                    Selector::Pids(pids) => {
                        pids.iter().filter_map(|p| ticks_of(&p.to_string())).sum()
                    }
                    Selector::Cmdline(text) => {
                        matching(text).iter().filter_map(|p| ticks_of(p)).sum()
                    }
                };
                (name.clone(), ticks as f64 / self.ticks_per_s)
            })
            .collect()
    }
}

/// CPU seconds spent between two snapshots, per part (parts whose
/// processes ended in between may read low, never negative).
pub fn delta(before: &Snapshot, after: &Snapshot) -> Snapshot {
    after
        .iter()
        .map(|(name, t)| {
            let start = before.get(name).copied().unwrap_or(*t);
            (name.clone(), (t - start).max(0.0))
        })
        .collect()
}

/// utime + stime of /proc/ID/stat, in clock ticks.
fn ticks_of(id: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{id}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file; the state (field 3) is fields[0].
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Processes whose command line contains `text`, this one excepted: the
/// load generator's own arguments name the bench database, and its CPU must
/// not be counted as Postgres's.
fn matching(text: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id().to_string();
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()) && *name != own)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(text))
                .unwrap_or(false)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cmdline_match_leaves_out_the_load_generator_itself() {
        // This test binary's own command line contains its name.
        let name = std::env::args().next().unwrap_or_default();
        assert!(!name.is_empty());
        assert!(!matching(&name).contains(&std::process::id().to_string()));
    }

    #[test]
    fn own_cpu_time_is_readable() {
        let watch = Watch::parse(&[], 100.0).unwrap_or_else(|e| panic!("{e}"));
        let before = watch.snapshot();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        let used = delta(&before, &watch.snapshot());
        assert!(used.contains_key("loadgen"));
    }

    #[test]
    fn specs_parse() {
        let w = Watch::parse(
            &[
                "api=12".into(),
                "workers=3,4".into(),
                "postgres=cmdline:db".into(),
            ],
            100.0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.parts.len(), 4);
        assert!(Watch::parse(&["nonsense".into()], 100.0).is_err());
        assert!(Watch::parse(&["a=x".into()], 100.0).is_err());
    }
}
