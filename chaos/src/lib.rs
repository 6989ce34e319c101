//! Chaos test harness (issues 6 and 12): a seeded random workload of
//! balance charges, seat holds, payments, cancels and waitlist places
//! (a third of the users wait for seats of small sold-out performances and
//! pay or let run out the offers they get) from a few hundred users
//! (up to ~200 commands a second between faults on 2 cores) across several real `api` and `workers`
//! processes, on a real three-node Apache Kafka cluster, while the harness
//! `kill -9`s and restarts workers (and now and then an API), pauses
//! workers with SIGSTOP past the consumer session timeout, `kill -9`s Kafka
//! nodes one at a time (partition leaders and the workers' group
//! coordinator among them) and restarts Postgres; then it checks the
//! invariants of SPEC rules 5-11 against the database and the recorded
//! history.
//!
//! Everything runs on loopback with a private Postgres cluster and a
//! private Kafka cluster in a temp dir, so the shared services used by the
//! rest of the test suite are never disturbed. The Kafka cluster is three
//! KRaft nodes, each broker and controller, with a 512 MiB heap each;
//! internal topics have three replicas and `min.insync.replicas` is 2, and
//! `workers migrate` gives the command topic three replicas too. A node is
//! killed only while the other two are up and in sync. The workers have no
//! watchdog of their own: a killed or paused worker's partitions move when
//! Kafka's group coordinator evicts it after `session.timeout.ms`, and the
//! run proves that no acknowledged command stays pending.
//!
//! The `api` and `workers` binaries must be built first (`cargo build --bin
//! api --bin workers`), and Kafka's jars fetched (`scripts/test` does both;
//! the jars alone: `source scripts/common.sh; ensure_kafka_libs`).
//!
//! The summary gives the faults of each kind, the rate reached (operations,
//! acknowledged commands and charges per second), and the time from the end
//! of the last fault until the last acknowledged command was final.
//!
//! Environment knobs: `CHAOS_SEED` (reproduce a run), `CHAOS_DURATION_SECS`
//! (fault phase, default 90), `CHAOS_USERS` (default 300), `CHAOS_BIN_DIR`
//! (where `api` and `workers` are; default `$CARGO_TARGET_DIR/<profile>`
//! or `<workspace>/target/<profile>`, the profile being `release` when the
//! harness is built with `--release`, as scripts/test does), `KAFKA_LIBS` (Kafka's jars; default
//! `<workspace>/.local/kafka/libs`), `CHAOS_KEEP_DIR=1` (keep the temp
//! dir), `CHAOS_WORKER_KILLS`, `CHAOS_WORKER_PAUSES`, `CHAOS_API_KILLS`,
//! `CHAOS_BROKER_KILLS`, `CHAOS_PG_RESTARTS`, `CHAOS_HOLD_TTL_SECONDS`,
//! `CHAOS_OFFER_SECONDS` (`WAITLIST_OFFER_SECONDS`, default 12),
//! `CHAOS_LATE_WAIT_SECS`, and `KAFKA_GROUP_PROTOCOL` (passed to the
//! workers; their default when unset).

#![warn(missing_docs)]

pub mod check;
pub mod faults;
pub mod history;
pub mod infra;
pub mod report;
/// The seeded generator of the workload and the faults (shared with
/// `loadgen sellout`, so it lives in the test kit).
pub use testkit::rng;
pub mod setup;
pub mod workload;

