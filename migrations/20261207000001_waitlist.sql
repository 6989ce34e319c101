-- The waitlist of a sold-out performance (SPEC rule 11): one place per user
-- and performance, in arrival order (`seq`).
create table waitlist (
    performance_id bigint not null references performances,
    user_id        uuid not null references users,
    seq            bigint generated always as identity,
    joined_at      timestamptz not null default now(),
    primary key (performance_id, user_id)
);
-- The first on a performance's list is one index probe away.
create unique index waitlist_in_order on waitlist (performance_id, seq);

-- An offer is a hold made for the first on the list when a seat was freed.
-- `offer_seq` is the place on the list it was made for and `offer_order`
-- the order offers were made in, so a check can prove that offers follow
-- the list; both are null for an ordinary hold.
alter table reservations add column offer_seq bigint, add column offer_order bigint;
create sequence waitlist_offer_order;
