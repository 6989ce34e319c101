-- Cancellation (SPEC rule 10): a hold can be released and a paid seat
-- refunded before the cutoff, by a `cancel` command decided by the worker.
-- A released hold reads `cancelled`; a refunded seat's reservation reads
-- `refunded`, its payment keeps its row and is marked refunded, and the
-- price goes back to the balance as a `refund` ledger entry (one per
-- reservation: its reference is the reservation id). The seat is free again.
alter table ledger drop constraint ledger_kind_check,
    add constraint ledger_kind_check check (kind in ('charge', 'payment', 'refund'));
alter table reservations drop constraint reservations_status_check,
    add constraint reservations_status_check
        check (status in ('held', 'paid', 'expired', 'cancelled', 'refunded'));
alter table requests drop constraint requests_kind_check,
    add constraint requests_kind_check check (kind in ('reserve', 'pay', 'cancel'));
-- What of the payment was given back, and when it last was.
alter table payments
    add column refunded    bigint not null default 0 check (refunded >= 0),
    add column refunded_at timestamptz,
    add constraint payments_refund_within_amount check (refunded <= amount);
