//! Chaos test harness (issue 6): a seeded random workload of balance
//! charges, seat holds and payments across several real `api` and `workers`
//! processes while the harness `kill -9`s and restarts workers (and now and
//! then an API), pauses workers with SIGSTOP past the consumer session
//! timeout, restarts the Kafka-API broker and restarts Postgres; then it
//! checks the invariants of SPEC rules 5-9 against the database and the
//! recorded history.
//!
//! Everything runs on loopback with a private Postgres cluster and a private
//! tansu broker in a temp dir, so the shared services used by the rest of the
//! test suite are never disturbed. The `api` and `workers` binaries must be
//! built first (`cargo build --bin api --bin workers`); `scripts/test` does.
//!
//! Environment knobs: `CHAOS_SEED` (reproduce a run), `CHAOS_DURATION_SECS`
//! (fault phase, default 90), `CHAOS_USERS` (default 20), `CHAOS_BIN_DIR`
//! (where `api` and `workers` are; default `$CARGO_TARGET_DIR/debug` or
//! `<workspace>/target/debug`), `CHAOS_KEEP_DIR=1` (keep the temp dir),
//! `CHAOS_WORKER_KILLS`, `CHAOS_WORKER_PAUSES`, `CHAOS_API_KILLS`,
//! `CHAOS_BROKER_RESTARTS`, `CHAOS_PG_RESTARTS`, `CHAOS_HOLD_TTL_SECONDS`.

pub mod check;
pub mod faults;
pub mod history;
pub mod infra;
pub mod rng;
pub mod workload;

use anyhow::{bail, Context};
use history::{History, Phase, Verdict};
use infra::{free_port, Broker, Cluster, Fleet, Guard, Postgres, Role, TempDir};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What the issue asks of every run.
pub const MIN_WORKER_KILLS: usize = 20;
pub const MIN_WORKER_PAUSES: usize = 2;
pub const MIN_BROKER_RESTARTS: usize = 3;
pub const MIN_PG_RESTARTS: usize = 3;
/// How long after the last fault every acknowledged command must be final.
pub const FINAL_WITHIN: Duration = Duration::from_secs(30);
/// How soon after the last fault every API must take commands again.
pub const RECOVER_WITHIN: Duration = Duration::from_secs(20);

const APIS: usize = 2;
const WORKERS: usize = 3;
const PERFORMANCES: usize = 6;
const TOKEN_SECRET: &str = "chaos-secret-0123456789abcdef0123456789abcdef";

#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub users: usize,
    pub plan: faults::Plan,
    pub hold_ttl_seconds: u32,
    pub bin_dir: PathBuf,
    /// Where the history file goes (`<target>/chaos`).
    pub out_dir: PathBuf,
    /// On a late command, how much longer to watch it (diagnosis only).
    pub late_wait_secs: u64,
    /// Whether the fault counts are the defaults (then the minimums of the
    /// issue are checked).
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
    pub fn from_env() -> anyhow::Result<Self> {
        let seed = match env_num::<u64>("CHAOS_SEED")? {
            Some(s) => s,
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
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
            .unwrap_or_else(|| target.join("debug"));
        let counts = [
            env_num::<usize>("CHAOS_WORKER_KILLS")?,
            env_num::<usize>("CHAOS_API_KILLS")?,
            env_num::<usize>("CHAOS_BROKER_RESTARTS")?,
            env_num::<usize>("CHAOS_PG_RESTARTS")?,
            env_num::<usize>("CHAOS_WORKER_PAUSES")?,
        ];
        let duration = env_num::<u64>("CHAOS_DURATION_SECS")?.unwrap_or(90).max(10);
        Ok(Self {
            seed,
            users: env_num("CHAOS_USERS")?.unwrap_or(20),
            plan: faults::Plan {
                worker_kills: counts[0].unwrap_or(22),
                worker_pauses: counts[4].unwrap_or(MIN_WORKER_PAUSES),
                api_kills: counts[1].unwrap_or(3),
                broker_restarts: counts[2].unwrap_or(MIN_BROKER_RESTARTS),
                pg_restarts: counts[3].unwrap_or(MIN_PG_RESTARTS),
                warmup: Duration::from_secs(4),
                duration: Duration::from_secs(duration),
            },
            hold_ttl_seconds: env_num("CHAOS_HOLD_TTL_SECONDS")?.unwrap_or(3),
            bin_dir,
            late_wait_secs: env_num("CHAOS_LATE_WAIT_SECS")?.unwrap_or(30),
            out_dir: target.join("chaos"),
            default_counts: counts.iter().all(Option::is_none),
        })
    }
}