use anyhow::{bail, Context};
use futures::StreamExt;
use history::{History, Phase};
use infra::{free_port, Cluster, Fleet, Guard, Kafka, Postgres, Role, TempDir};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Worker kills every run must make (issue 6).
pub const MIN_WORKER_KILLS: usize = 20;
/// Worker pauses every run must make (issue 6).
pub const MIN_WORKER_PAUSES: usize = 2;
/// Kafka node kills every run must make (issue 12).
pub const MIN_BROKER_KILLS: usize = 3;
/// Postgres restarts every run must make (issue 6).
pub const MIN_PG_RESTARTS: usize = 3;
/// How long after the last fault every acknowledged command must be final.
pub const FINAL_WITHIN: Duration = Duration::from_secs(30);
/// How soon after the last fault every API must take commands again.
pub const RECOVER_WITHIN: Duration = Duration::from_secs(20);
/// The command topic (`KAFKA_TOPIC_PREFIX` "chaos." + "seat-commands", as
/// `domain::config::Settings::command_topic` names it).
pub const COMMAND_TOPIC: &str = "chaos.seat-commands";
/// The workers' consumer group (`Settings::consumer_group`).
pub const CONSUMER_GROUP: &str = "chaos.workers";
/// Performances in the catalog: enough seats that a few hundred users do
/// not sell out every one long before the run ends.
pub const PERFORMANCES: usize = 60;
/// Seats per performance (the schema allows 1..=50).
pub const SEATS: usize = 50;
/// Small performances besides the catalog's, that a third of the users
/// (the fans) want: they sell out within seconds, so the fans join their
/// waitlists and seats come back to them as offers (rule 11).
pub const SMALL_PERFORMANCES: usize = 6;
/// Seats of each small performance.
pub const SMALL_SEATS: usize = 4;

const APIS: usize = 2;
const WORKERS: usize = 3;
const KAFKA_NODES: usize = 3;
const TOKEN_SECRET: &str = "chaos-secret-0123456789abcdef0123456789abcdef";

/// A run's settings, from the environment (see the crate docs).
#[derive(Debug, Clone)]
pub struct Config {
    /// Seeds the workload and the fault schedule.
    pub seed: u64,
    /// Concurrent clients, each with its own user and token.
    pub users: usize,
    /// The faults to make.
    pub plan: faults::Plan,
    /// `HOLD_TTL_SECONDS` of the stack: short, so holds lapse within a run.
    pub hold_ttl_seconds: u32,
    /// `WAITLIST_OFFER_SECONDS` of the stack: short, so offers run out and
    /// pass down the list within a run.
    pub offer_seconds: u32,
    /// Where the `api` and `workers` binaries are.
    pub bin_dir: PathBuf,
    /// Where the history file goes (`<target>/chaos`).
    pub out_dir: PathBuf,
    /// On a late command, how much longer to watch it (diagnosis only).
    pub late_wait_secs: u64,
    /// Whether the fault counts are the defaults (then the minimums of the
    /// issues are checked).
    pub default_counts: bool,
}

fn env_num<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name} must be a number, got {v:?}")),
        _ => Ok(None),
    }
}

impl Config {
    /// Reads the `CHAOS_*` knobs; a random seed unless `CHAOS_SEED` is set.
    pub fn from_env() -> anyhow::Result<Self> {
        let seed = match env_num::<u64>("CHAOS_SEED")? {
            Some(s) => s,
            None => {
                let nanos = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                rng::Rng::new(nanos ^ u64::from(std::process::id())).next_u64() % 1_000_000_000
            }
        };
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(PathBuf::from)
            .context("the chaos crate has no parent dir")?;
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|t| {
                if t.is_absolute() {
                    t
                } else {
                    workspace.join(t)
                }
            })
            .unwrap_or_else(|| workspace.join("target"));
        let bin_dir = std::env::var_os("CHAOS_BIN_DIR")
            .map(PathBuf::from)
            // The profile this harness was built with: `cargo test
            // --release` tests the release binaries.
            .unwrap_or_else(|| {
                target.join(if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                })
            });
        let counts = [
            env_num::<usize>("CHAOS_WORKER_KILLS")?,
            env_num::<usize>("CHAOS_API_KILLS")?,
            env_num::<usize>("CHAOS_BROKER_KILLS")?,
            env_num::<usize>("CHAOS_PG_RESTARTS")?,
            env_num::<usize>("CHAOS_WORKER_PAUSES")?,
        ];
        let duration = env_num::<u64>("CHAOS_DURATION_SECS")?.unwrap_or(90).max(10);
        Ok(Self {
            seed,
            users: env_num("CHAOS_USERS")?.unwrap_or(300).max(1),
            plan: faults::Plan {
                worker_kills: counts[0].unwrap_or(22),
                worker_pauses: counts[4].unwrap_or(MIN_WORKER_PAUSES),
                api_kills: counts[1].unwrap_or(3),
                broker_kills: counts[2].unwrap_or(4),
                pg_restarts: counts[3].unwrap_or(MIN_PG_RESTARTS),
                warmup: Duration::from_secs(4),
                duration: Duration::from_secs(duration),
            },
            hold_ttl_seconds: env_num("CHAOS_HOLD_TTL_SECONDS")?.unwrap_or(8),
            offer_seconds: env_num("CHAOS_OFFER_SECONDS")?.unwrap_or(12).max(1),
            bin_dir,
            late_wait_secs: env_num("CHAOS_LATE_WAIT_SECS")?.unwrap_or(30),
            out_dir: target.join("chaos"),
            default_counts: counts.iter().all(Option::is_none),
        })
    }
}

