//! The history of a run: every operation's invocation and what came of it
//! (`ok`, a definite `fail`, or `unknown`: timeout, transport error, 5xx),
//! the outcomes read back for acknowledged commands, and the faults.

use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::time::Instant;

use crate::infra::lock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Invoke,
    Ok,
    Fail,
    Unknown,
    Outcome,
    Fault,
    Note,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub t_ms: u64,
    pub phase: Phase,
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an operation asked for.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OpKind {
    Charge {
        amount: i64,
    },
    Reserve {
        performance_id: i64,
        seat_number: i64,
    },
    Pay {
        reservation_id: String,
    },
}

impl OpKind {
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Charge { .. } => "charge",
            OpKind::Reserve { .. } => "reserve",
            OpKind::Pay { .. } => "pay",
        }
    }
}

/// How one HTTP attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Fail,
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub t_ms: u64,
    pub api: usize,
    pub status: Option<u16>,
    pub body: Option<Value>,
    pub error: Option<String>,
    /// A deliberate re-send of an already answered request (same key).
    pub resend: bool,
}

impl Attempt {
    pub fn verdict(&self) -> Verdict {
        match self.status {
            Some(s) if (200..300).contains(&s) => Verdict::Ok,
            Some(s) if (400..500).contains(&s) && s != 408 && s != 429 => Verdict::Fail,
            _ => Verdict::Unknown,
        }
    }

    pub fn code(&self) -> Option<&str> {
        self.body.as_ref()?.get("code")?.as_str()
    }
}

/// One logical operation: one body and one `Idempotency-Key`, sent until a
/// definite answer (or the harness gave up).
#[derive(Debug, Clone, Serialize)]
pub struct OpRecord {
    pub op: u64,
    pub user: usize,
    pub user_id: String,
    pub key: String,
    #[serde(flatten)]
    pub kind: OpKind,
    /// The request is invalid on purpose and must get a 4xx.
    pub expect_fail: Option<&'static str>,
    pub attempts: Vec<Attempt>,
}

impl OpRecord {
    /// Ok if any attempt succeeded; else fail if the last one was a definite
    /// 4xx; else unknown.
    pub fn verdict(&self) -> Verdict {
        if self.attempts.iter().any(|a| a.verdict() == Verdict::Ok) {
            Verdict::Ok
        } else if self
            .attempts
            .last()
            .is_some_and(|a| a.verdict() == Verdict::Fail)
        {
            Verdict::Fail
        } else {
            Verdict::Unknown
        }
    }

    /// Whether some attempt may have had an effect the client never saw.
    pub fn had_unknown(&self) -> bool {
        self.attempts
            .iter()
            .any(|a| a.verdict() == Verdict::Unknown)
    }

    /// The request id of an acknowledged (202) command.
    pub fn request_id(&self) -> Option<String> {
        self.attempts
            .iter()
            .filter(|a| a.status == Some(202))
            .find_map(|a| {
                a.body
                    .as_ref()?
                    .get("request_id")?
                    .as_str()
                    .map(str::to_owned)
            })
    }
}

/// A command outcome read back through `GET /v1/requests/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    pub t_ms: u64,
    pub user: usize,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    events: Vec<Event>,
    ops: Vec<OpRecord>,
    observed: HashMap<String, Vec<Observed>>,
    /// Reservations read back as `paid` from `GET /v1/reservations`.
    seen_paid: HashMap<String, usize>,
}

pub struct History {
    start: Instant,
    inner: Mutex<Inner>,
}

impl History {
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            inner: Mutex::default(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    pub fn ms_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_millis() as u64
    }

    pub fn event(&self, mut event: Event) {
        event.t_ms = self.now_ms();
        lock(&self.inner).events.push(event);
    }

    pub fn note(&self, phase: Phase, what: impl Into<String>) {
        self.event(Event::new(phase, what));
    }

    pub fn op_done(&self, op: OpRecord) {
        lock(&self.inner).ops.push(op);
    }

    pub fn observed(&self, request_id: &str, user: usize, body: Value) {
        let t_ms = self.now_ms();
        lock(&self.inner)
            .observed
            .entry(request_id.to_owned())
            .or_default()
            .push(Observed { t_ms, user, body });
    }

    pub fn seen_paid(&self, reservation_id: &str, user: usize) {
        lock(&self.inner)
            .seen_paid
            .insert(reservation_id.to_owned(), user);
    }

    pub fn ops(&self) -> Vec<OpRecord> {
        lock(&self.inner).ops.clone()
    }

    pub fn events(&self) -> Vec<Event> {
        lock(&self.inner).events.clone()
    }

    pub fn all_observed(&self) -> HashMap<String, Vec<Observed>> {
        lock(&self.inner).observed.clone()
    }

    pub fn all_seen_paid(&self) -> HashMap<String, usize> {
        lock(&self.inner).seen_paid.clone()
    }

    /// The latest observed final (non-pending) body of a request, if any.
    pub fn final_outcome(&self, request_id: &str) -> Option<Value> {
        lock(&self.inner)
            .observed
            .get(request_id)?
            .iter()
            .rev()
            .find(|o| o.body["status"] != "pending")
            .map(|o| o.body.clone())
    }

    /// Events touching `needle` (a key, request or reservation id, or user
    /// index as `user:N`), for a failure report.
    pub fn excerpt(&self, needle: &str, max: usize) -> Vec<String> {
        let inner = lock(&self.inner);
        let user = needle
            .strip_prefix("user:")
            .and_then(|n| n.parse::<usize>().ok());
        inner
            .events
            .iter()
            .filter(|e| {
                user.map_or_else(
                    || serde_json::to_string(e).is_ok_and(|s| s.contains(needle)),
                    |u| e.user == Some(u),
                )
            })
            .take(max)
            .filter_map(|e| serde_json::to_string(e).ok())
            .collect()
    }

    /// Writes the events and ops as JSON lines.
    pub fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        use std::io::Write;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let inner = lock(&self.inner);
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for e in &inner.events {
            serde_json::to_writer(&mut out, e)?;
            out.write_all(b"\n")?;
        }
        for op in &inner.ops {
            serde_json::to_writer(&mut out, &serde_json::json!({"op_record": op}))?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }
}

impl Event {
    pub fn new(phase: Phase, what: impl Into<String>) -> Self {
        Self {
            t_ms: 0,
            phase,
            what: what.into(),
            user: None,
            op: None,
            key: None,
            api: None,
            status: None,
            body: None,
            error: None,
        }
    }

    pub fn for_op(phase: Phase, op: &OpRecord) -> Self {
        Self {
            user: Some(op.user),
            op: Some(op.op),
            key: Some(op.key.clone()),
            ..Self::new(phase, op.kind.name())
        }
    }

    pub fn attempt(op: &OpRecord, a: &Attempt) -> Self {
        let phase = match a.verdict() {
            Verdict::Ok => Phase::Ok,
            Verdict::Fail => Phase::Fail,
            Verdict::Unknown => Phase::Unknown,
        };
        Self {
            api: Some(a.api),
            status: a.status,
            body: a.body.clone(),
            error: a.error.clone(),
            ..Self::for_op(phase, op)
        }
    }
}
