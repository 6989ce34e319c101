//! The private infrastructure of one chaos run: a temp dir, a Postgres
//! cluster, a three-node Kafka cluster and the `api` / `workers` processes,
//! all on loopback ports of their own so that other tests on the shared
//! services are never disturbed. Everything is torn down by
//! [`Cluster::shutdown`], which the run's guard also calls on drop (panics
//! included), and every child dies with the harness even if the harness is
//! killed outright.

mod fleet;
mod kafka;
mod postgres;

pub use fleet::{Fleet, Role};
pub use kafka::{
    coordinator_partition, find_kafka_libs, BrokerView, Kafka, PartitionView, OFFSETS_TOPIC,
};
pub use postgres::{find_pg_bin, Postgres};

use anyhow::Context;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::process::Command;

/// Locks a mutex, ignoring poisoning: the data are plain process handles and
/// records, still good after a panic elsewhere.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A free loopback TCP port (bound once, then released), so that parallel
/// runs and the shared services never collide.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// `n` distinct free loopback ports: ports released by [`free_port`] may be
/// handed out again at once, and two services must not get the same one.
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let mut ports = Vec::with_capacity(n);
    let mut tries = 0;
    while ports.len() < n {
        tries += 1;
        anyhow::ensure!(
            tries < 100 * (n + 1),
            "could not find {n} distinct free ports"
        );
        let port = free_port()?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    Ok(ports)
}

/// True if something accepts TCP connections on 127.0.0.1:`port`: the
/// cheapest "has it started" probe for a server we launched.
pub async fn tcp_open(port: u16) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await,
        Ok(Ok(_))
    )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn append(path: &Path) -> anyhow::Result<File> {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// Makes a child die with the harness even if the harness is killed outright
/// (SIGKILL by a CI timeout), so no broker or API is left behind. The signal
/// comes when the spawning *thread* exits: children are spawned from the
/// runtime's worker threads, which live as long as the run.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs in the closure.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// The last `lines` lines of a log file, for a failure report.
fn tail(path: &Path, lines: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

// ------------------------------------------------------------------ temp dir

/// The run's own directory (data of Postgres and Kafka, logs, binaries),
/// removed at the end unless `CHAOS_KEEP_DIR=1` asks to keep it.
pub struct TempDir {
    /// Where it is.
    pub path: PathBuf,
    /// Whether [`TempDir::remove`] leaves it in place (for post-mortems).
    pub keep: bool,
}

impl TempDir {
    /// A fresh `<tmp>/<prefix>-<uuid>`, readable by the `postgres` user.
    pub fn new(prefix: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        // The postgres user must be able to reach its data dir below it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(Self {
            path,
            keep: std::env::var("CHAOS_KEEP_DIR").is_ok_and(|v| v == "1"),
        })
    }

    /// Deletes the directory (or says where it was kept).
    pub fn remove(&self) {
        if self.keep {
            eprintln!("chaos: keeping {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ------------------------------------------------------------------- cluster

/// Everything one run started, in one place, so that the faults can reach
/// any part and one call tears it all down.
pub struct Cluster {
    /// The private Postgres.
    pub pg: Postgres,
    /// The private three-node Kafka cluster.
    pub kafka: Kafka,
    /// The `api` and `workers` processes.
    pub fleet: Fleet,
    /// The run's directory.
    pub dir: TempDir,
    done: AtomicBool,
}

impl Cluster {
    /// Bundles the parts; nothing is started here.
    pub fn new(pg: Postgres, kafka: Kafka, fleet: Fleet, dir: TempDir) -> Self {
        Self {
            pg,
            kafka,
            fleet,
            dir,
            done: AtomicBool::new(false),
        }
    }

    /// Stops every process and removes the temp dir; idempotent.
    pub fn shutdown(&self) {
        if self.done.swap(true, Ordering::SeqCst) {
            return;
        }
        self.fleet.kill_all();
        self.kafka.kill_now();
        self.pg.stop_now();
        // Give killed children a moment to release files in the dir.
        std::thread::sleep(Duration::from_millis(300));
        self.dir.remove();
    }

    /// The last `lines` lines of every log, for a failure report.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        let mut logs = self.fleet.logs();
        logs.extend(self.kafka.logs());
        logs.push(("postgres".into(), self.pg.log_path().to_path_buf()));
        for (name, path) in logs {
            out.push_str(&format!("----- {name} ({}) -----\n", path.display()));
            for line in tail(&path, lines) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}

/// Shuts the cluster down when dropped, also while unwinding from a panic.
pub struct Guard(pub std::sync::Arc<Cluster>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}
