//! The fault schedule: worker `kill -9`s, worker pauses (SIGSTOP past the
//! consumer session timeout, then SIGCONT), a few API `kill -9`s, Kafka node
//! `kill -9`s (one node at a time, see [`broker`]) and Postgres restarts at
//! seeded random times, and the supervisor that brings killed processes
//! back.

mod broker;

pub use broker::BrokerStats;

use crate::history::{History, Phase};
use crate::infra::{lock, Cluster, Role};
use crate::rng::Rng;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    KillWorker,
    PauseWorker,
    KillApi,
    RestartPostgres,
}

/// How many faults of each kind a run makes, and when.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Worker `kill -9`s.
    pub worker_kills: usize,
    /// Worker SIGSTOPs past the session timeout.
    pub worker_pauses: usize,
    /// API `kill -9`s.
    pub api_kills: usize,
    /// Kafka node `kill -9`s, one node at a time.
    pub broker_kills: usize,
    /// Postgres restarts (immediate or fast stops).
    pub pg_restarts: usize,
    /// Faults happen between `warmup` and `duration` after the start.
    pub warmup: Duration,
    /// The end of the fault phase (faults in progress then still finish).
    pub duration: Duration,
}

/// What the faults did, per kind, for the summary and the minimums.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Worker `kill -9`s done.
    pub worker_kills: usize,
    /// Worker pauses done.
    pub worker_pauses: usize,
    /// API `kill -9`s done.
    pub api_kills: usize,
    /// The Kafka node kills.
    pub broker: BrokerStats,
    /// Postgres restarts after `pg_ctl stop -m immediate`.
    pub pg_restarts_immediate: usize,
    /// Postgres restarts after `pg_ctl stop -m fast`.
    pub pg_restarts_fast: usize,
}

impl Stats {
    /// Postgres restarts of either mode.
    pub fn pg_restarts(&self) -> usize {
        self.pg_restarts_immediate + self.pg_restarts_fast
    }

    /// One line with the count of every kind of fault.
    pub fn describe(&self) -> String {
        let b = &self.broker;
        let secs = |v: &[f64]| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                let max = v.iter().copied().fold(0.0, f64::max);
                format!(
                    "{:.1}s mean, {max:.1}s max",
                    v.iter().sum::<f64>() / v.len() as f64
                )
            }
        };
        format!(
            "{} worker kill -9, {} worker SIGSTOP/SIGCONT, {} API kill -9, {} Kafka node kill -9 \
             ({} of a command partition leader, {} of the group coordinator, {} skipped; \
             back up in {}, in sync in {}), {} Postgres restarts ({} immediate, {} fast)",
            self.worker_kills,
            self.worker_pauses,
            self.api_kills,
            b.kills,
            b.leader_kills,
            b.coordinator_kills,
            b.skipped,
            secs(&b.restart_secs),
            secs(&b.heal_secs),
            self.pg_restarts(),
            self.pg_restarts_immediate,
            self.pg_restarts_fast
        )
    }
}

fn log(history: &History, what: String) {
    eprintln!("chaos: [{:>7.1}s] {what}", history.now_ms() as f64 / 1000.0);
    history.note(Phase::Fault, what);
}

