//! The checker: reads the private Postgres directly after the faults stopped
//! and every acknowledged command is final, and compares it with the
//! history. The invariants of the database alone (money, seats, commands,
//! the waitlist) are testkit's, the ones the API's tests check too; the
//! waitlist as the clients saw it is checked in [`waitlist`].

pub mod waitlist;

use crate::history::waitlist::WaitLog;
use crate::history::{Observed, OpKind, OpRecord, Verdict};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};
use testkit::invariants::{self, Invariant};

/// One broken invariant and its evidence.
#[derive(Debug, Clone)]
pub struct Violation {
    /// Which invariant.
    pub invariant: &'static str,
    /// The evidence (a row, a request, an answer).
    pub detail: String,
    /// Ids to pull history excerpts for.
    pub needles: Vec<String>,
}

impl Violation {
    fn new(invariant: &'static str, detail: impl Into<String>) -> Self {
        Self {
            invariant,
            detail: detail.into(),
            needles: Vec::new(),
        }
    }

    fn about(mut self, needle: impl Into<String>) -> Self {
        self.needles.push(needle.into());
        self
    }
}

/// The chaos workload's own invariant, on top of testkit's: it sends every
/// charge with an `Idempotency-Key`, so each ledger charge has its key.
const KEYED_CHARGES: &[Invariant] = &[Invariant {
    name: "every keyed charge is in the ledger once (ledger charges = idempotency keys per user)",
    sql: "select coalesce(c.user_id, k.user_id) as user_id, c.charges, k.keys
           from (select user_id, count(*) as charges from ledger where kind = 'charge' group by 1) c
           full join (select user_id, count(*) as keys from idempotency_keys group by 1) k using (user_id)
          where c.charges is distinct from k.keys",
}];

/// What the clients saw, to compare with the database.
pub struct Input<'a> {
    /// Every operation and its attempts.
    pub ops: &'a [OpRecord],
    /// Outcomes read back, by request id.
    pub observed: &'a HashMap<String, Vec<Observed>>,
    /// Reservations read back as paid.
    pub seen_paid: &'a HashMap<String, usize>,
    /// Acknowledged requests still pending at the deadline, with what
    /// became of them later.
    pub still_pending: &'a [(String, String)],
    /// What the clients saw of the waitlist.
    pub waitlist: &'a WaitLog,
}

/// Every invariant (an empty list means the run passed), and what the
/// waitlist checks judged.
pub async fn check(
    pool: &PgPool,
    input: &Input<'_>,
) -> anyhow::Result<(Vec<Violation>, waitlist::Coverage)> {
    let mut out = Vec::new();
    let mut broken = invariants::all(pool).await?;
    broken.extend(invariants::check(pool, KEYED_CHARGES).await?);
    broken.extend(invariants::check(pool, waitlist::OFFERS_SOLD_ONCE).await?);
    for v in broken {
        out.push(
            Violation::new(v.invariant, format!("SQL row: {}", v.row)).about(needle_of(&v.row)),
        );
    }
    for (id, later) in input.still_pending {
        out.push(
            Violation::new(
                "every acknowledged command final within 30 s of the last fault",
                format!("request {id} still pending ({later})"),
            )
            .about(id.clone()),
        );
    }
    let pending: Vec<String> = sqlx::query_scalar(
        "select request_id::text from requests where status = 'pending' order by created_at limit 50",
    )
    .fetch_all(pool)
    .await?;
    for id in pending {
        if !input.still_pending.iter().any(|(p, _)| p == &id) {
            out.push(
                Violation::new(
                    "every recorded command final within 30 s of the last fault",
                    format!("request {id} pending in the database"),
                )
                .about(id),
            );
        }
    }
    out.extend(check_history(pool, input).await?);
    let (found, coverage) = waitlist::check(pool, input.waitlist, input.ops).await?;
    out.extend(found);
    Ok((out, coverage))
}