/// The outcome of a run: a printable summary and the violations found.
pub struct Report {
    /// The run's seed, to reproduce it.
    pub seed: u64,
    /// Faults, rates, outcomes and totals.
    pub summary: String,
    /// Every broken invariant, with history excerpts; empty if it passed.
    pub violations: Vec<String>,
    /// The JSON-lines history of the run.
    pub history_file: PathBuf,
}

impl Report {
    /// True if no invariant was broken.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

fn say(history: &History, what: impl AsRef<str>) {
    eprintln!(
        "chaos: [{:>7.1}s] {}",
        history.now_ms() as f64 / 1000.0,
        what.as_ref()
    );
}

/// The environment of every `api` and `workers` process. The queue admits
/// every client at once and for the whole run, so a few hundred users keep
/// reserving; the per-address limit is off since they all come from
/// 127.0.0.1.
fn stack_env(cfg: &Config, database_url: String, brokers: String) -> Vec<(String, String)> {
    let capacity = (2 * (cfg.users + APIS) + 100).to_string();
    [
        ("DATABASE_URL", database_url),
        ("KAFKA_BROKERS", brokers),
        ("KAFKA_TOPIC_PREFIX", "chaos.".to_owned()),
        ("TOKEN_SECRET", TOKEN_SECRET.to_owned()),
        ("QUEUE_ACTIVE_CAPACITY", capacity),
        ("ACTIVE_TOKEN_TTL_SECONDS", "3600".to_owned()),
        ("QUEUE_IDLE_TIMEOUT_SECONDS", "300".to_owned()),
        ("RATE_LIMIT_PER_IP_PER_MINUTE", "0".to_owned()),
        ("HOLD_TTL_SECONDS", cfg.hold_ttl_seconds.to_string()),
        ("WAITLIST_OFFER_SECONDS", cfg.offer_seconds.to_string()),
        ("MAX_HOLDS_PER_USER", "2".to_owned()),
        ("SEAT_COMMAND_PARTITIONS", "6".to_owned()),
        ("DATABASE_POOL_SIZE", "8".to_owned()),
        ("RUST_LOG", "info".to_owned()),
        ("LOG_FORMAT", "text".to_owned()),
        ("NO_COLOR", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    // The group protocol to test, when the run names one (both are
    // measured in docs/BENCHMARKS.md).
    .chain(
        std::env::var("KAFKA_GROUP_PROTOCOL")
            .ok()
            .map(|v| ("KAFKA_GROUP_PROTOCOL".to_owned(), v)),
    )
    .collect()
}

/// Sets up the private services and processes, runs the workload under
/// faults, waits for every command to be final and checks.
pub async fn run(cfg: Config) -> anyhow::Result<Report> {
    let started = Instant::now();
    let history = Arc::new(History::new(started));
    eprintln!(
        "chaos: seed {} (rerun with CHAOS_SEED={}); binaries from {}",
        cfg.seed,
        cfg.seed,
        cfg.bin_dir.display()
    );
    for bin in ["api", "workers"] {
        let path = cfg.bin_dir.join(bin);
        if !path.is_file() {
            bail!(
                "{} is missing: build it first with `cargo build --bin api --bin workers` (or set CHAOS_BIN_DIR)",
                path.display()
            );
        }
    }

    let dir = TempDir::new("chaos")?;
    let pg = Postgres::new(&dir.path, free_port()?)?;
    let kafka = Kafka::new(&dir.path, KAFKA_NODES)?;
    let database_url = format!("{}/chaos", pg.server_url());
    let base_env = stack_env(&cfg, database_url, kafka.bootstrap());
    // Private copies, so a concurrent `cargo build` cannot swap a binary
    // between two restarts of one run.
    let bin_dir = dir.path.join("bin");
    std::fs::create_dir_all(&bin_dir)?;
    for bin in ["api", "workers"] {
        std::fs::copy(cfg.bin_dir.join(bin), bin_dir.join(bin))
            .with_context(|| format!("copying {bin} to {}", bin_dir.display()))?;
    }
    let fleet = Fleet::new(bin_dir, base_env);
    let cluster = Arc::new(Cluster::new(pg, kafka, fleet, dir));
    let guard = Guard(cluster.clone());
    let result = run_in(&cfg, &cluster, &history).await;
    let history_file = cfg.out_dir.join(format!("history-{}.jsonl", cfg.seed));
    if let Err(e) = history.write(&history_file) {
        eprintln!("chaos: could not write {}: {e:#}", history_file.display());
    }
    if let Ok((summary, violations)) = &result {
        let report = cfg.out_dir.join(format!("report-{}.txt", cfg.seed));
        let text = format!("{summary}\n{}\n", violations.join("\n"));
        if let Err(e) = std::fs::write(&report, text) {
            eprintln!("chaos: could not write {}: {e}", report.display());
        }
    }
    let failed = !matches!(&result, Ok((_, v)) if v.is_empty());
    if failed {
        eprintln!("chaos: process logs (tails):\n{}", cluster.log_tails(40));
    }
    drop(guard);
    let (summary, violations) = result?;
    Ok(Report {
        seed: cfg.seed,
        summary,
        violations,
        history_file,
    })
}

/// Adds the API and worker slots (started by the supervisor); returns the
/// APIs' base URLs.
fn add_processes(cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let mut apis = Vec::new();
    for i in 0..APIS {
        let port = free_port()?;
        let env = vec![("HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}"))];
        let log = cluster.dir.path.join(format!("api-{i}.log"));
        cluster.fleet.add(Role::Api, &format!("api-{i}"), env, log);
        apis.push(format!("http://127.0.0.1:{port}"));
    }
    for i in 0..WORKERS {
        let env = vec![
            ("WORKER_METRICS_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            ("HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ];
        let log = cluster.dir.path.join(format!("worker-{i}.log"));
        cluster
            .fleet
            .add(Role::Worker, &format!("worker-{i}"), env, log);
    }
    Ok(apis)
}

async fn run_in(
    cfg: &Config,
    cluster: &Arc<Cluster>,
    history: &Arc<History>,
) -> anyhow::Result<(String, Vec<String>)> {
    // ------------------------------------------------------------ services
    let services = setup::services(cluster).await?;
    say(history, services);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&format!("{}/chaos", cluster.pg.server_url()))
        .await
        .context("connecting to the private Postgres")?;
    let mut rng = rng::Rng::derive(cfg.seed, 1);
    let catalog = setup::seed_catalog(&pool, &mut rng).await?;

    // ----------------------------------------------------------- processes
    let apis = add_processes(cluster)?;
    let supervisor_stop = Arc::new(AtomicBool::new(false));
    let supervisor = tokio::spawn(faults::supervise(
        cluster.clone(),
        history.clone(),
        supervisor_stop.clone(),
    ));
    let ctx = Arc::new(workload::Ctx::new(
        apis.clone(),
        history.clone(),
        catalog,
        SEATS as i64,
    )?);
    setup::wait_ready(&ctx, cluster, &apis).await?;
    say(history, format!("{APIS} APIs and {WORKERS} workers up"));

    // --------------------------------------------------------------- users
    let registered: Vec<anyhow::Result<workload::User>> =
        futures::stream::iter((0..cfg.users + APIS).map(|i| workload::register(&ctx, i, cfg.seed)))
            .buffered(32)
            .collect()
            .await;
    let mut users = registered.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    let mut probers = users.split_off(cfg.users);
    say(
        history,
        format!("{} users registered and admitted", users.len()),
    );

    // ----------------------------------------------------- workload + faults
    let fault_task = tokio::spawn(faults::run(
        cluster.clone(),
        history.clone(),
        cfg.plan.clone(),
        rng::Rng::derive(cfg.seed, 2),
    ));
    let workload_start = Instant::now();
    let user_tasks: Vec<_> = users
        .into_iter()
        .map(|u| tokio::spawn(workload::run_user(ctx.clone(), u)))
        .collect();
    let stats = fault_task.await.context("the fault task panicked")??;
    let all_up = faults::all_running(cluster, APIS, WORKERS, Duration::from_secs(15)).await;
    let last_fault = cluster
        .fleet
        .last_start()
        .map_or(Instant::now(), |t| t.max(Instant::now()));
    let last_fault_wall = SystemTime::now() - Instant::now().saturating_duration_since(last_fault);
    say(
        history,
        format!(
            "faults done: {}; all processes up: {all_up}",
            stats.describe()
        ),
    );
    history.note(Phase::Fault, "last fault over");
    ctx.stop(last_fault + Duration::from_secs(10));
    let workload_secs = Instant::now().saturating_duration_since(workload_start);
    let probes = futures::future::join_all(
        probers
            .iter_mut()
            .enumerate()
            .map(|(api, user)| workload::probe(&ctx, user, api, RECOVER_WITHIN)),
    )
    .await;
    let mut recovery = Vec::new();
    for (api, (charge, reserve)) in probes.iter().enumerate() {
        let secs = |d: &Option<Duration>| {
            d.map_or("never".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()))
        };
        let line = format!(
            "api-{api}: charge 200 after {}, hold 202 after {}",
            secs(charge),
            secs(reserve)
        );
        say(history, format!("recovery probe {line}"));
        recovery.push((line, charge.is_some() && reserve.is_some()));
    }
    let mut users = Vec::new();
    for task in user_tasks {
        users.push(task.await.context("a client task panicked")?);
    }
    say(
        history,
        "clients stopped; waiting for every acknowledged command",
    );

    // ---------------------------------------------------------------- drain
    users.extend(probers);
    let (drained_at, still_pending) = drain_all(cfg, &ctx, &users, &pool, last_fault).await?;
    supervisor_stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = supervisor.await;

    // ---------------------------------------------------------------- check
    let ops = history.ops();
    let (mut violations, coverage) = check_all(&pool, history, &ops, &still_pending).await?;
    for (line, ok) in &recovery {
        if !ok {
            violations.push(format!(
                "[recovery: after the last fault every API takes commands again within {}s (SPEC rule 9: the client may retry; issue 6: recovers by itself when the broker returns)] {line}",
                RECOVER_WITHIN.as_secs()
            ));
        }
    }
    if cfg.default_counts {
        violations.extend(minimums(&stats));
    }
    let late_exits: Vec<String> = cluster
        .fleet
        .stats()
        .iter()
        .filter(|(_, _, exits)| *exits > 0)
        .map(|(name, _, exits)| format!("{name}: {exits}"))
        .collect();
    let figures = report::Figures {
        stats: &stats,
        exits: &late_exits,
        elapsed_ms: history.ms_at(Instant::now()),
        drain: drained_at.saturating_duration_since(last_fault),
        workload: workload_secs,
        time_to_final: report::time_to_final(&pool, &ops, last_fault_wall).await?,
        waitlist: &history.waitlist(),
    };
    let mut summary = report::summarize(cfg, &ops, &pool, &figures).await?;
    summary.push_str(&format!("  waitlist checks: {}\n", coverage.describe()));
    for (line, _) in &recovery {
        summary.push_str(&format!("  recovery probe {line}\n"));
    }
    pool.close().await;
    Ok((summary, violations))
}

/// Waits until every acknowledged command is final or [`FINAL_WITHIN`]
/// after the last fault; returns when that was and the late ones, with
/// what became of them while watched `late_wait_secs` longer.
async fn drain_all(
    cfg: &Config,
    ctx: &Arc<workload::Ctx>,
    users: &[workload::User],
    pool: &PgPool,
    last_fault: Instant,
) -> anyhow::Result<(Instant, Vec<(String, String)>)> {
    let history = &ctx.history;
    let deadline = last_fault + FINAL_WITHIN;
    let pending_at_deadline = report::drain(ctx, users, pool, deadline).await?;
    let drained_at = Instant::now().min(deadline);
    // Diagnosis only: are the late ones slow, or stuck?
    let mut still_pending = Vec::new();
    if !pending_at_deadline.is_empty() {
        let late = Duration::from_secs(cfg.late_wait_secs);
        say(
            history,
            format!(
                "{} acknowledged commands pending at the deadline; watching them {}s longer",
                pending_at_deadline.len(),
                late.as_secs()
            ),
        );
        let never = report::drain(ctx, users, pool, deadline + late).await?;
        for id in pending_at_deadline {
            let later = if never.contains(&id) {
                format!(
                    "still pending {}s after the last fault",
                    (FINAL_WITHIN + late).as_secs()
                )
            } else {
                let t = history
                    .all_observed()
                    .get(&id)
                    .and_then(|seen| {
                        seen.iter()
                            .find(|o| o.body["status"] != "pending")
                            .map(|o| o.t_ms)
                    })
                    .unwrap_or(0);
                format!(
                    "final {:.1}s after the last fault",
                    (t as f64 - history.ms_at(last_fault) as f64) / 1000.0
                )
            };
            still_pending.push((id, later));
        }
    }
    say(
        history,
        format!(
            "drain done {:.1}s after the last fault; {} acknowledged commands still pending",
            drained_at
                .saturating_duration_since(last_fault)
                .as_secs_f64(),
            still_pending.len()
        ),
    );
    Ok((drained_at, still_pending))
}

/// Runs the checker and renders each violation with history excerpts;
/// also returns what the waitlist checks judged.
async fn check_all(
    pool: &PgPool,
    history: &History,
    ops: &[history::OpRecord],
    still_pending: &[(String, String)],
) -> anyhow::Result<(Vec<String>, check::waitlist::Coverage)> {
    let observed = history.all_observed();
    let seen_paid = history.all_seen_paid();
    let waitlist = history.waitlist();
    let input = check::Input {
        ops,
        observed: &observed,
        seen_paid: &seen_paid,
        still_pending,
        waitlist: &waitlist,
    };
    let (found, coverage) = check::check(pool, &input).await?;
    let mut violations = Vec::new();
    for v in &found {
        let mut text = format!("[{}] {}", v.invariant, v.detail);
        for needle in v.needles.iter().filter(|n| !n.is_empty()) {
            for line in history.excerpt(needle, 12) {
                text.push_str("\n    history: ");
                text.push_str(&line);
            }
        }
        violations.push(text);
    }
    Ok((violations, coverage))
}

/// The fault counts the issues ask of every default run.
fn minimums(stats: &faults::Stats) -> Vec<String> {
    let mut out = Vec::new();
    let mut want = |what: &str, got: usize, min: usize| {
        if got < min {
            out.push(format!("[fault minimums] only {got} {what} (want {min})"));
        }
    };
    want("worker kills", stats.worker_kills, MIN_WORKER_KILLS);
    want("worker pauses", stats.worker_pauses, MIN_WORKER_PAUSES);
    want("Kafka node kills", stats.broker.kills, MIN_BROKER_KILLS);
    want(
        "Kafka kills of a command partition leader",
        stats.broker.leader_kills,
        1,
    );
    want("Postgres restarts", stats.pg_restarts(), MIN_PG_RESTARTS);
    out
}
