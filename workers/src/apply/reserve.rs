//! Deciding a run of reserve commands with a handful of statements instead of
//! several round trips per command: lock and read everything the run touches,
//! decide each command in order against that state with the domain rules
//! (updating it as holds are taken), then write all effects in bulk.

use super::{finished, Outcome, Rules};
use chrono::{DateTime, Utc};
use domain::rules::{decide_reserve, SeatState};
use domain::waitlist::goes_to_waitlist;
use domain::wire::{RequestResult, ReserveResult};
use domain::{
    Command, CommandEnvelope, ConcertId, Decision, PerformanceId, RejectReason, RequestKind,
    ReservationId,
};
use std::collections::{HashMap, HashSet};
use store::holds::NewHolds;
use store::requests::Finished;
use store::waitlist::FreedSeat;
use store::PgConnection;
use uuid::Uuid;

/// Consecutive reserve commands of a batch, waiting to be decided together:
/// their position in the batch, their envelope and the concert their token
/// is active for.
#[derive(Default)]
pub(super) struct Run<'a>(Vec<(usize, &'a CommandEnvelope, ConcertId)>);

impl<'a> Run<'a> {
    pub(super) fn push(&mut self, position: usize, env: &'a CommandEnvelope, concert: ConcertId) {
        self.0.push((position, env, concert));
    }

    /// Decides the pending run, if any, and records each decision.
    pub(super) async fn flush(
        &mut self,
        conn: &mut PgConnection,
        rules: Rules,
        now: DateTime<Utc>,
        records: &mut Vec<Finished>,
        outcomes: &mut [Outcome],
    ) -> Result<(), store::Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        let commands: Vec<(&CommandEnvelope, ConcertId)> = self
            .0
            .iter()
            .map(|(_, env, concert)| (*env, *concert))
            .collect();
        let decisions = decide(conn, rules, now, &commands).await?;
        for ((i, env, _), decision) in self.0.drain(..).zip(decisions) {
            outcomes[i] = Outcome::of(RequestKind::Reserve, &decision);
            records.push(finished(env, decision));
        }
        Ok(())
    }
}

struct Seat {
    state: SeatState,
    reservation: Option<Uuid>,
    price: i64,
    concert: ConcertId,
    /// Someone is on its performance's waitlist (as far as the run knows).
    waitlisted: bool,
}

/// Decides `run` (reserve commands whose ids are fresh, each with the
/// concert its token is active for), in order, and writes their effects.
/// Returns one decision per command.
async fn decide(
    conn: &mut PgConnection,
    rules: Rules,
    now: DateTime<Utc>,
    run: &[(&CommandEnvelope, ConcertId)],
) -> Result<Vec<Decision>, store::Error> {
    let keys: Vec<(i64, i16)> = run
        .iter()
        .filter_map(|(env, _)| match env.command {
            Command::Reserve {
                performance_id,
                seat_number,
            } => Some((performance_id.0, seat_number.get())),
            Command::Pay { .. } | Command::Cancel { .. } => None,
        })
        .collect();
    let user_ids: Vec<Uuid> = run.iter().map(|(env, _)| env.user_id.0).collect();

    // Users first, in a fixed order, then seats in a fixed order: the same
    // order a payment takes, so concurrent batches queue instead of
    // deadlocking. Locking the users serialises the hold limit across the
    // partitions a user's holds arrive on.
    let users: HashSet<Uuid> = store::balances::lock_many(conn, &user_ids).await?;
    let mut seats: HashMap<(i64, i16), Seat> = store::holds::lock_seats(conn, &keys)
        .await?
        .into_iter()
        .map(|s| {
            let seat = Seat {
                state: SeatState {
                    sold: s.sold,
                    held_until: s.held_until,
                },
                reservation: s.reservation_id,
                price: s.price,
                concert: s.concert_id,
                waitlisted: s.waitlisted,
            };
            ((s.performance_id, s.seat_number), seat)
        })
        .collect();
    let mut live_holds = store::holds::live_hold_counts(conn, &user_ids, now).await?;

    let mut decisions = Vec::with_capacity(run.len());
    let mut lapsed: Vec<Uuid> = Vec::new();
    let mut new_holds = NewHolds::default();
    for (env, concert) in run {
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
        // The worker re-checks what the API checked: the token opens only
        // its own concert.
        if seat.concert != *concert {
            decisions.push(Decision::Rejected(RejectReason::TokenNotActive));
            continue;
        }
        // A free seat goes to the first on its waitlist before anyone else
        // (rule 11): the reserve then finds it held.
        if goes_to_waitlist(seat.state, seat.waitlisted, now) {
            offer(conn, rules, now, key, seat).await?;
        }
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
        new_holds.push(reservation, env.user_id, key, seat.price, until);
        decisions.push(Decision::Succeeded(RequestResult::Reserve(ReserveResult {
            reservation_id: reservation.0,
            performance_id: performance_id.0,
            seat_number: seat_number.get(),
            price: seat.price,
            held_until: until,
        })));
    }
    store::holds::expire(conn, &lapsed).await?;
    new_holds.write(conn).await?;
    Ok(decisions)
}

/// Offers the free `seat` at `key` to the first on its performance's
/// waitlist and updates what the run knows of it: held by the offer, or no
/// longer waitlisted if the list has emptied meanwhile.
async fn offer(
    conn: &mut PgConnection,
    rules: Rules,
    now: DateTime<Utc>,
    (performance, seat_number): (i64, i16),
    seat: &mut Seat,
) -> Result<(), store::Error> {
    let freed = FreedSeat {
        performance_id: PerformanceId(performance),
        seat_number,
        price: seat.price,
        lapsed: seat.reservation,
    };
    let offers = store::waitlist::offer_freed(conn, &[freed], now, rules.offer_ttl).await?;
    match offers.first() {
        Some(made) => {
            seat.state.held_until = Some(made.held_until);
            seat.reservation = Some(made.reservation_id.0);
        }
        None => seat.waitlisted = false,
    }
    Ok(())
}
