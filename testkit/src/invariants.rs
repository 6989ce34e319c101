//! What must hold in the database after any workload, once every command is
//! final (SPEC rules 5 to 9 and 11): money is conserved, no seat is sold
//! twice, every command has one effect, the waitlist is served in order. The API's tests and the chaos run check the
//! same queries, so an invariant is stated once.
//!
//! Each invariant is a query that returns no rows while it holds; every row
//! it returns is evidence, kept as JSON text.

use sqlx::PgPool;
use std::fmt;

/// One invariant: its name, as reports print it, and the query whose rows
/// break it.
#[derive(Debug, Clone, Copy)]
pub struct Invariant {
    /// What holds, in words.
    pub name: &'static str,
    /// Returns the rows that break it; none while it holds.
    pub sql: &'static str,
}

/// One broken invariant and one row of evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The [`Invariant::name`] broken.
    pub invariant: &'static str,
    /// One row of evidence, as JSON text.
    pub row: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] SQL row: {}", self.invariant, self.row)
    }
}

/// Rule 6 and the ledger: charges become balances and payments, refunds
/// turn payments back into balances, nothing else.
pub const MONEY: &[Invariant] = &[
    Invariant {
        name: "money conserved: sum(balances) + sum(payments) - sum(refunds) = sum(charges)",
        sql: "select * from (
             select (select coalesce(sum(balance), 0) from users)::bigint as balances,
                    (select coalesce(sum(amount), 0) from payments)::bigint as payments,
                    (select coalesce(sum(refunded), 0) from payments)::bigint as refunds,
                    (select coalesce(sum(amount), 0) from ledger where kind = 'charge')::bigint as charges) t
          where balances + payments - refunds <> charges",
    },
    Invariant {
        name: "every balance is the sum of the user's ledger",
        sql: "select u.user_id, u.balance, coalesce(sum(l.amount), 0)::bigint as ledger_sum
           from users u left join ledger l using (user_id)
          group by u.user_id, u.balance
         having u.balance <> coalesce(sum(l.amount), 0)",
    },
    Invariant {
        name: "no negative balance",
        sql: "select user_id, balance from users where balance < 0",
    },
    Invariant {
        name: "no ledger entry leaves a balance below zero",
        sql: "select user_id, entry_id, kind, amount, balance_after from ledger where balance_after < 0",
    },
    Invariant {
        name: "each ledger row's balance_after is the running sum (no lost update)",
        sql: "select * from (
             select user_id, entry_id, kind, amount, balance_after,
                    sum(amount) over (partition by user_id order by entry_id) as running
               from ledger) t
          where running <> balance_after",
    },
    Invariant {
        name: "every payment has its ledger row and every payment ledger row its payment",
        sql: "select p.payment_id, p.amount, l.entry_id, l.amount as ledger_amount
           from payments p
           full join (select * from ledger where kind = 'payment') l on l.reference = p.payment_id
          where p.payment_id is null or l.entry_id is null or l.amount <> -p.amount
             or l.user_id <> p.user_id",
    },
    Invariant {
        name: "every refunded reservation has its refund ledger row of its price, and every refund row its refunded reservation",
        sql: "select r.reservation_id, r.status, r.price, l.entry_id, l.amount as ledger_amount
           from (select * from ledger where kind = 'refund') l
           full join (select * from reservations where status = 'refunded') r on r.reservation_id = l.reference
          where l.entry_id is null or r.reservation_id is null
             or l.amount <> r.price or l.user_id <> r.user_id",
    },
    Invariant {
        name: "a payment's refunded amount is the price of its refunded reservations",
        sql: "select p.payment_id, p.refunded, coalesce(sum(r.price) filter (where r.status = 'refunded'), 0) as refunded_prices
           from payments p left join reservations r on r.payment_id = p.payment_id
          group by p.payment_id, p.refunded
         having p.refunded <> coalesce(sum(r.price) filter (where r.status = 'refunded'), 0)",
    },
];