/// The outcome of a run: a printable summary and the violations found.
pub struct Report {
    pub seed: u64,
    pub summary: String,
    pub violations: Vec<String>,
    pub history_file: PathBuf,
}

impl Report {
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
    let broker = Broker::new(&dir.path, free_port()?)?;
    let database_url = format!("{}/chaos", pg.server_url());
    let base_env: Vec<(String, String)> = [
        ("DATABASE_URL", database_url.clone()),
        ("KAFKA_BROKERS", broker.address()),
        ("KAFKA_TOPIC_PREFIX", "chaos.".to_owned()),
        ("TOKEN_SECRET", TOKEN_SECRET.to_owned()),
        ("QUEUE_ACTIVE_CAPACITY", "1000".to_owned()),
        ("ACTIVE_TOKEN_TTL_SECONDS", "3600".to_owned()),
        ("QUEUE_IDLE_TIMEOUT_SECONDS", "300".to_owned()),
        ("HOLD_TTL_SECONDS", cfg.hold_ttl_seconds.to_string()),
        ("MAX_HOLDS_PER_USER", "2".to_owned()),
        ("SEAT_COMMAND_PARTITIONS", "4".to_owned()),
        ("DATABASE_POOL_SIZE", "8".to_owned()),
        ("RUST_LOG", "info".to_owned()),
        ("LOG_FORMAT", "text".to_owned()),
        ("NO_COLOR", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // Private copies, so a concurrent `cargo build` cannot swap a binary
    // between two restarts of one run.
    let bin_dir = dir.path.join("bin");
    std::fs::create_dir_all(&bin_dir)?;
    for bin in ["api", "workers"] {
        std::fs::copy(cfg.bin_dir.join(bin), bin_dir.join(bin))
            .with_context(|| format!("copying {bin} to {}", bin_dir.display()))?;
    }
    let fleet = Fleet::new(bin_dir, base_env);
    let cluster = Arc::new(Cluster::new(pg, broker, fleet, dir));
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

async fn run_in(
    cfg: &Config,
    cluster: &Arc<Cluster>,
    history: &Arc<History>,
) -> anyhow::Result<(String, Vec<String>)> {
    // ------------------------------------------------------------ services
    cluster.pg.init().await?;
    cluster.pg.start().await?;
    cluster.broker.start().await?;
    say(
        history,
        format!(
            "private postgres on 127.0.0.1:{}, tansu on {}, dir {}",
            cluster.pg.port,
            cluster.broker.address(),
            cluster.dir.path.display()
        ),
    );
    migrate(cluster).await?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&format!("{}/chaos", cluster.pg.server_url()))
        .await
        .context("connecting to the private Postgres")?;
    let mut rng = rng::Rng::derive(cfg.seed, 1);
    let performances = seed_catalog(&pool, &mut rng).await?;

    // ----------------------------------------------------------- processes
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
    let supervisor_stop = Arc::new(AtomicBool::new(false));
    let supervisor = tokio::spawn(faults::supervise(
        cluster.clone(),
        history.clone(),
        supervisor_stop.clone(),
    ));
    let ctx = Arc::new(workload::Ctx::new(
        apis.clone(),
        history.clone(),
        performances,
    )?);
    wait_ready(&ctx, &apis).await?;
    say(history, format!("{APIS} APIs and {WORKERS} workers up"));

    // --------------------------------------------------------------- users
    let registered =
        futures::future::join_all((0..cfg.users).map(|i| workload::register(&ctx, i, cfg.seed)))
            .await;
    let users = registered.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    let mut probers = Vec::new();
    for i in 0..APIS {
        probers.push(workload::register(&ctx, cfg.users + i, cfg.seed).await?);
    }
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
    say(
        history,
        format!(
            "faults done: {} worker kills, {} worker pauses, {} API kills, {} broker restarts, {} Postgres restarts; all processes up: {all_up}",
            stats.worker_kills,
            stats.worker_pauses,
            stats.api_kills,
            stats.broker_restarts,
            stats.pg_restarts()
        ),
    );
    history.note(Phase::Fault, "last fault over");
    ctx.stop(last_fault + Duration::from_secs(10));
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
    let deadline = last_fault + FINAL_WITHIN;
    users.extend(probers);
    let pending_at_deadline = drain(&ctx, &users, &pool, deadline).await?;
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
        let never = drain(&ctx, &users, &pool, deadline + late).await?;
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
    supervisor_stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = supervisor.await;

    // ---------------------------------------------------------------- check
    let ops = history.ops();
    let observed = history.all_observed();
    let seen_paid = history.all_seen_paid();
    let input = check::Input {
        ops: &ops,
        observed: &observed,
        seen_paid: &seen_paid,
        still_pending: &still_pending,
    };
    let found = check::check(&pool, &input).await?;
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
    for (line, ok) in &recovery {
        if !ok {
            violations.push(format!(
                "[recovery: after the last fault every API takes commands again within {}s (SPEC rule 9: the client may retry; issue 6: recovers by itself when the broker returns)] {line}",
                RECOVER_WITHIN.as_secs()
            ));
        }
    }
    if cfg.default_counts {
        if stats.worker_kills < MIN_WORKER_KILLS {
            violations.push(format!(
                "only {} worker kills (want {MIN_WORKER_KILLS})",
                stats.worker_kills
            ));
        }
        if stats.worker_pauses < MIN_WORKER_PAUSES {
            violations.push(format!(
                "only {} worker pauses (want {MIN_WORKER_PAUSES})",
                stats.worker_pauses
            ));
        }
        if stats.broker_restarts < MIN_BROKER_RESTARTS {
            violations.push(format!("only {} broker restarts", stats.broker_restarts));
        }
        if stats.pg_restarts() < MIN_PG_RESTARTS {
            violations.push(format!("only {} Postgres restarts", stats.pg_restarts()));
        }
    }
    let late_exits: Vec<String> = cluster
        .fleet
        .stats()
        .iter()
        .filter(|(_, _, exits)| *exits > 0)
        .map(|(name, _, exits)| format!("{name}: {exits}"))
        .collect();
    let summary = summarize(
        cfg,
        &ops,
        &pool,
        &stats,
        &late_exits,
        history.ms_at(Instant::now()),
        drained_at.saturating_duration_since(last_fault),
    )
    .await?;
    let mut summary = summary;
    for (line, _) in &recovery {
        summary.push_str(&format!("  recovery probe {line}\n"));
    }
    pool.close().await;
    Ok((summary, violations))
}

/// `workers migrate`: creates the database, migrates, creates the topic.
async fn migrate(cluster: &Cluster) -> anyhow::Result<()> {
    let log = cluster.dir.path.join("migrate.log");
    for attempt in 1..=5 {
        let file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)?;
        let status = cluster
            .fleet
            .command("workers", &["migrate"], &[])
            .stdout(file.try_clone()?)
            .stderr(file)
            .status()
            .await
            .context("running workers migrate")?;
        if status.success() {
            return Ok(());
        }
        eprintln!("chaos: workers migrate failed (attempt {attempt}): {status}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!(
        "workers migrate failed: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    )
}

/// A concert with `PERFORMANCES` future performances of 50 seats at random
/// prices; returns the performance ids.
async fn seed_catalog(pool: &PgPool, rng: &mut rng::Rng) -> anyhow::Result<Vec<i64>> {
    let concert: i64 = sqlx::query_scalar(
        "insert into concerts (title, artist) values ('Chaos Live', 'The Faults') returning concert_id",
    )
    .fetch_one(pool)
    .await?;
    let mut ids = Vec::new();
    for day in 0..PERFORMANCES {
        let id: i64 = sqlx::query_scalar(
            "insert into performances (concert_id, starts_at)
             values ($1, now() + make_interval(days => $2)) returning performance_id",
        )
        .bind(concert)
        .bind(30 + day as i32)
        .fetch_one(pool)
        .await?;
        let prices: Vec<i64> = (0..50).map(|_| rng.range(10, 60) * 1000).collect();
        sqlx::query(
            "insert into seats (performance_id, seat_number, price)
             select $1, n, ($2::bigint[])[n] from generate_series(1, 50) n",
        )
        .bind(id)
        .bind(&prices)
        .execute(pool)
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

async fn wait_ready(ctx: &workload::Ctx, apis: &[String]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for base in apis {
        loop {
            let ready = ctx
                .http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!("{base} not ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Polls `GET /v1/requests/{id}` for every acknowledged command whose final
/// outcome the clients have not seen, until all are final or `deadline`;
/// then waits for the database to have no pending request either. Returns
/// the ids still pending.
async fn drain(
    ctx: &Arc<workload::Ctx>,
    users: &[workload::User],
    pool: &PgPool,
    deadline: Instant,
) -> anyhow::Result<Vec<String>> {
    use futures::stream::{self, StreamExt};
    let tokens: BTreeMap<usize, String> = users.iter().map(|u| (u.idx, u.token.clone())).collect();
    let mut pending: Vec<(String, usize)> = ctx
        .history
        .ops()
        .iter()
        .filter_map(|op| Some((op.request_id()?, op.user)))
        .filter(|(id, _)| ctx.history.final_outcome(id).is_none())
        .collect();
    pending.sort();
    pending.dedup();
    let mut round = 0u64;
    while !pending.is_empty() && Instant::now() < deadline {
        round += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let wait_ms = left.as_millis().clamp(0, 2000) as u64;
        let results: Vec<(String, usize, bool)> = stream::iter(pending.clone())
            .map(|(id, user)| {
                let ctx = ctx.clone();
                let token = tokens.get(&user).cloned().unwrap_or_default();
                async move {
                    let mut rng = rng::Rng::new(round ^ user as u64);
                    let path = format!("/v1/requests/{id}?wait_ms={wait_ms}");
                    let a = ctx
                        .call(
                            &mut rng,
                            reqwest::Method::GET,
                            &path,
                            Some(&token),
                            None,
                            None,
                        )
                        .await;
                    let done = match (a.status, a.body) {
                        (Some(200), Some(body)) => {
                            ctx.record_outcome(&id, user, &body);
                            body["status"] != "pending"
                        }
                        _ => false,
                    };
                    (id, user, done)
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        pending = results
            .into_iter()
            .filter(|(_, _, done)| !done)
            .map(|(id, user, _)| (id, user))
            .collect();
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Commands the clients never saw acknowledged may still be in flight.
    while Instant::now() < deadline {
        let n: i64 = sqlx::query_scalar("select count(*) from requests where status = 'pending'")
            .fetch_one(pool)
            .await
            .unwrap_or(1);
        if n == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(pending.into_iter().map(|(id, _)| id).collect())
}

async fn summarize(
    cfg: &Config,
    ops: &[history::OpRecord],
    pool: &PgPool,
    stats: &faults::Stats,
    exits: &[String],
    elapsed_ms: u64,
    drain: Duration,
) -> anyhow::Result<String> {
    let mut by_op: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
    let mut attempts: BTreeMap<String, usize> = BTreeMap::new();
    for op in ops {
        let kind = match op.expect_fail {
            Some(_) => format!("{} (invalid)", op.kind.name()),
            None => op.kind.name().to_owned(),
        };
        let verdict = match op.verdict() {
            Verdict::Ok => "ok",
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
        };
        *by_op.entry((kind, verdict)).or_default() += 1;
        for a in &op.attempts {
            let label = match (a.status, a.verdict()) {
                (Some(s), _) => s.to_string(),
                (None, _) => "transport error".to_owned(),
            };
            *attempts.entry(label).or_default() += 1;
        }
    }
    let outcomes: Vec<(String, String, String, i64)> = sqlx::query_as(
        "select kind, status, coalesce(reason, '-'), count(*) from requests group by 1, 2, 3 order by 1, 2, 3",
    )
    .fetch_all(pool)
    .await?;
    let totals: (i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from ledger where kind = 'charge'),
                (select count(*) from reservations),
                (select count(*) from payments),
                (select count(*) from seats where sold)",
    )
    .fetch_one(pool)
    .await?;
    let mut s = String::new();
    s.push_str(&format!(
        "chaos summary: seed {} | {} users | run {:.0}s, fault phase {}s | drain finished {:.1}s after the last fault\n",
        cfg.seed,
        cfg.users,
        elapsed_ms as f64 / 1000.0,
        cfg.plan.duration.as_secs(),
        drain.as_secs_f64()
    ));
    s.push_str(&format!(
        "  faults: {} worker kill -9, {} worker SIGSTOP/SIGCONT, {} API kill -9, {} broker restarts, {} Postgres restarts ({} immediate, {} fast)\n",
        stats.worker_kills,
        stats.worker_pauses,
        stats.api_kills,
        stats.broker_restarts,
        stats.pg_restarts(),
        stats.pg_restarts_immediate,
        stats.pg_restarts_fast
    ));
    if !exits.is_empty() {
        s.push_str(&format!(
            "  processes that exited by themselves (restarted): {}\n",
            exits.join(", ")
        ));
    }
    s.push_str(&format!("  operations: {} total\n", ops.len()));
    for ((kind, verdict), n) in &by_op {
        s.push_str(&format!("    {kind:<18} {verdict:<8} {n}\n"));
    }
    s.push_str("  HTTP attempts by status: ");
    s.push_str(
        &attempts
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    s.push('\n');
    s.push_str("  command outcomes (database):\n");
    for (kind, status, reason, n) in outcomes {
        s.push_str(&format!("    {kind:<8} {status:<10} {reason:<22} {n}\n"));
    }
    s.push_str(&format!(
        "  database: {} charges, {} reservations, {} payments, {} seats sold\n",
        totals.0, totals.1, totals.2, totals.3
    ));
    Ok(s)
}
