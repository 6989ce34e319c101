//! The chaos test (issues 6 and 12). Heavy and slow (about three minutes:
//! ~30 s to start a private Postgres and a three-node Kafka cluster, a 90 s
//! fault phase, up to 30 s for the last commands, the checks), so the
//! parallel suite skips it; `CHAOS=1 scripts/test` runs it on its own
//! afterwards, which is:
//!
//! ```sh
//! cargo build --release --bin api --bin workers
//! cargo test --release -p chaos --test chaos -- --ignored --nocapture
//! ```
//!
//! Kafka's jars must be in `$KAFKA_LIBS` (default `.local/kafka/libs`;
//! `scripts/test` fetches them, or `source scripts/common.sh;
//! ensure_kafka_libs`), and `java` (17+) on PATH.
//!
//! Three hundred clients (commands up to ~200 a second between faults on
//! a 2-core machine, ~110 on average over the fault phase) while the
//! harness `kill -9`s workers (22 times), pauses two past the consumer
//! session timeout, `kill -9`s APIs (3), Kafka nodes (4, one at a time, by
//! turns the leader of the most command partitions and the workers' group
//! coordinator) and restarts Postgres (3). The run fails on any broken
//! invariant: an acknowledged command not final within 30 s of the last
//! fault, anything applied twice, money not conserved, a seat sold twice,
//! a waitlist offer out of the order the clients joined in or sold twice,
//! and the rest in `chaos/src/check/`. A third of the clients wait on the
//! lists of six small performances of four seats (SPEC rule 11); the
//! summary counts their joins, the offers they saw and paid. The summary prints the faults of
//! each kind, the rate reached and the time from the end of the last fault
//! to the last acknowledged command's final status.
//!
//! `CHAOS_SEED=<n>` replays a run's workload and fault schedule (the node
//! picked as "leader" depends on where leadership happens to be); see the
//! crate docs (`chaos/src/lib.rs`) for the other knobs.

use std::collections::BTreeMap;
use std::time::Duration;

/// The whole run must finish within this, or it fails (and cleans up).
const HARD_LIMIT: Duration = Duration::from_secs(330);
/// Violations printed in full; the rest are counted.
const SHOWN: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "heavy and it kills its own Postgres and Kafka nodes: scripts/test runs it alone after the suite"]
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