/// Rules 3 to 5: a seat is held by one user at a time and sold once, to the
/// holder, at its price.
pub const SEATS: &[Invariant] = &[
    Invariant {
        name: "no seat sold twice (paid reservations per seat)",
        sql: "select performance_id, seat_number, count(*) as paid, array_agg(reservation_id) as reservations
           from reservations where status = 'paid'
          group by 1, 2 having count(*) > 1",
    },
    Invariant {
        name: "no seat sold twice (payments not refunded per seat)",
        sql: "select r.performance_id, r.seat_number, count(*) as payments, array_agg(p.payment_id) as payment_ids
           from payments p join reservations r on r.payment_id = p.payment_id
          where r.status = 'paid'
          group by 1, 2 having count(*) > 1",
    },
    Invariant {
        name: "a sold seat is the seat of its one paid reservation",
        sql: "select s.performance_id, s.seat_number, s.sold, s.reservation_id, r.reservation_id as paid_reservation
           from seats s
           left join reservations r
             on r.performance_id = s.performance_id and r.seat_number = s.seat_number
            and r.status = 'paid'
          where s.sold is distinct from (r.reservation_id is not null)
             or (s.sold and s.reservation_id is distinct from r.reservation_id)",
    },
    Invariant {
        name: "a reservation is paid (or refunded) exactly when it has a payment, and every payment pays its first reservation",
        sql: "select r.reservation_id, r.status, r.payment_id, p.payment_id as payment
           from reservations r full join payments p on p.payment_id = r.payment_id
          where (r.status in ('paid', 'refunded')) is distinct from (p.payment_id is not null)
             or (p.payment_id is not null and not exists (
                   select 1 from reservations f
                    where f.reservation_id = p.reservation_id and f.payment_id = p.payment_id))",
    },
    Invariant {
        name: "a payment is the sum of its reservations' prices, paid by their holder",
        sql: "select p.payment_id, p.amount, sum(r.price) as prices, p.user_id, array_agg(r.user_id) as holders
           from payments p join reservations r on r.payment_id = p.payment_id
          group by p.payment_id, p.amount, p.user_id
         having p.amount <> sum(r.price) or bool_or(r.user_id <> p.user_id)",
    },
    Invariant {
        name: "no hold is taken on a seat while it is sold",
        // Each seat's own refund (its ledger row): a checkout's payment
        // may give its seats back at different times.
        sql: "select r.reservation_id, r.created_at, p.payment_id, p.paid_at, refund.created_at as refunded_at,
                    r.performance_id, r.seat_number
           from payments p
           join reservations sold on sold.payment_id = p.payment_id
           left join ledger refund on refund.kind = 'refund' and refund.reference = sold.reservation_id
           join reservations r
             on r.performance_id = sold.performance_id and r.seat_number = sold.seat_number
          where r.reservation_id <> sold.reservation_id and r.created_at > p.paid_at
            and (refund.entry_id is null or r.created_at < refund.created_at)",
    },
    Invariant {
        name: "at most one live hold per seat",
        sql: "select performance_id, seat_number, count(*) as live_holds, array_agg(reservation_id) as reservations
           from reservations where status = 'held' and held_until > now()
          group by 1, 2 having count(*) > 1",
    },
    Invariant {
        name: "no live hold on a sold seat",
        sql: "select r.reservation_id, r.performance_id, r.seat_number, r.held_until
           from reservations r join seats s using (performance_id, seat_number)
          where r.status = 'held' and r.held_until > now() and s.sold",
    },
];

/// Rules 7 to 9: every command is applied once, and its request records
/// exactly the effect it had.
pub const COMMANDS: &[Invariant] = &[
    Invariant {
        name: "no effect applied twice: one applied_commands row per command id",
        sql: "select command_id, count(*) from applied_commands group by 1 having count(*) > 1",
    },
    Invariant {
        name: "every final request was applied once and every applied command has its request",
        sql: "select q.request_id, q.status, a.command_id
           from requests q full join applied_commands a on a.command_id = q.request_id
          where (q.status is distinct from 'pending') is distinct from (a.command_id is not null)",
    },
    Invariant {
        name: "each reservation but an offer created by exactly one succeeded reserve request, an offer by none",
        sql: "select r.reservation_id, r.offer_seq, count(q.request_id) as requests, array_agg(q.request_id) as request_ids
           from reservations r
           left join requests q
             on q.kind = 'reserve' and q.status = 'succeeded'
            and q.result ->> 'reservation_id' = r.reservation_id::text
          group by r.reservation_id
         having count(q.request_id) <> case when r.offer_seq is null then 1 else 0 end",
    },
    Invariant {
        name: "every succeeded reserve request has its reservation",
        sql: "select q.request_id, q.result from requests q
          where q.kind = 'reserve' and q.status = 'succeeded'
            and not exists (select 1 from reservations r
                             where r.reservation_id::text = q.result ->> 'reservation_id'
                               and r.user_id = q.user_id)",
    },
    Invariant {
        name: "each payment made by exactly one succeeded pay request",
        sql: "select p.payment_id, count(q.request_id) as requests, array_agg(q.request_id) as request_ids
           from payments p
           left join requests q
             on q.kind = 'pay' and q.status = 'succeeded'
            and q.result ->> 'payment_id' = p.payment_id::text
          group by p.payment_id having count(q.request_id) <> 1",
    },
    Invariant {
        name: "every succeeded pay request has its payment",
        sql: "select q.request_id, q.result from requests q
          where q.kind = 'pay' and q.status = 'succeeded'
            and not exists (select 1 from payments p
                             where p.payment_id::text = q.result ->> 'payment_id'
                               and p.reservation_id::text = q.result ->> 'reservation_id'
                               and p.user_id = q.user_id)",
    },
    Invariant {
        name: "each refund made by exactly one succeeded cancel request",
        sql: "select l.reference, count(q.request_id) as requests, array_agg(q.request_id) as request_ids
           from ledger l
           left join requests q
             on q.kind = 'cancel' and q.status = 'succeeded' and q.result ->> 'status' = 'refunded'
            and q.result ->> 'reservation_id' = l.reference::text
          where l.kind = 'refund'
          group by l.reference having count(q.request_id) <> 1",
    },
    Invariant {
        name: "a final request has a reason exactly when rejected",
        sql: "select request_id, status, reason from requests
          where (status = 'rejected') <> (reason is not null) and status <> 'pending'",
    },
];

