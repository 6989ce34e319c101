//! The history of a run: every operation's invocation and what came of it
//! (`ok`, a definite `fail`, or `unknown`: timeout, transport error, 5xx),
//! the outcomes read back for acknowledged commands, and the faults.

use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::time::Instant;

use crate::infra::lock;

pub mod waitlist;

use waitlist::WaitLog;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
/// What an event records, so a history can be filtered by kind.
pub enum Phase {
    /// A request is about to be sent.
    Invoke,
    /// It got a 2xx.
    Ok,
    /// It got a definite 4xx.
    Fail,
    /// Nothing definite: a transport error, a timeout, a 5xx, 408 or 429.
    Unknown,
    /// A final command outcome read back.
    Outcome,
    /// A fault, or a process or node coming back.
    Fault,
    /// Anything else worth having in the record.
    Note,
}

/// One line of the history.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Milliseconds since the run's start.
    pub t_ms: u64,
    /// Its kind.
    pub phase: Phase,
    /// A short description (the operation, the fault).
    pub what: String,
    /// The client, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<usize>,
    /// The operation's number, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<u64>,
    /// The operation's `Idempotency-Key`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Which API instance answered, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<usize>,
    /// The HTTP status, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// A request or response body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// A transport error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an operation asked for.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OpKind {
    /// `POST /v1/balance/charges` (answered synchronously).
    Charge {
        /// The amount asked for.
        amount: i64,
    },
    /// `POST /v1/reservations` (a command).
    Reserve {
        /// The performance.
        performance_id: i64,
        /// The seat.
        seat_number: i64,
    },
    /// `POST /v1/payments` (a command).
    Pay {
        /// The hold to pay.
        reservation_id: String,
    },
    /// `POST /v1/payments` with `reservation_ids` (a command): several holds
    /// paid together or not at all.
    Checkout {
        /// The holds to pay.
        reservation_ids: Vec<String>,
    },
    /// `POST /v1/reservations/{id}/cancel` (a command): a hold released or
    /// a paid seat refunded.
    Cancel {
        /// The reservation to cancel.
        reservation_id: String,
    },
}

impl OpKind {
    /// The kind's name, as the `requests.kind` column spells it.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Charge { .. } => "charge",
            OpKind::Reserve { .. } => "reserve",
            OpKind::Pay { .. } | OpKind::Checkout { .. } => "pay",
            OpKind::Cancel { .. } => "cancel",
        }
    }
}

/// How one HTTP attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// A 2xx: it took effect.
    Ok,
    /// A definite 4xx: it had no effect.
    Fail,
    /// It may or may not have taken effect.
    Unknown,
}

/// One HTTP request of an operation and its answer.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// When it was sent, in ms since the run's start.
    pub t_ms: u64,
    /// The API instance it went to.
    pub api: usize,
    /// The status, if one came.
    pub status: Option<u16>,
    /// The body, if one came (JSON, or the raw text).
    pub body: Option<Value>,
    /// The transport error, if any.
    pub error: Option<String>,
    /// A deliberate re-send of an already answered request (same key).
    pub resend: bool,
}

impl Attempt {
    /// What the answer says about the attempt's effect.
    pub fn verdict(&self) -> Verdict {
        match self.status {
            Some(s) if (200..300).contains(&s) => Verdict::Ok,
            Some(s) if (400..500).contains(&s) && s != 408 && s != 429 => Verdict::Fail,
            _ => Verdict::Unknown,
        }
    }

    /// The problem+json `code` of an error answer.
    pub fn code(&self) -> Option<&str> {
        self.body.as_ref()?.get("code")?.as_str()
    }
}

