//! The sale as the operator's dashboard would show it, read from Postgres
//! twice a second: seats left and held, users admitted and still in line,
//! checkouts made, people on waitlists. It also says when the sale is over:
//! every seat sold.

use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// One reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Seconds since the opening.
    pub at: f64,
    pub sold: i64,
    pub held: i64,
    pub waiting: i64,
    pub admitted: i64,
    pub checkouts: i64,
    pub waitlisted: i64,
}

/// How often the monitor reads.
const EVERY: Duration = Duration::from_millis(500);

/// Reads the sale of `concert` (of `seats` seats) from `opened` until every
/// seat is sold (then it sends `true` on `stop`) or `limit` passes; returns
/// the readings and the seconds from the opening to the sell-out, if it
/// came.
pub async fn watch_sale(
    pool: &PgPool,
    concert: i64,
    seats: i64,
    opened: Instant,
    limit: Duration,
    stop: watch::Sender<bool>,
) -> anyhow::Result<(Vec<Sample>, Option<f64>)> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "select
               (select count(*) filter (where s.sold) from seats s join performances p using (performance_id)
                 where p.concert_id = $1),
               (select count(*) filter (where not s.sold and s.held_until > now())
                  from seats s join performances p using (performance_id) where p.concert_id = $1),
               (select count(*) from queue_entries where concert_id = $1 and status = 'waiting'),
               (select count(*) from queue_entries where concert_id = $1 and activated_at is not null),
               (select count(*) from payments y join reservations r using (reservation_id)
                  join performances p on p.performance_id = r.performance_id where p.concert_id = $1),
               (select count(*) from waitlist w join performances p using (performance_id)
                 where p.concert_id = $1)",
        )
        .bind(concert)
        .fetch_one(pool)
        .await?;
        let now = Instant::now();
        let at = now.saturating_duration_since(opened).as_secs_f64();
        let (sold, held, waiting, admitted, checkouts, waitlisted) = row;
        samples.push(Sample {
            at,
            sold,
            held,
            waiting,
            admitted,
            checkouts,
            waitlisted,
        });
        if sold >= seats {
            let _ = stop.send(true);
            return Ok((samples, Some(at)));
        }
        if now >= opened + limit {
            let _ = stop.send(true);
            return Ok((samples, None));
        }
    }
}

/// The checks after the run that are the sale's own (the invariants of
/// every run are `testkit::invariants`): admission followed the queue.
/// Returns the evidence of each broken check, by name.
pub async fn admission_order(pool: &PgPool, concert: i64) -> anyhow::Result<Vec<String>> {
    // Entries are admitted earliest place first: along the line's order,
    // no entry was admitted before one ahead of it that was admitted too.
    let rows: Vec<String> = sqlx::query_scalar(
        "select row_to_json(t)::text from (
             select seq, activated_at, max(activated_at) over (order by seq rows between unbounded preceding
                                                               and 1 preceding) as latest_ahead
               from queue_entries where concert_id = $1 and activated_at is not null) t
          where latest_ahead > activated_at limit 20",
    )
    .bind(concert)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| format!("admitted before an entry ahead of it: {r}"))
        .collect())
}
