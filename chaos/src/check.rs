//! The checker: reads the private Postgres directly after the faults stopped
//! and every acknowledged command is final, and compares it with the
//! history.

use crate::history::{Observed, OpKind, OpRecord, Verdict};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};

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

/// Invariants that are "this query returns no rows"; each row is evidence.
const EMPTY_QUERIES: &[(&str, &str)] = &[
    (
        "no seat sold twice (paid reservations per seat)",
        "select performance_id, seat_number, count(*) as paid, array_agg(reservation_id) as reservations
           from reservations where status = 'paid'
          group by 1, 2 having count(*) > 1",
    ),
    (
        "no seat sold twice (payments per seat)",
        "select r.performance_id, r.seat_number, count(*) as payments, array_agg(p.payment_id) as payment_ids
           from payments p join reservations r using (reservation_id)
          group by 1, 2 having count(*) > 1",
    ),
    (
        "a sold seat is the seat of its one paid reservation",
        "select s.performance_id, s.seat_number, s.sold, s.reservation_id, r.reservation_id as paid_reservation
           from seats s
           left join reservations r
             on r.performance_id = s.performance_id and r.seat_number = s.seat_number
            and r.status = 'paid'
          where s.sold is distinct from (r.reservation_id is not null)
             or (s.sold and s.reservation_id is distinct from r.reservation_id)",
    ),
    (
        "a reservation is paid exactly when it has a payment",
        "select r.reservation_id, r.status, p.payment_id
           from reservations r full join payments p using (reservation_id)
          where (r.status = 'paid') is distinct from (p.payment_id is not null)",
    ),
    (
        "a payment is the reservation's price, paid by its holder",
        "select p.payment_id, p.amount, r.price, p.user_id, r.user_id as holder
           from payments p join reservations r using (reservation_id)
          where p.amount <> r.price or p.user_id <> r.user_id",
    ),
    (
        "no hold is taken on a seat after it was sold",
        "select r.reservation_id, r.created_at, p.payment_id, p.paid_at, r.performance_id, r.seat_number
           from payments p
           join reservations sold using (reservation_id)
           join reservations r
             on r.performance_id = sold.performance_id and r.seat_number = sold.seat_number
          where r.reservation_id <> sold.reservation_id and r.created_at > p.paid_at",
    ),
    (
        "at most one live hold per seat",
        "select performance_id, seat_number, count(*) as live_holds, array_agg(reservation_id) as reservations
           from reservations where status = 'held' and held_until > now()
          group by 1, 2 having count(*) > 1",
    ),
    (
        "no live hold on a sold seat",
        "select r.reservation_id, r.performance_id, r.seat_number, r.held_until
           from reservations r join seats s using (performance_id, seat_number)
          where r.status = 'held' and r.held_until > now() and s.sold",
    ),
    (
        "money conserved: sum(balances) + sum(payments) = sum(charges)",
        "select * from (
             select (select coalesce(sum(balance), 0) from users)::bigint as balances,
                    (select coalesce(sum(amount), 0) from payments)::bigint as payments,
                    (select coalesce(sum(amount), 0) from ledger where kind = 'charge')::bigint as charges) t
          where balances + payments <> charges",
    ),
    (
        "every balance is the sum of the user's ledger",
        "select u.user_id, u.balance, coalesce(sum(l.amount), 0)::bigint as ledger_sum
           from users u left join ledger l using (user_id)
          group by u.user_id, u.balance
         having u.balance <> coalesce(sum(l.amount), 0)",
    ),
    (
        "no negative balance",
        "select user_id, balance from users where balance < 0",
    ),
    (
        "each ledger row's balance_after is the running sum (no lost update)",
        "select * from (
             select user_id, entry_id, kind, amount, balance_after,
                    sum(amount) over (partition by user_id order by entry_id) as running
               from ledger) t
          where running <> balance_after",
    ),
    (
        "every payment has its ledger row and every payment ledger row its payment",
        "select p.payment_id, p.amount, l.entry_id, l.amount as ledger_amount
           from payments p
           full join (select * from ledger where kind = 'payment') l on l.reference = p.payment_id
          where p.payment_id is null or l.entry_id is null or l.amount <> -p.amount
             or l.user_id <> p.user_id",
    ),
    (
        "every keyed charge is in the ledger once (ledger charges = idempotency keys per user)",
        "select coalesce(c.user_id, k.user_id) as user_id, c.charges, k.keys
           from (select user_id, count(*) as charges from ledger where kind = 'charge' group by 1) c
           full join (select user_id, count(*) as keys from idempotency_keys group by 1) k using (user_id)
          where c.charges is distinct from k.keys",
    ),
    (
        "no effect applied twice: one applied_commands row per command id",
        "select command_id, count(*) from applied_commands group by 1 having count(*) > 1",
    ),
    (
        "every final request was applied once and every applied command has its request",
        "select q.request_id, q.status, a.command_id
           from requests q full join applied_commands a on a.command_id = q.request_id
          where (q.status is distinct from 'pending') is distinct from (a.command_id is not null)",
    ),
    (
        "each reservation created by exactly one succeeded reserve request",
        "select r.reservation_id, count(q.request_id) as requests, array_agg(q.request_id) as request_ids
           from reservations r
           left join requests q
             on q.kind = 'reserve' and q.status = 'succeeded'
            and q.result ->> 'reservation_id' = r.reservation_id::text
          group by r.reservation_id having count(q.request_id) <> 1",
    ),
    (
        "every succeeded reserve request has its reservation",
        "select q.request_id, q.result from requests q
          where q.kind = 'reserve' and q.status = 'succeeded'
            and not exists (select 1 from reservations r
                             where r.reservation_id::text = q.result ->> 'reservation_id'
                               and r.user_id = q.user_id)",
    ),
    (
        "each payment made by exactly one succeeded pay request",
        "select p.payment_id, count(q.request_id) as requests, array_agg(q.request_id) as request_ids
           from payments p
           left join requests q
             on q.kind = 'pay' and q.status = 'succeeded'
            and q.result ->> 'payment_id' = p.payment_id::text
          group by p.payment_id having count(q.request_id) <> 1",
    ),
    (
        "every succeeded pay request has its payment",
        "select q.request_id, q.result from requests q
          where q.kind = 'pay' and q.status = 'succeeded'
            and not exists (select 1 from payments p
                             where p.payment_id::text = q.result ->> 'payment_id'
                               and p.reservation_id::text = q.result ->> 'reservation_id'
                               and p.user_id = q.user_id)",
    ),
    (
        "a final request has a reason exactly when rejected",
        "select request_id, status, reason from requests
          where (status = 'rejected') <> (reason is not null) and status <> 'pending'",
    ),
];

async fn rows(pool: &PgPool, sql: &str) -> anyhow::Result<Vec<String>> {
    let wrapped = format!("select row_to_json(t)::text from ({sql}) t limit 50");
    Ok(sqlx::query_scalar(&wrapped).fetch_all(pool).await?)
}

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
}

/// Every invariant; an empty list means the run passed.
pub async fn check(pool: &PgPool, input: &Input<'_>) -> anyhow::Result<Vec<Violation>> {
    let mut out = Vec::new();
    for (invariant, sql) in EMPTY_QUERIES {
        for row in rows(pool, sql).await? {
            out.push(Violation::new(invariant, format!("SQL row: {row}")).about(needle_of(&row)));
        }
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
    Ok(out)
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
                    .is_some_and(|r| r.3 == "paid");
                if !ok {
                    out.push(
                        Violation::new(
                            "history vs DB: a succeeded payment has its payment row and a paid reservation",
                            format!("request {id}: result {result}"),
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
    for (rid, user) in input.seen_paid {
        if reservations.get(rid).is_none_or(|r| r.3 != "paid") {
            out.push(
                Violation::new(
                    "history vs DB: a reservation read as paid stays paid",
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
