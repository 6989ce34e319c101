//! The chaos test (issue 6). Heavy and slow (about two minutes, three when it
//! fails), so the parallel suite skips it; `CHAOS=1 scripts/test` runs it on
//! its own afterwards, which is:
//!
//! ```sh
//! cargo build --bin api --bin workers
//! cargo test -p chaos --test chaos -- --ignored --nocapture
//! ```
//!
//! `CHAOS_SEED=<n>` replays a run's workload and fault schedule; see the
//! crate docs (`chaos/src/lib.rs`) for the other knobs.
//!
//! Known failures on the current product, which keep it out of the default
//! `scripts/test` run until fixed:
//! - after a broker restart under load, tansu 0.6.0 panics on the next
//!   idempotent produce from a producer that outlived the restart ("more or
//!   less than one row" in `idempotent_message_check`); its storage task dies,
//!   and every command is `503` from then on. With the API producer's
//!   `enable.idempotence` off, full runs pass the broker restarts.
//! - after worker `kill -9`s, tansu's group coordinator can keep partitions
//!   assigned to members that are gone, so commands on them stay `pending`
//!   (over 60 s, until some other member joins or leaves).

use std::collections::BTreeMap;
use std::time::Duration;

/// The whole run must finish within this, or it fails (and cleans up).
const HARD_LIMIT: Duration = Duration::from_secs(330);
/// Violations printed in full; the rest are counted.
const SHOWN: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "heavy and it restarts its own Postgres and broker: scripts/test runs it alone after the suite"]
async fn chaos_workload_keeps_every_invariant() {
    let config = chaos::Config::from_env().unwrap_or_else(|e| panic!("chaos config: {e:#}"));
    let seed = config.seed;
    let report = match tokio::time::timeout(HARD_LIMIT, chaos::run(config)).await {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => panic!("chaos run (seed {seed}) could not complete: {e:#}"),
        Err(_) => panic!("chaos run (seed {seed}) took longer than {HARD_LIMIT:?}"),
    };
    eprintln!("{}", report.summary);
    eprintln!(
        "chaos: history written to {}",
        report.history_file.display()
    );
    if !report.passed() {
        for v in report.violations.iter().take(SHOWN) {
            eprintln!("chaos VIOLATION: {v}");
        }
        let mut by_invariant: BTreeMap<&str, usize> = BTreeMap::new();
        for v in &report.violations {
            let name = v
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .map_or(v.as_str(), |(name, _)| name);
            *by_invariant.entry(name).or_default() += 1;
        }
        eprintln!(
            "chaos: violations by invariant (history in {}):",
            report.history_file.display()
        );
        for (name, n) in by_invariant {
            eprintln!("  {n:>4}  {name}");
        }
        panic!(
            "chaos checker found {} violation(s) with seed {} (rerun with CHAOS_SEED={})",
            report.violations.len(),
            report.seed,
            report.seed
        );
    }
}
