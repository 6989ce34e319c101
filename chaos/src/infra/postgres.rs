//! The run's private Postgres cluster: `initdb` in the temp dir, started and
//! stopped with `pg_ctl` (the faults restart it, immediate or fast).

use super::{append, is_root};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::process::Command;

/// A private cluster in the temp dir. Postgres refuses to run as root, so
/// when the harness is root its tools run as the `postgres` OS user.
pub struct Postgres {
    bin: PathBuf,
    root: PathBuf,
    data: PathBuf,
    log: PathBuf,
    harness_log: PathBuf,
    /// Its loopback port (also in [`Postgres::server_url`]).
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
    /// Describes the cluster under `dir/pg`; nothing runs yet.
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

    /// The server log, for failure reports.
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

    /// `pg_ctl start`, waiting until it accepts connections; also the
    /// restart after a stop fault.
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

    /// `postgres://postgres@127.0.0.1:<port>`, without a database name.
    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }
}
