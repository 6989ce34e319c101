//! The end of a run: waiting for every acknowledged command to be final
//! (the drain), and the summary with the figures of the run.

use crate::history::waitlist::{Fate, WaitLog};
use crate::history::{OpRecord, Verdict};
use crate::{faults, rng, workload, Config};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Polls `GET /v1/requests/{id}` for every acknowledged command whose final
/// outcome the clients have not seen, until all are final or `deadline`;
/// then waits for the database to have no pending request either. Returns
/// the ids still pending.
pub async fn drain(
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
            .buffer_unordered(64)
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

/// How long after `last_fault` the last acknowledged command became final
/// (by the workers' `finished_at`), and how many acknowledged commands were
/// not final yet when the last fault ended. `None` if no acknowledged
/// command is final.
pub async fn time_to_final(
    pool: &PgPool,
    ops: &[OpRecord],
    last_fault: SystemTime,
) -> anyhow::Result<Option<(f64, i64)>> {
    let mut ids: Vec<String> = ops.iter().filter_map(OpRecord::request_id).collect();
    ids.sort();
    ids.dedup();
    let at = last_fault
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let row: (Option<f64>, i64) = sqlx::query_as(
        "select extract(epoch from max(finished_at))::float8,
                count(*) filter (where finished_at > to_timestamp($2))
           from requests where request_id::text = any($1) and status <> 'pending'",
    )
    .bind(&ids)
    .bind(at)
    .fetch_one(pool)
    .await?;
    Ok(row.0.map(|last| (last - at, row.1)))
}

/// The figures of a run beyond the database's own, for [`summarize`].
pub struct Figures<'a> {
    /// The fault counts.
    pub stats: &'a faults::Stats,
    /// Processes that exited by themselves, as `name: count`.
    pub exits: &'a [String],
    /// Milliseconds since the run's start.
    pub elapsed_ms: u64,
    /// From the end of the last fault to the end of the drain.
    pub drain: Duration,
    /// How long the clients sent new operations.
    pub workload: Duration,
    /// See [`time_to_final`].
    pub time_to_final: Option<(f64, i64)>,
    /// What the clients saw of the waitlist.
    pub waitlist: &'a WaitLog,
}

/// The printable summary: faults per kind, rates, outcomes, totals.
pub async fn summarize(
    cfg: &Config,
    ops: &[OpRecord],
    pool: &PgPool,
    fig: &Figures<'_>,
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
            let label = match a.status {
                Some(s) => s.to_string(),
                None => "transport error".to_owned(),
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
    let secs = fig.workload.as_secs_f64().max(0.001);
    let acknowledged = ops.iter().filter(|o| o.request_id().is_some()).count();
    let charged = ops
        .iter()
        .filter(|o| o.kind.name() == "charge" && o.verdict() == Verdict::Ok)
        .count();
    let mut s = String::new();
    s.push_str(&format!(
        "chaos summary: seed {} | {} users | run {:.0}s, fault phase {}s | drain finished {:.1}s after the last fault\n",
        cfg.seed,
        cfg.users,
        fig.elapsed_ms as f64 / 1000.0,
        cfg.plan.duration.as_secs(),
        fig.drain.as_secs_f64()
    ));
    s.push_str(&format!("  faults: {}\n", fig.stats.describe()));
    s.push_str(&format!(
        "  rate over {secs:.0}s of workload: {:.0} operations/s; {:.0} commands/s acknowledged (202, reserve and pay), {:.0} charges/s answered 200\n",
        ops.len() as f64 / secs,
        acknowledged as f64 / secs,
        charged as f64 / secs,
    ));
    match fig.time_to_final {
        Some((t, late)) => s.push_str(&format!(
            "  time to final after the last fault: {t:.1}s ({late} acknowledged commands became final after the last fault ended)\n"
        )),
        None => s.push_str("  time to final after the last fault: - (no acknowledged command is final)\n"),
    }
    if !fig.exits.is_empty() {
        s.push_str(&format!(
            "  processes that exited by themselves (restarted): {}\n",
            fig.exits.join(", ")
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
    s.push_str(&waitlist_lines(ops, pool, fig.waitlist).await?);
    Ok(s)
}

/// The waitlist's figures: joins by answer, places by end, offers seen and
/// paid by the clients, and the offers of the database.
async fn waitlist_lines(ops: &[OpRecord], pool: &PgPool, w: &WaitLog) -> anyhow::Result<String> {
    let mut joins: BTreeMap<String, usize> = BTreeMap::new();
    for j in &w.joins {
        let label = match (j.status, &j.code) {
            (Some(s), Some(code)) => format!("{s} {code}"),
            (Some(s), None) => s.to_string(),
            (None, _) => "no answer".to_owned(),
        };
        *joins.entry(label).or_default() += 1;
    }
    let mut fates: BTreeMap<String, usize> = BTreeMap::new();
    for p in &w.places {
        let fate = match p.fate {
            Fate::Offered { .. } => "offered",
            Fate::Left { .. } => "left",
            Fate::StillOn { .. } => "still on at the end",
            Fate::Unknown { .. } => "unknown",
        };
        *fates.entry(fate.to_owned()).or_default() += 1;
    }
    let request_of = |op: u64| {
        ops.iter()
            .find(|o| o.op == op)
            .and_then(OpRecord::request_id)
    };
    let mut all_ids: Vec<String> = w.pays.iter().filter_map(|p| request_of(p.op)).collect();
    let mut expired_ids: Vec<String> = w
        .pays
        .iter()
        .filter(|p| p.expired_token)
        .filter_map(|p| request_of(p.op))
        .collect();
    all_ids.sort();
    all_ids.dedup();
    expired_ids.sort();
    expired_ids.dedup();
    let paid: (i64, i64) = sqlx::query_as(
        "select count(*) filter (where request_id::text = any($1)),
                count(*) filter (where request_id::text = any($2))
           from requests where kind = 'pay' and status = 'succeeded'",
    )
    .bind(&all_ids)
    .bind(&expired_ids)
    .fetch_one(pool)
    .await?;
    let db: (i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "select count(*),
                count(*) filter (where payment_id is not null),
                count(*) filter (where status = 'refunded'),
                count(*) filter (where status = 'cancelled'),
                count(*) filter (where payment_id is null and (status = 'expired' or (status = 'held' and held_until <= now()))),
                count(*) filter (where status = 'held' and held_until > now()),
                (select count(*) from waitlist)
           from reservations where offer_seq is not null",
    )
    .fetch_one(pool)
    .await?;
    let list = |m: BTreeMap<_, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let seen_placed = w.offers.iter().filter(|o| o.place.is_some()).count();
    let expired_pays = w.pays.iter().filter(|p| p.expired_token).count();
    let mut s = format!(
        "  waitlist (clients): {} joins ({}); {} leaves; places: {}\n",
        w.joins.len(),
        list(joins),
        w.leaves.len(),
        list(fates),
    );
    s.push_str(&format!(
        "  waitlist (clients): {} offers seen ({seen_placed} ending a place); {} offer payments sent ({expired_pays} with an expired token), {} succeeded ({} with an expired token)\n",
        w.offers.len(),
        w.pays.len(),
        paid.0,
        paid.1,
    ));
    s.push_str(&format!(
        "  waitlist (database): {} offers made, {} paid ({} since refunded), {} cancelled, {} ran out, {} still held; {} on a list at the end\n",
        db.0, db.1, db.2, db.3, db.4, db.5, db.6
    ));
    Ok(s)
}
