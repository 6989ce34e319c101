-- Several holds paid together (SPEC rule 5): one payment, several
-- reservations. Each paid (or since refunded) reservation names its payment;
-- `payments.reservation_id` keeps the first of them (the payment's result
-- names it as `reservation_id`), so it is no longer unique.
alter table reservations add column payment_id uuid references payments;
update reservations r set payment_id = p.payment_id
  from payments p where p.reservation_id = r.reservation_id;
alter table payments drop constraint payments_reservation_id_key;
create index payments_by_reservation on payments (reservation_id);
create index reservations_by_payment on reservations (payment_id) where payment_id is not null;
-- The ticket limit (MAX_TICKETS_PER_USER) counts a user's paid seats of a
-- performance.
create index reservations_paid_by_user on reservations (user_id, performance_id) where status = 'paid';
