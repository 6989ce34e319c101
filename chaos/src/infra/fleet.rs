//! The `api` and `workers` processes of a run: slots that the faults kill
//! and the supervisor starts again.

use super::{append, die_with_parent, lock};
use anyhow::Context;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// What a slot runs: the faults pick their victims by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An `api` process.
    Api,
    /// A `workers run` process.
    Worker,
}

/// One process the fleet keeps running.
struct Slot {
    role: Role,
    name: String,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    /// When a stopped slot is to be started again.
    down_until: Option<Instant>,
    starts: u32,
    unexpected_exits: u32,
    last_start: Option<Instant>,
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
    /// A fleet of the binaries in `bin_dir`, each run with `base_env` (and
    /// its slot's own variables) and nothing else from the harness.
    pub fn new(bin_dir: PathBuf, base_env: Vec<(String, String)>) -> Self {
        Self {
            bin_dir,
            base_env,
            slots: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// The path of binary `name` (the run's private copy).
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

    /// A command for `binary` with the fleet's environment plus `extra`,
    /// for one-off runs such as `workers migrate`.
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

    /// The name of slot `index`, for the history.
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

    /// `(name, log file)` per slot, for failure reports.
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