/// The first uuid-looking value in a JSON row, for history excerpts.
fn needle_of(row: &str) -> String {
    let v: Value = serde_json::from_str(row).unwrap_or(Value::Null);
    let mut found = String::new();
    if let Value::Object(map) = v {
        for value in map.values() {
            let candidate = match value {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                _ => continue,
            };
            if uuid::Uuid::parse_str(&candidate).is_ok() {
                found = candidate;
                break;
            }
        }
    }
    found
}

type RequestRow = (String, String, String, Option<String>, Option<Value>);

async fn check_history(pool: &PgPool, input: &Input<'_>) -> anyhow::Result<Vec<Violation>> {
    let mut out = Vec::new();
    let requests: HashMap<String, RequestRow> = sqlx::query_as::<
        _,
        (
            String,
            String,
            String,
            String,
            Option<String>,
            Option<Value>,
        ),
    >(
        "select request_id::text, user_id::text, kind, status, reason, result from requests",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(id, user, kind, status, reason, result)| (id, (user, kind, status, reason, result)))
    .collect();
    let keys: HashMap<(String, String), Value> = sqlx::query_as::<_, (String, String, Value)>(
        "select user_id::text, key, response from idempotency_keys",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(user, key, response)| ((user, key), response))
    .collect();
    let charges: HashSet<(String, i64, i64)> = sqlx::query_as::<_, (String, i64, i64)>(
        "select user_id::text, amount, balance_after from ledger where kind = 'charge'",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let charge_counts: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "select user_id::text, count(*) from ledger where kind = 'charge' group by 1",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let reservations: HashMap<String, (String, i64, i16, String)> =
        sqlx::query_as::<_, (String, String, i64, i16, String)>(
            "select reservation_id::text, user_id::text, performance_id, seat_number, status from reservations",
        )
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(id, user, p, s, status)| (id, (user, p, s, status)))
        .collect();
    let payments: HashMap<String, (String, i64)> = sqlx::query_as::<_, (String, String, i64)>(
        "select payment_id::text, reservation_id::text, amount from payments",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(id, r, amount)| (id, (r, amount)))
    .collect();

    // Charges, per user: keys that got 200 <= ledger charges <= keys that
    // got 200 or may have gone through.
    let mut ok_keys: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    let mut maybe_keys: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for op in input.ops {
        let OpKind::Charge { amount } = op.kind else {
            continue;
        };
        if let Some(expected) = op.expect_fail {
            check_expected_failure(op, expected, &keys, &mut out);
            continue;
        }
        let oks: Vec<&Value> = op
            .attempts
            .iter()
            .filter(|a| a.verdict() == Verdict::Ok)
            .filter_map(|a| a.body.as_ref())
            .collect();
        if let Some(first) = oks.first() {
            ok_keys
                .entry(op.user_id.clone())
                .or_default()
                .insert(op.key.clone());
            maybe_keys
                .entry(op.user_id.clone())
                .or_default()
                .insert(op.key.clone());
            if oks.iter().any(|b| b != first) {
                out.push(
                    Violation::new(
                        "a retried or re-sent charge returns the original response",
                        format!("key {} got different 200 bodies: {oks:?}", op.key),
                    )
                    .about(op.key.clone()),
                );
            }
            let balance = first["balance"].as_i64().unwrap_or(-1);
            match keys.get(&(op.user_id.clone(), op.key.clone())) {
                Some(stored) if stored["balance"].as_i64() == Some(balance) => {}
                other => out.push(
                    Violation::new(
                        "history vs DB: a 200 charge is stored with its response",
                        format!("key {} answered {first}, stored {other:?}", op.key),
                    )
                    .about(op.key.clone()),
                ),
            }
            if !charges.contains(&(op.user_id.clone(), amount, balance)) {
                out.push(
                    Violation::new(
                        "history vs DB: a 200 charge has its ledger row",
                        format!(
                            "key {}: no ledger charge of {amount} with balance_after {balance} for user {}",
                            op.key, op.user_id
                        ),
                    )
                    .about(op.key.clone()),
                );
            }
        } else if op.had_unknown() {
            maybe_keys
                .entry(op.user_id.clone())
                .or_default()
                .insert(op.key.clone());
        } else if keys.contains_key(&(op.user_id.clone(), op.key.clone())) {
            out.push(
                Violation::new(
                    "a refused charge has no effect",
                    format!("key {} was only ever refused but is stored", op.key),
                )
                .about(op.key.clone()),
            );
        }
    }
    let users: HashSet<&String> = input.ops.iter().map(|o| &o.user_id).collect();
    for user in users {
        let n = charge_counts.get(user).copied().unwrap_or(0) as usize;
        let lo = ok_keys.get(user).map_or(0, HashSet::len);
        let hi = maybe_keys.get(user).map_or(0, HashSet::len);
        if n < lo || n > hi {
            out.push(Violation::new(
                "no charge applied twice or lost: keys that got 200 <= ledger charges <= keys sent",
                format!("user {user}: {n} ledger charges, {lo} keys got 200, {hi} keys may have gone through"),
            ));
        }
    }

    // Commands: one request id per key, outcomes that match the database.
    for op in input.ops {
        if matches!(op.kind, OpKind::Charge { .. }) {
            continue;
        }
        let ids: HashSet<&str> = op
            .attempts
            .iter()
            .filter(|a| a.status == Some(202))
            .filter_map(|a| a.body.as_ref()?.get("request_id")?.as_str())
            .collect();
        if ids.len() > 1 {
            out.push(
                Violation::new(
                    "one Idempotency-Key, one command",
                    format!(
                        "key {} was acknowledged with several request ids: {ids:?}",
                        op.key
                    ),
                )
                .about(op.key.clone()),
            );
        }
        let Some(id) = op.request_id() else {
            continue;
        };
        let Some((user, kind, status, _, result)) = requests.get(&id) else {
            out.push(
                Violation::new(
                    "an acknowledged command is recorded",
                    format!("request {id} (key {}) answered 202 but has no row", op.key),
                )
                .about(id.clone()),
            );
            continue;
        };
        if user != &op.user_id || kind != op.kind.name() {
            out.push(
                Violation::new(
                    "an acknowledged command is recorded",
                    format!(
                        "request {id}: row is {kind} of {user}, op is {} of {}",
                        op.kind.name(),
                        op.user_id
                    ),
                )
                .about(id.clone()),
            );
        }
        if status != "succeeded" {
            continue;
        }
        let result = result.clone().unwrap_or(Value::Null);
        match &op.kind {
            OpKind::Reserve {
                performance_id,
                seat_number,
            } => {
                let rid = result["reservation_id"].as_str().unwrap_or_default();
                let row = reservations.get(rid);
                let matches = row.is_some_and(|(u, p, s, _)| {
                    u == &op.user_id && p == performance_id && i64::from(*s) == *seat_number
                });
                if !matches {
                    out.push(
                        Violation::new(
                            "history vs DB: a succeeded hold is the reservation asked for",
                            format!("request {id}: result {result}, row {row:?}"),
                        )
                        .about(id.clone()),
                    );
                }
            }
            OpKind::Pay { reservation_id } => {
                let pid = result["payment_id"].as_str().unwrap_or_default();
                let ok = payments.get(pid).is_some_and(|(r, amount)| {
                    r == reservation_id && Some(*amount) == result["amount"].as_i64()
                }) && reservations
                    .get(reservation_id)
                    // Paid, or since refunded by its owner's cancel.
                    .is_some_and(|r| r.3 == "paid" || r.3 == "refunded");
                if !ok {
                    out.push(
                        Violation::new(
                            "history vs DB: a succeeded payment has its payment row and a paid (or since refunded) reservation",
                            format!("request {id}: result {result}"),
                        )
                        .about(id.clone()),
                    );
                }
            }
            OpKind::Checkout { reservation_ids } => {
                let pid = result["payment_id"].as_str().unwrap_or_default();
                let listed: Vec<&str> = result["reservation_ids"]
                    .as_array()
                    .map(|ids| ids.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let ok = payments.get(pid).is_some_and(|(first, amount)| {
                    Some(first.as_str()) == reservation_ids.first().map(String::as_str)
                        && Some(*amount) == result["amount"].as_i64()
                }) && listed
                    == reservation_ids
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                    && reservation_ids.iter().all(|rid| {
                        reservations
                            .get(rid)
                            .is_some_and(|r| r.3 == "paid" || r.3 == "refunded")
                    });
                if !ok {
                    out.push(
                        Violation::new(
                            "history vs DB: a succeeded checkout is one payment of every hold it named",
                            format!("request {id}: result {result}"),
                        )
                        .about(id.clone()),
                    );
                }
            }
            OpKind::Cancel { reservation_id } => {
                let became = result["status"].as_str().unwrap_or_default();
                let ok = ["cancelled", "refunded"].contains(&became)
                    && reservations
                        .get(reservation_id)
                        .is_some_and(|r| r.3 == became);
                if !ok {
                    out.push(
                        Violation::new(
                            "history vs DB: a succeeded cancel left its reservation cancelled or refunded",
                            format!("request {id}: result {result}, row {:?}", reservations.get(reservation_id)),
                        )
                        .about(id.clone()),
                    );
                }
            }
            OpKind::Charge { .. } => {}
        }
    }

    // Every outcome read through the API is the one in the database: a final
    // status never changes.
    for (id, seen) in input.observed {
        let row = requests.get(id);
        for o in seen {
            let status = o.body["status"].as_str().unwrap_or_default();
            if status == "pending" {
                continue;
            }
            let same = row.is_some_and(|(_, _, s, reason, result)| {
                s == status
                    && reason.as_deref() == o.body["reason"].as_str()
                    && result.clone().unwrap_or(Value::Null) == o.body["result"]
            });
            if !same {
                out.push(
                    Violation::new(
                        "history vs DB: an outcome read through the API is final and matches the database",
                        format!("request {id}: read {} at {} ms, database has {row:?}", o.body, o.t_ms),
                    )
                    .about(id.clone()),
                );
            }
        }
    }
    // A paid reservation changes only by its owner's refund (whose ledger
    // entry and cancel request the invariants check).
    for (rid, user) in input.seen_paid {
        if reservations
            .get(rid)
            .is_none_or(|r| r.3 != "paid" && r.3 != "refunded")
        {
            out.push(
                Violation::new(
                    "history vs DB: a reservation read as paid stays paid (or refunded)",
                    format!(
                        "reservation {rid} (user {user}) is {:?}",
                        reservations.get(rid)
                    ),
                )
                .about(rid.clone()),
            );
        }
    }
    Ok(out)
}

fn check_expected_failure(
    op: &OpRecord,
    expected: &str,
    keys: &HashMap<(String, String), Value>,
    out: &mut Vec<Violation>,
) {
    if op.verdict() == Verdict::Ok {
        out.push(
            Violation::new(
                "bad input never changes state",
                format!(
                    "op {} (key {}) expected {expected} but got {:?}",
                    op.op,
                    op.key,
                    op.attempts.last()
                ),
            )
            .about(op.key.clone()),
        );
        return;
    }
    if op.verdict() == Verdict::Fail {
        let code = op
            .attempts
            .last()
            .and_then(|a| a.code())
            .unwrap_or_default();
        if code != expected {
            out.push(
                Violation::new(
                    "bad input is refused with the specified code",
                    format!(
                        "op {} (key {}) expected {expected}, got {code}",
                        op.op, op.key
                    ),
                )
                .about(op.key.clone()),
            );
        }
    }
    if expected == "VALIDATION_ERROR" && keys.contains_key(&(op.user_id.clone(), op.key.clone())) {
        out.push(
            Violation::new(
                "bad input never changes state",
                format!("invalid charge key {} is stored", op.key),
            )
            .about(op.key.clone()),
        );
    }
}
