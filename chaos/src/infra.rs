//! The private infrastructure of one chaos run: a temp dir, a Postgres
//! cluster, a tansu broker and the `api` / `workers` processes, all on
//! loopback ports of their own so that other tests on the shared services are
//! never disturbed. Everything is torn down by [`Cluster::shutdown`], which
//! the run's guard also calls on drop (panics included).

use anyhow::{bail, Context};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Locks a mutex, ignoring poisoning: the data are plain process handles.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A free loopback TCP port (bound once, then released).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// True if something accepts TCP connections on 127.0.0.1:`port`.
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
/// (SIGKILL by a CI timeout), so no broker or API is left behind.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs in the closure.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

// ------------------------------------------------------------------ temp dir

pub struct TempDir {
    pub path: PathBuf,
    pub keep: bool,
}

impl TempDir {
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

    pub fn remove(&self) {
        if self.keep {
            eprintln!("chaos: keeping {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ------------------------------------------------------------------ Postgres

/// A private cluster in the temp dir. Postgres refuses to run as root, so
/// when the harness is root its tools run as the `postgres` OS user.
pub struct Postgres {
    bin: PathBuf,
    root: PathBuf,
    data: PathBuf,
    log: PathBuf,
    harness_log: PathBuf,
    pub port: u16,
    as_postgres: bool,
    started: AtomicBool,
}

/// `/usr/lib/postgresql/<newest version>/bin`, or `$CHAOS_PG_BIN`.
pub fn find_pg_bin() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("CHAOS_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("no /usr/lib/postgresql: install the postgresql package (scripts/test does)")?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no initdb under /usr/lib/postgresql/*/bin")
}

impl Postgres {
    pub fn new(dir: &Path, port: u16) -> anyhow::Result<Self> {
        let root = dir.join("pg");
        Ok(Self {
            bin: find_pg_bin()?,
            data: root.join("data"),
            log: root.join("postgres.log"),
            harness_log: dir.join("pg_ctl.log"),
            root,
            port,
            as_postgres: is_root(),
            started: AtomicBool::new(false),
        })
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    fn tool(&self, name: &str) -> anyhow::Result<Command> {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.stdin(Stdio::null())
            .stdout(append(&self.harness_log)?)
            .stderr(append(&self.harness_log)?);
        Ok(cmd)
    }

    async fn run(&self, mut cmd: Command, what: &str) -> anyhow::Result<()> {
        let status = tokio::time::timeout(Duration::from_secs(90), cmd.status())
            .await
            .with_context(|| format!("{what}: timed out"))?
            .with_context(|| format!("{what}: could not run"))?;
        if !status.success() {
            bail!(
                "{what} failed ({status}); see {}",
                self.harness_log.display()
            );
        }
        Ok(())
    }

    /// `initdb` with trust auth for the `postgres` role.
    pub async fn init(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.root)?;
        if self.as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&self.root)
                .status()
                .await?;
            if !status.success() {
                bail!("chown postgres {} failed", self.root.display());
            }
        }
        let mut cmd = self.tool("initdb")?;
        cmd.arg("-D").arg(&self.data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        self.run(cmd, "initdb").await
    }

    pub async fn start(&self) -> anyhow::Result<()> {
        let mut cmd = self.tool("pg_ctl")?;
        // fsync off: the machine never crashes in this test, only Postgres
        // does, and the OS keeps what it was given.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c full_page_writes=off",
            self.port,
            self.root.display()
        );
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        self.started.store(true, Ordering::SeqCst);
        self.run(cmd, "pg_ctl start").await
    }

    /// `mode` is `immediate` (crash-like) or `fast`.
    pub async fn stop(&self, mode: &str) -> anyhow::Result<()> {
        let mut cmd = self.tool("pg_ctl")?;
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-m", mode, "-w", "-t", "60", "stop"]);
        self.run(cmd, "pg_ctl stop").await
    }

    /// Synchronous immediate stop, for the drop guard.
    pub fn stop_now(&self) {
        if !self.started.swap(false, Ordering::SeqCst) {
            return;
        }
        let program = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        let _ = cmd
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "-t", "30", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }
}

// -------------------------------------------------------------------- broker

/// `$TANSU_BIN`, `tansu` on PATH, or `$CARGO_HOME/bin/tansu` (where
/// scripts/common.sh installs it).
pub fn find_tansu() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("TANSU_BIN") {
        return Ok(PathBuf::from(p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("tansu");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        let candidate = home.join("bin").join("tansu");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("tansu not found (PATH, $CARGO_HOME/bin): run scripts/test once, it installs it")
}

/// A tansu broker with SQLite storage in its own dir; its state survives
/// restarts.
pub struct Broker {
    bin: PathBuf,
    dir: PathBuf,
    log: PathBuf,
    pub port: u16,
    child: Mutex<Option<Child>>,
}

impl Broker {
    pub fn new(dir: &Path, port: u16) -> anyhow::Result<Self> {
        let data = dir.join("tansu");
        std::fs::create_dir_all(&data)?;
        Ok(Self {
            bin: find_tansu()?,
            dir: data,
            log: dir.join("tansu.log"),
            port,
            child: Mutex::new(None),
        })
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub async fn start(&self) -> anyhow::Result<()> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut cmd = Command::new(&self.bin);
        cmd.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        // tansu resolves the sqlite path against its working directory.
        .args(["--storage-engine", "sqlite://tansu.db"])
        .current_dir(&self.dir)
        .stdin(Stdio::null())
        .stdout(append(&self.log)?)
        .stderr(append(&self.log)?)
        .kill_on_drop(true);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().context("starting tansu")?;
        *lock(&self.child) = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if tcp_open(self.port).await {
                return Ok(());
            }
            let exited = lock(&self.child)
                .as_mut()
                .map(|c| c.try_wait().ok().flatten().is_some())
                .unwrap_or(true);
            if exited {
                bail!("tansu exited at start; see {}", self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "tansu did not listen within 30 s; see {}",
            self.log.display()
        )
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&self, grace: Duration) -> anyhow::Result<()> {
        let Some(mut child) = lock(&self.child).take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
        Ok(())
    }

    pub fn kill_now(&self) {
        if let Some(mut child) = lock(&self.child).take() {
            let _ = child.start_kill();
        }
    }
}

// ----------------------------------------------------------------- processes

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Api,
    Worker,
}

pub struct Slot {
    pub role: Role,
    pub name: String,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    child: Option<Child>,
    /// When a stopped slot is to be started again.
    down_until: Option<Instant>,
    pub starts: u32,
    pub unexpected_exits: u32,
    pub last_start: Option<Instant>,
}

/// The `api` and `workers` processes, and a supervisor step that restarts
/// what is due (killed on purpose, or exited by itself).
pub struct Fleet {
    bin_dir: PathBuf,
    base_env: Vec<(String, String)>,
    slots: Mutex<Vec<Slot>>,
    closed: AtomicBool,
}

impl Fleet {
    pub fn new(bin_dir: PathBuf, base_env: Vec<(String, String)>) -> Self {
        Self {
            bin_dir,
            base_env,
            slots: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    pub fn base_env(&self) -> &[(String, String)] {
        &self.base_env
    }

    pub fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// Adds a slot (not started) and returns its index.
    pub fn add(&self, role: Role, name: &str, env: Vec<(String, String)>, log: PathBuf) -> usize {
        let mut slots = lock(&self.slots);
        slots.push(Slot {
            role,
            name: name.to_owned(),
            env,
            log,
            child: None,
            down_until: Some(Instant::now()),
            starts: 0,
            unexpected_exits: 0,
            last_start: None,
        });
        slots.len() - 1
    }

    pub fn command(&self, binary: &str, args: &[&str], extra: &[(String, String)]) -> Command {
        let mut cmd = Command::new(self.binary(binary));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.base_env.iter().map(|(k, v)| (k, v)))
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    fn spawn(&self, slot: &mut Slot) -> anyhow::Result<()> {
        let binary = match slot.role {
            Role::Api => "api",
            Role::Worker => "workers",
        };
        let args: &[&str] = match slot.role {
            Role::Api => &[],
            Role::Worker => &["run"],
        };
        let mut cmd = self.command(binary, args, &slot.env);
        cmd.stdout(append(&slot.log)?)
            .stderr(append(&slot.log)?)
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", slot.name))?;
        slot.child = Some(child);
        slot.down_until = None;
        slot.starts += 1;
        slot.last_start = Some(Instant::now());
        Ok(())
    }

    /// Starts what is due and notices processes that exited on their own;
    /// returns a line per thing done.
    pub fn supervise(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.closed.load(Ordering::SeqCst) {
            return notes;
        }
        let now = Instant::now();
        let mut slots = lock(&self.slots);
        for i in 0..slots.len() {
            let exited = slots[i]
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                let slot = &mut slots[i];
                slot.child = None;
                slot.unexpected_exits += 1;
                slot.down_until = Some(now + Duration::from_secs(1));
                notes.push(format!(
                    "{} exited by itself ({status}); restarting in 1 s",
                    slot.name
                ));
            }
            let due = slots[i].child.is_none() && slots[i].down_until.is_some_and(|t| t <= now);
            if due {
                let slot = &mut slots[i];
                match self.spawn(slot) {
                    Ok(()) => notes.push(format!("{} started (start #{})", slot.name, slot.starts)),
                    Err(e) => {
                        slot.down_until = Some(now + Duration::from_secs(1));
                        notes.push(format!("{} failed to start: {e:#}", slot.name));
                    }
                }
            }
        }
        notes
    }

    /// Indices of running slots of `role`.
    pub fn running(&self, role: Role) -> Vec<usize> {
        lock(&self.slots)
            .iter()
            .enumerate()
            .filter(|(_, s)| s.role == role && s.child.is_some())
            .map(|(i, _)| i)
            .collect()
    }

    pub fn name(&self, index: usize) -> String {
        lock(&self.slots)
            .get(index)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    /// `kill -9`s slot `index`; the supervisor starts it again after
    /// `down_for`. Returns the child to reap, if it was running.
    pub fn kill(&self, index: usize, down_for: Duration) -> Option<Child> {
        let mut slots = lock(&self.slots);
        let slot = slots.get_mut(index)?;
        let mut child = slot.child.take()?;
        let _ = child.start_kill();
        slot.down_until = Some(Instant::now() + down_for);
        Some(child)
    }

    /// Sends `signal` to slot `index`'s process; returns its pid, if it runs.
    pub fn signal(&self, index: usize, signal: libc::c_int) -> Option<u32> {
        let slots = lock(&self.slots);
        let pid = slots.get(index)?.child.as_ref()?.id()?;
        // SAFETY: kill(2) on a child this fleet spawned and has not reaped.
        unsafe { libc::kill(pid as libc::pid_t, signal) };
        Some(pid)
    }

    /// Sends `signal` to slot `index` only if it still runs process `pid` (a
    /// paused worker may have been killed and replaced meanwhile).
    pub fn signal_if(&self, index: usize, pid: u32, signal: libc::c_int) -> bool {
        let slots = lock(&self.slots);
        let current = slots
            .get(index)
            .and_then(|s| s.child.as_ref())
            .and_then(Child::id);
        if current != Some(pid) {
            return false;
        }
        // SAFETY: as in `signal`; the slot still holds this child.
        unsafe { libc::kill(pid as libc::pid_t, signal) };
        true
    }

    /// The latest (re)start of any process.
    pub fn last_start(&self) -> Option<Instant> {
        lock(&self.slots).iter().filter_map(|s| s.last_start).max()
    }

    /// `(name, starts, unexpected exits)` per slot.
    pub fn stats(&self) -> Vec<(String, u32, u32)> {
        lock(&self.slots)
            .iter()
            .map(|s| (s.name.clone(), s.starts, s.unexpected_exits))
            .collect()
    }

    pub fn logs(&self) -> Vec<(String, PathBuf)> {
        lock(&self.slots)
            .iter()
            .map(|s| (s.name.clone(), s.log.clone()))
            .collect()
    }

    /// Stops every process for good (SIGKILL); nothing is restarted after.
    pub fn kill_all(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for slot in lock(&self.slots).iter_mut() {
            if let Some(mut child) = slot.child.take() {
                let _ = child.start_kill();
            }
            slot.down_until = None;
        }
    }
}

// ------------------------------------------------------------------- cluster

pub struct Cluster {
    pub pg: Postgres,
    pub broker: Broker,
    pub fleet: Fleet,
    pub dir: TempDir,
    done: AtomicBool,
}

impl Cluster {
    pub fn new(pg: Postgres, broker: Broker, fleet: Fleet, dir: TempDir) -> Self {
        Self {
            pg,
            broker,
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
        self.broker.kill_now();
        self.pg.stop_now();
        // Give killed children a moment to release files in the dir.
        std::thread::sleep(Duration::from_millis(200));
        self.dir.remove();
    }

    /// The last `lines` lines of every log, for a failure report.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        let mut logs = self.fleet.logs();
        logs.push(("tansu".into(), self.broker.log_path().to_path_buf()));
        logs.push(("postgres".into(), self.pg.log_path().to_path_buf()));
        for (name, path) in logs {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            out.push_str(&format!("----- {name} ({}) -----\n", path.display()));
            for line in tail {
                out.push_str(line);
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