/// One logical operation: one body and one `Idempotency-Key`, sent until a
/// definite answer (or the harness gave up).
#[derive(Debug, Clone, Serialize)]
pub struct OpRecord {
    /// Its number in the run.
    pub op: u64,
    /// The client that sent it.
    pub user: usize,
    /// That client's user id.
    pub user_id: String,
    /// Its `Idempotency-Key`.
    pub key: String,
    /// What it asked for.
    #[serde(flatten)]
    pub kind: OpKind,
    /// The request is invalid on purpose and must get a 4xx.
    pub expect_fail: Option<&'static str>,
    /// Every HTTP request sent for it, in order.
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
    /// When it was read, in ms since the run's start.
    pub t_ms: u64,
    /// The client that read it.
    pub user: usize,
    /// The response body.
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    events: Vec<Event>,
    ops: Vec<OpRecord>,
    observed: HashMap<String, Vec<Observed>>,
    /// Reservations read back as `paid` from `GET /v1/reservations`.
    seen_paid: HashMap<String, usize>,
    /// What the clients saw of the waitlist.
    waitlist: WaitLog,
}

/// The shared record of a run, written by every client and fault and read
/// by the checker.
pub struct History {
    start: Instant,
    inner: Mutex<Inner>,
}

impl History {
    /// An empty history whose clock starts at `start`.
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            inner: Mutex::default(),
        }
    }

    /// Milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// `at` in milliseconds since the start.
    pub fn ms_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_millis() as u64
    }

    /// Records `event`, stamped now.
    pub fn event(&self, mut event: Event) {
        event.t_ms = self.now_ms();
        lock(&self.inner).events.push(event);
    }

    /// Records a bare event.
    pub fn note(&self, phase: Phase, what: impl Into<String>) {
        self.event(Event::new(phase, what));
    }

    /// Records a finished operation for the checker.
    pub fn op_done(&self, op: OpRecord) {
        lock(&self.inner).ops.push(op);
    }

    /// Records an outcome read back for `request_id`.
    pub fn observed(&self, request_id: &str, user: usize, body: Value) {
        let t_ms = self.now_ms();
        lock(&self.inner)
            .observed
            .entry(request_id.to_owned())
            .or_default()
            .push(Observed { t_ms, user, body });
    }

    /// Records a reservation read back as `paid`: it must stay paid.
    pub fn seen_paid(&self, reservation_id: &str, user: usize) {
        lock(&self.inner)
            .seen_paid
            .insert(reservation_id.to_owned(), user);
    }

    /// Adds to the record of the waitlist.
    pub fn wait_log(&self, add: impl FnOnce(&mut WaitLog)) {
        add(&mut lock(&self.inner).waitlist);
    }

    /// What the clients saw of the waitlist.
    pub fn waitlist(&self) -> WaitLog {
        lock(&self.inner).waitlist.clone()
    }

    /// Every finished operation.
    pub fn ops(&self) -> Vec<OpRecord> {
        lock(&self.inner).ops.clone()
    }

    /// Every outcome read back, by request id.
    pub fn all_observed(&self) -> HashMap<String, Vec<Observed>> {
        lock(&self.inner).observed.clone()
    }

    /// Every reservation read back as paid, with its reader.
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
        let w = &inner.waitlist;
        let lines = (w
            .joins
            .iter()
            .map(|r| serde_json::json!({"waitlist_join": r})))
        .chain(
            w.places
                .iter()
                .map(|r| serde_json::json!({"waitlist_place": r})),
        )
        .chain(
            w.offers
                .iter()
                .map(|r| serde_json::json!({"waitlist_offer_seen": r})),
        )
        .chain(
            w.pays
                .iter()
                .map(|r| serde_json::json!({"waitlist_offer_pay": r})),
        )
        .chain(
            w.leaves
                .iter()
                .map(|r| serde_json::json!({"waitlist_leave": r})),
        );
        for line in lines {
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }
}

impl Event {
    /// An event with nothing but a phase and a description.
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

    /// An event about operation `op`.
    pub fn for_op(phase: Phase, op: &OpRecord) -> Self {
        Self {
            user: Some(op.user),
            op: Some(op.op),
            key: Some(op.key.clone()),
            ..Self::new(phase, op.kind.name())
        }
    }

    /// The event of attempt `a`'s answer.
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