/// Runs the plan; returns what was done. Errors only when a Kafka node or
/// Postgres cannot be started again (then the run cannot go on).
pub async fn run(
    cluster: Arc<Cluster>,
    history: Arc<History>,
    plan: Plan,
    mut rng: Rng,
) -> anyhow::Result<Stats> {
    let mut faults = Vec::new();
    faults.extend(std::iter::repeat_n(Fault::KillWorker, plan.worker_kills));
    faults.extend(std::iter::repeat_n(Fault::PauseWorker, plan.worker_pauses));
    faults.extend(std::iter::repeat_n(Fault::KillApi, plan.api_kills));
    faults.extend(std::iter::repeat_n(
        Fault::RestartPostgres,
        plan.pg_restarts,
    ));
    rng.shuffle(&mut faults);
    let span = plan.duration.saturating_sub(plan.warmup).as_millis() as u64;
    let mut times: Vec<u64> = faults.iter().map(|_| rng.below(span.max(1))).collect();
    times.sort_unstable();
    let start = Instant::now();
    // Node kills run on their own, spread over the phase (each takes a
    // node restart and a catch-up, and the next waits for both), while the
    // other faults go on.
    let slot = span / plan.broker_kills.max(1) as u64;
    let broker_times = (0..plan.broker_kills as u64)
        .map(|i| plan.warmup + Duration::from_millis(i * slot + rng.below((slot / 2).max(1))))
        .collect();
    let brokers = tokio::spawn(broker::run(
        cluster.clone(),
        history.clone(),
        start,
        broker_times,
        rng.fork(),
    ));
    let mut stats = Stats::default();
    let mut resumes = Vec::new();
    // Paused workers are left alone until they run again: a kill would end
    // the pause before the worker could wake up behind its fence.
    let paused: Arc<Mutex<HashSet<usize>>> = Arc::default();
    for (fault, at) in faults.into_iter().zip(times) {
        tokio::time::sleep_until(start + plan.warmup + Duration::from_millis(at)).await;
        match fault {
            Fault::PauseWorker => {
                let running = candidates(&cluster, Role::Worker, &paused).await;
                let Some(&victim) = rng.pick(&running) else {
                    log(&history, "no worker running to pause; skipped".into());
                    continue;
                };
                // Longer than the consumer's session timeout (10 s): the
                // group moves the paused worker's partitions, and when it
                // wakes up its fence must keep it from applying what it had
                // fetched.
                let pause = rng.millis(12_000, 16_000);
                let name = cluster.fleet.name(victim);
                let Some(pid) = cluster.fleet.signal(victim, libc::SIGSTOP) else {
                    continue;
                };
                stats.worker_pauses += 1;
                lock(&paused).insert(victim);
                log(
                    &history,
                    format!("SIGSTOP {name} for {} ms", pause.as_millis()),
                );
                let (cluster, history) = (cluster.clone(), history.clone());
                let paused = paused.clone();
                resumes.push(tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    if cluster.fleet.signal_if(victim, pid, libc::SIGCONT) {
                        log(&history, format!("SIGCONT {name}"));
                    }
                    lock(&paused).remove(&victim);
                }));
            }
            Fault::KillWorker | Fault::KillApi => {
                let role = if fault == Fault::KillWorker {
                    Role::Worker
                } else {
                    Role::Api
                };
                let running = candidates(&cluster, role, &paused).await;
                let Some(&victim) = rng.pick(&running) else {
                    log(&history, format!("no {role:?} running to kill; skipped"));
                    continue;
                };
                let down = match role {
                    Role::Worker => rng.millis(0, 3000),
                    Role::Api => rng.millis(200, 1500),
                };
                let name = cluster.fleet.name(victim);
                if let Some(mut child) = cluster.fleet.kill(victim, down) {
                    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                    match role {
                        Role::Worker => stats.worker_kills += 1,
                        Role::Api => stats.api_kills += 1,
                    }
                    log(
                        &history,
                        format!("kill -9 {name}; restart in {} ms", down.as_millis()),
                    );
                }
            }
            Fault::RestartPostgres => {
                let mode = if rng.chance(0.6) { "immediate" } else { "fast" };
                let down = rng.millis(200, 3000);
                log(
                    &history,
                    format!(
                        "postgres: stop -m {mode} (down for {} ms)",
                        down.as_millis()
                    ),
                );
                cluster.pg.stop(mode).await?;
                tokio::time::sleep(down).await;
                cluster.pg.start().await?;
                if mode == "immediate" {
                    stats.pg_restarts_immediate += 1;
                } else {
                    stats.pg_restarts_fast += 1;
                }
                log(&history, "postgres: started again".into());
            }
        }
    }
    // Every paused worker runs again, and every node is back, before the
    // faults count as over.
    for resume in resumes {
        let _ = resume.await;
    }
    stats.broker = brokers
        .await
        .map_err(|e| anyhow::anyhow!("the broker fault task: {e}"))??;
    // The workload runs the whole phase, however few the faults.
    tokio::time::sleep_until(start + plan.duration).await;
    Ok(stats)
}

/// The slots of `role` that run and are not paused: the possible victims of
/// the next fault. Waits up to 10 s while there are none (all just killed).
async fn candidates(cluster: &Cluster, role: Role, paused: &Mutex<HashSet<usize>>) -> Vec<usize> {
    let free = || {
        let mut slots = cluster.fleet.running(role);
        let paused = lock(paused);
        slots.retain(|s| !paused.contains(s));
        slots
    };
    let mut running = free();
    let wait_until = Instant::now() + Duration::from_secs(10);
    while running.is_empty() && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        running = free();
    }
    running
}

/// Restarts what is due every 100 ms until `stop`, and notes Kafka nodes
/// that exit by themselves (those are not restarted: the node faults only
/// go on once the cluster is whole again).
pub async fn supervise(cluster: Arc<Cluster>, history: Arc<History>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        for note in cluster.fleet.supervise() {
            log(&history, note);
        }
        for note in cluster.kafka.exited() {
            log(&history, note);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every slot runs again (after the last kill); false if that
/// took over `limit`.
pub async fn all_running(cluster: &Cluster, apis: usize, workers: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cluster.fleet.running(Role::Api).len() == apis
            && cluster.fleet.running(Role::Worker).len() == workers
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
