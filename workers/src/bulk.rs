//! Deciding a run of reserve commands with a handful of statements instead of
//! several round trips per command: lock and read everything the run touches,
//! decide each command in order against that state with the domain rules
//! (updating it as holds are taken), then write all effects in bulk.

use crate::apply::Decision;
use chrono::{DateTime, Utc};
use domain::rules::{decide_reserve, SeatState};
use domain::{Command, CommandEnvelope, RejectReason, ReservationId};
use serde_json::json;
use sqlx::{Postgres, Transaction};
use std::collections::{BTreeSet, HashMap, HashSet};
use uuid::Uuid;

use crate::apply::Rules;

struct Seat {
    state: SeatState,
    reservation: Option<Uuid>,
    price: i64,
}

/// Decides `run` (reserve commands whose ids are fresh and whose tokens are
/// active), in order, and writes their effects. Returns one decision per
/// command.
pub(crate) async fn reserve_run(
    tx: &mut Transaction<'_, Postgres>,
    rules: Rules,
    now: DateTime<Utc>,
    run: &[&CommandEnvelope],
) -> Result<Vec<Decision>, sqlx::Error> {
    let keys: BTreeSet<(i64, i16)> = run
        .iter()
        .filter_map(|env| match env.command {
            Command::Reserve {
                performance_id,
                seat_number,
            } => Some((performance_id.0, seat_number.get())),
            Command::Pay { .. } => None,
        })
        .collect();
    let user_ids: BTreeSet<Uuid> = run.iter().map(|env| env.user_id.0).collect();
    let user_ids: Vec<Uuid> = user_ids.into_iter().collect();

    // Users first, in a fixed order, then seats in a fixed order: the same
    // order a payment takes, so concurrent batches queue instead of
    // deadlocking. Locking the users serialises the hold limit across the
    // partitions a user's holds arrive on.
    let users: HashSet<Uuid> = sqlx::query_scalar(
        "select user_id from users where user_id = any($1) order by user_id for update",
    )
    .bind(&user_ids)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    let (performances, numbers): (Vec<i64>, Vec<i16>) = keys.iter().copied().unzip();
    type SeatRow = (i64, i16, bool, Option<DateTime<Utc>>, Option<Uuid>, i64);
    let rows: Vec<SeatRow> = sqlx::query_as(
        "select performance_id, seat_number, sold, held_until, reservation_id, price from seats
          where (performance_id, seat_number) in
                (select * from unnest($1::bigint[], $2::smallint[]))
          order by performance_id, seat_number
            for update",
    )
    .bind(&performances)
    .bind(&numbers)
    .fetch_all(&mut **tx)
    .await?;
    let mut seats: HashMap<(i64, i16), Seat> = rows
        .into_iter()
        .map(|(p, n, sold, held_until, reservation, price)| {
            (
                (p, n),
                Seat {
                    state: SeatState { sold, held_until },
                    reservation,
                    price,
                },
            )
        })
        .collect();
    let mut live_holds: HashMap<Uuid, u32> = sqlx::query_as::<_, (Uuid, i64)>(
        "select user_id, count(*) from reservations
          where user_id = any($1) and status = 'held' and held_until > $2
          group by user_id",
    )
    .bind(&user_ids)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|(user, n)| (user, u32::try_from(n).unwrap_or(u32::MAX)))
    .collect();

    let mut decisions = Vec::with_capacity(run.len());
    let mut lapsed: Vec<Uuid> = Vec::new();
    let mut new_holds = NewHolds::default();
    for env in run {
        let Command::Reserve {
            performance_id,
            seat_number,
        } = env.command
        else {
            decisions.push(Decision::Rejected(RejectReason::InvalidCommand));
            continue;
        };
        let key = (performance_id.0, seat_number.get());
        let (Some(seat), true) = (seats.get_mut(&key), users.contains(&env.user_id.0)) else {
            decisions.push(Decision::Rejected(RejectReason::SeatNotFound));
            continue;
        };
        let holds = live_holds.entry(env.user_id.0).or_default();
        let until = match decide_reserve(
            seat.state,
            *holds,
            rules.max_holds_per_user,
            now,
            rules.hold_ttl,
        ) {
            Ok(until) => until,
            Err(reason) => {
                decisions.push(Decision::Rejected(reason));
                continue;
            }
        };
        // The lapsed hold this one replaces reads expired from now on.
        lapsed.extend(seat.reservation);
        let reservation = ReservationId::new();
        seat.state.held_until = Some(until);
        seat.reservation = Some(reservation.0);
        *holds += 1;
        new_holds.push(reservation.0, env.user_id.0, key, seat.price, until);
        decisions.push(Decision::Succeeded(json!({
            "reservation_id": reservation,
            "performance_id": performance_id,
            "seat_number": seat_number,
            "price": seat.price,
            "held_until": until,
        })));
    }
    if !lapsed.is_empty() {
        sqlx::query("update reservations set status = 'expired' where reservation_id = any($1) and status = 'held'")
            .bind(&lapsed)
            .execute(&mut **tx)
            .await?;
    }
    new_holds.write(tx).await?;
    Ok(decisions)
}

/// The holds a run takes, column by column for `unnest`.
#[derive(Default)]
struct NewHolds {
    ids: Vec<Uuid>,
    users: Vec<Uuid>,
    performances: Vec<i64>,
    numbers: Vec<i16>,
    prices: Vec<i64>,
    until: Vec<DateTime<Utc>>,
}

impl NewHolds {
    fn push(
        &mut self,
        id: Uuid,
        user: Uuid,
        (performance, number): (i64, i16),
        price: i64,
        until: DateTime<Utc>,
    ) {
        self.ids.push(id);
        self.users.push(user);
        self.performances.push(performance);
        self.numbers.push(number);
        self.prices.push(price);
        self.until.push(until);
    }

    async fn write(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "insert into reservations (reservation_id, user_id, performance_id, seat_number, price, status, held_until)
             select id, u, p, n, pr, 'held', h
               from unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::smallint[], $5::bigint[], $6::timestamptz[])
                    as t(id, u, p, n, pr, h)",
        )
        .bind(&self.ids)
        .bind(&self.users)
        .bind(&self.performances)
        .bind(&self.numbers)
        .bind(&self.prices)
        .bind(&self.until)
        .execute(&mut **tx)
        .await?;
        // A seat appears at most once here: a second hold of it in the same
        // run was refused, since the first made it held.
        sqlx::query(
            "update seats s set reservation_id = t.id, held_until = t.h
               from unnest($1::uuid[], $2::bigint[], $3::smallint[], $4::timestamptz[]) as t(id, p, n, h)
              where s.performance_id = t.p and s.seat_number = t.n and not s.sold",
        )
        .bind(&self.ids)
        .bind(&self.performances)
        .bind(&self.numbers)
        .bind(&self.until)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