/// Rule 11: the waitlist is served in order. Offers are ordered by the
/// taking that made them (`offer_order`; places taken together share it)
/// and, within one, by place.
pub const WAITLIST: &[Invariant] = &[
    Invariant {
        name: "offers follow the waitlist: each performance's offers were made in the order of its places",
        sql: "select * from (
             select performance_id, reservation_id, user_id, offer_seq, offer_order,
                    lag(offer_seq) over w as previous_seq, lag(offer_order) over w as previous_order
               from reservations where offer_seq is not null
             window w as (partition by performance_id order by offer_order, offer_seq)) t
          where previous_seq >= offer_seq",
    },
    Invariant {
        name: "nobody still waiting was passed over: no offer went to a later place",
        sql: "select w.performance_id, w.user_id, w.seq, r.reservation_id, r.offer_seq
           from waitlist w
           join reservations r on r.performance_id = w.performance_id and r.offer_seq > w.seq",
    },
    Invariant {
        name: "an offer is made once per place",
        sql: "select performance_id, offer_seq, count(*) from reservations
          where offer_seq is not null group by performance_id, offer_seq having count(*) > 1",
    },
];

/// How many rows of evidence to keep per invariant.
const EVIDENCE_ROWS: usize = 50;

/// Every violation of `invariants`, at most [`EVIDENCE_ROWS`] rows each; an
/// empty list means they all hold.
pub async fn check(pool: &PgPool, invariants: &[Invariant]) -> sqlx::Result<Vec<Violation>> {
    let mut out = Vec::new();
    for invariant in invariants {
        let wrapped = format!(
            "select row_to_json(t)::text from ({}) t limit {EVIDENCE_ROWS}",
            invariant.sql
        );
        let rows: Vec<String> = sqlx::query_scalar(&wrapped).fetch_all(pool).await?;
        out.extend(rows.into_iter().map(|row| Violation {
            invariant: invariant.name,
            row,
        }));
    }
    Ok(out)
}

/// The violations of [`MONEY`]: empty when money is conserved.
pub async fn money_is_conserved(pool: &PgPool) -> sqlx::Result<Vec<Violation>> {
    check(pool, MONEY).await
}

/// The violations of [`SEATS`]: empty when no seat is sold twice and every
/// sold seat has exactly one payment.
pub async fn seats_are_sold_once(pool: &PgPool) -> sqlx::Result<Vec<Violation>> {
    check(pool, SEATS).await
}

/// The violations of [`COMMANDS`]: empty when every command had exactly
/// the one effect its request records.
pub async fn commands_are_applied_once(pool: &PgPool) -> sqlx::Result<Vec<Violation>> {
    check(pool, COMMANDS).await
}

/// The violations of [`WAITLIST`]: empty when every offer went to the
/// first on its list.
pub async fn waitlist_is_served_in_order(pool: &PgPool) -> sqlx::Result<Vec<Violation>> {
    check(pool, WAITLIST).await
}

/// The violations of every invariant here ([`MONEY`], [`SEATS`],
/// [`COMMANDS`], [`WAITLIST`]): what a test or the chaos run checks after
/// its workload.
pub async fn all(pool: &PgPool) -> sqlx::Result<Vec<Violation>> {
    let mut out = money_is_conserved(pool).await?;
    out.extend(seats_are_sold_once(pool).await?);
    out.extend(commands_are_applied_once(pool).await?);
    out.extend(waitlist_is_served_in_order(pool).await?);
    Ok(out)
}

/// For tests: fails, listing every violation, unless `found` is an empty
/// list.
pub fn assert_holds(found: sqlx::Result<Vec<Violation>>) {
    match found {
        Ok(violations) if violations.is_empty() => {}
        Ok(violations) => {
            let list: Vec<String> = violations.iter().map(Violation::to_string).collect();
            panic!("broken invariants:\n{}", list.join("\n"));
        }
        Err(e) => panic!("checking invariants: {e}"),
    }
}
